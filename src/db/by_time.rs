//! Time ranges over append-only tables without an index on time: rows are appended as they
//! happen, so their ids run in time order, and the first row of a period is found by a binary
//! search over ids (a few rowid lookups) instead of a scan of the whole table.

use rusqlite::{Connection, OptionalExtension};

use crate::db::{Store, StoreError};

/// Tables whose ids run in time order (`created_at`, Unix seconds).
#[derive(Debug, Clone, Copy)]
pub enum Appended {
    Ledger,
    RequestLogs,
}

impl Appended {
    fn table(self) -> &'static str {
        match self {
            Appended::Ledger => "ledger",
            Appended::RequestLogs => "request_logs",
        }
    }
}

/// How far out of order two rows may have been committed (a time is taken before a transaction
/// waits for the writer): the search starts this much early and the caller's exact
/// `created_at >= since` filter does the rest, so no row of the period is ever missed.
const SLACK_SECS: i64 = 300;

/// The smallest id at or after which every row of `table` created at or after `since` lies.
pub fn first_id_since(conn: &Connection, table: Appended, since: i64) -> Result<i64, StoreError> {
    let name = table.table();
    // Two queries: SQLite answers a lone min() or max() of the rowid from the end of the B-tree,
    // but `SELECT min(id), max(id)` together by reading the whole table.
    let end = |sql: String| -> Result<Option<i64>, StoreError> {
        conn.prepare_cached(&sql)
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .store("find the ids of a table")
    };
    let (Some(mut lo), Some(max)) = (
        end(format!("SELECT min(id) FROM {name}"))?,
        end(format!("SELECT max(id) FROM {name}"))?,
    ) else {
        return Ok(0);
    };
    let mut hi = max + 1;
    let at_or_after =
        format!("SELECT id, created_at FROM {name} WHERE id >= ?1 ORDER BY id LIMIT 1");
    let mut stmt = conn
        .prepare_cached(&at_or_after)
        .store("find a row by id")?;
    let target = since.saturating_sub(SLACK_SECS);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let found: Option<(i64, i64)> = stmt
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .store("find a row by id")?;
        match found {
            Some((_, created_at)) if created_at >= target => hi = mid,
            Some((id, _)) => lo = id + 1,
            None => hi = mid,
        }
    }
    Ok(lo)
}

/// An id below which every row of `table` created before `until` lies (one past the last id
/// when rows that late are not there yet).
pub fn end_id_before(conn: &Connection, table: Appended, until: i64) -> Result<i64, StoreError> {
    // A row created before `until` was committed before any row created SLACK_SECS after it,
    // and the search starts SLACK_SECS early.
    first_id_since(conn, table, until.saturating_add(2 * SLACK_SECS))
}
