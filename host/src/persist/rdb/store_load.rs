//! Loading a file into a [`Store`]: the keys go to their databases with their
//! expiry and idle time; function libraries and aux fields go to callbacks
//! (the caller owns the function registry and the replication state).

use super::reader::{load, FileInfo, Record};
use super::{RdbError, RdbOptions};
use crate::store::{LockPlan, Store};
use std::io::Read;

/// Keys stored per lock taken: loading holds a database's shards for a batch
/// at a time instead of locking once per key.
const BATCH: usize = 1024;

/// Batches parsed ahead of the inserting thread.
const AHEAD: usize = 4;

struct Pending {
    key: Vec<u8>,
    value: crate::store::Value,
    expire_at_ms: Option<i64>,
    idle_s: Option<u64>,
    freq: Option<u8>,
}

/// Stores a batch of keys of `db`; a key already present is an error.
fn flush(store: &Store, db: usize, now_ms: i64, batch: &mut Vec<Pending>) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut locked = store.lock(&LockPlan::Db(db), now_ms);
    for p in batch.drain(..) {
        if !locked.insert_new(db, &p.key, p.value, p.expire_at_ms, p.idle_s) {
            return Err(format!(
                "RDB has duplicated key '{}' in DB {db}",
                String::from_utf8_lossy(&p.key)
            ));
        }
        if let Some(f) = p.freq {
            locked.set_freq(db, &p.key, f);
        }
    }
    Ok(())
}

/// How to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub rdb: RdbOptions,
    /// Keep keys whose expiry has passed (an AOF preamble or a replica's
    /// copy: the log or the primary will delete them). A primary loading a
    /// snapshot drops them, as Redis does.
    pub keep_expired: bool,
    /// `key-load-delay`: microseconds to sleep after each key (a test aid
    /// that makes a load last long enough to watch it, as in Redis).
    pub key_delay_us: i64,
}

/// What a load did.
#[derive(Clone, Debug, Default)]
pub struct LoadStats {
    pub file: FileInfo,
    pub keys_loaded: u64,
    pub keys_expired: u64,
    pub functions: u64,
}

/// Loads `r` into `store` (whose databases should be empty: a key present
/// twice is an error, as in Redis). `now_ms` decides which keys have expired.
/// `function` receives each library's code; `aux` each aux field.
pub fn load_into_store<R: Read>(
    r: R,
    store: &Store,
    now_ms: i64,
    opts: &LoadOptions,
    mut function: impl FnMut(Vec<u8>) -> Result<(), String>,
    mut aux: impl FnMut(&[u8], &[u8]),
) -> Result<LoadStats, RdbError> {
    // Two stages on two threads: this one parses the file into batches of
    // keys, a second one stores them (decoding and inserting cost about
    // the same, so a load takes about the longer of the two).
    let failed: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let failed = &failed;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<Pending>)>(AHEAD);
        let inserter = std::thread::Builder::new()
            .name("ember-load".into())
            .spawn_scoped(scope, move || {
                for (db, mut batch) in rx {
                    if let Err(m) = flush(store, db, now_ms, &mut batch) {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
                        return;
                    }
                }
            });
        // No thread to be had: store on this one.
        let (tx, inline) = match inserter {
            Ok(h) => (Some(tx), Some(h)),
            Err(_) => (None, None),
        };
        let send = |db: usize, batch: &mut Vec<Pending>| -> Result<(), String> {
            let Some(tx) = &tx else {
                return flush(store, db, now_ms, batch);
            };
            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
            tx.send((db, full)).map_err(|_| {
                failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .unwrap_or_else(|| "the loading thread stopped".to_string())
            })
        };
        let r = parse_into(
            r,
            store.databases(),
            now_ms,
            opts,
            &mut function,
            &mut aux,
            send,
        );
        drop(tx);
        if let Some(h) = inline {
            let _ = h.join();
        }
        let (stats, end) = r?;
        // An error found storing the last batches is reported at the end of
        // the file (a duplicate key, for one).
        if let Some(m) = failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(RdbError::corrupt(end, m));
        }
        Ok(stats)
    })
}

/// The parsing stage: records to `send` in batches of one database's keys;
/// (stats, the file's length).
fn parse_into<R: Read>(
    r: R,
    databases: usize,
    now_ms: i64,
    opts: &LoadOptions,
    function: &mut impl FnMut(Vec<u8>) -> Result<(), String>,
    aux: &mut impl FnMut(&[u8], &[u8]),
    mut send: impl FnMut(usize, &mut Vec<Pending>) -> Result<(), String>,
) -> Result<(LoadStats, u64), RdbError> {
    let mut stats = LoadStats::default();
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut batch_db = 0usize;
    let file = load(r, &opts.rdb, |rec| {
        match rec {
            Record::SelectDb(db) => {
                if db >= databases as u64 {
                    return Err(format!(
                        "FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting"
                    ));
                }
            }
            Record::Entry {
                db,
                key,
                value,
                expire_at_ms,
                idle_s,
                freq,
                ..
            } => {
                let db = db as usize;
                if expire_at_ms.is_some_and(|at| at < now_ms) && !opts.keep_expired {
                    stats.keys_expired += 1;
                    return Ok(());
                }
                if db != batch_db || batch.len() >= BATCH {
                    if !batch.is_empty() {
                        send(batch_db, &mut batch)?;
                    }
                    batch_db = db;
                }
                batch.push(Pending {
                    key,
                    value,
                    expire_at_ms,
                    idle_s,
                    freq,
                });
                stats.keys_loaded += 1;
                if opts.key_delay_us > 0 {
                    std::thread::sleep(std::time::Duration::from_micros(opts.key_delay_us as u64));
                }
            }
            Record::Function(code) => {
                function(code)?;
                stats.functions += 1;
            }
            Record::Aux { key, value } => aux(&key, &value),
            Record::ResizeDb { .. } => {}
            Record::ModuleAux { name, .. } => {
                return Err(format!(
                    "The RDB file contains AUX module data I can't load: no matching module '{name}'"
                ));
            }
        }
        Ok(())
    })?;
    let end = file.bytes;
    if !batch.is_empty() {
        send(batch_db, &mut batch).map_err(|m| RdbError::corrupt(end, m))?;
    }
    stats.file = file;
    Ok((stats, end))
}
