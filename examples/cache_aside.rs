//! Cache-aside (read-through) with stampede protection: readers look in the cache first and
//! rebuild from the origin (a slow database) on a miss. Every cached value gets a jittered TTL
//! (3600 ± 300 s) so keys written together do not expire together; on a miss, a short lock
//! (`SET lock NX PX 2000`) lets one caller rebuild while the others serve a stale copy or wait;
//! and a value close to its expiry is refreshed ahead by one caller while everyone keeps
//! reading it.
//!
//! The scenario measures the origin's load: 100 concurrent readers of a cold key cost about one
//! origin call each without the lock, and exactly one with it.
//!
//! The redis-cli version of each step:
//! ```text
//! GET cache:product:7                      # plus TTL cache:product:7, in one pipeline
//! SET lock:product:7 <token> NX PX 2000    # on a miss: OK -> rebuild; nil -> wait / serve stale
//! GET stale:product:7                      # the loser's fallback
//! SET cache:product:7 <value> EX 3517      # 3600 ± 300, chosen at random per write
//! SET stale:product:7 <value> EX 86400
//! DEL lock:product:7
//! ```
//!
//! Run: `cargo run --example cache_aside -- 127.0.0.1:6379` (or set `EMBER_ADDR`). Async (tokio
//! and the `redis` crate's multiplexed connection), about two seconds, keys under a per-run
//! prefix; asserts its own outcome and exits non-zero on failure. `tests/examples.rs` runs the
//! same [`run_scenario`] against ember-server and redis-server.

#[path = "support/mod.rs"]
mod support;

use rand::Rng;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{ensure, Res};

/// Cached values live 3600 ± 300 s.
const TTL_S: i64 = 3600;
const JITTER_S: i64 = 300;
/// A value with less than this left is refreshed ahead of its expiry.
const REFRESH_BELOW_S: i64 = 300;
/// The stale copy outlives the value by far: it is what losers of the lock serve.
const STALE_TTL_S: i64 = 86_400;
/// The lock only has to outlive one rebuild.
const LOCK_MS: u64 = 2000;
/// How long a reader that lost the lock and has no stale copy waits before going to the origin
/// itself: WAIT_POLLS polls, WAIT_POLL apart.
const WAIT_POLLS: u32 = 100;
const WAIT_POLL: Duration = Duration::from_millis(20);
/// The origin takes this long per call: long enough for a stampede to build up.
const ORIGIN_LATENCY: Duration = Duration::from_millis(100);
const READERS: usize = 100;

/// The slow database in front of which the cache sits. Counts its calls.
pub struct Origin {
    hits: AtomicUsize,
    version: AtomicUsize,
}

impl Origin {
    async fn fetch(&self, id: &str) -> String {
        self.hits.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(ORIGIN_LATENCY).await;
        format!("product {id} v{}", self.version.load(Ordering::SeqCst))
    }
}

/// Where a read's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    /// This reader rebuilt the value (it held the lock, or there is no lock).
    Origin,
    /// The cache missed and another reader held the lock: the stale copy.
    Stale,
    /// The cache missed, no stale copy: waited for the lock holder's value.
    Waited,
}

pub struct Cache {
    con: MultiplexedConnection,
    origin: Arc<Origin>,
    prefix: String,
    /// Off: the naive cache-aside that stampedes (every missing reader rebuilds).
    stampede_lock: bool,
}

impl Cache {
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:product:{id}", self.prefix)
    }

    /// 3600 ± 300 s, uniformly.
    fn jittered_ttl() -> i64 {
        TTL_S + rand::rng().random_range(-JITTER_S..=JITTER_S)
    }

    async fn try_lock(&self, id: &str) -> Res<Option<String>> {
        let token = format!("{:016x}", rand::rng().random::<u64>());
        let mut con = self.con.clone();
        let ok: Option<String> = redis::cmd("SET")
            .arg(self.key("lock", id))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_MS)
            .query_async(&mut con)
            .await?;
        Ok(ok.map(|_| token))
    }

    /// Fetches from the origin and writes the value (jittered TTL) and its stale copy.
    async fn rebuild(&self, id: &str) -> Res<String> {
        let value = self.origin.fetch(id).await;
        let mut con = self.con.clone();
        redis::pipe()
            .cmd("SET")
            .arg(self.key("cache", id))
            .arg(&value)
            .arg("EX")
            .arg(Self::jittered_ttl())
            .ignore()
            .cmd("SET")
            .arg(self.key("stale", id))
            .arg(&value)
            .arg("EX")
            .arg(STALE_TTL_S)
            .ignore()
            .query_async::<()>(&mut con)
            .await?;
        Ok(value)
    }

    /// The cached value and its TTL in seconds (-2: no such key), in one round trip.
    async fn peek(&self, id: &str) -> Res<(Option<String>, i64)> {
        let mut con = self.con.clone();
        let key = self.key("cache", id);
        Ok(redis::pipe()
            .get(&key)
            .ttl(&key)
            .query_async(&mut con)
            .await?)
    }

    /// Rebuilds under the lock we just took, then releases it. First it looks again: a reader
    /// that saw the miss (or the old TTL) just before the previous holder wrote and released
    /// would otherwise rebuild a second time. If a rebuild outlives the lock, a second one may
    /// start meanwhile: harmless here, both write a fresh value, so the release is a plain DEL.
    async fn rebuild_locked(&self, id: &str) -> Res<(String, Source)> {
        let mut con = self.con.clone();
        let (value, ttl) = self.peek(id).await?;
        let result = match value {
            Some(value) if ttl >= REFRESH_BELOW_S || ttl == -1 => Ok((value, Source::Cache)),
            _ => self.rebuild(id).await.map(|v| (v, Source::Origin)),
        };
        redis::cmd("DEL")
            .arg(self.key("lock", id))
            .query_async::<()>(&mut con)
            .await?;
        result
    }

    /// A read-through GET.
    pub async fn get(&self, id: &str) -> Res<(String, Source)> {
        let mut con = self.con.clone();
        let key = self.key("cache", id);
        let (value, ttl) = self.peek(id).await?;
        if let Some(value) = value {
            // Refresh ahead: one reader (the lock's winner) refreshes a value about to expire;
            // everyone else keeps serving it.
            if self.stampede_lock
                && (0..REFRESH_BELOW_S).contains(&ttl)
                && self.try_lock(id).await?.is_some()
            {
                return self.rebuild_locked(id).await;
            }
            return Ok((value, Source::Cache));
        }
        if !self.stampede_lock {
            return Ok((self.rebuild(id).await?, Source::Origin));
        }
        if self.try_lock(id).await?.is_some() {
            return self.rebuild_locked(id).await;
        }
        let stale: Option<String> = redis::cmd("GET")
            .arg(self.key("stale", id))
            .query_async(&mut con)
            .await?;
        if let Some(stale) = stale {
            return Ok((stale, Source::Stale));
        }
        for _ in 0..WAIT_POLLS {
            tokio::time::sleep(WAIT_POLL).await;
            let value: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut con).await?;
            if let Some(value) = value {
                return Ok((value, Source::Waited));
            }
        }
        // The lock holder is stuck or gone: rebuild ourselves rather than fail the read.
        Ok((self.rebuild(id).await?, Source::Origin))
    }
}

/// What the scenario measured.
#[derive(Debug)]
pub struct Outcome {
    /// Origin calls for 100 concurrent readers of a cold key, without and with the lock.
    pub origin_hits_without_lock: usize,
    pub origin_hits_with_lock: usize,
    /// The 100 readers of an expired key that has a stale copy: origin calls, stale answers.
    pub expired_origin_hits: usize,
    pub served_stale: usize,
    /// The 100 readers of a key about to expire: origin calls (the refresh ahead).
    pub refresh_ahead_origin_hits: usize,
    /// Min and max TTL of 20 freshly cached keys.
    pub ttl_range: (i64, i64),
}

/// 100 readers at once; returns what each got.
async fn crowd(cache: &Arc<Cache>, id: &str) -> Res<Vec<(String, Source)>> {
    let tasks: Vec<_> = (0..READERS)
        .map(|_| {
            let cache = Arc::clone(cache);
            let id = id.to_string();
            tokio::spawn(async move { cache.get(&id).await })
        })
        .collect();
    let mut out = Vec::with_capacity(READERS);
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

pub fn run_scenario(addr: &str) -> Res<Outcome> {
    support::with_prefix(addr, "cache-aside", |client, prefix| {
        support::runtime()?.block_on(scenario(client, prefix))
    })
}

async fn scenario(client: &redis::Client, prefix: &str) -> Res<Outcome> {
    let con = client.get_multiplexed_async_connection().await?;
    let origin = Arc::new(Origin {
        hits: AtomicUsize::new(0),
        version: AtomicUsize::new(1),
    });
    let cache = |stampede_lock| {
        Arc::new(Cache {
            con: con.clone(),
            origin: Arc::clone(&origin),
            prefix: prefix.to_string(),
            stampede_lock,
        })
    };
    let hits = || origin.hits.swap(0, Ordering::SeqCst);
    let (naive, guarded) = (cache(false), cache(true));

    // 1. The stampede: 100 readers of a cold key, each one misses and calls the origin.
    let got = crowd(&naive, "1").await?;
    let origin_hits_without_lock = hits();
    ensure(
        got.iter().all(|(v, _)| v == "product 1 v1"),
        format!("naive readers got {got:?}"),
    )?;
    // 2. With the lock: one rebuild, the other 99 wait for it (there is no stale copy yet).
    let got = crowd(&guarded, "2").await?;
    let origin_hits_with_lock = hits();
    ensure(
        got.iter().all(|(v, _)| v == "product 2 v1"),
        format!("guarded readers got {got:?}"),
    )?;
    ensure(
        origin_hits_with_lock == 1,
        format!("{origin_hits_with_lock} origin calls with the lock, expected 1"),
    )?;
    ensure(
        origin_hits_without_lock > 10,
        format!("only {origin_hits_without_lock} origin calls without the lock: no stampede?"),
    )?;
    ensure(
        got.iter().filter(|(_, s)| *s == Source::Origin).count() == 1,
        format!("more than one reader rebuilt: {got:?}"),
    )?;

    // 3. Jitter: 20 keys cached at once expire spread over 3300..=3900 s, not all together.
    for id in 100..120 {
        guarded.get(&id.to_string()).await?;
    }
    hits();
    let mut c = con.clone();
    let mut ttls = Vec::new();
    for id in 100..120 {
        let ttl: i64 = redis::cmd("TTL")
            .arg(format!("{prefix}cache:product:{id}"))
            .query_async(&mut c)
            .await?;
        ttls.push(ttl);
    }
    let ttl_range = (
        ttls.iter().copied().min().unwrap_or(0),
        ttls.iter().copied().max().unwrap_or(0),
    );
    ensure(
        ttl_range.0 >= TTL_S - JITTER_S - 1
            && ttl_range.1 <= TTL_S + JITTER_S
            && ttl_range.0 < ttl_range.1,
        format!("TTLs {ttls:?}"),
    )?;

    // 4. The value expired (DEL stands in for the expiry) but its stale copy is there: one
    //    reader rebuilds v2, the others answer at once with the stale v1.
    origin.version.store(2, Ordering::SeqCst);
    redis::cmd("DEL")
        .arg(format!("{prefix}cache:product:2"))
        .query_async::<()>(&mut c)
        .await?;
    let got = crowd(&guarded, "2").await?;
    let expired_origin_hits = hits();
    let served_stale = got.iter().filter(|(_, s)| *s == Source::Stale).count();
    ensure(
        expired_origin_hits == 1,
        format!("{expired_origin_hits} origin calls for an expired key"),
    )?;
    ensure(
        got.iter()
            .all(|(v, s)| (*s == Source::Stale && v == "product 2 v1") || v == "product 2 v2"),
        format!("readers of the expired key got {got:?}"),
    )?;
    ensure(served_stale > 0, "no reader served the stale copy")?;

    // 5. Refresh ahead: the value has 60 s left. Every reader answers from the cache at once
    //    except the one that refreshes it (v3); afterwards it has a full TTL again.
    origin.version.store(3, Ordering::SeqCst);
    let key = format!("{prefix}cache:product:2");
    redis::cmd("EXPIRE")
        .arg(&key)
        .arg(60)
        .query_async::<()>(&mut c)
        .await?;
    let got = crowd(&guarded, "2").await?;
    let refresh_ahead_origin_hits = hits();
    ensure(
        refresh_ahead_origin_hits == 1,
        format!("{refresh_ahead_origin_hits} origin calls for the refresh ahead"),
    )?;
    ensure(
        got.iter().filter(|(_, s)| *s == Source::Origin).count() == 1
            && got
                .iter()
                .all(|(v, _)| v == "product 2 v2" || v == "product 2 v3"),
        format!("readers during the refresh got {got:?}"),
    )?;
    let (value, ttl) = guarded.peek("2").await?;
    ensure(
        value.as_deref() == Some("product 2 v3") && ttl >= TTL_S - JITTER_S - 1,
        format!("after the refresh: {value:?} with TTL {ttl}"),
    )?;
    Ok(Outcome {
        origin_hits_without_lock,
        origin_hits_with_lock,
        expired_origin_hits,
        served_stale,
        refresh_ahead_origin_hits,
        ttl_range,
    })
}

fn main() {
    support::main("cache-aside", |addr| {
        Ok(format!("{:?}", run_scenario(addr)?))
    });
}
