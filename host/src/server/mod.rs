//! The network side: the shared [`Server`] state, the listeners and accept
//! loops ([`listen`], [`tls`], [`protected`]), and the per-connection task
//! in [`connection`] over a [`transport`].

pub mod client;
pub mod connection;
pub mod errorstats;
pub mod listen;
pub mod pause;
pub mod protected;
pub mod protocol;
pub mod pubsub;
pub mod reply;
pub mod tls;
pub mod tracking;
pub mod transport;

use crate::commands::table::CommandTable;
use crate::config::Config;
use crate::store::Store;
use client::ClientRegistry;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The Redis version we are compatible with, reported where clients look for it
/// (INFO redis_version, HELLO version) because they gate features on it.
pub use crate::config::REDIS_COMPAT_VERSION;

/// Server-wide counters for INFO stats.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub blocked_clients: AtomicU64,
    /// Clients closed by `maxmemory-clients` (INFO evicted_clients).
    pub evicted_clients: AtomicU64,
    /// total_error_replies and INFO errorstats.
    pub errors: errorstats::ErrorStats,
}

/// State shared by every connection.
pub struct Server {
    pub store: Store,
    pub config: RwLock<Config>,
    /// Bumped on every CONFIG SET so connections refresh the limits they cache.
    pub config_epoch: AtomicU64,
    pub commands: CommandTable,
    pub clients: ClientRegistry,
    pub pubsub: pubsub::PubSub,
    /// `notify-keyspace-events` flags, mirrored for a lock-free check per write.
    pub notify_flags: std::sync::atomic::AtomicU32,
    pub stats: Stats,
    pub started: Instant,
    pub run_id: String,
    pub shutdown: tokio::sync::Notify,
    /// The port actually listened on (config `port` may be 0 in tests).
    pub port: AtomicU64,
    pub executable: String,
    pub config_file: Option<String>,
    /// The wasm engine for scripts, functions and modules.
    pub wasm: crate::wasm::Runtime,
    /// Scripts (wasm or Lua) by lowercase SHA1 hex of their body (EVAL, SCRIPT LOAD).
    pub scripts: RwLock<hashbrown::HashMap<String, crate::commands::scripting::Script>>,
    /// The Lua interpreter guest, compiled on first use.
    pub lua: crate::lua::Engine,
    /// ACL users, the ACL LOG (acl/).
    pub acl: crate::acl::Acl,
    /// Function libraries (FUNCTION LOAD, FCALL).
    pub functions: RwLock<crate::commands::functions::Libraries>,
    /// Loaded wasm modules by name.
    pub modules: RwLock<hashbrown::HashMap<String, Arc<crate::commands::modules::LoadedModule>>>,
    /// The append-only file (persist/aof), a listener of `store.effects`.
    pub aof: Arc<crate::persist::aof::Aof>,
    /// The clients in MONITOR mode.
    pub monitors: crate::commands::monitor::Monitors,
    /// SLOWLOG's entries and its threshold, mirrored from the config.
    pub slowlog: crate::commands::slowlog::SlowLog,
    /// LATENCY's events and `latency-monitor-threshold`.
    pub latency: crate::commands::latency::LatencyMonitor,
    /// (time, commands processed) samples for instantaneous_ops_per_sec.
    ops_samples: parking_lot::Mutex<std::collections::VecDeque<(Instant, u64)>>,
    /// MIGRATE's cached connections to targets.
    pub migrate_sockets: crate::commands::migrate::Sockets,
    /// Replication: role, IDs and offsets, the backlog, attached replicas (repl/).
    pub repl: Arc<crate::repl::Repl>,
    /// The replica side's link to its primary (repl/replica.rs).
    pub replica: crate::repl::replica::Replica,
    /// Client-side caching: tracked keys and invalidations (tracking.rs).
    pub tracking: Arc<tracking::Tracking>,
    /// The client pause CLIENT PAUSE, FAILOVER and SHUTDOWN set (pause.rs).
    pub pause: pause::Pause,
    /// Snapshot lifecycle state (persist/snapshot.rs).
    pub persist: crate::persist::snapshot::Persistence,
    /// Cluster mode's node table and bus (cluster/); None unless `cluster-enabled yes`.
    pub cluster: Option<crate::cluster::Cluster>,
    /// The listening sockets (listen.rs).
    pub listeners: listen::Listeners,
    /// This server's own `Arc`, for background jobs a handler starts (BGSAVE).
    me: std::sync::Weak<Server>,
}

impl Server {
    /// The server for `config`; if a `rename-command` line is refused by
    /// the command table, that is logged and no rename applies
    /// (ember-server uses [`Server::try_new`], which refuses to start
    /// instead, as Redis).
    pub fn new(config: Config, config_file: Option<String>) -> Arc<Server> {
        let commands = command_table(&config).unwrap_or_else(|e| {
            crate::log::warning(&e);
            CommandTable::new(&crate::commands::builtin_families())
        });
        Self::with_commands(config, config_file, commands)
    }

    /// The server for `config`. Fails only on a `rename-command` line the
    /// command table refuses (Redis's fatal config error text).
    pub fn try_new(config: Config, config_file: Option<String>) -> Result<Arc<Server>, String> {
        let commands = command_table(&config)?;
        Ok(Self::with_commands(config, config_file, commands))
    }

    fn with_commands(
        config: Config,
        config_file: Option<String>,
        commands: CommandTable,
    ) -> Arc<Server> {
        let store = Store::new(config.databases);
        let run_id: String = (0..40)
            .map(|_| format!("{:x}", rand::random::<u8>() % 16))
            .collect();
        // As Redis, a nodes.conf that cannot be read or parsed stops start-up.
        let cluster = crate::cluster::enabled(&config).then(|| {
            crate::cluster::Cluster::open(&config).unwrap_or_else(|e| {
                crate::log::warning(&e);
                std::process::exit(1)
            })
        });
        let srv = Arc::new_cyclic(|me| Server {
            me: me.clone(),
            cluster,
            tracking: Arc::default(),
            pause: Default::default(),
            listeners: Default::default(),
            persist: crate::persist::snapshot::Persistence::new(),
            migrate_sockets: Default::default(),
            store,
            port: AtomicU64::new(config.port as u64),
            config: RwLock::new(config),
            config_epoch: AtomicU64::new(0),
            commands,
            clients: ClientRegistry::default(),
            pubsub: pubsub::PubSub::default(),
            notify_flags: std::sync::atomic::AtomicU32::new(0),
            stats: Stats::default(),
            started: Instant::now(),
            run_id,
            shutdown: tokio::sync::Notify::new(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_file,
            wasm: crate::wasm::Runtime::new().expect("the wasm engine could not start"),
            scripts: RwLock::new(hashbrown::HashMap::new()),
            lua: crate::lua::Engine::default(),
            acl: crate::acl::Acl::new(),
            modules: RwLock::new(hashbrown::HashMap::new()),
            functions: RwLock::new(crate::commands::functions::Libraries::default()),
            ops_samples: parking_lot::Mutex::new(std::collections::VecDeque::new()),
            aof: Arc::default(),
            repl: Arc::default(),
            replica: Default::default(),
            slowlog: Default::default(),
            monitors: Default::default(),
            latency: Default::default(),
        });
        srv.tracking.attach(&srv.store.observers);
        srv
    }

    /// An owning handle on this server (None only while it is being dropped).
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.me.upgrade()
    }

    /// True when clients must AUTH before running commands: the default
    /// user has a password or is off (Redis's authRequired).
    #[inline]
    pub fn auth_required(&self) -> bool {
        self.acl.default_user_requires_password()
    }

    /// Records a sample of the command counter (called by the cron thread).
    pub fn sample_ops(&self) {
        let mut samples = self.ops_samples.lock();
        samples.push_back((
            Instant::now(),
            self.stats.commands_processed.load(Ordering::Relaxed),
        ));
        // About 1.6 s of history at the default hz, like Redis's 16 samples.
        while samples.len() > 16 {
            samples.pop_front();
        }
    }

    /// Commands per second over the recent samples.
    pub fn ops_per_sec(&self) -> u64 {
        let samples = self.ops_samples.lock();
        match (samples.front(), samples.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                ((b.1 - a.1) as f64 / (b.0 - a.0).as_secs_f64()) as u64
            }
            _ => 0,
        }
    }

    pub fn config_changed(&self) {
        crate::commands::notify::refresh_flags(self);
        crate::persist::snapshot::refresh_misconf(self);
        {
            let cfg = self.config.read();
            self.wasm
                .set_limits(cfg.wasm_time_limit, cfg.wasm_memory_limit);
            self.store.busy.set_threshold_ms(cfg.busy_reply_threshold);
            self.slowlog
                .configure(cfg.slowlog_log_slower_than, cfg.slowlog_max_len);
            self.latency.configure(cfg.latency_monitor_threshold);
            self.store.evict.configure(cfg.eviction_settings());
            crate::store::encoding::configure(cfg.encoding_thresholds());

            self.latency.configure_tracking(&cfg);
            let max_keys = cfg.get_one("tracking-table-max-keys");
            self.tracking
                .set_max_keys(max_keys.and_then(|v| v.parse().ok()).unwrap_or(1_000_000));
            self.acl.apply_requirepass(&self.commands, &cfg.requirepass);
        }
        crate::persist::aof::config_changed(self);
        crate::repl::replica::config_changed(self);
        crate::repl::config_changed(self);
        crate::cluster::config_changed(self);
        self.config_epoch.fetch_add(1, Ordering::Release);
        // A lower maxmemory takes effect at once (Redis's updateMaxmemory).
        if let Some((used, max)) = self.store.evict.over_limit() {
            crate::log::warning(&format!(
                "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
            ));
            crate::commands::evict(self, crate::commands::unix_ms());
        }
    }
}

/// The command table with the config's `rename-command` lines applied.
fn command_table(config: &Config) -> Result<CommandTable, String> {
    let mut commands = CommandTable::new(&crate::commands::builtin_families());
    for (from, to) in &config.rename_command {
        commands.rename(from, to).map_err(|e| {
            format!(
                "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_COMPAT_VERSION}) ***\n>>> 'rename-command {} {}'\n{e}",
                String::from_utf8_lossy(from),
                String::from_utf8_lossy(to)
            )
        })?;
    }
    Ok(commands)
}

/// Binds every configured address and serves until SHUTDOWN or a signal.
pub async fn serve(srv: Arc<Server>) -> anyhow::Result<()> {
    srv.config_changed();
    // The Lua engine compiles in the background: start-up does not wait
    // for it, and a first script waits for it (crate::lua::Engine::guest)
    // before its time limit starts.
    let lua_srv = srv.clone();
    std::thread::Builder::new()
        .name("ember-lua-compile".into())
        .spawn(move || {
            if let Err(e) = lua_srv.lua.guest(&lua_srv.wasm) {
                crate::log::warning(&format!("the Lua engine failed to load: {e}"));
            }
        })?;
    crate::commands::modules::load_at_startup(&srv)?;
    // After the modules, whose commands `user` rules may name (as Redis).
    crate::commands::acl::load_at_startup(&srv).map_err(|e| anyhow::anyhow!(e))?;
    // As Redis does, clients may connect while the data set loads: INFO and
    // the other commands flagged `loading` answer, the rest get -LOADING
    // (commands/mod.rs). As in Redis 7.0, a server with appendonly on loads
    // only its AOF (and starts appending); otherwise dbfilename is loaded
    // (after the modules: their values are in the file).
    srv.persist.loading.store(true, Ordering::Release);
    srv.listeners.apply(&srv).map_err(|e| anyhow::anyhow!(e))?;
    if srv.listeners.is_empty() {
        anyhow::bail!("Configured to not listen anywhere, exiting.");
    }
    crate::cluster::start(&srv).await?;
    let loader = srv.clone();
    let loaded = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let aof_on = crate::persist::aof::start(&loader).map_err(|e| anyhow::anyhow!(e))?;
        if !aof_on {
            crate::persist::load::load_at_startup(&loader)?;
        }
        Ok(())
    })
    .await;
    srv.persist.loading.store(false, Ordering::Release);
    loaded.map_err(|e| anyhow::anyhow!("the loading thread failed: {e}"))??;
    // Replication starts once the local data set is loaded (a replica then
    // syncs from its primary; a primary serves from what it loaded).
    crate::repl::replica::start(&srv);
    crate::repl::start(&srv);
    crate::process::ready();
    crate::alloc::mark_startup();
    let expire_srv = srv.clone();
    std::thread::Builder::new()
        .name("ember-expire".into())
        .spawn(move || expire_loop(expire_srv))?;
    loop {
        tokio::select! {
            _ = srv.shutdown.notified() => break,
            name = shutdown_signal() => {
                // As Redis on SIGTERM/SIGINT: save when save points are set,
                // and keep running if that save fails.
                crate::log::warning(&format!("Received {name} scheduling shutdown..."));
                // Lagging replicas first: the replication cron then saves
                // and ends the loop through `srv.shutdown`.
                let flags = crate::repl::shutdown::Flags::default();
                if crate::repl::shutdown::begin(&srv, flags, false)
                    == crate::repl::shutdown::Begin::Waiting
                {
                    continue;
                }
                crate::repl::shutdown::log_replicas(&srv);
                let s = srv.clone();
                let saved = tokio::task::spawn_blocking(move || {
                    crate::persist::snapshot::shutdown_save(&s, false, false)
                })
                .await;
                match saved {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => crate::log::warning(&format!(
                        "Error trying to save the DB, can't exit: {e}"
                    )),
                    Err(e) => crate::log::warning(&format!("Shutdown save failed: {e}")),
                }
            }
        }
    }
    crate::log::notice("Ember is now ready to exit, bye bye...");
    Ok(())
}

/// Waits for SIGTERM or SIGINT and names it.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        }
        _ => std::future::pending().await,
    }
}

/// The active expiry thread: a tick every 1000/hz ms, each bounded to a
/// quarter of its period like Redis's slow cycle.
fn expire_loop(srv: Arc<Server>) {
    let mut cursor = crate::store::expire::Cursor::default();
    loop {
        let hz = srv.config.read().hz.clamp(1, 500) as u64;
        let period = std::time::Duration::from_millis(1000 / hz);
        std::thread::sleep(period);
        srv.sample_ops();
        let timeout = srv.config.read().timeout;
        if timeout > 0 {
            srv.clients.close_idle(timeout, crate::commands::unix_ms());
        }
        // Work this cron does for others: BCAST invalidations of keys
        // expired here, the tracking table's size limit.
        srv.tracking.flush(0);
        // A pause stops active expiry and eviction.
        if pause::in_force(&srv.pause, &srv.store, crate::commands::unix_ms()) {
            continue;
        }
        let mut log = Vec::new();
        let record = srv.store.record_expired.load(Ordering::Relaxed);
        crate::store::expire::active_expire_tick(
            &srv.store,
            crate::commands::unix_ms(),
            period / 4,
            &mut cursor,
            record.then_some(&mut log),
        );
        crate::commands::notify::notify_expired(&srv, &log);
        let clients_limit = srv.config.read().maxmemory_clients_bytes();
        let n = srv.clients.evict_over(clients_limit);
        srv.stats.evicted_clients.fetch_add(n, Ordering::Relaxed);
        // Eviction a command left unfinished (its time budget ran out) goes
        // on here, so memory comes back under maxmemory without traffic.
        crate::commands::evict(&srv, crate::commands::unix_ms());
        crate::persist::snapshot::cron(&srv);
        crate::commands::migrate::close_idle(&srv.migrate_sockets);
    }
}
