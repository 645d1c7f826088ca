//! CLIENT PAUSE / CLIENT UNPAUSE, the client-command purpose of the
//! server's pause (server/pause.rs, which FAILOVER and SHUTDOWN share), and
//! the dispatcher's check that holds a command while any pause is in force.

use super::table::flags;
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::server::pause::{self, HeldCommand, Mode, Purpose};
use std::sync::atomic::Ordering;

/// The dispatcher's check (processCommand's pause test): true when the
/// command was held; the connection runs it again once the pause ends.
pub fn hold(
    srv: &crate::server::Server,
    client: &mut crate::server::client::Client,
    cmd: &super::table::Command,
    argv: &[&[u8]],
    now_ms: i64,
) -> bool {
    use crate::server::client::FLAG_REPLICA;
    // Replicas and the primary link are never held (Redis pauses only
    // what clients send, so the replication stream keeps flowing).
    if client.master || client.shared.flags.load(Ordering::Relaxed) & FLAG_REPLICA != 0 {
        return false;
    }
    // EVAL, FCALL, PUBLISH, PFCOUNT carry `may_replicate` in the table;
    // a script's declared flags do not remove it (as in Redis).
    let may_replicate = super::runs_flagged(cmd, client, flags::WRITE | flags::MAY_REPLICATE);
    if !srv.pause.holds(now_ms, may_replicate) {
        return false;
    }
    client.paused = Some(HeldCommand {
        argv: argv.iter().map(|a| a.to_vec()).collect(),
        may_replicate,
    });
    true
}

/// CLIENT PAUSE timeout [WRITE|ALL].
pub fn client_pause(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let mut mode = Mode::All;
    if argv.len() == 4 {
        if eq_ic(argv[3], "write") {
            mode = Mode::Write;
        } else if !eq_ic(argv[3], "all") {
            return Err(CmdError::err("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let ms = super::arg_i64(argv[2])
        .map_err(|_| CmdError::err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("ERR timeout is negative"));
    }
    // A timeout of 0 ends at once (Redis's getTimeoutFromObjectOrReply).
    let end = if ms > 0 {
        ctx.now_ms().saturating_add(ms)
    } else {
        0
    };
    pause::pause(
        &ctx.srv.pause,
        &ctx.srv.store,
        Purpose::ClientCommand,
        mode,
        end,
    );
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNPAUSE.
pub fn client_unpause(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // Only CLIENT PAUSE's own purpose ends: a FAILOVER's or SHUTDOWN's
    // pause stays (Redis's unpauseClients(PAUSE_BY_CLIENT_COMMAND)).
    pause::unpause(&ctx.srv.pause, &ctx.srv.store, Purpose::ClientCommand);
    ctx.out.ok();
    Ok(())
}
