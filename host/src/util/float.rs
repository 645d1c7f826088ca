//! Float arithmetic that must print exactly as Redis prints it: INCRBYFLOAT's
//! long-double sum (through a small C helper, see float.c for why), `%.17g`
//! formatting of doubles, and the two formats GEO replies use (`%.17Lf` of a
//! double with its zeros trimmed, and four fixed decimals).

use std::os::raw::{c_char, c_int};

extern "C" {
    fn ember_ld_incr(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        out_len: usize,
    ) -> c_int;
}

/// Why a long-double increment failed.
#[derive(Debug, PartialEq, Eq)]
pub enum IncrFloatError {
    /// The stored value is not a float.
    BadCurrent,
    /// The increment is not a float.
    BadIncrement,
    /// The result would be NaN or infinite.
    NanOrInfinity,
}

/// Adds `incr` to `cur` in long double precision and formats the sum like Redis.
pub fn incr_long_double(cur: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    // 5 KiB is Redis's MAX_LONG_DOUBLE_CHARS: any value that fits a long double prints in it.
    let mut out = vec![0u8; 5 * 1024 + 32];
    // SAFETY: the pointers and lengths come from live slices; the C side reads at
    // most `len` bytes of each input (copying into its own NUL-terminated buffer)
    // and writes at most `out.len()` bytes into `out`.
    let n = unsafe {
        ember_ld_incr(
            cur.as_ptr().cast(),
            cur.len(),
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match n {
        -1 => Err(IncrFloatError::BadCurrent),
        -2 => Err(IncrFloatError::BadIncrement),
        n if n < 0 => Err(IncrFloatError::NanOrInfinity),
        n => {
            out.truncate(n as usize);
            Ok(out)
        }
    }
}

/// Formats a double the way Redis 7.0's `d2string` does: integral values in the
/// safe range as integers, otherwise `%.17g`; `inf`/`-inf` spelled out.
pub fn fmt_double(v: f64) -> String {
    if v.is_nan() {
        // As C's %g prints it: Lua's 0/0 is a negative NaN on x86 and in
        // the Lua guest alike, and Redis replies "-nan" for it.
        return if v.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if v > -4503599627370495.0 && v < 4503599627370496.0 && v == (v as i64) as f64 {
        return (v as i64).to_string();
    }
    fmt_g17(v)
}

/// C's `%.17g`: 17 significant digits, exponent form when exp < -4 or >= 17,
/// trailing zeros removed.
pub fn fmt_g17(v: f64) -> String {
    let sci = format!("{:.16e}", v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => return sci,
    };
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..17).contains(&exp) {
        let mut m = String::new();
        m.push_str(&digits[..1]);
        let rest = digits[1..].trim_end_matches('0');
        if !rest.is_empty() {
            m.push('.');
            m.push_str(rest);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    } else if exp >= 0 {
        let int_len = (exp + 1) as usize;
        let (ip, fp) = digits.split_at(int_len.min(digits.len()));
        let fp = fp.trim_end_matches('0');
        if fp.is_empty() {
            format!("{sign}{ip}")
        } else {
            format!("{sign}{ip}.{fp}")
        }
    } else {
        let zeros = "0".repeat((-exp - 1) as usize);
        let fp = digits.trim_end_matches('0');
        format!("{sign}0.{zeros}{fp}")
    }
}

/// A double as Redis's `ld2string(LD_STR_HUMAN)` prints it (GEOPOS and
/// WITHCOORD): `%.17Lf`, trailing zeros and a trailing dot removed, "-0" as
/// "0". A double converts to a long double exactly, so this is the double's
/// exact value rounded to 17 decimals (Rust's formatting rounds the exact
/// value half to even, as glibc's printf does).
pub fn fmt_human(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// A double with exactly `digits` decimals (1..=17) as Redis's
/// `fixedpoint_d2string` prints it (GEODIST and WITHDIST use 4): the value
/// times 10^digits rounded half to even into a 64-bit integer (`llrint`;
/// NaN and overflow give the most negative one, as on x86-64), then split.
pub fn fmt_fixed(v: f64, digits: usize) -> String {
    let digits = digits.clamp(1, 17);
    if v == 0.0 {
        return format!("0.{}", "0".repeat(digits));
    }
    // Powers of ten up to 10^17 are exact doubles.
    const POW10: [f64; 18] = [
        1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17,
    ];
    let scale = POW10[digits];
    let r = (v * scale).round_ties_even();
    let n: i64 = if r.is_nan() || !(-9223372036854775808.0..9223372036854775808.0).contains(&r) {
        i64::MIN
    } else {
        r as i64
    };
    let mag = n.unsigned_abs();
    let unit = 10u64.pow(digits as u32);
    format!(
        "{}{}.{:0digits$}",
        if n < 0 { "-" } else { "" },
        mag / unit,
        mag % unit
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_double_sums_print_like_redis() {
        assert_eq!(incr_long_double(b"10.5", b"0.1").unwrap(), b"10.6");
        assert_eq!(incr_long_double(b"5.0e3", b"2.0e2").unwrap(), b"5200");
        assert_eq!(incr_long_double(b"0", b"-0").unwrap(), b"0");
        assert_eq!(
            incr_long_double(b"abc", b"1"),
            Err(IncrFloatError::BadCurrent)
        );
        assert_eq!(
            incr_long_double(b"1", b" 1"),
            Err(IncrFloatError::BadIncrement)
        );
        assert_eq!(
            incr_long_double(b"1", b"inf"),
            Err(IncrFloatError::NanOrInfinity)
        );
    }

    #[test]
    fn geo_formats() {
        assert_eq!(fmt_human(13.361389338970184), "13.36138933897018433");
        assert_eq!(fmt_human(-0.0), "0");
        assert_eq!(fmt_human(2.5), "2.5");
        assert_eq!(fmt_human(180.0), "180");
        assert_eq!(fmt_fixed(0.0, 4), "0.0000");
        assert_eq!(fmt_fixed(166274.15156960033, 4), "166274.1516");
        assert_eq!(fmt_fixed(0.00005, 4), "0.0000");
        assert_eq!(fmt_fixed(0.25, 1), "0.2");
        assert_eq!(fmt_fixed(0.75, 1), "0.8");
        assert_eq!(fmt_fixed(-1.5, 4), "-1.5000");
        assert_eq!(fmt_fixed(f64::NAN, 4), "-922337203685477.5808");
    }

    #[test]
    fn g17_formatting() {
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(3.0), "3");
        assert_eq!(fmt_double(0.1), "0.10000000000000001");
        assert_eq!(fmt_double(1e20), "1e+20");
        assert_eq!(fmt_double(1.5e-7), "1.4999999999999999e-07");
    }
}
