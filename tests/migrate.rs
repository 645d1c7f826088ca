//! MIGRATE against the real thing (Debian's redis-server 7.0):
//!
//! - `every_type_moves_each_way`: the data set of every type and encoding
//!   (with TTLs, in three databases) is built on a source and MIGRATEd key
//!   by key and with KEYS batches into another database of a target, for
//!   Ember→Redis, Redis→Ember and Ember→Ember; the target must then hold what
//!   a reference Redis built from the same commands holds, and the source
//!   nothing (COPY keeps the source's keys).
//! - `replies_match_redis`: the same scenario list (NOKEY, BUSYKEY, REPLACE,
//!   COPY, AUTH and AUTH2 right and wrong, a target database out of range,
//!   option and number errors, a refused port, an unknown host, a target
//!   that restarted under a cached connection, a target that never answers)
//!   run with a Redis source and with an Ember source against the same kind
//!   of target: the replies and what is left on both sides must be equal.

#[path = "common/mod.rs"]
mod common;
#[path = "common/dataset.rs"]
mod dataset;

use common::*;
use dataset::*;
use std::net::TcpListener;
use std::time::Duration;

fn text(r: &[u8]) -> String {
    escape(r)
}

fn keys_in(conn: &mut RespConn, db: usize) -> Vec<Vec<u8>> {
    q(conn, &[b"SELECT", db.to_string().as_bytes()]);
    let keys = keys_of(conn);
    q(conn, &[b"SELECT", b"0"]);
    keys
}

/// The databases every_type() writes.
const DBS: [usize; 3] = [0, 1, 3];
/// Where the data lands on the target: database `db + OFFSET`.
const OFFSET: usize = 4;

fn migrate_all(src: &ServerProcess, dst: &ServerProcess, copy: bool) {
    let mut s = src.connect();
    let port = dst.port().to_string();
    for db in DBS {
        let keys = keys_in(&mut s, db);
        assert!(!keys.is_empty());
        q(&mut s, &[b"SELECT", db.to_string().as_bytes()]);
        let to = (db + OFFSET).to_string();
        // The first key alone (the key argument form), the rest in one KEYS batch.
        let mut one: Vec<&[u8]> = vec![b"MIGRATE", b"127.0.0.1", port.as_bytes(), &keys[0]];
        one.extend_from_slice(&[to.as_bytes(), b"5000"]);
        if copy {
            one.push(b"COPY");
        }
        assert_eq!(
            q(&mut s, &one),
            R::Str(b"OK".to_vec()),
            "single key db {db}"
        );
        if keys.len() > 1 {
            let mut batch: Vec<&[u8]> = vec![
                b"MIGRATE",
                b"127.0.0.1",
                port.as_bytes(),
                b"",
                to.as_bytes(),
                b"5000",
            ];
            if copy {
                batch.push(b"COPY");
            }
            batch.push(b"KEYS");
            batch.extend(keys[1..].iter().map(|k| k.as_slice()));
            let r = s.command(&batch).expect("MIGRATE");
            assert_eq!(r, b"+OK\r\n", "batch db {db}: {}", text(&r));
        }
    }
    q(&mut s, &[b"SELECT", b"0"]);
}

/// What the target holds in database db+OFFSET must equal the reference's db.
fn compare_moved(reference: &mut RespConn, target: &mut RespConn, what: &str) {
    for db in DBS {
        let keys = keys_in(reference, db);
        assert_eq!(
            keys,
            keys_in(target, db + OFFSET),
            "{what}: keys of db {db}"
        );
        q(reference, &[b"SELECT", db.to_string().as_bytes()]);
        q(target, &[b"SELECT", (db + OFFSET).to_string().as_bytes()]);
        let mut diffs = Vec::new();
        for k in &keys {
            let (a, b) = (snapshot(reference, k), snapshot(target, k));
            if a != b {
                diffs.push(format!("{}:\nwant {a}\ngot  {b}", escape(k)));
            }
            if let (R::Int(x), R::Int(y)) = (q(reference, &[b"PTTL", k]), q(target, &[b"PTTL", k]))
            {
                assert!(
                    (x - y).abs() < 10_000,
                    "{what}: PTTL of {} {x} vs {y}",
                    escape(k)
                );
            }
        }
        assert!(diffs.is_empty(), "{what}: db {db}:\n{}", diffs.join("\n"));
        q(reference, &[b"SELECT", b"0"]);
        q(target, &[b"SELECT", b"0"]);
    }
}

#[test]
fn every_type_moves_each_way() {
    let _g = shared();
    let reference = ServerProcess::start_redis(&[]);
    let mut rc = reference.connect();
    let pairs = [
        (ServerKind::Ember, ServerKind::Redis),
        (ServerKind::Redis, ServerKind::Ember),
        (ServerKind::Ember, ServerKind::Ember),
    ];
    for (from, to) in pairs {
        for copy in [false, true] {
            let what = format!("{} -> {} copy={copy}", from.name(), to.name());
            let src = ServerProcess::start(from, &[]);
            let dst = ServerProcess::start(to, &[]);
            let mut sc = src.connect();
            // The reference is built with the source, so their TTLs agree.
            q(&mut rc, &[b"FLUSHALL"]);
            run_all(&mut rc, &every_type());
            run_all(&mut sc, &every_type());
            migrate_all(&src, &dst, copy);
            let mut dc = dst.connect();
            compare_moved(&mut rc, &mut dc, &what);
            for db in DBS {
                let left = keys_in(&mut sc, db);
                if copy {
                    assert_eq!(left, keys_in(&mut rc, db), "{what}: COPY keeps db {db}");
                } else {
                    assert!(left.is_empty(), "{what}: left in db {db}: {left:?}");
                }
            }
        }
    }
}

/// A port that accepts connections and never answers (for the timeout).
fn silent_port() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

/// Runs the scenario with a `src` server against `target` (and a restartable
/// `flaky` target), returning a transcript of replies and states.
fn scenario(src_kind: ServerKind, target_kind: ServerKind) -> Vec<String> {
    let src = ServerProcess::start(src_kind, &[]);
    let target = ServerProcess::start(target_kind, &[]);
    let flaky = ServerProcess::start(target_kind, &[]);
    let (_silent, silent) = silent_port();
    let mut s = src.connect();
    let mut t = target.connect();
    let tp = target.port().to_string();
    let fp = flaky.port().to_string();
    let sp = silent.to_string();
    let mut log = Vec::new();
    let run = |c: &mut RespConn, args: &[&str], log: &mut Vec<String>| {
        let r = c.command(args).expect("command");
        log.push(format!("{} -> {}", args.join(" "), text(&r)));
    };
    run(&mut t, &["CONFIG", "SET", "requirepass", "pw"], &mut log);
    run(&mut t, &["AUTH", "pw"], &mut log);
    for a in [
        &["SET", "a", "1"][..],
        &["SET", "b", "2", "PX", "100000"],
        &["RPUSH", "l", "x", "y"],
        &["SET", "c", "3"],
        &["SET", "d", "4"],
    ] {
        run(&mut s, a, &mut log);
    }
    let cases: Vec<Vec<&str>> = vec![
        // Argument errors, before any connection.
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1000", "BOGUS"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1000", "AUTH"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1000", "AUTH2", "u"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1000", "KEYS", "a"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "x", "1000"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1.5"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "x", "KEYS", "a"],
        // Nothing to move.
        vec!["MIGRATE", "127.0.0.1", &tp, "nokey", "0", "1000"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "",
            "0",
            "1000",
            "KEYS",
            "n1",
            "n2",
        ],
        // Unreachable targets.
        vec!["MIGRATE", "127.0.0.1", "1", "a", "0", "300"],
        vec!["MIGRATE", "no-such-host.invalid", "6379", "a", "0", "300"],
        vec!["MIGRATE", "127.0.0.1", &sp, "a", "0", "300"],
        // Authentication.
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1000"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "a",
            "0",
            "1000",
            "AUTH",
            "wrong",
        ],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1000", "AUTH", "pw"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "b",
            "2",
            "1000",
            "AUTH2",
            "default",
            "nope",
        ],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "b",
            "2",
            "1000",
            "AUTH2",
            "default",
            "pw",
        ],
        // Already there, REPLACE, COPY, a database out of range.
        vec!["SET", "a", "again"],
        vec!["MIGRATE", "127.0.0.1", &tp, "a", "0", "1000", "AUTH", "pw"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "a",
            "0",
            "1000",
            "AUTH",
            "pw",
            "COPY",
            "REPLACE",
        ],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "a",
            "0",
            "1000",
            "REPLACE",
            "AUTH",
            "pw",
        ],
        vec!["MIGRATE", "127.0.0.1", &tp, "l", "99", "1000", "AUTH", "pw"],
        vec!["SET", "b", "again"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "",
            "2",
            "1000",
            "AUTH",
            "pw",
            "KEYS",
            "c",
            "b",
            "nokey",
            "l",
        ],
        // The flaky target: the connection is cached.
        vec!["MIGRATE", "127.0.0.1", &fp, "d", "0", "1000"],
    ];
    for case in &cases {
        run(&mut s, case, &mut log);
    }
    // The target drops the cached connection: the next MIGRATE retries once
    // on a new one, silently.
    let mut f = flaky.connect();
    run(&mut f, &["CLIENT", "KILL", "TYPE", "normal"], &mut log);
    let mut s2 = src.connect();
    run(&mut s2, &["SET", "e", "5"], &mut log);
    run(
        &mut s2,
        &["MIGRATE", "127.0.0.1", &fp, "e", "0", "1000"],
        &mut log,
    );
    // What is left on each side.
    for (name, c) in [("source", &mut s2), ("target", &mut t)] {
        for db in ["0", "2"] {
            run(c, &["SELECT", db], &mut log);
            let mut keys: Vec<String> = match q(c, &[b"KEYS", b"*"]) {
                R::Arr(k) => k.iter().map(|k| format!("{k:?}")).collect(),
                other => vec![format!("{other:?}")],
            };
            keys.sort();
            log.push(format!("{name} db {db}: {}", keys.join(" ")));
            for k in ["a", "b", "c", "l"] {
                run(c, &["GET", k], &mut log);
            }
            run(c, &["PTTL", "b"], &mut log);
        }
    }
    // Ports differ between the runs, and PTTLs by the milliseconds between them.
    log.iter()
        .map(|l| {
            let l = l
                .replace(&tp, "<target>")
                .replace(&fp, "<flaky>")
                .replace(&sp, "<silent>");
            match l.strip_prefix("PTTL b -> ") {
                Some(r) => {
                    let n: i64 = r
                        .trim_matches(|c: char| !c.is_ascii_digit() && c != '-')
                        .parse()
                        .unwrap_or(0);
                    format!(
                        "PTTL b -> {}",
                        if n > 90_000 {
                            "about 100 s".to_string()
                        } else {
                            n.to_string()
                        }
                    )
                }
                None => l,
            }
        })
        .collect()
}

#[test]
fn replies_match_redis() {
    let _g = shared();
    for target in [ServerKind::Redis, ServerKind::Ember] {
        let want = scenario(ServerKind::Redis, target);
        let got = scenario(ServerKind::Ember, target);
        let diffs: Vec<String> = want
            .iter()
            .zip(&got)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("redis: {a}\nember: {b}"))
            .collect();
        assert!(
            diffs.is_empty() && want.len() == got.len(),
            "target {}:\n{}",
            target.name(),
            diffs.join("\n")
        );
    }
}

#[test]
fn connection_is_cached_and_selects_only_when_the_db_changes() {
    let _g = shared();
    let src = ServerProcess::start_ember(&[]);
    let dst = ServerProcess::start_redis(&[]);
    let mut s = src.connect();
    let mut d = dst.connect();
    let port = dst.port().to_string();
    for i in 0..5 {
        let k = format!("k{i}");
        q(&mut s, &[b"SET", k.as_bytes(), b"v"]);
        let db = if i < 3 { "1" } else { "2" };
        let r = s
            .command(&["MIGRATE", "127.0.0.1", &port, &k, db, "1000"])
            .expect("MIGRATE");
        assert_eq!(r, b"+OK\r\n", "{}", text(&r));
    }
    // One connection from the source besides ours, and Redis counted one
    // SELECT per database change.
    let clients = q(&mut d, &[b"CLIENT", b"LIST"]);
    let R::Str(list) = clients else {
        panic!("CLIENT LIST")
    };
    let n = String::from_utf8_lossy(&list).lines().count();
    assert_eq!(n, 2, "{}", String::from_utf8_lossy(&list));
    let R::Str(stats) = q(&mut d, &[b"INFO", b"commandstats"]) else {
        panic!("INFO")
    };
    let stats = String::from_utf8_lossy(&stats).into_owned();
    assert!(stats.contains("cmdstat_select:calls=2,"), "{stats}");
    assert!(stats.contains("cmdstat_restore:calls=5,"), "{stats}");
    std::thread::sleep(Duration::from_millis(50));
}
