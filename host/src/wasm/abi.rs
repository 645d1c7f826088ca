//! The host side of the guest ABI (docs/abi.md): the per-instance state the
//! imports work on ([`HostState`]), the [`Host`] an invocation runs its
//! commands through, and every import in module `ember`, defined in one place.
//!
//! Memory rule: the host never allocates in the guest and never keeps a guest
//! pointer. Each import checks its pointer/length pairs against the guest's
//! memory and copies during the call; a bad pair traps the invocation.

use super::resp;
use smallvec::SmallVec;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{bail, format_err, Result};
use wasmtime::{Caller, Linker, Memory, ResourceLimiter};

/// What a guest's invocation runs against; implemented by the command layer.
pub trait Host {
    /// Runs one command (argv[0] is its name) and appends its reply, errors
    /// included, to `reply`: RESP3 when `resp3`, else RESP2.
    fn call(&mut self, argv: &[&[u8]], resp3: bool, reply: &mut Vec<u8>);
    /// After `call`: the host wants the invocation stopped (without the
    /// guest seeing it) to run it again differently ([`Stop::Retry`]).
    fn retry_wanted(&self) -> bool {
        false
    }
    /// The invocation, started at `since`, has run long enough to give its
    /// worker away (guest.rs); called once, between two guest instructions.
    fn running_long(&mut self, _since: Instant) {}
    /// The consumers of the effects of the following `call`s: bit 1 the
    /// AOF, bit 2 replicas (Lua's `redis.set_repl`).
    fn set_repl(&mut self, _targets: u8) {}
    /// Whether the invocation's user may run this command (argv[0] is its
    /// name): 1 yes, 0 no, -1 no such command.
    fn acl_check(&mut self, argv: &[&[u8]]) -> i32;
    /// Module values (docs/abi.md): results as the ABI defines them.
    fn value_len(&mut self, key: &[u8], type_id: u32) -> i64;
    fn value_read(&mut self, key: &[u8], type_id: u32, offset: u64, dst: &mut [u8]) -> i64;
    fn value_write(&mut self, key: &[u8], type_id: u32, offset: u64, src: &[u8]) -> i64;
    fn value_truncate(&mut self, key: &[u8], type_id: u32, len: u64) -> i64;
    /// ABI v2 `value_readv`: the value's bytes, to copy ranges out of in
    /// one host call; `Err` is the negative code of `value_len`.
    fn value_bytes(&mut self, key: &[u8], type_id: u32) -> Result<&[u8], i64>;
    /// ABI v2 `value_writev`: writes every `(offset, bytes)` segment, in
    /// order, as one `value_write` each would; returns the new length or a
    /// negative code (then nothing was written).
    fn value_writev(&mut self, key: &[u8], type_id: u32, segments: &[(u64, &[u8])]) -> i64 {
        let mut len = 0;
        for &(offset, src) in segments {
            len = self.value_write(key, type_id, offset, src);
            if len < 0 {
                return len;
            }
        }
        if segments.is_empty() {
            len = self.value_len(key, type_id);
        }
        len
    }
    /// The Lua debugger (`ldb_send`): sends log lines to the debugging
    /// client, as one array of status replies.
    fn debugger_send(&mut self, _lines: &[&[u8]]) {}
    /// The Lua debugger (`ldb_recv`): waits for the debugging client's next
    /// command; Err with the import's code when there is none
    /// ([`LDB_GONE`] ...). Only an invocation run under the debugger has one.
    fn debugger_recv(&mut self) -> std::result::Result<Vec<Vec<u8>>, i32> {
        Err(LDB_GONE)
    }
}

/// `ldb_recv` results: the client left (or stayed idle too long).
pub const LDB_GONE: i32 = -1;
/// `ldb_recv`: what the client sent is not a debugger command.
pub const LDB_PROTOCOL_ERROR: i32 = -2;
/// `ldb_recv`: the client sent more than 1 MB without a complete command.
pub const LDB_BUFFER_FULL: i32 = -3;

/// The host of the invocation in progress, with its lifetime erased so it
/// can sit in the `'static` store data.
///
/// Soundness: [`HostState::set_host`] is the only way to set it, and only
/// guest.rs's `Entered` guard calls it, clearing it again on drop; the guard
/// lives on the stack frame that borrows the host and calls into the guest, so the pointer is only ever
/// dereferenced (by imports, synchronously, on this thread, inside that
/// call) while the borrow it came from is alive and unused by anyone else.
#[derive(Default)]
pub struct HostPtr(Option<NonNull<dyn Host + 'static>>);

// SAFETY: the pointer is Some only for the duration of one synchronous call
// on one thread (see `HostPtr`); between invocations the store, and with it
// this empty slot, may move to another thread's pool checkout.
unsafe impl Send for HostPtr {}
// SAFETY: as above; `&HostPtr` gives no access to the pointee.
unsafe impl Sync for HostPtr {}

/// Why an invocation stopped early, recorded by the imports and the epoch
/// callback so the error text can say which limit was hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Timeout,
    Killed,
    /// A broken ABI contract (bad pointer, import used out of place).
    Fault(String),
    /// The host asked for the invocation to be run again (`Host::retry_wanted`).
    Retry,
}

/// The code an interpreter guest runs (docs/abi.md, "Interpreter guests"):
/// a script body or library source, and its id (the SHA1 hex of the whole
/// body), under which the guest caches what it compiled.
pub struct Code {
    pub id: String,
    pub body: Arc<[u8]>,
    /// The `#!` line removed from `body` (empty when none): the Lua
    /// debugger lists the script as the client sent it.
    pub first_line: Box<[u8]>,
}

/// Linear-memory and table caps of one instance.
pub struct Limiter {
    pub max_memory: usize,
    pub hit_memory: bool,
    /// Refuse growth past the cap as a failed `memory.grow` (-1) instead of
    /// trapping: for the Lua engine, whose allocator turns that into Lua's
    /// "not enough memory" error. Other guests trap, and the client is told
    /// the limit was hit.
    pub soft: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        // The instance is discarded after the invocation either way.
        if desired > self.max_memory {
            self.hit_memory = true;
            if self.soft {
                return Ok(false);
            }
            bail!("guest exceeded the memory limit");
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= 1 << 20)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Store data of one guest instance.
pub struct HostState {
    host: HostPtr,
    pub memory: Option<Memory>,
    pub limiter: Limiter,
    /// The invocation's input: RESP `[keys, args]`.
    pub input: Vec<u8>,
    /// The last `call` reply (or registration error), for `last_reply`.
    pub last_reply: Vec<u8>,
    /// What the guest set with `reply`.
    pub reply: Option<Vec<u8>>,
    /// Specs passed to `register`; Some only while `ember_init` runs.
    pub registrations: Option<Vec<Vec<Vec<u8>>>>,
    pub now_ms: i64,
    pub started: Instant,
    pub deadline: Instant,
    pub kill_class: usize,
    pub kill_generation: u64,
    pub stop: Option<Stop>,
    /// The invocation gave its tokio worker away (it runs long).
    pub handed_off: bool,
    /// When a KILL reached a guest that stops itself on `interrupted` (the
    /// Lua engine): it gets a grace period to do so before it is trapped.
    pub kill_requested: Option<Instant>,
    /// The guest imports `interrupted` (so it may stop itself on KILL).
    pub cooperative_kill: bool,
    /// What `code` serves (interpreter guests).
    pub code: Option<Arc<Code>>,
    /// The protocol `call` replies in, set by `protocol`; 2 at every start.
    pub resp3: bool,
    /// The invocation runs under the Lua debugger (`Entry::Debug`): the
    /// time limit stops it for the user (`interrupted` returns 2) instead
    /// of ending it, and restarts whenever the user resumes it.
    pub debugging: bool,
    /// The time limit passed while debugging (reported once by `interrupted`).
    pub ldb_timeout: bool,
    /// The invocation's time limit (deadline - started at its start).
    pub time_limit: std::time::Duration,
}

impl HostState {
    pub fn new(max_memory: usize, soft_memory_limit: bool) -> HostState {
        let now = Instant::now();
        HostState {
            host: HostPtr::default(),
            memory: None,
            limiter: Limiter {
                max_memory,
                hit_memory: false,
                soft: soft_memory_limit,
            },
            input: Vec::new(),
            last_reply: Vec::new(),
            reply: None,
            registrations: None,
            now_ms: 0,
            started: now,
            deadline: now,
            kill_class: 0,
            kill_generation: 0,
            stop: None,
            handed_off: false,
            kill_requested: None,
            cooperative_kill: false,
            code: None,
            resp3: false,
            debugging: false,
            ldb_timeout: false,
            time_limit: std::time::Duration::ZERO,
        }
    }

    /// Makes `host` reachable from the imports; [`HostState::clear_host`]
    /// must run before the borrow `'h` ends (guest.rs's `Entered` guard
    /// does both around every call into the guest).
    pub(super) fn set_host<'h>(&mut self, host: &'h mut (dyn Host + 'h)) {
        let ptr: NonNull<dyn Host + 'h> = NonNull::from(host);
        // SAFETY: only the trait object's lifetime bound changes; the caller
        // clears the slot before 'h can end (see `HostPtr`).
        let ptr: NonNull<dyn Host + 'static> = unsafe { std::mem::transmute(ptr) };
        self.host.0 = Some(ptr);
    }

    pub(super) fn clear_host(&mut self) {
        self.host.0 = None;
    }

    /// Ends the long-running accounting of an invocation that handed its
    /// worker away (see `store::LONG_LOCK_HOLDERS`).
    pub fn settle_hand_off(&mut self) {
        if std::mem::take(&mut self.handed_off) {
            crate::store::LONG_LOCK_HOLDERS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn host(&mut self, import: &str) -> Result<&mut dyn Host> {
        match self.host.0 {
            // SAFETY: Some only while the `HostGuard` from `enter` is alive,
            // i.e. while the exclusive borrow of the host is held by the
            // frame that is calling the guest (and so these imports).
            Some(mut p) => Ok(unsafe { p.as_mut() }),
            None => Err(self.fault(format!("ember ABI: '{import}' is not available here"))),
        }
    }

    /// The invocation's host, for the epoch callback (None between
    /// invocations). Sound for the same reason as `host`: the callback runs
    /// between two guest instructions, inside the call `Entered` guards,
    /// never during an import that borrows the host (`ldb_recv` calls it
    /// through `begin_long_run` before it borrows the host itself).
    pub(super) fn current_host(&mut self) -> Option<&mut dyn Host> {
        // SAFETY: see `host` and the doc above.
        self.host.0.map(|mut p| unsafe { p.as_mut() })
    }

    /// The invocation starts to count as running long (it may hold its
    /// locks for a while): other clients wait for them off their tokio
    /// worker, and get BUSY past busy-reply-threshold. False if it already did.
    pub(super) fn begin_long_run(&mut self) -> bool {
        if self.handed_off {
            return false;
        }
        self.handed_off = true;
        crate::store::LONG_LOCK_HOLDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = self.started;
        if let Some(host) = self.current_host() {
            host.running_long(started);
        }
        true
    }

    fn fault(&mut self, msg: String) -> wasmtime::Error {
        self.stop = Some(Stop::Fault(msg.clone()));
        format_err!("{msg}")
    }
}

impl Drop for HostState {
    /// A discarded instance (trap, limit, kill) settles its accounting too.
    fn drop(&mut self) {
        self.settle_hand_off();
    }
}

/// Bounds-checks a guest pointer/length pair.
fn range(st: &mut HostState, mem_len: usize, ptr: i32, len: i32) -> Result<Range<usize>> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    if ptr < 0 || len < 0 || p.checked_add(l).is_none_or(|end| end > mem_len) {
        return Err(st.fault(format!(
            "ember ABI: out-of-bounds pointer ({ptr}, len {len}; memory is {mem_len} bytes)"
        )));
    }
    Ok(p..p + l)
}

fn memory(caller: &mut Caller<'_, HostState>) -> Result<Memory> {
    match caller.data().memory {
        Some(m) => Ok(m),
        None => Err(caller
            .data_mut()
            .fault("ember ABI: the guest exports no memory".into())),
    }
}

/// Copies `src` to the guest buffer when it fits; returns src's length.
fn copy_out(data: &mut [u8], dst: Range<usize>, src: &[u8]) -> i32 {
    if src.len() <= dst.len() {
        data[dst.start..dst.start + src.len()].copy_from_slice(src);
    }
    i32::try_from(src.len()).unwrap_or(i32::MAX)
}

/// The largest reply a guest can receive (its memory is capped anyway).
const MAX_GUEST_REPLY: usize = i32::MAX as usize;

/// Defines every import of module `ember`.
pub fn define_imports(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "ember",
        "call",
        |mut caller: Caller<'_, HostState>,
         req_ptr: i32,
         req_len: i32,
         dst_ptr: i32,
         dst_cap: i32|
         -> Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let req = range(st, data.len(), req_ptr, req_len)?;
            let dst = range(st, data.len(), dst_ptr, dst_cap)?;
            let mut reply = std::mem::take(&mut st.last_reply);
            reply.clear();
            let resp3 = st.resp3;
            let host = st.host("call")?;
            let retry = match resp::parse_command(&data[req]) {
                Some(argv) => {
                    host.call(&argv, resp3, &mut reply);
                    host.retry_wanted()
                }
                None => {
                    reply.extend_from_slice(
                        b"-ERR guest request is not a RESP array of bulk strings\r\n",
                    );
                    false
                }
            };
            if retry {
                // A trap, not an error the guest could catch (Lua's pcall).
                st.stop = Some(Stop::Retry);
                st.last_reply = reply;
                bail!("the host runs the invocation again");
            }
            if reply.len() > MAX_GUEST_REPLY {
                reply.clear();
                reply.extend_from_slice(b"-ERR reply too large for a guest\r\n");
            }
            let n = copy_out(data, dst, &reply);
            st.last_reply = reply;
            Ok(n)
        },
    )?;
    linker.func_wrap(
        "ember",
        "last_reply",
        |mut caller: Caller<'_, HostState>, dst_ptr: i32, dst_cap: i32| -> Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let dst = range(st, data.len(), dst_ptr, dst_cap)?;
            let n = st.last_reply.len().min(dst.len());
            data[dst.start..dst.start + n].copy_from_slice(&st.last_reply[..n]);
            Ok(i32::try_from(st.last_reply.len()).unwrap_or(i32::MAX))
        },
    )?;
    linker.func_wrap(
        "ember",
        "input",
        |mut caller: Caller<'_, HostState>, dst_ptr: i32, dst_cap: i32| -> Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let dst = range(st, data.len(), dst_ptr, dst_cap)?;
            Ok(copy_out(data, dst, &st.input))
        },
    )?;
    linker.func_wrap(
        "ember",
        "reply",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> Result<()> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let src = range(st, data.len(), ptr, len)?;
            let mut buf = st.reply.take().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(&data[src]);
            st.reply = Some(buf);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ember",
        "log",
        |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| -> Result<()> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let src = range(st, data.len(), ptr, len)?;
            let text = String::from_utf8_lossy(&data[src]);
            let line = format!("<guest> {text}");
            match level {
                i32::MIN..=0 => crate::log::debug(&line),
                1 => crate::log::verbose(&line),
                2 => crate::log::notice(&line),
                _ => crate::log::warning(&line),
            }
            Ok(())
        },
    )?;
    linker.func_wrap("ember", "time_ms", |caller: Caller<'_, HostState>| -> i64 {
        caller.data().now_ms
    })?;
    linker.func_wrap(
        "ember",
        "random",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> Result<()> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let dst = range(st, data.len(), ptr, len)?;
            rand::Rng::fill(&mut rand::rng(), &mut data[dst]);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ember",
        "register",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let src = range(st, data.len(), ptr, len)?;
            let Some(argv) = resp::parse_command(&data[src]) else {
                st.last_reply =
                    b"ERR register: the spec is not a RESP array of bulk strings".to_vec();
                return Ok(st.last_reply.len() as i32);
            };
            let spec: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            match st.registrations.as_mut() {
                Some(list) => {
                    list.push(spec);
                    Ok(0)
                }
                None => {
                    Err(st.fault("ember ABI: 'register' is only available in ember_init".into()))
                }
            }
        },
    )?;
    linker.func_wrap(
        "ember",
        "code",
        |mut caller: Caller<'_, HostState>, dst_ptr: i32, dst_cap: i32, part: i32| -> Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let dst = range(st, data.len(), dst_ptr, dst_cap)?;
            let Some(code) = st.code.clone() else {
                return Err(
                    st.fault("ember ABI: 'code' is only available to interpreter guests".into())
                );
            };
            Ok(match part {
                0 => copy_out(data, dst, code.id.as_bytes()),
                1 => copy_out(data, dst, &code.body),
                2 => copy_out(data, dst, &code.first_line),
                _ => return Err(st.fault(format!("ember ABI: 'code' has no part {part}"))),
            })
        },
    )?;
    linker.func_wrap(
        "ember",
        "protocol",
        |mut caller: Caller<'_, HostState>, version: i32| -> Result<()> {
            let st = caller.data_mut();
            match version {
                2 | 3 => st.resp3 = version == 3,
                _ => return Err(st.fault(format!("ember ABI: no RESP version {version}"))),
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ember",
        "acl_check",
        |mut caller: Caller<'_, HostState>, req_ptr: i32, req_len: i32| -> Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let req = range(st, data.len(), req_ptr, req_len)?;
            let host = st.host("acl_check")?;
            Ok(match resp::parse_command(&data[req]) {
                Some(argv) if !argv.is_empty() => host.acl_check(&argv),
                _ => -1,
            })
        },
    )?;
    linker.func_wrap(
        "ember",
        "interrupted",
        |mut caller: Caller<'_, HostState>| -> i32 {
            let st = caller.data_mut();
            if st.kill_requested.is_some() {
                1
            } else if std::mem::take(&mut st.ldb_timeout) {
                2
            } else {
                0
            }
        },
    )?;
    linker.func_wrap(
        "ember",
        "ldb_send",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> Result<()> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let src = range(st, data.len(), ptr, len)?;
            let bytes = &data[src];
            if bytes == b"*0\r\n" {
                st.host("ldb_send")?.debugger_send(&[]);
                return Ok(());
            }
            let Some(lines) = resp::parse_command(bytes) else {
                return Err(
                    st.fault("ember ABI: ldb_send takes a RESP array of bulk strings".into())
                );
            };
            st.host("ldb_send")?.debugger_send(&lines);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ember",
        "ldb_recv",
        |mut caller: Caller<'_, HostState>, dst_ptr: i32, dst_cap: i32| -> Result<i32> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let dst = range(st, data.len(), dst_ptr, dst_cap)?;
            if !st.debugging {
                return Ok(LDB_GONE);
            }
            // Waiting for a person: the locks are held for a while.
            st.begin_long_run();
            let got = st.host("ldb_recv")?.debugger_recv();
            // The user resumes the script: its time limit starts again, as
            // Redis restarts a debugged script's clock after each stop.
            let now = Instant::now();
            st.started = now;
            st.deadline = now + st.time_limit;
            st.ldb_timeout = false;
            let argv = match got {
                Ok(argv) => argv,
                Err(code) => return Ok(code),
            };
            let mut req = std::mem::take(&mut st.last_reply);
            req.clear();
            let argv: smallvec::SmallVec<[&[u8]; 8]> = argv.iter().map(|a| a.as_slice()).collect();
            crate::effects::encode_command(&mut req, &argv);
            let n = copy_out(data, dst, &req);
            st.last_reply = req;
            Ok(n)
        },
    )?;
    linker.func_wrap(
        "ember",
        "set_repl",
        |mut caller: Caller<'_, HostState>, targets: i32| -> Result<()> {
            if targets & !3 != 0 {
                return Err(caller.data_mut().fault(format!(
                    "ember ABI: set_repl({targets}): targets are bits 1 and 2"
                )));
            }
            caller.data_mut().host("set_repl")?.set_repl(targets as u8);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ember",
        "value_len",
        |mut caller: Caller<'_, HostState>, kp: i32, kl: i32, type_id: i32| -> Result<i64> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let key = range(st, data.len(), kp, kl)?;
            let host = st.host("value_len")?;
            Ok(host.value_len(&data[key], type_id as u32))
        },
    )?;
    linker.func_wrap(
        "ember",
        "value_read",
        |mut caller: Caller<'_, HostState>,
         kp: i32,
         kl: i32,
         type_id: i32,
         offset: i64,
         dp: i32,
         dl: i32|
         -> Result<i64> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let key = range(st, data.len(), kp, kl)?;
            let dst = range(st, data.len(), dp, dl)?;
            if offset < 0 {
                return Err(st.fault("ember ABI: negative value offset".into()));
            }
            // The key and the destination may overlap in guest memory: copy the key.
            let key = smallvec::SmallVec::<[u8; 64]>::from_slice(&data[key]);
            let host = st.host("value_read")?;
            Ok(host.value_read(&key, type_id as u32, offset as u64, &mut data[dst]))
        },
    )?;
    linker.func_wrap(
        "ember",
        "value_write",
        |mut caller: Caller<'_, HostState>,
         kp: i32,
         kl: i32,
         type_id: i32,
         offset: i64,
         sp: i32,
         sl: i32|
         -> Result<i64> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let key = range(st, data.len(), kp, kl)?;
            let src = range(st, data.len(), sp, sl)?;
            if offset < 0 {
                return Err(st.fault("ember ABI: negative value offset".into()));
            }
            let host = st.host("value_write")?;
            Ok(host.value_write(&data[key], type_id as u32, offset as u64, &data[src]))
        },
    )?;
    linker.func_wrap(
        "ember",
        "value_truncate",
        |mut caller: Caller<'_, HostState>,
         kp: i32,
         kl: i32,
         type_id: i32,
         len: i64|
         -> Result<i64> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let key = range(st, data.len(), kp, kl)?;
            if len < 0 {
                return Err(st.fault("ember ABI: negative value length".into()));
            }
            let host = st.host("value_truncate")?;
            Ok(host.value_truncate(&data[key], type_id as u32, len as u64))
        },
    )?;
    linker.func_wrap(
        "ember",
        "value_readv",
        |mut caller: Caller<'_, HostState>,
         kp: i32,
         kl: i32,
         type_id: i32,
         iov_ptr: i32,
         iov_count: i32|
         -> Result<i64> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let key = range(st, data.len(), kp, kl)?;
            let segments = segments(st, data, iov_ptr, iov_count)?;
            // The key may overlap a destination in guest memory: copy it.
            let key = smallvec::SmallVec::<[u8; 64]>::from_slice(&data[key]);
            let host = st.host("value_readv")?;
            let value = match host.value_bytes(&key, type_id as u32) {
                Ok(v) => v,
                Err(code) => return Ok(code),
            };
            for (offset, dst) in segments {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(value.len());
                let n = dst.len().min(value.len() - start);
                data[dst.start..dst.start + n].copy_from_slice(&value[start..start + n]);
            }
            Ok(value.len() as i64)
        },
    )?;
    linker.func_wrap(
        "ember",
        "value_writev",
        |mut caller: Caller<'_, HostState>,
         kp: i32,
         kl: i32,
         type_id: i32,
         iov_ptr: i32,
         iov_count: i32|
         -> Result<i64> {
            let mem = memory(&mut caller)?;
            let (data, st) = mem.data_and_store_mut(&mut caller);
            let key = range(st, data.len(), kp, kl)?;
            let segments = segments(st, data, iov_ptr, iov_count)?;
            let srcs: SmallVec<[(u64, &[u8]); 16]> = segments
                .iter()
                .map(|(o, r)| (*o, &data[r.clone()]))
                .collect();
            let host = st.host("value_writev")?;
            Ok(host.value_writev(&data[key], type_id as u32, &srcs))
        },
    )?;
    Ok(())
}

/// Bytes of one `value_readv`/`value_writev` segment descriptor: offset
/// (u64), pointer (u32), length (u32), little-endian (docs/abi.md).
const SEGMENT: usize = 16;

/// Decoded segment descriptors: a value offset and a guest memory range each.
type Segments = SmallVec<[(u64, Range<usize>); 16]>;

/// Decodes and bounds-checks the segment descriptors at `iov_ptr`.
fn segments(st: &mut HostState, data: &[u8], iov_ptr: i32, iov_count: i32) -> Result<Segments> {
    let bytes = iov_count
        .checked_mul(SEGMENT as i32)
        .ok_or_else(|| st.fault(format!("ember ABI: {iov_count} segments are too many")))?;
    let iov = range(st, data.len(), iov_ptr, bytes)?;
    let mut out = SmallVec::new();
    for d in data[iov].chunks_exact(SEGMENT) {
        let word = |at: usize| u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
        let offset = u64::from(word(0)) | u64::from(word(4)) << 32;
        if offset > i64::MAX as u64 {
            return Err(st.fault("ember ABI: negative value offset".into()));
        }
        out.push((
            offset,
            range(st, data.len(), word(8) as i32, word(12) as i32)?,
        ));
    }
    Ok(out)
}

/// The imports a guest may use, with their wasm signatures, for load-time
/// checks that name what is wrong.
pub const IMPORTS: &[&str] = &[
    "call",
    "last_reply",
    "input",
    "reply",
    "log",
    "time_ms",
    "random",
    "register",
    "value_len",
    "value_read",
    "value_write",
    "value_truncate",
    "code",
    "protocol",
    "acl_check",
    "interrupted",
    "set_repl",
    "value_readv",
    "value_writev",
    "ldb_send",
    "ldb_recv",
];

/// Imports a guest must speak ABI version 2 (or later) to use.
pub const IMPORTS_V2: &[&str] = &["value_readv", "value_writev"];
