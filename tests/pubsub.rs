//! Differential pub/sub tests: the same multi-connection script runs against Debian's
//! redis-server 7.0 and ember-server, and what every connection received — subscribe
//! confirmations and their counts, messages, pmessages, smessages, PUBLISH counts, PUBSUB
//! introspection, subscribed-mode errors, RESP3 push frames — is compared byte for byte (as sets
//! where Redis leaves the order unspecified: multi-channel UNSUBSCRIBE with no arguments, PUBSUB
//! CHANNELS). See `common/transcript.rs` for the script runner.
//!
//! Plus two behavioural tests run against both servers with the same assertions: a slow
//! subscriber over `client-output-buffer-limit pubsub` is disconnected while a reading one keeps
//! flat latency, and CLIENT LIST reports subscription counts.
//!
//! Every read has a timeout and every loop a bound; the file runs in a few seconds.

#[path = "common/mod.rs"]
mod common;
#[path = "common/transcript.rs"]
mod transcript;

use common::{escape, split_aggregate, string_value, Protocol, RespConn, ServerProcess};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use transcript::{assert_same, Script};

/// A RESP2 `message` frame.
fn message(channel: &str, payload: &str) -> Vec<u8> {
    common::encode_command(&["message", channel, payload])
}

// ---------------------------------------------------------------------------------------------
// Scripts compared with redis-server
// ---------------------------------------------------------------------------------------------

#[test]
fn subscribe_publish_unsubscribe_counts() {
    const S1: usize = 0;
    const S2: usize = 1;
    const P: usize = 2;
    let mut s = Script::new(3);
    // Confirmations carry the running count (channels + patterns); a repeated name is confirmed
    // again without counting twice.
    s.cmd_n(S1, &["SUBSCRIBE", "news", "sport", "news"], 3)
        .cmd_n(S1, &["PSUBSCRIBE", "news.*", "s?ort"], 2)
        .cmd_n(S1, &["PSUBSCRIBE", "news.*"], 1)
        .cmd_n(S2, &["SUBSCRIBE", "sport"], 1)
        .cmd_n(S2, &["SSUBSCRIBE", "shard1", "shard2"], 2)
        .cmd(P, &["PUBLISH", "news", "n1"])
        .cmd(P, &["PUBLISH", "sport", "s1"])
        .cmd(P, &["PUBLISH", "news.tech", "t1"])
        .cmd(P, &["PUBLISH", "nobody", "x"])
        .cmd(P, &["SPUBLISH", "shard1", "sh1"])
        .cmd(P, &["SPUBLISH", "sport", "not-to-sport"])
        .cmd(P, &["PUBLISH", "shard1", "not-to-shard1"])
        .recv(S1, 4)
        .quiet(S1)
        .recv(S2, 2)
        .quiet(S2)
        // Introspection from a third connection.
        .cmd(P, &["PUBSUB", "NUMSUB"])
        .cmd(
            P,
            &["PUBSUB", "NUMSUB", "news", "sport", "nobody", "news.*"],
        )
        .cmd(P, &["PUBSUB", "NUMPAT"])
        .cmd_sorted(P, &["PUBSUB", "CHANNELS"])
        .cmd_sorted(P, &["PUBSUB", "CHANNELS", "s*"])
        .cmd_sorted(P, &["PUBSUB", "CHANNELS", "nomatch*"])
        .cmd_sorted(P, &["PUBSUB", "SHARDCHANNELS"])
        .cmd_sorted(P, &["PUBSUB", "SHARDCHANNELS", "*2"])
        .cmd(P, &["PUBSUB", "SHARDNUMSUB", "shard1", "news"])
        .cmd(P, &["PUBSUB", "SHARDNUMSUB"])
        // Explicit unsubscribes are confirmed in argument order, unknown names included.
        .cmd_n(S1, &["UNSUBSCRIBE", "news", "unknown"], 2)
        .cmd_n(S1, &["PUNSUBSCRIBE", "s?ort"], 1)
        .cmd(P, &["PUBLISH", "news", "n2"])
        .cmd(P, &["PUBLISH", "news.x", "n3"])
        .cmd(P, &["PUBSUB", "NUMPAT"])
        .recv(S1, 1)
        // No arguments: every remaining subscription, in an unspecified order.
        .cmd_any_order(S1, &["UNSUBSCRIBE"], 1)
        .cmd_any_order(S1, &["PUNSUBSCRIBE"], 1)
        .cmd_any_order(S2, &["SUNSUBSCRIBE"], 2)
        // S2 still has `sport`: SUNSUBSCRIBE leaves it in subscribed mode.
        .cmd(S2, &["GET", "x"])
        .cmd_any_order(S2, &["UNSUBSCRIBE"], 1)
        .cmd(S2, &["GET", "x"])
        // Out of subscribed mode: a normal connection again.
        .cmd(S1, &["SET", "x", "1"])
        .cmd(S1, &["PING"])
        .cmd(P, &["PUBLISH", "news", "gone"])
        .cmd(P, &["PUBSUB", "NUMSUB", "news", "sport"])
        .cmd(P, &["PUBSUB", "NUMPAT"])
        .cmd_sorted(P, &["PUBSUB", "CHANNELS"])
        .quiet(S1)
        .quiet(S2);
    assert_same(&s);
}

#[test]
fn unsubscribe_when_not_subscribed_confirms_each_name() {
    const C: usize = 0;
    let mut s = Script::new(1);
    s.cmd(C, &["UNSUBSCRIBE"])
        .cmd(C, &["PUNSUBSCRIBE"])
        .cmd(C, &["SUNSUBSCRIBE"])
        .cmd_n(C, &["UNSUBSCRIBE", "a", "b"], 2)
        .cmd_n(C, &["PUNSUBSCRIBE", "p*"], 1)
        .cmd_n(C, &["SUNSUBSCRIBE", "s1"], 1)
        // Still a normal connection afterwards.
        .cmd(C, &["GET", "a"])
        // Subscribed only to a pattern: UNSUBSCRIBE names a channel it does not have.
        .cmd(C, &["PSUBSCRIBE", "p*"])
        .cmd_n(C, &["UNSUBSCRIBE", "a"], 1)
        .cmd(C, &["UNSUBSCRIBE"])
        .cmd(C, &["PUNSUBSCRIBE"])
        .cmd(C, &["GET", "a"]);
    assert_same(&s);
}

#[test]
fn numpat_counts_unique_patterns_not_subscriptions() {
    const C1: usize = 0;
    const C2: usize = 1;
    const P: usize = 2;
    let mut s = Script::new(3);
    s.cmd_n(C1, &["PSUBSCRIBE", "a*", "b*"], 2)
        .cmd(C2, &["PSUBSCRIBE", "a*"])
        .cmd(P, &["PUBSUB", "NUMPAT"])
        .cmd(P, &["PUBLISH", "ax", "1"])
        .recv(C1, 1)
        .recv(C2, 1)
        .cmd(C1, &["PUNSUBSCRIBE", "a*"])
        .cmd(P, &["PUBSUB", "NUMPAT"])
        .cmd(P, &["PUBLISH", "ax", "2"])
        .recv(C2, 1)
        .quiet(C1)
        .cmd(C2, &["PUNSUBSCRIBE"])
        .cmd(P, &["PUBSUB", "NUMPAT"])
        .cmd(C1, &["PUNSUBSCRIBE", "b*", "b*"])
        .cmd(P, &["PUBSUB", "NUMPAT"]);
    assert_same(&s);
}

#[test]
fn pattern_globs_match_like_keys() {
    // One subscriber per pattern, so each one's pmessages have a defined order (Redis walks
    // patterns in dict order when several match).
    let patterns = [
        "h?llo",
        "h*llo",
        "h[ae]llo",
        "h[^e]llo",
        "h[a-b]llo",
        "h[b-a]llo",
        "h\\?llo",
        "\\*",
        "news.*",
        "*.sport",
        "a[",
        "[",
        "x\\",
        "*",
        "",
    ];
    let channels: &[&[u8]] = &[
        b"hello",
        b"hallo",
        b"hbllo",
        b"hxllo",
        b"hllo",
        b"heeeello",
        b"h?llo",
        b"*",
        b"news.tech",
        b"news",
        b"news.sport",
        b"a[",
        b"[",
        b"x\\",
        b"HELLO",
        b"h\xffllo",
        b"",
    ];
    let p = patterns.len();
    let mut s = Script::new(p + 1);
    for (i, pat) in patterns.iter().enumerate() {
        s.cmd_n(i, &["PSUBSCRIBE", pat, "zz-end"], 2);
        s.cmd_n(i, &["SUBSCRIBE", "zz-end"], 1);
    }
    s.cmd(p, &["PUBSUB", "NUMPAT"]);
    for ch in channels {
        s.cmd_bytes(
            p,
            vec![b"PUBLISH".to_vec(), ch.to_vec(), b"m".to_vec()],
            1,
            transcript::Order::Exact,
        );
    }
    s.cmd(p, &["PUBLISH", "zz-end", "end"]);
    for i in 0..p {
        s.recv_until(i, message("zz-end", "end"));
    }
    assert_same(&s);
}

#[test]
fn resp2_subscribed_mode_allows_only_pubsub_ping_quit_reset() {
    const S: usize = 0;
    const P: usize = 1;
    let mut s = Script::new(2);
    s.cmd(S, &["SSUBSCRIBE", "sh"])
        // Shard subscriptions alone put a RESP2 client in subscribed mode too.
        .cmd(S, &["GET", "k"])
        .cmd(S, &["SUBSCRIBE", "ch"])
        .cmd(S, &["GET", "k"])
        .cmd(S, &["set", "k", "v"])
        .cmd(S, &["MULTI"])
        .cmd(S, &["HELLO", "3"])
        .cmd(S, &["PUBLISH", "ch", "x"])
        .cmd(S, &["SPUBLISH", "sh", "x"])
        .cmd(S, &["PUBSUB", "NUMSUB", "ch"])
        .cmd(S, &["CLIENT", "ID"])
        .cmd(S, &["CLIENT", "NOSUCH"])
        .cmd(S, &["COMMAND", "COUNT"])
        .cmd(S, &["SELECT", "1"])
        .cmd(S, &["NOSUCHCOMMAND", "x"])
        .cmd(S, &["SUBSCRIBE"])
        .cmd(S, &["PING", "a", "b"])
        // PING in subscribed mode is a ["pong", arg-or-empty] array.
        .cmd(S, &["PING"])
        .cmd(S, &["ping", "hello"])
        .cmd(S, &["PING", ""])
        // Messages and command replies interleave on the one connection.
        .cmd(P, &["PUBLISH", "ch", "m1"])
        .recv(S, 1)
        .cmd(S, &["PSUBSCRIBE", "c*"])
        .cmd(P, &["PUBLISH", "ch", "m2"])
        .recv(S, 2)
        .cmd(S, &["PING"])
        // The state it was in before subscribing is untouched: the key was never set.
        .cmd(S, &["UNSUBSCRIBE"])
        .cmd(S, &["PUNSUBSCRIBE"])
        .cmd(S, &["GET", "k"])
        .cmd(S, &["SUNSUBSCRIBE"])
        .cmd(S, &["GET", "k"])
        .cmd(S, &["PING"])
        .quiet(S)
        .cmd(S, &["SUBSCRIBE", "ch"])
        .cmd(S, &["QUIT"])
        // The server drops a closed client's subscriptions (give it a moment to notice).
        .sleep(50)
        .cmd(P, &["PUBSUB", "NUMSUB", "ch"]);
    assert_same(&s);
}

#[test]
fn resp3_push_frames_interleave_with_normal_commands() {
    const S: usize = 0;
    const P: usize = 1;
    let mut s = Script::new(2);
    s.hello3(S)
        .cmd(S, &["SUBSCRIBE", "ch"])
        .cmd(S, &["PSUBSCRIBE", "c*"])
        .cmd(S, &["SSUBSCRIBE", "sh"])
        // RESP3 has no subscribed mode: every command works, PING is a plain +PONG.
        .cmd(S, &["SET", "k", "v"])
        .cmd(S, &["GET", "k"])
        .cmd(S, &["PING"])
        .cmd(S, &["PING", "x"])
        .cmd(S, &["HGETALL", "nohash"])
        .cmd(S, &["GET", "nokey"])
        .cmd(P, &["PUBLISH", "ch", "m1"])
        .cmd(P, &["SPUBLISH", "sh", "m2"])
        .recv(S, 3)
        .cmd(S, &["INCR", "n"])
        .cmd(P, &["PUBLISH", "cx", "m3"])
        .recv(S, 1)
        .cmd(S, &["MULTI"])
        .cmd(S, &["INCR", "n"])
        .cmd(P, &["PUBLISH", "ch", "during-multi"])
        .recv(S, 2)
        .cmd(S, &["EXEC"])
        .cmd(S, &["UNSUBSCRIBE", "ch"])
        .cmd(S, &["PUNSUBSCRIBE"])
        .cmd(S, &["SUNSUBSCRIBE"])
        .cmd(S, &["UNSUBSCRIBE"])
        .cmd(P, &["PUBLISH", "ch", "gone"])
        .cmd(S, &["GET", "k"])
        .quiet(S);
    assert_same(&s);
}

#[test]
fn resp3_self_publish_message_precedes_reply_and_survives_unsubscribe() {
    // Redis appends a message to the subscriber's output buffer while PUBLISH runs, so a RESP3
    // client publishing to its own channel sees the push before PUBLISH's reply, and a message
    // published before an UNSUBSCRIBE in the same pipeline is still delivered.
    const S: usize = 0;
    let mut s = Script::new(1);
    s.hello3(S)
        .cmd(S, &["SUBSCRIBE", "self"])
        .cmd_n(S, &["PUBLISH", "self", "one"], 2)
        .send(S, &["PUBLISH", "self", "two"])
        .send(S, &["UNSUBSCRIBE", "self"])
        .recv(S, 3)
        .cmd(S, &["SUBSCRIBE", "self"])
        .send(S, &["PUBLISH", "self", "three"])
        .send(S, &["RESET"])
        .recv(S, 3)
        .quiet(S);
    assert_same(&s);
}

#[test]
fn hello_2_while_subscribed_in_resp3_switches_message_format() {
    const S: usize = 0;
    const P: usize = 1;
    let mut s = Script::new(2);
    s.hello3(S)
        .cmd(S, &["SUBSCRIBE", "ch"])
        .cmd(P, &["PUBLISH", "ch", "as-push"])
        .recv(S, 1)
        .hello2(S)
        .cmd(P, &["PUBLISH", "ch", "as-array"])
        .recv(S, 1)
        // Now a RESP2 subscriber: the restrictions apply.
        .cmd(S, &["GET", "k"])
        .cmd(S, &["PING"])
        .cmd(S, &["UNSUBSCRIBE"])
        .cmd(S, &["PING"]);
    assert_same(&s);
}

#[test]
fn reset_leaves_subscribed_mode() {
    const S: usize = 0;
    const P: usize = 1;
    let mut s = Script::new(2);
    s.cmd(S, &["SUBSCRIBE", "a", "b"])
        .cmd(S, &["PSUBSCRIBE", "p*"])
        .cmd(S, &["SSUBSCRIBE", "s"])
        .cmd(S, &["RESET"])
        .cmd(S, &["GET", "k"])
        .cmd(S, &["PING"])
        .cmd(P, &["PUBLISH", "a", "x"])
        .cmd(P, &["PUBLISH", "px", "x"])
        .cmd(P, &["SPUBLISH", "s", "x"])
        .cmd(P, &["PUBSUB", "NUMSUB", "a", "b"])
        .cmd(P, &["PUBSUB", "NUMPAT"])
        .cmd(P, &["PUBSUB", "SHARDNUMSUB", "s"])
        .quiet(S)
        // RESET also returns a RESP3 subscriber to RESP2 with no subscriptions.
        .hello3(S)
        .cmd(S, &["SUBSCRIBE", "a"])
        .proto(S, &["RESET"], Protocol::Resp2)
        .cmd(P, &["PUBLISH", "a", "x"])
        .cmd(S, &["PING"])
        .cmd(S, &["UNSUBSCRIBE"])
        .quiet(S);
    assert_same(&s);
}

#[test]
fn one_publisher_1000_messages_arrive_in_order() {
    const S: usize = 0;
    const PS: usize = 1;
    const P: usize = 2;
    let mut s = Script::new(3);
    s.cmd(S, &["SUBSCRIBE", "seq"])
        .cmd(PS, &["PSUBSCRIBE", "s*"]);
    let payloads: Vec<String> = (0..1000).map(|i| format!("msg-{i:04}")).collect();
    // Pipelined: all 1000 PUBLISH commands go out before any reply is read.
    for p in &payloads {
        s.send(P, &["PUBLISH", "seq", p]);
    }
    s.recv(P, 1000)
        .recv(S, 1000)
        .recv(PS, 1000)
        .quiet(S)
        .quiet(PS);
    assert_same(&s);
}

#[test]
fn pubsub_subcommand_errors_and_help() {
    const C: usize = 0;
    let mut s = Script::new(1);
    s.cmd(C, &["PUBSUB"])
        .cmd(C, &["PUBSUB", "NOSUCH"])
        .cmd(C, &["PUBSUB", "CHANNELS", "a", "b"])
        .cmd(C, &["PUBSUB", "SHARDCHANNELS", "a", "b"])
        .cmd(C, &["PUBSUB", "NUMPAT", "x"])
        .cmd(C, &["PUBSUB", "HELP"])
        .cmd(C, &["pubsub", "help", "x"])
        .cmd(C, &["SUBSCRIBE"])
        .cmd(C, &["PSUBSCRIBE"])
        .cmd(C, &["SSUBSCRIBE"])
        .cmd(C, &["PUBLISH", "ch"])
        .cmd(C, &["PUBLISH", "ch", "m", "extra"])
        .cmd(C, &["SPUBLISH", "ch"]);
    assert_same(&s);
}

// ---------------------------------------------------------------------------------------------
// CLIENT LIST while subscribed
// ---------------------------------------------------------------------------------------------

/// `flags`, `sub`, `psub`, `ssub` of client `id` in CLIENT LIST.
fn subscription_fields(conn: &mut RespConn, id: i64) -> String {
    let reply = conn.command(&["CLIENT", "LIST"]).expect("CLIENT LIST");
    let text = String::from_utf8_lossy(string_value(&reply).unwrap_or(&[])).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .unwrap_or_else(|| panic!("client {id} not in CLIENT LIST: {text}"));
    line.split(' ')
        .filter(|f| {
            ["flags=", "sub=", "psub=", "ssub="]
                .iter()
                .any(|p| f.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn client_list_counts(server: &ServerProcess) -> Vec<String> {
    let mut sub = server.connect();
    let mut other = server.connect();
    let id = common::integer_value(&sub.command(&["CLIENT", "ID"]).expect("CLIENT ID"))
        .expect("CLIENT ID is an integer");
    let mut seen = vec![subscription_fields(&mut other, id)];
    for (cmd, n) in [
        (&["SUBSCRIBE", "a", "b"][..], 2),
        (&["PSUBSCRIBE", "p*"][..], 1),
        (&["SSUBSCRIBE", "s1", "s2", "s3"][..], 3),
    ] {
        sub.send(cmd).expect("send");
        for _ in 0..n {
            sub.read_reply().expect("confirmation");
        }
        seen.push(subscription_fields(&mut other, id));
    }
    sub.command(&["RESET"]).expect("RESET");
    seen.push(subscription_fields(&mut other, id));
    seen
}

#[test]
fn client_list_reports_subscription_counts() {
    let (redis, ember) = transcript::start_pair(&[]);
    let r = client_list_counts(&redis);
    let e = client_list_counts(&ember);
    assert_eq!(
        e, r,
        "CLIENT LIST fields of a subscriber (ember left, redis right)"
    );
}

// ---------------------------------------------------------------------------------------------
// Slow subscriber over client-output-buffer-limit pubsub
// ---------------------------------------------------------------------------------------------

/// The limit the slow-subscriber test runs with: hard 1 MiB, soft 256 KiB for 2 s.
const SLOW_LIMIT: &str = "pubsub 1mb 256kb 2";
const SLOW_PAYLOAD: usize = 4096;
/// ~20 MB published in total.
const SLOW_MESSAGES: usize = 5120;
const SLOW_BATCH: usize = 32;
/// Pause between two batches of the publisher.
const SLOW_PACE: Duration = Duration::from_millis(2);
/// How far (in messages) the publisher may run ahead of the reading subscriber: 512 KiB.
const SLOW_WINDOW: usize = 128;

/// What the slow-subscriber scenario observed.
#[derive(Debug)]
struct SlowOutcome {
    config: String,
    slow_closed: bool,
    slow_bytes: usize,
    numsub_after: Option<i64>,
    reader_messages: usize,
    /// Median and maximum delivery latency of each quarter of the run, in ms.
    quarters: Vec<(f64, f64)>,
}

/// Reads `message` frames on a raw socket and timestamps each one; stops after `expected`
/// messages, on EOF/error, or at `deadline`.
fn read_messages_timed(
    stream: &mut TcpStream,
    expected: usize,
    deadline: Instant,
    progress: &AtomicUsize,
) -> Vec<(usize, Instant)> {
    let mut got = Vec::with_capacity(expected);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 * 1024];
    while got.len() < expected {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let _ = stream.set_read_timeout(Some((deadline - now).min(Duration::from_millis(200))));
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                let at = Instant::now();
                let mut pos = 0;
                while let Ok(Some(len)) = common::frame_len(&buf[pos..], Protocol::Resp2) {
                    let frame = &buf[pos..pos + len];
                    pos += len;
                    if let Some((_, parts)) = split_aggregate(frame, Protocol::Resp2) {
                        // The payload starts with the message's sequence number.
                        let seq = parts
                            .get(2)
                            .and_then(|p| string_value(p))
                            .and_then(|p| p.get(..8))
                            .and_then(|p| std::str::from_utf8(p).ok())
                            .and_then(|p| p.parse::<usize>().ok());
                        if let Some(seq) = seq {
                            got.push((seq, at));
                        }
                    }
                }
                buf.drain(..pos);
                progress.store(got.len(), Ordering::Release);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    got
}

/// Drains `stream` until EOF or `deadline`; (closed by the server, bytes read).
fn read_to_close(stream: &mut TcpStream, deadline: Instant) -> (bool, usize) {
    let mut chunk = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return (false, total);
        }
        let _ = stream.set_read_timeout(Some((deadline - now).min(Duration::from_millis(200))));
        match stream.read(&mut chunk) {
            Ok(0) => return (true, total),
            Ok(n) => total += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return (true, total),
        }
    }
}

/// A raw socket subscribed to `channel`, its confirmation read and nothing more.
fn subscribe_raw(server: &ServerProcess, channel: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr()).expect("connect a subscriber socket");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .write_all(&common::encode_command(&["SUBSCRIBE", channel]))
        .expect("SUBSCRIBE");
    let mut expected = common::encode_command(&["subscribe", channel]);
    expected[1] = b'3';
    expected.extend_from_slice(b":1\r\n");
    let mut got = vec![0u8; expected.len()];
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    stream.read_exact(&mut got).expect("confirmation");
    assert_eq!(escape(&got), escape(&expected), "SUBSCRIBE confirmation");
    stream
}

fn slow_subscriber_scenario(server: &ServerProcess) -> SlowOutcome {
    let mut admin = server.connect();
    let config = admin
        .command(&["CONFIG", "GET", "client-output-buffer-limit"])
        .expect("CONFIG GET");

    // The slow subscriber subscribes and then never reads again.
    let mut slow = subscribe_raw(server, "big");
    let mut reader = subscribe_raw(server, "big");

    let start = Instant::now();
    let sent_at: Arc<Vec<OnceLock<Instant>>> =
        Arc::new((0..SLOW_MESSAGES).map(|_| OnceLock::new()).collect());
    // The reader runs on its own thread and reports its progress, so the publisher can stay
    // at most SLOW_WINDOW messages ahead of it: the reader is never legitimately over the
    // limit, however loaded the machine, while the slow subscriber gets the whole flood.
    let progress = Arc::new(AtomicUsize::new(0));
    let reader_done = Arc::new(AtomicBool::new(false));
    let reader_thread = {
        let progress = progress.clone();
        let reader_done = reader_done.clone();
        std::thread::spawn(move || {
            let got = read_messages_timed(
                &mut reader,
                SLOW_MESSAGES,
                start + Duration::from_secs(12),
                &progress,
            );
            reader_done.store(true, Ordering::Release);
            // Handed back so the reader stays subscribed until NUMSUB is checked.
            (got, reader)
        })
    };
    let mut p = server.connect();
    let mut filler = vec![b'x'; SLOW_PAYLOAD];
    let mut publish_error = None;
    for batch in 0..SLOW_MESSAGES / SLOW_BATCH {
        let first = batch * SLOW_BATCH;
        // A steady stream rather than bursts, so the outcome does not depend on how a burst
        // happens to be scheduled: the slow subscriber must be cut off by its total backlog.
        std::thread::sleep(SLOW_PACE);
        let wait_until = Instant::now() + Duration::from_secs(2);
        while first + SLOW_BATCH > progress.load(Ordering::Acquire) + SLOW_WINDOW
            && !reader_done.load(Ordering::Acquire)
            && Instant::now() < wait_until
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut bytes = Vec::with_capacity(SLOW_BATCH * (SLOW_PAYLOAD + 64));
        for seq in first..first + SLOW_BATCH {
            filler[..8].copy_from_slice(format!("{seq:08}").as_bytes());
            bytes.extend_from_slice(&common::encode_command(&[&b"PUBLISH"[..], b"big", &filler]));
        }
        let now = Instant::now();
        for at in &sent_at[first..first + SLOW_BATCH] {
            let _ = at.set(now);
        }
        if let Err(e) = p.send_raw(&bytes) {
            publish_error = Some(format!("publish: {e}"));
            break;
        }
        for _ in 0..SLOW_BATCH {
            if let Err(e) = p.read_reply() {
                publish_error = Some(format!("PUBLISH reply: {e}"));
            }
        }
        if publish_error.is_some() {
            break;
        }
    }
    assert!(
        publish_error.is_none(),
        "{}: {publish_error:?}",
        server.kind().name()
    );
    let (received, _reader) = reader_thread.join().expect("reader thread");

    // The slow subscriber: it should have been closed; drain what the kernel buffered.
    let (slow_closed, slow_bytes) =
        read_to_close(&mut slow, Instant::now() + Duration::from_secs(3));
    let numsub_after = admin
        .command(&["PUBSUB", "NUMSUB", "big"])
        .ok()
        .and_then(|r| {
            split_aggregate(&r, Protocol::Resp2)
                .and_then(|(_, parts)| parts.get(1).and_then(|p| common::integer_value(p)))
        });

    let mut latencies: Vec<f64> = received
        .iter()
        .filter_map(|(seq, at)| {
            let sent = sent_at.get(*seq)?.get()?;
            Some(at.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
        })
        .collect();
    let quarter = latencies.len() / 4;
    let quarters = if quarter == 0 {
        Vec::new()
    } else {
        latencies
            .chunks_mut(quarter)
            .take(4)
            .map(|q| {
                q.sort_by(|a, b| a.total_cmp(b));
                (q[q.len() / 2], q[q.len() - 1])
            })
            .collect()
    };
    SlowOutcome {
        config: String::from_utf8_lossy(
            split_aggregate(&config, Protocol::Resp2)
                .and_then(|(_, p)| p.get(1).copied())
                .and_then(string_value)
                .unwrap_or(b""),
        )
        .into_owned(),
        slow_closed,
        slow_bytes,
        numsub_after,
        reader_messages: received.len(),
        quarters,
    }
}

#[test]
fn slow_subscriber_is_disconnected_and_others_keep_flat_latency() {
    let (redis, ember) = transcript::start_pair(&[("client-output-buffer-limit", SLOW_LIMIT)]);
    let mut failures = Vec::new();
    for server in [&redis, &ember] {
        let name = server.kind().name();
        let o = slow_subscriber_scenario(server);
        eprintln!("{name}: {o:?}");
        if o.config != "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 262144 2" {
            failures.push(format!(
                "{name}: `--client-output-buffer-limit \"{SLOW_LIMIT}\"` gave CONFIG GET {:?}",
                o.config
            ));
        }
        if !o.slow_closed {
            failures.push(format!(
                "{name}: the subscriber that never reads was not disconnected \
                 ({} bytes reached it, ~{} MB were published)",
                o.slow_bytes,
                SLOW_MESSAGES * SLOW_PAYLOAD / 1_000_000
            ));
        }
        if o.numsub_after != Some(1) {
            failures.push(format!(
                "{name}: PUBSUB NUMSUB big after the flood = {:?}, want 1 (the reader)",
                o.numsub_after
            ));
        }
        if o.reader_messages != SLOW_MESSAGES {
            failures.push(format!(
                "{name}: the reading subscriber got {} of {SLOW_MESSAGES} messages",
                o.reader_messages
            ));
        }
        // Flat latency: the last quarter is no slower than the first by more than a generous
        // factor (plus slack for a loaded CI machine), and no message took a second.
        if let (Some(first), Some(last)) = (o.quarters.first(), o.quarters.last()) {
            if last.0 > first.0 * 10.0 + 50.0 {
                failures.push(format!(
                    "{name}: median latency grew from {:.1} ms to {:.1} ms",
                    first.0, last.0
                ));
            }
            let worst = o.quarters.iter().map(|q| q.1).fold(0.0, f64::max);
            if worst > 1000.0 {
                failures.push(format!("{name}: a message took {worst:.0} ms"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        ember.output()
    );
}
