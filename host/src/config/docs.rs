//! What each directive does in Ember, and the directive table of
//! docs/configuration.md generated from the directive table itself
//! (`tests/docs.rs` fails when the document and the server differ).
//!
//! A directive without an entry in [`EFFECTS`] is a documented no-op:
//! accepted in the file, on the command line and by CONFIG GET/SET with
//! Redis's validation, and without effect in Ember. Whoever gives a
//! directive its effect adds (or updates) its line here.

use super::*;

/// What a directive does in Ember, when it does something.
const EFFECTS: &[(&str, &str)] = &[
    // Network and clients.
    ("port", "TCP port (0 = no TCP listener). CONFIG SET re-binds."),
    ("bind", "Addresses to listen on (`*` all IPv4, `::*` all IPv6); `-` marks an optional one. Default loopback only (Redis: `* -::*`). CONFIG SET re-binds: all-or-nothing, open sockets for kept addresses stay open."),
    ("bind-source-addr", "Local address a replica's link to its primary leaves from."),
    ("tcp-backlog", "The listen backlog of every listener (the kernel caps it at net.core.somaxconn)."),
    ("protected-mode", "With no password for the default user, clients not on 127.0.0.1, ::1 or the unix socket get Redis's `-DENIED` text and are disconnected."),
    ("unixsocket", "Path of a unix socket listener (\"\" = none); its clients are local and show flag `U`."),
    ("unixsocketperm", "Octal permissions of the unix socket file (0 = left to the umask)."),
    ("tls-port", "TLS port (rustls; 0 = none). CONFIG SET re-binds. With `port 0` the server speaks TLS only."),
    ("tls-cert-file", "PEM certificate chain of the TLS listener."),
    ("tls-key-file", "PEM private key (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with `tls-key-file-pass`)."),
    ("tls-key-file-pass", "Password of an encrypted PKCS#8 `tls-key-file` (legacy `Proc-Type: 4,ENCRYPTED` keys are not supported)."),
    ("tls-ca-cert-file", "PEM CA certificates client certificates must chain to."),
    ("tls-ca-cert-dir", "A directory whose PEM files add CA certificates."),
    ("tls-auth-clients", "`yes`: a client certificate is required; `optional`: checked when offered; `no`: not asked for."),
    ("tls-protocols", "`TLSv1.2` and/or `TLSv1.3` (empty = both; TLSv1 and TLSv1.1 are refused: rustls lacks them)."),
    ("tls-ciphers", "TLS 1.2 suites by OpenSSL name, `:`-separated (the ECDHE AES-GCM and ChaCha20 suites exist; empty = all)."),
    ("tls-ciphersuites", "TLS 1.3 suites by name, `:`-separated (empty = all)."),
    ("tls-prefer-server-ciphers", "`yes`: the server's suite order wins over the client's."),
    ("tls-session-caching", "Session resumption from a server-side cache (`no` turns it and TLS 1.3 tickets off)."),
    ("tls-session-cache-size", "Entries of the session cache."),
    ("timeout", "Closes clients idle this many seconds (0 = never)."),
    ("tcp-keepalive", "TCP keepalive interval of client sockets, in seconds."),
    ("maxclients", "Connections beyond this get `-ERR max number of clients reached`."),
    ("databases", "Number of databases for SELECT."),
    ("hz", "Frequency of background tasks (active expiry), clamped to 1..500."),
    ("proto-max-bulk-len", "Largest bulk string a client may send."),
    ("enable-debug-command", "Whether clients may run DEBUG (`local`: clients on 127.0.0.1, ::1 or the unix socket only)."),
    ("latency-monitor-threshold", "Milliseconds from which a command is a LATENCY event (0: the monitor is off)."),
    ("latency-tracking", "Per-command latency histograms for LATENCY HISTOGRAM and INFO latencystats."),
    ("latency-tracking-info-percentiles", "The percentiles INFO latencystats shows."),
    ("client-query-buffer-limit", "A client whose pending input exceeds this is disconnected."),
    ("client-output-buffer-limit", "Disconnects clients (normal, pubsub) whose pending output passes the hard limit, or the soft limit for too long."),
    ("requirepass", "Password for AUTH / HELLO AUTH."),
    ("tracking-table-max-keys", "Most keys CLIENT TRACKING remembers (0 = no limit); beyond it keys are dropped from the table and their readers sent an invalidation, as in Redis."),
    ("threads", "Ember: runtime worker threads; `1` runs a single-threaded runtime."),
    // Process.
    ("daemonize", "Forks into the background at start-up (unless supervised), stdio on /dev/null."),
    ("pidfile", "Written at start-up (`/var/run/redis.pid` when daemonized without one), removed at exit."),
    ("supervised", "`systemd`: READY=1 on NOTIFY_SOCKET once listening; `upstart`: SIGSTOP; `auto` picks by environment."),
    ("loglevel", "Log verbosity (`nothing` silences it)."),
    ("logfile", "Log destination (\"\" = stdout); must be writable at start-up."),
    ("syslog-enabled", "Also sends log lines to syslog(3)."),
    ("syslog-ident", "syslog identity."),
    ("syslog-facility", "syslog facility."),
    ("dir", "Working directory (Ember chdir()s there): persistence files and relative paths."),
    // Keyspace and scripting.
    ("notify-keyspace-events", "Keyspace notification classes published on `__keyspace@N__` / `__keyevent@N__`."),
    ("maxmemory", "Memory limit (0 = none): above it keys are evicted by `maxmemory-policy`, or deny-OOM commands get -OOM under `noeviction`."),
    ("maxmemory-policy", "Which keys are evicted: the eight Redis policies (approximated LRU/LFU by sampling with an eviction pool)."),
    ("maxmemory-samples", "Keys sampled per eviction round."),
    ("maxmemory-clients", "Client eviction: while all clients' buffers together exceed this (bytes, or % of maxmemory), the biggest client is disconnected (CLIENT NO-EVICT exempts one); checked every `hz` tick."),
    ("maxmemory-eviction-tenacity", "How long one command may evict (0..100, Redis's scale; 100 = no limit)."),
    ("lfu-log-factor", "How slowly the 8-bit logarithmic LFU counter grows."),
    ("lfu-decay-time", "Minutes per one-step decay of the LFU counter (0 = never)."),
    ("hash-max-listpack-entries", "A hash with more fields leaves its compact encoding (OBJECT ENCODING `hashtable`)."),
    ("hash-max-listpack-value", "A hash with a longer field or value leaves its compact encoding (at most 255 bytes stay packed)."),
    ("zset-max-listpack-entries", "A sorted set with more members leaves its compact encoding (OBJECT ENCODING `skiplist`)."),
    ("zset-max-listpack-value", "A sorted set with a longer member leaves its compact encoding."),
    ("set-max-intset-entries", "A set of integers with more members leaves `intset` for `hashtable`."),
    ("stream-node-max-bytes", "Size limit of a stream's radix-tree node (XADD starts a new node)."),
    ("stream-node-max-entries", "Entry limit of a stream's radix-tree node."),
    ("wasm-time-limit", "Ember: wall-clock limit in ms of one wasm script, function or module command."),
    ("wasm-memory-limit", "Ember: linear-memory cap of one wasm instance."),
    ("enable-protected-configs", "Whether CONFIG SET may change `dir` and `dbfilename` (`local`: clients on 127.0.0.1, ::1 or the unix socket only)."),
    ("enable-module-command", "Whether clients may MODULE LOAD/LOADEX/UPLOAD/UNLOAD. Default `local` (Redis: `no`): Ember's modules are sandboxed wasm with no more reach than a script, see docs/security.md. Module files must be regular files of at most 64 MiB."),
    // Persistence.
    ("save", "Snapshot points: BGSAVE after <seconds> when at least <changes> writes happened (Redis's default `3600 1 300 100 60 10000`; `save \"\"` turns them off)."),
    ("appendonly", "The multi-part AOF (manifest, base and incremental files in `appenddirname`); CONFIG SET turns it on and off."),
    ("appendfilename", "Base name of the AOF files."),
    ("appenddirname", "AOF directory inside `dir`."),
    ("appendfsync", "When the AOF is fsynced: `always`, `everysec`, `no`."),
    ("auto-aof-rewrite-percentage", "Automatic AOF rewrite when the AOF grew this much since the last rewrite (0 = off)."),
    ("auto-aof-rewrite-min-size", "No automatic AOF rewrite below this size."),
    ("aof-load-truncated", "Load a truncated AOF tail with a warning instead of refusing to start."),
    ("aof-use-rdb-preamble", "The AOF base file is written as RDB."),
    ("aof-timestamp-enabled", "`#TS:` annotations in the AOF."),
    ("rdbcompression", "LZF-compress strings in RDB payloads (DUMP, RDB files)."),
    ("rdbchecksum", "CRC64 trailer of RDB files."),
    ("dbfilename", "RDB file name inside `dir`: written by SAVE/BGSAVE/shutdown, loaded at start."),
    ("stop-writes-on-bgsave-error", "Writes get MISCONF after a failed background save while save points are set."),
    ("sanitize-dump-payload", "Deep checks of RESTORE payloads and RDB files (typed field; not read yet)."),
    ("rdb-del-sync-files", "Typed field; not read yet (no replication)."),
    ("shutdown-on-sigint", "Flags of the shutdown on SIGINT (typed field; not read until RDB snapshots land)."),
    ("shutdown-on-sigterm", "Flags of the shutdown on SIGTERM (typed field; not read until RDB snapshots land)."),
    ("rdb-key-save-delay", "Hidden test knob: microseconds of sleep per key saved."),
    ("key-load-delay", "Hidden test knob (typed field; not read yet)."),
    ("loading-process-events-interval-bytes", "Hidden test knob (typed field; not read yet)."),
    // Replication, the primary side (repl/).
    ("repl-backlog-size", "Bytes of the replication stream kept for partial resyncs (more while a replica still needs them, up to its output buffer limit)."),
    ("repl-backlog-ttl", "Seconds without replicas after which the backlog is freed and a new replication ID starts (0 = never)."),
    ("repl-ping-replica-period", "Seconds between the PINGs a primary puts in its replication stream."),
    ("repl-timeout", "A primary closes a replica whose last REPLCONF ACK is older than this (seconds); a replica drops a link to its primary silent this long, or an RDB transfer stalled this long."),
    ("repl-diskless-sync", "Full syncs stream the RDB to replicas that announce `capa eof` (EOF-marker format) instead of writing `dbfilename` first."),
    ("repl-diskless-sync-delay", "Seconds a diskless full sync waits for more replicas to join it."),
    // Cluster (docs/cluster.md).
    ("cluster-enabled", "Runs as a Redis Cluster node (docs/cluster.md)."),
    ("cluster-config-file", "The node table file (nodes.conf, Redis's format), relative to `dir`, rewritten atomically."),
    ("cluster-port", "Port of the cluster bus (0: the client port + 10000)."),
    ("cluster-node-timeout", "Milliseconds of silence after which a node is PFAIL; also paces pings, elections and votes."),
    ("cluster-announce-ip", "The IP this node gives the others (instead of what they see)."),
    ("cluster-announce-port", "The client port this node announces."),
    ("cluster-announce-bus-port", "The bus port this node announces."),
    ("cluster-announce-hostname", "Hostname announced in the bus's ping extension, shown by CLUSTER NODES/SHARDS."),
    ("cluster-preferred-endpoint-type", "What MOVED, ASK and CLUSTER SLOTS name a node by: ip, hostname or unknown-endpoint."),
    ("cluster-require-full-coverage", "`yes`: the cluster is down while any slot is unserved."),
    ("cluster-allow-reads-when-down", "`yes`: reads are served while the cluster is down."),
    ("cluster-allow-pubsubshard-when-down", "`yes`: shard pub/sub works while the cluster is down."),
    ("cluster-allow-replica-migration", "`yes`: a master left without slots becomes a replica of their new owner."),
    ("cluster-replica-no-failover", "`yes`: this replica never starts an election (manual failover still works)."),
    ("cluster-replica-validity-factor", "A replica whose data is older than node timeout × this (+ the ping period) does not run for election (0: always runs)."),
    ("repl-diskless-sync-max-replicas", "A waiting diskless sync starts at once when this many replicas wait (0 = no limit)."),
    ("repl-disable-tcp-nodelay", "Replica links send with Nagle's algorithm on."),
    ("min-replicas-to-write", "Writes get NOREPLICAS unless this many replicas acknowledged within `min-replicas-max-lag` seconds (0 = off)."),
    ("min-replicas-max-lag", "Seconds since a replica's last ACK for it to count toward `min-replicas-to-write` (0 = off)."),
    // Refused unless at the default: Ember cannot do it at all yet.
    ("replicaof", "Follows a primary (Redis's or Ember's) over Redis's replication protocol."),
    ("tls-replication", "Only `no`: replication runs over plain TCP (a replica connecting through the TLS port is refused)."),
    ("aclfile", "ACL file of `user` lines (ACL LOAD / ACL SAVE); not with `user` lines in this file."),
    ("socket-mark-id", "Only `0`: socket marks are not set."),
    // Replication, the replica side (repl/replica.rs).
    ("masterauth", "Password a replica sends its primary with AUTH."),
    ("masteruser", "User name a replica sends its primary with AUTH (with `masterauth`)."),
    ("repl-diskless-load", "`on-empty-db`: a replica with no keys loads its primary's RDB from the socket; otherwise (and for `swapdb`) through a file that replaces `dbfilename`, the old data kept until the whole file is here."),
    ("replica-announce-ip", "Address a replica gives its primary (REPLCONF ip-address) for INFO and Sentinel."),
    ("replica-announce-port", "Port a replica gives its primary (REPLCONF listening-port); 0 = its own port."),
    ("replica-announced", "INFO replica_announced (Sentinel leaves unannounced replicas out)."),
    ("replica-lazy-flush", "A replica frees its old data in the background before loading a full sync."),
    ("replica-priority", "INFO slave_priority: Sentinel promotes the lowest non-zero one."),
    ("replica-read-only", "A replica refuses its clients' writes (scripts' too) with READONLY; its primary's stream is applied."),
    ("replica-serve-stale-data", "`no`: while its link is down a replica answers MASTERDOWN to commands not flagged `stale`."),
];

/// The effect text of a directive, or the no-op text.
pub fn effect(name: &str) -> &'static str {
    EFFECTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, e)| *e)
        .unwrap_or("No-op: accepted and validated like Redis, no effect in Ember.")
}

/// Names in [`EFFECTS`] that are not directives (so the list cannot drift).
pub fn unknown_effect_names() -> Vec<&'static str> {
    EFFECTS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| lookup(n.as_bytes()).is_none())
        .collect()
}

/// The Markdown directive table of docs/configuration.md.
pub fn markdown() -> String {
    let defaults = Config::default();
    let mut rows: Vec<(String, String)> = SPECS
        .iter()
        .enumerate()
        .map(|(idx, spec)| {
            let mut name = format!("`{}`", spec.name);
            if let Some(alias) = spec.alias {
                name.push_str(&format!(" (`{alias}`)"));
            }
            let default = match spec.name {
                // Machine-dependent defaults.
                "dir" => "the working directory".to_string(),
                "threads" => "available cores".to_string(),
                _ => {
                    let v = defaults.value(idx);
                    if v.is_empty() {
                        "\"\"".to_string()
                    } else {
                        format!("`{v}`")
                    }
                }
            };
            let mut set = Vec::new();
            if spec.flags & IMMUTABLE != 0 {
                set.push("immutable");
            }
            if spec.flags & PROTECTED != 0 {
                set.push("protected");
            }
            if spec.flags & HIDDEN != 0 {
                set.push("hidden");
            }
            let set = if set.is_empty() {
                "yes".to_string()
            } else {
                set.join(", ")
            };
            let row = format!(
                "| {name} | {default} | {set} | {} |",
                effect(spec.name).replace('|', "\\|")
            );
            (spec.name.to_string(), row)
        })
        .collect();
    rows.sort();
    let mut out =
        String::from("| Directive | Default | CONFIG SET | In Ember |\n|---|---|---|---|\n");
    for (_, row) in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}
