//! Hostile Lua scripts against the real `ember-server`: infinite loops stopped by
//! `wasm-time-limit` while other clients are served, BUSY and SCRIPT KILL / FUNCTION KILL as in
//! Redis, SCRIPT KILL after writes undoing them (Ember's documented improvement: Redis answers
//! UNKILLABLE, which the test checks too), and memory bombs (table growth, string doubling,
//! string.rep, cmsgpack/cjson of huge values) stopped by `wasm-memory-limit` with Lua's
//! catchable "not enough memory".
//!
//! Where Redis has the same behaviour (BUSY, SCRIPT KILL of a read-only script) the scenario runs
//! on redis-server first and Ember's replies are compared with Redis's byte for byte. The limits
//! that Redis enforces inside Lua itself (stack overflow, C stack, reply nesting, bytecode
//! refusal) are differential cases in tests/corpus_lua/lua_limits.txt.
//!
//! After every case the server still serves, and 200 keys stored before it are intact. The
//! timing tests take an exclusive lock so that no other test of this file competes for the
//! cores while they measure; every read has a timeout and every loop a bound.

#[path = "common/mod.rs"]
mod common;
#[path = "common/guests.rs"]
mod guests;

use common::{escape, exclusive, shared, RespConn, ServerKind, ServerProcess};
use guests::{expect, short, Run};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SEEDED: usize = 200;

/// A server holding 200 keys in db 9 that no hostile script may disturb.
struct Fixture {
    server: ServerProcess,
}

impl Fixture {
    fn start(kind: ServerKind, extra: &[(&str, &str)]) -> Fixture {
        let server = ServerProcess::start(kind, extra);
        let mut c = server.connect();
        let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in 0..SEEDED {
            mset.push(format!("seed:{i}").into_bytes());
            mset.push(format!("value-{i}").into_bytes());
        }
        expect(&cmd!(c; "SELECT", "9"), "+OK\r\n", "SELECT 9");
        expect(&c.command(&mset).expect("MSET"), "+OK\r\n", "seeding");
        Fixture { server }
    }

    fn ember(extra: &[(&str, &str)]) -> Fixture {
        Fixture::start(ServerKind::Ember, extra)
    }

    fn connect(&self) -> RespConn {
        let mut c = self.server.connect();
        c.set_timeout(Duration::from_secs(10));
        c
    }

    /// The server answers and the seeded keys are all there.
    fn assert_intact(&self, after: &str) {
        let mut c = self.connect();
        expect(
            &cmd!(c; "PING"),
            "+PONG\r\n",
            &format!("PING after {after}"),
        );
        expect(&cmd!(c; "SELECT", "9"), "+OK\r\n", "SELECT 9");
        expect(
            &cmd!(c; "DBSIZE"),
            &format!(":{SEEDED}\r\n"),
            &format!("seeded keys after {after}"),
        );
        for i in [0, SEEDED / 2, SEEDED - 1] {
            let want = format!("value-{i}");
            expect(
                &cmd!(c; "GET", format!("seed:{i}")),
                &format!("${}\r\n{want}\r\n", want.len()),
                &format!("seed:{i} after {after}"),
            );
        }
    }
}

/// Runs one command on a new connection in a thread; returns (reply, elapsed). A connection
/// error becomes the reply text "(connection error: ...)", which no assertion accepts (and a
/// server dropped while the command runs does not panic the thread).
fn in_thread(fx: &Fixture, args: &[&str]) -> JoinHandle<(Vec<u8>, Duration)> {
    let mut c = fx.connect();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || {
        let started = Instant::now();
        let reply = c
            .command(&args)
            .unwrap_or_else(|e| format!("(connection error: {e})").into_bytes());
        (reply, started.elapsed())
    })
}

/// SCRIPT KILL or FUNCTION KILL (`what`), repeated while the server answers NOTBUSY (the script
/// may not have started yet on a loaded machine), for at most 3 s. Returns the last reply.
fn kill(c: &mut RespConn, what: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = cmd!(c; what, "KILL");
        if !reply.starts_with(b"-NOTBUSY") || Instant::now() >= deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The probes of [`guests::probe_while_running`] on db 5 (where no script holds a key), each
/// answered within 100 ms.
fn probe_while_running<T>(fx: &Fixture, job: &JoinHandle<T>) -> usize {
    let mut p = fx.connect();
    p.set_timeout(Duration::from_secs(2));
    expect(&cmd!(p; "SELECT", "5"), "+OK\r\n", "SELECT 5");
    guests::probe_while_running(p, job, Duration::from_millis(100))
}

fn error_text(reply: &[u8]) -> String {
    assert!(
        reply.starts_with(b"-") && reply.ends_with(b"\r\n"),
        "expected an error reply, got {}",
        short(reply)
    );
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

#[test]
fn an_infinite_loop_is_stopped_by_the_time_limit_while_others_are_served() {
    let _g = exclusive();
    let fx = Fixture::ember(&[("wasm-time-limit", "400")]);
    let mut c = fx.connect();
    let mut late = Vec::new();
    for (what, body) in [
        ("while true do end", "while true do end"),
        (
            "a loop under pcall (pcall cannot catch the limit)",
            "local ok = pcall(function() while true do end end) return 'caught'",
        ),
        (
            "a loop of redis.call",
            "while true do redis.call('INCR', KEYS[1]) end",
        ),
        (
            "a loop of string work",
            "while true do local s = string.rep('a', 1000) s = s:upper() end",
        ),
    ] {
        let job = in_thread(&fx, &["EVAL", body, "1", "counter"]);
        std::thread::sleep(Duration::from_millis(20));
        let rounds = probe_while_running(&fx, &job);
        let (reply, elapsed) = job.join().expect("script thread");
        let text = error_text(&reply);
        assert!(
            text.starts_with("ERR") && text.contains("time limit"),
            "{what}: stopped with {text:?}"
        );
        let ms = elapsed.as_millis();
        println!("{what}: stopped after {elapsed:?} with {text:?}; {rounds} probe rounds");
        if !(360..=800).contains(&ms) {
            late.push(format!("{what}: the 400 ms limit stopped it after {ms} ms"));
        }
        assert!(rounds >= 3, "{what}: only {rounds} probe rounds in {ms} ms");
    }
    assert!(late.is_empty(), "{late:#?}");
    // The loop of INCRs was stopped: all-or-nothing, so none of them stayed.
    expect(
        &cmd!(c; "EXISTS", "counter"),
        ":0\r\n",
        "INCRs of a stopped script",
    );
    // The same instance pool still runs scripts.
    expect(
        &cmd!(c; "EVAL", "return 1", "0"),
        ":1\r\n",
        "a script after the loops",
    );
    // A function that loops is stopped the same way.
    let lib =
        "#!lua name=looping\nredis.register_function('spin', function() while true do end end)";
    expect(
        &cmd!(c; "FUNCTION", "LOAD", lib),
        "$7\r\nlooping\r\n",
        "FUNCTION LOAD",
    );
    let started = Instant::now();
    let text = error_text(&cmd!(c; "FCALL", "spin", "0"));
    assert!(text.contains("time limit"), "FCALL spin: {text:?}");
    assert!(started.elapsed() < Duration::from_millis(900));
    expect(&cmd!(c; "FUNCTION", "FLUSH"), "+OK\r\n", "FUNCTION FLUSH");
    fx.assert_intact("infinite loops");
}

/// The replies of the BUSY / SCRIPT KILL / FUNCTION KILL scenario on one server.
struct KillTranscript {
    busy_same_key: Vec<u8>,
    script_kill: Vec<u8>,
    killed_reply: Vec<u8>,
    function_kill: Vec<u8>,
    killed_function_reply: Vec<u8>,
    after: Vec<u8>,
}

/// A read-only script loops on key `k`: after busy-reply-threshold, a client touching `k` gets
/// BUSY, SCRIPT KILL stops it; then the same with a function and FUNCTION KILL.
fn kill_scenario(fx: &Fixture) -> KillTranscript {
    let mut c = fx.connect();
    expect(&cmd!(c; "SET", "k", "v"), "+OK\r\n", "SET k");
    let job = in_thread(
        fx,
        &[
            "EVAL",
            "redis.call('GET', KEYS[1]) while true do end",
            "1",
            "k",
        ],
    );
    std::thread::sleep(Duration::from_millis(400));
    let busy_same_key = cmd!(c; "GET", "k");
    let script_kill = kill(&mut c, "SCRIPT");
    let (killed_reply, elapsed) = job.join().expect("script thread");
    assert!(
        elapsed < Duration::from_secs(3),
        "the killed script ran {elapsed:?}"
    );
    let lib = "#!lua name=spinner\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}";
    expect(
        &cmd!(c; "FUNCTION", "LOAD", "REPLACE", lib),
        "$7\r\nspinner\r\n",
        "FUNCTION LOAD",
    );
    let job = in_thread(fx, &["FCALL", "spin", "1", "k"]);
    std::thread::sleep(Duration::from_millis(400));
    let function_kill = kill(&mut c, "FUNCTION");
    let (killed_function_reply, _) = job.join().expect("function thread");
    let after = cmd!(c; "GET", "k");
    expect(&cmd!(c; "FUNCTION", "FLUSH"), "+OK\r\n", "FUNCTION FLUSH");
    KillTranscript {
        busy_same_key,
        script_kill,
        killed_reply,
        function_kill,
        killed_function_reply,
        after,
    }
}

#[test]
fn busy_replies_and_script_kill_match_redis() {
    let _g = exclusive();
    let redis = Fixture::start(ServerKind::Redis, &[("busy-reply-threshold", "100")]);
    let want = kill_scenario(&redis);
    println!(
        "redis: GET k -> {}; SCRIPT KILL -> {}; killed script -> {}; FUNCTION KILL -> {}; killed function -> {}",
        escape(&want.busy_same_key),
        escape(&want.script_kill),
        escape(&want.killed_reply),
        escape(&want.function_kill),
        escape(&want.killed_function_reply)
    );
    // The premise, on Redis: BUSY for the script's key, then the kill works.
    assert!(
        want.busy_same_key.starts_with(b"-BUSY "),
        "redis: {}",
        escape(&want.busy_same_key)
    );
    expect(&want.script_kill, "+OK\r\n", "redis: SCRIPT KILL");
    let fx = Fixture::ember(&[
        ("busy-reply-threshold", "100"),
        ("wasm-time-limit", "20000"),
    ]);
    // Ember: a client on an unrelated key is served meanwhile (Redis would answer BUSY).
    {
        let mut c = fx.connect();
        expect(&cmd!(c; "SET", "k", "v"), "+OK\r\n", "SET k");
        let job = in_thread(&fx, &["EVAL", "while true do end", "1", "k"]);
        std::thread::sleep(Duration::from_millis(300));
        let mut p = fx.connect();
        expect(&cmd!(p; "SELECT", "5"), "+OK\r\n", "SELECT 5");
        let started = Instant::now();
        expect(
            &cmd!(p; "SET", "unrelated", "1"),
            "+OK\r\n",
            "unrelated key",
        );
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "a write to an unrelated key waited {:?} for the script",
            started.elapsed()
        );
        expect(&kill(&mut c, "SCRIPT"), "+OK\r\n", "SCRIPT KILL");
        job.join().expect("script thread");
    }
    let got = kill_scenario(&fx);
    for (what, w, g) in [
        (
            "GET of the script's key",
            &want.busy_same_key,
            &got.busy_same_key,
        ),
        ("SCRIPT KILL", &want.script_kill, &got.script_kill),
        (
            "the killed script's reply",
            &want.killed_reply,
            &got.killed_reply,
        ),
        ("FUNCTION KILL", &want.function_kill, &got.function_kill),
        (
            "the killed function's reply",
            &want.killed_function_reply,
            &got.killed_function_reply,
        ),
        ("GET after both", &want.after, &got.after),
    ] {
        assert_eq!(escape(g), escape(w), "{what}: ember vs redis");
    }
    fx.assert_intact("SCRIPT KILL and FUNCTION KILL");
}

#[test]
fn script_kill_after_writes_undoes_them() {
    let _g = exclusive();
    let body =
        "redis.call('SET', KEYS[1], 'written') redis.call('SET', KEYS[2], '1') while true do end";
    // Redis refuses to kill a script that wrote: the behaviour Ember improves on.
    {
        let redis = Fixture::start(ServerKind::Redis, &[("busy-reply-threshold", "100")]);
        let mut c = redis.connect();
        cmd!(c; "SET", "k", "before");
        let _job = in_thread(&redis, &["EVAL", body, "2", "k", "fresh"]);
        std::thread::sleep(Duration::from_millis(300));
        let reply = kill(&mut c, "SCRIPT");
        assert!(
            reply.starts_with(b"-UNKILLABLE "),
            "redis: SCRIPT KILL after writes: {}",
            escape(&reply)
        );
        // The script never ends; dropping the fixture kills the server.
    }
    let fx = Fixture::ember(&[
        ("busy-reply-threshold", "100"),
        ("wasm-time-limit", "20000"),
    ]);
    let mut c = fx.connect();
    cmd!(c; "SET", "k", "before");
    let job = in_thread(&fx, &["EVAL", body, "2", "k", "fresh"]);
    std::thread::sleep(Duration::from_millis(300));
    expect(
        &kill(&mut c, "SCRIPT"),
        "+OK\r\n",
        "SCRIPT KILL after writes",
    );
    let killed_at = Instant::now();
    let (reply, _) = job.join().expect("script thread");
    let text = error_text(&reply);
    assert!(
        text.contains("killed"),
        "the killed script's reply: {text:?}"
    );
    assert!(
        killed_at.elapsed() < Duration::from_millis(500),
        "the script ended {:?} after SCRIPT KILL",
        killed_at.elapsed()
    );
    expect(
        &cmd!(c; "GET", "k"),
        "$6\r\nbefore\r\n",
        "the overwrite was undone",
    );
    expect(
        &cmd!(c; "EXISTS", "fresh"),
        ":0\r\n",
        "the created key was undone",
    );
    expect(
        &cmd!(c; "SCRIPT", "KILL"),
        "-NOTBUSY No scripts in execution right now.\r\n",
        "SCRIPT KILL with nothing running",
    );
    // A function that wrote, killed with FUNCTION KILL: undone too.
    let lib = "#!lua name=writer\nredis.register_function('w', function(keys) redis.call('SET', keys[1], 'written') while true do end end)";
    expect(
        &cmd!(c; "FUNCTION", "LOAD", lib),
        "$6\r\nwriter\r\n",
        "FUNCTION LOAD",
    );
    let job = in_thread(&fx, &["FCALL", "w", "1", "k"]);
    std::thread::sleep(Duration::from_millis(300));
    expect(
        &kill(&mut c, "FUNCTION"),
        "+OK\r\n",
        "FUNCTION KILL after writes",
    );
    let (reply, _) = job.join().expect("function thread");
    assert!(error_text(&reply).contains("killed"), "{}", escape(&reply));
    expect(
        &cmd!(c; "GET", "k"),
        "$6\r\nbefore\r\n",
        "the function's write was undone",
    );
    expect(&cmd!(c; "FUNCTION", "FLUSH"), "+OK\r\n", "FUNCTION FLUSH");
    expect(
        &cmd!(c; "EVAL", "return redis.call('SET', KEYS[1], 'after')", "1", "k"),
        "+OK\r\n",
        "a script after the kills",
    );
    fx.assert_intact("SCRIPT KILL after writes");
}

const BUSY_SCRIPT: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

#[test]
fn clients_on_other_keys_of_the_db_progress_while_a_lua_script_loops() {
    let _g = exclusive();
    let fx = Fixture::ember(&[
        ("busy-reply-threshold", "100"),
        ("wasm-time-limit", "20000"),
    ]);
    let mut c = fx.connect();
    // The script declares `k` and writes a key it did not declare (Redis allows that; Ember
    // takes that key's shard on the way): both are the script's until it ends.
    let job = in_thread(
        &fx,
        &[
            "EVAL",
            "redis.call('SET', 'undeclared', '1') while true do end",
            "1",
            "k",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut p = fx.connect();
    expect(&cmd!(p; "GET", "k"), BUSY_SCRIPT, "GET of the script's key");
    expect(
        &cmd!(p; "GET", "undeclared"),
        BUSY_SCRIPT,
        "GET of the key the script wrote without declaring it",
    );
    // Keys of the same db in other shards (all but at most 2 of the 16) are served at once.
    let mut served = 0;
    for i in 0..64 {
        let started = Instant::now();
        let reply = cmd!(p; "SET", format!("other:{i}"), "v");
        if reply == b"+OK\r\n" {
            served += 1;
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "SET other:{i} waited {:?} for the script",
                started.elapsed()
            );
        } else {
            expect(&reply, BUSY_SCRIPT, &format!("SET other:{i}"));
        }
    }
    assert!(served >= 40, "only {served} of 64 other keys were served");
    expect(&cmd!(p; "PING"), "+PONG\r\n", "PING while busy");
    expect(&kill(&mut c, "SCRIPT"), "+OK\r\n", "SCRIPT KILL");
    let (reply, _) = job.join().expect("script thread");
    assert!(error_text(&reply).contains("killed"), "{}", escape(&reply));
    expect(
        &cmd!(c; "EXISTS", "undeclared"),
        ":0\r\n",
        "the killed script's write",
    );
    expect(
        &cmd!(c; "DBSIZE"),
        &format!(":{served}\r\n"),
        "the other clients' writes",
    );
    fx.assert_intact("a loop beside other clients");
}

#[test]
fn a_lua_script_reaching_a_key_another_script_holds_runs_again_holding_the_db() {
    let _g = exclusive();
    let fx = Fixture::ember(&[
        ("busy-reply-threshold", "100"),
        ("wasm-time-limit", "20000"),
    ]);
    let mut c = fx.connect();
    // A busy script holds `k`: a script that writes, then reads `k` without declaring it, is
    // undone and answers BUSY like any client that needs `k`.
    let job = in_thread(&fx, &["EVAL", "while true do end", "1", "k"]);
    std::thread::sleep(Duration::from_millis(300));
    let reader = "redis.call('SET', 'mine', 'x') return redis.call('GET', 'k')";
    expect(
        &cmd!(c; "EVAL", reader, "0"),
        BUSY_SCRIPT,
        "undeclared access to the busy script's key",
    );
    expect(&kill(&mut c, "SCRIPT"), "+OK\r\n", "SCRIPT KILL");
    job.join().expect("script thread");
    // Checked only once the busy script is gone: the store's hasher is seeded per process, so
    // `mine` shares a shard with `k` one run in sixteen and would answer BUSY until then.
    expect(
        &cmd!(c; "EXISTS", "mine"),
        ":0\r\n",
        "the refused script's write",
    );
    // A script that holds `k` for a while (not long enough to be busy): the second one waits
    // for the whole db, runs again from the start, and sees the first one's write.
    expect(
        &cmd!(c; "CONFIG", "SET", "busy-reply-threshold", "5000"),
        "+OK\r\n",
        "CONFIG SET",
    );
    let slow = "for i = 1, 20000000 do end redis.call('SET', KEYS[1], 'from-slow') return 1";
    let job = in_thread(&fx, &["EVAL", slow, "1", "k"]);
    std::thread::sleep(Duration::from_millis(30));
    let counting = "redis.call('INCR', 'runs') return redis.call('GET', 'k')";
    let reply = cmd!(c; "EVAL", counting, "0");
    let (slow_reply, slow_took) = job.join().expect("slow script");
    expect(&slow_reply, ":1\r\n", "the slow script");
    println!("the slow script ran {slow_took:?}");
    if slow_took > Duration::from_millis(60) {
        expect(
            &reply,
            "$9\r\nfrom-slow\r\n",
            "the script that waited for the slow one",
        );
    }
    expect(
        &cmd!(c; "GET", "runs"),
        "$1\r\n1\r\n",
        "the undone first run left no INCR",
    );
    fx.assert_intact("scripts reaching each other's keys");
}

/// The replies around kills of the wrong kind and SHUTDOWN while a script, then a function,
/// is busy.
fn wrong_kind_scenario(fx: &Fixture) -> Vec<(String, Vec<u8>)> {
    let mut c = fx.connect();
    let mut out = Vec::new();
    let lib = "#!lua name=spinner2\nredis.register_function{function_name='spin2', callback=function() while true do end end, flags={'no-writes'}}";
    expect(
        &cmd!(c; "FUNCTION", "LOAD", "REPLACE", lib),
        "$8\r\nspinner2\r\n",
        "FUNCTION LOAD",
    );
    out.push(("SCRIPT KILL, idle".into(), cmd!(c; "SCRIPT", "KILL")));
    out.push(("FUNCTION KILL, idle".into(), cmd!(c; "FUNCTION", "KILL")));
    for (run, right, wrong) in [
        (
            ["EVAL", "while true do end", "1", "k"],
            "SCRIPT",
            "FUNCTION",
        ),
        (["FCALL", "spin2", "1", "k"], "FUNCTION", "SCRIPT"),
    ] {
        // A transaction on the script's key, queued before it started, executed while it is busy.
        let mut t = fx.connect();
        expect(&cmd!(t; "MULTI"), "+OK\r\n", "MULTI");
        expect(
            &cmd!(t; "SET", "k", "from-tx"),
            "+QUEUED\r\n",
            "SET in MULTI",
        );
        let job = in_thread(fx, &run);
        std::thread::sleep(Duration::from_millis(400));
        out.push((format!("EXEC during {}", run[0]), cmd!(t; "EXEC")));
        out.push((
            format!("{wrong} KILL during {}", run[0]),
            cmd!(c; wrong, "KILL"),
        ));
        out.push((format!("SHUTDOWN during {}", run[0]), cmd!(c; "SHUTDOWN")));
        out.push((
            format!("SHUTDOWN SAVE during {}", run[0]),
            cmd!(c; "SHUTDOWN", "SAVE"),
        ));
        out.push((
            format!("{right} KILL during {}", run[0]),
            kill(&mut c, right),
        ));
        let (reply, _) = job.join().expect("script thread");
        out.push((format!("the killed {}", run[0]), reply));
        out.push((format!("k after {}", run[0]), cmd!(c; "GET", "k")));
    }
    out
}

#[test]
fn kills_of_the_wrong_kind_and_shutdown_while_busy_match_redis() {
    let _g = exclusive();
    let mut redis = Fixture::start(ServerKind::Redis, &[("busy-reply-threshold", "100")]);
    let want = wrong_kind_scenario(&redis);
    let mut fx = Fixture::ember(&[
        ("busy-reply-threshold", "100"),
        ("wasm-time-limit", "20000"),
    ]);
    let got = wrong_kind_scenario(&fx);
    for ((what, w), (_, g)) in want.iter().zip(&got) {
        println!("{what}: redis {}", escape(w));
        assert_eq!(escape(g), escape(w), "{what}: ember vs redis");
    }
    fx.assert_intact("kills of the wrong kind");
    // SHUTDOWN NOSAVE stops a server whose script is busy.
    for (server, name) in [(&mut redis, "redis"), (&mut fx, "ember")] {
        let job = in_thread(server, &["EVAL", "while true do end", "1", "k"]);
        std::thread::sleep(Duration::from_millis(400));
        let mut c = server.connect();
        let _ = c.command(&["SHUTDOWN", "NOSAVE"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.server.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !server.server.is_running(),
            "{name}: still running after SHUTDOWN NOSAVE"
        );
        let _ = job.join();
    }
}

#[test]
fn deep_c_recursion_in_the_pattern_matcher_is_contained() {
    let _g = shared();
    let fx = Fixture::ember(&[("wasm-time-limit", "5000")]);
    let mut c = fx.connect();
    // Lua 5.1's matcher recurses in C once per `a?`: 100000 levels exhaust any C stack (the
    // guest's shadow stack here). It must end as an error for this script only.
    let body = "return string.find(string.rep('a', 100000), string.rep('a?', 100000) .. string.rep('a', 100000))";
    let reply = cmd!(c; "EVAL", body, "0");
    assert!(reply.starts_with(b"-"), "pattern bomb: {}", short(&reply));
    expect(
        &cmd!(c; "EVAL", "return string.find('aaa', 'a?a?a')", "0"),
        ":1\r\n",
        "a small pattern after it",
    );
    fx.assert_intact("a C recursion bomb");
}

#[test]
fn an_uncaught_error_undoes_the_scripts_writes() {
    let _g = shared();
    let scripts = [
        "redis.call('SET', KEYS[1], 'x') return redis.call('LPUSH', KEYS[2], 'x')",
        "redis.call('SET', KEYS[1], 'x') error('after a write')",
        "redis.call('SET', KEYS[1], 'x') return nosuchglobal",
        "redis.call('SET', KEYS[1], 'x') local t = nil return t.x",
    ];
    // Redis keeps the writes made before the error: the behaviour Ember improves on.
    let redis = Fixture::start(ServerKind::Redis, &[]);
    let fx = Fixture::ember(&[]);
    for (kind, fx) in [("redis", &redis), ("ember", &fx)] {
        let mut c = fx.connect();
        for body in scripts {
            expect(&cmd!(c; "SET", "str", "value"), "+OK\r\n", "SET str");
            cmd!(c; "DEL", "w");
            let reply = cmd!(c; "EVAL", body, "2", "w", "str");
            assert!(
                reply.starts_with(b"-"),
                "{kind}: {body}: {}",
                escape(&reply)
            );
            let want = if kind == "redis" { ":1\r\n" } else { ":0\r\n" };
            expect(
                &cmd!(c; "EXISTS", "w"),
                want,
                &format!("{kind}: the write before: {body}"),
            );
        }
        // redis.pcall'd errors do not abort: the script's writes stay on both.
        expect(
            &cmd!(c; "EVAL", "redis.call('SET', KEYS[1], 'y') redis.pcall('LPUSH', KEYS[2], 'x') return 1", "2", "w", "str"),
            ":1\r\n",
            "a caught error",
        );
        expect(
            &cmd!(c; "GET", "w"),
            "$1\r\ny\r\n",
            &format!("{kind}: writes of a script whose error was caught"),
        );
    }
    fx.assert_intact("errors after writes");
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

#[test]
fn memory_bombs_get_lua_not_enough_memory() {
    let _g = shared();
    let fx = Fixture::ember(&[("wasm-memory-limit", "32mb"), ("wasm-time-limit", "20000")]);
    let mut c = fx.connect();
    for (what, body) in [
        ("a growing table", "local t = {} while true do t[#t + 1] = {} end"),
        ("string doubling", "local s = 'x' while true do s = s .. s end"),
        ("string.rep", "return string.rep('x', 2^31 - 1)"),
        ("string.rep with a separator", "return #string.rep('abcdefgh', 1e9, ',')"),
        ("an array filled forever", "local t = {} for i = 1, 1e12 do t[i] = i end"),
        (
            "cmsgpack.pack of big strings",
            "return cmsgpack.pack(string.rep('x', 1e7), string.rep('y', 1e7), string.rep('z', 1e7))",
        ),
        (
            "cjson.encode of a big table",
            "local t = {} for i = 1, 1e7 do t[i] = string.rep('q', 100) end return cjson.encode(t)",
        ),
        ("table.concat", "local t = {} for i = 1, 1e9 do t[i] = 'abcdefghij' end return table.concat(t)"),
    ] {
        let started = Instant::now();
        let reply = cmd!(c; "EVAL", body, "0");
        let text = error_text(&reply);
        println!("{what}: {:?}: {text}", started.elapsed());
        // Lua's own error, or the server's naming the limit (the script could not catch it).
        assert!(
            text.contains("not enough memory") || text.contains("memory limit"),
            "{what}: expected Lua's \"not enough memory\" or the memory limit, got {text:?}"
        );
        // Right after each bomb a normal script works.
        expect(&cmd!(c; "EVAL", "return #string.rep('ok', 1000)", "0"), ":2000\r\n", what);
    }
    // The error is a Lua error: pcall catches it and the script goes on once the garbage is
    // collected.
    expect(
        &cmd!(
            c;
            "EVAL",
            "local ok, e = pcall(function() local t = {} while true do t[#t + 1] = string.rep('x', 1000) .. #t end end) collectgarbage() return {tostring(ok), e, #string.rep('y', 1e6)}",
            "0"
        ),
        "*3\r\n$5\r\nfalse\r\n$17\r\nnot enough memory\r\n:1000000\r\n",
        "a bomb under pcall",
    );
    // Writes before a bomb are undone with it (all-or-nothing on an uncaught error).
    let text = error_text(&cmd!(
        c;
        "EVAL",
        "redis.call('SET', KEYS[1], 'x') local s = 'x' while true do s = s .. s end",
        "1",
        "bombed"
    ));
    assert!(text.contains("not enough memory"), "{text:?}");
    expect(
        &cmd!(c; "EXISTS", "bombed"),
        ":0\r\n",
        "the write before the bomb",
    );
    fx.assert_intact("memory bombs");
}

/// 300 distinct scripts loaded, run by sha (each twice, with errors between), listed by SCRIPT
/// EXISTS, then flushed: the same replies from Redis and Ember.
#[test]
fn many_cached_scripts_behave_as_in_redis() {
    let _g = shared();
    let transcript = |fx: &Fixture| -> Vec<Vec<u8>> {
        let mut c = fx.connect();
        let mut out = Vec::new();
        let mut shas = Vec::new();
        for i in 0..300 {
            let body = format!("local n = {i} if ARGV[1] == 'fail' then error('script ' .. n) end return {{n, KEYS[1], #ARGV}}");
            let reply = cmd!(c; "SCRIPT", "LOAD", body);
            let sha = common::string_value(&reply)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_else(|| panic!("SCRIPT LOAD: {}", escape(&reply)));
            shas.push(sha);
        }
        for (i, sha) in shas.iter().enumerate() {
            let key = format!("k{i}");
            out.push(cmd!(c; "EVALSHA", sha, "1", key, "a", "b"));
            out.push(cmd!(c; "EVALSHA", sha, "0", "fail"));
            out.push(cmd!(c; "EVALSHA", sha.to_uppercase(), "1", "x"));
        }
        let mut exists: Vec<&str> = vec!["SCRIPT", "EXISTS"];
        exists.extend(shas.iter().map(|s| s.as_str()));
        out.push(c.run(&exists.iter().map(|a| a.as_bytes()).collect::<Vec<_>>()));
        out.push(cmd!(c; "SCRIPT", "FLUSH"));
        out.push(c.run(&exists.iter().map(|a| a.as_bytes()).collect::<Vec<_>>()));
        out.push(cmd!(c; "EVALSHA", shas[7], "0"));
        out
    };
    let want = transcript(&Fixture::start(ServerKind::Redis, &[]));
    let fx = Fixture::ember(&[]);
    let got = transcript(&fx);
    assert_eq!(want.len(), got.len());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(escape(g), escape(w), "reply {i}: ember vs redis");
    }
    fx.assert_intact("300 cached scripts");
}

#[test]
fn a_script_cannot_leave_state_for_the_next_one() {
    let _g = shared();
    let fx = Fixture::ember(&[]);
    let mut c = fx.connect();
    // Many calls, so that several warm instances (if any) serve them.
    for i in 0..50 {
        let reply = cmd!(
            c;
            "EVAL",
            "local ok = pcall(function() leaked = 1 end) return {tostring(ok), tostring(rawget(_G, 'leaked'))}",
            "0"
        );
        expect(
            &reply,
            "*2\r\n$5\r\nfalse\r\n$3\r\nnil\r\n",
            &format!("call {i}: globals stay read-only"),
        );
    }
    // A script that changes a library setting does not change what the next one sees unless
    // Redis would: cjson's settings are per Lua state in Redis, so a script restores them.
    expect(
        &cmd!(c; "EVAL", "return KEYS[1] .. ARGV[1]", "1", "a", "b"),
        "$2\r\nab\r\n",
        "KEYS/ARGV of this call",
    );
    expect(
        &cmd!(c; "EVAL", "return {#KEYS, #ARGV}", "0"),
        "*2\r\n:0\r\n:0\r\n",
        "KEYS/ARGV of the previous call are gone",
    );
    fx.assert_intact("state checks");
}
