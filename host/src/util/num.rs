//! Integer parsing exactly as Redis's `string2ll`: no spaces, no `+`, no leading
//! zeros, no `-0`. Clients and their tests depend on these rejections.

/// Parses `s` as Redis does for integer arguments and integer-encoded values.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i128).wrapping_neg() as i64)
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Like [`parse_i64`] but for unsigned positions such as counts.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    parse_i64(s).and_then(|v| u64::try_from(v).ok())
}

/// Formats an integer into a stack buffer (no allocation) for replies and values.
pub fn fmt_i64(v: i64, buf: &mut itoa::Buffer) -> &[u8] {
    buf.format(v).as_bytes()
}

/// Parses a double the way Redis's `string2d` does: the whole argument must
/// be a number glibc's strtod accepts (decimal, hex float, `inf`/`infinity`,
/// any case, optional sign), with no leading space, no NaN, and no overflow
/// to infinity or underflow to zero ("1e400" and "1e-400" are rejected,
/// "inf" is not).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let r = strtod(s);
    if r.consumed != s.len() || r.value.is_nan() {
        return None;
    }
    if r.erange && (r.value.is_infinite() || r.value == 0.0) {
        return None;
    }
    Some(r.value)
}

/// C's `isspace` in the "C" locale.
#[inline]
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What glibc's `strtod` makes of the start of a string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    pub value: f64,
    /// Bytes used, leading white space included; 0 when nothing was a number
    /// (strtod then points its end pointer at the start).
    pub consumed: usize,
    /// errno was set to ERANGE: the value overflowed to ±inf or was too
    /// small for a normal double.
    pub erange: bool,
}

/// Emulates glibc's `strtod` on `s`: skips leading white space, then reads
/// the longest prefix that is a number. Decimal conversion is exact (Rust's
/// parser rounds correctly, as glibc does); hex floats are rounded to nearest.
pub fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod {
        value: 0.0,
        consumed: 0,
        erange: false,
    };
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let num_start = i;
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let rest = &s[i..];
    let starts_ic =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    let sign = if neg { -1.0 } else { 1.0 };
    if starts_ic(b"inf") {
        let n = if starts_ic(b"infinity") { 8 } else { 3 };
        return Strtod {
            value: sign * f64::INFINITY,
            consumed: i + n,
            erange: false,
        };
    }
    if starts_ic(b"nan") {
        let mut n = 3;
        // "nan(chars)" is one token; an unclosed "(" is not part of it.
        if rest.get(3) == Some(&b'(') {
            let close = rest[4..]
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'));
            if let Some(k) = close {
                if rest[4 + k] == b')' {
                    n = 4 + k + 1;
                }
            }
        }
        return Strtod {
            value: f64::NAN,
            consumed: i + n,
            erange: false,
        };
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((value, n, erange)) = hex_float(&rest[2..]) {
            return Strtod {
                value: sign * value,
                consumed: i + 2 + n,
                erange,
            };
        }
        // "0x" without hex digits: just the "0".
        return Strtod {
            value: sign * 0.0,
            consumed: i + 1,
            erange: false,
        };
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one digit.
    let mut j = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while j < rest.len() && rest[j].is_ascii_digit() {
        nonzero |= rest[j] != b'0';
        j += 1;
        digits += 1;
    }
    if j < rest.len() && rest[j] == b'.' {
        j += 1;
        while j < rest.len() && rest[j].is_ascii_digit() {
            nonzero |= rest[j] != b'0';
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return none;
    }
    if j < rest.len() && (rest[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < rest.len() && (rest[k] == b'+' || rest[k] == b'-') {
            k += 1;
        }
        if k < rest.len() && rest[k].is_ascii_digit() {
            while k < rest.len() && rest[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = match std::str::from_utf8(&s[num_start..i + j]) {
        Ok(t) => t,
        Err(_) => return none,
    };
    let value = text.parse::<f64>().unwrap_or(0.0);
    let erange = value.is_infinite() || (nonzero && (value == 0.0 || value.is_subnormal()));
    Strtod {
        value,
        consumed: i + j,
        erange,
    }
}

/// The part of a hex float after "0x": hex digits with an optional point and
/// an optional binary exponent. Returns (magnitude, bytes used, erange), or
/// None when no hex digit follows.
fn hex_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut digits = 0;
    let mut j = 0;
    let mut seen_point = false;
    while j < s.len() {
        let c = s[j];
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            b'.' if !seen_point => {
                seen_point = true;
                j += 1;
                continue;
            }
            _ => break,
        };
        digits += 1;
        // Keep 60 significant bits; the rest only decide rounding.
        if mant >> 56 == 0 {
            mant = (mant << 4) | d as u64;
            if seen_point {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_point {
                exp += 4;
            }
        }
        j += 1;
    }
    if digits == 0 {
        return None;
    }
    if j < s.len() && (s[j] | 0x20) == b'p' {
        let mut k = j + 1;
        let mut eneg = false;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            eneg = s[k] == b'-';
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            let mut e: i64 = 0;
            while k < s.len() && s[k].is_ascii_digit() {
                e = (e * 10 + (s[k] - b'0') as i64).min(1 << 40);
                k += 1;
            }
            exp += if eneg { -e } else { e };
            j = k;
        }
    }
    if mant == 0 {
        return Some((0.0, j, false));
    }
    // Fold the dropped digits into the lowest bit so the u64 → f64
    // conversion rounds ties the right way.
    let m = (mant | sticky as u64) as f64;
    let value = scale_pow2(m, exp);
    let erange = value.is_infinite() || value == 0.0 || value.is_subnormal();
    Some((value, j, erange))
}

/// m · 2^exp, step by step so intermediate powers neither overflow nor
/// underflow early.
fn scale_pow2(mut m: f64, mut exp: i64) -> f64 {
    while exp > 0 && m.is_finite() {
        let step = exp.min(1000);
        m *= 2f64.powi(step as i32);
        exp -= step;
    }
    while exp < 0 && m != 0.0 {
        let step = (-exp).min(1000);
        m /= 2f64.powi(step as i32);
        exp += step;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"abc",
            b"1e3",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn doubles_parse_like_redis_string2d() {
        let ok = |s: &str, v: f64| assert_eq!(parse_f64(s.as_bytes()), Some(v), "{s:?}");
        ok("1.5", 1.5);
        ok("-1.5", -1.5);
        ok("+1.5", 1.5);
        ok("1e3", 1000.0);
        ok("1E+3", 1000.0);
        ok(".5", 0.5);
        ok("5.", 5.0);
        ok("inf", f64::INFINITY);
        ok("+inf", f64::INFINITY);
        ok("-inf", f64::NEG_INFINITY);
        ok("Infinity", f64::INFINITY);
        ok("-INFINITY", f64::NEG_INFINITY);
        ok("0x10", 16.0);
        ok("0x1p3", 8.0);
        ok("-0x1.8p1", -3.0);
        ok("0X.8", 0.5);
        ok("1e308", 1e308);
        ok("5e-324", 5e-324);
        ok("0e-999", 0.0);
        ok("17976931348623157e292", 1.7976931348623157e308);
        for bad in [
            "", " 1", "1 ", "\t1", "nan", "NaN", "-nan", "nan(123)", "1e400", "-1e400", "1e-400",
            "abc", "1.5x", "0x", "0xg", "1e", "1e+", ".", "-", "+", "1_000", "infx", "1\x00",
        ] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn strtod_prefixes() {
        let r = strtod(b"  12abc");
        assert_eq!((r.value, r.consumed), (12.0, 4));
        let r = strtod(b"0x");
        assert_eq!((r.value, r.consumed), (0.0, 1));
        let r = strtod(b"1e+");
        assert_eq!((r.value, r.consumed), (1.0, 1));
        let r = strtod(b"   ");
        assert_eq!(r.consumed, 0);
        let r = strtod(b"-infinityx");
        assert_eq!((r.value, r.consumed), (f64::NEG_INFINITY, 9));
        let r = strtod(b"nan(abc)x");
        assert_eq!(r.consumed, 8);
        let r = strtod(b"nan(abc");
        assert_eq!(r.consumed, 3);
        assert!(strtod(b"1e999").erange);
    }
}
