//! Session-time statistics in fixed memory.
//!
//! Durations (milliseconds) go into log-spaced buckets: exact below 128 ms,
//! then 64 buckets per power of two, so a reported percentile is within
//! 1/64 (1.6 %) of the true value. Count, sum, min and max are exact. The
//! sketch takes the same memory for ten sessions or ten billion.

const SUB: u64 = 64;
const LINEAR: u64 = 2 * SUB;
/// Enough buckets for any u64.
const BUCKETS: usize = (LINEAR + SUB * 58) as usize;

#[derive(Clone)]
pub(crate) struct Sketch {
    counts: Box<[u64]>,
    pub(crate) count: u64,
    pub(crate) sum: u128,
    pub(crate) min: u64,
    pub(crate) max: u64,
}

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch::new()
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    // v in [2^k, 2^(k+1)), k >= 7: 64 buckets of width 2^(k-6).
    let k = 63 - u64::from(v.leading_zeros());
    let shift = k - 6;
    (LINEAR + (k - 7) * SUB + ((v >> shift) - SUB)) as usize
}

/// The smallest and largest value of a bucket.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < LINEAR {
        return (i, i);
    }
    let k = (i - LINEAR) / SUB + 7;
    let shift = k - 6;
    let low = (SUB + (i - LINEAR) % SUB) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Sketch {
    pub(crate) fn new() -> Sketch {
        Sketch { counts: vec![0; BUCKETS].into(), count: 0, sum: 0, min: u64::MAX, max: 0 }
    }

    pub(crate) fn add(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub(crate) fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The nearest-rank percentile `p` (0 < p <= 100), as the middle of its
    /// bucket, clamped to the exact min and max.
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p / 100.0 * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                return Some((lo + (hi - lo) / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_everything_in_order() {
        let mut last = 0;
        for v in [0, 1, 127, 128, 129, 255, 256, 1000, 65_535, 1 << 40, u64::MAX] {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            assert!(i >= last, "{v}");
            last = i;
            let (lo, hi) = bounds(i);
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
        }
    }

    #[test]
    fn percentiles_within_error_bound() {
        let mut s = Sketch::new();
        let values: Vec<u64> = (1..=10_000).map(|i| i * 37).collect();
        for &v in &values {
            s.add(v);
        }
        for p in [50.0, 95.0, 99.0] {
            let exact = values[((p / 100.0 * values.len() as f64).ceil() as usize) - 1];
            let got = s.percentile(p).unwrap();
            let err = (got as f64 - exact as f64).abs() / exact as f64;
            assert!(err <= 1.0 / 64.0, "p{p}: {got} vs {exact}");
        }
        assert_eq!(s.percentile(100.0), Some(370_000));
        assert_eq!(s.max, 370_000);
        assert_eq!(s.mean(), Some(37.0 * 5000.5));
    }

    #[test]
    fn small_values_are_exact() {
        let mut s = Sketch::new();
        for v in [5, 7, 100] {
            s.add(v);
        }
        assert_eq!(s.percentile(50.0), Some(7));
        assert_eq!(s.percentile(1.0), Some(5));
        assert_eq!(Sketch::new().percentile(50.0), None);
    }
}
