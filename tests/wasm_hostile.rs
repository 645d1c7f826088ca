//! Hostile wasm guests against the real `ember-server` (issue 4, item 9): invalid bytes,
//! forbidden imports, missing exports, an infinite loop, SCRIPT KILL, memory bombs, deep
//! recursion, huge replies, out-of-bounds pointers passed to every import, a trap, and modules
//! registering a command that already exists. The guests are hand-written WAT files in
//! tests/wasm_guests/.
//!
//! Each case gets a clear error, and after each one the server still serves other clients and
//! the 1000 keys stored before it (in db 9) are intact. The limits are checked against their
//! settings: the time limit within 10 %, the memory limit to the page.
//!
//! Each test starts its own server. The two timing tests (time limit, SCRIPT KILL) run alone,
//! under an exclusive lock, so that no other test's server start competes for the 2 cores
//! while they measure. Every read has a timeout, every loop a bound.

#[path = "common/mod.rs"]
mod common;
#[path = "common/guests.rs"]
mod guests;

use common::{escape, exclusive, integer_value, shared, RespConn, ServerProcess};
use guests::{expect, guest, guest_path, req, short, Run};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn sha1(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// The text of an error reply, without `-` and CRLF.
fn error_text(reply: &[u8], what: &str) -> String {
    assert!(
        reply.starts_with(b"-") && reply.ends_with(b"\r\n"),
        "{what}: expected an error, got {}",
        short(reply)
    );
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
}

const SEEDED: usize = 1000;

/// A server holding 1000 keys in db 9 that no hostile guest may disturb.
struct Fixture {
    server: ServerProcess,
}

impl Fixture {
    fn start(extra: &[(&str, &str)]) -> Fixture {
        let server = ServerProcess::start_ember(extra);
        let mut c = server.connect();
        expect(&cmd!(c; "SELECT", "9"), "+OK\r\n", "SELECT 9");
        let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in 0..SEEDED {
            mset.push(format!("seed:{i}").into_bytes());
            mset.push(format!("value-{i}-{}", "v".repeat(i % 50)).into_bytes());
        }
        expect(&c.command(&mset).expect("MSET"), "+OK\r\n", "seeding");
        cmd!(c; "HSET", "seed:hash", "f", "v");
        Fixture { server }
    }

    fn connect(&self) -> RespConn {
        self.server.connect()
    }

    /// Another client is served, and every seeded key is intact.
    fn assert_intact(&mut self, after: &str) {
        assert!(self.server.is_running(), "the server exited after {after}");
        let mut c = self.connect();
        expect(
            &cmd!(c; "PING"),
            "+PONG\r\n",
            &format!("PING after {after}"),
        );
        expect(&cmd!(c; "SELECT", "9"), "+OK\r\n", "SELECT 9");
        expect(
            &cmd!(c; "DBSIZE"),
            &format!(":{}\r\n", SEEDED + 1),
            &format!("DBSIZE after {after}"),
        );
        let mut mget: Vec<Vec<u8>> = vec![b"MGET".to_vec()];
        mget.extend((0..SEEDED).map(|i| format!("seed:{i}").into_bytes()));
        let mut want = format!("*{SEEDED}\r\n").into_bytes();
        for i in 0..SEEDED {
            let v = format!("value-{i}-{}", "v".repeat(i % 50));
            want.extend_from_slice(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
        }
        let got = c.command(&mget).expect("MGET");
        assert!(got == want, "seeded values changed after {after}");
        expect(
            &cmd!(c; "HGET", "seed:hash", "f"),
            "$1\r\nv\r\n",
            &format!("seed hash after {after}"),
        );
        // Writes still work.
        expect(&cmd!(c; "SET", "probe", after), "+OK\r\n", "SET probe");
        expect(
            &cmd!(c; "GET", "probe"),
            &format!("${}\r\n{after}\r\n", after.len()),
            "GET probe",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Refused at load
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_bytes_are_refused() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let mut random = vec![0u8; 4096];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "magic, then garbage",
            b"\0asm\x01\0\0\0\xff\xff\xff\xff".to_vec(),
        ),
        ("magic only", b"\0asm".to_vec()),
        ("wasm version 2", b"\0asm\x02\0\0\0".to_vec()),
        (
            "a truncated section",
            b"\0asm\x01\0\0\0\x01\x7f\x00".to_vec(),
        ),
        ("unterminated WAT", b"(module (func".to_vec()),
        (
            "WAT that does not validate",
            b"(module (func (result i32)))".to_vec(),
        ),
    ];
    // Bodies that are neither wasm nor WAT are Lua (as in Redis): these do not compile.
    let lua: Vec<(&str, Vec<u8>)> = vec![
        ("text that is not WAT", b"hello world".to_vec()),
        ("4 KiB of random bytes", random),
    ];
    let bodies: Vec<(&str, Vec<u8>, bool)> = bodies
        .into_iter()
        .map(|(w, b)| (w, b, true))
        .chain(lua.into_iter().map(|(w, b)| (w, b, false)))
        .collect();
    for (what, body, wasm) in &bodies {
        let sha = sha1(body);
        let reply = cmd!(c; "EVAL", body, "0");
        let text = error_text(&reply, what);
        if *wasm {
            assert!(
                text.starts_with("ERR invalid wasm guest: ")
                    && text.ends_with(&format!(" (script: {sha})")),
                "{what}: {text}"
            );
        } else {
            assert!(
                text.starts_with("ERR Error compiling script (new function): "),
                "{what}: {text}"
            );
        }
        assert!(
            !text.contains('\n') && !text.contains('\r'),
            "{what}: one line"
        );
        let reply = cmd!(c; "SCRIPT", "LOAD", body);
        assert_eq!(
            error_text(&reply, what),
            text,
            "{what}: SCRIPT LOAD says the same"
        );
        expect(
            &cmd!(c; "SCRIPT", "EXISTS", sha),
            "*1\r\n:0\r\n",
            &format!("{what}: not cached"),
        );
        expect(
            &cmd!(c; "EVALSHA", sha, "0"),
            "-NOSCRIPT No matching script. Please use EVAL.\r\n",
            &format!("{what}: EVALSHA"),
        );
    }
    fx.assert_intact("invalid bytes");
}

#[test]
fn forbidden_imports_are_refused_naming_them() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    for (name, want) in [
        (
            "import_wasi",
            "ERR wasm module imports 'wasi_snapshot_preview1.fd_write', but guests may only import from 'ember'",
        ),
        (
            "import_env",
            "ERR wasm module imports 'env.abort', but guests may only import from 'ember'",
        ),
        (
            "import_unknown",
            "ERR wasm module imports 'ember.exec', which is not part of the ember ABI v2",
        ),
    ] {
        let body = guest(name);
        let want = format!("-{want} (script: {})\r\n", sha1(body.as_bytes()));
        expect(&cmd!(c; "EVAL", body, "0"), &want, name);
        expect(&cmd!(c; "SCRIPT", "LOAD", body), &want, name);
    }
    // The right name with the wrong signature: refused, naming the import.
    let body = guest("import_bad_type");
    let text = error_text(&cmd!(c; "EVAL", body, "0"), "import_bad_type");
    assert!(
        text.starts_with("ERR ") && text.contains("call"),
        "import_bad_type: {text}"
    );
    assert!(
        text.ends_with(&format!(" (script: {})", sha1(body.as_bytes()))),
        "{text}"
    );
    fx.assert_intact("forbidden imports");
}

/// ABI version 2's vectored value access: a version 1 guest may not import it, and its
/// descriptor array and the buffers the descriptors name are bounds-checked like any pointer.
#[test]
fn vectored_value_access_is_version_2_and_checks_its_descriptors() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let script = |version: u32, data: &str, iov: u32| {
        format!(
            "(module \
             (import \"ember\" \"value_readv\" (func $rv (param i32 i32 i32 i32 i32) (result i64))) \
             (memory (export \"memory\") 1) {data} \
             (func (export \"ember_abi_version\") (result i32) (i32.const {version})) \
             (func (export \"ember_main\") (result i32) \
               (drop (call $rv (i32.const 0) (i32.const 1) (i32.const 0) (i32.const {iov}) (i32.const 1))) \
               (i32.const 0)))"
        )
    };
    let v1 = script(1, "", 16);
    let want = format!(
        "-ERR guest speaks ABI version 1 but imports version 2's value_readv/value_writev (script: {})\r\n",
        sha1(v1.as_bytes())
    );
    expect(
        &cmd!(c; "EVAL", v1, "0"),
        &want,
        "version 1 importing value_readv",
    );
    // The descriptor array itself out of bounds.
    let text = error_text(&cmd!(c; "EVAL", script(2, "", 65530), "0"), "iov");
    assert!(
        text.starts_with("ERR ember ABI: out-of-bounds pointer")
            && text.contains("(65530, len 16;"),
        "{text}"
    );
    // A descriptor naming a buffer past the end of memory (offset 0, ptr 65536, len 1).
    let data = "(data (i32.const 16) \"\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\01\\00\\01\\00\\00\\00\")";
    let text = error_text(&cmd!(c; "EVAL", script(2, data, 16), "0"), "segment");
    assert!(
        text.starts_with("ERR ember ABI: out-of-bounds pointer") && text.contains("(65536, len 1;"),
        "{text}"
    );
    // In bounds, a script (which has no value types) gets -2 and carries on.
    let data = "(data (i32.const 16) \"\\00\\00\\00\\00\\00\\00\\00\\00\\00\\01\\00\\00\\01\\00\\00\\00\")";
    expect(
        &cmd!(c; "EVAL", script(2, data, 16), "0"),
        "$-1\r\n",
        "in bounds",
    );
    fx.assert_intact("vectored value access");
}

#[test]
fn missing_exports_are_refused() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let main_with_params = "(module (memory (export \"memory\") 1) \
        (func (export \"ember_abi_version\") (result i32) (i32.const 1)) \
        (func (export \"ember_main\") (param i32) (result i32) (i32.const 0)))"
        .to_string();
    let version_not_a_function = "(module (memory (export \"memory\") 1) \
        (global (export \"ember_abi_version\") i32 (i32.const 1)) \
        (func (export \"ember_main\") (result i32) (i32.const 0)))"
        .to_string();
    let cases = [
        (
            guest("no_memory"),
            "ERR wasm module does not export 'memory'",
        ),
        (
            guest("no_main"),
            "ERR wasm module does not export 'ember_main'",
        ),
        (
            guest("no_version"),
            "ERR wasm module does not export 'ember_abi_version'",
        ),
        (
            guest("wrong_version"),
            "ERR guest speaks ABI version 3; this server speaks versions 1 to 2",
        ),
        (
            main_with_params,
            "ERR 'ember_main' has the wrong type for the ember ABI",
        ),
        (
            version_not_a_function,
            "ERR wasm module does not export 'ember_abi_version'",
        ),
    ];
    for (body, want) in &cases {
        let want = format!("-{want} (script: {})\r\n", sha1(body.as_bytes()));
        expect(&cmd!(c; "EVAL", body, "0"), &want, &short(body.as_bytes()));
        expect(
            &cmd!(c; "SCRIPT", "LOAD", body),
            &want,
            &short(body.as_bytes()),
        );
    }
    fx.assert_intact("missing exports");
}

// ---------------------------------------------------------------------------------------------
// Time: an infinite loop, SCRIPT KILL
// ---------------------------------------------------------------------------------------------

/// Runs `EVALSHA sha args..` on a new connection in a thread; returns (reply, elapsed).
fn eval_in_thread(fx: &Fixture, args: Vec<String>) -> std::thread::JoinHandle<(Vec<u8>, Duration)> {
    let mut c = fx.connect();
    c.set_timeout(Duration::from_secs(10));
    std::thread::spawn(move || {
        let started = Instant::now();
        let reply = c.command(&args).expect("EVALSHA of a long script");
        (reply, started.elapsed())
    })
}

/// While `job` runs: PING, GET and SET from another client, each answered within 50 ms.
/// Returns how many rounds ran.
fn probe_while_running<T>(fx: &Fixture, job: &std::thread::JoinHandle<T>) -> usize {
    let mut p = fx.connect();
    p.set_timeout(Duration::from_secs(2));
    guests::probe_while_running(p, job, Duration::from_millis(50))
}

#[test]
fn an_infinite_loop_stops_at_the_time_limit_while_others_are_served() {
    let _g = exclusive();
    let mut fx = Fixture::start(&[("wasm-time-limit", "500")]);
    let mut c = fx.connect();
    let sha = cmd!(c; "SCRIPT", "LOAD", guest("loop"));
    let sha = String::from_utf8(common::string_value(&sha).expect("sha").to_vec()).unwrap();
    for limit in [500u64, 200] {
        if limit != 500 {
            expect(
                &cmd!(c; "CONFIG", "SET", "wasm-time-limit", limit.to_string()),
                "+OK\r\n",
                "CONFIG SET wasm-time-limit",
            );
        }
        let job = eval_in_thread(&fx, vec!["EVALSHA".into(), sha.clone(), "0".into()]);
        std::thread::sleep(Duration::from_millis(20));
        let rounds = probe_while_running(&fx, &job);
        let (reply, elapsed) = job.join().expect("loop thread");
        expect(
            &reply,
            &format!("-ERR guest exceeded the time limit of {limit} ms (wasm-time-limit)\r\n"),
            "infinite loop",
        );
        // Within 10 % of the setting. The lower bound is also a consequence of measuring from
        // the client: the guest cannot have started before the request was sent.
        let ms = elapsed.as_millis() as u64;
        println!("limit {limit} ms: stopped after {elapsed:?}; {rounds} probe rounds meanwhile");
        assert!(
            ms >= limit * 9 / 10 && ms <= limit * 11 / 10,
            "limit {limit} ms: the loop was stopped after {ms} ms"
        );
        assert!(
            rounds >= 3,
            "only {rounds} probe rounds ran during a {ms} ms loop"
        );
    }
    // A loop in code that runs while the guest loads (its start function): the same limit.
    let body = "(module (memory (export \"memory\") 1) (func $s (loop $l (br $l))) (start $s) \
        (func (export \"ember_abi_version\") (result i32) (i32.const 1)) \
        (func (export \"ember_main\") (result i32) (i32.const 0)))";
    let started = Instant::now();
    expect(
        &cmd!(c; "EVAL", body, "0"),
        &format!(
            "-ERR guest exceeded the time limit of 200 ms (wasm-time-limit) (script: {})\r\n",
            sha1(body.as_bytes())
        ),
        "a loop in the start function",
    );
    let ms = started.elapsed().as_millis();
    assert!(
        (180..=220).contains(&ms),
        "the start function was stopped after {ms} ms"
    );
    fx.assert_intact("an infinite loop");
}

#[test]
fn script_kill_stops_a_running_script_and_undoes_its_writes() {
    let _g = exclusive();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    expect(
        &cmd!(c; "SCRIPT", "KILL"),
        "-NOTBUSY No scripts in execution right now.\r\n",
        "SCRIPT KILL with nothing running",
    );
    let reply = cmd!(c; "SCRIPT", "LOAD", guest("proxy"));
    let sha = String::from_utf8(common::string_value(&reply).expect("sha").to_vec()).unwrap();
    cmd!(c; "SET", "k", "before");
    // Writes, then spins (the default limit is 5 s: only SCRIPT KILL can stop it in time).
    let job = eval_in_thread(
        &fx,
        vec![
            "EVALSHA".into(),
            sha.clone(),
            "2".into(),
            "k".into(),
            "fresh".into(),
            "spin".into(),
            req(&["SET", "k", "written"]),
            req(&["SET", "fresh", "1"]),
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    // Others are served while it runs (Redis would answer BUSY). The probes use db 5: the
    // script holds the lock stripes of its two keys in db 0 (2 of 16), and a db-0 key that
    // hashes into one of them waits for the script, as it would for any command holding them.
    let rounds = probe_while_running_for(&fx, Duration::from_millis(150));
    assert!(rounds >= 3, "probes during the script: {rounds}");
    let killed_at = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let reply = cmd!(c; "SCRIPT", "KILL");
        if reply == b"+OK\r\n" {
            break;
        }
        expect(
            &reply,
            "-NOTBUSY No scripts in execution right now.\r\n",
            "SCRIPT KILL",
        );
        assert!(attempts < 100, "the script never showed as running");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (reply, elapsed) = job.join().expect("script thread");
    let after_kill = killed_at.elapsed();
    expect(
        &reply,
        "-ERR Script killed by user with SCRIPT KILL...\r\n",
        "the killed script's reply",
    );
    assert!(
        after_kill < Duration::from_millis(200),
        "the script ended {after_kill:?} after SCRIPT KILL"
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "it ran {elapsed:?}: killed, not timed out"
    );
    expect(&cmd!(c; "GET", "k"), "$6\r\nbefore\r\n", "overwrite undone");
    expect(&cmd!(c; "EXISTS", "fresh"), ":0\r\n", "created key undone");
    expect(
        &cmd!(c; "SCRIPT", "KILL"),
        "-NOTBUSY No scripts in execution right now.\r\n",
        "SCRIPT KILL after it ended",
    );
    // The killed instance is gone; the script itself still runs fine.
    expect(
        &cmd!(c; "EVALSHA", sha, "1", "k", "call", req(&["SET", "k", "after"])),
        "+OK\r\n",
        "the same script again",
    );
    expect(&cmd!(c; "GET", "k"), "$5\r\nafter\r\n", "written");
    fx.assert_intact("SCRIPT KILL");
}

/// PING/GET/SET from another client for `span`, each within 50 ms; returns the rounds.
/// They run in db 5, where the script holds no lock.
fn probe_while_running_for(fx: &Fixture, span: Duration) -> usize {
    let mut p = fx.connect();
    expect(&cmd!(p; "SELECT", "5"), "+OK\r\n", "SELECT 5");
    let end = Instant::now() + span;
    let mut rounds = 0;
    while Instant::now() < end {
        for (args, want) in [
            (vec!["PING"], "+PONG\r\n"),
            (vec!["SET", "other", "x"], "+OK\r\n"),
            (vec!["GET", "other"], "$1\r\nx\r\n"),
        ] {
            let started = Instant::now();
            let reply = p.command(&args).expect("probe");
            let took = started.elapsed();
            expect(&reply, want, &format!("{args:?} during a long script"));
            assert!(took < Duration::from_millis(50), "{args:?} took {took:?}");
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    rounds
}

/// A valid guest that takes cranelift seconds to compile: one function of `n` x 2
/// instructions (about 48 bytes of WAT each).
fn slow_to_compile(n: usize) -> String {
    let mut wat = String::with_capacity(n * 48 + 400);
    wat.push_str(
        "(module (memory (export \"memory\") 1)\n(func $f (param i32) (result i32) (local.get 0)\n",
    );
    for _ in 0..n {
        wat.push_str("(i32.add (i32.const 7)) (i32.mul (local.get 0))\n");
    }
    wat.push_str(")\n(func (export \"ember_abi_version\") (result i32) (i32.const 1))\n");
    wat.push_str("(func (export \"ember_main\") (result i32) (drop (call $f (i32.const 3))) (i32.const 0)))\n");
    wat
}

#[test]
fn compiling_a_large_guest_does_not_stall_other_clients() {
    let _g = exclusive();
    let mut fx = Fixture::start(&[]);
    let body = slow_to_compile(150_000);
    let sha = sha1(body.as_bytes());
    // Connections opened before the load: with 2 worker threads, some of them are served by
    // the worker that ends up compiling.
    let mut probes: Vec<RespConn> = (0..6).map(|_| fx.connect()).collect();
    let mut loader = fx.connect();
    loader.set_timeout(Duration::from_secs(60));
    let job = std::thread::spawn(move || {
        let started = Instant::now();
        let reply = loader
            .command(&["SCRIPT", "LOAD", &body])
            .expect("SCRIPT LOAD");
        (reply, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(30));
    let mut worst = Duration::ZERO;
    let mut rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !job.is_finished() && Instant::now() < deadline {
        // and connections opened while it compiles
        if probes.len() < 40 {
            probes.push(fx.connect());
        }
        for p in probes.iter_mut() {
            let started = Instant::now();
            expect(
                &cmd!(p; "SET", "other", "x"),
                "+OK\r\n",
                "SET during a compile",
            );
            worst = worst.max(started.elapsed());
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let (reply, took) = job.join().expect("loader thread");
    expect(
        &reply,
        &format!("${}\r\n{sha}\r\n", sha.len()),
        "SCRIPT LOAD of a large guest",
    );
    println!("compiling took {took:?}; {rounds} probe rounds, slowest SET {worst:?}");
    assert!(
        worst < Duration::from_millis(200),
        "a client waited {worst:?} while a {:.1} s compile ran",
        took.as_secs_f64()
    );
    let mut c = fx.connect();
    expect(
        &cmd!(c; "EVALSHA", sha, "0"),
        "$-1\r\n",
        "the large guest runs",
    );
    fx.assert_intact("a slow compile");
}

// ---------------------------------------------------------------------------------------------
// Memory and stack
// ---------------------------------------------------------------------------------------------

#[test]
fn memory_bombs_hit_the_memory_limit() {
    let _g = shared();
    let mut fx = Fixture::start(&[("wasm-memory-limit", "16mb")]);
    let mut c = fx.connect();
    const LIMIT_ERR: &str =
        "-ERR guest exceeded the memory limit of 16777216 bytes (wasm-memory-limit)\r\n";
    let grow = guest("grow");
    // 16 MiB is 256 pages of 64 KiB: the guest may reach exactly that, not one page more.
    expect(&cmd!(c; "EVAL", grow, "0", "200"), ":200\r\n", "200 pages");
    expect(
        &cmd!(c; "EVAL", grow, "0", "256"),
        ":256\r\n",
        "256 pages = the limit",
    );
    expect(&cmd!(c; "EVAL", grow, "0", "257"), LIMIT_ERR, "257 pages");
    // A bomb: one page at a time, forever.
    expect(&cmd!(c; "EVAL", grow, "0", "0"), LIMIT_ERR, "memory bomb");
    // A fresh instance after the failures works.
    expect(&cmd!(c; "EVAL", grow, "0", "2"), ":2\r\n", "after the bomb");
    // A huge initial memory (1 GiB) is refused when the guest is instantiated, at load.
    let big = guest("big_memory");
    let want = format!(
        "-ERR guest exceeded the memory limit of 16777216 bytes (wasm-memory-limit) (script: {})\r\n",
        sha1(big.as_bytes())
    );
    expect(&cmd!(c; "EVAL", big, "0"), &want, "1 GiB initial memory");
    expect(
        &cmd!(c; "SCRIPT", "LOAD", big),
        &want,
        "1 GiB initial memory, SCRIPT LOAD",
    );
    // A reply larger than the limit allows the guest to build.
    expect(
        &cmd!(c; "EVAL", guest("huge_reply"), "0", "20000000"),
        LIMIT_ERR,
        "a 20 MB reply under a 16 MiB limit",
    );
    fx.assert_intact("memory bombs");
}

#[test]
fn a_lowered_memory_limit_applies_to_warm_instances() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let grow = guest("grow");
    // 300 pages (18.75 MiB) under the default 64 MiB: fine, and the instance stays warm.
    expect(
        &cmd!(c; "EVAL", grow, "0", "300"),
        ":300\r\n",
        "300 pages under 64 MiB",
    );
    expect(
        &cmd!(c; "CONFIG", "SET", "wasm-memory-limit", "16mb"),
        "+OK\r\n",
        "CONFIG SET",
    );
    expect(
        &cmd!(c; "EVAL", grow, "0", "300"),
        "-ERR guest exceeded the memory limit of 16777216 bytes (wasm-memory-limit)\r\n",
        "300 pages after lowering the limit to 16 MiB",
    );
    // Whatever instance serves the next call holds at most 256 pages.
    let pages = integer_value(&cmd!(c; "EVAL", grow, "0", "1")).expect("page count");
    assert!(
        pages <= 256,
        "an instance holds {pages} pages under a 256-page limit"
    );
    fx.assert_intact("lowering the memory limit");
}

#[test]
fn deep_recursion_hits_the_stack_limit() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let recurse = guest("recurse");
    expect(
        &cmd!(c; "EVAL", recurse, "0", "1000"),
        ":1000\r\n",
        "1000 calls deep",
    );
    expect(
        &cmd!(c; "EVAL", recurse, "0", "0"),
        "-ERR guest exceeded the stack limit (call stack exhausted)\r\n",
        "unbounded recursion",
    );
    expect(
        &cmd!(c; "EVAL", recurse, "0", "1000"),
        ":1000\r\n",
        "again after the overflow",
    );
    fx.assert_intact("deep recursion");
}

// ---------------------------------------------------------------------------------------------
// Replies, pointers, traps
// ---------------------------------------------------------------------------------------------

#[test]
fn huge_replies_are_delivered_or_refused_clearly() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    c.set_timeout(Duration::from_secs(15));
    // 25 MB built by the guest.
    const N: usize = 25_000_000;
    let reply = cmd!(c; "EVAL", guest("huge_reply"), "0", N.to_string());
    let header = format!("${N}\r\n");
    assert_eq!(
        reply.len(),
        header.len() + N + 2,
        "length of the 25 MB reply"
    );
    assert!(reply.starts_with(header.as_bytes()) && reply.ends_with(b"\r\n"));
    assert!(
        reply[header.len()..header.len() + N]
            .iter()
            .all(|&b| b == b'x'),
        "the 25 MB reply's bytes"
    );
    drop(reply);
    // 20 MB read by the guest through `call` (more than its buffer: `last_reply` fetches it)
    // and returned.
    let value = "y".repeat(20_000_000);
    expect(
        &cmd!(c; "SET", "big", value),
        "+OK\r\n",
        "SET a 20 MB value",
    );
    let reply = cmd!(c; "EVAL", guest("proxy"), "1", "big", "call", req(&["GET", "big"]));
    assert!(
        reply.len() == 20_000_000 + 13 && reply.starts_with(b"$20000000\r\nyyy"),
        "the 20 MB value through a guest: {} bytes",
        reply.len()
    );
    drop(reply);
    cmd!(c; "DEL", "big");
    // Headers that claim what is not there.
    for claim in [
        "*2147483648\r\n",
        "*2147483647\r\n",
        "*4294967296\r\n",
        "$2147483647\r\n",
        "%1073741824\r\n",
        "~99999999999\r\n",
        "$-2\r\n",
    ] {
        expect(
            &cmd!(c; "EVAL", guest("proxy"), "0", "raw", claim),
            "-ERR guest returned a malformed reply\r\n",
            &escape(claim.as_bytes()),
        );
    }
    fx.assert_intact("huge replies");
    // Only -1 is a null array: any other negative count is malformed, as a negative bulk
    // length other than -1 is.
    expect(
        &cmd!(c; "EVAL", guest("proxy"), "0", "raw", "*-2\r\n"),
        "-ERR guest returned a malformed reply\r\n",
        "*-2",
    );
}

#[test]
fn out_of_bounds_pointers_to_every_import_fault_cleanly() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let reply = cmd!(c; "SCRIPT", "LOAD", guest("oob"));
    let sha = String::from_utf8(common::string_value(&reply).expect("sha").to_vec()).unwrap();
    // (case, import, the pointer and length the guest passes)
    let cases: [(u32, &str, &str); 13] = [
        (0, "call request", "(2147483632, len 16;"),
        (1, "call destination", "(65530, len 100;"),
        (2, "last_reply", "(65536, len 1;"),
        (3, "input", "(-1, len 10;"),
        (4, "reply", "(65000, len 1000;"),
        (5, "log", "(65536, len 1;"),
        (6, "random", "(0, len 65537;"),
        (7, "register", "(-16, len 32;"),
        (8, "value_len", "(70000, len 1;"),
        (9, "value_read", "(65535, len 2;"),
        (10, "value_write", "(65536, len 1;"),
        (11, "value_truncate", "(0, len 65537;"),
        (12, "call with a negative length", "(0, len -1;"),
    ];
    for (case, import, pair) in cases {
        let text = error_text(&cmd!(c; "EVALSHA", sha, "0", case.to_string()), import);
        assert!(
            text.starts_with("ERR ember ABI: out-of-bounds pointer")
                && text.contains(pair)
                && text.contains("memory is 65536 bytes"),
            "{import}: {text}"
        );
        // The SET the guest made before the fault is undone.
        expect(
            &cmd!(c; "EXISTS", "oob:written"),
            ":0\r\n",
            &format!("{import}: write undone"),
        );
    }
    expect(
        &cmd!(c; "EVALSHA", sha, "0", "13"),
        "-ERR ember ABI: 'register' is only available in ember_init\r\n",
        "register outside ember_init",
    );
    expect(
        &cmd!(c; "EXISTS", "oob:written"),
        ":0\r\n",
        "register: write undone",
    );
    // An empty buffer at the very end of memory is in bounds.
    expect(
        &cmd!(c; "EVALSHA", sha, "0", "14"),
        "+edge ok\r\n",
        "empty buffer at the end",
    );
    expect(
        &cmd!(c; "GET", "oob:written"),
        "$1\r\n1\r\n",
        "edge case keeps its write",
    );
    fx.assert_intact("out-of-bounds pointers");
}

#[test]
fn a_trap_is_an_error_and_the_next_call_works() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let panic = guest("panic");
    for round in 0..3 {
        let text = error_text(&cmd!(c; "EVAL", panic, "0"), "unreachable");
        assert!(
            text.starts_with("ERR guest trapped: ") && text.contains("unreachable"),
            "round {round}: {text}"
        );
    }
    // Traps inside a pipeline do not disturb the replies around them.
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(common::encode_command(&["EVAL", &panic, "0"]));
        batch.extend(common::encode_command(&["SET", &format!("p{i}"), "v"]));
    }
    c.send_raw(&batch).expect("pipeline");
    for i in 0..50 {
        let r = c.read_reply().expect("trap reply");
        assert!(r.starts_with(b"-ERR guest trapped: "), "{i}: {}", short(&r));
        expect(
            &c.read_reply().expect("SET reply"),
            "+OK\r\n",
            "SET between traps",
        );
    }
    fx.assert_intact("traps");
}

// ---------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------

#[test]
fn a_module_registering_an_existing_command_is_refused() {
    let _g = shared();
    let mut fx = Fixture::start(&[]);
    let mut c = fx.connect();
    let path = |name: &str| guest_path(name).to_string_lossy().into_owned();
    let reply = cmd!(c; "MODULE", "LOAD", path("module_hello"));
    expect(&reply, "+OK\r\n", "MODULE LOAD module_hello.wat");
    expect(
        &cmd!(c; "WATHELLO.PING"),
        "+PONG from wat\r\n",
        "the module's command",
    );
    // A built-in command.
    expect(
        &cmd!(c; "MODULE", "LOAD", path("module_dup_builtin")),
        "-ERR command 'get' already exists\r\n",
        "a module registering GET",
    );
    expect(&cmd!(c; "SET", "k", "v"), "+OK\r\n", "SET");
    expect(
        &cmd!(c; "GET", "k"),
        "$1\r\nv\r\n",
        "GET is still the built-in",
    );
    // Another module's command.
    expect(
        &cmd!(c; "MODULE", "LOAD", path("module_dup_module")),
        "-ERR command 'wathello.ping' already exists\r\n",
        "a module registering another module's command",
    );
    expect(
        &cmd!(c; "WATHELLO.PING"),
        "+PONG from wat\r\n",
        "the first module's command",
    );
    let list = String::from_utf8_lossy(&cmd!(c; "MODULE", "LIST")).into_owned();
    assert!(list.contains("wathello"), "MODULE LIST: {list}");
    assert!(
        !list.contains("dupbuiltin") && !list.contains("wathello2"),
        "refused modules are not listed: {list}"
    );
    // Loading the same module again is refused too, and the first one keeps working.
    let reply = cmd!(c; "MODULE", "LOAD", path("module_hello"));
    assert!(
        reply.starts_with(b"-ERR"),
        "loading wathello twice: {}",
        short(&reply)
    );
    expect(
        &cmd!(c; "WATHELLO.PING"),
        "+PONG from wat\r\n",
        "still there",
    );
    fx.assert_intact("modules registering existing commands");
}
