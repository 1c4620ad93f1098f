//! Feature binning: each feature's values are cut into at most `max_bin`
//! quantile bins, and the training matrix is stored as one `u8` bin index per
//! value, column-major (`bins[f * n_rows + row]`).
//!
//! Bin `b` of a feature holds the values `x` with `upper[b-1] < x <= upper[b]`,
//! so a split "bins `0..=t` go left" is exactly the real-valued rule
//! `x <= upper[t]` that [`SplitRule::LessEqual`](crate::ml::forest::SplitRule)
//! applies at prediction time. Upper bounds sit halfway between neighbouring
//! distinct training values, as LightGBM places them.
//!
//! Missing values (NaN) get a bin of their own after the value bins, always
//! present, so every split can learn where missing values belong even when a
//! feature had none at training time.
//!
//! Infinite values fall in the first or last value bin; the last bin's upper
//! bound is `f64::MAX` (finite, so the model serialises to JSON). The one
//! consequence: a "missing vs. everything else" split sends `+inf` right at
//! prediction time but trained it left. Real data rarely carries infinities.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::ml::MlError;

/// Rows used to find bin boundaries; LightGBM's `bin_construct_sample_cnt`.
/// Quantiles from 200k rows are as good as from all rows, and sorting
/// stays cheap on very tall tables.
pub const BIN_SAMPLE_ROWS: usize = 200_000;

/// Histogram slots reserved per feature: every `u8` bin index fits, so the
/// histogram kernel needs no bounds checks.
pub const SLOTS: usize = 256;

/// How one feature's values map to bins.
#[derive(Debug, Clone, PartialEq)]
pub struct BinMapper {
    /// Upper bound of each value bin; the last is `f64::MAX`.
    upper: Vec<f64>,
}

impl BinMapper {
    /// Builds the mapper from a feature's sampled values (NaNs allowed).
    /// `max_bin` counts value bins; the missing bin comes on top.
    pub fn from_values(values: &[f64], max_bin: usize) -> BinMapper {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_unstable_by(f64::total_cmp);
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for x in v {
            match distinct.last_mut() {
                Some((last, c)) if *last == x => *c += 1,
                _ => distinct.push((x, 1)),
            }
        }
        let mut upper = Vec::new();
        if distinct.len() <= max_bin {
            for w in distinct.windows(2) {
                upper.push(between(w[0].0, w[1].0));
            }
        } else {
            upper = greedy_bounds(&distinct, max_bin);
        }
        upper.push(f64::MAX);
        BinMapper { upper }
    }

    /// Value bins (without the missing bin).
    pub fn n_value_bins(&self) -> usize {
        self.upper.len()
    }

    /// The bin index of missing values.
    pub fn missing_bin(&self) -> u8 {
        // `upper.len() <= max_bin <= 255`, checked by `HistParams::validate`.
        self.upper.len() as u8
    }

    /// The real threshold of the split "bins `0..=bin` go left".
    pub fn threshold(&self, bin: u8) -> f64 {
        self.upper[bin as usize]
    }

    #[inline]
    pub fn bin(&self, x: f64) -> u8 {
        if x.is_nan() {
            return self.missing_bin();
        }
        // First bin whose upper bound is >= x; +inf lands in the last bin.
        let b = self.upper.partition_point(|&u| u < x);
        b.min(self.upper.len() - 1) as u8
    }
}

/// A threshold strictly between `a < b` that `a` satisfies (`a <= t`) and
/// `b` does not. The midpoint, unless rounding put it onto `b`.
fn between(a: f64, b: f64) -> f64 {
    let mid = a + (b - a) / 2.0;
    if mid < b && mid >= a && mid.is_finite() {
        mid
    } else {
        a
    }
}

/// Equal-frequency bins over distinct values with counts: each bin closes
/// once it holds its share of the rows still to place, or when closing is
/// nearer that share than taking the next value; a heavy value thus ends up
/// in a bin of its own instead of swallowing its neighbours.
fn greedy_bounds(distinct: &[(f64, usize)], max_bin: usize) -> Vec<f64> {
    let mut remaining: usize = distinct.iter().map(|d| d.1).sum();
    let mut bins_left = max_bin;
    let mut upper = Vec::with_capacity(max_bin);
    let mut cur = 0usize;
    for i in 0..distinct.len() - 1 {
        cur += distinct[i].1;
        let target = remaining as f64 / bins_left as f64;
        let next = distinct[i + 1].1;
        let over = (cur + next) as f64 - target;
        let under = target - cur as f64;
        if bins_left > 1 && (cur as f64 >= target || over > under) {
            upper.push(between(distinct[i].0, distinct[i + 1].0));
            remaining -= cur;
            bins_left -= 1;
            cur = 0;
        }
    }
    upper
}

/// A binned matrix: the training rows, or a validation set binned with the
/// training rows' mappers.
#[derive(Debug)]
pub struct BinnedMatrix {
    pub n_rows: usize,
    /// `bins[f * n_rows + row]`.
    bins: Vec<u8>,
}

impl BinnedMatrix {
    /// Bins `rows` (all rows when `None`) of `columns` with `mappers`.
    pub fn new(columns: &[&[f64]], rows: Option<&[u32]>, mappers: &[BinMapper]) -> BinnedMatrix {
        let n_rows = rows.map_or(columns.first().map_or(0, |c| c.len()), <[u32]>::len);
        let mut bins = vec![0u8; n_rows * columns.len()];
        if n_rows > 0 {
            bins.par_chunks_mut(n_rows)
                .zip(columns.par_iter().zip(mappers))
                .for_each(|(out, (col, mapper))| match rows {
                    Some(rows) => {
                        for (o, &r) in out.iter_mut().zip(rows) {
                            *o = mapper.bin(col[r as usize]);
                        }
                    }
                    None => {
                        for (o, &x) in out.iter_mut().zip(col.iter()) {
                            *o = mapper.bin(x);
                        }
                    }
                });
        }
        BinnedMatrix { n_rows, bins }
    }

    #[inline]
    pub fn column(&self, f: usize) -> &[u8] {
        &self.bins[f * self.n_rows..(f + 1) * self.n_rows]
    }

    /// Bytes held: one per value.
    pub fn heap_bytes(&self) -> usize {
        self.bins.len()
    }
}

/// Finds every feature's bins from (a sample of) the training rows.
pub fn build_mappers(
    columns: &[&[f64]],
    rows: &[u32],
    max_bin: usize,
    seed: u64,
) -> Result<Vec<BinMapper>, MlError> {
    if rows.is_empty() {
        return Err(MlError::InvalidInput("no training rows to bin".into()));
    }
    let sampled: Vec<u32> = if rows.len() > BIN_SAMPLE_ROWS {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut s: Vec<u32> = sample(&mut rng, rows.len(), BIN_SAMPLE_ROWS)
            .into_iter()
            .map(|i| rows[i])
            .collect();
        s.sort_unstable();
        s
    } else {
        rows.to_vec()
    };
    Ok(columns
        .par_iter()
        .map(|col| {
            let values: Vec<f64> = sampled.iter().map(|&r| col[r as usize]).collect();
            BinMapper::from_values(&values, max_bin)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let m = BinMapper::from_values(&[3.0, 1.0, 2.0, 1.0, f64::NAN], 255);
        assert_eq!(m.n_value_bins(), 3);
        assert_eq!(m.threshold(0), 1.5);
        assert_eq!(m.threshold(1), 2.5);
        assert_eq!(m.threshold(2), f64::MAX);
        assert_eq!(
            [1.0, 2.0, 3.0, 1.5, 0.0, 9.0, f64::INFINITY, f64::NAN].map(|x| m.bin(x)),
            [0, 1, 2, 0, 0, 2, 2, 3]
        );
    }

    /// The binned rule "bin <= t" and the real rule "x <= threshold(t)" agree
    /// on every value, including neighbouring floats where midpoints round.
    #[test]
    fn bins_agree_with_thresholds() {
        let a = 1.0f64;
        let b = f64::from_bits(a.to_bits() + 1);
        let mut values: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1000) as f64 / 7.0)
            .collect();
        values.extend([a, b, -1e300, 1e300]);
        let m = BinMapper::from_values(&values, 63);
        assert!(m.n_value_bins() <= 63);
        for t in 0..m.n_value_bins() as u8 {
            for &x in &values {
                assert_eq!(m.bin(x) <= t, x <= m.threshold(t), "x {x} t {t}");
            }
        }
    }

    #[test]
    fn quantile_bins_are_balanced_and_heavy_values_isolated() {
        // 10_000 distinct values plus one value repeated 3000 times.
        let mut values: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        values.extend(std::iter::repeat_n(5000.5, 3000));
        let m = BinMapper::from_values(&values, 16);
        assert_eq!(m.n_value_bins(), 16);
        let mut counts = vec![0usize; 17];
        for &x in &values {
            counts[m.bin(x) as usize] += 1;
        }
        let heavy = m.bin(5000.5) as usize;
        assert_eq!(counts[heavy], 3000, "{counts:?}");
        for (b, &c) in counts[..16].iter().enumerate() {
            assert!(b == heavy || (100..=1000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn constant_and_all_missing_columns_have_one_value_bin() {
        for col in [vec![2.0; 10], vec![f64::NAN; 10]] {
            let m = BinMapper::from_values(&col, 255);
            assert_eq!(m.n_value_bins(), 1);
            assert_eq!(m.missing_bin(), 1);
        }
    }

    #[test]
    fn matrix_is_column_major_over_selected_rows() {
        let c0 = [0.0, 1.0, 2.0, f64::NAN];
        let c1 = [5.0, 5.0, 6.0, 6.0];
        let cols: Vec<&[f64]> = vec![&c0, &c1];
        let rows = [0u32, 1, 2, 3];
        let mappers = build_mappers(&cols, &rows, 255, 1).unwrap();
        let m = BinnedMatrix::new(&cols, Some(&[3, 0]), &mappers);
        assert_eq!(m.n_rows, 2);
        assert_eq!(m.column(0), &[3, 0]);
        assert_eq!(m.column(1), &[1, 0]);
        assert_eq!(m.heap_bytes(), 4);
    }
}
