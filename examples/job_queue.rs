//! A durable job queue on a stream with a consumer group: producers XADD jobs,
//! workers XREADGROUP them (blocking), process and XACK. A worker that crashes
//! mid-batch leaves its jobs pending; a surviving worker reclaims them with
//! XAUTOCLAIM after they sat idle, so every job is acknowledged exactly once.
//!
//! Run: `cargo run --example job_queue -- 127.0.0.1:6379` (or set `EMBER_ADDR`).
//! Bounded (a few hundred jobs, a couple of seconds at most), keys under a
//! per-run prefix; asserts its own outcome and exits non-zero on failure.
//! `tests/examples.rs` runs the same [`run_scenario`].
//!
//! The redis-cli version of each step:
//! ```text
//! XGROUP CREATE jobs workers $ MKSTREAM
//! XADD jobs * task resize id 1
//! XREADGROUP GROUP workers w1 COUNT 10 BLOCK 1000 STREAMS jobs >
//! XACK jobs workers 1700000000000-0
//! XAUTOCLAIM jobs workers w2 100 0-0 COUNT 10
//! XPENDING jobs workers
//! ```

use redis::Value;
use std::collections::HashSet;
use std::error::Error;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const JOBS: usize = 300;
/// Jobs the crashing worker takes and never acknowledges.
const CRASH_BATCH: usize = 7;
/// How long a job must sit unacknowledged before another worker may claim it.
const CLAIM_IDLE_MS: u64 = 100;

fn ensure(cond: bool, msg: impl Into<String>) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(msg.into().into())
    }
}

/// The (id, job number) pairs of an XREADGROUP / XAUTOCLAIM entry list.
fn entries(v: &Value) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    if let Value::Array(list) = v {
        for e in list {
            let Value::Array(parts) = e else { continue };
            let (Some(Value::BulkString(id)), Some(Value::Array(fields))) =
                (parts.first(), parts.get(1))
            else {
                continue;
            };
            let mut job = None;
            for pair in fields.chunks(2) {
                if let [Value::BulkString(k), Value::BulkString(v)] = pair {
                    if k.as_slice() == b"job" {
                        job = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
                    }
                }
            }
            if let Some(job) = job {
                out.push((String::from_utf8_lossy(id).into_owned(), job));
            }
        }
    }
    out
}

/// One XREADGROUP call's entries for our single stream (empty on timeout).
fn read_group(
    con: &mut redis::Connection,
    key: &str,
    consumer: &str,
    count: usize,
) -> Res<Vec<(String, usize)>> {
    let reply: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg(consumer)
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(500)
        .arg("STREAMS")
        .arg(key)
        .arg(">")
        .query(con)?;
    // [[key, [entries...]]] or nil.
    if let Value::Array(streams) = &reply {
        if let Some(Value::Array(kv)) = streams.first() {
            if let Some(list) = kv.get(1) {
                return Ok(entries(list));
            }
        }
    }
    Ok(Vec::new())
}

/// What the scenario observed.
#[derive(Debug)]
pub struct Outcome {
    pub acknowledged: usize,
    pub reclaimed: usize,
}

/// Produces jobs, runs a worker that crashes after taking a batch, lets a
/// second worker drain the queue and reclaim the crashed worker's jobs, and
/// checks every job was acknowledged exactly once.
pub fn run_scenario(addr: &str) -> Res<Outcome> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut admin = client.get_connection()?;
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let key = format!("example:jobs:{nonce}");
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg("workers")
        .arg("$")
        .arg("MKSTREAM")
        .query::<()>(&mut admin)?;
    for job in 0..JOBS {
        redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("task")
            .arg("resize")
            .arg("job")
            .arg(job)
            .query::<String>(&mut admin)?;
    }

    // The crashing worker takes a batch and disappears without acknowledging.
    {
        let mut doomed = client.get_connection()?;
        let taken = read_group(&mut doomed, &key, "crashy", CRASH_BATCH)?;
        ensure(
            taken.len() == CRASH_BATCH,
            format!("crashy took {} jobs", taken.len()),
        )?;
    }

    // The surviving worker drains the queue, then reclaims idle pending jobs.
    let mut worker = client.get_connection()?;
    let mut done: HashSet<usize> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        ensure(Instant::now() < deadline, "queue not drained in time")?;
        let batch = read_group(&mut worker, &key, "steady", 50)?;
        if batch.is_empty() {
            break;
        }
        for (id, job) in batch {
            ensure(done.insert(job), format!("job {job} delivered twice"))?;
            redis::cmd("XACK")
                .arg(&key)
                .arg("workers")
                .arg(&id)
                .query::<i64>(&mut worker)?;
        }
    }
    ensure(
        done.len() == JOBS - CRASH_BATCH,
        format!("steady processed {} jobs", done.len()),
    )?;

    std::thread::sleep(Duration::from_millis(CLAIM_IDLE_MS + 20));
    let mut reclaimed = 0;
    let mut cursor = "0-0".to_string();
    loop {
        ensure(Instant::now() < deadline, "reclaim did not finish in time")?;
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&key)
            .arg("workers")
            .arg("steady")
            .arg(CLAIM_IDLE_MS)
            .arg(&cursor)
            .arg("COUNT")
            .arg(10)
            .query(&mut worker)?;
        let Value::Array(parts) = reply else {
            return Err("XAUTOCLAIM reply is not an array".into());
        };
        let next = match parts.first() {
            Some(Value::BulkString(c)) => String::from_utf8_lossy(c).into_owned(),
            _ => return Err("XAUTOCLAIM reply lacks a cursor".into()),
        };
        for (id, job) in entries(parts.get(1).unwrap_or(&Value::Nil)) {
            ensure(
                done.insert(job),
                format!("reclaimed job {job} was already done"),
            )?;
            redis::cmd("XACK")
                .arg(&key)
                .arg("workers")
                .arg(&id)
                .query::<i64>(&mut worker)?;
            reclaimed += 1;
        }
        if next == "0-0" {
            break;
        }
        cursor = next;
    }
    ensure(
        reclaimed == CRASH_BATCH,
        format!("reclaimed {reclaimed} jobs, expected {CRASH_BATCH}"),
    )?;
    ensure(
        done.len() == JOBS,
        format!("{} of {JOBS} jobs acknowledged", done.len()),
    )?;
    let pending: Value = redis::cmd("XPENDING")
        .arg(&key)
        .arg("workers")
        .query(&mut admin)?;
    ensure(
        matches!(&pending, Value::Array(p) if matches!(p.first(), Some(Value::Int(0)))),
        format!("jobs still pending: {pending:?}"),
    )?;
    redis::cmd("DEL").arg(&key).query::<i64>(&mut admin)?;
    Ok(Outcome {
        acknowledged: done.len(),
        reclaimed,
    })
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("EMBER_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:6379".to_string());
    match run_scenario(&addr) {
        Ok(o) => println!("job queue: {o:?}"),
        Err(e) => {
            eprintln!("job queue failed: {e}");
            std::process::exit(1);
        }
    }
}
