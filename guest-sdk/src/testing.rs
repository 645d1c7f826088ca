//! A simulated host for native builds (`cargo test`), so guest handlers run
//! without Ember. State is per thread, so parallel tests do not see each
//! other's values.
//!
//! - `call!` answers through the closure given to [`on_call`] (without one,
//!   every call is an error reply);
//! - module values ([`crate::value`]) live in memory: [`value`], [`set_value`];
//! - [`time_ms`](crate::time_ms) is the real clock until [`set_time_ms`] fixes it;
//! - [`crate::input`] returns what [`set_input`] stored;
//! - the reply set by an exported entry point is in [`last_reply`], log lines
//!   in [`logs`].
//!
//! ```ignore
//! ember_guest_sdk::testing::reset();
//! ember_guest_sdk::testing::set_time_ms(1_000);
//! let r = EMBER_MODULE.run(&[b"bf.add", b"k", b"x"]);
//! ```

use crate::{LogLevel, Reply};
use std::cell::RefCell;
use std::collections::HashMap;

type CallFn = Box<dyn FnMut(&[Vec<u8>]) -> Reply>;

#[derive(Default)]
struct State {
    on_call: Option<CallFn>,
    time_ms: Option<i64>,
    input: Vec<u8>,
    reply: Option<Reply>,
    logs: Vec<(LogLevel, String)>,
    values: HashMap<Vec<u8>, (u32, Vec<u8>)>,
    rng: u64,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Forgets everything: the call handler, the fixed clock, input, reply, logs
/// and values.
pub fn reset() {
    with(|s| *s = State::default());
}

/// Answers every `call!` with `f(argv)`.
pub fn on_call(f: impl FnMut(&[Vec<u8>]) -> Reply + 'static) {
    with(|s| s.on_call = Some(Box::new(f)));
}

/// Fixes the clock [`crate::time_ms`] reads.
pub fn set_time_ms(ms: i64) {
    with(|s| s.time_ms = Some(ms));
}

/// What [`crate::input`] returns from now on.
pub fn set_input(keys: &[&[u8]], args: &[&[u8]]) {
    let mut bytes = Vec::new();
    crate::resp::write_header(&mut bytes, b'*', 2);
    for part in [keys, args] {
        crate::resp::write_header(&mut bytes, b'*', part.len());
        part.iter()
            .for_each(|b| crate::resp::write_bulk(&mut bytes, b));
    }
    with(|s| s.input = bytes);
}

/// The reply an entry point set last, if any.
pub fn last_reply() -> Option<Reply> {
    with(|s| s.reply.clone())
}

/// The lines logged so far.
pub fn logs() -> Vec<(LogLevel, String)> {
    with(|s| s.logs.clone())
}

/// The bytes of the module value at `key`, when it exists with `type_id`.
pub fn value(key: &[u8], type_id: u32) -> Option<Vec<u8>> {
    with(|s| match s.values.get(key) {
        Some((t, v)) if *t == type_id => Some(v.clone()),
        _ => None,
    })
}

/// Stores a module value (to set up a test).
pub fn set_value(key: &[u8], type_id: u32, bytes: &[u8]) {
    with(|s| s.values.insert(key.to_vec(), (type_id, bytes.to_vec())));
}

/// The host functions `crate::host` uses in a native build.
pub(crate) mod host {
    use super::with;
    use crate::Reply;

    const MAX_VALUE: u64 = 512 << 20;

    pub(crate) fn call(req: &[u8]) -> Reply {
        let argv = match Reply::parse(req) {
            Ok((Reply::Array(items), _)) => items
                .into_iter()
                .filter_map(|r| match r {
                    Reply::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            _ => {
                return Reply::Error("ERR guest request is not a RESP array of bulk strings".into())
            }
        };
        // The handler runs outside the state borrow so it may use the
        // testing functions itself.
        let handler = with(|s| s.on_call.take());
        match handler {
            Some(mut f) => {
                let reply = f(&argv);
                with(|s| {
                    if s.on_call.is_none() {
                        s.on_call = Some(f);
                    }
                });
                reply
            }
            None => Reply::Error(
                "ERR no Ember host in a native build: set one with ember_guest_sdk::testing::on_call"
                    .into(),
            ),
        }
    }

    pub(crate) fn input_with<R>(f: impl FnOnce(&[u8]) -> R) -> R {
        let bytes = with(|s| s.input.clone());
        if bytes.is_empty() {
            f(b"*2\r\n*0\r\n*0\r\n")
        } else {
            f(&bytes)
        }
    }

    pub(crate) fn reply(bytes: &[u8]) {
        let reply = Reply::parse(bytes).map(|(r, _)| r).ok();
        with(|s| s.reply = reply);
    }

    pub(crate) fn log(level: i32, msg: &[u8]) {
        let level = match level {
            0 => crate::LogLevel::Debug,
            1 => crate::LogLevel::Verbose,
            2 => crate::LogLevel::Notice,
            _ => crate::LogLevel::Warning,
        };
        let msg = String::from_utf8_lossy(msg).into_owned();
        with(|s| s.logs.push((level, msg)));
    }

    pub(crate) fn time_ms() -> i64 {
        with(|s| s.time_ms).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
    }

    /// xorshift64*, seeded from the clock: tests want variety, not secrecy.
    pub(crate) fn random(buf: &mut [u8]) {
        with(|s| {
            if s.rng == 0 {
                s.rng = (time_ms_now_nanos() | 1) ^ 0x9e37_79b9_7f4a_7c15;
            }
            for b in buf.iter_mut() {
                s.rng ^= s.rng >> 12;
                s.rng ^= s.rng << 25;
                s.rng ^= s.rng >> 27;
                *b = (s.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
            }
        })
    }

    fn time_ms_now_nanos() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    }

    pub(crate) fn register(_spec: &[u8]) -> Result<(), String> {
        Ok(())
    }

    pub(crate) fn value_len(key: &[u8], type_id: u32) -> i64 {
        with(|s| match s.values.get(key) {
            None => -1,
            Some((t, _)) if *t != type_id => -2,
            Some((_, v)) => v.len() as i64,
        })
    }

    pub(crate) fn value_read(key: &[u8], type_id: u32, offset: u64, buf: &mut [u8]) -> i64 {
        with(|s| match s.values.get(key) {
            None => -1,
            Some((t, _)) if *t != type_id => -2,
            Some((_, v)) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(v.len());
                let n = buf.len().min(v.len() - start);
                buf[..n].copy_from_slice(&v[start..start + n]);
                n as i64
            }
        })
    }

    /// Resizes (creating when missing) the value, then lets `f` edit it.
    fn edit(key: &[u8], type_id: u32, len: u64, f: impl FnOnce(&mut Vec<u8>)) -> i64 {
        if len > MAX_VALUE {
            return -5;
        }
        with(|s| {
            let entry = s
                .values
                .entry(key.to_vec())
                .or_insert_with(|| (type_id, Vec::new()));
            if entry.0 != type_id {
                return -2;
            }
            f(&mut entry.1);
            entry.1.len() as i64
        })
    }

    pub(crate) fn value_write(key: &[u8], type_id: u32, offset: u64, data: &[u8]) -> i64 {
        let end = offset.saturating_add(data.len() as u64);
        let old = value_len(key, type_id).max(0) as u64;
        edit(key, type_id, end.max(old), |v| {
            let (start, end) = (offset as usize, end as usize);
            if v.len() < end {
                v.resize(end, 0);
            }
            v[start..end].copy_from_slice(data);
        })
    }

    pub(crate) fn value_truncate(key: &[u8], type_id: u32, len: u64) -> i64 {
        edit(key, type_id, len, |v| v.resize(len as usize, 0))
    }

    pub(crate) fn value_readv(key: &[u8], type_id: u32, reads: &mut [(u64, &mut [u8])]) -> i64 {
        let len = value_len(key, type_id);
        if len >= 0 {
            for (offset, buf) in reads.iter_mut() {
                value_read(key, type_id, *offset, buf);
            }
        }
        len
    }

    pub(crate) fn value_writev(key: &[u8], type_id: u32, writes: &[(u64, &[u8])]) -> i64 {
        if writes
            .iter()
            .any(|&(offset, data)| offset.saturating_add(data.len() as u64) > MAX_VALUE)
        {
            return -5;
        }
        let mut len = edit(key, type_id, value_len(key, type_id).max(0) as u64, |_| {});
        for &(offset, data) in writes {
            if len < 0 {
                break;
            }
            len = value_write(key, type_id, offset, data);
        }
        len
    }
}
