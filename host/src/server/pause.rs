//! The server's one client pause (Redis's pauseClients): while it lasts,
//! client commands that may replicate (WRITE) or all of them (ALL) are
//! held and run once it ends, replicas and the primary link are never
//! held, keys do not expire (lazy expiry hides them, active expiry waits)
//! and nothing is evicted, so the data and the replication offset stay
//! still.
//!
//! Several holders (purposes) may pause at once, each with its own mode and
//! end time, as in Redis: CLIENT PAUSE (commands/pause.rs), a SHUTDOWN
//! waiting for replicas (repl/shutdown.rs) and a FAILOVER (repl/failover.rs).
//! The pause in force is the strictest mode among the purposes that have
//! not run out; CLIENT UNPAUSE ends only its own purpose.
//!
//! It lives in server/ because it is server-wide state that both
//! commands/ and repl/ set, the dispatcher (commands/mod.rs) tests and the
//! connection (server/connection.rs) waits on; repl/ must not use
//! commands/, and both already depend on `server::Server`.
//!
//! The dispatcher tests one atomic ([`Pause::active`]) per command; the
//! per-purpose table behind a lock is only read while a pause is set.

use crate::store::Store;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// Who paused (Redis's pause_purpose).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// CLIENT PAUSE.
    ClientCommand = 0,
    /// SHUTDOWN waiting for lagging replicas.
    Shutdown = 1,
    /// FAILOVER waiting for (and handing over to) a replica.
    Failover = 2,
}

const PURPOSES: usize = 3;

/// What is held, ordered by strictness (Redis's pause_type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Off = 0,
    /// Commands that may replicate.
    Write = 1,
    /// Every client command.
    All = 2,
}

/// A command a pause holds (`Client::paused`): the connection runs it
/// again once no pause holds it.
pub struct HeldCommand {
    pub argv: Vec<Vec<u8>>,
    /// Whether it may replicate (held by WRITE pauses too).
    pub may_replicate: bool,
}

/// The end time of a pause that lasts until its holder lifts it.
pub const NO_END: i64 = i64::MAX;

#[derive(Clone, Copy)]
struct Hold {
    mode: Mode,
    /// Unix ms the hold ends at.
    end_ms: i64,
}

const NONE: Hold = Hold {
    mode: Mode::Off,
    end_ms: 0,
};

pub struct Pause {
    /// The strictest mode among the purposes (as last computed): the hot
    /// path's one load.
    mode: AtomicU8,
    holds: Mutex<[Hold; PURPOSES]>,
    /// Bumped whenever a purpose ends; held clients wait on it.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Pause {
    fn default() -> Self {
        Pause {
            mode: AtomicU8::new(Mode::Off as u8),
            holds: Mutex::new([NONE; PURPOSES]),
            changed: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Pause {
    /// Whether a pause is set (it may have run out: see [`in_force`]).
    #[inline]
    pub fn active(&self) -> bool {
        self.mode.load(Ordering::Acquire) != Mode::Off as u8
    }

    /// Drops the purposes that ran out at `now_ms` and returns the mode
    /// in force and the earliest end left (Redis's
    /// checkClientPauseTimeoutAndReturnIfPaused / updateClientPauseTypeAndEndTime).
    fn refresh(&self, now_ms: i64) -> (Mode, i64) {
        let mut holds = self.holds.lock();
        let mut mode = Mode::Off;
        let mut end = NO_END;
        let mut ended = false;
        for h in holds.iter_mut() {
            if h.mode == Mode::Off {
                continue;
            }
            if h.end_ms < now_ms {
                *h = NONE;
                ended = true;
                continue;
            }
            mode = mode.max(h.mode);
            end = end.min(h.end_ms);
        }
        self.mode.store(mode as u8, Ordering::Release);
        drop(holds);
        if ended {
            self.changed.send_modify(|n| *n += 1);
        }
        (mode, end)
    }

    /// Whether a command that may replicate (or not) is held at `now_ms`.
    pub fn holds(&self, now_ms: i64, may_replicate: bool) -> bool {
        if !self.active() {
            return false;
        }
        match self.refresh(now_ms).0 {
            Mode::Off => false,
            Mode::Write => may_replicate,
            Mode::All => true,
        }
    }

    /// Waits until no pause holds a command that may replicate (or not):
    /// every purpose that would hold it ended or ran out.
    pub async fn wait_end(&self, may_replicate: bool) {
        let mut rx = self.changed.subscribe();
        loop {
            rx.borrow_and_update();
            let now = crate::commands::unix_ms();
            let (mode, end) = self.refresh(now);
            let held = match mode {
                Mode::Off => false,
                Mode::Write => may_replicate,
                Mode::All => true,
            };
            if !held {
                return;
            }
            let left = end.saturating_sub(now).saturating_add(1);
            let left = std::time::Duration::from_millis(left.clamp(1, 3_600_000) as u64);
            let _ = tokio::time::timeout(left, rx.changed()).await;
        }
    }
}

/// Starts or extends `purpose`'s pause: within a purpose the stricter mode
/// and the later end win, as Redis merges pauses. Expiry and eviction stop.
pub fn pause(pause: &Pause, store: &Store, purpose: Purpose, mode: Mode, end_ms: i64) {
    let mut holds = pause.holds.lock();
    let h = &mut holds[purpose as usize];
    if h.mode == Mode::Off {
        *h = Hold { mode, end_ms };
    } else {
        h.mode = h.mode.max(mode);
        h.end_ms = h.end_ms.max(end_ms);
    }
    let strictest = holds.iter().map(|h| h.mode).max().unwrap_or(Mode::Off);
    store.expiry_paused.store(true, Ordering::Relaxed);
    pause.mode.store(strictest as u8, Ordering::Release);
}

/// Ends `purpose`'s pause (the others stay); held clients that no purpose
/// holds any more run their commands.
pub fn unpause(pause: &Pause, store: &Store, purpose: Purpose) {
    pause.holds.lock()[purpose as usize] = NONE;
    pause.changed.send_modify(|n| *n += 1);
    in_force(pause, store, crate::commands::unix_ms());
}

/// Whether a pause is in force at `now_ms` (expiry and eviction wait);
/// ends the purposes that ran out and lets expiry resume when none is left.
pub fn in_force(pause: &Pause, store: &Store, now_ms: i64) -> bool {
    let paused = pause.active() && pause.refresh(now_ms).0 != Mode::Off;
    store.expiry_paused.store(paused, Ordering::Relaxed);
    paused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiry_stopped(store: &Store) -> bool {
        store.expiry_paused.load(Ordering::Relaxed)
    }

    #[test]
    fn strictest_purpose_wins_and_unpause_ends_only_its_own() {
        let (p, store) = (Pause::default(), Store::new(1));
        assert!(!p.active() && !p.holds(1_000, true));
        pause(&p, &store, Purpose::Failover, Mode::Write, NO_END);
        pause(&p, &store, Purpose::ClientCommand, Mode::All, 5_000);
        assert!(expiry_stopped(&store));
        assert!(p.holds(1_000, false), "ALL holds reads");
        // CLIENT UNPAUSE leaves the failover's WRITE pause.
        unpause(&p, &store, Purpose::ClientCommand);
        assert!(p.active() && p.holds(1_000, true) && !p.holds(1_000, false));
        assert!(in_force(&p, &store, 1_000) && expiry_stopped(&store));
        unpause(&p, &store, Purpose::Failover);
        assert!(!p.active() && !expiry_stopped(&store));
    }

    #[test]
    fn within_a_purpose_the_stricter_mode_and_later_end_win() {
        let (p, store) = (Pause::default(), Store::new(1));
        pause(&p, &store, Purpose::ClientCommand, Mode::All, 2_000);
        pause(&p, &store, Purpose::ClientCommand, Mode::Write, 1_000);
        assert!(p.holds(1_500, false), "ALL kept, end 2000 kept");
        pause(&p, &store, Purpose::ClientCommand, Mode::Write, 3_000);
        assert!(p.holds(2_500, false), "end extended to 3000, still ALL");
        // Runs out: nothing held, expiry resumes.
        assert!(!in_force(&p, &store, 3_001));
        assert!(!p.active() && !expiry_stopped(&store));
    }

    #[test]
    fn a_timed_out_client_pause_leaves_the_others() {
        let (p, store) = (Pause::default(), Store::new(1));
        pause(&p, &store, Purpose::Shutdown, Mode::Write, NO_END);
        pause(&p, &store, Purpose::ClientCommand, Mode::All, 1_000);
        assert!(!p.holds(2_000, false) && p.holds(2_000, true));
    }
}
