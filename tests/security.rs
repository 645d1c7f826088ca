//! The defaults and guards that keep an exposed server from being taken
//! over (issue 13 items 4 and 5), against the real `ember-server`, compared
//! with Debian's redis-server where Redis has the same behaviour:
//! protected mode (a client bound to 127.0.0.2 is not local), the bounded
//! module file read, `tcp-backlog`, CONFIG SET bind, `rename-command`, the
//! unix socket, `enable-debug-command local` and the idle `timeout`.
//! Every socket is on loopback.

#[path = "common/mod.rs"]
mod common;

use common::*;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A connection to `to` from the local address `from` (127.0.0.2 is on the
/// loopback interface but is not a "local client" for Redis).
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let src: SocketAddr = format!("{from}:0").parse().expect("source address");
    s.bind(&src.into())
        .expect("bind the client to its source address");
    s.connect_timeout(&to.into(), Duration::from_secs(2))
        .expect("connect");
    s.into()
}

/// Everything the server sends before it closes the connection.
fn read_until_closed(mut s: TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn info_field(c: &mut RespConn, section: &str, field: &str) -> String {
    let info = c.command(&["INFO", section]).expect("INFO");
    let text = String::from_utf8_lossy(&info).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

#[test]
fn protected_mode_refuses_a_non_local_peer_with_redis_text() {
    let _g = shared();
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[("protected-mode", "yes")]);
    let mut texts = Vec::new();
    for server in [&ember, &redis] {
        let mut s = connect_from("127.0.0.2", server.addr());
        // The refusal is sent on accept; the PING is never answered.
        let _ = std::io::Write::write_all(&mut s, b"PING\r\n");
        let got = read_until_closed(s);
        assert!(
            got.starts_with(b"-DENIED Redis is running in protected mode"),
            "{}: {}",
            server.kind().name(),
            escape(&got)
        );
        texts.push(got);
    }
    assert_eq!(
        escape(&texts[0]),
        escape(&texts[1]),
        "the DENIED text differs from Redis's"
    );
    let mut c = ember.connect();
    assert_eq!(info_field(&mut c, "stats", "rejected_connections"), "1");
    // Local clients are served.
    assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
}

#[test]
fn protected_mode_lets_non_local_peers_in_with_a_password_or_when_off() {
    let _g = shared();
    // With a password the peer is let in (and must AUTH).
    let ember = ServerProcess::start_ember(&[]);
    let mut local = ember.connect();
    let reply = local
        .command(&["CONFIG", "SET", "requirepass", "s3cret"])
        .unwrap();
    assert_eq!(reply, b"+OK\r\n");
    let mut c = RespConn::from_stream(connect_from("127.0.0.2", ember.addr())).unwrap();
    let reply = c.command(&["PING"]).unwrap();
    assert!(reply.starts_with(b"-NOAUTH"), "{}", escape(&reply));
    assert_eq!(c.command(&["AUTH", "s3cret"]).unwrap(), b"+OK\r\n");
    assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
    drop(ember);
    // protected-mode no, from the start or set at run time from a local client.
    let ember = ServerProcess::start_ember(&[("protected-mode", "no")]);
    let mut c = RespConn::from_stream(connect_from("127.0.0.2", ember.addr())).unwrap();
    assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
    let mut local = ember.connect();
    assert_eq!(
        local
            .command(&["CONFIG", "SET", "protected-mode", "yes"])
            .unwrap(),
        b"+OK\r\n"
    );
    let got = read_until_closed(connect_from("127.0.0.2", ember.addr()));
    assert!(got.starts_with(b"-DENIED"), "{}", escape(&got));
    // An already connected peer is not disconnected by the change (Redis
    // decides on accept only).
    assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
}

#[test]
fn enable_debug_command_local_means_127_0_0_1_only() {
    let _g = shared();
    let ember =
        ServerProcess::start_ember(&[("protected-mode", "no"), ("enable-debug-command", "local")]);
    let redis =
        ServerProcess::start_redis(&[("protected-mode", "no"), ("enable-debug-command", "local")]);
    let mut replies = Vec::new();
    for server in [&ember, &redis] {
        let mut remote = RespConn::from_stream(connect_from("127.0.0.2", server.addr())).unwrap();
        let refused = remote.command(&["DEBUG", "SLEEP", "0"]).unwrap();
        let mut local = server.connect();
        let allowed = local.command(&["DEBUG", "SLEEP", "0"]).unwrap();
        replies.push((escape(&refused), escape(&allowed)));
    }
    assert_eq!(replies[0], replies[1]);
    assert_eq!(replies[0].1, "\"+OK\\r\\n\"");
}

#[test]
fn module_files_are_read_with_a_bound() {
    let _g = shared();
    let ember = ServerProcess::start_ember(&[]);
    let mut c = ember.connect();
    let dir = unique_temp_dir("modfiles");
    let fifo = dir.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    // Sparse: over the limit without using the disk.
    let big = dir.join("big.wasm");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(65 << 20))
        .expect("sparse file");
    let cases = [
        ("/dev/zero".to_string(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (dir.display().to_string(), "not a regular file"),
        (big.display().to_string(), "over the limit"),
        (dir.join("missing").display().to_string(), "No such file"),
    ];
    for (path, why) in cases {
        let started = Instant::now();
        let reply = c.command(&["MODULE", "LOAD", path.as_str()]).unwrap();
        let text = String::from_utf8_lossy(&reply).into_owned();
        assert!(
            text.starts_with("-ERR Error loading the extension") && text.contains(why),
            "MODULE LOAD {path}: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "MODULE LOAD {path} took {:?}",
            started.elapsed()
        );
    }
    // An upload over the limit is refused too (the bytes arrive as one bulk).
    let huge = vec![0u8; (64 << 20) + 1];
    let reply = c.command(&[&b"MODULE"[..], b"UPLOAD", &huge]).unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("over the limit"), "{text}");
    drop(huge);
    // The server kept its memory and still answers.
    assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
    let rss: u64 = info_field(&mut c, "memory", "used_memory_rss")
        .parse()
        .unwrap();
    assert!(rss < 1 << 30, "rss grew to {rss}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The listen backlog of the socket listening on `port` (ss's Send-Q of a
/// listening socket).
fn listen_backlog(port: u16) -> u64 {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no listener on {port}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("unexpected ss line: {line}"))
}

#[test]
fn the_listen_backlog_is_tcp_backlog() {
    let _g = shared();
    let ember = ServerProcess::start_ember(&[]);
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    assert_eq!(listen_backlog(ember.port()), 511.min(somaxconn));
    let ember = ServerProcess::start_ember(&[("tcp-backlog", "37")]);
    assert_eq!(listen_backlog(ember.port()), 37);
}

#[test]
fn config_set_bind_rebinds_like_redis() {
    let _g = shared();
    let ember = ServerProcess::start_ember(&[]);
    let redis = ServerProcess::start_redis(&[]);
    for server in [&ember, &redis] {
        let what = server.kind().name();
        let port = server.port();
        let mut c = server.connect();
        let two = "127.0.0.1 127.0.0.2".to_string();
        assert_eq!(
            c.command(&["CONFIG", "SET", "bind", &two]).unwrap(),
            b"+OK\r\n",
            "{what}"
        );
        let other = SocketAddr::from(([127, 0, 0, 2], port));
        let mut c2 = RespConn::connect(other).expect("the new address listens");
        assert_eq!(c2.command(&["PING"]).unwrap(), b"+PONG\r\n", "{what}");
        // An address that cannot be bound: refused, and nothing changes.
        let reply = c
            .command(&["CONFIG", "SET", "bind", "127.0.0.1 192.0.2.1"])
            .unwrap();
        assert_eq!(
            escape(&reply),
            escape(b"-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"),
            "{what}"
        );
        assert_eq!(
            c.command(&["CONFIG", "GET", "bind"]).unwrap(),
            encode_resp_pair("bind", &two),
            "{what}"
        );
        RespConn::connect(other).expect("still listening on the second address");
        // `-` marks an optional address: skipped when unavailable.
        assert_eq!(
            c.command(&["CONFIG", "SET", "bind", "127.0.0.2 -192.0.2.1"])
                .unwrap(),
            b"+OK\r\n",
            "{what}"
        );
        assert!(
            RespConn::connect(server.addr()).is_err(),
            "{what}: 127.0.0.1 is no longer bound"
        );
        // Clients connected through a closed listener stay connected.
        assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n", "{what}");
        assert_eq!(c2.command(&["PING"]).unwrap(), b"+PONG\r\n", "{what}");
    }
}

fn encode_resp_pair(k: &str, v: &str) -> Vec<u8> {
    format!("*2\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()).into_bytes()
}

#[test]
fn rename_command_in_the_config_file() {
    let _g = shared();
    let dir = unique_temp_dir("rename");
    let conf = dir.join("rename.conf");
    std::fs::write(
        &conf,
        "rename-command flushall \"\"\nrename-command config myconfig\n",
    )
    .unwrap();
    let include = [("include", conf.to_str().unwrap())];
    let ember = ServerProcess::start_ember(&include);
    let redis = ServerProcess::start_redis(&include);
    let script = [
        vec!["SET", "k", "v"],
        vec!["FLUSHALL"],
        vec!["CONFIG", "GET", "maxclients"],
        vec!["myconfig", "GET", "maxclients"],
        vec!["MULTI"],
        vec!["MYCONFIG", "GET", "databases"],
        vec!["EXEC"],
        vec!["EVAL", "return redis.pcall('flushall')", "0"],
        vec![
            "EVAL",
            "return redis.call('myconfig', 'get', 'port') ~= nil",
            "0",
        ],
        vec!["GET", "k"],
    ];
    let mut transcripts = Vec::new();
    for server in [&ember, &redis] {
        let mut c = server.connect();
        let mut t = String::new();
        for cmd in &script {
            let reply = c.command(cmd).unwrap();
            t.push_str(&format!("{cmd:?} -> {}\n", escape(&reply)));
        }
        transcripts.push(t);
    }
    assert_eq!(transcripts[0], transcripts[1]);
    assert!(
        transcripts[0].contains("unknown command 'FLUSHALL'"),
        "{}",
        transcripts[0]
    );
    // A rename of an unknown command stops the server, as Redis.
    std::fs::write(&conf, "rename-command nosuchcommand x\n").unwrap();
    let out = std::process::Command::new(ember_server_path())
        .arg(&conf)
        .output()
        .expect("ember-server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No such command in rename-command"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unix_socket_serves_redis_cli() {
    let _g = shared();
    let dir = unique_temp_dir("unixsock");
    let path = dir.join("ember.sock");
    let ember = ServerProcess::start_ember(&[
        ("unixsocket", path.to_str().unwrap()),
        ("unixsocketperm", "700"),
    ]);
    let out = std::process::Command::new("redis-cli")
        .arg("-s")
        .arg(&path)
        .args(["CLIENT", "INFO"])
        .output()
        .expect("redis-cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("addr=/unixsocket:0 laddr=/unixsocket:0") && text.contains("flags=U"),
        "{text}\n{}",
        ember.output()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    drop(ember);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let _g = shared();
    let ember = ServerProcess::start_ember(&[("timeout", "1")]);
    let mut c = ember.connect();
    assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
    assert!(
        c.wait_closed(Duration::from_secs(4)),
        "an idle client stayed connected past timeout"
    );
}

#[test]
fn a_replica_connects_from_bind_source_addr() {
    let _g = shared();
    let primary = ServerProcess::start_ember(&[("protected-mode", "no")]);
    let port = primary.port().to_string();
    let replica = ServerProcess::start_ember(&[
        ("bind-source-addr", "127.0.0.2"),
        ("replicaof", &format!("127.0.0.1 {port}")),
    ]);
    let mut p = primary.connect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = p.command(&["INFO", "replication"]).unwrap();
        let text = String::from_utf8_lossy(&info).into_owned();
        if text.contains("slave0:ip=127.0.0.2,") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not attach from 127.0.0.2: {text}\n{}",
            replica.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
