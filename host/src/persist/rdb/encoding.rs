//! The RDB primitives, both ways: lengths (6/14/32/64-bit), strings (raw,
//! integer-encoded, LZF-compressed), millisecond times, binary and string
//! doubles. [`Enc`] appends them to a byte buffer; [`Input`] reads them from
//! any `Read`, tracking the byte offset (for error messages) and the running
//! CRC-64 of what it consumed.

use super::consts::*;
use super::crc::Crc64;
use super::lzf::{self, LzfTable};
use super::RdbError;
use crate::util::num::parse_i64;
use std::io::Read;

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Appends RDB primitives to a buffer. Owns the LZF table and scratch space so
/// a whole save reuses them.
pub struct Enc {
    /// `rdbcompression`: try LZF on strings longer than 20 bytes.
    pub compression: bool,
    lzf: LzfTable,
    scratch: Vec<u8>,
}

impl Enc {
    pub fn new(compression: bool) -> Self {
        Enc {
            compression,
            lzf: LzfTable::default(),
            scratch: Vec::new(),
        }
    }
}

/// rdbSaveLen.
pub fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | (LEN_14BIT << 6));
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// rdbEncodeInteger: the integer encodings of a string, when `v` fits 32 bits.
pub fn put_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.push((LEN_ENCVAL << 6) | ENC_INT8);
        out.push(b as u8);
    } else if let Ok(w) = i16::try_from(v) {
        out.push((LEN_ENCVAL << 6) | ENC_INT16);
        out.extend_from_slice(&w.to_le_bytes());
    } else if let Ok(d) = i32::try_from(v) {
        out.push((LEN_ENCVAL << 6) | ENC_INT32);
        out.extend_from_slice(&d.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Length-prefixed bytes, never encoded (module strings, keys of radix trees).
pub fn put_plain(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// rdbSaveLongLongAsStringObject: an integer string value.
pub fn put_int_string(out: &mut Vec<u8>, v: i64) {
    if !put_int_encoded(out, v) {
        let mut b = itoa::Buffer::new();
        put_plain(out, b.format(v).as_bytes());
    }
}

pub fn put_ms_time(out: &mut Vec<u8>, t: i64) {
    out.extend_from_slice(&t.to_le_bytes());
}

pub fn put_binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

impl Enc {
    /// rdbSaveRawString: integer encoding for short decimal strings, LZF for
    /// longer ones when it saves at least 4 bytes, verbatim otherwise.
    pub fn put_string(&mut self, out: &mut Vec<u8>, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(v) = parse_i64(s) {
                if put_int_encoded(out, v) {
                    return;
                }
            }
        }
        if self.compression
            && s.len() > 20
            && lzf::compress(s, &mut self.scratch, &mut self.lzf, s.len() - 4)
        {
            out.push((LEN_ENCVAL << 6) | ENC_LZF);
            put_len(out, self.scratch.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&self.scratch);
            return;
        }
        put_plain(out, s);
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

const CHUNK: usize = 64 * 1024;

/// A buffered reader of RDB primitives over any `Read`.
pub struct Input<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    crc: Crc64,
    /// `buf[..crc_upto]` is already in `crc`.
    crc_upto: usize,
    /// The reader reported end of file.
    eof: bool,
}

/// LZF expands at most 88x (a 3-byte reference copies 264 bytes): a claimed
/// length beyond this ratio is damage, refused before allocating it.
const LZF_MAX_RATIO: u64 = 100;

impl<R: Read> Input<R> {
    pub fn new(r: R) -> Self {
        Input {
            r,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            base: 0,
            crc: Crc64::default(),
            crc_upto: 0,
            eof: false,
        }
    }

    /// Offset of the next byte to be read.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// An error at the current offset.
    pub fn err(&self, msg: impl Into<String>) -> RdbError {
        RdbError::corrupt(self.offset(), msg)
    }

    /// An error at `at`.
    pub fn err_at(&self, at: u64, msg: impl Into<String>) -> RdbError {
        RdbError::corrupt(at, msg)
    }

    /// Makes `n` bytes available at `pos`, reading more as needed. The buffer
    /// grows only as data actually arrives, so a huge length in a damaged
    /// file fails at end of file instead of allocating it.
    fn fill(&mut self, n: usize) -> Result<(), RdbError> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        // Move the unread tail to the front, checksumming what is dropped.
        if self.pos > 0 {
            self.crc.update(&self.buf[self.crc_upto..self.pos]);
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
            self.crc_upto = 0;
        }
        while self.end < n {
            if self.eof {
                return Err(RdbError::truncated(self.base + self.end as u64));
            }
            if self.buf.len() == self.end {
                let grow = self
                    .buf
                    .len()
                    .max(CHUNK)
                    .min((n - self.end).saturating_add(CHUNK));
                self.buf.resize(self.buf.len() + grow, 0);
            }
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RdbError::Io(self.offset(), e)),
            }
        }
        Ok(())
    }

    pub fn bytes(&mut self, n: usize) -> Result<&[u8], RdbError> {
        self.fill(n)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, RdbError> {
        self.fill(1)?;
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// The CRC-64 of every byte consumed so far.
    pub fn checksum(&mut self) -> u64 {
        self.crc.update(&self.buf[self.crc_upto..self.pos]);
        self.crc_upto = self.pos;
        self.crc.value()
    }

    /// Whether the input has more bytes (after the trailer: trailing junk).
    pub fn at_end(&mut self) -> Result<bool, RdbError> {
        match self.fill(1) {
            Ok(()) => Ok(false),
            Err(RdbError::Corrupt {
                truncated: true, ..
            }) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// rdbLoadLen: a length, or (true, encoding) for a special string encoding.
    pub fn len_or_enc(&mut self) -> Result<(bool, u64), RdbError> {
        let at = self.offset();
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok((false, (b & 0x3f) as u64)),
            1 => {
                let b2 = self.u8()?;
                Ok((false, (((b & 0x3f) as u64) << 8) | b2 as u64))
            }
            3 => Ok((true, (b & 0x3f) as u64)),
            _ if b == LEN_32BIT => Ok((false, u32::from_be_bytes(self.array()?) as u64)),
            _ if b == LEN_64BIT => Ok((false, u64::from_be_bytes(self.array()?))),
            _ => Err(self.err_at(at, format!("Unknown length encoding {b} in rdbLoadLen()"))),
        }
    }

    pub fn length(&mut self) -> Result<u64, RdbError> {
        let at = self.offset();
        match self.len_or_enc()? {
            (false, n) => Ok(n),
            (true, e) => {
                Err(self.err_at(at, format!("expected a length, found string encoding {e}")))
            }
        }
    }

    /// A string in any of its encodings, decoded into bytes.
    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        let at = self.offset();
        let (enc, n) = self.len_or_enc()?;
        if !enc {
            let n = usize::try_from(n).map_err(|_| self.err_at(at, "string length too large"))?;
            return Ok(self.bytes(n)?.to_vec());
        }
        match n as u8 {
            ENC_INT8 | ENC_INT16 | ENC_INT32 => {
                let v = self.int_encoded(n as u8)?;
                Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
            }
            ENC_LZF => self.lzf(),
            e => Err(self.err_at(at, format!("Unknown RDB string encoding type {e}"))),
        }
    }

    /// A string that may be integer-encoded: Ok(Err(int)) for those, so a
    /// string value can stay an integer without formatting and parsing.
    pub fn string_or_int(&mut self) -> Result<Result<Vec<u8>, i64>, RdbError> {
        self.fill(1)?;
        let b = self.buf[self.pos];
        if b >> 6 == 3 && (b & 0x3f) <= ENC_INT32 {
            self.pos += 1;
            return Ok(Err(self.int_encoded(b & 0x3f)?));
        }
        self.string().map(Ok)
    }

    fn int_encoded(&mut self, enc: u8) -> Result<i64, RdbError> {
        Ok(match enc {
            ENC_INT8 => self.u8()? as i8 as i64,
            ENC_INT16 => i16::from_le_bytes(self.array()?) as i64,
            _ => i32::from_le_bytes(self.array()?) as i64,
        })
    }

    fn lzf(&mut self) -> Result<Vec<u8>, RdbError> {
        let at = self.offset();
        let clen = self.length()?;
        let len = self.length()?;
        if clen == 0 || len > clen.saturating_mul(LZF_MAX_RATIO).saturating_add(64) {
            return Err(self.err_at(at, "Invalid LZF compressed string"));
        }
        let clen =
            usize::try_from(clen).map_err(|_| self.err_at(at, "Invalid LZF compressed string"))?;
        let data = self.bytes(clen)?;
        lzf::decompress(data, len as usize)
            .ok_or_else(|| self.err_at(at, "Invalid LZF compressed string"))
    }

    pub fn ms_time(&mut self) -> Result<i64, RdbError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub fn binary_double(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    pub fn binary_float(&mut self) -> Result<f32, RdbError> {
        Ok(f32::from_le_bytes(self.array()?))
    }

    /// rdbLoadDoubleValue (RDB < 8 sorted sets): a length byte, then the
    /// number as text; 253/254/255 stand for NaN, +inf and -inf.
    pub fn string_double(&mut self) -> Result<f64, RdbError> {
        let at = self.offset();
        let n = self.u8()?;
        match n {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            _ => {
                let s = self.bytes(n as usize)?;
                std::str::from_utf8(s)
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .ok_or_else(|| self.err_at(at, "Invalid double value"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: &[u8]) -> Vec<u8> {
        let mut i = Input::new(bytes);
        let s = i.string().expect("decodes");
        assert!(i.at_end().expect("io"), "all consumed");
        s
    }

    #[test]
    fn lengths_round_trip() {
        for n in [
            0u64,
            1,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_len(&mut out, n);
            let mut i = Input::new(&out[..]);
            assert_eq!(i.length().expect("len"), n);
        }
    }

    #[test]
    fn strings_pick_redis_encodings() {
        let mut e = Enc::new(true);
        let mut out = Vec::new();
        e.put_string(&mut out, b"12");
        assert_eq!(out, [0xc0, 12]);
        out.clear();
        e.put_string(&mut out, b"-32768");
        assert_eq!(out, [0xc1, 0x00, 0x80]);
        out.clear();
        e.put_string(&mut out, b"012");
        assert_eq!(out, [3, b'0', b'1', b'2']);
        out.clear();
        let long = vec![b'x'; 100];
        e.put_string(&mut out, &long);
        assert_eq!(out[0], 0xc3);
        assert_eq!(read_back(&out), long);
        let mut e = Enc::new(false);
        out.clear();
        e.put_string(&mut out, &long);
        assert_eq!(out.len(), 102);
        for s in [
            &b"2147483647"[..],
            b"2147483648",
            b"-2147483648",
            b"",
            b"abc",
        ] {
            out.clear();
            e.put_string(&mut out, s);
            assert_eq!(read_back(&out), s);
        }
    }
}
