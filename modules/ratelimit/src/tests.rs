//! The three commands run natively: the SDK's simulated host routes their `call!`s to the
//! in-memory keyspace of testkit/keyspace.rs, on a clock the tests move by hand.

use crate::keyspace::Harness;
use crate::EMBER_MODULE;
use ember_guest_sdk::Reply;

const T0: i64 = 1_700_000_000_000;

fn harness() -> Harness {
    Harness::new(&EMBER_MODULE, T0)
}

fn ints(h: &Harness, argv: &[&str]) -> Vec<i64> {
    let reply = h
        .run(argv)
        .unwrap_or_else(|e| panic!("{argv:?} failed: {e}"));
    Harness::ints(&reply)
}

fn error(h: &Harness, argv: &[&str]) -> String {
    match h.run(argv) {
        Err(e) => e.0,
        Ok(r) => panic!("{argv:?} should fail, replied {r:?}"),
    }
}

#[test]
fn registration() {
    assert_eq!(EMBER_MODULE.name, "ratelimit");
    for name in ["cl.throttle", "rl.tokenbucket", "rl.sliding"] {
        assert!(EMBER_MODULE.command(name).is_some(), "{name}");
    }
}

#[test]
fn throttle_burst_refusal_refill() {
    let h = harness();
    let cmd = ["CL.THROTTLE", "user123", "2", "1", "1"];
    assert_eq!(ints(&h, &cmd), [0, 3, 2, -1, 1]);
    assert_eq!(ints(&h, &cmd), [0, 3, 1, -1, 2]);
    assert_eq!(ints(&h, &cmd), [0, 3, 0, -1, 3]);
    assert_eq!(ints(&h, &cmd), [1, 3, 0, 1, 3]);
    // The state is redis-cell's: a string of unix nanoseconds expiring when the bucket is full.
    assert_eq!(
        h.redis(&["TYPE", "user123"]),
        Reply::Status("string".into())
    );
    let tat = (T0 + 3_000) as u64 * 1_000_000;
    assert_eq!(
        h.redis(&["GET", "user123"]),
        Reply::Bulk(tat.to_string().into_bytes())
    );
    assert_eq!(h.redis(&["PTTL", "user123"]), Reply::Int(3_000));
    h.set_time(T0 + 1_000);
    assert_eq!(ints(&h, &cmd), [0, 3, 0, -1, 3]);
    assert_eq!(ints(&h, &cmd), [1, 3, 0, 1, 3]);
    // Idle until full: the key has expired, and a new burst is allowed.
    h.set_time(T0 + 5_000);
    assert_eq!(h.redis(&["EXISTS", "user123"]), Reply::Int(0));
    assert_eq!(ints(&h, &cmd), [0, 3, 2, -1, 1]);
}

#[test]
fn throttle_readme_example_and_quantity() {
    let h = harness();
    assert_eq!(
        ints(&h, &["CL.THROTTLE", "user123", "15", "30", "60"]),
        [0, 16, 15, -1, 2]
    );
    assert_eq!(
        ints(&h, &["CL.THROTTLE", "user123", "15", "30", "60", "5"]),
        [0, 16, 10, -1, 12]
    );
    // Quantity 0 peeks and changes nothing.
    let before = h.redis(&["GET", "user123"]);
    assert_eq!(
        ints(&h, &["CL.THROTTLE", "user123", "15", "30", "60", "0"]),
        [0, 16, 10, -1, 12]
    );
    assert_eq!(h.redis(&["GET", "user123"]), before);
    // More than the bucket holds: refused with retry_after -1, state untouched.
    assert_eq!(
        ints(&h, &["CL.THROTTLE", "user123", "15", "30", "60", "17"]),
        [1, 16, 10, -1, 12]
    );
    assert_eq!(h.redis(&["GET", "user123"]), before);
}

#[test]
fn throttle_peek_on_missing_key_creates_nothing() {
    let h = harness();
    assert_eq!(
        ints(&h, &["CL.THROTTLE", "k", "4", "1", "1", "0"]),
        [0, 5, 5, -1, 0]
    );
    assert_eq!(h.redis(&["EXISTS", "k"]), Reply::Int(0));
}

#[test]
fn throttle_errors_are_redis_cells() {
    let h = harness();
    let usage = "Cell error: Store error: Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]";
    assert_eq!(error(&h, &["CL.THROTTLE"]), usage);
    assert_eq!(error(&h, &["CL.THROTTLE", "k", "1", "2"]), usage);
    assert_eq!(
        error(&h, &["CL.THROTTLE", "k", "1", "2", "3", "4", "5"]),
        usage
    );
    assert_eq!(
        error(&h, &["CL.THROTTLE", "k", "x", "2", "3"]),
        "Cell error: Store error: Couldn't parse as integer: x"
    );
    assert_eq!(
        error(&h, &["CL.THROTTLE", "k", "1", "2", "3", "1.5"]),
        "Cell error: Store error: Couldn't parse as integer: 1.5"
    );
    assert_eq!(
        error(&h, &["CL.THROTTLE", "k", "1", "0", "3"]),
        "Cell error: Store error: Zero rates are not supported"
    );
    assert_eq!(
        error(&h, &["CL.THROTTLE", "k", "1", "5", "0"]),
        "Cell error: Store error: Zero rates are not supported"
    );
    // Rust's integer syntax, as redis-cell parses: a leading + is fine.
    assert_eq!(
        ints(&h, &["CL.THROTTLE", "k", "+1", "1", "1"]),
        [0, 2, 1, -1, 1]
    );
    h.redis(&["HSET", "h", "f", "v"]);
    assert_eq!(
        error(&h, &["CL.THROTTLE", "h", "1", "1", "1"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    h.redis(&["SET", "junk", "abc"]);
    assert_eq!(
        error(&h, &["CL.THROTTLE", "junk", "1", "1", "1"]),
        "Cell error: invalid digit found in string"
    );
}

#[test]
fn token_bucket() {
    let h = harness();
    let cmd = ["RL.TOKENBUCKET", "tb", "3", "2"];
    assert_eq!(ints(&h, &cmd), [1, 2, -1]);
    assert_eq!(ints(&h, &cmd), [1, 1, -1]);
    assert_eq!(ints(&h, &cmd), [1, 0, -1]);
    assert_eq!(ints(&h, &cmd), [0, 0, 500]);
    assert_eq!(h.redis(&["TYPE", "tb"]), Reply::Status("hash".into()));
    let state = h.ks.borrow_mut().hash(b"tb").expect("a hash");
    assert_eq!(state.get(&b"tokens"[..]), Some(&b"0".to_vec()));
    assert_eq!(state.get(&b"ts"[..]), Some(&T0.to_string().into_bytes()));
    // Expires when the bucket would be full again: 3 tokens at 2/s.
    assert_eq!(h.redis(&["PTTL", "tb"]), Reply::Int(1_500));
    h.set_time(T0 + 250);
    assert_eq!(ints(&h, &cmd), [0, 0, 250]);
    h.set_time(T0 + 500);
    assert_eq!(ints(&h, &cmd), [1, 0, -1]);
    // Several tokens at once; more than capacity is never possible.
    h.set_time(T0 + 10_000);
    assert_eq!(
        ints(&h, &["RL.TOKENBUCKET", "tb", "3", "2", "3"]),
        [1, 0, -1]
    );
    assert_eq!(
        ints(&h, &["RL.TOKENBUCKET", "tb", "3", "2", "4"]),
        [0, 0, -1]
    );
    // Zero tokens peeks.
    assert_eq!(
        ints(&h, &["RL.TOKENBUCKET", "fresh", "3", "2", "0"]),
        [1, 3, -1]
    );
    assert_eq!(h.redis(&["EXISTS", "fresh"]), Reply::Int(0));
    // Fractional refill rates.
    assert_eq!(
        ints(&h, &["RL.TOKENBUCKET", "slow", "1", "0.5"]),
        [1, 0, -1]
    );
    assert_eq!(
        ints(&h, &["RL.TOKENBUCKET", "slow", "1", "0.5"]),
        [0, 0, 2_000]
    );
}

#[test]
fn token_bucket_errors() {
    let h = harness();
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "tb", "0", "1"]),
        "ERR capacity must be between 1 and 9007199254740992"
    );
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "tb", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "tb", "1", "abc"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "tb", "1", "0"]),
        "ERR refill rate must be a positive number"
    );
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "tb", "1", "1", "-1"]),
        "ERR tokens must be a non-negative integer"
    );
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "tb", "1", "1", "1", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "tb", "1"]),
        "ERR wrong number of arguments for 'rl.tokenbucket' command"
    );
    h.redis(&["SET", "s", "v"]);
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "s", "1", "1"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    h.redis(&["HSET", "other", "f", "v"]);
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "other", "1", "1"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    h.redis(&["HSET", "bad", "tokens", "many", "ts", "1"]);
    assert_eq!(
        error(&h, &["RL.TOKENBUCKET", "bad", "1", "1"]),
        "ERR key does not hold a valid token bucket"
    );
}

#[test]
fn sliding_window() {
    let h = harness();
    let cmd = ["RL.SLIDING", "sw", "3", "1000"];
    assert_eq!(ints(&h, &cmd), [1, 1, -1]);
    h.set_time(T0 + 100);
    assert_eq!(ints(&h, &cmd), [1, 2, -1]);
    h.set_time(T0 + 200);
    assert_eq!(ints(&h, &cmd), [1, 3, -1]);
    assert_eq!(ints(&h, &cmd), [0, 3, 800]);
    assert_eq!(h.redis(&["TYPE", "sw"]), Reply::Status("zset".into()));
    assert_eq!(h.redis(&["PTTL", "sw"]), Reply::Int(1_000));
    // The first entry leaves at T0 + 1000 exactly.
    h.set_time(T0 + 999);
    assert_eq!(ints(&h, &cmd), [0, 3, 1]);
    h.set_time(T0 + 1_000);
    assert_eq!(ints(&h, &cmd), [1, 3, -1]);
    // A cost of 2 must wait for two entries (T0+100 and T0+200) to leave.
    assert_eq!(
        ints(&h, &["RL.SLIDING", "sw", "3", "1000", "2"]),
        [0, 3, 200]
    );
    // Peek, and a cost above the limit.
    assert_eq!(
        ints(&h, &["RL.SLIDING", "sw", "3", "1000", "0"]),
        [1, 3, -1]
    );
    assert_eq!(
        ints(&h, &["RL.SLIDING", "sw", "3", "1000", "4"]),
        [0, 3, -1]
    );
    // Two calls in the same millisecond get distinct entries.
    assert_eq!(
        ints(&h, &["RL.SLIDING", "same", "10", "1000", "3"]),
        [1, 3, -1]
    );
    assert_eq!(
        ints(&h, &["RL.SLIDING", "same", "10", "1000", "3"]),
        [1, 6, -1]
    );
}

#[test]
fn sliding_window_errors() {
    let h = harness();
    assert_eq!(
        error(&h, &["RL.SLIDING", "sw", "0", "1000"]),
        "ERR limit must be a positive integer"
    );
    assert_eq!(
        error(&h, &["RL.SLIDING", "sw", "1", "0"]),
        "ERR window must be a positive number of milliseconds"
    );
    assert_eq!(
        error(&h, &["RL.SLIDING", "sw", "1", "10", "-2"]),
        "ERR cost must be a non-negative integer"
    );
    assert_eq!(
        error(&h, &["RL.SLIDING", "sw", "1", "10", "100001"]),
        "ERR cost must be at most 100000"
    );
    assert_eq!(
        error(&h, &["RL.SLIDING", "sw", "1", "10", "1", "x"]),
        "ERR syntax error"
    );
    h.redis(&["SET", "s", "v"]);
    assert_eq!(
        error(&h, &["RL.SLIDING", "s", "1", "10"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}
