//! Active expiry: keys with a TTL that nobody reads are still deleted soon after
//! their deadline (Redis's activeExpireCycle). Lazy expiry on access lives in
//! [`super::Locked`]; this is the other half.
//!
//! Each shard keeps a min-heap of (deadline, key hash). Every tick pops the due
//! items and deletes the entries with that hash whose deadline has passed. A
//! heap item can be stale (the TTL was changed or removed, the key deleted):
//! popping it then finds nothing due and it is dropped. When stale items
//! outnumber live TTLs the heap is rebuilt from the table, so a client that
//! refreshes the same key's TTL forever cannot grow it without bound.

use super::{Shard, Store, SHARDS};
use std::cell::Cell;
use std::cmp::Reverse;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a lookup does with a key whose deadline has passed. A primary
/// deletes it (and propagates a DEL). A replica must not: its primary
/// decides when a key is gone and sends the DEL, so replica and primary
/// stay equal. Until then the replica hides the key from its own clients
/// but applies the primary's commands to it as it stands (Redis 7.0's
/// expireIfNeeded with `server.current_client == server.master`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lazy {
    Delete,
    Hide,
    Keep,
}

thread_local! {
    /// Set while this thread runs a command of the replica's primary.
    static OBEYING_PRIMARY: Cell<bool> = const { Cell::new(false) };
}

impl Lazy {
    /// The mode of a view about to be taken on `store` by this thread.
    #[inline]
    pub fn of(store: &Store) -> Lazy {
        if !store.replica.load(Ordering::Relaxed) && !store.expiry_paused.load(Ordering::Relaxed) {
            Lazy::Delete
        } else if OBEYING_PRIMARY.with(|o| o.get()) {
            Lazy::Keep
        } else {
            Lazy::Hide
        }
    }
}

/// Runs `f` as the primary's client of a replica: lookups made by this
/// thread meanwhile see expired keys as they are (see [`Lazy`]).
pub fn obeying_primary<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            OBEYING_PRIMARY.with(|o| o.set(self.0));
        }
    }
    let _reset = Reset(OBEYING_PRIMARY.with(|o| o.replace(true)));
    f()
}

/// Most keys one shard expires per tick, so one tick never holds a lock long.
const MAX_PER_SHARD_TICK: usize = 20_000;

/// Where the previous tick stopped when it ran out of time.
#[derive(Default)]
pub struct Cursor {
    next: usize,
}

/// Runs one tick over all shards of all databases, starting where the last
/// one stopped, for at most `budget`. Returns the number of keys expired.
/// With `log`, the (db, key) of each expired key is appended to it.
pub fn active_expire_tick(
    store: &Store,
    now_ms: i64,
    budget: Duration,
    cursor: &mut Cursor,
    mut log: Option<&mut Vec<(usize, Vec<u8>)>>,
) -> usize {
    // A replica waits for its primary's DELs (see [`Lazy`]); DEBUG
    // SET-ACTIVE-EXPIRE 0 turns the cycle off.
    if store.replica.load(Ordering::Relaxed) || !store.active_expire.load(Ordering::Relaxed) {
        return 0;
    }
    let started = Instant::now();
    let total_slots = store.databases() * SHARDS;
    let mut expired = 0;
    let mut effects = crate::effects::Pending::default();
    for _ in 0..total_slots {
        let slot = cursor.next % total_slots;
        cursor.next = (slot + 1) % total_slots;
        let mut shard = store.lock_shard(slot / SHARDS, slot % SHARDS);
        let db = slot / SHARDS;
        // Each expiry is a DEL in the write-effects stream, committed before
        // the shard unlocks so a later write of the key comes after it.
        let propagate = store.effects.active();
        expired += expire_due(&mut shard, now_ms, |key| {
            if let Some(log) = log.as_deref_mut() {
                log.push((db, key.to_vec()));
            }
            if propagate {
                effects.push(db, &[b"DEL", key]);
                // One DEL per unit: Redis propagates each expiry by itself.
                store.effects.commit(&mut effects);
            }
        });
        drop(shard);
        if started.elapsed() > budget {
            break;
        }
    }
    expired
}

fn expire_due(shard: &mut Shard, now_ms: i64, mut on_expired: impl FnMut(&[u8])) -> usize {
    let mut expired = 0;
    while expired < MAX_PER_SHARD_TICK {
        let Some(&Reverse((deadline, hash))) = shard.expiry.peek() else {
            break;
        };
        if deadline > now_ms {
            break;
        }
        shard.expiry.pop();
        // Several keys can share a hash; delete every due one.
        loop {
            let due = shard
                .table
                .positions_with_hash(hash)
                .into_iter()
                .find(|&p| shard.table.at(p).is_expired(now_ms));
            let Some(pos) = due else { break };
            let gone = shard.remove_at(pos, hash);
            on_expired(gone.key.as_slice());
            shard.stats.expired += 1;
            expired += 1;
        }
    }
    if shard.expiry.len() > 2 * shard.ttl_keys + 1024 {
        rebuild_heap(shard);
    }
    expired
}

/// Rebuilds the expiry heap from the live keys (dropping stale items).
pub(super) fn rebuild_heap(shard: &mut Shard) {
    let items: Vec<_> = shard
        .table
        .iter()
        .filter(|e| e.expire_at != 0)
        .map(|e| Reverse((e.expire_at, shard.table.hash(e.key.as_slice()))))
        .collect();
    shard.expiry = items.into();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LockPlan, Value};

    #[test]
    fn due_keys_go_and_others_stay() {
        let store = Store::new(2);
        {
            let mut ks = store.lock(&LockPlan::All, 1_000);
            for i in 0..500 {
                let key = format!("k{i}");
                let at = if i % 2 == 0 { 1_500 } else { 10_000 };
                ks.set(1, key.as_bytes(), Value::Int(i), Some(at));
            }
            ks.set(1, b"forever", Value::Int(0), None);
            // A TTL refreshed many times leaves stale heap items behind.
            for t in 0..5000 {
                ks.set_expire(1, b"forever", Some(20_000 + t));
            }
            ks.set_expire(1, b"forever", None);
        }
        let mut cursor = Cursor::default();
        let n = active_expire_tick(&store, 2_000, Duration::from_secs(5), &mut cursor, None);
        assert_eq!(n, 250);
        let mut ks = store.lock(&LockPlan::All, 2_000);
        assert_eq!(ks.dbsize(1), 251);
        assert!(ks.get(1, b"forever").is_some());
        drop(ks);
        assert_eq!(
            active_expire_tick(&store, 30_000, Duration::from_secs(5), &mut cursor, None),
            250
        );
        let mut ks = store.lock(&LockPlan::All, 30_000);
        assert_eq!(ks.dbsize(1), 1);
    }
}
