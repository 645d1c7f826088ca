//! The primary side of replication: serving replicas (SYNC, PSYNC, REPLCONF),
//! full syncs from a fork-free snapshot, partial resyncs from the backlog,
//! the live stream, acknowledgements (WAIT, min-replicas-to-write) and the
//! replication cron.
//!
//! A client that sends SYNC or PSYNC leaves the command loop: the handler
//! records a [`Handoff`] and the connection task continues in
//! [`serve_replica`], which owns the socket from then on. It answers
//! `+CONTINUE` and copies the backlog from the requested offset, or waits for
//! a full sync: a [`Job`] (one at a time, shared by the replicas that wait
//! for it, as a Redis BGSAVE for replication is) takes a point-in-time
//! snapshot under every shard lock, notes the stream offset at that instant
//! (`+FULLRESYNC <replid> <offset>`) and pins the backlog there, then writes
//! the RDB on a thread of its own: to a file (disk-based; the file is then
//! sent as `$<len>\r\n<bytes>`), or straight to the replicas' sockets in the
//! EOF-marker format (`repl-diskless-sync yes` and a replica with `capa
//! eof`, after `repl-diskless-sync-delay` seconds to let more replicas
//! join). Once the RDB is sent, the replica's task copies the stream from
//! the pinned offset on.

use super::backlog::{Read, Reader};
use crate::commands::unix_ms;
use crate::server::client::{Client, ClientShared};
use crate::server::protocol::{Limits, Request, RequestParser};
use crate::server::Server;
use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Redis's SLAVE_CAPA_EOF / SLAVE_CAPA_PSYNC2.
pub const CAPA_EOF: u8 = 1;
pub const CAPA_PSYNC2: u8 = 2;

/// Bytes copied from the backlog per socket write.
const CHUNK: usize = 64 * 1024;

/// The replication directives, read from the config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub backlog_size: u64,
    pub backlog_ttl: u64,
    pub ping_period: u64,
    pub timeout: u64,
    pub diskless_sync: bool,
    pub diskless_delay: u64,
    pub diskless_max_replicas: u64,
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    pub disable_tcp_nodelay: bool,
    pub limit: crate::config::OutputBufferLimit,
    pub key_save_delay_us: u64,
    pub dbfilename: String,
}

pub fn settings(srv: &Server) -> Settings {
    let cfg = srv.config.read();
    let num = |n: &str| {
        cfg.get_one(n)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let yes = |n: &str| cfg.get_one(n).is_some_and(|v| v == "yes");
    Settings {
        backlog_size: num("repl-backlog-size").max(1),
        backlog_ttl: num("repl-backlog-ttl"),
        ping_period: num("repl-ping-replica-period").max(1),
        timeout: num("repl-timeout").max(1),
        diskless_sync: yes("repl-diskless-sync"),
        diskless_delay: num("repl-diskless-sync-delay"),
        diskless_max_replicas: num("repl-diskless-sync-max-replicas"),
        min_replicas_to_write: num("min-replicas-to-write"),
        min_replicas_max_lag: num("min-replicas-max-lag"),
        disable_tcp_nodelay: yes("repl-disable-tcp-nodelay"),
        limit: cfg.client_output_buffer_limit.replica,
        key_save_delay_us: cfg.rdb_key_save_delay.max(0) as u64,
        dbfilename: cfg.dbfilename.clone(),
    }
}

/// What REPLCONF told us about a client before it asked to sync, and the
/// sync it asked for.
#[derive(Default, Debug)]
pub struct ClientRepl {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    pub capa: u8,
    pub rdb_only: bool,
    /// REPLCONF rdb-filter-only: Some(include functions) for an RDB without
    /// keys (redis-cli --replica asks for an empty one, --functions-rdb for
    /// functions only).
    pub rdb_filter: Option<bool>,
    /// Set by SYNC/PSYNC: the connection task hands the socket to
    /// [`serve_replica`] after this command.
    pub handoff: Option<Handoff>,
    /// Set by a WAIT that must block: (offset, replicas, deadline).
    pub wait: Option<(i64, i64, Option<Instant>)>,
}

/// The sync a replica asked for.
#[derive(Debug)]
pub struct Handoff {
    /// PSYNC's (replid, offset); None for the old SYNC.
    pub psync: Option<(String, i64)>,
}

/// A replica's state (Redis's SLAVE_STATE_*), as INFO names it.
const WAIT_BGSAVE: u8 = 0;
const SEND_BULK: u8 = 1;
const ONLINE: u8 = 2;

/// An attached replica, as the registry and INFO see it.
pub struct Replica {
    pub client: Arc<ClientShared>,
    pub ip: String,
    pub port: AtomicU16,
    state: AtomicU8,
    pub ack_off: AtomicI64,
    /// Unix ms of the last REPLCONF ACK (or of going online).
    pub ack_time_ms: AtomicI64,
    pub capa: u8,
    pub rdb_only: bool,
    /// Came with SYNC: sends no ACKs (Redis's CLIENT_PRE_PSYNC).
    pub pre_psync: bool,
    /// Diskless: the stream starts with the first ACK.
    start_on_ack: AtomicBool,
}

impl Replica {
    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub fn online(&self) -> bool {
        self.state() == ONLINE
    }

    /// `ip=...,port=...,state=...,offset=...,lag=...`.
    pub fn info_line(&self) -> String {
        let state = match self.state() {
            WAIT_BGSAVE => "wait_bgsave",
            SEND_BULK => "send_bulk",
            _ => "online",
        };
        let lag = if self.online() {
            (unix_ms() / 1000 - self.ack_time_ms.load(Ordering::Relaxed) / 1000).max(0)
        } else {
            0
        };
        format!(
            "ip={},port={},state={state},offset={},lag={lag}",
            self.ip,
            self.port.load(Ordering::Relaxed),
            self.ack_off.load(Ordering::Relaxed),
        )
    }

    fn ack(&self, off: i64) {
        self.ack_off.fetch_max(off, Ordering::AcqRel);
        self.ack_time_ms.store(unix_ms(), Ordering::Release);
    }
}

/// The replicas attached to a primary, the full syncs they wait for, and
/// the acknowledgements WAIT waits for.
pub struct Replicas {
    list: Mutex<Vec<Arc<Replica>>>,
    /// Replicas waiting for a full sync to start.
    waiting: Mutex<Vec<Waiter>>,
    /// The running full sync, if any.
    job: Mutex<Option<Arc<Job>>>,
    /// When the first replica of the next diskless sync arrived.
    diskless_since: Mutex<Option<Instant>>,
    /// Bumped on every ACK (WAIT waits on it).
    acks: tokio::sync::watch::Sender<u64>,
    /// min-replicas-to-write / min-replicas-max-lag, for the per-write check.
    min_to_write: AtomicI64,
    max_lag: AtomicI64,
    /// Unix ms since when no replica is attached (repl-backlog-ttl).
    no_replicas_since: AtomicI64,
    /// INFO stats' sync_full / sync_partial_ok / sync_partial_err.
    pub stats: SyncStats,
}

#[derive(Default)]
pub struct SyncStats {
    pub full: std::sync::atomic::AtomicU64,
    pub partial_ok: std::sync::atomic::AtomicU64,
    pub partial_err: std::sync::atomic::AtomicU64,
}

impl Default for Replicas {
    fn default() -> Self {
        Replicas {
            list: Mutex::new(Vec::new()),
            waiting: Mutex::new(Vec::new()),
            job: Mutex::new(None),
            diskless_since: Mutex::new(None),
            acks: tokio::sync::watch::channel(0).0,
            min_to_write: AtomicI64::new(0),
            max_lag: AtomicI64::new(10),
            no_replicas_since: AtomicI64::new(unix_ms()),
            stats: SyncStats::default(),
        }
    }
}

impl Replicas {
    pub fn list(&self) -> Vec<Arc<Replica>> {
        self.list.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kill_all(&self) {
        for r in self.list() {
            r.client.kill();
        }
    }

    /// Online replicas whose last ACK is at most `max_lag` seconds old.
    pub fn good_count(&self, max_lag: u64) -> usize {
        let now_s = unix_ms() / 1000;
        self.list
            .lock()
            .iter()
            .filter(|r| {
                r.online() && now_s - r.ack_time_ms.load(Ordering::Relaxed) / 1000 <= max_lag as i64
            })
            .count()
    }

    /// Online replicas that acknowledged `offset`.
    pub fn count_acked(&self, offset: i64) -> i64 {
        self.list
            .lock()
            .iter()
            .filter(|r| r.online() && r.ack_off.load(Ordering::Acquire) >= offset)
            .count() as i64
    }

    /// Redis's checkGoodReplicasStatus: false when min-replicas-to-write
    /// refuses writes now.
    #[inline]
    pub fn writes_allowed(&self, is_replica: bool) -> bool {
        let min = self.min_to_write.load(Ordering::Relaxed);
        if min <= 0 || is_replica {
            return true;
        }
        let lag = self.max_lag.load(Ordering::Relaxed);
        lag <= 0 || self.good_count(lag as u64) as i64 >= min
    }

    fn add(&self, r: Arc<Replica>) {
        self.list.lock().push(r);
    }

    fn remove(&self, r: &Arc<Replica>) {
        let mut l = self.list.lock();
        l.retain(|x| !Arc::ptr_eq(x, r));
        if l.is_empty() {
            self.no_replicas_since.store(unix_ms(), Ordering::Relaxed);
        }
    }
}

/// Redis's NOREPLICAS reply.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// Applies the directives the hot paths cache.
pub fn config_changed(srv: &Server) {
    let s = settings(srv);
    srv.repl.backlog.resize(s.backlog_size as usize);
    srv.repl.backlog.set_hard_limit(s.limit.hard_limit_bytes);
    let r = &srv.repl.replicas;
    r.min_to_write
        .store(s.min_replicas_to_write as i64, Ordering::Relaxed);
    r.max_lag
        .store(s.min_replicas_max_lag as i64, Ordering::Relaxed);
}

/// Creates the backlog if there is none (a new history, as Redis does when
/// the first replica arrives) and attaches it to the write-effects stream.
pub fn ensure_backlog(srv: &Server) {
    if srv.repl.backlog.create() {
        if !srv.repl.is_replica() {
            srv.repl.new_history();
        }
        attach_listener(srv);
        let ids = srv.repl.ids();
        crate::log::notice(&format!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            ids.replid, ids.replid2
        ));
    }
}

/// The backlog listens to the effects stream while it exists.
pub fn attach_listener(srv: &Server) {
    if let Some(arc) = srv.arc() {
        let l: Arc<dyn crate::effects::Listener> = arc.repl.clone();
        srv.store.effects.detach(&l);
        srv.store.effects.attach(l);
    }
}

fn detach_listener(srv: &Server) {
    if let Some(arc) = srv.arc() {
        let l: Arc<dyn crate::effects::Listener> = arc.repl.clone();
        srv.store.effects.detach(&l);
    }
}

/// A replica waiting for the next full sync to start.
struct Waiter {
    replica: Arc<Replica>,
    tx: tokio::sync::oneshot::Sender<Start>,
}

/// A full sync starting: the reply's offset and where the RDB comes from.
struct Start {
    replid: String,
    offset: u64,
    /// The replica's position in the stream, pinned at `offset + 1`.
    reader: Arc<Reader>,
    body: Body,
}

enum Body {
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

struct DiskRdb {
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

/// SYNC / PSYNC from a client: checks, then hands the connection over.
pub fn sync_command(srv: &Server, client: &mut Client, argv: &[&[u8]]) -> Result<(), String> {
    let conf = client.repl.get_or_insert_with(Default::default);
    if conf.handoff.is_some()
        || client.shared.flags.load(Ordering::Relaxed) & crate::server::client::FLAG_REPLICA != 0
    {
        return Ok(());
    }
    if let Some(link) = srv.repl.master_link() {
        if link.state != "connected" {
            return Err("NOMASTERLINK Can't SYNC while not connected with my master".into());
        }
    }
    if *srv.repl.failover_state.lock() != "no-failover" {
        return Err("NOMASTERLINK Can't SYNC while failing over".into());
    }
    if conf.rdb_filter.is_some() && conf.capa & CAPA_EOF == 0 {
        return Err("ERR Filtered replica requires EOF capability".into());
    }
    let psync = if argv[0].eq_ignore_ascii_case(b"psync") {
        let off = crate::util::num::parse_i64(argv[2])
            .ok_or_else(|| "ERR value is not an integer or out of range".to_string())?;
        Some((String::from_utf8_lossy(argv[1]).into_owned(), off))
    } else {
        None
    };
    conf.handoff = Some(Handoff { psync });
    Ok(())
}

/// REPLCONF from a client that is not (yet) an attached replica. Returns
/// whether to reply +OK (ACK and GETACK reply nothing).
pub fn replconf_command(srv: &Server, client: &mut Client, argv: &[&[u8]]) -> Result<bool, String> {
    if argv.len().is_multiple_of(2) {
        return Err("ERR syntax error".into());
    }
    let conf = client.repl.get_or_insert_with(Default::default);
    for pair in argv[1..].chunks(2) {
        let (opt, val) = (pair[0], pair[1]);
        if opt.eq_ignore_ascii_case(b"listening-port") {
            let port = crate::util::num::parse_i64(val)
                .ok_or_else(|| "ERR value is not an integer or out of range".to_string())?;
            conf.listening_port = port as u16;
        } else if opt.eq_ignore_ascii_case(b"ip-address") {
            if val.len() >= 256 {
                return Err(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                ));
            }
            conf.ip_address = Some(String::from_utf8_lossy(val).into_owned());
        } else if opt.eq_ignore_ascii_case(b"capa") {
            if val.eq_ignore_ascii_case(b"eof") {
                conf.capa |= CAPA_EOF;
            } else if val.eq_ignore_ascii_case(b"psync2") {
                conf.capa |= CAPA_PSYNC2;
            }
        } else if opt.eq_ignore_ascii_case(b"ack") {
            // Only attached replicas ACK; they are served by serve_replica.
            return Ok(false);
        } else if opt.eq_ignore_ascii_case(b"getack") {
            // Answered by the replica side (it owns the link to its primary).
            let _ = srv;
            return Ok(false);
        } else if opt.eq_ignore_ascii_case(b"rdb-only") {
            match crate::util::num::parse_i64(val) {
                Some(0) => conf.rdb_only = false,
                Some(1) => conf.rdb_only = true,
                Some(_) => {
                    return Err("ERR value is out of range, value must between 0 and 1".into());
                }
                None => return Err("ERR value is not an integer or out of range".into()),
            }
        } else if opt.eq_ignore_ascii_case(b"rdb-filter-only") {
            let Some(filters) = crate::server::protocol::split_args(val) else {
                return Err("ERR Missing rdb-filter-only values".into());
            };
            let mut functions = false;
            for f in filters {
                if f.eq_ignore_ascii_case(b"functions") {
                    functions = true;
                } else {
                    return Err(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(&f)
                    ));
                }
            }
            conf.rdb_filter = Some(functions);
        } else {
            return Err(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    Ok(true)
}

/// Unregisters a replica when its connection ends, however it ends.
struct Attached {
    srv: Arc<Server>,
    replica: Arc<Replica>,
    reader: Option<Arc<Reader>>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            self.srv.repl.backlog.detach(&r);
        }
        self.srv.repl.replicas.remove(&self.replica);
        self.srv
            .repl
            .replicas
            .waiting
            .lock()
            .retain(|w| !Arc::ptr_eq(&w.replica, &self.replica));
        self.replica
            .client
            .set_flag(crate::server::client::FLAG_REPLICA, false);
        crate::log::notice(&format!(
            "Connection with replica {} lost.",
            name(&self.replica)
        ));
    }
}

fn name(r: &Replica) -> String {
    format!("{}:{}", r.ip, r.port.load(Ordering::Relaxed))
}

/// The connection of a client that sent SYNC or PSYNC, from then on.
pub async fn serve_replica(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    client: &mut Client,
    inbuf: &mut BytesMut,
) -> std::io::Result<()> {
    let Some(conf) = client.repl.as_mut() else {
        return Ok(());
    };
    let Some(handoff) = conf.handoff.take() else {
        return Ok(());
    };
    let s = settings(srv);
    if s.disable_tcp_nodelay {
        let _ = stream.set_nodelay(false);
    }
    let conf_filter = conf.rdb_filter;
    let ip = conf
        .ip_address
        .clone()
        .unwrap_or_else(|| client.shared.addr.ip().to_string());
    let replica = Arc::new(Replica {
        client: client.shared.clone(),
        ip,
        port: AtomicU16::new(conf.listening_port),
        state: AtomicU8::new(WAIT_BGSAVE),
        ack_off: AtomicI64::new(0),
        ack_time_ms: AtomicI64::new(unix_ms()),
        capa: conf.capa,
        rdb_only: conf.rdb_only,
        pre_psync: handoff.psync.is_none(),
        start_on_ack: AtomicBool::new(false),
    });
    client
        .shared
        .set_flag(crate::server::client::FLAG_REPLICA, true);
    let mut att = Attached {
        srv: srv.clone(),
        replica: replica.clone(),
        reader: None,
    };
    crate::log::notice(&format!(
        "Replica {} asks for synchronization",
        name(&replica)
    ));
    // Partial resync?
    if let (Some((replid, off)), None) = (&handoff.psync, conf_filter) {
        let stats = &srv.repl.replicas.stats;
        if let Some(reader) = try_partial(srv, &replica, replid, *off) {
            stats.partial_ok.fetch_add(1, Ordering::Relaxed);
            let reply = if replica.capa & CAPA_PSYNC2 != 0 {
                format!("+CONTINUE {}\r\n", srv.repl.ids().replid)
            } else {
                "+CONTINUE\r\n".to_string()
            };
            stream.write_all(reply.as_bytes()).await?;
            replica.state.store(ONLINE, Ordering::Release);
            replica.ack_time_ms.store(unix_ms(), Ordering::Release);
            srv.repl.replicas.add(replica.clone());
            att.reader = Some(reader.clone());
            crate::log::notice(&format!(
                "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                name(&replica),
                srv.repl.backlog.lag_bytes(&reader),
                off
            ));
            return stream_loop(srv, stream, &replica, &reader, inbuf).await;
        }
        // "?" asks for a full sync on purpose: not a failed partial one.
        if !replid.starts_with('?') {
            stats.partial_err.fetch_add(1, Ordering::Relaxed);
        }
    }
    srv.repl.replicas.stats.full.fetch_add(1, Ordering::Relaxed);
    // Full resync: wait for a snapshot to start.
    srv.repl.replicas.add(replica.clone());
    ensure_backlog(srv);
    let start = match conf_filter {
        Some(functions) => Some(filtered_start(srv, functions)?),
        None => wait_start(stream, enqueue(srv, &replica, &s)).await?,
    };
    let Some(start) = start else {
        stream
            .write_all(b"-ERR BGSAVE failed, replication can't continue\r\n")
            .await?;
        return Ok(());
    };
    att.reader = Some(start.reader.clone());
    if !replica.pre_psync {
        let line = format!("+FULLRESYNC {} {}\r\n", start.replid, start.offset);
        stream.write_all(line.as_bytes()).await?;
    }
    let diskless = matches!(start.body, Body::Socket { .. });
    send_rdb(stream, &replica, start.body).await?;
    if replica.rdb_only {
        crate::log::notice(&format!(
            "RDB transfer completed, rdb only replica ({}) should be disconnected asap",
            name(&replica)
        ));
        return Ok(());
    }
    replica.ack_time_ms.store(unix_ms(), Ordering::Release);
    // After an EOF-marked RDB the stream waits for the replica's first
    // ACK, so that the mark is the last thing before it (Redis's
    // repl_start_cmd_stream_on_ack; redis-cli --replica sends "ACK 0").
    replica.start_on_ack.store(diskless, Ordering::Release);
    replica.state.store(ONLINE, Ordering::Release);
    crate::log::notice(&format!(
        "Synchronization with replica {} succeeded",
        name(&replica)
    ));
    stream_loop(srv, stream, &replica, &start.reader, inbuf).await
}

/// The sync of a filtered replica (REPLCONF rdb-filter-only): an RDB with
/// no keys (and the function libraries if asked), so no snapshot: the
/// stream starts at its current end.
fn filtered_start(srv: &Server, functions: bool) -> std::io::Result<Start> {
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

/// Redis's masterTryPartialResynchronization: the replica's history is ours
/// (our ID, or our previous ID up to where it is valid) and the backlog
/// still holds `off ..`.
fn try_partial(srv: &Server, replica: &Replica, replid: &str, off: i64) -> Option<Arc<Reader>> {
    let ids = srv.repl.ids();
    let ours = replid.eq_ignore_ascii_case(&ids.replid);
    let old = replid.eq_ignore_ascii_case(&ids.replid2) && off <= ids.second_repl_offset;
    if !ours && !old {
        if replid.starts_with('?') {
            crate::log::notice(&format!(
                "Full resync requested by replica {}",
                name(replica)
            ));
        } else {
            crate::log::notice(&format!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{}' and '{}')",
                ids.replid, ids.replid2
            ));
        }
        return None;
    }
    if off < 1 || !srv.repl.backlog.can_serve(off as u64) {
        crate::log::notice(&format!(
            "Unable to partial resync with replica {} for lack of backlog (Replica request was: {off}).",
            name(replica)
        ));
        return None;
    }
    let reader = srv.repl.backlog.attach(off as u64);
    // Trimmed between the check and the attach: a full sync then.
    if srv.repl.backlog.read(&reader, 0, &mut Vec::new()) == Read::Overrun {
        return None;
    }
    Some(reader)
}

/// Queues the replica for the next full sync (started by the cron, or now).
fn enqueue(
    srv: &Arc<Server>,
    replica: &Arc<Replica>,
    s: &Settings,
) -> tokio::sync::oneshot::Receiver<Start> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reps = &srv.repl.replicas;
    let wants_socket = s.diskless_sync && replica.capa & CAPA_EOF != 0;
    // A disk-based sync is running: share its file (its offset is pinned).
    {
        let job = reps.job.lock().clone();
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
    reps.waiting.lock().push(Waiter {
        replica: replica.clone(),
        tx,
    });
    if wants_socket && s.diskless_delay > 0 {
        let mut since = reps.diskless_since.lock();
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
async fn wait_start(
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

async fn send_rdb(stream: &mut TcpStream, replica: &Replica, body: Body) -> std::io::Result<()> {
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
                stream.write_all(&buf[..n]).await?;
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
                    Some(Some(chunk)) => stream.write_all(&chunk).await?,
                    Some(None) => break,
                    None => return Err(std::io::Error::other("the diskless sync failed")),
                }
            }
            stream.write_all(mark.as_bytes()).await
        }
    }
}

/// The live stream: backlog bytes from the replica's position to its
/// socket, and its REPLCONF ACKs in.
async fn stream_loop(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    replica: &Arc<Replica>,
    reader: &Arc<Reader>,
    inbuf: &mut BytesMut,
) -> std::io::Result<()> {
    let mut grew = srv.repl.backlog.subscribe();
    let mut parser = RequestParser::new();
    let mut out = Vec::with_capacity(CHUNK);
    let mut soft_since: Option<Instant> = None;
    handle_input(srv, replica, inbuf, &mut parser)?;
    loop {
        if replica.client.killed.load(Ordering::Acquire) {
            return Ok(());
        }
        let streaming = !replica.start_on_ack.load(Ordering::Acquire);
        if streaming {
            out.clear();
            match srv.repl.backlog.read(reader, CHUNK, &mut out) {
                Read::Overrun => {
                    crate::log::warning(&format!(
                        "Client id={} addr={} flags=S scheduled to be closed ASAP for overcoming of output buffer limits.",
                        replica.client.id, replica.client.addr
                    ));
                    return Ok(());
                }
                Read::Bytes(0) => {}
                Read::Bytes(_) => {
                    stream.write_all(&out).await?;
                    srv.stats
                        .net_output_bytes
                        .fetch_add(out.len() as u64, Ordering::Relaxed);
                    if !soft_limit_ok(srv, reader, &mut soft_since) {
                        return Ok(());
                    }
                    continue;
                }
            }
        }
        if inbuf.capacity() - inbuf.len() < 1024 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            c = grew.changed(), if streaming => {
                if c.is_err() {
                    return Ok(());
                }
            }
            n = tokio::io::AsyncReadExt::read_buf(stream, inbuf) => {
                if n? == 0 {
                    return Ok(());
                }
                handle_input(srv, replica, inbuf, &mut parser)?;
            }
            // Wake up now and then: a kill flag, a start_on_ack change.
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// client-output-buffer-limit replica's soft limit: over it for longer than
/// its seconds closes the link (the hard limit is the backlog's).
fn soft_limit_ok(srv: &Server, reader: &Reader, since: &mut Option<Instant>) -> bool {
    let limit = srv.config.read().client_output_buffer_limit.replica;
    if limit.soft_limit_bytes == 0 {
        return true;
    }
    if srv.repl.backlog.lag_bytes(reader) <= limit.soft_limit_bytes {
        *since = None;
        return true;
    }
    let t = since.get_or_insert_with(Instant::now);
    t.elapsed() <= Duration::from_secs(limit.soft_limit_seconds)
}

/// Commands from an attached replica: REPLCONF ACK (and anything else,
/// ignored, as a replica sends nothing else).
fn handle_input(
    srv: &Server,
    replica: &Replica,
    inbuf: &mut BytesMut,
    parser: &mut RequestParser,
) -> std::io::Result<()> {
    let limits = Limits {
        proto_max_bulk_len: 1 << 20,
        authenticated: true,
    };
    loop {
        let argv: Vec<Vec<u8>> = match parser.parse(inbuf, &limits) {
            Ok(Some(Request::Multibulk)) => parser
                .ranges()
                .iter()
                .map(|&(a, b)| inbuf[a..b].to_vec())
                .collect(),
            Ok(Some(Request::Inline(args))) => args,
            Ok(Some(Request::Empty)) => Vec::new(),
            Ok(None) => break,
            Err(e) => return Err(std::io::Error::other(e.0)),
        };
        if argv.len() >= 3
            && argv[0].eq_ignore_ascii_case(b"replconf")
            && argv[1].eq_ignore_ascii_case(b"ack")
        {
            if let Some(off) = crate::util::num::parse_i64(&argv[2]) {
                replica.ack(off);
                replica.start_on_ack.store(false, Ordering::Release);
                srv.repl.replicas.acks.send_modify(|n| *n += 1);
            }
        }
    }
    let consumed = parser.consumed();
    inbuf.advance(consumed);
    parser.shift(consumed);
    Ok(())
}

/// Starts a full sync for the waiting replicas if nothing else snapshots
/// and the diskless delay (if any) has passed.
fn maybe_start_job(srv: &Arc<Server>, s: &Settings) {
    let reps = &srv.repl.replicas;
    if reps.job.lock().is_some() || reps.waiting.lock().is_empty() {
        return;
    }
    let waiting: Vec<Waiter> = std::mem::take(&mut *reps.waiting.lock());
    let mincapa = waiting
        .iter()
        .fold(CAPA_EOF | CAPA_PSYNC2, |c, w| c & w.replica.capa);
    let diskless = s.diskless_sync && mincapa & CAPA_EOF != 0;
    if diskless && s.diskless_delay > 0 {
        let since = *reps.diskless_since.lock();
        let max = s.diskless_max_replicas;
        let enough = max > 0 && waiting.len() as u64 >= max;
        if !enough && since.is_some_and(|t| t.elapsed() < Duration::from_secs(s.diskless_delay)) {
            reps.waiting.lock().extend(waiting);
            return;
        }
    }
    *reps.diskless_since.lock() = None;
    if let Err(back) = start_job(srv, s, waiting, diskless) {
        // Another snapshot runs (BGSAVE, AOF rewrite): retry on the next tick.
        let mut w = reps.waiting.lock();
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
    let at = x
        .aux
        .iter()
        .position(|(k, _)| k == "aof-base")
        .unwrap_or(x.aux.len());
    x.aux.splice(
        at..at,
        [
            ("repl-stream-db".to_string(), b"0".to_vec()),
            ("repl-id".to_string(), replid.as_bytes().to_vec()),
            ("repl-offset".to_string(), offset.to_string().into_bytes()),
        ],
    );
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
        *reps.job.lock() = Some(Arc::new(Job {
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
                *arc.repl.replicas.job.lock() = None;
            });
        if spawned.is_err() {
            *reps.job.lock() = None;
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
    *reps.job.lock() = Some(Arc::new(Job {
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
            *arc.repl.replicas.job.lock() = None;
            match &r {
                Ok(_) => crate::log::notice("Background RDB transfer terminated with success"),
                Err(e) => crate::log::warning(&format!("Background transfer error: {e}")),
            }
            done_tx.send_replace(Some(r.map(Arc::new)));
            arc.repl.backlog.detach(&pin);
        });
    if spawned.is_err() {
        *reps.job.lock() = None;
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

/// WAIT numreplicas timeout: the count now, or None to block (the
/// connection then awaits [`wait_acks`]).
pub fn wait_command(
    srv: &Server,
    client: &mut Client,
    numreplicas: i64,
    timeout_ms: i64,
) -> Option<i64> {
    let offset = client.woff;
    let acked = srv.repl.replicas.count_acked(offset);
    if acked >= numreplicas || client.in_exec || client.multi.is_some() {
        return Some(acked);
    }
    let deadline =
        (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
    client.repl.get_or_insert_with(Default::default).wait = Some((offset, numreplicas, deadline));
    // Ask the replicas for an ACK now (Redis's replicationRequestAckFromSlaves).
    srv.repl
        .backlog
        .feed_command(&[b"REPLCONF", b"GETACK", b"*"]);
    None
}

/// Blocks until `numreplicas` replicas acknowledged `offset` or the deadline
/// passes; returns how many did.
pub async fn wait_acks(srv: &Server, wait: (i64, i64, Option<Instant>)) -> i64 {
    let (offset, num, deadline) = wait;
    let mut rx = srv.repl.replicas.acks.subscribe();
    loop {
        let n = srv.repl.replicas.count_acked(offset);
        if n >= num {
            return n;
        }
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = rx.changed() => {}
            _ = timer => return srv.repl.replicas.count_acked(offset),
        }
    }
}

/// ROLE for a primary: `master`, the offset, and the online replicas.
pub fn role_reply(srv: &Server, out: &mut crate::server::reply::Out) {
    out.array(3);
    out.bulk(b"master");
    out.int(srv.repl.offset());
    let online: Vec<_> = srv
        .repl
        .replicas
        .list()
        .into_iter()
        .filter(|r| r.online())
        .collect();
    out.array(online.len());
    for r in online {
        out.array(3);
        out.bulk(r.ip.as_bytes());
        out.bulk(r.port.load(Ordering::Relaxed).to_string().as_bytes());
        out.bulk(r.ack_off.load(Ordering::Relaxed).to_string().as_bytes());
    }
}

/// The cron thread: a tick every 100 ms starts waiting full syncs; once a
/// second it PINGs replicas every `repl-ping-replica-period`, closes
/// replicas silent for `repl-timeout`, and frees the backlog after
/// `repl-backlog-ttl` without replicas.
pub fn spawn_cron(srv: Arc<Server>) {
    let _ = std::thread::Builder::new()
        .name("ember-repl".into())
        .spawn(move || {
            let mut loops: u64 = 0;
            let mut last_second = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let s = settings(&srv);
                maybe_start_job(&srv, &s);
                if last_second.elapsed() >= Duration::from_secs(1) {
                    last_second = Instant::now();
                    cron_second(&srv, &s, loops);
                    loops += 1;
                }
            }
        });
}

fn cron_second(srv: &Server, s: &Settings, loops: u64) {
    let reps = &srv.repl.replicas;
    let primary = !srv.repl.is_replica();
    if primary && loops.is_multiple_of(s.ping_period) && !reps.is_empty() {
        srv.repl.backlog.feed_command(&[b"PING"]);
    }
    let now = unix_ms();
    for r in reps.list() {
        if r.online()
            && !r.pre_psync
            && (now - r.ack_time_ms.load(Ordering::Relaxed)) / 1000 > s.timeout as i64
        {
            crate::log::warning(&format!(
                "Disconnecting timedout replica (streaming sync): {}",
                name(&r)
            ));
            r.client.kill();
        }
    }
    if primary && reps.is_empty() && s.backlog_ttl > 0 && srv.repl.backlog.active() {
        let idle = (now - reps.no_replicas_since.load(Ordering::Relaxed)) / 1000;
        if idle > s.backlog_ttl as i64 {
            srv.repl.new_history();
            srv.repl.backlog.free();
            detach_listener(srv);
            crate::log::notice(&format!(
                "Replication backlog freed after {} seconds without connected replicas.",
                s.backlog_ttl
            ));
        }
    }
}
