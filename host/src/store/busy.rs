//! Long lock holders that other clients should be told about instead of
//! waiting for silently: a script or function that has held its shards past
//! `busy-reply-threshold` makes the clients that need one of those shards get
//! its BUSY error (Redis's "BUSY Redis is busy running a script ..."), while
//! clients on other shards go on as usual.
//!
//! Invocations register when they start to run long (when the wasm layer
//! hands their worker away, after 5 ms), so short ones never touch the
//! registry's lock; a `busy-reply-threshold` below that acts as 5 ms.
//!
//! The registry only knows shard ids (`slot_id`s of [`super::Locked`]) and the
//! error text a holder wants waiters to get; which invocations register, and
//! with which text, is the command layer's business.

use parking_lot::Mutex;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One registered holder.
struct Holder {
    id: u64,
    since: Instant,
    /// What a client waiting for one of `slots` gets once the holder is busy.
    reply: &'static str,
    slots: SmallVec<[u32; 16]>,
}

/// The holders that may turn busy (see the module doc).
pub struct Busy {
    holders: Mutex<Vec<Holder>>,
    /// `holders.len()`, readable without the lock: the waiters' fast path.
    count: AtomicUsize,
    next_id: AtomicU64,
    /// `busy-reply-threshold` in ms.
    threshold_ms: AtomicU64,
}

impl Default for Busy {
    fn default() -> Self {
        Busy {
            holders: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            threshold_ms: AtomicU64::new(5000),
        }
    }
}

impl Busy {
    /// Sets `busy-reply-threshold` (CONFIG SET applies to running holders too).
    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    fn threshold(&self) -> Duration {
        Duration::from_millis(self.threshold_ms.load(Ordering::Relaxed))
    }

    /// Registers a holder of `slots` that took them at `since`;
    /// [`Busy::leave`] with the returned id removes it.
    pub fn enter(
        &self,
        reply: &'static str,
        since: Instant,
        slots: impl Iterator<Item = u32>,
    ) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut holders = self.holders.lock();
        holders.push(Holder {
            id,
            since,
            reply,
            slots: slots.collect(),
        });
        self.count.store(holders.len(), Ordering::Release);
        id
    }

    /// The holder took more shards (keys it had not declared): `slots` is
    /// everything it holds now.
    pub fn set_slots(&self, id: u64, slots: impl Iterator<Item = u32>) {
        if let Some(h) = self.holders.lock().iter_mut().find(|h| h.id == id) {
            h.slots.clear();
            h.slots.extend(slots);
        }
    }

    pub fn leave(&self, id: u64) {
        let mut holders = self.holders.lock();
        holders.retain(|h| h.id != id);
        self.count.store(holders.len(), Ordering::Release);
    }

    /// The BUSY reply for a client that needs `slot`, when a holder of it
    /// has run past the threshold.
    pub fn holding(&self, slot: u32) -> Option<&'static str> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let threshold = self.threshold();
        self.holders
            .lock()
            .iter()
            .find(|h| h.slots.contains(&slot) && h.since.elapsed() >= threshold)
            .map(|h| h.reply)
    }

    /// The BUSY reply of any holder past the threshold (SHUTDOWN without
    /// NOSAVE is refused then, as in Redis).
    pub fn any(&self) -> Option<&'static str> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let threshold = self.threshold();
        self.holders
            .lock()
            .iter()
            .find(|h| h.since.elapsed() >= threshold)
            .map(|h| h.reply)
    }
}
