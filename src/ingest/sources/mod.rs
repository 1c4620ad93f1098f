//! Source table factories: `STORED AS REST`, `HTML`, `POSTGRES`, and the
//! file formats wrapped with the allowlist.

pub mod files;
pub mod html;
pub mod http;
pub mod jsonpath;
pub mod options;
pub mod postgres;
pub mod rest;
pub mod secrets;

use std::sync::Arc;

use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::policy::Policy;

/// Installs every source factory on the session (replacing DataFusion's
/// unchecked file factories with checked ones).
pub fn register(ctx: &SessionContext, policy: &Arc<Policy>) -> Result<()> {
    // Files and object stores: DataFusion's own factories behind the
    // allowlist; POSTGRES: streamed COPY with pushdown.
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        let factories = state.table_factories_mut();
        let formats: Vec<String> = factories.keys().cloned().collect();
        for format in formats {
            if let Some(inner) = factories.get(&format).cloned() {
                let checked = files::CheckedFileFactory::new(inner, policy);
                factories.insert(format, Arc::new(checked));
            }
        }
        factories.insert(
            "POSTGRES".into(),
            Arc::new(postgres::PostgresFactory::new(policy)),
        );
    }
    // Network sources (REST, HTML): one policy-checked HTTP client shared
    // by every scan.
    {
        let client = policy.http_client()?;
        let state = ctx.state_ref();
        let mut state = state.write();
        let factories = state.table_factories_mut();
        factories.insert(
            "REST".into(),
            Arc::new(rest::RestFactory::new(policy, &client)),
        );
        factories.insert(
            "HTML".into(),
            Arc::new(html::HtmlFactory::new(policy, &client)),
        );
    }
    Ok(())
}
