//! A latency histogram in the manner of HdrHistogram (which Redis uses for
//! `latency-tracking`): log-linear buckets, 64 per power of two, so a value is
//! known to within 1.6%; lock-free recording; allocated on first use, since
//! most commands of the table are never called.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Sub-buckets per power of two (and the exact values below it).
const SUB: u64 = 64;
const SUB_BITS: u32 = 6;
/// Largest magnitude kept: values are clamped to 2^41 - 1 ns (above 1 s, the
/// largest value Redis records).
const MAX_EXP: u32 = 40;
const BUCKETS: usize = (SUB + (MAX_EXP - SUB_BITS + 1) as u64 * SUB) as usize;

#[derive(Default)]
pub struct Histogram {
    counts: OnceLock<Box<[AtomicU64]>>,
    total: AtomicU64,
}

fn index_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = (63 - v.leading_zeros()).min(MAX_EXP);
    let v = v.min((1u64 << (MAX_EXP + 1)) - 1);
    let sub = (v >> (e - SUB_BITS)) - SUB;
    (SUB + (e - SUB_BITS) as u64 * SUB + sub) as usize
}

/// The largest value that lands in bucket `i` (HdrHistogram's "highest
/// equivalent value").
fn highest_of(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = (i - SUB) / SUB + SUB_BITS as u64;
    let sub = (i - SUB) % SUB;
    ((SUB + sub + 1) << (e - SUB_BITS as u64)) - 1
}

impl Histogram {
    fn counts(&self) -> &[AtomicU64] {
        self.counts
            .get_or_init(|| (0..BUCKETS).map(|_| AtomicU64::new(0)).collect())
    }

    /// Records `n` samples of `value`.
    pub fn record_n(&self, value: u64, n: u64) {
        self.counts()[index_of(value)].fetch_add(n, Ordering::Relaxed);
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// The bucket a value falls in: callers that batch samples merge equal ones.
    pub fn bucket(value: u64) -> usize {
        index_of(value)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether anything was ever recorded (since the last reset).
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn reset(&self) {
        if let Some(c) = self.counts.get() {
            c.iter().for_each(|x| x.store(0, Ordering::Relaxed));
        }
        self.total.store(0, Ordering::Relaxed);
    }

    /// The value at `percentile` (0..=100), as HdrHistogram computes it: the
    /// highest equivalent value of the bucket where the cumulative count
    /// reaches that share of the samples.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let Some(counts) = self.counts.get() else {
            return 0;
        };
        let p = percentile.min(100.0);
        let want = (((p / 100.0) * self.total() as f64) + 0.5) as u64;
        let want = want.max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= want {
                return highest_of(i);
            }
        }
        0
    }

    /// Cumulative counts at levels `first`, 2·first, 4·first ... until every
    /// sample is counted: (highest equivalent value of the level, samples at
    /// or below it), only where the count grew (Redis's LATENCY HISTOGRAM).
    pub fn log_cdf(&self, first: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let Some(counts) = self.counts.get() else {
            return out;
        };
        let total = self.total();
        let (mut level, mut cum, mut at, mut prev) = (first, 0u64, 0usize, 0u64);
        while prev < total && level < (1u64 << (MAX_EXP + 2)) {
            let last = index_of(level);
            while at <= last && at < counts.len() {
                cum += counts[at].load(Ordering::Relaxed);
                at += 1;
            }
            if cum > prev {
                out.push((highest_of(last), cum));
            }
            prev = cum;
            level *= 2;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values() {
        for v in [0u64, 1, 63, 64, 65, 1000, 1024, 4095, 1 << 20, 999_999_999] {
            let i = index_of(v);
            assert!(highest_of(i) >= v, "{v}");
            // Within 1/64 of the value.
            assert!(highest_of(i) - v <= v / 64 + 1, "{v}: {}", highest_of(i));
            assert!(i == 0 || highest_of(i - 1) < v, "{v}");
        }
    }

    #[test]
    fn percentiles_and_cdf() {
        let h = Histogram::default();
        assert_eq!(h.value_at_percentile(50.0), 0);
        for v in 1..=100u64 {
            h.record_n(v * 1000, 1);
        }
        let p50 = h.value_at_percentile(50.0);
        assert!((50_000..=50_800).contains(&p50), "{p50}");
        let p100 = h.value_at_percentile(100.0);
        assert!((100_000..=101_600).contains(&p100), "{p100}");
        let cdf = h.log_cdf(1024);
        assert_eq!(cdf.last().map(|c| c.1), Some(100));
        assert!(cdf.windows(2).all(|w| w[0].1 < w[1].1 && w[0].0 < w[1].0));
        h.reset();
        assert!(h.is_empty() && h.log_cdf(1024).is_empty());
    }
}
