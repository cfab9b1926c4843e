//! `rask server`: the platform on one machine. A control plane with a REST API (`api.rs`,
//! OpenAPI at `/api/v1/openapi.json`), a persistent catalog (`catalog.rs`), deployments whose
//! jobs run as isolated worker processes (`jobs.rs`), SELECT previews (`preview.rs`), metrics
//! (`metrics.rs`) and the web console (`console.rs`), over a metadata store that is SQLite in
//! the data directory by default or PostgreSQL by URL (`store.rs`).

pub mod api;
pub mod catalog;
pub mod console;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod preview;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use error::ServerError;

#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    pub catalog: catalog::Catalog,
    pub jobs: jobs::Jobs,
    pub series: metrics::Series,
    pub previews: preview::Previews,
}

pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Metadata store URL; default: SQLite in the data directory.
    pub database_url: Option<String>,
    /// The binary that runs workers (`rask run`).
    pub worker_bin: PathBuf,
}

/// Open the store, recover jobs, and serve until the process is stopped. `ready` receives the
/// bound address (useful with port 0).
pub async fn serve(cfg: ServerConfig, ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>) -> error::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let url = cfg.database_url.clone().unwrap_or_else(|| format!("sqlite://{}?mode=rwc", cfg.data_dir.join("rask.db").display()));
    let store = store::Store::open(&url).await?;
    let catalog = catalog::Catalog::new(store.clone());
    let jobs = jobs::Jobs::new(store.clone(), catalog.clone(), cfg.data_dir.clone(), cfg.worker_bin.clone());
    jobs.recover().await?;
    tokio::spawn(jobs.clone().watch_memory());
    let previews = preview::Previews::new(catalog.clone(), &cfg.data_dir, cfg.worker_bin.clone());
    let state = AppState { store, catalog, jobs, series: metrics::Series::default(), previews };
    tokio::spawn(metrics::sample_forever(state.clone()));
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(|e| ServerError::External(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = %store::redact(&url), "rask server listening");
    println!("rask server listening on http://{addr} (metadata: {})", store::redact(&url));
    if let Some(r) = ready {
        let _ = r.send(addr);
    }
    axum::serve(listener, api::router(state)).await.map_err(|e| ServerError::External(format!("serving HTTP: {e}")))
}
