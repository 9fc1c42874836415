//! Online backup: a consistent copy of the live database, taken while the server keeps writing.

use std::path::Path;

use rusqlite::Connection;

/// Writes a snapshot of the database at `from` to the new file `to` with `VACUUM INTO`: one read
/// transaction, so the copy is consistent, and in WAL mode the server's writers are not blocked.
pub fn backup(from: &Path, to: &Path) -> Result<(), String> {
    if to.exists() {
        return Err(format!(
            "backup: {} already exists; choose a new file",
            to.display()
        ));
    }
    if !from.exists() {
        return Err(format!("backup: no database at {}", from.display()));
    }
    let src = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("backup: cannot open {}: {e}", from.display()))?;
    crate::db::apply_pragmas(&src).map_err(|e| format!("backup: {e}"))?;
    let target = to
        .to_str()
        .ok_or_else(|| format!("backup: {} is not a UTF-8 path", to.display()))?;
    src.execute("VACUUM INTO ?1", [target])
        .map_err(|e| format!("backup: writing {}: {e}", to.display()))?;
    let copy = Connection::open(to).map_err(|e| format!("backup: reopening the copy: {e}"))?;
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("backup: checking the copy: {e}"))?;
    if check != "ok" {
        return Err(format!(
            "backup: the copy failed its integrity check: {check}"
        ));
    }
    Ok(())
}
