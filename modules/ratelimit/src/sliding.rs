//! The decisions behind `RL.SLIDING`, an exact sliding-window log, as pure functions.
//!
//! The log is a sorted set with one member per admitted unit, scored by its admission time in
//! unix milliseconds. An entry counts while `score > now - window`, so the window is the half-open
//! interval `(now - window, now]`. The command (lib.rs) trims, counts and appends with ZSET
//! commands; this file only decides, so it is unit-tested natively.

/// The most units one call may add: each is a sorted-set member, so this bounds the work and
/// memory of a single call.
pub const MAX_COST: i64 = 100_000;

/// The parameters of one call, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub limit: i64,
    pub window_ms: i64,
    pub cost: i64,
}

impl Params {
    /// limit >= 1, window_ms >= 1, 0 <= cost <= MAX_COST. The error is the reply text.
    pub fn new(limit: i64, window_ms: i64, cost: i64) -> Result<Params, &'static str> {
        if limit < 1 {
            return Err("ERR limit must be a positive integer");
        }
        if window_ms < 1 {
            return Err("ERR window must be a positive number of milliseconds");
        }
        if cost < 0 {
            return Err("ERR cost must be a non-negative integer");
        }
        if cost > MAX_COST {
            return Err("ERR cost must be at most 100000");
        }
        Ok(Params {
            limit,
            window_ms,
            cost,
        })
    }

    /// Entries with a score at or below this have left the window at `now_ms`.
    pub fn trim_max_score(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.window_ms)
    }
}

/// The outcome for a window holding `count` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Append `cost` entries (possibly zero: a peek).
    Admit,
    /// Refused; the caller needs the score of the entry at this index (0 = oldest) to know when
    /// enough entries will have left the window.
    RefuseUntilExpiry { index: i64 },
    /// Refused for good: the cost is larger than the limit.
    RefuseForever,
}

pub fn decide(p: &Params, count: i64) -> Decision {
    let (count, cost, limit) = (i128::from(count), i128::from(p.cost), i128::from(p.limit));
    if cost == 0 || count + cost <= limit {
        Decision::Admit
    } else if cost > limit {
        Decision::RefuseForever
    } else {
        // `count + cost - limit` entries must leave; the last of them is at this index, which
        // is below `count` because cost <= limit here.
        Decision::RefuseUntilExpiry {
            index: (count + cost - limit - 1) as i64,
        }
    }
}

/// Milliseconds until the entry admitted at `score_ms` leaves the window (at least 1: it is in
/// the window now, since the trim ran first).
pub fn retry_after_ms(p: &Params, score_ms: i64, now_ms: i64) -> i64 {
    score_ms
        .saturating_add(p.window_ms)
        .saturating_sub(now_ms)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Params::new(0, 1, 1).is_err());
        assert!(Params::new(1, 0, 1).is_err());
        assert!(Params::new(1, 1, -1).is_err());
        assert!(Params::new(1, 1, 0).is_ok());
    }

    #[test]
    fn decisions() {
        let p = Params::new(3, 1_000, 1).unwrap();
        assert_eq!(decide(&p, 0), Decision::Admit);
        assert_eq!(decide(&p, 2), Decision::Admit);
        assert_eq!(decide(&p, 3), Decision::RefuseUntilExpiry { index: 0 });
        let p2 = Params::new(3, 1_000, 2).unwrap();
        assert_eq!(decide(&p2, 1), Decision::Admit);
        assert_eq!(decide(&p2, 2), Decision::RefuseUntilExpiry { index: 0 });
        assert_eq!(decide(&p2, 3), Decision::RefuseUntilExpiry { index: 1 });
        let big = Params::new(3, 1_000, 4).unwrap();
        assert_eq!(decide(&big, 0), Decision::RefuseForever);
        let peek = Params::new(3, 1_000, 0).unwrap();
        assert_eq!(decide(&peek, 3), Decision::Admit);
        let huge = Params::new(i64::MAX, 1, MAX_COST).unwrap();
        assert_eq!(
            decide(&huge, i64::MAX),
            Decision::RefuseUntilExpiry {
                index: MAX_COST - 1
            }
        );
        assert!(Params::new(1, 1, MAX_COST + 1).is_err());
    }

    #[test]
    fn retry_times() {
        let p = Params::new(3, 1_000, 1).unwrap();
        assert_eq!(p.trim_max_score(5_000), 4_000);
        assert_eq!(retry_after_ms(&p, 4_200, 5_000), 200);
        assert_eq!(retry_after_ms(&p, 4_000, 5_000), 1);
        assert_eq!(retry_after_ms(&p, i64::MAX, i64::MIN), i64::MAX);
    }
}
