//! Ticket booking for a show with a seat map and a general-admission (GA) area.
//!
//! Seats: a buyer holds a seat with `SET seat held:<buyer> NX PX <hold>` (NX: only a free seat
//! can be held; PX: a buyer who walks away gives it back when the hold expires), pays, then
//! confirms. Confirming is a read-modify-write (is the hold still mine? then sell it and tell
//! everyone), so it is a script: Lua, or WebAssembly on Ember (examples/wasm/seat_confirm). Every
//! change of the seat map is announced with PUBLISH for the clients drawing it.
//!
//! GA (Ember only): a pool of interchangeable tickets in the bundled `inventory` module, which
//! does hold / confirm / expire in single commands (`INV.*`, modules/inventory/README.md).
//!
//! The redis-cli version of each step:
//! ```text
//! MGET show7:seat:A1 show7:seat:A2 ...              # the seat map: nil free, held:..., sold:...
//! SET show7:seat:A2 held:u42 NX PX 600000           # OK: held for 10 minutes; nil: taken
//! PUBLISH show7:seatmap "held show7:seat:A2"
//! EVALSHA <sha> 1 show7:seat:A2 u42 show7:seatmap   # paid: 1 sold (and published), 0 too late
//! INV.SET show7:ga 500                              # GA: 500 tickets
//! INV.HOLD show7:ga order:u42 2 600000              # 1 held, 0 not enough left
//! INV.CONFIRM show7:ga order:u42                    # paid: the quantity sold
//! ```
//!
//! Run: `cargo run --example ticket_booking -- 127.0.0.1:6379` (or set `EMBER_ADDR`): the seats
//! with the Lua script; on Ember also with the wasm script, and GA. 200 concurrent buyers each
//! time, about a second, every loop bounded, keys under a per-run prefix; asserts its own
//! outcome and exits non-zero on failure. `tests/examples.rs` runs the same [`run_scenario`].

#[path = "support/mod.rs"]
mod support;

use rand::Rng;
use redis::aio::MultiplexedConnection;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
pub use support::Engine;
use support::{ensure, Res, Script};

/// Confirming a held seat, in both languages (same keys, arguments and replies).
pub const SEAT_CONFIRM: Script = Script {
    lua: include_str!("wasm/seat_confirm/seat_confirm.lua"),
    wasm: include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/seat_confirm.wasm")),
};

const BUYERS: usize = 200;
/// Rows A-F of 10 seats.
const ROWS: [char; 6] = ['A', 'B', 'C', 'D', 'E', 'F'];
const PER_ROW: usize = 10;
const GA_TICKETS: i64 = 80;
/// How long a hold lasts (10 minutes in production), and how long paying takes at most.
const HOLD_MS: u64 = 300;
const PAY_MS: u64 = 30;
/// One buyer in ABANDON_EVERY holds and walks away.
const ABANDON_EVERY: usize = 4;
const POLL: Duration = Duration::from_millis(20);
const DEADLINE: Duration = Duration::from_secs(10);

fn seats() -> Vec<String> {
    ROWS.iter()
        .flat_map(|r| (1..=PER_ROW).map(move |n| format!("{r}{n}")))
        .collect()
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub engine: Option<Engine>,
    pub seats_sold: usize,
    /// Holds a buyer took and walked away from (their seats were sold later).
    pub abandoned_holds: usize,
    /// Failed `SET NX` attempts: the seat was taken between the map read and the hold.
    pub lost_races: usize,
    pub ga_sold: Option<i64>,
}

/// What one buyer did.
#[derive(Debug, Default)]
struct Buyer {
    bought: Option<String>,
    abandoned: usize,
    lost_races: usize,
}

struct Show {
    con: MultiplexedConnection,
    prefix: String,
    sha: String,
    seats: Vec<String>,
}

impl Show {
    fn seat_key(&self, seat: &str) -> String {
        format!("{}seat:{seat}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}seatmap", self.prefix)
    }

    /// The seat map: seat -> None (free), "held:<buyer>" or "sold:<buyer>".
    async fn map(&self) -> Res<Vec<(String, Option<String>)>> {
        let keys: Vec<String> = self.seats.iter().map(|s| self.seat_key(s)).collect();
        let mut con = self.con.clone();
        let states: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut con).await?;
        Ok(self.seats.iter().cloned().zip(states).collect())
    }

    async fn hold(&self, seat: &str, buyer: &str, ms: u64) -> Res<bool> {
        let mut con = self.con.clone();
        let ok: Option<String> = redis::cmd("SET")
            .arg(self.seat_key(seat))
            .arg(format!("held:{buyer}"))
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut con)
            .await?;
        if ok.is_some() {
            redis::cmd("PUBLISH")
                .arg(self.channel())
                .arg(format!("held {} {buyer}", self.seat_key(seat)))
                .query_async::<()>(&mut con)
                .await?;
        }
        Ok(ok.is_some())
    }

    async fn confirm(&self, seat: &str, buyer: &str) -> Res<bool> {
        let mut con = self.con.clone();
        let sold: i64 = redis::cmd("EVALSHA")
            .arg(&self.sha)
            .arg(1)
            .arg(self.seat_key(seat))
            .arg(buyer)
            .arg(self.channel())
            .query_async(&mut con)
            .await?;
        Ok(sold == 1)
    }

    /// A buyer: looks at the map, holds a random free seat, pays and confirms (or, one in
    /// ABANDON_EVERY, walks away from the hold). Retries until it bought a seat or the show is
    /// sold out.
    async fn buyer(self: Arc<Self>, n: usize) -> Res<Buyer> {
        let me = format!("u{n:03}");
        let mut out = Buyer::default();
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            let map = self.map().await?;
            if map
                .iter()
                .all(|(_, s)| s.as_deref().is_some_and(|s| s.starts_with("sold:")))
            {
                return Ok(out);
            }
            let free: Vec<&String> = map
                .iter()
                .filter(|(_, s)| s.is_none())
                .map(|(k, _)| k)
                .collect();
            if free.is_empty() {
                // Everything is held or sold: a hold may still expire.
                tokio::time::sleep(POLL).await;
                continue;
            }
            let seat = free[rand::rng().random_range(0..free.len())].clone();
            if !self.hold(&seat, &me, HOLD_MS).await? {
                out.lost_races += 1;
                continue;
            }
            if n.is_multiple_of(ABANDON_EVERY) {
                out.abandoned += 1;
                return Ok(out);
            }
            let pay = rand::rng().random_range(1..=PAY_MS);
            tokio::time::sleep(Duration::from_millis(pay)).await;
            if self.confirm(&seat, &me).await? {
                out.bought = Some(seat);
                return Ok(out);
            }
            // Paid too late: the hold expired. (A real shop refunds or tries again.)
        }
        Err(format!("buyer {me} gave up: the show never sold out").into())
    }
}

/// Listens to the seat-map channel until told to stop; returns the messages.
fn listen(
    client: &redis::Client,
    channel: String,
    stop: Arc<AtomicBool>,
) -> Res<std::thread::JoinHandle<Res<Vec<String>>>> {
    let mut con = client.get_connection()?;
    con.set_read_timeout(Some(Duration::from_millis(50)))?;
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || -> Res<Vec<String>> {
        let mut ps = con.as_pubsub();
        ps.subscribe(&channel)?;
        let _ = ready_tx.send(());
        let mut got = Vec::new();
        // Drain until stopped and quiet.
        loop {
            match ps.get_message() {
                Ok(m) => got.push(m.get_payload()?),
                Err(e) if e.is_timeout() => {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(got);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5))?;
    Ok(handle)
}

/// The seat map with 200 buyers (and, on Ember with `general_admission`, the GA pool too).
pub fn run_scenario(addr: &str, engine: Engine, general_admission: bool) -> Res<Outcome> {
    support::with_prefix(addr, "booking", |client, prefix| {
        let rt = support::runtime()?;
        let mut o = rt.block_on(seat_map(client, prefix, engine))?;
        if general_admission {
            o.ga_sold = Some(rt.block_on(ga(client, prefix))?);
        }
        Ok(o)
    })
}

async fn seat_map(client: &redis::Client, prefix: &str, engine: Engine) -> Res<Outcome> {
    let sha = SEAT_CONFIRM.load(&mut client.get_connection()?, engine)?;
    let show = Arc::new(Show {
        con: client.get_multiplexed_async_connection().await?,
        prefix: prefix.to_string(),
        sha,
        seats: seats(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let listener = listen(client, show.channel(), Arc::clone(&stop))?;

    // A buyer holds A1 and leaves before the crowd arrives: the seat must come back.
    ensure(show.hold("A1", "ghost", HOLD_MS).await?, "hold A1")?;
    ensure(!show.hold("A1", "u999", HOLD_MS).await?, "A1 held twice")?;

    let tasks: Vec<_> = (0..BUYERS)
        .map(|n| tokio::spawn(Arc::clone(&show).buyer(n)))
        .collect();
    let mut buyers = Vec::new();
    for t in tasks {
        buyers.push(t.await??);
    }
    stop.store(true, Ordering::SeqCst);
    let messages = listener.join().map_err(|_| "the listener panicked")??;

    // No seat sold twice: the buyers' purchases, the seat map and the broadcasts agree.
    let mut bought: BTreeMap<String, String> = BTreeMap::new();
    for (n, b) in buyers.iter().enumerate() {
        if let Some(seat) = &b.bought {
            let prev = bought.insert(seat.clone(), format!("u{n:03}"));
            ensure(prev.is_none(), format!("seat {seat} sold twice"))?;
        }
    }
    let map = show.map().await?;
    for (seat, state) in &map {
        let want = bought.get(seat).map(|b| format!("sold:{b}"));
        ensure(
            *state == want,
            format!("seat {seat} is {state:?}, bought by {want:?}"),
        )?;
    }
    ensure(
        bought.len() == show.seats.len(),
        format!("{} seats sold", bought.len()),
    )?;
    ensure(
        bought.get("A1").is_some_and(|b| b != "ghost"),
        "the abandoned hold on A1 never returned the seat",
    )?;
    let sold_msgs: BTreeSet<String> = messages
        .iter()
        .filter(|m| m.starts_with("sold "))
        .cloned()
        .collect();
    let want_msgs: BTreeSet<String> = bought
        .iter()
        .map(|(seat, b)| format!("sold {} {b}", show.seat_key(seat)))
        .collect();
    ensure(
        sold_msgs == want_msgs
            && messages.iter().filter(|m| m.starts_with("sold ")).count() == want_msgs.len(),
        format!("sale broadcasts {sold_msgs:?}"),
    )?;
    // Every hold was announced too: the sales, the ghost's, and the abandoned ones.
    let abandoned_holds: usize = buyers.iter().map(|b| b.abandoned).sum();
    let holds = messages.iter().filter(|m| m.starts_with("held ")).count();
    ensure(
        holds > bought.len() + abandoned_holds,
        format!("{holds} hold broadcasts"),
    )?;
    Ok(Outcome {
        engine: Some(engine),
        seats_sold: bought.len(),
        abandoned_holds,
        lost_races: buyers.iter().map(|b| b.lost_races).sum(),
        ga_sold: None,
    })
}

/// General admission with the bundled inventory module: 200 buyers for 80 tickets, a quarter
/// of them walking away from their holds. Returns the tickets sold.
async fn ga(client: &redis::Client, prefix: &str) -> Res<i64> {
    let key = format!("{prefix}ga");
    let mut con = client.get_multiplexed_async_connection().await?;
    redis::cmd("INV.SET")
        .arg(&key)
        .arg(GA_TICKETS)
        .query_async::<()>(&mut con)
        .await?;
    let tasks: Vec<_> = (0..BUYERS)
        .map(|n| {
            let (mut con, key) = (con.clone(), key.clone());
            tokio::spawn(async move {
                let order = format!("order:u{n:03}");
                let deadline = Instant::now() + DEADLINE;
                while Instant::now() < deadline {
                    let held: i64 = redis::cmd("INV.HOLD")
                        .arg(&key)
                        .arg(&order)
                        .arg(1)
                        .arg(HOLD_MS)
                        .query_async(&mut con)
                        .await?;
                    if held == 1 {
                        if n.is_multiple_of(ABANDON_EVERY) {
                            return Res::Ok(0);
                        }
                        let pay = rand::rng().random_range(1..=PAY_MS);
                        tokio::time::sleep(Duration::from_millis(pay)).await;
                        let sold: i64 = redis::cmd("INV.CONFIRM")
                            .arg(&key)
                            .arg(&order)
                            .query_async(&mut con)
                            .await?;
                        return Ok(sold);
                    }
                    // None available: sold out, or everything left is held for now.
                    let [available, held, _sold]: [i64; 3] = redis::cmd("INV.GET")
                        .arg(&key)
                        .query_async(&mut con)
                        .await?;
                    if available + held == 0 {
                        return Ok(0);
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err("a GA buyer gave up before the sell-out".into())
            })
        })
        .collect();
    let mut confirmed = 0;
    for t in tasks {
        confirmed += t.await??;
    }
    let [available, held, sold]: [i64; 3] = redis::cmd("INV.GET")
        .arg(&key)
        .query_async(&mut con)
        .await?;
    ensure(
        [available, held, sold] == [0, 0, GA_TICKETS] && confirmed == GA_TICKETS,
        format!("GA after the sale: [{available}, {held}, {sold}], confirmed {confirmed}"),
    )?;
    Ok(sold)
}

fn main() {
    support::main("ticket booking", |addr| {
        let mut lines = Vec::new();
        for engine in support::engines_at(addr)? {
            // GA needs the bundled inventory module: Ember, as the wasm engine is.
            let ga = engine == Engine::Wasm;
            lines.push(format!("{:?}", run_scenario(addr, engine, ga)?));
        }
        Ok(lines.join("\n"))
    });
}
