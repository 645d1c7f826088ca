//! Eviction under `maxmemory` (Redis's evict.c): the per-key access field
//! (a 24-bit LRU clock, or Redis's 8-bit logarithmic LFU counter with the
//! minute it was last decayed), the eviction pool filled by sampling, and the
//! bounded eviction loop the dispatcher runs before each command.
//!
//! The access field is one `u32` in each [`Entry`] (its `lru`), read the way
//! Redis reads `robj.lru`: under an LFU policy it holds
//! `(minutes mod 2^16) << 8 | counter`, otherwise the LRU clock (unix seconds
//! mod 2^24). Switching policy at run time reinterprets the field, as in
//! Redis (OBJECT's errors warn about it); keeping both would cost an `Entry`
//! its 64 bytes.
//!
//! This module knows no configuration file and no pub/sub: the server pushes
//! the directives into [`Evictor`]'s atomics, and [`Evictor::perform`]
//! reports each evicted key to a callback (keyspace events are the caller's).
//! Evictions reach the write-effects stream as `DEL`, like expiries.

use super::{LockPlan, Store, SHARDS};
use crate::config::MaxmemoryPolicy;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Redis's LRU_CLOCK_MAX: the clock is 24 bits of unix seconds.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Redis's LFU_INIT_VAL: a new key's counter, so it is not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;
/// Redis's EVPOOL_SIZE.
const POOL_SIZE: usize = 16;

/// The LRU clock for a unix time in milliseconds.
#[inline]
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

/// Seconds since `field` (an LRU clock value), over the 24-bit wrap
/// (Redis's estimateObjectIdleTime, in seconds).
#[inline]
pub fn idle_seconds(field: u32, now_s: u32) -> u32 {
    let clock = now_s & LRU_CLOCK_MAX;
    let lru = field & LRU_CLOCK_MAX;
    if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    }
}

/// The LRU field of a key idle for `idle` seconds (Redis's
/// objectSetLRUOrLFU): an access time before the clock's origin wraps once
/// (so a day after the clock wrapped, an idle time of a day still reads
/// right), and the field keeps its 24 bits.
pub fn lru_for_idle(now_s: u32, idle: u64) -> u32 {
    let clock = (now_s & LRU_CLOCK_MAX) as i64;
    let mut abs = clock - idle.min(i64::MAX as u64 / 2) as i64;
    if abs < 0 {
        abs += LRU_CLOCK_MAX as i64;
    }
    (abs.rem_euclid(1 << 24)) as u32
}

/// Minutes mod 2^16, the LFU field's decay time base.
#[inline]
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xffff
}

/// The access-field value of a freshly stored key with LFU `counter`.
#[inline]
pub fn lfu_field(now_ms: i64, counter: u8) -> u32 {
    (lfu_minutes(now_ms) << 8) | counter as u32
}

/// Unix time in microseconds (never 0: 0 marks "not over the limit").
fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

/// The counter of LFU field `field` decayed to `now_ms` by one step per
/// `decay_time` minutes (Redis's LFUDecrAndReturn; 0 = no decay).
pub fn lfu_decayed(field: u32, now_ms: i64, decay_time: u32) -> u8 {
    let ldt = field >> 8;
    let counter = field & 0xff;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let periods = elapsed.checked_div(decay_time).unwrap_or(0);
    counter.saturating_sub(periods) as u8
}

/// The policy's behaviour, decoded once per change (a `u8` in an atomic).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    NoEviction,
    Lru,
    Lfu,
    Random,
    Ttl,
}

fn kind_of(p: MaxmemoryPolicy) -> (Kind, bool) {
    use MaxmemoryPolicy::*;
    match p {
        VolatileLru => (Kind::Lru, true),
        VolatileLfu => (Kind::Lfu, true),
        VolatileRandom => (Kind::Random, true),
        VolatileTtl => (Kind::Ttl, true),
        AllkeysLru => (Kind::Lru, false),
        AllkeysLfu => (Kind::Lfu, false),
        AllkeysRandom => (Kind::Random, false),
        NoEviction => (Kind::NoEviction, false),
    }
}

/// What [`Evictor::perform`] concluded (Redis's EVICT_OK/RUNNING/FAIL).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Under the limit (or no limit).
    Ok,
    /// Over the limit, but keys are being evicted: the time budget ran out
    /// first; the next command or the cron tick continues.
    Running,
    /// Over the limit and nothing can be evicted: deny-OOM commands are refused.
    Fail,
}

/// One candidate in the eviction pool: higher `score` is evicted first.
#[derive(Clone, Debug)]
struct Candidate {
    score: u64,
    db: usize,
    key: Vec<u8>,
}

/// The eviction settings (mirrored from the config), the pool and counters.
pub struct Evictor {
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    tenacity: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    /// Memory not counted against maxmemory (replica output buffers and the
    /// AOF buffer, Redis's freeMemoryGetNotCountedMemory), published by the
    /// subsystems that own those buffers.
    pub not_counted: AtomicUsize,
    /// Keys evicted since start (INFO evicted_keys).
    pub evicted_keys: AtomicU64,
    /// Microseconds spent over maxmemory (INFO total_eviction_exceeded_time).
    exceeded_us: AtomicU64,
    /// When the current over-the-limit period began (unix µs, 0 = not over).
    exceeded_since: AtomicU64,
    /// Sorted by ascending score; the best candidate is last.
    pool: Mutex<Vec<Candidate>>,
    /// Next database for the random policies (round robin, as Redis).
    next_db: AtomicUsize,
    /// Databases (the first 64) that had keys when last looked at: the
    /// others are not sampled, which spares locking every shard of every
    /// empty database for each key evicted. Refreshed every
    /// [`OCCUPIED_REFRESH`] picks, and whenever a pick finds nothing.
    occupied: AtomicU64,
    /// Picks since `occupied` was refreshed (0 = never).
    occupied_age: AtomicU32,
}

/// Picks between two looks at which databases have keys.
const OCCUPIED_REFRESH: u32 = 1024;

impl Default for Evictor {
    fn default() -> Self {
        Evictor {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(MaxmemoryPolicy::NoEviction as u8),
            samples: AtomicU32::new(5),
            tenacity: AtomicU32::new(10),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            not_counted: AtomicUsize::new(0),
            evicted_keys: AtomicU64::new(0),
            exceeded_us: AtomicU64::new(0),
            exceeded_since: AtomicU64::new(0),
            pool: Mutex::new(Vec::with_capacity(POOL_SIZE)),
            next_db: AtomicUsize::new(0),
            occupied: AtomicU64::new(0),
            occupied_age: AtomicU32::new(0),
        }
    }
}

/// The directives eviction reads, as the server pushes them.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub maxmemory: u64,
    pub policy: MaxmemoryPolicy,
    pub samples: u32,
    pub tenacity: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
}

impl Evictor {
    pub fn configure(&self, s: Settings) {
        let old = self.policy();
        self.maxmemory.store(s.maxmemory, Ordering::Relaxed);
        self.policy.store(s.policy as u8, Ordering::Relaxed);
        self.samples.store(s.samples.max(1), Ordering::Relaxed);
        self.tenacity.store(s.tenacity.min(100), Ordering::Relaxed);
        self.lfu_log_factor
            .store(s.lfu_log_factor, Ordering::Relaxed);
        self.lfu_decay_time
            .store(s.lfu_decay_time, Ordering::Relaxed);
        if old != s.policy {
            // Scores of another policy mean nothing now (Redis empties it too).
            self.pool.lock().clear();
        }
    }

    pub fn policy(&self) -> MaxmemoryPolicy {
        let v = self.policy.load(Ordering::Relaxed);
        MaxmemoryPolicy::ALL
            .iter()
            .map(|(p, _)| *p)
            .find(|p| *p as u8 == v)
            .unwrap_or(MaxmemoryPolicy::NoEviction)
    }

    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    /// Whether the access field holds LFU data (an LFU policy is selected).
    #[inline]
    pub fn lfu(&self) -> bool {
        let v = self.policy.load(Ordering::Relaxed);
        v == MaxmemoryPolicy::AllkeysLfu as u8 || v == MaxmemoryPolicy::VolatileLfu as u8
    }

    /// The access field of a key created now.
    #[inline]
    pub fn fresh(&self, now_ms: i64) -> u32 {
        if self.lfu() {
            lfu_field(now_ms, LFU_INIT_VAL)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The access field after an access now (Redis's updateLFU, or the LRU
    /// clock).
    #[inline]
    pub fn touched(&self, field: u32, now_ms: i64) -> u32 {
        if self.lfu() {
            let counter = self.lfu_log_incr(self.lfu_decayed(field, now_ms));
            lfu_field(now_ms, counter)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The counter of an LFU field after decay to now (Redis's
    /// LFUDecrAndReturn): one step per `lfu-decay-time` minutes elapsed.
    pub fn lfu_decayed(&self, field: u32, now_ms: i64) -> u8 {
        lfu_decayed(field, now_ms, self.lfu_decay_time())
    }

    /// `lfu-decay-time` in minutes.
    pub fn lfu_decay_time(&self) -> u32 {
        self.lfu_decay_time.load(Ordering::Relaxed)
    }

    /// Redis's LFULogIncr: the counter grows with probability
    /// 1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1), saturating at 255.
    fn lfu_log_incr(&self, counter: u8) -> u8 {
        if counter == 255 {
            return 255;
        }
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let factor = self.lfu_log_factor.load(Ordering::Relaxed) as f64;
        let p = 1.0 / (base * factor + 1.0);
        if rand::random::<f64>() < p {
            counter + 1
        } else {
            counter
        }
    }

    /// Redis's evictionTimeLimitUs: how long one call may evict, from
    /// `maxmemory-eviction-tenacity` (0..=10 linear up to 500 µs, then a 15%
    /// geometric progression, 100 = unlimited).
    fn time_limit(&self) -> Duration {
        let t = self.tenacity.load(Ordering::Relaxed);
        if t <= 10 {
            Duration::from_micros(50 * t as u64)
        } else if t < 100 {
            Duration::from_micros((500.0 * 1.15f64.powi(t as i32 - 10)) as u64)
        } else {
            Duration::MAX
        }
    }

    /// Bytes counted against maxmemory, and whether that is over it.
    pub fn over_limit(&self) -> Option<(usize, usize)> {
        let max = self.maxmemory() as usize;
        if max == 0 {
            return None;
        }
        let used =
            crate::alloc::used_memory().saturating_sub(self.not_counted.load(Ordering::Relaxed));
        (used > max).then_some((used, max))
    }

    /// CONFIG RESETSTAT: zeroes evicted_keys and the time over the limit
    /// (a period still running restarts now, as in Redis).
    pub fn reset_stats(&self) {
        self.evicted_keys.store(0, Ordering::Relaxed);
        self.exceeded_us.store(0, Ordering::Relaxed);
        if self.exceeded_since.load(Ordering::Relaxed) != 0 {
            self.exceeded_since.store(unix_us(), Ordering::Relaxed);
        }
    }

    /// INFO's total_eviction_exceeded_time and current_eviction_exceeded_time
    /// in milliseconds.
    pub fn exceeded_ms(&self, now_us: u64) -> (u64, u64) {
        let since = self.exceeded_since.load(Ordering::Relaxed);
        let current = if since > 0 {
            now_us.saturating_sub(since)
        } else {
            0
        };
        (
            (self.exceeded_us.load(Ordering::Relaxed) + current) / 1000,
            current / 1000,
        )
    }

    fn note_exceeded(&self, over: bool) {
        let now = unix_us();
        let since = self.exceeded_since.load(Ordering::Relaxed);
        if over && since == 0 {
            self.exceeded_since.store(now, Ordering::Relaxed);
        } else if !over && since != 0 {
            self.exceeded_since.store(0, Ordering::Relaxed);
            self.exceeded_us
                .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
        }
    }

    /// Evicts keys until memory is under `maxmemory`, the policy finds
    /// nothing to evict, or the time budget (from the tenacity, or
    /// `budget` when given, for the cron tick) runs out. Must be called with
    /// no shard locked. `evicted(db, key)` is told of each key.
    pub fn perform(
        &self,
        store: &Store,
        now_ms: i64,
        budget: Option<Duration>,
        evicted: &mut dyn FnMut(usize, &[u8]),
    ) -> Outcome {
        let Some((used, max)) = self.over_limit() else {
            self.note_exceeded(false);
            return Outcome::Ok;
        };
        self.note_exceeded(true);
        let (kind, volatile) = kind_of(self.policy());
        if kind == Kind::NoEviction {
            return Outcome::Fail;
        }
        let to_free = used - max;
        let started = Instant::now();
        let limit = budget.unwrap_or_else(|| self.time_limit());
        let mut freed = 0usize;
        let mut count = 0u64;
        // One evictor at a time shares the pool; a second caller waits for
        // at most the first one's budget.
        let mut pool = self.pool.lock();
        while freed < to_free {
            let Some((db, key)) = self.pick(store, &mut pool, kind, volatile, now_ms) else {
                return Outcome::Fail;
            };
            let before = crate::alloc::used_memory();
            let plan = LockPlan::Shards(smallvec::smallvec![store.slot(db, &key)]);
            let mut ks = store.lock(&plan, now_ms);
            if let Some(entry) = ks.remove(db, &key) {
                drop(entry);
                ks.propagate(db, &[b"DEL", &key]);
                ks.touch(db, &key);
                drop(ks);
                freed += before.saturating_sub(crate::alloc::used_memory());
                count += 1;
                self.evicted_keys.fetch_add(1, Ordering::Relaxed);
                evicted(db, &key);
            }
            if count.is_multiple_of(16) {
                if self.over_limit().is_none() {
                    break;
                }
                if started.elapsed() > limit {
                    return Outcome::Running;
                }
            }
        }
        if self.over_limit().is_none() {
            self.note_exceeded(false);
        }
        Outcome::Ok
    }

    /// Which databases to sample (see `occupied`); `fresh` forces a look.
    fn occupied(&self, store: &Store, fresh: bool) -> u64 {
        let age = self.occupied_age.fetch_add(1, Ordering::Relaxed);
        if !fresh && age > 0 && age < OCCUPIED_REFRESH {
            return self.occupied.load(Ordering::Relaxed);
        }
        let mut mask = 0u64;
        for db in 0..store.databases().min(64) {
            if (0..SHARDS).any(|s| !store.lock_shard(db, s).table.is_empty()) {
                mask |= 1 << db;
            }
        }
        self.occupied.store(mask, Ordering::Relaxed);
        self.occupied_age.store(1, Ordering::Relaxed);
        mask
    }

    /// The next key to evict, or None when the policy finds none.
    fn pick(
        &self,
        store: &Store,
        pool: &mut Vec<Candidate>,
        kind: Kind,
        volatile: bool,
        now_ms: i64,
    ) -> Option<(usize, Vec<u8>)> {
        let found = self.pick_in(store, pool, kind, volatile, now_ms, false);
        if found.is_some() {
            return found;
        }
        // Maybe a database filled up since the last look.
        self.pick_in(store, pool, kind, volatile, now_ms, true)
    }

    fn pick_in(
        &self,
        store: &Store,
        pool: &mut Vec<Candidate>,
        kind: Kind,
        volatile: bool,
        now_ms: i64,
        fresh: bool,
    ) -> Option<(usize, Vec<u8>)> {
        let mask = self.occupied(store, fresh);
        let skip = |db: usize| db < 64 && mask & (1 << db) == 0;
        if kind == Kind::Random {
            let dbs = store.databases();
            for _ in 0..dbs {
                let db = self.next_db.fetch_add(1, Ordering::Relaxed) % dbs;
                if skip(db) {
                    continue;
                }
                if let Some(key) = random_key(store, db, volatile) {
                    return Some((db, key));
                }
            }
            return None;
        }
        // Bounded: each round samples every database; a round that adds
        // nothing to an empty pool means there is nothing to evict.
        for _ in 0..16 {
            let mut any = false;
            for db in (0..store.databases()).filter(|&db| !skip(db)) {
                any |= self.populate(store, pool, db, kind, volatile, now_ms);
            }
            if !any && pool.is_empty() {
                return None;
            }
            // The best candidate that still exists (it may have been deleted
            // or already evicted since it was sampled).
            while let Some(c) = pool.pop() {
                let shard = Store::shard_of(store.hash(&c.key));
                let guard = store.lock_shard(c.db, shard);
                let h = guard.table.hash(&c.key);
                if guard.table.find(h, &c.key).is_some() {
                    return Some((c.db, c.key));
                }
            }
        }
        None
    }

    /// Samples `maxmemory-samples` keys of `db` into the pool (Redis's
    /// evictionPoolPopulate). False when the database has no candidates.
    fn populate(
        &self,
        store: &Store,
        pool: &mut Vec<Candidate>,
        db: usize,
        kind: Kind,
        volatile: bool,
        now_ms: i64,
    ) -> bool {
        use rand::Rng;
        let samples = self.samples.load(Ordering::Relaxed) as usize;
        let mut rng = rand::rng();
        let now_s = (now_ms / 1000) as u32;
        let mut found = false;
        // Keys spread evenly over the shards: sampling from one random
        // non-empty shard per round is sampling the database, at one lock.
        let start = rng.random_range(0..SHARDS);
        for i in 0..SHARDS {
            let mut shard = store.lock_shard(db, (start + i) % SHARDS);
            if volatile && shard.ttl_keys > 0 && shard.expiry.len() > 4 * shard.ttl_keys + 64 {
                // Mostly stale (evicted or deleted keys): sampling would
                // miss the live ones, so drop the stale items first.
                super::expire::rebuild_heap(&mut shard);
            }
            let live = if volatile {
                shard.ttl_keys.min(shard.expiry.len())
            } else {
                shard.table.len()
            };
            if live == 0 {
                continue;
            }
            // The expiry heap may hold stale items (deleted keys, changed
            // deadlines: it is rebuilt lazily), so a volatile sample may
            // miss; bounded retries find live keys among them.
            let (mut got, mut tries) = (0, 0);
            while got < samples && tries < samples * 8 {
                tries += 1;
                let pos = if volatile {
                    let heap = shard.expiry.as_slice();
                    let (at, hash) = heap[rng.random_range(0..heap.len())].0;
                    match shard
                        .table
                        .positions_with_hash(hash)
                        .into_iter()
                        .find(|&p| shard.table.at(p).expire_at == at)
                    {
                        Some(p) => p,
                        None => continue,
                    }
                } else {
                    rng.random_range(0..shard.table.len())
                };
                let e = shard.table.at(pos);
                let score = match kind {
                    Kind::Lru => idle_seconds(e.lru, now_s) as u64,
                    Kind::Lfu => 255 - self.lfu_decayed(e.lru, now_ms) as u64,
                    Kind::Ttl => u64::MAX - e.expire_at.max(0) as u64,
                    Kind::Random | Kind::NoEviction => 0,
                };
                got += 1;
                insert(pool, score, db, e.key.as_slice());
            }
            if got > 0 {
                found = true;
                break;
            }
        }
        found
    }
}

/// Puts a candidate in its place in the sorted pool: when the pool is full,
/// only if it beats the worst, which then leaves.
fn insert(pool: &mut Vec<Candidate>, score: u64, db: usize, key: &[u8]) {
    if pool.iter().any(|c| c.db == db && c.key == key) {
        return;
    }
    let at = pool.partition_point(|c| c.score < score);
    if pool.len() >= POOL_SIZE {
        if at == 0 {
            return;
        }
        pool.remove(0);
        pool.insert(
            at - 1,
            Candidate {
                score,
                db,
                key: key.to_vec(),
            },
        );
    } else {
        pool.insert(
            at,
            Candidate {
                score,
                db,
                key: key.to_vec(),
            },
        );
    }
}

/// A random key of `db` (with a TTL when `volatile`), for the random policies.
fn random_key(store: &Store, db: usize, volatile: bool) -> Option<Vec<u8>> {
    use rand::Rng;
    let mut rng = rand::rng();
    let start = rng.random_range(0..SHARDS);
    for i in 0..SHARDS {
        let mut shard = store.lock_shard(db, (start + i) % SHARDS);
        if volatile && shard.ttl_keys > 0 && shard.expiry.len() > 4 * shard.ttl_keys + 64 {
            super::expire::rebuild_heap(&mut shard);
        }
        if volatile {
            let n = shard.expiry.len();
            if shard.ttl_keys == 0 || n == 0 {
                continue;
            }
            for _ in 0..64 {
                let (at, hash) = shard.expiry.as_slice()[rng.random_range(0..n)].0;
                if let Some(p) = shard
                    .table
                    .positions_with_hash(hash)
                    .into_iter()
                    .find(|&p| shard.table.at(p).expire_at == at)
                {
                    return Some(shard.table.at(p).key.as_slice().to_vec());
                }
            }
        } else if !shard.table.is_empty() {
            let pos = rng.random_range(0..shard.table.len());
            return Some(shard.table.at(pos).key.as_slice().to_vec());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_wraps_like_redis() {
        assert_eq!(idle_seconds(100, 160), 60);
        // The clock wrapped after the access.
        assert_eq!(idle_seconds(LRU_CLOCK_MAX - 10, 5), 15);
        let now = 1_000_000u32;
        assert_eq!(idle_seconds(lru_for_idle(now, 3600), now), 3600);
        // Before the clock's origin: wrapped once, as Redis.
        let f = lru_for_idle(100, 1000);
        assert_eq!(f, 100 + LRU_CLOCK_MAX - 1000);
        assert_eq!(idle_seconds(f, 100), 1000);
    }

    #[test]
    fn lfu_counter_is_logarithmic_and_decays() {
        let ev = Evictor::default();
        ev.configure(Settings {
            maxmemory: 0,
            policy: MaxmemoryPolicy::AllkeysLfu,
            samples: 5,
            tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        });
        let t0 = 1_700_000_000_000i64;
        let mut f = ev.fresh(t0);
        assert_eq!(f & 0xff, LFU_INIT_VAL as u32);
        for _ in 0..1000 {
            f = ev.touched(f, t0);
        }
        let c = f & 0xff;
        // Redis's table for factor 10: ~10 at 100 hits, ~18 at 1000.
        assert!((12..=30).contains(&c), "1000 hits gave {c}");
        // Ten minutes later the counter has decayed by ten.
        assert_eq!(ev.lfu_decayed(f, t0 + 10 * 60_000) as u32, c - 10);
        // lfu-decay-time 0: never decays.
        ev.lfu_decay_time.store(0, Ordering::Relaxed);
        assert_eq!(ev.lfu_decayed(f, t0 + 100 * 60_000) as u32, c);
    }

    #[test]
    fn pool_keeps_the_best_candidates_sorted() {
        let mut pool = Vec::new();
        for i in 0..40u64 {
            insert(&mut pool, (i * 7) % 41, 0, format!("k{i}").as_bytes());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert!(pool.windows(2).all(|w| w[0].score <= w[1].score));
        assert_eq!(pool.last().map(|c| c.score), Some(40));
    }

    #[test]
    fn tenacity_sets_redis_time_limits() {
        let ev = Evictor::default();
        assert_eq!(ev.time_limit(), Duration::from_micros(500));
        ev.tenacity.store(0, Ordering::Relaxed);
        assert_eq!(ev.time_limit(), Duration::ZERO);
        ev.tenacity.store(100, Ordering::Relaxed);
        assert_eq!(ev.time_limit(), Duration::MAX);
    }
}
