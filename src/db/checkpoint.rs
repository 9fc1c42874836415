//! The WAL checkpointer: a background thread that folds the WAL back into the database file
//! once a second, so the fsync a checkpoint does is never paid by a commit of the request writer
//! (whose connection checkpoints only past a safety limit, see `ledger::writer`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::background::set_background;

/// How often the WAL is folded back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

pub struct Checkpointer {
    running: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Checkpointer, String> {
        let conn = Connection::open(path)
            .and_then(|c| super::apply_pragmas(&c).map(|_| c))
            .map_err(|e| format!("checkpointer: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wal-checkpointer".into())
            .spawn(move || {
                // Always in the background: if it starves on a saturated machine, the request
                // writer's own commits checkpoint past their safety limit.
                set_background(thread_priority::thread_native_id(), true);
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::debug!(error = %e, "background checkpoint skipped");
                    }
                }
            })
            .map_err(|e| format!("checkpointer: {e}"))?;
        Ok(Checkpointer {
            running: Mutex::new(Some((stop, thread))),
        })
    }

    /// Stops the thread (after its current sleep); the caller checkpoints last itself.
    pub fn stop(&self) {
        if let Some((stop, thread)) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}
