//! The Lua engine (DESIGN.md, "Lua inside the sandbox"): Redis's Lua 5.1
//! compiled to wasm (lua/ at the top of the repository builds it; the module
//! is checked in as `lua.wasm` so building the server needs no C toolchain)
//! and run as an ordinary guest of the wasm runtime, so a Lua script gets the
//! locks, limits, KILL and rollback of a wasm script.
//!
//! It is one interpreter guest ([`Kind::Engine`], docs/abi.md) compiled once
//! per server, on first use; its warm instances each cache the scripts and
//! libraries they compiled, by SHA1. This module only loads code into it; the
//! commands (EVAL, FUNCTION LOAD, FCALL) decide what runs and how.

use crate::wasm::guest::Spec;
use crate::wasm::{Code, Failure, Guest, Host, Kind, Runtime};
use std::sync::{Arc, OnceLock};

/// The interpreter module, built by lua/build.sh.
pub const LUA_WASM: &[u8] = include_bytes!("lua.wasm");

/// The engine name FUNCTION LIST and FUNCTION STATS show for Lua libraries.
pub const ENGINE_NAME: &str = "LUA";

/// The compiled interpreter, created on first use.
#[derive(Default)]
pub struct Engine {
    guest: OnceLock<Result<Arc<Guest>, String>>,
}

impl Engine {
    /// Bytes of linear memory the interpreter's idle instances hold (INFO
    /// used_memory_vm_eval); 0 before it was compiled, without compiling it.
    pub fn memory_bytes(&self) -> usize {
        match self.guest.get() {
            Some(Ok(g)) => g.memory_bytes(),
            _ => 0,
        }
    }

    /// The interpreter guest (compiling it the first time: a few hundred ms).
    pub fn guest(&self, rt: &Runtime) -> Result<Arc<Guest>, String> {
        self.guest
            .get_or_init(|| Guest::load(rt, LUA_WASM, Kind::Engine, &[]).map(|(g, _)| g))
            .clone()
    }

    /// Compiles a script body (its shebang line already blanked) in a warm
    /// instance, so that compile errors reach EVAL and SCRIPT LOAD as in Redis.
    pub fn compile_script(&self, rt: &Runtime, code: &Arc<Code>) -> Result<(), String> {
        let guest = self.guest(rt)?;
        guest
            .load_code(rt, &mut NoCalls, code, 0)
            .map(|_| ())
            .map_err(failure_text)
    }

    /// Runs a library's code with redis.register_function available and
    /// returns the functions it registered (docs/abi.md `register` specs).
    pub fn load_library(&self, rt: &Runtime, code: &Arc<Code>) -> Result<Vec<Spec>, String> {
        let guest = self.guest(rt)?;
        guest
            .load_code(rt, &mut NoCalls, code, 1)
            .map_err(failure_text)
    }
}

/// The error text of a failed load.
fn failure_text(f: Failure) -> String {
    match f {
        Failure::Error(text) => text,
        Failure::Aborted(Some(reply)) if reply.first() == Some(&b'-') => {
            String::from_utf8_lossy(&reply[1..])
                .trim_end_matches("\r\n")
                .to_string()
        }
        Failure::Aborted(_) | Failure::Retry => "ERR the Lua engine failed to load the code".into(),
    }
}

/// The host while code is being loaded: compiling a script runs none of it,
/// and a library's top-level code has no redis.call (as in Redis), so no
/// command can arrive; should one, it is refused.
struct NoCalls;

impl Host for NoCalls {
    fn call(&mut self, _argv: &[&[u8]], _resp3: bool, reply: &mut Vec<u8>) {
        reply.extend_from_slice(b"-ERR commands cannot run while code is being loaded\r\n");
    }
    fn acl_check(&mut self, _argv: &[&[u8]]) -> i32 {
        -1
    }
    fn value_len(&mut self, _key: &[u8], _type_id: u32) -> i64 {
        -4
    }
    fn value_read(&mut self, _key: &[u8], _type_id: u32, _offset: u64, _dst: &mut [u8]) -> i64 {
        -4
    }
    fn value_write(&mut self, _key: &[u8], _type_id: u32, _offset: u64, _src: &[u8]) -> i64 {
        -4
    }
    fn value_truncate(&mut self, _key: &[u8], _type_id: u32, _len: u64) -> i64 {
        -4
    }
    fn value_bytes(&mut self, _key: &[u8], _type_id: u32) -> Result<&[u8], i64> {
        Err(-4)
    }
}
