//! A tree as the grower builds it: split thresholds are bin indices, leaves
//! own segments of the grower's row index. It routes binned rows (for
//! out-of-bag and validation scores) and converts to the forest's nodes,
//! where each threshold becomes the real upper bound of its bin.
//!
//! Covers are row counts (of the rows in the bag), as in the `gbdt` trainer
//! and LightGBM's `pred_contrib`, so TreeSHAP weights every tree alike.

use crate::ml::forest::TreeNode;
use crate::ml::hist::binning::{BinMapper, BinnedMatrix};
use crate::ml::hist::histogram::BinStat;

/// A node of a grown tree, in bin space.
#[derive(Debug, Clone, Copy)]
pub enum GrownNode {
    Split {
        feature: usize,
        bin: u8,
        missing_bin: u8,
        default_left: bool,
        left: usize,
        right: usize,
        cover: f64,
    },
    Leaf {
        leaf: usize,
        cover: f64,
    },
}

/// A leaf: its rows are `rows[begin..end]` of the grower's index array.
#[derive(Debug, Clone, Copy)]
pub struct Leaf {
    pub begin: usize,
    pub end: usize,
    pub sums: BinStat,
    pub depth: usize,
    /// Its node in [`GrownTree::nodes`].
    pub node: usize,
}

#[derive(Debug, Clone)]
pub struct GrownTree {
    pub nodes: Vec<GrownNode>,
    pub leaves: Vec<Leaf>,
}

impl GrownTree {
    /// The leaf a row of `bins` reaches.
    pub fn leaf_of(&self, bins: &BinnedMatrix, row: usize) -> usize {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                GrownNode::Leaf { leaf, .. } => return leaf,
                GrownNode::Split {
                    feature,
                    bin,
                    missing_bin,
                    default_left,
                    left,
                    right,
                    ..
                } => {
                    let b = bins.column(feature)[row];
                    let go_left = if b == missing_bin {
                        default_left
                    } else {
                        b <= bin
                    };
                    i = if go_left { left } else { right };
                }
            }
        }
    }

    /// The tree in the forest's form, with real thresholds and leaf values.
    pub fn to_tree_nodes(&self, values: &[f64], mappers: &[BinMapper]) -> Vec<TreeNode> {
        self.nodes
            .iter()
            .map(|n| match *n {
                GrownNode::Split {
                    feature,
                    bin,
                    default_left,
                    left,
                    right,
                    cover,
                    ..
                } => {
                    let t = mappers[feature].threshold(bin);
                    TreeNode::split(feature as u32, t, left, right, default_left, cover)
                }
                GrownNode::Leaf { leaf, cover } => TreeNode::leaf(values[leaf], cover),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::hist::binning::build_mappers;
    use crate::ml::hist::grow::Grower;
    use crate::ml::hist::split::TreeParams;

    /// The forest built from a grown tree sends every raw training row to
    /// the leaf the binned row reached: thresholds and bins agree, for ties,
    /// NaN and quantile-cut features alike.
    #[test]
    fn forest_routes_raw_rows_like_the_bins() {
        use crate::ml::forest::{ForestBuilder, Link, SplitRule};
        let n = 3000;
        let cols: Vec<Vec<f64>> = (0..4)
            .map(|f| {
                (0..n)
                    .map(|i| match (i * 7 + f * 13) % 11 {
                        0 => f64::NAN,
                        k if f == 0 => k as f64, // few distinct values
                        _ => ((i * 7919 + f * 104_729) % 5003) as f64 / 17.0,
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let mappers = build_mappers(&refs, &all, 31, 0).unwrap();
        let bins = BinnedMatrix::new(&refs, None, &mappers);
        let g: Vec<f64> = (0..n).map(|i| ((i * 31) % 17) as f64 - 8.0).collect();
        let p = TreeParams {
            leafwise: true,
            num_leaves: 40,
            max_depth: None,
            min_data_in_leaf: 1,
            min_sum_hessian: 1e-3,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
        };
        let tree = Grower::new(&bins, &mappers, p).grow(None, &g, None, &[0, 1, 2, 3]);
        assert!(tree.leaves.len() > 20);
        let ids: Vec<f64> = (0..tree.leaves.len()).map(|l| l as f64).collect();
        let names = (0..4).map(|f| format!("f{f}")).collect();
        let mut b = ForestBuilder::new(names, Link::Identity, SplitRule::LessEqual, 0.0);
        b.add_tree(&tree.to_tree_nodes(&ids, &mappers)).unwrap();
        let forest = b.build();
        let mut out = vec![0.0; n];
        forest.predict_raw(&refs, &mut out);
        for (r, leaf) in out.iter().enumerate() {
            assert_eq!(*leaf as usize, tree.leaf_of(&bins, r), "row {r}");
        }
    }
}
