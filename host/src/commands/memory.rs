//! Memory introspection: the MEMORY command (USAGE, STATS, DOCTOR,
//! MALLOC-STATS, PURGE, HELP) and INFO's `# Memory` section, both built from
//! one [`Report`] so they always agree (Redis's getMemoryOverheadData).
//!
//! Where the figures come from: `used_memory` is the counting allocator's
//! live bytes (alloc.rs, usable sizes like zmalloc); the allocator's
//! committed pages and the process RSS come from mimalloc and /proc; the
//! keyspace's structural overhead (entry slots and hash index) from the
//! shards' tables; client buffers from the connections' published sizes.

use super::keys::reply_help;
use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, CmdError, CmdResult, Ctx};
use crate::store::{Entry, SHARDS};
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("memory", -2, Group::Server, super::keys::container_help)
            .flags(0)
            .doc(
                "4.0.0",
                "A container for memory diagnostics commands",
                "Depends on subcommand.",
            )
            .subcommands(SUBCOMMANDS),
    ];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("doctor", 2, Group::Server, memory_doctor)
        .flags(0)
        .doc("4.0.0", "Outputs a memory problems report.", "O(1)"),
    CommandSpec::new("help", 2, Group::Server, memory_help)
        .flags(LOADING | STALE)
        .doc(
            "4.0.0",
            "Returns helpful text about the different subcommands.",
            "O(1)",
        ),
    CommandSpec::new("malloc-stats", 2, Group::Server, memory_malloc_stats)
        .flags(0)
        .doc(
            "4.0.0",
            "Returns the allocator statistics.",
            "Depends on how much memory is allocated, could be slow",
        ),
    CommandSpec::new("purge", 2, Group::Server, memory_purge)
        .flags(0)
        .doc(
            "4.0.0",
            "Asks the allocator to release memory.",
            "Depends on how much memory is allocated, could be slow",
        ),
    CommandSpec::new("stats", 2, Group::Server, memory_stats)
        .flags(0)
        .doc("4.0.0", "Returns details about memory usage.", "O(1)"),
    CommandSpec::new("usage", -3, Group::Server, memory_usage)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc(
            "4.0.0",
            "Estimates the memory usage of a key.",
            "O(N) where N is the number of samples.",
        )
        .syntax("key [SAMPLES count]"),
];

/// Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES.
const DEFAULT_SAMPLES: usize = 5;

/// Bytes of the keyspace's hash index per key slot (a `u32` position and a
/// control byte, at hashbrown's load factor), beside the 64-byte entry.
const INDEX_BYTES_PER_KEY: usize = 6;

/// Bytes `e` costs: its slot in the dense table, its share of the index,
/// and what its key and value hold on the heap (collections sampled with
/// `samples` elements, 0 = all), as Redis's MEMORY USAGE counts the
/// dictEntry, key and value.
pub fn entry_usage(e: &Entry, samples: usize) -> usize {
    std::mem::size_of::<Entry>()
        + INDEX_BYTES_PER_KEY
        + e.key.heap_size()
        + e.value.heap_size_sampled(samples)
}

fn memory_usage(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < argv.len() {
        if eq_ic(argv[j], "samples") && j + 1 < argv.len() {
            let n = arg_i64(argv[j + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            samples = if n == 0 { usize::MAX } else { n as usize };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let db = ctx.db();
    match ctx.ks.peek(db, argv[2]).map(|e| entry_usage(e, samples)) {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Where the memory is: Redis's struct redisMemOverhead.
#[derive(Default, Debug)]
pub struct Report {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    pub rss: u64,
    pub allocator_active: u64,
    pub clients_normal: u64,
    pub clients_count: u64,
    pub aof_buffer: u64,
    pub not_counted: u64,
    pub scripts_eval: u64,
    pub cached_scripts: u64,
    pub functions_mem: u64,
    pub functions: u64,
    pub libraries: u64,
    /// (db, main table overhead, expires overhead) of non-empty databases.
    pub dbs: Vec<(usize, u64, u64)>,
    pub keys: u64,
    pub overhead: u64,
    /// The replication buffer, split as Redis 7.0 reports it.
    pub repl_backlog: u64,
    pub clients_slaves: u64,
    pub repl_buffers: u64,
}

impl Report {
    /// Gathers the figures. Shards the running command holds (INFO inside
    /// EXEC) are left out: locks do not nest.
    pub fn gather(ctx: &Ctx) -> Report {
        let srv = ctx.srv;
        let mut r = Report {
            used: crate::alloc::used_memory() as u64,
            startup: crate::alloc::startup_memory() as u64,
            rss: super::server::rss_bytes(),
            allocator_active: crate::alloc::allocator_info().committed as u64,
            not_counted: srv.store.evict.not_counted.load(Ordering::Relaxed) as u64,
            ..Report::default()
        };
        r.peak = (crate::alloc::peak_memory() as u64).max(r.used);
        for c in srv.clients.all() {
            r.clients_count += 1;
            r.clients_normal += c.memory() as u64;
        }
        {
            let scripts = srv.scripts.read();
            r.cached_scripts = scripts.len() as u64;
            r.scripts_eval = scripts.keys().map(|k| k.len() as u64 + 64).sum();
        }
        {
            let f = srv.functions.read();
            r.libraries = f.libs.len() as u64;
            r.functions = f.functions.len() as u64;
            r.functions_mem = f.libs.values().map(|l| l.code.len() as u64).sum();
        }
        for db in 0..srv.store.databases() {
            let (mut main, mut expires, mut keys) = (0u64, 0u64, 0u64);
            for shard in 0..SHARDS {
                if ctx.ks.holds(db, shard) {
                    continue;
                }
                let s = srv.store.lock_shard(db, shard);
                keys += s.table().len() as u64;
                main += s.table().overhead_bytes() as u64;
                expires += s.expiry_overhead_bytes() as u64;
            }
            if keys > 0 {
                r.dbs.push((db, main, expires));
                r.keys += keys;
            }
        }
        let backlog_size = crate::repl::primary::settings(srv).backlog_size;
        (r.repl_backlog, r.clients_slaves, r.repl_buffers) = srv.repl.memory(backlog_size);
        r.overhead = r.startup
            + r.clients_normal
            + r.repl_buffers
            + r.aof_buffer
            + r.scripts_eval
            + r.functions_mem
            + r.dbs.iter().map(|(_, m, e)| m + e).sum::<u64>();
        r
    }

    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead)
    }

    fn dataset_perc(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup);
        if net == 0 {
            0.0
        } else {
            self.dataset() as f64 * 100.0 / net as f64
        }
    }

    fn peak_perc(&self) -> f64 {
        if self.peak == 0 {
            0.0
        } else {
            self.used as f64 * 100.0 / self.peak as f64
        }
    }

    /// (ratio, bytes) of allocator_active over used_memory.
    fn allocator_frag(&self) -> (f64, i64) {
        ratio(self.allocator_active, self.used)
    }

    /// (ratio, bytes) of RSS over the allocator's committed memory. mimalloc
    /// has no separate "resident" figure: RSS stands for it (as allocator_resident).
    fn allocator_rss(&self) -> (f64, i64) {
        ratio(self.rss, self.allocator_active)
    }

    /// (ratio, bytes) of the process RSS over the allocator's resident.
    fn rss_overhead(&self) -> (f64, i64) {
        ratio(self.rss, self.rss)
    }

    /// (ratio, bytes) of RSS over used_memory.
    fn fragmentation(&self) -> (f64, i64) {
        ratio(self.rss, self.used)
    }
}

fn ratio(a: u64, b: u64) -> (f64, i64) {
    let r = if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (r, a as i64 - b as i64)
}

/// Redis's bytesToHuman.
pub fn human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if d < K {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else {
        format!("{:.2}P", d / (K * K * K * K * K))
    }
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// INFO's `# Memory` section, every field Redis 7.0 prints, in its order.
pub fn info_section(ctx: &Ctx) -> String {
    let r = Report::gather(ctx);
    let cfg = ctx.srv.config.read();
    let sys = total_system_memory();
    let (af, afb) = r.allocator_frag();
    let (ar, arb) = r.allocator_rss();
    let (ro, rob) = r.rss_overhead();
    let (fr, frb) = r.fragmentation();
    // Lua runs in a wasm guest: its heap is the guest's linear memory. Eval
    // scripts and function libraries share the one interpreter guest; wasm
    // scripts and libraries have their own guests (their memory is counted
    // with functions).
    let vm_eval = ctx.srv.lua.memory_bytes() as u64;
    let vm_functions = ctx
        .srv
        .functions
        .read()
        .libs
        .values()
        .filter(|l| l.lua.is_none())
        .map(|l| l.guest.memory_bytes() as u64)
        .sum::<u64>();
    let mut s = String::from("# Memory\r\n");
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    line("used_memory", &r.used);
    line("used_memory_human", &human(r.used));
    line("used_memory_rss", &r.rss);
    line("used_memory_rss_human", &human(r.rss));
    line("used_memory_peak", &r.peak);
    line("used_memory_peak_human", &human(r.peak));
    line("used_memory_peak_perc", &format!("{:.2}%", r.peak_perc()));
    line("used_memory_overhead", &r.overhead);
    line("used_memory_startup", &r.startup);
    line("used_memory_dataset", &r.dataset());
    line(
        "used_memory_dataset_perc",
        &format!("{:.2}%", r.dataset_perc()),
    );
    line("allocator_allocated", &r.used);
    line("allocator_active", &r.allocator_active);
    line("allocator_resident", &r.rss);
    line("total_system_memory", &sys);
    line("total_system_memory_human", &human(sys));
    line("used_memory_lua", &vm_eval);
    line("used_memory_vm_eval", &vm_eval);
    line("used_memory_lua_human", &human(vm_eval));
    line("used_memory_scripts_eval", &r.scripts_eval);
    line("number_of_cached_scripts", &r.cached_scripts);
    line("number_of_functions", &r.functions);
    line("number_of_libraries", &r.libraries);
    line("used_memory_vm_functions", &vm_functions);
    line("used_memory_vm_total", &(vm_eval + vm_functions));
    line("used_memory_vm_total_human", &human(vm_eval + vm_functions));
    line("used_memory_functions", &r.functions_mem);
    line("used_memory_scripts", &(r.scripts_eval + r.functions_mem));
    line(
        "used_memory_scripts_human",
        &human(r.scripts_eval + r.functions_mem),
    );
    line("maxmemory", &cfg.maxmemory);
    line("maxmemory_human", &human(cfg.maxmemory));
    line("maxmemory_policy", &cfg.maxmemory_policy);
    line("allocator_frag_ratio", &format!("{af:.2}"));
    line("allocator_frag_bytes", &afb);
    line("allocator_rss_ratio", &format!("{ar:.2}"));
    line("allocator_rss_bytes", &arb);
    line("rss_overhead_ratio", &format!("{ro:.2}"));
    line("rss_overhead_bytes", &rob);
    line("mem_fragmentation_ratio", &format!("{fr:.2}"));
    line("mem_fragmentation_bytes", &frb);
    line("mem_not_counted_for_evict", &r.not_counted);
    line("mem_replication_backlog", &r.repl_backlog);
    line("mem_total_replication_buffers", &r.repl_buffers);
    line("mem_clients_slaves", &r.clients_slaves);
    line("mem_clients_normal", &r.clients_normal);
    line("mem_cluster_links", &0);
    line("mem_aof_buffer", &r.aof_buffer);
    line("mem_allocator", &"mimalloc");
    line("active_defrag_running", &0);
    line("lazyfree_pending_objects", &0);
    line("lazyfreed_objects", &0);
    s
}

fn memory_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let r = Report::gather(ctx);
    let out = &mut *ctx.out;
    out.map(27 + r.dbs.len());
    let int = |out: &mut crate::server::reply::Out, k: &str, v: i64| {
        out.bulk(k.as_bytes());
        out.int(v);
    };
    int(out, "peak.allocated", r.peak as i64);
    int(out, "total.allocated", r.used as i64);
    int(out, "startup.allocated", r.startup as i64);
    int(out, "replication.backlog", r.repl_backlog as i64);
    int(out, "clients.slaves", r.clients_slaves as i64);
    int(out, "clients.normal", r.clients_normal as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", r.aof_buffer as i64);
    int(out, "lua.caches", r.scripts_eval as i64);
    int(out, "functions.caches", r.functions_mem as i64);
    for (db, main, expires) in &r.dbs {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(2);
        int(out, "overhead.hashtable.main", *main as i64);
        int(out, "overhead.hashtable.expires", *expires as i64);
    }
    int(out, "overhead.total", r.overhead as i64);
    int(out, "keys.count", r.keys as i64);
    let net = r.used.saturating_sub(r.startup);
    int(
        out,
        "keys.bytes-per-key",
        net.checked_div(r.keys).unwrap_or(0) as i64,
    );
    int(out, "dataset.bytes", r.dataset() as i64);
    let dbl = |out: &mut crate::server::reply::Out, k: &str, v: f64| {
        out.bulk(k.as_bytes());
        out.double(v);
    };
    dbl(out, "dataset.percentage", r.dataset_perc());
    dbl(out, "peak.percentage", r.peak_perc());
    int(out, "allocator.allocated", r.used as i64);
    int(out, "allocator.active", r.allocator_active as i64);
    int(out, "allocator.resident", r.rss as i64);
    let (af, afb) = r.allocator_frag();
    let (ar, arb) = r.allocator_rss();
    let (ro, rob) = r.rss_overhead();
    let (fr, frb) = r.fragmentation();
    dbl(out, "allocator-fragmentation.ratio", af);
    int(out, "allocator-fragmentation.bytes", afb);
    dbl(out, "allocator-rss.ratio", ar);
    int(out, "allocator-rss.bytes", arb);
    dbl(out, "rss-overhead.ratio", ro);
    int(out, "rss-overhead.bytes", rob);
    dbl(out, "fragmentation", fr);
    int(out, "fragmentation.bytes", frb);
    Ok(())
}

/// Redis's getMemoryDoctorReport, on our figures.
fn doctor_report(r: &Report, numclients: u64) -> String {
    if r.used < 5 << 20 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string();
    }
    let mut issues: Vec<String> = Vec::new();
    if r.peak as f64 / r.used as f64 > 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n".to_string());
    }
    let (fr, frb) = r.fragmentation();
    if fr > 1.4 && frb > 10 << 20 {
        issues.push(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"mimalloc\".\n\n".to_string());
    }
    let (af, afb) = r.allocator_frag();
    if af > 1.1 && afb > 10 << 20 {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n".to_string());
    }
    let (ar, arb) = r.allocator_rss();
    if ar > 1.1 && arb > 10 << 20 {
        issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".to_string());
    }
    if numclients > 0 && r.clients_normal / numclients > 200 * 1024 {
        issues.push(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n".to_string());
    }
    if r.cached_scripts > 1000 {
        issues.push(" * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.\n\n".to_string());
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string();
    }
    let mut s =
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n".to_string();
    for i in issues {
        s.push_str(&i);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

fn memory_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let r = Report::gather(ctx);
    let text = doctor_report(&r, r.clients_count);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn memory_malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let text = crate::alloc::malloc_stats();
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn memory_purge(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    crate::alloc::purge();
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_matches_redis() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(914560), "893.12K");
        assert_eq!(human(25276182528), "23.54G");
    }

    #[test]
    fn doctor_reports_like_redis() {
        let mut r = Report {
            used: 1 << 20,
            ..Report::default()
        };
        assert!(doctor_report(&r, 1).starts_with("Hi Sam, this instance is empty"));
        r.used = 100 << 20;
        r.peak = 100 << 20;
        r.rss = 100 << 20;
        r.allocator_active = 100 << 20;
        assert!(doctor_report(&r, 1).starts_with("Hi Sam, I can't find any memory issue"));
        r.peak = 200 << 20;
        let s = doctor_report(&r, 1);
        assert!(s.contains(" * Peak memory:"), "{s}");
        assert!(s.ends_with("I want to help you.\n"));
    }
}
