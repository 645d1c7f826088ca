//! LZF, the compression of RDB strings (liblzf's format, as Redis bundles it).
//!
//! Written here rather than taken from the `lzf` crate: that crate allocates
//! and zeroes a 512 KiB hash table on every call, which would dominate saving
//! a million short values; here the table belongs to the writer and is reused
//! (stale slots are harmless: every candidate match is verified byte by byte).
//!
//! Format: a control byte `000LLLLL` starts a run of L+1 literal bytes;
//! `LLLooooo` (L < 7) or `111ooooo` + one length byte is a back reference of
//! L+2 bytes, its distance (minus one) being the 5 bits `ooooo` and the next
//! byte.

const HLOG: u32 = 14;
const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// A reusable compression hash table.
pub struct LzfTable(Box<[u32]>);

impl Default for LzfTable {
    fn default() -> Self {
        LzfTable(vec![0; 1 << HLOG].into_boxed_slice())
    }
}

#[inline]
fn hash(a: u8, b: u8, c: u8) -> usize {
    let v = ((a as u32) << 16) | ((b as u32) << 8) | c as u32;
    (v.wrapping_mul(2654435761) >> (32 - HLOG)) as usize
}

/// Compresses `input` into `out` (cleared first). False when the result would
/// be longer than `max_out` bytes (then `out` holds garbage).
pub fn compress(input: &[u8], out: &mut Vec<u8>, table: &mut LzfTable, max_out: usize) -> bool {
    out.clear();
    let n = input.len();
    if n == 0 {
        return false;
    }
    let htab = &mut table.0;
    let mut lit_at = out.len();
    out.push(0);
    let mut lit = 0usize;
    let mut ip = 0usize;
    while ip + 2 < n {
        let h = hash(input[ip], input[ip + 1], input[ip + 2]);
        let r = htab[h] as usize;
        htab[h] = ip as u32;
        if r < ip
            && ip - r - 1 < MAX_OFF
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1]
            && input[r + 2] == input[ip + 2]
        {
            let maxlen = (n - ip).min(MAX_REF);
            let mut len = 3;
            while len < maxlen && input[r + len] == input[ip + len] {
                len += 1;
            }
            // Close the literal run (or drop its empty control byte).
            if lit > 0 {
                out[lit_at] = (lit - 1) as u8;
            } else {
                out.pop();
            }
            let off = ip - r - 1;
            let l = len - 2;
            if l < 7 {
                out.push(((off >> 8) as u8) | ((l as u8) << 5));
            } else {
                out.push(((off >> 8) as u8) | (7 << 5));
                out.push((l - 7) as u8);
            }
            out.push(off as u8);
            // Remember the positions inside the match too (better ratio).
            let end = ip + len;
            let mut p = ip + 1;
            while p < end && p + 2 < n {
                htab[hash(input[p], input[p + 1], input[p + 2])] = p as u32;
                p += 1;
            }
            ip = end;
            lit_at = out.len();
            out.push(0);
            lit = 0;
        } else {
            out.push(input[ip]);
            lit += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[lit_at] = (MAX_LIT - 1) as u8;
                lit_at = out.len();
                out.push(0);
                lit = 0;
            }
        }
        if out.len() > max_out {
            return false;
        }
    }
    while ip < n {
        out.push(input[ip]);
        lit += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[lit_at] = (MAX_LIT - 1) as u8;
            lit_at = out.len();
            out.push(0);
            lit = 0;
        }
    }
    if lit > 0 {
        out[lit_at] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    out.len() <= max_out
}

/// Decompresses `input`, which must expand to exactly `len` bytes. None when
/// the data is damaged (a reference before the start, a run past the end, a
/// length that does not match).
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lits = input.get(ip..ip + run)?;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(lits);
            ip += run;
        } else {
            let mut l = ctrl >> 5;
            if l == 7 {
                l += *input.get(ip)? as usize;
                ip += 1;
            }
            let off = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            let count = l + 2;
            if off > out.len() || out.len() + count > len {
                return None;
            }
            let start = out.len() - off;
            // Byte by byte: the source may overlap what is being written.
            for i in 0..count {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let mut t = LzfTable::default();
        let mut out = Vec::new();
        if compress(data, &mut out, &mut t, usize::MAX) {
            assert_eq!(decompress(&out, data.len()).as_deref(), Some(data));
        }
    }

    #[test]
    fn round_trips() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        round_trip(&[7u8; 100_000]);
        let mut x = 1u64;
        let noisy: Vec<u8> = (0..50_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    (x % 4) as u8
                } else {
                    b"hello world"[i % 11]
                }
            })
            .collect();
        round_trip(&noisy);
        let text = b"the quick brown fox jumps over the lazy dog ".repeat(300);
        round_trip(&text);
        let mut t = LzfTable::default();
        let mut out = Vec::new();
        assert!(compress(&text, &mut out, &mut t, text.len() - 4));
        assert!(out.len() < text.len() / 10);
    }

    #[test]
    fn damaged_input_is_refused() {
        assert_eq!(decompress(&[0x20, 0x05], 4), None); // reference before start
        assert_eq!(decompress(&[3, b'a'], 4), None); // run past the end
        assert_eq!(decompress(&[0, b'a'], 2), None); // short
        assert_eq!(
            decompress(&[0, b'a', 0x20, 0x00], 4),
            Some(b"aaaa".to_vec())
        );
    }
}
