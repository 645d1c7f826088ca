//! Shared utilities for Ember's integration tests.
//!
//! - [`free_port`]: a free loopback TCP port.
//! - [`ServerProcess`]: an `ember-server` or `redis-server` child process on a loopback port,
//!   started and waited for (it answers PING), killed and cleaned up on drop.
//! - [`RespConn`] (blocking, std) and [`AsyncRespConn`] (tokio): a tiny raw RESP client that sends
//!   one command as a RESP array and reads exactly one complete reply, returned as its raw bytes.
//!   Reply boundaries come from the `redis-protocol` crate's RESP2 or RESP3 decoder, whichever
//!   the connection speaks (switch with [`RespConn::set_protocol`] around `HELLO 3`/`RESET`).
//! - [`Rng`]: the model tests' seeded PRNG.
//! - [`shared`] / [`exclusive`]: a per-binary lock so that the tests that measure time run alone.
//! - RESP helpers: [`encode_command`], [`frame_len`], [`split_aggregate`], [`integer_value`],
//!   [`string_value`], [`escape`].
//!
//! Every test binary includes this file with `#[path = "common/mod.rs"] mod common;` and uses
//! only part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Default time allowed for one complete reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Timing lock
// ---------------------------------------------------------------------------------------------

static TIMING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by every test of a binary that does not measure time.
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    TIMING.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by the tests that measure time: nothing else of the same binary runs meanwhile.
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    TIMING.write().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Ports and processes
// ---------------------------------------------------------------------------------------------

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, release it).
/// Another process may take it before our server binds it; [`ServerProcess`] retries on that.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the local address of a bound socket: {e}"))
        .port()
}

/// Path of the `ember-server` binary Cargo built for this test run.
pub fn ember_server_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ember-server"))
}

/// Path of `redis-server`: `$REDIS_SERVER` if set, else the first one on `PATH`.
/// Panics with instructions if there is none: the tests that need it must run, never skip.
pub fn redis_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return p;
        }
        panic!("REDIS_SERVER={} is not a file", p.display());
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("redis-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "redis-server was not found on PATH. The differential tests compare Ember with the real \
         Redis and must not be skipped: install it (Debian: `apt-get install -y redis-server`) \
         or point REDIS_SERVER at the binary."
    );
}

/// Which server a [`ServerProcess`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Ember,
    Redis,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Ember => "ember-server",
            ServerKind::Redis => "redis-server",
        }
    }
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system temp dir, unique to this process and call.
pub fn unique_temp_dir(tag: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ember-test-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create temp dir {}: {e}", dir.display()));
    dir
}

/// A server child process listening on 127.0.0.1. Killed (and its temp dir removed) on drop.
pub struct ServerProcess {
    kind: ServerKind,
    child: Child,
    port: u16,
    dir: PathBuf,
    extra: Vec<(String, String)>,
}

impl ServerProcess {
    /// Start `ember-server --port P --bind 127.0.0.1 [--directive value ...]` and wait until it
    /// answers PING. Its working directory is a fresh temp dir.
    pub fn start_ember(extra: &[(&str, &str)]) -> ServerProcess {
        Self::start(ServerKind::Ember, extra)
    }

    /// Start Debian's `redis-server` with no persistence, in the foreground, in a temp `--dir`,
    /// and wait until it answers PING.
    pub fn start_redis(extra: &[(&str, &str)]) -> ServerProcess {
        Self::start(ServerKind::Redis, extra)
    }

    pub fn start(kind: ServerKind, extra: &[(&str, &str)]) -> ServerProcess {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The port may be taken between free_port() and the server's bind: retry a few times.
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            match Self::try_start(kind, &extra) {
                Ok(server) => return server,
                Err(StartError::PortInUse(output)) => last_failure = output,
                Err(StartError::Fatal(message)) => panic!("{message}"),
            }
        }
        panic!(
            "{} could not bind a free port after 5 attempts; its last output:\n{last_failure}",
            kind.name()
        );
    }

    fn try_start(
        kind: ServerKind,
        extra: &[(String, String)],
    ) -> Result<ServerProcess, StartError> {
        Self::try_start_at(kind, extra, free_port(), unique_temp_dir(kind.name()))
    }

    fn try_start_at(
        kind: ServerKind,
        extra: &[(String, String)],
        port: u16,
        dir: PathBuf,
    ) -> Result<ServerProcess, StartError> {
        let program = match kind {
            ServerKind::Ember => ember_server_path(),
            ServerKind::Redis => redis_server_path(),
        };
        let mut cmd = Command::new(&program);
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1");
        // Both servers start without save points or AOF, in their own
        // directory: a test that wants persistence asks for it in `extra`
        // (a later `--save` adds to the cleared list, as in Redis), and no
        // server writes or loads a dump.rdb left in the working directory.
        cmd.args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir);
        for (k, v) in extra {
            let k = if k.starts_with("--") {
                k.clone()
            } else {
                format!("--{k}")
            };
            cmd.arg(k).arg(v);
        }
        let out = open_log(&dir, "stdout.log");
        let err = open_log(&dir, "stderr.log");
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().map_err(|e| {
            StartError::Fatal(format!(
                "cannot start {} ({}): {e}",
                kind.name(),
                program.display()
            ))
        })?;
        let mut server = ServerProcess {
            kind,
            child,
            port,
            dir,
            extra: extra.to_vec(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Poll until the server answers `+PONG` to PING, it exits, or [`STARTUP_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last_error;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let output = self.output();
                let lower = output.to_lowercase();
                if lower.contains("address already in use") || lower.contains("addrinuse") {
                    return Err(StartError::PortInUse(output));
                }
                return Err(StartError::Fatal(format!(
                    "{} exited during startup ({status}) on port {}; its output:\n{output}",
                    self.kind.name(),
                    self.port
                )));
            }
            match self.ping_once() {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(StartError::Fatal(format!(
                    "{} did not answer PING on 127.0.0.1:{} within {:?} (last attempt: {last_error}); \
                     its output:\n{}",
                    self.kind.name(),
                    self.port,
                    STARTUP_TIMEOUT,
                    self.output()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn ping_once(&self) -> Result<(), String> {
        let mut conn = RespConn::connect_timeout(self.addr(), Duration::from_millis(500))
            .map_err(|e| format!("connect: {e}"))?;
        conn.set_timeout(Duration::from_secs(1));
        let reply = conn.command(&["PING"]).map_err(|e| format!("PING: {e}"))?;
        if reply != b"+PONG\r\n" {
            return Err(format!("PING replied {}", escape(&reply)));
        }
        // The port was free when picked, but another test's server may have
        // taken it since: then our child fails to bind while the other one
        // answers. Only our own process counts as ready.
        let info = conn
            .command(&["INFO", "server"])
            .map_err(|e| format!("INFO: {e}"))?;
        let text = String::from_utf8_lossy(&info);
        let pid = text
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|p| p.trim().parse::<u32>().ok());
        match pid {
            Some(pid) if pid != self.child.id() => Err(format!(
                "port {} answered by another process (pid {pid})",
                self.port
            )),
            _ => Ok(()),
        }
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's working directory (a temp dir removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new blocking RESP2 connection to this server, with [`REPLY_TIMEOUT`].
    pub fn connect(&self) -> RespConn {
        RespConn::connect(self.addr()).unwrap_or_else(|e| {
            panic!(
                "cannot connect to {} on {}: {e}; its output:\n{}",
                self.kind.name(),
                self.addr(),
                self.output()
            )
        })
    }

    /// True while the child process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the server printed so far (stdout then stderr), trimmed to the last 8 KiB of
    /// each.
    pub fn output(&self) -> String {
        let mut s = String::new();
        for name in ["stdout.log", "stderr.log"] {
            let text = fs::read(self.dir.join(name)).unwrap_or_default();
            let start = text.len().saturating_sub(8192);
            let text = String::from_utf8_lossy(&text[start..]);
            if !text.trim().is_empty() {
                s.push_str(&format!("--- {} {name} ---\n{text}\n", self.kind.name()));
            }
        }
        if s.is_empty() {
            s.push_str("(no output)\n");
        }
        s
    }

    /// Kill the process (if still running) and start the same kind of server again with the same
    /// directives, on a new port.
    pub fn restart(&mut self) {
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let fresh = ServerProcess::start(self.kind, &extra);
        // The old value is dropped here: killed, waited for, its dir removed.
        *self = fresh;
    }

    /// Kills the process with SIGKILL (a crash) and waits for it; its
    /// directory stays, for [`ServerProcess::restart_in_place`].
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit (after a SHUTDOWN), killing it after
    /// `timeout`, then starts the same server again on the same port, in the
    /// same directory (its files kept): a restart as its users see it. Logs
    /// are appended to.
    pub fn restart_in_place(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut last = String::new();
        // The port was ours a moment ago; another process may still take it.
        for _ in 0..50 {
            match Self::try_start_at(self.kind, &self.extra, self.port, self.dir.clone()) {
                Ok(fresh) => {
                    let old = std::mem::replace(self, fresh);
                    // Keep the directory: it is the new process's too.
                    std::mem::forget(old);
                    return;
                }
                Err(StartError::PortInUse(o)) => last = o,
                Err(StartError::Fatal(m)) => panic!("{m}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{} could not bind its port again: {last}", self.kind.name());
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

enum StartError {
    PortInUse(String),
    Fatal(String),
}

fn open_log(dir: &Path, name: &str) -> fs::File {
    let path = dir.join(name);
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// RESP helpers
// ---------------------------------------------------------------------------------------------

/// The protocol a connection speaks; decides which decoder finds reply boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Resp2,
    Resp3,
}

/// Encode a command as a RESP array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length of the complete frame at the start of `buf`, `Ok(None)` if more bytes are needed, or
/// an error if the bytes are not valid RESP for `proto`.
pub fn frame_len(buf: &[u8], proto: Protocol) -> Result<Option<usize>, String> {
    if buf.is_empty() {
        return Ok(None);
    }
    let decoded = match proto {
        Protocol::Resp2 => redis_protocol::resp2::decode::decode_range(buf)
            .map(|r| r.map(|(_, n)| n))
            .map_err(|e| format!("{e:?}")),
        Protocol::Resp3 => redis_protocol::resp3::decode::complete::decode_range(buf)
            .map(|r| r.map(|(_, n)| n))
            .map_err(|e| format!("{e:?}")),
    };
    match decoded {
        Ok(Some(0)) => Err("decoder consumed zero bytes".to_string()),
        // redis-protocol's RESP3 decoder refuses sets and map keys that hold aggregates (Redis
        // sends those, e.g. the key specs in COMMAND INFO): measure such frames by structure.
        Err(e) if proto == Protocol::Resp3 => match resp3_structural_len(buf, 0) {
            Ok(Some(n)) => Ok(Some(n)),
            Ok(None) => Ok(None),
            Err(_) => Err(e),
        },
        other => other,
    }
}

/// Length of the RESP3 frame at `buf[pos..]` by structure alone (type byte, lengths, CRLFs);
/// `Ok(None)` if incomplete.
fn resp3_structural_len(buf: &[u8], pos: usize) -> Result<Option<usize>, String> {
    fn line_end(buf: &[u8], from: usize) -> Option<usize> {
        buf.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    }
    fn number(buf: &[u8], from: usize, to: usize) -> Result<i64, String> {
        std::str::from_utf8(&buf[from..to])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad length {}", escape(&buf[from..to])))
    }
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(eol) = line_end(buf, pos + 1) else {
        return Ok(None);
    };
    let after_line = eol + 2;
    match kind {
        b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => Ok(Some(after_line - pos)),
        b'$' | b'!' | b'=' => {
            let len = number(buf, pos + 1, eol)?;
            if len < 0 {
                return Ok(Some(after_line - pos));
            }
            let end = after_line + len as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err("blob not followed by CRLF".into());
            }
            Ok(Some(end - pos))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = number(buf, pos + 1, eol)?;
            let mut at = after_line;
            if n > 0 {
                let count = if matches!(kind, b'%' | b'|') {
                    2 * n
                } else {
                    n
                };
                for _ in 0..count {
                    match resp3_structural_len(buf, at)? {
                        Some(len) => at += len,
                        None => return Ok(None),
                    }
                }
            }
            if kind == b'|' {
                // An attribute is followed by the frame it annotates.
                return Ok(resp3_structural_len(buf, at)?.map(|len| at + len - pos));
            }
            Ok(Some(at - pos))
        }
        other => Err(format!("unknown RESP3 type byte {:?}", other as char)),
    }
}

/// Split a complete aggregate reply (`*` array, `~` set, `%` map, `>` push) into the raw bytes of
/// its elements (a map gives keys and values alternately). `None` for anything else, including
/// null arrays (`*-1`).
pub fn split_aggregate(reply: &[u8], proto: Protocol) -> Option<(u8, Vec<&[u8]>)> {
    let kind = *reply.first()?;
    if !matches!(kind, b'*' | b'~' | b'%' | b'>') {
        return None;
    }
    let header_end = reply.windows(2).position(|w| w == b"\r\n")?;
    let count: i64 = std::str::from_utf8(&reply[1..header_end])
        .ok()?
        .parse()
        .ok()?;
    if count < 0 {
        return None;
    }
    let count = if kind == b'%' { count * 2 } else { count };
    let mut elems = Vec::with_capacity(count as usize);
    let mut pos = header_end + 2;
    for _ in 0..count {
        let len = frame_len(&reply[pos..], proto).ok()??;
        elems.push(&reply[pos..pos + len]);
        pos += len;
    }
    Some((kind, elems))
}

/// The value of an integer reply (`:123\r\n`).
pub fn integer_value(reply: &[u8]) -> Option<i64> {
    let body = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(body).ok()?.parse().ok()
}

/// The payload of a bulk (`$`), simple (`+`) or verbatim (`=`) string reply.
pub fn string_value(reply: &[u8]) -> Option<&[u8]> {
    match reply.first()? {
        b'+' => reply[1..].strip_suffix(b"\r\n"),
        b'$' | b'=' => {
            let header_end = reply.windows(2).position(|w| w == b"\r\n")?;
            let len: usize = std::str::from_utf8(&reply[1..header_end])
                .ok()?
                .parse()
                .ok()?;
            let start = header_end + 2;
            let payload = reply.get(start..start + len)?;
            if reply[0] == b'=' {
                payload.get(4..) // skip "txt:"
            } else {
                Some(payload)
            }
        }
        _ => None,
    }
}

/// True for an error reply (`-ERR ...` or RESP3 `!` blob error).
pub fn is_error(reply: &[u8]) -> bool {
    matches!(reply.first(), Some(b'-' | b'!'))
}

/// Bytes as a double-quoted string with `\r`, `\n`, `\xHH` ... escapes.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &c in bytes {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

// ---------------------------------------------------------------------------------------------
// Blocking RESP client
// ---------------------------------------------------------------------------------------------

/// A blocking raw RESP connection: send a command, read exactly one reply as raw bytes.
pub struct RespConn {
    stream: TcpStream,
    buf: Vec<u8>,
    proto: Protocol,
    timeout: Duration,
    stall_timeout: Option<Duration>,
}

impl RespConn {
    /// Connect with a 2 s connect timeout; replies are waited for up to [`REPLY_TIMEOUT`].
    pub fn connect(addr: SocketAddr) -> io::Result<RespConn> {
        Self::connect_timeout(addr, Duration::from_secs(2))
    }

    pub fn connect_timeout(addr: SocketAddr, connect_timeout: Duration) -> io::Result<RespConn> {
        Self::from_stream(TcpStream::connect_timeout(&addr, connect_timeout)?)
    }

    /// Speaks RESP over a connected socket (an accepted one: a test playing
    /// a server reads the commands sent to it as frames).
    pub fn from_stream(stream: TcpStream) -> io::Result<RespConn> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(RespConn {
            stream,
            buf: Vec::new(),
            proto: Protocol::Resp2,
            timeout: REPLY_TIMEOUT,
            stall_timeout: None,
        })
    }

    /// Give up early on a reply that started but then stopped arriving for `stall` (a server
    /// that announced more elements than it sent), instead of waiting for the whole timeout.
    pub fn set_stall_timeout(&mut self, stall: Option<Duration>) {
        self.stall_timeout = stall;
    }

    /// The time allowed for one whole reply (and for a write).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        let _ = self.stream.set_write_timeout(Some(timeout));
    }

    pub fn protocol(&self) -> Protocol {
        self.proto
    }

    /// Decode replies as RESP2 or RESP3 from now on (after `HELLO 3`, `HELLO 2`, `RESET`).
    pub fn set_protocol(&mut self, proto: Protocol) {
        self.proto = proto;
    }

    /// Send one command as a RESP array.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.send_raw(&encode_command(args))
    }

    /// Send bytes exactly as given (inline commands, pipelines, malformed input ...).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Read exactly one complete reply and return its raw bytes. Bytes after it stay buffered
    /// for the next call. Fails on timeout, EOF or invalid RESP.
    /// Reads one command sent to us, as a server does: the bare newlines a
    /// replica sends as keepalives while it receives an RDB are skipped.
    pub fn read_command(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let skip = self.buf.iter().take_while(|&&b| b == b'\n').count();
            self.buf.drain(..skip);
            if !self.buf.is_empty() {
                return self.read_reply();
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no command"));
            }
            self.stream
                .set_read_timeout(Some(Duration::from_millis(50)))?;
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        let mut last_progress = Instant::now();
        loop {
            match frame_len(&self.buf, self.proto) {
                Ok(Some(n)) => return Ok(self.buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "invalid {:?} reply ({e}); bytes received: {}",
                            self.proto,
                            escape(&self.buf)
                        ),
                    ))
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no complete reply within {:?}; bytes received: {}",
                        self.timeout,
                        escape(&self.buf)
                    ),
                ));
            }
            let mut wait = deadline - now;
            if let (Some(stall), false) = (self.stall_timeout, self.buf.is_empty()) {
                let stall_deadline = last_progress + stall;
                if now >= stall_deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "incomplete reply: nothing more arrived for {stall:?}; bytes received: {}",
                            escape(&self.buf)
                        ),
                    ));
                }
                wait = wait.min(stall_deadline - now);
            }
            self.stream.set_read_timeout(Some(wait))?;
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed before a complete reply; bytes received: {}",
                            escape(&self.buf)
                        ),
                    ))
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    last_progress = Instant::now();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Send one command and read its reply.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Vec<u8>> {
        self.send(args)?;
        self.read_reply()
    }

    /// Wait up to `timeout` for the server to close the connection. True if it did (EOF or
    /// reset) with no further bytes; false if it stayed open or sent more data.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let _ = self.stream.set_read_timeout(Some(timeout));
        let mut chunk = [0u8; 64];
        match self.stream.read(&mut chunk) {
            Ok(0) => true,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            ),
        }
    }

    /// Bytes received but not yet returned as a reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------------
// Async (tokio) RESP client
// ---------------------------------------------------------------------------------------------

/// The tokio twin of [`RespConn`].
pub struct AsyncRespConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
    proto: Protocol,
    timeout: Duration,
}

impl AsyncRespConn {
    pub async fn connect(addr: SocketAddr) -> io::Result<AsyncRespConn> {
        let stream =
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connect to {addr} timed out"),
                    )
                })??;
        stream.set_nodelay(true)?;
        Ok(AsyncRespConn {
            stream,
            buf: Vec::new(),
            proto: Protocol::Resp2,
            timeout: REPLY_TIMEOUT,
        })
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn set_protocol(&mut self, proto: Protocol) {
        self.proto = proto;
    }

    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.send_raw(&encode_command(args)).await
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        tokio::time::timeout(self.timeout, self.stream.write_all(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))?
    }

    pub async fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match frame_len(&self.buf, self.proto) {
                Ok(Some(n)) => return Ok(self.buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "invalid {:?} reply ({e}); bytes received: {}",
                            self.proto,
                            escape(&self.buf)
                        ),
                    ))
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no complete reply within {:?}; bytes received: {}",
                            self.timeout,
                            escape(&self.buf)
                        ),
                    )
                })??;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a complete reply; bytes received: {}",
                        escape(&self.buf)
                    ),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Vec<u8>> {
        self.send(args).await?;
        self.read_reply().await
    }
}

/// xorshift64*: a deterministic, dependency-free PRNG for the model tests
/// (fixed seeds, so a failure replays exactly).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// In lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
