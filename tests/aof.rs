//! The AOF against the real binaries: what Ember logs (Redis's propagated
//! forms: absolute TTLs, SREM for SPOP, a script's effects in MULTI/EXEC),
//! restarts that bring back every key, type, value and TTL, redis-check-aof
//! and redis-server 7.0 reading Ember's appendonlydir and Ember reading
//! redis-server's, rewrites, cut tails, and kill -9 under write load.
//!
//! `EMBER_AOF_CRASH_CYCLES=N` runs the kill -9 test for N cycles (default 50).

#[path = "common/mod.rs"]
mod common;
#[path = "common/dataset.rs"]
mod dataset;
#[path = "common/guests.rs"]
mod guests;

use common::{escape, integer_value, string_value, RespConn};
use common::{unique_temp_dir, Rng, ServerKind, ServerProcess};
use dataset::data;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cmd(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn ok(c: &mut RespConn, args: &[&str]) {
    let r = cmd(c, args);
    assert!(!common::is_error(&r), "{args:?} -> {}", escape(&r));
}

/// Writes one of each kind of value, with TTLs given relatively.
fn fill(c: &mut RespConn) {
    ok(c, &["SET", "s1", "hello"]);
    ok(c, &["SET", "s2", "12345", "EX", "1000"]);
    ok(c, &["SETEX", "s3", "2000", "x"]);
    ok(c, &["PSETEX", "s4", "3000000", "y"]);
    ok(c, &["SET", "s5", "v"]);
    ok(c, &["EXPIRE", "s5", "500"]);
    ok(c, &["SET", "f", "1.5"]);
    ok(c, &["INCRBYFLOAT", "f", "0.1"]);
    ok(c, &["INCR", "n"]);
    ok(c, &["APPEND", "s1", " world"]);
    ok(c, &["RPUSH", "l", "a", "b", "c", "d"]);
    ok(c, &["LPOP", "l"]);
    ok(c, &["SADD", "set", "1", "2", "3", "x", "y", "z"]);
    ok(c, &["SPOP", "set"]);
    ok(c, &["SPOP", "set", "2"]);
    ok(c, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    ok(c, &["HINCRBYFLOAT", "h", "f3", "2.5"]);
    ok(c, &["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"]);
    ok(c, &["ZINCRBY", "z", "3", "a"]);
    ok(c, &["XADD", "st", "*", "f", "v"]);
    ok(c, &["XADD", "st", "*", "g", "w"]);
    ok(c, &["XGROUP", "CREATE", "st", "grp", "0"]);
    ok(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "grp",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
    );
    ok(c, &["SELECT", "3"]);
    ok(c, &["SET", "db3", "three"]);
    ok(c, &["GETEX", "db3", "PX", "800000"]);
    ok(c, &["SELECT", "0"]);
    ok(c, &["MULTI"]);
    ok(c, &["INCR", "tx"]);
    ok(c, &["INCR", "tx"]);
    ok(c, &["EXEC"]);
    ok(c, &["SET", "gone", "x"]);
    ok(c, &["EXPIRE", "gone", "-1"]);
}

fn aof_dir(dir: &Path) -> PathBuf {
    dir.join("appendonlydir")
}

/// All bytes of the base and incremental files, in manifest order.
fn aof_bytes(dir: &Path) -> Vec<u8> {
    let manifest =
        std::fs::read_to_string(aof_dir(dir).join("appendonly.aof.manifest")).expect("manifest");
    let mut out = Vec::new();
    for line in manifest.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 6 && words[5] != "h" {
            out.extend(std::fs::read(aof_dir(dir).join(words[1])).unwrap_or_default());
        }
    }
    out
}

fn ember(dir: &Path, extra: &[(&str, &str)]) -> ServerProcess {
    let d = dir.to_str().expect("utf-8 temp dir");
    let mut args = vec![("dir", d), ("appendonly", "yes")];
    args.extend_from_slice(extra);
    ServerProcess::start_ember(&args)
}

fn redis(dir: &Path, extra: &[(&str, &str)]) -> ServerProcess {
    let d = dir.to_str().expect("utf-8 temp dir");
    let mut args = vec![("dir", d), ("appendonly", "yes")];
    args.extend_from_slice(extra);
    ServerProcess::start(ServerKind::Redis, &args)
}

#[test]
fn writes_are_logged_as_redis_propagates_them() {
    let dir = unique_temp_dir("aof-effects");
    let srv = ember(&dir, &[("appendfsync", "always")]);
    let mut c = srv.connect();
    fill(&mut c);
    let proxy = guests::guest("proxy");
    let set = guests::req(&["SET", "{sc}1", "from-script"]);
    let incr = guests::req(&["INCR", "{sc}2"]);
    ok(
        &mut c,
        &["EVAL", &proxy, "2", "{sc}1", "{sc}2", "call", &set, &incr],
    );
    // A failed script leaves no writes, in the store or the log.
    let r = cmd(
        &mut c,
        &[
            "EVAL",
            &proxy,
            "1",
            "{sc}3",
            "abort",
            &guests::req(&["SET", "{sc}3", "no"]),
        ],
    );
    assert!(common::is_error(&r));
    let log = String::from_utf8_lossy(&aof_bytes(&dir)).into_owned();
    let has = |s: &str| log.contains(s);
    assert!(
        has("$3\r\nSET\r\n$2\r\ns2\r\n$5\r\n12345\r\n$4\r\nPXAT\r\n"),
        "SET EX as PXAT:\n{log}"
    );
    assert!(
        has("$3\r\nSET\r\n$2\r\ns3\r\n$1\r\nx\r\n$4\r\nPXAT\r\n"),
        "SETEX as SET PXAT"
    );
    assert!(
        has("$9\r\nPEXPIREAT\r\n$2\r\ns5\r\n"),
        "EXPIRE as PEXPIREAT"
    );
    assert!(
        !log.contains("$6\r\nEXPIRE\r\n") && !log.contains("SETEX"),
        "no relative TTL"
    );
    assert!(
        has("$3\r\nSET\r\n$1\r\nf\r\n$3\r\n1.6\r\n$7\r\nKEEPTTL\r\n"),
        "INCRBYFLOAT as SET KEEPTTL"
    );
    assert!(
        has("$4\r\nSREM\r\n$3\r\nset\r\n") && !has("SPOP"),
        "SPOP as SREM"
    );
    assert!(
        has("$4\r\nHSET\r\n$1\r\nh\r\n$2\r\nf3\r\n$3\r\n2.5\r\n"),
        "HINCRBYFLOAT as HSET"
    );
    assert!(!has("$1\r\n*\r\n"), "XADD * logged with its ID");
    assert!(
        has("*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"),
        "SELECT when the db changes"
    );
    assert!(
        has("$3\r\nDEL\r\n$4\r\ngone\r\n"),
        "EXPIRE in the past as DEL"
    );
    assert!(
        has("*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$5\r\n{sc}1\r\n$11\r\nfrom-script\r\n*2\r\n$4\r\nINCR\r\n$5\r\n{sc}2\r\n*1\r\n$4\r\nEXEC\r\n"),
        "script effects in MULTI/EXEC:\n{log}"
    );
    assert!(
        !has("EVAL") && !has("{sc}3"),
        "never the script, never a failed one"
    );
    assert!(
        has("*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$2\r\ntx\r\n"),
        "MULTI/EXEC kept"
    );
    // The same data and the same absolute deadlines after kill -9 and a reload.
    // One exception, Redis's own: XREADGROUP is propagated as XCLAIMs, which
    // do not carry the group's entries-read, so after a replay it is
    // unknown (nil), as redis-server's replay leaves it too.
    let mut before = data(&mut c, 16);
    if let Some(st) = before.get_mut(&(0, "st".to_string())) {
        let read = "$12\\r\\nentries-read\\r\\n";
        st.1 = st.1.replace(&format!("{read}:1"), &format!("{read}$-1"));
    }
    drop(c);
    drop(srv_keep_dir(srv));
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    let after = data(&mut c, 16);
    assert_eq!(before, after);
    assert!(after.values().any(|v| v.2 > 0), "TTLs survive");
    drop(srv_keep_dir(srv));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The incremental files' bytes, in manifest order (no base).
fn aof_incr_bytes(dir: &Path) -> Vec<u8> {
    let manifest =
        std::fs::read_to_string(aof_dir(dir).join("appendonly.aof.manifest")).expect("manifest");
    let mut out = Vec::new();
    for line in manifest.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 6 && words[5] == "i" {
            out.extend(std::fs::read(aof_dir(dir).join(words[1])).unwrap_or_default());
        }
    }
    out
}

/// Lua's `redis.set_repl` as Redis 7.0 has it: the AOF gets only the commands run under
/// REPL_AOF or REPL_ALL (inside MULTI/EXEC when more than one of them is for the AOF), bad
/// arguments get Redis's errors; the same AOF bytes and replies as
/// redis-server, and a restart from the AOF has exactly the AOF's keys.
#[test]
fn lua_set_repl_chooses_what_the_aof_gets_as_in_redis() {
    let scripts: &[&str] = &[
        "redis.set_repl(redis.REPL_NONE) redis.call('SET', 'none', '1') \
         redis.set_repl(redis.REPL_AOF) redis.call('SET', 'aof', '1') \
         redis.set_repl(redis.REPL_REPLICA) redis.call('SET', 'replica', '1') \
         redis.set_repl(redis.REPL_ALL) redis.call('SET', 'all', '1') return 1",
        "redis.set_repl(redis.REPL_SLAVE) redis.call('SET', 'slave-only', '1') \
         redis.set_repl(redis.REPL_NONE) redis.call('SET', 'nowhere', '1') return 2",
        "redis.set_repl(redis.REPL_REPLICA) redis.call('SET', 'r1', '1') redis.call('SET', 'r2', '1') return 3",
        "redis.set_repl(redis.REPL_REPLICA) redis.call('SET', 'r3', '1') \
         redis.set_repl(redis.REPL_ALL) redis.call('SET', 'all2', '1') return 5",
        "redis.set_repl(redis.REPL_AOF) redis.call('INCR', 'aof-counter') return 4",
        "return redis.set_repl()",
        "return redis.set_repl(1, 2)",
        "return redis.set_repl(7)",
        "return redis.set_repl(-1)",
        "return redis.set_repl('x')",
        "redis.set_repl(redis.REPL_NONE) redis.call('SET', 'undone', '1') error('boom')",
    ];
    let run = |kind: ServerKind| {
        let dir = unique_temp_dir("aof-set-repl");
        let srv = match kind {
            ServerKind::Ember => ember(&dir, &[("appendfsync", "always")]),
            _ => redis(&dir, &[("appendfsync", "always")]),
        };
        let mut c = srv.connect();
        let mut replies = Vec::new();
        for s in scripts {
            replies.push(escape(&cmd(&mut c, &["EVAL", s, "0"])));
        }
        // Later scripts record for everyone again.
        replies.push(escape(&cmd(
            &mut c,
            &["EVAL", "return redis.call('SET', 'after', '1')", "0"],
        )));
        let log = aof_incr_bytes(&dir);
        (srv, dir, replies, log)
    };
    let (redis_srv, redis_dir, want_replies, want_log) = run(ServerKind::Redis);
    drop(redis_srv);
    let _ = std::fs::remove_dir_all(&redis_dir);
    let (srv, dir, replies, log) = run(ServerKind::Ember);
    for ((s, w), g) in scripts.iter().zip(&want_replies).zip(&replies) {
        assert_eq!(g, w, "EVAL {s}: ember vs redis");
    }
    assert_eq!(
        escape(&log),
        escape(&want_log),
        "the AOF's commands: ember vs redis"
    );
    // What the AOF holds is what comes back.
    drop(srv_keep_dir(srv));
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    let mut keys: Vec<String> = dataset::keys_of(&mut c)
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["after", "all", "all2", "aof", "aof-counter"]);
    drop(srv_keep_dir(srv));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills the server (SIGKILL) without losing the shared directory: the
/// harness only removes its own temp dir, and ours is passed with --dir.
fn srv_keep_dir(srv: ServerProcess) -> ServerProcess {
    srv
}

#[test]
fn redis_check_aof_and_redis_server_load_embers_files() {
    for preamble in ["yes", "no"] {
        redis_loads_embers_files_with(preamble);
    }
}

fn redis_loads_embers_files_with(preamble: &str) {
    let dir = unique_temp_dir("aof-to-redis");
    let srv = ember(&dir, &[("aof-use-rdb-preamble", preamble)]);
    let mut c = srv.connect();
    fill(&mut c);
    ok(&mut c, &["BGREWRITEAOF"]);
    wait_rewrite(&mut c);
    ok(&mut c, &["SET", "after-rewrite", "1"]);
    ok(&mut c, &["RPUSH", "l", "e"]);
    let want = data(&mut c, 16);
    drop(c);
    drop(srv);
    let manifest = aof_dir(&dir).join("appendonly.aof.manifest");
    let check = std::process::Command::new("redis-check-aof")
        .arg(&manifest)
        .output()
        .expect("redis-check-aof");
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        check.status.success() && text.contains("is valid"),
        "redis-check-aof:\n{text}"
    );
    let r = redis(&dir, &[]);
    let mut rc = r.connect();
    assert_eq!(
        data(&mut rc, 16),
        want,
        "redis-server reads Ember's appendonlydir"
    );
    drop(rc);
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ember_loads_redis_servers_files() {
    for preamble in ["yes", "no"] {
        ember_loads_redis_servers_files_with(preamble);
    }
}

fn ember_loads_redis_servers_files_with(preamble: &str) {
    let dir = unique_temp_dir("aof-from-redis");
    let r = redis(&dir, &[("aof-use-rdb-preamble", preamble)]);
    let mut rc = r.connect();
    fill(&mut rc);
    ok(&mut rc, &["BGREWRITEAOF"]);
    wait_rewrite(&mut rc);
    ok(&mut rc, &["SET", "after-rewrite", "1"]);
    let want = data(&mut rc, 16);
    drop(rc);
    drop(r);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(
        data(&mut c, 16),
        want,
        "Ember reads redis-server's appendonlydir"
    );
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

fn info_field(c: &mut RespConn, field: &str) -> String {
    let info = cmd(c, &["INFO", "persistence"]);
    let text = String::from_utf8_lossy(string_value(&info).unwrap_or_default()).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn wait_rewrite(c: &mut RespConn) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(c, "aof_rewrite_in_progress") == "1" {
        assert!(Instant::now() < deadline, "rewrite never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rewrite_replaces_the_base_and_drops_old_files() {
    let dir = unique_temp_dir("aof-rewrite");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    fill(&mut c);
    for i in 0..200 {
        ok(&mut c, &["INCR", "counter"]);
        ok(&mut c, &["RPUSH", "big", &i.to_string()]);
    }
    let first = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    assert!(
        first.contains("appendonly.aof.1.base.rdb seq 1 type b"),
        "{first}"
    );
    ok(&mut c, &["BGREWRITEAOF"]);
    wait_rewrite(&mut c);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    let manifest = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let mut files: Vec<String> = std::fs::read_dir(aof_dir(&dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    ok(&mut c, &["INCR", "counter"]);
    let want = data(&mut c, 16);
    drop(c);
    drop(srv);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(data(&mut c, 16), want);
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cut_tail_loads_only_with_aof_load_truncated() {
    let dir = unique_temp_dir("aof-cut");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["SET", "b", "2"]);
    drop(c);
    drop(srv);
    let manifest = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    let incr = manifest
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let path = aof_dir(&dir).join(&incr);
    let mut data = std::fs::read(&path).unwrap();
    let whole = data.len();
    data.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1");
    std::fs::write(&path, &data).unwrap();
    // Refused: an error naming the file and the offset; nothing started.
    let out = std::process::Command::new(common::ember_server_path())
        .args([
            "--port",
            &common::free_port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--dir", dir.to_str().unwrap(), "--appendonly", "yes"])
        .args(["--aof-load-truncated", "no"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started over a cut file:\n{text}");
    assert!(
        text.contains("Unexpected end of file")
            && text.contains(&incr)
            && text.contains(&format!("offset {whole}")),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap().len(),
        data.len(),
        "file untouched"
    );
    // Loaded with a warning, the tail cut at the last whole command.
    let srv = ember(&dir, &[("aof-load-truncated", "yes")]);
    let mut c = srv.connect();
    assert_eq!(cmd(&mut c, &["GET", "b"]), b"$1\r\n2\r\n");
    assert_eq!(cmd(&mut c, &["EXISTS", "c"]), b":0\r\n");
    assert!(srv.output().contains("short read"), "{}", srv.output());
    assert_eq!(std::fs::read(&path).unwrap().len(), whole);
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis6_single_file_is_migrated() {
    let dir = unique_temp_dir("aof-redis6");
    let mut data = Vec::new();
    for args in [
        vec!["SELECT", "0"],
        vec!["SET", "k", "v"],
        vec!["RPUSH", "l", "1", "2"],
        vec!["SELECT", "2"],
        vec!["SADD", "s", "m"],
    ] {
        data.extend(common::encode_command(&args));
    }
    std::fs::write(dir.join("appendonly.aof"), &data).unwrap();
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(cmd(&mut c, &["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(cmd(&mut c, &["LLEN", "l"]), b":2\r\n");
    ok(&mut c, &["SELECT", "2"]);
    assert_eq!(cmd(&mut c, &["SCARD", "s"]), b":1\r\n");
    ok(&mut c, &["SET", "new", "1"]);
    drop(c);
    drop(srv);
    assert!(!dir.join("appendonly.aof").exists());
    let manifest = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    assert!(
        manifest.starts_with("file appendonly.aof seq 1 type b\n"),
        "{manifest}"
    );
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    ok(&mut c, &["SELECT", "2"]);
    assert_eq!(cmd(&mut c, &["GET", "new"]), b"$1\r\n1\r\n");
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_set_appendonly_at_run_time() {
    let dir = unique_temp_dir("aof-config");
    let d = dir.to_str().unwrap();
    let srv = ServerProcess::start_ember(&[("dir", d)]);
    let mut c = srv.connect();
    ok(&mut c, &["SET", "before", "1"]);
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    ok(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    wait_rewrite(&mut c);
    ok(&mut c, &["SET", "after", "2"]);
    ok(&mut c, &["CONFIG", "SET", "appendonly", "no"]);
    ok(&mut c, &["SET", "not-logged", "3"]);
    drop(c);
    drop(srv);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(
        cmd(&mut c, &["MGET", "before", "after", "not-logged"]),
        b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
    );
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Concurrent writers; each records the last value the server acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(String, i64)>>,
}

fn start_load(addr: std::net::SocketAddr, writers: usize, cycle: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..writers)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let key = format!("c{w}");
                let list = format!("l{w}");
                let mut acked = -1;
                let Ok(mut c) = RespConn::connect(addr) else {
                    return (key, acked);
                };
                c.set_timeout(Duration::from_secs(2));
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    // A pipeline of two: the counter and a list entry.
                    let batch = [
                        common::encode_command(&["INCR", &key]),
                        common::encode_command(&["RPUSH", &list, &format!("{cycle}:{i}")]),
                    ]
                    .concat();
                    if c.send_raw(&batch).is_err() {
                        break;
                    }
                    match c.read_reply() {
                        Ok(r) => match integer_value(&r) {
                            Some(v) => acked = v,
                            None => break,
                        },
                        Err(_) => break,
                    }
                    if c.read_reply().is_err() {
                        break;
                    }
                    i += 1;
                }
                (key, acked)
            })
        })
        .collect();
    Load { stop, threads }
}

fn crash_cycles(policy: &str, cycles: usize, check_all: bool) -> Vec<i64> {
    let dir = unique_temp_dir(&format!("aof-crash-{policy}"));
    let mut rng = Rng::new(0x5eed + cycles as u64);
    let mut known: BTreeMap<String, i64> = BTreeMap::new();
    let mut losses = Vec::new();
    for cycle in 0..cycles {
        let srv = ember(&dir, &[("appendfsync", policy)]);
        let mut c = srv.connect();
        // Everything acknowledged before the last kill is here.
        for (key, acked) in &known {
            let reply = cmd(&mut c, &["GET", key]);
            let got: i64 = string_value(&reply)
                .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok())
                .unwrap_or(0);
            if check_all {
                assert!(
                    got >= *acked,
                    "cycle {cycle}: {key} is {got}, {acked} was acknowledged"
                );
            }
            losses.push(acked - got);
            // The list holds as many entries as the counter counted (a pipeline pair).
        }
        if rng.below(10) == 0 {
            ok(&mut c, &["BGREWRITEAOF"]);
        }
        let load = start_load(srv.addr(), 4, cycle);
        std::thread::sleep(Duration::from_millis(30 + rng.below(120)));
        drop(srv); // SIGKILL in the middle of the writes.
        load.stop.store(true, Ordering::Relaxed);
        for t in load.threads {
            let (key, acked) = t.join().unwrap();
            let e = known.entry(key).or_insert(-1);
            *e = (*e).max(acked);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    losses
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_write_with_always() {
    let cycles = std::env::var("EMBER_AOF_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let losses = crash_cycles("always", cycles, true);
    assert!(losses.iter().all(|&l| l <= 0));
}

#[test]
fn kill_9_with_everysec_loses_at_most_about_a_second() {
    // A process crash (not a power loss) loses nothing either: the write()
    // happens before the reply; only the fsync is deferred.
    let losses = crash_cycles("everysec", 5, false);
    assert!(losses.iter().all(|&l| l <= 0), "{losses:?}");
}

fn mylib_wasm() -> Vec<u8> {
    let dir = option_env!("EMBER_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests/wasm32-unknown-unknown/release")
        });
    let path = dir.join("mylib.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Module values and function libraries come back from the log (as RESTORE
/// payloads and FUNCTION LOAD, never by re-running BF.ADD) and from both
/// kinds of rewritten base.
#[test]
fn module_values_and_functions_survive_replay_and_rewrite() {
    for preamble in ["yes", "no"] {
        let dir = unique_temp_dir("aof-modules");
        let srv = ember(&dir, &[("aof-use-rdb-preamble", preamble)]);
        let mut c = srv.connect();
        let lib = mylib_wasm();
        let reply = c.command(&[b"FUNCTION".as_slice(), b"LOAD", &lib]).unwrap();
        assert!(!common::is_error(&reply), "{}", escape(&reply));
        for i in 0..50 {
            ok(&mut c, &["BF.ADD", "bf", &format!("item{i}")]);
        }
        ok(&mut c, &["EXPIRE", "bf", "100000"]);
        let log = aof_bytes(&dir);
        assert!(
            !String::from_utf8_lossy(&log).contains("BF.ADD"),
            "module commands are logged by effects"
        );
        let libs = escape(&cmd(&mut c, &["FUNCTION", "LIST"]));
        let ttl = cmd(&mut c, &["PEXPIRETIME", "bf"]);
        drop(c);
        drop(srv);
        for round in 0..2 {
            let srv = ember(&dir, &[("aof-use-rdb-preamble", preamble)]);
            let mut c = srv.connect();
            for i in 0..50 {
                assert_eq!(
                    cmd(&mut c, &["BF.EXISTS", "bf", &format!("item{i}")]),
                    b":1\r\n",
                    "preamble {preamble}, round {round}"
                );
            }
            assert_eq!(cmd(&mut c, &["TYPE", "bf"]), b"+MBbloom--\r\n");
            assert_eq!(cmd(&mut c, &["PEXPIRETIME", "bf"]), ttl);
            assert_eq!(escape(&cmd(&mut c, &["FUNCTION", "LIST"])), libs);
            if round == 0 {
                ok(&mut c, &["BGREWRITEAOF"]);
                wait_rewrite(&mut c);
                assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
            }
            drop(c);
            drop(srv);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Fills the keyspace fast: pipelined MSETs of `per` keys each.
fn populate(c: &mut RespConn, keys: usize, per: usize) {
    let mut sent = 0;
    let mut batch = Vec::new();
    let mut n = 0;
    while sent < keys {
        let mut args = vec!["MSET".to_string()];
        for i in sent..(sent + per).min(keys) {
            args.push(format!("key:{i}"));
            args.push(format!("value:{i}"));
        }
        sent = (sent + per).min(keys);
        batch.extend(common::encode_command(&args));
        n += 1;
        if n == 50 || sent == keys {
            c.send_raw(&batch).unwrap();
            for _ in 0..n {
                assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
            }
            batch.clear();
            n = 0;
        }
    }
}

#[test]
fn crash_during_rewrite_leaves_loadable_files() {
    let dir = unique_temp_dir("aof-crash-rewrite");
    let keys = 30_000;
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    populate(&mut c, keys, 100);
    drop(c);
    drop(srv);
    let mut rng = Rng::new(7);
    for round in 0..6 {
        let srv = ember(&dir, &[]);
        let mut c = srv.connect();
        assert_eq!(
            integer_value(&cmd(&mut c, &["DBSIZE"])),
            Some((keys + round) as i64),
            "round {round}"
        );
        ok(&mut c, &["BGREWRITEAOF"]);
        ok(&mut c, &["SET", &format!("marker{round}"), "1"]);
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        drop(c);
        drop(srv); // SIGKILL, the rewrite possibly half done.
    }
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(
        cmd(&mut c, &["GET", "key:29999"]),
        b"$11\r\nvalue:29999\r\n"
    );
    // Temp files of killed rewrites never become part of the AOF.
    let manifest = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    assert!(!manifest.contains("temp-"), "{manifest}");
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Unmounts the test's small file system when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A full disk under `appendfsync everysec`: writers get Redis's MISCONF
/// error, reads go on, nothing acknowledged is lost, and writes come back
/// when space does. Needs a small tmpfs (root); skipped with a note otherwise.
#[test]
fn full_disk_refuses_writes_and_loses_nothing_acknowledged() {
    let dir = unique_temp_dir("aof-full");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("full_disk test skipped: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let _mount = Mount(dir.clone());
    let srv = ember(&dir, &[("appendfsync", "everysec")]);
    let mut c = srv.connect();
    // Fill the disk but for ~200 KiB.
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(200 * 1024)).unwrap();
    }
    let value = "v".repeat(1000);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..2000 {
        let key = format!("k{i}");
        let r = cmd(&mut c, &["SET", &key, &value]);
        if common::is_error(&r) {
            refused = Some(String::from_utf8_lossy(&r).into_owned());
            break;
        }
        acked.push(key);
    }
    let refused = refused.expect("writes never failed on a full disk");
    assert_eq!(
        refused,
        "-MISCONF Errors writing to the AOF file: No space left on device\r\n"
    );
    assert_eq!(info_field(&mut c, "aof_last_write_status"), "err");
    assert_eq!(
        cmd(&mut c, &["GET", &acked[0]]).len(),
        1000 + 9,
        "reads go on"
    );
    // Space comes back: the buffered writes reach the file and writers are welcome again.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_last_write_status") != "ok" {
        assert!(Instant::now() < deadline, "never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&mut c, &["SET", "after", "1"]);
    drop(c);
    drop(srv);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    for key in &acked {
        assert_eq!(cmd(&mut c, &["STRLEN", key]), b":1000\r\n", "{key} lost");
    }
    assert_eq!(cmd(&mut c, &["GET", "after"]), b"$1\r\n1\r\n");
    drop(c);
    drop(srv);
}

/// Pops served to blocked clients are logged as their non-blocking forms,
/// after the push that served them; expiries (lazy and active) as DEL.
#[test]
fn served_blocking_pops_and_expiries_are_logged_as_redis_does() {
    let dir = unique_temp_dir("aof-blocking");
    let srv = ember(&dir, &[("appendfsync", "always")]);
    let mut c = srv.connect();
    let mut waiter = srv.connect();
    waiter.send(&["BLPOP", "q", "0"]).unwrap();
    let mut mover = srv.connect();
    mover
        .send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"])
        .unwrap();
    let mut zwaiter = srv.connect();
    zwaiter.send(&["BZPOPMIN", "zq", "0"]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    ok(&mut c, &["RPUSH", "q", "a", "b"]);
    assert_eq!(
        waiter.read_reply().unwrap(),
        b"*2\r\n$1\r\nq\r\n$1\r\na\r\n"
    );
    ok(&mut c, &["RPUSH", "src", "x"]);
    assert_eq!(mover.read_reply().unwrap(), b"$1\r\nx\r\n");
    ok(&mut c, &["ZADD", "zq", "1", "m", "2", "n"]);
    assert!(zwaiter.read_reply().is_ok());
    ok(&mut c, &["SET", "lazy", "1", "PX", "30"]);
    ok(&mut c, &["SET", "active", "1", "PX", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cmd(&mut c, &["GET", "lazy"]), b"$-1\r\n");
    let log = String::from_utf8_lossy(&aof_bytes(&dir)).into_owned();
    let pos = |s: &str| {
        log.find(s)
            .unwrap_or_else(|| panic!("{s:?} not in:\n{log}"))
    };
    assert!(pos("$5\r\nRPUSH\r\n$1\r\nq\r\n") < pos("*2\r\n$4\r\nLPOP\r\n$1\r\nq\r\n"));
    assert!(
        pos("$5\r\nRPUSH\r\n$3\r\nsrc\r\n")
            // Redis's served BLMOVE uses its shared lower-case "left"/"right".
            < pos("$5\r\nLMOVE\r\n$3\r\nsrc\r\n$3\r\ndst\r\n$4\r\nleft\r\n$5\r\nright\r\n")
    );
    assert!(pos("$4\r\nZADD\r\n$2\r\nzq\r\n") < pos("$7\r\nZPOPMIN\r\n$2\r\nzq\r\n"));
    assert!(!log.contains("BLPOP") && !log.contains("BLMOVE") && !log.contains("BZPOPMIN"));
    pos("$3\r\nDEL\r\n$4\r\nlazy\r\n");
    pos("$3\r\nDEL\r\n$6\r\nactive\r\n");
    let want = data(&mut c, 16);
    drop((c, waiter, mover, zwaiter));
    drop(srv);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(data(&mut c, 16), want);
    assert_eq!(
        cmd(&mut c, &["LRANGE", "dst", "0", "-1"]),
        b"*1\r\n$1\r\nx\r\n"
    );
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// auto-aof-rewrite-percentage / -min-size: the AOF rewrites itself once it
/// has grown enough past its last base.
#[test]
fn automatic_rewrite_on_growth() {
    let dir = unique_temp_dir("aof-auto");
    let srv = ember(
        &dir,
        &[
            ("auto-aof-rewrite-min-size", "100000"),
            ("auto-aof-rewrite-percentage", "100"),
        ],
    );
    let mut c = srv.connect();
    assert_eq!(
        info_field(&mut c, "aof_rewrites"),
        "1",
        "the first base at start"
    );
    let value = "x".repeat(500);
    for i in 0..150 {
        ok(&mut c, &["SET", &format!("k{}", i % 10), &value]);
    }
    // 75 KB: below the minimum size, no rewrite yet.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(info_field(&mut c, "aof_rewrites"), "1");
    for i in 0..300 {
        ok(&mut c, &["SET", &format!("k{}", i % 10), &value]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_rewrites") != "2" {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_rewrite(&mut c);
    // The new base holds the 10 keys once. (The AOF's current size also
    // counts the writes after the rewrite's start, which depend on when the
    // timer noticed the growth, so it is not asserted.)
    let size: u64 = info_field(&mut c, "aof_base_size").parse().unwrap();
    assert!(
        size < 20_000,
        "the rewritten base holds 10 keys, not {size} bytes"
    );
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loads only the base file of `dir`'s AOF (no incremental file) into a
/// fresh server and returns it: what the rewrite wrote, nothing appended.
fn base_only(dir: &Path, extra: &[(&str, &str)]) -> (ServerProcess, PathBuf) {
    let manifest = std::fs::read_to_string(aof_dir(dir).join("appendonly.aof.manifest")).unwrap();
    let base = manifest
        .lines()
        .find(|l| l.ends_with("type b"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("a base in the manifest")
        .to_string();
    let copy = unique_temp_dir("aof-base-only");
    std::fs::create_dir_all(aof_dir(&copy)).unwrap();
    std::fs::copy(aof_dir(dir).join(&base), aof_dir(&copy).join(&base)).unwrap();
    std::fs::write(
        aof_dir(&copy).join("appendonly.aof.manifest"),
        format!("file {base} seq 1 type b\n"),
    )
    .unwrap();
    (ember(&copy, extra), copy)
}

/// The rewrite walks a snapshot off the locks: while it runs (slowed by
/// `rdb-key-save-delay` to seconds), another client's round trips stay far
/// below its duration; the base holds the data at the rewrite's start (the
/// writes made meanwhile are only in the new incremental file), and a restart
/// sees everything. Both base forms.
#[test]
fn rewrite_does_not_stall_clients_and_bases_its_start() {
    for preamble in ["yes", "no"] {
        let keys = 200_000;
        let dir = unique_temp_dir("aof-rewrite-snapshot");
        let srv = ember(&dir, &[("aof-use-rdb-preamble", preamble)]);
        let mut c = srv.connect();
        populate(&mut c, keys, 100);
        assert_eq!(cmd(&mut c, &["PEXPIRE", "key:7", "600000"]), b":1\r\n");
        // ~2 s of walking at 10 µs a key, whatever the machine.
        ok(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "10"]);
        let mut w = srv.connect();
        let started = Instant::now();
        assert_eq!(
            cmd(&mut c, &["BGREWRITEAOF"]),
            b"+Background append only file rewriting started\r\n"
        );
        let mut worst = Duration::ZERO;
        let mut trips = 0usize;
        let deadline = started + Duration::from_secs(60);
        while info_field(&mut c, "aof_rewrite_in_progress") == "1" {
            assert!(Instant::now() < deadline, "rewrite never ended");
            let t = Instant::now();
            // Overwrite keys the walker has or has not reached yet, delete
            // some, create new ones.
            let i = (trips * 7919) % keys;
            ok(&mut w, &["SET", &format!("key:{i}"), "changed"]);
            assert_eq!(
                integer_value(&cmd(&mut w, &["DEL", &format!("key:{}", keys - 1 - i)])),
                Some(1)
            );
            ok(&mut w, &["SET", &format!("during:{trips}"), "x"]);
            assert_eq!(cmd(&mut w, &["PING"]), b"+PONG\r\n");
            worst = worst.max(t.elapsed());
            trips += 1;
            assert!(trips < 5_000, "bounded loop");
            std::thread::sleep(Duration::from_millis(2));
        }
        let took = started.elapsed();
        eprintln!("preamble {preamble}: rewrite {took:?}, {trips} round trips, worst {worst:?}");
        assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
        ok(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        assert!(took >= Duration::from_millis(1500), "rewrite took {took:?}");
        assert!(trips >= 20, "only {trips} round trips during {took:?}");
        assert!(
            worst < Duration::from_millis(400),
            "a client waited {worst:?} during a {took:?} rewrite"
        );

        // The base alone is the keyspace at the start.
        let (b, copy) = base_only(&dir, &[]);
        let mut bc = b.connect();
        assert_eq!(
            integer_value(&cmd(&mut bc, &["DBSIZE"])),
            Some(keys as i64),
            "preamble {preamble}"
        );
        for i in [0, 7919 % keys, keys - 1, keys / 2] {
            let v = format!("value:{i}");
            assert_eq!(
                cmd(&mut bc, &["GET", &format!("key:{i}")]),
                format!("${}\r\n{v}\r\n", v.len()).into_bytes(),
                "preamble {preamble} key:{i}"
            );
        }
        assert!(integer_value(&cmd(&mut bc, &["PTTL", "key:7"])).unwrap_or(-1) > 0);
        assert_eq!(cmd(&mut bc, &["EXISTS", "during:0"]), b":0\r\n");
        drop(bc);
        drop(b);
        let _ = std::fs::remove_dir_all(&copy);

        // Base plus incremental file: everything, as the server has it.
        let want_size = integer_value(&cmd(&mut c, &["DBSIZE"]));
        let want_keys = [
            "key:0".to_string(),
            format!("key:{}", keys - 1),
            format!("during:{}", trips - 1),
        ]
        .map(|k| (cmd(&mut c, &["GET", &k]), k));
        drop(c);
        drop(w);
        drop(srv);
        let srv = ember(&dir, &[]);
        let mut c = srv.connect();
        assert_eq!(integer_value(&cmd(&mut c, &["DBSIZE"])), want_size);
        for (v, k) in want_keys {
            assert_eq!(cmd(&mut c, &["GET", &k]), v, "{k}");
        }
        drop(c);
        drop(srv);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// One snapshot at a time, as one child at a time in Redis: BGREWRITEAOF
/// during a BGSAVE is scheduled and runs when the save ends; BGSAVE during a
/// rewrite is refused, and BGSAVE SCHEDULE runs after it.
#[test]
fn rewrite_and_bgsave_schedule_each_other() {
    let dir = unique_temp_dir("aof-rewrite-bgsave");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    populate(&mut c, 20_000, 100);
    ok(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "50"]);
    assert_eq!(cmd(&mut c, &["BGSAVE"]), b"+Background saving started\r\n");
    let saves: u64 = info_field(&mut c, "rdb_saves").parse().unwrap();
    assert_eq!(
        cmd(&mut c, &["BGREWRITEAOF"]),
        b"+Background append only file rewriting scheduled\r\n"
    );
    assert_eq!(info_field(&mut c, "aof_rewrite_scheduled"), "1");
    assert_eq!(info_field(&mut c, "aof_rewrite_in_progress"), "0");
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut c, "aof_rewrite_in_progress") == "0" {
        assert!(
            Instant::now() < deadline,
            "the scheduled rewrite never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "0");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "aof_rewrite_scheduled"), "0");
    assert!(cmd(&mut c, &["BGSAVE"]).starts_with(b"-ERR Another child process is active"));
    assert_eq!(
        cmd(&mut c, &["BGSAVE", "SCHEDULE"]),
        b"+Background saving scheduled\r\n"
    );
    wait_rewrite(&mut c);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = (saves + 1).to_string();
    while info_field(&mut c, "rdb_saves") != next
        || info_field(&mut c, "rdb_bgsave_in_progress") == "1"
    {
        assert!(Instant::now() < deadline, "the scheduled BGSAVE never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    ok(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let want = integer_value(&cmd(&mut c, &["DBSIZE"]));
    drop(c);
    drop(srv);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(integer_value(&cmd(&mut c, &["DBSIZE"])), want);
    drop(c);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// DEBUG LOADAOF: refused unless enable-debug-command; then the keyspace is
/// what the files hold, as a restart loads them (nothing logged twice: the
/// counter written around two LOADAOFs ends right), on Ember as on
/// redis-server given the same commands. (The values are not compared with
/// those before the LOADAOF: Redis's own replay of an XREADGROUP loses the
/// group's entries-read, which the AOF comparison test covers.)
#[test]
fn debug_loadaof_reloads_the_files() {
    let mut results = Vec::new();
    for kind in [ServerKind::Redis, ServerKind::Ember] {
        let dir = unique_temp_dir("aof-loadaof");
        let start = |extra: &[(&str, &str)]| match kind {
            ServerKind::Redis => redis(&dir, extra),
            _ => ember(&dir, extra),
        };
        let srv = start(&[]);
        let mut c = srv.connect();
        let refused = cmd(&mut c, &["DEBUG", "LOADAOF"]);
        assert!(
            String::from_utf8_lossy(&refused).starts_with("-ERR DEBUG command not allowed"),
            "{}",
            escape(&refused)
        );
        drop(c);
        drop(srv_keep_dir(srv));
        let srv = start(&[("enable-debug-command", "yes")]);
        let mut c = srv.connect();
        fill(&mut c);
        ok(&mut c, &["INCRBY", "counter", "5"]);
        let before = data(&mut c, 16);
        let r = cmd(&mut c, &["DEBUG", "LOADAOF"]);
        assert_eq!(r, b"+OK\r\n", "{}: {}", kind.name(), escape(&r));
        let loaded = data(&mut c, 16);
        assert_eq!(
            loaded.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>(),
            "{}: after DEBUG LOADAOF",
            kind.name()
        );
        ok(&mut c, &["INCRBY", "counter", "1"]);
        assert_eq!(cmd(&mut c, &["DEBUG", "LOADAOF"]), b"+OK\r\n");
        let after = data(&mut c, 16);
        drop(c);
        drop(srv_keep_dir(srv));
        let srv = start(&[]);
        let mut c = srv.connect();
        assert_eq!(data(&mut c, 16), after, "{}: after a restart", kind.name());
        results.push((
            cmd(&mut c, &["GET", "counter"]),
            after.keys().cloned().collect::<Vec<_>>(),
        ));
        drop(c);
        drop(srv_keep_dir(srv));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(results[0], results[1], "Ember ends as Redis does");
    assert_eq!(results[1].0, b"$1\r\n6\r\n");
}
