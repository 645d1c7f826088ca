//! The host behind the safe API: on wasm32 the imports of [`crate::raw`] with
//! the buffer protocol of docs/abi.md (retry with a bigger buffer when the host
//! has more bytes than fit); natively a simulated host ([`crate::testing`]),
//! so guest code compiles and unit-tests without Ember.

#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::host::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use crate::{raw, Reply};
    use std::cell::RefCell;

    thread_local! {
        /// Replies and inputs land here. 4 KiB holds almost every reply; a
        /// bigger one grows it once and the capacity is kept for the next.
        static REPLY: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
    }

    fn len_i32(len: usize) -> i32 {
        // Guest memory is at most 4 GiB and the host caps it far lower; a
        // slice longer than i32::MAX cannot be passed, so clamp and let the
        // host see a short (malformed) request rather than a negative length.
        i32::try_from(len).unwrap_or(i32::MAX)
    }

    /// Runs `fetch(ptr, cap)` into `buf`; when the host reports more bytes
    /// than fit, grows `buf` and runs `again(ptr, cap)` (the same bytes).
    fn fill(
        buf: &mut Vec<u8>,
        fetch: impl FnOnce(*mut u8, i32) -> i32,
        again: impl Fn(*mut u8, i32) -> i32,
    ) {
        buf.clear();
        let cap = len_i32(buf.capacity());
        let mut n = fetch(buf.as_mut_ptr(), cap).max(0) as usize;
        // `input` may be asked repeatedly; `last_reply` is stable, but a host
        // answering with a still larger length is handled the same way.
        while n > buf.capacity() {
            buf.reserve(n);
            n = again(buf.as_mut_ptr(), len_i32(buf.capacity())).max(0) as usize;
        }
        // SAFETY: the host copied `n <= capacity` bytes into the buffer.
        unsafe { buf.set_len(n) };
    }

    fn with_reply_buf<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        REPLY.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => f(&mut buf),
            Err(_) => f(&mut Vec::new()),
        })
    }

    pub(crate) fn call(req: &[u8]) -> Reply {
        with_reply_buf(|buf| {
            fill(
                buf,
                // SAFETY: `req` and the buffer's spare capacity are ours for the call.
                |ptr, cap| unsafe { raw::call(req.as_ptr(), len_i32(req.len()), ptr, cap) },
                |ptr, cap| unsafe { raw::last_reply(ptr, cap) },
            );
            match Reply::parse(buf) {
                Ok((reply, _)) => reply,
                Err(e) => Reply::Error(format!("ERR guest could not parse the host's reply: {e}")),
            }
        })
    }

    /// Runs `f` on this invocation's input bytes.
    pub(crate) fn input_with<R>(f: impl FnOnce(&[u8]) -> R) -> R {
        with_reply_buf(|buf| {
            // SAFETY: the buffer's spare capacity is ours for the call.
            fill(
                buf,
                |ptr, cap| unsafe { raw::input(ptr, cap) },
                |ptr, cap| unsafe { raw::input(ptr, cap) },
            );
            f(buf)
        })
    }

    pub(crate) fn reply(bytes: &[u8]) {
        // SAFETY: `bytes` is a live slice.
        unsafe { raw::reply(bytes.as_ptr(), len_i32(bytes.len())) }
    }

    pub(crate) fn log(level: i32, msg: &[u8]) {
        // SAFETY: `msg` is a live slice.
        unsafe { raw::log(level, msg.as_ptr(), len_i32(msg.len())) }
    }

    pub(crate) fn time_ms() -> i64 {
        // SAFETY: no memory is involved.
        unsafe { raw::time_ms() }
    }

    pub(crate) fn random(buf: &mut [u8]) {
        for chunk in buf.chunks_mut(i32::MAX as usize) {
            // SAFETY: `chunk` is a live, writable slice.
            unsafe { raw::random(chunk.as_mut_ptr(), len_i32(chunk.len())) }
        }
    }

    /// Registers a spec; `Err` carries the host's error text.
    pub(crate) fn register(spec: &[u8]) -> Result<(), String> {
        // SAFETY: `spec` is a live slice.
        let n = unsafe { raw::register(spec.as_ptr(), len_i32(spec.len())) };
        if n == 0 {
            return Ok(());
        }
        let mut text = vec![0u8; n.max(0) as usize];
        // SAFETY: `text` is a live, writable slice of `n` bytes.
        let m = unsafe { raw::last_reply(text.as_mut_ptr(), len_i32(text.len())) };
        text.truncate(m.max(0) as usize);
        let text = String::from_utf8_lossy(&text).into_owned();
        Err(if text.is_empty() {
            "ERR registration refused".to_string()
        } else {
            text
        })
    }

    pub(crate) fn value_len(key: &[u8], type_id: u32) -> i64 {
        // SAFETY: `key` is a live slice.
        unsafe { raw::value_len(key.as_ptr(), len_i32(key.len()), type_id as i32) }
    }

    pub(crate) fn value_read(key: &[u8], type_id: u32, offset: u64, buf: &mut [u8]) -> i64 {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        // SAFETY: `key` and `buf` are live slices, `buf` writable.
        unsafe {
            raw::value_read(
                key.as_ptr(),
                len_i32(key.len()),
                type_id as i32,
                offset,
                buf.as_mut_ptr(),
                len_i32(buf.len()),
            )
        }
    }

    pub(crate) fn value_write(key: &[u8], type_id: u32, offset: u64, data: &[u8]) -> i64 {
        let Ok(offset) = i64::try_from(offset) else {
            return -5;
        };
        // SAFETY: `key` and `data` are live slices.
        unsafe {
            raw::value_write(
                key.as_ptr(),
                len_i32(key.len()),
                type_id as i32,
                offset,
                data.as_ptr(),
                len_i32(data.len()),
            )
        }
    }

    pub(crate) fn value_truncate(key: &[u8], type_id: u32, len: u64) -> i64 {
        let Ok(len) = i64::try_from(len) else {
            return -5;
        };
        // SAFETY: `key` is a live slice.
        unsafe { raw::value_truncate(key.as_ptr(), len_i32(key.len()), type_id as i32, len) }
    }

    /// One segment descriptor of `value_readv`/`value_writev` (docs/abi.md).
    fn segment(iov: &mut Vec<u8>, offset: u64, ptr: *const u8, len: usize) {
        iov.extend_from_slice(&offset.to_le_bytes());
        iov.extend_from_slice(&(ptr as usize as u32).to_le_bytes());
        iov.extend_from_slice(&(len_i32(len) as u32).to_le_bytes());
    }

    pub(crate) fn value_readv(key: &[u8], type_id: u32, reads: &mut [(u64, &mut [u8])]) -> i64 {
        let mut iov = Vec::with_capacity(reads.len() * 16);
        for (offset, buf) in reads.iter_mut() {
            segment(
                &mut iov,
                (*offset).min(i64::MAX as u64),
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        // SAFETY: `key` and `iov` are live slices; every descriptor names a
        // live, writable slice of `reads`, which outlives the call.
        unsafe {
            raw::value_readv(
                key.as_ptr(),
                len_i32(key.len()),
                type_id as i32,
                iov.as_ptr(),
                len_i32(reads.len()),
            )
        }
    }

    pub(crate) fn value_writev(key: &[u8], type_id: u32, writes: &[(u64, &[u8])]) -> i64 {
        let mut iov = Vec::with_capacity(writes.len() * 16);
        for &(offset, data) in writes {
            if offset > i64::MAX as u64 {
                return -5;
            }
            segment(&mut iov, offset, data.as_ptr(), data.len());
        }
        // SAFETY: `key` and `iov` are live slices; every descriptor names a
        // live slice of `writes`, which outlives the call.
        unsafe {
            raw::value_writev(
                key.as_ptr(),
                len_i32(key.len()),
                type_id as i32,
                iov.as_ptr(),
                len_i32(writes.len()),
            )
        }
    }
}
