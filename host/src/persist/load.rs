//! Loading `dbfilename` when the server starts: the keys into the store, the
//! function libraries into their registry. A file that exists but cannot be
//! read stops the start with an error naming the file and the byte offset:
//! starting empty would let the next save overwrite the user's data.

use super::rdb::RdbOptions;
use super::rdb::{load_into_store, LoadOptions};
use crate::server::Server;
use std::io::BufReader;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Progress of the running RDB load, for INFO persistence's loading_*
/// fields (Redis's loading_start_time, loading_total_bytes,
/// loading_rdb_used_mem, loading_loaded_bytes).
#[derive(Default)]
pub struct Progress {
    active: AtomicBool,
    start_time: AtomicI64,
    total: AtomicU64,
    rdb_used_mem: AtomicU64,
    loaded: Arc<AtomicU64>,
}

impl Progress {
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub(in crate::persist) fn start(&self, total: u64) {
        self.start_time
            .store(crate::commands::unix_ms() / 1000, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.rdb_used_mem.store(0, Ordering::Relaxed);
        self.loaded.store(0, Ordering::Relaxed);
        self.active.store(true, Ordering::Release);
    }

    pub(in crate::persist) fn stop(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Bytes loaded so far, for loaders that count themselves (the AOF's).
    pub(in crate::persist) fn set_loaded(&self, bytes: u64) {
        self.loaded.store(bytes, Ordering::Relaxed);
    }

    /// The loading_* lines, computed as Redis 7.0 does (the RDB's
    /// `used-mem` stands in for an unknown size, the ETA from the rate).
    pub fn info(&self, out: &mut String) {
        let start = self.start_time.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let used_mem = self.rdb_used_mem.load(Ordering::Relaxed);
        let loaded = self.loaded.load(Ordering::Relaxed);
        let (mut perc, mut remaining) = (0.0, 1i64);
        if total > 0 {
            perc = loaded as f64 / total as f64 * 100.0;
            remaining = total as i64 - loaded as i64;
        } else if used_mem > 0 {
            perc = (loaded as f64 / used_mem as f64 * 100.0).min(99.99);
            remaining = (used_mem as i64 - loaded as i64).max(1);
        }
        let elapsed = crate::commands::unix_ms() / 1000 - start;
        let eta = if elapsed == 0 {
            1
        } else {
            elapsed * remaining / (loaded as i64 + 1)
        };
        out.push_str(&format!(
            "loading_start_time:{start}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:{used_mem}\r\nloading_loaded_bytes:{loaded}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n"
        ));
    }
}

/// Counts the bytes read into [`Progress`] as they go by.
struct Counting<R> {
    inner: R,
    loaded: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.loaded.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Loads `dbfilename` from the working directory if it exists.
pub fn load_at_startup(srv: &Server) -> anyhow::Result<()> {
    let filename = srv.config.read().dbfilename.clone();
    let file = match std::fs::File::open(&filename) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => anyhow::bail!("Fatal error loading the DB, can't open {filename}: {e}. Exiting."),
    };
    let started = std::time::Instant::now();
    srv.persist
        .loading
        .store(true, std::sync::atomic::Ordering::Release);
    let r = load_file(srv, file, &filename, false);
    srv.persist
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
    let loaded = r?;
    crate::log::notice(&format!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        loaded.keys, loaded.expired
    ));
    crate::log::notice(&format!(
        "DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    ));
    // The replication history the file carries goes on from here (a
    // restarted replica continues with a partial resync).
    if let Some(info) = &loaded.repl {
        let as_replica = srv.config.read().replicaof.is_some();
        srv.repl.restore(srv, info, as_replica);
    }
    Ok(())
}

/// What a load brought.
pub struct Loaded {
    pub keys: u64,
    pub expired: u64,
    /// The file's repl-id / repl-offset / repl-stream-db, if it has them.
    pub repl: Option<crate::repl::SaveInfo>,
}

/// Loads an RDB file into the (empty) keyspace.
/// `keep_expired`: a replica loading its primary's file keeps keys already
/// expired (the primary will send their DELs), as Redis's replicas do.
pub fn load_file(
    srv: &Server,
    file: std::fs::File,
    filename: &str,
    keep_expired: bool,
) -> anyhow::Result<Loaded> {
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    load_reader(srv, file, total, filename, keep_expired)
}

/// [`load_file`] from any reader (a replica's socket) of `total` bytes (0:
/// not known); `name` names the source in errors.
pub fn load_reader(
    srv: &Server,
    reader: impl std::io::Read,
    total: u64,
    name: &str,
    keep_expired: bool,
) -> anyhow::Result<Loaded> {
    let progress = &srv.persist.progress;
    progress.start(total);
    let reader = BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: reader,
            loaded: progress.loaded.clone(),
        },
    );
    let r = load_counted(srv, reader, name, keep_expired);
    progress.stop();
    r
}

fn load_counted(
    srv: &Server,
    reader: impl std::io::Read,
    name: &str,
    keep_expired: bool,
) -> anyhow::Result<Loaded> {
    let key_delay_us = i64::from(srv.config.read().key_load_delay);
    let opts = LoadOptions {
        rdb: RdbOptions::from_config(&srv.config.read()),
        keep_expired,
        key_delay_us,
    };
    let now = crate::commands::unix_ms();
    let mut aux: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let stats = load_into_store(
        reader,
        &srv.store,
        now,
        &opts,
        |code| crate::commands::functions::load_from_rdb(srv, &code),
        |k, v| {
            if k == b"used-mem" {
                if let Some(m) = crate::util::num::parse_i64(v) {
                    srv.persist
                        .progress
                        .rdb_used_mem
                        .store(m.max(0) as u64, Ordering::Relaxed);
                }
            }
            if k.starts_with(b"repl-") {
                aux.push((k.to_vec(), v.to_vec()));
            }
        },
    )
    .map_err(|e| anyhow::anyhow!("Fatal error loading the DB ({name}): {e}. Exiting."))?;
    srv.persist
        .set_loaded(stats.keys_loaded, stats.keys_expired);
    Ok(Loaded {
        keys: stats.keys_loaded,
        expired: stats.keys_expired,
        repl: crate::repl::SaveInfo::from_aux(&aux),
    })
}
