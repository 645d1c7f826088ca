//! The replica side of replication: `REPLICAOF host port` (and the
//! `replicaof` directive) makes this server follow a primary, Redis's or
//! Ember's, over Redis's own protocol, the way Redis 7.0's replica does it.
//!
//! One tokio task per link ([`run_link`]) goes through Redis's states:
//! connect; the handshake (PING, AUTH with `masterauth`/`masteruser`,
//! REPLCONF listening-port / ip-address / capa eof psync2); PSYNC with our
//! replication ID and offset, or `PSYNC ? -1` with no history; on
//! `+FULLRESYNC` the RDB transfer and load ([`sync`]: through a file that
//! replaces `dbfilename`, or from the socket with `repl-diskless-load
//! on-empty-db`; expired keys kept: the primary deletes them); on
//! `+CONTINUE` the stream resumes where it stopped, adopting the
//! primary's new ID as psync2 does. Then the primary's stream is applied as
//! the master client: through the normal dispatcher (so the AOF gets the
//! effects), never refused by `replica-read-only`, replies unsent, and every
//! applied byte fed verbatim to our own backlog (`Repl::feed_from_master`)
//! so sub-replicas see the primary's stream and offsets agree along a chain.
//! REPLCONF ACK goes out every second and on REPLCONF GETACK; a link silent
//! for `repl-timeout` is dropped, and a dropped link is retried every second
//! with a partial resync.
//!
//! The dispatcher asks [`Replica`] whether to refuse a command (READONLY,
//! MASTERDOWN, LOADING); store::expire::Lazy hides expired keys from a
//! replica's clients. The shared state (role, IDs, offsets, backlog, INFO
//! and ROLE) lives in [`super::Repl`]; this module keeps only what the
//! link task needs.

mod sync;

use super::MasterLink;
use crate::server::client::{Client, ClientShared, FLAG_MASTER};
use crate::server::protocol::{Limits, Request, RequestParser};
use crate::server::reply::Out;
use crate::server::Server;
use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A command refused while a full sync loads (Redis's shared.loadingerr).
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
/// A write refused by a read-only replica (Redis's shared.roslaveerr).
pub const READONLY: &str = "READONLY You can't write against a read only replica.";
/// A command refused while the link is down and stale data must not be
/// served (Redis's shared.masterdownerr).
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

/// The replica side's own state (`Server::replica`).
#[derive(Default)]
pub struct Replica {
    /// The running link task, aborted by REPLICAOF.
    task: Mutex<Option<tokio::task::AbortHandle>>,
    /// We hold a history a primary can continue (Redis's cached master):
    /// after a sync, or a primary turned replica (replicationCacheMasterUsingMyself).
    can_continue: AtomicBool,
    /// `replica-read-only` and `replica-serve-stale-data`, mirrored so the
    /// dispatcher tests a flag per command.
    read_only: AtomicBool,
    serve_stale: AtomicBool,
    /// `replica-ignore-maxmemory`: no evictions (nor -OOM) while a replica.
    ignore_maxmemory: AtomicBool,
    /// `master_link_status:up` (Redis's repl_state == REPL_STATE_CONNECTED).
    link_up: AtomicBool,
    /// A full sync is being loaded: commands not flagged `loading` get
    /// -LOADING, as while Redis loads its primary's RDB.
    pub(super) loading: AtomicBool,
    /// The database the primary's stream is in. A partial resync continues
    /// the stream mid-way, where no SELECT repeats it, so the next master
    /// client starts there (Redis keeps its cached master client's db).
    stream_db: AtomicUsize,
    /// Bumped when a link is stopped: an aborted task still in the middle
    /// of a batch on another thread applies nothing more once it changed.
    generation: AtomicU64,
}

impl Replica {
    /// A read-only replica refuses writes from its clients.
    #[inline]
    pub fn read_only(&self) -> bool {
        self.read_only.load(Ordering::Relaxed)
    }

    /// A full sync is being loaded.
    #[inline]
    pub fn loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// `replica-ignore-maxmemory yes`: a replica does not evict.
    #[inline]
    pub fn ignores_maxmemory(&self) -> bool {
        self.ignore_maxmemory.load(Ordering::Relaxed)
    }

    /// The link is down and `replica-serve-stale-data no`: only commands
    /// flagged `stale` run.
    #[inline]
    pub fn refuses_stale(&self) -> bool {
        !self.serve_stale.load(Ordering::Relaxed) && !self.link_up.load(Ordering::Acquire)
    }
}

/// Mirrors the directives the dispatcher tests (called on every CONFIG SET).
pub fn config_changed(srv: &Server) {
    let cfg = srv.config.read();
    let yes = |n: &str| cfg.get_one(n).as_deref() == Some("yes");
    srv.replica
        .read_only
        .store(yes("replica-read-only"), Ordering::Relaxed);
    srv.replica
        .serve_stale
        .store(yes("replica-serve-stale-data"), Ordering::Relaxed);
    srv.replica
        .ignore_maxmemory
        .store(yes("replica-ignore-maxmemory"), Ordering::Relaxed);
}

/// At start: follow the primary named by the `replicaof` directive. With
/// a history restored from the RDB ([`restore_history`]) the first PSYNC
/// asks to continue it; otherwise `PSYNC ? -1`.
pub fn start(srv: &Arc<Server>) {
    let master = srv.config.read().replicaof.clone();
    if let Some((host, port)) = master {
        follow(srv, host, port, false);
    }
}

/// The RDB loaded at start held our primary's history (`Repl::restore`):
/// continue it, in the database its stream was in (Redis's cached master
/// made from the RDB's repl-id / repl-offset / repl-stream-db).
pub(super) fn restore_history(srv: &Server, stream_db: usize) {
    srv.replica.can_continue.store(true, Ordering::Release);
    srv.replica.stream_db.store(stream_db, Ordering::Release);
}

/// The database our primary's stream is in, while we hold a history to
/// continue (None: nothing to save in an RDB's repl-* fields).
pub(super) fn history_db(srv: &Server) -> Option<usize> {
    srv.replica
        .can_continue
        .load(Ordering::Acquire)
        .then(|| srv.replica.stream_db.load(Ordering::Acquire))
}

/// What REPLICAOF answered.
pub enum Outcome {
    Ok,
    AlreadyConnected,
}

/// REPLICAOF host port (Redis's replicationSetMaster).
pub fn set_master(srv: &Arc<Server>, host: String, port: u16) -> Outcome {
    if let Some(l) = srv.repl.master_link() {
        if l.host.eq_ignore_ascii_case(&host) && l.port == port {
            crate::log::notice("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            return Outcome::AlreadyConnected;
        }
    }
    // Our own history is one the new primary may continue (psync2): a
    // demoted primary, or a sibling of a promoted replica, resyncs
    // partially when its offset is in the new primary's backlog.
    let was_primary = !srv.repl.is_replica();
    follow(srv, host, port, was_primary);
    Outcome::Ok
}

/// Starts following `host:port`; `own_history`: we were a primary, and
/// PSYNC offers our ID and offset (Redis's replicationCacheMasterUsingMyself).
fn follow(srv: &Arc<Server>, host: String, port: u16, own_history: bool) {
    stop_link(srv);
    if own_history {
        srv.replica.can_continue.store(true, Ordering::Release);
    }
    srv.store.replica.store(true, Ordering::Release);
    crate::log::set_replica(true);
    srv.config.write().replicaof = Some((host.clone(), port));
    srv.repl.set_master_link(Some(MasterLink {
        host: host.clone(),
        port,
        state: "connect",
        read_reploff: srv.repl.offset(),
        reploff: srv.repl.offset(),
        ..Default::default()
    }));
    crate::log::notice(&format!("Connecting to MASTER {host}:{port}"));
    let generation = srv.replica.generation.load(Ordering::Acquire);
    let task = tokio::spawn(run_link(srv.clone(), host, port, generation));
    *srv.replica.task.lock() = Some(task.abort_handle());
}

/// REPLICAOF NO ONE (Redis's replicationUnsetMaster): promotion. The old
/// ID becomes ID2 so our former siblings can continue from us.
pub fn unset_master(srv: &Server) {
    if !srv.repl.is_replica() {
        return;
    }
    stop_link(srv);
    srv.config.write().replicaof = None;
    srv.repl.set_master_link(None);
    srv.store.replica.store(false, Ordering::Release);
    crate::log::set_replica(false);
    srv.replica.can_continue.store(false, Ordering::Release);
    srv.repl.shift_replid();
    srv.repl.disconnect_replicas();
    crate::log::notice("MASTER MODE enabled");
}

/// Ends the running link task, if any.
fn stop_link(srv: &Server) {
    srv.replica.generation.fetch_add(1, Ordering::AcqRel);
    if let Some(t) = srv.replica.task.lock().take() {
        t.abort();
    }
    srv.replica.link_up.store(false, Ordering::Release);
}

/// Sets the link's ROLE state (and what goes with it in INFO).
fn set_state(srv: &Server, state: &'static str) {
    let now = crate::commands::unix_ms();
    let up = state == "connected";
    let was_up = srv.replica.link_up.swap(up, Ordering::AcqRel);
    srv.repl.update_master_link(|l| {
        l.state = state;
        if up {
            l.down_since_ms = 0;
            l.last_io_ms = now;
        } else if was_up {
            l.down_since_ms = now;
        }
    });
}

/// A failed link, for the log: what went wrong.
pub(super) type LinkResult = Result<(), String>;

/// The link task: connect, sync, stream; on failure retry every second.
async fn run_link(srv: Arc<Server>, host: String, port: u16, generation: u64) {
    loop {
        set_state(&srv, "connecting");
        if let Err(e) = link_once(&srv, &host, port, generation).await {
            crate::log::warning(&e);
        }
        set_state(&srv, "connect");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The directives one link reads.
struct Settings {
    timeout: Duration,
    masteruser: String,
    masterauth: String,
    announce_ip: String,
    announce_port: u16,
    /// `bind-source-addr`: the local address the link to the primary
    /// leaves from ("" = the kernel's choice).
    source_addr: String,
}

impl Settings {
    fn of(srv: &Server) -> Settings {
        let cfg = srv.config.read();
        let get = |n: &str| cfg.get_one(n).unwrap_or_default();
        let announce_port = get("replica-announce-port").parse().unwrap_or(0);
        Settings {
            timeout: Duration::from_secs(get("repl-timeout").parse().unwrap_or(60).max(1)),
            masteruser: get("masteruser"),
            masterauth: get("masterauth"),
            source_addr: get("bind-source-addr"),
            announce_ip: get("replica-announce-ip"),
            announce_port: if announce_port != 0 {
                announce_port
            } else {
                srv.port.load(Ordering::Relaxed) as u16
            },
        }
    }
}

/// The socket to the primary with what was read and not yet consumed.
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) buf: BytesMut,
    pub(super) timeout: Duration,
}

impl Conn {
    async fn send(&mut self, argv: &[&[u8]]) -> LinkResult {
        let mut out = Vec::new();
        crate::effects::encode_command(&mut out, argv);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    /// Reads more bytes, failing after `timeout` without any.
    pub(super) async fn fill(&mut self) -> Result<usize, String> {
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err("Timeout connecting to the MASTER...".to_string()),
            Ok(Err(e)) => Err(format!("Error reading from MASTER: {e}")),
            Ok(Ok(0)) => Err("MASTER closed the connection".to_string()),
            Ok(Ok(n)) => Ok(n),
        }
    }

    /// One reply line, without its line end.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(i + 1);
                let text = String::from_utf8_lossy(&line[..i]);
                return Ok(text.trim_end_matches('\r').to_string());
            }
            if self.buf.len() > 64 * 1024 {
                return Err("Protocol error: too big reply line from MASTER".to_string());
            }
            self.fill().await?;
        }
    }

    /// One reply line, skipping the empty lines a primary sends to keep the
    /// link alive while it prepares the RDB.
    pub(super) async fn reply(&mut self) -> Result<String, String> {
        loop {
            let l = self.line().await?;
            if !l.is_empty() {
                return Ok(l);
            }
        }
    }
}

/// What PSYNC answered.
enum Psync {
    Full { replid: String, offset: i64 },
    Continue { replid: Option<String> },
}

/// Connects to the primary, from `bind-source-addr` when it is set (as
/// Redis's connectWithMaster does).
async fn connect(host: &str, port: u16, source: &str) -> std::io::Result<TcpStream> {
    if source.is_empty() {
        return TcpStream::connect((host, port)).await;
    }
    let source: std::net::IpAddr = source.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bind-source-addr '{source}' is not an IP address"),
        )
    })?;
    let target = tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.is_ipv6() == source.is_ipv6())
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrNotAvailable))?;
    let socket = if source.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    socket.bind(std::net::SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

/// One connection to the primary, from connect to the end of its stream.
async fn link_once(srv: &Arc<Server>, host: &str, port: u16, generation: u64) -> LinkResult {
    let s = Settings::of(srv);
    let stream = tokio::time::timeout(s.timeout, connect(host, port, &s.source_addr))
        .await
        .map_err(|_| "Timeout connecting to the MASTER...".to_string())?
        .map_err(|e| format!("Unable to connect to MASTER: {e}"))?;
    let _ = stream.set_nodelay(true);
    crate::log::notice("MASTER <-> REPLICA sync started");
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(64 * 1024),
        timeout: s.timeout,
    };
    set_state(srv, "handshake");
    handshake(&mut conn, &s).await?;
    let psync = psync(srv, &mut conn).await?;
    // The target of a FAILOVER accepted: the failover is done, writes
    // resume (and are refused: we are a replica now).
    super::failover::psync_accepted(srv);
    match psync {
        Psync::Full { replid, offset } => {
            set_state(srv, "sync");
            sync::full_sync(srv, &mut conn, &replid, offset).await?;
        }
        Psync::Continue { replid } => {
            crate::log::notice("Successful partial resynchronization with master.");
            super::primary::ensure_backlog(srv);
            if let Some(new) = replid {
                if new != srv.repl.ids().replid {
                    // psync2: the primary was promoted; our history up to
                    // here stays valid under the old ID for our replicas.
                    srv.repl.continue_with_id(&new);
                    crate::log::notice(&format!("Master replication ID changed to {new}"));
                    srv.repl.disconnect_replicas();
                }
            }
        }
    }
    srv.replica.can_continue.store(true, Ordering::Release);
    stream_loop(srv, conn, generation).await
}

/// PING, AUTH, REPLCONF as Redis 7.0's syncWithMaster sends them.
async fn handshake(conn: &mut Conn, s: &Settings) -> LinkResult {
    conn.send(&[b"PING"]).await?;
    let pong = conn.reply().await?;
    // Errors that only mean "authenticate first" are fine here.
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    let port = s.announce_port.to_string();
    let auth = !s.masterauth.is_empty();
    if auth {
        if s.masteruser.is_empty() {
            conn.send(&[b"AUTH", s.masterauth.as_bytes()]).await?;
        } else {
            conn.send(&[b"AUTH", s.masteruser.as_bytes(), s.masterauth.as_bytes()])
                .await?;
        }
    }
    conn.send(&[b"REPLCONF", b"listening-port", port.as_bytes()])
        .await?;
    if !s.announce_ip.is_empty() {
        conn.send(&[b"REPLCONF", b"ip-address", s.announce_ip.as_bytes()])
            .await?;
    }
    conn.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    if auth {
        let r = conn.reply().await?;
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let r = conn.reply().await?;
    if r.starts_with('-') {
        crate::log::notice(&format!(
            "(Non critical) Master does not understand REPLCONF listening-port: {r}"
        ));
    }
    if !s.announce_ip.is_empty() {
        let r = conn.reply().await?;
        if r.starts_with('-') {
            crate::log::notice(&format!(
                "(Non critical) Master does not understand REPLCONF ip-address: {r}"
            ));
        }
    }
    let r = conn.reply().await?;
    if r.starts_with('-') {
        crate::log::notice(&format!(
            "(Non critical) Master does not understand REPLCONF capa: {r}"
        ));
    }
    Ok(())
}

/// PSYNC replid offset+1 when we have a history, else PSYNC ? -1.
async fn psync(srv: &Server, conn: &mut Conn) -> Result<Psync, String> {
    let (replid, from) = if srv.replica.can_continue.load(Ordering::Acquire) {
        (srv.repl.ids().replid, (srv.repl.offset() + 1).to_string())
    } else {
        ("?".to_string(), "-1".to_string())
    };
    if replid != "?" {
        crate::log::notice(&format!(
            "Trying a partial resynchronization (request {replid}:{from})."
        ));
    }
    // A primary handing over (FAILOVER) asks its target to promote itself.
    let failover = srv.repl.failover.phase() == super::failover::Phase::InProgress;
    let mut argv: SmallVec<[&[u8]; 4]> = SmallVec::new();
    argv.extend_from_slice(&[b"PSYNC", replid.as_bytes(), from.as_bytes()]);
    if failover {
        argv.push(b"FAILOVER");
    }
    if let Err(e) = conn.send(&argv).await {
        if failover {
            super::failover::abort(srv, "Write error to failover target");
        }
        return Err(e);
    }
    let r = conn.reply().await?;
    if failover && !r.starts_with("+FULLRESYNC") && !r.starts_with("+CONTINUE") {
        // Redis gives up a failover the target refused; we are a primary again.
        super::failover::abort(srv, "Failover target rejected psync request");
    }
    if let Some(rest) = r.strip_prefix("+FULLRESYNC") {
        let mut it = rest.split_whitespace();
        let (Some(id), Some(off)) = (it.next(), it.next().and_then(|o| o.parse::<i64>().ok()))
        else {
            return Err(format!("Master replied with wrong +FULLRESYNC syntax: {r}"));
        };
        if id.len() != 40 {
            return Err(format!("Master replied with wrong +FULLRESYNC syntax: {r}"));
        }
        crate::log::notice(&format!("Full resync from master: {id}:{off}"));
        return Ok(Psync::Full {
            replid: id.to_string(),
            offset: off,
        });
    }
    if let Some(rest) = r.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        return Ok(Psync::Continue {
            replid: (id.len() == 40).then(|| id.to_string()),
        });
    }
    if r.starts_with("-NOMASTERLINK") || r.starts_with("-LOADING") {
        return Err(format!(
            "Master is currently unable to PSYNC but should be in the future: {r}"
        ));
    }
    Err(format!("Unexpected reply to PSYNC from master: {r}"))
}

/// Unregisters the master client when the link ends, however it ends.
struct MasterClient<'a> {
    srv: &'a Server,
    client: Client,
}

impl Drop for MasterClient<'_> {
    fn drop(&mut self) {
        self.srv
            .replica
            .stream_db
            .store(self.client.db, Ordering::Release);
        crate::commands::tx::unwatch_all(self.srv, &mut self.client);
        self.srv.clients.unregister(self.client.id());
    }
}

/// Applies the primary's stream until the link fails.
async fn stream_loop(srv: &Arc<Server>, mut conn: Conn, generation: u64) -> LinkResult {
    let peer = conn
        .stream
        .peer_addr()
        .map_err(|e| format!("Error reading from MASTER: {e}"))?;
    let local = conn.stream.local_addr().unwrap_or(peer);
    let fd = {
        use std::os::fd::AsRawFd;
        conn.stream.as_raw_fd()
    };
    let shared: Arc<ClientShared> = srv.clients.register(peer, local, fd);
    shared.set_flag(FLAG_MASTER, true);
    let mut mc = MasterClient {
        srv,
        client: Client::new(shared.clone(), true),
    };
    mc.client.master = true;
    let db = srv.replica.stream_db.load(Ordering::Acquire);
    mc.client
        .select(db.min(srv.store.databases().saturating_sub(1)));
    let mut out = Out::new(false);
    let mut parser = RequestParser::new();
    // Bytes of commands applied but not yet fed on: a transaction's,
    // until its EXEC (Redis advances reploff only outside MULTI).
    let mut unfed: Vec<u8> = Vec::new();
    // What is buffered already came with the RDB (a disk-based primary
    // sends the stream right behind it): read, not yet applied.
    let mut read_off = srv.repl.offset() + conn.buf.len() as i64;
    srv.repl.update_master_link(|l| l.read_reploff = read_off);
    set_state(srv, "connected");
    send_ack(&mut conn, srv.repl.offset()).await?;
    let timeout = conn.timeout;
    let mut last_io = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The primary's stream is not held to proto-max-bulk-len: Redis checks
    // it for every client but its master.
    let max_bulk = u64::MAX;
    loop {
        // Apply every complete command buffered. The gate keeps a full
        // sync of one of our own replicas from starting its snapshot
        // between applying a command and feeding it on (their offsets
        // must agree).
        let mut start = 0usize;
        let mut acks: SmallVec<[i64; 2]> = SmallVec::new();
        let gate = srv.repl.apply_gate.lock();
        loop {
            let limits = Limits {
                proto_max_bulk_len: max_bulk,
                authenticated: true,
            };
            let parsed = parser
                .parse(&conn.buf, &limits)
                .map_err(|e| format!("Protocol error from MASTER: {}", e.0))?;
            let end;
            match parsed {
                None => break,
                Some(Request::Empty) => {
                    end = parser.consumed();
                }
                Some(req) => {
                    end = parser.consumed();
                    let inline;
                    let argv: SmallVec<[&[u8]; 8]> = match req {
                        Request::Inline(args) => {
                            inline = args;
                            inline.iter().map(|a| a.as_slice()).collect()
                        }
                        _ => parser
                            .ranges()
                            .iter()
                            .map(|&(a, b)| &conn.buf[a..b])
                            .collect(),
                    };
                    if srv.replica.generation.load(Ordering::Acquire) != generation {
                        return Err("Link replaced by REPLICAOF".to_string());
                    }
                    if is_getack(&argv) {
                        // Answered with what was applied before it.
                        acks.push(srv.repl.offset());
                    } else {
                        apply(srv, &mut mc.client, &mut out, &argv);
                    }
                }
            }
            unfed.extend_from_slice(&conn.buf[start..end]);
            start = end;
            if mc.client.multi.is_none() && !unfed.is_empty() {
                srv.repl.feed_from_master(&unfed);
                unfed.clear();
                let off = srv.repl.offset();
                srv.repl.update_master_link(|l| l.reploff = off);
            }
        }
        // An RDB saved now records the database the stream is in.
        srv.replica.stream_db.store(mc.client.db, Ordering::Release);
        drop(gate);
        let consumed = parser.consumed();
        conn.buf.advance(consumed);
        parser.shift(consumed);
        for off in acks {
            send_ack(&mut conn, off).await?;
        }
        if shared.killed.load(Ordering::Acquire) {
            return Err("Connection with master lost (killed by CLIENT KILL).".to_string());
        }
        if conn.buf.capacity() - conn.buf.len() < 16 * 1024 {
            conn.buf
                .reserve((64 * 1024).max(parser.wanted(conn.buf.len())));
        }
        tokio::select! {
            r = conn.stream.read_buf(&mut conn.buf) => {
                match r {
                    Ok(0) => return Err("Connection with master lost.".to_string()),
                    Ok(n) => {
                        last_io = Instant::now();
                        read_off += n as i64;
                        let now = crate::commands::unix_ms();
                        srv.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        srv.repl.update_master_link(|l| {
                            l.last_io_ms = now;
                            l.read_reploff = read_off;
                        });
                    }
                    Err(e) => return Err(format!("Error reading from MASTER: {e}")),
                }
            }
            _ = tick.tick() => {
                if last_io.elapsed() > timeout {
                    return Err("MASTER timeout: no data nor PING received...".to_string());
                }
                send_ack(&mut conn, srv.repl.offset()).await?;
            }
        }
    }
}

/// REPLCONF GETACK: the primary asks for our offset now.
fn is_getack(argv: &[&[u8]]) -> bool {
    argv.len() >= 2
        && argv[0].eq_ignore_ascii_case(b"replconf")
        && argv[1].eq_ignore_ascii_case(b"getack")
}

/// Runs one command of the primary as the master client.
fn apply(srv: &Server, client: &mut Client, out: &mut Out, argv: &[&[u8]]) {
    crate::store::expire::obeying_primary(|| {
        crate::commands::execute(srv, client, out, argv, crate::commands::unix_ms());
    });
    srv.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
    client.batch.clear();
    client.blocked = None;
    client.block_request = None;
    if !out.error_prefixes.is_empty() {
        // A command the primary ran cannot fail here unless the data sets
        // differ: say so, as Redis does, and go on.
        crate::log::warning(&format!(
            "== CRITICAL == This replica is sending an error to its master: '{}' after processing the command '{}'",
            String::from_utf8_lossy(out.buf.strip_prefix(b"-").unwrap_or(&out.buf)).trim_end(),
            String::from_utf8_lossy(argv[0])
        ));
        out.error_prefixes.clear();
    }
    out.buf.clear();
}

/// REPLCONF ACK <offset>.
async fn send_ack(conn: &mut Conn, offset: i64) -> LinkResult {
    let off = offset.to_string();
    conn.send(&[b"REPLCONF", b"ACK", off.as_bytes()]).await
}
