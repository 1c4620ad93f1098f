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
//! and `/health` reports `degraded` until Redis answers again. After three
//! failures in a row a circuit breaker skips Redis for 10 s (no request waits
//! on it at all), and no request queues behind a reconnect.
//!
//! A batch request costs Redis one `MGET` for the rows not in memory and one
//! pipelined round of `SET`s for the rows it computed, whatever its size.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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
/// Consecutive failures (errors or timeouts) that open the breaker.
const BREAKER_FAILURES: u32 = 3;
/// How long an open breaker skips Redis before one request tries again.
const BREAKER_OPEN: Duration = Duration::from_secs(10);

/// Circuit breaker in front of Redis: after [`BREAKER_FAILURES`] failures in
/// a row every request skips Redis for [`BREAKER_OPEN`] (a miss that costs
/// nothing), then the next request probes it again.
#[derive(Default)]
struct Breaker {
    failures: AtomicU32,
    /// Milliseconds since the Unix epoch until which Redis is skipped.
    open_until_ms: AtomicU64,
    opened: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Breaker {
    fn is_open(&self) -> bool {
        now_ms() < self.open_until_ms.load(Ordering::Acquire)
    }

    fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// Returns true when this failure opened the breaker.
    fn failure(&self) -> bool {
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if n >= BREAKER_FAILURES {
            self.failures.store(0, Ordering::Relaxed);
            let until = now_ms().saturating_add(BREAKER_OPEN.as_millis() as u64);
            self.open_until_ms.store(until, Ordering::Release);
            self.opened.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

struct RedisLayer {
    client: redis::Client,
    /// The shared connection; read without queueing behind a reconnect.
    conn: std::sync::RwLock<Option<redis::aio::ConnectionManager>>,
    /// One task connects at a time; the others count a miss meanwhile
    /// instead of waiting for it.
    connecting: AtomicBool,
    healthy: AtomicBool,
    breaker: Breaker,
    ttl_seconds: u64,
}

impl RedisLayer {
    fn record(&self, ok: bool) {
        self.healthy.store(ok, Ordering::Relaxed);
        if ok {
            self.breaker.success();
        } else if self.breaker.failure() {
            tracing::warn!(
                "Redis failed {BREAKER_FAILURES} times in a row; skipping it for {} s",
                BREAKER_OPEN.as_secs()
            );
            // Reconnect from scratch when the breaker closes.
            if let Ok(mut slot) = self.conn.write() {
                *slot = None;
            }
        }
    }

    async fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        if self.breaker.is_open() {
            return None;
        }
        if let Some(c) = self.conn.read().ok().and_then(|slot| slot.clone()) {
            return Some(c);
        }
        if self.connecting.swap(true, Ordering::AcqRel) {
            return None; // another request is connecting; do not queue on it
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let made = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await;
        self.connecting.store(false, Ordering::Release);
        match made {
            Ok(Ok(c)) => {
                if let Ok(mut slot) = self.conn.write() {
                    *slot = Some(c.clone());
                }
                Some(c)
            }
            _ => {
                self.record(false);
                None
            }
        }
    }

    /// One `MGET` for all `keys`; a failure or timeout is a miss for all.
    async fn mget(&self, keys: &[&str]) -> Vec<Option<Scored>> {
        let none = || keys.iter().map(|_| None).collect();
        let Some(mut conn) = self.connection().await else {
            return none();
        };
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(format!("{REDIS_PREFIX}{key}"));
        }
        let reply = tokio::time::timeout(
            REDIS_TIMEOUT,
            cmd.query_async::<Vec<Option<String>>>(&mut conn),
        )
        .await;
        match reply {
            Ok(Ok(values)) if values.len() == keys.len() => {
                self.record(true);
                values
                    .into_iter()
                    .map(|v| {
                        let stored: Stored = serde_json::from_str(&v?).ok()?;
                        Some(Scored {
                            prediction: stored.p,
                            interval: stored.i,
                            explanations: stored.e.map(Explanations),
                        })
                    })
                    .collect()
            }
            _ => {
                self.record(false);
                none()
            }
        }
    }

    /// All `entries` as one pipeline of `SET … EX`.
    async fn set_many(&self, entries: &[(String, Arc<Scored>)]) {
        let Some(mut conn) = self.connection().await else {
            return;
        };
        let mut pipe = redis::pipe();
        for (key, value) in entries {
            let stored = Stored {
                p: value.prediction,
                i: value.interval,
                e: value.explanations.as_ref().map(|e| e.0.clone()),
            };
            let Ok(json) = serde_json::to_string(&stored) else {
                continue;
            };
            pipe.cmd("SET")
                .arg(format!("{REDIS_PREFIX}{key}"))
                .arg(json)
                .arg("EX")
                .arg(self.ttl_seconds.max(1))
                .ignore();
        }
        // A large pipeline takes longer to transfer; it runs in the
        // background, so the allowance only bounds how long it is held.
        let allowance = REDIS_TIMEOUT * (1 + u32::try_from(entries.len() / 500).unwrap_or(20));
        let set = pipe.query_async::<()>(&mut conn);
        let ok = matches!(tokio::time::timeout(allowance, set).await, Ok(Ok(())));
        self.record(ok);
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
                conn: std::sync::RwLock::new(None),
                connecting: AtomicBool::new(false),
                healthy: AtomicBool::new(true),
                breaker: Breaker::default(),
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
        self.get_many(&[key.to_string()]).await.pop().flatten()
    }

    /// Cached answers for `keys` (in order): memory first, then one Redis
    /// `MGET` for the rest.
    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<Scored>>> {
        if !self.enabled() {
            return vec![None; keys.len()];
        }
        let mut found: Vec<Option<Arc<Scored>>> = keys
            .iter()
            .map(|k| self.memory.as_ref().and_then(|c| c.get(k)))
            .collect();
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| found[i].is_none()).collect();
        if !missing.is_empty()
            && let Some(redis) = &self.redis
        {
            let wanted: Vec<&str> = missing.iter().map(|&i| keys[i].as_str()).collect();
            for (&i, answer) in missing.iter().zip(redis.mget(&wanted).await) {
                if let Some(answer) = answer {
                    let answer = Arc::new(answer);
                    if let Some(m) = &self.memory {
                        m.insert(keys[i].clone(), Arc::clone(&answer));
                    }
                    found[i] = Some(answer);
                }
            }
        }
        let hits = found.iter().filter(|f| f.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(keys.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    /// Rows of a batch answered by an earlier row of the same batch: `n`
    /// lookups counted as misses become hits.
    pub fn count_as_hits(&self, n: u64) {
        if n == 0 || !self.enabled() {
            return;
        }
        self.misses.fetch_sub(n, Ordering::Relaxed);
        self.hits.fetch_add(n, Ordering::Relaxed);
    }

    /// Stores in memory now and in Redis in the background, so a slow
    /// Redis never delays the answer.
    pub fn insert(&self, key: String, value: Arc<Scored>) {
        self.insert_many(vec![(key, value)]);
    }

    /// [`PredictionCache::insert`] for many entries: one Redis pipeline.
    pub fn insert_many(&self, entries: Vec<(String, Arc<Scored>)>) {
        if entries.is_empty() || !self.enabled() {
            return;
        }
        if let Some(c) = &self.memory {
            for (key, value) in &entries {
                c.insert(key.clone(), Arc::clone(value));
            }
        }
        if let Some(redis) = &self.redis {
            let redis = Arc::clone(redis);
            tokio::spawn(async move { redis.set_many(&entries).await });
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

    /// `None` without Redis; otherwise whether it answered last time and
    /// the breaker is closed.
    pub fn redis_healthy(&self) -> Option<bool> {
        self.redis
            .as_ref()
            .map(|r| r.healthy.load(Ordering::Relaxed) && !r.breaker.is_open())
    }

    /// Whether the Redis circuit breaker is open now (Redis is being skipped).
    pub fn redis_breaker_open(&self) -> bool {
        self.redis.as_ref().is_some_and(|r| r.breaker.is_open())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis that accepts connections and never answers.
    fn blackhole() -> (std::net::TcpListener, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        (listener, url)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blackholed_redis_opens_the_breaker_and_answers_stay_correct() {
        let (_listener, url) = blackhole();
        let cache = PredictionCache::new(&CacheConfig {
            ttl_seconds: 60,
            max_entries: 0,
            url: Some(url),
        })
        .unwrap();
        let scored = Arc::new(Scored {
            prediction: 1.5,
            interval: None,
            explanations: None,
        });
        // Lookups miss (the answer is computed, never wrong) until enough
        // attempts have failed to open the breaker.
        let mut i = 0;
        while !cache.redis_breaker_open() {
            assert!(i < 500, "the breaker never opened");
            assert!(cache.get(&format!("k{i}")).await.is_none());
            cache.insert(format!("k{i}"), Arc::clone(&scored));
            tokio::time::sleep(Duration::from_millis(10)).await;
            i += 1;
        }
        assert_eq!(cache.redis_healthy(), Some(false));
        // With the breaker open a lookup skips Redis and still misses cleanly.
        for i in 0..100 {
            assert!(cache.get(&format!("x{i}")).await.is_none());
        }
        assert!(cache.redis_breaker_open());
    }

    #[test]
    fn the_breaker_opens_after_consecutive_failures_only() {
        let b = Breaker::default();
        assert!(!b.failure());
        b.success();
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(!b.is_open());
        assert!(b.failure());
        assert!(b.is_open());
    }
}
