//! Code Router: an OpenAI-compatible LLM gateway with exact prepaid billing, in one binary.
//! `build_router` gives the whole HTTP surface; `serve` runs it until `shutdown` resolves.

pub mod accounts;
pub mod admin;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod error;
pub mod extract;
pub mod keys;
pub mod ledger;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod openapi;
pub mod pagination;
pub mod pricing;
pub mod random;
pub mod ratelimit;
pub mod referral;
pub mod relay;
pub mod request_id;
pub mod router;
pub mod server;
pub mod state;
pub mod system;
pub mod telemetry;
pub mod topup;

use std::future::Future;

use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use router::build_router;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::db::Store;
use crate::state::AppState;

/// Opens the database named by the config (migrating an older file) and builds the server state.
pub fn open_state(config: Config, clock: SharedClock) -> Result<AppState, String> {
    let db = Db::open(&config.database_path())?;
    for problem in config.payments.unset_secrets() {
        tracing::error!("{problem}; that payment method fails until it is set");
    }
    let key_secret = db
        .write_blocking(|conn| keys::secret::load_or_create_server_secret(conn))
        .map_err(|e| format!("loading the key secret: {}", e.cli_text()))?;
    AppState::new(config, db, clock, key_secret)
}

/// Serves the gateway and console on `listener` until `shutdown` completes, then lets
/// in-flight requests finish (up to `server.shutdown_timeout_secs`) and shuts down cleanly.
///
/// The accept loop is our own, on hyper directly, so that every connection gets a header-read
/// timeout (a client trickling headers is cut off, not kept forever) and TCP_NODELAY (without
/// it, a stream's small events wait on the client's delayed ACKs). It only accepts: each
/// connection is served on one of `server.workers` threads of its own (see `server`).
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    logs::retention::spawn_pruner(state.clone());
    let config = state.config();
    let app = build_router(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.server.header_timeout_secs))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let own_client = state.clone();
    let threads = server::ServingThreads::start(usize::from(config.server.workers), move || {
        own_client.use_own_upstream_client()
    })?;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        // Off this runtime's poller, onto the serving thread's.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "could not hand over a connection");
                continue;
            }
        };
        let service =
            app.clone()
                .map_request(move |mut request: axum::extract::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let http = http.clone();
        let watcher = graceful.watcher();
        threads.dispatch(move |open| {
            let stream = match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "could not take over a connection");
                    return;
                }
            };
            let connection = http.serve_connection(
                TokioIo::new(server::Lingering::new(stream)),
                TowerToHyperService::new(service),
            );
            let connection = watcher.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(open);
            });
        });
    }
    drop(listener);
    let grace = Duration::from_secs(config.server.shutdown_timeout_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = grace.as_secs(),
            "in-flight requests did not finish in time"
        );
    }
    let _ = tokio::task::spawn_blocking(move || threads.stop()).await;
    let finishing = state.clone();
    let _ = tokio::task::spawn_blocking(move || shut_down(&finishing)).await;
    Ok(())
}

/// After the last response: write every finished request, then fold the WAL into the database
/// file. A request cut off by the grace period is neither charged nor logged: its hold lived
/// only in memory.
fn shut_down(state: &AppState) {
    state.writer.shutdown();
    state.checkpointer.stop();
    let open = state.funds.open_holds();
    if open > 0 {
        tracing::warn!(open, "requests still running at shutdown are not charged");
    }
    if let Err(e) = state.db.write_blocking(|conn| {
        Ok(conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .store("checkpoint the database")?)
    }) {
        tracing::error!(error = %e.cli_text(), "shutdown checkpoint failed");
    }
    tracing::info!("stopped");
}
