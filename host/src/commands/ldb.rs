//! The Lua debugger's sessions, as Redis 7.0 runs them for `redis-cli --ldb`
//! and `--ldb-sync-mode`: SCRIPT DEBUG YES|SYNC|NO, and the session the next
//! EVAL of that client starts. What the user sees (stepping, breakpoints,
//! print, eval, the log lines) is the Lua engine's (lua/src/ldb.c); this
//! module carries its messages between the script and the one client, and
//! decides what the session's writes become.
//!
//! How a session runs: the EVAL is not run where the client's commands run.
//! It is left pending ([`intercept`]), the connection hands its socket to
//! [`serve`], and the script runs on a thread of its own with the client's
//! state, while `serve` relays: the engine's logs go out as arrays of
//! status replies, the client's debugger commands come back to it, parsed
//! as Redis parses them. When the script ends, its reply follows the
//! `<endsession>` line and the connection is closed, as in Redis.
//!
//! Redis forks for a YES session, so its writes vanish with the child; Ember
//! runs the script in place under its all-or-nothing rollback and undoes its
//! writes when it ends. A SYNC session keeps them. Either way the script
//! holds every shard of its database for the whole session (a retry with
//! more locks would replay the session), so other clients' commands on that
//! database wait, or get BUSY once it runs past busy-reply-threshold, until
//! the session ends. A client that disconnects, or sends no debugger
//! command for [`IDLE_LIMIT`], ends the session: the script stops with an
//! error and its writes are undone (YES and SYNC alike).

use super::{CmdError, CmdResult, Ctx};
use crate::server::client::Client;
use crate::server::reply::Out;
use crate::server::Server;
use crate::wasm::abi::{LDB_BUFFER_FULL, LDB_GONE, LDB_PROTOCOL_ERROR};
use smallvec::SmallVec;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a session waits for the next debugger command before it ends.
pub const IDLE_LIMIT: Duration = Duration::from_secs(300);

/// Redis's limit on a debugger command being received (ldbRepl).
const MAX_COMMAND_BUFFER: usize = 1 << 20;

/// SCRIPT DEBUG's modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The session's writes are undone when it ends (Redis forks for it).
    Yes,
    /// The session's writes stay.
    Sync,
}

/// A client's debugger state (SCRIPT DEBUG YES or SYNC was sent).
pub struct Debugger {
    pub mode: Mode,
    /// The EVAL that starts the session, until the connection takes it.
    pending: Option<Vec<Vec<u8>>>,
    /// Set on the session's thread while the script runs.
    link: Option<Link>,
}

/// What the script's thread sends the relay.
enum ToRelay {
    /// Bytes for the client (an array of status replies).
    Logs(Vec<u8>),
    /// The script waits for the next debugger command.
    Want,
    /// The script's thread is done (its client and reply are in `done`).
    Done,
}

/// What the relay answers a [`ToRelay::Want`] with.
enum FromRelay {
    Command(Vec<Vec<u8>>),
    ProtocolError,
    BufferFull,
}

/// The script's side of a session.
struct Link {
    to_relay: tokio::sync::mpsc::UnboundedSender<ToRelay>,
    from_relay: mpsc::Receiver<FromRelay>,
}

impl Link {
    fn send(&self, lines: &[&[u8]]) {
        let mut bytes = Vec::with_capacity(16 + lines.iter().map(|l| l.len() + 3).sum::<usize>());
        bytes.push(b'*');
        bytes.extend_from_slice(itoa::Buffer::new().format(lines.len()).as_bytes());
        bytes.extend_from_slice(b"\r\n");
        for line in lines {
            // A status reply cannot hold a line break: Redis maps them to spaces.
            bytes.push(b'+');
            bytes.extend(
                line.iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            bytes.extend_from_slice(b"\r\n");
        }
        let _ = self.to_relay.send(ToRelay::Logs(bytes));
    }

    fn recv(&self) -> Result<Vec<Vec<u8>>, i32> {
        if self.to_relay.send(ToRelay::Want).is_err() {
            return Err(LDB_GONE);
        }
        match self.from_relay.recv_timeout(IDLE_LIMIT) {
            Ok(FromRelay::Command(argv)) => Ok(argv),
            Ok(FromRelay::ProtocolError) => Err(LDB_PROTOCOL_ERROR),
            Ok(FromRelay::BufferFull) => Err(LDB_BUFFER_FULL),
            Err(_) => Err(LDB_GONE),
        }
    }
}

/// SCRIPT DEBUG YES|SYNC|NO, with Redis's errors.
pub fn script_debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis refuses it while replies are pending (a pipeline, or EXEC).
    if !ctx.out.buf.is_empty() || ctx.client.in_exec {
        return Err(CmdError::err(
            "ERR SCRIPT DEBUG must be called outside a pipeline",
        ));
    }
    let mode = match argv[2].to_ascii_lowercase().as_slice() {
        b"no" => None,
        b"yes" => Some(Mode::Yes),
        b"sync" => Some(Mode::Sync),
        _ => return Err(CmdError::err("ERR Use SCRIPT DEBUG YES/SYNC/NO")),
    };
    ctx.client.ldb = mode.map(|mode| {
        Box::new(Debugger {
            mode,
            pending: None,
            link: None,
        })
    });
    ctx.out.ok();
    Ok(())
}

/// Called first by EVAL and its variants. None: run the script as usual
/// (no SCRIPT DEBUG, inside EXEC, or already on the session's thread).
/// Otherwise the command's result: EVALSHA is refused as in Redis, and an
/// EVAL is left for the connection to start the session with.
pub fn intercept(ctx: &mut Ctx, argv: &[&[u8]], by_sha: bool) -> Option<CmdResult> {
    let in_exec = ctx.client.in_exec;
    let dbg = ctx.client.ldb.as_mut()?;
    if dbg.link.is_some() || in_exec {
        return None;
    }
    if by_sha {
        return Some(Err(CmdError::err(
            "ERR Please use EVAL instead of EVALSHA for debugging",
        )));
    }
    dbg.pending = Some(argv.iter().map(|a| a.to_vec()).collect());
    // Nothing else of this connection runs: the session ends it.
    ctx.client.close = true;
    Some(Ok(()))
}

/// The session's mode when this EVAL runs under the debugger.
pub fn debugging(client: &Client) -> Option<Mode> {
    client
        .ldb
        .as_ref()
        .filter(|d| d.link.is_some())
        .map(|d| d.mode)
}

/// The Lua engine's `ldb_send`, for the running invocation.
pub fn send(client: &Client, lines: &[&[u8]]) {
    if let Some(link) = client.ldb.as_ref().and_then(|d| d.link.as_ref()) {
        link.send(lines);
    }
}

/// The Lua engine's `ldb_recv`, for the running invocation.
pub fn recv(client: &Client) -> Result<Vec<Vec<u8>>, i32> {
    match client.ldb.as_ref().and_then(|d| d.link.as_ref()) {
        Some(link) => link.recv(),
        None => Err(LDB_GONE),
    }
}

/// The EVAL that starts a session, if the last command left one.
pub fn take_pending(client: &mut Client) -> Option<Vec<Vec<u8>>> {
    client.ldb.as_mut()?.pending.take()
}

/// Redis's ldbReplParseCommand, forgiving as it is: bytes before the first
/// `*` are skipped; 1 to 1024 arguments of 1 to 1024 bytes each.
enum Parsed {
    Command(Vec<Vec<u8>>),
    Incomplete,
    ProtocolError,
}

/// C's atoi over the bytes up to CR (leading blanks, a sign, digits).
fn atoi(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

fn parse_command(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    // Redis's parser stops at a NUL byte (it works on a C string).
    let buf = &buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())];
    let Some(star) = buf.iter().position(|&b| b == b'*') else {
        return Parsed::ProtocolError;
    };
    let Some(eol) = find_crlf(buf, star) else {
        return Parsed::Incomplete;
    };
    let argc = atoi(&buf[star + 1..eol]);
    if !(1..=1024).contains(&argc) {
        return Parsed::ProtocolError;
    }
    let mut p = eol + 2;
    let mut argv = Vec::with_capacity(argc as usize);
    while argv.len() < argc as usize {
        match buf.get(p) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(_) => return Parsed::ProtocolError,
        }
        let Some(eol) = find_crlf(buf, p) else {
            return Parsed::Incomplete;
        };
        let len = atoi(&buf[p + 1..eol]);
        if !(1..=1024).contains(&len) {
            return Parsed::ProtocolError;
        }
        let start = eol + 2;
        let end = start + len as usize;
        if end + 2 > buf.len() {
            return Parsed::Incomplete;
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Parsed::ProtocolError;
        }
        argv.push(buf[start..end].to_vec());
        p = end + 2;
    }
    Parsed::Command(argv)
}

/// Puts the client back when the session ends, also when the connection
/// task is dropped mid-session (CLIENT KILL): the script then finds its
/// client gone, stops, and hands the client back, which this waits for.
struct Restore<'c> {
    client: &'c mut Client,
    done: mpsc::Receiver<(Client, Out)>,
    /// The relay's side of the script's input; dropped to tell the script
    /// its client has gone.
    input: Option<mpsc::Sender<FromRelay>>,
    restored: bool,
}

impl Restore<'_> {
    fn finish(&mut self) -> Option<Out> {
        self.input = None;
        let got = self.done.recv().ok();
        self.restored = true;
        got.map(|(client, out)| {
            *self.client = client;
            out
        })
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if !self.restored {
            crate::util::worker::block_off_worker(|| self.finish());
        }
    }
}

/// Runs a debugging session for the pending `eval` (argv) over `stream`,
/// then puts the script's reply in `out`; the caller closes the connection
/// after writing it.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    srv: &Arc<Server>,
    stream: &mut S,
    client: &mut Client,
    out: &mut Out,
    eval: Vec<Vec<u8>>,
) -> std::io::Result<()> {
    crate::log::warning(match client.ldb.as_ref().map(|d| d.mode) {
        Some(Mode::Sync) => "Redis synchronous debugging eval session started",
        _ => "Lua debugging session started (its writes are undone when it ends)",
    });
    let (to_relay, mut from_script) = tokio::sync::mpsc::unbounded_channel();
    let (input, from_relay) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    // The script's thread gets the client itself (its db, protocol, user,
    // everything EVAL reads); the connection keeps a stand-in meanwhile.
    let stand_in = Client::new(client.shared.clone(), client.authenticated);
    let mut owned = std::mem::replace(client, stand_in);
    if let Some(d) = owned.ldb.as_mut() {
        d.link = Some(Link {
            to_relay: to_relay.clone(),
            from_relay,
        });
    }
    let mut restore = Restore {
        client,
        done,
        input: Some(input),
        restored: false,
    };
    let resp3 = out.resp3;
    let srv2 = srv.clone();
    let runtime = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("ember-ldb".into())
        .spawn(move || {
            let _runtime = runtime.enter();
            let mut script_out = Out::new(resp3);
            let argv: SmallVec<[&[u8]; 8]> = eval.iter().map(|a| a.as_slice()).collect();
            super::execute(&srv2, &mut owned, &mut script_out, &argv, super::unix_ms());
            // The session is over: SCRIPT DEBUG does not outlive it.
            owned.ldb = None;
            let _ = done_tx.send((owned, script_out));
            let _ = to_relay.send(ToRelay::Done);
        });
    if let Err(e) = spawned {
        restore.restored = true;
        return Err(e);
    }
    let mut cbuf: Vec<u8> = Vec::new();
    let mut wanting = false;
    let mut reading = true;
    let mut ended = false;
    let mut chunk = [0u8; 1024];
    loop {
        if wanting {
            let answer = match parse_command(&cbuf) {
                Parsed::Command(argv) => {
                    // Redis drops the rest of what was read with it.
                    cbuf.clear();
                    Some(FromRelay::Command(argv))
                }
                Parsed::ProtocolError => Some(FromRelay::ProtocolError),
                Parsed::Incomplete if cbuf.len() > MAX_COMMAND_BUFFER => {
                    cbuf.clear();
                    Some(FromRelay::BufferFull)
                }
                Parsed::Incomplete => None,
            };
            if let (Some(answer), Some(input)) = (answer, restore.input.as_ref()) {
                wanting = false;
                let _ = input.send(answer);
            }
        }
        tokio::select! {
            msg = from_script.recv() => match msg {
                Some(ToRelay::Logs(bytes)) => {
                    ended |= bytes.ends_with(b"+<endsession>\r\n");
                    if reading && (stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err()) {
                        reading = false;
                        restore.input = None;
                    }
                }
                Some(ToRelay::Want) => wanting = true,
                Some(ToRelay::Done) | None => break,
            },
            n = stream.read(&mut chunk), if reading && cbuf.len() <= MAX_COMMAND_BUFFER => match n {
                Ok(n) if n > 0 => cbuf.extend_from_slice(&chunk[..n]),
                // Gone: the script finds out at its next stop and ends.
                _ => {
                    reading = false;
                    restore.input = None;
                }
            },
        }
    }
    let script_out = restore.finish();
    crate::log::warning("Lua debugging session ended");
    if !ended {
        // The script never ran (an error before it): the session ends anyway.
        out.buf.extend_from_slice(b"*1\r\n+<endsession>\r\n");
    }
    if let Some(script_out) = script_out {
        out.buf.extend_from_slice(&script_out.buf);
        out.error_prefixes.extend(script_out.error_prefixes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(p: Parsed) -> Option<Vec<String>> {
        match p {
            Parsed::Command(a) => Some(
                a.into_iter()
                    .map(|w| String::from_utf8(w).unwrap())
                    .collect(),
            ),
            _ => None,
        }
    }

    #[test]
    fn parses_as_redis_does() {
        assert_eq!(
            words(parse_command(b"*2\r\n$1\r\np\r\n$1\r\na\r\n")),
            Some(vec!["p".into(), "a".into()])
        );
        // Junk before '*' is skipped; what follows the command is ignored.
        assert_eq!(
            words(parse_command(b"xx*1\r\n$1\r\ns\r\n*1\r\n")),
            Some(vec!["s".into()])
        );
        assert!(matches!(parse_command(b"*1\r\n$1\r\n"), Parsed::Incomplete));
        assert!(matches!(parse_command(b"*1"), Parsed::Incomplete));
        assert!(matches!(parse_command(b"s\r\n"), Parsed::ProtocolError));
        assert!(matches!(parse_command(b"*0\r\n"), Parsed::ProtocolError));
        assert!(matches!(
            parse_command(b"*1\r\n$0\r\n\r\n"),
            Parsed::ProtocolError
        ));
        assert!(matches!(
            parse_command(b"*1\r\n:1\r\n"),
            Parsed::ProtocolError
        ));
        assert!(matches!(
            parse_command(b"*1\r\n$1\r\nsXX"),
            Parsed::ProtocolError
        ));
    }
}
