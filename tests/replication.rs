//! Replication, primary side, against the real programs on loopback:
//! Debian's redis-server 7.0 as a replica of an Ember primary (full sync of
//! every type with TTLs, disk-based and diskless, a live write stream with
//! MULTI, scripts and expirations, a replica restart that resumes with a
//! partial resync), `redis-cli --rdb` and `redis-cli --replica`, a plain
//! PSYNC client reading what Ember propagates compared with what
//! redis-server propagates for the same commands, and WAIT, ROLE, INFO
//! replication, min-replicas-to-write and CLIENT KILL TYPE replica.

mod common;

use common::{encode_command, escape, RespConn, ServerProcess};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args)
        .unwrap_or_else(|e| panic!("{}: {e}", escape(&encode_command(args))))
}

fn ok(c: &mut RespConn, args: &[&str]) {
    let r = run(c, args);
    assert!(!common::is_error(&r), "{args:?} -> {}", escape(&r));
}

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(common::string_value(reply).unwrap_or(reply)).into_owned()
}

/// One field of `INFO <section>`.
fn info_field(c: &mut RespConn, section: &str, field: &str) -> Option<String> {
    let info = text(&run(c, &["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

fn elems(reply: &[u8]) -> Vec<Vec<u8>> {
    common::split_aggregate(reply, common::Protocol::Resp2)
        .map(|(_, e)| e.into_iter().map(|x| x.to_vec()).collect())
        .unwrap_or_default()
}

/// (db, key) -> (type, value, PEXPIRETIME).
type Keyspace = BTreeMap<(usize, Vec<u8>), (String, Vec<Vec<u8>>, String)>;

/// Every key of every database with its type, value and absolute expiry.
/// Unordered collections are sorted, so two servers holding the same data
/// give equal maps whatever their internal order.
fn keyspace(c: &mut RespConn) -> Keyspace {
    let mut all = BTreeMap::new();
    for db in 0..16 {
        ok(c, &["SELECT", &db.to_string()]);
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let r = run(c, &["SCAN", &cursor, "COUNT", "1000"]);
            let parts = elems(&r);
            cursor = text(&parts[0]);
            for k in elems(&parts[1]) {
                keys.push(common::string_value(&k).expect("key").to_vec());
            }
            if cursor == "0" {
                break;
            }
        }
        for key in keys {
            let k = key.as_slice();
            let ty = text(&c.command(&[b"TYPE".as_slice(), k]).expect("TYPE"));
            let cmds: Vec<Vec<&[u8]>> = match ty.as_str() {
                "string" => vec![vec![b"GET", k]],
                "list" => vec![vec![b"LRANGE", k, b"0", b"-1"]],
                "hash" => vec![vec![b"HGETALL", k]],
                "set" => vec![vec![b"SMEMBERS", k]],
                "zset" => vec![vec![b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]],
                "stream" => vec![vec![b"XRANGE", k, b"-", b"+"]],
                other => panic!("unexpected type {other} of {}", escape(k)),
            };
            let mut value = Vec::new();
            for cmd in cmds {
                let r = c.command(&cmd).expect("read value");
                match ty.as_str() {
                    "hash" => {
                        let e = elems(&r);
                        let mut pairs: Vec<Vec<u8>> = e
                            .chunks(2)
                            .map(|p| [p[0].clone(), p[1].clone()].concat())
                            .collect();
                        pairs.sort();
                        value.extend(pairs);
                    }
                    "set" => {
                        let mut e = elems(&r);
                        e.sort();
                        value.extend(e);
                    }
                    _ => value.push(r),
                }
            }
            let expiry = text(
                &c.command(&[b"PEXPIRETIME".as_slice(), k])
                    .expect("PEXPIRETIME"),
            );
            all.insert((db, key.clone()), (ty, value, expiry));
        }
    }
    ok(c, &["SELECT", "0"]);
    all
}

fn assert_same_keyspace(primary: &mut RespConn, replica: &mut RespConn, what: &str) {
    let a = keyspace(primary);
    let b = keyspace(replica);
    assert!(!a.is_empty(), "{what}: the primary holds no keys");
    if a != b {
        let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).take(5).collect();
        let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).take(5).collect();
        let differ: Vec<_> = a
            .iter()
            .filter(|(k, v)| b.get(*k).is_some_and(|w| w != *v))
            .take(3)
            .map(|(k, v)| format!("{k:?}: primary {v:?} replica {:?}", b.get(k)))
            .collect();
        panic!(
            "{what}: keyspaces differ ({} vs {} keys); only on the primary: {only_a:?}; only on the replica: {only_b:?}; different: {differ:#?}",
            a.len(),
            b.len()
        );
    }
}

/// Waits until the replica's link is up and it applied everything the
/// primary has streamed so far.
fn wait_caught_up(primary: &mut RespConn, replica: &mut RespConn, replica_srv: &ServerProcess) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let want = info_field(primary, "replication", "master_repl_offset");
        let link = info_field(replica, "replication", "master_link_status");
        let got = info_field(replica, "replication", "slave_repl_offset");
        if link.as_deref() == Some("up") && want.is_some() && want == got {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not catch up: primary offset {want:?}, replica link {link:?} offset {got:?}; replica output:\n{}",
            replica_srv.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A mixed data set: every type and encoding Redis distinguishes, TTLs,
/// binary keys and values, several databases.
fn load_data_set(c: &mut RespConn) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    for db in ["0", "1", "9"] {
        ok(c, &["SELECT", db]);
        let mut batch: Vec<Vec<Vec<u8>>> = Vec::new();
        for i in 0..300u32 {
            let k = format!("str:{i}");
            batch.push(vec![
                b"SET".to_vec(),
                k.into_bytes(),
                format!("value-{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"SET".to_vec(),
                format!("int:{i}").into_bytes(),
                i.to_string().into_bytes(),
            ]);
            if i % 3 == 0 {
                let at = (now_ms + 3_600_000 + u64::from(i)).to_string();
                batch.push(vec![
                    b"PEXPIREAT".to_vec(),
                    format!("str:{i}").into_bytes(),
                    at.into_bytes(),
                ]);
            }
        }
        batch.push(vec![
            b"SET".to_vec(),
            vec![0, 1, 2, 255, b'\r', b'\n'],
            vec![255, 0, 10, 13],
        ]);
        for i in 0..50u32 {
            batch.push(vec![
                b"RPUSH".to_vec(),
                b"list:small".to_vec(),
                format!("e{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"HSET".to_vec(),
                b"hash:small".to_vec(),
                format!("f{i}").into_bytes(),
                i.to_string().into_bytes(),
            ]);
            batch.push(vec![
                b"SADD".to_vec(),
                b"set:int".to_vec(),
                (i * 7).to_string().into_bytes(),
            ]);
            batch.push(vec![
                b"SADD".to_vec(),
                b"set:small".to_vec(),
                format!("m{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"ZADD".to_vec(),
                b"zset:small".to_vec(),
                format!("{}.5", i).into_bytes(),
                format!("z{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"XADD".to_vec(),
                b"stream".to_vec(),
                format!("{}-1", i + 1).into_bytes(),
                b"f".to_vec(),
                format!("v{i}").into_bytes(),
            ]);
        }
        for i in 0..1000u32 {
            batch.push(vec![
                b"RPUSH".to_vec(),
                b"list:big".to_vec(),
                format!("element-{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"HSET".to_vec(),
                b"hash:big".to_vec(),
                format!("field-{i}").into_bytes(),
                format!("{}", i * 3).into_bytes(),
            ]);
            batch.push(vec![
                b"SADD".to_vec(),
                b"set:big".to_vec(),
                format!("member-{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"ZADD".to_vec(),
                b"zset:big".to_vec(),
                format!("{}", f64::from(i) / 3.0).into_bytes(),
                format!("m-{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"PFADD".to_vec(),
                b"hll".to_vec(),
                format!("x{i}").into_bytes(),
            ]);
            batch.push(vec![
                b"SETBIT".to_vec(),
                b"bits".to_vec(),
                (i * 13).to_string().into_bytes(),
                b"1".to_vec(),
            ]);
        }
        batch.push(vec![
            b"HSET".to_vec(),
            b"hash:long".to_vec(),
            b"f".to_vec(),
            vec![b'x'; 200],
        ]);
        batch.push(vec![
            b"PEXPIREAT".to_vec(),
            b"hash:big".to_vec(),
            (now_ms + 7_200_000).to_string().into_bytes(),
        ]);
        batch.push(vec![
            b"PEXPIREAT".to_vec(),
            b"list:small".to_vec(),
            (now_ms + 7_300_000).to_string().into_bytes(),
        ]);
        batch.push(vec![
            b"XGROUP".to_vec(),
            b"CREATE".to_vec(),
            b"stream".to_vec(),
            b"g1".to_vec(),
            b"0".to_vec(),
        ]);
        batch.push(vec![
            b"XREADGROUP".to_vec(),
            b"GROUP".to_vec(),
            b"g1".to_vec(),
            b"alice".to_vec(),
            b"COUNT".to_vec(),
            b"5".to_vec(),
            b"STREAMS".to_vec(),
            b"stream".to_vec(),
            b">".to_vec(),
        ]);
        pipeline(c, &batch);
    }
    ok(c, &["SELECT", "0"]);
}

/// Sends all commands at once, then checks every reply.
fn pipeline(c: &mut RespConn, cmds: &[Vec<Vec<u8>>]) {
    let mut bytes = Vec::new();
    for cmd in cmds {
        bytes.extend(encode_command(cmd));
    }
    c.send_raw(&bytes).expect("send pipeline");
    for cmd in cmds {
        let r = c.read_reply().expect("pipeline reply");
        assert!(
            !common::is_error(&r),
            "{} -> {}",
            escape(&encode_command(cmd)),
            escape(&r)
        );
    }
}

/// The live write stream: most command families, MULTI/EXEC, a Lua script,
/// relative TTLs, SELECT, FLUSHDB, and keys that expire while we watch.
fn live_writes(c: &mut RespConn, round: u32) {
    let r = round.to_string();
    for i in 0..200u32 {
        let k = format!("live:{round}:{i}");
        ok(c, &["SET", &k, &i.to_string(), "EX", "1000"]);
        ok(c, &["INCRBY", &k, "5"]);
    }
    ok(c, &["LPUSH", "list:small", "pushed", &r]);
    ok(c, &["RPOP", "list:big"]);
    ok(c, &["HINCRBYFLOAT", "hash:small", "f1", "0.25"]);
    ok(c, &["SREM", "set:big", "member-1"]);
    ok(c, &["ZINCRBY", "zset:big", "10", "m-5"]);
    ok(c, &["XADD", "stream", "*", "live", &r]);
    ok(c, &["XACK", "stream", "g1", "1-1"]);
    ok(c, &["EXPIRE", "str:1", "5000"]);
    ok(c, &["PERSIST", "str:3"]);
    ok(c, &["DEL", "str:2"]);
    ok(
        c,
        &[
            "RENAME",
            &format!("int:{}", 10 + round),
            &format!("renamed:{round}"),
        ],
    );
    ok(c, &["INCRBYFLOAT", "int:5", "1.5"]);
    ok(c, &["SPOP", "set:small"]);
    ok(c, &["GETEX", "str:6", "PX", "900000"]);
    // A transaction and a script: atomic units on the replica too.
    ok(c, &["MULTI"]);
    run(c, &["SET", "tx:a", &r]);
    run(c, &["INCR", "tx:n"]);
    run(c, &["LPUSH", "tx:l", "x", "y"]);
    ok(c, &["EXEC"]);
    ok(
        c,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]); redis.call('HSET', KEYS[2], 'f', ARGV[1]); redis.call('EXPIRE', KEYS[1], 500); return 1",
            "2",
            "script:s",
            "script:h",
            &r,
        ],
    );
    ok(c, &["SELECT", "1"]);
    ok(c, &["SET", "in-db-1", &r]);
    ok(c, &["SELECT", "9"]);
    ok(c, &["FLUSHDB"]);
    ok(c, &["SET", "after-flush", &r]);
    ok(c, &["SELECT", "0"]);
    // Keys that expire on the primary: the replica gets DELs.
    for i in 0..20u32 {
        ok(c, &["SET", &format!("short:{round}:{i}"), "x", "PX", "50"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..10u32 {
        // Lazy expiry on access (the rest go to the active cycle).
        run(c, &["GET", &format!("short:{round}:{i}")]);
    }
}

#[test]
fn redis_replica_of_ember_full_sync_live_stream_and_partial_resync() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("repl-diskless-sync-delay", "0")]);
    let mut p = ember.connect();
    load_data_set(&mut p);
    let dir = common::unique_temp_dir("repl-replica");
    let dir_s = dir.to_str().expect("utf-8 dir").to_string();
    let replicaof = format!("127.0.0.1 {}", ember.port());
    let args = [("dir", dir_s.as_str()), ("replicaof", replicaof.as_str())];
    let redis = ServerProcess::start_redis(&args);
    let mut r = redis.connect();
    wait_caught_up(&mut p, &mut r, &redis);
    assert_same_keyspace(&mut p, &mut r, "after the full sync (diskless)");
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );

    live_writes(&mut p, 1);
    wait_caught_up(&mut p, &mut r, &redis);
    // Wait for the active expiry of the short keys to reach the replica.
    let deadline = Instant::now() + Duration::from_secs(10);
    while keyspace(&mut p)
        .keys()
        .any(|(_, k)| k.starts_with(b"short:"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_caught_up(&mut p, &mut r, &redis);
    assert_same_keyspace(&mut p, &mut r, "after the live stream");
    assert!(
        !keyspace(&mut r)
            .keys()
            .any(|(_, k)| k.starts_with(b"short:")),
        "expired keys must be deleted on the replica by the primary's DELs"
    );

    // The replica goes away (saving its data and replication position),
    // the primary keeps writing, the replica comes back: partial resync.
    let _ = r.send(&["SHUTDOWN", "SAVE"]);
    assert!(
        r.wait_closed(Duration::from_secs(10)),
        "redis replica did not shut down"
    );
    drop(redis);
    live_writes(&mut p, 2);
    let redis = ServerProcess::start_redis(&args);
    let mut r = redis.connect();
    wait_caught_up(&mut p, &mut r, &redis);
    assert_same_keyspace(&mut p, &mut r, "after the replica's restart");
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_ok").as_deref(),
        Some("1"),
        "the restarted replica must resume with a partial resync; replica output:\n{}",
        redis.output()
    );
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert!(redis
        .output()
        .contains("Successful partial resynchronization with master"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_replica_disk_based_sync_and_late_joiner() {
    let _g = common::shared();
    // Disk-based: the RDB goes to dbfilename, then "$<len>" and the file.
    // rdb-key-save-delay keeps the save running while a second replica
    // arrives, which shares it (Redis's "Waiting for end of BGSAVE").
    let ember = ServerProcess::start_ember(&[("repl-diskless-sync", "no")]);
    let mut p = ember.connect();
    load_data_set(&mut p);
    ok(&mut p, &["CONFIG", "SET", "rdb-key-save-delay", "3000"]);
    let replicaof = format!("127.0.0.1 {}", ember.port());
    let a = ServerProcess::start_redis(&[("replicaof", replicaof.as_str())]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ember
        .output()
        .contains("Starting BGSAVE for SYNC with target: disk")
    {
        assert!(
            Instant::now() < deadline,
            "no sync started: {}",
            ember.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    live_writes(&mut p, 1);
    let b = ServerProcess::start_redis(&[("replicaof", replicaof.as_str())]);
    ok(&mut p, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let (mut ra, mut rb) = (a.connect(), b.connect());
    wait_caught_up(&mut p, &mut ra, &a);
    wait_caught_up(&mut p, &mut rb, &b);
    assert_same_keyspace(&mut p, &mut ra, "first disk-based replica");
    assert_same_keyspace(&mut p, &mut rb, "second disk-based replica");
    assert!(
        ember.dir().join("dump.rdb").exists(),
        "the sync's RDB stays on disk"
    );
    let log = ember.output();
    assert_eq!(
        log.matches("Starting BGSAVE for SYNC").count(),
        1,
        "the second replica shares the running sync: {log}"
    );
    assert!(log.contains("Waiting for end of BGSAVE for SYNC"), "{log}");
    assert_eq!(
        info_field(&mut p, "replication", "connected_slaves").as_deref(),
        Some("2")
    );
}

/// Reads one RESP value (for the raw replication stream).
fn read_value(r: &mut impl BufRead) -> Vec<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).expect("stream line");
    assert!(
        line.starts_with(b"*"),
        "expected an array, got {}",
        escape(&line)
    );
    let n: usize = String::from_utf8_lossy(&line[1..line.len() - 2])
        .parse()
        .expect("count");
    let mut out = Vec::new();
    for _ in 0..n {
        line.clear();
        r.read_until(b'\n', &mut line).expect("bulk header");
        let len: usize = String::from_utf8_lossy(&line[1..line.len() - 2])
            .parse()
            .expect("len");
        let mut v = vec![0; len + 2];
        r.read_exact(&mut v).expect("bulk");
        v.truncate(len);
        out.push(v);
    }
    out
}

/// A plain PSYNC client: full sync (skipping the RDB), then the commands of
/// the stream until the marker command `SET __end__ 1`, PINGs left out.
fn propagated(server: &ServerProcess, cmds: &[Vec<&str>]) -> Vec<Vec<Vec<u8>>> {
    let s = TcpStream::connect(server.addr()).expect("connect for PSYNC");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut rd = BufReader::new(s);
    w.write_all(b"PSYNC ? -1\r\n").expect("PSYNC");
    let mut line = Vec::new();
    let next_line = |rd: &mut BufReader<TcpStream>, line: &mut Vec<u8>| loop {
        line.clear();
        rd.read_until(b'\n', line).expect("reply line");
        if line != b"\n" {
            break;
        }
    };
    next_line(&mut rd, &mut line);
    assert!(line.starts_with(b"+FULLRESYNC "), "{}", escape(&line));
    next_line(&mut rd, &mut line);
    assert!(line.starts_with(b"$"), "{}", escape(&line));
    let len: usize = String::from_utf8_lossy(&line[1..line.len() - 2])
        .parse()
        .expect("rdb len");
    let mut rdb = vec![0; len];
    rd.read_exact(&mut rdb).expect("rdb");
    assert!(rdb.starts_with(b"REDIS0010"));
    let mut c = server.connect();
    for cmd in cmds {
        if cmd[0] == "SLEEP" {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        run(&mut c, cmd);
    }
    run(&mut c, &["SET", "__end__", "1"]);
    let mut out = Vec::new();
    loop {
        let v = read_value(&mut rd);
        if v == [b"PING".to_vec()] {
            continue;
        }
        let end = v.len() == 3 && v[1] == b"__end__";
        out.push(v);
        if end {
            return out;
        }
    }
}

/// Absolute times in the stream differ between two runs: masked.
fn mask_times(stream: &mut [Vec<Vec<u8>>]) {
    for cmd in stream.iter_mut() {
        for i in 1..cmd.len() {
            let prev = String::from_utf8_lossy(&cmd[i - 1]).to_ascii_uppercase();
            let abs = matches!(prev.as_str(), "PXAT" | "EXAT")
                || i == 2 && String::from_utf8_lossy(&cmd[0]).eq_ignore_ascii_case("pexpireat");
            if abs {
                cmd[i] = b"<time>".to_vec();
            }
        }
    }
}

#[test]
fn psync_stream_matches_what_redis_propagates() {
    let _g = common::shared();
    let cmds: Vec<Vec<&str>> = [
        "SET k v EX 100",
        "SET k2 v PX 100000",
        "SETEX k3 100 v",
        "EXPIRE k 200",
        "PEXPIRE k 300000",
        "GETEX k EX 50",
        "INCRBYFLOAT f 1.5",
        "HINCRBYFLOAT h f 2.5",
        "SADD s a",
        "SPOP s",
        "RPUSH l a b c",
        "LMOVE l l2 LEFT RIGHT",
        "DEL nokey",
        "DEL k3",
        "PUBLISH ch msg",
        "MULTI",
        "SET m1 1",
        "INCR m1",
        "EXEC",
        "SELECT 2",
        "SET in2 x",
        "FLUSHDB",
        "SELECT 0",
        "SET t 1 KEEPTTL",
        "PERSIST k",
        "RENAME k k9",
        "SET gone x PX 1",
        "SLEEP",
        "GET gone",
    ]
    .iter()
    .map(|l| l.split(' ').collect())
    .collect();
    let mut with_script = cmds.clone();
    with_script.push(vec![
        "EVAL",
        "redis.call('SET', KEYS[1], 'a'); redis.call('INCR', KEYS[2]); return 1",
        "2",
        "sk1",
        "sk2",
    ]);
    let redis = ServerProcess::start_redis(&[("repl-diskless-sync", "no")]);
    let ember = ServerProcess::start_ember(&[("repl-diskless-sync", "no")]);
    let mut want = propagated(&redis, &with_script);
    let mut got = propagated(&ember, &with_script);
    mask_times(&mut want);
    mask_times(&mut got);
    let show = |s: &[Vec<Vec<u8>>]| {
        s.iter()
            .map(|c| {
                c.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        show(&got),
        show(&want),
        "Ember's stream (left) vs Redis's (right)"
    );
}

fn redis_cli() -> PathBuf {
    PathBuf::from("redis-cli")
}

#[test]
fn redis_cli_rdb_and_replica_modes() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("repl-diskless-sync-delay", "0")]);
    let mut p = ember.connect();
    load_data_set(&mut p);
    let file = ember.dir().join("fetched.rdb");
    let out = Command::new(redis_cli())
        .args(["-p", &ember.port().to_string(), "--rdb"])
        .arg(&file)
        .output()
        .expect("redis-cli --rdb");
    assert!(
        out.status.success(),
        "redis-cli --rdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("redis-check-rdb");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "redis-check-rdb: {report}");
    let keys: usize = ["0", "1", "9"]
        .iter()
        .map(|db| {
            ok(&mut p, &["SELECT", db]);
            common::integer_value(&run(&mut p, &["DBSIZE"])).expect("dbsize") as usize
        })
        .sum();
    ok(&mut p, &["SELECT", "0"]);
    assert!(report.contains(&format!("{keys} keys read")), "{report}");
    // The rdb-only client is gone once it has its file.
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(&mut p, "replication", "connected_slaves").as_deref() != Some("0") {
        assert!(
            Instant::now() < deadline,
            "the rdb-only client stayed attached"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // --replica: an empty RDB (rdb-filter-only ""), then the live stream.
    let mut child = Command::new(redis_cli())
        .args(["-p", &ember.port().to_string(), "--replica"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli --replica");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut p, "replication", "slave0").is_none_or(|l| !l.contains("state=online")) {
        assert!(
            Instant::now() < deadline,
            "redis-cli --replica did not come online"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Online, but the stream starts with its first ACK (redis-cli sends it
    // a second after the RDB).
    std::thread::sleep(Duration::from_millis(1500));
    // redis-cli sends that ACK with redisCommand, which takes the first
    // command of the stream for its reply: a first write for it to eat.
    ok(&mut p, &["SET", "eaten-by-the-ack", "1"]);
    ok(&mut p, &["SET", "seen-by-cli", "1"]);
    ok(&mut p, &["SELECT", "3"]);
    ok(&mut p, &["LPUSH", "l3", "a"]);
    ok(&mut p, &["SELECT", "0"]);
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read --replica output");
    let _ = child.wait();
    let stdout: String = stdout
        .lines()
        .filter(|l| *l != "\"PING\"")
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        stdout.contains("\"SET\",\"seen-by-cli\",\"1\"\n\"SELECT\",\"3\"\n\"LPUSH\",\"l3\",\"a\""),
        "redis-cli --replica printed:\n{stdout}"
    );
}

#[test]
fn wait_role_info_min_replicas_and_client_kill() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("repl-diskless-sync-delay", "0")]);
    let mut p = ember.connect();
    // No replica: WAIT answers 0 (at once with 0 wanted, after the timeout
    // otherwise), as Redis does.
    assert_eq!(run(&mut p, &["WAIT", "0", "0"]), b":0\r\n");
    let t = Instant::now();
    assert_eq!(run(&mut p, &["WAIT", "1", "200"]), b":0\r\n");
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(
        run(&mut p, &["WAIT", "1", "-1"]),
        b"-ERR timeout is negative\r\n"
    );
    assert_eq!(
        run(&mut p, &["ROLE"]),
        b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
    );

    let replicaof = format!("127.0.0.1 {}", ember.port());
    let redis = ServerProcess::start_redis(&[("replicaof", replicaof.as_str())]);
    let mut r = redis.connect();
    ok(&mut p, &["SET", "a", "1"]);
    wait_caught_up(&mut p, &mut r, &redis);
    ok(&mut p, &["SET", "b", "2"]);
    assert_eq!(run(&mut p, &["WAIT", "1", "5000"]), b":1\r\n");
    let t = Instant::now();
    assert_eq!(run(&mut p, &["WAIT", "2", "300"]), b":1\r\n");
    assert!(t.elapsed() >= Duration::from_millis(290));

    // INFO replication: Redis 7.0's fields, in order.
    let info = text(&run(&mut p, &["INFO", "replication"]));
    let names: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(':').next())
        .filter(|n| !n.starts_with('#') && !n.is_empty())
        .collect();
    assert_eq!(
        names,
        [
            "role",
            "connected_slaves",
            "slave0",
            "master_failover_state",
            "master_replid",
            "master_replid2",
            "master_repl_offset",
            "second_repl_offset",
            "repl_backlog_active",
            "repl_backlog_size",
            "repl_backlog_first_byte_offset",
            "repl_backlog_histlen"
        ]
    );
    let slave0 = info_field(&mut p, "replication", "slave0").expect("slave0");
    let port = text(&run(&mut r, &["CONFIG", "GET", "port"]));
    let rport = redis.port().to_string();
    assert!(port.contains(&rport));
    assert!(
        slave0.starts_with(&format!("ip=127.0.0.1,port={rport},state=online,offset=")),
        "{slave0}"
    );
    let offset = info_field(&mut p, "replication", "master_repl_offset").expect("offset");
    let role = run(&mut p, &["ROLE"]);
    let parts = elems(&role);
    assert_eq!(parts[0], b"$6\r\nmaster\r\n");
    assert!(common::integer_value(&parts[1]).is_some());
    let replicas = elems(&parts[2]);
    assert_eq!(replicas.len(), 1);
    let one = elems(&replicas[0]);
    assert_eq!(text(&one[0]), "127.0.0.1");
    assert_eq!(text(&one[1]), rport);
    assert!(
        text(&one[2]).parse::<i64>().expect("ack offset") <= offset.parse::<i64>().expect("offset")
    );
    // The replica's view.
    assert_eq!(
        info_field(&mut r, "replication", "master_replid"),
        info_field(&mut p, "replication", "master_replid")
    );

    // min-replicas-to-write: with 2 required and 1 good, writes are refused.
    ok(&mut p, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
    assert_eq!(
        run(&mut p, &["SET", "x", "1"]),
        b"-NOREPLICAS Not enough good replicas to write.\r\n"
    );
    assert_eq!(run(&mut p, &["GET", "a"]), b"$1\r\n1\r\n");
    assert_eq!(
        info_field(&mut p, "replication", "min_slaves_good_slaves").as_deref(),
        Some("1")
    );
    ok(&mut p, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    ok(&mut p, &["SET", "x", "1"]);
    ok(&mut p, &["CONFIG", "SET", "min-replicas-to-write", "0"]);

    // CLIENT LIST / KILL TYPE replica, then the replica comes back with a
    // partial resync.
    let list = text(&run(&mut p, &["CLIENT", "LIST", "TYPE", "replica"]));
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(" flags=S "), "{list}");
    assert_eq!(
        text(&run(&mut p, &["CLIENT", "LIST", "TYPE", "master"])),
        ""
    );
    assert_eq!(
        run(&mut p, &["CLIENT", "KILL", "TYPE", "master"]),
        b":0\r\n"
    );
    assert_eq!(run(&mut p, &["CLIENT", "KILL", "TYPE", "slave"]), b":1\r\n");
    ok(&mut p, &["SET", "after-kill", "1"]);
    wait_caught_up(&mut p, &mut r, &redis);
    assert_eq!(run(&mut r, &["GET", "after-kill"]), b"$1\r\n1\r\n");
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );
}

/// min-replicas-to-write errors, byte for byte with redis-server (neither
/// has a replica).
#[test]
fn noreplicas_errors_match_redis() {
    let _g = common::shared();
    let script: Vec<Vec<&str>> = [
        "CONFIG SET min-replicas-to-write 1",
        "SET k v",
        "GET k",
        "MULTI",
        "SET k v",
        "EXEC",
        "MULTI",
        "GET k",
        "EXEC",
        "WAIT 0 0",
        "WAIT a 0",
        "WAIT 0 a",
        "WAIT 0 -1",
        "WAIT 0 1.5",
        "CONFIG SET min-replicas-max-lag 0",
        "SET k v",
        "SYNC extra",
        "REPLCONF listening-port",
        "REPLCONF nonsense 1",
        "REPLCONF listening-port 1234 capa eof capa psync2",
        "REPLCONF rdb-only 5",
        "REPLCONF rdb-filter-only bogus",
        "PSYNC a b",
        "ROLE x",
    ]
    .iter()
    .map(|l| l.split(' ').collect())
    .collect();
    let mut replies = Vec::new();
    for kind in [common::ServerKind::Redis, common::ServerKind::Ember] {
        let s = ServerProcess::start(kind, &[]);
        let mut c = s.connect();
        replies.push(
            script
                .iter()
                .map(|cmd| escape(&run(&mut c, cmd)))
                .collect::<Vec<_>>(),
        );
    }
    for (i, cmd) in script.iter().enumerate() {
        assert_eq!(
            replies[1][i], replies[0][i],
            "{cmd:?}: Ember (left) vs Redis (right)"
        );
    }
}

/// Starts a raw PSYNC replica on `server` and reads up to the end of the
/// RDB; returns the socket (the stream follows).
fn raw_replica(server: &ServerProcess, psync: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(format!("{psync}\r\n").as_bytes())
        .expect("PSYNC");
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b"\r\n") {
        s.read_exact(&mut byte).expect("PSYNC reply");
        if first.is_empty() && byte[0] == b'\n' {
            continue;
        }
        first.push(byte[0]);
    }
    (s, first)
}

#[test]
fn backlog_size_decides_partial_or_full_resync_and_ttl_frees_it() {
    let _g = common::shared();
    let ember =
        ServerProcess::start_ember(&[("repl-diskless-sync", "no"), ("repl-backlog-size", "16384")]);
    let mut p = ember.connect();
    ok(&mut p, &["SET", "a", "1"]);
    let (s, reply) = raw_replica(&ember, "PSYNC ? -1");
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let parts: Vec<&str> = reply.trim_end().split(' ').collect();
    assert_eq!(parts[0], "+FULLRESYNC", "{reply}");
    let replid = parts[1].to_string();
    let offset: i64 = parts[2].parse().expect("offset");
    assert_eq!(replid.len(), 40);
    assert_eq!(
        info_field(&mut p, "replication", "master_replid"),
        Some(replid.clone())
    );
    drop(s);
    // Within the backlog: +CONTINUE with our ID (psync2 is not announced
    // by this client, so the plain form).
    ok(&mut p, &["SET", "b", "2"]);
    let (s, reply) = raw_replica(&ember, &format!("PSYNC {replid} {}", offset + 1));
    assert_eq!(reply, b"+CONTINUE\r\n");
    drop(s);
    // An unknown ID or an offset beyond what is held: full resync.
    let (s, reply) = raw_replica(&ember, &format!("PSYNC {} {}", "f".repeat(40), offset + 1));
    assert!(reply.starts_with(b"+FULLRESYNC "), "{}", escape(&reply));
    drop(s);
    for i in 0..100 {
        ok(&mut p, &["SET", &format!("fill{i}"), &"x".repeat(1000)]);
    }
    let first: i64 = info_field(&mut p, "replication", "repl_backlog_first_byte_offset")
        .expect("first")
        .parse()
        .expect("number");
    let histlen: i64 = info_field(&mut p, "replication", "repl_backlog_histlen")
        .expect("histlen")
        .parse()
        .expect("number");
    let end: i64 = info_field(&mut p, "replication", "master_repl_offset")
        .expect("offset")
        .parse()
        .expect("number");
    assert_eq!(histlen, 16384);
    assert_eq!(first + histlen - 1, end);
    let (s, reply) = raw_replica(&ember, &format!("PSYNC {replid} {}", offset + 1));
    assert!(reply.starts_with(b"+FULLRESYNC "), "{}", escape(&reply));
    drop(s);
    let (s, reply) = raw_replica(&ember, &format!("PSYNC {replid} {first}"));
    assert_eq!(reply, b"+CONTINUE\r\n");
    drop(s);
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_ok").as_deref(),
        Some("2")
    );
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_err").as_deref(),
        Some("2")
    );
    // repl-backlog-ttl: with no replica for that long, the backlog goes and
    // a new history starts.
    ok(&mut p, &["CONFIG", "SET", "repl-backlog-ttl", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut p, "replication", "repl_backlog_active").as_deref() != Some("0") {
        assert!(Instant::now() < deadline, "the backlog was not freed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(
        info_field(&mut p, "replication", "master_replid"),
        Some(replid)
    );
    assert_eq!(
        info_field(&mut p, "replication", "repl_backlog_histlen").as_deref(),
        Some("0")
    );
}

#[test]
fn replica_over_its_output_buffer_limit_is_disconnected() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[
        ("repl-diskless-sync", "no"),
        ("client-output-buffer-limit", "replica 1mb 0 0"),
    ]);
    let mut p = ember.connect();
    // A replica that never reads after the RDB.
    let (s, reply) = raw_replica(&ember, "PSYNC ? -1");
    assert!(reply.starts_with(b"+FULLRESYNC "));
    assert_eq!(
        info_field(&mut p, "replication", "connected_slaves").as_deref(),
        Some("1")
    );
    let big = "v".repeat(100_000);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    while info_field(&mut p, "replication", "connected_slaves").as_deref() != Some("0") {
        assert!(
            Instant::now() < deadline,
            "the lagging replica stayed attached"
        );
        for _ in 0..20 {
            ok(&mut p, &["SET", &format!("big{n}"), &big]);
            n += 1;
        }
    }
    assert!(
        ember
            .output()
            .contains("overcoming of output buffer limits"),
        "{}",
        ember.output()
    );
    drop(s);
}

#[test]
fn diskless_sync_waits_for_more_replicas_and_serves_them_together() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("repl-diskless-sync-delay", "3")]);
    let mut p = ember.connect();
    load_data_set(&mut p);
    let replicaof = format!("127.0.0.1 {}", ember.port());
    let a = ServerProcess::start_redis(&[("replicaof", replicaof.as_str())]);
    let b = ServerProcess::start_redis(&[("replicaof", replicaof.as_str())]);
    let (mut ra, mut rb) = (a.connect(), b.connect());
    wait_caught_up(&mut p, &mut ra, &a);
    wait_caught_up(&mut p, &mut rb, &b);
    let log = ember.output();
    assert!(log.contains("Delay next BGSAVE for diskless SYNC"), "{log}");
    assert_eq!(
        log.matches("Starting BGSAVE for SYNC with target: replicas sockets")
            .count(),
        1,
        "both replicas share one diskless sync: {log}"
    );
    live_writes(&mut p, 1);
    wait_caught_up(&mut p, &mut ra, &a);
    wait_caught_up(&mut p, &mut rb, &b);
    assert_same_keyspace(&mut p, &mut ra, "first diskless replica");
    assert_same_keyspace(&mut p, &mut rb, "second diskless replica");
    assert!(a
        .output()
        .contains("receiving streamed RDB from master with EOF"));
}
