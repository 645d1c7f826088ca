//! The Lua debugger (SCRIPT DEBUG YES|SYNC|NO, `redis-cli --ldb`) against redis-server 7.0:
//! the same debugging transcripts are played on both over raw sockets and every reply is
//! compared byte for byte (the logs as arrays of status replies, `<endsession>`, the EVAL's
//! reply, the connection closed after it), and redis-cli's own output is compared when it
//! drives a session from a pipe. Ember's own rules are asserted directly: a YES session's
//! writes are undone (Redis forks for it), errors and a client that leaves end a session with
//! its writes undone, and a session holds its database only.

#[path = "common/mod.rs"]
mod common;

use common::{escape, RespConn, ServerProcess};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One step of a transcript.
#[derive(Clone, Copy)]
enum Step {
    /// A command (SCRIPT DEBUG, EVAL, or a debugger command): one reply is read, two when the
    /// session ends (`<endsession>`, then the EVAL's reply), after which the connection must
    /// be closed.
    Cmd(&'static [&'static str]),
    /// Raw bytes, with a reply as for `Cmd`.
    Raw(&'static [u8]),
    /// Raw bytes that complete no command: nothing is read.
    Partial(&'static [u8]),
}

/// Plays `steps` on a fresh connection and returns what came back, escaped, one entry per
/// reply, "<closed>" once the server closed the connection.
fn play(server: &ServerProcess, steps: &[Step]) -> Vec<String> {
    let mut conn = server.connect();
    conn.set_timeout(Duration::from_secs(10));
    let mut seen = Vec::new();
    for step in steps {
        match step {
            Step::Cmd(argv) => conn.send(argv).expect("send"),
            Step::Raw(bytes) => conn.send_raw(bytes).expect("send"),
            Step::Partial(bytes) => {
                conn.send_raw(bytes).expect("send");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        }
        let reply = conn.read_reply().expect("reply");
        let ended = reply.windows(15).any(|w| w == b"+<endsession>\r\n");
        seen.push(escape(&reply));
        if ended {
            seen.push(escape(&conn.read_reply().expect("the EVAL's reply")));
            assert!(
                conn.wait_closed(Duration::from_secs(5)),
                "{:?} must close the connection after the session",
                server.kind()
            );
            seen.push("<closed>".into());
            break;
        }
    }
    seen
}

/// Plays `steps` on both servers and asserts they answered alike.
fn same(ember: &ServerProcess, redis: &ServerProcess, steps: &[Step]) -> Vec<String> {
    let e = play(ember, steps);
    let r = play(redis, steps);
    assert_eq!(e, r, "ember (left) and redis (right) differ");
    e
}

fn get(server: &ServerProcess, key: &str) -> Vec<u8> {
    server.connect().command(&["GET", key]).expect("GET")
}

use Step::*;

#[test]
fn stepping_printing_breakpoints_match_redis() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    const SCRIPT: &str = "local t = {a=1}\nlocal s = 'x\\ny\\1'\nredis.call('set',KEYS[1],'v')\n\
                  local ok = redis.pcall('incr',KEYS[1])\nredis.breakpoint()\nlocal z = {1,2,'x'}\n\
                  redis.debug('z is', z, 3.5, nil, true)\nreturn {1,2,ok}";
    let seen = same(
        &ember,
        &redis,
        &[
            Cmd(&["SCRIPT", "DEBUG", "SYNC"]),
            Cmd(&["EVAL", SCRIPT, "1", "k2", "argv1"]),
            Cmd(&["h"]),
            Cmd(&["p", "KEYS"]),
            Cmd(&["print", "ARGV"]),
            Cmd(&["p", "nosuch"]),
            Cmd(&["s"]),
            Cmd(&["step"]),
            Cmd(&["p"]),
            Cmd(&["n"]),
            // An error reply of redis.pcall: <redis>, <error>, <reply>.
            Cmd(&["next"]),
            Cmd(&["b"]),
            Cmd(&["b", "x"]),
            Cmd(&["b", "99"]),
            Cmd(&["b", "2", "-2", "-7", "0"]),
            Cmd(&["break", "8"]),
            Cmd(&["b", "8"]),
            Cmd(&["b"]),
            Cmd(&["l"]),
            Cmd(&["l", "3", "1"]),
            Cmd(&["list", "0"]),
            Cmd(&["w"]),
            Cmd(&["t"]),
            Cmd(&["e", "local x = 1"]),
            Cmd(&["e", "1 +"]),
            Cmd(&["eval", "{1,{a=2},'q'}"]),
            Cmd(&["e", "t"]),
            Cmd(&["e", "error('boom')"]),
            // Script-layer errors (<error> only) and command errors.
            Cmd(&["r", "get"]),
            Cmd(&["redis", "incr", "k2"]),
            Cmd(&["r", "get", "k2"]),
            Cmd(&["r"]),
            Cmd(&["m"]),
            Cmd(&["maxlen", "10"]),
            Cmd(&["m", "0"]),
            Cmd(&["nonsense", "x"]),
            Cmd(&["c"]),
            Cmd(&["c"]),
            Cmd(&["c"]),
        ],
    );
    assert!(seen.iter().any(|r| r.contains("redis.breakpoint() called")));
    assert!(seen.iter().any(|r| r.contains("<debug> line 7")));
    assert_eq!(seen.last().map(String::as_str), Some("<closed>"));
    // SYNC keeps the session's writes.
    assert_eq!(get(&ember, "k2"), get(&redis, "k2"));
    assert_eq!(get(&ember, "k2"), b"$1\r\nv\r\n");
}

#[test]
fn yes_mode_undoes_the_writes_as_redis_forked_child_does() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    for s in [&ember, &redis] {
        s.connect().command(&["SET", "yk", "orig"]).unwrap();
    }
    const SCRIPT: &str = "redis.call('set',KEYS[1],'new')\nredis.setresp(3)\n\
                  local m = redis.call('hgetall','nohash')\nlocal big = string.rep('a', 300)\n\
                  return big";
    let seen = same(
        &ember,
        &redis,
        &[
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["EVAL", SCRIPT, "1", "yk"]),
            Cmd(&["s"]),
            Cmd(&["s"]),
            // A RESP3 reply as the debugger shows it.
            Cmd(&["s"]),
            Cmd(&["s"]),
            // Trimmed at maxlen, with the one-time hint.
            Cmd(&["p", "big"]),
            Cmd(&["p", "big"]),
            Cmd(&["m", "70"]),
            Cmd(&["p"]),
            Cmd(&["r", "get", "yk"]),
            Cmd(&["s"]),
        ],
    );
    assert!(seen
        .iter()
        .any(|r| r.contains("<hint> The above reply was trimmed")));
    assert_eq!(get(&ember, "yk"), b"$4\r\norig\r\n");
    assert_eq!(get(&redis, "yk"), b"$4\r\norig\r\n");
}

#[test]
fn session_errors_match_redis() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    const TWO_LINES: &str = "local a = 1\nreturn a";
    let transcripts: &[&[Step]] = &[
        // SCRIPT DEBUG's own errors, and NO turning it off.
        &[
            Cmd(&["SCRIPT", "DEBUG", "maybe"]),
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["SCRIPT", "DEBUG", "NO"]),
            Cmd(&["EVAL", "return 7", "0"]),
        ],
        &[
            Raw(b"*1\r\n$4\r\nPING\r\n*3\r\n$6\r\nSCRIPT\r\n$5\r\nDEBUG\r\n$3\r\nYES\r\n"),
            Cmd(&["EVAL", "return 8", "0"]),
        ],
        &[
            Cmd(&["MULTI"]),
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["EXEC"]),
        ],
        // EVALSHA is refused while debugging; the session ends at once on errors before the
        // script runs, with <endsession> before the error.
        &[
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["EVALSHA", "0123456789012345678901234567890123456789", "0"]),
            Cmd(&["EVAL", "return 1 +", "0"]),
        ],
        &[
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["EVAL", "return 1", "5", "a"]),
        ],
        // Debugger input Redis refuses: the script ends with "protocol error".
        &[
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["EVAL", TWO_LINES, "0"]),
            Raw(b"hello\r\n"),
        ],
        &[
            Cmd(&["SCRIPT", "DEBUG", "SYNC"]),
            Cmd(&["EVAL", TWO_LINES, "0"]),
            Raw(b"*1\r\n$0\r\n\r\n"),
        ],
        // A command split over two writes; junk before '*' skipped.
        &[
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["EVAL", TWO_LINES, "0"]),
            Partial(b"xx*2\r\n$1\r\np\r\n$1\r\na"),
            Raw(b"\r\n"),
            Cmd(&["s"]),
            Cmd(&["p", "a"]),
            Cmd(&["abort"]),
        ],
        // A runtime error ends the session with the script's error.
        &[
            Cmd(&["SCRIPT", "DEBUG", "SYNC"]),
            Cmd(&["EVAL", "local x = 1\nreturn x + nil", "0"]),
            Cmd(&["c"]),
        ],
        // A shebang line is listed as sent (the engine runs the text with it blanked).
        &[
            Cmd(&["SCRIPT", "DEBUG", "YES"]),
            Cmd(&["EVAL", "#!lua flags=no-writes\nlocal a = 1\nreturn a", "0"]),
            Cmd(&["w"]),
            Cmd(&["l", "1", "0"]),
            Cmd(&["c"]),
        ],
        // EVAL_RO is debugged too.
        &[
            Cmd(&["SCRIPT", "DEBUG", "SYNC"]),
            Cmd(&["EVAL_RO", "local x = 1\nreturn x", "0"]),
            Cmd(&["s"]),
            Cmd(&["s"]),
        ],
    ];
    for steps in transcripts {
        same(&ember, &redis, steps);
    }
}

#[test]
fn a_long_run_stops_for_the_user_at_the_time_limit() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("wasm-time-limit", "300")]);
    let redis = ServerProcess::start_redis(&[("busy-reply-threshold", "300")]);
    let seen = same(
        &ember,
        &redis,
        &[
            Cmd(&["SCRIPT", "DEBUG", "SYNC"]),
            Cmd(&["EVAL", "local i = 0\nwhile true do\ni = i + 1\nend", "0"]),
            Cmd(&["c"]),
            Cmd(&["c"]),
            Cmd(&["a"]),
        ],
    );
    assert!(seen[2].contains("timeout reached, infinite loop?"));
    // Ember keeps serving other clients meanwhile, and after.
    assert_eq!(get(&ember, "nothing"), b"$-1\r\n");
}

/// What redis-cli prints for a session it drives, commands from a pipe.
fn redis_cli(server: &ServerProcess, mode: &str, script: &std::path::Path, input: &str) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), mode, "--eval"])
        .arg(script)
        .args(["mykey", ",", "myval"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("redis-cli output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_ldb_prints_the_same() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    let dir = common::unique_temp_dir("ldb-cli");
    let script = dir.join("s.lua");
    std::fs::write(
        &script,
        "local a = 1\nredis.call('set', KEYS[1], ARGV[1])\nlocal b = redis.call('get', KEYS[1])\nreturn b\n",
    )
    .unwrap();
    for (mode, input) in [
        ("--ldb", "s\np\nn\nn\nl\nb 4\nhelp\nc\n"),
        (
            "--ldb-sync-mode",
            "s\ns\ne redis.call('get', KEYS[1])\ns\ns\n",
        ),
    ] {
        let e = redis_cli(&ember, mode, &script, input);
        let r = redis_cli(&redis, mode, &script, input);
        assert_eq!(
            e, r,
            "redis-cli {mode}: ember (left) and redis (right) differ"
        );
        assert!(e.contains("(Lua debugging session ended"), "{e}");
    }
    // --ldb rolled its SET back; --ldb-sync-mode kept it.
    assert_eq!(get(&ember, "mykey"), get(&redis, "mykey"));
    assert_eq!(get(&ember, "mykey"), b"$5\r\nmyval\r\n");
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts a SYNC session whose script has written `key` and is stopped after the write.
fn stopped_after_a_write(ember: &ServerProcess, key: &str) -> RespConn {
    let mut conn = ember.connect();
    conn.command(&["SCRIPT", "DEBUG", "SYNC"]).unwrap();
    let script = format!("redis.call('set','{key}','1')\nreturn 1");
    conn.command(&["EVAL", &script, "0"]).unwrap();
    let after = conn.command(&["s"]).unwrap();
    assert!(
        escape(&after).contains("Stopped at 2"),
        "{}",
        escape(&after)
    );
    conn
}

#[test]
fn a_session_holds_its_database_and_a_client_that_leaves_undoes_it() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let conn = stopped_after_a_write(&ember, "dk");
    // Another database is not held.
    let mut other = ember.connect();
    other.command(&["SELECT", "1"]).unwrap();
    assert_eq!(other.command(&["SET", "x", "y"]).unwrap(), b"+OK\r\n");
    // The session's own database waits for it; the client leaves, its write is undone.
    other.command(&["SELECT", "0"]).unwrap();
    other.send(&["GET", "dk"]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(other.pending().is_empty());
    drop(conn);
    assert_eq!(other.read_reply().unwrap(), b"$-1\r\n");

    // CLIENT KILL ends a session the same way.
    let conn = stopped_after_a_write(&ember, "dk2");
    let list = other.command(&["CLIENT", "LIST"]).unwrap();
    let list = String::from_utf8_lossy(&list).into_owned();
    let id = list
        .lines()
        .find(|l| l.contains("cmd=eval"))
        .and_then(|l| l.split(' ').next())
        .and_then(|f| f.strip_prefix("id="))
        .expect("the debugging client in CLIENT LIST")
        .to_string();
    assert_eq!(
        other.command(&["CLIENT", "KILL", "ID", &id]).unwrap(),
        b":1\r\n"
    );
    let after_kill = other.command(&["GET", "dk2"]);
    assert!(
        matches!(&after_kill, Ok(r) if r == b"$-1\r\n"),
        "{after_kill:?}; server output:\n{}",
        ember.output()
    );
    drop(conn);

    // `abort` is an error: the script's writes are undone in SYNC mode too (Ember's
    // all-or-nothing rule; Redis keeps them).
    let mut conn = stopped_after_a_write(&ember, "dk3");
    let end = conn.command(&["a"]).unwrap();
    assert!(escape(&end).contains("<endsession>"));
    assert!(escape(&conn.read_reply().unwrap()).contains("script aborted for user request"));
    assert_eq!(other.command(&["GET", "dk3"]).unwrap(), b"$-1\r\n");
}
