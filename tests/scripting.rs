//! Wasm scripts against the real `ember-server`: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and
//! SCRIPT LOAD|EXISTS|FLUSH|KILL, driven by guests written by hand in WAT from docs/abi.md
//! (tests/wasm_guests/, no SDK), which proves the ABI page is enough to write a guest.
//!
//! - echo.wat and counter.wat: `input` (with its retry-with-a-bigger-buffer rule) and `call`
//!   with RESP the guest builds itself.
//! - proxy.wat forwards whole RESP requests given as ARGV to `call`, then ends the way its mode
//!   says (return, abort, trap, time out, run out of memory or stack, fault, malformed reply):
//!   every way a guest can fail must leave none of its writes (all-or-nothing), including a key
//!   that did not exist, a TTL that must come back and a hash changed in place.
//! - Replies of every RESP type reach RESP2 and RESP3 clients as Redis 7.0 converts the same
//!   values returned by Lua (compared byte for byte with a real redis-server).
//! - Errors that do not depend on Lua (numkeys, NOSCRIPT, SCRIPT subcommands) are compared with
//!   redis-server byte for byte.
//! - SHA1 of the body as `sha1sum` computes it, `redis-cli -x SCRIPT LOAD < file`, pipelining,
//!   MULTI/EXEC, read-only variants, undeclared keys, and atomicity under concurrent clients.
//!
//! Every read has a timeout and every loop a bound; the file runs in well under 20 s.

#[path = "common/mod.rs"]
mod common;
#[path = "common/guests.rs"]
mod guests;

use common::{escape, integer_value, Protocol, RespConn, ServerProcess};
use guests::{expect, guest, guest_path, req, Run};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A guest with one more export: `ember_flags` returning `flags` (docs/abi.md).
fn with_flags(wat: &str, flags: u32) -> String {
    let end = wat.rfind(')').expect("a WAT module ends with ')'");
    format!(
        "{}  (func (export \"ember_flags\") (result i32) (i32.const {flags}))\n)\n",
        &wat[..end]
    )
}

fn error_text(reply: &[u8]) -> String {
    assert!(
        reply.starts_with(b"-"),
        "expected an error, got {}",
        escape(reply)
    );
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
}

fn sha1sum_of_file(path: &std::path::Path) -> String {
    let out = Command::new("sha1sum")
        .arg(path)
        .output()
        .expect("sha1sum (coreutils) runs");
    assert!(out.status.success(), "sha1sum failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha1sum prints a digest")
        .to_string()
}

fn sha1sum_of_bytes(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha1sum (coreutils) runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write to sha1sum");
    let out = child.wait_with_output().expect("sha1sum output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha1sum prints a digest")
        .to_string()
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// Loads a script with SCRIPT LOAD and returns its SHA1.
fn load(c: &mut RespConn, body: &str) -> String {
    let reply = cmd!(c; "SCRIPT", "LOAD", body);
    let sha = common::string_value(&reply)
        .unwrap_or_else(|| panic!("SCRIPT LOAD replied {}", escape(&reply)));
    String::from_utf8(sha.to_vec()).expect("hex")
}

fn hello3(c: &mut RespConn) {
    c.send(&["HELLO", "3"]).expect("HELLO 3");
    c.set_protocol(Protocol::Resp3);
    let reply = c.read_reply().expect("HELLO 3 reply");
    assert!(
        reply.starts_with(b"%"),
        "HELLO 3 replied {}",
        escape(&reply)
    );
}

// ---------------------------------------------------------------------------------------------
// Guests written from the spec
// ---------------------------------------------------------------------------------------------

fn echo_guest_reads_its_input_with_the_retry_rule(server: &ServerProcess) {
    let mut c = server.connect();
    let echo = guest("echo");
    // [KEYS, ARGV] exactly as the host encodes them; an empty argument stays.
    let reply = cmd!(c; "EVAL", echo, "2", "k1", "k2", "a1", "");
    expect(
        &reply,
        "*2\r\n*2\r\n$2\r\nk1\r\n$2\r\nk2\r\n*2\r\n$2\r\na1\r\n$0\r\n\r\n",
        "EVAL echo 2 k1 k2 a1 ''",
    );
    let reply = cmd!(c; "EVAL", echo, "0");
    expect(&reply, "*2\r\n*0\r\n*0\r\n", "EVAL echo 0");
    // Binary-safe, and larger than the guest's first page: it must grow and ask again.
    let mut big = vec![0u8; 300_000];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    big[10..14].copy_from_slice(b"\r\n\0$");
    let reply = cmd!(c; "EVAL", echo, "1", big, "x");
    let mut want = b"*2\r\n*1\r\n$300000\r\n".to_vec();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"\r\n*1\r\n$1\r\nx\r\n");
    assert!(reply == want, "echo of a 300 kB binary key differs");
}

fn counter_guest_builds_resp_and_an_uncaught_error_undoes_its_writes(server: &ServerProcess) {
    let mut c = server.connect();
    let counter = guest("counter");
    expect(
        &cmd!(c; "EVAL", counter, "1", "c"),
        ":1\r\n",
        "INCR from nothing",
    );
    expect(&cmd!(c; "EVAL", counter, "1", "c"), ":2\r\n", "INCR again");
    expect(
        &cmd!(c; "EVAL", counter, "1", "c", "10"),
        ":11\r\n",
        "SET 10 then INCR",
    );
    expect(&cmd!(c; "GET", "c"), "$2\r\n11\r\n", "GET c");
    // SET c abc succeeds inside the script, then INCR fails and the guest returns 1 with the
    // error: the SET must be undone.
    expect(
        &cmd!(c; "EVAL", counter, "1", "c", "abc"),
        "-ERR value is not an integer or out of range\r\n",
        "INCR of a non-number",
    );
    expect(&cmd!(c; "GET", "c"), "$2\r\n11\r\n", "the SET was undone");
    // A key of another type: WRONGTYPE from INCR; the key is unchanged.
    cmd!(c; "RPUSH", "list", "x");
    expect(
        &cmd!(c; "EVAL", counter, "1", "list"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        "INCR of a list",
    );
    expect(
        &cmd!(c; "LRANGE", "list", "0", "-1"),
        "*1\r\n$1\r\nx\r\n",
        "list intact",
    );
    expect(
        &cmd!(c; "EVAL", counter, "0"),
        "-ERR counter needs one key\r\n",
        "the guest's own error",
    );
    // A long key and value: the request the guest builds is larger than a page.
    let key = "k".repeat(70_000);
    expect(
        &cmd!(c; "EVAL", counter, "1", key, "41"),
        ":42\r\n",
        "long key",
    );
    expect(&cmd!(c; "STRLEN", key), ":2\r\n", "long key stored");
}

// ---------------------------------------------------------------------------------------------
// All-or-nothing
// ---------------------------------------------------------------------------------------------

const KEYS: [&str; 9] = ["fresh", "ttl", "h", "l", "s", "z", "gone", "persist", "num"];

/// Keys of every kind a script may change, in a known state.
fn seed_for_rollback(c: &mut RespConn) {
    cmd!(c; "FLUSHALL");
    cmd!(c; "SET", "ttl", "old", "PX", "100000");
    cmd!(c; "HSET", "h", "f1", "v1", "f2", "v2");
    cmd!(c; "RPUSH", "l", "a", "b");
    cmd!(c; "SADD", "s", "m1");
    cmd!(c; "ZADD", "z", "1", "m");
    cmd!(c; "SET", "gone", "here");
    cmd!(c; "SET", "persist", "p");
    cmd!(c; "SET", "num", "10");
}

/// Writes to every seeded key: creates, overwrites (dropping a TTL), changes in place,
/// deletes, adds a TTL.
fn rollback_requests() -> Vec<String> {
    vec![
        req(&["SET", "fresh", "1"]),
        req(&["SET", "ttl", "new"]),
        req(&["HSET", "h", "f1", "changed", "f3", "new"]),
        req(&["HDEL", "h", "f2"]),
        req(&["RPUSH", "l", "c"]),
        req(&["LPOP", "l"]),
        req(&["SADD", "s", "m2"]),
        req(&["SREM", "s", "m1"]),
        req(&["ZINCRBY", "z", "5", "m"]),
        req(&["DEL", "gone"]),
        req(&["EXPIRE", "persist", "100"]),
        req(&["INCRBY", "num", "5"]),
        req(&["APPEND", "num", "0"]),
    ]
}

/// Every seeded key exactly as [`seed_for_rollback`] left it.
fn assert_seed_intact(c: &mut RespConn, what: &str) {
    expect(
        &cmd!(c; "EXISTS", "fresh"),
        ":0\r\n",
        &format!("{what}: created key removed"),
    );
    expect(
        &cmd!(c; "GET", "ttl"),
        "$3\r\nold\r\n",
        &format!("{what}: ttl value"),
    );
    let pttl = integer_value(&cmd!(c; "PTTL", "ttl")).expect("PTTL integer");
    assert!(
        (1..=100_000).contains(&pttl),
        "{what}: the TTL must come back, PTTL is {pttl}"
    );
    expect(&cmd!(c; "HLEN", "h"), ":2\r\n", &format!("{what}: HLEN"));
    expect(
        &cmd!(c; "HMGET", "h", "f1", "f2", "f3"),
        "*3\r\n$2\r\nv1\r\n$2\r\nv2\r\n$-1\r\n",
        &format!("{what}: hash fields"),
    );
    expect(
        &cmd!(c; "LRANGE", "l", "0", "-1"),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        &format!("{what}: list"),
    );
    expect(
        &cmd!(c; "SMEMBERS", "s"),
        "*1\r\n$2\r\nm1\r\n",
        &format!("{what}: set"),
    );
    expect(
        &cmd!(c; "ZSCORE", "z", "m"),
        "$1\r\n1\r\n",
        &format!("{what}: zset"),
    );
    expect(
        &cmd!(c; "GET", "gone"),
        "$4\r\nhere\r\n",
        &format!("{what}: deleted key"),
    );
    expect(
        &cmd!(c; "TTL", "persist"),
        ":-1\r\n",
        &format!("{what}: no TTL"),
    );
    expect(
        &cmd!(c; "GET", "num"),
        "$2\r\n10\r\n",
        &format!("{what}: number"),
    );
    expect(&cmd!(c; "DBSIZE"), ":8\r\n", &format!("{what}: DBSIZE"));
}

#[test]
fn every_failure_leaves_no_writes() {
    let server =
        ServerProcess::start_ember(&[("wasm-time-limit", "200"), ("wasm-memory-limit", "16mb")]);
    let mut c = server.connect();
    let proxy = guest("proxy");
    let sha = load(&mut c, &proxy);
    let requests = rollback_requests();
    // (mode, extra last request, the exact error or a prefix of it)
    let wrongtype = req(&["INCR", "h"]);
    let cases: &[(&str, Option<&str>, &str, bool)] = &[
        ("abort", None, "ERR guest said no", true),
        ("nabort", None, "ERR guest aborted", true),
        ("2", None, "ERR guest aborted", true),
        (
            "call",
            Some(&wrongtype),
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            true,
        ),
        ("trap", None, "ERR guest trapped: ", false),
        (
            "spin",
            None,
            "ERR guest exceeded the time limit of 200 ms (wasm-time-limit)",
            true,
        ),
        (
            "grow",
            None,
            "ERR guest exceeded the memory limit of 16777216 bytes (wasm-memory-limit)",
            true,
        ),
        (
            "deep",
            None,
            "ERR guest exceeded the stack limit (call stack exhausted)",
            true,
        ),
        ("oob", None, "ERR ember ABI: out-of-bounds pointer", false),
        (
            "malformed",
            None,
            "ERR guest returned a malformed reply",
            true,
        ),
    ];
    for &(mode, extra, want, exact) in cases {
        seed_for_rollback(&mut c);
        let mut args: Vec<&[u8]> = vec![b"EVALSHA", sha.as_bytes(), b"9"];
        args.extend(KEYS.iter().map(|k| k.as_bytes()));
        args.push(mode.as_bytes());
        args.extend(requests.iter().map(|r| r.as_bytes()));
        if let Some(e) = extra {
            args.push(e.as_bytes());
        }
        let reply = c.command(&args).expect("EVALSHA reply");
        let text = error_text(&reply);
        if exact {
            assert_eq!(text, want, "mode {mode}");
        } else {
            assert!(text.starts_with(want), "mode {mode}: {text}");
        }
        assert_seed_intact(&mut c, mode);
    }
    // The same writes committed (pcall mode returns 0): all of them stay.
    seed_for_rollback(&mut c);
    let mut args: Vec<&[u8]> = vec![b"EVALSHA", sha.as_bytes(), b"9"];
    args.extend(KEYS.iter().map(|k| k.as_bytes()));
    args.push(b"pcall");
    args.extend(requests.iter().map(|r| r.as_bytes()));
    let reply = c.command(&args).expect("EVALSHA reply");
    expect(
        &reply,
        "*13\r\n+OK\r\n+OK\r\n:1\r\n:1\r\n:3\r\n$1\r\na\r\n:1\r\n:1\r\n$1\r\n6\r\n:1\r\n:1\r\n:15\r\n:3\r\n",
        "pcall of every write",
    );
    expect(&cmd!(c; "GET", "fresh"), "$1\r\n1\r\n", "committed: fresh");
    expect(
        &cmd!(c; "PTTL", "ttl"),
        ":-1\r\n",
        "committed: TTL dropped by SET",
    );
    expect(
        &cmd!(c; "HMGET", "h", "f1", "f2", "f3"),
        "*3\r\n$7\r\nchanged\r\n$-1\r\n$3\r\nnew\r\n",
        "committed: hash",
    );
    expect(&cmd!(c; "GET", "num"), "$3\r\n150\r\n", "committed: number");
    expect(&cmd!(c; "EXISTS", "gone"), ":0\r\n", "committed: DEL");
    // `empty` mode: no reply set, code 0: nil, and the writes stay.
    seed_for_rollback(&mut c);
    let set = req(&["SET", "fresh", "2"]);
    expect(
        &cmd!(c; "EVALSHA", sha, "1", "fresh", "empty", set),
        "$-1\r\n",
        "no reply set",
    );
    expect(
        &cmd!(c; "GET", "fresh"),
        "$1\r\n2\r\n",
        "empty mode keeps its write",
    );
}

fn a_caught_error_is_the_guests_business(server: &ServerProcess) {
    let mut c = server.connect();
    let proxy = guest("proxy");
    // pcall mode returns 0 with the error as a value: the SET before it stays.
    let reply = cmd!(c; "EVAL", proxy, "1", "k", "pcall",
        req(&["SET", "k", "v"]), req(&["LPUSH", "k", "x"]), req(&["GET", "k"]));
    expect(
        &reply,
        "*3\r\n+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n$1\r\nv\r\n",
        "pcall",
    );
    expect(&cmd!(c; "GET", "k"), "$1\r\nv\r\n", "kept");
    // An error reply with code 0 is delivered as the script's reply; writes stay.
    let reply = cmd!(c; "EVAL", proxy, "1", "k", "raw", "-MYERR custom\r\n");
    expect(&reply, "-MYERR custom\r\n", "error reply, code 0");
}

// ---------------------------------------------------------------------------------------------
// Replies of every RESP type, converted as Redis converts Lua's
// ---------------------------------------------------------------------------------------------

/// (what the guest replies, the Lua script that makes redis-server reply the same value to a
/// RESP2 client, the same for a RESP3 client)
const REPLY_CASES: &[(&str, &str, &str)] = &[
    ("+FINE\r\n", "return redis.status_reply('FINE')", ""),
    (
        "-MYERR bad thing\r\n",
        "return redis.error_reply('MYERR bad thing')",
        "",
    ),
    (":42\r\n", "return 42", ""),
    (":-7\r\n", "return -7", ""),
    ("$5\r\nhello\r\n", "return 'hello'", ""),
    ("$0\r\n\r\n", "return ''", ""),
    ("$-1\r\n", "return nil", ""),
    ("_\r\n", "return nil", ""),
    ("*0\r\n", "return {}", ""),
    (
        "*3\r\n:1\r\n$3\r\ntwo\r\n*1\r\n:3\r\n",
        "return {1,'two',{3}}",
        "",
    ),
    (
        "*2\r\n+ok\r\n-ERR inner\r\n",
        "return {redis.status_reply('ok'), redis.error_reply('ERR inner')}",
        "",
    ),
    (",3.14\r\n", "return {double=3.14}", ""),
    (",1.5\r\n", "return {double=1.5}", ""),
    (",0\r\n", "return {double=0}", ""),
    (",-2.5e-7\r\n", "return {double=-2.5e-7}", ""),
    (",1e300\r\n", "return {double=1e300}", ""),
    (",inf\r\n", "return {double=1/0}", ""),
    (",-inf\r\n", "return {double=-1/0}", ""),
    ("%1\r\n$1\r\na\r\n:1\r\n", "return {map={a=1}}", ""),
    (
        "%1\r\n$1\r\nk\r\n*1\r\n,2.5\r\n",
        "return {map={k={{double=2.5}}}}",
        "",
    ),
    ("~1\r\n$1\r\na\r\n", "return {set={a=true}}", ""),
    (
        "*1\r\n%1\r\n$1\r\nk\r\n,2.5\r\n",
        "return {{map={k={double=2.5}}}}",
        "",
    ),
    // Booleans, as Lua's true/false after redis.setresp(3): RESP2 clients get :1 / :0,
    // RESP3 clients #t / #f.
    (
        "#t\r\n",
        "redis.setresp(3); return true",
        "redis.setresp(3); return true",
    ),
    (
        "#f\r\n",
        "redis.setresp(3); return false",
        "redis.setresp(3); return false",
    ),
    (
        "(12345678901234567890\r\n",
        "return {big_number='12345678901234567890'}",
        "",
    ),
    ("(-12\r\n", "return {big_number='-12'}", ""),
];

fn replies_of_every_type_match_redis_lua_conversion(ember: &ServerProcess, redis: &ServerProcess) {
    let proxy = guest("proxy");
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let mut e = ember.connect();
        let mut r = redis.connect();
        if proto == Protocol::Resp3 {
            hello3(&mut e);
            hello3(&mut r);
        }
        for &(guest_reply, lua2, lua3) in REPLY_CASES {
            let lua = if proto == Protocol::Resp3 && !lua3.is_empty() {
                lua3
            } else {
                lua2
            };
            let want = cmd!(r; "EVAL", lua, "0");
            let got = cmd!(e; "EVAL", proxy, "0", "raw", guest_reply);
            assert_eq!(
                escape(&got),
                escape(&want),
                "{proto:?}: guest replied {} (Lua: {lua})",
                escape(guest_reply.as_bytes())
            );
        }
    }
}

fn verbatim_reply_matches_redis_lua_conversion(ember: &ServerProcess, redis: &ServerProcess) {
    // docs/abi.md does not list `=`, but the host accepts it: then it must convert it as
    // Redis converts a Lua verbatim_string (RESP2: the text without its format).
    let proxy = guest("proxy");
    let lua = "return {verbatim_string={format='txt', string='hi'}}";
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let mut e = ember.connect();
        let mut r = redis.connect();
        if proto == Protocol::Resp3 {
            hello3(&mut e);
            hello3(&mut r);
        }
        let want = cmd!(r; "EVAL", lua, "0");
        let got = cmd!(e; "EVAL", proxy, "0", "raw", "=6\r\ntxt:hi\r\n");
        assert_eq!(escape(&got), escape(&want), "{proto:?}");
    }
}

fn replies_of_forwarded_commands_match_redis_lua(ember: &ServerProcess, redis: &ServerProcess) {
    // A guest gets RESP2 from `call` (like Lua's default redis.setresp(2)) and forwards it:
    // clients of either protocol must get what a Lua script returning redis.call(...) gets.
    let proxy = guest("proxy");
    let cases: &[(&[&str], &str)] = &[
        (&["HGETALL", "h"], "return redis.call('hgetall', KEYS[1])"),
        (&["GET", "h"], "return redis.pcall('get', KEYS[1])"),
        (&["GET", "nosuch"], "return redis.call('get', KEYS[1])"),
        (
            &["ZSCORE", "z", "m"],
            "return redis.call('zscore', KEYS[1], 'm')",
        ),
        (
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            "return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
        ),
        (&["PING"], "return redis.call('ping')"),
        (&["EXISTS", "h"], "return redis.call('exists', KEYS[1])"),
        (&["LPOP", "nosuch"], "return redis.call('lpop', KEYS[1])"),
        (&["SMEMBERS", "s"], "return redis.call('smembers', KEYS[1])"),
    ];
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let mut e = ember.connect();
        let mut r = redis.connect();
        for c in [&mut e, &mut r] {
            cmd!(c; "FLUSHALL");
            cmd!(c; "HSET", "h", "f", "v");
            cmd!(c; "ZADD", "z", "1.5", "m");
            cmd!(c; "SADD", "s", "one");
        }
        if proto == Protocol::Resp3 {
            hello3(&mut e);
            hello3(&mut r);
        }
        for &(command, lua) in cases {
            let key = command.get(1).copied().unwrap_or("x");
            let want = cmd!(r; "EVAL", lua, "1", key);
            let got = cmd!(e; "EVAL", proxy, "1", key, "call", req(command));
            assert_eq!(escape(&got), escape(&want), "{proto:?}: {command:?}");
        }
    }
}

fn malformed_and_hostile_reply_values_are_refused(server: &ServerProcess) {
    let mut c = server.connect();
    let proxy = guest("proxy");
    let mut deep = "*1\r\n".repeat(100_000);
    deep.push_str(":1\r\n");
    for bad in [
        "*2147483648\r\n".to_string(),
        "*2147483647\r\n".to_string(),
        "$2147483647\r\n".to_string(),
        "$5\r\nab\r\n".to_string(),
        ":12x\r\n".to_string(),
        "%1\r\n+a\r\n".to_string(),
        "#x\r\n".to_string(),
        ",notanumber\r\n".to_string(),
        "+no end".to_string(),
        ":1\r\n:2\r\n".to_string(),
        "?\r\n".to_string(),
        deep,
    ] {
        let reply = cmd!(c; "EVAL", proxy, "0", "raw", bad);
        expect(
            &reply,
            "-ERR guest returned a malformed reply\r\n",
            &escape(bad.as_bytes()),
        );
    }
    // A large valid reply passes untouched: 200 000 integers.
    let mut many = "*200000\r\n".to_string();
    many.push_str(&":7\r\n".repeat(200_000));
    let reply = cmd!(c; "EVAL", proxy, "0", "raw", many);
    assert!(reply == many.as_bytes(), "200 000-element array differs");
}

// ---------------------------------------------------------------------------------------------
// EVAL / EVALSHA / SCRIPT semantics
// ---------------------------------------------------------------------------------------------

fn sha1_is_sha1sum_of_the_body_and_redis_cli_x_loads_files(server: &ServerProcess) {
    let mut c = server.connect();
    for name in ["echo", "counter", "proxy"] {
        let path = guest_path(name);
        let want = sha1sum_of_file(&path);
        assert_eq!(
            load(&mut c, &guest(name)),
            want,
            "SCRIPT LOAD of {name}.wat"
        );
        // redis-cli -x appends stdin, byte for byte, as the last argument.
        let out = Command::new("redis-cli")
            .args(["-p", &server.port().to_string(), "-x", "SCRIPT", "LOAD"])
            .stdin(std::fs::File::open(&path).expect("open guest"))
            .output()
            .expect("redis-cli runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want,
            "redis-cli -x SCRIPT LOAD < {name}.wat (stderr: {})",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let counter_sha = sha1sum_of_file(&guest_path("counter"));
    expect(
        &cmd!(c; "EVALSHA", counter_sha, "1", "n"),
        ":1\r\n",
        "EVALSHA",
    );
    expect(
        &cmd!(c; "EVALSHA", counter_sha.to_uppercase(), "1", "n"),
        ":2\r\n",
        "EVALSHA with an upper-case digest",
    );
    expect(
        &cmd!(c; "SCRIPT", "EXISTS", counter_sha, counter_sha.to_uppercase(), "0000000000000000000000000000000000000000"),
        "*3\r\n:1\r\n:1\r\n:0\r\n",
        "SCRIPT EXISTS",
    );
    // EVAL caches the body under the same digest.
    let body = format!("{}\n;; a variant\n", guest("counter"));
    let sha = sha1sum_of_bytes(body.as_bytes());
    expect(&cmd!(c; "SCRIPT", "EXISTS", sha), "*1\r\n:0\r\n", "not yet");
    expect(
        &cmd!(c; "EVAL", body, "1", "n"),
        ":3\r\n",
        "EVAL of a variant",
    );
    expect(
        &cmd!(c; "SCRIPT", "EXISTS", sha),
        "*1\r\n:1\r\n",
        "cached by EVAL",
    );
}

/// A binary module built by the SDK (the token-bucket example), when the build made it.
fn binary_wasm_by_redis_cli_x(server: &ServerProcess) {
    let mut c = server.connect();
    let dir = option_env!("EMBER_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests/wasm32-unknown-unknown/release")
        });
    let wasm = dir.join("token_bucket.wasm");
    if !wasm.is_file() {
        println!(
            "skipped the binary case: {} does not exist (the guest build did not run)",
            wasm.display()
        );
        return;
    }
    let bytes = std::fs::read(&wasm).expect("read token_bucket.wasm");
    assert!(bytes.starts_with(b"\0asm"), "a wasm binary");
    let want = sha1sum_of_file(&wasm);
    let out = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "-x", "SCRIPT", "LOAD"])
        .stdin(std::fs::File::open(&wasm).expect("open wasm"))
        .output()
        .expect("redis-cli runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        want,
        "redis-cli -x SCRIPT LOAD < token_bucket.wasm (stderr: {})",
        String::from_utf8_lossy(&out.stderr)
    );
    // capacity 5, 1 token/s: the first request is allowed, 4 tokens left.
    expect(
        &cmd!(c; "EVALSHA", want, "1", "bucket", "5", "1"),
        "*2\r\n:1\r\n:4\r\n",
        "token bucket by EVALSHA",
    );
    // The same bytes sent by EVAL are the same script.
    let reply = cmd!(c; "EVAL", bytes, "1", "bucket2", "5", "1");
    expect(
        &reply,
        "*2\r\n:1\r\n:4\r\n",
        "token bucket by EVAL of the binary",
    );
}

fn noscript_exists_and_flush(server: &ServerProcess) {
    let mut c = server.connect();
    let counter = guest("counter");
    let sha = load(&mut c, &counter);
    let echo_sha = load(&mut c, &guest("echo"));
    expect(
        &cmd!(c; "SCRIPT", "EXISTS", sha, echo_sha),
        "*2\r\n:1\r\n:1\r\n",
        "both loaded",
    );
    expect(&cmd!(c; "SCRIPT", "FLUSH"), "+OK\r\n", "SCRIPT FLUSH");
    expect(
        &cmd!(c; "SCRIPT", "EXISTS", sha, echo_sha),
        "*2\r\n:0\r\n:0\r\n",
        "flushed",
    );
    expect(
        &cmd!(c; "EVALSHA", sha, "1", "k"),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n",
        "EVALSHA after FLUSH",
    );
    expect(
        &cmd!(c; "EVALSHA_RO", sha, "1", "k"),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n",
        "EVALSHA_RO after FLUSH",
    );
    expect(&cmd!(c; "EXISTS", "k"), ":0\r\n", "nothing ran");
    load(&mut c, &counter);
    expect(
        &cmd!(c; "SCRIPT", "FLUSH", "ASYNC"),
        "+OK\r\n",
        "FLUSH ASYNC",
    );
    load(&mut c, &counter);
    expect(&cmd!(c; "SCRIPT", "FLUSH", "sync"), "+OK\r\n", "FLUSH sync");
    expect(
        &cmd!(c; "SCRIPT", "EXISTS", sha),
        "*1\r\n:0\r\n",
        "flushed again",
    );
    // EVAL after a flush compiles it again.
    expect(
        &cmd!(c; "EVAL", counter, "1", "k"),
        ":1\r\n",
        "EVAL after flush",
    );
    expect(
        &cmd!(c; "EVALSHA", sha, "1", "k"),
        ":2\r\n",
        "EVALSHA after EVAL",
    );
}

#[test]
fn argument_errors_match_redis() {
    // None of these depend on Lua: Redis checks numkeys before it looks at the body.
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    let mut e = ember.connect();
    let mut r = redis.connect();
    let body = "return 1";
    let unknown = "ffffffffffffffffffffffffffffffffffffffff";
    let cases: Vec<Vec<&str>> = vec![
        vec!["EVAL"],
        vec!["EVAL", body],
        vec!["EVAL", body, "notanumber"],
        vec!["EVAL", body, "1.5"],
        vec!["EVAL", body, "99999999999999999999"],
        vec!["EVAL", body, "-1"],
        vec!["EVAL", body, "-1", "k"],
        vec!["EVAL", body, "1"],
        vec!["EVAL", body, "3", "a", "b"],
        vec!["EVAL_RO", body],
        vec!["EVAL_RO", body, "x"],
        vec!["EVAL_RO", body, "-5"],
        vec!["EVAL_RO", body, "2", "k"],
        vec!["EVALSHA", unknown],
        vec!["EVALSHA", unknown, "0"],
        vec!["EVALSHA", unknown, "1", "k"],
        vec!["EVALSHA", unknown, "2", "k"],
        vec!["EVALSHA", unknown, "-1"],
        vec!["EVALSHA", unknown, "nan"],
        vec!["EVALSHA", "short", "0"],
        vec!["EVALSHA", "", "0"],
        vec!["EVALSHA_RO", unknown, "0"],
        vec!["EVALSHA_RO", unknown, "3"],
        vec!["EVALSHA_RO", unknown],
        vec!["SCRIPT"],
        vec!["SCRIPT", "NOSUCH"],
        vec!["SCRIPT", "EXISTS"],
        vec!["SCRIPT", "EXISTS", unknown, "x"],
        vec!["SCRIPT", "LOAD"],
        vec!["SCRIPT", "LOAD", "a", "b"],
        vec!["SCRIPT", "FLUSH", "BAD"],
        vec!["SCRIPT", "FLUSH", "SYNC", "ASYNC"],
        vec!["SCRIPT", "FLUSH", "async"],
        vec!["SCRIPT", "KILL"],
        vec!["SCRIPT", "KILL", "now"],
    ];
    for args in &cases {
        let want = r.command(args).expect("redis reply");
        let got = e.command(args).expect("ember reply");
        assert_eq!(escape(&got), escape(&want), "{args:?}");
    }
    // The same inside MULTI: queued, then the error in EXEC's reply.
    for c in [&mut e, &mut r] {
        cmd!(c; "MULTI");
    }
    for args in [
        vec!["EVALSHA", unknown, "0"],
        vec!["EVAL", body, "5"],
        vec!["SET", "k", "v"],
    ] {
        let want = r.command(&args).expect("redis");
        let got = e.command(&args).expect("ember");
        assert_eq!(escape(&got), escape(&want), "queued {args:?}");
    }
    let want = cmd!(r; "EXEC");
    let got = cmd!(e; "EXEC");
    assert_eq!(escape(&got), escape(&want), "EXEC");
}

fn read_only_invocations_refuse_writes(server: &ServerProcess) {
    let mut c = server.connect();
    let proxy = guest("proxy");
    let sha = load(&mut c, &proxy);
    cmd!(c; "SET", "k", "v");
    const REFUSED: &str = "-ERR Write commands are not allowed from read-only scripts.\r\n";
    let set = req(&["SET", "k", "w"]);
    let get = req(&["GET", "k"]);
    expect(
        &cmd!(c; "EVAL_RO", proxy, "1", "k", "call", set),
        REFUSED,
        "EVAL_RO SET",
    );
    expect(
        &cmd!(c; "EVALSHA_RO", sha, "1", "k", "call", set),
        REFUSED,
        "EVALSHA_RO SET",
    );
    expect(
        &cmd!(c; "EVAL_RO", proxy, "1", "k", "call", get),
        "$1\r\nv\r\n",
        "EVAL_RO GET",
    );
    expect(
        &cmd!(c; "EVALSHA_RO", sha, "1", "k", "call", get),
        "$1\r\nv\r\n",
        "EVALSHA_RO GET",
    );
    // The refusal is a reply the guest can catch, as with redis.pcall.
    expect(
        &cmd!(c; "EVAL_RO", proxy, "1", "k", "pcall", set, get),
        "*2\r\n-ERR Write commands are not allowed from read-only scripts.\r\n$1\r\nv\r\n",
        "EVAL_RO pcall",
    );
    expect(
        &cmd!(c; "EVAL_RO", guest("counter"), "1", "k"),
        REFUSED,
        "EVAL_RO of a writing script",
    );
    // The no-writes flag (ember_flags bit 1) makes plain EVAL read-only too.
    let no_writes = with_flags(&proxy, 1);
    expect(
        &cmd!(c; "EVAL", no_writes, "1", "k", "call", set),
        REFUSED,
        "no-writes flag",
    );
    expect(
        &cmd!(c; "EVAL", no_writes, "1", "k", "call", get),
        "$1\r\nv\r\n",
        "no-writes GET",
    );
    expect(&cmd!(c; "GET", "k"), "$1\r\nv\r\n", "nothing written");
    // Every command flagged `write` is refused, not only SET.
    for w in [
        req(&["DEL", "k"]),
        req(&["EXPIRE", "k", "10"]),
        req(&["INCR", "k"]),
    ] {
        expect(&cmd!(c; "EVAL_RO", proxy, "1", "k", "call", w), REFUSED, &w);
    }
    expect(&cmd!(c; "TTL", "k"), ":-1\r\n", "no TTL set");
}

fn undeclared_keys_and_forbidden_commands_are_refused(server: &ServerProcess) {
    let mut c = server.connect();
    let proxy = guest("proxy");
    let undeclared = |k: &str| {
        format!("-ERR guest accessed undeclared key '{k}'; declare it in KEYS or flag the script whole-keyspace\r\n")
    };
    cmd!(c; "SET", "other", "o");
    expect(
        &cmd!(c; "EVAL", proxy, "1", "k", "call", req(&["SET", "other", "1"])),
        &undeclared("other"),
        "write to an undeclared key",
    );
    expect(
        &cmd!(c; "EVAL", proxy, "1", "k", "call", req(&["GET", "other"])),
        &undeclared("other"),
        "read of an undeclared key",
    );
    expect(
        &cmd!(c; "EVAL", proxy, "1", "k", "call", req(&["MSET", "k", "1", "other", "2"])),
        &undeclared("other"),
        "MSET touching one undeclared key",
    );
    expect(
        &cmd!(c; "EVAL", proxy, "0", "call", req(&["SET", "k", "1"])),
        &undeclared("k"),
        "no keys declared",
    );
    expect(&cmd!(c; "GET", "other"), "$1\r\no\r\n", "other untouched");
    expect(&cmd!(c; "EXISTS", "k"), ":0\r\n", "k untouched");
    // Declared: fine. Whole-keyspace (flag 32): any key.
    expect(
        &cmd!(c; "EVAL", proxy, "2", "k", "other", "call", req(&["MSET", "k", "1", "other", "2"])),
        "+OK\r\n",
        "declared MSET",
    );
    let whole = with_flags(&proxy, 32);
    expect(
        &cmd!(c; "EVAL", whole, "0", "call", req(&["SET", "anything", "x"]), req(&["GET", "anything"])),
        "$1\r\nx\r\n",
        "whole-keyspace",
    );
    // Commands scripts may not run.
    for forbidden in [
        req(&["MULTI"]),
        req(&["EXEC"]),
        req(&["EVAL", "x", "0"]),
        req(&["SCRIPT", "FLUSH"]),
        req(&["SUBSCRIBE", "ch"]),
    ] {
        expect(
            &cmd!(c; "EVAL", proxy, "0", "call", forbidden),
            "-ERR This Redis command is not allowed from script\r\n",
            &forbidden,
        );
    }
    // Requests that are not an array of bulk strings.
    for bad in [
        "*1\r\n:1\r\n",
        "PING\r\n",
        "*2\r\n$3\r\nGET\r\n",
        "*0\r\n",
        "",
        "*1\r\n$4\r\nPING\r\nextra",
    ] {
        expect(
            &cmd!(c; "EVAL", proxy, "0", "call", bad),
            "-ERR guest request is not a RESP array of bulk strings\r\n",
            &escape(bad.as_bytes()),
        );
    }
    // Redis's texts for scripts (script.c), not the ones a client gets.
    expect(
        &cmd!(c; "EVAL", proxy, "0", "call", req(&["NOSUCHCMD", "a"])),
        "-ERR Unknown Redis command called from script\r\n",
        "unknown command",
    );
    expect(
        &cmd!(c; "EVAL", proxy, "1", "k", "call", req(&["GET"])),
        "-ERR Wrong number of args calling Redis command from script\r\n",
        "arity",
    );
    // Blocking commands: those Redis 7.0 flags noscript (BLPOP ...) are refused like any
    // noscript command; the others never block inside a guest, they answer as on a timeout.
    expect(
        &cmd!(c; "EVAL", proxy, "1", "q", "call", req(&["BLPOP", "q", "0"])),
        "-ERR This Redis command is not allowed from script\r\n",
        "BLPOP inside a guest",
    );
    let started = Instant::now();
    expect(
        &cmd!(c; "EVAL", proxy, "1", "q", "call", req(&["BLMPOP", "0", "1", "q", "LEFT"])),
        "*-1\r\n",
        "BLMPOP inside a guest",
    );
    expect(
        &cmd!(c; "EVAL", proxy, "1", "st", "call", req(&["XREAD", "BLOCK", "0", "STREAMS", "st", "$"])),
        "*-1\r\n",
        "XREAD BLOCK inside a guest",
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a guest blocked"
    );
}

fn pipelined_evalsha(server: &ServerProcess) {
    let mut c = server.connect();
    let sha = load(&mut c, &guest("counter"));
    const N: usize = 2000;
    let mut batch = Vec::new();
    for i in 0..N {
        let key = if i % 2 == 0 { "even" } else { "odd" };
        batch.extend_from_slice(&common::encode_command(&["EVALSHA", &sha, "1", key]));
    }
    c.send_raw(&batch).expect("pipeline");
    for i in 0..N {
        let reply = c.read_reply().expect("pipelined reply");
        expect(
            &reply,
            &format!(":{}\r\n", i / 2 + 1),
            &format!("reply {i}"),
        );
    }
    expect(
        &cmd!(c; "MGET", "even", "odd"),
        "*2\r\n$4\r\n1000\r\n$4\r\n1000\r\n",
        "totals",
    );
}

fn eval_inside_multi_exec(server: &ServerProcess) {
    let mut c = server.connect();
    let counter = guest("counter");
    let sha = load(&mut c, &counter);
    cmd!(c; "SET", "k", "5");
    expect(&cmd!(c; "MULTI"), "+OK\r\n", "MULTI");
    expect(
        &cmd!(c; "EVAL", counter, "1", "k"),
        "+QUEUED\r\n",
        "queued EVAL",
    );
    expect(
        &cmd!(c; "EVALSHA", sha, "1", "k"),
        "+QUEUED\r\n",
        "queued EVALSHA",
    );
    // fails inside EXEC: its SET must be undone, the others stay
    expect(
        &cmd!(c; "EVALSHA", sha, "1", "k", "abc"),
        "+QUEUED\r\n",
        "queued failing",
    );
    expect(
        &cmd!(c; "EVALSHA_RO", sha, "1", "k"),
        "+QUEUED\r\n",
        "queued RO",
    );
    expect(&cmd!(c; "GET", "k"), "+QUEUED\r\n", "queued GET");
    expect(
        &cmd!(c; "EXEC"),
        "*5\r\n:6\r\n:7\r\n-ERR value is not an integer or out of range\r\n-ERR Write commands are not allowed from read-only scripts.\r\n$1\r\n7\r\n",
        "EXEC",
    );
    expect(&cmd!(c; "GET", "k"), "$1\r\n7\r\n", "after EXEC");
    // WATCH sees a script's write like any other.
    let mut other = server.connect();
    cmd!(c; "WATCH", "k");
    expect(
        &cmd!(other; "EVALSHA", sha, "1", "k"),
        ":8\r\n",
        "other client's script",
    );
    cmd!(c; "MULTI");
    cmd!(c; "EVALSHA", sha, "1", "k");
    expect(
        &cmd!(c; "EXEC"),
        "*-1\r\n",
        "EXEC after a watched key changed",
    );
    expect(
        &cmd!(c; "GET", "k"),
        "$1\r\n8\r\n",
        "the transaction did not run",
    );
}

#[test]
fn scripts_are_atomic_against_concurrent_clients() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    let sha = load(&mut c, &guest("proxy"));
    cmd!(c; "SET", "n", "0");
    const THREADS: usize = 4;
    const CALLS: usize = 500;
    let done = Arc::new(AtomicBool::new(false));
    // A reader: every value it sees must be even, since each script adds 2 in two steps.
    let reader = {
        let done = done.clone();
        let mut r = server.connect();
        std::thread::spawn(move || {
            let mut reads = 0u64;
            let deadline = Instant::now() + Duration::from_secs(15);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                let reply = r.command(&["GET", "n"]).expect("GET");
                let v: i64 = common::string_value(&reply)
                    .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok())
                    .unwrap_or_else(|| panic!("GET n replied {}", escape(&reply)));
                assert!(v % 2 == 0, "a reader saw {v}: half of a script's writes");
                reads += 1;
            }
            reads
        })
    };
    let incr = req(&["INCR", "n"]);
    let writers: Vec<_> = (0..THREADS)
        .map(|_| {
            let mut w = server.connect();
            let sha = sha.clone();
            let incr = incr.clone();
            std::thread::spawn(move || {
                for _ in 0..CALLS {
                    let reply = w
                        .command(&["EVALSHA", &sha, "1", "n", "call", &incr, &incr])
                        .expect("EVALSHA");
                    let v = integer_value(&reply)
                        .unwrap_or_else(|| panic!("EVALSHA replied {}", escape(&reply)));
                    assert!(v % 2 == 0, "the script's second INCR replied {v}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("reader thread");
    assert!(reads > 0, "the reader ran");
    expect(
        &cmd!(c; "GET", "n"),
        &bulk(&(THREADS * CALLS * 2).to_string()),
        "final count",
    );
}

fn keyspace_events_only_for_committed_writes(server: &ServerProcess) {
    let mut c = server.connect();
    cmd!(c; "CONFIG", "SET", "notify-keyspace-events", "KEA");
    let mut sub = server.connect();
    expect(
        &cmd!(sub; "SUBSCRIBE", "__keyspace@0__:evk"),
        "*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyspace@0__:evk\r\n:1\r\n",
        "SUBSCRIBE",
    );
    let proxy = guest("proxy");
    let set = req(&["SET", "evk", "v"]);
    expect(
        &cmd!(c; "EVAL", proxy, "1", "evk", "abort", set),
        "-ERR guest said no\r\n",
        "abort",
    );
    expect(
        &cmd!(c; "EVAL", proxy, "1", "evk", "call", set),
        "+OK\r\n",
        "commit",
    );
    // The first event the subscriber sees is the committed SET: none for the undone one.
    sub.set_timeout(Duration::from_secs(2));
    let msg = sub.read_reply().expect("a keyspace event");
    expect(
        &msg,
        "*3\r\n$7\r\nmessage\r\n$18\r\n__keyspace@0__:evk\r\n$3\r\nset\r\n",
        "event of the committed write",
    );
    sub.set_timeout(Duration::from_millis(300));
    assert!(sub.read_reply().is_err(), "exactly one event");
}

// ---------------------------------------------------------------------------------------------
// The tests: grouped by server, since every ember-server start compiles the bundled modules
// ---------------------------------------------------------------------------------------------

#[test]
fn guests_written_from_the_spec() {
    let server = ServerProcess::start_ember(&[]);
    echo_guest_reads_its_input_with_the_retry_rule(&server);
    counter_guest_builds_resp_and_an_uncaught_error_undoes_its_writes(&server);
    a_caught_error_is_the_guests_business(&server);
    malformed_and_hostile_reply_values_are_refused(&server);
}

#[test]
fn replies_match_redis_lua_conversion() {
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    replies_of_every_type_match_redis_lua_conversion(&ember, &redis);
    replies_of_forwarded_commands_match_redis_lua(&ember, &redis);
    verbatim_reply_matches_redis_lua_conversion(&ember, &redis);
}

#[test]
fn script_cache_sha1_and_flush() {
    let server = ServerProcess::start_ember(&[]);
    sha1_is_sha1sum_of_the_body_and_redis_cli_x_loads_files(&server);
    binary_wasm_by_redis_cli_x(&server);
    cmd!(server.connect(); "SCRIPT", "FLUSH");
    noscript_exists_and_flush(&server);
}

#[test]
fn read_only_and_undeclared_keys() {
    let server = ServerProcess::start_ember(&[]);
    read_only_invocations_refuse_writes(&server);
    cmd!(server.connect(); "FLUSHALL");
    undeclared_keys_and_forbidden_commands_are_refused(&server);
}

#[test]
fn pipelining_transactions_and_events() {
    let server = ServerProcess::start_ember(&[]);
    pipelined_evalsha(&server);
    eval_inside_multi_exec(&server);
    keyspace_events_only_for_committed_writes(&server);
}
