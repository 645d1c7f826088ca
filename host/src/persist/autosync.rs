//! `rdb-save-incremental-fsync` and `aof-rewrite-incremental-fsync`: a file
//! being written by a save or an AOF rewrite is fsynced every 4 MB
//! (Redis's REDIS_AUTOSYNC_BYTES), so the kernel never holds gigabytes of
//! dirty pages that the final fsync would have to flush at once, stalling
//! the AOF's own fsyncs and the disk meanwhile.

use std::fs::File;
use std::io::{self, Write};

/// Bytes between two fsyncs.
const AUTOSYNC_BYTES: u64 = 4 * 1024 * 1024;

/// A file that fsyncs itself every [`AUTOSYNC_BYTES`] when `on`.
pub struct AutoSync {
    file: File,
    on: bool,
    since_sync: u64,
}

impl AutoSync {
    pub fn new(file: File, on: bool) -> Self {
        AutoSync {
            file,
            on,
            since_sync: 0,
        }
    }

    pub fn into_inner(self) -> File {
        self.file
    }
}

impl Write for AutoSync {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if self.on {
            self.since_sync += n as u64;
            if self.since_sync >= AUTOSYNC_BYTES {
                self.file.sync_data()?;
                self.since_sync = 0;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_everything_with_and_without_syncs() {
        for on in [false, true] {
            let path = std::env::temp_dir().join(format!("autosync-{}-{on}", std::process::id()));
            let mut w = AutoSync::new(File::create(&path).unwrap(), on);
            let chunk = vec![7u8; 1 << 20];
            for _ in 0..9 {
                w.write_all(&chunk).unwrap();
            }
            assert_eq!(w.since_sync, if on { 1 << 20 } else { 0 });
            drop(w.into_inner());
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 9 << 20);
            let _ = std::fs::remove_file(&path);
        }
    }
}
