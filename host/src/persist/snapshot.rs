//! Snapshots on disk and their lifecycle: writing an RDB file from the
//! keyspace (SAVE, BGSAVE, save points, SHUTDOWN/SIGTERM, FLUSHALL), the
//! bookkeeping INFO persistence reports, and `stop-writes-on-bgsave-error`.
//!
//! The point-in-time view comes from store/snapshot.rs (copy-on-write per
//! entry, no fork); the bytes from [`super::rdb`]. This module decides when,
//! where and with what safety: a temp file `temp-<pid>.rdb` in `dir`, fsynced,
//! renamed over `dbfilename`, and the directory fsynced, so a crash at any
//! moment leaves either the old file or the new one, never a torn one.
//!
//! [`write_rdb`] is the one serializer of a whole keyspace: BGSAVE/SAVE use it
//! here, the AOF rewrite uses it for its base file (`aof_base`) and a
//! replica's full sync can stream it to a socket: it takes any `Write`.

use super::rdb::{default_aux, EntryMeta, RdbOptions, RdbWriter};
use crate::server::Server;
use crate::store::{Entry, Locked, Snapshot, Store};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Redis's CONFIG_BGSAVE_RETRY_DELAY: after a failed BGSAVE, save points
/// wait this many seconds before trying again.
const BGSAVE_RETRY_DELAY: i64 = 5;

/// Entries per snapshot step: each step holds one shard lock, so this bounds
/// how long a writer of that shard can wait for the walker (~tens of µs).
pub(crate) const STEP_ENTRIES: usize = 128;

/// Redis's MISCONF reply to writes after a failed background save.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Where the entries of a snapshot come from.
pub enum Source<'a, 'l> {
    /// Every shard is held by the caller: an exact, blocking walk (SAVE).
    Locked(&'a mut Locked<'l>),
    /// A running point-in-time snapshot, stepped here; `delay_us` sleeps
    /// that long per key outside the locks (`rdb-key-save-delay`, for tests).
    Snapshot {
        store: &'a Store,
        snap: &'a mut Snapshot,
        delay_us: u64,
        abort: &'a AtomicBool,
    },
}

/// What goes into a file besides the keys.
pub struct Extras {
    pub opts: RdbOptions,
    pub aux: Vec<(String, Vec<u8>)>,
    /// Function libraries' code (FUNCTION2 records).
    pub functions: Vec<Vec<u8>>,
    /// Under an LRU maxmemory policy, idle times are written (as Redis does).
    pub write_idle: bool,
    /// Under an LFU policy, the LFU counters are written (FREQ opcodes),
    /// decayed with this `lfu-decay-time`.
    pub write_freq: Option<u32>,
    pub now_ms: i64,
    /// Leave out keys already expired at `now_ms` (an AOF base, as Redis's
    /// rewrite does; a BGSAVE keeps them, as rdbSave does).
    pub skip_expired: bool,
    /// `rdb-save-incremental-fsync`: fsync the file every 4 MB as it is written.
    pub incremental_fsync: bool,
}

impl Extras {
    /// The extras for a snapshot of `srv` now (`aof_base` for an AOF base file).
    pub fn of(srv: &Server, aof_base: bool) -> Extras {
        let cfg = srv.config.read();
        let opts = RdbOptions::from_config(&cfg);
        let write_idle = cfg.maxmemory_policy.contains("lru");
        let write_freq = cfg
            .maxmemory_policy
            .contains("lfu")
            .then_some(cfg.lfu_decay_time);
        let incremental_fsync = cfg.rdb_save_incremental_fsync;
        drop(cfg);
        // By name, so that equal data gives equal files.
        let functions = {
            let libs = srv.functions.read();
            let mut names: Vec<&String> = libs.libs.keys().collect();
            names.sort();
            names
                .into_iter()
                .filter_map(|n| libs.libs.get(n).map(|l| l.code.clone()))
                .collect()
        };
        Extras {
            opts,
            aux: default_aux(crate::alloc::used_memory() as u64, aof_base),
            functions,
            write_idle,
            write_freq,
            now_ms: crate::commands::unix_ms(),
            skip_expired: aof_base,
            incremental_fsync,
        }
    }
}

impl Extras {
    /// Adds the replication aux fields (`repl-stream-db`, `repl-id`,
    /// `repl-offset`) where Redis 7.0 writes them: before `aof-base`.
    pub fn add_repl(&mut self, info: Option<crate::repl::SaveInfo>) {
        let Some(info) = info else {
            return;
        };
        let at = self
            .aux
            .iter()
            .position(|(k, _)| k == "aof-base")
            .unwrap_or(self.aux.len());
        self.aux.splice(
            at..at,
            [
                (
                    "repl-stream-db".to_string(),
                    info.stream_db.to_string().into_bytes(),
                ),
                ("repl-id".to_string(), info.replid.into_bytes()),
                (
                    "repl-offset".to_string(),
                    info.offset.to_string().into_bytes(),
                ),
            ],
        );
    }
}

/// A `Write` that stages bytes in memory, so that the walker's visitor (which
/// runs under a shard lock) never waits for the disk or a socket.
#[derive(Clone, Default)]
struct Staging(Rc<RefCell<Vec<u8>>>);

impl Write for Staging {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a whole RDB file (header, functions, every key, EOF, checksum) to
/// `out`. Returns `out` and the number of keys written.
pub fn write_rdb<W: Write>(mut out: W, x: &Extras, src: Source) -> io::Result<(W, u64)> {
    let staging = Staging::default();
    let mut w = RdbWriter::new(staging.clone(), x.opts.clone());
    w.header(&x.aux)?;
    for code in &x.functions {
        w.function(code)?;
    }
    let now_s = (x.now_ms / 1000) as u32;
    let mut cur_db = usize::MAX;
    let mut keys = 0u64;
    let mut err: Option<io::Error> = None;
    let mut emit = |sizes: &[(u64, u64)], w: &mut RdbWriter<Staging>, db: usize, e: &Entry| {
        if err.is_some() || x.skip_expired && e.expire_at().is_some_and(|at| at <= x.now_ms) {
            return;
        }
        let mut r = Ok(());
        if db != cur_db {
            cur_db = db;
            let (k, x) = sizes.get(db).copied().unwrap_or_default();
            r = w.select_db(db, k, x);
        }
        let meta = EntryMeta {
            expire_at_ms: e.expire_at(),
            idle_s: x.write_idle.then(|| e.idle_seconds(now_s) as u64),
            freq: x
                .write_freq
                .map(|decay| crate::store::evict::lfu_decayed(e.lru(), x.now_ms, decay)),
        };
        if let Err(e) = r.and_then(|_| w.entry(e.key.as_slice(), &e.value, meta)) {
            err = Some(e);
        }
        keys += 1;
    };
    match src {
        Source::Locked(ks) => {
            let sizes = ks.db_sizes();
            let mut n = 0u32;
            let mut io_err = None;
            ks.walk(|db, e| {
                emit(&sizes, &mut w, db, e);
                n = n.wrapping_add(1);
                // Nobody waits on a lock we could release here, but the
                // staging buffer must not grow to the size of the file.
                if n.is_multiple_of(4096) && io_err.is_none() {
                    io_err = drain(&staging, &mut out).err();
                }
            });
            if let Some(e) = io_err {
                return Err(e);
            }
            drain(&staging, &mut out)?;
        }
        Source::Snapshot {
            store,
            snap,
            delay_us,
            abort,
        } => {
            let sizes = snap.db_sizes().to_vec();
            loop {
                let mut n = 0u64;
                let more = snap.step(store, STEP_ENTRIES, |db, e| {
                    emit(&sizes, &mut w, db, e);
                    n += 1;
                });
                drain(&staging, &mut out)?;
                if abort.load(Ordering::Relaxed) {
                    return Err(io::Error::other("the save was aborted"));
                }
                if delay_us > 0 && n > 0 {
                    std::thread::sleep(std::time::Duration::from_micros(delay_us * n));
                }
                if !more {
                    break;
                }
            }
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    w.finish()?;
    drain(&staging, &mut out)?;
    out.flush()?;
    Ok((out, keys))
}

fn drain<W: Write>(staging: &Staging, out: &mut W) -> io::Result<()> {
    let mut buf = staging.0.borrow_mut();
    if !buf.is_empty() {
        out.write_all(&buf)?;
        buf.clear();
    }
    Ok(())
}

/// The temp file a save of this process writes before the rename.
pub fn temp_name() -> String {
    format!("temp-{}.rdb", std::process::id())
}

/// Writes a snapshot to `dbfilename` in the working directory (main chdir()s
/// to `dir`, as Redis does) through a fsynced temp file and a rename.
pub fn save_to_file(filename: &str, x: &Extras, src: Source) -> io::Result<u64> {
    let tmp = temp_name();
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("Failed opening the temp RDB file {tmp} (in server root dir {}) for saving: {e}", cwd()),
            )
        })?;
        let file = super::autosync::AutoSync::new(file, x.incremental_fsync);
        let out = io::BufWriter::with_capacity(1 << 20, file);
        let (out, keys) = write_rdb(out, x, src)?;
        let file = out.into_inner().map_err(|e| e.into_error())?.into_inner();
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, filename).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("Error moving temp DB file {tmp} on the final destination {filename} (in server root dir {}): {e}", cwd()),
            )
        })?;
        // The rename itself must survive a power loss.
        std::fs::File::open(".")?.sync_all()?;
        Ok(keys)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn cwd() -> String {
    std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Snapshot lifecycle state, one per server (INFO persistence reads it).
#[derive(Default)]
pub struct Persistence {
    inner: Mutex<State>,
    /// Tells a running BGSAVE to stop and remove its temp file.
    abort: Arc<AtomicBool>,
    /// [`writes_refused`], cached for the dispatcher's per-command check.
    pub refuse_writes: AtomicBool,
    /// A load is running (at start, DEBUG RELOAD, DEBUG LOADAOF): INFO's
    /// `loading`, and commands without the `loading` flag get -LOADING.
    pub loading: AtomicBool,
    /// How far the running RDB load is (INFO's loading_* fields).
    pub progress: super::load::Progress,
}

#[derive(Default, Clone)]
pub struct State {
    /// Unix seconds of the last successful save (or of the start).
    pub last_save: i64,
    pub last_bgsave_ok: bool,
    /// Duration of the last BGSAVE, -1 before the first.
    pub last_bgsave_secs: i64,
    /// Start of the running BGSAVE.
    pub bgsave_started: Option<Instant>,
    /// Unix seconds of the last BGSAVE attempt (the retry delay after errors).
    pub last_bgsave_try: i64,
    pub saves: u64,
    /// The keyspace's change counter at the last successful save's start.
    pub changes_saved: u64,
    /// ... and at the running BGSAVE's start.
    changes_at_bgsave: u64,
    /// BGSAVE SCHEDULE (or BGSAVE inside EXEC) is waiting.
    pub scheduled: bool,
    /// Peak pre-image bytes of the last BGSAVE (rdb_last_cow_size).
    pub last_cow: usize,
    pub load_keys_loaded: u64,
    pub load_keys_expired: u64,
}

impl Persistence {
    pub fn new() -> Persistence {
        let p = Persistence::default();
        {
            let mut s = p.inner.lock();
            s.last_save = unix_s();
            s.last_bgsave_ok = true;
            s.last_bgsave_secs = -1;
        }
        p
    }

    /// A copy of the state (INFO).
    pub fn state(&self) -> State {
        self.inner.lock().clone()
    }

    /// rdb_saves counts SAVE too.
    pub fn count_save(&self) {
        self.inner.lock().saves += 1;
    }

    pub fn bgsave_running(&self) -> bool {
        self.inner.lock().bgsave_started.is_some()
    }

    pub fn set_loaded(&self, loaded: u64, expired: u64) {
        let mut s = self.inner.lock();
        s.load_keys_loaded = loaded;
        s.load_keys_expired = expired;
    }

    /// Asks a running BGSAVE to stop (FLUSHALL, SHUTDOWN); it removes its
    /// temp file and reports an error status, as a killed Redis child does.
    pub fn kill_bgsave(&self) {
        if self.bgsave_running() {
            self.abort.store(true, Ordering::Relaxed);
        }
    }
}

/// Unix seconds now.
pub fn unix_s() -> i64 {
    crate::commands::unix_ms() / 1000
}

/// The keyspace's total change counter (the shards' `stats.changes`).
/// Takes each shard lock in turn: the caller must hold none.
pub fn total_changes(store: &Store) -> u64 {
    let mut n = 0;
    for db in 0..store.databases() {
        for s in 0..crate::store::SHARDS {
            n += store.lock_shard(db, s).stats.changes;
        }
    }
    n
}

/// The same, from a view holding every shard.
fn total_changes_locked(ks: &mut Locked) -> u64 {
    let mut n = 0;
    for db in 0..ks.store().databases() {
        n += ks.shards_of(db).map(|s| s.stats.changes).sum::<u64>();
    }
    n
}

/// rdb_changes_since_last_save.
pub fn changes_since_save(srv: &Server) -> u64 {
    let saved = srv.persist.inner.lock().changes_saved;
    total_changes(&srv.store).saturating_sub(saved)
}

/// SAVE (and the saves of SHUTDOWN, FLUSHALL, DEBUG RELOAD): writes the
/// keyspace held in `ks` (every shard) to `dbfilename`, blocking.
pub fn save_locked(srv: &Server, ks: &mut Locked) -> io::Result<()> {
    let filename = srv.config.read().dbfilename.clone();
    let mut x = Extras::of(srv, false);
    // Every shard is held: the offset is the data's (on a replica, up to a
    // command applied and not yet fed on, unless the caller holds
    // repl.apply_gate as the shutdown save does).
    x.add_repl(srv.repl.save_info(srv));
    let changes = total_changes_locked(ks);
    match save_to_file(&filename, &x, Source::Locked(ks)) {
        Ok(_) => {
            crate::log::notice("DB saved on disk");
            let mut s = srv.persist.inner.lock();
            s.changes_saved = changes;
            s.last_save = unix_s();
            s.last_bgsave_ok = true;
            drop(s);
            refresh_misconf(srv);
            Ok(())
        }
        Err(e) => {
            crate::log::warning(&format!("Write error saving DB on disk: {e}"));
            Err(e)
        }
    }
}

/// Why a BGSAVE did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum BgsaveRefused {
    /// One is already running.
    InProgress,
    /// Another snapshot user (an AOF rewrite) holds the snapshot.
    OtherChild,
}

/// Starts a BGSAVE: the snapshot's point in time is now (every lock is taken
/// for that instant, so the caller must hold none), the walk and the file
/// writing run on a thread of their own.
pub fn start_bgsave(srv: &Server) -> Result<(), BgsaveRefused> {
    if srv.persist.bgsave_running() {
        return Err(BgsaveRefused::InProgress);
    }
    let Some(arc) = srv.arc() else {
        return Err(BgsaveRefused::OtherChild);
    };
    // The gate first (a replica's applied-and-fed offset), then every shard.
    let gate = srv.repl.apply_gate.lock();
    let mut ks = srv.store.lock(&crate::store::LockPlan::All, 0);
    let changes = total_changes_locked(&mut ks);
    let Some(snap) = ks.begin_snapshot() else {
        return Err(BgsaveRefused::OtherChild);
    };
    let repl = srv.repl.save_info(srv);
    drop(ks);
    drop(gate);
    // Functions and aux are taken at the same point in time as the keys.
    let mut x = Extras::of(srv, false);
    x.add_repl(repl);
    let (filename, delay_us) = {
        let cfg = srv.config.read();
        (cfg.dbfilename.clone(), cfg.rdb_key_save_delay.max(0) as u64)
    };
    {
        let mut s = srv.persist.inner.lock();
        s.bgsave_started = Some(Instant::now());
        s.changes_at_bgsave = changes;
        s.last_bgsave_try = unix_s();
        s.saves += 1;
        s.scheduled = false;
    }
    srv.persist.abort.store(false, Ordering::Relaxed);
    crate::log::notice("Background saving started");
    let spawned = std::thread::Builder::new()
        .name("ember-bgsave".into())
        .spawn(move || bgsave_thread(arc, snap, x, filename, delay_us));
    if let Err(e) = spawned {
        // The closure (and with it the snapshot) is gone: the shards drop
        // their pre-images lazily.
        crate::log::warning(&format!("Can't save in background: thread: {e}"));
        let mut s = srv.persist.inner.lock();
        s.bgsave_started = None;
        s.last_bgsave_ok = false;
    }
    Ok(())
}

fn bgsave_thread(srv: Arc<Server>, mut snap: Snapshot, x: Extras, filename: String, delay_us: u64) {
    let abort = srv.persist.abort.clone();
    let result = save_to_file(
        &filename,
        &x,
        Source::Snapshot {
            store: &srv.store,
            snap: &mut snap,
            delay_us,
            abort: &abort,
        },
    );
    let cow = srv.store.snap_stats().peak_bytes();
    snap.abort(&srv.store);
    let mut s = srv.persist.inner.lock();
    let took = s
        .bgsave_started
        .take()
        .map_or(0, |t| t.elapsed().as_secs() as i64);
    s.last_bgsave_secs = took;
    s.last_cow = cow;
    match result {
        Ok(_) => {
            crate::log::notice("Background saving terminated with success");
            s.changes_saved = s.changes_at_bgsave;
            s.last_save = unix_s();
            s.last_bgsave_ok = true;
        }
        // Stopped on purpose (FLUSHALL, SHUTDOWN): like a Redis child killed
        // with SIGUSR1, not an error, so no MISCONF.
        Err(_) if abort.load(Ordering::Relaxed) => {
            crate::log::warning("Background saving terminated by request");
        }
        Err(e) => {
            crate::log::warning(&format!("Background saving error: {e}"));
            s.last_bgsave_ok = false;
        }
    }
    drop(s);
    refresh_misconf(&srv);
}

/// Recomputes [`Persistence::refuse_writes`] (after a save ends, a CONFIG SET).
pub fn refresh_misconf(srv: &Server) {
    let refuse = writes_refused(srv);
    srv.persist.refuse_writes.store(refuse, Ordering::Relaxed);
}

/// Whether writes must be refused with [`MISCONF`]: the last BGSAVE failed,
/// save points are set and `stop-writes-on-bgsave-error` is on.
pub fn writes_refused(srv: &Server) -> bool {
    let cfg = srv.config.read();
    if !cfg.stop_writes_on_bgsave_error || cfg.save.is_empty() {
        return false;
    }
    drop(cfg);
    !srv.persist.inner.lock().last_bgsave_ok
}

/// BGSAVE SCHEDULE: run one as soon as nothing else snapshots.
pub fn schedule_bgsave(srv: &Server) {
    srv.persist.inner.lock().scheduled = true;
}

/// The cron part (serverCron): save points and scheduled BGSAVEs. Called
/// about every 100 ms from a thread that holds no lock.
pub fn cron(srv: &Server) {
    let points = srv.config.read().save.clone();
    let s = srv.persist.state();
    if s.bgsave_started.is_some() || srv.store.snap_stats().busy() {
        return;
    }
    let now = unix_s();
    let may_retry = s.last_bgsave_ok || now - s.last_bgsave_try > BGSAVE_RETRY_DELAY;
    if !may_retry {
        return;
    }
    if s.scheduled {
        let _ = start_bgsave(srv);
        return;
    }
    if points.is_empty() {
        return;
    }
    let changes = total_changes(&srv.store).saturating_sub(s.changes_saved);
    for (secs, min_changes) in points {
        if changes >= min_changes && now - s.last_save > secs as i64 {
            crate::log::notice(&format!(
                "{min_changes} changes in {secs} seconds. Saving..."
            ));
            let _ = start_bgsave(srv);
            return;
        }
    }
}

/// The save of a shutdown (SHUTDOWN, SIGTERM/SIGINT): stops a running BGSAVE
/// and, when `save` (or save points exist and not `nosave`), saves. Err when
/// the save failed (the caller decides whether FORCE overrides it).
pub fn shutdown_save(srv: &Server, save: bool, nosave: bool) -> io::Result<()> {
    if srv.persist.bgsave_running() {
        crate::log::warning("There is a child saving an .rdb. Killing it!");
        srv.persist.kill_bgsave();
        // The thread notices between steps; wait for it to clean up.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while srv.persist.bgsave_running() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = std::fs::remove_file(temp_name());
    }
    let points = !srv.config.read().save.is_empty();
    if (points && !nosave) || save {
        crate::log::notice("Saving the final RDB snapshot before exiting.");
        // The gate first: a restarted replica continues from the offset saved.
        let _gate = srv.repl.apply_gate.lock();
        let mut ks = srv.store.lock(&crate::store::LockPlan::All, 0);
        save_locked(srv, &mut ks)?;
    }
    Ok(())
}

/// FLUSHALL's save (Redis 7.0 saves right after emptying when save points
/// exist), with every shard held; the flush counts as one change after it.
pub fn flushall_save(srv: &Server, ks: &mut Locked) {
    srv.persist.kill_bgsave();
    if srv.config.read().save.is_empty() {
        return;
    }
    if save_locked(srv, ks).is_ok() {
        let mut s = srv.persist.inner.lock();
        s.changes_saved = s.changes_saved.saturating_sub(1);
    }
}

/// INFO persistence, every field Redis 7.0 prints, in its order.
/// `total_changes` is the keyspace's change counter (INFO sums it anyway).
/// The cow_* fields report the snapshot's pre-image bytes: our equivalent of
/// the pages a forked child shares copy-on-write.
pub fn info_section(srv: &Server, total_changes: u64) -> String {
    let s = srv.persist.state();
    let snap = srv.store.snap_stats();
    let running = s.bgsave_started.is_some();
    let (done, total) = if running { snap.progress() } else { (0, 0) };
    let (cow, peak) = if running {
        (snap.current_bytes(), snap.peak_bytes())
    } else {
        (0, 0)
    };
    let perc = if total > 0 {
        done as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let loading = srv.persist.loading.load(Ordering::Acquire) || srv.persist.progress.active();
    let mut out = format!(
        "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:{peak}\r\ncurrent_cow_size:{cow}\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:{perc:.2}\r\ncurrent_save_keys_processed:{done}\r\ncurrent_save_keys_total:{total}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
        u8::from(loading),
        total_changes.saturating_sub(s.changes_saved),
        running as u8,
        s.last_save,
        if s.last_bgsave_ok { "ok" } else { "err" },
        s.last_bgsave_secs,
        s.bgsave_started
            .map_or(-1, |t| t.elapsed().as_secs() as i64),
        s.saves,
        s.last_cow,
        s.load_keys_expired,
        s.load_keys_loaded,
    );
    // The aof_* lines are the AOF's (persist/aof); Redis prints the module
    // fork lines between its always-present fields and the sizes it shows
    // only while the AOF is on.
    srv.aof.info(&mut out);
    out.push_str("module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n");
    srv.aof.info_sizes(&mut out);
    if loading {
        srv.persist.progress.info(&mut out);
    }
    out
}
