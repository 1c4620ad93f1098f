//! The one place where errors become PostgreSQL `ErrorResponse`s.

use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::VoidxError;

/// A VOIDX error as the client sees it: SQLSTATE, message, and the
/// "Help: …" part as the HINT field psql prints on its own line.
pub fn error_info(e: &VoidxError) -> ErrorInfo {
    let message = e.client_message();
    let (message, hint) = match message.split_once(". Help: ") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (message, None),
    };
    let mut info = ErrorInfo::new("ERROR".to_string(), e.sqlstate().to_string(), message);
    info.hint = hint;
    info
}

pub fn to_pgwire(e: VoidxError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&e)))
}

pub fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message,
    )))
}

/// Errors raised inside pgwire or datafusion-postgres code (hooks, parameter
/// decoding) arrive as `ApiError`; give them a real SQLSTATE too.
pub fn normalize(error: &mut PgWireError) {
    let PgWireError::ApiError(inner) = error else {
        return;
    };
    let voidx = if let Some(df) = inner.downcast_ref::<DataFusionError>() {
        error_info(&VoidxError::DataFusion(clone_df(df)))
    } else if let Some(v) = inner.downcast_ref::<VoidxError>() {
        error_info(v)
    } else {
        ErrorInfo::new("ERROR".into(), "XX000".into(), inner.to_string())
    };
    *error = PgWireError::UserError(Box::new(voidx));
}

/// DataFusionError is not Clone; rebuild the variants whose kind matters.
fn clone_df(e: &DataFusionError) -> DataFusionError {
    match e {
        DataFusionError::Plan(m) => DataFusionError::Plan(m.clone()),
        DataFusionError::Execution(m) => DataFusionError::Execution(m.clone()),
        DataFusionError::NotImplemented(m) => DataFusionError::NotImplemented(m.clone()),
        DataFusionError::ResourcesExhausted(m) => DataFusionError::ResourcesExhausted(m.clone()),
        DataFusionError::SQL(inner, _) => DataFusionError::Plan(format!("syntax error: {inner}")),
        other => DataFusionError::Execution(other.to_string()),
    }
}
