//! MONITOR against the real redis-server 7.0: the same commands (plain, inside MULTI/EXEC,
//! inside Lua scripts and functions, refused ones, secrets) run on both servers while a second
//! connection monitors, and the lines it receives must be identical once the timestamp and the
//! client's port (which differ between any two runs) are masked.

#[path = "common/mod.rs"]
mod common;
#[path = "common/guests.rs"]
mod guests;

use common::{RespConn, ServerProcess};
use std::time::Duration;

fn cmd<A: AsRef<[u8]>>(c: &mut RespConn, args: &[A]) -> Vec<u8> {
    c.send(args).expect("send");
    c.read_reply().expect("reply")
}

/// The client's own address as the server sees it (CLIENT INFO's addr=).
fn peer(c: &mut RespConn) -> String {
    let info = String::from_utf8_lossy(&cmd(c, &["CLIENT", "INFO"])).to_string();
    info.split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr")
        .to_string()
}

/// Checks a line's shape and masks its timestamp and the client address.
fn masked(line: &[u8], addr: &str) -> String {
    let text = String::from_utf8_lossy(line).to_string();
    let rest = text.strip_prefix('+').expect("a status line");
    let (ts, rest) = rest.split_once(' ').expect("timestamp");
    let (secs, usecs) = ts.split_once('.').expect("secs.usecs");
    assert!(secs.parse::<u64>().is_ok(), "{text}");
    assert!(usecs.len() == 6 && usecs.parse::<u32>().is_ok(), "{text}");
    rest.replace(addr, "ADDR")
}

/// Runs the scenario on one server and returns the monitor's masked lines.
fn scenario(server: &ServerProcess) -> Vec<String> {
    let mut mon = server.connect();
    mon.set_timeout(Duration::from_secs(5));
    assert_eq!(cmd(&mut mon, &["MONITOR"]), b"+OK\r\n");
    let mut c = server.connect();
    let addr = peer(&mut c);
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["get", "a"],
        &["SET", "spaced key", "quote\" back\\ nl\n cr\r tab\t bell\x07 bs\x08 nul\x00 high\u{e9}"],
        &["MULTI"],
        &["SET", "b", "2"],
        &["INCR", "b"],
        &["EXEC"],
        &["MULTI"],
        &["SET", "b", "3"],
        &["NOSUCHCOMMAND", "x"],
        &["EXEC"],
        &["EXEC"],
        &["MULTI"],
        &["GET", "a"],
        &["DISCARD"],
        &[
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])",
            "1",
            "lk",
            "lv",
        ],
        &["EVAL", "return 1", "notanumber"],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=mylib\nredis.register_function('f', function(keys, args) return redis.call('incr', keys[1]) end)",
        ],
        &["FCALL", "f", "1", "counter"],
        &["FCALL", "nosuchfunction", "0"],
        &["AUTH", "secret"],
        &["AUTH", "user", "secret"],
        &["AUTH", "a", "b", "c"],
        &["HELLO", "2", "AUTH", "default", "secret"],
        &["HELLO", "9", "AUTH", "default", "secret"],
        &["HELLO", "3", "SETNAME", "x", "AUTH", "default", "pw"],
        &["CONFIG", "GET", "maxmemory"],
        &["GET"],
        &["SELECT", "2"],
        &["SET", "in2", "v"],
        &["BLPOP", "nothing", "0.01"],
        &["PING"],
    ];
    // The RESP3 decoder reads RESP2 too: HELLO 3 may switch the connection.
    c.set_protocol(common::Protocol::Resp3);
    for args in script {
        cmd(&mut c, args);
    }
    // The marker: every line before it has been sent.
    cmd(&mut c, &["ECHO", "the-end"]);
    let mut lines = Vec::new();
    loop {
        let line = mon.read_reply().expect("a monitor line");
        let m = masked(&line, &addr);
        let done = m.ends_with("\"ECHO\" \"the-end\"\r\n");
        lines.push(m);
        if done {
            break;
        }
        assert!(lines.len() < 200, "no end marker: {lines:#?}");
    }
    lines
}

#[test]
fn monitor_lines_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let a = scenario(&redis);
    let b = scenario(&ember);
    assert_eq!(a, b, "redis (left) vs ember (right)");
    // The things that matter, spelled out.
    assert!(a.iter().any(|l| l == "[0 lua] \"set\" \"lk\" \"lv\"\r\n"));
    assert!(a
        .iter()
        .any(|l| l == "[0 ADDR] \"AUTH\" \"(redacted)\"\r\n"));
    assert!(
        !a.iter().any(|l| l.contains("CONFIG")),
        "admin commands are hidden"
    );
}

#[test]
fn monitor_client_state() {
    let ember = ServerProcess::start_ember(&[]);
    let mut mon = ember.connect();
    assert_eq!(cmd(&mut mon, &["MONITOR"]), b"+OK\r\n");
    let list = String::from_utf8_lossy(&cmd(&mut ember.connect(), &["CLIENT", "LIST"])).to_string();
    assert!(list.contains("flags=O "), "{list}");
    // RESET leaves monitor mode: a later command is not shown to it.
    mon.send(&["RESET"]).expect("send");
    assert_eq!(mon.read_reply().expect("reset"), b"+RESET\r\n");
    let mut other = ember.connect();
    cmd(&mut other, &["SET", "x", "1"]);
    assert_eq!(
        cmd(&mut mon, &["PING"]),
        b"+PONG\r\n",
        "no monitor line queued"
    );
    // Inside MULTI, MONITOR is refused when EXEC runs it (as Redis).
    let mut m2 = ember.connect();
    cmd(&mut m2, &["MULTI"]);
    cmd(&mut m2, &["MONITOR"]);
    let exec = cmd(&mut m2, &["EXEC"]);
    assert_eq!(
        String::from_utf8_lossy(&exec),
        "*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n"
    );
}

/// A wasm script's commands are shown like a Lua script's: after the EVAL, as `lua`.
#[test]
fn monitor_shows_wasm_script_commands() {
    let ember = ServerProcess::start_ember(&[]);
    let mut mon = ember.connect();
    assert_eq!(cmd(&mut mon, &["MONITOR"]), b"+OK\r\n");
    let mut c = ember.connect();
    let proxy = guests::guest("proxy");
    let set = guests::req(&["SET", "wk", "wv"]);
    let r = cmd(
        &mut c,
        &["EVAL", proxy.as_str(), "1", "wk", "call", set.as_str()],
    );
    assert_eq!(r, b"+OK\r\n");
    let addr = peer(&mut c);
    let first = masked(&mon.read_reply().expect("line"), &addr);
    assert!(first.starts_with("[0 ADDR] \"EVAL\" \""), "{first}");
    let second = masked(&mon.read_reply().expect("line"), &addr);
    assert_eq!(second, "[0 lua] \"SET\" \"wk\" \"wv\"\r\n");
}
