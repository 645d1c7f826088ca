//! The latency monitor (Redis's latency.c): per event, the worst latency of
//! each second (the last 160 such samples) and the all-time maximum, for
//! commands that took at least `latency-monitor-threshold` milliseconds; and
//! LATENCY LATEST / HISTORY / RESET / HELP that read and clear it.
//!
//! Ember's events are "command" and "fast-command" (commands flagged
//! `fast`), timed by the dispatcher's per-command clock read like SLOWLOG.
//! LATENCY GRAPH draws an event's samples as a sparkline, LATENCY DOCTOR
//! writes Redis's report on them (latency_doctor.rs).
//!
//! Also here: `latency-tracking` (on by default, as in Redis 7), a duration
//! histogram per command (the command table's stats) that LATENCY HISTOGRAM
//! shows as a cumulative distribution and INFO latencystats as the
//! `latency-tracking-info-percentiles`.

use super::keys::{container_help, reply_help};
use super::table::{flags::*, CommandSpec, Group};
use super::{CmdError, CmdResult, Ctx};
use crate::server::Server;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("latency", -2, Group::Server, container_help)
            .doc(
                "2.8.13",
                "A container for latency diagnostics commands.",
                "Depends on subcommand.",
            )
            .subcommands(SUBCOMMANDS),
    ];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("latest", 2, Group::Server, latency_latest)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.8.13",
            "Returns the latest latency samples for all events.",
            "O(1)",
        ),
    CommandSpec::new("history", 3, Group::Server, latency_history)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.8.13",
            "Returns timestamp-latency samples for an event.",
            "O(1)",
        )
        .syntax("event"),
    CommandSpec::new("reset", -2, Group::Server, latency_reset)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.8.13",
            "Resets the latency data for one or more events.",
            "O(1)",
        )
        .syntax("[event [event ...]]"),
    CommandSpec::new("doctor", 2, Group::Server, latency_doctor)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.8.13",
            "Returns a human-readable latency analysis report.",
            "O(1)",
        ),
    CommandSpec::new("graph", 3, Group::Server, latency_graph)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("2.8.13", "Returns a latency graph for an event.", "O(1)")
        .syntax("event"),
    CommandSpec::new("histogram", -2, Group::Server, latency_histogram)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "7.0.0",
            "Returns the cumulative distribution of latencies of a subset or all commands.",
            "O(N) where N is the number of commands with latency information being retrieved.",
        )
        .syntax("[command [command ...]]"),
    CommandSpec::new("help", 2, Group::Server, latency_help)
        .flags(LOADING | STALE)
        .doc(
            "2.8.13",
            "Returns helpful text about the different subcommands.",
            "O(1)",
        ),
];

/// Redis's LATENCY_TS_LEN: samples kept per event.
const SAMPLES: usize = 160;

#[derive(Default)]
struct Series {
    /// (unix seconds, milliseconds), oldest first.
    samples: std::collections::VecDeque<(i64, u64)>,
    max: u64,
}

/// The latency monitor of a server.
pub struct LatencyMonitor {
    /// Microseconds; `u64::MAX` when the monitor is off (threshold 0).
    threshold_us: AtomicU64,
    events: Mutex<BTreeMap<&'static str, Series>>,
    /// `latency-tracking`: per-command histograms are recorded.
    tracking: AtomicBool,
    /// `latency-tracking-info-percentiles`, as configured ("50", "99.9").
    percentiles: Mutex<Vec<String>>,
}

impl Default for LatencyMonitor {
    fn default() -> Self {
        LatencyMonitor {
            threshold_us: AtomicU64::new(u64::MAX),
            events: Mutex::new(BTreeMap::new()),
            tracking: AtomicBool::new(true),
            percentiles: Mutex::new(vec!["50".into(), "99".into(), "99.9".into()]),
        }
    }
}

impl LatencyMonitor {
    /// Takes `latency-monitor-threshold` (milliseconds, 0 = off).
    pub fn configure(&self, threshold_ms: u64) {
        let us = match threshold_ms {
            0 => u64::MAX,
            ms => ms.saturating_mul(1000),
        };
        self.threshold_us.store(us, Ordering::Relaxed);
    }

    /// Takes `latency-tracking` and `latency-tracking-info-percentiles`.
    pub fn configure_tracking(&self, cfg: &crate::config::Config) {
        let on = cfg.get_one("latency-tracking").is_none_or(|v| v == "yes");
        self.tracking.store(on, Ordering::Relaxed);
        if let Some(p) = cfg.get_one("latency-tracking-info-percentiles") {
            *self.percentiles.lock() = p.split_whitespace().map(str::to_string).collect();
        }
    }

    /// Whether per-command latency histograms are recorded.
    #[inline]
    pub fn tracking(&self) -> bool {
        self.tracking.load(Ordering::Relaxed)
    }

    /// Records a command's duration in its histogram (callers check
    /// [`tracking`](Self::tracking)). Redis records between 1 ns and 1 s.
    pub fn track(cmd: &super::table::Command, duration_ns: u64, n: u64) {
        cmd.stats
            .latency
            .record_n(duration_ns.clamp(1, 1_000_000_000), n);
    }

    /// Whether a command that ran `duration_us` is a latency event (Redis
    /// compares whole milliseconds: `duration_us / 1000 >= threshold`).
    #[inline]
    pub fn is_slow(&self, duration_us: u64) -> bool {
        duration_us >= self.threshold_us.load(Ordering::Relaxed)
    }

    /// Records a command the caller found [`is_slow`](Self::is_slow), under
    /// the same exemptions as the slow log's (not run, or only queued).
    pub fn record_command(
        srv: &Server,
        argv: &[&[u8]],
        end_us: i64,
        duration_us: u64,
        in_multi: bool,
    ) {
        let Ok(cmd) = super::resolve(srv, argv) else {
            return;
        };
        if !cmd.arity_ok(argv.len()) || (in_multi && cmd.spec.name != "multi") {
            return;
        }
        let event = if cmd.spec.has(FAST) {
            "fast-command"
        } else {
            "command"
        };
        srv.latency
            .add_sample(event, end_us.div_euclid(1_000_000), duration_us / 1000);
    }

    /// One sample: a second keeps its worst latency.
    fn add_sample(&self, event: &'static str, now_s: i64, ms: u64) {
        let mut events = self.events.lock();
        let series = events.entry(event).or_default();
        series.max = series.max.max(ms);
        match series.samples.back_mut() {
            Some((t, worst)) if *t == now_s => *worst = (*worst).max(ms),
            _ => {
                if series.samples.len() == SAMPLES {
                    series.samples.pop_front();
                }
                series.samples.push_back((now_s, ms));
            }
        }
    }
}

fn latency_latest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let events = ctx.srv.latency.events.lock();
    ctx.out.array(events.len());
    for (name, series) in events.iter() {
        let (t, ms) = series.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t);
        ctx.out.int(ms as i64);
        ctx.out.int(series.max as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let events = ctx.srv.latency.events.lock();
    let series = events
        .iter()
        .find(|(name, _)| name.as_bytes() == argv[2])
        .map(|(_, s)| s);
    let Some(series) = series else {
        ctx.out.array(0);
        return Ok(());
    };
    ctx.out.array(series.samples.len());
    for &(t, ms) in &series.samples {
        ctx.out.array(2);
        ctx.out.int(t);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut events = ctx.srv.latency.events.lock();
    let n = if argv.len() == 2 {
        let n = events.len();
        events.clear();
        n
    } else {
        let mut n = 0;
        for name in &argv[2..] {
            let found = events.keys().find(|k| k.as_bytes() == *name).copied();
            if let Some(k) = found {
                events.remove(k);
                n += 1;
            }
        }
        n
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// LATENCY DOCTOR: Redis's report on the recorded events.
fn latency_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let stats: Vec<super::latency_doctor::EventStats> = {
        let events = ctx.srv.latency.events.lock();
        let now = crate::persist::snapshot::unix_s();
        events
            .iter()
            .map(|(name, series)| {
                super::latency_doctor::EventStats::of(
                    name,
                    series.samples.iter().copied(),
                    series.max,
                    now,
                )
            })
            .collect()
    };
    let report = super::latency_doctor::report(ctx.srv, &stats);
    ctx.out.verbatim(report.as_bytes());
    Ok(())
}

/// LATENCY GRAPH event: the event's samples as a sparkline, labelled with
/// how long ago each happened.
fn latency_graph(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let graph = {
        let events = ctx.srv.latency.events.lock();
        let Some((name, series)) = events.iter().find(|(n, _)| n.as_bytes() == argv[2]) else {
            return Err(CmdError::owned(format!(
                "ERR No samples available for event '{}'",
                super::truncate_c(argv[2], usize::MAX)
            )));
        };
        let now = crate::persist::snapshot::unix_s();
        let mut seq = crate::util::sparkline::Sequence::new();
        let (mut min, mut max) = (0u64, 0u64);
        for (i, &(t, ms)) in series.samples.iter().enumerate() {
            if i == 0 {
                (min, max) = (ms, ms);
            } else {
                min = min.min(ms);
                max = max.max(ms);
            }
            let elapsed = now - t;
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 3600 * 24 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / (3600 * 24))
            };
            seq.push(ms as f64, &label);
        }
        let mut graph = format!(
            "{name} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
            series.max,
            "-".repeat(GRAPH_COLS)
        );
        seq.render(&mut graph, GRAPH_COLS, 4);
        graph
    };
    ctx.out.verbatim(graph.as_bytes());
    Ok(())
}

/// Redis's LATENCY_GRAPH_COLS.
const GRAPH_COLS: usize = 80;

/// One command's cumulative distribution: calls, then (µs level, samples
/// at or below it) from 1 µs doubling.
fn write_cdf(ctx: &mut Ctx, cmd: &super::table::Command) {
    let h = &cmd.stats.latency;
    ctx.out.bulk(cmd.full_name.as_bytes());
    ctx.out.map(2);
    ctx.out.bulk(b"calls");
    ctx.out.int(h.total() as i64);
    ctx.out.bulk(b"histogram_usec");
    let cdf = h.log_cdf(1024);
    ctx.out.map(cdf.len());
    for (ns, count) in cdf {
        ctx.out.int((ns / 1000) as i64);
        ctx.out.int(count as i64);
    }
}

/// LATENCY HISTOGRAM [command ...]: the distributions of the commands (and
/// their subcommands) that have samples; unknown names are skipped.
fn latency_histogram(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut cmds: Vec<std::sync::Arc<super::table::Command>> = Vec::new();
    let tops: Vec<_> = if argv.len() == 2 {
        ctx.srv.commands.all()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| super::server::lookup_full_name(ctx, n))
            .collect()
    };
    for c in tops {
        let mut subs: Vec<_> = c.subcommands.values().cloned().collect();
        subs.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        cmds.push(c);
        cmds.extend(subs);
    }
    cmds.retain(|c| !c.stats.latency.is_empty());
    ctx.out.map(cmds.len());
    for c in &cmds {
        write_cdf(ctx, c);
    }
    Ok(())
}

/// INFO latencystats: a line of percentiles (µs) per command with samples.
pub fn info_section(srv: &Server) -> String {
    let mut s = String::from("# Latencystats\r\n");
    if !srv.latency.tracking() {
        return s;
    }
    let percentiles = srv.latency.percentiles.lock().clone();
    for c in srv.commands.all() {
        let mut subs: Vec<_> = c.subcommands.values().cloned().collect();
        subs.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        for cmd in std::iter::once(&c).chain(subs.iter()) {
            let h = &cmd.stats.latency;
            if h.is_empty() {
                continue;
            }
            s.push_str("latency_percentiles_usec_");
            s.push_str(&cmd.full_name);
            s.push(':');
            for (i, p) in percentiles.iter().enumerate() {
                let value = h.value_at_percentile(p.parse().unwrap_or(0.0));
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&format!("p{p}={:.3}", value as f64 / 1000.0));
            }
            s.push_str("\r\n");
        }
    }
    s
}

fn latency_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_keeps_its_worst_sample() {
        let m = LatencyMonitor::default();
        m.add_sample("command", 100, 5);
        m.add_sample("command", 100, 9);
        m.add_sample("command", 100, 3);
        m.add_sample("command", 101, 2);
        let events = m.events.lock();
        let s = &events["command"];
        assert_eq!(s.samples, [(100, 9), (101, 2)]);
        assert_eq!(s.max, 9);
    }

    #[test]
    fn history_is_bounded() {
        let m = LatencyMonitor::default();
        for t in 0..500 {
            m.add_sample("command", t, 1);
        }
        assert_eq!(m.events.lock()["command"].samples.len(), SAMPLES);
    }
}
