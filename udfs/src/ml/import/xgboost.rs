//! XGBoost's JSON model format (`booster.save_model("m.json")`).
//!
//! XGBoost keeps trees as parallel arrays indexed by node id, with
//! `left_children == -1` marking a leaf whose value sits in
//! `split_conditions`. Values are float32 in XGBoost, so they are rounded to
//! f32 here before widening: thresholds then compare exactly as XGBoost
//! compares them. All trees are used, as `Booster.predict` does; a model
//! saved after early stopping still holds the trees past `best_iteration`.

use std::fmt::Display;

use serde::Deserialize;
use serde_json::Value;

use super::{Imported, ImportedTask, default_feature_names};
use crate::ml::MlError;
use crate::ml::forest::{ForestBuilder, Link, SplitRule, TreeNode};

fn invalid(msg: impl Display) -> MlError {
    MlError::InvalidModel(format!("XGBoost model: {msg}"))
}

fn unsupported(msg: impl Display) -> MlError {
    MlError::Unsupported(format!("XGBoost model: {msg}"))
}

/// How `base_score` maps to the raw margin: XGBoost stores it in the
/// objective's output space and converts it on load.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Base {
    Raw,
    Logit,
}

fn objective(name: &str) -> Result<(ImportedTask, Link, Base), MlError> {
    use ImportedTask::*;
    Ok(match name {
        "reg:squarederror"
        | "reg:linear"
        | "reg:squaredlogerror"
        | "reg:absoluteerror"
        | "reg:pseudohubererror"
        | "reg:quantileerror" => (Regression, Link::Identity, Base::Raw),
        "reg:logistic" => (Regression, Link::Logistic, Base::Logit),
        "binary:logistic" => (Binary, Link::Logistic, Base::Logit),
        // Its predictions are margins, and so is its base_score (checked
        // against XGBoost 3.2: no logit applied on load).
        "binary:logitraw" => (Binary, Link::Identity, Base::Raw),
        n if n.starts_with("multi:") => {
            return Err(unsupported(format!(
                "multiclass objective '{n}' is not supported"
            )));
        }
        n => {
            return Err(unsupported(format!(
                "objective '{n}' is not supported; supported are reg:squarederror, \
                 reg:squaredlogerror, reg:absoluteerror, reg:pseudohubererror, \
                 reg:quantileerror, reg:logistic, binary:logistic and binary:logitraw"
            )));
        }
    })
}

/// The node at a JSON pointer, or an error naming what is missing.
fn at<'a>(doc: &'a Value, pointer: &str) -> Result<&'a Value, MlError> {
    doc.pointer(pointer)
        .ok_or_else(|| invalid(format!("missing {pointer}")))
}

/// Model parameters are strings in XGBoost's JSON ("5", "5E-1"); accept
/// plain numbers too.
fn param(doc: &Value, pointer: &str) -> Result<String, MlError> {
    match at(doc, pointer)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(invalid(format!("{pointer} is {other}, expected a string"))),
    }
}

fn param_usize(doc: &Value, pointer: &str) -> Result<usize, MlError> {
    let s = param(doc, pointer)?;
    s.trim()
        .parse()
        .map_err(|_| invalid(format!("{pointer} is '{s}', expected a count")))
}

/// `"5E-1"` (XGBoost 1.x/2.x) or `"[5E-1]"` (3.x, one entry per target).
fn parse_base_score(s: &str) -> Result<f64, MlError> {
    let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    if parts.len() != 1 {
        return Err(unsupported(format!(
            "base_score '{s}' has {} entries: multi-target models are not supported",
            parts.len()
        )));
    }
    match parts[0].parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v as f64),
        _ => Err(invalid(format!("base_score '{s}' is not a number"))),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
}

#[derive(Deserialize)]
struct TreeParam {
    #[serde(default)]
    size_leaf_vector: Option<Value>,
}

#[derive(Deserialize)]
struct Tree {
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<i64>,
    split_conditions: Vec<f64>,
    default_left: Vec<Flag>,
    sum_hessian: Vec<f64>,
    #[serde(default)]
    split_type: Vec<i64>,
    #[serde(default)]
    categories: Vec<i64>,
    #[serde(default)]
    tree_param: Option<TreeParam>,
}

fn f32_exact(v: f64) -> f64 {
    v as f32 as f64
}

/// Converts one tree, walking from the root so that nodes a pruner marked
/// deleted (left in the arrays, unreachable) are dropped.
fn convert_tree(t: usize, tree: &Tree) -> Result<Vec<TreeNode>, MlError> {
    let n = tree.left_children.len();
    if n == 0 {
        return Err(invalid(format!("tree {t} has no nodes")));
    }
    let lens = [
        ("right_children", tree.right_children.len()),
        ("split_indices", tree.split_indices.len()),
        ("split_conditions", tree.split_conditions.len()),
        ("default_left", tree.default_left.len()),
        ("sum_hessian", tree.sum_hessian.len()),
    ];
    for (name, len) in lens {
        if len != n {
            return Err(invalid(format!(
                "tree {t}: {name} has {len} entries but left_children has {n}"
            )));
        }
    }
    if tree.split_type.iter().any(|&s| s != 0) || !tree.categories.is_empty() {
        return Err(unsupported(format!(
            "tree {t} has categorical splits, which are not supported; retrain with \
             numeric (e.g. one-hot) features"
        )));
    }
    if let Some(size) = tree
        .tree_param
        .as_ref()
        .and_then(|p| p.size_leaf_vector.as_ref())
    {
        let size = match size {
            Value::String(s) => s.parse::<u64>().ok(),
            v => v.as_u64(),
        };
        if size.is_some_and(|s| s > 1) {
            return Err(unsupported(format!(
                "tree {t} has vector leaves (multi-target)"
            )));
        }
    }
    let child = |i: usize, c: i64| -> Result<usize, MlError> {
        usize::try_from(c)
            .ok()
            .filter(|&c| c < n)
            .ok_or_else(|| invalid(format!("tree {t}: node {i} has child {c}, out of range")))
    };
    // order[k] is the file's id of the k-th node kept; new_id is the inverse.
    let mut order = vec![0usize];
    let mut new_id = vec![usize::MAX; n];
    new_id[0] = 0;
    let mut out = Vec::with_capacity(n);
    let mut k = 0;
    while k < order.len() {
        let i = order[k];
        let cover = f32_exact(tree.sum_hessian[i]);
        if tree.left_children[i] == -1 {
            out.push(TreeNode::leaf(f32_exact(tree.split_conditions[i]), cover));
        } else {
            let (l, r) = (
                child(i, tree.left_children[i])?,
                child(i, tree.right_children[i])?,
            );
            for c in [l, r] {
                if new_id[c] != usize::MAX {
                    return Err(invalid(format!("tree {t}: node {c} is reached twice")));
                }
                new_id[c] = order.len();
                order.push(c);
            }
            let feature = u32::try_from(tree.split_indices[i]).map_err(|_| {
                invalid(format!(
                    "tree {t}: node {i} splits on feature {}",
                    tree.split_indices[i]
                ))
            })?;
            let default_left = match tree.default_left[i] {
                Flag::Bool(b) => b,
                Flag::Int(v) => v != 0,
            };
            let threshold = f32_exact(tree.split_conditions[i]);
            out.push(TreeNode::split(
                feature,
                threshold,
                new_id[l],
                new_id[r],
                default_left,
                cover,
            ));
        }
        k += 1;
    }
    Ok(out)
}

pub(super) fn import(bytes: &[u8]) -> Result<Imported, MlError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "not valid JSON ({e}); save the model with a .json file name \
             (the binary UBJSON format is not supported)"
        ))
    })?;
    let name = at(&doc, "/learner/objective/name")?
        .as_str()
        .ok_or_else(|| invalid("/learner/objective/name is not a string"))?;
    let num_class = param_usize(&doc, "/learner/learner_model_param/num_class")?;
    if num_class > 1 {
        return Err(unsupported(format!(
            "multiclass models ({num_class} classes, objective '{name}') are not supported"
        )));
    }
    if doc
        .pointer("/learner/learner_model_param/num_target")
        .is_some()
        && param_usize(&doc, "/learner/learner_model_param/num_target")? > 1
    {
        return Err(unsupported("multi-target models are not supported"));
    }
    let (task, link, base) = objective(name)?;

    let booster = at(&doc, "/learner/gradient_booster/name")?
        .as_str()
        .unwrap_or("");
    match booster {
        "gbtree" => {}
        "gblinear" => {
            return Err(unsupported(
                "the gblinear booster is not supported (trees only)",
            ));
        }
        "dart" => return Err(unsupported("the dart booster is not supported; use gbtree")),
        other => return Err(unsupported(format!("booster '{other}' is not supported"))),
    }
    let trees = at(&doc, "/learner/gradient_booster/model/trees")?
        .as_array()
        .ok_or_else(|| invalid("/learner/gradient_booster/model/trees is not an array"))?;
    // tree_info gives each tree's output group; more than one is multiclass.
    let info = doc
        .pointer("/learner/gradient_booster/model/tree_info")
        .and_then(Value::as_array);
    if info.is_some_and(|groups| groups.iter().any(|g| g.as_i64() != Some(0))) {
        return Err(unsupported(
            "trees for several outputs (multiclass) are not supported",
        ));
    }

    let n_features = param_usize(&doc, "/learner/learner_model_param/num_feature")?;
    let names: Vec<String> = match doc.pointer("/learner/feature_names") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("feature_names holds a non-string"))?,
        _ => default_feature_names(n_features),
    };
    if names.len() != n_features {
        return Err(invalid(format!(
            "{} feature names for {n_features} features",
            names.len()
        )));
    }

    let stored = parse_base_score(&param(&doc, "/learner/learner_model_param/base_score")?)?;
    let base_score = match base {
        Base::Raw => stored,
        Base::Logit if stored > 0.0 && stored < 1.0 => (stored / (1.0 - stored)).ln(),
        Base::Logit => {
            return Err(invalid(format!(
                "base_score {stored} is not a probability for '{name}'"
            )));
        }
    };

    let mut builder = ForestBuilder::new(names, link, SplitRule::LessF32, base_score);
    for (t, value) in trees.iter().enumerate() {
        let tree = Tree::deserialize(value).map_err(|e| invalid(format!("tree {t}: {e}")))?;
        let nodes = convert_tree(t, &tree)?;
        builder.add_tree(&nodes).map_err(|e| match e {
            MlError::InvalidModel(m) => invalid(format!("tree {t}: {m}")),
            other => other,
        })?;
    }
    Ok(Imported {
        forest: builder.build(),
        task,
        objective: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::import::golden::{fixture, load};
    use crate::ml::import::{ModelFormat, import_model};

    fn golden_case(model: &str, golden: &str, task: ImportedTask, link: Link) {
        let imported = import_model(ModelFormat::XGBoost, &fixture(model)).expect(model);
        let g = load(golden);
        assert_eq!(imported.task, task);
        assert_eq!(imported.objective, g.objective);
        assert_eq!(imported.forest.link, link);
        let pred = g.check_predictions(&imported.forest, 1.0);
        let shap = g.check_contribs(&imported.forest, 1.0);
        eprintln!("{model}: worst predict/raw error {pred:.2e}, SHAP {shap:.2e}");
    }

    #[test]
    fn matches_xgboost_regression() {
        golden_case(
            "xgb_reg.json",
            "xgb_reg.golden.json",
            ImportedTask::Regression,
            Link::Identity,
        );
        let f = import_model(ModelFormat::XGBoost, &fixture("xgb_reg.json"))
            .unwrap()
            .forest;
        assert_eq!(f.feature_names, ["lat", "lon", "score", "visits", "age"]);
        assert_eq!(f.n_trees(), 20);
    }

    #[test]
    fn matches_xgboost_binary() {
        golden_case(
            "xgb_bin.json",
            "xgb_bin.golden.json",
            ImportedTask::Binary,
            Link::Logistic,
        );
        let f = import_model(ModelFormat::XGBoost, &fixture("xgb_bin.json"))
            .unwrap()
            .forest;
        assert_eq!(f.feature_names, ["f0", "f1", "f2", "f3", "f4"]);
    }

    #[test]
    fn matches_xgboost_logitraw() {
        let (task, link) = (ImportedTask::Binary, Link::Identity);
        golden_case("xgb_logitraw.json", "xgb_logitraw.golden.json", task, link);
    }

    #[test]
    fn base_score_forms() {
        assert_eq!(parse_base_score("5E-1").unwrap(), 0.5);
        assert_eq!(parse_base_score("[5E-1]").unwrap(), 0.5);
        assert_eq!(parse_base_score(" [-1.25E0] ").unwrap(), -1.25);
        assert!(matches!(
            parse_base_score("[5E-1,1E0]"),
            Err(MlError::Unsupported(_))
        ));
        assert!(matches!(
            parse_base_score("nope"),
            Err(MlError::InvalidModel(_))
        ));
    }

    /// The regression fixture with one edit applied.
    fn edited(edit: impl FnOnce(&mut Value)) -> Result<Imported, MlError> {
        let mut doc: Value = serde_json::from_slice(&fixture("xgb_reg.json")).unwrap();
        edit(&mut doc);
        import_model(ModelFormat::XGBoost, &serde_json::to_vec(&doc).unwrap())
    }

    type Edit = Box<dyn FnOnce(&mut Value)>;

    fn tree0(doc: &mut Value) -> &mut Value {
        &mut doc["learner"]["gradient_booster"]["model"]["trees"][0]
    }

    #[test]
    fn malformed_files_are_errors() {
        let bytes = fixture("xgb_reg.json");
        let truncated = import_model(ModelFormat::XGBoost, &bytes[..bytes.len() / 2]);
        assert!(matches!(truncated, Err(MlError::InvalidModel(_))));
        for junk in [
            &b""[..],
            b"not json",
            b"{\"foo\": 1}",
            b"[1, 2]",
            b"{\"learner\": 3}",
        ] {
            let r = import_model(ModelFormat::XGBoost, junk);
            assert!(matches!(r, Err(MlError::InvalidModel(_))), "{r:?}");
        }
        let cases: Vec<Edit> = vec![
            Box::new(|d| tree0(d)["left_children"][0] = 999.into()),
            Box::new(|d| tree0(d)["left_children"][0] = 0.into()),
            Box::new(|d| tree0(d)["split_indices"][0] = 7.into()),
            Box::new(|d| tree0(d)["split_indices"][0] = (-3).into()),
            Box::new(|d| tree0(d)["sum_hessian"] = Value::Array(vec![])),
            Box::new(|d| {
                tree0(d).as_object_mut().unwrap().remove("split_conditions");
            }),
            Box::new(|d| d["learner"]["learner_model_param"]["base_score"] = "[abc]".into()),
            Box::new(|d| d["learner"]["learner_model_param"]["num_feature"] = "x".into()),
        ];
        for (i, edit) in cases.into_iter().enumerate() {
            let r = edited(edit);
            assert!(
                matches!(r, Err(MlError::InvalidModel(_))),
                "case {i}: {r:?}"
            );
        }
    }

    #[test]
    fn unsupported_models_are_errors() {
        let cases: Vec<Edit> = vec![
            Box::new(|d| tree0(d)["split_type"][0] = 1.into()),
            Box::new(|d| tree0(d)["categories"] = serde_json::json!([1, 3])),
            Box::new(|d| {
                d["learner"]["learner_model_param"]["num_class"] = "3".into();
                d["learner"]["objective"]["name"] = "multi:softprob".into();
            }),
            Box::new(|d| d["learner"]["objective"]["name"] = "multi:softmax".into()),
            Box::new(|d| d["learner"]["objective"]["name"] = "count:poisson".into()),
            Box::new(|d| d["learner"]["gradient_booster"]["model"]["tree_info"][1] = 1.into()),
            Box::new(|d| d["learner"]["learner_model_param"]["num_target"] = "2".into()),
            Box::new(|d| d["learner"]["gradient_booster"]["name"] = "dart".into()),
            Box::new(|d| d["learner"]["gradient_booster"]["name"] = "gblinear".into()),
        ];
        for (i, edit) in cases.into_iter().enumerate() {
            let r = edited(edit);
            assert!(matches!(r, Err(MlError::Unsupported(_))), "case {i}: {r:?}");
        }
    }

    #[test]
    fn deleted_nodes_are_skipped_and_bool_flags_accepted() {
        let tree = serde_json::json!({
            "left_children": [1, -1, -1, -1], "right_children": [2, -1, -1, -1],
            "split_indices": [0, 0, 0, 0], "split_conditions": [0.5, -1.0, 1.0, 9.0],
            "default_left": [true, false, false, false], "sum_hessian": [4.0, 1.0, 3.0, 0.0],
        });
        let r = edited(|d| {
            d["learner"]["gradient_booster"]["model"]["trees"] = Value::Array(vec![tree])
        });
        let f = r.unwrap().forest;
        assert_eq!(f.n_nodes(), 3);
        let base = f.base_score;
        assert_eq!(f.predict_row_raw(&[0.5, 0.0, 0.0, 0.0, 0.0]) - base, 1.0);
        assert_eq!(
            f.predict_row_raw(&[f64::NAN, 0.0, 0.0, 0.0, 0.0]) - base,
            -1.0
        );
    }
}
