//! Source table factories: `STORED AS REST`, `HTML`, `POSTGRES`, and the
//! file formats wrapped with the allowlist.

pub mod html;
pub mod http;
pub mod jsonpath;
pub mod options;
pub mod rest;

use std::sync::Arc;

use datafusion::prelude::SessionContext;

use super::policy::Policy;
use crate::error::Result;

/// Installs every source factory on the session (replacing DataFusion's
/// unchecked file factories with checked ones).
pub fn register(ctx: &SessionContext, policy: &Arc<Policy>) -> Result<()> {
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
