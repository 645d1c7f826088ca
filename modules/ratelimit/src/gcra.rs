//! The generic cell rate algorithm behind `CL.THROTTLE`, as pure arithmetic on nanoseconds.
//!
//! This mirrors redis-cell's limiter step for step (same intermediate quantities, same rounding)
//! so that a client sees byte-identical replies, and the state is the same as redis-cell's: one
//! string key holding the theoretical arrival time (TAT) in unix nanoseconds, expiring when the
//! bucket is full again. Everything here is host-free so it is unit-tested natively.
//!
//! All arithmetic is done in saturating `i128` so no client-chosen parameter can overflow
//! (redis-cell wraps `i64` silently on extreme inputs; on every input it handles sensibly we agree
//! with it).

/// One nanosecond-denominated second.
const NS_PER_SEC: i128 = 1_000_000_000;

/// The usage line redis-cell answers for a wrong argument count.
pub const USAGE: &str =
    "Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]";

/// The parameters of one `CL.THROTTLE` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub max_burst: i64,
    pub count: i64,
    pub period_secs: i64,
    pub quantity: i64,
}

/// What the caller must do to the key after the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Leave the key alone (the request was limited).
    None,
    /// Store the new TAT (unix ns) with a TTL in milliseconds (`> 0`).
    Set { tat_ns: u64, ttl_ms: i64 },
    /// The new state equals "no state" (TTL rounds to 0 ms): remove the key, as redis-cell's
    /// zero-millisecond expire would.
    Delete,
}

/// The five integers of the reply plus the write to perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub limited: bool,
    pub limit: i64,
    pub remaining: i64,
    pub retry_after_secs: i64,
    pub reset_after_secs: i64,
    pub write: Write,
}

impl Outcome {
    /// The reply array in redis-cell's order.
    pub fn reply(&self) -> [i64; 5] {
        [
            i64::from(self.limited),
            self.limit,
            self.remaining,
            self.retry_after_secs,
            self.reset_after_secs,
        ]
    }
}

/// A refusal whose text redis-cell prefixes with `Cell error: Store error: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub &'static str);

/// redis-cell's `Rate::per_period`: the emission interval in ns, computed through `f64` exactly as
/// redis-cell does (so e.g. 3 per 1 s gives 333_333_333 ns). `0` means "zero rate".
fn emission_interval_ns(count: i64, period_secs: i64) -> i128 {
    let period_ns = i128::from(period_secs) * NS_PER_SEC;
    if count == 0 || period_ns == 0 {
        return 0;
    }
    // `as i64` saturates (and maps NaN to 0) like redis-cell's cast.
    i128::from(((period_ns as f64) / (count as f64)) as i64)
}

/// Seconds for the reply: truncate toward zero, then add one when there is at least a whole
/// millisecond left over, so a fast client never retries too early (redis-cell's rounding).
pub fn reply_seconds(ns: i128) -> i64 {
    let mut secs = (ns as f64 / NS_PER_SEC as f64) as i64;
    let subsec_ms = (ns % NS_PER_SEC) / 1_000_000;
    if subsec_ms > 0 {
        secs = secs.saturating_add(1);
    }
    secs
}

/// Clamp an `i128` into `i64`.
fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Decide one request. `stored_tat_ns` is the key's value (None when the key does not exist),
/// `now_ns` the invocation's clock.
pub fn throttle(
    q: &Quota,
    stored_tat_ns: Option<u64>,
    now_ns: i128,
) -> Result<Outcome, StoreError> {
    let emission = emission_interval_ns(q.count, q.period_secs);
    if emission == 0 {
        return Err(StoreError("Zero rates are not supported"));
    }
    // The "delay variation tolerance": how far ahead of schedule a caller may run, i.e. the
    // bucket size in time units.
    let tolerance = emission.saturating_mul(i128::from(q.max_burst) + 1);
    let increment = emission.saturating_mul(i128::from(q.quantity));
    let limit = q.max_burst.wrapping_add(1);

    let tat = stored_tat_ns.map_or(now_ns, i128::from);
    let new_tat = now_ns.max(tat).saturating_add(increment);
    let allow_at = new_tat.saturating_sub(tolerance);
    let diff = now_ns.saturating_sub(allow_at);

    let (limited, ttl, retry_after, write) = if diff < 0 {
        // A request bigger than the whole bucket can never succeed: redis-cell then keeps
        // retry_after at -1 s rather than naming a time.
        let retry = if increment <= tolerance {
            diff.saturating_neg()
        } else {
            -NS_PER_SEC
        };
        (true, tat.saturating_sub(now_ns), retry, Write::None)
    } else {
        let ttl = new_tat.saturating_sub(now_ns);
        // redis-cell sets the expire in whole milliseconds, truncated.
        let ttl_ms = ttl / 1_000_000;
        let write = if ttl_ms < 0 {
            // Only a negative quantity gets here; redis-cell's expire call fails then.
            return Err(StoreError("Error while setting key expire"));
        } else if ttl_ms == 0 {
            Write::Delete
        } else {
            let tat_ns =
                u64::try_from(new_tat).map_err(|_| StoreError("Error while setting key"))?;
            Write::Set {
                tat_ns,
                ttl_ms: clamp_i64(ttl_ms),
            }
        };
        (false, ttl, -NS_PER_SEC, write)
    };

    let next = tolerance.saturating_sub(ttl);
    let remaining = if next > -emission {
        // redis-cell divides whole microseconds in floating point.
        let next_us = next / 1_000;
        let emission_us = emission / 1_000;
        (next_us as f64 / emission_us as f64) as i64
    } else {
        0
    };

    Ok(Outcome {
        limited,
        limit,
        remaining,
        retry_after_secs: reply_seconds(retry_after),
        reset_after_secs: reply_seconds(ttl),
        write,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i128 = 1_000_000;
    const START: i128 = 1_700_000_000_000 * MS;

    /// Run a request against an in-memory "key", applying the write like the module does.
    fn step(q: &Quota, key: &mut Option<u64>, now: i128) -> Outcome {
        let out = throttle(q, *key, now).expect("valid quota");
        match out.write {
            Write::None => {}
            Write::Set { tat_ns, ttl_ms } => {
                assert!(ttl_ms > 0);
                *key = Some(tat_ns);
            }
            Write::Delete => *key = None,
        }
        out
    }

    fn quota(max_burst: i64, count: i64, period_secs: i64, quantity: i64) -> Quota {
        Quota {
            max_burst,
            count,
            period_secs,
            quantity,
        }
    }

    #[test]
    fn readme_example() {
        // CL.THROTTLE user123 15 30 60 -> 0 16 15 -1 2
        let mut key = None;
        let out = step(&quota(15, 30, 60, 1), &mut key, START);
        assert_eq!(out.reply(), [0, 16, 15, -1, 2]);
        assert_eq!(key, Some((START + 2_000 * MS) as u64));
    }

    #[test]
    fn burst_then_refusal_then_refill() {
        // redis-cell's own table: limit 5 (max_burst 4), one per second.
        let mut key = None;
        let q = |n| quota(4, 1, 1, n);
        // A request larger than the bucket is refused and retry_after stays -1.
        assert_eq!(step(&q(6), &mut key, START).reply(), [1, 5, 5, -1, 0]);
        assert_eq!(step(&q(1), &mut key, START).reply(), [0, 5, 4, -1, 1]);
        assert_eq!(step(&q(1), &mut key, START).reply(), [0, 5, 3, -1, 2]);
        assert_eq!(step(&q(1), &mut key, START).reply(), [0, 5, 2, -1, 3]);
        assert_eq!(step(&q(1), &mut key, START).reply(), [0, 5, 1, -1, 4]);
        assert_eq!(step(&q(1), &mut key, START).reply(), [0, 5, 0, -1, 5]);
        assert_eq!(step(&q(1), &mut key, START).reply(), [1, 5, 0, 1, 5]);
        assert_eq!(
            step(&q(1), &mut key, START + 3_000 * MS).reply(),
            [0, 5, 2, -1, 3]
        );
        // 3.9 s left rounds up to 4.
        assert_eq!(
            step(&q(1), &mut key, START + 3_100 * MS).reply(),
            [0, 5, 1, -1, 4]
        );
        assert_eq!(
            step(&q(1), &mut key, START + 4_000 * MS).reply(),
            [0, 5, 1, -1, 4]
        );
        assert_eq!(
            step(&q(1), &mut key, START + 8_000 * MS).reply(),
            [0, 5, 4, -1, 1]
        );
        assert_eq!(
            step(&q(1), &mut key, START + 9_500 * MS).reply(),
            [0, 5, 4, -1, 1]
        );
        // Quantity 0 peeks.
        let before = key;
        assert_eq!(
            step(&q(0), &mut key, START + 9_500 * MS).reply(),
            [0, 5, 4, -1, 1]
        );
        assert_eq!(key, before);
        assert_eq!(
            step(&q(2), &mut key, START + 9_500 * MS).reply(),
            [0, 5, 2, -1, 3]
        );
        assert_eq!(
            step(&q(5), &mut key, START + 9_500 * MS).reply(),
            [1, 5, 2, 3, 3]
        );
    }

    #[test]
    fn e2e_sequence_of_redis_cell() {
        // CL.THROTTLE user123 0 1 2: allowed, then refused for 2 s, then allowed again.
        let mut key = None;
        let q = quota(0, 1, 2, 1);
        assert_eq!(step(&q, &mut key, START).reply(), [0, 1, 0, -1, 2]);
        assert_eq!(step(&q, &mut key, START + 5 * MS).reply(), [1, 1, 0, 2, 2]);
        assert_eq!(
            step(&q, &mut key, START + 2_005 * MS).reply(),
            [0, 1, 0, -1, 2]
        );
    }

    #[test]
    fn peek_on_a_missing_key_writes_nothing() {
        let mut key = None;
        let out = step(&quota(4, 1, 1, 0), &mut key, START);
        assert_eq!(out.reply(), [0, 5, 5, -1, 0]);
        assert_eq!(out.write, Write::Delete);
        assert_eq!(key, None);
    }

    #[test]
    fn fractional_intervals_round_like_redis_cell() {
        // 3 per second: emission interval 333_333_333 ns.
        let mut key = None;
        let q = quota(2, 3, 1, 1);
        assert_eq!(step(&q, &mut key, START).reply(), [0, 3, 2, -1, 1]);
        assert_eq!(step(&q, &mut key, START).reply(), [0, 3, 1, -1, 1]);
        assert_eq!(step(&q, &mut key, START).reply(), [0, 3, 0, -1, 1]);
        assert_eq!(step(&q, &mut key, START).reply(), [1, 3, 0, 1, 1]);
        match throttle(&q, key, START).unwrap().write {
            Write::None => {}
            other => panic!("a refusal must not write, got {other:?}"),
        }
    }

    #[test]
    fn zero_rates_are_refused() {
        for q in [
            quota(1, 0, 60, 1),
            quota(1, 10, 0, 1),
            quota(1, i64::MAX, 1, 1),
        ] {
            assert_eq!(
                throttle(&q, None, START),
                Err(StoreError("Zero rates are not supported"))
            );
        }
    }

    #[test]
    fn extreme_inputs_never_panic() {
        let vals = [i64::MIN, -1_000_000, -1, 0, 1, 2, 1_000, i64::MAX];
        for &a in &vals {
            for &b in &vals {
                for &c in &vals {
                    for &d in &vals {
                        let q = quota(a, b, c, d);
                        for stored in [None, Some(0), Some(u64::MAX), Some(START as u64)] {
                            let _ = throttle(&q, stored, START);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn reply_seconds_rounding() {
        assert_eq!(reply_seconds(-NS_PER_SEC), -1);
        assert_eq!(reply_seconds(0), 0);
        assert_eq!(reply_seconds(999_999), 0);
        assert_eq!(reply_seconds(1_000_000), 1);
        assert_eq!(reply_seconds(2 * NS_PER_SEC), 2);
        assert_eq!(reply_seconds(2 * NS_PER_SEC + 500_000), 2);
        assert_eq!(reply_seconds(2 * NS_PER_SEC + 1_000_000), 3);
    }
}
