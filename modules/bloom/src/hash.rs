//! The item hashes: MurmurHash64A (and the 32-bit MurmurHash2 of legacy filters), combined into
//! the pair of 64-bit values that double hashing turns into bit positions.
//!
//! These are Austin Appleby's public-domain algorithms, written here from their definition. They
//! must give exactly the values RedisBloom's do, because the bit a given item sets is part of the
//! data `BF.SCANDUMP` exports and `BF.LOADCHUNK` imports: a dump taken from RedisBloom answers the
//! same on Ember, and the other way round. Inputs are read little-endian whatever the platform
//! (RedisBloom reads native words, and every platform it and Ember run on is little-endian).

/// MurmurHash64A's multiplier; RedisBloom also uses it as the seed of an item's first hash.
const M64: u64 = 0xc6a4_a793_5bd1_e995;
/// MurmurHash2's (32-bit) multiplier.
const M32: u32 = 0x5bd1_e995;
/// The seed RedisBloom gives the first 32-bit hash of a legacy (pre-`FORCE64`) filter.
const SEED32: u32 = 0x9747_b28c;

/// MurmurHash64A of `data` with `seed`.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M64);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        k = k.wrapping_mul(M64);
        k ^= k >> R;
        k = k.wrapping_mul(M64);
        h ^= k;
        h = h.wrapping_mul(M64);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // The tail bytes fill the low end of one more word, first byte lowest.
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M64);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M64);
    h ^= h >> R;
    h
}

/// MurmurHash2 (32-bit) of `data` with `seed`.
pub fn murmur2(data: &[u8], seed: u32) -> u32 {
    const R: u32 = 24;
    // The length is mixed in as a C `int` converted to `uint32_t`: only its low 32 bits count.
    let mut h = seed ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let mut k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k = k.wrapping_mul(M32);
        k ^= k >> R;
        k = k.wrapping_mul(M32);
        h = h.wrapping_mul(M32);
        h ^= k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M32);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M32);
    h ^= h >> 15;
    h
}

/// The two hashes of one item; bit `i` of a sub-filter is `(a + i * b) mod m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashPair {
    pub a: u64,
    pub b: u64,
}

impl HashPair {
    /// The 64-bit pair every filter Ember creates uses (RedisBloom's `FORCE64` option): the
    /// second hash is seeded with the first.
    pub fn new64(item: &[u8]) -> HashPair {
        let a = murmur64a(item, M64);
        HashPair {
            a,
            b: murmur64a(item, a),
        }
    }

    /// The 32-bit pair of filters RedisBloom created before `FORCE64` existed; only reachable
    /// through `BF.LOADCHUNK` of such a filter's dump. The second seed is the first hash.
    pub fn new32(item: &[u8]) -> HashPair {
        let a = murmur2(item, SEED32);
        HashPair {
            a: u64::from(a),
            b: u64::from(murmur2(item, a)),
        }
    }

    /// The `i`-th bit position in a sub-filter of `modulus` bits. The arithmetic wraps at 64
    /// bits before the reduction, as RedisBloom's does.
    #[inline]
    pub fn position(&self, i: u64, modulus: u64) -> u64 {
        self.a.wrapping_add(i.wrapping_mul(self.b)) % modulus
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed with RedisBloom's own C functions (deps/murmur2/MurmurHash2.c,
    // compiled natively) for these inputs; they pin the byte order and the tail handling.
    #[test]
    fn murmur64a_matches_reference() {
        assert_eq!(murmur64a(b"", M64), REF64[0]);
        assert_eq!(murmur64a(b"a", M64), REF64[1]);
        assert_eq!(murmur64a(b"hello world", M64), REF64[2]);
        assert_eq!(murmur64a(b"0123456789abcdef", M64), REF64[3]);
        assert_eq!(murmur64a(b"item:42", 12345), REF64[4]);
    }

    #[test]
    fn murmur2_matches_reference() {
        assert_eq!(murmur2(b"", SEED32), REF32[0]);
        assert_eq!(murmur2(b"a", SEED32), REF32[1]);
        assert_eq!(murmur2(b"hello world", SEED32), REF32[2]);
        assert_eq!(murmur2(b"0123456789abcdef", SEED32), REF32[3]);
        assert_eq!(murmur2(b"item:42", 12345), REF32[4]);
    }

    #[test]
    fn pair_is_seeded_with_first_hash() {
        let p = HashPair::new64(b"x");
        assert_eq!(p.b, murmur64a(b"x", p.a));
        let q = HashPair::new32(b"x");
        assert_eq!(q.b, u64::from(murmur2(b"x", q.a as u32)));
    }

    #[test]
    fn position_wraps_like_c() {
        let p = HashPair {
            a: u64::MAX,
            b: u64::MAX,
        };
        // (2^64-1) + 3*(2^64-1) wraps to 2^64-4.
        assert_eq!(p.position(3, 1 << 40), (u64::MAX - 3) % (1 << 40));
    }

    const REF64: [u64; 5] = [
        1923352212695860590,
        4797124023827371274,
        13468290891533438433,
        8302806268764335087,
        18070903522263291804,
    ];
    const REF32: [u32; 5] = [275646681, 2731586172, 1221641059, 1438427052, 3270924310];
}
