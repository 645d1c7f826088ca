//! Wasm modules (Redis's module.c): MODULE LOAD|LOADEX|UPLOAD|LIST|UNLOAD|HELP,
//! the `loadmodule` directive and the modules bundled with the server. A
//! module registers commands during `ember_init` (docs/abi.md); they join the
//! command table with their metadata and run like built-ins (arity, key
//! locking, MULTI/EXEC, COMMAND INFO), each call an invocation of the
//! module's guest under the locks of the command's keys.

use super::guest::{run_guest, Grant};
use super::keys::reply_help;
use super::table::{flags, flags::*, CommandSpec, Group};
use super::{CmdError, CmdResult, Ctx};
use crate::config::ProtectedAction;
use crate::server::Server;
use crate::store::value::intern_type_name;
use crate::wasm::{Entry, Guest, KillClass, Kind};
use std::sync::Arc;

/// A loaded module.
pub struct LoadedModule {
    pub name: String,
    pub version: i64,
    /// Where it came from: a file path, `<upload>` or `<bundled>`.
    pub path: String,
    pub args: Vec<Vec<u8>>,
    pub guest: Arc<Guest>,
    /// Value types by type_id.
    pub types: Vec<&'static str>,
    /// Names of the commands it registered.
    pub commands: Vec<String>,
}

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("module", -2, Group::Server, super::keys::container_help)
            .doc(
                "4.0.0",
                "A container for module commands.",
                "Depends on subcommand.",
            )
            .subcommands(MODULE_SUBCOMMANDS),
    ];

const MODULE_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("load", -3, Group::Server, module_load)
        .flags(ADMIN | NOSCRIPT)
        .doc("4.0.0", "Loads a module.", "O(1)")
        .syntax("path [arg [arg ...]]"),
    CommandSpec::new("loadex", -3, Group::Server, module_loadex)
        .flags(ADMIN | NOSCRIPT)
        .doc("7.0.0", "Loads a module using extended parameters.", "O(1)")
        .syntax("path [ARGS args [args ...]]"),
    CommandSpec::new("upload", -3, Group::Server, module_upload)
        .flags(ADMIN | NOSCRIPT)
        .doc(
            "7.0.0",
            "Ember: loads a module from its bytes, sent as the last argument (redis-cli -x MODULE UPLOAD [arg ...] < module.wasm).",
            "O(N) with N being the size of the module",
        )
        .syntax("[arg [arg ...]] module-bytes"),
    CommandSpec::new("list", 2, Group::Server, module_list)
        .flags(ADMIN | NOSCRIPT)
        .doc("4.0.0", "Returns all loaded modules.", "O(N) where N is the number of loaded modules."),
    CommandSpec::new("unload", 3, Group::Server, module_unload)
        .flags(ADMIN | NOSCRIPT)
        .doc("4.0.0", "Unloads a module.", "O(1)")
        .syntax("name"),
    CommandSpec::new("help", 2, Group::Server, module_help)
        .flags(LOADING | STALE)
        .doc("5.0.0", "Returns helpful text about the different subcommands.", "O(1)"),
];

/// Leaks a string for the command table's `&'static` fields. Module loads
/// are rare and bounded; a reloaded module leaks its few names again.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Command flags a module may give, by Redis command-flag name or by the
/// module API's name for the same flag.
fn flag_bit(name: &str) -> Option<u32> {
    if let Some((bit, _)) = flags::NAMES.iter().find(|(_, n)| *n == name) {
        return Some(*bit);
    }
    Some(match name {
        "deny-oom" => DENYOOM,
        "deny-script" => NOSCRIPT,
        "allow-loading" => LOADING,
        "allow-stale" => STALE,
        "no-monitor" => SKIP_MONITOR,
        "no-slowlog" => SKIP_SLOWLOG,
        "no-auth" => NO_AUTH,
        "may-replicate" | "may_replicate" => MAY_REPLICATE,
        "no-mandatory-keys" => NO_MANDATORY_KEYS,
        "allow-busy" => ALLOW_BUSY,
        // Accepted for RedisModule compatibility; nothing to do here.
        "random" | "no-cluster" | "getkeys-api" | "" => 0,
        _ => return None,
    })
}

fn text(spec: &[Vec<u8>], i: usize) -> Result<String, String> {
    spec.get(i)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| {
            format!(
                "ERR module registration '{}' is missing arguments",
                spec_name(spec)
            )
        })
}

fn int(spec: &[Vec<u8>], i: usize) -> Result<i64, String> {
    let t = text(spec, i)?;
    t.parse().map_err(|_| {
        format!(
            "ERR module registration '{}': '{t}' is not an integer",
            spec_name(spec)
        )
    })
}

fn spec_name(spec: &[Vec<u8>]) -> String {
    spec.iter()
        .take(2)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `command` registration turned into a table entry.
fn command_spec(module: &'static str, spec: &[Vec<u8>]) -> Result<CommandSpec, String> {
    let name = text(spec, 1)?.to_ascii_lowercase();
    if name.is_empty() || name.len() > 64 || name.contains(|c: char| c.is_whitespace() || c == '|')
    {
        return Err(format!("ERR invalid command name '{name}'"));
    }
    let handler =
        i32::try_from(int(spec, 2)?).map_err(|_| "ERR handler out of range".to_string())?;
    let arity = i32::try_from(int(spec, 3)?).map_err(|_| "ERR arity out of range".to_string())?;
    let mut bits = 0;
    for f in text(spec, 4)?.split_whitespace() {
        let f = f.to_ascii_lowercase();
        match flag_bit(&f) {
            Some(BLOCKING) => {
                return Err(format!(
                    "ERR module command '{name}': blocking commands are not supported"
                ))
            }
            Some(b) => bits |= b,
            None => return Err(format!("ERR module command '{name}': unknown flag '{f}'")),
        }
    }
    let (first, last, step) = (int(spec, 5)?, int(spec, 6)?, int(spec, 7)?);
    let fit = |v: i64| i32::try_from(v).map_err(|_| "ERR key position out of range".to_string());
    let acl: Vec<&'static str> = text(spec, 8)?
        .split_whitespace()
        .map(|c| leak(&c.trim_start_matches('@').to_ascii_lowercase()))
        .collect();
    let summary = spec
        .get(9)
        .map(|s| leak(&String::from_utf8_lossy(s)))
        .unwrap_or("");
    let mut cs = CommandSpec::new(leak(&name), arity, Group::Module, module_command)
        .flags(bits)
        .keys(fit(first)?, fit(last)?, fit(step)?)
        .acl(Box::leak(acl.into_boxed_slice()))
        .doc("1.0.0", summary, "");
    cs.module = Some((module, handler));
    Ok(cs)
}

/// Loads a module from its bytes and registers its commands; returns its name.
pub fn load_module(
    srv: &Server,
    bytes: &[u8],
    path: &str,
    args: &[&[u8]],
) -> Result<String, String> {
    let loaded = Guest::load(&srv.wasm, bytes, Kind::Module, args)?;
    register_module(srv, loaded, path, args)
}

/// Registers a compiled module's types and commands.
fn register_module(
    srv: &Server,
    (guest, specs): (Arc<Guest>, Vec<crate::wasm::guest::Spec>),
    path: &str,
    args: &[&[u8]],
) -> Result<String, String> {
    let mut specs = specs.into_iter();
    let head = specs.next().unwrap_or_default();
    if head.first().map(|w| w.eq_ignore_ascii_case(b"module")) != Some(true) {
        return Err("ERR module did not register itself (its first registration must be 'module <name> <version>')".into());
    }
    let name = text(&head, 1)?;
    let version = int(&head, 2)?;
    if srv.modules.read().contains_key(&name) {
        return Err(format!(
            "ERR Error loading the extension: module '{name}' is already loaded"
        ));
    }
    let static_name = leak(&name);
    let mut types = Vec::new();
    let mut commands = Vec::new();
    for spec in specs {
        let kind = spec
            .first()
            .map(|w| w.to_ascii_lowercase())
            .unwrap_or_default();
        match &kind[..] {
            b"type" => types.push(intern_type_name(&text(&spec, 1)?)),
            b"command" => commands.push(command_spec(static_name, &spec)?),
            _ => {
                return Err(format!(
                    "ERR module '{name}' made an unknown registration '{}'",
                    spec_name(&spec)
                ))
            }
        }
    }
    let mut registered: Vec<String> = Vec::new();
    for cs in commands {
        if let Err(e) = srv.commands.register(cs) {
            for n in &registered {
                srv.commands.unregister(n);
            }
            return Err(e);
        }
        registered.push(cs.name.to_string());
    }
    let module = LoadedModule {
        name: name.clone(),
        version,
        path: path.to_string(),
        args: args.iter().map(|a| a.to_vec()).collect(),
        guest,
        types,
        commands: registered,
    };
    srv.modules.write().insert(name.clone(), Arc::new(module));
    crate::log::notice(&format!("Module '{name}' loaded from {path}"));
    Ok(name)
}

/// Loads the bundled modules and the `loadmodule` directives at start-up.
/// A failing `loadmodule` stops the server, as in Redis.
pub fn load_at_startup(srv: &Server) -> anyhow::Result<()> {
    // Compiling is most of a start-up's time: the bundled modules compile
    // side by side, then register in a fixed order.
    let compiled: Vec<_> = std::thread::scope(|scope| {
        let jobs: Vec<_> = crate::wasm::bundled::BUNDLED
            .iter()
            .map(|(name, bytes)| {
                (
                    name,
                    scope.spawn(move || Guest::load(&srv.wasm, bytes, Kind::Module, &[])),
                )
            })
            .collect();
        jobs.into_iter()
            .map(|(name, job)| {
                let result = job
                    .join()
                    .unwrap_or_else(|_| Err("ERR the compiler thread panicked".into()));
                (name, result)
            })
            .collect()
    });
    for (name, result) in compiled {
        let registered = result
            .and_then(|loaded| register_module(srv, loaded, &format!("<bundled>/{name}"), &[]));
        if let Err(e) = registered {
            crate::log::warning(&format!("bundled module {name} failed to load: {e}"));
        }
    }
    let lines = srv.config.read().loadmodule.clone();
    for m in lines {
        let bytes = read_module_file(&m.path)
            .map_err(|e| anyhow::anyhow!("Module {} failed to load: {e}", m.path))?;
        let args: Vec<&[u8]> = m.args.iter().map(|a| a.as_slice()).collect();
        load_module(srv, &bytes, &m.path, &args)
            .map_err(|e| anyhow::anyhow!("Module {} failed to load: {e}", m.path))?;
    }
    Ok(())
}

/// The handler of every module command: runs the module's guest with the
/// command's keys (locked by the dispatcher from the command's key positions).
fn module_command(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let spec = ctx.spec;
    let Some((module_name, handler)) = spec.module else {
        return Err(CmdError::err("ERR not a module command"));
    };
    let Some(module) = ctx.srv.modules.read().get(module_name).cloned() else {
        return Err(CmdError::err("ERR module command was unloaded"));
    };
    let mut keys: smallvec::SmallVec<[&[u8]; 4]> = smallvec::SmallVec::new();
    spec.for_each_key_index(argv, |i| keys.extend(argv.get(i).copied()));
    let grant = Grant {
        keys: &keys,
        lock_undeclared: false,
        whole_keyspace: false,
        read_only: !spec.has(WRITE),
        types: &module.types,
        deny_oom: false,
        discard: false,
    };
    run_guest(
        ctx,
        &module.guest,
        Entry::Invoke(handler),
        KillClass::Module,
        &grant,
        argv,
        None,
    )
}

/// `enable-module-command`: `local` allows loopback clients only.
fn module_command_allowed(ctx: &Ctx) -> CmdResult {
    let allowed = match ctx.srv.config.read().enable_module_command {
        ProtectedAction::Yes => true,
        ProtectedAction::No => false,
        ProtectedAction::Local => ctx.client.shared.is_local(),
    };
    if allowed {
        Ok(())
    } else {
        Err(CmdError::err("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."))
    }
}

fn load_reply(ctx: &mut Ctx, result: Result<String, String>) -> CmdResult {
    match result {
        Ok(_) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::owned(e)),
    }
}

/// The largest module accepted, from a file or an upload. A compiled guest
/// is a few hundred KiB (the bundled ones are); the bound exists so that a
/// path like `/dev/zero` or a huge upload cannot make the server allocate
/// without limit while it holds a worker thread.
pub const MODULE_MAX_BYTES: u64 = 64 << 20;

/// Reads a module file: a regular file of at most [`MODULE_MAX_BYTES`],
/// read with that bound whatever the file claims (it may grow meanwhile).
/// Devices (`/dev/zero`), FIFOs and directories are refused before any
/// read; the open itself is non-blocking so a FIFO without a writer cannot
/// park the caller.
pub fn read_module_file(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MODULE_MAX_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MODULE_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MODULE_MAX_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_big(len: u64) -> String {
    format!("module of {len} bytes is over the limit of {MODULE_MAX_BYTES} bytes")
}

/// MODULE LOAD and LOADEX: loads the module file at `path` with `args`.
fn load_file(ctx: &mut Ctx, path: &[u8], args: &[&[u8]]) -> CmdResult {
    let path = String::from_utf8_lossy(path).into_owned();
    let bytes = read_module_file(&path).map_err(|e| {
        CmdError::owned(format!(
            "ERR Error loading the extension. Please check the server logs. ({path}: {e})"
        ))
    })?;
    let result = load_module(ctx.srv, &bytes, &path, args);
    load_reply(ctx, result)
}

fn module_load(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    module_command_allowed(ctx)?;
    load_file(ctx, argv[2], &argv[3..])
}

fn module_loadex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    module_command_allowed(ctx)?;
    let args: &[&[u8]] = match argv.get(3) {
        None => &[],
        Some(a) if a.eq_ignore_ascii_case(b"args") => &argv[4..],
        Some(_) => {
            return Err(CmdError::err(
                "ERR Error loading the extension. Please check the server logs.",
            ))
        }
    };
    load_file(ctx, argv[2], args)
}

fn module_upload(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    module_command_allowed(ctx)?;
    let (bytes, args) = argv[2..].split_last().ok_or(CmdError::Syntax)?;
    if bytes.len() as u64 > MODULE_MAX_BYTES {
        return Err(CmdError::owned(format!(
            "ERR Error loading the extension. Please check the server logs. ({})",
            too_big(bytes.len() as u64)
        )));
    }
    let result = load_module(ctx.srv, bytes, "<upload>", args);
    load_reply(ctx, result)
}

fn module_list(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let mut mods: Vec<Arc<LoadedModule>> = ctx.srv.modules.read().values().cloned().collect();
    mods.sort_by(|a, b| a.name.cmp(&b.name));
    ctx.out.array(mods.len());
    for m in mods {
        ctx.out.map(4);
        ctx.out.bulk(b"name");
        ctx.out.bulk(m.name.as_bytes());
        ctx.out.bulk(b"ver");
        ctx.out.int(m.version);
        ctx.out.bulk(b"path");
        ctx.out.bulk(m.path.as_bytes());
        ctx.out.bulk(b"args");
        ctx.out.array(m.args.len());
        for a in &m.args {
            ctx.out.bulk(a);
        }
    }
    Ok(())
}

fn module_unload(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    module_command_allowed(ctx)?;
    let name = String::from_utf8_lossy(argv[2]).into_owned();
    let mut mods = ctx.srv.modules.write();
    let Some(m) = mods.get(&name) else {
        return Err(CmdError::err(
            "ERR Error unloading module: no such module with that name",
        ));
    };
    if !m.types.is_empty() {
        return Err(CmdError::err("ERR Error unloading module: the module exports one or more module-side data types, can't unload"));
    }
    for c in &m.commands {
        ctx.srv.commands.unregister(c);
    }
    mods.remove(&name);
    ctx.out.ok();
    Ok(())
}

fn module_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [ARGS ...]",
            "    Load a module library from <path>, while passing it module arguments.",
            "UPLOAD [<arg> ...] <module-bytes>",
            "    Load a module from its wasm bytes, sent as the last argument.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    Ok(())
}
