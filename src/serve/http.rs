//! The HTTP server. For now `GET /health`; the REST prediction shim joins it.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Result, VoidxError};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    catalog: String,
    data_dir: String,
    tables: usize,
}

async fn health(State(engine): State<Arc<Engine>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        catalog: engine.catalog_name.clone(),
        data_dir: engine.catalog.data_dir().display().to_string(),
        tables: engine.catalog.objects().len(),
    })
}

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(engine)
}

pub async fn bind(config: &Config) -> Result<TcpListener> {
    TcpListener::bind(config.http.addr).await.map_err(|e| {
        VoidxError::Config(format!(
            "cannot listen on {} for HTTP: {e}. Help: choose another --http-addr",
            config.http.addr
        ))
    })
}

pub async fn run(listener: TcpListener, engine: Arc<Engine>) -> std::io::Result<()> {
    axum::serve(listener, router(engine)).await
}
