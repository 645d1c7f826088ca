//! String commands (Redis's t_string.c): SET and its variants, GET and its
//! variants, counters, ranges, APPEND and LCS.

use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::store::{SmallBytes, Value};
use crate::util::float::{incr_long_double, IncrFloatError};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, Group::String, get).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Returns the string value of a key.", "O(1)").syntax("key"),
    CommandSpec::new("set", -3, Group::String, set).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "O(1)")
        .syntax("key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]"),
    CommandSpec::new("setnx", 3, Group::String, setnx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Set the string value of a key only when the key doesn't exist.", "O(1)").syntax("key value"),
    CommandSpec::new("setex", 4, Group::String, setex).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "O(1)")
        .syntax("key seconds value"),
    CommandSpec::new("psetex", 4, Group::String, psetex).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "O(1)")
        .syntax("key milliseconds value"),
    CommandSpec::new("getex", -2, Group::String, getex).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("6.2.0", "Returns the string value of a key after setting its expiration time.", "O(1)")
        .syntax("key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]"),
    CommandSpec::new("getdel", 2, Group::String, getdel).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("6.2.0", "Returns the string value of a key after deleting the key.", "O(1)").syntax("key"),
    CommandSpec::new("getset", 3, Group::String, getset).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Returns the previous string value of a key after setting it to a new value.", "O(1)").syntax("key value"),
    CommandSpec::new("mget", -2, Group::String, mget).flags(READONLY | FAST).keys(1, -1, 1)
        .doc("1.0.0", "Atomically returns the string values of one or more keys.", "O(N) where N is the number of keys to retrieve.")
        .syntax("key [key ...]"),
    CommandSpec::new("mset", -3, Group::String, mset).flags(WRITE | DENYOOM).keys(1, -1, 2)
        .doc("1.0.1", "Atomically creates or modifies the string values of one or more keys.", "O(N) where N is the number of keys to set.")
        .syntax("key value [key value ...]"),
    CommandSpec::new("msetnx", -3, Group::String, msetnx).flags(WRITE | DENYOOM).keys(1, -1, 2)
        .doc("1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "O(N) where N is the number of keys to set.")
        .syntax("key value [key value ...]"),
    CommandSpec::new("append", 3, Group::String, append).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.")
        .syntax("key value"),
    CommandSpec::new("strlen", 2, Group::String, strlen).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.2.0", "Returns the length of a string value.", "O(1)").syntax("key"),
    CommandSpec::new("getrange", 4, Group::String, getrange).flags(READONLY).keys(1, 1, 1)
        .doc("2.4.0", "Returns a substring of the string stored at a key.", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.")
        .syntax("key start end"),
    CommandSpec::new("substr", 4, Group::String, getrange).flags(READONLY).keys(1, 1, 1)
        .doc("1.0.0", "Returns a substring from a string value.", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.")
        .syntax("key start end"),
    CommandSpec::new("setrange", 4, Group::String, setrange).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.")
        .syntax("key offset value"),
    CommandSpec::new("incr", 2, Group::String, incr).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)").syntax("key"),
    CommandSpec::new("decr", 2, Group::String, decr).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)").syntax("key"),
    CommandSpec::new("incrby", 3, Group::String, incrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)").syntax("key increment"),
    CommandSpec::new("decrby", 3, Group::String, decrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "O(1)").syntax("key decrement"),
    CommandSpec::new("incrbyfloat", 3, Group::String, incrbyfloat).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)").syntax("key increment"),
    CommandSpec::new("lcs", -3, Group::String, lcs).flags(READONLY).keys(1, 2, 1)
        .doc("7.0.0", "Finds the longest common substring.", "O(N*M) where N and M are the lengths of s1 and s2, respectively")
        .syntax("key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]"),
];

/// The string at `key`: Ok(None) when missing, WRONGTYPE for other types.
/// Writes nothing; callers reply.
fn read_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    let db = ctx.db();
    match ctx.ks.read(db, key) {
        None => Ok(None),
        Some(e) => {
            let mut buf = itoa::Buffer::new();
            e.value
                .as_bytes(&mut buf)
                .map(|b| Some(b.to_vec()))
                .ok_or(CmdError::WrongType)
        }
    }
}

/// Replies with the string at `key` (or null): Redis's getGenericCommand.
fn reply_get(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let db = ctx.db();
    match ctx.ks.read(db, key) {
        None => ctx.out.null(),
        Some(e) => {
            let mut buf = itoa::Buffer::new();
            let bytes = e.value.as_bytes(&mut buf).ok_or(CmdError::WrongType)?;
            ctx.out.bulk(bytes);
        }
    }
    Ok(())
}

fn get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    reply_get(ctx, argv[1])
}

/// Expiry options shared by SET and GETEX.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireUnit {
    /// EX: relative seconds.
    Ex,
    /// PX: relative milliseconds.
    Px,
    /// EXAT: absolute unix seconds.
    ExAt,
    /// PXAT: absolute unix milliseconds.
    PxAt,
}

#[derive(Default)]
struct StringOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, &'a [u8])>,
}

#[derive(PartialEq, Eq)]
enum OptsFor {
    Set,
    GetEx,
}

/// Redis's parseExtendedStringArgumentsOrReply: options from argv[start..].
fn parse_string_opts<'a>(
    argv: &[&'a [u8]],
    start: usize,
    cmd: OptsFor,
) -> Result<StringOpts<'a>, CmdError> {
    let mut o = StringOpts::default();
    let mut j = start;
    while j < argv.len() {
        let a = argv[j];
        let next = argv.get(j + 1).copied();
        let has_expire = o.expire.is_some();
        if cmd == OptsFor::Set && eq_ic(a, "nx") && !o.xx {
            o.nx = true;
        } else if cmd == OptsFor::Set && eq_ic(a, "xx") && !o.nx {
            o.xx = true;
        } else if cmd == OptsFor::Set && eq_ic(a, "get") {
            o.get = true;
        } else if cmd == OptsFor::Set && eq_ic(a, "keepttl") && !o.persist && !has_expire {
            o.keepttl = true;
        } else if cmd == OptsFor::GetEx && eq_ic(a, "persist") && !has_expire && !o.keepttl {
            o.persist = true;
        } else if let (Some(unit), Some(v)) = (expire_unit(a), next) {
            // Redis allows repeating the same unit (last one wins), not mixing units.
            if o.keepttl || o.persist || o.expire.is_some_and(|(u, _)| u != unit) {
                return Err(CmdError::Syntax);
            }
            o.expire = Some((unit, v));
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn expire_unit(a: &[u8]) -> Option<ExpireUnit> {
    if eq_ic(a, "ex") {
        Some(ExpireUnit::Ex)
    } else if eq_ic(a, "px") {
        Some(ExpireUnit::Px)
    } else if eq_ic(a, "exat") {
        Some(ExpireUnit::ExAt)
    } else if eq_ic(a, "pxat") {
        Some(ExpireUnit::PxAt)
    } else {
        None
    }
}

fn invalid_expire(cmd: &str) -> CmdError {
    CmdError::owned(format!("ERR invalid expire time in '{cmd}' command"))
}

/// Absolute deadline in ms for an EX/PX/EXAT/PXAT argument (getExpireMillisecondsOrReply).
fn expire_deadline(unit: ExpireUnit, arg: &[u8], now_ms: i64, cmd: &str) -> Result<i64, CmdError> {
    let v = arg_i64(arg)?;
    let seconds = matches!(unit, ExpireUnit::Ex | ExpireUnit::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(invalid_expire(cmd));
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if matches!(unit, ExpireUnit::Ex | ExpireUnit::Px) {
        ms = ms.checked_add(now_ms).ok_or_else(|| invalid_expire(cmd))?;
    }
    Ok(ms)
}

fn set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = parse_string_opts(argv, 3, OptsFor::Set)?;
    let dirty = ctx.ks.dirty;
    set_generic(ctx, argv[1], argv[2], &opts, "set", SetReply::Ok)?;
    // Redis propagates SET ... GET without its GET arguments (a relative
    // expiry's rewrite already dropped them).
    let rewritten = matches!(opts.expire, Some((unit, _)) if unit != ExpireUnit::PxAt);
    if opts.get && !rewritten && ctx.ks.dirty != dirty && ctx.propagating() {
        let kept: Vec<&[u8]> = argv
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !eq_ic(a, "get"))
            .map(|(_, a)| *a)
            .collect();
        ctx.propagate(&kept);
    }
    Ok(())
}

enum SetReply {
    Ok,
    /// SETNX answers 1/0.
    Integer,
}

fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    value: &[u8],
    o: &StringOpts,
    cmd: &str,
    reply: SetReply,
) -> CmdResult {
    let deadline = match o.expire {
        Some((unit, arg)) => Some(expire_deadline(unit, arg, ctx.now_ms(), cmd)?),
        None => None,
    };
    if o.get {
        reply_get(ctx, key)?;
    }
    let db = ctx.db();
    let found = ctx.ks.exists(db, key);
    if (o.nx && found) || (o.xx && !found) {
        if !o.get {
            match reply {
                SetReply::Ok => ctx.out.null(),
                SetReply::Integer => ctx.out.int(0),
            }
        }
        return Ok(());
    }
    let value_bytes = value;
    let value = Value::string(value);
    if o.keepttl {
        ctx.ks.set_keep_ttl(db, key, value);
    } else {
        ctx.ks.set(db, key, value, deadline);
    }
    ctx.ks.touch(db, key);
    // Redis propagates a relative (or seconds) deadline as SET key value PXAT ms.
    if let Some(at) = deadline {
        if ctx.propagating() && !matches!(o.expire, Some((ExpireUnit::PxAt, _))) {
            let ms = at.to_string();
            ctx.propagate(&[b"SET", key, value_bytes, b"PXAT", ms.as_bytes()]);
        }
    }
    ctx.notify(notify::STRING, "set", key);
    if deadline.is_some() {
        ctx.notify(notify::GENERIC, "expire", key);
    }
    if !o.get {
        match reply {
            SetReply::Ok => ctx.out.ok(),
            SetReply::Integer => ctx.out.int(1),
        }
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = StringOpts {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, argv[1], argv[2], &opts, "setnx", SetReply::Integer)
}

fn setex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = StringOpts {
        expire: Some((ExpireUnit::Ex, argv[2])),
        ..Default::default()
    };
    set_generic(ctx, argv[1], argv[3], &opts, "setex", SetReply::Ok)
}

fn psetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = StringOpts {
        expire: Some((ExpireUnit::Px, argv[2])),
        ..Default::default()
    };
    set_generic(ctx, argv[1], argv[3], &opts, "psetex", SetReply::Ok)
}

fn getex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let o = parse_string_opts(argv, 2, OptsFor::GetEx)?;
    let key = argv[1];
    let Some(value) = read_string(ctx, key)? else {
        ctx.out.null();
        return Ok(());
    };
    let deadline = match o.expire {
        Some((unit, arg)) => Some(expire_deadline(unit, arg, ctx.now_ms(), "getex")?),
        None => None,
    };
    ctx.out.bulk(&value);
    let db = ctx.db();
    let absolute = matches!(o.expire, Some((ExpireUnit::ExAt | ExpireUnit::PxAt, _)));
    match deadline {
        Some(at) if absolute && at <= ctx.now_ms() => {
            ctx.ks.remove(db, key);
            ctx.ks.touch(db, key);
            ctx.propagate(&[b"DEL", key]);
            ctx.notify(notify::GENERIC, "del", key);
        }
        Some(at) => {
            ctx.ks.set_expire(db, key, Some(at));
            ctx.ks.touch(db, key);
            if ctx.propagating() && !matches!(o.expire, Some((ExpireUnit::PxAt, _))) {
                let ms = at.to_string();
                ctx.propagate(&[b"PEXPIREAT", key, ms.as_bytes()]);
            }
            ctx.notify(notify::GENERIC, "expire", key);
        }
        None if o.persist && ctx.ks.peek(db, key).and_then(|e| e.expire_at()).is_some() => {
            ctx.ks.set_expire(db, key, None);
            ctx.ks.touch(db, key);
            ctx.propagate(&[b"PERSIST", key]);
            ctx.notify(notify::GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    match read_string(ctx, key)? {
        None => ctx.out.null(),
        Some(v) => {
            ctx.out.bulk(&v);
            let db = ctx.db();
            ctx.ks.remove(db, key);
            ctx.ks.touch(db, key);
            ctx.propagate(&[b"DEL", key]);
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(())
}

fn getset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    reply_get(ctx, argv[1])?;
    let db = ctx.db();
    ctx.ks.set(db, argv[1], Value::string(argv[2]), None);
    ctx.ks.touch(db, argv[1]);
    // Redis propagates GETSET as SET.
    ctx.propagate(&[b"SET", argv[1], argv[2]]);
    ctx.notify(notify::STRING, "set", argv[1]);
    Ok(())
}

fn mget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    ctx.out.array(argv.len() - 1);
    for key in &argv[1..] {
        let mut buf = itoa::Buffer::new();
        match ctx
            .ks
            .read(db, key)
            .and_then(|e| e.value.as_bytes(&mut buf))
        {
            Some(b) => ctx.out.bulk(b),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_pairs(argv: &[&[u8]], cmd: &str) -> Result<(), CmdError> {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::owned(format!(
            "ERR wrong number of arguments for '{cmd}' command"
        )));
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_pairs(argv, "mset")?;
    let db = ctx.db();
    for pair in argv[1..].chunks(2) {
        ctx.ks.set(db, pair[0], Value::string(pair[1]), None);
        ctx.ks.touch(db, pair[0]);
        ctx.notify(notify::STRING, "set", pair[0]);
    }
    ctx.out.ok();
    Ok(())
}

fn msetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_pairs(argv, "msetnx")?;
    let db = ctx.db();
    if argv[1..].chunks(2).any(|pair| ctx.ks.exists(db, pair[0])) {
        ctx.out.int(0);
        return Ok(());
    }
    for pair in argv[1..].chunks(2) {
        ctx.ks.set(db, pair[0], Value::string(pair[1]), None);
        ctx.ks.touch(db, pair[0]);
        ctx.notify(notify::STRING, "set", pair[0]);
    }
    ctx.out.int(1);
    Ok(())
}

/// Redis's checkStringLength: a string may not grow past proto-max-bulk-len.
fn check_string_length(ctx: &Ctx, total: u64) -> CmdResult {
    if total > ctx.srv.config.read().proto_max_bulk_len {
        return Err(CmdError::err(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

/// Turns a string value into the growable `Raw` form (Redis's dbUnshareStringValue).
fn make_raw(v: &mut Value) -> &mut Vec<u8> {
    if !matches!(v, Value::Raw(_)) {
        let mut buf = itoa::Buffer::new();
        let bytes = v.as_bytes(&mut buf).unwrap_or_default().to_vec();
        *v = Value::Raw(Box::new(bytes));
    }
    match v {
        Value::Raw(b) => b,
        _ => unreachable!("just made raw"),
    }
}

fn append(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, tail) = (argv[1], argv[2]);
    let db = ctx.db();
    let current_len = match ctx.ks.peek(db, key) {
        None => None,
        Some(e) => Some(e.value.string_len().ok_or(CmdError::WrongType)?),
    };
    let new_len = match current_len {
        None => {
            ctx.ks.set(db, key, Value::string(tail), None);
            tail.len()
        }
        Some(len) => {
            check_string_length(ctx, (len + tail.len()) as u64)?;
            let Some(e) = ctx.ks.get(db, key) else {
                return Ok(());
            };
            let raw = make_raw(&mut e.value);
            raw.extend_from_slice(tail);
            raw.len()
        }
    };
    ctx.ks.touch(db, key);
    ctx.notify(notify::STRING, "append", key);
    ctx.out.int(new_len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let len = match ctx.ks.read(db, argv[1]) {
        None => 0,
        Some(e) => e.value.string_len().ok_or(CmdError::WrongType)?,
    };
    ctx.out.int(len as i64);
    Ok(())
}

fn getrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut start = arg_i64(argv[2])?;
    let mut end = arg_i64(argv[3])?;
    let Some(s) = read_string(ctx, argv[1])? else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, value) = (argv[1], argv[3]);
    let offset = arg_i64(argv[2])?;
    if offset < 0 {
        return Err(CmdError::err("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let db = ctx.db();
    let current_len = match ctx.ks.get(db, key) {
        None => None,
        Some(e) => Some(e.value.string_len().ok_or(CmdError::WrongType)?),
    };
    if value.is_empty() {
        ctx.out.int(current_len.unwrap_or(0) as i64);
        return Ok(());
    }
    check_string_length(ctx, offset.saturating_add(value.len() as u64))?;
    let offset = offset as usize;
    if current_len.is_none() {
        ctx.ks.set(db, key, Value::Raw(Box::default()), None);
    }
    let Some(e) = ctx.ks.get(db, key) else {
        return Ok(());
    };
    let raw = make_raw(&mut e.value);
    if raw.len() < offset + value.len() {
        raw.resize(offset + value.len(), 0);
    }
    raw[offset..offset + value.len()].copy_from_slice(value);
    let len = raw.len();
    ctx.ks.touch(db, key);
    ctx.notify(notify::STRING, "setrange", key);
    ctx.out.int(len as i64);
    Ok(())
}

/// INCR/DECR/INCRBY/DECRBY: Redis's incrDecrCommand. The TTL is kept.
fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let db = ctx.db();
    let overflow = || CmdError::err("ERR increment or decrement would overflow");
    // One lookup on the hot path: update in place, or create.
    let new = match ctx.ks.get(db, key) {
        Some(e) => {
            let current = match &e.value {
                Value::Int(i) => *i,
                v => {
                    let mut buf = itoa::Buffer::new();
                    let bytes = v.as_bytes(&mut buf).ok_or(CmdError::WrongType)?;
                    crate::util::num::parse_i64(bytes).ok_or(CmdError::NotInteger)?
                }
            };
            let new = current.checked_add(by).ok_or_else(overflow)?;
            e.value = Value::Int(new);
            new
        }
        None => {
            ctx.ks.set(db, key, Value::Int(by), None);
            by
        }
    };
    ctx.ks.touch(db, key);
    ctx.notify(notify::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], 1)
}

fn decr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], -1)
}

fn incrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = arg_i64(argv[2])?;
    incr_by(ctx, argv[1], by)
}

fn decrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = arg_i64(argv[2])?;
    if by == i64::MIN {
        return Err(CmdError::err("ERR decrement would overflow"));
    }
    incr_by(ctx, argv[1], -by)
}

fn incrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, incr) = (argv[1], argv[2]);
    let db = ctx.db();
    let current = match ctx.ks.get(db, key) {
        None => b"0".to_vec(),
        Some(e) => {
            let mut buf = itoa::Buffer::new();
            e.value
                .as_bytes(&mut buf)
                .ok_or(CmdError::WrongType)?
                .to_vec()
        }
    };
    let result = incr_long_double(&current, incr).map_err(|e| match e {
        IncrFloatError::BadCurrent | IncrFloatError::BadIncrement => CmdError::NotFloat,
        IncrFloatError::NanOrInfinity => {
            CmdError::err("ERR increment would produce NaN or Infinity")
        }
    })?;
    // Redis stores the printed result as a plain string, never int-encoded.
    let value = Value::Str(SmallBytes::new(&result));
    match ctx.ks.get(db, key) {
        Some(e) => e.value = value,
        None => ctx.ks.set(db, key, value, None),
    }
    ctx.ks.touch(db, key);
    // Redis propagates the result, so float formatting can never diverge.
    ctx.propagate(&[b"SET", key, &result, b"KEEPTTL"]);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    ctx.out.bulk(&result);
    Ok(())
}

fn lcs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut fetch = |key: &[u8]| -> Result<Vec<u8>, ()> {
        match ctx.ks.read(db, key) {
            None => Ok(Vec::new()),
            Some(e) => {
                let mut buf = itoa::Buffer::new();
                e.value.as_bytes(&mut buf).map(|b| b.to_vec()).ok_or(())
            }
        }
    };
    let (a, b) = match (fetch(argv[1]), fetch(argv[2])) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return Err(CmdError::err(
                "ERR The specified keys must contain string values",
            ))
        }
    };
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < argv.len() {
        let opt = argv[j];
        if eq_ic(opt, "idx") {
            getidx = true;
        } else if eq_ic(opt, "len") {
            getlen = true;
        } else if eq_ic(opt, "withmatchlen") {
            withmatchlen = true;
        } else if eq_ic(opt, "minmatchlen") && j + 1 < argv.len() {
            minmatchlen = arg_i64(argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(CmdError::err(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.srv.config.read().proto_max_bulk_len {
        return Err(CmdError::err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // table[i][j] = LCS length of a[..i] and b[..j], flattened.
    let w = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for jj in 1..=blen {
            table[i * w + jj] = if a[i - 1] == b[jj - 1] {
                table[(i - 1) * w + jj - 1] + 1
            } else {
                table[(i - 1) * w + jj].max(table[i * w + jj - 1])
            };
        }
    }
    let total = table[alen * w + blen] as usize;
    if getlen {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end, collecting the string and the matching ranges.
    let mut result = vec![0u8; total];
    let mut ranges: Vec<[i64; 5]> = Vec::new();
    let (mut i, mut jj, mut idx) = (alen, blen, total);
    let mut range: Option<[usize; 4]> = None; // a_start, a_end, b_start, b_end
    while i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            match &mut range {
                None => range = Some([i - 1, i - 1, jj - 1, jj - 1]),
                Some(r) if r[0] == i && r[2] == jj => {
                    r[0] -= 1;
                    r[2] -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = range {
                if r[0] == 0 || r[2] == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if table[(i - 1) * w + jj] > table[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            if range.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = range.take() {
                let match_len = (r[1] - r[0] + 1) as i64;
                if minmatchlen == 0 || match_len >= minmatchlen {
                    ranges.push([
                        r[0] as i64,
                        r[1] as i64,
                        r[2] as i64,
                        r[3] as i64,
                        match_len,
                    ]);
                }
            }
        }
    }
    if !getidx {
        ctx.out.bulk(&result);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(ranges.len());
    for r in &ranges {
        ctx.out.array(if withmatchlen { 3 } else { 2 });
        ctx.out.array(2);
        ctx.out.int(r[0]);
        ctx.out.int(r[1]);
        ctx.out.array(2);
        ctx.out.int(r[2]);
        ctx.out.int(r[3]);
        if withmatchlen {
            ctx.out.int(r[4]);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}
