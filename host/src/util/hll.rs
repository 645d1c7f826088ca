//! The HyperLogLog sketch in Redis's own byte format (hyperloglog.c), so a value
//! written here is byte-identical to the one Redis writes for the same inputs and
//! a value written by Redis (restored with SET) works here.
//!
//! Layout: a 16-byte header — `"HYLL"`, the encoding (0 dense, 1 sparse), three
//! reserved bytes, and the cached cardinality as 8 little-endian bytes whose top
//! bit marks the cache stale — followed by 16384 six-bit registers, either
//! packed (dense, 12288 bytes) or run-length coded (sparse: ZERO, XZERO and VAL
//! opcodes). Elements hash with MurmurHash64A (seed 0xadc83b19); the low 14 bits
//! pick the register, the run of zeros above them (plus one) is its candidate
//! value. The count is Ertl's improved estimator, as in Redis 5 and later.
//!
//! Every function here works on a plain byte slice or vector and never panics on
//! malformed input: corrupt sparse data is reported as [`Corrupt`], which the
//! commands turn into Redis's INVALIDOBJ error.

/// Header bytes before the registers.
pub const HDR_SIZE: usize = 16;
/// log2 of the register count.
const P: u32 = 14;
/// Hash bits left for the zero-run after the index bits.
const Q: usize = 64 - P as usize;
pub const REGISTERS: usize = 1 << P;
const P_MASK: u64 = (REGISTERS - 1) as u64;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Total length of a dense HLL string.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
/// Redis's hll-sparse-max-bytes default: the sparse form is promoted to dense
/// when an update would make it longer than this (header included).
pub const SPARSE_MAX_BYTES: usize = 3000;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7; // 0.5 / ln(2)

/// A sparse representation that does not cover exactly 16384 registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// MurmurHash2, 64-bit version, reading 8-byte blocks little-endian (Redis's
/// endian-neutral variant).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for b in &mut blocks {
        let mut k = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate() {
            h ^= (byte as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the length of its "000..1" pattern
/// (1..=51): Redis's hllPatLen.
#[inline]
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & P_MASK) as usize;
    // The sentinel bit caps the count at Q+1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty HLL: sparse, one XZERO opcode covering every register, cached
/// cardinality 0 (createHLLObject).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        push_xzero(&mut v, run);
        left -= run;
    }
    v
}

/// Whether `s` passes Redis's isHLLObjectOrReply checks (magic, known
/// encoding, exact dense length). Sparse contents are checked lazily.
pub fn is_valid(s: &[u8]) -> bool {
    s.len() >= HDR_SIZE
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

/// The encoding byte of a valid HLL.
#[inline]
pub fn encoding(s: &[u8]) -> u8 {
    s[4]
}

/// The cached cardinality, if valid.
pub fn cached_card(s: &[u8]) -> Option<u64> {
    if s[15] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(b))
}

pub fn set_cached_card(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

// ----------------------------------------------------------------------------
// Dense registers
// ----------------------------------------------------------------------------

/// Register `i` of a packed register array. The last register's "next byte"
/// lies past the array (Redis reads the sds terminator there): it contributes
/// only masked-out bits, so a missing byte reads as 0.
#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs[byte] as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u32) as u8
}

#[inline]
pub fn dense_set_register(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = val as u32;
    regs[byte] &= !((REGISTER_MAX as u32) << fb) as u8;
    regs[byte] |= (v << fb) as u8;
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 &= !((REGISTER_MAX as u32) >> (8 - fb)) as u8;
        *b1 |= (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` to `count` if lower; true if it changed (hllDenseSet).
#[inline]
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set_register(regs, i, count);
        true
    } else {
        false
    }
}

fn dense_histo(regs: &[u8], histo: &mut [u32; 64]) {
    // 16 registers per 12 bytes, as Redis's unrolled loop.
    for r in regs.chunks_exact(12) {
        let b = |i: usize| r[i] as usize;
        let vals = [
            b(0) & 63,
            (b(0) >> 6 | b(1) << 2) & 63,
            (b(1) >> 4 | b(2) << 4) & 63,
            (b(2) >> 2) & 63,
            b(3) & 63,
            (b(3) >> 6 | b(4) << 2) & 63,
            (b(4) >> 4 | b(5) << 4) & 63,
            (b(5) >> 2) & 63,
            b(6) & 63,
            (b(6) >> 6 | b(7) << 2) & 63,
            (b(7) >> 4 | b(8) << 4) & 63,
            (b(8) >> 2) & 63,
            b(9) & 63,
            (b(9) >> 6 | b(10) << 2) & 63,
            (b(10) >> 4 | b(11) << 4) & 63,
            (b(11) >> 2) & 63,
        ];
        for v in vals {
            histo[v] += 1;
        }
    }
}

// ----------------------------------------------------------------------------
// Sparse opcodes
// ----------------------------------------------------------------------------

/// One decoded sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `00xxxxxx`: 1..=64 zero registers.
    Zero(usize),
    /// `01xxxxxx yyyyyyyy`: 1..=16384 zero registers.
    XZero(usize),
    /// `1vvvvvxx`: 1..=4 registers of value 1..=32.
    Val(u8, usize),
}

impl Op {
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
    fn width(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }
}

/// Decodes the opcode at `s[p]` (p < s.len()). An XZERO cut off by the end of
/// the string reads its second byte as 0, as Redis reads the sds terminator.
#[inline]
pub fn decode_op(s: &[u8], p: usize) -> Op {
    let b = s[p];
    if b & 0x80 != 0 {
        Op::Val(((b >> 2) & 0x1f) + 1, (b & 0x3) as usize + 1)
    } else if b & 0x40 != 0 {
        let lo = s.get(p + 1).copied().unwrap_or(0) as usize;
        Op::XZero(((b as usize & 0x3f) << 8 | lo) + 1)
    } else {
        Op::Zero((b & 0x3f) as usize + 1)
    }
}

#[inline]
fn val_byte(val: u8, len: usize) -> u8 {
    0x80 | ((val - 1) << 2) | (len as u8 - 1)
}

fn push_xzero(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    v.push((l >> 8) as u8 | 0x40);
    v.push((l & 0xff) as u8);
}

/// A run of `len` zero registers as ZERO or XZERO.
fn push_zeros(seq: &mut smallvec::SmallVec<[u8; 5]>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        seq.push((l >> 8) as u8 | 0x40);
        seq.push((l & 0xff) as u8);
    } else {
        seq.push((len - 1) as u8);
    }
}

/// Rewrites a sparse HLL as dense (hllSparseToDense); a dense one is left as is.
pub fn sparse_to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if encoding(s) == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR_SIZE].copy_from_slice(&s[..HDR_SIZE]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR_SIZE..];
    let mut idx = 0usize;
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = decode_op(s, p);
        // An opcode running past the last register is corruption (Redis's
        // fix for CVE-2025-32023 checks every opcode, not only VAL).
        if idx + op.span() > REGISTERS {
            return Err(Corrupt);
        }
        if let Op::Val(v, n) = op {
            for r in idx..idx + n {
                dense_set_register(regs, r, v);
            }
        }
        idx += op.span();
        p += op.width();
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(())
}

/// Raises register `index` of a sparse HLL to `count` (hllSparseSet), promoting
/// to dense when the value does not fit a VAL opcode or the string would grow
/// past `sparse_max` bytes. The byte-level edits follow Redis exactly, so the
/// resulting string is the one Redis produces.
fn sparse_set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let mut p = HDR_SIZE;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut op = None;
    while p < end {
        let o = decode_op(s, p);
        if index < first + o.span() {
            op = Some(o);
            break;
        }
        prev = Some(p);
        p += o.width();
        first += o.span();
    }
    let Some(op) = op else {
        return Err(Corrupt);
    };

    // Step 2: the trivial in-place updates, then the general split.
    let mut in_place = false;
    match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => {
            s[p] = val_byte(count, 1);
            in_place = true;
        }
        _ => {}
    }
    if !in_place {
        let last = first + op.span() - 1;
        let mut seq = smallvec::SmallVec::<[u8; 5]>::new();
        match op {
            Op::Val(cur, _) => {
                if index != first {
                    seq.push(val_byte(cur, index - first));
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    seq.push(val_byte(cur, last - index));
                }
            }
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    push_zeros(&mut seq, index - first);
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    push_zeros(&mut seq, last - index);
                }
            }
        }
        // Step 3: substitute the new sequence for the old opcode.
        let old_len = op.width();
        if seq.len() > old_len && s.len() + seq.len() - old_len > sparse_max {
            return promote(s, index, count);
        }
        // Redis moves the tail and adjusts the length by the size difference;
        // only an XZERO cut off by the end of a corrupt string makes the two
        // differ, and then the length rule wins.
        let new_len = s.len() + seq.len() - old_len;
        let tail_end = (p + old_len).min(s.len());
        s.splice(p..tail_end, seq);
        s.truncate(new_len);
    }

    // Step 4: merge adjacent VAL opcodes of equal value, scanning at most five
    // opcodes from the one before the change.
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scans = 5;
    while p < s.len() && scans > 0 {
        scans -= 1;
        let b = s[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        } else if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && s[p + 1] & 0x80 != 0 {
            if let (Op::Val(v1, l1), Op::Val(v2, l2)) = (decode_op(s, p), decode_op(s, p + 1)) {
                if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                    s[p + 1] = val_byte(v1, l1 + l2);
                    s.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(s);
    Ok(true)
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    sparse_to_dense(s)?;
    dense_set(&mut s[HDR_SIZE..], index, count);
    Ok(true)
}

/// Raises register `index` to `count` in either encoding; true if it changed.
pub fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    match encoding(s) {
        DENSE => Ok(dense_set(&mut s[HDR_SIZE..], index, count)),
        SPARSE => sparse_set(s, index, count, sparse_max),
        _ => Err(Corrupt),
    }
}

/// Adds an element (hllAdd); true if a register changed.
#[inline]
pub fn add(s: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set_register(s, index, count, sparse_max)
}

/// Folds a valid HLL into `max` register-wise (hllMerge).
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if encoding(s) == DENSE {
        let regs = &s[HDR_SIZE..];
        for (i, m) in max.iter_mut().enumerate() {
            let v = dense_get(regs, i);
            if v > *m {
                *m = v;
            }
        }
        return Ok(());
    }
    let mut i = 0usize;
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = decode_op(s, p);
        if i + op.span() > REGISTERS {
            return Err(Corrupt);
        }
        if let Op::Val(v, n) = op {
            for m in &mut max[i..i + n] {
                if v > *m {
                    *m = v;
                }
            }
        }
        i += op.span();
        p += op.width();
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// Estimated cardinality of a valid HLL (hllCount); a sparse form that does
/// not cover exactly every register is [`Corrupt`].
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if encoding(s) == DENSE {
        dense_histo(&s[HDR_SIZE..], &mut histo);
    } else {
        let mut idx = 0usize;
        let mut p = HDR_SIZE;
        while p < s.len() {
            let op = decode_op(s, p);
            if idx + op.span() > REGISTERS {
                return Err(Corrupt);
            }
            let slot = match op {
                Op::Val(v, _) => v as usize,
                _ => 0,
            };
            histo[slot] += op.span() as u32;
            idx += op.span();
            p += op.width();
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// Cardinality of a plain array of registers (multi-key PFCOUNT).
pub fn count_registers(regs: &[u8; REGISTERS]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs.iter() {
        histo[(r & 63) as usize] += 1;
    }
    estimate(&histo)
}

/// Ertl's estimator from the register histogram, with Redis's exact order of
/// floating-point operations so the rounded result is identical.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q + 1] as i32 as f64) / m);
    for j in (1..=Q).rev() {
        z += histo[j] as i32 as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as i32 as f64 / m);
    // llroundl: half away from zero, like f64::round.
    let e = (ALPHA_INF * m * m / z).round();
    e as i64 as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        // C's pow(1 - x, 2) is folded to a multiplication by the compiler.
        let d = 1.0 - x;
        z -= d * d * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// PFDEBUG DECODE's text for a sparse HLL: "z:N", "Z:N", "v:VAL,LEN" per opcode.
pub fn decode_text(s: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = decode_op(s, p);
        let _ = match op {
            Op::Zero(n) => write!(out, "z:{n} "),
            Op::XZero(n) => write!(out, "Z:{n} "),
            Op::Val(v, n) => write!(out, "v:{v},{n} "),
        };
        p += op.width();
    }
    out.trim_matches(' ').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sketch_matches_redis_bytes() {
        let s = new_sparse();
        assert_eq!(s, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(count(&s), Ok(0));
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
        let mut expect = vec![0u8; REGISTERS];
        let mut x: u32 = 12345;
        for (i, e) in expect.iter_mut().enumerate() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *e = ((x >> 16) & 63) as u8;
            dense_set_register(&mut regs, i, *e);
        }
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(dense_get(&regs, i), *e, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        sparse_to_dense(&mut dense).unwrap();
        for i in 0..5000u32 {
            let e = i.to_le_bytes();
            add(&mut sparse, &e, SPARSE_MAX_BYTES).unwrap();
            add(&mut dense, &e, SPARSE_MAX_BYTES).unwrap();
            if i % 97 == 0 {
                assert_eq!(count(&sparse), count(&dense));
            }
        }
        assert_eq!(encoding(&sparse), DENSE);
    }

    #[test]
    fn corrupt_sparse_is_reported() {
        let mut s = new_sparse();
        s.truncate(17);
        s[16] = 0x00;
        assert_eq!(count(&s), Err(Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &s), Err(Corrupt));
        assert_eq!(sparse_to_dense(&mut s), Err(Corrupt));
        // A truncated XZERO must not read out of bounds.
        let mut t = new_sparse();
        t.truncate(17);
        assert!(count(&t).is_err());
        assert!(add(&mut t, b"x", SPARSE_MAX_BYTES).is_ok() || t.len() >= 17);
    }
}
