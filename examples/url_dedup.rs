//! Bloom-filter URL dedup for a crawler: workers take URLs from a frontier list, "fetch" each
//! page (a synthetic site, no network), and hand the links they find to the `url_dedup` script
//! (examples/wasm/url_dedup), which adds them to a Bloom filter of the bundled `bf` module and
//! enqueues only the ones the filter had not seen, in one atomic step.
//!
//! Why a Bloom filter: remembering every URL exactly costs the URLs' bytes; the filter costs
//! about 1.2 bytes per URL at a 0.1% error rate, whatever the URLs' length. It never forgets a
//! URL it saw, so no page is crawled twice; its error is one-sided: a false positive makes the
//! crawler skip a page it never saw (at most about the configured rate).
//!
//! The redis-cli version of each step:
//! ```text
//! BF.RESERVE crawl:seen 0.001 100000                       # error rate, expected URLs
//! SCRIPT LOAD <the bytes of url_dedup.wasm>                # redis-cli -x SCRIPT LOAD < file
//! EVALSHA <sha> 2 crawl:seen crawl:frontier https://example.test/    # -> 1 (enqueued)
//! LPOP crawl:frontier                                      # a worker takes a URL
//! EVALSHA <sha> 2 crawl:seen crawl:frontier <links found on the page ...>
//! ```
//! Without a script: `BF.MADD crawl:seen url ...` answers 1 for each URL it had not seen; RPUSH
//! exactly those. (The script closes the gap where a worker dies between the two commands.)
//!
//! Run against an Ember server (the script and the `bf` module are Ember's):
//! `cargo run --example url_dedup -- 127.0.0.1:6379` (or set `EMBER_ADDR`). Bounded (2000 pages,
//! about a second), keys under a per-run prefix, asserts its own outcome, exits non-zero on
//! failure. `tests/examples.rs` runs the same [`run_scenario`].

use redis::Commands;
use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The script's body: the wasm file the build produced (host/build.rs builds every guest).
const SCRIPT: &[u8] = include_bytes!(concat!(env!("EMBER_GUESTS_DIR"), "/url_dedup.wasm"));

/// Pages of the synthetic site; all reachable from the home page.
const PAGES: usize = 2000;
const WORKERS: usize = 4;
const ERROR_RATE: f64 = 0.001;
/// The whole crawl must finish within this.
const DEADLINE: Duration = Duration::from_secs(30);

fn ensure(cond: bool, msg: impl Into<String>) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(msg.into().into())
    }
}

fn url(page: usize) -> String {
    if page == 0 {
        "https://example.test/".into()
    } else {
        format!("https://example.test/p/{page}")
    }
}

fn page_of(url: &str) -> Option<usize> {
    match url.strip_prefix("https://example.test/")? {
        "" => Some(0),
        rest => rest.strip_prefix("p/")?.parse().ok(),
    }
}

/// "Fetches" a page: the links on it. Every page links to its two children (so the whole site
/// is reachable), its parent, the home page, itself and two pseudo-random pages, so most links
/// point at pages already seen, as on a real site.
fn links(page: usize) -> Vec<String> {
    let mut out = vec![url(0), url(page), url(page / 2)];
    out.extend(
        [2 * page + 1, 2 * page + 2]
            .into_iter()
            .filter(|&c| c < PAGES)
            .map(url),
    );
    out.push(url((page * 7 + 3) % PAGES));
    out.push(url((page * 13 + 5) % PAGES));
    out
}

#[derive(Debug)]
pub struct Summary {
    pub pages: usize,
    /// Pages fetched (each exactly once).
    pub crawled: usize,
    /// Links found on fetched pages, and how many of them the script enqueued.
    pub links: usize,
    pub enqueued: usize,
    /// New pages the filter took for seen (false positives).
    pub skipped_new: usize,
}

pub fn run_scenario(addr: &str) -> Res<Summary> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let prefix = format!("crawl-example:{}:{nanos}:", std::process::id());
    let mut admin = client.get_connection()?;
    let outcome = scenario(&client, &prefix);
    let keys: Vec<String> = admin.scan_match(format!("{prefix}*"))?.collect();
    if !keys.is_empty() {
        let _: usize = admin.del(keys)?;
    }
    outcome
}

/// Runs the script: returns how many of `urls` it enqueued.
fn submit(
    con: &mut redis::Connection,
    sha: &str,
    keys: &(String, String),
    urls: &[String],
) -> Res<usize> {
    Ok(redis::cmd("EVALSHA")
        .arg(sha)
        .arg(2)
        .arg(&keys.0)
        .arg(&keys.1)
        .arg(urls)
        .query(con)?)
}

fn scenario(client: &redis::Client, prefix: &str) -> Res<Summary> {
    let keys = (format!("{prefix}seen"), format!("{prefix}frontier"));
    let mut con = client.get_connection()?;
    let _: () = redis::cmd("BF.RESERVE")
        .arg(&keys.0)
        .arg(ERROR_RATE)
        .arg(PAGES * 2)
        .query(&mut con)?;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query(&mut con)?;
    ensure(
        submit(&mut con, &sha, &keys, &[url(0)])? == 1,
        "seed enqueued",
    )?;
    ensure(
        submit(&mut con, &sha, &keys, &[url(0)])? == 0,
        "the seed again is a duplicate",
    )?;

    // How often each page was fetched, and the workers' running totals.
    let fetched: Arc<Mutex<HashMap<usize, usize>>> = Arc::default();
    let busy = Arc::new(AtomicUsize::new(0));
    let (links_total, enqueued_total) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(1)));
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (client, sha, keys) = (client.clone(), sha.clone(), keys.clone());
            let (fetched, busy) = (Arc::clone(&fetched), Arc::clone(&busy));
            let (links_total, enqueued_total) =
                (Arc::clone(&links_total), Arc::clone(&enqueued_total));
            std::thread::spawn(move || -> Res<()> {
                let mut con = client.get_connection()?;
                loop {
                    ensure(started.elapsed() < DEADLINE, "the crawl took too long")?;
                    // Counted as busy before the pop, so an idle worker that sees the frontier
                    // empty and nobody busy knows no one is about to push more.
                    busy.fetch_add(1, Ordering::SeqCst);
                    let next: Option<String> = con.lpop(&keys.1, None)?;
                    let Some(next) = next else {
                        busy.fetch_sub(1, Ordering::SeqCst);
                        let left: usize = con.llen(&keys.1)?;
                        if busy.load(Ordering::SeqCst) == 0 && left == 0 {
                            return Ok(());
                        }
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    let page = page_of(&next).ok_or(format!("not one of ours: {next}"))?;
                    *fetched.lock().unwrap().entry(page).or_default() += 1;
                    let found = links(page);
                    let n = submit(&mut con, &sha, &keys, &found)?;
                    links_total.fetch_add(found.len(), Ordering::SeqCst);
                    enqueued_total.fetch_add(n, Ordering::SeqCst);
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "a worker panicked")??;
    }

    let fetched = fetched.lock().unwrap();
    let twice: Vec<_> = fetched.iter().filter(|(_, &n)| n > 1).collect();
    ensure(twice.is_empty(), format!("pages fetched twice: {twice:?}"))?;
    let crawled = fetched.len();
    let enqueued = enqueued_total.load(Ordering::SeqCst);
    ensure(
        enqueued == crawled,
        format!("{enqueued} URLs enqueued but {crawled} pages fetched"),
    )?;
    // Every fetched page is in the filter (a Bloom filter has no false negatives).
    let sample: Vec<String> = fetched.keys().take(100).map(|&p| url(p)).collect();
    let present: Vec<i64> = redis::cmd("BF.MEXISTS")
        .arg(&keys.0)
        .arg(&sample)
        .query(&mut con)?;
    ensure(
        present.iter().all(|&p| p == 1),
        "a fetched URL is not in the filter",
    )?;
    // A false positive skips a page (and maybe pages only linked from it); allow 1% of the
    // site, ten times the filter's rate.
    let skipped_new = PAGES - crawled;
    ensure(
        skipped_new <= PAGES / 100,
        format!("{skipped_new} of {PAGES} pages were never crawled"),
    )?;
    Ok(Summary {
        pages: PAGES,
        crawled,
        links: links_total.load(Ordering::SeqCst),
        enqueued,
        skipped_new,
    })
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("EMBER_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:6379".into());
    match run_scenario(&addr) {
        Ok(s) => println!("url dedup scenario passed against {addr}: {s:?}"),
        Err(e) => {
            eprintln!("url dedup scenario FAILED against {addr}: {e}");
            std::process::exit(1);
        }
    }
}
