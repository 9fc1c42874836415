//! Redemption codes: generate (API and command line), redeem exactly once, expiry, errors,
//! rate limits, admin-only routes, and that no code is ever stored in clear.

use std::process::{Command, Output, Stdio};

use code_router::accounts::Role;
use code_router::db::Store;
use serde_json::{json, Value};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_code-router");

async fn generate(admin: &reqwest::Client, app: &TestApp, body: Value) -> Vec<String> {
    let (status, body) = json_of(
        admin
            .post(app.url("/api/admin/codes"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

async fn redeem(client: &reqwest::Client, app: &TestApp, code: &str) -> (u16, Value) {
    json_of(
        client
            .post(app.url("/api/topup/redeem"))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn admin_client(app: &TestApp) -> reqwest::Client {
    app.create_user("root", Role::Admin).await;
    app.login("root").await
}

/// Number of `redeem` ledger rows and their sum.
async fn redeem_rows(app: &TestApp) -> (i64, i64) {
    app.state
        .db
        .read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT count(*), COALESCE(sum(amount), 0) FROM ledger WHERE kind = 'redeem'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .store("count the redeem rows")?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn generated_codes_credit_once_and_show_in_the_admin_list() {
    let app = spawn_app().await;
    let admin = admin_client(&app).await;
    let codes = generate(
        &admin,
        &app,
        json!({ "amount": "5", "count": 3, "note": "launch" }),
    )
    .await;
    assert_eq!(codes.len(), 3);
    for code in &codes {
        assert_eq!(code.len(), 27, "24 characters in 4 groups: {code}");
    }
    app.create_user("mia", Role::User).await;
    let mia = app.login("mia").await;

    let (status, body) = redeem(&mia, &app, &codes[0]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "credited": "5.000000", "balance": "5.000000" })
    );
    let (status, body) = redeem(&mia, &app, &codes[0]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "code_used");

    // Dashes and spacing do not matter.
    let typed = format!("  {} ", codes[1].replace('-', " "));
    let (status, body) = redeem(&mia, &app, &typed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["balance"], "10.000000");

    for unknown in ["AAAAAA-BBBBBB-CCCCCC-DDDDDD", "", "x"] {
        let (status, body) = redeem(&mia, &app, unknown).await;
        assert_eq!(status, 404, "{unknown}: {body}");
        assert_eq!(error_code(&body), "code_not_found");
    }
    let (status, body) = json_of(
        mia.post(app.url("/api/topup/redeem"))
            .json(&json!({ "code": 5 }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let (status, list) =
        json_of(admin.get(app.url("/api/admin/codes")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{list}");
    let rows = list["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["unused", "used", "used"], "newest first");
    assert_eq!(rows[1]["used_by_username"], "mia");
    assert!(rows[1]["used_at"].is_string());
    assert_eq!(rows[0]["amount"], "5.000000");
    assert_eq!(rows[0]["note"], "launch");
    assert_eq!(rows[0]["created_by"], "root");
    assert!(rows[0]["used_by"].is_null());
    assert!(rows[0]["expires_at"].is_null());
    let hint = rows[0]["hint"].as_str().unwrap();
    assert!(codes[2].starts_with(hint.trim_end_matches('…')), "{hint}");
    assert!(hint.chars().count() < 10, "a hint, not the code: {hint}");

    let (_, unused) = json_of(
        admin
            .get(app.url("/api/admin/codes?status=unused"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unused["data"].as_array().unwrap().len(), 1);
    let (_, page) = json_of(
        admin
            .get(app.url("/api/admin/codes?limit=2"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = json_of(
        admin
            .get(app.url(&format!("/api/admin/codes?limit=2&cursor={cursor}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let (status, _) = json_of(
        admin
            .get(app.url("/api/admin/codes?status=lost"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);

    // Every credit is a ledger row pointing at its code, by id, never by the secret.
    let (_, ledger) = json_of(mia.get(app.url("/api/ledger")).send().await.unwrap()).await;
    let rows = ledger["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["kind"], "redeem");
        assert_eq!(row["ref_type"], "code");
        assert!(row["ref_id"].as_str().unwrap().parse::<i64>().is_ok());
        for code in &codes {
            assert!(!row.to_string().contains(code.as_str()));
        }
    }
    assert!(app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn expired_codes_and_bad_batches_are_refused() {
    let app = spawn_app().await;
    let admin = admin_client(&app).await;
    let now = code_router::clock::Clock::now(app.clock.as_ref());
    let expires = code_router::clock::rfc3339(now + 3600);
    let codes = generate(
        &admin,
        &app,
        json!({ "amount": "1.25", "count": 2, "expires_at": expires }),
    )
    .await;
    app.create_user("ned", Role::User).await;
    let ned = app.login("ned").await;
    let (status, body) = redeem(&ned, &app, &codes[0]).await;
    assert_eq!(status, 200, "before expiry: {body}");

    app.clock.advance_secs(3600);
    let (status, body) = redeem(&ned, &app, &codes[1]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "code_expired");
    // A used code stays "used" after its expiry.
    let (status, body) = redeem(&ned, &app, &codes[0]).await;
    assert_eq!(status, 409, "{body}");
    let (_, list) = json_of(
        admin
            .get(app.url("/api/admin/codes?status=expired"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["expires_at"], expires);

    let long_note = "n".repeat(201);
    let cases = [
        (json!({ "amount": "0", "count": 1 }), "invalid_amount"),
        (json!({ "amount": "-5", "count": 1 }), "invalid_amount"),
        (json!({ "amount": "1e3", "count": 1 }), "invalid_amount"),
        (json!({ "amount": 5, "count": 1 }), "invalid_request"),
        (json!({ "amount": "5", "count": 0 }), "invalid_count"),
        (json!({ "amount": "5", "count": 1001 }), "invalid_count"),
        (json!({ "amount": "5", "count": 1.5 }), "invalid_request"),
        (json!({ "amount": "5" }), "invalid_request"),
        (
            json!({ "amount": "5", "count": 1, "expires_at": "2000-01-01" }),
            "invalid_expires_at",
        ),
        (
            json!({ "amount": "5", "count": 1, "expires_at": "soon" }),
            "invalid_expires_at",
        ),
        (
            json!({ "amount": "5", "count": 1, "note": long_note }),
            "invalid_note",
        ),
        (
            json!({ "amount": "5", "count": 1, "extra": true }),
            "invalid_request",
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = json_of(
            admin
                .post(app.url("/api/admin/codes"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}");
    }
    assert!(app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn members_and_strangers_cannot_reach_the_admin_code_routes() {
    let app = spawn_app().await;
    app.create_user("eve", Role::User).await;
    let eve = app.login("eve").await;
    let stranger = cookie_client();
    let body = json!({ "amount": "100", "count": 1 });
    for (client, status, code) in [(&eve, 403, "admin_only"), (&stranger, 401, "not_signed_in")] {
        let (got, answer) = json_of(
            client
                .post(app.url("/api/admin/codes"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(got, status, "{answer}");
        assert_eq!(error_code(&answer), code);
        let (got, answer) = json_of(
            client
                .get(app.url("/api/admin/codes"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(got, status, "{answer}");
    }
    let (status, _) = redeem(&stranger, &app, "whatever").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn thirty_two_concurrent_redemptions_credit_exactly_once() {
    let app = spawn_app_with(|c| {
        c.codes.max_failures_per_account_ip = 1000;
        c.codes.max_failures_per_account = 1000;
        c.codes.max_failures_per_ip = 1000;
    })
    .await;
    let admin = admin_client(&app).await;
    let code = generate(&admin, &app, json!({ "amount": "7.5", "count": 1 }))
        .await
        .remove(0);
    let mut clients = Vec::new();
    for n in 0..4 {
        let name = format!("racer{n}");
        app.create_user(&name, Role::User).await;
        clients.push(app.login(&name).await);
    }
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let client = clients[i % 4].clone();
            let url = app.url("/api/topup/redeem");
            let code = code.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({ "code": code }))
                    .send()
                    .await
                    .unwrap();
                json_of(r).await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => ok += 1,
            409 => assert_eq!(error_code(&body), "code_used"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1, "exactly one redemption succeeds");
    assert_eq!(redeem_rows(&app).await, (1, 7_500_000_000));
    let total: i64 = app
        .state
        .db
        .read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT sum(balance) FROM users WHERE username LIKE 'racer%'",
                    [],
                    |r| r.get(0),
                )
                .store("sum the racers' balances")?)
        })
        .await
        .unwrap();
    assert_eq!(total, 7_500_000_000, "one credit across all accounts");
    assert!(app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn failed_redemptions_are_rate_limited_per_account_and_per_address() {
    let app = spawn_app_with(|c| {
        c.codes.max_failures_per_account = 3;
        c.codes.max_failures_per_ip = 5;
        c.codes.failure_window_secs = 600;
    })
    .await;
    let admin = admin_client(&app).await;
    let codes = generate(&admin, &app, json!({ "amount": "1", "count": 2 })).await;
    app.create_user("guesser", Role::User).await;
    app.create_user("friend", Role::User).await;
    let guesser = app.login("guesser").await;
    let friend = app.login("friend").await;

    for _ in 0..3 {
        let (status, _) = redeem(&guesser, &app, "GUESS1-GUESS2-GUESS3-GUESS4").await;
        assert_eq!(status, 404);
    }
    // Past the account's limit even a good code waits, and says for how long.
    let r = guesser
        .post(app.url("/api/topup/redeem"))
        .json(&json!({ "code": codes[0] }))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("retry-after").is_some());
    let (status, body) = json_of(r).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "rate_limited");

    // The address (both clients are 127.0.0.1) has 2 failures left.
    for _ in 0..2 {
        let (status, _) = redeem(&friend, &app, "nope").await;
        assert_eq!(status, 404);
    }
    let (status, _) = redeem(&friend, &app, &codes[1]).await;
    assert_eq!(status, 429, "per-address limit");

    // A burst of parallel guesses gets no more tries than a sequence would.
    app.clock.advance_secs(600);
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (client, url) = (guesser.clone(), app.url("/api/topup/redeem"));
            tokio::spawn(async move {
                let r = client.post(url).json(&json!({ "code": "burst" })).send();
                r.await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [[404; 3].as_slice(), &[429; 9]].concat());

    app.clock.advance_secs(600);
    let (status, body) = redeem(&guesser, &app, &codes[0]).await;
    assert_eq!(status, 200, "the window is over: {body}");
    let (status, _) = redeem(&friend, &app, &codes[1]).await;
    assert_eq!(status, 200);
    assert!(app.audit().await.problems.is_empty());
}

#[tokio::test]
async fn codes_are_never_stored_in_clear() {
    let app = spawn_app().await;
    let admin = admin_client(&app).await;
    let codes = generate(&admin, &app, json!({ "amount": "3", "count": 50 })).await;
    app.create_user("kim", Role::User).await;
    let kim = app.login("kim").await;
    let (status, _) = redeem(&kim, &app, &codes[0]).await;
    assert_eq!(status, 200);

    // Every byte of the database and its write-ahead log, with the codes and their bare form.
    let db_path = app.state.db.path().to_path_buf();
    let mut bytes = std::fs::read(&db_path).unwrap();
    let wal = db_path.with_extension("db-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    let haystack = String::from_utf8_lossy(&bytes);
    for code in &codes {
        let bare = code.replace('-', "");
        assert!(!haystack.contains(code.as_str()), "{code} stored in clear");
        assert!(!haystack.contains(&bare), "{bare} stored in clear");
        assert!(
            !haystack.contains(&bare[6..]),
            "secret part of {code} stored"
        );
    }
    let hints: Vec<String> = app
        .state
        .db
        .read(|conn| {
            let mut stmt = conn
                .prepare("SELECT hint FROM redemption_codes")
                .store("prepare the code hints")?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .store("list the code hints")?;
            Ok(rows
                .collect::<Result<_, _>>()
                .store("read the code hints")?)
        })
        .await
        .unwrap();
    assert_eq!(hints.len(), 50);
    assert!(hints.iter().all(|h| h.chars().count() == 7));
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CODE_ROUTER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn the_command_line_generates_codes_the_server_redeems() {
    let app = spawn_app().await;
    let data = app.state.config().server.data_dir.display().to_string();
    let out = run(&[
        "codes",
        "generate",
        "--data",
        &data,
        "--amount",
        "2.5",
        "--count",
        "3",
        "--expires",
        "2099-12-31",
        "--note",
        "from the cli",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let codes: Vec<&str> = stdout.lines().collect();
    assert_eq!(codes.len(), 3, "one code a line: {stdout}");
    assert!(codes.iter().all(|c| c.len() == 27));
    assert!(text(&out.stderr).contains("2099-12-31T00:00:00Z"));

    app.create_user("cli-user", Role::User).await;
    let client = app.login("cli-user").await;
    let (status, body) = redeem(&client, &app, codes[2]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credited"], "2.500000");
    app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    let (_, list) = json_of(admin.get(app.url("/api/admin/codes")).send().await.unwrap()).await;
    assert_eq!(list["data"][0]["created_by"], "cli");
    assert_eq!(list["data"][0]["note"], "from the cli");

    let bad: [&[&str]; 9] = [
        &["--amount", "0", "--count", "1"],
        &["--amount", "abc", "--count", "1"],
        &["--amount", "-1", "--count", "1"],
        &["--amount", "1", "--count", "0"],
        &["--amount", "1", "--count", "-3"],
        &["--amount", "1", "--count", "1001"],
        &["--amount", "1", "--count", "many"],
        &["--amount", "1", "--count", "1", "--expires", "2000-01-01"],
        &["--amount", "1", "--count", "1", "--expires", "next week"],
    ];
    for args in bad {
        let mut all = vec!["codes", "generate", "--data", &data];
        all.extend_from_slice(args);
        let out = run(&all);
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.starts_with("code-router: codes generate:"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(app.audit().await.problems.is_empty());
}

/// Separate connections, as the server and a command line (or two servers) on one file would
/// have: only the IMMEDIATE transaction and the conditional UPDATE keep the code single-use.
#[test]
fn racing_connections_redeem_a_code_once() {
    use code_router::db::{apply_pragmas, Db};
    use code_router::ledger::money::Money;
    use code_router::topup::codes::{self, NewCodes};

    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("code-router.db")).unwrap();
    let code = db
        .write_blocking(|conn| {
            for n in 0..8 {
                conn.execute(
                    "INSERT INTO users (username, password_hash, referral_code, created_at)
                     VALUES (?1, 'x', ?1, 0)",
                    [format!("user{n}")],
                )
                .store("add a user")?;
            }
            let batch = NewCodes::parse("4", 1, None, None, 0)?;
            codes::generate_codes(conn, &batch, "test", 0)
        })
        .unwrap()
        .remove(0);
    let path = db.path().to_path_buf();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (path, code) = (path.clone(), code.clone());
            std::thread::spawn(move || {
                let mut conn = rusqlite::Connection::open(&path).unwrap();
                apply_pragmas(&conn).unwrap();
                codes::redeem(&mut conn, t % 8 + 1, &code, &Default::default(), 1)
                    .map_err(|e| e.code)
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let credited: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(credited.len(), 1, "{results:?}");
    assert_eq!(credited[0].credited, Money::parse("4").unwrap());
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|c| *c == "code_used"));
    let report = db
        .write_blocking(code_router::ledger::audit::audit)
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.ledger_rows, 1);
}

async fn redeem_from(client: &reqwest::Client, app: &TestApp, ip: &str, code: &str) -> u16 {
    client
        .post(app.url("/api/topup/redeem"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Failed redeems count per (account, address), with higher ceilings per account and per
/// address: a few members mistyping behind one NAT do not lock out everyone behind it, and a
/// member's typos at the office do not lock them out at home.
#[tokio::test]
async fn failed_redeems_lock_neither_a_nat_nor_the_account_elsewhere() {
    let app =
        spawn_app_with(|c| c.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let admin = admin_client(&app).await;
    let codes = generate(&admin, &app, json!({ "amount": "1", "count": 2 })).await;
    let office = "198.51.100.7";
    for i in 0..4 {
        let name = format!("typist{i}");
        app.create_user(&name, Role::User).await;
        let client = app.login(&name).await;
        for _ in 0..5 {
            assert_eq!(redeem_from(&client, &app, office, "TYPO").await, 404);
            app.clock.advance_secs(5);
        }
        assert_eq!(
            redeem_from(&client, &app, office, "TYPO").await,
            429,
            "this account at this address is limited"
        );
        if i == 0 {
            // The same account from home is not.
            assert_eq!(
                redeem_from(&client, &app, "203.0.113.20", &codes[0]).await,
                200
            );
        }
    }
    app.create_user("colleague", Role::User).await;
    let colleague = app.login("colleague").await;
    assert_eq!(
        redeem_from(&colleague, &app, office, &codes[1]).await,
        200,
        "twenty failures behind the NAT do not lock out the next member"
    );
}
