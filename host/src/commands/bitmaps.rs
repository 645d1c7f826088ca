//! Bitmap commands on string values (Redis's bitops.c): SETBIT, GETBIT,
//! BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.
//!
//! Bit 0 is the most significant bit of the first byte. Strings that bitmap
//! commands grow are kept as `Value::Raw` (a growable vector, Redis's "raw"
//! encoding), so setting bit 99,999,999 of a daily-active-users bitmap costs one
//! 12.5 MB allocation and later SETBITs are O(1).

use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::store::Value;
use crate::util::num::parse_i64;
use smallvec::SmallVec;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, Group::Bitmap, setbit).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "O(1)")
        .syntax("key offset value"),
    CommandSpec::new("getbit", 3, Group::Bitmap, getbit).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.2.0", "Returns a bit value by offset.", "O(1)")
        .syntax("key offset"),
    CommandSpec::new("bitcount", -2, Group::Bitmap, bitcount).flags(READONLY).keys(1, 1, 1)
        .doc("2.6.0", "Counts the number of set bits (population counting) in a string.", "O(N)")
        .syntax("key [start end [BYTE | BIT]]"),
    CommandSpec::new("bitpos", -3, Group::Bitmap, bitpos).flags(READONLY).keys(1, 1, 1)
        .doc("2.8.7", "Finds the first set (1) or clear (0) bit in a string.", "O(N)")
        .syntax("key bit [start [end [BYTE | BIT]]]"),
    CommandSpec::new("bitop", -4, Group::Bitmap, bitop).flags(WRITE | DENYOOM).keys(2, -1, 1)
        .doc("2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", "O(N)")
        .syntax("<AND | OR | XOR | NOT> destkey key [key ...]"),
    CommandSpec::new("bitfield", -2, Group::Bitmap, bitfield).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("3.2.0", "Performs arbitrary bitfield integer operations on strings.", "O(1) for each subcommand specified")
        .syntax("key [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> ...]]"),
    CommandSpec::new("bitfield_ro", -2, Group::Bitmap, bitfield_ro).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", "O(1) for each subcommand specified")
        .syntax("key [GET encoding offset [GET encoding offset ...]]"),
];

const ERR_OFFSET: CmdError = CmdError::err("ERR bit offset is not an integer or out of range");
const ERR_BIT: CmdError = CmdError::err("ERR bit is not an integer or out of range");
const ERR_TYPE: CmdError = CmdError::err(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);

/// Turns a string value into the growable `Raw` form in place (Redis's
/// dbUnshareStringValue); also used by the HyperLogLog commands.
pub(crate) fn make_raw(v: &mut Value) -> &mut Vec<u8> {
    if !matches!(v, Value::Raw(_)) {
        let mut buf = itoa::Buffer::new();
        let bytes = v.as_bytes(&mut buf).unwrap_or_default().to_vec();
        *v = Value::Raw(Box::new(bytes));
    }
    match v {
        Value::Raw(b) => b,
        // Just replaced by a Raw value above.
        _ => unreachable!("value was just made raw"),
    }
}

/// A bit offset argument (getBitOffsetFromArgument). With `bits` > 0 the
/// `#N` form means N * bits (BITFIELD). Offsets beyond proto-max-bulk-len
/// bytes are refused.
fn bit_offset(ctx: &Ctx, arg: &[u8], bits: u32) -> Result<u64, CmdError> {
    let hash = bits > 0 && arg.first() == Some(&b'#');
    let digits = if hash { &arg[1..] } else { arg };
    let mut v = parse_i64(digits).ok_or(ERR_OFFSET)?;
    if hash {
        v = v.wrapping_mul(bits as i64);
    }
    if v < 0 || (v >> 3) as u64 >= ctx.srv.config.read().proto_max_bulk_len {
        return Err(ERR_OFFSET);
    }
    Ok(v as u64)
}

/// Makes `key` a raw string long enough to address bit `maxbit`, creating it
/// if missing (lookupStringForBitCommand). Returns whether it was created or
/// grown.
fn string_for_write(ctx: &mut Ctx, key: &[u8], maxbit: u64) -> Result<bool, CmdError> {
    let db = ctx.db();
    let len = usize::try_from(maxbit >> 3)
        .ok()
        .and_then(|b| b.checked_add(1))
        .ok_or(ERR_OFFSET)?;
    match ctx.ks.get(db, key) {
        None => {
            ctx.ks
                .set(db, key, Value::Raw(Box::new(vec![0; len])), None);
            Ok(true)
        }
        Some(e) => {
            if !e.value.is_string() {
                return Err(CmdError::WrongType);
            }
            let raw = make_raw(&mut e.value);
            if raw.len() < len {
                raw.resize(len, 0);
                Ok(true)
            } else {
                Ok(false)
            }
        }
    }
}

fn setbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), argv[1]);
    let offset = bit_offset(ctx, argv[2], 0)?;
    let on = parse_i64(argv[3]).ok_or(ERR_BIT)?;
    if on & !1 != 0 {
        return Err(ERR_BIT);
    }
    let dirty = string_for_write(ctx, key, offset)?;
    let Some(e) = ctx.ks.get(db, key) else {
        return Ok(());
    };
    let raw = make_raw(&mut e.value);
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let old = raw[byte] & mask != 0;
    let changed = dirty || old != (on == 1);
    if changed {
        if on == 1 {
            raw[byte] |= mask;
        } else {
            raw[byte] &= !mask;
        }
        ctx.ks.touch(db, key);
        ctx.notify(notify::STRING, "setbit", key);
    }
    ctx.out.int(old as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2], 0)?;
    let db = ctx.db();
    let Some(e) = ctx.ks.read(db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let bytes = e.value.as_bytes(&mut buf).ok_or(CmdError::WrongType)?;
    let bit = usize::try_from(offset >> 3)
        .ok()
        .and_then(|i| bytes.get(i))
        .is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
    ctx.out.int(bit as i64);
    Ok(())
}

/// `s` as native-endian 64-bit words with the unaligned bytes before and
/// after them. Bitmaps reach hundreds of MB, and word loops keep even debug
/// builds (the test suites) fast.
fn as_words(s: &[u8]) -> (&[u8], &[u64], &[u8]) {
    // SAFETY: every bit pattern is a valid u64, and align_to only yields
    // words that are properly aligned and lie inside `s`.
    unsafe { s.align_to::<u64>() }
}

/// Number of set bits.
fn popcount(s: &[u8]) -> u64 {
    let (head, words, tail) = as_words(s);
    let mut n: u64 = 0;
    for b in head.iter().chain(tail) {
        n += b.count_ones() as u64;
    }
    for w in words {
        n += w.count_ones() as u64;
    }
    n
}

/// BYTE | BIT unit keyword.
fn parse_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(arg, "bit") {
        Ok(true)
    } else if eq_ic(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Masks of the bits outside a BIT range in its first and last bytes.
fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u32 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u32 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

fn bitcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    // Redis looks the key up before parsing the range: a missing key answers 0
    // even for a malformed range.
    let Some(e) = ctx.ks.read(db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let p = e.value.as_bytes(&mut buf).ok_or(CmdError::WrongType)?;
    let strlen = p.len() as i64;
    let (mut start, mut end);
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match argv.len() {
        4 | 5 => {
            let mut totlen = strlen;
            start = arg_i64(argv[2])?;
            end = arg_i64(argv[3])?;
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let isbit = argv.len() == 5 && parse_unit(argv[4])?;
            if isbit {
                totlen <<= 3;
            }
            if start < 0 {
                start += totlen;
            }
            if end < 0 {
                end += totlen;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= totlen {
                end = totlen - 1;
            }
            if isbit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        2 => {
            start = 0;
            end = strlen - 1;
        }
        _ => return Err(CmdError::Syntax),
    }
    if start > end {
        ctx.out.int(0);
        return Ok(());
    }
    let (s, e) = (start as usize, end as usize);
    let mut count = popcount(&p[s..=e]);
    // Take back the bits of the edge bytes that lie outside a BIT range.
    count -= (p[s] & first_mask).count_ones() as u64;
    count -= (p[e] & last_mask).count_ones() as u64;
    ctx.out.int(count as i64);
    Ok(())
}

/// Position of the first `bit` in `s` (redisBitpos): -1 when looking for a 1
/// in all zeros; when looking for a 0 in all ones, the bit just past the end
/// (the string is taken as zero-padded on the right).
fn find_bit(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u8 } else { 0xff };
    let skip_word = if bit { 0u64 } else { u64::MAX };
    // Skip whole words of 0x00 / 0xff (long runs are the common case), then
    // look at the bytes of the first word that differs.
    let (head, words, _) = as_words(s);
    let mut i = match head.iter().position(|&b| b != skip) {
        Some(k) => k,
        None => {
            // A plain loop: iterator adaptors cost a call per word in debug builds.
            let mut n = 0;
            for &w in words {
                if w != skip_word {
                    break;
                }
                n += 1;
            }
            head.len() + 8 * n
        }
    };
    while i < s.len() && s[i] == skip {
        i += 1;
    }
    match s.get(i) {
        Some(&b) => {
            let within = if bit {
                b.leading_zeros()
            } else {
                (!b).leading_zeros()
            };
            (i * 8) as i64 + within as i64
        }
        None if bit => -1,
        None => (s.len() * 8) as i64,
    }
}

fn bitpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let bit = arg_i64(argv[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("ERR The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    let db = ctx.db();
    // A missing key is an infinite run of zeros.
    let Some(e) = ctx.ks.read(db, argv[1]) else {
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let p = e.value.as_bytes(&mut buf).ok_or(CmdError::WrongType)?;
    let strlen = p.len() as i64;
    let (mut start, mut end);
    let mut end_given = false;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match argv.len() {
        4..=6 => {
            let mut totlen = strlen;
            start = arg_i64(argv[3])?;
            let isbit = argv.len() == 6 && parse_unit(argv[5])?;
            if argv.len() >= 5 {
                end = arg_i64(argv[4])?;
                end_given = true;
            } else if isbit {
                end = (totlen << 3) + 7;
            } else {
                end = totlen - 1;
            }
            if isbit {
                totlen <<= 3;
            }
            if start < 0 {
                start += totlen;
            }
            if end < 0 {
                end += totlen;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= totlen {
                end = totlen - 1;
            }
            if isbit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        3 => {
            start = 0;
            end = strlen - 1;
        }
        _ => return Err(CmdError::Syntax),
    }
    if start > end {
        ctx.out.int(-1);
        return Ok(());
    }
    // Search the masked first byte, the whole bytes between, then the masked
    // last byte, stopping as soon as one of them holds the bit.
    let mut bytes = end - start + 1;
    let pos = 'search: {
        let mut pos;
        if first_mask != 0 {
            let mut tmp = if bit {
                p[start as usize] & !first_mask
            } else {
                p[start as usize] | first_mask
            };
            if last_mask != 0 && bytes == 1 {
                tmp = if bit {
                    tmp & !last_mask
                } else {
                    tmp | last_mask
                };
            }
            pos = find_bit(&[tmp], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            bytes -= 1;
        }
        let whole = bytes - (last_mask != 0) as i64;
        if whole > 0 {
            let s = start as usize;
            pos = find_bit(&p[s..s + whole as usize], bit);
            if bytes == whole || (pos != -1 && pos != whole << 3) {
                break 'search pos;
            }
            start += whole;
            bytes -= whole;
        }
        let tmp = if bit {
            p[end as usize] & !last_mask
        } else {
            p[end as usize] | last_mask
        };
        find_bit(&[tmp], bit)
    };
    // With an explicit end, the zero padding past the range does not count.
    if end_given && !bit && pos == bytes << 3 {
        ctx.out.int(-1);
        return Ok(());
    }
    ctx.out
        .int(if pos != -1 { pos + (start << 3) } else { pos });
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The BITOP result as native-endian words (operated on a word at a time),
/// and its length in bytes.
#[derive(Default)]
struct WordBuf {
    words: Vec<u64>,
    len: usize,
}

/// Bytes of source copied into an aligned block at a time.
const BLOCK_WORDS: usize = 512;

/// The bytes of `words` (native-endian), writable.
fn word_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    let len = std::mem::size_of_val(words);
    // SAFETY: the view covers exactly the words' memory and borrows it
    // mutably for its lifetime; u8 needs no alignment, and any bytes written
    // through it leave valid u64 values.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

impl WordBuf {
    /// Starts from `src`, zero-padded to whole words.
    fn load(&mut self, src: &[u8]) {
        self.words = vec![0; src.len().div_ceil(8)];
        word_bytes_mut(&mut self.words)[..src.len()].copy_from_slice(src);
        self.len = src.len();
    }

    /// Combines `src` into the result (AND / OR / XOR).
    fn combine(&mut self, op: BitOp, src: &[u8]) {
        let src_words = src.len().div_ceil(8);
        if src_words > self.words.len() {
            self.words.resize(src_words, 0);
        }
        self.len = self.len.max(src.len());
        let mut block = [0u64; BLOCK_WORDS];
        for (n, chunk) in src.chunks(BLOCK_WORDS * 8).enumerate() {
            // Copy into an aligned block (the last one zero-padded).
            let used = chunk.len().div_ceil(8);
            block[used.saturating_sub(1)..used].fill(0);
            word_bytes_mut(&mut block)[..chunk.len()].copy_from_slice(chunk);
            let dst = &mut self.words[n * BLOCK_WORDS..n * BLOCK_WORDS + used];
            let src = &block[..used];
            match op {
                BitOp::And => {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d &= s;
                    }
                }
                BitOp::Or => {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d |= s;
                    }
                }
                BitOp::Xor => {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d ^= s;
                    }
                }
                BitOp::Not => {}
            }
        }
        if op == BitOp::And {
            // Past the end of this source every byte is zero.
            self.words[src_words..].fill(0);
        }
    }

    fn into_bytes(mut self) -> Vec<u8> {
        let len = self.len;
        word_bytes_mut(&mut self.words)[..len].to_vec()
    }
}

fn bitop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let op = if eq_ic(argv[1], "and") {
        BitOp::And
    } else if eq_ic(argv[1], "or") {
        BitOp::Or
    } else if eq_ic(argv[1], "xor") {
        BitOp::Xor
    } else if eq_ic(argv[1], "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(CmdError::err(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let (db, dest) = (ctx.db(), argv[2]);
    // Fold the sources into the result one at a time (a source may also be
    // the destination). Missing keys are empty strings; bytes past the end of
    // a source count as zero.
    let mut acc = WordBuf::default();
    for (j, key) in argv[3..].iter().enumerate() {
        let mut buf = itoa::Buffer::new();
        let src: &[u8] = match ctx.ks.read(db, key) {
            None => &[],
            Some(e) => e.value.as_bytes(&mut buf).ok_or(CmdError::WrongType)?,
        };
        if j == 0 {
            acc.load(src);
            if op == BitOp::Not {
                for w in acc.words.iter_mut() {
                    *w = !*w;
                }
            }
        } else {
            acc.combine(op, src);
        }
    }
    let res = acc.into_bytes();
    let len = res.len();
    if len > 0 {
        ctx.ks.set(db, dest, Value::Raw(Box::new(res)), None);
        ctx.ks.touch(db, dest);
        ctx.notify(notify::STRING, "set", dest);
    } else if ctx.ks.remove(db, dest).is_some() {
        ctx.ks.touch(db, dest);
        ctx.notify(notify::GENERIC, "del", dest);
    }
    ctx.out.int(len as i64);
    Ok(())
}

// ----------------------------------------------------------------------------
// BITFIELD
// ----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    offset: u64,
    value: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// A bitfield type: `i1`..`i64` or `u1`..`u63` (the rest of a C string after
/// the letter, so a NUL ends it).
fn bitfield_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(ERR_TYPE),
    };
    let rest = &arg[1..];
    let rest = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
    let bits = parse_i64(rest).ok_or(ERR_TYPE)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(ERR_TYPE);
    }
    Ok((signed, bits as u32))
}

fn get_unsigned(p: &[u8], mut offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for _ in 0..bits {
        let byte = p[(offset >> 3) as usize];
        let bit = (byte >> (7 - (offset & 7))) & 1;
        value = (value << 1) | bit as u64;
        offset += 1;
    }
    value
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits) as i64;
    // Sign-extend from the field's top bit.
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

fn set_unsigned(p: &mut [u8], mut offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let bitval = (value >> (bits - 1 - j)) & 1 != 0;
        let byte = &mut p[(offset >> 3) as usize];
        let mask = 1u8 << (7 - (offset & 7));
        if bitval {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
        offset += 1;
    }
}

/// Redis's checkUnsignedBitfieldOverflow: 1 overflow, -1 underflow, 0 fits;
/// with the value to store for WRAP / SAT in the first two cases.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        (-1, if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        (0, 0)
    }
}

/// Redis's checkSignedBitfieldOverflow.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        (-1, if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        (0, 0)
    }
}

/// A GET on up to 64 bits at any offset of `src` (zero-padded past its end).
fn field_get(src: &[u8], f: &Field) -> i64 {
    let byte = f.offset >> 3;
    let mut buf = [0u8; 9];
    if let Ok(b) = usize::try_from(byte) {
        if b < src.len() {
            let n = (src.len() - b).min(9);
            buf[..n].copy_from_slice(&src[b..b + n]);
        }
    }
    let off = f.offset - byte * 8;
    if f.signed {
        get_signed(&buf, off, f.bits)
    } else {
        get_unsigned(&buf, off, f.bits) as i64
    }
}

fn bitfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

fn bitfield_generic(ctx: &mut Ctx, argv: &[&[u8]], ro_command: bool) -> CmdResult {
    let mut ops: SmallVec<[Field; 4]> = SmallVec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest_write: u64 = 0;
    let mut j = 2;
    while j < argv.len() {
        let remargs = argv.len() - j - 1;
        let sub = argv[j];
        let op = if eq_ic(sub, "get") && remargs >= 2 {
            FieldOp::Get
        } else if eq_ic(sub, "set") && remargs >= 3 {
            FieldOp::Set
        } else if eq_ic(sub, "incrby") && remargs >= 3 {
            FieldOp::IncrBy
        } else if eq_ic(sub, "overflow") && remargs >= 1 {
            let name = argv[j + 1];
            overflow = if eq_ic(name, "wrap") {
                Overflow::Wrap
            } else if eq_ic(name, "sat") {
                Overflow::Sat
            } else if eq_ic(name, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = bitfield_type(argv[j + 1])?;
        let offset = bit_offset(ctx, argv[j + 2], bits)?;
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest_write = highest_write.max(offset + bits as u64 - 1);
            value = arg_i64(argv[j + 3])?;
        }
        ops.push(Field {
            op,
            offset,
            value,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    let (db, key) = (ctx.db(), argv[1]);
    if readonly {
        let mut buf = itoa::Buffer::new();
        let src: &[u8] = match ctx.ks.read(db, key) {
            None => &[],
            Some(e) => e.value.as_bytes(&mut buf).ok_or(CmdError::WrongType)?,
        };
        ctx.out.array(ops.len());
        for f in &ops {
            ctx.out.int(field_get(src, f));
        }
        return Ok(());
    }
    if ro_command {
        return Err(CmdError::err(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let dirty = string_for_write(ctx, key, highest_write)?;
    let Some(e) = ctx.ks.get(db, key) else {
        return Ok(());
    };
    let p = make_raw(&mut e.value);
    ctx.out.array(ops.len());
    let mut changes = 0;
    for f in &ops {
        if f.op == FieldOp::Get {
            ctx.out.int(field_get(p, f));
            continue;
        }
        let (old, new, ret, overflowed) = if f.signed {
            let old = get_signed(p, f.offset, f.bits);
            if f.op == FieldOp::IncrBy {
                let (o, wrapped) = signed_overflow(old, f.value, f.bits, f.overflow);
                let new = if o != 0 {
                    wrapped
                } else {
                    old.wrapping_add(f.value)
                };
                (old as u64, new as u64, new, o != 0)
            } else {
                let (o, wrapped) = signed_overflow(f.value, 0, f.bits, f.overflow);
                let new = if o != 0 { wrapped } else { f.value };
                (old as u64, new as u64, old, o != 0)
            }
        } else {
            let old = get_unsigned(p, f.offset, f.bits);
            if f.op == FieldOp::IncrBy {
                let (o, wrapped) = unsigned_overflow(old, f.value, f.bits, f.overflow);
                let new = if o != 0 {
                    wrapped
                } else {
                    old.wrapping_add(f.value as u64)
                };
                (old, new, new as i64, o != 0)
            } else {
                let (o, wrapped) = unsigned_overflow(f.value as u64, 0, f.bits, f.overflow);
                let new = if o != 0 { wrapped } else { f.value as u64 };
                (old, new, old as i64, o != 0)
            }
        };
        if overflowed && f.overflow == Overflow::Fail {
            ctx.out.null();
            continue;
        }
        ctx.out.int(ret);
        set_unsigned(p, f.offset, f.bits, new);
        if dirty || old != new {
            changes += 1;
        }
    }
    if changes > 0 {
        ctx.ks.touch(db, key);
        ctx.notify(notify::STRING, "setbit", key);
    }
    Ok(())
}
