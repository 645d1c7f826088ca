//! Concurrency tests of the real `ember-server` binary: many clients at once doing MULTI/EXEC,
//! WATCH retry loops and multi-key writes, while others read. They assert what applications rely
//! on: exact totals, no lost updates, no reader ever seeing half of a transaction or of an MSET,
//! and EXEC failing (null reply) whenever a WATCHed key was changed by anyone, expired, or
//! flushed.
//!
//! With `EMBER_IT_AGAINST_REDIS=1` the same tests run against the real `redis-server`, which
//! proves that their expectations are Redis's behaviour.

#[path = "common/mod.rs"]
mod common;

use common::{escape, integer_value, split_aggregate, string_value, AsyncRespConn, Protocol};
use common::{RespConn, ServerProcess};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bound for each test's client work.
const TEST_TIMEOUT: Duration = Duration::from_secs(40);

fn start_server(extra: &[(&str, &str)]) -> ServerProcess {
    if std::env::var_os("EMBER_IT_AGAINST_REDIS").is_some_and(|v| v == "1") {
        ServerProcess::start_redis(extra)
    } else {
        ServerProcess::start_ember(extra)
    }
}

async fn connect(addr: SocketAddr) -> AsyncRespConn {
    AsyncRespConn::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

async fn cmd(c: &mut AsyncRespConn, args: &[&str]) -> Vec<u8> {
    c.command(args)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Sends all commands in one write, then reads one reply per command.
async fn pipeline(c: &mut AsyncRespConn, cmds: &[Vec<String>]) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    for args in cmds {
        bytes.extend(common::encode_command(args));
    }
    c.send_raw(&bytes)
        .await
        .unwrap_or_else(|e| panic!("sending a pipeline: {e}"));
    let mut replies = Vec::with_capacity(cmds.len());
    for args in cmds {
        replies.push(
            c.read_reply()
                .await
                .unwrap_or_else(|e| panic!("reply to {args:?}: {e}")),
        );
    }
    replies
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The elements of an array reply.
fn elements(reply: &[u8]) -> Vec<Vec<u8>> {
    split_aggregate(reply, Protocol::Resp2)
        .unwrap_or_else(|| panic!("expected an array, got {}", escape(reply)))
        .1
        .into_iter()
        .map(|e| e.to_vec())
        .collect()
}

fn int(reply: &[u8]) -> i64 {
    integer_value(reply).unwrap_or_else(|| panic!("expected an integer, got {}", escape(reply)))
}

/// A bulk reply as an integer (GET of a counter); a missing key counts as 0.
fn bulk_int(reply: &[u8]) -> i64 {
    if reply == b"$-1\r\n" {
        return 0;
    }
    let s = string_value(reply).unwrap_or_else(|| panic!("expected a bulk, got {}", escape(reply)));
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("expected a number, got {}", escape(reply)))
}

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("the test's client work took longer than {TEST_TIMEOUT:?}"))
}

#[track_caller]
fn expect(conn: &mut RespConn, args: &[&str], expected: &[u8]) {
    let reply = conn
        .command(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert_eq!(
        escape(&reply),
        escape(expected),
        "reply to {args:?} (left: got, right: expected)"
    );
}

// ---------------------------------------------------------------------------------------------
// MULTI/EXEC under load
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_exec_incr_from_20_clients_gives_exact_total() {
    let srv = start_server(&[]);
    let addr = srv.addr();
    const CLIENTS: usize = 20;
    const ITERS: usize = 200;
    let values = with_timeout(async {
        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            tasks.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                let mut seen = Vec::with_capacity(ITERS * 2);
                for i in 0..ITERS {
                    let exec = if (client + i) % 2 == 0 {
                        // Pipelined: the whole transaction in one write.
                        let r = pipeline(
                            &mut c,
                            &[
                                strings(&["MULTI"]),
                                strings(&["INCR", "ctr"]),
                                strings(&["INCR", "ctr"]),
                                strings(&["EXEC"]),
                            ],
                        )
                        .await;
                        assert_eq!(r[0], b"+OK\r\n");
                        assert_eq!(r[1], b"+QUEUED\r\n");
                        assert_eq!(r[2], b"+QUEUED\r\n");
                        r[3].clone()
                    } else {
                        // One round trip per command: other clients run in between.
                        assert_eq!(cmd(&mut c, &["MULTI"]).await, b"+OK\r\n");
                        assert_eq!(cmd(&mut c, &["INCR", "ctr"]).await, b"+QUEUED\r\n");
                        tokio::task::yield_now().await;
                        assert_eq!(cmd(&mut c, &["INCR", "ctr"]).await, b"+QUEUED\r\n");
                        cmd(&mut c, &["EXEC"]).await
                    };
                    let e = elements(&exec);
                    assert_eq!(e.len(), 2, "EXEC replied {}", escape(&exec));
                    let (a, b) = (int(&e[0]), int(&e[1]));
                    assert_eq!(
                        b,
                        a + 1,
                        "two INCRs of one transaction were not consecutive: another client's \
                         INCR ran in between"
                    );
                    seen.push(a);
                    seen.push(b);
                }
                seen
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    })
    .await;
    let mut c = srv.connect();
    let total = (CLIENTS * ITERS * 2) as i64;
    expect(
        &mut c,
        &["GET", "ctr"],
        format!("${}\r\n{total}\r\n", total.to_string().len()).as_bytes(),
    );
    let mut sorted = values;
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=total).collect::<Vec<_>>(),
        "every INCR result must be seen exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_retry_loops_lose_no_update() {
    let srv = start_server(&[]);
    let addr = srv.addr();
    const CLIENTS: usize = 10;
    const WANTED: u64 = 30;
    const MAX_ATTEMPTS: u64 = 3000;
    let successes = Arc::new(AtomicU64::new(0));
    let aborts = Arc::new(AtomicU64::new(0));
    with_timeout(async {
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (successes, aborts) = (successes.clone(), aborts.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                let mut mine = 0;
                let mut attempts = 0;
                while mine < WANTED {
                    attempts += 1;
                    assert!(
                        attempts <= MAX_ATTEMPTS,
                        "{MAX_ATTEMPTS} attempts for {WANTED} successful EXECs"
                    );
                    assert_eq!(cmd(&mut c, &["WATCH", "val"]).await, b"+OK\r\n");
                    let v = bulk_int(&cmd(&mut c, &["GET", "val"]).await);
                    // Give the others a chance to interfere between read and write.
                    tokio::task::yield_now().await;
                    let r = pipeline(
                        &mut c,
                        &[
                            strings(&["MULTI"]),
                            vec!["SET".into(), "val".into(), (v + 1).to_string()],
                            strings(&["INCR", "execs"]),
                            strings(&["EXEC"]),
                        ],
                    )
                    .await;
                    assert_eq!(r[0], b"+OK\r\n");
                    match r[3].as_slice() {
                        b"*-1\r\n" => {
                            aborts.fetch_add(1, Ordering::Relaxed);
                        }
                        exec => {
                            let e = elements(exec);
                            assert_eq!(e[0], b"+OK\r\n", "EXEC replied {}", escape(exec));
                            int(&e[1]);
                            mine += 1;
                            successes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
    let total = successes.load(Ordering::Relaxed);
    eprintln!(
        "{total} successful EXECs, {} aborted by WATCH",
        aborts.load(Ordering::Relaxed)
    );
    assert_eq!(total, CLIENTS as u64 * WANTED);
    let mut c = srv.connect();
    let val = bulk_int(&c.command(&["GET", "val"]).unwrap());
    let execs = bulk_int(&c.command(&["GET", "execs"]).unwrap());
    assert_eq!(
        (val, execs),
        (total as i64, total as i64),
        "the counter must equal the number of successful EXECs ({} EXECs were aborted)",
        aborts.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_observe_half_a_transaction() {
    let srv = start_server(&[]);
    let addr = srv.addr();
    const WRITERS: usize = 3;
    const ITERS: usize = 150;
    let tx_keys: Vec<String> = (1..=10).map(|i| format!("k{i}")).collect();
    let mset_keys: Vec<String> = (1..=50).map(|i| format!("m{i}")).collect();
    let plain_keys: Vec<String> = (1..=50).map(|i| format!("p{i}")).collect();
    {
        // Initial state: everything "init", counters equal.
        let mut c = srv.connect();
        let mut args = vec!["MSET".to_string()];
        for k in tx_keys.iter().chain(&mset_keys).chain(&plain_keys) {
            args.push(k.clone());
            args.push("init".into());
        }
        args.extend(strings(&["x", "0", "y", "0"]));
        assert_eq!(c.command(&args).unwrap(), b"+OK\r\n");
    }
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    with_timeout(async {
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let (tx_keys, mset_keys, plain_keys) =
                (tx_keys.clone(), mset_keys.clone(), plain_keys.clone());
            writers.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                for i in 0..ITERS {
                    let v = format!("w{w}:{i}");
                    // One transaction: ten separate SETs, an MSET of 50 keys, two INCRs.
                    let mut cmds = vec![strings(&["MULTI"])];
                    for k in &tx_keys {
                        cmds.push(vec!["SET".into(), k.clone(), v.clone()]);
                    }
                    let mut mset = vec!["MSET".to_string()];
                    for k in &mset_keys {
                        mset.push(k.clone());
                        mset.push(v.clone());
                    }
                    cmds.push(mset);
                    cmds.push(strings(&["INCR", "x"]));
                    cmds.push(strings(&["INCR", "y"]));
                    cmds.push(strings(&["EXEC"]));
                    let r = pipeline(&mut c, &cmds).await;
                    let exec = r.last().unwrap();
                    assert_eq!(
                        elements(exec).len(),
                        tx_keys.len() + 3,
                        "EXEC replied {}",
                        escape(exec)
                    );
                    // A plain MSET of 50 keys is atomic on its own.
                    let mut plain = vec!["MSET".to_string()];
                    for k in &plain_keys {
                        plain.push(k.clone());
                        plain.push(v.clone());
                    }
                    assert_eq!(pipeline(&mut c, &[plain]).await[0], b"+OK\r\n");
                }
            }));
        }
        let mut readers = Vec::new();
        for r in 0..4 {
            let (tx_keys, mset_keys, plain_keys) =
                (tx_keys.clone(), mset_keys.clone(), plain_keys.clone());
            let (done, reads) = (done.clone(), reads.clone());
            readers.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                let mut n = 0u64;
                while !done.load(Ordering::Acquire) && n < 100_000 {
                    n += 1;
                    match (n + r) % 4 {
                        0 => {
                            // Every key one transaction writes, in one MGET.
                            let mut args = vec!["MGET".to_string()];
                            args.extend(tx_keys.iter().cloned());
                            args.extend(mset_keys.iter().cloned());
                            let reply = c.command(&args).await.unwrap();
                            assert_all_equal(&reply, "MGET of k1..k10 and m1..m50");
                        }
                        1 => {
                            let reply = cmd(&mut c, &["MGET", "x", "y"]).await;
                            assert_all_equal(&reply, "MGET x y (INCRed in one transaction)");
                        }
                        2 => {
                            let mut args = vec!["MGET".to_string()];
                            args.extend(plain_keys.iter().cloned());
                            let reply = c.command(&args).await.unwrap();
                            assert_all_equal(&reply, "MGET of p1..p50 (one MSET)");
                        }
                        _ => {
                            // Single-key GETs inside the reader's own transaction.
                            let mut cmds = vec![strings(&["MULTI"])];
                            for k in &tx_keys {
                                cmds.push(vec!["GET".into(), k.clone()]);
                            }
                            cmds.push(strings(&["EXEC"]));
                            let r = pipeline(&mut c, &cmds).await;
                            assert_all_equal(r.last().unwrap(), "GETs of k1..k10 in MULTI");
                        }
                    }
                }
                reads.fetch_add(n, Ordering::Relaxed);
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        done.store(true, Ordering::Release);
        for r in readers {
            r.await.unwrap();
        }
    })
    .await;
    eprintln!("{} reads during the writes", reads.load(Ordering::Relaxed));
    assert!(
        reads.load(Ordering::Relaxed) >= 100,
        "readers ran only {} reads while the writers worked",
        reads.load(Ordering::Relaxed)
    );
    let mut c = srv.connect();
    let total = (WRITERS * ITERS) as i64;
    assert_eq!(bulk_int(&c.command(&["GET", "x"]).unwrap()), total);
    assert_eq!(bulk_int(&c.command(&["GET", "y"]).unwrap()), total);
}

#[track_caller]
fn assert_all_equal(reply: &[u8], what: &str) {
    let e = elements(reply);
    assert!(!e.is_empty(), "{what}: empty reply");
    let first = &e[0];
    assert!(
        first.starts_with(b"$") && first != b"$-1\r\n",
        "{what}: element 0 is {}",
        escape(first)
    );
    for (i, v) in e.iter().enumerate() {
        assert_eq!(
            escape(v),
            escape(first),
            "{what}: element {i} differs from element 0: a reader saw half of a write"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_between_watched_keys_keep_the_sum() {
    // The classic WATCH example: move units between two keys (on different shards, most likely)
    // while readers check the invariant a + b == 1000 with MGET.
    let srv = start_server(&[]);
    let addr = srv.addr();
    {
        let mut c = srv.connect();
        expect(
            &mut c,
            &["MSET", "acct:a", "500", "acct:b", "500"],
            b"+OK\r\n",
        );
    }
    let done = Arc::new(AtomicBool::new(false));
    let moved = Arc::new(AtomicU64::new(0));
    with_timeout(async {
        let mut movers = Vec::new();
        for m in 0..6 {
            let moved = moved.clone();
            movers.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                let (from, to) = if m % 2 == 0 {
                    ("acct:a", "acct:b")
                } else {
                    ("acct:b", "acct:a")
                };
                let mut ok = 0;
                for _attempt in 0..2000 {
                    if ok == 25 {
                        break;
                    }
                    assert_eq!(cmd(&mut c, &["WATCH", from, to]).await, b"+OK\r\n");
                    let r = cmd(&mut c, &["MGET", from, to]).await;
                    let e = elements(&r);
                    let (f, t) = (bulk_int(&e[0]), bulk_int(&e[1]));
                    tokio::task::yield_now().await;
                    let r = pipeline(
                        &mut c,
                        &[
                            strings(&["MULTI"]),
                            vec!["SET".into(), from.into(), (f - 1).to_string()],
                            vec!["SET".into(), to.into(), (t + 1).to_string()],
                            strings(&["EXEC"]),
                        ],
                    )
                    .await;
                    if r[3] != b"*-1\r\n" {
                        assert_eq!(r[3], b"*2\r\n+OK\r\n+OK\r\n");
                        ok += 1;
                        moved.fetch_add(1, Ordering::Relaxed);
                    }
                }
                assert_eq!(ok, 25, "25 transfers within 2000 attempts");
            }));
        }
        let mut readers = Vec::new();
        for _ in 0..3 {
            let done = done.clone();
            readers.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                let mut n = 0;
                while !done.load(Ordering::Acquire) && n < 200_000 {
                    n += 1;
                    let r = cmd(&mut c, &["MGET", "acct:a", "acct:b"]).await;
                    let e = elements(&r);
                    let sum = bulk_int(&e[0]) + bulk_int(&e[1]);
                    assert_eq!(sum, 1000, "a reader saw a + b = {sum} mid-transfer");
                }
            }));
        }
        for m in movers {
            m.await.unwrap();
        }
        done.store(true, Ordering::Release);
        for r in readers {
            r.await.unwrap();
        }
    })
    .await;
    assert_eq!(moved.load(Ordering::Relaxed), 6 * 25);
    let mut c = srv.connect();
    // Three movers each way, 25 each: back to where they started.
    expect(
        &mut c,
        &["MGET", "acct:a", "acct:b"],
        b"*2\r\n$3\r\n500\r\n$3\r\n500\r\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_clients_at_once() {
    let srv = start_server(&[]);
    let addr = srv.addr();
    with_timeout(async {
        let mut tasks = Vec::new();
        for t in 0..100 {
            tasks.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                for i in 0..30 {
                    let key = format!("c{t}:{i}");
                    let val = format!("{t}-{i}");
                    assert_eq!(cmd(&mut c, &["SET", &key, &val]).await, b"+OK\r\n");
                    let got = cmd(&mut c, &["GET", &key]).await;
                    assert_eq!(string_value(&got), Some(val.as_bytes()));
                    cmd(&mut c, &["INCR", "shared"]).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
    let mut c = srv.connect();
    expect(&mut c, &["GET", "shared"], b"$4\r\n3000\r\n");
    expect(&mut c, &["DBSIZE"], b":3001\r\n");
}

// ---------------------------------------------------------------------------------------------
// WATCH: what makes EXEC fail, and what does not
// ---------------------------------------------------------------------------------------------

/// WATCH `key` on `a`, let `interfere` act (on `b`), then MULTI / SET side / EXEC on `a`.
/// Returns EXEC's raw reply.
fn watch_then(
    a: &mut RespConn,
    b: &mut RespConn,
    key: &str,
    interfere: &mut dyn FnMut(&mut RespConn, &mut RespConn),
) -> Vec<u8> {
    expect(a, &["WATCH", key], b"+OK\r\n");
    interfere(a, b);
    expect(a, &["MULTI"], b"+OK\r\n");
    expect(a, &["SET", "side-effect", "1"], b"+QUEUED\r\n");
    a.command(&["EXEC"]).unwrap()
}

#[test]
fn watch_fails_exec_when_another_client_writes_the_key() {
    let srv = start_server(&[]);
    let mut a = srv.connect();
    let mut b = srv.connect();
    type Interfere = fn(&mut RespConn, &mut RespConn);
    let aborting: &[(&str, Interfere)] = &[
        ("SET by another client", |_, b| {
            expect(b, &["SET", "w", "other"], b"+OK\r\n")
        }),
        ("SET to the same value", |_, b| {
            expect(b, &["SET", "w", "v"], b"+OK\r\n")
        }),
        ("DEL by another client", |_, b| {
            expect(b, &["DEL", "w"], b":1\r\n")
        }),
        ("APPEND", |_, b| expect(b, &["APPEND", "w", "x"], b":2\r\n")),
        ("EXPIRE", |_, b| {
            expect(b, &["EXPIRE", "w", "100"], b":1\r\n")
        }),
        ("RENAME away", |_, b| {
            expect(b, &["RENAME", "w", "w2"], b"+OK\r\n")
        }),
        ("the watcher's own SET", |a, _| {
            expect(a, &["SET", "w", "mine"], b"+OK\r\n")
        }),
        ("FLUSHALL by another client", |_, b| {
            expect(b, &["FLUSHALL"], b"+OK\r\n")
        }),
        ("FLUSHDB by another client", |_, b| {
            expect(b, &["FLUSHDB"], b"+OK\r\n")
        }),
    ];
    for (what, interfere) in aborting {
        expect(&mut a, &["FLUSHALL"], b"+OK\r\n");
        expect(&mut a, &["SET", "w", "v"], b"+OK\r\n");
        let exec = watch_then(&mut a, &mut b, "w", &mut |a, b| interfere(a, b));
        assert_eq!(
            escape(&exec),
            escape(b"*-1\r\n"),
            "EXEC after WATCH and {what} must fail"
        );
        expect(&mut a, &["EXISTS", "side-effect"], b":0\r\n");
        // The failed EXEC unwatched everything: the next transaction goes through.
        expect(&mut b, &["SET", "w", "again"], b"+OK\r\n");
        expect(&mut a, &["MULTI"], b"+OK\r\n");
        expect(&mut a, &["PING"], b"+QUEUED\r\n");
        expect(&mut a, &["EXEC"], b"*1\r\n+PONG\r\n");
    }
    // A watched key that did not exist, then created by another client.
    expect(&mut a, &["FLUSHALL"], b"+OK\r\n");
    let exec = watch_then(&mut a, &mut b, "fresh", &mut |_, b| {
        expect(b, &["SET", "fresh", "1"], b"+OK\r\n")
    });
    assert_eq!(
        escape(&exec),
        escape(b"*-1\r\n"),
        "WATCH of a missing key, then SET"
    );
}

#[test]
fn watch_lets_exec_run_when_the_key_was_not_changed() {
    let srv = start_server(&[]);
    let mut a = srv.connect();
    let mut b = srv.connect();
    type Interfere = fn(&mut RespConn, &mut RespConn);
    let harmless: &[(&str, Interfere)] = &[
        ("nothing", |_, _| {}),
        ("GET by another client", |_, b| {
            expect(b, &["GET", "w"], b"$1\r\nv\r\n")
        }),
        ("SET of another key", |_, b| {
            expect(b, &["SET", "other", "1"], b"+OK\r\n")
        }),
        ("SET of the same name in another database", |_, b| {
            expect(b, &["SELECT", "1"], b"+OK\r\n");
            expect(b, &["SET", "w", "db1"], b"+OK\r\n");
            expect(b, &["SELECT", "0"], b"+OK\r\n");
        }),
        ("FLUSHDB of another database", |_, b| {
            expect(b, &["SELECT", "1"], b"+OK\r\n");
            expect(b, &["FLUSHDB"], b"+OK\r\n");
            expect(b, &["SELECT", "0"], b"+OK\r\n");
        }),
        ("UNWATCH, then SET by another client", |a, b| {
            expect(a, &["UNWATCH"], b"+OK\r\n");
            expect(b, &["SET", "w", "changed"], b"+OK\r\n");
        }),
    ];
    for (what, interfere) in harmless {
        expect(&mut a, &["FLUSHALL"], b"+OK\r\n");
        expect(&mut a, &["SET", "w", "v"], b"+OK\r\n");
        let exec = watch_then(&mut a, &mut b, "w", &mut |a, b| interfere(a, b));
        assert_eq!(
            escape(&exec),
            escape(b"*1\r\n+OK\r\n"),
            "EXEC after WATCH and {what} must run"
        );
    }
    // A change made before WATCH does not count.
    expect(&mut b, &["SET", "w", "before"], b"+OK\r\n");
    let exec = watch_then(&mut a, &mut b, "w", &mut |_, _| {});
    assert_eq!(escape(&exec), escape(b"*1\r\n+OK\r\n"));
    // FLUSHALL when the watched key does not exist changes nothing it watches (Redis 7).
    expect(&mut a, &["FLUSHALL"], b"+OK\r\n");
    expect(&mut a, &["SET", "unrelated", "1"], b"+OK\r\n");
    let exec = watch_then(&mut a, &mut b, "absent", &mut |_, b| {
        expect(b, &["FLUSHALL"], b"+OK\r\n")
    });
    assert_eq!(
        escape(&exec),
        escape(b"*1\r\n+OK\r\n"),
        "FLUSHALL while the watched key does not exist"
    );
    // DISCARD also unwatches.
    expect(&mut a, &["WATCH", "w"], b"+OK\r\n");
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(&mut a, &["DISCARD"], b"+OK\r\n");
    expect(&mut b, &["SET", "w", "after-discard"], b"+OK\r\n");
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(&mut a, &["GET", "w"], b"+QUEUED\r\n");
    expect(&mut a, &["EXEC"], b"*1\r\n$13\r\nafter-discard\r\n");
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(
        &mut a,
        &["WATCH", "w"],
        b"-ERR WATCH inside MULTI is not allowed\r\n",
    );
    expect(&mut a, &["EXEC"], b"*0\r\n");
}

#[test]
fn watch_fails_exec_when_the_key_expires() {
    let srv = start_server(&[]);
    let mut a = srv.connect();
    let mut b = srv.connect();
    // Expired and gone (actively or lazily) between WATCH and EXEC, for several delays.
    for delay_ms in [30u64, 120, 400] {
        expect(&mut a, &["SET", "e", "v", "PX", "20"], b"+OK\r\n");
        expect(&mut a, &["WATCH", "e"], b"+OK\r\n");
        std::thread::sleep(Duration::from_millis(delay_ms));
        expect(&mut a, &["MULTI"], b"+OK\r\n");
        expect(&mut a, &["SET", "side-effect", "1"], b"+QUEUED\r\n");
        expect(&mut a, &["EXEC"], b"*-1\r\n");
        expect(&mut a, &["EXISTS", "side-effect", "e"], b":0\r\n");
    }
    // Touched by another client's read after its deadline: still a change.
    expect(&mut a, &["SET", "e", "v", "PX", "30"], b"+OK\r\n");
    expect(&mut a, &["WATCH", "e"], b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(50));
    expect(&mut b, &["GET", "e"], b"$-1\r\n");
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(&mut a, &["PING"], b"+QUEUED\r\n");
    expect(&mut a, &["EXEC"], b"*-1\r\n");
    // A key that had already expired when WATCHed: nothing changes after WATCH.
    expect(&mut a, &["SET", "stale", "v", "PX", "1"], b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(10));
    expect(&mut a, &["WATCH", "stale"], b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(150));
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(&mut a, &["PING"], b"+QUEUED\r\n");
    expect(&mut a, &["EXEC"], b"*1\r\n+PONG\r\n");
    // A TTL far in the future does not fail EXEC.
    expect(&mut a, &["SET", "long", "v", "EX", "100"], b"+OK\r\n");
    expect(&mut a, &["WATCH", "long"], b"+OK\r\n");
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(&mut a, &["GET", "long"], b"+QUEUED\r\n");
    expect(&mut a, &["EXEC"], b"*1\r\n$1\r\nv\r\n");
}

#[test]
fn exec_with_select_inside_switches_database() {
    let srv = start_server(&[]);
    let mut a = srv.connect();
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(&mut a, &["SET", "s", "db0"], b"+QUEUED\r\n");
    expect(&mut a, &["SELECT", "1"], b"+QUEUED\r\n");
    expect(&mut a, &["SET", "s", "db1"], b"+QUEUED\r\n");
    expect(&mut a, &["EXEC"], b"*3\r\n+OK\r\n+OK\r\n+OK\r\n");
    // The SELECT inside the transaction stays in effect.
    expect(&mut a, &["GET", "s"], b"$3\r\ndb1\r\n");
    expect(&mut a, &["SELECT", "0"], b"+OK\r\n");
    expect(&mut a, &["GET", "s"], b"$3\r\ndb0\r\n");
    // A queueing error aborts the whole transaction.
    expect(&mut a, &["MULTI"], b"+OK\r\n");
    expect(&mut a, &["SET", "s", "changed"], b"+QUEUED\r\n");
    expect(
        &mut a,
        &["NOSUCHCOMMAND"],
        b"-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: \r\n",
    );
    expect(
        &mut a,
        &["EXEC"],
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    expect(&mut a, &["GET", "s"], b"$3\r\ndb0\r\n");
}

// ---------------------------------------------------------------------------------------------
// One slow client must not hold up the others
// ---------------------------------------------------------------------------------------------

/// Ember's `threads` directive (Redis has no such directive: there the flag is left out).
fn ember_threads(n: &'static str) -> Vec<(&'static str, &'static str)> {
    if std::env::var_os("EMBER_IT_AGAINST_REDIS").is_some_and(|v| v == "1") {
        Vec::new()
    } else {
        vec![("threads", n)]
    }
}

#[test]
fn a_client_that_stops_reading_does_not_stall_others() {
    for threads in ["1", "2"] {
        let srv = start_server(&ember_threads(threads));
        let mut admin = srv.connect();
        let big = vec![b'x'; 4 << 20];
        assert_eq!(
            admin.command(&[b"SET".as_slice(), b"big", &big]).unwrap(),
            b"+OK\r\n"
        );
        // 25 x 4 MB of replies that this client never reads.
        let mut slow = srv.connect();
        slow.send_raw(&common::encode_command(&["GET", "big"]).repeat(25))
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        // Everyone else is served promptly, writes included.
        let mut other = srv.connect();
        other.set_timeout(Duration::from_secs(1));
        let started = std::time::Instant::now();
        for i in 0..200 {
            let key = format!("o{i}");
            let r = other.command(&["SET", &key, "1"]).unwrap_or_else(|e| {
                panic!("threads {threads}: SET #{i} while a client is stuck: {e}")
            });
            assert_eq!(r, b"+OK\r\n");
            let r = other.command(&["INCR", &key]).unwrap();
            assert_eq!(r, b":2\r\n");
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "threads {threads}: 400 commands took {took:?} while one client was not reading"
        );
        // The big key can still be replaced while its reader is stuck.
        expect(&mut admin, &["SET", "big", "small"], b"+OK\r\n");
        expect(&mut admin, &["GET", "big"], b"$5\r\nsmall\r\n");
        drop(slow);
    }
}
