//! The one representation of a tree ensemble that every consumer uses:
//! prediction, TreeSHAP, the registry's artifacts and model import.
//!
//! A forest is flat: every node of every tree lives in one array of
//! [`Node`]s (split feature, threshold, children, missing-value direction),
//! with leaf values and covers in parallel arrays. It is immutable once
//! built; [`ForestBuilder`] validates trees as they are added.
//!
//! ```
//! use voidx_udfs::ml::forest::{ForestBuilder, Link, SplitRule, TreeNode};
//! let mut b = ForestBuilder::new(vec!["x".into()], Link::Identity, SplitRule::LessF32, 0.5);
//! b.add_tree(&[
//!     TreeNode::split(0, 1.0, 1, 2, true, 10.0),
//!     TreeNode::leaf(-1.0, 4.0),
//!     TreeNode::leaf(2.0, 6.0),
//! ]).unwrap();
//! let forest = b.build();
//! let mut out = vec![0.0; 2];
//! forest.predict_raw(&[&[0.0, 3.0]], &mut out);
//! assert_eq!(out, vec![-0.5, 2.5]);
//! ```

use serde::{Deserialize, Serialize};

use crate::ml::MlError;

/// Marks a leaf in [`Node::feature`].
pub const LEAF: u32 = u32::MAX;

/// How a row compares with a split threshold. Trees trained by different
/// libraries disagree here, and matching them exactly matters for import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitRule {
    /// `x < threshold` goes left, compared in f32 (gbdt, XGBoost).
    LessF32,
    /// `x <= threshold` goes left, compared in f64 (LightGBM).
    LessEqual,
}

/// Maps the raw score (sum of leaves plus base score) to the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Link {
    Identity,
    /// Binary classification: `1 / (1 + e^-raw)`, the probability of class 1.
    Logistic,
}

impl Link {
    #[inline]
    pub fn apply(self, raw: f64) -> f64 {
        match self {
            Link::Identity => raw,
            Link::Logistic => 1.0 / (1.0 + (-raw).exp()),
        }
    }
}

/// One node in the flat array. For a leaf, `feature == LEAF` and the other
/// split fields are unused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub threshold: f64,
    pub feature: u32,
    pub left: u32,
    pub right: u32,
    /// Where a NULL/NaN value goes.
    pub default_left: bool,
    /// How the threshold compares; per node, so ensembles may mix trainers.
    pub rule: SplitRule,
}

/// A node as handed to [`ForestBuilder::add_tree`]; children index the same
/// slice, and the first element is the root.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeNode {
    pub split: Option<(u32, f64, usize, usize, bool)>,
    /// Leaf value (raw score); ignored for splits.
    pub value: f64,
    /// Training weight (rows or hessian sum) that reached the node.
    pub cover: f64,
}

impl TreeNode {
    pub fn split(
        feature: u32,
        threshold: f64,
        left: usize,
        right: usize,
        default_left: bool,
        cover: f64,
    ) -> Self {
        TreeNode {
            split: Some((feature, threshold, left, right, default_left)),
            value: 0.0,
            cover,
        }
    }

    pub fn leaf(value: f64, cover: f64) -> Self {
        TreeNode {
            split: None,
            value,
            cover,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub feature_names: Vec<String>,
    pub link: Link,
    pub split_rule: SplitRule,
    /// Added to every raw score (the boosting init score / bias).
    pub base_score: f64,
    roots: Vec<u32>,
    nodes: Vec<Node>,
    /// Leaf value for leaves; for internal nodes the cover-weighted mean of
    /// the subtree, as TreeSHAP's expected value needs.
    values: Vec<f64>,
    covers: Vec<f64>,
    max_depth: u32,
}

pub struct ForestBuilder {
    forest: Forest,
}

impl ForestBuilder {
    pub fn new(
        feature_names: Vec<String>,
        link: Link,
        split_rule: SplitRule,
        base_score: f64,
    ) -> Self {
        ForestBuilder {
            forest: Forest {
                feature_names,
                link,
                split_rule,
                base_score,
                roots: Vec::new(),
                nodes: Vec::new(),
                values: Vec::new(),
                covers: Vec::new(),
                max_depth: 0,
            },
        }
    }

    /// Adds one tree after checking that it is a proper binary tree (every
    /// node reachable once from the root, features in range, finite values).
    pub fn add_tree(&mut self, tree: &[TreeNode]) -> Result<(), MlError> {
        if tree.is_empty() {
            return Err(MlError::InvalidModel("a tree has no nodes".into()));
        }
        let n_features = self.forest.feature_names.len() as u32;
        let offset = self.forest.nodes.len();
        let mut seen = vec![false; tree.len()];
        let mut depth_of = vec![0u32; tree.len()];
        let mut stack = vec![0usize];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            let node = &tree[i];
            if !node.cover.is_finite() || node.cover < 0.0 {
                return Err(MlError::InvalidModel(format!(
                    "node {i} has cover {}",
                    node.cover
                )));
            }
            if let Some((feature, threshold, left, right, _)) = node.split {
                if feature >= n_features {
                    return Err(MlError::InvalidModel(format!(
                        "node {i} splits on feature {feature}, but the model has {n_features} features"
                    )));
                }
                if threshold.is_nan() {
                    return Err(MlError::InvalidModel(format!(
                        "node {i} has a NaN threshold"
                    )));
                }
                for child in [left, right] {
                    if child >= tree.len() || seen[child] {
                        return Err(MlError::InvalidModel(format!(
                            "node {i} has an invalid child {child}"
                        )));
                    }
                    seen[child] = true;
                    depth_of[child] = depth_of[i] + 1;
                    stack.push(child);
                }
            } else if !node.value.is_finite() {
                return Err(MlError::InvalidModel(format!(
                    "leaf {i} has value {}",
                    node.value
                )));
            }
        }
        if seen.iter().any(|s| !s) {
            return Err(MlError::InvalidModel("a tree has unreachable nodes".into()));
        }
        let f = &mut self.forest;
        f.roots.push(offset as u32);
        f.max_depth = f.max_depth.max(depth_of.iter().copied().max().unwrap_or(0));
        for node in tree {
            let (feature, threshold, left, right, default_left) = match node.split {
                Some((feature, threshold, l, r, d)) => (
                    feature,
                    threshold,
                    (l + offset) as u32,
                    (r + offset) as u32,
                    d,
                ),
                None => (LEAF, 0.0, 0, 0, false),
            };
            f.nodes.push(Node {
                threshold,
                feature,
                left,
                right,
                default_left,
                rule: f.split_rule,
            });
            f.values.push(node.value);
            f.covers.push(node.cover);
        }
        let root = offset;
        f.fill_internal_values(root);
        Ok(())
    }

    pub fn build(self) -> Forest {
        self.forest
    }
}

impl Forest {
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }

    pub(crate) fn roots(&self) -> &[u32] {
        &self.roots
    }

    pub(crate) fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    pub(crate) fn value(&self, i: u32) -> f64 {
        self.values[i as usize]
    }

    pub fn cover(&self, i: u32) -> f64 {
        self.covers[i as usize]
    }

    /// The share of a node's cover that goes left and right. Falls back to
    /// an even split when the node has no cover, so the expected value and
    /// TreeSHAP stay consistent with each other.
    #[inline]
    pub(crate) fn fractions(&self, i: u32) -> (f64, f64) {
        let n = self.nodes[i as usize];
        let (l, r) = (self.covers[n.left as usize], self.covers[n.right as usize]);
        if l + r > 0.0 {
            (l / (l + r), r / (l + r))
        } else {
            (0.5, 0.5)
        }
    }

    fn fill_internal_values(&mut self, i: usize) -> f64 {
        let n = self.nodes[i];
        if n.feature == LEAF {
            return self.values[i];
        }
        let (fl, fr) = self.fractions(i as u32);
        let v = fl * self.fill_internal_values(n.left as usize)
            + fr * self.fill_internal_values(n.right as usize);
        self.values[i] = v;
        v
    }

    /// The mean raw score over the training distribution (TreeSHAP's `E[f(x)]`).
    pub fn expected_raw(&self) -> f64 {
        self.base_score
            + self
                .roots
                .iter()
                .map(|&r| self.values[r as usize])
                .sum::<f64>()
    }

    /// Does `x` go left at node `n` (by the node's own rule)?
    #[inline(always)]
    pub(crate) fn goes_left(&self, n: &Node, x: f64) -> bool {
        if x.is_nan() {
            n.default_left
        } else {
            match n.rule {
                SplitRule::LessF32 => (x as f32) < (n.threshold as f32),
                SplitRule::LessEqual => x <= n.threshold,
            }
        }
    }

    /// The leaf a row reaches in the tree rooted at `root`.
    #[inline]
    pub(crate) fn leaf_of(&self, root: u32, row: impl Fn(usize) -> f64) -> u32 {
        let mut i = root;
        loop {
            let n = &self.nodes[i as usize];
            if n.feature == LEAF {
                return i;
            }
            i = if self.goes_left(n, row(n.feature as usize)) {
                n.left
            } else {
                n.right
            };
        }
    }

    /// Raw scores for column-major input (`columns[f][row]`, NaN = missing).
    /// Rows go in blocks small enough that their feature values stay in
    /// cache while every tree visits them; no allocation. Each row sums
    /// base score then trees in order, so results do not depend on blocking.
    pub fn predict_raw(&self, columns: &[&[f64]], out: &mut [f64]) {
        debug_assert_eq!(columns.len(), self.n_features());
        const BLOCK: usize = 256;
        out.fill(self.base_score);
        let n = out.len();
        let mut start = 0;
        while start < n {
            let end = (start + BLOCK).min(n);
            let block = &mut out[start..end];
            for &root in &self.roots {
                for (i, acc) in block.iter_mut().enumerate() {
                    let row = start + i;
                    let leaf = self.leaf_of(root, |f| columns[f][row]);
                    *acc += self.values[leaf as usize];
                }
            }
            start = end;
        }
    }

    /// Predictions (after the link) for column-major input.
    pub fn predict(&self, columns: &[&[f64]], out: &mut [f64]) {
        self.predict_raw(columns, out);
        if self.link != Link::Identity {
            for v in out.iter_mut() {
                *v = self.link.apply(*v);
            }
        }
    }

    /// Raw score of one row (`row[f]`).
    pub fn predict_row_raw(&self, row: &[f64]) -> f64 {
        self.base_score
            + self
                .roots
                .iter()
                .map(|&r| self.values[self.leaf_of(r, |f| row[f]) as usize])
                .sum::<f64>()
    }

    /// Recomputes covers by routing rows (column-major) through every tree:
    /// trainers that do not record covers (the gbdt crate) get them this way.
    #[allow(clippy::needless_range_loop)] // rows index every column
    pub fn set_covers_from_rows(&mut self, columns: &[&[f64]], n_rows: usize) {
        self.covers.fill(0.0);
        for t in 0..self.roots.len() {
            let root = self.roots[t];
            for row in 0..n_rows {
                let mut i = root;
                loop {
                    self.covers[i as usize] += 1.0;
                    let n = self.nodes[i as usize];
                    if n.feature == LEAF {
                        break;
                    }
                    i = if self.goes_left(&n, columns[n.feature as usize][row]) {
                        n.left
                    } else {
                        n.right
                    };
                }
            }
        }
        for t in 0..self.roots.len() {
            let root = self.roots[t] as usize;
            self.fill_internal_values(root);
        }
    }

    /// Multiplies every leaf and the base score by `w` (ensemble weights).
    pub fn scaled(&self, w: f64) -> Forest {
        let mut f = self.clone();
        f.base_score *= w;
        for v in &mut f.values {
            *v *= w;
        }
        f
    }

    /// Concatenates forests over the same features into one additive forest.
    pub fn concat(parts: &[Forest]) -> Result<Forest, MlError> {
        let first = parts
            .first()
            .ok_or_else(|| MlError::InvalidModel("nothing to combine".into()))?;
        let mut out = Forest {
            base_score: 0.0,
            roots: Vec::new(),
            nodes: Vec::new(),
            values: Vec::new(),
            covers: Vec::new(),
            max_depth: 0,
            ..first.clone()
        };
        for p in parts {
            if p.feature_names != first.feature_names || p.link != first.link {
                return Err(MlError::InvalidModel(
                    "ensemble members disagree on features or link".into(),
                ));
            }
            let offset = out.nodes.len() as u32;
            out.base_score += p.base_score;
            out.max_depth = out.max_depth.max(p.max_depth);
            out.roots.extend(p.roots.iter().map(|r| r + offset));
            out.nodes.extend(p.nodes.iter().map(|n| {
                let mut n = *n;
                if n.feature != LEAF {
                    n.left += offset;
                    n.right += offset;
                }
                n
            }));
            out.values.extend_from_slice(&p.values);
            out.covers.extend_from_slice(&p.covers);
        }
        Ok(out)
    }

    /// Split gain per feature: the drop in cover-weighted squared deviation of
    /// the tree's output at each split, summed over all trees.
    pub fn gain_importance(&self) -> Vec<f64> {
        let mut gain = vec![0.0; self.n_features()];
        for (i, n) in self.nodes.iter().enumerate() {
            if n.feature == LEAF {
                continue;
            }
            let (l, r) = (n.left as usize, n.right as usize);
            let g = self.covers[l] * self.values[l].powi(2)
                + self.covers[r] * self.values[r].powi(2)
                - (self.covers[l] + self.covers[r]) * self.values[i].powi(2);
            gain[n.feature as usize] += g.max(0.0);
        }
        gain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(threshold: f64, left: f64, right: f64) -> Vec<TreeNode> {
        vec![
            TreeNode::split(0, threshold, 1, 2, false, 4.0),
            TreeNode::leaf(left, 1.0),
            TreeNode::leaf(right, 3.0),
        ]
    }

    #[test]
    fn predicts_and_follows_missing_direction() {
        let mut b = ForestBuilder::new(vec!["a".into()], Link::Identity, SplitRule::LessF32, 1.0);
        b.add_tree(&stump(0.5, 10.0, 20.0)).unwrap();
        let f = b.build();
        let mut out = vec![0.0; 3];
        f.predict_raw(&[&[0.0, 1.0, f64::NAN]], &mut out);
        assert_eq!(out, vec![11.0, 21.0, 21.0]);
        assert_eq!(f.expected_raw(), 1.0 + 0.25 * 10.0 + 0.75 * 20.0);
    }

    #[test]
    fn split_rules_differ_at_the_threshold() {
        for (rule, want) in [(SplitRule::LessF32, 2.0), (SplitRule::LessEqual, 1.0)] {
            let mut b = ForestBuilder::new(vec!["a".into()], Link::Identity, rule, 0.0);
            b.add_tree(&stump(0.5, 1.0, 2.0)).unwrap();
            assert_eq!(b.build().predict_row_raw(&[0.5]), want);
        }
    }

    #[test]
    fn rejects_malformed_trees() {
        let mut b = ForestBuilder::new(vec!["a".into()], Link::Identity, SplitRule::LessF32, 0.0);
        let cyclic = vec![
            TreeNode::split(0, 0.0, 0, 1, true, 1.0),
            TreeNode::leaf(1.0, 1.0),
        ];
        assert!(b.add_tree(&cyclic).is_err());
        let bad_feature = vec![
            TreeNode::split(3, 0.0, 1, 2, true, 1.0),
            TreeNode::leaf(1.0, 1.0),
            TreeNode::leaf(1.0, 1.0),
        ];
        assert!(b.add_tree(&bad_feature).is_err());
        assert!(b.add_tree(&[]).is_err());
    }

    #[test]
    fn concat_and_scale_are_additive() {
        let mut b = ForestBuilder::new(vec!["a".into()], Link::Identity, SplitRule::LessF32, 1.0);
        b.add_tree(&stump(0.5, 1.0, 2.0)).unwrap();
        let f = b.build();
        let both = Forest::concat(&[f.scaled(0.25), f.scaled(0.75)]).unwrap();
        for x in [0.0, 1.0] {
            assert!((both.predict_row_raw(&[x]) - f.predict_row_raw(&[x])).abs() < 1e-12);
        }
        assert_eq!(both.n_trees(), 2);
    }
}
