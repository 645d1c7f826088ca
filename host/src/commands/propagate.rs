//! What the dispatcher tells the write-effects stream (effects/) about each
//! command: Redis's `call()` propagation rule. A command that changed the
//! keyspace is recorded as the argv it received, unless it described its
//! effects itself with [`Ctx::propagate`] (Redis's rewriteClientCommandVector
//! and alsoPropagate: SET EX as SET PXAT, SPOP as SREM ...). Scripts,
//! functions, module commands and EXEC are never recorded themselves: the
//! commands they run are, so a replay never re-runs a guest.

use super::table::{Command, Group};
use super::Ctx;
use crate::store::Locked;

/// The dispatcher's state around one command, when effects are recorded.
pub struct Mark {
    dirty: u64,
    described: bool,
    db: usize,
}

/// Called before a command's handler; None when nobody listens.
#[inline]
pub fn before(ks: &mut Locked<'_>, db: usize) -> Option<Mark> {
    if !ks.propagating() {
        return None;
    }
    Some(Mark {
        dirty: ks.dirty,
        described: std::mem::replace(&mut ks.effects.described, false),
        db,
    })
}

/// Called after the handler: records the argv if the command wrote and did
/// not describe its effects itself.
pub fn after(ks: &mut Locked<'_>, mark: Mark, cmd: &Command, argv: &[&[u8]], ok: bool) {
    let described = std::mem::replace(&mut ks.effects.described, mark.described);
    let wrote = ks.dirty != mark.dirty || (ok && changes_groups(cmd));
    if wrote && !described && !by_effects(cmd) {
        ks.effects.push(mark.db, argv);
    }
}

/// Stream consumer-group commands change group state without touching the
/// key (no WATCH signal, as in Redis), so the store's dirty count misses
/// them: a successful one is logged as received.
fn changes_groups(cmd: &Command) -> bool {
    matches!(
        cmd.spec.name,
        "xreadgroup" | "xack" | "xclaim" | "xautoclaim" | "xsetid"
    ) || cmd.full_name.starts_with("xgroup|") && !matches!(cmd.spec.name, "help")
}

/// Commands whose effects are the commands they run, never themselves.
fn by_effects(cmd: &Command) -> bool {
    cmd.spec.module.is_some()
        || cmd.spec.name == "exec"
        || (cmd.spec.group == Group::Scripting
            && matches!(
                cmd.spec.name,
                "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
            ))
}

impl Ctx<'_, '_> {
    /// Whether effects are recorded: build a rewritten argv only then.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.ks.propagating()
    }

    /// Describes (one more of) this command's effects as `argv` in the
    /// client's database, instead of the argv it received.
    pub fn propagate(&mut self, argv: &[&[u8]]) {
        let db = self.client.db;
        self.ks.propagate(db, argv);
        self.ks.effects.described = true;
    }

    /// This command wrote nothing that must be propagated (Redis's
    /// preventCommandPropagation), or described it already.
    pub fn propagate_nothing(&mut self) {
        self.ks.effects.described = true;
    }

    /// Records this command as received even though it changed no key
    /// (FUNCTION LOAD, FLUSHALL of an empty keyspace ...).
    pub fn propagate_verbatim(&mut self, argv: &[&[u8]]) {
        self.propagate(argv);
    }
}
