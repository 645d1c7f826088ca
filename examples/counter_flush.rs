//! Counters with a periodic flush: every event is one `HINCRBY` on a live hash (cheap, and
//! many writers can share it); a flusher periodically swaps the live hash out atomically, so
//! writers start a fresh one, and writes the batch's totals to the database (here a stand-in
//! file). No increment is lost and none is counted twice, even when the flusher dies mid-flush:
//!
//! - the swap is atomic (RENAME, or a script: Lua, or WebAssembly on Ember,
//!   examples/wasm/counter_take), so every HINCRBY lands in exactly one batch;
//! - the batch stays in Redis under its own id (`{ctr}:batch:<id>`, the id from INCR) until the
//!   database has it, so a flusher that dies before writing leaves it for the next one;
//! - the database records the ids it committed, so a flusher that dies after writing but before
//!   deleting the batch does not make the next one count it again.
//!
//! The redis-cli version of each step:
//! ```text
//! HINCRBY {ctr}:live page:home 1                 # every event, from any number of writers
//! INCR {ctr}:batch-seq                           # the flusher: a new batch id, say 7
//! RENAME {ctr}:live {ctr}:batch:7                # ERR no such key: nothing was counted
//! HGETALL {ctr}:batch:7                          # write these totals + "batch 7 done" to the DB
//! DEL {ctr}:batch:7                              # only after the DB has them
//! EVALSHA <sha> 2 {ctr}:live {ctr}:batch:7       # or: swap and read in one step (the script)
//! SCAN 0 MATCH {ctr}:batch:*                     # a restarted flusher: batches left behind
//! ```
//!
//! Run: `cargo run --example counter_flush -- 127.0.0.1:6379` (or set `EMBER_ADDR`): with
//! RENAME and the Lua script, and on Ember with the wasm script too. About a second each,
//! bounded, keys under a per-run prefix and the database file in the temp dir; asserts its own
//! outcome and exits non-zero on failure. `tests/examples.rs` runs the same [`run_scenario`].

#[path = "support/mod.rs"]
mod support;

use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use support::Engine;
use support::{ensure, Res, Script};

/// The swap as a script, in both languages (same keys and replies).
pub const COUNTER_TAKE: Script = Script {
    lua: include_str!("wasm/counter_take/counter_take.lua"),
    wasm: include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/counter_take.wasm")),
};

const WRITERS: usize = 8;
/// Each writer sends BURSTS bursts of BURST events, BURST_GAP apart.
const BURSTS: usize = 20;
const BURST: usize = 25;
const BURST_GAP: Duration = Duration::from_millis(10);
const PAGES: usize = 10;
const FLUSH_EVERY: Duration = Duration::from_millis(15);

/// How the flusher swaps the live hash out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    Rename,
    Script(Engine),
}

/// The stand-in database: an append-only file of `<batch> <field> <count>` lines, each batch
/// closed by `commit <batch>` and written with one write + fsync. A batch without its commit
/// line (a torn write) does not count.
pub struct Database {
    path: PathBuf,
}

impl Database {
    fn read(&self) -> Res<(BTreeMap<String, i64>, HashSet<i64>)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        let committed: HashSet<i64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("commit ")?.parse().ok())
            .collect();
        let mut totals = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with("commit ")) {
            let mut parts = line.split(' ');
            let (Some(batch), Some(field), Some(count)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("bad database line {line:?}").into());
            };
            if committed.contains(&batch.parse()?) {
                *totals.entry(field.to_string()).or_insert(0) += count.parse::<i64>()?;
            }
        }
        Ok((totals, committed))
    }

    /// Appends the batch unless it was committed before (the write is idempotent per batch).
    fn commit(&self, batch: i64, counts: &[(String, i64)]) -> Res<()> {
        if self.read()?.1.contains(&batch) {
            return Ok(());
        }
        let mut text = String::new();
        for (field, count) in counts {
            text.push_str(&format!("{batch} {field} {count}\n"));
        }
        text.push_str(&format!("commit {batch}\n"));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(text.as_bytes())?;
        f.sync_data()?;
        Ok(())
    }
}

/// Where a flush stops early, to show what a crash there leaves behind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CrashPoint {
    None,
    BeforeDatabaseWrite,
    BeforeDelete,
}

pub struct Flusher {
    con: MultiplexedConnection,
    swap: Swap,
    sha: Option<String>,
    key: Box<dyn Fn(&str) -> String + Send + Sync>,
    db: Arc<Database>,
}

impl Flusher {
    /// Swaps the live hash into batch `id` and returns the batch (empty: nothing counted).
    async fn take(&mut self, id: i64) -> Res<Vec<(String, i64)>> {
        let (live, batch) = ((self.key)("live"), (self.key)(&format!("batch:{id}")));
        match (self.swap, &self.sha) {
            (Swap::Script(_), Some(sha)) => Ok(redis::cmd("EVALSHA")
                .arg(sha)
                .arg(2)
                .arg(&live)
                .arg(&batch)
                .query_async(&mut self.con)
                .await?),
            _ => {
                let renamed: redis::RedisResult<()> = self.con.rename(&live, &batch).await;
                match renamed {
                    Ok(()) => Ok(self.con.hgetall(&batch).await?),
                    // Redis's error for a missing source: nothing was counted since the last
                    // flush.
                    Err(e) if e.to_string().contains("no such key") => Ok(Vec::new()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Writes batch `id` to the database and deletes it from Redis.
    async fn finish(&mut self, id: i64, counts: &[(String, i64)], crash: CrashPoint) -> Res<()> {
        if crash == CrashPoint::BeforeDatabaseWrite {
            return Ok(());
        }
        self.db.commit(id, counts)?;
        if crash == CrashPoint::BeforeDelete {
            return Ok(());
        }
        let _: i64 = self.con.del((self.key)(&format!("batch:{id}"))).await?;
        Ok(())
    }

    /// One flush; returns how many increments it moved.
    async fn flush(&mut self, crash: CrashPoint) -> Res<i64> {
        let id: i64 = self.con.incr((self.key)("batch-seq"), 1).await?;
        let counts = self.take(id).await?;
        if counts.is_empty() {
            return Ok(0);
        }
        self.finish(id, &counts, crash).await?;
        Ok(counts.iter().map(|(_, c)| c).sum())
    }

    /// What a restarted flusher does first: finish the batches a dead one left in Redis.
    async fn recover(&mut self) -> Res<usize> {
        let pattern = (self.key)("batch:*");
        let mut leftovers: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(100)
                .query_async(&mut self.con)
                .await?;
            leftovers.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut done = 0;
        for key in leftovers {
            let id: i64 = key.rsplit(':').next().unwrap_or("").parse()?;
            let counts: Vec<(String, i64)> = self.con.hgetall(&key).await?;
            self.finish(id, &counts, CrashPoint::None).await?;
            done += 1;
        }
        Ok(done)
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub swap: Swap,
    pub events: i64,
    pub flushes: usize,
    /// Batches a restarted flusher found in Redis: one never written, one written but not deleted.
    pub recovered: usize,
    pub totals: BTreeMap<String, i64>,
}

pub fn run_scenario(addr: &str, swap: Swap) -> Res<Outcome> {
    support::with_prefix(addr, "counters", |client, prefix| {
        let db_path = std::env::temp_dir().join(format!("{}db", prefix.replace(':', "-")));
        let outcome = support::runtime()?.block_on(scenario(client, prefix, swap, &db_path));
        let _ = std::fs::remove_file(&db_path);
        outcome
    })
}

async fn scenario(client: &redis::Client, prefix: &str, swap: Swap, db: &Path) -> Res<Outcome> {
    let sha = match swap {
        Swap::Script(engine) => Some(COUNTER_TAKE.load(&mut client.get_connection()?, engine)?),
        Swap::Rename => None,
    };
    let db = Arc::new(Database {
        path: db.to_path_buf(),
    });
    let prefix_owned = prefix.to_string();
    // `{ctr}` is a hash tag: in a cluster all the keys share a slot, as RENAME and the script need.
    let key = move |name: &str| format!("{prefix_owned}{{ctr}}:{name}");
    let new_flusher = |con| Flusher {
        con,
        swap,
        sha: sha.clone(),
        key: Box::new(key.clone()),
        db: Arc::clone(&db),
    };

    let writers_done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let live = key("live");
            let client = client.clone();
            tokio::spawn(async move {
                let mut con = client.get_multiplexed_async_connection().await?;
                for b in 0..BURSTS {
                    let mut pipe = redis::pipe();
                    for e in 0..BURST {
                        pipe.hincr(&live, format!("page:{}", (w + b + e) % PAGES), 1)
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut con).await?;
                    tokio::time::sleep(BURST_GAP).await;
                }
                Res::Ok(())
            })
        })
        .collect();

    // The first flusher: a normal flush, then it dies twice in the middle of a flush (each time
    // on a batch that has increments in it) and is restarted.
    let mut flusher = new_flusher(client.get_multiplexed_async_connection().await?);
    let mut flushes = 0;
    let mut crashes = vec![CrashPoint::BeforeDelete, CrashPoint::BeforeDatabaseWrite];
    let mut recovered = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut moved = 0;
    loop {
        ensure(
            Instant::now() < deadline,
            "the flusher did not finish in time",
        )?;
        let finished = writers_done.load(Ordering::SeqCst);
        let crash = if flushes >= 1 {
            crashes.last().copied().unwrap_or(CrashPoint::None)
        } else {
            CrashPoint::None
        };
        let n = flusher.flush(crash).await?;
        if n > 0 {
            flushes += 1;
            if crash != CrashPoint::None {
                crashes.pop();
                // The process died; a new one starts and first finishes what was left.
                flusher = new_flusher(client.get_multiplexed_async_connection().await?);
                recovered += flusher.recover().await?;
            }
        }
        moved += n;
        if finished {
            break;
        }
        if writers.iter().all(|w| w.is_finished()) {
            // One more flush after the last write has landed.
            writers_done.store(true, Ordering::SeqCst);
        }
        tokio::time::sleep(FLUSH_EVERY).await;
    }
    for w in writers {
        w.await??;
    }
    ensure(
        crashes.is_empty(),
        "the writers finished before both crashes were staged",
    )?;
    ensure(
        recovered == 2,
        format!("recovered {recovered} batches, expected 2"),
    )?;

    // Every event is in the database exactly once; nothing is left in Redis.
    let events = (WRITERS * BURSTS * BURST) as i64;
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for w in 0..WRITERS {
        for b in 0..BURSTS {
            for e in 0..BURST {
                *expected
                    .entry(format!("page:{}", (w + b + e) % PAGES))
                    .or_insert(0) += 1;
            }
        }
    }
    let (totals, _) = db.read()?;
    ensure(
        totals == expected,
        format!("database totals {totals:?}, expected {expected:?} (moved {moved})"),
    )?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let left: bool = con.exists(key("live")).await?;
    ensure(!left, "the live hash was not flushed")?;
    Ok(Outcome {
        swap,
        events,
        flushes,
        recovered,
        totals,
    })
}

fn main() {
    support::main("counter flush", |addr| {
        let mut swaps = vec![Swap::Rename];
        swaps.extend(support::engines_at(addr)?.into_iter().map(Swap::Script));
        let mut lines = Vec::new();
        for swap in swaps {
            lines.push(format!("{:?}", run_scenario(addr, swap)?));
        }
        Ok(lines.join("\n"))
    });
}
