//! Code Router: an OpenAI-compatible LLM gateway with exact prepaid billing, in one binary.
//! `build_router` gives the whole HTTP surface; `serve` runs it until `shutdown` resolves.

pub mod accounts;
pub mod admin;
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
pub mod pricing;
pub mod random;
pub mod ratelimit;
pub mod referral;
pub mod relay;
pub mod router;
pub mod state;
pub mod system;
pub mod telemetry;
pub mod topup;

use std::future::Future;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

pub use router::build_router;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;

/// Opens the database named by the config, releases holds that a previous run left open (their
/// requests died with it), and builds the server state.
pub fn open_state(config: Config, clock: SharedClock) -> Result<AppState, String> {
    let db = Db::open(&config.database_path())?;
    let now = clock.now();
    let released = db
        .write_blocking(|conn| {
            ledger::holds::release_open_holds(
                conn,
                "released at start-up: request did not finish",
                now,
            )
        })
        .map_err(|e| format!("releasing unfinished holds: {}", e.cli_text()))?;
    if released > 0 {
        tracing::warn!(released, "released holds left open by the previous run");
    }
    for problem in config.payments.unset_secrets() {
        tracing::error!("{problem}; that payment method fails until it is set");
    }
    let key_secret = db
        .write_blocking(|conn| keys::secret::load_or_create_server_secret(conn))
        .map_err(|e| format!("loading the key secret: {}", e.cli_text()))?;
    AppState::new(config, db, clock, key_secret)
}

/// Serves the gateway and console on `listener` until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    logs::retention::spawn_pruner(state.clone());
    let app = build_router(state.clone());
    // Without TCP_NODELAY, a stream's small events wait on the client's delayed ACKs.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let finishing = state.clone();
    let _ = tokio::task::spawn_blocking(move || shut_down(&finishing)).await;
    served
}

/// After the last response: write every finished request, release holds whose requests can no
/// longer finish, and fold the WAL into the database file.
fn shut_down(state: &AppState) {
    state.writer.shutdown();
    let now = state.clock.now();
    match state.db.write_blocking(|conn| {
        let released = ledger::holds::release_open_holds(
            conn,
            "released at shutdown: request did not finish",
            now,
        )?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(released)
    }) {
        Ok(0) => {}
        Ok(released) => tracing::warn!(released, "released unfinished holds at shutdown"),
        Err(e) => tracing::error!(error = %e.cli_text(), "shutdown clean-up failed"),
    }
    tracing::info!("stopped");
}
