//! The edges of the wire protocol against the real redis-server 7.0, over raw sockets: the
//! "Protocol error" replies and whether the connection is closed after them, inline commands
//! up to Redis's size limit and beyond, malformed multibulk headers, the limits before
//! authentication, HELLO's negotiation errors, and bulk arguments up to `proto-max-bulk-len`
//! arriving over many small reads. The bytes each server sends back (until it closes or goes
//! quiet) must be identical.

#[path = "common/mod.rs"]
mod common;

use common::ServerProcess;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What a server answered to some raw bytes: everything it sent, and whether it closed.
#[derive(Debug, PartialEq)]
struct Answer {
    bytes: String,
    closed: bool,
}

/// Sends `chunks` (pausing between them so they arrive as separate reads), then reads until
/// the server closes the connection or sends nothing for `quiet`.
fn exchange(server: &ServerProcess, chunks: &[Vec<u8>], quiet: Duration) -> Answer {
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    s.set_nodelay(true).ok();
    for (i, c) in chunks.iter().enumerate() {
        // The server may close before the whole input is sent (a protocol error).
        if s.write_all(c).is_err() {
            break;
        }
        if i + 1 < chunks.len() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    s.set_read_timeout(Some(quiet)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(30);
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
        assert!(Instant::now() < deadline, "endless reply");
    };
    Answer {
        bytes: common::escape(&got),
        closed,
    }
}

fn one(bytes: &[u8]) -> Vec<Vec<u8>> {
    vec![bytes.to_vec()]
}

/// Splits `bytes` into reads of `size` bytes.
fn pieces(bytes: &[u8], size: usize) -> Vec<Vec<u8>> {
    bytes.chunks(size).map(<[u8]>::to_vec).collect()
}

/// HELLO's reply carries the client id, which differs between servers: masked.
fn mask_ids(s: &str) -> String {
    let mut out = s.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("$2\\r\\nid\\r\\n:").map(|i| i + from) {
        let digits = at + "$2\\r\\nid\\r\\n:".len();
        let end = out[digits..].find('\\').map_or(out.len(), |e| digits + e);
        out.replace_range(digits..end, "ID");
        from = digits;
    }
    out
}

fn compare(redis: &ServerProcess, ember: &ServerProcess, name: &str, chunks: &[Vec<u8>]) {
    let quiet = Duration::from_millis(300);
    let mut a = exchange(redis, chunks, quiet);
    let mut b = exchange(ember, chunks, quiet);
    a.bytes = mask_ids(&a.bytes);
    b.bytes = mask_ids(&b.bytes);
    assert_eq!(a, b, "{name}: redis (left) vs ember (right)");
}

#[test]
fn protocol_errors_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let big_inline = {
        let mut v = b"SET k ".to_vec();
        v.resize(64 * 1024 + 10, b'x');
        v
    };
    let inline_at_limit = {
        let mut v = b"ECHO ".to_vec();
        v.resize(64 * 1024 - 2, b'y');
        v.extend_from_slice(b"\r\n");
        v
    };
    let big_header = {
        let mut v = b"*1".to_vec();
        v.resize(64 * 1024 + 10, b'1');
        v
    };
    let big_bulk_header = {
        let mut v = b"*1\r\n$1".to_vec();
        v.resize(64 * 1024 + 10, b'1');
        v
    };
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("inline ok", one(b"PING\r\nECHO hello\nSET a \"b c\"\r\nGET a\r\n")),
        ("inline quotes", one(b"ECHO \"a\\x41\\n\" 'it\\'s'\r\n")),
        ("unbalanced quotes", one(b"PING\r\nECHO \"abc\r\nPING\r\n")),
        ("closing quote then text", one(b"ECHO \"abc\"def\r\n")),
        ("empty lines", one(b"\r\n\n   \r\nPING\r\n")),
        ("inline too big", pieces(&big_inline, 4096)),
        ("inline just under the limit", pieces(&inline_at_limit, 4096)),
        ("inline NUL", one(b"ECHO a\x00b\r\nPING\r\n")),
        ("multibulk count not a number", one(b"*abc\r\n")),
        ("multibulk count too big", one(b"*4294967296\r\n")),
        ("multibulk negative count", one(b"*-5\r\nPING\r\n")),
        ("multibulk zero count", one(b"*0\r\nPING\r\n")),
        ("expected dollar", one(b"*1\r\nPING\r\n")),
        ("expected dollar after args", one(b"*2\r\n$4\r\nECHO\r\n:5\r\n")),
        ("bulk length not a number", one(b"*1\r\n$x\r\n")),
        ("bulk length negative", one(b"*1\r\n$-1\r\n")),
        ("bulk length too big", one(b"*1\r\n$536870913\r\n")),
        ("mbulk header too long", pieces(&big_header, 8192)),
        ("bulk header too long", pieces(&big_bulk_header, 8192)),
        ("good command before a bad one", one(b"*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n")),
        ("bulk without CRLF after payload", one(b"*2\r\n$4\r\nECHO\r\n$3\r\nabcXY*1\r\n$4\r\nPING\r\n")),
        ("byte by byte", pieces(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 1)),
        ("hello errors", one(b"HELLO 4\r\nHELLO abc\r\nHELLO 1\r\nHELLO 3 bogus\r\nHELLO 3 AUTH\r\nHELLO 3 SETNAME\r\nHELLO 2 SETNAME \"a b\"\r\nHELLO 3 AUTH default wrong extra\r\nPING\r\n")),
        ("hello auth without password", one(b"HELLO 2 AUTH nosuchuser pw\r\nHELLO 2 AUTH default anything\r\n")),
        ("hello then resp3 replies", one(b"HELLO 3 SETNAME x\r\nHGETALL nokey\r\nCLIENT GETNAME\r\nHELLO 2\r\n")),
    ];
    for (name, chunks) in &cases {
        compare(&redis, &ember, name, chunks);
    }
}

/// Before AUTH, Redis refuses big multibulk counts and bulk lengths (CVE-2021-32675).
#[test]
fn unauthenticated_limits_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    for s in [&redis, &ember] {
        let mut c = s.connect();
        c.send(&["CONFIG", "SET", "requirepass", "secret"])
            .expect("send");
        assert_eq!(c.read_reply().expect("reply"), b"+OK\r\n");
    }
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("count 10 is fine", one(b"*10\r\n$4\r\nPING\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n")),
        ("count 11", one(b"*11\r\n")),
        ("bulk 16384 is fine", one(b"*1\r\n$16384\r\n")),
        ("bulk 16385", one(b"*1\r\n$16385\r\n")),
        ("after auth", one(b"AUTH secret\r\n*11\r\n$4\r\nPING\r\n")),
    ];
    for (name, chunks) in &cases {
        compare(&redis, &ember, name, chunks);
    }
}

/// A bulk argument far larger than one read, in many small reads, and `proto-max-bulk-len`.
#[test]
fn big_bulk_arguments_match_redis() {
    let conf = [("proto-max-bulk-len", "33554432")];
    let redis = ServerProcess::start_redis(&conf);
    let ember = ServerProcess::start_ember(&conf);
    let size = 32 * 1024 * 1024;
    let mut req = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${size}\r\n").into_bytes();
    let start = req.len();
    req.resize(start + size, 0);
    for (i, b) in req[start..].iter_mut().enumerate() {
        *b = b'a' + (i % 26) as u8;
    }
    req.extend_from_slice(b"\r\n*2\r\n$6\r\nSTRLEN\r\n$3\r\nbig\r\n*4\r\n$8\r\nGETRANGE\r\n$3\r\nbig\r\n$8\r\n33554400\r\n$2\r\n-1\r\n");
    let chunks = pieces(&req, 1 << 20);
    compare(&redis, &ember, "32 MB in 1 MB reads", &chunks);
    // One byte over the limit is refused as an invalid bulk length.
    let over = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", size + 1).into_bytes();
    compare(&redis, &ember, "over proto-max-bulk-len", &one(&over));
    // The limit follows CONFIG SET.
    let set =
        b"CONFIG SET proto-max-bulk-len 1048576\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n"
            .to_vec();
    compare(&redis, &ember, "after CONFIG SET", &one(&set));
}
