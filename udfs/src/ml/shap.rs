//! Exact path-dependent TreeSHAP (Lundberg et al. 2018, algorithm 2) on a
//! [`Forest`]. For every row, `expected_raw() + Σ phi == predict_row_raw(row)`:
//! contributions are in raw-score space (log-odds for classifiers).
//!
//! The recursion works on one preallocated path buffer per [`ShapScratch`],
//! so explaining a batch allocates nothing per row.

use crate::ml::forest::{Forest, LEAF};

#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// Feature index, or `usize::MAX` for the root's placeholder.
    feature: usize,
    zero_fraction: f64,
    one_fraction: f64,
    pweight: f64,
}

/// Reusable working memory for [`explain_row`].
pub struct ShapScratch {
    path: Vec<PathElement>,
}

impl ShapScratch {
    pub fn new(forest: &Forest) -> Self {
        let d = forest.max_depth() as usize + 2;
        ShapScratch {
            path: vec![PathElement::default(); d * (d + 1) / 2 + d],
        }
    }
}

/// SHAP values of one row (`row[f]`, NaN = missing) into `phi` (one entry
/// per feature). The expected value is [`Forest::expected_raw`].
pub fn explain_row(forest: &Forest, row: &[f64], phi: &mut [f64], scratch: &mut ShapScratch) {
    phi.fill(0.0);
    let needed = {
        let d = forest.max_depth() as usize + 2;
        d * (d + 1) / 2 + d
    };
    if scratch.path.len() < needed {
        scratch.path.resize(needed, PathElement::default());
    }
    for &root in forest.roots() {
        recurse(
            forest,
            row,
            phi,
            &mut scratch.path,
            root,
            0,
            0,
            1.0,
            1.0,
            usize::MAX,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn recurse(
    forest: &Forest,
    row: &[f64],
    phi: &mut [f64],
    buffer: &mut [PathElement],
    node: u32,
    start: usize,
    unique_depth: usize,
    parent_zero: f64,
    parent_one: f64,
    parent_feature: usize,
) {
    // This level's path lives right after the parent's (`unique_depth + 1`
    // elements long), copied so siblings do not see each other's changes.
    let (parent, rest) = buffer.split_at_mut(start + unique_depth);
    let parent_path = &parent[start..];
    let here = start + unique_depth;
    rest[..unique_depth].copy_from_slice(parent_path);
    let path = &mut rest[..unique_depth + 1];
    extend(path, unique_depth, parent_zero, parent_one, parent_feature);

    let n = *forest.node(node);
    if n.feature == LEAF {
        let value = forest.value(node);
        for i in 1..=unique_depth {
            let w = unwound_sum(path, unique_depth, i);
            let el = path[i];
            phi[el.feature] += w * (el.one_fraction - el.zero_fraction) * value;
        }
        return;
    }

    let (frac_left, frac_right) = forest.fractions(node);
    let goes_left = forest.goes_left(&n, row[n.feature as usize]);
    let (hot, cold, hot_frac, cold_frac) = if goes_left {
        (n.left, n.right, frac_left, frac_right)
    } else {
        (n.right, n.left, frac_right, frac_left)
    };
    let feature = n.feature as usize;
    let mut depth = unique_depth;
    let mut incoming_zero = 1.0;
    let mut incoming_one = 1.0;
    // A feature split on again higher up: undo its earlier extension so it
    // is counted once on this path.
    if let Some(k) = (1..=depth).find(|&k| path[k].feature == feature) {
        incoming_zero = path[k].zero_fraction;
        incoming_one = path[k].one_fraction;
        unwind(path, depth, k);
        depth -= 1;
    }
    // Children place their path after this level's (`depth + 1` long).
    let _ = here;
    recurse(
        forest,
        row,
        phi,
        buffer,
        hot,
        here,
        depth + 1,
        hot_frac * incoming_zero,
        incoming_one,
        feature,
    );
    recurse(
        forest,
        row,
        phi,
        buffer,
        cold,
        here,
        depth + 1,
        cold_frac * incoming_zero,
        0.0,
        feature,
    );
}

fn extend(path: &mut [PathElement], d: usize, zero: f64, one: f64, feature: usize) {
    path[d] = PathElement {
        feature,
        zero_fraction: zero,
        one_fraction: one,
        pweight: if d == 0 { 1.0 } else { 0.0 },
    };
    let denom = (d + 1) as f64;
    for i in (0..d).rev() {
        path[i + 1].pweight += one * path[i].pweight * (i + 1) as f64 / denom;
        path[i].pweight = zero * path[i].pweight * (d - i) as f64 / denom;
    }
}

fn unwind(path: &mut [PathElement], d: usize, k: usize) {
    let one = path[k].one_fraction;
    let zero = path[k].zero_fraction;
    let denom = (d + 1) as f64;
    let mut next_one = path[d].pweight;
    for i in (0..d).rev() {
        if one != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next_one * denom / ((i + 1) as f64 * one);
            next_one = tmp - path[i].pweight * zero * (d - i) as f64 / denom;
        } else {
            path[i].pweight = path[i].pweight * denom / (zero * (d - i) as f64);
        }
    }
    for i in k..d {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

fn unwound_sum(path: &[PathElement], d: usize, k: usize) -> f64 {
    let one = path[k].one_fraction;
    let zero = path[k].zero_fraction;
    let mut next_one = path[d].pweight;
    let mut total = 0.0;
    if one != 0.0 {
        for i in (0..d).rev() {
            let tmp = next_one / ((i + 1) as f64 * one);
            total += tmp;
            next_one = path[i].pweight - tmp * zero * (d - i) as f64;
        }
    } else if zero != 0.0 {
        for i in (0..d).rev() {
            total += path[i].pweight / (zero * (d - i) as f64);
        }
    }
    total * (d + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::forest::{ForestBuilder, Link, SplitRule, TreeNode};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random full tree of the given depth over `n_features` features.
    fn random_tree(rng: &mut ChaCha8Rng, depth: u32, n_features: u32) -> Vec<TreeNode> {
        fn grow(
            rng: &mut ChaCha8Rng,
            nodes: &mut Vec<TreeNode>,
            depth: u32,
            n_features: u32,
        ) -> usize {
            let me = nodes.len();
            nodes.push(TreeNode::leaf(0.0, 0.0));
            if depth == 0 || rng.random_bool(0.15) {
                nodes[me] =
                    TreeNode::leaf(rng.random_range(-5.0..5.0), rng.random_range(1.0..50.0));
                return me;
            }
            let l = grow(rng, nodes, depth - 1, n_features);
            let r = grow(rng, nodes, depth - 1, n_features);
            let cover = nodes[l].cover + nodes[r].cover;
            nodes[me] = TreeNode::split(
                rng.random_range(0..n_features),
                rng.random_range(-1.0..1.0),
                l,
                r,
                rng.random_bool(0.5),
                cover,
            );
            me
        }
        let mut nodes = Vec::new();
        grow(rng, &mut nodes, depth, n_features);
        nodes
    }

    fn random_forest(seed: u64) -> Forest {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n_features = rng.random_range(1..8);
        let names = (0..n_features).map(|i| format!("f{i}")).collect();
        let mut b = ForestBuilder::new(
            names,
            Link::Identity,
            SplitRule::LessF32,
            rng.random_range(-1.0..1.0),
        );
        for _ in 0..rng.random_range(1..12) {
            let depth = rng.random_range(0..7);
            b.add_tree(&random_tree(&mut rng, depth, n_features))
                .unwrap();
        }
        b.build()
    }

    /// Property: SHAP values plus the expected value equal the prediction,
    /// for random forests (repeated features, missing values) and rows.
    #[test]
    fn shap_values_add_up_to_the_prediction() {
        for seed in 0..300 {
            let forest = random_forest(seed);
            let mut rng = ChaCha8Rng::seed_from_u64(seed + 10_000);
            let mut scratch = ShapScratch::new(&forest);
            let mut phi = vec![0.0; forest.n_features()];
            for _ in 0..20 {
                let row: Vec<f64> = (0..forest.n_features())
                    .map(|_| {
                        if rng.random_bool(0.1) {
                            f64::NAN
                        } else {
                            rng.random_range(-1.5..1.5)
                        }
                    })
                    .collect();
                explain_row(&forest, &row, &mut phi, &mut scratch);
                let total = forest.expected_raw() + phi.iter().sum::<f64>();
                let pred = forest.predict_row_raw(&row);
                assert!(
                    (total - pred).abs() <= 1e-9 * (1.0 + pred.abs()),
                    "seed {seed}: {total} vs {pred}"
                );
            }
        }
    }

    /// Brute-force Shapley values (exponential, tiny forests only) agree with
    /// TreeSHAP, using the same path-dependent conditional expectation.
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn matches_brute_force_shapley_values() {
        fn cond_expectation(f: &Forest, node: u32, row: &[f64], set: u32) -> f64 {
            let n = *f.node(node);
            if n.feature == LEAF {
                return f.value(node);
            }
            if set & (1 << n.feature) != 0 {
                let next = if f.goes_left(&n, row[n.feature as usize]) {
                    n.left
                } else {
                    n.right
                };
                cond_expectation(f, next, row, set)
            } else {
                let (fl, fr) = f.fractions(node);
                fl * cond_expectation(f, n.left, row, set)
                    + fr * cond_expectation(f, n.right, row, set)
            }
        }
        fn value(f: &Forest, row: &[f64], set: u32) -> f64 {
            f.roots()
                .iter()
                .map(|&r| cond_expectation(f, r, row, set))
                .sum()
        }
        fn factorial(n: usize) -> f64 {
            (1..=n).map(|x| x as f64).product()
        }
        for seed in 0..60 {
            let forest = random_forest(seed);
            let m = forest.n_features();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let row: Vec<f64> = (0..m).map(|_| rng.random_range(-1.5..1.5)).collect();
            let mut phi = vec![0.0; m];
            explain_row(&forest, &row, &mut phi, &mut ShapScratch::new(&forest));
            for i in 0..m {
                let mut want = 0.0;
                for set in 0u32..(1 << m) {
                    if set & (1 << i) != 0 {
                        continue;
                    }
                    let s = set.count_ones() as usize;
                    let w = factorial(s) * factorial(m - s - 1) / factorial(m);
                    want += w * (value(&forest, &row, set | (1 << i)) - value(&forest, &row, set));
                }
                assert!(
                    (phi[i] - want).abs() < 1e-9,
                    "seed {seed} feature {i}: {} vs {want}",
                    phi[i]
                );
            }
        }
    }
}
