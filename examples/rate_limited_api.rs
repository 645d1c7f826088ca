//! A rate-limited API, without the HTTP: `Api::handle` takes a request (client, endpoint) and
//! answers 200 or 429 with the headers a real API would send, deciding with one Ember command
//! per limit:
//!
//! - every client: `CL.THROTTLE <key> 4 5 1` (the bundled `ratelimit` module, redis-cell's
//!   command): bursts of 5, then 5 requests a second. Its reply gives the `X-RateLimit-*` and
//!   `Retry-After` headers directly.
//! - the expensive `/export` endpoint also spends 5 tokens from one bucket shared by everyone,
//!   with the token-bucket EVAL script (examples/wasm/token_bucket): 10 tokens, refilling at 2
//!   per second.
//!
//! The redis-cli version:
//! ```text
//! CL.THROTTLE api:client:alice 4 5 1
//! 1) (integer) 0      # 0 allowed, 1 refused        -> 200 / 429
//! 2) (integer) 5      # X-RateLimit-Limit
//! 3) (integer) 4      # X-RateLimit-Remaining
//! 4) (integer) -1     # Retry-After (seconds; -1 when allowed)
//! 5) (integer) 1      # X-RateLimit-Reset (seconds until the limit is full again)
//! SCRIPT LOAD <the bytes of token_bucket.wasm>          # redis-cli -x SCRIPT LOAD < file
//! EVALSHA <sha> 1 api:export-budget 10 2 5               # -> [allowed, tokens left]
//! ```
//!
//! Run against an Ember server: `cargo run --example rate_limited_api -- 127.0.0.1:6379` (or set
//! `EMBER_ADDR`). Bounded (about a second: it waits once for the limit to refill), keys under a
//! per-run prefix, asserts its own outcome, exits non-zero on failure. `tests/examples.rs` runs
//! the same [`run_scenario`].

use redis::Commands;
use std::error::Error;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The token-bucket script's body, as the build produced it (host/build.rs builds every guest).
const TOKEN_BUCKET: &[u8] = include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/token_bucket.wasm"));

/// Per client: bursts of MAX_BURST + 1, then PER_PERIOD requests every PERIOD_S seconds.
const MAX_BURST: i64 = 4;
const PER_PERIOD: i64 = 5;
const PERIOD_S: i64 = 1;
/// The shared /export budget: capacity, refill per second, cost of one export.
const EXPORT_CAPACITY: i64 = 10;
const EXPORT_REFILL: i64 = 2;
const EXPORT_COST: i64 = 5;

fn ensure(cond: bool, msg: impl Into<String>) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(msg.into().into())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The API: one connection, the script's SHA1, and the key prefix.
pub struct Api {
    con: redis::Connection,
    token_bucket_sha: String,
    prefix: String,
}

impl Api {
    pub fn new(client: &redis::Client, prefix: &str) -> Res<Api> {
        let mut con = client.get_connection()?;
        let token_bucket_sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(TOKEN_BUCKET)
            .query(&mut con)?;
        Ok(Api {
            con,
            token_bucket_sha,
            prefix: prefix.to_string(),
        })
    }

    /// Admits or refuses one request.
    pub fn handle(&mut self, client: &str, endpoint: &str) -> Res<Response> {
        // [limited, limit, remaining, retry_after_s, reset_s]
        let t: Vec<i64> = redis::cmd("CL.THROTTLE")
            .arg(format!("{}client:{client}", self.prefix))
            .arg(MAX_BURST)
            .arg(PER_PERIOD)
            .arg(PERIOD_S)
            .query(&mut self.con)?;
        let &[limited, limit, remaining, retry_after, reset] = t.as_slice() else {
            return Err(format!("CL.THROTTLE replied {t:?}").into());
        };
        let mut headers = vec![
            ("X-RateLimit-Limit", limit.to_string()),
            ("X-RateLimit-Remaining", remaining.to_string()),
            ("X-RateLimit-Reset", reset.to_string()),
        ];
        if limited == 1 {
            headers.push(("Retry-After", retry_after.to_string()));
            return Ok(Response {
                status: 429,
                headers,
                body: "too many requests".into(),
            });
        }
        if endpoint == "/export" {
            // [allowed, tokens left], from the bucket everyone shares.
            let b: Vec<i64> = redis::cmd("EVALSHA")
                .arg(&self.token_bucket_sha)
                .arg(1)
                .arg(format!("{}export-budget", self.prefix))
                .arg(EXPORT_CAPACITY)
                .arg(EXPORT_REFILL)
                .arg(EXPORT_COST)
                .query(&mut self.con)?;
            let &[allowed, left] = b.as_slice() else {
                return Err(format!("the token bucket replied {b:?}").into());
            };
            headers.push(("X-Export-Budget", left.to_string()));
            if allowed != 1 {
                // Seconds until enough tokens are back, rounded up.
                let wait = (EXPORT_COST - left + EXPORT_REFILL - 1) / EXPORT_REFILL;
                headers.push(("Retry-After", wait.to_string()));
                return Ok(Response {
                    status: 429,
                    headers,
                    body: "export budget exhausted".into(),
                });
            }
        }
        Ok(Response {
            status: 200,
            headers,
            body: format!("{endpoint} for {client}"),
        })
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub admitted: usize,
    pub refused: usize,
    /// Every exchange, in order: client, endpoint, status, headers.
    pub log: Vec<String>,
}

pub fn run_scenario(addr: &str) -> Res<Summary> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let prefix = format!("api-example:{}:{nanos}:", std::process::id());
    let mut admin = client.get_connection()?;
    let outcome = scenario(&client, &prefix);
    let keys: Vec<String> = admin.scan_match(format!("{prefix}*"))?.collect();
    if !keys.is_empty() {
        let _: usize = admin.del(keys)?;
    }
    outcome
}

fn scenario(client: &redis::Client, prefix: &str) -> Res<Summary> {
    let mut api = Api::new(client, prefix)?;
    let mut summary = Summary::default();
    let mut call = |api: &mut Api, who: &str, endpoint: &str| -> Res<Response> {
        let r = api.handle(who, endpoint)?;
        if r.status == 200 {
            summary.admitted += 1;
        } else {
            summary.refused += 1;
        }
        summary
            .log
            .push(format!("{who} {endpoint} -> {} {:?}", r.status, r.headers));
        Ok(r)
    };

    // alice bursts 8 requests: the first MAX_BURST + 1 pass, counting down the remaining
    // allowance; the rest are refused with Retry-After (one request's share of the period,
    // 200 ms, rounded up to 1 s).
    let burst_started = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = call(&mut api, "alice", "/items")?;
        statuses.push(r.status);
        if r.status == 200 {
            ensure(
                r.header("X-RateLimit-Remaining") == Some(&(MAX_BURST - i).to_string()),
                format!("remaining after {} requests: {r:?}", i + 1),
            )?;
            ensure(r.header("X-RateLimit-Limit") == Some("5"), format!("{r:?}"))?;
        } else {
            ensure(r.header("Retry-After") == Some("1"), format!("{r:?}"))?;
            ensure(
                r.header("X-RateLimit-Remaining") == Some("0"),
                format!("{r:?}"),
            )?;
        }
    }
    ensure(
        statuses == [200, 200, 200, 200, 200, 429, 429, 429],
        format!("alice's burst: {statuses:?}"),
    )?;

    // Limits are per client: bob is not affected by alice.
    for _ in 0..3 {
        let r = call(&mut api, "bob", "/items")?;
        ensure(r.status == 200, format!("bob refused: {r:?}"))?;
    }

    // Half a second after her burst started, alice has earned 2 more requests (one per
    // 200 ms once the burst allowance is spent; refused requests cost nothing).
    let half_second = Duration::from_millis(500);
    std::thread::sleep(half_second.saturating_sub(burst_started.elapsed()));
    let again: Vec<u16> = (0..3)
        .map(|_| call(&mut api, "alice", "/items").map(|r| r.status))
        .collect::<Res<_>>()?;
    ensure(
        again == [200, 200, 429],
        format!("alice after 500 ms: {again:?}"),
    )?;

    // /export draws 5 tokens from a 10-token budget everyone shares: carol gets two exports,
    // dave (with his own per-client allowance left) is refused because the budget is empty.
    let exports: Vec<Response> = [
        ("carol", "/export"),
        ("carol", "/export"),
        ("dave", "/export"),
    ]
    .into_iter()
    .map(|(who, e)| call(&mut api, who, e))
    .collect::<Res<_>>()?;
    let got: Vec<(u16, Option<&str>)> = exports
        .iter()
        .map(|r| (r.status, r.header("X-Export-Budget")))
        .collect();
    ensure(
        got == [(200, Some("5")), (200, Some("0")), (429, Some("0"))],
        format!("exports: {got:?}"),
    )?;
    ensure(
        exports[2].header("Retry-After") == Some("3")
            && exports[2].header("X-RateLimit-Remaining") == Some("4"),
        format!("dave's refusal: {:?}", exports[2]),
    )?;
    // dave's other endpoints still work.
    ensure(
        call(&mut api, "dave", "/items")?.status == 200,
        "dave /items",
    )?;
    Ok(summary)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("EMBER_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:6379".into());
    match run_scenario(&addr) {
        Ok(s) => {
            for line in &s.log {
                println!("{line}");
            }
            println!(
                "rate-limited API scenario passed against {addr}: {} admitted, {} refused",
                s.admitted, s.refused
            );
        }
        Err(e) => {
            eprintln!("rate-limited API scenario FAILED against {addr}: {e}");
            std::process::exit(1);
        }
    }
}
