//! Sorted-set commands (Redis's t_zset.c): ZADD/ZINCRBY, lookups (ZSCORE,
//! ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK), the ZRANGE family and
//! ZRANGESTORE, removals (ZREM, ZREMRANGEBY*), pops (ZPOPMIN, ZPOPMAX, ZMPOP,
//! and [`pop_min_max`], the non-blocking core the blocking BZPOP* commands
//! call), set algebra (ZUNION, ZINTER, ZDIFF, their *STORE forms and
//! ZINTERCARD, which also accept plain sets as inputs), ZRANDMEMBER and ZSCAN.
//!
//! The data structure lives in store/zset.rs; this file parses arguments in
//! Redis's order (so the same error wins when several apply), applies, and
//! replies byte for byte as Redis 7.0 does. ZRANK's WITHSCORE arrived in 7.2
//! and is not accepted, as in 7.0.

use super::notify;
use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, CmdError, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::zset::{AddFlags, AddOutcome, Probe, ZSetValue};
use crate::store::{Locked, SmallBytes, Value};
use crate::util::num::{parse_f64, strtod};
use hashbrown::HashTable;
use std::hash::BuildHasher;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, Group::SortedSet, zadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", "O(log(N)) for each item added, where N is the number of elements in the sorted set.")
        .syntax("key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]"),
    CommandSpec::new("zincrby", 4, Group::SortedSet, zincrby).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.2.0", "Increment the score of a member in a sorted set", "O(log(N)) where N is the number of elements in the sorted set.")
        .syntax("key increment member"),
    CommandSpec::new("zscore", 3, Group::SortedSet, zscore).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.2.0", "Get the score associated with the given member in a sorted set", "O(1)")
        .syntax("key member"),
    CommandSpec::new("zmscore", -3, Group::SortedSet, zmscore).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("6.2.0", "Get the score associated with the given members in a sorted set", "O(N) where N is the number of members being requested.")
        .syntax("key member [member ...]"),
    CommandSpec::new("zcard", 2, Group::SortedSet, zcard).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.2.0", "Get the number of members in a sorted set", "O(1)")
        .syntax("key"),
    CommandSpec::new("zcount", 4, Group::SortedSet, zcount).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Count the members in a sorted set with scores within the given values", "O(log(N)) with N being the number of elements in the sorted set.")
        .syntax("key min max"),
    CommandSpec::new("zlexcount", 4, Group::SortedSet, zlexcount).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.8.9", "Count the number of members in a sorted set between a given lexicographical range", "O(log(N)) with N being the number of elements in the sorted set.")
        .syntax("key min max"),
    CommandSpec::new("zrank", 3, Group::SortedSet, zrank).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Determine the index of a member in a sorted set", "O(log(N))")
        .syntax("key member"),
    CommandSpec::new("zrevrank", 3, Group::SortedSet, zrevrank).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", "O(log(N))")
        .syntax("key member"),
    CommandSpec::new("zrange", -4, Group::SortedSet, zrange).flags(READONLY).keys(1, 1, 1)
        .doc("1.2.0", "Return a range of members in a sorted set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.")
        .syntax("key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]"),
    CommandSpec::new("zrevrange", -4, Group::SortedSet, zrevrange).flags(READONLY).keys(1, 1, 1)
        .doc("1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.")
        .syntax("key start stop [WITHSCORES]"),
    CommandSpec::new("zrangebyscore", -4, Group::SortedSet, zrangebyscore).flags(READONLY).keys(1, 1, 1)
        .doc("1.0.5", "Return a range of members in a sorted set, by score", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
        .syntax("key min max [WITHSCORES] [LIMIT offset count]"),
    CommandSpec::new("zrevrangebyscore", -4, Group::SortedSet, zrevrangebyscore).flags(READONLY).keys(1, 1, 1)
        .doc("2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
        .syntax("key max min [WITHSCORES] [LIMIT offset count]"),
    CommandSpec::new("zrangebylex", -4, Group::SortedSet, zrangebylex).flags(READONLY).keys(1, 1, 1)
        .doc("2.8.9", "Return a range of members in a sorted set, by lexicographical range", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
        .syntax("key min max [LIMIT offset count]"),
    CommandSpec::new("zrevrangebylex", -4, Group::SortedSet, zrevrangebylex).flags(READONLY).keys(1, 1, 1)
        .doc("2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
        .syntax("key max min [LIMIT offset count]"),
    CommandSpec::new("zrangestore", -5, Group::SortedSet, zrangestore).flags(WRITE | DENYOOM).keys(1, 2, 1)
        .doc("6.2.0", "Store a range of members from sorted set into another key", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.")
        .syntax("dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]"),
    CommandSpec::new("zrem", -3, Group::SortedSet, zrem).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("1.2.0", "Remove one or more members from a sorted set", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.")
        .syntax("key member [member ...]"),
    CommandSpec::new("zremrangebyrank", 4, Group::SortedSet, zremrangebyrank).flags(WRITE).keys(1, 1, 1)
        .doc("2.0.0", "Remove all members in a sorted set within the given indexes", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
        .syntax("key start stop"),
    CommandSpec::new("zremrangebyscore", 4, Group::SortedSet, zremrangebyscore).flags(WRITE).keys(1, 1, 1)
        .doc("1.2.0", "Remove all members in a sorted set within the given scores", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
        .syntax("key min max"),
    CommandSpec::new("zremrangebylex", 4, Group::SortedSet, zremrangebylex).flags(WRITE).keys(1, 1, 1)
        .doc("2.8.9", "Remove all members in a sorted set between the given lexicographical range", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
        .syntax("key min max"),
    CommandSpec::new("zpopmin", -2, Group::SortedSet, zpopmin).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("5.0.0", "Remove and return members with the lowest scores in a sorted set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.")
        .syntax("key [count]"),
    CommandSpec::new("zpopmax", -2, Group::SortedSet, zpopmax).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("5.0.0", "Remove and return members with the highest scores in a sorted set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.")
        .syntax("key [count]"),
    CommandSpec::new("zmpop", -4, Group::SortedSet, zmpop).flags(WRITE).key_finder(zmpop_keys)
        .doc("7.0.0", "Remove and return members with scores in a sorted set", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.")
        .syntax("numkeys key [key ...] <MIN | MAX> [COUNT count]"),
    CommandSpec::new("zunion", -3, Group::SortedSet, zunion).flags(READONLY).key_finder(zsetop_keys)
        .doc("6.2.0", "Add multiple sorted sets", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.")
        .syntax("numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]"),
    CommandSpec::new("zinter", -3, Group::SortedSet, zinter).flags(READONLY).key_finder(zsetop_keys)
        .doc("6.2.0", "Intersect multiple sorted sets", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.")
        .syntax("numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]"),
    CommandSpec::new("zdiff", -3, Group::SortedSet, zdiff).flags(READONLY).key_finder(zsetop_keys)
        .doc("6.2.0", "Subtract multiple sorted sets", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.")
        .syntax("numkeys key [key ...] [WITHSCORES]"),
    CommandSpec::new("zunionstore", -4, Group::SortedSet, zunionstore).flags(WRITE | DENYOOM).keys(1, 1, 1).key_finder(zsetop_store_keys)
        .doc("2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.")
        .syntax("destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]"),
    CommandSpec::new("zinterstore", -4, Group::SortedSet, zinterstore).flags(WRITE | DENYOOM).keys(1, 1, 1).key_finder(zsetop_store_keys)
        .doc("2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.")
        .syntax("destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]"),
    CommandSpec::new("zdiffstore", -4, Group::SortedSet, zdiffstore).flags(WRITE | DENYOOM).keys(1, 1, 1).key_finder(zsetop_store_keys)
        .doc("6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.")
        .syntax("destination numkeys key [key ...]"),
    CommandSpec::new("zintercard", -3, Group::SortedSet, zintercard).flags(READONLY).key_finder(zsetop_keys)
        .doc("7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.")
        .syntax("numkeys key [key ...] [LIMIT limit]"),
    CommandSpec::new("zrandmember", -2, Group::SortedSet, zrandmember).flags(READONLY).keys(1, 1, 1)
        .doc("6.2.0", "Get one or multiple random elements from a sorted set", "O(N) where N is the number of elements returned")
        .syntax("key [count [WITHSCORES]]"),
    CommandSpec::new("zscan", -3, Group::SortedSet, zscan).flags(READONLY).keys(1, 1, 1)
        .doc("2.8.0", "Incrementally iterate sorted sets elements and associated scores", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..")
        .syntax("key cursor [MATCH pattern] [COUNT count]"),
];

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// The sorted set at `key` for reading (counts a keyspace hit or miss).
#[inline]
fn lookup_read<'k>(
    ks: &'k mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'k ZSetValue>, CmdError> {
    match ks.read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The sorted set at `key` for writing (no hit/miss statistics).
#[inline]
fn lookup_write<'k>(
    ks: &'k mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'k mut ZSetValue>, CmdError> {
    match ks.get(db, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Replies `n` elements: members alone, or with scores (flat in RESP2,
/// [member, score] pairs in RESP3, as Redis's zrange result handler does).
fn reply_elements<'a>(
    out: &mut Out,
    n: usize,
    withscores: bool,
    items: impl Iterator<Item = (&'a [u8], f64)>,
) {
    if withscores && !out.resp3 {
        out.array(n * 2);
    } else {
        out.array(n);
    }
    for (m, s) in items {
        if withscores && out.resp3 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

/// Removes an emptied set's key and tells the world, as every write does.
fn after_write(ctx: &mut Ctx, key: &[u8], event: &str, emptied: bool) {
    let db = ctx.db();
    if emptied {
        ctx.ks.remove(db, key);
    }
    ctx.ks.touch(db, key);
    ctx.notify(notify::ZSET, event, key);
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

/// A `min`/`max` score bound as Redis's zslParseRange reads it: an optional
/// `(` for an exclusive bound, then C strtod on a NUL-terminated string, so
/// leading spaces, "" (zero) and "1e999" (inf) are accepted, NaN is not.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    let (s, excl) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    let r = strtod(s);
    if r.consumed != s.len() || r.value.is_nan() {
        return None;
    }
    Some((r.value, excl))
}

/// A score range: min, min exclusive, max, max exclusive.
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        }),
        _ => Err(CmdError::err("ERR min or max is not a float")),
    }
}

impl ScoreRange {
    /// The ranks `start..end` of the elements in range.
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let start = z.lower_bound(Probe::Score(self.min, self.minex));
        let end = z.lower_bound(Probe::Score(self.max, !self.maxex));
        (start, end.max(start))
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Copy, Debug)]
enum LexBound<'a> {
    NegInf,
    PosInf,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

fn parse_lex_bound(arg: &[u8]) -> Option<LexBound<'_>> {
    // Redis checks `c[1] != '\0'` on a C string: "+" followed by a NUL counts.
    let alone = arg.len() == 1 || arg.get(1) == Some(&0);
    match arg.first() {
        Some(b'+') if alone => Some(LexBound::PosInf),
        Some(b'-') if alone => Some(LexBound::NegInf),
        Some(b'(') => Some(LexBound::Excl(&arg[1..])),
        Some(b'[') => Some(LexBound::Incl(&arg[1..])),
        _ => None,
    }
}

fn parse_lex_range<'a>(
    min: &'a [u8],
    max: &'a [u8],
) -> Result<(LexBound<'a>, LexBound<'a>), CmdError> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(CmdError::err("ERR min or max not valid string range item")),
    }
}

/// The ranks `start..end` of the members in a lex range (meaningful when all
/// scores are equal, as Redis documents).
fn lex_ranks(z: &ZSetValue, min: LexBound<'_>, max: LexBound<'_>) -> (usize, usize) {
    let len = z.len();
    let start = match min {
        LexBound::NegInf => 0,
        LexBound::PosInf => len,
        LexBound::Incl(m) => z.lower_bound(Probe::Lex(m, false)),
        LexBound::Excl(m) => z.lower_bound(Probe::Lex(m, true)),
    };
    let end = match max {
        LexBound::NegInf => 0,
        LexBound::PosInf => len,
        LexBound::Incl(m) => z.lower_bound(Probe::Lex(m, true)),
        LexBound::Excl(m) => z.lower_bound(Probe::Lex(m, false)),
    };
    (start, end.max(start))
}

/// Clamps Redis-style rank indexes (negative from the end) to `start..end`,
/// or None when the range is empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 {
        llen.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        llen.saturating_add(end)
    } else {
        end
    };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize + 1))
}

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY
// ---------------------------------------------------------------------------------------------

/// ZADD (also what GEOADD runs once it has turned positions into scores).
pub(super) fn zadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, argv, false)
}

fn zincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, argv, true)
}

/// What a ZADD did, for the reply and notifications.
#[derive(Default)]
struct AddTotals {
    added: i64,
    updated: i64,
    processed: i64,
    score: f64,
    nan: bool,
}

fn zadd_apply(
    z: &mut ZSetValue,
    argv: &[&[u8]],
    idx: usize,
    scores: &[f64],
    f: AddFlags,
) -> AddTotals {
    let mut t = AddTotals::default();
    for (j, &score) in scores.iter().enumerate() {
        match z.add(argv[idx + 2 * j + 1], score, f) {
            AddOutcome::Added(s) => {
                t.added += 1;
                t.processed += 1;
                t.score = s;
            }
            AddOutcome::Updated(s) => {
                t.updated += 1;
                t.processed += 1;
                t.score = s;
            }
            AddOutcome::Unchanged(s) => {
                t.processed += 1;
                t.score = s;
            }
            AddOutcome::Nop => {}
            AddOutcome::Nan => {
                t.nan = true;
                break;
            }
        }
    }
    t
}

/// ZADD and ZINCRBY (Redis's zaddGenericCommand; ZINCRBY parses the same
/// options, so `ZINCRBY k nx m` is a syntax error as in Redis).
fn zadd_generic(ctx: &mut Ctx, argv: &[&[u8]], incr_cmd: bool) -> CmdResult {
    let key = argv[1];
    let mut f = AddFlags {
        incr: incr_cmd,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut idx = 2;
    while idx < argv.len() {
        let o = argv[idx];
        if eq_ic(o, "nx") {
            f.nx = true;
        } else if eq_ic(o, "xx") {
            f.xx = true;
        } else if eq_ic(o, "ch") {
            ch = true;
        } else if eq_ic(o, "incr") {
            f.incr = true;
        } else if eq_ic(o, "gt") {
            f.gt = true;
        } else if eq_ic(o, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = argv.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return Err(CmdError::Syntax);
    }
    let pairs = elements / 2;
    if f.nx && f.xx {
        return Err(CmdError::err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs > 1 {
        return Err(CmdError::err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    // Every score is parsed before anything changes: all or nothing.
    let mut scores: smallvec::SmallVec<[f64; 8]> = smallvec::SmallVec::with_capacity(pairs);
    for j in 0..pairs {
        scores.push(parse_f64(argv[idx + 2 * j]).ok_or(CmdError::NotFloat)?);
    }
    let db = ctx.db();
    let totals = match lookup_write(ctx.ks, db, key)? {
        Some(z) => zadd_apply(z, argv, idx, &scores, f),
        None => {
            if f.xx {
                if f.incr {
                    ctx.out.null();
                } else {
                    ctx.out.int(0);
                }
                return Ok(());
            }
            let z = ZSetValue::for_first_member(argv[idx + 1]);
            ctx.ks.set(db, key, Value::ZSet(Box::new(z)), None);
            match lookup_write(ctx.ks, db, key)? {
                Some(z) => zadd_apply(z, argv, idx, &scores, f),
                None => AddTotals::default(),
            }
        }
    };
    if totals.added + totals.updated > 0 {
        ctx.ks.touch(db, key);
        ctx.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if totals.nan {
        return Err(CmdError::err("ERR resulting score is not a number (NaN)"));
    }
    if f.incr {
        if totals.processed > 0 {
            ctx.out.double(totals.score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if ch {
            totals.added + totals.updated
        } else {
            totals.added
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------------

fn zscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    match lookup_read(ctx.ks, db, argv[1])?.and_then(|z| z.score(argv[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let z = lookup_read(ctx.ks, db, argv[1])?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn zcard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = lookup_read(ctx.ks, db, argv[1])?.map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn zcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let range = parse_score_range(argv[2], argv[3])?;
    let db = ctx.db();
    let n = match lookup_read(ctx.ks, db, argv[1])? {
        Some(z) => {
            let (s, e) = range.ranks(z);
            e - s
        }
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (min, max) = parse_lex_range(argv[2], argv[3])?;
    let db = ctx.db();
    let n = match lookup_read(ctx.ks, db, argv[1])? {
        Some(z) => {
            let (s, e) = lex_ranks(z, min, max);
            e - s
        }
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn zrank_generic(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CmdResult {
    let db = ctx.db();
    let rank = match lookup_read(ctx.ks, db, argv[1])? {
        Some(z) => z
            .rank(argv[2])
            .map(|r| if rev { z.len() - 1 - r } else { r }),
        None => None,
    };
    match rank {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, argv, true)
}

// ---------------------------------------------------------------------------------------------
// The ZRANGE family
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

fn zrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Lex, Direction::Reverse)
}

fn zrangestore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(
        ctx,
        argv,
        2,
        Some(argv[1]),
        RangeType::Auto,
        Direction::Auto,
    )
}

/// Parsed range bounds of any kind.
enum Bounds<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexBound<'a>, LexBound<'a>),
}

/// ZRANGE, ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX] forms
/// (Redis's zrangeGenericCommand): `src` is the index of the source key.
fn zrange_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    src: usize,
    dst: Option<&[u8]>,
    mut rtype: RangeType,
    mut dir: Direction,
) -> CmdResult {
    let key = argv[src];
    let (mut minidx, mut maxidx) = (src + 1, src + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = src + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if dst.is_none() && eq_ic(a, "withscores") {
            withscores = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            offset = arg_i64(argv[j + 1])?;
            limit = arg_i64(argv[j + 2])?;
            j += 2;
        } else if dir == Direction::Auto && eq_ic(a, "rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && eq_ic(a, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && eq_ic(a, "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if dir == Direction::Auto {
        dir = Direction::Forward;
    }
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let rev = dir == Direction::Reverse;
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let bounds = match rtype {
        RangeType::Score => Bounds::Score(parse_score_range(argv[minidx], argv[maxidx])?),
        RangeType::Lex => {
            let (a, b) = parse_lex_range(argv[minidx], argv[maxidx])?;
            Bounds::Lex(a, b)
        }
        _ => Bounds::Rank(arg_i64(argv[minidx])?, arg_i64(argv[maxidx])?),
    };
    let db = ctx.db();
    let Some(z) = lookup_read(ctx.ks, db, key)? else {
        match dst {
            Some(d) => store_result(ctx, d, Vec::new(), "zrangestore"),
            None => ctx.out.array(0),
        }
        return Ok(());
    };
    // The ascending ranks lo..hi to emit, walked backwards when `rev`.
    let (lo, hi) = match bounds {
        Bounds::Rank(start, end) => match rank_range(start, end, z.len()) {
            None => (0, 0),
            Some((s, e)) if rev => (z.len() - e, z.len() - s),
            Some(r) => r,
        },
        Bounds::Score(_) | Bounds::Lex(..) => {
            let (s, e) = match bounds {
                Bounds::Score(r) => r.ranks(z),
                Bounds::Lex(a, b) => lex_ranks(z, a, b),
                Bounds::Rank(..) => (0, 0),
            };
            if offset < 0 {
                // Redis walks a negative offset off the end of the set.
                (0, 0)
            } else {
                let n = e - s;
                let skip = (offset as u64).min(n as u64) as usize;
                let avail = n - skip;
                let take = if limit < 0 {
                    avail
                } else {
                    (limit as u64).min(avail as u64) as usize
                };
                if rev {
                    (e - skip - take, e - skip)
                } else {
                    (s + skip, s + skip + take)
                }
            }
        }
    };
    match dst {
        None => reply_elements(ctx.out, hi - lo, withscores, z.range(lo, hi, rev)),
        Some(d) => {
            let items: Vec<(f64, SmallBytes)> = z
                .range(lo, hi, false)
                .map(|(m, s)| (s, SmallBytes::new(m)))
                .collect();
            store_result(ctx, d, items, "zrangestore");
        }
    }
    Ok(())
}

/// Stores a result set (sorted, distinct members) at `dst` replacing what was
/// there (TTL included), or deletes `dst` when the result is empty; replies
/// with the result's size. Also the GEO searches' STORE.
pub(super) fn store_result(ctx: &mut Ctx, dst: &[u8], items: Vec<(f64, SmallBytes)>, event: &str) {
    let db = ctx.db();
    let n = items.len();
    if n == 0 {
        ctx.out.int(0);
        if ctx.ks.remove(db, dst).is_some() {
            ctx.ks.touch(db, dst);
            ctx.notify(notify::GENERIC, "del", dst);
        }
        return;
    }
    let z = ZSetValue::from_sorted(items);
    ctx.ks.set(db, dst, Value::ZSet(Box::new(z)), None);
    ctx.ks.touch(db, dst);
    ctx.out.int(n as i64);
    ctx.notify(notify::ZSET, event, dst);
}

// ---------------------------------------------------------------------------------------------
// Removal
// ---------------------------------------------------------------------------------------------

fn zrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let key = argv[1];
    let Some(z) = lookup_write(ctx.ks, db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for m in &argv[2..] {
        if z.remove(m) {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    let emptied = z.is_empty();
    if deleted > 0 {
        after_write(ctx, key, "zrem", emptied);
    }
    ctx.out.int(deleted);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    zremrange_generic(ctx, argv[1], "zremrangebyrank", |z| {
        rank_range(start, end, z.len()).unwrap_or((0, 0))
    })
}

fn zremrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let range = parse_score_range(argv[2], argv[3])?;
    zremrange_generic(ctx, argv[1], "zremrangebyscore", |z| range.ranks(z))
}

fn zremrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (min, max) = parse_lex_range(argv[2], argv[3])?;
    zremrange_generic(ctx, argv[1], "zremrangebylex", |z| lex_ranks(z, min, max))
}

fn zremrange_generic(
    ctx: &mut Ctx,
    key: &[u8],
    event: &str,
    ranks: impl FnOnce(&ZSetValue) -> (usize, usize),
) -> CmdResult {
    let db = ctx.db();
    let Some(z) = lookup_write(ctx.ks, db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (s, e) = ranks(z);
    let deleted = z.remove_range(s, e);
    let emptied = z.is_empty();
    if deleted > 0 {
        after_write(ctx, key, event, emptied);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------------

/// How popped elements are framed (Redis's genericZpopCommand flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PopStyle {
    /// ZPOPMIN/ZPOPMAX in RESP2, or without COUNT: member, score, member, ...
    Flat,
    /// ZPOPMIN/ZPOPMAX with COUNT in RESP3: [member, score] pairs.
    Nested,
    /// BZPOPMIN/BZPOPMAX: key, member, score.
    KeyFlat,
    /// ZMPOP/BZMPOP: [key, [[member, score], ...]].
    KeyNested,
}

/// Pops up to `count` elements (None: one) from `z`'s low end, or its high
/// end when `max`, writing the reply in `style` to `out`; returns how many
/// it popped. The caller removes the key if `z` is now empty and signals the
/// write (a blocked client's wake-up path can use this directly).
pub fn pop_into(
    z: &mut ZSetValue,
    out: &mut Out,
    key: &[u8],
    max: bool,
    count: Option<usize>,
    style: PopStyle,
) -> usize {
    let n = count.unwrap_or(1).min(z.len());
    match style {
        PopStyle::Flat => out.array(n * 2),
        PopStyle::Nested => out.array(n),
        PopStyle::KeyFlat => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        PopStyle::KeyNested => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    let nested = matches!(style, PopStyle::Nested | PopStyle::KeyNested);
    for _ in 0..n {
        let Some((m, s)) = z.pop(max) else { break };
        if nested {
            out.array(2);
        }
        out.bulk(m.as_slice());
        out.double(s);
    }
    n
}

/// The non-blocking core of ZPOPMIN/ZPOPMAX/ZMPOP and of the blocking
/// BZPOPMIN/BZPOPMAX/BZMPOP: finds the first of `keys` that exists (a key
/// of another type first is WRONGTYPE), pops up to `count` elements (None:
/// one, Redis's "plain single pop") from its low end, or its high end when
/// `max`, and writes the reply in `style`. Removes the key when it empties
/// and signals the write.
///
/// Returns Ok(false), having written nothing, when no key exists: the caller
/// then replies its empty answer or blocks. `Some(0)` replies an empty array
/// without touching the set, as Redis does.
/// How a pop is propagated (Redis's genericZpopCommand rewrites).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PopAs {
    /// ZPOPMIN/ZPOPMAX: as received.
    Received,
    /// BZPOPMIN/BZPOPMAX served at once: ZPOPMIN/ZPOPMAX key.
    Plain,
    /// ZMPOP/BZMPOP: ZPOPMIN/ZPOPMAX key <members popped>.
    Counted,
}

pub fn pop_min_max(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    max: bool,
    count: Option<usize>,
    style: PopStyle,
    pop_as: PopAs,
) -> Result<bool, CmdError> {
    let db = ctx.db();
    let mut found = None;
    for &key in keys {
        if lookup_write(ctx.ks, db, key)?.is_some() {
            found = Some(key);
            break;
        }
    }
    let Some(key) = found else {
        return Ok(false);
    };
    if count == Some(0) {
        ctx.out.array(0);
        return Ok(true);
    }
    let Some(z) = lookup_write(ctx.ks, db, key)? else {
        return Ok(false);
    };
    let n = pop_into(z, ctx.out, key, max, count, style);
    let emptied = z.is_empty();
    if n > 0 {
        after_write(ctx, key, if max { "zpopmax" } else { "zpopmin" }, emptied);
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        match pop_as {
            PopAs::Received => {}
            PopAs::Plain => ctx.propagate(&[name, key]),
            PopAs::Counted => ctx.propagate(&[name, key, n.to_string().as_bytes()]),
        }
    }
    Ok(true)
}

fn zpop_cmd(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        Some(a) => {
            // getPositiveLongFromObjectOrReply: one message for both failures.
            let c = arg_i64(a)
                .ok()
                .filter(|&c| c >= 0)
                .ok_or(CmdError::err("ERR value is out of range, must be positive"))?;
            Some(usize::try_from(c).unwrap_or(usize::MAX))
        }
        None => None,
    };
    let style = if ctx.out.resp3 && count.is_some() {
        PopStyle::Nested
    } else {
        PopStyle::Flat
    };
    if !pop_min_max(ctx, &argv[1..2], max, count, style, PopAs::Received)? {
        ctx.out.array(0);
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zpop_cmd(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zpop_cmd(ctx, argv, true)
}

/// ZMPOP/BZMPOP arguments after `numkeys` at `numkeys_idx`: the keys, MIN
/// (false) or MAX (true), and the count (1 by default), with Redis's errors.
pub fn parse_mpop<'a>(
    argv: &[&'a [u8]],
    numkeys_idx: usize,
) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    let numkeys = arg_i64(argv[numkeys_idx])
        .ok()
        .filter(|&n| n >= 1)
        .ok_or(CmdError::err("ERR numkeys should be greater than 0"))?;
    let where_idx = (numkeys as u64).saturating_add(numkeys_idx as u64 + 1);
    if where_idx >= argv.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_idx = where_idx as usize;
    let max = if eq_ic(argv[where_idx], "min") {
        false
    } else if eq_ic(argv[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count.is_none() && eq_ic(argv[j], "count") && more > 0 {
            j += 1;
            let c = arg_i64(argv[j])
                .ok()
                .filter(|&c| c >= 1)
                .ok_or(CmdError::err("ERR count should be greater than 0"))?;
            count = Some(usize::try_from(c).unwrap_or(usize::MAX));
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok((
        argv[numkeys_idx + 1..where_idx].to_vec(),
        max,
        count.unwrap_or(1),
    ))
}

fn zmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = parse_mpop(argv, 1)?;
    if !pop_min_max(
        ctx,
        &keys,
        max,
        Some(count),
        PopStyle::KeyNested,
        PopAs::Counted,
    )? {
        ctx.out.null_array();
    }
    Ok(())
}

/// Key finder of ZMPOP: numkeys at 1.
fn zmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut v = Vec::new();
    super::table::numkeys_keys(argv, 1, &mut v);
    v
}

/// Key finder of BZMPOP (timeout numkeys key ...): numkeys at 2.
pub fn bzmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut v = Vec::new();
    super::table::numkeys_keys(argv, 2, &mut v);
    v
}

/// Key finder of ZUNION/ZINTER/ZDIFF/ZINTERCARD: numkeys at 1.
fn zsetop_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut v = Vec::new();
    super::table::numkeys_keys(argv, 1, &mut v);
    v
}

/// Key finder of the *STORE forms: the destination, then numkeys at 2.
fn zsetop_store_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut v = vec![1];
    super::table::numkeys_keys(argv, 2, &mut v);
    v
}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF and friends
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's zunionInterAggregate, NaN rule included (inf + -inf = 0).
#[inline]
fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input of a set operation.
struct Source<'a> {
    key: &'a [u8],
    /// 0 for a missing key.
    len: usize,
    weight: f64,
}

/// Calls `f` with every element of the sorted set or set at `key` (a plain
/// set's members score 1).
fn for_each_element(ks: &mut Locked<'_>, db: usize, key: &[u8], mut f: impl FnMut(&[u8], f64)) {
    match ks.peek(db, key).map(|e| &e.value) {
        Some(Value::ZSet(z)) => z.iter().for_each(|(m, s)| f(m, s)),
        Some(Value::Set(s)) => s.iter().for_each(|m| m.with_bytes(|b| f(b, 1.0))),
        _ => {}
    }
}

/// The score of `member` in the sorted set or set at `key`.
fn element_score(ks: &mut Locked<'_>, db: usize, key: &[u8], member: &[u8]) -> Option<f64> {
    match ks.peek(db, key).map(|e| &e.value) {
        Some(Value::ZSet(z)) => z.score(member),
        Some(Value::Set(s)) => s.contains(member).then_some(1.0),
        _ => None,
    }
}

/// Redis's zunionInterDiffGenericCommand: `dst` for the *STORE forms,
/// `card_only` for ZINTERCARD.
fn zsetop_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    name: &str,
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let setnum = arg_i64(argv[numkeys_idx])?;
    if setnum < 1 {
        return Err(CmdError::owned(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if setnum > (argv.len() - (numkeys_idx + 1)) as i64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    let db = ctx.db();
    let mut srcs: Vec<Source> = Vec::with_capacity(setnum);
    for &key in &argv[numkeys_idx + 1..numkeys_idx + 1 + setnum] {
        let len = match ctx.ks.read(db, key).map(|e| &e.value) {
            None => 0,
            Some(Value::ZSet(z)) => z.len(),
            Some(Value::Set(s)) => s.len(),
            Some(_) => return Err(CmdError::WrongType),
        };
        srcs.push(Source {
            key,
            len,
            weight: 1.0,
        });
    }
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: u64 = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = argv[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && eq_ic(a, "weights") {
            j += 1;
            for src in srcs.iter_mut() {
                src.weight =
                    parse_f64(argv[j]).ok_or(CmdError::err("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq_ic(a, "aggregate") {
            let v = argv[j + 1];
            agg = if eq_ic(v, "sum") {
                Aggregate::Sum
            } else if eq_ic(v, "min") {
                Aggregate::Min
            } else if eq_ic(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && eq_ic(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq_ic(a, "limit") {
            let l = arg_i64(argv[j + 1])
                .ok()
                .filter(|&l| l >= 0)
                .ok_or(CmdError::err("ERR LIMIT can't be negative"))?;
            limit = l as u64;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if op != SetOp::Diff {
        // Smallest first (stable, so equal sizes keep their order and float
        // sums add up in the same order as Redis's).
        srcs.sort_by_key(|s| s.len);
    }
    let mut result: Vec<(f64, SmallBytes)> = Vec::new();
    match op {
        SetOp::Union => {
            let hasher = foldhash::fast::RandomState::default();
            let mut index: HashTable<usize> =
                HashTable::with_capacity(srcs.last().map_or(0, |s| s.len));
            for src in &srcs {
                if src.len == 0 {
                    continue;
                }
                for_each_element(ctx.ks, db, src.key, |m, s| {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let hash = hasher.hash_one(m);
                    match index.find(hash, |&i| result[i].1.as_slice() == m) {
                        Some(&i) => aggregate(&mut result[i].0, score, agg),
                        None => {
                            result.push((score, SmallBytes::new(m)));
                            let res = &result;
                            index.insert_unique(hash, res.len() - 1, |&i| {
                                hasher.hash_one(res[i].1.as_slice())
                            });
                        }
                    }
                });
            }
        }
        SetOp::Inter => {
            if srcs[0].len > 0 {
                let w0 = srcs[0].weight;
                for_each_element(ctx.ks, db, srcs[0].key, |m, s| {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    result.push((score, SmallBytes::new(m)));
                });
                for src in &srcs[1..] {
                    result.retain_mut(|(score, m)| {
                        match element_score(ctx.ks, db, src.key, m.as_slice()) {
                            Some(v) => {
                                aggregate(score, v * src.weight, agg);
                                true
                            }
                            None => false,
                        }
                    });
                    if result.is_empty() {
                        break;
                    }
                }
            }
        }
        SetOp::Diff => {
            if srcs[0].len > 0 {
                for_each_element(ctx.ks, db, srcs[0].key, |m, s| {
                    result.push((s, SmallBytes::new(m)));
                });
                for src in &srcs[1..] {
                    if src.len == 0 {
                        continue;
                    }
                    result.retain(|(_, m)| {
                        element_score(ctx.ks, db, src.key, m.as_slice()).is_none()
                    });
                    if result.is_empty() {
                        break;
                    }
                }
            }
        }
    }
    if card_only {
        let n = result.len() as u64;
        ctx.out.int(if limit > 0 { n.min(limit) } else { n } as i64);
        return Ok(());
    }
    result.sort_unstable_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.as_slice().cmp(b.1.as_slice()))
    });
    match dst {
        Some(d) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, d, result, event);
        }
        None => reply_elements(
            ctx.out,
            result.len(),
            withscores,
            result.iter().map(|(s, m)| (m.as_slice(), *s)),
        ),
    }
    Ok(())
}

fn zunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, "zunion", None, 1, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, "zinter", None, 1, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, "zdiff", None, 1, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, "zintercard", None, 1, SetOp::Inter, true)
}

fn zunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(
        ctx,
        argv,
        "zunionstore",
        Some(argv[1]),
        2,
        SetOp::Union,
        false,
    )
}

fn zinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(
        ctx,
        argv,
        "zinterstore",
        Some(argv[1]),
        2,
        SetOp::Inter,
        false,
    )
}

fn zdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(
        ctx,
        argv,
        "zdiffstore",
        Some(argv[1]),
        2,
        SetOp::Diff,
        false,
    )
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------------------------

/// Past this many elements a negative ZRANDMEMBER count is refused: Redis
/// would build the reply until memory or the output limit ran out.
const RANDMEMBER_MAX_REPEATS: u64 = 10_000_000;

fn zrandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    use rand::Rng;
    let db = ctx.db();
    if argv.len() == 2 {
        let Some(z) = lookup_read(ctx.ks, db, argv[1])? else {
            ctx.out.null();
            return Ok(());
        };
        let r = rand::rng().random_range(0..z.len().max(1));
        match z.get(r) {
            Some((m, _)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let l = arg_i64(argv[2])?;
    if l == i64::MIN {
        return Err(CmdError::err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
    }
    if argv.len() > 4 || (argv.len() == 4 && !eq_ic(argv[3], "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = argv.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::err("ERR value is out of range"));
    }
    let Some(z) = lookup_read(ctx.ks, db, argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let count = l.unsigned_abs();
    let uniq = l >= 0;
    if count == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let size = z.len();
    if size == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let mut rng = rand::rng();
    let out = &mut *ctx.out;
    let header = |out: &mut Out, n: usize| {
        if withscores && !out.resp3 {
            out.array(n * 2);
        } else {
            out.array(n);
        }
    };
    let emit = |out: &mut Out, m: &[u8], s: f64| {
        if withscores && out.resp3 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    };
    // Repeats allowed (negative count), or a single element.
    if !uniq || count == 1 {
        if count > RANDMEMBER_MAX_REPEATS {
            return Err(CmdError::err("ERR value is out of range"));
        }
        header(out, count as usize);
        for _ in 0..count {
            if let Some((m, s)) = z.get(rng.random_range(0..size)) {
                emit(out, m, s);
            }
        }
        return Ok(());
    }
    // The whole set, from the highest score down (Redis's zset iterator
    // walks from the tail).
    if count >= size as u64 {
        header(out, size);
        for (m, s) in z.range(0, size, true) {
            emit(out, m, s);
        }
        return Ok(());
    }
    let count = count as usize;
    header(out, count);
    if count * 3 > size {
        // Close to the whole set: shuffle the first `count` ranks into place.
        let mut ranks: Vec<u32> = (0..size as u32).collect();
        for i in 0..count {
            let k = rng.random_range(i..size);
            ranks.swap(i, k);
        }
        for &r in &ranks[..count] {
            if let Some((m, s)) = z.get(r as usize) {
                emit(out, m, s);
            }
        }
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(count);
        while seen.len() < count {
            let r = rng.random_range(0..size);
            if seen.insert(r) {
                if let Some((m, s)) = z.get(r) {
                    emit(out, m, s);
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------------------------

fn zscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = super::scan::parse_scan_cursor(argv[2])?;
    let db = ctx.db();
    let Some(z) = lookup_read(ctx.ks, db, argv[1])? else {
        super::scan::reply_empty_scan(ctx);
        return Ok(());
    };
    let opts = super::scan::parse_scan_opts(argv, 3)?;
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let next = z.scan(cursor, opts.count, |m, s| {
        if opts.matches(m) {
            found.push((m.to_vec(), s));
        }
    });
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk_int(next as i64);
    out.array(found.len() * 2);
    for (m, s) in &found {
        out.bulk(m);
        out.bulk(crate::util::float::fmt_double(*s).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_follow_zslparserange() {
        assert_eq!(parse_score_bound(b"1.5"), Some((1.5, false)));
        assert_eq!(parse_score_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_score_bound(b""), Some((0.0, false)));
        assert_eq!(parse_score_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_score_bound(b" 2"), Some((2.0, false)));
        assert_eq!(parse_score_bound(b"1e999"), Some((f64::INFINITY, false)));
        assert_eq!(parse_score_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(parse_score_bound(b"3\x00junk"), Some((3.0, false)));
        assert_eq!(parse_score_bound(b"nan"), None);
        assert_eq!(parse_score_bound(b"2 "), None);
        assert_eq!(parse_score_bound(b"[1"), None);
        assert_eq!(parse_score_bound(b"abc"), None);
    }

    #[test]
    fn rank_ranges_clamp_like_redis() {
        assert_eq!(rank_range(0, -1, 5), Some((0, 5)));
        assert_eq!(rank_range(-100, 100, 5), Some((0, 5)));
        assert_eq!(rank_range(3, 1, 5), None);
        assert_eq!(rank_range(5, 10, 5), None);
        assert_eq!(rank_range(-1, -1, 5), Some((4, 5)));
        assert_eq!(rank_range(i64::MIN, i64::MAX, 5), Some((0, 5)));
        assert_eq!(rank_range(0, -1, 0), None);
    }

    #[test]
    fn numkeys_key_finders() {
        let argv: Vec<&[u8]> = vec![b"zunionstore", b"d", b"2", b"a", b"b", b"WEIGHTS"];
        assert_eq!(zsetop_store_keys(&argv), vec![1, 3, 4]);
        let argv: Vec<&[u8]> = vec![b"zunion", b"99", b"a"];
        assert_eq!(zsetop_keys(&argv), vec![2]);
        let argv: Vec<&[u8]> = vec![b"zunion", b"x", b"a"];
        assert!(zsetop_keys(&argv).is_empty());
        let argv: Vec<&[u8]> = vec![b"bzmpop", b"0", b"1", b"a", b"MIN"];
        assert_eq!(bzmpop_keys(&argv), vec![3]);
    }
}
