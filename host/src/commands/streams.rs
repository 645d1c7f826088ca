//! Stream commands (Redis's t_stream.c, command side): XADD, XRANGE,
//! XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD, and the consumer groups:
//! XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, plus XINFO.
//! The data structure lives in store/stream.rs.
//!
//! Replies, errors and their order of checks follow Redis 7.0. Times (IDs
//! made by `*`, delivery and seen times) come from the command clock.
//!
//! Like Redis, only XADD, XDEL, XTRIM, XGROUP CREATE MKSTREAM and XGROUP
//! DESTROY signal the key as modified (WATCH, blocked clients): group
//! bookkeeping (XREADGROUP, XACK, XCLAIM ...) does not invalidate a WATCH in
//! Redis either.

use super::stream_effects::GroupEffects;
use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, arity_error_named, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::blocking::{Served, WaitOp};
use crate::store::stream::{
    ConsumerGroup, Entry, IdBuf, Nack, NodeLimits, StreamId, StreamValue, TrimArgs, TrimStrategy,
    INVALID_ENTRIES_READ, LISTPACK_MAX_SIZE,
};
use crate::store::{Locked, Value};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, Group::Stream, xadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("5.0.0", "Appends a new entry to a stream", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.")
        .syntax("key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]"),
    CommandSpec::new("xrange", -4, Group::Stream, xrange).flags(READONLY).keys(1, 1, 1)
        .doc("5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
        .syntax("key start end [COUNT count]"),
    CommandSpec::new("xrevrange", -4, Group::Stream, xrevrange).flags(READONLY).keys(1, 1, 1)
        .doc("5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
        .syntax("key end start [COUNT count]"),
    CommandSpec::new("xlen", 2, Group::Stream, xlen).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("5.0.0", "Return the number of entries in a stream", "O(1)").syntax("key"),
    CommandSpec::new("xdel", -3, Group::Stream, xdel).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "O(1) for each single item to delete in the stream, regardless of the stream size.")
        .syntax("key id [id ...]"),
    CommandSpec::new("xtrim", -4, Group::Stream, xtrim).flags(WRITE).keys(1, 1, 1)
        .doc("5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.")
        .syntax("key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]"),
    CommandSpec::new("xsetid", -3, Group::Stream, xsetid).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("5.0.0", "An internal command for replicating stream values", "O(1)")
        .syntax("key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]"),
    CommandSpec::new("xread", -4, Group::Stream, xread).flags(READONLY | BLOCKING).key_finder(xread_keys)
        .doc("5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.")
        .syntax("[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]"),
    CommandSpec::new("xreadgroup", -7, Group::Stream, xreadgroup).flags(WRITE | BLOCKING).key_finder(xread_keys)
        .doc("5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.")
        .syntax("GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]"),
    CommandSpec::new("xack", -4, Group::Stream, xack).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "O(1) for each message ID processed.")
        .syntax("key group id [id ...]"),
    CommandSpec::new("xpending", -3, Group::Stream, xpending).flags(READONLY).keys(1, 1, 1)
        .doc("5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.")
        .syntax("key group [[IDLE min-idle-time] start end count [consumer]]"),
    CommandSpec::new("xclaim", -6, Group::Stream, xclaim).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "O(log N) with N being the number of messages in the PEL of the consumer group.")
        .syntax("key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]"),
    CommandSpec::new("xautoclaim", -6, Group::Stream, xautoclaim).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "O(1) if COUNT is small.")
        .syntax("key group consumer min-idle-time start [COUNT count] [JUSTID]"),
    CommandSpec::new("xgroup", -2, Group::Stream, super::keys::container_help)
        .doc("5.0.0", "A container for consumer groups commands", "Depends on subcommand.")
        .subcommands(XGROUP_SUBCOMMANDS),
    CommandSpec::new("xinfo", -2, Group::Stream, super::keys::container_help)
        .doc("5.0.0", "A container for stream introspection commands", "Depends on subcommand.")
        .subcommands(XINFO_SUBCOMMANDS),
];

const XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("create", -5, Group::Stream, xgroup)
        .flags(WRITE | DENYOOM)
        .keys(2, 2, 1)
        .doc("5.0.0", "Create a consumer group.", "O(1)")
        .syntax("key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]"),
    CommandSpec::new("setid", -5, Group::Stream, xgroup)
        .flags(WRITE)
        .keys(2, 2, 1)
        .doc(
            "5.0.0",
            "Set a consumer group to an arbitrary last delivered ID value.",
            "O(1)",
        )
        .syntax("key group <id | $> [ENTRIESREAD entries-read]"),
    CommandSpec::new("destroy", 4, Group::Stream, xgroup)
        .flags(WRITE)
        .keys(2, 2, 1)
        .doc(
            "5.0.0",
            "Destroy a consumer group.",
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        )
        .syntax("key group"),
    CommandSpec::new("createconsumer", 5, Group::Stream, xgroup)
        .flags(WRITE | DENYOOM)
        .keys(2, 2, 1)
        .doc("6.2.0", "Create a consumer in a consumer group.", "O(1)")
        .syntax("key group consumer"),
    CommandSpec::new("delconsumer", 5, Group::Stream, xgroup)
        .flags(WRITE)
        .keys(2, 2, 1)
        .doc("5.0.0", "Delete a consumer from a consumer group.", "O(1)")
        .syntax("key group consumer"),
    CommandSpec::new("help", 2, Group::Stream, xgroup)
        .flags(LOADING | STALE)
        .doc(
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
];

const XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("stream", -3, Group::Stream, xinfo)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc("5.0.0", "Get information about a stream", "O(1)")
        .syntax("key [FULL [COUNT count]]"),
    CommandSpec::new("groups", 3, Group::Stream, xinfo)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc("5.0.0", "List the consumer groups of a stream", "O(1)")
        .syntax("key"),
    CommandSpec::new("consumers", 4, Group::Stream, xinfo)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc("5.0.0", "List the consumers in a consumer group", "O(1)")
        .syntax("key group"),
    CommandSpec::new("help", 2, Group::Stream, xinfo)
        .flags(LOADING | STALE)
        .doc(
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
];

// ---------------------------------------------------------------------------
// IDs
// ---------------------------------------------------------------------------

fn invalid_id() -> CmdError {
    CmdError::err("ERR Invalid stream ID specified as stream command argument")
}

/// Redis's string2ull: a strict integer first, then what C's strtoull
/// accepts as a whole string (leading space, a sign, leading zeros; a minus
/// sign wraps around, as in C).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && crate::util::num::is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Parses an ID argument (streamGenericParseIDOrReply). `-`/`+` are the
/// extremes unless `strict`; a lone `ms` takes `missing_seq`. With
/// `seq_given` Some, `ms-*` is accepted and reported by setting it false.
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_given: Option<&mut bool>,
) -> Result<StreamId, CmdError> {
    // The C code works on a NUL-terminated copy of at most 127 bytes.
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    if strict && (arg == b"-" || arg == b"+") {
        return Err(invalid_id());
    }
    let mut seq_given = seq_given;
    if let Some(g) = seq_given.as_deref_mut() {
        *g = true;
    }
    if arg == b"-" {
        return Ok(StreamId::MIN);
    }
    if arg == b"+" {
        return Ok(StreamId::MAX);
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part).ok_or_else(invalid_id)?;
    let seq = match seq_part {
        Some(b"*") if seq_given.is_some() => {
            if let Some(g) = seq_given {
                *g = false;
            }
            0
        }
        Some(s) => string2ull(s).ok_or_else(invalid_id)?,
        None => missing_seq,
    };
    Ok(StreamId::new(ms, seq))
}

/// An ID where `-` and `+` are not allowed (streamParseStrictIDOrReply).
fn parse_strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_full(arg, 0, true, None)
}

/// A range bound: `(` makes it exclusive (streamParseIntervalIDOrReply).
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_id_full(&arg[1..], missing_seq, true, None)?, true))
    } else {
        Ok((parse_id_full(arg, missing_seq, false, None)?, false))
    }
}

/// The start of a range, `(` applied.
fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = parse_interval(arg, 0)?;
    if ex {
        return id
            .incr()
            .ok_or(CmdError::err("ERR invalid start ID for the interval"));
    }
    Ok(id)
}

/// The end of a range, `(` applied.
fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = parse_interval(arg, u64::MAX)?;
    if ex {
        return id
            .decr()
            .ok_or(CmdError::err("ERR invalid end ID for the interval"));
    }
    Ok(id)
}

/// A C-string view of an argument for error texts (`%s` stops at NUL).
fn cstr(arg: &[u8]) -> Cow<'_, str> {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    String::from_utf8_lossy(&arg[..end])
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

fn reply_id(out: &mut Out, id: StreamId) {
    let mut buf = IdBuf::new();
    out.bulk(id.format(&mut buf));
}

/// `[id, [field, value, ...]]`
fn reply_entry(out: &mut Out, id: StreamId, e: &Entry<'_>) {
    out.array(2);
    reply_id(out, id);
    out.array(e.len() * 2);
    for (f, v) in e.pairs() {
        out.bulk(f);
        out.bulk(v);
    }
}

/// Inserts an aggregate header for `n` items at `pos`, for replies whose
/// length is known only after writing them (Redis's deferred lengths).
fn set_deferred(out: &mut Out, pos: usize, prefix: u8, n: usize) {
    let mut hdr = [0u8; 24];
    hdr[0] = prefix;
    let mut b = itoa::Buffer::new();
    let digits = b.format(n).as_bytes();
    hdr[1..1 + digits.len()].copy_from_slice(digits);
    let len = 1 + digits.len();
    hdr[len] = b'\r';
    hdr[len + 1] = b'\n';
    out.buf.splice(pos..pos, hdr[..len + 2].iter().copied());
}

fn set_deferred_array(out: &mut Out, pos: usize, n: usize) {
    set_deferred(out, pos, b'*', n);
}

/// Entries of `s` in `start..=end` (at most `count`, 0 = all), as an array.
fn reply_range(
    out: &mut Out,
    s: &StreamValue,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) {
    let pos = out.buf.len();
    let mut n = 0;
    s.range(start, end, rev, |id, e| {
        reply_entry(out, id, &e);
        n += 1;
        count == 0 || n < count
    });
    set_deferred_array(out, pos, n);
}

// ---------------------------------------------------------------------------
// Key access
// ---------------------------------------------------------------------------

/// The stream at `key` (None when missing), for reading: counts a keyspace
/// hit or miss like lookupKeyRead.
fn read_stream<'a>(
    ks: &'a mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a StreamValue>, CmdError> {
    match ks.read(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// [`read_stream`] for XREADGROUP, which updates the group it reads through.
fn read_stream_mut<'a>(
    ks: &'a mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a mut StreamValue>, CmdError> {
    match ks.read_mut(db, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The stream at `key` for writing (lookupKeyWrite).
fn write_stream<'a>(
    ks: &'a mut Locked<'_>,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a mut StreamValue>, CmdError> {
    match ks.get(db, key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// `stream-node-max-bytes` and `stream-node-max-entries` from the config.
/// Looking a directive up by name costs about 250ns, too much for every
/// XADD, so each thread keeps the last values with the config epoch (bumped
/// by every CONFIG SET) and the server they came from.
fn node_limits(ctx: &Ctx) -> NodeLimits {
    thread_local! {
        static CACHE: std::cell::Cell<(usize, u64, NodeLimits)> =
            const { std::cell::Cell::new((0, 0, NodeLimits { max_bytes: 4096, max_entries: 100 })) };
    }
    let srv = ctx.srv as *const _ as usize;
    let epoch = ctx
        .srv
        .config_epoch
        .load(std::sync::atomic::Ordering::Acquire);
    let (cached_srv, cached_epoch, limits) = CACHE.with(|c| c.get());
    if cached_srv == srv && cached_epoch == epoch {
        return limits;
    }
    let cfg = ctx.srv.config.read();
    let get = |name: &str, default: u64| {
        cfg.get_one(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let limits = NodeLimits {
        max_bytes: get("stream-node-max-bytes", 4096),
        max_entries: get("stream-node-max-entries", 100),
    };
    CACHE.with(|c| c.set((srv, epoch, limits)));
    limits
}

fn now(ctx: &Ctx) -> i64 {
    ctx.now_ms()
}

// ---------------------------------------------------------------------------
// XADD / XTRIM
// ---------------------------------------------------------------------------

/// XADD's and XTRIM's parsed options (streamAddTrimArgs).
struct AddTrim {
    /// The explicit ID and whether its sequence was given (not `ms-*`).
    id: Option<(StreamId, bool)>,
    nomkstream: bool,
    trim: Option<TrimArgs>,
    /// Position of the ID argument (XADD).
    idpos: usize,
    /// Position of the MAXLEN/MINID threshold (after `~` or `=`).
    trim_pos: usize,
}

/// streamParseAddOrTrimArgsOrReply.
fn parse_add_trim(argv: &[&[u8]], xadd: bool, max_entries: u64) -> Result<AddTrim, CmdError> {
    let mut args = AddTrim {
        id: None,
        nomkstream: false,
        trim: None,
        idpos: argv.len(),
        trim_pos: 0,
    };
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let both = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut i = 2;
    while i < argv.len() {
        let moreargs = argv.len() - 1 - i;
        let opt = argv[i];
        if xadd && opt == b"*" {
            break;
        } else if eq_ic(opt, "maxlen") && moreargs > 0 {
            if strategy.is_some() {
                return Err(CmdError::err(both));
            }
            approx = false;
            let next = argv[i + 1];
            if moreargs >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            args.trim_pos = i + 1;
            let maxlen = arg_i64(argv[i + 1])?;
            if maxlen < 0 {
                return Err(CmdError::err("ERR The MAXLEN argument must be >= 0."));
            }
            i += 1;
            strategy = Some(TrimStrategy::MaxLen(maxlen as u64));
        } else if eq_ic(opt, "minid") && moreargs > 0 {
            if strategy.is_some() {
                return Err(CmdError::err(both));
            }
            approx = false;
            let next = argv[i + 1];
            if moreargs >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            args.trim_pos = i + 1;
            let minid = parse_strict_id(argv[i + 1])?;
            i += 1;
            strategy = Some(TrimStrategy::MinId(minid));
        } else if eq_ic(opt, "limit") && moreargs > 0 {
            limit = arg_i64(argv[i + 1])?;
            if limit < 0 {
                return Err(CmdError::err("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            args.nomkstream = true;
        } else if xadd {
            let mut seq_given = true;
            let id = parse_id_full(opt, 0, true, Some(&mut seq_given))?;
            args.id = Some((id, seq_given));
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    args.idpos = i;
    if limit != 0 && strategy.is_none() {
        return Err(CmdError::err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(CmdError::err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !approx {
            return Err(CmdError::err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if approx {
        // Redis caps the work of an approximate trim at 100 nodes.
        limit = (100u64.saturating_mul(max_entries)).min(i64::MAX as u64) as i64;
        if limit <= 0 {
            limit = 10000;
        }
        limit = limit.min(1_000_000);
    } else {
        limit = 0;
    }
    args.trim = strategy.map(|strategy| TrimArgs {
        strategy,
        approx,
        limit: limit as u64,
    });
    Ok(args)
}

/// Redis's streamRewriteApproxSpecifier and streamRewriteTrimArgument: an
/// approximate trim (`~`, maybe LIMIT) did not trim exactly what its
/// threshold says, so it is propagated as `=` with the length left (MAXLEN)
/// or the stream's first ID (MINID), for a replay that ends the same.
fn rewrite_approx_trim<'a>(out: &mut [&'a [u8]], args: &AddTrim, len: &'a str, first: &'a [u8]) {
    let Some(t) = args.trim.filter(|t| t.approx) else {
        return;
    };
    out[args.trim_pos - 1] = b"=";
    out[args.trim_pos] = match t.strategy {
        TrimStrategy::MaxLen(_) => len.as_bytes(),
        TrimStrategy::MinId(_) => first,
    };
}

fn xadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let limits = node_limits(ctx);
    let args = parse_add_trim(argv, true, limits.max_entries)?;
    let field_pos = args.idpos + 1;
    let nfield_args = argv.len() as isize - field_pos as isize;
    if nfield_args < 2 || nfield_args % 2 == 1 {
        return Err(arity_error_named("xadd"));
    }
    if let Some((id, true)) = args.id {
        if id.is_zero() {
            return Err(CmdError::err(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let db = ctx.db();
    let key = argv[1];
    let now = now(ctx) as u64;
    if write_stream(ctx.ks, db, key)?.is_none() {
        if args.nomkstream {
            ctx.out.null();
            return Ok(());
        }
        ctx.ks
            .set(db, key, Value::Stream(Box::new(StreamValue::new())), None);
    }
    let Some(s) = write_stream(ctx.ks, db, key)? else {
        return Ok(());
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let too_small = CmdError::err(
        "ERR The ID specified in XADD is equal or smaller than the target stream top item",
    );
    let last = s.last_id;
    let id = match args.id {
        Some((id, true)) => id,
        Some((id, false)) => {
            if last.ms == id.ms {
                if last.seq == u64::MAX {
                    // Redis fails here without setting errno, and picks its
                    // message from a stale errno: in practice (EAGAIN from
                    // the last socket read) the "too large" one.
                    return Err(CmdError::err("ERR Elements are too large to be stored"));
                }
                StreamId::new(id.ms, last.seq + 1)
            } else {
                id
            }
        }
        // streamNextID: the clock, or the last ID plus one if the clock is behind.
        None if now > last.ms => StreamId::new(now, 0),
        None => last.incr().unwrap_or(StreamId::MIN),
    };
    if id <= last {
        return Err(too_small);
    }
    let pairs = &argv[field_pos..];
    let total: u64 = pairs.iter().map(|p| p.len() as u64).sum();
    if total > LISTPACK_MAX_SIZE {
        return Err(CmdError::err("ERR Elements are too large to be stored"));
    }
    s.append(id, pairs, limits);
    let trimmed = args.trim.map(|t| s.trim(&t)).unwrap_or(0);
    let (length, first) = (s.len(), s.first_id);
    reply_id(ctx.out, id);
    ctx.ks.touch(db, key);
    if ctx.propagating() {
        // Redis propagates XADD as received but with the ID it generated
        // (unless given whole), and an approximate trim as exact.
        let mut idbuf = IdBuf::new();
        let mut out: Vec<&[u8]> = argv.to_vec();
        if !matches!(args.id, Some((_, true))) {
            out[args.idpos] = id.format(&mut idbuf);
        }
        let mut tbuf = IdBuf::new();
        let len = length.to_string();
        rewrite_approx_trim(&mut out, &args, &len, first.format(&mut tbuf));
        ctx.propagate(&out);
    }
    ctx.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    Ok(())
}

fn xtrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let limits = node_limits(ctx);
    let args = parse_add_trim(argv, false, limits.max_entries)?;
    let db = ctx.db();
    let key = argv[1];
    let Some(s) = write_stream(ctx.ks, db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = args.trim.map(|t| s.trim(&t)).unwrap_or(0);
    let length = s.len();
    // Redis's first ID of a stream a trim emptied is streamGetEdgeID's
    // "no entry" answer, the largest ID.
    let first = if length == 0 {
        StreamId::MAX
    } else {
        s.first_id
    };
    if deleted > 0 {
        ctx.ks.touch(db, key);
        if ctx.propagating() {
            let mut out: Vec<&[u8]> = argv.to_vec();
            let (len, mut tbuf) = (length.to_string(), IdBuf::new());
            rewrite_approx_trim(&mut out, &args, &len, first.format(&mut tbuf));
            ctx.propagate(&out);
        }
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// XRANGE / XREVRANGE / XLEN / XDEL / XSETID
// ---------------------------------------------------------------------------

fn xrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    xrange_generic(ctx, argv, false)
}

fn xrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    xrange_generic(ctx, argv, true)
}

fn xrange_generic(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq_ic(argv[j], "count") && j + 1 < argv.len() {
            count = arg_i64(argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let db = ctx.db();
    let Some(s) = read_stream(ctx.ks, db, argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    let count = if count < 0 { 0 } else { count as usize };
    reply_range(ctx.out, s, start, end, count, rev);
    Ok(())
}

fn xlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = read_stream(ctx.ks, db, argv[1])?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn xdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let key = argv[1];
    let Some(s) = write_stream(ctx.ks, db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    // All IDs are checked before anything is deleted.
    let mut ids: smallvec::SmallVec<[StreamId; 8]> = smallvec::SmallVec::new();
    for a in &argv[2..] {
        ids.push(parse_strict_id(a)?);
    }
    let mut deleted = 0;
    let mut first_entry = false;
    for &id in &ids {
        if s.delete(id) {
            if id == s.first_id {
                first_entry = true;
            }
            if id > s.max_deleted_id {
                s.max_deleted_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.is_empty() {
            s.first_id = StreamId::MIN;
        } else if first_entry {
            s.first_id = s.first_valid_id().unwrap_or(StreamId::MAX);
        }
        ctx.ks.touch(db, key);
        ctx.notify(notify::STREAM, "xdel", key);
    }
    ctx.out.int(deleted);
    Ok(())
}

fn xsetid(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = parse_strict_id(argv[2])?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let moreargs = argv.len() - 1 - i;
        if eq_ic(argv[i], "entriesadded") && moreargs > 0 {
            entries_added = arg_i64(argv[i + 1])?;
            if entries_added < 0 {
                return Err(CmdError::err("ERR entries_added must be positive"));
            }
            i += 2;
        } else if eq_ic(argv[i], "maxdeletedid") && moreargs > 0 {
            max_xdel = parse_strict_id(argv[i + 1])?;
            if id < max_xdel {
                return Err(CmdError::err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let db = ctx.db();
    let key = argv[1];
    let Some(s) = write_stream(ctx.ks, db, key)? else {
        return Err(CmdError::err("ERR no such key"));
    };
    if !s.is_empty() {
        let maxid = s.last_valid_id().unwrap_or(StreamId::MIN);
        if id < maxid {
            return Err(CmdError::err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() as u64 > entries_added as u64 {
            return Err(CmdError::err("ERR The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    ctx.out.ok();
    ctx.notify(notify::STREAM, "xsetid", key);
    Ok(())
}

// ---------------------------------------------------------------------------
// XREAD / XREADGROUP
// ---------------------------------------------------------------------------

/// Key positions of XREAD and XREADGROUP: the first half of what follows
/// STREAMS (Redis's xreadGetKeys).
fn xread_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut i = 1;
    let mut streams_pos = None;
    while i < argv.len() {
        let a = argv[i];
        if eq_ic(a, "block") || eq_ic(a, "count") {
            i += 1;
        } else if eq_ic(a, "group") {
            i += 2;
        } else if eq_ic(a, "noack") {
        } else if eq_ic(a, "streams") {
            streams_pos = Some(i);
            break;
        } else {
            break;
        }
        i += 1;
    }
    let Some(pos) = streams_pos else {
        return Vec::new();
    };
    let num = argv.len() - pos - 1;
    if num == 0 || !num.is_multiple_of(2) {
        return Vec::new();
    }
    (pos + 1..pos + 1 + num / 2).collect()
}

/// Redis's XREAD_BLOCKED_DEFAULT_COUNT: a blocked reader asking for no
/// COUNT gets at most this many entries per stream.
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// The group side of a read: which group and consumer, and NOACK.
#[derive(Clone)]
struct GroupRead {
    group: Vec<u8>,
    consumer: Vec<u8>,
    noack: bool,
}

/// Who a group read delivers to: group name, consumer (its shared name)
/// and NOACK.
type Delivery<'a> = (&'a [u8], &'a Arc<[u8]>, bool);

/// The entries of `s` from `start` on, at most `count` (0 = all), as an
/// array; with a group, they are delivered to `consumer` (streamReplyWithRange
/// with a group: last ID, read counter and PELs updated). Returns how many.
/// What it did to the group is collected in `fx` (`key` names the stream).
#[allow(clippy::too_many_arguments)]
fn reply_new_entries(
    out: &mut Out,
    s: &mut StreamValue,
    key: &[u8],
    start: StreamId,
    count: usize,
    group: Option<Delivery<'_>>,
    now: i64,
    fx: &mut GroupEffects,
) -> usize {
    let pos = out.buf.len();
    let mut n = 0;
    let group_name = group.map(|(name, _, _)| name);
    let mut moved_last_id = false;
    // The groups are taken out so the entries can be borrowed while a
    // group's PEL changes.
    let mut groups = std::mem::take(&mut s.groups);
    let mut g = group.and_then(|(name, c, noack)| groups.get_mut(name).map(|g| (g, c, noack)));
    let sv: &StreamValue = s;
    sv.range(start, StreamId::MAX, false, |id, e| {
        if let Some((g, consumer, noack)) = g.as_mut() {
            moved_last_id |= id > g.last_id;
            sv.advance_group(g, id);
            reply_entry(out, id, &e);
            if !*noack {
                let last_id = g.last_id;
                let nack = g.assign(
                    id,
                    consumer,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: (*consumer).clone(),
                    },
                );
                nack.delivery_time = now;
                nack.delivery_count = 1;
                // The XCLAIM carries the group's last ID too.
                fx.xclaim_id(key, group_name.unwrap_or_default(), id, nack, last_id);
            }
        } else {
            reply_entry(out, id, &e);
        }
        n += 1;
        count == 0 || n < count
    });
    // With NOACK no XCLAIM carried the group's new last ID.
    if let (Some((g, _, true)), true) = (g.as_ref(), moved_last_id) {
        fx.setid(key, group_name.unwrap_or_default(), g);
    }
    s.groups = groups;
    set_deferred_array(out, pos, n);
    n
}

/// A consumer's own pending entries from `start` (streamReplyWithRangeFromConsumerPEL):
/// entries that no longer exist come back as `[id, nil]`.
fn reply_history(
    out: &mut Out,
    s: &mut StreamValue,
    group: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: usize,
    now: i64,
) {
    let pos = out.buf.len();
    let mut n = 0;
    let mut groups = std::mem::take(&mut s.groups);
    if let Some(g) = groups.get_mut(group) {
        if let Some(c) = g.consumers.get(consumer) {
            for &id in c.pel.range(start..) {
                if count != 0 && n >= count {
                    break;
                }
                match s.get(id) {
                    Some(e) => {
                        reply_entry(out, id, &e);
                        if let Some(nack) = g.pel.get_mut(&id) {
                            nack.delivery_time = now;
                            nack.delivery_count += 1;
                        }
                    }
                    None => {
                        out.array(2);
                        reply_id(out, id);
                        out.null_array();
                    }
                }
                n += 1;
            }
        }
    }
    s.groups = groups;
    set_deferred_array(out, pos, n);
}

/// Parsed XREAD / XREADGROUP options.
struct ReadArgs<'a> {
    /// BLOCK in milliseconds (0 = forever).
    block: Option<i64>,
    count: i64,
    streams_arg: usize,
    nstreams: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
}

fn parse_read<'a>(argv: &[&'a [u8]], xreadgroup: bool) -> Result<ReadArgs<'a>, CmdError> {
    let mut r = ReadArgs {
        block: None,
        count: 0,
        streams_arg: 0,
        nstreams: 0,
        group: None,
        noack: false,
    };
    let mut i = 1;
    while i < argv.len() {
        let moreargs = argv.len() - i - 1;
        let o = argv[i];
        if eq_ic(o, "block") && moreargs > 0 {
            i += 1;
            let t = crate::util::num::parse_i64(argv[i]).ok_or(CmdError::err(
                "ERR timeout is not an integer or out of range",
            ))?;
            if t < 0 {
                return Err(CmdError::err("ERR timeout is negative"));
            }
            r.block = Some(t);
        } else if eq_ic(o, "count") && moreargs > 0 {
            i += 1;
            r.count = arg_i64(argv[i])?.max(0);
        } else if eq_ic(o, "streams") && moreargs > 0 {
            r.streams_arg = i + 1;
            let n = argv.len() - r.streams_arg;
            if !n.is_multiple_of(2) {
                return Err(CmdError::err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            r.nstreams = n / 2;
            break;
        } else if eq_ic(o, "group") && moreargs >= 2 {
            if !xreadgroup {
                return Err(CmdError::err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.group = Some((argv[i + 1], argv[i + 2]));
            i += 2;
        } else if eq_ic(o, "noack") {
            if !xreadgroup {
                return Err(CmdError::err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if r.streams_arg == 0 {
        return Err(CmdError::Syntax);
    }
    if xreadgroup && r.group.is_none() {
        return Err(CmdError::err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

fn xread(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    xread_generic(ctx, argv, false)
}

fn xreadgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    xread_generic(ctx, argv, true)
}

/// The ">" ID of XREADGROUP, as Redis marks it.
const NEW_ONLY: StreamId = StreamId::MAX;

fn xread_generic(ctx: &mut Ctx, argv: &[&[u8]], xreadgroup: bool) -> CmdResult {
    let r = parse_read(argv, xreadgroup)?;
    let db = ctx.db();
    let keys = &argv[r.streams_arg..r.streams_arg + r.nstreams];
    let id_args = &argv[r.streams_arg + r.nstreams..];
    let mut ids: smallvec::SmallVec<[StreamId; 4]> = smallvec::SmallVec::new();
    for (key, arg) in keys.iter().zip(id_args) {
        let s = read_stream(ctx.ks, db, key)?;
        if let Some((group, _)) = r.group {
            if !s.as_ref().is_some_and(|s| s.groups.contains_key(group)) {
                return Err(CmdError::owned(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    cstr(key),
                    cstr(group)
                )));
            }
        }
        if *arg == b"$" {
            if xreadgroup {
                return Err(CmdError::err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            ids.push(s.map_or(StreamId::MIN, |s| s.last_id));
            continue;
        }
        if *arg == b">" {
            if !xreadgroup {
                return Err(CmdError::err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            ids.push(NEW_ONLY);
            continue;
        }
        ids.push(parse_strict_id(arg)?);
    }

    let now = now(ctx);
    let count = r.count as usize;
    let resp3 = ctx.out.resp3;
    let top = ctx.out.buf.len();
    let mut served = 0;
    let mut created: smallvec::SmallVec<[&[u8]; 2]> = smallvec::SmallVec::new();
    // XREADGROUP propagates the XCLAIMs / XGROUP SETID of what it delivered,
    // never itself.
    let mut fx = GroupEffects::new(xreadgroup && ctx.propagating());
    for (i, key) in keys.iter().enumerate() {
        // Mutable for XREADGROUP; plain XREAD then preserves the stream for a
        // running snapshot too, which costs a copy but never correctness.
        let Some(s) = read_stream_mut(ctx.ks, db, key)? else {
            continue;
        };
        let mut gt = ids[i];
        let mut history = false;
        let serve = if let Some((group, _)) = r.group {
            if gt != NEW_ONLY {
                history = true;
                true
            } else if !s.is_empty() {
                let last = s.groups.get(group).map_or(StreamId::MAX, |g| g.last_id);
                let maxid = s.last_valid_id().unwrap_or(StreamId::MIN);
                gt = last;
                maxid > last
            } else {
                false
            }
        } else {
            !s.is_empty() && s.last_valid_id().is_some_and(|maxid| maxid > gt)
        };
        if !serve {
            continue;
        }
        // The consumer is looked up (its seen-time refreshed) or created.
        let member = match r.group {
            Some((group, consumer)) => match s.groups.get_mut(group) {
                Some(g) => Some(g.consumer(consumer, now)),
                None => continue,
            },
            None => None,
        };
        served += 1;
        if !resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(key);
        let start = gt.incr().unwrap_or(StreamId::MAX);
        match (r.group, member) {
            (Some((group, consumer)), Some((name, was_created))) => {
                if was_created {
                    created.push(key);
                }
                if history {
                    reply_history(ctx.out, s, group, consumer, start, count, now);
                } else {
                    reply_new_entries(
                        ctx.out,
                        s,
                        key,
                        start,
                        count,
                        Some((group, &name, r.noack)),
                        now,
                        &mut fx,
                    );
                }
            }
            _ => {
                reply_new_entries(ctx.out, s, key, start, count, None, now, &mut fx);
            }
        }
    }
    if xreadgroup {
        fx.commit(ctx);
    }
    if served > 0 {
        set_deferred(ctx.out, top, if resp3 { b'%' } else { b'*' }, served);
        for key in created {
            ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
        return Ok(());
    }
    if let Some(ms) = r.block {
        // Like Redis's blockForKeys, a key named twice waits once, for the
        // first ID given for it.
        let mut streams: Vec<(Vec<u8>, StreamId)> = Vec::with_capacity(keys.len());
        for (key, &id) in keys.iter().zip(ids.iter()) {
            if !streams.iter().any(|(k, _)| k.as_slice() == *key) {
                streams.push((key.to_vec(), id));
            }
        }
        let wait_keys = streams.iter().map(|(k, _)| k.clone()).collect();
        let op = ReadWait {
            resp3,
            streams,
            count: if count == 0 {
                BLOCKED_DEFAULT_COUNT
            } else {
                count
            },
            group: r.group.map(|(g, c)| GroupRead {
                group: g.to_vec(),
                consumer: c.to_vec(),
                noack: r.noack,
            }),
        };
        let timeout = (ms > 0).then(|| Duration::from_millis(ms as u64));
        ctx.block(wait_keys, timeout, Box::new(op));
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

/// A client blocked in XREAD / XREADGROUP (Redis's serveClientsBlockedOnStreamKey).
struct ReadWait {
    resp3: bool,
    /// Each key once, with the ID the client wants entries after.
    streams: Vec<(Vec<u8>, StreamId)>,
    count: usize,
    group: Option<GroupRead>,
}

impl ReadWait {
    fn error(&self, text: &str) -> Served {
        let mut out = Out {
            buf: Vec::new(),
            resp3: self.resp3,
            error_prefixes: Vec::new(),
        };
        out.error(text);
        Served::Reply(out.buf)
    }
}

impl WaitOp for ReadWait {
    fn serve(&self, ks: &mut Locked<'_>, db: usize, key: &[u8]) -> Served {
        let Some(&(_, mut gt)) = self.streams.iter().find(|(k, _)| k.as_slice() == key) else {
            return Served::NotReady;
        };
        let now = ks.now_ms;
        let propagating = ks.propagating();
        let s = match ks.get(db, key).map(|e| &mut e.value) {
            Some(Value::Stream(s)) => s,
            // A deleted or retyped key ends a group read (its group is gone)
            // but a plain XREAD keeps waiting.
            _ if self.group.is_some() => {
                return self.error("UNBLOCKED the stream key no longer exists")
            }
            _ => return Served::Skip,
        };
        if let Some(gr) = &self.group {
            match s.groups.get(gr.group.as_slice()) {
                Some(g) => gt = g.last_id,
                None => {
                    return self.error(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    )
                }
            }
        }
        if s.last_id <= gt {
            return Served::Skip;
        }
        let mut out = Out {
            buf: Vec::with_capacity(256),
            resp3: self.resp3,
            error_prefixes: Vec::new(),
        };
        if self.resp3 {
            out.map(1);
        } else {
            out.array(1);
            out.array(2);
        }
        out.bulk(key);
        let start = gt.incr().unwrap_or(StreamId::MAX);
        match &self.group {
            Some(gr) => {
                let name = match s.groups.get_mut(gr.group.as_slice()) {
                    Some(g) => g.consumer(&gr.consumer, now).0,
                    None => return Served::NotReady,
                };
                let mut fx = GroupEffects::new(propagating);
                reply_new_entries(
                    &mut out,
                    s,
                    key,
                    start,
                    self.count,
                    Some((&gr.group, &name, gr.noack)),
                    now,
                    &mut fx,
                );
                fx.commit_served(ks, db);
            }
            None => {
                let mut fx = GroupEffects::new(false);
                reply_new_entries(&mut out, s, key, start, self.count, None, now, &mut fx);
            }
        }
        Served::Reply(out.buf)
    }

    fn timeout_reply(&self, resp3: bool) -> Vec<u8> {
        if resp3 {
            b"_\r\n".to_vec()
        } else {
            b"*-1\r\n".to_vec()
        }
    }
}

// ---------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------

fn subcommand_syntax_error(argv: &[&[u8]]) -> CmdError {
    let sub = argv.get(1).copied().unwrap_or(b"");
    let end = sub
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(sub.len())
        .min(128);
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..end]),
        String::from_utf8_lossy(argv[0]).to_ascii_uppercase()
    ))
}

fn xgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opt = argv[1];
    if argv.len() == 2 && eq_ic(opt, "help") {
        super::keys::reply_help(
            ctx,
            "XGROUP",
            &[
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
            ],
        );
        return Ok(());
    }
    if argv.len() < 4 {
        return Err(subcommand_syntax_error(argv));
    }
    let create = eq_ic(opt, "create");
    let setid = eq_ic(opt, "setid");
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < argv.len() {
        if create && eq_ic(argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && eq_ic(argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = arg_i64(argv[i + 1])?;
            if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                return Err(CmdError::err(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax_error(argv));
        }
    }
    let db = ctx.db();
    let key = argv[2];
    let grp = argv[3];
    let exists = write_stream(ctx.ks, db, key)?.is_some();
    let mut has_group = false;
    if !mkstream {
        let Some(s) = write_stream(ctx.ks, db, key)? else {
            return Err(CmdError::err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
        };
        has_group = s.groups.contains_key(grp);
        if !has_group && (setid || eq_ic(opt, "createconsumer") || eq_ic(opt, "delconsumer")) {
            return Err(CmdError::owned(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                cstr(grp),
                cstr(key)
            )));
        }
    }
    let now = now(ctx);
    if create && (5..=8).contains(&argv.len()) {
        let id = if argv[4] == b"$" {
            write_stream(ctx.ks, db, key)?.map_or(StreamId::MIN, |s| s.last_id)
        } else {
            parse_strict_id(argv[4])?
        };
        if !exists {
            ctx.ks
                .set(db, key, Value::Stream(Box::new(StreamValue::new())), None);
            ctx.ks.touch(db, key);
        }
        let Some(s) = write_stream(ctx.ks, db, key)? else {
            return Ok(());
        };
        if s.groups.contains_key(grp) {
            return Err(CmdError::err(
                "BUSYGROUP Consumer Group name already exists",
            ));
        }
        s.groups
            .insert(grp.into(), ConsumerGroup::new(id, entries_read));
        ctx.out.ok();
        ctx.notify(notify::STREAM, "xgroup-create", key);
    } else if setid && (argv.len() == 5 || argv.len() == 7) {
        let Some(s) = write_stream(ctx.ks, db, key)? else {
            return Ok(());
        };
        let id = if argv[4] == b"$" {
            s.last_id
        } else {
            parse_id_full(argv[4], 0, false, None)?
        };
        if let Some(g) = s.groups.get_mut(grp) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.out.ok();
        ctx.notify(notify::STREAM, "xgroup-setid", key);
    } else if eq_ic(opt, "destroy") && argv.len() == 4 {
        let removed = has_group
            && write_stream(ctx.ks, db, key)?.is_some_and(|s| s.groups.remove(grp).is_some());
        if removed {
            ctx.out.int(1);
            ctx.notify(notify::STREAM, "xgroup-destroy", key);
            // Wakes clients blocked in XREADGROUP on this group: they get -NOGROUP.
            ctx.ks.touch(db, key);
        } else {
            ctx.out.int(0);
        }
    } else if eq_ic(opt, "createconsumer") && argv.len() == 5 {
        let created = write_stream(ctx.ks, db, key)?
            .and_then(|s| s.groups.get_mut(grp))
            .is_some_and(|g| g.create_consumer(argv[4], now));
        ctx.out.int(created as i64);
        if created {
            ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
    } else if eq_ic(opt, "delconsumer") && argv.len() == 5 {
        let pending = write_stream(ctx.ks, db, key)?
            .and_then(|s| s.groups.get_mut(grp))
            .and_then(|g| g.delete_consumer(argv[4]));
        ctx.out.int(pending.unwrap_or(0) as i64);
        if pending.is_some() {
            ctx.notify(notify::STREAM, "xgroup-delconsumer", key);
        }
    } else {
        return Err(subcommand_syntax_error(argv));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM
// ---------------------------------------------------------------------------

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        cstr(key),
        cstr(group)
    ))
}

fn xack(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let Some(s) = read_stream_mut(ctx.ks, db, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(g) = s.groups.get_mut(argv[2]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut ids: smallvec::SmallVec<[StreamId; 8]> = smallvec::SmallVec::new();
    for a in &argv[3..] {
        ids.push(parse_strict_id(a)?);
    }
    let acked = ids.iter().filter(|&&id| g.ack(id)).count();
    ctx.out.int(acked as i64);
    Ok(())
}

fn xpending(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let argc = argv.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut minidle: i64 = 0;
    let mut count: i64 = 0;
    let mut start = StreamId::MIN;
    let mut end = StreamId::MAX;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut startidx = 3;
        if eq_ic(argv[3], "idle") {
            minidle = arg_i64(argv[4])?;
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
            startidx += 2;
        }
        count = arg_i64(argv[startidx + 2])?.max(0);
        start = range_start(argv[startidx])?;
        end = range_end(argv[startidx + 1])?;
        if startidx + 3 < argc {
            consumer = Some(argv[startidx + 3]);
        }
    }
    let db = ctx.db();
    let now = now(ctx);
    let s = read_stream(ctx.ks, db, argv[1])?;
    let Some(g) = s.and_then(|s| s.groups.get(argv[2])) else {
        return Err(nogroup(argv[1], argv[2]));
    };
    let out = &mut *ctx.out;
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.first_key_value(), g.pel.last_key_value()) {
            (Some((first, _)), Some((last, _))) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let pos = out.buf.len();
                let mut n = 0;
                for (name, c) in g.consumers.iter().filter(|(_, c)| !c.pel.is_empty()) {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_int(c.pel.len() as i64);
                    n += 1;
                }
                set_deferred_array(out, pos, n);
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let consumer = match consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) => Some(c),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None => None,
    };
    let pos = out.buf.len();
    let mut n = 0;
    let mut emit = |id: StreamId, nack: &Nack| {
        if count == 0 {
            return false;
        }
        if minidle != 0 && now - nack.delivery_time < minidle {
            return true;
        }
        n += 1;
        count -= 1;
        out.array(4);
        reply_id(out, id);
        out.bulk(&nack.consumer);
        out.int((now - nack.delivery_time).max(0));
        out.int(nack.delivery_count as i64);
        true
    };
    // BTreeMap ranges must not be reversed; Redis just finds nothing.
    if start <= end {
        match consumer {
            Some(c) => {
                for id in c.pel.range(start..=end) {
                    if let Some(nack) = g.pel.get(id) {
                        if !emit(*id, nack) {
                            break;
                        }
                    }
                }
            }
            None => {
                for (id, nack) in g.pel.range(start..=end) {
                    if !emit(*id, nack) {
                        break;
                    }
                }
            }
        }
    }
    set_deferred_array(out, pos, n);
    Ok(())
}

fn xclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let key = argv[1];
    let grp = argv[2];
    let now = now(ctx);
    let propagating = ctx.ks.propagating();
    let s = match read_stream_mut(ctx.ks, db, key)? {
        Some(s) if s.groups.contains_key(grp) => s,
        _ => return Err(nogroup(key, grp)),
    };
    let minidle = crate::util::num::parse_i64(argv[4])
        .ok_or(CmdError::err(
            "ERR Invalid min-idle-time argument for XCLAIM",
        ))?
        .max(0);
    // Each ID with its argument (propagated as the client wrote it).
    let mut ids: smallvec::SmallVec<[(StreamId, usize); 8]> = smallvec::SmallVec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(argv[j]) {
            Ok(id) => ids.push((id, j)),
            Err(_) => break,
        }
        j += 1;
    }
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut force = false;
    let mut justid = false;
    let mut lastid = StreamId::MIN;
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        let opt = argv[j];
        let int_opt =
            |a: &[u8], msg: &'static str| crate::util::num::parse_i64(a).ok_or(CmdError::err(msg));
        if eq_ic(opt, "force") {
            force = true;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else if eq_ic(opt, "idle") && moreargs > 0 {
            j += 1;
            let idle = int_opt(argv[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            deliverytime = now.wrapping_sub(idle);
        } else if eq_ic(opt, "time") && moreargs > 0 {
            j += 1;
            deliverytime = int_opt(argv[j], "ERR Invalid TIME option argument for XCLAIM")?;
        } else if eq_ic(opt, "retrycount") && moreargs > 0 {
            j += 1;
            retrycount = int_opt(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if eq_ic(opt, "lastid") && moreargs > 0 {
            j += 1;
            lastid = parse_strict_id(argv[j])?;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                cstr(opt)
            )));
        }
        j += 1;
    }
    let mut groups = std::mem::take(&mut s.groups);
    let Some(g) = groups.get_mut(grp) else {
        s.groups = groups;
        return Ok(());
    };
    // Propagated as XCLAIMs (which carry the group's last ID) or, when
    // nothing was claimed, XGROUP SETID.
    let mut fx = GroupEffects::new(propagating);
    let mut propagate_last_id = false;
    if lastid > g.last_id {
        g.last_id = lastid;
        propagate_last_id = true;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let out = &mut *ctx.out;
    let pos = out.buf.len();
    let mut n = 0;
    let mut consumer: Option<Arc<[u8]>> = None;
    let mut created = false;
    for &(id, arg) in &ids {
        let Some(entry) = s.get(id) else {
            // Gone from the stream: drop it from the PEL (propagated as an
            // XCLAIM, which does the same on a replay).
            if let Some(nack) = g.pel.get(&id) {
                fx.xclaim(key, grp, argv[arg], nack, g.last_id);
                propagate_last_id = false;
            }
            g.ack(id);
            continue;
        };
        let pending = g.pel.get(&id);
        if pending.is_none() && !force {
            continue;
        }
        if let Some(nack) = pending {
            if minidle != 0 && now - nack.delivery_time < minidle {
                continue;
            }
        }
        let name = match &consumer {
            Some(c) => c.clone(),
            None => {
                let (c, was_created) = g.consumer(argv[3], now);
                created |= was_created;
                consumer = Some(c.clone());
                c
            }
        };
        // A FORCE-created entry starts as a fresh delivery (count 1), as Redis.
        let nack = g.assign(
            id,
            &name,
            Nack {
                delivery_time: now,
                delivery_count: 1,
                consumer: name.clone(),
            },
        );
        nack.delivery_time = deliverytime;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
        let last_id = g.last_id;
        if let Some(nack) = g.pel.get(&id) {
            fx.xclaim(key, grp, argv[arg], nack, last_id);
        }
        propagate_last_id = false;
        if justid {
            reply_id(out, id);
        } else {
            reply_entry(out, id, &entry);
        }
        n += 1;
    }
    if propagate_last_id {
        fx.setid(key, grp, g);
    }
    s.groups = groups;
    set_deferred_array(out, pos, n);
    fx.commit(ctx);
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

fn xautoclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let minidle = crate::util::num::parse_i64(argv[4])
        .ok_or(CmdError::err(
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ))?
        .max(0);
    let start = range_start(argv[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        if eq_ic(argv[j], "count") && moreargs > 0 {
            let max = i64::MAX / 16;
            count = crate::util::num::parse_i64(argv[j + 1])
                .filter(|c| (1..=max).contains(c))
                .ok_or(CmdError::err("ERR COUNT must be > 0"))?;
            j += 1;
        } else if eq_ic(argv[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let db = ctx.db();
    let key = argv[1];
    let grp = argv[2];
    let now = now(ctx);
    let propagating = ctx.ks.propagating();
    let Some(s) = read_stream_mut(ctx.ks, db, key)? else {
        return Err(nogroup(key, grp));
    };
    if !s.groups.contains_key(grp) {
        return Err(nogroup(key, grp));
    }
    let mut groups = std::mem::take(&mut s.groups);
    let Some(g) = groups.get_mut(grp) else {
        s.groups = groups;
        return Ok(());
    };
    // Each claimed or dropped entry is propagated as an XCLAIM.
    let mut fx = GroupEffects::new(propagating);
    let out = &mut *ctx.out;
    out.array(3);
    let cursor_pos = out.buf.len();
    let pos = out.buf.len();
    let mut n = 0;
    let mut attempts = count.saturating_mul(10);
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut consumer: Option<Arc<[u8]>> = None;
    let mut created = false;
    // Where the scan stopped: None = the PEL ran out.
    let mut next_from = Some(start);
    let mut last_seen: Option<StreamId> = None;
    loop {
        if attempts == 0 {
            break;
        }
        attempts -= 1;
        if count == 0 {
            break;
        }
        let from = match last_seen {
            None => start,
            Some(id) => match id.incr() {
                Some(n) => n,
                None => {
                    next_from = None;
                    break;
                }
            },
        };
        let Some((&id, nack)) = g.pel.range(from..).next() else {
            next_from = None;
            break;
        };
        last_seen = Some(id);
        let delivery_time = nack.delivery_time;
        let Some(entry) = s.get(id) else {
            if let Some(nack) = g.pel.get(&id) {
                fx.xclaim_id(key, grp, id, nack, g.last_id);
            }
            g.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        };
        if minidle != 0 && now - delivery_time < minidle {
            continue;
        }
        let name = match &consumer {
            Some(c) => c.clone(),
            None => {
                let (c, was_created) = g.consumer(argv[3], now);
                created |= was_created;
                consumer = Some(c.clone());
                c
            }
        };
        let fresh = Nack {
            delivery_time: now,
            delivery_count: 0,
            consumer: name.clone(),
        };
        let nack = g.assign(id, &name, fresh);
        nack.delivery_time = now;
        if !justid {
            nack.delivery_count += 1;
        }
        let last_id = g.last_id;
        if let Some(nack) = g.pel.get(&id) {
            fx.xclaim_id(key, grp, id, nack, last_id);
        }
        if justid {
            reply_id(out, id);
        } else {
            reply_entry(out, id, &entry);
        }
        n += 1;
        count -= 1;
    }
    // The cursor is the PEL entry after the last one looked at.
    let cursor = match (next_from, last_seen) {
        (None, _) => StreamId::MIN,
        (Some(_), None) => g
            .pel
            .range(start..)
            .next()
            .map_or(StreamId::MIN, |(k, _)| *k),
        (Some(_), Some(last)) => last
            .incr()
            .and_then(|f| g.pel.range(f..).next().map(|(k, _)| *k))
            .unwrap_or(StreamId::MIN),
    };
    s.groups = groups;
    set_deferred_array(out, pos, n);
    let mut tmp = Out {
        buf: Vec::new(),
        resp3: out.resp3,
        error_prefixes: Vec::new(),
    };
    reply_id(&mut tmp, cursor);
    out.buf.splice(cursor_pos..cursor_pos, tmp.buf);
    out.array(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
    fx.commit(ctx);
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------

fn xinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if eq_ic(argv[1], "help") {
        if argv.len() != 2 {
            return Err(subcommand_syntax_error(argv));
        }
        super::keys::reply_help(
            ctx,
            "XINFO",
            &[
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
            ],
        );
        return Ok(());
    }
    if argv.len() < 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let opt = argv[1];
    let db = ctx.db();
    let now = now(ctx);
    let Some(s) = read_stream(ctx.ks, db, argv[2])? else {
        return Err(CmdError::err("ERR no such key"));
    };
    let out = &mut *ctx.out;
    if eq_ic(opt, "consumers") && argv.len() == 4 {
        let Some(g) = s.groups.get(argv[3]) else {
            return Err(CmdError::owned(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                cstr(argv[3]),
                cstr(argv[2])
            )));
        };
        out.array(g.consumers.len());
        for (name, c) in &g.consumers {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int((now - c.seen_time).max(0));
        }
    } else if eq_ic(opt, "groups") && argv.len() == 3 {
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            reply_entries_read_and_lag(out, s, g);
        }
    } else if eq_ic(opt, "stream") {
        xinfo_stream(out, s, &argv[3..])
            .map_err(|e| e.unwrap_or_else(|| subcommand_syntax_error(argv)))?;
    } else {
        return Err(subcommand_syntax_error(argv));
    }
    Ok(())
}

fn reply_entries_read_and_lag(out: &mut Out, s: &StreamValue, g: &ConsumerGroup) {
    out.bulk(b"entries-read");
    if g.entries_read != INVALID_ENTRIES_READ {
        out.int(g.entries_read);
    } else {
        out.null();
    }
    out.bulk(b"lag");
    match s.group_lag(g) {
        Some(lag) => out.int(lag),
        None => out.null(),
    }
}

/// XINFO STREAM; Err(None) is the subcommand syntax error.
fn xinfo_stream(out: &mut Out, s: &StreamValue, opts: &[&[u8]]) -> Result<(), Option<CmdError>> {
    let mut full = true;
    let mut count: i64 = 10;
    let syntax = || None;
    if opts.is_empty() {
        full = false;
    } else {
        if opts.len() != 1 && opts.len() != 3 {
            return Err(syntax());
        }
        if !eq_ic(opts[0], "full") {
            return Err(syntax());
        }
        if opts.len() == 3 {
            if !eq_ic(opts[1], "count") {
                return Err(syntax());
            }
            count = arg_i64(opts[2]).map_err(Some)?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let count = count as usize;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (label, rev) in [(&b"first-entry"[..], false), (&b"last-entry"[..], true)] {
            out.bulk(label);
            let mut emitted = false;
            s.range(StreamId::MIN, StreamId::MAX, rev, |id, e| {
                reply_entry(out, id, &e);
                emitted = true;
                false
            });
            if !emitted {
                out.null();
            }
        }
        return Ok(());
    }
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, count, false);
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        reply_entries_read_and_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let shown = if count == 0 {
            g.pel.len()
        } else {
            g.pel.len().min(count)
        };
        out.array(shown);
        for (id, nack) in g.pel.iter().take(shown) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&nack.consumer);
            out.int(nack.delivery_time);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let shown = if count == 0 {
                c.pel.len()
            } else {
                c.pel.len().min(count)
            };
            out.array(shown);
            for id in c.pel.iter().take(shown) {
                out.array(3);
                reply_id(out, *id);
                let (t, n) = g
                    .pel
                    .get(id)
                    .map_or((0, 0), |n| (n.delivery_time, n.delivery_count));
                out.int(t);
                out.int(n as i64);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_parsing_follows_redis() {
        assert_eq!(parse_strict_id(b"1-2").unwrap(), StreamId::new(1, 2));
        assert_eq!(parse_strict_id(b"5").unwrap(), StreamId::new(5, 0));
        assert!(parse_strict_id(b"-").is_err());
        assert!(parse_strict_id(b"1-x").is_err());
        assert!(parse_strict_id(b"").is_err());
        assert!(parse_strict_id(b"-1").is_err());
        assert_eq!(parse_strict_id(b"01-02").unwrap(), StreamId::new(1, 2));
        assert_eq!(parse_strict_id(b" 1").unwrap(), StreamId::new(1, 0));
        assert_eq!(parse_strict_id(b"+1").unwrap(), StreamId::new(1, 0));
        assert_eq!(
            parse_strict_id(b"1--05").unwrap(),
            StreamId::new(1, 5u64.wrapping_neg())
        );
        assert!(parse_strict_id(b"18446744073709551616").is_err());
        assert_eq!(range_end(b"5").unwrap(), StreamId::new(5, u64::MAX));
        assert_eq!(range_start(b"(5").unwrap(), StreamId::new(5, 1));
        let mut given = true;
        assert_eq!(
            parse_id_full(b"7-*", 0, true, Some(&mut given)).unwrap(),
            StreamId::new(7, 0)
        );
        assert!(!given);
    }

    #[test]
    fn key_finder_matches_the_streams_section() {
        let argv: Vec<&[u8]> = vec![b"xread", b"COUNT", b"2", b"STREAMS", b"a", b"b", b"0", b"0"];
        assert_eq!(xread_keys(&argv), vec![4, 5]);
        let argv: Vec<&[u8]> = vec![
            b"xreadgroup",
            b"GROUP",
            b"streams",
            b"c",
            b"STREAMS",
            b"a",
            b">",
        ];
        assert_eq!(xread_keys(&argv), vec![5]);
        let argv: Vec<&[u8]> = vec![b"xread", b"STREAMS", b"a"];
        assert!(xread_keys(&argv).is_empty());
    }
}
