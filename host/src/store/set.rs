//! The set type's value (the data side of Redis's t_set.c).
//!
//! Two encodings, as in Redis 7.0 (which has no listpack sets), switched where
//! Redis switches them so OBJECT ENCODING answers the same:
//!
//! - "intset": while every member is an integer in canonical form (what
//!   Redis's string2ll accepts: no sign but `-`, no leading zeros) and there
//!   are at most `set-max-intset-entries` of them (store/encoding.rs). A sorted array of integers of
//!   the narrowest width that holds them all (2, 4 or 8 bytes, widened on
//!   demand and never narrowed, like Redis's intset). Iteration is ascending,
//!   so SMEMBERS of an intset is deterministic, as in Redis.
//! - "hashtable": an insertion-ordered `IndexSet`; deletes use `swap_remove`
//!   so the entries stay dense and SSCAN can walk positions from the end and
//!   never miss a member present for the whole scan. A set never converts
//!   back in place (only commands that build a new set, like SPOP's "keep the
//!   remainder" strategy or the *STORE commands, start again from an intset).

use super::hash::Field;
use crate::util::num::parse_i64;
use indexmap::IndexSet;

pub type SetTable = IndexSet<Field, foldhash::fast::RandomState>;

/// A sorted array of distinct integers stored `width` bytes each, little-endian.
#[derive(Clone, Debug)]
pub struct IntSet {
    data: Vec<u8>,
    width: u8,
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet {
            data: Vec::new(),
            width: 2,
        }
    }
}

/// Narrowest width (in bytes) that holds `v`.
fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len() / self.width as usize
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The element at `i` (callers keep `i < len`).
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width as usize;
        let b = &self.data[i * w..i * w + w];
        match w {
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    /// Binary search: Ok(position) if present, Err(insertion point) if not.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        width_of(v) <= self.width && self.search(v).is_ok()
    }

    /// Adds `v`; false if already present.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_of(v);
        if need > self.width {
            let old: Vec<i64> = self.iter().collect();
            self.width = need;
            self.data = Vec::with_capacity((old.len() + 1) * need as usize);
            for x in old {
                self.push_raw(x);
            }
        }
        let Err(pos) = self.search(v) else {
            return false;
        };
        let w = self.width as usize;
        let at = pos * w;
        // Open a gap of `w` bytes at `at`, then write into it.
        self.data.splice(at..at, std::iter::repeat_n(0u8, w));
        self.write_at(at, v);
        true
    }

    fn push_raw(&mut self, v: i64) {
        let at = self.data.len();
        self.data
            .extend(std::iter::repeat_n(0u8, self.width as usize));
        self.write_at(at, v);
    }

    fn write_at(&mut self, at: usize, v: i64) {
        let w = self.width as usize;
        let dst = &mut self.data[at..at + w];
        match w {
            2 => dst.copy_from_slice(&(v as i16).to_le_bytes()),
            4 => dst.copy_from_slice(&(v as i32).to_le_bytes()),
            _ => dst.copy_from_slice(&v.to_le_bytes()),
        }
    }

    /// Removes `v`; false if absent.
    pub fn remove(&mut self, v: i64) -> bool {
        if width_of(v) > self.width {
            return false;
        }
        match self.search(v) {
            Ok(pos) => {
                let w = self.width as usize;
                self.data.drain(pos * w..pos * w + w);
                if self.data.capacity() > 64 && self.data.len() < self.data.capacity() / 4 {
                    self.data.shrink_to(self.data.len() * 2);
                }
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// A member as stored: intsets hold integers, tables hold bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes (integers formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => f(itoa::Buffer::new().format(*v).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
}

/// A set value: see the module documentation.
#[derive(Clone, Debug)]
pub enum SetValue {
    Intset(IntSet),
    Table(Box<SetTable>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Intset(IntSet::default())
    }
}

/// Iterator over a set's members in storage order (ascending for intsets).
pub enum Iter<'a> {
    Intset(&'a IntSet, usize),
    Table(indexmap::set::Iter<'a, Field>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Intset(s, i) => {
                if *i < s.len() {
                    *i += 1;
                    Some(Member::Int(s.get(*i - 1)))
                } else {
                    None
                }
            }
            Iter::Table(it) => it.next().map(|f| Member::Bytes(f.as_slice())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            Iter::Intset(s, i) => s.len() - *i,
            Iter::Table(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl SetValue {
    /// An empty set of the encoding Redis's setTypeCreate picks for a set
    /// whose first member is `first`.
    pub fn new_for(first: &[u8]) -> Self {
        if parse_i64(first).is_some() {
            SetValue::Intset(IntSet::default())
        } else {
            SetValue::Table(Box::default())
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes. For tables the members' own allocations are
    /// estimated from a sample of at most 64, so this stays cheap.
    pub fn heap_size(&self) -> usize {
        self.heap_size_sampled(64)
    }

    /// [`Self::heap_size`] sampling up to `samples` elements of a table.
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        match self {
            SetValue::Intset(v) => v.data.capacity(),
            SetValue::Table(s) => {
                let slots = s.capacity();
                let fixed = std::mem::size_of::<SetTable>()
                    + slots * (8 + std::mem::size_of::<Field>())
                    + slots * 9;
                let n = s.len().min(samples.max(1));
                if n == 0 {
                    return fixed;
                }
                let sampled: usize = s.iter().take(n).map(|f| f.0.heap_size()).sum();
                fixed + sampled * s.len() / n
            }
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            SetValue::Intset(s) => Iter::Intset(s, 0),
            SetValue::Table(t) => Iter::Table(t.iter()),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            SetValue::Intset(s) => parse_i64(m).is_some_and(|v| s.contains(v)),
            SetValue::Table(t) => t.contains(m),
        }
    }

    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (self, m) {
            (SetValue::Intset(s), Member::Int(v)) => s.contains(v),
            (_, m) => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `m`; true if it was new. Converts to a table on the first
    /// non-integer member or the 513th member, as Redis's setTypeAdd.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if matches!(self, SetValue::Intset(_)) {
            match parse_i64(m) {
                Some(v) => return self.insert_int(v),
                None => self.convert(),
            }
        }
        match self {
            SetValue::Table(t) => {
                if t.contains(m) {
                    false
                } else {
                    t.insert(Field::new(m))
                }
            }
            // `convert` always leaves a table.
            SetValue::Intset(_) => false,
        }
    }

    /// Adds a member read from another set.
    pub fn insert_member(&mut self, m: Member<'_>) -> bool {
        match (&*self, m) {
            (SetValue::Intset(_), Member::Int(v)) => self.insert_int(v),
            (_, m) => m.with_bytes(|b| self.insert(b)),
        }
    }

    fn insert_int(&mut self, v: i64) -> bool {
        match self {
            SetValue::Intset(s) => {
                let added = s.insert(v);
                if added && s.len() > super::encoding::intset_max_entries() {
                    self.convert();
                }
                added
            }
            SetValue::Table(t) => {
                let mut buf = itoa::Buffer::new();
                let b = buf.format(v).as_bytes();
                if t.contains(b) {
                    false
                } else {
                    t.insert(Field::new(b))
                }
            }
        }
    }

    /// Removes `m`; true if it was present.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            SetValue::Intset(s) => parse_i64(m).is_some_and(|v| s.remove(v)),
            SetValue::Table(t) => {
                let removed = t.swap_remove(m);
                if removed {
                    shrink_if_sparse_set(t);
                }
                removed
            }
        }
    }

    pub fn remove_member(&mut self, m: Member<'_>) -> bool {
        match (&mut *self, m) {
            (SetValue::Intset(s), Member::Int(v)) => s.remove(v),
            (_, m) => m.with_bytes(|b| self.remove(b)),
        }
    }

    /// Removes the member at storage position `i`, handing it to `f` first
    /// (so callers can reply with it or move it without copying). For an
    /// intset the positions of larger members shift down by one; for a table
    /// the last member moves into the hole.
    pub fn remove_index<R>(&mut self, i: usize, f: impl FnOnce(Member<'_>) -> R) -> Option<R> {
        match self {
            SetValue::Intset(s) => {
                if i >= s.len() {
                    return None;
                }
                let v = s.get(i);
                s.remove(v);
                Some(f(Member::Int(v)))
            }
            SetValue::Table(t) => {
                let field = t.swap_remove_index(i)?;
                let r = f(Member::Bytes(field.as_slice()));
                shrink_if_sparse_set(t);
                Some(r)
            }
        }
    }

    /// Switches to the hashtable encoding.
    pub fn convert(&mut self) {
        if let SetValue::Intset(s) = self {
            let mut t = SetTable::with_capacity_and_hasher(s.len() + 1, Default::default());
            let mut buf = itoa::Buffer::new();
            for v in s.iter() {
                t.insert(Field::new(buf.format(v).as_bytes()));
            }
            *self = SetValue::Table(Box::new(t));
        }
    }

    /// The member at storage position `i` (O(1)).
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            SetValue::Intset(s) => (i < s.len()).then(|| Member::Int(s.get(i))),
            SetValue::Table(t) => t.get_index(i).map(|f| Member::Bytes(f.as_slice())),
        }
    }

    /// One SSCAN step, as [`super::hash::HashValue::scan`]: an intset is
    /// visited whole (cursor 0 back), a table by positions from the end.
    /// `visit` gets each member's position (see [`SetValue::get_index`]).
    pub fn scan(&self, start: u64, count: usize, mut visit: impl FnMut(usize, Member<'_>)) -> u64 {
        match self {
            SetValue::Intset(s) => {
                s.iter()
                    .enumerate()
                    .for_each(|(i, v)| visit(i, Member::Int(v)));
                0
            }
            SetValue::Table(t) => {
                let mut pos = if start == 0 {
                    t.len()
                } else {
                    usize::try_from(start).unwrap_or(usize::MAX).min(t.len())
                };
                let mut n = 0;
                while pos > 0 && n < count {
                    pos -= 1;
                    if let Some(f) = t.get_index(pos) {
                        visit(pos, Member::Bytes(f.as_slice()));
                    }
                    n += 1;
                }
                pos as u64
            }
        }
    }
}

/// Gives memory back after mass deletion (see `hash::shrink_if_sparse`).
fn shrink_if_sparse_set(t: &mut SetTable) {
    let (len, cap) = (t.len(), t.capacity());
    if cap > 64 && len < cap / 8 {
        t.shrink_to(len * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &SetValue) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn intset_sorted_widens_and_converts() {
        let mut s = SetValue::new_for(b"5");
        for m in ["5", "-3", "100", "5"] {
            s.insert(m.as_bytes());
        }
        assert_eq!(
            members(&s),
            vec![b"-3".to_vec(), b"5".to_vec(), b"100".to_vec()]
        );
        assert!(s.insert(b"9223372036854775807"));
        assert!(s.insert(b"-70000"));
        assert_eq!(s.encoding(), "intset");
        assert!(s.contains(b"100") && s.contains(b"-70000") && !s.contains(b"0100"));
        assert_eq!(
            members(&s),
            ["-70000", "-3", "5", "100", "9223372036854775807"]
                .iter()
                .map(|m| m.as_bytes().to_vec())
                .collect::<Vec<_>>()
        );
        assert!(s.remove(b"5") && !s.remove(b"5") && !s.remove(b"abc"));
        assert!(s.insert(b"01"));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"01") && s.contains(b"100") && !s.contains(b"1"));
        assert_eq!(s.len(), 5);

        let mut s = SetValue::default();
        for i in 0..512 {
            s.insert(i.to_string().as_bytes());
        }
        assert_eq!(s.encoding(), "intset");
        s.insert(b"512");
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 513);
    }

    #[test]
    fn intset_matches_btreeset() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut s = IntSet::default();
        let mut model = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let v: i64 = match rng.random_range(0..3) {
                0 => rng.random_range(-300..300),
                1 => rng.random_range(-100_000..100_000),
                _ => rng.random(),
            };
            if rng.random_bool(0.6) {
                assert_eq!(s.insert(v), model.insert(v));
            } else {
                assert_eq!(s.remove(v), model.remove(&v));
            }
        }
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            model.into_iter().collect::<Vec<_>>()
        );
    }
}
