//! Money: holds racing on one balance and one key limit, charges in flight, capped
//! charges, the audit, backups under writes, and `GET /api/ledger`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use code_router::accounts::Role;
use code_router::db::{apply_pragmas, Db, Store};
use code_router::ledger::audit::audit;
use code_router::ledger::charges::{write_charges, ChargeLine, Settlement};
use code_router::ledger::funds::{Charge, Funds, HoldError};
use code_router::ledger::writer::RequestWriter;
use code_router::ledger::{self, money::Money};
use code_router::logs::LogRow;
use rusqlite::{params, Connection};

use crate::helpers::*;

fn usd(text: &str) -> Money {
    Money::parse(text).unwrap()
}

/// A fresh database with one funded user (id 1) and one key (id 1) with a spending limit.
fn funded_db(dir: &std::path::Path, balance: &str, key_limit: Option<&str>) -> Db {
    let db = Db::open(&dir.join("code-router.db")).unwrap();
    let limit = key_limit.map(|l| usd(l).units());
    db.write_blocking(|conn| {
        conn.execute(
            "INSERT INTO users (username, password_hash, referral_code, created_at) VALUES ('payer', 'x', 'R1', 0)",
            [],
        ).store("add the payer")?;
        conn.execute(
            "INSERT INTO api_keys (user_id, name, key_hash, key_hint, spend_limit, created_at)
             VALUES (1, 'k', x'00', 'sk-…', ?1, 0)",
            params![limit],
        ).store("add the key")?;
        ledger::adjust(conn, 1, usd(balance), "funding", "test", 0)?;
        Ok(())
    })
    .unwrap();
    db
}

fn balance_and_used(db: &Db) -> (Money, Money) {
    db.read_blocking(|conn| {
        Ok(conn
            .query_row(
                "SELECT u.balance, k.used FROM users u, api_keys k WHERE u.id = 1 AND k.id = 1",
                [],
                |r| Ok((Money::from_units(r.get(0)?), Money::from_units(r.get(1)?))),
            )
            .store("read the balance and the key's use")?)
    })
    .unwrap()
}

/// The in-memory holds and the request writer of a server, on `db`'s file.
fn funds_and_writer(db: &Db) -> (Arc<Funds>, RequestWriter) {
    let funds = Arc::new(Funds::open(db.path(), db.writes()).unwrap());
    let writer = RequestWriter::start(db.path(), funds.clone()).unwrap();
    (funds, writer)
}

fn log_of(request_id: &str) -> LogRow {
    LogRow {
        request_id: request_id.into(),
        user_id: Some(1),
        status: 200,
        ..LogRow::default()
    }
}

#[test]
fn racing_holds_never_overdraw_balance_or_key_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", Some("0.6"));
    let (funds, writer) = funds_and_writer(&db);
    let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..24)
        .map(|t| {
            let (funds, taken) = (funds.clone(), taken.clone());
            std::thread::spawn(move || {
                let key_id = if t % 2 == 0 { Some(1) } else { None };
                for i in 0..30 {
                    match funds.hold(1, key_id, usd("0.01")) {
                        Ok(r) => taken.lock().unwrap().push((format!("t{t}-{i}"), r)),
                        Err(HoldError::Balance | HoldError::KeyLimit) => {}
                        Err(HoldError::Failed(e)) => panic!("hold failed: {}", e.cli_text()),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let taken = std::mem::take(&mut *taken.lock().unwrap());
    let keyed = taken.iter().filter(|(_, r)| r.key_id.is_some()).count();
    // 720 attempts of 0.01 against a balance of 1 and a key limit of 0.6.
    assert!(keyed <= 60, "key limit held: {keyed}");
    assert_eq!(taken.len(), 100, "the balance is held to the last cent");
    assert_eq!(funds.open_holds(), 100);
    // Nothing is written for a hold.
    assert_eq!(balance_and_used(&db), (usd("1"), Money::ZERO));
    let refused = funds.hold(1, None, usd("0.01"));
    assert!(matches!(refused, Err(HoldError::Balance)), "{refused:?}");

    // Charge every other one 0.004, release the rest.
    let mut keyed_charged = 0;
    for (n, (request_id, r)) in taken.into_iter().enumerate() {
        if n % 2 == 0 {
            keyed_charged += usize::from(r.key_id.is_some());
            let charge = r.charge(usd("0.004"));
            assert!(charge.is_some());
            writer.finish(charge, log_of(&request_id), 1);
        } else {
            r.release();
        }
    }
    assert_eq!(funds.open_holds(), 0);
    writer.flush();
    assert_eq!(
        balance_and_used(&db),
        (
            usd("0.8"),
            Money::from_units(usd("0.004").units() * keyed_charged as i64)
        ),
        "1 - 50 × 0.004"
    );
    let mut conn = Connection::open(db.path()).unwrap();
    let report = audit(&mut conn).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let charged_rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM ledger WHERE kind = 'settle' AND amount = ?1",
            [-usd("0.004").units()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(charged_rows, 50);
    writer.shutdown();
}

#[test]
fn charges_not_yet_committed_still_count_against_the_balance() {
    // Eight threads spend 0.01 at a time, each charge handed to the writer while the others
    // hold: whether a charge is still queued, being written or committed, it is counted
    // exactly once, so exactly 100 requests fit in 1.00 and none is cut short.
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", None);
    let (funds, writer) = funds_and_writer(&db);
    let writer = Arc::new(writer);
    let served = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (funds, writer, served) = (funds.clone(), writer.clone(), served.clone());
            std::thread::spawn(move || {
                let mut refusals = 0;
                let mut i = 0;
                while refusals < 200 {
                    i += 1;
                    let request_id = format!("t{t}-{i}");
                    match funds.hold(1, Some(1), usd("0.01")) {
                        Ok(r) => {
                            served.fetch_add(1, Ordering::SeqCst);
                            writer.finish(r.charge(usd("0.01")), log_of(&request_id), 0);
                        }
                        Err(HoldError::Balance) => {
                            refusals += 1;
                            std::thread::sleep(std::time::Duration::from_micros(200));
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    writer.flush();
    assert_eq!(served.load(Ordering::SeqCst), 100);
    assert_eq!(balance_and_used(&db), (Money::ZERO, usd("1")));
    let mut conn = Connection::open(db.path()).unwrap();
    let (rows, whole): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(CASE WHEN amount = ?1 THEN 1 END) FROM ledger WHERE kind = 'settle'",
            [-usd("0.01").units()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rows, whole), (100, 100), "every charge collected in full");
    let report = audit(&mut conn).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    writer.shutdown();
}

#[test]
fn kept_balances_follow_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", Some("10"));
    let (funds, writer) = funds_and_writer(&db);
    let hold = |amount: &str| funds.hold(1, Some(1), usd(amount));
    // The first admission reads and keeps the balance (1).
    hold("1").unwrap().release();
    assert!(matches!(hold("1.5"), Err(HoldError::Balance)));

    // Money added from outside the process (the command line, on its own connection): the kept
    // balance would refuse, so it is read again and the request is admitted.
    let mut outside = Connection::open(db.path()).unwrap();
    apply_pragmas(&outside).unwrap();
    ledger::adjust(&mut outside, 1, usd("4"), "cli top-up", "cli", 0).unwrap();
    hold("4.5").unwrap().release();

    // Money taken through the server's own database handle: the kept 5 is dropped, not used.
    db.write_blocking(|conn| ledger::adjust(conn, 1, usd("-4.5"), "refund", "admin", 0))
        .unwrap();
    assert!(matches!(hold("1"), Err(HoldError::Balance)));

    // A lowered key limit, the same way.
    db.write_blocking(|conn| {
        Ok(conn
            .execute(
                "UPDATE api_keys SET spend_limit = ?1 WHERE id = 1",
                [usd("0.2").units()],
            )
            .store("lower the key's limit")?)
    })
    .unwrap();
    assert!(matches!(hold("0.3"), Err(HoldError::KeyLimit)));

    // The writer's commit drops what it changed: 0.2 charged leaves 0.3 and a full key.
    let r = hold("0.2").unwrap();
    writer.finish(r.charge(usd("0.2")), log_of("r"), 0);
    writer.flush();
    assert_eq!(balance_and_used(&db), (usd("0.3"), usd("0.2")));
    assert!(matches!(hold("0.01"), Err(HoldError::KeyLimit)));
    db.write_blocking(|conn| {
        Ok(conn
            .execute("UPDATE api_keys SET spend_limit = NULL WHERE id = 1", [])
            .store("lift the key's limit")?)
    })
    .unwrap();
    hold("0.3").unwrap().release();
    assert!(matches!(hold("0.31"), Err(HoldError::Balance)));
    writer.shutdown();
}

#[test]
fn a_request_the_database_refuses_is_dropped_and_the_rest_of_its_batch_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", None);
    let (funds, writer) = funds_and_writer(&db);
    let good = |id: &str| {
        let r = funds.hold(1, Some(1), usd("0.1")).unwrap();
        writer.finish(r.charge(usd("0.1")), log_of(id), 0);
    };
    good("before");
    // A charge to an account that is not there (the database refuses it, whatever the retry).
    let orphan = Charge {
        user_id: 999,
        key_id: None,
        cost: usd("0.1"),
    };
    let mut orphan_log = log_of("orphan");
    orphan_log.user_id = Some(999);
    writer.finish(Some(orphan), orphan_log, 0);
    good("after");
    writer.flush();
    assert_eq!(balance_and_used(&db), (usd("0.8"), usd("0.2")));
    let conn = Connection::open(db.path()).unwrap();
    let logged: Vec<String> = conn
        .prepare("SELECT request_id FROM request_logs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(logged, ["before", "after"]);
    // The writer goes on, and nothing of the dropped request stays in flight.
    good("later");
    writer.flush();
    funds.hold(1, Some(1), usd("0.7")).unwrap().release();
    assert_eq!(balance_and_used(&db), (usd("0.7"), usd("0.3")));
    writer.shutdown();
}

fn charge(conn: &mut Connection, request_id: &str, cost: &str, now: i64) -> Settlement {
    let tx = conn.transaction().unwrap();
    let line = ChargeLine {
        user_id: 1,
        key_id: Some(1),
        cost: usd(cost),
        request_id,
        now,
    };
    let (settlements, _) = write_charges(&tx, &[line]).unwrap();
    tx.commit().unwrap();
    settlements[0]
}

#[test]
fn a_charge_is_collected_only_as_far_as_money_and_the_key_limit_allow() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", Some("0.9"));
    let mut conn = Connection::open(db.path()).unwrap();
    apply_pragmas(&conn).unwrap();
    let s = charge(&mut conn, "a", "0.15", 0);
    assert_eq!((s.charged, s.uncollected), (usd("0.15"), Money::ZERO));
    assert_eq!(balance_and_used(&db), (usd("0.85"), usd("0.15")));

    // The key has 0.75 of room and the balance 0.85: the key's room caps what is taken.
    let s = charge(&mut conn, "b", "2", 0);
    assert_eq!((s.charged, s.uncollected), (usd("0.75"), usd("1.25")));
    assert_eq!(balance_and_used(&db), (usd("0.1"), usd("0.9")));

    // Without room nothing is taken, and no ledger row is written for nothing.
    let s = charge(&mut conn, "c", "0.01", 0);
    assert_eq!((s.charged, s.uncollected), (Money::ZERO, usd("0.01")));
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM ledger WHERE kind = 'settle'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 2);
    assert!(audit(&mut conn).unwrap().is_clean());
}

#[test]
fn audit_names_every_kind_of_tampering() {
    let tamperings = [
        ("UPDATE users SET balance = balance + 1 WHERE id = 1", "user 1 (payer): balance"),
        ("UPDATE users SET reward_balance = 7 WHERE id = 1", "user 1 (payer): reward"),
        ("UPDATE api_keys SET used = used + 3 WHERE id = 1", "key 1 (k) of payer"),
        (
            "INSERT INTO ledger (user_id, account, kind, amount, balance_after, created_at) VALUES (1, 'balance', 'topup', 5, 999, 0)",
            "ledger row",
        ),
        (
            "UPDATE users SET balance = balance + 1 WHERE id = 1;
             INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, created_at)
             SELECT 1, 'balance', 'adjust', 1, balance, 'admin', 'x', 0 FROM users WHERE id = 1;
             UPDATE users SET balance = balance - 1 WHERE id = 1;
             INSERT INTO ledger (user_id, account, kind, amount, balance_after, ref_type, ref_id, created_at)
             SELECT 1, 'balance', 'settle', -1, balance, 'request', 'r', 0 FROM users WHERE id = 1;",
            "request r was charged 2 times",
        ),
    ];
    for (sql, needle) in tamperings {
        let dir = tempfile::tempdir().unwrap();
        let db = funded_db(dir.path(), "1", None);
        let mut conn = Connection::open(db.path()).unwrap();
        apply_pragmas(&conn).unwrap();
        charge(&mut conn, "r", "0.2", 0);
        assert!(audit(&mut conn).unwrap().is_clean());
        conn.execute_batch(sql).unwrap();
        let report = audit(&mut conn).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains(needle)),
            "{sql}: {:?}",
            report.problems
        );
    }
}

#[test]
fn backup_taken_during_writes_reopens_clean() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", None);
    let writer_db = db.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..400 {
            writer_db
                .write_blocking(|conn| {
                    charge(conn, &format!("w{i}"), "0.0005", i);
                    ledger::adjust(conn, 1, usd("0.0005"), "refill", "test", i)?;
                    Ok(())
                })
                .unwrap();
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    let copies: Vec<_> = (0..3)
        .map(|n| {
            let out = dir.path().join(format!("backup-{n}.db"));
            code_router::db::backup::backup(db.path(), &out).unwrap();
            out
        })
        .collect();
    writer.join().unwrap();
    for copy in copies {
        let reopened = Db::open(&copy).unwrap();
        let report = reopened.write_blocking(audit).unwrap();
        assert!(report.is_clean(), "{:?}", report.problems);
        assert!(report.ledger_rows >= 1);
    }
}

#[tokio::test]
async fn members_read_their_own_ledger() {
    let app = spawn_app().await;
    let alice = app.create_user("alice", Role::User).await;
    let bob = app.create_user("bob", Role::User).await;
    app.fund(alice, "5").await;
    app.fund(alice, "0.25").await;
    app.fund(bob, "9").await;
    let client = app.login("alice").await;
    let (status, body) = json_of(
        client
            .get(app.url("/api/ledger?limit=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "adjust");
    assert_eq!(rows[0]["amount"], "0.250000");
    assert_eq!(rows[0]["balance_after"], "5.250000");
    let cursor = body["next_cursor"].as_str().unwrap();
    let (_, body) = json_of(
        client
            .get(app.url(&format!("/api/ledger?cursor={cursor}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "bob's row is not alice's");
    assert_eq!(rows[0]["amount"], "5.000000");
    assert!(body["next_cursor"].is_null());
    let (_, me) = json_of(client.get(app.url("/api/me")).send().await.unwrap()).await;
    assert_eq!(me["balance"], "5.250000");
}

#[test]
fn the_writers_own_commits_keep_balances_and_anyone_elses_drop_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "5", None);
    db.write_blocking(|conn| {
        conn.execute(
            "INSERT INTO users (username, password_hash, referral_code, created_at) VALUES ('idle', 'x', 'R2', 0)",
            [],
        ).store("add an idle user")?;
        ledger::adjust(conn, 2, usd("5"), "funding", "test", 0)?;
        Ok(())
    })
    .unwrap();
    let (funds, writer) = funds_and_writer(&db);
    // The idle account's balance is read once and kept.
    funds.hold(2, None, usd("1")).unwrap().release();
    let reads = funds.balance_reads();
    // The payer's charges commit, one transaction each: the idle account's kept balance stands.
    for i in 0..20 {
        let charge = funds
            .hold(1, Some(1), usd("0.01"))
            .unwrap()
            .charge(usd("0.01"));
        writer.finish(charge, log_of(&format!("r{i}")), 0);
        writer.flush();
        funds.hold(2, None, usd("1")).unwrap().release();
    }
    let payer_reads = 20; // each commit drops the charged account's own kept balance
    assert_eq!(funds.balance_reads(), reads + payer_reads);

    // Another connection (another process, as far as SQLite knows) writes a ledger row: every
    // kept balance goes, and the next hold of the idle account reads its balance again.
    let outside = Connection::open(db.path()).unwrap();
    apply_pragmas(&outside).unwrap();
    let mut outside = outside;
    ledger::adjust(&mut outside, 2, usd("-4.5"), "outside", "cli", 0).unwrap();
    let before = funds.balance_reads();
    assert!(matches!(
        funds.hold(2, None, usd("1")),
        Err(HoldError::Balance)
    ));
    assert_eq!(funds.balance_reads(), before + 1);
    funds.hold(2, None, usd("0.5")).unwrap().release();
    assert_eq!(funds.balance_reads(), before + 1, "kept again");
    writer.shutdown();
}
