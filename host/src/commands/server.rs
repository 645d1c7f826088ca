//! Server commands: DBSIZE, FLUSHDB/FLUSHALL, TIME, SHUTDOWN, CONFIG, INFO and
//! COMMAND (the command table's introspection).

use super::keys::{container_help, reply_help};
use super::meta::{BeginSearch, FindKeys, KeySpec};
use super::table::{flags::*, Command, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::server::REDIS_COMPAT_VERSION;
use crate::store::{ShardStats, SHARDS};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dbsize", 1, Group::Server, dbsize).flags(READONLY | FAST | WHOLE_DB).acl(&["keyspace"])
        .doc("1.0.0", "Returns the number of keys in the database.", "O(1)"),
    CommandSpec::new("flushdb", -1, Group::Server, flushdb).flags(WRITE | WHOLE_DB).acl(&["keyspace", "dangerous"])
        .doc("1.0.0", "Remove all keys from the current database.", "O(N) where N is the number of keys in the selected database")
        .syntax("[ASYNC | SYNC]"),
    CommandSpec::new("flushall", -1, Group::Server, flushall).flags(WRITE | ALL_DBS).acl(&["keyspace", "dangerous"])
        .doc("1.0.0", "Removes all keys from all databases.", "O(N) where N is the total number of keys in all databases")
        .syntax("[ASYNC | SYNC]"),
    CommandSpec::new("time", 1, Group::Server, time).flags(LOADING | STALE | FAST)
        .doc("2.6.0", "Returns the server time.", "O(1)"),
    CommandSpec::new("shutdown", -1, Group::Server, shutdown).flags(ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY)
        .doc("1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)")
        .syntax("[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]"),
    CommandSpec::new("info", -1, Group::Server, info).flags(LOADING | STALE).acl(&["dangerous"])
        .doc("1.0.0", "Returns information and statistics about the server.", "O(1)").syntax("[section [section ...]]"),
    CommandSpec::new("config", -2, Group::Server, container_help)
        .doc("2.0.0", "A container for server configuration commands.", "Depends on subcommand.")
        .subcommands(CONFIG_SUBCOMMANDS),
    CommandSpec::new("command", -1, Group::Server, command).flags(LOADING | STALE).acl(&["connection"])
        .doc("2.8.13", "Returns detailed information about all commands.", "O(N) where N is the total number of Redis commands")
        .subcommands(COMMAND_SUBCOMMANDS),
];

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -3, Group::Server, config_get)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.0.0",
            "Returns the effective values of configuration parameters.",
            "O(N) when N is the number of configuration parameters provided",
        )
        .syntax("parameter [parameter ...]"),
    CommandSpec::new("set", -4, Group::Server, config_set)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.0.0",
            "Sets configuration parameters in-flight.",
            "O(N) when N is the number of configuration parameters provided",
        )
        .syntax("parameter value [parameter value ...]"),
    CommandSpec::new("resetstat", 2, Group::Server, config_resetstat)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("2.0.0", "Resets the server's statistics.", "O(1)"),
    CommandSpec::new("rewrite", 2, Group::Server, config_rewrite)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.8.0",
            "Persists the effective configuration to file.",
            "O(1)",
        ),
    CommandSpec::new("help", 2, Group::Server, config_help)
        .flags(LOADING | STALE)
        .doc(
            "5.0.0",
            "Returns helpful text about the different subcommands.",
            "O(1)",
        ),
];

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("count", 2, Group::Server, command_count)
        .flags(LOADING | STALE)
        .acl(&["connection"])
        .doc("2.8.13", "Returns a count of commands.", "O(1)"),
    CommandSpec::new("info", -2, Group::Server, command_info)
        .flags(LOADING | STALE)
        .acl(&["connection"])
        .doc(
            "2.8.13",
            "Returns information about one, multiple or all commands.",
            "O(N) where N is the number of commands to look up",
        )
        .syntax("[command-name [command-name ...]]"),
    CommandSpec::new("docs", -2, Group::Server, command_docs)
        .flags(LOADING | STALE)
        .acl(&["connection"])
        .doc(
            "7.0.0",
            "Returns documentary information about one, multiple or all commands.",
            "O(N) where N is the number of commands to look up",
        )
        .syntax("[command-name [command-name ...]]"),
    CommandSpec::new("list", -2, Group::Server, command_list)
        .flags(LOADING | STALE)
        .acl(&["connection"])
        .doc(
            "7.0.0",
            "Returns a list of command names.",
            "O(N) where N is the total number of Redis commands",
        )
        .syntax("[FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]"),
    CommandSpec::new("getkeys", -4, Group::Server, command_getkeys)
        .flags(LOADING | STALE)
        .acl(&["connection"])
        .doc(
            "2.8.13",
            "Extracts the key names from an arbitrary command.",
            "O(N) where N is the number of arguments to the command",
        )
        .syntax("command [arg [arg ...]]"),
    CommandSpec::new(
        "getkeysandflags",
        -4,
        Group::Server,
        command_getkeysandflags,
    )
    .flags(LOADING | STALE)
    .acl(&["connection"])
    .doc(
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command.",
        "O(N) where N is the number of arguments to the command",
    )
    .syntax("command [arg [arg ...]]"),
    CommandSpec::new("help", 2, Group::Server, command_help)
        .flags(LOADING | STALE)
        .acl(&["connection"])
        .doc(
            "5.0.0",
            "Returns helpful text about the different subcommands.",
            "O(1)",
        ),
];

fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = ctx.ks.dbsize(db);
    ctx.out.int(n as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL's optional ASYNC|SYNC. ASYNC frees memory on another thread.
fn flush_mode(argv: &[&[u8]]) -> Result<bool, CmdError> {
    match argv.len() {
        1 => Ok(false),
        2 if eq_ic(argv[1], "async") => Ok(true),
        2 if eq_ic(argv[1], "sync") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

fn free_garbage<T: Send + 'static>(garbage: Vec<T>, async_free: bool) {
    if async_free && !garbage.is_empty() {
        std::thread::spawn(move || drop(garbage));
    } else {
        drop(garbage);
    }
}

fn flushdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let async_free = flush_mode(argv)?;
    let db = ctx.db();
    let garbage = ctx.ks.flush_db(db);
    free_garbage(garbage, async_free);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let async_free = flush_mode(argv)?;
    let mut garbage = Vec::new();
    for db in 0..ctx.srv.store.databases() {
        garbage.extend(ctx.ks.flush_db(db));
    }
    crate::persist::snapshot::flushall_save(ctx.srv, ctx.ks);
    free_garbage(garbage, async_free);
    ctx.out.ok();
    Ok(())
}

fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk_int(now.as_secs() as i64);
    ctx.out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}

fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut save, mut nosave, mut force, mut abort, mut other) =
        (false, false, false, false, false);
    for a in &argv[1..] {
        if eq_ic(a, "save") {
            save = true;
        } else if eq_ic(a, "nosave") {
            nosave = true;
        } else if eq_ic(a, "now") {
            other = true;
        } else if eq_ic(a, "force") {
            force = true;
        } else if eq_ic(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (save || nosave || force || other)) || (save && nosave) {
        return Err(CmdError::Syntax);
    }
    if abort {
        if !crate::repl::shutdown::abort(ctx.srv) {
            return Err(CmdError::err("ERR No shutdown in progress."));
        }
        ctx.out.ok();
        return Ok(());
    }
    // Saving needs every shard: while a script holds some past
    // busy-reply-threshold, only SHUTDOWN NOSAVE goes on (Redis's rule).
    if !nosave {
        if let Some(busy) = ctx.srv.store.busy.any() {
            return Err(CmdError::err(busy));
        }
    }
    crate::log::warning("User requested shutdown...");
    // Lagging replicas first (unless NOW): the client waits, the
    // replication cron finishes the shutdown.
    let flags = crate::repl::shutdown::Flags {
        save,
        nosave,
        force,
    };
    if crate::repl::shutdown::begin(ctx.srv, flags, other) == crate::repl::shutdown::Begin::Waiting
    {
        ctx.client
            .repl
            .get_or_insert_with(Default::default)
            .shutdown_wait = true;
        return Ok(());
    }
    crate::repl::shutdown::log_replicas(ctx.srv);
    // The handler holds no shard (SHUTDOWN has no keys), so the save may lock them all.
    if let Err(e) = crate::persist::snapshot::shutdown_save(ctx.srv, save, nosave) {
        if !force {
            crate::log::warning(&format!("Error trying to save the DB, can't exit: {e}"));
            return Err(CmdError::err("ERR Errors trying to SHUTDOWN. Check logs."));
        }
        crate::log::warning("Error trying to save the DB. Exit anyway.");
    }
    ctx.client.close = true;
    ctx.srv.shutdown.notify_one();
    Ok(())
}

fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pairs = ctx.srv.config.read().get(&argv[2..]);
    ctx.out.map(pairs.len());
    for (k, v) in pairs {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(&[u8], &[u8])> = argv[2..].chunks(2).map(|p| (p[0], p[1])).collect();
    let local = ctx.client.shared.is_local();
    let before = ctx.srv.config.read().clone();
    ctx.srv
        .config
        .write()
        .set_from(&pairs, local)
        .map_err(CmdError::owned)?;
    // bind, port and the TLS settings re-apply the listeners; if that
    // fails the whole CONFIG SET is undone, as in Redis.
    let relisten = pairs
        .iter()
        .find_map(|&(name, _)| crate::server::listen::reapplied_by(name).map(|why| (name, why)));
    if let (Some((name, why)), Some(srv)) = (relisten, ctx.srv.arc()) {
        if let Err(e) = srv.listeners.apply(&srv) {
            crate::log::warning(&e);
            *ctx.srv.config.write() = before;
            return Err(CmdError::owned(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
                String::from_utf8_lossy(name)
            )));
        }
    }
    ctx.srv.config_changed();
    let cfg = ctx.srv.config.read();
    let _ = crate::log::configure(&cfg.loglevel, &cfg.logfile);
    drop(cfg);
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    for cmd in ctx.srv.commands.all() {
        cmd.stats.reset();
        cmd.subcommands.values().for_each(|s| s.stats.reset());
    }
    let s = &ctx.srv.stats;
    for c in [
        &s.connections_received,
        &s.commands_processed,
        &s.rejected_connections,
        &s.net_input_bytes,
        &s.net_output_bytes,
        &s.evicted_clients,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    s.errors.reset();
    ctx.srv.store.evict.reset_stats();
    for db in 0..ctx.srv.store.databases() {
        for shard in (0..SHARDS).filter(|&s| !ctx.ks.holds(db, s)) {
            let mut sh = ctx.srv.store.lock_shard(db, shard);
            sh.stats = ShardStats {
                changes: sh.stats.changes,
                ..ShardStats::default()
            };
        }
    }
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let Some(path) = ctx.srv.config_file.clone() else {
        return Err(CmdError::err(
            "ERR The server is running without a config file",
        ));
    };
    // Modules loaded from files are kept as `loadmodule` lines, as in Redis;
    // bundled and uploaded ones have no path to load again.
    let mut modules: Vec<crate::config::LoadModule> = ctx
        .srv
        .modules
        .read()
        .values()
        .filter(|m| !m.path.starts_with('<'))
        .map(|m| crate::config::LoadModule {
            path: m.path.clone(),
            args: m.args.clone(),
        })
        .collect();
    modules.sort_by(|a, b| a.path.cmp(&b.path));
    let result = ctx.srv.config.read().rewrite_file(&path, &modules);
    match result {
        Ok(()) => {
            crate::log::warning("CONFIG REWRITE executed with success.");
            ctx.out.ok();
            Ok(())
        }
        Err(e) => {
            crate::log::warning(&format!("CONFIG REWRITE failed: {e}"));
            Err(CmdError::owned(e))
        }
    }
}

fn config_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

/// Resident set size from /proc (Linux), 0 elsewhere.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sections: Vec<String> = argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let text = info_text(ctx, &sections);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Builds INFO's text: `# Section` headers, `field:value` lines, CRLF line ends.
pub fn info_text(ctx: &mut Ctx, requested: &[String]) -> String {
    let everything = requested.iter().any(|s| s == "all" || s == "everything");
    let default = requested.is_empty() || requested.iter().any(|s| s == "default");
    let wants = |name: &str| {
        everything
            || (default && DEFAULT_SECTIONS.contains(&name))
            || requested.iter().any(|s| s == name)
    };
    let srv = ctx.srv;
    let cfg = srv.config.read();
    let mut sections: Vec<String> = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let uptime = srv.started.elapsed().as_secs();
    if wants("server") {
        let mut s = String::from("# Server\r\n");
        let _ = write!(
            s,
            "redis_version:{REDIS_COMPAT_VERSION}\r\nember_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            crate::process::supervised_name(),
            srv.run_id,
            srv.port.load(Ordering::Relaxed),
            now.as_micros(),
            uptime,
            uptime / 86400,
            cfg.hz,
            cfg.hz,
            now.as_secs() & ((1 << 24) - 1),
            srv.executable,
            srv.config_file.as_deref().unwrap_or(""),
        );
        sections.push(s);
    }
    if wants("clients") {
        sections.push(format!(
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:0\r\n",
            srv.clients.count(),
            cfg.maxclients,
            srv.stats.blocked_clients.load(Ordering::Relaxed),
            srv.tracking.stats().0,
        ));
    }
    let totals = shard_totals(ctx);
    if wants("memory") {
        sections.push(super::memory::info_section(ctx));
    }
    if wants("persistence") {
        sections.push(crate::persist::snapshot::info_section(srv, totals.changes));
    }
    if wants("stats") {
        let s = &srv.stats;
        let exceeded = srv.store.evict.exceeded_ms(now.as_micros() as u64);
        let tracked = srv.tracking.stats();
        sections.push(format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\n",
            s.connections_received.load(Ordering::Relaxed),
            s.commands_processed.load(Ordering::Relaxed),
            srv.ops_per_sec(),
            s.net_input_bytes.load(Ordering::Relaxed),
            s.net_output_bytes.load(Ordering::Relaxed),
            s.rejected_connections.load(Ordering::Relaxed),
            srv.repl.replicas.stats.full.load(Ordering::Relaxed),
            srv.repl.replicas.stats.partial_ok.load(Ordering::Relaxed),
            srv.repl.replicas.stats.partial_err.load(Ordering::Relaxed),
            totals.expired,
            srv.store.evict.evicted_keys.load(Ordering::Relaxed),
            s.evicted_clients.load(Ordering::Relaxed),
            exceeded.0,
            exceeded.1,
            totals.hits,
            totals.misses,
            tracked.1,
            tracked.2,
            tracked.3,
            s.errors.total(),
        ));
    }
    if wants("replication") {
        let mut text = String::new();
        srv.repl.info(srv, &mut text);
        sections.push(text);
    }
    if wants("cpu") {
        sections.push(cpu_section());
    }
    if wants("modules") {
        sections.push("# Modules\r\n".to_string());
    }
    if everything || requested.iter().any(|s| s == "commandstats") {
        let mut s = String::from("# Commandstats\r\n");
        let mut cmds: Vec<&Command> = Vec::new();
        let all = srv.commands.all();
        for c in &all {
            cmds.push(c);
            let mut subs: Vec<&Command> = c.subcommands.values().map(|s| &**s).collect();
            subs.sort_by(|a, b| a.full_name.cmp(&b.full_name));
            cmds.extend(subs);
        }
        for c in cmds {
            let calls = c.stats.calls.load(Ordering::Relaxed);
            let rejected = c.stats.rejected.load(Ordering::Relaxed);
            let failed = c.stats.failed.load(Ordering::Relaxed);
            if calls == 0 && rejected == 0 && failed == 0 {
                continue;
            }
            let usec = c.stats.usec.load(Ordering::Relaxed);
            let per = if calls > 0 {
                usec as f64 / calls as f64
            } else {
                0.0
            };
            let _ = write!(
                s,
                "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                c.full_name
            );
        }
        sections.push(s);
    }
    if wants("errorstats") {
        sections.push(format!("# Errorstats\r\n{}", srv.stats.errors.info_lines()));
    }
    if everything || requested.iter().any(|s| s == "latencystats") {
        sections.push(super::latency::info_section(srv));
    }
    if wants("cluster") {
        let on = u8::from(srv.cluster.is_some());
        sections.push(format!("# Cluster\r\ncluster_enabled:{on}\r\n"));
    }
    if wants("keyspace") {
        let mut s = String::from("# Keyspace\r\n");
        for (db, (keys, expires)) in db_counts(ctx).into_iter().enumerate() {
            if keys > 0 {
                let _ = write!(s, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
        sections.push(s);
    }
    sections.join("\r\n")
}

fn cpu_section() -> String {
    // utime and stime from /proc/self/stat, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    format!(
        "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n",
        tick(12),
        tick(11)
    )
}

/// Statistics summed over every shard.
fn shard_totals(ctx: &Ctx) -> ShardStats {
    let mut t = ShardStats::default();
    for db in 0..ctx.srv.store.databases() {
        for shard in 0..SHARDS {
            if ctx.ks.holds(db, shard) {
                // Already locked by this EXEC (INFO queued with KEYS, say): locks
                // don't nest, so this shard is left out of the totals.
                continue;
            }
            let s = ctx.srv.store.lock_shard(db, shard).stats;
            t.hits += s.hits;
            t.misses += s.misses;
            t.expired += s.expired;
            t.changes += s.changes;
        }
    }
    t
}

/// (keys, keys with a TTL) per database.
fn db_counts(ctx: &Ctx) -> Vec<(usize, usize)> {
    (0..ctx.srv.store.databases())
        .map(|db| {
            (0..SHARDS)
                .filter(|&shard| !ctx.ks.holds(db, shard))
                .map(|shard| {
                    let s = ctx.srv.store.lock_shard(db, shard);
                    (s.table().len(), s.ttl_keys())
                })
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        })
        .collect()
}

fn command(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 1 {
        // A container with an unknown subcommand is answered by the dispatcher.
        return Err(CmdError::Syntax);
    }
    let all = ctx.srv.commands.all();
    ctx.out.array(all.len());
    for c in &all {
        write_command_info(ctx, c);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.srv.commands.len() as i64);
    Ok(())
}

/// One COMMAND INFO entry: name, arity, flags, first/last/step, ACL
/// categories, tips, key specs, subcommands.
fn write_command_info(ctx: &mut Ctx, c: &Command) {
    let spec = &c.spec;
    ctx.out.array(10);
    ctx.out.bulk(c.full_name.as_bytes());
    ctx.out.int(spec.arity as i64);
    let flags = spec.flag_names();
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.simple(f);
    }
    ctx.out.int(spec.first_key as i64);
    ctx.out.int(spec.last_key as i64);
    ctx.out.int(spec.key_step as i64);
    let cats = spec.acl_categories();
    ctx.out.set(cats.len());
    for cat in cats {
        ctx.out.simple(&format!("@{cat}"));
    }
    match super::meta::lookup(&c.full_name) {
        Some(meta) => {
            ctx.out.set(meta.tips.len());
            for t in meta.tips {
                ctx.out.bulk(t.as_bytes());
            }
            ctx.out.set(meta.key_specs.len());
            for ks in meta.key_specs {
                write_key_spec(ctx, ks);
            }
        }
        None => {
            // No recorded metadata (a command Redis lacks): derive a range spec.
            ctx.out.set(0);
            match super::keyflags::derived_spec(c) {
                Some(derived) => {
                    ctx.out.set(1);
                    write_key_spec(ctx, &derived);
                }
                None => ctx.out.set(0),
            }
        }
    }
    let mut subs: Vec<_> = c.subcommands.values().collect();
    subs.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    ctx.out.set(subs.len());
    for s in subs {
        write_command_info(ctx, s);
    }
}

fn write_key_spec(ctx: &mut Ctx, ks: &KeySpec) {
    let has_notes = !ks.notes.is_empty();
    ctx.out.map(3 + has_notes as usize);
    if has_notes {
        ctx.out.bulk(b"notes");
        ctx.out.bulk(ks.notes.as_bytes());
    }
    ctx.out.bulk(b"flags");
    ctx.out.set(ks.flags.len());
    for f in ks.flags {
        ctx.out.simple(f);
    }
    ctx.out.bulk(b"begin_search");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    match ks.begin {
        BeginSearch::Index(i) => {
            ctx.out.bulk(b"index");
            ctx.out.bulk(b"spec");
            ctx.out.map(1);
            ctx.out.bulk(b"index");
            ctx.out.int(i);
        }
        BeginSearch::Unknown => {
            ctx.out.bulk(b"unknown");
            ctx.out.bulk(b"spec");
            ctx.out.map(0);
        }
        BeginSearch::Keyword { keyword, startfrom } => {
            ctx.out.bulk(b"keyword");
            ctx.out.bulk(b"spec");
            ctx.out.map(2);
            ctx.out.bulk(b"keyword");
            ctx.out.bulk(keyword.as_bytes());
            ctx.out.bulk(b"startfrom");
            ctx.out.int(startfrom);
        }
    }
    ctx.out.bulk(b"find_keys");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    match ks.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            ctx.out.bulk(b"range");
            ctx.out.bulk(b"spec");
            ctx.out.map(3);
            ctx.out.bulk(b"lastkey");
            ctx.out.int(lastkey);
            ctx.out.bulk(b"keystep");
            ctx.out.int(keystep);
            ctx.out.bulk(b"limit");
            ctx.out.int(limit);
        }
        FindKeys::Unknown => {
            ctx.out.bulk(b"unknown");
            ctx.out.bulk(b"spec");
            ctx.out.map(0);
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            ctx.out.bulk(b"keynum");
            ctx.out.bulk(b"spec");
            ctx.out.map(3);
            ctx.out.bulk(b"keynumidx");
            ctx.out.int(keynumidx);
            ctx.out.bulk(b"firstkey");
            ctx.out.int(firstkey);
            ctx.out.bulk(b"keystep");
            ctx.out.int(keystep);
        }
    }
}

fn command_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, &argv[..1]);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match lookup_full_name(ctx, name) {
            Some(c) => write_command_info(ctx, &c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// A command by full name: "get", or "config|get" for a subcommand.
pub fn lookup_full_name(ctx: &Ctx, name: &[u8]) -> Option<std::sync::Arc<Command>> {
    let mut parts = name.splitn(2, |&b| b == b'|');
    let top = ctx.srv.commands.resolve_name(parts.next()?)?;
    match parts.next() {
        None => Some((*top).clone()),
        Some(sub) => top.subcommands.get(&sub.to_ascii_lowercase()).cloned(),
    }
}

fn write_command_docs(ctx: &mut Ctx, c: &Command) {
    let spec = &c.spec;
    let has_subs = !c.subcommands.is_empty();
    // Redis leaves complexity out for commands that have none (SYNC, PSYNC).
    let has_complexity = !spec.complexity.is_empty();
    ctx.out.map(3 + has_complexity as usize + has_subs as usize);
    ctx.out.bulk(b"summary");
    ctx.out.bulk(spec.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(spec.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(spec.group.name().as_bytes());
    if has_complexity {
        ctx.out.bulk(b"complexity");
        ctx.out.bulk(spec.complexity.as_bytes());
    }
    if has_subs {
        ctx.out.bulk(b"subcommands");
        let mut subs: Vec<_> = c.subcommands.values().collect();
        subs.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        ctx.out.map(subs.len());
        for s in subs {
            ctx.out.bulk(s.full_name.as_bytes());
            write_command_docs(ctx, s);
        }
    }
}

/// Writes a generated docs node with Redis's reply types.
fn write_doc(out: &mut crate::server::reply::Out, doc: &super::docs::Doc) {
    use super::docs::Doc;
    match doc {
        Doc::S(s) => out.bulk(s.as_bytes()),
        Doc::St(s) => out.simple(s),
        Doc::I(i) => out.int(*i),
        Doc::A(items) => {
            out.array(items.len());
            items.iter().for_each(|d| write_doc(out, d));
        }
        Doc::Set(items) => {
            out.set(items.len());
            items.iter().for_each(|d| write_doc(out, d));
        }
        Doc::M(fields) => {
            out.map(fields.len());
            for (k, v) in fields.iter() {
                out.bulk(k.as_bytes());
                write_doc(out, v);
            }
        }
    }
}

/// COMMAND DOCS [name ...]: Redis 7.0's docs for the commands it shares with
/// Ember (commands/docs.rs), the command table's for the others; unknown
/// names are skipped. Subcommands are asked for as "config|get".
fn command_docs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cmds: Vec<_> = if argv.len() == 2 {
        ctx.srv.commands.all()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| lookup_full_name(ctx, n))
            .collect()
    };
    ctx.out.map(cmds.len());
    for c in cmds {
        ctx.out.bulk(c.full_name.as_bytes());
        match super::docs::lookup(&c.full_name) {
            Some(doc) => write_doc(ctx.out, doc),
            None => write_command_docs(ctx, &c),
        }
    }
    Ok(())
}

fn command_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut names: Vec<String> = Vec::new();
    for c in ctx.srv.commands.all() {
        names.push(c.full_name.clone());
        names.extend(c.subcommands.values().map(|s| s.full_name.clone()));
    }
    match argv.len() {
        2 => {}
        5 if eq_ic(argv[2], "filterby") => {
            let (kind, arg) = (argv[3], argv[4]);
            if eq_ic(kind, "pattern") {
                names.retain(|n| crate::util::glob::glob_match(arg, n.as_bytes(), true));
            } else if eq_ic(kind, "aclcat") {
                let cat = String::from_utf8_lossy(arg).to_ascii_lowercase();
                let mut keep = Vec::new();
                for c in ctx.srv.commands.all() {
                    for cmd in std::iter::once(&c).chain(c.subcommands.values()) {
                        if cmd.spec.acl_categories().contains(&cat.as_str()) {
                            keep.push(cmd.full_name.clone());
                        }
                    }
                }
                names = keep;
            } else if eq_ic(kind, "module") {
                // The commands a wasm module registered, by module name.
                names = ctx
                    .srv
                    .commands
                    .all()
                    .iter()
                    .filter(|c| c.spec.module.is_some_and(|(m, _)| m.as_bytes() == arg))
                    .map(|c| c.full_name.clone())
                    .collect();
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_getkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (_, idx) = command_keys(ctx, &argv[2..])?;
    ctx.out.array(idx.len());
    for i in idx {
        ctx.out.bulk(argv[2 + i]);
    }
    Ok(())
}

/// COMMAND GETKEYSANDFLAGS: each key with its key-spec flags.
fn command_getkeysandflags(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let target = &argv[2..];
    let (cmd, idx) = command_keys(ctx, target)?;
    let keys = super::keyflags::key_access(&cmd, &idx, target);
    ctx.out.array(keys.len());
    for (pos, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(target[pos]);
        ctx.out.set(flags.len());
        for f in flags {
            ctx.out.simple(f);
        }
    }
    Ok(())
}

/// The command and key positions of a command line given to COMMAND
/// GETKEYS / GETKEYSANDFLAGS, or their errors.
fn command_keys(
    ctx: &Ctx,
    target: &[&[u8]],
) -> Result<(std::sync::Arc<Command>, Vec<usize>), CmdError> {
    let cmd = super::resolve(ctx.srv, target)
        .map_err(|_| CmdError::err("ERR Invalid command specified"))?
        .clone();
    if !cmd.arity_ok(target.len()) {
        return Err(CmdError::err(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let idx = cmd.spec.key_indexes(target);
    if idx.is_empty() {
        return Err(CmdError::err("ERR The command has no key arguments"));
    }
    Ok((cmd, idx))
}

fn command_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}
