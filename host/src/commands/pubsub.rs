//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and
//! PUBSUB introspection. Delivery lives in server/pubsub.rs; this file keeps
//! each client's subscriptions and writes Redis's confirmation frames.

use super::keys::{container_help, reply_help};
use super::table::{flags::*, Channels, CommandSpec, Group};
use super::{CmdError, CmdResult, Ctx};
use crate::server::client::Client;
use crate::server::pubsub::{Kind, Subscriber};
use crate::server::Server;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, Group::PubSub, subscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE).channels(Channels::Subscribe)
        .doc("2.0.0", "Listens for messages published to channels.", "O(N) where N is the number of channels to subscribe to.")
        .syntax("channel [channel ...]"),
    CommandSpec::new("unsubscribe", -1, Group::PubSub, unsubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .doc("2.0.0", "Stops listening to messages posted to channels.", "O(N) where N is the number of channels to unsubscribe.")
        .syntax("[channel [channel ...]]"),
    CommandSpec::new("psubscribe", -2, Group::PubSub, psubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE).channels(Channels::SubscribePatterns)
        .doc("2.0.0", "Listens for messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to subscribe to.")
        .syntax("pattern [pattern ...]"),
    CommandSpec::new("punsubscribe", -1, Group::PubSub, punsubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .doc("2.0.0", "Stops listening to messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to unsubscribe.")
        .syntax("[pattern [pattern ...]]"),
    CommandSpec::new("ssubscribe", -2, Group::PubSub, ssubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE).keys(1, -1, 1).channels(Channels::Subscribe)
        .doc("7.0.0", "Listens for messages published to shard channels.", "O(N) where N is the number of shard channels to subscribe to.")
        .syntax("shardchannel [shardchannel ...]"),
    CommandSpec::new("sunsubscribe", -1, Group::PubSub, sunsubscribe).flags(PUBSUB | NOSCRIPT | LOADING | STALE).keys(1, -1, 1)
        .doc("7.0.0", "Stops listening to messages posted to shard channels.", "O(N) where N is the number of shard channels to unsubscribe.")
        .syntax("[shardchannel [shardchannel ...]]"),
    CommandSpec::new("publish", 3, Group::PubSub, publish).flags(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE).channels(Channels::Publish)
        .doc("2.0.0", "Posts a message to a channel.", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).")
        .syntax("channel message"),
    CommandSpec::new("spublish", 3, Group::PubSub, spublish).flags(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE).keys(1, 1, 1).channels(Channels::Publish)
        .doc("7.0.0", "Post a message to a shard channel", "O(N) where N is the number of clients subscribed to the receiving shard channel.")
        .syntax("shardchannel message"),
    CommandSpec::new("pubsub", -2, Group::PubSub, container_help)
        .doc("2.8.0", "A container for Pub/Sub commands.", "Depends on subcommand.")
        .subcommands(PUBSUB_SUBCOMMANDS),
];

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("channels", -2, Group::PubSub, pubsub_channels).flags(PUBSUB | LOADING | STALE)
        .doc("2.8.0", "Returns the active channels.", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)")
        .syntax("[pattern]"),
    CommandSpec::new("numsub", -2, Group::PubSub, pubsub_numsub).flags(PUBSUB | LOADING | STALE)
        .doc("2.8.0", "Returns a count of subscribers to channels.", "O(N) for the NUMSUB subcommand, where N is the number of requested channels")
        .syntax("[channel [channel ...]]"),
    CommandSpec::new("numpat", 2, Group::PubSub, pubsub_numpat).flags(PUBSUB | LOADING | STALE)
        .doc("2.8.0", "Returns a count of unique pattern subscriptions.", "O(1)"),
    CommandSpec::new("shardchannels", -2, Group::PubSub, pubsub_shardchannels).flags(PUBSUB | LOADING | STALE)
        .doc("7.0.0", "Returns the active shard channels.", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).")
        .syntax("[pattern]"),
    CommandSpec::new("shardnumsub", -2, Group::PubSub, pubsub_shardnumsub).flags(PUBSUB | LOADING | STALE)
        .doc("7.0.0", "Returns the count of subscribers of shard channels.", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels")
        .syntax("[shardchannel [shardchannel ...]]"),
    CommandSpec::new("help", 2, Group::PubSub, pubsub_help).flags(LOADING | STALE)
        .doc("6.2.0", "Returns helpful text about the different subcommands.", "O(1)"),
];

/// A client's subscriptions and its message queue.
pub struct SubState {
    pub subscriber: Arc<Subscriber>,
    pub rx: mpsc::UnboundedReceiver<Bytes>,
    channels: Vec<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    shard_channels: Vec<Vec<u8>>,
}

impl SubState {
    fn list(&mut self, kind: Kind) -> &mut Vec<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// Redis's count in (un)subscribe replies: channels + patterns, or shard
    /// channels alone for the S variants.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard_channels.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    pub fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}

/// True when a RESP2 client is in subscribed mode (only some commands allowed).
pub fn in_resp2_subscribed_mode(client: &Client) -> bool {
    client.sub.as_ref().is_some_and(|s| s.total() > 0)
        && client
            .shared
            .resp
            .load(std::sync::atomic::Ordering::Relaxed)
            != 3
}

/// Commands a RESP2 client may send while subscribed.
pub fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

fn kind_names(kind: Kind) -> (&'static [u8], &'static [u8]) {
    match kind {
        Kind::Channel => (b"subscribe", b"unsubscribe"),
        Kind::Pattern => (b"psubscribe", b"punsubscribe"),
        Kind::Shard => (b"ssubscribe", b"sunsubscribe"),
    }
}

fn confirm(ctx: &mut Ctx, what: &[u8], name: Option<&[u8]>, count: usize) {
    ctx.out.push(3);
    ctx.out.bulk(what);
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
}

fn subscribe_generic(ctx: &mut Ctx, names: &[&[u8]], kind: Kind) -> CmdResult {
    let srv = ctx.srv;
    let resp3 = ctx.out.resp3;
    let state = ctx.client.sub.get_or_insert_with(|| {
        let (subscriber, rx) = Subscriber::new(ctx.client.shared.clone(), resp3);
        SubState {
            subscriber,
            rx,
            channels: Vec::new(),
            patterns: Vec::new(),
            shard_channels: Vec::new(),
        }
    });
    ctx.client
        .shared
        .set_flag(crate::server::client::FLAG_PUBSUB, true);
    let mut confirmations = Vec::with_capacity(names.len());
    for name in names {
        if !state.list(kind).iter().any(|c| c == name) {
            state.list(kind).push(name.to_vec());
            srv.pubsub.subscribe(kind, name, &state.subscriber);
        }
        confirmations.push((name.to_vec(), state.count(kind)));
    }
    state.subscriber.client.set_counts(
        state.channels.len(),
        state.patterns.len(),
        state.shard_channels.len(),
    );
    let (what, _) = kind_names(kind);
    for (name, count) in confirmations {
        confirm(ctx, what, Some(&name), count);
    }
    Ok(())
}

fn unsubscribe_generic(ctx: &mut Ctx, names: &[&[u8]], kind: Kind) -> CmdResult {
    let (_, what) = kind_names(kind);
    let srv = ctx.srv;
    // Messages already queued for this client come before the confirmations.
    drain_own_messages(ctx);
    let mut confirmations = Vec::new();
    let mut remaining = 0;
    if let Some(state) = ctx.client.sub.as_mut() {
        let targets: Vec<Vec<u8>> = if names.is_empty() {
            state.list(kind).clone()
        } else {
            names.iter().map(|n| n.to_vec()).collect()
        };
        for name in &targets {
            if let Some(pos) = state.list(kind).iter().position(|c| c == name) {
                state.list(kind).remove(pos);
                srv.pubsub.unsubscribe(kind, name, &state.subscriber);
            }
            confirmations.push((name.clone(), state.count(kind)));
        }
        remaining = state.count(kind);
        state.subscriber.client.set_counts(
            state.channels.len(),
            state.patterns.len(),
            state.shard_channels.len(),
        );
        if state.total() == 0 {
            ctx.client.sub = None;
            ctx.client
                .shared
                .set_flag(crate::server::client::FLAG_PUBSUB, false);
        }
    } else {
        confirmations.extend(names.iter().map(|n| (n.to_vec(), 0)));
    }
    if confirmations.is_empty() {
        confirm(ctx, what, None, remaining);
    }
    for (name, count) in confirmations {
        confirm(ctx, what, Some(&name), count);
    }
    Ok(())
}

/// Moves messages queued for the calling client into its output now, so a
/// client that publishes to itself (or triggers a keyspace event it listens
/// to) gets the message before the reply, as Redis delivers it.
pub fn drain_own_messages(ctx: &mut Ctx) {
    if let Some(sub) = ctx.client.sub.as_mut() {
        let mut n = 0;
        while let Ok(m) = sub.rx.try_recv() {
            n += m.len();
            ctx.out.raw(&m);
        }
        sub.subscriber.written(n);
    }
}

/// Drops every subscription of a client (disconnect, RESET).
pub fn unsubscribe_all(srv: &Server, client: &mut Client) {
    client.shared.set_counts(0, 0, 0);
    client
        .shared
        .set_flag(crate::server::client::FLAG_PUBSUB, false);
    if let Some(state) = client.sub.take() {
        for (kind, names) in [
            (Kind::Channel, &state.channels),
            (Kind::Pattern, &state.patterns),
            (Kind::Shard, &state.shard_channels),
        ] {
            for n in names {
                srv.pubsub.unsubscribe(kind, n, &state.subscriber);
            }
        }
    }
}

fn subscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, &argv[1..], Kind::Channel)
}

fn unsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, &argv[1..], Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, &argv[1..], Kind::Pattern)
}

fn punsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, &argv[1..], Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    subscribe_generic(ctx, &argv[1..], Kind::Shard)
}

fn sunsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, &argv[1..], Kind::Shard)
}

fn publish_generic(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) -> CmdResult {
    let limit = ctx.srv.config.read().client_output_buffer_limit.pubsub;
    let n = ctx.srv.pubsub.publish(argv[1], argv[2], shard, &limit);
    crate::cluster::bus::propagate_publish(ctx.srv, argv[1], argv[2], shard);
    // Replicas get PUBLISH (their subscribers too); the AOF does not.
    ctx.srv.repl.feed_replicas_only(ctx.client.db, argv);
    drain_own_messages(ctx);
    ctx.out.int(n as i64);
    Ok(())
}

fn publish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    publish_generic(ctx, argv, false)
}

fn spublish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    publish_generic(ctx, argv, true)
}

fn channels_generic(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let list = ctx.srv.pubsub.channels(shard, argv.get(2).copied());
    ctx.out.array(list.len());
    for c in list {
        ctx.out.bulk(&c);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    channels_generic(ctx, argv, false)
}

fn pubsub_shardchannels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    channels_generic(ctx, argv, true)
}

fn numsub_generic(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) -> CmdResult {
    ctx.out.array((argv.len() - 2) * 2);
    for ch in &argv[2..] {
        ctx.out.bulk(ch);
        ctx.out.int(ctx.srv.pubsub.numsub(shard, ch) as i64);
    }
    Ok(())
}

fn pubsub_numsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    numsub_generic(ctx, argv, false)
}

fn pubsub_shardnumsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    numsub_generic(ctx, argv, true)
}

fn pubsub_numpat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.srv.pubsub.numpat() as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
