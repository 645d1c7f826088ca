//! SHUTDOWN waiting for lagging replicas (Redis 7.0's `shutdown-timeout`):
//! unless NOW is given (or the timeout is 0, or every replica already
//! acknowledged our offset), a shutdown first pauses writes, asks the
//! replicas for an ACK, and waits up to `shutdown-timeout` seconds for all
//! of them to reach the offset; then it saves (persist::snapshot) and the
//! server exits. The SHUTDOWN client stays blocked meanwhile (so does any
//! later SHUTDOWN); SHUTDOWN ABORT cancels the wait, and those clients get
//! Redis's error. A failed save cancels it too, unless FORCE.
//!
//! SIGTERM/SIGINT go through the same wait (server/mod.rs).

use crate::server::pause::{self, Mode, Purpose};
use crate::server::Server;
use parking_lot::Mutex;
use std::sync::atomic::Ordering;

/// SHUTDOWN's SAVE / NOSAVE / FORCE.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    pub save: bool,
    pub nosave: bool,
    pub force: bool,
}

/// What a blocked SHUTDOWN client gets when the shutdown does not happen.
pub const FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

#[derive(Default)]
pub struct ShutdownWait {
    /// (deadline in unix ms, flags) while a shutdown waits for replicas.
    pending: Mutex<Option<(i64, Flags)>>,
    /// Bumped when a waiting shutdown is cancelled (aborted or failed).
    cancelled: tokio::sync::watch::Sender<u64>,
}

/// Whether the caller shuts down now or the cron finishes it later.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    Now,
    Waiting,
}

impl ShutdownWait {
    pub fn pending(&self) -> bool {
        self.pending.lock().is_some()
    }

    /// Waits until a waiting shutdown is cancelled (a blocked SHUTDOWN
    /// client then replies [`FAILED`]); when it succeeds the process exits.
    pub async fn cancelled(&self) {
        let mut rx = self.cancelled.subscribe();
        while self.pending() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Every replica acknowledged our offset (Redis's isReadyToShutdown).
fn replicas_caught_up(srv: &Server) -> bool {
    let offset = srv.repl.offset();
    srv.repl
        .replicas
        .list()
        .iter()
        .all(|r| r.ack_off.load(Ordering::Acquire) == offset)
}

/// Redis's prepareForShutdown, the waiting part.
pub fn begin(srv: &Server, flags: Flags, now: bool) -> Begin {
    let w = &srv.repl.shutdown;
    let mut pending = w.pending.lock();
    if pending.is_some() {
        return Begin::Waiting;
    }
    let timeout_s: i64 = srv
        .config
        .read()
        .get_one("shutdown-timeout")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    if now || timeout_s == 0 || replicas_caught_up(srv) {
        return Begin::Now;
    }
    *pending = Some((crate::commands::unix_ms() + timeout_s * 1000, flags));
    drop(pending);
    if !pause::in_force(&srv.pause, &srv.store, crate::commands::unix_ms()) {
        srv.repl
            .backlog
            .feed_command(&[b"REPLCONF", b"GETACK", b"*"]);
    }
    pause::pause(
        &srv.pause,
        &srv.store,
        Purpose::Shutdown,
        Mode::Write,
        pause::NO_END,
    );
    crate::log::notice("Waiting for replicas before shutting down.");
    Begin::Waiting
}

/// SHUTDOWN ABORT: false when no shutdown waits.
pub fn abort(srv: &Server) -> bool {
    if !srv.repl.shutdown.pending() {
        return false;
    }
    cancel(srv);
    crate::log::notice("Shutdown manually aborted.");
    true
}

fn cancel(srv: &Server) {
    *srv.repl.shutdown.pending.lock() = None;
    pause::unpause(&srv.pause, &srv.store, Purpose::Shutdown);
    srv.repl.shutdown.cancelled.send_modify(|n| *n += 1);
}

/// Logs the replicas still behind, as Redis's finishShutdown does.
pub fn log_replicas(srv: &Server) {
    let offset = srv.repl.offset();
    let list = srv.repl.replicas.list();
    let mut lagging = 0;
    for r in &list {
        let acked = r.ack_off.load(Ordering::Acquire);
        if acked != offset {
            lagging += 1;
            crate::log::warning(&format!(
                "Lagging replica {} reported offset {} behind master, {}.",
                r.ip,
                offset - acked,
                r.info_line()
            ));
        }
    }
    if !list.is_empty() {
        crate::log::notice(&format!(
            "{} of {} replicas are in sync when shutting down.",
            list.len() - lagging,
            list.len()
        ));
    }
}

/// The cron's check: once every replica caught up or the timeout passed,
/// save and exit (or, if the save fails without FORCE, cancel).
pub fn cron(srv: &Server) {
    let Some((deadline, flags)) = *srv.repl.shutdown.pending.lock() else {
        return;
    };
    if crate::commands::unix_ms() < deadline && !replicas_caught_up(srv) {
        return;
    }
    log_replicas(srv);
    if let Err(e) = crate::persist::snapshot::shutdown_save(srv, flags.save, flags.nosave) {
        if !flags.force {
            crate::log::warning(&format!("Error trying to save the DB, can't exit: {e}"));
            crate::log::warning(
                "Errors trying to shut down the server. Check the logs for more information.",
            );
            cancel(srv);
            return;
        }
        crate::log::warning("Error trying to save the DB. Exit anyway.");
    }
    srv.shutdown.notify_one();
}
