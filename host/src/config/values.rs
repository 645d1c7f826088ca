//! Value kinds of config directives with Redis 7.0's parsing rules, bounds and
//! error texts: booleans, integers (string2ll), memory sizes (memtoull),
//! octal, enums (and the typed enums `Config` uses), strings; plus the
//! normalisation of stored-only values to their CONFIG GET form.

use super::*;

// C's INT_MAX / LONG_MAX / LLONG_MAX as used by Redis's bounds (LP64).
pub(super) const INT_MAX: i128 = i32::MAX as i128;
pub(super) const INT_MIN: i128 = i32::MIN as i128;
pub(super) const UINT_MAX: i128 = u32::MAX as i128;
pub(super) const LONG_MAX: i128 = i64::MAX as i128;
pub(super) const ULLONG_MAX: i128 = u64::MAX as i128;

config_enum!(
    /// `loglevel`. `nothing` is Redis 7.2's; accepted because users ask for it.
    LogLevel {
        Debug => "debug",
        Verbose => "verbose",
        Notice => "notice",
        Warning => "warning",
        Nothing => "nothing",
    }
);

config_enum!(
    /// `maxmemory-policy`.
    MaxmemoryPolicy {
        VolatileLru => "volatile-lru",
        VolatileLfu => "volatile-lfu",
        VolatileRandom => "volatile-random",
        VolatileTtl => "volatile-ttl",
        AllkeysLru => "allkeys-lru",
        AllkeysLfu => "allkeys-lfu",
        AllkeysRandom => "allkeys-random",
        NoEviction => "noeviction",
    }
);

config_enum!(
    /// `appendfsync`.
    AppendFsync {
        Everysec => "everysec",
        Always => "always",
        No => "no",
    }
);

config_enum!(
    /// `enable-protected-configs`, `enable-debug-command`, `enable-module-command`:
    /// `local` means "only for clients connected over loopback / unix socket".
    ProtectedAction {
        No => "no",
        Yes => "yes",
        Local => "local",
    }
);

impl ProtectedAction {
    /// Whether a client (local or not) may perform the guarded action.
    pub fn allows(self, client_is_local: bool) -> bool {
        match self {
            ProtectedAction::Yes => true,
            ProtectedAction::Local => client_is_local,
            ProtectedAction::No => false,
        }
    }
}

/// Redis's validateProcTitleTemplate: the template expands (sdstemplate:
/// `{{` is a literal brace, every `{name}` a known variable) with an empty
/// title to something that is not blank.
fn proc_title_is_valid(template: &str) -> bool {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if after.is_empty() {
            return false;
        }
        if let Some(quoted) = after.strip_prefix('{') {
            out.push('{');
            rest = quoted;
            continue;
        }
        let Some(close) = after.find('}') else {
            return false;
        };
        // Values as Redis would expand them, up to what matters here:
        // whether they are empty.
        out.push_str(match &after[..close] {
            "title" | "server-mode" | "unixsocket" => "",
            "listen-addr" | "config-file" | "port" | "tls-port" => "x",
            _ => return false,
        });
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    !out.trim_matches(' ').is_empty()
}

/// Redis's trimDoubleString: drop trailing zeros (and a bare dot) of a
/// `%f`-formatted number.
fn trim_double(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Validates a stored-only value and returns its CONFIG GET form.
pub(super) fn normalize(kind: Kind, a: &[&[u8]]) -> Result<String, String> {
    match kind {
        Kind::Bool => Ok(yes_no(boolean(one(a)?)?)),
        Kind::Int(min, max) => Ok(int(one(a)?, min, max)?.to_string()),
        Kind::Mem(min, max) => Ok(mem(one(a)?, min, max)?.to_string()),
        Kind::Octal(min, max) => {
            let v = strtoll_radix(one(a)?, 8)
                .ok_or_else(|| "argument couldn't be parsed as an octal number".to_string())?;
            let v = v as i128;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min:o} and {max:o} inclusive"
                ));
            }
            Ok(format!("{v:o}"))
        }
        Kind::Enum(table) => {
            let id = enum_value_rev(one(a)?, table)?;
            // Several names can share a value (oom-score-adj yes/relative);
            // Redis shows the first.
            Ok(table
                .iter()
                .find(|(_, v)| *v == id)
                .map(|(n, _)| *n)
                .unwrap_or("unknown")
                .to_string())
        }
        Kind::Str => Ok(lossy(one(a)?)),
        Kind::MemPercent(min, max) => {
            let v = one(a)?;
            let n: i128 = if let Some(n) = memtoull(v) {
                n as i128
            } else {
                match v.strip_suffix(b"%").and_then(string2ll) {
                    Some(p) if !v[..v.len() - 1].is_empty() && p >= 0 => -(p as i128),
                    _ => return Err("argument must be a memory or percent value".to_string()),
                }
            };
            if n < 0 {
                if n < min {
                    return Err(format!(
                        "percentage argument must be less or equal to {}",
                        -min
                    ));
                }
                return Ok(format!("{}%", -n));
            }
            Ok(bounded(n, min, max)?.to_string())
        }
        Kind::Hostname => {
            let v = one(a)?;
            if v.len() >= 256 {
                return Err("Hostnames must be less than 256 characters".to_string());
            }
            if !v
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
            {
                return Err(
                    "Hostnames may only contain alphanumeric characters, hyphens or dots"
                        .to_string(),
                );
            }
            Ok(lossy(v))
        }
        Kind::ProcTitle => {
            let v = lossy(one(a)?);
            if proc_title_is_valid(&v) {
                Ok(v)
            } else {
                Err("template format is invalid or contains unknown variables".to_string())
            }
        }
        Kind::Percentiles => {
            let a = if a.len() == 1 && a[0].is_empty() {
                &[][..]
            } else {
                a
            };
            let mut out = Vec::with_capacity(a.len());
            for v in a {
                let p = std::str::from_utf8(v)
                    .ok()
                    .filter(|s| !s.is_empty() && !s.starts_with(char::is_whitespace))
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|p| !p.is_nan())
                    .ok_or_else(|| {
                        "Invalid latency-tracking-info-percentiles parameters".to_string()
                    })?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .to_string(),
                    );
                }
                out.push(trim_double(&format!("{p:.6}")));
            }
            Ok(out.join(" "))
        }
        Kind::OomValues => {
            if a.len() != 3 {
                return Err("wrong number of arguments".to_string());
            }
            let values = a
                .iter()
                .map(|v| strtoll(v).filter(|n| (-2000..=2000).contains(n)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                        .to_string()
                })?;
            Ok(values
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "))
        }
    }
}

// ---------------------------------------------------------------------------
// Value parsing, with Redis's rules and texts
// ---------------------------------------------------------------------------

/// Exactly one argument (guaranteed by the callers; checked so a table
/// mistake is an error rather than a panic).
pub(super) fn one<'a>(a: &[&'a [u8]]) -> Result<&'a [u8], String> {
    match a {
        [v] => Ok(v),
        _ => Err("wrong number of arguments".to_string()),
    }
}

pub(super) fn boolean(v: &[u8]) -> Result<bool, String> {
    if v.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".to_string())
    }
}

pub(super) fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

pub(super) fn enum_value<T: Copy>(v: &[u8], table: &[(T, &str)]) -> Result<T, String> {
    table
        .iter()
        .find(|(_, name)| v.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(val, _)| *val)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(_, n)| *n).collect();
            format!(
                "argument(s) must be one of the following: {}",
                names.join(", ")
            )
        })
}

// `Kind::Enum` tables are (name, id); adapt them to `enum_value`'s order.
pub(super) fn enum_value_rev(v: &[u8], table: &[(&'static str, u8)]) -> Result<u8, String> {
    let flipped: Vec<(u8, &str)> = table.iter().map(|&(n, id)| (id, n)).collect();
    enum_value(v, &flipped)
}

/// An integer directive: Redis's string2ll (no sign, spaces, leading zeros
/// or overflow), then its bounds.
pub(super) fn int(v: &[u8], min: i128, max: i128) -> Result<i128, String> {
    let n = string2ll(v).ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?
        as i128;
    bounded(n, min, max)
}

/// A memory directive (`64mb`, `1gb`, `100`): Redis's memtoull, then bounds.
pub(super) fn mem(v: &[u8], min: i128, max: i128) -> Result<i128, String> {
    let n = memtoull(v).ok_or_else(|| "argument must be a memory value".to_string())? as i128;
    bounded(n, min, max)
}

pub(super) fn bounded(n: i128, min: i128, max: i128) -> Result<i128, String> {
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

/// Redis's string2ll: optional '-', no leading zeros (except "0"), digits
/// only, fits in i64.
pub(super) fn string2ll(v: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21: longer strings are never numbers.
    if v.is_empty() || v.len() >= 21 {
        return None;
    }
    if v == b"0" {
        return Some(0);
    }
    let (negative, digits) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut acc: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(acc)
    } else {
        i64::try_from(acc).ok()
    }
}

/// Parses a memory value like Redis's memtoull: digits then an optional
/// case-insensitive unit: b, k (1000), kb (1024), m, mb, g, gb. As in Redis,
/// no digits means 0 (`""` and `"mb"` are 0), and too many digits saturate;
/// where Redis's multiplication wraps around we saturate instead.
pub fn memtoull(v: &[u8]) -> Option<u64> {
    if v.first() == Some(&b'-') {
        return None;
    }
    let split = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // Redis copies the digits into a 128-byte buffer first.
    if digits.len() >= 128 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    Some(n.saturating_mul(mul))
}

/// C's strtoll(s, &end, 10) followed by Redis's "*end == '\0'" check: leading
/// whitespace and a sign are fine, overflow saturates, and an empty string is
/// 0 (Redis relies on these in `save` and `client-output-buffer-limit`).
pub(super) fn strtoll(v: &[u8]) -> Option<i64> {
    strtoll_radix(v, 10)
}

pub(super) fn strtoll_radix(v: &[u8], radix: u32) -> Option<i64> {
    // C stops at NUL.
    let v = &v[..v.iter().position(|&b| b == 0).unwrap_or(v.len())];
    if v.is_empty() {
        return Some(0);
    }
    let start = v.iter().position(|&b| !is_c_space(b)).unwrap_or(v.len());
    let mut rest = &v[start..];
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest.is_empty() {
        // No conversion: end points at the start, which is not NUL here.
        return None;
    }
    let mut acc: i128 = 0;
    for &b in rest {
        let d = (b as char).to_digit(radix)?;
        acc = (acc * radix as i128 + d as i128).min(i64::MAX as i128 + 1);
    }
    let signed = if negative { -acc } else { acc };
    Some(signed.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// Path-like values must be text; Redis has no such rule (its strings are
/// bytes), but a lossy conversion would silently use another path.
pub(super) fn utf8(v: &[u8]) -> Result<String, String> {
    String::from_utf8(v.to_vec()).map_err(|_| "argument must be valid UTF-8".to_string())
}

pub(super) fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

pub(super) fn is_base_name(s: &str) -> bool {
    !s.contains('/') && !s.contains('\\')
}

/// Error replies must be one line (Redis's addReplyErrorFormat does the same).
pub(super) fn reply_error(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}
