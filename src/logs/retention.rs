//! Log retention: request logs older than `[logs] retain_days` are deleted in the background, a
//! few thousand rows per transaction so writers are never held up for long. The ledger is never
//! pruned: balances are sums of it.

use std::time::Duration;

use rusqlite::Connection;

use super::usage::{delete_days_before, DAY};
use crate::db::Store;
use crate::error::ApiResult;
use crate::state::AppState;

const CHUNK: i64 = 5000;

/// Deletes log rows of the days before the one `cutoff` (Unix seconds) falls in, and those
/// days' usage rollups (whole days, so the rollups stay the sums of the logs kept); returns how
/// many log rows.
pub fn delete_logs_before(conn: &mut Connection, cutoff: i64) -> ApiResult<usize> {
    let day = cutoff.div_euclid(DAY);
    let mut total = 0;
    loop {
        let tx = crate::db::immediate(conn)?;
        let deleted = tx
            .execute(
                "DELETE FROM request_logs WHERE id IN
               (SELECT id FROM request_logs WHERE created_at < ?1 ORDER BY id LIMIT ?2)",
                rusqlite::params![day * DAY, CHUNK],
            )
            .store("delete old log rows")?;
        let last = (deleted as i64) < CHUNK;
        if last {
            delete_days_before(&tx, day)?;
        }
        tx.commit().store("commit deleted log rows")?;
        total += deleted;
        if last {
            return Ok(total);
        }
    }
}

/// One pass with the live config and clock; 0 days keeps everything.
pub async fn prune_expired(state: &AppState) -> ApiResult<usize> {
    let days = state.config().logs.retain_days;
    if days == 0 {
        return Ok(0);
    }
    let cutoff = state.clock.now() - i64::from(days) * 86_400;
    let deleted = state
        .db
        .write(move |conn| delete_logs_before(conn, cutoff))
        .await?;
    if deleted > 0 {
        tracing::info!(deleted, days, "pruned old request logs");
    }
    Ok(deleted)
}

/// Prunes a minute after start (not during start-up) and then hourly, while the server runs.
pub fn spawn_pruner(state: AppState) {
    tokio::spawn(async move {
        let first = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut hourly = tokio::time::interval_at(first, Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            if let Err(e) = prune_expired(&state).await {
                tracing::error!(error = %e.cli_text(), "pruning request logs failed");
            }
        }
    });
}
