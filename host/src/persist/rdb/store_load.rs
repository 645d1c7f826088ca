//! Loading a file into a [`Store`]: the keys go to their databases with their
//! expiry and idle time; function libraries and aux fields go to callbacks
//! (the caller owns the function registry and the replication state).

use super::reader::{load, FileInfo, Record};
use super::{RdbError, RdbOptions};
use crate::store::{LockPlan, Store};
use smallvec::smallvec;
use std::io::Read;

/// How to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub rdb: RdbOptions,
    /// Keep keys whose expiry has passed (an AOF preamble or a replica's
    /// copy: the log or the primary will delete them). A primary loading a
    /// snapshot drops them, as Redis does.
    pub keep_expired: bool,
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
    let mut stats = LoadStats::default();
    let databases = store.databases();
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
                ..
            } => {
                let db = db as usize;
                if expire_at_ms.is_some_and(|at| at < now_ms) && !opts.keep_expired {
                    stats.keys_expired += 1;
                    return Ok(());
                }
                let plan = LockPlan::Shards(smallvec![store.slot(db, &key)]);
                let mut locked = store.lock(&plan, now_ms);
                if !locked.insert_new(db, &key, value, expire_at_ms, idle_s) {
                    return Err(format!(
                        "RDB has duplicated key '{}' in DB {db}",
                        String::from_utf8_lossy(&key)
                    ));
                }
                stats.keys_loaded += 1;
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
    stats.file = file;
    Ok(stats)
}
