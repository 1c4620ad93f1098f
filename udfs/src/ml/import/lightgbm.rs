//! LightGBM's text model format (`booster.save_model("m.txt")`).
//!
//! A header of `key=value` lines, then one `Tree=N` block per tree until
//! `end of trees`. In a block, internal nodes are numbered `0..num_leaves-1`
//! and a negative child `c` is leaf `!c`; leaf values already include the
//! shrinkage. LightGBM has no base score: the init score is folded into the
//! first tree. All trees in the file are used, as `Booster.predict` does for
//! a file saved with its default `num_iteration`.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use super::{Imported, ImportedTask, default_feature_names};
use crate::ml::MlError;
use crate::ml::forest::{ForestBuilder, Link, SplitRule, TreeNode};

fn invalid(msg: impl Display) -> MlError {
    MlError::InvalidModel(format!("LightGBM model: {msg}"))
}

fn unsupported(msg: impl Display) -> MlError {
    MlError::Unsupported(format!("LightGBM model: {msg}"))
}

/// LightGBM's `kZeroThreshold`: a float constant, compared as a double.
const ZERO_BAND: f64 = 1e-35_f32 as f64;

/// Task, link and the factor applied to leaves (`sigmoid:S` of `binary`).
fn objective(line: &str) -> Result<(String, ImportedTask, Link, f64), MlError> {
    let mut tokens = line.split_whitespace();
    let name = tokens
        .next()
        .ok_or_else(|| invalid("the objective line is empty"))?;
    let options: Vec<&str> = tokens.collect();
    let (task, link, scale) = match name {
        "regression" if options.contains(&"sqrt") => {
            return Err(unsupported(
                "objective 'regression sqrt' (reg_sqrt) is not supported",
            ));
        }
        "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
            (ImportedTask::Regression, Link::Identity, 1.0)
        }
        "binary" => {
            let sigmoid = match options.iter().find_map(|o| o.strip_prefix("sigmoid:")) {
                None => 1.0,
                Some(s) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .ok_or_else(|| invalid(format!("objective '{line}' has an invalid sigmoid")))?,
            };
            (ImportedTask::Binary, Link::Logistic, sigmoid)
        }
        "cross_entropy" | "xentropy" => (ImportedTask::Binary, Link::Logistic, 1.0),
        "multiclass" | "multiclassova" => {
            return Err(unsupported(format!(
                "multiclass objective '{name}' is not supported"
            )));
        }
        other => {
            return Err(unsupported(format!(
                "objective '{other}' is not supported; supported are regression, \
                 regression_l1, huber, fair, quantile, mape, binary and cross_entropy"
            )));
        }
    };
    Ok((name.to_string(), task, link, scale))
}

/// One `Tree=N` block's `key=value` lines.
struct Block<'a> {
    number: &'a str,
    fields: HashMap<&'a str, &'a str>,
}

impl Block<'_> {
    fn get(&self, key: &str) -> Result<&str, MlError> {
        self.fields
            .get(key)
            .copied()
            .ok_or_else(|| invalid(format!("tree {} has no {key} line", self.number)))
    }

    fn scalar<T: FromStr>(&self, key: &str) -> Result<T, MlError> {
        let v = self.get(key)?;
        v.trim()
            .parse()
            .map_err(|_| invalid(format!("tree {}: {key} is '{v}'", self.number)))
    }

    fn array<T: FromStr>(&self, key: &str, len: usize) -> Result<Vec<T>, MlError> {
        let values = self
            .get(key)?
            .split_whitespace()
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid(format!("tree {}: {key} holds '{v}'", self.number)))
            })
            .collect::<Result<Vec<T>, _>>()?;
        if values.len() != len {
            return Err(invalid(format!(
                "tree {}: {key} has {} values, expected {len}",
                self.number,
                values.len()
            )));
        }
        Ok(values)
    }

    /// Row counts are what LightGBM's TreeSHAP weighs children by; weights
    /// (hessian sums) are only a fallback for files without counts.
    fn covers(&self, kind: &str, len: usize) -> Result<Vec<f64>, MlError> {
        let count = format!("{kind}_count");
        if self.fields.contains_key(count.as_str()) {
            self.array(&count, len)
        } else {
            self.array(&format!("{kind}_weight"), len)
        }
    }
}

/// Where NaN goes at a split, reproducing LightGBM's `NumericalDecision`.
fn default_left(block: &Block, i: usize, decision: u8, threshold: f64) -> Result<bool, MlError> {
    let flag = decision & 2 != 0;
    match (decision >> 2) & 3 {
        // Missing type None: NaN is read as 0.0 and compared.
        0 => Ok(0.0 <= threshold),
        // Zero: NaN and the zero band take the default side, which the forest
        // can express only when the threshold already sends the band there.
        1 if (flag && threshold >= ZERO_BAND) || (!flag && threshold < -ZERO_BAND) => Ok(flag),
        1 => Err(unsupported(format!(
            "tree {} node {i}: a zero_as_missing split sends zeros against the threshold, \
             which this engine cannot express; retrain with zero_as_missing=false",
            block.number
        ))),
        2 => Ok(flag),
        _ => Err(invalid(format!(
            "tree {} node {i}: decision_type {decision}",
            block.number
        ))),
    }
}

fn convert_tree(block: &Block, scale: f64) -> Result<Vec<TreeNode>, MlError> {
    let num = block.number;
    let n_leaves: usize = block.scalar("num_leaves")?;
    if n_leaves == 0 {
        return Err(invalid(format!("tree {num} has no leaves")));
    }
    if block.fields.get("num_cat").is_some_and(|v| v.trim() != "0") {
        return Err(unsupported(format!("tree {num} has categorical splits")));
    }
    if block
        .fields
        .get("is_linear")
        .is_some_and(|v| v.trim() != "0")
    {
        return Err(unsupported(format!(
            "tree {num} is a linear tree (linear_tree=true)"
        )));
    }
    let leaf_values: Vec<f64> = block.array("leaf_value", n_leaves)?;
    if n_leaves == 1 {
        // A single leaf may come with empty weight lines; its cover never
        // enters a prediction or a SHAP value.
        let cover = block.covers("leaf", 1).map(|c| c[0]).unwrap_or(0.0);
        return Ok(vec![TreeNode::leaf(scale * leaf_values[0], cover)]);
    }
    let n_splits = n_leaves - 1;
    let features: Vec<u32> = block.array("split_feature", n_splits)?;
    let thresholds: Vec<f64> = block.array("threshold", n_splits)?;
    let decisions: Vec<u8> = block.array("decision_type", n_splits)?;
    let lefts: Vec<i64> = block.array("left_child", n_splits)?;
    let rights: Vec<i64> = block.array("right_child", n_splits)?;
    let leaf_covers = block.covers("leaf", n_leaves)?;
    let internal_covers = block.covers("internal", n_splits)?;

    // Internal node i stays at i; leaf j goes to n_splits + j.
    let index = |i: usize, c: i64| -> Result<usize, MlError> {
        let idx = if c >= 0 {
            Some(c as usize).filter(|&c| c < n_splits)
        } else {
            Some(!c as usize)
                .filter(|&l| l < n_leaves)
                .map(|l| n_splits + l)
        };
        idx.ok_or_else(|| invalid(format!("tree {num} node {i} has child {c}, out of range")))
    };
    let mut nodes = Vec::with_capacity(n_splits + n_leaves);
    for i in 0..n_splits {
        if decisions[i] & 1 != 0 {
            return Err(unsupported(format!(
                "tree {num} node {i} is a categorical split"
            )));
        }
        let (left, right) = (index(i, lefts[i])?, index(i, rights[i])?);
        let default = default_left(block, i, decisions[i], thresholds[i])?;
        let cover = internal_covers[i];
        nodes.push(TreeNode::split(
            features[i],
            thresholds[i],
            left,
            right,
            default,
            cover,
        ));
    }
    for (value, cover) in leaf_values.iter().zip(&leaf_covers) {
        nodes.push(TreeNode::leaf(scale * value, *cover));
    }
    Ok(nodes)
}

pub(super) fn import(bytes: &[u8]) -> Result<Imported, MlError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid("not UTF-8 text; save the model with booster.save_model('m.txt')"))?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .peekable();
    if lines.next() != Some("tree") {
        return Err(invalid(
            "the first line is not 'tree': not a LightGBM text model",
        ));
    }
    // Checked first so that a cut-off file is reported as such, not as
    // whatever half line it ends with.
    if !text.lines().any(|l| l.trim() == "end of trees") {
        return Err(invalid("no 'end of trees' line: the file is truncated"));
    }
    let mut header = HashMap::new();
    while let Some(line) = lines.next_if(|l| !l.starts_with("Tree=") && *l != "end of trees") {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        header.insert(key, value);
    }
    let mut blocks = Vec::new();
    while let Some(line) = lines.next() {
        if line == "end of trees" {
            break;
        }
        let number = line
            .strip_prefix("Tree=")
            .ok_or_else(|| invalid(format!("expected a Tree= line, found '{line}'")))?;
        let mut fields = HashMap::new();
        while let Some(l) = lines.next_if(|l| !l.starts_with("Tree=") && *l != "end of trees") {
            let (key, value) = l
                .split_once('=')
                .ok_or_else(|| invalid(format!("tree {number}: bad line '{l}'")))?;
            fields.insert(key, value);
        }
        blocks.push(Block { number, fields });
    }

    let count = |key: &str| -> Result<usize, MlError> {
        let v = header.get(key).copied().unwrap_or("1");
        v.trim()
            .parse()
            .map_err(|_| invalid(format!("{key} is '{v}'")))
    };
    if count("num_class")? > 1 || count("num_tree_per_iteration")? > 1 {
        return Err(unsupported("multiclass models are not supported"));
    }
    let objective_line = header
        .get("objective")
        .ok_or_else(|| invalid("the header has no objective line"))?;
    let (name, task, link, mut scale) = objective(objective_line)?;
    let max_idx = header
        .get("max_feature_idx")
        .ok_or_else(|| invalid("no max_feature_idx line"))?;
    let n_features = max_idx
        .trim()
        .parse::<usize>()
        .map_err(|_| invalid(format!("max_feature_idx is '{max_idx}'")))?
        + 1;
    let names = match header.get("feature_names") {
        Some(list) => list.split_whitespace().map(str::to_string).collect(),
        None => default_feature_names(n_features),
    };
    if names.len() != n_features {
        return Err(invalid(format!(
            "{} feature names for {n_features} features",
            names.len()
        )));
    }
    // boosting=rf averages its trees instead of summing them. (LightGBM's
    // pred_contrib does not divide, so its rf contributions are n_trees
    // times ours and do not add up to its prediction.)
    if header.contains_key("average_output") && !blocks.is_empty() {
        scale /= blocks.len() as f64;
    }

    let mut builder = ForestBuilder::new(names, link, SplitRule::LessEqual, 0.0);
    for block in &blocks {
        let nodes = convert_tree(block, scale)?;
        builder.add_tree(&nodes).map_err(|e| match e {
            MlError::InvalidModel(m) => invalid(format!("tree {}: {m}", block.number)),
            other => other,
        })?;
    }
    Ok(Imported {
        forest: builder.build(),
        task,
        objective: name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::import::golden::{fixture, load};
    use crate::ml::import::{ModelFormat, import_model};

    fn golden_case(name: &str, task: ImportedTask, raw_scale: f64) {
        let model = import_model(ModelFormat::LightGBM, &fixture(&format!("{name}.txt")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let g = load(&format!("{name}.golden.json"));
        assert_eq!(model.task, task);
        assert_eq!(model.objective, g.objective);
        let pred = g.check_predictions(&model.forest, raw_scale);
        let shap = g.check_contribs(&model.forest, raw_scale);
        eprintln!("{name}: worst predict/raw error {pred:.2e}, SHAP {shap:.2e}");
    }

    #[test]
    fn matches_lightgbm_regression() {
        golden_case("lgb_reg", ImportedTask::Regression, 1.0);
        let f = import_model(ModelFormat::LightGBM, &fixture("lgb_reg.txt"))
            .unwrap()
            .forest;
        assert_eq!(f.feature_names[4], "Column_4");
        assert_eq!(
            (f.n_trees(), f.base_score, f.link),
            (20, 0.0, Link::Identity)
        );
    }

    #[test]
    fn matches_lightgbm_binary() {
        golden_case("lgb_bin", ImportedTask::Binary, 1.0);
    }

    #[test]
    fn sigmoid_scales_the_raw_score() {
        golden_case("lgb_bin_sigmoid2", ImportedTask::Binary, 2.0);
    }

    /// A two-tree model on features a, b: a stump on `a` and a single leaf.
    fn model(objective: &str, decision_type: u8, threshold: f64) -> String {
        format!(
            "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=1\n\
             objective={objective}\nfeature_names=a b\n\n\
             Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold={threshold:e}\n\
             decision_type={decision_type}\nleft_child=-1\nright_child=-2\nleaf_value=1 2\n\
             leaf_count=3 1\ninternal_value=0\ninternal_count=4\nis_linear=0\nshrinkage=1\n\n\
             Tree=1\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nthreshold=\ndecision_type=\n\
             left_child=\nright_child=\nleaf_value=10\nleaf_weight=\nleaf_count=4\n\
             internal_value=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\
             end of trees\n\nparameters:\n[boosting: gbdt]\nend of parameters\n"
        )
    }

    fn import_text(text: &str) -> Result<Imported, MlError> {
        import_model(ModelFormat::LightGBM, text.as_bytes())
    }

    /// Raw scores for a = NaN, 0, 0.5 (the threshold in most cases), 1.
    fn raws(decision_type: u8, threshold: f64) -> Vec<f64> {
        let f = import_text(&model("regression", decision_type, threshold))
            .unwrap()
            .forest;
        [f64::NAN, 0.0, 0.5, 1.0]
            .iter()
            .map(|&a| f.predict_row_raw(&[a, 0.0]))
            .collect()
    }

    #[test]
    fn missing_types_follow_lightgbm() {
        // None: NaN is 0.0, whatever the default_left bit says.
        assert_eq!(raws(2, 0.5), [11.0, 11.0, 11.0, 12.0]);
        assert_eq!(raws(2, -0.5), [12.0, 12.0, 12.0, 12.0]);
        // NaN: NaN takes the default side, zero is compared.
        assert_eq!(raws(8, 0.5), [12.0, 11.0, 11.0, 12.0]);
        assert_eq!(raws(10, -0.5), [11.0, 12.0, 12.0, 12.0]);
        // Zero, consistent with the threshold: importable and exact.
        assert_eq!(raws(6, 0.5), [11.0, 11.0, 11.0, 12.0]);
        assert_eq!(raws(4, -0.5), [12.0, 12.0, 12.0, 12.0]);
        assert_eq!(raws(6, ZERO_BAND), [11.0, 11.0, 12.0, 12.0]);
        // Zero, where zeros would go against the threshold.
        for (dt, t) in [(6, -0.5), (4, 0.5), (4, -ZERO_BAND), (6, 0.0)] {
            let r = import_text(&model("regression", dt, t));
            assert!(matches!(r, Err(MlError::Unsupported(_))), "{dt} {t}: {r:?}");
        }
    }

    #[test]
    fn objectives_map_to_links() {
        let f = import_text(&model("binary sigmoid:0.5", 2, 0.5)).unwrap();
        assert_eq!(
            (f.task, f.forest.link, f.objective.as_str()),
            (ImportedTask::Binary, Link::Logistic, "binary")
        );
        assert_eq!(f.forest.predict_row_raw(&[1.0, 0.0]), 6.0);
        let f = import_text(&model("huber alpha:0.9", 2, 0.5)).unwrap();
        assert_eq!(
            (f.task, f.forest.link),
            (ImportedTask::Regression, Link::Identity)
        );
        let rf =
            model("regression", 2, 0.5).replace("feature_names", "average_output\nfeature_names");
        assert_eq!(
            import_text(&rf)
                .unwrap()
                .forest
                .predict_row_raw(&[1.0, 0.0]),
            6.0
        );
        for objective in [
            "poisson",
            "multiclass num_class:3",
            "regression sqrt",
            "lambdarank",
            "",
        ] {
            let r = import_text(&model(objective, 2, 0.5));
            assert!(r.is_err(), "{objective}: {r:?}");
        }
    }

    #[test]
    fn malformed_files_are_errors() {
        let good = String::from_utf8(fixture("lgb_reg.txt")).unwrap();
        let cut = good.find("Tree=7").unwrap();
        let leaf_value = good.find("leaf_value=").unwrap();
        let line_end = leaf_value + good[leaf_value..].find('\n').unwrap();
        let cases = [
            good[..cut].to_string(),
            good[..good.len() / 2].to_string(),
            format!("{}{}", &good[..leaf_value], &good[line_end + 1..]),
            good.replacen("left_child=-1 ", "left_child=99 ", 1),
            good.replacen("leaf_value=", "leaf_value=abc ", 1),
            good.replacen("num_leaves=15", "num_leaves=16", 1),
            good.replacen("split_feature=1 ", "split_feature=9 ", 1),
            good.replacen("max_feature_idx=4", "max_feature_idx=7", 1),
            good.replacen("objective=", "objectiv=", 1),
            good.replacen("decision_type=2", "decision_type=14", 1),
            model("regression", 2, 0.5).replace("left_child=-1", "left_child=0"),
            String::new(),
            "hello\nworld".into(),
            String::from_utf8(fixture("xgb_reg.json")).unwrap(),
        ];
        for (i, text) in cases.iter().enumerate() {
            let r = import_text(text);
            assert!(
                matches!(r, Err(MlError::InvalidModel(_))),
                "case {i}: {r:?}"
            );
        }
        let r = import_text(&format!("{}{}", &good[..leaf_value], &good[line_end + 1..]));
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("tree 0 has no leaf_value line")
        );
        assert!(import_model(ModelFormat::LightGBM, &[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn unsupported_models_are_errors() {
        let good = String::from_utf8(fixture("lgb_reg.txt")).unwrap();
        let cases = [
            good.replacen("decision_type=2", "decision_type=3", 1),
            good.replacen("num_cat=0", "num_cat=1", 1),
            good.replacen("is_linear=0", "is_linear=1", 1),
            good.replacen("num_class=1", "num_class=3", 1),
            good.replacen("num_tree_per_iteration=1", "num_tree_per_iteration=3", 1),
            good.replacen("objective=regression", "objective=poisson", 1),
        ];
        for (i, text) in cases.iter().enumerate() {
            let r = import_text(text);
            assert!(matches!(r, Err(MlError::Unsupported(_))), "case {i}: {r:?}");
        }
    }
}
