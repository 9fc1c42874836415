//! The database file: created from schema.sql, reopened intact, refused when it is not ours.

use code_router::db::migrate::SCHEMA_VERSION;
use code_router::db::Db;
use rusqlite::Connection;

#[test]
fn empty_file_gets_the_schema_and_reopens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code-router.db");
    std::fs::write(&path, b"").unwrap();
    let db = Db::open(&path).unwrap();
    db.write_blocking(|conn| {
        conn.execute(
            "INSERT INTO users (username, password_hash, referral_code, created_at) VALUES ('a', 'x', 'R1', 0)",
            [],
        )?;
        Ok(())
    })
    .unwrap();
    drop(db);

    let db = Db::open(&path).unwrap();
    let count: i64 = db
        .read_blocking(|conn| Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(count, 1);
    let (version, journal, fk): (i64, String, i64) = db
        .read_blocking(|conn| {
            Ok((
                conn.pragma_query_value(None, "user_version", |r| r.get(0))?,
                conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
                conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(journal, "wal");
    let page_size: i64 = db
        .read_blocking(|conn| Ok(conn.pragma_query_value(None, "page_size", |r| r.get(0))?))
        .unwrap();
    assert_eq!(page_size, code_router::db::NEW_FILE_PAGE_SIZE);
    assert_eq!(fk, 1);
}

#[test]
fn newer_or_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    let conn = Connection::open(&newer).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Db::open(&newer).err().unwrap();
    assert!(err.contains("newer than this binary"), "{err}");

    let foreign = dir.path().join("foreign.db");
    let conn = Connection::open(&foreign).unwrap();
    conn.execute("CREATE TABLE t (x)", []).unwrap();
    drop(conn);
    let err = Db::open(&foreign).err().unwrap();
    assert!(err.contains("not a Code Router database"), "{err}");
}

#[test]
fn the_ledger_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("c.db")).unwrap();
    let err = db
        .write_blocking(|conn| {
            conn.execute(
                "INSERT INTO users (username, password_hash, referral_code, created_at) VALUES ('a', 'x', 'R1', 0)",
                [],
            )?;
            code_router::ledger::adjust(conn, 1, code_router::ledger::money::Money::from_units(5), "r", "t", 0)?;
            conn.execute("UPDATE ledger SET amount = 1", [])?;
            Ok(())
        })
        .unwrap_err();
    assert!(err.cli_text().contains("append-only"), "{}", err.cli_text());
    let err = db
        .write_blocking(|conn| {
            conn.execute("DELETE FROM ledger", [])?;
            Ok(())
        })
        .unwrap_err();
    assert!(err.cli_text().contains("append-only"));
}
