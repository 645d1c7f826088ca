//! Write Ember guests in Rust: scripts for `EVAL`, function libraries for
//! `FUNCTION LOAD`, and modules that add commands (docs/abi.md).
//!
//! ```ignore
//! use ember_guest_sdk::{call, Input, Reply, Result};
//!
//! fn main(input: &Input) -> Result<Reply> {
//!     let n = call!("INCRBY", input.key(0)?, input.arg_i64(0)?)?;
//!     Ok(n)
//! }
//! ember_guest_sdk::script!(main);
//! ```
//!
//! This file owns the public API: [`Reply`], [`Error`], [`call!`]/[`pcall!`],
//! [`Input`], the clock, randomness and logging, module values ([`value`]),
//! the [`Command`]/[`Function`] builders and the [`script!`]/[`module!`]/
//! [`library!`] macros that generate a guest's exports. [`raw`] holds the host
//! imports themselves and [`resp`] the RESP encoder and parser.
//!
//! Everything compiles natively too. There the host is simulated (see
//! [`testing`]) so handlers run in ordinary `cargo test`: `call!` answers
//! through [`testing::on_call`], module values live in memory, the clock can
//! be set.

#[cfg(target_arch = "wasm32")]
pub mod raw;
pub mod resp;

mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

use std::cell::{Cell, RefCell};
use std::fmt;

/// The ABI version this SDK implements; the macros export it as `ember_abi_version`
/// (2: [`value::read_many`] and [`value::write_many`]; servers speaking only version 1
/// refuse such guests).
pub const ABI_VERSION: i32 = 2;

// ------------------------------------------------------------------ Reply

/// A RESP value: what [`call!`] returns and what a handler replies.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`: the full text, with its prefix word.
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// The nil bulk string (`$-1`, RESP3 `_`).
    Nil,
    /// The nil array (`*-1`).
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 double; RESP2 clients get it as a bulk string.
    Double(f64),
    /// RESP3 boolean; RESP2 clients get `:1` or nil.
    Bool(bool),
    /// RESP3 map; RESP2 clients get a flat array.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; RESP2 clients get an array.
    Set(Vec<Reply>),
}

impl Reply {
    /// Appends this value as RESP.
    pub fn encode(&self, out: &mut Vec<u8>) {
        resp::encode(self, out)
    }

    /// Reads one value from the start of `bytes`; returns it and the bytes it took.
    pub fn parse(bytes: &[u8]) -> core::result::Result<(Reply, usize), resp::ParseError> {
        resp::parse(bytes)
    }

    /// `+OK`
    pub fn ok() -> Reply {
        Reply::Status("OK".to_string())
    }

    /// The integer of an `Int`, or of a `Bulk`/`Status` holding one (Redis's
    /// strict decimal syntax, as `INCR` reads a string).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(b) => resp::parse_i64(b),
            Reply::Status(s) => resp::parse_i64(s.as_bytes()),
            _ => None,
        }
    }

    /// The bytes of a `Bulk` or `Status`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The text of a `Bulk` (when UTF-8) or `Status`.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// `Nil` or `NilArray`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Nil | Reply::NilArray)
    }

    /// The elements of an `Array` or `Set`; a `Map` flattened to key, value,
    /// key, value ... (what a RESP2 client sees).
    pub fn into_array(self) -> Option<Vec<Reply>> {
        match self {
            Reply::Array(items) | Reply::Set(items) => Some(items),
            Reply::Map(pairs) => Some(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
            _ => None,
        }
    }
}

impl From<i64> for Reply {
    fn from(n: i64) -> Reply {
        Reply::Int(n)
    }
}
impl From<i32> for Reply {
    fn from(n: i32) -> Reply {
        Reply::Int(n.into())
    }
}
impl From<u32> for Reply {
    fn from(n: u32) -> Reply {
        Reply::Int(n.into())
    }
}
/// Values past `i64::MAX` cannot be a RESP integer; they saturate.
impl From<u64> for Reply {
    fn from(n: u64) -> Reply {
        Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Reply {
    fn from(n: usize) -> Reply {
        Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Reply {
    fn from(x: f64) -> Reply {
        Reply::Double(x)
    }
}
impl From<&str> for Reply {
    fn from(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }
}
impl From<String> for Reply {
    fn from(s: String) -> Reply {
        Reply::Bulk(s.into_bytes())
    }
}
impl From<&String> for Reply {
    fn from(s: &String) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }
}
impl From<Vec<u8>> for Reply {
    fn from(b: Vec<u8>) -> Reply {
        Reply::Bulk(b)
    }
}
impl From<&[u8]> for Reply {
    fn from(b: &[u8]) -> Reply {
        Reply::Bulk(b.to_vec())
    }
}
/// `true` is `:1` and `false` is `:0`, as Lua booleans are in Redis replies
/// ... except that Lua's false is nil; Ember keeps the integer, which clients
/// can tell apart from a missing value. Use `Reply::Bool` for RESP3 booleans.
impl From<bool> for Reply {
    fn from(b: bool) -> Reply {
        Reply::Int(i64::from(b))
    }
}
impl<T: Into<Reply>> From<Option<T>> for Reply {
    fn from(v: Option<T>) -> Reply {
        v.map_or(Reply::Nil, Into::into)
    }
}
impl<T: Into<Reply>> From<Vec<T>> for Reply {
    fn from(items: Vec<T>) -> Reply {
        Reply::Array(items.into_iter().map(Into::into).collect())
    }
}
impl From<Error> for Reply {
    fn from(e: Error) -> Reply {
        Reply::Error(e.0)
    }
}

// ------------------------------------------------------------------ Error

/// A Redis error reply: the full text with its prefix word (`ERR ...`,
/// `WRONGTYPE ...`). Returning `Err` from a handler sends it to the client and
/// undoes the invocation's writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

/// The result of everything that can fail with a Redis error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// An error with `text`; `ERR ` is put in front unless the text already
    /// starts with an upper-case code word (`WRONGTYPE`, `NOSCRIPT`, `ERR` ...).
    /// A leading `-` (as in a raw RESP error line) is dropped.
    pub fn new(text: impl Into<String>) -> Error {
        let text = text.into();
        let text = match text.strip_prefix('-') {
            Some(rest) => rest.to_string(),
            None => text,
        };
        if has_code_word(&text) {
            Error(text)
        } else {
            Error(format!("ERR {text}"))
        }
    }

    /// Redis's reply to a command on a key of another type.
    pub fn wrong_type() -> Error {
        Error("WRONGTYPE Operation against a key holding the wrong kind of value".to_string())
    }

    /// `ERR syntax error`
    pub fn syntax() -> Error {
        Error("ERR syntax error".to_string())
    }

    /// `ERR value is not an integer or out of range`
    pub fn not_integer() -> Error {
        Error("ERR value is not an integer or out of range".to_string())
    }

    /// `ERR value is not a valid float`
    pub fn not_float() -> Error {
        Error("ERR value is not a valid float".to_string())
    }

    /// `ERR wrong number of arguments for 'cmd' command`
    pub fn arity(cmd: &str) -> Error {
        Error(format!("ERR wrong number of arguments for '{cmd}' command"))
    }

    /// The full error text, prefix included.
    pub fn text(&self) -> &str {
        &self.0
    }
}

/// Whether `text` starts with a code word: two or more of `A-Z0-9_`, starting
/// with a letter, then a space or the end.
fn has_code_word(text: &str) -> bool {
    let word = text.split(' ').next().unwrap_or("");
    word.len() >= 2
        && word.as_bytes()[0].is_ascii_uppercase()
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<resp::ParseError> for Error {
    fn from(e: resp::ParseError) -> Error {
        Error::new(format!("guest could not parse RESP: {e}"))
    }
}

// ------------------------------------------------------------------ calls

/// A command argument for [`call!`]: appends itself as a RESP bulk string.
/// Numbers are written in decimal; `f64` like Redis's `%.17g` (what Lua
/// numbers become in `redis.call`).
pub trait Arg {
    fn write_arg(&self, out: &mut Vec<u8>);
}

impl<T: Arg + ?Sized> Arg for &T {
    fn write_arg(&self, out: &mut Vec<u8>) {
        (**self).write_arg(out)
    }
}
impl Arg for str {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp::write_bulk(out, self.as_bytes())
    }
}
impl Arg for String {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp::write_bulk(out, self.as_bytes())
    }
}
impl Arg for [u8] {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp::write_bulk(out, self)
    }
}
impl<const N: usize> Arg for [u8; N] {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp::write_bulk(out, self)
    }
}
impl Arg for Vec<u8> {
    fn write_arg(&self, out: &mut Vec<u8>) {
        resp::write_bulk(out, self)
    }
}
impl Arg for f64 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        let mut text = Vec::with_capacity(24);
        resp::format_double(*self, &mut text);
        resp::write_bulk(out, &text)
    }
}

macro_rules! int_args {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn write_arg(&self, out: &mut Vec<u8>) {
                let mut buf = [0u8; 20];
                #[allow(clippy::unnecessary_cast)]
                let digits = resp::format_i64(*self as i64, &mut buf);
                resp::write_bulk(out, digits)
            }
        }
    )*};
}
int_args!(i64, i32, u32);

impl Arg for u64 {
    fn write_arg(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 20];
        resp::write_bulk(out, resp::format_u64(*self, &mut buf))
    }
}
impl Arg for usize {
    fn write_arg(&self, out: &mut Vec<u8>) {
        (*self as u64).write_arg(out)
    }
}

/// Runs a command and returns its reply; a Redis error reply becomes
/// `Err(Error)`, so `?` passes it on like an uncaught `redis.call` error.
///
/// ```ignore
/// let n = call!("HINCRBY", key, "count", 1)?.as_int();
/// ```
#[macro_export]
macro_rules! call {
    ($($a:expr),+ $(,)?) => {
        $crate::__private::into_result($crate::__private::call_args(&[$(&$a as &dyn $crate::Arg),+]))
    };
}

/// Runs a command and returns its reply, error replies included (like
/// `redis.pcall`).
#[macro_export]
macro_rules! pcall {
    ($($a:expr),+ $(,)?) => {
        $crate::__private::call_args(&[$(&$a as &dyn $crate::Arg),+])
    };
}

/// [`call!`] with the arguments in a slice.
pub fn call_argv(args: &[&[u8]]) -> Result<Reply> {
    __private::into_result(pcall_argv(args))
}

/// [`pcall!`] with the arguments in a slice.
pub fn pcall_argv(args: &[&[u8]]) -> Reply {
    with_scratch(&REQUEST, |req| {
        resp::write_header(req, b'*', args.len());
        args.iter().for_each(|a| resp::write_bulk(req, a));
        host::call(req)
    })
}

thread_local! {
    /// The request being built by `call!`, reused so a call allocates
    /// nothing once the buffer has grown to the guest's largest request.
    static REQUEST: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
    /// What kind of invocation is running, for error texts (see `Input::key`).
    static INVOCATION: Cell<Invocation> = const { Cell::new(Invocation::Unknown) };
}

/// Runs `f` with an empty scratch buffer: the shared one, or a fresh one when
/// the shared one is in use (an `Arg` impl that itself calls the host).
fn with_scratch<R>(
    cell: &'static std::thread::LocalKey<RefCell<Vec<u8>>>,
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> R {
    cell.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            f(&mut buf)
        }
        Err(_) => f(&mut Vec::new()),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Invocation {
    Unknown,
    Script,
    Command,
}

// ------------------------------------------------------------------ input

/// This invocation's input (docs/abi.md "input"): for scripts and functions
/// `KEYS` and `ARGV`; for module commands the command's keys and the whole
/// argv, command name first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub keys: Vec<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
}

impl Input {
    /// `keys[i]`, or an arity error when there are fewer keys.
    pub fn key(&self, i: usize) -> Result<&[u8]> {
        match self.keys.get(i) {
            Some(k) => Ok(k),
            None => Err(self.missing("KEYS", i)),
        }
    }

    /// `args[i]`, or an arity error when there are fewer arguments.
    pub fn arg(&self, i: usize) -> Result<&[u8]> {
        match self.args.get(i) {
            Some(a) => Ok(a),
            None => Err(self.missing("ARGV", i)),
        }
    }

    /// `args[i]` as an integer; `ERR value is not an integer or out of range`
    /// when it is not one (Redis's strict syntax: no `+`, spaces or leading zeros).
    pub fn arg_i64(&self, i: usize) -> Result<i64> {
        resp::parse_i64(self.arg(i)?).ok_or_else(Error::not_integer)
    }

    /// `args[i]` as a float; `ERR value is not a valid float` when it is not one.
    pub fn arg_f64(&self, i: usize) -> Result<f64> {
        resp::parse_f64(self.arg(i)?).ok_or_else(Error::not_float)
    }

    /// `args[i]` as UTF-8 text.
    pub fn arg_str(&self, i: usize) -> Result<&str> {
        std::str::from_utf8(self.arg(i)?)
            .map_err(|_| Error::new(format!("argument {} is not valid UTF-8", i + 1)))
    }

    /// A module command is missing an argument: Redis's arity error naming the
    /// command. A script is missing `KEYS[i+1]` or `ARGV[i+1]`: name that.
    fn missing(&self, what: &str, i: usize) -> Error {
        let kind = INVOCATION.with(Cell::get);
        match self.args.first() {
            Some(name) if kind != Invocation::Script => {
                Error::arity(&String::from_utf8_lossy(name).to_lowercase())
            }
            _ => Error::new(format!(
                "wrong number of arguments: {what}[{}] is missing",
                i + 1
            )),
        }
    }

    /// Reads `[keys, args]` as the host sends it.
    fn from_resp(bytes: &[u8]) -> Result<Input> {
        if let Some(input) = Input::from_host_layout(bytes) {
            return Ok(input);
        }
        let (reply, _) = Reply::parse(bytes)?;
        let mut parts = reply.into_array().unwrap_or_default().into_iter();
        let strings = |part: Option<Reply>| -> Vec<Vec<u8>> {
            part.and_then(Reply::into_array)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| match r {
                    Reply::Bulk(b) => Some(b),
                    Reply::Status(s) => Some(s.into_bytes()),
                    _ => None,
                })
                .collect()
        };
        let keys = strings(parts.next());
        let args = strings(parts.next());
        Ok(Input { keys, args })
    }
}

impl Input {
    /// The layout the host sends (docs/abi.md): `*2`, then two arrays of bulk strings, read
    /// straight into the vectors without a [`Reply`] tree (that tree was a tenth of a small
    /// script's time). `None` for anything else, which the general parser then reads.
    fn from_host_layout(bytes: &[u8]) -> Option<Input> {
        fn header(bytes: &[u8], at: &mut usize, prefix: u8) -> Option<usize> {
            if *bytes.get(*at)? != prefix {
                return None;
            }
            let mut n: usize = 0;
            let mut i = *at + 1;
            while *bytes.get(i)? != b'\r' {
                let d = bytes[i].wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                n = n.checked_mul(10)?.checked_add(usize::from(d))?;
                i += 1;
            }
            if i == *at + 1 || *bytes.get(i + 1)? != b'\n' {
                return None;
            }
            *at = i + 2;
            Some(n)
        }
        let mut at = 0;
        if header(bytes, &mut at, b'*')? != 2 {
            return None;
        }
        let mut parts: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        for part in &mut parts {
            let n = header(bytes, &mut at, b'*')?;
            // Every item takes at least 6 bytes ("$0\r\n\r\n"): no huge reservation.
            part.reserve(n.min(bytes.len() / 6));
            for _ in 0..n {
                let len = header(bytes, &mut at, b'$')?;
                let end = at.checked_add(len)?;
                if bytes.get(end..end.checked_add(2)?)? != b"\r\n" {
                    return None;
                }
                part.push(bytes[at..end].to_vec());
                at = end + 2;
            }
        }
        let [keys, args] = parts;
        Some(Input { keys, args })
    }
}

/// Reads this invocation's input from the host.
pub fn input() -> Input {
    // The host's input is well-formed; should it ever not be, the handler sees
    // no keys and no arguments and answers with an arity error.
    host::input_with(|bytes| Input::from_resp(bytes).unwrap_or_default())
}

// ------------------------------------------------------- clock, random, log

/// The invocation's clock in unix milliseconds: the time it started, the same
/// for its whole run (as Redis freezes time inside a script).
pub fn time_ms() -> i64 {
    host::time_ms()
}

/// Fills `buf` from the server's random generator.
pub fn random_bytes(buf: &mut [u8]) {
    host::random(buf)
}

/// A random `u64` from the server's generator.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    u64::from_le_bytes(b)
}

/// Server log levels, filtered by the server's `loglevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

/// Writes a line to the server log.
pub fn log(level: LogLevel, msg: &str) {
    host::log(level as i32, msg.as_bytes())
}

// ------------------------------------------------------------------ values

/// Module-owned values (docs/abi.md "Module values"): byte strings in the
/// keyspace that a module lays out itself. `type_id` is the index of the type
/// in the module's `types` list; the key must be one of the invocation's keys.
pub mod value {
    use crate::{host, Error, Result};

    /// Turns the host's negative codes into the errors a client should see.
    fn check(code: i64, key: &[u8]) -> Result<u64> {
        match code {
            n if n >= 0 => Ok(n as u64),
            -2 => Err(Error::wrong_type()),
            -3 => Err(Error::new(
                "ERR Write commands are not allowed from read-only scripts.",
            )),
            -4 => Err(Error::new(format!(
                "ERR key '{}' is not one of this invocation's keys",
                String::from_utf8_lossy(key)
            ))),
            -5 => Err(Error::new("ERR value exceeds maximum allowed size (512MB)")),
            n => Err(Error::new(format!(
                "ERR unexpected module value result {n}"
            ))),
        }
    }

    /// The value's length; `None` when the key does not exist.
    pub fn len(key: &[u8], type_id: u32) -> Result<Option<u64>> {
        match host::value_len(key, type_id) {
            -1 => Ok(None),
            code => check(code, key).map(Some),
        }
    }

    /// Copies bytes from `offset` into `buf`; returns how many (fewer at the
    /// end of the value, 0 when the key does not exist).
    pub fn read(key: &[u8], type_id: u32, offset: u64, buf: &mut [u8]) -> Result<usize> {
        // Reads are chunked so a buffer over 2 GiB cannot overflow the i32 length.
        let mut done = 0;
        while done < buf.len() {
            let chunk = (buf.len() - done).min(i32::MAX as usize);
            let at = offset.saturating_add(done as u64);
            let n = match host::value_read(key, type_id, at, &mut buf[done..done + chunk]) {
                -1 => return Ok(0),
                code => check(code, key)? as usize,
            };
            done += n;
            if n < chunk {
                break;
            }
        }
        Ok(done)
    }

    /// The whole value; `None` when the key does not exist.
    pub fn read_all(key: &[u8], type_id: u32) -> Result<Option<Vec<u8>>> {
        let Some(len) = len(key, type_id)? else {
            return Ok(None);
        };
        let mut buf = vec![0u8; len as usize];
        let n = read(key, type_id, 0, &mut buf)?;
        buf.truncate(n);
        Ok(Some(buf))
    }

    /// Writes `data` at `offset`, creating the key (no TTL) and zero-filling
    /// any gap; returns the new length.
    pub fn write(key: &[u8], type_id: u32, offset: u64, data: &[u8]) -> Result<u64> {
        if data.len() > i32::MAX as usize {
            return check(-5, key);
        }
        check(host::value_write(key, type_id, offset, data), key)
    }

    /// Sets the value's length, creating the key and zero-filling growth;
    /// returns the new length.
    pub fn truncate(key: &[u8], type_id: u32, len: u64) -> Result<u64> {
        check(host::value_truncate(key, type_id, len), key)
    }

    /// Reads several ranges in one host call (ABI version 2): each buffer
    /// gets the bytes from its offset, fewer at the end of the value (the
    /// rest of the buffer is left as it was). Returns the value's length,
    /// `None` when the key does not exist (no buffer was touched).
    pub fn read_many(
        key: &[u8],
        type_id: u32,
        reads: &mut [(u64, &mut [u8])],
    ) -> Result<Option<u64>> {
        if reads.iter().any(|(_, b)| b.len() > i32::MAX as usize) {
            return Err(Error::new("ERR read_many: a buffer over 2 GiB"));
        }
        match host::value_readv(key, type_id, reads) {
            -1 => Ok(None),
            code => check(code, key).map(Some),
        }
    }

    /// Writes several ranges in one host call (ABI version 2), in order, as
    /// [`write`] each would; creates the key (no TTL) when missing. Returns
    /// the new length. On an error nothing was written.
    pub fn write_many(key: &[u8], type_id: u32, writes: &[(u64, &[u8])]) -> Result<u64> {
        if writes.iter().any(|(_, d)| d.len() > i32::MAX as usize) {
            return check(-5, key);
        }
        check(host::value_writev(key, type_id, writes), key)
    }
}

// -------------------------------------------------------- commands, functions

/// A command or function handler.
pub type Handler = fn(&Input) -> Result<Reply>;

/// A module command: what `register` declares (docs/abi.md). Built in a const
/// context inside [`module!`].
#[derive(Clone, Copy)]
pub struct Command {
    name: &'static str,
    handler: Handler,
    arity: i32,
    flags: &'static str,
    first_key: i32,
    last_key: i32,
    key_step: i32,
    acl: &'static str,
    summary: &'static str,
}

impl Command {
    /// A command with no flags, no keys and arity 0 until set.
    pub const fn new(name: &'static str, handler: Handler) -> Command {
        Command {
            name,
            handler,
            arity: 0,
            flags: "",
            first_key: 0,
            last_key: 0,
            key_step: 0,
            acl: "",
            summary: "",
        }
    }
    /// Redis arity: `n` exactly when positive, at least `-n` when negative,
    /// counting the command name.
    pub const fn arity(self, n: i32) -> Command {
        Command { arity: n, ..self }
    }
    /// Space-separated Redis command flags: `"write denyoom fast"`. A command
    /// without `write` may not write.
    pub const fn flags(self, f: &'static str) -> Command {
        Command { flags: f, ..self }
    }
    /// Key positions in argv, as in `COMMAND INFO`: first, last (-1 = the last
    /// argument), step.
    pub const fn keys(self, first: i32, last: i32, step: i32) -> Command {
        Command {
            first_key: first,
            last_key: last,
            key_step: step,
            ..self
        }
    }
    /// Space-separated ACL categories without `@`: `"bloom"`.
    pub const fn acl(self, categories: &'static str) -> Command {
        Command {
            acl: categories,
            ..self
        }
    }
    /// One line for `COMMAND DOCS`.
    pub const fn summary(self, s: &'static str) -> Command {
        Command { summary: s, ..self }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }
    pub const fn handler(&self) -> Handler {
        self.handler
    }

    /// The keys among `argv` by this command's key positions (what the host
    /// gives the handler as `input.keys`).
    pub fn keys_of(&self, argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
        if self.first_key <= 0 || self.key_step <= 0 {
            return Vec::new();
        }
        let argc = argv.len() as i64;
        let last = match i64::from(self.last_key) {
            l if l < 0 => argc + l,
            l => l.min(argc - 1),
        };
        (i64::from(self.first_key)..=last)
            .step_by(self.key_step as usize)
            .filter_map(|i| argv.get(i as usize).cloned())
            .collect()
    }

    fn spec(&self, handler: usize, out: &mut Vec<u8>) {
        let mut buf = [0u8; 20];
        let mut num = |n: i64| resp::format_i64(n, &mut buf).to_vec();
        let mut words: Vec<Vec<u8>> = vec![
            b"command".to_vec(),
            self.name.as_bytes().to_vec(),
            num(handler as i64),
            num(self.arity.into()),
            self.flags.as_bytes().to_vec(),
            num(self.first_key.into()),
            num(self.last_key.into()),
            num(self.key_step.into()),
            self.acl.as_bytes().to_vec(),
        ];
        if !self.summary.is_empty() {
            words.push(self.summary.as_bytes().to_vec());
        }
        write_spec(&words, out);
    }
}

/// A function of a library for `FCALL`.
#[derive(Clone, Copy)]
pub struct Function {
    name: &'static str,
    handler: Handler,
    flags: &'static str,
    description: &'static str,
}

impl Function {
    pub const fn new(name: &'static str, handler: Handler) -> Function {
        Function {
            name,
            handler,
            flags: "",
            description: "",
        }
    }
    /// Space-separated script flags: `"no-writes allow-oom"`.
    pub const fn flags(self, f: &'static str) -> Function {
        Function { flags: f, ..self }
    }
    /// Shown by `FUNCTION LIST`.
    pub const fn description(self, d: &'static str) -> Function {
        Function {
            description: d,
            ..self
        }
    }
    pub const fn name(&self) -> &'static str {
        self.name
    }
    pub const fn handler(&self) -> Handler {
        self.handler
    }
}

fn write_spec(words: &[Vec<u8>], out: &mut Vec<u8>) {
    resp::write_header(out, b'*', words.len());
    words.iter().for_each(|w| resp::write_bulk(out, w));
}

/// What [`module!`] declares; the macro puts it in a `pub static EMBER_MODULE`
/// so native tests can run the commands.
pub struct Module {
    pub name: &'static str,
    pub version: i64,
    pub types: &'static [&'static str],
    pub commands: &'static [Command],
    /// Runs at the end of `ember_init` with the `MODULE LOAD` arguments in
    /// `input.args`; an error refuses the load.
    pub init: Option<fn(&Input) -> Result<()>>,
}

impl Module {
    /// The command called `name` (case-insensitive).
    pub fn command(&self, name: &str) -> Option<&Command> {
        self.commands
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Runs a command as the host would: looks it up, checks its arity,
    /// picks its keys, calls the handler. For native tests.
    pub fn run(&self, argv: &[&[u8]]) -> Result<Reply> {
        let name = argv
            .first()
            .map(|n| String::from_utf8_lossy(n))
            .unwrap_or_default();
        let Some(cmd) = self.command(&name) else {
            return Err(Error::new(format!("unknown command '{name}'")));
        };
        let argc = argv.len() as i64;
        let arity = i64::from(cmd.arity);
        if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
            return Err(Error::arity(&cmd.name.to_lowercase()));
        }
        let args: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        let input = Input {
            keys: cmd.keys_of(&args),
            args,
        };
        INVOCATION.with(|k| k.set(Invocation::Command));
        (cmd.handler)(&input)
    }
}

/// What [`library!`] declares; in a `pub static EMBER_LIBRARY`.
pub struct Library {
    pub name: &'static str,
    pub functions: &'static [Function],
}

impl Library {
    /// Calls function `name` with `KEYS` and `ARGV`, for native tests.
    pub fn run(&self, name: &str, keys: &[&[u8]], args: &[&[u8]]) -> Result<Reply> {
        let Some(f) = self.functions.iter().find(|f| f.name == name) else {
            return Err(Error::new("Function not found"));
        };
        INVOCATION.with(|k| k.set(Invocation::Script));
        (f.handler)(&Input {
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            args: args.iter().map(|a| a.to_vec()).collect(),
        })
    }
}

/// What [`script!`] declares; in a `pub static EMBER_SCRIPT`.
pub struct Script {
    pub main: Handler,
    /// The `ember_flags` bit set.
    pub flags: i32,
}

impl Script {
    /// Runs the script with `KEYS` and `ARGV`, for native tests.
    pub fn run(&self, keys: &[&[u8]], args: &[&[u8]]) -> Result<Reply> {
        INVOCATION.with(|k| k.set(Invocation::Script));
        (self.main)(&Input {
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            args: args.iter().map(|a| a.to_vec()).collect(),
        })
    }
}

// ------------------------------------------------------------------ macros

/// Declares a script: exports `ember_abi_version`, `ember_main` (and
/// `ember_flags` when flags are given). `main` is a [`Handler`]; `Ok` sends
/// its reply, `Err(e)` sends `e` and undoes the script's writes.
///
/// ```ignore
/// ember_guest_sdk::script!(main);
/// ember_guest_sdk::script!(main, flags = "no-writes");
/// ```
/// An unknown flag is a compile error.
#[macro_export]
macro_rules! script {
    (@emit $main:path, $flags:expr) => {
        /// The script this crate declares (for native tests: `EMBER_SCRIPT.run(..)`).
        pub static EMBER_SCRIPT: $crate::Script = $crate::Script {
            main: $main,
            flags: $crate::__private::script_flags($flags),
        };

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_main() -> i32 {
            $crate::__private::run_script(&EMBER_SCRIPT)
        }
    };
    ($main:path, flags = $flags:expr $(,)?) => {
        $crate::script!(@emit $main, $flags);

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_flags() -> i32 {
            EMBER_SCRIPT.flags
        }
    };
    ($main:path $(,)?) => {
        $crate::script!(@emit $main, "");
    };
}

/// Declares a module: exports `ember_abi_version`, `ember_init` (registers
/// the module, its types and commands; a command's handler number is its
/// index in `commands`) and `ember_invoke`.
///
/// ```ignore
/// ember_guest_sdk::module! {
///     name: "bf",
///     version: 1,
///     types: ["MBbloom--"],
///     commands: [
///         Command::new("bf.add", bf_add).arity(3).flags("write denyoom").keys(1, 1, 1).acl("bloom"),
///     ],
///     init: setup,   // optional: fn(&Input) -> Result<()> with the MODULE LOAD arguments
/// }
/// ```
#[macro_export]
macro_rules! module {
    (
        name: $name:expr,
        version: $version:expr,
        $(types: [$($ty:expr),* $(,)?],)?
        commands: [$($cmd:expr),* $(,)?]
        $(, init: $init:expr)?
        $(,)?
    ) => {
        /// The module this crate declares (for native tests: `EMBER_MODULE.run(..)`).
        pub static EMBER_MODULE: $crate::Module = $crate::Module {
            name: $name,
            version: $version,
            types: &[$($($ty),*)?],
            commands: &[$($cmd),*],
            init: $crate::__private::init_fn(&[$($init)?]),
        };

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_init() -> i32 {
            $crate::__private::init_module(&EMBER_MODULE)
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_invoke(handler: i32) -> i32 {
            $crate::__private::invoke_module(&EMBER_MODULE, handler)
        }
    };
}

/// Declares a function library for `FUNCTION LOAD`: exports
/// `ember_abi_version`, `ember_init` and `ember_invoke`.
///
/// ```ignore
/// ember_guest_sdk::library! {
///     name: "mylib",
///     functions: [ Function::new("myfunc", my_fn).flags("no-writes") ],
/// }
/// ```
#[macro_export]
macro_rules! library {
    (
        name: $name:expr,
        functions: [$($f:expr),* $(,)?]
        $(,)?
    ) => {
        /// The library this crate declares (for native tests: `EMBER_LIBRARY.run(..)`).
        pub static EMBER_LIBRARY: $crate::Library = $crate::Library {
            name: $name,
            functions: &[$($f),*],
        };

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_init() -> i32 {
            $crate::__private::init_library(&EMBER_LIBRARY)
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ember_invoke(handler: i32) -> i32 {
            $crate::__private::invoke_library(&EMBER_LIBRARY, handler)
        }
    };
}

/// What the macros expand to; not a stable API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub fn call_args(args: &[&dyn Arg]) -> Reply {
        with_scratch(&REQUEST, |req| {
            resp::write_header(req, b'*', args.len());
            args.iter().for_each(|a| a.write_arg(req));
            host::call(req)
        })
    }

    pub fn into_result(reply: Reply) -> Result<Reply> {
        match reply {
            Reply::Error(e) => Err(Error(e)),
            r => Ok(r),
        }
    }

    pub const fn init_fn(f: &[fn(&Input) -> Result<()>]) -> Option<fn(&Input) -> Result<()>> {
        match f {
            [f] => Some(*f),
            _ => None,
        }
    }

    /// The `ember_flags` bits of a space-separated flag list (docs/abi.md);
    /// evaluated at compile time, so an unknown flag fails the build.
    pub const fn script_flags(s: &str) -> i32 {
        let b = s.as_bytes();
        let mut bits = 0;
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            if i > start {
                bits |= flag_bit(b, start, i);
            }
        }
        bits
    }

    const FLAGS: [(&str, i32); 6] = [
        ("no-writes", 1),
        ("allow-oom", 2),
        ("allow-stale", 4),
        ("no-cluster", 8),
        ("allow-cross-slot-keys", 16),
        ("whole-keyspace", 32),
    ];

    const fn flag_bit(b: &[u8], start: usize, end: usize) -> i32 {
        let mut f = 0;
        while f < FLAGS.len() {
            let name = FLAGS[f].0.as_bytes();
            if name.len() == end - start {
                let mut j = 0;
                while j < name.len() && name[j] == b[start + j] {
                    j += 1;
                }
                if j == name.len() {
                    return FLAGS[f].1;
                }
            }
            f += 1;
        }
        panic!("unknown script flag: use no-writes allow-oom allow-stale no-cluster allow-cross-slot-keys whole-keyspace")
    }

    /// Logs a panic's message at warning level before the trap ends the
    /// invocation, so the server log says why.
    pub fn install_panic_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let msg = format!("guest {info}").replace('\n', " ");
                log(LogLevel::Warning, &msg);
            }))
        });
    }

    /// Sends the handler's outcome as the reply; 0 keeps the writes, 1 undoes them.
    fn finish(result: Result<Reply>) -> i32 {
        let (reply, code) = match result {
            Ok(reply) => (reply, 0),
            Err(e) => (Reply::Error(e.0), 1),
        };
        with_scratch(&REQUEST, |out| {
            reply.encode(out);
            host::reply(out);
        });
        code
    }

    fn fail(text: String) -> i32 {
        finish(Err(Error::new(text)))
    }

    fn register(words: &[Vec<u8>]) -> core::result::Result<(), String> {
        with_scratch(&REQUEST, |spec| {
            write_spec(words, spec);
            host::register(spec)
        })
    }

    pub fn run_script(script: &Script) -> i32 {
        install_panic_hook();
        INVOCATION.with(|k| k.set(Invocation::Script));
        finish((script.main)(&input()))
    }

    pub fn init_module(m: &Module) -> i32 {
        install_panic_hook();
        let mut words = vec![
            b"module".to_vec(),
            m.name.as_bytes().to_vec(),
            m.version.to_string().into_bytes(),
        ];
        if let Err(e) = register(&words) {
            return fail(e);
        }
        for ty in m.types {
            words = vec![b"type".to_vec(), ty.as_bytes().to_vec()];
            if let Err(e) = register(&words) {
                return fail(e);
            }
        }
        for (i, cmd) in m.commands.iter().enumerate() {
            let r = with_scratch(&REQUEST, |spec| {
                cmd.spec(i, spec);
                host::register(spec)
            });
            if let Err(e) = r {
                return fail(e);
            }
        }
        if let Some(init) = m.init {
            INVOCATION.with(|k| k.set(Invocation::Command));
            if let Err(e) = init(&input()) {
                return finish(Err(e));
            }
        }
        0
    }

    pub fn invoke_module(m: &Module, handler: i32) -> i32 {
        INVOCATION.with(|k| k.set(Invocation::Command));
        match usize::try_from(handler)
            .ok()
            .and_then(|h| m.commands.get(h))
        {
            Some(cmd) => finish((cmd.handler)(&input())),
            None => fail(format!("module '{}' has no handler {handler}", m.name)),
        }
    }

    pub fn init_library(l: &Library) -> i32 {
        install_panic_hook();
        if let Err(e) = register(&[b"library".to_vec(), l.name.as_bytes().to_vec()]) {
            return fail(e);
        }
        for (i, f) in l.functions.iter().enumerate() {
            let mut words = vec![
                b"function".to_vec(),
                f.name.as_bytes().to_vec(),
                i.to_string().into_bytes(),
                f.flags.as_bytes().to_vec(),
            ];
            if !f.description.is_empty() {
                words.push(f.description.as_bytes().to_vec());
            }
            if let Err(e) = register(&words) {
                return fail(e);
            }
        }
        0
    }

    pub fn invoke_library(l: &Library, handler: i32) -> i32 {
        INVOCATION.with(|k| k.set(Invocation::Script));
        match usize::try_from(handler)
            .ok()
            .and_then(|h| l.functions.get(h))
        {
            Some(f) => finish((f.handler)(&input())),
            None => fail(format!("library '{}' has no handler {handler}", l.name)),
        }
    }
}

#[cfg(test)]
mod tests;
