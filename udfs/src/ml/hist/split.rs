//! Split finding on one node's histogram, as LightGBM does it: every
//! threshold of every feature is scored twice, with missing values on the
//! left and on the right, and the better one fixes the node's missing
//! direction. When no training row at the node was missing, missing values
//! follow the larger child. Gains and leaf outputs are LightGBM's
//! L1/L2-regularised formulas: a leaf scores `ThresholdL1(G, l1)² / (H + l2)`
//! and outputs `-ThresholdL1(G, l1) / (H + l2)`, and a split's gain is
//! `score(left) + score(right) - score(parent)`.

use rayon::prelude::*;

use crate::ml::hist::binning::{BinMapper, SLOTS};
use crate::ml::hist::histogram::{BinStat, Histogram};

/// Guards divisions when both the hessian sum and `lambda_l2` are zero.
pub const EPS: f64 = 1e-15;

#[derive(Debug, Clone, Copy)]
pub struct TreeParams {
    pub leafwise: bool,
    /// Leaf-wise only: stop at this many leaves.
    pub num_leaves: usize,
    /// Leaves deeper than this are not split; `None` = unlimited.
    pub max_depth: Option<usize>,
    pub min_data_in_leaf: usize,
    pub min_sum_hessian: f64,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
}

impl TreeParams {
    pub fn threshold_l1(&self, g: f64) -> f64 {
        g.signum() * (g.abs() - self.lambda_l1).max(0.0)
    }

    pub fn leaf_score(&self, s: BinStat) -> f64 {
        let t = self.threshold_l1(s.g);
        t * t / (s.h + self.lambda_l2 + EPS)
    }

    /// The regularised leaf value (before shrinkage).
    pub fn leaf_output(&self, s: BinStat) -> f64 {
        -self.threshold_l1(s.g) / (s.h + self.lambda_l2 + EPS)
    }
}

/// The best split found for a leaf.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    pub gain: f64,
    pub feature: usize,
    /// Bins `0..=bin` go left.
    pub bin: u8,
    pub default_left: bool,
    pub left: BinStat,
    pub right: BinStat,
}

/// The best split over `features`; ties go to the lower feature index.
pub fn best_split(
    p: &TreeParams,
    mappers: &[BinMapper],
    hist: &Histogram,
    total: BinStat,
    features: &[usize],
) -> Option<Split> {
    let parent_score = p.leaf_score(total);
    let one =
        |&f: &usize| best_for_feature(p, mappers[f].n_value_bins(), hist, f, total, parent_score);
    let better = |a: Option<Split>, b: Option<Split>| match (a, b) {
        (Some(x), Some(y)) => {
            if y.gain > x.gain || (y.gain == x.gain && y.feature < x.feature) {
                Some(y)
            } else {
                Some(x)
            }
        }
        (x, None) => x,
        (None, y) => y,
    };
    if features.len() >= 8 {
        features.par_iter().map(one).reduce(|| None, better)
    } else {
        features.iter().map(one).fold(None, better)
    }
}

/// The best split on feature `f` (with `n_value` value bins), scanning
/// thresholds with missing values right, then left.
fn best_for_feature(
    p: &TreeParams,
    n_value: usize,
    hist: &Histogram,
    f: usize,
    total: BinStat,
    parent_score: f64,
) -> Option<Split> {
    let missing = hist.stat(f, n_value);
    let has_missing = missing.n > 0.0;
    // With missing rows, "all values left, missing right" is a split too.
    let len = if has_missing { n_value } else { n_value - 1 };
    if len == 0 {
        return None;
    }
    let cum = Cumulative::new(hist, f, len);
    // Gains within rounding noise of zero would split constant targets.
    let floor = parent_score + 1e-10 * parent_score.abs().max(1e-10);
    let scan = |extra: BinStat, floor: f64| {
        if p.lambda_l1 > 0.0 {
            cum.scan::<true>(p, extra, total, floor)
        } else {
            cum.scan::<false>(p, extra, total, floor)
        }
    };
    let mut best = scan(BinStat::default(), floor).map(|(t, score)| (t, false, score));
    if has_missing {
        let floor = best.map_or(floor, |b| b.2);
        if let Some((t, score)) = scan(missing, floor) {
            best = Some((t, true, score));
        }
    }
    let (t, missing_left, _) = best?;
    let left = if missing_left {
        cum.at(t) + missing
    } else {
        cum.at(t)
    };
    let right = total - left;
    let gain = p.leaf_score(left) + p.leaf_score(right) - parent_score;
    let default_left = if has_missing {
        missing_left
    } else {
        left.n >= right.n
    };
    Some(Split {
        gain,
        feature: f,
        bin: t as u8,
        default_left,
        left,
        right,
    })
}

/// Running sums over a feature's bins (`bins 0..=t` for each `t`), stored
/// column by column so the scoring loop vectorises.
struct Cumulative {
    len: usize,
    g: [f64; SLOTS],
    h: [f64; SLOTS],
    n: [f64; SLOTS],
}

impl Cumulative {
    fn new(hist: &Histogram, f: usize, len: usize) -> Cumulative {
        let mut c = Cumulative {
            len,
            g: [0.0; SLOTS],
            h: [0.0; SLOTS],
            n: [0.0; SLOTS],
        };
        let (gn, hs) = hist.feature(f);
        let (mut g, mut h, mut n) = (0.0, 0.0, 0.0);
        for t in 0..len {
            g += gn[t][0];
            n += gn[t][1];
            h += hs.map_or(gn[t][1], |hs| hs[t]);
            (c.g[t], c.h[t], c.n[t]) = (g, h, n);
        }
        c
    }

    fn at(&self, t: usize) -> BinStat {
        BinStat {
            g: self.g[t],
            h: self.h[t],
            n: self.n[t],
        }
    }

    /// The threshold whose children score `sL + sR` highest above `floor`
    /// (the first such), with `extra` added to every left side, and that
    /// score. All thresholds are scored first, branch-free, then compared.
    fn scan<const L1: bool>(
        &self,
        p: &TreeParams,
        extra: BinStat,
        total: BinStat,
        floor: f64,
    ) -> Option<(usize, f64)> {
        let (min_n, min_h) = (p.min_data_in_leaf as f64, p.min_sum_hessian);
        let reg = p.lambda_l2 + EPS;
        let shrink = |g: f64| if L1 { p.threshold_l1(g) } else { g };
        let mut scores = [f64::NEG_INFINITY; SLOTS];
        let len = self.len;
        for (t, s) in scores[..len].iter_mut().enumerate() {
            let (gl, hl, nl) = (
                self.g[t] + extra.g,
                self.h[t] + extra.h,
                self.n[t] + extra.n,
            );
            let (gr, hr, nr) = (total.g - gl, total.h - hl, total.n - nl);
            let ok = (nl >= min_n) & (hl >= min_h) & (nr >= min_n) & (hr >= min_h);
            let (gl, gr, hl, hr) = (shrink(gl), shrink(gr), hl + reg, hr + reg);
            // gl²/hl + gr²/hr with one division.
            let v = (gl * gl * hr + gr * gr * hl) / (hl * hr);
            *s = if ok { v } else { f64::NEG_INFINITY };
        }
        // The maximum over four independent lanes (no compare-to-compare
        // dependency), then its first position.
        let mut lanes = [f64::NEG_INFINITY; 4];
        for chunk in scores[..len.next_multiple_of(4)].chunks_exact(4) {
            for (m, &s) in lanes.iter_mut().zip(chunk) {
                if s > *m {
                    *m = s;
                }
            }
        }
        let max = lanes
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        if max <= floor {
            return None;
        }
        scores[..len]
            .iter()
            .position(|&s| s == max)
            .map(|t| (t, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::hist::binning::{BinnedMatrix, build_mappers};
    use crate::ml::hist::histogram::Grads;

    fn params() -> TreeParams {
        TreeParams {
            leafwise: true,
            num_leaves: 31,
            max_depth: None,
            min_data_in_leaf: 1,
            min_sum_hessian: 0.0,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
        }
    }

    #[test]
    fn lightgbm_leaf_formulas() {
        let p = TreeParams {
            lambda_l1: 1.0,
            lambda_l2: 2.0,
            ..params()
        };
        let s = BinStat {
            g: -5.0,
            h: 3.0,
            n: 3.0,
        };
        assert!((p.leaf_output(s) - 4.0 / 5.0).abs() < 1e-12);
        assert!((p.leaf_score(s) - 16.0 / 5.0).abs() < 1e-12);
        // |G| below l1: no output, no score
        assert_eq!(p.leaf_output(BinStat { g: 0.5, ..s }), 0.0);
    }

    /// One feature with values 0..10 and NaN; gradients say "NaN rows are
    /// like the high values" or "like the low values" in turn.
    fn best_on(missing_g: f64, p: &TreeParams) -> Option<Split> {
        let x: Vec<f64> = (0..12)
            .map(|i| if i >= 10 { f64::NAN } else { i as f64 })
            .collect();
        let g: Vec<f64> = (0..12)
            .map(|i| match i {
                10 | 11 => missing_g,
                i if i < 5 => -1.0,
                _ => 1.0,
            })
            .collect();
        let cols: Vec<&[f64]> = vec![&x];
        let rows: Vec<u32> = (0..12).collect();
        let mappers = build_mappers(&cols, &rows, 255, 0).unwrap();
        let bins = BinnedMatrix::new(&cols, None, &mappers);
        let mut hist = Histogram::new(1);
        let n_slots = [mappers[0].n_value_bins() + 1];
        hist.build(&bins, None, Grads { g: &g, h: None }, &[0], &n_slots);
        let total = BinStat {
            g: g.iter().sum(),
            h: 12.0,
            n: 12.0,
        };
        best_split(p, &mappers, &hist, total, &[0])
    }

    #[test]
    fn missing_values_go_where_their_gradients_belong() {
        let p = params();
        for (missing_g, want_left) in [(-1.0, true), (1.0, false)] {
            let s = best_on(missing_g, &p).unwrap();
            assert_eq!((s.bin, s.default_left), (4, want_left));
            assert_eq!(s.left.n + s.right.n, 12.0);
            assert_eq!(s.left.n, if want_left { 7.0 } else { 5.0 });
            let want_gain =
                p.leaf_score(s.left) + p.leaf_score(s.right) - p.leaf_score(s.left + s.right);
            assert!((s.gain - want_gain).abs() < 1e-12);
        }
    }

    #[test]
    fn minimum_leaf_sizes_bound_the_split() {
        let p = TreeParams {
            min_data_in_leaf: 6,
            ..params()
        };
        let s = best_on(-1.0, &p).unwrap();
        assert_eq!((s.left.n, s.right.n), (6.0, 6.0));
        let p = TreeParams {
            min_data_in_leaf: 7,
            ..params()
        };
        assert!(best_on(-1.0, &p).is_none());
        // hessians are 1 per row: 6.5 per side needs 13 rows
        let p = TreeParams {
            min_sum_hessian: 6.5,
            ..params()
        };
        assert!(best_on(-1.0, &p).is_none());
    }
}
