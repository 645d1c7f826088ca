//! The directive table: every directive's name, alias, flags and how it is
//! read and written, plus the core server directives (network, limits,
//! logging, scripting) and the stored-only knobs. Persistence directives live
//! in `persistence.rs`; [`SPECS`] joins the groups into the one table that the
//! file parser, CONFIG GET and CONFIG SET consult.

use super::*;

/// Redis's CONFIG_BINDADDR_MAX.
pub(super) const MAX_BIND_ADDRESSES: usize = 16;

/// CONFIG SET refuses it ("can't set immutable config").
pub(super) const IMMUTABLE: u8 = 1;
/// CONFIG SET needs `enable-protected-configs` ("can't set protected config").
pub(super) const PROTECTED: u8 = 2;
/// Takes a variable number of arguments (file: all the line's arguments, or a
/// single argument split like a config line; CONFIG SET: split on spaces).
pub(super) const MULTI_ARG: u8 = 4;
/// Its value must be redacted from SLOWLOG / MONITOR / command logs.
pub(super) const SENSITIVE: u8 = 8;
/// Left out of CONFIG GET patterns and CONFIG REWRITE unless named exactly
/// (Redis's HIDDEN_CONFIG: test and debugging knobs).
pub(super) const HIDDEN: u8 = 16;

pub(super) type GetFn = fn(&Config) -> String;
/// Sets from already-split arguments. `from_file` distinguishes the few
/// directives that accumulate over config lines (`save`).
pub(super) type SetFn = fn(&mut Config, &[&[u8]], bool) -> Result<(), String>;

/// How a stored-only directive's value is validated and normalized.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Bool,
    Int(i128, i128),
    Mem(i128, i128),
    Octal(i128, i128),
    /// (name, value id): several names may share an id; GET shows the first.
    Enum(&'static [(&'static str, u8)]),
    Str,
    /// Redis's oom-score-adj-values: three integers in -2000..=2000.
    OomValues,
    /// A memory value or `N%` (of maxmemory), like maxmemory-clients.
    MemPercent(i128, i128),
    /// Hostname characters only (cluster-announce-hostname).
    Hostname,
    /// latency-tracking-info-percentiles: doubles in 0..=100.
    Percentiles,
    /// proc-title-template: `{variable}` names Redis knows, not blank.
    ProcTitle,
}

#[derive(Clone, Copy)]
pub(super) enum Access {
    Field(GetFn, SetFn),
    Stored(Kind, &'static str),
}

#[derive(Clone, Copy)]
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) alias: Option<&'static str>,
    pub(super) flags: u8,
    pub(super) access: Access,
}

pub(super) const fn field(name: &'static str, flags: u8, get: GetFn, set: SetFn) -> Spec {
    Spec {
        name,
        alias: None,
        flags,
        access: Access::Field(get, set),
    }
}

impl Spec {
    /// The same directive, also known by `alias` (Redis's old ziplist names).
    pub(super) const fn alias(mut self, alias: &'static str) -> Spec {
        self.alias = Some(alias);
        self
    }
}

pub(super) const fn stored(
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

pub(super) const OOM_SCORE_ADJ: &[(&str, u8)] =
    &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];

/// Every directive CONFIG GET/SET and the config file know, in CONFIG GET
/// output order: the groups joined at compile time.
pub(super) static SPECS: &[Spec] = &ALL;

const GROUPS: &[&[Spec]] = &[CORE, persistence::DIRECTIVES, STORED_ONLY];
const COUNT: usize = count(GROUPS);
static ALL: [Spec; COUNT] = join(GROUPS);

const fn count(groups: &[&[Spec]]) -> usize {
    let (mut n, mut g) = (0, 0);
    while g < groups.len() {
        n += groups[g].len();
        g += 1;
    }
    n
}

/// Concatenates the groups (a `const fn` so the table stays a plain static).
const fn join<const N: usize>(groups: &[&[Spec]]) -> [Spec; N] {
    let mut out = [groups[0][0]; N];
    let (mut at, mut g) = (0, 0);
    while g < groups.len() {
        let mut i = 0;
        while i < groups[g].len() {
            out[at] = groups[g][i];
            at += 1;
            i += 1;
        }
        g += 1;
    }
    out
}

/// The core server's typed directives.
#[rustfmt::skip] // one directive per line reads best as a table
const CORE: &[Spec] = &[
    // CONFIG SET of port, tls-port and bind re-binds the listeners
    // (server/listen.rs), as Redis 7 does.
    typed!("port", 0, port, int(0, 65535) as u16),
    field(
        "bind",
        MULTI_ARG,
        |c| c.bind.join(" "),
        set_bind,
    ),
    typed!("tcp-backlog", IMMUTABLE, tcp_backlog, int(0, INT_MAX) as u32),
    typed!("tcp-keepalive", 0, tcp_keepalive, int(0, INT_MAX) as u64),
    typed!("timeout", 0, timeout, int(0, INT_MAX) as u64),
    typed!("protected-mode", 0, protected_mode, bool),
    typed!("maxclients", 0, maxclients, int(1, UINT_MAX) as u64),
    typed!("threads", IMMUTABLE, threads, int(1, 1024) as usize),
    typed!("databases", IMMUTABLE, databases, int(1, INT_MAX) as usize),
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
    typed!("proto-max-bulk-len", 0, proto_max_bulk_len, mem(1 << 20, LONG_MAX) as u64),
    typed!("client-query-buffer-limit", 0, client_query_buffer_limit, mem(1 << 20, LONG_MAX) as u64),
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
    typed!("wasm-time-limit", 0, wasm_time_limit, int(1, LONG_MAX) as u64),
    typed!("wasm-memory-limit", 0, wasm_memory_limit, mem(1 << 16, 4 << 30) as u64),
    typed!("maxmemory", 0, maxmemory, mem(0, ULLONG_MAX) as u64),
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
    typed!("daemonize", IMMUTABLE, daemonize, bool),
    field(
        "unixsocket",
        IMMUTABLE,
        |c| c.unixsocket.clone(),
        |c, a, _| {
            c.unixsocket = utf8(one(a)?)?;
            Ok(())
        },
    ),
    Spec {
        name: "replicaof",
        alias: Some("slaveof"),
        flags: IMMUTABLE | MULTI_ARG,
        access: Access::Field(get_replicaof, set_replicaof),
    },
    typed!("slowlog-log-slower-than", 0, slowlog_log_slower_than, int(-1, i64::MAX as i128) as i64),
    typed!("slowlog-max-len", 0, slowlog_max_len, int(0, LONG_MAX) as u64),
    typed!("enable-protected-configs", IMMUTABLE, enable_protected_configs, enum ProtectedAction),
    typed!("enable-debug-command", IMMUTABLE, enable_debug_command, enum ProtectedAction),
    typed!("enable-module-command", IMMUTABLE, enable_module_command, enum ProtectedAction),
];

#[rustfmt::skip] // one stored-only directive per line reads best as a table
const STORED_ONLY: &[Spec] = &[
    // ---- STORED_ONLY: accepted, validated, shown by CONFIG GET, no effect. ----
    // They are in the stock redis.conf or commonly tuned, and ignoring them
    // cannot lose data or open access. Promote one to a typed field when a
    // subsystem starts honouring it.
    //
    // Process / OS.
    stored("always-show-logo", None, IMMUTABLE, Kind::Bool, "no"),
    stored("set-proc-title", None, IMMUTABLE, Kind::Bool, "yes"),
    stored("proc-title-template", None, 0, Kind::ProcTitle, "{title} {listen-addr} {server-mode}"),
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
    typed!("maxmemory-samples", 0, maxmemory_samples, int(1, INT_MAX) as u32),
    typed!("maxmemory-eviction-tenacity", 0, maxmemory_eviction_tenacity, int(0, 100) as u32),
    typed!("lfu-log-factor", 0, lfu_log_factor, int(0, INT_MAX) as u32),
    typed!("lfu-decay-time", 0, lfu_decay_time, int(0, INT_MAX) as u32),
    stored("lazyfree-lazy-eviction", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-expire", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-server-del", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-user-del", None, 0, Kind::Bool, "no"),
    stored("lazyfree-lazy-user-flush", None, 0, Kind::Bool, "no"),
    typed!("latency-monitor-threshold", 0, latency_monitor_threshold, int(0, LONG_MAX) as u64),
    stored("latency-tracking", None, 0, Kind::Bool, "yes"),
    stored("acllog-max-len", None, 0, Kind::Int(0, LONG_MAX), "128"),
    stored("acl-pubsub-default", None, 0, Kind::Enum(&[("allchannels", 1), ("resetchannels", 0)]), "resetchannels"),
    stored("tracking-table-max-keys", None, 0, Kind::Int(0, LONG_MAX), "1000000"),
    // Encoding thresholds (they shape OBJECT ENCODING in Redis).
    typed!("hash-max-listpack-entries", 0, hash_max_listpack_entries, int(0, LONG_MAX) as usize).alias("hash-max-ziplist-entries"),
    typed!("hash-max-listpack-value", 0, hash_max_listpack_value, mem(0, LONG_MAX) as usize).alias("hash-max-ziplist-value"),
    stored("list-max-listpack-size", Some("list-max-ziplist-size"), 0, Kind::Int(INT_MIN, INT_MAX), "-2"),
    stored("list-compress-depth", None, 0, Kind::Int(0, INT_MAX), "0"),
    typed!("set-max-intset-entries", 0, set_max_intset_entries, int(0, LONG_MAX) as usize),
    typed!("zset-max-listpack-entries", 0, zset_max_listpack_entries, int(0, LONG_MAX) as usize).alias("zset-max-ziplist-entries"),
    typed!("zset-max-listpack-value", 0, zset_max_listpack_value, mem(0, LONG_MAX) as usize).alias("zset-max-ziplist-value"),
    stored("hll-sparse-max-bytes", None, 0, Kind::Mem(0, LONG_MAX), "3000"),
    stored("stream-node-max-bytes", None, 0, Kind::Mem(0, LONG_MAX), "4096"),
    stored("stream-node-max-entries", None, 0, Kind::Int(0, LONG_MAX), "100"),
    // Replication knobs; repl/replica.rs reads the replica's ones when it needs them.
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
    stored("replica-announce-port", Some("slave-announce-port"), 0, Kind::Int(0, 65535), "0"),
    stored("replica-announced", None, 0, Kind::Bool, "yes"),
    stored("replica-ignore-disk-write-errors", None, 0, Kind::Bool, "no"),
    stored("propagation-error-behavior", None, 0, Kind::Enum(&[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)]), "ignore"),
    stored("bind-source-addr", None, 0, Kind::Str, ""),
    // Process / OS, continued.
    stored("server_cpulist", None, IMMUTABLE, Kind::Str, ""),
    stored("bio_cpulist", None, IMMUTABLE, Kind::Str, ""),
    stored("aof_rewrite_cpulist", None, IMMUTABLE, Kind::Str, ""),
    stored("bgsave_cpulist", None, IMMUTABLE, Kind::Str, ""),
    stored("socket-mark-id", None, IMMUTABLE, Kind::Int(0, UINT_MAX), "0"),
    stored("syslog-enabled", None, IMMUTABLE, Kind::Bool, "no"),
    stored("syslog-ident", None, IMMUTABLE, Kind::Str, "redis"),
    stored("syslog-facility", None, IMMUTABLE, Kind::Enum(SYSLOG_FACILITIES), "local0"),
    stored("aclfile", None, IMMUTABLE, Kind::Str, ""),
    // Memory.
    stored("maxmemory-clients", None, 0, Kind::MemPercent(-100, LONG_MAX), "0"),
    stored("active-defrag-cycle-min", None, 0, Kind::Int(1, 99), "1"),
    stored("active-defrag-cycle-max", None, 0, Kind::Int(1, 99), "25"),
    stored("active-defrag-threshold-lower", None, 0, Kind::Int(0, 1000), "10"),
    stored("active-defrag-threshold-upper", None, 0, Kind::Int(0, 1000), "100"),
    stored("active-defrag-ignore-bytes", None, 0, Kind::Mem(1, LONG_MAX), "104857600"),
    stored("active-defrag-max-scan-fields", None, 0, Kind::Int(1, LONG_MAX), "1000"),
    stored("latency-tracking-info-percentiles", None, MULTI_ARG, Kind::Percentiles, "50 99 99.9"),
    // Cluster (host/src/cluster/ reads them; Settings caches the mutable ones).
    stored("cluster-enabled", None, IMMUTABLE, Kind::Bool, "no"),
    stored("cluster-config-file", None, IMMUTABLE, Kind::Str, "nodes.conf"),
    stored("cluster-port", None, IMMUTABLE, Kind::Int(0, 65535), "0"),
    stored("cluster-node-timeout", None, 0, Kind::Int(0, LONG_MAX), "15000"),
    stored("cluster-announce-ip", None, 0, Kind::Str, ""),
    stored("cluster-announce-hostname", None, 0, Kind::Hostname, ""),
    stored("cluster-announce-port", None, 0, Kind::Int(0, 65535), "0"),
    stored("cluster-announce-bus-port", None, 0, Kind::Int(0, 65535), "0"),
    stored("cluster-announce-tls-port", None, 0, Kind::Int(0, 65535), "0"),
    stored("cluster-replica-no-failover", Some("cluster-slave-no-failover"), 0, Kind::Bool, "no"),
    stored("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), 0, Kind::Int(0, INT_MAX), "10"),
    stored("cluster-require-full-coverage", None, 0, Kind::Bool, "yes"),
    stored("cluster-allow-reads-when-down", None, 0, Kind::Bool, "no"),
    stored("cluster-allow-pubsubshard-when-down", None, 0, Kind::Bool, "yes"),
    stored("cluster-allow-replica-migration", None, 0, Kind::Bool, "yes"),
    stored("cluster-migration-barrier", None, 0, Kind::Int(0, INT_MAX), "1"),
    stored("cluster-link-sendbuf-limit", None, 0, Kind::Mem(0, ULLONG_MAX), "0"),
    stored("cluster-preferred-endpoint-type", None, 0, Kind::Enum(&[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)]), "ip"),
    // TLS: read by server/tls.rs and server/listen.rs when the listeners are
    // applied (start-up, CONFIG SET). Not honoured: tls-cluster (no cluster
    // bus), tls-replication and tls-client-* (replication is plain TCP),
    // tls-dh-params-file (rustls has no finite-field DH), and
    // tls-session-cache-timeout (rustls's cache is bounded by size only).
    stored("tls-port", None, 0, Kind::Int(0, 65535), "0"),
    stored("tls-session-cache-size", None, 0, Kind::Int(0, INT_MAX), "20480"),
    stored("tls-session-cache-timeout", None, 0, Kind::Int(0, INT_MAX), "300"),
    stored("tls-cluster", None, 0, Kind::Bool, "no"),
    stored("tls-replication", None, 0, Kind::Bool, "no"),
    stored("tls-auth-clients", None, 0, Kind::Enum(&[("no", 0), ("yes", 1), ("optional", 2)]), "yes"),
    stored("tls-prefer-server-ciphers", None, 0, Kind::Bool, "no"),
    stored("tls-session-caching", None, 0, Kind::Bool, "yes"),
    stored("tls-cert-file", None, 0, Kind::Str, ""),
    stored("tls-key-file", None, 0, Kind::Str, ""),
    stored("tls-key-file-pass", None, SENSITIVE, Kind::Str, ""),
    stored("tls-client-cert-file", None, 0, Kind::Str, ""),
    stored("tls-client-key-file", None, 0, Kind::Str, ""),
    stored("tls-client-key-file-pass", None, 0, Kind::Str, ""),
    stored("tls-dh-params-file", None, 0, Kind::Str, ""),
    stored("tls-ca-cert-file", None, 0, Kind::Str, ""),
    stored("tls-ca-cert-dir", None, 0, Kind::Str, ""),
    stored("tls-protocols", None, 0, Kind::Str, ""),
    stored("tls-ciphers", None, 0, Kind::Str, ""),
    stored("tls-ciphersuites", None, 0, Kind::Str, ""),
    // Hidden debugging knobs (CONFIG GET by exact name only, as in Redis).
    stored("use-exit-on-panic", None, HIDDEN, Kind::Bool, "no"),
    stored("watchdog-period", None, HIDDEN, Kind::Int(0, INT_MAX), "0"),
];

/// syslog(3) facilities in Redis's order, with their LOG_* codes >> 3.
pub(super) const SYSLOG_FACILITIES: &[(&str, u8)] = &[
    ("user", 1),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Stored-only directives whose non-default values ask for something Ember
/// cannot do at all: refused with the reason (after Redis's own validation),
/// so a config never silently pretends.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "tls-replication",
        "replication over TLS is not supported yet",
    ),
    ("socket-mark-id", "socket marks are not supported"),
];

/// The reason a stored-only directive's (normalized) value is refused.
pub(super) fn unsupported(name: &str, value: &str, default: &str) -> Option<&'static str> {
    if value == default {
        return None;
    }
    UNSUPPORTED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// Config-file-only directives Redis 7.0 still accepts and ignores (with the
/// exact argument count it wants).
pub(super) const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Finds a directive by name or alias, ASCII-case-insensitively. Returns the
/// spec index and whether the alias was used: Redis registers an alias as an
/// entry of its own, which shows in error texts and duplicate detection.
pub(super) fn lookup(name: &[u8]) -> Option<(usize, bool)> {
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

pub(super) fn entry_name(idx: usize, via_alias: bool) -> &'static str {
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

// ---------------------------------------------------------------------------
// Special directives
// ---------------------------------------------------------------------------

pub(super) fn set_bind(c: &mut Config, a: &[&[u8]], _: bool) -> Result<(), String> {
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

/// `replicaof host port` / `replicaof no one`, checked as Redis's
/// setConfigReplicaOfOption does (the port is read like strtol).
pub(super) fn set_replicaof(c: &mut Config, a: &[&[u8]], _: bool) -> Result<(), String> {
    let [host, port] = a else {
        return Err("wrong number of arguments".to_string());
    };
    c.replicaof = None;
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        return Ok(());
    }
    match strtoll(port) {
        Some(p) if (0..=65535).contains(&p) => {
            c.replicaof = Some((String::from_utf8_lossy(host).into_owned(), p as u16));
            Ok(())
        }
        _ => Err("Invalid master port".to_string()),
    }
}

/// CONFIG GET replicaof: "host port", or "" when this is a primary.
pub(super) fn get_replicaof(c: &Config) -> String {
    match &c.replicaof {
        Some((host, port)) => format!("{host} {port}"),
        None => String::new(),
    }
}

pub(super) fn get_output_buffer_limits(c: &Config) -> String {
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

pub(super) fn set_output_buffer_limits(c: &mut Config, a: &[&[u8]], _: bool) -> Result<(), String> {
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
