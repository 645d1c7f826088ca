//! Full syncs (Redis's BGSAVE for replication, without fork): replicas
//! that need one wait in [`Syncs`]; a [`Job`] (one at a time, shared by the
//! replicas that wait for it) takes a point-in-time snapshot under every
//! shard lock, notes the stream offset at that instant (`+FULLRESYNC
//! <replid> <offset>`) and pins the backlog there, then writes the RDB on a
//! thread of its own: to a file (disk-based; each replica's task then sends
//! it as `$<len>\r\n<bytes>`), or straight to the replicas' sockets in the
//! EOF-marker format (`repl-diskless-sync yes` and replicas with `capa
//! eof`, after `repl-diskless-sync-delay` seconds to let more replicas
//! join). A disk-based job accepts late replicas while it runs (they share
//! its file and offset). Filtered replicas (REPLCONF rdb-filter-only) get an
//! RDB without keys and no snapshot.

use super::backlog::Reader;
use super::primary::{Replica, Settings, CAPA_EOF, CAPA_PSYNC2, CHUNK, SEND_BULK};
use crate::commands::unix_ms;
use crate::server::Server;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The replicas waiting for a full sync, and the running one.
#[derive(Default)]
pub struct Syncs {
    waiting: Mutex<Vec<Waiter>>,
    job: Mutex<Option<Arc<Job>>>,
    /// When the first replica of the next diskless sync arrived.
    diskless_since: Mutex<Option<Instant>>,
    /// Held while deciding to start a sync (the cron and a new replica's
    /// task may both try).
    starting: Mutex<()>,
}

impl Syncs {
    /// Forgets a replica that went away before its sync started.
    pub(super) fn forget(&self, replica: &Arc<Replica>) {
        self.waiting
            .lock()
            .retain(|w| !Arc::ptr_eq(&w.replica, replica));
    }
}

/// A replica waiting for the next full sync to start.
struct Waiter {
    replica: Arc<Replica>,
    tx: tokio::sync::oneshot::Sender<Start>,
}

/// A full sync starting: the reply's offset and where the RDB comes from.
pub(super) struct Start {
    pub(super) replid: String,
    pub(super) offset: u64,
    /// The replica's position in the stream, pinned at `offset + 1`.
    pub(super) reader: Arc<Reader>,
    pub(super) body: Body,
}

pub(super) enum Body {
    /// The file, once written (or why it failed).
    Disk(DiskDone),
    /// Chunks streamed by the job (EOF-marker format), then `None`.
    Socket {
        mark: String,
        rx: tokio::sync::mpsc::Receiver<Option<Arc<Vec<u8>>>>,
    },
}

/// The disk-based sync's file once written (None before), or its error.
type DiskDone = tokio::sync::watch::Receiver<Option<Result<Arc<DiskRdb>, String>>>;

pub(super) struct DiskRdb {
    file: std::fs::File,
    len: u64,
}

/// A running full sync.
struct Job {
    diskless: bool,
    offset: u64,
    replid: String,
    /// Disk jobs: late replicas attach and wait for the same file.
    done: Option<DiskDone>,
}

/// The sync of a filtered replica (REPLCONF rdb-filter-only): an RDB with
/// no keys (and the function libraries if asked), so no snapshot: the
/// stream starts at its current end.
pub(super) fn filtered_start(srv: &Server, functions: bool) -> std::io::Result<Start> {
    use crate::persist::snapshot::{write_rdb, Extras, Source};
    let mut x = Extras::of(srv, false);
    if !functions {
        x.functions.clear();
    }
    let mut none = srv.store.lock(&crate::store::LockPlan::None, x.now_ms);
    let (rdb, _) = write_rdb(Vec::new(), &x, Source::Locked(&mut none))?;
    drop(none);
    let (offset, reader) = srv.repl.backlog.attach_at_end();
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let _ = tx.try_send(Some(Arc::new(rdb)));
    let _ = tx.try_send(None);
    Ok(Start {
        replid: srv.repl.ids().replid,
        offset,
        reader,
        body: Body::Socket {
            mark: super::random_id(),
            rx,
        },
    })
}

/// Queues the replica for the next full sync (started by the cron, or now).
pub(super) fn enqueue(
    srv: &Arc<Server>,
    replica: &Arc<Replica>,
    s: &Settings,
) -> tokio::sync::oneshot::Receiver<Start> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reps = &srv.repl.replicas;
    let wants_socket = s.diskless_sync && replica.capa & CAPA_EOF != 0;
    // A disk-based sync is running: share its file (its offset is pinned).
    {
        let job = reps.syncs.job.lock().clone();
        if let Some(job) = job {
            if let (false, false, Some(done)) = (job.diskless, wants_socket, &job.done) {
                let reader = srv.repl.backlog.attach(job.offset + 1);
                let start = Start {
                    replid: job.replid.clone(),
                    offset: job.offset,
                    reader,
                    body: Body::Disk(done.clone()),
                };
                if let Err(start) = tx.send(start) {
                    srv.repl.backlog.detach(&start.reader);
                }
                crate::log::notice("Waiting for end of BGSAVE for SYNC");
                return rx;
            }
        }
    }
    reps.syncs.waiting.lock().push(Waiter {
        replica: replica.clone(),
        tx,
    });
    if wants_socket && s.diskless_delay > 0 {
        let mut since = reps.syncs.diskless_since.lock();
        if since.is_none() {
            *since = Some(Instant::now());
        }
        crate::log::notice("Delay next BGSAVE for diskless SYNC");
    } else {
        maybe_start_job(srv, s);
    }
    rx
}

/// Waits for the sync to start, sending a newline each second (Redis's
/// keepalive for replicas waiting for the RDB; they skip it).
pub(super) async fn wait_start(
    stream: &mut TcpStream,
    mut rx: tokio::sync::oneshot::Receiver<Start>,
) -> std::io::Result<Option<Start>> {
    loop {
        tokio::select! {
            s = &mut rx => return Ok(s.ok()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                stream.write_all(b"\n").await?;
            }
        }
    }
}

/// A replica that stops reading must not hold its sync (and, diskless,
/// the snapshot the other replicas share) forever: after `repl-timeout`
/// without progress its link is closed, as Redis does.
async fn write_timed(
    stream: &mut TcpStream,
    bytes: &[u8],
    timeout: Duration,
) -> std::io::Result<()> {
    match tokio::time::timeout(timeout, stream.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no progress for repl-timeout seconds",
        )),
    }
}

pub(super) async fn send_rdb(
    stream: &mut TcpStream,
    replica: &Replica,
    body: Body,
    timeout: Duration,
) -> std::io::Result<()> {
    match body {
        Body::Disk(mut done) => {
            let rdb = loop {
                if let Some(r) = done.borrow().clone() {
                    break r;
                }
                tokio::select! {
                    c = done.changed() => if c.is_err() {
                        break Err("the sync was abandoned".to_string());
                    },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        stream.write_all(b"\n").await?;
                    }
                }
            };
            let rdb = rdb.map_err(std::io::Error::other)?;
            replica.state.store(SEND_BULK, Ordering::Release);
            stream
                .write_all(format!("${}\r\n", rdb.len).as_bytes())
                .await?;
            let mut buf = vec![0u8; CHUNK];
            let mut pos = 0u64;
            while pos < rdb.len {
                let n = std::os::unix::fs::FileExt::read_at(&rdb.file, &mut buf, pos)?;
                if n == 0 {
                    return Err(std::io::Error::other("the RDB file for the sync is short"));
                }
                let n = n.min((rdb.len - pos) as usize);
                write_timed(stream, &buf[..n], timeout).await?;
                pos += n as u64;
            }
            Ok(())
        }
        Body::Socket { mark, mut rx } => {
            replica.state.store(SEND_BULK, Ordering::Release);
            stream
                .write_all(format!("$EOF:{mark}\r\n").as_bytes())
                .await?;
            loop {
                match rx.recv().await {
                    Some(Some(chunk)) => write_timed(stream, &chunk, timeout).await?,
                    Some(None) => break,
                    None => return Err(std::io::Error::other("the diskless sync failed")),
                }
            }
            stream.write_all(mark.as_bytes()).await
        }
    }
}

/// Starts a full sync for the waiting replicas if nothing else snapshots
/// and the diskless delay (if any) has passed.
pub(super) fn maybe_start_job(srv: &Arc<Server>, s: &Settings) {
    let Some(_starting) = srv.repl.replicas.syncs.starting.try_lock() else {
        return;
    };
    let reps = &srv.repl.replicas;
    if reps.syncs.job.lock().is_some() || reps.syncs.waiting.lock().is_empty() {
        return;
    }
    let waiting: Vec<Waiter> = std::mem::take(&mut *reps.syncs.waiting.lock());
    let mincapa = waiting
        .iter()
        .fold(CAPA_EOF | CAPA_PSYNC2, |c, w| c & w.replica.capa);
    let diskless = s.diskless_sync && mincapa & CAPA_EOF != 0;
    if diskless && s.diskless_delay > 0 {
        let since = *reps.syncs.diskless_since.lock();
        let max = s.diskless_max_replicas;
        let enough = max > 0 && waiting.len() as u64 >= max;
        if !enough && since.is_some_and(|t| t.elapsed() < Duration::from_secs(s.diskless_delay)) {
            reps.syncs.waiting.lock().extend(waiting);
            return;
        }
    }
    *reps.syncs.diskless_since.lock() = None;
    if let Err(back) = start_job(srv, s, waiting, diskless) {
        // Another snapshot runs (BGSAVE, AOF rewrite): retry on the next tick.
        let mut w = reps.syncs.waiting.lock();
        let later = std::mem::take(&mut *w);
        *w = back;
        w.extend(later);
    }
}

/// Takes the snapshot and the stream offset at one instant and starts the
/// thread that writes the RDB. Gives the waiters back if no snapshot could
/// start.
fn start_job(
    srv: &Arc<Server>,
    s: &Settings,
    waiting: Vec<Waiter>,
    diskless: bool,
) -> Result<(), Vec<Waiter>> {
    use crate::persist::snapshot::{write_rdb, Extras, Source};
    let now = unix_ms();
    // On a replica, no half-applied piece of our primary's stream either.
    let gate = srv.repl.apply_gate.lock();
    let mut ks = srv.store.lock(&crate::store::LockPlan::All, now);
    let Some(mut snap) = ks.begin_snapshot() else {
        return Err(waiting);
    };
    // Every shard is held, so no write is half-way to the stream: the
    // snapshot is exactly the stream up to `offset`.
    let offset = srv.repl.backlog.end();
    srv.repl.backlog.reset_db();
    let replid = srv.repl.ids().replid;
    let mut x = Extras::of(srv, false);
    x.now_ms = now;
    // The stream after the RDB starts with SELECT (reset_db above).
    x.add_repl(Some(crate::repl::SaveInfo {
        stream_db: 0,
        replid: replid.clone(),
        offset: offset as i64,
    }));
    // The job's own pin keeps the stream from `offset` while late
    // replicas may still attach to a disk-based sync.
    let pin = srv.repl.backlog.attach(offset + 1);
    drop(ks);
    drop(gate);
    crate::log::notice(&format!(
        "Starting BGSAVE for SYNC with target: {}",
        if diskless { "replicas sockets" } else { "disk" }
    ));
    let reps = &srv.repl.replicas;
    let delay_us = s.key_save_delay_us;
    if diskless {
        let mark: String = super::random_id();
        let mut senders = Vec::new();
        for w in waiting {
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            let reader = srv.repl.backlog.attach(offset + 1);
            let start = Start {
                replid: replid.clone(),
                offset,
                reader,
                body: Body::Socket {
                    mark: mark.clone(),
                    rx,
                },
            };
            match w.tx.send(start) {
                Ok(()) => senders.push(tx),
                Err(start) => srv.repl.backlog.detach(&start.reader),
            }
        }
        *reps.syncs.job.lock() = Some(Arc::new(Job {
            diskless: true,
            offset,
            replid,
            done: None,
        }));
        let arc = srv.clone();
        let spawned = std::thread::Builder::new()
            .name("ember-repl-sync".into())
            .spawn(move || {
                let abort = AtomicBool::new(false);
                let out = Fanout {
                    senders,
                    buf: Vec::with_capacity(CHUNK),
                };
                let src = Source::Snapshot {
                    store: &arc.store,
                    snap: &mut snap,
                    delay_us,
                    abort: &abort,
                };
                let r = write_rdb(out, &x, src);
                snap.abort(&arc.store);
                match r {
                    Ok((mut out, _)) => {
                        out.finish();
                        crate::log::notice(
                            "Diskless rdb transfer, done reading from pipe, replicas still up.",
                        );
                    }
                    Err(e) => crate::log::warning(&format!("Diskless sync failed: {e}")),
                }
                arc.repl.backlog.detach(&pin);
                *arc.repl.replicas.syncs.job.lock() = None;
            });
        if spawned.is_err() {
            *reps.syncs.job.lock() = None;
        }
        return Ok(());
    }
    let (done_tx, done_rx) = tokio::sync::watch::channel(None);
    for w in waiting {
        let reader = srv.repl.backlog.attach(offset + 1);
        let start = Start {
            replid: replid.clone(),
            offset,
            reader,
            body: Body::Disk(done_rx.clone()),
        };
        if let Err(start) = w.tx.send(start) {
            srv.repl.backlog.detach(&start.reader);
        }
    }
    *reps.syncs.job.lock() = Some(Arc::new(Job {
        diskless: false,
        offset,
        replid,
        done: Some(done_rx),
    }));
    let arc = srv.clone();
    let filename = s.dbfilename.clone();
    let spawned = std::thread::Builder::new()
        .name("ember-repl-sync".into())
        .spawn(move || {
            let abort = AtomicBool::new(false);
            let src = Source::Snapshot {
                store: &arc.store,
                snap: &mut snap,
                delay_us,
                abort: &abort,
            };
            let r = write_disk(&filename, &x, src);
            snap.abort(&arc.store);
            // Late replicas attach only while the job is listed.
            *arc.repl.replicas.syncs.job.lock() = None;
            match &r {
                Ok(_) => crate::log::notice("Background RDB transfer terminated with success"),
                Err(e) => crate::log::warning(&format!("Background transfer error: {e}")),
            }
            done_tx.send_replace(Some(r.map(Arc::new)));
            arc.repl.backlog.detach(&pin);
        });
    if spawned.is_err() {
        *reps.syncs.job.lock() = None;
    }
    Ok(())
}

/// Writes the RDB for a disk-based sync: to a temp file renamed over
/// `dbfilename` (what Redis's BGSAVE for replication leaves on disk), kept
/// open so that a later save renaming over it cannot change what is sent.
fn write_disk(
    filename: &str,
    x: &crate::persist::snapshot::Extras,
    src: crate::persist::snapshot::Source,
) -> Result<DiskRdb, String> {
    let tmp = format!("temp-repl-{}.rdb", std::process::id());
    let r = (|| -> std::io::Result<DiskRdb> {
        let file = std::fs::File::create(&tmp)?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let (out, _) = crate::persist::snapshot::write_rdb(out, x, src)?;
        let written = out.into_inner().map_err(|e| e.into_error())?;
        let len = written.metadata()?.len();
        drop(written);
        // Opened for reading before the rename: what is sent is this file.
        let file = std::fs::File::open(&tmp)?;
        std::fs::rename(&tmp, filename)?;
        Ok(DiskRdb { file, len })
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(|e| e.to_string())
}

/// The diskless RDB's `Write`: chunks to every replica's task; a replica
/// that went away is dropped, and with none left the sync stops.
struct Fanout {
    senders: Vec<tokio::sync::mpsc::Sender<Option<Arc<Vec<u8>>>>>,
    buf: Vec<u8>,
}

impl Fanout {
    fn send(&mut self, msg: Option<Arc<Vec<u8>>>) -> std::io::Result<()> {
        self.senders
            .retain(|tx| tx.blocking_send(msg.clone()).is_ok());
        if self.senders.is_empty() {
            return Err(std::io::Error::other("all replicas went away"));
        }
        Ok(())
    }

    fn finish(&mut self) {
        let _ = std::io::Write::flush(self);
        let _ = self.send(None);
    }
}

impl std::io::Write for Fanout {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Arc::new(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.send(Some(chunk))
    }
}
