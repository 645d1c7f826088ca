//! SAVE, BGSAVE and LASTSAVE (Redis's rdb.c commands). The mechanism lives in
//! persist/snapshot.rs; these handlers only give it Redis's replies.

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::persist::snapshot::{self as snap, BgsaveRefused};

pub const COMMANDS: &[CommandSpec] = &[
    // SAVE takes every shard itself (ALL_DBS): the file is exactly the
    // keyspace at this instant, and writers wait, as Redis's SAVE blocks.
    CommandSpec::new("save", 1, Group::Server, save)
        .flags(ADMIN | NOSCRIPT | NO_MULTI | ALL_DBS)
        .acl(&["dangerous"])
        .doc(
            "1.0.0",
            "Synchronously saves the database(s) to disk.",
            "O(N) where N is the total number of keys in all databases",
        ),
    CommandSpec::new("bgsave", -1, Group::Server, bgsave)
        .flags(ADMIN | NOSCRIPT)
        .acl(&["dangerous"])
        .doc(
            "1.0.0",
            "Asynchronously saves the database(s) to disk.",
            "O(1)",
        )
        .syntax("[SCHEDULE]"),
    CommandSpec::new("lastsave", 1, Group::Server, lastsave)
        .flags(LOADING | STALE | FAST)
        .acl(&["admin", "dangerous"])
        .doc(
            "1.0.0",
            "Returns the Unix timestamp of the last successful save to disk.",
            "O(1)",
        ),
];

fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.srv.persist.bgsave_running() {
        return Err(CmdError::err("ERR Background save already in progress"));
    }
    ctx.srv.persist.count_save();
    match snap::save_locked(ctx.srv, ctx.ks) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(_) => Err(CmdError::err("ERR")),
    }
}

fn bgsave(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let schedule = match argv.len() {
        1 => false,
        2 if eq_ic(argv[1], "schedule") => true,
        _ => return Err(CmdError::Syntax),
    };
    if ctx.srv.persist.bgsave_running() {
        return Err(CmdError::err("ERR Background save already in progress"));
    }
    // Inside EXEC the locks of the transaction are held, so the snapshot
    // cannot take them all now: Redis schedules in that case too.
    let busy = ctx.srv.store.snap_stats().busy();
    if busy || ctx.client.in_exec {
        if schedule || ctx.client.in_exec {
            snap::schedule_bgsave(ctx.srv);
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::err("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
    }
    match snap::start_bgsave(ctx.srv) {
        Ok(()) => {
            ctx.out.simple("Background saving started");
            Ok(())
        }
        Err(BgsaveRefused::InProgress) => {
            Err(CmdError::err("ERR Background save already in progress"))
        }
        Err(BgsaveRefused::OtherChild) => {
            if schedule {
                snap::schedule_bgsave(ctx.srv);
                ctx.out.simple("Background saving scheduled");
                return Ok(());
            }
            Err(CmdError::err("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."))
        }
    }
}

fn lastsave(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.srv.persist.state().last_save);
    Ok(())
}
