//! The panic safety net: a statement that panics anywhere — planning, a
//! table function, a UDF, or while its result batches are polled — fails
//! alone with XX000. The session (and every other one) stays usable, and the
//! panic is logged with the statement that caused it.
//!
//! Panics should not happen (user numbers go through checked arithmetic);
//! this is the second line, so a missed case costs one statement, not a
//! connection.
//!
//! ```no_run
//! # async fn f(engine: &voidx::engine::Engine, stmt: &voidx::engine::Stmt) {
//! // Engine::execute already runs every statement through the guard:
//! let _ = engine.execute(stmt, None, None).await; // Err(XX000) instead of unwinding
//! # }
//! ```

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::{FutureExt, Stream};

use super::Output;
use crate::error::{Result, VoidxError};

/// The panic payload as text (`panic!("…")` carries a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

fn panic_error(statement: &str, payload: &(dyn Any + Send)) -> VoidxError {
    let message = panic_message(payload);
    tracing::error!(statement, panic = %message, "statement panicked; failed with XX000");
    VoidxError::Internal(format!(
        "the statement hit an internal error and was stopped ({message}); the session is still usable. Help: this is a bug; please report it with the statement"
    ))
}

/// Run a statement's planning or execution, turning a panic into XX000.
pub async fn catch<T, F>(statement: impl Fn() -> String, fut: F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(panic_error(&statement(), payload.as_ref())),
    }
}

/// Run a statement's execution, turning a panic into an XX000 error and
/// guarding the batches it streams.
pub async fn run<F>(statement: impl Fn() -> String, fut: F) -> Result<Output>
where
    F: Future<Output = Result<Output>>,
{
    match catch(&statement, fut).await? {
        Output::Rows(stream) => Ok(Output::Rows(Box::pin(GuardedStream {
            inner: stream,
            statement: statement(),
            done: false,
        }))),
        other => Ok(other),
    }
}

/// Polls the inner stream inside `catch_unwind`; after a panic the stream
/// yields one error and ends.
struct GuardedStream {
    inner: SendableRecordBatchStream,
    statement: String,
    done: bool,
}

impl Stream for GuardedStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match std::panic::catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll_next(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                this.done = true;
                let err = panic_error(&this.statement, payload.as_ref());
                Poll::Ready(Some(Err(DataFusionError::External(Box::new(err)))))
            }
        }
    }
}

impl RecordBatchStream for GuardedStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_panicking_future_is_an_internal_error() {
        let out = run(|| "SELECT boom()".into(), async {
            panic!("attempt to multiply with overflow")
        })
        .await;
        let e = out.err().expect("an error");
        assert_eq!(e.sqlstate(), "XX000");
        assert!(e.to_string().contains("multiply with overflow"));
    }

    #[tokio::test]
    async fn a_panicking_stream_yields_one_error_and_ends() {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::empty());
        let inner = futures::stream::poll_fn(|_| -> Poll<Option<DfResult<RecordBatch>>> {
            panic!("index out of bounds")
        });
        let stream: SendableRecordBatchStream =
            Box::pin(RecordBatchStreamAdapter::new(schema, inner));
        let Ok(Output::Rows(mut guarded)) =
            run(
                || "SELECT 1".into(),
                async move { Ok(Output::Rows(stream)) },
            )
            .await
        else {
            panic!("expected rows")
        };
        let first = guarded.next().await.expect("one item");
        assert!(
            first
                .unwrap_err()
                .to_string()
                .contains("index out of bounds")
        );
        assert!(guarded.next().await.is_none());
    }
}
