//! The replica side of replication against the real programs on loopback:
//! an Ember replica of Debian's redis-server 7.0 (full sync of every type,
//! the live stream of scripts, transactions and expirations, a primary
//! restart answered with a partial resync), the replica's refusals and
//! INFO/ROLE beside a real Redis replica of the same primary, and the
//! expired-key rule (hidden on the replica until the primary's DEL).

mod common;
#[path = "common/dataset.rs"]
mod dataset;

#[path = "common/repl.rs"]
mod repl;

use common::{escape, is_error, RespConn, ServerProcess};
use dataset::{compare_primary_replica, compare_servers, every_type, keys_of, q, run_all, R};
use repl::{follow, info, ok, run, serial, wait_synced, wait_until};
use std::time::{Duration, Instant};

/// The Ember replica holds what a Redis replica of the same primary holds:
/// every key, value and TTL equal, absolute expiry times exactly so, and
/// the primary's keys. (Not the primary's every field: a Redis 7.0 replica
/// shows a consumer group's entries-read as nil where the primary counts,
/// because XREADGROUP propagates as XCLAIM ... LASTID.)
fn assert_same_data(
    primary: &mut RespConn,
    redis_replica: &mut RespConn,
    replica: &mut RespConn,
    what: &str,
) {
    compare_servers(redis_replica, replica, &[0, 1, 2, 9], what);
    for db in ["0", "1", "2", "9"] {
        q(primary, &[b"SELECT", db.as_bytes()]);
        q(replica, &[b"SELECT", db.as_bytes()]);
        assert_eq!(
            keys_of(primary),
            keys_of(replica),
            "{what}: keys of db {db}"
        );
    }
    q(primary, &[b"SELECT", b"0"]);
    let primary = redis_replica;
    for db in ["0", "1", "2", "9"] {
        q(primary, &[b"SELECT", db.as_bytes()]);
        q(replica, &[b"SELECT", db.as_bytes()]);
        for k in keys_of(primary) {
            let a = q(primary, &[b"PEXPIRETIME", &k]);
            let b = q(replica, &[b"PEXPIRETIME", &k]);
            assert_eq!(a, b, "{what}: PEXPIRETIME of {} in db {db}", escape(&k));
        }
    }
    q(primary, &[b"SELECT", b"0"]);
    q(replica, &[b"SELECT", b"0"]);
}

const LIBRARY: &str = "#!lua name=replib\n\
    redis.register_function('bump', function(keys, args) \
      redis.call('INCRBY', keys[1], args[1]) \
      return redis.call('SET', keys[2], 'by-function', 'PX', 600000) end)";

/// Writes of every kind a primary propagates: rewritten TTLs, scripts and
/// functions (their effects), MULTI/EXEC, pops, stream groups, expiry.
fn live_writes(c: &mut RespConn, round: usize) {
    let r = round.to_string();
    ok(c, &["SET", &format!("live:ex:{r}"), "v", "EX", "1000"]);
    ok(c, &["SET", "live:counter", "10"]);
    ok(c, &["INCRBYFLOAT", "live:float", "1.5"]);
    ok(c, &["RPUSH", "live:list", "a", "b", "c", &r]);
    ok(c, &["LPOP", "live:list"]);
    ok(c, &["SADD", "live:set", "x", "y", "z", &r]);
    ok(c, &["SPOP", "live:set"]);
    ok(c, &["HSET", "live:hash", "f", &r, "g", "2"]);
    ok(c, &["HINCRBY", "live:hash", "g", "5"]);
    ok(c, &["ZADD", "live:z", "1", "a", "2", "b", "3", &r]);
    ok(c, &["ZPOPMIN", "live:z"]);
    ok(c, &["EXPIRE", "live:hash", "5000"]);
    ok(c, &["PEXPIRE", "live:list", "700000"]);
    ok(
        c,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]); redis.call('INCR', KEYS[2]); return redis.call('GET', KEYS[1])",
            "2",
            &format!("live:script:{r}"),
            "live:counter",
            "scripted",
        ],
    );
    ok(
        c,
        &[
            "FCALL",
            "bump",
            "2",
            "live:counter",
            &format!("live:fn:{r}"),
            "3",
        ],
    );
    ok(c, &["MULTI"]);
    ok(c, &["SET", &format!("live:tx:{r}"), "1"]);
    ok(c, &["INCR", &format!("live:tx:{r}")]);
    ok(c, &["SELECT", "2"]);
    ok(c, &["LPUSH", "live:tx:list", "q"]);
    ok(c, &["SELECT", "0"]);
    let exec = run(c, &["EXEC"]);
    assert!(exec.starts_with(b"*5"), "EXEC -> {}", escape(&exec));
    ok(c, &["SELECT", "9"]);
    ok(c, &["SET", "other-db", &r]);
    ok(c, &["SWAPDB", "9", "1"]);
    ok(c, &["SELECT", "0"]);
    ok(c, &["XADD", "live:stream", "*", "f", &r]);
    if round == 0 {
        ok(c, &["XGROUP", "CREATE", "live:stream", "lg", "0"]);
    }
    ok(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "lg",
            "c1",
            "COUNT",
            "1",
            "STREAMS",
            "live:stream",
            ">",
        ],
    );
    ok(c, &["SET", &format!("live:short:{r}"), "gone", "PX", "50"]);
    ok(
        c,
        &[
            "RENAME",
            &format!("live:ex:{r}"),
            &format!("live:renamed:{r}"),
        ],
    );
    ok(c, &["DEL", "s:short"]);
    ok(c, &["PUBLISH", "chan", "not a write"]);
    // A big value and a pipeline of many small writes.
    ok(c, &["SET", &format!("live:big:{r}"), &"z".repeat(200_000)]);
    for i in 0..200 {
        c.send(&["SET", &format!("live:many:{i}"), &format!("{r}-{i}")])
            .expect("send");
    }
    for _ in 0..200 {
        let reply = c.read_reply().expect("reply");
        assert_eq!(reply, b"+OK\r\n");
    }
    // Past the short TTL above: every server hides that key from now on,
    // whenever the primary's DEL reaches it.
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn ember_replica_of_redis_full_sync_live_stream_and_partial_resync_after_restart() {
    let _g = serial();
    let mut primary = ServerProcess::start_redis(&[
        ("repl-diskless-sync-delay", "0"),
        ("enable-debug-command", "yes"),
    ]);
    let mut p = primary.connect();
    run_all(&mut p, &every_type());
    ok(&mut p, &["FUNCTION", "LOAD", LIBRARY]);
    ok(&mut p, &["SELECT", "9"]);
    ok(&mut p, &["SET", "db9-key", "nine"]);
    ok(&mut p, &["SELECT", "0"]);

    let replica = ServerProcess::start_ember(&[]);
    let mut r = replica.connect();
    let port = primary.port().to_string();
    let redis_replica = ServerProcess::start_redis(&[("replicaof", &format!("127.0.0.1 {port}"))]);
    let mut rr = redis_replica.connect();
    assert_eq!(run(&mut r, &["REPLICAOF", "127.0.0.1", &port]), b"+OK\r\n");
    assert_eq!(
        run(&mut r, &["REPLICAOF", "127.0.0.1", &port]),
        b"+OK Already connected to specified master\r\n"
    );
    wait_synced(&mut p, &mut r, "full sync");
    wait_synced(&mut p, &mut rr, "redis replica's full sync");
    assert_same_data(&mut p, &mut rr, &mut r, "after the full sync");
    let libs = run(&mut r, &["FUNCTION", "LIST"]);
    assert!(
        String::from_utf8_lossy(&libs).contains("replib"),
        "the primary's library was not loaded: {}",
        escape(&libs)
    );
    let pinfo = info(&mut p, "stats");
    assert_eq!(pinfo["sync_full"], "2", "{pinfo:?}");

    // The live stream.
    for round in 0..3 {
        live_writes(&mut p, round);
    }
    wait_synced(&mut p, &mut r, "live stream");
    wait_synced(&mut p, &mut rr, "redis replica's live stream");
    assert_same_data(&mut p, &mut rr, &mut r, "after the live stream");
    // Keys that expired on the primary are gone here too (its DELs).
    wait_until("short-lived keys gone", Duration::from_secs(5), || {
        q(&mut r, &[b"EXISTS", b"live:short:0"]) == R::Int(0)
    });

    // A read-only replica refuses writes, as Redis words it.
    assert_eq!(
        run(&mut r, &["SET", "k", "v"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    ok(&mut r, &["MULTI"]);
    assert_eq!(
        run(&mut r, &["SET", "k", "v"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(
        run(&mut r, &["EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert!(!is_error(&run(&mut r, &["GET", "s:int"])));

    // INFO and ROLE of a replica.
    let ri = info(&mut r, "replication");
    assert_eq!(ri["role"], "slave");
    assert_eq!(ri["master_host"], "127.0.0.1");
    assert_eq!(ri["master_port"], port);
    assert_eq!(ri["master_link_status"], "up");
    assert_eq!(ri["master_sync_in_progress"], "0");
    assert_eq!(ri["slave_read_only"], "1");
    assert_eq!(ri["slave_priority"], "100");
    assert_eq!(
        ri["master_replid"],
        info(&mut p, "replication")["master_replid"]
    );
    // The primary sees us as its replica, with our listening port.
    let pi = info(&mut p, "replication");
    assert_eq!(pi["connected_slaves"], "2");
    let ours = format!("port={},state=online", replica.port());
    assert!(
        pi["slave0"].contains(&ours) || pi["slave1"].contains(&ours),
        "{pi:?}"
    );

    // The primary restarts (its replication ID kept in its RDB): a partial
    // resync, the new ID adopted with the old one as ID2 (psync2).
    let old_id = info(&mut p, "replication")["master_replid"].clone();
    let _ = p.command(&["SHUTDOWN", "SAVE"]);
    drop(p);
    wait_until("the link seen down", Duration::from_secs(10), || {
        info(&mut r, "replication")["master_link_status"] == "down"
    });
    let down = info(&mut r, "replication");
    assert!(
        down.contains_key("master_link_down_since_seconds"),
        "{down:?}"
    );
    assert!(
        !is_error(&run(&mut r, &["GET", "s:int"])),
        "stale data is served by default"
    );
    ok(&mut r, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    assert_eq!(
        run(&mut r, &["GET", "s:int"]),
        b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"
    );
    assert!(!is_error(&run(&mut r, &["INFO", "replication"])));
    ok(
        &mut r,
        &["CONFIG", "SET", "replica-serve-stale-data", "yes"],
    );
    primary.restart_in_place(Duration::from_secs(10));
    let mut p = primary.connect();
    wait_synced(&mut p, &mut r, "after the primary's restart");
    wait_synced(
        &mut p,
        &mut rr,
        "the redis replica after the primary's restart",
    );
    let stats = info(&mut p, "stats");
    assert_eq!(stats["sync_partial_ok"], "2", "{stats:?}");
    assert_eq!(stats["sync_full"], "0", "{stats:?}");
    let ri = info(&mut r, "replication");
    let pi = info(&mut p, "replication");
    assert_eq!(ri["master_replid"], pi["master_replid"]);
    assert_eq!(ri["master_replid2"], old_id);
    assert_eq!(ri["master_replid2"], pi["master_replid2"]);
    live_writes(&mut p, 7);
    wait_synced(&mut p, &mut r, "stream after the partial resync");
    wait_synced(&mut p, &mut rr, "redis replica after the partial resync");
    assert_same_data(&mut p, &mut rr, &mut r, "after the partial resync");
    let role = q(&mut r, &[b"ROLE"]);
    let R::Arr(role) = role else {
        panic!("ROLE {role:?}")
    };
    assert_eq!(role[0], R::Str(b"slave".to_vec()));
    assert_eq!(role[2], R::Int(primary.port() as i64));
    assert_eq!(role[3], R::Str(b"connected".to_vec()));
}

/// Expired keys on a replica: hidden from its clients, still counted and
/// kept until the primary's DEL arrives; compared with a Redis replica.
#[test]
fn expired_keys_are_hidden_on_the_replica_until_the_primary_deletes_them() {
    let _g = serial();
    let primary = ServerProcess::start_redis(&[("enable-debug-command", "yes")]);
    let mut p = primary.connect();
    ok(&mut p, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let port = primary.port().to_string();
    let ember = ServerProcess::start_ember(&[("replicaof", &format!("127.0.0.1 {port}"))]);
    let redis = ServerProcess::start_redis(&[("replicaof", &format!("127.0.0.1 {port}"))]);
    let mut e = ember.connect();
    let mut rr = redis.connect();
    ok(&mut p, &["SET", "k", "v", "PX", "200"]);
    ok(&mut p, &["SET", "keep", "v"]);
    wait_synced(&mut p, &mut e, "ember");
    wait_synced(&mut p, &mut rr, "redis");
    std::thread::sleep(Duration::from_millis(300));
    for (name, c) in [("ember", &mut e), ("redis", &mut rr)] {
        assert_eq!(run(c, &["GET", "k"]), b"$-1\r\n", "{name}");
        assert_eq!(run(c, &["EXISTS", "k"]), b":0\r\n", "{name}");
        assert_eq!(run(c, &["DBSIZE"]), b":2\r\n", "{name}: not deleted");
    }
    // The primary's lazy expiry sends the DEL.
    assert_eq!(run(&mut p, &["GET", "k"]), b"$-1\r\n");
    wait_synced(&mut p, &mut e, "ember after the DEL");
    wait_synced(&mut p, &mut rr, "redis after the DEL");
    for (name, c) in [("ember", &mut e), ("redis", &mut rr)] {
        assert_eq!(
            run(c, &["DBSIZE"]),
            b":1\r\n",
            "{name}: deleted by the primary"
        );
    }
    // The same refusals, replies and CONFIG view on both replicas.
    for args in [
        vec!["SET", "x", "y"],
        vec!["REPLICAOF", "127.0.0.1", "70000"],
        vec!["REPLICAOF", "127.0.0.1", "x"],
        vec!["SLAVEOF", "a"],
        vec!["CONFIG", "GET", "replicaof"],
        vec!["CONFIG", "GET", "replica-read-only"],
        vec!["CONFIG", "SET", "replicaof", "no one"],
        vec!["EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", "x"],
        vec!["EVAL", "return redis.pcall('SET', KEYS[1], 'v')", "1", "x"],
        vec!["EVAL", "return redis.call('GET', KEYS[1])", "1", "keep"],
        vec!["MULTI"],
        vec!["GET", "keep"],
        vec!["EXEC"],
        vec!["MULTI"],
        vec!["INCR", "x"],
        vec!["EXEC"],
        // A writable replica takes its clients' writes.
        vec!["CONFIG", "SET", "replica-read-only", "no"],
        vec!["SET", "x", "local"],
        vec!["GET", "x"],
        vec!["CONFIG", "SET", "replica-read-only", "yes"],
        vec!["SET", "x", "refused again"],
    ] {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "PORT" { port.as_str() } else { a })
            .collect();
        assert_eq!(
            escape(&run(&mut e, &args)),
            escape(&run(&mut rr, &args)),
            "{args:?}"
        );
    }
    // Promotion keeps the data and the history (ID2 = the old ID).
    let id = info(&mut e, "replication")["master_replid"].clone();
    assert_eq!(run(&mut e, &["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    let ei = info(&mut e, "replication");
    assert_eq!(ei["role"], "master");
    assert_eq!(ei["master_replid2"], id);
    assert_ne!(ei["master_replid"], id);
    assert_eq!(run(&mut e, &["GET", "keep"]), b"$1\r\nv\r\n");
    ok(&mut e, &["SET", "now-writable", "1"]);
    assert_eq!(
        run(&mut e, &["CONFIG", "GET", "replicaof"]),
        b"*2\r\n$9\r\nreplicaof\r\n$0\r\n\r\n"
    );
}

/// [`compare_servers`] over the databases the data sets use, leaving both
/// connections in database 0.
fn compare(a: &mut RespConn, b: &mut RespConn, what: &str) {
    compare_servers(a, b, &[0, 1, 2, 3, 9], what);
    ok(a, &["SELECT", "0"]);
    ok(b, &["SELECT", "0"]);
}

/// [`compare_primary_replica`] over the same databases as [`compare`].
fn compare_pr(primary: &mut RespConn, replica: &mut RespConn, what: &str) {
    compare_primary_replica(primary, replica, &[0, 1, 2, 3, 9], what);
    ok(primary, &["SELECT", "0"]);
    ok(replica, &["SELECT", "0"]);
}

/// Chains of mixed nodes, Ember replicating Ember, and psync2 after a
/// promotion: a sibling and the old primary continue from the promoted
/// Ember node without a full sync.
#[test]
fn chains_of_ember_and_redis_and_psync2_after_promotion() {
    let _g = serial();
    let fast = [("repl-diskless-sync-delay", "0")];
    // Redis -> Ember -> Redis, and Ember -> Ember beside it.
    let top = ServerProcess::start_redis(&fast);
    let mid = ServerProcess::start_ember(&fast);
    let leaf = ServerProcess::start_redis(&fast);
    let side = ServerProcess::start_ember(&fast);
    let (mut t, mut m, mut l, mut s) =
        (top.connect(), mid.connect(), leaf.connect(), side.connect());
    run_all(&mut t, &every_type());
    ok(&mut t, &["FUNCTION", "LOAD", LIBRARY]);
    follow(&mut m, &top, &mut t);
    follow(&mut l, &mid, &mut t);
    follow(&mut s, &mid, &mut t);
    for round in 0..2 {
        live_writes(&mut t, round);
    }
    wait_synced(&mut t, &mut m, "mid");
    wait_synced(&mut t, &mut l, "leaf");
    wait_synced(&mut t, &mut s, "side");
    // Offsets agree along the chain (the stream is proxied unchanged).
    let offset = info(&mut t, "replication")["master_repl_offset"].clone();
    for (name, c) in [("mid", &mut m), ("leaf", &mut l), ("side", &mut s)] {
        assert_eq!(
            info(c, "replication")["master_repl_offset"],
            offset,
            "{name}"
        );
    }
    compare(&mut l, &mut m, "redis leaf vs ember mid");
    compare(&mut l, &mut s, "redis leaf vs ember side");

    // Promote the Ember mid: its history goes on under a new ID.
    let old_id = info(&mut t, "replication")["master_replid"].clone();
    assert_eq!(run(&mut m, &["REPLICAOF", "NO", "ONE"]), b"+OK\r\n");
    let mi = info(&mut m, "replication");
    assert_eq!(mi["role"], "master");
    assert_eq!(mi["master_replid2"], old_id);
    // Its replicas (they were disconnected to learn the new ID) and the
    // old primary follow it with partial resyncs.
    follow(&mut t, &mid, &mut m);
    wait_synced(&mut m, &mut l, "leaf after the promotion");
    wait_synced(&mut m, &mut s, "side after the promotion");
    // Each says so in its log (Redis and Ember log the same line).
    for (name, node) in [("old primary", &top), ("leaf", &leaf), ("side", &side)] {
        let log = node.output();
        assert_eq!(
            log.matches("Successful partial resynchronization with master")
                .count(),
            1,
            "{name}: {log}"
        );
    }
    live_writes(&mut m, 5);
    wait_synced(&mut m, &mut t, "old primary");
    wait_synced(&mut m, &mut l, "leaf");
    wait_synced(&mut m, &mut s, "side");
    compare(&mut l, &mut s, "redis leaf vs ember side");
    compare_pr(&mut m, &mut l, "promoted ember vs redis leaf");
    compare_pr(&mut m, &mut t, "promoted ember vs old redis primary");

    // Ember -> Redis -> Ember: the Redis node in the middle.
    let top2 = ServerProcess::start_ember(&fast);
    let mid2 = ServerProcess::start_redis(&fast);
    let leaf2 = ServerProcess::start_ember(&fast);
    let (mut t2, mut m2, mut l2) = (top2.connect(), mid2.connect(), leaf2.connect());
    run_all(&mut t2, &every_type());
    ok(&mut t2, &["FUNCTION", "LOAD", LIBRARY]);
    follow(&mut m2, &top2, &mut t2);
    follow(&mut l2, &mid2, &mut t2);
    live_writes(&mut t2, 0);
    wait_synced(&mut t2, &mut m2, "redis mid");
    wait_synced(&mut t2, &mut l2, "ember leaf");
    compare(&mut m2, &mut l2, "redis mid vs ember leaf");
    compare_pr(&mut t2, &mut m2, "ember top vs redis mid");
}

/// Reads one command the replica sent to us (playing its primary).
fn expect_command(c: &mut RespConn, want: &[&str]) {
    let got = c.read_command().expect("a command from the replica");
    assert_eq!(
        escape(&got),
        escape(&common::encode_command(want)),
        "the replica's command"
    );
}

/// The replica's handshake, byte for byte, as a Redis 7.0 replica sends it
/// with these directives; `psync` is what PSYNC must carry.
fn expect_handshake(c: &mut RespConn, ember_port: u16, psync: (&str, &str)) {
    expect_command(c, &["PING"]);
    c.send_raw(b"+PONG\r\n").expect("send");
    let port = ember_port.to_string();
    expect_command(c, &["AUTH", "repluser", "s3cret"]);
    expect_command(c, &["REPLCONF", "listening-port", &port]);
    expect_command(c, &["REPLCONF", "ip-address", "10.1.2.3"]);
    expect_command(c, &["REPLCONF", "capa", "eof", "capa", "psync2"]);
    c.send_raw(b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n").expect("send");
    let (id, off) = psync;
    expect_command(c, &["PSYNC", id, off]);
}

/// A primary played by the test on a plain socket: the exact handshake,
/// the diskless RDB form with its EOF mark, GETACK answered with the
/// offset of what was applied, ACKs, then silence: after `repl-timeout`
/// the replica drops the link and comes back with PSYNC id offset+1.
#[test]
fn scripted_primary_sees_the_exact_handshake_acks_and_timeout_reconnect() {
    let _g = serial();
    // A real RDB file to send: redis-server's own.
    let source = ServerProcess::start_redis(&[]);
    let mut sc = source.connect();
    ok(&mut sc, &["SET", "from-rdb", "yes"]);
    ok(&mut sc, &["RPUSH", "list", "a", "b"]);
    ok(&mut sc, &["SAVE"]);
    let rdb = std::fs::read(source.dir().join("dump.rdb")).expect("dump.rdb");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let ember = ServerProcess::start_ember(&[
        ("replicaof", &format!("127.0.0.1 {port}")),
        ("masteruser", "repluser"),
        ("masterauth", "s3cret"),
        ("replica-announce-ip", "10.1.2.3"),
        ("repl-timeout", "2"),
        ("repl-diskless-load", "on-empty-db"),
    ]);
    let (sock, _) = listener.accept().expect("the replica connects");
    let mut m = RespConn::from_stream(sock).expect("conn");
    expect_handshake(&mut m, ember.port(), ("?", "-1"));
    let id = "a".repeat(40);
    let mark = "0123456789".repeat(4);
    let mut payload = format!("+FULLRESYNC {id} 1000\r\n\n\n$EOF:{mark}\r\n").into_bytes();
    let half = rdb.len() / 2;
    payload.extend_from_slice(&rdb[..half]);
    m.send_raw(&payload).expect("send");
    // Loading from the socket (the keyspace was empty): half a file in,
    // clients are told so, and INFO shows the transfer.
    let mut e = ember.connect();
    wait_until("loading", Duration::from_secs(5), || {
        run(&mut e, &["GET", "from-rdb"]) == b"-LOADING Redis is loading the dataset in memory\r\n"
    });
    let i = info(&mut e, "replication");
    assert_eq!(i["master_sync_in_progress"], "1", "{i:?}");
    assert_eq!(i["master_sync_total_bytes"], "-1", "{i:?}");
    assert_eq!(i["master_link_status"], "down", "{i:?}");
    let mut rest = rdb[half..].to_vec();
    rest.extend_from_slice(mark.as_bytes());
    m.send_raw(&rest).expect("send");
    // Loaded, it acknowledges the RDB's offset.
    expect_command(&mut m, &["REPLCONF", "ACK", "1000"]);
    wait_until("the link up", Duration::from_secs(5), || {
        info(&mut e, "replication")["master_link_status"] == "up"
    });
    assert_eq!(run(&mut e, &["GET", "from-rdb"]), b"$3\r\nyes\r\n");
    // Stream: PING and a write, then GETACK: the ACK counts the bytes
    // applied before the GETACK.
    let ping = common::encode_command(&["PING"]);
    let select = common::encode_command(&["SELECT", "5"]);
    let set = common::encode_command(&["SET", "k", "v"]);
    let getack = common::encode_command(&["REPLCONF", "GETACK", "*"]);
    let mut stream = Vec::new();
    for part in [&ping, &select, &set, &getack] {
        stream.extend_from_slice(part);
    }
    m.send_raw(&stream).expect("send");
    let before_getack = 1000 + ping.len() + select.len() + set.len();
    // Periodic ACKs may come first; the GETACK's answer is exact.
    let want = (before_getack as i64).to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = m.read_command().expect("ACK");
        if got == common::encode_command(&["REPLCONF", "ACK", &want]) {
            break;
        }
        assert!(Instant::now() < deadline, "no ACK {want}: {}", escape(&got));
    }
    ok(&mut e, &["SELECT", "5"]);
    assert_eq!(run(&mut e, &["GET", "k"]), b"$1\r\nv\r\n");
    let total = before_getack + getack.len();
    wait_until("offset counted", Duration::from_secs(5), || {
        info(&mut e, "replication")["slave_repl_offset"] == total.to_string()
    });
    let role = q(&mut e, &[b"ROLE"]);
    assert_eq!(
        role,
        R::Arr(vec![
            R::Str(b"slave".to_vec()),
            R::Str(b"127.0.0.1".to_vec()),
            R::Int(port as i64),
            R::Str(b"connected".to_vec()),
            R::Int(total as i64),
        ])
    );
    // The master client shows in CLIENT LIST with flag M.
    let list = run(&mut e, &["CLIENT", "LIST", "TYPE", "master"]);
    assert!(
        String::from_utf8_lossy(&list).contains("flags=M"),
        "{}",
        escape(&list)
    );

    // Silence: after repl-timeout (2 s) the replica gives up on the link
    // and reconnects, asking to continue where it stopped.
    let started = Instant::now();
    let (sock, _) = listener.accept().expect("the replica reconnects");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "reconnected after {waited:?}"
    );
    let mut m2 = RespConn::from_stream(sock).expect("conn");
    expect_handshake(&mut m2, ember.port(), (&id, &(total + 1).to_string()));
    // The stream goes on in the database it was in: no SELECT repeats it.
    m2.send_raw(b"+CONTINUE\r\n").expect("send");
    m2.send_raw(&common::encode_command(&["SET", "after", "continue"]))
        .expect("send");
    wait_until(
        "the continued stream applied",
        Duration::from_secs(5),
        || run(&mut e, &["GET", "after"]) == b"$8\r\ncontinue\r\n",
    );
    drop(m);
}

/// `repl-diskless-load on-empty-db`: the RDB goes from the socket into the
/// empty keyspace; here in the `$<len>` form of a disk-based primary.
#[test]
fn diskless_load_on_empty_db_from_a_disk_based_primary() {
    let _g = serial();
    let primary = ServerProcess::start_redis(&[("repl-diskless-sync", "no")]);
    let mut p = primary.connect();
    run_all(&mut p, &every_type());
    let replica = ServerProcess::start_ember(&[
        ("repl-diskless-load", "on-empty-db"),
        ("replicaof", &format!("127.0.0.1 {}", primary.port())),
    ]);
    let mut r = replica.connect();
    wait_synced(&mut p, &mut r, "diskless load");
    compare(&mut p, &mut r, "after a diskless load");
    let log = replica.output();
    assert!(
        log.contains("bytes from master to socket"),
        "not loaded from the socket: {log}"
    );
    assert!(!replica.dir().join("dump.rdb").exists());
    // Not empty any more: the next full sync goes through the disk.
    ok(&mut p, &["SET", "more", "data"]);
    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    ok(&mut r, &["SET", "mine", "gone after the sync"]);
    assert_eq!(
        run(
            &mut r,
            &["REPLICAOF", "127.0.0.1", &primary.port().to_string()]
        ),
        b"+OK\r\n"
    );
    wait_synced(&mut p, &mut r, "disk load");
    compare(&mut p, &mut r, "after a disk load");
    assert!(replica.dir().join("dump.rdb").exists());
}

/// An Ember replica restarted (SHUTDOWN saves its RDB with repl-id,
/// repl-offset and repl-stream-db) continues with a partial resync, with
/// an Ember primary and with a redis-server primary, in the database the
/// stream was in; an Ember primary restarted from its RDB keeps its history
/// as ID2, so its replica (a redis-server) continues partially too.
#[test]
fn restarted_replicas_and_primaries_continue_with_a_partial_resync() {
    let _g = serial();
    for kind in [common::ServerKind::Ember, common::ServerKind::Redis] {
        let primary = ServerProcess::start(kind, &[("repl-diskless-sync-delay", "0")]);
        let mut p = primary.connect();
        run_all(&mut p, &every_type());
        ok(&mut p, &["FUNCTION", "LOAD", LIBRARY]);
        let at = format!("127.0.0.1 {}", primary.port());
        let mut replica = ServerProcess::start_ember(&[("replicaof", &at)]);
        let mut r = replica.connect();
        wait_synced(&mut p, &mut r, "first sync");
        // The stream is left in db 3: the writes after the restart come
        // without a SELECT, and must land in db 3.
        ok(&mut p, &["SELECT", "3"]);
        ok(&mut p, &["SET", "in3", "before"]);
        wait_synced(&mut p, &mut r, "before the restart");
        let saved = info(&mut r, "replication")["slave_repl_offset"].clone();
        let _ = r.command(&["SHUTDOWN", "SAVE"]);
        ok(&mut p, &["SET", "in3", "while down"]);
        ok(&mut p, &["INCR", "in3:counter"]);
        ok(&mut p, &["SELECT", "0"]);
        live_writes(&mut p, 0);
        replica.restart_in_place(Duration::from_secs(10));
        let mut r = replica.connect();
        wait_synced(&mut p, &mut r, "after the restart");
        let what = format!("ember replica of {kind:?} after its restart");
        let stats = info(&mut p, "stats");
        assert_eq!(stats["sync_full"], "1", "{what}: {}", replica.output());
        assert_eq!(stats["sync_partial_ok"], "1", "{what}");
        let log = replica.output();
        let asked = format!(
            "request {}:{}",
            info(&mut p, "replication")["master_replid"],
            saved.parse::<i64>().unwrap() + 1
        );
        assert!(log.contains(&asked), "{what}: no '{asked}' in {log}");
        assert!(
            log.contains("Successful partial resynchronization with master"),
            "{what}: {log}"
        );
        ok(&mut r, &["SELECT", "3"]);
        assert_eq!(
            run(&mut r, &["GET", "in3"]),
            b"$10\r\nwhile down\r\n",
            "{what}"
        );
        assert_eq!(
            run(&mut r, &["GET", "in3:counter"]),
            b"$1\r\n1\r\n",
            "{what}"
        );
        ok(&mut r, &["SELECT", "0"]);
        compare_pr(&mut p, &mut r, &what);
    }

    // An Ember primary restarted from its RDB: the redis-server replica
    // continues partially (the old ID is the primary's ID2 now).
    let mut primary = ServerProcess::start_ember(&[("repl-diskless-sync-delay", "0")]);
    let mut p = primary.connect();
    run_all(&mut p, &every_type());
    ok(&mut p, &["FUNCTION", "LOAD", LIBRARY]);
    let redis = ServerProcess::start_redis(&[]);
    let mut r = redis.connect();
    follow(&mut r, &primary, &mut p);
    live_writes(&mut p, 0);
    wait_synced(&mut p, &mut r, "before the primary's restart");
    let old = info(&mut p, "replication");
    let _ = p.command(&["SHUTDOWN", "SAVE"]);
    primary.restart_in_place(Duration::from_secs(10));
    let mut p = primary.connect();
    let now = info(&mut p, "replication");
    assert_eq!(now["master_replid2"], old["master_replid"], "{now:?}");
    // The saved offset (a PING or the shutdown's GETACK may follow the
    // INFO above) is where the old history ends and the offsets go on.
    let saved: i64 = now["master_repl_offset"].parse().unwrap();
    assert!(saved >= old["master_repl_offset"].parse::<i64>().unwrap());
    assert_eq!(now["second_repl_offset"], (saved + 1).to_string());
    wait_synced(&mut p, &mut r, "after the primary's restart");
    let stats = info(&mut p, "stats");
    assert_eq!(stats["sync_full"], "0", "{}", redis.output());
    assert_eq!(stats["sync_partial_ok"], "1");
    // (Not live_writes again: its INCRBYFLOAT would reach 3, an embstr on
    // a primary and an int on a replica that got it as SET, Redis's too.)
    ok(&mut p, &["SET", "after-restart", "1"]);
    ok(&mut p, &["RPUSH", "live:list", "after-restart"]);
    wait_synced(&mut p, &mut r, "writes after the primary's restart");
    compare_pr(
        &mut p,
        &mut r,
        "redis replica after the ember primary's restart",
    );
}

/// `replica-ignore-maxmemory`: a replica over its maxmemory keeps what its
/// primary sends (yes, the default) or evicts on its own (no), as a Redis
/// replica of the same primary does.
#[test]
fn replica_ignore_maxmemory_as_redis() {
    let _g = serial();
    let primary = ServerProcess::start_ember(&[("repl-diskless-sync-delay", "0")]);
    let mut p = primary.connect();
    let small = [("maxmemory", "3mb"), ("maxmemory-policy", "allkeys-random")];
    let ember = ServerProcess::start_ember(&small);
    let redis = ServerProcess::start_redis(&small);
    let (mut e, mut r) = (ember.connect(), redis.connect());
    follow(&mut e, &primary, &mut p);
    follow(&mut r, &primary, &mut p);
    let value = "v".repeat(1000);
    for batch in 0..50 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..100 {
            args.push(format!("k:{batch}:{i}"));
            args.push(value.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&mut p, &args);
    }
    wait_synced(&mut p, &mut e, "ember replica");
    wait_synced(&mut p, &mut r, "redis replica");
    for (name, c) in [("ember", &mut e), ("redis", &mut r)] {
        assert_eq!(run(c, &["DBSIZE"]), b":5000\r\n", "{name} keeps everything");
        assert_eq!(info(c, "stats")["evicted_keys"], "0", "{name}");
        ok(c, &["CONFIG", "SET", "replica-ignore-maxmemory", "no"]);
    }
    ok(&mut p, &["SET", "one-more", "x"]);
    wait_synced(&mut p, &mut e, "ember replica");
    wait_synced(&mut p, &mut r, "redis replica");
    for (name, c) in [("ember", &mut e), ("redis", &mut r)] {
        let evicted: i64 = info(c, "stats")["evicted_keys"].parse().unwrap();
        assert!(evicted > 0, "{name} evicts on its own");
    }
}
