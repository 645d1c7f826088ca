//! DEBUG (Redis's debug.c), behind `enable-debug-command` as in Redis 7.0.
//! Only the subcommands Ember implements are here: RELOAD (save, empty the
//! keyspace and the function libraries, load the file back) and LOADAOF
//! (the same from the AOF files).

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::config::ProtectedAction;
use crate::store::LockPlan;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new("debug", -2, Group::Server, debug)
    .flags(ADMIN | NOSCRIPT | LOADING | STALE)
    .acl(&["dangerous"])
    .doc(
        "1.0.0",
        "A container for debugging commands.",
        "Depends on subcommand.",
    )];

fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let allowed = match ctx.srv.config.read().enable_debug_command {
        ProtectedAction::Yes => true,
        ProtectedAction::No => false,
        ProtectedAction::Local => ctx.client.shared.addr.ip().is_loopback(),
    };
    if !allowed {
        return Err(CmdError::err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    if eq_ic(argv[1], "reload") {
        return reload(ctx, argv);
    }
    if eq_ic(argv[1], "loadaof") {
        return loadaof(ctx);
    }
    Err(CmdError::owned(format!(
        "ERR unknown subcommand '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)])
    )))
}

/// DEBUG RELOAD [NOFLUSH] [NOSAVE]: SAVE, FLUSHALL (functions too), load
/// `dbfilename` back. MERGE (replace keys already present) is not supported.
fn reload(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut flush, mut save) = (true, true);
    for opt in &argv[2..] {
        if eq_ic(opt, "noflush") {
            flush = false;
        } else if eq_ic(opt, "nosave") {
            save = false;
        } else if eq_ic(opt, "merge") {
            return Err(CmdError::err(
                "ERR DEBUG RELOAD MERGE is not supported by Ember",
            ));
        } else {
            return Err(CmdError::err(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    // DEBUG has no keys, so this handler holds no shard: it may take them all.
    let srv = ctx.srv;
    srv.persist
        .loading
        .store(true, std::sync::atomic::Ordering::Release);
    let r = reload_files(ctx, flush, save);
    srv.persist
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
    r
}

fn reload_files(ctx: &mut Ctx, flush: bool, save: bool) -> CmdResult {
    let srv = ctx.srv;
    if save {
        let mut ks = srv.store.lock(&LockPlan::All, ctx.now_ms());
        if crate::persist::snapshot::save_locked(srv, &mut ks).is_err() {
            return Err(CmdError::err("ERR"));
        }
    }
    if flush {
        let mut ks = srv.store.lock(&LockPlan::All, ctx.now_ms());
        for db in 0..srv.store.databases() {
            drop(ks.flush_db(db));
        }
        drop(ks);
        super::functions::clear(srv);
    }
    let filename = srv.config.read().dbfilename.clone();
    let loaded = std::fs::File::open(&filename)
        .map_err(anyhow::Error::from)
        .and_then(|f| crate::persist::load::load_file(srv, f, &filename, false));
    if let Err(e) = loaded {
        crate::log::warning(&format!("{e:#}"));
        return Err(CmdError::err(
            "ERR Error trying to load the RDB dump, check server logs.",
        ));
    }
    crate::log::warning("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}

/// DEBUG LOADAOF: flush and fsync the AOF, empty the keyspace and the
/// function libraries, load the AOF files back (persist/aof). As in Redis
/// 7.0, files that cannot be loaded stop the server: the keyspace is
/// already gone, and serving (or saving) a part of it would lose data.
fn loadaof(ctx: &mut Ctx) -> CmdResult {
    if let Err(e) = crate::persist::aof::debug_load(ctx.srv) {
        crate::log::warning(&e);
        crate::log::warning("Fatal error: can't load the AOF files by DEBUG LOADAOF. Exiting.");
        std::process::exit(1);
    }
    crate::log::warning("Append Only File loaded by DEBUG LOADAOF");
    ctx.out.ok();
    Ok(())
}
