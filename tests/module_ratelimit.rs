//! The bundled `ratelimit` module against the real `ember-server`, which loads it at start-up:
//! `CL.THROTTLE` answers exactly what redis-cell answers (a burst, refusals with retry times,
//! refill after waiting, peeks, argument errors), keeps its state where redis-cell does (a
//! string key of unix nanoseconds with a TTL), and behaves like a built-in command (MODULE
//! LIST, COMMAND INFO, MULTI/EXEC). `RL.TOKENBUCKET` and `RL.SLIDING` are checked the same way.
//!
//! The server's clock is real, so sequences are chosen so that the few milliseconds between
//! commands cannot change a reply (redis-cell rounds times up to whole seconds); waits are
//! short and the whole file runs in a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::{escape, integer_value, split_aggregate, string_value, Protocol};
use common::{RespConn, ServerProcess};
use std::time::{Duration, Instant};

fn cmd(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The integers of an array reply.
fn ints(c: &mut RespConn, args: &[&str]) -> Vec<i64> {
    let reply = cmd(c, args);
    let Some((b'*', items)) = split_aggregate(&reply, Protocol::Resp2) else {
        panic!("{args:?} replied {}, not an array", escape(&reply));
    };
    items
        .iter()
        .map(|i| {
            integer_value(i)
                .unwrap_or_else(|| panic!("{args:?} replied {}: not all integers", escape(&reply)))
        })
        .collect()
}

fn int(c: &mut RespConn, args: &[&str]) -> i64 {
    let reply = cmd(c, args);
    integer_value(&reply).unwrap_or_else(|| panic!("{args:?} replied {}", escape(&reply)))
}

fn assert_error(c: &mut RespConn, args: &[&str], text: &str) {
    let reply = cmd(c, args);
    assert_eq!(
        escape(&reply),
        escape(format!("-{text}\r\n").as_bytes()),
        "reply to {args:?}"
    );
}

#[test]
fn module_is_loaded_and_its_commands_are_described() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    let list = cmd(&mut c, &["MODULE", "LIST"]);
    assert!(
        escape(&list).contains("ratelimit"),
        "MODULE LIST: {}",
        escape(&list)
    );
    // COMMAND INFO: name, arity, flags, first key, last key, step, as for a built-in.
    for (name, arity, flags) in [
        ("cl.throttle", -1, ["write", "denyoom"]),
        ("rl.tokenbucket", -4, ["write", "denyoom"]),
        ("rl.sliding", -4, ["write", "denyoom"]),
    ] {
        let info = cmd(&mut c, &["COMMAND", "INFO", name]);
        let (_, outer) = split_aggregate(&info, Protocol::Resp2)
            .unwrap_or_else(|| panic!("COMMAND INFO {name}: {}", escape(&info)));
        let (_, fields) = split_aggregate(outer[0], Protocol::Resp2)
            .unwrap_or_else(|| panic!("COMMAND INFO {name}: {}", escape(&info)));
        assert_eq!(string_value(fields[0]), Some(name.as_bytes()));
        assert_eq!(integer_value(fields[1]), Some(arity), "{name} arity");
        let flag_list = escape(fields[2]);
        for f in flags {
            assert!(flag_list.contains(f), "{name} flags {flag_list} lack {f}");
        }
        assert_eq!(
            [fields[3], fields[4], fields[5]].map(integer_value),
            [Some(1), Some(1), Some(1)],
            "{name} key positions"
        );
    }
}

#[test]
fn throttle_burst_refusal_and_refill() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    // 3 requests (max_burst 2 + 1), then one per second.
    let throttle = ["CL.THROTTLE", "user123", "2", "1", "1"];
    let start = Instant::now();
    assert_eq!(ints(&mut c, &throttle), [0, 3, 2, -1, 1]);
    assert_eq!(ints(&mut c, &throttle), [0, 3, 1, -1, 2]);
    assert_eq!(ints(&mut c, &throttle), [0, 3, 0, -1, 3]);
    assert_eq!(ints(&mut c, &throttle), [1, 3, 0, 1, 3]);
    assert_eq!(ints(&mut c, &throttle), [1, 3, 0, 1, 3]);
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "the burst took too long for exact replies"
    );

    // redis-cell's state: a plain string holding the TAT in unix nanoseconds, expiring when the
    // bucket is full again.
    assert_eq!(cmd(&mut c, &["TYPE", "user123"]), b"+string\r\n");
    let tat = cmd(&mut c, &["GET", "user123"]);
    let tat: u64 = std::str::from_utf8(string_value(&tat).expect("a bulk TAT"))
        .unwrap()
        .parse()
        .expect("TAT is an integer");
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let ahead = tat.saturating_sub(now_ns);
    assert!(
        (2_000_000_000..=3_000_000_000).contains(&ahead),
        "TAT {tat} should be 2-3 s ahead of now, is {ahead} ns"
    );
    let pttl = int(&mut c, &["PTTL", "user123"]);
    assert!((2_000..=3_000).contains(&pttl), "PTTL {pttl}");

    // One token comes back each second.
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(ints(&mut c, &throttle), [0, 3, 0, -1, 3]);
    assert_eq!(ints(&mut c, &throttle), [1, 3, 0, 1, 3]);

    // Users can reset a limit by deleting its key.
    assert_eq!(int(&mut c, &["DEL", "user123"]), 1);
    assert_eq!(ints(&mut c, &throttle), [0, 3, 2, -1, 1]);
}

#[test]
fn throttle_redis_cell_examples() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    // redis-cell's README example.
    assert_eq!(
        ints(&mut c, &["CL.THROTTLE", "user123", "15", "30", "60"]),
        [0, 16, 15, -1, 2]
    );
    // A quantity takes several tokens at once.
    assert_eq!(
        ints(&mut c, &["CL.THROTTLE", "user123", "15", "30", "60", "5"]),
        [0, 16, 10, -1, 12]
    );
    // Quantity 0 peeks without taking anything.
    assert_eq!(
        ints(&mut c, &["CL.THROTTLE", "user123", "15", "30", "60", "0"]),
        [0, 16, 10, -1, 12]
    );
    // More than the whole bucket: refused, and retry_after stays -1 (it can never pass).
    assert_eq!(
        ints(&mut c, &["CL.THROTTLE", "user123", "15", "30", "60", "17"]),
        [1, 16, 10, -1, 12]
    );
    // A peek on a missing key creates nothing.
    assert_eq!(
        ints(&mut c, &["CL.THROTTLE", "fresh", "4", "1", "1", "0"]),
        [0, 5, 5, -1, 0]
    );
    assert_eq!(int(&mut c, &["EXISTS", "fresh"]), 0);

    // redis-cell's end-to-end test: burst 0, 1 token per 2 s.
    let slow = ["CL.THROTTLE", "e2e", "0", "1", "2", "1"];
    assert_eq!(ints(&mut c, &slow), [0, 1, 0, -1, 2]);
    assert_eq!(ints(&mut c, &slow), [1, 1, 0, 2, 2]);
}

#[test]
fn throttle_in_a_transaction_and_a_pipeline() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    assert_eq!(cmd(&mut c, &["MULTI"]), b"+OK\r\n");
    for _ in 0..2 {
        assert_eq!(
            cmd(&mut c, &["CL.THROTTLE", "tx", "1", "1", "60"]),
            b"+QUEUED\r\n"
        );
    }
    let exec = cmd(&mut c, &["EXEC"]);
    assert_eq!(
        escape(&exec),
        escape(
            b"*2\r\n*5\r\n:0\r\n:2\r\n:1\r\n:-1\r\n:60\r\n*5\r\n:0\r\n:2\r\n:0\r\n:-1\r\n:120\r\n"
        )
    );
    let mut pipeline = Vec::new();
    for _ in 0..3 {
        pipeline.extend(common::encode_command(&[
            "CL.THROTTLE",
            "p",
            "1",
            "1",
            "60",
        ]));
    }
    c.send_raw(&pipeline).unwrap();
    let replies: Vec<Vec<u8>> = (0..3).map(|_| c.read_reply().unwrap()).collect();
    assert_eq!(
        escape(&replies[0]),
        escape(b"*5\r\n:0\r\n:2\r\n:1\r\n:-1\r\n:60\r\n")
    );
    assert_eq!(
        escape(&replies[1]),
        escape(b"*5\r\n:0\r\n:2\r\n:0\r\n:-1\r\n:120\r\n")
    );
    assert_eq!(
        escape(&replies[2]),
        escape(b"*5\r\n:1\r\n:2\r\n:0\r\n:60\r\n:120\r\n")
    );
}

#[test]
fn throttle_argument_errors_are_redis_cells() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    let usage = "Cell error: Store error: Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]";
    assert_error(&mut c, &["CL.THROTTLE", "k", "1", "2"], usage);
    assert_error(
        &mut c,
        &["CL.THROTTLE", "k", "1", "2", "3", "4", "5"],
        usage,
    );
    assert_error(
        &mut c,
        &["CL.THROTTLE", "k", "ten", "2", "3"],
        "Cell error: Store error: Couldn't parse as integer: ten",
    );
    assert_error(
        &mut c,
        &["CL.THROTTLE", "k", "1", "2", "3", "0.5"],
        "Cell error: Store error: Couldn't parse as integer: 0.5",
    );
    assert_error(
        &mut c,
        &["CL.THROTTLE", "k", "1", "0", "60"],
        "Cell error: Store error: Zero rates are not supported",
    );
    assert_error(
        &mut c,
        &["CL.THROTTLE", "k", "1", "10", "0"],
        "Cell error: Store error: Zero rates are not supported",
    );
    assert_eq!(int(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(int(&mut c, &["HSET", "h", "f", "v"]), 1);
    assert_error(
        &mut c,
        &["CL.THROTTLE", "h", "1", "1", "1"],
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
    // The connection is still fine.
    assert_eq!(cmd(&mut c, &["PING"]), b"+PONG\r\n");
}

#[test]
fn throttle_with_no_arguments_is_a_usage_error() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    assert_error(
        &mut c,
        &["CL.THROTTLE"],
        "Cell error: Store error: Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]",
    );
}

#[test]
fn token_bucket_takes_refuses_and_refills() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    let take = ["RL.TOKENBUCKET", "tb", "3", "2"]; // 3 tokens, 2 per second
    assert_eq!(ints(&mut c, &take), [1, 2, -1]);
    assert_eq!(ints(&mut c, &take), [1, 1, -1]);
    assert_eq!(ints(&mut c, &take), [1, 0, -1]);
    let refused = ints(&mut c, &take);
    assert_eq!(refused[..2], [0, 0]);
    let retry = refused[2];
    assert!((1..=500).contains(&retry), "retry_after_ms {retry}");
    assert_eq!(cmd(&mut c, &["TYPE", "tb"]), b"+hash\r\n");
    let pttl = int(&mut c, &["PTTL", "tb"]);
    assert!((1..=1_500).contains(&pttl), "PTTL {pttl}");
    std::thread::sleep(Duration::from_millis(retry as u64 + 20));
    let after = ints(&mut c, &take);
    assert_eq!(
        (after[0], after[2]),
        (1, -1),
        "allowed after the wait: {after:?}"
    );
    // Asking for more than the capacity can never succeed.
    assert_eq!(
        ints(&mut c, &["RL.TOKENBUCKET", "big", "3", "2", "4"]),
        [0, 3, -1]
    );
    // Zero tokens peeks.
    assert_eq!(
        ints(&mut c, &["RL.TOKENBUCKET", "peek", "3", "2", "0"]),
        [1, 3, -1]
    );
    assert_eq!(int(&mut c, &["EXISTS", "peek"]), 0);

    assert_error(
        &mut c,
        &["RL.TOKENBUCKET", "tb", "0", "1"],
        "ERR capacity must be between 1 and 9007199254740992",
    );
    assert_error(
        &mut c,
        &["RL.TOKENBUCKET", "tb", "3", "-1"],
        "ERR refill rate must be a positive number",
    );
    assert_error(
        &mut c,
        &["RL.TOKENBUCKET", "tb", "3", "x"],
        "ERR value is not a valid float",
    );
    assert_error(
        &mut c,
        &["RL.TOKENBUCKET", "tb", "3", "1", "1", "extra"],
        "ERR syntax error",
    );
    assert_error(
        &mut c,
        &["RL.TOKENBUCKET", "tb", "3"],
        "ERR wrong number of arguments for 'rl.tokenbucket' command",
    );
}

#[test]
fn sliding_window_admits_refuses_and_slides() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    let hit = ["RL.SLIDING", "sw", "3", "1000"]; // 3 per rolling second
    assert_eq!(ints(&mut c, &hit), [1, 1, -1]);
    assert_eq!(ints(&mut c, &hit), [1, 2, -1]);
    assert_eq!(ints(&mut c, &hit), [1, 3, -1]);
    let refused = ints(&mut c, &hit);
    assert_eq!(refused[..2], [0, 3]);
    let retry = refused[2];
    assert!((1..=1_000).contains(&retry), "retry_after_ms {retry}");
    assert_eq!(cmd(&mut c, &["TYPE", "sw"]), b"+zset\r\n");
    assert_eq!(int(&mut c, &["ZCARD", "sw"]), 3);
    std::thread::sleep(Duration::from_millis(retry as u64 + 20));
    let after = ints(&mut c, &hit);
    assert_eq!(
        after[0], 1,
        "admitted once the oldest entry left: {after:?}"
    );
    // Cost above the limit, and a peek.
    assert_eq!(
        ints(&mut c, &["RL.SLIDING", "sw2", "3", "1000", "4"]),
        [0, 0, -1]
    );
    assert_eq!(
        ints(&mut c, &["RL.SLIDING", "sw2", "3", "1000", "0"]),
        [1, 0, -1]
    );

    assert_error(
        &mut c,
        &["RL.SLIDING", "sw", "0", "1000"],
        "ERR limit must be a positive integer",
    );
    assert_error(
        &mut c,
        &["RL.SLIDING", "sw", "3", "0"],
        "ERR window must be a positive number of milliseconds",
    );
    assert_eq!(cmd(&mut c, &["SET", "s", "v"]), b"+OK\r\n");
    assert_error(
        &mut c,
        &["RL.SLIDING", "s", "3", "1000"],
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
}

/// Many clients on one key: exactly `max_burst + 1` requests are allowed in a burst, however
/// the requests interleave.
#[test]
fn concurrent_throttle_allows_exactly_the_burst() {
    let server = ServerProcess::start_ember(&[]);
    let addr = server.addr();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = RespConn::connect(addr).expect("connect");
                let mut allowed = 0;
                for _ in 0..25 {
                    // 50 allowed per hour: none refill during the test.
                    let r = ints(&mut c, &["CL.THROTTLE", "shared", "49", "50", "3600"]);
                    if r[0] == 0 {
                        allowed += 1;
                    }
                }
                allowed
            })
        })
        .collect();
    let allowed: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(allowed, 50);
}
