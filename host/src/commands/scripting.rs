//! Scripts (Redis's eval.c): EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT
//! LOAD|EXISTS|FLUSH|KILL|HELP. A script body is Lua (run by the Lua engine,
//! crate::lua), a wasm binary or WAT text (docs/abi.md); [`classify`] tells
//! them apart. Scripts are cached by the SHA1 of their body as Redis caches
//! Lua; a script runs atomically under the locks of its declared keys (every
//! shard of the db when it declares `whole-keyspace`, and always for Lua,
//! whose scripts may name keys they did not declare), and leaves no writes
//! when it fails.

use super::guest::{run_guest, Grant};
use super::keys::reply_help;
use super::table::{flags::*, numkeys_keys, CommandSpec, Group};
use super::{arg_i64, eq_ic, CmdError, CmdResult, Ctx};
use crate::store::LockPlan;
use crate::wasm::{Code, Entry, Guest, Kill, KillClass, Kind};
use std::sync::Arc;

/// A cached script.
#[derive(Clone)]
pub enum Script {
    Wasm(Arc<Guest>),
    Lua(Arc<LuaScript>),
}

/// A Lua script: its code for the engine and the flags of its shebang.
pub struct LuaScript {
    pub code: Arc<Code>,
    pub flags: u32,
    /// It has a `#!lua` line: Redis then applies its flags strictly (an
    /// `_RO` call needs `no-writes`).
    pub shebang: bool,
}

/// What a script or library body is, and how it is told apart:
/// - a wasm binary starts with the magic bytes `\0asm`;
/// - WAT text starts with `(module`, after whitespace and `;;`/`(; ;)` comments;
/// - a first line `#!lua [flags=...]` or `#!wasm` chooses explicitly;
/// - anything else is Lua, as in Redis.
pub enum Body<'a> {
    /// wasm binary or WAT text.
    Wasm(&'a [u8]),
    /// Lua code with its shebang line removed (the newline kept, so line
    /// numbers stay right), the shebang's flags, and whether it had one.
    Lua {
        code: &'a [u8],
        flags: u32,
        shebang: bool,
    },
}

/// The first line of a body starting with `#!`, and the rest (from its newline).
fn split_shebang(body: &[u8]) -> Option<(&[u8], &[u8])> {
    if !body.starts_with(b"#!") {
        return None;
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    Some(body.split_at(end))
}

/// True when `text` is WAT: `(module` after whitespace and comments.
fn is_wat(mut text: &[u8]) -> bool {
    loop {
        text = text.trim_ascii_start();
        if let Some(rest) = text.strip_prefix(b";;") {
            text = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => &rest[i..],
                None => return false,
            };
        } else if let Some(rest) = text.strip_prefix(b"(;") {
            text = match rest.windows(2).position(|w| w == b";)") {
                Some(i) => &rest[i + 2..],
                None => return false,
            };
        } else {
            return text.starts_with(b"(module");
        }
    }
}

/// True when `body` is a wasm binary or WAT text.
pub fn is_wasm(body: &[u8]) -> bool {
    body.starts_with(b"\0asm") || is_wat(body)
}

/// Tells a script body apart ([`Body`]), with Redis's errors for a bad
/// `#!lua` line.
pub fn classify(body: &[u8]) -> Result<Body<'_>, CmdError> {
    if is_wasm(body) {
        return Ok(Body::Wasm(body));
    }
    let Some((line, rest)) = split_shebang(body) else {
        return Ok(Body::Lua {
            code: body,
            flags: 0,
            shebang: false,
        });
    };
    if rest.is_empty() {
        // Redis needs the newline that ends the shebang line.
        return Err(CmdError::err("ERR Invalid script shebang"));
    }
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    match parts.next() {
        Some("#!lua") => {}
        Some("#!wasm") => return Ok(Body::Wasm(rest)),
        _ => {
            let engine = line.split(' ').next().unwrap_or_default();
            return Err(CmdError::owned(format!(
                "ERR Unexpected engine in script shebang: {engine}"
            )));
        }
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(CmdError::owned(format!(
                "ERR Unknown lua shebang option: {part}"
            )));
        };
        for name in list.split(',').filter(|n| !n.is_empty()) {
            match script_flags::NAMES
                .iter()
                .find(|(bit, n)| *n == name && *bit != script_flags::WHOLE_KEYSPACE)
            {
                Some((bit, _)) => flags |= bit,
                None => {
                    return Err(CmdError::owned(format!(
                        "ERR Unexpected flag in script shebang: {name}"
                    )))
                }
            }
        }
    }
    Ok(Body::Lua {
        code: rest,
        flags,
        shebang: true,
    })
}

/// Script flags (docs/abi.md, `ember_flags`); also used by functions.
pub mod script_flags {
    pub const NO_WRITES: u32 = 1;
    pub const ALLOW_OOM: u32 = 2;
    pub const ALLOW_STALE: u32 = 4;
    pub const NO_CLUSTER: u32 = 8;
    pub const ALLOW_CROSS_SLOT_KEYS: u32 = 16;
    pub const WHOLE_KEYSPACE: u32 = 32;
    /// Host-internal, never a name: the script declared its flags (a
    /// `#!lua` line, wasm `ember_flags`, any function), so Redis's
    /// compatibility-mode rules do not apply to it.
    pub const DECLARED: u32 = 1 << 30;
    /// Names as FUNCTION LIST shows them and `register` accepts them.
    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT_KEYS, "allow-cross-slot-keys"),
        (WHOLE_KEYSPACE, "whole-keyspace"),
    ];
}

/// Key positions of EVAL and FCALL alike: `numkeys` at argv[2], then the keys.
pub fn call_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut out = Vec::new();
    numkeys_keys(argv, 2, &mut out);
    out
}

/// Flags shared by the EVAL and FCALL families (the _RO ones add READONLY).
pub const CALL_FLAGS: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, Group::Scripting, eval)
        .flags(CALL_FLAGS | MAY_REPLICATE)
        .key_finder(call_keys)
        .doc(
            "2.6.0",
            "Executes a server-side Lua script.",
            "Depends on the script that is executed.",
        )
        .syntax("script numkeys [key [key ...]] [arg [arg ...]]"),
    CommandSpec::new("evalsha", -3, Group::Scripting, evalsha)
        .flags(CALL_FLAGS | MAY_REPLICATE)
        .key_finder(call_keys)
        .doc(
            "2.6.0",
            "Executes a server-side Lua script by SHA1 digest.",
            "Depends on the script that is executed.",
        )
        .syntax("sha1 numkeys [key [key ...]] [arg [arg ...]]"),
    CommandSpec::new("eval_ro", -3, Group::Scripting, eval_ro)
        .flags(READONLY | CALL_FLAGS)
        .key_finder(call_keys)
        .doc(
            "7.0.0",
            "Executes a read-only server-side Lua script.",
            "Depends on the script that is executed.",
        )
        .syntax("script numkeys [key [key ...]] [arg [arg ...]]"),
    CommandSpec::new("evalsha_ro", -3, Group::Scripting, evalsha_ro)
        .flags(READONLY | CALL_FLAGS)
        .key_finder(call_keys)
        .doc(
            "7.0.0",
            "Executes a read-only server-side Lua script by SHA1 digest.",
            "Depends on the script that is executed.",
        )
        .syntax("sha1 numkeys [key [key ...]] [arg [arg ...]]"),
    CommandSpec::new("script", -2, Group::Scripting, super::keys::container_help)
        .doc(
            "2.6.0",
            "A container for Lua scripts management commands.",
            "Depends on subcommand.",
        )
        .subcommands(SCRIPT_SUBCOMMANDS),
];

const SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("load", 3, Group::Scripting, script_load)
        .flags(NOSCRIPT | STALE)
        .doc("2.6.0", "Loads a server-side Lua script to the script cache.", "O(N) with N being the length in bytes of the script body.")
        .syntax("script"),
    CommandSpec::new("debug", 3, Group::Scripting, super::ldb::script_debug)
        .flags(NOSCRIPT)
        .doc("3.2.0", "Set the debug mode for executed scripts.", "O(1)")
        .syntax("YES | SYNC | NO"),
    CommandSpec::new("exists", -3, Group::Scripting, script_exists)
        .flags(NOSCRIPT)
        .doc("2.6.0", "Determines whether server-side Lua scripts exist in the script cache.", "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).")
        .syntax("sha1 [sha1 ...]"),
    CommandSpec::new("flush", -2, Group::Scripting, script_flush)
        .flags(NOSCRIPT)
        .doc("2.6.0", "Removes all server-side Lua scripts from the script cache.", "O(N) with N being the number of scripts in cache")
        .syntax("[ASYNC | SYNC]"),
    CommandSpec::new("kill", 2, Group::Scripting, script_kill)
        .flags(NOSCRIPT | ALLOW_BUSY)
        .doc("2.6.0", "Terminates a server-side Lua script during execution.", "O(1)"),
    CommandSpec::new("help", 2, Group::Scripting, script_help)
        .flags(LOADING | STALE)
        .doc("5.0.0", "Returns helpful text about the different subcommands.", "O(1)"),
];

/// Lowercase hex SHA1 of a script body, the name Redis gives a script.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// The KEYS and ARGV of a script or function call.
pub type KeysAndArgs<'a> = (&'a [&'a [u8]], &'a [&'a [u8]]);

/// Splits `numkeys key.. arg..` (argv[2..]) with Redis's errors.
pub fn split_keys<'a>(argv: &'a [&'a [u8]]) -> Result<KeysAndArgs<'a>, CmdError> {
    let n = arg_i64(argv[2])?;
    if n < 0 {
        return Err(CmdError::err("ERR Number of keys can't be negative"));
    }
    let rest = &argv[3..];
    if n as u64 > rest.len() as u64 {
        return Err(CmdError::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(rest.split_at(n as usize))
}

/// Compiles a body (or finds it compiled) and caches it under its SHA1.
/// The flags a script declared (a `#!lua` line, or a wasm script's
/// `ember_flags`), or None for a script in Redis's compatibility mode (no
/// shebang), whose commands are checked one by one. For EVAL, EVALSHA and
/// FCALL (Redis's evalGetCommandFlags / fcallGetCommandFlags).
pub fn declared_flags(srv: &crate::server::Server, name: &str, argv: &[&[u8]]) -> Option<u32> {
    let arg = argv.get(1)?;
    match name {
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" => {
            let sha = if name.starts_with("evalsha") {
                String::from_utf8_lossy(arg).to_ascii_lowercase()
            } else {
                sha1_hex(arg)
            };
            match srv.scripts.read().get(&sha) {
                Some(Script::Lua(l)) => l.shebang.then_some(l.flags),
                Some(Script::Wasm(g)) => (g.flags != 0).then_some(g.flags),
                None if !name.starts_with("evalsha") => match classify(arg).ok()? {
                    Body::Lua { flags, shebang, .. } => shebang.then_some(flags),
                    Body::Wasm(_) => None,
                },
                None => None,
            }
        }
        "fcall" | "fcall_ro" => super::functions::function_flags(srv, arg),
        _ => None,
    }
}

/// Redis's error for a script without `allow-oom` started while over maxmemory.
pub const OOM_SCRIPT: &str =
    "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'";

fn load_script(ctx: &mut Ctx, body: &[u8]) -> Result<(String, Script), CmdError> {
    let sha = sha1_hex(body);
    if let Some(s) = ctx.srv.scripts.read().get(&sha) {
        return Ok((sha, s.clone()));
    }
    let script = match classify(body)? {
        Body::Wasm(bytes) => {
            let (guest, _) = Guest::load(&ctx.srv.wasm, bytes, Kind::Script, &[])
                .map_err(|e| CmdError::owned(format!("{e} (script: {sha})")))?;
            Script::Wasm(guest)
        }
        Body::Lua {
            code,
            flags,
            shebang,
        } => {
            let code = Arc::new(Code {
                id: sha.clone(),
                body: code.into(),
                first_line: body[..body.len() - code.len()].into(),
            });
            ctx.srv
                .lua
                .compile_script(&ctx.srv.wasm, &code)
                .map_err(CmdError::owned)?;
            Script::Lua(Arc::new(LuaScript {
                code,
                flags,
                shebang,
            }))
        }
    };
    ctx.srv.scripts.write().insert(sha.clone(), script.clone());
    Ok((sha, script))
}

fn eval(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, false)
}

fn evalsha(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, false)
}

fn eval_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, true)
}

fn eval_generic(ctx: &mut Ctx, argv: &[&[u8]], by_sha: bool, read_only: bool) -> CmdResult {
    // SCRIPT DEBUG: the EVAL starts a debugging session (commands/ldb.rs).
    if let Some(result) = super::ldb::intercept(ctx, argv, by_sha) {
        return result;
    }
    // Shown before the commands the script runs (EVAL is skip_monitor).
    super::monitor::feed(ctx.srv, ctx.client, argv);
    let (keys, args) = split_keys(argv)?;
    let script = if by_sha {
        // Lowercased on the stack: an EVALSHA costs no allocation here.
        let mut buf = [0u8; 40];
        let sha = match argv[1] {
            s if s.len() == 40 => {
                buf.copy_from_slice(s);
                buf.make_ascii_lowercase();
                std::str::from_utf8(&buf).unwrap_or_default()
            }
            _ => "",
        };
        match ctx.srv.scripts.read().get(sha) {
            Some(s) => s.clone(),
            None => {
                return Err(CmdError::err(
                    "NOSCRIPT No matching script. Please use EVAL.",
                ))
            }
        }
    } else {
        load_script(ctx, argv[1])?.1
    };
    // A script that declared its flags and may write is a write command to
    // Redis's processCommand: refused with MISCONF while the disk fails
    // (a script without flags finds out when it calls a write).
    let may_write = match &script {
        Script::Wasm(g) => g.flags & script_flags::NO_WRITES == 0,
        Script::Lua(l) => l.shebang && l.flags & script_flags::NO_WRITES == 0,
    };
    if may_write && !read_only {
        if let Some(e) = super::disk_error(ctx.srv) {
            return Err(e);
        }
    }
    match script {
        Script::Wasm(guest) => run_with_flags(
            ctx,
            &guest,
            Entry::Main,
            KillClass::Script,
            guest.flags
                | if guest.flags != 0 {
                    script_flags::DECLARED
                } else {
                    0
                },
            read_only,
            keys,
            args,
            None,
        ),
        Script::Lua(lua) => {
            if read_only && lua.shebang && lua.flags & script_flags::NO_WRITES == 0 {
                return Err(CmdError::err(
                    "ERR Can not execute a script with write flag using *_ro command.",
                ));
            }
            let guest = ctx.srv.lua.guest(&ctx.srv.wasm).map_err(CmdError::owned)?;
            // Under the debugger the script holds its whole db from the
            // start: running it again with more locks would replay the session.
            let (entry, whole) = match super::ldb::debugging(ctx.client) {
                Some(_) => (Entry::Debug, script_flags::WHOLE_KEYSPACE),
                None => (Entry::Main, 0),
            };
            run_with_flags(
                ctx,
                &guest,
                entry,
                KillClass::Script,
                lua.flags
                    | whole
                    | if lua.shebang {
                        script_flags::DECLARED
                    } else {
                        0
                    },
                read_only,
                keys,
                args,
                Some(&lua.code),
            )
        }
    }
}

/// Runs a script or function under its flags: read-only when asked or
/// flagged `no-writes`; with every shard of the db when `whole-keyspace`.
/// `code` is the Lua code when `guest` is the Lua engine.
#[allow(clippy::too_many_arguments)]
pub fn run_with_flags(
    ctx: &mut Ctx,
    guest: &Guest,
    entry: Entry,
    class: KillClass,
    flags: u32,
    read_only: bool,
    keys: &[&[u8]],
    args: &[&[u8]],
    code: Option<&Arc<Code>>,
) -> CmdResult {
    // A script that declared it may write, started while over maxmemory
    // (inside EXEC, where the dispatcher could not refuse it).
    let declared = flags & script_flags::DECLARED != 0;
    if declared
        && ctx.client.oom
        && !read_only
        && flags & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0
    {
        return Err(CmdError::err(OOM_SCRIPT));
    }
    // Inside EXEC the transaction already holds the whole db for scripts
    // (tx.rs); elsewhere the dispatcher locked only the declared keys.
    let in_exec = ctx.client.in_exec;
    let whole_keyspace = flags & script_flags::WHOLE_KEYSPACE != 0;
    if whole_keyspace && !in_exec {
        let db = ctx.db();
        ctx.ks
            .relock_or_busy(&LockPlan::Db(db))
            .map_err(CmdError::err)?;
    }
    // Lua may touch keys it did not declare (Redis's scripts often build key
    // names): their shards are taken on the way (guest.rs, `lock_undeclared`).
    let lua = code.is_some();
    let grant = Grant {
        keys,
        whole_keyspace: whole_keyspace || (lua && in_exec),
        lock_undeclared: lua,
        read_only: read_only || flags & script_flags::NO_WRITES != 0,
        types: &[],
        // Compatibility mode: each deny-OOM command is checked as it runs.
        deny_oom: !declared && ctx.client.oom && flags & script_flags::ALLOW_OOM == 0,
        // A SCRIPT DEBUG YES session's writes are undone (Redis forks for it).
        discard: matches!(entry, Entry::Debug)
            && super::ldb::debugging(ctx.client) == Some(super::ldb::Mode::Yes),
    };
    run_guest(ctx, guest, entry, class, &grant, args, code)
}

fn script_load(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (sha, _) = load_script(ctx, argv[2])?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let scripts = ctx.srv.scripts.read();
    ctx.out.array(argv.len() - 2);
    for sha in &argv[2..] {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        ctx.out.int(scripts.contains_key(&sha) as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 || (argv.len() == 3 && !eq_ic(argv[2], "sync") && !eq_ic(argv[2], "async")) {
        return Err(CmdError::err(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    ctx.srv.scripts.write().clear();
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    kill(ctx, KillClass::Script)
}

/// SCRIPT KILL and FUNCTION KILL, with Redis's replies. Unlike Redis, a
/// script that already wrote is killed too (its writes are undone) rather
/// than refused with UNKILLABLE.
pub fn kill(ctx: &mut Ctx, class: KillClass) -> CmdResult {
    match ctx.srv.wasm.kill(class) {
        Kill::Killed => {
            ctx.out.ok();
            Ok(())
        }
        Kill::NotBusy => Err(CmdError::err("NOTBUSY No scripts in execution right now.")),
        // SCRIPT KILL while a function runs: the BUSY text naming FUNCTION KILL.
        Kill::OtherClass => {
            let other = match class {
                KillClass::Script => KillClass::Function,
                _ => KillClass::Script,
            };
            Err(CmdError::err(
                super::guest::busy_reply(other).unwrap_or_default(),
            ))
        }
    }
}

fn script_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed (YES: their writes are undone at the end).",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua and wasm scripts cache.",
            "KILL",
            "    Kill the currently executing scripts (their writes are undone).",
            "LOAD <script>",
            "    Load a script (Lua, wasm binary or WAT text) into the scripts cache without executing it.",
        ],
    );
    Ok(())
}
