//! Example function library for `FUNCTION LOAD` / `FCALL` (README.md beside this file): named
//! counters kept as ordinary integer strings.
//!
//! - `counter_incr key [step]` (write): adds `step` (default 1), replies the new value.
//! - `counter_get key` (`no-writes`, so `FCALL_RO` may call it): the value, 0 when missing.
//! - `counter_incr_capped key step cap` (write): adds `step`, but when the result passes `cap`
//!   it returns an error, and the host undoes the increment it already made (all-or-nothing,
//!   docs/abi.md) — no compensating DECRBY needed.
//! - `counter_total pattern` (`no-writes whole-keyspace`): the sum of every counter whose name
//!   matches `pattern`, found with SCAN, so it reads keys it never declared.
use ember_guest_sdk::{call, Error, Function, Input, Reply, Result};

/// The integer value of a GET reply: 0 for a missing key.
fn as_count(reply: &Reply) -> Result<i64> {
    if reply.is_nil() {
        return Ok(0);
    }
    reply.as_int().ok_or_else(Error::not_integer)
}

fn counter_incr(input: &Input) -> Result<Reply> {
    let step = if input.args.is_empty() {
        1
    } else {
        input.arg_i64(0)?
    };
    call!("INCRBY", input.key(0)?, step)
}

fn counter_get(input: &Input) -> Result<Reply> {
    Ok(Reply::Int(as_count(&call!("GET", input.key(0)?)?)?))
}

fn counter_incr_capped(input: &Input) -> Result<Reply> {
    let (step, cap) = (input.arg_i64(0)?, input.arg_i64(1)?);
    let now = call!("INCRBY", input.key(0)?, step)?;
    // Checking after the write on purpose: returning Err undoes the INCRBY.
    if now.as_int().is_some_and(|n| n > cap) {
        return Err(Error::new(format!("counter would pass its cap of {cap}")));
    }
    Ok(now)
}

fn counter_total(input: &Input) -> Result<Reply> {
    let pattern = input.arg(0)?;
    let mut total: i64 = 0;
    let mut cursor = b"0".to_vec();
    loop {
        let page = call!("SCAN", &cursor, "MATCH", pattern, "COUNT", 100i64)?
            .into_array()
            .unwrap_or_default();
        let mut page = page.into_iter();
        cursor = page
            .next()
            .and_then(|c| c.as_bytes().map(<[u8]>::to_vec))
            .unwrap_or_else(|| b"0".to_vec());
        for key in page.next().and_then(Reply::into_array).unwrap_or_default() {
            let Some(key) = key.as_bytes() else { continue };
            // A matching key that is not a counter (another type, not an integer) is skipped.
            let value = ember_guest_sdk::pcall!("GET", key);
            if let Ok(n) = as_count(&value) {
                total = total.saturating_add(n);
            }
        }
        if cursor == b"0" {
            return Ok(Reply::Int(total));
        }
    }
}

ember_guest_sdk::library! {
    name: "mylib",
    functions: [
        Function::new("counter_incr", counter_incr)
            .description("Adds ARGV[1] (default 1) to the counter KEYS[1]; replies the new value"),
        Function::new("counter_get", counter_get)
            .flags("no-writes")
            .description("The counter KEYS[1], 0 when missing"),
        Function::new("counter_incr_capped", counter_incr_capped)
            .description("Adds ARGV[1] to KEYS[1] unless that passes the cap ARGV[2]"),
        Function::new("counter_total", counter_total)
            .flags("no-writes whole-keyspace")
            .description("The sum of every counter matching the pattern ARGV[1]"),
    ],
}

#[cfg(test)]
mod tests {
    use super::EMBER_LIBRARY;
    use ember_guest_sdk::{testing, Reply};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    /// A strings-only stand-in for the keyspace: GET, INCRBY and a one-page SCAN (MATCH is a
    /// prefix followed by `*`, enough for these tests).
    fn setup() -> Rc<RefCell<BTreeMap<Vec<u8>, Vec<u8>>>> {
        testing::reset();
        let store = Rc::new(RefCell::new(BTreeMap::new()));
        let s = Rc::clone(&store);
        testing::on_call(move |argv| {
            let mut s = s.borrow_mut();
            match argv[0].as_slice() {
                b"GET" => s.get(&argv[1]).cloned().map_or(Reply::Nil, Reply::Bulk),
                b"INCRBY" => {
                    let old = s.get(&argv[1]).map_or(Some(0), |v| {
                        std::str::from_utf8(v).ok()?.parse::<i64>().ok()
                    });
                    let step = std::str::from_utf8(&argv[2])
                        .unwrap()
                        .parse::<i64>()
                        .unwrap();
                    match old {
                        Some(old) => {
                            s.insert(argv[1].clone(), (old + step).to_string().into_bytes());
                            Reply::Int(old + step)
                        }
                        None => Reply::Error("ERR value is not an integer or out of range".into()),
                    }
                }
                b"SCAN" => {
                    let prefix = argv[3].strip_suffix(b"*").unwrap();
                    let keys = s
                        .keys()
                        .filter(|k| k.starts_with(prefix))
                        .map(|k| Reply::Bulk(k.clone()))
                        .collect();
                    Reply::Array(vec![Reply::Bulk(b"0".to_vec()), Reply::Array(keys)])
                }
                other => panic!("unexpected command {}", String::from_utf8_lossy(other)),
            }
        });
        store
    }

    fn run(f: &str, keys: &[&str], args: &[&str]) -> Result<Reply, String> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        EMBER_LIBRARY.run(f, &keys, &args).map_err(|e| e.0)
    }

    #[test]
    fn incr_and_get() {
        let _store = setup();
        assert_eq!(run("counter_get", &["c"], &[]), Ok(Reply::Int(0)));
        assert_eq!(run("counter_incr", &["c"], &[]), Ok(Reply::Int(1)));
        assert_eq!(run("counter_incr", &["c"], &["41"]), Ok(Reply::Int(42)));
        assert_eq!(run("counter_get", &["c"], &[]), Ok(Reply::Int(42)));
        assert_eq!(
            run("counter_incr", &["c"], &["x"]),
            Err("ERR value is not an integer or out of range".into())
        );
        assert!(run("counter_get", &[], &[]).is_err());
    }

    #[test]
    fn capped_increment_reports_the_cap() {
        let _store = setup();
        assert_eq!(
            run("counter_incr_capped", &["c"], &["3", "5"]),
            Ok(Reply::Int(3))
        );
        // The simulated host keeps no undo log, so only the error is checked here;
        // tests/functions.rs checks on the real server that the increment is undone.
        assert_eq!(
            run("counter_incr_capped", &["c"], &["3", "5"]),
            Err("ERR counter would pass its cap of 5".into())
        );
    }

    #[test]
    fn total_sums_matching_counters_and_skips_others() {
        let store = setup();
        run("counter_incr", &["hits:a"], &["2"]).unwrap();
        run("counter_incr", &["hits:b"], &["5"]).unwrap();
        run("counter_incr", &["other"], &["100"]).unwrap();
        store
            .borrow_mut()
            .insert(b"hits:text".to_vec(), b"not a number".to_vec());
        assert_eq!(run("counter_total", &[], &["hits:*"]), Ok(Reply::Int(7)));
        assert_eq!(run("counter_total", &[], &["none:*"]), Ok(Reply::Int(0)));
    }
}
