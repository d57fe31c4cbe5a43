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

/// A small sketch for per-name session times: 16 buckets per power of two
/// (values within 1/16 of the truth), kept sparse and capped at
/// `SMALL_CAP` buckets (past that, neighbours merge and precision drops),
/// so a name costs a few hundred bytes however many sessions it has.
#[derive(Clone, Debug, Default)]
pub(crate) struct SmallSketch {
    /// (bucket, count), by bucket.
    buckets: Vec<(u16, u32)>,
    count: u64,
    max: u64,
    min: u64,
    /// Bucket index bits dropped by merging.
    shift: u8,
}

const SMALL_CAP: usize = 48;

fn small_index(v: u64) -> u16 {
    if v < 32 {
        return v as u16;
    }
    let k = 63 - u64::from(v.leading_zeros());
    (32 + (k - 5) * 16 + ((v >> (k - 4)) - 16)) as u16
}

fn small_bounds(i: u16) -> (u64, u64) {
    let i = u64::from(i);
    if i < 32 {
        return (i, i);
    }
    let k = (i - 32) / 16 + 5;
    let low = (16 + (i - 32) % 16) << (k - 4);
    (low, low + (1u64 << (k - 4)) - 1)
}

impl SmallSketch {
    pub(crate) fn add(&mut self, v: u64) {
        let i = small_index(v) >> self.shift;
        // A scan, not a binary search: at most SMALL_CAP short entries, and
        // the binary search's chain of dependent loads stalled (half of a
        // disconnection's bookkeeping in perf).
        let p = self.buckets.iter().position(|b| b.0 >= i).unwrap_or(self.buckets.len());
        match self.buckets.get_mut(p) {
            Some(b) if b.0 == i => b.1 = b.1.saturating_add(1),
            _ => self.buckets.insert(p, (i, 1)),
        }
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.count += 1;
        while self.buckets.len() > SMALL_CAP {
            self.shift += 1;
            let mut merged: Vec<(u16, u32)> = Vec::with_capacity(self.buckets.len());
            for &(i, c) in &self.buckets {
                let i = i >> 1;
                match merged.last_mut() {
                    Some(last) if last.0 == i => last.1 = last.1.saturating_add(c),
                    _ => merged.push((i, c)),
                }
            }
            self.buckets = merged;
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The nearest-rank percentile, as the middle of its bucket, within the
    /// exact min and max.
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p / 100.0 * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for &(i, c) in &self.buckets {
            seen += u64::from(c);
            if seen >= rank {
                // The merged bucket spans the original buckets it holds.
                let lo = small_bounds(i << self.shift).0;
                let hi = small_bounds(
                    ((u32::from(i) + 1) << self.shift).saturating_sub(1).min(u32::from(u16::MAX))
                        as u16,
                )
                .1;
                return Some((lo + (hi - lo) / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod small_tests {
    use super::*;

    #[test]
    fn small_sketch_is_close_and_small() {
        let mut s = SmallSketch::default();
        let values: Vec<u64> = (1..=1000).map(|i| i * 7).collect();
        for &v in &values {
            s.add(v);
        }
        assert!(s.buckets.len() <= SMALL_CAP);
        assert_eq!(s.max(), 7000);
        for p in [50.0, 95.0, 99.0] {
            let exact = values[((p / 100.0 * 1000.0) as usize) - 1] as f64;
            let got = s.percentile(p).unwrap() as f64;
            assert!((got - exact).abs() / exact < 0.15, "p{p}: {got} vs {exact}");
        }
        let mut one = SmallSketch::default();
        one.add(42);
        assert_eq!(one.percentile(50.0), Some(42));
    }

    /// Buckets stay sorted and distinct and their counts add up, through
    /// merges.
    #[test]
    fn small_sketch_buckets_add_up() {
        let mut s = SmallSketch::default();
        let mut x: u64 = 7;
        for n in 0..20_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = match n % 5 {
                0 | 1 => 8,
                2 => x >> 40,
                3 => n,
                _ => x >> (x % 60),
            };
            s.add(v);
        }
        assert!(s.buckets.windows(2).all(|w| w[0].0 < w[1].0), "{:?}", s.buckets);
        assert!(s.buckets.len() <= SMALL_CAP);
        assert_eq!(s.buckets.iter().map(|b| u64::from(b.1)).sum::<u64>(), 20_000);
        assert_eq!(s.count(), 20_000);
    }

    #[test]
    fn indexes_are_ordered() {
        let mut last = 0;
        for v in [0u64, 1, 31, 32, 33, 63, 64, 1000, 1 << 30, 1 << 40] {
            let i = small_index(v);
            assert!(i >= last);
            let (lo, hi) = small_bounds(i);
            assert!(lo <= v && v <= hi, "{v}: {lo}..{hi}");
            last = i;
        }
    }
}

/// A timing check of the hot path, not a test of behaviour: run it with
/// `cargo test --release --lib sketch::timing -- --ignored --nocapture`.
#[cfg(test)]
mod timing {
    use super::*;
    use std::time::Instant;

    /// Session times (ms), log-normal: median 1 s, `sigma` the standard
    /// deviation of their logarithm (2: from a millisecond to hours; 2.5:
    /// to days), by splitmix64 and Box-Muller.
    pub(super) fn session_times(n: usize, seed: u64, sigma: f64) -> Vec<u64> {
        let mut x = seed;
        let mut next = move || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        (0..n)
            .map(|_| {
                let u1 = ((next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                let u2 = (next() >> 11) as f64 / (1u64 << 53) as f64;
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (1000.0 * (sigma * z).exp()) as u64
            })
            .collect()
    }

    /// The best of 5 runs of `adds` adds spread over `rows` rows per
    /// breakdown, 4 breakdowns, as disconnections add them: ns per add.
    fn time_rows(values: &[u64], rows: usize, adds: usize) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let mut sketches: Vec<SmallSketch> = vec![SmallSketch::default(); 4 * rows];
            let start = Instant::now();
            for n in 0..adds / 4 {
                let v = values[n % values.len()];
                let h = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for d in 0..4 {
                    let name = (h >> (16 * d)) as usize % rows;
                    sketches[d * rows + name].add(std::hint::black_box(v));
                }
            }
            let took = start.elapsed().as_nanos() as f64 / adds as f64;
            assert_eq!(sketches.iter().map(SmallSketch::count).sum::<u64>(), adds as u64);
            best = best.min(took);
        }
        best
    }

    /// 10M adds of log-normal session times (1 ms to hours): into 4 x 50
    /// busy rows, and into 4 x 10,000 rows of 250 sessions each; the global
    /// sketch's for reference. Best of 5.
    #[test]
    #[ignore = "timing: run in release mode, by hand"]
    fn small_sketch_add_timing() {
        let values = session_times(1 << 20, 42, 2.0);
        let adds = 10_000_000;
        eprintln!("SmallSketch::add, 200 rows: {:.2} ns", time_rows(&values, 50, adds));
        eprintln!("SmallSketch::add, 40,000 rows: {:.2} ns", time_rows(&values, 10_000, adds));
        let mut best = f64::MAX;
        for _ in 0..5 {
            let mut global = Sketch::new();
            let start = Instant::now();
            for n in 0..adds {
                global.add(std::hint::black_box(values[n % values.len()]));
            }
            best = best.min(start.elapsed().as_nanos() as f64 / adds as f64);
            assert_eq!(global.count, adds as u64);
        }
        eprintln!("Sketch::add: {best:.2} ns");
    }
}
