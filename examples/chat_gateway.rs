//! Chat gateway router: presence with heartbeats, message routing through PUBLISH, typing
//! indicators with short TTLs.
//!
//! A chat service runs several gateway processes; each user's WebSocket lives on one of them.
//! To deliver a message, any process looks up which gateway the recipient is on and publishes
//! the message to that gateway's inbox channel:
//!
//! - presence: `SET presence:<user> <gateway> PX <ttl>`, refreshed by a heartbeat; a user whose
//!   gateway stops heartbeating disappears when the key expires, with no cleanup job;
//! - routing: `GET presence:<user>` then `PUBLISH gw:<gateway>:inbox <message>`. PUBLISH returns
//!   how many subscribers got it, so 0 means the gateway is gone: the message goes to the
//!   user's offline queue (`RPUSH offline:<user>`) and is drained when they come back;
//! - typing indicators: `SET typing:<to>:<from> 1 PX 300` plus an event to the recipient's
//!   gateway; whoever asks later (`SCAN MATCH typing:<to>:*`) sees only fresh ones.
//!
//! Run: `cargo run --example chat_gateway -- 127.0.0.1:6379` (or set `EMBER_ADDR`). The scenario
//! is bounded (about 1.5 s), uses keys under a per-run prefix, asserts its own outcome and exits
//! non-zero if anything is off. `tests/examples.rs` runs the same [`run_scenario`].

use redis::Commands;
use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Presence TTL: a user is online while their gateway heartbeats faster than this.
const PRESENCE_TTL_MS: u64 = 600;
/// Typing indicators vanish this long after the last keystroke.
const TYPING_TTL_MS: u64 = 300;
/// How long to wait for a delivery before calling it lost.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Fails the scenario with `msg` unless `cond` holds.
fn ensure(cond: bool, msg: impl Into<String>) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(msg.into().into())
    }
}

/// Key and channel names, all under one per-run prefix so a shared server is left untouched.
struct Names {
    prefix: String,
}

impl Names {
    fn presence(&self, user: &str) -> String {
        format!("{}presence:{user}", self.prefix)
    }
    fn inbox(&self, gateway: &str) -> String {
        format!("{}gw:{gateway}:inbox", self.prefix)
    }
    fn offline(&self, user: &str) -> String {
        format!("{}offline:{user}", self.prefix)
    }
    fn typing(&self, to: &str, from: &str) -> String {
        format!("{}typing:{to}:{from}", self.prefix)
    }
}

/// What a gateway received on its inbox: `msg\t<to>\t<from>\t<text>` or `typing\t<to>\t<from>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Message {
        to: String,
        from: String,
        text: String,
    },
    Typing {
        to: String,
        from: String,
    },
}

impl Delivery {
    fn encode(&self) -> String {
        match self {
            Delivery::Message { to, from, text } => format!("msg\t{to}\t{from}\t{text}"),
            Delivery::Typing { to, from } => format!("typing\t{to}\t{from}"),
        }
    }

    fn decode(s: &str) -> Option<Delivery> {
        let mut parts = s.splitn(4, '\t');
        match (parts.next()?, parts.next()?, parts.next()?) {
            ("msg", to, from) => Some(Delivery::Message {
                to: to.into(),
                from: from.into(),
                text: parts.next()?.into(),
            }),
            ("typing", to, from) => Some(Delivery::Typing {
                to: to.into(),
                from: from.into(),
            }),
            _ => None,
        }
    }
}

/// One gateway process: a thread subscribed to its inbox that hands deliveries to its users
/// (here: to a channel the scenario reads).
struct Gateway {
    id: String,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    deliveries: mpsc::Receiver<Delivery>,
}

impl Gateway {
    fn start(client: &redis::Client, names: &Names, id: &str) -> Res<Gateway> {
        let mut con = client.get_connection()?;
        let inbox = names.inbox(id);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, deliveries) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut pubsub = con.as_pubsub();
                // subscribe() returns once the server confirmed the subscription.
                let subscribed = pubsub
                    .subscribe(&inbox)
                    .and_then(|()| pubsub.set_read_timeout(Some(Duration::from_millis(50))));
                let _ = ready_tx.send(subscribed.map_err(|e| e.to_string()));
                while !stop.load(Ordering::Acquire) {
                    match pubsub.get_message() {
                        Ok(msg) => {
                            let payload: String = msg.get_payload().unwrap_or_default();
                            if let Some(d) = Delivery::decode(&payload) {
                                if tx.send(d).is_err() {
                                    break;
                                }
                            }
                        }
                        Err(e) if e.is_timeout() => {}
                        Err(_) => break,
                    }
                }
            })
        };
        match ready_rx.recv_timeout(DELIVERY_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("gateway {id} could not subscribe: {e}").into()),
            Err(_) => return Err(format!("gateway {id} did not subscribe in time").into()),
        }
        Ok(Gateway {
            id: id.into(),
            stop,
            handle: Some(handle),
            deliveries,
        })
    }

    /// The next delivery, or an error naming what was expected.
    fn expect(&self, what: &Delivery) -> Res<()> {
        match self.deliveries.recv_timeout(DELIVERY_TIMEOUT) {
            Ok(d) if &d == what => Ok(()),
            Ok(d) => Err(format!("gateway {} got {d:?}, expected {what:?}", self.id).into()),
            Err(_) => Err(format!("gateway {} never got {what:?}", self.id).into()),
        }
    }

    /// Nothing else arrived.
    fn expect_nothing(&self) -> Res<()> {
        match self.deliveries.recv_timeout(Duration::from_millis(50)) {
            Ok(d) => Err(format!("gateway {} got unexpected {d:?}", self.id).into()),
            Err(_) => Ok(()),
        }
    }

    /// Stops the gateway (its connection closes, so it leaves the inbox channel).
    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The router every process uses.
struct Router<'a> {
    con: redis::Connection,
    names: &'a Names,
}

/// Where [`Router::send`] put a message.
#[derive(Debug, PartialEq, Eq)]
enum Routed {
    Delivered { gateway: String },
    Queued,
}

impl Router<'_> {
    /// Heartbeat: `user` is connected to `gateway` for the next PRESENCE_TTL_MS.
    fn heartbeat(&mut self, user: &str, gateway: &str) -> Res<()> {
        let _: () = self
            .con
            .pset_ex(self.names.presence(user), gateway, PRESENCE_TTL_MS)?;
        Ok(())
    }

    fn gateway_of(&mut self, user: &str) -> Res<Option<String>> {
        Ok(self.con.get(self.names.presence(user))?)
    }

    /// Routes a message to the recipient's gateway, or to their offline queue.
    fn send(&mut self, from: &str, to: &str, text: &str) -> Res<Routed> {
        let d = Delivery::Message {
            to: to.into(),
            from: from.into(),
            text: text.into(),
        };
        if let Some(gateway) = self.gateway_of(to)? {
            // PUBLISH's count is the delivery receipt: 0 means no gateway is listening.
            let receivers: usize = self.con.publish(self.names.inbox(&gateway), d.encode())?;
            if receivers > 0 {
                return Ok(Routed::Delivered { gateway });
            }
        }
        let _: usize = self.con.rpush(self.names.offline(to), d.encode())?;
        Ok(Routed::Queued)
    }

    /// `from` is typing to `to`: a short-lived key plus a live event to `to`'s gateway.
    fn typing(&mut self, from: &str, to: &str) -> Res<()> {
        let _: () = self
            .con
            .pset_ex(self.names.typing(to, from), 1, TYPING_TTL_MS)?;
        if let Some(gateway) = self.gateway_of(to)? {
            let d = Delivery::Typing {
                to: to.into(),
                from: from.into(),
            };
            let _: usize = self.con.publish(self.names.inbox(&gateway), d.encode())?;
        }
        Ok(())
    }

    /// Who is typing to `user` right now (expired indicators are simply gone).
    fn who_is_typing(&mut self, user: &str) -> Res<Vec<String>> {
        let prefix = self.names.typing(user, "");
        let mut cursor = 0u64;
        let mut users = Vec::new();
        // Bounded: SCAN terminates; the cap only guards against a misbehaving server.
        for _ in 0..10_000 {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(100)
                .query(&mut self.con)?;
            users.extend(
                keys.iter()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .map(String::from),
            );
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// A user came back on `gateway`: deliver their offline queue there, oldest first.
    fn drain_offline(&mut self, user: &str, gateway: &str) -> Res<usize> {
        let queued: Vec<String> = redis::cmd("LPOP")
            .arg(self.names.offline(user))
            .arg(1000)
            .query::<Option<Vec<String>>>(&mut self.con)?
            .unwrap_or_default();
        for m in &queued {
            let _: usize = self.con.publish(self.names.inbox(gateway), m)?;
        }
        Ok(queued.len())
    }

    /// Removes every key the scenario created.
    fn clean_up(&mut self) -> Res<()> {
        let pattern = format!("{}*", self.names.prefix);
        let keys: Vec<String> = self.con.scan_match(&pattern)?.collect();
        if !keys.is_empty() {
            let _: usize = self.con.del(keys)?;
        }
        Ok(())
    }
}

/// What the scenario did, for printing.
#[derive(Debug, Default)]
pub struct Summary {
    pub delivered: usize,
    pub queued: usize,
    pub drained: usize,
    pub typing_events: usize,
}

/// The whole scenario against the server at `addr` (`host:port`).
pub fn run_scenario(addr: &str) -> Res<Summary> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let names = Names {
        prefix: format!("chat-example:{}:{nanos}:", std::process::id()),
    };
    let mut router = Router {
        con: client.get_connection()?,
        names: &names,
    };
    let outcome = scenario(&client, &names, &mut router);
    let cleaned = router.clean_up();
    let summary = outcome?;
    cleaned?;
    Ok(summary)
}

fn scenario(client: &redis::Client, names: &Names, r: &mut Router) -> Res<Summary> {
    let mut summary = Summary::default();
    let gw_a = Gateway::start(client, names, "a")?;
    let mut gw_b = Gateway::start(client, names, "b")?;

    // alice is on gateway a, bob on gateway b.
    r.heartbeat("alice", "a")?;
    r.heartbeat("bob", "b")?;
    let routed = r.send("alice", "bob", "hi bob")?;
    ensure(
        routed
            == Routed::Delivered {
                gateway: "b".into(),
            },
        format!("alice -> bob: {routed:?}"),
    )?;
    gw_b.expect(&Delivery::Message {
        to: "bob".into(),
        from: "alice".into(),
        text: "hi bob".into(),
    })?;
    let routed = r.send("bob", "alice", "hi alice")?;
    ensure(
        routed
            == Routed::Delivered {
                gateway: "a".into(),
            },
        format!("bob -> alice: {routed:?}"),
    )?;
    gw_a.expect(&Delivery::Message {
        to: "alice".into(),
        from: "bob".into(),
        text: "hi alice".into(),
    })?;
    gw_a.expect_nothing()?;
    summary.delivered += 2;

    // alice types to bob: bob's gateway gets a live event, and the indicator is visible.
    r.typing("alice", "bob")?;
    gw_b.expect(&Delivery::Typing {
        to: "bob".into(),
        from: "alice".into(),
    })?;
    summary.typing_events += 1;
    let typing = r.who_is_typing("bob")?;
    ensure(typing == ["alice"], format!("typing to bob: {typing:?}"))?;

    // alice's gateway keeps heartbeating; bob's connection dropped, so nobody heartbeats him.
    let until = Instant::now() + Duration::from_millis(PRESENCE_TTL_MS + 250);
    while Instant::now() < until {
        r.heartbeat("alice", "a")?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let typing = r.who_is_typing("bob")?;
    ensure(
        typing.is_empty(),
        format!("stale typing indicator: {typing:?}"),
    )?;
    ensure(
        r.gateway_of("bob")?.is_none(),
        "bob's presence outlived its TTL",
    )?;
    ensure(
        r.gateway_of("alice")?.as_deref() == Some("a"),
        "alice's heartbeats did not keep her online",
    )?;

    // bob is offline: messages to him are queued.
    for text in ["are you there?", "ping"] {
        let routed = r.send("alice", "bob", text)?;
        ensure(
            routed == Routed::Queued,
            format!("to offline bob: {routed:?}"),
        )?;
        summary.queued += 1;
    }

    // bob reconnects, on gateway a this time: his backlog follows him, in order.
    r.heartbeat("bob", "a")?;
    let drained = r.drain_offline("bob", "a")?;
    ensure(drained == 2, format!("drained {drained} offline messages"))?;
    summary.drained += drained;
    for text in ["are you there?", "ping"] {
        gw_a.expect(&Delivery::Message {
            to: "bob".into(),
            from: "alice".into(),
            text: text.into(),
        })?;
    }
    let routed = r.send("alice", "bob", "welcome back")?;
    ensure(
        routed
            == Routed::Delivered {
                gateway: "a".into(),
            },
        format!("to bob on a: {routed:?}"),
    )?;
    gw_a.expect(&Delivery::Message {
        to: "bob".into(),
        from: "alice".into(),
        text: "welcome back".into(),
    })?;
    summary.delivered += 1;
    gw_b.expect_nothing()?;

    // Gateway b crashes while carol's presence still points at it: PUBLISH reaches nobody,
    // so the router queues instead of losing the message.
    r.heartbeat("carol", "b")?;
    gw_b.shut_down();
    let mut routed = Routed::Queued;
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    // The server notices the closed connection asynchronously; retry briefly on a fresh key.
    for attempt in 0..100 {
        let key_text = format!("hello carol #{attempt}");
        routed = r.send("alice", "carol", &key_text)?;
        if routed == Routed::Queued || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure(
        routed == Routed::Queued,
        format!("to carol on a dead gateway: {routed:?}"),
    )?;
    summary.queued += 1;
    Ok(summary)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("EMBER_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:6379".into());
    match run_scenario(&addr) {
        Ok(s) => println!("chat gateway scenario passed against {addr}: {s:?}"),
        Err(e) => {
            eprintln!("chat gateway scenario FAILED against {addr}: {e}");
            std::process::exit(1);
        }
    }
}
