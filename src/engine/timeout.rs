//! `statement_timeout`: a deadline that covers planning, execution and the
//! streaming of results. A query past its deadline fails alone (57014);
//! the server and other sessions are unaffected.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::{Result, VoidxError};

pub type Deadline = Option<(Instant, Duration)>;

pub async fn run<F: Future>(deadline: Deadline, fut: F) -> Result<F::Output> {
    match deadline {
        Some((at, limit)) => tokio::time::timeout_at(at, fut)
            .await
            .map_err(|_| VoidxError::Timeout(limit.as_millis())),
        None => Ok(fut.await),
    }
}

/// Fail the stream with 57014 once the deadline passes.
pub fn wrap(stream: SendableRecordBatchStream, deadline: Deadline) -> SendableRecordBatchStream {
    match deadline {
        Some((at, limit)) => Box::pin(DeadlineStream {
            inner: stream,
            sleep: Box::pin(tokio::time::sleep_until(at)),
            limit,
            expired: false,
        }),
        None => stream,
    }
}

struct DeadlineStream {
    inner: SendableRecordBatchStream,
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
    expired: bool,
}

impl Stream for DeadlineStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let err = VoidxError::Timeout(self.limit.as_millis());
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(err)))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for DeadlineStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}
