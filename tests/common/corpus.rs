//! The corpus-driven differential engine: Ember against the real Redis.
//!
//! [`run_differential`] starts one `redis-server` and one `ember-server`; every corpus file of a
//! directory (`tests/corpus/*.txt` for tests/differential.rs, `tests/corpus_lua/*.txt` for
//! tests/lua_differential.rs) is run against both, command by command, and the raw reply bytes are
//! compared exactly (errors included). All mismatches of all files are collected, printed with
//! `file:line`, the command and both replies (escaped), and the test fails if there was any.
//!
//! With `EMBER_DIFF_SELFTEST=1` the second server is another `redis-server` instead of Ember:
//! that proves every corpus line (and its annotation) is deterministic. `EMBER_DIFF_FILES=a,b`
//! runs only the corpus files whose names contain one of the given strings.
//! `EMBER_DIFF_VERBOSE=1` prints every command with the first server's reply (to review the
//! corpus).
//!
//! # Corpus format
//!
//! - One command per line, written like `redis-cli` input: arguments separated by spaces;
//!   `"double quotes"` understand `\n \r \t \b \a \\ \"` and `\xHH`; `'single quotes'` only `\'`.
//!   Commands are sent as RESP arrays of bulk strings.
//! - A blank line, or a line `---`, ends a sequence. Each sequence starts on a fresh connection
//!   (RESP2, db 0) to each server, after a `FLUSHALL` there. Server-wide settings changed with
//!   CONFIG SET must be restored by the same sequence.
//! - Lines starting with `#` are comments (they do not end a sequence).
//! - A line may start with prefixes, in any order:
//!   - `@N ` (N = 1..9): send on the sequence's N-th connection (opened on first use; default 1).
//!     Lets a sequence use several clients, e.g. a WATCH broken by another client.
//!   - `~type `: compare only the RESP type byte of the replies (TIME, CLIENT ID, HELLO, ...).
//!   - `~sorted `: compare an array/set reply as a sorted list of its elements (a map as a sorted
//!     list of its key-value pairs): KEYS and other unordered replies.
//!   - `~range LO HI `: both replies must be integers in `LO..=HI` (PTTL, OBJECT IDLETIME ...).
//!   - `~ignore `: send the command and read its reply, compare nothing.
//!   - `~known `: a documented difference of Ember's (a feature not built yet, or a deliberate
//!     one; the comment above the line says which). The replies must *differ*: when Ember starts
//!     answering like Redis the line fails, so the annotation is removed instead of going stale.
//!     Under `EMBER_DIFF_SELFTEST` it is compared exactly.
//!   - `~scan `: the command is a SCAN-family command with cursor `0`; it is iterated on each
//!     server until the cursor is 0 again and the sorted, de-duplicated union of the returned
//!     elements (field-value pairs for HSCAN/ZSCAN) is compared. An error reply is compared as is.
//! - A line `~sleep MS` pauses the sequence for MS milliseconds (keep these few and short).
//! - After `QUIT`, both servers must also close that connection; a later command on the same
//!   connection number opens a new connection.
//! - `HELLO 3` / `HELLO 2` / `RESET` switch the decoder of that connection between RESP3 and
//!   RESP2, so replies after `HELLO 3` are compared as RESP3 bytes.
//!
//! The corpus has one file per command family, each opening with a comment that says what it
//! covers. Replies print escaped the way the corpus quotes arguments (`"\r\n"`, `"\x00"`).
//!
//! # Failures
//!
//! A reply that never starts (5 s) or stops half-way (300 ms: a malformed reply that announces
//! more elements than it sends) is reported as a mismatch and the rest of its sequence is
//! skipped. A server that died is reported with its output and restarted. The run stops early
//! after 30 s spent on such waits or 20 restarts, so a broken server cannot make it slow.

//!
//! Included with `#[path = "common/corpus.rs"] mod corpus;` next to `common/mod.rs`.
#![allow(dead_code)]

use super::common::{
    escape, integer_value, is_error, split_aggregate, string_value, Protocol, RespConn, ServerKind,
    ServerProcess,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a step's replies are compared.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    Exact,
    Type,
    Sorted,
    Ignore,
    Range(i64, i64),
    Scan,
    Known,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Command { check: Check, args: Vec<Vec<u8>> },
    Sleep(Duration),
}

#[derive(Clone, Debug)]
pub struct Step {
    pub line: usize,
    pub conn: usize,
    pub text: String,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub struct Sequence {
    pub file: String,
    pub line: usize,
    pub steps: Vec<Step>,
}

const MAX_CONNS: usize = 9;

// ---------------------------------------------------------------------------------------------
// Corpus parsing
// ---------------------------------------------------------------------------------------------

/// Split a line into arguments the way redis-cli does (`sdssplitargs`).
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                if i >= b.len() {
                    return Err("unbalanced double quotes".into());
                }
                if b[i] == b'\\'
                    && i + 3 < b.len()
                    && b[i + 1] == b'x'
                    && b[i + 2].is_ascii_hexdigit()
                    && b[i + 3].is_ascii_hexdigit()
                {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).map_err(|e| e.to_string())?;
                    current.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                    i += 4;
                    continue;
                } else if b[i] == b'\\' && i + 1 < b.len() {
                    current.push(match b[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                    continue;
                } else if b[i] == b'"' {
                    if i + 1 < b.len() && !b[i + 1].is_ascii_whitespace() {
                        return Err("closing double quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                } else {
                    current.push(b[i]);
                }
            } else if in_single {
                if i >= b.len() {
                    return Err("unbalanced single quotes".into());
                }
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'\'' {
                    current.push(b'\'');
                    i += 2;
                    continue;
                } else if b[i] == b'\'' {
                    if i + 1 < b.len() && !b[i + 1].is_ascii_whitespace() {
                        return Err("closing single quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                } else {
                    current.push(b[i]);
                }
            } else {
                if i >= b.len() || b[i].is_ascii_whitespace() {
                    break;
                }
                match b[i] {
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    c => current.push(c),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

fn parse_int(word: Option<&str>, what: &str) -> Result<i64, String> {
    let word = word.ok_or_else(|| format!("{what}: missing number"))?;
    word.parse()
        .map_err(|_| format!("{what}: `{word}` is not an integer"))
}

/// Parse one corpus file into sequences.
pub fn parse_corpus(file: &str, text: &str) -> Result<Vec<Sequence>, String> {
    let mut sequences = Vec::new();
    let mut current: Option<Sequence> = None;
    for (idx, raw_line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let err = |msg: String| format!("{file}:{line_no}: {msg}: {raw_line}");
        let line = raw_line.trim();
        if line.is_empty() || line == "---" {
            if let Some(seq) = current.take() {
                sequences.push(seq);
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        let mut check: Option<Check> = None;
        let mut conn = 1usize;
        let mut sleep = None;
        loop {
            let (word, after) = match rest.split_once(char::is_whitespace) {
                Some((w, a)) => (w, a.trim_start()),
                None => (rest, ""),
            };
            let mut set_check = |c: Check| -> Result<(), String> {
                if check.is_some() {
                    return Err(err("more than one comparison annotation".into()));
                }
                check = Some(c);
                Ok(())
            };
            if let Some(n) = word.strip_prefix('@') {
                conn = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_CONNS).contains(n))
                    .ok_or_else(|| err(format!("bad connection number `{word}`")))?;
                rest = after;
            } else if word.starts_with('~') {
                match word {
                    "~type" => set_check(Check::Type)?,
                    "~sorted" => set_check(Check::Sorted)?,
                    "~ignore" => set_check(Check::Ignore)?,
                    "~known" => set_check(Check::Known)?,
                    "~scan" => set_check(Check::Scan)?,
                    "~range" => {
                        let mut words = after.splitn(3, char::is_whitespace);
                        let lo = parse_int(words.next(), "~range").map_err(&err)?;
                        let hi = parse_int(words.next(), "~range").map_err(&err)?;
                        if lo > hi {
                            return Err(err("~range LO is above HI".into()));
                        }
                        set_check(Check::Range(lo, hi))?;
                        rest = words.next().unwrap_or("").trim_start();
                        continue;
                    }
                    "~sleep" => {
                        let ms = parse_int(Some(after.trim()), "~sleep").map_err(&err)?;
                        if !(0..=2000).contains(&ms) {
                            return Err(err("~sleep must be 0..=2000 ms".into()));
                        }
                        sleep = Some(Duration::from_millis(ms as u64));
                        rest = "";
                        break;
                    }
                    _ => return Err(err(format!("unknown annotation `{word}`"))),
                }
                rest = after;
            } else {
                break;
            }
        }
        let action = if let Some(d) = sleep {
            if check.is_some() {
                return Err(err("~sleep takes no other annotation".into()));
            }
            Action::Sleep(d)
        } else {
            let args = split_args(rest).map_err(&err)?;
            if args.is_empty() {
                return Err(err("annotation without a command".into()));
            }
            let check = check.unwrap_or(Check::Exact);
            if check == Check::Scan && scan_cursor_index(&args).is_none() {
                return Err(err(
                    "~scan needs SCAN 0 ... or HSCAN/SSCAN/ZSCAN key 0 ...".into()
                ));
            }
            Action::Command { check, args }
        };
        let seq = current.get_or_insert_with(|| Sequence {
            file: file.to_string(),
            line: line_no,
            steps: Vec::new(),
        });
        seq.steps.push(Step {
            line: line_no,
            conn,
            text: line.to_string(),
            action,
        });
    }
    if let Some(seq) = current.take() {
        sequences.push(seq);
    }
    Ok(sequences)
}

/// Index of the cursor argument of a SCAN-family command whose cursor is "0".
fn scan_cursor_index(args: &[Vec<u8>]) -> Option<usize> {
    let name = String::from_utf8_lossy(args.first()?).to_ascii_uppercase();
    let idx = match name.as_str() {
        "SCAN" => 1,
        "HSCAN" | "SSCAN" | "ZSCAN" => 2,
        _ => return None,
    };
    (args.get(idx)?.as_slice() == b"0").then_some(idx)
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/// Describe how two replies differ under `check`, or `None` if they agree.
/// `a`/`b` are raw replies; `proto` is the protocol they were decoded with.
pub fn compare(
    check: &Check,
    a: &[u8],
    pa: Protocol,
    b: &[u8],
    pb: Protocol,
) -> Option<(String, String)> {
    match check {
        Check::Ignore => None,
        Check::Exact | Check::Scan => (a != b).then(|| (escape(a), escape(b))),
        Check::Known if std::env::var_os("EMBER_DIFF_SELFTEST").is_some() => {
            (a != b).then(|| (escape(a), escape(b)))
        }
        Check::Known => (a == b).then(|| {
            let same = format!(
                "{} (a ~known difference no longer differs: drop ~known)",
                escape(b)
            );
            (escape(a), same)
        }),
        Check::Type => (a.first() != b.first()).then(|| {
            let show =
                |r: &[u8]| format!("type '{}' in {}", escape(&r[..r.len().min(1)]), escape(r));
            (show(a), show(b))
        }),
        Check::Range(lo, hi) => {
            let ok = |r: &[u8]| integer_value(r).is_some_and(|v| (*lo..=*hi).contains(&v));
            (!ok(a) || !ok(b)).then(|| {
                let show = |r: &[u8]| {
                    if ok(r) {
                        escape(r)
                    } else {
                        format!("{} (wanted an integer in {lo}..={hi})", escape(r))
                    }
                };
                (show(a), show(b))
            })
        }
        Check::Sorted => {
            let sa = sorted_view(a, pa);
            let sb = sorted_view(b, pb);
            (sa != sb).then_some((sa, sb))
        }
    }
}

/// An aggregate reply shown as its type, length and sorted elements; anything else escaped.
fn sorted_view(reply: &[u8], proto: Protocol) -> String {
    match split_aggregate(reply, proto) {
        Some((kind, elems)) => {
            let mut units: Vec<Vec<u8>> = if kind == b'%' {
                elems.chunks(2).map(|c| c.concat()).collect()
            } else {
                elems.iter().map(|e| e.to_vec()).collect()
            };
            units.sort();
            let shown: Vec<String> = units.iter().map(|u| escape(u)).collect();
            format!(
                "sorted {}{} [{}]",
                kind as char,
                units.len(),
                shown.join(", ")
            )
        }
        None => escape(reply),
    }
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// One server under comparison and the connections of the current sequence.
struct Side {
    label: String,
    server: ServerProcess,
    conns: Vec<Option<RespConn>>,
    /// Time spent waiting on replies that never completed.
    waited: Duration,
    /// Times the server died and was restarted.
    restarts: usize,
}

impl Side {
    fn new(label: &str, server: ServerProcess) -> Side {
        Side {
            label: label.to_string(),
            server,
            conns: (0..=MAX_CONNS).map(|_| None).collect(),
            waited: Duration::ZERO,
            restarts: 0,
        }
    }

    fn reset_conns(&mut self) {
        for c in &mut self.conns {
            if let Some(c) = c.take() {
                c.shutdown();
            }
        }
    }

    /// Open connection 1 and FLUSHALL.
    fn begin_sequence(&mut self) -> Result<(), String> {
        self.reset_conns();
        let conn = self.conn(1)?;
        let reply = conn
            .command(&["FLUSHALL"])
            .map_err(|e| format!("FLUSHALL failed: {e}"))?;
        if reply != b"+OK\r\n" {
            return Err(format!("FLUSHALL replied {}", escape(&reply)));
        }
        Ok(())
    }

    /// Connection `n`, opened (with the reply timeouts of this test) on first use.
    fn conn(&mut self, n: usize) -> Result<&mut RespConn, String> {
        if self.conns[n].is_none() {
            let mut c = RespConn::connect(self.server.addr())
                .map_err(|e| format!("cannot connect to {}: {e}", self.server.addr()))?;
            c.set_timeout(REPLY_TIMEOUT);
            c.set_stall_timeout(Some(STALL_TIMEOUT));
            self.conns[n] = Some(c);
        }
        self.conns[n]
            .as_mut()
            .ok_or_else(|| "connection vanished".to_string())
    }

    /// Run one step's command on connection `conn_no`.
    fn run(&mut self, conn_no: usize, check: &Check, args: &[Vec<u8>]) -> Result<Outcome, String> {
        let started = Instant::now();
        let conn = self.conn(conn_no)?;
        let result = if *check == Check::Scan {
            run_scan(conn, args).map(|reply| Outcome {
                reply,
                proto: conn.protocol(),
                closed: None,
            })
        } else {
            exchange(conn, args)
        };
        match result {
            Ok(outcome) => {
                if outcome.closed.is_some() {
                    // After QUIT: the next command on this connection number reconnects.
                    if let Some(c) = self.conns[conn_no].take() {
                        c.shutdown();
                    }
                }
                Ok(outcome)
            }
            Err(e) => {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    self.waited += started.elapsed();
                }
                Err(e.to_string())
            }
        }
    }
}

/// The reply to one command, the protocol it was decoded with, and, after QUIT, whether the
/// server then closed the connection.
struct Outcome {
    reply: Vec<u8>,
    proto: Protocol,
    closed: Option<bool>,
}

/// Send one command and read its reply, following the protocol switches of HELLO and RESET.
fn exchange(conn: &mut RespConn, args: &[Vec<u8>]) -> std::io::Result<Outcome> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let before = conn.protocol();
    if name == "HELLO" {
        // The reply to a successful HELLO already uses the new protocol.
        match args.get(1).map(|v| v.as_slice()) {
            Some(b"3") => conn.set_protocol(Protocol::Resp3),
            Some(b"2") => conn.set_protocol(Protocol::Resp2),
            _ => {}
        }
    }
    conn.send(args)?;
    let reply = conn.read_reply()?;
    let proto = conn.protocol();
    if name == "HELLO" && is_error(&reply) {
        conn.set_protocol(before);
    }
    if name == "RESET" && reply == b"+RESET\r\n" {
        conn.set_protocol(Protocol::Resp2);
    }
    let closed = (name == "QUIT").then(|| conn.wait_closed(Duration::from_secs(1)));
    Ok(Outcome {
        reply,
        proto,
        closed,
    })
}

/// Iterate a SCAN-family command from cursor 0 until the cursor is 0 again. Returns a RESP array
/// of the sorted, de-duplicated elements (pairs for HSCAN/ZSCAN), or the first error reply.
fn run_scan(conn: &mut RespConn, args: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidData, msg);
    let idx = scan_cursor_index(args)
        .ok_or_else(|| invalid("not a SCAN command with cursor 0".into()))?;
    let pairs = matches!(
        String::from_utf8_lossy(&args[0])
            .to_ascii_uppercase()
            .as_str(),
        "HSCAN" | "ZSCAN"
    );
    let mut args = args.to_vec();
    let mut seen = BTreeSet::new();
    for _ in 0..100_000 {
        let reply = conn.command(&args)?;
        if is_error(&reply) {
            return Ok(reply);
        }
        let proto = conn.protocol();
        let bad = || invalid(format!("malformed SCAN reply {}", escape(&reply)));
        let (_, parts) = split_aggregate(&reply, proto).ok_or_else(bad)?;
        if parts.len() != 2 {
            return Err(bad());
        }
        let cursor = string_value(parts[0]).ok_or_else(bad)?.to_vec();
        let (_, elems) = split_aggregate(parts[1], proto).ok_or_else(bad)?;
        if pairs {
            for c in elems.chunks(2) {
                seen.insert(c.concat());
            }
        } else {
            for e in elems {
                seen.insert(e.to_vec());
            }
        }
        if cursor == b"0" {
            let mut out = format!("*{}\r\n", seen.len()).into_bytes();
            for e in &seen {
                out.extend_from_slice(e);
            }
            return Ok(out);
        }
        args[idx] = cursor;
    }
    Err(invalid("SCAN did not finish within 100000 calls".into()))
}

struct Mismatch {
    location: String,
    command: String,
    detail: String,
}

struct Stats {
    files: usize,
    sequences: usize,
    commands: usize,
}

fn load_corpus(dir: &Path) -> Vec<(String, Vec<Sequence>)> {
    let filter: Vec<String> = std::env::var("EMBER_DIFF_FILES")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus dir {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let seqs = parse_corpus(&name, &text).unwrap_or_else(|e| panic!("corpus error: {e}"));
        out.push((name, seqs));
    }
    assert!(
        !out.is_empty(),
        "no corpus files matched in {} (EMBER_DIFF_FILES={:?})",
        dir.display(),
        filter
    );
    out
}

/// Time allowed for one reply when nothing of it arrives.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the rest of a reply once part of it arrived: servers write a reply at once,
/// so a stall means a malformed reply (more elements announced than sent).
const STALL_TIMEOUT: Duration = Duration::from_millis(300);
/// Stop the run once this much time went into replies that never completed ...
const MAX_WAITED: Duration = Duration::from_secs(30);
/// ... or after this many server restarts.
const MAX_RESTARTS: usize = 20;

/// Run every sequence on both sides; return the mismatches.
fn run_all(
    corpus: &[(String, Vec<Sequence>)],
    a: &mut Side,
    b: &mut Side,
    stats: &mut Stats,
) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let verbose = std::env::var("EMBER_DIFF_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");
    'files: for (_, seqs) in corpus {
        stats.files += 1;
        for seq in seqs {
            let waited = a.waited + b.waited;
            let restarts = a.restarts + b.restarts;
            if waited >= MAX_WAITED || restarts >= MAX_RESTARTS {
                mismatches.push(Mismatch {
                    location: format!("{}:{}", seq.file, seq.line),
                    command: "(run stopped)".into(),
                    detail: format!(
                        "{waited:.1?} spent waiting for replies that never completed and \
                         {restarts} server restarts so far: the rest of the corpus was not run"
                    ),
                });
                break 'files;
            }
            stats.sequences += 1;
            run_sequence(seq, a, b, stats, verbose, &mut mismatches);
        }
    }
    a.reset_conns();
    b.reset_conns();
    mismatches
}

fn run_sequence(
    seq: &Sequence,
    a: &mut Side,
    b: &mut Side,
    stats: &mut Stats,
    verbose: bool,
    mismatches: &mut Vec<Mismatch>,
) {
    let mut broken = false;
    for side in [&mut *a, &mut *b] {
        if let Err(e) = side.begin_sequence() {
            let revived = revive(side);
            mismatches.push(Mismatch {
                location: format!("{}:{}", seq.file, seq.line),
                command: "(FLUSHALL on a new connection, before the sequence)".into(),
                detail: format!("{}: {e}{revived}", side.label),
            });
            broken = true;
        }
    }
    if broken {
        return;
    }
    for step in &seq.steps {
        let location = format!("{}:{}", seq.file, step.line);
        let (check, args) = match &step.action {
            Action::Sleep(d) => {
                std::thread::sleep(*d);
                continue;
            }
            Action::Command { check, args } => (check, args),
        };
        stats.commands += 1;
        let ra = a.run(step.conn, check, args);
        let rb = b.run(step.conn, check, args);
        let (oa, ob) = match (ra, rb) {
            (Ok(oa), Ok(ob)) => (oa, ob),
            (ra, rb) => {
                let show = |side: &mut Side, r: Result<Outcome, String>| match r {
                    Ok(o) => escape(&o.reply),
                    Err(e) => format!("FAILED: {e}{}", revive(side)),
                };
                let sa = show(a, ra);
                let sb = show(b, rb);
                mismatches.push(Mismatch {
                    location,
                    command: step.text.clone(),
                    detail: format!(
                        "{:>8}: {sa}\n{:>8}: {sb}\n(rest of this sequence skipped)",
                        a.label, b.label
                    ),
                });
                return;
            }
        };
        if verbose {
            println!("{location}  {}\n    {}", step.text, escape(&oa.reply));
        }
        if let Some((sa, sb)) = compare(check, &oa.reply, oa.proto, &ob.reply, ob.proto) {
            mismatches.push(Mismatch {
                location: location.clone(),
                command: step.text.clone(),
                detail: format!("{:>8}: {sa}\n{:>8}: {sb}", a.label, b.label),
            });
        }
        if oa.closed != ob.closed {
            let show = |c: Option<bool>| match c {
                Some(true) => "closed the connection",
                _ => "kept the connection open",
            };
            mismatches.push(Mismatch {
                location,
                command: step.text.clone(),
                detail: format!(
                    "after QUIT {} {}, {} {}",
                    a.label,
                    show(oa.closed),
                    b.label,
                    show(ob.closed)
                ),
            });
        }
    }
}

/// If the side's server died, say so (with its output) and start it again.
fn revive(side: &mut Side) -> String {
    // A server that is crashing may still be exiting: give it a moment.
    let deadline = Instant::now() + Duration::from_millis(100);
    while side.server.is_running() {
        if Instant::now() >= deadline {
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = side.server.output();
    side.reset_conns();
    side.restarts += 1;
    side.server.restart();
    format!("\n{} DIED; restarted it. Its output:\n{output}", side.label)
}

/// Run every corpus file of `dir` (`*.txt`) against redis-server and ember-server (started with
/// the `ember_config` directives) and panic listing every mismatch. `EMBER_DIFF_SELFTEST`,
/// `EMBER_DIFF_FILES` and `EMBER_DIFF_VERBOSE` work as described in the module docs.
pub fn run_differential(dir: &Path, ember_config: &[(&str, &str)]) {
    let started = Instant::now();
    let corpus = load_corpus(dir);
    let selftest = std::env::var("EMBER_DIFF_SELFTEST").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut redis = Side::new("redis", ServerProcess::start_redis(&[]));
    let mut other = if selftest {
        Side::new("redis#2", ServerProcess::start(ServerKind::Redis, &[]))
    } else {
        Side::new("ember", ServerProcess::start_ember(ember_config))
    };
    let mut stats = Stats {
        files: 0,
        sequences: 0,
        commands: 0,
    };
    let mismatches = run_all(&corpus, &mut redis, &mut other, &mut stats);
    for (i, m) in mismatches.iter().enumerate() {
        println!(
            "--- mismatch {}/{} at {}\n command: {}\n{}",
            i + 1,
            mismatches.len(),
            m.location,
            m.command,
            m.detail
        );
    }
    if !mismatches.is_empty() {
        let mut per_file: std::collections::BTreeMap<&str, usize> = Default::default();
        for m in &mismatches {
            let file = m.location.split(':').next().unwrap_or("");
            *per_file.entry(file).or_default() += 1;
        }
        let summary: Vec<String> = per_file.iter().map(|(f, n)| format!("{f}: {n}")).collect();
        println!("mismatches per file: {}", summary.join(", "));
    }
    println!(
        "differential: {} files, {} sequences, {} commands, {} mismatches (redis vs {}) in {:.1?}",
        stats.files,
        stats.sequences,
        stats.commands,
        mismatches.len(),
        other.label,
        started.elapsed()
    );
    assert!(
        mismatches.is_empty(),
        "{} differential mismatches between redis and {} (listed above; run with --nocapture)",
        mismatches.len(),
        other.label
    );
}
