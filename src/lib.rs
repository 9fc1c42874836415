//! Code Router: an OpenAI-compatible LLM gateway with exact prepaid billing, in one binary.
//! `build_router` gives the whole HTTP surface; `serve` runs it until `shutdown` resolves.

pub mod accounts;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod error;
pub mod json;
pub mod ledger;
pub mod net;
pub mod pricing;
pub mod random;
pub mod ratelimit;
pub mod router;
pub mod state;
pub mod system;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

pub use router::build_router;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;

/// Opens the database named by the config and builds the server state.
pub fn open_state(config: Config, clock: SharedClock) -> Result<AppState, String> {
    let db = Db::open(&config.database_path())?;
    Ok(AppState::new(config, db, clock))
}

/// Serves the gateway and console on `listener` until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = build_router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
