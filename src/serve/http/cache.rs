//! The REST prediction cache: in-process (moka), bounded by entries and a
//! TTL. Keys are the model version plus the exact feature values (never the
//! customer id alone), so a cached answer is always the answer of the version
//! that serves the request. Any registry change (train, deploy, rollback,
//! ab_split) empties it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::api::Explanations;
use crate::config::CacheConfig;

/// A computed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub prediction: f64,
    pub interval: Option<[f64; 2]>,
    pub explanations: Option<Explanations>,
}

pub struct PredictionCache {
    inner: Option<moka::sync::Cache<String, Arc<Scored>>>,
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl PredictionCache {
    pub fn new(config: &CacheConfig) -> Self {
        let inner = (config.max_entries > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(Duration::from_secs(config.ttl_seconds.max(1)))
                .build()
        });
        PredictionCache {
            inner,
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Scored>> {
        let hit = self.inner.as_ref().and_then(|c| c.get(key));
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    pub fn insert(&self, key: String, value: Arc<Scored>) {
        if let Some(c) = &self.inner {
            c.insert(key, value);
        }
    }

    /// The registry generation the cached entries belong to.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn invalidate(&self, generation: u64) {
        if let Some(c) = &self.inner {
            c.invalidate_all();
        }
        self.generation.store(generation, Ordering::Release);
    }

    pub fn entries(&self) -> u64 {
        self.inner.as_ref().map_or(0, |c| c.entry_count())
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }
}
