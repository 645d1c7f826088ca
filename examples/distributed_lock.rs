//! A distributed lock: `SET lock <random token> NX PX <ttl>` takes it; only the holder of the
//! token may release or extend it, which takes an atomic check-and-write (a script: Lua, or
//! WebAssembly on Ember, examples/wasm/lock_owner). Every acquisition also draws a fencing token
//! from INCR, in the same MULTI, so the protected resource can refuse the writes of a holder that
//! paused past its TTL and lost the lock without knowing it.
//!
//! The redis-cli version of each step:
//! ```text
//! MULTI
//! SET lock:report 9f2c41d7 NX PX 30000      # nil inside EXEC's reply: someone else holds it
//! INCR lock:report:fence                    # the fencing token, increasing with every attempt
//! EXEC
//! EVALSHA <sha> 1 lock:report extend 9f2c41d7 30000   # 1 extended, 0 not the holder any more
//! EVALSHA <sha> 1 lock:report release 9f2c41d7        # 1 released, 0 not the holder any more
//! ```
//!
//! Run: `cargo run --example distributed_lock -- 127.0.0.1:6379` (or set `EMBER_ADDR`): runs
//! with the Lua script, and on Ember with the wasm script too. About a second per engine, every
//! wait bounded, keys under a per-run prefix; asserts its own outcome and exits non-zero on
//! failure. `tests/examples.rs` runs the same [`run_scenario`].

#[path = "support/mod.rs"]
mod support;

use rand::Rng;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use support::Engine;
use support::{ensure, Res, Script};

/// The owner-checked release/extend, in both languages (same keys, arguments and replies).
pub const LOCK_OWNER: Script = Script {
    lua: include_str!("wasm/lock_owner/lock_owner.lua"),
    wasm: include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/lock_owner.wasm")),
};

const WORKERS: usize = 8;
const INCREMENTS_EACH: usize = 25;
/// Give up acquiring after this long (the example never waits unboundedly).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A held lock: the token proves ownership, the fence orders holders.
#[derive(Debug, Clone)]
pub struct Guard {
    pub token: String,
    pub fence: i64,
}

pub struct Lock {
    con: redis::Connection,
    key: String,
    sha: String,
}

impl Lock {
    pub fn new(client: &redis::Client, key: &str, engine: Engine) -> Res<Lock> {
        let mut con = client.get_connection()?;
        let sha = LOCK_OWNER.load(&mut con, engine)?;
        Ok(Lock {
            con,
            key: key.to_string(),
            sha,
        })
    }

    /// One attempt: the lock and a fencing token, or None when someone else holds it.
    pub fn try_acquire(&mut self, ttl_ms: u64) -> Res<Option<Guard>> {
        let token = format!("{:032x}", rand::rng().random::<u128>());
        // In one transaction, so fences follow the order of acquisitions.
        let (ok, fence): (Option<String>, i64) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&self.key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .cmd("INCR")
            .arg(format!("{}:fence", self.key))
            .query(&mut self.con)?;
        Ok(ok.map(|_| Guard { token, fence }))
    }

    /// Retries with a small random backoff until acquired or ACQUIRE_TIMEOUT.
    pub fn acquire(&mut self, ttl_ms: u64) -> Res<Guard> {
        let deadline = Instant::now() + ACQUIRE_TIMEOUT;
        loop {
            if let Some(g) = self.try_acquire(ttl_ms)? {
                return Ok(g);
            }
            ensure(Instant::now() < deadline, "lock not acquired in time")?;
            std::thread::sleep(Duration::from_millis(rand::rng().random_range(1..5)));
        }
    }

    fn owner_op(&mut self, op: &str, g: &Guard, ms: Option<u64>) -> Res<bool> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha)
            .arg(1)
            .arg(&self.key)
            .arg(op)
            .arg(&g.token);
        if let Some(ms) = ms {
            cmd.arg(ms);
        }
        let r: i64 = cmd.query(&mut self.con)?;
        Ok(r == 1)
    }

    /// True when we still held the lock and released it.
    pub fn release(&mut self, g: &Guard) -> Res<bool> {
        self.owner_op("release", g, None)
    }

    /// True when we still held the lock and it now expires `ms` from now.
    pub fn extend(&mut self, g: &Guard, ms: u64) -> Res<bool> {
        self.owner_op("extend", g, Some(ms))
    }
}

/// The protected resource (say, a file store). It remembers the highest fence it has seen and
/// refuses writes carrying a lower one: the write of a holder whose lock expired while paused.
#[derive(Default)]
pub struct Storage {
    highest_fence: i64,
    pub writes: Vec<(i64, String)>,
}

impl Storage {
    pub fn write(&mut self, fence: i64, what: &str) -> bool {
        if fence < self.highest_fence {
            return false;
        }
        self.highest_fence = fence;
        self.writes.push((fence, what.to_string()));
        true
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub engine: Engine,
    /// The read-modify-write counter after WORKERS x INCREMENTS_EACH locked increments.
    pub counter: i64,
    /// Fences of the paused holder and of the one that took over.
    pub stale_fence: i64,
    pub new_fence: i64,
}

pub fn run_scenario(addr: &str, engine: Engine) -> Res<Outcome> {
    support::with_prefix(addr, "lock", |client, prefix| {
        scenario(client, prefix, engine)
    })
}

fn scenario(client: &redis::Client, prefix: &str, engine: Engine) -> Res<Outcome> {
    let key = format!("{prefix}report");
    let counter_key = format!("{prefix}counter");

    // 1. Mutual exclusion: 8 workers do GET + SET (a read-modify-write that loses updates when
    //    two interleave) 25 times each under the lock. No increment may be lost.
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let client = client.clone();
            let (key, counter_key) = (key.clone(), counter_key.clone());
            std::thread::spawn(move || -> Res<()> {
                let mut lock = Lock::new(&client, &key, engine)?;
                let mut con = client.get_connection()?;
                for _ in 0..INCREMENTS_EACH {
                    let g = lock.acquire(2000)?;
                    let n: Option<i64> = redis::cmd("GET").arg(&counter_key).query(&mut con)?;
                    redis::cmd("SET")
                        .arg(&counter_key)
                        .arg(n.unwrap_or(0) + 1)
                        .query::<()>(&mut con)?;
                    ensure(
                        lock.release(&g)?,
                        "lost the lock during a short critical section",
                    )?;
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "a worker panicked")??;
    }
    let mut con = client.get_connection()?;
    let counter: i64 = redis::cmd("GET").arg(&counter_key).query(&mut con)?;
    ensure(
        counter == (WORKERS * INCREMENTS_EACH) as i64,
        format!(
            "counter is {counter}, expected {}",
            WORKERS * INCREMENTS_EACH
        ),
    )?;

    // 2. Owner checks: a holder extends its lock past the original TTL; someone else's token
    //    can neither extend nor release it.
    let mut a = Lock::new(client, &key, engine)?;
    let mut b = Lock::new(client, &key, engine)?;
    let ga = a.acquire(500)?;
    ensure(b.try_acquire(500)?.is_none(), "two holders at once")?;
    let impostor = Guard {
        token: "not-the-token".into(),
        fence: 0,
    };
    ensure(
        !b.extend(&impostor, 10_000)?,
        "a stranger extended the lock",
    )?;
    ensure(!b.release(&impostor)?, "a stranger released the lock")?;
    ensure(a.extend(&ga, 5000)?, "the holder could not extend")?;
    // Past the original 500 ms, the lock is still a's.
    std::thread::sleep(Duration::from_millis(600));
    let (holder, pttl): (Option<String>, i64) =
        redis::pipe().get(&key).pttl(&key).query(&mut con)?;
    ensure(
        holder.as_deref() == Some(ga.token.as_str()) && pttl > 3000,
        format!("after extending to 5000 ms and 600 ms: {holder:?}, PTTL {pttl}"),
    )?;
    ensure(a.release(&ga)?, "the holder could not release")?;
    ensure(!a.release(&ga)?, "released twice")?;

    // 3. The holder pauses past its TTL (a GC pause, a swapped-out VM): the lock expires, b
    //    takes it with a higher fence and writes. When a wakes up its write is refused by the
    //    fence, and its release does not delete b's lock.
    let storage = Arc::new(Mutex::new(Storage::default()));
    let stale = a.acquire(150)?;
    std::thread::sleep(Duration::from_millis(250));
    let fresh = b.acquire(5000)?;
    ensure(fresh.fence > stale.fence, "fences do not increase")?;
    let mut st = storage.lock().map_err(|_| "storage poisoned")?;
    ensure(st.write(fresh.fence, "b's report"), "b's write refused")?;
    ensure(
        !st.write(stale.fence, "a's late report"),
        "a's stale write accepted",
    )?;
    ensure(!a.extend(&stale, 5000)?, "a extended b's lock")?;
    ensure(!a.release(&stale)?, "a released b's lock")?;
    let holder: Option<String> = redis::cmd("GET").arg(&key).query(&mut con)?;
    ensure(
        holder.as_deref() == Some(fresh.token.as_str()),
        "b's lock is gone after a's release",
    )?;
    ensure(b.release(&fresh)?, "b could not release")?;
    ensure(
        st.writes == [(fresh.fence, "b's report".to_string())],
        format!("storage writes {:?}", st.writes),
    )?;

    // 4. A bad operation is an error from either engine, and changes nothing.
    let err = redis::cmd("EVALSHA")
        .arg(&a.sha)
        .arg(1)
        .arg(&key)
        .arg("steal")
        .arg("x")
        .query::<i64>(&mut con);
    ensure(
        matches!(&err, Err(e) if e.to_string().contains("unknown operation")),
        format!("bad operation replied {err:?}"),
    )?;
    Ok(Outcome {
        engine,
        counter,
        stale_fence: stale.fence,
        new_fence: fresh.fence,
    })
}

fn main() {
    support::main("distributed lock", |addr| {
        let mut lines = Vec::new();
        for engine in support::engines_at(addr)? {
            lines.push(format!("{:?}", run_scenario(addr, engine)?));
        }
        Ok(lines.join("\n"))
    });
}
