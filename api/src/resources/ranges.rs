//! Inclusive integer ranges (`[31000-32000, 33000-33010]`), kept sorted and coalesced.

use std::fmt;

/// A normalized set of inclusive ranges: sorted, non-overlapping, adjacent ranges merged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Builds from any ranges (order and overlap do not matter; `begin > end` pairs are skipped).
    pub fn new(ranges: impl IntoIterator<Item = (u64, u64)>) -> Ranges {
        let mut v: Vec<(u64, u64)> = ranges.into_iter().filter(|(b, e)| b <= e).collect();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (b, e) in v {
            match out.last_mut() {
                Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((b, e)),
            }
        }
        Ranges(out)
    }

    /// The ranges, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &(u64, u64)> {
        self.0.iter()
    }

    /// True if there is no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many values the ranges hold.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|(b, e)| e - b + 1).sum()
    }

    /// Union.
    pub fn add(&mut self, other: &Ranges) {
        if other.is_empty() {
            return;
        }
        if self.0.is_empty() {
            self.0.extend_from_slice(&other.0);
            return;
        }
        // Common case: other lies wholly after self; append (merging at the seam).
        let last = self.0[self.0.len() - 1].1;
        if other.0[0].0 > last {
            let mut it = other.0.iter().copied();
            if let Some((b, e)) = it.next() {
                if b <= last.saturating_add(1) {
                    let n = self.0.len();
                    self.0[n - 1].1 = e;
                } else {
                    self.0.push((b, e));
                }
            }
            self.0.extend(it);
            return;
        }
        *self = Ranges::new(self.0.iter().chain(other.0.iter()).copied());
    }

    /// Difference.
    pub fn subtract(&mut self, other: &Ranges) {
        if other.is_empty() || self.is_empty() {
            return;
        }
        // Common case, in place: one range minus one range inside it.
        if let ([(b, e)], [(ob, oe)]) = (self.0.as_slice(), other.0.as_slice()) {
            let (b, e, ob, oe) = (*b, *e, *ob, *oe);
            if ob <= b && oe >= e {
                self.0.clear();
                return;
            }
            if ob <= b && oe >= b {
                self.0[0] = (oe + 1, e);
                return;
            }
            if oe >= e && ob <= e {
                self.0[0] = (b, ob - 1);
                return;
            }
            if ob > b && oe < e {
                self.0[0] = (b, ob - 1);
                self.0.push((oe + 1, e));
                return;
            }
            return; // disjoint
        }
        let mut out = Vec::with_capacity(self.0.len());
        let mut j = 0;
        for &(mut b, e) in &self.0 {
            while j < other.0.len() && other.0[j].1 < b {
                j += 1;
            }
            let mut k = j;
            let mut alive = true;
            while k < other.0.len() && other.0[k].0 <= e {
                let (ob, oe) = other.0[k];
                if ob > b {
                    out.push((b, ob - 1));
                }
                if oe >= e {
                    alive = false;
                    break;
                }
                b = oe + 1;
                k += 1;
            }
            if alive {
                out.push((b, e));
            }
        }
        self.0 = out;
    }

    /// Whether every value of `other` is in `self`.
    pub fn contains(&self, other: &Ranges) -> bool {
        other.0.iter().all(|&(b, e)| {
            // The covering range must be a single one, since ours are coalesced.
            match self.0.binary_search_by(|r| r.0.cmp(&b)) {
                Ok(i) => self.0[i].1 >= e,
                Err(0) => false,
                Err(i) => self.0[i - 1].0 <= b && self.0[i - 1].1 >= e,
            }
        })
    }

    /// Takes the first `n` values off the front (for carving ports off an offer).
    pub fn take_first(&self, n: u64) -> Ranges {
        let mut left = n;
        let mut out = Vec::new();
        for &(b, e) in &self.0 {
            if left == 0 {
                break;
            }
            let len = e - b + 1;
            let take = len.min(left);
            out.push((b, b + take - 1));
            left -= take;
        }
        Ranges(out)
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (b, e)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{b}-{e}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_merges_adjacent_and_overlapping() {
        let r = Ranges::new([(5, 6), (1, 2), (3, 4), (10, 12), (11, 20)]);
        assert_eq!(
            r.iter().copied().collect::<Vec<_>>(),
            vec![(1, 6), (10, 20)]
        );
        assert_eq!(r.count(), 17);
        assert_eq!(r.to_string(), "[1-6, 10-20]");
    }

    #[test]
    fn subtract_splits_ranges() {
        let mut r = Ranges::new([(1, 10), (20, 30)]);
        r.subtract(&Ranges::new([(3, 4), (10, 22), (30, 30)]));
        assert_eq!(
            r.iter().copied().collect::<Vec<_>>(),
            vec![(1, 2), (5, 9), (23, 29)]
        );
    }

    #[test]
    fn contains_and_take_first() {
        let r = Ranges::new([(31000, 32000)]);
        assert!(r.contains(&Ranges::new([(31000, 31000), (31500, 32000)])));
        assert!(!r.contains(&Ranges::new([(30999, 31000)])));
        assert_eq!(r.take_first(3), Ranges::new([(31000, 31002)]));
    }
}

#[cfg(test)]
mod subtract_props {
    use super::Ranges;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn subtract_matches_a_set_difference(a in prop::collection::vec((0u64..60, 0u64..8), 0..4),
                                             b in prop::collection::vec((0u64..60, 0u64..8), 0..4)) {
            let ra = Ranges::new(a.iter().map(|&(x, l)| (x, x + l)));
            let rb = Ranges::new(b.iter().map(|&(x, l)| (x, x + l)));
            let mut got = ra.clone();
            got.subtract(&rb);
            let expect: Vec<u64> = (0..80).filter(|v| ra.contains(&Ranges::new([(*v, *v)])) && !rb.contains(&Ranges::new([(*v, *v)]))).collect();
            let have: Vec<u64> = (0..80).filter(|v| got.contains(&Ranges::new([(*v, *v)]))).collect();
            prop_assert_eq!(have, expect);
            prop_assert_eq!(Ranges::new(got.iter().copied()), got);
        }
    }
}
