//! Start-up recovery of the registry tables, and the clean-up after a
//! registration that failed in-process.
//!
//! A registration commits once, with its `voidx.models` row (see
//! [`super::registry`]). A crash before that commit leaves rows in
//! `voidx.model_artifacts`, `voidx.feature_importance` and
//! `voidx.deployments` that name a version `voidx.models` does not have.
//! At start [`recover`]:
//!
//! 1. reserves, per model, the highest version found in *any* registry
//!    table, so a number written anywhere is never handed out again;
//! 2. appends one `role = 'abandoned'` row to `voidx.runs` for each orphaned
//!    version that has no run row yet — the durable record that keeps the
//!    number used once its other rows are gone;
//! 3. deletes the orphaned artifact and importance rows, and drops deploy
//!    events (and splits) naming an unregistered version;
//! 4. gives `voidx.deployments` its `seq` column if the table predates it
//!    (numbered in `created_at`, then file, order).
//!
//! Each step is one Delta commit and repeating it is harmless, so a crash
//! during recovery is recovered by the next start. Runs of a training that
//! did not finish stay in `voidx.runs`: they are the record of the attempt.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use super::registry::Registry;
use super::tables::{self, Deployment, ModelVersion, Run};
use crate::error::Result;
use crate::storage::catalog::now_ms;
use crate::storage::delta;

/// What the registry starts from.
pub struct Recovered {
    pub versions: Vec<ModelVersion>,
    /// Honoured events only, in `seq` order.
    pub deployments: Vec<Deployment>,
    /// Highest version number used anywhere, per model.
    pub reserved: HashMap<String, i64>,
}

type Key = (String, i64);

#[derive(serde::Deserialize)]
struct Used {
    model: String,
    version: i64,
}

/// The (model, version) pairs of a registry table.
async fn keys(registry: &Registry, table: &str) -> Result<Vec<Key>> {
    let batches = registry.read(table, None).await?;
    let projected = batches
        .iter()
        .map(|b| {
            let schema = b.schema();
            let idx = [schema.index_of("model")?, schema.index_of("version")?];
            b.project(&idx)
        })
        .collect::<std::result::Result<Vec<RecordBatch>, _>>()?;
    Ok(tables::from_batches::<Used>(&projected)?
        .into_iter()
        .map(|u| (u.model, u.version))
        .collect())
}

/// Versions named by a split event's shares.
fn split_versions(event: &Deployment) -> Vec<i64> {
    event
        .traffic
        .as_deref()
        .and_then(|t| serde_json::from_str::<HashMap<String, f64>>(t).ok())
        .map(|m| m.keys().filter_map(|k| k.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// The versions an event would give traffic to, if they exist.
fn promoted(event: &Deployment) -> Vec<i64> {
    match event.action.as_str() {
        "deploy" => event.version.into_iter().collect(),
        "split" => split_versions(event),
        _ => Vec::new(),
    }
}

/// The deployment log in replay order, and whether it has `seq` stored.
pub(super) async fn load_deployments(registry: &Registry) -> Result<(Vec<Deployment>, bool)> {
    let table = registry
        .catalog()
        .delta_table(&registry.location("deployments"))
        .await?;
    let has_seq = table
        .table_provider()
        .await?
        .schema()
        .fields()
        .iter()
        .any(|f| f.name() == "seq");
    let mut events: Vec<Deployment> =
        tables::from_batches(&registry.read("deployments", None).await?)?;
    if has_seq {
        // Two servers deploying at the same moment may both write one
        // seq; every server orders such a tie the same way.
        events.sort_by(|a, b| {
            (a.seq, a.created_at, &a.model, a.version, &a.action).cmp(&(
                b.seq,
                b.created_at,
                &b.model,
                b.version,
                &b.action,
            ))
        });
    } else {
        // Before `seq`: clock order, ties in file order (the sort is stable).
        events.sort_by_key(|d| d.created_at);
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
    }
    Ok((events, has_seq))
}

/// The events that count: those whose versions `voidx.models` has (a deploy
/// event of a registration that has not committed, here or on another
/// server, promotes nothing).
pub(super) fn honoured(events: Vec<Deployment>, versions: &[ModelVersion]) -> Vec<Deployment> {
    let known: HashSet<Key> = versions
        .iter()
        .map(|v| (v.name.clone(), v.version))
        .collect();
    events
        .into_iter()
        .filter(|e| {
            promoted(e)
                .iter()
                .all(|v| known.contains(&(e.model.clone(), *v)))
        })
        .collect()
}

fn quote(text: &str) -> String {
    text.replace('\'', "''")
}

/// `(model = 'm' AND version = 3) OR …`
fn predicate(keys: &BTreeSet<Key>, extra: &str) -> String {
    keys.iter()
        .map(|(m, v)| format!("(model = '{}' AND version = {v}{extra})", quote(m)))
        .collect::<Vec<_>>()
        .join(" OR ")
}

async fn delete_where(registry: &Registry, table: &str, predicate: String) -> Result<()> {
    let location = registry.location(table);
    let delta_table = registry.catalog().delta_table(&location).await?;
    delta_table.delete().with_predicate(predicate).await?;
    registry.catalog().forget_table(&location);
    Ok(())
}

fn abandoned(model: &str, version: i64, reason: &str) -> Run {
    Run {
        model: model.to_string(),
        version,
        trial: 0,
        fold: None,
        role: "abandoned".into(),
        params: serde_json::json!({ "reason": reason }).to_string(),
        metric: String::new(),
        score: 0.0,
        duration_ms: 0,
        created_at: now_ms(),
    }
}

/// Replaces the deployment log with `events` (and the current schema).
async fn rewrite_deployments(registry: &Registry, events: &[Deployment]) -> Result<()> {
    let schema = tables::deployments_schema();
    let target = delta::delta_schema(&schema);
    let batch = delta::cast_batch(&tables::to_batch(&schema, events)?, &target)?;
    let location = registry.location("deployments");
    let table = DeltaTable::try_from_url(delta::location_url(&location, true)?).await?;
    table
        .write(vec![batch])
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(SchemaMode::Overwrite)
        .await?;
    registry.catalog().forget_table(&location);
    Ok(())
}

/// Loads the registry tables and repairs what a crash left (module docs).
pub async fn recover(registry: &Registry) -> Result<Recovered> {
    let versions: Vec<ModelVersion> = tables::from_batches(&registry.read("models", None).await?)?;
    let known: HashSet<Key> = versions
        .iter()
        .map(|v| (v.name.clone(), v.version))
        .collect();
    let (events, has_seq) = load_deployments(registry).await?;
    let artifacts = keys(registry, "model_artifacts").await?;
    let importance = keys(registry, "feature_importance").await?;
    let runs: HashSet<Key> = keys(registry, "runs").await?.into_iter().collect();

    let mut reserved: HashMap<String, i64> = HashMap::new();
    let mut used = |model: &str, version: i64| {
        let e = reserved.entry(model.to_string()).or_insert(0);
        *e = (*e).max(version);
    };
    for (m, v) in known
        .iter()
        .chain(&artifacts)
        .chain(&importance)
        .chain(&runs)
    {
        used(m, *v);
    }
    for e in &events {
        for v in e.version.iter().chain(&e.previous_version) {
            used(&e.model, *v);
        }
        for v in split_versions(e) {
            used(&e.model, v);
        }
    }

    let is_known = |model: &str, v: &i64| known.contains(&(model.to_string(), *v));
    let orphan_rows: BTreeSet<Key> = artifacts
        .iter()
        .chain(&importance)
        .filter(|(m, v)| !is_known(m, v))
        .cloned()
        .collect();
    let (kept, dropped): (Vec<Deployment>, Vec<Deployment>) = events
        .into_iter()
        .partition(|e| promoted(e).iter().all(|v| is_known(&e.model, v)));
    let mut orphans = orphan_rows.clone();
    for e in &dropped {
        for v in promoted(e).into_iter().filter(|v| !is_known(&e.model, v)) {
            orphans.insert((e.model.clone(), v));
        }
    }
    if !orphans.is_empty() {
        tracing::warn!(
            ?orphans,
            "registry rows of unfinished registrations found; removing them"
        );
    }

    // 2. The marker first: once it is committed the number stays used
    // whatever else the clean-up gets to.
    let markers: Vec<Run> = orphans
        .iter()
        .filter(|k| !runs.contains(*k))
        .map(|(m, v)| abandoned(m, *v, "registration did not finish (found at start)"))
        .collect();
    registry.append("runs", &markers).await?;
    // 3. and 4.
    if !orphan_rows.is_empty() {
        delete_where(registry, "model_artifacts", predicate(&orphan_rows, "")).await?;
        delete_where(registry, "feature_importance", predicate(&orphan_rows, "")).await?;
    }
    if !has_seq || !dropped.is_empty() {
        rewrite_deployments(registry, &kept).await?;
    }
    Ok(Recovered {
        versions,
        deployments: kept,
        reserved,
    })
}

/// Takes back the rows of a registration that failed before its commit
/// (best effort: whatever is left, [`recover`] removes at the next start).
pub async fn discard(registry: &Registry, model: &str, version: i64, reason: &str) {
    let key: BTreeSet<Key> = [(model.to_string(), version)].into();
    let marker = abandoned(model, version, reason);
    let steps = async {
        registry.append("runs", &[marker]).await?;
        delete_where(registry, "model_artifacts", predicate(&key, "")).await?;
        delete_where(registry, "feature_importance", predicate(&key, "")).await?;
        delete_where(
            registry,
            "deployments",
            predicate(&key, " AND action = 'deploy'"),
        )
        .await
    };
    if let Err(e) = steps.await {
        tracing::warn!(
            model,
            version,
            "could not remove the rows of a failed registration (start-up recovery will): {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Schema;

    use super::*;
    use crate::config::Config;

    fn version(v: i64) -> ModelVersion {
        serde_json::from_value(serde_json::json!({
            "name": "m", "version": v, "stage": "staging", "traffic_share": 0.0,
            "task": "regression", "algorithm": "hist", "objective": "squared_error",
            "metric": "rmse", "rows": 1, "features": "[]", "params": "{}",
            "data_versions": "{}", "options": "{}", "source": "train",
            "duration_ms": 0, "created_at": 0
        }))
        .unwrap()
    }

    fn deploy(v: i64, at: i64) -> Deployment {
        Deployment {
            model: "m".into(),
            action: "deploy".into(),
            version: Some(v),
            previous_version: None,
            reason: "deploy()".into(),
            traffic: None,
            created_at: at,
            seq: 0,
        }
    }

    /// A data directory from before `seq`: it opens, the log replays in
    /// `created_at` order (not file order), and the column is added.
    #[tokio::test(flavor = "multi_thread")]
    async fn deployments_without_seq_replay_by_created_at() {
        let dir = tempfile::tempdir().unwrap();
        let voidx = dir.path().join("voidx");
        let models = tables::models_schema();
        let batch = tables::to_batch(&models, &[version(1), version(2)]).unwrap();
        delta::create_with(
            &voidx.join("models").display().to_string(),
            models,
            vec![batch],
        )
        .await
        .unwrap();
        let old: Vec<_> = tables::deployments_schema()
            .fields()
            .iter()
            .filter(|f| f.name() != "seq")
            .cloned()
            .collect();
        let old = Arc::new(Schema::new(old));
        // In the file: v1 (later clock) before v2 (earlier clock).
        let batch = tables::to_batch(&old, &[deploy(1, 2000), deploy(2, 1000)]).unwrap();
        let location = voidx.join("deployments").display().to_string();
        delta::create_with(&location, old, vec![batch])
            .await
            .unwrap();

        let config = Config {
            data_dir: dir.path().display().to_string(),
            ..Config::default()
        };
        let app = crate::app::App::open(&config).await.unwrap();
        assert_eq!(app.registry.production("m"), Some(1));
        let (events, has_seq) = load_deployments(&app.registry).await.unwrap();
        assert!(has_seq);
        let order: Vec<(Option<i64>, i64)> = events.iter().map(|e| (e.version, e.seq)).collect();
        assert_eq!(order, [(Some(2), 1), (Some(1), 2)]);
        // voidx.models was brought in line with the log.
        let stages: Vec<String> = app
            .registry
            .versions()
            .into_iter()
            .map(|v| v.stage)
            .collect();
        assert_eq!(stages, ["production", "archived"]);
    }
}
