//! Front ends: the PostgreSQL wire protocol and the HTTP server. Both are
//! thin: they map requests to [`crate::engine::Engine`] and errors to their
//! protocol in one place each.

pub mod http;
pub mod pg;
