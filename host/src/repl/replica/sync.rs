//! A full sync on the replica side: the primary's RDB received after
//! `+FULLRESYNC` (a `$<len>` bulk, or the diskless `$EOF:<40-byte mark>`
//! form), the old data flushed, the RDB loaded with the persistence
//! layer's reader, our history set to the primary's.
//!
//! `repl-diskless-load` as Redis 7.0 reads it: `disabled` writes the RDB to
//! a temporary file first, which then replaces `dbfilename` and is loaded;
//! `on-empty-db` streams it from the socket straight into the keyspace when
//! that is empty (there is nothing to lose if the transfer fails midway).
//! `swapdb` is loaded from disk like `disabled`: Redis's point for it is to
//! keep serving the old data while the new arrives, and the disk path keeps
//! that (nothing is flushed before the whole file is here), only without
//! Redis's saving of disk space.

use super::{Conn, LinkResult};
use crate::server::Server;
use bytes::Buf;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// How the RDB payload ends.
enum Payload {
    /// `$<len>`: that many bytes.
    Len(u64),
    /// `$EOF:<mark>`: until the 40-byte mark (diskless sync).
    Mark(Vec<u8>),
}

/// Where the received bytes go.
enum Sink {
    File(std::fs::File),
    /// The loader thread, reading as the bytes arrive.
    Loader(tokio::sync::mpsc::Sender<Vec<u8>>),
}

impl Sink {
    async fn put(&mut self, bytes: &[u8]) -> LinkResult {
        match self {
            // Plain blocking writes: each is at most what one read brought,
            // to the local disk.
            Sink::File(f) => f.write_all(bytes).map_err(|e| {
                format!("Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {e}")
            }),
            Sink::Loader(tx) => tx
                .send(bytes.to_vec())
                .await
                .map_err(|_| "The loader stopped reading the MASTER's RDB".to_string()),
        }
    }
}

/// Receives and loads the primary's RDB; then our history is the primary's
/// `replid` at `offset`.
pub(super) async fn full_sync(
    srv: &Arc<Server>,
    conn: &mut Conn,
    replid: &str,
    offset: i64,
) -> LinkResult {
    let head = conn.reply().await?;
    if head.starts_with('-') {
        return Err(format!("MASTER aborted replication with an error: {head}"));
    }
    let bad = || {
        format!("Bad protocol from MASTER, the first byte is not '$' (we received '{head}'), are you sure the host and port are right?")
    };
    let payload = match head.strip_prefix('$') {
        Some(rest) if rest.starts_with("EOF:") && rest.len() == 44 => {
            Payload::Mark(rest.as_bytes()[4..].to_vec())
        }
        Some(rest) => Payload::Len(rest.parse::<u64>().map_err(|_| bad())?),
        None => return Err(bad()),
    };
    let diskless = match srv.config.read().get_one("repl-diskless-load").as_deref() {
        Some("on-empty-db") => keyspace_empty(srv),
        _ => false,
    };
    let to = if diskless { "socket" } else { "disk" };
    let total = match &payload {
        Payload::Len(n) => {
            crate::log::notice(&format!(
                "MASTER <-> REPLICA sync: receiving {n} bytes from master to {to}"
            ));
            *n as i64
        }
        Payload::Mark(_) => {
            crate::log::notice(&format!(
                "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to {to}"
            ));
            -1
        }
    };
    let now = crate::commands::unix_ms();
    srv.repl.update_master_link(|l| {
        l.transfer_size = total;
        l.transfer_read = 0;
        l.transfer_last_io_ms = now;
    });
    if diskless {
        load_from_socket(srv, conn, &payload).await?;
    } else {
        let tmp = format!("temp-{}.{}.rdb", now / 1000, std::process::id());
        load_from_disk(srv, conn, &payload, &tmp).await?;
    }
    // The keyspace is the primary's at `offset`: so is our history now,
    // and our own replicas (if any) must resync from it.
    srv.repl.adopt_master_history(srv, replid, offset);
    // A primary starts the stream after a full sync with SELECT.
    srv.replica
        .stream_db
        .store(0, std::sync::atomic::Ordering::Release);
    srv.repl.disconnect_replicas();
    srv.repl.update_master_link(|l| {
        l.read_reploff = offset;
        l.reploff = offset;
    });
    crate::log::notice("MASTER <-> REPLICA sync: Finished with success");
    // An AOF must start over from the new data set (Redis's restartAOFAfterSYNC).
    if srv.aof.enabled() {
        crate::persist::aof::schedule_rewrite(srv);
    }
    Ok(())
}

fn keyspace_empty(srv: &Server) -> bool {
    let mut ks = srv
        .store
        .lock(&crate::store::LockPlan::All, crate::commands::unix_ms());
    (0..srv.store.databases()).all(|db| ks.dbsize(db) == 0)
}

/// `repl-diskless-load disabled`: the whole file first, then flush and load.
async fn load_from_disk(
    srv: &Arc<Server>,
    conn: &mut Conn,
    payload: &Payload,
    tmp: &str,
) -> LinkResult {
    let file = std::fs::File::create(tmp).map_err(|e| {
        format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}")
    })?;
    let mut sink = Sink::File(file);
    let received = receive(srv, conn, payload, &mut sink).await;
    let synced = match (&received, &sink) {
        (Ok(()), Sink::File(f)) => f.sync_all().map_err(|e| format!("Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}")),
        _ => Ok(()),
    };
    if let Err(e) = received.and(synced) {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    crate::log::notice("MASTER <-> REPLICA sync: Flushing old data");
    let s = srv.clone();
    let tmp = tmp.to_string();
    tokio::task::spawn_blocking(move || load_file(&s, &tmp))
        .await
        .map_err(|e| format!("Loading the MASTER's RDB failed: {e}"))?
}

/// `repl-diskless-load on-empty-db` with an empty keyspace: a loader thread
/// reads the RDB as it arrives.
async fn load_from_socket(srv: &Arc<Server>, conn: &mut Conn, payload: &Payload) -> LinkResult {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let total = match payload {
        Payload::Len(n) => *n,
        Payload::Mark(_) => 0,
    };
    let s = srv.clone();
    let loader = tokio::task::spawn_blocking(move || {
        // No full sync of our own replicas may snapshot a half-loaded set.
        let _gate = s.repl.apply_gate.lock();
        prepare(&s);
        crate::log::notice("MASTER <-> REPLICA sync: Loading DB in memory");
        let reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        };
        let loaded =
            crate::persist::load::load_reader(&s, reader, total, "the MASTER's socket", true)
                .map(|_| ())
                .map_err(|e| e.to_string());
        done_loading(&s);
        loaded
    });
    let mut sink = Sink::Loader(tx);
    let received = receive(srv, conn, payload, &mut sink).await;
    drop(sink);
    let loaded = loader
        .await
        .map_err(|e| format!("Loading the MASTER's RDB failed: {e}"))?;
    if let Err(e) = received.and(loaded) {
        // Half a data set is no data set.
        flush_all(srv, false);
        return Err(format!(
            "Failed trying to load the MASTER synchronization DB from socket: {e}"
        ));
    }
    Ok(())
}

/// The RDB bytes as a `Read` for the loader thread; the end of the
/// channel is the end of the file.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(c) => {
                    self.chunk = c;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Moves the payload into `sink`, reporting progress for INFO and sending
/// the primary a newline every second so it knows we are alive.
async fn receive(srv: &Server, conn: &mut Conn, payload: &Payload, sink: &mut Sink) -> LinkResult {
    let mut read: u64 = 0;
    let mut last_newline = Instant::now();
    loop {
        match payload {
            Payload::Len(n) => {
                let take = (conn.buf.len() as u64).min(n - read) as usize;
                if take > 0 {
                    sink.put(&conn.buf[..take]).await?;
                    conn.buf.advance(take);
                    read += take as u64;
                }
                if read == *n {
                    return Ok(());
                }
            }
            Payload::Mark(mark) => {
                // Everything but the last 40 bytes may be data; the mark
                // is the end only when it ends what was read.
                if conn.buf.len() >= mark.len() && conn.buf.ends_with(mark) {
                    let data = conn.buf.len() - mark.len();
                    sink.put(&conn.buf[..data]).await?;
                    conn.buf.clear();
                    return Ok(());
                }
                let data = conn.buf.len() - mark.len().min(conn.buf.len());
                if data > 0 {
                    sink.put(&conn.buf[..data]).await?;
                    conn.buf.advance(data);
                    read += data as u64;
                }
            }
        }
        let now = crate::commands::unix_ms();
        srv.repl.update_master_link(|l| {
            l.transfer_read = read as i64;
            l.transfer_last_io_ms = now;
        });
        if last_newline.elapsed() >= Duration::from_secs(1) {
            last_newline = Instant::now();
            let _ = conn.stream.write_all(b"\n").await;
        }
        conn.fill().await.map_err(|e| {
            if e.starts_with("Timeout") {
                "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".to_string()
            } else {
                format!("I/O error trying to sync with MASTER: {e}")
            }
        })?;
    }
}

/// Flushes the keyspace (with `replica-lazy-flush`, freed by another
/// thread) and the function libraries: the RDB brings its own.
fn prepare(srv: &Server) {
    srv.replica
        .loading
        .store(true, std::sync::atomic::Ordering::Release);
    let lazy = srv.config.read().get_one("replica-lazy-flush").as_deref() == Some("yes");
    flush_all(srv, lazy);
    crate::commands::functions::clear(srv);
}

/// Flushes, puts the received file in place of `dbfilename` and loads it.
fn load_file(srv: &Server, tmp: &str) -> LinkResult {
    let dbfilename = srv.config.read().dbfilename.clone();
    // No full sync of our own replicas may snapshot a half-loaded set.
    let _gate = srv.repl.apply_gate.lock();
    prepare(srv);
    let loaded = rename_and_load(srv, tmp, &dbfilename);
    done_loading(srv);
    loaded
}

fn rename_and_load(srv: &Server, tmp: &str, dbfilename: &str) -> LinkResult {
    if let Err(e) = std::fs::rename(tmp, dbfilename) {
        let _ = std::fs::remove_file(tmp);
        return Err(format!(
            "Failed trying to rename the temp DB into {dbfilename} in MASTER <-> REPLICA synchronization: {e}"
        ));
    }
    crate::log::notice("MASTER <-> REPLICA sync: Loading DB in memory");
    let file = std::fs::File::open(dbfilename).map_err(|e| {
        format!("Failed trying to load the MASTER synchronization DB from disk: {e}")
    })?;
    crate::persist::load::load_file(srv, file, dbfilename, true)
        .map(|_| ())
        .map_err(|e| format!("Failed trying to load the MASTER synchronization DB from disk: {e}"))
}

fn done_loading(srv: &Server) {
    srv.replica
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
}

/// Empties every database (Redis's emptyData before loading a full sync).
fn flush_all(srv: &Server, lazy: bool) {
    let mut ks = srv
        .store
        .lock(&crate::store::LockPlan::All, crate::commands::unix_ms());
    let mut garbage = Vec::new();
    for db in 0..srv.store.databases() {
        garbage.extend(ks.flush_db(db));
    }
    drop(ks);
    if lazy {
        std::thread::spawn(move || drop(garbage));
    } else {
        drop(garbage);
    }
}
