//! The one stream of write effects (DESIGN.md "Write effects: one stream,
//! many listeners").
//!
//! Every write is described once, as the commands Redis 7.0 propagates: the
//! argv as received for most commands, Redis's rewrite where Redis rewrites
//! (relative TTLs made absolute, SPOP as SREM, expiry as DEL, a script's
//! writes instead of the script ...). A command, or a whole transaction or
//! script, collects its effects in a [`Pending`] while it holds its shard
//! locks, and commits them as one [`Unit`] to the [`Stream`] before it lets
//! the locks go. So the stream's order is an order in which the writes
//! really happened: two writes to one key reach it in execution order.
//!
//! Listeners (the AOF now; the replication backlog, CLIENT TRACKING and
//! MONITOR later) attach to the stream and see every unit in that order.
//! Each command carries its consumers (`TO_AOF`, `TO_REPLICAS`; a Lua
//! script's `redis.set_repl` narrows them): a listener renders only its own
//! with [`Wire::render_to`]. A
//! command never knows who listens, and a listener never re-derives what a
//! command did. With nobody listening, recording is off: commands check one
//! flag, taken once per lock, and allocate nothing.
//!
//! This module knows no store, no commands and no files: it is the seam
//! between them.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where a command's effect goes (Redis's PROPAGATE_AOF / PROPAGATE_REPL,
/// which a Lua script picks with `redis.set_repl`): a bit set of these.
pub const TO_AOF: u8 = 1;
pub const TO_REPLICAS: u8 = 2;
pub const TO_ALL: u8 = TO_AOF | TO_REPLICAS;

/// One command of a unit: its database, where its RESP encoding lies in
/// the unit's buffer, and which consumers it is for (`TO_*` bits).
#[derive(Clone, Copy, Debug)]
struct Rec {
    db: u32,
    start: u32,
    end: u32,
    to: u8,
}

/// The effects one execution unit (a command, EXEC, a script) has made so
/// far, RESP-encoded into one buffer.
#[derive(Default, Debug)]
pub struct Pending {
    buf: Vec<u8>,
    recs: Vec<Rec>,
    /// Set by a command that described its own effects (Redis's
    /// rewriteClientCommandVector / alsoPropagate), so the dispatcher does not
    /// also record its argv; see `commands/propagate.rs`.
    pub described: bool,
    /// The consumers the next commands are *not* for (`TO_*` bits; a
    /// script's `redis.set_repl`); 0, everyone, unless a script says so.
    muted: u8,
}

thread_local! {
    /// One emptied [`Pending`] per thread, so recording a command's effects
    /// reuses its buffers instead of allocating them for every command.
    static SPARE: std::cell::RefCell<Option<Pending>> = const { std::cell::RefCell::new(None) };
}

impl Pending {
    /// An empty recorder, with the buffers of the last one this thread
    /// gave back when there is one.
    pub fn reuse() -> Pending {
        SPARE.with(|s| s.borrow_mut().take()).unwrap_or_default()
    }

    /// Gives an emptied recorder's buffers back for [`Pending::reuse`];
    /// oversized ones (a huge MULTI) are dropped instead of kept.
    pub fn recycle(mut self) {
        if self.buf.capacity() > 1 << 20 {
            return;
        }
        self.clear();
        self.described = false;
        self.muted = 0;
        SPARE.with(|s| *s.borrow_mut() = Some(self));
    }

    /// Appends one command, run in database `db`, for the consumers
    /// [`Pending::set_targets`] chose (none: it is not recorded, as Redis
    /// does not propagate a script's commands after `set_repl(REPL_NONE)`).
    pub fn push(&mut self, db: usize, argv: &[&[u8]]) {
        self.push_to(db, argv, TO_ALL & !self.muted);
    }

    /// Appends one command for the consumers `to` (`TO_*` bits), whatever
    /// the script chose: expiry's DEL goes everywhere, as in Redis.
    pub fn push_to(&mut self, db: usize, argv: &[&[u8]], to: u8) {
        if to == 0 {
            return;
        }
        let start = self.buf.len();
        encode_command(&mut self.buf, argv);
        self.recs.push(Rec {
            db: db as u32,
            start: start as u32,
            end: self.buf.len() as u32,
            to,
        });
    }

    /// The consumers of the commands pushed from now on (`TO_*` bits);
    /// [`TO_ALL`] again when the script that chose ends.
    pub fn set_targets(&mut self, to: u8) {
        self.muted = TO_ALL & !to;
    }

    /// Number of commands recorded.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Forgets every command after the first `n` (a guest that failed and
    /// rolled its writes back).
    pub fn truncate(&mut self, n: usize) {
        if n < self.recs.len() {
            self.buf.truncate(self.recs[n].start as usize);
            self.recs.truncate(n);
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.recs.clear();
    }

    /// The recorded commands as a unit.
    pub fn unit(&self) -> Unit<'_> {
        Unit {
            buf: &self.buf,
            recs: &self.recs,
        }
    }
}

/// What one execution unit did: commands in order, each with its database.
/// A unit of more than one command is atomic: Redis wraps it in MULTI/EXEC.
#[derive(Clone, Copy)]
pub struct Unit<'a> {
    buf: &'a [u8],
    recs: &'a [Rec],
}

impl<'a> Unit<'a> {
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// (database, RESP encoding) of each command, in order.
    pub fn commands(&self) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
        let buf = self.buf;
        self.recs
            .iter()
            .map(move |r| (r.db as usize, &buf[r.start as usize..r.end as usize]))
    }

    /// The commands for consumer `to` (a `TO_*` bit), as [`Unit::commands`].
    pub fn commands_to(&self, to: u8) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
        let buf = self.buf;
        self.recs
            .iter()
            .filter(move |r| r.to & to != 0)
            .map(move |r| (r.db as usize, &buf[r.start as usize..r.end as usize]))
    }

    /// Whether a listener that replays must apply the unit all at once
    /// (Redis 7.0's propagatePendingCommands wraps more than one command).
    pub fn atomic(&self) -> bool {
        self.recs.len() > 1
    }

    /// [`Unit::atomic`] for consumer `to`: more than one of the commands is
    /// for it (Redis 7.0 wraps a consumer's share of a script's effects in
    /// MULTI/EXEC only then).
    pub fn atomic_to(&self, to: u8) -> bool {
        self.recs.iter().filter(|r| r.to & to != 0).nth(1).is_some()
    }
}

/// Receives the stream. Called in stream order, under the stream's lock and
/// while the writer still holds its shard locks: copy what you need and
/// return (do I/O elsewhere).
pub trait Listener: Send + Sync {
    fn feed(&self, unit: &Unit<'_>);
}

/// The stream itself: the listeners, and whether anyone listens.
#[derive(Default)]
pub struct Stream {
    active: AtomicBool,
    listeners: Mutex<Vec<Arc<dyn Listener>>>,
}

impl Stream {
    /// Whether effects must be recorded. Read once per lock by the store.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Adds a listener; it sees every unit committed from now on. To start
    /// from a consistent point (an AOF rewrite's base), attach while holding
    /// every shard lock, so no unit is half-recorded across the attach.
    pub fn attach(&self, l: Arc<dyn Listener>) {
        let mut ls = self.listeners.lock();
        ls.push(l);
        self.active.store(true, Ordering::Release);
    }

    /// Removes a listener (by identity).
    pub fn detach(&self, l: &Arc<dyn Listener>) {
        let mut ls = self.listeners.lock();
        ls.retain(|x| !Arc::ptr_eq(x, l));
        self.active.store(!ls.is_empty(), Ordering::Release);
    }

    /// Hands the pending effects to every listener, as one unit, and empties
    /// `pending`. Callers hold the shard locks the effects were made under.
    pub fn commit(&self, pending: &mut Pending) {
        if pending.is_empty() {
            return;
        }
        {
            let ls = self.listeners.lock();
            let unit = pending.unit();
            for l in ls.iter() {
                l.feed(&unit);
            }
        }
        pending.clear();
    }
}

/// Redis's wire form of the stream for one consumer (an AOF file, a
/// replica): SELECT when the database changes, MULTI/EXEC around atomic
/// units, as feedAppendOnlyFile and replicationFeedSlaves write it.
#[derive(Default, Debug, Clone)]
pub struct Wire {
    /// Database the consumer is in; None forces a SELECT (a new file).
    db: Option<usize>,
}

impl Wire {
    /// The database the consumer is in (None: the next unit selects one).
    pub fn db(&self) -> Option<usize> {
        self.db
    }

    /// Forgets the consumer's database: the next unit starts with SELECT.
    pub fn reset(&mut self) {
        self.db = None;
    }

    /// Appends `unit` to `out` in wire form, every command of it.
    pub fn render(&mut self, unit: &Unit<'_>, out: &mut Vec<u8>) {
        self.render_to(unit, TO_ALL, out)
    }

    /// Appends the commands of `unit` meant for consumer `to` (a `TO_*`
    /// bit) to `out` in wire form, inside MULTI/EXEC when more than one is
    /// (what redis-server 7.0 writes to its AOF for a script that used
    /// `redis.set_repl`).
    pub fn render_to(&mut self, unit: &Unit<'_>, to: u8, out: &mut Vec<u8>) {
        let atomic = unit.atomic_to(to);
        let mut first = true;
        for (db, cmd) in unit.commands_to(to) {
            self.select(db, out);
            if first && atomic {
                out.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
            }
            first = false;
            out.extend_from_slice(cmd);
        }
        if atomic {
            out.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        }
    }

    /// SELECT `db` unless the consumer is in it.
    fn select(&mut self, db: usize, out: &mut Vec<u8>) {
        if self.db != Some(db) {
            let n = db.to_string();
            encode_command(out, &[b"SELECT", n.as_bytes()]);
            self.db = Some(db);
        }
    }
}

/// Appends `argv` as a RESP array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    let mut num = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(num.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(num.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Mutex<(Wire, Vec<u8>)>);
    impl Listener for Collect {
        fn feed(&self, unit: &Unit<'_>) {
            let mut g = self.0.lock();
            let (w, out) = &mut *g;
            w.render(unit, out);
        }
    }

    #[test]
    fn units_render_with_select_and_multi() {
        let s = Stream::default();
        assert!(!s.active());
        let c = Arc::new(Collect(Mutex::new((Wire::default(), Vec::new()))));
        let l: Arc<dyn Listener> = c.clone();
        s.attach(l.clone());
        assert!(s.active());
        let mut p = Pending::default();
        p.push(0, &[b"SET", b"k", b"v"]);
        s.commit(&mut p);
        assert!(p.is_empty());
        p.push(0, &[b"INCR", b"a"]);
        p.push(2, &[b"DEL", b"b"]);
        s.commit(&mut p);
        p.push(2, &[b"DEL", b"x"]);
        p.push(2, &[b"DEL", b"y"]);
        p.truncate(1);
        s.commit(&mut p);
        s.detach(&l);
        assert!(!s.active());
        let got = String::from_utf8(c.0.lock().1.clone()).unwrap();
        let want = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
                    *1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n\
                    *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n\
                    *2\r\n$3\r\nDEL\r\n$1\r\nx\r\n";
        assert_eq!(got, want);
    }

    #[test]
    fn targets_choose_the_consumers() {
        let mut p = Pending::default();
        p.push(0, &[b"SET", b"all", b"1"]);
        p.set_targets(TO_REPLICAS);
        p.push(0, &[b"SET", b"repl", b"1"]);
        p.set_targets(0);
        p.push(0, &[b"SET", b"none", b"1"]);
        p.push_to(0, &[b"DEL", b"expired"], TO_ALL);
        p.set_targets(TO_AOF);
        p.push(1, &[b"SET", b"aof", b"1"]);
        assert_eq!(p.len(), 4);
        let names = |to| {
            p.unit()
                .commands_to(to)
                .map(|(db, c)| {
                    format!(
                        "{db}:{}",
                        String::from_utf8_lossy(c)
                            .split("\r\n")
                            .nth(4)
                            .unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(names(TO_AOF), ["0:all", "0:expired", "1:aof"]);
        assert_eq!(names(TO_REPLICAS), ["0:all", "0:repl", "0:expired"]);
        // MULTI/EXEC only around more than one command for the consumer.
        let mut out = Vec::new();
        let mut w = Wire::default();
        let mut q = Pending::default();
        q.set_targets(TO_REPLICAS);
        q.push(3, &[b"SET", b"a", b"1"]);
        q.set_targets(TO_ALL);
        q.push(3, &[b"SET", b"b", b"1"]);
        w.render_to(&q.unit(), TO_AOF, &mut out);
        let want = "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
        out = Vec::new();
        w.render_to(&q.unit(), TO_REPLICAS, &mut out);
        let want = "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
                    *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n*1\r\n$4\r\nEXEC\r\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
        p.recycle();
        let r = Pending::reuse();
        assert_eq!(r.muted, 0, "a recycled recorder records for everyone again");
    }
}
