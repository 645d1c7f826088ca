//! The command side of blocking (BLPOP, BZPOPMIN, XREAD BLOCK ...): timeout
//! parsing, asking the dispatcher to park the client, and the wait itself in
//! the connection task. The wait queues live in store/blocking.rs.

use super::{CmdError, Ctx};
use crate::server::client::Client;
use crate::server::Server;
use crate::store::blocking::{WaitOp, Waiter, Wakeup};
use crate::store::LockPlan;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A handler's request to park the client (see [`Ctx::block`]).
pub struct BlockRequest {
    pub keys: Vec<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub op: Box<dyn WaitOp>,
}

/// A parked client: what the connection task waits on.
pub struct Blocked {
    pub waiter: Arc<Waiter>,
    pub rx: oneshot::Receiver<Wakeup>,
    pub deadline: Option<Instant>,
    /// The command, to run again on [`Wakeup::Retry`].
    pub argv: Vec<Vec<u8>>,
}

impl Ctx<'_, '_> {
    /// True when the command may park the client: not inside MULTI/EXEC,
    /// where Redis answers blocking commands as if they timed out at once.
    pub fn may_block(&self) -> bool {
        !self.client.in_exec
    }

    /// Parks the client on `keys` until a write serves `op` or `timeout`
    /// passes (None = forever). The handler writes no reply itself. Inside
    /// MULTI/EXEC this answers the timeout reply at once, as Redis does.
    pub fn block(&mut self, keys: Vec<Vec<u8>>, timeout: Option<Duration>, op: Box<dyn WaitOp>) {
        if !self.may_block() {
            let reply = op.timeout_reply(self.out.resp3);
            self.out.raw(&reply);
            return;
        }
        self.client.block_request = Some(BlockRequest { keys, timeout, op });
    }
}

/// Parses a blocking timeout in seconds (fractions allowed; 0 = forever), with
/// Redis's errors.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    use crate::util::num::{is_c_space, strtod};
    let invalid = CmdError::err("ERR timeout is not a float or out of range");
    if arg.is_empty() || is_c_space(arg[0]) {
        return Err(invalid);
    }
    let r = strtod(arg);
    if r.consumed != arg.len() || r.value.is_nan() {
        return Err(invalid);
    }
    // Redis 7.0 reads the timeout as a long double and converts
    // `ceill(1000 * t)` to a long long. A value past that range (inf, 1e400,
    // -inf) converts to LLONG_MIN on x86-64, so Redis calls it negative; a
    // value that underflowed to zero here is a tiny positive (1 ms) or
    // negative (0: no timeout) one for Redis's long double.
    let ms = if r.erange && r.value == 0.0 {
        if arg.first() == Some(&b'-') {
            0.0
        } else {
            1.0
        }
    } else {
        (r.value * 1000.0).ceil()
    };
    // 2^63: the first value a long long cannot hold (NaN is outside too).
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err(CmdError::err("ERR timeout is negative"));
    }
    // Redis 7.0 has no upper bound below that; a deadline centuries away is
    // clamped so adding it to the clock cannot overflow.
    const MAX_MS: f64 = 1e13;
    Ok((ms > 0.0).then(|| Duration::from_millis(ms.min(MAX_MS) as u64)))
}

/// Turns a handler's request into a registered waiter (called by the
/// dispatcher with the command's locks still held, so no write can slip in
/// between the handler's "nothing there" and the registration).
pub fn register(ks: &mut crate::store::Locked<'_>, client: &mut Client, argv: &[&[u8]]) {
    let Some(req) = client.block_request.take() else {
        return;
    };
    let resp3 = client
        .shared
        .resp
        .load(std::sync::atomic::Ordering::Relaxed)
        == 3;
    let (waiter, rx) = Waiter::new(client.id(), resp3, client.db, req.keys, req.op);
    ks.block(&waiter);
    client.blocked = Some(Blocked {
        waiter,
        rx,
        deadline: req.timeout.map(|t| Instant::now() + t),
        argv: argv.iter().map(|a| a.to_vec()).collect(),
    });
}

/// Removes a finished waiter from every queue it is in.
pub fn cleanup(srv: &Server, waiter: &Arc<Waiter>) {
    let plan = LockPlan::Shards(
        waiter
            .keys
            .iter()
            .map(|k| srv.store.slot(waiter.db, k))
            .collect(),
    );
    let mut ks = srv.store.lock(&plan, super::unix_ms());
    ks.unblock(waiter);
}
