//! The append-only file, Redis 7.0's multi-part layout: `appenddirname`
//! holds a manifest, one base file and incremental files (manifest.rs). The
//! AOF is the first listener of the write-effects stream (effects/): each
//! unit is rendered in Redis's wire form into a buffer, and the buffer goes
//! to the current incremental file before the replies of the clients that
//! wrote are sent ([`Aof::barrier`]), so a process crash loses nothing that
//! was acknowledged. `appendfsync always` also fsyncs there, once for every
//! batch of writes that arrive together (group commit); `everysec` fsyncs
//! from a background thread each second; `no` leaves it to the OS.
//!
//! Rewrite (BGREWRITEAOF, the automatic one, turning the AOF on) needs no
//! fork: holding every shard lock for an instant, it begins a point-in-time
//! snapshot (store/snapshot.rs) and opens a new incremental file, so the
//! snapshot is exactly the state before that file. Then, unlocked, a thread
//! walks the snapshot into a temp base file (rewrite.rs, or the RDB writer),
//! fsyncs and renames it, and swaps the manifest atomically (temp file +
//! rename). Until that rename the old manifest, which already names the new
//! incremental file, stays valid, so a crash at any moment leaves loadable
//! files. One snapshot runs at a time: a rewrite asked for during a BGSAVE
//! is scheduled and starts when it ends (and a BGSAVE waits for a rewrite).
//! Loading is loader.rs.

pub mod loader;
pub mod manifest;
pub mod rewrite;

use crate::effects::{Listener, Unit, Wire, TO_AOF};
use crate::persist::snapshot::{write_rdb, Extras, Source};
use crate::server::Server;
use crate::store::{LockPlan, Snapshot};
use manifest::{Kind, Manifest};
use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// `appendfsync`.
const FSYNC_NO: u8 = 0;
const FSYNC_ALWAYS: u8 = 1;
const FSYNC_EVERYSEC: u8 = 2;

/// The AOF of a server: state shared by the stream listener, the clients'
/// barrier, the fsync thread and rewrites.
#[derive(Default)]
pub struct Aof {
    /// Rendered effects not yet handed to the file.
    buf: Mutex<Buffer>,
    /// The open incremental file and what failed to reach it.
    out: Mutex<Output>,
    /// The directory, the manifest and the rewrite bookkeeping.
    files: Mutex<Files>,
    /// Bytes rendered / written / fsynced since start (stream offsets).
    appended: AtomicU64,
    written: AtomicU64,
    synced: AtomicU64,
    policy: AtomicU8,
    /// `no-appendfsync-on-rewrite`: no fsync while a rewrite or a BGSAVE
    /// writes its file (Redis: while a child process is active).
    no_fsync_on_rewrite: AtomicBool,
    /// A BGSAVE or rewrite snapshot is running (mirrored by the cron tick).
    snapshot_busy: AtomicBool,
    /// AOF on (Redis's aof_state != AOF_OFF): the listener is attached.
    on: AtomicBool,
    /// errno of the last failed write, 0 when the last write succeeded.
    write_errno: AtomicI32,
    rewriting: AtomicBool,
    /// BGREWRITEAOF asked for while another ran.
    scheduled: AtomicBool,
    /// Set once [`start`] ran: CONFIG changes apply only after the load.
    booted: AtomicBool,
    /// A client waits for an fsync (`always`): wakes the syncer thread.
    sync_wanted: (Mutex<bool>, parking_lot::Condvar),
    /// The synced offset, for clients awaiting their fsync.
    synced_tx: tokio::sync::watch::Sender<u64>,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Buffer {
    wire: Wire,
    bytes: Vec<u8>,
    timestamps: bool,
    last_ts: i64,
}

#[derive(Default)]
struct Output {
    file: Option<File>,
    /// A second handle on the file for the fsync thread (no lock held while it syncs).
    sync: Option<Arc<File>>,
    /// Bytes taken from the buffer that a failed write left behind.
    pending: Vec<u8>,
    /// Stream offset at the end of `pending`.
    pending_end: u64,
    /// Size of the incremental file.
    size: u64,
}

#[derive(Default)]
struct Files {
    dir: PathBuf,
    prefix: String,
    manifest: Manifest,
    /// Size of the base plus the incremental files before the current one.
    settled_size: u64,
    /// aof_base_size: the AOF's size after the last rewrite (auto-rewrite growth).
    base_size: u64,
}

#[derive(Default)]
struct Stats {
    last_rewrite_secs: i64,
    rewrite_started: Option<std::time::Instant>,
    last_status_ok: bool,
    rewrites: u64,
    consecutive_failures: u64,
    delayed_fsync: u64,
}

impl Listener for Aof {
    fn feed(&self, unit: &Unit<'_>) {
        // A script's commands that `redis.set_repl` kept from the AOF.
        if unit.commands_to(TO_AOF).next().is_none() {
            return;
        }
        let mut b = self.buf.lock();
        let before = b.bytes.len();
        if b.timestamps {
            // Redis's #TS annotation, once per second that has writes.
            let now = crate::commands::unix_ms() / 1000;
            if now != b.last_ts {
                b.last_ts = now;
                b.bytes
                    .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            }
        }
        let Buffer { wire, bytes, .. } = &mut *b;
        wire.render_to(unit, TO_AOF, bytes);
        let n = (b.bytes.len() - before) as u64;
        self.appended.fetch_add(n, Ordering::Release);
    }
}

/// The configuration the AOF reads.
struct Settings {
    on: bool,
    dir: PathBuf,
    prefix: String,
    policy: u8,
    load_truncated: bool,
    timestamps: bool,
    use_rdb_preamble: bool,
    no_fsync_on_rewrite: bool,
    auto_percentage: u64,
    auto_min_size: u64,
}

fn settings(srv: &Server) -> Settings {
    let cfg = srv.config.read();
    let policy = match cfg.appendfsync.name() {
        "always" => FSYNC_ALWAYS,
        "no" => FSYNC_NO,
        _ => FSYNC_EVERYSEC,
    };
    Settings {
        on: cfg.appendonly,
        dir: PathBuf::from(&cfg.appenddirname),
        prefix: cfg.appendfilename.clone(),
        policy,
        load_truncated: cfg.aof_load_truncated,
        timestamps: cfg.aof_timestamp_enabled,
        use_rdb_preamble: cfg.aof_use_rdb_preamble,
        no_fsync_on_rewrite: cfg.no_appendfsync_on_rewrite,
        auto_percentage: u64::from(cfg.auto_aof_rewrite_percentage),
        auto_min_size: cfg.auto_aof_rewrite_min_size,
    }
}

/// `strerror` text of an errno (what Redis puts in its messages).
fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl Aof {
    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// The MISCONF error writers get while the AOF cannot be written
    /// (Redis's writeCommandsDeniedByDiskError), if any.
    pub fn write_denied(&self) -> Option<String> {
        let errno = self.write_errno.load(Ordering::Acquire);
        if errno == 0 || !self.enabled() {
            return None;
        }
        Some(format!(
            "MISCONF Errors writing to the AOF file: {}",
            strerror(errno)
        ))
    }

    /// Called before a client's replies are sent: the effects committed so
    /// far reach the file (write(2), so a process crash loses nothing
    /// acknowledged). With `appendfsync always` the replies must also wait
    /// for the disk: then the stream offset to wait for is returned, for
    /// [`Aof::wait_synced`].
    pub fn barrier(&self) -> Option<u64> {
        let target = self.appended.load(Ordering::Acquire);
        if self.written.load(Ordering::Acquire) < target {
            let mut out = self.out.lock();
            // Another client's write may have covered ours meanwhile.
            if self.written.load(Ordering::Acquire) < target {
                self.write_locked(&mut out);
            }
        }
        let always = self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS;
        (always && self.synced.load(Ordering::Acquire) < target).then_some(target)
    }

    /// Waits until the stream is fsynced up to `target`. The syncer thread
    /// fsyncs back to back while anyone waits, so every client that wrote
    /// during one fsync shares the next one (group commit): the waiting
    /// clients' tokio workers serve other clients meanwhile.
    pub async fn wait_synced(&self, target: u64) {
        let mut rx = self.synced_tx.subscribe();
        loop {
            if self.synced.load(Ordering::Acquire) >= target || !self.enabled() {
                return;
            }
            self.request_sync();
            // A closed channel cannot happen (the Aof owns the sender);
            // re-check the offset either way.
            let _ = rx.changed().await;
        }
    }

    /// Whether fsyncs are skipped now (`no-appendfsync-on-rewrite` while a
    /// rewrite or BGSAVE runs): what was written counts as synced, as Redis
    /// replies without waiting then.
    fn fsync_suspended(&self) -> bool {
        self.no_fsync_on_rewrite.load(Ordering::Relaxed)
            && (self.rewriting.load(Ordering::Acquire)
                || self.snapshot_busy.load(Ordering::Acquire))
    }

    fn request_sync(&self) {
        let (lock, cv) = &self.sync_wanted;
        let mut wanted = lock.lock();
        if !*wanted {
            *wanted = true;
            cv.notify_one();
        }
    }

    /// The syncer thread: fsyncs what was written whenever a client waits
    /// (`always`), then publishes the new synced offset.
    fn syncer(&self) {
        loop {
            {
                let (lock, cv) = &self.sync_wanted;
                let mut wanted = lock.lock();
                while !*wanted {
                    cv.wait(&mut wanted);
                }
                *wanted = false;
            }
            // Whatever is buffered now goes too: more clients per fsync.
            let file = {
                let mut out = self.out.lock();
                self.write_locked(&mut out);
                out.sync.clone()
            };
            let end = self.written.load(Ordering::Acquire);
            if let Some(f) = file.filter(|_| !self.fsync_suspended()) {
                if let Err(e) = f.sync_data() {
                    if self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS {
                        self.fatal_always(&e);
                    }
                }
            }
            self.synced.fetch_max(end, Ordering::Release);
            self.synced_tx.send_replace(end);
        }
    }

    /// Moves the buffer into the file. On failure the bytes stay pending
    /// (retried by the next barrier or the cron) and writers are refused.
    fn write_locked(&self, out: &mut Output) {
        {
            let mut b = self.buf.lock();
            if !b.bytes.is_empty() {
                out.pending.extend_from_slice(&b.bytes);
                b.bytes.clear();
            }
            // Read under the buffer lock: every byte up to here is in `pending`.
            out.pending_end = self.appended.load(Ordering::Acquire);
        }
        if out.pending.is_empty() {
            self.written.fetch_max(out.pending_end, Ordering::Release);
            return;
        }
        let Some(file) = out.file.as_mut() else {
            // AOF off: nothing to write to (the listener is detached).
            out.pending.clear();
            return;
        };
        match file.write_all(&out.pending) {
            Ok(()) => {
                out.size += out.pending.len() as u64;
                out.pending.clear();
                self.written.fetch_max(out.pending_end, Ordering::Release);
                if self.write_errno.swap(0, Ordering::AcqRel) != 0 {
                    crate::log::warning("AOF write error looks solved, Redis can write again.");
                }
            }
            Err(e) => {
                // A short write would leave half a command: cut it off again.
                let _ = file.set_len(out.size);
                let _ = std::io::Seek::seek(file, std::io::SeekFrom::Start(out.size));
                if self.policy.load(Ordering::Relaxed) == FSYNC_ALWAYS {
                    self.fatal_always(&e);
                }
                let errno = errno_of(&e);
                if self.write_errno.swap(errno, Ordering::AcqRel) == 0 {
                    crate::log::warning(&format!(
                        "Error writing to the AOF file: {}",
                        strerror(errno)
                    ));
                }
            }
        }
    }

    /// With `appendfsync always` a write that cannot reach the disk cannot
    /// be taken back from the replies already computed: exit, as Redis does.
    fn fatal_always(&self, e: &std::io::Error) -> ! {
        crate::log::warning(&format!(
            "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting... ({})",
            strerror(errno_of(e))
        ));
        std::process::exit(1);
    }

    /// The fsync thread's tick: write what is buffered (retrying after an
    /// error), fsync once a second with `everysec`, check the auto rewrite.
    fn tick(&self, srv: &Server, last_sync: &mut std::time::Instant) {
        // A scheduled rewrite may be the one turning the AOF on.
        self.maybe_scheduled_rewrite(srv);
        if !self.enabled() {
            return;
        }
        let sync = {
            let mut out = self.out.lock();
            self.write_locked(&mut out);
            out.sync.clone()
        };
        let policy = self.policy.load(Ordering::Relaxed);
        self.snapshot_busy
            .store(srv.store.snap_stats().busy(), Ordering::Release);
        if policy == FSYNC_EVERYSEC
            && last_sync.elapsed() >= std::time::Duration::from_secs(1)
            && !self.fsync_suspended()
        {
            *last_sync = std::time::Instant::now();
            let end = self.written.load(Ordering::Acquire);
            if end > self.synced.load(Ordering::Acquire) {
                if let Some(f) = sync {
                    match f.sync_data() {
                        Ok(()) => {
                            self.synced.fetch_max(end, Ordering::Release);
                        }
                        Err(e) => crate::log::warning(&format!(
                            "Error syncing the AOF file: {}",
                            strerror(errno_of(&e))
                        )),
                    }
                }
            }
        }
        self.maybe_auto_rewrite(srv);
    }

    /// Starts a scheduled rewrite once no snapshot (BGSAVE) runs.
    fn maybe_scheduled_rewrite(&self, srv: &Server) {
        if self.rewriting.load(Ordering::Acquire) || srv.store.snap_stats().busy() {
            return;
        }
        if self.scheduled.swap(false, Ordering::AcqRel) {
            if let Err(e) = start_rewrite(srv) {
                crate::log::warning(&format!("Can't start the scheduled AOF rewrite: {e}"));
            }
        }
    }

    fn maybe_auto_rewrite(&self, srv: &Server) {
        if self.rewriting.load(Ordering::Acquire)
            || self.scheduled.load(Ordering::Acquire)
            || srv.store.snap_stats().busy()
        {
            return;
        }
        let s = settings(srv);
        if s.auto_percentage == 0 {
            return;
        }
        let (current, base) = {
            let f = self.files.lock();
            (f.settled_size + self.out.lock().size, f.base_size)
        };
        if current <= s.auto_min_size {
            return;
        }
        let base = base.max(1);
        let growth = (current.saturating_sub(base)) * 100 / base;
        if growth >= s.auto_percentage {
            crate::log::notice(&format!(
                "Starting automatic rewriting of AOF on {growth}% growth"
            ));
            let _ = start_rewrite(srv);
        }
    }

    /// INFO persistence's aof_* fields (Redis 7.0 order and names).
    pub fn info(&self, out: &mut String) {
        let st = self.stats.lock();
        let on = self.enabled();
        let current_rewrite = st
            .rewrite_started
            .filter(|_| self.rewriting.load(Ordering::Acquire))
            .map_or(-1, |t| t.elapsed().as_secs() as i64);
        let errno = self.write_errno.load(Ordering::Acquire);
        out.push_str(&format!(
            "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\n\
             aof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\n\
             aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\n\
             aof_last_write_status:{}\r\naof_last_cow_size:0\r\n",
            u8::from(on),
            u8::from(self.rewriting.load(Ordering::Acquire)),
            u8::from(self.scheduled.load(Ordering::Acquire)),
            st.last_rewrite_secs,
            current_rewrite,
            if st.last_status_ok || st.rewrites == 0 { "ok" } else { "err" },
            st.rewrites,
            st.consecutive_failures,
            if errno == 0 { "ok" } else { "err" },
        ));
    }

    /// The aof_* size lines INFO persistence prints only while the AOF is on.
    pub fn info_sizes(&self, out: &mut String) {
        let st = self.stats.lock();
        if self.enabled() {
            let (current, base) = {
                let f = self.files.lock();
                (f.settled_size + self.out.lock().size, f.base_size)
            };
            let buffered = self.buf.lock().bytes.len();
            out.push_str(&format!(
                "aof_current_size:{current}\r\naof_base_size:{base}\r\naof_pending_rewrite:{}\r\n\
                 aof_buffer_length:{buffered}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:{}\r\n",
                u8::from(self.scheduled.load(Ordering::Acquire)),
                st.delayed_fsync,
            ));
        }
    }
}

/// Writes `data` to `dir/name` through a temp file, fsynced and renamed, then
/// fsyncs the directory: the file is either wholly there or not at all.
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    fsync_dir(dir)
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn persist_manifest(files: &Files) -> std::io::Result<()> {
    let name = manifest::manifest_name(&files.prefix);
    write_atomically(&files.dir, &name, files.manifest.render().as_bytes())
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Points the output at the new incremental file `name` (creating it),
/// after writing everything buffered so far to the old one. The caller holds
/// every shard lock, so no unit is in flight.
fn switch_incr(aof: &Aof, dir: &Path, name: &str) -> std::io::Result<()> {
    let file = open_append(&dir.join(name))?;
    let sync = Arc::new(file.try_clone()?);
    let mut out = aof.out.lock();
    aof.write_locked(&mut out);
    if let Some(old) = out.file.take() {
        let _ = old.sync_data();
    }
    out.file = Some(file);
    out.sync = Some(sync);
    out.size = 0;
    // The new file starts with a SELECT.
    aof.buf.lock().wire.reset();
    Ok(())
}

/// Loads the AOF at start when `appendonly yes`, and opens it for appending.
/// Returns whether the AOF is on (then the RDB is not loaded, as in Redis).
pub fn start(srv: &Arc<Server>) -> Result<bool, String> {
    let s = settings(srv);
    let aof = &srv.aof;
    aof.policy.store(s.policy, Ordering::Relaxed);
    aof.no_fsync_on_rewrite
        .store(s.no_fsync_on_rewrite, Ordering::Relaxed);
    aof.buf.lock().timestamps = s.timestamps;
    spawn_cron(srv.clone());
    srv.aof.booted.store(true, Ordering::Release);
    if !s.on {
        return Ok(false);
    }
    let dir = s.dir.clone();
    let manifest_path = dir.join(manifest::manifest_name(&s.prefix));
    let old_single = PathBuf::from(&s.prefix);
    let mut m = if manifest_path.exists() {
        let text = std::fs::read(&manifest_path).map_err(|e| {
            format!(
                "Can't read the AOF manifest {}: {e}",
                manifest_path.display()
            )
        })?;
        Manifest::parse(&text).map_err(|e| format!("{e} in {}", manifest_path.display()))?
    } else if old_single.is_file() {
        // A Redis 6 single-file appendonly.aof: it becomes the base of the
        // multi-part AOF (Redis 7.0's aofUpgradePrepare).
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("Can't create the AOF directory {}: {e}", dir.display()))?;
        std::fs::rename(&old_single, dir.join(&s.prefix))
            .map_err(|e| format!("Can't move {} into {}: {e}", s.prefix, dir.display()))?;
        let m = Manifest {
            base: Some(manifest::Entry {
                name: s.prefix.clone(),
                seq: 1,
                kind: Kind::Base,
            }),
            base_seq: 1,
            ..Manifest::default()
        };
        crate::log::notice("Successfully migrated an old-style AOF into the AOF directory");
        m
    } else {
        Manifest::default()
    };
    let fresh = m.base.is_none() && m.incrs.is_empty();
    // Clients wait (-LOADING) until this function returns, first base and
    // incremental file included: the server clears the flag (server/mod.rs).
    srv.persist.loading.store(true, Ordering::Release);
    let settled = load_files(srv, &dir, &m, s.load_truncated)?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("Can't create the AOF directory {}: {e}", dir.display()))?;
    {
        let mut f = aof.files.lock();
        f.dir = dir.clone();
        f.prefix = s.prefix.clone();
        f.base_size = settled;
    }
    aof.on.store(true, Ordering::Release);
    if fresh {
        // Nothing on disk: write a base of what we hold now (empty) and the
        // first incremental file, as Redis does on a fresh start.
        aof.files.lock().manifest = m;
        srv.store.effects.attach(srv.aof.clone());
        return rewrite_now(srv, true).map(|_| true);
    }
    // Append to a new incremental file: the last one may end in a cut tail.
    let name = m.new_incr(&s.prefix);
    {
        let mut f = aof.files.lock();
        f.manifest = m;
        f.settled_size = settled;
        persist_manifest(&f).map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    }
    switch_incr(aof, &dir, &name).map_err(|e| format!("Can't open the AOF file {name}: {e}"))?;
    srv.store.effects.attach(srv.aof.clone());
    Ok(true)
}

/// Replays the base then the incremental files `m` names (only the last
/// may have a cut tail). Returns the bytes loaded.
fn load_files(srv: &Server, dir: &Path, m: &Manifest, load_truncated: bool) -> Result<u64, String> {
    let files: Vec<_> = m.load_order().cloned().collect();
    // INFO's loading_* fields: the files' total size, and how far we are.
    let total = files
        .iter()
        .filter_map(|e| std::fs::metadata(dir.join(&e.name)).ok())
        .map(|md| md.len())
        .sum();
    let progress = &srv.persist.progress;
    progress.start(total);
    let r = replay_files(srv, dir, &files, load_truncated);
    progress.stop();
    r
}

fn replay_files(
    srv: &Server,
    dir: &Path,
    files: &[manifest::Entry],
    load_truncated: bool,
) -> Result<u64, String> {
    let mut settled = 0;
    let mut replayer = loader::Replayer::new(srv);
    let started = std::time::Instant::now();
    for (i, e) in files.iter().enumerate() {
        let path = dir.join(&e.name);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            // Redis tolerates a missing last incremental file (created lazily).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && e.kind == Kind::Incr => {
                continue;
            }
            Err(err) => {
                return Err(format!(
                    "Can't open the append-only file {}: {err}",
                    path.display()
                ))
            }
        };
        let last = i + 1 == files.len();
        // An RDB preamble (a .base.rdb, or a Redis 6 file that starts
        // with one): the RDB part, then any commands after it.
        let mut skip = 0;
        if data.starts_with(b"REDIS") {
            skip = load_preamble(srv, &mut replayer, &path, &data)?;
        }
        let loaded = replayer.replay(&path, &data[skip..], skip, last, load_truncated)?;
        settled += loaded.truncated_at.unwrap_or(data.len() as u64);
        replayer.progress_base += data.len() as u64;
        srv.persist.progress.set_loaded(replayer.progress_base);
    }
    if !files.is_empty() {
        crate::log::notice(&format!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(settled)
}

/// DEBUG LOADAOF (Redis 7.0's): what is buffered goes to the file and is
/// fsynced, the keyspace and the function libraries are emptied, and the
/// manifest on disk is loaded back (history files deleted first). Other
/// clients get -LOADING meanwhile, and nothing the load does is logged
/// again. Err: the files could not be loaded; the keyspace then holds part
/// of them and the caller must not go on serving it.
pub fn debug_load(srv: &Server) -> Result<(), String> {
    let aof = &srv.aof;
    srv.persist.loading.store(true, Ordering::Release);
    // Writes that passed the loading check before it was set finish (and
    // commit their effects) before we go on.
    drop(srv.store.lock(&LockPlan::All, crate::commands::unix_ms()));
    let on = aof.enabled();
    let listener: Arc<dyn Listener> = srv.aof.clone();
    if on {
        let mut out = aof.out.lock();
        aof.write_locked(&mut out);
        if let Some(f) = &out.file {
            let _ = f.sync_data();
        }
        drop(out);
        srv.store.effects.detach(&listener);
    }
    let r = reload_from_disk(srv);
    if on {
        srv.store.effects.attach(listener);
    }
    srv.persist.loading.store(false, Ordering::Release);
    r
}

fn reload_from_disk(srv: &Server) -> Result<(), String> {
    let s = settings(srv);
    {
        let mut ks = srv.store.lock(&LockPlan::All, crate::commands::unix_ms());
        for db in 0..srv.store.databases() {
            drop(ks.flush_db(db));
        }
    }
    crate::commands::functions::clear(srv);
    let (dir, prefix) = {
        let f = srv.aof.files.lock();
        if f.dir.as_os_str().is_empty() {
            (s.dir.clone(), s.prefix.clone())
        } else {
            (f.dir.clone(), f.prefix.clone())
        }
    };
    let path = dir.join(manifest::manifest_name(&prefix));
    let text = std::fs::read(&path)
        .map_err(|e| format!("Can't read the AOF manifest {}: {e}", path.display()))?;
    let mut m = Manifest::parse(&text).map_err(|e| format!("{e} in {}", path.display()))?;
    // aofDelHistoryFiles: files a rewrite left behind go now (ours, when
    // the AOF is on; a crash between the manifest swap and the deletion).
    if srv.aof.enabled() && !m.history.is_empty() {
        for h in std::mem::take(&mut m.history) {
            let _ = std::fs::remove_file(dir.join(&h.name));
        }
        let mut f = srv.aof.files.lock();
        f.manifest.history.clear();
        let _ = persist_manifest(&f);
    }
    if m.base.is_none() && m.incrs.is_empty() {
        return Err(format!("The AOF manifest {} names no file", path.display()));
    }
    load_files(srv, &dir, &m, s.load_truncated).map(|_| ())
}

/// Loads the RDB part of a base file; returns its length in bytes.
fn load_preamble(
    srv: &Server,
    replayer: &mut loader::Replayer<'_>,
    path: &Path,
    data: &[u8],
) -> Result<usize, String> {
    use crate::persist::rdb::{load_into_store, LoadOptions, RdbOptions};
    let key_delay_us = i64::from(srv.config.read().key_load_delay);
    let opts = LoadOptions {
        rdb: RdbOptions::from_config(&srv.config.read()),
        // The log that follows deletes what expired, as Redis's loading does.
        keep_expired: true,
        key_delay_us,
    };
    let mut libraries = Vec::new();
    let stats = load_into_store(
        data,
        &srv.store,
        crate::commands::unix_ms(),
        &opts,
        |code| {
            libraries.push(code);
            Ok(())
        },
        |_, _| {},
    )
    .map_err(|e| {
        format!(
            "Bad RDB preamble in the append only file {}: {e}",
            path.display()
        )
    })?;
    // Libraries compile through FUNCTION LOAD, as on any other path in.
    for code in libraries {
        replayer.function_load(&code, path)?;
    }
    crate::log::notice(&format!(
        "Reading RDB base file on AOF loading... {} keys loaded from {}",
        stats.keys_loaded,
        path.display()
    ));
    Ok(stats.file.bytes as usize)
}

fn spawn_cron(srv: Arc<Server>) {
    let aof = srv.aof.clone();
    let _ = std::thread::Builder::new()
        .name("ember-aof-sync".into())
        .spawn(move || aof.syncer());
    let _ = std::thread::Builder::new()
        .name("ember-aof".into())
        .spawn(move || {
            let mut last_sync = std::time::Instant::now();
            loop {
                std::thread::sleep(std::time::Duration::from_millis(100));
                srv.aof.tick(&srv, &mut last_sync);
            }
        });
}

/// Applies `appendonly`/`appendfsync`/`aof-timestamp-enabled` after CONFIG SET.
pub fn config_changed(srv: &Server) {
    if !srv.aof.booted.load(Ordering::Acquire) {
        return;
    }
    let s = settings(srv);
    srv.aof.policy.store(s.policy, Ordering::Relaxed);
    srv.aof
        .no_fsync_on_rewrite
        .store(s.no_fsync_on_rewrite, Ordering::Relaxed);
    srv.aof.buf.lock().timestamps = s.timestamps;
    if s.on && !srv.aof.enabled() {
        // Redis's startAppendOnly: a rewrite builds the base, appending starts now.
        let dir = s.dir.clone();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            crate::log::warning(&format!("Can't create the AOF directory: {e}"));
            return;
        }
        {
            let mut f = srv.aof.files.lock();
            f.dir = dir.clone();
            f.prefix = s.prefix.clone();
            let path = dir.join(manifest::manifest_name(&s.prefix));
            f.manifest = std::fs::read(&path)
                .ok()
                .and_then(|t| Manifest::parse(&t).ok())
                .unwrap_or_default();
        }
        if let Err(e) = rewrite_now(srv, false) {
            crate::log::warning(&format!(
                "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation: {e}"
            ));
        }
    } else if !s.on && srv.aof.enabled() {
        stop(srv);
    }
}

/// Redis's stopAppendOnly: everything written and fsynced, the file closed.
fn stop(srv: &Server) {
    let aof = &srv.aof;
    let listener: Arc<dyn Listener> = srv.aof.clone();
    srv.store.effects.detach(&listener);
    let mut out = aof.out.lock();
    aof.write_locked(&mut out);
    if let Some(f) = out.file.take() {
        let _ = f.sync_all();
    }
    out.sync = None;
    out.pending.clear();
    aof.on.store(false, Ordering::Release);
    aof.write_errno.store(0, Ordering::Release);
    aof.buf.lock().bytes.clear();
    let end = aof.appended.load(Ordering::Acquire);
    aof.written.fetch_max(end, Ordering::Release);
    aof.synced.fetch_max(end, Ordering::Release);
    // Clients waiting for an fsync go on: the AOF is off now.
    aof.synced_tx.send_replace(end);
}

/// What BGREWRITEAOF did.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewrite {
    Started,
    /// Another snapshot user (a BGSAVE) is running: the rewrite starts
    /// when it ends, as Redis does when a child is active.
    Scheduled,
}

/// BGREWRITEAOF. Err is the error text for the client.
pub fn start_rewrite(srv: &Server) -> Result<Rewrite, String> {
    rewrite_now(srv, false)
}

/// Asks for a rewrite once nothing else snapshots (a rewrite or a BGSAVE is
/// running, or the caller holds locks inside EXEC).
pub fn schedule_rewrite(srv: &Server) {
    srv.aof.scheduled.store(true, Ordering::Release);
}

pub fn rewrite_in_progress(srv: &Server) -> bool {
    srv.aof.rewriting.load(Ordering::Acquire)
}

/// What the base is written as.
enum BaseForm {
    /// `aof-use-rdb-preamble yes`: an RDB file.
    Rdb(Extras),
    /// Commands: `head` (the `#TS:` annotation, FUNCTION LOADs) then the keys.
    Commands { head: Vec<u8>, now_ms: i64 },
}

/// The rewrite: under every lock only the snapshot's start, the new
/// incremental file and the manifest naming it; the walk and the files from
/// a thread (inline when `sync`, for the first base at start).
fn rewrite_now(srv: &Server, sync: bool) -> Result<Rewrite, String> {
    let aof = &srv.aof;
    if aof.rewriting.swap(true, Ordering::AcqRel) {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    aof.stats.lock().rewrite_started = Some(std::time::Instant::now());
    let s = settings(srv);
    let (dir, prefix) = {
        let f = aof.files.lock();
        if f.dir.as_os_str().is_empty() {
            (s.dir.clone(), s.prefix.clone())
        } else {
            (f.dir.clone(), f.prefix.clone())
        }
    };
    let not_started = |aof: &Aof| {
        aof.stats.lock().rewrite_started = None;
        aof.rewriting.store(false, Ordering::Release);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        not_started(aof);
        return Err(format!("ERR Can't create the AOF directory: {e}"));
    }
    let now = crate::commands::unix_ms();
    let covered;
    let mut snap;
    let form;
    {
        let mut ks = srv.store.lock(&LockPlan::All, now);
        let Some(started) = ks.begin_snapshot() else {
            drop(ks);
            not_started(aof);
            if sync {
                return Err("ERR Can't start the AOF rewrite: a snapshot is running".into());
            }
            schedule_rewrite(srv);
            return Ok(Rewrite::Scheduled);
        };
        snap = started;
        // Effects are committed under their locks, and we hold all of them:
        // the snapshot's point in time is exactly where the new incremental
        // file starts.
        let mut f = aof.files.lock();
        f.dir = dir.clone();
        f.prefix = prefix.clone();
        let turning_on = s.on && !aof.enabled();
        covered = f.manifest.incrs.len();
        if aof.enabled() || turning_on {
            let name = f.manifest.new_incr(&prefix);
            let opened = switch_incr(aof, &dir, &name);
            if let Err(e) = opened.and_then(|_| persist_manifest(&f)) {
                f.manifest.incrs.pop();
                f.manifest.incr_seq -= 1;
                drop(f);
                drop(ks);
                snap.abort(&srv.store);
                not_started(aof);
                return Err(format!("ERR Can't open a new AOF file: {e}"));
            }
            f.settled_size = 0;
            if turning_on {
                aof.on.store(true, Ordering::Release);
                srv.store.effects.attach(srv.aof.clone());
            }
        }
        drop(f);
        // Functions (and the RDB aux fields) at the same point in time.
        form = if s.use_rdb_preamble {
            let mut x = Extras::of(srv, true);
            x.now_ms = now;
            BaseForm::Rdb(x)
        } else {
            let mut head = Vec::new();
            if s.timestamps {
                head.extend_from_slice(format!("#TS:{}\r\n", now / 1000).as_bytes());
            }
            rewrite::functions(&srv.functions.read(), &mut head);
            BaseForm::Commands { head, now_ms: now }
        };
    }
    let delay_us = srv.config.read().rdb_key_save_delay.max(0) as u64;
    let mut job = move |srv: &Server| {
        let tmp_name = format!("temp-rewriteaof-bg-{}.aof", std::process::id());
        let tmp = dir.join(&tmp_name);
        let written = write_base(srv, &tmp, &mut snap, &form, delay_us);
        snap.abort(&srv.store);
        let rdb = matches!(form, BaseForm::Rdb(_));
        let r = match written {
            Ok(size) => install_base(&srv.aof, &dir, &prefix, &tmp_name, size, covered, rdb),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(format!("Error writing the AOF base: {e}"))
            }
        };
        finish(&srv.aof, r);
    };
    if sync {
        job(srv);
        if aof.stats.lock().last_status_ok {
            Ok(Rewrite::Started)
        } else {
            Err("ERR append only file rewriting failed".into())
        }
    } else {
        let Some(arc) = srv.arc() else {
            not_started(aof);
            return Err("ERR Can't start the AOF rewrite: the server is stopping".into());
        };
        // If the spawn fails, the closure (and the snapshot) is dropped,
        // which ends the snapshot.
        std::thread::Builder::new()
            .name("ember-aof-rewrite".into())
            .spawn(move || job(&arc))
            .map(|_| Rewrite::Started)
            .map_err(|e| {
                not_started(aof);
                format!("ERR Can't start the AOF rewrite: {e}")
            })
    }
}

/// Streams the snapshot into the temp file `tmp` and fsyncs it. Returns its size.
fn write_base(
    srv: &Server,
    tmp: &Path,
    snap: &mut Snapshot,
    form: &BaseForm,
    delay_us: u64,
) -> std::io::Result<u64> {
    let file = File::create(tmp)?;
    let file = crate::persist::autosync::AutoSync::new(
        file,
        srv.config.read().aof_rewrite_incremental_fsync,
    );
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    match form {
        BaseForm::Rdb(x) => {
            let never = AtomicBool::new(false);
            let src = Source::Snapshot {
                store: &srv.store,
                snap,
                delay_us,
                abort: &never,
            };
            out = write_rdb(out, x, src)?.0;
        }
        BaseForm::Commands { head, now_ms } => {
            out.write_all(head)?;
            rewrite::keyspace(&srv.store, snap, *now_ms, delay_us, &mut out)?;
        }
    }
    let file = out.into_inner().map_err(|e| e.into_error())?.into_inner();
    file.sync_all()?;
    file.metadata().map(|m| m.len())
}

/// Renames the written base `tmp_name` (`size` bytes) into place and swaps
/// the manifest; then the old files go.
fn install_base(
    aof: &Aof,
    dir: &Path,
    prefix: &str,
    tmp_name: &str,
    size: u64,
    covered: usize,
    rdb: bool,
) -> Result<(), String> {
    let tmp = dir.join(tmp_name);
    let mut f = aof.files.lock();
    let (name, seq) = f.manifest.next_base_name(prefix, rdb);
    if let Err(e) = std::fs::rename(&tmp, dir.join(&name)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "Error trying to rename the temporary AOF base file {tmp_name} into {name}: {e}"
        ));
    }
    let before = f.manifest.clone();
    f.manifest.install_base(name, seq, covered);
    if let Err(e) = persist_manifest(&f) {
        f.manifest = before;
        return Err(format!("Error persisting the AOF manifest: {e}"));
    }
    // The new manifest is on disk: the old generation can go.
    for h in std::mem::take(&mut f.manifest.history) {
        let _ = std::fs::remove_file(dir.join(&h.name));
    }
    let _ = persist_manifest(&f);
    f.settled_size = size;
    f.base_size = size + aof.out.lock().size;
    crate::log::notice("Background AOF rewrite finished successfully");
    Ok(())
}

fn finish(aof: &Aof, r: Result<(), String>) {
    let mut st = aof.stats.lock();
    if let Some(t) = st.rewrite_started.take() {
        st.last_rewrite_secs = t.elapsed().as_secs() as i64;
    }
    match r {
        Ok(()) => {
            st.last_status_ok = true;
            st.rewrites += 1;
            st.consecutive_failures = 0;
        }
        Err(e) => {
            crate::log::warning(&format!("Background AOF rewrite failed: {e}"));
            st.last_status_ok = false;
            st.consecutive_failures += 1;
        }
    }
    aof.rewriting.store(false, Ordering::Release);
}
