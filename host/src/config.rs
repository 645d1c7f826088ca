//! Server configuration: the `Config` struct, redis.conf file syntax, the
//! `ember-server [config-file] [--directive value ...]` command line, and the
//! CONFIG GET / CONFIG SET semantics of Redis 7.0 (names, aliases, value
//! formats, error texts, all-or-nothing multi-parameter SET).
//!
//! This module owns *parsing, validation and formatting* only. Applying a value
//! (listening on a port, opening the log file, evicting keys, ...) is done by
//! the subsystem that reads the typed field. Directives fall in three groups:
//!
//! - typed fields on [`Config`] that the server honours (or will honour soon:
//!   each field's doc says which);
//! - directives accepted only with the value we can honour today (`save ""`,
//!   `appendonly no`, `daemonize no`, empty `unixsocket`), so that a user's
//!   config cannot silently ask for something we do not do;
//! - "stored-only" tuning knobs from the stock redis.conf (encoding thresholds,
//!   replication, lazyfree, ...): validated exactly like Redis and visible in
//!   CONFIG GET/SET, but with no effect. They are harmless to accept and make a
//!   Redis user's existing redis.conf load unchanged. See `STORED_ONLY` below.
//!
//! Error texts are Redis 7.0.15's, checked against the real server.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::util::glob::glob_match;

/// The Redis release whose behaviour and texts we mimic (it appears in the
/// fatal config error banner that users and tools grep for).
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

/// `--help` text, shaped like redis-server's.
pub const USAGE: &str = "Usage: ./ember-server [/path/to/redis.conf] [options] [-]
       ./ember-server - (read config from stdin)
       ./ember-server -v or --version
       ./ember-server -h or --help

Examples:
       ./ember-server (run the server with default conf)
       echo 'maxmemory 128mb' | ./ember-server -
       ./ember-server /etc/redis/6379.conf
       ./ember-server --port 7777
       ./ember-server /etc/myredis.conf --loglevel verbose -
       ./ember-server /etc/myredis.conf --loglevel verbose
";

/// Include nesting limit. Redis has none and overflows its stack on a config
/// that includes itself; we report a config error instead.
const MAX_INCLUDE_DEPTH: usize = 32;

/// Redis's CONFIG_BINDADDR_MAX.
const MAX_BIND_ADDRESSES: usize = 16;

/// Persistence is not implemented yet: these gate `save <s> <c>` and
/// `appendonly yes`. Flip them when RDB / AOF land; parsing is already complete.
const SNAPSHOTS_SUPPORTED: bool = false;
const AOF_SUPPORTED: bool = true;

// C's INT_MAX / LONG_MAX / LLONG_MAX as used by Redis's bounds (LP64).
const INT_MAX: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

// Keyspace notification classes (`notify-keyspace-events`), same bits as Redis.
pub const NOTIFY_KEYSPACE: u32 = 1 << 0; // K
pub const NOTIFY_KEYEVENT: u32 = 1 << 1; // E
pub const NOTIFY_GENERIC: u32 = 1 << 2; // g
pub const NOTIFY_STRING: u32 = 1 << 3; // $
pub const NOTIFY_LIST: u32 = 1 << 4; // l
pub const NOTIFY_SET: u32 = 1 << 5; // s
pub const NOTIFY_HASH: u32 = 1 << 6; // h
pub const NOTIFY_ZSET: u32 = 1 << 7; // z
pub const NOTIFY_EXPIRED: u32 = 1 << 8; // x
pub const NOTIFY_EVICTED: u32 = 1 << 9; // e
pub const NOTIFY_STREAM: u32 = 1 << 10; // t
pub const NOTIFY_KEY_MISS: u32 = 1 << 11; // m (deliberately not part of A)
pub const NOTIFY_MODULE: u32 = 1 << 13; // d
pub const NOTIFY_NEW: u32 = 1 << 14; // n (deliberately not part of A)
/// What `A` stands for: every class except key-miss and new-key events.
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

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

            fn parse(v: &[u8]) -> Result<Self, String> {
                enum_value(v, Self::ALL)
            }
        }
    };
}

config_enum!(
    /// `loglevel`. `nothing` is Redis 7.2's; accepted because users ask for it.
    LogLevel {
        Debug => "debug",
        Verbose => "verbose",
        Notice => "notice",
        Warning => "warning",
        Nothing => "nothing",
    }
);

config_enum!(
    /// `maxmemory-policy`.
    MaxmemoryPolicy {
        VolatileLru => "volatile-lru",
        VolatileLfu => "volatile-lfu",
        VolatileRandom => "volatile-random",
        VolatileTtl => "volatile-ttl",
        AllkeysLru => "allkeys-lru",
        AllkeysLfu => "allkeys-lfu",
        AllkeysRandom => "allkeys-random",
        NoEviction => "noeviction",
    }
);

config_enum!(
    /// `appendfsync`.
    AppendFsync {
        Everysec => "everysec",
        Always => "always",
        No => "no",
    }
);

config_enum!(
    /// `enable-protected-configs`, `enable-debug-command`, `enable-module-command`:
    /// `local` means "only for clients connected over loopback / unix socket".
    ProtectedAction {
        No => "no",
        Yes => "yes",
        Local => "local",
    }
);

impl ProtectedAction {
    /// Whether a client (local or not) may perform the guarded action.
    pub fn allows(self, client_is_local: bool) -> bool {
        match self {
            ProtectedAction::Yes => true,
            ProtectedAction::Local => client_is_local,
            ProtectedAction::No => false,
        }
    }
}

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
    /// `tcp-backlog`. Immutable at runtime.
    pub tcp_backlog: u32,
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
    /// `maxmemory` bytes (0 = no limit). Stored; enforcement comes later.
    pub maxmemory: u64,
    /// `maxmemory-policy`. Stored; enforcement comes later.
    /// Always one of [`MaxmemoryPolicy`]'s names; see [`Config::eviction_policy`].
    pub maxmemory_policy: String,
    /// `notify-keyspace-events` as `NOTIFY_*` bits. Stored; enforcement later.
    pub notify_keyspace_events: u32,
    /// `loglevel`: always one of [`LogLevel`]'s names; see [`Config::log_level`].
    pub loglevel: String,
    /// `logfile` ("" = stdout). Relative paths are relative to `dir`, as in
    /// Redis (which chdir()s into `dir`). Immutable at runtime.
    pub logfile: String,
    /// `pidfile` ("" = none). Immutable at runtime.
    pub pidfile: String,
    /// `daemonize`: only `no` is accepted; run under a supervisor instead.
    pub daemonize: bool,
    /// `dir`: working directory for persistence files. After a `dir`
    /// directive this is a canonical absolute path (Redis chdir()s there while
    /// reading the config, so later relative paths resolve against it; we
    /// resolve the same way without changing the process's cwd). `main` should
    /// chdir() into it at startup to match Redis for relative paths.
    /// A protected config, like in Redis.
    pub dir: String,
    /// `save` points as (seconds, changes). Only `save ""` is accepted until
    /// RDB snapshots exist, so this is always empty for now.
    pub save: Vec<(u64, u64)>,
    /// `appendonly`: only `no` is accepted until the AOF exists.
    pub appendonly: bool,
    /// `appendfsync`. Stored until the AOF exists.
    pub appendfsync: AppendFsync,
    /// `dbfilename`. Stored until RDB exists. A protected config, like Redis.
    pub dbfilename: String,
    /// `appendfilename`. Stored until the AOF exists. Immutable at runtime.
    pub appendfilename: String,
    /// `appenddirname`. Stored until the AOF exists. Immutable at runtime.
    pub appenddirname: String,
    /// `slowlog-log-slower-than` microseconds (-1 = off, 0 = log all).
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`.
    pub slowlog_max_len: u64,
    /// `enable-protected-configs`: may CONFIG SET change `dir`/`dbfilename`?
    pub enable_protected_configs: ProtectedAction,
    /// `enable-debug-command`: may clients run DEBUG?
    pub enable_debug_command: ProtectedAction,
    /// `enable-module-command`: may clients run MODULE LOAD/UNLOAD?
    pub enable_module_command: ProtectedAction,
    /// `loadmodule` lines, in order. Not visible to CONFIG GET (as in Redis).
    pub loadmodule: Vec<LoadModule>,
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
            notify_keyspace_events: 0,
            loglevel: LogLevel::Notice.name().to_string(),
            logfile: String::new(),
            pidfile: String::new(),
            daemonize: false,
            dir: ".".to_string(),
            save: Vec::new(),
            appendonly: false,
            appendfsync: AppendFsync::Everysec,
            dbfilename: "dump.rdb".to_string(),
            appendfilename: "appendonly.aof".to_string(),
            appenddirname: "appendonlydir".to_string(),
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            enable_protected_configs: ProtectedAction::No,
            enable_debug_command: ProtectedAction::No,
            enable_module_command: ProtectedAction::Local,
            loadmodule: Vec::new(),
            config_file: String::new(),
            stored: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// The directive table
// ---------------------------------------------------------------------------

/// CONFIG SET refuses it ("can't set immutable config").
const IMMUTABLE: u8 = 1;
/// CONFIG SET needs `enable-protected-configs` ("can't set protected config").
const PROTECTED: u8 = 2;
/// Takes a variable number of arguments (file: all the line's arguments, or a
/// single argument split like a config line; CONFIG SET: split on spaces).
const MULTI_ARG: u8 = 4;
/// Its value must be redacted from SLOWLOG / MONITOR / command logs.
const SENSITIVE: u8 = 8;

type GetFn = fn(&Config) -> String;
/// Sets from already-split arguments. `from_file` distinguishes the few
/// directives that accumulate over config lines (`save`).
type SetFn = fn(&mut Config, &[&[u8]], bool) -> Result<(), String>;

/// How a stored-only directive's value is validated and normalized.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int(i128, i128),
    Mem(i128, i128),
    Octal(i128, i128),
    /// (name, value id): several names may share an id; GET shows the first.
    Enum(&'static [(&'static str, u8)]),
    Str,
    /// Redis's oom-score-adj-values: three integers in -2000..=2000.
    OomValues,
}

#[derive(Clone, Copy)]
enum Access {
    Field(GetFn, SetFn),
    Stored(Kind, &'static str),
}

struct Spec {
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    access: Access,
}

const fn field(name: &'static str, flags: u8, get: GetFn, set: SetFn) -> Spec {
    Spec {
        name,
        alias: None,
        flags,
        access: Access::Field(get, set),
    }
}

const fn stored(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    kind: Kind,
    default: &'static str,
) -> Spec {
    Spec {
        name,
        alias,
        flags,
        access: Access::Stored(kind, default),
    }
}

const OOM_SCORE_ADJ: &[(&str, u8)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];

/// Every directive CONFIG GET/SET and the config file know, in CONFIG GET
/// output order. Typed fields first, then the stored-only group.
#[rustfmt::skip] // one stored-only directive per line reads best as a table
static SPECS: &[Spec] = &[
    field(
        "port",
        IMMUTABLE,
        |c| c.port.to_string(),
        |c, a, _| {
            c.port = int(one(a)?, 0, 65535)? as u16;
            Ok(())
        },
    ),
    field(
        "bind",
        IMMUTABLE | MULTI_ARG,
        |c| c.bind.join(" "),
        set_bind,
    ),
    field(
        "tcp-backlog",
        IMMUTABLE,
        |c| c.tcp_backlog.to_string(),
        |c, a, _| {
            c.tcp_backlog = int(one(a)?, 0, INT_MAX)? as u32;
            Ok(())
        },
    ),
    field(
        "tcp-keepalive",
        0,
        |c| c.tcp_keepalive.to_string(),
        |c, a, _| {
            c.tcp_keepalive = int(one(a)?, 0, INT_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "timeout",
        0,
        |c| c.timeout.to_string(),
        |c, a, _| {
            c.timeout = int(one(a)?, 0, INT_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "protected-mode",
        0,
        |c| yes_no(c.protected_mode),
        |c, a, _| {
            c.protected_mode = boolean(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "maxclients",
        0,
        |c| c.maxclients.to_string(),
        |c, a, _| {
            c.maxclients = int(one(a)?, 1, UINT_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "threads",
        IMMUTABLE,
        |c| c.threads.to_string(),
        |c, a, _| {
            c.threads = int(one(a)?, 1, 1024)? as usize;
            Ok(())
        },
    ),
    field(
        "databases",
        IMMUTABLE,
        |c| c.databases.to_string(),
        |c, a, _| {
            c.databases = int(one(a)?, 1, INT_MAX)? as usize;
            Ok(())
        },
    ),
    field(
        "hz",
        0,
        |c| c.hz.to_string(),
        |c, a, _| {
            // Redis takes any non-negative int and clamps: hz is a hint.
            c.hz = int(one(a)?, 0, INT_MAX)?.clamp(1, 500) as u32;
            Ok(())
        },
    ),
    field(
        "proto-max-bulk-len",
        0,
        |c| c.proto_max_bulk_len.to_string(),
        |c, a, _| {
            c.proto_max_bulk_len = mem(one(a)?, 1 << 20, LONG_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "client-query-buffer-limit",
        0,
        |c| c.client_query_buffer_limit.to_string(),
        |c, a, _| {
            c.client_query_buffer_limit = mem(one(a)?, 1 << 20, LONG_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "client-output-buffer-limit",
        MULTI_ARG,
        get_output_buffer_limits,
        set_output_buffer_limits,
    ),
    Spec {
        name: "busy-reply-threshold",
        alias: Some("lua-time-limit"),
        flags: 0,
        access: Access::Field(
            |c| c.busy_reply_threshold.to_string(),
            |c, a, _| {
                c.busy_reply_threshold = int(one(a)?, 0, LONG_MAX)? as u64;
                Ok(())
            },
        ),
    },
    field(
        "requirepass",
        SENSITIVE,
        |c| c.requirepass.clone(),
        |c, a, _| {
            c.requirepass = utf8(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "wasm-time-limit",
        0,
        |c| c.wasm_time_limit.to_string(),
        |c, a, _| {
            c.wasm_time_limit = int(one(a)?, 1, LONG_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "wasm-memory-limit",
        0,
        |c| c.wasm_memory_limit.to_string(),
        |c, a, _| {
            c.wasm_memory_limit = mem(one(a)?, 1 << 16, 4 << 30)? as u64;
            Ok(())
        },
    ),
    field(
        "maxmemory",
        0,
        |c| c.maxmemory.to_string(),
        |c, a, _| {
            c.maxmemory = mem(one(a)?, 0, ULLONG_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "maxmemory-policy",
        0,
        |c| c.maxmemory_policy.clone(),
        |c, a, _| {
            c.maxmemory_policy = MaxmemoryPolicy::parse(one(a)?)?.name().to_string();
            Ok(())
        },
    ),
    field(
        "notify-keyspace-events",
        0,
        |c| keyspace_events_to_string(c.notify_keyspace_events),
        |c, a, _| {
            c.notify_keyspace_events = keyspace_events_from_bytes(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "loglevel",
        0,
        |c| c.loglevel.clone(),
        |c, a, _| {
            c.loglevel = LogLevel::parse(one(a)?)?.name().to_string();
            Ok(())
        },
    ),
    field(
        "logfile",
        IMMUTABLE,
        |c| c.logfile.clone(),
        |c, a, _| {
            c.logfile = utf8(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "pidfile",
        IMMUTABLE,
        |c| c.pidfile.clone(),
        |c, a, _| {
            c.pidfile = utf8(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "daemonize",
        IMMUTABLE,
        |c| yes_no(c.daemonize),
        |c, a, _| {
            if boolean(one(a)?)? {
                return Err(
                    "daemonize yes is not supported: run ember-server in the foreground \
                            under a supervisor (systemd, docker, ...)"
                        .to_string(),
                );
            }
            c.daemonize = false;
            Ok(())
        },
    ),
    field("dir", PROTECTED, get_dir, set_dir),
    field("save", MULTI_ARG, get_save, set_save),
    field(
        "appendonly",
        0,
        |c| yes_no(c.appendonly),
        |c, a, _| {
            let on = boolean(one(a)?)?;
            if on && !AOF_SUPPORTED {
                return Err("appendonly yes is not supported yet (no AOF persistence); \
                            only 'no' is accepted"
                    .to_string());
            }
            c.appendonly = on;
            Ok(())
        },
    ),
    field(
        "appendfsync",
        0,
        |c| c.appendfsync.name().to_string(),
        |c, a, _| {
            c.appendfsync = AppendFsync::parse(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "dbfilename",
        PROTECTED,
        |c| c.dbfilename.clone(),
        |c, a, _| {
            let v = utf8(one(a)?)?;
            if !is_base_name(&v) {
                return Err("dbfilename can't be a path, just a filename".to_string());
            }
            c.dbfilename = v;
            Ok(())
        },
    ),
    field(
        "appendfilename",
        IMMUTABLE,
        |c| c.appendfilename.clone(),
        |c, a, _| {
            let v = utf8(one(a)?)?;
            if v.is_empty() {
                return Err("appendfilename can't be empty".to_string());
            }
            if !is_base_name(&v) {
                return Err("appendfilename can't be a path, just a filename".to_string());
            }
            c.appendfilename = v;
            Ok(())
        },
    ),
    field(
        "appenddirname",
        IMMUTABLE,
        |c| c.appenddirname.clone(),
        |c, a, _| {
            let v = utf8(one(a)?)?;
            if v.is_empty() {
                return Err("appenddirname can't be empty".to_string());
            }
            if !is_base_name(&v) {
                return Err("appenddirname can't be a path, just a dirname".to_string());
            }
            c.appenddirname = v;
            Ok(())
        },
    ),
    field(
        "unixsocket",
        IMMUTABLE,
        |_| String::new(),
        |_, a, _| {
            if !one(a)?.is_empty() {
                return Err("unixsocket is not supported yet; use port/bind".to_string());
            }
            Ok(())
        },
    ),
    field(
        "slowlog-log-slower-than",
        0,
        |c| c.slowlog_log_slower_than.to_string(),
        |c, a, _| {
            c.slowlog_log_slower_than = int(one(a)?, -1, i64::MAX as i128)? as i64;
            Ok(())
        },
    ),
    field(
        "slowlog-max-len",
        0,
        |c| c.slowlog_max_len.to_string(),
        |c, a, _| {
            c.slowlog_max_len = int(one(a)?, 0, LONG_MAX)? as u64;
            Ok(())
        },
    ),
    field(
        "enable-protected-configs",
        IMMUTABLE,
        |c| c.enable_protected_configs.name().to_string(),
        |c, a, _| {
            c.enable_protected_configs = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "enable-debug-command",
        IMMUTABLE,
        |c| c.enable_debug_command.name().to_string(),
        |c, a, _| {
            c.enable_debug_command = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
    ),
    field(
        "enable-module-command",
        IMMUTABLE,
        |c| c.enable_module_command.name().to_string(),
        |c, a, _| {
            c.enable_module_command = ProtectedAction::parse(one(a)?)?;
            Ok(())
        },
    ),
    // ---- STORED_ONLY: accepted, validated, shown by CONFIG GET, no effect. ----
    // They are in the stock redis.conf or commonly tuned, and ignoring them
    // cannot lose data or open access. Promote one to a typed field when a
    // subsystem starts honouring it.
    //
    // Process / OS.
    stored("always-show-logo", None, IMMUTABLE, Kind::Bool, "no"),
    stored("set-proc-title", None, IMMUTABLE, Kind::Bool, "yes"),
    stored("proc-title-template", None, 0, Kind::Str, "{title} {listen-addr} {server-mode}"),
    stored("supervised", None, IMMUTABLE, Kind::Enum(&[("upstart", 0), ("systemd", 1), ("auto", 2), ("no", 3)]), "no"),
    stored("unixsocketperm", None, IMMUTABLE, Kind::Octal(0, 0o777), "0"),
    stored("io-threads", None, IMMUTABLE, Kind::Int(1, 128), "1"),
    stored("io-threads-do-reads", None, IMMUTABLE, Kind::Bool, "no"),
    stored("disable-thp", None, IMMUTABLE, Kind::Bool, "yes"),
    stored("oom-score-adj", None, 0, Kind::Enum(OOM_SCORE_ADJ), "no"),
    stored("oom-score-adj-values", None, MULTI_ARG, Kind::OomValues, "0 200 800"),
    stored("jemalloc-bg-thread", None, 0, Kind::Bool, "yes"),
    stored("crash-log-enabled", None, 0, Kind::Bool, "yes"),
    stored("crash-memcheck-enabled", None, 0, Kind::Bool, "yes"),
    stored("shutdown-timeout", None, 0, Kind::Int(0, INT_MAX), "10"),
    stored("ignore-warnings", None, 0, Kind::Str, ""),
    // Keyspace housekeeping and eviction tuning.
    stored("activerehashing", None, 0, Kind::Bool, "yes"),
    stored("dynamic-hz", None, 0, Kind::Bool, "yes"),
    stored("activedefrag", None, 0, Kind::Bool, "no"),
    stored("active-expire-effort", None, 0, Kind::Int(1, 10), "1"),
    stored("maxmemory-samples", None, 0, Kind::Int(1, INT_MAX), "5"),
    stored("maxmemory-eviction-tenacity", None, 0, Kind::Int(0, 100), "10"),
    stored("lfu-log-factor", None, 0, Kind::Int(0, INT_MAX), "10"),
    stored("lfu-decay-time", None, 0, Kind::Int(0, INT_MAX), "1"),
    stored("lazyfree-lazy-eviction", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-expire", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-server-del", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-user-del", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-user-flush", None, 0, Kind::Bool, "no"),
    stored("latency-monitor-threshold", None, 0, Kind::Int(0, LONG_MAX), "0"),
    stored("latency-tracking", None, 0, Kind::Bool, "yes"),
    stored("acllog-max-len", None, 0, Kind::Int(0, LONG_MAX), "128"),
    stored("acl-pubsub-default", None, 0, Kind::Enum(&[("allchannels", 1), ("resetchannels", 0)]), "resetchannels"),
    stored("tracking-table-max-keys", None, 0, Kind::Int(0, LONG_MAX), "1000000"),
    stored("sanitize-dump-payload", None, 0, Kind::Enum(&[("no", 0), ("yes", 1), ("clients", 2)]), "no"),
    // Encoding thresholds (they shape OBJECT ENCODING in Redis).
    stored("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), 0, Kind::Int(0, LONG_MAX), "512"),
    stored("hash-max-listpack-value", Some("hash-max-ziplist-value"), 0, Kind::Mem(0, LONG_MAX), "64"),
    stored("list-max-listpack-size", Some("list-max-ziplist-size"), 0, Kind::Int(INT_MIN, INT_MAX), "-2"),
    stored("list-compress-depth", None, 0, Kind::Int(0, INT_MAX), "0"),
    stored("set-max-intset-entries", None, 0, Kind::Int(0, LONG_MAX), "512"),
    stored("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), 0, Kind::Int(0, LONG_MAX), "128"),
    stored("zset-max-listpack-value", Some("zset-max-ziplist-value"), 0, Kind::Mem(0, LONG_MAX), "64"),
    stored("hll-sparse-max-bytes", None, 0, Kind::Mem(0, LONG_MAX), "3000"),
    stored("stream-node-max-bytes", None, 0, Kind::Mem(0, LONG_MAX), "4096"),
    stored("stream-node-max-entries", None, 0, Kind::Int(0, LONG_MAX), "100"),
    // Persistence tuning (honoured once RDB / AOF exist).
    stored("stop-writes-on-bgsave-error", None, 0, Kind::Bool, "yes"),
    stored("rdbcompression", None, 0, Kind::Bool, "yes"),
    stored("rdbchecksum", None, IMMUTABLE, Kind::Bool, "yes"),
    stored("rdb-del-sync-files", None, 0, Kind::Bool, "no"),
    stored("rdb-save-incremental-fsync", None, 0, Kind::Bool, "yes"),
    stored("no-appendfsync-on-rewrite", None, 0, Kind::Bool, "no"),
    stored("auto-aof-rewrite-percentage", None, 0, Kind::Int(0, INT_MAX), "100"),
    stored("auto-aof-rewrite-min-size", None, 0, Kind::Mem(0, LONG_MAX), "67108864"),
    stored("aof-load-truncated", None, 0, Kind::Bool, "yes"),
    stored("aof-use-rdb-preamble", None, 0, Kind::Bool, "yes"),
    stored("aof-timestamp-enabled", None, 0, Kind::Bool, "no"),
    stored("aof-rewrite-incremental-fsync", None, 0, Kind::Bool, "yes"),
    // Replication knobs (we have no replication; `replicaof` itself is refused).
    stored("replica-serve-stale-data", Some("slave-serve-stale-data"), 0, Kind::Bool, "yes"),
    stored("replica-read-only", Some("slave-read-only"), 0, Kind::Bool, "yes"),
    stored("replica-lazy-flush", Some("slave-lazy-flush"), 0, Kind::Bool, "no"),
    stored("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), 0, Kind::Bool, "yes"),
    stored("replica-priority", Some("slave-priority"), 0, Kind::Int(0, INT_MAX), "100"),
    stored("replica-announce-ip", Some("slave-announce-ip"), 0, Kind::Str, ""),
    stored("repl-diskless-sync", None, 0, Kind::Bool, "yes"),
    stored("repl-diskless-sync-delay", None, 0, Kind::Int(0, INT_MAX), "5"),
    stored("repl-diskless-sync-max-replicas", None, 0, Kind::Int(0, INT_MAX), "0"),
    stored("repl-diskless-load", None, 0, Kind::Enum(&[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)]), "disabled"),
    stored("repl-disable-tcp-nodelay", None, 0, Kind::Bool, "no"),
    stored("repl-backlog-size", None, 0, Kind::Mem(1, LONG_MAX), "1048576"),
    stored("repl-backlog-ttl", None, 0, Kind::Int(0, LONG_MAX), "3600"),
    stored("repl-timeout", None, 0, Kind::Int(1, INT_MAX), "60"),
    stored("repl-ping-replica-period", Some("repl-ping-slave-period"), 0, Kind::Int(1, INT_MAX), "10"),
    stored("min-replicas-to-write", Some("min-slaves-to-write"), 0, Kind::Int(0, INT_MAX), "0"),
    stored("min-replicas-max-lag", Some("min-slaves-max-lag"), 0, Kind::Int(0, INT_MAX), "10"),
    stored("masterauth", None, SENSITIVE, Kind::Str, ""),
    stored("masteruser", None, SENSITIVE, Kind::Str, ""),
];

/// Config-file-only directives Redis 7.0 still accepts and ignores (with the
/// exact argument count it wants).
const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Finds a directive by name or alias, ASCII-case-insensitively. Returns the
/// spec index and whether the alias was used: Redis registers an alias as an
/// entry of its own, which shows in error texts and duplicate detection.
fn lookup(name: &[u8]) -> Option<(usize, bool)> {
    SPECS.iter().enumerate().find_map(|(i, s)| {
        if name.eq_ignore_ascii_case(s.name.as_bytes()) {
            Some((i, false))
        } else if s
            .alias
            .is_some_and(|a| name.eq_ignore_ascii_case(a.as_bytes()))
        {
            Some((i, true))
        } else {
            None
        }
    })
}

fn entry_name(idx: usize, via_alias: bool) -> &'static str {
    let spec = &SPECS[idx];
    match (via_alias, spec.alias) {
        (true, Some(alias)) => alias,
        _ => spec.name,
    }
}

/// True for directives whose values must not be echoed in SLOWLOG, MONITOR or
/// logs (Redis redacts CONFIG SET arguments of these).
pub fn is_sensitive(name: &[u8]) -> bool {
    lookup(name).is_some_and(|(i, _)| SPECS[i].flags & SENSITIVE != 0)
}

impl Config {
    // -----------------------------------------------------------------------
    // Command line and files
    // -----------------------------------------------------------------------

    /// `-v`/`--version` or `-h`/`--help` as the first argument (the only place
    /// redis-server looks). `main` checks this before [`Config::from_args`];
    /// `args` excludes the program name, as in `from_args`.
    pub fn cli_action(args: &[String]) -> Option<CliAction> {
        match args.first().map(String::as_str) {
            Some("-v" | "--version") => Some(CliAction::Version),
            Some("-h" | "--help") => Some(CliAction::Help),
            _ => None,
        }
    }

    /// Builds the configuration from redis-server style arguments, *without*
    /// the program name (`std::env::args().skip(1)`): an optional config file
    /// first (any first argument not starting with `-`), then
    /// `--directive value...` options, which override the file; `-` as the
    /// first or last argument reads config text from stdin (after the file).
    ///
    /// Like Redis, the options are turned into config lines appended to the
    /// file's text after a newline, so error line numbers count the same way.
    /// The error is the complete text to print on stderr before exiting 1.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        Self::from_args_with_stdin(args, &mut || {
            let mut buf = Vec::new();
            io::stdin().read_to_end(&mut buf).map(|_| buf)
        })
    }

    fn from_args_with_stdin(
        args: &[String],
        read_stdin: &mut dyn FnMut() -> io::Result<Vec<u8>>,
    ) -> Result<Config, String> {
        let mut cfg = Config::default();
        if args.is_empty() {
            return Ok(cfg);
        }
        let mut text = Vec::new();
        let mut first_option = 0;
        if !args[0].starts_with('-') {
            let path = absolute_path(&args[0]);
            cfg.config_file = path.clone();
            text = read_config_files(&path, Path::new(""))?;
            first_option = 1;
        }
        let (options, from_stdin) =
            options_to_config_text(&args[first_option..], first_option == 0);
        if from_stdin {
            match read_stdin() {
                Ok(bytes) => text.extend_from_slice(&bytes),
                Err(e) => return Err(format!("Can't read config from stdin: {}", strerror(&e))),
            }
        }
        text.push(b'\n');
        text.extend_from_slice(&options);
        cfg.load_text(&text, 0)?;
        cfg.check_logfile()?;
        Ok(cfg)
    }

    /// Parses redis.conf text on top of the defaults.
    pub fn parse_str(text: &str) -> Result<Config, String> {
        let mut cfg = Config::default();
        cfg.apply_str(text)?;
        Ok(cfg)
    }

    /// Applies redis.conf text on top of `self`; all-or-nothing. `include`
    /// paths are relative to the process's cwd (or to `dir` once set).
    pub fn apply_str(&mut self, text: &str) -> Result<(), String> {
        self.apply_bytes(text.as_bytes())
    }

    /// [`Config::apply_str`] for text that need not be UTF-8 (raw bytes and
    /// `"\xff"`-style escapes are legal in some values, e.g. module arguments).
    pub fn apply_bytes(&mut self, text: &[u8]) -> Result<(), String> {
        let mut next = self.clone();
        next.load_text(text, 0)?;
        *self = next;
        Ok(())
    }

    /// Redis's loadServerConfigFromString: one directive per line.
    fn load_text(&mut self, text: &[u8], depth: usize) -> Result<(), String> {
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let linenum = i + 1;
            let mut line = trim(raw, b" \t\r\n");
            // Redis parses lines as C strings: a NUL ends the line.
            if let Some(nul) = line.iter().position(|&b| b == 0) {
                line = &line[..nul];
            }
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fatal = |err: &str| fatal_error(Some((linenum, line)), err);
            let argv =
                split_args(line).ok_or_else(|| fatal("Unbalanced quotes in configuration line"))?;
            let Some(name) = argv.first() else { continue };
            let name = name.to_ascii_lowercase();

            if let Some((idx, _)) = lookup(&name) {
                let spec = &SPECS[idx];
                let multi = spec.flags & MULTI_ARG != 0;
                if !multi && argv.len() != 2 {
                    return Err(fatal("wrong number of arguments"));
                }
                // `bind "a b"` / `--save "3600 1 60 10"`: a single argument of a
                // multi-argument directive is split again (unless empty, so
                // `save ""` still means "no save points").
                let resplit;
                let args: Vec<&[u8]> = if multi && argv.len() == 2 && !argv[1].is_empty() {
                    resplit = split_args(&argv[1]).unwrap_or_default();
                    resplit.iter().map(Vec::as_slice).collect()
                } else {
                    argv[1..].iter().map(Vec::as_slice).collect()
                };
                self.set_spec(idx, &args, true).map_err(|e| fatal(&e))?;
                continue;
            }
            if argv.len() == 2 && DEPRECATED.iter().any(|d| d.as_bytes() == name.as_slice()) {
                continue;
            }
            match (name.as_slice(), argv.len()) {
                (b"include", 2) => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(fatal(&format!(
                            "include nesting too deep (more than {MAX_INCLUDE_DEPTH} levels)"
                        )));
                    }
                    let path = utf8(&argv[1]).map_err(|e| fatal(&e))?;
                    let content = read_config_files(&path, Path::new(&self.dir))?;
                    self.load_text(&content, depth + 1)?;
                }
                (b"loadmodule", n) if n >= 2 => {
                    let path = utf8(&argv[1]).map_err(|e| fatal(&e))?;
                    self.loadmodule.push(LoadModule {
                        path,
                        args: argv[2..].to_vec(),
                    });
                }
                _ => return Err(fatal("Bad directive or wrong number of arguments")),
            }
        }
        Ok(())
    }

    /// Redis checks at the end of loading that the log file can be opened
    /// for appending, so a typo fails at startup rather than silently.
    fn check_logfile(&self) -> Result<(), String> {
        if self.logfile.is_empty() {
            return Ok(());
        }
        let path = Path::new(&self.dir).join(&self.logfile);
        fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.flush())
            .map_err(|e| fatal_error(None, &format!("Can't open the log file: {}", strerror(&e))))
    }

    /// `loglevel` as an enum (`notice` if the field was set to garbage).
    pub fn log_level(&self) -> LogLevel {
        LogLevel::from_name(&self.loglevel).unwrap_or(LogLevel::Notice)
    }

    /// `maxmemory-policy` as an enum (`noeviction` if the field was garbage).
    pub fn eviction_policy(&self) -> MaxmemoryPolicy {
        MaxmemoryPolicy::from_name(&self.maxmemory_policy).unwrap_or(MaxmemoryPolicy::NoEviction)
    }

    // -----------------------------------------------------------------------
    // CONFIG GET / CONFIG SET
    // -----------------------------------------------------------------------

    /// CONFIG GET with one or more patterns (Redis 7.0). A pattern without
    /// `*`, `?` or `[` is an exact, case-insensitive lookup and the reply uses
    /// the name as the client spelled it (`CONFIG GET MAXMEMORY` answers
    /// `MAXMEMORY`). A glob pattern matches case-insensitively against every
    /// name *and* alias, so `*` lists both `busy-reply-threshold` and
    /// `lua-time-limit`. Each name appears once (case-insensitively).
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let seen = |out: &[(String, String)], name: &[u8]| {
            out.iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        };
        for &pattern in patterns {
            if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                if seen(&out, pattern) {
                    continue;
                }
                if let Some((idx, _)) = lookup(pattern) {
                    out.push((lossy(pattern), self.value(idx)));
                }
                continue;
            }
            for (idx, spec) in SPECS.iter().enumerate() {
                for name in std::iter::once(spec.name).chain(spec.alias) {
                    if !seen(&out, name.as_bytes()) && glob_match(pattern, name.as_bytes(), true) {
                        out.push((name.to_string(), self.value(idx)));
                    }
                }
            }
        }
        out
    }

    /// The CONFIG GET value of one directive by exact name or alias.
    pub fn get_one(&self, name: &str) -> Option<String> {
        lookup(name.as_bytes()).map(|(idx, _)| self.value(idx))
    }

    /// CONFIG SET from a client that is not local (see [`Config::set_from`]).
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        self.set_from(pairs, false)
    }

    /// CONFIG SET name value [name value ...], all-or-nothing, with Redis
    /// 7.0's checks in its order: first every name (unknown, immutable,
    /// protected, duplicate; the first problem wins), then every value in
    /// order. `client_is_local` matters only for `enable-protected-configs
    /// local`. The error is the full reply text after the `-`.
    ///
    /// An odd argument count is the caller's to reject ("ERR syntax error").
    pub fn set_from(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        client_is_local: bool,
    ) -> Result<(), String> {
        let failed = |name: &str, reason: &str| {
            reply_error(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            ))
        };
        let mut chosen: Vec<(usize, bool)> = Vec::with_capacity(pairs.len());
        for &(name, _) in pairs {
            let Some((idx, via_alias)) = lookup(name) else {
                return Err(reply_error(&format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    lossy(name)
                )));
            };
            let flags = SPECS[idx].flags;
            if flags & IMMUTABLE != 0 {
                return Err(failed(&lossy(name), "can't set immutable config"));
            }
            if flags & PROTECTED != 0 && !self.enable_protected_configs.allows(client_is_local) {
                return Err(failed(&lossy(name), "can't set protected config"));
            }
            // An alias and its primary name are distinct entries in Redis, so
            // `lua-time-limit 1 busy-reply-threshold 2` is not a duplicate.
            if chosen.contains(&(idx, via_alias)) {
                return Err(failed(&lossy(name), "duplicate parameter"));
            }
            chosen.push((idx, via_alias));
        }
        let mut next = self.clone();
        for (&(idx, via_alias), &(_, value)) in chosen.iter().zip(pairs) {
            // CONFIG SET splits multi-argument values on single spaces (not
            // like a config line): `save "3600 "` is ["3600", ""].
            let args: Vec<&[u8]> = if SPECS[idx].flags & MULTI_ARG != 0 {
                if value.is_empty() {
                    Vec::new()
                } else {
                    value.split(|&b| b == b' ').collect()
                }
            } else {
                vec![value]
            };
            next.set_spec(idx, &args, false)
                .map_err(|e| failed(entry_name(idx, via_alias), &e))?;
        }
        *self = next;
        Ok(())
    }

    fn value(&self, idx: usize) -> String {
        let spec = &SPECS[idx];
        match spec.access {
            Access::Field(get, _) => get(self),
            Access::Stored(_, default) => self
                .stored
                .iter()
                .find(|(n, _)| *n == spec.name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| default.to_string()),
        }
    }

    fn set_spec(&mut self, idx: usize, args: &[&[u8]], from_file: bool) -> Result<(), String> {
        let spec = &SPECS[idx];
        match spec.access {
            Access::Field(_, set) => set(self, args, from_file),
            Access::Stored(kind, default) => {
                let value = normalize(kind, args)?;
                self.stored.retain(|(n, _)| *n != spec.name);
                if value != default {
                    // Kept sorted so equal configs compare equal whatever
                    // order they were set in.
                    let at = self.stored.partition_point(|(n, _)| *n < spec.name);
                    self.stored.insert(at, (spec.name, value));
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Special directives
// ---------------------------------------------------------------------------

fn set_bind(c: &mut Config, a: &[&[u8]], _: bool) -> Result<(), String> {
    if a.len() > MAX_BIND_ADDRESSES {
        return Err("Too many bind addresses specified.".to_string());
    }
    // A single empty argument means "no addresses" (no TCP listener).
    let a = if a.len() == 1 && a[0].is_empty() {
        &[][..]
    } else {
        a
    };
    c.bind = a.iter().map(|v| utf8(v)).collect::<Result<_, _>>()?;
    Ok(())
}

fn get_dir(c: &Config) -> String {
    // Redis answers getcwd(): an absolute, symlink-free path.
    fs::canonicalize(&c.dir)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| c.dir.clone())
}

fn set_dir(c: &mut Config, a: &[&[u8]], _: bool) -> Result<(), String> {
    let arg = one(a)?;
    let arg = utf8(arg)?;
    // Redis chdir()s, so a relative `dir` is relative to the previous one.
    let path = Path::new(&c.dir).join(&arg);
    let meta = fs::metadata(&path).map_err(|e| strerror(&e))?;
    if !meta.is_dir() {
        return Err("Not a directory".to_string());
    }
    let canonical = fs::canonicalize(&path).map_err(|e| strerror(&e))?;
    c.dir = canonical.to_string_lossy().into_owned();
    Ok(())
}

fn get_save(c: &Config) -> String {
    let parts: Vec<String> = c.save.iter().map(|(s, n)| format!("{s} {n}")).collect();
    parts.join(" ")
}

fn set_save(c: &mut Config, a: &[&[u8]], from_file: bool) -> Result<(), String> {
    // A single "" means no save points.
    let a = if a.len() == 1 && a[0].is_empty() {
        &[][..]
    } else {
        a
    };
    if !a.len().is_multiple_of(2) {
        return Err("Invalid save parameters".to_string());
    }
    let mut points = Vec::with_capacity(a.len() / 2);
    for pair in a.chunks(2) {
        let secs = strtoll(pair[0]).filter(|&s| s >= 1);
        let changes = strtoll(pair[1]).filter(|&n| n >= 0);
        match (secs, changes) {
            (Some(s), Some(n)) => points.push((s as u64, n as u64)),
            _ => return Err("Invalid save parameters".to_string()),
        }
    }
    // Lines in a config file accumulate (`save 3600 1` then `save 60 100`);
    // CONFIG SET replaces. `save ""` always clears.
    let mut next = if from_file && !points.is_empty() {
        c.save.clone()
    } else {
        Vec::new()
    };
    next.extend(points);
    if !next.is_empty() && !SNAPSHOTS_SUPPORTED {
        return Err("RDB snapshots are not supported yet; only save \"\" is accepted".to_string());
    }
    c.save = next;
    Ok(())
}

fn get_output_buffer_limits(c: &Config) -> String {
    let l = &c.client_output_buffer_limit;
    [
        ("normal", l.normal),
        ("slave", l.replica),
        ("pubsub", l.pubsub),
    ]
    .iter()
    .map(|(class, l)| {
        format!(
            "{class} {} {} {}",
            l.hard_limit_bytes, l.soft_limit_bytes, l.soft_limit_seconds
        )
    })
    .collect::<Vec<_>>()
    .join(" ")
}

fn set_output_buffer_limits(c: &mut Config, a: &[&[u8]], _: bool) -> Result<(), String> {
    if !a.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".to_string());
    }
    // Validate every class before changing any.
    let mut next = c.client_output_buffer_limit;
    for group in a.chunks(4) {
        let class = group[0].to_ascii_lowercase();
        let slot = match class.as_slice() {
            b"normal" => &mut next.normal,
            b"slave" | b"replica" => &mut next.replica,
            b"pubsub" => &mut next.pubsub,
            _ => {
                return Err(
                    "Invalid client class specified in buffer limit configuration.".to_string(),
                )
            }
        };
        // Redis keeps soft_seconds in a C int, so it truncates like `as i32`.
        let secs = strtoll(group[3]).map(|s| s as i32);
        match (memtoull(group[1]), memtoull(group[2]), secs) {
            (Some(hard), Some(soft), Some(secs)) if secs >= 0 => {
                *slot = OutputBufferLimit {
                    hard_limit_bytes: hard,
                    soft_limit_bytes: soft,
                    soft_limit_seconds: secs as u64,
                };
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .to_string(),
                )
            }
        }
    }
    c.client_output_buffer_limit = next;
    Ok(())
}

const KEYSPACE_EVENT_CHARS: &[(u8, u32)] = &[
    (b'g', NOTIFY_GENERIC),
    (b'$', NOTIFY_STRING),
    (b'l', NOTIFY_LIST),
    (b's', NOTIFY_SET),
    (b'h', NOTIFY_HASH),
    (b'z', NOTIFY_ZSET),
    (b'x', NOTIFY_EXPIRED),
    (b'e', NOTIFY_EVICTED),
    (b't', NOTIFY_STREAM),
    (b'd', NOTIFY_MODULE),
    (b'n', NOTIFY_NEW),
    (b'A', NOTIFY_ALL),
    (b'K', NOTIFY_KEYSPACE),
    (b'E', NOTIFY_KEYEVENT),
    (b'm', NOTIFY_KEY_MISS),
];

/// Parses `notify-keyspace-events` classes (e.g. "KEA", "Ex") into bits.
pub fn keyspace_events_from_bytes(v: &[u8]) -> Result<u32, String> {
    let mut flags = 0;
    for &ch in v.iter().take_while(|&&b| b != 0) {
        match KEYSPACE_EVENT_CHARS.iter().find(|(c, _)| *c == ch) {
            Some((_, bit)) => flags |= bit,
            None => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
        }
    }
    Ok(flags)
}

/// Formats keyspace event bits the way CONFIG GET shows them. Like Redis,
/// `A` replaces the classes it covers, and then `n` is not shown even if set.
pub fn keyspace_events_to_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        out.push('A');
    } else {
        for &(ch, bit) in &KEYSPACE_EVENT_CHARS[..11] {
            if flags & bit != 0 {
                out.push(ch as char);
            }
        }
    }
    for &(ch, bit) in &KEYSPACE_EVENT_CHARS[12..] {
        if flags & bit != 0 {
            out.push(ch as char);
        }
    }
    out
}

/// Validates a stored-only value and returns its CONFIG GET form.
fn normalize(kind: Kind, a: &[&[u8]]) -> Result<String, String> {
    match kind {
        Kind::Bool => Ok(yes_no(boolean(one(a)?)?)),
        Kind::Int(min, max) => Ok(int(one(a)?, min, max)?.to_string()),
        Kind::Mem(min, max) => Ok(mem(one(a)?, min, max)?.to_string()),
        Kind::Octal(min, max) => {
            let v = strtoll_radix(one(a)?, 8)
                .ok_or_else(|| "argument couldn't be parsed as an octal number".to_string())?;
            let v = v as i128;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min:o} and {max:o} inclusive"
                ));
            }
            Ok(format!("{v:o}"))
        }
        Kind::Enum(table) => {
            let id = enum_value_rev(one(a)?, table)?;
            // Several names can share a value (oom-score-adj yes/relative);
            // Redis shows the first.
            Ok(table
                .iter()
                .find(|(_, v)| *v == id)
                .map(|(n, _)| *n)
                .unwrap_or("unknown")
                .to_string())
        }
        Kind::Str => Ok(lossy(one(a)?)),
        Kind::OomValues => {
            if a.len() != 3 {
                return Err("wrong number of arguments".to_string());
            }
            let values = a
                .iter()
                .map(|v| strtoll(v).filter(|n| (-2000..=2000).contains(n)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                        .to_string()
                })?;
            Ok(values
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "))
        }
    }
}

// ---------------------------------------------------------------------------
// Value parsing, with Redis's rules and texts
// ---------------------------------------------------------------------------

/// Exactly one argument (guaranteed by the callers; checked so a table
/// mistake is an error rather than a panic).
fn one<'a>(a: &[&'a [u8]]) -> Result<&'a [u8], String> {
    match a {
        [v] => Ok(v),
        _ => Err("wrong number of arguments".to_string()),
    }
}

fn boolean(v: &[u8]) -> Result<bool, String> {
    if v.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".to_string())
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn enum_value<T: Copy>(v: &[u8], table: &[(T, &str)]) -> Result<T, String> {
    table
        .iter()
        .find(|(_, name)| v.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(val, _)| *val)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(_, n)| *n).collect();
            format!(
                "argument(s) must be one of the following: {}",
                names.join(", ")
            )
        })
}

// `Kind::Enum` tables are (name, id); adapt them to `enum_value`'s order.
fn enum_value_rev(v: &[u8], table: &[(&'static str, u8)]) -> Result<u8, String> {
    let flipped: Vec<(u8, &str)> = table.iter().map(|&(n, id)| (id, n)).collect();
    enum_value(v, &flipped)
}

/// An integer directive: Redis's string2ll (no sign, spaces, leading zeros
/// or overflow), then its bounds.
fn int(v: &[u8], min: i128, max: i128) -> Result<i128, String> {
    let n = string2ll(v).ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?
        as i128;
    bounded(n, min, max)
}

/// A memory directive (`64mb`, `1gb`, `100`): Redis's memtoull, then bounds.
fn mem(v: &[u8], min: i128, max: i128) -> Result<i128, String> {
    let n = memtoull(v).ok_or_else(|| "argument must be a memory value".to_string())? as i128;
    bounded(n, min, max)
}

fn bounded(n: i128, min: i128, max: i128) -> Result<i128, String> {
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

/// Redis's string2ll: optional '-', no leading zeros (except "0"), digits
/// only, fits in i64.
fn string2ll(v: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21: longer strings are never numbers.
    if v.is_empty() || v.len() >= 21 {
        return None;
    }
    if v == b"0" {
        return Some(0);
    }
    let (negative, digits) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut acc: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(acc)
    } else {
        i64::try_from(acc).ok()
    }
}

/// Parses a memory value like Redis's memtoull: digits then an optional
/// case-insensitive unit: b, k (1000), kb (1024), m, mb, g, gb. As in Redis,
/// no digits means 0 (`""` and `"mb"` are 0), and too many digits saturate;
/// where Redis's multiplication wraps around we saturate instead.
pub fn memtoull(v: &[u8]) -> Option<u64> {
    if v.first() == Some(&b'-') {
        return None;
    }
    let split = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // Redis copies the digits into a 128-byte buffer first.
    if digits.len() >= 128 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    Some(n.saturating_mul(mul))
}

/// C's strtoll(s, &end, 10) followed by Redis's "*end == '\0'" check: leading
/// whitespace and a sign are fine, overflow saturates, and an empty string is
/// 0 (Redis relies on these in `save` and `client-output-buffer-limit`).
fn strtoll(v: &[u8]) -> Option<i64> {
    strtoll_radix(v, 10)
}

fn strtoll_radix(v: &[u8], radix: u32) -> Option<i64> {
    // C stops at NUL.
    let v = &v[..v.iter().position(|&b| b == 0).unwrap_or(v.len())];
    if v.is_empty() {
        return Some(0);
    }
    let start = v.iter().position(|&b| !is_c_space(b)).unwrap_or(v.len());
    let mut rest = &v[start..];
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest.is_empty() {
        // No conversion: end points at the start, which is not NUL here.
        return None;
    }
    let mut acc: i128 = 0;
    for &b in rest {
        let d = (b as char).to_digit(radix)?;
        acc = (acc * radix as i128 + d as i128).min(i64::MAX as i128 + 1);
    }
    let signed = if negative { -acc } else { acc };
    Some(signed.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// Path-like values must be text; Redis has no such rule (its strings are
/// bytes), but a lossy conversion would silently use another path.
fn utf8(v: &[u8]) -> Result<String, String> {
    String::from_utf8(v.to_vec()).map_err(|_| "argument must be valid UTF-8".to_string())
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn is_base_name(s: &str) -> bool {
    !s.contains('/') && !s.contains('\\')
}

/// Error replies must be one line (Redis's addReplyErrorFormat does the same).
fn reply_error(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

// ---------------------------------------------------------------------------
// Line syntax
// ---------------------------------------------------------------------------

/// C's isspace in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// Splits a line into arguments like Redis's sdssplitargs: blanks separate
/// arguments; "double quotes" support \n \r \t \b \a \xHH and \<any>;
/// 'single quotes' support \'; a quote may start mid-argument (`a"b c"` is
/// `ab c`) but a closing quote must be followed by a blank or the end.
/// Returns `None` for unbalanced quotes or text glued after a closing quote.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // C string semantics: NUL ends the input.
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_dq, mut in_sq, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_dq {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    current.push(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => current.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        args.push(current);
    }
}

fn hex_value(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or(0) as u8
}

/// Quotes an argument the way Redis's sdscatrepr does, so that
/// [`split_args`] gives it back unchanged.
fn repr(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Turns `--name value...` arguments into config lines exactly as
/// redis-server's main() does (so line numbers in errors match), and reports
/// whether `-` asked for stdin. `first_is_argv1` says whether `args[0]` is the
/// very first command-line argument (`-` counts there or as the last one).
fn options_to_config_text(args: &[String], first_is_argv1: bool) -> (Vec<u8>, bool) {
    let mut options = Vec::new();
    let mut from_stdin = false;
    // False right after a lone `--name`: the next argument is its value even
    // if it starts with `--` (`--requirepass --secret`).
    let mut handled_last = true;
    let n = args.len();
    for (j, arg) in args.iter().enumerate() {
        let next_is_option = args.get(j + 1).is_some_and(|a| a.starts_with("--"));
        if arg == "-" && ((j == 0 && first_is_argv1) || j + 1 == n) {
            from_stdin = true;
        } else if handled_last && arg.starts_with("--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&arg.as_bytes()[2..]);
            options.push(b' ');
            let words = split_args(arg.as_bytes()).map_or(0, |w| w.len());
            if words == 1 {
                handled_last = false;
                // `--save` with no value (followed by another option or at the
                // end) means `save ""`, for pre-7.0 compatibility.
                if arg.eq_ignore_ascii_case("--save") && (j + 1 == n || next_is_option) {
                    options.extend_from_slice(b"\"\"");
                    handled_last = true;
                }
            } else {
                // `"--port 6380"` as one argument carries its own value.
                handled_last = true;
            }
        } else {
            repr(arg.as_bytes(), &mut options);
            options.push(b' ');
            handled_last = true;
        }
    }
    (options, from_stdin)
}

/// The text redis-server prints before exiting on a bad config.
fn fatal_error(at: Option<(usize, &[u8])>, err: &str) -> String {
    let mut s = format!("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_COMPAT_VERSION}) ***\n");
    if let Some((linenum, line)) = at {
        s.push_str(&format!(
            "Reading the configuration file, at line {linenum}\n>>> '{}'\n",
            lossy(line)
        ));
    }
    s.push_str(err);
    s
}

/// io::Error as C's strerror text ("No such file or directory"), without
/// Rust's " (os error N)" suffix.
fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => s[..i].to_string(),
        _ => s,
    }
}

fn absolute_path(p: &str) -> String {
    if p.starts_with('/') {
        return p.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(p).to_string_lossy().into_owned(),
        Err(_) => p.to_string(),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Reads a config file, or every file a wildcard pattern matches (sorted,
/// concatenated; no match is not an error, so an empty conf.d is fine), as
/// Redis's loadServerConfig does. Relative paths resolve against `base`.
fn read_config_files(path: &str, base: &Path) -> Result<Vec<u8>, String> {
    let cant_open = |shown: &str, e: &io::Error| {
        format!(
            "Fatal error, can't open config file '{shown}': {}",
            strerror(e)
        )
    };
    if !has_wildcard(path) {
        return read_one_config(&base.join(path)).map_err(|e| cant_open(path, &e));
    }
    let mut text = Vec::new();
    for file in glob_paths(path, base) {
        let content = read_one_config(&file).map_err(|e| cant_open(&file.to_string_lossy(), &e))?;
        text.extend_from_slice(&content);
    }
    Ok(text)
}

/// A directory opens fine in C and reads as nothing; match that.
fn read_one_config(path: &Path) -> io::Result<Vec<u8>> {
    if fs::metadata(path)?.is_dir() {
        return Ok(Vec::new());
    }
    fs::read(path)
}

/// A small glob(3): wildcards may appear in any path component, hidden names
/// need a pattern starting with '.', results are sorted. Component patterns
/// use Redis's matcher, with POSIX's `[!...]` negation translated.
fn glob_paths(pattern: &str, base: &Path) -> Vec<PathBuf> {
    let mut current: Vec<PathBuf> = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    }];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        if !has_wildcard(comp) {
            next = current.iter().map(|p| p.join(comp)).collect();
        } else {
            let pat = comp.replace("[!", "[^");
            for dir in &current {
                let listing = if dir.as_os_str().is_empty() {
                    fs::read_dir(".")
                } else {
                    fs::read_dir(dir)
                };
                let Ok(entries) = listing else { continue };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || comp.starts_with('.'))
                    .filter(|n| glob_match(pat.as_bytes(), n.as_bytes(), false))
                    .collect();
                names.sort();
                next.extend(names.iter().map(|n| dir.join(n)));
            }
        }
        current = next;
    }
    current.retain(|p| p.exists());
    current.sort();
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A fresh scratch directory per test (no tempfile crate here).
    fn scratch() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ember-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    fn write(dir: &Path, name: &str, content: &str) -> String {
        let p = dir.join(name);
        fs::write(&p, content).expect("write test file");
        p.to_string_lossy().into_owned()
    }

    fn no_stdin() -> io::Result<Vec<u8>> {
        Err(io::Error::other("stdin not expected"))
    }

    fn fatal(line: usize, text: &str, err: &str) -> String {
        format!("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{err}")
    }

    fn get1(c: &Config, name: &str) -> String {
        c.get_one(name).expect("known directive")
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.port, 6379);
        assert_eq!(c.bind, vec!["127.0.0.1"]);
        assert_eq!(c.databases, 16);
        assert_eq!(c.dir, ".");
        assert_eq!(c.maxclients, 10000);
        assert_eq!(c.timeout, 0);
        assert_eq!(c.tcp_keepalive, 300);
        assert_eq!(c.hz, 10);
        assert_eq!(c.loglevel, "notice");
        assert_eq!(c.log_level(), LogLevel::Notice);
        assert_eq!(c.logfile, "");
        assert_eq!(c.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(c.client_query_buffer_limit, 1024 * 1024 * 1024);
        assert_eq!(c.requirepass, "");
        assert!(c.threads >= 1);
        assert!(c.protected_mode);
        assert_eq!(c.tcp_backlog, 511);
        assert_eq!(c.maxmemory, 0);
        assert_eq!(c.maxmemory_policy, "noeviction");
        assert_eq!(c.eviction_policy(), MaxmemoryPolicy::NoEviction);
        assert_eq!(c.notify_keyspace_events, 0);
        assert!(c.save.is_empty());
        assert!(!c.appendonly);
        assert!(!c.daemonize);
        assert_eq!(c.pidfile, "");
        assert_eq!(c.busy_reply_threshold, 5000);
        assert_eq!(Config::from_args(&[]).expect("no args"), c);
    }

    #[test]
    fn every_default_value_round_trips_through_set() {
        // Each directive's CONFIG GET default must be accepted by its own
        // parser (catches table typos), and setting it must change nothing.
        let base = Config::default();
        for (idx, spec) in SPECS.iter().enumerate() {
            let mut c = base.clone();
            let v = c.value(idx);
            let parts: Vec<&[u8]> = if spec.flags & MULTI_ARG != 0 {
                if v.is_empty() {
                    vec![]
                } else {
                    v.as_bytes().split(|&b| b == b' ').collect()
                }
            } else {
                vec![v.as_bytes()]
            };
            if spec.name == "dir" {
                continue; // canonicalizes "." to an absolute path
            }
            c.set_spec(idx, &parts, false)
                .unwrap_or_else(|e| panic!("{}: default {v:?} rejected: {e}", spec.name));
            assert_eq!(c, base, "{} changed when set to its default", spec.name);
        }
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut all: Vec<&str> = SPECS
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.alias))
            .collect();
        for n in &all {
            assert_eq!(*n, n.to_ascii_lowercase());
        }
        all.sort();
        let len = all.len();
        all.dedup();
        assert_eq!(all.len(), len, "duplicate directive name");
    }

    // ---- line syntax ----

    #[test]
    fn split_args_like_sdssplitargs() {
        let s = |l: &str| split_args(l.as_bytes());
        let v = |xs: &[&str]| Some(xs.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(s("  foo   bar\tbaz "), v(&["foo", "bar", "baz"]));
        assert_eq!(s(""), v(&[]));
        assert_eq!(s("a \"b c\" 'd e'"), v(&["a", "b c", "d e"]));
        assert_eq!(s(r#""\n\r\t\\\"x""#), v(&["\n\r\t\\\"x"]));
        assert_eq!(s(r#""\x41\x4a""#), v(&["AJ"]));
        assert_eq!(s(r#""\xZZ""#), v(&["xZZ"]));
        assert_eq!(s(r#"'it\'s' 'a\b'"#), v(&["it's", "a\\b"]));
        assert_eq!(s(r#"ab"c d"e"#), None, "closing quote glued to text");
        assert_eq!(s(r#"ab"c d""#), v(&["abc d"]), "quote may start mid-word");
        assert_eq!(s(r#""abc"#), None);
        assert_eq!(s("'abc"), None);
        assert_eq!(s(r#""abc\"#), None);
        assert_eq!(s("\"\""), v(&[""]));
        assert_eq!(split_args(b"\"\\xff\\x00\""), Some(vec![vec![0xff, 0x00]]));
        assert_eq!(
            s("a\u{b}b"),
            v(&["a\u{b}b"]),
            "vertical tab only separates between args"
        );
    }

    #[test]
    fn repr_round_trips() {
        for sample in [
            "plain",
            "with space",
            "q\"uote",
            "back\\slash",
            "nl\n\r\t\x07\x08",
            "ünï",
            "",
        ] {
            let mut out = Vec::new();
            repr(sample.as_bytes(), &mut out);
            assert_eq!(
                split_args(&out),
                Some(vec![sample.as_bytes().to_vec()]),
                "{sample:?}"
            );
        }
    }

    // ---- value parsing ----

    #[test]
    fn memory_values() {
        assert_eq!(memtoull(b"100"), Some(100));
        assert_eq!(memtoull(b"1b"), Some(1));
        assert_eq!(memtoull(b"1k"), Some(1000));
        assert_eq!(memtoull(b"1kb"), Some(1024));
        assert_eq!(memtoull(b"1KB"), Some(1024));
        assert_eq!(memtoull(b"2m"), Some(2_000_000));
        assert_eq!(memtoull(b"2Mb"), Some(2 << 20));
        assert_eq!(memtoull(b"3g"), Some(3_000_000_000));
        assert_eq!(memtoull(b"3GB"), Some(3 << 30));
        assert_eq!(memtoull(b"007"), Some(7));
        // Redis quirks: no digits is zero.
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"mb"), Some(0));
        for bad in [
            "-1", "1.5mb", " 1", "1 ", "+1", "0x10", "1tb", "1kbb", "abc",
        ] {
            assert_eq!(memtoull(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(memtoull(b"99999999999999999999"), Some(u64::MAX));
        assert_eq!(memtoull(b"20000000000gb"), Some(u64::MAX));
        assert_eq!(memtoull(&[b'1'; 200]), None);
    }

    #[test]
    fn integer_values_follow_string2ll() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-5"), Some(-5));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "01",
            "+1",
            "-0",
            " 1",
            "1 ",
            "1.0",
            "-",
            "9223372036854775808",
            "1e3",
        ] {
            assert_eq!(string2ll(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(strtoll(b""), Some(0));
        assert_eq!(strtoll(b" +12"), Some(12));
        assert_eq!(strtoll(b"12x"), None);
        assert_eq!(strtoll(b"+"), None);
        assert_eq!(strtoll(b"99999999999999999999"), Some(i64::MAX));
        assert_eq!(strtoll(b"-99999999999999999999"), Some(i64::MIN));
    }

    #[test]
    fn keyspace_events_format_like_redis() {
        let f = |s: &str| {
            keyspace_events_to_string(keyspace_events_from_bytes(s.as_bytes()).expect("valid"))
        };
        assert_eq!(f(""), "");
        assert_eq!(f("KEA"), "AKE");
        assert_eq!(f("AKEnm"), "AKEm", "Redis hides n next to A");
        assert_eq!(f("Ex$lg"), "g$lxE");
        assert_eq!(f("g$lshzxetd"), "A", "all classes collapse to A");
        assert_eq!(
            keyspace_events_from_bytes(b"Q"),
            Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())
        );
    }

    // ---- config text ----

    #[test]
    fn parses_file_syntax() {
        let c = Config::parse_str(
            "# a comment\n\
             \n\
             PORT 7000\n\
             \t  bind 127.0.0.1 ::1  \r\n\
             maxmemory 100mb\n\
             MaxMemory-Policy ALLKEYS-LRU\n\
             requirepass \"p w\\x21\"\n\
             timeout '30'\n\
             loglevel warning\n\
             notify-keyspace-events Ex\n\
             hz 1000\n\
             lua-time-limit 100\n\
             save \"\"\n\
             appendonly no\n\
             logfile \"\"\n\
             client-output-buffer-limit pubsub 64mb 16mb 90\n\
             client-output-buffer-limit replica 1 2 3\n\
             hash-max-ziplist-entries 64\n\
             list-max-ziplist-entries 512\n\
             loadmodule /opt/bloom.wasm 0.01 1000\n\
             threads 1\n",
        )
        .expect("valid config");
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.maxmemory, 100 << 20);
        assert_eq!(
            c.maxmemory_policy, "allkeys-lru",
            "normalized to lower case"
        );
        assert_eq!(c.eviction_policy(), MaxmemoryPolicy::AllkeysLru);
        assert_eq!(c.requirepass, "p w!");
        assert_eq!(c.timeout, 30);
        assert_eq!(c.log_level(), LogLevel::Warning);
        assert_eq!(c.notify_keyspace_events, NOTIFY_KEYEVENT | NOTIFY_EXPIRED);
        assert_eq!(c.hz, 500, "hz is clamped, not refused");
        assert_eq!(c.busy_reply_threshold, 100);
        assert_eq!(
            c.client_output_buffer_limit.pubsub.hard_limit_bytes,
            64 << 20
        );
        assert_eq!(c.client_output_buffer_limit.pubsub.soft_limit_seconds, 90);
        assert_eq!(c.client_output_buffer_limit.replica.soft_limit_bytes, 2);
        assert_eq!(
            c.client_output_buffer_limit.normal,
            OutputBufferLimit {
                hard_limit_bytes: 0,
                soft_limit_bytes: 0,
                soft_limit_seconds: 0
            }
        );
        assert_eq!(get1(&c, "hash-max-listpack-entries"), "64");
        assert_eq!(
            c.loadmodule,
            vec![LoadModule {
                path: "/opt/bloom.wasm".into(),
                args: vec![b"0.01".to_vec(), b"1000".to_vec()]
            }]
        );
        assert_eq!(c.threads, 1);
    }

    #[test]
    fn stock_redis_conf_directives_load() {
        // The uncommented lines of Redis 7.0's redis.conf, minus `dir ./`
        // (relative to the test's cwd, still fine) and `pidfile`.
        let stock = r#"
bind 127.0.0.1 -::1
protected-mode yes
port 6379
tcp-backlog 511
timeout 0
tcp-keepalive 300
daemonize no
pidfile /var/run/redis_6379.pid
loglevel notice
logfile ""
databases 16
always-show-logo no
set-proc-title yes
proc-title-template "{title} {listen-addr} {server-mode}"
stop-writes-on-bgsave-error yes
rdbcompression yes
rdbchecksum yes
dbfilename dump.rdb
rdb-del-sync-files no
dir ./
replica-serve-stale-data yes
replica-read-only yes
repl-diskless-sync yes
repl-diskless-sync-delay 5
repl-diskless-sync-max-replicas 0
repl-diskless-load disabled
repl-disable-tcp-nodelay no
replica-priority 100
acllog-max-len 128
lazyfree-lazy-eviction no
lazyfree-lazy-expire no
lazyfree-lazy-server-del no
replica-lazy-flush no
lazyfree-lazy-user-del no
lazyfree-lazy-user-flush no
oom-score-adj no
oom-score-adj-values 0 200 800
disable-thp yes
appendonly no
appendfilename "appendonly.aof"
appenddirname "appendonlydir"
appendfsync everysec
no-appendfsync-on-rewrite no
auto-aof-rewrite-percentage 100
auto-aof-rewrite-min-size 64mb
aof-load-truncated yes
aof-use-rdb-preamble yes
aof-timestamp-enabled no
 
slowlog-log-slower-than 10000
slowlog-max-len 128
latency-monitor-threshold 0
notify-keyspace-events ""
hash-max-listpack-entries 512
hash-max-listpack-value 64
list-max-listpack-size -2
list-compress-depth 0
set-max-intset-entries 512
zset-max-listpack-entries 128
zset-max-listpack-value 64
hll-sparse-max-bytes 3000
stream-node-max-bytes 4096
stream-node-max-entries 100
activerehashing yes
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit replica 256mb 64mb 60
client-output-buffer-limit pubsub 32mb 8mb 60
hz 10
dynamic-hz yes
aof-rewrite-incremental-fsync yes
rdb-save-incremental-fsync yes
jemalloc-bg-thread yes
"#;
        let c = Config::parse_str(stock).expect("stock redis.conf loads");
        assert_eq!(c.bind, vec!["127.0.0.1", "-::1"]);
        assert_eq!(c.pidfile, "/var/run/redis_6379.pid");
        let expected = Config {
            bind: c.bind.clone(),
            pidfile: c.pidfile.clone(),
            dir: c.dir.clone(),
            ..Config::default()
        };
        assert_eq!(c, expected, "every other stock value is our default");
    }

    #[test]
    fn file_errors_match_redis() {
        let e = |t: &str| Config::parse_str(t).expect_err("must fail");
        assert_eq!(
            e("# comment\n\nport 0\n  foo bar  \n"),
            fatal(4, "foo bar", "Bad directive or wrong number of arguments")
        );
        assert_eq!(
            e("port 0\nport \"abc\n"),
            fatal(2, "port \"abc", "Unbalanced quotes in configuration line")
        );
        assert_eq!(
            e("port 0 # x\n"),
            fatal(1, "port 0 # x", "wrong number of arguments")
        );
        assert_eq!(
            e("maxmemory 1zz"),
            fatal(1, "maxmemory 1zz", "argument must be a memory value")
        );
        assert_eq!(
            e("port 70000"),
            fatal(
                1,
                "port 70000",
                "argument must be between 0 and 65535 inclusive"
            )
        );
        assert_eq!(
            e("port abc"),
            fatal(1, "port abc", "argument couldn't be parsed into an integer")
        );
        assert_eq!(e("port"), fatal(1, "port", "wrong number of arguments"));
        assert_eq!(
            e("protected-mode maybe"),
            fatal(1, "protected-mode maybe", "argument must be 'yes' or 'no'")
        );
        assert_eq!(
            e("maxmemory-policy lru"),
            fatal(
                1,
                "maxmemory-policy lru",
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, \
                 volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
            )
        );
        assert_eq!(
            e("loglevel loud"),
            fatal(1, "loglevel loud", "argument(s) must be one of the following: debug, verbose, notice, warning, nothing")
        );
        assert_eq!(
            e("save 3600"),
            fatal(1, "save 3600", "Invalid save parameters")
        );
        assert_eq!(
            e("save 0 1"),
            fatal(1, "save 0 1", "Invalid save parameters")
        );
        assert!(e("save 3600 1").contains("only save \"\" is accepted"));
        assert!(e("appendonly yes").contains("only 'no' is accepted"));
        assert!(e("daemonize yes").contains("daemonize yes is not supported"));
        assert!(e("unixsocket /tmp/x.sock").contains("unixsocket is not supported"));
        assert_eq!(
            e("include"),
            fatal(1, "include", "Bad directive or wrong number of arguments")
        );
        assert_eq!(
            e("rename-command FLUSHALL \"\""),
            fatal(
                1,
                "rename-command FLUSHALL \"\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            e("replicaof 127.0.0.1 6380"),
            fatal(
                1,
                "replicaof 127.0.0.1 6380",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            e("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"),
            fatal(
                1,
                "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
                "Too many bind addresses specified."
            )
        );
        assert_eq!(
            e("dbfilename a/b.rdb"),
            fatal(
                1,
                "dbfilename a/b.rdb",
                "dbfilename can't be a path, just a filename"
            )
        );
        assert_eq!(
            e("oom-score-adj-values 0 200 9000"),
            fatal(
                1,
                "oom-score-adj-values 0 200 9000",
                "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
            )
        );
        assert_eq!(
            e("unixsocketperm 800"),
            fatal(
                1,
                "unixsocketperm 800",
                "argument couldn't be parsed as an octal number"
            )
        );
        assert_eq!(
            e("unixsocketperm 1000"),
            fatal(
                1,
                "unixsocketperm 1000",
                "argument must be between 0 and 777 inclusive"
            )
        );
        assert_eq!(
            e("dir /nonexistent/ember"),
            fatal(1, "dir /nonexistent/ember", "No such file or directory")
        );
        assert_eq!(
            e("client-output-buffer-limit master 1 2 3"),
            fatal(
                1,
                "client-output-buffer-limit master 1 2 3",
                "Invalid client class specified in buffer limit configuration."
            )
        );
        // A NUL byte ends the line, as in C.
        assert_eq!(Config::default().apply_bytes(b"port 1\0garbage\n"), Ok(()));
    }

    #[test]
    fn deprecated_and_multi_arg_forms() {
        // Deprecated names are ignored only with exactly one argument.
        assert!(Config::parse_str("lua-replicate-commands yes").is_ok());
        assert!(Config::parse_str("lua-replicate-commands").is_err());
        // One quoted argument of a multi-arg directive is split again.
        let c = Config::parse_str("bind \"10.0.0.1 10.0.0.2\"").expect("valid");
        assert_eq!(c.bind, vec!["10.0.0.1", "10.0.0.2"]);
        // No argument at all means "none".
        let c = Config::parse_str("bind").expect("valid");
        assert!(c.bind.is_empty());
        let c = Config::parse_str("bind \"\"").expect("valid");
        assert!(c.bind.is_empty());
        let c = Config::parse_str("oom-score-adj-values \"1 2 3\"").expect("valid");
        assert_eq!(get1(&c, "oom-score-adj-values"), "1 2 3");
    }

    #[test]
    fn apply_str_is_atomic() {
        let mut c = Config::default();
        let err = c.apply_str("port 7000\nbogus\n").expect_err("bad line");
        assert!(err.contains("at line 2"));
        assert_eq!(c.port, 6379, "nothing applied");
        c.apply_str("port 7000").expect("valid");
        assert_eq!(c.port, 7000);
    }

    #[test]
    fn include_files_and_globs() {
        let dir = scratch();
        let inner = write(&dir, "inner.conf", "maxmemory 1mb\nport 7001\n");
        let main = write(
            &dir,
            "main.conf",
            &format!("port 7000\ninclude {inner}\ntimeout 5\n"),
        );
        let c = Config::from_args_with_stdin(&args(&[&main]), &mut no_stdin).expect("valid");
        assert_eq!(c.port, 7001, "include applies in place");
        assert_eq!(c.maxmemory, 1 << 20);
        assert_eq!(c.timeout, 5);
        assert_eq!(c.config_file, main);

        // An error inside an included file reports the included file's line.
        let bad = write(&dir, "bad.conf", "port 1\n\nnope\n");
        let err = Config::parse_str(&format!("port 0\ninclude {bad}\n")).expect_err("bad include");
        assert_eq!(
            err,
            fatal(3, "nope", "Bad directive or wrong number of arguments")
        );

        // Missing include: Redis's message, no line info.
        let missing = dir.join("missing.conf").to_string_lossy().into_owned();
        let err = Config::parse_str(&format!("include {missing}")).expect_err("missing");
        assert_eq!(
            err,
            format!("Fatal error, can't open config file '{missing}': No such file or directory")
        );

        // Wildcards: sorted, concatenated; no match is fine.
        let confd = dir.join("conf.d");
        fs::create_dir(&confd).expect("mkdir");
        write(&confd, "b.conf", "timeout 20\n");
        write(&confd, "a.conf", "timeout 10\ntcp-keepalive 7\n");
        write(&confd, ".hidden.conf", "timeout 99\n");
        let c = Config::parse_str(&format!("include {}/*.conf", confd.display())).expect("glob");
        assert_eq!((c.timeout, c.tcp_keepalive), (20, 7));
        let c = Config::parse_str(&format!("include {}/zz*.conf\nport 5", confd.display()))
            .expect("no match");
        assert_eq!(c.port, 5);
        // Line numbers continue across the concatenated files, like Redis.
        write(&confd, "c.conf", "oops\n");
        let err =
            Config::parse_str(&format!("include {}/*.conf", confd.display())).expect_err("bad");
        assert_eq!(
            err,
            fatal(4, "oops", "Bad directive or wrong number of arguments")
        );

        // A file including itself is an error, not a stack overflow.
        let selfinc = dir.join("self.conf");
        fs::write(&selfinc, format!("include {}\n", selfinc.display())).expect("write");
        let err = Config::parse_str(&format!("include {}", selfinc.display())).expect_err("loop");
        assert!(err.contains("include nesting too deep"), "{err}");

        // Relative includes resolve against `dir` once it is set (Redis chdir()s).
        let c = Config::parse_str(&format!("dir {}\ninclude inner.conf", dir.display()))
            .expect("relative");
        assert_eq!(c.port, 7001);
        let _ = fs::remove_dir_all(&dir);
    }

    // ---- command line ----

    #[test]
    fn command_line_overrides_file() {
        let dir = scratch();
        let conf = write(&dir, "ok.conf", "port 7000\nmaxmemory 1mb\n");
        let c = Config::from_args_with_stdin(
            &args(&[&conf, "--port", "7002", "--maxmemory-policy", "allkeys-lfu"]),
            &mut no_stdin,
        )
        .expect("valid");
        assert_eq!(c.port, 7002);
        assert_eq!(c.maxmemory, 1 << 20);
        assert_eq!(c.maxmemory_policy, "allkeys-lfu");

        let c = Config::from_args_with_stdin(
            &args(&[
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "::1",
                "--save",
                "",
                "--requirepass",
                "--secret",
            ]),
            &mut no_stdin,
        )
        .expect("valid");
        assert_eq!(c.port, 0);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(
            c.requirepass, "--secret",
            "a lone --name takes the next arg as value"
        );

        // `--save` with no value, mid-line or last.
        assert!(
            Config::from_args_with_stdin(&args(&["--save", "--port", "1"]), &mut no_stdin).is_ok()
        );
        assert!(
            Config::from_args_with_stdin(&args(&["--port", "1", "--save"]), &mut no_stdin).is_ok()
        );
        // Name and value in one argument.
        let c =
            Config::from_args_with_stdin(&args(&["--port 6380"]), &mut no_stdin).expect("valid");
        assert_eq!(c.port, 6380);
        // Values with quotes and spaces survive the round trip.
        let c =
            Config::from_args_with_stdin(&args(&["--requirepass", "a \"b\" c\\"]), &mut no_stdin)
                .expect("valid");
        assert_eq!(c.requirepass, "a \"b\" c\\");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn command_line_error_line_numbers_match_redis() {
        let dir = scratch();
        let conf = write(&dir, "ok.conf", "port 0\n");
        let noeol = write(&dir, "noeol.conf", "port 0");
        let run = |a: &[&str]| {
            Config::from_args_with_stdin(&args(a), &mut no_stdin).expect_err("must fail")
        };
        // Redis appends "\n" + options to the file text.
        assert_eq!(
            run(&[&conf, "--foo", "bar"]),
            fatal(
                3,
                "foo \"bar\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            run(&[&noeol, "--foo", "bar"]),
            fatal(
                2,
                "foo \"bar\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            run(&["--foo", "bar"]),
            fatal(
                2,
                "foo \"bar\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            run(&["--port", "0", "--foo"]),
            fatal(3, "foo", "Bad directive or wrong number of arguments")
        );
        assert_eq!(
            run(&[&conf, "--port", "0", "--maxmemory", "1", "2", "3"]),
            fatal(
                4,
                "maxmemory \"1\" \"2\" \"3\"",
                "wrong number of arguments"
            )
        );
        assert_eq!(
            run(&["--port", "0", "--requirepass", "--foo", "--bar", "1"]),
            fatal(4, "bar \"1\"", "Bad directive or wrong number of arguments")
        );
        // Not starting with "-" means a config file.
        let missing = dir.join("nope.conf").to_string_lossy().into_owned();
        assert_eq!(
            run(&[&missing]),
            format!("Fatal error, can't open config file '{missing}': No such file or directory")
        );
        // `-v` that main() did not intercept is just a bad directive.
        assert!(run(&["-v"]).contains("Bad directive"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn stdin_config() {
        let dir = scratch();
        let conf = write(&dir, "ok.conf", "port 0\n");
        let mut stdin = || Ok(b"port 7003\nmaxmemory 2mb\n".to_vec());
        let c = Config::from_args_with_stdin(&args(&["-"]), &mut stdin).expect("valid");
        assert_eq!((c.port, c.maxmemory), (7003, 2 << 20));
        // File, then stdin, then options.
        let c = Config::from_args_with_stdin(&args(&[&conf, "--timeout", "9", "-"]), &mut stdin)
            .expect("valid");
        assert_eq!((c.port, c.timeout), (7003, 9));
        let mut bad = || Ok(b"port 0\nfoo\n".to_vec());
        let err = Config::from_args_with_stdin(&args(&[&conf, "-"]), &mut bad).expect_err("bad");
        assert_eq!(
            err,
            fatal(3, "foo", "Bad directive or wrong number of arguments")
        );
        // A "-" in the middle is a value, not stdin.
        let err = Config::from_args_with_stdin(
            &args(&["--port", "1", "-", "--timeout", "2"]),
            &mut no_stdin,
        )
        .expect_err("extra arg");
        assert!(err.contains("port \"1\" \"-\""), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn logfile_is_checked_at_startup() {
        let dir = scratch();
        let log = dir.join("ember.log").to_string_lossy().into_owned();
        let c = Config::from_args_with_stdin(&args(&["--logfile", &log]), &mut no_stdin)
            .expect("valid");
        assert_eq!(c.logfile, log);
        assert!(Path::new(&log).exists());
        let err = Config::from_args_with_stdin(
            &args(&["--logfile", "/nonexistent/dir/x.log"]),
            &mut no_stdin,
        )
        .expect_err("unwritable");
        assert_eq!(
            err,
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nCan't open the log file: No such file or directory"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn cli_actions() {
        assert_eq!(Config::cli_action(&args(&["-v"])), Some(CliAction::Version));
        assert_eq!(
            Config::cli_action(&args(&["--version"])),
            Some(CliAction::Version)
        );
        assert_eq!(Config::cli_action(&args(&["-h"])), Some(CliAction::Help));
        assert_eq!(
            Config::cli_action(&args(&["--help", "x"])),
            Some(CliAction::Help)
        );
        assert_eq!(Config::cli_action(&args(&["--port", "-v"])), None);
        assert_eq!(Config::cli_action(&[]), None);
    }

    // ---- CONFIG GET ----

    fn get(c: &Config, pats: &[&str]) -> Vec<(String, String)> {
        let pats: Vec<&[u8]> = pats.iter().map(|p| p.as_bytes()).collect();
        c.get(&pats)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn config_get_exact_and_formats() {
        let mut c = Config::default();
        c.apply_str(
            "maxmemory 1gb\nbind 127.0.0.1 ::1\nnotify-keyspace-events KEA\nrequirepass s3cret",
        )
        .expect("valid");
        assert_eq!(
            get(&c, &["maxmemory"]),
            pairs(&[("maxmemory", "1073741824")])
        );
        // Exact names answer with the client's spelling.
        assert_eq!(
            get(&c, &["MAXMEMORY"]),
            pairs(&[("MAXMEMORY", "1073741824")])
        );
        assert_eq!(get(&c, &["PORT", "port"]), pairs(&[("PORT", "6379")]));
        assert_eq!(
            get(&c, &["lua-time-limit"]),
            pairs(&[("lua-time-limit", "5000")])
        );
        assert_eq!(get(&c, &["bind"]), pairs(&[("bind", "127.0.0.1 ::1")]));
        assert_eq!(
            get(&c, &["notify-keyspace-events"]),
            pairs(&[("notify-keyspace-events", "AKE")])
        );
        assert_eq!(
            get(&c, &["protected-mode", "maxmemory-policy"]),
            pairs(&[
                ("protected-mode", "yes"),
                ("maxmemory-policy", "noeviction")
            ])
        );
        assert_eq!(
            get(&c, &["requirepass"]),
            pairs(&[("requirepass", "s3cret")])
        );
        assert_eq!(
            get(&c, &["save", "appendonly", "pidfile"]),
            pairs(&[("save", ""), ("appendonly", "no"), ("pidfile", "")])
        );
        assert_eq!(
            get(&c, &["proto-max-bulk-len"]),
            pairs(&[("proto-max-bulk-len", "536870912")])
        );
        assert_eq!(
            get(&c, &["client-output-buffer-limit"]),
            pairs(&[(
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
            )])
        );
        assert_eq!(
            get(&c, &["unixsocketperm", "oom-score-adj-values"]),
            pairs(&[
                ("unixsocketperm", "0"),
                ("oom-score-adj-values", "0 200 800")
            ])
        );
        assert_eq!(get(&c, &["nonexistent"]), vec![]);
        assert_eq!(get(&c, &["loadmodule", "include"]), vec![], "not configs");
        // dir is shown absolute, like Redis's getcwd().
        let dir = get1(&c, "dir");
        assert!(dir.starts_with('/'), "{dir}");
    }

    #[test]
    fn config_get_globs() {
        let c = Config::default();
        let names = |v: Vec<(String, String)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        let mut max = names(get(&c, &["MAX*"]));
        max.sort();
        assert_eq!(
            max,
            vec![
                "maxclients",
                "maxmemory",
                "maxmemory-eviction-tenacity",
                "maxmemory-policy",
                "maxmemory-samples"
            ]
        );
        // Overlapping patterns: each name once.
        let both = names(get(&c, &["maxmemory", "max*", "*memory*"]));
        assert_eq!(both.iter().filter(|n| *n == "maxmemory").count(), 1);
        assert_eq!(both[0], "maxmemory");
        // Globs see aliases too.
        let mut busy = names(get(&c, &["*time-limit*", "busy*"]));
        busy.sort();
        assert_eq!(
            busy,
            vec!["busy-reply-threshold", "lua-time-limit", "wasm-time-limit"]
        );
        let all = get(&c, &["*"]);
        assert_eq!(
            all.len(),
            SPECS.len() + SPECS.iter().filter(|s| s.alias.is_some()).count()
        );
        assert!(all
            .iter()
            .any(|(n, v)| n == "slave-read-only" && v == "yes"));
        assert_eq!(names(get(&c, &["hz", "h?"])), vec!["hz"]);
        assert_eq!(names(get(&c, &["[ph]ort"])), vec!["port"]);
        assert_eq!(get(&c, &[]), vec![]);
    }

    // ---- CONFIG SET ----

    fn set(c: &mut Config, kv: &[(&str, &str)]) -> Result<(), String> {
        let kv: Vec<(&[u8], &[u8])> = kv
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        c.set(&kv)
    }

    fn failed(name: &str, reason: &str) -> Result<(), String> {
        Err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
        ))
    }

    #[test]
    fn config_set_values() {
        let mut c = Config::default();
        set(
            &mut c,
            &[
                ("maxmemory", "10mb"),
                ("MAXMEMORY-POLICY", "Volatile-TTL"),
                ("timeout", "30"),
            ],
        )
        .expect("ok");
        assert_eq!(
            (c.maxmemory, c.maxmemory_policy.as_str(), c.timeout),
            (10 << 20, "volatile-ttl", 30)
        );
        set(&mut c, &[("hz", "1000")]).expect("ok");
        assert_eq!(c.hz, 500);
        set(&mut c, &[("hz", "0")]).expect("ok");
        assert_eq!(c.hz, 1);
        set(&mut c, &[("requirepass", "pw")]).expect("ok");
        assert_eq!(c.requirepass, "pw");
        set(&mut c, &[("requirepass", "")]).expect("ok");
        assert_eq!(c.requirepass, "");
        let kv: Vec<(&[u8], &[u8])> = vec![(b"requirepass", b"\xff")];
        assert_eq!(
            c.set(&kv),
            failed("requirepass", "argument must be valid UTF-8")
        );
        set(&mut c, &[("appendonly", "NO"), ("save", "")]).expect("ok");
        set(&mut c, &[("notify-keyspace-events", "AKEnm")]).expect("ok");
        assert_eq!(get1(&c, "notify-keyspace-events"), "AKEm");
        set(
            &mut c,
            &[(
                "client-output-buffer-limit",
                "normal 1 2 3 replica 10mb 5mb 9",
            )],
        )
        .expect("ok");
        assert_eq!(
            get1(&c, "client-output-buffer-limit"),
            "normal 1 2 3 slave 10485760 5242880 9 pubsub 33554432 8388608 60"
        );
        set(&mut c, &[("oom-score-adj", "relative")]).expect("ok");
        assert_eq!(
            get1(&c, "oom-score-adj"),
            "yes",
            "Redis shows the first name of a value"
        );
        set(&mut c, &[("hash-max-ziplist-value", "1kb")]).expect("ok");
        assert_eq!(get1(&c, "hash-max-listpack-value"), "1024");
        // Alias and primary are separate entries: no duplicate, last wins.
        set(
            &mut c,
            &[("lua-time-limit", "1"), ("busy-reply-threshold", "2")],
        )
        .expect("ok");
        assert_eq!(c.busy_reply_threshold, 2);
        set(&mut c, &[("maxmemory", "")]).expect("Redis takes an empty memory value as 0");
        assert_eq!(c.maxmemory, 0);
        set(&mut c, &[]).expect("nothing to do");
    }

    #[test]
    fn config_set_errors_match_redis() {
        let mut c = Config::default();
        assert_eq!(
            set(&mut c, &[("foo", "bar")]),
            Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".to_string())
        );
        assert_eq!(
            set(&mut c, &[("port", "abc")]),
            failed("port", "can't set immutable config")
        );
        assert_eq!(
            set(&mut c, &[("DATABASES", "3")]),
            failed("DATABASES", "can't set immutable config")
        );
        assert_eq!(
            set(&mut c, &[("bind", "0.0.0.0")]),
            failed("bind", "can't set immutable config")
        );
        assert_eq!(
            set(&mut c, &[("dir", "/tmp")]),
            failed("dir", "can't set protected config")
        );
        assert_eq!(
            set(&mut c, &[("dbfilename", "x.rdb")]),
            failed("dbfilename", "can't set protected config")
        );
        assert_eq!(
            set(&mut c, &[("Maxmemory", "1"), ("MAXMEMORY", "2")]),
            failed("MAXMEMORY", "duplicate parameter")
        );
        assert_eq!(
            set(&mut c, &[("timeout", "x")]),
            failed("timeout", "argument couldn't be parsed into an integer")
        );
        assert_eq!(
            set(&mut c, &[("timeout", "2147483648")]),
            failed(
                "timeout",
                "argument must be between 0 and 2147483647 inclusive"
            )
        );
        assert_eq!(
            set(&mut c, &[("maxclients", "0")]),
            failed(
                "maxclients",
                "argument must be between 1 and 4294967295 inclusive"
            )
        );
        assert_eq!(
            set(&mut c, &[("MAXMEMORY", "1zz")]),
            failed("maxmemory", "argument must be a memory value")
        );
        assert_eq!(
            set(&mut c, &[("maxmemory", "-1")]),
            failed("maxmemory", "argument must be a memory value")
        );
        assert_eq!(
            set(&mut c, &[("proto-max-bulk-len", "1k")]),
            failed(
                "proto-max-bulk-len",
                "argument must be between 1048576 and 9223372036854775807 inclusive"
            )
        );
        assert_eq!(
            set(&mut c, &[("lua-time-limit", "abc")]),
            failed(
                "lua-time-limit",
                "argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            set(&mut c, &[("appendonly", "maybe")]),
            failed("appendonly", "argument must be 'yes' or 'no'")
        );
        assert_eq!(
            set(&mut c, &[("loglevel", "xx")]),
            failed("loglevel", "argument(s) must be one of the following: debug, verbose, notice, warning, nothing")
        );
        assert_eq!(
            set(&mut c, &[("save", "3600 1 300")]),
            failed("save", "Invalid save parameters")
        );
        assert_eq!(
            set(&mut c, &[("save", "  3600   1  ")]),
            failed("save", "Invalid save parameters")
        );
        assert_eq!(
            set(&mut c, &[("save", "3600 1")]),
            failed(
                "save",
                "RDB snapshots are not supported yet; only save \"\" is accepted"
            )
        );
        assert_eq!(
            set(&mut c, &[("notify-keyspace-events", "Q")]),
            failed(
                "notify-keyspace-events",
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
            )
        );
        assert_eq!(
            set(&mut c, &[("client-output-buffer-limit", "normal 1 2")]),
            failed(
                "client-output-buffer-limit",
                "Wrong number of arguments in buffer limit configuration."
            )
        );
        assert_eq!(
            set(&mut c, &[("client-output-buffer-limit", "normal 1x 2 3")]),
            failed(
                "client-output-buffer-limit",
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            )
        );
        // Error replies never contain line breaks.
        assert_eq!(
            set(&mut c, &[("a\r\nb", "1")]),
            Err("ERR Unknown option or number of arguments for CONFIG SET - 'a  b'".to_string())
        );
        assert_eq!(c, Config::default(), "no failed call changed anything");
    }

    #[test]
    fn config_set_is_all_or_nothing_and_ordered() {
        let mut c = Config::default();
        // A bad value after good ones: nothing applied.
        assert_eq!(
            set(
                &mut c,
                &[("maxmemory", "1mb"), ("timeout", "5"), ("hz", "xx")]
            ),
            failed("hz", "argument couldn't be parsed into an integer")
        );
        assert_eq!(c, Config::default());
        // Name checks come before any value check, first problem wins.
        assert_eq!(
            set(&mut c, &[("hz", "xx"), ("foo", "bar")]),
            Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".to_string())
        );
        assert_eq!(
            set(&mut c, &[("foo", "bar"), ("databases", "3")]),
            Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".to_string())
        );
        assert_eq!(
            set(&mut c, &[("databases", "3"), ("foo", "bar")]),
            failed("databases", "can't set immutable config")
        );
        assert_eq!(
            set(&mut c, &[("timeout", "1"), ("timeout", "x"), ("port", "1")]),
            failed("timeout", "duplicate parameter")
        );
        // First bad value wins.
        assert_eq!(
            set(&mut c, &[("timeout", "x"), ("hz", "y")]),
            failed("timeout", "argument couldn't be parsed into an integer")
        );
        assert_eq!(c, Config::default());
    }

    #[test]
    fn protected_configs_follow_enable_protected_configs() {
        let dir = scratch();
        let mut c = Config::parse_str("enable-protected-configs local").expect("valid");
        let kv: Vec<(&[u8], &[u8])> = vec![(b"dbfilename", b"x.rdb")];
        assert_eq!(
            c.set_from(&kv, false),
            failed("dbfilename", "can't set protected config")
        );
        c.set_from(&kv, true).expect("local client may");
        assert_eq!(c.dbfilename, "x.rdb");
        let mut c = Config::parse_str("enable-protected-configs yes").expect("valid");
        let d = dir.to_string_lossy().into_owned();
        set(&mut c, &[("dir", &d)]).expect("existing dir");
        assert_eq!(
            c.dir,
            fs::canonicalize(&dir).expect("canon").to_string_lossy()
        );
        assert_eq!(
            set(&mut c, &[("dir", "no-such-subdir")]),
            failed("dir", "No such file or directory")
        );
        write(&dir, "file", "");
        assert_eq!(
            set(&mut c, &[("dir", "file")]),
            failed("dir", "Not a directory")
        );
        assert_eq!(
            set(&mut c, &[("dbfilename", "a/b")]),
            failed("dbfilename", "dbfilename can't be a path, just a filename")
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn equality_ignores_setting_order() {
        let mut a = Config::default();
        let mut b = Config::default();
        set(&mut a, &[("lfu-log-factor", "3"), ("activedefrag", "yes")]).expect("ok");
        set(&mut b, &[("activedefrag", "yes"), ("lfu-log-factor", "3")]).expect("ok");
        assert_eq!(a, b);
        set(&mut a, &[("lfu-log-factor", "10")]).expect("back to default");
        set(&mut b, &[("lfu-log-factor", "10")]).expect("back to default");
        assert_eq!(a, b);
    }

    #[test]
    fn sensitive_directives() {
        assert!(is_sensitive(b"requirepass"));
        assert!(is_sensitive(b"MASTERAUTH"));
        assert!(!is_sensitive(b"port"));
        assert!(!is_sensitive(b"nope"));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let junk: &[&[u8]] = &[
            b"",
            b"\0",
            b"\xff\xfe",
            b"\"",
            b"'",
            b"\\",
            b"\"\\x",
            b"\"\\xf",
            b"--",
            b"-",
            b"*",
            b"[",
            b"\\x00",
        ];
        for &a in junk {
            for &b in junk {
                let mut line = a.to_vec();
                line.push(b' ');
                line.extend_from_slice(b);
                let _ = split_args(&line);
                let _ = Config::default().apply_bytes(&line);
                for spec in SPECS {
                    let mut l = spec.name.as_bytes().to_vec();
                    l.push(b' ');
                    l.extend_from_slice(&line);
                    let _ = Config::default().apply_bytes(&l);
                    let mut c = Config::default();
                    let _ = c.set_from(&[(spec.name.as_bytes(), &line)], true);
                }
                let c = Config::default();
                let _ = c.get(&[a, b]);
                let _ = memtoull(&line);
                let _ = strtoll(&line);
                let _ = keyspace_events_from_bytes(&line);
            }
        }
        let strs = ["", "-", "--", "--save", "--port", "\u{0}", "--\"", "--'x"];
        for a in strs {
            for b in strs {
                let _ = Config::from_args_with_stdin(&args(&["--port", "0", a, b]), &mut || {
                    Ok(Vec::new())
                });
                let _ = options_to_config_text(&args(&[a, b]), true);
            }
        }
    }
}
