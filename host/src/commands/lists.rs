//! List commands (Redis's t_list.c): pushes, pops, ranges, LINDEX/LSET,
//! LINSERT, LREM, LTRIM, LPOS, LMOVE/RPOPLPUSH and LMPOP.
//!
//! The blocking variants (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) live with
//! the blocking framework and reuse the non-blocking cores exported here,
//! with the locks of their keys held: [`pop_core`], [`mpop_core`] and
//! [`move_core`] work on the locked keyspace and an output buffer alone (what
//! a waiter's `serve` has); [`pop_from`], [`mpop`] and [`move_between`] wrap
//! them for a command's `Ctx` and add the keyspace events. Argument parsing:
//! [`parse_side`], [`parse_mpop`], [`blmpop_keys`].

use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::list::ListValue;
use crate::store::{Entry, Locked, Value};
use crate::util::num::parse_i64;
use std::ops::Range;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, Group::List, lpush).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Prepend one or multiple elements to a list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
        .syntax("key element [element ...]"),
    CommandSpec::new("rpush", -3, Group::List, rpush).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Append one or multiple elements to a list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
        .syntax("key element [element ...]"),
    CommandSpec::new("lpushx", -3, Group::List, lpushx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.2.0", "Prepend an element to a list, only if the list exists", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
        .syntax("key element [element ...]"),
    CommandSpec::new("rpushx", -3, Group::List, rpushx).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.2.0", "Append an element to a list, only if the list exists", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
        .syntax("key element [element ...]"),
    CommandSpec::new("lpop", -2, Group::List, lpop).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Remove and get the first elements in a list", "O(N) where N is the number of elements returned")
        .syntax("key [count]"),
    CommandSpec::new("rpop", -2, Group::List, rpop).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Remove and get the last elements in a list", "O(N) where N is the number of elements returned")
        .syntax("key [count]"),
    CommandSpec::new("llen", 2, Group::List, llen).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Get the length of a list", "O(1)")
        .syntax("key"),
    CommandSpec::new("lrange", 4, Group::List, lrange).flags(READONLY).keys(1, 1, 1)
        .doc("1.0.0", "Get a range of elements from a list", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.")
        .syntax("key start stop"),
    CommandSpec::new("lindex", 3, Group::List, lindex).flags(READONLY).keys(1, 1, 1)
        .doc("1.0.0", "Get an element from a list by its index", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).")
        .syntax("key index"),
    CommandSpec::new("lset", 4, Group::List, lset).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("1.0.0", "Set the value of an element in a list by its index", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).")
        .syntax("key index element"),
    CommandSpec::new("linsert", 5, Group::List, linsert).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("2.2.0", "Insert an element before or after another element in a list", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).")
        .syntax("key BEFORE | AFTER pivot element"),
    CommandSpec::new("lrem", 4, Group::List, lrem).flags(WRITE).keys(1, 1, 1)
        .doc("1.0.0", "Remove elements from a list", "O(N+M) where N is the length of the list and M is the number of elements removed.")
        .syntax("key count element"),
    CommandSpec::new("ltrim", 4, Group::List, ltrim).flags(WRITE).keys(1, 1, 1)
        .doc("1.0.0", "Trim a list to the specified range", "O(N) where N is the number of elements to be removed by the operation.")
        .syntax("key start stop"),
    CommandSpec::new("lpos", -3, Group::List, lpos).flags(READONLY).keys(1, 1, 1)
        .doc("6.0.6", "Return the index of matching elements on a list", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.")
        .syntax("key element [RANK rank] [COUNT num-matches] [MAXLEN len]"),
    CommandSpec::new("lmove", 5, Group::List, lmove).flags(WRITE | DENYOOM).keys(1, 2, 1)
        .doc("6.2.0", "Pop an element from a list, push it to another list and return it", "O(1)")
        .syntax("source destination LEFT | RIGHT LEFT | RIGHT"),
    CommandSpec::new("rpoplpush", 3, Group::List, rpoplpush).flags(WRITE | DENYOOM).keys(1, 2, 1)
        .doc("1.2.0", "Remove the last element in a list, prepend it to another list and return it", "O(1)")
        .syntax("source destination"),
    CommandSpec::new("lmpop", -4, Group::List, lmpop).flags(WRITE).key_finder(lmpop_keys)
        .doc("7.0.0", "Pop elements from a list", "O(N+M) where N is the number of provided keys and M is the number of elements returned.")
        .syntax("numkeys key [key ...] LEFT | RIGHT [COUNT count]"),
];

/// The list in an entry: None when the key is missing, WRONGTYPE when it
/// holds another type.
#[inline]
fn as_list(e: Option<&mut Entry>) -> Result<Option<&mut ListValue>, CmdError> {
    match e {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// [`as_list`] for reading.
#[inline]
fn as_list_ref(e: Option<&Entry>) -> Result<Option<&ListValue>, CmdError> {
    match e {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// A count that must be >= 0, with Redis's error text for both a bad number
/// and a negative one (getPositiveLongFromObjectOrReply with a message).
fn non_negative(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(CmdError::err(msg)),
    }
}

/// `LEFT` (true) or `RIGHT` (false), else a syntax error.
pub fn parse_side(arg: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(arg, "left") {
        Ok(true)
    } else if eq_ic(arg, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

// ---------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------

fn push_generic(ctx: &mut Ctx, argv: &[&[u8]], left: bool, only_existing: bool) -> CmdResult {
    let db = ctx.db();
    let key = argv[1];
    let len = match as_list(ctx.ks.get(db, key))? {
        Some(l) => {
            for e in &argv[2..] {
                l.push(e, left);
            }
            l.len()
        }
        None if only_existing => {
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            let mut l = ListValue::new();
            for e in &argv[2..] {
                l.push(e, left);
            }
            let n = l.len();
            ctx.ks.set(db, key, Value::List(Box::new(l)), None);
            n
        }
    };
    ctx.ks.touch(db, key);
    // Redis replies before notifying here (a client subscribed to its own
    // key sees the reply first).
    ctx.out.int(len as i64);
    ctx.notify(notify::LIST, push_event(left), key);
    Ok(())
}

fn lpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, true, false)
}

fn rpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, false, false)
}

fn lpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, true, true)
}

fn rpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, false, true)
}

// ---------------------------------------------------------------------------
// Pops: the cores shared with the blocking commands
// ---------------------------------------------------------------------------

/// The shape of a pop's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopReply {
    /// LPOP key: the element as a bulk string.
    Single,
    /// LPOP key count: an array of up to `n` elements (`n` = 0: empty array).
    Count(usize),
    /// BLPOP/BRPOP: `[key, element]`.
    KeyElement,
    /// LMPOP/BLMPOP: `[key, [up to n elements]]`.
    KeyElements(usize),
}

/// What a pop removed, for the caller's keyspace notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Popped {
    /// Elements removed (0 for `LPOP key 0`, which changes nothing).
    pub count: usize,
    /// The list was left empty and its key deleted.
    pub deleted: bool,
}

/// The keyspace event of a pop: "lpop" or "rpop".
pub fn pop_event(left: bool) -> &'static str {
    if left {
        "lpop"
    } else {
        "rpop"
    }
}

/// The keyspace event of a push: "lpush" or "rpush".
pub fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// The pop core, on the locked keyspace alone (what a blocked client's
/// `WaitOp::serve` has): pops from the head (`left`) or tail of the list at
/// `key` and writes the reply in the given shape to `out`. Returns Ok(None),
/// having written nothing, when the key is missing; WRONGTYPE, having
/// changed nothing, when it holds another type. A list left empty is
/// deleted; the key is touched whenever something was popped. Emits no
/// keyspace event: see [`pop_from`].
pub fn pop_core(
    ks: &mut Locked<'_>,
    out: &mut Out,
    db: usize,
    key: &[u8],
    left: bool,
    reply: PopReply,
) -> Result<Option<Popped>, CmdError> {
    let Some(l) = as_list(ks.get(db, key))? else {
        return Ok(None);
    };
    if l.is_empty() {
        return Ok(None);
    }
    let count = match reply {
        PopReply::Single => {
            l.pop_with(left, |b| out.bulk(b));
            1
        }
        PopReply::KeyElement => {
            out.array(2);
            out.bulk(key);
            l.pop_with(left, |b| out.bulk(b));
            1
        }
        PopReply::Count(n) | PopReply::KeyElements(n) => {
            if matches!(reply, PopReply::KeyElements(_)) {
                out.array(2);
                out.bulk(key);
            }
            let n = n.min(l.len());
            out.array(n);
            for _ in 0..n {
                l.pop_with(left, |b| out.bulk(b));
            }
            n
        }
    };
    if count == 0 {
        // LPOP key 0: Redis answers an empty array and changes nothing.
        return Ok(Some(Popped {
            count,
            deleted: false,
        }));
    }
    let deleted = l.is_empty();
    if deleted {
        ks.remove(db, key);
    }
    ks.touch(db, key);
    Ok(Some(Popped { count, deleted }))
}

/// Emits Redis's events for a pop: "lpop"/"rpop", then "del" if the list
/// was deleted (listElementsRemoved).
fn notify_popped(ctx: &mut Ctx, key: &[u8], left: bool, popped: Popped) {
    if popped.count > 0 {
        ctx.notify(notify::LIST, pop_event(left), key);
        if popped.deleted {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
}

/// [`pop_core`] for a command: replies to the client and emits the
/// keyspace events. Returns false, having written nothing, when the key is
/// missing.
pub fn pop_from(
    ctx: &mut Ctx,
    db: usize,
    key: &[u8],
    left: bool,
    reply: PopReply,
) -> Result<bool, CmdError> {
    match pop_core(ctx.ks, ctx.out, db, key, left, reply)? {
        Some(popped) => {
            notify_popped(ctx, key, left, popped);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// LMPOP/BLMPOP's core: pops up to `count` elements from the first of `keys`
/// holding a list and writes `[key, [elements]]`. Returns the index in
/// `keys` of the key popped from, or Ok(None), having written nothing, when
/// every key is missing; WRONGTYPE for the first key of another type met
/// before a list. Emits no keyspace event.
pub fn mpop_core(
    ks: &mut Locked<'_>,
    out: &mut Out,
    db: usize,
    keys: &[&[u8]],
    left: bool,
    count: usize,
) -> Result<Option<(usize, Popped)>, CmdError> {
    for (i, key) in keys.iter().enumerate() {
        if let Some(p) = pop_core(ks, out, db, key, left, PopReply::KeyElements(count))? {
            return Ok(Some((i, p)));
        }
    }
    Ok(None)
}

/// [`mpop_core`] for a command, with keyspace events; false when nothing
/// was popped (the caller answers a null array, or blocks).
pub fn mpop(
    ctx: &mut Ctx,
    db: usize,
    keys: &[&[u8]],
    left: bool,
    count: usize,
) -> Result<bool, CmdError> {
    match mpop_core(ctx.ks, ctx.out, db, keys, left, count)? {
        Some((i, popped)) => {
            // Redis propagates [B]LMPOP as LPOP/RPOP key <elements popped>.
            if ctx.propagating() {
                let n = popped.count.to_string();
                let side: &[u8] = if left { b"LPOP" } else { b"RPOP" };
                ctx.propagate(&[side, keys[i], n.as_bytes()]);
            }
            notify_popped(ctx, keys[i], left, popped);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// What a move did, for the caller's keyspace notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The source was left empty and deleted.
    pub src_deleted: bool,
}

/// LMOVE/RPOPLPUSH's core (and BLMOVE/BRPOPLPUSH's), on the locked keyspace
/// alone: moves the head (`from_left`) or tail element of `src` to the head
/// (`to_left`) or tail of `dst` and writes it to `out` as a bulk string.
/// Returns Ok(None), having written nothing, when `src` is missing.
/// WRONGTYPE, with nothing changed, when `src` holds another type, or when
/// `dst` does and `src` has an element (Redis checks in that order). Both
/// keys are touched; an emptied `src` is deleted; `src == dst` rotates the
/// list in place (keeping its TTL). Emits no keyspace event: see
/// [`move_between`].
pub fn move_core(
    ks: &mut Locked<'_>,
    out: &mut Out,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<Moved>, CmdError> {
    match as_list(ks.get(db, src))? {
        Some(l) if !l.is_empty() => {}
        _ => return Ok(None),
    }
    if src == dst {
        if let Some(l) = as_list(ks.get(db, src))? {
            if let Some(v) = l.pop(from_left) {
                l.push(v.as_slice(), to_left);
                out.bulk(v.as_slice());
            }
        }
        ks.touch(db, src);
        return Ok(Some(Moved { src_deleted: false }));
    }
    let dst_exists = as_list(ks.get(db, dst))?.is_some();
    let Some(l) = as_list(ks.get(db, src))? else {
        return Ok(None);
    };
    let Some(v) = l.pop(from_left) else {
        return Ok(None);
    };
    let src_deleted = l.is_empty();
    if src_deleted {
        ks.remove(db, src);
    }
    if dst_exists {
        if let Some(d) = as_list(ks.get(db, dst))? {
            d.push(v.as_slice(), to_left);
        }
    } else {
        let mut d = ListValue::new();
        d.push(v.as_slice(), to_left);
        ks.set(db, dst, Value::List(Box::new(d)), None);
    }
    ks.touch(db, dst);
    ks.touch(db, src);
    out.bulk(v.as_slice());
    Ok(Some(Moved { src_deleted }))
}

/// [`move_core`] for a command, with Redis's events: the push on `dst`,
/// the pop on `src`, then "del" if `src` was emptied. False when `src` is
/// missing (the caller answers null, or blocks).
pub fn move_between(
    ctx: &mut Ctx,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<bool, CmdError> {
    match move_core(ctx.ks, ctx.out, db, src, dst, from_left, to_left)? {
        Some(moved) => {
            ctx.notify(notify::LIST, push_event(to_left), dst);
            ctx.notify(notify::LIST, pop_event(from_left), src);
            if moved.src_deleted {
                ctx.notify(notify::GENERIC, "del", src);
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

fn pop_generic(ctx: &mut Ctx, argv: &[&[u8]], left: bool) -> CmdResult {
    let reply = match argv.len() {
        2 => PopReply::Single,
        3 => {
            let n = non_negative(argv[2], "ERR value is out of range, must be positive")?;
            PopReply::Count(usize::try_from(n).unwrap_or(usize::MAX))
        }
        _ => {
            return Err(CmdError::err(if left {
                "ERR wrong number of arguments for 'lpop' command"
            } else {
                "ERR wrong number of arguments for 'rpop' command"
            }))
        }
    };
    let db = ctx.db();
    if !pop_from(ctx, db, argv[1], left, reply)? {
        if reply == PopReply::Single {
            ctx.out.null();
        } else {
            ctx.out.null_array();
        }
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, true)
}

fn rpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, false)
}

fn lmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let from_left = parse_side(argv[3])?;
    let to_left = parse_side(argv[4])?;
    let db = ctx.db();
    if !move_between(ctx, db, argv[1], argv[2], from_left, to_left)? {
        ctx.out.null();
    }
    Ok(())
}

fn rpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    if !move_between(ctx, db, argv[1], argv[2], false, true)? {
        ctx.out.null();
    }
    Ok(())
}

/// LMPOP/BLMPOP arguments after the command name (and BLMPOP's timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpopArgs {
    /// Indexes of the keys in argv.
    pub keys: Range<usize>,
    pub left: bool,
    pub count: usize,
}

/// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` with numkeys at
/// `argv[numkeys_idx]` (1 for LMPOP, 2 for BLMPOP), with Redis's errors and
/// their order.
pub fn parse_mpop(argv: &[&[u8]], numkeys_idx: usize) -> Result<MpopArgs, CmdError> {
    let numkeys = match argv.get(numkeys_idx).and_then(|a| parse_i64(a)) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::err("ERR numkeys should be greater than 0")),
    };
    let first = numkeys_idx + 1;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| first.checked_add(n))
        .filter(|&i| i < argv.len())
        .ok_or(CmdError::Syntax)?;
    let left = parse_side(argv[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && eq_ic(argv[j], "count") && j + 1 < argv.len() {
            j += 1;
            match parse_i64(argv[j]) {
                Some(n) if n >= 1 => count = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(CmdError::err("ERR count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(MpopArgs {
        keys: first..where_idx,
        left,
        count: count.unwrap_or(1),
    })
}

/// LMPOP's key finder: `LMPOP numkeys key [key ...] ...`.
pub fn lmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut keys = Vec::new();
    super::table::numkeys_keys(argv, 1, &mut keys);
    keys
}

/// BLMPOP's key finder: `BLMPOP timeout numkeys key [key ...] ...`.
pub fn blmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut keys = Vec::new();
    super::table::numkeys_keys(argv, 2, &mut keys);
    keys
}

fn lmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let args = parse_mpop(argv, 1)?;
    let db = ctx.db();
    if !mpop(ctx, db, &argv[args.keys], args.left, args.count)? {
        ctx.out.null_array();
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reads and edits
// ---------------------------------------------------------------------------

fn llen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = as_list_ref(ctx.ks.read(db, argv[1]))?.map_or(0, |l| l.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// A Redis start/stop range (negative counts from the tail) clamped to a
/// list of `len`: None when empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<Range<usize>> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    let end = end.min(len - 1);
    Some(start as usize..end as usize + 1)
}

fn lrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    let db = ctx.db();
    let out = &mut *ctx.out;
    let Some(l) = as_list_ref(ctx.ks.read(db, argv[1]))? else {
        out.array(0);
        return Ok(());
    };
    match clamp_range(start, end, l.len()) {
        None => out.array(0),
        Some(r) => {
            out.array(r.len());
            for e in l.iter_from(r.start).take(r.len()) {
                out.bulk(e);
            }
        }
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let out = &mut *ctx.out;
    let Some(l) = as_list_ref(ctx.ks.read(db, argv[1]))? else {
        out.null();
        return Ok(());
    };
    let index = arg_i64(argv[2])?;
    match l.get_signed(index) {
        Some(e) => out.bulk(e),
        None => out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let Some(l) = as_list(ctx.ks.get(db, argv[1]))? else {
        return Err(CmdError::err("ERR no such key"));
    };
    let index = arg_i64(argv[2])?;
    let replaced = l.resolve_signed(index).is_some_and(|i| l.set(i, argv[3]));
    if !replaced {
        return Err(CmdError::err("ERR index out of range"));
    }
    ctx.ks.touch(db, argv[1]);
    ctx.notify(notify::LIST, "lset", argv[1]);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let after = if eq_ic(argv[2], "after") {
        true
    } else if eq_ic(argv[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let db = ctx.db();
    let Some(l) = as_list(ctx.ks.get(db, argv[1]))? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(cur) = l.find(argv[3]) else {
        ctx.out.int(-1);
        return Ok(());
    };
    l.insert_at(cur, argv[4], after);
    let n = l.len();
    ctx.ks.touch(db, argv[1]);
    ctx.notify(notify::LIST, "linsert", argv[1]);
    ctx.out.int(n as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = arg_i64(argv[2])?;
    let db = ctx.db();
    let Some(l) = as_list(ctx.ks.get(db, argv[1]))? else {
        ctx.out.int(0);
        return Ok(());
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = l.remove_matching(argv[3], limit, count < 0);
    if removed > 0 {
        let deleted = l.is_empty();
        if deleted {
            ctx.ks.remove(db, argv[1]);
        }
        ctx.ks.touch(db, argv[1]);
        ctx.notify(notify::LIST, "lrem", argv[1]);
        if deleted {
            ctx.notify(notify::GENERIC, "del", argv[1]);
        }
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    let db = ctx.db();
    let Some(l) = as_list(ctx.ks.get(db, argv[1]))? else {
        ctx.out.ok();
        return Ok(());
    };
    let len = l.len();
    let (front, back) = match clamp_range(start, end, len) {
        None => (len, 0),
        Some(r) => (r.start, len - r.end),
    };
    l.trim(front, true);
    l.trim(back, false);
    let deleted = l.is_empty();
    if deleted {
        ctx.ks.remove(db, argv[1]);
    }
    ctx.ks.touch(db, argv[1]);
    ctx.notify(notify::LIST, "ltrim", argv[1]);
    if deleted {
        ctx.notify(notify::GENERIC, "del", argv[1]);
    }
    ctx.out.ok();
    Ok(())
}

/// LPOS's options.
struct LposOpts {
    /// 1-based rank of the first match to report; i64::MIN is kept as Redis
    /// 7.0 keeps it (its negation overflows, so every match qualifies).
    rank: i64,
    from_tail: bool,
    /// None: reply with one index; Some(0): all matches.
    count: Option<i64>,
    /// 0: scan the whole list.
    maxlen: i64,
}

fn parse_lpos(argv: &[&[u8]]) -> Result<LposOpts, CmdError> {
    let mut o = LposOpts {
        rank: 1,
        from_tail: false,
        count: None,
        maxlen: 0,
    };
    let mut j = 3;
    while j < argv.len() {
        let opt = argv[j];
        let more = j + 1 < argv.len();
        if eq_ic(opt, "rank") && more {
            j += 1;
            o.rank = arg_i64(argv[j])?;
            if o.rank == 0 {
                return Err(CmdError::err(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq_ic(opt, "count") && more {
            j += 1;
            o.count = Some(non_negative(argv[j], "ERR COUNT can't be negative")?);
        } else if eq_ic(opt, "maxlen") && more {
            j += 1;
            o.maxlen = non_negative(argv[j], "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if o.rank < 0 {
        o.rank = o.rank.wrapping_neg();
        o.from_tail = true;
    }
    Ok(o)
}

/// Scans `elems` (in search order) for `ele` as Redis's lposCommand does,
/// pushing matching indexes (head-based) into `found`; stops after the first
/// qualifying match when `o.count` is None.
fn lpos_scan<'a>(
    elems: impl Iterator<Item = &'a [u8]>,
    len: usize,
    ele: &[u8],
    o: &LposOpts,
    found: &mut Vec<i64>,
) {
    let len = len as i64;
    let mut matches: i64 = 0;
    for (index, e) in (0i64..).zip(elems) {
        if o.maxlen != 0 && index >= o.maxlen {
            break;
        }
        if e != ele {
            continue;
        }
        matches += 1;
        if matches < o.rank {
            continue;
        }
        found.push(if o.from_tail { len - index - 1 } else { index });
        match o.count {
            None => break,
            Some(c) if c != 0 && matches.wrapping_sub(o.rank).wrapping_add(1) >= c => break,
            Some(_) => {}
        }
    }
}

fn lpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let o = parse_lpos(argv)?;
    let db = ctx.db();
    let out = &mut *ctx.out;
    let Some(l) = as_list_ref(ctx.ks.read(db, argv[1]))? else {
        if o.count.is_some() {
            out.array(0);
        } else {
            out.null();
        }
        return Ok(());
    };
    let mut found = Vec::new();
    if o.from_tail {
        lpos_scan(l.iter_rev(), l.len(), argv[2], &o, &mut found);
    } else {
        lpos_scan(l.iter(), l.len(), argv[2], &o, &mut found);
    }
    if o.count.is_some() {
        out.array(found.len());
        for i in found {
            out.int(i);
        }
    } else {
        match found.first() {
            Some(&i) => out.int(i),
            None => out.null(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpop_arguments() {
        let argv: Vec<&[u8]> = vec![b"lmpop", b"2", b"a", b"b", b"LEFT", b"COUNT", b"3"];
        assert_eq!(
            parse_mpop(&argv, 1),
            Ok(MpopArgs {
                keys: 2..4,
                left: true,
                count: 3
            })
        );
        assert_eq!(lmpop_keys(&argv), vec![2, 3]);
        let huge: Vec<&[u8]> = vec![b"lmpop", b"9223372036854775807", b"a", b"left"];
        assert_eq!(parse_mpop(&huge, 1), Err(CmdError::Syntax));
        assert_eq!(lmpop_keys(&huge), vec![2, 3]);
        let bad: Vec<&[u8]> = vec![b"lmpop", b"0", b"a", b"left"];
        assert!(lmpop_keys(&bad).is_empty());
        let blocking: Vec<&[u8]> = vec![b"blmpop", b"0", b"1", b"k", b"right"];
        assert_eq!(blmpop_keys(&blocking), vec![3]);
        assert_eq!(parse_mpop(&blocking, 2).map(|a| a.keys), Ok(3..4));
    }

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some(0..3));
        assert_eq!(clamp_range(-100, 100, 3), Some(0..3));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some(0..3));
        assert_eq!(clamp_range(0, i64::MIN, 3), None);
        assert_eq!(clamp_range(0, 0, 0), None);
    }
}
