//! Whether anyone has committed to the database since the last look, without a query: SQLite's
//! WAL-index header (the first 48 bytes of the `-shm` file, see sqlite.org/walformat.html)
//! changes with every commit of every connection, in this process or another. Reading it is one
//! `pread` and takes no lock; a torn read merely looks like a change.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes of the WAL-index header (its first copy).
const HEADER: usize = 48;

pub struct CommitWatch {
    shm_path: PathBuf,
    shm: Option<File>,
    seen: [u8; HEADER],
    warned: bool,
}

impl CommitWatch {
    /// Watches the database at `db_path` (which must be in WAL mode).
    pub fn new(db_path: &Path) -> CommitWatch {
        let mut shm_path = db_path.as_os_str().to_owned();
        shm_path.push("-shm");
        CommitWatch {
            shm_path: PathBuf::from(shm_path),
            shm: None,
            seen: [0; HEADER],
            warned: false,
        }
    }

    /// Whether some connection may have committed since the last call that said so (the first
    /// call always says so). When the header cannot be read, every call says so.
    pub fn changed(&mut self) -> bool {
        let mut now = [0u8; HEADER];
        if !self.read_header(&mut now) {
            return true;
        }
        if now == self.seen {
            return false;
        }
        self.seen = now;
        true
    }

    /// Forgets the last look, so the next one says something changed.
    pub fn forget(&mut self) {
        self.seen = [0; HEADER];
    }

    fn read_header(&mut self, into: &mut [u8; HEADER]) -> bool {
        if self.shm.is_none() {
            match File::open(&self.shm_path) {
                Ok(file) => self.shm = Some(file),
                Err(e) => {
                    self.warn(&e);
                    return false;
                }
            }
        }
        match self.shm.as_ref().map(|f| f.read_exact_at(into, 0)) {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                // Recreated under us (every connection closed and opened again): look again.
                self.shm = None;
                self.warn(&e);
                false
            }
            None => false,
        }
    }

    fn warn(&mut self, error: &std::io::Error) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(path = %self.shm_path.display(), %error,
                "cannot read the WAL index; every admission will check for outside writes with a query");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_commit_of_any_connection_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let a = rusqlite::Connection::open(&path).unwrap();
        a.pragma_update(None, "journal_mode", "WAL").unwrap();
        a.execute_batch("CREATE TABLE t (x)").unwrap();
        let b = rusqlite::Connection::open(&path).unwrap();
        let mut watch = CommitWatch::new(&path);
        assert!(watch.changed(), "the first look says so");
        assert!(!watch.changed(), "nothing since");
        for conn in [&a, &b, &a, &a] {
            conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
            assert!(watch.changed());
            assert!(!watch.changed());
        }
        // Reads change nothing.
        let _: i64 = b
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert!(!watch.changed());
        // A checkpoint that restarts the log, then a commit: still seen.
        a.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let _ = watch.changed();
        b.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert!(watch.changed());
    }

    #[test]
    fn without_an_index_every_look_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = CommitWatch::new(&dir.path().join("missing.db"));
        assert!(watch.changed());
        assert!(watch.changed());
    }
}
