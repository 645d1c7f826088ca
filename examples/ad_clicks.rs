//! Ad-click aggregation: the ad servers XADD every click to a stream; a consumer group of two
//! workers turns them into per-ad, per-minute click counters, unique users per ad (a
//! HyperLogLog: 12 KB per ad whatever the audience) and a daily-active-users bitmap. Each
//! message is counted and acknowledged in one MULTI, so it is counted exactly when it is
//! acknowledged; when a worker crashes holding messages, the other reclaims them with
//! XAUTOCLAIM once they have been idle long enough.
//!
//! The redis-cli version of each step:
//! ```text
//! XGROUP CREATE clicks agg $ MKSTREAM
//! XADD clicks MAXLEN ~ 1000000 * ad ad3 user 1042 ts 1717400012345
//! XREADGROUP GROUP agg w1 COUNT 100 BLOCK 1000 STREAMS clicks >
//! MULTI                                          # per message:
//! INCR clicks:ad3:28623333                       # the minute: ts / 60000
//! EXPIRE clicks:ad3:28623333 172800              # per-minute counters live two days
//! PFADD uniq:ad3:2024-06-03 1042                 # unique users per ad and day
//! EXPIRE uniq:ad3:2024-06-03 3024000             # daily keys live 35 days
//! SETBIT dau:2024-06-03 1042 1                   # daily active users, one bit per user id
//! EXPIRE dau:2024-06-03 3024000
//! XACK clicks agg 1717400012345-0
//! EXEC
//! XAUTOCLAIM clicks agg w1 5000 0-0 COUNT 100    # w2 died: take its messages idle 5 s+
//! PFCOUNT uniq:ad3:2024-06-03                    # ~ unique users (0.81% standard error)
//! BITCOUNT dau:2024-06-03                        # exact DAU
//! ```
//!
//! Run: `cargo run --example ad_clicks -- 127.0.0.1:6379` (or set `EMBER_ADDR`). About a
//! second, every loop bounded, keys under a per-run prefix; asserts its own outcome and exits
//! non-zero on failure. `tests/examples.rs` runs the same [`run_scenario`].

#[path = "support/mod.rs"]
mod support;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use support::{ensure, Res};

const CLICKS: usize = 3000;
const ADS: usize = 5;
const USERS: u64 = 400;
/// Event times: from this instant (2024-06-03 07:33:20 UTC), 60 ms apart: three minutes.
const T0_MS: i64 = 1_717_400_000_000;
const STEP_MS: i64 = 60;
const DAY: &str = "2024-06-03";
const BATCH: usize = 100;
/// The second worker processes this many batches, then dies holding the next, unacknowledged.
const CRASH_AFTER_BATCHES: usize = 1;
/// Messages idle this long may be claimed by another worker (minutes in production: longer than
/// any pause of a live worker, or it would count them twice).
const CLAIM_IDLE_MS: u64 = 200;
const COUNTER_TTL_S: i64 = 2 * 86_400;
/// The daily unique-user and DAU keys are kept 35 days, for monthly reports.
const DAILY_TTL_S: i64 = 35 * 86_400;

type Entry = (String, HashMap<String, String>);

/// The entries of an XREADGROUP (`[[stream, entries]]`) or XAUTOCLAIM (`[cursor, entries, ..]`)
/// entry list.
fn entries(list: &Value) -> Vec<Entry> {
    let mut out = Vec::new();
    let Value::Array(list) = list else { return out };
    for e in list {
        let Value::Array(parts) = e else { continue };
        let (Some(Value::BulkString(id)), Some(Value::Array(kv))) = (parts.first(), parts.get(1))
        else {
            continue;
        };
        let mut fields = HashMap::new();
        for pair in kv.chunks(2) {
            if let [Value::BulkString(k), Value::BulkString(v)] = pair {
                fields.insert(
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                );
            }
        }
        out.push((String::from_utf8_lossy(id).into_owned(), fields));
    }
    out
}

struct Worker {
    con: redis::Connection,
    name: String,
    prefix: String,
}

impl Worker {
    fn stream(&self) -> String {
        format!("{}clicks", self.prefix)
    }

    /// The next batch of new messages for this worker (empty after a second of nothing).
    fn read(&mut self) -> Res<Vec<Entry>> {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("agg")
            .arg(&self.name)
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(300)
            .arg("STREAMS")
            .arg(self.stream())
            .arg(">")
            .query(&mut self.con)?;
        let Value::Array(streams) = reply else {
            return Ok(Vec::new());
        };
        match streams.first() {
            Some(Value::Array(kv)) => Ok(kv.get(1).map(entries).unwrap_or_default()),
            _ => Ok(Vec::new()),
        }
    }

    /// Counts and acknowledges each message in one transaction.
    fn process(&mut self, batch: &[Entry]) -> Res<()> {
        let mut pipe = redis::pipe();
        for (id, f) in batch {
            let field = |name: &str| {
                f.get(name)
                    .ok_or_else(|| format!("click {id} lacks {name}"))
            };
            let (ad, user) = (field("ad")?, field("user")?);
            let minute = field("ts")?.parse::<i64>()? / 60_000;
            let counter = format!("{}clicks:{ad}:{minute}", self.prefix);
            let (uniq, dau) = (
                format!("{}uniq:{ad}:{DAY}", self.prefix),
                format!("{}dau:{DAY}", self.prefix),
            );
            pipe.atomic()
                .incr(&counter, 1)
                .ignore()
                .expire(&counter, COUNTER_TTL_S)
                .ignore()
                .cmd("PFADD")
                .arg(&uniq)
                .arg(user)
                .ignore()
                .expire(&uniq, DAILY_TTL_S)
                .ignore()
                .cmd("SETBIT")
                .arg(&dau)
                .arg(user.parse::<u64>()?)
                .arg(1)
                .ignore()
                .expire(&dau, DAILY_TTL_S)
                .ignore()
                .cmd("XACK")
                .arg(self.stream())
                .arg("agg")
                .arg(id)
                .ignore();
        }
        // One MULTI for the whole batch: all of it is counted and acknowledged, or none.
        pipe.query::<()>(&mut self.con)?;
        Ok(())
    }

    /// Claims (and processes) every message idle for CLAIM_IDLE_MS; returns how many.
    fn reclaim(&mut self) -> Res<usize> {
        let mut cursor = "0-0".to_string();
        let mut claimed = 0;
        for _ in 0..1000 {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(self.stream())
                .arg("agg")
                .arg(&self.name)
                .arg(CLAIM_IDLE_MS)
                .arg(&cursor)
                .arg("COUNT")
                .arg(BATCH)
                .query(&mut self.con)?;
            let Value::Array(parts) = reply else {
                return Err("XAUTOCLAIM reply is not an array".into());
            };
            let Some(Value::BulkString(next)) = parts.first() else {
                return Err("XAUTOCLAIM reply has no cursor".into());
            };
            let batch = parts.get(1).map(entries).unwrap_or_default();
            self.process(&batch)?;
            claimed += batch.len();
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0-0" {
                return Ok(claimed);
            }
        }
        Err("XAUTOCLAIM did not finish".into())
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub clicks: usize,
    pub reclaimed: usize,
    pub processed_by: BTreeMap<String, usize>,
    /// Per ad: exact unique users, and PFCOUNT's estimate.
    pub uniques: Vec<(usize, i64)>,
    pub dau: i64,
}

pub fn run_scenario(addr: &str) -> Res<Outcome> {
    support::with_prefix(addr, "adclicks", scenario)
}

fn scenario(client: &redis::Client, prefix: &str) -> Res<Outcome> {
    let stream = format!("{prefix}clicks");
    let mut con = client.get_connection()?;
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("agg")
        .arg("$")
        .arg("MKSTREAM")
        .query::<()>(&mut con)?;

    // The clicks, and the answers they should produce.
    let mut rng = StdRng::seed_from_u64(11);
    let mut per_minute: BTreeMap<(usize, i64), i64> = BTreeMap::new();
    let mut uniq: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); ADS];
    let mut pipe = redis::pipe();
    for i in 0..CLICKS {
        // Ad 0 is the popular one; users are skewed towards low ids.
        let ad = if rng.random_range(0..3) == 0 {
            0
        } else {
            rng.random_range(0..ADS)
        };
        let user = rng.random_range(0..USERS).min(rng.random_range(0..USERS));
        let ts = T0_MS + i as i64 * STEP_MS;
        *per_minute.entry((ad, ts / 60_000)).or_insert(0) += 1;
        uniq[ad].insert(user);
        pipe.cmd("XADD")
            .arg(&stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(1_000_000)
            .arg("*")
            .arg("ad")
            .arg(format!("ad{ad}"))
            .arg("user")
            .arg(user)
            .arg("ts")
            .arg(ts)
            .ignore();
    }
    pipe.query::<()>(&mut con)?;

    // Two workers at once; w2 dies holding its second batch. (w1 starts once w2 has its first
    // batch, so that w1 cannot drain the stream before w2 gets to die with messages.)
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let spawn =
        |name: &str, crash_after: Option<usize>, first: Option<std::sync::mpsc::Sender<()>>| {
            let client = client.clone();
            let (name, prefix) = (name.to_string(), prefix.to_string());
            std::thread::spawn(move || -> Res<(Worker, usize)> {
                let mut w = Worker {
                    con: client.get_connection()?,
                    name,
                    prefix,
                };
                let (mut batches, mut processed) = (0, 0);
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline {
                    let batch = w.read()?;
                    if let Some(first) = &first {
                        let _ = first.send(());
                    }
                    if batch.is_empty() {
                        return Ok((w, processed));
                    }
                    if crash_after == Some(batches) {
                        return Ok((w, processed)); // the process died here: nothing acknowledged
                    }
                    w.process(&batch)?;
                    processed += batch.len();
                    batches += 1;
                }
                Err(format!("{} did not drain the stream in time", w.name).into())
            })
        };
    let w2 = spawn("w2", Some(CRASH_AFTER_BATCHES), Some(first_tx));
    first_rx.recv_timeout(Duration::from_secs(10))?;
    let w1 = spawn("w1", None, None);
    let (mut w1, n1) = w1.join().map_err(|_| "w1 panicked")??;
    let (_, n2) = w2.join().map_err(|_| "w2 panicked")??;
    ensure(n1 + n2 < CLICKS, "w2 did not die holding messages")?;

    // w1 reclaims what w2 held once it has been idle long enough.
    std::thread::sleep(Duration::from_millis(CLAIM_IDLE_MS + 50));
    let reclaimed = w1.reclaim()?;
    ensure(
        n1 + n2 + reclaimed == CLICKS,
        format!("w1 {n1} + w2 {n2} + reclaimed {reclaimed} != {CLICKS}"),
    )?;
    let pending: Value = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("agg")
        .query(&mut con)?;
    ensure(
        matches!(&pending, Value::Array(p) if matches!(p.first(), Some(Value::Int(0)))),
        format!("messages still pending: {pending:?}"),
    )?;

    // Every click counted exactly once, in its ad's minute.
    for ((ad, minute), want) in &per_minute {
        let got: i64 = redis::cmd("GET")
            .arg(format!("{prefix}clicks:ad{ad}:{minute}"))
            .query(&mut con)?;
        ensure(
            got == *want,
            format!("ad{ad} minute {minute}: {got} clicks, expected {want}"),
        )?;
    }
    let minutes: BTreeSet<i64> = per_minute.keys().map(|(_, m)| *m).collect();
    ensure(
        minutes.len() >= 3,
        format!("the clicks span {} minutes", minutes.len()),
    )?;

    // Unique users per ad: HyperLogLog estimates, within 2% (the standard error is 0.81%).
    let mut uniques = Vec::new();
    for (ad, users) in uniq.iter().enumerate() {
        let est: i64 = redis::cmd("PFCOUNT")
            .arg(format!("{prefix}uniq:ad{ad}:{DAY}"))
            .query(&mut con)?;
        let exact = users.len() as i64;
        ensure(
            (est - exact).abs() <= (exact / 50).max(1),
            format!("ad{ad}: PFCOUNT {est}, exactly {exact} users"),
        )?;
        uniques.push((users.len(), est));
    }
    // DAU: one bit per user id, exact.
    let all: BTreeSet<u64> = uniq.iter().flatten().copied().collect();
    let dau: i64 = redis::cmd("BITCOUNT")
        .arg(format!("{prefix}dau:{DAY}"))
        .query(&mut con)?;
    ensure(
        dau == all.len() as i64,
        format!("DAU {dau}, exactly {}", all.len()),
    )?;
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{prefix}clicks:ad0:{}", T0_MS / 60_000))
        .query(&mut con)?;
    let dau_ttl: i64 = redis::cmd("TTL")
        .arg(format!("{prefix}dau:{DAY}"))
        .query(&mut con)?;
    ensure(
        dau_ttl > COUNTER_TTL_S && dau_ttl <= DAILY_TTL_S,
        format!("DAU key TTL {dau_ttl}"),
    )?;
    ensure(
        ttl > 0 && ttl <= COUNTER_TTL_S,
        format!("counter TTL {ttl}"),
    )?;
    Ok(Outcome {
        clicks: CLICKS,
        reclaimed,
        processed_by: BTreeMap::from([("w1".to_string(), n1 + reclaimed), ("w2".to_string(), n2)]),
        uniques,
        dau,
    })
}

fn main() {
    support::main("ad clicks", |addr| Ok(format!("{:?}", run_scenario(addr)?)));
}
