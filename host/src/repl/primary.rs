//! The primary side of replication: the registry of attached replicas,
//! serving them (SYNC, PSYNC, REPLCONF), partial resyncs from the backlog,
//! the live stream, acknowledgements (WAIT, min-replicas-to-write), ROLE and
//! the replication cron. Full syncs are fullsync.rs.
//!
//! A client that sends SYNC or PSYNC leaves the command loop: the handler
//! records a [`Handoff`] and the connection task continues in
//! [`serve_replica`], which owns the socket from then on. It answers
//! `+CONTINUE` and copies the backlog from the requested offset, or waits
//! for a full sync and sends its RDB; then it copies the stream from the
//! offset the sync pinned, and reads the replica's REPLCONF ACKs.

use super::backlog::{Read, Reader};
use super::fullsync::{self, Body};
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
pub(super) const CHUNK: usize = 64 * 1024;

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
    /// A SHUTDOWN waiting for replicas: the connection waits for the end.
    pub shutdown_wait: bool,
}

/// The sync a replica asked for.
#[derive(Debug)]
pub struct Handoff {
    /// PSYNC's (replid, offset); None for the old SYNC.
    pub psync: Option<(String, i64)>,
}

/// A replica's state (Redis's SLAVE_STATE_*), as INFO names it.
const WAIT_BGSAVE: u8 = 0;
pub(super) const SEND_BULK: u8 = 1;
const ONLINE: u8 = 2;

/// An attached replica, as the registry and INFO see it.
pub struct Replica {
    pub client: Arc<ClientShared>,
    pub ip: String,
    pub port: AtomicU16,
    pub(super) state: AtomicU8,
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
    /// Replicas waiting for a full sync, and the running one.
    pub(super) syncs: fullsync::Syncs,
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
            syncs: fullsync::Syncs::default(),
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

    /// The backlog's time to live counts from now (a backlog restored at
    /// start, Redis's repl_no_slaves_since = now).
    pub fn no_replicas_now(&self) {
        self.no_replicas_since.store(unix_ms(), Ordering::Relaxed);
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

/// SYNC / PSYNC from a client: checks, then hands the connection over.
pub fn sync_command(srv: &Server, client: &mut Client, argv: &[&[u8]]) -> Result<(), String> {
    let (id, addr) = (client.id(), client.shared.addr);
    let conf = client.repl.get_or_insert_with(Default::default);
    if conf.handoff.is_some()
        || client.shared.flags.load(Ordering::Relaxed) & crate::server::client::FLAG_REPLICA != 0
    {
        return Ok(());
    }
    // PSYNC <our id> <offset> FAILOVER: our primary hands over to us
    // (FAILOVER on its side); promote, then serve it like any replica
    // (its history is our ID2 now, so it continues partially).
    if argv.len() > 3
        && argv[0].eq_ignore_ascii_case(b"psync")
        && argv[3].eq_ignore_ascii_case(b"failover")
    {
        crate::log::warning(&format!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(argv[1])
        ));
        if !srv.repl.is_replica() {
            return Err("ERR PSYNC FAILOVER can't be sent to a master.".into());
        }
        if !argv[1].eq_ignore_ascii_case(srv.repl.ids().replid.as_bytes()) {
            return Err("ERR PSYNC FAILOVER replid must match my replid.".into());
        }
        super::replica::unset_master(srv);
        crate::log::notice(&format!(
            "MASTER MODE enabled (failover request from 'id={id} addr={addr}')"
        ));
    }
    if srv.repl.failover.active() {
        return Err("NOMASTERLINK Can't SYNC while failing over".into());
    }
    if let Some(link) = srv.repl.master_link() {
        if link.state != "connected" {
            return Err("NOMASTERLINK Can't SYNC while not connected with my master".into());
        }
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
        self.srv.repl.replicas.syncs.forget(&self.replica);
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
        Some(functions) => Some(fullsync::filtered_start(srv, functions)?),
        None => fullsync::wait_start(stream, fullsync::enqueue(srv, &replica, &s)).await?,
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
    let timeout = Duration::from_secs(s.timeout);
    if let Err(e) = fullsync::send_rdb(stream, &replica, start.body, timeout).await {
        crate::log::warning(&format!(
            "Full sync of replica {} failed: {e}",
            name(&replica)
        ));
        return Err(e);
    }
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
                    log_overrun(replica);
                    return Ok(());
                }
                Read::Bytes(0) => {}
                Read::Bytes(_) => {
                    // A replica that stops reading blocks this write: the
                    // limits are checked while it waits, so the link is cut
                    // instead of the backlog holding on for it.
                    let write = stream.write_all(&out);
                    tokio::pin!(write);
                    loop {
                        tokio::select! {
                            r = &mut write => {
                                r?;
                                break;
                            }
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        }
                        if reader.overrun() || !soft_limit_ok(srv, reader, &mut soft_since) {
                            log_overrun(replica);
                            return Ok(());
                        }
                    }
                    srv.stats
                        .net_output_bytes
                        .fetch_add(out.len() as u64, Ordering::Relaxed);
                    if !soft_limit_ok(srv, reader, &mut soft_since) {
                        log_overrun(replica);
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
                // Let the writers that are ready run first: one socket write
                // then carries many of their commands (Redis writes to its
                // replicas once per event-loop turn), not one each.
                tokio::task::yield_now().await;
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

fn log_overrun(replica: &Replica) {
    crate::log::warning(&format!(
        "Client id={} addr={} flags=S scheduled to be closed ASAP for overcoming of output buffer limits.",
        replica.client.id, replica.client.addr
    ));
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
/// passes; returns how many did. What the client sends meanwhile is read
/// into `inbuf` (run after the reply, as Redis does); a client that goes
/// away ends the wait.
pub async fn wait_acks(
    srv: &Server,
    wait: (i64, i64, Option<Instant>),
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    inbuf: &mut BytesMut,
) -> std::io::Result<i64> {
    let (offset, num, deadline) = wait;
    let mut rx = srv.repl.replicas.acks.subscribe();
    loop {
        let n = srv.repl.replicas.count_acked(offset);
        if n >= num {
            return Ok(n);
        }
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        if inbuf.capacity() - inbuf.len() < 1024 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            _ = rx.changed() => {}
            _ = timer => return Ok(srv.repl.replicas.count_acked(offset)),
            r = tokio::io::AsyncReadExt::read_buf(stream, inbuf) => {
                if r? == 0 {
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
            }
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
    // A FAILOVER started from here spawns the replica link's task.
    let rt = tokio::runtime::Handle::try_current().ok();
    let _ = std::thread::Builder::new()
        .name("ember-repl".into())
        .spawn(move || {
            let _rt = rt.as_ref().map(|h| h.enter());
            let mut loops: u64 = 0;
            let mut last_second = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let s = settings(&srv);
                fullsync::maybe_start_job(&srv, &s);
                super::failover::update(&srv);
                super::shutdown::cron(&srv);
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
    // No PING while a FAILOVER with a timeout waits: it would move our
    // offset past what the replicas acknowledged (as Redis).
    if primary
        && loops.is_multiple_of(s.ping_period)
        && !reps.is_empty()
        && !srv.repl.failover.holds_pings()
    {
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
