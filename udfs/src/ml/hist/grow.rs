//! Growing one tree on histograms: leaf-wise (best-first, LightGBM) or
//! depth-wise (level by level, XGBoost's `depthwise`).
//!
//! The rows of the tree live in one index array; each leaf owns a contiguous
//! segment of it, and a split partitions the segment in place (stable, so
//! rows stay in ascending order and bin reads stay cache-friendly).
//!
//! Splits are chosen by [`split`](crate::ml::hist::split); only the smaller
//! child of a split gets its histogram built, the larger one's is the
//! parent's minus it.

use crate::ml::hist::binning::{BinMapper, BinnedMatrix};
use crate::ml::hist::histogram::{BinStat, Grads, Histogram};
use crate::ml::hist::partition::partition;
use crate::ml::hist::split::{Split, TreeParams, best_split};
use crate::ml::hist::tree::{GrownNode, GrownTree, Leaf};

/// Grows trees over one binned training matrix, reusing its buffers
/// (row index, partition scratch, ordered gradients, histograms) across trees.
pub struct Grower<'a> {
    bins: &'a BinnedMatrix,
    mappers: &'a [BinMapper],
    n_slots: Vec<usize>,
    params: TreeParams,
    rows: Vec<u32>,
    scratch_left: Vec<u32>,
    scratch_right: Vec<u32>,
    ordered_g: Vec<f64>,
    ordered_h: Vec<f64>,
    pool: Vec<Histogram>,
}

/// Per-leaf state while the tree grows.
struct Growing {
    leaf: Leaf,
    hist: Option<Histogram>,
    best: Option<Split>,
}

impl<'a> Grower<'a> {
    pub fn new(bins: &'a BinnedMatrix, mappers: &'a [BinMapper], params: TreeParams) -> Self {
        let n = bins.n_rows;
        Grower {
            bins,
            mappers,
            n_slots: mappers.iter().map(|m| m.n_value_bins() + 1).collect(),
            params,
            rows: Vec::with_capacity(n),
            scratch_left: vec![0; n],
            scratch_right: vec![0; n],
            ordered_g: Vec::with_capacity(n),
            ordered_h: Vec::new(),
            pool: Vec::new(),
        }
    }

    /// Rows of a leaf of the last grown tree.
    pub fn leaf_rows(&self, leaf: &Leaf) -> &[u32] {
        &self.rows[leaf.begin..leaf.end]
    }

    /// Grows one tree on gradients `g` (and hessians `h`, `None` = all 1)
    /// indexed by row, over the rows in `bag` (all when `None`) and the
    /// sorted `features`.
    pub fn grow(
        &mut self,
        bag: Option<&[u32]>,
        g: &[f64],
        h: Option<&[f64]>,
        features: &[usize],
    ) -> GrownTree {
        self.rows.clear();
        match bag {
            Some(b) => self.rows.extend_from_slice(b),
            None => self.rows.extend(0..self.bins.n_rows as u32),
        }
        let mut total = BinStat::default();
        for &r in &self.rows {
            total.g += g[r as usize];
            total.h += h.map_or(1.0, |h| h[r as usize]);
        }
        total.n = self.rows.len() as f64;
        let root = Leaf {
            begin: 0,
            end: self.rows.len(),
            sums: total,
            depth: 0,
            node: 0,
        };
        let mut nodes = vec![GrownNode::Leaf {
            leaf: 0,
            cover: total.n,
        }];
        let mut grow = vec![Growing {
            leaf: root,
            hist: None,
            best: None,
        }];
        if self.can_split(&root, 1) {
            let mut hist = self.take_hist();
            match bag {
                None => hist.build(self.bins, None, Grads { g, h }, features, &self.n_slots),
                Some(_) => self.build_ordered(&mut hist, root, g, h, features),
            }
            grow[0].best = best_split(&self.params, self.mappers, &hist, total, features);
            grow[0].hist = Some(hist);
        }
        let mut next = 0; // depth-wise: leaves before it have nothing to split
        loop {
            let pick = if self.params.leafwise {
                if grow.len() >= self.params.num_leaves {
                    break;
                }
                // Largest gain; ties go to the older leaf, for determinism.
                let mut pick: Option<(usize, f64)> = None;
                for (i, s) in grow.iter().enumerate() {
                    if let Some(b) = &s.best
                        && pick.is_none_or(|(_, g)| b.gain > g)
                    {
                        pick = Some((i, b.gain));
                    }
                }
                match pick {
                    Some((i, _)) => i,
                    None => break,
                }
            } else {
                // Without a leaf budget the order of splits does not change
                // the tree: each leaf's split depends on its rows only.
                while next < grow.len() && grow[next].best.is_none() {
                    next += 1;
                }
                if next == grow.len() {
                    break;
                }
                next
            };
            self.split(&mut grow, &mut nodes, pick, g, h, features);
        }
        for s in &mut grow {
            if let Some(hist) = s.hist.take() {
                self.pool.push(hist);
            }
        }
        GrownTree {
            nodes,
            leaves: grow.into_iter().map(|s| s.leaf).collect(),
        }
    }

    /// Could a leaf be split later, when the tree has `n_leaves` leaves now?
    fn can_split(&self, leaf: &Leaf, n_leaves: usize) -> bool {
        let p = &self.params;
        (!p.leafwise || n_leaves < p.num_leaves)
            && p.max_depth.is_none_or(|d| leaf.depth < d)
            && leaf.sums.n >= 2.0 * p.min_data_in_leaf as f64
            && leaf.sums.h >= 2.0 * p.min_sum_hessian
    }

    fn take_hist(&mut self) -> Histogram {
        self.pool
            .pop()
            .unwrap_or_else(|| Histogram::new(self.mappers.len()))
    }

    /// Builds a histogram over a leaf's rows, gathering their gradients
    /// into row order first.
    fn build_ordered(
        &mut self,
        hist: &mut Histogram,
        leaf: Leaf,
        g: &[f64],
        h: Option<&[f64]>,
        features: &[usize],
    ) {
        let rows = &self.rows[leaf.begin..leaf.end];
        self.ordered_g.clear();
        self.ordered_g.extend(rows.iter().map(|&r| g[r as usize]));
        if let Some(h) = h {
            self.ordered_h.clear();
            self.ordered_h.extend(rows.iter().map(|&r| h[r as usize]));
        }
        let grads = Grads {
            g: &self.ordered_g,
            h: h.map(|_| self.ordered_h.as_slice()),
        };
        hist.build(self.bins, Some(rows), grads, features, &self.n_slots);
    }

    fn split(
        &mut self,
        grow: &mut Vec<Growing>,
        nodes: &mut Vec<GrownNode>,
        at: usize,
        g: &[f64],
        h: Option<&[f64]>,
        features: &[usize],
    ) {
        let (parent, split) = match (grow[at].leaf, grow[at].best.take()) {
            (p, Some(s)) => (p, s),
            _ => return,
        };
        let parent_hist = grow[at].hist.take();
        let mapper = &self.mappers[split.feature];
        let n_left = partition(
            &mut self.rows[parent.begin..parent.end],
            &mut self.scratch_left,
            &mut self.scratch_right,
            self.bins.column(split.feature),
            split.bin,
            mapper.missing_bin(),
            split.default_left,
        );
        debug_assert_eq!(n_left as f64, split.left.n);
        let (ln, rn) = (nodes.len(), nodes.len() + 1);
        let (li, ri) = (at, grow.len());
        nodes[parent.node] = GrownNode::Split {
            feature: split.feature,
            bin: split.bin,
            missing_bin: mapper.missing_bin(),
            default_left: split.default_left,
            left: ln,
            right: rn,
            cover: parent.sums.n,
        };
        nodes.push(GrownNode::Leaf {
            leaf: li,
            cover: split.left.n,
        });
        nodes.push(GrownNode::Leaf {
            leaf: ri,
            cover: split.right.n,
        });
        let mid = parent.begin + n_left;
        let depth = parent.depth + 1;
        let left = Leaf {
            begin: parent.begin,
            end: mid,
            sums: split.left,
            depth,
            node: ln,
        };
        let right = Leaf {
            begin: mid,
            end: parent.end,
            sums: split.right,
            depth,
            node: rn,
        };
        grow[at] = Growing {
            leaf: left,
            hist: None,
            best: None,
        };
        grow.push(Growing {
            leaf: right,
            hist: None,
            best: None,
        });

        let (l_ok, r_ok) = (
            self.can_split(&left, grow.len()),
            self.can_split(&right, grow.len()),
        );
        let Some(mut parent_hist) = parent_hist else {
            return;
        };
        if !l_ok && !r_ok {
            self.pool.push(parent_hist);
            return;
        }
        // Build the smaller child; the larger is the parent minus it.
        let left_smaller = left.end - left.begin <= right.end - right.begin;
        let (small, small_i, small_ok, large_i, large_ok) = if left_smaller {
            (left, li, l_ok, ri, r_ok)
        } else {
            (right, ri, r_ok, li, l_ok)
        };
        let mut small_hist = self.take_hist();
        self.build_ordered(&mut small_hist, small, g, h, features);
        if large_ok {
            parent_hist.subtract(&small_hist, features, &self.n_slots);
            grow[large_i].best = best_split(
                &self.params,
                self.mappers,
                &parent_hist,
                grow[large_i].leaf.sums,
                features,
            );
            self.keep_or_recycle(&mut grow[large_i], parent_hist);
        } else {
            self.pool.push(parent_hist);
        }
        if small_ok {
            grow[small_i].best = best_split(
                &self.params,
                self.mappers,
                &small_hist,
                small.sums,
                features,
            );
            self.keep_or_recycle(&mut grow[small_i], small_hist);
        } else {
            self.pool.push(small_hist);
        }
    }

    /// A leaf keeps its histogram only while it has a split to make.
    fn keep_or_recycle(&mut self, s: &mut Growing, hist: Histogram) {
        if s.best.is_some() {
            s.hist = Some(hist);
        } else {
            self.pool.push(hist);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::hist::binning::build_mappers;

    fn params(leafwise: bool) -> TreeParams {
        TreeParams {
            leafwise,
            num_leaves: 4,
            max_depth: None,
            min_data_in_leaf: 1,
            min_sum_hessian: 1e-3,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
        }
    }

    /// A step in x0 plus missing x1 carrying its own signal: leaf-wise growth
    /// finds both, and the missing direction is learned.
    #[test]
    fn finds_the_step_and_the_missing_direction() {
        let n = 400;
        let x0: Vec<f64> = (0..n).map(|i| (i % 20) as f64).collect();
        let x1: Vec<f64> = (0..n)
            .map(|i| if i % 4 == 0 { f64::NAN } else { (i % 7) as f64 })
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| if x0[i] < 10.0 { 0.0 } else { 4.0 } + if x1[i].is_nan() { 10.0 } else { 0.0 })
            .collect();
        let cols: Vec<&[f64]> = vec![&x0, &x1];
        let all: Vec<u32> = (0..n as u32).collect();
        let mappers = build_mappers(&cols, &all, 255, 0).unwrap();
        let bins = BinnedMatrix::new(&cols, None, &mappers);
        let mean = y.iter().sum::<f64>() / n as f64;
        let g: Vec<f64> = y.iter().map(|v| mean - v).collect();
        for leafwise in [true, false] {
            let mut p = params(leafwise);
            p.max_depth = Some(2);
            let mut grower = Grower::new(&bins, &mappers, p);
            let tree = grower.grow(None, &g, None, &[0, 1]);
            assert_eq!(tree.leaves.len(), 4);
            let GrownNode::Split {
                feature,
                default_left,
                bin,
                ..
            } = tree.nodes[0]
            else {
                panic!("root is a leaf")
            };
            // The biggest gain: isolate the missing x1 rows.
            assert_eq!(feature, 1);
            assert_eq!(mappers[1].threshold(bin), f64::MAX);
            assert!(!default_left);
            let values: Vec<f64> = tree.leaves.iter().map(|l| p.leaf_output(l.sums)).collect();
            for (r, &want) in y.iter().enumerate() {
                let leaf = tree.leaf_of(&bins, r);
                assert!((values[leaf] - (want - mean)).abs() < 1e-9);
                assert!(grower.leaf_rows(&tree.leaves[leaf]).contains(&(r as u32)));
            }
            let nodes = tree.to_tree_nodes(&values, &mappers);
            assert_eq!(nodes[0].cover, n as f64);
        }
    }

    #[test]
    fn respects_min_data_and_constant_features() {
        let x = vec![3.0; 50];
        let cols: Vec<&[f64]> = vec![&x];
        let all: Vec<u32> = (0..50).collect();
        let mappers = build_mappers(&cols, &all, 255, 0).unwrap();
        let bins = BinnedMatrix::new(&cols, None, &mappers);
        let g: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let mut grower = Grower::new(&bins, &mappers, params(true));
        assert_eq!(grower.grow(None, &g, None, &[0]).leaves.len(), 1);

        let x: Vec<f64> = (0..50).map(f64::from).collect();
        let cols: Vec<&[f64]> = vec![&x];
        let mappers = build_mappers(&cols, &all, 255, 0).unwrap();
        let bins = BinnedMatrix::new(&cols, None, &mappers);
        let mut p = params(true);
        p.min_data_in_leaf = 20;
        let tree = Grower::new(&bins, &mappers, p).grow(None, &g, None, &[0]);
        assert!(tree.leaves.len() <= 2);
        assert!(tree.leaves.iter().all(|l| l.sums.n >= 20.0));
    }
}
