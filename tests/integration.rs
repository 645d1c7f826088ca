//! Integration tests of the real `ember-server` binary: the wire protocol (inline commands,
//! pipelining, split and malformed input, limits), connection management (maxclients, idle
//! timeout, QUIT, CLIENT KILL/SETNAME/LIST), databases, the configuration file, RESP3, key expiry
//! as clients observe it, and the `redis` crate used unchanged.
//!
//! Every test starts its own server on a free loopback port (see `common::ServerProcess`), talks
//! to it over real TCP sockets, bounds every loop and every read, and asserts what Redis clients
//! rely on: exact reply bytes and error texts where Redis documents them.

#[path = "common/mod.rs"]
mod common;

use common::{
    escape, integer_value, split_aggregate, string_value, AsyncRespConn, Protocol, RespConn,
    ServerProcess,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Starts the server under test: `ember-server`, or with `EMBER_IT_AGAINST_REDIS=1` the real
/// `redis-server`, which proves the expectations of these tests are Redis's behaviour.
fn start_server(extra: &[(&str, &str)]) -> ServerProcess {
    if against_redis() {
        ServerProcess::start_redis(extra)
    } else {
        ServerProcess::start_ember(extra)
    }
}

fn against_redis() -> bool {
    std::env::var_os("EMBER_IT_AGAINST_REDIS").is_some_and(|v| v == "1")
}

/// The binary [`start_server`] runs.
fn server_binary() -> PathBuf {
    if against_redis() {
        common::redis_server_path()
    } else {
        common::ember_server_path()
    }
}

/// How long a server may take to close a connection it decided to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Sends one command and returns its raw reply; panics with the command on I/O failure.
fn cmd(conn: &mut RespConn, args: &[&str]) -> Vec<u8> {
    conn.command(args)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Sends one command and asserts its raw reply.
#[track_caller]
fn expect(conn: &mut RespConn, args: &[&str], expected: &[u8]) {
    let reply = cmd(conn, args);
    assert_eq!(
        escape(&reply),
        escape(expected),
        "reply to {args:?} (left: got, right: expected)"
    );
}

/// Sends raw bytes and asserts the next raw reply.
#[track_caller]
fn expect_raw(conn: &mut RespConn, bytes: &[u8], expected: &[u8]) {
    conn.send_raw(bytes)
        .unwrap_or_else(|e| panic!("sending {}: {e}", escape(bytes)));
    let reply = conn
        .read_reply()
        .unwrap_or_else(|e| panic!("reply to {}: {e}", escape(bytes)));
    assert_eq!(
        escape(&reply),
        escape(expected),
        "reply to raw {} (left: got, right: expected)",
        escape(bytes)
    );
}

/// The expected RESP bulk string reply for `s`.
fn bulk(s: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", s.len()).into_bytes();
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
    out
}

/// The value of `field:` in an INFO reply (a bulk string of `field:value` lines).
fn info_field(conn: &mut RespConn, section: &str, field: &str) -> Option<String> {
    let reply = cmd(conn, &["INFO", section]);
    let text = String::from_utf8_lossy(string_value(&reply)?).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

fn dbsize(conn: &mut RespConn) -> i64 {
    let reply = cmd(conn, &["DBSIZE"]);
    integer_value(&reply).unwrap_or_else(|| panic!("DBSIZE replied {}", escape(&reply)))
}

/// A raw socket with read and write timeouts.
fn raw_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_nodelay(true).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until the peer closes the connection (EOF or reset) and returns what arrived before.
/// Err if the connection is still open after `timeout` or more than `cap` bytes arrive.
fn read_until_closed(s: &mut TcpStream, timeout: Duration, cap: usize) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "still open after {timeout:?}; received {} bytes: {}",
                got.len(),
                escape(&got[..got.len().min(200)])
            ));
        }
        s.set_read_timeout(Some(deadline - now)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => return Ok(got),
            Ok(n) => {
                got.extend_from_slice(&chunk[..n]);
                if got.len() > cap {
                    return Err(format!("received more than {cap} bytes and still open"));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return Ok(got)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read error: {e}")),
        }
    }
}

/// Asserts that `bytes` sent on a fresh connection (after a PING that must answer) yields exactly
/// the error reply `expected` and then the server closes the connection.
#[track_caller]
fn assert_protocol_error(srv: &ServerProcess, bytes: &[u8], expected: &str) {
    let mut s = raw_connect(srv.addr());
    let mut input = b"PING\r\n".to_vec();
    input.extend_from_slice(bytes);
    s.write_all(&input).unwrap();
    let got = read_until_closed(&mut s, CLOSE_TIMEOUT, 1 << 16)
        .unwrap_or_else(|e| panic!("after {}: {e}", escape(bytes)));
    let want = format!("+PONG\r\n-{expected}\r\n");
    assert_eq!(
        escape(&got),
        escape(want.as_bytes()),
        "server output for {} before closing",
        escape(bytes)
    );
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes; returns the last result.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A connection that sees itself as the server's only client: earlier connections (such as the
/// readiness probe of `ServerProcess`) are unregistered asynchronously after they close.
fn connect_alone(srv: &ServerProcess) -> RespConn {
    let mut alone = None;
    let ok = wait_until(Duration::from_secs(3), || {
        let Ok(mut p) = RespConn::connect(srv.addr()) else {
            return false;
        };
        p.set_timeout(Duration::from_secs(1));
        if info_field(&mut p, "clients", "connected_clients").as_deref() == Some("1") {
            alone = Some(p);
            return true;
        }
        false
    });
    assert!(ok, "earlier connections were not unregistered within 3 s");
    alone.unwrap()
}

/// The `id=` of this connection, from CLIENT ID.
fn client_id(conn: &mut RespConn) -> i64 {
    let reply = cmd(conn, &["CLIENT", "ID"]);
    integer_value(&reply).unwrap_or_else(|| panic!("CLIENT ID replied {}", escape(&reply)))
}

/// The CLIENT LIST line of the client with `id`, if listed.
fn client_list_line(conn: &mut RespConn, id: i64) -> Option<String> {
    let reply = cmd(conn, &["CLIENT", "LIST"]);
    let text =
        String::from_utf8_lossy(string_value(&reply).expect("CLIENT LIST is a bulk")).into_owned();
    let prefix = format!("id={id} ");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// A server started from a configuration file (ServerProcess always passes --port/--bind first)
// ---------------------------------------------------------------------------------------------

struct ConfServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl ConfServer {
    /// Writes `conf` (with `{port}` replaced by a free port) to a temp file and starts
    /// `ember-server <file> [extra args]`, waiting until it answers PING.
    fn start(conf: &str, extra_args: &[&str]) -> ConfServer {
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = common::free_port();
            let dir = common::unique_temp_dir("integration-conf");
            let path = dir.join("ember.conf");
            std::fs::write(&path, conf.replace("{port}", &port.to_string())).unwrap();
            let child = spawn_ember(&dir, &[path.to_str().unwrap()], extra_args);
            let mut srv = ConfServer { child, port, dir };
            let deadline = Instant::now() + common::STARTUP_TIMEOUT;
            loop {
                if let Ok(Some(status)) = srv.child.try_wait() {
                    last = format!("exited with {status}: {}", output_of(&srv.dir));
                    break;
                }
                if let Ok(mut c) = RespConn::connect_timeout(srv.addr(), Duration::from_millis(300))
                {
                    c.set_timeout(Duration::from_secs(1));
                    if c.command(&["PING"]).ok().as_deref() == Some(b"+PONG\r\n") {
                        return srv;
                    }
                }
                if Instant::now() >= deadline {
                    panic!(
                        "ember-server with a config file did not answer PING; output:\n{}",
                        output_of(&srv.dir)
                    );
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            if !last.to_lowercase().contains("address already in use") {
                break;
            }
        }
        panic!("ember-server with a config file failed to start: {last}");
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn connect(&self) -> RespConn {
        RespConn::connect(self.addr()).expect("connect to the config-file server")
    }
}

impl Drop for ConfServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_ember(dir: &std::path::Path, args: &[&str], extra_args: &[&str]) -> Child {
    Command::new(server_binary())
        .args(args)
        .args(extra_args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("spawn ember-server")
}

fn output_of(dir: &std::path::Path) -> String {
    let mut s = String::new();
    for name in ["stdout.log", "stderr.log"] {
        s.push_str(&String::from_utf8_lossy(
            &std::fs::read(dir.join(name)).unwrap_or_default(),
        ));
    }
    s
}

/// Runs `ember-server args...` expecting it to exit by itself within 10 s; returns its exit
/// status and everything it printed.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let dir = common::unique_temp_dir("integration-exit");
    let mut child = spawn_ember(&dir, args, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ember-server {args:?} was expected to exit but still runs after 10 s; output:\n{}",
                output_of(&dir)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = output_of(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    (status, out)
}

// ---------------------------------------------------------------------------------------------
// 1. Protocol
// ---------------------------------------------------------------------------------------------

#[test]
fn inline_commands_with_quotes_and_escapes() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    expect_raw(&mut c, b"PING\r\n", b"+PONG\r\n");
    expect_raw(&mut c, b"set a \"b c\"\r\n", b"+OK\r\n");
    expect(&mut c, &["GET", "a"], b"$3\r\nb c\r\n");
    // Bare LF terminator, single quotes, extra spaces.
    expect_raw(&mut c, b"  set   s   'x y'  \n", b"+OK\r\n");
    expect(&mut c, &["GET", "s"], b"$3\r\nx y\r\n");
    // Double quotes take \xHH, \t, \n escapes: the value is binary.
    expect_raw(&mut c, b"set e \"\\x41\\t\\x00\\n\"\r\n", b"+OK\r\n");
    expect(&mut c, &["GET", "e"], b"$4\r\nA\t\x00\n\r\n");
    // Empty lines are skipped; inline arguments reach the command.
    expect_raw(&mut c, b"\r\n\r\nPING hello\r\n", b"$5\r\nhello\r\n");
    expect_raw(&mut c, b"get a\r\n", b"$3\r\nb c\r\n");
    // Unbalanced quotes: a protocol error that closes the connection.
    assert_protocol_error(
        &srv,
        b"set a \"b\r\n",
        "ERR Protocol error: unbalanced quotes in request",
    );
    expect(&mut c, &["GET", "a"], b"$3\r\nb c\r\n");
}

#[test]
fn pipeline_of_1000_commands_in_one_write() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    let mut input = Vec::new();
    let mut expected = Vec::new();
    let mut counter = 0;
    for i in 0..1000 {
        match i % 4 {
            0 => {
                counter += 1;
                input.extend(common::encode_command(&["INCR", "pipe:ctr"]));
                expected.push(format!(":{counter}\r\n").into_bytes());
            }
            1 => {
                input.extend(common::encode_command(&[
                    "SET".to_string(),
                    format!("p:{i}"),
                    format!("value-{i}"),
                ]));
                expected.push(b"+OK\r\n".to_vec());
            }
            2 => {
                // Inline commands mixed into the same pipeline.
                input.extend(format!("GET p:{}\r\n", i - 1).into_bytes());
                expected.push(bulk(format!("value-{}", i - 1).as_bytes()));
            }
            _ => {
                input.extend(common::encode_command(&["GET", "pipe:missing"]));
                expected.push(b"$-1\r\n".to_vec());
            }
        }
    }
    c.send_raw(&input).unwrap();
    for (i, want) in expected.iter().enumerate() {
        let got = c
            .read_reply()
            .unwrap_or_else(|e| panic!("reply #{i} of the pipeline: {e}"));
        assert_eq!(escape(&got), escape(want), "reply #{i} of the pipeline");
    }
    // Nothing beyond the 1000 replies.
    c.set_timeout(Duration::from_millis(200));
    assert!(c.read_reply().is_err(), "a 1001st reply arrived");
    assert!(c.pending().is_empty());
}

#[test]
fn large_pipeline_written_before_reading_replies() {
    // Clients such as Jedis or redis-py write a whole pipeline before reading any reply. Redis
    // keeps reading requests while replies wait in its (unlimited, for normal clients) output
    // buffer. A server that stops reading while its replies cannot be written deadlocks with
    // such a client once both directions' socket buffers are full.
    let srv = start_server(&[]);
    let mut c = srv.connect();
    let value = "v".repeat(100);
    expect(&mut c, &["SET", "bk", &value], b"+OK\r\n");
    let n = 300_000;
    let one = common::encode_command(&["GET", "bk"]);
    let input = one.repeat(n);
    let mut s = raw_connect(srv.addr());
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(8);
    let mut written = 0;
    while written < input.len() {
        assert!(
            Instant::now() < deadline,
            "writing a pipeline of {n} GETs ({} bytes) before reading any reply stalled after \
             {written} bytes for {:?}: the server stops reading requests while its replies are \
             not read",
            input.len(),
            started.elapsed(),
        );
        let end = input.len().min(written + 64 * 1024);
        match s.write(&input[written..end]) {
            Ok(k) => written += k,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => panic!("writing the pipeline: {e} after {written} bytes"),
        }
    }
    let want = bulk(value.as_bytes()).len() * n;
    let mut got = 0usize;
    let mut chunk = vec![0u8; 1 << 20];
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < want && Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => panic!("reading the replies: {e} after {got} of {want} bytes"),
        }
    }
    assert_eq!(got, want, "bytes of replies to {n} pipelined GETs");
}

#[test]
fn command_split_across_many_small_writes() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    // A binary-safe value containing CRLF and a '*' so a sloppy parser would mis-split.
    let set = common::encode_command(&["SET", "split", "hello\r\n*1\r\nworld"]);
    for (i, byte) in set.iter().enumerate() {
        c.send_raw(&[*byte]).unwrap();
        if i + 1 < set.len() {
            std::thread::sleep(Duration::from_millis(1));
        }
        if i + 2 == set.len() {
            // All but the last byte: the server must wait, not answer.
            c.set_timeout(Duration::from_millis(150));
            let early = c.read_reply();
            assert!(
                early.is_err() && c.pending().is_empty(),
                "a reply arrived before the command was complete: {early:?}"
            );
            c.set_timeout(common::REPLY_TIMEOUT);
        }
    }
    assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
    // An inline command byte by byte.
    for byte in b"get split\r\n" {
        c.send_raw(&[*byte]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        escape(&c.read_reply().unwrap()),
        escape(&bulk(b"hello\r\n*1\r\nworld"))
    );
    // A three-command pipeline cut into chunks of every size from 1 to 9 bytes.
    let mut batch = common::encode_command(&["INCR", "chunks"]);
    batch.extend(common::encode_command(&["APPEND", "chunky", "ab"]));
    batch.extend_from_slice(b"incr chunks\r\n");
    for size in 1..=9usize {
        for piece in batch.chunks(size) {
            c.send_raw(piece).unwrap();
        }
        let n = size as i64;
        assert_eq!(
            escape(&c.read_reply().unwrap()),
            escape(format!(":{}\r\n", 2 * n - 1).as_bytes()),
            "chunk size {size}"
        );
        assert_eq!(
            escape(&c.read_reply().unwrap()),
            escape(format!(":{}\r\n", 2 * n).as_bytes()),
            "chunk size {size}"
        );
        assert_eq!(
            escape(&c.read_reply().unwrap()),
            escape(format!(":{}\r\n", 2 * n).as_bytes()),
            "chunk size {size}"
        );
    }
}

#[test]
fn malformed_resp_gets_protocol_error_then_close() {
    let srv = start_server(&[]);
    let mut keeper = srv.connect();
    expect(&mut keeper, &["SET", "survivor", "1"], b"+OK\r\n");
    let cases: &[(&[u8], &str)] = &[
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*1\r\n+x\r\n", "ERR Protocol error: expected '$', got '+'"),
        (
            b"*2\r\n$4\r\nECHO\r\n:5\r\n",
            "ERR Protocol error: expected '$', got ':'",
        ),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*3000000000\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
    ];
    for (bytes, expected) in cases {
        assert_protocol_error(&srv, bytes, expected);
    }
    // Over 64 KB without a line end.
    assert_protocol_error(
        &srv,
        &vec![b'a'; 70 * 1024],
        "ERR Protocol error: too big inline request",
    );
    let mut long_count = b"*1".to_vec();
    long_count.extend(vec![b'0'; 70 * 1024]);
    assert_protocol_error(
        &srv,
        &long_count,
        "ERR Protocol error: too big mbulk count string",
    );
    // Commands after the bad bytes in the same write are not run.
    let mut s = raw_connect(srv.addr());
    s.write_all(b"*1\r\n+x\r\nSET after-error 1\r\n").unwrap();
    let got = read_until_closed(&mut s, CLOSE_TIMEOUT, 1 << 16).unwrap();
    assert_eq!(
        escape(&got),
        escape(b"-ERR Protocol error: expected '$', got '+'\r\n")
    );
    // Other clients and the data are unaffected.
    expect(&mut keeper, &["GET", "survivor"], b"$1\r\n1\r\n");
    expect(&mut keeper, &["EXISTS", "after-error"], b":0\r\n");
}

#[test]
fn bulk_longer_than_proto_max_bulk_len_is_refused() {
    let srv = start_server(&[("proto-max-bulk-len", "1mb")]);
    let mut c = srv.connect();
    expect(
        &mut c,
        &["CONFIG", "GET", "proto-max-bulk-len"],
        b"*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n1048576\r\n",
    );
    // Exactly the limit is accepted.
    let at_limit = vec![b'x'; 1 << 20];
    let reply = c.command(&[b"ECHO".as_slice(), &at_limit]).unwrap();
    assert_eq!(reply.len(), bulk(&at_limit).len());
    // One byte more is a protocol error: refused at the header, before the payload arrives.
    assert_protocol_error(
        &srv,
        b"*2\r\n$4\r\nECHO\r\n$1048577\r\n",
        "ERR Protocol error: invalid bulk length",
    );
    // CONFIG SET raises the limit for existing connections too.
    expect(
        &mut c,
        &["CONFIG", "SET", "proto-max-bulk-len", "2mb"],
        b"+OK\r\n",
    );
    let bigger = vec![b'y'; (1 << 20) + 1];
    let reply = c.command(&[b"SET".as_slice(), b"big", &bigger]).unwrap();
    assert_eq!(reply, b"+OK\r\n");
    expect(&mut c, &["STRLEN", "big"], b":1048577\r\n");
}

#[test]
fn query_buffer_over_client_query_buffer_limit_closes_connection() {
    let srv = start_server(&[("client-query-buffer-limit", "1mb")]);
    let mut c = srv.connect();
    expect(
        &mut c,
        &["CONFIG", "GET", "client-query-buffer-limit"],
        b"*2\r\n$25\r\nclient-query-buffer-limit\r\n$7\r\n1048576\r\n",
    );
    // A request under the limit is fine.
    let fine = vec![b'f'; 900 * 1024];
    assert_eq!(
        c.command(&[b"SET".as_slice(), b"fine", &fine]).unwrap(),
        b"+OK\r\n"
    );
    // A 3 MB bulk of which 2 MB arrive: the query buffer passes 1 MB and the client is closed.
    let mut s = raw_connect(srv.addr());
    s.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$3000000\r\n")
        .unwrap();
    let piece = vec![b'h'; 64 * 1024];
    let mut sent = 0;
    while sent < 2_000_000 {
        if s.write_all(&piece).is_err() {
            break; // Already closed by the server: what we want.
        }
        sent += piece.len();
    }
    let got = read_until_closed(&mut s, Duration::from_secs(5), 1 << 16)
        .unwrap_or_else(|e| panic!("a 2 MB partial request over a 1 MB query buffer limit: {e}"));
    assert!(
        got.is_empty(),
        "no reply expected before the close, got {}",
        escape(&got)
    );
    expect(&mut c, &["EXISTS", "huge"], b":0\r\n");
    expect(&mut c, &["STRLEN", "fine"], b":921600\r\n");
}

#[test]
fn maxclients_rejects_the_extra_connection() {
    let srv = start_server(&[("maxclients", "2")]);
    let mut a = connect_alone(&srv);
    let mut b = srv.connect();
    expect(&mut a, &["PING"], b"+PONG\r\n");
    expect(&mut b, &["PING"], b"+PONG\r\n");
    let mut third = srv.connect();
    let reply = third
        .read_reply()
        .expect("the third client must be told why it is refused");
    assert_eq!(
        escape(&reply),
        escape(b"-ERR max number of clients reached\r\n")
    );
    assert!(
        third.wait_closed(CLOSE_TIMEOUT),
        "the refused connection must be closed"
    );
    assert_eq!(
        info_field(&mut a, "stats", "rejected_connections").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&mut a, "clients", "connected_clients").as_deref(),
        Some("2")
    );
    // A slot frees when a client leaves.
    drop(b);
    let admitted = wait_until(Duration::from_secs(3), || {
        let Ok(mut d) = RespConn::connect(srv.addr()) else {
            return false;
        };
        d.set_timeout(Duration::from_secs(1));
        d.command(&["PING"]).ok().as_deref() == Some(b"+PONG\r\n")
    });
    assert!(
        admitted,
        "a new client must be admitted after one of two disconnected"
    );
}

#[test]
fn maxclients_counts_connections_that_have_not_sent_anything() {
    // With maxclients 3 and one client connected, three connections opened back to back (before
    // any of them sends a byte): exactly two may be served.
    let srv = start_server(&[("maxclients", "3")]);
    for trial in 0..3 {
        // A probe that sees itself as the only client: the server is back to a known state.
        let probe = connect_alone(&srv);
        let mut conns: Vec<RespConn> = (0..3).map(|_| srv.connect()).collect();
        let mut served = 0;
        let mut refused = 0;
        for c in &mut conns {
            c.set_timeout(Duration::from_secs(2));
            let _ = c.send_raw(b"PING\r\n");
            match c.read_reply() {
                Ok(r) if r == b"+PONG\r\n" => served += 1,
                Ok(r) if r == b"-ERR max number of clients reached\r\n" => refused += 1,
                other => panic!("trial {trial}: unexpected {other:?}"),
            }
        }
        assert_eq!(
            (served, refused),
            (2, 1),
            "trial {trial}: with maxclients 3 and 1 client, three simultaneous connections must \
             give 2 served and 1 refused"
        );
        drop(conns);
        drop(probe);
    }
}

#[test]
fn disconnect_mid_command_keeps_acknowledged_writes() {
    let srv = start_server(&[]);
    {
        let mut c = srv.connect();
        expect(&mut c, &["SET", "k", "v"], b"+OK\r\n");
        expect(&mut c, &["INCR", "n"], b":1\r\n");
        expect(&mut c, &["INCR", "n"], b":2\r\n");
        // Half a SET of k, then the client vanishes.
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhal")
            .unwrap();
        c.shutdown();
    }
    {
        // Two complete commands and a partial third in one write.
        let mut c = srv.connect();
        c.send_raw(
            b"SET a 1\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nc",
        )
        .unwrap();
        assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
        assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
        c.shutdown();
    }
    {
        // A transaction never EXECed is never applied.
        let mut c = srv.connect();
        expect(&mut c, &["MULTI"], b"+OK\r\n");
        expect(&mut c, &["SET", "in-multi", "1"], b"+QUEUED\r\n");
        expect(&mut c, &["SET", "k", "from-multi"], b"+QUEUED\r\n");
        c.shutdown();
    }
    // Half an inline command.
    let mut s = raw_connect(srv.addr());
    s.write_all(b"SET k inline-half").unwrap();
    drop(s);
    let mut c = srv.connect();
    expect(&mut c, &["GET", "k"], b"$1\r\nv\r\n");
    expect(&mut c, &["GET", "n"], b"$1\r\n2\r\n");
    expect(&mut c, &["GET", "a"], b"$1\r\n1\r\n");
    expect(&mut c, &["GET", "b"], b"$1\r\n2\r\n");
    expect(&mut c, &["EXISTS", "c", "in-multi"], b":0\r\n");
}

#[test]
fn timeout_directive_closes_idle_clients() {
    let srv = start_server(&[("timeout", "1")]);
    let mut idle = srv.connect();
    expect(&mut idle, &["PING"], b"+PONG\r\n");
    let went_idle = Instant::now();
    // Meanwhile a busy client keeps talking and must stay connected.
    let addr = srv.addr();
    let busy = std::thread::spawn(move || -> Result<(), String> {
        let mut c = RespConn::connect(addr).map_err(|e| e.to_string())?;
        for i in 0..10 {
            let r = c.command(&["PING"]).map_err(|e| format!("ping {i}: {e}"))?;
            if r != b"+PONG\r\n" {
                return Err(format!("ping {i}: {}", escape(&r)));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    });
    assert!(
        idle.wait_closed(Duration::from_secs(4)),
        "an idle client must be closed after `timeout 1`"
    );
    let after = went_idle.elapsed();
    assert!(
        after >= Duration::from_millis(900),
        "closed after only {after:?} of idleness with timeout 1"
    );
    busy.join()
        .unwrap()
        .unwrap_or_else(|e| panic!("a client active every 250 ms was disconnected: {e}"));
}

#[test]
fn config_set_timeout_applies_to_connections_already_idle() {
    // Redis checks idleness in its cron, so lowering `timeout` reaches clients that were already
    // waiting with no timeout.
    let srv = start_server(&[]);
    let mut idle = srv.connect();
    expect(&mut idle, &["PING"], b"+PONG\r\n");
    let mut admin = srv.connect();
    expect(&mut admin, &["CONFIG", "SET", "timeout", "1"], b"+OK\r\n");
    let closed = idle.wait_closed(Duration::from_secs(4));
    let _ = admin.command(&["CONFIG", "SET", "timeout", "0"]);
    assert!(
        closed,
        "a client idle since before CONFIG SET timeout 1 was still connected 4 s later"
    );
}

#[test]
fn resp3_after_hello_3() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    expect(&mut c, &["SET", "present", "1"], b"+OK\r\n");
    c.set_protocol(Protocol::Resp3);
    let hello = cmd(&mut c, &["HELLO", "3"]);
    let (kind, elems) = split_aggregate(&hello, Protocol::Resp3)
        .unwrap_or_else(|| panic!("HELLO 3 replied {}", escape(&hello)));
    assert_eq!(
        kind,
        b'%',
        "HELLO 3 must reply with a map: {}",
        escape(&hello)
    );
    let fields: Vec<(String, &[u8])> = elems
        .chunks(2)
        .map(|kv| {
            (
                String::from_utf8_lossy(string_value(kv[0]).unwrap()).into_owned(),
                kv[1],
            )
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["server", "version", "proto", "id", "mode", "role", "modules"]
    );
    assert_eq!(fields[2].1, b":3\r\n");
    // Nulls are `_`, maps are `%`.
    expect(&mut c, &["GET", "missing"], b"_\r\n");
    expect(
        &mut c,
        &["MGET", "present", "missing"],
        b"*2\r\n$1\r\n1\r\n_\r\n",
    );
    expect(
        &mut c,
        &["CONFIG", "GET", "maxclients"],
        b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
    );
    // An EXEC aborted by WATCH is a RESP3 null.
    let mut other = srv.connect();
    expect(&mut c, &["WATCH", "present"], b"+OK\r\n");
    expect(&mut other, &["SET", "present", "2"], b"+OK\r\n");
    expect(&mut c, &["MULTI"], b"+OK\r\n");
    expect(&mut c, &["GET", "present"], b"+QUEUED\r\n");
    expect(&mut c, &["EXEC"], b"_\r\n");
    // Unsupported versions are refused and leave the protocol alone.
    expect(
        &mut c,
        &["HELLO", "4"],
        b"-NOPROTO unsupported protocol version\r\n",
    );
    expect(&mut c, &["GET", "missing"], b"_\r\n");
    // Back to RESP2.
    c.set_protocol(Protocol::Resp2);
    let hello2 = cmd(&mut c, &["HELLO", "2"]);
    assert!(
        hello2.starts_with(b"*14\r\n"),
        "HELLO 2 replies with a flat array: {}",
        escape(&hello2)
    );
    expect(&mut c, &["GET", "missing"], b"$-1\r\n");
    expect(
        &mut c,
        &["CONFIG", "GET", "maxclients"],
        b"*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
    );
    // HELLO with SETNAME names the connection.
    c.set_protocol(Protocol::Resp3);
    let _ = cmd(&mut c, &["HELLO", "3", "SETNAME", "resp3-client"]);
    expect(&mut c, &["CLIENT", "GETNAME"], b"$12\r\nresp3-client\r\n");
}

#[test]
fn quit_replies_ok_then_closes() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    expect(&mut c, &["QUIT"], b"+OK\r\n");
    assert!(
        c.wait_closed(CLOSE_TIMEOUT),
        "QUIT must close the connection"
    );
    // Commands pipelined after QUIT are not run.
    let mut s = raw_connect(srv.addr());
    s.write_all(b"PING\r\nQUIT\r\nSET after-quit 1\r\n")
        .unwrap();
    let got = read_until_closed(&mut s, CLOSE_TIMEOUT, 1 << 16).unwrap();
    assert_eq!(escape(&got), escape(b"+PONG\r\n+OK\r\n"));
    let mut c = srv.connect();
    expect(&mut c, &["EXISTS", "after-quit"], b":0\r\n");
}

#[test]
fn client_kill_closes_the_other_connection() {
    let srv = start_server(&[]);
    let mut victim = srv.connect();
    let mut admin = srv.connect();
    let id = client_id(&mut victim);
    assert!(client_list_line(&mut admin, id).is_some());
    expect(
        &mut admin,
        &["CLIENT", "KILL", "ID", &id.to_string()],
        b":1\r\n",
    );
    assert!(
        victim.wait_closed(CLOSE_TIMEOUT),
        "CLIENT KILL ID must close the target connection"
    );
    assert!(
        wait_until(Duration::from_secs(2), || client_list_line(&mut admin, id)
            .is_none()),
        "a killed client must leave CLIENT LIST"
    );
    expect(
        &mut admin,
        &["CLIENT", "KILL", "ID", &id.to_string()],
        b":0\r\n",
    );
    // The old form, CLIENT KILL addr:port.
    let mut victim2 = srv.connect();
    let id2 = client_id(&mut victim2);
    let line = client_list_line(&mut admin, id2).expect("listed");
    let addr = line
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr= field")
        .to_string();
    expect(&mut admin, &["CLIENT", "KILL", &addr], b"+OK\r\n");
    assert!(victim2.wait_closed(CLOSE_TIMEOUT));
    expect(
        &mut admin,
        &["CLIENT", "KILL", "1.2.3.4:5"],
        b"-ERR No such client\r\n",
    );
    // The admin connection itself is untouched.
    expect(&mut admin, &["PING"], b"+PONG\r\n");
}

#[test]
fn client_kill_closes_a_connection_blocked_on_output() {
    // A client that stopped reading its replies is the usual reason to CLIENT KILL someone.
    let srv = start_server(&[]);
    let mut admin = srv.connect();
    let value = vec![b'x'; 5 << 20];
    assert_eq!(
        admin.command(&[b"SET".as_slice(), b"bk", &value]).unwrap(),
        b"+OK\r\n"
    );
    let mut slow = raw_connect(srv.addr());
    slow.write_all(b"CLIENT ID\r\n").unwrap();
    let mut buf = [0u8; 64];
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = slow.read(&mut buf).unwrap();
    let id = integer_value(&buf[..n]).expect("CLIENT ID reply");
    // 20 x 5 MB of replies that nobody reads.
    let get = common::encode_command(&["GET", "bk"]);
    slow.write_all(&get.repeat(20)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    expect(
        &mut admin,
        &["CLIENT", "KILL", "ID", &id.to_string()],
        b":1\r\n",
    );
    assert!(
        wait_until(Duration::from_secs(2), || client_list_line(&mut admin, id)
            .is_none()),
        "a client blocked on unread output stayed connected (in CLIENT LIST) after CLIENT KILL"
    );
    let total = 20 * bulk(&value).len();
    match read_until_closed(&mut slow, Duration::from_secs(10), total) {
        Ok(got) => assert!(
            got.len() < total,
            "the killed client still received all {total} bytes of its replies"
        ),
        Err(e) => panic!("the killed client's connection: {e}"),
    }
}

#[test]
fn client_setname_getname_and_list() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    let mut other = srv.connect();
    let id = client_id(&mut c);
    expect(&mut c, &["CLIENT", "GETNAME"], b"$-1\r\n");
    expect(&mut c, &["CLIENT", "SETNAME", "worker-1"], b"+OK\r\n");
    expect(&mut c, &["CLIENT", "GETNAME"], b"$8\r\nworker-1\r\n");
    let line = client_list_line(&mut other, id).expect("the named client is listed");
    assert!(line.contains(" name=worker-1 "), "CLIENT LIST line: {line}");
    assert!(line.contains(" db=0 "), "CLIENT LIST line: {line}");
    let info = cmd(&mut c, &["CLIENT", "INFO"]);
    let info = String::from_utf8_lossy(string_value(&info).unwrap()).into_owned();
    assert!(
        info.starts_with(&format!("id={id} ")),
        "CLIENT INFO: {info}"
    );
    assert!(info.contains(" name=worker-1 "), "CLIENT INFO: {info}");
    expect(
        &mut c,
        &["CLIENT", "SETNAME", "has space"],
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    expect(&mut c, &["CLIENT", "GETNAME"], b"$8\r\nworker-1\r\n");
    // SELECT shows in the list; an empty name clears it.
    expect(&mut c, &["SELECT", "3"], b"+OK\r\n");
    expect(&mut c, &["CLIENT", "SETNAME", ""], b"+OK\r\n");
    expect(&mut c, &["CLIENT", "GETNAME"], b"$-1\r\n");
    let line = client_list_line(&mut other, id).expect("listed");
    assert!(
        line.contains(" name= ") && line.contains(" db=3 "),
        "CLIENT LIST line: {line}"
    );
    // TYPE normal lists both, ID filters.
    let reply = cmd(&mut other, &["CLIENT", "LIST", "ID", &id.to_string()]);
    let text = String::from_utf8_lossy(string_value(&reply).unwrap()).into_owned();
    assert_eq!(text.lines().count(), 1, "CLIENT LIST ID {id}: {text}");
}

#[test]
fn select_isolates_databases() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    expect(&mut c, &["SET", "k", "db0"], b"+OK\r\n");
    expect(&mut c, &["SELECT", "1"], b"+OK\r\n");
    expect(&mut c, &["GET", "k"], b"$-1\r\n");
    expect(&mut c, &["SET", "k", "db1"], b"+OK\r\n");
    expect(&mut c, &["SET", "only1", "x"], b"+OK\r\n");
    expect(&mut c, &["DBSIZE"], b":2\r\n");
    // Another connection starts in db 0.
    let mut other = srv.connect();
    expect(&mut other, &["GET", "k"], b"$3\r\ndb0\r\n");
    expect(&mut other, &["DBSIZE"], b":1\r\n");
    // FLUSHDB empties only the selected database.
    expect(&mut other, &["FLUSHDB"], b"+OK\r\n");
    expect(&mut c, &["GET", "k"], b"$3\r\ndb1\r\n");
    expect(&mut c, &["SELECT", "0"], b"+OK\r\n");
    expect(&mut c, &["GET", "k"], b"$-1\r\n");
    expect(&mut c, &["SELECT", "15"], b"+OK\r\n");
    expect(
        &mut c,
        &["SELECT", "16"],
        b"-ERR DB index is out of range\r\n",
    );
    expect(
        &mut c,
        &["SELECT", "-1"],
        b"-ERR DB index is out of range\r\n",
    );
    expect(
        &mut c,
        &["SELECT", "abc"],
        b"-ERR value is not an integer or out of range\r\n",
    );
    // A failed SELECT keeps the current database.
    expect(&mut c, &["SET", "in15", "1"], b"+OK\r\n");
    expect(&mut c, &["DBSIZE"], b":1\r\n");
    // Keyspace info lists both non-empty databases.
    let reply = cmd(&mut c, &["INFO", "keyspace"]);
    let text = String::from_utf8_lossy(string_value(&reply).unwrap()).into_owned();
    assert!(
        text.contains("db1:keys=2,expires=0"),
        "INFO keyspace: {text}"
    );
    assert!(
        text.contains("db15:keys=1,expires=0"),
        "INFO keyspace: {text}"
    );
    assert!(!text.contains("db0:"), "INFO keyspace: {text}");
}

#[test]
fn config_file_sets_databases_and_port() {
    let conf = "# test config\nport {port}\nbind 127.0.0.1\n\ndatabases 4\ntimeout 0\n";
    let srv = ConfServer::start(conf, &[]);
    let mut c = srv.connect();
    expect(&mut c, &["SELECT", "3"], b"+OK\r\n");
    expect(
        &mut c,
        &["SELECT", "4"],
        b"-ERR DB index is out of range\r\n",
    );
    expect(
        &mut c,
        &["CONFIG", "GET", "databases"],
        b"*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
    );
    let port = srv.port.to_string();
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "port"]),
        common::encode_command(&["port", &port])
    );
    drop(c);
    drop(srv);
    // Command-line directives override the file.
    let srv = ConfServer::start(conf, &["--databases", "8"]);
    let mut c = srv.connect();
    expect(&mut c, &["SELECT", "7"], b"+OK\r\n");
    expect(
        &mut c,
        &["SELECT", "8"],
        b"-ERR DB index is out of range\r\n",
    );
}

#[test]
fn config_file_errors_stop_the_server() {
    let dir = common::unique_temp_dir("integration-badconf");
    let path = dir.join("bad.conf");
    std::fs::write(
        &path,
        "port 0\nbind 127.0.0.1\nno-such-directive yes\ntimeout 0\n",
    )
    .unwrap();
    let (status, out) = run_to_exit(&[path.to_str().unwrap()]);
    assert!(!status.success(), "exit status {status}; output:\n{out}");
    assert!(
        out.contains("line 3"),
        "the message must name the line: {out}"
    );
    assert!(out.contains("no-such-directive yes"), "output: {out}");
    assert!(
        out.contains("Bad directive or wrong number of arguments"),
        "output: {out}"
    );
    // A bad value names its line too.
    std::fs::write(&path, "port 0\ndatabases many\n").unwrap();
    let (status, out) = run_to_exit(&[path.to_str().unwrap()]);
    assert!(!status.success(), "exit status {status}; output:\n{out}");
    assert!(out.contains("line 2"), "output: {out}");
    // A missing file and an unknown command-line directive.
    let missing = dir.join("missing.conf");
    let (status, out) = run_to_exit(&[missing.to_str().unwrap()]);
    assert!(!status.success(), "exit status {status}; output:\n{out}");
    let (status, out) = run_to_exit(&["--port", "0", "--no-such-directive", "1"]);
    assert!(!status.success(), "exit status {status}; output:\n{out}");
    assert!(out.contains("no-such-directive"), "output: {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// 2. Expiry
// ---------------------------------------------------------------------------------------------

#[test]
fn unread_key_expires_actively() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    expect(&mut c, &["SET", "stays", "1"], b"+OK\r\n");
    expect(&mut c, &["SET", "goes", "1", "PX", "100"], b"+OK\r\n");
    // Another database, and a TTL added after the SET.
    expect(&mut c, &["SELECT", "9"], b"+OK\r\n");
    expect(&mut c, &["SET", "goes9", "1"], b"+OK\r\n");
    expect(&mut c, &["PEXPIRE", "goes9", "100"], b":1\r\n");
    expect(&mut c, &["SELECT", "0"], b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_millis(100);
    let ks = info_field(&mut c, "keyspace", "db0").unwrap_or_default();
    assert!(
        ks.starts_with("keys=2,expires=1,"),
        "INFO keyspace db0: {ks}"
    );
    assert_eq!(
        info_field(&mut c, "stats", "expired_keys").as_deref(),
        Some("0")
    );
    // Nobody reads them: only active expiry can remove them. expired_keys counts deletions.
    let gone = wait_until(Duration::from_secs(3), || {
        info_field(&mut c, "stats", "expired_keys").as_deref() == Some("2")
    });
    let at = Instant::now();
    assert!(
        gone,
        "keys with a 100 ms TTL that nobody reads were not expired (expired_keys: {:?})",
        info_field(&mut c, "stats", "expired_keys")
    );
    assert!(
        at <= deadline + Duration::from_millis(500),
        "expired {:?} after its deadline (more than 500 ms)",
        at - deadline
    );
    assert_eq!(dbsize(&mut c), 1);
    let ks = info_field(&mut c, "keyspace", "db0").unwrap_or_default();
    assert!(
        ks.starts_with("keys=1,expires=0,"),
        "INFO keyspace db0: {ks}"
    );
    assert_eq!(info_field(&mut c, "keyspace", "db9"), None);
    expect(&mut c, &["GET", "stays"], b"$1\r\n1\r\n");
}

#[test]
fn ten_thousand_short_ttl_keys_expire_actively() {
    let srv = start_server(&[]);
    let mut c = srv.connect();
    expect(&mut c, &["SET", "persistent", "1"], b"+OK\r\n");
    let n = 10_000;
    let mut input = Vec::new();
    for i in 0..n {
        let ttl = 50 + (i % 200); // 50..250 ms
        input.extend(common::encode_command(&[
            "SET".to_string(),
            format!("ttl:{i}"),
            "x".to_string(),
            "PX".to_string(),
            ttl.to_string(),
        ]));
    }
    c.send_raw(&input).unwrap();
    for i in 0..n {
        let r = c.read_reply().unwrap();
        assert_eq!(r, b"+OK\r\n", "reply to SET #{i}");
    }
    let last_deadline = Instant::now() + Duration::from_millis(250);
    let all_gone = wait_until(Duration::from_secs(5), || {
        info_field(&mut c, "stats", "expired_keys").as_deref() == Some("10000")
    });
    let at = Instant::now();
    let expired = info_field(&mut c, "stats", "expired_keys");
    assert!(
        all_gone,
        "only {expired:?} of {n} unread keys expired within 5 s"
    );
    assert!(
        at <= last_deadline + Duration::from_millis(1000),
        "the last of {n} keys expired {:?} after the last deadline",
        at.saturating_duration_since(last_deadline)
    );
    assert_eq!(dbsize(&mut c), 1);
}

#[test]
fn pipelined_command_after_a_deadline_sees_the_key_expired() {
    // Redis reads the clock for every command (outside MULTI/EXEC and scripts), so in the
    // pipeline SET k v PX 1 / <slow command> / GET k the GET runs well after k's deadline and
    // finds nothing. A clock read once per batch of pipelined commands would still see k.
    let srv = start_server(&[]);
    let mut c = srv.connect();
    let mut fill = Vec::new();
    for batch in 0..100 {
        let mut args = vec!["MSET".to_string()];
        for j in 0..1000 {
            args.push(format!("filler:{batch}:{j}"));
            args.push("x".into());
        }
        fill.extend(common::encode_command(&args));
    }
    c.send_raw(&fill).unwrap();
    for _ in 0..100 {
        assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
    }
    drop(c);
    // A raw socket: the KEYS reply is large, only its end matters.
    let mut s = raw_connect(srv.addr());
    let mut conclusive = 0;
    for trial in 0..3 {
        let started = Instant::now();
        s.write_all(b"SET k v PX 1\r\nKEYS *\r\nGET k\r\n").unwrap();
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 1 << 20];
        let deadline = started + Duration::from_secs(20);
        // No key is named "v", and "$-1" cannot be an element of KEYS: both suffixes can only be
        // GET's reply.
        while !(got.ends_with(b"\r\n$-1\r\n") || got.ends_with(b"\r\n$1\r\nv\r\n")) {
            assert!(
                Instant::now() < deadline,
                "trial {trial}: no reply to GET k"
            );
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let n = s.read(&mut chunk).expect("reading the pipeline's replies");
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&chunk[..n]);
        }
        let elapsed = started.elapsed();
        // KEYS lists k only if it started within k's millisecond (KEYS skips
        // expired keys, as in Redis), so either count is right.
        assert!(
            got.starts_with(b"+OK\r\n*100001\r\n") || got.starts_with(b"+OK\r\n*100000\r\n"),
            "trial {trial}"
        );
        // KEYS over 100k keys takes far longer than k's 1 ms TTL; be sure it did.
        if elapsed >= Duration::from_millis(20) {
            conclusive += 1;
            assert!(
                got.ends_with(b"\r\n$-1\r\n"),
                "trial {trial}: GET k ran after KEYS * (pipeline took {elapsed:?}) but still saw \
                 the value of a key SET with PX 1 before KEYS"
            );
        }
    }
    assert!(conclusive > 0, "KEYS * of 100k keys was too fast to tell");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_never_see_a_value_after_its_deadline() {
    let srv = start_server(&[]);
    let addr = srv.addr();
    let result = tokio::time::timeout(Duration::from_secs(20), async move {
        const KEYS: usize = 40;
        // margin for ms rounding and clock differences between client and server
        let margin = Duration::from_millis(5);
        let mut setter = AsyncRespConn::connect(addr).await.unwrap();
        // Per key: the window [earliest, latest] in which its deadline falls, as Instants.
        let mut windows = Vec::with_capacity(KEYS);
        for i in 0..KEYS {
            let key = format!("ex:{i}");
            let value = format!("v{i}");
            let ttl = 150 + 25 * i as u64; // 150 .. 1125 ms
            if i % 2 == 0 {
                let before = Instant::now();
                let r = setter
                    .command(&["SET", &key, &value, "PX", &ttl.to_string()])
                    .await
                    .unwrap();
                let after = Instant::now();
                assert_eq!(r, b"+OK\r\n");
                windows.push((
                    before + Duration::from_millis(ttl),
                    after + Duration::from_millis(ttl),
                ));
            } else {
                // Absolute unix-ms deadline: expired once the server clock passes it.
                let at_ms = unix_ms_now() + ttl as i64;
                let r = setter
                    .command(&["SET", &key, &value, "PXAT", &at_ms.to_string()])
                    .await
                    .unwrap();
                assert_eq!(r, b"+OK\r\n");
                let now_ms = unix_ms_now();
                let now = Instant::now();
                let at = now + Duration::from_millis((at_ms - now_ms).max(0) as u64);
                windows.push((at, at + Duration::from_millis(1)));
            }
        }
        let windows = std::sync::Arc::new(windows);
        let stop = Instant::now() + Duration::from_millis(1500);
        let mut tasks = Vec::new();
        for r in 0..4 {
            let windows = windows.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = AsyncRespConn::connect(addr).await.unwrap();
                let (mut after_deadline, mut before_deadline) = (0u64, 0u64);
                let mut i = r;
                while Instant::now() < stop {
                    let k = i % KEYS;
                    i += 1;
                    let key = format!("ex:{k}");
                    let started = Instant::now();
                    let reply = c.command(&["GET", &key]).await.unwrap();
                    let finished = Instant::now();
                    let (earliest, latest) = windows[k];
                    if started > latest + margin {
                        after_deadline += 1;
                        assert_eq!(
                            escape(&reply),
                            escape(b"$-1\r\n"),
                            "GET {key} started {:?} after its deadline and saw a value",
                            started - latest
                        );
                    } else if finished + margin < earliest {
                        before_deadline += 1;
                        assert_eq!(
                            escape(&reply),
                            escape(&bulk(format!("v{k}").as_bytes())),
                            "GET {key} finished {:?} before its deadline and missed the value",
                            earliest - finished
                        );
                    }
                }
                (after_deadline, before_deadline)
            }));
        }
        let (mut after, mut before) = (0, 0);
        for t in tasks {
            let (a, b) = t.await.unwrap();
            after += a;
            before += b;
        }
        // The test is only meaningful if both sides of the deadlines were observed often.
        assert!(after > 200, "only {after} GETs after deadlines");
        assert!(before > 200, "only {before} GETs before deadlines");
    })
    .await;
    result.expect("the test took longer than 20 s");
    drop(srv);
}

// ---------------------------------------------------------------------------------------------
// 4. The `redis` crate, unchanged
// ---------------------------------------------------------------------------------------------

fn redis_url(srv: &ServerProcess, db: u32, resp3: bool) -> String {
    format!(
        "redis://127.0.0.1:{}/{db}{}",
        srv.port(),
        if resp3 { "?protocol=resp3" } else { "" }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_typed_commands() {
    use redis::AsyncCommands;
    let srv = start_server(&[]);
    for resp3 in [false, true] {
        let client = redis::Client::open(redis_url(&srv, 0, resp3)).unwrap();
        let mut con = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .expect("connect timed out")
        .unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
        let _: () = con.set("n", 42i64).await.unwrap();
        let n: i64 = con.get("n").await.unwrap();
        assert_eq!(n, 42);
        let s: String = con.get("n").await.unwrap();
        assert_eq!(s, "42");
        let missing: Option<String> = con.get("missing").await.unwrap();
        assert_eq!(missing, None);
        let binary = vec![0u8, 255, 13, 10, 1];
        let _: () = con.set("bin", &binary).await.unwrap();
        let back: Vec<u8> = con.get("bin").await.unwrap();
        assert_eq!(back, binary);
        let v: i64 = con.incr("n", 8).await.unwrap();
        assert_eq!(v, 50);
        let _: () = con.set_ex("ttl", "x", 100).await.unwrap();
        let ttl: i64 = con.ttl("ttl").await.unwrap();
        assert!((99..=100).contains(&ttl), "TTL {ttl}");
        let _: () = con.mset(&[("m1", "a"), ("m2", "b")]).await.unwrap();
        let got: Vec<Option<String>> = con.mget(&["m1", "nope", "m2"]).await.unwrap();
        assert_eq!(got, vec![Some("a".into()), None, Some("b".into())]);
        let existed: bool = con.exists("m1").await.unwrap();
        assert!(existed);
        let deleted: i64 = con.del(&["m1", "m2", "nope"]).await.unwrap();
        assert_eq!(deleted, 2);
        // Server errors surface as typed errors.
        let _: () = con.set("text", "abc").await.unwrap();
        let err = con.incr::<_, _, i64>("text", 1).await.unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "error: {err}");
        assert!(
            err.to_string()
                .contains("value is not an integer or out of range"),
            "error: {err}"
        );
        // A multiplexed connection shared by many tasks at once.
        let mut tasks = Vec::new();
        for t in 0..16 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    let key = format!("mux:{t}:{i}");
                    let _: () = con.set(&key, i).await.unwrap();
                    let v: i64 = con.get(&key).await.unwrap();
                    assert_eq!(v, i);
                    let _: i64 = con.incr("mux:total", 1).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let total: i64 = con.get("mux:total").await.unwrap();
        assert_eq!(total, 16 * 50);
    }
    // A database chosen in the URL.
    let client = redis::Client::open(redis_url(&srv, 2, false)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = con.set("in-db2", "yes").await.unwrap();
    let mut raw = srv.connect();
    expect(&mut raw, &["SELECT", "2"], b"+OK\r\n");
    expect(&mut raw, &["GET", "in-db2"], b"$3\r\nyes\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_pipelines_and_transactions() {
    let srv = start_server(&[]);
    for resp3 in [false, true] {
        let client = redis::Client::open(redis_url(&srv, 0, resp3)).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
        // A plain pipeline with ignored and typed results.
        let (a, b, missing): (String, i64, Option<String>) = redis::pipe()
            .set("a", "alpha")
            .ignore()
            .set("b", 1)
            .ignore()
            .get("a")
            .incr("b", 41)
            .get("nope")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((a.as_str(), b, missing), ("alpha", 42, None));
        // A big pipeline.
        let mut p = redis::pipe();
        for i in 0..500 {
            p.set(format!("pk:{i}"), i).ignore();
        }
        for i in 0..500 {
            p.get(format!("pk:{i}"));
        }
        let values: Vec<i64> = p.query_async(&mut con).await.unwrap();
        assert_eq!(values, (0..500).collect::<Vec<_>>());
        // MULTI/EXEC through pipe().atomic().
        let (x, y, z): (i64, i64, String) = redis::pipe()
            .atomic()
            .incr("tx", 1)
            .incr("tx", 10)
            .set("tx-s", "done")
            .ignore()
            .get("tx-s")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((x, y, z.as_str()), (1, 11, "done"));
        // An error inside EXEC is reported for that command only; the rest is applied.
        let res: redis::RedisResult<(i64, i64)> = redis::pipe()
            .atomic()
            .set("str", "abc")
            .ignore()
            .incr("str", 1)
            .incr("tx", 1)
            .query_async(&mut con)
            .await;
        assert!(res.is_err(), "INCR of a string inside EXEC must fail");
        let tx: i64 = redis::cmd("GET")
            .arg("tx")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(tx, 12);
        // Concurrent atomic pipelines from many tasks: each sees consecutive values.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    let (first, second): (i64, i64) = redis::pipe()
                        .atomic()
                        .incr("pair", 1)
                        .incr("pair", 1)
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    assert_eq!(second, first + 1, "a transaction was interleaved");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let pair: i64 = redis::cmd("GET")
            .arg("pair")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(pair, 8 * 25 * 2);
    }
}

#[test]
fn redis_crate_sync_watch_transactions() {
    // redis::transaction: WATCH, read, MULTI/EXEC, retried until EXEC succeeds.
    let srv = start_server(&[]);
    let url = redis_url(&srv, 0, false);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let client = redis::Client::open(url).unwrap();
                let mut con = client
                    .get_connection_with_timeout(Duration::from_secs(5))
                    .unwrap();
                con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut attempts = 0;
                for _ in 0..50 {
                    let _: i64 = redis::transaction(&mut con, &["sync:ctr"], |con, pipe| {
                        attempts += 1;
                        assert!(attempts < 10_000, "too many retries");
                        let v: Option<i64> = redis::cmd("GET").arg("sync:ctr").query(con)?;
                        pipe.set("sync:ctr", v.unwrap_or(0) + 1)
                            .ignore()
                            .get("sync:ctr")
                            .query(con)
                            .map(|r: Option<(i64,)>| r.map(|(x,)| x))
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = srv.connect();
    expect(&mut c, &["GET", "sync:ctr"], b"$3\r\n200\r\n");
}
