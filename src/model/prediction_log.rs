//! The prediction log: every REST prediction appended to the Delta table
//! `voidx.predictions`, asynchronously and in batches.
//!
//! Requests never wait for storage: entries go into a bounded queue; when it
//! is full an entry is dropped and counted (`dropped()`, exported as a
//! metric), never silently lost. One writer task appends the queued entries
//! in one Delta commit per [`FlushPolicy`] turn (`serve.log_flush_ms` after
//! the first entry, default 1 s, or `serve.log_batch_rows` entries, default
//! 20,000, whichever comes first), compacts the table every
//! `storage.compact_every` commits (src/storage/compaction.rs), and
//! `shutdown` flushes what is queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::DeltaTable;
use deltalake::table::config::TablePropertiesExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::storage::catalog::Catalog;
use crate::storage::compaction::Compaction;
use crate::storage::delta;
use crate::storage::system::SystemSchema;

/// One row of `voidx.predictions`.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionRecord {
    pub ts: i64,
    pub model: String,
    pub version: i64,
    pub customer_id: Option<String>,
    /// JSON object feature → value, as received.
    pub features: String,
    pub prediction: f64,
    pub interval_lower: Option<f64>,
    pub interval_upper: Option<f64>,
    pub latency_ms: f64,
    pub cached: bool,
    pub request_id: String,
    /// `rest` (the SQL path does not log yet).
    pub source: String,
}

pub fn schema() -> SchemaRef {
    let f = Field::new;
    Arc::new(Schema::new(vec![
        f(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        f("model", DataType::Utf8, false),
        f("version", DataType::Int64, false),
        f("customer_id", DataType::Utf8, true),
        f("features", DataType::Utf8, false),
        f("prediction", DataType::Float64, false),
        f("interval_lower", DataType::Float64, true),
        f("interval_upper", DataType::Float64, true),
        f("latency_ms", DataType::Float64, false),
        f("cached", DataType::Boolean, false),
        f("request_id", DataType::Utf8, false),
        f("source", DataType::Utf8, false),
    ]))
}

#[derive(Debug)]
pub struct PredictionLog {
    tx: mpsc::Sender<PredictionRecord>,
    capacity: usize,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    stop: tokio::sync::Mutex<
        Option<(
            tokio::sync::oneshot::Sender<()>,
            tokio::task::JoinHandle<()>,
        )>,
    >,
}

/// When the writer commits what it gathered: `every` after the first entry
/// of a batch arrived, or at `max_rows` entries, whichever comes first.
///
/// A commit costs far more than a row, and each one adds a file and a log
/// entry that every later snapshot carries until the next compaction, so
/// the interval trades what a crash (kill -9) may lose — the entries of the
/// last `every`, plus whatever backlog the queue held — against commits per
/// hour: 1 s (the default) is 3,600 commits an hour at most, whatever the
/// request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    pub every: Duration,
    pub max_rows: usize,
}

impl FlushPolicy {
    pub fn new(every_ms: u64, max_rows: usize) -> FlushPolicy {
        FlushPolicy {
            every: Duration::from_millis(every_ms.max(1)),
            max_rows: max_rows.max(1),
        }
    }

    /// Is a batch of `gathered` entries, the first of which arrived
    /// `waited` ago, to be committed now?
    pub fn is_due(&self, gathered: usize, waited: Duration) -> bool {
        gathered >= self.max_rows || (gathered > 0 && waited >= self.every)
    }
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy::new(1000, 20_000)
    }
}

impl PredictionLog {
    /// Creates `voidx.predictions` if needed and makes it queryable; done
    /// at start even when logging is off, so past entries stay readable.
    pub async fn register(catalog: &Catalog, system: &SystemSchema) -> Result<String> {
        let location = catalog.data_dir().location(&["voidx", "predictions"]);
        catalog.data_dir().ensure_table(&location, schema()).await?;
        system.register_delta("predictions", &location);
        Ok(location)
    }

    /// Registers the table and starts the writer.
    pub async fn open(
        catalog: &Catalog,
        system: &SystemSchema,
        capacity: usize,
        policy: FlushPolicy,
    ) -> Result<Arc<Self>> {
        let location = Self::register(catalog, system).await?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            location,
            table: None,
            compaction: catalog.compaction(),
        };
        let task = tokio::spawn(write_loop(
            writer,
            policy,
            rx,
            stop_rx,
            Arc::clone(&dropped),
            Arc::clone(&written),
        ));
        Ok(Arc::new(PredictionLog {
            tx,
            capacity: capacity.max(1),
            dropped,
            written,
            stop: tokio::sync::Mutex::new(Some((stop_tx, task))),
        }))
    }

    /// Queues an entry; when the queue is full the entry is dropped and counted.
    pub fn log(&self, record: PredictionRecord) {
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn queue_depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes everything queued, then stops the writer.
    pub async fn shutdown(&self) {
        if let Some((stop, task)) = self.stop.lock().await.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// The writer's handle on `voidx.predictions`, carried from commit to
/// commit.
///
/// Opening the table for every append (as this writer once did) read the
/// whole snapshot again — the checkpoint plus every commit after it, with
/// every file's statistics — twice a second. A commit made from the open
/// snapshot only applies itself to it. But an open snapshot keeps each
/// commit applied since it was loaded as a batch of its own (measured with
/// heaptrack: the live heap grew by about 15 kB per commit), so the table is
/// opened afresh right after each checkpoint (Delta writes one every
/// `delta.checkpointInterval` commits, 100 by default), when the fresh load
/// is the checkpoint alone, and after each compaction, which checkpoints
/// the compacted files. After a failed commit it is opened afresh too, in
/// case its state is what failed.
struct Writer {
    location: String,
    table: Option<DeltaTable>,
    compaction: Compaction,
}

impl Writer {
    async fn append(&mut self, rows: &[PredictionRecord]) -> Result<()> {
        let batch = to_record_batch(rows)?;
        let table = match self.table.take() {
            Some(table) => table,
            None => delta::open(&self.location).await?,
        };
        let table = delta::append_to(&table, &schema(), vec![batch]).await?;
        let compacted = self
            .compaction
            .after_commit(&table, "voidx.predictions")
            .await
            .is_some();
        if !compacted && !just_checkpointed(&table) {
            self.table = Some(table);
        }
        Ok(())
    }
}

/// Whether the commit that made `table`'s version also wrote a checkpoint
/// (delta-rs' post-commit hook writes one when `version + 1` is a multiple
/// of the interval).
fn just_checkpointed(table: &DeltaTable) -> bool {
    let (Some(version), Ok(state)) = (table.version(), table.snapshot()) else {
        return true;
    };
    let interval = state.table_config().checkpoint_interval().get();
    (version + 1).is_multiple_of(interval)
}

/// Adds to `pending` (which holds the batch's first entry) whatever
/// arrives until `policy` says the batch is due or the queue closes.
async fn gather(
    rx: &mut mpsc::Receiver<PredictionRecord>,
    pending: &mut Vec<PredictionRecord>,
    policy: FlushPolicy,
) {
    let first = tokio::time::Instant::now();
    let deadline = first + policy.every;
    while !policy.is_due(pending.len(), first.elapsed()) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(record)) => pending.push(record),
            _ => break,
        }
    }
}

async fn write_loop(
    mut writer: Writer,
    policy: FlushPolicy,
    mut rx: mpsc::Receiver<PredictionRecord>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
) {
    let mut pending: Vec<PredictionRecord> = Vec::new();
    loop {
        let stopping = tokio::select! {
            r = rx.recv() => match r {
                Some(record) => { pending.push(record); false }
                None => true,
            },
            _ = &mut stop => true,
        };
        if !stopping {
            gather(&mut rx, &mut pending, policy).await;
        } else {
            rx.close();
            while let Ok(record) = rx.try_recv() {
                pending.push(record);
            }
        }
        for chunk in pending.chunks(policy.max_rows) {
            match writer.append(chunk).await {
                Ok(()) => {
                    written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    dropped.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    tracing::warn!(
                        "could not write {} prediction log entries: {e}",
                        chunk.len()
                    );
                }
            }
        }
        pending.clear();
        if stopping {
            return;
        }
    }
}

/// Entries → one Arrow batch, built column by column (the writer's hot
/// path: a generic serde conversion cost as much as serving the request).
fn to_record_batch(rows: &[PredictionRecord]) -> Result<arrow::array::RecordBatch> {
    use arrow::array::{
        ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
        TimestampMillisecondBuilder,
    };
    let n = rows.len();
    let mut ts = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut model = StringBuilder::new();
    let mut version = Int64Builder::with_capacity(n);
    let mut customer = StringBuilder::new();
    let mut features = StringBuilder::new();
    let mut prediction = Float64Builder::with_capacity(n);
    let mut lower = Float64Builder::with_capacity(n);
    let mut upper = Float64Builder::with_capacity(n);
    let mut latency = Float64Builder::with_capacity(n);
    let mut cached = BooleanBuilder::with_capacity(n);
    let mut request = StringBuilder::new();
    let mut source = StringBuilder::new();
    for r in rows {
        ts.append_value(r.ts);
        model.append_value(&r.model);
        version.append_value(r.version);
        customer.append_option(r.customer_id.as_deref());
        features.append_value(&r.features);
        prediction.append_value(r.prediction);
        lower.append_option(r.interval_lower);
        upper.append_option(r.interval_upper);
        latency.append_value(r.latency_ms);
        cached.append_value(r.cached);
        request.append_value(&r.request_id);
        source.append_value(&r.source);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(model.finish()),
        Arc::new(version.finish()),
        Arc::new(customer.finish()),
        Arc::new(features.finish()),
        Arc::new(prediction.finish()),
        Arc::new(lower.finish()),
        Arc::new(upper.finish()),
        Arc::new(latency.finish()),
        Arc::new(cached.finish()),
        Arc::new(request.finish()),
        Arc::new(source.finish()),
    ];
    Ok(arrow::array::RecordBatch::try_new(schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> PredictionRecord {
        PredictionRecord {
            ts: 0,
            model: "m".into(),
            version: 1,
            customer_id: None,
            features: "{}".into(),
            prediction: i as f64,
            interval_lower: None,
            interval_upper: None,
            latency_ms: 0.0,
            cached: false,
            request_id: format!("r{i}"),
            source: "rest".into(),
        }
    }

    #[test]
    fn a_batch_is_due_at_its_size_or_its_age_whichever_first() {
        let p = FlushPolicy::new(1000, 3);
        assert!(!p.is_due(0, Duration::from_secs(5)), "nothing to commit");
        assert!(!p.is_due(2, Duration::from_millis(999)));
        assert!(p.is_due(2, Duration::from_millis(1000)), "old enough");
        assert!(p.is_due(3, Duration::ZERO), "full");
        assert!(p.is_due(4, Duration::ZERO));
        // Zero is refused by the config check; here it still means "at once".
        assert_eq!(FlushPolicy::new(0, 0), FlushPolicy::new(1, 1));
        assert_eq!(FlushPolicy::default().every, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn gather_stops_at_max_rows_without_waiting_for_the_interval() {
        let (tx, mut rx) = mpsc::channel(10);
        for i in 0..5 {
            tx.send(record(i)).await.unwrap();
        }
        let mut pending = vec![rx.recv().await.unwrap()];
        // An hour-long interval: only the row limit can end this gather.
        gather(&mut rx, &mut pending, FlushPolicy::new(3_600_000, 3)).await;
        assert_eq!(pending.len(), 3);
        assert_eq!(rx.len(), 2, "the rest stays queued for the next batch");
    }

    #[tokio::test]
    async fn gather_ends_at_the_interval_when_fewer_rows_arrive() {
        let (tx, mut rx) = mpsc::channel(10);
        tx.send(record(0)).await.unwrap();
        tx.send(record(1)).await.unwrap();
        let mut pending = vec![rx.recv().await.unwrap()];
        gather(&mut rx, &mut pending, FlushPolicy::new(20, 1000)).await;
        assert_eq!(pending.len(), 2);
        drop(tx);
    }
}
