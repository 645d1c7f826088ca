//! BGREWRITEAOF: the command side of the AOF rewrite (persist/aof).

use super::table::{flags::*, CommandSpec, Group};
use super::{CmdError, CmdResult, Ctx};
use crate::persist::aof::Rewrite;

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("bgrewriteaof", 1, Group::Server, bgrewriteaof)
            .flags(ADMIN | NOSCRIPT)
            .doc(
                "1.0.0",
                "Asynchronously rewrites the append-only file to disk.",
                "O(1)",
            ),
    ];

fn bgrewriteaof(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if crate::persist::aof::rewrite_in_progress(ctx.srv) {
        return Err(CmdError::err(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    // Inside EXEC the transaction's locks are held, so the snapshot cannot
    // take them all now: schedule, as during a BGSAVE.
    let started = if ctx.client.in_exec {
        crate::persist::aof::schedule_rewrite(ctx.srv);
        Rewrite::Scheduled
    } else {
        crate::persist::aof::start_rewrite(ctx.srv).map_err(CmdError::owned)?
    };
    ctx.out.simple(match started {
        Rewrite::Started => "Background append only file rewriting started",
        Rewrite::Scheduled => "Background append only file rewriting scheduled",
    });
    Ok(())
}
