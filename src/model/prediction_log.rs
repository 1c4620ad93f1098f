//! The prediction log: every REST prediction appended to the Delta table
//! `voidx.predictions`, asynchronously and in batches.
//!
//! Requests never wait for storage: entries go into a bounded queue; when it
//! is full an entry is dropped and counted (`dropped()`, exported as a
//! metric), never silently lost. One writer task appends the queued entries
//! per Delta commit (up to 20,000), at least every 500 ms while entries arrive, and
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

/// Entries per Delta commit; a commit costs far more than a row.
const BATCH: usize = 20_000;

/// The longest an entry waits in the writer before its commit starts, so
/// the most a crash (kill -9) loses of a steady stream: what arrived in the
/// last `FLUSH_EVERY`, plus whatever backlog the queue held.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

impl PredictionLog {
    /// Creates `voidx.predictions` if needed and makes it queryable; done
    /// at start even when logging is off, so past entries stay readable.
    pub async fn register(catalog: &Catalog, system: &SystemSchema) -> Result<String> {
        let location = catalog
            .data_dir()
            .join("voidx")
            .join("predictions")
            .display()
            .to_string();
        if !std::path::Path::new(&location).join("_delta_log").exists() {
            delta::create_with(&location, schema(), Vec::new()).await?;
        }
        system.register_delta("predictions", &location);
        Ok(location)
    }

    /// Registers the table and starts the writer.
    pub async fn open(
        catalog: &Catalog,
        system: &SystemSchema,
        capacity: usize,
    ) -> Result<Arc<Self>> {
        let location = Self::register(catalog, system).await?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(write_loop(
            location,
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
/// is the checkpoint alone. After a failed commit it is opened afresh too,
/// in case its state is what failed.
struct Writer {
    location: String,
    table: Option<DeltaTable>,
}

impl Writer {
    async fn append(&mut self, rows: &[PredictionRecord]) -> Result<()> {
        let batch = to_record_batch(rows)?;
        let table = match self.table.take() {
            Some(table) => table,
            None => delta::open(&self.location).await?,
        };
        let table = delta::append_to(&table, &schema(), vec![batch]).await?;
        if !just_checkpointed(&table) {
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

async fn write_loop(
    location: String,
    mut rx: mpsc::Receiver<PredictionRecord>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
) {
    let mut writer = Writer {
        location,
        table: None,
    };
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
            // Gather a batch: whatever arrives within FLUSH_EVERY, up to BATCH.
            let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
            while pending.len() < BATCH {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(record)) => pending.push(record),
                    _ => break,
                }
            }
        } else {
            rx.close();
            while let Ok(record) = rx.try_recv() {
                pending.push(record);
            }
        }
        for chunk in pending.chunks(BATCH) {
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
