//! A compiled guest: validated once against the ABI (imports from `ember`
//! only, the exports its kind needs, ABI version 1 or 2), then invoked through a
//! pool of warm instances. Every call into the guest runs under the limits:
//! wall-clock time and KILL through the epoch callback, memory through the
//! instance's limiter, stack through the engine. An instance that stopped
//! abnormally is dropped, never reused.

use super::abi::{Code, Host, HostState, Stop, IMPORTS, IMPORTS_V2};
use super::{KillClass, Runtime, Shared, ABI_VERSION};
use parking_lot::Mutex;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{ExternType, InstancePre, Store, TypedFunc, UpdateDeadline};

/// What a guest is for; decides which exports it must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Script,
    Library,
    Module,
    /// An interpreter (the Lua engine): runs code the host hands it through
    /// the `code` import (docs/abi.md, "Interpreter guests").
    Engine,
}

/// One `register` call's spec: its words (docs/abi.md).
pub type Spec = Vec<Vec<u8>>;

/// Which export an invocation calls.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    /// `ember_main` (scripts).
    Main,
    /// `ember_invoke(handler)` (libraries, modules, engines).
    Invoke(i32),
    /// `ember_load(kind)` (engines): compile a script (0) or load a library
    /// and register its functions (1).
    Load(i32),
}

/// Why an invocation did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The guest returned non-zero: its reply, if it set one.
    Aborted(Option<Vec<u8>>),
    /// It trapped, hit a limit or was killed: the error text for the client.
    Error(String),
    /// The host stopped it to run it again ([`Stop::Retry`]).
    Retry,
}

/// Warm instances kept per guest; more concurrent invocations than this
/// instantiate and drop extra ones.
const POOL_MAX: usize = 16;

/// How long a guest that stops itself on KILL (`interrupted`) has to do so.
const KILL_GRACE: Duration = Duration::from_millis(200);

/// A long-running invocation gives its tokio worker to another thread after
/// this long, so the other clients of that worker keep being served.
const HAND_OFF_AFTER: Duration = Duration::from_millis(5);

struct Warm {
    store: Store<HostState>,
    /// What the script's `ember_flags` returned (0 when absent).
    flags: u32,
    main: Option<TypedFunc<(), i32>>,
    invoke: Option<TypedFunc<i32, i32>>,
    load: Option<TypedFunc<i32, i32>>,
}

/// A compiled, validated guest.
pub struct Guest {
    pub kind: Kind,
    /// Script flags from `ember_flags` (0 for libraries and modules).
    pub flags: u32,
    pre: InstancePre<HostState>,
    /// It imports `interrupted`: KILL lets it stop itself first.
    cooperative_kill: bool,
    /// It imports a version 2 function (so it must speak version 2).
    imports_v2: bool,
    /// Input of `ember_init` (the module's load arguments), replayed for
    /// every new instance.
    init_input: Vec<u8>,
    pool: Mutex<Vec<Warm>>,
}

/// Encodes an invocation input: RESP `[keys, args]`.
pub fn encode_input<K: AsRef<[u8]>, A: AsRef<[u8]>>(keys: &[K], args: &[A], out: &mut Vec<u8>) {
    fn header(out: &mut Vec<u8>, prefix: u8, n: usize) {
        out.push(prefix);
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    fn bulk(out: &mut Vec<u8>, item: &[u8]) {
        header(out, b'$', item.len());
        out.extend_from_slice(item);
        out.extend_from_slice(b"\r\n");
    }
    out.clear();
    out.extend_from_slice(b"*2\r\n");
    header(out, b'*', keys.len());
    keys.iter().for_each(|k| bulk(out, k.as_ref()));
    header(out, b'*', args.len());
    args.iter().for_each(|a| bulk(out, a.as_ref()));
}

/// The first line of an error chain, for a one-line RESP error.
fn one_line(e: &dyn std::fmt::Display) -> String {
    let s = format!("{e:#}");
    s.split(['\r', '\n']).next().unwrap_or_default().to_string()
}

impl Guest {
    /// Compiles and validates `bytes` (a wasm binary or WAT text) and creates
    /// a first instance; for libraries and modules it runs `ember_init` with
    /// `init_args` and returns the specs the guest registered.
    pub fn load(
        rt: &Runtime,
        bytes: &[u8],
        kind: Kind,
        init_args: &[&[u8]],
    ) -> Result<(Arc<Guest>, Vec<Spec>), String> {
        let module = wasmtime::Module::new(&rt.engine, bytes)
            .map_err(|e| format!("ERR invalid wasm guest: {}", one_line(&e)))?;
        for imp in module.imports() {
            let name = format!("{}.{}", imp.module(), imp.name());
            if imp.module() != "ember" {
                return Err(format!(
                    "ERR wasm module imports '{name}', but guests may only import from 'ember'"
                ));
            }
            if !IMPORTS.contains(&imp.name()) || !matches!(imp.ty(), ExternType::Func(_)) {
                return Err(format!(
                    "ERR wasm module imports '{name}', which is not part of the ember ABI v{ABI_VERSION}"
                ));
            }
        }
        let has = |name: &str, func: bool| {
            module.exports().any(|e| {
                e.name() == name
                    && if func {
                        matches!(e.ty(), ExternType::Func(_))
                    } else {
                        matches!(e.ty(), ExternType::Memory(_))
                    }
            })
        };
        let mut needed = vec![("memory", false), ("ember_abi_version", true)];
        match kind {
            Kind::Script => needed.push(("ember_main", true)),
            Kind::Library | Kind::Module => {
                needed.push(("ember_init", true));
                needed.push(("ember_invoke", true));
            }
            Kind::Engine => {
                needed.push(("ember_main", true));
                needed.push(("ember_invoke", true));
                needed.push(("ember_load", true));
            }
        }
        for (name, func) in needed {
            if !has(name, func) {
                return Err(format!("ERR wasm module does not export '{name}'"));
            }
        }
        let pre = rt.linker.instantiate_pre(&module).map_err(|e| {
            format!(
                "ERR wasm module's imports do not match the ember ABI: {}",
                one_line(&e)
            )
        })?;
        let mut init_input = Vec::new();
        encode_input::<&[u8], &[u8]>(&[], init_args, &mut init_input);
        let cooperative_kill = module
            .imports()
            .any(|i| i.module() == "ember" && i.name() == "interrupted");
        let imports_v2 = module
            .imports()
            .any(|i| i.module() == "ember" && IMPORTS_V2.contains(&i.name()));
        let mut guest = Guest {
            kind,
            flags: 0,
            pre,
            cooperative_kill,
            imports_v2,
            init_input,
            pool: Mutex::new(Vec::new()),
        };
        let (warm, specs) = guest.instantiate(rt, true).map_err(|f| match f {
            Failure::Error(e) => e,
            Failure::Aborted(reply) => init_error(reply),
            Failure::Retry => init_error(None),
        })?;
        let mut warm = warm;
        warm.store.data_mut().settle_hand_off();
        if kind == Kind::Script {
            guest.flags = warm.flags;
        }
        guest.pool.lock().push(warm);
        Ok((Arc::new(guest), specs))
    }

    /// A new instance: instantiated, ABI version checked, initialised.
    fn instantiate(&self, rt: &Runtime, first: bool) -> Result<(Warm, Vec<Spec>), Failure> {
        let shared = &rt.shared;
        let max_memory = shared.memory_limit.load(Ordering::Relaxed) as usize;
        let soft = self.kind == Kind::Engine;
        let mut store = Store::new(&rt.engine, HostState::new(max_memory, soft));
        store.limiter(|s| &mut s.limiter);
        store.data_mut().cooperative_kill = self.cooperative_kill;
        let cb_shared = shared.clone();
        store.epoch_deadline_callback(move |mut ctx| Ok(epoch_check(ctx.data_mut(), &cb_shared)));
        let class = KillClass::Module;
        start_clock(&mut store, shared, class, 0);
        let instance = match self.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(failure(&store, &e, shared)),
        };
        let Some(memory) = instance.get_memory(&mut store, "memory") else {
            return Err(Failure::Error(
                "ERR wasm module does not export 'memory'".into(),
            ));
        };
        store.data_mut().memory = Some(memory);
        let version: TypedFunc<(), i32> = instance
            .get_typed_func(&mut store, "ember_abi_version")
            .map_err(|_| {
                Failure::Error("ERR 'ember_abi_version' must have type () -> i32".into())
            })?;
        match version.call(&mut store, ()) {
            // Version 1 guests run unchanged; only version 2's imports are
            // new (docs/abi.md).
            Ok(1) if !self.imports_v2 => {}
            Ok(1) => return Err(Failure::Error(
                "ERR guest speaks ABI version 1 but imports version 2's value_readv/value_writev"
                    .into(),
            )),
            Ok(ABI_VERSION) => {}
            Ok(v) => {
                return Err(Failure::Error(format!(
                "ERR guest speaks ABI version {v}; this server speaks versions 1 to {ABI_VERSION}"
            )))
            }
            Err(e) => return Err(failure(&store, &e, shared)),
        }
        let mut specs = Vec::new();
        let mut flags = 0;
        let mut load = None;
        let (main, invoke) = match self.kind {
            Kind::Engine => {
                load = Some(typed(&instance, &mut store, "ember_load")?);
                (
                    Some(typed(&instance, &mut store, "ember_main")?),
                    Some(typed(&instance, &mut store, "ember_invoke")?),
                )
            }
            Kind::Script => {
                if let Ok(f) = instance.get_typed_func::<(), i32>(&mut store, "ember_flags") {
                    flags = match f.call(&mut store, ()) {
                        Ok(v) => v as u32,
                        Err(e) => return Err(failure(&store, &e, shared)),
                    };
                }
                (Some(typed(&instance, &mut store, "ember_main")?), None)
            }
            Kind::Library | Kind::Module => {
                let init: TypedFunc<(), i32> = typed(&instance, &mut store, "ember_init")?;
                let invoke: TypedFunc<i32, i32> = typed(&instance, &mut store, "ember_invoke")?;
                let st = store.data_mut();
                st.input.clone_from(&self.init_input);
                st.registrations = Some(Vec::new());
                st.reply = None;
                let code = init.call(&mut store, ());
                let st = store.data_mut();
                let registered = st.registrations.take().unwrap_or_default();
                match code {
                    Ok(0) => {}
                    Ok(_) => return Err(Failure::Aborted(st.reply.take())),
                    Err(e) => return Err(failure(&store, &e, shared)),
                }
                if first {
                    specs = registered;
                }
                (None, Some(invoke))
            }
        };
        Ok((
            Warm {
                store,
                flags,
                main,
                invoke,
                load,
            },
            specs,
        ))
    }

    /// Bytes of linear memory held by this guest's idle (pooled) instances:
    /// wasm memories are mapped outside the allocator, so INFO reports them
    /// apart (used_memory_vm_*).
    pub fn memory_bytes(&self) -> usize {
        let pool = self.pool.lock();
        pool.iter()
            .map(|w| w.store.data().memory.map_or(0, |m| m.data_size(&w.store)))
            .sum()
    }

    /// Runs one invocation with `host` serving its imports. `keys` and
    /// `args` become its input (see [`encode_input`]); `now_ms` is the time
    /// the guest sees; `code` is what an engine runs (None for other guests).
    /// Returns the reply the guest set (empty: none).
    #[allow(clippy::too_many_arguments)]
    pub fn invoke(
        &self,
        rt: &Runtime,
        host: &mut dyn Host,
        keys: &[&[u8]],
        args: &[&[u8]],
        now_ms: i64,
        entry: Entry,
        class: KillClass,
        code: Option<&Arc<Code>>,
    ) -> Result<Vec<u8>, Failure> {
        self.invoke_collecting(rt, host, keys, args, now_ms, entry, class, code, None)
    }

    /// Loads `code` into an engine (`ember_load(kind)`, no keys, no
    /// arguments): compiles a script (kind 0) or runs a library and returns
    /// the functions it registered (kind 1).
    pub fn load_code(
        &self,
        rt: &Runtime,
        host: &mut dyn Host,
        code: &Arc<Code>,
        kind: i32,
    ) -> Result<Vec<Spec>, Failure> {
        let mut specs = Vec::new();
        self.invoke_collecting(
            rt,
            host,
            &[],
            &[],
            0,
            Entry::Load(kind),
            KillClass::Script,
            Some(code),
            Some(&mut specs),
        )?;
        Ok(specs)
    }

    #[allow(clippy::too_many_arguments)]
    fn invoke_collecting(
        &self,
        rt: &Runtime,
        host: &mut dyn Host,
        keys: &[&[u8]],
        args: &[&[u8]],
        now_ms: i64,
        entry: Entry,
        class: KillClass,
        code: Option<&Arc<Code>>,
        specs: Option<&mut Vec<Spec>>,
    ) -> Result<Vec<u8>, Failure> {
        let shared = &rt.shared;
        // Module commands cannot be killed: they need no count (a shared
        // counter costs every call on every thread).
        let _running = (class != KillClass::Module).then(|| Running::new(shared, class));
        // An instance made under an older memory limit (CONFIG SET) is
        // replaced, not reused.
        let max_memory = shared.memory_limit.load(Ordering::Relaxed) as usize;
        let pooled = self
            .pool
            .lock()
            .pop()
            .filter(|w| w.store.data().limiter.max_memory == max_memory);
        let mut warm = match pooled {
            Some(w) => w,
            None => self.instantiate(rt, false)?.0,
        };
        {
            let st = warm.store.data_mut();
            encode_input(keys, args, &mut st.input);
            st.reply = None;
            st.code = code.cloned();
            st.resp3 = false;
            if specs.is_some() {
                st.registrations = Some(Vec::new());
            }
        }
        start_clock(&mut warm.store, shared, class, now_ms);
        let result = {
            let entered = enter(&mut warm.store, host);
            match entry {
                Entry::Main => match &warm.main {
                    Some(f) => f.call(&mut *entered.store, ()),
                    None => return Err(Failure::Error("ERR guest has no 'ember_main'".into())),
                },
                Entry::Invoke(h) => match &warm.invoke {
                    Some(f) => f.call(&mut *entered.store, h),
                    None => return Err(Failure::Error("ERR guest has no 'ember_invoke'".into())),
                },
                Entry::Load(kind) => match &warm.load {
                    Some(f) => f.call(&mut *entered.store, kind),
                    None => return Err(Failure::Error("ERR guest has no 'ember_load'".into())),
                },
            }
        };
        let st = warm.store.data_mut();
        st.settle_hand_off();
        st.code = None;
        let registered = st.registrations.take();
        if let (Some(out), Some(list)) = (specs, registered) {
            *out = list;
        }
        match result {
            Ok(code) => {
                let st = warm.store.data_mut();
                let reply = st.reply.take();
                // A guest that returned normally is healthy: keep it warm,
                // unless it ran into the memory limit (an engine reports that
                // as an error and carries on, but its memory stays grown).
                if !st.limiter.hit_memory {
                    let mut pool = self.pool.lock();
                    if pool.len() < POOL_MAX {
                        pool.push(warm);
                    }
                }
                if code == 0 {
                    Ok(reply.unwrap_or_default())
                } else {
                    Err(Failure::Aborted(reply))
                }
            }
            Err(e) => Err(failure(&warm.store, &e, shared)),
        }
    }
}

/// An export with the type the ABI gives it.
fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    instance: &wasmtime::Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> Result<TypedFunc<P, R>, Failure> {
    instance
        .get_typed_func(store, name)
        .map_err(|_| Failure::Error(format!("ERR '{name}' has the wrong type for the ember ABI")))
}

/// The error of `ember_init` returning non-zero.
fn init_error(reply: Option<Vec<u8>>) -> String {
    match reply {
        Some(r) if r.first() == Some(&b'-') => String::from_utf8_lossy(&r[1..])
            .trim_end_matches("\r\n")
            .to_string(),
        _ => "ERR guest's ember_init failed".into(),
    }
}

/// Arms the epoch callback for a new invocation.
fn start_clock(store: &mut Store<HostState>, shared: &Shared, class: KillClass, now_ms: i64) {
    let limit = shared.time_limit_ms.load(Ordering::Relaxed);
    let st = store.data_mut();
    st.started = Instant::now();
    st.deadline = st.started + Duration::from_millis(limit);
    st.kill_class = class as usize;
    st.kill_generation = shared.kill_generation[class as usize].load(Ordering::Acquire);
    st.stop = None;
    st.kill_requested = None;
    st.settle_hand_off();
    st.now_ms = now_ms;
    store.set_epoch_deadline(1);
}

/// Runs at every epoch tick while the guest executes.
fn epoch_check(st: &mut HostState, shared: &Shared) -> UpdateDeadline {
    let now = Instant::now();
    if shared.kill_generation[st.kill_class].load(Ordering::Relaxed) != st.kill_generation {
        if !st.cooperative_kill {
            st.stop = Some(Stop::Killed);
            return UpdateDeadline::Interrupt;
        }
        // The guest stops itself with its own error (Lua: Redis's reply
        // naming the script's line); trapped if it has not after a while.
        let asked = *st.kill_requested.get_or_insert(now);
        if now.duration_since(asked) >= KILL_GRACE {
            st.stop = Some(Stop::Killed);
            return UpdateDeadline::Interrupt;
        }
    }
    if now >= st.deadline {
        st.stop = Some(Stop::Timeout);
        return UpdateDeadline::Interrupt;
    }
    if !st.handed_off && now.duration_since(st.started) >= HAND_OFF_AFTER {
        st.handed_off = true;
        crate::store::LONG_LOCK_HOLDERS.fetch_add(1, Ordering::Relaxed);
        let started = st.started;
        if let Some(host) = st.current_host() {
            host.running_long(started);
        }
        hand_off_worker();
    }
    UpdateDeadline::Continue(1)
}

/// Lets the tokio runtime move this worker's other tasks to a new thread
/// while this one keeps running the guest (no-op outside a multi-thread
/// runtime, where that is impossible: `threads 1` behaves like Redis).
fn hand_off_worker() {
    crate::util::worker::block_off_worker(|| {});
}

/// The client-facing error for an invocation that stopped abnormally.
fn failure(store: &Store<HostState>, e: &wasmtime::Error, shared: &Shared) -> Failure {
    let st = store.data();
    if st.stop == Some(Stop::Retry) {
        return Failure::Retry;
    }
    let text = if st.limiter.hit_memory {
        format!(
            "ERR guest exceeded the memory limit of {} bytes (wasm-memory-limit)",
            shared.memory_limit.load(Ordering::Relaxed)
        )
    } else {
        match &st.stop {
            Some(Stop::Timeout) => format!(
                "ERR guest exceeded the time limit of {} ms (wasm-time-limit)",
                shared.time_limit_ms.load(Ordering::Relaxed)
            ),
            Some(Stop::Killed) => match st.kill_class {
                0 => "ERR Script killed by user with SCRIPT KILL...".to_string(),
                _ => "ERR Script killed by user with FUNCTION KILL...".to_string(),
            },
            Some(Stop::Fault(msg)) => format!("ERR {msg}"),
            Some(Stop::Retry) => "ERR guest stopped to run again".to_string(),
            None => match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::StackOverflow) => {
                    "ERR guest exceeded the stack limit (call stack exhausted)".to_string()
                }
                Some(t) => format!("ERR guest trapped: {t}"),
                None => format!("ERR guest failed: {}", one_line(e)),
            },
        }
    };
    Failure::Error(text)
}

/// Makes `host` reachable from the imports while the returned value lives.
struct Entered<'s, 'h> {
    store: &'s mut Store<HostState>,
    _host: PhantomData<&'h mut ()>,
}

fn enter<'s, 'h>(
    store: &'s mut Store<HostState>,
    host: &'h mut (dyn Host + 'h),
) -> Entered<'s, 'h> {
    store.data_mut().set_host(host);
    Entered {
        store,
        _host: PhantomData,
    }
}

impl Drop for Entered<'_, '_> {
    fn drop(&mut self) {
        self.store.data_mut().clear_host();
    }
}

/// Counts a running invocation for the ticker and the KILL commands.
struct Running<'a>(&'a Shared, usize);

impl<'a> Running<'a> {
    fn new(shared: &'a Shared, class: KillClass) -> Self {
        shared.running[class as usize].fetch_add(1, Ordering::SeqCst);
        Running(shared, class as usize)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running[self.1].fetch_sub(1, Ordering::SeqCst);
    }
}
