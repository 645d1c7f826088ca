//! The wasm example crates (examples/wasm/*) against the real `ember-server`, loaded and called
//! the way their READMEs say: each test replays a README's redis-cli lines and asserts the
//! replies it shows, plus the behaviour the README promises around them.
//!
//! - token_bucket: the README's session, the refill, the error texts, and the Lua twin
//!   (token_bucket.lua) giving the same replies on redis-server.
//! - url_dedup: the README's session, the script-less BF.MADD recipe, and all-or-nothing (a
//!   failed push leaves the Bloom filter unchanged).
//! - mylib: the README's session, loaded with `redis-cli -x FUNCTION LOAD < mylib.wasm`.
//! - lock_owner, counter_take, seat_confirm (the scripts of the pattern examples): the README's
//!   session with the wasm script and its Lua twin on Ember and the Lua twin on redis-server,
//!   byte for byte the same; seat_confirm's sale is published once.
//! - inventory_decrement is run by tests/module_inventory.rs (`inventory_decrement_example_script`);
//!   the url_dedup, rate_limited_api and pattern programs by tests/examples.rs.
//!
//! The .wasm files come from the normal build (host/build.rs builds every guest). Each test runs
//! in about a second.

#[path = "common/mod.rs"]
mod common;

use common::{escape, ServerProcess};
use common::{integer_value, split_aggregate, string_value, Protocol, RespConn};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// target/guests/wasm32-unknown-unknown/release, where the build puts the guests.
fn guests_dir() -> PathBuf {
    option_env!("EMBER_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests/wasm32-unknown-unknown/release")
        })
}

fn wasm_path(name: &str) -> PathBuf {
    let path = guests_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: `cargo build -p ember` builds it",
        path.display()
    );
    path
}

fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn cmd<A: AsRef<[u8]> + std::fmt::Debug>(c: &mut RespConn, args: &[A]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Asserts a reply byte for byte, showing both sides escaped.
fn expect<A: AsRef<[u8]> + std::fmt::Debug>(c: &mut RespConn, args: &[A], want: &str) {
    let reply = cmd(c, args);
    assert_eq!(escape(&reply), escape(want.as_bytes()), "reply to {args:?}");
}

/// `redis-cli -p <port> -x <args...> < file`: the reply as redis-cli prints it.
fn redis_cli_x(server: &ServerProcess, args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "-x"])
        .args(args)
        .stdin(std::fs::File::open(file).expect("open the wasm file"))
        .stderr(Stdio::piped())
        .output()
        .expect("redis-cli runs");
    assert!(
        out.status.success(),
        "redis-cli failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ints(reply: &[u8]) -> Vec<i64> {
    let (_, items) = split_aggregate(reply, Protocol::Resp2)
        .unwrap_or_else(|| panic!("not an array: {}", escape(reply)));
    items
        .iter()
        .map(|i| integer_value(i).unwrap_or_else(|| panic!("not integers: {}", escape(reply))))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// token_bucket
// ---------------------------------------------------------------------------------------------

/// The README's session: take 1 of 10, take 9, refused; the state hash; errors.
fn token_bucket_session(c: &mut RespConn, load: &[&[u8]], call: &str) {
    let sha = cmd(c, load);
    let sha = String::from_utf8(
        string_value(&sha)
            .expect("SCRIPT LOAD replies the SHA1")
            .to_vec(),
    )
    .unwrap();
    let run = |c: &mut RespConn, args: &[&str]| {
        let mut argv = vec![call, sha.as_str(), "1"];
        argv.extend_from_slice(args);
        cmd(c, &argv)
    };
    assert_eq!(ints(&run(c, &["bucket:user42", "10", "2"])), [1, 9]);
    assert_eq!(ints(&run(c, &["bucket:user42", "10", "2", "9"])), [1, 0]);
    assert_eq!(ints(&run(c, &["bucket:user42", "10", "2"])), [0, 0]);
    // The state: a fraction of a token refilled since the last call, and the time in ms.
    let state = cmd(c, &["HMGET", "bucket:user42", "tokens", "ts"]);
    let (_, fields) = split_aggregate(&state, Protocol::Resp2).unwrap();
    let tokens: f64 = std::str::from_utf8(string_value(fields[0]).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..1.0).contains(&tokens), "tokens {tokens}");
    let ts: i64 = std::str::from_utf8(string_value(fields[1]).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(ts > 1_700_000_000_000, "ts {ts}");
    // An idle bucket expires once it would be full again: 10 tokens at 2/s = 5 s.
    let pttl = integer_value(&cmd(c, &["PTTL", "bucket:user42"])).unwrap();
    assert!((1..=5000).contains(&pttl), "PTTL {pttl}");
    // Half a second refills one token.
    std::thread::sleep(Duration::from_millis(550));
    assert_eq!(ints(&run(c, &["bucket:user42", "10", "2"])), [1, 0]);
}

#[test]
fn token_bucket_readme_and_lua_twin() {
    let server = ServerProcess::start_ember(&[]);
    let path = wasm_path("token_bucket");
    let sha = redis_cli_x(&server, &["SCRIPT", "LOAD"], &path);
    assert_eq!(sha.len(), 40, "redis-cli -x SCRIPT LOAD printed {sha:?}");
    let mut c = server.connect();
    let body = wasm("token_bucket");
    token_bucket_session(&mut c, &[b"SCRIPT", b"LOAD", &body], "EVALSHA");
    // Clients that send the body themselves.
    expect(
        &mut c,
        &[&b"EVAL"[..], &body, b"1", b"bucket:other", b"5", b"1"],
        "*2\r\n:1\r\n:4\r\n",
    );
    let errors: [(&[&str], &str); 4] = [
        (&["b", "10", "x"], "-ERR value is not a valid float\r\n"),
        (
            &["b", "10"],
            "-ERR wrong number of arguments: ARGV[2] is missing\r\n",
        ),
        (
            &["b", "0", "2"],
            "-ERR capacity and rate must be positive, requested not negative\r\n",
        ),
        (
            &["b", "10", "2", "-1"],
            "-ERR capacity and rate must be positive, requested not negative\r\n",
        ),
    ];
    for (args, want) in errors {
        let mut argv = vec!["EVALSHA", sha.as_str(), "1"];
        argv.extend_from_slice(args);
        expect(&mut c, &argv, want);
    }
    assert_eq!(cmd(&mut c, &["EXISTS", "b"]), b":0\r\n");

    // The Lua twin on redis-server answers the same session the same way.
    let redis = ServerProcess::start_redis(&[]);
    let lua_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/wasm/token_bucket/token_bucket.lua");
    let lua = std::fs::read(&lua_path).expect("read token_bucket.lua");
    let mut r = redis.connect();
    token_bucket_session(&mut r, &[b"SCRIPT", b"LOAD", &lua], "EVALSHA");
}

// ---------------------------------------------------------------------------------------------
// url_dedup
// ---------------------------------------------------------------------------------------------

#[test]
fn url_dedup_readme_and_all_or_nothing() {
    let server = ServerProcess::start_ember(&[]);
    let sha = redis_cli_x(&server, &["SCRIPT", "LOAD"], &wasm_path("url_dedup"));
    assert_eq!(sha.len(), 40, "redis-cli -x SCRIPT LOAD printed {sha:?}");
    let mut c = server.connect();
    let home = "https://example.test/";
    let (a, b) = ("https://example.test/a", "https://example.test/b");
    let run = |c: &mut RespConn, frontier: &str, urls: &[&str]| {
        let mut argv = vec!["EVALSHA", sha.as_str(), "2", "crawl:seen", frontier];
        argv.extend_from_slice(urls);
        cmd(c, &argv)
    };

    expect(
        &mut c,
        &["BF.RESERVE", "crawl:seen", "0.001", "100000"],
        "+OK\r\n",
    );
    assert_eq!(run(&mut c, "crawl:frontier", &[home]), b":1\r\n");
    assert_eq!(run(&mut c, "crawl:frontier", &[home, a, b, a]), b":2\r\n");
    let frontier = cmd(&mut c, &["LRANGE", "crawl:frontier", "0", "-1"]);
    let (_, urls) = split_aggregate(&frontier, Protocol::Resp2).unwrap();
    let urls: Vec<&[u8]> = urls.iter().map(|u| string_value(u).unwrap()).collect();
    assert_eq!(urls, [home.as_bytes(), a.as_bytes(), b.as_bytes()]);
    assert_eq!(
        string_value(&cmd(&mut c, &["LPOP", "crawl:frontier"])),
        Some(home.as_bytes())
    );
    // Seen URLs stay seen after they leave the frontier.
    assert_eq!(run(&mut c, "crawl:frontier", &[home]), b":0\r\n");
    // No URLs: nothing to do.
    assert_eq!(run(&mut c, "crawl:frontier", &[]), b":0\r\n");

    // The recipe without a script.
    let c_url = "https://example.test/c";
    expect(
        &mut c,
        &["BF.MADD", "crawl:seen", b, c_url],
        "*2\r\n:0\r\n:1\r\n",
    );

    // All-or-nothing: the push fails (the frontier is not a list), so the URL is not left
    // marked as seen in the filter either.
    let d = "https://example.test/d";
    expect(&mut c, &["SET", "not-a-list", "x"], "+OK\r\n");
    assert_eq!(
        run(&mut c, "not-a-list", &[d]),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    expect(&mut c, &["BF.EXISTS", "crawl:seen", d], ":0\r\n");
    assert_eq!(run(&mut c, "crawl:frontier", &[d]), b":1\r\n");
    expect(&mut c, &["LLEN", "crawl:frontier"], ":3\r\n");

    // Both keys are required.
    let reply = cmd(&mut c, &["EVALSHA", &sha, "1", "crawl:seen", home]);
    assert!(reply.starts_with(b"-ERR "), "{}", escape(&reply));
    // Without BF.RESERVE the filter is created with RedisBloom's defaults.
    let mut argv = vec!["EVALSHA", sha.as_str(), "2", "fresh:seen", "fresh:frontier"];
    argv.extend_from_slice(&[home, a]);
    expect(&mut c, &argv, ":2\r\n");
    // (RedisBloom answers one field as a one-element array.)
    let info = cmd(&mut c, &["BF.INFO", "fresh:seen", "CAPACITY"]);
    assert_eq!(ints(&info), [100]);
}

// ---------------------------------------------------------------------------------------------
// mylib
// ---------------------------------------------------------------------------------------------

#[test]
fn mylib_readme() {
    let server = ServerProcess::start_ember(&[]);
    let path = wasm_path("mylib");
    assert_eq!(redis_cli_x(&server, &["FUNCTION", "LOAD"], &path), "mylib");
    let mut c = server.connect();
    expect(
        &mut c,
        &["FCALL", "counter_incr", "1", "hits:home"],
        ":1\r\n",
    );
    expect(
        &mut c,
        &["FCALL", "counter_incr", "1", "hits:home", "41"],
        ":42\r\n",
    );
    expect(
        &mut c,
        &["FCALL_RO", "counter_get", "1", "hits:home"],
        ":42\r\n",
    );
    expect(
        &mut c,
        &["FCALL_RO", "counter_incr", "1", "hits:home"],
        "-ERR Can not execute a script with write flag using *_ro command.\r\n",
    );
    expect(
        &mut c,
        &["FCALL", "counter_incr_capped", "1", "hits:home", "10", "50"],
        "-ERR counter would pass its cap of 50\r\n",
    );
    expect(&mut c, &["GET", "hits:home"], "$2\r\n42\r\n");
    expect(
        &mut c,
        &["FCALL", "counter_incr", "1", "hits:about", "8"],
        ":8\r\n",
    );
    expect(
        &mut c,
        &["FCALL_RO", "counter_total", "0", "hits:*"],
        ":50\r\n",
    );
    let list = cmd(&mut c, &["FUNCTION", "LIST", "LIBRARYNAME", "mylib"]);
    for word in ["mylib", "WASM", "counter_total", "whole-keyspace"] {
        assert!(
            escape(&list).contains(word),
            "FUNCTION LIST lacks {word}: {}",
            escape(&list)
        );
    }
    assert_eq!(
        redis_cli_x(&server, &["FUNCTION", "LOAD", "REPLACE"], &path),
        "mylib"
    );
    expect(&mut c, &["FUNCTION", "DELETE", "mylib"], "+OK\r\n");
    expect(
        &mut c,
        &["FCALL", "counter_get", "1", "hits:home"],
        "-ERR Function not found\r\n",
    );
}

// ---------------------------------------------------------------------------------------------
// lock_owner, counter_take, seat_confirm: the scripts of the pattern examples, each with a Lua
// twin. The READMEs' sessions, run with the wasm script and the Lua twin on Ember and with the
// Lua twin on redis-server: the same replies, byte for byte.
// ---------------------------------------------------------------------------------------------

/// The Lua twin of an example script: examples/wasm/<name>/<name>.lua.
fn lua_twin(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../examples/wasm/{name}/{name}.lua"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Loads `body`, then runs `session`: each line's `$SHA` becomes the script's SHA1, and its
/// reply must be the given RESP text.
fn twin_session(c: &mut RespConn, body: &[u8], session: &[(&[&str], &str)]) {
    let sha = cmd(c, &[&b"SCRIPT"[..], b"LOAD", body]);
    let sha = String::from_utf8_lossy(string_value(&sha).expect("SCRIPT LOAD replies the SHA1"))
        .into_owned();
    for (args, want) in session {
        let argv: Vec<&str> = args
            .iter()
            .map(|a| if *a == "$SHA" { sha.as_str() } else { a })
            .collect();
        expect(c, &argv, want);
    }
}

/// Runs the session with the wasm script and its Lua twin on Ember, and the Lua twin on Redis.
fn twins_agree(name: &str, session: &[(&[&str], &str)]) {
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    for (server, body) in [
        (&ember, wasm(name)),
        (&ember, lua_twin(name)),
        (&redis, lua_twin(name)),
    ] {
        let mut c = server.connect();
        expect(&mut c, &["FLUSHALL"], "+OK\r\n");
        twin_session(&mut c, &body, session);
    }
}

#[test]
fn lock_owner_readme_and_lua_twin() {
    let ev = |op: &'static str, token: &'static str| -> Vec<&'static str> {
        vec!["EVALSHA", "$SHA", "1", "lock:report", op, token]
    };
    let release_wrong = ev("release", "wrong-token");
    let mut extend = ev("extend", "9f2c41d7");
    extend.push("60000");
    let release = ev("release", "9f2c41d7");
    let bad = ev("steal", "9f2c41d7");
    twins_agree(
        "lock_owner",
        &[
            (
                &["SET", "lock:report", "9f2c41d7", "NX", "PX", "30000"],
                "+OK\r\n",
            ),
            (&release_wrong, ":0\r\n"),
            (&extend, ":1\r\n"),
            (&bad, "-ERR unknown operation, use release or extend\r\n"),
            (&["EXISTS", "lock:report"], ":1\r\n"),
            (&release, ":1\r\n"),
            (&release, ":0\r\n"),
            (&extend, ":0\r\n"),
            (&["EXISTS", "lock:report"], ":0\r\n"),
        ],
    );
}

#[test]
fn counter_take_readme_and_lua_twin() {
    let take = |batch: &'static str| -> [&'static str; 5] {
        ["EVALSHA", "$SHA", "2", "{ctr}:live", batch]
    };
    twins_agree(
        "counter_take",
        &[
            (&take("{ctr}:batch:0"), "*0\r\n"),
            (&["HINCRBY", "{ctr}:live", "page:home", "3"], ":3\r\n"),
            (
                &take("{ctr}:batch:1"),
                "*2\r\n$9\r\npage:home\r\n$1\r\n3\r\n",
            ),
            (&["EXISTS", "{ctr}:live"], ":0\r\n"),
            (&take("{ctr}:batch:2"), "*0\r\n"),
            // A batch left by a flusher that died: returned again, the live hash untouched.
            (&["HINCRBY", "{ctr}:live", "page:about", "1"], ":1\r\n"),
            (
                &take("{ctr}:batch:1"),
                "*2\r\n$9\r\npage:home\r\n$1\r\n3\r\n",
            ),
            (&["HGET", "{ctr}:live", "page:about"], "$1\r\n1\r\n"),
            (&["EXISTS", "{ctr}:batch:0", "{ctr}:batch:2"], ":0\r\n"),
        ],
    );
}

#[test]
fn seat_confirm_readme_and_lua_twin() {
    let confirm = |buyer: &'static str| -> [&'static str; 6] {
        [
            "EVALSHA",
            "$SHA",
            "1",
            "show7:seat:A2",
            buyer,
            "show7:seatmap",
        ]
    };
    let session: &[(&[&str], &str)] = &[
        (
            &["SET", "show7:seat:A2", "held:u42", "NX", "PX", "600000"],
            "+OK\r\n",
        ),
        (&confirm("u17"), ":0\r\n"),
        (&confirm("u42"), ":1\r\n"),
        (&["GET", "show7:seat:A2"], "$8\r\nsold:u42\r\n"),
        (&["TTL", "show7:seat:A2"], ":-1\r\n"),
        (&confirm("u42"), ":0\r\n"),
        (
            &["SET", "show7:seat:A2", "held:u17", "NX", "PX", "600000"],
            "$-1\r\n",
        ),
    ];
    twins_agree("seat_confirm", session);

    // The sale is published on the seat-map channel (once: the second confirm publishes nothing).
    let ember = ServerProcess::start_ember(&[]);
    for body in [wasm("seat_confirm"), lua_twin("seat_confirm")] {
        let mut sub = ember.connect();
        expect(
            &mut sub,
            &["SUBSCRIBE", "show7:seatmap"],
            "*3\r\n$9\r\nsubscribe\r\n$13\r\nshow7:seatmap\r\n:1\r\n",
        );
        let mut c = ember.connect();
        expect(&mut c, &["FLUSHALL"], "+OK\r\n");
        twin_session(&mut c, &body, session);
        let msg = sub.read_reply().expect("the sale's message");
        assert_eq!(
            escape(&msg),
            escape(
                b"*3\r\n$7\r\nmessage\r\n$13\r\nshow7:seatmap\r\n$22\r\nsold show7:seat:A2 u42\r\n"
            )
        );
        sub.set_timeout(Duration::from_millis(200));
        assert!(sub.read_reply().is_err(), "a second sale was published");
    }
}
