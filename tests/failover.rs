//! FAILOVER (Redis 6.2+'s coordinated failover) and SHUTDOWN waiting for
//! lagging replicas, against the real programs on loopback. FAILOVER: its errors and states beside redis-server 7.0's (a scripted
//! replica that never acknowledges holds the failover in waiting-for-sync),
//! the write pause, and the hand-over itself: Ember to Ember, an Ember
//! primary to a redis-server replica, and a redis-server primary to an
//! Ember replica (which promotes itself on PSYNC ... FAILOVER). Each
//! hand-over must be a partial resync and lose no data. SHUTDOWN: the wait
//! for a replica that does not acknowledge, its write pause, ABORT, the
//! timeout, NOW; WAIT counting a PUBLISH; INFO memory's replication buffer.

mod common;
#[path = "common/dataset.rs"]
mod dataset;
#[path = "common/repl.rs"]
mod repl;

use common::{escape, RespConn, ServerKind, ServerProcess};
use dataset::{compare_primary_replica, every_type, run_all};
use repl::{follow, info, ok, run, serial, wait_synced, wait_until};
use std::time::{Duration, Instant};

const FAST: [(&str, &str); 1] = [("repl-diskless-sync-delay", "0")];

/// A replica that syncs and then never acknowledges anything: a failover
/// to it waits until its timeout.
fn mute_replica(server: &ServerProcess, port: &str) -> RespConn {
    let mut c = server.connect();
    ok(&mut c, &["REPLCONF", "listening-port", port]);
    c.send(&["PSYNC", "?", "-1"]).unwrap();
    c
}

/// Runs a command and records its reply.
fn say(log: &mut Vec<String>, c: &mut RespConn, args: &[&str]) {
    let r = run(c, args);
    log.push(format!("{args:?} -> {}", escape(&r)));
}

/// The replies of one server to the same FAILOVER session (checked by
/// comparing Ember's with redis-server's).
fn failover_session(server: &ServerProcess) -> Vec<String> {
    let mut c = server.connect();
    let mut log = Vec::new();
    // Without replicas: argument errors first, then the state checks.
    for args in [
        &["FAILOVER", "ABORT"][..],
        &["FAILOVER", "TIMEOUT", "0"],
        &["FAILOVER", "TIMEOUT", "-5"],
        &["FAILOVER", "TIMEOUT", "abc"],
        &["FAILOVER", "TO", "127.0.0.1", "port"],
        &["FAILOVER", "BOGUS"],
        &["FAILOVER", "TIMEOUT", "10", "TIMEOUT", "10"],
        &["FAILOVER", "TO", "127.0.0.1"],
        &["FAILOVER", "FORCE", "FORCE"],
        &["FAILOVER", "ABORT", "TIMEOUT", "10"],
        &["FAILOVER"],
        &["FAILOVER", "FORCE"],
        &[
            "PSYNC",
            "0123456789012345678901234567890123456789",
            "1",
            "FAILOVER",
        ],
    ] {
        say(&mut log, &mut c, args);
    }
    let _mute = mute_replica(server, "4444");
    wait_until("the mute replica online", Duration::from_secs(20), || {
        info(&mut c, "replication")
            .get("slave0")
            .is_some_and(|l| l.contains("state=online"))
    });
    // A write the mute replica will never acknowledge (at offset 0 it
    // would count as caught up).
    say(&mut log, &mut c, &["SET", "before", "1"]);
    for args in [
        &["FAILOVER", "FORCE"][..],
        &["FAILOVER", "TO", "127.0.0.1", "4444", "FORCE"],
        &["FAILOVER", "FORCE", "TIMEOUT", "100"],
        &["FAILOVER", "TO", "127.0.0.1", "5555"],
        &["FAILOVER", "TO", "10.1.1.1", "4444"],
    ] {
        say(&mut log, &mut c, args);
    }
    // Waiting for a replica that never catches up: writes pause.
    say(&mut log, &mut c, &["FAILOVER", "TIMEOUT", "700"]);
    let state = info(&mut c, "replication")["master_failover_state"].clone();
    log.push(format!("state {state}"));
    say(&mut log, &mut c, &["FAILOVER"]);
    say(&mut log, &mut c, &["FAILOVER", "TIMEOUT", "100"]);
    say(&mut log, &mut c, &["REPLICAOF", "127.0.0.1", "1"]);
    say(&mut log, &mut c, &["GET", "paused"]);
    let mut writer = server.connect();
    writer.send(&["SET", "paused", "1"]).unwrap();
    let sent = Instant::now();
    writer.set_timeout(Duration::from_secs(10));
    let r = writer.read_reply().unwrap();
    // The write ran only when the timeout ended the failover.
    log.push(format!(
        "paused write -> {} after the timeout: {}",
        escape(&r),
        sent.elapsed() >= Duration::from_millis(400)
    ));
    let state = info(&mut c, "replication")["master_failover_state"].clone();
    log.push(format!("state {state}"));
    say(&mut log, &mut c, &["GET", "paused"]);
    // ABORT ends it at once and lets the paused writes run.
    say(&mut log, &mut c, &["FAILOVER"]);
    writer.send(&["INCR", "paused"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    say(&mut log, &mut c, &["GET", "paused"]);
    say(&mut log, &mut c, &["FAILOVER", "ABORT"]);
    let r = writer.read_reply().unwrap();
    log.push(format!("paused INCR -> {}", escape(&r)));
    let state = info(&mut c, "replication")["master_failover_state"].clone();
    log.push(format!("state {state}"));
    say(&mut log, &mut c, &["FAILOVER", "ABORT"]);
    log
}

#[test]
fn failover_errors_states_and_write_pause_match_redis() {
    let _g = serial();
    let redis = ServerProcess::start_redis(&FAST);
    let ember = ServerProcess::start_ember(&FAST);
    let want = failover_session(&redis);
    let got = failover_session(&ember);
    assert_eq!(
        got,
        want,
        "Ember (left) vs redis-server (right):\n{}",
        got.iter()
            .zip(&want)
            .map(|(g, w)| format!("{}{g}\n  {w}", if g == w { "  " } else { "! " }))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn role(c: &mut RespConn) -> String {
    info(c, "replication")["role"].clone()
}

fn stat(c: &mut RespConn, field: &str) -> i64 {
    info(c, "stats")[field].parse().unwrap_or(-1)
}

/// FAILOVER on `old` (its only replica `new`): waits until the roles are
/// swapped, the old primary follows the new one, and the failover is over.
fn fail_over(old: &mut RespConn, new: &mut RespConn, args: &[&str], what: &str) {
    assert_eq!(run(old, args), b"+OK\r\n", "{what}");
    wait_until(what, Duration::from_secs(20), || {
        let o = info(old, "replication");
        role(new) == "master"
            && o["role"] == "slave"
            && o.get("master_link_status").map(String::as_str) == Some("up")
            && o["master_failover_state"] == "no-failover"
    });
    wait_synced(new, old, what);
}

/// A write is refused by a replica (the old primary after a failover).
fn assert_readonly(c: &mut RespConn, what: &str) {
    let r = run(c, &["SET", "after", "x"]);
    assert!(
        r.starts_with(b"-READONLY"),
        "{what}: SET on the old primary -> {}",
        escape(&r)
    );
}

#[test]
fn failover_hands_over_ember_to_ember_to_redis_and_back_without_full_sync() {
    let _g = serial();
    let a = ServerProcess::start_ember(&FAST);
    let b = ServerProcess::start_ember(&FAST);
    let r = ServerProcess::start_redis(&FAST);
    assert_eq!(r.kind(), ServerKind::Redis);
    let (mut ca, mut cb, mut cr) = (a.connect(), b.connect(), r.connect());
    run_all(&mut ca, &every_type());
    follow(&mut cb, &a, &mut ca);

    // On a replica, FAILOVER and a PSYNC FAILOVER with another ID fail.
    assert_eq!(
        run(&mut cb, &["FAILOVER"]),
        b"-ERR FAILOVER is not valid when server is a replica.\r\n"
    );
    let mut probe = b.connect();
    assert_eq!(
        run(&mut probe, &["PSYNC", &"f".repeat(40), "1", "FAILOVER"]),
        b"-ERR PSYNC FAILOVER replid must match my replid.\r\n"
    );
    drop(probe);

    // Ember -> Ember: B promotes itself, A continues from it partially.
    let id_a = info(&mut ca, "replication")["master_replid"].clone();
    fail_over(&mut ca, &mut cb, &["FAILOVER"], "ember a -> ember b");
    let bi = info(&mut cb, "replication");
    assert_eq!(bi["master_replid2"], id_a, "B keeps A's history as ID2");
    assert_eq!(stat(&mut cb, "sync_full"), 0, "A continued partially");
    assert_eq!(stat(&mut cb, "sync_partial_ok"), 1);
    assert_readonly(&mut ca, "ember a");
    ok(&mut cb, &["SET", "on-b", "1"]);
    ok(&mut cb, &["LPUSH", "l:on-b", "x", "y"]);
    wait_synced(&mut cb, &mut ca, "a after writes on b");
    compare_primary_replica(&mut cb, &mut ca, &[0, 1, 2, 3, 9], "b vs a");

    // Ember primary -> redis-server replica, named with TO: Redis takes
    // over on PSYNC ... FAILOVER; B follows it, A follows B (a chain).
    follow(&mut cr, &b, &mut cb);
    let port = r.port().to_string();
    fail_over(
        &mut cb,
        &mut cr,
        &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "10000"],
        "ember b -> redis r",
    );
    assert_eq!(stat(&mut cr, "sync_partial_ok"), 1, "B continued partially");
    assert_eq!(stat(&mut cr, "sync_full"), 0);
    assert_readonly(&mut cb, "ember b");
    ok(&mut cr, &["SET", "on-r", "1"]);
    ok(&mut cr, &["ZADD", "z:on-r", "1", "m"]);
    wait_synced(&mut cr, &mut cb, "b after writes on r");
    wait_synced(&mut cr, &mut ca, "a (below b) after writes on r");
    compare_primary_replica(&mut cr, &mut cb, &[0, 1, 2, 3, 9], "r vs b");
    compare_primary_replica(&mut cr, &mut ca, &[0, 1, 2, 3, 9], "r vs a");

    // redis-server primary -> Ember replica: Redis sends PSYNC FAILOVER
    // to B, which promotes itself and serves Redis partially.
    let full_before = stat(&mut cb, "sync_full");
    fail_over(&mut cr, &mut cb, &["FAILOVER"], "redis r -> ember b");
    assert_eq!(
        stat(&mut cb, "sync_full"),
        full_before,
        "R continued partially"
    );
    assert_readonly(&mut cr, "redis r");
    ok(&mut cb, &["SET", "on-b-again", "1"]);
    wait_synced(&mut cb, &mut cr, "r after writes on b");
    wait_synced(&mut cb, &mut ca, "a after writes on b");
    compare_primary_replica(&mut cb, &mut cr, &[0, 1, 2, 3, 9], "b vs r");
    compare_primary_replica(&mut cb, &mut ca, &[0, 1, 2, 3, 9], "b vs a");
}

/// One server's replies to a SHUTDOWN session with a mute replica attached.
/// Also returns how long the last SHUTDOWN took (Redis ends it somewhat
/// before its `shutdown-timeout`, so that is checked on Ember alone).
fn shutdown_session(server: &ServerProcess) -> (Vec<String>, Duration) {
    let mut c = server.connect();
    let mut log = Vec::new();
    say(&mut log, &mut c, &["SHUTDOWN", "ABORT"]);
    say(&mut log, &mut c, &["SHUTDOWN", "ABORT", "NOSAVE"]);
    say(&mut log, &mut c, &["SHUTDOWN", "SAVE", "NOSAVE"]);
    let _mute = mute_replica(server, "4444");
    wait_until("the mute replica online", Duration::from_secs(20), || {
        info(&mut c, "replication")
            .get("slave0")
            .is_some_and(|l| l.contains("state=online"))
    });
    say(&mut log, &mut c, &["SET", "before", "1"]);
    // WAIT counts what a PUBLISH sent to the replicas too (a client that
    // wrote nothing else).
    let mut publisher = server.connect();
    say(&mut log, &mut publisher, &["WAIT", "1", "0"]);
    say(&mut log, &mut publisher, &["PUBLISH", "ch", "m"]);
    say(&mut log, &mut publisher, &["WAIT", "1", "200"]);
    let mem = info(&mut c, "memory");
    log.push(format!(
        "mem_replication_backlog > 0: {}, mem_total_replication_buffers > 0: {}",
        mem["mem_replication_backlog"] != "0",
        mem["mem_total_replication_buffers"] != "0"
    ));
    // The replica lags: SHUTDOWN waits (and pauses writes) until ABORT.
    let mut stopper = server.connect();
    stopper.set_timeout(Duration::from_secs(20));
    stopper.send(&["SHUTDOWN", "NOSAVE"]).unwrap();
    let mut writer = server.connect();
    writer.set_timeout(Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    writer.send(&["INCR", "before"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    say(&mut log, &mut c, &["GET", "before"]);
    say(&mut log, &mut c, &["SHUTDOWN", "ABORT"]);
    log.push(format!(
        "stopper -> {}",
        escape(&stopper.read_reply().unwrap())
    ));
    log.push(format!(
        "writer -> {}",
        escape(&writer.read_reply().unwrap())
    ));
    say(&mut log, &mut c, &["SHUTDOWN", "ABORT"]);
    // With a timeout, the shutdown happens when it passes.
    say(
        &mut log,
        &mut c,
        &["CONFIG", "SET", "shutdown-timeout", "1"],
    );
    let started = Instant::now();
    stopper.send(&["SHUTDOWN", "NOSAVE"]).unwrap();
    let closed = stopper.wait_closed(Duration::from_secs(10));
    log.push(format!("closed: {closed}"));
    (log, started.elapsed())
}

#[test]
fn shutdown_waits_for_lagging_replicas_as_redis() {
    let _g = serial();
    let redis = ServerProcess::start_redis(&FAST);
    let ember = ServerProcess::start_ember(&FAST);
    let (want, _) = shutdown_session(&redis);
    let (got, took) = shutdown_session(&ember);
    assert_eq!(got, want, "Ember (left) vs redis-server (right)");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "shutdown-timeout 1 took {took:?}"
    );
    assert!(
        ember.output().contains("Lagging replica"),
        "{}",
        ember.output()
    );
    // NOW does not wait.
    let now = ServerProcess::start_ember(&FAST);
    let _mute = mute_replica(&now, "4444");
    let mut c = now.connect();
    wait_until("the mute replica online", Duration::from_secs(20), || {
        info(&mut c, "replication")
            .get("slave0")
            .is_some_and(|l| l.contains("state=online"))
    });
    ok(&mut c, &["SET", "k", "v"]);
    let started = Instant::now();
    c.send(&["SHUTDOWN", "NOW", "NOSAVE"]).unwrap();
    assert!(c.wait_closed(Duration::from_secs(5)));
    assert!(started.elapsed() < Duration::from_secs(3));
}
