//! The list type's value, Ember's take on Redis's quicklist: a deque of packed
//! chunks. Each chunk is one byte buffer holding up to 8 KiB of entries
//! (Redis's list-max-listpack-size -2) laid out back to back, with free room
//! kept at both ends so pushes and pops at either end of the list are O(1)
//! amortised and allocate nothing per element.
//!
//! An entry is `len | bytes | len`: the length as a little-endian base-128
//! varint before the bytes and mirrored after them, so a chunk can be walked
//! from either end (the role of listpack's backlen). A 3-byte element costs 5
//! bytes, as in Redis; a small list is one struct, one chunk descriptor and
//! one buffer sized to its contents.
//!
//! Redis 7.0 stores every list as a quicklist, so OBJECT ENCODING always says
//! "quicklist" (the listpack encoding for small lists arrived in 7.2).

use super::value::SmallBytes;
use std::collections::VecDeque;

/// Entry bytes a chunk takes before the list starts a new one (8 KiB, as
/// Redis's default list-max-listpack-size -2). A single larger element gets a
/// chunk of its own.
const CHUNK_LIMIT: usize = 8192;

/// Smallest buffer a chunk allocates.
const MIN_CAP: usize = 16;

/// Bytes of a varint holding `n`.
#[inline]
fn varint_len(n: usize) -> usize {
    if n < 0x80 {
        return 1;
    }
    let bits = usize::BITS - n.leading_zeros();
    bits.div_ceil(7) as usize
}

/// Bytes an element of `len` bytes takes in a chunk.
#[inline]
fn entry_size(len: usize) -> usize {
    len + 2 * varint_len(len)
}

/// Writes `data` as an entry at `buf[pos..]`; returns the entry's end.
#[inline]
fn write_entry(buf: &mut [u8], pos: usize, data: &[u8]) -> usize {
    let len = data.len();
    if len < 0x80 {
        buf[pos] = len as u8;
        buf[pos + 1..pos + 1 + len].copy_from_slice(data);
        buf[pos + 1 + len] = len as u8;
        return pos + len + 2;
    }
    let h = varint_len(len);
    let mut v = len;
    let tail = pos + h + len;
    for i in 0..h {
        let group = (v & 0x7f) as u8 | if i + 1 < h { 0x80 } else { 0 };
        v >>= 7;
        // The header reads forwards and the trailer backwards: the same
        // bytes, mirrored.
        buf[pos + i] = group;
        buf[tail + h - 1 - i] = group;
    }
    buf[pos + h..tail].copy_from_slice(data);
    tail + h
}

/// The element length and varint size of the entry starting at `pos`.
#[inline]
fn read_header(buf: &[u8], pos: usize) -> (usize, usize) {
    let b = buf[pos];
    if b < 0x80 {
        return (b as usize, 1);
    }
    let mut len = 0usize;
    let mut i = 0;
    loop {
        let b = buf[pos + i];
        len |= ((b & 0x7f) as usize) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            return (len, i);
        }
    }
}

/// The element length and varint size of the entry ending at `end`.
#[inline]
fn read_trailer(buf: &[u8], end: usize) -> (usize, usize) {
    let b = buf[end - 1];
    if b < 0x80 {
        return (b as usize, 1);
    }
    let mut len = 0usize;
    let mut i = 0;
    loop {
        let b = buf[end - 1 - i];
        len |= ((b & 0x7f) as usize) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            return (len, i);
        }
    }
}

/// One packed run of entries: `buf[start..end]` holds `count` entries, the
/// bytes outside that range are free room for pushes at either end.
#[derive(Clone)]
struct Chunk {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    count: usize,
}

impl Chunk {
    /// An empty chunk of `cap` bytes whose room is at the front (for pushes
    /// at the head) or at the back.
    fn new(cap: usize, room_at_front: bool) -> Chunk {
        let cap = cap.max(MIN_CAP);
        let pos = if room_at_front { cap } else { 0 };
        Chunk {
            buf: vec![0u8; cap].into_boxed_slice(),
            start: pos,
            end: pos,
            count: 0,
        }
    }

    #[inline]
    fn used(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    fn cap(&self) -> usize {
        self.buf.len()
    }

    /// Moves the entries into a buffer of `cap` bytes, leaving `front` bytes
    /// of room before them.
    fn relayout(&mut self, cap: usize, front: usize) {
        let used = self.used();
        debug_assert!(front + used <= cap);
        let mut buf = vec![0u8; cap].into_boxed_slice();
        buf[front..front + used].copy_from_slice(&self.buf[self.start..self.end]);
        self.buf = buf;
        self.start = front;
        self.end = front + used;
    }

    /// Makes at least `need` bytes of room at one end. Room is made by
    /// sliding the entries when at least as much would stay free as is moved
    /// (amortised O(1) per pushed byte), else by doubling the buffer. Most of
    /// the new room goes to the end being pushed; a quarter goes to the other
    /// end when that end is in use too, so alternating pushes at both ends
    /// don't slide the whole chunk on every push.
    fn reserve(&mut self, need: usize, at_front: bool) {
        let (room, other) = if at_front {
            (self.start, self.cap() - self.end)
        } else {
            (self.cap() - self.end, self.start)
        };
        if room >= need {
            return;
        }
        let used = self.used();
        let mut cap = self.cap();
        if cap < 2 * used + need {
            cap = (2 * (used + need)).max(MIN_CAP);
        }
        let slack = cap - used;
        let other_share = if other > 0 { (slack - need) / 4 } else { 0 };
        let front = if at_front {
            slack - other_share
        } else {
            other_share
        };
        if cap == self.cap() {
            self.buf.copy_within(self.start..self.end, front);
            self.start = front;
            self.end = front + used;
        } else {
            self.relayout(cap, front);
        }
    }

    /// Gives back most of the free room once the chunk is far from full.
    fn maybe_shrink(&mut self) {
        let used = self.used();
        if self.cap() > 4 * MIN_CAP && used * 4 < self.cap() {
            let cap = (2 * used).max(MIN_CAP);
            let front = if self.start > 0 { (cap - used) / 2 } else { 0 };
            self.relayout(cap, front);
        }
    }

    /// Trims the buffer to its entries: a chunk the list has moved past.
    fn seal(&mut self) {
        if self.cap() - self.used() > self.used() / 8 {
            self.relayout(self.used().max(MIN_CAP), 0);
        }
    }

    fn push_back(&mut self, data: &[u8]) {
        self.reserve(entry_size(data.len()), false);
        self.end = write_entry(&mut self.buf, self.end, data);
        self.count += 1;
    }

    fn push_front(&mut self, data: &[u8]) {
        let size = entry_size(data.len());
        self.reserve(size, true);
        self.start -= size;
        write_entry(&mut self.buf, self.start, data);
        self.count += 1;
    }

    /// Data range of the entry starting at `pos`, and the entry's end.
    #[inline]
    fn entry_at(&self, pos: usize) -> (usize, usize, usize) {
        let (len, h) = read_header(&self.buf, pos);
        (pos + h, pos + h + len, pos + 2 * h + len)
    }

    /// Start of the entry ending at `end`, and its data range.
    #[inline]
    fn entry_before(&self, end: usize) -> (usize, usize, usize) {
        let (len, h) = read_trailer(&self.buf, end);
        let data_end = end - h;
        (data_end - len - h, data_end - len, data_end)
    }

    /// Removes the first entry; returns its data range (valid until the
    /// chunk is next written).
    fn pop_front(&mut self) -> (usize, usize) {
        let (ds, de, next) = self.entry_at(self.start);
        self.start = next;
        self.count -= 1;
        (ds, de)
    }

    fn pop_back(&mut self) -> (usize, usize) {
        let (prev, ds, de) = self.entry_before(self.end);
        self.end = prev;
        self.count -= 1;
        (ds, de)
    }

    /// Byte offset of entry `i` (`i <= count`; `count` gives `end`), walking
    /// from the nearer end.
    fn offset_of(&self, i: usize) -> usize {
        if i <= self.count / 2 {
            let mut pos = self.start;
            for _ in 0..i {
                pos = self.entry_at(pos).2;
            }
            pos
        } else {
            let mut pos = self.end;
            for _ in i..self.count {
                pos = self.entry_before(pos).0;
            }
            pos
        }
    }

    /// Inserts `data` as a new entry at byte offset `pos` (an entry boundary).
    fn insert(&mut self, pos: usize, data: &[u8]) {
        let size = entry_size(data.len());
        let before = pos - self.start;
        let after = self.end - pos;
        let front_room = self.start;
        let back_room = self.cap() - self.end;
        // Open the gap by moving the smaller side that has room.
        let pos = if front_room >= size && (before <= after || back_room < size) {
            self.buf.copy_within(self.start..pos, self.start - size);
            self.start -= size;
            pos - size
        } else {
            if back_room < size {
                let cap = (2 * (self.used() + size)).max(MIN_CAP);
                let front = self.start.min(cap - self.used() - size);
                self.relayout(cap, front);
            }
            let pos = self.start + before;
            self.buf.copy_within(pos..self.end, pos + size);
            self.end += size;
            pos
        };
        write_entry(&mut self.buf, pos, data);
        self.count += 1;
    }

    /// Removes the bytes `a..b` holding `n` entries, sliding the smaller side.
    fn remove_range(&mut self, a: usize, b: usize, n: usize) {
        let gap = b - a;
        if a - self.start < self.end - b {
            self.buf.copy_within(self.start..a, self.start + gap);
            self.start += gap;
        } else {
            self.buf.copy_within(b..self.end, a);
            self.end -= gap;
        }
        self.count -= n;
    }

    /// Splits off the entries from byte offset `pos` (holding `n` entries)
    /// into a new chunk.
    fn split_off(&mut self, pos: usize, n: usize) -> Chunk {
        let bytes = self.end - pos;
        let mut buf = vec![0u8; bytes.max(MIN_CAP)].into_boxed_slice();
        buf[..bytes].copy_from_slice(&self.buf[pos..self.end]);
        self.end = pos;
        self.count -= n;
        Chunk {
            buf,
            start: 0,
            end: bytes,
            count: n,
        }
    }

    /// Appends all entries of `other`.
    fn append(&mut self, other: &Chunk) {
        let bytes = other.used();
        self.reserve(bytes, false);
        self.buf[self.end..self.end + bytes].copy_from_slice(&other.buf[other.start..other.end]);
        self.end += bytes;
        self.count += other.count;
    }

    /// Removes entries equal to `value`, at most `limit` of them (0: all),
    /// scanning from the head (or from the tail when `from_tail`). Returns
    /// how many were removed.
    fn remove_matching(&mut self, value: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        if !from_tail {
            let (mut r, mut w) = (self.start, self.start);
            while r < self.end {
                if limit != 0 && removed == limit {
                    break;
                }
                let (ds, de, next) = self.entry_at(r);
                if &self.buf[ds..de] == value {
                    removed += 1;
                } else {
                    if w != r {
                        self.buf.copy_within(r..next, w);
                    }
                    w += next - r;
                }
                r = next;
            }
            // Slide the untouched rest down over the holes.
            if w != r {
                self.buf.copy_within(r..self.end, w);
            }
            self.end = w + (self.end - r);
        } else {
            let (mut r, mut w) = (self.end, self.end);
            while r > self.start {
                if limit != 0 && removed == limit {
                    break;
                }
                let (prev, ds, de) = self.entry_before(r);
                if &self.buf[ds..de] == value {
                    removed += 1;
                } else {
                    let n = r - prev;
                    if w != r {
                        self.buf.copy_within(prev..r, w - n);
                    }
                    w -= n;
                }
                r = prev;
            }
            if w != r {
                let n = r - self.start;
                self.buf.copy_within(self.start..r, w - n);
            }
            self.start = w - (r - self.start);
        }
        self.count -= removed;
        removed
    }
}

/// A list value: chunks of packed entries, head first.
#[derive(Clone, Default)]
pub struct ListValue {
    chunks: VecDeque<Chunk>,
    len: usize,
}

/// A position in a list: chunk index and byte offset of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    chunk: usize,
    pos: usize,
}

impl ListValue {
    pub fn new() -> Self {
        ListValue::default()
    }

    /// Redis 7.0 encodes every list as a quicklist.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned by the list, the box holding it included.
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<ListValue>()
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(|c| c.cap()).sum::<usize>()
    }

    /// A fresh chunk for a push of `need` bytes: sized to fit for the first
    /// chunk (small lists stay small), a full chunk's worth once the list
    /// spans several.
    fn new_chunk(&self, need: usize, at_front: bool) -> Chunk {
        let cap = if self.chunks.is_empty() {
            need
        } else {
            need.max(CHUNK_LIMIT)
        };
        Chunk::new(cap, at_front)
    }

    pub fn push_back(&mut self, data: &[u8]) {
        let need = entry_size(data.len());
        match self.chunks.back_mut() {
            Some(c) if c.used() + need <= CHUNK_LIMIT => c.push_back(data),
            last => {
                if let Some(c) = last {
                    c.seal();
                }
                let mut c = self.new_chunk(need, false);
                c.push_back(data);
                if self.chunks.capacity() == 0 {
                    self.chunks.reserve_exact(1);
                }
                self.chunks.push_back(c);
            }
        }
        self.len += 1;
    }

    pub fn push_front(&mut self, data: &[u8]) {
        let need = entry_size(data.len());
        match self.chunks.front_mut() {
            Some(c) if c.used() + need <= CHUNK_LIMIT => c.push_front(data),
            first => {
                if let Some(c) = first {
                    c.seal();
                }
                let mut c = self.new_chunk(need, true);
                c.push_front(data);
                if self.chunks.capacity() == 0 {
                    self.chunks.reserve_exact(1);
                }
                self.chunks.push_front(c);
            }
        }
        self.len += 1;
    }

    /// Pushes at the head (`left`) or the tail.
    #[inline]
    pub fn push(&mut self, data: &[u8], left: bool) {
        if left {
            self.push_front(data)
        } else {
            self.push_back(data)
        }
    }

    /// Removes the head (`left`) or tail element and hands its bytes to `f`
    /// before they are overwritten: replies are written straight from the
    /// list, with no copy.
    pub fn pop_with<R>(&mut self, left: bool, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let c = if left {
            self.chunks.front_mut()?
        } else {
            self.chunks.back_mut()?
        };
        let (ds, de) = if left { c.pop_front() } else { c.pop_back() };
        let r = f(&c.buf[ds..de]);
        self.len -= 1;
        if c.count == 0 {
            if left {
                self.chunks.pop_front();
            } else {
                self.chunks.pop_back();
            }
        } else {
            c.maybe_shrink();
        }
        Some(r)
    }

    /// Removes and returns the head (`left`) or tail element.
    pub fn pop(&mut self, left: bool) -> Option<SmallBytes> {
        self.pop_with(left, SmallBytes::new)
    }

    /// The chunk holding element `index` and the element's index within it,
    /// walking from the nearer end of the list.
    fn find_chunk(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        if index < self.len / 2 {
            let mut i = index;
            for (ci, c) in self.chunks.iter().enumerate() {
                if i < c.count {
                    return Some((ci, i));
                }
                i -= c.count;
            }
        } else {
            let mut from_end = self.len - 1 - index;
            for (ci, c) in self.chunks.iter().enumerate().rev() {
                if from_end < c.count {
                    return Some((ci, c.count - 1 - from_end));
                }
                from_end -= c.count;
            }
        }
        None
    }

    /// The position of element `index`.
    fn cursor_at(&self, index: usize) -> Option<Cursor> {
        let (chunk, i) = self.find_chunk(index)?;
        Some(Cursor {
            chunk,
            pos: self.chunks[chunk].offset_of(i),
        })
    }

    /// Element `index` (0 = head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let cur = self.cursor_at(index)?;
        let c = &self.chunks[cur.chunk];
        let (ds, de, _) = c.entry_at(cur.pos);
        Some(&c.buf[ds..de])
    }

    /// Element at a signed index as LINDEX takes it (-1 = tail).
    pub fn get_signed(&self, index: i64) -> Option<&[u8]> {
        self.resolve_signed(index).and_then(|i| self.get(i))
    }

    /// A Redis-style index (negative counts from the tail) as a position.
    pub fn resolve_signed(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 {
            len.checked_add(index)?
        } else {
            index
        };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// Splits a chunk that grew past the limit by a middle insert or replace,
    /// near the middle of its bytes, until every part fits (or holds one
    /// element).
    fn split_if_oversized(&mut self, ci: usize) {
        let c = &mut self.chunks[ci];
        if c.used() <= CHUNK_LIMIT || c.count < 2 {
            return;
        }
        let half = c.used() / 2;
        let (mut pos, mut n) = (c.start, 0);
        loop {
            pos = c.entry_at(pos).2;
            n += 1;
            if n + 1 >= c.count || pos - c.start >= half {
                break;
            }
        }
        let moved = c.count - n;
        let tail = c.split_off(pos, moved);
        c.maybe_shrink();
        self.chunks.insert(ci + 1, tail);
        self.split_if_oversized(ci + 1);
        self.split_if_oversized(ci);
    }

    /// Replaces element `index`; false when out of range (LSET).
    pub fn set(&mut self, index: usize, data: &[u8]) -> bool {
        let Some(cur) = self.cursor_at(index) else {
            return false;
        };
        let c = &mut self.chunks[cur.chunk];
        let (ds, de, next) = c.entry_at(cur.pos);
        if de - ds == data.len() {
            c.buf[ds..de].copy_from_slice(data);
            return true;
        }
        let offset = cur.pos - c.start;
        c.remove_range(cur.pos, next, 1);
        let pos = c.start + offset;
        c.insert(pos, data);
        self.split_if_oversized(cur.chunk);
        true
    }

    /// The first element equal to `pivot`, scanning from the head.
    pub fn find(&self, pivot: &[u8]) -> Option<Cursor> {
        for (ci, c) in self.chunks.iter().enumerate() {
            let mut pos = c.start;
            while pos < c.end {
                let (ds, de, next) = c.entry_at(pos);
                if &c.buf[ds..de] == pivot {
                    return Some(Cursor { chunk: ci, pos });
                }
                pos = next;
            }
        }
        None
    }

    /// Inserts `data` before (or after) the element at `cur` (LINSERT).
    pub fn insert_at(&mut self, cur: Cursor, data: &[u8], after: bool) {
        let Some(c) = self.chunks.get_mut(cur.chunk) else {
            return;
        };
        let pos = if after {
            c.entry_at(cur.pos).2
        } else {
            cur.pos
        };
        c.insert(pos, data);
        self.len += 1;
        self.split_if_oversized(cur.chunk);
    }

    /// Removes up to `limit` elements equal to `value` (0: all), from the
    /// head, or from the tail when `from_tail` (LREM). Returns the count.
    pub fn remove_matching(&mut self, value: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let n = self.chunks.len();
        for k in 0..n {
            if limit != 0 && removed >= limit {
                break;
            }
            let ci = if from_tail { n - 1 - k } else { k };
            let left = if limit == 0 { 0 } else { limit - removed };
            removed += self.chunks[ci].remove_matching(value, left, from_tail);
        }
        if removed > 0 {
            self.len -= removed;
            self.compact();
        }
        removed
    }

    /// Drops empty chunks and merges neighbours that fit in one chunk
    /// together, after deletions in the middle.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.chunks);
        for mut c in old {
            if c.count == 0 {
                continue;
            }
            if let Some(last) = self.chunks.back_mut() {
                if last.used() + c.used() <= CHUNK_LIMIT {
                    last.append(&c);
                    continue;
                }
            }
            c.maybe_shrink();
            self.chunks.push_back(c);
        }
        if let Some(c) = self.chunks.back_mut() {
            c.maybe_shrink();
        }
        self.chunks.shrink_to_fit();
    }

    /// Removes `n` elements from the head (`left`) or the tail (LTRIM).
    pub fn trim(&mut self, mut n: usize, left: bool) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let c = if left {
                self.chunks.front_mut()
            } else {
                self.chunks.back_mut()
            };
            let Some(c) = c else { break };
            if c.count <= n {
                n -= c.count;
                if left {
                    self.chunks.pop_front();
                } else {
                    self.chunks.pop_back();
                }
            } else {
                if left {
                    c.start = c.offset_of(n);
                } else {
                    c.end = c.offset_of(c.count - n);
                }
                c.count -= n;
                c.maybe_shrink();
                n = 0;
            }
        }
    }

    /// Elements from the head.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Elements from position `index` towards the tail.
    pub fn iter_from(&self, index: usize) -> Iter<'_> {
        match self.cursor_at(index) {
            Some(cur) => Iter {
                list: self,
                chunk: cur.chunk,
                pos: cur.pos,
                remaining: self.len - index,
            },
            None => Iter {
                list: self,
                chunk: 0,
                pos: 0,
                remaining: 0,
            },
        }
    }

    /// Elements from the tail towards the head.
    pub fn iter_rev(&self) -> RevIter<'_> {
        RevIter {
            list: self,
            chunk: self.chunks.len(),
            pos: self.chunks.back().map_or(0, |c| c.end),
            remaining: self.len,
        }
    }

    /// Checks the internal invariants (tests).
    #[doc(hidden)]
    pub fn check(&self) {
        let mut total = 0;
        for c in &self.chunks {
            assert!(c.count > 0, "empty chunk");
            assert!(c.start <= c.end && c.end <= c.cap());
            let (mut pos, mut n) = (c.start, 0);
            while pos < c.end {
                let (_, _, next) = c.entry_at(pos);
                assert_eq!(c.entry_before(next).0, pos, "trailer mismatch");
                pos = next;
                n += 1;
            }
            assert_eq!(pos, c.end);
            assert_eq!(n, c.count);
            assert!(c.count == 1 || c.used() <= CHUNK_LIMIT, "oversized chunk");
            total += n;
        }
        assert_eq!(total, self.len);
    }
}

impl<'a> FromIterator<&'a [u8]> for ListValue {
    fn from_iter<T: IntoIterator<Item = &'a [u8]>>(iter: T) -> Self {
        let mut l = ListValue::new();
        for e in iter {
            l.push_back(e);
        }
        l
    }
}

impl std::fmt::Debug for ListValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Head-to-tail iterator over a list's elements.
pub struct Iter<'a> {
    list: &'a ListValue,
    chunk: usize,
    pos: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            let c = self.list.chunks.get(self.chunk)?;
            if self.pos < c.end {
                let (ds, de, next) = c.entry_at(self.pos);
                self.pos = next;
                self.remaining -= 1;
                return Some(&c.buf[ds..de]);
            }
            self.chunk += 1;
            self.pos = self.list.chunks.get(self.chunk)?.start;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Tail-to-head iterator over a list's elements.
pub struct RevIter<'a> {
    list: &'a ListValue,
    /// One past the chunk being read (so 0 means done).
    chunk: usize,
    pos: usize,
    remaining: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if self.chunk == 0 {
                return None;
            }
            let c = &self.list.chunks[self.chunk - 1];
            if self.pos > c.start {
                let (prev, ds, de) = c.entry_before(self.pos);
                self.pos = prev;
                self.remaining -= 1;
                return Some(&c.buf[ds..de]);
            }
            self.chunk -= 1;
            if self.chunk > 0 {
                self.pos = self.list.chunks[self.chunk - 1].end;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for RevIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A tiny deterministic generator (xorshift), so the test needs no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn element(rng: &mut Rng) -> Vec<u8> {
        let len = match rng.below(10) {
            0 => 0,
            1..=6 => rng.below(8),
            7 | 8 => 100 + rng.below(200),
            _ => rng.below(12000),
        };
        let b = b'a' + rng.below(3) as u8;
        vec![b; len]
    }

    fn same(l: &ListValue, m: &VecDeque<Vec<u8>>) {
        l.check();
        assert_eq!(l.len(), m.len());
        assert!(l.iter().eq(m.iter().map(|v| v.as_slice())));
        assert!(l.iter_rev().eq(m.iter().rev().map(|v| v.as_slice())));
    }

    #[test]
    fn varints_round_trip() {
        for len in [0usize, 1, 127, 128, 300, 16383, 16384, 70000] {
            let data = vec![7u8; len];
            let mut buf = vec![0u8; entry_size(len)];
            let end = write_entry(&mut buf, 0, &data);
            assert_eq!(end, buf.len());
            assert_eq!(read_header(&buf, 0).0, len);
            assert_eq!(read_trailer(&buf, end).0, len);
        }
    }

    #[test]
    fn matches_a_deque_model() {
        for seed in 1..40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut l = ListValue::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for _ in 0..600 {
                match rng.below(12) {
                    0..=2 => {
                        let e = element(&mut rng);
                        l.push_front(&e);
                        m.push_front(e);
                    }
                    3..=5 => {
                        let e = element(&mut rng);
                        l.push_back(&e);
                        m.push_back(e);
                    }
                    6 => {
                        let left = rng.below(2) == 0;
                        let got = l.pop(left).map(|s| s.as_slice().to_vec());
                        let want = if left { m.pop_front() } else { m.pop_back() };
                        assert_eq!(got, want);
                    }
                    7 if !m.is_empty() => {
                        let i = rng.below(m.len());
                        let e = element(&mut rng);
                        assert!(l.set(i, &e));
                        m[i] = e;
                    }
                    8 if !m.is_empty() => {
                        let i = rng.below(m.len());
                        let pivot = m[i].clone();
                        let at = m.iter().position(|x| *x == pivot).unwrap();
                        let after = rng.below(2) == 0;
                        let e = element(&mut rng);
                        let cur = l.find(&pivot).unwrap();
                        l.insert_at(cur, &e, after);
                        m.insert(at + after as usize, e);
                    }
                    9 => {
                        let v = element(&mut rng);
                        let v = v[..v.len().min(3)].to_vec();
                        let limit = rng.below(3);
                        let tail = rng.below(2) == 0;
                        let n = l.remove_matching(&v, limit, tail);
                        let mut removed = 0;
                        if tail {
                            let mut i = m.len();
                            while i > 0 {
                                i -= 1;
                                if (limit == 0 || removed < limit) && m[i] == v {
                                    m.remove(i);
                                    removed += 1;
                                }
                            }
                        } else {
                            let mut i = 0;
                            while i < m.len() {
                                if (limit == 0 || removed < limit) && m[i] == v {
                                    m.remove(i);
                                    removed += 1;
                                } else {
                                    i += 1;
                                }
                            }
                        }
                        assert_eq!(n, removed);
                    }
                    10 => {
                        let n = rng.below(5);
                        let left = rng.below(2) == 0;
                        l.trim(n, left);
                        for _ in 0..n.min(m.len()) {
                            if left {
                                m.pop_front();
                            } else {
                                m.pop_back();
                            }
                        }
                    }
                    _ if !m.is_empty() => {
                        let i = rng.below(m.len());
                        assert_eq!(l.get(i), Some(m[i].as_slice()));
                        assert!(l.iter_from(i).eq(m.iter().skip(i).map(|v| v.as_slice())));
                    }
                    _ => {}
                }
                same(&l, &m);
            }
        }
    }

    #[test]
    fn small_lists_are_compact() {
        let l: ListValue = [&b"a"[..], b"b", b"c"].into_iter().collect();
        assert!(l.heap_size() <= 40 + 40 + 16, "{}", l.heap_size());
        assert_eq!(l.encoding(), "quicklist");
    }

    #[test]
    fn big_lists_use_full_chunks() {
        let mut l = ListValue::new();
        for i in 0..100_000u32 {
            l.push_front(format!("{i}").as_bytes());
        }
        l.check();
        // About 7 bytes an entry, plus chunk slack: well under 24 a pointer.
        assert!(l.heap_size() < 100_000 * 10, "{}", l.heap_size());
        assert_eq!(l.get(0), Some(&b"99999"[..]));
        assert_eq!(l.get(99_999), Some(&b"0"[..]));
    }

    #[test]
    fn queue_pattern_stays_small() {
        let mut l = ListValue::new();
        for i in 0..100_000u32 {
            l.push_front(format!("{i}").as_bytes());
            if l.len() > 50 {
                l.pop(false);
            }
        }
        l.check();
        assert!(l.heap_size() < 4096, "{}", l.heap_size());
    }
}
