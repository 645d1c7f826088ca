//! MONITOR (Redis's monitorCommand and replicationFeedMonitors): every command
//! the server runs, as one line per command sent to each monitoring client.
//!
//! The line is Redis's: `+<secs>.<usecs> [<db> <addr>] "arg" "arg" ...` with
//! each argument quoted like sdscatrepr; commands a script runs show `lua` in
//! place of the address. A command is shown after it ran (so EXEC's queued
//! commands come before `exec`, and nothing is shown for commands queued by
//! MULTI or refused before running); EVAL and FCALL show themselves before
//! their script's commands. Commands flagged admin or skip_monitor are never
//! shown, and secrets (AUTH's password, HELLO's AUTH pair, MIGRATE's AUTH)
//! appear as `(redacted)`.
//!
//! Lines reach each monitor through a bounded queue its connection task
//! drains; a monitor that falls this far behind is disconnected, as Redis
//! disconnects one that passes its output buffer's hard limit.

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::server::client::{Client, FLAG_MONITOR};
use crate::server::Server;
use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new("monitor", 1, Group::Server, monitor)
    .flags(ADMIN | NOSCRIPT | LOADING | STALE)
    .doc(
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
        "",
    )];

/// Lines a monitor may have queued before it is disconnected.
const QUEUE_LINES: usize = 1 << 16;

/// The monitoring clients of a server.
#[derive(Default)]
pub struct Monitors {
    /// How many there are: the check every command makes, without a lock.
    count: AtomicUsize,
    list: parking_lot::Mutex<Vec<(u64, mpsc::Sender<Bytes>)>>,
}

impl Monitors {
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    fn add(&self, id: u64) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(QUEUE_LINES);
        let mut list = self.list.lock();
        list.push((id, tx));
        self.count.store(list.len(), Ordering::Relaxed);
        rx
    }

    fn remove(&self, id: u64) {
        let mut list = self.list.lock();
        list.retain(|(i, _)| *i != id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Sends a line to every monitor; those whose queue is full or gone are
    /// dropped (their connection then closes).
    fn send(&self, line: Bytes) {
        let mut list = self.list.lock();
        list.retain(|(_, tx)| tx.try_send(line.clone()).is_ok());
        self.count.store(list.len(), Ordering::Relaxed);
    }
}

fn monitor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // Inside MULTI Redis's client expects one reply per command.
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    // Already monitoring: Redis ignores the command, without a reply.
    if ctx.client.monitor.is_some() {
        return Ok(());
    }
    let rx = ctx.srv.monitors.add(ctx.client.id());
    ctx.client.monitor = Some(rx);
    ctx.client.shared.set_flag(FLAG_MONITOR, true);
    ctx.out.ok();
    Ok(())
}

/// Leaves monitor mode (RESET, disconnection).
pub fn stop(srv: &Server, client: &mut Client) {
    if client.monitor.take().is_some() {
        srv.monitors.remove(client.id());
        client.shared.set_flag(FLAG_MONITOR, false);
    }
}

/// Whether a command is shown at all.
#[inline]
pub fn shown(spec: &CommandSpec) -> bool {
    !spec.has(ADMIN | SKIP_MONITOR)
}

/// Shows a command that `client` ran (or a script it runs ran) to every
/// monitor. Cheap when nobody monitors.
#[inline]
pub fn feed(srv: &Server, client: &Client, argv: &[&[u8]]) {
    if srv.monitors.active() {
        feed_slow(srv, client, argv);
    }
}

#[cold]
fn feed_slow(srv: &Server, client: &Client, argv: &[&[u8]]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} ",
        now.as_secs(),
        now.subsec_micros(),
        client.db
    )
    .into_bytes();
    // A running guest holds its events back: the command comes from a script.
    if client.guest_events.is_some() {
        line.extend_from_slice(b"lua");
    } else {
        line.extend_from_slice(client.shared.addr.to_string().as_bytes());
    }
    line.extend_from_slice(b"] ");
    let redacted = redacted_args(argv);
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        if redacted.contains(&i) {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            crate::config::repr(arg, &mut line);
        }
    }
    line.extend_from_slice(b"\r\n");
    srv.monitors.send(Bytes::from(line));
}

/// The argument positions Redis replaces by `(redacted)` for this command:
/// those it redacts before any check that can fail early.
fn redacted_args(argv: &[&[u8]]) -> smallvec::SmallVec<[usize; 4]> {
    let mut out = smallvec::SmallVec::new();
    let name = argv[0];
    if eq_ic(name, "auth") {
        // More than 3 arguments is a syntax error before any redaction.
        if argv.len() <= 3 {
            out.extend(1..argv.len());
        }
    } else if eq_ic(name, "hello") {
        // Redacted while parsing the options, after the version checked out;
        // parsing stops at the first bad option.
        let version_ok = argv
            .get(1)
            .and_then(|v| crate::util::num::parse_i64(v))
            .is_some_and(|v| (2..=3).contains(&v));
        if !version_ok {
            return out;
        }
        let mut j = 2;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if eq_ic(argv[j], "auth") && more >= 2 {
                out.extend([j + 1, j + 2]);
                j += 3;
            } else if eq_ic(argv[j], "setname") && more >= 1 {
                j += 2;
            } else {
                break;
            }
        }
    } else if eq_ic(name, "migrate") {
        // Redacted while parsing the options; parsing stops at a syntax error.
        let mut j = 6;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if eq_ic(argv[j], "copy") || eq_ic(argv[j], "replace") {
                j += 1;
            } else if eq_ic(argv[j], "auth") && more >= 1 {
                out.push(j + 1);
                j += 2;
            } else if eq_ic(argv[j], "auth2") && more >= 2 {
                out.extend([j + 1, j + 2]);
                j += 3;
            } else {
                break;
            }
        }
    }
    out.retain(|i| *i < argv.len());
    out
}
