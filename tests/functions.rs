//! Function libraries against the real `ember-server`: FUNCTION LOAD [REPLACE], FCALL, FCALL_RO,
//! FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE], DELETE, FLUSH, DUMP, RESTORE, STATS and KILL.
//!
//! - The `mylib` example (examples/wasm/mylib, Rust with the SDK's `library!`) is loaded as a
//!   binary argument; small libraries written here in WAT (FUNCTION LOAD takes WAT text too)
//!   cover the rest: registration errors, an endless function for KILL, undeclared keys.
//! - Everything that does not depend on the engine (errors for unknown functions and libraries,
//!   option errors, numkeys, the reply shapes of LIST and STATS, RESTORE policies, FCALL inside
//!   MULTI/EXEC) is compared byte for byte with redis-server 7 running Lua libraries with the
//!   same names, flags and descriptions (only the engine name differs: `LUA` / `WASM`).
//! - What users rely on beyond Redis: a function that returns an error leaves none of its
//!   writes, also when killed; `whole-keyspace` lets a function touch keys it did not declare.
//!
//! Every read has a timeout; the file runs in a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::ServerProcess;
use common::{encode_command, escape, split_aggregate, string_value, Protocol, RespConn};
use std::path::PathBuf;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn mylib_wasm() -> Vec<u8> {
    let dir = option_env!("EMBER_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests/wasm32-unknown-unknown/release")
        });
    let path = dir.join("mylib.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (`cargo build -p ember` builds it)",
            path.display()
        )
    })
}

/// Sends one command of byte-string arguments and returns the raw reply.
macro_rules! cmd {
    ($c:expr; $($a:expr),+ $(,)?) => {{
        // Owned copies, so temporaries (a library's text) may be passed.
        let args: Vec<Vec<u8>> = vec![$(AsRef::<[u8]>::as_ref(&$a).to_vec()),+];
        $c.command(&args).unwrap_or_else(|e| panic!("{}: {e}", escape(&encode_command(&args))))
    }};
}

fn run(c: &mut RespConn, args: &[&[u8]]) -> Vec<u8> {
    c.command(args)
        .unwrap_or_else(|e| panic!("{}: {e}", escape(&encode_command(args))))
}

/// Asserts a raw reply, showing both sides escaped.
fn expect(reply: &[u8], want: &str, what: &str) {
    assert_eq!(escape(reply), escape(want.as_bytes()), "{what}");
}

fn bulk(s: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", s.len()).into_bytes();
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
    out
}

/// What a function does when FCALL runs it (WAT libraries below).
#[derive(Clone)]
enum Body {
    /// Replies these RESP bytes.
    Reply(&'static str),
    /// Runs the command and replies its reply (code 1, an abort, when it is an error).
    Call(&'static [&'static str]),
    /// Runs the command, then fails with this error (the write must be undone).
    CallThenFail(&'static [&'static str], &'static str),
    /// Runs the command, then loops forever (until FUNCTION KILL or the time limit).
    CallThenSpin(&'static [&'static str]),
}

/// A library in WAT, written from docs/abi.md: `ember_init` registers each spec in order
/// (`library <name>`, `function <name> <handler> <flags> [description]` ...), and
/// `ember_invoke(h)` runs `bodies[h]`. Replies of `call` land at 0x8000.
fn wat(specs: &[Vec<&str>], bodies: &[Body]) -> String {
    let mut data = String::new();
    let mut next = 0x100usize;
    let mut place = |bytes: &[u8]| -> (usize, usize) {
        let at = next;
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        data.push_str(&format!("  (data (i32.const {at}) \"{escaped}\")\n"));
        next += bytes.len().div_ceil(16) * 16 + 16;
        (at, bytes.len())
    };
    let mut init = String::new();
    for spec in specs {
        let (at, len) = place(&encode_command(spec));
        init.push_str(&format!(
            "    (if (call $register (i32.const {at}) (i32.const {len})) (then (return (i32.const 1))))\n"
        ));
    }
    let mut invoke = String::new();
    for (h, body) in bodies.iter().enumerate() {
        let call = |req: &[&str], place: &mut dyn FnMut(&[u8]) -> (usize, usize)| {
            let (at, len) = place(&encode_command(req));
            format!(
                "(local.set $n (call $call (i32.const {at}) (i32.const {len}) (i32.const 0x8000) (i32.const 0x8000)))"
            )
        };
        let code = match body {
            Body::Reply(resp) => {
                let (at, len) = place(resp.as_bytes());
                format!("(call $reply (i32.const {at}) (i32.const {len})) (return (i32.const 0))")
            }
            Body::Call(req) => format!(
                "{} (call $reply (i32.const 0x8000) (local.get $n)) \
                 (return (i32.eq (i32.load8_u (i32.const 0x8000)) (i32.const 45)))",
                call(req, &mut place)
            ),
            Body::CallThenFail(req, err) => {
                let c = call(req, &mut place);
                let (at, len) = place(format!("-{err}\r\n").as_bytes());
                format!(
                    "{c} (call $reply (i32.const {at}) (i32.const {len})) (return (i32.const 1))"
                )
            }
            Body::CallThenSpin(req) => format!(
                "{} (loop $spin (br $spin)) (return (i32.const 0))",
                call(req, &mut place)
            ),
        };
        invoke.push_str(&format!(
            "    (block $b{h} (br_if $b{h} (i32.ne (local.get $h) (i32.const {h}))) {code})\n"
        ));
    }
    format!(
        "(module\n\
         \x20 (import \"ember\" \"register\" (func $register (param i32 i32) (result i32)))\n\
         \x20 (import \"ember\" \"call\" (func $call (param i32 i32 i32 i32) (result i32)))\n\
         \x20 (import \"ember\" \"reply\" (func $reply (param i32 i32)))\n\
         \x20 (memory (export \"memory\") 1)\n{data}\
         \x20 (func (export \"ember_abi_version\") (result i32) (i32.const 1))\n\
         \x20 (func (export \"ember_init\") (result i32)\n{init}    (i32.const 0))\n\
         \x20 (func (export \"ember_invoke\") (param $h i32) (result i32) (local $n i32)\n{invoke}    (i32.const 1))\n\
         )\n"
    )
}

/// A WAT library: `library <name>` then each function (handler = its index).
fn wat_lib(name: &str, funcs: &[(&str, &str, Option<&str>, Body)]) -> String {
    let mut specs = vec![vec!["library", name]];
    let handlers: Vec<String> = (0..funcs.len()).map(|i| i.to_string()).collect();
    for ((fname, flags, desc, _), h) in funcs.iter().zip(&handlers) {
        let mut spec = vec!["function", fname, h.as_str(), flags];
        spec.extend(desc);
        specs.push(spec);
    }
    let bodies: Vec<Body> = funcs.iter().map(|f| f.3.clone()).collect();
    wat(&specs, &bodies)
}

/// The same two libraries on both servers. `alpha.a_get` is flagged `no-writes allow-oom`
/// with a description, `beta.b_incr` has neither and INCRs `beta:counter`.
fn alpha_wat() -> String {
    wat_lib(
        "alpha",
        &[(
            "a_get",
            "no-writes allow-oom",
            Some("reads"),
            Body::Reply(":1\r\n"),
        )],
    )
}

const ALPHA_LUA: &str = "#!lua name=alpha\n\
    redis.register_function{function_name='a_get', callback=function(keys, args) return 1 end, \
    flags={'no-writes', 'allow-oom'}, description='reads'}\n";

fn beta_wat() -> String {
    wat_lib(
        "beta",
        &[("b_incr", "", None, Body::Call(&["INCR", "beta:counter"]))],
    )
}

const BETA_LUA: &str = "#!lua name=beta\n\
    redis.register_function('b_incr', function(keys, args) return redis.call('INCR', 'beta:counter') end)\n";

/// A library `gamma` whose function name clashes with alpha's.
fn gamma_wat() -> String {
    wat_lib("gamma", &[("a_get", "", None, Body::Reply(":7\r\n"))])
}

const GAMMA_LUA: &str =
    "#!lua name=gamma\nredis.register_function('a_get', function(keys, args) return 7 end)\n";

/// Ember's reply with the engine name as Redis's would say it.
fn as_lua(reply: &[u8]) -> String {
    escape(reply).replace("$4\\r\\nWASM", "$3\\r\\nLUA")
}

/// Runs `args` on both servers and asserts the same reply (engine name aside).
fn same(e: &mut RespConn, r: &mut RespConn, args: &[&[u8]]) -> Vec<u8> {
    let (er, rr) = (run(e, args), run(r, args));
    assert_eq!(
        as_lua(&er),
        escape(&rr),
        "ember-server (left) and redis-server (right) differ on {}",
        escape(&encode_command(args))
    );
    er
}

fn hello(c: &mut RespConn, proto: Protocol) {
    let v = if proto == Protocol::Resp3 { "3" } else { "2" };
    c.send(&["HELLO", v]).unwrap();
    c.set_protocol(proto);
    let reply = c.read_reply().unwrap();
    assert!(!reply.starts_with(b"-"), "HELLO {v}: {}", escape(&reply));
}

// ---------------------------------------------------------------------------------------------
// Compared with redis-server
// ---------------------------------------------------------------------------------------------

/// Error texts and argument handling that do not depend on the engine.
#[test]
fn errors_match_redis() {
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    let (mut e, mut r) = (ember.connect(), redis.connect());
    expect(
        &cmd!(e; "FUNCTION", "LOAD", alpha_wat()),
        "$5\r\nalpha\r\n",
        "alpha",
    );
    expect(
        &cmd!(e; "FUNCTION", "LOAD", beta_wat()),
        "$4\r\nbeta\r\n",
        "beta",
    );
    expect(
        &cmd!(r; "FUNCTION", "LOAD", ALPHA_LUA),
        "$5\r\nalpha\r\n",
        "alpha (redis)",
    );
    expect(
        &cmd!(r; "FUNCTION", "LOAD", BETA_LUA),
        "$4\r\nbeta\r\n",
        "beta (redis)",
    );

    let cases: &[&[&str]] = &[
        // FCALL: the function is looked up first, then numkeys is checked.
        &["FCALL", "nope", "0"],
        &["FCALL", "nope", "x"],
        &["FCALL_RO", "nope", "0"],
        &["FCALL", "b_incr", "x"],
        &["FCALL", "b_incr", "5"],
        &["FCALL", "b_incr", "2", "k"],
        &["FCALL", "b_incr", "-1"],
        &["FCALL", "b_incr"],
        &["FCALL"],
        &["FCALL_RO", "b_incr", "1", "beta:counter"],
        &["FCALL", "b_incr", "1", "beta:counter"],
        &["FCALL_RO", "a_get", "0"],
        // Function names are case-insensitive, library names are not.
        &["fcall", "A_GET", "0"],
        &["FUNCTION", "DELETE", "ALPHA"],
        // FUNCTION's subcommands and options.
        &["FUNCTION"],
        &["FUNCTION", "nope"],
        &["FUNCTION", "LOAD"],
        &["FUNCTION", "LOAD", "BAD", "code"],
        &["FUNCTION", "LOAD", "a", "b", "c"],
        &["FUNCTION", "DELETE"],
        &["FUNCTION", "DELETE", "nope"],
        &["FUNCTION", "DELETE", "a", "b"],
        &["FUNCTION", "FLUSH", "bad"],
        &["FUNCTION", "FLUSH", "sync", "async"],
        &["FUNCTION", "RESTORE"],
        &["FUNCTION", "RESTORE", "junk"],
        &["FUNCTION", "RESTORE", "junk", "bad"],
        &["FUNCTION", "RESTORE", "junk", "FLUSH", "extra"],
        &["FUNCTION", "RESTORE", "", "REPLACE"],
        &["FUNCTION", "LIST", "foo"],
        &["FUNCTION", "LIST", "LIBRARYNAME"],
        &["FUNCTION", "LIST", "WITHCODE", "WITHCODE"],
        &["FUNCTION", "LIST", "LIBRARYNAME", "a", "LIBRARYNAME", "b"],
        &["FUNCTION", "LIST", "LIBRARYNAME", "zzz"],
        &["FUNCTION", "STATS", "x"],
        &["FUNCTION", "KILL"],
        &["FUNCTION", "KILL", "x"],
        &["FUNCTION", "DUMP", "x"],
        &["SCRIPT", "KILL"],
    ];
    for case in cases {
        let args: Vec<&[u8]> = case.iter().map(|a| a.as_bytes()).collect();
        same(&mut e, &mut r, &args);
    }
    // Loading a library again, or one whose function another library has.
    let again = "-ERR Library 'alpha' already exists\r\n";
    expect(
        &cmd!(e; "FUNCTION", "LOAD", alpha_wat()),
        again,
        "alpha again",
    );
    expect(
        &cmd!(r; "FUNCTION", "LOAD", ALPHA_LUA),
        again,
        "alpha again (redis)",
    );
    let clash = "-ERR Function a_get already exists\r\n";
    expect(&cmd!(e; "FUNCTION", "LOAD", gamma_wat()), clash, "gamma");
    expect(
        &cmd!(r; "FUNCTION", "LOAD", GAMMA_LUA),
        clash,
        "gamma (redis)",
    );
    expect(
        &cmd!(e; "FUNCTION", "LOAD", "REPLACE", gamma_wat()),
        clash,
        "gamma with REPLACE",
    );
    expect(
        &cmd!(r; "FUNCTION", "LOAD", "REPLACE", GAMMA_LUA),
        clash,
        "gamma with REPLACE (redis)",
    );
    let upper = wat_lib("upper", &[("A_GET", "", None, Body::Reply(":7\r\n"))]);
    let upper_lua = "#!lua name=upper\nredis.register_function('A_GET', function() return 7 end)\n";
    let clash_upper = "-ERR Function A_GET already exists\r\n";
    expect(&cmd!(e; "FUNCTION", "LOAD", upper), clash_upper, "A_GET");
    expect(
        &cmd!(r; "FUNCTION", "LOAD", upper_lua),
        clash_upper,
        "A_GET (redis)",
    );
    // REPLACE may be repeated.
    expect(
        &cmd!(e; "FUNCTION", "LOAD", "replace", "REPLACE", alpha_wat()),
        "$5\r\nalpha\r\n",
        "REPLACE REPLACE",
    );
    expect(
        &cmd!(r; "FUNCTION", "LOAD", "replace", "REPLACE", ALPHA_LUA),
        "$5\r\nalpha\r\n",
        "REPLACE REPLACE (redis)",
    );
    // Nothing above changed the libraries.
    same(&mut e, &mut r, &[b"FUNCTION", b"STATS"]);
    fcall_in_transactions(&mut e, &mut r);
}

/// FUNCTION LIST and STATS: the same shape as Redis, in RESP2 and RESP3.
#[test]
fn list_and_stats_shapes_match_redis() {
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    let (mut e, mut r) = (ember.connect(), redis.connect());
    cmd!(e; "FUNCTION", "LOAD", alpha_wat());
    cmd!(e; "FUNCTION", "LOAD", beta_wat());
    cmd!(r; "FUNCTION", "LOAD", ALPHA_LUA);
    cmd!(r; "FUNCTION", "LOAD", BETA_LUA);
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        hello(&mut e, proto);
        hello(&mut r, proto);
        // One library at a time: Redis lists libraries in hash order.
        for pattern in ["alpha", "ALPHA", "a*", "beta", "?eta", "zzz"] {
            same(
                &mut e,
                &mut r,
                &[b"FUNCTION", b"LIST", b"LIBRARYNAME", pattern.as_bytes()],
            );
        }
        same(&mut e, &mut r, &[b"FUNCTION", b"STATS"]);
    }
    let alpha = alpha_wat();
    let want_alpha_resp3 = [
        "*1\r\n%4\r\n$12\r\nlibrary_name\r\n$5\r\nalpha\r\n$6\r\nengine\r\n$4\r\nWASM\r\n",
        "$9\r\nfunctions\r\n*1\r\n%3\r\n$4\r\nname\r\n$5\r\na_get\r\n",
        "$11\r\ndescription\r\n$5\r\nreads\r\n$5\r\nflags\r\n~2\r\n+no-writes\r\n+allow-oom\r\n",
    ]
    .concat();
    // WITHCODE adds the code exactly as loaded.
    let mut want = want_alpha_resp3;
    want.push_str("$12\r\nlibrary_code\r\n");
    let mut want = want.into_bytes();
    want.extend(bulk(alpha.as_bytes()));
    expect(
        &cmd!(e; "FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "alpha"),
        std::str::from_utf8(&want).unwrap(),
        "LIST WITHCODE (RESP3)",
    );
    hello(&mut e, Protocol::Resp2);
    hello(&mut r, Protocol::Resp2);
    let with_code = cmd!(r; "FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "alpha");
    let ember_with_code = cmd!(e; "FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "alpha");
    // Same shape as Redis's apart from the engine and the code itself.
    let strip = |reply: &[u8], code: &[u8]| {
        let s = as_lua(reply);
        s.replace(&escape(&bulk(code)).trim_matches('"').to_string(), "<code>")
    };
    assert_eq!(
        strip(&ember_with_code, alpha.as_bytes()),
        strip(&with_code, ALPHA_LUA.as_bytes())
    );
    // Libraries come sorted by name; both are there.
    let all = cmd!(e; "FUNCTION", "LIST");
    let (_, libs) = split_aggregate(&all, Protocol::Resp2).unwrap();
    assert_eq!(libs.len(), 2);
    assert!(escape(libs[0]).contains("alpha") && escape(libs[1]).contains("beta"));
}

/// FUNCTION DUMP, FLUSH, RESTORE with each policy, the collision errors and a damaged payload,
/// each step checked against Redis doing the same with its own payload.
#[test]
fn dump_and_restore_match_redis() {
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    let (mut e, mut r) = (ember.connect(), redis.connect());
    cmd!(e; "FUNCTION", "LOAD", alpha_wat());
    cmd!(r; "FUNCTION", "LOAD", ALPHA_LUA);
    let payload_of = |c: &mut RespConn| {
        let reply = cmd!(c; "FUNCTION", "DUMP");
        string_value(&reply)
            .unwrap_or_else(|| panic!("FUNCTION DUMP replied {}", escape(&reply)))
            .to_vec()
    };
    let (pe, pr) = (payload_of(&mut e), payload_of(&mut r));
    // Each step: (policy or none, expected reply), on both servers with their own payload.
    let step = |e: &mut RespConn, r: &mut RespConn, policy: Option<&str>, want: &str| {
        for (c, p, who) in [(&mut *e, &pe, "ember"), (&mut *r, &pr, "redis")] {
            let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", p];
            args.extend(policy.map(str::as_bytes));
            expect(
                &run(c, &args),
                want,
                &format!("RESTORE {policy:?} on {who}"),
            );
        }
    };
    // APPEND (the default) refuses an existing library; REPLACE takes it.
    step(
        &mut e,
        &mut r,
        None,
        "-ERR Library alpha already exists\r\n",
    );
    step(
        &mut e,
        &mut r,
        Some("APPEND"),
        "-ERR Library alpha already exists\r\n",
    );
    step(&mut e, &mut r, Some("replace"), "+OK\r\n");
    // After FLUSH the payload brings the library back.
    expect(&cmd!(e; "FUNCTION", "FLUSH"), "+OK\r\n", "FLUSH");
    expect(&cmd!(r; "FUNCTION", "FLUSH"), "+OK\r\n", "FLUSH (redis)");
    same(&mut e, &mut r, &[b"FUNCTION", b"LIST"]);
    step(&mut e, &mut r, None, "+OK\r\n");
    same(&mut e, &mut r, &[b"FUNCTION", b"LIST"]);
    expect(&cmd!(e; "FCALL", "a_get", "0"), ":1\r\n", "restored a_get");
    // A library with a function of the same name blocks APPEND and REPLACE alike (REPLACE
    // only replaces libraries of the same name); nothing changes then.
    cmd!(e; "FUNCTION", "DELETE", "alpha");
    cmd!(r; "FUNCTION", "DELETE", "alpha");
    expect(
        &cmd!(e; "FUNCTION", "LOAD", gamma_wat()),
        "$5\r\ngamma\r\n",
        "gamma",
    );
    expect(
        &cmd!(r; "FUNCTION", "LOAD", GAMMA_LUA),
        "$5\r\ngamma\r\n",
        "gamma (redis)",
    );
    let clash = "-ERR Function a_get already exists\r\n";
    step(&mut e, &mut r, None, clash);
    step(&mut e, &mut r, Some("REPLACE"), clash);
    same(&mut e, &mut r, &[b"FUNCTION", b"STATS"]);
    expect(
        &cmd!(e; "FCALL", "a_get", "0"),
        ":7\r\n",
        "gamma's a_get still",
    );
    // FLUSH drops what was there first.
    step(&mut e, &mut r, Some("FLUSH"), "+OK\r\n");
    same(&mut e, &mut r, &[b"FUNCTION", b"LIST"]);
    expect(
        &cmd!(e; "FCALL", "a_get", "0"),
        ":1\r\n",
        "alpha's a_get again",
    );
    // A payload of no libraries is fine; RESTORE FLUSH of it empties the server.
    cmd!(e; "FUNCTION", "FLUSH");
    cmd!(r; "FUNCTION", "FLUSH");
    let (empty_e, empty_r) = (payload_of(&mut e), payload_of(&mut r));
    cmd!(e; "FUNCTION", "RESTORE", pe, "FLUSH");
    cmd!(r; "FUNCTION", "RESTORE", pr, "FLUSH");
    expect(
        &cmd!(e; "FUNCTION", "RESTORE", empty_e, "FLUSH"),
        "+OK\r\n",
        "empty",
    );
    expect(
        &cmd!(r; "FUNCTION", "RESTORE", empty_r, "FLUSH"),
        "+OK\r\n",
        "empty (redis)",
    );
    same(&mut e, &mut r, &[b"FUNCTION", b"LIST"]);

    // A damaged payload is refused, whichever byte is wrong, and changes nothing.
    let bad = "-ERR DUMP payload version or checksum are wrong\r\n";
    for (c, p, who) in [(&mut e, &pe, "ember"), (&mut r, &pr, "redis")] {
        let mut damaged = vec![p[..p.len() - 1].to_vec(), p[1..].to_vec()];
        for at in [0, p.len() / 2, p.len() - 1] {
            let mut d = p.clone();
            d[at] ^= 0x20;
            damaged.push(d);
        }
        for d in damaged {
            expect(&cmd!(c; "FUNCTION", "RESTORE", d), bad, who);
        }
        expect(&cmd!(c; "FUNCTION", "LIST"), "*0\r\n", who);
    }
}

/// FCALL inside MULTI/EXEC: queued, then run in order; errors stay per command. Needs alpha
/// and beta loaded on both servers.
fn fcall_in_transactions(e: &mut RespConn, r: &mut RespConn) {
    let script: &[&[&str]] = &[
        &["MULTI"],
        &["FCALL", "b_incr", "1", "beta:counter"],
        &["FCALL", "nope", "0"],
        &["FCALL_RO", "b_incr", "1", "beta:counter"],
        &["FCALL_RO", "a_get", "0"],
        &["FCALL", "b_incr", "1", "beta:counter"],
        &["GET", "beta:counter"],
        &["EXEC"],
        // An arity error while queueing aborts the transaction.
        &["MULTI"],
        &["FCALL", "b_incr"],
        &["FCALL", "b_incr", "1", "beta:counter"],
        &["EXEC"],
        &["GET", "beta:counter"],
        // FUNCTION subcommands queue too.
        &["MULTI"],
        &["FUNCTION", "DELETE", "beta"],
        &["FCALL", "b_incr", "1", "beta:counter"],
        &["EXEC"],
    ];
    for step in script {
        let args: Vec<&[u8]> = step.iter().map(|a| a.as_bytes()).collect();
        same(e, r, &args);
    }
}

// ---------------------------------------------------------------------------------------------
// Ember: the mylib example, exact replies, semantics
// ---------------------------------------------------------------------------------------------

/// mylib's FUNCTION LIST, byte for byte, in RESP2 and RESP3.
fn mylib_list(resp3: bool) -> String {
    let (map3, set) = if resp3 { ("%3", "~") } else { ("*6", "*") };
    let func = |name: &str, desc: &str, flags: &[&str]| {
        let mut s = format!(
            "{map3}\r\n$4\r\nname\r\n${}\r\n{name}\r\n$11\r\ndescription\r\n${}\r\n{desc}\r\n$5\r\nflags\r\n{set}{}\r\n",
            name.len(),
            desc.len(),
            flags.len()
        );
        for f in flags {
            s.push_str(&format!("+{f}\r\n"));
        }
        s
    };
    let lib = if resp3 { "%3" } else { "*6" };
    [
        format!("*1\r\n{lib}\r\n$12\r\nlibrary_name\r\n$5\r\nmylib\r\n$6\r\nengine\r\n$4\r\nWASM\r\n$9\r\nfunctions\r\n*4\r\n"),
        func(
            "counter_incr",
            "Adds ARGV[1] (default 1) to the counter KEYS[1]; replies the new value",
            &[],
        ),
        func("counter_get", "The counter KEYS[1], 0 when missing", &["no-writes"]),
        func(
            "counter_incr_capped",
            "Adds ARGV[1] to KEYS[1] unless that passes the cap ARGV[2]",
            &[],
        ),
        func(
            "counter_total",
            "The sum of every counter matching the pattern ARGV[1]",
            &["no-writes", "whole-keyspace"],
        ),
    ]
    .concat()
}

#[test]
fn mylib_load_call_list_delete_flush() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    let code = mylib_wasm();
    expect(
        &cmd!(c; "FUNCTION", "LOAD", code),
        "$5\r\nmylib\r\n",
        "LOAD",
    );
    expect(
        &cmd!(c; "FUNCTION", "LOAD", code),
        "-ERR Library 'mylib' already exists\r\n",
        "LOAD again",
    );
    expect(
        &cmd!(c; "FUNCTION", "LOAD", "REPLACE", code),
        "$5\r\nmylib\r\n",
        "LOAD REPLACE",
    );
    expect(
        &cmd!(c; "FCALL", "counter_incr", "1", "n"),
        ":1\r\n",
        "incr",
    );
    expect(
        &cmd!(c; "FCALL", "counter_incr", "1", "n", "9"),
        ":10\r\n",
        "incr 9",
    );
    expect(
        &cmd!(c; "FCALL_RO", "counter_get", "1", "n"),
        ":10\r\n",
        "get",
    );
    expect(
        &cmd!(c; "FCALL", "counter_get", "1", "n"),
        ":10\r\n",
        "get by FCALL",
    );
    expect(
        &cmd!(c; "FCALL_RO", "counter_incr", "1", "n"),
        "-ERR Can not execute a script with write flag using *_ro command.\r\n",
        "FCALL_RO of a write function",
    );
    expect(
        &cmd!(c; "FCALL", "counter_incr", "1", "n", "x"),
        "-ERR value is not an integer or out of range\r\n",
        "bad step",
    );
    expect(
        &cmd!(c; "FCALL", "counter_get", "1", "n"),
        ":10\r\n",
        "unchanged",
    );

    // LIST, exactly: registration order, descriptions, flags as status strings.
    let want = mylib_list(false);
    expect(&cmd!(c; "FUNCTION", "LIST"), &want, "LIST (RESP2)");
    expect(
        &cmd!(c; "FUNCTION", "LIST", "LIBRARYNAME", "MY*"),
        &want,
        "LIBRARYNAME is case-insensitive",
    );
    let mut with_code = want
        .replacen("*1\r\n*6\r\n", "*1\r\n*8\r\n", 1)
        .into_bytes();
    with_code.extend_from_slice(b"$12\r\nlibrary_code\r\n");
    with_code.extend(bulk(&code));
    let got = cmd!(c; "FUNCTION", "LIST", "WITHCODE");
    assert!(
        got == with_code,
        "LIST WITHCODE: {}",
        escape(&got[..got.len().min(600)])
    );
    hello(&mut c, Protocol::Resp3);
    expect(
        &cmd!(c; "FUNCTION", "LIST"),
        &mylib_list(true),
        "LIST (RESP3)",
    );
    expect(
        &cmd!(c; "FUNCTION", "STATS"),
        "%2\r\n$14\r\nrunning_script\r\n_\r\n$7\r\nengines\r\n%1\r\n$4\r\nWASM\r\n%2\r\n\
         $15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:4\r\n",
        "STATS (RESP3)",
    );
    hello(&mut c, Protocol::Resp2);
    expect(
        &cmd!(c; "FUNCTION", "STATS"),
        "*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$4\r\nWASM\r\n*4\r\n\
         $15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:4\r\n",
        "STATS (RESP2)",
    );

    // DELETE, then the functions are gone; the keys they wrote stay.
    expect(&cmd!(c; "FUNCTION", "DELETE", "mylib"), "+OK\r\n", "DELETE");
    expect(
        &cmd!(c; "FUNCTION", "DELETE", "mylib"),
        "-ERR Library not found\r\n",
        "DELETE again",
    );
    expect(
        &cmd!(c; "FCALL", "counter_get", "1", "n"),
        "-ERR Function not found\r\n",
        "FCALL after DELETE",
    );
    expect(&cmd!(c; "GET", "n"), "$2\r\n10\r\n", "data stays");
    expect(&cmd!(c; "FUNCTION", "LIST"), "*0\r\n", "empty LIST");

    // FLUSH in each form empties the registry; loading again works.
    for flush in [
        &["FUNCTION", "FLUSH"][..],
        &["FUNCTION", "FLUSH", "ASYNC"],
        &["FUNCTION", "FLUSH", "sync"],
    ] {
        expect(
            &cmd!(c; "FUNCTION", "LOAD", code),
            "$5\r\nmylib\r\n",
            "LOAD",
        );
        cmd!(c; "FUNCTION", "LOAD", alpha_wat());
        let args: Vec<&[u8]> = flush.iter().map(|a| a.as_bytes()).collect();
        expect(&run(&mut c, &args), "+OK\r\n", "FLUSH");
        expect(&cmd!(c; "FUNCTION", "LIST"), "*0\r\n", "LIST after FLUSH");
        expect(
            &cmd!(c; "FCALL", "a_get", "0"),
            "-ERR Function not found\r\n",
            "FCALL after FLUSH",
        );
    }
    expect(
        &cmd!(c; "FUNCTION", "STATS"),
        // No libraries: Redis's answer (Lua with zeros).
        "*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n\
         $15\r\nlibraries_count\r\n:0\r\n$15\r\nfunctions_count\r\n:0\r\n",
        "STATS when empty",
    );

    // DUMP, FLUSH, RESTORE brings mylib back, callable.
    cmd!(c; "FUNCTION", "LOAD", code);
    let dump = cmd!(c; "FUNCTION", "DUMP");
    let payload = string_value(&dump).unwrap().to_vec();
    cmd!(c; "FUNCTION", "FLUSH");
    expect(
        &cmd!(c; "FUNCTION", "RESTORE", payload),
        "+OK\r\n",
        "RESTORE",
    );
    expect(&cmd!(c; "FUNCTION", "LIST"), &want, "LIST after RESTORE");
    expect(
        &cmd!(c; "FCALL", "counter_incr", "1", "n"),
        ":11\r\n",
        "incr after RESTORE",
    );
}

/// A REPLACE swaps the whole library; a REPLACE that would clash keeps the old one.
#[test]
fn replace_and_registration_errors() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    cmd!(c; "FUNCTION", "LOAD", alpha_wat());
    let alpha2 = wat_lib("alpha", &[("a_new", "", None, Body::Reply(":2\r\n"))]);
    expect(
        &cmd!(c; "FUNCTION", "LOAD", "REPLACE", alpha2),
        "$5\r\nalpha\r\n",
        "REPLACE",
    );
    expect(&cmd!(c; "FCALL", "a_new", "0"), ":2\r\n", "new function");
    expect(
        &cmd!(c; "FCALL", "a_get", "0"),
        "-ERR Function not found\r\n",
        "old function gone",
    );
    cmd!(c; "FUNCTION", "LOAD", beta_wat());
    let alpha3 = wat_lib("alpha", &[("b_incr", "", None, Body::Reply(":3\r\n"))]);
    expect(
        &cmd!(c; "FUNCTION", "LOAD", "REPLACE", alpha3),
        "-ERR Function b_incr already exists\r\n",
        "REPLACE clashing with beta",
    );
    expect(&cmd!(c; "FCALL", "a_new", "0"), ":2\r\n", "alpha kept");

    // What a library's registrations can get wrong (docs/abi.md `register`).
    let f = |name: &'static str, flags: &'static str| vec!["function", name, "0", flags];
    let reply = Body::Reply(":1\r\n");
    let cases: Vec<(Vec<Vec<&str>>, &str)> = vec![
        (vec![vec!["library", "solo"]], "ERR No functions registered"),
        (vec![f("f1", "")], "ERR Missing library metadata"),
        (
            vec![vec!["library", "bad-name"], f("f1", "")],
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ),
        (
            vec![vec!["library", "ok"], f("f-1", "")],
            "ERR Function names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ),
        (
            vec![vec!["library", "ok"], f("f1", "bogus")],
            "ERR Unknown flag given: bogus",
        ),
        (
            vec![vec!["library", "ok"], f("f1", ""), f("f1", "")],
            "ERR Function f1 already exists",
        ),
        (
            vec![vec!["library", "ok"], f("f1", ""), f("F1", "")],
            "ERR Function F1 already exists",
        ),
    ];
    for (specs, want) in cases {
        let got = cmd!(c; "FUNCTION", "LOAD", wat(&specs, std::slice::from_ref(&reply)));
        expect(&got, &format!("-{want}\r\n"), &format!("{specs:?}"));
    }
    // Code that is not a library at all.
    for code in [&b"not wasm"[..], b"\0asm\x01\0\0\0", b""] {
        let got = cmd!(c; "FUNCTION", "LOAD", code);
        assert!(
            got.starts_with(b"-ERR "),
            "LOAD {}: {}",
            escape(code),
            escape(&got)
        );
    }
    // A script is not a library.
    let script = "(module (memory (export \"memory\") 1) \
        (func (export \"ember_abi_version\") (result i32) (i32.const 1)) \
        (func (export \"ember_main\") (result i32) (i32.const 0)))";
    let got = cmd!(c; "FUNCTION", "LOAD", script);
    assert!(
        got.starts_with(b"-ERR "),
        "a script as a library: {}",
        escape(&got)
    );
    // Only alpha and beta are there.
    let stats = cmd!(c; "FUNCTION", "STATS");
    assert!(
        escape(&stats).contains("libraries_count\\r\\n:2\\r\\n$15\\r\\nfunctions_count\\r\\n:2"),
        "{}",
        escape(&stats)
    );
}

/// All-or-nothing, undeclared keys and whole-keyspace, read-only functions, transactions,
/// FUNCTION KILL.
#[test]
fn function_semantics() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    cmd!(c; "FUNCTION", "LOAD", mylib_wasm());

    // A function that writes and then returns an error leaves nothing behind.
    expect(&cmd!(c; "SET", "n", "5"), "+OK\r\n", "SET");
    expect(
        &cmd!(c; "FCALL", "counter_incr_capped", "1", "n", "10", "12"),
        "-ERR counter would pass its cap of 12\r\n",
        "past the cap",
    );
    expect(&cmd!(c; "GET", "n"), "$1\r\n5\r\n", "increment undone");
    expect(
        &cmd!(c; "FCALL", "counter_incr_capped", "1", "fresh", "10", "5"),
        "-ERR counter would pass its cap of 5\r\n",
        "past the cap on a new key",
    );
    expect(&cmd!(c; "EXISTS", "fresh"), ":0\r\n", "key not created");
    expect(
        &cmd!(c; "FCALL", "counter_incr_capped", "1", "n", "7", "12"),
        ":12\r\n",
        "within the cap",
    );
    // The same with a WAT function: SET, then fail.
    let undo = wat_lib(
        "undo",
        &[(
            "set_then_fail",
            "",
            None,
            Body::CallThenFail(&["SET", "undo:k", "v"], "ERR changed my mind"),
        )],
    );
    cmd!(c; "FUNCTION", "LOAD", undo);
    expect(
        &cmd!(c; "FCALL", "set_then_fail", "1", "undo:k"),
        "-ERR changed my mind\r\n",
        "set_then_fail",
    );
    expect(&cmd!(c; "EXISTS", "undo:k"), ":0\r\n", "SET undone");

    // whole-keyspace: counter_total reads keys it never declared.
    for (k, v) in [("hits:a", "2"), ("hits:b", "3"), ("other", "100")] {
        cmd!(c; "SET", k, v);
    }
    cmd!(c; "HSET", "hits:hash", "f", "v");
    expect(
        &cmd!(c; "FCALL_RO", "counter_total", "0", "hits:*"),
        ":5\r\n",
        "total",
    );
    // Without the flag, an undeclared key is refused.
    cmd!(c; "FUNCTION", "LOAD", beta_wat());
    expect(
        &cmd!(c; "FCALL", "b_incr", "0"),
        "-ERR guest accessed undeclared key 'beta:counter'; declare it in KEYS or flag the script whole-keyspace\r\n",
        "undeclared key",
    );
    expect(
        &cmd!(c; "FCALL", "b_incr", "1", "beta:counter"),
        ":1\r\n",
        "declared",
    );
    let wk = wat_lib(
        "wk",
        &[(
            "wk_incr",
            "whole-keyspace",
            None,
            Body::Call(&["INCR", "beta:counter"]),
        )],
    );
    cmd!(c; "FUNCTION", "LOAD", wk);
    expect(
        &cmd!(c; "FCALL", "wk_incr", "0"),
        ":2\r\n",
        "whole-keyspace",
    );

    // A no-writes function cannot write, even by FCALL.
    let ro = wat_lib(
        "ro",
        &[(
            "ro_write",
            "no-writes",
            None,
            Body::Call(&["SET", "ro:k", "v"]),
        )],
    );
    cmd!(c; "FUNCTION", "LOAD", ro);
    for call in ["FCALL", "FCALL_RO"] {
        let got = cmd!(c; call, "ro_write", "1", "ro:k");
        assert!(
            got.starts_with(b"-ERR Write commands are not allowed from read-only scripts"),
            "{call} ro_write: {}",
            escape(&got)
        );
    }
    expect(&cmd!(c; "EXISTS", "ro:k"), ":0\r\n", "nothing written");

    // FCALL with RESP3 replies: the function's integer is an integer.
    hello(&mut c, Protocol::Resp3);
    expect(
        &cmd!(c; "FCALL_RO", "counter_get", "1", "n"),
        ":12\r\n",
        "RESP3",
    );

    // Inside MULTI/EXEC, a whole-keyspace function runs too.
    hello(&mut c, Protocol::Resp2);
    expect(&cmd!(c; "MULTI"), "+OK\r\n", "MULTI");
    expect(
        &cmd!(c; "FCALL", "counter_incr", "1", "hits:a", "10"),
        "+QUEUED\r\n",
        "queued",
    );
    expect(
        &cmd!(c; "FCALL_RO", "counter_total", "0", "hits:*"),
        "+QUEUED\r\n",
        "queued",
    );
    expect(
        &cmd!(c; "FCALL", "counter_incr_capped", "1", "hits:b", "100", "1"),
        "+QUEUED\r\n",
        "queued",
    );
    expect(
        &cmd!(c; "EXEC"),
        "*3\r\n:12\r\n:15\r\n-ERR counter would pass its cap of 1\r\n",
        "EXEC",
    );
    expect(
        &cmd!(c; "GET", "hits:b"),
        "$1\r\n3\r\n",
        "the failed one undone",
    );
    kill_a_running_function(&server);
}

/// FUNCTION KILL stops a running function, undoes its writes, and other clients are served
/// meanwhile; with nothing running it answers NOTBUSY.
fn kill_a_running_function(server: &ServerProcess) {
    let mut c = server.connect();
    expect(
        &cmd!(c; "FUNCTION", "KILL"),
        "-NOTBUSY No scripts in execution right now.\r\n",
        "idle",
    );
    let spin = wat_lib(
        "spin",
        &[(
            "spin",
            "",
            None,
            Body::CallThenSpin(&["SET", "spin:k", "written"]),
        )],
    );
    cmd!(c; "FUNCTION", "LOAD", spin);
    let addr = server.addr();
    let started = Instant::now();
    let runner = std::thread::spawn(move || {
        let mut c = RespConn::connect(addr).unwrap();
        c.set_timeout(Duration::from_secs(10));
        let sent = started.elapsed();
        let reply = cmd!(c; "FCALL", "spin", "1", "spin:k");
        (reply, sent, started.elapsed())
    });
    // What happened when, for the failure messages.
    let mut timeline = Vec::new();
    let timed = |c: &mut RespConn, args: &[&str], timeline: &mut Vec<String>| {
        let t0 = started.elapsed();
        let reply = c.command(args).unwrap();
        timeline.push(format!(
            "{args:?} at {t0:?} took {:?}: {}",
            started.elapsed() - t0,
            escape(&reply)
        ));
        reply
    };
    std::thread::sleep(Duration::from_millis(300));
    // Other clients are served while it runs. (Not with a key: the function holds its key's
    // shard, one of 16 chosen by a per-process hash, so a command on another key may wait for
    // it — docs/abi.md.)
    let ping = timed(&mut c, &["PING"], &mut timeline);
    expect(&ping, "+PONG\r\n", "served meanwhile");
    // SCRIPT KILL does not stop a function: Redis's BUSY text points at FUNCTION KILL
    // (NOTBUSY only while the FCALL has not started yet).
    loop {
        let script_kill = timed(&mut c, &["SCRIPT", "KILL"], &mut timeline);
        if script_kill != b"-NOTBUSY No scripts in execution right now.\r\n"
            || started.elapsed() > Duration::from_secs(4)
        {
            expect(
                &script_kill,
                "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n",
                "SCRIPT KILL",
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // NOTBUSY until the FCALL has started (a loaded machine may take a while).
    loop {
        let reply = timed(&mut c, &["FUNCTION", "KILL"], &mut timeline);
        if reply == b"+OK\r\n" {
            break;
        }
        expect(
            &reply,
            "-NOTBUSY No scripts in execution right now.\r\n",
            "FUNCTION KILL",
        );
        if runner.is_finished() {
            let (reply, sent, done) = runner.join().unwrap();
            panic!(
                "the endless FCALL (sent at {sent:?}) returned at {done:?}: {}\n{}",
                escape(&reply),
                timeline.join("\n")
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "FUNCTION KILL found nothing running for 4 s:\n{}\nserver log:\n{}",
            timeline.join("\n"),
            server.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (reply, _, _) = runner.join().unwrap();
    assert!(
        reply.starts_with(b"-ERR ") && escape(&reply).contains("FUNCTION KILL"),
        "the killed FCALL replied {}",
        escape(&reply)
    );
    // Well before the 5 s time limit would have ended it.
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "killed after {:?}",
        started.elapsed()
    );
    expect(&cmd!(c; "EXISTS", "spin:k"), ":0\r\n", "its SET undone");
    expect(
        &cmd!(c; "FUNCTION", "KILL"),
        "-NOTBUSY No scripts in execution right now.\r\n",
        "idle again",
    );
    // The library still works (a fresh instance).
    let ok = wat_lib("fine", &[("fine", "", None, Body::Reply("+fine\r\n"))]);
    cmd!(c; "FUNCTION", "LOAD", ok);
    expect(
        &cmd!(c; "FCALL", "fine", "0"),
        "+fine\r\n",
        "other functions run",
    );
}
