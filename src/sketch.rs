//! Session-time statistics in bounded memory, by one rule for the whole log
//! (`Sketch`) and for each name (`SmallSketch`).
//!
//! # Buckets
//!
//! A duration `v` (ms) goes into bucket `index(v)`: `v` itself below 128;
//! above, 64 buckets of equal width per power of two: for
//! `2^k <= v < 2^(k+1)` (k >= 7) the width is `w = 2^(k-6)` and the bucket
//! is `[m·w, (m+1)·w - 1]` with `m = v >> (k-6)`, 64 <= m <= 127. 3,776
//! buckets cover every u64, and `index` never decreases as `v` grows.
//!
//! # Percentiles
//!
//! The percentile `p` of `n` values is the nearest-rank one: the value of
//! rank `ceil(p·n/100)` (at least 1) in ascending order. A sketch finds the
//! bucket where its running count first reaches that rank, and reports the
//! bucket's midpoint `lo + (w-1)/2` (integer division), clamped to the exact
//! minimum and maximum. Both sketches do exactly that, so the same sessions
//! give the same percentile, to the millisecond, in the whole log's figures
//! and in a name's row.
//!
//! # The bound: within 1/128 (0.79 %) of the true value
//!
//! The reported value `r` and the true nearest-rank value `x` satisfy
//! `|r - x| <= x/128`. Proof: `index` is monotone, so sorting the values
//! sorts their buckets, and the bucket where the running count reaches the
//! rank is the one that holds `x`. Below 128 a bucket is one value: `r = x`.
//! Above, `x` is in `[lo, lo + w - 1]` with `w` even, the midpoint is
//! `lo + w/2 - 1`, so it is at most `w/2` from `x`; and
//! `x >= lo = m·w >= 64·w`, so `w/2 <= x/128`. Clamping to `[min, max]`,
//! which holds `x`, only moves `r` towards `x`. (Strictly below 1/128, in
//! fact: the worst case, `x` at the top of an octave's first bucket, is
//! `w/2` off `65·w - 1`.)
//!
//! Count, sum, min and max are exact.
//!
//! # Per name
//!
//! A `SmallSketch` keeps the same buckets with exact counts, sparse, in
//! 6 KiB at most; past that (or past a budget shared by all names) its
//! lowest buckets fold into one count, and a percentile whose rank falls
//! there is `Lost`: left out, never given outside the bound. Any other is
//! the value `Sketch` gives for the same sessions.

use std::sync::atomic::{AtomicUsize, Ordering};

const SUB: u64 = 64;
const LINEAR: u64 = 2 * SUB;
/// Enough buckets for any u64: the exact ones, then octaves 7 to 63.
const BUCKETS: usize = (LINEAR + SUB * 57) as usize;

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

/// The value a percentile that falls in bucket `i` is reported as: its
/// midpoint, within the exact min and max.
fn reported(i: usize, min: u64, max: u64) -> u64 {
    let (lo, hi) = bounds(i);
    (lo + (hi - lo) / 2).clamp(min, max)
}

/// The nearest rank of percentile `p` (0 < p <= 100) among `n` > 0 values:
/// `ceil(p·n/100)`, at least 1. `p·n` first, so that for a whole `p` the
/// product is exact and so is the rank.
fn rank(p: f64, n: u64) -> u64 {
    ((p * n as f64 / 100.0).ceil() as u64).clamp(1, n)
}

/// The whole log's session times (and connection setup times): one count
/// per bucket, 30 KiB whether it holds ten sessions or ten billion.
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

    /// The nearest-rank percentile `p` (0 < p <= 100), within 1/128 of the
    /// true value (see the module's doc).
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = rank(p, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(reported(i, self.min, self.max));
            }
        }
        unreachable!("the counts add up to count")
    }
}

/// Bytes of entries every `SmallSketch` may hold without asking the budget.
const FREE: usize = 256;
/// At most this many entries in the sparse form (a scan's length on add).
const SPARSE_CAP: usize = 128;
/// The dense form's widest window: 1,536 buckets (6 KiB), from 0 to 6.2
/// days, or any span of 24 octaves (a ratio of 16 million).
const DENSE_CAP: usize = LINEAR as usize + 22 * SUB as usize;
/// Bytes past `FREE` that all the `SmallSketch`es of the process may hold
/// together: room for a thousand names spread from 1 ms to days, more
/// narrower. With 40,000 names (4 breakdowns of 10,000), all the sketches
/// take 40,000 x (88 + 256) bytes + 6 MiB at most: about 20 MiB.
const BUDGET: usize = 6 << 20;

/// Bytes of entries held past their `FREE` allowance, by all sketches.
struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    /// Takes `n` bytes if there is room.
    fn claim(&self, n: usize) -> bool {
        n == 0
            || self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    (u + n <= self.limit).then_some(u + n)
                })
                .is_ok()
    }

    fn release(&self, n: usize) {
        // Saturating: a slip in the accounting must not starve every sketch.
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(n)));
    }
}

static SHARED: Budget = Budget { used: AtomicUsize::new(0), limit: BUDGET };

/// A name's session times: the buckets of `Sketch`, with exact counts, in
/// a few hundred bytes for a name with few sessions and 6 KiB at most.
///
/// Sparse at first: the buckets that hold a session, ascending, and their
/// counts (6 bytes each). Dense once that is no smaller, or past
/// `SPARSE_CAP` buckets: a window of consecutive buckets (4 bytes each), at
/// most `DENSE_CAP` wide. Past the window's width, the lowest buckets
/// collapse into one count, `below` (as in DDSketch); a value under `floor`
/// then goes there. The same happens, sooner, to a sketch that needs more
/// than `FREE` bytes when the process's `BUDGET` is spent (a flood of names
/// with spread-out times), so memory stays bounded whatever the input.
///
/// A percentile whose rank is above `below` falls in an exact bucket: it
/// is what `Sketch::percentile` gives for the same sessions, within the
/// bound. One whose rank is in `below` is `Lost`, never given less
/// precisely. Only the lowest ranks are lost: those of sessions over 16
/// million times shorter than the name's longest (none while that is under
/// 6 days), or, when the budget is spent (first come, first served), those
/// under the highest 64 buckets or more (42 in the sparse form).
#[derive(Debug)]
pub(crate) struct SmallSketch {
    /// Sparse: the buckets of `counts`, ascending. Dense: empty.
    keys: Vec<u16>,
    /// Sparse: one per key. Dense: buckets `offset..offset + len`.
    counts: Vec<u32>,
    dense: bool,
    offset: u16,
    /// Sessions in buckets under `floor`, collapsed.
    floor: u16,
    below: u64,
    /// Bytes taken from the budget (at most 6 KiB).
    claimed: u16,
    count: u64,
    min: u64,
    max: u64,
}

/// Where a `SmallSketch`'s percentile stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Percentile {
    /// No sessions.
    Empty,
    /// Within the bound: the value `Sketch::percentile` gives for the same
    /// sessions.
    Within(u64),
    /// Its rank fell in the collapsed lowest buckets: no value within the
    /// bound.
    Lost,
}

impl Default for SmallSketch {
    fn default() -> SmallSketch {
        SmallSketch {
            keys: Vec::new(),
            counts: Vec::new(),
            dense: false,
            offset: 0,
            floor: 0,
            below: 0,
            claimed: 0,
            count: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

/// A copy (a report's rows, short-lived) takes nothing from the budget, so
/// that what a sketch may grow to never depends on when a report was made.
impl Clone for SmallSketch {
    fn clone(&self) -> SmallSketch {
        SmallSketch { keys: self.keys.clone(), counts: self.counts.clone(), claimed: 0, ..*self }
    }
}

impl Drop for SmallSketch {
    fn drop(&mut self) {
        SHARED.release(self.claimed as usize);
    }
}

impl SmallSketch {
    pub(crate) fn add(&mut self, v: u64) {
        self.add_in(v, &SHARED);
    }

    fn add_in(&mut self, v: u64, budget: &Budget) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        // index < 3776: fits.
        let i = index(v) as u16;
        if i < self.floor {
            self.below += 1;
        } else if self.dense {
            // Under offset, the difference wraps past the window's end.
            match self.counts.get_mut(usize::from(i.wrapping_sub(self.offset))) {
                Some(c) => *c = c.saturating_add(1),
                None => self.widen(i, budget),
            }
        } else {
            // The keys up to i, counted rather than searched: branch-free
            // over at most 256 bytes, which the compiler vectorizes (a
            // binary search's chain of dependent loads stalls, a scan's
            // exit mispredicts).
            // (Summed as u16, at most SPARSE_CAP: eight lanes to a vector.)
            let p = usize::from(self.keys.iter().map(|&k| u16::from(k <= i)).sum::<u16>());
            match p.checked_sub(1) {
                Some(q) if self.keys[q] == i => {
                    self.counts[q] = self.counts[q].saturating_add(1);
                }
                _ => self.insert(p, i, budget),
            }
        }
    }

    /// Heap bytes of the entries.
    fn heap(&self) -> usize {
        self.keys.capacity() * 2 + self.counts.capacity() * 4
    }

    /// Whether the entries may take `bytes` in all, taking from the budget
    /// what is past `FREE` and not yet claimed.
    fn afford(&mut self, bytes: usize, budget: &Budget) -> bool {
        let more = bytes.saturating_sub(FREE).saturating_sub(self.claimed as usize);
        if !budget.claim(more) {
            return false;
        }
        self.claimed += more as u16;
        true
    }

    /// Gives back what the entries no longer take.
    fn settle(&mut self, budget: &Budget) {
        let need = self.heap().saturating_sub(FREE) as u16;
        if need < self.claimed {
            budget.release((self.claimed - need) as usize);
            self.claimed = need;
        }
    }

    /// Counts the sessions of the lowest `n` entries (sparse) or buckets
    /// (dense: the window moves up by `n`, past its end if need be) into
    /// `below`.
    fn collapse(&mut self, n: usize) {
        let held = n.min(self.counts.len());
        self.below += self.counts.drain(..held).map(u64::from).sum::<u64>();
        if self.dense {
            self.offset += n as u16;
            self.floor = self.offset;
        } else {
            if held > 0 {
                self.floor = self.keys[held - 1] + 1;
                self.keys.drain(..held);
            }
        }
    }

    /// A new sparse entry for bucket `i` at `p`, or the dense form.
    fn insert(&mut self, p: usize, i: u16, budget: &Budget) {
        let len = self.keys.len();
        let (first, last) =
            (self.keys.first().map_or(i, |&k| k.min(i)), self.keys.last().map_or(i, |&k| k.max(i)));
        let span = usize::from(last - first) + 1;
        if len == SPARSE_CAP || (len >= 16 && span * 4 <= (len + 1) * 6) {
            self.densify(budget);
            return self.widen(i, budget);
        }
        if len == self.keys.capacity() {
            let want = (len * 2).clamp(4, SPARSE_CAP);
            let bytes = want * 6;
            let cap = if self.afford(bytes, budget) {
                want
            } else {
                ((FREE + self.claimed as usize) / 6).max(len)
            };
            if cap == len {
                // No room: the lowest entry collapses.
                self.collapse(1);
                if i < self.floor {
                    self.below += 1;
                    return;
                }
                return self.insert(p - 1, i, budget);
            }
            self.keys.reserve_exact(cap - len);
            self.counts.reserve_exact(cap - len);
        }
        self.keys.insert(p, i);
        self.counts.insert(p, 1);
    }

    /// From sparse to dense: a window from the lowest bucket to the highest,
    /// or the highest ones that fit.
    fn densify(&mut self, budget: &Budget) {
        let (first, last) = (self.keys[0], self.keys[self.keys.len() - 1]);
        let mut width = usize::from(last - first) + 1;
        width = width.min(DENSE_CAP);
        if !self.afford(width * 4, budget) {
            width = width.min((FREE + self.claimed as usize) / 4);
        }
        let offset = last + 1 - width as u16;
        let cut = self.keys.iter().filter(|&&k| k < offset).count();
        self.collapse(cut);
        let mut window = vec![0u32; width];
        for (&k, &c) in self.keys.iter().zip(&self.counts) {
            window[usize::from(k - offset)] = c;
        }
        if cut > 0 {
            self.floor = offset;
        }
        (self.keys, self.counts, self.dense, self.offset) = (Vec::new(), window, true, offset);
        self.settle(budget);
    }

    /// A dense window widened to bucket `i` (not under `floor`), as far as
    /// `DENSE_CAP` and the budget allow; past that, its lowest buckets
    /// collapse.
    fn widen(&mut self, i: u16, budget: &Budget) {
        if i < self.floor {
            self.below += 1;
            return;
        }
        let len = self.counts.len();
        let want = if i < self.offset {
            len + usize::from(self.offset - i)
        } else {
            usize::from(i - self.offset) + 1
        };
        let mut room = self.counts.capacity();
        if want > room {
            // A quarter octave more, to widen less often.
            let ask = (want + 16).min(DENSE_CAP);
            room = if self.afford(ask * 4, budget) {
                ask
            } else {
                ((FREE + self.claimed as usize) / 4).max(room)
            };
            if room > self.counts.capacity() {
                self.counts.reserve_exact(room - len);
            }
        }
        if i < self.offset {
            if want > room {
                // No room below: everything under the window collapses.
                self.floor = self.offset;
                self.below += 1;
                return;
            }
            let more = usize::from(self.offset - i);
            self.counts.splice(0..0, std::iter::repeat_n(0, more));
            self.offset = i;
        } else if want > room {
            self.collapse(want - room);
        }
        let at = usize::from(i - self.offset);
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] = self.counts[at].saturating_add(1);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The nearest-rank percentile `p` (0 < p <= 100), and whether it is
    /// within the bound.
    pub(crate) fn locate(&self, p: f64) -> Percentile {
        if self.count == 0 {
            return Percentile::Empty;
        }
        let rank = rank(p, self.count);
        // A count saturated at u32::MAX (four billion sessions of one name
        // in one bucket) would shift every rank: no bound then.
        let sum = self.below + self.counts.iter().map(|&c| u64::from(c)).sum::<u64>();
        if rank <= self.below || sum != self.count {
            return Percentile::Lost;
        }
        let mut seen = self.below;
        for (j, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let i = if self.dense { usize::from(self.offset) + j } else { self.keys[j].into() };
                return Percentile::Within(reported(i, self.min, self.max));
            }
        }
        unreachable!("the counts add up to count")
    }

    /// The nearest-rank percentile `p` when it is within the bound; None
    /// without sessions or when it is `Lost`.
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
        match self.locate(p) {
            Percentile::Within(v) => Some(v),
            Percentile::Empty | Percentile::Lost => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::timing::session_times;
    use super::*;

    /// The percentiles the tests check.
    const PS: [f64; 7] = [1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0];

    /// A splitmix64 stream.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    /// Whether `got` is within the stated bound, 1/128, of `exact`.
    fn within(got: u64, exact: u64) -> bool {
        u128::from(got.abs_diff(exact)) * 128 <= u128::from(exact)
    }

    /// Both sketches of `values`, the name's in `budget`.
    fn sketches(values: &[u64], budget: &Budget) -> (Sketch, SmallSketch) {
        let (mut global, mut name) = (Sketch::new(), SmallSketch::default());
        for &v in values {
            global.add(v);
            name.add_in(v, budget);
        }
        (global, name)
    }

    /// Checks both sketches of `values` against the exact nearest-rank
    /// percentiles, for every p in `PS`: the global one within the bound,
    /// the name's the same value or `Lost`; `lost` lists the p the name's
    /// may lose. Returns the name's sketch.
    fn check_in(what: &str, values: &[u64], lost: &[f64], budget: &Budget) -> SmallSketch {
        let (global, name) = sketches(values, budget);
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        for p in PS {
            let exact = sorted[rank(p, sorted.len() as u64) as usize - 1];
            let got = global.percentile(p).unwrap();
            assert!(within(got, exact), "{what}: p{p}: {got} for {exact}");
            match name.locate(p) {
                Percentile::Within(v) => assert_eq!(v, got, "{what}: p{p}, name vs global"),
                Percentile::Lost => assert!(
                    lost.contains(&p),
                    "{what}: p{p} lost: dense {} below {} offset {} floor {} len {} cap {} count {} sum {}",
                    name.dense,
                    name.below,
                    name.offset,
                    name.floor,
                    name.counts.len(),
                    name.counts.capacity(),
                    name.count,
                    name.counts.iter().map(|&c| u64::from(c)).sum::<u64>()
                ),
                Percentile::Empty => panic!("{what}: empty"),
            }
            assert_eq!(name.percentile(p).is_some(), name.locate(p) != Percentile::Lost);
        }
        assert_eq!((name.count(), name.max()), (global.count, global.max), "{what}");
        assert_eq!((global.min, name.min), (sorted[0], sorted[0]), "{what}");
        name.invariants(what);
        name
    }

    fn check(what: &str, values: &[u64], lost: &[f64]) -> SmallSketch {
        check_in(what, values, lost, &SHARED)
    }

    impl SmallSketch {
        /// Entries in order, counts adding up, memory within what it may
        /// take.
        fn invariants(&self, what: &str) {
            if self.dense {
                assert!(self.keys.is_empty() && self.keys.capacity() == 0, "{what}");
                assert!(self.floor <= self.offset, "{what}");
                assert!(self.counts.capacity() <= DENSE_CAP, "{what}");
                assert!(usize::from(self.offset) + self.counts.len() <= BUCKETS, "{what}");
            } else {
                assert!(self.keys.windows(2).all(|w| w[0] < w[1]), "{what}: {:?}", self.keys);
                assert!(self.keys.first().is_none_or(|&k| k >= self.floor), "{what}");
                assert_eq!(self.keys.len(), self.counts.len(), "{what}");
                assert!(self.keys.capacity() <= SPARSE_CAP, "{what}");
                assert!(self.counts.capacity() <= SPARSE_CAP, "{what}");
            }
            assert!(self.heap() <= FREE + self.claimed as usize, "{what}: {}", self.heap());
            assert_eq!(self.claimed as usize, self.heap().saturating_sub(FREE), "{what}");
            let sum: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
            assert_eq!(sum + self.below, self.count, "{what}");
        }

        /// Gives its claim back to `budget` rather than to the process's.
        fn release_to(mut self, budget: &Budget) {
            budget.release(self.claimed as usize);
            self.claimed = 0;
        }
    }

    #[test]
    fn buckets_tile_every_u64_in_order() {
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        assert_eq!(bounds(0).0, 0);
        assert_eq!(bounds(BUCKETS - 1).1, u64::MAX);
        for i in 0..BUCKETS - 1 {
            let ((lo, hi), (next, _)) = (bounds(i), bounds(i + 1));
            assert_eq!(hi + 1, next, "bucket {i}");
            assert_eq!((index(lo), index(hi)), (i, i), "bucket {i}");
        }
        let mut r = rng(1);
        for _ in 0..100_000 {
            let v = r() >> (r() % 64);
            let (lo, hi) = bounds(index(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
        }
        assert_eq!(bounds(DENSE_CAP - 1).1, (1 << 29) - 1, "a dense window from 0: 6.2 days");
    }

    /// The proof's step, bucket by bucket: the midpoint is within 1/128 of
    /// both ends (so of every value between), strictly.
    #[test]
    fn every_midpoint_is_within_the_bound_of_its_bucket() {
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            let mid = reported(i, 0, u64::MAX);
            for x in [lo, hi] {
                let strictly = u128::from(mid.abs_diff(x)) * 128 < u128::from(x);
                assert!(x == mid || strictly, "bucket {i}: {mid} for {x}");
            }
        }
        assert_eq!(reported(index(100), 0, u64::MAX), 100, "exact below 128");
        assert_eq!(reported(index(1000), 0, 999), 999, "clamped to the max");
        assert_eq!(reported(index(1000), 1005, 2000), 1005, "clamped to the min");
    }

    #[test]
    fn ranks_are_nearest_ranks() {
        for n in 1..=5000u64 {
            for p in [1u64, 50, 90, 95, 99, 100] {
                assert_eq!(rank(p as f64, n), (p * n).div_ceil(100).max(1), "p{p} of {n}");
            }
            assert_eq!(rank(99.9, n), (999 * n).div_ceil(1000).max(1), "p99.9 of {n}");
        }
        assert_eq!(rank(0.0, 10), 1);
    }

    #[test]
    fn uniform() {
        let mut r = rng(2);
        let values: Vec<u64> = (0..200_000).map(|_| r() % 10_000_000).collect();
        assert!(check("uniform", &values, &[]).dense);
        let small: Vec<u64> = (0..2000).map(|_| r() % 200).collect();
        check("uniform below 200", &small, &[]);
    }

    /// Log-normal session times, median 1 s, from under a millisecond to
    /// days, in one name: nothing lost, the same figures as the global
    /// sketch, at every size.
    #[test]
    fn log_normal_from_milliseconds_to_days() {
        let values = session_times(1_000_000, 3, 2.5);
        assert!(values.contains(&0) && values.iter().any(|&v| v > 2 * 86_400_000));
        let name = check("log-normal", &values, &[]);
        assert!(name.dense && name.below == 0);
        assert!(name.heap() <= DENSE_CAP * 4);
        for n in [10, 100, 1000, 10_000] {
            check(&format!("log-normal, {n}"), &values[..n], &[]);
        }
    }

    /// Few distinct values, each many times, some on bucket edges.
    #[test]
    fn heavy_ties() {
        let mut r = rng(4);
        let set = [0, 1, 127, 128, 129, 255, 256, 1000, 1001, 60_000, 3_600_000, 86_400_000];
        let values: Vec<u64> = (0..50_000).map(|_| set[(r() % 12) as usize]).collect();
        let name = check("ties", &values, &[]);
        assert!(!name.dense && name.heap() <= 16 * 6);
    }

    /// Values over the whole range, up to u64::MAX / 2 and the top octave.
    #[test]
    fn huge_values() {
        let mut r = rng(5);
        // A spread of 2^63: the lowest ranks collapse.
        let values: Vec<u64> = (0..100_000).map(|_| (r() >> 1) >> (r() % 64)).collect();
        let name = check("huge", &values, &[1.0, 50.0]);
        assert!(name.below > 0);
        let top: Vec<u64> = (0..10_000).map(|_| (u64::MAX / 2) - r() % (1 << 56)).collect();
        check("near u64::MAX / 2", &top, &[]);
        check("u64::MAX", &[u64::MAX, u64::MAX - 1, 1 << 63], &[]);
    }

    #[test]
    fn all_equal_and_one_value() {
        check("all equal", &[123_456_789; 1000], &[]);
        check("one value", &[42], &[]);
        check("one large value", &[1_000_003], &[]);
        check("zero", &[0], &[]);
        let (global, name) = sketches(&[123_456_789; 3], &SHARED);
        assert_eq!(global.percentile(50.0), Some(123_456_789), "clamped to the exact value");
        assert_eq!(name.locate(50.0), Percentile::Within(123_456_789));
        assert_eq!(Sketch::new().percentile(50.0), None);
        assert_eq!(SmallSketch::default().locate(50.0), Percentile::Empty);
        assert_eq!(SmallSketch::default().percentile(50.0), None);
    }

    /// A name whose times move from one range to another: nothing lost,
    /// whichever way they move.
    #[test]
    fn drifting_times() {
        let mut r = rng(6);
        let mut values: Vec<u64> = (0..50_000).map(|_| 5 + r() % 50).collect();
        values.extend((0..50_000).map(|_| 10_000 + r() % 100_000_000));
        values.extend((0..100_000).map(|_| 100 + r() % 5_000));
        check("drift", &values, &[]);
        values.reverse();
        check("drift, reversed", &values, &[]);
    }

    /// The worst spread, every bucket of the whole range hit, in a
    /// scrambled order: the name stays within 6 KiB, keeps the upper ranks
    /// and says it lost the lower ones.
    #[test]
    fn every_bucket_hit_stays_within_the_cap() {
        let mut r = rng(7);
        let mut values: Vec<u64> = (0..BUCKETS).map(|i| bounds(i).0).collect();
        for _ in 0..3 {
            for i in (1..values.len()).rev() {
                values.swap(i, (r() % (i as u64 + 1)) as usize);
            }
            let name = check("every bucket", &values, &[1.0, 50.0]);
            assert!(name.dense);
            assert_eq!(name.counts.capacity(), DENSE_CAP);
            assert_eq!(name.locate(50.0), Percentile::Lost);
            values.extend_from_within(..BUCKETS);
        }
        assert_eq!(std::mem::size_of::<SmallSketch>(), 88);
        // A few sessions: a few bytes.
        let name = check("ten", &values[..10], &[]);
        assert!(!name.dense && name.heap() <= 16 * 6);
    }

    /// With the budget spent, each name keeps its free allowance (64
    /// buckets under its longest session): the lower ranks collapse and say
    /// so, and memory stays bounded.
    #[test]
    fn a_spent_budget_bounds_memory_and_says_what_is_lost() {
        let budget = Budget { used: AtomicUsize::new(0), limit: 20_000 };
        let mut names = Vec::new();
        for seed in 0..30 {
            let values = session_times(20_000, 100 + seed, 2.5);
            names.push(check_in("spent", &values, &PS[..6], &budget));
        }
        let claimed: usize = names.iter().map(|n| n.claimed as usize).sum();
        assert_eq!(claimed, budget.used.load(Ordering::Relaxed));
        assert!(claimed <= budget.limit);
        let starved = names.iter().filter(|n| n.claimed == 0).count();
        assert!(starved > 20, "{starved}");
        assert!(names.iter().all(|n| n.heap() <= FREE + n.claimed as usize));
        assert!(names.iter().any(|n| n.locate(50.0) == Percentile::Lost));
        for n in names {
            assert!(n.percentile(100.0).is_some());
            n.release_to(&budget);
        }
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }

    /// Every way in and out of the sparse and dense forms, with budgets
    /// from nothing to plenty: the invariants hold after every add, and
    /// what the name gives is the global figure.
    #[test]
    fn sparse_and_dense_under_any_budget() {
        // Seen: sparse, dense, each with lowest buckets collapsed or not.
        let mut seen = [[false; 2]; 2];
        for limit in [0, 700, 5_000, 1 << 20] {
            for seed in 0..8u64 {
                let budget = Budget { used: AtomicUsize::new(0), limit };
                let mut r = rng(1000 + seed);
                let values: Vec<u64> = (0..3000u64)
                    .map(|n| match seed % 4 {
                        0 => r() >> (r() % 64),
                        1 => 1000 + r() % 300,
                        2 => (3000 - n) << (n % 40),
                        _ if n % 7 == 0 => r() >> 20,
                        _ => 50 + n,
                    })
                    .collect();
                let mut name = SmallSketch::default();
                for (n, &v) in values.iter().enumerate() {
                    name.add_in(v, &budget);
                    name.invariants(&format!("budget {limit}, seed {seed}, value {n}"));
                    seen[usize::from(name.dense)][usize::from(name.below > 0)] = true;
                }
                name.release_to(&budget);
                let what = format!("budget {limit}, seed {seed}");
                check_in(&what, &values, &PS, &budget).release_to(&budget);
                assert_eq!(budget.used.load(Ordering::Relaxed), 0, "{what}");
            }
        }
        assert_eq!(seen, [[true; 2]; 2]);
    }

    /// A copy takes nothing from the budget, and gives nothing back.
    #[test]
    fn copies_take_nothing_from_the_budget() {
        let budget = Budget { used: AtomicUsize::new(0), limit: 1 << 20 };
        let (_, name) = sketches(&session_times(100_000, 9, 2.0), &budget);
        let used = budget.used.load(Ordering::Relaxed);
        assert!(used > 0 && used == name.claimed as usize);
        let copy = name.clone();
        assert_eq!(copy.claimed, 0);
        for p in PS {
            assert_eq!(copy.locate(p), name.locate(p));
        }
        drop(copy);
        name.release_to(&budget);
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }

    /// A count saturated at u32::MAX: every percentile is lost.
    #[test]
    fn a_saturated_count_loses_the_bound() {
        let mut name = SmallSketch::default();
        name.add(5);
        (name.counts[0], name.count) = (u32::MAX, u64::from(u32::MAX));
        name.add(5);
        assert_eq!(name.locate(50.0), Percentile::Lost);
        assert_eq!(name.percentile(50.0), None);
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
