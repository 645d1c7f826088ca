//! Loading `dbfilename` when the server starts: the keys into the store, the
//! function libraries into their registry. A file that exists but cannot be
//! read stops the start with an error naming the file and the byte offset:
//! starting empty would let the next save overwrite the user's data.

use super::rdb::RdbOptions;
use super::rdb::{load_into_store, LoadOptions};
use crate::server::Server;
use std::io::BufReader;

/// Loads `dbfilename` from the working directory if it exists.
pub fn load_at_startup(srv: &Server) -> anyhow::Result<()> {
    let filename = srv.config.read().dbfilename.clone();
    let file = match std::fs::File::open(&filename) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => anyhow::bail!("Fatal error loading the DB, can't open {filename}: {e}. Exiting."),
    };
    let started = std::time::Instant::now();
    srv.persist
        .loading
        .store(true, std::sync::atomic::Ordering::Release);
    let r = load_file(srv, file, &filename, false);
    srv.persist
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
    let loaded = r?;
    crate::log::notice(&format!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        loaded.keys, loaded.expired
    ));
    crate::log::notice(&format!(
        "DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    ));
    // The replication history the file carries goes on from here (a
    // restarted replica continues with a partial resync).
    if let Some(info) = &loaded.repl {
        let as_replica = srv.config.read().replicaof.is_some();
        srv.repl.restore(srv, info, as_replica);
    }
    Ok(())
}

/// What a load brought.
pub struct Loaded {
    pub keys: u64,
    pub expired: u64,
    /// The file's repl-id / repl-offset / repl-stream-db, if it has them.
    pub repl: Option<crate::repl::SaveInfo>,
}

/// Loads an RDB file into the (empty) keyspace.
/// `keep_expired`: a replica loading its primary's file keeps keys already
/// expired (the primary will send their DELs), as Redis's replicas do.
pub fn load_file(
    srv: &Server,
    file: std::fs::File,
    filename: &str,
    keep_expired: bool,
) -> anyhow::Result<Loaded> {
    load_reader(
        srv,
        BufReader::with_capacity(1 << 20, file),
        filename,
        keep_expired,
    )
}

/// [`load_file`] from any reader (a replica's socket); `name` names the
/// source in errors.
pub fn load_reader(
    srv: &Server,
    reader: impl std::io::Read,
    name: &str,
    keep_expired: bool,
) -> anyhow::Result<Loaded> {
    let key_delay_us = i64::from(srv.config.read().key_load_delay);
    let opts = LoadOptions {
        rdb: RdbOptions::from_config(&srv.config.read()),
        keep_expired,
        key_delay_us,
    };
    let now = crate::commands::unix_ms();
    let mut aux: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let stats = load_into_store(
        reader,
        &srv.store,
        now,
        &opts,
        |code| crate::commands::functions::load_from_rdb(srv, &code),
        |k, v| {
            if k.starts_with(b"repl-") {
                aux.push((k.to_vec(), v.to_vec()));
            }
        },
    )
    .map_err(|e| anyhow::anyhow!("Fatal error loading the DB ({name}): {e}. Exiting."))?;
    srv.persist
        .set_loaded(stats.keys_loaded, stats.keys_expired);
    Ok(Loaded {
        keys: stats.keys_loaded,
        expired: stats.keys_expired,
        repl: crate::repl::SaveInfo::from_aux(&aux),
    })
}
