//! The write pause replication holds while a role change or a shutdown
//! waits for replicas to catch up (Redis's pauseClients with
//! PAUSE_DURING_FAILOVER / PAUSE_DURING_SHUTDOWN and CLIENT_PAUSE_WRITE):
//! commands that may replicate wait (commands/mod.rs postpones them,
//! server/connection.rs runs them when the pause ends), so the offset the
//! replicas must reach stops moving. Each holder is a reason bit; writes
//! resume when no reason is left.

use std::sync::atomic::{AtomicU8, Ordering};

/// FAILOVER waiting for (and handing over to) a replica.
pub const FAILOVER: u8 = 1;
/// SHUTDOWN waiting for lagging replicas.
pub const SHUTDOWN: u8 = 2;

pub struct WritePause {
    reasons: AtomicU8,
    /// Bumped when a reason is dropped; postponed clients wait on it.
    resumed: tokio::sync::watch::Sender<u64>,
}

impl Default for WritePause {
    fn default() -> Self {
        WritePause {
            reasons: AtomicU8::new(0),
            resumed: tokio::sync::watch::channel(0).0,
        }
    }
}

impl WritePause {
    #[inline]
    pub fn active(&self) -> bool {
        self.reasons.load(Ordering::Acquire) != 0
    }

    pub fn pause(&self, reason: u8) {
        self.reasons.fetch_or(reason, Ordering::AcqRel);
    }

    pub fn unpause(&self, reason: u8) {
        self.reasons.fetch_and(!reason, Ordering::AcqRel);
        self.resumed.send_modify(|n| *n += 1);
    }

    /// Waits until writes may run again (returns at once when they may).
    pub async fn resumed(&self) {
        let mut rx = self.resumed.subscribe();
        while self.active() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}
