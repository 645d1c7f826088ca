//! Configuration against the real thing: `CONFIG GET *` names and defaults, CONFIG SET of
//! every directive, CONFIG REWRITE of the same file after the same CONFIG SETs, all compared
//! with Debian's redis-server 7.0; and Debian's stock /etc/redis/redis.conf starting Ember
//! (daemonized, with its pid file) unchanged.

mod common;

use common::{
    free_port, split_aggregate, string_value, unique_temp_dir, Protocol, RespConn, ServerProcess,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Directives whose default Ember changes on purpose (docs/configuration.md says why).
const DELIBERATE_DEFAULTS: &[&str] = &["enable-module-command"];
/// Ember's own directives, which Redis does not have.
const EMBER_ONLY: &[&str] = &["threads", "wasm-memory-limit", "wasm-time-limit"];

fn config_get(conn: &mut RespConn, pattern: &str) -> BTreeMap<String, String> {
    let reply = conn
        .command(&["CONFIG", "GET", pattern])
        .expect("CONFIG GET");
    let (_, items) = split_aggregate(&reply, Protocol::Resp2).expect("CONFIG GET array");
    let text = |b: &[u8]| String::from_utf8_lossy(string_value(b).expect("bulk")).into_owned();
    items
        .chunks(2)
        .map(|kv| (text(kv[0]), text(kv[1])))
        .collect()
}

#[test]
fn config_get_star_names_and_defaults_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let r = config_get(&mut redis.connect(), "*");
    let e = config_get(&mut ember.connect(), "*");
    let r_names: BTreeSet<&String> = r.keys().collect();
    let e_names: BTreeSet<&String> = e
        .keys()
        .filter(|n| !EMBER_ONLY.contains(&n.as_str()))
        .collect();
    assert_eq!(
        r_names.difference(&e_names).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "directives redis-server has and Ember lacks"
    );
    assert_eq!(
        e_names.difference(&r_names).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "directives Ember lists that redis-server does not"
    );
    for (name, value) in &r {
        if ["port", "dir"].contains(&name.as_str()) || DELIBERATE_DEFAULTS.contains(&name.as_str())
        {
            continue;
        }
        assert_eq!(&e[name], value, "default of {name}");
    }
    // Hidden directives answer by exact name only, in both.
    for hidden in ["rdb-key-save-delay", "key-load-delay", "watchdog-period"] {
        assert_eq!(
            config_get(&mut redis.connect(), hidden),
            config_get(&mut ember.connect(), hidden),
            "{hidden}"
        );
    }
}

#[test]
fn config_set_of_every_directive_to_its_value_replies_like_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let (mut rc, mut ec) = (redis.connect(), ember.connect());
    let r = config_get(&mut rc, "*");
    let e = config_get(&mut ec, "*");
    let mut differences = Vec::new();
    for name in r.keys() {
        let rr = rc
            .command(&["CONFIG", "SET", name, &r[name]])
            .expect("redis");
        let er = ec
            .command(&["CONFIG", "SET", name, &e[name]])
            .expect("ember");
        if rr != er {
            differences.push(format!(
                "{name}: redis {} ember {}",
                common::escape(&rr),
                common::escape(&er)
            ));
        }
    }
    // `bind` and `port` re-bind the listeners, as in Redis 7 (tests/security.rs).
    assert_eq!(differences, Vec::<String>::new());
    // A TLS port without a certificate cannot listen; nothing changes.
    let er = ec
        .command(&["CONFIG", "SET", "tls-port", "16999"])
        .expect("ember");
    assert_eq!(
        common::escape(&er),
        common::escape(b"-ERR CONFIG SET failed (possibly related to argument 'tls-port') - Unable to listen on this port\r\n")
    );
    assert_eq!(config_get(&mut ec, "tls-port")["tls-port"], "0");
}

/// A server started as `program <config file> --directive value ...` (the file first, as a
/// user runs it). Killed on drop.
struct FileServer {
    child: Child,
    port: u16,
}

impl FileServer {
    fn start(program: &Path, conf: &Path, cwd: &Path, args: &[&str]) -> FileServer {
        let child = Command::new(program)
            .arg(conf)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let port = args
            .iter()
            .position(|a| *a == "--port")
            .and_then(|i| args.get(i + 1))
            .and_then(|p| p.parse().ok())
            .expect("--port in args");
        let s = FileServer { child, port };
        assert!(wait_ping(port), "server on {port} did not answer PING");
        s
    }

    fn connect(&self) -> RespConn {
        RespConn::connect(([127, 0, 0, 1], self.port).into()).expect("connect")
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ping(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut c) = RespConn::connect(([127, 0, 0, 1], port).into()) {
            c.set_timeout(Duration::from_secs(2));
            // -NOAUTH also proves the server is up (the rewritten file has requirepass).
            if c.command(&["PING"])
                .is_ok_and(|r| r == b"+PONG\r\n" || r.starts_with(b"-NOAUTH"))
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

const REWRITE_INPUT: &str = "# my comment
port PORT
  maxmemory   100000
save \"\"
hz 10


# another
slaveof no one
requirepass \"\"
loglevel notice
client-output-buffer-limit pubsub 32mb 8mb 60
include INCLUDE
lua-time-limit 100
unixsocketperm 700
list-max-ziplist-entries 512
";

/// Splits a rewritten file at Redis's signature: the kept part (in order) and the appended
/// lines (a set: Redis appends in its hash table's random order).
fn split_rewritten(text: &str, port: u16) -> (String, BTreeSet<String>) {
    let text = text.replace(&port.to_string(), "PORT");
    match text.split_once("# Generated by CONFIG REWRITE\n") {
        Some((kept, added)) => (
            kept.to_string(),
            added
                .lines()
                // Redis's ACL default user: Ember has no ACL yet (documented).
                .filter(|l| !l.starts_with("user default "))
                .map(str::to_string)
                .collect(),
        ),
        None => (text, BTreeSet::new()),
    }
}

#[test]
fn config_rewrite_matches_redis_on_the_same_file_and_sets() {
    let dir = unique_temp_dir("config-rewrite");
    let include = dir.join("empty.conf");
    std::fs::write(&include, "").expect("write include");
    let sets: &[&[&str]] = &[
        &[
            "maxmemory",
            "200mb",
            "hz",
            "20",
            "notify-keyspace-events",
            "KEA",
        ],
        &["maxmemory-clients", "5%", "appendfsync", "always"],
        &["client-output-buffer-limit", "replica 1mb 2mb 3"],
        &["requirepass", "a b", "shutdown-on-sigterm", "now save"],
        &[
            "oom-score-adj-values",
            "1 2 3",
            "maxmemory-policy",
            "allkeys-lru",
        ],
        &[
            "latency-tracking-info-percentiles",
            "",
            "busy-reply-threshold",
            "300",
        ],
        &[
            "rdbcompression",
            "no",
            "slowlog-max-len",
            "1000",
            "timeout",
            "0",
        ],
        &[
            "proto-max-bulk-len",
            "2048kb",
            "stream-node-max-bytes",
            "5000",
        ],
    ];
    let mut results = Vec::new();
    for (program, tag) in [
        (common::redis_server_path(), "redis"),
        (common::ember_server_path(), "ember"),
    ] {
        let port = free_port();
        let conf = dir.join(format!("{tag}.conf"));
        let text = REWRITE_INPUT
            .replace("PORT", &port.to_string())
            .replace("INCLUDE", &include.to_string_lossy());
        std::fs::write(&conf, text).expect("write conf");
        let port_s = port.to_string();
        let srv = FileServer::start(&program, &conf, &dir, &["--port", &port_s]);
        let mut c = srv.connect();
        for set in sets {
            let mut cmd = vec!["CONFIG", "SET"];
            cmd.extend_from_slice(set);
            assert_eq!(c.command(&cmd).expect("set"), b"+OK\r\n", "{tag} {set:?}");
        }
        c.command(&["AUTH", "a b"]).expect("auth");
        assert_eq!(
            c.command(&["CONFIG", "REWRITE"]).expect("rewrite"),
            b"+OK\r\n",
            "{tag}"
        );
        let out = std::fs::read_to_string(&conf).expect("read rewritten");
        results.push((split_rewritten(&out, port), out));
        // The rewritten file starts the same server again.
        drop(c);
        drop(srv);
        let port2 = free_port().to_string();
        let again = FileServer::start(&program, &conf, &dir, &["--port", &port2]);
        let mut c = again.connect();
        c.command(&["AUTH", "a b"]).expect("auth");
        assert_eq!(config_get(&mut c, "maxmemory")["maxmemory"], "209715200");
    }
    let (redis, ember) = (&results[0], &results[1]);
    assert_eq!(
        ember.0 .0, redis.0 .0,
        "kept part\nredis:\n{}\nember:\n{}",
        redis.1, ember.1
    );
    assert_eq!(
        ember.0 .1, redis.0 .1,
        "appended lines\nredis:\n{}\nember:\n{}",
        redis.1, ember.1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_rewrite_without_a_config_file_errors_like_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let r = redis
        .connect()
        .command(&["CONFIG", "REWRITE"])
        .expect("redis");
    let e = ember
        .connect()
        .command(&["CONFIG", "REWRITE"])
        .expect("ember");
    assert_eq!(e, r);
    assert_eq!(r, b"-ERR The server is running without a config file\r\n");
}

/// Debian's stock /etc/redis/redis.conf starts Ember unchanged: it daemonizes, writes its pid
/// file, listens where the file says (`bind 127.0.0.1 -::1`), and shows the file's values.
/// Only the port (never 6379 in tests) and the paths (to stay out of /var) are overridden.
#[test]
fn debian_stock_redis_conf_starts_ember_daemonized() {
    let stock = Path::new("/etc/redis/redis.conf");
    assert!(
        stock.is_file(),
        "Debian's redis-server package provides {stock:?}"
    );
    let dir = unique_temp_dir("stock-conf");
    let port = free_port().to_string();
    let pidfile: PathBuf = dir.join("ember.pid");
    let log = dir.join("ember.log");
    let mut parent = Command::new(common::ember_server_path())
        .arg(stock)
        .args(["--port", &port, "--dir"])
        .arg(&dir)
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    // `daemonize yes`: the process we started forks and exits 0.
    let status = parent.wait().expect("wait");
    assert!(status.success(), "{status}");
    assert!(
        wait_ping(port.parse().expect("port")),
        "daemon answers PING"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file written")
        .trim()
        .parse()
        .expect("pid");
    assert_ne!(pid, parent.id() as i32, "the daemon is the forked child");
    let mut c =
        RespConn::connect(([127, 0, 0, 1], port.parse().expect("port")).into()).expect("connect");
    let got = config_get(&mut c, "*");
    for (name, want) in [
        ("daemonize", "yes"),
        ("bind", "127.0.0.1 -::1"),
        ("save", "3600 1 300 100 60 10000"),
        ("logfile", log.to_str().expect("utf8")),
        ("appendonly", "no"),
        ("jemalloc-bg-thread", "yes"),
        ("oom-score-adj-values", "0 200 800"),
    ] {
        assert_eq!(got[name], want, "{name}");
    }
    // SHUTDOWN removes the pid file, as Redis does.
    let _ = c.command(&["SHUTDOWN", "NOSAVE"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pidfile.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    if pidfile.exists() {
        // Do not leave a daemon behind if the test failed.
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("pid file left behind after SHUTDOWN");
    }
    assert!(std::fs::read_to_string(&log)
        .expect("log file")
        .contains("Ready to accept connections"));
    let _ = std::fs::remove_dir_all(&dir);
}

const DOC_BEGIN: &str = "<!-- BEGIN GENERATED DIRECTIVE TABLE -->";
const DOC_END: &str = "<!-- END GENERATED DIRECTIVE TABLE -->";

/// docs/configuration.md's directive table is generated from the directive table; this fails
/// when they differ. Regenerate with `EMBER_UPDATE_DOCS=1 cargo test --test config docs`.
#[test]
fn docs_configuration_md_lists_every_directive() {
    assert_eq!(
        ember::config::unknown_effect_names(),
        Vec::<&str>::new(),
        "config/docs.rs describes directives that do not exist"
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let doc = std::fs::read_to_string(path).expect("docs/configuration.md");
    let generated = ember::config::directive_table_markdown();
    let (Some(b), Some(e)) = (doc.find(DOC_BEGIN), doc.find(DOC_END)) else {
        panic!("docs/configuration.md lacks the {DOC_BEGIN} / {DOC_END} markers");
    };
    if doc[b + DOC_BEGIN.len()..e].trim() == generated.trim() {
        return;
    }
    if std::env::var_os("EMBER_UPDATE_DOCS").is_some() {
        let updated = format!(
            "{}{DOC_BEGIN}\n{}\n{}",
            &doc[..b],
            generated.trim(),
            &doc[e..]
        );
        std::fs::write(path, updated).expect("write docs/configuration.md");
        return;
    }
    panic!(
        "docs/configuration.md's directive table is stale: run \
         `EMBER_UPDATE_DOCS=1 cargo test --test config docs`"
    );
}

/// `supervised systemd`: READY=1 reaches NOTIFY_SOCKET once the server listens, `daemonize yes`
/// is then ignored (as in Redis), and INFO says how the process is supervised.
#[test]
fn supervised_systemd_notifies_readiness() {
    use std::os::unix::net::UnixDatagram;
    let dir = unique_temp_dir("supervised");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let port = free_port();
    let mut child = Command::new(common::ember_server_path())
        .args(["--port", &port.to_string(), "--supervised", "systemd"])
        .args(["--daemonize", "yes"])
        .env("NOTIFY_SOCKET", &sock_path)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 from ember-server");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.contains("READY=1"), "{msg}");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "supervised: not daemonized, the process we started is the server"
    );
    let mut c = RespConn::connect(([127, 0, 0, 1], port).into()).expect("connect");
    let info = c.command(&["INFO", "server"]).expect("info");
    assert!(
        String::from_utf8_lossy(&info).contains("process_supervised:systemd\r\n"),
        "{}",
        String::from_utf8_lossy(&info)
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
