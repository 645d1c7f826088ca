//! The Lua engine against redis-server 7.0, differentially: the same Lua bodies run on both and
//! the replies are compared byte for byte, errors included (their "script: <sha>" suffixes too:
//! the same body has the same SHA1 on both), over RESP2 and RESP3.
//!
//! Covered here: the `redis` API (call, pcall, error_reply, status_reply, sha1hex, log and its
//! errors, setresp, set_repl, replicate_commands, breakpoint, debug, acl_check_cmd, the
//! constants), KEYS/ARGV, Lua↔RESP conversion rules both ways (numbers truncated, false→nil,
//! ok/err tables, arrays stopping at the first nil, RESP3 maps/sets/doubles/booleans), the
//! sandbox (read-only globals and libraries, unknown globals, the globals allow-list, bytecode
//! refused), math.random's sequence, compile and runtime error texts, shebang flags, EVALSHA /
//! SCRIPT LOAD, and FUNCTION LOAD / FCALL of Lua libraries. Ember-only behaviour (rollback of an
//! uncaught error's writes, limits, KILL) is asserted directly.
//!
//! The libraries cjson, cmsgpack, bit and struct and the broader corpus are tested elsewhere.

#[path = "common/mod.rs"]
mod common;

use common::{escape, Protocol, RespConn, ServerProcess};
use std::time::{Duration, Instant};

/// One step: a command, run on both servers.
type Step = &'static [&'static str];

fn run_both(ember: &mut RespConn, redis: &mut RespConn, step: &[&str], what: &str) {
    let a = ember.command(step).expect("ember reply");
    let b = redis.command(step).expect("redis reply");
    assert_eq!(
        escape(&a),
        escape(&b),
        "{what}: {:?}\n ember: {}\n redis: {}",
        step,
        escape(&a),
        escape(&b)
    );
}

/// A connection to `ember` after the Lua engine is compiled (its first use compiles the
/// interpreter module, which takes seconds in a debug build on a busy machine).
fn connect_warm(ember: &ServerProcess) -> RespConn {
    let mut c = ember.connect();
    c.set_timeout(Duration::from_secs(120));
    assert_eq!(
        c.command(&["EVAL", "return 1", "0"]).expect("warm"),
        b":1\r\n"
    );
    c.set_timeout(common::REPLY_TIMEOUT);
    c
}

/// The reply as text, for messages and substring checks.
fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

fn connect_pair(
    ember: &ServerProcess,
    redis: &ServerProcess,
    proto: Protocol,
) -> (RespConn, RespConn) {
    let mut e = connect_warm(ember);
    let mut r = redis.connect();
    if proto == Protocol::Resp3 {
        e.set_protocol(Protocol::Resp3);
        r.set_protocol(Protocol::Resp3);
        e.command(&["HELLO", "3"]).expect("hello");
        r.command(&["HELLO", "3"]).expect("hello");
    }
    (e, r)
}

const EVAL_CASES: &[Step] = &[
    // values and conversions, Lua -> RESP
    &["EVAL", "return 1", "0"],
    &["EVAL", "return 3.99", "0"],
    &["EVAL", "return -3.7", "0"],
    &["EVAL", "return 1e20", "0"],
    &["EVAL", "return 'hello'", "0"],
    &["EVAL", "return true", "0"],
    &["EVAL", "return false", "0"],
    &["EVAL", "return nil", "0"],
    &["EVAL", "return {1, 2, 3.5, 'x', nil, 5}", "0"],
    &["EVAL", "return {1, {2, {3, false, 4}}, 'z'}", "0"],
    &["EVAL", "return {}", "0"],
    &["EVAL", "return {a = 1}", "0"],
    &["EVAL", "return {ok = 'fine'}", "0"],
    &["EVAL", "return {ok = 'two\\nlines'}", "0"],
    &["EVAL", "return {err = 'boom'}", "0"],
    &["EVAL", "return {err = 'a\\nb'}", "0"],
    &["EVAL", "return {double = 3.5}", "0"],
    &["EVAL", "return {map = {a = 1}}", "0"],
    &["EVAL", "return {set = {a = true}}", "0"],
    &["EVAL", "return {1, {err = 'inner'}, 3}", "0"],
    &["EVAL", "return {1, {ok = 'inner'}, 3}", "0"],
    &["EVAL", "redis.setresp(3) return true", "0"],
    &["EVAL", "redis.setresp(3) return false", "0"],
    &["EVAL", "redis.setresp(3) return {double = 1.5}", "0"],
    // KEYS and ARGV
    &["EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", "2", "k1", "k2", "a1", "a2"],
    &["EVAL", "return #KEYS .. #ARGV", "0"],
    // redis.call / pcall, RESP -> Lua
    &["EVAL", "redis.call('set', KEYS[1], 'v') return redis.call('get', KEYS[1])", "1", "lk1"],
    &["EVAL", "return redis.call('get', 'nosuchkey')", "0"],
    &["EVAL", "return type(redis.call('get', 'nosuchkey'))", "0"],
    &["EVAL", "return redis.call('set', 'lk2', 'x')", "0"],
    &["EVAL", "return type(redis.call('set', 'lk2', 'x'))", "0"],
    &["EVAL", "return redis.call('set', 'lk3', 0.1) and redis.call('get', 'lk3')", "0"],
    &["EVAL", "return redis.call('set', 'lk3', 12345678901234) and redis.call('get', 'lk3')", "0"],
    &["EVAL", "return redis.call('incr', 'lk1')", "0"],
    &["EVAL", "return redis.pcall('incr', 'lk1')", "0"],
    &["EVAL", "local r = redis.pcall('incr', 'lk1') return r.err", "0"],
    &["EVAL", "return {pcall(redis.call, 'incr', 'lk1')}", "0"],
    &["EVAL", "local ok, e = pcall(redis.call, 'incr', 'lk1') return e.err", "0"],
    &["EVAL", "return redis.call('nosuch')", "0"],
    &["EVAL", "return redis.pcall('nosuch')", "0"],
    &["EVAL", "return redis.call('get')", "0"],
    &["EVAL", "return redis.call()", "0"],
    &["EVAL", "return redis.pcall()", "0"],
    &["EVAL", "return redis.call('set', 'k', {})", "0"],
    &["EVAL", "return redis.call('multi')", "0"],
    &["EVAL", "redis.call('rpush', 'll', 'a', 'b') return redis.call('lrange', 'll', 0, -1)", "0"],
    &["EVAL", "redis.call('hset', 'hh', 'f', '1') return redis.call('hgetall', 'hh')", "0"],
    &["EVAL", "redis.setresp(3) return redis.call('hgetall', 'hh')", "0"],
    &["EVAL", "redis.setresp(3) local r = redis.call('hgetall', 'hh') return r.map.f", "0"],
    &["EVAL", "redis.setresp(3) local r = redis.call('smembers', 'nosuchset') return type(r.set)", "0"],
    &["EVAL", "redis.setresp(3) return type(redis.call('get', 'nosuchkey'))", "0"],
    &["EVAL", "redis.call('zadd', 'zz', 1.5, 'm') redis.setresp(3) local r = redis.call('zscore', 'zz', 'm') return {type(r), r.double}", "0"],
    &["EVAL", "redis.call('zadd', 'zz', 1.5, 'm') return redis.call('zscore', 'zz', 'm')", "0"],
    // helpers
    &["EVAL", "return redis.error_reply('My Error')", "0"],
    &["EVAL", "return redis.error_reply('x')", "0"],
    &["EVAL", "return redis.error_reply('-WRONG x y')", "0"],
    &["EVAL", "return redis.error_reply()", "0"],
    &["EVAL", "return redis.status_reply('OK x')", "0"],
    &["EVAL", "return redis.status_reply()", "0"],
    &["EVAL", "return redis.sha1hex('')", "0"],
    &["EVAL", "return redis.sha1hex('The quick brown fox jumps over the lazy dog, twice over: the quick brown fox jumps over the lazy dog')", "0"],
    &["EVAL", "return redis.sha1hex()", "0"],
    &["EVAL", "return redis.log(redis.LOG_WARNING, 'from a test', 1, {})", "0"],
    &["EVAL", "return redis.log(99, 'x')", "0"],
    &["EVAL", "return redis.log('x', 'y')", "0"],
    &["EVAL", "return redis.log(1)", "0"],
    &["EVAL", "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}", "0"],
    &["EVAL", "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}", "0"],
    &["EVAL", "return redis.REDIS_VERSION .. ' ' .. redis.REDIS_VERSION_NUM", "0"],
    &["EVAL", "return redis.setresp(4)", "0"],
    &["EVAL", "return redis.setresp()", "0"],
    &["EVAL", "return redis.set_repl(7)", "0"],
    &["EVAL", "return redis.set_repl()", "0"],
    &["EVAL", "redis.set_repl(redis.REPL_ALL) return 1", "0"],
    &["EVAL", "return redis.replicate_commands()", "0"],
    &["EVAL", "return redis.breakpoint()", "0"],
    &["EVAL", "return redis.debug('x')", "0"],
    &["EVAL", "return redis.acl_check_cmd('get', 'x')", "0"],
    &["EVAL", "return redis.acl_check_cmd('nosuch')", "0"],
    &["EVAL", "return redis.acl_check_cmd()", "0"],
    // errors and their texts
    &["EVAL", "error('x')", "0"],
    &["EVAL", "error({err = 'MYERR here'})", "0"],
    &["EVAL", "error(42)", "0"],
    &["EVAL", "local f = function() error('deep') end\nf()", "0"],
    &["EVAL", "\n\nlocal x = nil + 1", "0"],
    &["EVAL", "return 1 +", "0"],
    &["EVAL", "return pcall(error, 'x')", "0"],
    &["EVAL", "return select(2, pcall(error, 'x'))", "0"],
    &["EVAL", "return math.floor('x')", "0"],
    // the sandbox
    &["EVAL", "return a", "0"],
    &["EVAL", "a = 5", "0"],
    &["EVAL", "string.foo = 1", "0"],
    &["EVAL", "rawset(_G, 'x', 1)", "0"],
    &["EVAL", "setmetatable(_G, {})", "0"],
    &["EVAL", "local ok, e = pcall(function() string.x = 1 end) return e", "0"],
    &["EVAL", "local t = {} t.x = 1 return t.x", "0"],
    &["EVAL", "return tostring(print)", "0"],
    &["EVAL", "return type(debug)", "0"],
    &["EVAL", "return type(loadfile)", "0"],
    &["EVAL", "return type(loadstring)", "0"],
    &["EVAL", "return {loadstring(string.dump(function() return 1 end))}", "0"],
    &["EVAL", "return select(2, loadstring(string.dump(function() return 1 end)))", "0"],
    &["EVAL", "return loadstring('return 1 + 1')()", "0"],
    &["EVAL", "return type(__redis__err__handler)", "0"],
    &["EVAL", "return type(getmetatable(_G))", "0"],
    &["EVAL", "local t = {} for k in pairs(redis) do t[#t + 1] = k end table.sort(t) return t", "0"],
    &["EVAL", "return {math.random(1000), math.random(1000), math.random(5, 9)}", "0"],
    &["EVAL", "math.randomseed(7) return {math.random(1000), math.random(1000)}", "0"],
    &["EVAL", "return string.format('%5.2f|%d|%s|%q', 3.14159, 42, 'x', 'a\\nb')", "0"],
    &["EVAL", "return tostring(1/3)", "0"],
    &["EVAL", "return table.concat({1, 2, 3}, ',')", "0"],
    // shebangs
    &["EVAL", "#!lua\nreturn 1", "0"],
    &["EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'k', 'v')", "0"],
    &["EVAL", "#!lua flags=no-writes,allow-oom\nreturn redis.call('get', 'lk1')", "0"],
    &["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
    &["EVAL", "#!lua foo=bar\nreturn 1", "0"],
    &["EVAL", "#!python\nreturn 1", "0"],
    &["EVAL", "#!lua\nerror('on line two')", "0"],
    &["EVAL_RO", "return redis.call('set', 'k', 'v')", "0"],
    &["EVAL_RO", "return redis.call('get', 'lk1')", "0"],
    &["EVAL_RO", "#!lua\nreturn 1", "0"],
    &["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"],
    // numkeys
    &["EVAL", "return 1", "-1"],
    &["EVAL", "return 1", "3", "a"],
    &["EVAL", "return 1", "x"],
    // the cache
    &["SCRIPT", "LOAD", "return 'loaded'"],
    &["EVALSHA", "a9e6d7dd5a2a8c4bb0d7d0e4e0b1f4d2b8d8e3f1", "0"],
    &["SCRIPT", "LOAD", "return 1 +"],
    &["SCRIPT", "EXISTS", "fdfd5fbf48c6b2c8ec8ec9b15cd4b1aa57b0e6b8"],
];

#[test]
fn eval_matches_redis_resp2_and_resp3() {
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let (mut e, mut r) = connect_pair(&ember, &redis, proto);
        run_both(&mut e, &mut r, &["FLUSHALL"], "flush");
        run_both(&mut e, &mut r, &["SET", "s1", "abc"], "setup");
        for step in EVAL_CASES {
            run_both(&mut e, &mut r, step, &format!("{proto:?}"));
        }
        // EVALSHA of what SCRIPT LOAD returned
        let sha = e
            .command(&["SCRIPT", "LOAD", "return ARGV[1]"])
            .expect("load");
        let sha = String::from_utf8_lossy(&sha[sha.len() - 42..sha.len() - 2]).to_string();
        r.command(&["SCRIPT", "LOAD", "return ARGV[1]"])
            .expect("load");
        run_both(&mut e, &mut r, &["EVALSHA", &sha, "0", "x"], "evalsha");
        run_both(
            &mut e,
            &mut r,
            &["EVALSHA", &sha.to_uppercase(), "0", "y"],
            "evalsha upper",
        );
        run_both(
            &mut e,
            &mut r,
            &["EVALSHA_RO", &sha, "0", "z"],
            "evalsha_ro",
        );
        run_both(
            &mut e,
            &mut r,
            &["SCRIPT", "EXISTS", &sha, "nope"],
            "exists",
        );
    }
}

const FUNCTION_CASES: &[Step] = &[
    &["FUNCTION", "FLUSH"],
    &["FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)\nredis.register_function{function_name='f2', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='desc'}\nlocal function helper() return redis.call('ping') end\nredis.register_function('f3', function(keys, args) error('boom') end)\nredis.register_function('f4', function(keys, args) return helper() end)\nredis.register_function('f5', function(keys, args) return a_global end)\n"],
    &["FCALL", "f1", "1", "k", "a"],
    &["FCALL", "F1", "1", "k", "a"],
    &["FCALL", "f2", "1", "k"],
    &["FCALL", "f3", "0"],
    &["FCALL", "f4", "0"],
    &["FCALL", "f5", "0"],
    &["FCALL_RO", "f1", "0"],
    &["FCALL_RO", "f2", "1", "k"],
    &["FCALL", "nosuch", "0"],
    &["FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('g', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib2\nredis.call('ping')"],
    &["FUNCTION", "LOAD", "#!lua\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=lib3\nredis.register_function('f1', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib4\nx = 1"],
    &["FUNCTION", "LOAD", "#!lua name=lib5\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=lib7\nredis.register_function{function_name='h', callback=function() end, flags={'bogus'}}"],
    &["FUNCTION", "LOAD", "#!lua name=lib8\nredis.register_function{function_name='h', callback=function() end, foo=1}"],
    &["FUNCTION", "LOAD", "#!lua name=lib9\nredis.register_function('h')"],
    &["FUNCTION", "LOAD", "#!lua name=lib10 foo=bar\n"],
    &["FUNCTION", "LOAD", "#!lua name=lib11\nlocal x = redis.setresp"],
    &["FUNCTION", "LOAD", "#!lua name=lib12\nredis.register_function('h', 'x')"],
    &["FUNCTION", "LOAD", "#!lua name=lib13\nreturn 1 +"],
    &["FUNCTION", "LOAD", "#!lua name=lib14\nredis.register_function('h+', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib15\nredis.log(redis.LOG_WARNING, 'hi') return math.random()"],
    &["FUNCTION", "LOAD", "#!lua name=dup\nredis.register_function('a', function() end)\nredis.register_function('a', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=bad-name\nredis.register_function('a', function() end)"],
    &["FUNCTION", "LOAD", "no shebang"],
    &["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib1\nredis.register_function('g', function() return 2 end)"],
    &["FCALL", "g", "0"],
    &["FCALL", "f1", "0"],
    &["FUNCTION", "LIST", "WITHCODE"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "DELETE", "lib1"],
    &["FCALL", "g", "0"],
];

#[test]
fn lua_functions_match_redis() {
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let (mut e, mut r) = connect_pair(&ember, &redis, proto);
        for step in FUNCTION_CASES {
            run_both(&mut e, &mut r, step, &format!("{proto:?}"));
        }
    }
}

/// DUMP from Ember, RESTORE on Ember: Lua libraries survive the round trip.
#[test]
fn lua_library_dump_restore() {
    let ember = ServerProcess::start_ember(&[]);
    let mut c = connect_warm(&ember);
    let load = c
        .command(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=kept\nredis.register_function('kept_f', function(k, a) return 'kept ' .. a[1] end)",
        ])
        .expect("load");
    assert_eq!(load, b"$4\r\nkept\r\n");
    let dump = c.command(&["FUNCTION", "DUMP"]).expect("dump");
    let payload = common::string_value(&dump).expect("bulk").to_vec();
    assert_eq!(c.command(&["FUNCTION", "FLUSH"]).unwrap(), b"+OK\r\n");
    assert!(common::is_error(
        &c.command(&["FCALL", "kept_f", "0", "x"]).unwrap()
    ));
    let mut restore: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE"];
    restore.push(&payload);
    assert_eq!(c.command(&restore).unwrap(), b"+OK\r\n");
    assert_eq!(
        c.command(&["FCALL", "kept_f", "0", "x"]).unwrap(),
        b"$6\r\nkept x\r\n"
    );
}

/// Ember-only: an uncaught error undoes the script's writes (Redis keeps them); a returned error
/// reply does not.
#[test]
fn uncaught_errors_roll_back() {
    let ember = ServerProcess::start_ember(&[]);
    let mut c = connect_warm(&ember);
    let r = c
        .command(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'written') error('then failed')",
            "1",
            "rb",
        ])
        .unwrap();
    assert!(
        text(&r).starts_with("-ERR user_script:1: then failed script: "),
        "{}",
        escape(&r)
    );
    assert_eq!(c.command(&["EXISTS", "rb"]).unwrap(), b":0\r\n");
    let r = c
        .command(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'written') return redis.call('incr', KEYS[1])",
            "1",
            "rb",
        ])
        .unwrap();
    assert!(
        text(&r).starts_with("-ERR value is not an integer"),
        "{}",
        escape(&r)
    );
    assert_eq!(c.command(&["EXISTS", "rb"]).unwrap(), b":0\r\n");
    let r = c
        .command(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'kept') return redis.error_reply('soft')",
            "1",
            "rb",
        ])
        .unwrap();
    assert_eq!(r, b"-ERR soft\r\n");
    assert_eq!(c.command(&["GET", "rb"]).unwrap(), b"$4\r\nkept\r\n");
}

/// Globals of one script are invisible to the next (they cannot be created at all), and a
/// script's KEYS/ARGV are its own.
#[test]
fn no_state_leaks_between_scripts() {
    let ember = ServerProcess::start_ember(&[]);
    let mut c = connect_warm(&ember);
    for _ in 0..3 {
        let r = c.command(&["EVAL", "leak = 1 return 1", "0"]).unwrap();
        assert!(
            escape(&r).contains("Attempt to modify a readonly table"),
            "{}",
            escape(&r)
        );
        let r = c.command(&["EVAL", "return leak", "0"]).unwrap();
        assert!(
            escape(&r).contains("nonexistent global variable 'leak'"),
            "{}",
            escape(&r)
        );
    }
    let r = c
        .command(&["EVAL", "return #KEYS + #ARGV", "2", "a", "b", "c"])
        .unwrap();
    assert_eq!(r, b":3\r\n");
    let r = c.command(&["EVAL", "return #KEYS + #ARGV", "0"]).unwrap();
    assert_eq!(r, b":0\r\n");
}

/// The sandbox: an endless loop is stopped by wasm-time-limit and by SCRIPT KILL (even after it
/// wrote, with its writes undone); a memory bomb gets Lua's "not enough memory" and the server
/// carries on.
#[test]
fn limits_and_kill() {
    let ember = ServerProcess::start_ember(&[("wasm-time-limit", "300")]);
    let mut c = connect_warm(&ember);
    let started = Instant::now();
    let r = c.command(&["EVAL", "while true do end", "0"]).unwrap();
    assert!(escape(&r).contains("time limit"), "{}", escape(&r));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        c.command(&["CONFIG", "SET", "wasm-time-limit", "20000"])
            .unwrap(),
        b"+OK\r\n"
    );

    let mut killer = ember.connect();
    let mut runner = ember.connect();
    runner
        .send(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'x') while true do end",
            "1",
            "killed",
        ])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = killer.command(&["SCRIPT", "KILL"]).unwrap();
        if r == b"+OK\r\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SCRIPT KILL never found the script"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = runner.read_reply().unwrap();
    assert!(escape(&r).contains("killed"), "{}", escape(&r));
    assert_eq!(killer.command(&["EXISTS", "killed"]).unwrap(), b":0\r\n");

    assert_eq!(
        c.command(&["CONFIG", "SET", "wasm-memory-limit", "16777216"])
            .unwrap(),
        b"+OK\r\n"
    );
    let r = c
        .command(&[
            "EVAL",
            "local t = {} for i = 1, 1e9 do t[i] = string.rep(tostring(i), 200) end",
            "0",
        ])
        .unwrap();
    assert!(escape(&r).contains("not enough memory"), "{}", escape(&r));
    let r = c
        .command(&["EVAL", "local ok, e = pcall(function() local t = {} for i = 1, 1e9 do t[i] = string.rep(tostring(-i), 200) end end) return e", "0"])
        .unwrap();
    assert!(escape(&r).contains("not enough memory"), "{}", escape(&r));
    assert_eq!(
        c.command(&["EVAL", "return 'alive'", "0"]).unwrap(),
        b"$5\r\nalive\r\n"
    );
}
