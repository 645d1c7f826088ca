//! The keyspace: databases split into shards by key hash, each shard a
//! [`KeyTable`] behind its own mutex (DESIGN.md "Keyspace and concurrency").
//!
//! A command never touches a shard directly: the dispatcher takes the locks its
//! keys need, in ascending order (so two commands can never deadlock), and hands
//! the handler a [`Locked`] view. All mutations that matter to other subsystems
//! (expiry bookkeeping, WATCH) go through `Locked`'s methods.

pub mod blocking;
pub mod busy;
pub mod digest;
pub mod encoding;
pub mod evict;
pub mod expire;
pub mod hash;
pub mod list;
pub mod set;
pub mod snapshot;
pub mod stream;
pub mod table;
pub mod value;
pub mod zset;
pub mod zset_listpack;

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use snapshot::{SnapStats, Snapshot};
pub use table::{Entry, KeyHasher, KeyTable};
pub use value::{SmallBytes, Value};

/// Shards per database. A power of two; 16 keeps lock contention negligible on
/// the machines we target while keeping whole-db operations cheap.
pub const SHARDS: usize = 16;

/// Set when a key a client WATCHes is modified; EXEC then fails.
#[derive(Default, Debug)]
pub struct WatchFlag(AtomicBool);

impl WatchFlag {
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
    pub fn clear(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Counters kept per shard (under its lock, so no atomics on the hot path).
#[derive(Default, Clone, Copy, Debug)]
pub struct ShardStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    /// Writes since start (INFO's rdb_changes_since_last_save until persistence lands).
    pub changes: u64,
}

pub struct Shard {
    /// Private so that every change goes through the choke points that keep
    /// a running snapshot consistent (snapshot.rs); read it with [`Shard::table`].
    table: KeyTable,
    /// WATCHed keys of this shard and the flags of the clients watching them.
    watchers: hashbrown::HashMap<Box<[u8]>, SmallVec<[Arc<WatchFlag>; 1]>>,
    /// Deadlines of keys with a TTL, earliest first, by key hash (see expire.rs).
    expiry: BinaryHeap<Reverse<(i64, u64)>>,
    /// Entries with a TTL, so the heap can be compacted when stale items pile up.
    ttl_keys: usize,
    /// Clients blocked on keys of this shard, in arrival order per key.
    blocked: hashbrown::HashMap<Box<[u8]>, std::collections::VecDeque<Arc<blocking::Waiter>>>,
    pub stats: ShardStats,
    /// This shard's part of a running snapshot.
    snap: snapshot::ShardSnap,
}

impl Shard {
    fn new(hasher: KeyHasher) -> Self {
        Shard {
            table: KeyTable::new(hasher),
            watchers: hashbrown::HashMap::new(),
            expiry: BinaryHeap::new(),
            ttl_keys: 0,
            blocked: hashbrown::HashMap::new(),
            stats: ShardStats::default(),
            snap: snapshot::ShardSnap::default(),
        }
    }

    /// The key table, read-only (writes go through [`Locked`]).
    pub fn table(&self) -> &KeyTable {
        &self.table
    }

    pub fn ttl_keys(&self) -> usize {
        self.ttl_keys
    }

    /// Bytes of the expiry queue (MEMORY STATS overhead.hashtable.expires).
    pub fn expiry_overhead_bytes(&self) -> usize {
        self.expiry.capacity() * std::mem::size_of::<Reverse<(i64, u64)>>()
    }

    fn touch_watchers(&self, key: &[u8]) {
        if !self.watchers.is_empty() {
            if let Some(flags) = self.watchers.get(key) {
                flags.iter().for_each(|f| f.mark());
            }
        }
    }

    /// Marks every watcher whose key exists here (FLUSHDB, SWAPDB).
    fn touch_all_existing_watchers(&self, other: Option<&Shard>) {
        for (key, flags) in &self.watchers {
            let h = self.table.hash(key);
            let exists = self.table.find(h, key).is_some()
                || other.is_some_and(|o| o.table.find(h, key).is_some());
            if exists {
                flags.iter().for_each(|f| f.mark());
            }
        }
    }

    fn remove_at(&mut self, pos: usize, hash: u64) -> Entry {
        self.before_remove(pos);
        let entry = self.table.remove_at(pos, hash);
        self.after_remove();
        if entry.expire_at != 0 {
            self.ttl_keys -= 1;
        }
        self.touch_watchers(entry.key.as_slice());
        entry
    }

    /// Replaces the value of a live entry, preserving its pre-image first
    /// when a snapshot has not reached it yet.
    fn overwrite(&mut self, pos: usize, value: Value) {
        self.before_write(pos);
        self.table.at_mut(pos).value = value;
    }

    /// Appends a new key (no TTL, accessed at `lru`), marked as born after
    /// any running snapshot's point in time; returns its position.
    fn push_new(&mut self, hash: u64, key: &[u8], value: Value, lru: u32) -> usize {
        let snap = self.birth_mark();
        self.table.push(
            hash,
            Entry {
                key: SmallBytes::new(key),
                value,
                expire_at: 0,
                lru,
                snap,
            },
        )
    }

    fn set_expire_at(&mut self, pos: usize, hash: u64, at: i64) {
        if self.table.at(pos).expire_at == at {
            return;
        }
        self.before_write(pos);
        let e = self.table.at_mut(pos);
        match (e.expire_at != 0, at != 0) {
            (false, true) => self.ttl_keys += 1,
            (true, false) => self.ttl_keys -= 1,
            _ => {}
        }
        e.expire_at = at;
        if at != 0 {
            self.expiry.push(Reverse((at, hash)));
        }
    }

    fn clear(&mut self) -> (table::ChunkedVec<Entry>, hashbrown::HashTable<u32>) {
        self.expiry.clear();
        self.ttl_keys = 0;
        let (entries, index) = self.table.take();
        (self.after_take(entries), index)
    }
}

pub struct Db {
    shards: Box<[Mutex<Shard>]>,
}

/// All databases of the server.
pub struct Store {
    dbs: Box<[Db]>,
    hasher: KeyHasher,
    /// Collect the names of expired keys (someone listens for `expired` events).
    pub record_expired: AtomicBool,
    /// Raise `new` events on key creation (notify-keyspace-events `n`).
    pub record_new: AtomicBool,
    /// Raise `keymiss` events on read misses (notify-keyspace-events `m`).
    pub record_keymiss: AtomicBool,
    /// Active expiry runs (DEBUG SET-ACTIVE-EXPIRE 0 turns it off, as in
    /// Redis; lazy expiry on access goes on).
    pub active_expire: AtomicBool,
    /// The write-effects stream (effects/): every [`Locked`] view records
    /// its effects while someone listens and commits them before unlocking.
    pub effects: crate::effects::Stream,
    /// The running snapshot's bookkeeping (snapshot.rs).
    snap: Arc<SnapStats>,
    /// Scripts holding shards long enough to answer BUSY (busy.rs).
    pub busy: busy::Busy,
    /// maxmemory: the eviction settings, pool and counters (evict.rs).
    pub evict: evict::Evictor,
    /// This keyspace is a replica's copy (expire.rs's [`expire::Lazy`]):
    /// expired keys are hidden, not deleted, and active expiry is off.
    pub replica: AtomicBool,
}

/// Which shards a command needs. Built from the command table's key positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockPlan {
    /// No keyspace access (PING, CLIENT ...).
    None,
    /// The shards of these (db, shard) pairs; sorted and deduplicated by `lock`.
    Shards(SmallVec<[(u16, u16); 16]>),
    /// Every shard of one database (KEYS, DBSIZE, FLUSHDB, SCAN ...).
    Db(usize),
    /// Every shard of every database (FLUSHALL, SWAPDB, MOVE, EXEC with SELECT ...).
    All,
}

impl LockPlan {
    /// The union of two plans.
    pub fn merge(self, other: LockPlan) -> LockPlan {
        match (self, other) {
            (LockPlan::None, p) | (p, LockPlan::None) => p,
            (LockPlan::All, _) | (_, LockPlan::All) => LockPlan::All,
            (LockPlan::Db(a), LockPlan::Db(b)) if a == b => LockPlan::Db(a),
            (LockPlan::Db(a), LockPlan::Shards(s)) | (LockPlan::Shards(s), LockPlan::Db(a))
                if s.iter().all(|&(d, _)| d as usize == a) =>
            {
                LockPlan::Db(a)
            }
            (LockPlan::Shards(mut a), LockPlan::Shards(b)) => {
                a.extend(b);
                LockPlan::Shards(a)
            }
            _ => LockPlan::All,
        }
    }
}

impl Store {
    pub fn new(databases: usize) -> Self {
        let hasher = KeyHasher::with_seed(rand::random());
        let dbs = (0..databases.max(1))
            .map(|_| Db {
                shards: (0..SHARDS)
                    .map(|_| Mutex::new(Shard::new(hasher.clone())))
                    .collect(),
            })
            .collect();
        Store {
            dbs,
            hasher,
            record_expired: AtomicBool::new(false),
            record_new: AtomicBool::new(false),
            record_keymiss: AtomicBool::new(false),
            active_expire: AtomicBool::new(true),
            effects: crate::effects::Stream::default(),
            snap: Arc::default(),
            busy: busy::Busy::default(),
            evict: evict::Evictor::default(),
            replica: AtomicBool::new(false),
        }
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(key)
    }

    /// Shard of a hash. Uses bits the table's probing does not (it takes the
    /// low bits for the bucket and the top 7 for tags).
    #[inline]
    pub fn shard_of(hash: u64) -> usize {
        ((hash >> 32) as usize) & (SHARDS - 1)
    }

    /// The (db, shard) a key lives in, for building a [`LockPlan`].
    pub fn slot(&self, db: usize, key: &[u8]) -> (u16, u16) {
        (db as u16, Self::shard_of(self.hash(key)) as u16)
    }

    /// Takes the locks of `plan` in ascending (db, shard) order.
    pub fn lock(&self, plan: &LockPlan, now_ms: i64) -> Locked<'_> {
        match self.lock_with(plan, now_ms, |m, _| Ok::<_, ()>(lock_shard(m))) {
            Ok(l) => l,
            Err(()) => unreachable!("lock_shard always succeeds"),
        }
    }

    /// Like [`Store::lock`], for a client's command: when a shard it needs is
    /// held by a script that has run past `busy-reply-threshold`, it gives
    /// back what it took and returns that script's BUSY reply instead of
    /// waiting (busy.rs).
    pub fn lock_or_busy(&self, plan: &LockPlan, now_ms: i64) -> Result<Locked<'_>, &'static str> {
        self.lock_with(plan, now_ms, |m, slot| self.lock_shard_or_busy(m, slot))
    }

    fn lock_with<'s, E>(
        &'s self,
        plan: &LockPlan,
        now_ms: i64,
        mut acquire: impl FnMut(&'s Mutex<Shard>, u32) -> Result<MutexGuard<'s, Shard>, E>,
    ) -> Result<Locked<'s>, E> {
        let mut guards: SmallVec<[(u32, MutexGuard<'_, Shard>); 16]> = SmallVec::new();
        let mut take = |db: usize, shard: usize| -> Result<(), E> {
            let id = slot_id(db, shard);
            guards.push((id, acquire(&self.dbs[db].shards[shard], id)?));
            Ok(())
        };
        match plan {
            LockPlan::None => {}
            LockPlan::Shards(slots) => {
                let mut slots = slots.clone();
                if slots.len() > 1 {
                    slots.sort_unstable();
                    slots.dedup();
                }
                for (db, shard) in slots {
                    if (db as usize) < self.dbs.len() {
                        take(db as usize, shard as usize)?;
                    }
                }
            }
            LockPlan::Db(db) => {
                if *db < self.dbs.len() {
                    for i in 0..SHARDS {
                        take(*db, i)?;
                    }
                }
            }
            LockPlan::All => {
                for db in 0..self.dbs.len() {
                    for i in 0..SHARDS {
                        take(db, i)?;
                    }
                }
            }
        }
        let propagate = self.effects.active();
        Ok(Locked {
            store: self,
            guards,
            now_ms,
            lazy: expire::Lazy::of(self),
            ready: Vec::new(),
            expired: Vec::new(),
            events: Vec::new(),
            propagate,
            effects: if propagate {
                crate::effects::Pending::reuse()
            } else {
                crate::effects::Pending::default()
            },
            dirty: 0,
        })
    }

    /// Takes one shard lock, waiting for it in short slices so that a holder
    /// turning busy meanwhile is noticed (then its BUSY reply is returned).
    fn lock_shard_or_busy<'s>(
        &'s self,
        m: &'s Mutex<Shard>,
        slot: u32,
    ) -> Result<MutexGuard<'s, Shard>, &'static str> {
        if let Some(g) = m.try_lock() {
            return Ok(g);
        }
        loop {
            if let Some(reply) = self.busy.holding(slot) {
                return Err(reply);
            }
            if LONG_LOCK_HOLDERS.load(Ordering::Relaxed) > 0 {
                // The holder runs long: free this tokio worker for its other
                // clients while this one waits.
                return crate::util::worker::block_off_worker(|| {
                    self.lock_shard_or_busy_off(m, slot)
                });
            }
            if let Some(g) = m.try_lock_for(BUSY_POLL) {
                return Ok(g);
            }
        }
    }

    /// The rest of [`Store::lock_shard_or_busy`], off the tokio worker.
    fn lock_shard_or_busy_off<'s>(
        &'s self,
        m: &'s Mutex<Shard>,
        slot: u32,
    ) -> Result<MutexGuard<'s, Shard>, &'static str> {
        loop {
            if let Some(reply) = self.busy.holding(slot) {
                return Err(reply);
            }
            if let Some(g) = m.try_lock_for(BUSY_POLL) {
                return Ok(g);
            }
        }
    }

    /// Locks one shard directly (background jobs: active expiry, INFO).
    pub fn lock_shard(&self, db: usize, shard: usize) -> MutexGuard<'_, Shard> {
        self.dbs[db].shards[shard].lock()
    }
}

/// How often a client waiting for a shard looks whether its holder has
/// turned busy (a free lock wakes the waiter at once).
const BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// Wasm invocations running long enough to have handed their tokio worker
/// away (wasm/guest.rs); they may hold shard locks for up to their time limit.
pub static LONG_LOCK_HOLDERS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Takes a shard lock. Uncontended (the common case) it is one try_lock;
/// when a long-running guest may be the holder, the wait happens in
/// `block_in_place`, so the other clients of this tokio worker move to
/// another thread instead of stalling behind the guest.
#[inline]
fn lock_shard(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    if let Some(g) = m.try_lock() {
        return g;
    }
    if LONG_LOCK_HOLDERS.load(Ordering::Relaxed) > 0 {
        return crate::util::worker::block_off_worker(|| m.lock());
    }
    m.lock()
}

#[inline]
fn slot_id(db: usize, shard: usize) -> u32 {
    (db * SHARDS + shard) as u32
}

/// The shards a command holds, and the keyspace operations on them. Every
/// lookup applies lazy expiry: an expired key is deleted on sight and never
/// returned.
pub struct Locked<'a> {
    store: &'a Store,
    guards: SmallVec<[(u32, MutexGuard<'a, Shard>); 16]>,
    /// The command's clock: one instant for the whole command (or transaction),
    /// as Redis does, so a key cannot expire halfway through.
    pub now_ms: i64,
    /// Keys written by this command that have blocked clients waiting.
    ready: Vec<(usize, Vec<u8>)>,
    /// Keys this command found expired and deleted (only when `record_expired`).
    pub expired: Vec<(usize, Vec<u8>)>,
    /// Keyspace events raised while serving blocked clients (class, event,
    /// db, key), for the dispatcher to publish: the store knows no pub/sub.
    pub events: Vec<(u32, &'static str, usize, Vec<u8>)>,
    /// Whether write effects are recorded (someone listened when the locks
    /// were taken): read once here so commands pay one flag test.
    propagate: bool,
    /// This view's write effects, committed to the stream when it unlocks.
    pub effects: crate::effects::Pending,
    /// Writes made through this view (Redis's server.dirty delta): the
    /// dispatcher records a command's argv as its effect when it moved.
    pub dirty: u64,
    /// What a lookup does with an expired key (a replica hides it).
    lazy: expire::Lazy,
}

/// Commits the effects while the locks are still held (fields drop after
/// this runs), so no other writer's effect can come between a write and its
/// record in the stream.
impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if !self.effects.is_empty() {
            self.store.effects.commit(&mut self.effects);
        }
        if self.propagate {
            std::mem::take(&mut self.effects).recycle();
        }
    }
}

impl<'a> Locked<'a> {
    /// Whether write effects are being recorded: build a rewritten argv only then.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.propagate
    }

    /// Records `argv`, run in `db`, as an effect of the running command
    /// (no-op when nobody listens).
    #[inline]
    pub fn propagate(&mut self, db: usize, argv: &[&[u8]]) {
        if self.propagate {
            self.effects.push(db, argv);
        }
    }

    /// Commits the effects recorded so far as one unit (the locks are still
    /// held); the next ones form a new unit.
    pub fn commit_effects(&mut self) {
        if !self.effects.is_empty() {
            self.store.effects.commit(&mut self.effects);
        }
    }

    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The locked shard holding `hash` in `db`. Not holding it is a bug in the
    /// command table's key specs; tests catch it, release builds answer "no such key".
    fn shard_mut(&mut self, db: usize, hash: u64) -> Option<&mut Shard> {
        let id = slot_id(db, Store::shard_of(hash));
        let idx = if self.guards.len() > 8 {
            self.guards.binary_search_by_key(&id, |(i, _)| *i).ok()
        } else {
            self.guards.iter().position(|(i, _)| *i == id)
        };
        debug_assert!(idx.is_some(), "shard {id} not locked");
        idx.map(|i| &mut *self.guards[i].1)
    }

    /// Takes the lock of `key`'s shard too if it is free right now. Never
    /// waits: locks are only ever waited for in ascending order, and this
    /// one may be out of order, so waiting could deadlock. True when held.
    pub fn try_lock_key(&mut self, db: usize, key: &[u8]) -> bool {
        if db >= self.store.dbs.len() {
            return false;
        }
        let shard = Store::shard_of(self.store.hash(key));
        if self.holds(db, shard) {
            return true;
        }
        let Some(guard) = self.store.dbs[db].shards[shard].try_lock() else {
            return false;
        };
        let id = slot_id(db, shard);
        let at = self.guards.partition_point(|(i, _)| *i < id);
        self.guards.insert(at, (id, guard));
        true
    }

    /// Takes every shard of `db` not held yet, if each is free right now
    /// (never waits, as [`Locked::try_lock_key`]). True when all are held.
    pub fn try_lock_db(&mut self, db: usize) -> bool {
        if db >= self.store.dbs.len() {
            return false;
        }
        for shard in 0..SHARDS {
            if self.holds(db, shard) {
                continue;
            }
            let Some(guard) = self.store.dbs[db].shards[shard].try_lock() else {
                return false;
            };
            let id = slot_id(db, shard);
            let at = self.guards.partition_point(|(i, _)| *i < id);
            self.guards.insert(at, (id, guard));
        }
        true
    }

    /// The ids of the shards held (for [`busy::Busy`]).
    pub fn slot_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.guards.iter().map(|(i, _)| *i)
    }

    /// Gives up every lock held and takes those of `plan` instead (a script
    /// that turns out to need the whole keyspace). Safe only between
    /// commands: nothing may rely on what was read under the old locks.
    /// BUSY (see [`Store::lock_or_busy`]) leaves the view holding nothing.
    pub fn relock_or_busy(&mut self, plan: &LockPlan) -> Result<(), &'static str> {
        // What was done under the old locks is committed under them.
        self.commit_effects();
        self.guards.clear();
        let mut fresh = self.store.lock_or_busy(plan, self.now_ms)?;
        self.guards = std::mem::take(&mut fresh.guards);
        Ok(())
    }

    /// Queues a keyspace event for the dispatcher (see `events`).
    pub fn event(&mut self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        self.events.push((class, event, db, key.to_vec()));
    }

    /// Whether this view holds the lock of `key`'s shard in `db`.
    pub fn holds_key(&self, db: usize, key: &[u8]) -> bool {
        self.holds(db, Store::shard_of(self.store.hash(key)))
    }

    /// Whether this view holds the lock of (`db`, `shard`); code that may run
    /// inside EXEC checks it before locking a shard itself (locks don't nest).
    pub fn holds(&self, db: usize, shard: usize) -> bool {
        let id = slot_id(db, shard);
        self.guards.iter().any(|(i, _)| *i == id)
    }

    /// All locked shards of `db` (whole-db commands).
    pub fn shards_of(&mut self, db: usize) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        let lo = slot_id(db, 0);
        let hi = slot_id(db, SHARDS - 1);
        self.guards
            .iter_mut()
            .filter(move |(i, _)| *i >= lo && *i <= hi)
            .map(|(_, g)| &mut **g)
    }

    /// The hash of `key` and the position of its live entry, deleting it first
    /// if it has expired. `touch` records the access time (OBJECT must not).
    /// On a replica (see [`expire::Lazy`]) an expired key is hidden from
    /// reads, kept for the primary's own commands, and deleted only by a
    /// `write` of a writable replica's client, as Redis 7.0's lookupKey does.
    fn locate(&mut self, db: usize, key: &[u8], touch: bool, write: bool) -> (u64, Option<usize>) {
        let hash = self.store.hash(key);
        let now = self.now_ms;
        let store = self.store;
        let lazy = self.lazy;
        let Some(shard) = self.shard_mut(db, hash) else {
            return (hash, None);
        };
        let Some(pos) = shard.table.find(hash, key) else {
            return (hash, None);
        };
        let entry = shard.table.at_mut(pos);
        let expired = match lazy {
            expire::Lazy::Delete => entry.is_expired(now),
            expire::Lazy::Keep => false,
            expire::Lazy::Hide => {
                if entry.is_expired(now) && !write {
                    return (hash, None);
                }
                entry.is_expired(now)
            }
        };
        if expired {
            let gone = shard.remove_at(pos, hash);
            shard.stats.expired += 1;
            // Redis propagates an expiry as DEL (deleteExpiredKeyAndPropagate).
            if self.propagate {
                let del: [&[u8]; 2] = [b"DEL", gone.key.as_slice()];
                self.effects.push_to(db, &del, crate::effects::TO_ALL);
            }
            if self.store.record_expired.load(Ordering::Relaxed) {
                self.expired.push((db, gone.key.as_slice().to_vec()));
            }
            return (hash, None);
        }
        if touch {
            entry.lru = store.evict.touched(entry.lru, now);
        }
        (hash, Some(pos))
    }

    /// The entry at `pos`, for writing: a running snapshot preserves it first.
    /// The only way to a `&mut Entry` outside store/.
    fn entry_mut(&mut self, db: usize, hash: u64, pos: Option<usize>) -> Option<&mut Entry> {
        let pos = pos?;
        let shard = self.shard_mut(db, hash)?;
        shard.before_write(pos);
        Some(shard.table.at_mut(pos))
    }

    /// A live key without recording an access (OBJECT IDLETIME must not reset it).
    pub fn peek(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        let (hash, pos) = self.locate(db, key, false, false);
        let pos = pos?;
        self.shard_mut(db, hash).map(|s| s.table.at(pos))
    }

    /// A key for reading; counts a keyspace hit or miss like Redis's lookupKeyRead.
    pub fn read(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        let (hash, pos) = self.locate(db, key, true, false);
        if pos.is_none() && self.store.record_keymiss.load(Ordering::Relaxed) {
            self.event(crate::config::NOTIFY_KEY_MISS, "keymiss", db, key);
        }
        let shard = self.shard_mut(db, hash)?;
        match pos {
            Some(pos) => {
                shard.stats.hits += 1;
                Some(shard.table.at(pos))
            }
            None => {
                shard.stats.misses += 1;
                None
            }
        }
    }

    /// [`Locked::read`] for a read that changes the value (XREADGROUP's PEL,
    /// PFCOUNT's cached cardinality): counts a hit or miss and, during a
    /// snapshot, preserves the entry first like [`Locked::get`].
    pub fn read_mut(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let (hash, pos) = {
            let hash = self.store.hash(key);
            let found = self.read(db, key).is_some();
            (hash, found)
        };
        if !pos {
            return None;
        }
        let shard = self.shard_mut(db, hash)?;
        let pos = shard.table.find(hash, key)?;
        shard.before_write(pos);
        Some(shard.table.at_mut(pos))
    }

    /// A key lent for the duration of one command: the caller may move its
    /// value out, and must put it back unchanged before any write and before
    /// the locks are released (sets.rs's `Taken`, which needs several sets
    /// at once). No pre-image is made, and none is needed: a snapshot's walker
    /// takes this shard's lock to look, so it can never see the loan. With
    /// `read`, counts a hit or miss and touches the key like [`Locked::read`];
    /// without, like [`Locked::peek`].
    pub fn loan(&mut self, db: usize, key: &[u8], read: bool) -> Option<&mut Entry> {
        let hash = self.store.hash(key);
        let found = if read {
            self.read(db, key).is_some()
        } else {
            self.peek(db, key).is_some()
        };
        if !found {
            return None;
        }
        let shard = self.shard_mut(db, hash)?;
        let pos = shard.table.find(hash, key)?;
        Some(shard.table.at_mut(pos))
    }

    /// A key for writing, without touching hit/miss statistics. During a
    /// snapshot this copies the entry if the walker has not reached it, so
    /// code that only looks uses [`Locked::peek`] or [`Locked::read`].
    pub fn get(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let (hash, pos) = self.locate(db, key, true, true);
        self.entry_mut(db, hash, pos)
    }

    pub fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        self.locate(db, key, true, false).1.is_some()
    }

    /// Stores `value` under `key`. `expire_at`: Some(ms) sets a deadline, None
    /// removes any; use [`Locked::set_keep_ttl`] to keep the old one.
    pub fn set(&mut self, db: usize, key: &[u8], value: Value, expire_at: Option<i64>) {
        let (hash, pos) = self.locate(db, key, true, true);
        let created = pos.is_none();
        let lru = self.store.evict.fresh(self.now_ms);
        let Some(shard) = self.shard_mut(db, hash) else {
            return;
        };
        let pos = match pos {
            Some(pos) => {
                shard.overwrite(pos, value);
                pos
            }
            None => shard.push_new(hash, key, value, lru),
        };
        let at = expire_at.unwrap_or(0);
        if at != 0 || shard.table.at(pos).expire_at != 0 {
            shard.set_expire_at(pos, hash, at);
        }
        if created {
            self.note_created(db, key);
        }
    }

    /// Adds a key known to be new (loading a file): one lookup instead of
    /// the exists-then-set pair. False, and nothing changed, when `key` is
    /// live already. `idle_s` backdates the access time (the file's LRU).
    pub fn insert_new(
        &mut self,
        db: usize,
        key: &[u8],
        value: Value,
        expire_at: Option<i64>,
        idle_s: Option<u64>,
    ) -> bool {
        let (hash, pos) = self.locate(db, key, false, true);
        if pos.is_some() {
            return false;
        }
        let now_s = (self.now_ms / 1000) as u32;
        let lru = self.store.evict.fresh(self.now_ms);
        // An idle time means something only to the LRU clock (as in Redis).
        let idle_s = idle_s.filter(|_| !self.store.evict.lfu());
        let Some(shard) = self.shard_mut(db, hash) else {
            return false;
        };
        let pos = shard.push_new(hash, key, value, lru);
        if let Some(idle) = idle_s {
            shard.table.at_mut(pos).set_idle_seconds(now_s, idle);
        }
        if let Some(at) = expire_at.filter(|&at| at != 0) {
            shard.set_expire_at(pos, hash, at);
        }
        self.note_created(db, key);
        true
    }

    fn note_created(&mut self, db: usize, key: &[u8]) {
        if self.store.record_new.load(Ordering::Relaxed) {
            self.event(crate::config::NOTIFY_NEW, "new", db, key);
        }
    }

    /// Stores `value`, keeping the key's TTL if it has one (SET KEEPTTL, APPEND ...).
    pub fn set_keep_ttl(&mut self, db: usize, key: &[u8], value: Value) {
        let (hash, pos) = self.locate(db, key, true, true);
        let lru = self.store.evict.fresh(self.now_ms);
        let Some(shard) = self.shard_mut(db, hash) else {
            return;
        };
        match pos {
            Some(pos) => shard.overwrite(pos, value),
            None => {
                shard.push_new(hash, key, value, lru);
                self.note_created(db, key);
            }
        }
    }

    /// Sets a live key's LFU counter (RESTORE FREQ, an RDB's FREQ opcode);
    /// ignored unless an LFU policy is selected, as in Redis.
    pub fn set_freq(&mut self, db: usize, key: &[u8], freq: u8) {
        if !self.store.evict.lfu() {
            return;
        }
        let now = self.now_ms;
        let (hash, pos) = self.locate(db, key, false, true);
        if let (Some(pos), Some(shard)) = (pos, self.shard_mut(db, hash)) {
            shard.table.at_mut(pos).lru = evict::lfu_field(now, freq);
        }
    }

    /// Removes a live key, returning its entry.
    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let (hash, pos) = self.locate(db, key, false, true);
        let pos = pos?;
        Some(self.shard_mut(db, hash)?.remove_at(pos, hash))
    }

    /// Sets (Some) or clears (None) the deadline of a live key; false if absent.
    pub fn set_expire(&mut self, db: usize, key: &[u8], at: Option<i64>) -> bool {
        let (hash, pos) = self.locate(db, key, true, true);
        let (Some(pos), Some(shard)) = (pos, self.shard_mut(db, hash)) else {
            return false;
        };
        shard.set_expire_at(pos, hash, at.unwrap_or(0));
        true
    }

    /// Tells WATCHers (and, later, blocked clients and keyspace notifications)
    /// that `key` changed; Redis's signalModifiedKey. Call after every write.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        let hash = self.store.hash(key);
        let mut ready = false;
        self.dirty += 1;
        if let Some(shard) = self.shard_mut(db, hash) {
            shard.touch_watchers(key);
            shard.stats.changes += 1;
            ready = !shard.blocked.is_empty() && shard.blocked.contains_key(key);
        }
        if ready && !self.ready.iter().any(|(d, k)| *d == db && k == key) {
            self.ready.push((db, key.to_vec()));
        }
    }

    /// Adds a waiter to the queue of each of its keys (their shards must be locked).
    pub fn block(&mut self, waiter: &Arc<blocking::Waiter>) {
        let db = waiter.db;
        for key in &waiter.keys {
            let hash = self.store.hash(key);
            if let Some(shard) = self.shard_mut(db, hash) {
                shard
                    .blocked
                    .entry(key.as_slice().into())
                    .or_default()
                    .push_back(waiter.clone());
            }
        }
    }

    /// Removes a waiter from its keys' queues (after it was served, timed out
    /// or disconnected). Every shard of its keys must be locked.
    pub fn unblock(&mut self, waiter: &Arc<blocking::Waiter>) {
        let db = waiter.db;
        for key in &waiter.keys {
            let hash = self.store.hash(key);
            if let Some(shard) = self.shard_mut(db, hash) {
                if let Some(q) = shard.blocked.get_mut(key.as_slice()) {
                    q.retain(|w| !Arc::ptr_eq(w, waiter));
                    if q.is_empty() {
                        shard.blocked.remove(key.as_slice());
                    }
                }
            }
        }
    }

    /// Serves the clients blocked on keys this command made ready, oldest
    /// waiter first (Redis's handleClientsBlockedOnKeys). A served waiter may
    /// write keys too (BLMOVE pushes), which can make more keys ready.
    pub fn serve_blocked(&mut self) {
        if self.ready.is_empty() {
            return;
        }
        // The writer's own effects first, as their own unit: a served pop is
        // a separate unit after it (Redis propagates it after the command).
        self.commit_effects();
        while !self.ready.is_empty() {
            let (db, key) = self.ready.remove(0);
            let hash = self.store.hash(&key);
            // Waiters passed over with Served::Skip, put back in front in order.
            let mut skipped: Vec<Arc<blocking::Waiter>> = Vec::new();
            while let Some(shard) = self.shard_mut(db, hash) {
                let Some(queue) = shard.blocked.get_mut(key.as_slice()) else {
                    break;
                };
                let Some(waiter) = queue.pop_front() else {
                    shard.blocked.remove(key.as_slice());
                    break;
                };
                // Held across serve and send, so the waiter cannot cancel in
                // between and lose what was popped for it.
                let mut slot = waiter.tx.lock();
                if slot.as_ref().is_none_or(|tx| tx.is_closed()) {
                    continue; // Timed out or gone; its other queues are cleaned by its owner.
                }
                let wake = match waiter.op.serve(self, db, &key) {
                    blocking::Served::Reply(bytes) => blocking::Wakeup::Reply(bytes),
                    blocking::Served::Retry => blocking::Wakeup::Retry,
                    blocking::Served::Skip => {
                        drop(slot);
                        skipped.push(waiter.clone());
                        continue;
                    }
                    blocking::Served::NotReady => {
                        drop(slot);
                        if let Some(shard) = self.shard_mut(db, hash) {
                            shard
                                .blocked
                                .entry(key.as_slice().into())
                                .or_default()
                                .push_front(waiter.clone());
                        }
                        break;
                    }
                };
                // The pop is in the stream before its client can see the
                // reply (and acknowledge it to anyone).
                self.commit_effects();
                if let Some(tx) = slot.take() {
                    let _ = tx.send(wake);
                }
            }
            if !skipped.is_empty() {
                if let Some(shard) = self.shard_mut(db, hash) {
                    let queue = shard.blocked.entry(key.as_slice().into()).or_default();
                    for w in skipped.into_iter().rev() {
                        queue.push_front(w);
                    }
                }
            }
        }
    }

    /// Registers `flag` to be marked when `key` in `db` changes (WATCH).
    pub fn watch(&mut self, db: usize, key: &[u8], flag: &Arc<WatchFlag>) {
        let hash = self.store.hash(key);
        if let Some(shard) = self.shard_mut(db, hash) {
            let list = shard.watchers.entry(key.into()).or_default();
            if !list.iter().any(|f| Arc::ptr_eq(f, flag)) {
                list.push(flag.clone());
            }
        }
    }

    /// Undoes [`Locked::watch`].
    pub fn unwatch(&mut self, db: usize, key: &[u8], flag: &Arc<WatchFlag>) {
        let hash = self.store.hash(key);
        if let Some(shard) = self.shard_mut(db, hash) {
            if let Some(list) = shard.watchers.get_mut(key) {
                list.retain(|f| !Arc::ptr_eq(f, flag));
                if list.is_empty() {
                    shard.watchers.remove(key);
                }
            }
        }
    }

    /// Number of keys in `db` (expired-but-not-yet-collected included, as in Redis).
    pub fn dbsize(&mut self, db: usize) -> usize {
        self.shards_of(db).map(|s| s.table.len()).sum()
    }

    /// Empties `db`; the old entries are returned so the caller may drop them
    /// elsewhere (FLUSHDB ASYNC).
    pub fn flush_db(
        &mut self,
        db: usize,
    ) -> Vec<(table::ChunkedVec<Entry>, hashbrown::HashTable<u32>)> {
        let mut garbage = Vec::new();
        // FLUSHDB of an empty db is still a write Redis propagates.
        self.dirty += 1;
        for shard in self.shards_of(db) {
            shard.touch_all_existing_watchers(None);
            if !shard.table.is_empty() {
                shard.stats.changes += shard.table.len() as u64;
                garbage.push(shard.clear());
            }
        }
        garbage
    }

    /// Exchanges the contents of two databases (SWAPDB); watchers stay with
    /// their database number, as in Redis, and are told when their key changes.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        self.dirty += 1;
        if a == b {
            return;
        }
        for shard in 0..SHARDS {
            let (ia, ib) = (slot_id(a, shard), slot_id(b, shard));
            let pa = self.guards.iter().position(|(i, _)| *i == ia);
            let pb = self.guards.iter().position(|(i, _)| *i == ib);
            let (Some(pa), Some(pb)) = (pa, pb) else {
                debug_assert!(false, "swap_dbs without both dbs locked");
                return;
            };
            let Ok([(_, ga), (_, gb)]) = self.guards.get_disjoint_mut([pa, pb]) else {
                return;
            };
            ga.touch_all_existing_watchers(Some(gb));
            gb.touch_all_existing_watchers(Some(ga));
            ga.before_swap();
            gb.before_swap();
            std::mem::swap(&mut ga.table, &mut gb.table);
            ga.after_swap();
            gb.after_swap();
            std::mem::swap(&mut ga.expiry, &mut gb.expiry);
            std::mem::swap(&mut ga.ttl_keys, &mut gb.ttl_keys);
        }
    }

    /// A uniformly random live key of `db`, or None when it is empty.
    pub fn random_key(&mut self, db: usize) -> Option<Vec<u8>> {
        use rand::Rng;
        let mut rng = rand::rng();
        // Bounded retries: a db full of expired keys must not spin forever.
        for _ in 0..100 {
            let sizes: SmallVec<[usize; SHARDS]> =
                self.shards_of(db).map(|s| s.table.len()).collect();
            let total: usize = sizes.iter().sum();
            if total == 0 {
                return None;
            }
            let mut pick = rng.random_range(0..total);
            let mut chosen = None;
            for (i, shard) in self.shards_of(db).enumerate() {
                if pick < sizes[i] {
                    chosen = Some(shard.table.at(pick).key.as_slice().to_vec());
                    break;
                }
                pick -= sizes[i];
            }
            let key = chosen?;
            if self.exists(db, &key) {
                return Some(key);
            }
        }
        None
    }
}
