//! Faults that must lose nothing: many clients racing for one small balance, a locked database,
//! hostile bodies, slow clients, and `kill -9` under load.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use code_router::accounts::Role;
use code_router::config::Config;
use code_router::db::Store;
use serde_json::{json, Value};

use crate::fake_upstream::{Fake, Mode};
use crate::helpers::*;
use crate::process::{cli, Server};

fn config_text(fake: &Fake) -> String {
    format!(
        "[models.\"gpt-test\"]\ninput = \"1000\"\noutput = \"2000\"\n\
         [[upstreams]]\nname = \"main\"\nbase_url = \"{}\"\nmodels = [\"gpt-test\"]\n",
        fake.base_url
    )
}

fn small_request() -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 30})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_spend_one_small_balance_exactly() {
    let fake = Fake::start(Mode::Ok).await;
    let app = spawn_app_config(Config::parse(&config_text(&fake), "t").unwrap()).await;
    let user = app.create_user("alice", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("alice").await;
    let (_, key) = app.create_key(&member, json!({"name": "shared"})).await;
    let url = app.url("/v1/chat/completions");
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let (url, key) = (url.clone(), key.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut statuses = Vec::new();
                for _ in 0..4 {
                    let r = client
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&small_request())
                        .send()
                        .await
                        .unwrap();
                    statuses.push(r.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in clients {
        statuses.extend(c.await.unwrap());
    }
    app.flush().await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 403),
        "{statuses:?}"
    );
    // Each call costs 0.05 and holds 0.068: at most 20 fit in 1.00, and at least 14.
    assert!((14..=20).contains(&ok), "{ok} served");
    let balance = app.balance(user).await;
    let spent = code_router::ledger::money::Money::from_units(ok as i64 * 50_000_000);
    assert_eq!(
        balance,
        code_router::ledger::money::Money::parse("1")
            .unwrap()
            .checked_sub(spent)
            .unwrap()
            .to_string()
    );
    let (charged, request_charges): (i64, i64) = app
        .state
        .db
        .read(move |conn| {
            Ok(conn.query_row(
                "SELECT (SELECT -sum(amount) FROM ledger WHERE kind IN ('hold', 'settle', 'release')),
                        (SELECT sum(cost) FROM request_logs)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            ).store("sum the charges and the costs")?)
        })
        .await
        .unwrap();
    assert_eq!(
        charged, request_charges,
        "the log's charges are the ledger's"
    );
    assert_eq!(charged, spent.units());
    let report = app.audit().await;
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(app.state.funds.open_holds(), 0);
}

#[tokio::test]
async fn a_locked_database_answers_503_not_500_and_loses_no_charge() {
    let fake = Fake::start(Mode::Ok).await;
    let app = spawn_app_config(Config::parse(&config_text(&fake), "t").unwrap()).await;
    let user = app.create_user("bob", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("bob").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    // Another process holds the write lock longer than the busy timeout.
    let path = app.state.config().database_path();
    let locker = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        std::thread::sleep(Duration::from_secs(7));
        conn.execute_batch("COMMIT").unwrap();
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A /v1 call needs no write to be admitted or answered: it is served, and its charge waits
    // in the request writer (and counts against the balance meanwhile).
    let r = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&small_request())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A write of the console API waits out the busy timeout, then answers 503 `busy`.
    let r = member
        .post(app.url("/api/keys"))
        .json(&json!({"name": "second"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, error_code(&body)), (503, "busy".into()), "{body}");
    locker.join().unwrap();
    // Once the lock is gone, the queued charge is written: charged once, logged once.
    app.flush().await;
    assert_eq!(app.balance(user).await, "0.950000");
    let r = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&small_request())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.flush().await;
    assert_eq!(app.balance(user).await, "0.900000");
    let logged: i64 = app
        .state
        .db
        .read(|conn| {
            Ok(conn
                .query_row("SELECT count(*) FROM request_logs", [], |r| r.get(0))
                .store("count the log rows")?)
        })
        .await
        .unwrap();
    assert_eq!(logged, 2);
    assert!(app.audit().await.is_clean());
}

#[tokio::test]
async fn hostile_bodies_get_clear_4xx_and_the_server_keeps_serving() {
    let fake = Fake::start(Mode::Ok).await;
    let app = spawn_app_config(Config::parse(&config_text(&fake), "t").unwrap()).await;
    let user = app.create_user("carol", Role::User).await;
    app.fund(user, "0.5").await;
    let member = app.login("carol").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let send = |path: &str, body: Vec<u8>| {
        reqwest::Client::new()
            .post(app.url(path))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ten_mb = vec![b'x'; 10 * 1024 * 1024];
    let huge_message = format!(
        "{{\"model\":\"gpt-test\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "a".repeat(10 * 1024 * 1024)
    );
    let mut bad_utf8 = br#"{"model":"gpt-test","messages":[{"role":"user","content":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bad_utf8.extend_from_slice(br#""}]}"#);
    let deep = format!(
        "{{\"model\":\"gpt-test\",\"messages\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("/v1/chat/completions", ten_mb.clone(), 400),
        ("/v1/chat/completions", vec![b'{'; 40 * 1024 * 1024], 413),
        ("/v1/chat/completions", bad_utf8, 400),
        ("/v1/chat/completions", deep.into_bytes(), 400),
        // Valid, but its worst case (10M prompt tokens) is far above the balance.
        ("/v1/chat/completions", huge_message.into_bytes(), 403),
        ("/api/auth/login", ten_mb, 413),
    ];
    for (path, body, want) in cases {
        // The client is still uploading when the refusal comes: it must get the answer, not a
        // reset, and be told the connection is done.
        let response = send(path, body).await.unwrap();
        if want == 413 {
            assert_eq!(response.headers()["connection"], "close", "{path}");
        }
        let (status, answer) = json_of(response).await;
        assert_eq!(status, want, "{path}: {answer}");
        error_code(&answer);
    }
    assert_eq!(
        send(
            "/v1/chat/completions",
            serde_json::to_vec(&small_request()).unwrap()
        )
        .await
        .unwrap()
        .status(),
        200
    );
    app.flush().await;
    assert!(app.audit().await.is_clean());
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off_while_others_are_served() {
    let app = spawn_app_with(|c| {
        c.server.header_timeout_secs = 1;
        c.server.body_timeout_secs = 1;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    // Twenty clients that never finish their headers, one that never finishes its body.
    let mut trickling: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut half_body = std::net::TcpStream::connect(&addr).unwrap();
    half_body
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
        .unwrap();
    // Meanwhile everyone else is served.
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(
            reqwest::get(app.url("/healthz")).await.unwrap().status(),
            200
        );
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    tokio::task::spawn_blocking(move || {
        for s in &mut trickling {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 256];
            // The server closes the connection (0 bytes, or a reset) rather than waiting forever.
            match s.read(&mut buf) {
                Ok(n) => assert!(
                    n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
                    "{}",
                    String::from_utf8_lossy(&buf[..n])
                ),
                Err(e) => assert_ne!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock,
                    "still open after 5 s"
                ),
            }
        }
        half_body
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut answer = String::new();
        let _ = half_body.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 4"),
            "a slow body gets a 4xx: {answer}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_then_restart_loses_and_doubles_nothing() {
    let fake = Fake::start(Mode::SlowStream).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, config_text(&fake)).unwrap();
    let config = file.display().to_string();
    let (ok, _, err) = cli(
        &[
            "user",
            "create",
            "--data",
            &data,
            "--config",
            &config,
            "--username",
            "dave",
            "--password-stdin",
        ],
        "dave password\n",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = cli(
        &[
            "user",
            "adjust",
            "--data",
            &data,
            "--config",
            &config,
            "--username",
            "dave",
            "--amount",
            "100",
            "--reason",
            "t",
        ],
        "",
    );
    assert!(ok, "{err}");
    let mut server = Server::start(&["--data", &data, "--config", &config]);
    let client = cookie_client();
    let r = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "dave", "password": "dave password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, key) = json_of(
        client
            .post(server.url("/api/keys"))
            .json(&json!({"name": "k"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_string();

    // Thirty-two clients stream (1 s each) and make quick calls, without pause.
    let url = server.url("/v1/chat/completions");
    let load: Vec<_> = (0..32)
        .map(|i| {
            let (url, key) = (url.clone(), key.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                loop {
                    let mut body = small_request();
                    body["stream"] = json!(i % 2 == 0);
                    let Ok(r) = client.post(&url).bearer_auth(&key).json(&body).send().await else {
                        break;
                    };
                    if r.text().await.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    let _ = server.child.wait();
    for l in load {
        let _ = l.await;
    }

    // Restart: the requests that died with the server were never charged, and the books balance.
    let server = Server::start(&["--data", &data, "--config", &config]);
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
    drop(server);
    let (ok, out, err) = cli(&["audit", "--data", &data], "");
    assert!(ok, "{out}{err}");
    assert!(out.contains("audit: clean"), "{out}");
    let conn = rusqlite::Connection::open(dir.path().join("data/code-router.db")).unwrap();
    let (charged, twice, unlogged): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM ledger WHERE kind = 'settle'),
                    (SELECT count(*) FROM (SELECT ref_id FROM ledger WHERE kind = 'settle'
                                           GROUP BY ref_id HAVING count(*) > 1)),
                    (SELECT count(*) FROM ledger l WHERE kind = 'settle' AND NOT EXISTS
                        (SELECT 1 FROM request_logs r WHERE r.request_id = l.ref_id AND r.cost = -l.amount))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(charged > 10, "there was load: {charged} charges");
    assert_eq!(twice, 0, "no request charged twice");
    assert_eq!(
        unlogged, 0,
        "every charge has its log row, with the same cost"
    );
}

#[tokio::test]
async fn a_client_that_gives_up_leaves_its_request_charged_and_nothing_held() {
    let fake = Fake::start(Mode::Slow(1000)).await;
    let app = spawn_app_config(Config::parse(&config_text(&fake), "t").unwrap()).await;
    let user = app.create_user("erin", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("erin").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&small_request())
        .send()
        .await;
    assert!(gave_up.is_err(), "the client timed out");
    assert_eq!(app.state.funds.open_holds(), 1, "the request runs on");
    // The request still runs to its end: charged, logged, and its hold gone.
    for _ in 0..50 {
        if app.state.funds.open_holds() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.state.funds.open_holds(), 0);
    app.flush().await;
    assert_eq!(app.balance(user).await, "0.950000");
    // Logged as what it was: the client left before its answer.
    let (_, logs) = json_of(member.get(app.url("/api/logs")).send().await.unwrap()).await;
    assert_eq!(logs["data"][0]["status"], 499, "{logs}");
    assert!(logs["data"][0]["error"]
        .as_str()
        .unwrap()
        .contains("client disconnected"));
    let report = app.audit().await;
    assert!(report.is_clean(), "{:?}", report.problems);
}
