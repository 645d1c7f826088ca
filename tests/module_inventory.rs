//! The bundled `inventory` module against the real `ember-server`, which loads it at start-up,
//! and the `inventory_decrement` example script (examples/wasm/inventory_decrement) run with
//! SCRIPT LOAD / EVALSHA.
//!
//! What users rely on: holds are granted only while stock lasts, however many clients race for
//! it (never oversold); confirms and releases move exactly the held units; holds that expire
//! give their units back on their own; the state is an ordinary hash users can inspect; errors
//! are clear. Waits are a few hundred milliseconds.

#[path = "common/mod.rs"]
mod common;

use common::{escape, integer_value, split_aggregate, string_value, Protocol};
use common::{RespConn, ServerProcess};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn cmd<A: AsRef<[u8]> + std::fmt::Debug>(c: &mut RespConn, args: &[A]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn int(c: &mut RespConn, args: &[&str]) -> i64 {
    let reply = cmd(c, args);
    integer_value(&reply).unwrap_or_else(|| panic!("{args:?} replied {}", escape(&reply)))
}

/// `INV.GET key` as `[available, held, sold]`.
fn counts(c: &mut RespConn, key: &str) -> [i64; 3] {
    let reply = cmd(c, &["INV.GET", key]);
    let Some((b'*', items)) = split_aggregate(&reply, Protocol::Resp2) else {
        panic!("INV.GET {key} replied {}", escape(&reply));
    };
    let v: Vec<i64> = items.iter().map(|i| integer_value(i).unwrap()).collect();
    v.try_into()
        .unwrap_or_else(|_| panic!("INV.GET {key} replied {}", escape(&reply)))
}

fn assert_error(c: &mut RespConn, args: &[&str], text: &str) {
    let reply = cmd(c, args);
    assert_eq!(
        escape(&reply),
        escape(format!("-{text}\r\n").as_bytes()),
        "reply to {args:?}"
    );
}

fn connect(addr: SocketAddr) -> RespConn {
    RespConn::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

#[test]
fn hold_confirm_release_and_inspect() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    let list = cmd(&mut c, &["MODULE", "LIST"]);
    assert!(
        escape(&list).contains("inventory"),
        "MODULE LIST: {}",
        escape(&list)
    );

    assert_eq!(cmd(&mut c, &["INV.SET", "sale", "10"]), b"+OK\r\n");
    assert_eq!(counts(&mut c, "sale"), [10, 0, 0]);
    assert_eq!(int(&mut c, &["INV.HOLD", "sale", "alice", "3", "60000"]), 1);
    assert_eq!(int(&mut c, &["INV.HOLD", "sale", "bob", "6", "30000"]), 1);
    // Not enough left: 0, nothing changes.
    assert_eq!(int(&mut c, &["INV.HOLD", "sale", "carol", "2", "60000"]), 0);
    assert_eq!(counts(&mut c, "sale"), [1, 9, 0]);

    // The state is a plain hash.
    assert_eq!(cmd(&mut c, &["TYPE", "sale"]), b"+hash\r\n");
    let held = cmd(&mut c, &["HGET", "sale", "held"]);
    assert_eq!(string_value(&held), Some(&b"9"[..]));
    let alice = cmd(&mut c, &["HGET", "sale", "hold:alice"]);
    let alice = String::from_utf8(string_value(&alice).unwrap().to_vec()).unwrap();
    assert!(alice.starts_with("3:"), "hold:alice = {alice}");

    // INV.HOLDS: [id, qty, ms left], soonest deadline first.
    let holds = cmd(&mut c, &["INV.HOLDS", "sale"]);
    let (_, items) = split_aggregate(&holds, Protocol::Resp2).unwrap();
    assert_eq!(items.len(), 2, "{}", escape(&holds));
    let (_, bob) = split_aggregate(items[0], Protocol::Resp2).unwrap();
    assert_eq!(string_value(bob[0]), Some(&b"bob"[..]));
    assert_eq!(integer_value(bob[1]), Some(6));
    let left = integer_value(bob[2]).unwrap();
    assert!(
        (29_000..=30_000).contains(&left),
        "bob's hold has {left} ms left"
    );

    assert_eq!(int(&mut c, &["INV.CONFIRM", "sale", "alice"]), 3);
    assert_eq!(int(&mut c, &["INV.RELEASE", "sale", "bob"]), 6);
    assert_eq!(counts(&mut c, "sale"), [7, 0, 3]);
    assert_error(
        &mut c,
        &["INV.CONFIRM", "sale", "alice"],
        "ERR no such hold",
    );
    assert_error(
        &mut c,
        &["INV.RELEASE", "sale", "nobody"],
        "ERR no such hold",
    );
    assert_eq!(cmd(&mut c, &["INV.HOLDS", "sale"]), b"*0\r\n");

    // INV.SET replaces the whole inventory.
    assert_eq!(int(&mut c, &["INV.HOLD", "sale", "dave", "1", "60000"]), 1);
    assert_eq!(cmd(&mut c, &["INV.SET", "sale", "4"]), b"+OK\r\n");
    assert_eq!(counts(&mut c, "sale"), [4, 0, 0]);
    assert_error(&mut c, &["INV.CONFIRM", "sale", "dave"], "ERR no such hold");
}

#[test]
fn errors_are_clear() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    assert_eq!(cmd(&mut c, &["INV.GET", "missing"]), b"*-1\r\n");
    assert_eq!(cmd(&mut c, &["INV.HOLDS", "missing"]), b"*0\r\n");
    assert_error(
        &mut c,
        &["INV.HOLD", "missing", "a", "1", "1000"],
        "ERR no such inventory",
    );
    assert_error(
        &mut c,
        &["INV.CONFIRM", "missing", "a"],
        "ERR no such inventory",
    );
    assert_eq!(int(&mut c, &["EXISTS", "missing"]), 0);

    assert_error(
        &mut c,
        &["INV.SET", "k", "-1"],
        "ERR total must be a non-negative integer",
    );
    assert_error(
        &mut c,
        &["INV.SET", "k", "lots"],
        "ERR value is not an integer or out of range",
    );
    assert_eq!(cmd(&mut c, &["INV.SET", "k", "10"]), b"+OK\r\n");
    assert_error(
        &mut c,
        &["INV.HOLD", "k", "a", "0", "1000"],
        "ERR quantity must be a positive integer",
    );
    assert_error(
        &mut c,
        &["INV.HOLD", "k", "a", "1", "0"],
        "ERR ttl must be a positive number of milliseconds",
    );
    assert_error(
        &mut c,
        &["INV.HOLD", "k", "a", "1"],
        "ERR wrong number of arguments for 'inv.hold' command",
    );
    assert_eq!(int(&mut c, &["INV.HOLD", "k", "a", "1", "60000"]), 1);
    assert_error(
        &mut c,
        &["INV.HOLD", "k", "a", "1", "60000"],
        "ERR hold already exists",
    );
    assert_eq!(counts(&mut c, "k"), [9, 1, 0]);

    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(cmd(&mut c, &["SET", "str", "x"]), b"+OK\r\n");
    assert_eq!(int(&mut c, &["HSET", "hash", "f", "v"]), 1);
    for key in ["str", "hash"] {
        assert_error(&mut c, &["INV.GET", key], wrongtype);
        assert_error(&mut c, &["INV.SET", key, "5"], wrongtype);
        assert_error(&mut c, &["INV.HOLD", key, "a", "1", "1000"], wrongtype);
    }
    // Nothing was clobbered.
    assert_eq!(string_value(&cmd(&mut c, &["GET", "str"])), Some(&b"x"[..]));
}

#[test]
fn expired_holds_return_their_stock() {
    let server = ServerProcess::start_ember(&[]);
    let mut c = server.connect();
    assert_eq!(cmd(&mut c, &["INV.SET", "flash", "5"]), b"+OK\r\n");
    assert_eq!(int(&mut c, &["INV.HOLD", "flash", "a", "2", "300"]), 1);
    assert_eq!(int(&mut c, &["INV.HOLD", "flash", "b", "3", "300"]), 1);
    assert_eq!(int(&mut c, &["INV.HOLD", "flash", "c", "1", "60000"]), 0);
    assert_eq!(counts(&mut c, "flash"), [0, 5, 0]);
    std::thread::sleep(Duration::from_millis(400));
    // Reads already see the units back; the next write reclaims them for good.
    assert_eq!(counts(&mut c, "flash"), [5, 0, 0]);
    assert_eq!(cmd(&mut c, &["INV.HOLDS", "flash"]), b"*0\r\n");
    assert_error(&mut c, &["INV.CONFIRM", "flash", "a"], "ERR no such hold");
    assert_eq!(int(&mut c, &["INV.HOLD", "flash", "c", "1", "60000"]), 1);
    assert_eq!(int(&mut c, &["HEXISTS", "flash", "hold:a"]), 0);
    assert_eq!(counts(&mut c, "flash"), [4, 1, 0]);
    // An expired hold's id can be used again.
    assert_eq!(int(&mut c, &["INV.HOLD", "flash", "a", "4", "60000"]), 1);
    assert_eq!(counts(&mut c, "flash"), [0, 5, 0]);
}

/// 20 clients x 50 holds race for 300 units: exactly 300 are granted, never more; then the
/// clients confirm some holds and release the rest concurrently, and the counters add up.
#[test]
fn concurrent_holds_never_oversell() {
    const CLIENTS: usize = 20;
    const HOLDS: usize = 50;
    const STOCK: i64 = 300;
    let server = ServerProcess::start_ember(&[]);
    let addr = server.addr();
    let mut c = server.connect();
    assert_eq!(
        cmd(&mut c, &["INV.SET", "drop", &STOCK.to_string()]),
        b"+OK\r\n"
    );

    // Phase 1: everyone holds; the test checks the counters; phase 2: everyone settles. (A
    // release during phase 1 would hand units back out, so the phases must not overlap.)
    let barrier = Arc::new(Barrier::new(CLIENTS + 1));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut c = connect(addr);
                let mut granted = Vec::new();
                for h in 0..HOLDS {
                    let id = format!("c{t}-h{h}");
                    // Quantities 1..=3 so the last units are fought over by mixed sizes.
                    let qty = 1 + ((t * 7 + h * 13) % 3) as i64;
                    match int(
                        &mut c,
                        &["INV.HOLD", "drop", &id, &qty.to_string(), "60000"],
                    ) {
                        1 => granted.push((id, qty)),
                        0 => {}
                        other => panic!("INV.HOLD replied {other}"),
                    }
                }
                barrier.wait();
                barrier.wait();
                // Confirm every other hold, release the rest.
                let (mut sold, mut released) = (0, 0);
                for (i, (id, qty)) in granted.iter().enumerate() {
                    if i % 2 == 0 {
                        assert_eq!(int(&mut c, &["INV.CONFIRM", "drop", id]), *qty);
                        sold += qty;
                    } else {
                        assert_eq!(int(&mut c, &["INV.RELEASE", "drop", id]), *qty);
                        released += qty;
                    }
                }
                let held: i64 = granted.iter().map(|(_, q)| q).sum();
                (held, sold, released)
            })
        })
        .collect();
    barrier.wait();
    let [available, held_now, sold_now] = counts(&mut c, "drop");
    barrier.wait();
    let results: Vec<(i64, i64, i64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let held: i64 = results.iter().map(|r| r.0).sum();
    let sold: i64 = results.iter().map(|r| r.1).sum();
    let released: i64 = results.iter().map(|r| r.2).sum();

    // Demand (about 2000 units) far exceeds supply: the granted holds take the whole stock
    // (single-unit requests keep coming after the big ones stop fitting), never more.
    assert_eq!(held, STOCK, "granted {held} units of {STOCK}");
    assert_eq!([available, held_now, sold_now], [0, STOCK, 0]);
    let [available, still_held, sold_now] = counts(&mut c, "drop");
    assert_eq!(still_held, 0);
    assert_eq!(sold_now, sold);
    assert_eq!(released, held - sold);
    assert_eq!(available, released);
    assert_eq!(cmd(&mut c, &["INV.HOLDS", "drop"]), b"*0\r\n");
}

/// Clients hold with short TTLs and confirm only some holds; the rest expire. In the end every
/// unit is either sold or available again, and sold matches the confirms that succeeded.
#[test]
fn concurrent_holds_with_expiry_conserve_stock() {
    const STOCK: i64 = 50;
    let server = ServerProcess::start_ember(&[]);
    let addr = server.addr();
    let mut c = server.connect();
    assert_eq!(
        cmd(&mut c, &["INV.SET", "tix", &STOCK.to_string()]),
        b"+OK\r\n"
    );
    let threads: Vec<_> = (0..10)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = connect(addr);
                let mut sold = 0;
                for h in 0..40 {
                    let id = format!("t{t}-{h}");
                    if int(&mut c, &["INV.HOLD", "tix", &id, "1", "200"]) != 1 {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    // One hold in four is paid for; the others are abandoned and expire.
                    if h % 4 == 0 {
                        let reply = cmd(&mut c, &["INV.CONFIRM", "tix", &id]);
                        if integer_value(&reply) == Some(1) {
                            sold += 1;
                        } else {
                            // Only possible when the hold expired first.
                            assert_eq!(reply, b"-ERR no such hold\r\n");
                        }
                    }
                }
                sold
            })
        })
        .collect();
    let sold: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counts(&mut c, "tix"), [STOCK - sold, 0, sold]);
    assert!(sold > 0);
}

fn example_wasm() -> Vec<u8> {
    let dir = option_env!("EMBER_GUESTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests/wasm32-unknown-unknown/release")
        });
    let path = dir.join("inventory_decrement.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// examples/wasm/inventory_decrement: the GA inventory decrement as an EVAL script, loaded the
/// way its README says and raced by many clients.
#[test]
fn inventory_decrement_example_script() {
    let server = ServerProcess::start_ember(&[]);
    let addr = server.addr();
    let mut c = server.connect();
    let body = example_wasm();
    let sha = cmd(&mut c, &[b"SCRIPT".as_slice(), b"LOAD", body.as_slice()]);
    let sha = string_value(&sha).unwrap_or_else(|| panic!("SCRIPT LOAD: {}", escape(&sha)));
    let sha = String::from_utf8(sha.to_vec()).unwrap();
    assert_eq!(sha.len(), 40);

    assert_eq!(cmd(&mut c, &["SET", "stock:sku42", "5"]), b"+OK\r\n");
    assert_eq!(int(&mut c, &["EVALSHA", &sha, "1", "stock:sku42", "3"]), 1);
    assert_eq!(int(&mut c, &["EVALSHA", &sha, "1", "stock:sku42", "3"]), 0);
    assert_eq!(int(&mut c, &["EVALSHA", &sha, "1", "stock:sku42", "2"]), 1);
    assert_eq!(
        string_value(&cmd(&mut c, &["GET", "stock:sku42"])),
        Some(&b"0"[..])
    );
    assert_eq!(int(&mut c, &["EVALSHA", &sha, "1", "stock:none", "1"]), 0);
    assert_error(
        &mut c,
        &["EVALSHA", &sha, "1", "stock:sku42", "0"],
        "ERR quantity must be a positive integer",
    );
    // EVAL with the body works too.
    let eval = cmd(
        &mut c,
        &[
            b"EVAL".as_slice(),
            body.as_slice(),
            b"1",
            b"stock:none",
            b"1",
        ],
    );
    assert_eq!(eval, b":0\r\n");

    // 10 clients x 20 single-unit purchases race for 100 units: exactly 100 succeed.
    assert_eq!(cmd(&mut c, &["SET", "stock:race", "100"]), b"+OK\r\n");
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let sha = sha.clone();
            std::thread::spawn(move || {
                let mut c = connect(addr);
                (0..20)
                    .map(|_| int(&mut c, &["EVALSHA", &sha, "1", "stock:race", "1"]))
                    .sum::<i64>()
            })
        })
        .collect();
    let bought: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(bought, 100);
    assert_eq!(
        string_value(&cmd(&mut c, &["GET", "stock:race"])),
        Some(&b"0"[..])
    );
}
