//! The latency monitor (Redis's latency.c): per event, the worst latency of
//! each second (the last 160 such samples) and the all-time maximum, for
//! commands that took at least `latency-monitor-threshold` milliseconds; and
//! LATENCY LATEST / HISTORY / RESET / HELP that read and clear it.
//!
//! Ember's events are "command" and "fast-command" (commands flagged
//! `fast`), timed by the dispatcher's per-command clock read like SLOWLOG.
//! Not done: LATENCY DOCTOR, GRAPH and HISTOGRAM (with `latency-tracking`
//! and INFO latencystats); they answer "unknown subcommand".

use super::keys::{container_help, reply_help};
use super::table::{flags::*, CommandSpec, Group};
use super::{CmdResult, Ctx};
use crate::server::Server;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Default for LatencyMonitor {
    fn default() -> Self {
        LatencyMonitor {
            threshold_us: AtomicU64::new(u64::MAX),
            events: Mutex::new(BTreeMap::new()),
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
