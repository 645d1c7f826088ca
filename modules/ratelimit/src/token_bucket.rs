//! The token bucket behind `RL.TOKENBUCKET`, as pure arithmetic on milliseconds.
//!
//! State is two numbers, the tokens left and the time they were counted, kept by the command in
//! a hash (`tokens`, `ts`) that expires when the bucket would be full again: a missing key and a
//! full bucket are the same state, so idle buckets cost no memory. Tokens refill continuously at
//! `rate` per second up to `capacity`. Token counts are rounded to a millionth after every step
//! so floating-point noise can neither accumulate nor flip a decision at an exact boundary.

/// Expiries longer than this (about 285 years) are not set at all: the state is then kept until
/// deleted, which is exact, where a clamped expiry would refill the bucket early.
pub const MAX_TTL_MS: i64 = 1 << 53;

/// The largest capacity: token counts are `f64`, exact for integers up to 2^53.
pub const MAX_CAPACITY: i64 = 1 << 53;

/// The parameters of one call, already validated by [`Params::new`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    capacity: i64,
    rate_per_sec: f64,
    cost: i64,
}

impl Params {
    /// Validate: 1 <= capacity <= MAX_CAPACITY, a finite rate > 0, cost >= 0. The error is the
    /// reply text.
    pub fn new(capacity: i64, rate_per_sec: f64, cost: i64) -> Result<Params, &'static str> {
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err("ERR capacity must be between 1 and 9007199254740992");
        }
        if !(rate_per_sec.is_finite() && rate_per_sec > 0.0) {
            return Err("ERR refill rate must be a positive number");
        }
        if cost < 0 {
            return Err("ERR tokens must be a non-negative integer");
        }
        Ok(Params {
            capacity,
            rate_per_sec,
            cost,
        })
    }
}

/// The stored state: tokens left at `ts_ms`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct State {
    pub tokens: f64,
    pub ts_ms: i64,
}

/// What the command does to the key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Write {
    /// Nothing changes (a refusal or a peek: refill is a function of time, not of calls).
    None,
    /// Store the state; expire after `ttl_ms`, or never when `None`.
    Set { state: State, ttl_ms: Option<i64> },
    /// The bucket is full: the same as no key.
    Delete,
}

/// The reply `[allowed, remaining, retry_after_ms]` and the write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub allowed: bool,
    pub remaining: i64,
    /// `-1` when allowed, and when the request is bigger than the bucket (it can never pass).
    pub retry_after_ms: i64,
    pub write: Write,
}

impl Outcome {
    pub fn reply(&self) -> [i64; 3] {
        [i64::from(self.allowed), self.remaining, self.retry_after_ms]
    }
}

fn round_micro(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Milliseconds (rounded up) to gain `tokens` at `rate` per second, saturating.
fn ms_to_gain(tokens: f64, rate_per_sec: f64) -> i64 {
    let ms = tokens * 1000.0 / rate_per_sec;
    // Round to a microsecond first so 400.00000000000006 ms is 400, not 401. `as` saturates;
    // NaN cannot occur since rate > 0 and tokens is finite.
    ((ms * 1e3).round() / 1e3).ceil() as i64
}

/// Decide one request at `now_ms` given the stored state (None when the key does not exist).
pub fn take(p: &Params, stored: Option<State>, now_ms: i64) -> Outcome {
    let capacity = p.capacity as f64;
    let tokens = match stored {
        None => capacity,
        Some(s) => {
            // A clock that went backwards (or a hand-edited future `ts`) refills nothing.
            let elapsed = now_ms.saturating_sub(s.ts_ms).max(0) as f64;
            let refilled = s.tokens.max(0.0) + elapsed * p.rate_per_sec / 1000.0;
            round_micro(refilled.min(capacity))
        }
    };
    let cost = p.cost as f64;
    if cost > tokens {
        let retry_after_ms = if p.cost > p.capacity {
            -1
        } else {
            ms_to_gain(cost - tokens, p.rate_per_sec).max(1)
        };
        return Outcome {
            allowed: false,
            remaining: tokens.floor() as i64,
            retry_after_ms,
            write: Write::None,
        };
    }
    let left = round_micro(tokens - cost);
    let write = if p.cost == 0 {
        Write::None
    } else {
        let ttl = ms_to_gain(capacity - left, p.rate_per_sec);
        if ttl <= 0 {
            Write::Delete
        } else {
            Write::Set {
                state: State {
                    tokens: left,
                    ts_ms: now_ms,
                },
                ttl_ms: (ttl <= MAX_TTL_MS).then_some(ttl),
            }
        }
    };
    Outcome {
        allowed: true,
        remaining: left.floor() as i64,
        retry_after_ms: -1,
        write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn step(p: &Params, key: &mut Option<State>, now: i64) -> [i64; 3] {
        let out = take(p, *key, now);
        match out.write {
            Write::None => {}
            Write::Set { state, ttl_ms } => {
                assert!(ttl_ms.is_none_or(|t| t > 0));
                *key = Some(state);
            }
            Write::Delete => *key = None,
        }
        out.reply()
    }

    #[test]
    fn validation() {
        assert!(Params::new(0, 1.0, 1).is_err());
        assert!(Params::new(MAX_CAPACITY, 1.0, 1).is_ok());
        assert!(Params::new(1, 0.0, 1).is_err());
        assert!(Params::new(1, -1.0, 1).is_err());
        assert!(Params::new(1, f64::NAN, 1).is_err());
        assert!(Params::new(1, f64::INFINITY, 1).is_err());
        assert!(Params::new(1, 1.0, -1).is_err());
        assert!(Params::new(1, 1.0, 0).is_ok());
    }

    #[test]
    fn burst_refusal_refill() {
        let p = Params::new(3, 2.0, 1).unwrap(); // 3 tokens, 2 per second
        let mut key = None;
        assert_eq!(step(&p, &mut key, T0), [1, 2, -1]);
        assert_eq!(step(&p, &mut key, T0), [1, 1, -1]);
        assert_eq!(step(&p, &mut key, T0), [1, 0, -1]);
        assert_eq!(step(&p, &mut key, T0), [0, 0, 500]);
        assert_eq!(step(&p, &mut key, T0 + 100), [0, 0, 400]);
        assert_eq!(step(&p, &mut key, T0 + 500), [1, 0, -1]);
        // Full again after 1.5 s idle: the state is deleted, not stored.
        let out = take(&p, key, T0 + 2_000);
        assert_eq!(out.reply(), [1, 2, -1]);
        match out.write {
            Write::Set { ttl_ms, .. } => assert_eq!(ttl_ms, Some(500)),
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn full_bucket_is_deleted_and_peek_writes_nothing() {
        let p = Params::new(2, 1.0, 0).unwrap();
        let out = take(&p, None, T0);
        assert_eq!(out.reply(), [1, 2, -1]);
        assert_eq!(out.write, Write::None);
        let half = Some(State {
            tokens: 0.5,
            ts_ms: T0,
        });
        assert_eq!(take(&p, half, T0 + 500).reply(), [1, 1, -1]);
        assert_eq!(take(&p, half, T0 + 500).write, Write::None);
    }

    #[test]
    fn oversized_request_never_passes() {
        let p = Params::new(3, 1.0, 4).unwrap();
        assert_eq!(take(&p, None, T0).reply(), [0, 3, -1]);
    }

    #[test]
    fn fractional_rates_do_not_drift() {
        // 0.1 token per second: one token every 10 s, exactly.
        let p = Params::new(1, 0.1, 1).unwrap();
        let mut key = None;
        let mut now = T0;
        for _ in 0..1_000 {
            assert_eq!(step(&p, &mut key, now), [1, 0, -1]);
            assert_eq!(step(&p, &mut key, now + 9_999), [0, 0, 1]);
            now += 10_000;
        }
    }

    #[test]
    fn clock_going_backwards_refills_nothing() {
        let p = Params::new(5, 1.0, 1).unwrap();
        let s = Some(State {
            tokens: 0.0,
            ts_ms: T0,
        });
        assert_eq!(take(&p, s, T0 - 10_000).reply(), [0, 0, 1_000]);
    }

    #[test]
    fn huge_ttls_are_not_set() {
        let p = Params::new(1_000, 1e-15, 1).unwrap();
        match take(&p, None, T0).write {
            Write::Set { ttl_ms, .. } => assert_eq!(ttl_ms, None),
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn extreme_inputs_never_panic() {
        assert!(Params::new(MAX_CAPACITY + 1, 1.0, 1).is_err());
        for cap in [1, 2, 1_000, MAX_CAPACITY] {
            for rate in [1e-300, 1e-9, 0.5, 1.0, 1e9, f64::MAX] {
                for cost in [0, 1, 7, i64::MAX] {
                    let p = Params::new(cap, rate, cost).unwrap();
                    for st in [
                        None,
                        Some(State {
                            tokens: -5.0,
                            ts_ms: i64::MIN,
                        }),
                        Some(State {
                            tokens: f64::MAX,
                            ts_ms: i64::MAX,
                        }),
                    ] {
                        for now in [i64::MIN, 0, T0, i64::MAX] {
                            let _ = take(&p, st, now);
                        }
                    }
                }
            }
        }
    }
}
