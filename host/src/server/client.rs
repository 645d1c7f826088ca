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
}

/// A keyspace event held back while a wasm guest runs: (class, event, db, key).
pub type HeldEvent = (u32, String, usize, Vec<u8>);

/// The connection task's private state.
pub struct Client {
    pub db: usize,
    pub authenticated: bool,
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
    /// MONITOR's queue of lines (commands/monitor.rs), while monitoring.
    pub monitor: Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
}

impl Client {
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Self {
        Client {
            db: 0,
            authenticated,
            multi: None,
            watched: Vec::new(),
            watch_flag: Arc::new(WatchFlag::default()),
            close: false,
            shared,
            batch: Vec::new(),
            latency_samples: Vec::new(),
            in_exec: false,
            block_request: None,
            blocked: None,
            blocked_waiter: None,
            sub: None,
            guest_events: None,
            monitor: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.shared.id
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
            m.queue.push(Queued {
                cmd,
                argv: argv.iter().map(|a| a.to_vec()).collect(),
            });
        }
    }

    pub fn set_multi(&mut self, on: bool) {
        self.multi = if on { Some(Multi::default()) } else { None };
        self.shared.set_flag(FLAG_MULTI, on);
    }
}

pub const FLAG_MULTI: u32 = 1;
/// Parked on keys (BLPOP ...): exempt from `timeout`, shown as `b`.
pub const FLAG_BLOCKED: u32 = 2;
/// Subscribed to channels: exempt from `timeout`, shown as `P`.
pub const FLAG_PUBSUB: u32 = 4;
/// In MONITOR mode: exempt from `timeout`, shown as `O`.
pub const FLAG_MONITOR: u32 = 8;

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
    pub flags: AtomicU32,
    pub killed: AtomicBool,
    /// Subscriptions, for CLIENT LIST's sub= psub= ssub=.
    pub subs: [AtomicUsize; 3],
    /// Aborts the connection task (CLIENT KILL); set right after it is spawned.
    pub abort: Mutex<Option<tokio::task::AbortHandle>>,
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

    /// Closes the connection (CLIENT KILL): the task is aborted at its next
    /// await, which is never in the middle of a command.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        if let Some(h) = self.abort.lock().as_ref() {
            h.abort();
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
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&name),
            age,
            idle,
            client_flags(flags),
            self.db.load(Ordering::Relaxed),
            self.subs[0].load(Ordering::Relaxed),
            self.subs[1].load(Ordering::Relaxed),
            self.subs[2].load(Ordering::Relaxed),
            if multi { 0 } else { -1 },
            qbuf,
            16384usize.saturating_sub(qbuf),
            16384 + qbuf,
            commands.name_of(self.last_cmd.load(Ordering::Relaxed)),
            self.resp.load(Ordering::Relaxed),
        )
    }
}

/// CLIENT LIST's flags field.
fn client_flags(flags: u32) -> String {
    let mut s = String::new();
    if flags & FLAG_MONITOR != 0 {
        s.push('O');
    }
    if flags & FLAG_BLOCKED != 0 {
        s.push('b');
    }
    if flags & FLAG_PUBSUB != 0 {
        s.push('P');
    }
    if flags & FLAG_MULTI != 0 {
        s.push('x');
    }
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
            flags: AtomicU32::new(0),
            killed: AtomicBool::new(false),
            subs: Default::default(),
            abort: Mutex::new(None),
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

    /// Closes clients idle for longer than `timeout_s` seconds (Redis's
    /// clientsCron); blocked and subscribed clients are exempt.
    pub fn close_idle(&self, timeout_s: u64, now_ms: i64) {
        for c in self.all() {
            if c.flags.load(Ordering::Relaxed) & (FLAG_BLOCKED | FLAG_PUBSUB | FLAG_MONITOR) != 0 {
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
