//! Presence: who is online, and who is typing. Every connected client heartbeats
//! `SET online:<user> 1 EX 70` every 30 s; a client that vanishes stops heartbeating and its key
//! expires, and a watcher subscribed to expired-key events announces "went offline". Queries are
//! MGET (one flag per user) or EXISTS (how many are online). Typing indicators are the same idea
//! with a 5 s TTL, refreshed on every keystroke burst.
//!
//! The redis-cli version (production timings; the scenario scales them down 100x, using PX):
//! ```text
//! CONFIG SET notify-keyspace-events Ex          # expired events (E: keyevent channel, x: expired)
//! PSUBSCRIBE __keyevent@0__:expired             # the watcher; each message is a key name
//! SET online:alice 1 EX 70                      # every 30 s while alice is connected
//! MGET online:alice online:bob online:carol     # 1, 1, nil
//! EXISTS online:alice online:bob online:carol   # (integer) 2
//! SET typing:room7:alice 1 EX 5                 # while alice types in room7
//! MGET typing:room7:alice typing:room7:bob
//! ```
//!
//! Run: `cargo run --example presence -- 127.0.0.1:6379` (or set `EMBER_ADDR`). It sets
//! `notify-keyspace-events` for its run and restores the old value. About 2 seconds, every wait
//! bounded, keys under a per-run prefix; asserts its own outcome and exits non-zero on failure.
//! `tests/examples.rs` runs the same [`run_scenario`] against ember-server and redis-server.

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use support::{ensure, Res};

/// Presence TTL and heartbeat period (70 s and 30 s in production): a heartbeat can be missed
/// once without the user flickering offline.
const ONLINE_TTL_MS: u64 = 700;
const HEARTBEAT: Duration = Duration::from_millis(300);
/// Typing indicator TTL (5 s in production).
const TYPING_TTL_MS: u64 = 500;
/// The longest the watcher waits for an expiry event (the TTL plus the server's active expiry).
const EVENT_WAIT: Duration = Duration::from_secs(5);

/// Heartbeats `online:<user>` until told to stop (or after a bounded number of beats).
fn heartbeat(
    client: redis::Client,
    key: String,
    connected: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Res<()>> {
    std::thread::spawn(move || {
        let mut con = client.get_connection()?;
        for _ in 0..100 {
            if !connected.load(Ordering::SeqCst) {
                break;
            }
            redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("PX")
                .arg(ONLINE_TTL_MS)
                .query::<()>(&mut con)?;
            std::thread::sleep(HEARTBEAT);
        }
        Ok(())
    })
}

/// Subscribes to expired-key events and forwards the users whose presence key expired. Returns
/// once subscribed, so no event is missed.
fn watcher(
    client: &redis::Client,
    online_prefix: String,
    stop: Arc<AtomicBool>,
) -> Res<(mpsc::Receiver<String>, std::thread::JoinHandle<Res<()>>)> {
    let mut con = client.get_connection()?;
    con.set_read_timeout(Some(Duration::from_millis(50)))?;
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || -> Res<()> {
        let mut ps = con.as_pubsub();
        ps.psubscribe("__keyevent@*__:expired")?;
        let _ = ready_tx.send(());
        while !stop.load(Ordering::SeqCst) {
            match ps.get_message() {
                Ok(msg) => {
                    let key: String = msg.get_payload()?;
                    if let Some(user) = key.strip_prefix(&online_prefix) {
                        let _ = tx.send(user.to_string());
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    });
    ready_rx.recv_timeout(Duration::from_secs(5))?;
    Ok((rx, handle))
}

#[derive(Debug)]
pub struct Outcome {
    pub went_offline: Vec<String>,
    pub online_count: i64,
}

pub fn run_scenario(addr: &str) -> Res<Outcome> {
    support::with_prefix(addr, "presence", |client, prefix| {
        let mut con = client.get_connection()?;
        let old: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query(&mut con)?;
        let old = old.get(1).cloned().unwrap_or_default();
        // Keep whatever classes were on, add E (keyevent) and x (expired).
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg(format!("{old}Ex"))
            .query::<()>(&mut con)?;
        let outcome = scenario(client, prefix);
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg(&old)
            .query::<()>(&mut con)?;
        outcome
    })
}

fn scenario(client: &redis::Client, prefix: &str) -> Res<Outcome> {
    let online = |user: &str| format!("{prefix}online:{user}");
    let typing = |user: &str| format!("{prefix}typing:room7:{user}");
    // A keystroke burst: the indicator shows for TYPING_TTL_MS more.
    let typed = |con: &mut redis::Connection, user: &str| {
        redis::cmd("SET")
            .arg(typing(user))
            .arg(1)
            .arg("PX")
            .arg(TYPING_TTL_MS)
            .query::<()>(con)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (offline_rx, watcher) = watcher(client, online(""), Arc::clone(&stop))?;
    let mut con = client.get_connection()?;

    let users = ["alice", "bob", "carol"];
    let flags: Vec<Arc<AtomicBool>> = users
        .iter()
        .map(|_| Arc::new(AtomicBool::new(true)))
        .collect();
    let beats: Vec<_> = users
        .iter()
        .zip(&flags)
        .map(|(u, f)| heartbeat(client.clone(), online(u), Arc::clone(f)))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let keys: Vec<String> = users.iter().map(|u| online(u)).collect();
    let flags_now: Vec<Option<i64>> = redis::cmd("MGET").arg(&keys).query(&mut con)?;
    ensure(
        flags_now == [Some(1), Some(1), Some(1)],
        format!("all three should be online: {flags_now:?}"),
    )?;

    // alice types; bob typed once a while ago and stopped.
    typed(&mut con, "bob")?;
    let bob_typed = Instant::now();

    // carol's client dies: her heartbeats stop. Within the TTL plus the server's expiry cycle
    // the watcher hears her key expire; alice and bob keep beating and stay online.
    flags[2].store(false, Ordering::SeqCst);
    let started = Instant::now();
    let mut went_offline = Vec::new();
    while went_offline.is_empty() && started.elapsed() < EVENT_WAIT {
        typed(&mut con, "alice")?;
        if let Ok(user) = offline_rx.recv_timeout(Duration::from_millis(100)) {
            went_offline.push(user);
        }
    }
    ensure(
        went_offline == ["carol"],
        format!("went offline: {went_offline:?}"),
    )?;
    let flags_now: Vec<Option<i64>> = redis::cmd("MGET").arg(&keys).query(&mut con)?;
    ensure(
        flags_now == [Some(1), Some(1), None],
        format!("after carol left: {flags_now:?}"),
    )?;
    let online_count: i64 = redis::cmd("EXISTS").arg(&keys).query(&mut con)?;
    ensure(
        online_count == 2,
        format!("EXISTS counted {online_count} online"),
    )?;

    // Typing: alice refreshed hers a moment ago; bob's, a TTL ago, has expired.
    let bob_stopped = Duration::from_millis(TYPING_TTL_MS + 50);
    std::thread::sleep(bob_stopped.saturating_sub(bob_typed.elapsed()));
    typed(&mut con, "alice")?;
    let typing_now: Vec<Option<i64>> = redis::cmd("MGET")
        .arg(typing("alice"))
        .arg(typing("bob"))
        .query(&mut con)?;
    ensure(
        typing_now == [Some(1), None],
        format!("typing in room7: {typing_now:?}"),
    )?;

    // Everyone disconnects cleanly; the watcher stops.
    for f in &flags {
        f.store(false, Ordering::SeqCst);
    }
    for b in beats {
        b.join().map_err(|_| "a heartbeat thread panicked")??;
    }
    stop.store(true, Ordering::SeqCst);
    watcher.join().map_err(|_| "the watcher panicked")??;
    Ok(Outcome {
        went_offline,
        online_count,
    })
}

fn main() {
    support::main("presence", |addr| Ok(format!("{:?}", run_scenario(addr)?)));
}
