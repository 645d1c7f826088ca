//! Keyspace notifications (`notify-keyspace-events`): a write command calls
//! [`Ctx::notify`] with the event Redis emits for it, and subscribers of
//! `__keyspace@<db>__:<key>` (message: the event) and
//! `__keyevent@<db>__:<event>` (message: the key) receive it, synchronously
//! and in order, like Redis's notifyKeyspaceEvent.

use super::Ctx;
use crate::config::{NOTIFY_EXPIRED, NOTIFY_KEYEVENT, NOTIFY_KEYSPACE};
use crate::server::Server;
use std::sync::atomic::Ordering;

pub use crate::config::{
    NOTIFY_GENERIC as GENERIC, NOTIFY_HASH as HASH, NOTIFY_LIST as LIST, NOTIFY_SET as SET,
    NOTIFY_STREAM as STREAM, NOTIFY_STRING as STRING, NOTIFY_ZSET as ZSET,
};

impl Ctx<'_, '_> {
    /// Emits keyspace event `event` of `class` for `key` in the client's db.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.db();
        self.notify_db(class, event, key, db);
    }

    /// Like [`Ctx::notify`] for a key of another database (MOVE, COPY DB).
    pub fn notify_db(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        if let Some(held) = self.client.guest_events.as_mut() {
            for (class, event, db, key) in std::mem::take(&mut self.ks.events) {
                held.push((class, event.to_string(), db, key));
            }
            // Only events someone may receive are worth holding.
            if enabled(self.srv, class) {
                held.push((class, event.to_string(), db, key.to_vec()));
            }
            return;
        }
        // Events the store raised during this command (`new`, `keymiss`)
        // happened first.
        for (class, event, db, key) in std::mem::take(&mut self.ks.events) {
            notify(self.srv, class, event, &key, db);
        }
        notify(self.srv, class, event, key, db);
        if self.client.sub.is_some() {
            super::pubsub::drain_own_messages(self);
        }
    }
}

/// Emits a keyspace event if the configuration asks for its class.
#[inline]
pub fn notify(srv: &Server, class: u32, event: &str, key: &[u8], db: usize) {
    if enabled(srv, class) {
        let flags = srv.notify_flags.load(Ordering::Relaxed);
        publish_event(srv, flags, event, key, db);
    }
}

/// Whether `notify-keyspace-events` asks for events of `class`.
pub fn wants(srv: &Server, class: u32) -> bool {
    enabled(srv, class)
}

/// Whether `notify-keyspace-events` asks for events of `class`.
#[inline]
fn enabled(srv: &Server, class: u32) -> bool {
    let flags = srv.notify_flags.load(Ordering::Relaxed);
    flags & class != 0 && flags & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT) != 0
}

#[cold]
fn publish_event(srv: &Server, flags: u32, event: &str, key: &[u8], db: usize) {
    let limit = srv.config.read().client_output_buffer_limit.pubsub;
    if flags & NOTIFY_KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(key);
        srv.pubsub
            .publish(&channel, event.as_bytes(), false, &limit);
    }
    if flags & NOTIFY_KEYEVENT != 0 {
        let channel = format!("__keyevent@{db}__:{event}");
        srv.pubsub.publish(channel.as_bytes(), key, false, &limit);
    }
}

/// `expired` events for keys deleted by lazy or active expiry.
pub fn notify_expired(srv: &Server, keys: &[(usize, Vec<u8>)]) {
    for (db, key) in keys {
        notify(srv, NOTIFY_EXPIRED, "expired", key, *db);
    }
}

/// Re-reads `notify-keyspace-events` after start-up and CONFIG SET.
pub fn refresh_flags(srv: &Server) {
    let flags = srv.config.read().notify_keyspace_events;
    srv.notify_flags.store(flags, Ordering::Relaxed);
    let want_expired =
        flags & NOTIFY_EXPIRED != 0 && flags & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT) != 0;
    srv.store
        .record_expired
        .store(want_expired, Ordering::Relaxed);
    let channels = flags & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT) != 0;
    let new = channels && flags & crate::config::NOTIFY_NEW != 0;
    let miss = channels && flags & crate::config::NOTIFY_KEY_MISS != 0;
    srv.store.record_new.store(new, Ordering::Relaxed);
    srv.store.record_keymiss.store(miss, Ordering::Relaxed);
}
