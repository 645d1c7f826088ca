//! HyperLogLog against Redis: the same elements are loaded into a real `redis-server` and an
//! `ember-server` with pipelined PFADDs, and at 10, 1k, 100k and 1M elements PFCOUNT must answer
//! the same number and GET the same sketch bytes (sparse, then dense), and the estimate must
//! stay within a few standard errors of the exact count kept in a `HashSet` model. PFMERGE and
//! multi-key PFCOUNT of overlapping sketches are compared the same way, as are random small
//! PFADD/PFMERGE/PFCOUNT sequences over a few keys (fixed seeds). Bounded: a few seconds in a
//! debug build; EMBER_HLL_QUICK=1 stops at 100k elements. PFSELFTEST must answer OK.

#[path = "common/mod.rs"]
mod common;

use common::{escape, integer_value, RespConn, Rng, ServerProcess};
use std::collections::HashSet;

/// Sends every command, then reads every reply (one pipeline).
fn pipeline(conn: &mut RespConn, cmds: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut wire = Vec::new();
    for c in cmds {
        wire.extend_from_slice(&common::encode_command(c));
    }
    conn.send_raw(&wire).expect("send pipeline");
    cmds.iter()
        .map(|_| conn.read_reply().expect("pipelined reply"))
        .collect()
}

/// Runs `c` on both servers and insists on identical raw replies.
fn both(redis: &mut RespConn, ember: &mut RespConn, c: &[&[u8]]) -> Vec<u8> {
    let r = redis.command(c).expect("redis reply");
    let e = ember.command(c).expect("ember reply");
    assert_eq!(
        escape(&r),
        escape(&e),
        "reply to {:?}",
        c.iter().map(|a| escape(a)).collect::<Vec<_>>()
    );
    r
}

/// Adds elements `from..to` named `prefix{i}` to `key` on both servers, 100 per PFADD.
fn load(redis: &mut RespConn, ember: &mut RespConn, key: &str, prefix: &str, from: u64, to: u64) {
    let mut batch = Vec::new();
    let mut i = from;
    while i < to {
        let end = (i + 100).min(to);
        let mut c = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
        c.extend((i..end).map(|j| format!("{prefix}{j}").into_bytes()));
        batch.push(c);
        i = end;
        if batch.len() == 200 || i == to {
            let r = pipeline(redis, &batch);
            let e = pipeline(ember, &batch);
            assert_eq!(r, e, "PFADD replies for {key} up to {i}");
            batch.clear();
        }
    }
}

/// PFCOUNT and GET agree, and the estimate is within 5 standard errors (0.81%) of `exact`.
fn check(redis: &mut RespConn, ember: &mut RespConn, key: &str, exact: u64) {
    let count = both(redis, ember, &[b"PFCOUNT", key.as_bytes()]);
    let est = integer_value(&count).expect("PFCOUNT integer") as u64;
    let tolerance = (exact as f64 * 0.0081 * 5.0).ceil() as u64 + 1;
    assert!(
        est.abs_diff(exact) <= tolerance,
        "PFCOUNT {key} = {est}, exact {exact}"
    );
    both(redis, ember, &[b"GET", key.as_bytes()]);
    both(redis, ember, &[b"PFDEBUG", b"ENCODING", key.as_bytes()]);
}

#[test]
fn counts_and_bytes_match_redis_up_to_a_million() {
    let redis_server = ServerProcess::start_redis(&[]);
    let ember_server = ServerProcess::start_ember(&[]);
    let mut redis = redis_server.connect();
    let mut ember = ember_server.connect();
    let quick = std::env::var("EMBER_HLL_QUICK").is_ok_and(|v| v == "1");
    let mut checkpoints = vec![10u64, 1_000, 100_000];
    if !quick {
        checkpoints.push(1_000_000);
    }
    let mut loaded = 0;
    for &n in &checkpoints {
        load(&mut redis, &mut ember, "big", "element:", loaded, n);
        loaded = n;
        check(&mut redis, &mut ember, "big", n);
        // The cached cardinality answers the second time.
        both(&mut redis, &mut ember, &[b"PFCOUNT", b"big"]);
    }

    // Overlapping sketches: merged counts and merged bytes.
    load(&mut redis, &mut ember, "a", "element:", 0, 3_000);
    load(&mut redis, &mut ember, "b", "element:", 2_000, 60_000);
    load(&mut redis, &mut ember, "c", "other:", 0, 500);
    check(&mut redis, &mut ember, "a", 3_000);
    check(&mut redis, &mut ember, "b", 58_000);
    both(&mut redis, &mut ember, &[b"PFCOUNT", b"a", b"b"]);
    both(
        &mut redis,
        &mut ember,
        &[b"PFCOUNT", b"a", b"c", b"missing"],
    );
    both(
        &mut redis,
        &mut ember,
        &[b"PFCOUNT", b"a", b"b", b"c", b"big"],
    );
    both(&mut redis, &mut ember, &[b"PFMERGE", b"ac", b"a", b"c"]);
    check(&mut redis, &mut ember, "ac", 3_500);
    both(
        &mut redis,
        &mut ember,
        &[b"PFMERGE", b"abc", b"a", b"b", b"c"],
    );
    check(&mut redis, &mut ember, "abc", 60_500);
    both(&mut redis, &mut ember, &[b"PFMERGE", b"c", b"a"]);
    check(&mut redis, &mut ember, "c", 3_500);
}

#[test]
fn random_small_sequences_match_redis_and_the_model() {
    let redis_server = ServerProcess::start_redis(&[]);
    let ember_server = ServerProcess::start_ember(&[]);
    let mut redis = redis_server.connect();
    let mut ember = ember_server.connect();
    let keys: [&[u8]; 4] = [b"h0", b"h1", b"h2", b"h3"];
    for seed in 1..=4u64 {
        let mut rng = Rng::new(seed);
        both(&mut redis, &mut ember, &[b"FLUSHALL"]);
        let mut model: Vec<HashSet<u64>> = vec![HashSet::new(); keys.len()];
        for _ in 0..400 {
            let k = rng.below(keys.len() as u64) as usize;
            match rng.below(10) {
                0..=5 => {
                    let n = [1, 5, 50, 300][rng.below(4) as usize];
                    let mut c = vec![b"PFADD".to_vec(), keys[k].to_vec()];
                    for _ in 0..n {
                        let e = rng.below(20_000);
                        model[k].insert(e);
                        c.push(format!("m{e}").into_bytes());
                    }
                    let args: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
                    both(&mut redis, &mut ember, &args);
                }
                6 => {
                    let src = rng.below(keys.len() as u64) as usize;
                    both(&mut redis, &mut ember, &[b"PFMERGE", keys[k], keys[src]]);
                    let add: Vec<u64> = model[src].iter().copied().collect();
                    model[k].extend(add);
                }
                7 => {
                    let other = rng.below(keys.len() as u64) as usize;
                    both(&mut redis, &mut ember, &[b"PFCOUNT", keys[k], keys[other]]);
                }
                8 => {
                    both(&mut redis, &mut ember, &[b"GET", keys[k]]);
                }
                _ => {
                    let reply = both(&mut redis, &mut ember, &[b"PFCOUNT", keys[k]]);
                    let est = integer_value(&reply).expect("PFCOUNT integer") as u64;
                    let exact = model[k].len() as u64;
                    // Small cardinalities are nearly exact; allow 3% past that.
                    assert!(
                        est.abs_diff(exact) <= exact / 33 + 2,
                        "seed {seed}: PFCOUNT {est}, exact {exact}"
                    );
                }
            }
        }
    }
}

#[test]
fn selftest_passes() {
    // Ten million elements in release builds, a smaller run in debug builds.
    let ember_server = ServerProcess::start_ember(&[]);
    let mut ember = ember_server.connect();
    ember.set_timeout(std::time::Duration::from_secs(60));
    let reply = ember.command(&[b"PFSELFTEST".as_slice()]).expect("reply");
    assert_eq!(reply, b"+OK\r\n");
}
