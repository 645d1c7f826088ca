//! The packed blobs RDB values embed as strings: listpacks (Redis 7), and the
//! older ziplists, zipmaps (read only) and intsets. Readers validate every
//! length against the blob, so a damaged blob is an error, never a panic or
//! an out-of-bounds read.

use crate::util::num::parse_i64;

/// One element of a listpack or ziplist.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// The element as bytes (integers formatted into `buf`).
    pub fn bytes<'b>(&'b self, buf: &'b mut itoa::Buffer) -> &'b [u8] {
        match self {
            Elem::Str(s) => s,
            Elem::Int(v) => buf.format(*v).as_bytes(),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes(&mut itoa::Buffer::new()).to_vec()
    }

    /// The element as an integer, if it is one (or a string spelling one).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Elem::Int(v) => Some(*v),
            Elem::Str(s) => parse_i64(s),
        }
    }
}

// ---------------------------------------------------------------------------
// Listpack
// ---------------------------------------------------------------------------

/// Builds a listpack the way Redis's lpAppend does: strings that spell an
/// integer are stored as integers, in the smallest encoding.
pub struct Listpack {
    data: Vec<u8>,
    count: usize,
}

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn put_backlen(out: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    match backlen_size(l as usize) {
        1 => out.push(l as u8),
        2 => out.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]),
        3 => out.extend_from_slice(&[
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]),
        4 => out.extend_from_slice(&[
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]),
        _ => out.extend_from_slice(&[
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]),
    }
}

/// lpStringToInt64: strings a listpack stores as integers.
pub fn lp_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    parse_i64(s)
}

impl Listpack {
    pub fn new() -> Self {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&[0; 6]);
        Listpack { data, count: 0 }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes the finished listpack takes (header and terminator included).
    pub fn bytes(&self) -> usize {
        self.data.len() + 1
    }

    /// Bytes an element would add.
    pub fn elem_size(s: &[u8]) -> usize {
        let enc = match lp_int(s) {
            Some(v) => int_enc_len(v),
            None => str_enc_len(s.len()),
        };
        enc + backlen_size(enc)
    }

    pub fn push(&mut self, s: &[u8]) {
        match lp_int(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.data.len();
        let n = s.len();
        if n < 64 {
            self.data.push(0x80 | n as u8);
        } else if n < 4096 {
            self.data.push(0xe0 | (n >> 8) as u8);
            self.data.push(n as u8);
        } else {
            self.data.push(0xf0);
            self.data.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.data.extend_from_slice(s);
        let l = self.data.len() - start;
        put_backlen(&mut self.data, l);
        self.count += 1;
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.data.len();
        let d = &mut self.data;
        if (0..=127).contains(&v) {
            d.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            d.push(0xc0 | (u >> 8) as u8);
            d.push(u as u8);
        } else if let Ok(w) = i16::try_from(v) {
            d.push(0xf1);
            d.extend_from_slice(&w.to_le_bytes());
        } else if (-8388608..=8388607).contains(&v) {
            d.push(0xf2);
            d.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(w) = i32::try_from(v) {
            d.push(0xf3);
            d.extend_from_slice(&w.to_le_bytes());
        } else {
            d.push(0xf4);
            d.extend_from_slice(&v.to_le_bytes());
        }
        let l = d.len() - start;
        put_backlen(d, l);
        self.count += 1;
    }

    /// Appends the elements of `other` after this one's.
    pub fn extend(&mut self, other: &Listpack) {
        self.data.extend_from_slice(&other.data[6..]);
        self.count += other.count;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.data.push(0xff);
        let total = self.data.len() as u32;
        self.data[..4].copy_from_slice(&total.to_le_bytes());
        let n = self.count.min(65535) as u16;
        self.data[4..6].copy_from_slice(&n.to_le_bytes());
        self.data
    }
}

fn int_enc_len(v: i64) -> usize {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    }
}

fn str_enc_len(n: usize) -> usize {
    if n < 64 {
        1 + n
    } else if n < 4096 {
        2 + n
    } else {
        5 + n
    }
}

/// Reads a listpack's elements, validating its header, every element and its
/// back-length, and the terminator.
pub fn listpack_elems(data: &[u8]) -> Result<Vec<Elem<'_>>, &'static str> {
    let mut v = Vec::new();
    listpack_each(data, |e| {
        v.push(e);
        Ok(())
    })?;
    Ok(v)
}

/// Calls `f` with each element of a listpack (see [`listpack_elems`]).
pub fn listpack_each<'a>(
    data: &'a [u8],
    mut f: impl FnMut(Elem<'a>) -> Result<(), &'static str>,
) -> Result<usize, &'static str> {
    const BAD: &str = "Listpack integrity check failed";
    if data.len() < 7 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let declared = u16::from_le_bytes([data[4], data[5]]) as usize;
    if total != data.len() || data[total - 1] != 0xff {
        return Err(BAD);
    }
    let mut p = 6;
    let mut n = 0usize;
    let body = &data[..total - 1];
    while p < body.len() {
        let b = body[p];
        let (enc_len, elem) = if b & 0x80 == 0 {
            (1, Elem::Int(b as i64))
        } else if b & 0xc0 == 0x80 {
            let len = (b & 0x3f) as usize;
            let s = body.get(p + 1..p + 1 + len).ok_or(BAD)?;
            (1 + len, Elem::Str(s))
        } else if b & 0xe0 == 0xc0 {
            let lo = *body.get(p + 1).ok_or(BAD)? as u64;
            let u = (((b & 0x1f) as u64) << 8) | lo;
            let v = if u >= 1 << 12 {
                u as i64 - (1 << 13)
            } else {
                u as i64
            };
            (2, Elem::Int(v))
        } else if b & 0xf0 == 0xe0 {
            let lo = *body.get(p + 1).ok_or(BAD)? as usize;
            let len = (((b & 0x0f) as usize) << 8) | lo;
            let s = body.get(p + 2..p + 2 + len).ok_or(BAD)?;
            (2 + len, Elem::Str(s))
        } else {
            match b {
                0xf0 => {
                    let l = body.get(p + 1..p + 5).ok_or(BAD)?;
                    let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    let s = body
                        .get(p + 5..p.saturating_add(5).saturating_add(len))
                        .ok_or(BAD)?;
                    (5 + len, Elem::Str(s))
                }
                0xf1 => {
                    let x = body.get(p + 1..p + 3).ok_or(BAD)?;
                    (3, Elem::Int(i16::from_le_bytes([x[0], x[1]]) as i64))
                }
                0xf2 => {
                    let x = body.get(p + 1..p + 4).ok_or(BAD)?;
                    let v = (i32::from_le_bytes([0, x[0], x[1], x[2]]) >> 8) as i64;
                    (4, Elem::Int(v))
                }
                0xf3 => {
                    let x = body.get(p + 1..p + 5).ok_or(BAD)?;
                    (
                        5,
                        Elem::Int(i32::from_le_bytes([x[0], x[1], x[2], x[3]]) as i64),
                    )
                }
                0xf4 => {
                    let x = body.get(p + 1..p + 9).ok_or(BAD)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(x);
                    (9, Elem::Int(i64::from_le_bytes(a)))
                }
                _ => return Err(BAD),
            }
        };
        // The back-length must encode the element's size.
        let bl = backlen_size(enc_len);
        let back = body.get(p + enc_len..p + enc_len + bl).ok_or(BAD)?;
        let mut expect = Vec::with_capacity(5);
        put_backlen(&mut expect, enc_len);
        if back != expect.as_slice() {
            return Err(BAD);
        }
        f(elem)?;
        n += 1;
        p += enc_len + bl;
    }
    if declared != 65535 && declared != n {
        return Err(BAD);
    }
    Ok(n)
}

// ---------------------------------------------------------------------------
// Ziplist (Redis < 7), read only
// ---------------------------------------------------------------------------

/// Reads a ziplist's elements, validating header, entries and terminator.
pub fn ziplist_elems(data: &[u8]) -> Result<Vec<Elem<'_>>, &'static str> {
    const BAD: &str = "Ziplist integrity check failed";
    if data.len() < 11 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let declared = u16::from_le_bytes([data[8], data[9]]) as usize;
    if total != data.len() || data[total - 1] != 0xff {
        return Err(BAD);
    }
    let body = &data[..total - 1];
    let mut p = 10;
    let mut prev_len = 0usize;
    let mut out = Vec::new();
    while p < body.len() {
        let start = p;
        // prevlen: the previous entry's size.
        let first = body[p];
        let stored_prev = if first < 254 {
            p += 1;
            first as usize
        } else if first == 254 {
            let x = body.get(p + 1..p + 5).ok_or(BAD)?;
            p += 5;
            u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize
        } else {
            return Err(BAD);
        };
        if stored_prev != prev_len {
            return Err(BAD);
        }
        let b = *body.get(p).ok_or(BAD)?;
        let elem = match b >> 6 {
            0 => {
                let len = (b & 0x3f) as usize;
                let s = body.get(p + 1..p + 1 + len).ok_or(BAD)?;
                p += 1 + len;
                Elem::Str(s)
            }
            1 => {
                let lo = *body.get(p + 1).ok_or(BAD)? as usize;
                let len = (((b & 0x3f) as usize) << 8) | lo;
                let s = body.get(p + 2..p + 2 + len).ok_or(BAD)?;
                p += 2 + len;
                Elem::Str(s)
            }
            2 => {
                let l = body.get(p + 1..p + 5).ok_or(BAD)?;
                let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                let s = body
                    .get(p + 5..p.saturating_add(5).saturating_add(len))
                    .ok_or(BAD)?;
                p += 5 + len;
                Elem::Str(s)
            }
            _ => {
                let (n, v) = match b {
                    0xc0 => {
                        let x = body.get(p + 1..p + 3).ok_or(BAD)?;
                        (2, i16::from_le_bytes([x[0], x[1]]) as i64)
                    }
                    0xd0 => {
                        let x = body.get(p + 1..p + 5).ok_or(BAD)?;
                        (4, i32::from_le_bytes([x[0], x[1], x[2], x[3]]) as i64)
                    }
                    0xe0 => {
                        let x = body.get(p + 1..p + 9).ok_or(BAD)?;
                        let mut a = [0u8; 8];
                        a.copy_from_slice(x);
                        (8, i64::from_le_bytes(a))
                    }
                    0xf0 => {
                        let x = body.get(p + 1..p + 4).ok_or(BAD)?;
                        (3, (i32::from_le_bytes([0, x[0], x[1], x[2]]) >> 8) as i64)
                    }
                    0xfe => (1, *body.get(p + 1).ok_or(BAD)? as i8 as i64),
                    0xf1..=0xfd => (0, (b & 0x0f) as i64 - 1),
                    _ => return Err(BAD),
                };
                p += 1 + n;
                Elem::Int(v)
            }
        };
        prev_len = p - start;
        out.push(elem);
    }
    if declared != 65535 && declared != out.len() {
        return Err(BAD);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Zipmap (Redis < 2.6 hashes), read only
// ---------------------------------------------------------------------------

/// (field, value) pairs borrowed from a blob.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Reads a zipmap's (field, value) pairs.
pub fn zipmap_pairs(data: &[u8]) -> Result<Pairs<'_>, &'static str> {
    const BAD: &str = "Zipmap integrity check failed";
    fn len_at(d: &[u8], p: &mut usize) -> Result<usize, &'static str> {
        let b = *d.get(*p).ok_or(BAD)?;
        if b < 254 {
            *p += 1;
            Ok(b as usize)
        } else if b == 254 {
            let x = d.get(*p + 1..*p + 5).ok_or(BAD)?;
            *p += 5;
            Ok(u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
        } else {
            Err(BAD)
        }
    }
    if data.len() < 2 {
        return Err(BAD);
    }
    let mut p = 1;
    let mut out = Vec::new();
    loop {
        if *data.get(p).ok_or(BAD)? == 255 {
            p += 1;
            break;
        }
        let klen = len_at(data, &mut p)?;
        let key = data.get(p..p.saturating_add(klen)).ok_or(BAD)?;
        p += klen;
        let vlen = len_at(data, &mut p)?;
        let free = *data.get(p).ok_or(BAD)? as usize;
        p += 1;
        let val = data.get(p..p.saturating_add(vlen)).ok_or(BAD)?;
        p = p.saturating_add(vlen).saturating_add(free);
        out.push((key, val));
    }
    if p != data.len() {
        return Err(BAD);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Intset
// ---------------------------------------------------------------------------

/// The members of an intset blob, checked sorted and unique.
pub fn intset_members(data: &[u8]) -> Result<Vec<i64>, &'static str> {
    const BAD: &str = "Intset integrity check failed";
    if data.len() < 8 {
        return Err(BAD);
    }
    let width = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let n = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || n == 0 || n.checked_mul(width) != Some(data.len() - 8) {
        return Err(BAD);
    }
    let mut out = Vec::with_capacity(n);
    for c in data[8..].chunks_exact(width) {
        let v = match width {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                i64::from_le_bytes(a)
            }
        };
        if out.last().is_some_and(|&l| l >= v) {
            return Err(BAD);
        }
        out.push(v);
    }
    Ok(out)
}

/// An intset blob of sorted, distinct members, in the narrowest width.
pub fn intset_blob(sorted: &[i64]) -> Vec<u8> {
    let width = sorted.iter().fold(2usize, |w, &v| {
        if i16::try_from(v).is_ok() {
            w
        } else if i32::try_from(v).is_ok() {
            w.max(4)
        } else {
            8
        }
    });
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trips_every_encoding() {
        let long = vec![b'z'; 5000];
        let mid = vec![b'y'; 300];
        let items: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-4096".to_vec(),
            b"4095".to_vec(),
            b"-32768".to_vec(),
            b"8388607".to_vec(),
            b"-8388608".to_vec(),
            b"2147483647".to_vec(),
            b"9223372036854775807".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"".to_vec(),
            b"hello".to_vec(),
            b"007".to_vec(),
            mid,
            long,
        ];
        let mut lp = Listpack::new();
        let mut size = 7;
        for i in &items {
            size += Listpack::elem_size(i);
            lp.push(i);
        }
        assert_eq!(lp.bytes(), size);
        let data = lp.finish();
        assert_eq!(data.len(), size);
        let back: Vec<Vec<u8>> = listpack_elems(&data)
            .expect("valid")
            .iter()
            .map(|e| e.to_vec())
            .collect();
        assert_eq!(back, items);
        // Every truncation and every flipped byte is refused or decodes, never panics.
        for cut in 0..data.len() {
            assert!(listpack_elems(&data[..cut]).is_err());
        }
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0x5a;
            let _ = listpack_elems(&d);
        }
    }

    #[test]
    fn intset_round_trips() {
        for set in [
            vec![1i64, 2, 3],
            vec![-40000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let blob = intset_blob(&set);
            assert_eq!(intset_members(&blob).expect("valid"), set);
        }
        assert_eq!(intset_blob(&[1, 2])[0], 2);
        assert!(intset_members(&intset_blob(&[2, 1])).is_err());
    }
}
