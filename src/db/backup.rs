//! Online backup: a consistent copy of the live database, taken while the server keeps writing.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::Connection;

/// Copies the database at `from` to `to` with SQLite's backup API, a few pages at a time so
/// writers are not held up; the copy is a snapshot as of the end of the run.
pub fn backup(from: &Path, to: &Path) -> Result<(), String> {
    if to.exists() {
        return Err(format!(
            "backup: {} already exists; choose a new file",
            to.display()
        ));
    }
    let src = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("backup: cannot open {}: {e}", from.display()))?;
    src.busy_timeout(Duration::from_secs(5))
        .map_err(|e| format!("backup: {e}"))?;
    let mut dst =
        Connection::open(to).map_err(|e| format!("backup: cannot create {}: {e}", to.display()))?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(|e| format!("backup: {e}"))?;
        backup
            .run_to_completion(256, Duration::from_millis(5), None)
            .map_err(|e| format!("backup: {e}"))?;
    }
    let check: String = dst
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("backup: checking the copy: {e}"))?;
    if check != "ok" {
        return Err(format!(
            "backup: the copy failed its integrity check: {check}"
        ));
    }
    Ok(())
}
