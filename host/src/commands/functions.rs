//! Function libraries (Redis's functions.c): FUNCTION LOAD|LIST|DELETE|FLUSH|
//! DUMP|RESTORE|STATS|KILL|HELP and FCALL/FCALL_RO. A library is either Lua
//! code with a `#!lua name=<lib>` first line whose top level calls
//! redis.register_function (run by the Lua engine, crate::lua), or a wasm
//! guest whose `ember_init` registers `library <name>` and its functions
//! (docs/abi.md); FCALL runs one like a script, with the function's flags.

use super::keys::reply_help;
use super::scripting::{call_keys, is_wasm, run_with_flags, script_flags, sha1_hex, CALL_FLAGS};
use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::persist::rdb::dump::{functions_payload, parse_functions_payload, DumpError};
use crate::util::glob::glob_match;
use crate::wasm::{Code, Entry, Guest, KillClass, Kind};
use std::sync::Arc;

/// One function of a library.
pub struct Function {
    pub name: String,
    pub handler: i32,
    pub flags: u32,
    pub description: Option<String>,
}

/// A loaded library.
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub guest: Arc<Guest>,
    /// For a Lua library (then `guest` is the Lua engine): the code it runs.
    pub lua: Option<Arc<Code>>,
    pub functions: Vec<Function>,
}

impl Library {
    fn engine(&self) -> &'static str {
        if self.lua.is_some() {
            crate::lua::ENGINE_NAME
        } else {
            ENGINE
        }
    }
}

/// Every library, and which library holds each function.
#[derive(Default)]
pub struct Libraries {
    pub libs: hashbrown::HashMap<String, Arc<Library>>,
    /// Keyed by the function name in lowercase: as in Redis, function names
    /// are case-insensitive (`FCALL MyFunc` finds `myfunc`, and two libraries
    /// cannot have `f` and `F`); library names are case-sensitive.
    pub functions: hashbrown::HashMap<String, String>,
}

impl Libraries {
    fn remove(&mut self, name: &str) -> Option<Arc<Library>> {
        let lib = self.libs.remove(name)?;
        for f in &lib.functions {
            self.functions.remove(&f.name.to_ascii_lowercase());
        }
        Some(lib)
    }

    /// Adds `lib`; with `replace`, a library of the same name goes first.
    /// `restore` picks FUNCTION RESTORE's wording for a name clash (Redis's
    /// libraryJoin says `Library x already exists`, FUNCTION LOAD quotes it).
    fn add(&mut self, lib: Library, replace: bool, restore: bool) -> Result<(), CmdError> {
        let old = if replace {
            self.remove(&lib.name)
        } else {
            None
        };
        let mut clash = None;
        if !replace && self.libs.contains_key(&lib.name) {
            clash = Some(if restore {
                format!("ERR Library {} already exists", lib.name)
            } else {
                format!("ERR Library '{}' already exists", lib.name)
            });
        }
        for f in &lib.functions {
            if clash.is_none() && self.functions.contains_key(&f.name.to_ascii_lowercase()) {
                clash = Some(format!("ERR Function {} already exists", f.name));
            }
        }
        if let Some(e) = clash {
            if let Some(old) = old {
                self.insert(old);
            }
            return Err(CmdError::owned(e));
        }
        self.insert(Arc::new(lib));
        Ok(())
    }

    fn insert(&mut self, lib: Arc<Library>) {
        for f in &lib.functions {
            self.functions
                .insert(f.name.to_ascii_lowercase(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("fcall", -3, Group::Scripting, fcall)
        .flags(CALL_FLAGS | MAY_REPLICATE)
        .key_finder(call_keys)
        .doc(
            "7.0.0",
            "Invokes a function.",
            "Depends on the function that is executed.",
        )
        .syntax("function numkeys [key [key ...]] [arg [arg ...]]"),
    CommandSpec::new("fcall_ro", -3, Group::Scripting, fcall_ro)
        .flags(READONLY | CALL_FLAGS)
        .key_finder(call_keys)
        .doc(
            "7.0.0",
            "Invokes a read-only function.",
            "Depends on the function that is executed.",
        )
        .syntax("function numkeys [key [key ...]] [arg [arg ...]]"),
    CommandSpec::new(
        "function",
        -2,
        Group::Scripting,
        super::keys::container_help,
    )
    .doc(
        "7.0.0",
        "A container for function commands.",
        "Depends on subcommand.",
    )
    .subcommands(FUNCTION_SUBCOMMANDS),
];

const FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("load", -3, Group::Scripting, function_load)
        .flags(WRITE | DENYOOM | NOSCRIPT)
        .doc(
            "7.0.0",
            "Creates a library.",
            "O(1) (considering compilation time is redundant)",
        )
        .syntax("[REPLACE] function-code"),
    CommandSpec::new("delete", 3, Group::Scripting, function_delete)
        .flags(WRITE | NOSCRIPT)
        .doc("7.0.0", "Deletes a library and its functions.", "O(1)")
        .syntax("library-name"),
    CommandSpec::new("flush", -2, Group::Scripting, function_flush)
        .flags(WRITE | NOSCRIPT)
        .doc(
            "7.0.0",
            "Deletes all libraries and functions.",
            "O(N) where N is the number of functions deleted",
        )
        .syntax("[ASYNC | SYNC]"),
    CommandSpec::new("list", -2, Group::Scripting, function_list)
        .flags(NOSCRIPT)
        .doc(
            "7.0.0",
            "Returns information about all libraries.",
            "O(N) where N is the number of functions",
        )
        .syntax("[LIBRARYNAME library-name-pattern] [WITHCODE]"),
    CommandSpec::new("dump", 2, Group::Scripting, function_dump)
        .flags(NOSCRIPT)
        .doc(
            "7.0.0",
            "Dumps all libraries into a serialized binary payload.",
            "O(N) where N is the number of functions",
        ),
    CommandSpec::new("restore", -3, Group::Scripting, function_restore)
        .flags(WRITE | DENYOOM | NOSCRIPT)
        .doc(
            "7.0.0",
            "Restores all libraries from a payload.",
            "O(N) where N is the number of functions on the payload",
        )
        .syntax("serialized-value [FLUSH | APPEND | REPLACE]"),
    CommandSpec::new("stats", 2, Group::Scripting, function_stats)
        .flags(NOSCRIPT | ALLOW_BUSY)
        .doc(
            "7.0.0",
            "Returns information about a function during execution.",
            "O(1)",
        ),
    CommandSpec::new("kill", 2, Group::Scripting, function_kill)
        .flags(NOSCRIPT | ALLOW_BUSY)
        .doc("7.0.0", "Terminates a function during execution.", "O(1)"),
    CommandSpec::new("help", 2, Group::Scripting, function_help)
        .flags(LOADING | STALE)
        .doc(
            "7.0.0",
            "Returns helpful text about the different subcommands.",
            "O(1)",
        ),
];

/// The engine name FUNCTION LIST and STATS show.
const ENGINE: &str = "WASM";

/// Redis's rule for library and function names.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Redis's addReplySubcommandSyntaxError: `argv[1]` as the client typed it.
fn subcommand_syntax_error(argv: &[&[u8]]) -> CmdError {
    let sub = argv.get(1).copied().unwrap_or_default();
    let sub = &sub[..sub.len().min(128)];
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// Reads a Lua library's first line, `#!lua name=<lib>`, with Redis's errors;
/// returns the name and the code after that line (from its newline).
fn lua_metadata(code: &[u8]) -> Result<(String, &[u8]), CmdError> {
    if !code.starts_with(b"#!") {
        return Err(CmdError::err("ERR Missing library metadata"));
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let (line, rest) = code.split_at(end);
    let line = String::from_utf8_lossy(&line[2..]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    let mut name = None;
    for part in parts {
        match part.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => {
                return Err(CmdError::owned(format!(
                    "ERR Invalid metadata value given: {part}"
                )))
            }
        }
    }
    let Some(name) = name else {
        return Err(CmdError::err("ERR Library name was not given"));
    };
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(CmdError::owned(format!("ERR Engine '{engine}' not found")));
    }
    if !valid_name(&name) {
        return Err(CmdError::err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    Ok((name, rest))
}

/// Drops every library (FUNCTION FLUSH, DEBUG RELOAD's emptying).
pub fn clear(srv: &crate::server::Server) {
    *srv.functions.write() = Libraries::default();
}

/// Adds a library from its code as an RDB file carries it (loading at start):
/// a clash with a loaded library is an error, as in Redis's rdbFunctionLoad.
pub fn load_from_rdb(srv: &crate::server::Server, code: &[u8]) -> Result<(), String> {
    let lib = compile_library(srv, code).map_err(|e| e.text().to_string())?;
    srv.functions
        .write()
        .add(lib, false, true)
        .map_err(|e| e.text().to_string())
}

/// Compiles a library and reads its registrations.
fn compile_library(srv: &crate::server::Server, code: &[u8]) -> Result<Library, CmdError> {
    let mut name = None;
    let (guest, specs, lua) = if is_wasm(code) {
        let (guest, specs) =
            Guest::load(&srv.wasm, code, Kind::Library, &[]).map_err(CmdError::owned)?;
        (guest, specs, None)
    } else {
        let (lib_name, rest) = lua_metadata(code)?;
        name = Some(lib_name);
        let lua = Arc::new(Code {
            id: sha1_hex(code),
            body: rest.into(),
            first_line: code[..code.len() - rest.len()].into(),
        });
        let specs = srv
            .lua
            .load_library(&srv.wasm, &lua)
            .map_err(CmdError::owned)?;
        let guest = srv.lua.guest(&srv.wasm).map_err(CmdError::owned)?;
        (guest, specs, Some(lua))
    };
    let mut functions: Vec<Function> = Vec::new();
    for spec in specs {
        let word = |i: usize| spec.get(i).map(|b| String::from_utf8_lossy(b).into_owned());
        match word(0).map(|w| w.to_ascii_lowercase()).as_deref() {
            Some("library") if name.is_none() => name = word(1),
            Some("function") => {
                let (Some(fname), Some(handler)) = (word(1), word(2).and_then(|h| h.parse().ok()))
                else {
                    return Err(CmdError::err(
                        "ERR function registration needs a name and a handler",
                    ));
                };
                if !valid_name(&fname) {
                    return Err(CmdError::err("ERR Function names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
                }
                let mut flags = 0;
                for f in word(3).unwrap_or_default().split_whitespace() {
                    match script_flags::NAMES.iter().find(|(_, n)| *n == f) {
                        Some((bit, _)) => flags |= bit,
                        None => {
                            return Err(CmdError::owned(format!("ERR Unknown flag given: {f}")))
                        }
                    }
                }
                if functions
                    .iter()
                    .any(|g| g.name.eq_ignore_ascii_case(&fname))
                {
                    return Err(CmdError::owned(format!(
                        "ERR Function {fname} already exists"
                    )));
                }
                functions.push(Function {
                    name: fname,
                    handler,
                    flags,
                    description: word(4),
                });
            }
            _ => return Err(CmdError::err("ERR library made an unknown registration")),
        }
    }
    let Some(name) = name else {
        return Err(CmdError::err("ERR Missing library metadata"));
    };
    if !valid_name(&name) {
        return Err(CmdError::err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    if functions.is_empty() {
        return Err(CmdError::err("ERR No functions registered"));
    }
    Ok(Library {
        name,
        code: code.to_vec(),
        guest,
        lua,
        functions,
    })
}

fn function_load(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Every argument before the last is an option (REPLACE, possibly repeated,
    // as Redis accepts); the last one is the code.
    let (code, options) = argv[2..].split_last().expect("arity -3");
    let mut replace = false;
    for opt in options {
        if !eq_ic(opt, "replace") {
            return Err(CmdError::owned(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        replace = true;
    }
    let lib = compile_library(ctx.srv, code)?;
    let name = lib.name.clone();
    ctx.srv.functions.write().add(lib, replace, false)?;
    // Libraries persist: the AOF and replicas see the FUNCTION call itself.
    ctx.propagate_verbatim(argv);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(argv[2]);
    if ctx.srv.functions.write().remove(&name).is_none() {
        return Err(CmdError::err("ERR Library not found"));
    }
    ctx.propagate_verbatim(argv);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    if argv.len() == 3 && !eq_ic(argv[2], "sync") && !eq_ic(argv[2], "async") {
        return Err(CmdError::err(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    clear(ctx.srv);
    ctx.propagate_verbatim(argv);
    ctx.out.ok();
    Ok(())
}

fn function_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < argv.len() {
        if eq_ic(argv[i], "withcode") && !with_code {
            with_code = true;
        } else if eq_ic(argv[i], "libraryname") && pattern.is_none() {
            pattern = Some(
                argv.get(i + 1)
                    .ok_or(CmdError::err("ERR library name argument was not given"))?,
            );
            i += 1;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(argv[i])
            )));
        }
        i += 1;
    }
    let libs: Vec<Arc<Library>> = {
        let all = ctx.srv.functions.read();
        let mut v: Vec<_> = all
            .libs
            .values()
            // Redis matches library names case-insensitively here.
            .filter(|l| pattern.is_none_or(|p| glob_match(p, l.name.as_bytes(), true)))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    ctx.out.array(libs.len());
    for lib in libs {
        ctx.out.map(3 + with_code as usize);
        ctx.out.bulk(b"library_name");
        ctx.out.bulk(lib.name.as_bytes());
        ctx.out.bulk(b"engine");
        ctx.out.bulk(lib.engine().as_bytes());
        ctx.out.bulk(b"functions");
        ctx.out.array(lib.functions.len());
        for f in &lib.functions {
            ctx.out.map(3);
            ctx.out.bulk(b"name");
            ctx.out.bulk(f.name.as_bytes());
            ctx.out.bulk(b"description");
            match &f.description {
                Some(d) => ctx.out.bulk(d.as_bytes()),
                None => ctx.out.null(),
            }
            ctx.out.bulk(b"flags");
            let names: Vec<&str> = script_flags::NAMES
                .iter()
                .filter(|(b, _)| f.flags & b != 0)
                .map(|(_, n)| *n)
                .collect();
            ctx.out.set(names.len());
            // Status strings, as Redis sends them (`+no-writes`).
            for n in names {
                ctx.out.simple(n);
            }
        }
        if with_code {
            ctx.out.bulk(b"library_code");
            ctx.out.bulk(&lib.code);
        }
    }
    Ok(())
}

/// FUNCTION DUMP's payload is Redis's: one FUNCTION2 record per library,
/// the RDB version and a CRC-64 (persist/rdb/dump.rs), so payloads move
/// between Redis and Ember.
fn function_dump(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let all = ctx.srv.functions.read();
    let mut libs: Vec<_> = all.libs.values().collect();
    libs.sort_by(|a, b| a.name.cmp(&b.name));
    let payload = functions_payload(libs.iter().map(|l| &l.code[..]));
    drop(all);
    ctx.out.bulk(&payload);
    Ok(())
}

fn function_restore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(subcommand_syntax_error(argv));
    }
    let policy =
        match argv.get(3) {
            None => "append",
            Some(p) if eq_ic(p, "append") => "append",
            Some(p) if eq_ic(p, "replace") => "replace",
            Some(p) if eq_ic(p, "flush") => "flush",
            Some(_) => return Err(CmdError::err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let codes = match parse_functions_payload(argv[2]) {
        Ok(codes) => codes,
        Err(DumpError::VersionOrChecksum) => {
            return Err(CmdError::err(
                "ERR DUMP payload version or checksum are wrong",
            ))
        }
        Err(DumpError::BadData(e)) if e.to_string().starts_with("given type is not a function") => {
            return Err(CmdError::err("ERR given type is not a function"))
        }
        Err(DumpError::BadData(_)) => return Err(CmdError::err("ERR can not read data type")),
    };
    let mut libs = Vec::new();
    for code in &codes {
        libs.push(compile_library(ctx.srv, code)?);
    }
    let mut all = ctx.srv.functions.write();
    // All or nothing: apply to a copy of the registry.
    let mut next = Libraries::default();
    if policy != "flush" {
        for lib in all.libs.values() {
            next.insert(lib.clone());
        }
    }
    for lib in libs {
        next.add(lib, policy == "replace", true)?;
    }
    *all = next;
    drop(all);
    ctx.propagate_verbatim(argv);
    ctx.out.ok();
    Ok(())
}

fn function_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // (libraries, functions) per engine that has libraries; with none at
    // all, Lua with zeros, as Redis (whose only engine is Lua) answers.
    let mut counts = vec![(crate::lua::ENGINE_NAME, 0, 0), (ENGINE, 0, 0)];
    for lib in ctx.srv.functions.read().libs.values() {
        let slot = if lib.lua.is_some() { 0 } else { 1 };
        counts[slot].1 += 1;
        counts[slot].2 += lib.functions.len();
    }
    if counts.iter().any(|c| c.1 > 0) {
        counts.retain(|c| c.1 > 0);
    } else {
        counts.truncate(1);
    }
    ctx.out.map(2);
    ctx.out.bulk(b"running_script");
    // Several functions may run at once here (they hold different keys);
    // none is "the" running one, so this reports none, as when idle.
    ctx.out.null();
    ctx.out.bulk(b"engines");
    ctx.out.map(counts.len());
    for (engine, libs, funcs) in counts {
        ctx.out.bulk(engine.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"libraries_count");
        ctx.out.int(libs as i64);
        ctx.out.bulk(b"functions_count");
        ctx.out.int(funcs as i64);
    }
    Ok(())
}

fn function_kill(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::scripting::kill(ctx, KillClass::Function)
}

fn fcall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, argv, false)
}

fn fcall_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, argv, true)
}

/// The flags of function `name` (FCALL's command flags under maxmemory).
pub fn function_flags(srv: &crate::server::Server, name: &[u8]) -> Option<u32> {
    let name = String::from_utf8_lossy(name);
    let all = srv.functions.read();
    let lib = all
        .functions
        .get(&name.to_ascii_lowercase())
        .and_then(|l| all.libs.get(l))?;
    lib.functions
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(&name))
        .map(|f| f.flags)
}

fn fcall_generic(ctx: &mut Ctx, argv: &[&[u8]], read_only: bool) -> CmdResult {
    // Shown before the commands the function runs (FCALL is skip_monitor).
    super::monitor::feed(ctx.srv, ctx.client, argv);
    let name = String::from_utf8_lossy(argv[1]);
    let (lib, idx) = {
        let all = ctx.srv.functions.read();
        let lib = all
            .functions
            .get(&name.to_ascii_lowercase())
            .and_then(|l| all.libs.get(l))
            .cloned()
            .ok_or(CmdError::err("ERR Function not found"))?;
        let idx = lib
            .functions
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(&name))
            .ok_or(CmdError::err("ERR Function not found"))?;
        (lib, idx)
    };
    // Redis looks the function up first, then checks numkeys with these texts
    // (EVAL's differ: split_keys).
    let numkeys = crate::util::num::parse_i64(argv[2])
        .ok_or(CmdError::err("ERR Bad number of keys provided"))?;
    let rest = &argv[3..];
    if numkeys > rest.len() as i64 {
        return Err(CmdError::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let numkeys = usize::try_from(numkeys)
        .map_err(|_| CmdError::err("ERR Number of keys can't be negative"))?;
    let (keys, args) = rest.split_at(numkeys);
    let f = &lib.functions[idx];
    if read_only && f.flags & script_flags::NO_WRITES == 0 {
        return Err(CmdError::err(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    // A function that may write is a write command to Redis's processCommand:
    // refused with MISCONF while the disk fails.
    if !read_only && f.flags & script_flags::NO_WRITES == 0 {
        if let Some(e) = super::disk_error(ctx.srv) {
            return Err(e);
        }
    }
    // Lua functions may name keys they did not declare, as in Redis: they
    // take those keys' shards as they go (guest.rs, `lock_undeclared`).
    run_with_flags(
        ctx,
        &lib.guest,
        Entry::Invoke(f.handler),
        KillClass::Function,
        f.flags | script_flags::DECLARED,
        read_only,
        keys,
        args,
        lib.lua.as_ref(),
    )
}

fn function_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library: Lua code starting with '#!lua name=<library>', or wasm code (binary or WAT text) that registers its name and functions.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries.",
            "STATS",
            "    Return the number of libraries and functions per engine.",
            "KILL",
            "    Kill the running functions (their writes are undone).",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload (default APPEND).",
        ],
    );
    Ok(())
}
