//! Alert rules: a SQL query that returns rows when something is wrong,
//! evaluated on a schedule. A firing goes to the server log, to
//! `voidx.alerts`, optionally to a webhook (through the ingest allowlist)
//! and optionally triggers `retrain`.
//!
//! Repeat, as Alertmanager's `repeat_interval`: the condition is "the query
//! returns rows". It fires when it becomes true, then stays quiet while it
//! stays true — whatever rows it returns — and reminds once per `repeat`
//! (the rule's option, else `monitor.alert_repeat_ms`, 4 h). An empty result
//! clears it (recorded as `resolved`), so the next true evaluation fires at
//! once. The state is derived from `voidx.alerts` at start (the latest
//! event per rule), so a restart neither re-fires nor forgets a firing.

use std::hash::Hasher;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::schedule::{Schedule, duration_option};
use super::{Monitor, lock, parse_options, rows_json};
use crate::error::{Result, VoidxError};
use crate::model::registry::check_name;
use crate::storage::catalog::now_ms;
use crate::storage::system_table::ts;

/// One row of `voidx.alert_rules`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertRule {
    pub name: String,
    pub sql: String,
    pub schedule: String,
    /// The repeat interval (the column keeps its first name, `cooldown`).
    pub cooldown_ms: i64,
    pub webhook: Option<String>,
    /// `retrain` or NULL.
    pub action: Option<String>,
    pub model: Option<String>,
    pub options: String,
    pub created_at: i64,
}

/// One row of `voidx.alerts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertEvent {
    pub ts: i64,
    pub name: String,
    pub rows: i64,
    /// The result rows as a JSON array (at most 100).
    pub payload: String,
    pub fingerprint: String,
    /// `fired` (logged; webhook delivered when there is one),
    /// `webhook_failed`, `webhook_refused` (host not allowed), `resolved`.
    pub status: String,
    /// Webhook outcome and the retrain decision, as text.
    pub detail: Option<String>,
}

pub fn rules_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("sql", DataType::Utf8, false),
        Field::new("schedule", DataType::Utf8, false),
        Field::new("cooldown_ms", DataType::Int64, false),
        Field::new("webhook", DataType::Utf8, true),
        Field::new("action", DataType::Utf8, true),
        Field::new("model", DataType::Utf8, true),
        Field::new("options", DataType::Utf8, false),
        Field::new("created_at", ts(), false),
    ]))
}

pub fn alerts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", ts(), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
        Field::new("fingerprint", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, true),
    ]))
}

#[derive(Debug, Clone)]
pub struct RuleState {
    pub rule: AlertRule,
    pub schedule: Schedule,
    pub last_slot: i64,
    /// The fingerprint of the rows last notified and when, until it clears.
    pub active: Option<(String, i64)>,
    pub fired: u64,
}

#[derive(Deserialize)]
struct LastEvent {
    name: String,
    ts: i64,
    fingerprint: String,
    status: String,
}

pub const ALERT_EXAMPLE: &str =
    "'{\"every\": \"5m\", \"repeat\": \"4h\", \"webhook\": \"https://hooks.example/voidx\"}'";

/// The rule's own repeat interval (`repeat`, or its older name
/// `cooldown`), if it sets one.
fn repeat_option(options: &serde_json::Value) -> Result<Option<i64>> {
    let repeat = match duration_option(options, "repeat", None)? {
        Some(ms) => Some(ms),
        None => duration_option(options, "cooldown", None)?,
    };
    if repeat.is_some_and(|ms| ms <= 0) {
        return Err(VoidxError::InvalidArgument(
            "create_alert: repeat must be positive. Help: \"repeat\": \"4h\"".into(),
        ));
    }
    Ok(repeat)
}

impl Monitor {
    pub(crate) async fn load_rules(&self) -> Result<()> {
        let rules: Vec<AlertRule> = self.rules_table.read().await?;
        let last: Vec<LastEvent> = self
            .alerts_table
            .query(
                "SELECT name, ts, fingerprint, status FROM (SELECT *, row_number() OVER \
                 (PARTITION BY name ORDER BY ts DESC) AS rn FROM t) WHERE rn = 1",
            )
            .await?;
        let now = now_ms();
        let mut states = lock(&self.rules);
        let default_repeat = self.default_repeat_ms();
        // Rules dropped through another server; those unchanged keep the
        // state this process has.
        states.retain(|name, state| {
            rules
                .iter()
                .any(|r| r.name == *name && r.created_at == state.rule.created_at)
        });
        for mut rule in rules {
            if states.contains_key(&rule.name) {
                continue;
            }
            let schedule = Schedule::parse_described(&rule.schedule)?;
            // A rule without its own repeat follows the server default (also
            // rules stored when the default was the schedule's interval).
            let options = serde_json::from_str(&rule.options).unwrap_or(serde_json::Value::Null);
            rule.cooldown_ms = repeat_option(&options)
                .ok()
                .flatten()
                .unwrap_or(default_repeat);
            let active = last
                .iter()
                .find(|e| e.name == rule.name && e.status != "resolved" && e.ts >= rule.created_at)
                .map(|e| (e.fingerprint.clone(), e.ts));
            states.insert(
                rule.name.clone(),
                RuleState {
                    schedule,
                    last_slot: now,
                    active,
                    fired: 0,
                    rule,
                },
            );
        }
        Ok(())
    }

    pub async fn create_alert(
        &self,
        name: &str,
        sql: &str,
        options_text: &str,
    ) -> Result<AlertRule> {
        check_name(name)?;
        let options = parse_options(options_text, "create_alert", ALERT_EXAMPLE)?;
        let schedule = Schedule::from_options(&options, "create_alert")?;
        let cooldown_ms = repeat_option(&options)?.unwrap_or(self.default_repeat_ms());
        let webhook = match options.get("webhook") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(url)) => {
                url::Url::parse(url).map_err(|e| {
                    VoidxError::InvalidArgument(format!(
                        "create_alert: webhook '{url}' is not a URL: {e}. Help: \"webhook\": \"https://hooks.example/voidx\""
                    ))
                })?;
                Some(url.clone())
            }
            Some(_) => {
                return Err(VoidxError::InvalidArgument(
                    "create_alert: webhook must be a URL string".into(),
                ));
            }
        };
        let action = options
            .get("action")
            .and_then(|a| a.as_str())
            .map(str::to_string);
        let model = options
            .get("model")
            .and_then(|m| m.as_str())
            .map(str::to_string);
        match (action.as_deref(), &model) {
            (None, _) => {}
            (Some("retrain"), Some(m)) => check_name(m)?,
            (Some("retrain"), None) => {
                return Err(VoidxError::InvalidArgument(
                    "create_alert: action \"retrain\" needs \"model\". Help: '{\"every\": \"1h\", \"action\": \"retrain\", \"model\": \"revenue_predictor\", \"retrain\": {\"holdout\": {\"column\": \"order_date\"}}}'".into(),
                ));
            }
            (Some(other), _) => {
                return Err(VoidxError::InvalidArgument(format!(
                    "create_alert: unknown action '{other}'. Help: the only action is \"retrain\""
                )));
            }
        }
        // The query must plan now, not fail at 3 a.m.
        let runner = self.sql()?;
        let statements = runner.count_statements(sql)?;
        if statements != 1 {
            return Err(VoidxError::InvalidArgument(format!(
                "create_alert: the alert must be one query (got {statements} statements). Help: a SELECT that returns rows when something is wrong"
            )));
        }
        runner.plan_one(sql).await?;
        let rule = AlertRule {
            name: name.to_string(),
            sql: sql.to_string(),
            schedule: schedule.describe(),
            cooldown_ms,
            webhook,
            action,
            model,
            options: options.to_string(),
            created_at: now_ms(),
        };
        let _guard = self.definitions.lock().await;
        // Decided on the committed rules: another server may have created
        // or dropped rules this one has not loaded yet.
        self.rules_table
            .update(|all: &mut Vec<AlertRule>| {
                if all.iter().any(|r| r.name == name) {
                    return Err(VoidxError::DuplicateTable(format!(
                        "alert '{name}' already exists. Help: SELECT * FROM drop_alert('{name}') first"
                    )));
                }
                all.push(rule.clone());
                Ok(true)
            })
            .await?;
        lock(&self.rules).insert(
            name.to_string(),
            RuleState {
                rule: rule.clone(),
                schedule,
                last_slot: rule.created_at,
                active: None,
                fired: 0,
            },
        );
        Ok(rule)
    }

    pub async fn drop_alert(&self, name: &str) -> Result<bool> {
        let _guard = self.definitions.lock().await;
        let mut found = false;
        self.rules_table
            .update(|all: &mut Vec<AlertRule>| {
                let before = all.len();
                all.retain(|r| r.name != name);
                found = all.len() < before;
                Ok(found)
            })
            .await?;
        lock(&self.rules).remove(name);
        Ok(found)
    }

    pub(crate) fn due_rules(&self, now: i64) -> Vec<(String, i64)> {
        let mut due = Vec::new();
        let mut rules = lock(&self.rules);
        for (name, rule) in rules.iter_mut() {
            if self.is_running(&format!("alert:{name}")) {
                continue;
            }
            if let Ok(Some(slot)) = rule.schedule.due(rule.last_slot, now) {
                rule.last_slot = slot;
                due.push((name.clone(), slot));
            }
        }
        due
    }

    /// Fired-alert counts per rule since start, for `/metrics`.
    pub fn alert_counts(&self) -> Vec<(String, u64)> {
        lock(&self.rules)
            .values()
            .map(|r| (r.rule.name.clone(), r.fired))
            .collect()
    }

    /// Runs the rule's query once and fires, clears or stays quiet.
    /// Returns the event recorded, if any.
    pub async fn evaluate_rule(&self, name: &str) -> Result<Option<AlertEvent>> {
        let Some(_running) = self.try_start(format!("alert:{name}")) else {
            return Ok(None);
        };
        let (rule, active) = {
            let rules = lock(&self.rules);
            let state = rules.get(name).ok_or_else(|| {
                VoidxError::UndefinedObject(format!(
                    "no alert '{name}'. Help: SELECT name FROM voidx.alert_rules"
                ))
            })?;
            (state.rule.clone(), state.active.clone())
        };
        // Servers over one data directory take turns (one per slot), so
        // whether it is firing is what the log says, not what this one saw.
        let active = self.active_in_log(&rule).await.unwrap_or(active);
        let runner = self.sql()?;
        let results = runner.run_sql(&rule.sql).await?;
        let batches = results
            .into_iter()
            .last()
            .map(|r| r.batches)
            .unwrap_or_default();
        let (rows, total) = rows_json(&batches, 100)?;
        let now = now_ms();
        if total == 0 {
            let Some((fingerprint, _)) = active else {
                return Ok(None);
            };
            let event = AlertEvent {
                ts: now,
                name: name.to_string(),
                rows: 0,
                payload: "[]".into(),
                fingerprint,
                status: "resolved".into(),
                detail: None,
            };
            tracing::info!(alert = %name, "alert resolved");
            self.alerts_table
                .append(std::slice::from_ref(&event))
                .await?;
            self.set_active(name, None, false);
            return Ok(Some(event));
        }
        let payload = serde_json::Value::Array(rows);
        let fingerprint = fingerprint(&batches)?;
        // Still true since the last notification: quiet until `repeat`.
        if let Some((_, notified)) = &active
            && now.saturating_sub(*notified) < rule.cooldown_ms
        {
            return Ok(None);
        }
        let reminder = active.is_some();
        tracing::warn!(alert = %name, rows = total, payload = %payload, reminder, "alert fired");
        let mut status = "fired".to_string();
        let mut detail = Vec::new();
        if reminder {
            detail.push(format!(
                "reminder: still firing after {}",
                super::schedule::format_duration_ms(rule.cooldown_ms)
            ));
        }
        if let Some(url) = &rule.webhook {
            let body = serde_json::json!({
                "alert": name,
                "fired_at": chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                "rows": total,
                "payload": payload,
            });
            let (s, d) = self.deliver(url, &body, &rule).await;
            status = s.to_string();
            detail.push(d);
        }
        if rule.action.as_deref() == Some("retrain")
            && let Some(model) = &rule.model
        {
            let options = parse_options(&rule.options, "create_alert", ALERT_EXAMPLE)?
                .get("retrain")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            match super::retrain::retrain(self, runner.as_ref(), model, &options.to_string()).await
            {
                Ok(decision) => detail.push(format!(
                    "retrain: {}",
                    serde_json::to_string(&decision).unwrap_or_default()
                )),
                Err(e) => detail.push(format!("retrain failed: {}", e.client_message())),
            }
        }
        let event = AlertEvent {
            ts: now,
            name: name.to_string(),
            rows: total as i64,
            payload: payload.to_string(),
            fingerprint: fingerprint.clone(),
            status,
            detail: if detail.is_empty() {
                None
            } else {
                Some(detail.join("; "))
            },
        };
        self.alerts_table
            .append(std::slice::from_ref(&event))
            .await?;
        self.set_active(name, Some((fingerprint, now)), true);
        Ok(Some(event))
    }

    /// The open notification of `rule` in `voidx.alerts` (its fingerprint
    /// and when it was sent), if the latest event of the rule is not
    /// `resolved`.
    async fn active_in_log(&self, rule: &AlertRule) -> Result<Option<(String, i64)>> {
        // The name passed check_name, so it is safe inside a SQL literal.
        let last: Vec<LastEvent> = self
            .alerts_table
            .read_where(&format!(
                "WHERE name = '{}' ORDER BY ts DESC LIMIT 1",
                rule.name
            ))
            .await?;
        Ok(last
            .into_iter()
            .find(|e| e.status != "resolved" && e.ts >= rule.created_at)
            .map(|e| (e.fingerprint, e.ts)))
    }

    fn default_repeat_ms(&self) -> i64 {
        i64::try_from(self.config.alert_repeat_ms.max(1)).unwrap_or(i64::MAX)
    }

    fn set_active(&self, name: &str, active: Option<(String, i64)>, fired: bool) {
        if let Some(state) = lock(&self.rules).get_mut(name) {
            state.active = active;
            if fired {
                state.fired += 1;
            }
        }
    }

    /// POSTs the alert through the allowlisting client, with retries and
    /// exponential backoff. Returns the status and a detail text.
    async fn deliver(
        &self,
        url: &str,
        body: &serde_json::Value,
        rule: &AlertRule,
    ) -> (&'static str, String) {
        // The checked URL, not the text, is what is requested.
        let url = match self.policy.check_url_str(url) {
            Ok(url) => url,
            Err(e) => {
                tracing::warn!(alert = %rule.name, "webhook refused: {}", e.client_message());
                return ("webhook_refused", e.client_message());
            }
        };
        let client = match self.policy.http_client() {
            Ok(c) => c,
            Err(e) => return ("webhook_failed", e.client_message()),
        };
        let options: serde_json::Value =
            serde_json::from_str(&rule.options).unwrap_or_else(|_| serde_json::json!({}));
        let attempts = options
            .get("webhook_retries")
            .and_then(|v| v.as_u64())
            .unwrap_or(3)
            .min(10)
            + 1;
        let mut backoff = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let sent = client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    return (
                        "fired",
                        format!("webhook: HTTP {} (attempt {attempt})", r.status().as_u16()),
                    );
                }
                Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
                Err(e) => {
                    // A policy refusal (e.g. a name resolving to a forbidden
                    // address) will not change on retry.
                    let text = error_chain(&e);
                    if text.contains("allowed_hosts") || text.contains("not allowed") {
                        return ("webhook_refused", text);
                    }
                    last = text;
                }
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        tracing::warn!(alert = %rule.name, "webhook failed after {attempts} attempts: {last}");
        (
            "webhook_failed",
            format!("webhook failed after {attempts} attempts: {last}"),
        )
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A stable hash of every result row (not only the first 100 in the payload).
fn fingerprint(batches: &[arrow::array::RecordBatch]) -> Result<String> {
    let (rows, _) = rows_json(batches, usize::MAX)?;
    let mut hasher = siphasher::sip::SipHasher13::new_with_keys(0x766f6964, 0x78616c65);
    for row in rows {
        hasher.write(row.to_string().as_bytes());
        hasher.write_u8(0xff);
    }
    Ok(format!("{:016x}", hasher.finish()))
}
