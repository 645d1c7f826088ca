//! Replication commands of the primary side (Redis's replication.c
//! commands): SYNC, PSYNC, REPLCONF, WAIT and ROLE. The mechanism lives in
//! repl/; these handlers parse arguments and give Redis's replies.

use super::table::{flags::*, CommandSpec, Group};
use super::{CmdError, CmdResult, Ctx};
use crate::repl::primary;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sync", 1, Group::Server, sync)
        .flags(ADMIN | NOSCRIPT | NO_MULTI)
        .acl(&["dangerous"])
        .doc("1.0.0", "Internal command used for replication", "")
        .syntax(""),
    CommandSpec::new("psync", -3, Group::Server, sync)
        .flags(ADMIN | NOSCRIPT | NO_MULTI)
        .acl(&["dangerous"])
        .doc("2.8.0", "Internal command used for replication", "")
        .syntax("replicationid offset"),
    CommandSpec::new("replconf", -1, Group::Server, replconf)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY)
        .acl(&["dangerous"])
        .doc("3.0.0", "An internal command for configuring the replication stream", "O(1)"),
    CommandSpec::new("wait", 3, Group::Generic, wait)
        .flags(NOSCRIPT)
        .acl(&["connection"])
        .doc(
            "3.0.0",
            "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
            "O(1)",
        )
        .syntax("numreplicas timeout"),
    CommandSpec::new("role", 1, Group::Server, role)
        .flags(NOSCRIPT | LOADING | STALE | FAST)
        .acl(&["admin", "dangerous"])
        .doc("2.8.12", "Return the role of the instance in the context of replication", "O(1)"),
];

fn sync(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis refuses a SYNC that would mix the RDB with earlier replies.
    if !ctx.out.is_empty() {
        return Err(CmdError::err(
            "ERR SYNC and PSYNC are invalid with pending output",
        ));
    }
    primary::sync_command(ctx.srv, ctx.client, argv).map_err(CmdError::owned)?;
    // Nothing is replied here: the replica's connection task answers.
    ctx.propagate_nothing();
    Ok(())
}

fn replconf(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if primary::replconf_command(ctx.srv, ctx.client, argv).map_err(CmdError::owned)? {
        ctx.out.ok();
    }
    Ok(())
}

fn wait(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.srv.repl.is_replica() {
        return Err(CmdError::err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let numreplicas = super::arg_i64(argv[1])?;
    let timeout = crate::util::num::parse_i64(argv[2]).ok_or(CmdError::err(
        "ERR timeout is not an integer or out of range",
    ))?;
    if timeout < 0 {
        return Err(CmdError::err("ERR timeout is negative"));
    }
    if let Some(n) = primary::wait_command(ctx.srv, ctx.client, numreplicas, timeout) {
        ctx.out.int(n);
    }
    Ok(())
}

fn role(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    match ctx.srv.repl.master_link() {
        None => primary::role_reply(ctx.srv, ctx.out),
        Some(l) => {
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(l.host.as_bytes());
            ctx.out.int(i64::from(l.port));
            ctx.out.bulk(l.state.as_bytes());
            ctx.out.int(if l.state == "connected" {
                l.reploff
            } else {
                -1
            });
        }
    }
    Ok(())
}
