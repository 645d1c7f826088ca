//! Running a wasm guest (script, function or module command) against the
//! keyspace: [`Invocation`] is the [`Host`] the wasm layer calls back into.
//! It runs the guest's commands through the command table under the locks
//! the invocation already holds, refuses undeclared keys and (read-only)
//! writes, keeps an undo log so a guest that fails leaves no writes behind,
//! holds back keyspace events until the guest commits, and converts the
//! guest's reply to the client's protocol as Redis converts Lua replies.

use super::table::{flags, Command};
use super::{resolve, CmdError, CmdResult, Ctx};
use crate::server::reply::Out;
use crate::store::value::ModuleValue;
use crate::store::{LockPlan, Locked, Value};
use crate::wasm::resp::{is_plain_resp2, tokens, Token};
use crate::wasm::{Code, Entry, Failure, Guest, Host, KillClass};
use smallvec::SmallVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Largest module value, like Redis's proto-max-bulk-len default.
const MODULE_VALUE_MAX: u64 = 512 << 20;

/// What one invocation may do.
#[derive(Clone, Copy)]
pub struct Grant<'g> {
    /// Declared keys (KEYS, or a module command's key arguments).
    pub keys: &'g [&'g [u8]],
    /// The guest holds every shard of the db and may touch any key.
    pub whole_keyspace: bool,
    /// A key it did not declare is locked on the way if its shard is free,
    /// and when it is not the invocation is undone and run again holding
    /// the whole db (Lua scripts, which may build key names as in Redis);
    /// otherwise such a key is refused (wasm guests).
    pub lock_undeclared: bool,
    /// Writes are refused (EVAL_RO, FCALL_RO, no-writes, readonly commands).
    pub read_only: bool,
    /// Module value types by type_id (empty for scripts and functions).
    pub types: &'g [&'static str],
    /// Deny-OOM commands are refused (a script in compatibility mode,
    /// started while over maxmemory: Redis's scriptVerifyOOM).
    pub deny_oom: bool,
    /// Undo the invocation's writes even when it succeeds (a Lua debugger
    /// session in YES mode, commands/ldb.rs): its reply still goes out.
    pub discard: bool,
}

/// The BUSY replies other clients get while a script (SCRIPT KILL) or a
/// function (FUNCTION KILL) holds their keys past busy-reply-threshold:
/// Redis 7.0's texts.
const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// The BUSY reply for an invocation of `class`; None for module commands,
/// which no KILL command stops.
pub fn busy_reply(class: KillClass) -> Option<&'static str> {
    match class {
        KillClass::Script => Some(BUSY_SCRIPT),
        KillClass::Function => Some(BUSY_FUNCTION),
        KillClass::Module => None,
    }
}

/// Runs `guest` once and writes its reply (or error) for the client; `code`
/// is what an engine guest (Lua) runs. A guest that reached for a key whose
/// shard was busy ([`Grant::lock_undeclared`]) is undone and run again,
/// holding the whole db this time.
pub fn run_guest(
    ctx: &mut Ctx,
    guest: &Guest,
    entry: Entry,
    class: KillClass,
    grant: &Grant,
    args: &[&[u8]],
    code: Option<&Arc<Code>>,
) -> CmdResult {
    // Nested invocations (a script calling a module command) run under the
    // outer one's registration.
    let busy = busy_reply(class).filter(|_| ctx.client.guest_events.is_none());
    let mut result = run_guest_once(ctx, guest, entry, class, grant, args, code, busy);
    if matches!(result, Err(None)) {
        // Retry: the whole db, waited for in order like any command's locks.
        let db = ctx.db();
        ctx.ks
            .relock_or_busy(&LockPlan::Db(db))
            .map_err(CmdError::err)?;
        let whole = Grant {
            whole_keyspace: true,
            ..*grant
        };
        result = run_guest_once(ctx, guest, entry, class, &whole, args, code, busy);
    }
    match result {
        Ok(()) => Ok(()),
        Err(Some(e)) => Err(e),
        Err(None) => Err(CmdError::err(
            "ERR the script could not take the locks of the keys it used",
        )),
    }
}

/// One run of [`run_guest`]; `Err(None)`: undone, to be run again with the
/// whole db.
#[allow(clippy::too_many_arguments)]
fn run_guest_once(
    ctx: &mut Ctx,
    guest: &Guest,
    entry: Entry,
    class: KillClass,
    grant: &Grant,
    args: &[&[u8]],
    code: Option<&Arc<Code>>,
    busy: Option<&'static str>,
) -> Result<(), Option<CmdError>> {
    // Nested invocations (a script calling a module command) keep their own
    // event buffer and hand it to the outer one when they commit.
    let outer_events = ctx.client.guest_events.replace(Vec::new());
    let was_in_exec = std::mem::replace(&mut ctx.client.in_exec, true);
    let now_ms = ctx.now_ms();
    let srv = ctx.srv;
    // The guest's effects are the commands it runs (recorded by the
    // dispatcher as they run); a failed guest's are dropped with its writes.
    let effects_mark = ctx.ks.effects.len();
    let (result, undo, module_keys) = {
        let mut inv = Invocation {
            ctx: &mut *ctx,
            grant,
            undo: Undo::default(),
            module_keys: Vec::new(),
            busy,
            ticket: None,
            acl_context: if matches!(class, KillClass::Module) {
                crate::acl::log::Context::Module
            } else {
                crate::acl::log::Context::Script
            },
            retry: false,
        };
        let result = guest.invoke(
            &srv.wasm, &mut inv, grant.keys, args, now_ms, entry, class, code,
        );
        if let Some(id) = inv.ticket {
            srv.store.busy.leave(id);
        }
        (result, inv.undo, inv.module_keys)
    };
    ctx.client.in_exec = was_in_exec;
    // `redis.set_repl` lasts until the script ends (a nested module command
    // runs under its caller's choice, which stays).
    if outer_events.is_none() {
        ctx.ks.effects.set_targets(crate::effects::TO_ALL);
    }
    let events = std::mem::replace(&mut ctx.client.guest_events, outer_events).unwrap_or_default();
    let outcome = match result {
        // The usual Lua reply to a RESP2 client (strings, integers, arrays)
        // goes out as the guest wrote it, without building a tree.
        Ok(reply) if !ctx.out.resp3 && !reply.is_empty() && is_plain_resp2(&reply) => {
            ctx.out.raw(&reply);
            Ok(())
        }
        Ok(reply) => {
            let parsed = if reply.is_empty() {
                Some(vec![Token::Null])
            } else {
                tokens(&reply)
            };
            match parsed {
                Some(v) => {
                    write_reply(ctx.out, &v);
                    Ok(())
                }
                None => Err(Some(CmdError::err("ERR guest returned a malformed reply"))),
            }
        }
        Err(Failure::Aborted(reply)) => {
            Err(Some(match reply.as_deref().and_then(tokens).as_deref() {
                Some([Token::Error(text)]) => {
                    CmdError::owned(String::from_utf8_lossy(text).into_owned())
                }
                _ => CmdError::err("ERR guest aborted"),
            }))
        }
        Err(Failure::Error(text)) => Err(Some(CmdError::owned(text))),
        Err(Failure::Retry) => Err(None),
    };
    if outcome.is_ok() && !grant.discard {
        commit_events(ctx, events);
        propagate_module_values(ctx, &module_keys);
        return Ok(());
    }
    undo.rollback(ctx.ks);
    ctx.ks.effects.truncate(effects_mark);
    outcome
}

/// The effects of module-value writes: the values' final state, as RESTORE
/// of their DUMP payload (DEL when gone), so a replay never runs the module.
fn propagate_module_values(ctx: &mut Ctx, keys: &[(usize, Vec<u8>)]) {
    if keys.is_empty() {
        return;
    }
    let opts = crate::persist::rdb::RdbOptions::from_config(&ctx.srv.config.read());
    for (db, key) in keys {
        let state = ctx.ks.peek(*db, key).map(|e| {
            let payload = crate::persist::rdb::dump::dump_payload(&e.value, &opts);
            (payload, e.expire_at())
        });
        match state {
            Some((payload, Some(at))) => {
                let at = at.to_string();
                let argv: [&[u8]; 6] = [
                    b"RESTORE",
                    key,
                    at.as_bytes(),
                    &payload,
                    b"REPLACE",
                    b"ABSTTL",
                ];
                ctx.ks.propagate(*db, &argv);
            }
            Some((payload, None)) => {
                ctx.ks
                    .propagate(*db, &[b"RESTORE", key, b"0", &payload, b"REPLACE"]);
            }
            None => ctx.ks.propagate(*db, &[b"DEL", key]),
        }
    }
}

/// Publishes (or hands outwards) the events of a committed invocation.
fn commit_events(ctx: &mut Ctx, events: Vec<crate::server::client::HeldEvent>) {
    match ctx.client.guest_events.as_mut() {
        Some(outer) => outer.extend(events),
        None => {
            for (class, event, db, key) in events {
                super::notify::notify(ctx.srv, class, &event, &key, db);
            }
            if ctx.client.sub.is_some() {
                super::pubsub::drain_own_messages(ctx);
            }
        }
    }
}

/// Writes a guest's reply in the client's protocol, token by token (no
/// recursion: a Lua reply may nest thousands deep). RESP3 types reach RESP2
/// clients the way Redis hands Lua's RESP3 values to them.
fn write_reply(out: &mut Out, reply: &[Token]) {
    for t in reply {
        match t {
            Token::Simple(s) => out.simple(&String::from_utf8_lossy(s)),
            Token::Error(s) => out.error(&String::from_utf8_lossy(s)),
            Token::Int(n) => out.int(*n),
            Token::Bulk(b) => out.bulk(b),
            Token::Null => out.null(),
            Token::NullArray => out.null_array(),
            Token::Array(n) => out.array(*n),
            Token::Set(n) => out.set(*n),
            Token::Map(n) => out.map(*n),
            Token::Double(d) => out.double(*d),
            // Redis's addReplyBool: RESP2 clients get :1 / :0.
            Token::Bool(b) => {
                if out.resp3 {
                    out.boolean(*b)
                } else {
                    out.int(*b as i64)
                }
            }
            Token::BigNumber(digits) => {
                if out.resp3 {
                    out.raw(b"(");
                    out.raw(digits);
                    out.raw(b"\r\n");
                } else {
                    out.bulk(digits)
                }
            }
            // `fmt:text`: RESP3 clients get it as sent, RESP2 clients the text
            // alone, as Redis hands verbatim strings to each.
            Token::Verbatim(body) => {
                if out.resp3 {
                    out.raw(b"=");
                    out.raw(itoa::Buffer::new().format(body.len()).as_bytes());
                    out.raw(b"\r\n");
                    out.raw(body);
                    out.raw(b"\r\n");
                } else {
                    out.bulk(&body[4..])
                }
            }
        }
    }
}

/// What must be put back if the invocation fails: whole entries saved before
/// the first write to each key, and byte patches of module values.
#[derive(Default)]
struct Undo {
    saved: Vec<Saved>,
    patches: Vec<Patch>,
    /// Keys and overwritten bytes of `patches`, in one buffer: a module
    /// writing a few bytes at a time (BF.ADD) costs no allocation per write.
    patch_bytes: Vec<u8>,
}

/// A key as it was before the invocation first wrote it (None: absent).
struct Saved {
    db: usize,
    key: Vec<u8>,
    entry: Option<(Value, Option<i64>)>,
}

/// Module-value bytes a write overwrote, and the length before it; `key`
/// and `old` index `Undo::patch_bytes`.
struct Patch {
    db: usize,
    key: std::ops::Range<usize>,
    offset: u64,
    old: std::ops::Range<usize>,
    old_len: usize,
}

impl Undo {
    fn is_saved(&self, db: usize, key: &[u8]) -> bool {
        self.saved.iter().any(|s| s.db == db && s.key == key)
    }

    /// Saves `key` as it is now, once per invocation. Costs a copy of the
    /// value: the price of all-or-nothing for commands that change values in
    /// place.
    fn save(&mut self, ks: &mut Locked, db: usize, key: &[u8]) {
        if self.is_saved(db, key) {
            return;
        }
        let entry = ks.peek(db, key).map(|e| (e.value.clone(), e.expire_at()));
        self.saved.push(Saved {
            db,
            key: key.to_vec(),
            entry,
        });
    }

    fn rollback(self, ks: &mut Locked) {
        for s in self.saved.into_iter().rev() {
            ks.remove(s.db, &s.key);
            if let Some((value, expire_at)) = s.entry {
                ks.set(s.db, &s.key, value, expire_at);
            }
            ks.touch(s.db, &s.key);
        }
        for p in self.patches.into_iter().rev() {
            let key = &self.patch_bytes[p.key];
            let old = &self.patch_bytes[p.old];
            if let Some(Value::Module(m)) = ks.get(p.db, key).map(|e| &mut e.value) {
                let at = p.offset as usize;
                if at + old.len() <= m.data.len() {
                    m.data[at..at + old.len()].copy_from_slice(old);
                }
                m.data.truncate(p.old_len);
            }
        }
    }
}

/// The [`Host`] of one invocation.
struct Invocation<'x, 'a, 'b, 'g> {
    ctx: &'x mut Ctx<'a, 'b>,
    grant: &'x Grant<'g>,
    undo: Undo,
    /// Module values written, when effects are recorded (see
    /// `propagate_module_values`).
    module_keys: Vec<(usize, Vec<u8>)>,
    /// The BUSY reply other clients get once this invocation runs long
    /// (None: a nested or module invocation, which does not register).
    busy: Option<&'static str>,
    /// Its entry in the store's busy registry, made when it starts to run
    /// long (`Host::running_long`): short invocations never touch the
    /// registry's lock.
    ticket: Option<u64>,
    /// How ACL LOG records a call this invocation's user may not make.
    acl_context: crate::acl::log::Context,
    /// A key's shard was taken by someone else: stop, undo, run again with
    /// the whole db (see [`Grant::lock_undeclared`]).
    retry: bool,
}

impl Invocation<'_, '_, '_, '_> {
    fn declared(&self, key: &[u8]) -> bool {
        self.grant.whole_keyspace || self.grant.keys.contains(&key)
    }

    /// Checks a guest's command against what the invocation may do; the
    /// error is the reply the guest gets. For a Lua guest it also takes the
    /// shards of keys it did not declare ([`Grant::lock_undeclared`]).
    fn admit(&mut self, cmd: &Command, argv: &[&[u8]]) -> Result<(), String> {
        let spec = &cmd.spec;
        if !cmd.arity_ok(argv.len()) {
            // Redis's text for scripts (its script.c), not the client's one.
            return Err("ERR Wrong number of args calling Redis command from script".into());
        }
        if spec.has(flags::NOSCRIPT) {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        // The caller's ACL rules hold inside its scripts and modules
        // (Redis's scriptVerifyACL).
        if let Err(reason) =
            super::acl::check(self.ctx.srv, self.ctx.client, cmd, argv, self.acl_context)
        {
            return Err(super::acl::noperm_in_script(reason));
        }
        if spec.has(flags::ALL_DBS) || spec.name == "select" || spec.name == "flushdb" {
            return Err(format!(
                "ERR '{}' is not allowed from wasm guests (it reaches beyond the guest's locks)",
                cmd.full_name
            ));
        }
        if spec.has(flags::WRITE) && self.grant.read_only {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        if self.grant.deny_oom && spec.has(flags::DENYOOM) {
            return Err(super::OOM_ERROR.into());
        }
        // scriptVerifyWriteCommandAllow: no writes while the disk fails.
        if spec.has(flags::WRITE) {
            if let Some(e) = super::disk_error(self.ctx.srv) {
                return Err(e.text().to_string());
            }
        }
        // A read-only replica's clients cannot write through a script
        // either (Redis's scriptVerifyWriteCommandAllow); its primary can.
        let srv = self.ctx.srv;
        if spec.has(flags::WRITE)
            && srv.repl.is_replica()
            && srv.replica.read_only()
            && !self.ctx.client.master
        {
            return Err(crate::repl::replica::READONLY.into());
        }
        let db = self.ctx.db();
        if spec.has(flags::WHOLE_DB) && !self.grant.whole_keyspace {
            if !self.grant.lock_undeclared {
                return Err(format!(
                    "ERR '{}' needs the whole keyspace: flag the script whole-keyspace",
                    cmd.full_name
                ));
            }
            if !self.ctx.ks.try_lock_db(db) {
                return Err(self.stop_for_retry());
            }
            self.took_locks();
            return Ok(());
        }
        let mut undeclared: SmallVec<[&[u8]; 4]> = SmallVec::new();
        spec.for_each_key_index(argv, |i| {
            if let Some(k) = argv.get(i) {
                if !self.declared(k) {
                    undeclared.push(k);
                }
            }
        });
        if undeclared.is_empty() {
            return Ok(());
        }
        if !self.grant.lock_undeclared {
            return Err(format!(
                "ERR guest accessed undeclared key '{}'; declare it in KEYS or flag the script whole-keyspace",
                String::from_utf8_lossy(undeclared[0])
            ));
        }
        let mut took = false;
        for k in undeclared {
            if self.ctx.ks.holds_key(db, k) {
                continue;
            }
            if !self.ctx.ks.try_lock_key(db, k) {
                return Err(self.stop_for_retry());
            }
            took = true;
        }
        if took {
            self.took_locks();
        }
        Ok(())
    }

    /// Asks the wasm layer to stop the guest so it runs again with the whole
    /// db; the text is what the guest would see if it did not stop.
    fn stop_for_retry(&mut self) -> String {
        self.retry = true;
        "ERR the script's keys are in use; it runs again holding the whole db".into()
    }

    /// Tells the busy registry about shards taken on the way.
    fn took_locks(&self) {
        if let Some(id) = self.ticket {
            self.ctx
                .srv
                .store
                .busy
                .set_slots(id, self.ctx.ks.slot_ids());
        }
    }

    /// Saves every key a write command may change, before it runs.
    fn save_keys(&mut self, cmd: &Command, argv: &[&[u8]]) {
        let db = self.ctx.db();
        let mut keys: Vec<&[u8]> = Vec::new();
        cmd.spec
            .for_each_key_index(argv, |i| keys.extend(argv.get(i).copied()));
        // SORT ... STORE dst: the destination is not among SORT's key positions.
        if cmd.spec.name == "sort" {
            if let Some(i) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"store")) {
                keys.extend(argv.get(i + 1).copied());
            }
        }
        for k in keys {
            self.undo.save(self.ctx.ks, db, k);
        }
    }

    /// The name of the invocation's value type `type_id` (None for a type
    /// the module did not register, and for scripts, which have none).
    fn module_type(&self, type_id: u32) -> Option<&'static str> {
        self.grant.types.get(type_id as usize).copied()
    }

    fn check_value_access(
        &self,
        key: &[u8],
        type_id: u32,
        write: bool,
    ) -> Result<&'static str, i64> {
        let Some(ty) = self.module_type(type_id) else {
            return Err(-2);
        };
        if write && self.grant.read_only {
            return Err(-3);
        }
        if !self.declared(key) {
            return Err(-4);
        }
        Ok(ty)
    }

    /// The value's bytes, -1 when absent, -2 when of another type.
    fn value_mut(&mut self, key: &[u8], ty: &'static str) -> Result<&mut ModuleValue, i64> {
        let db = self.ctx.db();
        match self.ctx.ks.get(db, key).map(|e| &mut e.value) {
            None => Err(-1),
            Some(Value::Module(m)) if m.type_name == ty => Ok(m),
            Some(_) => Err(-2),
        }
    }

    /// Before a module-value write: creates the key if needed, records what
    /// an abort must restore, and returns the value.
    /// Remembers a module value written, for its effect at commit.
    fn note_module_write(&mut self, db: usize, key: &[u8]) {
        if self.ctx.propagating() && !self.module_keys.iter().any(|(d, k)| *d == db && k == key) {
            self.module_keys.push((db, key.to_vec()));
        }
    }

    fn prepare_write(&mut self, key: &[u8], ty: &'static str) -> Result<&mut ModuleValue, i64> {
        let db = self.ctx.db();
        match self.value_mut(key, ty) {
            Err(-1) => {
                self.undo.save(self.ctx.ks, db, key);
                self.ctx.ks.set(
                    db,
                    key,
                    Value::Module(Box::new(ModuleValue {
                        type_name: ty,
                        data: Vec::new(),
                    })),
                    None,
                );
            }
            Err(code) => return Err(code),
            Ok(_) => {}
        }
        self.value_mut(key, ty)
    }
}

impl Host for Invocation<'_, '_, '_, '_> {
    fn call(&mut self, argv: &[&[u8]], resp3: bool, reply: &mut Vec<u8>) {
        let mut out = Out {
            buf: std::mem::take(reply),
            resp3,
            error_prefixes: Vec::new(),
        };
        let srv = self.ctx.srv;
        match resolve(srv, argv) {
            // Redis's text for scripts; a bad subcommand keeps its own.
            Err(_) if srv.commands.resolve_name(argv[0]).is_none() => {
                out.error("ERR Unknown Redis command called from script")
            }
            Err(e) => out.error(e.text()),
            Ok(cmd) => match self.admit(&cmd, argv) {
                Err(text) => {
                    cmd.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    out.error(&text);
                }
                Ok(()) => {
                    if cmd.spec.has(flags::WRITE) {
                        self.save_keys(&cmd, argv);
                    }
                    let started = std::time::Instant::now();
                    let ctx = &mut *self.ctx;
                    super::run(srv, ctx.client, &mut out, ctx.ks, &cmd, argv);
                    // A script's read tracks the keys the script declared
                    // for its caller, as Redis's call() does.
                    super::tracking::after_guest_read(srv, ctx.client, &cmd, self.grant.keys);
                    let took = started.elapsed();
                    cmd.stats.calls.fetch_add(1, Ordering::Relaxed);
                    cmd.stats
                        .usec
                        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
                    if srv.latency.tracking() {
                        super::latency::LatencyMonitor::track(&cmd, took.as_nanos() as u64, 1);
                    }
                    // A blocking command inside a guest answered as on timeout.
                    ctx.client.block_request = None;
                }
            },
        }
        *reply = out.buf;
    }

    fn retry_wanted(&self) -> bool {
        self.retry
    }

    fn debugger_send(&mut self, lines: &[&[u8]]) {
        super::ldb::send(self.ctx.client, lines);
    }

    fn debugger_recv(&mut self) -> Result<Vec<Vec<u8>>, i32> {
        super::ldb::recv(self.ctx.client)
    }

    fn running_long(&mut self, since: std::time::Instant) {
        if let (Some(reply), None) = (self.busy, self.ticket) {
            let busy = &self.ctx.srv.store.busy;
            self.ticket = Some(busy.enter(reply, since, self.ctx.ks.slot_ids()));
        }
    }

    fn set_repl(&mut self, targets: u8) {
        self.ctx.ks.effects.set_targets(targets);
    }

    /// Whether the caller's ACL user may run this command line (Lua's
    /// `redis.acl_check_cmd`): 1 yes, 0 no, -1 unknown command. Nothing is
    /// logged: this only asks.
    fn acl_check(&mut self, argv: &[&[u8]]) -> i32 {
        let srv = self.ctx.srv;
        match resolve(srv, argv) {
            Ok(cmd) => {
                let user = self.ctx.client.acl_user(srv.acl.default_user());
                i32::from(user.check(&cmd, argv).is_ok())
            }
            Err(_) => -1,
        }
    }

    fn value_len(&mut self, key: &[u8], type_id: u32) -> i64 {
        let ty = match self.check_value_access(key, type_id, false) {
            Ok(t) => t,
            Err(code) => return code,
        };
        match self.value_mut(key, ty) {
            Ok(m) => m.data.len() as i64,
            Err(code) => code,
        }
    }

    fn value_read(&mut self, key: &[u8], type_id: u32, offset: u64, dst: &mut [u8]) -> i64 {
        let ty = match self.check_value_access(key, type_id, false) {
            Ok(t) => t,
            Err(code) => return code,
        };
        match self.value_mut(key, ty) {
            Ok(m) => {
                let start = (offset as usize).min(m.data.len());
                let n = dst.len().min(m.data.len() - start);
                dst[..n].copy_from_slice(&m.data[start..start + n]);
                n as i64
            }
            Err(code) => code,
        }
    }

    fn value_write(&mut self, key: &[u8], type_id: u32, offset: u64, src: &[u8]) -> i64 {
        self.value_writev(key, type_id, &[(offset, src)])
    }

    fn value_bytes(&mut self, key: &[u8], type_id: u32) -> Result<&[u8], i64> {
        let ty = self.check_value_access(key, type_id, false)?;
        self.value_mut(key, ty).map(|m| &m.data[..])
    }

    /// All segments under one key lookup, one undo record per segment (its
    /// overwritten bytes, in one arena) and one `touch`.
    fn value_writev(&mut self, key: &[u8], type_id: u32, segments: &[(u64, &[u8])]) -> i64 {
        let ty = match self.check_value_access(key, type_id, true) {
            Ok(t) => t,
            Err(code) => return code,
        };
        let ends = segments
            .iter()
            .map(|&(offset, src)| offset.saturating_add(src.len() as u64));
        if ends.clone().any(|end| end > MODULE_VALUE_MAX) {
            return -5;
        }
        let db = self.ctx.db();
        self.note_module_write(db, key);
        let whole_saved = self.undo.is_saved(db, key);
        let key_in_arena = self.undo.patch_bytes.len()..self.undo.patch_bytes.len() + key.len();
        if !whole_saved {
            self.undo.patch_bytes.extend_from_slice(key);
        }
        // The value borrows the keyspace: undo records go to locals first.
        let mut arena = std::mem::take(&mut self.undo.patch_bytes);
        let mut patches = std::mem::take(&mut self.undo.patches);
        let m = match self.prepare_write(key, ty) {
            Ok(m) => m,
            Err(code) => {
                arena.truncate(key_in_arena.start);
                self.undo.patch_bytes = arena;
                self.undo.patches = patches;
                return code;
            }
        };
        for (&(offset, src), end) in segments.iter().zip(ends) {
            let (at, end) = (offset as usize, end as usize);
            let old_len = m.data.len();
            if !whole_saved {
                let old_at = arena.len();
                arena.extend_from_slice(&m.data[at.min(old_len)..end.min(old_len)]);
                patches.push(Patch {
                    db,
                    key: key_in_arena.clone(),
                    offset: offset.min(old_len as u64),
                    old: old_at..arena.len(),
                    old_len,
                });
            }
            if m.data.len() < end {
                m.data.resize(end, 0);
            }
            m.data[at..end].copy_from_slice(src);
        }
        let new_len = m.data.len() as i64;
        self.undo.patch_bytes = arena;
        self.undo.patches = patches;
        self.ctx.ks.touch(db, key);
        new_len
    }

    fn value_truncate(&mut self, key: &[u8], type_id: u32, len: u64) -> i64 {
        let ty = match self.check_value_access(key, type_id, true) {
            Ok(t) => t,
            Err(code) => return code,
        };
        if len > MODULE_VALUE_MAX {
            return -5;
        }
        let db = self.ctx.db();
        self.note_module_write(db, key);
        // Shrinking loses bytes: keep the whole value (rare: resizes).
        self.undo.save(self.ctx.ks, db, key);
        let m = match self.prepare_write(key, ty) {
            Ok(m) => m,
            Err(code) => return code,
        };
        m.data.resize(len as usize, 0);
        self.ctx.ks.touch(db, key);
        len as i64
    }
}
