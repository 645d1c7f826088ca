//! Blocking list commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP. Each
//! tries its non-blocking core (lists.rs) first; with nothing to pop it parks
//! the client (commands/blocking.rs), and a later push serves it through the
//! `WaitOp`s below, oldest waiter first.

use super::blocking::parse_timeout;
use super::lists::{
    blmpop_keys, move_between, move_core, parse_mpop, parse_side, pop_core, pop_event, pop_from,
    push_event, PopReply,
};
use super::table::{flags::*, CommandSpec, Group};
use super::{notify, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::blocking::{Served, WaitOp};
use crate::store::Locked;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("blpop", -3, Group::List, blpop).flags(WRITE | NOSCRIPT | BLOCKING).keys(1, -2, 1)
        .doc("2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.")
        .syntax("key [key ...] timeout"),
    CommandSpec::new("brpop", -3, Group::List, brpop).flags(WRITE | NOSCRIPT | BLOCKING).keys(1, -2, 1)
        .doc("2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.")
        .syntax("key [key ...] timeout"),
    CommandSpec::new("blmove", 6, Group::List, blmove).flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING).keys(1, 2, 1)
        .doc("6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "O(1)")
        .syntax("source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout"),
    CommandSpec::new("brpoplpush", 4, Group::List, brpoplpush).flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING).keys(1, 2, 1)
        .doc("2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "O(1)")
        .syntax("source destination timeout"),
    CommandSpec::new("blmpop", -5, Group::List, blmpop).flags(WRITE | BLOCKING).key_finder(blmpop_keys)
        .doc("7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.")
        .syntax("timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]"),
];

/// BLPOP/BRPOP/BLMPOP waiting for a push: pops from the ready key.
struct PopWait {
    left: bool,
    /// None: BLPOP's `[key, element]`; Some(n): BLMPOP's `[key, [elements]]`.
    count: Option<usize>,
    resp3: bool,
}

impl WaitOp for PopWait {
    fn serve(&self, ks: &mut Locked<'_>, db: usize, key: &[u8]) -> Served {
        let mut out = Out::new(self.resp3);
        let reply = match self.count {
            None => PopReply::KeyElement,
            Some(n) => PopReply::KeyElements(n),
        };
        let popped = match pop_core(ks, &mut out, db, key, self.left, reply) {
            Ok(Some(popped)) => popped,
            Ok(None) => return Served::NotReady,
            // Another type (a zset added where list clients also wait): Redis
            // serves a ready key's waiters by type, so this one keeps its place
            // and the zset waiters behind it are served.
            Err(_) => return Served::Skip,
        };
        // Served later, a blocking pop propagates as its non-blocking twin.
        if ks.propagating() {
            let side: &[u8] = if self.left { b"LPOP" } else { b"RPOP" };
            match self.count {
                None => ks.propagate(db, &[side, key]),
                Some(_) => ks.propagate(db, &[side, key, popped.count.to_string().as_bytes()]),
            }
        }
        ks.event(notify::LIST, pop_event(self.left), db, key);
        if popped.deleted {
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

/// BLMOVE/BRPOPLPUSH waiting for a push to `src`.
struct MoveWait {
    /// BRPOPLPUSH (served, Redis propagates RPOPLPUSH; BLMOVE as LMOVE).
    rpoplpush: bool,
    dst: Vec<u8>,
    from_left: bool,
    to_left: bool,
    resp3: bool,
}

impl WaitOp for MoveWait {
    fn serve(&self, ks: &mut Locked<'_>, db: usize, src: &[u8]) -> Served {
        if !ks.try_lock_key(db, &self.dst) {
            // The pusher did not lock the destination: let the waiter redo the move.
            return Served::Retry;
        }
        if !matches!(
            ks.get(db, src).map(|e| &e.value),
            None | Some(crate::store::Value::List(_))
        ) {
            return Served::Skip; // the source is another type now: as PopWait
        }
        let mut out = Out::new(self.resp3);
        match move_core(
            ks,
            &mut out,
            db,
            src,
            &self.dst,
            self.from_left,
            self.to_left,
        ) {
            Ok(Some(moved)) => {
                // Redis's serveClientBlockedOnList: its shared "left" and
                // "right" objects are lower case.
                let side = |left: bool| -> &'static [u8] {
                    if left {
                        b"left"
                    } else {
                        b"right"
                    }
                };
                if self.rpoplpush {
                    ks.propagate(db, &[b"RPOPLPUSH", src, &self.dst]);
                } else {
                    ks.propagate(
                        db,
                        &[
                            b"LMOVE",
                            src,
                            &self.dst,
                            side(self.from_left),
                            side(self.to_left),
                        ],
                    );
                }
                ks.event(notify::LIST, push_event(self.to_left), db, &self.dst);
                ks.event(notify::LIST, pop_event(self.from_left), db, src);
                if moved.src_deleted {
                    ks.event(notify::GENERIC, "del", db, src);
                }
                Served::Reply(out.buf)
            }
            Ok(None) => Served::NotReady,
            // The destination holds another type: this waiter gets the error
            // and the element stays for the waiters behind it, as in Redis.
            // (Waking it to re-run would find the list already emptied by
            // them and block it again.) move_core checks before it pops.
            Err(e) => {
                out.error(e.text());
                Served::Reply(out.buf)
            }
        }
    }

    fn timeout_reply(&self, resp3: bool) -> Vec<u8> {
        // BLMOVE and BRPOPLPUSH time out with a null array (*-1), as Redis's
        // blockedBeforeSleep/replyToBlockedClientTimedOut does for lists.
        let mut out = Out::new(resp3);
        out.null_array();
        out.buf
    }
}

fn bpop(ctx: &mut Ctx, argv: &[&[u8]], left: bool) -> CmdResult {
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    let db = ctx.db();
    for key in keys {
        if pop_from(ctx, db, key, left, PopReply::KeyElement)? {
            // Redis propagates a BLPOP served at once as LPOP of its key.
            ctx.propagate(&[if left { b"LPOP" } else { b"RPOP" }, key]);
            return Ok(());
        }
    }
    let op = PopWait {
        left,
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

fn blpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bpop(ctx, argv, true)
}

fn brpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bpop(ctx, argv, false)
}

fn bmove(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    rpoplpush: bool,
    from_left: bool,
    to_left: bool,
) -> CmdResult {
    let (src, dst) = (argv[1], argv[2]);
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    let db = ctx.db();
    if move_between(ctx, db, src, dst, from_left, to_left)? {
        // Served at once: Redis propagates the non-blocking twin.
        if rpoplpush {
            ctx.propagate(&[b"RPOPLPUSH", src, dst]);
        } else {
            ctx.propagate(&[b"LMOVE", src, dst, argv[3], argv[4]]);
        }
        return Ok(());
    }
    let op = MoveWait {
        rpoplpush,
        dst: dst.to_vec(),
        from_left,
        to_left,
        resp3: ctx.out.resp3,
    };
    ctx.block(vec![src.to_vec()], timeout, Box::new(op));
    Ok(())
}

fn blmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let from_left = parse_side(argv[3])?;
    let to_left = parse_side(argv[4])?;
    bmove(ctx, argv, false, from_left, to_left)
}

fn brpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bmove(ctx, argv, true, false, true)
}

fn blmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(argv[1])?;
    let args = parse_mpop(argv, 2)?;
    let db = ctx.db();
    let keys = &argv[args.keys.clone()];
    if super::lists::mpop(ctx, db, keys, args.left, args.count)? {
        return Ok(());
    }
    let op = PopWait {
        left: args.left,
        count: Some(args.count),
        resp3: ctx.out.resp3,
    };
    ctx.block(
        keys.iter().map(|k| k.to_vec()).collect(),
        timeout,
        Box::new(op),
    );
    Ok(())
}
