//! The `INV.*` commands run natively: the SDK's simulated host routes their `call!`s to the
//! in-memory keyspace of testkit/keyspace.rs, on a clock the tests move by hand.

use crate::keyspace::Harness;
use crate::EMBER_MODULE;
use ember_guest_sdk::Reply;
use std::collections::hash_map::Entry;

const T0: i64 = 1_700_000_000_000;

fn harness() -> Harness {
    Harness::new(&EMBER_MODULE, T0)
}

fn ok(h: &Harness, argv: &[&str]) -> Reply {
    h.run(argv)
        .unwrap_or_else(|e| panic!("{argv:?} failed: {e}"))
}

fn int(h: &Harness, argv: &[&str]) -> i64 {
    ok(h, argv).as_int().expect("an integer reply")
}

fn counts(h: &Harness, key: &str) -> Vec<i64> {
    Harness::ints(&ok(h, &["INV.GET", key]))
}

fn error(h: &Harness, argv: &[&str]) -> String {
    match h.run(argv) {
        Err(e) => e.0,
        Ok(r) => panic!("{argv:?} should fail, replied {r:?}"),
    }
}

fn field(h: &Harness, key: &str, f: &str) -> Option<String> {
    h.ks.borrow_mut()
        .hash(key.as_bytes())
        .and_then(|m| m.get(f.as_bytes()).cloned())
        .map(|v| String::from_utf8(v).unwrap())
}

#[test]
fn registration() {
    assert_eq!(EMBER_MODULE.name, "inventory");
    for name in [
        "inv.set",
        "inv.get",
        "inv.hold",
        "inv.confirm",
        "inv.release",
        "inv.holds",
    ] {
        assert!(EMBER_MODULE.command(name).is_some(), "{name}");
    }
}

#[test]
fn hold_confirm_release() {
    let h = harness();
    assert_eq!(ok(&h, &["INV.SET", "sale", "10"]), Reply::ok());
    assert_eq!(counts(&h, "sale"), [10, 0, 0]);
    assert_eq!(h.redis(&["TYPE", "sale"]), Reply::Status("hash".into()));

    assert_eq!(int(&h, &["INV.HOLD", "sale", "alice", "3", "60000"]), 1);
    assert_eq!(int(&h, &["INV.HOLD", "sale", "bob", "6", "30000"]), 1);
    assert_eq!(counts(&h, "sale"), [1, 9, 0]);
    // Not enough left: 0, and nothing changes.
    assert_eq!(int(&h, &["INV.HOLD", "sale", "carol", "2", "60000"]), 0);
    assert_eq!(counts(&h, "sale"), [1, 9, 0]);
    // Users can read the hash.
    assert_eq!(
        field(&h, "sale", "hold:alice").as_deref(),
        Some("3:1700000060000")
    );
    assert_eq!(
        field(&h, "sale", "next_expiry").as_deref(),
        Some("1700000030000")
    );

    assert_eq!(
        ok(&h, &["INV.HOLDS", "sale"]),
        Reply::Array(vec![
            Reply::Array(vec![
                Reply::Bulk(b"bob".to_vec()),
                Reply::Int(6),
                Reply::Int(30_000)
            ]),
            Reply::Array(vec![
                Reply::Bulk(b"alice".to_vec()),
                Reply::Int(3),
                Reply::Int(60_000)
            ]),
        ])
    );

    assert_eq!(int(&h, &["INV.CONFIRM", "sale", "alice"]), 3);
    assert_eq!(counts(&h, "sale"), [1, 6, 3]);
    assert_eq!(int(&h, &["INV.RELEASE", "sale", "bob"]), 6);
    assert_eq!(counts(&h, "sale"), [7, 0, 3]);
    // No holds left: the scan hint is gone too.
    assert_eq!(field(&h, "sale", "next_expiry"), None);
    assert_eq!(ok(&h, &["INV.HOLDS", "sale"]), Reply::Array(vec![]));

    assert_eq!(
        error(&h, &["INV.CONFIRM", "sale", "alice"]),
        "ERR no such hold"
    );
    assert_eq!(
        error(&h, &["INV.RELEASE", "sale", "nobody"]),
        "ERR no such hold"
    );
}

#[test]
fn expired_holds_return_their_stock() {
    let h = harness();
    ok(&h, &["INV.SET", "sale", "5"]);
    assert_eq!(int(&h, &["INV.HOLD", "sale", "a", "2", "200"]), 1);
    assert_eq!(int(&h, &["INV.HOLD", "sale", "b", "3", "500"]), 1);
    assert_eq!(int(&h, &["INV.HOLD", "sale", "c", "1", "100"]), 0);

    // Reads see the reclaimed view without writing it.
    h.set_time(T0 + 200);
    assert_eq!(counts(&h, "sale"), [2, 3, 0]);
    assert_eq!(
        field(&h, "sale", "hold:a").as_deref(),
        Some("2:1700000000200")
    );
    assert_eq!(
        ok(&h, &["INV.HOLDS", "sale"]),
        Reply::Array(vec![Reply::Array(vec![
            Reply::Bulk(b"b".to_vec()),
            Reply::Int(3),
            Reply::Int(300)
        ])])
    );

    // An expired hold can no longer be confirmed, and its fields are gone after a write.
    assert_eq!(error(&h, &["INV.CONFIRM", "sale", "a"]), "ERR no such hold");
    assert_eq!(int(&h, &["INV.HOLD", "sale", "c", "2", "1000"]), 1);
    assert_eq!(field(&h, "sale", "hold:a"), None);
    assert_eq!(counts(&h, "sale"), [0, 5, 0]);
    assert_eq!(
        field(&h, "sale", "next_expiry").as_deref(),
        Some("1700000000500")
    );

    // The same id can be used again once its hold expired.
    h.set_time(T0 + 2_000);
    assert_eq!(int(&h, &["INV.HOLD", "sale", "b", "5", "100"]), 1);
    assert_eq!(counts(&h, "sale"), [0, 5, 0]);
    h.set_time(T0 + 2_100);
    assert_eq!(counts(&h, "sale"), [5, 0, 0]);
}

#[test]
fn stale_scan_hint_is_recomputed() {
    let h = harness();
    ok(&h, &["INV.SET", "sale", "5"]);
    int(&h, &["INV.HOLD", "sale", "early", "1", "100"]);
    int(&h, &["INV.HOLD", "sale", "late", "1", "10000"]);
    // Confirming the earliest hold leaves the hint early; the next write scans and fixes it.
    int(&h, &["INV.CONFIRM", "sale", "early"]);
    assert_eq!(
        field(&h, "sale", "next_expiry").as_deref(),
        Some("1700000000100")
    );
    h.set_time(T0 + 150);
    assert_eq!(int(&h, &["INV.HOLD", "sale", "x", "1", "100000"]), 1);
    assert_eq!(
        field(&h, "sale", "next_expiry").as_deref(),
        Some("1700000010000")
    );
    assert_eq!(counts(&h, "sale"), [2, 2, 1]);
}

#[test]
fn set_replaces_the_inventory() {
    let h = harness();
    ok(&h, &["INV.SET", "sale", "5"]);
    int(&h, &["INV.HOLD", "sale", "a", "2", "1000"]);
    int(&h, &["INV.CONFIRM", "sale", "a"]);
    int(&h, &["INV.HOLD", "sale", "b", "1", "1000"]);
    ok(&h, &["INV.SET", "sale", "7"]);
    assert_eq!(counts(&h, "sale"), [7, 0, 0]);
    assert_eq!(error(&h, &["INV.CONFIRM", "sale", "b"]), "ERR no such hold");
    ok(&h, &["INV.SET", "zero", "0"]);
    assert_eq!(int(&h, &["INV.HOLD", "zero", "a", "1", "1000"]), 0);
}

#[test]
fn errors() {
    let h = harness();
    assert_eq!(ok(&h, &["INV.GET", "missing"]), Reply::NilArray);
    assert_eq!(ok(&h, &["INV.HOLDS", "missing"]), Reply::Array(vec![]));
    assert_eq!(
        error(&h, &["INV.HOLD", "missing", "a", "1", "1000"]),
        "ERR no such inventory"
    );
    assert_eq!(
        error(&h, &["INV.CONFIRM", "missing", "a"]),
        "ERR no such inventory"
    );
    assert_eq!(h.redis(&["EXISTS", "missing"]), Reply::Int(0));

    assert_eq!(
        error(&h, &["INV.SET", "k", "-1"]),
        "ERR total must be a non-negative integer"
    );
    assert_eq!(
        error(&h, &["INV.SET", "k", "ten"]),
        "ERR value is not an integer or out of range"
    );
    ok(&h, &["INV.SET", "k", "10"]);
    assert_eq!(
        error(&h, &["INV.HOLD", "k", "a", "0", "1000"]),
        "ERR quantity must be a positive integer"
    );
    assert_eq!(
        error(&h, &["INV.HOLD", "k", "a", "1", "0"]),
        "ERR ttl must be a positive number of milliseconds"
    );
    assert_eq!(
        error(&h, &["INV.HOLD", "k", "a", "1", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&h, &["INV.HOLD", "k", "a", "1", &i64::MAX.to_string()]),
        "ERR ttl is out of range"
    );
    assert_eq!(
        error(&h, &["INV.HOLD", "k", "a", "1"]),
        "ERR wrong number of arguments for 'inv.hold' command"
    );
    assert_eq!(int(&h, &["INV.HOLD", "k", "a", "1", "1000"]), 1);
    assert_eq!(
        error(&h, &["INV.HOLD", "k", "a", "1", "1000"]),
        "ERR hold already exists"
    );

    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    h.redis(&["SET", "str", "x"]);
    h.redis(&["HSET", "hash", "f", "v"]);
    for key in ["str", "hash"] {
        assert_eq!(error(&h, &["INV.GET", key]), wrongtype);
        assert_eq!(error(&h, &["INV.SET", key, "5"]), wrongtype);
        assert_eq!(error(&h, &["INV.HOLD", key, "a", "1", "10"]), wrongtype);
        assert_eq!(error(&h, &["INV.HOLDS", key]), wrongtype);
    }
    h.redis(&["HSET", "broken", "available", "x", "held", "0", "sold", "0"]);
    assert_eq!(
        error(&h, &["INV.GET", "broken"]),
        "ERR inventory hash is corrupt"
    );
}

#[test]
fn an_error_undoes_the_reclaim_it_did() {
    let h = harness();
    ok(&h, &["INV.SET", "sale", "3"]);
    int(&h, &["INV.HOLD", "sale", "a", "1", "100"]);
    int(&h, &["INV.HOLD", "sale", "b", "1", "100000"]);
    h.set_time(T0 + 500);
    // The reclaim of `a` ran, then the duplicate id aborted: the host undoes both.
    assert_eq!(
        error(&h, &["INV.HOLD", "sale", "b", "1", "10"]),
        "ERR hold already exists"
    );
    assert_eq!(
        field(&h, "sale", "hold:a").as_deref(),
        Some("1:1700000000100")
    );
    assert_eq!(field(&h, "sale", "held").as_deref(), Some("2"));
    assert_eq!(counts(&h, "sale"), [2, 1, 0]);
}

/// Random operations against a model: units are conserved, counters never go negative, and
/// the command layer agrees with a straightforward bookkeeping of live holds.
#[test]
fn random_operations_conserve_units() {
    let h = harness();
    let total = 40i64;
    ok(&h, &["INV.SET", "s", &total.to_string()]);
    let mut model: std::collections::HashMap<String, (i64, i64)> = Default::default();
    let (mut available, mut sold) = (total, 0i64);
    let mut now = T0;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..3_000 {
        now += next(40) as i64;
        h.set_time(now);
        // Expire the model's holds first, as the module does.
        model.retain(|_, (qty, deadline)| {
            if *deadline <= now {
                available += *qty;
                false
            } else {
                true
            }
        });
        let id = format!("h{}", next(30));
        match next(4) {
            0 | 1 => {
                let qty = 1 + next(5) as i64;
                let ttl = 1 + next(400) as i64;
                let args = ["INV.HOLD", "s", &id, &qty.to_string(), &ttl.to_string()];
                match model.entry(id.clone()) {
                    Entry::Occupied(_) => {
                        assert_eq!(error(&h, &args), "ERR hold already exists")
                    }
                    Entry::Vacant(_) if qty > available => assert_eq!(int(&h, &args), 0),
                    Entry::Vacant(slot) => {
                        assert_eq!(int(&h, &args), 1);
                        available -= qty;
                        slot.insert((qty, now + ttl));
                    }
                }
            }
            2 => match model.remove(&id) {
                Some((qty, _)) => {
                    assert_eq!(int(&h, &["INV.CONFIRM", "s", &id]), qty);
                    sold += qty;
                }
                None => assert_eq!(error(&h, &["INV.CONFIRM", "s", &id]), "ERR no such hold"),
            },
            _ => match model.remove(&id) {
                Some((qty, _)) => {
                    assert_eq!(int(&h, &["INV.RELEASE", "s", &id]), qty);
                    available += qty;
                }
                None => assert_eq!(error(&h, &["INV.RELEASE", "s", &id]), "ERR no such hold"),
            },
        }
        let held: i64 = model.values().map(|(q, _)| q).sum();
        assert_eq!(available + held + sold, total);
        assert_eq!(counts(&h, "s"), [available, held, sold]);
    }
    assert!(sold > 0, "the run should have sold something");
}
