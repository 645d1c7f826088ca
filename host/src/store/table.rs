//! One shard's key table: entries stored densely in a `Vec` with a hash index
//! of `u32` positions into it.
//!
//! Why not a plain hash map: the dense vector gives SCAN a cursor that never
//! misses a key (see [`KeyTable::scan`]), gives RANDOMKEY and eviction O(1)
//! uniform sampling, and costs ~5 bytes of index per slot instead of a whole
//! entry per (often half-empty) hash bucket.

use super::value::{SmallBytes, Value};
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// One key: its name, value and absolute expiry in unix milliseconds (0 = none).
#[derive(Debug)]
pub struct Entry {
    pub key: SmallBytes,
    pub value: Value,
    pub(super) expire_at: i64,
    /// Redis's `robj.lru`: the LRU clock (unix seconds mod 2^24) of the last
    /// access, or under an LFU policy the LFU counter and its decay minute
    /// (see evict.rs). OBJECT IDLETIME / FREQ and eviction read it.
    pub(super) lru: u32,
    /// The epoch of the snapshot that must not emit this entry from the table
    /// (created during it, or its pre-image already preserved); see
    /// snapshot.rs. Fills the padding: an `Entry` stays 64 bytes.
    pub(super) snap: u32,
}

impl Entry {
    /// Absolute expiry in unix ms, or None when the key is persistent.
    #[inline]
    pub fn expire_at(&self) -> Option<i64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    /// Seconds since the last access, given the current unix seconds.
    pub fn idle_seconds(&self, now_s: u32) -> u32 {
        super::evict::idle_seconds(self.lru, now_s)
    }

    /// Makes the key look idle for `idle` seconds (RESTORE IDLETIME, loading
    /// an RDB's LRU opcode).
    pub fn set_idle_seconds(&mut self, now_s: u32, idle: u64) {
        self.lru = super::evict::lru_for_idle(now_s, idle);
    }

    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// The raw access field (LRU clock or LFU data, see evict.rs).
    pub fn lru(&self) -> u32 {
        self.lru
    }

    /// A copy of the entry as it is now (a snapshot's pre-image).
    pub(super) fn pre_image(&self) -> Entry {
        Entry {
            key: self.key.clone(),
            value: self.value.clone(),
            expire_at: self.expire_at,
            lru: self.lru,
            snap: 0,
        }
    }

    /// Approximate bytes this entry holds (inline slot plus heap).
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Entry>() + self.key.heap_size() + self.value.heap_size()
    }
}

pub type KeyHasher = foldhash::fast::FixedState;

/// Entries per chunk once a table outgrows its first chunk.
const CHUNK: usize = 1024;

/// A vector stored in fixed-size chunks: growing never copies or frees a big
/// buffer (which left the allocator holding freed copies and cost ~25% RSS at
/// a million keys), and the slack is at most one chunk per shard.
pub struct ChunkedVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkedVec<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => {
                // The first chunk grows by doubling so small tables stay small.
                if last.len() == last.capacity() {
                    let want = (last.capacity() * 2).clamp(4, CHUNK);
                    last.reserve_exact(want - last.len());
                }
                last.push(item);
            }
            _ => {
                let mut chunk = Vec::with_capacity(if self.chunks.is_empty() { 4 } else { CHUNK });
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// Removes item `i`, moving the last item into its place.
    pub fn swap_remove(&mut self, i: usize) -> T {
        assert!(i < self.len, "swap_remove index {i} out of bounds");
        let last_chunk = self.chunks.last_mut().expect("non-empty");
        let mut item = last_chunk.pop().expect("non-empty chunk");
        if last_chunk.is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        if i < self.len {
            std::mem::swap(&mut item, &mut self.chunks[i / CHUNK][i % CHUNK]);
        }
        item
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// The items, by value, in position order.
    pub fn into_items(self) -> impl Iterator<Item = T> {
        self.chunks.into_iter().flatten()
    }

    /// Bytes reserved for items.
    pub fn capacity_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.capacity() * std::mem::size_of::<T>())
            .sum()
    }
}

impl<T> std::ops::Index<usize> for ChunkedVec<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> std::ops::IndexMut<usize> for ChunkedVec<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

pub struct KeyTable {
    entries: ChunkedVec<Entry>,
    index: HashTable<u32>,
    hasher: KeyHasher,
}

impl KeyTable {
    pub fn new(hasher: KeyHasher) -> Self {
        KeyTable {
            entries: ChunkedVec::default(),
            index: HashTable::new(),
            hasher,
        }
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Position of `key`, if present.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash, |&i| entries[i as usize].key.as_slice() == key)
            .map(|&i| i as usize)
    }

    #[inline]
    pub fn at(&self, pos: usize) -> &Entry {
        &self.entries[pos]
    }

    #[inline]
    pub(super) fn at_mut(&mut self, pos: usize) -> &mut Entry {
        &mut self.entries[pos]
    }

    /// Adds an entry whose key is known to be absent; returns its position.
    pub(super) fn push(&mut self, hash: u64, entry: Entry) -> usize {
        let pos = self.entries.len();
        self.entries.push(entry);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, pos as u32, |&i| {
            hasher.hash_one(entries[i as usize].key.as_slice())
        });
        pos
    }

    /// Removes the entry at `pos` (whose key hashes to `hash`). The last entry
    /// moves into the hole: that keeps the vector dense, and SCAN walks from the
    /// end towards 0, so a moved entry always goes from the visited part to
    /// another visited position or to one not yet visited, never past the cursor.
    pub(super) fn remove_at(&mut self, pos: usize, hash: u64) -> Entry {
        if let Ok(slot) = self.index.find_entry(hash, |&i| i as usize == pos) {
            slot.remove();
        }
        let last = self.entries.len() - 1;
        if pos != last {
            let moved_hash = self.hasher.hash_one(self.entries[last].key.as_slice());
            if let Some(slot) = self.index.find_mut(moved_hash, |&i| i as usize == last) {
                *slot = pos as u32;
            }
        }
        let entry = self.entries.swap_remove(pos);
        self.maybe_shrink();
        entry
    }

    /// Positions of entries whose key hashes to `hash` (for the expiry queue,
    /// which remembers hashes rather than keys).
    pub fn positions_with_hash(&self, hash: u64) -> smallvec::SmallVec<[usize; 2]> {
        self.index.iter_hash(hash).map(|&i| i as usize).collect()
    }

    /// Gives memory back after mass deletion, with hysteresis so a table
    /// oscillating around a size does not reallocate on every call.
    /// (Entry chunks free themselves as the table shrinks; this is for the index.)
    fn maybe_shrink(&mut self) {
        let (len, cap) = (self.entries.len(), self.index.capacity());
        if cap > 1024 && len < cap / 4 {
            let (entries, hasher) = (&self.entries, &self.hasher);
            self.index.shrink_to(len * 2, |&i| {
                hasher.hash_one(entries[i as usize].key.as_slice())
            });
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// One SCAN step: visits positions `start-1` down to 0 (start clamped to
    /// the current length), calling `visit` for each, until `visit` has been
    /// called `count` times. Returns the next start, 0 when the shard is done.
    pub fn scan(&self, start: usize, count: usize, mut visit: impl FnMut(&Entry)) -> usize {
        let mut pos = start.min(self.entries.len());
        let mut n = 0;
        while pos > 0 && n < count {
            pos -= 1;
            visit(&self.entries[pos]);
            n += 1;
        }
        pos
    }

    /// Drops every entry, returning the old contents (so a FLUSH ASYNC can free
    /// them on another thread).
    pub(super) fn take(&mut self) -> (ChunkedVec<Entry>, HashTable<u32>) {
        (
            std::mem::take(&mut self.entries),
            std::mem::take(&mut self.index),
        )
    }

    /// Approximate bytes held by the table structure itself.
    pub fn overhead_bytes(&self) -> usize {
        self.entries.capacity_bytes() + self.index.capacity() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> KeyTable {
        KeyTable::new(KeyHasher::with_seed(7))
    }

    fn put(t: &mut KeyTable, k: &str) {
        let h = t.hash(k.as_bytes());
        t.push(
            h,
            Entry {
                key: SmallBytes::new(k.as_bytes()),
                value: Value::Int(1),
                expire_at: 0,
                lru: 0,
                snap: 0,
            },
        );
    }

    #[test]
    fn insert_find_remove_keep_index_consistent() {
        let mut t = table();
        for i in 0..5000 {
            put(&mut t, &format!("k{i}"));
        }
        for i in (0..5000).step_by(3) {
            let k = format!("k{i}");
            let h = t.hash(k.as_bytes());
            let pos = t.find(h, k.as_bytes()).expect("present");
            t.remove_at(pos, h);
        }
        for i in 0..5000 {
            let k = format!("k{i}");
            let found = t.find(t.hash(k.as_bytes()), k.as_bytes()).is_some();
            assert_eq!(found, i % 3 != 0, "{k}");
        }
        assert_eq!(std::mem::size_of::<Entry>(), 64);
    }

    #[test]
    fn scan_returns_every_surviving_key_despite_deletes_and_inserts() {
        let mut t = table();
        for i in 0..1000 {
            put(&mut t, &format!("k{i}"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = t.len();
        let mut round = 0;
        loop {
            cursor = t.scan(cursor, 10, |e| {
                seen.insert(e.key.as_slice().to_vec());
            });
            // Churn between steps: delete keys k0..k499 (never returned needed) and add new ones.
            if round < 500 {
                let k = format!("k{round}");
                let h = t.hash(k.as_bytes());
                if let Some(pos) = t.find(h, k.as_bytes()) {
                    t.remove_at(pos, h);
                }
                put(&mut t, &format!("new{round}"));
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 500..1000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }
}
