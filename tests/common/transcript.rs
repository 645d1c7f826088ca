//! Multi-connection transcripts for differential pub/sub tests.
//!
//! A [`Script`] is a list of steps over a few numbered connections to one server: send a
//! command and read its replies, read frames pushed to a subscriber, check that nothing more
//! arrived, pipeline raw bytes, sleep. [`Script::run`] plays it against one server and records
//! every frame each connection received, step by step; [`compare`] diffs two such recordings
//! (Redis's and Ember's) byte for byte, or as multisets where Redis leaves the order unspecified.
//!
//! How many frames a step reads is part of the script (or the step reads until a marker frame),
//! so both servers are read the same way. Redis is the oracle: a timeout against Redis means the
//! script is wrong and panics; a timeout against Ember is recorded as a mismatch (with the bytes
//! received so far) and the run goes on, so one test reports every difference at once.
//!
//! Included with `#[path = "common/transcript.rs"] mod transcript;` next to `common/mod.rs`.
#![allow(dead_code)]

use super::common::{escape, split_aggregate, Protocol, RespConn, ServerKind, ServerProcess};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How long one frame may take to arrive before the step is recorded as a timeout.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(2);
/// How long [`Script::quiet`] listens for unexpected extra bytes.
pub const QUIET_WINDOW: Duration = Duration::from_millis(100);

/// How the frames of one step are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Byte for byte, in order.
    Exact,
    /// As a multiset of frames (Redis's order is unspecified, e.g. UNSUBSCRIBE with no args).
    Unordered,
    /// One aggregate reply whose elements are compared as a multiset (PUBSUB CHANNELS).
    SortedElements,
}

#[derive(Clone, Debug)]
enum Step {
    /// Send a command and read `replies` frames on the same connection.
    Cmd {
        conn: usize,
        args: Vec<Vec<u8>>,
        replies: usize,
        order: Order,
    },
    /// Send a command without reading anything (its replies are read by later steps).
    Send { conn: usize, args: Vec<Vec<u8>> },
    /// Read `n` frames.
    Recv { conn: usize, n: usize, order: Order },
    /// Read frames until one equals `marker` (not recorded itself); the frames before it are
    /// recorded under `label`.
    RecvUntil {
        conn: usize,
        marker: Vec<u8>,
        label: String,
        order: Order,
    },
    /// Nothing may arrive within [`QUIET_WINDOW`].
    Quiet { conn: usize },
    /// Send a command that switches protocol (HELLO 2/3, RESET) and read its single reply,
    /// recording only its type byte (HELLO's map holds the server name, version and client id).
    Proto {
        conn: usize,
        args: Vec<Vec<u8>>,
        proto: Protocol,
    },
    /// Pause the whole script.
    Sleep(Duration),
    /// Repeat a command until its reply contains `needle` (at most [`FRAME_TIMEOUT`]); records
    /// nothing unless it never does.
    WaitFor {
        conn: usize,
        args: Vec<Vec<u8>>,
        needle: Vec<u8>,
    },
}

/// A multi-connection script; see the module docs.
#[derive(Clone, Debug)]
pub struct Script {
    conns: usize,
    steps: Vec<Step>,
}

fn owned(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

impl Script {
    pub fn new(conns: usize) -> Script {
        Script {
            conns,
            steps: Vec::new(),
        }
    }

    /// A command with exactly one reply frame.
    pub fn cmd(&mut self, conn: usize, args: &[&str]) -> &mut Self {
        self.cmd_n(conn, args, 1)
    }

    /// A command with `replies` frames (SUBSCRIBE a b c: three confirmations).
    pub fn cmd_n(&mut self, conn: usize, args: &[&str], replies: usize) -> &mut Self {
        self.cmd_ordered(conn, args, replies, Order::Exact)
    }

    /// A command whose `replies` frames may come in any order.
    pub fn cmd_any_order(&mut self, conn: usize, args: &[&str], replies: usize) -> &mut Self {
        self.cmd_ordered(conn, args, replies, Order::Unordered)
    }

    /// A command with one aggregate reply whose element order is unspecified.
    pub fn cmd_sorted(&mut self, conn: usize, args: &[&str]) -> &mut Self {
        self.cmd_ordered(conn, args, 1, Order::SortedElements)
    }

    pub fn cmd_ordered(
        &mut self,
        conn: usize,
        args: &[&str],
        replies: usize,
        order: Order,
    ) -> &mut Self {
        self.cmd_bytes(conn, owned(args), replies, order)
    }

    pub fn cmd_bytes(
        &mut self,
        conn: usize,
        args: Vec<Vec<u8>>,
        replies: usize,
        order: Order,
    ) -> &mut Self {
        assert!(conn < self.conns);
        self.steps.push(Step::Cmd {
            conn,
            args,
            replies,
            order,
        });
        self
    }

    pub fn send(&mut self, conn: usize, args: &[&str]) -> &mut Self {
        assert!(conn < self.conns);
        self.steps.push(Step::Send {
            conn,
            args: owned(args),
        });
        self
    }

    pub fn recv(&mut self, conn: usize, n: usize) -> &mut Self {
        self.recv_ordered(conn, n, Order::Exact)
    }

    pub fn recv_any_order(&mut self, conn: usize, n: usize) -> &mut Self {
        self.recv_ordered(conn, n, Order::Unordered)
    }

    pub fn recv_ordered(&mut self, conn: usize, n: usize, order: Order) -> &mut Self {
        assert!(conn < self.conns);
        self.steps.push(Step::Recv { conn, n, order });
        self
    }

    pub fn recv_until(&mut self, conn: usize, marker: Vec<u8>) -> &mut Self {
        let label = format!("receive until {}", escape(&marker));
        self.recv_until_labeled(conn, marker, label, Order::Exact)
    }

    /// [`Script::recv_until`] with a description for reports ("events of SET k v") and an
    /// [`Order`] for the frames before the marker.
    pub fn recv_until_labeled(
        &mut self,
        conn: usize,
        marker: Vec<u8>,
        label: String,
        order: Order,
    ) -> &mut Self {
        assert!(conn < self.conns);
        self.steps.push(Step::RecvUntil {
            conn,
            marker,
            label,
            order,
        });
        self
    }

    pub fn quiet(&mut self, conn: usize) -> &mut Self {
        assert!(conn < self.conns);
        self.steps.push(Step::Quiet { conn });
        self
    }

    /// `HELLO 3`: the connection speaks RESP3 from now on.
    pub fn hello3(&mut self, conn: usize) -> &mut Self {
        self.proto(conn, &["HELLO", "3"], Protocol::Resp3)
    }

    /// `HELLO 2`.
    pub fn hello2(&mut self, conn: usize) -> &mut Self {
        self.proto(conn, &["HELLO", "2"], Protocol::Resp2)
    }

    pub fn proto(&mut self, conn: usize, args: &[&str], proto: Protocol) -> &mut Self {
        assert!(conn < self.conns);
        self.steps.push(Step::Proto {
            conn,
            args: owned(args),
            proto,
        });
        self
    }

    pub fn sleep(&mut self, ms: u64) -> &mut Self {
        self.steps.push(Step::Sleep(Duration::from_millis(ms)));
        self
    }

    /// Polls `args` on `conn` until the reply contains `needle`.
    pub fn wait_for(&mut self, conn: usize, args: &[&str], needle: &str) -> &mut Self {
        assert!(conn < self.conns);
        self.steps.push(Step::WaitFor {
            conn,
            args: owned(args),
            needle: needle.as_bytes().to_vec(),
        });
        self
    }

    /// Waits until `n` clients are blocked (BLPOP ...), per `INFO clients`.
    pub fn wait_blocked(&mut self, conn: usize, n: usize) -> &mut Self {
        self.wait_for(
            conn,
            &["INFO", "clients"],
            &format!("blocked_clients:{n}\r\n"),
        )
    }

    /// Plays the script against `server` and returns what each step received.
    pub fn run(&self, server: &ServerProcess) -> Vec<Entry> {
        let mut conns: Vec<RespConn> = (0..self.conns)
            .map(|_| {
                let mut c = server.connect();
                c.set_timeout(FRAME_TIMEOUT);
                c
            })
            .collect();
        let oracle = server.kind() == ServerKind::Redis;
        let mut log = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            let entry = |conn: usize, what: String, frames: Vec<Frame>, order: Order| Entry {
                step: i,
                conn,
                what,
                frames,
                order,
            };
            match step {
                Step::Cmd {
                    conn,
                    args,
                    replies,
                    order,
                } => {
                    let c = &mut conns[*conn];
                    let what = describe(args);
                    let frames = match c.send(args) {
                        Ok(()) => read_frames(c, *replies),
                        Err(e) => vec![Frame::Failed(format!("send failed: {e}"))],
                    };
                    log.push(entry(*conn, what, frames, *order));
                }
                Step::Send { conn, args } => {
                    if let Err(e) = conns[*conn].send(args) {
                        let what = format!("send {}", describe(args));
                        let frames = vec![Frame::Failed(format!("send failed: {e}"))];
                        log.push(entry(*conn, what, frames, Order::Exact));
                    }
                }
                Step::Recv { conn, n, order } => {
                    let frames = read_frames(&mut conns[*conn], *n);
                    log.push(entry(
                        *conn,
                        format!("receive {n} frame(s)"),
                        frames,
                        *order,
                    ));
                }
                Step::RecvUntil {
                    conn,
                    marker,
                    label,
                    order,
                } => {
                    let frames = read_until(&mut conns[*conn], marker);
                    log.push(entry(*conn, label.clone(), frames, *order));
                }
                Step::Quiet { conn } => {
                    let c = &mut conns[*conn];
                    c.set_timeout(QUIET_WINDOW);
                    let frames = match c.read_reply() {
                        Ok(f) => vec![Frame::Data(f)],
                        Err(_) if c.pending().is_empty() => Vec::new(),
                        Err(_) => vec![Frame::Failed(format!(
                            "partial frame: {}",
                            escape(c.pending())
                        ))],
                    };
                    c.set_timeout(FRAME_TIMEOUT);
                    log.push(entry(*conn, "nothing more".into(), frames, Order::Exact));
                }
                Step::Proto { conn, args, proto } => {
                    let c = &mut conns[*conn];
                    let what = describe(args);
                    // The reply already speaks the new protocol (HELLO 3's map).
                    let before = c.protocol();
                    c.set_protocol(*proto);
                    let frames = match c.command(args) {
                        // Keep only the type byte: HELLO's map differs by server name/version/id.
                        Ok(reply) => {
                            if reply.first().is_some_and(|b| matches!(b, b'-' | b'!')) {
                                c.set_protocol(before);
                                vec![Frame::Data(reply)]
                            } else {
                                vec![Frame::Data(reply[..1].to_vec())]
                            }
                        }
                        Err(e) => vec![Frame::Failed(e.to_string())],
                    };
                    log.push(entry(*conn, what, frames, Order::Exact));
                }
                Step::Sleep(d) => std::thread::sleep(*d),
                Step::WaitFor { conn, args, needle } => {
                    let c = &mut conns[*conn];
                    let deadline = Instant::now() + FRAME_TIMEOUT;
                    let mut last = Vec::new();
                    let found = loop {
                        match c.command(args) {
                            Ok(r) if r.windows(needle.len()).any(|w| w == &needle[..]) => {
                                break true
                            }
                            Ok(r) => last = r,
                            Err(e) => last = e.to_string().into_bytes(),
                        }
                        if Instant::now() >= deadline {
                            break false;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    };
                    if !found {
                        let what = format!("wait for {} in {}", escape(needle), describe(args));
                        let why = format!("never came; last reply {}", escape(&last));
                        log.push(entry(*conn, what, vec![Frame::Failed(why)], Order::Exact));
                    }
                }
            }
            if oracle {
                if let Some(e) = log.last().filter(|e| e.step == i) {
                    if let Some(Frame::Failed(why)) =
                        e.frames.iter().find(|f| matches!(f, Frame::Failed(_)))
                    {
                        panic!(
                            "the script itself is wrong: redis-server failed step {i} \
                             (conn {}: {}): {why}",
                            e.conn, e.what
                        );
                    }
                }
            }
        }
        log
    }
}

/// One received frame, or why it did not arrive.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Frame {
    Data(Vec<u8>),
    Failed(String),
}

impl Frame {
    pub fn show(&self) -> String {
        match self {
            Frame::Data(d) => escape(d),
            Frame::Failed(why) => format!("<{why}>"),
        }
    }
}

/// What one step received on one connection.
#[derive(Clone, Debug)]
pub struct Entry {
    pub step: usize,
    pub conn: usize,
    pub what: String,
    pub frames: Vec<Frame>,
    pub order: Order,
}

fn describe(args: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        if a.len() > 40 {
            let _ = write!(s, "<{} bytes>", a.len());
        } else {
            s.push_str(&String::from_utf8_lossy(a));
        }
    }
    s
}

fn read_frames(c: &mut RespConn, n: usize) -> Vec<Frame> {
    let mut frames = Vec::with_capacity(n);
    for _ in 0..n {
        match c.read_reply() {
            Ok(f) => frames.push(Frame::Data(f)),
            Err(e) => {
                frames.push(Frame::Failed(e.to_string()));
                break;
            }
        }
    }
    frames
}

/// Frames before the first one equal to `marker`; at most 10 000 (a runaway guard).
fn read_until(c: &mut RespConn, marker: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for _ in 0..10_000 {
        match c.read_reply() {
            Ok(f) if f == marker => return frames,
            Ok(f) => frames.push(Frame::Data(f)),
            Err(e) => {
                frames.push(Frame::Failed(format!("marker never arrived: {e}")));
                return frames;
            }
        }
    }
    frames.push(Frame::Failed(
        "more than 10000 frames before the marker".into(),
    ));
    frames
}

/// The frames of an entry normalised for its [`Order`].
fn normalised(e: &Entry) -> Vec<Frame> {
    match e.order {
        Order::Exact => e.frames.clone(),
        Order::Unordered => any_order(&e.frames),
        Order::SortedElements => e
            .frames
            .iter()
            .map(|f| match f {
                Frame::Data(d) => Frame::Data(sorted_elements(d)),
                other => other.clone(),
            })
            .collect(),
    }
}

/// Frames whose order is unspecified, in a canonical form. (Un)subscribe confirmations
/// `[kind, name, count]` keep their kinds and counts in arrival order (the count after each one
/// is defined whatever the order) while their names are compared as a multiset; any other frames
/// are sorted.
fn any_order(frames: &[Frame]) -> Vec<Frame> {
    let mut parts = Vec::with_capacity(frames.len());
    for f in frames {
        let Frame::Data(d) = f else {
            return sorted_frames(frames);
        };
        let proto = if d.first() == Some(&b'>') {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        match split_aggregate(d, proto) {
            Some((kind, el)) if el.len() == 3 && el[2].first() == Some(&b':') => {
                parts.push((kind, el[0].to_vec(), el[1].to_vec(), el[2].to_vec()));
            }
            _ => return sorted_frames(frames),
        }
    }
    let mut names: Vec<Vec<u8>> = parts.iter().map(|p| p.2.clone()).collect();
    names.sort();
    parts
        .into_iter()
        .zip(names)
        .map(|((kind, what, _, count), name)| {
            let mut out = format!("{}3\r\n", kind as char).into_bytes();
            out.extend_from_slice(&what);
            out.extend_from_slice(&name);
            out.extend_from_slice(&count);
            Frame::Data(out)
        })
        .collect()
}

fn sorted_frames(frames: &[Frame]) -> Vec<Frame> {
    let mut f = frames.to_vec();
    f.sort();
    f
}

/// An aggregate's header followed by its elements in sorted order (other replies unchanged).
fn sorted_elements(reply: &[u8]) -> Vec<u8> {
    let proto = if matches!(reply.first(), Some(b'~' | b'%' | b'>')) {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    match split_aggregate(reply, proto) {
        Some((_, mut elems)) => {
            let header_end = reply
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(0, |p| p + 2);
            elems.sort();
            let mut out = reply[..header_end].to_vec();
            for e in elems {
                out.extend_from_slice(e);
            }
            out
        }
        None => reply.to_vec(),
    }
}

/// Renders frames for a report; `render` may decode them (pmessage -> `channel => message`).
pub fn show_frames(frames: &[Frame], render: &dyn Fn(&Frame) -> String) -> String {
    if frames.is_empty() {
        return "    (nothing)\n".into();
    }
    let mut s = String::new();
    for f in frames {
        let _ = writeln!(s, "    {}", render(f));
    }
    s
}

/// Diffs Redis's transcript with Ember's; `Err` lists every step that differs.
pub fn compare(redis: &[Entry], ember: &[Entry]) -> Result<(), String> {
    compare_with(redis, ember, &|f| f.show())
}

pub fn compare_with(
    redis: &[Entry],
    ember: &[Entry],
    render: &dyn Fn(&Frame) -> String,
) -> Result<(), String> {
    let mut report = String::new();
    let mut n = 0;
    for (r, e) in redis.iter().zip(ember) {
        if normalised(r) != normalised(e) {
            n += 1;
            let _ = write!(
                report,
                "step {} (conn {}: {}){}\n  redis:\n{}  ember:\n{}",
                r.step,
                r.conn,
                r.what,
                match r.order {
                    Order::Exact => "",
                    Order::Unordered => " [any order]",
                    Order::SortedElements => " [elements in any order]",
                },
                show_frames(&r.frames, render),
                show_frames(&e.frames, render)
            );
        }
    }
    if redis.len() != ember.len() {
        n += 1;
        let _ = writeln!(
            report,
            "redis recorded {} entries, ember {}",
            redis.len(),
            ember.len()
        );
    }
    if n == 0 {
        Ok(())
    } else {
        Err(format!("{n} difference(s) from redis-server:\n{report}"))
    }
}

/// Starts redis-server and ember-server (concurrently) with the same directives.
pub fn start_pair(extra: &[(&str, &str)]) -> (ServerProcess, ServerProcess) {
    let owned: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let redis = std::thread::spawn(move || {
        let extra: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (&**k, &**v)).collect();
        ServerProcess::start_redis(&extra)
    });
    let ember = ServerProcess::start_ember(extra);
    let redis = redis
        .join()
        .unwrap_or_else(|_| panic!("starting redis-server panicked"));
    (redis, ember)
}

/// Plays `script` against both servers at the same time (they are independent), returning
/// (redis's transcript, ember's).
pub fn run_both(
    script: &Script,
    redis: &ServerProcess,
    ember: &ServerProcess,
) -> (Vec<Entry>, Vec<Entry>) {
    std::thread::scope(|scope| {
        let r = scope.spawn(|| script.run(redis));
        let e = script.run(ember);
        match r.join() {
            Ok(r) => (r, e),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `script` against fresh redis-server and ember-server and panics with every difference.
#[track_caller]
pub fn assert_same(script: &Script) {
    assert_same_with(script, &[], &|f| f.show());
}

#[track_caller]
pub fn assert_same_with(
    script: &Script,
    extra: &[(&str, &str)],
    render: &dyn Fn(&Frame) -> String,
) {
    let (redis, ember) = start_pair(extra);
    let (r, e) = run_both(script, &redis, &ember);
    if let Err(report) = compare_with(&r, &e, render) {
        panic!("{report}");
    }
}
