//! The REST prediction cache: in-process (moka, bounded by entries and a
//! TTL), optionally backed by Redis (`cache.url`) so replicas share answers.
//!
//! Keys are the model version plus the exact feature values (never the
//! customer id alone). A version's answers never change, so an entry can
//! only be stale by belonging to a version no longer served — and then no
//! request asks for it. Registry changes (train, deploy, rollback, ab_split)
//! still empty the in-process layer; Redis entries expire by TTL.
//!
//! Redis is never on the critical path of availability: a command that fails
//! or takes over 100 ms counts as a miss, the prediction is served uncached,
//! and `/health` reports `degraded` until Redis answers again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::api::Explanations;
use crate::config::CacheConfig;
use crate::error::{Result, VoidxError};

/// A computed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub prediction: f64,
    pub interval: Option<[f64; 2]>,
    pub explanations: Option<Explanations>,
}

/// What Redis stores for a [`Scored`].
#[derive(Serialize, Deserialize)]
struct Stored {
    p: f64,
    i: Option<[f64; 2]>,
    e: Option<Vec<(String, f64)>>,
}

const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
const REDIS_PREFIX: &str = "voidx:prediction:";

struct RedisLayer {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
    healthy: AtomicBool,
    ttl_seconds: u64,
}

impl RedisLayer {
    async fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(REDIS_TIMEOUT)
                .set_response_timeout(REDIS_TIMEOUT)
                .set_number_of_retries(1);
            match tokio::time::timeout(
                REDIS_TIMEOUT * 2,
                self.client.get_connection_manager_with_config(config),
            )
            .await
            {
                Ok(Ok(c)) => *slot = Some(c),
                _ => {
                    self.healthy.store(false, Ordering::Relaxed);
                    return None;
                }
            }
        }
        slot.clone()
    }

    async fn get(&self, key: &str) -> Option<Scored> {
        let mut conn = self.connection().await?;
        let reply: std::result::Result<Option<String>, _> = match tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("GET")
                .arg(format!("{REDIS_PREFIX}{key}"))
                .query_async(&mut conn),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => {
                self.healthy.store(false, Ordering::Relaxed);
                return None;
            }
        };
        match reply {
            Ok(value) => {
                self.healthy.store(true, Ordering::Relaxed);
                let stored: Stored = serde_json::from_str(&value?).ok()?;
                Some(Scored {
                    prediction: stored.p,
                    interval: stored.i,
                    explanations: stored.e.map(Explanations),
                })
            }
            Err(_) => {
                self.healthy.store(false, Ordering::Relaxed);
                None
            }
        }
    }

    async fn set(&self, key: String, value: &Scored) {
        let Some(mut conn) = self.connection().await else {
            return;
        };
        let stored = Stored {
            p: value.prediction,
            i: value.interval,
            e: value.explanations.as_ref().map(|e| e.0.clone()),
        };
        let Ok(json) = serde_json::to_string(&stored) else {
            return;
        };
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{REDIS_PREFIX}{key}"))
            .arg(json)
            .arg("EX")
            .arg(self.ttl_seconds.max(1));
        let set = cmd.query_async::<()>(&mut conn);
        let ok = matches!(tokio::time::timeout(REDIS_TIMEOUT, set).await, Ok(Ok(())));
        self.healthy.store(ok, Ordering::Relaxed);
    }
}

pub struct PredictionCache {
    memory: Option<moka::sync::Cache<String, Arc<Scored>>>,
    redis: Option<Arc<RedisLayer>>,
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl PredictionCache {
    pub fn new(config: &CacheConfig) -> Result<Self> {
        let memory = (config.max_entries > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(Duration::from_secs(config.ttl_seconds.max(1)))
                .build()
        });
        let redis = match &config.url {
            Some(url) => Some(Arc::new(RedisLayer {
                client: redis::Client::open(url.as_str()).map_err(|e| {
                    VoidxError::Config(format!("cache.url '{url}' is not a Redis URL: {e}"))
                })?,
                conn: tokio::sync::Mutex::new(None),
                healthy: AtomicBool::new(true),
                ttl_seconds: config.ttl_seconds,
            })),
            None => None,
        };
        Ok(PredictionCache {
            memory,
            redis,
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    pub async fn get(&self, key: &str) -> Option<Arc<Scored>> {
        if !self.enabled() {
            return None;
        }
        let mut hit = self.memory.as_ref().and_then(|c| c.get(key));
        if hit.is_none()
            && let Some(redis) = &self.redis
            && let Some(found) = redis.get(key).await
        {
            let found = Arc::new(found);
            if let Some(m) = &self.memory {
                m.insert(key.to_string(), Arc::clone(&found));
            }
            hit = Some(found);
        }
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Stores in memory now and in Redis in the background, so a slow
    /// Redis never delays the answer.
    pub fn insert(&self, key: String, value: Arc<Scored>) {
        if let Some(redis) = &self.redis {
            let (redis, key, value) = (Arc::clone(redis), key.clone(), Arc::clone(&value));
            tokio::spawn(async move { redis.set(key, &value).await });
        }
        if let Some(c) = &self.memory {
            c.insert(key, value);
        }
    }

    /// The registry generation the in-process entries belong to.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn invalidate(&self, generation: u64) {
        if let Some(c) = &self.memory {
            c.invalidate_all();
        }
        self.generation.store(generation, Ordering::Release);
    }

    pub fn entries(&self) -> u64 {
        self.memory.as_ref().map_or(0, |c| c.entry_count())
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    pub fn enabled(&self) -> bool {
        self.memory.is_some() || self.redis.is_some()
    }

    pub fn backend(&self) -> &'static str {
        match (&self.memory, &self.redis) {
            (Some(_), Some(_)) => "memory+redis",
            (None, Some(_)) => "redis",
            _ => "memory",
        }
    }

    /// `None` without Redis; otherwise whether it answered last time.
    pub fn redis_healthy(&self) -> Option<bool> {
        self.redis
            .as_ref()
            .map(|r| r.healthy.load(Ordering::Relaxed))
    }
}
