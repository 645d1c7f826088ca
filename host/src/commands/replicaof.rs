//! REPLICAOF and SLAVEOF (Redis's replicaofCommand): follow a primary or,
//! with NO ONE, become one. The replica side itself lives in
//! repl/replica.rs; these handlers check arguments and give Redis's replies.

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
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
];

fn replicaof(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if *ctx.srv.repl.failover_state.lock() != "no-failover" {
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
