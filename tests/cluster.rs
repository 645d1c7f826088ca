//! Redis Cluster on loopback, against the real tools: the CLUSTER commands'
//! replies compared byte for byte with a single-node redis-server 7.0 in
//! cluster mode (node IDs and ports substituted), redirections and their
//! errors, then six Ember nodes formed into 3 primaries + 3 replicas by
//! `redis-cli --cluster create`, loaded by redis-py's RedisCluster, resharded
//! by `redis-cli --cluster reshard` under that client's load (no key lost,
//! no error reaching the client), a primary killed with SIGKILL (the time
//! until its replica serves its slots is printed) and `--cluster check`
//! clean after each step.
//!
//! `EMBER_CLUSTER_FULL=1` adds the longer runs: a mixed cluster of Ember and
//! redis-server nodes (replication both ways, failover both ways, resharding
//! both ways) and 100,000 keys through redis-py.

mod common;

use common::{encode_command, escape, RespConn, ServerProcess};
use std::process::Command;
use std::time::{Duration, Instant};

fn run(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args)
        .unwrap_or_else(|e| panic!("{}: {e}", escape(&encode_command(args))))
}

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// A bulk reply's payload as text.
fn bulk(reply: &[u8]) -> String {
    text(common::string_value(reply).unwrap_or_else(|| panic!("not a bulk: {}", escape(reply))))
}

/// A cluster node: `cluster-enabled yes` with its bus on a free port.
fn node(kind: common::ServerKind, timeout_ms: u32) -> ServerProcess {
    let bus = common::free_port().to_string();
    let timeout = timeout_ms.to_string();
    ServerProcess::start(
        kind,
        &[
            ("cluster-enabled", "yes"),
            ("cluster-port", &bus),
            ("cluster-node-timeout", &timeout),
        ],
    )
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn cluster_ok(s: &ServerProcess) -> bool {
    let mut c = s.connect();
    text(&run(&mut c, &["CLUSTER", "INFO"])).contains("cluster_state:ok")
}

/// Replaces a node's ID and ports in a reply so two servers' replies compare.
fn neutral(reply: &[u8], id: &str, port: u16, cport: &str) -> String {
    text(reply)
        .replace(id, "<ID>")
        .replace(&format!(":{port}@{cport}"), ":<PORT>@<CPORT>")
        .replace(&format!(":{port}\r\n"), ":<PORT>\r\n")
}

#[test]
fn cluster_commands_match_redis() {
    let _g = common::shared();
    let servers = [
        node(common::ServerKind::Redis, 5000),
        node(common::ServerKind::Ember, 5000),
    ];
    let mut transcripts: Vec<Vec<String>> = Vec::new();
    for s in &servers {
        let mut c = s.connect();
        let id = bulk(&run(&mut c, &["CLUSTER", "MYID"]));
        assert_eq!(id.len(), 40);
        let nodes_line = bulk(&run(&mut c, &["CLUSTER", "NODES"]));
        let cport = nodes_line
            .split_whitespace()
            .nth(1)
            .and_then(|a| a.split('@').nth(1))
            .map(|p| p.split(',').next().unwrap_or(p).to_string())
            .expect("a bus port in CLUSTER NODES");
        let unknown = "0123456789012345678901234567890123456789";
        let script: Vec<Vec<&str>> = vec![
            vec!["CLUSTER", "KEYSLOT", "foo"],
            vec!["CLUSTER", "KEYSLOT", "{user1000}.following"],
            vec!["CLUSTER", "KEYSLOT", "foo{}{bar}"],
            vec!["CLUSTER", "COUNTKEYSINSLOT", "16384"],
            vec!["CLUSTER", "COUNTKEYSINSLOT", "abc"],
            vec!["CLUSTER", "GETKEYSINSLOT", "0", "-1"],
            vec!["CLUSTER", "GETKEYSINSLOT", "0", "x"],
            vec!["CLUSTER", "ADDSLOTS", "16384"],
            vec!["CLUSTER", "ADDSLOTS", "abc"],
            vec!["CLUSTER", "ADDSLOTS", "7", "7"],
            vec!["CLUSTER", "ADDSLOTSRANGE", "5", "3"],
            vec!["CLUSTER", "ADDSLOTSRANGE", "0"],
            vec!["CLUSTER", "ADDSLOTSRANGE", "0", "1", "2"],
            vec!["CLUSTER", "GET", "foo"],
            vec!["GET", "foo"],
            vec!["CLUSTER", "ADDSLOTSRANGE", "0", "8191"],
            vec!["CLUSTER", "ADDSLOTS", "100"],
            vec!["CLUSTER", "DELSLOTS", "9000"],
            vec!["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"],
            vec!["CLUSTER", "DELSLOTSRANGE", "16000", "16383"],
            vec!["CLUSTER", "ADDSLOTSRANGE", "16000", "16383"],
            vec!["CLUSTER", "SETSLOT", "100", "MIGRATING", unknown],
            vec!["CLUSTER", "SETSLOT", "100", "IMPORTING", unknown],
            vec!["CLUSTER", "SETSLOT", "100", "NODE", unknown],
            vec!["CLUSTER", "SETSLOT", "100", "FOO"],
            vec!["CLUSTER", "SETSLOT", "99999", "STABLE"],
            vec!["CLUSTER", "SETSLOT", "100", "STABLE"],
            vec!["CLUSTER", "SETSLOT", "100", "IMPORTING", &id],
            vec!["CLUSTER", "SETSLOT", "100", "MIGRATING", &id],
            vec!["CLUSTER", "SETSLOT", "100", "STABLE"],
            vec!["CLUSTER", "MEET", "1.2.3", "7000"],
            vec!["CLUSTER", "MEET", "127.0.0.1", "abc"],
            vec!["CLUSTER", "MEET", "127.0.0.1", "7000", "x"],
            vec!["CLUSTER", "MEET", "127.0.0.1", "70000"],
            vec!["CLUSTER", "MEET", "a", "b", "c", "d"],
            vec!["CLUSTER", "FORGET", &id],
            vec!["CLUSTER", "FORGET", unknown],
            vec!["CLUSTER", "REPLICATE", &id],
            vec!["CLUSTER", "REPLICATE", unknown],
            vec!["CLUSTER", "REPLICAS", &id],
            vec!["CLUSTER", "FAILOVER"],
            vec!["CLUSTER", "FAILOVER", "FOO"],
            vec!["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
            vec!["CLUSTER", "SET-CONFIG-EPOCH", "5"],
            vec!["CLUSTER", "SET-CONFIG-EPOCH", "6"],
            vec!["CLUSTER", "BUMPEPOCH"],
            vec!["CLUSTER", "COUNT-FAILURE-REPORTS", &id],
            vec!["CLUSTER", "COUNT-FAILURE-REPORTS", unknown],
            vec!["CLUSTER", "RESET", "FOO"],
            vec!["CLUSTER", "LINKS"],
            vec!["CLUSTER", "HELP"],
            vec!["CLUSTER", "NOSUCH"],
            vec!["CLUSTER", "MYID"],
            vec!["SELECT", "1"],
            vec!["SELECT", "0"],
            vec!["SELECT", "x"],
            vec!["READONLY"],
            vec!["READWRITE"],
            vec!["ASKING"],
        ];
        let mut t = Vec::new();
        for args in &script {
            let r = neutral(&run(&mut c, args), &id, s.port(), &cport);
            t.push(format!("{args:?} -> {r}").replace(&id, "<ID>"));
        }
        // Redis keeps a fresh master "fail" for 2 s (its rejoin delay).
        wait_until("cluster_state:ok", Duration::from_secs(10), || {
            cluster_ok(s)
        });
        let script2: Vec<Vec<&str>> = vec![
            vec!["SET", "foo", "bar"],
            vec!["GET", "foo"],
            vec!["MOVE", "foo", "1"],
            vec!["SWAPDB", "0", "1"],
            vec!["COPY", "{t}a", "{t}b", "DB", "1"],
            vec!["COPY", "{t}a", "{t}b", "DB", "x"],
            vec!["MSET", "a", "1", "b", "2"],
            vec!["MSET", "{t}a", "1", "{t}b", "2"],
            vec!["MGET", "{t}a", "{t}b", "{t}a"],
            vec!["CLUSTER", "COUNTKEYSINSLOT", "12182"],
            vec!["CLUSTER", "GETKEYSINSLOT", "12182", "10"],
            vec!["EVAL", "return 1", "2", "a", "b"],
            vec!["EVAL", "return redis.call('get', KEYS[1])", "1", "foo"],
            vec!["MULTI"],
            vec!["SET", "a", "1"],
            vec!["SET", "b", "1"],
            vec!["EXEC"],
            vec!["MULTI"],
            vec!["MSET", "a", "1", "b", "2"],
            vec!["EXEC"],
            vec!["CLUSTER", "SETSLOT", "12182", "NODE", &id],
            vec!["CLUSTER", "DELSLOTS", "12182"],
            vec!["GET", "foo"],
            vec!["CLUSTER", "FLUSHSLOTS"],
            vec!["CLUSTER", "RESET"],
            vec!["CLUSTER", "ADDSLOTS", "12182"],
            vec!["CLUSTER", "INFO"],
            vec!["CLUSTER", "NODES"],
            vec!["CLUSTER", "SLOTS"],
            vec!["CLUSTER", "SHARDS"],
        ];
        for args in &script2 {
            let mut r = neutral(&run(&mut c, args), &id, s.port(), &cport);
            if args.len() == 2 && args[1] == "NODES" {
                // The pong time of myself is the only clock in the line.
                let mut f: Vec<&str> = r.split(' ').collect();
                if f.len() > 5 {
                    f[5] = "<PONG>";
                }
                r = f.join(" ");
            }
            t.push(format!("{args:?} -> {r}").replace(&id, "<ID>"));
        }
        transcripts.push(t);
    }
    let (redis, ember) = (&transcripts[0], &transcripts[1]);
    for (r, e) in redis.iter().zip(ember) {
        assert_eq!(e, r, "ember (left) differs from redis-server (right)");
    }
    assert_eq!(redis.len(), ember.len());
}

fn redis_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}"));
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), s)
}

fn addr(s: &ServerProcess) -> String {
    format!("127.0.0.1:{}", s.port())
}

fn create(nodes: &[ServerProcess]) {
    let mut args = vec!["--cluster".to_string(), "create".to_string()];
    args.extend(nodes.iter().map(addr));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (ok, out) = redis_cli(&args);
    assert!(
        ok && out.contains("[OK] All 16384 slots covered."),
        "create:\n{out}"
    );
}

fn check_clean(any: &ServerProcess) {
    let (ok, out) = redis_cli(&["--cluster", "check", &addr(any)]);
    assert!(ok, "check:\n{out}");
    assert!(
        out.contains("[OK] All nodes agree about slots configuration."),
        "check:\n{out}"
    );
    assert!(
        out.contains("[OK] All 16384 slots covered."),
        "check:\n{out}"
    );
    assert!(
        !out.contains("[ERR]") && !out.contains("[WARNING]"),
        "check:\n{out}"
    );
}

/// redis-py's RedisCluster: "write N", "read N" (prints the wrong count), or
/// "load SECONDS" (reads and writes until told, counting client errors).
fn py(port: u16, mode: &str, n: usize) -> std::process::Child {
    let code = r#"
import sys, time
from redis.cluster import RedisCluster
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rc = RedisCluster(host="127.0.0.1", port=port)
if mode == "write":
    p = rc.pipeline()
    for i in range(n):
        p.set(f"key:{i}", f"v{i}")
        if i % 1000 == 999: p.execute()
    p.execute()
    print("written", n)
elif mode == "read":
    p = rc.pipeline()
    for i in range(n): p.get(f"key:{i}")
    bad = sum(1 for i, v in enumerate(p.execute()) if v != f"v{i}".encode())
    print("wrong", bad)
else:
    errs, ops, t = 0, 0, time.time()
    while time.time() - t < n:
        try:
            i = ops % 5000
            if rc.get(f"key:{i}") != f"v{i}".encode(): errs += 1
            rc.set(f"load:{ops}", ops)
        except Exception as e:
            errs += 1
            print("error", e)
        ops += 1
    print("ops", ops, "errors", errs)
"#;
    Command::new("python3")
        .args(["-c", code, &port.to_string(), mode, &n.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3")
}

fn py_out(child: std::process::Child) -> String {
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "redis-py failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn myid(s: &ServerProcess) -> String {
    let mut c = s.connect();
    bulk(&run(&mut c, &["CLUSTER", "MYID"]))
}

/// Starts nodes one after the other: a debug build compiles its bundled
/// wasm modules at start, and several at once on two cores can pass the
/// start-up timeout.
fn start_nodes(kinds: &[common::ServerKind], timeout_ms: u32) -> Vec<ServerProcess> {
    kinds.iter().map(|&k| node(k, timeout_ms)).collect()
}

/// Reshards `slots` slots from one master to another under client load,
/// then checks no key is lost and the client saw no error.
fn reshard_under_load(
    nodes: &[ServerProcess],
    from: &ServerProcess,
    to: &ServerProcess,
    slots: usize,
    keys: usize,
) {
    let load = py(nodes[0].port(), "load", 4);
    let (ok, out) = redis_cli(&[
        "--cluster",
        "reshard",
        &addr(&nodes[0]),
        "--cluster-from",
        &myid(from),
        "--cluster-to",
        &myid(to),
        "--cluster-slots",
        &slots.to_string(),
        "--cluster-yes",
    ]);
    assert!(ok, "reshard:\n{out}");
    let load = py_out(load);
    assert!(
        load.contains(" errors 0"),
        "client errors during the reshard: {load}"
    );
    check_clean(&nodes[0]);
    let read = py_out(py(nodes[1].port(), "read", keys));
    assert!(read.contains("wrong 0"), "{read}");
}

/// Kills a master with SIGKILL; returns how long its replica took to serve.
fn kill_master(nodes: &mut [ServerProcess], master: usize) -> (usize, Duration) {
    let id = myid(&nodes[master]);
    let mut c = nodes[(master + 1) % nodes.len()].connect();
    let listing = bulk(&run(&mut c, &["CLUSTER", "NODES"]));
    let replica_port: u16 = listing
        .lines()
        .find(|l| l.contains(&format!("slave {id}")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|a| a.split('@').next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("the master has a replica");
    let replica = nodes
        .iter()
        .position(|n| n.port() == replica_port)
        .expect("replica");
    nodes[master].kill9();
    let took = wait_until("the replica to take over", Duration::from_secs(30), || {
        let mut c = nodes[replica].connect();
        let role = text(&run(&mut c, &["ROLE"]));
        role.contains("master") && cluster_ok(&nodes[replica])
    });
    (replica, took)
}

#[test]
fn six_ember_nodes_create_reshard_failover() {
    let _g = common::shared();
    let mut nodes = start_nodes(&[common::ServerKind::Ember; 6], 2000);
    create(&nodes);
    wait_until("all nodes ok", Duration::from_secs(20), || {
        nodes.iter().all(cluster_ok)
    });
    check_clean(&nodes[0]);
    let keys = 5000;
    assert!(py_out(py(nodes[0].port(), "write", keys)).contains("written"));
    // Redirections a plain client sees: MOVED with Redis's text.
    let mut c = nodes[0].connect();
    let owner_is_me = bulk(&run(&mut c, &["CLUSTER", "NODES"]))
        .lines()
        .any(|l| l.contains("myself") && l.contains("10923-16383"));
    let r = text(&run(&mut c, &["GET", "foo"]));
    if owner_is_me {
        assert_eq!(r, "$-1\r\n");
    } else {
        assert!(r.starts_with("-MOVED 12182 127.0.0.1:"), "{r}");
    }
    assert_eq!(
        text(&run(&mut c, &["MGET", "a", "b"])),
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    let (masters, _): (Vec<usize>, Vec<usize>) = (0..6).partition(|&i| {
        let mut c = nodes[i].connect();
        text(&run(&mut c, &["ROLE"])).contains("master")
    });
    assert_eq!(masters.len(), 3);
    reshard_under_load(&nodes, &nodes[masters[0]], &nodes[masters[1]], 200, keys);
    let (replica, took) = kill_master(&mut nodes, masters[2]);
    println!(
        "failover: replica on port {} served the slots {:.2} s after SIGKILL of its primary (cluster-node-timeout 2000)",
        nodes[replica].port(),
        took.as_secs_f64()
    );
    let alive = nodes
        .iter()
        .position(|n| n.port() != nodes[masters[2]].port())
        .expect("alive");
    let read = py_out(py(nodes[alive].port(), "read", keys));
    assert!(read.contains("wrong 0"), "{read}");
    // The check names the dead node; the slots and agreement must be clean.
    let (_, out) = redis_cli(&["--cluster", "check", &addr(&nodes[alive])]);
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    assert!(
        out.contains("[OK] All nodes agree about slots configuration."),
        "{out}"
    );
}

#[test]
fn nodes_conf_survives_restart() {
    let _g = common::shared();
    let mut n = node(common::ServerKind::Ember, 5000);
    let mut c = n.connect();
    let id = bulk(&run(&mut c, &["CLUSTER", "MYID"]));
    run(&mut c, &["CLUSTER", "ADDSLOTSRANGE", "0", "99"]);
    run(&mut c, &["CLUSTER", "SET-CONFIG-EPOCH", "7"]);
    let conf = std::fs::read_to_string(n.dir().join("nodes.conf")).expect("nodes.conf");
    assert!(conf.contains(&format!("{id} :{}@", n.port())), "{conf}");
    assert!(
        conf.contains(" myself,master - 0 0 7 connected 0-99\n"),
        "{conf}"
    );
    assert!(
        conf.ends_with("vars currentEpoch 7 lastVoteEpoch 0\n"),
        "{conf}"
    );
    assert!(!std::fs::read_dir(n.dir()).expect("dir").any(|e| e
        .map(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .unwrap_or(false)));
    drop(c);
    n.kill9();
    n.restart_in_place(Duration::from_secs(5));
    let mut c = n.connect();
    assert_eq!(bulk(&run(&mut c, &["CLUSTER", "MYID"])), id);
    let info = text(&run(&mut c, &["CLUSTER", "INFO"]));
    assert!(info.contains("cluster_slots_assigned:100\r\n"), "{info}");
    assert!(info.contains("cluster_current_epoch:7\r\n"), "{info}");
    // A corrupt nodes.conf stops start-up, as in Redis.
    std::fs::write(n.dir().join("nodes.conf"), "garbage\n").expect("write");
    let bad = std::process::Command::new(common::ember_server_path())
        .args(["--port", "0", "--cluster-enabled", "yes", "--dir"])
        .arg(n.dir())
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("corrupted cluster config file"));
}

fn full() -> bool {
    std::env::var_os("EMBER_CLUSTER_FULL").is_some()
}

#[test]
fn mixed_cluster_with_redis_server() {
    if !full() {
        eprintln!("mixed_cluster_with_redis_server: set EMBER_CLUSTER_FULL=1 to run");
        return;
    }
    let _g = common::shared();
    use common::ServerKind::{Ember, Redis};
    // Masters: Redis, Ember, Redis; the cli pairs replicas so each kind
    // replicates the other.
    let mut nodes = start_nodes(&[Redis, Ember, Redis, Ember, Redis, Ember], 2000);
    create(&nodes);
    wait_until("all nodes ok", Duration::from_secs(20), || {
        nodes.iter().all(cluster_ok)
    });
    check_clean(&nodes[0]);
    let keys = 100_000;
    assert!(py_out(py(nodes[0].port(), "write", keys)).contains("written"));
    let read = py_out(py(nodes[1].port(), "read", keys));
    assert!(read.contains("wrong 0"), "{read}");
    reshard_under_load(&nodes, &nodes[1], &nodes[0], 300, keys);
    reshard_under_load(&nodes, &nodes[0], &nodes[1], 300, keys);
    for master in [1, 2] {
        let kind = nodes[master].kind();
        let (replica, took) = kill_master(&mut nodes, master);
        println!(
            "mixed failover: {} primary killed, {} replica served after {:.2} s",
            kind.name(),
            nodes[replica].kind().name(),
            took.as_secs_f64()
        );
        let read = py_out(py(nodes[0].port(), "read", keys));
        assert!(read.contains("wrong 0"), "{read}");
    }
}
