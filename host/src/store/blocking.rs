//! Clients blocked on keys (BLPOP, BZPOPMIN, XREAD BLOCK ...): the per-key
//! wait queues and the contract between a write that makes a key ready and
//! the waiter it serves.
//!
//! Like Redis, a blocked client is served by the writer: after a command (or a
//! whole EXEC) that touched a key with waiters, still holding that key's lock,
//! the dispatcher hands the key to the waiters in arrival order. Each waiter's
//! [`WaitOp`] pops what it needs and produces its reply bytes, which travel to
//! the waiting connection through a oneshot channel. So nobody can take the
//! element between the push and the waiter, and the longest-waiting client is
//! served first.

use super::Locked;
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// What serving a waiter from a ready key did.
pub enum Served {
    /// The waiter got its reply (RESP bytes, in the waiter's protocol).
    Reply(Vec<u8>),
    /// The key has nothing for this waiter (empty, wrong type): stop serving this key.
    NotReady,
    /// The key cannot serve this waiter now, but may serve the ones behind
    /// it (stream readers wait for different IDs; Redis serves every ready
    /// one): keep this waiter in its place and go on with the next.
    Skip,
    /// Serving needs a key this writer has not locked (BLMOVE to another
    /// shard): wake the waiter to run its command again by itself.
    Retry,
}

/// The operation a blocked command completes once a key is ready.
pub trait WaitOp: Send + Sync {
    /// Tries to complete on `key` (one of the waiter's keys), with its shard locked.
    fn serve(&self, ks: &mut Locked<'_>, db: usize, key: &[u8]) -> Served;
    /// The reply when the timeout expires (a null of the right shape).
    fn timeout_reply(&self, resp3: bool) -> Vec<u8>;
}

/// What the waiting connection receives.
pub enum Wakeup {
    Reply(Vec<u8>),
    Retry,
}

pub struct Waiter {
    pub client_id: u64,
    /// The client's protocol when it blocked (RESP3 replies differ).
    pub resp3: bool,
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    pub op: Box<dyn WaitOp>,
    /// The sender, taken by whoever completes the wait first: a writer that
    /// serves it, or the timeout / disconnect path that cancels it.
    pub(super) tx: Mutex<Option<oneshot::Sender<Wakeup>>>,
}

impl Waiter {
    pub fn new(
        client_id: u64,
        resp3: bool,
        db: usize,
        keys: Vec<Vec<u8>>,
        op: Box<dyn WaitOp>,
    ) -> (std::sync::Arc<Waiter>, oneshot::Receiver<Wakeup>) {
        let (tx, rx) = oneshot::channel();
        let w = Waiter {
            client_id,
            resp3,
            db,
            keys,
            op,
            tx: Mutex::new(Some(tx)),
        };
        (std::sync::Arc::new(w), rx)
    }

    /// Cancels the wait (timeout, disconnect); false if a writer served it
    /// first, in which case its reply is waiting in the receiver.
    pub fn cancel(&self) -> bool {
        self.tx.lock().take().is_some()
    }
}
