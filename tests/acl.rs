//! ACL users and permissions (docs/acl.md), against the real servers.
//!
//! - A matrix of users × commands × keys × channels, top level, inside MULTI/EXEC and inside Lua
//!   scripts, run on Debian's redis-server 7.0 and on ember-server: every reply compared byte
//!   for byte. ACL rule output and error texts are in tests/corpus/acl.txt (differential.rs).
//! - ACL LOG after those refusals: every field compared with Redis's (age and the connection
//!   details of client-info aside, which differ by nature).
//! - Ember only (Redis has no wasm guests): wasm scripts and module commands obey the caller's
//!   rules.
//! - requirepass, clients of deleted users, `aclfile` with ACL LOAD / SAVE, and `user` lines.
//!
//! Every read has a timeout; the file runs in a few seconds.

#[path = "common/mod.rs"]
mod common;
#[path = "common/guests.rs"]
mod guests;

use common::{escape, split_aggregate, Protocol, RespConn, ServerProcess};
use guests::{guest, req, Run};
use std::time::Duration;

fn run(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The users the matrix runs as.
const USERS: &[(&str, &[&str])] = &[
    // An app that may only GET/SET its cache keys.
    (
        "app",
        &[
            "on", ">app", "~cache:*", "+get", "+set", "+multi", "+exec", "+eval",
        ],
    ),
    // Read anything, write nothing.
    (
        "reader",
        &["on", ">r", "allkeys", "+@read", "+multi", "+exec", "+eval"],
    ),
    // Read r:*, write w:*, both rw:*; a selector adds DEL on tmp:*.
    (
        "split",
        &[
            "on",
            ">s",
            "%R~r:*",
            "%W~w:*",
            "~rw:*",
            "+@all",
            "-flushall",
            "(+del ~tmp:*)",
        ],
    ),
    // Channels only.
    (
        "news",
        &[
            "on",
            ">n",
            "resetchannels",
            "&news.*",
            "+publish",
            "+subscribe",
            "+psubscribe",
            "+eval",
        ],
    ),
];

/// Commands each user tries (the first ones also inside MULTI and inside a Lua script).
const COMMANDS: &[&[&str]] = &[
    &["SET", "cache:1", "v"],
    &["GET", "cache:1"],
    &["SET", "other", "v"],
    &["GET", "other"],
    &["DEL", "cache:1"],
    &["SET", "w:1", "v"],
    &["GET", "w:1"],
    &["GET", "r:1"],
    &["SET", "r:1", "v"],
    &["SET", "rw:1", "v"],
    &["COPY", "r:1", "w:2"],
    &["COPY", "w:1", "r:2"],
    &["DEL", "tmp:1"],
    &["DEL", "w:1"],
    &["FLUSHALL"],
    &["PUBLISH", "news.today", "x"],
    &["PUBLISH", "sport", "x"],
    &["CONFIG", "GET", "maxmemory"],
    &["MGET", "cache:1", "other"],
];

fn setup(c: &mut RespConn) {
    for (name, rules) in USERS {
        let mut args = vec!["ACL", "SETUSER", name];
        args.extend_from_slice(rules);
        assert_eq!(run(c, &args), b"+OK\r\n", "{name}");
    }
    run(c, &["SET", "r:1", "seed"]);
}

/// Everything one user sees, as one transcript of replies.
fn transcript(server: &ServerProcess, user: &str, pass: &str) -> Vec<String> {
    let mut admin = server.connect();
    run(&mut admin, &["FLUSHALL"]);
    run(&mut admin, &["SET", "r:1", "seed"]);
    let mut c = server.connect();
    c.set_timeout(Duration::from_secs(5));
    let mut out = vec![escape(&run(&mut c, &["AUTH", user, pass]))];
    for cmd in COMMANDS {
        out.push(format!("{cmd:?} -> {}", escape(&run(&mut c, cmd))));
    }
    // Inside MULTI: refused commands fail the transaction.
    for cmd in &COMMANDS[..4] {
        let mut replies = vec![escape(&run(&mut c, &["MULTI"]))];
        replies.push(escape(&run(&mut c, cmd)));
        replies.push(escape(&run(&mut c, &["EXEC"])));
        out.push(format!("MULTI {cmd:?} -> {replies:?}"));
    }
    // Inside a Lua script: the caller's rules hold for redis.call / pcall / acl_check_cmd.
    for cmd in &COMMANDS[..5] {
        let quoted: Vec<String> = cmd.iter().map(|a| format!("'{a}'")).collect();
        let list = quoted.join(", ");
        for body in [
            format!("return redis.pcall({list})"),
            format!("return redis.acl_check_cmd({list})"),
        ] {
            out.push(format!(
                "EVAL {body} -> {}",
                escape(&run(&mut c, &["EVAL", &body, "0"]))
            ));
        }
    }
    out
}

#[test]
fn matrix_matches_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    setup(&mut redis.connect());
    setup(&mut ember.connect());
    let passwords = ["app", "r", "s", "n"];
    for ((user, _), pass) in USERS.iter().zip(passwords) {
        let want = transcript(&redis, user, pass);
        let got = transcript(&ember, user, pass);
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(g, w, "user {user}");
        }
        assert_eq!(got.len(), want.len());
    }
}

/// ACL LOG's entries as (field, value) lists without age-seconds, and client-info reduced to
/// its `user=` and `cmd=` fields.
fn log_entries(c: &mut RespConn) -> Vec<Vec<(String, String)>> {
    let reply = run(c, &["ACL", "LOG"]);
    let (_, entries) = split_aggregate(&reply, Protocol::Resp2).expect("array");
    entries
        .iter()
        .map(|e| {
            let (_, fields) = split_aggregate(e, Protocol::Resp2).expect("entry");
            let text: Vec<String> = fields
                .iter()
                .map(|f| String::from_utf8_lossy(common::string_value(f).unwrap_or(f)).into_owned())
                .collect();
            text.chunks(2)
                .filter(|kv| kv[0] != "age-seconds")
                .map(|kv| {
                    let v = if kv[0] == "client-info" {
                        kv[1]
                            .split(' ')
                            .filter(|f| f.starts_with("user=") || f.starts_with("cmd="))
                            .collect::<Vec<_>>()
                            .join(" ")
                    } else {
                        kv[1].clone()
                    };
                    (kv[0].clone(), v)
                })
                .collect()
        })
        .collect()
}

fn log_scenario(server: &ServerProcess) -> Vec<Vec<(String, String)>> {
    let mut admin = server.connect();
    run(&mut admin, &["ACL", "LOG", "RESET"]);
    run(
        &mut admin,
        &[
            "ACL", "SETUSER", "logged", "on", ">pw", "~k:*", "&ch", "+get", "+publish", "+multi",
            "+exec", "+eval",
        ],
    );
    let mut c = server.connect();
    run(&mut c, &["AUTH", "logged", "bad"]);
    run(&mut c, &["AUTH", "logged", "pw"]);
    run(&mut c, &["SET", "k:1", "v"]);
    run(&mut c, &["SET", "k:1", "v"]);
    run(&mut c, &["GET", "other"]);
    run(&mut c, &["PUBLISH", "elsewhere", "x"]);
    run(&mut c, &["MULTI"]);
    run(&mut c, &["GET", "other2"]);
    run(&mut c, &["EXEC"]);
    run(
        &mut c,
        &["EVAL", "return redis.pcall('GET', 'other3')", "0"],
    );
    let mut entries = log_entries(&mut admin);
    assert!(entries.len() >= 6, "{entries:?}");
    let mut limited = admin.command(&["ACL", "LOG", "2"]).expect("log 2");
    let (_, two) = split_aggregate(&limited, Protocol::Resp2).expect("array");
    assert_eq!(two.len(), 2);
    limited = run(&mut admin, &["ACL", "LOG", "RESET"]);
    assert_eq!(limited, b"+OK\r\n");
    assert_eq!(run(&mut admin, &["ACL", "LOG"]), b"*0\r\n");
    run(&mut admin, &["ACL", "DELUSER", "logged"]);
    entries.truncate(6);
    entries
}

#[test]
fn acl_log_matches_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let want = log_scenario(&redis);
    let got = log_scenario(&ember);
    assert_eq!(got, want);
}

#[test]
fn acllog_max_len_bounds_the_log() {
    let ember = ServerProcess::start_ember(&[("acllog-max-len", "2")]);
    let mut c = ember.connect();
    run(&mut c, &["ACL", "SETUSER", "u", "on", "nopass"]);
    let mut u = ember.connect();
    run(&mut u, &["AUTH", "u", "x"]);
    // Four different refusals (the same one repeated would be one entry with a count).
    for cmd in [
        &["GET", "a"][..],
        &["SET", "a", "b"],
        &["DEL", "a"],
        &["INCR", "a"],
    ] {
        run(&mut u, cmd);
    }
    let reply = run(&mut c, &["ACL", "LOG"]);
    let (_, entries) = split_aggregate(&reply, Protocol::Resp2).expect("array");
    assert_eq!(entries.len(), 2, "{}", escape(&reply));
}

#[test]
fn wasm_scripts_and_modules_obey_the_caller() {
    let ember = ServerProcess::start_ember(&[]);
    let mut admin = ember.connect();
    run(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "w",
            "on",
            ">p",
            "~mine:*",
            "+eval",
            "+get",
            "+bf.add",
            "+bf.exists",
        ],
    );
    let mut c = ember.connect();
    run(&mut c, &["AUTH", "w", "p"]);
    let proxy = guest("proxy");
    // The guest may call GET on the caller's keys ...
    let ok = cmd!(c; "EVAL", proxy, "1", "mine:1", "call", req(&["GET", "mine:1"]));
    assert_eq!(ok, b"$-1\r\n", "{}", escape(&ok));
    // ... but not SET (no +set), nor reach keys outside ~mine:*.
    let denied = cmd!(c; "EVAL", proxy, "1", "mine:1", "pcall", req(&["SET", "mine:1", "v"]));
    assert!(
        String::from_utf8_lossy(&denied)
            .contains("The user executing the script can't run this command or subcommand"),
        "{}",
        escape(&denied)
    );
    let denied = cmd!(c; "EVAL", proxy, "1", "other", "pcall", req(&["GET", "other"]));
    assert!(
        String::from_utf8_lossy(&denied)
            .starts_with("-NOPERM this user has no permissions to access one of the keys"),
        "EVAL's own keys are checked: {}",
        escape(&denied)
    );
    // Module commands: allowed ones run, others get NOPERM; keys follow the key patterns.
    assert_eq!(run(&mut c, &["BF.ADD", "mine:bf", "x"]), b":1\r\n");
    assert_eq!(run(&mut c, &["BF.EXISTS", "mine:bf", "x"]), b":1\r\n");
    let r = run(&mut c, &["BF.ADD", "other:bf", "x"]);
    assert!(
        r.starts_with(b"-NOPERM this user has no permissions to access one of the keys"),
        "{}",
        escape(&r)
    );
    let r = run(&mut c, &["BF.RESERVE", "mine:bf2", "0.01", "100"]);
    assert_eq!(
        r,
        b"-NOPERM this user has no permissions to run the 'bf.reserve' command\r\n"
    );
    // Uploading code is @admin @dangerous.
    let r = run(&mut c, &["MODULE", "LIST"]);
    assert_eq!(
        r,
        b"-NOPERM this user has no permissions to run the 'module|list' command\r\n"
    );
    let log = run(&mut admin, &["ACL", "LOG"]);
    assert!(
        String::from_utf8_lossy(&log).contains("lua"),
        "{}",
        escape(&log)
    );
}

#[test]
fn requirepass_and_deleted_users() {
    let ember = ServerProcess::start_ember(&[]);
    let mut admin = ember.connect();
    assert_eq!(
        run(&mut admin, &["CONFIG", "SET", "requirepass", "s3"]),
        b"+OK\r\n"
    );
    let mut c = ember.connect();
    assert_eq!(
        run(&mut c, &["GET", "k"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        run(&mut c, &["HELLO", "3"]),
        b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
    );
    assert_eq!(
        run(&mut c, &["AUTH", "wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(run(&mut c, &["AUTH", "s3"]), b"+OK\r\n");
    assert_eq!(run(&mut c, &["ACL", "WHOAMI"]), b"$7\r\ndefault\r\n");
    let list = run(&mut c, &["ACL", "GETUSER", "default"]);
    assert!(!String::from_utf8_lossy(&list).contains("nopass"));
    assert_eq!(
        run(&mut c, &["CONFIG", "SET", "requirepass", ""]),
        b"+OK\r\n"
    );
    let mut fresh = ember.connect();
    assert_eq!(run(&mut fresh, &["GET", "k"]), b"$-1\r\n");

    // Deleting a user disconnects its clients; other clients stay.
    run(
        &mut c,
        &["ACL", "SETUSER", "gone", "on", "nopass", "+@all", "~*"],
    );
    let mut victim = ember.connect();
    assert_eq!(run(&mut victim, &["AUTH", "gone", "x"]), b"+OK\r\n");
    let info = run(&mut victim, &["CLIENT", "INFO"]);
    assert!(
        String::from_utf8_lossy(&info).contains("user=gone"),
        "{}",
        escape(&info)
    );
    assert_eq!(run(&mut c, &["ACL", "DELUSER", "gone"]), b":1\r\n");
    assert!(
        victim.wait_closed(Duration::from_secs(5)),
        "the deleted user's client stays connected"
    );
    assert_eq!(run(&mut c, &["PING"]), b"+PONG\r\n");
}

#[test]
fn aclfile_load_and_save() {
    let dir = common::unique_temp_dir("aclfile");
    let path = dir.join("users.acl");
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser app on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 ~app:* resetchannels -@all +get\n",
    )
    .expect("write acl file");
    let path_str = path.to_string_lossy().into_owned();
    let ember = ServerProcess::start_ember(&[("aclfile", &path_str)]);
    let mut c = ember.connect();
    assert_eq!(
        run(&mut c, &["ACL", "USERS"]),
        b"*2\r\n$3\r\napp\r\n$7\r\ndefault\r\n"
    );
    let mut app = ember.connect();
    assert_eq!(run(&mut app, &["AUTH", "app", "password"]), b"+OK\r\n");
    run(&mut c, &["ACL", "SETUSER", "extra", "on", ">x", "+ping"]);
    assert_eq!(run(&mut c, &["ACL", "SAVE"]), b"+OK\r\n");
    let saved = std::fs::read_to_string(&path).expect("saved file");
    assert!(saved.contains("user extra on #"), "{saved}");
    assert!(saved.starts_with("user app on #5e88"), "{saved}");
    // A broken file changes nothing and says why.
    std::fs::write(&path, "user app on +nosuch\nbogus line\n").expect("write");
    let r = run(&mut c, &["ACL", "LOAD"]);
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(text.starts_with("-ERR "), "{text}");
    assert!(
        text.contains(
            "Error in applying operation '+nosuch': Unknown command or category name in ACL"
        ),
        "{text}"
    );
    assert!(
        text.contains("should start with user keyword followed by the username"),
        "{text}"
    );
    assert!(text.contains("WARNING: ACL errors detected, no change to the previously active ACL rules was performed"), "{text}");
    assert_eq!(
        run(&mut c, &["ACL", "USERS"]),
        b"*3\r\n$3\r\napp\r\n$7\r\ndefault\r\n$5\r\nextra\r\n"
    );
    // A good file replaces the users and disconnects the replaced users' clients.
    std::fs::write(&path, "user other on nopass +@all ~*\n").expect("write");
    assert_eq!(run(&mut c, &["ACL", "LOAD"]), b"+OK\r\n");
    assert_eq!(
        run(&mut c, &["ACL", "USERS"]),
        b"*2\r\n$7\r\ndefault\r\n$5\r\nother\r\n"
    );
    assert!(
        app.wait_closed(Duration::from_secs(5)),
        "app's client survived ACL LOAD"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_lines_and_aclfile_are_exclusive() {
    let dir = common::unique_temp_dir("aclconf");
    let conf = dir.join("ember.conf");
    std::fs::write(&conf, "user alice on nopass +@all ~*\naclfile users.acl\n").expect("conf");
    std::fs::write(dir.join("users.acl"), "").expect("acl");
    let out = std::process::Command::new(common::ember_server_path())
        .arg(&conf)
        .args(["--port", "0"])
        .current_dir(&dir)
        .output()
        .expect("run ember-server");
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("please define either an ACL file or declare users directly in your redis.conf, but not both"), "{text}");

    // `user` lines alone define users at start-up.
    std::fs::write(&conf, "user alice on >pw ~a:* +get\n").expect("conf");
    let conf_str = conf.to_string_lossy().into_owned();
    let ember = ServerProcess::start_ember(&[("include", &conf_str)]);
    let mut c = ember.connect();
    assert_eq!(run(&mut c, &["AUTH", "alice", "pw"]), b"+OK\r\n");
    assert_eq!(run(&mut c, &["GET", "a:1"]), b"$-1\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}
