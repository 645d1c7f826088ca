//! The cursor and options shared by the SCAN family (SCAN, HSCAN, SSCAN,
//! ZSCAN), parsed as Redis's scanGenericCommand does.

use super::{arg_i64, eq_ic, CmdError, Ctx};
use crate::util::glob::glob_match;

/// Redis parses SCAN cursors with strtoul: an optional sign, decimal digits,
/// "" is 0, a negative number wraps around, overflow is an error.
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("ERR invalid cursor");
    if arg.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The options of HSCAN/SSCAN/ZSCAN after the cursor: COUNT (a hint, at
/// least 1, default 10) and MATCH (None when absent or `*`).
pub struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
}

impl ScanOpts<'_> {
    #[inline]
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, item, false))
    }
}

/// Parses `argv[from..]` as Redis's scanGenericCommand does for a key's
/// collection (no TYPE option there).
pub fn parse_scan_opts<'a>(argv: &[&'a [u8]], from: usize) -> Result<ScanOpts<'a>, CmdError> {
    let mut opts = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut j = from;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if eq_ic(argv[j], "count") && more {
            let c = arg_i64(argv[j + 1])?;
            if c < 1 {
                return Err(CmdError::Syntax);
            }
            opts.count = usize::try_from(c).unwrap_or(usize::MAX);
        } else if eq_ic(argv[j], "match") && more {
            let p = argv[j + 1];
            opts.pattern = (p != b"*").then_some(p);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    Ok(opts)
}

/// The reply to a SCAN-family command on a missing key.
pub fn reply_empty_scan(ctx: &mut Ctx) {
    ctx.out.array(2);
    ctx.out.bulk(b"0");
    ctx.out.array(0);
}
