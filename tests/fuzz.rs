//! Fuzz and property targets for the RESP request parser and for the argument
//! parsing of every command (the issue's "no input panics").
//!
//! Everything runs in-process on the `ember` library: no sockets, no server
//! process, no tokio runtime. Inputs come from a small xorshift PRNG with fixed
//! seeds, so every run sees the same inputs (only TTL timing varies).
//!
//! - `resp_parser_*`: random and mutated request streams through
//!   [`RequestParser`], driven like the connection loop (parse until it wants
//!   more, read the argument ranges, `consumed()` / `shift()`). Properties: no
//!   panic; ranges in bounds; progress on every request; `wanted()` bounded; a
//!   stream split into arbitrary chunks (and re-parsed by a fresh parser at
//!   arbitrary points after `consumed()`) gives the same requests and the same
//!   error as the whole stream; unmutated streams give back exactly the
//!   commands encoded; errors are Redis's protocol error texts; `split_args`
//!   agrees with a model of Redis's `sdssplitargs`.
//! - `commands_*`: every command and subcommand of the command table, called
//!   through `commands::execute` with random argument vectors (half of them
//!   following the command's documented synopsis) drawn from a dictionary of
//!   interesting tokens and edge numbers, over a keyspace seeded with strings
//!   (with and without TTLs) and, where the commands exist, a hash, list, set
//!   and sorted set; in RESP2, in RESP3 and inside MULTI/EXEC, with the active
//!   expiry cycle run in between. `commands_numeric_edge_cases` replays a fixed
//!   list of sequences at the numeric edges. Properties: no panic, no hang (a
//!   watchdog aborts with the argv after 60 s); the output is exactly one
//!   complete, well-formed reply in the client's protocol (several only for
//!   (un)subscribe and an EXEC that ran them); error replies start with an
//!   upper-case code; arity errors carry Redis's text; inside MULTI a command
//!   is QUEUED or refused (and a refusal aborts the transaction); EXEC answers
//!   with one reply per queued command, EXECABORT, or a null array.
//!   Not run: SHUTDOWN, DEBUG, MONITOR, replication commands, WAIT and
//!   PFSELFTEST (tens of seconds in debug); blocking commands only inside
//!   MULTI. proto-max-bulk-len is held at 1 MiB so that valid SETBIT/SETRANGE
//!   offsets cannot allocate 512 MiB.
//!
//! Problems are collected rather than stopping at the first; each one is
//! re-run on a fresh server and shrunk to a minimal command sequence, and the
//! test fails listing them all.
//!
//! `EMBER_FUZZ_ITERS=N` scales every iteration count by N (default 1) and
//! walks N times as many seeds; e.g. `EMBER_FUZZ_ITERS=10 cargo test --test fuzz`.
//! `EMBER_FUZZ_SEED=S` shifts the seeds to explore other inputs, and
//! `EMBER_FUZZ_STATS=1` prints, per command, how many calls did not fail and
//! their time, and every command slower than 200 ms as it happens.

use ember::commands;
use ember::commands::table::{flags, Command, Group};
use ember::config::Config;
use ember::server::client::Client;
use ember::server::protocol::{split_args, Limits, Request, RequestParser};
use ember::server::reply::Out;
use ember::server::Server;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Deterministic randomness and scaling
// ---------------------------------------------------------------------------------------------

/// xorshift64* seeded through splitmix64, so nearby seeds give unrelated streams.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Random bytes, between `lo` and `hi` of them.
    fn bytes_in(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let n = self.range(lo, hi);
        self.bytes(n)
    }

    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

/// `EMBER_FUZZ_ITERS`: multiplier for iteration counts and seed lists (may be
/// fractional, e.g. 0.1 for a quick look).
fn scale() -> f64 {
    std::env::var("EMBER_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&n| n > 0.0)
        .unwrap_or(1.0)
}

/// `n` scaled by `EMBER_FUZZ_ITERS`, at least 1.
fn scaled(n: u64) -> u64 {
    ((n as f64 * scale()).round() as u64).max(1)
}

/// `EMBER_FUZZ_SEED`: shifts every seed list, to explore new inputs (default 0).
fn seed_offset() -> u64 {
    std::env::var("EMBER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// Seeds for one test: `per_run * scale` of them, disjoint between tests.
fn seeds(test_salt: u64, per_run: u64) -> impl Iterator<Item = u64> {
    let base = test_salt
        .wrapping_mul(1_000_003)
        .wrapping_add(seed_offset().wrapping_mul(7_919));
    (0..scaled(per_run)).map(move |i| base.wrapping_add(i))
}

/// Bytes as redis-cli would print them: "quoted", with \xHH for the unprintable.
fn repr(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

fn repr_argv(argv: &[Vec<u8>]) -> String {
    argv.iter().map(|a| repr(a)).collect::<Vec<_>>().join(" ")
}

/// A shortened repr for long inputs in messages.
fn repr_short(b: &[u8]) -> String {
    if b.len() <= 300 {
        repr(b)
    } else {
        format!("{}... ({} bytes)", repr(&b[..300]), b.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Panic capture: panics inside the code under test are recorded, not printed
// ---------------------------------------------------------------------------------------------

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(|c| c.get()) {
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "<non-string panic payload>".to_string());
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{payload} (at {at})")));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err("message (at file:line:col)")`.
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_panic_hook();
    CAPTURING.with(|c| c.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(false));
    r.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic".to_string())
    })
}

/// The "file:line" of a captured panic message, for de-duplication.
fn panic_location(msg: &str) -> &str {
    msg.rfind("(at ")
        .map(|i| msg[i + 4..].trim_end_matches(')'))
        .unwrap_or(msg)
}

// ---------------------------------------------------------------------------------------------
// Watchdog: a hang (deadlock, runaway loop) aborts with the input that caused it
// ---------------------------------------------------------------------------------------------

const STALL_LIMIT: Duration = Duration::from_secs(60);
/// With EMBER_FUZZ_STATS=1, commands slower than this are printed as they happen.
const SLOW_COMMAND: Duration = Duration::from_millis(200);

struct Watchdog {
    state: Arc<WatchState>,
}

struct WatchState {
    progress: AtomicU64,
    current: Mutex<String>,
    done: AtomicBool,
}

impl Watchdog {
    fn new(name: &'static str) -> Watchdog {
        let state = Arc::new(WatchState {
            progress: AtomicU64::new(0),
            current: Mutex::new(String::new()),
            done: AtomicBool::new(false),
        });
        let s = state.clone();
        std::thread::spawn(move || {
            let mut last = (u64::MAX, Instant::now());
            while !s.done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let p = s.progress.load(Ordering::Relaxed);
                if p != last.0 {
                    last = (p, Instant::now());
                } else if last.1.elapsed() > STALL_LIMIT {
                    let cur = s.current.lock().map(|c| c.clone()).unwrap_or_default();
                    eprintln!(
                        "fuzz watchdog ({name}): no progress for {STALL_LIMIT:?}; stuck on: {cur}"
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog { state }
    }

    fn working_on(&self, what: impl FnOnce() -> String) {
        self.state.progress.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = self.state.current.lock() {
            *c = what();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.done.store(true, Ordering::Relaxed);
    }
}

// =============================================================================================
// Part 1: the RESP request parser
// =============================================================================================

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Multibulk(Vec<Vec<u8>>),
    Inline(Vec<Vec<u8>>),
    Empty,
}

#[derive(Debug)]
struct Outcome {
    events: Vec<Ev>,
    error: Option<String>,
    /// Total bytes handed back through `consumed()`.
    consumed: usize,
}

const BIG: Limits = Limits {
    proto_max_bulk_len: 512 * 1024 * 1024,
    authenticated: true,
};
const SMALL_BULK: Limits = Limits {
    proto_max_bulk_len: 100,
    authenticated: true,
};
const UNAUTH: Limits = Limits {
    proto_max_bulk_len: 512 * 1024 * 1024,
    authenticated: false,
};
const LIMIT_SETS: [Limits; 3] = [BIG, SMALL_BULK, UNAUTH];

/// Redis 7's protocol error texts (networking.c).
fn is_redis_protocol_error(e: &str) -> bool {
    const FIXED: &[&str] = &[
        "Protocol error: too big mbulk count string",
        "Protocol error: invalid multibulk length",
        "Protocol error: unauthenticated multibulk length",
        "Protocol error: too big bulk count string",
        "Protocol error: invalid bulk length",
        "Protocol error: unauthenticated bulk length",
        "Protocol error: too big inline request",
        "Protocol error: unbalanced quotes in request",
    ];
    if FIXED.contains(&e) {
        return true;
    }
    // "Protocol error: expected '$', got '%c'": exactly one character.
    e.strip_prefix("Protocol error: expected '$', got '")
        .and_then(|r| r.strip_suffix('\''))
        .is_some_and(|c| c.chars().count() == 1)
}

/// Checks a parser's ranges against the buffer they index, and returns the arguments.
fn read_ranges(ranges: &[(usize, usize)], buf: &[u8], ctx: &dyn Fn() -> String) -> Vec<Vec<u8>> {
    ranges
        .iter()
        .map(|&(a, b)| {
            assert!(
                a <= b && b <= buf.len(),
                "range {a}..{b} out of bounds of a {}-byte buffer; {}",
                buf.len(),
                ctx()
            );
            buf[a..b].to_vec()
        })
        .collect()
}

/// Parses `input` as one read, the way the connection loop would.
fn parse_whole(input: &[u8], limits: &Limits) -> Outcome {
    let ctx = || format!("whole input {}", repr_short(input));
    let mut p = RequestParser::new();
    let mut events = Vec::new();
    let mut error = None;
    let mut last = p.consumed();
    loop {
        match p.parse(input, limits) {
            Ok(Some(req)) => {
                events.push(match req {
                    Request::Multibulk => Ev::Multibulk(read_ranges(p.ranges(), input, &ctx)),
                    Request::Inline(args) => Ev::Inline(args),
                    Request::Empty => Ev::Empty,
                });
                let now = p.consumed();
                assert!(now > last, "a request consumed no bytes; {}", ctx());
                assert!(now <= input.len(), "consumed past the end; {}", ctx());
                last = now;
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(e.0);
                break;
            }
        }
    }
    let consumed = p.consumed();
    assert!(consumed <= input.len(), "consumed past the end; {}", ctx());
    // A big bulk (32 KiB and up) is read into one allocation of its declared
    // size, as Redis does; never more than the largest bulk the limits allow.
    let most = (1usize << 20).max(limits.proto_max_bulk_len as usize + 2);
    assert!(
        p.wanted(input.len()) <= most,
        "wanted() asks for more than a bulk may hold; {}",
        ctx()
    );
    Outcome {
        events,
        error,
        consumed,
    }
}

/// Parses `input` delivered in chunks ending at `cuts`, exactly like
/// connection.rs: append, parse until `Ok(None)`, drain `consumed()`, `shift()`.
/// After a drain, `fresh[i]` replaces the parser by a new one: `consumed()` must
/// be a request boundary, so that must not change anything.
fn parse_chunked(input: &[u8], limits: &Limits, cuts: &[usize], fresh: &[bool]) -> Outcome {
    let ctx = || format!("input {} cut at {cuts:?}", repr_short(input));
    let mut p = RequestParser::new();
    let mut inbuf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut error = None;
    let mut drained = 0;
    let mut start = 0;
    for (i, &end) in cuts.iter().chain(std::iter::once(&input.len())).enumerate() {
        if end < start {
            continue;
        }
        inbuf.extend_from_slice(&input[start..end]);
        start = end;
        let want = p.wanted(inbuf.len());
        // As in parse_whole: at most the largest bulk the limits allow.
        let most = (1usize << 20).max(limits.proto_max_bulk_len as usize + 2);
        assert!(want <= most, "wanted() = {want}; {}", ctx());
        loop {
            match p.parse(&inbuf, limits) {
                Ok(Some(Request::Multibulk)) => {
                    events.push(Ev::Multibulk(read_ranges(p.ranges(), &inbuf, &ctx)))
                }
                Ok(Some(Request::Inline(args))) => events.push(Ev::Inline(args)),
                Ok(Some(Request::Empty)) => events.push(Ev::Empty),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e.0);
                    break;
                }
            }
        }
        let c = p.consumed();
        assert!(
            c <= inbuf.len(),
            "consumed() = {c} > buffered {}; {}",
            inbuf.len(),
            ctx()
        );
        inbuf.drain(..c);
        p.shift(c);
        drained += c;
        if error.is_some() {
            break;
        }
        if fresh.get(i).copied().unwrap_or(false) {
            p = RequestParser::new();
        }
    }
    Outcome {
        events,
        error,
        consumed: drained,
    }
}

/// Encodes one argument for an inline command so that `split_args` gives it back.
fn inline_encode(rng: &mut Rng, arg: &[u8], first: bool) -> Vec<u8> {
    let raw_ok = !arg.is_empty()
        && arg
            .iter()
            .all(|&c| (0x21..=0x7e).contains(&c) && c != b'"' && c != b'\'')
        && !(first && arg[0] == b'*');
    let single_ok = arg
        .iter()
        .all(|&c| (0x20..=0x7e).contains(&c) && c != b'\\')
        || arg.is_empty();
    let how = rng.below(3);
    if raw_ok && how == 0 {
        return arg.to_vec();
    }
    if single_ok && how == 1 {
        let mut out = vec![b'\''];
        for &c in arg {
            if c == b'\'' {
                out.extend_from_slice(b"\\'");
            } else {
                out.push(c);
            }
        }
        out.push(b'\'');
        return out;
    }
    let mut out = vec![b'"'];
    for &c in arg {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e if rng.chance(90) => out.push(c),
            _ => {
                let hex = if rng.chance(50) {
                    format!("\\x{c:02x}")
                } else {
                    format!("\\x{c:02X}")
                };
                out.extend_from_slice(hex.as_bytes());
            }
        }
    }
    out.push(b'"');
    out
}

fn random_payload(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => Vec::new(),
        1 => rng.bytes_in(1, 8),
        2 => rng
            .pick(&[&b"\r\n"[..], b"*1\r\n", b"$3\r\n", b"\"", b"'", b"\\", b" "])
            .to_vec(),
        3 => rng
            .pick(&[&b"GET"[..], b"SET", b"k", b"hello world", b"PING", b"*"])
            .to_vec(),
        4 => {
            let n = rng.range(1, 40);
            (0..n).map(|_| *rng.pick(b"abc *$\r\n\"'\\x0 ")).collect()
        }
        _ => rng.bytes_in(20, 300),
    }
}

/// A stream of requests and, when well-formed, the events it must parse into.
fn gen_stream(rng: &mut Rng) -> (Vec<u8>, Vec<Ev>) {
    let mut out = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..rng.range(1, 8) {
        match rng.below(10) {
            0..=4 => {
                let n = rng.range(0, 6);
                let args: Vec<Vec<u8>> = (0..n).map(|_| random_payload(rng)).collect();
                out.extend_from_slice(format!("*{n}\r\n").as_bytes());
                for a in &args {
                    out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    out.extend_from_slice(a);
                    out.extend_from_slice(b"\r\n");
                }
                expected.push(if n == 0 {
                    Ev::Empty
                } else {
                    Ev::Multibulk(args)
                });
            }
            5..=7 => {
                let n = rng.range(1, 5);
                let args: Vec<Vec<u8>> = (0..n).map(|_| random_payload(rng)).collect();
                for _ in 0..rng.below(3) {
                    out.push(*rng.pick(b" \t"));
                }
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        for _ in 0..rng.range(1, 2) {
                            out.push(*rng.pick(b" \t"));
                        }
                    }
                    let enc = inline_encode(rng, a, i == 0);
                    out.extend_from_slice(&enc);
                }
                if rng.chance(20) {
                    out.push(b' ');
                }
                out.extend_from_slice(if rng.chance(50) { b"\r\n" } else { b"\n" });
                expected.push(Ev::Inline(args));
            }
            8 => {
                let line: &[&[u8]] = &[b"\r\n", b"\n", b"   \r\n", b"\t\n"];
                let l: &&[u8] = rng.pick(line);
                out.extend_from_slice(l);
                expected.push(Ev::Empty);
            }
            _ => {
                let empty: &[&[u8]] = &[b"*0\r\n", b"*-1\r\n", b"*-5\r\n"];
                let e: &&[u8] = rng.pick(empty);
                out.extend_from_slice(e);
                expected.push(Ev::Empty);
            }
        }
    }
    (out, expected)
}

const SNIPPETS: &[&[u8]] = &[
    b"\r\n",
    b"\r",
    b"\n",
    b"*",
    b"$",
    b"*1\r\n",
    b"*3\r\n",
    b"$-1\r\n",
    b"$0\r\n\r\n",
    b"*-1\r\n",
    b"*2147483647\r\n",
    b"*2147483648\r\n",
    b"*9223372036854775807\r\n",
    b"*-9223372036854775808\r\n",
    b"$2147483647\r\n",
    b"$536870912\r\n",
    b"$536870913\r\n",
    b"$99999999999999999999\r\n",
    b"$-9223372036854775808\r\n",
    b"$+5\r\n",
    b"$05\r\n",
    b"$ 5\r\n",
    b"+OK\r\n",
    b":1\r\n",
    b"\"",
    b"'",
    b"\\",
    b"\\x",
    b"\\x4",
    b"\\xzz",
    b"\"\"",
    b"''",
    b" ",
    b"\x00",
    b"\xff",
];

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..rng.range(1, 4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = *rng.pick(b"\r\n*$-0123456789\"'\\ \x00x");
            }
            2 => {
                let i = rng.below(len + 1);
                let s = *rng.pick(SNIPPETS);
                data.splice(i..i, s.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let j = (i + rng.range(1, 8)).min(len);
                data.drain(i..j);
            }
            4 if len > 0 => {
                data.truncate(rng.below(len));
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let j = (i + rng.range(1, 16)).min(len);
                let dup = data[i..j].to_vec();
                let k = rng.below(len + 1);
                data.splice(k..k, dup);
            }
            _ => {
                let i = rng.below(len + 1);
                let junk = rng.bytes_in(1, 4);
                data.splice(i..i, junk);
            }
        }
    }
}

/// Random cut points (sorted, may repeat) and where to swap in a fresh parser.
fn gen_cuts(rng: &mut Rng, len: usize) -> (Vec<usize>, Vec<bool>) {
    let mut cuts: Vec<usize> = match rng.below(4) {
        // every byte on its own
        0 => (1..len).collect(),
        1 => (0..rng.range(1, 4)).map(|_| rng.below(len + 1)).collect(),
        2 => (0..rng.range(1, 20)).map(|_| rng.below(len + 1)).collect(),
        // small random chunks
        _ => {
            let mut v = Vec::new();
            let mut at = 0;
            while at < len {
                at += rng.range(1, 7);
                v.push(at.min(len));
            }
            v
        }
    };
    cuts.sort_unstable();
    let fresh = (0..=cuts.len()).map(|_| rng.chance(20)).collect();
    (cuts, fresh)
}

fn check_stream(rng: &mut Rng, input: &[u8], expected: Option<&[Ev]>) {
    for limits in &LIMIT_SETS {
        let whole = catch(|| parse_whole(input, limits)).unwrap_or_else(|p| {
            panic!(
                "parser panicked on whole input {} (limits {limits:?}): {p}",
                repr_short(input)
            )
        });
        if let Some(e) = &whole.error {
            assert!(
                is_redis_protocol_error(e),
                "not a Redis protocol error: {e:?} for input {}",
                repr_short(input)
            );
        }
        if let (Some(exp), true) = (expected, limits.authenticated) {
            if limits.proto_max_bulk_len >= 512 {
                assert_eq!(
                    whole.error,
                    None,
                    "well-formed input {} gave an error",
                    repr_short(input)
                );
                assert_eq!(
                    whole.events,
                    exp,
                    "well-formed input {} parsed wrong",
                    repr_short(input)
                );
                assert_eq!(
                    whole.consumed,
                    input.len(),
                    "well-formed input not consumed"
                );
            }
        }
        for _ in 0..2 {
            let (cuts, fresh) = gen_cuts(rng, input.len());
            let chunked =
                catch(|| parse_chunked(input, limits, &cuts, &fresh)).unwrap_or_else(|p| {
                    panic!(
                        "parser panicked on input {} cut at {cuts:?} (limits {limits:?}): {p}",
                        repr_short(input)
                    )
                });
            assert_eq!(
                (&chunked.events, &chunked.error),
                (&whole.events, &whole.error),
                "split changed the parse of {} (cuts {cuts:?}, fresh parser after {fresh:?}, limits {limits:?})",
                repr_short(input)
            );
            if whole.error.is_none() {
                assert_eq!(
                    chunked.consumed,
                    whole.consumed,
                    "split changed consumed() of {} (cuts {cuts:?})",
                    repr_short(input)
                );
            }
        }
    }
}

#[test]
fn resp_parser_streams_split_anywhere_parse_the_same() {
    let started = Instant::now();
    let dog = Watchdog::new("resp parser");
    let mut streams = 0u64;
    for seed in seeds(1, 20) {
        let mut rng = Rng::new(seed);
        for _ in 0..200 {
            let (mut input, expected) = gen_stream(&mut rng);
            dog.working_on(|| format!("parser input {}", repr_short(&input)));
            if rng.chance(50) {
                mutate(&mut rng, &mut input);
                check_stream(&mut rng, &input, None);
            } else {
                check_stream(&mut rng, &input, Some(&expected));
            }
            streams += 1;
        }
    }
    eprintln!(
        "resp parser: {streams} streams x {} limit sets x 3 splits in {:?}",
        LIMIT_SETS.len(),
        started.elapsed()
    );
}

/// Oversized and hostile headers: no panic, no huge allocation, Redis's errors.
#[test]
fn resp_parser_hostile_lengths() {
    let dog = Watchdog::new("resp parser hostile");
    let long_digits = |n: usize| -> Vec<u8> { std::iter::repeat_n(b'9', n).collect() };
    let mut cases: Vec<Vec<u8>> = vec![
        b"*2147483647\r\n".to_vec(),
        b"*2147483647\r\n$3\r\nGET\r\n".to_vec(),
        b"*2147483648\r\n".to_vec(),
        b"*-2147483649\r\n".to_vec(),
        b"*1\r\n$536870912\r\n".to_vec(),
        b"*1\r\n$536870913\r\n".to_vec(),
        b"*1\r\n$9223372036854775807\r\n".to_vec(),
        b"*1\r\n$-1\r\n".to_vec(),
        b"*1\r\n$-9223372036854775808\r\n".to_vec(),
        b"*11\r\n".to_vec(),
        b"*1\r\n$16385\r\n".to_vec(),
        b"*1\r\n$16384\r\n".to_vec(),
        b"*1\r\n\r\n".to_vec(),
        b"*1\r\n$\r\n".to_vec(),
        b"*\r\n".to_vec(),
        b"$3\r\nGET\r\n".to_vec(),
        b"\"unbalanced\r\n".to_vec(),
        b"'x'y\r\n".to_vec(),
        b"\"x\"y\r\n".to_vec(),
        b"\"\\x\r\n".to_vec(),
    ];
    let mut star = b"*".to_vec();
    star.extend(long_digits(70 * 1024));
    cases.push(star.clone());
    star.extend_from_slice(b"\r\n");
    cases.push(star);
    let mut dollar = b"*1\r\n$".to_vec();
    dollar.extend(long_digits(70 * 1024));
    cases.push(dollar.clone());
    dollar.extend_from_slice(b"\r\n");
    cases.push(dollar);
    let mut inline = vec![b'a'; 70 * 1024];
    cases.push(inline.clone());
    inline.extend_from_slice(b"\r\n");
    cases.push(inline);
    let mut rng = Rng::new(77 + seed_offset());
    for input in &cases {
        dog.working_on(|| format!("hostile input {}", repr_short(input)));
        for limits in &LIMIT_SETS {
            let whole = catch(|| parse_whole(input, limits))
                .unwrap_or_else(|p| panic!("panic on {}: {p}", repr_short(input)));
            for e in whole.error.iter() {
                assert!(
                    is_redis_protocol_error(e),
                    "{e:?} for {}",
                    repr_short(input)
                );
            }
            // Splitting may turn a long but complete line into "too big" (Redis
            // does the same: the 64 KiB check looks at what is buffered), so
            // only panics, bounds and error texts are checked here.
            // Random chunks up to 8 KiB: byte-at-a-time delivery of a 70 KiB line is
            // quadratic (as in Redis, which rescans the line on every read).
            let mut cuts = Vec::new();
            let mut at = 0;
            while at < input.len() {
                at += rng.range(1, 8192);
                cuts.push(at.min(input.len()));
            }
            let fresh: Vec<bool> = cuts.iter().map(|_| rng.chance(20)).collect();
            let chunked = catch(|| parse_chunked(input, limits, &cuts, &fresh))
                .unwrap_or_else(|p| panic!("panic on {} split: {p}", repr_short(input)));
            for e in chunked.error.iter() {
                assert!(
                    is_redis_protocol_error(e),
                    "{e:?} for {}",
                    repr_short(input)
                );
            }
        }
    }
    // The header alone must not reserve memory for its count.
    let mut p = RequestParser::new();
    assert_eq!(p.parse(b"*2147483647\r\n", &BIG), Ok(None));
    assert_eq!(p.wanted(14), 0);
    let mut p = RequestParser::new();
    assert_eq!(p.parse(b"*1\r\n$536870912\r\n", &BIG), Ok(None));
    // A big bulk's header asks for its declared size at once (one
    // allocation, as Redis's sdsMakeRoomForNonGreedy; pages are touched only
    // as bytes arrive), never more.
    assert!(p.wanted(17) <= 536870912 + 2);
}

/// Redis's sdssplitargs (sds.c), as a model: C-string semantics (the line ends at
/// its first NUL) and C `isspace` (which includes \v). None = unbalanced quotes.
fn model_sdssplitargs(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(n) => &line[..n],
        None => line,
    };
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let isspace = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let hexval = |c: u8| -> u8 { (c as char).to_digit(16).unwrap_or(0) as u8 };
    let mut p = 0;
    let mut out = Vec::new();
    loop {
        while at(p) != 0 && isspace(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(out);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            if inq {
                if at(p) == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    cur.push(hexval(at(p + 2)) * 16 + hexval(at(p + 3)));
                    p += 3;
                } else if at(p) == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if at(p) == b'"' {
                    if at(p + 1) != 0 && !isspace(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if at(p) == 0 {
                    return None;
                } else {
                    cur.push(at(p));
                }
            } else if insq {
                if at(p) == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if at(p) == b'\'' {
                    if at(p + 1) != 0 && !isspace(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if at(p) == 0 {
                    return None;
                } else {
                    cur.push(at(p));
                }
            } else {
                match at(p) {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(cur);
    }
}

#[test]
fn inline_split_args_matches_redis_sdssplitargs() {
    // NUL and \v are left out: Redis stops a line at NUL (C strings) and counts
    // \v as a space; Ember treats NUL as a separator and \v as a character.
    const ALPHABET: &[u8] = b"ab \t\"'\\xX0fF9\r\n\x0c\x07\x7f\xff";
    let mut rng = Rng::new(4242 + seed_offset());
    let n = scaled(20_000);
    for _ in 0..n {
        let len = rng.range(0, 24);
        let line: Vec<u8> = (0..len).map(|_| *rng.pick(ALPHABET)).collect();
        let got = catch(|| split_args(&line))
            .unwrap_or_else(|p| panic!("split_args panicked on {}: {p}", repr(&line)));
        assert_eq!(
            got,
            model_sdssplitargs(&line),
            "split_args disagrees with Redis's sdssplitargs on {}",
            repr(&line)
        );
    }
}

// =============================================================================================
// Part 2: every command's argument parsing
// =============================================================================================

// ---- a strict RESP2/RESP3 reply validator ----------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Null,
    Array(Vec<Frame>),
    Double,
    Bool,
    BigNum,
    Verbatim,
    /// RESP3 map, flattened to 2n frames.
    Map(Vec<Frame>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Resp2,
    Resp3,
    /// The command switched protocols (HELLO, RESET): accept either.
    Either,
}

struct RespReader<'a> {
    buf: &'a [u8],
    pos: usize,
    proto: Proto,
}

impl<'a> RespReader<'a> {
    fn err<T>(&self, what: &str) -> Result<T, String> {
        let from = self.pos.saturating_sub(20);
        let to = (self.pos + 40).min(self.buf.len());
        Err(format!(
            "{what} at byte {} (near {})",
            self.pos,
            repr(&self.buf[from..to])
        ))
    }

    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.buf[self.pos..];
        let Some(cr) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            return self.err("unterminated line");
        };
        if rest[cr] != b'\r' || rest.get(cr + 1) != Some(&b'\n') {
            return self.err("bare CR or LF inside a line");
        }
        self.pos += cr + 2;
        Ok(&rest[..cr])
    }

    fn int_line(&mut self) -> Result<i64, String> {
        let l = self.line()?;
        let s = std::str::from_utf8(l).map_err(|_| format!("non-UTF-8 integer {}", repr(l)))?;
        let v: i64 = s.parse().map_err(|_| format!("bad integer {}", repr(l)))?;
        if v.to_string() != s {
            return Err(format!("non-canonical integer {}", repr(l)));
        }
        Ok(v)
    }

    fn need3(&self, t: u8) -> Result<(), String> {
        if self.proto == Proto::Resp2 {
            return self.err(&format!("RESP3 type '{}' in a RESP2 reply", t as char));
        }
        Ok(())
    }

    fn payload(&mut self, len: i64) -> Result<Vec<u8>, String> {
        let len = len as usize;
        if self.buf.len() - self.pos < len + 2 {
            return self.err("truncated bulk payload");
        }
        let data = self.buf[self.pos..self.pos + len].to_vec();
        if &self.buf[self.pos + len..self.pos + len + 2] != b"\r\n" {
            self.pos += len;
            return self.err("bulk payload not followed by CRLF");
        }
        self.pos += len + 2;
        Ok(data)
    }

    fn frames(&mut self, n: i64, depth: usize) -> Result<Vec<Frame>, String> {
        if n < 0 {
            return self.err("negative aggregate length");
        }
        // Each element takes at least 3 bytes: a lying header fails fast.
        if n as usize > (self.buf.len() - self.pos) / 3 + 1 {
            return self.err("aggregate length larger than the reply");
        }
        (0..n).map(|_| self.frame(depth + 1)).collect()
    }

    fn frame(&mut self, depth: usize) -> Result<Frame, String> {
        if depth > 100 {
            return self.err("replies nested more than 100 deep");
        }
        let Some(&t) = self.buf.get(self.pos) else {
            return self.err("missing reply");
        };
        self.pos += 1;
        match t {
            b'+' => Ok(Frame::Simple(self.line()?.to_vec())),
            b'-' => Ok(Frame::Error(self.line()?.to_vec())),
            b':' => Ok(Frame::Int(self.int_line()?)),
            b'$' => match self.int_line()? {
                -1 if self.proto == Proto::Resp3 => self.err("$-1 in a RESP3 reply (use _)"),
                -1 => Ok(Frame::Null),
                n if n < 0 => self.err("negative bulk length"),
                n => Ok(Frame::Bulk(self.payload(n)?)),
            },
            b'*' => match self.int_line()? {
                -1 if self.proto == Proto::Resp3 => self.err("*-1 in a RESP3 reply (use _)"),
                -1 => Ok(Frame::Null),
                n => Ok(Frame::Array(self.frames(n, depth)?)),
            },
            b'_' => {
                self.need3(t)?;
                if !self.line()?.is_empty() {
                    return self.err("text after _");
                }
                Ok(Frame::Null)
            }
            b',' => {
                self.need3(t)?;
                let l = self.line()?;
                let ok = matches!(l, b"inf" | b"-inf" | b"nan")
                    || std::str::from_utf8(l).is_ok_and(|s| {
                        s.parse::<f64>().is_ok()
                            && !s.contains(|c: char| c.is_alphabetic() && c != 'e' && c != 'E')
                    });
                if !ok {
                    return self.err(&format!("bad double {}", repr(l)));
                }
                Ok(Frame::Double)
            }
            b'#' => {
                self.need3(t)?;
                match self.line()? {
                    b"t" | b"f" => Ok(Frame::Bool),
                    l => self.err(&format!("bad boolean {}", repr(l))),
                }
            }
            b'(' => {
                self.need3(t)?;
                let l = self.line()?;
                let digits = l.strip_prefix(b"-").unwrap_or(l);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return self.err(&format!("bad big number {}", repr(l)));
                }
                Ok(Frame::BigNum)
            }
            b'!' => {
                self.need3(t)?;
                let n = self.int_line()?;
                if n < 0 {
                    return self.err("negative blob error length");
                }
                Ok(Frame::Error(self.payload(n)?))
            }
            b'=' => {
                self.need3(t)?;
                let n = self.int_line()?;
                if n < 4 {
                    return self.err("verbatim string shorter than its format");
                }
                let data = self.payload(n)?;
                if data[3] != b':' {
                    return self.err("verbatim string without a 3-letter format");
                }
                Ok(Frame::Verbatim)
            }
            b'%' => {
                self.need3(t)?;
                let n = self.int_line()?;
                Ok(Frame::Map(self.frames(n.saturating_mul(2), depth)?))
            }
            b'~' => {
                self.need3(t)?;
                let n = self.int_line()?;
                Ok(Frame::Set(self.frames(n, depth)?))
            }
            b'>' => {
                self.need3(t)?;
                let n = self.int_line()?;
                Ok(Frame::Push(self.frames(n, depth)?))
            }
            b'|' => {
                self.need3(t)?;
                let n = self.int_line()?;
                self.frames(n.saturating_mul(2), depth)?;
                self.frame(depth + 1)
            }
            _ => {
                self.pos -= 1;
                self.err(&format!("unknown reply type byte {}", repr(&[t])))
            }
        }
    }
}

/// Every complete reply in `buf`; an error if anything is malformed or left over.
fn parse_replies(buf: &[u8], proto: Proto) -> Result<Vec<Frame>, String> {
    let mut r = RespReader { buf, pos: 0, proto };
    let mut out = Vec::new();
    while r.pos < buf.len() {
        out.push(r.frame(0)?);
    }
    Ok(out)
}

/// EXEC refused by the dispatcher before it runs (NOAUTH, subscribed context):
/// Redis's rejectCommand turns any refusal of EXEC into EXECABORT, inside
/// MULTI or not.
fn rejected_exec(e: &[u8]) -> bool {
    e.starts_with(b"EXECABORT Transaction discarded because of: ")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Redis error replies start with an upper-case code: "ERR ...", "WRONGTYPE ...".
fn check_error_codes(f: &Frame) -> Result<(), String> {
    match f {
        Frame::Error(text) => {
            let code_len = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
            let code = &text[..code_len];
            if code.is_empty() || !code.iter().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "error reply without an upper-case code: {}",
                    repr(text)
                ));
            }
            Ok(())
        }
        Frame::Array(v) | Frame::Map(v) | Frame::Set(v) | Frame::Push(v) => {
            v.iter().try_for_each(check_error_codes)
        }
        _ => Ok(()),
    }
}

// ---- the dictionary ---------------------------------------------------------------------------

const OPTIONS: &[&str] = &[
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "PERSIST",
    "COUNT",
    "MATCH",
    "TYPE",
    "LEN",
    "IDX",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "REPLACE",
    "DB",
    "ASYNC",
    "SYNC",
    "ID",
    "ADDR",
    "LADDR",
    "USER",
    "SKIPME",
    "MAXAGE",
    "yes",
    "no",
    "ABORT",
    "NOW",
    "FORCE",
    "NOSAVE",
    "SAVE",
    "AUTH",
    "SETNAME",
    "default",
    "WITHSCORES",
    "LIMIT",
    "BY",
    "ASC",
    "DESC",
    "ALPHA",
    "STORE",
    "BYSCORE",
    "BYLEX",
    "REV",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "FILTERBY",
    "MODULE",
    "ACLCAT",
    "PATTERN",
    "string",
    "hash",
    "list",
    "set",
    "zset",
    "stream",
    "none",
    "normal",
    "master",
    "replica",
    "slave",
    "pubsub",
    "ON",
    "OFF",
    "SKIP",
    "HELP",
    "INFO",
    "DOCS",
    "GETKEYS",
    "ALL",
    "everything",
    "default",
    "ENCODING",
    "REFCOUNT",
    "IDLETIME",
    "FREQ",
    "NOVALUES",
    "FIELDS",
    "INCR",
    "BLOCK",
    "STREAMS",
    "server",
    "clients",
    "memory",
    "stats",
    "keyspace",
    "commandstats",
    "cpu",
    "persistence",
    "replication",
    "errorstats",
    "-",
    "+",
    "(",
    "[",
    "(1",
    "[a",
    "MAXLEN",
    "MINID",
    "~",
    "=",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "RANK",
    "MAXLEN",
    "FLUSH",
    "LOAD",
    "KILL",
    "RESET",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "3",
    "5",
    "10",
    "15",
    "16",
    "100",
    "1000",
    "-100",
    "-2",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
    "-9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999",
    "18446744073709551615",
    "1.5",
    "-1.5",
    "0.5",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "-nan",
    "1e308",
    "-1e308",
    "1e309",
    "1e-308",
    "5e-324",
    "0.0",
    "-0",
    "-0.0",
    "+1",
    "01",
    "00",
    " 1",
    "1 ",
    "0x10",
    "1e3",
    "1E3",
    "4294967295",
    "4294967296",
    "536870912",
    "2147483647",
    "2147483648",
    "-2147483648",
    ".5",
    "5.",
    "3.0000000000000001",
    "1_000",
    "17976931348623157e292",
    "9223372036854775807.5",
];

/// Keys the fixture seeds (see [`Fixture::reseed`]), plus a few that never exist.
const KEYS: &[&str] = &[
    "k:str", "k:int", "k:neg", "k:float", "k:big", "k:empty", "k:ttl", "k:pttl", "k:short",
    "k:bin", "k:maxint", "k:hash", "k:list", "k:set", "k:zset", "k:zlex", "k:stream", "k:hll",
    "k:none", "k:new", "{k}a",
];

const GLOBS: &[&[u8]] = &[
    b"*",
    b"?",
    b"[",
    b"]",
    b"[a-z]",
    b"[^a]",
    b"[!a]",
    b"\\",
    b"\\*",
    b"[\\",
    b"*[",
    b"k:*",
    b"*str*",
    b"[a-",
    b"[]",
    b"[^]",
    b"k?str",
    b"*?*?*?*?*?*?*?*?*?*?x",
    b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
    b"[[[[[[[[",
    b"\\\\\\",
    b"*\\",
    b"[z-a]",
    b"k:[s-t]*",
    b"\xff*",
    b"[\\]]",
    b"[a-\\",
];

const DIRECTIVES: &[&str] = &[
    "maxmemory",
    "hz",
    "timeout",
    "save",
    "loglevel",
    "maxmemory-policy",
    "appendonly",
    "dir",
    "notify-keyspace-events",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "databases",
    // Not `port` or `bind`: CONFIG SET of them re-binds the listeners (as
    // in Redis 7), and the fuzzer must be able to reconnect.
    "requirepass",
    "maxclients",
    "lua-time-limit",
    "busy-reply-threshold",
    "enable-protected-configs",
    "*",
    "max*",
    "appendfsync",
    "dbfilename",
    "tcp-keepalive",
    "client-output-buffer-limit",
    "logfile",
    "daemonize",
    "slowlog-log-slower-than",
];

const MISC: &[&[u8]] = &[
    b"127.0.0.1:40000", // the fuzzing client's own address
    b"127.0.0.1:40001", // the seeding client's address
    b"127.0.0.1:1",
    b"[::1]:6379",
    b"1.2.3.4",
    b"localhost:0",
    b"myname",
    b"bad name",
    b"\x00",
    b"\r\n",
    b"a\r\nb",
    b"\xff\xfe",
    b"\xc3\x28",
    b"%s%n%x",
    b"'",
    b"\"",
    b"nopass",
    b">secret",
];

/// What the argument generator draws from, built once per fixture.
struct Dictionary {
    names: Vec<String>,
}

impl Dictionary {
    fn new(srv: &Server) -> Dictionary {
        let mut names = Vec::new();
        for c in srv.commands.all() {
            names.push(c.spec.name.to_string());
            for s in c.subcommands.values() {
                names.push(s.spec.name.to_string());
            }
        }
        names.sort();
        names.dedup();
        Dictionary { names }
    }

    fn arg(&self, rng: &mut Rng) -> Vec<u8> {
        let r = rng.below(100);
        let mut v = match r {
            0..=37 => rng.pick(OPTIONS).as_bytes().to_vec(),
            38..=52 => rng.pick(KEYS).as_bytes().to_vec(),
            53..=67 => rng.pick(NUMBERS).as_bytes().to_vec(),
            68..=73 => {
                let n: i64 = match rng.below(5) {
                    0 => rng.range(0, 40) as i64 - 20,
                    1 => rng.next() as i64,
                    2 => *rng.pick(&[i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1]),
                    3 => edge_number(rng),
                    _ => (rng.next() % 100_000) as i64,
                };
                n.to_string().into_bytes()
            }
            74..=76 => {
                let f = f64::from_bits(rng.next());
                let s = match rng.below(3) {
                    0 => format!("{f}"),
                    1 => format!("{:e}", (rng.next() % 10_000) as f64 / 7.0),
                    _ => format!("{}", (rng.next() % 1000) as f64 / 8.0 - 60.0),
                };
                s.into_bytes()
            }
            77..=82 => rng.bytes_in(0, 16),
            83..=84 => {
                if rng.chance(50) {
                    vec![b'x'; rng.range(100, 400)]
                } else {
                    rng.bytes_in(100, 400)
                }
            }
            85..=88 => {
                if rng.chance(70) {
                    rng.pick(GLOBS).to_vec()
                } else {
                    (0..rng.range(1, 12))
                        .map(|_| *rng.pick(b"*?[]\\^-!ak:"))
                        .collect()
                }
            }
            89..=92 => rng.pick(&self.names).as_bytes().to_vec(),
            93..=95 => rng.pick(DIRECTIVES).as_bytes().to_vec(),
            96..=98 => rng.pick(MISC).to_vec(),
            _ => Vec::new(),
        };
        if rng.chance(20) {
            random_case(rng, &mut v);
        }
        if rng.chance(3) && !v.is_empty() {
            // a near-miss of a good token
            match rng.below(3) {
                0 => {
                    v.pop();
                }
                1 => v.push(*rng.pick(b"x0 \x00")),
                _ => v.insert(0, *rng.pick(b"+-0 ")),
            }
        }
        v
    }
}

/// Integers near the edges where arithmetic on them overflows: i64's limits,
/// the seconds/milliseconds conversions (x1000, /1000, +500), and the current
/// time added to or subtracted from them (relative and absolute TTLs).
fn edge_number(rng: &mut Rng) -> i64 {
    let now_ms = commands::unix_ms();
    let base = *rng.pick(&[
        i64::MAX,
        i64::MIN,
        i64::MAX / 1000,
        i64::MIN / 1000,
        i64::MAX - now_ms,
        (i64::MAX - now_ms) / 1000,
        i64::MIN + now_ms,
        now_ms,
        now_ms / 1000,
        -now_ms,
        i64::MAX - 500,
        i32::MAX as i64,
        u32::MAX as i64,
        512 * 1024 * 1024,
        512 * 1024 * 1024 * 8,
        FUZZ_MAX_BULK as i64,
        FUZZ_MAX_BULK as i64 * 8,
    ]);
    let delta = rng.range(0, 2000) as i64 - 1000;
    match rng.below(3) {
        0 => base,
        1 => base.saturating_add(rng.range(0, 4) as i64 - 2),
        _ => base.saturating_add(delta),
    }
}

fn random_case(rng: &mut Rng, v: &mut [u8]) {
    match rng.below(3) {
        0 => v.make_ascii_lowercase(),
        1 => v.make_ascii_uppercase(),
        _ => {
            for c in v.iter_mut() {
                if rng.chance(50) {
                    *c = c.to_ascii_uppercase();
                } else {
                    *c = c.to_ascii_lowercase();
                }
            }
        }
    }
}

// ---- targets ---------------------------------------------------------------------------------

/// Commands no fuzzer may run: they end or detach the process, block, or are
/// self-tests that take tens of seconds in a debug build (PFSELFTEST).
const SKIP: &[&str] = &[
    "shutdown",
    "pfselftest",
    "debug",
    "monitor",
    "sync",
    "psync",
    "replicaof",
    "slaveof",
    "failover",
    "wait",
    "waitaof",
    // The next EVAL becomes a Lua debugging session, which ends the connection.
    "script|debug",
    // Change what every later command replies (nothing, or not until the
    // pause ends): tests/tracking.rs covers them.
    "client|reply",
    "client|pause",
];

/// Commands that may answer with other than exactly one reply.
const MULTI_REPLY: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
];

/// One thing to fuzz: a command, a subcommand, or a container called with no
/// or an unknown subcommand.
struct Target {
    /// ["config", "set"]
    words: Vec<String>,
    arity: i32,
    blocking: bool,
    /// A container (has subcommands): called with random arguments.
    container: bool,
    /// The documented synopsis ("key value [NX | XX] ..."), parsed.
    syntax: Vec<Vec<Syn>>,
    group: Group,
}

fn targets(srv: &Server) -> Vec<Target> {
    let mut out = Vec::new();
    for c in srv.commands.all() {
        if SKIP.contains(&c.spec.name) {
            continue;
        }
        out.push(Target {
            words: vec![c.spec.name.to_string()],
            arity: c.spec.arity,
            blocking: c.spec.has(flags::BLOCKING),
            container: !c.subcommands.is_empty(),
            syntax: parse_syntax(c.spec.syntax),
            group: c.spec.group,
        });
        let mut subs: Vec<&Arc<Command>> = c.subcommands.values().collect();
        subs.sort_by_key(|s| s.spec.name);
        for s in subs {
            if SKIP.contains(&format!("{}|{}", c.spec.name, s.spec.name).as_str()) {
                continue;
            }
            out.push(Target {
                words: vec![c.spec.name.to_string(), s.spec.name.to_string()],
                arity: s.spec.arity,
                blocking: s.spec.has(flags::BLOCKING),
                container: false,
                syntax: parse_syntax(s.spec.syntax),
                group: c.spec.group,
            });
        }
    }
    out
}

thread_local! {
    /// Keys holding the type the command being generated works on.
    static PREFERRED_KEYS: Cell<&'static [&'static str]> = const { Cell::new(&[]) };
}

/// Keys of each value type the fixture seeds, by command group.
fn keys_for(group: Group) -> &'static [&'static str] {
    match group {
        Group::Hash => &["k:hash"],
        Group::List => &["k:list"],
        Group::Set => &["k:set"],
        Group::SortedSet => &["k:zset", "k:zlex"],
        Group::Stream => &["k:stream"],
        Group::HyperLogLog => &["k:hll"],
        Group::String | Group::Bitmap => &["k:str", "k:int", "k:big", "k:empty", "k:ttl"],
        _ => &[],
    }
}

/// A key: usually one holding the type the command works on, else any.
fn typed_key(rng: &mut Rng) -> Vec<u8> {
    let preferred = PREFERRED_KEYS.with(|p| p.get());
    if !preferred.is_empty() && rng.chance(60) {
        rng.pick(preferred).as_bytes().to_vec()
    } else {
        rng.pick(KEYS).as_bytes().to_vec()
    }
}

/// A random argv for `t` (or for an unknown command when `t` is None).
fn gen_argv(rng: &mut Rng, dict: &Dictionary, srv: &Server, t: Option<&Target>) -> Vec<Vec<u8>> {
    let Some(t) = t else {
        // Unknown commands: garbage names, overlong names, names with CR/LF/NUL.
        let mut name = match rng.below(4) {
            0 => rng.bytes_in(0, 12),
            1 => vec![b'x'; rng.range(30, 300)],
            2 => b"get\r\nset".to_vec(),
            _ => {
                let mut n = rng.pick(&dict.names).as_bytes().to_vec();
                n.push(*rng.pick(b"x\x00 |"));
                n
            }
        };
        random_case(rng, &mut name);
        let mut argv = vec![name];
        for _ in 0..rng.range(0, 8) {
            argv.push(dict.arg(rng));
        }
        return argv;
    };
    PREFERRED_KEYS.with(|p| p.set(keys_for(t.group)));
    let mut argv: Vec<Vec<u8>> = t
        .words
        .iter()
        .map(|w| {
            let mut b = w.as_bytes().to_vec();
            if rng.chance(50) {
                random_case(rng, &mut b);
            }
            b
        })
        .collect();
    let prefix = argv.len();
    if !t.container && !t.syntax.is_empty() && rng.chance(50) {
        // Follow the documented synopsis, with an occasional mutation.
        expand_syntax(rng, dict, &t.syntax, &mut argv);
        if rng.chance(15) && argv.len() > prefix {
            let i = rng.range(prefix, argv.len() - 1);
            match rng.below(3) {
                0 => argv[i] = dict.arg(rng),
                1 => {
                    argv.remove(i);
                }
                _ => {
                    let dup = argv[i].clone();
                    argv.insert(i, dup);
                }
            }
        }
        return argv;
    }
    let extra = if !t.container && rng.chance(70) {
        // An argument count that passes the arity check.
        if t.arity >= 0 {
            (t.arity as usize).saturating_sub(prefix)
        } else {
            ((-t.arity) as usize).saturating_sub(prefix) + rng.range(0, 6)
        }
    } else {
        rng.range(0, 8)
    };
    for _ in 0..extra {
        argv.push(dict.arg(rng));
    }
    // Key positions get real keys most of the time.
    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    if let Some(cmd) = lookup(srv, &refs) {
        for i in cmd.spec.key_indexes(&refs) {
            if i >= prefix && i < argv.len() && rng.chance(70) {
                argv[i] = typed_key(rng);
            }
        }
    }
    argv
}

/// One element of a command synopsis as COMMAND DOCS writes it.
#[derive(Debug, Clone)]
enum Syn {
    /// An upper-case literal (NX, EX) or a lower-case placeholder (key, seconds).
    Word(String),
    /// `[ ... ]`: alternatives, all optional.
    Optional(Vec<Vec<Syn>>),
    /// `< ... >`: alternatives, one required.
    Group(Vec<Vec<Syn>>),
    /// `x ...`: x once or more.
    Repeat(Box<Syn>),
}

/// Parses "key value [NX | XX] [EX seconds | PX milliseconds]" into alternatives of sequences.
fn parse_syntax(text: &str) -> Vec<Vec<Syn>> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || "[]<>|".contains(c) {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    // Inside [ ] and < >, `|` separates sequences ("EX seconds | PX
    // milliseconds"); at the top level it separates single items ("source
    // destination LEFT | RIGHT LEFT | RIGHT").
    fn alts(tokens: &[String], i: &mut usize, top: bool) -> Vec<Vec<Syn>> {
        let mut out = vec![Vec::new()];
        let mut pending_choice = false;
        while *i < tokens.len() {
            let t = tokens[*i].as_str();
            *i += 1;
            if top && pending_choice && t != "|" && t != "..." {
                // The item just pushed is the right side of `a | b`.
                let seq = out.last_mut().unwrap();
                let before = seq.len();
                *i -= 1;
                let mut one = alts_item(tokens, i);
                if let (Some(right), true) = (one.pop(), before >= 1) {
                    let left = seq.pop().unwrap();
                    let choice = match left {
                        Syn::Group(mut g) if g.iter().all(|a| a.len() == 1) => {
                            g.push(vec![right]);
                            Syn::Group(g)
                        }
                        left => Syn::Group(vec![vec![left], vec![right]]),
                    };
                    seq.push(choice);
                }
                pending_choice = false;
                continue;
            }
            match t {
                "]" | ">" => break,
                "|" if top => pending_choice = true,
                "|" => out.push(Vec::new()),
                "[" => {
                    let inner = alts(tokens, i, false);
                    out.last_mut().unwrap().push(Syn::Optional(inner));
                }
                "<" => {
                    let inner = alts(tokens, i, false);
                    out.last_mut().unwrap().push(Syn::Group(inner));
                }
                "..." => {
                    let seq = out.last_mut().unwrap();
                    if let Some(prev) = seq.pop() {
                        seq.push(Syn::Repeat(Box::new(prev)));
                    }
                }
                w => out.last_mut().unwrap().push(Syn::Word(w.to_string())),
            }
        }
        out
    }
    /// One item (a word or a bracketed part) at `tokens[*i]`.
    fn alts_item(tokens: &[String], i: &mut usize) -> Vec<Syn> {
        let t = tokens[*i].as_str();
        *i += 1;
        match t {
            "[" => vec![Syn::Optional(alts(tokens, i, false))],
            "<" => vec![Syn::Group(alts(tokens, i, false))],
            w => vec![Syn::Word(w.to_string())],
        }
    }
    let mut i = 0;
    let parsed = alts(&tokens, &mut i, true);
    if parsed.len() == 1 && parsed[0].is_empty() {
        Vec::new()
    } else {
        parsed
    }
}

fn expand_syntax(rng: &mut Rng, dict: &Dictionary, alts: &[Vec<Syn>], out: &mut Vec<Vec<u8>>) {
    fn item(rng: &mut Rng, dict: &Dictionary, s: &Syn, out: &mut Vec<Vec<u8>>) {
        match s {
            Syn::Word(w) => out.push(placeholder(rng, dict, w)),
            Syn::Optional(a) => {
                if rng.chance(50) {
                    expand_syntax(rng, dict, a, out);
                }
            }
            Syn::Group(a) => expand_syntax(rng, dict, a, out),
            Syn::Repeat(x) => {
                for _ in 0..rng.range(1, 4) {
                    item(rng, dict, x, out);
                }
            }
        }
    }
    if alts.is_empty() {
        return;
    }
    let seq = rng.pick(alts);
    let mut j = 0;
    while j < seq.len() {
        // "numkeys key [key ...]": usually as many keys as numkeys says.
        if let (Syn::Word(w), Some(Syn::Word(_)), Some(Syn::Optional(_))) =
            (&seq[j], seq.get(j + 1), seq.get(j + 2))
        {
            if w == "numkeys" && rng.chance(80) {
                let n = rng.range(1, 4);
                out.push(n.to_string().into_bytes());
                for _ in 0..n {
                    out.push(typed_key(rng));
                }
                j += 3;
                continue;
            }
        }
        item(rng, dict, &seq[j], out);
        j += 1;
    }
}

const INFO_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "latencystats",
    "keyspace",
    "all",
    "default",
    "everything",
    "modules",
    "nosuch",
];

/// A value for one word of a synopsis: literals as written (sometimes in
/// another case), placeholders from the matching part of the dictionary.
fn placeholder(rng: &mut Rng, dict: &Dictionary, word: &str) -> Vec<u8> {
    if rng.chance(5) {
        return dict.arg(rng);
    }
    let is_literal = word
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if is_literal {
        let mut w = word.as_bytes().to_vec();
        if rng.chance(30) {
            random_case(rng, &mut w);
        }
        return w;
    }
    let small_int = |rng: &mut Rng| -> Vec<u8> {
        match rng.below(12) {
            0..=5 => (rng.range(0, 30) as i64 - 5).to_string().into_bytes(),
            6 => (rng.next() % 100_000).to_string().into_bytes(),
            7 => (rng.next() as i64).to_string().into_bytes(),
            8 | 9 => edge_number(rng).to_string().into_bytes(),
            _ => rng.pick(NUMBERS).as_bytes().to_vec(),
        }
    };
    let w = word.to_ascii_lowercase();
    match w.as_str() {
        "key" | "key1" | "key2" | "newkey" | "source" | "destination" => typed_key(rng),
        "pattern" => {
            if rng.chance(60) {
                rng.pick(GLOBS).to_vec()
            } else {
                rng.pick(KEYS).as_bytes().to_vec()
            }
        }
        "section" => rng.pick(INFO_SECTIONS).as_bytes().to_vec(),
        "parameter" => {
            if rng.chance(80) {
                rng.pick(DIRECTIVES).as_bytes().to_vec()
            } else {
                rng.pick(GLOBS).to_vec()
            }
        }
        "command" | "command-name" => rng.pick(&dict.names).as_bytes().to_vec(),
        "type" => rng
            .pick(&[
                "string", "hash", "list", "set", "zset", "stream", "none", "STRING",
            ])
            .as_bytes()
            .to_vec(),
        "protover" => rng
            .pick(&["2", "3", "1", "4", "-1", "3.0"])
            .as_bytes()
            .to_vec(),
        "ip:port" => rng.pick(MISC[..6].as_ref()).to_vec(),
        "dst" | "src" => typed_key(rng),
        "min" | "max" => rng
            .pick(&[
                "-", "+", "[a", "(b", "[", "(", "-inf", "+inf", "(1", "1", "0", "2.5", "(-inf", "a",
            ])
            .as_bytes()
            .to_vec(),
        "id" | "lastid" | "threshold" => rng
            .pick(&[
                "0",
                "0-0",
                "1-1",
                "1-0",
                "*",
                "$",
                ">",
                "-",
                "+",
                "1",
                "2-*",
                "9-9",
                "18446744073709551615-18446744073709551615",
                "18446744073709551616-0",
                "1-",
                "-1",
            ])
            .as_bytes()
            .to_vec(),
        "group" | "groupname" => rng.pick(&["g1", "g2", "nogroup"]).as_bytes().to_vec(),
        "consumer" | "consumername" => rng.pick(&["c1", "c2", ""]).as_bytes().to_vec(),
        "field" | "member" | "element" | "pivot" => rng
            .pick(&["a", "b", "f", "n", "1", "zz", ""])
            .as_bytes()
            .to_vec(),
        "score" | "weight" => rng
            .pick(&[
                "0", "1", "-1", "1.5", "inf", "-inf", "+inf", "nan", "1e308", "(1", "x",
            ])
            .as_bytes()
            .to_vec(),
        "bit" => rng.pick(&["0", "1", "2", "-1"]).as_bytes().to_vec(),
        "channel" | "shardchannel" => rng.pick(&["c", "d", "k:str"]).as_bytes().to_vec(),
        "increment" | "decrement" if rng.chance(30) => {
            format!("{}", (rng.next() % 2000) as f64 / 16.0 - 60.0).into_bytes()
        }
        w if w.contains("second")
            || w.contains("time")
            || w.contains("index")
            || w.contains("db")
            || w.contains("len")
            || w.contains("id")
            || matches!(
                w,
                "offset"
                    | "start"
                    | "end"
                    | "stop"
                    | "count"
                    | "cursor"
                    | "increment"
                    | "decrement"
                    | "limit"
                    | "rank"
                    | "num-matches"
                    | "numkeys"
                    | "timeout"
            ) =>
        {
            small_int(rng)
        }
        "value" | "message" => {
            if rng.chance(50) {
                small_int(rng)
            } else {
                dict.arg(rng)
            }
        }
        _ => dict.arg(rng),
    }
}

/// The command `execute` would resolve argv to (None for unknown ones).
fn lookup<'a>(srv: &'a Server, argv: &[&[u8]]) -> Option<&'a Arc<Command>> {
    let cmd = srv.commands.get(argv.first()?)?;
    if cmd.subcommands.is_empty() || argv.len() < 2 {
        return Some(cmd);
    }
    cmd.subcommands.get(&argv[1].to_ascii_lowercase())
}

// ---- the fixture: a server, a seeding client and a fuzzing client --------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Resp2,
    Resp3,
    Multi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Fuzz,
    Seeder,
}

#[derive(Clone, Debug)]
struct Problem {
    /// What de-duplicates problems: kind, command and panic location or error class.
    sig: String,
    detail: String,
}

struct Fixture {
    srv: Arc<Server>,
    base_config: Config,
    fuzz: Client,
    out: Out,
    seeder: Client,
    seeder_out: Out,
    mode: Mode,
    /// Steps since the last reseed: enough to replay the state of a failure.
    history: Vec<(Who, Vec<Vec<u8>>)>,
    /// How long the last step's command took.
    last_elapsed: Duration,
    expire_cursor: ember::store::expire::Cursor,
}

/// proto-max-bulk-len for the fuzzed server (Redis's minimum, 1 MiB): it caps
/// the strings SETRANGE/APPEND/SETBIT may build, so a valid `SETBIT k
/// 4294967295 1` is refused instead of allocating 512 MiB (slow in a debug
/// build, and several at once would exhaust memory).
const FUZZ_MAX_BULK: u64 = 1024 * 1024;

fn base_config() -> Config {
    let mut cfg = Config::default();
    let _ = cfg.set(&[(b"loglevel".as_slice(), b"nothing".as_slice())]);
    let _ = cfg.set(&[(b"proto-max-bulk-len".as_slice(), b"1mb".as_slice())]);
    assert_eq!(cfg.proto_max_bulk_len, FUZZ_MAX_BULK);
    cfg
}

impl Fixture {
    fn new(mode: Mode) -> Fixture {
        let cfg = base_config();
        let _ = ember::log::configure(&cfg.loglevel, "");
        let srv = Server::new(cfg.clone(), None);
        let addr = "127.0.0.1:40000".parse().unwrap();
        let seeder_addr = "127.0.0.1:40001".parse().unwrap();
        let laddr = "127.0.0.1:6379".parse().unwrap();
        let fuzz = Client::new(srv.clients.register(addr, laddr, 10), true);
        let seeder = Client::new(srv.clients.register(seeder_addr, laddr, 11), true);
        let mut f = Fixture {
            srv,
            base_config: cfg,
            fuzz,
            out: Out::new(false),
            seeder,
            seeder_out: Out::new(false),
            mode,
            history: Vec::new(),
            last_elapsed: Duration::ZERO,
            expire_cursor: Default::default(),
        };
        f.reseed();
        f
    }

    /// Back to a known state: base config, fresh clients' state, seeded keys.
    fn reseed(&mut self) {
        *self.srv.config.write() = self.base_config.clone();
        self.srv.config_changed();
        let _ = ember::log::configure(&self.base_config.loglevel, "");
        self.fuzz.close = false;
        self.seeder.close = false;
        self.history.clear();
        let big = vec![b'b'; 300];
        let mut seed: Vec<Vec<&[u8]>> = vec![
            vec![b"RESET"],
            vec![b"FLUSHALL"],
            vec![b"SET", b"k:str", b"hello"],
            vec![b"SET", b"k:int", b"12345"],
            vec![b"SET", b"k:neg", b"-17"],
            vec![b"SET", b"k:maxint", b"9223372036854775806"],
            vec![b"SET", b"k:float", b"3.25"],
            vec![b"SET", b"k:big", &big],
            vec![b"SET", b"k:empty", b""],
            vec![b"SET", b"k:ttl", b"v", b"EX", b"10000"],
            vec![b"SET", b"k:pttl", b"v", b"PX", b"200"],
            vec![b"SET", b"k:short", b"v", b"PX", b"1"],
            vec![b"SET", b"k:bin", b"\x00\xff\r\n"],
            vec![b"SET", b"{k}a", b"1"],
            // Other types, once their commands exist (errors are ignored).
            vec![b"HSET", b"k:hash", b"f", b"v", b"n", b"1"],
            vec![b"RPUSH", b"k:list", b"a", b"b", b"1"],
            vec![b"SADD", b"k:set", b"a", b"b", b"1"],
            vec![b"ZADD", b"k:zset", b"1", b"a", b"2", b"b"],
            vec![b"ZADD", b"k:zlex", b"0", b"a", b"0", b"b", b"0", b"c"],
            vec![b"XADD", b"k:stream", b"1-1", b"f", b"v"],
            vec![b"XADD", b"k:stream", b"2-1", b"f", b"w"],
            vec![b"XGROUP", b"CREATE", b"k:stream", b"g1", b"0"],
            vec![
                b"XREADGROUP",
                b"GROUP",
                b"g1",
                b"c1",
                b"COUNT",
                b"1",
                b"STREAMS",
                b"k:stream",
                b">",
            ],
            vec![b"PFADD", b"k:hll", b"a", b"b", b"c"],
            vec![b"SELECT", b"1"],
            vec![b"SET", b"k:str", b"db1"],
            vec![b"SELECT", b"0"],
        ];
        let mut fuzz_setup: Vec<Vec<&[u8]>> = vec![vec![b"RESET"]];
        if self.mode == Mode::Resp3 {
            fuzz_setup.push(vec![b"HELLO", b"3"]);
        }
        for argv in seed.drain(..) {
            let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            if self.srv.commands.get(&argv[0]).is_some() {
                self.raw_exec(Who::Seeder, &argv);
            }
        }
        for argv in fuzz_setup {
            let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            self.raw_exec(Who::Fuzz, &argv);
        }
        self.out.buf.clear();
        self.seeder_out.buf.clear();
        assert_eq!(
            self.out.resp3,
            self.mode == Mode::Resp3,
            "HELLO 3 did not switch"
        );
        // History starts after the seeding: replaying it from reseed() reproduces the state.
    }

    fn raw_exec(&mut self, who: Who, argv: &[Vec<u8>]) {
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let (client, out) = match who {
            Who::Fuzz => (&mut self.fuzz, &mut self.out),
            Who::Seeder => (&mut self.seeder, &mut self.seeder_out),
        };
        let srv = &self.srv;
        if let Err(p) = catch(|| commands::execute(srv, client, out, &refs, commands::unix_ms())) {
            panic!("seeding command {} panicked: {p}", repr_argv(argv));
        }
        out.buf.clear();
    }

    /// Runs one command and checks every property that applies to it.
    fn step(&mut self, who: Who, argv: &[Vec<u8>]) -> Option<Problem> {
        self.history.push((who, argv.to_vec()));
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let resolved = lookup(&self.srv, &refs).cloned();
        let name = match (
            &resolved,
            refs.first().and_then(|n| self.srv.commands.get(n)),
        ) {
            (Some(c), _) => c.full_name.clone(),
            (None, Some(container)) => format!("{}|<unknown>", container.full_name),
            (None, None) => "<unknown>".to_string(),
        };
        let srv = self.srv.clone();
        let (client, out) = match who {
            Who::Fuzz => (&mut self.fuzz, &mut self.out),
            Who::Seeder => (&mut self.seeder, &mut self.seeder_out),
        };
        out.buf.clear();
        let resp3_before = out.resp3;
        let multi_before = client.multi.as_ref().map(|m| (m.queue.len(), m.aborted));
        // What EXEC will run: commands that answer with several replies make
        // EXEC's output more than one reply in Redis too.
        let queued: Vec<String> = client
            .multi
            .as_ref()
            .map(|m| {
                m.queue
                    .iter()
                    .map(|q| format!("{} ({} args)", q.cmd.full_name, q.argv.len()))
                    .collect()
            })
            .unwrap_or_default();
        let queued_multi_reply = client.multi.as_ref().is_some_and(|m| {
            m.queue
                .iter()
                .any(|q| MULTI_REPLY.contains(&q.cmd.full_name.as_str()))
        });
        let started = Instant::now();
        let result = catch(|| commands::execute(&srv, client, out, &refs, commands::unix_ms()));
        self.last_elapsed = started.elapsed();
        if srv.config.read().proto_max_bulk_len > FUZZ_MAX_BULK {
            // CONFIG SET raised it: put the cap back (see FUZZ_MAX_BULK).
            srv.config.write().proto_max_bulk_len = FUZZ_MAX_BULK;
            srv.config_changed();
        }
        if self.last_elapsed > SLOW_COMMAND && std::env::var_os("EMBER_FUZZ_STATS").is_some() {
            eprintln!(
                "slow command ({:?}): {} {}",
                self.last_elapsed,
                repr_argv(argv).chars().take(300).collect::<String>(),
                if name == "exec" {
                    format!("running {queued:?}")
                } else {
                    String::new()
                }
            );
        }
        client.close = false; // QUIT, CLIENT KILL: in-process the "connection" lives on
        let multi_after = client.multi.as_ref().map(|m| m.aborted);
        let problem = |kind: &'static str, class: &str, detail: String| Problem {
            sig: format!("{kind} | {name} | {class}"),
            detail,
        };
        if let Err(p) = result {
            out.buf.clear();
            let loc = panic_location(&p).to_string();
            return Some(problem("panic", &loc, p));
        }
        let proto = match (resp3_before, out.resp3) {
            (false, false) => Proto::Resp2,
            (true, true) => Proto::Resp3,
            _ => Proto::Either,
        };
        let frames = match parse_replies(&out.buf, proto) {
            // RESP3 push frames (a message the client published to itself,
            // a keyspace event it caused) are out of band: not replies.
            Ok(f) if proto == Proto::Resp3 => f
                .into_iter()
                .filter(|f| !matches!(f, Frame::Push(_)))
                .collect(),
            Ok(f) => f,
            Err(e) => {
                let class: String = e
                    .split(" at byte")
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect();
                let detail = format!("{e}; reply bytes {}", repr_short(&out.buf));
                return Some(problem("invalid reply", &class, detail));
            }
        };
        let reply_text = || repr_short(&out.buf);
        let several_ok =
            MULTI_REPLY.contains(&name.as_str()) || (name == "exec" && queued_multi_reply);
        if frames.len() != 1 && !several_ok {
            return Some(problem(
                "invalid reply",
                "reply count",
                format!(
                    "{} replies instead of one: {}",
                    frames.len(),
                    repr_short(&out.buf)
                ),
            ));
        }
        for f in &frames {
            if let Err(e) = check_error_codes(f) {
                return Some(problem("invalid reply", "error code", e));
            }
        }
        let first = frames.first()?;
        // Arity errors come from the dispatcher, with Redis's text.
        if let Some(cmd) = &resolved {
            if !cmd.arity_ok(argv.len()) {
                let want = format!(
                    "ERR wrong number of arguments for '{}' command",
                    cmd.full_name
                );
                // Redis answers EXEC's own rejections with EXECABORT (rejectCommand).
                let exec_abort = cmd.spec.name == "exec"
                    && matches!(first, Frame::Error(e) if e.starts_with(b"EXECABORT")
                        && contains(e, want.trim_start_matches("ERR ").as_bytes()));
                if *first != Frame::Error(want.clone().into_bytes()) && !exec_abort {
                    return Some(problem(
                        "property",
                        "arity error",
                        format!(
                            "argc {} fails arity {}, expected -{want}, got {}",
                            argv.len(),
                            cmd.spec.arity,
                            reply_text()
                        ),
                    ));
                }
            }
        }
        let immediate = matches!(
            resolved.as_ref().map(|c| c.spec.name),
            Some("exec" | "discard" | "multi" | "watch" | "quit" | "reset")
        );
        if let Some((queued, aborted)) = multi_before {
            if !immediate {
                match first {
                    Frame::Simple(s) if s == b"QUEUED" => {}
                    Frame::Error(_) if multi_after == Some(true) => {}
                    _ => {
                        return Some(problem(
                            "property",
                            "inside MULTI",
                            format!(
                                "inside MULTI expected +QUEUED or an error that aborts the transaction, got {} (aborted after: {multi_after:?})",
                                reply_text()
                            ),
                        ))
                    }
                }
            }
            if name == "exec" && resolved.as_ref().is_some_and(|c| c.arity_ok(argv.len())) {
                let ok = match first {
                    Frame::Error(e) if aborted => e.starts_with(b"EXECABORT"),
                    Frame::Error(e) => rejected_exec(e),
                    Frame::Array(v) if !aborted => v.len() == queued,
                    Frame::Null => !aborted,
                    _ => false,
                };
                if !ok {
                    return Some(problem(
                        "property",
                        "EXEC reply",
                        format!(
                            "EXEC with {queued} queued (aborted: {aborted}) answered {}",
                            reply_text()
                        ),
                    ));
                }
            }
        } else if name == "exec"
            && argv.len() == 1
            && *first != Frame::Error(b"ERR EXEC without MULTI".to_vec())
            && !matches!(first, Frame::Error(e) if rejected_exec(e))
        {
            return Some(problem(
                "property",
                "EXEC reply",
                format!("EXEC without MULTI answered {}", reply_text()),
            ));
        }
        None
    }

    /// Occasionally run the active expiry, as the server's cron thread would.
    fn expire_tick(&mut self) {
        ember::store::expire::active_expire_tick(
            &self.srv.store,
            commands::unix_ms(),
            Duration::from_millis(5),
            &mut self.expire_cursor,
            None,
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = catch(|| {
            commands::tx::unwatch_all(&self.srv, &mut self.fuzz);
            commands::tx::unwatch_all(&self.srv, &mut self.seeder);
        });
    }
}

// ---- reproduction and shrinking ---------------------------------------------------------------

type Program = Vec<(Who, Vec<Vec<u8>>)>;

/// Runs `program` on a fresh fixture; the problem its last step raises, if any
/// (a problem raised earlier counts as a different one).
fn replay(mode: Mode, program: &Program) -> Option<Problem> {
    let mut f = Fixture::new(mode);
    let (last, before) = program.split_last()?;
    for (who, argv) in before {
        if f.step(*who, argv).is_some() {
            return None;
        }
    }
    f.step(last.0, &last.1)
}

/// Shrinks a failing program: drops earlier steps, then arguments, then shortens them.
fn shrink(mode: Mode, mut program: Program, sig: &str) -> (Program, bool) {
    let same = |p: &Program| replay(mode, p).is_some_and(|q| q.sig == sig);
    if !same(&program) {
        return (program, false);
    }
    let mut budget = 400;
    // Earlier steps.
    let mut i = 0;
    while i + 1 < program.len() && budget > 0 {
        budget -= 1;
        let mut p = program.clone();
        p.remove(i);
        if same(&p) {
            program = p;
        } else {
            i += 1;
        }
    }
    // Arguments of every step, last step first.
    for s in (0..program.len()).rev() {
        let mut j = program[s].1.len();
        while j > 1 && budget > 0 {
            j -= 1;
            budget -= 1;
            let mut p = program.clone();
            p[s].1.remove(j);
            if same(&p) {
                program = p;
            }
        }
        for j in 1..program[s].1.len() {
            while program[s].1[j].len() > 1 && budget > 0 {
                budget -= 1;
                let mut p = program.clone();
                let half = p[s].1[j].len() / 2;
                p[s].1[j].truncate(half);
                if same(&p) {
                    program = p;
                } else {
                    break;
                }
            }
        }
    }
    (program, true)
}

struct Findings {
    mode: Mode,
    seen: HashSet<String>,
    reports: Vec<String>,
    executed: u64,
    /// Per command: (calls, replies that were not errors, time), for EMBER_FUZZ_STATS=1.
    stats: std::collections::BTreeMap<String, (u64, u64, Duration)>,
}

impl Findings {
    fn new(mode: Mode) -> Findings {
        Findings {
            mode,
            seen: HashSet::new(),
            reports: Vec::new(),
            executed: 0,
            stats: Default::default(),
        }
    }

    fn count(&mut self, f: &Fixture, argv: &[Vec<u8>]) {
        self.executed += 1;
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let name = lookup(&f.srv, &refs)
            .map(|c| c.full_name.clone())
            .unwrap_or_else(|| "<unknown>".into());
        let e = self.stats.entry(name).or_default();
        e.0 += 1;
        if f.out.buf.first() != Some(&b'-') {
            e.1 += 1;
        }
        e.2 += f.last_elapsed;
    }

    fn record(&mut self, p: Problem, history: &Program, seed: u64) {
        if !self.seen.insert(p.sig.clone()) || self.reports.len() >= 40 {
            return;
        }
        let (program, reproduced) = catch(|| shrink(self.mode, history.clone(), &p.sig))
            .unwrap_or_else(|_| (history.clone(), false));
        let mut r = format!(
            "[{:?}] {}\n  detail: {}\n  seed: {seed}\n",
            self.mode, p.sig, p.detail
        );
        r.push_str(if reproduced {
            "  minimal reproduction on a freshly seeded server:\n"
        } else {
            "  did not reproduce on a fresh server (timing?); commands since the last reseed:\n"
        });
        for (who, argv) in &program {
            let tag = if *who == Who::Seeder {
                "(other client) "
            } else {
                ""
            };
            let _ = writeln!(r, "    {tag}{}", repr_argv(argv));
        }
        self.reports.push(r);
    }

    fn finish(self, what: &str, started: Instant) {
        eprintln!(
            "{what}: {} commands executed in {:?}",
            self.executed,
            started.elapsed()
        );
        if std::env::var_os("EMBER_FUZZ_STATS").is_some() {
            for (name, (calls, ok, time)) in &self.stats {
                eprintln!(
                    "  {name:<24} {calls:>8} calls {:>5.1}% not errors {time:>10.1?}",
                    *ok as f64 * 100.0 / *calls as f64
                );
            }
        }
        if !self.reports.is_empty() {
            panic!(
                "{what}: {} problem(s) found:\n\n{}",
                self.reports.len(),
                self.reports.join("\n")
            );
        }
    }
}

// ---- the command fuzzers ------------------------------------------------------------------------

/// Commands each mode aims to run (a few seconds in a debug build)...
const EXECS_PER_MODE: u64 = 130_000;
/// ...but every target gets at least this many argument vectors per mode.
const MIN_ROUNDS: u64 = 600;
const SEEDS_PER_RUN: u64 = 4;

/// Rounds per seed; each round runs every target once, in random order.
fn rounds_per_seed(targets: usize) -> u64 {
    let rounds = (EXECS_PER_MODE / targets.max(1) as u64).max(MIN_ROUNDS);
    scaled(rounds).div_ceil(scaled(SEEDS_PER_RUN))
}
/// Steps between reseeds (this bounds the reproduction programs too).
const RESEED_EVERY: usize = 40;

fn fuzz_plain(mode: Mode, salt: u64) {
    let started = Instant::now();
    let dog = Watchdog::new(if mode == Mode::Resp3 {
        "commands resp3"
    } else {
        "commands resp2"
    });
    let mut findings = Findings::new(mode);
    for seed in seeds(salt, SEEDS_PER_RUN) {
        let mut rng = Rng::new(seed);
        let mut f = Fixture::new(mode);
        let dict = Dictionary::new(&f.srv);
        let targets: Vec<Target> = targets(&f.srv)
            .into_iter()
            .filter(|t| !t.blocking)
            .collect();
        let mut order: Vec<Option<usize>> = (0..targets.len()).map(Some).collect();
        order.push(None); // an unknown command per round
        for _ in 0..rounds_per_seed(order.len()) {
            rng.shuffle(&mut order);
            for &t in &order {
                if f.history.len() >= RESEED_EVERY {
                    f.reseed();
                }
                if rng.chance(3) {
                    f.expire_tick();
                }
                let argv = gen_argv(&mut rng, &dict, &f.srv, t.map(|i| &targets[i]));
                dog.working_on(|| format!("{mode:?} seed {seed}: {}", repr_argv(&argv)));
                let problem = f.step(Who::Fuzz, &argv);
                findings.count(&f, &argv);
                if let Some(p) = problem {
                    let history = f.history.clone();
                    findings.record(p, &history, seed);
                    f.reseed();
                    continue;
                }
                // Keep the protocol the test is about.
                if f.out.resp3 != (mode == Mode::Resp3) {
                    let hello = vec![
                        b"HELLO".to_vec(),
                        if mode == Mode::Resp3 {
                            b"3".to_vec()
                        } else {
                            b"2".to_vec()
                        },
                    ];
                    if let Some(p) = f.step(Who::Fuzz, &hello) {
                        let history = f.history.clone();
                        findings.record(p, &history, seed);
                        f.reseed();
                    }
                }
                // Leave subscribed mode most of the time: in RESP2 it refuses most commands.
                let unsub: Option<&[u8]> = match argv[0].to_ascii_lowercase().as_slice() {
                    b"subscribe" => Some(b"UNSUBSCRIBE"),
                    b"psubscribe" => Some(b"PUNSUBSCRIBE"),
                    b"ssubscribe" => Some(b"SUNSUBSCRIBE"),
                    _ => None,
                };
                if let Some(unsub) = unsub.filter(|_| rng.chance(70)) {
                    if let Some(p) = f.step(Who::Fuzz, &[unsub.to_vec()]) {
                        let history = f.history.clone();
                        findings.record(p, &history, seed);
                        f.reseed();
                    }
                }
                // A transaction opened by the fuzzer is closed again, so this test stays
                // about plain execution (commands_multi covers transactions).
                if f.fuzz.multi.is_some() && rng.chance(50) {
                    let discard = vec![b"DISCARD".to_vec()];
                    if let Some(p) = f.step(Who::Fuzz, &discard) {
                        let history = f.history.clone();
                        findings.record(p, &history, seed);
                        f.reseed();
                    }
                }
            }
        }
    }
    findings.finish(&format!("commands {mode:?}"), started);
}

#[test]
fn commands_resp2_no_panics_and_valid_replies() {
    fuzz_plain(Mode::Resp2, 2);
}

#[test]
fn commands_resp3_no_panics_and_valid_replies() {
    fuzz_plain(Mode::Resp3, 3);
}

#[test]
fn commands_multi_exec_no_panics_and_valid_replies() {
    let mode = Mode::Multi;
    let started = Instant::now();
    let dog = Watchdog::new("commands multi");
    let mut findings = Findings::new(mode);
    for seed in seeds(4, SEEDS_PER_RUN) {
        let mut rng = Rng::new(seed);
        let mut f = Fixture::new(mode);
        let dict = Dictionary::new(&f.srv);
        // Blocking commands do not block inside MULTI, so they are fuzzed here too.
        let targets = targets(&f.srv);
        let mut order: Vec<Option<usize>> = (0..targets.len()).map(Some).collect();
        order.push(None);
        for _ in 0..rounds_per_seed(order.len()) {
            rng.shuffle(&mut order);
            let mut rest = &order[..];
            while !rest.is_empty() {
                let n = rng.range(0, 6).min(rest.len()).max(1);
                let (group, tail) = rest.split_at(n);
                rest = tail;
                if f.history.len() >= RESEED_EVERY {
                    f.reseed();
                }
                if rng.chance(3) {
                    f.expire_tick();
                }
                let mut block: Vec<(Who, Vec<Vec<u8>>)> = Vec::new();
                let watched = rng.chance(25);
                if watched {
                    block.push((
                        Who::Fuzz,
                        vec![b"WATCH".to_vec(), rng.pick(KEYS).as_bytes().to_vec()],
                    ));
                }
                if rng.chance(90) {
                    block.push((Who::Fuzz, vec![b"MULTI".to_vec()]));
                }
                for &t in group {
                    let argv = gen_argv(&mut rng, &dict, &f.srv, t.map(|i| &targets[i]));
                    block.push((Who::Fuzz, argv));
                }
                if watched && rng.chance(50) {
                    // Another client touches a key, possibly the watched one.
                    let key = rng.pick(KEYS).as_bytes().to_vec();
                    block.push((Who::Seeder, vec![b"SET".to_vec(), key, b"touched".to_vec()]));
                }
                let end: &[u8] = match rng.below(10) {
                    0 => b"DISCARD",
                    1 => b"exec",
                    _ => b"EXEC",
                };
                block.push((Who::Fuzz, vec![end.to_vec()]));
                for (who, argv) in block {
                    // Blocking commands only inside MULTI (where they do not block):
                    // an EXEC, DISCARD or RESET in the group may have ended it.
                    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                    let blocking =
                        lookup(&f.srv, &refs).is_some_and(|c| c.spec.has(flags::BLOCKING));
                    if blocking && f.fuzz.multi.is_none() {
                        continue;
                    }
                    dog.working_on(|| format!("multi seed {seed}: {}", repr_argv(&argv)));
                    let problem = f.step(who, &argv);
                    if who == Who::Fuzz {
                        findings.count(&f, &argv);
                    }
                    if let Some(p) = problem {
                        let history = f.history.clone();
                        findings.record(p, &history, seed);
                        f.reseed();
                        break;
                    }
                }
                // Leave no transaction or protocol switch behind for the next block.
                if f.fuzz.multi.is_some() || f.out.resp3 {
                    for argv in [
                        vec![b"DISCARD".to_vec()],
                        vec![b"HELLO".to_vec(), b"2".to_vec()],
                    ] {
                        if let Some(p) = f.step(Who::Fuzz, &argv) {
                            let history = f.history.clone();
                            findings.record(p, &history, seed);
                            f.reseed();
                            break;
                        }
                    }
                }
            }
        }
    }
    findings.finish("commands MULTI/EXEC", started);
}

/// Hand-picked sequences at the numeric edges (limits of i64, the s/ms
/// conversions of TTLs, allocation limits), each from a freshly seeded server,
/// in RESP2 and RESP3, with the same checks as the fuzzers. Random search
/// reaches these only rarely; listing them keeps them covered on every run.
const EDGE_CASES: &[&[&[&str]]] = &[
    &[
        &["PEXPIREAT", "k:str", "9223372036854775806"],
        &["EXPIRETIME", "k:str"],
        &["TTL", "k:str"],
        &["PTTL", "k:str"],
        &["PEXPIRETIME", "k:str"],
    ],
    &[
        &["PEXPIREAT", "k:str", "9223372036854775807"],
        &["EXPIRETIME", "k:str"],
        &["TTL", "k:str"],
    ],
    &[
        &["EXPIREAT", "k:str", "9223372036854775"],
        &["EXPIRETIME", "k:str"],
        &["TTL", "k:str"],
        &["PTTL", "k:str"],
    ],
    &[
        &["EXPIREAT", "k:str", "9223372036854776"],
        &["EXPIRE", "k:str", "9223372036854775"],
        &["PEXPIRE", "k:str", "9223372036854775807"],
    ],
    &[
        &["EXPIRE", "k:ttl", "-9223372036854775808"],
        &["PEXPIRE", "k:str", "-9223372036854775808"],
        &["EXPIREAT", "k:int", "-9223372036854775808"],
    ],
    &[
        &["SET", "k:new", "v", "PXAT", "9223372036854775807"],
        &["TTL", "k:new"],
        &["EXPIRETIME", "k:new"],
    ],
    &[
        &["SET", "k:new", "v", "EXAT", "9223372036854775"],
        &["EXPIRETIME", "k:new"],
        &["TTL", "k:new"],
    ],
    &[
        &["SET", "k:new", "v", "EX", "9223372036854775"],
        &["SET", "k:new", "v", "PX", "9223372036854775807"],
        &["TTL", "k:new"],
    ],
    &[
        &["GETEX", "k:str", "PXAT", "9223372036854775807"],
        &["EXPIRETIME", "k:str"],
        &["GETEX", "k:str", "EX", "9223372036854775807"],
    ],
    &[
        &["SETEX", "k:new", "9223372036854775", "v"],
        &["PSETEX", "k:new", "9223372036854775807", "v"],
        &["TTL", "k:new"],
    ],
    &[
        &["SETRANGE", "k:str", "1048575", "x"],
        &["SETRANGE", "k:str", "1048576", "x"],
        &["SETBIT", "k:new", "8388607", "1"],
        &["SETBIT", "k:new", "4294967295", "1"],
        &[
            "BITCOUNT",
            "k:new",
            "-9223372036854775808",
            "9223372036854775807",
        ],
        &[
            "BITPOS",
            "k:new",
            "1",
            "-9223372036854775808",
            "9223372036854775807",
            "BIT",
        ],
    ],
    &[
        &["INCRBY", "k:maxint", "1"],
        &["INCRBY", "k:maxint", "1"],
        &["DECRBY", "k:neg", "-9223372036854775808"],
        &["DECRBY", "k:int", "9223372036854775807"],
        &["DECRBY", "k:neg", "9223372036854775807"],
        &["INCR", "k:maxint"],
    ],
    &[
        &["INCRBYFLOAT", "k:float", "1e308"],
        &["INCRBYFLOAT", "k:float", "1e308"],
        &["INCRBYFLOAT", "k:float", "-inf"],
    ],
    &[
        &[
            "GETRANGE",
            "k:str",
            "-9223372036854775808",
            "9223372036854775807",
        ],
        &[
            "GETRANGE",
            "k:str",
            "9223372036854775807",
            "-9223372036854775808",
        ],
        &["SUBSTR", "k:big", "-9223372036854775807", "-1"],
    ],
    &[
        &[
            "LRANGE",
            "k:list",
            "-9223372036854775808",
            "9223372036854775807",
        ],
        &["LINDEX", "k:list", "-9223372036854775808"],
        &[
            "LTRIM",
            "k:list",
            "-9223372036854775808",
            "9223372036854775807",
        ],
        &["LPOS", "k:list", "a", "RANK", "-9223372036854775808"],
        &[
            "LPOS",
            "k:list",
            "a",
            "COUNT",
            "9223372036854775807",
            "MAXLEN",
            "9223372036854775807",
        ],
    ],
    &[
        &["LSET", "k:list", "-9223372036854775808", "x"],
        &["LPOP", "k:list", "9223372036854775807"],
        &["RPOP", "k:list", "-1"],
    ],
    &[
        &["SRANDMEMBER", "k:set", "-9223372036854775808"],
        &["SRANDMEMBER", "k:set", "-9223372036854775807"],
        &["SPOP", "k:set", "9223372036854775807"],
    ],
    &[
        &["ZRANDMEMBER", "k:zset", "-9223372036854775808"],
        &["HRANDFIELD", "k:hash", "-9223372036854775808", "WITHVALUES"],
        &["HRANDFIELD", "k:hash", "-9223372036854775807"],
    ],
    &[
        &[
            "ZRANGE",
            "k:zset",
            "-9223372036854775808",
            "9223372036854775807",
        ],
        &[
            "ZRANGE",
            "k:zset",
            "0",
            "-1",
            "BYSCORE",
            "LIMIT",
            "-9223372036854775808",
            "9223372036854775807",
        ],
        &[
            "ZREMRANGEBYRANK",
            "k:zset",
            "-9223372036854775808",
            "9223372036854775807",
        ],
    ],
    &[
        &["ZADD", "k:zset", "INCR", "1e308", "a"],
        &["ZINCRBY", "k:zset", "1e308", "a"],
        &["ZINCRBY", "k:zset", "-inf", "a"],
        &["HINCRBYFLOAT", "k:hash", "n", "1e308"],
        &["HINCRBYFLOAT", "k:hash", "n", "1e308"],
        &["HINCRBY", "k:hash", "n", "9223372036854775807"],
        &["HINCRBY", "k:hash", "n", "9223372036854775807"],
    ],
    &[
        &["SCAN", "0", "COUNT", "9223372036854775807"],
        &["SCAN", "18446744073709551615"],
        &["SCAN", "18446744073709551616"],
        &["HSCAN", "k:hash", "0", "COUNT", "9223372036854775807"],
        &["SSCAN", "k:set", "0", "COUNT", "9223372036854775807"],
        &["ZSCAN", "k:zset", "0", "COUNT", "9223372036854775807"],
    ],
    &[
        &[
            "SORT",
            "k:list",
            "LIMIT",
            "-9223372036854775808",
            "9223372036854775807",
        ],
        &[
            "SORT",
            "k:list",
            "LIMIT",
            "9223372036854775807",
            "9223372036854775807",
            "ALPHA",
        ],
    ],
    &[
        &[
            "XADD",
            "k:new",
            "18446744073709551615-18446744073709551615",
            "f",
            "v",
        ],
        &["XADD", "k:new", "*", "f", "v"],
        &["XRANGE", "k:new", "-", "+", "COUNT", "9223372036854775807"],
        &["XTRIM", "k:new", "MAXLEN", "9223372036854775807"],
        &["XADD", "k:new", "MAXLEN", "~", "-1", "*", "f", "v"],
    ],
    &[
        &["OBJECT", "FREQ", "k:str"],
        &["SELECT", "9223372036854775807"],
        &["SWAPDB", "0", "-9223372036854775808"],
        &["MOVE", "k:str", "9223372036854775807"],
        &["COPY", "k:str", "k:new", "DB", "-1"],
    ],
    &[
        &["CLIENT", "KILL", "ID", "9223372036854775807"],
        &["CLIENT", "KILL", "MAXAGE", "-9223372036854775808"],
        &["CLIENT", "LIST", "ID", "18446744073709551615"],
    ],
    &[
        &["MULTI"],
        &["SSUBSCRIBE", "a", "b"],
        &["SUBSCRIBE", "c", "d"],
        &["UNSUBSCRIBE", "c", "x"],
        &["EXEC"],
    ],
    &[
        &["UNSUBSCRIBE", "a", "b"],
        &["PUNSUBSCRIBE", "x", "y"],
        &["SUNSUBSCRIBE", "s", "t"],
    ],
];

#[test]
fn commands_numeric_edge_cases() {
    let _dog = Watchdog::new("edge cases");
    let mut findings = Findings::new(Mode::Resp2);
    let started = Instant::now();
    for mode in [Mode::Resp2, Mode::Resp3] {
        findings.mode = mode;
        for case in EDGE_CASES {
            let mut f = Fixture::new(mode);
            for argv in case.iter() {
                let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
                let problem = f.step(Who::Fuzz, &argv);
                findings.count(&f, &argv);
                if let Some(p) = problem {
                    let history = f.history.clone();
                    findings.record(p, &history, 0);
                    break;
                }
            }
        }
    }
    findings.finish("numeric edge cases", started);
}

/// The synopsis reader: top-level `|` picks one item, bracketed `|` one sequence.
#[test]
fn syntax_parser_self_check() {
    let show = |text: &str| format!("{:?}", parse_syntax(text));
    assert_eq!(
        show("source destination LEFT | RIGHT LEFT | RIGHT"),
        show("source destination <LEFT | RIGHT> <LEFT | RIGHT>")
    );
    assert_eq!(
        show("key BEFORE | AFTER pivot element"),
        show("key <BEFORE | AFTER> pivot element")
    );
    let p = parse_syntax("key [EX seconds | PX milliseconds] [key ...]");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        matches!(&p[0][1], Syn::Optional(a) if a.len() == 2 && a[0].len() == 2),
        "{p:?}"
    );
    assert!(
        matches!(&p[0][2], Syn::Optional(a) if matches!(a[0][0], Syn::Repeat(_))),
        "{p:?}"
    );
    assert!(parse_syntax("").is_empty());
    let mut rng = Rng::new(1);
    let dict = Dictionary {
        names: vec!["get".into()],
    };
    for _ in 0..200 {
        let mut out = Vec::new();
        expand_syntax(
            &mut rng,
            &dict,
            &parse_syntax("numkeys key [key ...] [WITHSCORES]"),
            &mut out,
        );
        assert!(!out.is_empty());
    }
}

/// The validator itself: it must reject what it is there to reject.
#[test]
fn resp_validator_self_check() {
    let ok2: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR x\r\n",
        b":-5\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*2\r\n$1\r\na\r\n*0\r\n",
    ];
    for r in ok2 {
        assert_eq!(
            parse_replies(r, Proto::Resp2).map(|v| v.len()),
            Ok(1),
            "{}",
            repr(r)
        );
    }
    let ok3: &[&[u8]] = &[
        b"_\r\n",
        b",1.5\r\n",
        b",inf\r\n",
        b"#t\r\n",
        b"%1\r\n+a\r\n:1\r\n",
        b"~1\r\n+a\r\n",
        b"=8\r\ntxt:abcd\r\n",
        b"(123\r\n",
        b"|1\r\n+a\r\n+b\r\n:1\r\n",
    ];
    for r in ok3 {
        assert_eq!(
            parse_replies(r, Proto::Resp3).map(|v| v.len()),
            Ok(1),
            "{}",
            repr(r)
        );
        assert!(parse_replies(r, Proto::Resp2).is_err(), "{}", repr(r));
    }
    let bad: &[&[u8]] = &[
        b"+OK\n",
        b"+O\rK\r\n",
        b":01\r\n",
        b":1.5\r\n",
        b"$3\r\nab\r\n",
        b"$3\r\nabcd\r\n",
        b"$2\r\nab",
        b"*2\r\n+a\r\n",
        b"*3\r\n",
        b"x\r\n",
        b"$-2\r\n",
    ];
    for r in bad {
        assert!(parse_replies(r, Proto::Either).is_err(), "{}", repr(r));
    }
    assert!(parse_replies(b"$-1\r\n", Proto::Resp3).is_err());
    assert!(check_error_codes(&Frame::Error(b"oops".to_vec())).is_err());
    assert!(check_error_codes(&Frame::Error(b"ERR oops".to_vec())).is_ok());
}
