//! Transactions (Redis's multi.c): MULTI queues, EXEC runs the queue holding
//! the locks of every key it touches (so no other client sees half of it),
//! DISCARD drops it, WATCH makes EXEC fail if a watched key changed.

use super::table::{flags::*, CommandSpec, Group};
use super::{lock_plan, run, CmdError, CmdResult, Ctx};
use crate::server::client::Client;
use crate::server::Server;
use crate::store::LockPlan;
use smallvec::SmallVec;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, Group::Transactions, multi)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .doc("1.2.0", "Starts a transaction.", "O(1)"),
    CommandSpec::new("exec", 1, Group::Transactions, exec)
        .flags(NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG)
        .doc(
            "1.2.0",
            "Executes all commands in a transaction.",
            "Depends on commands in the transaction",
        ),
    CommandSpec::new("discard", 1, Group::Transactions, discard)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .doc(
            "2.0.0",
            "Discards a transaction.",
            "O(N), when N is the number of queued commands",
        ),
    CommandSpec::new("watch", -2, Group::Transactions, watch)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .keys(1, -1, 1)
        .doc(
            "2.2.0",
            "Monitors changes to keys to determine the execution of a transaction.",
            "O(1) for every key.",
        )
        .syntax("key [key ...]"),
    CommandSpec::new("unwatch", 1, Group::Transactions, unwatch)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .doc(
            "2.2.0",
            "Forgets about watched keys of a transaction.",
            "O(1)",
        ),
];

/// Commands that run immediately even inside MULTI instead of being queued.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn multi(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("ERR MULTI calls can not be nested"));
    }
    ctx.client.set_multi(true);
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CmdError::err("ERR DISCARD without MULTI"));
    }
    ctx.client.set_multi(false);
    unwatch_locked(ctx);
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let Some(m) = ctx.client.multi.take() else {
        return Err(CmdError::err("ERR EXEC without MULTI"));
    };
    ctx.client.set_multi(false);
    let srv = ctx.srv;
    if m.aborted {
        unwatch_all(srv, ctx.client);
        return Err(CmdError::err(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    // Every key the queue touches (tracking SELECT as it goes) plus the watched
    // keys, locked together for the whole transaction.
    let mut plan = watched_plan(srv, ctx.client);
    let db = ctx.client.db;
    for q in &m.queue {
        let argv: SmallVec<[&[u8]; 8]> = q.argv.iter().map(|a| a.as_slice()).collect();
        if q.cmd.spec.name == "select" || q.cmd.spec.name == "swapdb" {
            plan = LockPlan::All;
            break;
        }
        // A queued script or function may declare `whole-keyspace`, which is
        // only known once it runs: hold the whole db for it.
        if q.cmd.spec.group == super::table::Group::Scripting && q.cmd.spec.key_finder.is_some() {
            plan = plan.merge(LockPlan::Db(db));
            continue;
        }
        plan = plan.merge(lock_plan(srv, db, &q.cmd.spec, &argv));
    }
    // A script holding some of these keys past busy-reply-threshold: the
    // transaction is discarded, as Redis rejects EXEC while a script is busy.
    let mut ks = match srv.store.lock_or_busy(&plan, super::unix_ms()) {
        Ok(ks) => ks,
        Err(busy) => {
            unwatch_all(srv, ctx.client);
            return Err(CmdError::owned(format!(
                "EXECABORT Transaction discarded because of: {busy}"
            )));
        }
    };
    // Lazy expiry of a watched key counts as a change (Redis 7 fails EXEC then).
    let watched = ctx.client.watched.clone();
    for (db, key) in &watched {
        ks.exists(*db, key);
    }
    if ctx.client.watch_flag.is_set() {
        unwatch_with(&mut ks, ctx.client);
        ctx.out.null_array();
        return Ok(());
    }
    unwatch_with(&mut ks, ctx.client);
    ctx.out.array(m.queue.len());
    ctx.client.in_exec = true;
    for q in &m.queue {
        let argv: SmallVec<[&[u8]; 8]> = q.argv.iter().map(|a| a.as_slice()).collect();
        // The rules may have changed since the command was queued.
        if let Err(reason) = super::acl::check(
            srv,
            ctx.client,
            &q.cmd,
            &argv,
            crate::acl::log::Context::Multi,
        ) {
            ctx.out.error(&super::acl::noperm_at_exec(reason));
            continue;
        }
        let started = std::time::Instant::now();
        run(srv, ctx.client, ctx.out, &mut ks, &q.cmd, &argv);
        let took = started.elapsed();
        let usec = took.as_micros() as u64;
        if srv.latency.tracking() {
            super::latency::LatencyMonitor::track(&q.cmd, took.as_nanos() as u64, 1);
        }
        q.cmd
            .stats
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        q.cmd
            .stats
            .usec
            .fetch_add(usec, std::sync::atomic::Ordering::Relaxed);
        if srv.slowlog.is_slow(usec) {
            let started_us = super::unix_us() - usec as i64;
            super::slowlog::SlowLog::record(
                srv,
                &ctx.client.shared,
                &argv,
                started_us,
                usec,
                false,
            );
        }
        if srv.latency.is_slow(usec) {
            let now = super::unix_us();
            super::latency::LatencyMonitor::record_command(srv, &argv, now, usec, false);
        }
    }
    ctx.client.in_exec = false;
    // Pushes inside the transaction wake blocked clients only now, after EXEC.
    ks.serve_blocked();
    for (class, event, db, key) in std::mem::take(&mut ks.events) {
        super::notify::notify(srv, class, event, &key, db);
    }
    Ok(())
}

fn watch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.db();
    for key in &argv[1..] {
        if ctx
            .client
            .watched
            .iter()
            .any(|(d, k)| *d == db && k.as_slice() == *key)
        {
            continue;
        }
        // Sweep a key that is already expired now, so its later collection is
        // not mistaken for a change made after WATCH.
        ctx.ks.exists(db, key);
        let flag = ctx.client.watch_flag.clone();
        ctx.ks.watch(db, key, &flag);
        ctx.client.watched.push((db, key.to_vec()));
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    unwatch_locked(ctx);
    ctx.out.ok();
    Ok(())
}

/// The shards of the client's watched keys.
fn watched_plan(srv: &Server, client: &Client) -> LockPlan {
    if client.watched.is_empty() {
        return LockPlan::None;
    }
    LockPlan::Shards(
        client
            .watched
            .iter()
            .map(|(db, k)| srv.store.slot(*db, k))
            .collect(),
    )
}

fn unwatch_with(ks: &mut crate::store::Locked<'_>, client: &mut Client) {
    for (db, key) in std::mem::take(&mut client.watched) {
        ks.unwatch(db, &key, &client.watch_flag);
    }
    client.watch_flag.clear();
}

/// UNWATCH/DISCARD: the handler holds no locks for watched keys, so take them.
fn unwatch_locked(ctx: &mut Ctx) {
    unwatch_all(ctx.srv, ctx.client);
}

/// Forgets every watched key of `client` (also on disconnect).
pub fn unwatch_all(srv: &Server, client: &mut Client) {
    if client.watched.is_empty() {
        client.watch_flag.clear();
        return;
    }
    let plan = watched_plan(srv, client);
    let mut ks = srv.store.lock(&plan, super::unix_ms());
    unwatch_with(&mut ks, client);
}
