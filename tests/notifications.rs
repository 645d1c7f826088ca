//! Keyspace notifications compared with redis-server 7.0: the same commands run against both
//! servers with a `notify-keyspace-events` setting, and the exact sequence of (channel, message)
//! a `PSUBSCRIBE __key*__:*` subscriber receives is compared, command by command.
//!
//! After every command the writer publishes a marker on `__keymark__:<n>` (which the pattern
//! also matches), and the subscriber reads up to that marker: the events of each command are
//! compared as one group, in order, and a missing or extra event names its command. The
//! writer's replies are compared too.
//!
//! One test per family of commands with `KEA`; a mixed script under other flag combinations
//! (`Kx`, `E$`, `Klg`, ...); `n` (new key) and `m` (key miss) events; expiry (the `expired` event
//! of a key nobody reads, from active expiry); RESP3 clients notified of their own writes.

#[path = "common/mod.rs"]
mod common;
#[path = "common/transcript.rs"]
mod transcript;

use common::{escape, split_aggregate, string_value, Protocol};
use std::time::{Duration, Instant};
use transcript::{Frame, Order, Script};

/// Subscriber, writer, and a third connection for blocking commands.
const SUB: usize = 0;
const W: usize = 1;
const B: usize = 2;
const PATTERN: &str = "__key*__:*";

/// One step of a notification script.
#[derive(Clone, Copy)]
enum Op<'a> {
    /// A command on the writer connection, then a marker.
    Cmd(&'a [&'a str]),
    /// A command with no marker after it (inside MULTI, where PUBLISH would be queued).
    Raw(&'a [&'a str]),
    /// Sleep, then a marker (events from active expiry land here).
    Sleep(u64),
    /// A blocking command sent on connection B (its reply is read by `BlockedReply`).
    Block(&'a [&'a str]),
    BlockedReply,
}
use Op::{Block, BlockedReply, Cmd, Raw, Sleep};

/// The pmessage frame the subscriber gets for marker `n`.
fn marker_frame(n: usize) -> Vec<u8> {
    let channel = format!("__keymark__:{n}");
    common::encode_command(&["pmessage", PATTERN, &channel, &n.to_string()])
}

/// Appends `ops` to `s`, each followed by a marker the subscriber reads up to.
fn add_ops(s: &mut Script, ops: &[Op], next_marker: &mut usize) {
    for op in ops {
        let (label, order) = match op {
            Cmd(args) => {
                s.cmd(W, args);
                (format!("events of {}", args.join(" ")), Order::Exact)
            }
            Sleep(ms) => {
                s.sleep(*ms);
                // Active expiry deletes the keys of one cycle in an unspecified order.
                (
                    format!("events during a {ms} ms sleep (any order)"),
                    Order::Unordered,
                )
            }
            Raw(args) => {
                s.cmd(W, args);
                continue;
            }
            Block(args) => {
                s.send(B, args);
                // The command that serves it must find it parked.
                s.wait_blocked(W, 1);
                continue;
            }
            BlockedReply => {
                s.recv(B, 1);
                continue;
            }
        };
        let n = *next_marker;
        *next_marker += 1;
        let channel = format!("__keymark__:{n}");
        s.cmd(W, &["PUBLISH", &channel, &n.to_string()]);
        s.recv_until_labeled(SUB, marker_frame(n), label, order);
    }
}

/// A script: subscribe, then for each `(flags, ops)` set the flags, flush, run the ops.
fn notify_script(runs: &[(&str, &[Op])]) -> Script {
    let mut s = Script::new(3);
    s.cmd(SUB, &["PSUBSCRIBE", PATTERN]);
    let mut marker = 0;
    for (flags, ops) in runs {
        s.cmd(W, &["CONFIG", "SET", "notify-keyspace-events", flags]);
        s.cmd(W, &["FLUSHALL"]);
        s.cmd(W, &["SELECT", "0"]);
        add_ops(&mut s, ops, &mut marker);
    }
    s.quiet(SUB);
    s
}

/// `pmessage __key*__:* <channel> <message>` shown as `<channel> => <message>`.
fn render(f: &Frame) -> String {
    if let Frame::Data(d) = f {
        if let Some((_, parts)) = split_aggregate(d, Protocol::Resp2) {
            let s: Vec<&[u8]> = parts.iter().filter_map(|p| string_value(p)).collect();
            if s.len() == 4 && s[0] == b"pmessage" {
                return format!("{} => {}", escape(s[2]), escape(s[3]));
            }
        }
    }
    f.show()
}

#[track_caller]
fn assert_events(runs: &[(&str, &[Op])]) {
    transcript::assert_same_with(&notify_script(runs), &[], &render);
}

// ---------------------------------------------------------------------------------------------
// Command families
// ---------------------------------------------------------------------------------------------

const STRINGS: &[Op] = &[
    Cmd(&["SET", "s1", "v"]),
    Cmd(&["SET", "s1", "v2", "XX"]),
    Cmd(&["SET", "s1", "v3", "NX"]),
    Cmd(&["SET", "s1", "v4", "GET"]),
    Cmd(&["SET", "s2", "v", "EX", "100"]),
    Cmd(&["SET", "s2", "w", "KEEPTTL"]),
    Cmd(&["SET", "s2", "w", "PX", "100000", "GET"]),
    Cmd(&["SET", "s3", "v", "EXAT", "99999999999"]),
    Cmd(&["SET", "s3", "v", "EX", "0"]),
    Cmd(&["SETNX", "s4", "v"]),
    Cmd(&["SETNX", "s4", "v"]),
    Cmd(&["SETEX", "s5", "100", "v"]),
    Cmd(&["PSETEX", "s6", "100000", "v"]),
    Cmd(&["MSET", "m1", "a", "m2", "b", "m1", "c"]),
    Cmd(&["MSETNX", "m3", "a", "m4", "b"]),
    Cmd(&["MSETNX", "m3", "a", "m5", "b"]),
    Cmd(&["APPEND", "ap", "abc"]),
    Cmd(&["APPEND", "ap", "def"]),
    Cmd(&["APPEND", "ap", ""]),
    Cmd(&["INCR", "n"]),
    Cmd(&["INCRBY", "n", "10"]),
    Cmd(&["DECR", "n"]),
    Cmd(&["DECRBY", "n", "3"]),
    Cmd(&["INCRBYFLOAT", "f", "1.5"]),
    Cmd(&["INCR", "s1"]),
    Cmd(&["SETRANGE", "sr", "5", "xyz"]),
    Cmd(&["SETRANGE", "sr", "0", ""]),
    Cmd(&["SETRANGE", "nosuch", "0", ""]),
    Cmd(&["GETSET", "gs", "1"]),
    Cmd(&["GETSET", "gs", "2"]),
    Cmd(&["GETDEL", "gs"]),
    Cmd(&["GETDEL", "gs"]),
    Cmd(&["SET", "ge", "v"]),
    Cmd(&["GETEX", "ge"]),
    Cmd(&["GETEX", "ge", "EX", "100"]),
    Cmd(&["GETEX", "ge", "PX", "100000"]),
    Cmd(&["GETEX", "ge", "PERSIST"]),
    Cmd(&["GETEX", "ge", "PERSIST"]),
    Cmd(&["GETEX", "nosuch", "EX", "10"]),
    Cmd(&["GET", "s1"]),
    Cmd(&["STRLEN", "s1"]),
    Cmd(&["GETRANGE", "s1", "0", "1"]),
    Cmd(&["LCS", "s1", "s2"]),
    Cmd(&["MGET", "s1", "nosuch"]),
];

const BITMAPS: &[Op] = &[
    Cmd(&["SETBIT", "b1", "7", "1"]),
    Cmd(&["SETBIT", "b1", "7", "1"]),
    Cmd(&["SETBIT", "b2", "0", "1"]),
    Cmd(&["BITOP", "AND", "bd", "b1", "b2"]),
    Cmd(&["BITOP", "OR", "bd", "b1", "b2"]),
    Cmd(&["BITOP", "NOT", "bd2", "b1"]),
    Cmd(&["BITOP", "AND", "bd", "nosuch1", "nosuch2"]),
    Cmd(&["BITFIELD", "bf", "SET", "u8", "0", "255"]),
    Cmd(&["BITFIELD", "bf", "INCRBY", "u8", "0", "1", "GET", "u8", "0"]),
    Cmd(&["BITFIELD", "bf", "GET", "u8", "0"]),
    Cmd(&[
        "BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000",
    ]),
    Cmd(&["BITFIELD_RO", "bf", "GET", "u8", "0"]),
    Cmd(&["BITCOUNT", "b1"]),
    Cmd(&["BITPOS", "b1", "1"]),
    Cmd(&["GETBIT", "b1", "7"]),
];

const GENERIC: &[Op] = &[
    Cmd(&["MSET", "k1", "v", "k2", "v", "k3", "v"]),
    Cmd(&["DEL", "k1", "nosuch", "k2"]),
    Cmd(&["DEL", "nosuch"]),
    Cmd(&["SET", "k1", "v"]),
    Cmd(&["UNLINK", "k1", "k3"]),
    Cmd(&["SET", "t", "v"]),
    Cmd(&["EXPIRE", "t", "100"]),
    Cmd(&["EXPIRE", "t", "200", "GT"]),
    Cmd(&["EXPIRE", "t", "50", "GT"]),
    Cmd(&["EXPIRE", "t", "50", "LT"]),
    Cmd(&["EXPIRE", "t", "50", "NX"]),
    Cmd(&["EXPIRE", "t", "60", "XX"]),
    Cmd(&["PEXPIRE", "t", "100000"]),
    Cmd(&["EXPIREAT", "t", "99999999999"]),
    Cmd(&["PEXPIREAT", "t", "99999999999000"]),
    Cmd(&["PERSIST", "t"]),
    Cmd(&["PERSIST", "t"]),
    Cmd(&["EXPIRE", "nosuch", "100"]),
    // A time in the past deletes the key: a `del` event, not `expired`.
    Cmd(&["EXPIRE", "t", "-1"]),
    Cmd(&["SET", "t", "v"]),
    Cmd(&["PEXPIREAT", "t", "1"]),
    Cmd(&["SET", "t", "v"]),
    Cmd(&["EXPIREAT", "t", "1"]),
    Cmd(&["EXISTS", "t"]),
    Cmd(&["TOUCH", "k1", "k2"]),
    Cmd(&["TYPE", "k1"]),
    Cmd(&["OBJECT", "ENCODING", "k1"]),
    Cmd(&["SET", "i", "1"]),
    Cmd(&["OBJECT", "ENCODING", "i"]),
];

const RENAME_COPY_MOVE: &[Op] = &[
    Cmd(&["SET", "a", "1"]),
    Cmd(&["RENAME", "a", "b"]),
    Cmd(&["SET", "c", "1"]),
    Cmd(&["RENAME", "b", "c"]),
    Cmd(&["RENAME", "c", "c"]),
    Cmd(&["RENAME", "nosuch", "x"]),
    Cmd(&["SET", "d", "1", "EX", "100"]),
    Cmd(&["RENAME", "d", "e"]),
    Cmd(&["RENAMENX", "e", "c"]),
    Cmd(&["RENAMENX", "e", "f"]),
    Cmd(&["COPY", "f", "g"]),
    Cmd(&["COPY", "f", "g"]),
    Cmd(&["COPY", "f", "g", "REPLACE"]),
    Cmd(&["COPY", "f", "g2", "DB", "1"]),
    Cmd(&["COPY", "nosuch", "g3"]),
    Cmd(&["MOVE", "g", "1"]),
    Cmd(&["MOVE", "g", "1"]),
    Cmd(&["SET", "g", "1"]),
    Cmd(&["MOVE", "g", "1"]),
    Cmd(&["SELECT", "1"]),
    Cmd(&["MOVE", "g", "0"]),
    Cmd(&["SET", "db1", "v"]),
    Cmd(&["DEL", "g2"]),
    Cmd(&["SELECT", "0"]),
    Cmd(&["SWAPDB", "0", "1"]),
    Cmd(&["DBSIZE"]),
];

const LISTS: &[Op] = &[
    Cmd(&["LPUSH", "l", "a", "b"]),
    Cmd(&["RPUSH", "l", "c"]),
    Cmd(&["LPUSHX", "l", "x"]),
    Cmd(&["RPUSHX", "l", "y"]),
    Cmd(&["LPUSHX", "nosuch", "x"]),
    Cmd(&["RPUSHX", "nosuch", "x"]),
    Cmd(&["LINSERT", "l", "BEFORE", "c", "ins"]),
    Cmd(&["LINSERT", "l", "AFTER", "nope", "ins"]),
    Cmd(&["LSET", "l", "0", "set"]),
    Cmd(&["LPOP", "l"]),
    Cmd(&["RPOP", "l"]),
    Cmd(&["LPOP", "l", "2"]),
    Cmd(&["LRANGE", "l", "0", "-1"]),
    Cmd(&["LREM", "l", "0", "nope"]),
    Cmd(&["RPUSH", "l", "r", "r", "s"]),
    Cmd(&["LREM", "l", "0", "r"]),
    Cmd(&["LTRIM", "l", "0", "-1"]),
    Cmd(&["LTRIM", "l", "1", "0"]),
    Cmd(&["RPUSH", "src", "1", "2", "3"]),
    Cmd(&["RPOPLPUSH", "src", "dst"]),
    Cmd(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
    Cmd(&["LMOVE", "src", "src", "LEFT", "RIGHT"]),
    Cmd(&["LMOVE", "src", "dst", "RIGHT", "LEFT"]),
    Cmd(&["LMOVE", "src", "dst", "RIGHT", "LEFT"]),
    Cmd(&["LMPOP", "2", "nosuch", "dst", "LEFT", "COUNT", "2"]),
    Cmd(&["LMPOP", "1", "dst", "RIGHT", "COUNT", "10"]),
    Cmd(&["RPUSH", "bl", "a", "b"]),
    Cmd(&["BLPOP", "nosuch", "bl", "1"]),
    Cmd(&["BRPOP", "bl", "1"]),
    Cmd(&["RPUSH", "bl", "a"]),
    Cmd(&["BRPOPLPUSH", "bl", "bl2", "1"]),
    Cmd(&["BLMOVE", "bl2", "bl", "LEFT", "LEFT", "1"]),
    Cmd(&["BLMPOP", "1", "1", "bl", "LEFT"]),
    // Served while blocked: the push, then the pop done for the blocked client.
    Block(&["BLPOP", "wait1", "5"]),
    Cmd(&["RPUSH", "wait1", "x", "y"]),
    BlockedReply,
    Block(&["BLMOVE", "wait2", "moved", "RIGHT", "LEFT", "5"]),
    Cmd(&["LPUSH", "wait2", "z"]),
    BlockedReply,
    Block(&["BRPOP", "wait3", "5"]),
    Cmd(&["LPUSH", "wait3", "a"]),
    BlockedReply,
    Block(&["BLMPOP", "5", "2", "nosuch", "wait4", "RIGHT", "COUNT", "2"]),
    Cmd(&["RPUSH", "wait4", "a", "b", "c"]),
    BlockedReply,
    Block(&["BRPOPLPUSH", "wait5", "moved", "5"]),
    Cmd(&["RPUSH", "wait5", "a"]),
    BlockedReply,
    Cmd(&["LLEN", "moved"]),
    Cmd(&["LINDEX", "moved", "0"]),
    Cmd(&["LPOS", "moved", "z"]),
];

const HASHES: &[Op] = &[
    Cmd(&["HSET", "h", "a", "1", "b", "2"]),
    Cmd(&["HSET", "h", "a", "1"]),
    Cmd(&["HMSET", "h", "c", "3"]),
    Cmd(&["HSETNX", "h", "a", "x"]),
    Cmd(&["HSETNX", "h", "d", "4"]),
    Cmd(&["HINCRBY", "h", "a", "5"]),
    Cmd(&["HINCRBYFLOAT", "h", "f", "1.25"]),
    Cmd(&["HDEL", "h", "nope"]),
    Cmd(&["HDEL", "h", "a", "b"]),
    Cmd(&["HGET", "h", "c"]),
    Cmd(&["HLEN", "h"]),
    Cmd(&["HDEL", "h", "c", "d", "f"]),
    Cmd(&["EXISTS", "h"]),
    Cmd(&["HINCRBY", "h2", "n", "1"]),
];

const SETS: &[Op] = &[
    Cmd(&["SADD", "s", "a", "b", "c"]),
    Cmd(&["SADD", "s", "a"]),
    Cmd(&["SREM", "s", "nope"]),
    Cmd(&["SREM", "s", "a"]),
    Cmd(&["SADD", "t", "b", "x"]),
    Cmd(&["SMOVE", "s", "t", "c"]),
    Cmd(&["SMOVE", "s", "t", "nope"]),
    Cmd(&["SMOVE", "s", "t", "b"]),
    Cmd(&["SADD", "one", "only"]),
    Cmd(&["SPOP", "one"]),
    Cmd(&["SPOP", "nosuch"]),
    Cmd(&["SADD", "one", "only"]),
    Cmd(&["SPOP", "one", "5"]),
    Cmd(&["SADD", "u", "b", "y"]),
    Cmd(&["SINTERSTORE", "dst", "t", "u"]),
    Cmd(&["SUNIONSTORE", "dst", "t", "u"]),
    Cmd(&["SDIFFSTORE", "dst", "t", "u"]),
    Cmd(&["SINTERSTORE", "dst", "t", "nosuch"]),
    Cmd(&["SINTERSTORE", "dst", "t", "nosuch"]),
    Cmd(&["SINTERCARD", "2", "t", "u"]),
    Cmd(&["SISMEMBER", "t", "b"]),
    Cmd(&["SREM", "t", "b", "x", "c"]),
];

const ZSETS: &[Op] = &[
    Cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
    Cmd(&["ZADD", "z", "1", "a"]),
    Cmd(&["ZADD", "z", "5", "a"]),
    Cmd(&["ZADD", "z", "NX", "9", "a"]),
    Cmd(&["ZADD", "z", "INCR", "1", "a"]),
    Cmd(&["ZADD", "z", "XX", "INCR", "1", "nope"]),
    Cmd(&["ZINCRBY", "z", "2", "b"]),
    Cmd(&["ZREM", "z", "nope"]),
    Cmd(&["ZREM", "z", "c"]),
    Cmd(&["ZADD", "z", "0", "x", "0", "y", "0", "w"]),
    Cmd(&["ZREMRANGEBYSCORE", "z", "100", "200"]),
    Cmd(&["ZREMRANGEBYSCORE", "z", "4", "4"]),
    Cmd(&["ZREMRANGEBYRANK", "z", "0", "0"]),
    // Lex ranges need equal scores (Redis leaves mixed scores undefined).
    Cmd(&["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"]),
    Cmd(&["ZREMRANGEBYLEX", "lex", "[b", "(d"]),
    Cmd(&["ZREMRANGEBYLEX", "lex", "[x", "[y"]),
    Cmd(&["ZREMRANGEBYLEX", "lex", "-", "+"]),
    Cmd(&["ZADD", "z", "1", "p", "2", "q", "3", "r"]),
    Cmd(&["ZPOPMIN", "z"]),
    Cmd(&["ZPOPMAX", "z", "2"]),
    Cmd(&["BZPOPMIN", "z", "1"]),
    Cmd(&["BZPOPMAX", "nosuch", "z", "1"]),
    Cmd(&["ZMPOP", "1", "z", "MIN"]),
    Cmd(&["ZADD", "z1", "1", "a", "2", "b"]),
    Cmd(&["ZADD", "z2", "1", "b", "2", "c"]),
    Cmd(&["ZUNIONSTORE", "zd", "2", "z1", "z2"]),
    Cmd(&["ZINTERSTORE", "zd", "2", "z1", "z2"]),
    Cmd(&["ZDIFFSTORE", "zd", "2", "z1", "z2"]),
    Cmd(&["ZINTERSTORE", "zd", "2", "z1", "nosuch"]),
    Cmd(&["ZINTERSTORE", "zd", "2", "z1", "nosuch"]),
    Cmd(&["ZRANGESTORE", "zr", "z1", "0", "-1"]),
    Cmd(&["ZRANGESTORE", "zr", "z1", "5", "6"]),
    Cmd(&["ZMPOP", "2", "z1", "z2", "MAX", "COUNT", "5"]),
    Cmd(&["ZSCORE", "z2", "c"]),
    Block(&["BZPOPMIN", "zwait", "5"]),
    Cmd(&["ZADD", "zwait", "1", "m"]),
    BlockedReply,
    Block(&["BZPOPMAX", "zwait2", "5"]),
    Cmd(&["ZADD", "zwait2", "1", "m", "2", "n"]),
    BlockedReply,
    Block(&["BZMPOP", "5", "1", "zwait3", "MIN", "COUNT", "5"]),
    Cmd(&["ZADD", "zwait3", "1", "m", "2", "n"]),
    BlockedReply,
];

const STREAMS: &[Op] = &[
    Cmd(&["XADD", "x", "1-1", "f", "v"]),
    Cmd(&["XADD", "x", "2-1", "f", "v"]),
    Cmd(&["XADD", "x", "MAXLEN", "1", "3-1", "f", "v"]),
    Cmd(&["XADD", "x", "MAXLEN", "5", "4-1", "f", "v"]),
    Cmd(&["XADD", "nosuch", "NOMKSTREAM", "*", "f", "v"]),
    Cmd(&["XDEL", "x", "3-1", "9-9"]),
    Cmd(&["XDEL", "x", "9-9"]),
    Cmd(&["XADD", "x", "5-1", "f", "v"]),
    Cmd(&["XTRIM", "x", "MAXLEN", "100"]),
    Cmd(&["XTRIM", "x", "MAXLEN", "1"]),
    Cmd(&["XTRIM", "x", "MINID", "0"]),
    Cmd(&["XGROUP", "CREATE", "x", "g", "0"]),
    Cmd(&["XGROUP", "CREATE", "x", "g", "0"]),
    Cmd(&["XGROUP", "CREATE", "newstream", "g", "$", "MKSTREAM"]),
    Cmd(&["XGROUP", "SETID", "x", "g", "0"]),
    Cmd(&["XGROUP", "CREATECONSUMER", "x", "g", "alice"]),
    Cmd(&["XGROUP", "CREATECONSUMER", "x", "g", "alice"]),
    Cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "COUNT",
        "1",
        "STREAMS",
        "x",
        ">",
    ]),
    Cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "COUNT",
        "1",
        "STREAMS",
        "x",
        ">",
    ]),
    Cmd(&["XCLAIM", "x", "g", "alice", "0", "5-1"]),
    Cmd(&["XCLAIM", "x", "g", "alice", "0", "5-1", "JUSTID"]),
    Cmd(&["XAUTOCLAIM", "x", "g", "carol", "0", "0"]),
    Cmd(&["XACK", "x", "g", "5-1"]),
    Cmd(&["XGROUP", "DELCONSUMER", "x", "g", "alice"]),
    Cmd(&["XGROUP", "DELCONSUMER", "x", "g", "nobody"]),
    Cmd(&["XSETID", "x", "10-1"]),
    Cmd(&["XGROUP", "DESTROY", "x", "g"]),
    Cmd(&["XGROUP", "DESTROY", "x", "g"]),
    Cmd(&["XLEN", "x"]),
    Cmd(&["XRANGE", "x", "-", "+"]),
    Cmd(&["DEL", "x"]),
    Block(&["XREAD", "BLOCK", "5000", "STREAMS", "xwait", "$"]),
    Cmd(&["XADD", "xwait", "1-1", "f", "v"]),
    BlockedReply,
];

const HLL: &[Op] = &[
    Cmd(&["PFADD", "h1", "a", "b"]),
    Cmd(&["PFADD", "h1", "a"]),
    Cmd(&["PFADD", "h0"]),
    Cmd(&["PFADD", "h0"]),
    Cmd(&["PFCOUNT", "h1"]),
    Cmd(&["PFADD", "h2", "c"]),
    Cmd(&["PFCOUNT", "h1", "h2"]),
    Cmd(&["PFMERGE", "hd", "h1", "h2"]),
    Cmd(&["PFMERGE", "hd"]),
    Cmd(&["PFMERGE", "hnew"]),
];

const SORT_STORE: &[Op] = &[
    Cmd(&["RPUSH", "sl", "3", "1", "2"]),
    Cmd(&["SORT", "sl", "STORE", "sorted"]),
    Cmd(&["SORT", "nosuch", "STORE", "sorted"]),
    Cmd(&["SORT", "nosuch", "STORE", "sorted"]),
    Cmd(&["SORT", "sl"]),
    Cmd(&["SORT_RO", "sl"]),
];

const TRANSACTIONS: &[Op] = &[
    Raw(&["MULTI"]),
    Raw(&["SET", "tx1", "a"]),
    Raw(&["LPUSH", "tx2", "b"]),
    Raw(&["DEL", "tx1"]),
    Cmd(&["EXEC"]),
    Raw(&["MULTI"]),
    Raw(&["SET", "tx1", "a"]),
    Cmd(&["DISCARD"]),
];

#[test]
fn strings_kea() {
    assert_events(&[("KEA", STRINGS)]);
}

#[test]
fn bitmaps_kea() {
    assert_events(&[("KEA", BITMAPS)]);
}

#[test]
fn generic_and_expire_kea() {
    assert_events(&[("KEA", GENERIC)]);
}

#[test]
fn rename_copy_move_kea() {
    assert_events(&[("KEA", RENAME_COPY_MOVE)]);
}

#[test]
fn lists_kea() {
    assert_events(&[("KEA", LISTS)]);
}

#[test]
fn hashes_kea() {
    assert_events(&[("KEA", HASHES)]);
}

#[test]
fn sets_kea() {
    assert_events(&[("KEA", SETS)]);
}

#[test]
fn zsets_kea() {
    assert_events(&[("KEA", ZSETS)]);
}

#[test]
fn streams_kea() {
    assert_events(&[("KEA", STREAMS)]);
}

#[test]
fn hyperloglog_kea() {
    assert_events(&[("KEA", HLL)]);
}

#[test]
fn sort_store_and_transactions_kea() {
    assert_events(&[("KEA", SORT_STORE), ("KEA", TRANSACTIONS)]);
}

/// Every family under several flag combinations: only the selected classes and channels.
#[test]
fn flag_combinations_select_classes_and_channels() {
    let families: &[&[Op]] = &[
        STRINGS, BITMAPS, GENERIC, LISTS, HASHES, SETS, ZSETS, STREAMS, HLL,
    ];
    let all: Vec<Op> = families.iter().flat_map(|f| f.iter().copied()).collect();
    let runs: Vec<(&str, &[Op])> = ["Kx", "E$", "Klg", "Eshz", "Kt", "AE", "K", "E"]
        .iter()
        .map(|flags| (*flags, &all[..]))
        .collect();
    assert_events(&runs);
}

/// `n`: a `new` event when a key is created (Redis 7.0), not part of `A`.
#[test]
fn new_key_events_with_n_flag() {
    let ops: &[Op] = &[
        Cmd(&["SET", "a", "1"]),
        Cmd(&["SET", "a", "2"]),
        Cmd(&["LPUSH", "l", "x"]),
        Cmd(&["LPUSH", "l", "y"]),
        Cmd(&["HSET", "h", "f", "v"]),
        Cmd(&["SADD", "s", "m"]),
        Cmd(&["ZADD", "z", "1", "m"]),
        Cmd(&["XADD", "x", "1-1", "f", "v"]),
        Cmd(&["RENAME", "a", "b"]),
        Cmd(&["COPY", "b", "c"]),
        Cmd(&["SINTERSTORE", "d", "s", "s"]),
        Cmd(&["INCR", "n"]),
        Cmd(&["PFADD", "p", "x"]),
        Cmd(&["SETBIT", "bits", "1", "1"]),
    ];
    assert_events(&[("En", ops), ("KEAn", ops), ("Kn", ops)]);
}

/// `m`: `keymiss` events for reads of missing keys, not part of `A`.
#[test]
fn keymiss_events_with_m_flag() {
    let ops: &[Op] = &[
        Cmd(&["GET", "nosuch"]),
        Cmd(&["SET", "a", "1"]),
        Cmd(&["GET", "a"]),
        Cmd(&["MGET", "a", "nosuch", "nosuch2"]),
        Cmd(&["LRANGE", "nolist", "0", "-1"]),
        Cmd(&["HGET", "nohash", "f"]),
        Cmd(&["SMEMBERS", "noset"]),
        Cmd(&["ZSCORE", "nozset", "m"]),
        Cmd(&["EXISTS", "nosuch"]),
        Cmd(&["TYPE", "nosuch"]),
        Cmd(&["STRLEN", "nosuch"]),
        Cmd(&["XRANGE", "nostream", "-", "+"]),
    ];
    assert_events(&[("Em", ops), ("KEAm", ops)]);
}

/// Keys with a TTL that nobody reads: `expired` from active expiry, lazily on access, and the
/// events of a command that finds its key expired.
#[test]
fn expired_events_from_active_and_lazy_expiry() {
    // Each key expires during a sleep; whether active expiry (during the sleep) or the access
    // after it (lazy) deletes it, the event lands in the same group.
    let ops: &[Op] = &[
        Cmd(&["SET", "e1", "v", "PX", "100"]),
        Cmd(&["RPUSH", "e2", "a"]),
        Cmd(&["PEXPIRE", "e2", "100"]),
        Cmd(&["HSET", "e3", "f", "v"]),
        Cmd(&["PEXPIRE", "e3", "100"]),
        Sleep(350),
        Cmd(&["EXISTS", "e1"]),
        Cmd(&["LLEN", "e2"]),
        Cmd(&["HSET", "e3", "f", "v"]),
        Cmd(&["SET", "e4", "v", "PX", "100"]),
        Sleep(20),
        Cmd(&["SET", "e4", "w"]),
        Cmd(&["PTTL", "e4"]),
    ];
    assert_events(&[("KEA", ops), ("Ex", ops)]);
}

/// GEO commands: GEOADD is ZADD underneath (`zadd`, only when something changed), searches
/// that STORE fire `georadiusstore` / `geosearchstore`, or `del` when the result is empty and the
/// destination existed.
#[test]
fn geo_kea() {
    let ops: &[Op] = &[
        Cmd(&["GEOADD", "g", "13.361389", "38.115556", "Palermo"]),
        Cmd(&["GEOADD", "g", "15.087269", "37.502669", "Catania"]),
        Cmd(&["GEOADD", "g", "NX", "15", "37", "Catania"]),
        Cmd(&["GEOADD", "g", "XX", "15", "37", "Catania"]),
        Cmd(&["GEOADD", "g", "XX", "15", "37", "Catania"]),
        Cmd(&["GEOADD", "g", "XX", "1", "1", "Nowhere"]),
        Cmd(&["GEOADD", "g", "200", "0", "Bad"]),
        Cmd(&["GEOADD", "new", "CH", "1", "1", "a", "2", "2", "b"]),
        Cmd(&["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gr"]),
        Cmd(&["GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "gd"]),
        Cmd(&["GEORADIUS", "g", "15", "37", "200", "km"]),
        Cmd(&["GEORADIUS_RO", "g", "15", "37", "200", "km", "COUNT", "1"]),
        Cmd(&[
            "GEORADIUSBYMEMBER",
            "g",
            "Palermo",
            "500",
            "km",
            "STORE",
            "gr2",
        ]),
        Cmd(&[
            "GEOSEARCHSTORE",
            "gs",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ]),
        Cmd(&[
            "GEOSEARCHSTORE",
            "gs",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "400",
            "400",
            "km",
            "STOREDIST",
        ]),
        Cmd(&[
            "GEOSEARCHSTORE",
            "gs",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ]),
        Cmd(&[
            "GEOSEARCHSTORE",
            "gs",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ]),
        Cmd(&["GEORADIUS", "nokey", "0", "0", "1", "km", "STORE", "gr"]),
        Cmd(&["GEORADIUS", "nokey", "0", "0", "1", "km", "STORE", "gr"]),
        Cmd(&[
            "GEOSEARCHSTORE",
            "gd",
            "nokey",
            "FROMMEMBER",
            "x",
            "BYRADIUS",
            "1",
            "km",
        ]),
        Cmd(&["GEOPOS", "g", "Palermo"]),
        Cmd(&["GEODIST", "g", "Palermo", "Catania"]),
        Cmd(&["GEOHASH", "missing", "Palermo"]),
        Cmd(&["ZREM", "g", "Palermo"]),
    ];
    assert_events(&[("KEA", ops), ("Kz", ops), ("Eg", ops), ("Km", ops)]);
}

/// DUMP then RESTORE (with REPLACE, with TTL), comparing events; the payload comes from Redis.
#[test]
fn restore_kea() {
    let (redis, ember) = transcript::start_pair(&[]);
    let mut r = redis.connect();
    r.command(&["SET", "src", "hello"]).expect("SET");
    let dump = r.command(&["DUMP", "src"]).expect("DUMP");
    let payload = string_value(&dump)
        .unwrap_or_else(|| panic!("DUMP replied {}", escape(&dump)))
        .to_vec();
    let mut s = Script::new(3);
    s.cmd(SUB, &["PSUBSCRIBE", PATTERN]);
    s.cmd(W, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    for (marker, args) in [
        vec![&b"RESTORE"[..], b"rk", b"0", &payload],
        vec![&b"RESTORE"[..], b"rk", b"0", &payload, b"REPLACE"],
        vec![&b"RESTORE"[..], b"rk2", b"100000", &payload],
        vec![&b"RESTORE"[..], b"rk", b"0", &payload],
    ]
    .into_iter()
    .enumerate()
    {
        s.cmd_bytes(
            W,
            args.iter().map(|a| a.to_vec()).collect(),
            1,
            Order::Exact,
        );
        let channel = format!("__keymark__:{marker}");
        s.cmd(W, &["PUBLISH", &channel, &marker.to_string()]);
        s.recv_until_labeled(
            SUB,
            marker_frame(marker),
            format!("events of RESTORE #{marker}"),
            Order::Exact,
        );
    }
    let (a, b) = transcript::run_both(&s, &redis, &ember);
    if let Err(report) = transcript::compare_with(&a, &b, &render) {
        panic!("RESTORE: {report}");
    }
}

/// RESP3: the client that writes a key it is subscribed to gets the notification as a push
/// frame, before the command's reply (Redis emits it while the command runs).
#[test]
fn resp3_client_notified_of_its_own_write_before_the_reply() {
    let mut s = Script::new(1);
    s.hello3(0)
        .cmd(0, &["CONFIG", "SET", "notify-keyspace-events", "KA"])
        .cmd(0, &["SUBSCRIBE", "__keyspace@0__:k"])
        .cmd_n(0, &["SET", "k", "v"], 2)
        .cmd_n(0, &["DEL", "k"], 2)
        .cmd(0, &["DEL", "k"])
        .cmd_n(0, &["LPUSH", "k", "a"], 2)
        .quiet(0);
    transcript::assert_same(&s);
}

/// The brief's hold-expiry case: a subscriber to `__keyevent@0__:expired` learns of
/// `SET hold:x 1 PX 100` within a few hundred ms although nobody reads the key.
#[test]
fn hold_expiry_notifies_subscriber_without_any_read() {
    let (redis, ember) = transcript::start_pair(&[]);
    let mut failures = Vec::new();
    let mut frames = Vec::new();
    for server in [&redis, &ember] {
        let name = server.kind().name();
        let mut admin = server.connect();
        let mut sub = server.connect();
        admin
            .command(&["CONFIG", "SET", "notify-keyspace-events", "Ex"])
            .expect("CONFIG SET");
        sub.command(&["SUBSCRIBE", "__keyevent@0__:expired"])
            .expect("SUBSCRIBE");
        sub.set_timeout(Duration::from_millis(1500));
        let set_at = Instant::now();
        admin
            .command(&["SET", "hold:x", "1", "PX", "100"])
            .expect("SET");
        match sub.read_reply() {
            Ok(frame) => {
                let after = set_at.elapsed();
                if after < Duration::from_millis(90) || after > Duration::from_millis(700) {
                    failures.push(format!(
                        "{name}: the expired event came {after:?} after SET ... PX 100"
                    ));
                }
                frames.push(frame);
            }
            Err(e) => failures.push(format!(
                "{name}: no expired event within 1.5 s of SET hold:x 1 PX 100: {e}"
            )),
        }
    }
    if let [r, e] = &frames[..] {
        if r != e {
            failures.push(format!(
                "frames differ: redis {} ember {}",
                escape(r),
                escape(e)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
