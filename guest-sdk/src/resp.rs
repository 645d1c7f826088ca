//! RESP, the bytes guests and the host exchange (docs/abi.md): the encoder
//! for requests and replies, and a parser for every RESP2 and RESP3 type.
//!
//! The parser takes any bytes without panicking: the host's replies are
//! trusted, but the same parser serves guests that read RESP from values or
//! arguments. It refuses nesting deeper than [`MAX_DEPTH`] so that neither the
//! parser nor dropping its result can exhaust the 512 KiB wasm stack, and it
//! never reserves more memory than the input could fill.

use crate::Reply;
use std::fmt;

/// Deepest nesting of aggregates the parser accepts. Redis's own replies nest
/// a handful of levels (XINFO STREAM FULL, COMMAND DOCS); Lua refuses about 200.
pub const MAX_DEPTH: usize = 256;

/// Why [`Reply::parse`] could not read a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes end before the value does; more input may complete it.
    Incomplete,
    /// The bytes are not RESP: `reason` says what is wrong at byte `offset`.
    Invalid { offset: usize, reason: &'static str },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Incomplete => f.write_str("incomplete RESP value"),
            ParseError::Invalid { offset, reason } => {
                write!(f, "invalid RESP at byte {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------- encoding

/// Appends `\r\n`-terminated decimal `n` (an aggregate length or integer).
pub(crate) fn write_int_line(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(format_i64(n, &mut buf));
    out.extend_from_slice(b"\r\n");
}

/// Formats `n` in decimal into `buf` without allocating.
pub(crate) fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Formats `n` in decimal into `buf` without allocating.
pub(crate) fn format_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Appends `bytes` as a RESP bulk string: `$<len>\r\n<bytes>\r\n`.
pub fn write_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    write_int_line(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends an aggregate header such as `*3\r\n`.
pub fn write_header(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    write_int_line(out, len as i64);
}

/// Appends a simple string or error line (`+text\r\n`, `-text\r\n`). CR and LF
/// would end the line early and make the reply malformed, so they become
/// spaces, as Redis does with Lua status and error replies.
fn write_line(out: &mut Vec<u8>, kind: u8, text: &str) {
    out.push(kind);
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Formats a double the way Redis does with `%.17g` (Lua numbers passed to
/// `redis.call`, RESP3 doubles): `3`, `0.10000000000000001`, `1e+20`, `inf`,
/// `-inf`, `nan`.
pub fn format_double(x: f64, out: &mut Vec<u8>) {
    if x.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let (digits, exp) = digits17(x.abs()).unwrap_or_else(|| digits17_fmt(x.abs()));
    if x.is_sign_negative() {
        out.push(b'-');
    }
    if !(-4..17).contains(&exp) {
        // Scientific: d[.ddd]e±XX, trailing zeros dropped (the %g rule).
        let frac = trim_zeros(&digits[1..]);
        out.push(digits[0]);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        let mut buf = [0u8; 20];
        out.extend_from_slice(format_u64(u64::from(e), &mut buf));
    } else if exp < 0 {
        // 0.000ddd
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(trim_zeros(&digits));
    } else {
        let int_len = exp as usize + 1;
        out.extend_from_slice(&digits[..int_len]);
        let frac = trim_zeros(&digits[int_len..]);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
    }
}

/// The 17 significant digits of `x` (finite, positive), correctly rounded (half to even, as
/// printf rounds), and the decimal exponent of the first: `x ~ d.dddddddddddddddd * 10^exp`.
/// Exact integer arithmetic for the numbers scripts format most (about 1e-6 to 2^64, what
/// `%.17g` prints without an exponent or close to it); `None` for the others.
/// `core::fmt`'s exact mode gives the same digits but costs several times as much, which
/// was a tenth of a token-bucket script's server time.
fn digits17(x: f64) -> Option<([u8; 17], i32)> {
    const E16: u128 = 10_000_000_000_000_000;
    const E17: u128 = 100_000_000_000_000_000;
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 || biased == 0x7ff {
        return None; // zero, subnormal, inf, nan
    }
    let m = u128::from(bits & ((1u64 << 52) - 1) | (1u64 << 52));
    let e = biased - 1075; // x = m * 2^e
    let pow10 = |p: u32| 10u128.checked_pow(p);
    // Rounds num / den (den a power of two or ten) to an integer, half to even.
    let round = |q: u128, rem: u128, half: u128| -> u128 {
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    let (mut q, mut d);
    if e >= 0 {
        if e > 11 {
            return None;
        }
        let n = m << e; // < 2^64
        d = n.checked_ilog10()? as i32;
        if d <= 16 {
            q = n * pow10((16 - d) as u32)?;
        } else {
            // 10^(d-16) is even, so `div / 2` is the exact half.
            let div = pow10((d - 16) as u32)?;
            q = round(n / div, n % div, div / 2);
        }
    } else {
        let k = (-e) as u32;
        if k >= 120 {
            return None;
        }
        // Estimate the exponent from the binary one (off by at most one), then correct it:
        // x * 10^(16 - d) must lie in [1e16, 1e17).
        d = (f64::from(biased - 1023) * std::f64::consts::LOG10_2).floor() as i32;
        let mut tries = 0;
        loop {
            tries += 1;
            if tries > 3 || !(-6..=16).contains(&d) {
                return None;
            }
            let num = m.checked_mul(pow10((16 - d) as u32)?)?;
            let whole = num >> k;
            if whole < E16 {
                d -= 1;
                continue;
            }
            if whole >= E17 {
                d += 1;
                continue;
            }
            let rem = num & ((1u128 << k) - 1);
            q = round(whole, rem, 1u128 << (k - 1));
            break;
        }
    }
    if q >= E17 {
        // Rounded up to 10^17: one digit more.
        q /= 10;
        d += 1;
    }
    let mut digits = [b'0'; 17];
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (q % 10) as u8;
        q /= 10;
    }
    Some((digits, d))
}

/// [`digits17`] through `core::fmt` (`{:.16e}`), for every finite positive `x`.
fn digits17_fmt(x: f64) -> ([u8; 17], i32) {
    let sci = format!("{:.16e}", x);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let mut digits = [b'0'; 17];
    for (slot, d) in digits
        .iter_mut()
        .zip(mantissa.bytes().filter(u8::is_ascii_digit))
    {
        *slot = d;
    }
    (digits, exp)
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
    &digits[..end]
}

/// Appends `reply` as RESP. RESP3 types are written as RESP3 (the host turns
/// them into what the client speaks); nil is written as RESP2's `$-1`.
pub fn encode(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Status(s) => write_line(out, b'+', s),
        Reply::Error(e) => write_line(out, b'-', e),
        Reply::Int(n) => {
            out.push(b':');
            write_int_line(out, *n);
        }
        Reply::Bulk(b) => write_bulk(out, b),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            write_header(out, b'*', items.len());
            items.iter().for_each(|r| encode(r, out));
        }
        Reply::Double(x) => {
            out.push(b',');
            format_double(*x, out);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Bool(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Map(pairs) => {
            write_header(out, b'%', pairs.len());
            for (k, v) in pairs {
                encode(k, out);
                encode(v, out);
            }
        }
        Reply::Set(items) => {
            write_header(out, b'~', items.len());
            items.iter().for_each(|r| encode(r, out));
        }
    }
}

// ----------------------------------------------------------------- numbers

/// Parses a decimal `i64` the way Redis's `string2ll` does: an optional `-`,
/// no `+`, no spaces, no leading zeros (only `0` itself), no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, s),
        None => return None,
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a double the way Redis reads float arguments (`strtod` on the
/// whole string): no surrounding spaces, `inf`/`-inf` allowed, NaN refused.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let x: f64 = text.parse().ok()?;
    if x.is_nan() {
        None
    } else {
        Some(x)
    }
}

// ----------------------------------------------------------------- parsing

/// Parses one RESP value from the start of `bytes`; returns it and the number
/// of bytes it took.
pub fn parse(bytes: &[u8]) -> Result<(Reply, usize), ParseError> {
    let mut p = Parser { bytes, pos: 0 };
    let reply = p.value(0)?;
    Ok((reply, p.pos))
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn invalid<T>(&self, reason: &'static str) -> Result<T, ParseError> {
        Err(ParseError::Invalid {
            offset: self.pos,
            reason,
        })
    }

    /// The bytes up to the next CRLF; moves past the CRLF.
    fn line(&mut self) -> Result<&[u8], ParseError> {
        let rest = &self.bytes[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i > 0 && rest[i - 1] == b'\r' => {
                self.pos += i + 1;
                Ok(&rest[..i - 1])
            }
            Some(_) => self.invalid("line not ended by CRLF"),
            None => Err(ParseError::Incomplete),
        }
    }

    fn int_line(&mut self) -> Result<i64, ParseError> {
        let start = self.pos;
        let line = self.line()?;
        match parse_i64(line) {
            Some(n) => Ok(n),
            None => Err(ParseError::Invalid {
                offset: start,
                reason: "not an integer",
            }),
        }
    }

    fn text_line(&mut self) -> Result<String, ParseError> {
        let line = self.line()?;
        Ok(String::from_utf8_lossy(line).into_owned())
    }

    /// A length-prefixed blob (`$`, `=`, `!`): `None` for the RESP2 null `-1`.
    fn blob(&mut self) -> Result<Option<Vec<u8>>, ParseError> {
        let n = self.int_line()?;
        if n == -1 {
            return Ok(None);
        }
        let Ok(n) = usize::try_from(n) else {
            return self.invalid("negative length");
        };
        let rest = &self.bytes[self.pos..];
        if rest.len() < n.saturating_add(2) {
            return Err(ParseError::Incomplete);
        }
        if &rest[n..n + 2] != b"\r\n" {
            self.pos += n;
            return self.invalid("bulk string not ended by CRLF");
        }
        let data = rest[..n].to_vec();
        self.pos += n + 2;
        Ok(Some(data))
    }

    /// An aggregate's element count: `None` for the RESP2 null `-1`.
    fn count(&mut self) -> Result<Option<usize>, ParseError> {
        let n = self.int_line()?;
        if n == -1 {
            return Ok(None);
        }
        match usize::try_from(n) {
            Ok(n) => Ok(Some(n)),
            Err(_) => self.invalid("negative length"),
        }
    }

    /// Room for `n` elements, but never more than the rest of the input
    /// could hold (every element takes at least 3 bytes), so a hostile
    /// `*999999999999` cannot make us reserve gigabytes.
    fn capacity(&self, n: usize) -> usize {
        n.min((self.bytes.len() - self.pos) / 3)
    }

    fn items(&mut self, n: usize, depth: usize) -> Result<Vec<Reply>, ParseError> {
        let mut items = Vec::with_capacity(self.capacity(n));
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(items)
    }

    fn value(&mut self, depth: usize) -> Result<Reply, ParseError> {
        if depth > MAX_DEPTH {
            return self.invalid("nested too deeply");
        }
        let Some(&kind) = self.bytes.get(self.pos) else {
            return Err(ParseError::Incomplete);
        };
        self.pos += 1;
        Ok(match kind {
            b'+' => Reply::Status(self.text_line()?),
            b'-' => Reply::Error(self.text_line()?),
            b':' => Reply::Int(self.int_line()?),
            b'$' => self.blob()?.map_or(Reply::Nil, Reply::Bulk),
            // Verbatim string: "txt:" or "mkd:" then the text.
            b'=' => match self.blob()? {
                Some(b) if b.len() >= 4 && b[3] == b':' => Reply::Bulk(b[4..].to_vec()),
                Some(_) => return self.invalid("verbatim string without a format"),
                None => Reply::Nil,
            },
            b'!' => match self.blob()? {
                Some(b) => Reply::Error(String::from_utf8_lossy(&b).into_owned()),
                None => Reply::Nil,
            },
            b'*' | b'>' => match self.count()? {
                Some(n) => Reply::Array(self.items(n, depth)?),
                None => Reply::NilArray,
            },
            b'~' => match self.count()? {
                Some(n) => Reply::Set(self.items(n, depth)?),
                None => Reply::NilArray,
            },
            b'%' => match self.count()? {
                Some(n) => {
                    let mut pairs = Vec::with_capacity(self.capacity(n) / 2);
                    for _ in 0..n {
                        let k = self.value(depth + 1)?;
                        let v = self.value(depth + 1)?;
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
                None => Reply::NilArray,
            },
            // Attributes describe the value that follows; guests have no use
            // for them, so they are read and dropped.
            b'|' => match self.count()? {
                Some(n) => {
                    for _ in 0..n.saturating_mul(2) {
                        self.value(depth + 1)?;
                    }
                    self.value(depth + 1)?
                }
                None => return self.invalid("null attribute"),
            },
            b'_' => {
                if !self.line()?.is_empty() {
                    return self.invalid("null with a payload");
                }
                Reply::Nil
            }
            b'#' => match self.line()? {
                b"t" => Reply::Bool(true),
                b"f" => Reply::Bool(false),
                _ => return self.invalid("boolean other than t or f"),
            },
            b',' => {
                let start = self.pos;
                let line = self.line()?;
                let x = match line {
                    b"inf" | b"+inf" => f64::INFINITY,
                    b"-inf" => f64::NEG_INFINITY,
                    b"nan" | b"-nan" => f64::NAN,
                    _ => match std::str::from_utf8(line).ok().and_then(|s| s.parse().ok()) {
                        Some(x) => x,
                        None => {
                            return Err(ParseError::Invalid {
                                offset: start,
                                reason: "not a double",
                            })
                        }
                    },
                };
                Reply::Double(x)
            }
            // Big numbers have no Reply variant; their digits are kept as a
            // bulk string, which `as_int` still reads when it fits an i64.
            b'(' => {
                let line = self.line()?;
                let digits = line.strip_prefix(b"-").unwrap_or(line);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return self.invalid("big number with non-digits");
                }
                Reply::Bulk(line.to_vec())
            }
            _ => {
                self.pos -= 1;
                return self.invalid("unknown RESP type byte");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    /// The integer fast path gives `core::fmt`'s exact digits: random doubles of every
    /// magnitude, the integers around 2^53 and 1e17, and values with ties at the 17th digit.
    #[test]
    fn digits17_matches_fmt() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        let mut values: Vec<f64> = vec![
            0.1,
            0.5,
            1.0,
            1.5,
            3.0,
            99.99,
            123.456,
            1e-6,
            1e-5,
            1e-4,
            1e16,
            1e17,
            1e18,
            9007199254740993.0,
            18446744073709551615.0,
            12345678901234567890.0,
            0.3,
            2.0 / 3.0,
        ];
        for _ in 0..200_000 {
            let r = next();
            // Uniform bits over a range of exponents, and "nice" decimals.
            let exp = (r % 90) as i32 - 30;
            let v = f64::from_bits(next() >> 12 | 0x3ff0_0000_0000_0000) * 10f64.powi(exp);
            values.push(v);
            values.push((next() % 10_000_000) as f64 / 1000.0);
        }
        for v in values {
            if let Some(fast) = super::digits17(v) {
                assert_eq!(fast, super::digits17_fmt(v), "{v:e}");
                checked += 1;
            }
        }
        assert!(checked > 200_000, "{checked}");
    }

    use super::*;

    fn enc(r: &Reply) -> Vec<u8> {
        let mut out = Vec::new();
        encode(r, &mut out);
        out
    }

    fn roundtrip(r: Reply) {
        let bytes = enc(&r);
        let (back, used) = parse(&bytes).expect("parses");
        assert_eq!(used, bytes.len());
        assert_eq!(back, r, "{:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn encodes_every_type() {
        assert_eq!(enc(&Reply::ok()), b"+OK\r\n");
        assert_eq!(enc(&Reply::Error("ERR x".into())), b"-ERR x\r\n");
        assert_eq!(enc(&Reply::Int(-42)), b":-42\r\n");
        assert_eq!(enc(&Reply::Bulk(b"a\r\nb".to_vec())), b"$4\r\na\r\nb\r\n");
        assert_eq!(enc(&Reply::Bulk(vec![])), b"$0\r\n\r\n");
        assert_eq!(enc(&Reply::Nil), b"$-1\r\n");
        assert_eq!(enc(&Reply::NilArray), b"*-1\r\n");
        assert_eq!(
            enc(&Reply::Array(vec![
                Reply::Int(1),
                Reply::Bulk(b"x".to_vec())
            ])),
            b"*2\r\n:1\r\n$1\r\nx\r\n"
        );
        assert_eq!(enc(&Reply::Double(1.5)), b",1.5\r\n");
        assert_eq!(enc(&Reply::Bool(true)), b"#t\r\n");
        assert_eq!(
            enc(&Reply::Map(vec![(Reply::from("k"), Reply::Int(1))])),
            b"%1\r\n$1\r\nk\r\n:1\r\n"
        );
        assert_eq!(enc(&Reply::Set(vec![Reply::Int(1)])), b"~1\r\n:1\r\n");
        assert_eq!(enc(&Reply::Int(i64::MIN)), b":-9223372036854775808\r\n");
    }

    #[test]
    fn status_and_error_lines_cannot_break_the_reply() {
        assert_eq!(enc(&Reply::Status("a\r\nb".into())), b"+a  b\r\n");
        assert_eq!(enc(&Reply::Error("ERR a\nb".into())), b"-ERR a b\r\n");
    }

    #[test]
    fn round_trips() {
        roundtrip(Reply::Status("PONG".into()));
        roundtrip(Reply::Error("WRONGTYPE Operation".into()));
        roundtrip(Reply::Int(0));
        roundtrip(Reply::Int(i64::MAX));
        roundtrip(Reply::Int(i64::MIN));
        roundtrip(Reply::Bulk((0..=255).collect()));
        roundtrip(Reply::Nil);
        roundtrip(Reply::NilArray);
        roundtrip(Reply::Array(vec![]));
        roundtrip(Reply::Array(vec![
            Reply::Array(vec![Reply::Nil, Reply::Int(3)]),
            Reply::Bulk(b"z".to_vec()),
            Reply::NilArray,
        ]));
        for x in [
            0.0,
            1.5,
            -2.25,
            1e300,
            1e-300,
            0.1,
            f64::INFINITY,
            -f64::INFINITY,
            f64::MAX,
        ] {
            roundtrip(Reply::Double(x));
        }
        roundtrip(Reply::Bool(false));
        roundtrip(Reply::Map(vec![(
            Reply::Int(1),
            Reply::Set(vec![Reply::Bool(true)]),
        )]));
    }

    #[test]
    fn parses_resp3_extras() {
        assert_eq!(parse(b"_\r\n").unwrap(), (Reply::Nil, 3));
        assert_eq!(
            parse(b"=8\r\ntxt:abcd\r\n").unwrap().0,
            Reply::Bulk(b"abcd".to_vec())
        );
        assert_eq!(
            parse(b"!5\r\nERR x\r\n").unwrap().0,
            Reply::Error("ERR x".into())
        );
        assert_eq!(parse(b"(123\r\n").unwrap().0.as_int(), Some(123));
        assert_eq!(
            parse(b">1\r\n:1\r\n").unwrap().0,
            Reply::Array(vec![Reply::Int(1)])
        );
        assert_eq!(
            parse(b"|1\r\n+a\r\n+b\r\n:7\r\n").unwrap(),
            (Reply::Int(7), 16)
        );
        assert!(matches!(parse(b",nan\r\n").unwrap().0, Reply::Double(x) if x.is_nan()));
    }

    #[test]
    fn reports_incomplete_and_invalid() {
        for partial in [&b""[..], b"+OK", b"$3\r\nab", b"*2\r\n:1\r\n", b":12"] {
            assert_eq!(parse(partial), Err(ParseError::Incomplete), "{partial:?}");
        }
        for bad in [
            &b"?\r\n"[..],
            b":abc\r\n",
            b":01\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"*-5\r\n",
            b"#x\r\n",
            b"+OK\n",
            b":99999999999999999999\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(ParseError::Invalid { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn survives_hostile_input() {
        // Huge counts reserve nothing they cannot fill.
        assert_eq!(
            parse(b"*9223372036854775807\r\n"),
            Err(ParseError::Incomplete)
        );
        assert_eq!(
            parse(b"$9223372036854775807\r\n"),
            Err(ParseError::Incomplete)
        );
        // Deep nesting is refused instead of overflowing the stack.
        let deep = b"*1\r\n".repeat(100_000);
        assert!(matches!(parse(&deep), Err(ParseError::Invalid { .. })));
        let ok = b"*1\r\n"
            .repeat(MAX_DEPTH)
            .into_iter()
            .chain(*b":1\r\n")
            .collect::<Vec<_>>();
        assert!(parse(&ok).is_ok());
        // Every prefix and a spread of byte soups parse or fail, never panic.
        let sample = enc(&Reply::Array(vec![
            Reply::Map(vec![(Reply::from("k"), Reply::Double(0.5))]),
            Reply::Bulk(b"hello".to_vec()),
            Reply::Error("ERR e".into()),
        ]));
        for end in 0..sample.len() {
            let _ = parse(&sample[..end]);
        }
        let mut seed = 0x9e3779b97f4a7c15u64;
        for _ in 0..20_000 {
            let len = (seed % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let alphabet = b"*$:+-_#,%~(=!>|\r\n0123-9tf";
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = parse(&bytes);
        }
    }

    #[test]
    fn doubles_format_like_printf_17g() {
        let f = |x: f64| {
            let mut out = Vec::new();
            format_double(x, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(f(3.0), "3");
        assert_eq!(f(-3.0), "-3");
        assert_eq!(f(0.1), "0.10000000000000001");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(100.0), "100");
        assert_eq!(f(1e16), "10000000000000000");
        assert_eq!(f(1e17), "1e+17");
        assert_eq!(f(1.25e20), "1.25e+20");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(0.00001), "1.0000000000000001e-05");
        // Expected values are C's printf("%.17g").
        assert_eq!(f(1e-300), "1e-300");
        assert_eq!(f(2.5e-5), "2.5000000000000001e-05");
        assert_eq!(f(1.0 / 3.0), "0.33333333333333331");
        assert_eq!(f(1e22), "1e+22");
        assert_eq!(f(5e-324), "4.9406564584124654e-324");
        assert_eq!(f(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(f64::INFINITY), "inf");
        assert_eq!(f(f64::NEG_INFINITY), "-inf");
        assert_eq!(f(f64::NAN), "nan");
        assert_eq!(f(123456.789), "123456.789");
    }

    #[test]
    fn integers_parse_like_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"9223372036854775808",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        for bad in [&b""[..], b"nan", b" 1", b"abc", b"1.5x"] {
            assert_eq!(parse_f64(bad), None, "{bad:?}");
        }
    }
}
