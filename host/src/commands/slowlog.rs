//! The slow log (Redis's slowlog.c): commands whose execution took at least
//! `slowlog-log-slower-than` microseconds, newest first, at most
//! `slowlog-max-len` of them, and the SLOWLOG command that reads and clears it.
//!
//! The dispatcher already reads the clock once per command (for the command's
//! time and commandstats); [`SlowLog::is_slow`] compares that duration with
//! the threshold, a single comparison, and only slow commands reach
//! [`SlowLog::record`]. A disabled log (negative threshold) has threshold
//! `u64::MAX`, so the comparison never passes.

use super::keys::{container_help, reply_help};
use super::table::{flags::*, CommandSpec, Group};
use super::{CmdError, CmdResult, Ctx};
use crate::server::client::ClientShared;
use crate::server::Server;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("slowlog", -2, Group::Server, container_help)
            .doc(
                "2.2.12",
                "A container for slow log commands.",
                "Depends on subcommand.",
            )
            .subcommands(SUBCOMMANDS),
    ];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -2, Group::Server, slowlog_get)
        .flags(ADMIN | LOADING | STALE)
        .doc(
            "2.2.12",
            "Returns the slow log's entries.",
            "O(N) where N is the number of entries returned",
        )
        .syntax("[count]"),
    CommandSpec::new("len", 2, Group::Server, slowlog_len)
        .flags(ADMIN | LOADING | STALE)
        .doc(
            "2.2.12",
            "Returns the number of entries in the slow log.",
            "O(1)",
        ),
    CommandSpec::new("reset", 2, Group::Server, slowlog_reset)
        .flags(ADMIN | LOADING | STALE)
        .doc(
            "2.2.12",
            "Clears all entries from the slow log.",
            "O(N) where N is the number of entries in the slowlog",
        ),
    CommandSpec::new("help", 2, Group::Server, slowlog_help)
        .flags(LOADING | STALE)
        .doc(
            "6.2.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
];

/// Redis's SLOWLOG_ENTRY_MAX_ARGC: longer argv keep this many slots, the
/// last one saying how many arguments were left out.
const MAX_ARGC: usize = 32;
/// Redis's SLOWLOG_ENTRY_MAX_STRING: longer arguments are cut to this many bytes.
const MAX_STRING: usize = 128;

/// One logged command, as SLOWLOG GET replies it.
struct Entry {
    id: u64,
    /// Unix seconds when the command started.
    time: i64,
    duration_us: u64,
    argv: Vec<Vec<u8>>,
    peer: String,
    name: Vec<u8>,
}

/// The slow log of a server.
pub struct SlowLog {
    /// Microseconds; `u64::MAX` when the log is disabled.
    threshold: AtomicU64,
    max_len: AtomicU64,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            threshold: AtomicU64::new(10_000),
            max_len: AtomicU64::new(128),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl SlowLog {
    /// Takes `slowlog-log-slower-than` and `slowlog-max-len` (start-up and CONFIG SET).
    pub fn configure(&self, log_slower_than: i64, max_len: u64) {
        let threshold = u64::try_from(log_slower_than).unwrap_or(u64::MAX);
        self.threshold.store(threshold, Ordering::Relaxed);
        self.max_len.store(max_len, Ordering::Relaxed);
        let mut entries = self.entries.lock();
        entries.truncate(max_len.try_into().unwrap_or(usize::MAX));
    }

    /// Whether a command that ran `duration_us` belongs in the log.
    #[inline]
    pub fn is_slow(&self, duration_us: u64) -> bool {
        duration_us >= self.threshold.load(Ordering::Relaxed)
    }

    /// Logs a command the caller found [`is_slow`](Self::is_slow), unless the
    /// command is exempt (`skip_slowlog`: EXEC, whose commands are logged one
    /// by one), rejected before it ran (unknown, wrong arity), or queued
    /// inside MULTI (`in_multi`: only MULTI itself runs then; EXEC logs the
    /// queued commands when it runs them).
    pub fn record(
        srv: &Server,
        client: &ClientShared,
        argv: &[&[u8]],
        start_us: i64,
        duration_us: u64,
        in_multi: bool,
    ) {
        let Ok(cmd) = super::resolve(srv, argv) else {
            return;
        };
        if cmd.spec.has(SKIP_SLOWLOG)
            || !cmd.arity_ok(argv.len())
            || (in_multi && cmd.spec.name != "multi")
        {
            return;
        }
        let log = &srv.slowlog;
        let max_len = log.max_len.load(Ordering::Relaxed);
        let entry = Entry {
            id: log.next_id.fetch_add(1, Ordering::Relaxed),
            time: start_us.div_euclid(1_000_000),
            duration_us,
            argv: logged_argv(cmd.spec.name, argv),
            peer: client.addr.to_string(),
            name: client.name.lock().clone().unwrap_or_default(),
        };
        let mut entries = log.entries.lock();
        entries.push_front(entry);
        entries.truncate(max_len.try_into().unwrap_or(usize::MAX));
    }
}

/// The arguments as Redis stores them: at most [`MAX_ARGC`] slots, each at
/// most [`MAX_STRING`] bytes, and secrets replaced by "(redacted)" as Redis
/// 7.0's redactClientCommandArgument does (AUTH, HELLO ... AUTH, CONFIG SET
/// of a sensitive directive).
fn logged_argv(name: &str, argv: &[&[u8]]) -> Vec<Vec<u8>> {
    let argc = argv.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(argc);
    for (i, arg) in argv.iter().take(argc).enumerate() {
        if argc != argv.len() && i == argc - 1 {
            out.push(format!("... ({} more arguments)", argv.len() - argc + 1).into_bytes());
        } else if is_redacted(name, argv, i) {
            out.push(b"(redacted)".to_vec());
        } else if arg.len() > MAX_STRING {
            let mut cut = arg[..MAX_STRING].to_vec();
            cut.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - MAX_STRING).as_bytes(),
            );
            out.push(cut);
        } else {
            out.push(arg.to_vec());
        }
    }
    out
}

/// Whether argument `i` of a `name` command carries a secret.
fn is_redacted(name: &str, argv: &[&[u8]], i: usize) -> bool {
    match name {
        "auth" => i >= 1,
        "hello" => {
            // HELLO [protover [AUTH user pass] [SETNAME name]]
            let mut j = 2;
            while j < argv.len() {
                if super::eq_ic(argv[j], "auth") && j + 2 < argv.len() {
                    if i == j + 1 || i == j + 2 {
                        return true;
                    }
                    j += 3;
                } else {
                    j += 2;
                }
            }
            false
        }
        // ACL SETUSER name rules...: the name and every rule (passwords).
        "setuser" if super::eq_ic(argv[0], "acl") => i >= 2,
        "set" if argv.len() > 2 && super::eq_ic(argv[0], "config") => {
            // CONFIG SET name value [name value ...]: values of secrets.
            i >= 3 && (i - 3).is_multiple_of(2) && crate::config::is_sensitive(argv[i - 1])
        }
        _ => false,
    }
}

fn slowlog_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let count = match argv.get(2) {
        None => 10,
        Some(a) => match crate::util::num::parse_i64(a) {
            Some(n) if n >= -1 => n,
            _ => {
                return Err(CmdError::err(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        },
    };
    let entries = ctx.srv.slowlog.entries.lock();
    let n = if count == -1 {
        entries.len()
    } else {
        entries.len().min(count as usize)
    };
    ctx.out.array(n);
    for e in entries.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time);
        ctx.out.int(e.duration_us as i64);
        ctx.out.array(e.argv.len());
        for a in &e.argv {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.peer.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.srv.slowlog.entries.lock().len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.srv.slowlog.entries.lock().clear();
    ctx.out.simple("OK");
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_truncated_like_redis() {
        let long = [b'x'; 200];
        let args: Vec<&[u8]> = std::iter::once(&b"rpush"[..])
            .chain(std::iter::repeat_n(&long[..], 39))
            .collect();
        let got = logged_argv("rpush", &args);
        assert_eq!(got.len(), 32);
        assert_eq!(got[0], b"rpush");
        let mut want = vec![b'x'; 128];
        want.extend_from_slice(b"... (72 more bytes)");
        assert_eq!(got[1], want);
        assert_eq!(got[31], b"... (9 more arguments)");
    }

    #[test]
    fn secrets_are_redacted() {
        let got = logged_argv("hello", &[b"hello", b"3", b"auth", b"u", b"p"]);
        assert_eq!(got[3], b"(redacted)");
        assert_eq!(got[4], b"(redacted)");
        assert_eq!(got[2], b"auth");
        let got = logged_argv("auth", &[b"auth", b"pw"]);
        assert_eq!(got[1], b"(redacted)");
    }
}
