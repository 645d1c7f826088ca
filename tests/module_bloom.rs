//! The bundled Bloom filter module (modules/bloom) in the real `ember-server`, which loads it at
//! start-up: every `BF.*` command with the exact reply bytes and error texts RedisBloom 2.8
//! sends a RESP2 client, WRONGTYPE in both directions, `TYPE` = `MBbloom--`, scaling, the
//! `BF.SCANDUMP`/`BF.LOADCHUNK` round trip into another key, generic key commands on filters
//! (DEL, EXPIRE, RENAME, COPY), MULTI/EXEC, and a measured false-positive rate over 1M items.
//!
//! Every test starts its own server and bounds every loop and read (see `common`).

#[path = "common/mod.rs"]
mod common;

use common::{
    escape, integer_value, split_aggregate, string_value, Protocol, RespConn, ServerProcess,
};
use std::time::{Duration, Instant};

fn server() -> (ServerProcess, RespConn) {
    let server = ServerProcess::start_ember(&[]);
    let conn = server.connect();
    (server, conn)
}

/// Sends one command and returns the raw reply.
fn send<A: AsRef<[u8]>>(c: &mut RespConn, args: &[A]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| {
        let shown: Vec<String> = args.iter().map(|a| escape(a.as_ref())).collect();
        panic!("{}: {e}", shown.join(" "))
    })
}

/// Asserts the exact reply bytes of one command.
#[track_caller]
fn expect(c: &mut RespConn, args: &[&str], reply: &str) {
    let got = send(c, args);
    assert_eq!(
        got,
        reply.as_bytes(),
        "{args:?}: got {} want {}",
        escape(&got),
        escape(reply.as_bytes())
    );
}

fn int(c: &mut RespConn, args: &[&str]) -> i64 {
    let got = send(c, args);
    integer_value(&got).unwrap_or_else(|| panic!("{args:?}: not an integer: {}", escape(&got)))
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn add_exists_card() {
    let (_s, mut c) = server();
    expect(&mut c, &["BF.ADD", "bf", "item1"], ":1\r\n");
    expect(&mut c, &["BF.ADD", "bf", "item1"], ":0\r\n");
    expect(&mut c, &["BF.EXISTS", "bf", "item1"], ":1\r\n");
    expect(&mut c, &["BF.EXISTS", "bf", "item2"], ":0\r\n");
    expect(&mut c, &["BF.EXISTS", "missing", "item1"], ":0\r\n");
    expect(
        &mut c,
        &["BF.MADD", "bf", "a", "item1", "b"],
        "*3\r\n:1\r\n:0\r\n:1\r\n",
    );
    expect(
        &mut c,
        &["BF.MEXISTS", "bf", "a", "zzz", "b"],
        "*3\r\n:1\r\n:0\r\n:1\r\n",
    );
    expect(&mut c, &["BF.MEXISTS", "missing", "a"], "*1\r\n:0\r\n");
    expect(&mut c, &["BF.CARD", "bf"], ":3\r\n");
    expect(&mut c, &["BF.CARD", "missing"], ":0\r\n");
    // Binary items and an empty item.
    expect(&mut c, &["BF.ADD", "bf", "\x00\u{7f}\r\n"], ":1\r\n");
    expect(&mut c, &["BF.EXISTS", "bf", "\x00\u{7f}\r\n"], ":1\r\n");
    expect(&mut c, &["BF.ADD", "bf", ""], ":1\r\n");
    expect(&mut c, &["BF.EXISTS", "bf", ""], ":1\r\n");
}

#[test]
fn reserve_and_its_errors() {
    let (_s, mut c) = server();
    expect(&mut c, &["BF.RESERVE", "r", "0.001", "1000"], "+OK\r\n");
    expect(
        &mut c,
        &["BF.RESERVE", "r", "0.001", "1000"],
        "-ERR item exists\r\n",
    );
    expect(
        &mut c,
        &["BF.RESERVE", "e", "0.01", "10", "EXPANSION", "4"],
        "+OK\r\n",
    );
    expect(
        &mut c,
        &["BF.RESERVE", "n", "0.01", "10", "NONSCALING"],
        "+OK\r\n",
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["BF.RESERVE", "k", "abc", "100"],
            "-ERR bad error rate\r\n",
        ),
        (
            &["BF.RESERVE", "k", "1", "100"],
            "-ERR (0 < error rate range < 1) \r\n",
        ),
        (
            &["BF.RESERVE", "k", "0", "100"],
            "-ERR (0 < error rate range < 1) \r\n",
        ),
        (&["BF.RESERVE", "k", "0.01", "abc"], "-ERR bad capacity\r\n"),
        (
            &["BF.RESERVE", "k", "0.01", "0"],
            "-ERR (capacity should be larger than 0)\r\n",
        ),
        (
            &["BF.RESERVE", "k", "0.01", "100", "EXPANSION"],
            "-ERR no expansion\r\n",
        ),
        (
            &[
                "BF.RESERVE",
                "k",
                "0.01",
                "100",
                "EXPANSION",
                "2",
                "NONSCALING",
            ],
            "-Nonscaling filters cannot expand\r\n",
        ),
        (
            &["BF.RESERVE", "k", "0.01", "100", "EXPANSION", "x"],
            "-ERR bad expansion\r\n",
        ),
        (
            &["BF.RESERVE", "k", "0.01", "100", "EXPANSION", "0"],
            "-ERR expansion should be greater or equal to 1\r\n",
        ),
        (
            &["BF.RESERVE", "k", "0.01", "1000000000000000"],
            "-ERR Insufficient memory to create filter\r\n",
        ),
        (
            &["bf.reserve", "k", "0.01"],
            "-ERR wrong number of arguments for 'bf.reserve' command\r\n",
        ),
        (
            &["bf.reserve", "k", "0.01", "1", "2", "3", "4", "5"],
            "-ERR wrong number of arguments for 'bf.reserve' command\r\n",
        ),
    ];
    for (args, reply) in cases {
        expect(&mut c, args, reply);
    }
    expect(&mut c, &["EXISTS", "k"], ":0\r\n");
}

#[test]
fn insert_and_its_errors() {
    let (_s, mut c) = server();
    expect(
        &mut c,
        &[
            "BF.INSERT",
            "i",
            "CAPACITY",
            "1000",
            "ERROR",
            "0.001",
            "EXPANSION",
            "3",
            "ITEMS",
            "a",
            "b",
            "a",
        ],
        "*3\r\n:1\r\n:1\r\n:0\r\n",
    );
    expect(&mut c, &["BF.INFO", "i", "CAPACITY"], "*1\r\n:1000\r\n");
    expect(&mut c, &["BF.INFO", "i", "EXPANSION"], "*1\r\n:3\r\n");
    expect(
        &mut c,
        &["BF.INSERT", "i", "NOCREATE", "ITEMS", "c"],
        "*1\r\n:1\r\n",
    );
    expect(
        &mut c,
        &["BF.INSERT", "none", "NOCREATE", "ITEMS", "a"],
        "-ERR not found\r\n",
    );
    expect(&mut c, &["EXISTS", "none"], ":0\r\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["BF.INSERT", "k", "ERROR", "x", "ITEMS", "a"],
            "-Bad error rate\r\n",
        ),
        (
            &["BF.INSERT", "k", "CAPACITY", "x", "ITEMS", "a"],
            "-Bad capacity\r\n",
        ),
        (
            &["BF.INSERT", "k", "EXPANSION", "x", "ITEMS", "a"],
            "-Bad expansion\r\n",
        ),
        (
            &["BF.INSERT", "k", "FOO", "ITEMS", "a"],
            "-Unknown argument received\r\n",
        ),
        (
            &["BF.INSERT", "k", "ERROR", "2", "ITEMS", "a"],
            "-Bad argument received\r\n",
        ),
        (
            &["BF.INSERT", "k", "CAPACITY", "0", "ITEMS", "a"],
            "-Bad argument received\r\n",
        ),
        (
            &["bf.insert", "k", "CAPACITY", "10", "ITEMS"],
            "-ERR wrong number of arguments for 'bf.insert' command\r\n",
        ),
    ];
    for (args, reply) in cases {
        expect(&mut c, args, reply);
    }
    expect(&mut c, &["EXISTS", "k"], ":0\r\n");
}

#[test]
fn nonscaling_filter_fills_up() {
    let (_s, mut c) = server();
    expect(
        &mut c,
        &["BF.RESERVE", "n", "0.01", "3", "NONSCALING"],
        "+OK\r\n",
    );
    expect(
        &mut c,
        &["BF.MADD", "n", "a", "b", "c", "d", "e"],
        "*4\r\n:1\r\n:1\r\n:1\r\n-ERR non scaling filter is full\r\n",
    );
    expect(
        &mut c,
        &["BF.ADD", "n", "f"],
        "-ERR non scaling filter is full\r\n",
    );
    expect(&mut c, &["BF.ADD", "n", "a"], ":0\r\n");
    expect(&mut c, &["BF.CARD", "n"], ":3\r\n");
    expect(&mut c, &["BF.INFO", "n", "EXPANSION"], "*1\r\n$-1\r\n");
}

#[test]
fn info() {
    let (_s, mut c) = server();
    expect(&mut c, &["BF.INFO", "missing"], "-ERR not found\r\n");
    expect(&mut c, &["BF.ADD", "f", "x"], ":1\r\n");
    expect(
        &mut c,
        &["BF.INFO", "f"],
        "*10\r\n+Capacity\r\n:100\r\n+Size\r\n:240\r\n+Number of filters\r\n:1\r\n\
         +Number of items inserted\r\n:1\r\n+Expansion rate\r\n:2\r\n",
    );
    expect(&mut c, &["BF.INFO", "f", "capacity"], "*1\r\n:100\r\n");
    expect(&mut c, &["BF.INFO", "f", "SIZE"], "*1\r\n:240\r\n");
    expect(&mut c, &["BF.INFO", "f", "Filters"], "*1\r\n:1\r\n");
    expect(&mut c, &["BF.INFO", "f", "items"], "*1\r\n:1\r\n");
    expect(&mut c, &["BF.INFO", "f", "expansion"], "*1\r\n:2\r\n");
    expect(
        &mut c,
        &["BF.INFO", "f", "bogus"],
        "-Invalid information value\r\n",
    );
    expect(
        &mut c,
        &["bf.info", "f", "capacity", "x"],
        "-ERR wrong number of arguments for 'bf.info' command\r\n",
    );
    // RESP3 clients get the full BF.INFO as a map.
    c.send(&["HELLO", "3"]).expect("send");
    c.set_protocol(Protocol::Resp3);
    c.read_reply().expect("HELLO reply");
    expect(
        &mut c,
        &["BF.INFO", "f"],
        "%5\r\n+Capacity\r\n:100\r\n+Size\r\n:240\r\n+Number of filters\r\n:1\r\n\
         +Number of items inserted\r\n:1\r\n+Expansion rate\r\n:2\r\n",
    );
}

#[test]
fn debug() {
    let (_s, mut c) = server();
    expect(&mut c, &["BF.RESERVE", "d", "0.01", "2"], "+OK\r\n");
    send(&mut c, &["BF.MADD", "d", "a", "b", "c"]);
    expect(
        &mut c,
        &["BF.DEBUG", "d"],
        "*3\r\n$6\r\nsize:3\r\n\
         $67\r\nbytes:8 bits:64 hashes:8 hashwidth:64 capacity:2 size:2 ratio:0.005\r\n\
         $68\r\nbytes:8 bits:64 hashes:9 hashwidth:64 capacity:4 size:1 ratio:0.0025\r\n",
    );
}

#[test]
fn wrong_type_both_ways() {
    let (_s, mut c) = server();
    expect(&mut c, &["SET", "s", "v"], "+OK\r\n");
    for args in [
        &["BF.ADD", "s", "x"][..],
        &["BF.MADD", "s", "x"],
        &["BF.INSERT", "s", "ITEMS", "x"],
        &["BF.RESERVE", "s", "0.01", "100"],
        &["BF.INFO", "s"],
        &["BF.CARD", "s"],
        &["BF.SCANDUMP", "s", "0"],
        &["BF.LOADCHUNK", "s", "1", "x"],
    ] {
        expect(&mut c, args, WRONGTYPE);
    }
    // RedisBloom answers "not there" when checking a key of another type.
    expect(&mut c, &["BF.EXISTS", "s", "x"], ":0\r\n");
    expect(&mut c, &["BF.MEXISTS", "s", "x"], "*1\r\n:0\r\n");
    expect(&mut c, &["GET", "s"], "$1\r\nv\r\n");

    expect(&mut c, &["BF.ADD", "f", "x"], ":1\r\n");
    expect(&mut c, &["TYPE", "f"], "+MBbloom--\r\n");
    expect(&mut c, &["GET", "f"], WRONGTYPE);
    expect(&mut c, &["LPUSH", "f", "x"], WRONGTYPE);
    expect(&mut c, &["SADD", "f", "x"], WRONGTYPE);
    expect(&mut c, &["BF.EXISTS", "f", "x"], ":1\r\n");
}

#[test]
fn filters_are_ordinary_keys() {
    let (_s, mut c) = server();
    expect(&mut c, &["BF.MADD", "f", "a", "b"], "*2\r\n:1\r\n:1\r\n");
    expect(&mut c, &["EXISTS", "f"], ":1\r\n");
    expect(&mut c, &["RENAME", "f", "g"], "+OK\r\n");
    expect(&mut c, &["BF.EXISTS", "g", "a"], ":1\r\n");
    expect(&mut c, &["BF.EXISTS", "f", "a"], ":0\r\n");
    expect(&mut c, &["COPY", "g", "h"], ":1\r\n");
    expect(&mut c, &["BF.ADD", "h", "c"], ":1\r\n");
    expect(&mut c, &["BF.EXISTS", "g", "c"], ":0\r\n");
    expect(&mut c, &["BF.CARD", "h"], ":3\r\n");
    expect(&mut c, &["DEL", "h"], ":1\r\n");
    expect(&mut c, &["BF.CARD", "h"], ":0\r\n");
    expect(&mut c, &["BF.INFO", "h"], "-ERR not found\r\n");
    // Expiry: a TTL is kept across BF.ADD, and the filter goes when it runs out.
    expect(&mut c, &["EXPIRE", "g", "100"], ":1\r\n");
    expect(&mut c, &["BF.ADD", "g", "d"], ":1\r\n");
    let ttl = int(&mut c, &["TTL", "g"]);
    assert!((1..=100).contains(&ttl), "TTL {ttl}");
    expect(&mut c, &["PEXPIRE", "g", "50"], ":1\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while int(&mut c, &["EXISTS", "g"]) == 1 {
        assert!(Instant::now() < deadline, "the filter did not expire");
        std::thread::sleep(Duration::from_millis(10));
    }
    expect(&mut c, &["BF.EXISTS", "g", "a"], ":0\r\n");
    expect(&mut c, &["BF.ADD", "g", "a"], ":1\r\n");
    expect(&mut c, &["TTL", "g"], ":-1\r\n");
    expect(&mut c, &["FLUSHALL"], "+OK\r\n");
    expect(&mut c, &["BF.CARD", "g"], ":0\r\n");
}

#[test]
fn multi_exec_and_pipelining() {
    let (_s, mut c) = server();
    expect(&mut c, &["MULTI"], "+OK\r\n");
    expect(&mut c, &["BF.ADD", "m", "x"], "+QUEUED\r\n");
    expect(&mut c, &["BF.EXISTS", "m", "x"], "+QUEUED\r\n");
    expect(&mut c, &["BF.CARD", "m"], "+QUEUED\r\n");
    expect(&mut c, &["EXEC"], "*3\r\n:1\r\n:1\r\n:1\r\n");
    for i in 0..100 {
        c.send(&["BF.ADD", "p", &format!("i{i}")]).expect("send");
    }
    for _ in 0..100 {
        let reply = c.read_reply().expect("reply");
        assert!(
            reply == b":1\r\n" || reply == b":0\r\n",
            "{}",
            escape(&reply)
        );
    }
    let card = int(&mut c, &["BF.CARD", "p"]);
    assert!((95..=100).contains(&card), "{card}");
}

#[test]
fn registered_like_redisbloom() {
    let (_s, mut c) = server();
    let list = send(&mut c, &["MODULE", "LIST"]);
    assert!(
        list.windows(2).any(|w| w == b"bf"),
        "MODULE LIST: {}",
        escape(&list)
    );
    let info = send(&mut c, &["COMMAND", "INFO", "bf.add", "bf.exists"]);
    let (_, cmds) = split_aggregate(&info, Protocol::Resp2).expect("array");
    assert_eq!(cmds.len(), 2, "{}", escape(&info));
    for (cmd, name, arity, flags) in [
        (cmds[0], "bf.add", 3, &["write", "denyoom"][..]),
        (cmds[1], "bf.exists", 3, &["readonly", "fast"][..]),
    ] {
        let (_, fields) = split_aggregate(cmd, Protocol::Resp2).expect("command entry");
        assert_eq!(string_value(fields[0]), Some(name.as_bytes()));
        assert_eq!(integer_value(fields[1]), Some(arity));
        let (_, got_flags) = split_aggregate(fields[2], Protocol::Resp2).expect("flags");
        let got: Vec<&[u8]> = got_flags.iter().filter_map(|f| string_value(f)).collect();
        for f in flags {
            assert!(
                got.contains(&f.as_bytes()),
                "{name}: flags {}",
                escape(fields[2])
            );
        }
        assert_eq!(
            (
                integer_value(fields[3]),
                integer_value(fields[4]),
                integer_value(fields[5])
            ),
            (Some(1), Some(1), Some(1))
        );
        assert!(
            cmd.windows(6).any(|w| w == b"@bloom"),
            "{name}: ACL categories in {}",
            escape(cmd)
        );
    }
    expect(
        &mut c,
        &["BF.ADD", "k"],
        "-ERR wrong number of arguments for 'bf.add' command\r\n",
    );
}

#[test]
fn scaling() {
    let (_s, mut c) = server();
    expect(
        &mut c,
        &["BF.RESERVE", "s", "0.01", "100", "EXPANSION", "2"],
        "+OK\r\n",
    );
    let items: Vec<String> = (0..1000).map(|i| format!("item{i}")).collect();
    let mut args = vec!["BF.MADD".to_string(), "s".to_string()];
    args.extend(items.iter().cloned());
    send(&mut c, &args);
    expect(&mut c, &["BF.INFO", "s", "FILTERS"], "*1\r\n:4\r\n");
    expect(&mut c, &["BF.INFO", "s", "CAPACITY"], "*1\r\n:1500\r\n");
    let card = int(&mut c, &["BF.CARD", "s"]);
    assert!((980..=1000).contains(&card), "{card}");
    args[0] = "BF.MEXISTS".to_string();
    let reply = send(&mut c, &args);
    let (_, elems) = split_aggregate(&reply, Protocol::Resp2).expect("array");
    assert!(elems.iter().all(|e| *e == b":1\r\n"), "a false negative");
}

/// Dumps a filter with BF.SCANDUMP and loads it into another key with BF.LOADCHUNK.
fn copy_by_dump(c: &mut RespConn, from: &str, to: &str) -> usize {
    let mut chunks = Vec::new();
    let mut iter = 0i64;
    for _ in 0..10_000 {
        let reply = send(c, &["BF.SCANDUMP", from, &iter.to_string()]);
        let (_, parts) = split_aggregate(&reply, Protocol::Resp2).expect("pair");
        let next = integer_value(parts[0]).expect("iterator");
        let data = string_value(parts[1]).expect("data").to_vec();
        if next == 0 {
            assert!(data.is_empty());
            break;
        }
        chunks.push((next, data));
        iter = next;
    }
    assert_eq!(
        chunks.first().map(|c| c.0),
        Some(1),
        "the header comes first"
    );
    for (iter, data) in &chunks {
        let reply = send(
            c,
            &[
                b"BF.LOADCHUNK",
                to.as_bytes(),
                iter.to_string().as_bytes(),
                data,
            ],
        );
        assert_eq!(reply, b"+OK\r\n", "{}", escape(&reply));
    }
    chunks.len()
}

#[test]
fn scandump_loadchunk_round_trip() {
    let (_s, mut c) = server();
    expect(&mut c, &["BF.RESERVE", "src", "0.01", "1000"], "+OK\r\n");
    let items: Vec<String> = (0..20_000).map(|i| format!("u{i}")).collect();
    for batch in items.chunks(1000) {
        let mut args = vec!["BF.MADD", "src"];
        args.extend(batch.iter().map(String::as_str));
        send(&mut c, &args);
    }
    let chunks = copy_by_dump(&mut c, "src", "dst");
    // The header and one chunk per sub-filter (each is far below the chunk limit).
    let filters = int(&mut c, &["BF.CARD", "src"]);
    assert!(filters > 0);
    assert!(chunks >= 2);
    assert_eq!(
        send(&mut c, &["BF.INFO", "dst"]),
        send(&mut c, &["BF.INFO", "src"])
    );
    for batch in items.chunks(1000) {
        let mut args = vec!["BF.MEXISTS", "dst"];
        args.extend(batch.iter().map(String::as_str));
        let reply = send(&mut c, &args);
        let (_, elems) = split_aggregate(&reply, Protocol::Resp2).expect("array");
        assert!(
            elems.iter().all(|e| *e == b":1\r\n"),
            "a false negative after the load"
        );
    }
    let probes: Vec<String> = (0..2000).map(|i| format!("absent{i}")).collect();
    let mut a = vec!["BF.MEXISTS", "src"];
    a.extend(probes.iter().map(String::as_str));
    let from_src = send(&mut c, &a);
    a[1] = "dst";
    assert_eq!(
        send(&mut c, &a),
        from_src,
        "the copy answers exactly as the original"
    );
    // The copy is a filter of its own.
    expect(&mut c, &["TYPE", "dst"], "+MBbloom--\r\n");
    expect(&mut c, &["BF.ADD", "dst", "only-in-dst"], ":1\r\n");
    expect(&mut c, &["BF.EXISTS", "src", "only-in-dst"], ":0\r\n");
}

#[test]
fn scandump_loadchunk_errors() {
    let (_s, mut c) = server();
    expect(
        &mut c,
        &["BF.SCANDUMP", "missing", "0"],
        "-ERR not found\r\n",
    );
    expect(&mut c, &["BF.ADD", "f", "x"], ":1\r\n");
    expect(
        &mut c,
        &["BF.SCANDUMP", "f", "x"],
        "-Second argument must be numeric\r\n",
    );
    expect(
        &mut c,
        &["BF.SCANDUMP", "f", "100000"],
        "*2\r\n:0\r\n$0\r\n\r\n",
    );
    expect(
        &mut c,
        &["BF.LOADCHUNK", "g", "x", "d"],
        "-ERR Second argument must be numeric\r\n",
    );
    expect(
        &mut c,
        &["BF.LOADCHUNK", "g", "1", "junk"],
        "-ERR received bad data\r\n",
    );
    expect(
        &mut c,
        &["BF.LOADCHUNK", "g", "5", "junk"],
        "-ERR not found\r\n",
    );
    expect(&mut c, &["EXISTS", "g"], ":0\r\n");
    expect(
        &mut c,
        &["BF.LOADCHUNK", "f", "0", "x"],
        "-ERR received bad data\r\n",
    );
    expect(
        &mut c,
        &["BF.LOADCHUNK", "f", "5000", "xyz"],
        "-ERR invalid offset - no link found\r\n",
    );
    let big = "x".repeat(150);
    expect(
        &mut c,
        &["BF.LOADCHUNK", "f", "151", &big],
        "-ERR invalid chunk - Too big for current filter\r\n",
    );
}

/// One command's arguments.
type Argv = Vec<Vec<u8>>;

/// Sends `batches` in a pipeline (a bounded number in flight) and returns the replies.
fn pipeline(c: &mut RespConn, batches: &[Argv]) -> Vec<Vec<u8>> {
    const IN_FLIGHT: usize = 16;
    let mut replies = Vec::with_capacity(batches.len());
    let mut sent = 0;
    while replies.len() < batches.len() {
        while sent < batches.len() && sent - replies.len() < IN_FLIGHT {
            c.send(&batches[sent]).expect("send");
            sent += 1;
        }
        replies.push(c.read_reply().expect("reply"));
    }
    replies
}

fn count_ones(reply: &[u8]) -> usize {
    let (_, elems) = split_aggregate(reply, Protocol::Resp2)
        .unwrap_or_else(|| panic!("not an array: {}", escape(&reply[..reply.len().min(200)])));
    elems.iter().filter(|e| **e == b":1\r\n").count()
}

/// 1M items in a filter reserved for them at `error`: no false negatives among a sample of
/// them, and the false-positive rate measured on 100k items never added is within the rate
/// asked for (the reserved filter's one sub-filter is built for half of it).
fn false_positive_rate_1m_items(error: &str) {
    const ITEMS: usize = 1_000_000;
    const BATCH: usize = 1000;
    const PROBES: usize = 100_000;
    let configured: f64 = error.parse().expect("rate");
    let (_s, mut c) = server();
    c.set_timeout(Duration::from_secs(30));
    let started = Instant::now();
    expect(
        &mut c,
        &["BF.RESERVE", "fp", error, &ITEMS.to_string()],
        "+OK\r\n",
    );

    let batch = |prefix: &str, cmd: &str, range: std::ops::Range<usize>| -> Argv {
        let mut args = vec![cmd.as_bytes().to_vec(), b"fp".to_vec()];
        args.extend(range.map(|i| format!("{prefix}{i}").into_bytes()));
        args
    };
    let adds: Vec<Argv> = (0..ITEMS / BATCH)
        .map(|b| batch("item:", "BF.MADD", b * BATCH..(b + 1) * BATCH))
        .collect();
    let added: usize = pipeline(&mut c, &adds).iter().map(|r| count_ones(r)).sum();
    let add_time = started.elapsed();
    // Items that collide with earlier ones answer 0: a fraction of a percent.
    assert!(added > ITEMS * 99 / 100, "only {added} of {ITEMS} were new");
    expect(&mut c, &["BF.CARD", "fp"], &format!(":{added}\r\n"));
    expect(&mut c, &["BF.INFO", "fp", "FILTERS"], "*1\r\n:1\r\n");

    let present: Vec<Argv> = (0..10)
        .map(|b| batch("item:", "BF.MEXISTS", b * 97_000..b * 97_000 + BATCH))
        .collect();
    for reply in pipeline(&mut c, &present) {
        assert_eq!(count_ones(&reply), BATCH, "a false negative");
    }

    let probes: Vec<Argv> = (0..PROBES / BATCH)
        .map(|b| batch("absent:", "BF.MEXISTS", b * BATCH..(b + 1) * BATCH))
        .collect();
    let positives: usize = pipeline(&mut c, &probes)
        .iter()
        .map(|r| count_ones(r))
        .sum();
    let rate = positives as f64 / PROBES as f64;
    eprintln!(
        "bloom 1M at {error}: adds {add_time:?}, total {:?}, false positives \
         {positives}/{PROBES} = {rate}",
        started.elapsed()
    );
    assert!(
        rate <= configured,
        "false-positive rate {rate} above the configured {error}"
    );
    // Not suspiciously low either: it really is a Bloom filter of that rate.
    assert!(
        rate >= configured / 5.0,
        "false-positive rate {rate} for {error}"
    );
}

#[test]
fn false_positive_rate_1m_items_1_percent() {
    false_positive_rate_1m_items("0.01");
}

#[test]
fn false_positive_rate_1m_items_0_1_percent() {
    false_positive_rate_1m_items("0.001");
}
