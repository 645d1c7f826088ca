//! Redis Sentinel failing Ember over: three sentinels (Debian's
//! redis-server 7.0 in sentinel mode, unchanged) watch an Ember primary
//! with two Ember replicas while redis-py's `redis.sentinel.Sentinel`
//! client writes; the primary is killed with SIGKILL; a replica must be
//! promoted, the other must follow it, the old primary must come back as a
//! replica, and the client must keep writing. The failover time and the
//! acknowledged writes lost are printed, with and without
//! `min-replicas-to-write 1`.
//!
//! CI runs the short scenario. `EMBER_SENTINEL_LONG=1` runs both settings
//! with a longer write load, three times each, for the numbers.

mod common;

use common::{escape, RespConn, ServerProcess};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn run(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// An INFO replication field, on a fresh connection: Sentinel closes
/// normal clients (CLIENT KILL TYPE normal) when it reconfigures a node.
fn info_field(s: &ServerProcess, field: &str) -> String {
    let Ok(mut c) = RespConn::connect(s.addr()) else {
        return String::new();
    };
    let Ok(r) = c.command(&["INFO", "replication"]) else {
        return String::new();
    };
    String::from_utf8_lossy(common::string_value(&r).unwrap_or_default())
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
    started.elapsed()
}

/// A `redis-server --sentinel` child with its own config file.
struct Sentinel {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sentinel {
    fn start(master_port: u16) -> Sentinel {
        let port = common::free_port();
        let dir = common::unique_temp_dir("sentinel");
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds mymaster 1000\n\
                 sentinel failover-timeout mymaster 10000\n\
                 sentinel parallel-syncs mymaster 1\n",
                dir.display()
            ),
        )
        .expect("sentinel.conf");
        let log = std::fs::File::create(dir.join("sentinel.log")).expect("log");
        let child = Command::new(common::redis_server_path())
            .arg(&conf)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("redis-server --sentinel");
        let s = Sentinel { child, port, dir };
        wait_until("a sentinel to answer", Duration::from_secs(10), || {
            RespConn::connect(s.addr())
                .and_then(|mut c| c.command(&["PING"]))
                .is_ok_and(|r| r == b"+PONG\r\n")
        });
        s
    }

    fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn conn(&self) -> RespConn {
        RespConn::connect(self.addr()).expect("sentinel connection")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default()
    }

    /// The port of the primary this sentinel names now.
    fn master_port(&self) -> Option<u16> {
        let r = self
            .conn()
            .command(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
            .ok()?;
        let (_, items) = common::split_aggregate(&r, common::Protocol::Resp2)?;
        let port = common::string_value(items.get(1)?)?;
        std::str::from_utf8(port).ok()?.parse().ok()
    }

    /// How many entries `SENTINEL <what> mymaster` lists.
    fn count(&self, what: &str) -> usize {
        self.conn()
            .command(&["SENTINEL", what, "mymaster"])
            .ok()
            .and_then(|r| {
                common::split_aggregate(&r, common::Protocol::Resp2).map(|(_, i)| i.len())
            })
            .unwrap_or(0)
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one failover measured.
#[derive(Debug)]
struct Outcome {
    /// From SIGKILL to the sentinels naming the new primary.
    failover: Duration,
    /// The longest time the client went without a successful write.
    client_gap_s: f64,
    acked: usize,
    lost: usize,
}

fn writer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sentinel/writer.py")
}

/// One failover under write load; `min_replicas`: every node runs with
/// `min-replicas-to-write 1`.
fn failover(min_replicas: bool, load: Duration) -> Outcome {
    let mut extra: Vec<(&str, &str)> = vec![("repl-diskless-sync-delay", "0")];
    if min_replicas {
        extra.extend([
            ("min-replicas-to-write", "1"),
            ("min-replicas-max-lag", "10"),
        ]);
    }
    let mut primary = ServerProcess::start_ember(&extra);
    let pport = primary.port();
    let follow = format!("127.0.0.1 {pport}");
    let mut rextra = extra.clone();
    rextra.push(("replicaof", &follow));
    let replicas = [
        ServerProcess::start_ember(&rextra),
        ServerProcess::start_ember(&rextra),
    ];
    wait_until("both replicas online", Duration::from_secs(20), || {
        info_field(&primary, "connected_slaves") == "2"
    });
    let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(pport)).collect();
    wait_until(
        "the sentinels to find the replicas and each other",
        Duration::from_secs(30),
        || {
            sentinels
                .iter()
                .all(|s| s.count("REPLICAS") == 2 && s.count("SENTINELS") == 2)
        },
    );
    let ports: Vec<String> = sentinels.iter().map(|s| s.port.to_string()).collect();
    let writer = Command::new("python3")
        .arg(writer_script())
        .arg(ports.join(","))
        .arg(format!("{}", load.as_secs_f64()))
        .arg("w")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with the redis package (pip install redis)");
    // Writes flow, then the primary dies.
    std::thread::sleep(load / 4);
    primary.kill9();
    let killed = Instant::now();
    let failover = wait_until("a new primary", Duration::from_secs(30), || {
        sentinels[0].master_port().is_some_and(|port| port != pport)
    });
    let new_port = sentinels[0].master_port().expect("new primary");
    let (promoted, other) = if replicas[0].port() == new_port {
        (&replicas[0], &replicas[1])
    } else {
        (&replicas[1], &replicas[0])
    };
    wait_until(
        "the promoted replica to be a primary",
        Duration::from_secs(10),
        || info_field(promoted, "role") == "master",
    );
    wait_until(
        "the other replica to follow",
        Duration::from_secs(30),
        || {
            info_field(other, "master_port") == new_port.to_string()
                && info_field(other, "master_link_status") == "up"
        },
    );
    // The old primary comes back: Sentinel makes it a replica of the new one.
    primary.restart_in_place(Duration::from_secs(1));
    wait_until(
        "the old primary to rejoin as a replica",
        Duration::from_secs(40),
        || {
            info_field(&primary, "role") == "slave"
                && info_field(&primary, "master_port") == new_port.to_string()
                && info_field(&primary, "master_link_status") == "up"
        },
    );
    let out = writer.wait_with_output().expect("writer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "writer failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("writer's JSON");
    let acked: Vec<u64> = report["acked"]
        .as_array()
        .expect("acked")
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    // Writes kept going after the failover, on the new primary.
    let last = *acked.last().expect("no write was acknowledged");
    assert!(
        killed.elapsed() > failover,
        "the writer ended before the failover"
    );
    let mut n = promoted.connect();
    let mut lost = 0;
    for chunk in acked.chunks(500) {
        let mut args = vec!["MGET".to_string()];
        args.extend(chunk.iter().map(|i| format!("w:{i}")));
        let r = n.command(&args).expect("MGET");
        let (_, items) = common::split_aggregate(&r, common::Protocol::Resp2).expect("array");
        lost += items.iter().filter(|i| i.starts_with(b"$-1")).count();
    }
    assert_eq!(
        run(&mut n, &["EXISTS", &format!("w:{last}")]),
        b":1\r\n",
        "the last acknowledged write is on the new primary"
    );
    // The three nodes hold the same data once the stream has caught up.
    let offset = info_field(promoted, "master_repl_offset");
    for (name, node) in [("other", other), ("old primary", &primary)] {
        wait_until(&format!("{name} in sync"), Duration::from_secs(20), || {
            info_field(node, "slave_repl_offset") == offset
        });
        let mut c = node.connect();
        assert_eq!(
            run(&mut c, &["DBSIZE"]),
            run(&mut n, &["DBSIZE"]),
            "{name}: {}",
            escape(&run(&mut c, &["INFO", "replication"]))
        );
    }
    if std::env::var_os("EMBER_SENTINEL_VERBOSE").is_some() {
        eprintln!("{}", sentinels[0].log());
    }
    Outcome {
        failover,
        client_gap_s: report["longest_gap_s"].as_f64().unwrap_or(-1.0),
        acked: acked.len(),
        lost,
    }
}

#[test]
fn sentinel_fails_ember_over_and_the_old_primary_rejoins() {
    let _g = common::exclusive();
    let long = std::env::var_os("EMBER_SENTINEL_LONG").is_some();
    let (load, rounds) = if long {
        (Duration::from_secs(20), 3)
    } else {
        (Duration::from_secs(8), 1)
    };
    let settings: &[bool] = if long { &[false, true] } else { &[false] };
    for &min_replicas in settings {
        for round in 0..rounds {
            let o = failover(min_replicas, load);
            eprintln!(
                "sentinel failover (min-replicas-to-write {}), round {round}: failover {:.2}s, client without a write for {:.2}s, {} writes acknowledged, {} lost",
                u8::from(min_replicas),
                o.failover.as_secs_f64(),
                o.client_gap_s,
                o.acked,
                o.lost
            );
        }
    }
}
