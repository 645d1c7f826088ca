//! Loading the AOF at start: the manifest names the base and incremental
//! files; each is replayed through the command table on an internal client,
//! as Redis's loadSingleAppendOnlyFile does with its fake client. Scripts
//! never run here: the files hold their effects.
//!
//! A file that ends in the middle of a command (a crash during a write) is
//! truncated to its last complete command when `aof-load-truncated` is yes
//! and it is the last file; otherwise loading stops with an error naming the
//! file and the offset, and the server refuses to start (it never starts
//! empty over a file it could not read).

use crate::server::client::Client;
use crate::server::reply::Out;
use crate::server::Server;
use std::path::Path;

/// What one file held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub commands: u64,
    /// The file's tail was cut at this offset (aof-load-truncated).
    pub truncated_at: Option<u64>,
}

/// One item read from an AOF.
#[derive(Debug, PartialEq, Eq)]
enum Item<'a> {
    Command(Vec<&'a [u8]>),
    /// `#TS:...` and other annotations (aof-timestamp-enabled).
    Annotation,
}

/// Why reading stopped short.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The file ends inside an item.
    Truncated,
    /// Bytes that are not an AOF.
    Format,
}

/// Reads the item at `pos`; Ok(None) at a clean end of file.
fn read_item<'a>(data: &'a [u8], pos: &mut usize) -> Result<Option<Item<'a>>, Stop> {
    let Some(&first) = data.get(*pos) else {
        return Ok(None);
    };
    match first {
        b'#' => {
            let nl = memchr(b'\n', &data[*pos..]).ok_or(Stop::Truncated)?;
            *pos += nl + 1;
            Ok(Some(Item::Annotation))
        }
        b'*' => {
            *pos += 1;
            let argc = read_number(data, pos)?;
            if argc < 1 {
                return Err(Stop::Format);
            }
            let mut argv = Vec::with_capacity((argc as usize).min(1024));
            for _ in 0..argc {
                match data.get(*pos) {
                    None => return Err(Stop::Truncated),
                    Some(b'$') => *pos += 1,
                    Some(_) => return Err(Stop::Format),
                }
                let len = read_number(data, pos)? as usize;
                let end = pos.checked_add(len).ok_or(Stop::Format)?;
                if end + 2 > data.len() {
                    return Err(Stop::Truncated);
                }
                if &data[end..end + 2] != b"\r\n" {
                    return Err(Stop::Format);
                }
                argv.push(&data[*pos..end]);
                *pos = end + 2;
            }
            Ok(Some(Item::Command(argv)))
        }
        _ => Err(Stop::Format),
    }
}

/// A decimal number ended by CRLF.
fn read_number(data: &[u8], pos: &mut usize) -> Result<u64, Stop> {
    let rest = &data[*pos..];
    let Some(nl) = memchr(b'\n', rest) else {
        // No end of line yet: a short read only if what is there could be a number.
        return if rest.iter().all(|b| b.is_ascii_digit() || *b == b'\r') && rest.len() < 24 {
            Err(Stop::Truncated)
        } else {
            Err(Stop::Format)
        };
    };
    if nl == 0 || rest[nl - 1] != b'\r' {
        return Err(Stop::Format);
    }
    let digits = &rest[..nl - 1];
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(Stop::Format)?;
    *pos += nl + 1;
    Ok(n)
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

/// Replays AOF commands on one internal client.
pub struct Replayer<'s> {
    srv: &'s Server,
    client: Client,
    out: Out,
    /// Bytes of the files before this one, for INFO's loading_loaded_bytes.
    pub progress_base: u64,
}

impl<'s> Replayer<'s> {
    pub fn new(srv: &'s Server) -> Self {
        let any: std::net::SocketAddr = ([0, 0, 0, 0], 0).into();
        let shared = srv.clients.register(any, any, -1);
        let mut client = Client::new(shared, true);
        // Like Redis's AOF client: blocking commands never block here.
        client.in_exec = true;
        client.loader = true;
        Replayer {
            srv,
            client,
            out: Out::new(false),
            progress_base: 0,
        }
    }

    /// Replays one file's bytes. `last`: the tail may be cut (see module doc).
    /// `data` starts `base` bytes into the file (after an RDB preamble);
    /// offsets in errors and cuts are the file's.
    pub fn replay(
        &mut self,
        path: &Path,
        data: &[u8],
        base: usize,
        last: bool,
        load_truncated: bool,
    ) -> Result<Loaded, String> {
        let name = path.display();
        let mut pos = 0usize;
        let mut loaded = Loaded::default();
        // End of the last complete item outside MULTI: where a cut tail is cut.
        let mut valid_up_to = 0usize;
        let mut in_multi = false;
        loop {
            let start = pos;
            match read_item(data, &mut pos) {
                Ok(None) => break,
                Ok(Some(Item::Annotation)) => {}
                Ok(Some(Item::Command(argv))) => {
                    if self.srv.commands.resolve_name(argv[0]).is_none() {
                        return Err(format!(
                            "Unknown command '{}' reading the append only file {name} at offset {}",
                            String::from_utf8_lossy(argv[0]),
                            base + start
                        ));
                    }
                    let cmd = argv[0];
                    self.run(&argv);
                    loaded.commands += 1;
                    if loaded.commands % 1024 == 0 {
                        let at = self.progress_base + (base + pos) as u64;
                        self.srv.persist.progress.set_loaded(at);
                    }
                    if cmd.eq_ignore_ascii_case(b"multi") {
                        in_multi = true;
                    } else if cmd.eq_ignore_ascii_case(b"exec") {
                        in_multi = false;
                    }
                }
                Err(Stop::Format) => {
                    return Err(format!(
                        "Bad file format reading the append only file {name} at offset {}: \
                         make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                        base + start
                    ));
                }
                Err(Stop::Truncated) => {
                    if !(last && load_truncated) {
                        return Err(format!(
                            "Unexpected end of file reading the append only file {name} at offset {}. You can: \
                             1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. \
                             2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                            base + start
                        ));
                    }
                    crate::log::warning(&format!(
                        "!!! Warning: short read while loading the AOF file {name}!!!"
                    ));
                    return self.cut(path, base + valid_up_to, in_multi, loaded);
                }
            }
            if !in_multi {
                valid_up_to = pos;
            }
        }
        if in_multi {
            // A MULTI without its EXEC: the crash came inside a transaction.
            if !(last && load_truncated) {
                return Err(format!(
                    "Unexpected end of file reading the append only file {name} at offset {}: \
                     a MULTI without EXEC",
                    base + data.len()
                ));
            }
            return self.cut(path, base + valid_up_to, true, loaded);
        }
        Ok(loaded)
    }

    /// Truncates the file to `valid_up_to` after a short read, dropping an
    /// open transaction (its commands were queued, never run).
    fn cut(
        &mut self,
        path: &Path,
        valid_up_to: usize,
        in_multi: bool,
        mut loaded: Loaded,
    ) -> Result<Loaded, String> {
        if in_multi {
            crate::log::warning("Revert incomplete MULTI/EXEC transaction in AOF file");
            self.run(&[b"DISCARD"]);
        }
        let name = path.display();
        crate::log::warning(&format!(
            "!!! Truncating the AOF {name} at offset {valid_up_to} !!!"
        ));
        let truncated = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid_up_to as u64).and_then(|_| f.sync_all()));
        if let Err(e) = truncated {
            return Err(format!("Error truncating the AOF file {name}: {e}"));
        }
        crate::log::warning(&format!(
            "AOF {name} loaded anyway because aof-load-truncated is enabled"
        ));
        loaded.truncated_at = Some(valid_up_to as u64);
        Ok(loaded)
    }

    /// A function library from an RDB preamble, through FUNCTION LOAD.
    pub fn function_load(&mut self, code: &[u8], path: &Path) -> Result<(), String> {
        self.run_keep(&[b"FUNCTION", b"LOAD", b"REPLACE", code]);
        let reply = std::mem::take(&mut self.out.buf);
        if reply.first() == Some(&b'-') {
            return Err(format!(
                "Failed loading a function library from {}: {}",
                path.display(),
                String::from_utf8_lossy(&reply[1..]).trim_end()
            ));
        }
        Ok(())
    }

    fn run(&mut self, argv: &[&[u8]]) {
        self.run_keep(argv);
        self.out.buf.clear();
        // Loading is not serving: its errors are not client error replies.
        self.out.error_prefixes.clear();
    }

    fn run_keep(&mut self, argv: &[&[u8]]) {
        crate::commands::execute(
            self.srv,
            &mut self.client,
            &mut self.out,
            argv,
            crate::commands::unix_ms(),
        );
        // EXEC clears the flag it borrows; the AOF client never blocks.
        self.client.in_exec = true;
        self.client.block_request = None;
        self.client.batch.clear();
    }
}

impl Drop for Replayer<'_> {
    fn drop(&mut self) {
        self.srv.clients.unregister(self.client.id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(data: &[u8]) -> (Vec<Vec<Vec<u8>>>, Result<(), Stop>) {
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            match read_item(data, &mut pos) {
                Ok(None) => return (out, Ok(())),
                Ok(Some(Item::Annotation)) => {}
                Ok(Some(Item::Command(a))) => out.push(a.iter().map(|x| x.to_vec()).collect()),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    #[test]
    fn reads_commands_annotations_and_cut_tails() {
        let whole = b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n";
        let (cmds, end) = items(whole);
        assert_eq!(end, Ok(()));
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[1][2], b"vv");
        for cut in 17..whole.len() {
            let (_, end) = items(&whole[..cut]);
            // Every cut inside the SET is a short read, never a format error.
            if cut > 39 {
                assert_eq!(end, Err(Stop::Truncated), "cut at {cut}");
            }
        }
        assert_eq!(items(b"*1\r\n+OK\r\n").1, Err(Stop::Format));
        assert_eq!(items(b"garbage").1, Err(Stop::Format));
        assert_eq!(items(b"*2\r\n$3\r\nSETXX").1, Err(Stop::Format));
    }
}
