//! The database file: created from schema.sql, reopened intact, refused when it is not ours.

use code_router::db::migrate::SCHEMA_VERSION;
use code_router::db::{Db, Store};
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
        ).store("add a user")?;
        Ok(())
    })
    .unwrap();
    drop(db);

    let db = Db::open(&path).unwrap();
    let count: i64 = db
        .read_blocking(|conn| {
            Ok(conn
                .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
                .store("count the users")?)
        })
        .unwrap();
    assert_eq!(count, 1);
    let (version, journal, fk): (i64, String, i64) = db
        .read_blocking(|conn| {
            Ok((
                conn.pragma_query_value(None, "user_version", |r| r.get(0))
                    .store("read the schema version")?,
                conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .store("read the journal mode")?,
                conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))
                    .store("read whether foreign keys are on")?,
            ))
        })
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(journal, "wal");
    let page_size: i64 = db
        .read_blocking(|conn| {
            Ok(conn
                .pragma_query_value(None, "page_size", |r| r.get(0))
                .store("read the page size")?)
        })
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
            ).store("add a user")?;
            code_router::ledger::adjust(conn, 1, code_router::ledger::money::Money::from_units(5), "r", "t", 0)?;
            conn.execute("UPDATE ledger SET amount = 1", []).store("change a ledger row")?;
            Ok(())
        })
        .unwrap_err();
    assert!(err.cli_text().contains("append-only"), "{}", err.cli_text());
    let err = db
        .write_blocking(|conn| {
            conn.execute("DELETE FROM ledger", [])
                .store("delete the ledger")?;
            Ok(())
        })
        .unwrap_err();
    assert!(err.cli_text().contains("append-only"));
}

/// A file as version 1 left it: a funded account with a key, a hold settled the old way (its
/// `hold` and `settle` rows linked by `hold_id`), a charge the new way, and a hold still open
/// (its request died with the process that took it).
fn version_1_file(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(include_str!("fixtures/schema-v1.sql"))
        .unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1;
         INSERT INTO users (id, username, password_hash, referral_code, balance, created_at)
             VALUES (1, 'old', 'x', 'R1', 0, 0);
         INSERT INTO api_keys (id, user_id, name, key_hash, key_hint, used, created_at)
             VALUES (1, 1, 'k', x'01', 'sk-…', 0, 0);
         INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, created_at)
             VALUES (1, 'balance', 'adjust', 5000000000, 5000000000, 'admin', 'cli', 0);
         -- settled the old way: hold 1.0, cost 0.3, so the settle row gives back 0.7
         INSERT INTO holds (id, user_id, key_id, amount, request_id, state, cost, created_at, closed_at)
             VALUES (1, 1, 1, 1000000000, 'req_old', 'settled', 300000000, 0, 1);
         INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, key_id, hold_id, created_at)
             VALUES (1, 'balance', 'hold', -1000000000, 4000000000, 'request', 'req_old', 1, 1, 0);
         INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, key_id, hold_id, created_at)
             VALUES (1, 'balance', 'settle', 700000000, 4700000000, 'request', 'req_old', 1, 1, 1);
         -- charged the new way
         INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, key_id, created_at)
             VALUES (1, 'balance', 'settle', -200000000, 4500000000, 'request', 'req_new', 1, 2);
         -- still open: 2.0 taken from the balance and the key
         INSERT INTO holds (id, user_id, key_id, amount, request_id, created_at)
             VALUES (2, 1, 1, 2000000000, 'req_lost', 3);
         INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, key_id, hold_id, created_at)
             VALUES (1, 'balance', 'hold', -2000000000, 2500000000, 'request', 'req_lost', 1, 2, 3);
         UPDATE users SET balance = 2500000000 WHERE id = 1;
         UPDATE api_keys SET used = 2500000000 WHERE id = 1;",
    )
    .unwrap();
}

#[test]
fn a_version_1_file_loses_its_holds_and_keeps_its_books() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code-router.db");
    version_1_file(&path);

    let db = Db::open(&path).unwrap();
    let mut report = None;
    db.write_blocking(|conn| {
        report = Some(code_router::ledger::audit::audit(conn)?);
        Ok(())
    })
    .unwrap();
    let report = report.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(
        report.ledger_rows, 6,
        "every row kept, and one release added"
    );

    let read = |sql: &str| -> i64 {
        db.read_blocking(|conn| {
            Ok(conn
                .query_row(sql, [], |r| r.get(0))
                .store("read a number")?)
        })
        .unwrap()
    };
    assert_eq!(read("PRAGMA user_version"), SCHEMA_VERSION);
    // The open hold went back: 5.0 − 0.3 − 0.2 = 4.5, and the key counts only what was charged.
    assert_eq!(
        read("SELECT balance FROM users WHERE id = 1"),
        4_500_000_000
    );
    assert_eq!(read("SELECT used FROM api_keys WHERE id = 1"), 500_000_000);
    assert_eq!(
        read("SELECT count(*) FROM ledger WHERE kind = 'release' AND ref_id = 'req_lost' AND amount = 2000000000"),
        1
    );
    assert_eq!(
        read("SELECT count(*) FROM sqlite_master WHERE name = 'holds'"),
        0
    );
    assert_eq!(
        read("SELECT count(*) FROM pragma_table_info('ledger') WHERE name = 'hold_id'"),
        0
    );
    assert_eq!(read("PRAGMA foreign_keys"), 1);
    // The rebuilt ledger is still append-only, indexed, and takes the new kind.
    let err = db
        .write_blocking(|conn| {
            Ok(conn
                .execute("DELETE FROM ledger", [])
                .store("delete the ledger")?)
        })
        .unwrap_err();
    assert!(err.cli_text().contains("append-only"), "{}", err.cli_text());
    assert_eq!(
        read("SELECT count(*) FROM sqlite_master WHERE name = 'ledger_by_user'"),
        1
    );
    db.write_blocking(|conn| {
        conn.execute(
            "INSERT INTO ledger (user_id, account, kind, amount, balance_after, created_at)
             VALUES (1, 'reward', 'commission', 1, 1, 9)",
            [],
        )
        .store("add a commission row")?;
        Ok(())
    })
    .unwrap();
    drop(db);

    // A migrated file has the schema a new file gets.
    assert_schema_of_a_new_file(&path, &dir.path().join("fresh.db"));
}

/// A file as version 2 left it: a paid Stripe order with its ledger row, a pending EPay order, and
/// orders whose CHECKs knew neither the crypto providers nor their states.
fn version_2_file(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(include_str!("fixtures/schema-v2.sql"))
        .unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 2;
         INSERT INTO users (id, username, password_hash, referral_code, balance, created_at)
             VALUES (1, 'payer', 'x', 'R1', 10000000000, 0);
         INSERT INTO users (id, username, password_hash, referral_code, inviter_id, created_at)
             VALUES (2, 'friend', 'x', 'R2', 1, 0);
         INSERT INTO orders (id, order_no, user_id, provider, amount, pay_amount, pay_currency,
                             pay_decimals, status, provider_ref, created_at, updated_at, paid_at)
             VALUES (1, 'crPaid', 1, 'stripe', 10000000000, 1000, 'usd', 2, 'paid', 'cs_1', 0, 1, 1);
         INSERT INTO orders (id, order_no, user_id, provider, pay_type, amount, pay_amount,
                             pay_currency, pay_decimals, created_at, updated_at)
             VALUES (2, 'crOpen', 2, 'epay', 'alipay', 5000000000, 3650, 'cny', 2, 2, 2);
         INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, created_at)
             VALUES (1, 'balance', 'topup', 10000000000, 10000000000, 'order', 'crPaid', 1);",
    )
    .unwrap();
    let refused = conn.execute(
        "INSERT INTO orders (order_no, user_id, provider, amount, pay_amount, pay_currency,
                             pay_decimals, created_at, updated_at)
         VALUES ('crNew', 1, 'btcpay', 1, 1, 'usd', 2, 0, 0)",
        [],
    );
    assert!(refused.is_err(), "version 2 does not know btcpay");
}

#[test]
fn a_version_2_file_takes_crypto_orders_and_keeps_its_orders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code-router.db");
    version_2_file(&path);

    let db = Db::open(&path).unwrap();
    let read = |sql: &str| -> i64 {
        db.read_blocking(|conn| {
            Ok(conn
                .query_row(sql, [], |r| r.get(0))
                .store("read a number")?)
        })
        .unwrap()
    };
    assert_eq!(read("PRAGMA user_version"), SCHEMA_VERSION);
    assert_eq!(read("PRAGMA foreign_keys"), 1);
    let orders: Vec<(i64, String, String, String, Option<String>)> = db
        .read_blocking(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT id, order_no, provider, status, provider_ref FROM orders ORDER BY id",
                )
                .store("prepare the orders")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .store("list the orders")?;
            Ok(rows
                .collect::<Result<Vec<_>, _>>()
                .store("read the orders")?)
        })
        .unwrap();
    assert_eq!(
        orders,
        [
            (
                1,
                "crPaid".into(),
                "stripe".into(),
                "paid".into(),
                Some("cs_1".into())
            ),
            (2, "crOpen".into(), "epay".into(), "pending".into(), None),
        ]
    );
    assert_eq!(
        read("SELECT count(*) FROM sqlite_master WHERE name LIKE 'orders_v%'"),
        0
    );
    assert_eq!(
        read("SELECT count(*) FROM sqlite_master WHERE name = 'orders_by_user'"),
        1
    );

    // The new providers and states are taken; the provider reference stays unique.
    db.write_blocking(|conn| {
        conn.execute_batch(
            "INSERT INTO orders (order_no, user_id, provider, amount, pay_amount, pay_currency,
                                 pay_decimals, status, provider_ref, created_at, updated_at)
                 VALUES ('crBtc', 1, 'btcpay', 1, 1, 'usd', 2, 'processing', 'Inv1', 3, 3),
                        ('crNow', 1, 'nowpayments', 1, 1, 'usd', 2, 'partially_paid', '45', 3, 3);",
        )
        .store("add crypto orders")?;
        Ok(())
    })
    .unwrap();
    let duplicate = db.write_blocking(|conn| {
        conn.execute(
            "INSERT INTO orders (order_no, user_id, provider, amount, pay_amount, pay_currency,
                                 pay_decimals, provider_ref, created_at, updated_at)
             VALUES ('crDup', 1, 'btcpay', 1, 1, 'usd', 2, 'Inv1', 3, 3)",
            [],
        )
        .store("add an order with a used reference")?;
        Ok(())
    });
    assert!(duplicate.is_err());

    // One commission per cause, at most.
    let commission = |conn: &rusqlite::Connection| {
        conn.execute(
            "INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, created_at)
             VALUES (1, 'reward', 'commission', 1, 1, 'order', 'crOpen', 4)",
            [],
        )
    };
    db.write_blocking(|conn| Ok(commission(conn).map(|_| ()).store("add a commission row")?))
        .unwrap();
    let twice =
        db.write_blocking(|conn| Ok(commission(conn).map(|_| ()).store("add a commission row")?));
    assert!(
        twice.is_err(),
        "a second commission for one order is refused"
    );
    db.write_blocking(|conn| {
        conn.execute("UPDATE users SET reward_balance = 1 WHERE id = 1", [])
            .store("set the reward balance")?;
        Ok(())
    })
    .unwrap();
    let mut report = None;
    db.write_blocking(|conn| {
        report = Some(code_router::ledger::audit::audit(conn)?);
        Ok(())
    })
    .unwrap();
    let report = report.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    drop(db);

    // The migrated file has the schema a new file gets.
    assert_schema_of_a_new_file(&path, &dir.path().join("fresh.db"));
}

/// The tables, indexes and triggers of the file at `migrated` are those a new file at `fresh`
/// gets from schema.sql (comments and layout aside).
fn assert_schema_of_a_new_file(migrated: &std::path::Path, fresh: &std::path::Path) {
    let schema_of = |path: &std::path::Path| -> Vec<(String, String)> {
        let db = Db::open(path).unwrap();
        db.read_blocking(|conn| {
            let mut stmt = conn
                .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                .store("prepare the schema")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .store("list the schema")?;
            Ok(rows
                .collect::<Result<Vec<_>, _>>()
                .store("read the schema")?)
        })
        .unwrap()
    };
    // Tokens, not layout: ALTER TABLE writes its columns on the table's last line.
    let normalize = |sql: &str| -> String {
        let no_comments: String = sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ");
        no_comments
            .replace(',', " , ")
            .replace('(', " ( ")
            .replace(')', " ) ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("ledger_v2", "ledger")
            .replace("\"ledger\"", "ledger")
            .replace("\"orders\"", "orders")
    };
    let (a, b) = (schema_of(migrated), schema_of(fresh));
    assert_eq!(
        a.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        b.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(b.iter()) {
        assert_eq!(normalize(x), normalize(y), "{name}");
    }
}

/// A file as version 3 left it: a request whose cost was partly uncollected (said only in its
/// error text), a failed request, and an unused code.
fn version_3_file(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(include_str!("fixtures/schema-v3.sql"))
        .unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 3;
         INSERT INTO users (id, username, password_hash, referral_code, created_at)
             VALUES (1, 'spender', 'x', 'R1', 0);
         INSERT INTO request_logs (request_id, created_at, user_id, model, cost, status, error)
             VALUES ('req_short', 1, 1, 'm', 300000000, 200, '0.000120500 of the cost could not be collected'),
                    ('req_failed', 2, 1, 'm', 0, 502, 'up: answered 500 Internal Server Error: boom'),
                    ('req_fine', 3, 1, 'm', 1000, 200, '');
         INSERT INTO redemption_codes (id, code_hash, hint, amount, created_at)
             VALUES (1, x'01', 'AbCdEf…', 5000000000, 0);",
    )
    .unwrap();
}

#[test]
fn a_version_3_file_learns_error_codes_uncollected_amounts_and_voided_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code-router.db");
    version_3_file(&path);

    let db = Db::open(&path).unwrap();
    let read = |sql: &str| -> i64 {
        db.read_blocking(|conn| {
            Ok(conn
                .query_row(sql, [], |r| r.get(0))
                .store("read a number")?)
        })
        .unwrap()
    };
    assert_eq!(read("PRAGMA user_version"), SCHEMA_VERSION);
    let logs: Vec<(String, String, i64, String)> = db
        .read_blocking(|conn| {
            let mut stmt = conn.prepare(
                "SELECT request_id, error_code, uncollected, error FROM request_logs ORDER BY id",
            ).store("prepare the log rows")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .store("list the log rows")?;
            Ok(rows
                .collect::<Result<Vec<_>, _>>()
                .store("read the log rows")?)
        })
        .unwrap();
    assert_eq!(
        logs,
        [
            (
                "req_short".into(),
                "uncollected".into(),
                120_500,
                "0.000120500 of the cost could not be collected".into()
            ),
            (
                "req_failed".into(),
                "".into(),
                0,
                "up: answered 500 Internal Server Error: boom".into()
            ),
            ("req_fine".into(), "".into(), 0, "".into()),
        ],
        "the old words become a number; the operator's text stays"
    );
    assert_eq!(
        read("SELECT count(*) FROM redemption_codes WHERE voided_at IS NULL"),
        1
    );
    db.write_blocking(|conn| {
        conn.execute(
            "INSERT INTO low_balance_alerts (user_id, threshold, updated_at) VALUES (1, 5, 9)",
            [],
        )
        .store("add a low balance alert")?;
        Ok(())
    })
    .unwrap();
    let negative = db.write_blocking(|conn| {
        conn.execute("UPDATE low_balance_alerts SET threshold = -1", [])
            .store("set a negative threshold")?;
        Ok(())
    });
    assert!(negative.is_err(), "a threshold is never negative");
    drop(db);

    // The migrated file has the schema a new file gets.
    assert_schema_of_a_new_file(&path, &dir.path().join("fresh.db"));
}

#[test]
fn a_version_3_file_keeps_its_logs_and_counts_token_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code-router.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("fixtures/schema-v3.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO request_logs (request_id, created_at, user_id, model, input_tokens,
                                       output_tokens, cost, status)
                 VALUES ('req_old', 1, NULL, 'gpt-test', 10, 20, 50000000, 200);",
        )
        .unwrap();
    }
    let db = Db::open(&path).unwrap();
    let row: (String, i64, i64, i64, i64, i64, i64, Option<i64>) = db
        .read_blocking(|conn| {
            Ok(conn
                .query_row(
                    "SELECT request_id, input_tokens, output_tokens, cache_read_tokens,
                        cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, sheet_id
                 FROM request_logs",
                    [],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                        ))
                    },
                )
                .store("read the log row")?)
        })
        .unwrap();
    assert_eq!(row, ("req_old".into(), 10, 20, 0, 0, 0, 0, None));
    drop(db);
    assert_schema_of_a_new_file(&path, &dir.path().join("fresh.db"));
}

/// A file as version 5 left it, with request logs over two days, of two accounts (and of no
/// account), keys, models and statuses: migration 6 sums them into the usage rollups, and the
/// file then has the schema a new one gets.
#[test]
fn a_version_5_file_gets_usage_rollups_summed_from_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code-router.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("fixtures/schema-v5.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 5;
             INSERT INTO users (id, username, password_hash, referral_code, created_at)
                 VALUES (1, 'a', 'x', 'R1', 0), (2, 'b', 'x', 'R2', 0);
             INSERT INTO request_logs (request_id, created_at, user_id, key_id, model, input_tokens,
                                       cache_read_tokens, output_tokens, reasoning_tokens, cost,
                                       uncollected, status)
                 VALUES ('r1', 86400 * 10 + 5, 1, 7, 'm', 10, 4, 20, 5, 300, 0, 200),
                        ('r2', 86400 * 10 + 9, 1, 7, 'm', 1, 0, 2, 0, 100, 50, 200),
                        ('r3', 86400 * 10 + 60, 1, 7, 'm', 0, 0, 0, 0, 0, 0, 502),
                        ('r4', 86400 * 11 + 1, 1, 7, 'm', 3, 0, 4, 0, 30, 0, 200),
                        ('r5', 86400 * 11 + 2, 2, NULL, 'n', 0, 0, 0, 0, 0, 0, 404),
                        ('r6', 86400 * 11 + 3, NULL, NULL, '', 0, 0, 0, 0, 0, 0, 401);",
        )
        .unwrap();
    }
    let db = Db::open(&path).unwrap();
    type Rollup = (i64, i64, i64, String, i64, [i64; 8]);
    let rollups: Vec<Rollup> = db
        .read_blocking(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT user_id, day, key_id, model, status, requests, charged, input_tokens,
                        cache_read_tokens, output_tokens, reasoning_tokens, cost, uncollected
                 FROM usage_daily ORDER BY user_id, day, status",
                )
                .store("prepare the usage rollups")?;
            let rows = stmt
                .query_map([], |r| {
                    let mut sums = [0; 8];
                    for (at, sum) in sums.iter_mut().enumerate() {
                        *sum = r.get(5 + at)?;
                    }
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, sums))
                })
                .store("list the usage rollups")?;
            Ok(rows
                .collect::<Result<Vec<_>, _>>()
                .store("read the usage rollups")?)
        })
        .unwrap();
    assert_eq!(
        rollups,
        [
            (0, 11, 0, "".into(), 401, [1, 0, 0, 0, 0, 0, 0, 0]),
            (1, 10, 7, "m".into(), 200, [2, 2, 11, 4, 22, 5, 400, 50]),
            (1, 10, 7, "m".into(), 502, [1, 0, 0, 0, 0, 0, 0, 0]),
            (1, 11, 7, "m".into(), 200, [1, 1, 3, 0, 4, 0, 30, 0]),
            (2, 11, 0, "n".into(), 404, [1, 0, 0, 0, 0, 0, 0, 0]),
        ]
    );
    // Migration 7 sums them again for the operator: per day, model and status; per day and
    // account.
    type Operator = (
        Vec<(i64, String, i64, i64, i64, i64)>,
        Vec<(i64, i64, i64, i64, i64)>,
    );
    let (models, members): Operator = db
        .read_blocking(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT day, model, status, requests, cost, uncollected
                     FROM usage_daily_models ORDER BY day, model, status",
                )
                .store("prepare the rollups by model")?;
            let models = stmt
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .store("list the rollups by model")?
                .collect::<Result<Vec<_>, _>>()
                .store("read the rollups by model")?;
            let mut stmt = conn
                .prepare(
                    "SELECT day, user_id, requests, charged, cost
                     FROM usage_daily_members ORDER BY day, user_id",
                )
                .store("prepare the rollups by member")?;
            let members = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .store("list the rollups by member")?
                .collect::<Result<Vec<_>, _>>()
                .store("read the rollups by member")?;
            Ok((models, members))
        })
        .unwrap();
    assert_eq!(
        models,
        [
            (10, "m".into(), 200, 2, 400, 50),
            (10, "m".into(), 502, 1, 0, 0),
            (11, "".into(), 401, 1, 0, 0),
            (11, "m".into(), 200, 1, 30, 0),
            (11, "n".into(), 404, 1, 0, 0),
        ]
    );
    assert_eq!(
        members,
        [
            (10, 1, 3, 2, 400),
            (11, 0, 1, 0, 0),
            (11, 1, 1, 1, 30),
            (11, 2, 1, 0, 0)
        ]
    );
    drop(db);
    assert_schema_of_a_new_file(&path, &dir.path().join("fresh.db"));
}
