//! Snapshots against the real binaries: SAVE/BGSAVE and restart, BGSAVE under
//! concurrent writes (the file is the point-in-time state, redis-check-rdb
//! accepts it, redis-server loads it), save points, MISCONF and recovery, a
//! crash during BGSAVE, corrupt files refusing the start, Redis's dump.rdb
//! loaded by Ember, SHUTDOWN variants and SIGTERM.

mod common;
#[path = "common/dataset.rs"]
mod dataset;

use common::{encode_command, escape, RespConn, ServerKind, ServerProcess};
use dataset::{assert_same, data};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs a command and returns its raw reply.
fn run(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args)
        .unwrap_or_else(|e| panic!("{}: {e}", escape(&encode_command(args))))
}

fn ok(c: &mut RespConn, args: &[&str]) {
    let r = run(c, args);
    assert!(!common::is_error(&r), "{args:?} -> {}", escape(&r));
}

/// A directory of our own that survives server restarts (removed on drop).
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        Dir(common::unique_temp_dir(&format!("persist-{tag}")))
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn s(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
    fn dump(&self) -> PathBuf {
        self.0.join("dump.rdb")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ember(dir: &Dir, extra: &[(&str, &str)]) -> ServerProcess {
    let mut args = vec![("dir", dir.s())];
    if !extra.iter().any(|(k, _)| *k == "save") {
        args.push(("save", ""));
    }
    args.extend_from_slice(extra);
    ServerProcess::start_ember(&args)
}

/// Every type and encoding we can reach from commands, TTLs, three databases.
fn fill(c: &mut RespConn, n: usize) {
    let far = (common_now_ms() + 3_600_000).to_string();
    for db in 0..3 {
        ok(c, &["SELECT", &db.to_string()]);
        for i in 0..n {
            let k = |t: &str| format!("{t}:{db}:{i}");
            ok(c, &["SET", &k("int"), &(i as i64 * 7 - 50).to_string()]);
            ok(c, &["SET", &k("str"), &format!("value-{i}")]);
            ok(c, &["SET", &k("long"), &"abcdefgh".repeat(10 + i % 7)]);
            ok(
                c,
                &["RPUSH", &k("list"), "a", &i.to_string(), "ccc", "12345"],
            );
            ok(c, &["SADD", &k("iset"), "1", "2", &(i + 10).to_string()]);
            ok(c, &["SADD", &k("set"), "x", "y", &format!("m{i}")]);
            ok(c, &["HSET", &k("hash"), "f1", "v1", "f2", &i.to_string()]);
            ok(
                c,
                &[
                    "ZADD",
                    &k("zset"),
                    "1.5",
                    "a",
                    &i.to_string(),
                    "b",
                    "-inf",
                    "c",
                ],
            );
            ok(c, &["PFADD", &k("hll"), "a", "b", &i.to_string()]);
            ok(c, &["SET", &k("ttl"), "soon", "PXAT", &far]);
            ok(c, &["HSET", &k("ttlhash"), "a", "b"]);
            ok(c, &["PEXPIREAT", &k("ttlhash"), &far]);
        }
        // Big encodings: hashtable hash/set, skiplist zset, long list.
        let big: Vec<String> = (0..600).map(|i| format!("member-{i}")).collect();
        let mut args = vec!["SADD".to_string(), format!("bigset:{db}")];
        args.extend(big.iter().cloned());
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(c, &a);
        let mut args = vec!["ZADD".to_string(), format!("bigzset:{db}")];
        for (i, m) in big.iter().enumerate() {
            args.push(format!("{}.25", i));
            args.push(m.clone());
        }
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(c, &a);
        let mut args = vec!["HSET".to_string(), format!("bighash:{db}")];
        for m in &big {
            args.push(m.clone());
            args.push(format!("v-{m}"));
        }
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(c, &a);
        let mut args = vec!["RPUSH".to_string(), format!("biglist:{db}")];
        args.extend(big.iter().cloned());
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(c, &a);
        // A stream with a consumer group, a consumer and pending entries.
        let s = format!("stream:{db}");
        for i in 0..20 {
            ok(
                c,
                &["XADD", &s, &format!("{}-1", 1000 + i), "f", &i.to_string()],
            );
        }
        ok(c, &["XGROUP", "CREATE", &s, "g", "0"]);
        ok(
            c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "5",
                "STREAMS",
                &s,
                ">",
            ],
        );
        ok(c, &["XACK", &s, "g", "1000-1"]);
    }
    ok(c, &["SELECT", "0"]);
}

fn common_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn info_field(c: &mut RespConn, field: &str) -> String {
    let r = run(c, &["INFO", "persistence"]);
    let text = String::from_utf8_lossy(common::string_value(&r).unwrap_or_default()).into_owned();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {field} in INFO persistence: {text}"))
}

fn wait_bgsave(c: &mut RespConn) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A minimal wasm function library `persisted` with one function `p_one`
/// returning 1 (FUNCTION LOAD takes WAT text).
fn library() -> String {
    let lib = encode_command(&["library", "persisted"]);
    let func = encode_command(&["function", "p_one", "0", ""]);
    let reply = b":1\r\n";
    let data = |at: usize, b: &[u8]| {
        let esc: String = b.iter().map(|x| format!("\\{x:02x}")).collect();
        format!("  (data (i32.const {at}) \"{esc}\")\n")
    };
    format!(
        "(module\n\
         \x20 (import \"ember\" \"register\" (func $register (param i32 i32) (result i32)))\n\
         \x20 (import \"ember\" \"reply\" (func $reply (param i32 i32)))\n\
         \x20 (memory (export \"memory\") 1)\n{}{}{}\
         \x20 (func (export \"ember_abi_version\") (result i32) (i32.const 1))\n\
         \x20 (func (export \"ember_init\") (result i32)\n\
         \x20   (if (call $register (i32.const 0) (i32.const {})) (then (return (i32.const 1))))\n\
         \x20   (if (call $register (i32.const 256) (i32.const {})) (then (return (i32.const 1))))\n\
         \x20   (i32.const 0))\n\
         \x20 (func (export \"ember_invoke\") (param $h i32) (result i32)\n\
         \x20   (call $reply (i32.const 512) (i32.const {})) (i32.const 0))\n)\n",
        data(0, &lib),
        data(256, &func),
        data(512, reply),
        lib.len(),
        func.len(),
        reply.len()
    )
}

fn check_rdb(path: &Path) {
    let out = std::process::Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("redis-check-rdb runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "redis-check-rdb rejected {}:\n{text}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts redis-server on a copy of `file` and returns it.
fn redis_on(file: &Path) -> (ServerProcess, Dir) {
    let dir = Dir::new("redis");
    std::fs::copy(file, dir.dump()).expect("copy dump");
    let srv = ServerProcess::start_redis(&[("dir", dir.s()), ("dbfilename", "dump.rdb")]);
    (srv, dir)
}

#[test]
fn save_then_restart_keeps_every_type_ttl_db_and_function() {
    let dir = Dir::new("save");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    fill(&mut c, 30);
    let lib = library();
    assert_eq!(
        run(&mut c, &["FUNCTION", "LOAD", &lib]),
        b"$9\r\npersisted\r\n"
    );
    let before = data(&mut c, 3);
    assert!(before.len() > 1000);
    let t0 = common::integer_value(&run(&mut c, &["LASTSAVE"])).expect("int");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(run(&mut c, &["SAVE"]), b"+OK\r\n");
    let t1 = common::integer_value(&run(&mut c, &["LASTSAVE"])).expect("int");
    assert!(t1 > t0, "LASTSAVE moved");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    drop(c);
    drop(srv); // SIGKILL: only the file carries the data over.
    check_rdb(&dir.dump());

    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_same(&data(&mut c, 3), &before, "data");
    assert_eq!(run(&mut c, &["FCALL", "p_one", "0"]), b":1\r\n");
    assert_eq!(
        info_field(&mut c, "rdb_last_load_keys_loaded"),
        before.len().to_string()
    );

    // Redis reads the same file and sees the same keys (without the wasm
    // library: Redis has no engine for it and rightly refuses the file).
    assert_eq!(run(&mut c, &["FUNCTION", "FLUSH"]), b"+OK\r\n");
    assert_eq!(run(&mut c, &["SAVE"]), b"+OK\r\n");
    check_rdb(&dir.dump());
    let (redis, _rdir) = redis_on(&dir.dump());
    let mut r = redis.connect();
    assert_same(
        &data(&mut r, 3),
        &before,
        "redis-server loading ember's file",
    );
}

/// Mutations of every command family, on the seeded keys (and new ones).
fn churn(c: &mut RespConn, round: usize) {
    let db = round % 3;
    let i = (round * 7) % 40;
    let k = |t: &str| format!("{t}:{db}:{i}");
    let cmds: Vec<Vec<String>> = vec![
        vec!["SELECT".into(), db.to_string()],
        vec!["INCR".into(), k("int")],
        vec!["APPEND".into(), k("str"), "+".into()],
        vec!["SETRANGE".into(), k("long"), "3".into(), "ZZ".into()],
        vec!["LPUSH".into(), k("list"), "new".into()],
        vec!["LSET".into(), k("list"), "1".into(), "changed".into()],
        vec!["RPOP".into(), k("list")],
        vec!["SADD".into(), k("iset"), "99999".into()],
        vec!["SREM".into(), k("set"), "x".into()],
        vec!["SINTERSTORE".into(), k("set"), k("set"), k("iset")],
        vec!["HSET".into(), k("hash"), "f1".into(), "other".into()],
        vec!["HINCRBY".into(), k("hash"), "f2".into(), "5".into()],
        vec!["ZINCRBY".into(), k("zset"), "2".into(), "a".into()],
        vec![
            "ZREM".into(),
            format!("bigzset:{db}"),
            format!("member-{i}"),
        ],
        vec!["PFADD".into(), k("hll"), format!("zz{round}")],
        vec!["PFCOUNT".into(), k("hll")],
        vec!["EXPIRE".into(), k("str"), "1000".into()],
        vec!["PERSIST".into(), k("ttl")],
        vec!["DEL".into(), k("hash")],
        vec!["UNLINK".into(), k("iset")],
        vec!["RENAME".into(), k("zset"), k("zset2")],
        vec!["COPY".into(), k("list"), k("list2")],
        vec!["MOVE".into(), k("int"), ((db + 1) % 3).to_string()],
        vec!["SET".into(), format!("born:{round}"), "later".into()],
        vec![
            "XADD".into(),
            format!("stream:{db}"),
            "*".into(),
            "n".into(),
            "1".into(),
        ],
        vec![
            "XREADGROUP".into(),
            "GROUP".into(),
            "g".into(),
            "bob".into(),
            "COUNT".into(),
            "2".into(),
            "STREAMS".into(),
            format!("stream:{db}"),
            ">".into(),
        ],
        vec![
            "XACK".into(),
            format!("stream:{db}"),
            "g".into(),
            "1001-1".into(),
        ],
        vec![
            "XCLAIM".into(),
            format!("stream:{db}"),
            "g".into(),
            "carol".into(),
            "0".into(),
            "1002-1".into(),
        ],
        vec![
            "XAUTOCLAIM".into(),
            format!("stream:{db}"),
            "g".into(),
            "dave".into(),
            "0".into(),
            "0".into(),
        ],
        vec!["SPOP".into(), format!("bigset:{db}")],
        vec![
            "HDEL".into(),
            format!("bighash:{db}"),
            format!("member-{i}"),
        ],
        vec![
            "LTRIM".into(),
            format!("biglist:{db}"),
            "1".into(),
            "-1".into(),
        ],
        vec!["SETBIT".into(), k("str"), "3".into(), "1".into()],
    ];
    for cmd in cmds {
        let a: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        let _ = run(c, &a);
    }
    if round % 17 == 16 {
        let _ = run(c, &["SWAPDB", "1", "2"]);
    }
    if round == 30 {
        let _ = run(c, &["SELECT", "2"]);
        let _ = run(c, &["FLUSHDB"]);
    }
    let _ = run(c, &["SELECT", "0"]);
}

#[test]
fn bgsave_under_concurrent_writes_is_the_point_in_time_state() {
    let dir = Dir::new("bgsave");
    // Slow the walk down so the writer overlaps it for its whole length.
    let srv = ember(&dir, &[("rdb-key-save-delay", "1000")]);
    let mut c = srv.connect();
    fill(&mut c, 40);
    let before = data(&mut c, 3);
    assert_eq!(run(&mut c, &["BGSAVE"]), b"+Background saving started\r\n");
    assert_eq!(
        run(&mut c, &["BGSAVE"]),
        b"-ERR Background save already in progress\r\n"
    );
    assert_eq!(
        run(&mut c, &["SAVE"]),
        b"-ERR Background save already in progress\r\n"
    );
    let mut round = 0;
    while info_field(&mut c, "rdb_bgsave_in_progress") == "1" {
        churn(&mut c, round);
        round += 1;
    }
    assert!(
        round > 40,
        "the writer overlapped the save ({round} rounds)"
    );
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert!(
        info_field(&mut c, "rdb_last_cow_size")
            .parse::<u64>()
            .unwrap_or(0)
            > 0
    );
    assert!(data(&mut c, 3) != before, "the writer changed things");
    check_rdb(&dir.dump());

    // The file holds exactly the state at the BGSAVE, for Ember and for Redis.
    let copy = Dir::new("bgsave-load");
    std::fs::copy(dir.dump(), copy.dump()).expect("copy");
    let again = ember(&copy, &[]);
    let mut e = again.connect();
    assert_same(&data(&mut e, 3), &before, "data");
    let (redis, _rdir) = redis_on(&dir.dump());
    let mut r = redis.connect();
    assert_same(&data(&mut r, 3), &before, "data");
}

#[test]
fn save_points_fire() {
    let dir = Dir::new("points");
    let srv = ember(&dir, &[("save", "1 3")]);
    let mut c = srv.connect();
    ok(&mut c, &["SET", "a", "1"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!dir.dump().exists(), "2 changes < 3: no save");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    ok(&mut c, &["SET", "b", "1"]);
    ok(&mut c, &["SET", "c", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(dir.dump().exists() && info_field(&mut c, "rdb_changes_since_last_save") == "0") {
        assert!(Instant::now() < deadline, "save point did not fire");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    check_rdb(&dir.dump());
    // CONFIG SET save "" turns them off.
    ok(&mut c, &["CONFIG", "SET", "save", ""]);
    assert_eq!(
        run(&mut c, &["CONFIG", "GET", "save"]),
        b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
    );
}

#[test]
fn failed_bgsave_refuses_writes_with_misconf_until_a_save_succeeds() {
    let dir = Dir::new("misconf");
    let srv = ember(&dir, &[("save", "3600 1")]);
    let mut c = srv.connect();
    ok(&mut c, &["SET", "k", "v"]);
    ok(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=mc\nredis.register_function('wfn', function(k) return redis.call('SET', k[1], 'w') end)\nredis.register_function{function_name='rfn', callback=function(k) return redis.call('GET', k[1]) end, flags={'no-writes'}}",
        ],
    );
    let pid = info_server_field(&mut c, "process_id");
    // The temp file's name is taken by a directory: the save cannot write.
    let blocker = dir.path().join(format!("temp-{pid}.rdb"));
    std::fs::create_dir(&blocker).expect("mkdir");
    assert_eq!(run(&mut c, &["BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    let misconf = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.\r\n";
    assert_eq!(
        escape(&run(&mut c, &["SET", "k", "w"])),
        escape(misconf.as_bytes())
    );
    assert_eq!(escape(&run(&mut c, &["PING"])), escape(misconf.as_bytes()));
    assert_eq!(
        run(&mut c, &["GET", "k"]),
        b"$1\r\nv\r\n",
        "reads still work"
    );
    // Scripts and functions that may write are write commands (Redis's
    // processCommand); a script without flags finds out when it writes.
    let may_write = "#!lua\nreturn redis.call('SET', KEYS[1], 'w')";
    assert_eq!(
        escape(&run(&mut c, &["EVAL", may_write, "1", "k"])),
        escape(misconf.as_bytes())
    );
    let no_writes = "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])";
    assert_eq!(run(&mut c, &["EVAL", no_writes, "1", "k"]), b"$1\r\nv\r\n");
    let compat = run(
        &mut c,
        &["EVAL", "return redis.call('SET', KEYS[1], 'w')", "1", "k"],
    );
    assert!(compat.starts_with(b"-MISCONF"), "{}", escape(&compat));
    assert_eq!(
        run(
            &mut c,
            &["EVAL", "return redis.call('GET', KEYS[1])", "1", "k"]
        ),
        b"$1\r\nv\r\n"
    );
    assert_eq!(
        escape(&run(&mut c, &["FCALL", "wfn", "1", "k"])),
        escape(misconf.as_bytes())
    );
    assert_eq!(run(&mut c, &["FCALL_RO", "rfn", "1", "k"]), b"$1\r\nv\r\n");
    // Turning the option off lets writes through; back on, they stop again.
    ok(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    );
    ok(&mut c, &["SET", "k", "w"]);
    ok(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    );
    let r = run(&mut c, &["DEL", "k"]);
    assert!(r.starts_with(b"-MISCONF"), "{}", escape(&r));
    // Space comes back: the next save succeeds and writes resume.
    std::fs::remove_dir(&blocker).expect("rmdir");
    assert_eq!(run(&mut c, &["BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    ok(&mut c, &["SET", "k", "x"]);
    assert_eq!(run(&mut c, &["GET", "k"]), b"$1\r\nx\r\n");
}

fn info_server_field(c: &mut RespConn, field: &str) -> String {
    let r = run(c, &["INFO", "server"]);
    let text = String::from_utf8_lossy(common::string_value(&r).unwrap_or_default()).into_owned();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {field}"))
}

#[test]
fn kill_during_bgsave_leaves_the_previous_dump_intact() {
    let dir = Dir::new("crash");
    let srv = ember(&dir, &[("rdb-key-save-delay", "2000")]);
    let mut c = srv.connect();
    fill(&mut c, 10);
    assert_eq!(run(&mut c, &["SAVE"]), b"+OK\r\n");
    let saved = data(&mut c, 3);
    let bytes = std::fs::read(dir.dump()).expect("dump");
    for i in 0..200 {
        ok(&mut c, &["SET", &format!("after:{i}"), "x"]);
    }
    assert_eq!(run(&mut c, &["BGSAVE"]), b"+Background saving started\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    drop(c);
    drop(srv); // SIGKILL in the middle of the walk.
    assert_eq!(
        std::fs::read(dir.dump()).expect("dump"),
        bytes,
        "dump.rdb untouched"
    );
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_same(&data(&mut c, 3), &saved, "data");
}

#[test]
fn corrupt_or_truncated_dump_stops_the_start_naming_file_and_offset() {
    let dir = Dir::new("corrupt");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    fill(&mut c, 5);
    assert_eq!(run(&mut c, &["SAVE"]), b"+OK\r\n");
    drop(c);
    drop(srv);
    let good = std::fs::read(dir.dump()).expect("dump");
    for (what, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("flipped", {
            let mut b = good.clone();
            let at = b.len() / 3;
            b[at] ^= 0x5a;
            b
        }),
        ("garbage", b"REDIS0010\xff\xff\xff\xff garbage".to_vec()),
    ] {
        std::fs::write(dir.dump(), &bytes).expect("write");
        let out = std::process::Command::new(common::ember_server_path())
            .args([
                "--port",
                &common::free_port().to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--dir", dir.s(), "--save", ""])
            .output()
            .expect("runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{what}: must not start:\n{text}");
        assert!(text.contains("dump.rdb"), "{what}: names the file:\n{text}");
        assert!(text.contains("offset"), "{what}: names the offset:\n{text}");
        assert_eq!(
            std::fs::read(dir.dump()).expect("dump"),
            bytes,
            "{what}: file left alone"
        );
    }
}

#[test]
fn ember_loads_a_dump_written_by_redis() {
    let rdir = Dir::new("from-redis");
    let redis = ServerProcess::start_redis(&[("dir", rdir.s())]);
    let mut r = redis.connect();
    fill(&mut r, 20);
    let theirs = data(&mut r, 3);
    assert_eq!(run(&mut r, &["SAVE"]), b"+OK\r\n");
    let dir = Dir::new("to-ember");
    std::fs::copy(rdir.dump(), dir.dump()).expect("copy");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_same(&data(&mut c, 3), &theirs, "data");
}

fn wait_exit(srv: &mut ServerProcess) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.is_running() {
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_variants_and_sigterm() {
    // Save points set: SHUTDOWN saves; SHUTDOWN NOSAVE does not.
    let dir = Dir::new("shutdown");
    let mut srv = ember(&dir, &[("save", "3600 1")]);
    let mut c = srv.connect();
    ok(&mut c, &["SET", "a", "1"]);
    assert_eq!(
        run(&mut c, &["SHUTDOWN", "ABORT"]),
        b"-ERR No shutdown in progress.\r\n"
    );
    assert_eq!(
        run(&mut c, &["SHUTDOWN", "SAVE", "NOSAVE"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut c, &["SHUTDOWN", "NOW", "ABORT"]),
        b"-ERR syntax error\r\n"
    );
    let _ = c.command(&["SHUTDOWN"]);
    wait_exit(&mut srv);
    assert!(dir.dump().exists(), "SHUTDOWN with save points saves");

    let mut srv = ember(&dir, &[("save", "3600 1")]);
    let mut c = srv.connect();
    assert_eq!(run(&mut c, &["GET", "a"]), b"$1\r\n1\r\n");
    ok(&mut c, &["SET", "a", "2"]);
    let _ = c.command(&["SHUTDOWN", "NOSAVE"]);
    wait_exit(&mut srv);

    // No save points: SHUTDOWN does not save, SHUTDOWN SAVE does.
    let mut srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(
        run(&mut c, &["GET", "a"]),
        b"$1\r\n1\r\n",
        "NOSAVE did not save"
    );
    ok(&mut c, &["SET", "a", "3"]);
    let _ = c.command(&["SHUTDOWN"]);
    wait_exit(&mut srv);
    let mut srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(
        run(&mut c, &["GET", "a"]),
        b"$1\r\n1\r\n",
        "plain SHUTDOWN without points"
    );
    ok(&mut c, &["SET", "a", "4"]);
    let _ = c.command(&["SHUTDOWN", "SAVE", "NOW", "FORCE"]);
    wait_exit(&mut srv);

    // SIGTERM saves when save points are set.
    let mut srv = ember(&dir, &[("save", "3600 1")]);
    let mut c = srv.connect();
    assert_eq!(
        run(&mut c, &["GET", "a"]),
        b"$1\r\n4\r\n",
        "SHUTDOWN SAVE saved"
    );
    ok(&mut c, &["SET", "a", "5"]);
    let pid = info_server_field(&mut c, "process_id");
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(st.success());
    wait_exit(&mut srv);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(run(&mut c, &["GET", "a"]), b"$1\r\n5\r\n", "SIGTERM saved");

    // A failing save makes SHUTDOWN refuse, FORCE exits anyway.
    let pid = info_server_field(&mut c, "process_id");
    std::fs::create_dir(dir.path().join(format!("temp-{pid}.rdb"))).expect("mkdir");
    assert_eq!(
        run(&mut c, &["SHUTDOWN", "SAVE"]),
        b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert_eq!(run(&mut c, &["PING"]), b"+PONG\r\n");
    let _ = c.command(&["SHUTDOWN", "SAVE", "FORCE"]);
    let mut srv = srv;
    wait_exit(&mut srv);
    let _ = ServerKind::Redis;
}

#[test]
fn flushall_saves_when_save_points_exist() {
    let dir = Dir::new("flushall");
    let srv = ember(&dir, &[("save", "3600 1")]);
    let mut c = srv.connect();
    fill(&mut c, 3);
    assert_eq!(run(&mut c, &["SAVE"]), b"+OK\r\n");
    assert_eq!(run(&mut c, &["FLUSHALL"]), b"+OK\r\n");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    drop(c);
    drop(srv);
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    assert_eq!(
        run(&mut c, &["DBSIZE"]),
        b":0\r\n",
        "the saved file is the empty keyspace"
    );
}

#[test]
fn bgsave_schedule_and_info_fields() {
    let dir = Dir::new("info");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    let r = run(&mut c, &["INFO", "persistence"]);
    let text = String::from_utf8_lossy(common::string_value(&r).unwrap_or_default()).into_owned();
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .collect();
    let redis = ServerProcess::start_redis(&[]);
    let mut rc = redis.connect();
    let r = run(&mut rc, &["INFO", "persistence"]);
    let rtext = String::from_utf8_lossy(common::string_value(&r).unwrap_or_default()).into_owned();
    let rnames: Vec<&str> = rtext
        .lines()
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        names, rnames,
        "the same fields in the same order as Redis 7.0"
    );
    assert_eq!(run(&mut c, &["BGSAVE", "NOW"]), b"-ERR syntax error\r\n");
    ok(&mut c, &["MULTI"]);
    ok(&mut c, &["BGSAVE"]);
    assert_eq!(
        run(&mut c, &["EXEC"]),
        b"*1\r\n+Background saving scheduled\r\n",
        "inside EXEC Redis schedules"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.dump().exists() {
        assert!(Instant::now() < deadline, "scheduled BGSAVE ran");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn debug_reload_behind_enable_debug_command() {
    let dir = Dir::new("debug");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    let refused = run(&mut c, &["DEBUG", "RELOAD"]);
    assert!(
        refused.starts_with(b"-ERR DEBUG command not allowed."),
        "{}",
        escape(&refused)
    );
    drop(c);
    drop(srv);
    let srv = ember(&dir, &[("enable-debug-command", "yes")]);
    let mut c = srv.connect();
    fill(&mut c, 5);
    let before = data(&mut c, 3);
    assert_eq!(run(&mut c, &["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_same(&data(&mut c, 3), &before, "after DEBUG RELOAD");
    assert_eq!(
        run(&mut c, &["DEBUG", "RELOAD", "BOGUS"]),
        b"-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n"
    );
    // NOSAVE loads the file as it is: a key set since is gone.
    ok(&mut c, &["SET", "unsaved", "1"]);
    assert_eq!(run(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]), b"+OK\r\n");
    assert_eq!(run(&mut c, &["EXISTS", "unsaved"]), b":0\r\n");
    assert_same(&data(&mut c, 3), &before, "after DEBUG RELOAD NOSAVE");
}

/// While a load runs (here DEBUG RELOAD slowed down by key-load-delay),
/// INFO says `loading:1` and commands without the `loading` flag get
/// Redis's -LOADING error; INFO itself still answers.
#[test]
fn loading_refuses_commands_while_a_reload_runs() {
    let dir = Dir::new("loading");
    let srv = ember(
        &dir,
        &[("enable-debug-command", "yes"), ("key-load-delay", "1000")],
    );
    let mut c = srv.connect();
    for i in 0..1500 {
        ok(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(info_field(&mut c, "loading"), "0");
    let addr = srv.addr();
    let reload = std::thread::spawn(move || {
        let mut r = RespConn::connect(addr).expect("connect");
        r.set_timeout(Duration::from_secs(60));
        r.command(&["DEBUG", "RELOAD"]).expect("DEBUG RELOAD")
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "loading") != "1" {
        assert!(Instant::now() < deadline, "loading:1 seen");
        std::thread::sleep(Duration::from_millis(5));
    }
    let loading = b"-LOADING Redis is loading the dataset in memory\r\n".to_vec();
    assert_eq!(run(&mut c, &["GET", "k1"]), loading);
    assert_eq!(run(&mut c, &["PING"]), loading);
    assert_eq!(run(&mut c, &["SET", "x", "1"]), loading);
    assert_eq!(reload.join().expect("reload thread"), b"+OK\r\n");
    assert_eq!(info_field(&mut c, "loading"), "0");
    assert_eq!(run(&mut c, &["GET", "k1"]), b"$1\r\nv\r\n");
    assert_eq!(run(&mut c, &["DBSIZE"]), b":1500\r\n");
}

/// At start, clients may connect while the dump loads (as in Redis): INFO
/// says `loading:1`, other commands get -LOADING, then everything answers.
#[test]
fn clients_connect_while_the_dump_loads_at_start() {
    let dir = Dir::new("startload");
    let srv = ember(&dir, &[]);
    let mut c = srv.connect();
    for i in 0..2000 {
        ok(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    ok(&mut c, &["SAVE"]);
    drop(c);
    drop(srv);
    // Started by hand: ServerProcess waits for PING, which answers -LOADING.
    let port = common::free_port();
    let mut child = Killed(
        std::process::Command::new(common::ember_server_path())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.s(), "--save", "", "--key-load-delay", "2000"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ember-server"),
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut c = loop {
        if let Ok(c) = RespConn::connect(addr) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "ember-server accepts connections"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(info_field(&mut c, "loading"), "1");
    // The loading_* fields, with the file's size and the RDB's used-mem.
    let fields = loading_fields(&mut c);
    let size = std::fs::metadata(dir.path().join("dump.rdb"))
        .unwrap()
        .len();
    let get = |k: &str| -> i64 {
        fields
            .iter()
            .find(|(f, _)| f == k)
            .and_then(|(_, v)| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{k} in {fields:?}")) as i64
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - 30..=now).contains(&get("loading_start_time")),
        "{fields:?}"
    );
    assert_eq!(get("loading_total_bytes"), size as i64, "{fields:?}");
    assert!(get("loading_rdb_used_mem") > 0, "{fields:?}");
    assert!(
        (0..=size as i64).contains(&get("loading_loaded_bytes")),
        "{fields:?}"
    );
    assert!(
        (0..=100).contains(&get("loading_loaded_perc")),
        "{fields:?}"
    );
    assert!(get("loading_eta_seconds") >= 0, "{fields:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let loading = b"-LOADING Redis is loading the dataset in memory\r\n".to_vec();
    assert_eq!(run(&mut c, &["GET", "k1"]), loading);
    assert_eq!(run(&mut c, &["PING"]), loading);
    while run(&mut c, &["PING"]) != b"+PONG\r\n" {
        assert!(Instant::now() < deadline, "the load ends");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(&mut c, "loading"), "0");
    assert!(!info_text(&mut c, "persistence").contains("loading_start_time"));
    assert_eq!(run(&mut c, &["DBSIZE"]), b":2000\r\n");
    child.stop();
    // redis-server loading the same file prints the same fields in order.
    let port = common::free_port();
    let mut child = Killed(
        std::process::Command::new(common::redis_server_path())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.s(), "--save", "", "--key-load-delay", "2000"])
            // Redis answers while loading only between such chunks.
            .args(["--loading-process-events-interval-bytes", "1024"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn redis-server"),
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut r = loop {
        if let Ok(c) = RespConn::connect(addr) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server accepts connections"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let theirs = loading_fields(&mut r);
    child.stop();
    let names = |f: &[(String, String)]| f.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&fields), names(&theirs));
}

/// A server started by hand, killed however the test ends.
struct Killed(std::process::Child);

impl Killed {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.stop();
    }
}

fn info_text(c: &mut RespConn, section: &str) -> String {
    let r = run(c, &["INFO", section]);
    String::from_utf8_lossy(common::string_value(&r).unwrap_or_default()).into_owned()
}

/// INFO persistence's fields from `loading:` on (while a load runs), in order.
fn loading_fields(c: &mut RespConn) -> Vec<(String, String)> {
    info_text(c, "persistence")
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.starts_with("loading") || *k == "async_loading")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
