//! Server configuration: the [`Config`] struct every subsystem reads, and the
//! redis.conf / command-line / CONFIG GET|SET|REWRITE machinery of Redis 7.0
//! (names, aliases, value formats, error texts, all-or-nothing SET).
//!
//! This folder owns *parsing, validation and formatting* only. Applying a
//! value (listening on a port, opening the log file, evicting keys, writing
//! snapshots, ...) is done by the subsystem that reads the typed field.
//!
//! One file per concept:
//! - `mod.rs` (here): the `Config` struct, its defaults and field types;
//! - `specs.rs`: the directive table (names, aliases, flags, getters and
//!   setters) and the directives of the core server;
//! - `persistence.rs`: the RDB / AOF directives and the two gates
//!   ([`SNAPSHOTS_SUPPORTED`], [`AOF_SUPPORTED`]) the persistence code flips;
//! - `file.rs`: the config file and `--directive value` command line
//!   (includes, stdin, fatal errors naming the line);
//! - `syntax.rs`: the line syntax (Redis's sdssplitargs quoting and its inverse);
//! - `get_set.rs`: CONFIG GET / CONFIG SET semantics;
//! - `rewrite.rs`: CONFIG REWRITE (the file rewritten in place, as Redis);
//! - `values.rs`: value kinds (bool, int, memory, enum, ...) with Redis's
//!   parsing rules, bounds and error texts;
//! - `notify.rs`: `notify-keyspace-events` flags;
//! - `docs.rs`: what each directive does in Ember, and the table of
//!   docs/configuration.md generated from the directive table.
//!
//! Directives fall in three groups:
//!
//! - typed fields on [`Config`] that the server honours (or will honour soon:
//!   each field's doc says which);
//! - directives accepted only with the value we can honour today (`save ""`
//!   until RDB snapshots land,
//!   `replicaof no one`,
//!   `socket-mark-id 0`), so that a user's config cannot silently ask for
//!   something we do not do;
//! - "stored-only" tuning knobs from the stock redis.conf (encoding thresholds,
//!   replication, lazyfree, ...): validated exactly like Redis and visible in
//!   CONFIG GET/SET, but with no effect. They are harmless to accept and make a
//!   Redis user's existing redis.conf load unchanged. See `STORED_ONLY` in
//!   `specs.rs`.
//!
//! Error texts are Redis 7.0.15's, checked against the real server.

/// Declares a config enum with its redis.conf names, in Redis's order (the
/// order matters: it is the order of the "must be one of" error text).
macro_rules! config_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($var),+ }

        impl $name {
            /// Every value with its redis.conf name, in Redis's order.
            pub const ALL: &'static [($name, &'static str)] = &[$(($name::$var, $text)),+];

            /// The redis.conf / CONFIG GET spelling.
            pub fn name(self) -> &'static str {
                match self { $($name::$var => $text),+ }
            }

            /// Parses a redis.conf name, ASCII-case-insensitively.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::parse(name.as_bytes()).ok()
            }

            pub(in crate::config) fn parse(v: &[u8]) -> Result<Self, String> {
                enum_value(v, Self::ALL)
            }
        }
    };
}

/// A [`specs::Spec`] for a directive stored in one typed `Config` field:
/// `typed!(name, flags, field, bool)`, `... int(min, max) as T`,
/// `... mem(min, max) as T` or `... enum EnumType` (a `config_enum!`).
macro_rules! typed {
    ($name:literal, $flags:expr, $f:ident, bool) => {
        field(
            $name,
            $flags,
            |c| yes_no(c.$f),
            |c, a, _| {
                c.$f = boolean(one(a)?)?;
                Ok(())
            },
        )
    };
    ($name:literal, $flags:expr, $f:ident, int($min:expr, $max:expr) as $t:ty) => {
        field(
            $name,
            $flags,
            |c| c.$f.to_string(),
            |c, a, _| {
                c.$f = int(one(a)?, $min, $max)? as $t;
                Ok(())
            },
        )
    };
    ($name:literal, $flags:expr, $f:ident, mem($min:expr, $max:expr) as $t:ty) => {
        field(
            $name,
            $flags,
            |c| c.$f.to_string(),
            |c, a, _| {
                c.$f = mem(one(a)?, $min, $max)? as $t;
                Ok(())
            },
        )
    };
    ($name:literal, $flags:expr, $f:ident, enum $e:ident) => {
        field(
            $name,
            $flags,
            |c| c.$f.name().to_string(),
            |c, a, _| {
                c.$f = $e::parse(one(a)?)?;
                Ok(())
            },
        )
    };
}

mod docs;
mod file;
mod get_set;
mod notify;
mod persistence;
mod rewrite;
mod specs;
mod syntax;
#[cfg(test)]
mod tests;
mod values;

pub use docs::{effect, markdown as directive_table_markdown, unknown_effect_names};
pub use file::{strerror, USAGE};
pub use notify::*;
pub use persistence::{
    SanitizeDumpPayload, AOF_SUPPORTED, DEFAULT_SAVE_POINTS, SHUTDOWN_FORCE, SHUTDOWN_NOSAVE,
    SHUTDOWN_NOW, SHUTDOWN_SAVE, SNAPSHOTS_SUPPORTED,
};
pub use rewrite::REWRITE_SIGNATURE;
pub use specs::is_sensitive;
pub use syntax::{is_c_space, repr, split_args, trim as trim_bytes};
pub use values::{memtoull, AppendFsync, LogLevel, MaxmemoryPolicy, ProtectedAction};

// Crate-private helpers shared by the files of this folder.
#[allow(unused_imports)]
use file::*;
#[allow(unused_imports)]
use persistence::*;
#[allow(unused_imports)]
use specs::*;
#[allow(unused_imports)]
use syntax::*;
#[allow(unused_imports)]
use values::*;

/// The Redis release whose behaviour and texts we mimic (it appears in the
/// fatal config error banner that users and tools grep for).
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

/// One class of `client-output-buffer-limit`: disconnect a client whose pending
/// output exceeds `hard_limit_bytes`, or stays above `soft_limit_bytes` for
/// `soft_limit_seconds`. Zero disables a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBufferLimit {
    pub hard_limit_bytes: u64,
    pub soft_limit_bytes: u64,
    pub soft_limit_seconds: u64,
}

/// `client-output-buffer-limit` for the three client classes Redis knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBufferLimits {
    pub normal: OutputBufferLimit,
    /// Named `slave` in CONFIG GET output, `replica` or `slave` on input.
    pub replica: OutputBufferLimit,
    pub pubsub: OutputBufferLimit,
}

impl Default for OutputBufferLimits {
    fn default() -> Self {
        let limit = |hard, soft, secs| OutputBufferLimit {
            hard_limit_bytes: hard,
            soft_limit_bytes: soft,
            soft_limit_seconds: secs,
        };
        OutputBufferLimits {
            normal: limit(0, 0, 0),
            replica: limit(256 << 20, 64 << 20, 60),
            pubsub: limit(32 << 20, 8 << 20, 60),
        }
    }
}

/// A `loadmodule path [args...]` line (file / command line only, like Redis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadModule {
    pub path: String,
    pub args: Vec<Vec<u8>>,
}

/// What `main` should do before parsing: redis-server handles `-v`/`--version`
/// and `-h`/`--help` only as the first argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliAction {
    Version,
    Help,
}

/// The server configuration. Every field is public and typed; the CONFIG
/// GET/SET names are the redis.conf directive names in each field's doc.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `port` (0 = no TCP listener, as in Redis). Immutable at runtime.
    pub port: u16,
    /// `bind`: addresses to listen on. Empty = no TCP listener. As in Redis, a
    /// leading `-` marks an address as optional (skip it if unavailable), `*`
    /// means all IPv4 and `::*` all IPv6 interfaces. Default is loopback only
    /// (Redis's is `* -::*`), per DESIGN. Immutable at runtime.
    pub bind: Vec<String>,
    /// `tcp-backlog`: the listen backlog of every listener. Immutable at runtime.
    pub tcp_backlog: u32,
    /// `unixsocket`: the path of a unix socket listener ("" = none).
    pub unixsocket: String,
    /// `tcp-keepalive` seconds (0 = off).
    pub tcp_keepalive: u64,
    /// `timeout`: close a client idle this many seconds (0 = never).
    pub timeout: u64,
    /// `protected-mode`.
    pub protected_mode: bool,
    /// `maxclients`.
    pub maxclients: u64,
    /// `threads` (Ember's own): runtime worker threads; 1 = current-thread
    /// runtime. Default: available cores. Immutable at runtime.
    pub threads: usize,
    /// `databases`. Immutable at runtime.
    pub databases: usize,
    /// `hz`, clamped to 1..=500 like Redis (out-of-range input is accepted).
    pub hz: u32,
    /// `proto-max-bulk-len` bytes.
    pub proto_max_bulk_len: u64,
    /// `client-query-buffer-limit` bytes.
    pub client_query_buffer_limit: u64,
    /// `client-output-buffer-limit`.
    pub client_output_buffer_limit: OutputBufferLimits,
    /// `busy-reply-threshold` (alias `lua-time-limit`) in milliseconds: after
    /// this long a running script makes other clients get -BUSY.
    pub busy_reply_threshold: u64,
    /// `wasm-time-limit` milliseconds: wall-clock limit of one wasm script,
    /// function or module-command invocation (Ember).
    pub wasm_time_limit: u64,
    /// `wasm-memory-limit` bytes: linear-memory cap of one wasm instance (Ember).
    pub wasm_memory_limit: u64,
    /// `requirepass` ("" = no password). Must be UTF-8 (Redis allows any
    /// bytes; we refuse rather than mangle a binary password).
    pub requirepass: String,
    /// `maxmemory` bytes (0 = no limit): store/evict.rs evicts above it, or
    /// deny-OOM commands are refused under `noeviction`.
    pub maxmemory: u64,
    /// `maxmemory-policy`: which keys store/evict.rs evicts.
    /// Always one of [`MaxmemoryPolicy`]'s names; see [`Config::eviction_policy`].
    pub maxmemory_policy: String,
    /// `maxmemory-samples`: keys sampled per eviction round.
    pub maxmemory_samples: u32,
    /// `maxmemory-eviction-tenacity` (0..=100): how long one command may evict.
    pub maxmemory_eviction_tenacity: u32,
    /// `lfu-log-factor`: how slowly the LFU counter grows.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time` minutes per step of LFU counter decay (0 = never).
    pub lfu_decay_time: u32,
    /// `hash-max-listpack-entries` (store/encoding.rs).
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value` bytes.
    pub hash_max_listpack_value: usize,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value` bytes.
    pub zset_max_listpack_value: usize,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
    /// `notify-keyspace-events` as `NOTIFY_*` bits. Stored; enforcement later.
    pub notify_keyspace_events: u32,
    /// `loglevel`: always one of [`LogLevel`]'s names; see [`Config::log_level`].
    pub loglevel: String,
    /// `logfile` ("" = stdout). Relative paths are relative to `dir`, as in
    /// Redis (which chdir()s into `dir`). Immutable at runtime.
    pub logfile: String,
    /// `pidfile` ("" = none). Immutable at runtime.
    pub pidfile: String,
    /// `daemonize`: fork into the background at startup (see `process.rs`),
    /// unless `supervised` finds a supervisor, as in Redis. Immutable.
    pub daemonize: bool,
    /// `dir`: working directory for persistence files. After a `dir`
    /// directive this is a canonical absolute path (Redis chdir()s there while
    /// reading the config, so later relative paths resolve against it; we
    /// resolve the same way without changing the process's cwd). `main` should
    /// chdir() into it at startup to match Redis for relative paths.
    /// A protected config, like in Redis.
    pub dir: String,
    /// `save` points as (seconds, changes): snapshot when at least `changes`
    /// writes happened in the last `seconds`. Empty = no automatic snapshots.
    /// While [`SNAPSHOTS_SUPPORTED`] is false only `save ""` is accepted and
    /// the default is empty; then the default is [`DEFAULT_SAVE_POINTS`].
    pub save: Vec<(u64, u64)>,
    /// Set once a config file line set `save`: the first such line replaces
    /// the defaults, later ones add points (as in Redis).
    save_from_file: bool,
    /// `dbfilename`: the RDB file's name inside `dir` (a base name, never a
    /// path). A protected config, like Redis.
    pub dbfilename: String,
    /// `rdbcompression`: LZF-compress strings in RDB files.
    pub rdbcompression: bool,
    /// `rdbchecksum`: write (and verify) the CRC64 trailer; when off, a zero
    /// checksum is written and the check is skipped on load. Immutable.
    pub rdbchecksum: bool,
    /// `rdb-del-sync-files`: delete RDB files made only for replication when
    /// persistence is off.
    pub rdb_del_sync_files: bool,
    /// `stop-writes-on-bgsave-error`: refuse writes with -MISCONF after a
    /// failed background save while save points are set.
    pub stop_writes_on_bgsave_error: bool,
    /// `sanitize-dump-payload`: deep integrity checks of RESTORE payloads
    /// and RDB files.
    pub sanitize_dump_payload: SanitizeDumpPayload,
    /// `rdb-save-incremental-fsync`: fsync every 4 MB while writing an RDB.
    pub rdb_save_incremental_fsync: bool,
    /// `appendonly`: log every write to the AOF. While [`AOF_SUPPORTED`] is
    /// false only `no` is accepted.
    pub appendonly: bool,
    /// `appendfilename`: base name of the AOF files. Immutable at runtime.
    pub appendfilename: String,
    /// `appenddirname`: the AOF directory inside `dir`. Immutable at runtime.
    pub appenddirname: String,
    /// `appendfsync`: when to fsync the AOF.
    pub appendfsync: AppendFsync,
    /// `no-appendfsync-on-rewrite`: skip fsync while a rewrite/save runs.
    pub no_appendfsync_on_rewrite: bool,
    /// `auto-aof-rewrite-percentage`: rewrite when the AOF grew by this many
    /// percent over its size after the last rewrite (0 = never).
    pub auto_aof_rewrite_percentage: u32,
    /// `auto-aof-rewrite-min-size` bytes: no automatic rewrite below this.
    pub auto_aof_rewrite_min_size: u64,
    /// `aof-load-truncated`: load a truncated AOF tail with a warning
    /// instead of refusing to start.
    pub aof_load_truncated: bool,
    /// `aof-use-rdb-preamble`: write the rewritten base file as RDB.
    pub aof_use_rdb_preamble: bool,
    /// `aof-timestamp-enabled`: write `#TS:` annotations into the AOF.
    pub aof_timestamp_enabled: bool,
    /// `aof-rewrite-incremental-fsync`: fsync every 4 MB while rewriting.
    pub aof_rewrite_incremental_fsync: bool,
    /// `replicaof host port` (alias `slaveof`): the primary this server
    /// replicates, None for `replicaof no one`. Also kept current by the
    /// REPLICAOF command, as Redis's masterhost is, so CONFIG GET and
    /// CONFIG REWRITE show the primary followed now (repl/replica.rs).
    pub replicaof: Option<(String, u16)>,
    /// `aof-disable-auto-gc`: keep history AOF files after a rewrite.
    pub aof_disable_auto_gc: bool,
    /// `shutdown-on-sigint`: `SHUTDOWN_*` flags (0 = default: save if save
    /// points are set).
    pub shutdown_on_sigint: u8,
    /// `shutdown-on-sigterm`: like `shutdown_on_sigint`.
    pub shutdown_on_sigterm: u8,
    /// `rdb-key-save-delay` (hidden): microseconds to sleep per key saved
    /// (negative: nanoseconds busy-wait in Redis); for tests of BGSAVE.
    pub rdb_key_save_delay: i32,
    /// `key-load-delay` (hidden): like `rdb_key_save_delay`, per key loaded.
    pub key_load_delay: i32,
    /// `loading-process-events-interval-bytes` (hidden): serve clients
    /// (with -LOADING) every this many bytes while loading.
    pub loading_process_events_interval_bytes: u64,
    /// `slowlog-log-slower-than` microseconds (-1 = off, 0 = log all).
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`.
    pub slowlog_max_len: u64,
    /// `latency-monitor-threshold` milliseconds (0 = off), LATENCY's events.
    pub latency_monitor_threshold: u64,
    /// `enable-protected-configs`: may CONFIG SET change `dir`/`dbfilename`?
    pub enable_protected_configs: ProtectedAction,
    /// `enable-debug-command`: may clients run DEBUG?
    pub enable_debug_command: ProtectedAction,
    /// `enable-module-command`: may clients run MODULE LOAD/UNLOAD?
    pub enable_module_command: ProtectedAction,
    /// `loadmodule` lines, in order. Not visible to CONFIG GET (as in Redis).
    pub loadmodule: Vec<LoadModule>,
    /// `user name rules...` lines (file / command line only, like Redis):
    /// the name and its rules, applied at start-up (acl/).
    pub users: Vec<Vec<Vec<u8>>>,
    /// `rename-command old new` lines, in order (file / command line only,
    /// like Redis); applied to the command table when the server starts.
    /// An empty new name removes the command.
    pub rename_command: Vec<(Vec<u8>, Vec<u8>)>,
    /// Absolute path of the config file given on the command line ("" = none),
    /// for INFO's `config_file`.
    pub config_file: String,
    /// Normalized values of stored-only directives that differ from their
    /// default, by canonical name.
    stored: Vec<(&'static str, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".to_string()],
            tcp_backlog: 511,
            unixsocket: String::new(),
            tcp_keepalive: 300,
            timeout: 0,
            protected_mode: true,
            maxclients: 10000,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            databases: 16,
            hz: 10,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            client_output_buffer_limit: OutputBufferLimits::default(),
            busy_reply_threshold: 5000,
            wasm_time_limit: crate::wasm::DEFAULT_TIME_LIMIT_MS,
            wasm_memory_limit: crate::wasm::DEFAULT_MEMORY_LIMIT,
            requirepass: String::new(),
            maxmemory: 0,
            maxmemory_policy: MaxmemoryPolicy::NoEviction.name().to_string(),
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            notify_keyspace_events: 0,
            loglevel: LogLevel::Notice.name().to_string(),
            logfile: String::new(),
            pidfile: String::new(),
            daemonize: false,
            dir: ".".to_string(),
            save: default_save_points(),
            save_from_file: false,
            dbfilename: "dump.rdb".to_string(),
            rdbcompression: true,
            rdbchecksum: true,
            rdb_del_sync_files: false,
            stop_writes_on_bgsave_error: true,
            sanitize_dump_payload: SanitizeDumpPayload::No,
            rdb_save_incremental_fsync: true,
            appendonly: false,
            appendfilename: "appendonly.aof".to_string(),
            appenddirname: "appendonlydir".to_string(),
            appendfsync: AppendFsync::Everysec,
            no_appendfsync_on_rewrite: false,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 << 20,
            aof_load_truncated: true,
            aof_use_rdb_preamble: true,
            aof_timestamp_enabled: false,
            aof_rewrite_incremental_fsync: true,
            replicaof: None,
            aof_disable_auto_gc: false,
            shutdown_on_sigint: 0,
            shutdown_on_sigterm: 0,
            rdb_key_save_delay: 0,
            key_load_delay: 0,
            loading_process_events_interval_bytes: 2 << 20,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            enable_protected_configs: ProtectedAction::No,
            enable_debug_command: ProtectedAction::No,
            enable_module_command: ProtectedAction::Local,
            loadmodule: Vec::new(),
            users: Vec::new(),
            rename_command: Vec::new(),
            config_file: String::new(),
            stored: Vec::new(),
        }
    }
}

impl Config {
    /// `loglevel` as an enum (`notice` if the field was set to garbage).
    pub fn log_level(&self) -> LogLevel {
        LogLevel::from_name(&self.loglevel).unwrap_or(LogLevel::Notice)
    }

    /// `maxmemory-policy` as an enum (`noeviction` if the field was garbage).
    pub fn eviction_policy(&self) -> MaxmemoryPolicy {
        MaxmemoryPolicy::from_name(&self.maxmemory_policy).unwrap_or(MaxmemoryPolicy::NoEviction)
    }

    /// A stored-only directive's value, or `default` when it has its default.
    pub fn stored_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.stored
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(default, |(_, v)| v.as_str())
    }

    /// `maxmemory-clients` in bytes (a percentage is of `maxmemory`; 0 = no limit).
    pub fn maxmemory_clients_bytes(&self) -> u64 {
        let v = self.stored_or("maxmemory-clients", "0");
        match v.strip_suffix('%') {
            Some(p) => p.parse::<u64>().map_or(0, |p| self.maxmemory / 100 * p),
            None => v.parse().unwrap_or(0),
        }
    }

    /// The encoding thresholds, for [`crate::store::encoding::configure`].
    pub fn encoding_thresholds(&self) -> crate::store::encoding::Thresholds {
        crate::store::encoding::Thresholds {
            hash_entries: self.hash_max_listpack_entries,
            hash_value: self.hash_max_listpack_value,
            zset_entries: self.zset_max_listpack_entries,
            zset_value: self.zset_max_listpack_value,
            intset_entries: self.set_max_intset_entries,
        }
    }

    /// The directives eviction reads, for [`crate::store::evict::Evictor::configure`].
    pub fn eviction_settings(&self) -> crate::store::evict::Settings {
        crate::store::evict::Settings {
            maxmemory: self.maxmemory,
            policy: self.eviction_policy(),
            samples: self.maxmemory_samples,
            tenacity: self.maxmemory_eviction_tenacity,
            lfu_log_factor: self.lfu_log_factor,
            lfu_decay_time: self.lfu_decay_time,
        }
    }
}
