//! BGREWRITEAOF: the command side of the AOF rewrite (persist/aof).

use super::table::{flags::*, CommandSpec, Group};
use super::{CmdError, CmdResult, Ctx};

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
    crate::persist::aof::start_rewrite(ctx.srv).map_err(CmdError::owned)?;
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}
