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
    ("port", "TCP port (0 = no TCP listener)."),
    ("bind", "Addresses to listen on; `-` marks an optional one. Default loopback only (Redis: `* -::*`)."),
    ("timeout", "Closes clients idle this many seconds (0 = never)."),
    ("tcp-keepalive", "TCP keepalive interval of client sockets, in seconds."),
    ("maxclients", "Connections beyond this get `-ERR max number of clients reached`."),
    ("databases", "Number of databases for SELECT."),
    ("hz", "Frequency of background tasks (active expiry), clamped to 1..500."),
    ("proto-max-bulk-len", "Largest bulk string a client may send."),
    ("enable-debug-command", "Whether clients may run DEBUG (`local`: loopback clients only)."),
    ("latency-monitor-threshold", "Milliseconds from which a command is a LATENCY event (0: the monitor is off)."),
    ("latency-tracking", "Per-command latency histograms for LATENCY HISTOGRAM and INFO latencystats."),
    ("latency-tracking-info-percentiles", "The percentiles INFO latencystats shows."),
    ("client-query-buffer-limit", "A client whose pending input exceeds this is disconnected."),
    ("client-output-buffer-limit", "Disconnects clients (normal, pubsub) whose pending output passes the hard limit, or the soft limit for too long."),
    ("requirepass", "Password for AUTH / HELLO AUTH."),
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
    ("maxmemory", "Shown in INFO. Not enforced yet (no eviction)."),
    ("maxmemory-policy", "Shown in INFO; decides whether OBJECT FREQ or OBJECT IDLETIME answers. No eviction yet."),
    ("stream-node-max-bytes", "Size limit of a stream's radix-tree node (XADD starts a new node)."),
    ("stream-node-max-entries", "Entry limit of a stream's radix-tree node."),
    ("wasm-time-limit", "Ember: wall-clock limit in ms of one wasm script, function or module command."),
    ("wasm-memory-limit", "Ember: linear-memory cap of one wasm instance."),
    ("enable-protected-configs", "Whether CONFIG SET may change `dir` and `dbfilename` (`local`: loopback clients only)."),
    ("enable-module-command", "Whether clients may MODULE LOAD/UNLOAD. Default `local` (Redis: `no`), so the bundled workflow works from localhost."),
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
    // Refused unless at the default: Ember cannot do it at all yet.
    ("unixsocket", "Only \"\": no unix socket listener yet."),
    ("replicaof", "Only `replicaof no one`: no replication yet."),
    ("cluster-enabled", "Only `no`: no cluster mode yet."),
    ("tls-port", "Only `0`: no TLS yet."),
    ("aclfile", "Only \"\": no ACL files yet."),
    ("socket-mark-id", "Only `0`: socket marks are not set."),
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
