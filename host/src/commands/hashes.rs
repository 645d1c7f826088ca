//! Hash commands (Redis's t_hash.c): HSET and friends, counters, whole-hash
//! reads, HRANDFIELD and HSCAN. Also the SCAN-family argument parsing that
//! HSCAN and SSCAN share. The data structure lives in store/hash.rs.

use super::scan::{parse_scan_cursor, parse_scan_opts, reply_empty_scan};
use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::hash::HashValue;
use crate::store::{Locked, Value};
use crate::util::float::{incr_long_double, IncrFloatError};
use crate::util::num::parse_i64;
use rand::Rng;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, Group::Hash, hset).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Set the string value of a hash field", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.")
        .syntax("key field value [field value ...]"),
    CommandSpec::new("hsetnx", 4, Group::Hash, hsetnx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Set the value of a hash field, only if the field does not exist", "O(1)")
        .syntax("key field value"),
    CommandSpec::new("hget", 3, Group::Hash, hget).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Get the value of a hash field", "O(1)").syntax("key field"),
    CommandSpec::new("hmget", -3, Group::Hash, hmget).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Get the values of all the given hash fields", "O(N) where N is the number of fields being requested.")
        .syntax("key field [field ...]"),
    CommandSpec::new("hmset", -4, Group::Hash, hmset).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Set multiple hash fields to multiple values", "O(N) where N is the number of fields being set.")
        .syntax("key field value [field value ...]"),
    CommandSpec::new("hgetall", 2, Group::Hash, hgetall).flags(READONLY).keys(1, 1, 1)
        .doc("2.0.0", "Get all the fields and values in a hash", "O(N) where N is the size of the hash.")
        .syntax("key"),
    CommandSpec::new("hdel", -3, Group::Hash, hdel).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Delete one or more hash fields", "O(N) where N is the number of fields to be removed.")
        .syntax("key field [field ...]"),
    CommandSpec::new("hlen", 2, Group::Hash, hlen).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Get the number of fields in a hash", "O(1)").syntax("key"),
    CommandSpec::new("hexists", 3, Group::Hash, hexists).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Determine if a hash field exists", "O(1)").syntax("key field"),
    CommandSpec::new("hkeys", 2, Group::Hash, hkeys).flags(READONLY).keys(1, 1, 1)
        .doc("2.0.0", "Get all the fields in a hash", "O(N) where N is the size of the hash.").syntax("key"),
    CommandSpec::new("hvals", 2, Group::Hash, hvals).flags(READONLY).keys(1, 1, 1)
        .doc("2.0.0", "Get all the values in a hash", "O(N) where N is the size of the hash.").syntax("key"),
    CommandSpec::new("hstrlen", 3, Group::Hash, hstrlen).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("3.2.0", "Get the length of the value of a hash field", "O(1)").syntax("key field"),
    CommandSpec::new("hincrby", 4, Group::Hash, hincrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Increment the integer value of a hash field by the given number", "O(1)")
        .syntax("key field increment"),
    CommandSpec::new("hincrbyfloat", 4, Group::Hash, hincrbyfloat).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.6.0", "Increment the float value of a hash field by the given amount", "O(1)")
        .syntax("key field increment"),
    CommandSpec::new("hrandfield", -2, Group::Hash, hrandfield).flags(READONLY).keys(1, 1, 1)
        .doc("6.2.0", "Get one or multiple random fields from a hash", "O(N) where N is the number of fields returned")
        .syntax("key [count [WITHVALUES]]"),
    CommandSpec::new("hscan", -3, Group::Hash, hscan).flags(READONLY).keys(1, 1, 1)
        .doc("2.8.0", "Incrementally iterate hash fields and associated values", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..")
        .syntax("key cursor [MATCH pattern] [COUNT count]"),
];

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The hash at `key` for reading (counts a keyspace hit or miss).
fn read_hash<'a>(
    ks: &'a mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a HashValue>, CmdError> {
    match ks.read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The hash at `key` for writing.
fn write_hash<'a>(
    ks: &'a mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a mut HashValue>, CmdError> {
    match ks.get(db, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Most elements a random-sampling command with a negative count may
/// return. Redis has no bound and runs out of memory building such a reply
/// (7.0 aborts on HRANDFIELD h -4611686018427387903 WITHVALUES); Ember
/// refuses counts whose reply would run past this many elements (about a
/// gigabyte of reply) with Redis's out-of-range error instead.
pub(crate) const MAX_RANDOM_REPLY: u64 = 1 << 26;

/// Indexes of `count` distinct positions in `0..size`, uniformly chosen
/// (`count < size`). Uses Redis's two strategies: when the count is close to
/// the size, drop random positions from the full range; otherwise pick
/// random positions until enough distinct ones were found.
pub(crate) fn distinct_random_positions(size: usize, count: usize) -> Vec<usize> {
    let mut rng = rand::rng();
    if count * 3 > size {
        let mut all: Vec<usize> = (0..size).collect();
        // Partial Fisher-Yates: the first `count` slots become a uniform sample.
        for i in 0..count {
            let j = rng.random_range(i..size);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let p = rng.random_range(0..size);
            if seen.insert(p) {
                out.push(p);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Setting fields
// ---------------------------------------------------------------------------

/// HSET / HMSET: sets every pair; returns how many fields were new.
fn set_pairs(ctx: &mut Ctx, argv: &[&[u8]]) -> Result<i64, CmdError> {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::owned(format!(
            "ERR wrong number of arguments for '{}' command",
            if eq_ic(argv[0], "hmset") {
                "hmset"
            } else {
                "hset"
            }
        )));
    }
    let (db, key) = (ctx.db(), argv[1]);
    let mut created = 0;
    match write_hash(ctx.ks, db, key)? {
        Some(h) => {
            for pair in argv[2..].chunks_exact(2) {
                created += h.insert(pair[0], pair[1]) as i64;
            }
        }
        None => {
            let mut h = HashValue::new();
            for pair in argv[2..].chunks_exact(2) {
                created += h.insert(pair[0], pair[1]) as i64;
            }
            ctx.ks.set(db, key, Value::Hash(h), None);
        }
    }
    ctx.ks.touch(db, key);
    ctx.notify(notify::HASH, "hset", key);
    Ok(created)
}

fn hset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let created = set_pairs(ctx, argv)?;
    ctx.out.int(created);
    Ok(())
}

fn hmset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, argv)?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key, field, value) = (ctx.db(), argv[1], argv[2], argv[3]);
    match write_hash(ctx.ks, db, key)? {
        Some(h) if h.contains(field) => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(h) => {
            h.insert(field, value);
        }
        None => {
            let mut h = HashValue::new();
            h.insert(field, value);
            ctx.ks.set(db, key, Value::Hash(h), None);
        }
    }
    ctx.ks.touch(db, key);
    ctx.notify(notify::HASH, "hset", key);
    ctx.out.int(1);
    Ok(())
}

fn hincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key, field) = (ctx.db(), argv[1], argv[2]);
    let incr = arg_i64(argv[3])?;
    let mut buf = itoa::Buffer::new();
    let new = match write_hash(ctx.ks, db, key)? {
        Some(h) => {
            let current = match h.get(field) {
                Some(v) => parse_i64(v).ok_or(CmdError::err("ERR hash value is not an integer"))?,
                None => 0,
            };
            let new = current
                .checked_add(incr)
                .ok_or(CmdError::err("ERR increment or decrement would overflow"))?;
            h.insert(field, buf.format(new).as_bytes());
            new
        }
        None => {
            let mut h = HashValue::new();
            h.insert(field, buf.format(incr).as_bytes());
            ctx.ks.set(db, key, Value::Hash(h), None);
            incr
        }
    };
    ctx.ks.touch(db, key);
    ctx.notify(notify::HASH, "hincrby", key);
    ctx.out.int(new);
    Ok(())
}

/// The error for a bad HINCRBYFLOAT increment, or None when it is a finite
/// long double (Redis checks it before looking at the key).
fn bad_float_increment(incr: &[u8]) -> Option<CmdError> {
    match incr_long_double(b"0", incr) {
        Ok(_) => None,
        Err(IncrFloatError::NanOrInfinity) => Some(CmdError::err("ERR value is NaN or Infinity")),
        Err(_) => Some(CmdError::NotFloat),
    }
}

/// Maps a failed long-double addition to Redis's error. The increment is
/// checked on its own only here, on the error path, so the common case costs
/// one addition; Redis reports a bad increment before anything else.
fn float_incr_error(incr: &[u8], e: IncrFloatError) -> CmdError {
    if let Some(bad) = bad_float_increment(incr) {
        return bad;
    }
    match e {
        IncrFloatError::BadCurrent => CmdError::err("ERR hash value is not a float"),
        IncrFloatError::BadIncrement => CmdError::NotFloat,
        IncrFloatError::NanOrInfinity => {
            CmdError::err("ERR increment would produce NaN or Infinity")
        }
    }
}

fn hincrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key, field, incr) = (ctx.db(), argv[1], argv[2], argv[3]);
    let hash = write_hash(ctx.ks, db, key).map_err(|e| bad_float_increment(incr).unwrap_or(e))?;
    let result = match hash {
        Some(h) => {
            let current = h.get(field).unwrap_or(b"0");
            let result = incr_long_double(current, incr).map_err(|e| float_incr_error(incr, e))?;
            h.insert(field, &result);
            result
        }
        None => {
            let result = incr_long_double(b"0", incr).map_err(|e| float_incr_error(incr, e))?;
            let mut h = HashValue::new();
            h.insert(field, &result);
            ctx.ks.set(db, key, Value::Hash(h), None);
            result
        }
    };
    ctx.ks.touch(db, key);
    // Redis propagates the result, so float formatting can never diverge.
    ctx.propagate(&[b"HSET", key, field, &result]);
    ctx.notify(notify::HASH, "hincrbyfloat", key);
    ctx.out.bulk(&result);
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

fn hget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    match read_hash(ctx.ks, db, argv[1])?.and_then(|h| h.get(argv[2])) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let h = read_hash(ctx.ks, db, argv[1])?;
    ctx.out.array(argv.len() - 2);
    for field in &argv[2..] {
        match h.and_then(|h| h.get(field)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = read_hash(ctx.ks, db, argv[1])?.map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let found = read_hash(ctx.ks, db, argv[1])?.is_some_and(|h| h.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = read_hash(ctx.ks, db, argv[1])?
        .and_then(|h| h.get(argv[2]))
        .map_or(0, |v| v.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// What HGETALL / HKEYS / HVALS return of each pair.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Both,
    Fields,
    Values,
}

fn get_all(ctx: &mut Ctx, key: &[u8], parts: Parts) -> CmdResult {
    let db = ctx.db();
    let h = read_hash(ctx.ks, db, key)?;
    let n = h.map_or(0, |h| h.len());
    if parts == Parts::Both {
        ctx.out.map(n);
    } else {
        ctx.out.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if parts != Parts::Values {
                ctx.out.bulk(f);
            }
            if parts != Parts::Fields {
                ctx.out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Parts::Both)
}

fn hkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Parts::Fields)
}

fn hvals(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Parts::Values)
}

fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), argv[1]);
    let Some(h) = write_hash(ctx.ks, db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for field in &argv[2..] {
        if h.remove(field) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let emptied = h.is_empty();
    if deleted > 0 {
        if emptied {
            ctx.ks.remove(db, key);
        }
        ctx.ks.touch(db, key);
        ctx.notify(notify::HASH, "hdel", key);
        if emptied {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted);
    Ok(())
}

// ---------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------

fn hrandfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), argv[1]);
    if argv.len() == 2 {
        match read_hash(ctx.ks, db, key)? {
            Some(h) if !h.is_empty() => {
                let i = rand::rng().random_range(0..h.len());
                if let Some((f, _)) = h.get_index(i) {
                    ctx.out.bulk(f);
                }
            }
            _ => ctx.out.null(),
        }
        return Ok(());
    }
    let count = arg_i64(argv[2])?;
    if count == i64::MIN {
        return Err(CmdError::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match argv.len() {
        3 => false,
        4 if eq_ic(argv[3], "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::err("ERR value is out of range"));
    }
    let Some(h) = read_hash(ctx.ks, db, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let size = h.len();
    let n = count.unsigned_abs();
    if n == 0 || size == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let resp3 = ctx.out.resp3;
    // Element count of the reply array: pairs are nested in RESP3, flat in RESP2.
    let header = |out: &mut Out, picks: usize| {
        out.array(if withvalues && !resp3 {
            picks * 2
        } else {
            picks
        });
    };
    let emit = |out: &mut Out, f: &[u8], v: &[u8]| {
        if withvalues && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    };
    let mut rng = rand::rng();
    if count < 0 || n == 1 {
        // Independent picks, repeats allowed.
        if n * (1 + withvalues as u64) > MAX_RANDOM_REPLY {
            return Err(CmdError::err("ERR value is out of range"));
        }
        let n = n as usize;
        header(ctx.out, n);
        match h {
            HashValue::Listpack(p) => {
                let pairs: Vec<(&[u8], &[u8])> = p.iter().collect();
                for _ in 0..n {
                    let (f, v) = pairs[rng.random_range(0..pairs.len())];
                    emit(ctx.out, f, v);
                }
            }
            HashValue::Table(_) => {
                for _ in 0..n {
                    if let Some((f, v)) = h.get_index(rng.random_range(0..size)) {
                        emit(ctx.out, f, v);
                    }
                }
            }
        }
        return Ok(());
    }
    if n >= size as u64 {
        // The whole hash, in its order.
        header(ctx.out, size);
        for (f, v) in h.iter() {
            emit(ctx.out, f, v);
        }
        return Ok(());
    }
    let n = n as usize;
    header(ctx.out, n);
    match h {
        HashValue::Listpack(p) => {
            // Selection sampling: distinct pairs, in the listpack's order (as
            // Redis's lpRandomPairsUnique returns them).
            let mut needed = n;
            let mut left = size;
            for (f, v) in p.iter() {
                if needed == 0 {
                    break;
                }
                if rng.random_range(0..left) < needed {
                    emit(ctx.out, f, v);
                    needed -= 1;
                }
                left -= 1;
            }
        }
        HashValue::Table(_) => {
            for pos in distinct_random_positions(size, n) {
                if let Some((f, v)) = h.get_index(pos) {
                    emit(ctx.out, f, v);
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------

fn hscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_scan_cursor(argv[2])?;
    let db = ctx.db();
    let Some(h) = read_hash(ctx.ks, db, argv[1])? else {
        reply_empty_scan(ctx);
        return Ok(());
    };
    let opts = parse_scan_opts(argv, 3)?;
    // Positions first, then the reply: its length must come before the items.
    let mut hits: smallvec::SmallVec<[usize; 32]> = smallvec::SmallVec::new();
    let next = h.scan(cursor, opts.count, |pos, f, _| {
        if opts.matches(f) {
            hits.push(pos);
        }
    });
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(hits.len() * 2);
    match h {
        HashValue::Listpack(p) => {
            let mut wanted = hits.iter().peekable();
            for (i, (f, v)) in p.iter().enumerate() {
                if wanted.peek() == Some(&&i) {
                    wanted.next();
                    ctx.out.bulk(f);
                    ctx.out.bulk(v);
                }
            }
        }
        HashValue::Table(_) => {
            for &p in &hits {
                if let Some((f, v)) = h.get_index(p) {
                    ctx.out.bulk(f);
                    ctx.out.bulk(v);
                }
            }
        }
    }
    Ok(())
}
