//! Pub/sub delivery: who is subscribed to what, and the per-subscriber
//! message queues.
//!
//! PUBLISH never waits for a subscriber: each subscriber has an unbounded
//! queue drained by its own connection task, and the bytes waiting in it are
//! counted. A subscriber over `client-output-buffer-limit pubsub` (hard limit,
//! or soft limit for longer than its seconds) is disconnected, as in Redis,
//! so a reader that stopped reading cannot make the server hoard memory or
//! slow anyone else down.

use super::client::ClientShared;
use crate::config::OutputBufferLimit;
use crate::util::glob::glob_match;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// One subscribed client, as the registry sees it.
pub struct Subscriber {
    pub client: Arc<ClientShared>,
    tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued and not yet written to the socket.
    pending: AtomicU64,
    /// Protocol of the client: RESP3 messages are push frames.
    pub resp3: AtomicBool,
    over_soft_since: Mutex<Option<Instant>>,
}

impl Subscriber {
    pub fn new(
        client: Arc<ClientShared>,
        resp3: bool,
    ) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let s = Subscriber {
            client,
            tx,
            pending: AtomicU64::new(0),
            resp3: AtomicBool::new(resp3),
            over_soft_since: Mutex::new(None),
        };
        (Arc::new(s), rx)
    }

    /// Bytes of messages queued and not yet moved to the connection's output.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed) as usize
    }

    /// The connection wrote `n` bytes of queued messages.
    pub fn written(&self, n: usize) {
        self.pending.fetch_sub(n as u64, Ordering::Relaxed);
    }

    /// Queues a message; false (and the client is killed) if it is over its limit.
    fn deliver(&self, msg: Bytes, limit: &OutputBufferLimit) -> bool {
        let pending =
            self.pending.fetch_add(msg.len() as u64, Ordering::Relaxed) + msg.len() as u64;
        if self.tx.send(msg).is_err() {
            return false;
        }
        let reached =
            super::client::output_limit_reached(limit, pending, &mut self.over_soft_since.lock());
        if reached && !self.client.killed.load(Ordering::Relaxed) {
            crate::log::warning(&format!(
                "Client id={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.client.id
            ));
            self.client.kill();
            return false;
        }
        true
    }
}

#[derive(Default)]
struct Registry {
    channels: HashMap<Vec<u8>, Vec<Arc<Subscriber>>>,
    patterns: HashMap<Vec<u8>, Vec<Arc<Subscriber>>>,
    shard_channels: HashMap<Vec<u8>, Vec<Arc<Subscriber>>>,
}

/// Which namespace a subscription is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

#[derive(Default)]
pub struct PubSub {
    reg: Mutex<Registry>,
}

fn map(reg: &mut Registry, kind: Kind) -> &mut HashMap<Vec<u8>, Vec<Arc<Subscriber>>> {
    match kind {
        Kind::Channel => &mut reg.channels,
        Kind::Pattern => &mut reg.patterns,
        Kind::Shard => &mut reg.shard_channels,
    }
}

/// Encodes a message frame: `[kind, (pattern,) channel, payload]`.
fn frame(resp3: bool, parts: &[&[u8]]) -> Bytes {
    let mut out = super::reply::Out {
        buf: Vec::with_capacity(64),
        resp3,
        error_prefixes: Vec::new(),
    };
    out.push(parts.len());
    for p in parts {
        out.bulk(p);
    }
    Bytes::from(out.buf)
}

impl PubSub {
    pub fn subscribe(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) {
        let mut reg = self.reg.lock();
        let list = map(&mut reg, kind).entry(name.to_vec()).or_default();
        if !list.iter().any(|s| Arc::ptr_eq(s, sub)) {
            list.push(sub.clone());
        }
    }

    /// A client's subscriptions as (channel or pattern, is a pattern), for
    /// ACL SETUSER's check of its channels.
    pub fn subscriptions_of(&self, client_id: u64) -> Vec<(Vec<u8>, bool)> {
        let reg = self.reg.lock();
        let mut out = Vec::new();
        for (m, pattern) in [
            (&reg.channels, false),
            (&reg.shard_channels, false),
            (&reg.patterns, true),
        ] {
            for (name, subs) in m {
                if subs.iter().any(|s| s.client.id == client_id) {
                    out.push((name.clone(), pattern));
                }
            }
        }
        out
    }

    pub fn unsubscribe(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) {
        let mut reg = self.reg.lock();
        let m = map(&mut reg, kind);
        if let Some(list) = m.get_mut(name) {
            list.retain(|s| !Arc::ptr_eq(s, sub));
            if list.is_empty() {
                m.remove(name);
            }
        }
    }

    /// PUBLISH (or SPUBLISH with `shard`): delivers to channel subscribers and,
    /// for ordinary channels, to matching patterns. Returns the receivers.
    pub fn publish(
        &self,
        channel: &[u8],
        message: &[u8],
        shard: bool,
        limit: &OutputBufferLimit,
    ) -> usize {
        let reg = self.reg.lock();
        let mut n = 0;
        // Frames are encoded at most once per protocol and shared.
        let mut cached: [Option<Bytes>; 2] = [None, None];
        let kind: &[u8] = if shard { b"smessage" } else { b"message" };
        let subs = if shard {
            reg.shard_channels.get(channel)
        } else {
            reg.channels.get(channel)
        };
        for s in subs.into_iter().flatten() {
            let resp3 = s.resp3.load(Ordering::Relaxed);
            let f = cached[resp3 as usize]
                .get_or_insert_with(|| frame(resp3, &[kind, channel, message]))
                .clone();
            s.deliver(f, limit);
            n += 1;
        }
        if !shard {
            for (pattern, subs) in &reg.patterns {
                if !glob_match(pattern, channel, false) {
                    continue;
                }
                for s in subs {
                    let resp3 = s.resp3.load(Ordering::Relaxed);
                    s.deliver(
                        frame(resp3, &[b"pmessage", pattern, channel, message]),
                        limit,
                    );
                    n += 1;
                }
            }
        }
        n
    }

    /// Active channels (or shard channels) matching `pattern` (None = all).
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let reg = self.reg.lock();
        let m = if shard {
            &reg.shard_channels
        } else {
            &reg.channels
        };
        m.keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel (or shard channel).
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        let reg = self.reg.lock();
        let m = if shard {
            &reg.shard_channels
        } else {
            &reg.channels
        };
        m.get(channel).map_or(0, |v| v.len())
    }

    /// Number of subscribed patterns (PUBSUB NUMPAT counts patterns, not clients).
    pub fn numpat(&self) -> usize {
        self.reg.lock().patterns.len()
    }
}
