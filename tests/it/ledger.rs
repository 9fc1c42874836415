//! Money: holds racing on one balance and one key limit, settle and release, crash recovery,
//! the audit, backups under writes, and `GET /api/ledger`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use code_router::accounts::Role;
use code_router::config::Config;
use code_router::db::{apply_pragmas, Db};
use code_router::ledger::audit::audit;
use code_router::ledger::holds::{self, HoldError, HoldRequest};
use code_router::ledger::{self, money::Money};
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
        )?;
        conn.execute(
            "INSERT INTO api_keys (user_id, name, key_hash, key_hint, spend_limit, created_at)
             VALUES (1, 'k', x'00', 'sk-…', ?1, 0)",
            params![limit],
        )?;
        ledger::adjust(conn, 1, usd(balance), "funding", "test", 0)?;
        Ok(())
    })
    .unwrap();
    db
}

fn balance_and_used(db: &Db) -> (Money, Money) {
    db.read_blocking(|conn| {
        Ok(conn.query_row(
            "SELECT u.balance, k.used FROM users u, api_keys k WHERE u.id = 1 AND k.id = 1",
            [],
            |r| Ok((Money::from_units(r.get(0)?), Money::from_units(r.get(1)?))),
        )?)
    })
    .unwrap()
}

#[test]
fn racing_holds_never_overdraw_balance_or_key_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", Some("0.6"));
    let path = db.path().to_path_buf();
    let with_key = Arc::new(AtomicUsize::new(0));
    let without_key = Arc::new(AtomicUsize::new(0));
    let hold_ids = Arc::new(std::sync::Mutex::new(Vec::new()));

    // Each thread has its own connection, as separate processes would: only SQLite's locking
    // and the conditional updates stand between them.
    let threads: Vec<_> = (0..24)
        .map(|t| {
            let path = path.clone();
            let (with_key, without_key, hold_ids) =
                (with_key.clone(), without_key.clone(), hold_ids.clone());
            std::thread::spawn(move || {
                let mut conn = Connection::open(&path).unwrap();
                apply_pragmas(&conn).unwrap();
                let key_id = if t % 2 == 0 { Some(1) } else { None };
                for i in 0..30 {
                    let request_id = format!("t{t}-{i}");
                    let req = HoldRequest {
                        user_id: 1,
                        key_id,
                        amount: usd("0.01"),
                        request_id: &request_id,
                    };
                    match holds::hold(&mut conn, &req, 0) {
                        Ok(held) => {
                            hold_ids.lock().unwrap().push(held);
                            let counter = if key_id.is_some() {
                                &with_key
                            } else {
                                &without_key
                            };
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
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
    let keyed = with_key.load(Ordering::SeqCst);
    let total = keyed + without_key.load(Ordering::SeqCst);
    // 720 attempts of 0.01 against a balance of 1 and a key limit of 0.6.
    assert!(keyed <= 60, "key limit held: {keyed}");
    assert_eq!(
        total, 100,
        "the balance is used to the last cent and no further"
    );
    let (balance, used) = balance_and_used(&db);
    assert_eq!(balance, Money::ZERO);
    assert_eq!(used, Money::from_units(usd("0.01").units() * keyed as i64));

    // Settle every other hold at 0.004, release the rest.
    let ids = hold_ids.lock().unwrap().clone();
    let mut conn = Connection::open(&path).unwrap();
    apply_pragmas(&conn).unwrap();
    for (n, held) in ids.iter().enumerate() {
        if n % 2 == 0 {
            let s = holds::settle(&mut conn, held, usd("0.004"), 1).unwrap();
            assert_eq!(s.charged, usd("0.004"));
        } else {
            holds::release(&mut conn, held, "upstream failed", 1).unwrap();
        }
    }
    let (balance, _) = balance_and_used(&db);
    assert_eq!(balance, usd("0.8"), "1 - 50 × 0.004");
    let report = audit(&mut conn).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.open_holds, 0);
    // A hold can end only once.
    assert!(holds::release(&mut conn, &ids[0], "again", 2).is_err());
    assert!(holds::settle(&mut conn, &ids[1], usd("0.001"), 2).is_err());
}

#[test]
fn a_cost_above_the_hold_is_collected_only_as_far_as_money_allows() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "1", Some("0.9"));
    let mut conn = Connection::open(db.path()).unwrap();
    apply_pragmas(&conn).unwrap();
    let hold = |conn: &mut Connection, amount: &str| {
        holds::hold(
            conn,
            &HoldRequest {
                user_id: 1,
                key_id: Some(1),
                amount: usd(amount),
                request_id: "r",
            },
            0,
        )
        .unwrap()
    };
    let id = hold(&mut conn, "0.1");
    let s = holds::settle(&mut conn, &id, usd("0.15"), 0).unwrap();
    assert_eq!((s.charged, s.uncollected), (usd("0.15"), Money::ZERO));
    assert_eq!(balance_and_used(&db), (usd("0.85"), usd("0.15")));

    // The key has 0.75 of room and the balance 0.85: the key's room caps what is taken.
    let id = hold(&mut conn, "0.5");
    let s = holds::settle(&mut conn, &id, usd("2"), 0).unwrap();
    assert_eq!(s.charged, usd("0.75"));
    assert_eq!(s.uncollected, usd("1.25"));
    assert_eq!(balance_and_used(&db), (usd("0.1"), usd("0.9")));
    assert!(audit(&mut conn).unwrap().is_clean());
}

#[test]
fn holds_left_by_a_crash_are_released_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = funded_db(dir.path(), "5", None);
    db.write_blocking(|conn| {
        holds::hold(
            conn,
            &HoldRequest {
                user_id: 1,
                key_id: Some(1),
                amount: usd("2"),
                request_id: "lost",
            },
            0,
        )
        .map_err(|_| code_router::error::ApiError::internal("hold"))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(balance_and_used(&db), (usd("3"), usd("2")));
    drop(db); // the process dies with the request in flight

    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    let state = code_router::open_state(config, Arc::new(code_router::clock::SystemClock)).unwrap();
    let (balance, used) = balance_and_used(&state.db);
    assert_eq!((balance, used), (usd("5"), Money::ZERO));
    let (kind, reason): (String, String) = state
        .db
        .read_blocking(|conn| {
            Ok(conn.query_row(
                "SELECT kind, reason FROM ledger ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!(kind, "release");
    assert!(reason.contains("start-up"));
    let report = state.db.write_blocking(audit).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.open_holds, 0);
}

#[test]
fn audit_names_every_kind_of_tampering() {
    let tamperings = [
        ("UPDATE users SET balance = balance + 1 WHERE id = 1", "user 1 (payer): balance"),
        ("UPDATE users SET reward_balance = 7 WHERE id = 1", "user 1 (payer): reward"),
        ("UPDATE api_keys SET used = used + 3 WHERE id = 1", "key 1 (k) of payer"),
        ("UPDATE holds SET cost = 1 WHERE id = 1", "hold 1"),
        (
            "INSERT INTO ledger (user_id, account, kind, amount, balance_after, created_at) VALUES (1, 'balance', 'topup', 5, 999, 0)",
            "ledger row",
        ),
    ];
    for (sql, needle) in tamperings {
        let dir = tempfile::tempdir().unwrap();
        let db = funded_db(dir.path(), "1", None);
        let mut conn = Connection::open(db.path()).unwrap();
        apply_pragmas(&conn).unwrap();
        let id = holds::hold(
            &mut conn,
            &HoldRequest {
                user_id: 1,
                key_id: Some(1),
                amount: usd("0.5"),
                request_id: "r",
            },
            0,
        )
        .unwrap();
        holds::settle(&mut conn, &id, usd("0.2"), 0).unwrap();
        assert!(audit(&mut conn).unwrap().is_clean());
        conn.execute(sql, []).unwrap();
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
                    let id = holds::hold(
                        conn,
                        &HoldRequest {
                            user_id: 1,
                            key_id: Some(1),
                            amount: usd("0.001"),
                            request_id: "w",
                        },
                        i,
                    )
                    .map_err(|_| code_router::error::ApiError::internal("hold"))?;
                    holds::settle(conn, &id, usd("0.0005"), i)?;
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
