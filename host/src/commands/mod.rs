//! Command dispatch: look a command up in the [`table`], check arity and
//! authentication, queue it inside MULTI, take the locks its keys need, run its
//! handler, and record its statistics. One file per command family holds the
//! handlers, the way Redis keeps t_string.c and friends.

pub mod acl;
pub mod aof;
pub mod bitmaps;
pub mod blocking;
pub mod cluster;
pub mod connection;
pub mod debug;
pub mod docs;
pub mod dump;
pub mod functions;
pub mod geo;
pub mod guest;
pub mod hashes;
pub mod hll;
pub mod keyflags;
pub mod keys;
pub mod latency;
pub mod latency_doctor;
pub mod ldb;
pub mod lists;
pub mod lists_blocking;
pub mod lolwut;
pub mod memory;
pub mod meta;
pub mod migrate;
pub mod modules;
pub mod monitor;
pub mod notify;
pub mod pause;
pub mod persistence;
pub mod propagate;
pub mod pubsub;
pub mod replicaof;
pub mod replication;
pub mod scan;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stream_effects;
pub mod streams;
pub mod strings;
pub mod table;
pub mod tracking;
pub mod tx;
pub mod zsets;
pub mod zsets_blocking;

use crate::server::client::Client;
use crate::server::reply::Out;
use crate::server::Server;
use crate::store::{LockPlan, Locked};
use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use table::{flags, CmdRef, Command, CommandSpec};

/// Everything a handler may touch: the server, the calling client, its output
/// buffer and the keyspace shards the dispatcher locked for it.
pub struct Ctx<'a, 'b> {
    pub srv: &'a Server,
    pub client: &'a mut Client,
    pub out: &'a mut Out,
    pub ks: &'a mut Locked<'b>,
    /// The command being run (module commands find their guest through it).
    pub spec: &'a CommandSpec,
}

impl Ctx<'_, '_> {
    /// The client's selected database.
    #[inline]
    pub fn db(&self) -> usize {
        self.client.db
    }

    /// The command's clock in unix milliseconds.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        self.ks.now_ms
    }
}

/// A command error; [`CmdError::text`] is what goes after the `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    WrongType,
    NotInteger,
    NotFloat,
    Syntax,
    /// Full error text, prefix included ("ERR ...", "NOAUTH ...").
    Msg(Cow<'static, str>),
}

impl CmdError {
    pub fn text(&self) -> &str {
        match self {
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value"
            }
            CmdError::NotInteger => "ERR value is not an integer or out of range",
            CmdError::NotFloat => "ERR value is not a valid float",
            CmdError::Syntax => "ERR syntax error",
            CmdError::Msg(m) => m,
        }
    }

    /// An `ERR`-prefixed error from a static text.
    pub const fn err(text: &'static str) -> CmdError {
        CmdError::Msg(Cow::Borrowed(text))
    }

    pub fn owned(text: String) -> CmdError {
        CmdError::Msg(Cow::Owned(text))
    }
}

pub type CmdResult = Result<(), CmdError>;

/// Every built-in command family, for the command table.
pub fn builtin_families() -> Vec<&'static [CommandSpec]> {
    vec![
        acl::COMMANDS,
        aof::COMMANDS,
        bitmaps::COMMANDS,
        cluster::COMMANDS,
        connection::COMMANDS,
        debug::COMMANDS,
        dump::COMMANDS,
        functions::COMMANDS,
        geo::COMMANDS,
        hashes::COMMANDS,
        hll::COMMANDS,
        keys::COMMANDS,
        latency::COMMANDS,
        lists::COMMANDS,
        lists_blocking::COMMANDS,
        migrate::COMMANDS,
        memory::COMMANDS,
        lolwut::COMMANDS,
        modules::COMMANDS,
        monitor::COMMANDS,
        persistence::COMMANDS,
        pubsub::COMMANDS,
        replicaof::COMMANDS,
        replication::COMMANDS,
        scripting::COMMANDS,
        server::COMMANDS,
        sets::COMMANDS,
        slowlog::COMMANDS,
        sort::COMMANDS,
        streams::COMMANDS,
        strings::COMMANDS,
        tx::COMMANDS,
        zsets::COMMANDS,
        zsets_blocking::COMMANDS,
    ]
}

/// Unix time in microseconds.
pub fn unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Unix time in milliseconds.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Resolves argv to a command (or subcommand), or the error Redis gives.
pub fn resolve<'t>(srv: &'t Server, argv: &[&[u8]]) -> Result<CmdRef<'t>, CmdError> {
    let Some(cmd) = srv.commands.resolve_name(argv[0]) else {
        return Err(unknown_command(argv));
    };
    if cmd.subcommands.is_empty() || argv.len() < 2 {
        return Ok(cmd);
    }
    let sub = argv[1].to_ascii_lowercase();
    let found = match &cmd {
        CmdRef::Builtin(c) => c.subcommands.get(&sub).map(CmdRef::Builtin),
        CmdRef::Dynamic(c) => c.subcommands.get(&sub).cloned().map(CmdRef::Dynamic),
    };
    match found {
        Some(s) => Ok(s),
        None => Err(CmdError::owned(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            truncate_c(argv[1], 128),
            cmd.spec.name.to_ascii_uppercase()
        ))),
    }
}

/// `%.Ns` of a C string: stops at NUL, at most N bytes.
fn truncate_c(s: &[u8], n: usize) -> Cow<'_, str> {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len()).min(n);
    String::from_utf8_lossy(&s[..end])
}

fn unknown_command(argv: &[&[u8]]) -> CmdError {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&truncate_c(a, room));
        args.push_str("' ");
    }
    CmdError::owned(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncate_c(argv[0], 128),
        args
    ))
}

/// The arity error for a command given by full name.
pub fn arity_error_named(name: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

pub fn arity_error(cmd: &Command) -> CmdError {
    CmdError::owned(format!(
        "ERR wrong number of arguments for '{}' command",
        cmd.full_name
    ))
}

/// The shards a command needs when run from database `db`.
pub fn lock_plan(srv: &Server, db: usize, spec: &CommandSpec, argv: &[&[u8]]) -> LockPlan {
    if spec.has(flags::ALL_DBS) {
        return LockPlan::All;
    }
    if spec.has(flags::WHOLE_DB) {
        return LockPlan::Db(db);
    }
    let mut slots = smallvec::SmallVec::new();
    spec.for_each_key_index(argv, |i| {
        if let Some(k) = argv.get(i) {
            slots.push(srv.store.slot(db, k));
        }
    });
    if slots.is_empty() {
        LockPlan::None
    } else {
        LockPlan::Shards(slots)
    }
}

/// Runs one command from a client: the entry point of the connection loop.
///
/// `now_ms` is the caller's clock reading: the connection reads the clock once
/// per batch of pipelined commands (clock reads were 15% of a pipelined GET
/// profile), as Redis caches its time per event-loop iteration.
pub fn execute(srv: &Server, client: &mut Client, out: &mut Out, argv: &[&[u8]], now_ms: i64) {
    // CLIENT REPLY OFF|SKIP drops what the command replies.
    let quiet = (client.reply_off || client.reply_skip).then_some(out.buf.len());
    let skipping = client.reply_skip;
    let tracked = srv.tracking.active();
    if tracked {
        crate::server::tracking::begin_command(client.id());
    }
    dispatch(srv, client, out, argv, now_ms);
    if let Some(mark) = quiet.filter(|_| client.reply_off || client.reply_skip) {
        out.buf.truncate(mark);
    }
    if tracked {
        tracking::after_command(srv, client, argv, out);
    }
    if skipping || client.reply_skip_next {
        client.reply_skip = std::mem::take(&mut client.reply_skip_next);
    }
}

/// [`execute`] without CLIENT REPLY and tracking's bookkeeping.
fn dispatch(srv: &Server, client: &mut Client, out: &mut Out, argv: &[&[u8]], now_ms: i64) {
    let resolved = match resolve(srv, argv) {
        Ok(c) => c,
        Err(e) => {
            client.flag_multi_error();
            out.error(e.text());
            return;
        }
    };
    let cmd: &Arc<Command> = &resolved;
    client.shared.set_last_command(cmd.id, now_ms);
    if let Some(err) = access_refusal(srv, client, cmd, argv) {
        reject(srv, client, out, cmd, argv, err);
        return;
    }
    // Cluster mode: a command for keys another node serves is redirected;
    // as in Redis a redirected EXEC discards its transaction (no EXECABORT).
    if let Some(e) = crate::cluster::routing::check(srv, client, cmd, argv) {
        cmd.stats.rejected.fetch_add(1, Ordering::Relaxed);
        if cmd.spec.name == "exec" {
            client.set_multi(false);
            tx::unwatch_all(srv, client);
        } else {
            client.flag_multi_error();
        }
        out.error(&e);
        return;
    }
    if let Some(err) = refusal(srv, client, cmd, argv, now_ms) {
        reject(srv, client, out, cmd, argv, err);
        return;
    }
    // A pause (CLIENT PAUSE, or a FAILOVER or SHUTDOWN waiting for
    // replicas: server/pause.rs) holds the command; the connection runs it
    // when the pause ends (after a failover, as a replica's client: READONLY).
    if srv.pause.active() && pause::hold(srv, client, cmd, argv, now_ms) {
        return;
    }
    if client.multi.is_some() && !tx::runs_inside_multi(cmd.spec.name) {
        if denyoom(srv, cmd, argv) {
            if let Some(m) = client.multi.as_mut() {
                m.denyoom = true;
            }
        }
        client.queue(cmd.clone(), argv);
        out.simple("QUEUED");
        return;
    }
    let plan = lock_plan(srv, client.db, &cmd.spec, argv);
    // A script that has held these keys past busy-reply-threshold: BUSY, as
    // Redis answers while a script runs long (but only for its shards).
    let mut ks = match srv.store.lock_or_busy(&plan, now_ms) {
        Ok(ks) => ks,
        Err(busy) => {
            reject(srv, client, out, cmd, argv, CmdError::err(busy));
            return;
        }
    };
    client.batch.push(cmd.id);
    let off_before = if cmd.spec.has(flags::MAY_REPLICATE) {
        srv.repl.offset()
    } else {
        0
    };
    run(srv, client, out, &mut ks, cmd, argv);
    if client.block_request.is_some() {
        blocking::register(&mut ks, client, argv);
    }
    ks.serve_blocked();
    for (class, event, db, key) in std::mem::take(&mut ks.events) {
        notify::notify(srv, class, event, &key, db);
    }
    if !ks.expired.is_empty() {
        notify::notify_expired(srv, &std::mem::take(&mut ks.expired));
    }
    let wrote = ks.dirty > 0;
    drop(ks);
    // WAIT's offset: the stream's end after the last command of this client
    // that sent something to replicas (Redis's c->woff): its writes
    // (committed to the stream when `ks` unlocked), and what may replicate
    // without writing (PUBLISH, a script's effects), seen as the offset moving.
    if wrote || cmd.spec.has(flags::MAY_REPLICATE) && srv.repl.offset() != off_before {
        client.woff = srv.repl.offset();
    }
}

/// Why a command may not run for this client, in Redis's processCommand
/// order: arity, authentication, MULTI, ACL. Cluster routing comes next (in
/// `dispatch`: a redirect is not a rejection), then [`refusal`].
fn access_refusal(
    srv: &Server,
    client: &mut Client,
    cmd: &Command,
    argv: &[&[u8]],
) -> Option<CmdError> {
    let name = cmd.spec.name;
    if !cmd.arity_ok(argv.len()) {
        return Some(arity_error(cmd));
    }
    if !client.authenticated && !cmd.spec.has(flags::NO_AUTH) && srv.auth_required() {
        return Some(CmdError::err(crate::acl::NOAUTH));
    }
    if client.multi.is_some() && cmd.spec.has(flags::NO_MULTI) && !tx::runs_inside_multi(name) {
        return Some(CmdError::err(
            "ERR Command not allowed inside a transaction",
        ));
    }
    let context = if client.multi.is_some() {
        crate::acl::log::Context::Multi
    } else {
        crate::acl::log::Context::Toplevel
    };
    if let Err(reason) = acl::check(srv, client, cmd, argv, context) {
        return Some(acl::noperm(reason, cmd));
    }
    None
}

/// What refuses a permitted command the server cannot take now (memory,
/// disk, replication, subscription and loading states), after cluster
/// routing, in processCommand's order.
fn refusal(
    srv: &Server,
    client: &mut Client,
    cmd: &Command,
    argv: &[&[u8]],
    now_ms: i64,
) -> Option<CmdError> {
    let name = cmd.spec.name;
    // maxmemory (Redis's processCommand): evict first; when nothing can be
    // evicted, deny-OOM commands are refused, and inside MULTI every command
    // but EXEC, DISCARD, QUIT and RESET (queueing costs memory too).
    client.oom = false;
    if srv.store.evict.maxmemory() != 0 {
        let oom = evict(srv, now_ms) == crate::store::evict::Outcome::Fail;
        client.oom = oom;
        if oom
            && (denyoom(srv, cmd, argv)
                || (name == "exec" && client.multi.as_ref().is_some_and(|m| m.denyoom))
                || (client.multi.is_some()
                    && !matches!(name, "exec" | "discard" | "quit" | "reset")))
        {
            return Some(CmdError::err(OOM_ERROR));
        }
    }
    // Redis's writeCommandsDeniedByDiskError: no writes (nor PING) while the
    // last BGSAVE or the AOF failed.
    if cmd.spec.has(flags::WRITE) || name == "ping" {
        if let Some(e) = disk_error(srv) {
            return Some(e);
        }
    }
    // Redis's min-replicas-to-write guard (checkGoodReplicasStatus).
    if writes(cmd, client) && !srv.repl.replicas.writes_allowed(srv.repl.is_replica()) {
        return Some(CmdError::err(crate::repl::primary::NOREPLICAS));
    }
    let replica = srv.repl.is_replica() && !client.master;
    if replica && srv.replica.read_only() && writes(cmd, client) {
        return Some(CmdError::err(crate::repl::replica::READONLY));
    }
    if pubsub::in_resp2_subscribed_mode(client) && !pubsub::allowed_when_subscribed(name) {
        return Some(CmdError::owned(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.full_name
        )));
    }
    if replica && srv.replica.refuses_stale() && denied_when_stale(cmd, client) {
        return Some(CmdError::err(crate::repl::replica::MASTERDOWN));
    }
    // Redis's "is_denyloading_command": while a load runs (at start-up, DEBUG
    // RELOAD, or a replica loading its primary's RDB), only commands flagged
    // `loading` (and an EXEC of nothing but such commands).
    if (srv.persist.loading.load(Ordering::Relaxed) && !client.loader
        || replica && srv.replica.loading())
        && denied_while_loading(client, cmd)
    {
        return Some(CmdError::err(crate::repl::replica::LOADING));
    }
    None
}

/// Whether a command writes, EXEC counting as a write when it would run one
/// (Redis's is_write_command, which a read-only replica refuses).
fn writes(cmd: &Command, client: &Client) -> bool {
    runs_flagged(cmd, client, flags::WRITE)
}

/// The command (or, for EXEC, one it queued) has one of the `mask` flags.
fn runs_flagged(cmd: &Command, client: &Client, mask: u32) -> bool {
    cmd.spec.has(mask)
        || (cmd.spec.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queue.iter().any(|q| q.cmd.spec.has(mask))))
}

/// Whether a replica whose link is down refuses the command under
/// `replica-serve-stale-data no` (Redis's is_denystale_command).
fn denied_when_stale(cmd: &Command, client: &Client) -> bool {
    !cmd.spec.has(flags::STALE)
        || (cmd.spec.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queue.iter().any(|q| !q.cmd.spec.has(flags::STALE))))
}

fn denied_while_loading(client: &Client, cmd: &Command) -> bool {
    if !cmd.spec.has(flags::LOADING) {
        return true;
    }
    cmd.spec.name == "exec"
        && client
            .multi
            .as_ref()
            .is_some_and(|m| m.queue.iter().any(|q| !q.cmd.spec.has(flags::LOADING)))
}

/// Redis's reply to deny-OOM commands over maxmemory.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Whether a command is deny-OOM: its table flag, or for a script or
/// function that declared its flags, whether it may write without `allow-oom`
/// (Redis's scriptFlagsToCmdFlags).
fn denyoom(srv: &Server, cmd: &Command, argv: &[&[u8]]) -> bool {
    use scripting::script_flags::{ALLOW_OOM, NO_WRITES};
    cmd.spec.has(flags::DENYOOM)
        || scripting::declared_flags(srv, cmd.spec.name, argv)
            .is_some_and(|f| f & (ALLOW_OOM | NO_WRITES) == 0)
}

/// Runs eviction before a command (bounded by maxmemory-eviction-tenacity)
/// and publishes the `evicted` keyspace events.
pub fn evict(srv: &Server, now_ms: i64) -> crate::store::evict::Outcome {
    // A replica leaves its memory to its primary's evictions (their DELs
    // reach it) under `replica-ignore-maxmemory yes`, Redis's default.
    if srv.repl.is_replica() && srv.replica.ignores_maxmemory() {
        return crate::store::evict::Outcome::Ok;
    }
    // Nothing is evicted while a pause is in force, as in Redis.
    if srv.pause.active() && crate::server::pause::in_force(&srv.pause, &srv.store, now_ms) {
        return crate::store::evict::Outcome::Ok;
    }
    let mut evicted: Vec<(usize, Vec<u8>)> = Vec::new();
    let record = notify::wants(srv, crate::config::NOTIFY_EVICTED);
    let outcome = srv
        .store
        .evict
        .perform(&srv.store, now_ms, None, &mut |db, key| {
            if record {
                evicted.push((db, key.to_vec()));
            }
        });
    for (db, key) in evicted {
        notify::notify(srv, crate::config::NOTIFY_EVICTED, "evicted", &key, db);
    }
    outcome
}

/// The MISCONF error writes get (Redis's writeCommandsDeniedByDiskError):
/// the last BGSAVE failed with `stop-writes-on-bgsave-error yes`, or the
/// AOF cannot be written. Also for scripts and functions that may write,
/// and for the write commands a script calls.
pub fn disk_error(srv: &Server) -> Option<CmdError> {
    if srv.persist.refuse_writes.load(Ordering::Relaxed) {
        return Some(CmdError::err(crate::persist::snapshot::MISCONF));
    }
    srv.aof.write_denied().map(CmdError::owned)
}

/// Refuses a command before it runs (Redis's rejectCommand): the open
/// transaction is flagged, and a refused EXEC discards it with EXECABORT.
fn reject(
    srv: &Server,
    client: &mut Client,
    out: &mut Out,
    cmd: &Command,
    argv: &[&[u8]],
    err: CmdError,
) {
    cmd.stats.rejected.fetch_add(1, Ordering::Relaxed);
    client.flag_multi_error();
    if cmd.spec.name == "exec" {
        // Monitors saw MULTI: they see the EXEC that ends it (execCommandAbort).
        monitor::feed(srv, client, argv);
        client.set_multi(false);
        tx::unwatch_all(srv, client);
        let text = err.text();
        let text = text.strip_prefix("ERR ").unwrap_or(text);
        out.error(&format!(
            "EXECABORT Transaction discarded because of: {text}"
        ));
    } else {
        out.error(err.text());
    }
}

/// Runs a resolved, checked command with the locks already held (also used by
/// EXEC for each queued command), recording its statistics.
pub fn run(
    srv: &Server,
    client: &mut Client,
    out: &mut Out,
    ks: &mut Locked<'_>,
    cmd: &Command,
    argv: &[&[u8]],
) {
    let mark = propagate::before(ks, client.db);
    let errors_before = out.error_prefixes.len();
    let result = {
        let mut ctx = Ctx {
            srv,
            client,
            out,
            ks,
            spec: &cmd.spec,
        };
        (cmd.spec.handler)(&mut ctx, argv)
    };
    if let Some(mark) = mark {
        propagate::after(ks, mark, cmd, argv, result.is_ok());
    }
    tracking::after_run(srv, client, cmd, argv);
    if monitor::shown(&cmd.spec) {
        monitor::feed(srv, client, argv);
    }
    // Failed, as Redis counts it: the command replied an error, returned or
    // written directly (a script's error reply). EXEC's replies are its
    // commands', each already counted for its own command.
    let wrote_error = out.error_prefixes.len() > errors_before && cmd.spec.name != "exec";
    if let Err(e) = result {
        cmd.stats.failed.fetch_add(1, Ordering::Relaxed);
        out.error(e.text());
    } else if wrote_error {
        cmd.stats.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Case-insensitive comparison of an argument with an option name.
#[inline]
pub fn eq_ic(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// Parses an integer argument, or Redis's "not an integer" error.
pub fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    crate::util::num::parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Parses a C `int` argument like Redis's getIntFromObjectOrReply.
pub fn arg_i32(arg: &[u8]) -> Result<i32, CmdError> {
    let v = arg_i64(arg)?;
    i32::try_from(v).map_err(|_| {
        CmdError::err("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}
