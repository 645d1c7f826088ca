//! Role changes: REPLICAOF and SLAVEOF (Redis's replicaofCommand) follow a
//! primary or, with NO ONE, become one; FAILOVER hands a primary's role to
//! one of its replicas. The mechanisms live in repl/replica.rs and
//! repl/failover.rs; these handlers check arguments and give Redis's replies.

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::repl::failover;
use crate::repl::replica::{self, Outcome};
use crate::server::client::FLAG_REPLICA;
use std::sync::atomic::Ordering;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("replicaof", 3, Group::Server, replicaof)
        .flags(ADMIN | NOSCRIPT | STALE)
        .acl(&["dangerous"])
        .doc(
            "5.0.0",
            "Make the server a replica of another instance, or promote it as master.",
            "O(1)",
        )
        .syntax("host port"),
    CommandSpec::new("slaveof", 3, Group::Server, replicaof)
        .flags(ADMIN | NOSCRIPT | STALE)
        .acl(&["dangerous"])
        .doc(
            "1.0.0",
            "Make the server a replica of another instance, or promote it as master.",
            "O(1)",
        )
        .syntax("host port"),
    CommandSpec::new("failover", -1, Group::Server, failover)
        .flags(ADMIN | NOSCRIPT | STALE)
        .acl(&["dangerous"])
        .doc(
            "6.2.0",
            "Start a coordinated failover between this server and one of its replicas.",
            "O(1)",
        )
        .syntax("[TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]"),
];

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (Redis's
/// failoverCommand: the same parse, checks and texts, in its order).
fn failover(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 && eq_ic(argv[1], "abort") {
        if !ctx.srv.repl.failover.active() {
            return Err(CmdError::err("ERR No failover in progress."));
        }
        failover::abort(ctx.srv, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let mut req = failover::Request {
        target: None,
        force: false,
        timeout_ms: 0,
    };
    let mut j = 1;
    while j < argv.len() {
        if eq_ic(argv[j], "timeout") && j + 1 < argv.len() && req.timeout_ms == 0 {
            req.timeout_ms = super::arg_i64(argv[j + 1])?;
            if req.timeout_ms <= 0 {
                return Err(CmdError::err("ERR FAILOVER timeout must be greater than 0"));
            }
            j += 2;
        } else if eq_ic(argv[j], "to") && j + 2 < argv.len() && req.target.is_none() {
            let port = super::arg_i64(argv[j + 2])?;
            let host = String::from_utf8_lossy(argv[j + 1]).into_owned();
            // A port no replica can have: findReplica then finds none.
            req.target = Some((host, u16::try_from(port).unwrap_or(0)));
            j += 3;
        } else if eq_ic(argv[j], "force") && !req.force {
            req.force = true;
            j += 1;
        } else {
            return Err(CmdError::err("ERR syntax error"));
        }
    }
    failover::start(ctx.srv, req).map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}

fn replicaof(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.srv.repl.failover.active() {
        return Err(CmdError::err(
            "ERR REPLICAOF not allowed while failing over.",
        ));
    }
    if eq_ic(argv[1], "no") && eq_ic(argv[2], "one") {
        if ctx.srv.repl.is_replica() {
            replica::unset_master(ctx.srv);
            crate::log::notice(&format!(
                "MASTER MODE enabled (user request from 'id={}')",
                ctx.client.id()
            ));
        }
        ctx.out.ok();
        return Ok(());
    }
    // A replica of ours cannot make us follow anyone: that would flush it.
    let flags = ctx.client.shared.flags.load(Ordering::Relaxed);
    if flags & FLAG_REPLICA != 0 {
        return Err(CmdError::err(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = crate::util::num::parse_i64(argv[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or(CmdError::err("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(argv[1]).into_owned();
    let Some(srv) = ctx.srv.arc() else {
        return Err(CmdError::err("ERR server is shutting down"));
    };
    match replica::set_master(&srv, host, port as u16) {
        Outcome::AlreadyConnected => ctx.out.simple("OK Already connected to specified master"),
        Outcome::Ok => {
            crate::log::notice(&format!(
                "REPLICAOF {}:{} enabled (user request from 'id={}')",
                String::from_utf8_lossy(argv[1]),
                port,
                ctx.client.id()
            ));
            ctx.out.ok();
        }
    }
    Ok(())
}
