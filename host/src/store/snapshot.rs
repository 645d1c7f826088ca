//! Point-in-time snapshots of the whole keyspace without fork (DESIGN.md
//! "Persistence"; docs/persistence.md has the full argument).
//!
//! Redis forks and lets the kernel copy pages on write. We copy *entries* on
//! write instead, and only those a writer touches before the snapshot has
//! visited them:
//!
//! - **Start** ([`Locked::begin_snapshot`], with every shard locked): each shard
//!   gets a fresh epoch and a cursor at 0. That instant is the snapshot's
//!   point in time. Nothing is copied.
//! - **Walk** ([`Snapshot::step`]): a background thread takes one shard lock at
//!   a time and hands the visitor a bounded batch: first the pre-images the
//!   shard preserved, then table positions from the cursor upwards. An entry
//!   whose `snap` mark equals the epoch is skipped there (it was created after
//!   the start, or its pre-image has been, or will be, emitted instead). When
//!   the cursor reaches the end and no pre-image is left, the shard is done.
//! - **Writers** go through a handful of choke points in this module (every
//!   path that changes an entry, its TTL or its position): before changing an
//!   unvisited, unmarked entry they push a clone of it (key, value, expiry,
//!   lru) to the shard's side list and mark it. Keys created during the
//!   snapshot are marked at birth. A removal's swap moves the last entry into
//!   the hole: if that carries an unvisited entry below the cursor, it is
//!   preserved first. FLUSHDB moves unvisited entries to the side list (no
//!   copy); SWAPDB preserves both sides' unvisited entries and declares the
//!   swapped-in tables visited.
//!
//! So each key is copied at most once per snapshot, only if written before the
//! walker reached it, and the copy is freed as soon as it is emitted: the extra
//! memory is bounded by what clients overwrite during the walk, never by the
//! data set (a forking Redis may double it). [`SnapStats`] measures it.
//!
//! The store knows no file format: the visitor receives `(db, &Entry)` and
//! persist/ serializes. The LRU clock is the one exception to "exact": a read
//! refreshes it in place without preserving, so an idle time written by the
//! snapshot can be younger than at the start (eviction metadata, not data).

use super::table::{ChunkedVec, Entry};
use super::{Locked, Shard, Store, SHARDS};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Store-wide snapshot bookkeeping, shared by the shards, the running
/// [`Snapshot`] and INFO.
#[derive(Default)]
pub struct SnapStats {
    /// A snapshot is running (one at a time).
    busy: AtomicBool,
    /// Last epoch handed out; entries marked with an older one are unmarked.
    epoch: AtomicU32,
    /// The epoch still running, 0 when none (an abandoned one is cleaned up lazily).
    live_epoch: AtomicU32,
    /// Bytes of pre-images waiting to be emitted, now and at the peak of this snapshot.
    cur_bytes: AtomicUsize,
    peak_bytes: AtomicUsize,
    /// Pre-images made during the running (or last) snapshot.
    preserved: AtomicU64,
    /// Keys at the start and keys emitted so far (INFO current_save_keys_*).
    keys_total: AtomicU64,
    keys_done: AtomicU64,
}

impl SnapStats {
    /// Whether a snapshot is running.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
    /// Bytes of pre-images held right now (INFO current_cow_size).
    pub fn current_bytes(&self) -> usize {
        self.cur_bytes.load(Ordering::Relaxed)
    }
    /// Peak of [`Self::current_bytes`] during the running or last snapshot.
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes.load(Ordering::Relaxed)
    }
    /// Pre-images made during the running or last snapshot.
    pub fn preserved(&self) -> u64 {
        self.preserved.load(Ordering::Relaxed)
    }
    /// (keys emitted, keys at the start) of the running or last snapshot.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.keys_done.load(Ordering::Relaxed),
            self.keys_total.load(Ordering::Relaxed),
        )
    }

    fn add_bytes(&self, n: usize) {
        let now = self.cur_bytes.fetch_add(n, Ordering::Relaxed) + n;
        self.peak_bytes.fetch_max(now, Ordering::Relaxed);
    }
}

/// A shard's part of the running snapshot. `epoch == 0`: none pending here.
#[derive(Default)]
pub(super) struct ShardSnap {
    epoch: u32,
    /// Table positions below this have been visited.
    cursor: usize,
    /// Pre-images to emit, with their byte count.
    preserved: Vec<Entry>,
    preserved_bytes: usize,
    stats: Option<Arc<SnapStats>>,
}

impl ShardSnap {
    fn keep(&mut self, e: Entry) {
        let n = e.footprint();
        self.preserved_bytes += n;
        if let Some(s) = &self.stats {
            s.add_bytes(n);
            s.preserved.fetch_add(1, Ordering::Relaxed);
        }
        self.preserved.push(e);
    }

    /// Ends this shard's part, releasing what it still holds.
    fn finish(&mut self) {
        if let Some(s) = &self.stats {
            s.cur_bytes
                .fetch_sub(self.preserved_bytes, Ordering::Relaxed);
        }
        *self = ShardSnap::default();
    }
}

impl Shard {
    /// The mark for an entry created now: it is not part of a pending snapshot.
    #[inline]
    pub(super) fn birth_mark(&mut self) -> u32 {
        if self.snap.epoch != 0 && !self.snap_live() {
            self.snap.finish();
        }
        self.snap.epoch
    }

    /// False when this shard's snapshot was abandoned (its `Snapshot` dropped).
    fn snap_live(&self) -> bool {
        self.snap
            .stats
            .as_ref()
            .is_some_and(|s| s.live_epoch.load(Ordering::Acquire) == self.snap.epoch)
    }

    /// Call before changing the entry at `pos` (value, TTL) in any way.
    #[inline]
    pub(super) fn before_write(&mut self, pos: usize) {
        if self.snap.epoch != 0 && pos >= self.snap.cursor {
            self.preserve(pos);
        }
    }

    #[cold]
    fn preserve(&mut self, pos: usize) {
        if !self.snap_live() {
            self.snap.finish();
            return;
        }
        let epoch = self.snap.epoch;
        let e = self.table.at_mut(pos);
        if e.snap == epoch {
            return;
        }
        e.snap = epoch;
        let img = e.pre_image();
        self.snap.keep(img);
    }

    /// Call before removing the entry at `pos`: preserves it, and the last
    /// entry if the swap is about to carry it from the unvisited part to a
    /// visited position.
    #[inline]
    pub(super) fn before_remove(&mut self, pos: usize) {
        if self.snap.epoch == 0 {
            return;
        }
        self.before_write(pos);
        let last = self.table.len() - 1;
        if pos < self.snap.cursor && last >= self.snap.cursor {
            self.before_write(last);
        }
    }

    /// Call after a removal: the visited part cannot extend past the end.
    #[inline]
    pub(super) fn after_remove(&mut self) {
        if self.snap.cursor > self.table.len() {
            self.snap.cursor = self.table.len();
        }
    }

    /// Call with the whole table just taken away (FLUSHDB): its unvisited
    /// entries move to the side list, the rest is returned to be freed.
    pub(super) fn after_take(&mut self, taken: ChunkedVec<Entry>) -> ChunkedVec<Entry> {
        if self.snap.epoch == 0 || !self.snap_live() {
            self.snap.finish();
            return taken;
        }
        let (epoch, cursor) = (self.snap.epoch, self.snap.cursor);
        let mut rest = ChunkedVec::default();
        for (i, e) in taken.into_items().enumerate() {
            if i >= cursor && e.snap != epoch {
                self.snap.keep(e);
            } else {
                rest.push(e);
            }
        }
        self.snap.cursor = 0;
        rest
    }

    /// Call before this shard's table is exchanged for another (SWAPDB):
    /// preserves every unvisited entry, since the walker will not see them here.
    pub(super) fn before_swap(&mut self) {
        if self.snap.epoch == 0 {
            return;
        }
        for pos in self.snap.cursor..self.table.len() {
            self.before_write(pos);
        }
    }

    /// Call after the exchange: the table now here was not part of this
    /// shard at the start, so none of it is emitted from here.
    pub(super) fn after_swap(&mut self) {
        if self.snap.epoch != 0 {
            self.snap.cursor = self.table.len();
        }
    }
}

impl Locked<'_> {
    /// Starts a snapshot whose point in time is now. Every shard of every
    /// database must be held (`LockPlan::All`), which is what makes the start
    /// atomic. None when another snapshot is running.
    pub fn begin_snapshot(&mut self) -> Option<Snapshot> {
        let dbs = self.store.databases();
        assert_eq!(
            self.guards.len(),
            dbs * SHARDS,
            "begin_snapshot needs every shard locked"
        );
        let stats = self.store.snap.clone();
        if stats.busy.swap(true, Ordering::AcqRel) {
            return None;
        }
        let mut epoch = stats.epoch.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        if epoch == 0 {
            // 0 means "no snapshot"; entries born unmarked carry it.
            epoch = stats.epoch.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        }
        stats.live_epoch.store(epoch, Ordering::Release);
        stats.cur_bytes.store(0, Ordering::Relaxed);
        stats.peak_bytes.store(0, Ordering::Relaxed);
        stats.preserved.store(0, Ordering::Relaxed);
        stats.keys_done.store(0, Ordering::Relaxed);
        let mut sizes = vec![(0u64, 0u64); dbs];
        for (id, shard) in self.guards.iter_mut() {
            let db = *id as usize / SHARDS;
            sizes[db].0 += shard.table.len() as u64;
            sizes[db].1 += shard.ttl_keys() as u64;
            shard.snap = ShardSnap {
                epoch,
                cursor: 0,
                preserved: Vec::new(),
                preserved_bytes: 0,
                stats: Some(stats.clone()),
            };
        }
        let total = sizes.iter().map(|s| s.0).sum();
        stats.keys_total.store(total, Ordering::Relaxed);
        Some(Snapshot {
            stats,
            epoch,
            slot: 0,
            slots: dbs * SHARDS,
            sizes,
        })
    }

    /// Visits every entry of every held shard, in (db, shard) order, under the
    /// locks already held: a synchronous snapshot (SAVE, FLUSHALL, DEBUG
    /// RELOAD), exact because nobody else can write meanwhile.
    pub fn walk(&mut self, mut visit: impl FnMut(usize, &Entry)) {
        for (id, shard) in self.guards.iter() {
            let db = *id as usize / SHARDS;
            shard.table.iter().for_each(|e| visit(db, e));
        }
    }

    /// (keys, keys with a TTL) of each database among the held shards.
    pub fn db_sizes(&self) -> Vec<(u64, u64)> {
        let mut sizes = vec![(0u64, 0u64); self.store.databases()];
        for (id, shard) in self.guards.iter() {
            let db = *id as usize / SHARDS;
            sizes[db].0 += shard.table.len() as u64;
            sizes[db].1 += shard.ttl_keys() as u64;
        }
        sizes
    }
}

impl Store {
    /// Starts a snapshot, taking every lock for the instant of the start.
    /// The caller must hold no shard lock. None when one is already running.
    pub fn begin_snapshot(&self) -> Option<Snapshot> {
        self.lock(&super::LockPlan::All, 0).begin_snapshot()
    }

    /// Snapshot bookkeeping (INFO persistence).
    pub fn snap_stats(&self) -> &SnapStats {
        &self.snap
    }
}

/// A running point-in-time snapshot: call [`Snapshot::step`] until it returns
/// false. Holds no lock between steps, so it can be moved to a thread and
/// stepped at any pace (a file writer, a replica's socket). Dropping it
/// unfinished abandons it; the shards then drop their pre-images lazily.
pub struct Snapshot {
    stats: Arc<SnapStats>,
    epoch: u32,
    /// Next (db * SHARDS + shard) to walk.
    slot: usize,
    slots: usize,
    sizes: Vec<(u64, u64)>,
}

impl Snapshot {
    /// (keys, keys with a TTL) of each database at the start (RESIZEDB hints;
    /// expired-but-not-collected keys count, as in Redis).
    pub fn db_sizes(&self) -> &[(u64, u64)] {
        &self.sizes
    }

    /// Visits up to `budget` entries (at least one shard's worth of progress
    /// is never promised; the budget keeps each lock hold short), calling
    /// `visit(db, entry)` under that shard's lock. Databases come in
    /// ascending order; within one, no order. Returns false once every entry
    /// of the snapshot has been visited.
    pub fn step(
        &mut self,
        store: &Store,
        budget: usize,
        mut visit: impl FnMut(usize, &Entry),
    ) -> bool {
        let mut left = budget.max(1);
        while self.slot < self.slots {
            let (db, s) = (self.slot / SHARDS, self.slot % SHARDS);
            let mut shard = store.lock_shard(db, s);
            let snap = &mut shard.snap;
            if snap.epoch != self.epoch {
                // Nothing pending here (SWAPDB cannot unset it; only we do).
                self.slot += 1;
                continue;
            }
            let mut emitted = 0u64;
            while left > 0 {
                let Some(e) = snap.preserved.pop() else { break };
                let n = e.footprint();
                snap.preserved_bytes -= n;
                self.stats.cur_bytes.fetch_sub(n, Ordering::Relaxed);
                visit(db, &e);
                emitted += 1;
                left -= 1;
            }
            let len = shard.table.len();
            let mut cursor = shard.snap.cursor;
            while left > 0 && cursor < len {
                let e = shard.table.at(cursor);
                cursor += 1;
                if e.snap != self.epoch {
                    visit(db, e);
                    emitted += 1;
                    left -= 1;
                }
            }
            shard.snap.cursor = cursor;
            self.stats.keys_done.fetch_add(emitted, Ordering::Relaxed);
            if cursor >= len && shard.snap.preserved.is_empty() {
                shard.snap.finish();
                self.slot += 1;
            }
            if left == 0 {
                return self.slot < self.slots;
            }
        }
        false
    }
}

impl Snapshot {
    /// Ends the snapshot now, finished or not, releasing every pre-image the
    /// shards still hold (an aborted BGSAVE, FLUSHALL killing it). Takes one
    /// shard lock at a time: the caller must hold none.
    pub fn abort(&mut self, store: &Store) {
        while self.slot < self.slots {
            let (db, s) = (self.slot / SHARDS, self.slot % SHARDS);
            let mut shard = store.lock_shard(db, s);
            if shard.snap.epoch == self.epoch {
                shard.snap.finish();
            }
            self.slot += 1;
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // Finished or abandoned, writers stop preserving for this epoch.
        self.stats.live_epoch.store(0, Ordering::Release);
        self.stats.busy.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    //! The model test: a seeded random writer exercises every choke point
    //! while the walker runs; what the walker emits must equal the keyspace
    //! at the start, key for key.
    use super::*;
    use crate::store::{LockPlan, Value};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    type Image = BTreeMap<(usize, Vec<u8>), (String, Option<i64>)>;

    fn image(store: &Store) -> Image {
        let mut m = Image::new();
        store.lock(&LockPlan::All, 0).walk(|db, e| {
            m.insert(
                (db, e.key.as_slice().to_vec()),
                (format!("{:?}", e.value), e.expire_at()),
            );
        });
        m
    }

    fn collect(into: &mut Image, db: usize, e: &Entry) {
        let old = into.insert(
            (db, e.key.as_slice().to_vec()),
            (format!("{:?}", e.value), e.expire_at()),
        );
        assert!(old.is_none(), "emitted twice: {db} {:?}", e.key);
    }

    const DBS: usize = 3;
    const NOW: i64 = 1_000_000;

    fn seed(store: &Store, rng: &mut StdRng, keys: usize) {
        let mut ks = store.lock(&LockPlan::All, NOW);
        for i in 0..keys {
            let db = rng.random_range(0..DBS);
            let key = format!("k{i}");
            let value = match rng.random_range(0..3) {
                0 => Value::Int(rng.random()),
                1 => Value::string(format!("v{i}").as_bytes()),
                _ => Value::string(&vec![b'x'; rng.random_range(20..80)]),
            };
            let ttl = rng
                .random_bool(0.3)
                .then(|| NOW + rng.random_range(1..5_000));
            ks.set(db, key.as_bytes(), value, ttl);
        }
    }

    /// One random write at the clock `now`.
    fn write(store: &Store, rng: &mut StdRng, keys: usize, now: i64, n: u64) {
        let db = rng.random_range(0..DBS);
        let key = format!("k{}", rng.random_range(0..keys + keys / 4));
        let key = key.as_bytes();
        let op = rng.random_range(0..1000);
        let plan = if op < 3 {
            LockPlan::All
        } else {
            LockPlan::Shards([store.slot(db, key)].into_iter().collect())
        };
        let mut ks = store.lock(&plan, now);
        match op {
            0 => {
                ks.flush_db(db);
            }
            1 | 2 => ks.swap_dbs(db, (db + 1) % DBS),
            3..=250 => ks.set(db, key, Value::Int(n as i64), None),
            251..=350 => ks.set(db, key, Value::Int(-(n as i64)), Some(now + 100)),
            351..=450 => ks.set_keep_ttl(db, key, Value::string(b"kept")),
            451..=650 => {
                ks.remove(db, key);
            }
            651..=750 => {
                let at = rng
                    .random_bool(0.5)
                    .then_some(now + rng.random_range(-50..50));
                ks.set_expire(db, key, at);
            }
            751..=900 => {
                if let Some(e) = ks.get(db, key) {
                    e.value = Value::string(b"mutated in place");
                }
            }
            _ => {
                // Reads never change the snapshot (and expire lazily).
                let _ = ks.read(db, key);
                let _ = ks.peek(db, key);
            }
        }
    }

    #[test]
    fn walk_emits_the_start_state_under_random_writes() {
        for seed_no in 0..6u64 {
            let mut rng = StdRng::seed_from_u64(seed_no);
            let store = Store::new(DBS);
            let keys = 3000;
            seed(&store, &mut rng, keys);
            let expected = image(&store);
            let mut snap = store.begin_snapshot().expect("no other snapshot");
            assert!(store.begin_snapshot().is_none(), "one at a time");
            assert_eq!(
                snap.db_sizes().iter().map(|s| s.0).sum::<u64>() as usize,
                expected.len()
            );
            let mut got = Image::new();
            let mut now = NOW;
            let mut cursor = crate::store::expire::Cursor::default();
            let mut n = 0u64;
            loop {
                for _ in 0..rng.random_range(0..40) {
                    n += 1;
                    write(&store, &mut rng, keys, now, n);
                }
                if rng.random_bool(0.05) {
                    now += 200;
                    crate::store::expire::active_expire_tick(
                        &store,
                        now,
                        std::time::Duration::from_secs(1),
                        &mut cursor,
                        None,
                    );
                }
                let more = snap.step(&store, rng.random_range(1..30), |db, e| {
                    collect(&mut got, db, e)
                });
                if !more {
                    break;
                }
            }
            assert!(
                store.snap_stats().preserved() > 0,
                "the writer raced the walker"
            );
            assert_eq!(store.snap_stats().current_bytes(), 0);
            drop(snap);
            assert_eq!(got.len(), expected.len(), "seed {seed_no}");
            for (k, v) in &expected {
                assert_eq!(got.get(k), Some(v), "seed {seed_no} key {k:?}");
            }
            // A second snapshot right after sees the current state.
            let expected = image(&store);
            let mut snap = store.begin_snapshot().expect("free again");
            let mut got = Image::new();
            while snap.step(&store, 100, |db, e| collect(&mut got, db, e)) {}
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn concurrent_writer_thread_and_walker() {
        let store = Store::new(DBS);
        let mut rng = StdRng::seed_from_u64(99);
        let keys = 20_000;
        seed(&store, &mut rng, keys);
        let expected = image(&store);
        let mut snap = store.begin_snapshot().expect("free");
        let stop = AtomicBool::new(false);
        let got = std::thread::scope(|s| {
            s.spawn(|| {
                let mut rng = StdRng::seed_from_u64(7);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    write(&store, &mut rng, keys, NOW, n);
                }
            });
            let mut got = Image::new();
            while snap.step(&store, 16, |db, e| collect(&mut got, db, e)) {
                std::thread::yield_now();
            }
            stop.store(true, Ordering::Relaxed);
            got
        });
        assert_eq!(got, expected);
    }

    #[test]
    fn abandoned_snapshot_frees_the_way() {
        let store = Store::new(1);
        let mut ks = store.lock(&LockPlan::All, NOW);
        ks.set(0, b"a", Value::Int(1), None);
        drop(ks);
        let snap = store.begin_snapshot().expect("free");
        drop(snap);
        let mut ks = store.lock(&LockPlan::All, NOW);
        ks.set(0, b"a", Value::Int(2), None);
        drop(ks);
        assert_eq!(
            store.snap_stats().preserved(),
            0,
            "nothing kept for a dead snapshot"
        );
        let mut snap = store.begin_snapshot().expect("free again");
        let mut got = Image::new();
        while snap.step(&store, 1, |db, e| collect(&mut got, db, e)) {}
        assert_eq!(got.len(), 1);
    }
}
