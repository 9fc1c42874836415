//! Storage errors: a failed database operation names what it was doing (`store: unable to write
//! a request's log row: …`) and is classified once, here, by what a caller can do about it.

/// What a caller can do about a failed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database stayed locked past the busy timeout: the same operation may succeed later.
    Busy,
    /// The database refused the data itself (a constraint, a row that is not there): trying
    /// the same operation again cannot succeed.
    Refused,
    /// Anything else (I/O, a full disk, a corrupt file): may pass, may not.
    Other,
}

#[derive(Debug, thiserror::Error)]
#[error("store: unable to {op}: {source}")]
pub struct StoreError {
    pub op: &'static str,
    pub failure: Failure,
    #[source]
    pub source: rusqlite::Error,
}

impl StoreError {
    pub fn new(op: &'static str, source: rusqlite::Error) -> StoreError {
        let failure = match &source {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Failure::Busy
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Failure::Refused
            }
            rusqlite::Error::QueryReturnedNoRows => Failure::Refused,
            _ => Failure::Other,
        };
        StoreError {
            op,
            failure,
            source,
        }
    }
}

/// Names the operation of a database call: `conn.execute(…).store("write a log row")?`.
pub trait Store<T> {
    fn store(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Store<T> for rusqlite::Result<T> {
    fn store(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::new(op, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_and_named() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)")
            .unwrap();
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let e = conn
            .execute("INSERT INTO t VALUES (1)", [])
            .store("add a row")
            .unwrap_err();
        assert_eq!(e.failure, Failure::Refused);
        assert!(
            e.to_string().starts_with("store: unable to add a row: "),
            "{e}"
        );
        let e = conn
            .query_row("SELECT x FROM t WHERE x = 2", [], |r| r.get::<_, i64>(0))
            .store("find a row")
            .unwrap_err();
        assert_eq!(e.failure, Failure::Refused);
        let e = conn
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .store("add a row")
            .unwrap_err();
        assert_eq!(e.failure, Failure::Other);
    }
}
