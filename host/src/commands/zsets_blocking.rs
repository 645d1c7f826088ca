//! Blocking sorted-set pops: BZPOPMIN, BZPOPMAX, BZMPOP. Each tries the
//! non-blocking core (zsets.rs) first; with nothing to pop it parks the
//! client (commands/blocking.rs) until a ZADD serves it through `ZPopWait`.

use super::blocking::parse_timeout;
use super::table::{flags::*, CommandSpec, Group};
use super::zsets::{bzmpop_keys, parse_mpop, pop_into, pop_min_max, PopAs, PopStyle};
use super::{notify, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::blocking::{Served, WaitOp};
use crate::store::{Locked, Value};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("bzpopmin", -3, Group::SortedSet, bzpopmin).flags(WRITE | NOSCRIPT | FAST | BLOCKING).keys(1, -2, 1)
        .doc("5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.")
        .syntax("key [key ...] timeout"),
    CommandSpec::new("bzpopmax", -3, Group::SortedSet, bzpopmax).flags(WRITE | NOSCRIPT | FAST | BLOCKING).keys(1, -2, 1)
        .doc("5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.")
        .syntax("key [key ...] timeout"),
    CommandSpec::new("bzmpop", -5, Group::SortedSet, bzmpop).flags(WRITE | BLOCKING).key_finder(bzmpop_keys)
        .doc("7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.")
        .syntax("timeout numkeys key [key ...] <MIN | MAX> [COUNT count]"),
];

/// A parked BZPOPMIN/BZPOPMAX/BZMPOP.
struct ZPopWait {
    max: bool,
    /// None: BZPOP*'s `[key, member, score]`; Some(n): BZMPOP's `[key, [[member, score] ...]]`.
    count: Option<usize>,
    resp3: bool,
}

impl WaitOp for ZPopWait {
    fn serve(&self, ks: &mut Locked<'_>, db: usize, key: &[u8]) -> Served {
        let z = match ks.get(db, key).map(|e| &mut e.value) {
            Some(Value::ZSet(z)) if !z.is_empty() => z,
            Some(Value::ZSet(_)) | None => return Served::NotReady,
            // Another type (a list pushed where zset clients also wait): Redis
            // serves a ready key's waiters by type, so this one keeps its place
            // and the list waiters behind it are served.
            Some(_) => return Served::Skip,
        };
        let mut out = Out::new(self.resp3);
        let style = if self.count.is_some() {
            PopStyle::KeyNested
        } else {
            PopStyle::KeyFlat
        };
        let n = pop_into(z, &mut out, key, self.max, self.count, style);
        let emptied = z.is_empty();
        if emptied {
            ks.remove(db, key);
        }
        ks.touch(db, key);
        // Served later, a blocking pop propagates as its non-blocking twin.
        if ks.propagating() {
            let cmd: &[u8] = if self.max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            match self.count {
                None => ks.propagate(db, &[cmd, key]),
                Some(_) => ks.propagate(db, &[cmd, key, n.to_string().as_bytes()]),
            }
        }
        ks.event(
            notify::ZSET,
            if self.max { "zpopmax" } else { "zpopmin" },
            db,
            key,
        );
        if emptied {
            ks.event(notify::GENERIC, "del", db, key);
        }
        Served::Reply(out.buf)
    }

    fn timeout_reply(&self, resp3: bool) -> Vec<u8> {
        let mut out = Out::new(resp3);
        out.null_array();
        out.buf
    }
}

fn bzpop(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    if pop_min_max(ctx, keys, max, None, PopStyle::KeyFlat, PopAs::Plain)? {
        return Ok(());
    }
    let op = ZPopWait {
        max,
        count: None,
        resp3: ctx.out.resp3,
    };
    ctx.block(
        keys.iter().map(|k| k.to_vec()).collect(),
        timeout,
        Box::new(op),
    );
    Ok(())
}

fn bzpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, true)
}

fn bzmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(argv[1])?;
    let (keys, max, count) = parse_mpop(argv, 2)?;
    if pop_min_max(
        ctx,
        &keys,
        max,
        Some(count),
        PopStyle::KeyNested,
        PopAs::Counted,
    )? {
        return Ok(());
    }
    let op = ZPopWait {
        max,
        count: Some(count),
        resp3: ctx.out.resp3,
    };
    ctx.block(
        keys.iter().map(|k| k.to_vec()).collect(),
        timeout,
        Box::new(op),
    );
    Ok(())
}
