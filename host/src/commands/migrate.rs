//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
//! [AUTH password] [AUTH2 username password] [KEYS key ...], as Redis 7.0's
//! migrateCommand does it: DUMP payloads sent to the target as RESTORE
//! commands over a cached connection, the local keys deleted (and the
//! command propagated as DEL) once the target acknowledged them, unless COPY.
//!
//! The transfer is synchronous, as in Redis: the handler holds its keys'
//! shard locks while it talks to the target, so nobody sees a key that is
//! both here and there or neither. The socket I/O runs through
//! `block_off_worker`, so the other clients of this tokio worker move on.
//!
//! This file owns the connection cache too (Redis's migrate_cached_sockets):
//! one connection per "host:port", at most 64, closed after 10 s unused by
//! [`close_idle`] from the server's cron.

use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::effects::encode_command;
use crate::persist::rdb::dump::dump_payload;
use crate::persist::rdb::RdbOptions;
use parking_lot::Mutex;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("migrate", -6, Group::Generic, migrate).flags(WRITE).keys(3, 3, 1).key_finder(migrate_keys).acl(&["keyspace", "dangerous"])
        .doc("2.6.0", "Atomically transfer a key from a Redis instance to another one.", "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.")
        .syntax("host port <key | \"\"> destination-db timeout [COPY] [REPLACE] [AUTH password | AUTH2 username password] [KEYS key [key ...]]"),
];

/// Connections kept (MIGRATE_SOCKET_CACHE_ITEMS) and how long an unused one
/// stays open (MIGRATE_SOCKET_CACHE_TTL).
const CACHE_ITEMS: usize = 64;
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Bytes per write to the target (Redis writes 64 KiB chunks).
const CHUNK: usize = 64 * 1024;
/// Redis reads each reply line into a 1024-byte buffer.
const LINE_MAX: usize = 1023;

/// Redis's migrateGetKeys: the key argument, or everything after KEYS when
/// the key argument is empty.
fn migrate_keys(argv: &[&[u8]]) -> Vec<usize> {
    if argv.len() > 6 && argv[3].is_empty() {
        if let Some(i) = (6..argv.len()).find(|&i| eq_ic(argv[i], "keys")) {
            return (i + 1..argv.len()).collect();
        }
    }
    if argv.len() > 3 {
        vec![3]
    } else {
        Vec::new()
    }
}

/// One cached connection to a target.
struct Cached {
    reader: BufReader<TcpStream>,
    /// The database last selected on it; -1 forces a SELECT.
    last_dbid: i64,
    last_use: Instant,
}

/// The connection cache, by "host:port" as the client wrote them.
#[derive(Default)]
pub struct Sockets {
    map: Mutex<hashbrown::HashMap<Vec<u8>, Cached>>,
}

impl Sockets {
    /// Number of cached connections (INFO's migrate_cached_sockets).
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the connection for `name` out of the cache while a MIGRATE uses
    /// it (a concurrent MIGRATE to the same target opens its own).
    fn take(&self, name: &[u8]) -> Option<Cached> {
        self.map.lock().remove(name)
    }

    /// Puts a connection back; with the cache full, one at random goes.
    fn put(&self, name: Vec<u8>, mut c: Cached) {
        c.last_use = Instant::now();
        let mut map = self.map.lock();
        if map.len() >= CACHE_ITEMS && !map.contains_key(&name) {
            let n = rand::random::<u32>() as usize % map.len();
            if let Some(victim) = map.keys().nth(n).cloned() {
                map.remove(&victim);
            }
        }
        map.insert(name, c);
    }

    fn close(&self, name: &[u8]) {
        self.map.lock().remove(name);
    }
}

/// Closes cached connections unused for 10 seconds (serverCron's
/// migrateCloseTimedoutSockets).
pub fn close_idle(sockets: &Sockets) {
    sockets
        .map
        .lock()
        .retain(|_, c| c.last_use.elapsed() <= CACHE_TTL);
}

/// Why a transfer failed on the socket.
struct SocketErr {
    timed_out: bool,
}

fn socket_err(e: &std::io::Error) -> SocketErr {
    SocketErr {
        timed_out: matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// C's atoi: leading digits, 0 when there are none.
fn atoi(s: &[u8]) -> u16 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let v: i64 = digits[..end].parse().unwrap_or(0);
    // The port goes to a C int and then to the kernel as 16 bits.
    (if neg { -v } else { v }) as u16
}

/// Why no connection came up.
enum ConnectErr {
    /// The name did not resolve or the connect timed out: Redis's
    /// "error or timeout connecting".
    Connecting,
    /// The connect itself failed (refused, unreachable). Redis's
    /// non-blocking connect sees the socket writable and reports the error
    /// when it writes, so this is a write error to the client.
    Failed(SocketErr),
}

/// Opens a connection to host:port within `timeout` (connBlockingConnect).
fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Result<Cached, ConnectErr> {
    let host = std::str::from_utf8(host).map_err(|_| ConnectErr::Connecting)?;
    let addrs = (host, atoi(port))
        .to_socket_addrs()
        .map_err(|_| ConnectErr::Connecting)?;
    let deadline = Instant::now() + timeout;
    let mut last = ConnectErr::Connecting;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectErr::Connecting);
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(Cached {
                    reader: BufReader::new(s),
                    last_dbid: -1,
                    last_use: Instant::now(),
                });
            }
            Err(e) => {
                let err = socket_err(&e);
                last = if err.timed_out {
                    ConnectErr::Connecting
                } else {
                    ConnectErr::Failed(err)
                };
            }
        }
    }
    Err(last)
}

/// Reads one reply line without its CRLF, as Redis's syncReadLine (which
/// keeps at most 1023 bytes of it). An empty line counts as a failure.
fn read_line(c: &mut Cached) -> Result<Vec<u8>, SocketErr> {
    let mut line = Vec::new();
    match c.reader.read_until(b'\n', &mut line) {
        Ok(0) => return Err(SocketErr { timed_out: false }),
        Ok(_) => {}
        Err(e) => return Err(socket_err(&e)),
    }
    if line.last() != Some(&b'\n') {
        return Err(SocketErr { timed_out: false });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line.truncate(LINE_MAX);
    if line.is_empty() {
        return Err(SocketErr { timed_out: false });
    }
    Ok(line)
}

/// The parsed arguments.
struct Args<'a> {
    copy: bool,
    replace: bool,
    username: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    /// Argument indexes of the keys.
    keys: std::ops::Range<usize>,
    dbid: i64,
    timeout: Duration,
    /// Cluster mode sends RESTORE-ASKING, which the target accepts for a
    /// slot it is importing.
    asking: bool,
}

fn parse<'a>(argv: &[&'a [u8]]) -> Result<Args<'a>, CmdError> {
    let mut a = Args {
        copy: false,
        replace: false,
        username: None,
        password: None,
        keys: 3..4,
        dbid: 0,
        timeout: Duration::ZERO,
        asking: false,
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq_ic(argv[j], "copy") {
            a.copy = true;
        } else if eq_ic(argv[j], "replace") {
            a.replace = true;
        } else if eq_ic(argv[j], "auth") {
            if more == 0 {
                return Err(CmdError::Syntax);
            }
            j += 1;
            a.password = Some(argv[j]);
        } else if eq_ic(argv[j], "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            a.username = Some(argv[j + 1]);
            a.password = Some(argv[j + 2]);
            j += 2;
        } else if eq_ic(argv[j], "keys") {
            if !argv[3].is_empty() {
                return Err(CmdError::err(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            a.keys = j + 1..argv.len();
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = arg_i64(argv[5])?;
    a.dbid = arg_i64(argv[4])?;
    let ms = if timeout <= 0 { 1000 } else { timeout };
    a.timeout = Duration::from_millis(ms as u64);
    Ok(a)
}

/// One key to send: its name, RDB payload and absolute expiry (0 = none).
struct Item<'a> {
    key: &'a [u8],
    payload: Vec<u8>,
    expire_at: i64,
}

/// How one attempt ended.
enum Outcome {
    /// Every reply read; per key whether the target accepted it, and the
    /// first error the target sent.
    Replies {
        acked: Vec<bool>,
        error: Option<Vec<u8>>,
        /// The connection broke after the target's error: not reused.
        broken: bool,
    },
    /// A socket error: `acked` holds the keys acknowledged before it.
    Socket {
        err: SocketErr,
        writing: bool,
        acked: Vec<bool>,
        /// Nothing was acknowledged (the first reply failed): a retry on a
        /// fresh connection is safe.
        retryable: bool,
    },
}

fn migrate(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut a = parse(argv)?;
    a.asking = ctx.srv.cluster.is_some();
    let db = ctx.db();
    let opts = RdbOptions::from_config(&ctx.srv.config.read());
    // The keys that are here; none at all is not an error (they may just
    // have expired).
    let mut items: Vec<Item> = Vec::new();
    for &key in &argv[a.keys.clone()] {
        if let Some(e) = ctx.ks.read(db, key) {
            items.push(Item {
                key,
                payload: dump_payload(&e.value, &opts),
                expire_at: e.expire_at().unwrap_or(0),
            });
        }
    }
    if items.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let name = [argv[1], b":", argv[2]].concat();
    let sockets = &ctx.srv.migrate_sockets;
    let mut may_retry = true;
    let outcome = loop {
        let cached = match sockets.take(&name) {
            Some(c) => Ok(c),
            None => crate::util::worker::block_off_worker(|| connect(argv[1], argv[2], a.timeout)),
        };
        let mut conn = match cached {
            Ok(c) => c,
            Err(ConnectErr::Connecting) => {
                return Err(CmdError::err(
                    "IOERR error or timeout connecting to the client",
                ))
            }
            Err(ConnectErr::Failed(err)) => {
                if may_retry {
                    may_retry = false;
                    continue;
                }
                break Outcome::Socket {
                    err,
                    writing: true,
                    acked: vec![false; items.len()],
                    retryable: false,
                };
            }
        };
        let outcome = crate::util::worker::block_off_worker(|| transfer(&mut conn, &a, &mut items));
        match outcome {
            Outcome::Socket {
                ref err, retryable, ..
            } if retryable && may_retry && !err.timed_out => {
                // A cached connection the target closed: reconnect once.
                may_retry = false;
                continue;
            }
            Outcome::Socket { .. } => {}
            Outcome::Replies {
                ref error, broken, ..
            } => {
                // On an error from the target its database is unknown.
                conn.last_dbid = if error.is_some() { -1 } else { a.dbid };
                if !broken {
                    sockets.put(name.clone(), conn);
                }
            }
        }
        break outcome;
    };
    let acked = match &outcome {
        Outcome::Replies { acked, .. } | Outcome::Socket { acked, .. } => acked,
    };
    if !a.copy {
        let mut del: Vec<&[u8]> = vec![b"DEL"];
        for (item, _) in items.iter().zip(acked).filter(|(_, ok)| **ok) {
            if ctx.ks.remove(db, item.key).is_some() {
                ctx.ks.touch(db, item.key);
                ctx.notify(notify::GENERIC, "del", item.key);
            }
            del.push(item.key);
        }
        if del.len() > 1 {
            ctx.propagate(&del);
        }
    }
    match outcome {
        Outcome::Replies { error: None, .. } => {
            ctx.out.ok();
            Ok(())
        }
        Outcome::Replies { error: Some(e), .. } => Err(CmdError::owned(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&e)
        ))),
        Outcome::Socket { writing, .. } => {
            sockets.close(&name);
            Err(CmdError::owned(format!(
                "IOERR error or timeout {} to target instance",
                if writing { "writing" } else { "reading" }
            )))
        }
    }
}

/// One attempt: AUTH, SELECT and the RESTOREs written in 64 KiB chunks, then
/// every reply read. Keys that expired meanwhile are dropped from `items`.
fn transfer(conn: &mut Cached, a: &Args, items: &mut Vec<Item>) -> Outcome {
    let now = super::unix_ms();
    items.retain(|it| it.expire_at == 0 || it.expire_at - now >= 0);
    let mut cmd = Vec::new();
    if let Some(pw) = a.password {
        match a.username {
            Some(user) => encode_command(&mut cmd, &[b"AUTH", user, pw]),
            None => encode_command(&mut cmd, &[b"AUTH", pw]),
        }
    }
    let select = conn.last_dbid != a.dbid;
    if select {
        encode_command(&mut cmd, &[b"SELECT", a.dbid.to_string().as_bytes()]);
    }
    for it in items.iter() {
        let ttl = if it.expire_at == 0 {
            0
        } else {
            (it.expire_at - now).max(1)
        };
        let ttl = ttl.to_string();
        let name: &[u8] = if a.asking {
            b"RESTORE-ASKING"
        } else {
            b"RESTORE"
        };
        let mut restore: Vec<&[u8]> = vec![name, it.key, ttl.as_bytes(), &it.payload];
        if a.replace {
            restore.push(b"REPLACE");
        }
        encode_command(&mut cmd, &restore);
    }
    let none = vec![false; items.len()];
    let stream = conn.reader.get_ref();
    let _ = stream.set_write_timeout(Some(a.timeout));
    let _ = stream.set_read_timeout(Some(a.timeout));
    let mut w = stream;
    for chunk in cmd.chunks(CHUNK) {
        if let Err(e) = w.write_all(chunk) {
            return Outcome::Socket {
                err: socket_err(&e),
                writing: true,
                acked: none,
                retryable: true,
            };
        }
    }
    let fail = |err, acked| Outcome::Socket {
        err,
        writing: false,
        acked,
        retryable: true,
    };
    let auth_reply = match a.password.map(|_| read_line(conn)).transpose() {
        Ok(r) => r,
        Err(e) => return fail(e, none),
    };
    let select_reply = match select.then(|| read_line(conn)).transpose() {
        Ok(r) => r,
        Err(e) => return fail(e, none),
    };
    let mut acked = Vec::with_capacity(items.len());
    let mut error: Option<Vec<u8>> = None;
    for j in 0..items.len() {
        let reply = match read_line(conn) {
            Ok(r) => r,
            Err(err) => {
                acked.resize(items.len(), false);
                if error.is_some() {
                    // The target's error is what the client hears.
                    return Outcome::Replies {
                        acked,
                        error,
                        broken: true,
                    };
                }
                return Outcome::Socket {
                    err,
                    writing: false,
                    acked,
                    retryable: j == 0,
                };
            }
        };
        let failed = [auth_reply.as_ref(), select_reply.as_ref(), Some(&reply)]
            .into_iter()
            .flatten()
            .find(|r| r.first() == Some(&b'-'));
        match failed {
            Some(r) => {
                if error.is_none() {
                    error = Some(r[1..].to_vec());
                }
                acked.push(false);
            }
            None => acked.push(true),
        }
    }
    Outcome::Replies {
        acked,
        error,
        broken: false,
    }
}
