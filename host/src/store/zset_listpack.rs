//! The packed form of a small sorted set (Redis's "listpack" encoding): every
//! (member, score) pair in (score, member) order inside one exact-sized byte
//! buffer.
//!
//! Why packed bytes rather than a `Vec<(f64, SmallBytes)>`: a vector entry is
//! 32 bytes whatever the member, and a vector grown by pushes keeps up to
//! twice the capacity it needs, so a 10-member set cost ~520 bytes where
//! Redis's listpack costs ~130. Here an entry is its member plus 3–4 bytes
//! for short members with integer scores, and the buffer is reallocated to
//! its exact size on every change — as Redis reallocates its listpack. A
//! packed set has at most `zset-max-listpack-entries` members (128 by
//! default), so the linear walks below stay short.
//!
//! Layout: a `u32` element count (little-endian), then one entry per element:
//!
//! ```text
//! varint(member length) | member | score | backlen
//! ```
//!
//! - score: a varint `v`; an even `v` is the integer score `unzigzag(v >> 1)`
//!   (integral scores below 2^53 in magnitude, so the common small scores take
//!   one or two bytes); `v == 1` is followed by the score's 8 bytes (f64, LE).
//! - backlen: the length of the entry before it, in 7-bit groups written most
//!   significant first, every byte but the first with its top bit set, so a
//!   walk from the end reads it backwards (reverse ranges need no index).
//!
//! An empty set is an empty buffer (no allocation).

use super::value::SmallBytes;
use std::cmp::Ordering;

const HEADER: usize = 4;

/// Largest magnitude kept as an integer: every integer up to it is an exact
/// f64 and round-trips.
const INT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

#[derive(Clone, Debug, Default)]
pub struct ZListpack {
    buf: Box<[u8]>,
}

/// One decoded entry: where it lies in the buffer and what it holds.
#[derive(Clone, Copy, Debug)]
struct At<'a> {
    start: usize,
    end: usize,
    member: &'a [u8],
    score: f64,
}

impl ZListpack {
    /// Packs elements already sorted by (score, member) with distinct members.
    pub fn from_sorted(items: &[(f64, SmallBytes)]) -> Self {
        if items.is_empty() {
            return ZListpack::default();
        }
        let size: usize = items
            .iter()
            .map(|(s, m)| entry_size(m.as_slice(), *s))
            .sum();
        let mut buf = Vec::with_capacity(HEADER + size);
        buf.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for (s, m) in items {
            put_entry(&mut buf, m.as_slice(), *s);
        }
        ZListpack {
            buf: buf.into_boxed_slice(),
        }
    }

    /// The elements, unpacked (for conversion to the tree form).
    pub fn to_vec(&self) -> Vec<(f64, SmallBytes)> {
        self.walk()
            .map(|at| (at.score, SmallBytes::new(at.member)))
            .collect()
    }

    #[inline]
    pub fn len(&self) -> usize {
        match self.buf.get(..HEADER) {
            Some(h) => u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
            None => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }

    /// Forward walk over the entries.
    fn walk(&self) -> Walk<'_> {
        Walk {
            buf: &self.buf,
            pos: HEADER.min(self.buf.len()),
        }
    }

    fn find(&self, member: &[u8]) -> Option<(usize, At<'_>)> {
        self.walk().enumerate().find(|(_, at)| at.member == member)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|(_, at)| at.score)
    }

    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        self.find(member).map(|(rank, _)| rank)
    }

    /// The rank of the first element for which `holds(score, member)` is true
    /// (the predicate is monotone over the order), or `len` if none.
    pub fn lower_bound(&self, mut holds: impl FnMut(f64, &[u8]) -> bool) -> usize {
        self.walk()
            .position(|at| holds(at.score, at.member))
            .unwrap_or_else(|| self.len())
    }

    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.walk().nth(rank).map(|at| (at.member, at.score))
    }

    /// Byte offset where the element of `rank` starts (the end of the entries
    /// when `rank == len`).
    fn offset_of(&self, rank: usize) -> usize {
        let mut w = self.walk();
        for _ in 0..rank {
            if w.next().is_none() {
                break;
            }
        }
        w.pos
    }

    /// Inserts a member that is not in the set, at its place in the order.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        let pos = self
            .walk()
            .find(|at| cmp_key(at.score, at.member, score, member) != Ordering::Less)
            .map_or(self.buf.len().max(HEADER), |at| at.start);
        let mut entry = Vec::with_capacity(entry_size(member, score));
        put_entry(&mut entry, member, score);
        let n = self.len() + 1;
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if v.is_empty() {
            v.reserve_exact(HEADER + entry.len());
            v.extend_from_slice(&[0; HEADER]);
        } else {
            v.reserve_exact(entry.len());
        }
        v.splice(pos..pos, entry);
        v[..HEADER].copy_from_slice(&(n as u32).to_le_bytes());
        self.buf = v.into_boxed_slice();
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, at) = self.find(member)?;
        let (start, end, score) = (at.start, at.end, at.score);
        self.cut(start, end, 1);
        Some(score)
    }

    /// Removes the elements of ranks `start..end` (`end <= len`).
    pub fn remove_range(&mut self, start: usize, end: usize) {
        if start >= end {
            return;
        }
        let from = self.offset_of(start);
        let mut w = Walk {
            buf: &self.buf,
            pos: from,
        };
        for _ in start..end {
            if w.next().is_none() {
                break;
            }
        }
        let to = w.pos;
        self.cut(from, to, end - start);
    }

    /// Removes and returns the lowest (or, with `max`, highest) element.
    pub fn pop(&mut self, max: bool) -> Option<(SmallBytes, f64)> {
        let at = if max {
            self.back_walk(self.buf.len()).next()?
        } else {
            self.walk().next()?
        };
        let (start, end) = (at.start, at.end);
        let out = (SmallBytes::new(at.member), at.score);
        self.cut(start, end, 1);
        Some(out)
    }

    /// Drops bytes `from..to`, which held `count` whole entries.
    fn cut(&mut self, from: usize, to: usize, count: usize) {
        let n = self.len() - count;
        if n == 0 {
            self.buf = Box::default();
            return;
        }
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.drain(from..to);
        v[..HEADER].copy_from_slice(&(n as u32).to_le_bytes());
        self.buf = v.into_boxed_slice();
    }

    fn back_walk(&self, pos: usize) -> BackWalk<'_> {
        BackWalk {
            buf: &self.buf,
            pos,
        }
    }

    /// The elements of ranks `start..end` (clamped by the caller), ascending
    /// or descending.
    pub fn range(&self, start: usize, end: usize, rev: bool) -> ListpackRange<'_> {
        let remaining = end.saturating_sub(start);
        let pos = if remaining == 0 {
            HEADER
        } else if rev {
            self.offset_of(end)
        } else {
            self.offset_of(start)
        };
        ListpackRange {
            buf: &self.buf,
            pos,
            remaining,
            rev,
        }
    }
}

/// Iterator over a rank range of a [`ZListpack`].
#[derive(Clone, Debug)]
pub struct ListpackRange<'a> {
    buf: &'a [u8],
    /// Start of the next entry (forward) or end of it (reverse).
    pos: usize,
    pub remaining: usize,
    rev: bool,
}

impl<'a> Iterator for ListpackRange<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let at = if self.rev {
            let at = (BackWalk {
                buf: self.buf,
                pos: self.pos,
            })
            .next()?;
            self.pos = at.start;
            at
        } else {
            let at = entry_at(self.buf, self.pos)?;
            self.pos = at.end;
            at
        };
        self.remaining -= 1;
        Some((at.member, at.score))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

struct Walk<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Walk<'a> {
    type Item = At<'a>;

    #[inline]
    fn next(&mut self) -> Option<At<'a>> {
        let at = entry_at(self.buf, self.pos)?;
        self.pos = at.end;
        Some(at)
    }
}

struct BackWalk<'a> {
    buf: &'a [u8],
    /// End of the next entry to return.
    pos: usize,
}

impl<'a> Iterator for BackWalk<'a> {
    type Item = At<'a>;

    fn next(&mut self) -> Option<At<'a>> {
        if self.pos <= HEADER {
            return None;
        }
        // The backlen, read from its last byte backwards.
        let mut len = 0usize;
        let mut shift = 0;
        let mut p = self.pos;
        loop {
            p -= 1;
            let b = self.buf[p];
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 || p <= HEADER {
                break;
            }
        }
        let start = p.checked_sub(len)?;
        let at = entry_at(self.buf, start)?;
        self.pos = start;
        Some(at)
    }
}

/// Decodes the entry starting at `pos` (None at the end of the buffer).
#[inline]
fn entry_at(buf: &[u8], pos: usize) -> Option<At<'_>> {
    if pos >= buf.len() {
        return None;
    }
    let (mlen, p) = get_varint(buf, pos);
    let mstart = p;
    let mend = mstart + mlen as usize;
    let member = &buf[mstart..mend];
    let (v, mut p) = get_varint(buf, mend);
    let score = if v & 1 == 0 {
        unzigzag(v >> 1) as f64
    } else {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[p..p + 8]);
        p += 8;
        f64::from_le_bytes(b)
    };
    let body = p - pos;
    Some(At {
        start: pos,
        end: p + backlen_size(body),
        member,
        score,
    })
}

/// Bytes an entry takes.
fn entry_size(member: &[u8], score: f64) -> usize {
    let body = varint_size(member.len() as u64) + member.len() + score_size(score);
    body + backlen_size(body)
}

fn put_entry(out: &mut Vec<u8>, member: &[u8], score: f64) {
    let start = out.len();
    put_varint(out, member.len() as u64);
    out.extend_from_slice(member);
    match as_int(score) {
        Some(i) => put_varint(out, zigzag(i) << 1),
        None => {
            out.push(1);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
    let body = out.len() - start;
    // Most significant group first, every later byte flagged: read backwards,
    // the flag says "more groups before this one".
    let n = backlen_size(body);
    for i in (0..n).rev() {
        let group = ((body >> (7 * i)) & 0x7f) as u8;
        out.push(if i + 1 == n { group } else { group | 0x80 });
    }
}

#[inline]
fn as_int(score: f64) -> Option<i64> {
    // -0 is stored as 0, as Redis's listpack (text) does; the caller
    // normalises it before, so the sign bit test only guards the contract.
    (score.fract() == 0.0 && score.abs() < INT_LIMIT && !(score == 0.0 && score.is_sign_negative()))
        .then_some(score as i64)
}

fn score_size(score: f64) -> usize {
    match as_int(score) {
        Some(i) => varint_size(zigzag(i) << 1),
        None => 9,
    }
}

#[inline]
fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

#[inline]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn varint_size(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn backlen_size(len: usize) -> usize {
    varint_size(len as u64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// LEB128: (value, position after it). The buffer is only ever written by
/// this module, so it is well formed.
#[inline]
fn get_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return (v, pos);
        }
        shift += 7;
    }
}

/// (score, member) order, with C's double comparison (-0 == 0).
#[inline]
fn cmp_key(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_check(lp: &ZListpack, model: &[(f64, Vec<u8>)]) {
        assert_eq!(lp.len(), model.len());
        let fwd: Vec<(f64, Vec<u8>)> = lp
            .range(0, lp.len(), false)
            .map(|(m, s)| (s, m.to_vec()))
            .collect();
        assert_eq!(fwd, model);
        let mut rev: Vec<(f64, Vec<u8>)> = lp
            .range(0, lp.len(), true)
            .map(|(m, s)| (s, m.to_vec()))
            .collect();
        rev.reverse();
        assert_eq!(rev, model);
        for (rank, (s, m)) in model.iter().enumerate() {
            assert_eq!(lp.score(m), Some(*s));
            assert_eq!(lp.rank(m), Some(rank));
            assert_eq!(lp.get(rank), Some((m.as_slice(), *s)));
        }
    }

    #[test]
    fn follows_a_sorted_model_through_inserts_and_removals() {
        let mut lp = ZListpack::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let scores = [
            0.0,
            -1.0,
            1.5,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -((1u64 << 60) as f64),
            123456789.0,
            INT_LIMIT,
            -INT_LIMIT + 1.0,
            0.1,
        ];
        for i in 0..200usize {
            let member = vec![b'a' + (i % 26) as u8; i % 150];
            let member = [member, i.to_string().into_bytes()].concat();
            let score = scores[i % scores.len()];
            lp.insert(&member, score);
            let pos =
                model.partition_point(|(s, m)| cmp_key(*s, m, score, &member) == Ordering::Less);
            model.insert(pos, (score, member));
            if i % 7 == 3 {
                let (s, m) = model.remove(i % model.len());
                assert_eq!(lp.remove(&m), Some(s));
            }
        }
        model_check(&lp, &model);
        lp.remove_range(3, 40);
        model.drain(3..40);
        model_check(&lp, &model);
        let (m, s) = lp.pop(true).expect("not empty");
        let last = model.pop().expect("not empty");
        assert_eq!((s, m.as_slice().to_vec()), last);
        let (m, s) = lp.pop(false).expect("not empty");
        assert_eq!((s, m.as_slice().to_vec()), model.remove(0));
        model_check(&lp, &model);
        let partial: Vec<_> = lp.range(5, 9, true).map(|(m, s)| (s, m.to_vec())).collect();
        let mut want = model[5..9].to_vec();
        want.reverse();
        assert_eq!(partial, want);
        assert_eq!(
            lp.lower_bound(|s, _| s >= 1.0),
            model.partition_point(|(s, _)| *s < 1.0)
        );
        let again = ZListpack::from_sorted(&lp.to_vec().into_iter().collect::<Vec<_>>());
        model_check(&again, &model);
        let n = lp.len();
        lp.remove_range(0, n);
        assert!(lp.is_empty());
        assert_eq!(lp.heap_size(), 0);
    }

    #[test]
    fn ten_short_members_with_integer_scores_take_a_few_bytes_each() {
        let items: Vec<(f64, SmallBytes)> = (0..10)
            .map(|j| (j as f64, SmallBytes::new(format!("member:{j}").as_bytes())))
            .collect();
        let lp = ZListpack::from_sorted(&items);
        assert_eq!(lp.heap_size(), HEADER + 10 * (1 + 8 + 1 + 1));
    }
}
