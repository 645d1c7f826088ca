//! The host imports of docs/abi.md, exactly as the host declares them: module
//! `ember`, `i32` pointers and lengths into this guest's memory, `i64` value
//! offsets. This is the one file that talks to the host directly; the rest of
//! the SDK wraps these calls in safe functions ([`crate::call_argv`],
//! [`crate::input`], [`crate::value`] ...), so guests rarely need them.
//!
//! Only on `wasm32`: a native build (unit tests) has no host to import from.
//!
//! Every function here is `unsafe` because the host reads or writes the
//! memory the pointers name: the caller guarantees that `ptr..ptr+len` lies
//! inside one live allocation (the host traps the call otherwise, but the
//! guest must not hand out memory it does not own).

#[link(wasm_import_module = "ember")]
extern "C" {
    /// Runs one command. `req` is a RESP array of bulk strings. Returns the
    /// length `n` of the RESP2 reply; when `n <= dst_cap` the reply was copied
    /// to `dst`, otherwise nothing was copied and [`last_reply`] fetches it.
    /// Command errors are replies (`-ERR ...`), never traps.
    pub fn call(req_ptr: *const u8, req_len: i32, dst_ptr: *mut u8, dst_cap: i32) -> i32;

    /// Copies the reply of the last [`call`] (or the error text of the last
    /// failed [`register`]) to `dst` when it fits; returns its full length.
    pub fn last_reply(dst_ptr: *mut u8, dst_cap: i32) -> i32;

    /// Copies this invocation's input, the RESP array `[keys, args]`, to
    /// `dst` when it fits; returns its full length (ask again with a bigger
    /// buffer when it is larger than `dst_cap`).
    pub fn input(dst_ptr: *mut u8, dst_cap: i32) -> i32;

    /// Sets the invocation's reply: one RESP2 or RESP3 value. Calling it
    /// again replaces the earlier value.
    pub fn reply(ptr: *const u8, len: i32);

    /// Writes a line to the server log. Levels: 0 debug, 1 verbose, 2 notice,
    /// 3 warning.
    pub fn log(level: i32, ptr: *const u8, len: i32);

    /// The invocation's clock in unix milliseconds, frozen for its whole run.
    pub fn time_ms() -> i64;

    /// Fills `dst..dst+len` with bytes from the server's random generator.
    pub fn random(dst_ptr: *mut u8, len: i32);

    /// During `ember_init` only: declares a module, library, type, command or
    /// function (the spec is a RESP array of bulk strings). Returns 0, or the
    /// length of an error text that [`last_reply`] fetches.
    pub fn register(spec_ptr: *const u8, spec_len: i32) -> i32;

    /// Length of the module value at `key` of type `type_id`; -1 no such key,
    /// -2 another type, -4 not one of the invocation's keys.
    pub fn value_len(key_ptr: *const u8, key_len: i32, type_id: i32) -> i64;

    /// Copies up to `len` bytes of the value from `offset` to `dst`; returns
    /// the count copied (short at the end) or a negative code as `value_len`.
    pub fn value_read(
        key_ptr: *const u8,
        key_len: i32,
        type_id: i32,
        offset: i64,
        dst_ptr: *mut u8,
        len: i32,
    ) -> i64;

    /// Writes `src..src+len` into the value at `offset`, creating the key and
    /// zero-filling any gap; returns the new length or a negative code
    /// (-2 another type, -3 read-only invocation, -4 undeclared key, -5 over
    /// 512 MiB).
    pub fn value_write(
        key_ptr: *const u8,
        key_len: i32,
        type_id: i32,
        offset: i64,
        src_ptr: *const u8,
        len: i32,
    ) -> i64;

    /// Sets the value's length (creating the key, zero-filling growth);
    /// returns the new length or a negative code as [`value_write`].
    pub fn value_truncate(key_ptr: *const u8, key_len: i32, type_id: i32, new_len: i64) -> i64;

    /// ABI version 2. Copies several ranges of the value in one call: `iov`
    /// holds `count` 16-byte descriptors (offset `u64`, destination pointer
    /// `u32`, length `u32`, little-endian); each destination gets the bytes
    /// from its offset, fewer at the end of the value (the rest is left as it
    /// was). Returns the value's length or a negative code as `value_len`.
    pub fn value_readv(
        key_ptr: *const u8,
        key_len: i32,
        type_id: i32,
        iov_ptr: *const u8,
        count: i32,
    ) -> i64;

    /// ABI version 2. Writes several ranges in one call, in order, as
    /// `value_write` each would (descriptors as for `value_readv`, the
    /// pointer naming the source); returns the new length or a negative code,
    /// in which case nothing was written.
    pub fn value_writev(
        key_ptr: *const u8,
        key_len: i32,
        type_id: i32,
        iov_ptr: *const u8,
        count: i32,
    ) -> i64;
}
