//! Operating it: admin user changes, upstream health, prices, reload (API and SIGHUP), and a
//! graceful SIGTERM in the middle of a stream.

use std::time::Duration;

use code_router::accounts::Role;
use code_router::config::Config;
use serde_json::{json, Value};

use crate::fake_upstream::{Fake, Mode};
use crate::helpers::*;
use crate::process::{cli, Server};

fn config_text(fake: &Fake, input_price: &str) -> String {
    format!(
        "[models.\"gpt-test\"]\ninput = \"{input_price}\"\noutput = \"2000\"\n\n[groups]\nvip = \"0.5\"\n\n\
         [[upstreams]]\nname = \"main\"\nbase_url = \"{}\"\nmodels = [\"gpt-test\"]\n",
        fake.base_url
    )
}

#[tokio::test]
async fn admins_change_users_and_a_disabled_user_stops_at_once() {
    let fake = Fake::start(Mode::Ok).await;
    let app = spawn_app_config(Config::parse(&config_text(&fake, "1000"), "t").unwrap()).await;
    let root = app.create_user("root", Role::Admin).await;
    let alice = app.create_user("alice", Role::User).await;
    app.fund(alice, "1").await;
    let admin = app.login("root").await;
    let member = app.login("alice").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let call = || {
        reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    app.flush().await;
    assert_eq!(app.balance(alice).await, "0.950000");

    let patch = |id: i64, body: Value| {
        admin
            .patch(app.url(&format!("/api/admin/users/{id}")))
            .json(&body)
            .send()
    };
    // The vip group halves the price; the cached key learns it at once.
    let (status, user) = json_of(patch(alice, json!({"group": "vip"})).await.unwrap()).await;
    assert_eq!((status, user["group"].as_str()), (200, Some("vip")));
    assert_eq!(call().await.unwrap().status(), 200);
    app.flush().await;
    assert_eq!(app.balance(alice).await, "0.925000");

    for (id, body, code) in [
        (alice, json!({"group": "gold"}), "unknown_group"),
        (root, json!({"disabled": true}), "cannot_change_self"),
        (root, json!({"role": "user"}), "cannot_change_self"),
        (alice, json!({"role": "owner"}), "invalid_request"),
    ] {
        let (status, answer) = json_of(patch(id, body).await.unwrap()).await;
        assert_eq!((status, error_code(&answer)), (400, code.to_string()));
    }
    assert_eq!(
        json_of(patch(999, json!({"disabled": true})).await.unwrap())
            .await
            .0,
        404
    );

    let (status, user) = json_of(patch(alice, json!({"disabled": true})).await.unwrap()).await;
    assert_eq!((status, user["disabled"].as_bool()), (200, Some(true)));
    let (status, answer) = json_of(call().await.unwrap()).await;
    assert_eq!(
        (status, error_code(&answer)),
        (401, "account_disabled".into())
    );
    assert_eq!(
        member
            .get(app.url("/api/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = member
        .patch(app.url(&format!("/api/admin/users/{alice}")))
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    patch(alice, json!({"disabled": false})).await.unwrap();
    assert_eq!(call().await.unwrap().status(), 200);
    assert!(app.audit().await.is_clean());
}

#[tokio::test]
async fn upstream_health_and_prices_are_visible_to_admins() {
    let bad = Fake::start(Mode::Status(500)).await;
    let good = Fake::start(Mode::Ok).await;
    let text = format!(
        "[models.\"gpt-test\"]\ninput = \"1000\"\noutput = \"2000\"\n[models.\"unserved\"]\nper_request = \"0.04\"\n\
         [[upstreams]]\nname = \"bad\"\nbase_url = \"{}\"\napi_key = \"k\"\nmodels = [\"gpt-test\"]\npriority = 5\n\
         [[upstreams]]\nname = \"good\"\nbase_url = \"{}\"\napi_key = \"k\"\nmodels = [\"gpt-test\", \"local:free\"]\n\
         [[upstreams]]\nname = \"keyless\"\nbase_url = \"{}\"\nmodels = [\"other\"]\n\
         [[upstreams]]\nname = \"unset-env\"\nbase_url = \"{}\"\napi_key_env = \"CODE_ROUTER_TEST_UNSET_KEY\"\nmodels = [\"other\"]\n",
        bad.base_url, good.base_url, good.base_url, good.base_url
    );
    let app = spawn_app_config(Config::parse(&text, "t").unwrap()).await;
    let user = app.create_user("root", Role::Admin).await;
    app.fund(user, "1").await;
    let admin = app.login("root").await;
    let (_, key) = app.create_key(&admin, json!({"name": "k"})).await;
    let r = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, ups) = json_of(
        admin
            .get(app.url("/api/admin/upstreams"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let by_name = |name: &str| {
        ups["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap()
            .clone()
    };
    let (b, g) = (by_name("bad"), by_name("good"));
    assert_eq!(
        (b["errors"].as_u64(), b["state"].as_str()),
        (Some(1), Some("healthy"))
    );
    assert!(b["last_error"].as_str().unwrap().contains("500"), "{b}");
    // An upstream that would be sent no API key is a problem to fix, not "healthy".
    for name in ["keyless", "unset-env"] {
        let u = by_name(name);
        assert_eq!(
            (u["state"].as_str(), u["has_api_key"].as_bool()),
            (Some("no_api_key"), Some(false)),
            "{u}"
        );
    }
    assert_eq!(g["state"], "healthy");
    assert!(b["p50_ms"].is_null());
    assert_eq!(g["requests"], 1);
    assert!(g["p50_ms"].is_number() && g["p95_ms"].is_number());

    let (_, prices) = json_of(
        admin
            .get(app.url("/api/admin/prices"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let rows = prices["data"].as_array().unwrap();
    let models: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["gpt-test", "local:free", "unserved"]);
    assert_eq!(rows[0]["prices"]["input"], "1000");
    // Cache prices not set are the input price, and shown as such.
    assert_eq!(rows[0]["prices"]["cache_read"], "1000");
    assert_eq!(rows[0]["served_by"], json!(["bad", "good"]));
    assert_eq!(rows[1]["free"], true);
    assert!(rows[1]["prices"].is_null());
    assert_eq!(rows[2]["prices"]["per_request"], "0.04");
    assert_eq!(rows[2]["served_by"], json!([]));
    assert_eq!(
        prices["groups"]["default"], "1",
        "default ×1 without [groups]"
    );

    app.create_user("bob", Role::User).await;
    let bob = app.login("bob").await;
    for path in ["/api/admin/upstreams", "/api/admin/prices"] {
        assert_eq!(bob.get(app.url(path)).send().await.unwrap().status(), 403);
    }
    assert_eq!(
        bob.post(app.url("/api/admin/reload"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn reload_changes_the_next_price_and_a_broken_file_changes_nothing() {
    let fake = Fake::start(Mode::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, config_text(&fake, "1000")).unwrap();
    let app = spawn_app_config(Config::load(&file).unwrap()).await;
    app.state.set_config_path(file.clone());
    let user = app.create_user("root", Role::Admin).await;
    app.fund(user, "1").await;
    let admin = app.login("root").await;
    let (_, key) = app.create_key(&admin, json!({"name": "k"})).await;
    let cost_of_a_call = || async {
        let r = reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        app.flush().await;
        let (_, logs) = json_of(
            admin
                .get(app.url("/api/logs?limit=1"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        logs["data"][0]["cost"].as_str().unwrap().to_string()
    };
    assert_eq!(cost_of_a_call().await, "0.050000");

    std::fs::write(&file, config_text(&fake, "3000")).unwrap();
    let (status, body) = json_of(
        admin
            .post(app.url("/api/admin/reload"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        cost_of_a_call().await,
        "0.070000",
        "10 × 3000 + 20 × 2000, per 1M"
    );

    std::fs::write(&file, "[models.\"gpt-test\"]\ninput = 1.5\n").unwrap();
    let (status, body) = json_of(
        admin
            .post(app.url("/api/admin/reload"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "config_invalid".into()));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{body}"
    );
    assert_eq!(cost_of_a_call().await, "0.070000", "the old config stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_sigterm_lets_a_stream_finish() {
    let fake = Fake::start(Mode::SlowStream).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, config_text(&fake, "1000")).unwrap();
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
            "ops",
            "--admin",
            "--password-stdin",
        ],
        "ops password 1\n",
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
            "ops",
            "--amount",
            "1",
            "--reason",
            "t",
        ],
        "",
    );
    assert!(ok, "{err}");

    let server = Server::start(&["--data", &data, "--config", &config]);
    let client = cookie_client();
    let r = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "ops", "password": "ops password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let price = || async {
        let (_, p) = json_of(
            client
                .get(server.url("/api/admin/prices"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        p["data"][0]["prices"]["input"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(price().await, "1000");
    std::fs::write(&file, config_text(&fake, "1500")).unwrap();
    server.signal("HUP");
    let mut seen = String::new();
    for _ in 0..50 {
        seen = price().await;
        if seen == "1500" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, "1500", "SIGHUP reloaded the prices");
    std::fs::write(&file, "not toml at all [").unwrap();
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(price().await, "1500", "a broken file is refused");
    assert_eq!(
        client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A stream in flight when SIGTERM arrives runs to its end and is charged; then the server exits.
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
    let mut stream = reqwest::Client::new()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-test", "stream": true, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}))
        .send()
        .await
        .unwrap();
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tick"));
    server.signal("TERM");
    let mut text = String::from_utf8_lossy(&first).to_string();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the stream finished: {text}"
    );
    let mut server = server;
    let status = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");

    // (The config file is the broken one now; the audit needs only the data.)
    let (ok, out, err) = cli(&["audit", "--data", &data], "");
    assert!(ok && out.contains("audit: clean"), "{out}{err}");
    let conn = rusqlite::Connection::open(dir.path().join("data/code-router.db")).unwrap();
    let (balance, settles): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT balance FROM users WHERE username = 'ops'), (SELECT count(*) FROM ledger WHERE kind = 'settle')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // 10 × 1500 + 20 × 2000 per 1M = 0.055.
    assert_eq!((balance, settles), (945_000_000, 1));
}

#[tokio::test]
async fn old_request_logs_are_pruned_but_never_the_ledger() {
    let app = spawn_app_with(|c| c.logs.retain_days = 30).await;
    let user = app.create_user("alice", Role::User).await;
    app.fund(user, "1").await;
    let now = code_router::clock::Clock::now(app.clock.as_ref());
    app.state
        .db
        .write(move |conn| {
            let rows: Vec<code_router::logs::LogRow> = [100, 31, 29, 0]
                .into_iter()
                .map(|age_days| code_router::logs::LogRow {
                    request_id: format!("req_{age_days}"),
                    created_at: now - age_days * 86_400,
                    user_id: Some(user),
                    status: 200,
                    ..Default::default()
                })
                .collect();
            code_router::logs::record_logs(conn, &rows)?;
            Ok(())
        })
        .await
        .unwrap();
    let deleted = code_router::logs::retention::prune_expired(&app.state)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let member = app.login("alice").await;
    let (_, logs) = json_of(member.get(app.url("/api/logs")).send().await.unwrap()).await;
    let ids: Vec<&str> = logs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req_0", "req_29"]);
    assert_eq!(
        logs["summary"]["requests"], 2,
        "the pruned days leave the rollups too"
    );
    assert_eq!(
        app.ledger_of(user).await.len(),
        1,
        "the ledger is untouched"
    );

    let keep_all = spawn_app_with(|c| c.logs.retain_days = 0).await;
    assert_eq!(
        code_router::logs::retention::prune_expired(&keep_all.state)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_cost() {
    let fake = Fake::start(Mode::Ok).await;
    let app = spawn_app_config(Config::parse(&config_text(&fake, "1000"), "t").unwrap()).await;
    let user = app.create_user("root", Role::Admin).await;
    app.fund(user, "1").await;
    let admin = app.login("root").await;
    let (_, key) = app.create_key(&admin, json!({"name": "k"})).await;
    for model in ["gpt-test", "gpt-test", "nope"] {
        reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}))
            .send()
            .await
            .unwrap();
    }
    app.flush().await;
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has("code_router_requests_total{endpoint=\"/chat/completions\",model=\"gpt-test\",upstream=\"main\",status=\"200\"} 2"), "{text}");
    assert!(has("code_router_requests_total{endpoint=\"/chat/completions\",model=\"nope\",upstream=\"\",status=\"404\"} 1"), "{text}");
    assert!(
        has("code_router_tokens_total{model=\"gpt-test\",direction=\"output\"} 40"),
        "{text}"
    );
    assert!(
        has("code_router_cost_nanodollars_total{model=\"gpt-test\"} 100000000"),
        "{text}"
    );
    assert!(has("code_router_holds_open 0"), "{text}");
    assert!(
        has("code_router_upstream_up{upstream=\"main\"} 1"),
        "{text}"
    );
    assert!(text.contains("code_router_request_duration_seconds_bucket"));
    assert!(text.contains("code_router_db_pool_acquires_total{pool=\"write\"}"));
    assert!(text.trim_end().ends_with("# EOF"));

    let locked = spawn_app_with(|c| c.metrics.token = Some("s3cret".into())).await;
    assert_eq!(
        reqwest::get(locked.url("/metrics")).await.unwrap().status(),
        401
    );
    let ok = reqwest::Client::new()
        .get(locked.url("/metrics"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
