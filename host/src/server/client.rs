//! Client state: what a connection carries between commands (selected db,
//! protocol, MULTI queue, WATCHed keys), and the registry of live clients that
//! CLIENT LIST/KILL and INFO read.

use crate::commands::table::Command;
use crate::store::WatchFlag;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A command queued inside MULTI, with its arguments copied out of the read buffer.
pub struct Queued {
    pub cmd: Arc<Command>,
    pub argv: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct Multi {
    pub queue: Vec<Queued>,
    /// An error while queueing: EXEC answers EXECABORT.
    pub aborted: bool,
    /// A queued command is deny-OOM (Redis's mstate.cmd_flags): EXEC is
    /// refused while over maxmemory.
    pub denyoom: bool,
}

/// A keyspace event held back while a wasm guest runs: (class, event, db, key).
pub type HeldEvent = (u32, String, usize, Vec<u8>);

/// The connection task's private state.
pub struct Client {
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user this connection runs as (None: the `default` user).
    /// Change it with [`Client::set_user`], which keeps
    /// [`ClientShared::user`] (CLIENT LIST, CLIENT KILL USER) in step.
    pub user: Option<Arc<crate::acl::User>>,
    pub multi: Option<Multi>,
    pub watched: Vec<(usize, Vec<u8>)>,
    pub watch_flag: Arc<WatchFlag>,
    /// Close once the pending replies are written (QUIT, protocol errors).
    pub close: bool,
    pub shared: Arc<ClientShared>,
    /// Ids of the commands run from the current read batch, for commandstats'
    /// usec: the batch is timed as a whole (one clock pair, not one per
    /// command) and its time split evenly among them.
    pub batch: Vec<u32>,
    /// (command id, nanoseconds) of the batch's commands for their latency
    /// histograms, flushed with the batch (equal neighbours merged).
    pub latency_samples: Vec<(u32, u64)>,
    /// Set while EXEC runs its queue: blocking commands must not block then.
    pub in_exec: bool,
    /// The AOF loader's internal client: runs while the server is loading.
    pub loader: bool,
    /// A blocking handler's request, turned into `blocked` by the dispatcher.
    pub block_request: Option<crate::commands::blocking::BlockRequest>,
    /// The client is parked on keys; the connection task waits for it.
    pub blocked: Option<crate::commands::blocking::Blocked>,
    /// The waiter while the connection task waits, for cleanup if it is killed.
    pub blocked_waiter: Option<std::sync::Arc<crate::store::blocking::Waiter>>,
    /// Pub/sub subscriptions and their message queue.
    pub sub: Option<crate::commands::pubsub::SubState>,
    /// Keyspace events of a running wasm guest, held back until it commits
    /// (a rolled-back write must not have been announced).
    pub guest_events: Option<Vec<HeldEvent>>,
    /// Over maxmemory with nothing to evict when the running command started
    /// (Redis's pre_command_oom_state): scripts check it.
    pub oom: bool,
    /// This is a replica's link to its primary (Redis's CLIENT_MASTER):
    /// obeyed even when the replica is read-only, its replies unsent.
    pub master: bool,
    /// Replication state of this client: what REPLCONF told us, a SYNC/PSYNC
    /// hand-off, a blocked WAIT (repl/primary.rs). None for most clients.
    pub repl: Option<Box<crate::repl::primary::ClientRepl>>,
    /// The replication offset after this client's last write (Redis's
    /// c->woff): WAIT waits for replicas to acknowledge it.
    pub woff: i64,
    /// MONITOR's queue of lines (commands/monitor.rs), while monitoring.
    pub monitor: Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
    /// Cluster mode: ASKING was sent (the next command may use an importing
    /// slot), and READONLY (reads served by a replica of the slot's master).
    pub cluster_asking: bool,
    pub cluster_readonly: bool,
    /// CLIENT TRACKING mode bits (server/tracking.rs `ON`, `BCAST` ...; 0: off).
    pub tracking: u8,
    /// CLIENT CACHING YES|NO was given for the next command.
    pub caching: bool,
    /// Invalidation frames for this connection ([`ClientShared::pushes`]).
    pub push_rx: Option<tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>>,
    /// Frames taken from `push_rx` so far.
    pub push_taken: u64,
    /// CLIENT REPLY: replies are being discarded (OFF) or the next one is (SKIP).
    pub reply_off: bool,
    pub reply_skip: bool,
    /// CLIENT REPLY SKIP ran: the command after it is skipped.
    pub reply_skip_next: bool,
    /// A command held by a pause (server/pause.rs), run again once the
    /// pause ends.
    pub paused: Option<super::pause::HeldCommand>,
    /// SCRIPT DEBUG YES|SYNC: the Lua debugger's state (commands/ldb.rs).
    pub ldb: Option<Box<crate::commands::ldb::Debugger>>,
}

impl Client {
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Self {
        Client {
            db: 0,
            authenticated,
            user: None,
            multi: None,
            watched: Vec::new(),
            watch_flag: Arc::new(WatchFlag::default()),
            close: false,
            batch: Vec::new(),
            latency_samples: Vec::new(),
            in_exec: false,
            loader: false,
            block_request: None,
            blocked: None,
            blocked_waiter: None,
            sub: None,
            guest_events: None,
            oom: false,
            master: false,
            repl: None,
            woff: 0,
            monitor: None,
            cluster_asking: false,
            cluster_readonly: false,
            tracking: 0,
            caching: false,
            push_rx: shared.pushes.take_receiver(),
            push_taken: 0,
            reply_off: false,
            reply_skip: false,
            reply_skip_next: false,
            paused: None,
            shared,
            ldb: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Runs as `user` from now on (AUTH, HELLO AUTH, RESET).
    pub fn set_user(&mut self, user: Option<Arc<crate::acl::User>>) {
        self.user.clone_from(&user);
        *self.shared.user.lock() = user;
    }

    /// The ACL user this connection runs as, `default` when `user` is None.
    #[inline]
    pub fn acl_user<'a>(&'a self, default: &'a Arc<crate::acl::User>) -> &'a Arc<crate::acl::User> {
        self.user.as_ref().unwrap_or(default)
    }

    /// The name of the ACL user (ACL WHOAMI).
    pub fn user_name(&self) -> String {
        self.user
            .as_ref()
            .map_or_else(|| "default".to_string(), |u| u.name_str().into_owned())
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.shared.db.store(db, Ordering::Relaxed);
    }

    /// Marks the open transaction as failed (an error while queueing).
    pub fn flag_multi_error(&mut self) {
        if let Some(m) = &mut self.multi {
            m.aborted = true;
        }
    }

    pub fn queue(&mut self, cmd: Arc<Command>, argv: &[&[u8]]) {
        if let Some(m) = &mut self.multi {
            // CLIENT LIST multi= and multi-mem= (Redis counts each argument
            // and a pointer to it).
            let mem: usize = argv.iter().map(|a| a.len() + 8).sum();
            self.shared.multi_len.fetch_add(1, Ordering::Relaxed);
            self.shared.multi_mem.fetch_add(mem, Ordering::Relaxed);
            m.queue.push(Queued {
                cmd,
                argv: argv.iter().map(|a| a.to_vec()).collect(),
            });
        }
    }

    pub fn set_multi(&mut self, on: bool) {
        self.multi = if on { Some(Multi::default()) } else { None };
        self.shared.multi_len.store(0, Ordering::Relaxed);
        self.shared.multi_mem.store(0, Ordering::Relaxed);
        self.shared.set_flag(FLAG_MULTI, on);
    }
}

/// Redis's checkClientOutputBufferLimits for one client of a class with
/// `limit`, holding `used` bytes of pending output: true when over the hard
/// limit, or over the soft limit for longer than its seconds (`since`
/// remembers when it went over; it is reset once back under). Shared by the
/// normal and pub/sub classes here and the replica class (repl/), so each
/// class is judged the same way.
pub fn output_limit_reached(
    limit: &crate::config::OutputBufferLimit,
    used: u64,
    since: &mut Option<Instant>,
) -> bool {
    let hard = limit.hard_limit_bytes > 0 && used >= limit.hard_limit_bytes;
    let over_soft = limit.soft_limit_bytes > 0 && used >= limit.soft_limit_bytes;
    if !over_soft {
        *since = None;
        return hard;
    }
    match since {
        // The first time over the soft limit only starts the clock.
        None => {
            *since = Some(Instant::now());
            hard
        }
        Some(start) => hard || start.elapsed().as_secs() > limit.soft_limit_seconds,
    }
}

pub const FLAG_MULTI: u32 = 1;
/// Parked on keys (BLPOP ...): exempt from `timeout`, shown as `b`.
pub const FLAG_BLOCKED: u32 = 2;
/// Subscribed to channels: exempt from `timeout`, shown as `P`.
pub const FLAG_PUBSUB: u32 = 4;
/// An attached replica (it sent SYNC/PSYNC): shown as `S`, CLIENT KILL TYPE replica.
pub const FLAG_REPLICA: u32 = 8;
/// Our link to our primary: shown as `M`, CLIENT KILL TYPE master.
pub const FLAG_MASTER: u32 = 16;
/// In MONITOR mode: exempt from `timeout`, shown as `O`.
pub const FLAG_MONITOR: u32 = 32;
/// CLIENT NO-EVICT ON: never evicted under `maxmemory-clients`, shown as `e`.
pub const FLAG_NO_EVICT: u32 = 64;
/// CLIENT TRACKING ON: shown as `t`.
pub const FLAG_TRACKING: u32 = 128;
/// The tracking redirect client is gone: shown as `R`.
pub const FLAG_TRACKING_BROKEN: u32 = 256;
/// Tracking in BCAST mode: shown as `B`.
pub const FLAG_TRACKING_BCAST: u32 = 512;

/// Connected through the unix socket: local, shown as `U`.
pub const FLAG_UNIX_SOCKET: u32 = 1024;

/// The part of a client other tasks can see.
pub struct ClientShared {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i32,
    pub created: Instant,
    pub name: Mutex<Option<Vec<u8>>>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Unix milliseconds of the last command (0 before any).
    pub last_active_ms: AtomicU64,
    /// Id of the last command run (see CommandTable::name_of), u32::MAX before any.
    pub last_cmd: AtomicU32,
    /// Bytes waiting in the query buffer, for CLIENT LIST.
    pub qbuf: AtomicUsize,
    /// Bytes allocated for the query buffer (CLIENT LIST rbs, client memory).
    pub qbuf_cap: AtomicUsize,
    /// Reply bytes not yet written to the socket, including pub/sub
    /// messages still queued for it (CLIENT LIST omem; output buffer limits).
    pub omem: AtomicUsize,
    /// Bytes allocated for the reply buffer (CLIENT LIST rbs).
    pub obuf_cap: AtomicUsize,
    /// Most reply bytes one batch produced since the buffer was last
    /// resized (CLIENT LIST rbp, Redis's buf_peak).
    pub obuf_peak: AtomicUsize,
    /// Bytes of the arguments of the command the client is in (a blocked
    /// command's, or CLIENT LIST/INFO's own): CLIENT LIST argv-mem.
    pub argv_mem: AtomicUsize,
    pub flags: AtomicU32,
    pub killed: AtomicBool,
    /// Subscriptions, for CLIENT LIST's sub= psub= ssub=.
    pub subs: [AtomicUsize; 3],
    /// The ACL user (None: `default`); see [`Client::set_user`].
    pub user: Mutex<Option<Arc<crate::acl::User>>>,
    /// Aborts the connection task (CLIENT KILL); set right after it is spawned.
    pub abort: Mutex<Option<tokio::task::AbortHandle>>,
    /// Out-of-band frames for this connection (CLIENT TRACKING invalidations).
    pub pushes: super::tracking::Pushes,
    /// CLIENT TRACKING REDIRECT id while tracking (CLIENT LIST redir=; -1 off).
    pub redir: std::sync::atomic::AtomicI64,
    /// CLIENT UNBLOCK's request to the blocked connection: 1 timeout, 2 error.
    pub unblock: AtomicU8,
    /// Commands queued in MULTI and their argument bytes (CLIENT LIST).
    pub multi_len: AtomicUsize,
    pub multi_mem: AtomicUsize,
    /// The wait this client is parked in, for CLIENT UNBLOCK.
    pub blocked_on: Mutex<Option<Arc<crate::store::blocking::Waiter>>>,
}

impl ClientShared {
    pub fn set_flag(&self, flag: u32, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    pub fn set_last_command(&self, id: u32, now_ms: i64) {
        self.last_active_ms.store(now_ms as u64, Ordering::Relaxed);
        self.last_cmd.store(id, Ordering::Relaxed);
    }

    /// Records the client's subscription counts (channels, patterns, shard channels).
    pub fn set_counts(&self, channels: usize, patterns: usize, shard: usize) {
        self.subs[0].store(channels, Ordering::Relaxed);
        self.subs[1].store(patterns, Ordering::Relaxed);
        self.subs[2].store(shard, Ordering::Relaxed);
    }

    /// The name of the ACL user this client runs as (CLIENT LIST `user=`,
    /// CLIENT KILL USER).
    pub fn user_name(&self) -> String {
        self.user
            .lock()
            .as_ref()
            .map_or_else(|| "default".to_string(), |u| u.name_str().into_owned())
    }

    /// Whether this client runs as exactly this user (not merely one of
    /// the same name).
    pub fn runs_as(&self, user: &Arc<crate::acl::User>) -> bool {
        self.user
            .lock()
            .as_ref()
            .is_some_and(|u| Arc::ptr_eq(u, user))
    }

    /// Bytes this client holds: its buffers, pending output and state (the
    /// tot-mem of CLIENT LIST, INFO mem_clients_normal).
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Client>()
            + std::mem::size_of::<ClientShared>()
            + self.qbuf_cap.load(Ordering::Relaxed)
            + self.obuf_cap.load(Ordering::Relaxed)
            + self.omem.load(Ordering::Relaxed)
    }

    /// Closes the connection (CLIENT KILL): the task is aborted at its next
    /// await, which is never in the middle of a command.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        if let Some(h) = self.abort.lock().as_ref() {
            h.abort();
        }
    }

    /// Whether the client is local as Redis's islocalClient decides it
    /// (the `enable-*-command local` settings and protected mode).
    pub fn is_local(&self) -> bool {
        let unix = self.flags.load(Ordering::Relaxed) & FLAG_UNIX_SOCKET != 0;
        super::protected::is_local(&self.addr, unix)
    }

    /// CLIENT LIST's `addr`: `ip:port`, or Redis's `/unixsocket:0` for a
    /// unix socket client.
    pub fn addr_text(&self) -> String {
        if self.flags.load(Ordering::Relaxed) & FLAG_UNIX_SOCKET != 0 {
            "/unixsocket:0".to_string()
        } else {
            self.addr.to_string()
        }
    }

    /// CLIENT LIST's `laddr`, like [`ClientShared::addr_text`].
    pub fn laddr_text(&self) -> String {
        if self.flags.load(Ordering::Relaxed) & FLAG_UNIX_SOCKET != 0 {
            "/unixsocket:0".to_string()
        } else {
            self.laddr.to_string()
        }
    }

    /// One CLIENT LIST line, Redis 7.0's format.
    pub fn info_line(&self, commands: &crate::commands::table::CommandTable) -> String {
        let age = self.created.elapsed().as_secs();
        let last = self.last_active_ms.load(Ordering::Relaxed) as i64;
        let idle = if last == 0 {
            age as i64
        } else {
            (crate::commands::unix_ms() - last).max(0) / 1000
        };
        let name = self.name.lock().clone().unwrap_or_default();
        let flags = self.flags.load(Ordering::Relaxed);
        let multi = flags & FLAG_MULTI != 0;
        let qbuf = self.qbuf.load(Ordering::Relaxed);
        let qcap = self.qbuf_cap.load(Ordering::Relaxed).max(qbuf);
        let omem = self.omem.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl=0 oll={} omem={} tot-mem={} events=r{} cmd={} user={} redir={} resp={}",
            self.id,
            self.addr_text(),
            self.laddr_text(),
            self.fd,
            String::from_utf8_lossy(&name),
            age,
            idle,
            client_flags(flags),
            self.db.load(Ordering::Relaxed),
            self.subs[0].load(Ordering::Relaxed),
            self.subs[1].load(Ordering::Relaxed),
            self.subs[2].load(Ordering::Relaxed),
            if multi {
                self.multi_len.load(Ordering::Relaxed) as i64
            } else {
                -1
            },
            qbuf,
            qcap - qbuf,
            self.argv_mem.load(Ordering::Relaxed),
            self.multi_mem.load(Ordering::Relaxed),
            self.obuf_cap.load(Ordering::Relaxed),
            self.obuf_peak.load(Ordering::Relaxed),
            usize::from(omem > 0),
            omem,
            self.memory(),
            if omem > 0 { "w" } else { "" },
            commands.name_of(self.last_cmd.load(Ordering::Relaxed)),
            self.user_name(),
            self.redir.load(Ordering::Relaxed),
            self.resp.load(Ordering::Relaxed),
        )
    }
}

/// CLIENT LIST's flags field, letters in Redis's order (getClientInfoString).
fn client_flags(flags: u32) -> String {
    const LETTERS: [(u32, char); 11] = [
        (FLAG_MONITOR, 'O'),
        (FLAG_REPLICA, 'S'),
        (FLAG_MASTER, 'M'),
        (FLAG_PUBSUB, 'P'),
        (FLAG_MULTI, 'x'),
        (FLAG_BLOCKED, 'b'),
        (FLAG_TRACKING, 't'),
        (FLAG_TRACKING_BROKEN, 'R'),
        (FLAG_TRACKING_BCAST, 'B'),
        (FLAG_UNIX_SOCKET, 'U'),
        (FLAG_NO_EVICT, 'e'),
    ];
    let mut s: String = LETTERS
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|&(_, c)| c)
        .collect();
    if s.is_empty() {
        s.push('N');
    }
    s
}

/// Every connected client, by id (ids grow, so iteration is in connection order).
#[derive(Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientShared>>>,
}

impl ClientRegistry {
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, fd: i32) -> Arc<ClientShared> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let shared = Arc::new(ClientShared {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            name: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_active_ms: AtomicU64::new(0),
            last_cmd: AtomicU32::new(u32::MAX),
            qbuf: AtomicUsize::new(0),
            qbuf_cap: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            obuf_cap: AtomicUsize::new(0),
            obuf_peak: AtomicUsize::new(0),
            argv_mem: AtomicUsize::new(0),
            flags: AtomicU32::new(0),
            killed: AtomicBool::new(false),
            subs: Default::default(),
            user: Mutex::new(None),
            abort: Mutex::new(None),
            pushes: Default::default(),
            redir: std::sync::atomic::AtomicI64::new(-1),
            unblock: AtomicU8::new(0),
            blocked_on: Mutex::new(None),
            multi_len: AtomicUsize::new(0),
            multi_mem: AtomicUsize::new(0),
        });
        self.clients.lock().insert(id, shared.clone());
        shared
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn count(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn all(&self) -> Vec<Arc<ClientShared>> {
        self.clients.lock().values().cloned().collect()
    }

    /// Client eviction (Redis 7's `maxmemory-clients`): while the clients
    /// together hold more than `limit` bytes, disconnects the one holding
    /// the most, never a CLIENT NO-EVICT one. Returns how many it closed.
    pub fn evict_over(&self, limit: u64) -> u64 {
        if limit == 0 {
            return 0;
        }
        let mut all: Vec<(usize, Arc<ClientShared>)> = self
            .all()
            .into_iter()
            .filter(|c| !c.killed.load(Ordering::Relaxed))
            .map(|c| (c.memory(), c))
            .collect();
        let mut total: u64 = all.iter().map(|(m, _)| *m as u64).sum();
        all.retain(|(_, c)| c.flags.load(Ordering::Relaxed) & FLAG_NO_EVICT == 0);
        all.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
        let mut evicted = 0;
        for (mem, c) in all {
            if total <= limit {
                break;
            }
            crate::log::notice(&format!(
                "Evicting client: id={} addr={} mem={mem}",
                c.id, c.addr
            ));
            c.kill();
            total -= mem as u64;
            evicted += 1;
        }
        evicted
    }

    /// Closes clients idle for longer than `timeout_s` seconds (Redis's
    /// clientsCron); blocked and subscribed clients are exempt.
    pub fn close_idle(&self, timeout_s: u64, now_ms: i64) {
        for c in self.all() {
            if c.flags.load(Ordering::Relaxed)
                & (FLAG_BLOCKED | FLAG_PUBSUB | FLAG_REPLICA | FLAG_MASTER | FLAG_MONITOR)
                != 0
            {
                continue;
            }
            let last = c.last_active_ms.load(Ordering::Relaxed) as i64;
            let idle_ms = if last == 0 {
                c.created.elapsed().as_millis() as i64
            } else {
                now_ms - last
            };
            if idle_ms > (timeout_s as i64) * 1000 {
                crate::log::verbose(&format!("Closing idle client id={}", c.id));
                c.kill();
            }
        }
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientShared>> {
        self.clients.lock().get(&id).cloned()
    }
}
