//! CLIENT PAUSE / CLIENT UNPAUSE (Redis's pauseClients): while a pause
//! lasts, client commands that may replicate (WRITE mode) or all of them
//! (ALL mode) are held and run once it ends; replicas are never held; keys
//! do not expire (lazy expiry hides them, active expiry waits) and nothing
//! is evicted, so a primary's data stays still for a failover.
//!
//! The dispatcher tests one flag ([`Pause::active`]) per command.

use super::table::flags;
use super::{eq_ic, CmdError, CmdResult, Ctx};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

const OFF: u8 = 0;
const WRITE: u8 = 1;
const ALL: u8 = 2;

#[derive(Default)]
pub struct Pause {
    /// OFF, WRITE or ALL.
    mode: AtomicU8,
    /// Unix ms the pause ends at.
    end_ms: AtomicI64,
    ended: tokio::sync::Notify,
}

impl Pause {
    /// Whether a pause is set (it may have run out: see [`Pause::holds`]).
    #[inline]
    pub fn active(&self) -> bool {
        self.mode.load(Ordering::Relaxed) != OFF
    }

    /// Whether a pause is in force at `now_ms`; ends one that ran out
    /// (Redis's checkClientPauseTimeoutAndReturnIfPaused).
    pub fn in_force(&self, now_ms: i64) -> bool {
        if !self.active() {
            return false;
        }
        if self.end_ms.load(Ordering::Relaxed) < now_ms {
            self.unpause();
            return false;
        }
        true
    }

    /// Whether a command that may replicate (or not) is held at `now_ms`.
    fn holds(&self, now_ms: i64, may_replicate: bool) -> bool {
        self.in_force(now_ms) && (self.mode.load(Ordering::Relaxed) == ALL || may_replicate)
    }

    /// Starts or extends a pause: the stricter mode and the later end win,
    /// as Redis merges pauses.
    fn pause(&self, end_ms: i64, mode: u8, store: &crate::store::Store) {
        self.end_ms.fetch_max(end_ms, Ordering::Relaxed);
        self.mode.fetch_max(mode, Ordering::Relaxed);
        store.expiry_paused.store(true, Ordering::Relaxed);
    }

    /// Ends the pause; held clients run their commands.
    pub fn unpause(&self) {
        self.mode.store(OFF, Ordering::Relaxed);
        self.end_ms.store(0, Ordering::Relaxed);
        self.ended.notify_waiters();
    }

    /// Waits until the pause ends (UNPAUSE or its timeout).
    pub async fn wait_end(&self) {
        loop {
            let ended = self.ended.notified();
            if !self.in_force(super::unix_ms()) {
                return;
            }
            let left = self.end_ms.load(Ordering::Relaxed) - super::unix_ms() + 1;
            let left = std::time::Duration::from_millis(left.clamp(1, 3_600_000) as u64);
            let _ = tokio::time::timeout(left, ended).await;
        }
    }
}

/// The dispatcher's check (processCommand's pause test): true when the
/// command was held; the connection runs it again once the pause ends.
pub fn hold(
    srv: &crate::server::Server,
    client: &mut crate::server::client::Client,
    cmd: &super::table::Command,
    argv: &[&[u8]],
    now_ms: i64,
) -> bool {
    use crate::server::client::FLAG_REPLICA;
    if client.shared.flags.load(Ordering::Relaxed) & FLAG_REPLICA != 0 {
        return false;
    }
    // EVAL, FCALL, PUBLISH, PFCOUNT carry `may_replicate` in the table;
    // a script's declared flags do not remove it (as in Redis).
    let may_replicate =
        |spec: &super::table::CommandSpec| spec.has(flags::WRITE) || spec.has(flags::MAY_REPLICATE);
    let replicates = may_replicate(&cmd.spec)
        || (cmd.spec.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queue.iter().any(|q| may_replicate(&q.cmd.spec))));
    if !srv.pause.holds(now_ms, replicates) {
        return false;
    }
    client.paused = Some(argv.iter().map(|a| a.to_vec()).collect());
    true
}

/// Whether expiry and eviction wait (a pause is in force).
pub fn expiry_paused(srv: &crate::server::Server, now_ms: i64) -> bool {
    let paused = srv.pause.in_force(now_ms);
    if !paused {
        srv.store.expiry_paused.store(false, Ordering::Relaxed);
    }
    paused
}

/// CLIENT PAUSE timeout [WRITE|ALL].
pub fn client_pause(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let mut mode = ALL;
    if argv.len() == 4 {
        if eq_ic(argv[3], "write") {
            mode = WRITE;
        } else if !eq_ic(argv[3], "all") {
            return Err(CmdError::err("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let ms = super::arg_i64(argv[2])
        .map_err(|_| CmdError::err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("ERR timeout is negative"));
    }
    // A timeout of 0 ends at once (Redis's getTimeoutFromObjectOrReply).
    let end = if ms > 0 {
        ctx.now_ms().saturating_add(ms)
    } else {
        0
    };
    ctx.srv.pause.pause(end, mode, &ctx.srv.store);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNPAUSE.
pub fn client_unpause(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.srv.pause.unpause();
    ctx.srv.store.expiry_paused.store(false, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}
