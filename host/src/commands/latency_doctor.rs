//! LATENCY DOCTOR: Redis's human-readable report on the latency monitor's
//! events (latency.c's createLatencyReport): per event its spike count,
//! average, mean deviation and period, then the advice its events call for.
//! The texts are Redis's, so tools that read the report see the same words.

use crate::server::Server;

/// The figures of one event, as analyzeLatencyForEvent computes them.
pub struct EventStats {
    pub name: String,
    pub samples: u64,
    /// Milliseconds.
    pub avg: u64,
    pub mad: u64,
    /// Seconds since the oldest sample (at least 1).
    pub period: i64,
    pub max: u64,
}

impl EventStats {
    /// `samples` are (unix seconds, milliseconds); `max` the all-time high.
    pub fn of(
        name: &str,
        samples: impl Iterator<Item = (i64, u64)> + Clone,
        max: u64,
        now_s: i64,
    ) -> EventStats {
        let (mut n, mut sum, mut oldest) = (0u64, 0u64, 0i64);
        for (t, ms) in samples.clone() {
            n += 1;
            sum += ms;
            if oldest == 0 || t < oldest {
                oldest = t;
            }
        }
        let (mut avg, mut period, mut mad) = (0, 0, 0);
        if let Some(a) = sum.checked_div(n) {
            avg = a;
            period = (now_s - oldest).max(0);
            if period == 0 {
                period = 1;
            }
            let dev: u64 = samples
                .map(|(_, ms)| (avg as i64 - ms as i64).unsigned_abs())
                .sum();
            mad = dev / n;
        }
        EventStats {
            name: name.to_string(),
            samples: n,
            avg,
            mad,
            period,
            max,
        }
    }
}

/// Which advice the events call for.
#[derive(Default)]
struct Advice {
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    disk_contention: bool,
    scheduler: bool,
    data_writeback: bool,
    no_appendfsync: bool,
    local_disk: bool,
    ssd: bool,
    write_load_info: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    relax_fsync_policy: bool,
    disable_thp: bool,
    count: usize,
}

/// Bytes of transparent huge pages the process uses (smaps' AnonHugePages).
fn anon_huge_pages() -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    smaps
        .lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

pub fn report(srv: &Server, events: &[EventStats]) -> String {
    let cfg = srv.config.read();
    let threshold = cfg.latency_monitor_threshold;
    let mut r = String::new();
    if events.is_empty() && threshold == 0 {
        r.push_str("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
        return r;
    }
    let mut a = Advice::default();
    for (i, e) in events.iter().enumerate() {
        if i == 0 {
            r.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        r.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            e.name,
            e.samples,
            e.avg,
            e.mad,
            e.period as f64 / e.samples as f64,
            e.max
        ));
        match e.name.to_ascii_lowercase().as_str() {
            "command" => {
                if cfg.slowlog_log_slower_than < 0 {
                    a.slowlog_enabled = true;
                    a.count += 1;
                } else if (cfg.slowlog_log_slower_than / 1000) as u64 > threshold {
                    a.slowlog_tuning = true;
                    a.count += 1;
                }
                a.slowlog_inspect = true;
                a.large_objects = true;
                a.count += 2;
            }
            "fast-command" => {
                a.scheduler = true;
                a.count += 1;
            }
            "aof-write-pending-fsync" => {
                (a.local_disk, a.disk_contention, a.ssd, a.data_writeback) =
                    (true, true, true, true);
                a.count += 4;
            }
            "aof-write-active-child" => {
                (a.no_appendfsync, a.data_writeback, a.ssd) = (true, true, true);
                a.count += 3;
            }
            "aof-write-alone" => {
                (a.local_disk, a.data_writeback, a.ssd) = (true, true, true);
                a.count += 3;
            }
            "aof-fsync-always" => {
                a.relax_fsync_policy = true;
                a.count += 1;
            }
            "aof-fstat" | "rdb-unlink-temp-file" => {
                (a.disk_contention, a.local_disk) = (true, true);
                a.count += 2;
            }
            "aof-rewrite-diff-write" | "aof-rename" => {
                (a.write_load_info, a.data_writeback, a.ssd, a.local_disk) =
                    (true, true, true, true);
                a.count += 4;
            }
            "expire-cycle" => {
                (a.hz, a.large_objects) = (true, true);
                a.count += 2;
            }
            "eviction-del" => {
                a.large_objects = true;
                a.count += 1;
            }
            "eviction-cycle" => {
                a.mass_eviction = true;
                a.count += 1;
            }
            _ => {}
        }
        r.push('\n');
    }
    if anon_huge_pages() > 0 {
        a.disable_thp = true;
        a.count += 1;
    }
    if events.is_empty() && a.count == 0 {
        r.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return r;
    }
    if !events.is_empty() && a.count == 0 {
        r.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return r;
    }
    r.push_str("\nI have a few advices for you:\n\n");
    if a.slowlog_enabled {
        r.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold * 1000));
    }
    if a.slowlog_tuning {
        r.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold * 1000));
    }
    if a.slowlog_inspect {
        r.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if a.scheduler {
        r.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if a.local_disk {
        r.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
    }
    if a.ssd {
        r.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
    }
    if a.data_writeback {
        r.push_str("- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n");
    }
    if a.disk_contention {
        r.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
    }
    if a.no_appendfsync {
        r.push_str("- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n");
    }
    if a.relax_fsync_policy && cfg.appendfsync == crate::config::AppendFsync::Always {
        r.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
    }
    if a.write_load_info {
        r.push_str("- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n");
    }
    if a.hz && cfg.hz < 100 {
        r.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
    }
    if a.large_objects {
        r.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    if a.mass_eviction {
        r.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
    }
    if a.disable_thp {
        r.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
    }
    r
}
