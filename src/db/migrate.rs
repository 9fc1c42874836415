//! Schema versions: a new file gets `schema.sql` whole; an older file gets each later migration in
//! order, one transaction each; `PRAGMA user_version` records where a file stands.

use rusqlite::Connection;

/// The full, current schema, applied to an empty database.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// Migrations from version N (index N-1) to N+1. The schema version is one more than their count.
/// Add a migration here AND fold the same change into schema.sql.
pub const MIGRATIONS: &[&str] = &[];

pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    let version = user_version(conn).map_err(|e| e.to_string())?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "this database has schema version {version}, newer than this binary understands \
             ({SCHEMA_VERSION}); run the newer code-router or restore a backup"
        ));
    }
    if version == 0 {
        let has_tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| e.to_string())?;
        if has_tables > 0 {
            return Err("this file holds tables but no Code Router schema version; \
                        it is not a Code Router database"
                .into());
        }
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(SCHEMA)
            .map_err(|e| format!("applying schema.sql: {e}"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        return Ok(());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let to = index as i64 + 2;
        if version >= to {
            continue;
        }
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .map_err(|e| format!("migration to version {to}: {e}"))?;
        tx.pragma_update(None, "user_version", to)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        tracing::info!(version = to, "database migrated");
    }
    Ok(())
}
