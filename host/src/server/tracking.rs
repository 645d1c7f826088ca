//! Client-side caching (Redis 6+'s CLIENT TRACKING, tracking.c): which client
//! has read which key, the BCAST prefixes, and the invalidation messages.
//!
//! The store tells [`Tracking`] of every modified key through its one
//! observer slot (store/mod.rs [`KeyObserver`], called where WATCH is
//! signalled: writes, deletions, expiry, eviction, flushes), so commands,
//! MULTI/EXEC, guests and a replica's stream all invalidate without knowing
//! it. The observer is switched on only while a client tracks: otherwise a
//! write pays one flag test.
//!
//! Messages reach a connection through its [`Pushes`] queue and are written
//! between replies. An invalidation for the client whose command caused it
//! is instead held until that command's reply is out ([`after_command`]),
//! as Redis's tracking_pending_keys does. A writer's reply waits until the
//! other clients it invalidated have taken their messages into their output
//! ([`Sent`], awaited by the connection), so a client that learns of a write
//! from its writer can never serve a stale cached value afterwards.

use super::client::{Client, ClientShared};
use super::reply::Out;
use crate::store::KeyObserver;
use bytes::Bytes;
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// Tracking is on (CLIENT TRACKING ON).
pub const ON: u8 = 1;
/// Broadcast mode: invalidations by prefix, no per-key table.
pub const BCAST: u8 = 2;
/// Only keys read right after CLIENT CACHING YES are tracked.
pub const OPTIN: u8 = 4;
/// Keys read right after CLIENT CACHING NO are not tracked.
pub const OPTOUT: u8 = 8;
/// No invalidations for the client's own writes.
pub const NOLOOP: u8 = 16;

/// A connection's queue of out-of-band frames (invalidations), filled by
/// any task and written by the connection between replies. `sent`/`taken`
/// let a writer wait until its frames are in the target's output.
pub struct Pushes {
    tx: mpsc::UnboundedSender<Bytes>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Bytes>>>,
    /// Frames queued so far (assigned under `order`, so in queue order).
    sent: AtomicU64,
    /// Frames the connection has moved to its output and tried to write.
    taken: AtomicU64,
    order: Mutex<()>,
    taken_signal: tokio::sync::Notify,
}

impl Default for Pushes {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Pushes {
            tx,
            rx: Mutex::new(Some(rx)),
            sent: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            order: Mutex::new(()),
            taken_signal: tokio::sync::Notify::new(),
        }
    }
}

impl Pushes {
    /// The receiving end, for the connection task (once).
    pub fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<Bytes>> {
        self.rx.lock().take()
    }

    /// Queues a frame; returns its sequence number, or None when the
    /// connection is gone.
    fn send(&self, frame: Bytes) -> Option<u64> {
        let _g = self.order.lock();
        self.tx.send(frame).ok()?;
        Some(self.sent.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Whether the connection's receiving end is gone (it disconnected).
    fn closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The connection has taken `n` frames in all into its output.
    pub fn mark_taken(&self, n: u64) {
        if self.taken.swap(n, Ordering::AcqRel) != n {
            self.taken_signal.notify_waiters();
        }
    }

    /// Waits (bounded) until frame `seq` is in the connection's output.
    pub async fn wait_taken(&self, seq: u64) {
        let deadline = tokio::time::Instant::now() + TAKE_WAIT;
        loop {
            let notified = self.taken_signal.notified();
            if self.taken.load(Ordering::Acquire) >= seq || self.closed() {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}

/// Longest a writer's reply waits for a target to take its invalidation (a
/// target that stopped reading must not hold writers up for long).
const TAKE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// One tracking client's settings.
struct Tracked {
    shared: Arc<ClientShared>,
    mode: u8,
    /// CLIENT TRACKING REDIRECT's id (0: none) and that client.
    redirect: u64,
    redirect_to: Option<Weak<ClientShared>>,
    /// BCAST prefixes ("" when none was given).
    prefixes: BTreeSet<Vec<u8>>,
}

/// A BCAST prefix: its clients and the keys changed since the last flush,
/// each with the id of the client that last changed it (for NOLOOP).
#[derive(Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Vec<u8>, u64>,
}

#[derive(Default)]
struct Inner {
    /// Key -> ids of the clients that may cache it (Redis's TrackingTable).
    table: HashMap<Vec<u8>, Vec<u64>>,
    /// Sum of the id lists' lengths (INFO tracking_total_items).
    items: usize,
    clients: HashMap<u64, Tracked>,
    prefixes: BTreeMap<Vec<u8>, Prefix>,
}

/// The tracking state of the server.
#[derive(Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    /// Clients with tracking on (INFO tracking_clients).
    clients_on: AtomicUsize,
    /// BCAST keys wait to be sent.
    bcast_pending: AtomicBool,
    /// `tracking-table-max-keys` (0: no limit).
    max_keys: AtomicUsize,
    /// Keys in the table, readable without the lock (the limit check).
    keys: AtomicUsize,
    /// The store's observer switch, flipped with `clients_on`.
    observers: Mutex<Option<Arc<crate::store::Observers>>>,
}

/// What an invalidation says.
enum Payload<'a> {
    /// One key: `*1 $key`.
    Key(&'a [u8]),
    /// Everything (a flush): a null.
    All,
    /// A ready-made RESP array of keys (BCAST).
    Proto(&'a [u8]),
}

thread_local! {
    /// The client whose command this thread runs (0: none, a background job).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// Invalidations for the current client, sent after its reply (None: a flush).
    static OWN: RefCell<Vec<Option<Vec<u8>>>> = const { RefCell::new(Vec::new()) };
    /// The client whose reply waits for the frames sent to others (0: none).
    static RECORD: Cell<u64> = const { Cell::new(0) };
    /// Frames sent to other clients by the current command: (target, seq).
    static SENT: RefCell<Vec<(Arc<ClientShared>, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Frames a writer must see taken before its reply goes out.
pub type Sent = Vec<(Arc<ClientShared>, u64)>;

impl Tracking {
    /// Connects tracking to the store's observer slot.
    pub fn attach(self: &Arc<Self>, observers: &Arc<crate::store::Observers>) {
        observers.install(self.clone());
        *self.observers.lock() = Some(observers.clone());
    }

    /// Whether any client tracks keys: the one flag the command path reads.
    #[inline]
    pub fn active(&self) -> bool {
        self.clients_on.load(Ordering::Relaxed) > 0
    }

    pub fn set_max_keys(&self, n: usize) {
        self.max_keys.store(n, Ordering::Relaxed);
    }

    /// (tracking clients, keys, items, prefixes) for INFO.
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        let g = self.inner.lock();
        (
            self.clients_on.load(Ordering::Relaxed),
            g.table.len(),
            g.items,
            g.prefixes.len(),
        )
    }

    fn set_count(&self, n: usize) {
        self.clients_on.store(n, Ordering::Relaxed);
        if let Some(o) = self.observers.lock().as_ref() {
            o.enable(n > 0);
        }
    }

    /// CLIENT TRACKING ON for `client`, options already validated.
    pub fn enable(
        &self,
        client: &mut Client,
        mode: u8,
        redirect: u64,
        redirect_to: Option<Weak<ClientShared>>,
        prefixes: &[Vec<u8>],
    ) {
        let id = client.id();
        let mut g = self.inner.lock();
        let t = g.clients.entry(id).or_insert_with(|| Tracked {
            shared: client.shared.clone(),
            mode: 0,
            redirect: 0,
            redirect_to: None,
            prefixes: BTreeSet::new(),
        });
        t.mode = mode | ON;
        t.redirect = redirect;
        t.redirect_to = redirect_to;
        let mut new_prefixes = Vec::new();
        if mode & BCAST != 0 {
            if prefixes.is_empty() {
                new_prefixes.push(Vec::new());
            }
            new_prefixes.extend(prefixes.iter().cloned());
            t.prefixes.extend(new_prefixes.iter().cloned());
        }
        for p in new_prefixes {
            g.prefixes.entry(p).or_default().clients.insert(id);
        }
        let n = g.clients.len();
        drop(g);
        client.tracking = mode | ON;
        client
            .shared
            .redir
            .store(redirect as i64, Ordering::Relaxed);
        client.shared.set_flag(super::client::FLAG_TRACKING, true);
        client
            .shared
            .set_flag(super::client::FLAG_TRACKING_BROKEN, false);
        client
            .shared
            .set_flag(super::client::FLAG_TRACKING_BCAST, mode & BCAST != 0);
        self.set_count(n);
    }

    /// CLIENT TRACKING OFF, RESET, or a disconnect.
    pub fn disable(&self, client: &mut Client) {
        if client.tracking == 0 {
            return;
        }
        client.tracking = 0;
        client.caching = false;
        client.shared.redir.store(-1, Ordering::Relaxed);
        let id = client.id();
        let mut g = self.inner.lock();
        if let Some(t) = g.clients.remove(&id) {
            for p in t.prefixes {
                if let Some(bs) = g.prefixes.get_mut(&p) {
                    bs.clients.remove(&id);
                    if bs.clients.is_empty() {
                        g.prefixes.remove(&p);
                    }
                }
            }
        }
        let n = g.clients.len();
        drop(g);
        for f in [
            super::client::FLAG_TRACKING,
            super::client::FLAG_TRACKING_BROKEN,
            super::client::FLAG_TRACKING_BCAST,
        ] {
            client.shared.set_flag(f, false);
        }
        self.set_count(n);
    }

    /// CLIENT TRACKINGINFO / GETREDIR / CLIENT LIST: (redirect, prefixes).
    pub fn info(&self, id: u64) -> Option<(u64, Vec<Vec<u8>>)> {
        let g = self.inner.lock();
        g.clients
            .get(&id)
            .map(|t| (t.redirect, t.prefixes.iter().cloned().collect()))
    }

    /// The client's BCAST prefixes (for the overlap check of a new ON).
    pub fn prefixes_of(&self, id: u64) -> Vec<Vec<u8>> {
        self.info(id).map(|(_, p)| p).unwrap_or_default()
    }

    /// Redis's trackingRememberKeys: `client` read `keys`.
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k [u8]>) {
        let mut g = self.inner.lock();
        let g = &mut *g;
        for k in keys {
            let ids = g.table.entry(k.to_vec()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
                g.items += 1;
            }
        }
        self.keys.store(g.table.len(), Ordering::Relaxed);
    }

    /// Sends an invalidation for `id`'s tracking, to it or its redirect
    /// target; `out` is the running client's output when `id` is that client.
    fn send(g: &Inner, id: u64, payload: &Payload<'_>, out: Option<&mut Out>) {
        let Some(t) = g.clients.get(&id) else {
            return;
        };
        let own_resp3 = t.shared.resp.load(Ordering::Relaxed) > 2;
        let mut dest = t.shared.clone();
        let mut redirected = false;
        if t.redirect != 0 {
            let target = t
                .redirect_to
                .as_ref()
                .and_then(|w| w.upgrade())
                .filter(|c| !c.pushes.closed());
            match target {
                Some(c) => {
                    dest = c;
                    redirected = true;
                }
                None => {
                    t.shared.set_flag(super::client::FLAG_TRACKING_BROKEN, true);
                    if own_resp3 {
                        let mut f = Vec::with_capacity(48);
                        f.extend_from_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n:");
                        f.extend_from_slice(t.redirect.to_string().as_bytes());
                        f.extend_from_slice(b"\r\n");
                        deliver(&t.shared, f, out);
                    }
                    return;
                }
            }
        }
        let mut f = Vec::with_capacity(64);
        if dest.resp.load(Ordering::Relaxed) > 2 {
            f.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
        } else if redirected && dest.flags.load(Ordering::Relaxed) & super::client::FLAG_PUBSUB != 0
        {
            f.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
        } else {
            // RESP2 without a subscribed redirect: nowhere to send it.
            return;
        }
        match payload {
            Payload::Key(k) => {
                f.extend_from_slice(b"*1\r\n$");
                f.extend_from_slice(k.len().to_string().as_bytes());
                f.extend_from_slice(b"\r\n");
                f.extend_from_slice(k);
                f.extend_from_slice(b"\r\n");
            }
            // The null of the tracking client's protocol, as Redis sends it.
            Payload::All => f.extend_from_slice(if own_resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Payload::Proto(p) => f.extend_from_slice(p),
        }
        let out = if redirected { None } else { out };
        deliver(&dest, f, out);
    }

    /// Sends the invalidations held for the client that just ran a command
    /// (after its reply, in its output) and the pending BCAST keys.
    pub fn after_command(&self, client: &Client, out: &mut Out) {
        CURRENT.with(|c| c.set(0));
        let own = OWN.with(|o| std::mem::take(&mut *o.borrow_mut()));
        if !own.is_empty() {
            let g = self.inner.lock();
            let mut out = Some(out);
            for k in &own {
                let payload = match k {
                    Some(k) => Payload::Key(k),
                    None => Payload::All,
                };
                Self::send(&g, client.id(), &payload, out.as_deref_mut());
            }
        }
    }

    /// Sends the BCAST keys collected since the last call, and trims the
    /// table to `tracking-table-max-keys` (Redis's beforeSleep work). `by`
    /// is the client whose batch just ran (0 for a background job): its
    /// reply waits for the frames sent to others.
    pub fn flush(&self, by: u64) {
        let max = self.max_keys.load(Ordering::Relaxed);
        let bcast = self.bcast_pending.load(Ordering::Relaxed)
            && self.bcast_pending.swap(false, Ordering::AcqRel);
        let over = max != 0 && self.keys.load(Ordering::Relaxed) > max;
        if !bcast && !over {
            return;
        }
        RECORD.with(|c| c.set(by));
        let mut g = self.inner.lock();
        if max != 0 {
            while g.table.len() > max {
                let Some(k) = g.table.keys().next().cloned() else {
                    break;
                };
                Self::invalidate(&mut g, &k, false);
            }
            self.keys.store(g.table.len(), Ordering::Relaxed);
        }
        let mut sends: Vec<(u64, Vec<u8>)> = Vec::new();
        let Inner {
            prefixes, clients, ..
        } = &mut *g;
        for bs in prefixes.values_mut() {
            if bs.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut bs.keys);
            let all = proto(keys.keys().map(|k| k.as_slice()), keys.len());
            for &id in &bs.clients {
                let noloop = clients.get(&id).is_some_and(|t| t.mode & NOLOOP != 0);
                if !noloop || !keys.values().any(|&w| w == id) {
                    sends.push((id, all.clone()));
                    continue;
                }
                // NOLOOP: without the keys this client changed last, and
                // nothing when that leaves none.
                let kept: Vec<&[u8]> = keys
                    .iter()
                    .filter(|(_, &w)| w != id)
                    .map(|(k, _)| k.as_slice())
                    .collect();
                if !kept.is_empty() {
                    sends.push((id, proto(kept.iter().copied(), kept.len())));
                }
            }
        }
        for (id, frame) in sends {
            Self::send(&g, id, &Payload::Proto(&frame), None);
        }
    }

    /// Redis's trackingInvalidateKey: tells the clients that may cache `key`.
    fn invalidate(g: &mut Inner, key: &[u8], bcast: bool) {
        let current = CURRENT.with(|c| c.get());
        if bcast && !g.prefixes.is_empty() {
            for (p, bs) in g.prefixes.iter_mut() {
                if key.starts_with(p) {
                    bs.keys.insert(key.to_vec(), current);
                }
            }
        }
        let Some(ids) = g.table.remove(key) else {
            return;
        };
        g.items -= ids.len();
        for id in ids {
            let Some(t) = g.clients.get(&id) else {
                continue;
            };
            if t.mode & BCAST != 0 {
                continue;
            }
            if id == current {
                if t.mode & NOLOOP == 0 {
                    OWN.with(|o| o.borrow_mut().push(Some(key.to_vec())));
                }
                continue;
            }
            Self::send(g, id, &Payload::Key(key), None);
        }
    }
}

impl KeyObserver for Tracking {
    fn modified(&self, key: &[u8]) {
        let mut g = self.inner.lock();
        Self::invalidate(&mut g, key, true);
        self.keys.store(g.table.len(), Ordering::Relaxed);
        if !g.prefixes.is_empty() {
            self.bcast_pending.store(true, Ordering::Release);
        }
    }

    /// Redis's trackingInvalidateKeysOnFlush: a null to every tracking
    /// client, and the table is emptied.
    fn flushed(&self) {
        let current = CURRENT.with(|c| c.get());
        let mut g = self.inner.lock();
        let ids: Vec<u64> = g.clients.keys().copied().collect();
        for id in ids {
            if id == current {
                OWN.with(|o| o.borrow_mut().push(None));
            } else {
                Self::send(&g, id, &Payload::All, None);
            }
        }
        g.table = HashMap::new();
        g.items = 0;
        self.keys.store(0, Ordering::Relaxed);
    }
}

/// A RESP array of bulk strings.
fn proto<'k>(keys: impl Iterator<Item = &'k [u8]>, n: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 * n + 8);
    p.push(b'*');
    p.extend_from_slice(n.to_string().as_bytes());
    p.extend_from_slice(b"\r\n");
    for k in keys {
        p.push(b'$');
        p.extend_from_slice(k.len().to_string().as_bytes());
        p.extend_from_slice(b"\r\n");
        p.extend_from_slice(k);
        p.extend_from_slice(b"\r\n");
    }
    p
}

/// Puts a frame in `out` (the running client's own output) or in `dest`'s
/// queue, remembering the latter for the writer's reply to wait on.
fn deliver(dest: &Arc<ClientShared>, frame: Vec<u8>, out: Option<&mut Out>) {
    if let Some(out) = out {
        out.raw(&frame);
        return;
    }
    let writer = RECORD.with(|c| c.get());
    if let Some(seq) = dest.pushes.send(Bytes::from(frame)) {
        if writer != 0 && writer != dest.id {
            SENT.with(|s| s.borrow_mut().push((dest.clone(), seq)));
        }
    }
}

/// Marks the start of a client's command on this thread.
#[inline]
pub fn begin_command(id: u64) {
    CURRENT.with(|c| c.set(id));
    RECORD.with(|c| c.set(id));
}

/// The frames the last command sent to other clients (see [`Sent`]).
pub fn take_sent() -> Sent {
    RECORD.with(|c| c.set(0));
    SENT.with(|s| std::mem::take(&mut *s.borrow_mut()))
}
