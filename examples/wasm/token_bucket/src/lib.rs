//! A token-bucket rate limiter as an Ember EVAL script (README.md beside this
//! file; `token_bucket.lua` is the same algorithm for redis-server).
//!
//! KEYS[1] is the bucket, a hash {tokens, ts}. ARGV: capacity, refill rate in
//! tokens per second, tokens requested (default 1). Replies
//! `[allowed (1/0), tokens left (rounded down)]`.
use ember_guest_sdk::{call, resp::parse_f64, time_ms, Error, Input, Reply, Result};

/// Longest idle TTL: keeps PEXPIRE valid for a tiny refill rate.
const MAX_TTL_MS: f64 = 1e12;

fn main(input: &Input) -> Result<Reply> {
    let key = input.key(0)?;
    let capacity = input.arg_f64(0)?;
    let rate = input.arg_f64(1)?;
    let requested = if input.args.len() > 2 {
        input.arg_f64(2)?
    } else {
        1.0
    };
    if !(capacity > 0.0 && rate > 0.0 && requested >= 0.0) {
        return Err(Error::new(
            "capacity and rate must be positive, requested not negative",
        ));
    }
    // The script's clock is frozen for the invocation, so the refill is exact.
    let now = time_ms();
    let state = call!("HMGET", key, "tokens", "ts")?
        .into_array()
        .unwrap_or_default();
    let field = |i: usize| state.get(i).and_then(Reply::as_bytes).and_then(parse_f64);
    let elapsed_s = (now as f64 - field(1).unwrap_or(now as f64)).max(0.0) / 1000.0;
    let mut tokens = (field(0).unwrap_or(capacity) + elapsed_s * rate).min(capacity);
    let allowed = tokens >= requested;
    if allowed {
        tokens -= requested;
    }
    call!("HSET", key, "tokens", tokens, "ts", now)?;
    // An idle bucket is full again after capacity/rate seconds: let it vanish then.
    let ttl_ms = (capacity / rate * 1000.0).ceil().clamp(1.0, MAX_TTL_MS) as i64;
    call!("PEXPIRE", key, ttl_ms)?;
    Ok(Reply::from(vec![i64::from(allowed), tokens.floor() as i64]))
}

ember_guest_sdk::script!(main);

#[cfg(test)]
mod tests {
    use super::EMBER_SCRIPT;
    use ember_guest_sdk::{testing, Reply};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    /// A hash-only stand-in for the keyspace: HMGET, HSET, PEXPIRE.
    fn fake_store() -> Rc<RefCell<HashMap<Vec<u8>, Vec<u8>>>> {
        let store = Rc::new(RefCell::new(HashMap::new()));
        let s = store.clone();
        testing::on_call(move |argv| {
            let mut s = s.borrow_mut();
            match argv[0].as_slice() {
                b"HMGET" => Reply::Array(
                    argv[2..]
                        .iter()
                        .map(|f| s.get(f).cloned().map_or(Reply::Nil, Reply::Bulk))
                        .collect(),
                ),
                b"HSET" => {
                    for pair in argv[2..].chunks(2) {
                        s.insert(pair[0].clone(), pair[1].clone());
                    }
                    Reply::Int(0)
                }
                _ => Reply::Int(1),
            }
        });
        store
    }

    fn take(n: &[u8]) -> Reply {
        EMBER_SCRIPT.run(&[b"bucket"], &[b"3", b"1", n]).unwrap()
    }

    #[test]
    fn drains_then_refills_with_time() {
        testing::reset();
        let _store = fake_store();
        testing::set_time_ms(1_000_000);
        assert_eq!(take(b"1"), Reply::from(vec![1i64, 2]));
        assert_eq!(take(b"2"), Reply::from(vec![1i64, 0]));
        assert_eq!(take(b"1"), Reply::from(vec![0i64, 0]));
        testing::set_time_ms(1_001_500);
        assert_eq!(take(b"1"), Reply::from(vec![1i64, 0]));
        testing::set_time_ms(1_100_000);
        assert_eq!(take(b"0"), Reply::from(vec![1i64, 3]));
    }

    #[test]
    fn rejects_bad_arguments() {
        testing::reset();
        let _store = fake_store();
        assert!(EMBER_SCRIPT.run(&[b"b"], &[b"0", b"1"]).is_err());
        assert!(EMBER_SCRIPT.run(&[b"b"], &[b"x", b"1"]).is_err());
        assert!(EMBER_SCRIPT.run(&[], &[b"1", b"1"]).is_err());
        assert!(EMBER_SCRIPT.run(&[b"b"], &[b"1"]).is_err());
    }
}
