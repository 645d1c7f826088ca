//! Cache-invalidation broadcast: readers keep a local in-process cache of keys and drop entries
//! when a writer announces a change on a pub/sub channel.
//!
//! - writers: `SET <key> <value>` then `PUBLISH <prefix>invalidate <key>` (or `*` to drop
//!   everything); PUBLISH's reply says how many readers heard it;
//! - readers: serve from the local cache; on a miss, `GET` and remember the value; a subscriber
//!   thread (`SUBSCRIBE <prefix>invalidate`) removes entries as invalidations arrive.
//!
//! The race every such cache must handle: an invalidation can arrive while a miss is being
//! filled (GET returned the old value, the invalidation is processed, then the old value is
//! cached forever). Each reader keeps a generation counter bumped on every invalidation and
//! only caches a fetched value if no invalidation arrived during the fetch.
//!
//! Run: `cargo run --example cache_invalidation -- 127.0.0.1:6379` (or set `EMBER_ADDR`).
//! Bounded (well under a second), keys under a per-run prefix, asserts its own outcome, exits
//! non-zero on failure. `tests/examples.rs` runs the same [`run_scenario`].

use redis::Commands;
use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// How long a reader may take to apply an invalidation.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(2);

fn ensure(cond: bool, msg: impl Into<String>) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(msg.into().into())
    }
}

/// The state a reader's request path and its subscriber thread share.
#[derive(Default)]
struct CacheState {
    entries: HashMap<String, String>,
    /// Bumped on every invalidation (see the module docs for why).
    generation: u64,
}

/// A reader process: a local cache kept coherent by invalidation messages.
struct Reader {
    name: String,
    con: redis::Connection,
    state: Arc<Mutex<CacheState>>,
    /// Invalidations applied so far, so the scenario can wait for propagation.
    applied: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    hits: u64,
    misses: u64,
}

impl Reader {
    fn start(client: &redis::Client, channel: &str, name: &str) -> Res<Reader> {
        let state = Arc::new(Mutex::new(CacheState::default()));
        let applied = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut sub_con = client.get_connection()?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = {
            let (state, applied, stop) = (state.clone(), applied.clone(), stop.clone());
            let channel = channel.to_string();
            std::thread::spawn(move || {
                let mut pubsub = sub_con.as_pubsub();
                let subscribed = pubsub
                    .subscribe(&channel)
                    .and_then(|()| pubsub.set_read_timeout(Some(Duration::from_millis(50))));
                let _ = ready_tx.send(subscribed.map_err(|e| e.to_string()));
                while !stop.load(Ordering::Acquire) {
                    match pubsub.get_message() {
                        Ok(msg) => {
                            let key: String = msg.get_payload().unwrap_or_default();
                            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                            st.generation += 1;
                            if key == "*" {
                                st.entries.clear();
                            } else {
                                st.entries.remove(&key);
                            }
                            drop(st);
                            applied.fetch_add(1, Ordering::Release);
                        }
                        Err(e) if e.is_timeout() => {}
                        Err(_) => break,
                    }
                }
            })
        };
        match ready_rx.recv_timeout(PROPAGATION_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("reader {name} could not subscribe: {e}").into()),
            Err(_) => return Err(format!("reader {name} did not subscribe in time").into()),
        }
        Ok(Reader {
            name: name.into(),
            con: client.get_connection()?,
            state,
            applied,
            stop,
            handle: Some(handle),
            hits: 0,
            misses: 0,
        })
    }

    /// Cached read: the local copy if there is one, else GET (cached only if no invalidation
    /// arrived while it was in flight).
    fn get(&mut self, key: &str) -> Res<Option<String>> {
        let generation = {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = st.entries.get(key) {
                self.hits += 1;
                return Ok(Some(v.clone()));
            }
            st.generation
        };
        self.misses += 1;
        let value: Option<String> = self.con.get(key)?;
        if let Some(v) = &value {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.generation == generation {
                st.entries.insert(key.to_string(), v.clone());
            }
        }
        Ok(value)
    }

    fn cached(&self, key: &str) -> Option<String> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.entries.get(key).cloned()
    }

    fn cached_len(&self) -> usize {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.entries.len()
    }

    /// Waits until this reader has applied `n` invalidations in total.
    fn wait_applied(&self, n: u64) -> Res<()> {
        let deadline = Instant::now() + PROPAGATION_TIMEOUT;
        while self.applied.load(Ordering::Acquire) < n {
            if Instant::now() >= deadline {
                return Err(format!(
                    "reader {} applied {} of {n} invalidations",
                    self.name,
                    self.applied.load(Ordering::Acquire)
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A writer: update the source of truth, then broadcast the invalidation.
struct Writer {
    con: redis::Connection,
    channel: String,
}

impl Writer {
    /// Returns how many readers were told.
    fn set(&mut self, key: &str, value: &str) -> Res<usize> {
        let _: () = self.con.set(key, value)?;
        Ok(self.con.publish(&self.channel, key)?)
    }

    /// Many updates in one round trip: SET and PUBLISH pairs in a pipeline.
    fn set_many(&mut self, pairs: &[(String, String)]) -> Res<()> {
        let mut pipe = redis::pipe();
        for (k, v) in pairs {
            pipe.set(k, v).ignore().publish(&self.channel, k).ignore();
        }
        let _: () = pipe.query(&mut self.con)?;
        Ok(())
    }

    fn invalidate_all(&mut self) -> Res<usize> {
        Ok(self.con.publish(&self.channel, "*")?)
    }
}

/// What the scenario observed, for printing.
#[derive(Debug, Default)]
pub struct Summary {
    pub invalidations: u64,
    pub hits: u64,
    pub misses: u64,
}

pub fn run_scenario(addr: &str) -> Res<Summary> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let prefix = format!("cache-example:{}:{nanos}:", std::process::id());
    let mut admin = client.get_connection()?;
    let outcome = scenario(&client, &prefix);
    let keys: Vec<String> = admin.scan_match(format!("{prefix}*"))?.collect();
    if !keys.is_empty() {
        let _: usize = admin.del(keys)?;
    }
    outcome
}

fn scenario(client: &redis::Client, prefix: &str) -> Res<Summary> {
    let channel = format!("{prefix}invalidate");
    let key = |i: usize| format!("{prefix}price:{i}");
    let mut writer = Writer {
        con: client.get_connection()?,
        channel: channel.clone(),
    };
    for i in 0..20 {
        let _ = writer.set(&key(i), &format!("{}", 100 + i))?;
    }
    let mut readers = vec![
        Reader::start(client, &channel, "r1")?,
        Reader::start(client, &channel, "r2")?,
    ];
    let mut sent: u64 = 0;

    // Warm both caches: first pass misses, second pass hits.
    for r in readers.iter_mut() {
        for _ in 0..2 {
            for i in 0..20 {
                let v = r.get(&key(i))?;
                ensure(
                    v == Some(format!("{}", 100 + i)),
                    format!("{}: {v:?}", r.name),
                )?;
            }
        }
        ensure(
            r.misses == 20 && r.hits == 20,
            format!("{}: {} misses {} hits", r.name, r.misses, r.hits),
        )?;
    }

    // One update: both readers are told, drop the entry, and the next read sees the new value.
    let told = writer.set(&key(3), "99")?;
    sent += 1;
    ensure(
        told == readers.len(),
        format!("PUBLISH reached {told} readers"),
    )?;
    for r in readers.iter_mut() {
        r.wait_applied(sent)?;
        ensure(
            r.cached(&key(3)).is_none(),
            format!("{} still caches price:3", r.name),
        )?;
        ensure(
            r.cached(&key(4)).is_some(),
            format!("{} dropped an unrelated entry", r.name),
        )?;
        let v = r.get(&key(3))?;
        ensure(v.as_deref() == Some("99"), format!("{} read {v:?}", r.name))?;
    }

    // A burst of 200 updates in one pipeline: after the last invalidation is applied, every
    // value a reader serves equals the server's.
    let burst: Vec<(String, String)> = (0..200).map(|n| (key(n % 20), format!("v{n}"))).collect();
    writer.set_many(&burst)?;
    sent += burst.len() as u64;
    for r in readers.iter_mut() {
        r.wait_applied(sent)?;
        for i in 0..20 {
            let want = format!("v{}", 180 + i);
            let v = r.get(&key(i))?;
            ensure(
                v.as_deref() == Some(want.as_str()),
                format!("{} served {v:?} for price:{i}, server has {want}", r.name),
            )?;
        }
    }

    // Drop everything at once (e.g. after a bulk import).
    let told = writer.invalidate_all()?;
    sent += 1;
    ensure(told == readers.len(), format!("`*` reached {told} readers"))?;
    for r in readers.iter() {
        r.wait_applied(sent)?;
        ensure(
            r.cached_len() == 0,
            format!("{} kept {} entries", r.name, r.cached_len()),
        )?;
    }

    // A reader that has gone away no longer counts as a receiver.
    let gone = readers.pop();
    drop(gone);
    let deadline = Instant::now() + PROPAGATION_TIMEOUT;
    let mut told = usize::MAX;
    while Instant::now() < deadline {
        told = writer.set(&key(0), "final")?;
        sent += 1;
        if told == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ensure(
        told == 1,
        format!("after one reader left PUBLISH reached {told}"),
    )?;

    Ok(Summary {
        invalidations: sent,
        hits: readers.iter().map(|r| r.hits).sum(),
        misses: readers.iter().map(|r| r.misses).sum(),
    })
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("EMBER_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:6379".into());
    match run_scenario(&addr) {
        Ok(s) => println!("cache invalidation scenario passed against {addr}: {s:?}"),
        Err(e) => {
            eprintln!("cache invalidation scenario FAILED against {addr}: {e}");
            std::process::exit(1);
        }
    }
}
