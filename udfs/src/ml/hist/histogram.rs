//! Gradient/hessian histograms: for one tree node and each feature, the sums
//! of gradients, hessians and rows that fall in each bin.
//!
//! Building a histogram is where training spends its time, so the kernel is
//! shaped for it:
//! * gradients arrive *ordered* (gathered into the node's row order once),
//!   so only the `u8` bins are read at random;
//! * features are processed four at a time in one pass over the rows, so a
//!   row's index and gradient are loaded once per four updates;
//! * every feature owns [`SLOTS`] = 256 slots, so a `u8` bin index needs no
//!   bounds check;
//! * a bin's gradient sum and row count sit side by side and are updated by
//!   one 16-byte add; losses with a constant hessian (1) keep no hessian
//!   sums at all (the row count is the hessian sum).
//!
//! Features are built in parallel with rayon. Each feature's sums are added
//! in row order by one thread, so results do not depend on the thread count.
//! Only the smaller child of a split is built; its sibling is the parent
//! minus it ([`Histogram::subtract`]).

use rayon::prelude::*;

use crate::ml::hist::binning::{BinnedMatrix, SLOTS};

/// Sums over the rows in one bin (or one node).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BinStat {
    pub g: f64,
    pub h: f64,
    /// Row count, as f64 so it subtracts like the other sums (exact to 2^53).
    pub n: f64,
}

impl std::ops::Add for BinStat {
    type Output = BinStat;

    #[inline]
    fn add(self, o: BinStat) -> BinStat {
        BinStat {
            g: self.g + o.g,
            h: self.h + o.h,
            n: self.n + o.n,
        }
    }
}

impl std::ops::Sub for BinStat {
    type Output = BinStat;

    #[inline]
    fn sub(self, o: BinStat) -> BinStat {
        BinStat {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

/// Gradients of the rows a histogram is built over. With `rows`, entry `k`
/// belongs to row `rows[k]` (ordered); without, entry `r` to row `r`.
#[derive(Clone, Copy)]
pub struct Grads<'a> {
    pub g: &'a [f64],
    /// `None`: every hessian is 1.
    pub h: Option<&'a [f64]>,
}

/// One node's histogram. Per feature, `SLOTS` pairs `(g, n)` — adjacent, so
/// one 16-byte add updates both — and, unless every hessian is 1, the
/// hessian sums alongside (with a constant hessian, `h == n`).
#[derive(Debug, Clone)]
pub struct Histogram {
    gn: Vec<[[f64; 2]; SLOTS]>,
    h: Vec<[f64; SLOTS]>,
}

/// Below this many bin updates a node is built on the calling thread: rayon's
/// hand-off costs more than it saves.
const PARALLEL_MIN_UPDATES: usize = 1 << 15;

/// Features per pass over the rows.
const BLOCK: usize = 4;

pub type GnSlots = [[f64; 2]; SLOTS];
pub type HSlots = [f64; SLOTS];

/// Runs `kernel` on blocks of 1..=BLOCK features (as an array, so the
/// feature loop unrolls).
macro_rules! by_block {
    ($block:expr, $kernel:ident, $($arg:expr),*) => {
        match $block {
            [a, b, c, d] => $kernel($($arg,)* [a, b, c, d]),
            [a, b, c] => $kernel($($arg,)* [a, b, c]),
            [a, b] => $kernel($($arg,)* [a, b]),
            [a] => $kernel($($arg,)* [a]),
            _ => {}
        }
    };
}

impl Histogram {
    pub fn new(n_features: usize) -> Histogram {
        Histogram {
            gn: vec![[[0.0; 2]; SLOTS]; n_features],
            h: Vec::new(),
        }
    }

    /// The sums of bin `b` of feature `f`.
    #[inline]
    pub fn stat(&self, f: usize, b: usize) -> BinStat {
        let [g, n] = self.gn[f][b];
        let h = if self.h.is_empty() { n } else { self.h[f][b] };
        BinStat { g, h, n }
    }

    /// Feature `f`'s `(g, n)` pairs and hessian sums (`None`: `h == n`).
    #[inline]
    pub fn feature(&self, f: usize) -> (&GnSlots, Option<&HSlots>) {
        (&self.gn[f], self.h.get(f))
    }

    /// Fills the histogram of the sorted `features` (the first `n_slots[f]`
    /// bins of each) over `rows` (all rows of `bins` when `None`).
    pub fn build(
        &mut self,
        bins: &BinnedMatrix,
        rows: Option<&[u32]>,
        grads: Grads<'_>,
        features: &[usize],
        n_slots: &[usize],
    ) {
        let updates = rows.map_or(bins.n_rows, <[u32]>::len) * features.len();
        let used = |f: &usize| features.binary_search(f).is_ok();
        match grads.h {
            None => {
                self.h = Vec::new();
                let mut targets: Vec<(usize, &mut GnSlots)> = self
                    .gn
                    .iter_mut()
                    .enumerate()
                    .filter(|(f, _)| used(f))
                    .collect();
                run(&mut targets, updates, |block| {
                    for (f, gn) in block.iter_mut() {
                        gn[..n_slots[*f]].fill([0.0; 2]);
                    }
                    by_block!(block, kernel_g, bins, rows, grads.g);
                });
            }
            Some(hs) => {
                if self.h.len() != self.gn.len() {
                    self.h = vec![[0.0; SLOTS]; self.gn.len()];
                }
                let mut targets: Vec<(usize, &mut GnSlots, &mut HSlots)> = self
                    .gn
                    .iter_mut()
                    .zip(self.h.iter_mut())
                    .enumerate()
                    .filter(|(f, _)| used(f))
                    .map(|(f, (gn, h))| (f, gn, h))
                    .collect();
                run(&mut targets, updates, |block| {
                    for (f, gn, h) in block.iter_mut() {
                        gn[..n_slots[*f]].fill([0.0; 2]);
                        h[..n_slots[*f]].fill(0.0);
                    }
                    by_block!(block, kernel_gh, bins, rows, grads.g, hs);
                });
            }
        }
    }

    /// Turns a parent's histogram into the larger child's: `self -= child`.
    pub fn subtract(&mut self, child: &Histogram, features: &[usize], n_slots: &[usize]) {
        for &f in features {
            let n = n_slots[f];
            for (p, c) in self.gn[f][..n].iter_mut().zip(&child.gn[f][..n]) {
                p[0] -= c[0];
                p[1] -= c[1];
            }
            if let (Some(p), Some(c)) = (self.h.get_mut(f), child.h.get(f)) {
                for (p, c) in p[..n].iter_mut().zip(&c[..n]) {
                    *p -= c;
                }
            }
        }
    }
}

/// Runs `work` on blocks of at most `BLOCK` features. In parallel, the
/// block count is a multiple of the thread count and block sizes differ by
/// at most one, so threads get equal shares (50 features on 2 threads:
/// 14 blocks of 3–4, not 12 of 4 and one of 2).
fn run<T: Send>(targets: &mut [T], updates: usize, work: impl Fn(&mut [T]) + Sync + Send) {
    if updates < PARALLEL_MIN_UPDATES {
        targets.chunks_mut(BLOCK).for_each(work);
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let n_blocks = threads * targets.len().div_ceil(BLOCK * threads);
    let mut blocks: Vec<&mut [T]> = Vec::with_capacity(n_blocks);
    let mut rest = targets;
    for i in 0..n_blocks {
        let size = rest.len().div_ceil(n_blocks - i);
        let (block, tail) = rest.split_at_mut(size);
        blocks.push(block);
        rest = tail;
    }
    blocks.into_par_iter().for_each(work);
}

/// Gradient sums and counts of `K` features in one pass over the rows.
#[inline(always)]
fn kernel_g<const K: usize>(
    bins: &BinnedMatrix,
    rows: Option<&[u32]>,
    g: &[f64],
    block: [&mut (usize, &mut GnSlots); K],
) {
    let cols: [&[u8]; K] = std::array::from_fn(|j| bins.column(block[j].0));
    let mut gn: [&mut GnSlots; K] = block.map(|t| &mut *t.1);
    let mut add = |r: usize, g: f64| {
        for j in 0..K {
            let s = &mut gn[j][cols[j][r] as usize];
            s[0] += g;
            s[1] += 1.0;
        }
    };
    match rows {
        Some(rows) => rows.iter().zip(g).for_each(|(&r, &g)| add(r as usize, g)),
        None => g[..bins.n_rows]
            .iter()
            .enumerate()
            .for_each(|(r, &g)| add(r, g)),
    }
}

/// As [`kernel_g`], plus hessian sums.
#[inline(always)]
fn kernel_gh<const K: usize>(
    bins: &BinnedMatrix,
    rows: Option<&[u32]>,
    g: &[f64],
    h: &[f64],
    block: [&mut (usize, &mut GnSlots, &mut HSlots); K],
) {
    let cols: [&[u8]; K] = std::array::from_fn(|j| bins.column(block[j].0));
    let mut slots: [(&mut GnSlots, &mut HSlots); K] = block.map(|t| (&mut *t.1, &mut *t.2));
    let mut add = |r: usize, g: f64, h: f64| {
        for j in 0..K {
            let b = cols[j][r] as usize;
            let (gn, hs) = &mut slots[j];
            gn[b][0] += g;
            gn[b][1] += 1.0;
            hs[b] += h;
        }
    };
    match rows {
        Some(rows) => rows
            .iter()
            .zip(g)
            .zip(h)
            .for_each(|((&r, &g), &h)| add(r as usize, g, h)),
        None => g[..bins.n_rows]
            .iter()
            .zip(h)
            .enumerate()
            .for_each(|(r, (&g, &h))| add(r, g, h)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::hist::binning::build_mappers;

    fn setup() -> (BinnedMatrix, Vec<usize>) {
        let c0: Vec<f64> = (0..100).map(|i| (i % 7) as f64).collect();
        let c1: Vec<f64> = (0..100)
            .map(|i| if i % 5 == 0 { f64::NAN } else { i as f64 })
            .collect();
        let c2 = vec![1.0; 100];
        let cols: Vec<&[f64]> = vec![&c0, &c1, &c2];
        let all: Vec<u32> = (0..100).collect();
        let mappers = build_mappers(&cols, &all, 16, 0).unwrap();
        let n_slots = mappers.iter().map(|m| m.n_value_bins() + 1).collect();
        (BinnedMatrix::new(&cols, None, &mappers), n_slots)
    }

    /// Slow reference: one row at a time, straight from the definition.
    fn naive(bins: &BinnedMatrix, rows: &[u32], g: &[f64], h: &[f64], f: usize) -> Vec<BinStat> {
        let mut out = vec![BinStat::default(); SLOTS];
        for &r in rows {
            let s = &mut out[bins.column(f)[r as usize] as usize];
            s.g += g[r as usize];
            s.h += h[r as usize];
            s.n += 1.0;
        }
        out
    }

    #[test]
    fn build_matches_naive_and_subtraction_gives_sibling() {
        let (bins, n_slots) = setup();
        let g: Vec<f64> = (0..100).map(|i| (i as f64).sin()).collect();
        let h: Vec<f64> = (0..100).map(|i| 0.5 + (i % 3) as f64).collect();
        let features = [0, 1, 2];
        let all: Vec<u32> = (0..100).collect();
        let left: Vec<u32> = (0..100).filter(|r| r % 3 == 0).collect();
        let right: Vec<u32> = (0..100).filter(|r| r % 3 != 0).collect();
        let gather =
            |rows: &[u32], v: &[f64]| rows.iter().map(|&r| v[r as usize]).collect::<Vec<_>>();

        let mut parent = Histogram::new(3);
        parent.build(
            &bins,
            None,
            Grads { g: &g, h: Some(&h) },
            &features,
            &n_slots,
        );
        let mut child = Histogram::new(3);
        let (gl, hl) = (gather(&left, &g), gather(&left, &h));
        child.build(
            &bins,
            Some(&left),
            Grads {
                g: &gl,
                h: Some(&hl),
            },
            &features,
            &n_slots,
        );
        for f in features {
            let want = naive(&bins, &all, &g, &h, f);
            let want_child = naive(&bins, &left, &g, &h, f);
            for (b, want) in want.iter().enumerate().take(n_slots[f]) {
                assert!((parent.stat(f, b).g - want.g).abs() < 1e-12);
                assert_eq!(child.stat(f, b).n, want_child[b].n);
                assert!((child.stat(f, b).h - want_child[b].h).abs() < 1e-12);
            }
        }
        parent.subtract(&child, &features, &n_slots);
        for f in features {
            let want = naive(&bins, &right, &g, &h, f);
            for (b, want) in want.iter().enumerate().take(n_slots[f]) {
                assert!((parent.stat(f, b).g - want.g).abs() < 1e-12);
                assert_eq!(parent.stat(f, b).n, want.n);
            }
        }
    }

    #[test]
    fn constant_hessian_counts_rows_and_skips_unused_features() {
        let (bins, n_slots) = setup();
        let g = vec![2.0; 100];
        let mut hist = Histogram::new(3);
        hist.build(&bins, None, Grads { g: &g, h: None }, &[1], &n_slots);
        let total: f64 = (0..SLOTS).map(|b| hist.stat(1, b).n).sum();
        assert_eq!(total, 100.0);
        let missing = hist.stat(1, n_slots[1] - 1);
        assert_eq!((missing.n, missing.h, missing.g), (20.0, 20.0, 40.0));
        assert!((0..SLOTS).all(|b| hist.stat(0, b).n == 0.0));
    }
}
