//! Coordinated failover (Redis 6.2+'s FAILOVER command) and the write pause
//! that goes with it.
//!
//! FAILOVER [TO host port [FORCE]] [TIMEOUT ms] on a primary: writes from
//! clients are paused (they wait, as under CLIENT PAUSE WRITE, and run when
//! the pause ends); the replication cron ([`update`], every 100 ms) waits
//! until a replica (the one named, or any) has acknowledged our whole
//! stream; then we become a replica of it (`repl::replica::set_master`),
//! and our PSYNC carries the `FAILOVER` option, which makes the target
//! promote itself before answering (`primary::sync_command`). Its
//! `+CONTINUE <new id>` (psync2: our ID is its ID2) ends the failover and
//! the pause; a refused PSYNC aborts it and we are a primary again. With
//! FORCE, the timeout fails over to the named replica even if it lags;
//! without, the timeout aborts. FAILOVER ABORT stops it at any time.
//!
//! The states are Redis's, as INFO's `master_failover_state` names them:
//! `no-failover`, `waiting-for-sync`, `failover-in-progress`. The pause is
//! the server's (server/pause.rs), purpose FAILOVER.

use crate::server::pause::{self, Mode, Purpose};
use crate::server::Server;
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    None,
    WaitForSync,
    InProgress,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Unix ms when TIMEOUT ends the wait (0: no timeout).
    end_ms: i64,
    force: bool,
    /// The replica we fail over to (named by TO, or the first caught up).
    target: Option<(String, u16)>,
}

/// The failover state of a server (`Repl::failover`); the write pause it
/// holds is the server pause's FAILOVER purpose.
pub struct Failover {
    state: Mutex<State>,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            state: Mutex::new(State {
                phase: Phase::None,
                end_ms: 0,
                force: false,
                target: None,
            }),
        }
    }
}

/// What FAILOVER asked for.
pub struct Request {
    pub target: Option<(String, u16)>,
    pub force: bool,
    pub timeout_ms: i64,
}

impl Failover {
    pub fn phase(&self) -> Phase {
        self.state.lock().phase
    }

    /// INFO's master_failover_state.
    pub fn state_name(&self) -> &'static str {
        match self.phase() {
            Phase::None => "no-failover",
            Phase::WaitForSync => "waiting-for-sync",
            Phase::InProgress => "failover-in-progress",
        }
    }

    pub fn active(&self) -> bool {
        self.phase() != Phase::None
    }

    /// A TIMEOUT was given and writes are paused: the cron then sends no
    /// PING, which would move our offset past the replicas' (as Redis).
    pub fn holds_pings(&self) -> bool {
        let s = self.state.lock();
        s.end_ms != 0 && s.phase != Phase::None
    }
}

/// Redis's clearFailoverState: no failover, writes resume.
fn clear(srv: &Server) {
    {
        let mut s = srv.repl.failover.state.lock();
        s.phase = Phase::None;
        s.end_ms = 0;
        s.force = false;
        s.target = None;
    }
    pause::unpause(&srv.pause, &srv.store, Purpose::Failover);
}

/// FAILOVER with its arguments checked by the command: the checks against
/// the state, then the wait starts. Errors are Redis's texts.
pub fn start(srv: &Server, req: Request) -> Result<(), &'static str> {
    let f = &srv.repl.failover;
    if f.active() {
        return Err("ERR FAILOVER already in progress.");
    }
    if srv.repl.is_replica() {
        return Err("ERR FAILOVER is not valid when server is a replica.");
    }
    if srv.repl.replicas.is_empty() {
        return Err("ERR FAILOVER requires connected replicas.");
    }
    if req.force && (req.timeout_ms == 0 || req.target.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
    }
    if let Some((host, port)) = &req.target {
        let Some(r) = find_replica(srv, host, *port) else {
            return Err("ERR FAILOVER target HOST and PORT is not a replica.");
        };
        if !r.online() {
            return Err("ERR FAILOVER target replica is not online.");
        }
        crate::log::notice(&format!("FAILOVER requested to {host}:{port}."));
    } else {
        crate::log::notice("FAILOVER requested to any replica.");
    }
    let mut s = f.state.lock();
    s.end_ms = if req.timeout_ms > 0 {
        crate::commands::unix_ms() + req.timeout_ms
    } else {
        0
    };
    s.force = req.force;
    s.target = req.target;
    s.phase = Phase::WaitForSync;
    drop(s);
    pause::pause(
        &srv.pause,
        &srv.store,
        Purpose::Failover,
        Mode::Write,
        pause::NO_END,
    );
    Ok(())
}

/// FAILOVER ABORT (and the failed ends of a failover): Redis's abortFailover.
/// A failover already in progress (we follow the target) makes us a
/// primary again.
pub fn abort(srv: &Server, why: &str) {
    let f = &srv.repl.failover;
    let (phase, target) = {
        let s = f.state.lock();
        (s.phase, s.target.clone())
    };
    if phase == Phase::None {
        return;
    }
    match target {
        Some((h, p)) => crate::log::notice(&format!("FAILOVER to {h}:{p} aborted: {why}")),
        None => crate::log::notice(&format!("FAILOVER to any replica aborted: {why}")),
    }
    if phase == Phase::InProgress {
        super::replica::unset_master(srv);
    }
    clear(srv);
}

/// The replica side's PSYNC got `+CONTINUE` or `+FULLRESYNC` from the
/// target: the failover is done.
pub fn psync_accepted(srv: &Server) {
    if srv.repl.failover.phase() == Phase::InProgress {
        clear(srv);
    }
}

/// The replica with this announced address (Redis's findReplica).
fn find_replica(srv: &Server, host: &str, port: u16) -> Option<Arc<super::primary::Replica>> {
    srv.repl
        .replicas
        .list()
        .into_iter()
        .find(|r| r.ip.eq_ignore_ascii_case(host) && r.port.load(Ordering::Relaxed) == port)
}

/// The cron's check (Redis's updateFailoverStatus): time out, or start the
/// failover once the target (or any replica) acknowledged our offset.
pub fn update(srv: &Arc<Server>) {
    let f = &srv.repl.failover;
    let (end_ms, force, target) = {
        let s = f.state.lock();
        if s.phase != Phase::WaitForSync {
            return;
        }
        (s.end_ms, s.force, s.target.clone())
    };
    if end_ms != 0 && end_ms <= crate::commands::unix_ms() {
        match (force, target) {
            (true, Some((host, port))) => {
                crate::log::notice(&format!(
                    "FAILOVER to {host}:{port} time out exceeded, failing over."
                ));
                go(srv, host, port);
            }
            _ => abort(srv, "Replica never caught up before timeout"),
        }
        return;
    }
    let offset = srv.repl.offset();
    let caught_up = |r: &super::primary::Replica| r.ack_off.load(Ordering::Acquire) == offset;
    let chosen = match &target {
        Some((host, port)) => find_replica(srv, host, *port).filter(|r| caught_up(r)),
        None => srv.repl.replicas.list().into_iter().find(|r| caught_up(r)),
    };
    if let Some(r) = chosen {
        let (host, port) = (r.ip.clone(), r.port.load(Ordering::Relaxed));
        crate::log::notice(&format!(
            "Failover target {host}:{port} is synced, failing over."
        ));
        go(srv, host, port);
    }
}

/// Become a replica of the target; the link's PSYNC carries FAILOVER.
fn go(srv: &Arc<Server>, host: String, port: u16) {
    {
        let mut s = srv.repl.failover.state.lock();
        s.phase = Phase::InProgress;
        s.target = Some((host.clone(), port));
    }
    super::replica::set_master(srv, host, port);
}
