//! Random search over declared parameter ranges. Trial 0 is always the
//! configuration the options describe, so a search never ends worse than
//! not searching.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ml::MlError;
use crate::ml::options::{Params, Range, Trainer};

/// The space searched when the options give none.
pub fn default_space(trainer: Trainer) -> BTreeMap<String, Range> {
    if trainer == Trainer::Hist {
        return BTreeMap::from([
            ("n_estimators".to_string(), Range::Bounds(50.0, 400.0)),
            (
                "learning_rate".to_string(),
                Range::Scaled(0.02, 0.3, "log".into()),
            ),
            (
                "num_leaves".to_string(),
                Range::Scaled(8.0, 128.0, "log".into()),
            ),
            (
                "min_leaf_size".to_string(),
                Range::Scaled(5.0, 100.0, "log".into()),
            ),
            ("lambda_l2".to_string(), Range::Bounds(0.0, 10.0)),
        ]);
    }
    BTreeMap::from([
        ("n_estimators".to_string(), Range::Bounds(50.0, 300.0)),
        (
            "learning_rate".to_string(),
            Range::Scaled(0.02, 0.3, "log".into()),
        ),
        ("max_depth".to_string(), Range::Bounds(2.0, 8.0)),
        (
            "min_leaf_size".to_string(),
            Range::Scaled(5.0, 100.0, "log".into()),
        ),
    ])
}

/// `trials` parameter sets drawn with `seed`, starting with `base`.
pub fn sample(
    base: &Params,
    space: &BTreeMap<String, Range>,
    trials: usize,
    seed: u64,
) -> Result<Vec<Params>, MlError> {
    let space = if space.is_empty() {
        default_space(base.algorithm)
    } else {
        space.clone()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EA2C4);
    let mut out = vec![base.clone()];
    while out.len() < trials {
        let mut p = base.clone();
        for (name, range) in &space {
            let v = match range {
                Range::Choices { choices } => *choices
                    .get(rng.random_range(0..choices.len().max(1)))
                    .ok_or_else(|| {
                        MlError::InvalidOption(format!("search range of {name} has no choices"))
                    })?,
                Range::Bounds(lo, hi) => uniform(&mut rng, name, *lo, *hi)?,
                Range::Scaled(lo, hi, scale) if scale == "log" => {
                    if *lo <= 0.0 {
                        return Err(MlError::InvalidOption(format!(
                            "log range of {name} must start above 0"
                        )));
                    }
                    uniform(&mut rng, name, lo.ln(), hi.ln())?.exp()
                }
                Range::Scaled(_, _, scale) => {
                    return Err(MlError::InvalidOption(format!(
                        "unknown scale \"{scale}\" for {name}; use [low, high] or [low, high, \"log\"]"
                    )));
                }
            };
            p.set(name, v)?;
        }
        p.validate()?;
        out.push(p);
    }
    Ok(out)
}

fn uniform(rng: &mut ChaCha8Rng, name: &str, lo: f64, hi: f64) -> Result<f64, MlError> {
    if lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) {
        return Err(MlError::InvalidOption(format!(
            "search range of {name} is [{lo}, {hi}]; the low end must not exceed the high end"
        )));
    }
    Ok(if lo == hi {
        lo
    } else {
        rng.random_range(lo..=hi)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_in_range() {
        let base = Params {
            algorithm: Trainer::Gbdt,
            ..Params::default()
        };
        let a = sample(&base, &BTreeMap::new(), 20, 1).unwrap();
        assert_eq!(a, sample(&base, &BTreeMap::new(), 20, 1).unwrap());
        assert_eq!(a[0], base);
        for p in &a[1..] {
            assert!((50..=300).contains(&p.n_estimators));
            assert!(p.learning_rate >= 0.02 && p.learning_rate <= 0.3);
        }
        let bad = BTreeMap::from([("depth".to_string(), Range::Bounds(1.0, 2.0))]);
        assert!(sample(&base, &bad, 3, 1).is_err());
    }
}
