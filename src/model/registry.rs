//! The model registry: versions, stages and artifacts, kept in Delta system
//! tables (see [`super::tables`]) and mirrored in memory.
//!
//! **One commit point per change.** A registration writes the artifact, the
//! importances and (when it promotes) a deploy event, and then commits the
//! `voidx.models` rewrite: the version exists from that commit on. Rows of
//! the other tables naming a version that `voidx.models` does not have are
//! never honoured (a deploy event counts only for a registered version) and
//! are removed at start by [`super::recovery`], which also keeps every
//! version number ever written anywhere reserved. `deploy`, `rollback` and
//! `ab_split` commit by appending their event; the `voidx.models` rewrite
//! after it only refreshes the stage columns and is redone at start when a
//! crash cut it off. Events replay in `seq` order (a counter, not a clock):
//! `deploy` pushes a version, `rollback` pops one, the top is production,
//! earlier ones are archived, and never-deployed versions are staging.
//!
//! Commit boundaries carry failpoints (`register.after_artifact`,
//! `register.after_importance`, `register.before_models_commit`,
//! `deploy.before_models_commit`, `rollback.…`, `ab_split.…`); see
//! docs/durability.md for what a crash at each leaves.
//!
//! Artifacts are loaded once per process on first use and shared.
//!
//! **Several servers over one data directory** (replicas, docs/scale.md):
//! every change first brings the state up to what is committed
//! ([`Registry::refresh`], also run every `storage.refresh_ms`), version
//! numbers are claimed with a create-if-absent marker
//! (`voidx/reservations/<model>/<version>`), so two servers training one
//! model never write the same number, and the `voidx.models` rewrite is
//! written on top of the version it was computed from, so a rewrite that
//! raced another server's is computed again instead of dropping its row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use voidx_udfs::ml::MlError;
use voidx_udfs::ml::artifact::ModelArtifact;
use voidx_udfs::ml::options::DeployPolicy;
use voidx_udfs::model::{ModelSource, ResolvedModel};

use super::tables::{self, ArtifactRow, Deployment, Importance, ModelVersion, Run};
use crate::error::{Result, VoidxError};
use crate::storage::catalog::{Catalog, now_ms};
use crate::storage::delta;
use crate::storage::system::SystemSchema;

#[derive(Debug, Default, Clone)]
struct State {
    versions: Vec<ModelVersion>,
    /// The honoured events of `log` ([`super::recovery::honoured`]).
    deployments: Vec<Deployment>,
    /// Every deployment event, in replay order, including those naming a
    /// version that is not registered (yet: another server's registration
    /// writes its event before its commit).
    log: Vec<Deployment>,
    /// Highest version handed out per model (trainings reserve theirs first).
    reserved: HashMap<String, i64>,
    /// The `seq` of the latest deployment event written (or attempted).
    last_seq: i64,
}

impl State {
    /// Recomputes which events count after `versions` or `log` changed.
    fn honour(&mut self) {
        self.deployments = super::recovery::honoured(self.log.clone(), &self.versions);
    }

    fn exists(&self, name: &str, version: i64) -> bool {
        self.versions
            .iter()
            .any(|v| v.name == name && v.version == version)
    }

    /// The production stack of `name`, oldest first.
    fn stack(&self, name: &str) -> Vec<i64> {
        let mut stack = Vec::new();
        for d in self.deployments.iter().filter(|d| d.model == name) {
            match (d.action.as_str(), d.version) {
                // A deploy of the version on top only ended a split: it is
                // not a second entry, so one rollback still goes back.
                ("deploy", Some(v)) if stack.last() == Some(&v) => {}
                ("deploy", Some(v)) if self.exists(name, v) => stack.push(v),
                ("rollback", _) => {
                    stack.pop();
                }
                _ => {}
            }
        }
        stack
    }

    fn production(&self, name: &str) -> Option<i64> {
        self.stack(name).last().copied()
    }

    /// Whether an A/B split of `name` is on (its latest event is a split).
    fn splitting(&self, name: &str) -> bool {
        self.deployments
            .iter()
            .rev()
            .find(|d| d.model == name)
            .is_some_and(|d| d.action == "split")
    }

    /// Traffic shares of `name`: the latest `split` unless a deploy or
    /// rollback came after it; otherwise all traffic to production.
    fn traffic(&self, name: &str) -> Vec<(i64, f64)> {
        let last = self.deployments.iter().rev().find(|d| d.model == name);
        if let Some(d) = last
            && d.action == "split"
            && let Some(shares) = d.traffic.as_deref().and_then(parse_shares)
        {
            return shares;
        }
        self.production(name)
            .map(|v| vec![(v, 1.0)])
            .unwrap_or_default()
    }

    /// Recomputes every version's stage and traffic share from the log.
    fn restage(&mut self) {
        let mut stacks: HashMap<String, Vec<i64>> = HashMap::new();
        for v in &self.versions {
            if !stacks.contains_key(&v.name) {
                stacks.insert(v.name.clone(), self.stack(&v.name));
            }
        }
        let ever_deployed = |name: &str, version: i64| {
            self.deployments
                .iter()
                .any(|d| d.model == name && d.action == "deploy" && d.version == Some(version))
        };
        let mut traffic: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
        for name in stacks.keys() {
            traffic.insert(name.clone(), self.traffic(name));
        }
        let stages: Vec<(&'static str, f64)> = self
            .versions
            .iter()
            .map(|v| {
                let stack = &stacks[&v.name];
                let share = traffic[&v.name]
                    .iter()
                    .find(|(version, _)| *version == v.version)
                    .map_or(0.0, |(_, s)| *s);
                if stack.last() == Some(&v.version) {
                    ("production", share)
                } else if ever_deployed(&v.name, v.version) {
                    ("archived", share)
                } else {
                    ("staging", share)
                }
            })
            .collect();
        for (v, (stage, share)) in self.versions.iter_mut().zip(stages) {
            v.stage = stage.to_string();
            v.traffic_share = share;
        }
    }
}

/// `{"3": 0.9, "4": 0.1}` → sorted (version, share) pairs.
pub(crate) fn parse_shares(json: &str) -> Option<Vec<(i64, f64)>> {
    let map: std::collections::BTreeMap<String, f64> = serde_json::from_str(json).ok()?;
    let mut shares: Vec<(i64, f64)> = map
        .into_iter()
        .map(|(k, v)| k.trim().parse().ok().map(|k| (k, v)))
        .collect::<Option<_>>()?;
    shares.sort_by_key(|(v, _)| *v);
    Some(shares)
}

/// A stable position in [0, 1) for a customer id: the same id always lands
/// in the same place, across restarts and replicas.
pub fn bucket(key: &str) -> f64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x766f_6964, 0x7862_7563);
    h.write(key.as_bytes());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The versions of the tables the state was last read from.
#[derive(Debug, Default)]
struct Seen {
    models: Option<u64>,
    deployments: Option<u64>,
}

#[derive(Debug)]
pub struct Registry {
    catalog: Arc<Catalog>,
    state: RwLock<State>,
    artifacts: Mutex<HashMap<(String, i64), Arc<ModelArtifact>>>,
    /// Serialises this process's changes and refreshes; holds what the
    /// state was read from.
    commit: tokio::sync::Mutex<Seen>,
    /// Bumped on every registry change; caches of predictions watch it.
    generation: std::sync::atomic::AtomicU64,
}

const TABLES: [&str; 5] = [
    "models",
    "runs",
    "feature_importance",
    "deployments",
    "model_artifacts",
];

/// Model names are identifiers (they appear in SQL strings and paths).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(VoidxError::InvalidArgument(format!(
            "invalid model name '{name}'. Help: use letters, digits and underscores, starting with a letter, e.g. 'revenue_predictor'"
        )))
    }
}

impl Registry {
    /// Opens the registry tables under `<data>/voidx/`, creating them on
    /// first start, and registers them in the `voidx` schema.
    pub async fn open(catalog: Arc<Catalog>, system: &SystemSchema) -> Result<Arc<Registry>> {
        let registry = Registry {
            catalog,
            state: RwLock::new(State::default()),
            artifacts: Mutex::new(HashMap::new()),
            commit: tokio::sync::Mutex::new(Seen::default()),
            generation: std::sync::atomic::AtomicU64::new(0),
        };
        for name in TABLES {
            let location = registry.location(name);
            registry
                .catalog
                .data_dir()
                .ensure_table(&location, schema_of(name))
                .await?;
            system.register_delta(name, &location);
        }
        let recovered = super::recovery::recover(&registry).await?;
        let stored = recovered.versions.clone();
        let repaired = {
            let mut state = registry.write_state();
            state.last_seq = recovered
                .deployments
                .iter()
                .map(|d| d.seq)
                .max()
                .unwrap_or(0);
            state.versions = recovered.versions;
            state.log = recovered.deployments.clone();
            state.deployments = recovered.deployments;
            state.reserved = recovered.reserved;
            state.restage();
            (state.versions != stored).then(|| state.clone())
        };
        // A crash after a deploy event but before the stage rewrite left
        // voidx.models behind the log; the log is what was committed.
        let mut seen = registry.commit.lock().await;
        if repaired.is_some() {
            tracing::warn!("voidx.models stages lagged voidx.deployments; rewritten");
            registry.publish(&mut seen, None).await?;
        } else {
            registry.sync(&mut seen).await?;
        }
        drop(seen);
        Ok(Arc::new(registry))
    }

    pub(super) fn location(&self, table: &str) -> String {
        self.catalog.data_dir().location(&["voidx", table])
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Rows of a registry table, optionally filtered/ordered by `tail` SQL.
    pub(super) async fn read(&self, table: &str, tail: Option<&str>) -> Result<Vec<RecordBatch>> {
        let delta_table = self.catalog.delta_table(&self.location(table)).await?;
        let provider = delta_table.table_provider().await?;
        let ctx = SessionContext::new();
        ctx.register_table("t", provider)?;
        let sql = format!("SELECT * FROM t {}", tail.unwrap_or(""));
        Ok(ctx.sql(&sql).await?.collect().await?)
    }

    pub(super) async fn append<T: serde::Serialize>(&self, table: &str, rows: &[T]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let schema = schema_of(table);
        let batch = tables::to_batch(&schema, rows)?;
        delta::append(&self.location(table), schema, vec![batch]).await?;
        Ok(())
    }

    /// Hands out the next version number of `name`: one no server over
    /// this data directory has handed out (its marker under
    /// `voidx/reservations/` is created only if absent).
    pub async fn reserve_version(&self, name: &str) -> Result<i64> {
        check_name(name)?;
        loop {
            let next = {
                let mut state = self.write_state();
                let registered = state
                    .versions
                    .iter()
                    .filter(|v| v.name == name)
                    .map(|v| v.version)
                    .max()
                    .unwrap_or(0);
                let next = registered.max(state.reserved.get(name).copied().unwrap_or(0)) + 1;
                state.reserved.insert(name.to_string(), next);
                next
            };
            let marker = serde_json::json!({ "reserved_at": now_ms() }).to_string();
            let number = next.to_string();
            let claimed = self
                .catalog
                .data_dir()
                .put_if_absent(
                    &["voidx", "reservations", name, &number],
                    marker.into_bytes(),
                )
                .await?;
            if claimed {
                return Ok(next);
            }
            tracing::debug!(
                model = name,
                version = next,
                "version taken by another server"
            );
        }
    }

    /// Loads what other servers committed to the registry since it was
    /// last read (two existence checks when nothing changed): versions,
    /// stages, deployments and A/B splits, so `predict` and the REST shim
    /// serve what was deployed through any server.
    pub async fn refresh(&self) -> Result<bool> {
        let mut seen = self.commit.lock().await;
        self.sync(&mut seen).await
    }

    /// Brings the state up to the committed registry when `voidx.models`
    /// or `voidx.deployments` has a newer version than `seen`. Read-only:
    /// rows of unfinished registrations stay for recovery at start, and
    /// deploy events naming a version `voidx.models` lacks are not honoured.
    async fn sync(&self, seen: &mut Seen) -> Result<bool> {
        let models = self.catalog.delta_table(&self.location("models")).await?;
        let deployments = self
            .catalog
            .delta_table(&self.location("deployments"))
            .await?;
        if seen.models == models.version() && seen.deployments == deployments.version() {
            return Ok(false);
        }
        let versions: Vec<ModelVersion> = tables::from_batches(&self.read("models", None).await?)?;
        let (events, _) = super::recovery::load_deployments(self).await?;
        {
            let mut state = self.write_state();
            let last_seq = events.iter().map(|d| d.seq).max().unwrap_or(0);
            state.last_seq = state.last_seq.max(last_seq);
            for v in &versions {
                let reserved = state.reserved.entry(v.name.clone()).or_insert(0);
                *reserved = (*reserved).max(v.version);
            }
            state.versions = versions;
            state.log = events;
            state.honour();
            state.restage();
        }
        seen.models = models.version();
        seen.deployments = deployments.version();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(true)
    }

    pub async fn append_runs(&self, runs: &[Run]) -> Result<()> {
        self.append("runs", runs).await
    }

    pub fn versions(&self) -> Vec<ModelVersion> {
        self.read_state().versions.clone()
    }

    pub fn version(&self, name: &str, version: i64) -> Option<ModelVersion> {
        self.read_state()
            .versions
            .iter()
            .find(|v| v.name == name && v.version == version)
            .cloned()
    }

    pub fn production(&self, name: &str) -> Option<i64> {
        self.read_state().production(name)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Why [`Registry::route`] found no version for `name`: the model does
    /// not exist, or nothing of it is deployed.
    pub fn unroutable(&self, name: &str) -> VoidxError {
        if self.versions().iter().any(|v| v.name == name) {
            VoidxError::NotDeployed(format!(
                "model '{name}' has no production version. Help: SELECT * FROM deploy('{name}', <version>)"
            ))
        } else {
            unknown_model(name)
        }
    }

    /// The version that serves `customer`: by its stable bucket over the
    /// traffic shares, or production when there is no customer id.
    pub fn route(&self, name: &str, customer: Option<&str>) -> Option<i64> {
        let state = self.read_state();
        let shares = state.traffic(name);
        match customer {
            Some(id) if shares.len() > 1 => {
                let total: f64 = shares.iter().map(|(_, s)| s).sum();
                let point = bucket(id) * total;
                let mut acc = 0.0;
                for (version, share) in &shares {
                    acc += share;
                    if point < acc {
                        return Some(*version);
                    }
                }
                shares.last().map(|(v, _)| *v)
            }
            _ => state.production(name),
        }
    }

    /// Splits the traffic of `name` between versions; shares must sum to 1.
    pub async fn split(&self, name: &str, shares: Vec<(i64, f64)>) -> Result<()> {
        let mut seen = self.commit.lock().await;
        self.sync(&mut seen).await?;
        {
            let state = self.read_state();
            for (v, _) in &shares {
                if !state.exists(name, *v) {
                    return Err(unknown_version(name, *v, &state));
                }
            }
        }
        let total: f64 = shares.iter().map(|(_, s)| s).sum();
        if shares.is_empty()
            || shares.iter().any(|(_, s)| !(0.0..=1.0).contains(s))
            || (total - 1.0).abs() > 1e-6
        {
            return Err(VoidxError::InvalidArgument(format!(
                "traffic shares must be between 0 and 1 and sum to 1, got a total of {total}. Help: ab_split('{name}', '{{\"3\": 0.9, \"4\": 0.1}}')"
            )));
        }
        let json: std::collections::BTreeMap<String, f64> =
            shares.iter().map(|(v, s)| (v.to_string(), *s)).collect();
        self.log_deployment(
            &mut seen,
            "ab_split.before_models_commit",
            Deployment {
                model: name.to_string(),
                action: "split".into(),
                version: self.production(name),
                previous_version: None,
                reason: "ab_split()".into(),
                traffic: Some(serde_json::to_string(&json).unwrap_or_default()),
                created_at: now_ms(),
                seq: 0,
            },
        )
        .await
    }

    /// Registers a finished version and applies the deployment policy.
    /// Returns the row as stored (with its stage).
    pub async fn register(
        &self,
        mut version: ModelVersion,
        artifact: ModelArtifact,
        importance: Vec<Importance>,
        policy: DeployPolicy,
    ) -> Result<ModelVersion> {
        let mut seen = self.commit.lock().await;
        let (name, number) = (version.name.clone(), version.version);
        match self
            .register_locked(&mut seen, &mut version, artifact, importance, policy)
            .await
        {
            Ok(artifact) => {
                self.artifacts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((name.clone(), number), Arc::new(artifact));
                Ok(self.version(&name, number).unwrap_or(version))
            }
            Err(e) => {
                // Nothing was committed; take back what was written, so no
                // reader sees it (a crash leaves it to recovery at start).
                super::recovery::discard(self, &name, number, &e.client_message()).await;
                Err(e)
            }
        }
    }

    /// The writes of [`Registry::register`] in commit order; the
    /// `voidx.models` rewrite is the commit point. Returns the artifact as
    /// a restart will load it.
    async fn register_locked(
        &self,
        seen: &mut Seen,
        version: &mut ModelVersion,
        artifact: ModelArtifact,
        importance: Vec<Importance>,
        policy: DeployPolicy,
    ) -> Result<ModelArtifact> {
        let json = artifact.to_json().map_err(ml_error)?;
        // Serve exactly what a restart will load (JSON float parsing may
        // differ from the in-memory value in the last bit).
        let artifact = ModelArtifact::from_json(&json).map_err(ml_error)?;
        self.append(
            "model_artifacts",
            &[ArtifactRow {
                model: version.name.clone(),
                version: version.version,
                format: "voidx-forest-v1".into(),
                artifact: json,
            }],
        )
        .await?;
        crate::failpoint::hit("register.after_artifact")?;
        self.append("feature_importance", &importance).await?;
        crate::failpoint::hit("register.after_importance")?;
        // Decide on what every server committed, not on this one's copy.
        self.sync(seen).await?;
        let current = self.production(&version.name);
        let promote = match policy {
            DeployPolicy::Force => true,
            DeployPolicy::Never => false,
            DeployPolicy::Auto => match current.and_then(|c| self.version(&version.name, c)) {
                None => true,
                Some(champion) => beats(version, &champion),
            },
        };
        version.stage = "staging".into();
        if promote {
            // Written before the models commit, and honoured only once the
            // version is in voidx.models: an event orphaned by a crash here
            // promotes nothing.
            let event = Deployment {
                model: version.name.clone(),
                action: "deploy".into(),
                version: Some(version.version),
                previous_version: current,
                reason: format!("{}: {policy:?} promotion", version.source).to_lowercase(),
                traffic: None,
                created_at: now_ms(),
                seq: self.next_seq(),
            };
            self.append("deployments", std::slice::from_ref(&event))
                .await?;
        }
        crate::failpoint::hit("register.before_models_commit")?;
        self.publish(seen, Some(version.clone())).await?;
        Ok(artifact)
    }

    /// Commits `voidx.models` as the committed registry (brought up to
    /// date first) plus `added`, restaged from the deployment log, then
    /// makes it the registry's state; a failed commit changes nothing. The
    /// rewrite is written on top of the version it was computed from, so
    /// when another server rewrote it meanwhile the commit is refused and
    /// computed again from that server's version.
    async fn publish(&self, seen: &mut Seen, added: Option<ModelVersion>) -> Result<()> {
        let location = self.location("models");
        for attempt in 1..=delta::REWRITE_ATTEMPTS {
            self.sync(seen).await?;
            let base = self.catalog.delta_table(&location).await?;
            if base.version() != seen.models {
                continue; // committed after the sync read it
            }
            let mut next = self.read_state().clone();
            next.versions.extend(added.clone());
            next.honour();
            next.restage();
            let schema = tables::models_schema();
            let batch = tables::to_batch(&schema, &next.versions)?;
            match delta::overwrite_on(base, schema, vec![batch]).await {
                Ok(table) => {
                    let mut state = self.write_state();
                    // Reservations and seqs taken while this change was in
                    // flight must not be handed out again.
                    next.last_seq = next.last_seq.max(state.last_seq);
                    for (model, reserved) in &state.reserved {
                        let mine = next.reserved.entry(model.clone()).or_insert(0);
                        *mine = (*mine).max(*reserved);
                    }
                    *state = next;
                    drop(state);
                    seen.models = table.version();
                    self.generation
                        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    return Ok(());
                }
                Err(e) if e.commit_race().is_some() && attempt < delta::REWRITE_ATTEMPTS => {
                    delta::race_backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(VoidxError::Internal(
            "the voidx.models rewrite kept losing races with other servers".into(),
        ))
    }

    /// Makes `version` production; returns the previous production version.
    pub async fn deploy(&self, name: &str, version: i64) -> Result<Option<i64>> {
        let mut seen = self.commit.lock().await;
        self.sync(&mut seen).await?;
        if !self.read_state().exists(name, version) {
            return Err(unknown_version(name, version, &self.read_state()));
        }
        let current = self.production(name);
        // Deploying production again changes nothing unless a split is on:
        // then its event ends the split (all traffic to production).
        if current == Some(version) && !self.read_state().splitting(name) {
            return Ok(current);
        }
        self.log_deployment(
            &mut seen,
            "deploy.before_models_commit",
            Deployment {
                model: name.to_string(),
                action: "deploy".into(),
                version: Some(version),
                previous_version: current,
                reason: "deploy()".into(),
                traffic: None,
                created_at: now_ms(),
                seq: 0,
            },
        )
        .await?;
        Ok(current)
    }

    /// Undoes the latest deployment; returns (undone, now production).
    pub async fn rollback(&self, name: &str) -> Result<(i64, Option<i64>)> {
        let mut seen = self.commit.lock().await;
        self.sync(&mut seen).await?;
        let stack = self.read_state().stack(name);
        let Some(&undone) = stack.last() else {
            return Err(
                if self.read_state().versions.iter().any(|v| v.name == name) {
                    VoidxError::InvalidArgument(format!(
                        "model '{name}' has no production version to roll back. Help: SELECT * FROM deploy('{name}', <version>)"
                    ))
                } else {
                    unknown_model(name)
                },
            );
        };
        let now = stack.len().checked_sub(2).map(|i| stack[i]);
        self.log_deployment(
            &mut seen,
            "rollback.before_models_commit",
            Deployment {
                model: name.to_string(),
                action: "rollback".into(),
                version: now,
                previous_version: Some(undone),
                reason: "rollback()".into(),
                traffic: None,
                created_at: now_ms(),
                seq: 0,
            },
        )
        .await?;
        Ok((undone, now))
    }

    /// The next `seq`, consumed even when the append fails (a failed
    /// append may still have landed; a gap in `seq` is harmless, a repeat
    /// would make the order ambiguous).
    fn next_seq(&self) -> i64 {
        let mut state = self.write_state();
        state.last_seq += 1;
        state.last_seq
    }

    /// Appends a deploy/rollback/split event — its commit point — then
    /// rewrites the stage columns of `voidx.models` to match.
    async fn log_deployment(
        &self,
        seen: &mut Seen,
        point: &str,
        mut event: Deployment,
    ) -> Result<()> {
        event.seq = self.next_seq();
        self.append("deployments", std::slice::from_ref(&event))
            .await?;
        {
            // Committed: serve it now even if the stage rewrite below fails.
            let mut state = self.write_state();
            state.log.push(event);
            state.honour();
            state.restage();
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        crate::failpoint::hit(point)?;
        self.publish(seen, None).await
    }

    pub(super) async fn load_artifact(&self, name: &str, version: i64) -> Result<ModelArtifact> {
        // `name` passed check_name, so it is safe inside a SQL literal.
        let tail = format!("WHERE model = '{name}' AND version = {version}");
        let rows: Vec<ArtifactRow> =
            tables::from_batches(&self.read("model_artifacts", Some(&tail)).await?)?;
        let row = rows.last().ok_or_else(|| {
            VoidxError::Internal(format!(
                "model '{name}' version {version} has no stored artifact"
            ))
        })?;
        ModelArtifact::from_json(&row.artifact).map_err(ml_error)
    }

    fn artifact(
        &self,
        name: &str,
        version: i64,
    ) -> std::result::Result<Arc<ModelArtifact>, MlError> {
        let key = (name.to_string(), version);
        if let Some(a) = self
            .artifacts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(a));
        }
        let loaded = block_on(self.load_artifact(name, version))
            .and_then(|r| r)
            .map_err(|e| MlError::InvalidModel(e.client_message()))?;
        let loaded = Arc::new(loaded);
        self.artifacts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_insert_with(|| Arc::clone(&loaded));
        Ok(loaded)
    }
}

/// Is the challenger's CV metric better than the champion's? Without CV
/// metrics on both sides there is no evidence, so no automatic promotion.
fn beats(challenger: &ModelVersion, champion: &ModelVersion) -> bool {
    let (Some(a), Some(b)) = (challenger.cv_mean, champion.cv_mean) else {
        return false;
    };
    if challenger.metric != champion.metric {
        return false;
    }
    let higher_better = matches!(challenger.metric.as_str(), "r2" | "auc" | "accuracy");
    if higher_better { a > b } else { a < b }
}

fn schema_of(table: &str) -> arrow::datatypes::SchemaRef {
    match table {
        "models" => tables::models_schema(),
        "runs" => tables::runs_schema(),
        "feature_importance" => tables::importance_schema(),
        "deployments" => tables::deployments_schema(),
        _ => tables::artifacts_schema(),
    }
}

pub fn ml_error(e: MlError) -> VoidxError {
    VoidxError::Ml(e)
}

fn unknown_model(name: &str) -> VoidxError {
    ml_error(MlError::UnknownModel(format!(
        "model '{name}' does not exist. Help: SELECT DISTINCT name FROM voidx.models lists the models; train one with SELECT * FROM train('{name}', 'SELECT …', 'target')"
    )))
}

fn unknown_version(name: &str, version: i64, state: &State) -> VoidxError {
    if !state.versions.iter().any(|v| v.name == name) {
        return unknown_model(name);
    }
    ml_error(MlError::UnknownModel(format!(
        "model '{name}' has no version {version}. Help: SELECT version, stage FROM voidx.models WHERE name = '{name}'"
    )))
}

impl ModelSource for Registry {
    fn resolve(&self, spec: &str) -> std::result::Result<ResolvedModel, MlError> {
        let (name, pinned) = match spec.split_once('@') {
            Some((n, v)) => {
                let v: i64 = v.trim().parse().map_err(|_| {
                    MlError::InvalidInput(format!(
                        "'{spec}' is not a model reference. Help: use 'name' or 'name@version', e.g. 'revenue_predictor@3'"
                    ))
                })?;
                (n.trim(), Some(v))
            }
            None => (spec.trim(), None),
        };
        let version = {
            let state = self.read_state();
            let to_ml = |e: VoidxError| MlError::UnknownModel(e.client_message());
            match pinned {
                Some(v) if state.exists(name, v) => v,
                Some(v) => return Err(to_ml(unknown_version(name, v, &state))),
                None => match state.production(name) {
                    Some(v) => v,
                    None if state.versions.iter().any(|v| v.name == name) => {
                        return Err(MlError::UnknownModel(format!(
                            "model '{name}' has no production version. Help: SELECT * FROM deploy('{name}', <version>), or pin one: '{name}@<version>'"
                        )));
                    }
                    None => return Err(to_ml(unknown_model(name))),
                },
            }
        };
        Ok(ResolvedModel {
            name: name.to_string(),
            version,
            artifact: self.artifact(name, version)?,
        })
    }
}

/// Runs a future to completion from synchronous code (scalar functions are
/// synchronous). On a multi-thread runtime the worker is handed over for the
/// wait; elsewhere a helper thread gets its own runtime.
fn block_on<F: std::future::Future + Send>(future: F) -> Result<F::Output>
where
    F::Output: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(|| h.block_on(future)))
        }
        _ => std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(future))
            })
            .join()
        })
        .map_err(|_| VoidxError::Internal("the model loader thread panicked".into()))?
        .map_err(VoidxError::Io),
    }
}
