//! The hash type's value (the data side of Redis's t_hash.c).
//!
//! Two encodings, switched exactly where Redis 7.0 switches them so OBJECT
//! ENCODING answers the same:
//!
//! - "listpack": at most `hash-max-listpack-entries` fields, none of them and none
//!   of their values longer than `hash-max-listpack-value` bytes (store/encoding.rs). Stored as one
//!   packed byte buffer behind a thin pointer ([`Packed`]): a 4-byte header
//!   (byte length, pair count) and then `len | field | len | value` for each
//!   pair, in insertion order. Most hashes are small, so this is what a million
//!   user records cost: a 5-field record is a single 40-byte allocation, where
//!   a vector of (field, value) pairs of inline strings would take 240.
//!   Lookups are linear scans, as in Redis.
//! - "hashtable": an insertion-ordered `IndexMap`. Deletes use `swap_remove`,
//!   which keeps the entries dense, so HSCAN can walk positions from the end
//!   like `KeyTable::scan` and never miss a field present for the whole scan.
//!   A hash never converts back, as in Redis.

use super::value::SmallBytes;
use indexmap::IndexMap;
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use super::encoding::{hash_max_entries, hash_max_value};

/// A field or member of a hashtable-encoded collection: bytes that hash and
/// compare as a `[u8]` slice, so maps keyed by it can be queried with `&[u8]`
/// (no allocation per lookup). Short ones live inline.
#[derive(Clone)]
pub struct Field(pub SmallBytes);

impl Field {
    pub fn new(b: &[u8]) -> Self {
        Field(SmallBytes::new(b))
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl Hash for Field {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must match `<[u8] as Hash>` for the Borrow-based lookups.
        self.as_slice().hash(state)
    }
}

impl PartialEq for Field {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Field {}

impl Borrow<[u8]> for Field {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

pub type HashTable = IndexMap<Field, SmallBytes, foldhash::fast::RandomState>;

/// The packed buffer of a listpack-encoded hash. A thin pointer (8 bytes) to
/// one allocation: a `u32` LE header (byte length of the pairs in the low 20
/// bits, pair count in the high 12) and the pairs, each `u8 len, field, u8
/// len, value`.
///
/// Why hand-rolled: a `Vec<u8>` or `Box<[u8]>` is a fat pointer, which would
/// not let `Value` stay 24 bytes with the hash inline, and the header is the
/// smallest that fits the listpack limits (512 pairs of 64-byte strings:
/// 66,560 bytes).
pub struct Packed {
    ptr: std::ptr::NonNull<u8>,
}

// SAFETY: `Packed` owns its allocation exclusively, like a `Box<[u8]>`.
unsafe impl Send for Packed {}
// SAFETY: shared access only reads.
unsafe impl Sync for Packed {}

const HEADER: usize = 4;
/// Header bits holding the byte length; the rest hold the pair count.
const LEN_BITS: u32 = 20;
const LEN_MASK: u32 = (1 << LEN_BITS) - 1;
const MAX_BYTES: usize = LEN_MASK as usize;
const MAX_COUNT: isize = (u32::MAX >> LEN_BITS) as isize;

/// Longest string a packed entry can hold (its length is one byte).
const PACKED_STR_MAX: usize = u8::MAX as usize;

/// Position of one pair inside the packed bytes.
#[derive(Clone, Copy)]
struct PairPos {
    start: usize,
    value_start: usize,
    end: usize,
}

impl Packed {
    fn layout(total: usize) -> std::alloc::Layout {
        // Sizes are bounded by HEADER + MAX_BYTES, far below isize::MAX.
        std::alloc::Layout::array::<u8>(total).expect("packed hash size fits a layout")
    }

    pub fn new() -> Self {
        let layout = Self::layout(HEADER);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = std::ptr::NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: the allocation holds HEADER writable bytes.
        unsafe { ptr.as_ptr().write_bytes(0, HEADER) };
        Packed { ptr }
    }

    #[inline]
    fn header(&self) -> u32 {
        // SAFETY: every allocation starts with HEADER initialised bytes.
        let h = unsafe { std::ptr::read(self.ptr.as_ptr() as *const [u8; HEADER]) };
        u32::from_le_bytes(h)
    }

    #[inline]
    fn bytes_len(&self) -> usize {
        (self.header() & LEN_MASK) as usize
    }

    /// Number of field-value pairs.
    #[inline]
    pub fn count(&self) -> usize {
        (self.header() >> LEN_BITS) as usize
    }

    fn set_header(&mut self, bytes_len: usize, count: usize) {
        let h = (bytes_len as u32) | ((count as u32) << LEN_BITS);
        // SAFETY: every allocation starts with HEADER writable bytes.
        unsafe { std::ptr::write(self.ptr.as_ptr() as *mut [u8; HEADER], h.to_le_bytes()) }
    }

    /// The pairs' bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: the allocation holds HEADER + bytes_len initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER), self.bytes_len()) }
    }

    /// Bytes allocated.
    pub fn alloc_size(&self) -> usize {
        HEADER + self.bytes_len()
    }

    /// Reallocates to hold `len` bytes of pairs (contents up to the shorter
    /// length are kept; the header is not updated).
    fn resize(&mut self, old_len: usize, len: usize) {
        if old_len == len {
            return;
        }
        let new_size = HEADER + len;
        // SAFETY: `ptr` was allocated by the global allocator with the layout
        // of its current size, and the new size is non-zero and valid.
        let raw = unsafe {
            std::alloc::realloc(self.ptr.as_ptr(), Self::layout(HEADER + old_len), new_size)
        };
        match std::ptr::NonNull::new(raw) {
            Some(p) => self.ptr = p,
            None => std::alloc::handle_alloc_error(Self::layout(new_size)),
        }
    }

    /// The first `len` bytes of pairs, mutable. `len` must not exceed the allocation.
    fn data_mut(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: callers pass a length within the current allocation, whose
        // bytes are initialised (grown tails are written before being read).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(HEADER), len) }
    }

    /// Replaces the bytes `start..end` with `new` (concatenated), adjusting the
    /// pair count by `dcount`. Returns false (and changes nothing) if the
    /// result would not fit the header or a string is too long for its
    /// length byte; the caller then converts to a table.
    fn splice(&mut self, start: usize, end: usize, new: &[&[u8]], dcount: isize) -> bool {
        let old_len = self.bytes_len();
        let new_bytes: usize = new.iter().map(|s| s.len()).sum();
        let len = old_len - (end - start) + new_bytes;
        let count = self.count() as isize + dcount;
        if len > MAX_BYTES || !(0..=MAX_COUNT).contains(&count) {
            return false;
        }
        if new_bytes > end - start {
            self.resize(old_len, len);
            // Initialise the grown tail before viewing it as a slice.
            // SAFETY: the allocation now holds HEADER + len bytes.
            unsafe {
                self.ptr
                    .as_ptr()
                    .add(HEADER + old_len)
                    .write_bytes(0, len - old_len)
            };
            // Drop frees with the header's length: keep it equal to the
            // allocation's at every point.
            self.set_header(len, count as usize);
            self.data_mut(len)
                .copy_within(end..old_len, start + new_bytes);
        } else {
            self.data_mut(old_len)
                .copy_within(end..old_len, start + new_bytes);
            self.resize(old_len, len);
            self.set_header(len, count as usize);
        }
        let data = self.data_mut(len);
        let mut at = start;
        for s in new {
            data[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        }
        true
    }

    pub fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            data: self.data(),
            pos: 0,
        }
    }

    /// Position of the pair whose field is `field`.
    fn find(&self, field: &[u8]) -> Option<PairPos> {
        let data = self.data();
        let mut pos = 0;
        while let Some((f, v, next)) = read_pair(data, pos) {
            if f == field {
                return Some(PairPos {
                    start: pos,
                    value_start: next - v.len() - 1,
                    end: next,
                });
            }
            pos = next;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field)
            .map(|p| &self.data()[p.value_start + 1..p.end])
    }

    /// Sets `field` to `value`. Ok(true) if the field is new; Err(()) if it
    /// does not fit the packed form (the caller converts and retries).
    fn insert(&mut self, field: &[u8], value: &[u8]) -> Result<bool, ()> {
        if field.len() > PACKED_STR_MAX || value.len() > PACKED_STR_MAX {
            return Err(());
        }
        let vlen = [value.len() as u8];
        match self.find(field) {
            // Replace the value in place: the field keeps its position, as
            // lpReplace keeps it in Redis.
            Some(p) => self
                .splice(p.value_start, p.end, &[&vlen, value], 0)
                .then_some(false)
                .ok_or(()),
            None => {
                let end = self.bytes_len();
                let flen = [field.len() as u8];
                self.splice(end, end, &[&flen, field, &vlen, value], 1)
                    .then_some(true)
                    .ok_or(())
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => self.splice(p.start, p.end, &[], -1),
            None => false,
        }
    }
}

impl Default for Packed {
    fn default() -> Self {
        Packed::new()
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        // SAFETY: allocated by the global allocator with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.alloc_size())) }
    }
}

impl Clone for Packed {
    fn clone(&self) -> Self {
        let mut p = Packed::new();
        let data = self.data();
        p.splice(0, 0, &[data], self.count() as isize);
        p
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            }))
            .finish()
    }
}

/// Reads the pair at `pos`: (field, value, position after it). None at the
/// end (or on a malformed buffer, which would be a bug: never a panic).
#[inline]
fn read_pair(data: &[u8], pos: usize) -> Option<(&[u8], &[u8], usize)> {
    let flen = *data.get(pos)? as usize;
    let field = data.get(pos + 1..pos + 1 + flen)?;
    let vpos = pos + 1 + flen;
    let vlen = *data.get(vpos)? as usize;
    let value = data.get(vpos + 1..vpos + 1 + vlen)?;
    Some((field, value, vpos + 1 + vlen))
}

pub struct PackedIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (f, v, next) = read_pair(self.data, self.pos)?;
        self.pos = next;
        Some((f, v))
    }
}

/// A hash value: see the module documentation. 16 bytes, stored inline in
/// `Value`.
#[derive(Clone, Debug)]
pub enum HashValue {
    Listpack(Packed),
    Table(Box<HashTable>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Packed::new())
    }
}

/// Iterator over a hash's (field, value) pairs in its storage order.
pub enum Iter<'a> {
    Packed(PackedIter<'a>),
    Table(indexmap::map::Iter<'a, Field, SmallBytes>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(it) => it.next(),
            Iter::Table(it) => it.next().map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }
}

impl HashValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(p) => p.count(),
            HashValue::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes, for memory accounting. For tables the strings'
    /// own allocations are estimated from a sample of at most 64 fields, so
    /// this stays cheap on huge hashes (Redis's MEMORY USAGE samples too).
    pub fn heap_size(&self) -> usize {
        self.heap_size_sampled(64)
    }

    /// [`Self::heap_size`] sampling up to `samples` elements of a table.
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        match self {
            HashValue::Listpack(p) => p.alloc_size(),
            HashValue::Table(m) => {
                let slots = m.capacity();
                // Bucket: cached hash + field + value; index: usize + control byte.
                let fixed = std::mem::size_of::<HashTable>()
                    + slots * (8 + 2 * std::mem::size_of::<SmallBytes>())
                    + slots * 9;
                let n = m.len().min(samples.max(1));
                if n == 0 {
                    return fixed;
                }
                let sampled: usize = m
                    .iter()
                    .take(n)
                    .map(|(f, v)| f.0.heap_size() + v.heap_size())
                    .sum();
                fixed + sampled * m.len() / n
            }
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            HashValue::Listpack(p) => Iter::Packed(p.iter()),
            HashValue::Table(m) => Iter::Table(m.iter()),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(p) => p.get(field),
            HashValue::Table(m) => m.get(field).map(|v| v.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true when the field is new. Converts to a
    /// table first when the field or value is longer than 64 bytes, and after
    /// adding a field past `hash-max-listpack-entries`, as Redis's hashTypeSet does.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let HashValue::Listpack(p) = self {
            let max = hash_max_value();
            if field.len() <= max && value.len() <= max {
                if let Ok(new) = p.insert(field, value) {
                    if p.count() > hash_max_entries() {
                        self.convert();
                    }
                    return new;
                }
            }
            self.convert();
        }
        match self {
            HashValue::Table(m) => m
                .insert(Field::new(field), SmallBytes::new(value))
                .is_none(),
            // `convert` always leaves a table.
            HashValue::Listpack(_) => false,
        }
    }

    /// Removes `field`; true if it was present.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(p) => p.remove(field),
            HashValue::Table(m) => {
                let removed = m.swap_remove(field).is_some();
                if removed {
                    shrink_if_sparse(m);
                }
                removed
            }
        }
    }

    /// Switches to the hashtable encoding (never back), keeping the order.
    pub fn convert(&mut self) {
        if let HashValue::Listpack(p) = self {
            let mut m = HashTable::with_capacity_and_hasher(p.count(), Default::default());
            for (f, v) in p.iter() {
                m.insert(Field::new(f), SmallBytes::new(v));
            }
            *self = HashValue::Table(Box::new(m));
        }
    }

    /// The pair at storage position `i` (O(1) for tables, O(n) for listpacks).
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            HashValue::Listpack(p) => p.iter().nth(i),
            HashValue::Table(m) => m.get_index(i).map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    /// One HSCAN step over a hashtable: visits positions `start-1` down to 0
    /// (`start` clamped to the length; 0 means "from the end") until `count`
    /// were visited, and returns the next cursor (0 when done). A listpack is
    /// visited whole in one step, as Redis does for small encodings.
    /// `visit` gets each pair's position (see [`HashValue::get_index`]).
    pub fn scan(
        &self,
        start: u64,
        count: usize,
        mut visit: impl FnMut(usize, &[u8], &[u8]),
    ) -> u64 {
        match self {
            HashValue::Listpack(p) => {
                p.iter().enumerate().for_each(|(i, (f, v))| visit(i, f, v));
                0
            }
            HashValue::Table(m) => {
                let mut pos = if start == 0 {
                    m.len()
                } else {
                    usize::try_from(start).unwrap_or(usize::MAX).min(m.len())
                };
                let mut n = 0;
                while pos > 0 && n < count {
                    pos -= 1;
                    if let Some((f, v)) = m.get_index(pos) {
                        visit(pos, f.as_slice(), v.as_slice());
                    }
                    n += 1;
                }
                pos as u64
            }
        }
    }
}

/// Gives memory back after mass deletion, with hysteresis so a table that
/// hovers around a size does not reallocate on every call (Redis shrinks a
/// dict below 10% fill).
pub(super) fn shrink_if_sparse<K, V, S>(m: &mut IndexMap<K, V, S>)
where
    K: Hash + Eq,
    S: std::hash::BuildHasher,
{
    let (len, cap) = (m.len(), m.capacity());
    if cap > 64 && len < cap / 8 {
        m.shrink_to(len * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(h: &HashValue) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn packed_keeps_order_and_replaces_in_place() {
        let mut h = HashValue::new();
        assert!(h.insert(b"a", b"1"));
        assert!(h.insert(b"b", b"22"));
        assert!(h.insert(b"c", b""));
        assert!(!h.insert(b"b", b"333333"));
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(b"b"), Some(&b"333333"[..]));
        assert_eq!(
            pairs(&h),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"333333".to_vec()),
                (b"c".to_vec(), b"".to_vec())
            ]
        );
        assert!(!h.insert(b"b", b"4"));
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.get(b"a"), None);
        assert_eq!(h.get(b"b"), Some(&b"4"[..]));
        assert_eq!(h.len(), 2);
        let c = h.clone();
        assert_eq!(pairs(&c), pairs(&h));
        assert!(h.remove(b"b") && h.remove(b"c"));
        assert!(h.is_empty());
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn converts_like_redis() {
        let mut h = HashValue::new();
        for i in 0..512 {
            h.insert(format!("f{i}").as_bytes(), &[b'v'; 64]);
        }
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.get(b"f511"), Some(&[b'v'; 64][..]));
        h.insert(b"f512", b"v");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 513);

        let mut h = HashValue::new();
        h.insert(b"a", &[b'x'; 64]);
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"b", &[b'x'; 65]);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&[b'x'; 64][..]));

        let mut h = HashValue::new();
        h.insert(&[b'f'; 65], b"1");
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_scan_never_misses_survivors() {
        let mut h = HashValue::new();
        for i in 0..1000 {
            h.insert(format!("k{i}").as_bytes(), b"v");
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = h.scan(cursor, 7, |_, f, _| {
                seen.insert(f.to_vec());
            });
            if round < 500 {
                h.remove(format!("k{round}").as_bytes());
                h.insert(format!("new{round}").as_bytes(), b"v");
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

    #[test]
    fn value_stays_small() {
        assert_eq!(std::mem::size_of::<HashValue>(), 16);
    }
}
