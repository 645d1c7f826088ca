//! The sorted-set type's value: members with scores, ordered by (score,
//! member). Small sets are a sorted vector (Redis's "listpack"); large ones
//! (Redis's "skiplist") are a [`ZTree`]: every member stored once in a slab
//! of slots, a hash index of `u32` slot ids for member lookups, and an
//! order-statistic B+tree of `(score, slot id)` for ranks and ranges.
//!
//! Why a B+tree rather than Redis's skiplist: a skiplist node costs ~50 bytes
//! plus a dict entry per member and a search touches ~log2(N) scattered
//! nodes. Here a member costs its 32-byte slot, ~12-16 bytes of leaf (score
//! and id inline, so score comparisons never leave the leaf) and ~5-10 bytes of
//! hash index, and a search touches a handful of wide nodes. Inner nodes keep
//! per-child element counts, so rank ↔ position is O(log N) both ways.
//!
//! Encodings follow Redis 7.0 so OBJECT ENCODING answers the same: a set
//! starts as a listpack unless its first member is too long, converts once it
//! outgrows `zset-max-listpack-entries` or gets a member longer than
//! `zset-max-listpack-value` (store/encoding.rs), and never converts back except when a store
//! command (ZUNIONSTORE, ZRANGESTORE ...) builds a fresh set.

use super::value::SmallBytes;
use hashbrown::HashTable;
use std::hash::BuildHasher;

use super::encoding::{zset_max_entries, zset_max_value};
pub use super::zset_listpack::ListpackRange;
use super::zset_listpack::ZListpack;

#[derive(Clone, Debug)]
pub enum ZSetValue {
    /// Sorted by (score, member), packed into one buffer.
    Listpack(ZListpack),
    /// Boxed so that the many small sets stay one small allocation.
    Skiplist(Box<ZTree>),
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Listpack(ZListpack::default())
    }
}

/// ZADD's input flags (Redis's ZADD_IN_*).
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What one ZADD pair did (Redis's ZADD_OUT_* plus the resulting score).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Processed, but the score stayed the same.
    Unchanged(f64),
    /// Skipped by NX / XX / GT / LT.
    Nop,
    /// The increment made the score NaN; nothing changed.
    Nan,
}

/// One end of a range, as a monotone test over the set's order: the rank of
/// the first element for which it holds is found by binary search.
#[derive(Clone, Copy, Debug)]
pub enum Probe<'a> {
    /// score >= v, or score > v when the flag is set.
    Score(f64, bool),
    /// member >= m, or member > m when the flag is set (lex ranges assume
    /// equal scores, as Redis documents).
    Lex(&'a [u8], bool),
}

impl Probe<'_> {
    #[inline]
    fn holds<'m>(&self, score: f64, member: impl FnOnce() -> &'m [u8]) -> bool {
        match *self {
            Probe::Score(v, strict) => {
                if strict {
                    score > v
                } else {
                    score >= v
                }
            }
            Probe::Lex(m, strict) => {
                let me = member();
                if strict {
                    me > m
                } else {
                    me >= m
                }
            }
        }
    }
}

/// The score a listpack keeps: Redis stores listpack scores as text, and its
/// -0 comes back as the integer 0 (a skiplist keeps -0 as it is).
#[inline]
fn listpack_score(s: f64) -> f64 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

impl ZSetValue {
    /// The empty set ZADD creates for a new key whose first member is `first`
    /// (Redis creates it as a skiplist right away when that member is too long).
    pub fn for_first_member(first: &[u8]) -> Self {
        if zset_max_entries() == 0 || first.len() > zset_max_value() {
            ZSetValue::Skiplist(Box::default())
        } else {
            ZSetValue::Listpack(ZListpack::default())
        }
    }

    /// A set built from elements already sorted by (score, member) with
    /// distinct members, encoded as Redis encodes the result of a store
    /// command (listpack when small enough).
    pub fn from_sorted(items: Vec<(f64, SmallBytes)>) -> Self {
        let (max_entries, max_value) = (zset_max_entries(), zset_max_value());
        let small = items.len() <= max_entries
            && items.iter().all(|(_, m)| m.as_slice().len() <= max_value);
        if small {
            let mut items = items;
            for (s, _) in items.iter_mut() {
                *s = listpack_score(*s);
            }
            ZSetValue::Listpack(ZListpack::from_sorted(&items))
        } else {
            ZSetValue::Skiplist(Box::new(ZTree::from_sorted(items)))
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Skiplist(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.len(),
            ZSetValue::Skiplist(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.heap_size(),
            ZSetValue::Skiplist(t) => std::mem::size_of::<ZTree>() + t.heap_size(),
        }
    }

    /// The score of `member`.
    #[inline]
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(v) => v.score(member),
            ZSetValue::Skiplist(t) => t.score(member),
        }
    }

    /// Adds or updates one member the way Redis's zsetAdd does, converting
    /// the encoding when the set outgrows a listpack.
    pub fn add(&mut self, member: &[u8], score: f64, flags: AddFlags) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::Nan;
        }
        let current = self.score(member);
        let Some(cur) = current else {
            if flags.xx {
                return AddOutcome::Nop;
            }
            if let ZSetValue::Listpack(v) = self {
                if v.len() < zset_max_entries() && member.len() <= zset_max_value() {
                    v.insert(member, listpack_score(score));
                    return AddOutcome::Added(score);
                }
                self.convert_to_tree();
            }
            if let ZSetValue::Skiplist(t) = self {
                t.insert_new(member, score);
            }
            return AddOutcome::Added(score);
        };
        if flags.nx {
            return AddOutcome::Nop;
        }
        let mut score = score;
        if flags.incr {
            score += cur;
            if score.is_nan() {
                return AddOutcome::Nan;
            }
        }
        if (flags.lt && score >= cur) || (flags.gt && score <= cur) {
            return AddOutcome::Nop;
        }
        if score == cur {
            return AddOutcome::Unchanged(score);
        }
        match self {
            ZSetValue::Listpack(v) => {
                if v.remove(member).is_some() {
                    v.insert(member, listpack_score(score));
                }
            }
            ZSetValue::Skiplist(t) => t.update(member, score),
        }
        AddOutcome::Updated(score)
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSetValue::Listpack(v) => v.remove(member).is_some(),
            ZSetValue::Skiplist(t) => t.remove(member).is_some(),
        }
    }

    /// 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSetValue::Listpack(v) => v.rank(member),
            ZSetValue::Skiplist(t) => t.rank(member),
        }
    }

    /// The rank of the first element for which `probe` holds (len if none).
    pub fn lower_bound(&self, probe: Probe<'_>) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.lower_bound(|s, m| probe.holds(s, || m)),
            ZSetValue::Skiplist(t) => t.lower_bound(probe),
        }
    }

    /// The element at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSetValue::Listpack(v) => v.get(rank),
            ZSetValue::Skiplist(t) => t.get(rank),
        }
    }

    /// The elements of ranks `start..end` in ascending order, or descending
    /// (from `end - 1` down to `start`) when `rev`.
    pub fn range(&self, start: usize, end: usize, rev: bool) -> RangeIter<'_> {
        let end = end.min(self.len());
        let start = start.min(end);
        match self {
            ZSetValue::Listpack(v) => RangeIter::Listpack(v.range(start, end, rev)),
            ZSetValue::Skiplist(t) => RangeIter::Tree(t.range(start, end, rev)),
        }
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> RangeIter<'_> {
        self.range(0, self.len(), false)
    }

    /// Removes the elements of ranks `start..end`; returns how many.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match self {
            ZSetValue::Listpack(v) => v.remove_range(start, end),
            ZSetValue::Skiplist(t) => t.remove_rank_range(start, end),
        }
        end - start
    }

    /// Removes and returns the lowest (or, with `max`, highest) element.
    pub fn pop(&mut self, max: bool) -> Option<(SmallBytes, f64)> {
        match self {
            ZSetValue::Listpack(v) => v.pop(max),
            ZSetValue::Skiplist(t) => {
                let len = t.len();
                if len == 0 {
                    return None;
                }
                t.remove_at(if max { len - 1 } else { 0 })
            }
        }
    }

    /// One step of ZSCAN: calls `f` for up to `count` elements from `cursor`
    /// on and returns the next cursor (0 when done). A listpack answers
    /// everything at once, as Redis does. In a tree the cursor is a slot id:
    /// a member keeps its slot for life, so an element present for the whole
    /// scan is returned exactly once.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSetValue::Listpack(v) => {
                for (m, s) in v.range(0, v.len(), false) {
                    f(m, s);
                }
                0
            }
            ZSetValue::Skiplist(t) => t.scan(cursor, count, f),
        }
    }

    fn convert_to_tree(&mut self) {
        if let ZSetValue::Listpack(v) = self {
            let items = v.to_vec();
            *self = ZSetValue::Skiplist(Box::new(ZTree::from_sorted(items)));
        }
    }
}

/// Iterator over a rank range: `(member, score)` pairs.
pub enum RangeIter<'a> {
    Listpack(ListpackRange<'a>),
    Tree(TreeRange<'a>),
}

impl<'a> Iterator for RangeIter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            RangeIter::Listpack(l) => l.next(),
            RangeIter::Tree(t) => t.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            RangeIter::Listpack(l) => l.remaining,
            RangeIter::Tree(t) => t.remaining,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for RangeIter<'_> {}

// ---------------------------------------------------------------------------------------------
// Slab storage
// ---------------------------------------------------------------------------------------------

const NIL: u32 = u32::MAX;

/// Sets with fewer slots than this are never compacted.
const COMPACT_MIN_SLOTS: usize = 4096;

/// Items addressed by `u32` ids, stored in chunks of `1 << SHIFT` so growing
/// never copies a big buffer (the first chunk grows by doubling, so small
/// trees stay small). Released ids are reused.
#[derive(Clone)]
struct Pool<T, const SHIFT: u32> {
    chunks: Vec<Vec<T>>,
    len: usize,
    free: Vec<u32>,
}

impl<T, const SHIFT: u32> Default for Pool<T, SHIFT> {
    fn default() -> Self {
        Pool {
            chunks: Vec::new(),
            len: 0,
            free: Vec::new(),
        }
    }
}

impl<T, const SHIFT: u32> Pool<T, SHIFT> {
    const CHUNK: usize = 1 << SHIFT;
    const MASK: usize = Self::CHUNK - 1;

    /// Stores `item`, reusing a released id when there is one.
    fn alloc(&mut self, item: T) -> u32 {
        if let Some(id) = self.free.pop() {
            self[id] = item;
            return id;
        }
        match self.chunks.last_mut() {
            Some(last) if last.len() < Self::CHUNK => {
                if last.len() == last.capacity() {
                    let want = (last.capacity() * 2).clamp(4, Self::CHUNK);
                    last.reserve_exact(want - last.len());
                }
                last.push(item);
            }
            _ => {
                let cap = if self.chunks.is_empty() {
                    4
                } else {
                    Self::CHUNK
                };
                let mut chunk = Vec::with_capacity(cap.min(Self::CHUNK));
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        (self.len - 1) as u32
    }

    fn release(&mut self, id: u32) {
        self.free.push(id);
    }

    /// Ids ever handed out (live and released).
    fn capacity_ids(&self) -> usize {
        self.len
    }

    fn bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.capacity() * std::mem::size_of::<T>())
            .sum::<usize>()
            + self.free.capacity() * 4
            + self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

impl<T, const SHIFT: u32> std::ops::Index<u32> for Pool<T, SHIFT> {
    type Output = T;
    #[inline]
    fn index(&self, id: u32) -> &T {
        let i = id as usize;
        &self.chunks[i >> SHIFT][i & Self::MASK]
    }
}

impl<T, const SHIFT: u32> std::ops::IndexMut<u32> for Pool<T, SHIFT> {
    #[inline]
    fn index_mut(&mut self, id: u32) -> &mut T {
        let i = id as usize;
        &mut self.chunks[i >> SHIFT][i & Self::MASK]
    }
}

/// A member and its score. A released slot has a NaN score (no live score is
/// ever NaN), which is how ZSCAN skips it.
#[derive(Clone)]
struct Slot {
    member: SmallBytes,
    score: f64,
}

type Slots = Pool<Slot, 10>;

impl Slots {
    #[inline]
    fn member(&self, id: u32) -> &[u8] {
        self[id].member.as_slice()
    }

    /// True when element `(s1, id1)` sorts before `(s2, id2)`.
    #[inline]
    fn before(&self, s1: f64, id1: u32, s2: f64, id2: u32) -> bool {
        if s1 < s2 {
            true
        } else if s1 > s2 {
            false
        } else {
            id1 != id2 && self.member(id1) < self.member(id2)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The large encoding
// ---------------------------------------------------------------------------------------------

/// A large sorted set: see the module documentation.
#[derive(Clone, Default)]
pub struct ZTree {
    slots: Slots,
    /// Member → slot id.
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    tree: Tree,
    /// Heap bytes of members too long to be stored inline.
    member_heap: usize,
    /// Compactions so far (see [`ZTree::maybe_compact`]), part of ZSCAN cursors.
    epoch: u32,
}

impl std::fmt::Debug for ZTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.range(0, self.len(), false))
            .finish()
    }
}

impl ZTree {
    fn from_sorted(items: Vec<(f64, SmallBytes)>) -> ZTree {
        let mut t = ZTree::default();
        t.index.reserve(items.len(), |_| 0);
        let mut ids = Vec::with_capacity(items.len());
        for (score, member) in items {
            debug_assert!(!score.is_nan(), "NaN score in a sorted set");
            t.member_heap += member.heap_size();
            let id = t.slots.alloc(Slot { member, score });
            let hash = t.hasher.hash_one(t.slots.member(id));
            let slots = &t.slots;
            let hasher = &t.hasher;
            t.index
                .insert_unique(hash, id, |&i| hasher.hash_one(slots.member(i)));
            ids.push((score, id));
        }
        t.tree = Tree::from_sorted(&ids);
        t
    }

    pub fn len(&self) -> usize {
        self.tree.len
    }

    pub fn is_empty(&self) -> bool {
        self.tree.len == 0
    }

    fn heap_size(&self) -> usize {
        self.slots.bytes()
            + self.index.capacity() * 5
            + self.member_heap
            + self.tree.leaves.bytes()
            + self.tree.inners.bytes()
    }

    #[inline]
    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index
            .find(hash, |&id| self.slots.member(id) == member)
            .copied()
    }

    #[inline]
    fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|id| self.slots[id].score)
    }

    /// Inserts a member known to be absent.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let sb = SmallBytes::new(member);
        self.member_heap += sb.heap_size();
        let id = self.slots.alloc(Slot { member: sb, score });
        let hash = self.hasher.hash_one(member);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, id, |&i| hasher.hash_one(slots.member(i)));
        self.tree.insert(&self.slots, score, id);
    }

    /// Moves an existing member to a new score.
    fn update(&mut self, member: &[u8], score: f64) {
        let Some(id) = self.find(member) else {
            return;
        };
        let old = self.slots[id].score;
        if !self.tree.update_in_place(&self.slots, old, id, score) {
            self.tree.remove(&self.slots, old, id);
            self.slots[id].score = score;
            self.tree.insert(&self.slots, score, id);
        } else {
            self.slots[id].score = score;
        }
    }

    /// Removes a member, returning it and its score.
    fn remove(&mut self, member: &[u8]) -> Option<(SmallBytes, f64)> {
        let id = self.find(member)?;
        let out = self.remove_id(id);
        self.maybe_compact();
        Some(out)
    }

    fn remove_id(&mut self, id: u32) -> (SmallBytes, f64) {
        let score = self.slots[id].score;
        self.tree.remove(&self.slots, score, id);
        let hash = self.hasher.hash_one(self.slots.member(id));
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == id) {
            entry.remove();
        }
        let slot = std::mem::replace(
            &mut self.slots[id],
            Slot {
                member: SmallBytes::new(b""),
                score: f64::NAN,
            },
        );
        self.slots.release(id);
        self.member_heap -= slot.member.heap_size();
        // Give memory back once a big set has mostly emptied (Redis's dict
        // resize after deletions).
        if self.index.capacity() > 64 && self.index.len() * 8 < self.index.capacity() {
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.index
                .shrink_to(self.index.len() * 2, |&i| hasher.hash_one(slots.member(i)));
        }
        (slot.member, score)
    }

    fn remove_at(&mut self, rank: usize) -> Option<(SmallBytes, f64)> {
        let (_, id) = self.tree.get(rank)?;
        let out = self.remove_id(id);
        self.maybe_compact();
        Some(out)
    }

    fn remove_rank_range(&mut self, start: usize, end: usize) {
        let ids: Vec<u32> = self
            .tree
            .range(start, end, false)
            .map(|(_, id)| id)
            .collect();
        for id in ids {
            self.remove_id(id);
        }
        self.maybe_compact();
    }

    /// Rebuilds the set once three quarters of its slots are free: slots and
    /// tree nodes are reused but never returned, so a big set trimmed down
    /// (ZREMRANGEBYRANK on a leaderboard) would otherwise keep its peak
    /// memory. O(N) after at least 3N removals. Bumps the scan epoch, so a
    /// ZSCAN in progress restarts (duplicates allowed, misses not).
    fn maybe_compact(&mut self) {
        let ids = self.slots.capacity_ids();
        if ids < COMPACT_MIN_SLOTS || self.len() * 4 > ids {
            return;
        }
        let mut items = Vec::with_capacity(self.len());
        for (score, id) in self.tree.range(0, self.tree.len, false) {
            items.push((score, id));
        }
        let items: Vec<(f64, SmallBytes)> = items
            .into_iter()
            .map(|(score, id)| {
                let member = std::mem::replace(&mut self.slots[id].member, SmallBytes::new(b""));
                (score, member)
            })
            .collect();
        let epoch = self.epoch.wrapping_add(1);
        *self = ZTree::from_sorted(items);
        self.epoch = epoch;
    }

    fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.find(member)?;
        let score = self.slots[id].score;
        let slots = &self.slots;
        Some(self.tree.lower_bound(|s, i| !slots.before(s, i, score, id)))
    }

    fn lower_bound(&self, probe: Probe<'_>) -> usize {
        let slots = &self.slots;
        self.tree
            .lower_bound(|s, i| probe.holds(s, || slots.member(i)))
    }

    fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        let (score, id) = self.tree.get(rank)?;
        Some((self.slots.member(id), score))
    }

    fn range(&self, start: usize, end: usize, rev: bool) -> TreeRange<'_> {
        TreeRange {
            inner: self.tree.range(start, end, rev),
            slots: &self.slots,
            remaining: end.saturating_sub(start),
        }
    }

    /// The cursor is the next slot id in its low 32 bits and the scan epoch
    /// in the high bits; a cursor from before a compaction starts over.
    fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let total = self.slots.capacity_ids() as u64;
        let epoch = (self.epoch as u64) << 32;
        let mut i = if cursor >> 32 == self.epoch as u64 {
            cursor & u32::MAX as u64
        } else {
            0
        };
        let mut found = 0;
        while i < total && found < count {
            let slot = &self.slots[i as u32];
            if !slot.score.is_nan() {
                f(slot.member.as_slice(), slot.score);
                found += 1;
            }
            i += 1;
        }
        if i >= total {
            0
        } else {
            epoch | i
        }
    }

    /// Checks every invariant of the structure (tests only).
    #[cfg(test)]
    fn check(&self) {
        self.tree.check(&self.slots);
        assert_eq!(self.index.len(), self.tree.len);
        let live = (0..self.slots.capacity_ids() as u32)
            .filter(|&i| !self.slots[i].score.is_nan())
            .count();
        assert_eq!(live, self.tree.len);
        for (member, score) in self.range(0, self.len(), false) {
            assert_eq!(self.score(member), Some(score));
        }
    }
}

/// Iterator over a rank range of a [`ZTree`].
pub struct TreeRange<'a> {
    inner: TreeIter<'a>,
    slots: &'a Slots,
    remaining: usize,
}

impl<'a> Iterator for TreeRange<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (score, id) = self.inner.next()?;
        self.remaining -= 1;
        Some((self.slots.member(id), score))
    }
}

// ---------------------------------------------------------------------------------------------
// The order-statistic B+tree of (score, slot id)
// ---------------------------------------------------------------------------------------------

const LEAF_CAP: usize = 64;
const INNER_CAP: usize = 64;
/// Below this a node is merged with or refilled from a sibling.
const LEAF_MIN: usize = LEAF_CAP / 4;
const INNER_MIN: usize = INNER_CAP / 4;

/// Elements in order; leaves are doubly linked for range walks.
#[derive(Clone, Copy)]
struct Leaf {
    len: u32,
    prev: u32,
    next: u32,
    scores: [f64; LEAF_CAP],
    ids: [u32; LEAF_CAP],
}

impl Leaf {
    fn empty() -> Leaf {
        Leaf {
            len: 0,
            prev: NIL,
            next: NIL,
            scores: [0.0; LEAF_CAP],
            ids: [NIL; LEAF_CAP],
        }
    }
}

/// Children with their element counts and their smallest element (the
/// separator keys: child i holds the elements from its minimum up to the
/// next child's minimum).
#[derive(Clone, Copy)]
struct Inner {
    len: u32,
    counts: [u32; INNER_CAP],
    children: [u32; INNER_CAP],
    min_scores: [f64; INNER_CAP],
    min_ids: [u32; INNER_CAP],
}

impl Inner {
    fn empty() -> Inner {
        Inner {
            len: 0,
            counts: [0; INNER_CAP],
            children: [NIL; INNER_CAP],
            min_scores: [0.0; INNER_CAP],
            min_ids: [NIL; INNER_CAP],
        }
    }

    fn total(&self) -> u32 {
        self.counts[..self.len as usize].iter().sum()
    }

    /// The child whose range holds the first element satisfying `pred`
    /// (monotone: false then true): the last child whose minimum fails it.
    #[inline]
    fn child_for(&self, pred: &impl Fn(f64, u32) -> bool) -> usize {
        let (mut lo, mut hi) = (1usize, self.len as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pred(self.min_scores[mid], self.min_ids[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo - 1
    }

    /// Opens a gap at `at` and stores a child there.
    fn insert_child(&mut self, at: usize, child: u32, count: u32, min: (f64, u32)) {
        let len = self.len as usize;
        self.children.copy_within(at..len, at + 1);
        self.counts.copy_within(at..len, at + 1);
        self.min_scores.copy_within(at..len, at + 1);
        self.min_ids.copy_within(at..len, at + 1);
        self.children[at] = child;
        self.counts[at] = count;
        self.min_scores[at] = min.0;
        self.min_ids[at] = min.1;
        self.len += 1;
    }

    fn remove_child(&mut self, at: usize) {
        let len = self.len as usize;
        self.children.copy_within(at + 1..len, at);
        self.counts.copy_within(at + 1..len, at);
        self.min_scores.copy_within(at + 1..len, at);
        self.min_ids.copy_within(at + 1..len, at);
        self.len -= 1;
    }
}

impl Leaf {
    /// Position of the first element satisfying `pred`.
    #[inline]
    fn position(&self, pred: &impl Fn(f64, u32) -> bool) -> usize {
        let (mut lo, mut hi) = (0usize, self.len as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pred(self.scores[mid], self.ids[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    fn insert_at(&mut self, at: usize, score: f64, id: u32) {
        let len = self.len as usize;
        self.scores.copy_within(at..len, at + 1);
        self.ids.copy_within(at..len, at + 1);
        self.scores[at] = score;
        self.ids[at] = id;
        self.len += 1;
    }

    fn remove_at(&mut self, at: usize) {
        let len = self.len as usize;
        self.scores.copy_within(at + 1..len, at);
        self.ids.copy_within(at + 1..len, at);
        self.len -= 1;
    }
}

#[derive(Clone)]
struct Tree {
    leaves: Pool<Leaf, 6>,
    inners: Pool<Inner, 4>,
    root: u32,
    /// Inner levels above the leaves (0: the root is a leaf).
    height: u32,
    len: usize,
}

impl Default for Tree {
    fn default() -> Self {
        let mut leaves = Pool::default();
        let root = leaves.alloc(Leaf::empty());
        Tree {
            leaves,
            inners: Pool::default(),
            root,
            height: 0,
            len: 0,
        }
    }
}

impl Tree {
    /// Builds a tree over elements already in order, leaves full (bulk load,
    /// O(N)), spreading elements evenly so no node starts underfull.
    fn from_sorted(items: &[(f64, u32)]) -> Tree {
        let mut t = Tree {
            leaves: Pool::default(),
            inners: Pool::default(),
            root: 0,
            height: 0,
            len: items.len(),
        };
        if items.is_empty() {
            t.root = t.leaves.alloc(Leaf::empty());
            return t;
        }
        // (node, element count, min) of the current level.
        let mut level: Vec<(u32, u32, (f64, u32))> = Vec::new();
        let groups = items.len().div_ceil(LEAF_CAP);
        let mut start = 0;
        let mut prev = NIL;
        for g in 0..groups {
            let end = start + (items.len() - start) / (groups - g);
            let mut leaf = Leaf::empty();
            for (i, &(s, id)) in items[start..end].iter().enumerate() {
                leaf.scores[i] = s;
                leaf.ids[i] = id;
            }
            leaf.len = (end - start) as u32;
            leaf.prev = prev;
            let node = t.leaves.alloc(leaf);
            if prev != NIL {
                t.leaves[prev].next = node;
            }
            prev = node;
            level.push((node, leaf.len, items[start]));
            start = end;
        }
        while level.len() > 1 {
            let groups = level.len().div_ceil(INNER_CAP);
            let mut next = Vec::with_capacity(groups);
            let mut start = 0;
            for g in 0..groups {
                let end = start + (level.len() - start) / (groups - g);
                let mut inner = Inner::empty();
                for (i, &(node, count, min)) in level[start..end].iter().enumerate() {
                    inner.children[i] = node;
                    inner.counts[i] = count;
                    inner.min_scores[i] = min.0;
                    inner.min_ids[i] = min.1;
                }
                inner.len = (end - start) as u32;
                let total = inner.total();
                let min = level[start].2;
                next.push((t.inners.alloc(inner), total, min));
                start = end;
            }
            level = next;
            t.height += 1;
        }
        t.root = level[0].0;
        t
    }

    /// The smallest element under `node` (a leaf when `level` is 0).
    #[inline]
    fn node_min(&self, node: u32, level: u32) -> (f64, u32) {
        if level == 0 {
            let l = &self.leaves[node];
            (l.scores[0], l.ids[0])
        } else {
            let n = &self.inners[node];
            (n.min_scores[0], n.min_ids[0])
        }
    }

    /// Entries (elements or children) directly in `node`.
    #[inline]
    fn node_len(&self, node: u32, level: u32) -> usize {
        if level == 0 {
            self.leaves[node].len as usize
        } else {
            self.inners[node].len as usize
        }
    }

    /// Rank of the first element for which `pred` holds; `pred` must be
    /// false for a prefix of the order and true for the rest.
    fn lower_bound(&self, pred: impl Fn(f64, u32) -> bool) -> usize {
        let mut node = self.root;
        let mut rank = 0usize;
        for _ in 0..self.height {
            let inner = &self.inners[node];
            let c = inner.child_for(&pred);
            rank += inner.counts[..c].iter().map(|&x| x as usize).sum::<usize>();
            node = inner.children[c];
        }
        rank + self.leaves[node].position(&pred)
    }

    /// Leaf and position of the element at `rank` (< len).
    fn locate(&self, mut rank: usize) -> (u32, usize) {
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node];
            let mut c = 0;
            while c + 1 < inner.len as usize && rank >= inner.counts[c] as usize {
                rank -= inner.counts[c] as usize;
                c += 1;
            }
            node = inner.children[c];
        }
        (node, rank)
    }

    fn get(&self, rank: usize) -> Option<(f64, u32)> {
        if rank >= self.len {
            return None;
        }
        let (leaf, pos) = self.locate(rank);
        let l = &self.leaves[leaf];
        Some((l.scores[pos], l.ids[pos]))
    }

    fn range(&self, start: usize, end: usize, rev: bool) -> TreeIter<'_> {
        let end = end.min(self.len);
        let start = start.min(end);
        let remaining = end - start;
        let (leaf, pos) = if remaining == 0 {
            (NIL, 0)
        } else if rev {
            self.locate(end - 1)
        } else {
            self.locate(start)
        };
        TreeIter {
            tree: self,
            leaf,
            pos,
            remaining,
            rev,
        }
    }

    fn insert(&mut self, slots: &Slots, score: f64, id: u32) {
        let root = self.root;
        if let Some((right, right_count)) = self.insert_rec(slots, root, self.height, score, id) {
            let total = (self.len + 1) as u32;
            let mut inner = Inner::empty();
            let left_min = self.node_min(root, self.height);
            let right_min = self.node_min(right, self.height);
            inner.insert_child(0, root, total - right_count, left_min);
            inner.insert_child(1, right, right_count, right_min);
            self.root = self.inners.alloc(inner);
            self.height += 1;
        }
        self.len += 1;
    }

    /// Inserts under `node`; returns the new right sibling and its element
    /// count when `node` had to split.
    fn insert_rec(
        &mut self,
        slots: &Slots,
        node: u32,
        level: u32,
        score: f64,
        id: u32,
    ) -> Option<(u32, u32)> {
        let pred = |s: f64, i: u32| !slots.before(s, i, score, id);
        if level == 0 {
            return self.leaf_insert(node, self.leaves[node].position(&pred), score, id);
        }
        let c = self.inners[node].child_for(&pred);
        let child = self.inners[node].children[c];
        let split = self.insert_rec(slots, child, level - 1, score, id);
        let child_min = self.node_min(child, level - 1);
        let split = split.map(|(right, count)| (right, count, self.node_min(right, level - 1)));
        let inner = &mut self.inners[node];
        inner.min_scores[c] = child_min.0;
        inner.min_ids[c] = child_min.1;
        inner.counts[c] += 1;
        let (right, right_count, right_min) = split?;
        inner.counts[c] -= right_count;
        if (inner.len as usize) < INNER_CAP {
            inner.insert_child(c + 1, right, right_count, right_min);
            return None;
        }
        // Split this inner node in half, then place the new child.
        let half = INNER_CAP / 2;
        let mut sibling = Inner::empty();
        let moved = INNER_CAP - half;
        sibling.children[..moved].copy_from_slice(&inner.children[half..]);
        sibling.counts[..moved].copy_from_slice(&inner.counts[half..]);
        sibling.min_scores[..moved].copy_from_slice(&inner.min_scores[half..]);
        sibling.min_ids[..moved].copy_from_slice(&inner.min_ids[half..]);
        sibling.len = moved as u32;
        inner.len = half as u32;
        if c < half {
            inner.insert_child(c + 1, right, right_count, right_min);
        } else {
            sibling.insert_child(c + 1 - half, right, right_count, right_min);
        }
        let total = sibling.total();
        Some((self.inners.alloc(sibling), total))
    }

    fn leaf_insert(&mut self, node: u32, pos: usize, score: f64, id: u32) -> Option<(u32, u32)> {
        let leaf = &mut self.leaves[node];
        let len = leaf.len as usize;
        if len < LEAF_CAP {
            leaf.insert_at(pos, score, id);
            return None;
        }
        // Appending to the last leaf (or prepending to the first) starts a
        // new leaf instead of halving this one, so sets filled in order end
        // up with full leaves.
        let split_at = if pos == len && leaf.next == NIL {
            len
        } else if pos == 0 && leaf.prev == NIL {
            0
        } else {
            len / 2
        };
        let mut right = Leaf::empty();
        let moved = len - split_at;
        right.scores[..moved].copy_from_slice(&leaf.scores[split_at..len]);
        right.ids[..moved].copy_from_slice(&leaf.ids[split_at..len]);
        right.len = moved as u32;
        leaf.len = split_at as u32;
        if pos < split_at || (pos == split_at && split_at < LEAF_CAP) {
            leaf.insert_at(pos, score, id);
        } else {
            right.insert_at(pos - split_at, score, id);
        }
        right.prev = node;
        right.next = leaf.next;
        let old_next = leaf.next;
        let right_len = right.len;
        let right_id = self.leaves.alloc(right);
        self.leaves[node].next = right_id;
        if old_next != NIL {
            self.leaves[old_next].prev = right_id;
        }
        Some((right_id, right_len))
    }

    /// Changes an element's score without moving it when its neighbours
    /// still bracket the new key (ZINCRBY by small steps, as Redis's
    /// zslUpdateScore does). False when it has to move.
    fn update_in_place(&mut self, slots: &Slots, old: f64, id: u32, new: f64) -> bool {
        // Descend as removal does: the last child whose minimum is <= the element.
        let after = |s: f64, i: u32| i != id && !slots.before(s, i, old, id);
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node];
            node = inner.children[inner.child_for(&after)];
        }
        let leaf = &self.leaves[node];
        let len = leaf.len as usize;
        let pos = leaf.position(&|s: f64, i: u32| !slots.before(s, i, old, id));
        // Position 0 is copied into the ancestors as a separator: moving it
        // in place would leave those copies stale.
        if pos == 0 || pos >= len || leaf.ids[pos] != id {
            return false;
        }
        let prev_ok = slots.before(leaf.scores[pos - 1], leaf.ids[pos - 1], new, id);
        let next_ok = if pos + 1 < len {
            slots.before(new, id, leaf.scores[pos + 1], leaf.ids[pos + 1])
        } else if leaf.next == NIL {
            true
        } else {
            let next = &self.leaves[leaf.next];
            slots.before(new, id, next.scores[0], next.ids[0])
        };
        if prev_ok && next_ok {
            self.leaves[node].scores[pos] = new;
            true
        } else {
            false
        }
    }

    fn remove(&mut self, slots: &Slots, score: f64, id: u32) -> bool {
        let root = self.root;
        if !self.remove_rec(slots, root, self.height, score, id) {
            return false;
        }
        self.len -= 1;
        while self.height > 0 && self.inners[self.root].len == 1 {
            let old = self.root;
            self.root = self.inners[old].children[0];
            self.inners.release(old);
            self.height -= 1;
        }
        true
    }

    fn remove_rec(&mut self, slots: &Slots, node: u32, level: u32, score: f64, id: u32) -> bool {
        if level == 0 {
            let pred = |s: f64, i: u32| !slots.before(s, i, score, id);
            let leaf = &mut self.leaves[node];
            let pos = leaf.position(&pred);
            if pos >= leaf.len as usize || leaf.ids[pos] != id {
                return false;
            }
            leaf.remove_at(pos);
            return true;
        }
        // The child holding the element: the last whose minimum is <= it.
        let pred = |s: f64, i: u32| i != id && !slots.before(s, i, score, id);
        let c = self.inners[node].child_for(&pred);
        let child = self.inners[node].children[c];
        if !self.remove_rec(slots, child, level - 1, score, id) {
            return false;
        }
        self.inners[node].counts[c] -= 1;
        let min = if level - 1 == 0 { LEAF_MIN } else { INNER_MIN };
        if self.node_len(child, level - 1) < min {
            self.rebalance(node, c, level - 1);
        } else {
            let m = self.node_min(child, level - 1);
            let inner = &mut self.inners[node];
            inner.min_scores[c] = m.0;
            inner.min_ids[c] = m.1;
        }
        true
    }

    /// Merges the underfull child `c` of `parent` with a sibling, or moves
    /// entries over from the sibling when both together do not fit one node.
    fn rebalance(&mut self, parent: u32, c: usize, level: u32) {
        let plen = self.inners[parent].len as usize;
        if plen < 2 {
            let child = self.inners[parent].children[c];
            if self.node_len(child, level) > 0 {
                let m = self.node_min(child, level);
                let inner = &mut self.inners[parent];
                inner.min_scores[c] = m.0;
                inner.min_ids[c] = m.1;
            }
            return;
        }
        let (l, r) = if c > 0 { (c - 1, c) } else { (c, c + 1) };
        let (ln, rn) = {
            let p = &self.inners[parent];
            (p.children[l], p.children[r])
        };
        if level == 0 {
            self.rebalance_leaves(parent, l, ln, rn);
        } else {
            self.rebalance_inners(parent, l, ln, rn);
        }
    }

    fn rebalance_leaves(&mut self, parent: u32, l: usize, ln: u32, rn: u32) {
        let right = self.leaves[rn];
        let left = &mut self.leaves[ln];
        let (llen, rlen) = (left.len as usize, right.len as usize);
        if llen + rlen <= LEAF_CAP {
            left.scores[llen..llen + rlen].copy_from_slice(&right.scores[..rlen]);
            left.ids[llen..llen + rlen].copy_from_slice(&right.ids[..rlen]);
            left.len = (llen + rlen) as u32;
            left.next = right.next;
            if right.next != NIL {
                self.leaves[right.next].prev = ln;
            }
            self.leaves.release(rn);
            let m = (self.leaves[ln].scores[0], self.leaves[ln].ids[0]);
            let p = &mut self.inners[parent];
            p.counts[l] += p.counts[l + 1];
            p.remove_child(l + 1);
            p.min_scores[l] = m.0;
            p.min_ids[l] = m.1;
            return;
        }
        // Even out: move entries across the boundary.
        let total = llen + rlen;
        let new_llen = total / 2;
        let mut right = right;
        if llen < new_llen {
            let k = new_llen - llen;
            left.scores[llen..new_llen].copy_from_slice(&right.scores[..k]);
            left.ids[llen..new_llen].copy_from_slice(&right.ids[..k]);
            right.scores.copy_within(k..rlen, 0);
            right.ids.copy_within(k..rlen, 0);
        } else {
            let k = llen - new_llen;
            right.scores.copy_within(0..rlen, k);
            right.ids.copy_within(0..rlen, k);
            right.scores[..k].copy_from_slice(&left.scores[new_llen..llen]);
            right.ids[..k].copy_from_slice(&left.ids[new_llen..llen]);
        }
        left.len = new_llen as u32;
        right.len = (total - new_llen) as u32;
        let lm = (left.scores[0], left.ids[0]);
        let rm = (right.scores[0], right.ids[0]);
        self.leaves[rn] = right;
        let p = &mut self.inners[parent];
        p.counts[l] = new_llen as u32;
        p.counts[l + 1] = (total - new_llen) as u32;
        p.min_scores[l] = lm.0;
        p.min_ids[l] = lm.1;
        p.min_scores[l + 1] = rm.0;
        p.min_ids[l + 1] = rm.1;
    }

    fn rebalance_inners(&mut self, parent: u32, l: usize, ln: u32, rn: u32) {
        let mut right = self.inners[rn];
        let left = &mut self.inners[ln];
        let (llen, rlen) = (left.len as usize, right.len as usize);
        if llen + rlen <= INNER_CAP {
            left.children[llen..llen + rlen].copy_from_slice(&right.children[..rlen]);
            left.counts[llen..llen + rlen].copy_from_slice(&right.counts[..rlen]);
            left.min_scores[llen..llen + rlen].copy_from_slice(&right.min_scores[..rlen]);
            left.min_ids[llen..llen + rlen].copy_from_slice(&right.min_ids[..rlen]);
            left.len = (llen + rlen) as u32;
            let m = (left.min_scores[0], left.min_ids[0]);
            self.inners.release(rn);
            let p = &mut self.inners[parent];
            p.counts[l] += p.counts[l + 1];
            p.remove_child(l + 1);
            p.min_scores[l] = m.0;
            p.min_ids[l] = m.1;
            return;
        }
        let total = llen + rlen;
        let new_llen = total / 2;
        if llen < new_llen {
            let k = new_llen - llen;
            left.children[llen..new_llen].copy_from_slice(&right.children[..k]);
            left.counts[llen..new_llen].copy_from_slice(&right.counts[..k]);
            left.min_scores[llen..new_llen].copy_from_slice(&right.min_scores[..k]);
            left.min_ids[llen..new_llen].copy_from_slice(&right.min_ids[..k]);
            right.children.copy_within(k..rlen, 0);
            right.counts.copy_within(k..rlen, 0);
            right.min_scores.copy_within(k..rlen, 0);
            right.min_ids.copy_within(k..rlen, 0);
        } else {
            let k = llen - new_llen;
            right.children.copy_within(0..rlen, k);
            right.counts.copy_within(0..rlen, k);
            right.min_scores.copy_within(0..rlen, k);
            right.min_ids.copy_within(0..rlen, k);
            right.children[..k].copy_from_slice(&left.children[new_llen..llen]);
            right.counts[..k].copy_from_slice(&left.counts[new_llen..llen]);
            right.min_scores[..k].copy_from_slice(&left.min_scores[new_llen..llen]);
            right.min_ids[..k].copy_from_slice(&left.min_ids[new_llen..llen]);
        }
        left.len = new_llen as u32;
        right.len = (total - new_llen) as u32;
        let (lc, lm) = (left.total(), (left.min_scores[0], left.min_ids[0]));
        let (rc, rm) = (right.total(), (right.min_scores[0], right.min_ids[0]));
        self.inners[rn] = right;
        let p = &mut self.inners[parent];
        p.counts[l] = lc;
        p.counts[l + 1] = rc;
        p.min_scores[l] = lm.0;
        p.min_ids[l] = lm.1;
        p.min_scores[l + 1] = rm.0;
        p.min_ids[l + 1] = rm.1;
    }

    /// Checks counts, separators, order, fill and leaf links (tests only).
    #[cfg(test)]
    fn check(&self, slots: &Slots) {
        let mut leaves_in_order = Vec::new();
        let n = self.check_node(slots, self.root, self.height, true, &mut leaves_in_order);
        assert_eq!(n, self.len, "element count");
        // Leaf chain matches the in-order leaves and the order is strict.
        let mut prev = NIL;
        for (i, &leaf) in leaves_in_order.iter().enumerate() {
            assert_eq!(self.leaves[leaf].prev, prev, "prev link of leaf {i}");
            if prev != NIL {
                assert_eq!(self.leaves[prev].next, leaf, "next link");
            }
            prev = leaf;
        }
        assert_eq!(self.leaves[prev].next, NIL);
        let all: Vec<(f64, u32)> = self.range(0, self.len, false).collect();
        assert_eq!(all.len(), self.len);
        for w in all.windows(2) {
            assert!(slots.before(w[0].0, w[0].1, w[1].0, w[1].1), "order");
        }
        for (i, &(s, id)) in all.iter().enumerate() {
            assert_eq!(slots[id].score, s, "score copy");
            assert_eq!(
                self.lower_bound(|x, j| !slots.before(x, j, s, id)),
                i,
                "rank"
            );
        }
    }

    #[cfg(test)]
    fn check_node(
        &self,
        slots: &Slots,
        node: u32,
        level: u32,
        is_root: bool,
        out: &mut Vec<u32>,
    ) -> usize {
        if level == 0 {
            let l = &self.leaves[node];
            assert!(is_root || l.len > 0, "empty non-root leaf");
            out.push(node);
            return l.len as usize;
        }
        let inner = &self.inners[node];
        assert!(inner.len >= if is_root { 2 } else { 1 }, "inner fill");
        let mut total = 0;
        for c in 0..inner.len as usize {
            let child = inner.children[c];
            let n = self.check_node(slots, child, level - 1, false, out);
            assert_eq!(n, inner.counts[c] as usize, "count of child {c}");
            let m = self.node_min(child, level - 1);
            assert_eq!(
                (m.0, m.1),
                (inner.min_scores[c], inner.min_ids[c]),
                "separator"
            );
            total += n;
        }
        let _ = slots;
        total
    }
}

/// Walks leaves from a position, forward or backward.
struct TreeIter<'a> {
    tree: &'a Tree,
    leaf: u32,
    pos: usize,
    remaining: usize,
    rev: bool,
}

impl Iterator for TreeIter<'_> {
    type Item = (f64, u32);

    #[inline]
    fn next(&mut self) -> Option<(f64, u32)> {
        if self.remaining == 0 {
            return None;
        }
        let leaf = &self.tree.leaves[self.leaf];
        let item = (leaf.scores[self.pos], leaf.ids[self.pos]);
        self.remaining -= 1;
        if self.remaining > 0 {
            if self.rev {
                if self.pos == 0 {
                    self.leaf = leaf.prev;
                    self.pos = self.tree.leaves[self.leaf].len as usize - 1;
                } else {
                    self.pos -= 1;
                }
            } else if self.pos + 1 == leaf.len as usize {
                self.leaf = leaf.next;
                self.pos = 0;
            } else {
                self.pos += 1;
            }
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tiny deterministic PRNG (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Model: member → score, plus the (score, member) order kept alongside
    /// (test scores are integers, so they order exactly as i64).
    #[derive(Default)]
    struct Model {
        map: BTreeMap<Vec<u8>, f64>,
        ord: std::collections::BTreeSet<(i64, Vec<u8>)>,
    }

    impl Model {
        fn len(&self) -> usize {
            self.map.len()
        }
        fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
            let old = self.remove(m);
            self.map.insert(m.to_vec(), s);
            self.ord.insert((s as i64, m.to_vec()));
            old
        }
        fn remove(&mut self, m: &[u8]) -> Option<f64> {
            let old = self.map.remove(m)?;
            self.ord.remove(&(old as i64, m.to_vec()));
            Some(old)
        }
        fn order(&self) -> Vec<(Vec<u8>, f64)> {
            self.ord
                .iter()
                .map(|(s, m)| (m.clone(), *s as f64))
                .collect()
        }
    }

    fn run_against_model(seed: u64, ops: usize, members: u64, scores: u64) {
        let mut rng = Rng(seed | 1);
        let mut z = ZSetValue::Skiplist(Box::default());
        let mut model = Model::default();
        for step in 0..ops {
            let m = format!("m{}", rng.below(members)).into_bytes();
            match rng.below(10) {
                0..=4 => {
                    let s = rng.below(scores) as f64 - (scores / 2) as f64;
                    let out = z.add(&m, s, AddFlags::default());
                    match model.insert(&m, s) {
                        None => assert_eq!(out, AddOutcome::Added(s)),
                        Some(b) if b == s => assert_eq!(out, AddOutcome::Unchanged(s)),
                        Some(_) => assert_eq!(out, AddOutcome::Updated(s)),
                    }
                }
                5 => {
                    let incr = rng.below(5) as f64 - 2.0;
                    let flags = AddFlags {
                        incr: true,
                        ..Default::default()
                    };
                    z.add(&m, incr, flags);
                    let cur = model.map.get(&m).copied().unwrap_or(0.0);
                    model.insert(&m, cur + incr);
                }
                6 | 7 => {
                    assert_eq!(z.remove(&m), model.remove(&m).is_some());
                }
                8 => {
                    if model.len() > 0 {
                        let a = rng.below(model.len() as u64) as usize;
                        let b = a + rng.below(5) as usize;
                        let n = z.remove_range(a, b);
                        let end = b.min(model.len());
                        assert_eq!(n, end - a);
                        let gone: Vec<Vec<u8>> = model
                            .ord
                            .iter()
                            .skip(a)
                            .take(end - a)
                            .map(|(_, m)| m.clone())
                            .collect();
                        for k in gone {
                            model.remove(&k);
                        }
                    }
                }
                _ => {
                    let max = rng.below(2) == 0;
                    let want = if max {
                        model.ord.last()
                    } else {
                        model.ord.first()
                    }
                    .map(|(s, m)| (m.clone(), *s as f64));
                    let got = z.pop(max);
                    assert_eq!(got.as_ref().map(|(m, s)| (m.as_slice().to_vec(), *s)), want);
                    if let Some((k, _)) = want {
                        model.remove(&k);
                    }
                }
            }
            // Full checks cost O(n log n): space them out as the set grows.
            let every = 97 + model.len() / 4;
            if step % every == 0 || step + 1 == ops {
                if let ZSetValue::Skiplist(t) = &z {
                    t.check();
                }
                let order = model.order();
                let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(got, order, "seed {seed} step {step}");
                for (i, (k, s)) in order.iter().enumerate() {
                    assert_eq!(z.rank(k), Some(i));
                    assert_eq!(z.score(k), Some(*s));
                }
                let rev: Vec<(Vec<u8>, f64)> = z
                    .range(0, order.len(), true)
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect();
                let mut want_rev = order.clone();
                want_rev.reverse();
                assert_eq!(rev, want_rev);
                // Score bounds.
                for probe in [-3.0, 0.0, 2.0] {
                    let lb = z.lower_bound(Probe::Score(probe, false));
                    assert_eq!(lb, order.iter().filter(|(_, s)| *s < probe).count());
                    let ub = z.lower_bound(Probe::Score(probe, true));
                    assert_eq!(ub, order.iter().filter(|(_, s)| *s <= probe).count());
                }
            }
        }
    }

    #[test]
    fn tree_matches_model_small_keyspace() {
        for seed in 1..6 {
            run_against_model(seed, 4000, 300, 20);
        }
    }

    #[test]
    fn tree_matches_model_many_members() {
        run_against_model(42, 30000, 5000, 1000);
        run_against_model(7, 20000, 20000, 3);
    }

    #[test]
    fn ordered_inserts_fill_leaves() {
        let mut z = ZSetValue::Skiplist(Box::default());
        for i in 0..10_000 {
            z.add(format!("{i:08}").as_bytes(), i as f64, AddFlags::default());
        }
        let ZSetValue::Skiplist(t) = &z else { panic!() };
        t.check();
        // Appends fill leaves completely: ~10000/64 leaves.
        assert!(t.tree.leaves.capacity_ids() <= 10_000 / LEAF_CAP + 2);
        for i in (0..10_000).rev() {
            z.add(
                format!("{i:08}").as_bytes(),
                -(i as f64),
                AddFlags::default(),
            );
        }
        let ZSetValue::Skiplist(t) = &z else { panic!() };
        t.check();
        assert_eq!(
            z.get(0).map(|(m, _)| m.to_vec()),
            Some(b"00009999".to_vec())
        );
    }

    #[test]
    fn bulk_load_and_drain() {
        for n in [0usize, 1, 63, 64, 65, 129, 4096, 4097, 70_000] {
            let items: Vec<(f64, SmallBytes)> = (0..n)
                .map(|i| {
                    (
                        (i / 3) as f64,
                        SmallBytes::new(format!("x{i:06}").as_bytes()),
                    )
                })
                .collect();
            let mut z = ZSetValue::Skiplist(Box::new(ZTree::from_sorted(items)));
            if let ZSetValue::Skiplist(t) = &z {
                t.check();
            }
            let mut left = n;
            let mut flip = false;
            while left > 0 {
                let take = (left / 3).max(1);
                if flip {
                    z.remove_range(left - take, left);
                } else {
                    z.remove_range(0, take);
                }
                flip = !flip;
                left -= take;
                if let ZSetValue::Skiplist(t) = &z {
                    t.check();
                }
                assert_eq!(z.len(), left);
            }
        }
    }

    #[test]
    fn listpack_converts_at_thresholds() {
        let mut z = ZSetValue::for_first_member(b"a");
        for i in 0..zset_max_entries() {
            z.add(format!("{i}").as_bytes(), i as f64, AddFlags::default());
        }
        assert_eq!(z.encoding(), "listpack");
        z.add(b"one more", 0.0, AddFlags::default());
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSetValue::for_first_member(b"a");
        z.add(&[b'x'; 65], 1.0, AddFlags::default());
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(
            ZSetValue::for_first_member(&[b'x'; 65]).encoding(),
            "skiplist"
        );
    }

    #[test]
    fn trimmed_sets_compact_and_scans_survive_it() {
        let mut z = ZSetValue::Skiplist(Box::default());
        for i in 0..20_000 {
            z.add(
                format!("m{i:05}").as_bytes(),
                (i % 100) as f64,
                AddFlags::default(),
            );
        }
        let ZSetValue::Skiplist(t) = &z else { panic!() };
        let peak = t.heap_size();
        // Start a scan, then trim the set to its top 2000 while it runs.
        let mut seen = std::collections::HashSet::new();
        let mut cursor = z.scan(0, 500, |m, _| {
            seen.insert(m.to_vec());
        });
        let keep: Vec<Vec<u8>> = z
            .range(18_000, 20_000, false)
            .map(|(m, _)| m.to_vec())
            .collect();
        z.remove_range(0, 18_000);
        let ZSetValue::Skiplist(t) = &z else { panic!() };
        t.check();
        assert!(t.epoch > 0, "compacted");
        assert!(t.heap_size() * 4 < peak, "{} vs peak {peak}", t.heap_size());
        while cursor != 0 {
            cursor = z.scan(cursor, 500, |m, _| {
                seen.insert(m.to_vec());
            });
        }
        for m in &keep {
            assert!(seen.contains(m));
        }
        // Member removals compact too, and the set stays usable.
        for m in &keep[..1900] {
            assert!(z.remove(m));
        }
        let ZSetValue::Skiplist(t) = &z else { panic!() };
        t.check();
        assert_eq!(z.len(), 100);
        assert_eq!(z.rank(&keep[1950]), Some(50));
    }

    #[test]
    fn scan_visits_every_member_once() {
        let mut z = ZSetValue::Skiplist(Box::default());
        for i in 0..1000 {
            z.add(
                format!("m{i}").as_bytes(),
                (i % 7) as f64,
                AddFlags::default(),
            );
        }
        for i in (0..1000).step_by(3) {
            z.remove(format!("m{i}").as_bytes());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = z.scan(cursor, 10, |m, _| assert!(seen.insert(m.to_vec())));
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), z.len());
    }
}
