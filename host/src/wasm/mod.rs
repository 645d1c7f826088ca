//! The WebAssembly runtime behind scripts, function libraries and modules
//! (docs/abi.md): one wasmtime engine and its epoch ticker, the limits every
//! invocation runs under, compiled guests with their warm instance pools
//! ([`guest`]), the host imports ([`abi`]) and the RESP the guests speak
//! ([`resp`]).
//!
//! This layer knows nothing of commands (DESIGN.md): whoever invokes a guest
//! hands it a [`Host`] that runs the guest's calls through the command table.

pub mod abi;
pub mod bundled;
pub mod guest;
pub mod resp;

pub use abi::{Code, Host};
pub use guest::{Entry, Failure, Guest, Kind};

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The newest ABI version this host speaks; guests export `ember_abi_version`
/// returning it or any older version (docs/abi.md: 2 added `value_readv` and
/// `value_writev`; version 1 guests run unchanged).
pub const ABI_VERSION: i32 = 2;

/// Default wall-clock limit per invocation, like Redis's busy-reply-threshold.
pub const DEFAULT_TIME_LIMIT_MS: u64 = 5000;
/// Default linear-memory cap per instance.
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 << 20;
/// Wasm stack per invocation: deep enough for real guests, far below the
/// native stack of a tokio worker (2 MiB).
pub const STACK_LIMIT: usize = 512 << 10;

/// Which KILL command stops an invocation: SCRIPT KILL stops scripts,
/// FUNCTION KILL stops functions. Module commands are not killable by
/// either (as in Redis), only by their time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillClass {
    Script = 0,
    Function = 1,
    Module = 2,
}

/// What a KILL did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    Killed,
    /// Nothing of any class runs (NOTBUSY).
    NotBusy,
    /// Nothing of this class runs, but the other one (script vs function)
    /// does: Redis answers with the BUSY text naming the right KILL.
    OtherClass,
}

/// Counters shared between the engine's ticker, running invocations and the
/// KILL commands.
#[derive(Default)]
pub struct Shared {
    /// Invocations running now, per [`KillClass`].
    pub running: [AtomicUsize; 3],
    /// Bumped by SCRIPT KILL / FUNCTION KILL: an invocation that started at
    /// an older generation of its class stops at its next epoch check.
    pub kill_generation: [AtomicU64; 3],
    /// Limits, refreshed from the config (CONFIG SET takes effect on the next
    /// invocation).
    pub time_limit_ms: AtomicU64,
    pub memory_limit: AtomicU64,
}

/// The engine every guest is compiled for, with the linker holding the host
/// imports. One per server.
pub struct Runtime {
    pub engine: wasmtime::Engine,
    pub linker: wasmtime::Linker<abi::HostState>,
    pub shared: Arc<Shared>,
}

impl Runtime {
    pub fn new() -> wasmtime::Result<Runtime> {
        let mut config = wasmtime::Config::new();
        // Epoch checks at loop heads and function entries bound every
        // invocation's wall-clock time without fuel's per-instruction cost.
        config.epoch_interruption(true);
        config.max_wasm_stack(STACK_LIMIT);
        // Guests are wasm32 (docs/abi.md): every pointer is an i32.
        config.wasm_memory64(false);
        // Guests are compiled once and called many times.
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // The Lua engine guest's setjmp/longjmp (Lua's errors) are wasm
        // exceptions; they need the GC (exception objects live in its heap).
        config.wasm_exceptions(true);
        // EMBER_WASM_PERFMAP=1: name guest functions for `perf` (/tmp/perf-<pid>.map).
        if std::env::var_os("EMBER_WASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = wasmtime::Engine::new(&config)?;
        let mut linker = wasmtime::Linker::new(&engine);
        abi::define_imports(&mut linker)?;
        let shared = Arc::new(Shared {
            time_limit_ms: AtomicU64::new(DEFAULT_TIME_LIMIT_MS),
            memory_limit: AtomicU64::new(DEFAULT_MEMORY_LIMIT),
            ..Shared::default()
        });
        spawn_ticker(engine.clone(), shared.clone());
        Ok(Runtime {
            engine,
            linker,
            shared,
        })
    }

    /// Stops every running invocation of `class` at its next epoch check.
    pub fn kill(&self, class: KillClass) -> Kill {
        let i = class as usize;
        if self.shared.running[i].load(Ordering::SeqCst) == 0 {
            let other = match class {
                KillClass::Script => KillClass::Function,
                _ => KillClass::Script,
            };
            return if self.shared.running[other as usize].load(Ordering::SeqCst) > 0 {
                Kill::OtherClass
            } else {
                Kill::NotBusy
            };
        }
        self.shared.kill_generation[i].fetch_add(1, Ordering::SeqCst);
        Kill::Killed
    }

    pub fn set_limits(&self, time_limit_ms: u64, memory_limit: u64) {
        self.shared
            .time_limit_ms
            .store(time_limit_ms.max(1), Ordering::Relaxed);
        self.shared
            .memory_limit
            .store(memory_limit.max(64 << 10), Ordering::Relaxed);
    }
}

/// Advances the engine's epoch: every millisecond while a script or function
/// runs (so time limits and KILL act within a few ms), every 5 ms otherwise.
fn spawn_ticker(engine: wasmtime::Engine, shared: Arc<Shared>) {
    let weak = Arc::downgrade(&shared);
    drop(shared);
    let spawned = std::thread::Builder::new()
        .name("ember-wasm-epoch".into())
        .spawn(move || loop {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let busy = shared.running.iter().any(|r| r.load(Ordering::Relaxed) > 0);
            drop(shared);
            // Module commands are not counted as running (see Guest::invoke),
            // so even "idle" ticks come often enough for their time limit.
            std::thread::sleep(Duration::from_millis(if busy { 1 } else { 5 }));
            engine.increment_epoch();
        });
    if let Err(e) = spawned {
        crate::log::warning(&format!("cannot start the wasm epoch thread: {e}"));
    }
}
