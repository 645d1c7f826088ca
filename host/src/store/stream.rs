//! The stream type's value (Redis's t_stream.c data side): entries ordered by
//! ID, packed into nodes, plus the consumer groups with their pending entries
//! lists (PELs). The command side lives in commands/streams.rs.
//!
//! # Layout
//!
//! Like Redis's radix tree of listpacks, entries are packed into nodes of up
//! to `stream-node-max-entries` entries, kept in a `BTreeMap` keyed by the
//! node's *master ID* (the ID of the first entry ever added to it). A node is
//! one `Vec<u8>`:
//!
//! ```text
//! master fields:  varint n, n × (varint len, bytes)
//! entry:          flags u8, varint ms-delta, varint zigzag(seq-delta),
//!                 [varint n, n × field]   (only without SAMEFIELDS)
//!                 n × value               (each varint len, bytes)
//! ```
//!
//! IDs are deltas from the master ID, and an entry whose field names equal the
//! master's (the usual case: every entry of a stream has the same shape) stores
//! only its values. `XADD s * f v` thus costs 5 bytes per entry.
//!
//! Deletion marks the entry's DELETED flag (a tombstone) and keeps counters,
//! as Redis does; a node whose live entries are all gone is dropped. Node
//! boundaries follow Redis's rules exactly (entries counted with tombstones,
//! and the byte size the node would have *as a Redis listpack*, tracked in
//! [`Node::lp_bytes`]), because approximate trimming (`MAXLEN ~`) removes
//! whole nodes and so its visible result depends on where nodes split.
//! XINFO STREAM's radix-tree-nodes is likewise computed as the node count of
//! Redis's rax holding our node keys.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A stream entry ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID, or None past the last possible one (streamIncrID).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None before 0-0 (streamDecrID).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// "ms-seq" into `buf`, without allocating.
    pub fn format<'a>(&self, buf: &'a mut IdBuf) -> &'a [u8] {
        let mut a = itoa::Buffer::new();
        let ms = a.format(self.ms).as_bytes();
        let n = ms.len();
        buf.0[..n].copy_from_slice(ms);
        buf.0[n] = b'-';
        let mut b = itoa::Buffer::new();
        let seq = b.format(self.seq).as_bytes();
        buf.0[n + 1..n + 1 + seq.len()].copy_from_slice(seq);
        &buf.0[..n + 1 + seq.len()]
    }

    /// The 128-bit big-endian form Redis uses as rax key.
    fn encode(&self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&self.ms.to_be_bytes());
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }
}

/// Stack buffer for a formatted ID (two u64 and a dash).
pub struct IdBuf([u8; 41]);

impl IdBuf {
    pub fn new() -> Self {
        IdBuf([0; 41])
    }
}

impl Default for IdBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// `stream-node-max-bytes` / `stream-node-max-entries`.
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Redis's STREAM_LISTPACK_MAX_SIZE: the cap on a node, and on one entry.
pub const LISTPACK_MAX_SIZE: u64 = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    MaxLen(u64),
    MinId(StreamId),
}

/// What XADD's and XTRIM's trimming options ask for.
#[derive(Clone, Copy, Debug)]
pub struct TrimArgs {
    pub strategy: TrimStrategy,
    /// `~`: only whole nodes are removed.
    pub approx: bool,
    /// Most entries to remove (0 = no limit).
    pub limit: u64,
}

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;

/// One packed run of entries (a Redis listpack).
#[derive(Clone, Debug)]
struct Node {
    data: Vec<u8>,
    /// Offset of the first entry (after the master fields).
    first_entry: u32,
    /// Entries not marked deleted.
    live: u32,
    /// Tombstones.
    deleted: u32,
    /// The size this node would have as a Redis listpack (see module doc).
    lp_bytes: u64,
}

// ---------------------------------------------------------------------------
// Varints and Redis listpack size accounting
// ---------------------------------------------------------------------------

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn get_varint(data: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = data.get(*pos) {
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
        if shift >= 64 {
            break;
        }
    }
    v
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads a varint length followed by that many bytes.
#[inline]
fn get_bytes<'a>(data: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(data, pos) as usize;
    let start = (*pos).min(data.len());
    let end = start.saturating_add(len).min(data.len());
    *pos = end;
    &data[start..end]
}

#[inline]
fn skip_bytes(data: &[u8], pos: &mut usize) {
    let len = get_varint(data, pos) as usize;
    *pos = pos.saturating_add(len).min(data.len());
}

/// Bytes of a listpack element's back-length field (lpEncodeBacklen).
fn lp_backlen(l: u64) -> u64 {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Bytes of an integer element, back-length included.
fn lp_int_size(v: i64) -> u64 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

/// lpStringToInt64: the strings a listpack stores as integers.
fn lp_string_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    crate::util::num::parse_i64(s)
}

/// Bytes of a string element, back-length included.
fn lp_str_size(s: &[u8]) -> u64 {
    if let Some(v) = lp_string_int(s) {
        return lp_int_size(v);
    }
    let n = s.len() as u64;
    let enc = if n < 64 {
        1 + n
    } else if n < 4096 {
        2 + n
    } else {
        5 + n
    };
    enc + lp_backlen(enc)
}

// ---------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------

/// A borrowed view of one entry's fields and values.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    /// Master field names (for SAMEFIELDS entries), positioned at the first.
    master: &'a [u8],
    /// The entry's body: values, or interleaved fields and values.
    body: &'a [u8],
    same: bool,
    pairs: usize,
}

impl<'a> Entry<'a> {
    /// Number of field-value pairs.
    pub fn len(&self) -> usize {
        self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    pub fn pairs(&self) -> Pairs<'a> {
        Pairs {
            entry: *self,
            mpos: 0,
            pos: 0,
            left: self.pairs,
        }
    }
}

pub struct Pairs<'a> {
    entry: Entry<'a>,
    mpos: usize,
    pos: usize,
    left: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let e = &self.entry;
        let field = if e.same {
            get_bytes(e.master, &mut self.mpos)
        } else {
            get_bytes(e.body, &mut self.pos)
        };
        let value = get_bytes(e.body, &mut self.pos);
        Some((field, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// A decoded entry header inside a node.
struct Raw {
    id: StreamId,
    flags: u8,
    /// Offset of the flags byte.
    at: usize,
    /// Offset of the body (after the optional field count).
    body: usize,
    /// Offset just past the entry.
    end: usize,
    pairs: usize,
}

impl Node {
    fn new(fields: &[&[u8]]) -> Node {
        let mut data = Vec::with_capacity(64);
        put_varint(&mut data, fields.len() as u64);
        let mut lp = 7 + lp_int_size(0) + lp_int_size(0) + lp_int_size(fields.len() as i64);
        for f in fields {
            put_varint(&mut data, f.len() as u64);
            data.extend_from_slice(f);
            lp += lp_str_size(f);
        }
        lp += lp_int_size(0);
        Node {
            first_entry: data.len() as u32,
            data,
            live: 0,
            deleted: 0,
            lp_bytes: lp,
        }
    }

    /// The master field names: count and the encoded names.
    fn master(&self) -> (usize, &[u8]) {
        let mut pos = 0;
        let n = get_varint(&self.data, &mut pos) as usize;
        (n, &self.data[pos..self.first_entry as usize])
    }

    fn same_fields(&self, fields: &[&[u8]]) -> bool {
        let (n, mut names) = self.master();
        if n != fields.len() {
            return false;
        }
        let mut pos = 0;
        for f in fields {
            if get_bytes(names, &mut pos) != *f {
                return false;
            }
        }
        names = &names[pos..];
        names.is_empty()
    }

    /// Decodes the entry at `at`.
    fn raw(&self, master_id: StreamId, master_fields: usize, at: usize) -> Raw {
        let d = &self.data;
        let mut pos = at;
        let flags = d.get(pos).copied().unwrap_or(0);
        pos += 1;
        let ms = master_id.ms.wrapping_add(get_varint(d, &mut pos));
        let seq = master_id
            .seq
            .wrapping_add(unzigzag(get_varint(d, &mut pos)) as u64);
        let same = flags & FLAG_SAMEFIELDS != 0;
        let pairs = if same {
            master_fields
        } else {
            get_varint(d, &mut pos) as usize
        };
        let body = pos;
        let items = if same { pairs } else { pairs * 2 };
        for _ in 0..items {
            skip_bytes(d, &mut pos);
        }
        Raw {
            id: StreamId::new(ms, seq),
            flags,
            at,
            body,
            end: pos,
            pairs,
        }
    }

    fn entry<'a>(&'a self, raw: &Raw, master: &'a [u8]) -> Entry<'a> {
        Entry {
            master,
            body: &self.data[raw.body..raw.end],
            same: raw.flags & FLAG_SAMEFIELDS != 0,
            pairs: raw.pairs,
        }
    }

    /// Calls `f` for every entry (tombstones included) in order; stops when it
    /// returns false.
    fn scan(&self, master_id: StreamId, mut f: impl FnMut(&Raw) -> bool) {
        let (nf, _) = self.master();
        let mut at = self.first_entry as usize;
        while at < self.data.len() {
            let raw = self.raw(master_id, nf, at);
            if !f(&raw) {
                return;
            }
            at = raw.end;
        }
    }

    /// Offsets of every entry, for walking a node backwards.
    fn offsets(&self, master_id: StreamId) -> smallvec::SmallVec<[u32; 128]> {
        let mut v = smallvec::SmallVec::new();
        self.scan(master_id, |r| {
            v.push(r.at as u32);
            true
        });
        v
    }

    /// ID of the node's last entry, tombstone or not (lpGetEdgeStreamID).
    fn last_id(&self, master_id: StreamId) -> Option<StreamId> {
        let mut last = None;
        self.scan(master_id, |r| {
            last = Some(r.id);
            true
        });
        last
    }

    /// Marks the entry at `at` deleted, keeping the counters and the
    /// listpack size in step with Redis.
    fn mark_deleted(&mut self, at: usize) {
        if let Some(b) = self.data.get_mut(at) {
            *b |= FLAG_DELETED;
        }
        self.set_counts(self.live.saturating_sub(1), self.deleted + 1);
    }

    fn set_counts(&mut self, live: u32, deleted: u32) {
        let old = lp_int_size(self.live as i64) + lp_int_size(self.deleted as i64);
        let new = lp_int_size(live as i64) + lp_int_size(deleted as i64);
        self.lp_bytes = self.lp_bytes + new - old;
        self.live = live;
        self.deleted = deleted;
    }
}

// ---------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------

/// A pending (delivered, not acknowledged) entry.
#[derive(Clone, Debug)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer it was last delivered to (the key of its entry in
    /// [`ConsumerGroup::consumers`]).
    pub consumer: Arc<[u8]>,
}

#[derive(Clone, Debug)]
pub struct Consumer {
    pub seen_time: i64,
    /// The IDs of this consumer's pending entries (details in the group PEL).
    pub pel: BTreeSet<StreamId>,
}

/// Redis's SCG_INVALID_ENTRIES_READ.
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Clone, Debug)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    /// Logical read counter, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    /// By name, in byte order (as Redis's rax lists them).
    pub consumers: BTreeMap<Arc<[u8]>, Consumer>,
}

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: i64) -> Self {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer's shared name, creating the consumer if needed; the bool
    /// says whether it was created. `now` refreshes its seen-time.
    pub fn consumer(&mut self, name: &[u8], now: i64) -> (Arc<[u8]>, bool) {
        if let Some(k) = self.consumers.get_key_value(name).map(|(k, _)| k.clone()) {
            if let Some(c) = self.consumers.get_mut(name) {
                c.seen_time = now;
            }
            return (k, false);
        }
        let k: Arc<[u8]> = Arc::from(name);
        self.consumers.insert(
            k.clone(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        (k, true)
    }

    /// Creates a consumer; false if it exists (XGROUP CREATECONSUMER).
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumer(name, now).1
    }

    /// Deletes a consumer and its pending entries; the number it had, or None.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`: true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&*nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Makes `consumer` (an existing consumer's shared name) the owner of the
    /// pending entry `id`, creating the entry with `fresh` if it is not
    /// pending. Returns the entry for the caller to adjust.
    pub fn assign(&mut self, id: StreamId, consumer: &Arc<[u8]>, fresh: Nack) -> &mut Nack {
        use std::collections::btree_map::Entry as E;
        let nack = match self.pel.entry(id) {
            E::Vacant(v) => v.insert(fresh),
            E::Occupied(o) => {
                let n = o.into_mut();
                if *n.consumer != **consumer {
                    if let Some(old) = self.consumers.get_mut(&*n.consumer) {
                        old.pel.remove(&id);
                    }
                }
                n.consumer = consumer.clone();
                n
            }
        };
        if let Some(c) = self.consumers.get_mut(&**consumer) {
            c.pel.insert(id);
        }
        nack
    }

    fn heap_size(&self) -> usize {
        self.pel.len() * 80
            + self
                .consumers
                .iter()
                .map(|(k, c)| k.len() + 96 + c.pel.len() * 24)
                .sum::<usize>()
    }
}

// ---------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
pub struct StreamValue {
    /// Nodes by master ID.
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    length: u64,
    pub last_id: StreamId,
    /// First live entry when the stream last changed at its head (Redis's
    /// recorded-first-entry-id), 0-0 when empty.
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// The last entry appended and whether it is still live: then it is the
    /// last valid ID without walking the tail node (XREAD asks every call).
    /// Trimming never removes it while entries remain (it cuts the head).
    tail: StreamId,
    tail_live: bool,
    /// Consumer groups by name.
    pub groups: BTreeMap<Box<[u8]>, ConsumerGroup>,
}

impl StreamValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    pub fn len(&self) -> usize {
        self.length as usize
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Nodes (XINFO STREAM's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn heap_size(&self) -> usize {
        let nodes: usize = self
            .nodes
            .values()
            .map(|n| n.data.capacity() + std::mem::size_of::<Node>() + 24)
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(k, g)| k.len() + 160 + g.heap_size())
            .sum();
        nodes + groups
    }

    /// Appends an entry. `pairs` is field, value, field, value ...; `id` must
    /// be above [`StreamValue::last_id`] (the caller checks, with Redis's errors).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], limits: NodeLimits) {
        let nfields = pairs.len() / 2;
        let total: u64 = pairs.iter().map(|p| p.len() as u64).sum();
        let mut fields: smallvec::SmallVec<[&[u8]; 8]> = smallvec::SmallVec::new();
        fields.extend(pairs.iter().step_by(2).copied());

        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            limits.max_bytes
        };
        let mut need_new = true;
        if let Some(mut last) = self.nodes.last_entry() {
            let n = last.get_mut();
            let full_bytes = n.lp_bytes + total >= max_bytes;
            let full_entries =
                limits.max_entries != 0 && (n.live + n.deleted) as u64 >= limits.max_entries;
            if full_bytes || full_entries {
                // Sealed: give back the growth slack. A fresh exact-size
                // copy, because allocators keep a block shrunk by less than
                // half in place (mimalloc does), which would waste up to 2x.
                if n.data.capacity() > n.data.len() {
                    n.data = n.data.as_slice().to_vec();
                }
            } else {
                need_new = false;
            }
        }
        if need_new {
            self.nodes.insert(id, Node::new(&fields));
        }
        let Some(mut last) = self.nodes.last_entry() else {
            return;
        };
        let master_id = *last.key();
        let node = last.get_mut();
        let same = node.same_fields(&fields);

        let ms_delta = id.ms.wrapping_sub(master_id.ms);
        let seq_delta = id.seq.wrapping_sub(master_id.seq) as i64;
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        let d = &mut node.data;
        d.push(flags);
        put_varint(d, ms_delta);
        put_varint(d, zigzag(seq_delta));
        let mut lp =
            lp_int_size(flags as i64) + lp_int_size(ms_delta as i64) + lp_int_size(seq_delta);
        if !same {
            put_varint(d, nfields as u64);
            lp += lp_int_size(nfields as i64);
        }
        for pair in pairs.chunks_exact(2) {
            if !same {
                put_varint(d, pair[0].len() as u64);
                d.extend_from_slice(pair[0]);
                lp += lp_str_size(pair[0]);
            }
            put_varint(d, pair[1].len() as u64);
            d.extend_from_slice(pair[1]);
            lp += lp_str_size(pair[1]);
        }
        let lp_count = 3 + nfields as i64 + if same { 0 } else { nfields as i64 + 1 };
        lp += lp_int_size(lp_count);
        node.lp_bytes += lp;
        let (live, deleted) = (node.live + 1, node.deleted);
        node.set_counts(live, deleted);

        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        self.tail = id;
        self.tail_live = true;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Calls `f` for the live entries with IDs in `start..=end`, ascending (or
    /// descending with `rev`), until it returns false.
    pub fn range<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, Entry<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            // The node holding `start` is the last one whose master ID is <= it.
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(StreamId::MIN);
            for (&mid, node) in self.nodes.range(from..) {
                if mid > end {
                    return;
                }
                let (nf, master) = node.master();
                let mut at = node.first_entry as usize;
                while at < node.data.len() {
                    let raw = node.raw(mid, nf, at);
                    at = raw.end;
                    if raw.flags & FLAG_DELETED != 0 || raw.id < start {
                        continue;
                    }
                    if raw.id > end {
                        return;
                    }
                    if !f(raw.id, node.entry(&raw, master)) {
                        return;
                    }
                }
            }
        } else {
            for (&mid, node) in self.nodes.range(..=end).rev() {
                let (nf, master) = node.master();
                let offsets = node.offsets(mid);
                for &at in offsets.iter().rev() {
                    let raw = node.raw(mid, nf, at as usize);
                    if raw.flags & FLAG_DELETED != 0 || raw.id > end {
                        continue;
                    }
                    if raw.id < start {
                        return;
                    }
                    if !f(raw.id, node.entry(&raw, master)) {
                        return;
                    }
                }
            }
        }
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<Entry<'_>> {
        let (&mid, node) = self.nodes.range(..=id).next_back()?;
        let (nf, master) = node.master();
        let mut at = node.first_entry as usize;
        while at < node.data.len() {
            let raw = node.raw(mid, nf, at);
            at = raw.end;
            if raw.id == id && raw.flags & FLAG_DELETED == 0 {
                return Some(node.entry(&raw, master));
            }
            if raw.id >= id {
                return None;
            }
        }
        None
    }

    /// The first live entry's ID.
    pub fn first_valid_id(&self) -> Option<StreamId> {
        let mut id = None;
        self.range(StreamId::MIN, StreamId::MAX, false, |i, _| {
            id = Some(i);
            false
        });
        id
    }

    /// The last live entry's ID (streamLastValidID).
    pub fn last_valid_id(&self) -> Option<StreamId> {
        if self.length == 0 {
            return None;
        }
        if self.tail_live {
            return Some(self.tail);
        }
        let mut id = None;
        self.range(StreamId::MIN, StreamId::MAX, true, |i, _| {
            id = Some(i);
            false
        });
        id
    }

    /// Deletes the live entry `id` (streamDeleteItem); false if absent.
    /// The caller maintains first_id / max_deleted_id as XDEL does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(mid) = self.nodes.range(..=id).next_back().map(|(k, _)| *k) else {
            return false;
        };
        let Some(node) = self.nodes.get_mut(&mid) else {
            return false;
        };
        let mut at = None;
        node.scan(mid, |r| {
            if r.id == id && r.flags & FLAG_DELETED == 0 {
                at = Some(r.at);
                return false;
            }
            r.id < id
        });
        let Some(at) = at else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&mid);
        } else {
            node.mark_deleted(at);
        }
        self.length -= 1;
        if id == self.tail {
            self.tail_live = false;
        }
        true
    }

    /// Trims from the head (streamTrim); returns the entries removed.
    pub fn trim(&mut self, args: &TrimArgs) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let TrimStrategy::MaxLen(maxlen) = args.strategy {
                if self.length <= maxlen {
                    break;
                }
            }
            let Some(mut first) = self.nodes.first_entry() else {
                break;
            };
            let mid = *first.key();
            let node = first.get_mut();
            let entries = node.live as u64;
            if args.limit != 0 && deleted + entries > args.limit {
                break;
            }
            let remove_node = match args.strategy {
                TrimStrategy::MaxLen(maxlen) => self.length - entries >= maxlen,
                TrimStrategy::MinId(min) => node.last_id(mid).is_some_and(|last| last < min),
            };
            if remove_node {
                first.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if args.approx {
                break;
            }
            // Mark entries deleted from the start of this node until the
            // target is met; the next entries are all beyond it.
            let mut marks: smallvec::SmallVec<[usize; 128]> = smallvec::SmallVec::new();
            let mut length = self.length;
            node.scan(mid, |r| {
                let stop = match args.strategy {
                    TrimStrategy::MaxLen(maxlen) => length <= maxlen,
                    TrimStrategy::MinId(min) => r.id >= min,
                };
                if stop {
                    return false;
                }
                if r.flags & FLAG_DELETED == 0 {
                    marks.push(r.at);
                    length -= 1;
                }
                true
            });
            let n = marks.len() as u32;
            for at in marks {
                if let Some(b) = node.data.get_mut(at) {
                    *b |= FLAG_DELETED;
                }
            }
            let (live, dels) = (node.live - n, node.deleted + n);
            node.set_counts(live, dels);
            self.length -= n as u64;
            deleted += n as u64;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
            self.tail_live = false;
        } else if deleted > 0 {
            self.first_id = self.first_valid_id().unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// Whether `start..=end` may hold a tombstone (streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical read counter of `id`, or [`INVALID_ENTRIES_READ`]
    /// (streamEstimateDistanceFromFirstEverEntry).
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return self.entries_added as i64,
            std::cmp::Ordering::Greater => return INVALID_ENTRIES_READ,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => {
                    return self.entries_added.wrapping_sub(self.length) as i64
                }
                std::cmp::Ordering::Equal => {
                    return self.entries_added.wrapping_sub(self.length).wrapping_add(1) as i64
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag, or None when it cannot be known (streamReplyWithCGLag).
    pub fn group_lag(&self, g: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some((self.entries_added as i64).wrapping_sub(g.entries_read));
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| (self.entries_added as i64).wrapping_sub(read))
    }

    /// Records the delivery of `id` to a group (the group part of
    /// streamReplyWithRange): advances its last ID and read counter.
    pub fn advance_group(&self, g: &mut ConsumerGroup, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        if g.entries_read != INVALID_ENTRIES_READ && !self.range_has_tombstones(id, StreamId::MAX) {
            g.entries_read += 1;
        } else if self.entries_added != 0 {
            g.entries_read = self.estimate_distance(id);
        }
        g.last_id = id;
    }

    /// Node count of Redis's rax holding this stream's node keys (XINFO
    /// STREAM's radix-tree-nodes). A rax built from fixed-length keys is a
    /// compressed trie: a node per branching point, per leaf, per compressed
    /// run between them, plus the root. Computed from the sorted keys' common
    /// prefixes with a stack, like building a virtual tree.
    pub fn rax_nodes(&self) -> usize {
        let mut keys = self.nodes.keys().map(StreamId::encode);
        let Some(mut prev) = keys.next() else {
            return 1;
        };
        let leaf = 16usize;
        let mut branches = 0usize;
        let mut long_edges = 0usize;
        let mut count = 1usize;
        let mut stack: smallvec::SmallVec<[usize; 17]> = smallvec::smallvec![leaf];
        let mut edge = |parent: usize, child: usize| {
            if child - parent > 1 {
                long_edges += 1;
            }
        };
        for k in keys {
            count += 1;
            let l = prev
                .iter()
                .zip(k.iter())
                .take_while(|(a, b)| a == b)
                .count();
            let mut popped: Option<usize> = None;
            while let Some(&top) = stack.last() {
                if top <= l {
                    break;
                }
                stack.pop();
                if let Some(child) = popped {
                    edge(top, child);
                }
                popped = Some(top);
            }
            if stack.last() != Some(&l) {
                branches += 1;
                stack.push(l);
            }
            if let Some(child) = popped {
                edge(l, child);
            }
            stack.push(leaf);
            prev = k;
        }
        for w in stack.windows(2) {
            edge(w[0], w[1]);
        }
        let root_extra = usize::from(stack[0] > 0);
        branches + count + long_edges + root_extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn ids(s: &StreamValue, rev: bool) -> Vec<StreamId> {
        let mut v = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, rev, |i, _| {
            v.push(i);
            true
        });
        v
    }

    #[test]
    fn append_iterate_both_ways() {
        let mut s = StreamValue::new();
        for i in 1..=250u64 {
            let v = i.to_string();
            s.append(id(i, 0), &[b"f", v.as_bytes()], NodeLimits::default());
        }
        s.append(id(251, 0), &[b"a", b"1", b"b", b"2"], NodeLimits::default());
        assert_eq!(s.len(), 251);
        assert_eq!(s.node_count(), 3);
        let fwd = ids(&s, false);
        let mut back = ids(&s, true);
        back.reverse();
        assert_eq!(fwd, back);
        let e = s.get(id(251, 0)).unwrap();
        let p: Vec<_> = e.pairs().collect();
        assert_eq!(p, vec![(&b"a"[..], &b"1"[..]), (&b"b"[..], &b"2"[..])]);
        let e = s.get(id(7, 0)).unwrap();
        assert_eq!(e.pairs().collect::<Vec<_>>(), vec![(&b"f"[..], &b"7"[..])]);
    }

    #[test]
    fn delete_and_trim() {
        let mut s = StreamValue::new();
        for i in 1..=300u64 {
            s.append(id(i, 0), &[b"f", b"v"], NodeLimits::default());
        }
        assert!(s.delete(id(5, 0)));
        assert!(!s.delete(id(5, 0)));
        assert_eq!(s.len(), 299);
        let removed = s.trim(&TrimArgs {
            strategy: TrimStrategy::MaxLen(250),
            approx: true,
            limit: 0,
        });
        // Removing the first node (99 live) would go below 250.
        assert_eq!(removed, 0);
        let removed = s.trim(&TrimArgs {
            strategy: TrimStrategy::MaxLen(200),
            approx: true,
            limit: 0,
        });
        assert_eq!(removed, 99);
        let removed = s.trim(&TrimArgs {
            strategy: TrimStrategy::MaxLen(150),
            approx: false,
            limit: 0,
        });
        assert_eq!(removed, 50);
        assert_eq!(s.first_valid_id(), Some(id(151, 0)));
        assert_eq!(s.first_id, id(151, 0));
    }

    #[test]
    fn last_valid_id_shortcut_matches_a_scan() {
        let mut s = StreamValue::new();
        let mut x = 7u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let limits = NodeLimits {
            max_bytes: 4096,
            max_entries: 3,
        };
        for i in 1..3000u64 {
            match rnd(10) {
                0..=4 => s.append(id(i, 0), &[b"f", b"v"], limits),
                5..=6 => {
                    s.delete(id(i - rnd(5).min(i - 1), 0));
                }
                7 => {
                    s.trim(&TrimArgs {
                        strategy: TrimStrategy::MaxLen(rnd(20)),
                        approx: rnd(2) == 0,
                        limit: 0,
                    });
                }
                8 => {
                    s.trim(&TrimArgs {
                        strategy: TrimStrategy::MinId(id(i.saturating_sub(rnd(30)), 0)),
                        approx: rnd(2) == 0,
                        limit: 0,
                    });
                }
                _ => {
                    s.delete(s.last_id);
                }
            }
            let mut scan = None;
            s.range(StreamId::MIN, StreamId::MAX, true, |i, _| {
                scan = Some(i);
                false
            });
            assert_eq!(s.last_valid_id(), scan, "step {i}");
            assert_eq!(ids(&s, false).len(), s.len());
        }
    }

    #[test]
    fn rax_node_counts() {
        let mut s = StreamValue::new();
        assert_eq!(s.rax_nodes(), 1);
        s.append(id(1, 0), &[b"f", b"v"], NodeLimits::default());
        assert_eq!(s.rax_nodes(), 2);
    }
}
