//! Set commands (Redis's t_set.c): membership, random pops and samples,
//! SMOVE, the set algebra (SINTER/SUNION/SDIFF, their *STORE forms and
//! SINTERCARD) and SSCAN. The data structure lives in store/set.rs.

use super::hashes::{distinct_random_positions, MAX_RANDOM_REPLY};
use super::scan::{parse_scan_cursor, parse_scan_opts, reply_empty_scan};
use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::set::{Member, SetValue};
use crate::store::{Locked, Value};
use crate::util::num::parse_i64;
use rand::Rng;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, Group::Set, sadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Add one or more members to a set", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
        .syntax("key member [member ...]"),
    CommandSpec::new("srem", -3, Group::Set, srem).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Remove one or more members from a set", "O(N) where N is the number of members to be removed.")
        .syntax("key member [member ...]"),
    CommandSpec::new("sismember", 3, Group::Set, sismember).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Determine if a given value is a member of a set", "O(1)").syntax("key member"),
    CommandSpec::new("smismember", -3, Group::Set, smismember).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("6.2.0", "Returns the membership associated with the given elements for a set", "O(N) where N is the number of elements being checked for membership")
        .syntax("key member [member ...]"),
    CommandSpec::new("smembers", 2, Group::Set, smembers).flags(READONLY).keys(1, 1, 1)
        .doc("1.0.0", "Get all the members in a set", "O(N) where N is the set cardinality.").syntax("key"),
    CommandSpec::new("scard", 2, Group::Set, scard).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Get the number of members in a set", "O(1)").syntax("key"),
    CommandSpec::new("spop", -2, Group::Set, spop).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Remove and return one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.")
        .syntax("key [count]"),
    CommandSpec::new("srandmember", -2, Group::Set, srandmember).flags(READONLY).keys(1, 1, 1)
        .doc("1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.")
        .syntax("key [count]"),
    CommandSpec::new("smove", 4, Group::Set, smove).flags(WRITE | FAST).keys(1, 2, 1)
        .doc("1.0.0", "Move a member from one set to another", "O(1)").syntax("source destination member"),
    CommandSpec::new("sinter", -2, Group::Set, sinter).flags(READONLY).keys(1, -1, 1)
        .doc("1.0.0", "Intersect multiple sets", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
        .syntax("key [key ...]"),
    CommandSpec::new("sintercard", -3, Group::Set, sintercard).flags(READONLY).key_finder(sintercard_keys)
        .doc("7.0.0", "Intersect multiple sets and return the cardinality of the result", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
        .syntax("numkeys key [key ...] [LIMIT limit]"),
    CommandSpec::new("sunion", -2, Group::Set, sunion).flags(READONLY).keys(1, -1, 1)
        .doc("1.0.0", "Add multiple sets", "O(N) where N is the total number of elements in all given sets.")
        .syntax("key [key ...]"),
    CommandSpec::new("sdiff", -2, Group::Set, sdiff).flags(READONLY).keys(1, -1, 1)
        .doc("1.0.0", "Subtract multiple sets", "O(N) where N is the total number of elements in all given sets.")
        .syntax("key [key ...]"),
    CommandSpec::new("sinterstore", -3, Group::Set, sinterstore).flags(WRITE | DENYOOM).keys(1, -1, 1)
        .doc("1.0.0", "Intersect multiple sets and store the resulting set in a key", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
        .syntax("destination key [key ...]"),
    CommandSpec::new("sunionstore", -3, Group::Set, sunionstore).flags(WRITE | DENYOOM).keys(1, -1, 1)
        .doc("1.0.0", "Add multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets.")
        .syntax("destination key [key ...]"),
    CommandSpec::new("sdiffstore", -3, Group::Set, sdiffstore).flags(WRITE | DENYOOM).keys(1, -1, 1)
        .doc("1.0.0", "Subtract multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets.")
        .syntax("destination key [key ...]"),
    CommandSpec::new("sscan", -3, Group::Set, sscan).flags(READONLY).keys(1, 1, 1)
        .doc("2.8.0", "Incrementally iterate Set elements", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..")
        .syntax("key cursor [MATCH pattern] [COUNT count]"),
];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The set at `key` for reading (counts a keyspace hit or miss).
fn read_set<'a>(
    ks: &'a mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a SetValue>, CmdError> {
    match ks.read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The set at `key` for writing.
fn write_set<'a>(
    ks: &'a mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a mut SetValue>, CmdError> {
    match ks.get(db, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Writes one member as a bulk string (integers without an allocation).
#[inline]
fn bulk_member(out: &mut Out, m: Member<'_>) {
    match m {
        Member::Int(v) => out.bulk_int(v),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// A uniformly random position of a non-empty collection of `len`.
#[inline]
fn random_pos(len: usize) -> usize {
    rand::rng().random_range(0..len.max(1))
}

// ---------------------------------------------------------------------------
// Single-set commands
// ---------------------------------------------------------------------------

fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), argv[1]);
    let mut added = 0;
    match write_set(ctx.ks, db, key)? {
        Some(s) => {
            for m in &argv[2..] {
                added += s.insert(m) as i64;
            }
        }
        None => {
            let mut s = SetValue::new_for(argv[2]);
            for m in &argv[2..] {
                added += s.insert(m) as i64;
            }
            ctx.ks.set(db, key, Value::Set(Box::new(s)), None);
        }
    }
    if added > 0 {
        ctx.ks.touch(db, key);
        ctx.notify(notify::SET, "sadd", key);
    }
    ctx.out.int(added);
    Ok(())
}

fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), argv[1]);
    let Some(s) = write_set(ctx.ks, db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut removed = 0;
    for m in &argv[2..] {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let emptied = s.is_empty();
    if removed > 0 {
        if emptied {
            ctx.ks.remove(db, key);
        }
        ctx.ks.touch(db, key);
        ctx.notify(notify::SET, "srem", key);
        if emptied {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out.int(removed);
    Ok(())
}

fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let found = read_set(ctx.ks, db, argv[1])?.is_some_and(|s| s.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let s = read_set(ctx.ks, db, argv[1])?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        ctx.out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    match read_set(ctx.ks, db, argv[1])? {
        None => ctx.out.set(0),
        Some(s) => {
            ctx.out.set(s.len());
            for m in s.iter() {
                bulk_member(ctx.out, m);
            }
        }
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = read_set(ctx.ks, db, argv[1])?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// SPOP / SRANDMEMBER
// ---------------------------------------------------------------------------

/// SPOP with a count: when the remainder is small next to the count
/// (remaining * 5 <= count) Redis moves the members that stay into a new
/// set and replies with what is left of the old one, which can turn a
/// hashtable of integers back into an intset; we follow it for OBJECT
/// ENCODING's sake.
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

fn spop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => spop_one(ctx, argv[1]),
        3 => spop_count(ctx, argv[1], argv[2]),
        _ => Err(CmdError::Syntax),
    }
}

fn spop_one(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let db = ctx.db();
    let Some(s) = write_set(ctx.ks, db, key)? else {
        ctx.out.null();
        return Ok(());
    };
    let out = &mut *ctx.out;
    let mut popped = Vec::new();
    s.remove_index(random_pos(s.len()), |m| {
        m.with_bytes(|b| popped.extend_from_slice(b));
        bulk_member(out, m)
    });
    let emptied = s.is_empty();
    if emptied {
        ctx.ks.remove(db, key);
    }
    ctx.ks.touch(db, key);
    // The pick is random: Redis propagates what was removed.
    ctx.propagate(&[b"SREM", key, &popped]);
    ctx.notify(notify::SET, "spop", key);
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(())
}

fn spop_count(ctx: &mut Ctx, key: &[u8], count_arg: &[u8]) -> CmdResult {
    let count = parse_i64(count_arg)
        .filter(|&c| c >= 0)
        .ok_or(CmdError::err("ERR value is out of range, must be positive"))?;
    let db = ctx.db();
    let propagating = ctx.propagating();
    let Some(s) = write_set(ctx.ks, db, key)? else {
        ctx.out.set(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.set(0);
        return Ok(());
    }
    let size = s.len();
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= size {
        // The whole set goes.
        ctx.out.set(size);
        for m in s.iter() {
            bulk_member(ctx.out, m);
        }
        ctx.ks.remove(db, key);
        ctx.ks.touch(db, key);
        ctx.propagate(&[b"DEL", key]);
        ctx.notify(notify::SET, "spop", key);
        ctx.notify(notify::GENERIC, "del", key);
        return Ok(());
    }
    let remaining = size - count;
    ctx.out.set(count);
    // The members removed, for the SREMs Redis propagates instead of SPOP.
    let mut popped: Option<Vec<Vec<u8>>> = propagating.then(Vec::new);
    let mut note = |m: &Member<'_>| {
        if let Some(p) = popped.as_mut() {
            p.push(m.with_bytes(|b| b.to_vec()));
        }
    };
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        for _ in 0..count {
            let out = &mut *ctx.out;
            s.remove_index(random_pos(s.len()), |m| {
                note(&m);
                bulk_member(out, m)
            });
        }
    } else {
        let mut kept: Option<SetValue> = None;
        for _ in 0..remaining {
            s.remove_index(random_pos(s.len()), |m| {
                let kept = kept.get_or_insert_with(|| m.with_bytes(SetValue::new_for));
                kept.insert_member(m);
            });
        }
        for m in s.iter() {
            note(&m);
            bulk_member(ctx.out, m);
        }
        if let Some(kept) = kept {
            *s = kept;
        }
    }
    ctx.ks.touch(db, key);
    if let Some(popped) = popped {
        // In batches of 1024 members, as Redis's spopWithCountCommand.
        for chunk in popped.chunks(1024) {
            let mut argv: Vec<&[u8]> = vec![b"SREM", key];
            argv.extend(chunk.iter().map(|m| m.as_slice()));
            ctx.propagate(&argv);
        }
    }
    ctx.propagate_nothing();
    ctx.notify(notify::SET, "spop", key);
    Ok(())
}

fn srandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), argv[1]);
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if argv.len() == 2 {
        match read_set(ctx.ks, db, key)? {
            Some(s) => {
                if let Some(m) = s.get_index(random_pos(s.len())) {
                    bulk_member(ctx.out, m);
                }
            }
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let count = arg_i64(argv[2])?;
    if count == i64::MIN {
        return Err(CmdError::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let Some(s) = read_set(ctx.ks, db, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let size = s.len();
    let n = count.unsigned_abs();
    if n == 0 || size == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    if count < 0 {
        if n > MAX_RANDOM_REPLY {
            return Err(CmdError::err("ERR value is out of range"));
        }
        ctx.out.array(n as usize);
        let mut rng = rand::rng();
        for _ in 0..n {
            if let Some(m) = s.get_index(rng.random_range(0..size)) {
                bulk_member(ctx.out, m);
            }
        }
        return Ok(());
    }
    if n >= size as u64 {
        ctx.out.array(size);
        for m in s.iter() {
            bulk_member(ctx.out, m);
        }
        return Ok(());
    }
    let picks = distinct_random_positions(size, n as usize);
    ctx.out.array(picks.len());
    for p in picks {
        if let Some(m) = s.get_index(p) {
            bulk_member(ctx.out, m);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// SMOVE
// ---------------------------------------------------------------------------

fn smove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, src, dst, member) = (ctx.db(), argv[1], argv[2], argv[3]);
    // Redis: a missing source answers 0 before the destination's type is looked at.
    if write_set(ctx.ks, db, src)?.is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let dst_exists = write_set(ctx.ks, db, dst)?.is_some();
    if src == dst {
        let found = write_set(ctx.ks, db, src)?.is_some_and(|s| s.contains(member));
        ctx.out.int(found as i64);
        return Ok(());
    }
    let Some(s) = write_set(ctx.ks, db, src)? else {
        ctx.out.int(0);
        return Ok(());
    };
    if !s.remove(member) {
        ctx.out.int(0);
        return Ok(());
    }
    let emptied = s.is_empty();
    ctx.notify(notify::SET, "srem", src);
    if emptied {
        ctx.ks.remove(db, src);
        ctx.notify(notify::GENERIC, "del", src);
    }
    let added = if dst_exists {
        write_set(ctx.ks, db, dst)?.is_some_and(|d| d.insert(member))
    } else {
        let mut d = SetValue::new_for(member);
        d.insert(member);
        ctx.ks.set(db, dst, Value::Set(Box::new(d)), None);
        true
    };
    ctx.ks.touch(db, src);
    ctx.ks.touch(db, dst);
    if added {
        ctx.notify(notify::SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------
// Set algebra
// ---------------------------------------------------------------------------

/// The sets of several keys, moved out of the keyspace while a command reads
/// them together (a `Locked` hands out one entry at a time) and put back by
/// [`Taken::restore`]. The command holds the locks of all these keys, so
/// nothing can observe the gap.
struct Taken<'k> {
    /// Distinct keys whose value was taken, with the value.
    held: Vec<(&'k [u8], Value)>,
    /// Per argument key: its index in `held`, None when the key is missing.
    slots: Vec<Option<usize>>,
}

impl<'k> Taken<'k> {
    /// Takes the sets of `keys`, looking them up for reading (`write` false:
    /// counts hits and misses) or writing. A key of another type answers
    /// WRONGTYPE, after putting back what was taken.
    fn take(
        ks: &mut Locked<'_>,
        db: usize,
        keys: &[&'k [u8]],
        write: bool,
    ) -> Result<Self, CmdError> {
        let mut t = Taken {
            held: Vec::with_capacity(keys.len()),
            slots: Vec::with_capacity(keys.len()),
        };
        for &key in keys {
            if let Some(i) = t.held.iter().position(|(k, _)| *k == key) {
                t.slots.push(Some(i));
                continue;
            }
            // A repeated missing key is simply looked up again (and missed again).
            let entry = if write {
                ks.get(db, key)
            } else {
                ks.loan(db, key, true)
            };
            match entry {
                None => t.slots.push(None),
                Some(e) if matches!(e.value, Value::Set(_)) => {
                    let v = std::mem::replace(&mut e.value, Value::Int(0));
                    t.slots.push(Some(t.held.len()));
                    t.held.push((key, v));
                }
                Some(_) => {
                    t.restore(ks, db);
                    return Err(CmdError::WrongType);
                }
            }
        }
        Ok(t)
    }

    /// The set of argument key `i`, None when missing.
    fn set(&self, i: usize) -> Option<&SetValue> {
        let slot = (*self.slots.get(i)?)?;
        match &self.held.get(slot)?.1 {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    /// Whether argument keys `i` and `j` are the same key.
    fn same(&self, i: usize, j: usize) -> bool {
        matches!((self.slots[i], self.slots[j]), (Some(a), Some(b)) if a == b)
    }

    fn restore(self, ks: &mut Locked<'_>, db: usize) {
        for (key, value) in self.held {
            if let Some(e) = ks.loan(db, key, false) {
                e.value = value;
            }
        }
    }
}

/// What to do with an intersection.
enum InterOut<'a> {
    Reply,
    /// SINTERCARD: count, stopping at the limit (0 = none).
    Card(usize),
    Store(&'a [u8]),
}

/// SINTER, SINTERCARD and SINTERSTORE (Redis's sinterGenericCommand).
fn sinter_generic(ctx: &mut Ctx, keys: &[&[u8]], mode: InterOut) -> CmdResult {
    let db = ctx.db();
    let write = matches!(mode, InterOut::Store(_));
    let taken = Taken::take(ctx.ks, db, keys, write)?;
    let any_missing = (0..keys.len()).any(|i| taken.set(i).is_none());
    // Iterate the smallest set (the first of the smallest, like Redis's
    // qsort here) and keep what every other set has.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| taken.set(i).map_or(0, |s| s.len()));
    let mut result_members: Vec<Member<'_>> = Vec::new();
    let mut card = 0usize;
    if !any_missing {
        if let Some(first) = taken.set(order[0]) {
            let limit = match mode {
                InterOut::Card(l) if l > 0 => l,
                _ => usize::MAX,
            };
            for m in first.iter() {
                let in_all = order[1..].iter().all(|&j| {
                    taken.same(j, order[0]) || taken.set(j).is_some_and(|s| s.contains_member(m))
                });
                if in_all {
                    card += 1;
                    if !matches!(mode, InterOut::Card(_)) {
                        result_members.push(m);
                    }
                    if card >= limit {
                        break;
                    }
                }
            }
        }
    }
    match mode {
        InterOut::Reply => {
            ctx.out.set(result_members.len());
            for &m in &result_members {
                bulk_member(ctx.out, m);
            }
            drop(result_members);
            taken.restore(ctx.ks, db);
        }
        InterOut::Card(_) => {
            drop(result_members);
            taken.restore(ctx.ks, db);
            ctx.out.int(card as i64);
        }
        InterOut::Store(dst) => {
            let mut result = SetValue::default();
            for &m in &result_members {
                result.insert_member(m);
            }
            drop(result_members);
            taken.restore(ctx.ks, db);
            if any_missing {
                // Redis's early exit: only a deletion counts as a change.
                let deleted = ctx.ks.remove(db, dst).is_some();
                if deleted {
                    ctx.ks.touch(db, dst);
                    ctx.notify(notify::GENERIC, "del", dst);
                }
                ctx.out.int(0);
            } else {
                store_result(ctx, dst, result, "sinterstore");
            }
        }
    }
    Ok(())
}

/// Stores a computed set at `dst` (deleting `dst` when it is empty), replies
/// with its size and emits Redis's events. Like Redis, an empty result with
/// no `dst` to delete changes nothing and touches nothing.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: SetValue, event: &str) {
    let db = ctx.db();
    let deleted = ctx.ks.remove(db, dst).is_some();
    let n = result.len();
    if n > 0 {
        ctx.ks.set(db, dst, Value::Set(Box::new(result)), None);
        ctx.ks.touch(db, dst);
        ctx.out.int(n as i64);
        ctx.notify(notify::SET, event, dst);
    } else {
        ctx.out.int(0);
        if deleted {
            ctx.ks.touch(db, dst);
            ctx.notify(notify::GENERIC, "del", dst);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Diff,
}

/// SUNION, SDIFF and their *STORE forms (Redis's sunionDiffGenericCommand).
/// The result is built as Redis builds it, starting from an intset, so its
/// encoding (and, for intsets, its order) matches.
fn sunion_diff_generic(ctx: &mut Ctx, keys: &[&[u8]], op: Op, dst: Option<&[u8]>) -> CmdResult {
    let db = ctx.db();
    let taken = Taken::take(ctx.ks, db, keys, dst.is_some())?;
    let mut result = SetValue::default();
    match op {
        Op::Union => {
            for i in 0..keys.len() {
                if let Some(s) = taken.set(i) {
                    for m in s.iter() {
                        result.insert_member(m);
                    }
                }
            }
        }
        Op::Diff => {
            if let Some(first) = taken.set(0) {
                // Redis picks between "check each member of the first set
                // against the others" and "add the first, remove the others";
                // the choice shows in the result's encoding, so we copy it.
                let size0 = first.len();
                let (mut one, mut two) = (0usize, 0usize);
                for i in 0..keys.len() {
                    if let Some(s) = taken.set(i) {
                        one += size0;
                        two += s.len();
                    }
                }
                let mut others: Vec<usize> = (1..keys.len()).collect();
                if one / 2 <= two {
                    // Largest sets first: a duplicate is found sooner.
                    others.sort_by_key(|&j| std::cmp::Reverse(taken.set(j).map_or(0, |s| s.len())));
                    for m in first.iter() {
                        let mut keep = true;
                        for &j in &others {
                            if taken.same(j, 0) {
                                keep = false;
                                break;
                            }
                            if taken.set(j).is_some_and(|s| s.contains_member(m)) {
                                keep = false;
                                break;
                            }
                        }
                        if keep {
                            result.insert_member(m);
                        }
                    }
                } else {
                    for m in first.iter() {
                        result.insert_member(m);
                    }
                    for &j in &others {
                        if result.is_empty() {
                            break;
                        }
                        if let Some(s) = taken.set(j) {
                            for m in s.iter() {
                                result.remove_member(m);
                            }
                        }
                    }
                }
            }
        }
    }
    taken.restore(ctx.ks, db);
    match dst {
        None => {
            ctx.out.set(result.len());
            for m in result.iter() {
                bulk_member(ctx.out, m);
            }
        }
        Some(dst) => {
            let event = if op == Op::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            };
            store_result(ctx, dst, result, event);
        }
    }
    Ok(())
}

fn sinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sinter_generic(ctx, &argv[1..], InterOut::Reply)
}

fn sinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sinter_generic(ctx, &argv[2..], InterOut::Store(argv[1]))
}

/// SINTERCARD's numkeys when valid: 1..=number of arguments after it.
fn sintercard_numkeys(argv: &[&[u8]]) -> Option<usize> {
    let n = parse_i64(argv.get(1)?)?;
    let n = usize::try_from(n).ok().filter(|&n| n >= 1)?;
    (n <= argv.len().saturating_sub(2)).then_some(n)
}

/// Key positions of SINTERCARD, for the dispatcher's locks: none when
/// numkeys is invalid (the handler then errors before touching a key).
fn sintercard_keys(argv: &[&[u8]]) -> Vec<usize> {
    match sintercard_numkeys(argv) {
        Some(n) => (2..2 + n).collect(),
        None => Vec::new(),
    }
}

fn sintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let numkeys = match parse_i64(argv[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::err("ERR numkeys should be greater than 0")),
    };
    if numkeys > (argv.len() - 2) as u64 {
        return Err(CmdError::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        if eq_ic(argv[j], "limit") && j + 1 < argv.len() {
            j += 1;
            let l = parse_i64(argv[j])
                .filter(|&l| l >= 0)
                .ok_or(CmdError::err("ERR LIMIT can't be negative"))?;
            limit = usize::try_from(l).unwrap_or(usize::MAX);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    sinter_generic(ctx, &argv[2..2 + numkeys], InterOut::Card(limit))
}

fn sunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[1..], Op::Union, None)
}

fn sunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[2..], Op::Union, Some(argv[1]))
}

fn sdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[1..], Op::Diff, None)
}

fn sdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[2..], Op::Diff, Some(argv[1]))
}

// ---------------------------------------------------------------------------
// SSCAN
// ---------------------------------------------------------------------------

fn sscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_scan_cursor(argv[2])?;
    let db = ctx.db();
    let Some(s) = read_set(ctx.ks, db, argv[1])? else {
        reply_empty_scan(ctx);
        return Ok(());
    };
    let opts = parse_scan_opts(argv, 3)?;
    // Positions first, then the reply: its length must come before the items.
    let mut hits: smallvec::SmallVec<[usize; 32]> = smallvec::SmallVec::new();
    let next = s.scan(cursor, opts.count, |pos, m| {
        if m.with_bytes(|b| opts.matches(b)) {
            hits.push(pos);
        }
    });
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(hits.len());
    for &p in &hits {
        if let Some(m) = s.get_index(p) {
            bulk_member(ctx.out, m);
        }
    }
    Ok(())
}
