//! API keys: created with the secret shown once, owned, limited, checked on `/v1` without a stale cache.

use code_router::accounts::Role;
use code_router::db::Store;
use serde_json::{json, Value};

use crate::helpers::*;

async fn create(app: &TestApp, client: &reqwest::Client, body: Value) -> (u16, Value) {
    json_of(
        client
            .post(app.url("/api/keys"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn billing(app: &TestApp, key: &str) -> (u16, Value) {
    json_of(
        reqwest::Client::new()
            .get(app.url("/v1/dashboard/billing/subscription"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn keys_are_shown_once_and_stored_only_as_hashes() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let alice = app.login("alice").await;
    let (status, body) = create(
        &app,
        &alice,
        json!({"name": "laptop", "limit": "2.5", "models": ["gpt-4o-mini", "gpt-4o-mini", " o3 "],
               "ip_allowlist": ["127.0.0.1", "10.0.0.0/8"], "rpm": 60, "expires_at": "2999-01-01"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let key = body["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-") && key.len() >= 35, "{key}");
    assert_eq!(body["limit"], "2.500000");
    assert_eq!(body["used"], "0.000000");
    assert_eq!(body["remaining"], "2.500000");
    assert_eq!(body["models"], json!(["gpt-4o-mini", "o3"]));
    assert_eq!(body["ip_allowlist"], json!(["127.0.0.1", "10.0.0.0/8"]));
    assert_eq!(body["expires_at"], "2999-01-01T00:00:00Z");
    assert!(body["key_hint"].as_str().unwrap().starts_with(&key[..7]));

    let list = alice
        .get(app.url("/api/keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&key[3..]), "the list never shows the secret");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0].get("key").is_none());

    // Not in the database either, in any form that gives it back.
    let db_path = app.state.config().database_path();
    let wal = db_path.with_extension("db-wal");
    for file in [db_path, wal] {
        if let Ok(bytes) = std::fs::read(&file) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(&key[3..]),
                "{} holds the secret",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn key_input_is_validated() {
    let app = spawn_app().await;
    app.create_user("bob", Role::User).await;
    let bob = app.login("bob").await;
    let cases = [
        (json!({"name": ""}), "invalid_name"),
        (json!({"name": "x".repeat(65)}), "invalid_name"),
        (json!({"name": "k", "limit": 5}), "invalid_request"),
        (json!({"name": "k", "limit": "-1"}), "invalid_limit"),
        (
            json!({"name": "k", "limit": "0.0000000001"}),
            "invalid_request",
        ),
        (
            json!({"name": "k", "ip_allowlist": ["10.0.0.0/33"]}),
            "invalid_ip_allowlist",
        ),
        (
            json!({"name": "k", "ip_allowlist": ["example.com"]}),
            "invalid_ip_allowlist",
        ),
        (
            json!({"name": "k", "expires_at": "2001-01-01"}),
            "invalid_expires_at",
        ),
        (
            json!({"name": "k", "expires_at": "soon"}),
            "invalid_expires_at",
        ),
        (json!({"name": "k", "rpm": 0}), "invalid_rpm"),
        (json!({"name": "k", "models": [""]}), "invalid_models"),
        (json!({"name": "k", "secret": "mine"}), "invalid_request"),
    ];
    for (body, code) in cases {
        let (status, answer) = create(&app, &bob, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(error_code(&answer), code, "{body}");
    }
}

#[tokio::test]
async fn members_cannot_touch_each_others_keys() {
    let app = spawn_app().await;
    app.create_user("carol", Role::User).await;
    app.create_user("mallory", Role::User).await;
    let carol = app.login("carol").await;
    let mallory = app.login("mallory").await;
    let (_, body) = create(&app, &carol, json!({"name": "carols"})).await;
    let id = body["id"].as_i64().unwrap();
    let path = format!("/api/keys/{id}");
    let r = mallory
        .patch(app.url(&path))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    let (status, answer) = json_of(r).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&answer), "key_not_found");
    assert_eq!(
        mallory
            .delete(app.url(&path))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, list) = json_of(mallory.get(app.url("/api/keys")).send().await.unwrap()).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let (_, list) = json_of(carol.get(app.url("/api/keys")).send().await.unwrap()).await;
    assert_eq!(list["data"][0]["enabled"], true);
    assert_eq!(
        reqwest::get(app.url("/api/keys")).await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn v1_key_checks_answer_each_status() {
    let app = spawn_app().await;
    let owner = app.create_user("dave", Role::User).await;
    app.fund(owner, "10").await;
    let dave = app.login("dave").await;
    let (_, body) = create(&app, &dave, json!({"name": "main"})).await;
    let key = body["key"].as_str().unwrap().to_string();
    let id = body["id"].as_i64().unwrap();

    let (status, sub) = billing(&app, &key).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["hard_limit_usd"], json!(10));
    let usage = reqwest::Client::new()
        .get(app.url("/v1/dashboard/billing/usage"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    let (status, usage) = json_of(usage).await;
    assert_eq!((status, usage["total_usage"].clone()), (200, json!(0)));

    let (status, answer) = json_of(
        reqwest::get(app.url("/v1/dashboard/billing/subscription"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_code(&answer)),
        (401, "missing_api_key".into())
    );
    let wrong = format!("{}x", &key[..key.len() - 1]);
    let (status, answer) = billing(&app, &wrong).await;
    assert_eq!(
        (status, error_code(&answer)),
        (401, "invalid_api_key".into())
    );
    assert!(
        !answer.to_string().contains(&wrong[3..]),
        "errors never echo the key"
    );

    // Disabled: the very next request fails, although the key was cached a moment ago.
    let path = format!("/api/keys/{id}");
    dave.patch(app.url(&path))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    let (status, answer) = billing(&app, &key).await;
    assert_eq!((status, error_code(&answer)), (401, "key_disabled".into()));
    dave.patch(app.url(&path))
        .json(&json!({"enabled": true, "limit": "2"}))
        .send()
        .await
        .unwrap();
    let (status, sub) = billing(&app, &key).await;
    assert_eq!(status, 200);
    assert_eq!(
        sub["hard_limit_usd"],
        json!(2),
        "a limited key shows its limit"
    );

    // Allowlist: the test client comes from 127.0.0.1.
    dave.patch(app.url(&path))
        .json(&json!({"ip_allowlist": ["10.0.0.0/8"]}))
        .send()
        .await
        .unwrap();
    let (status, answer) = billing(&app, &key).await;
    assert_eq!(
        (status, error_code(&answer)),
        (403, "ip_not_allowed".into())
    );
    dave.patch(app.url(&path))
        .json(&json!({"ip_allowlist": ["::1", "127.0.0.0/24"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(billing(&app, &key).await.0, 200);

    // Requests per minute.
    dave.patch(app.url(&path))
        .json(&json!({"rpm": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(billing(&app, &key).await.0, 200);
    assert_eq!(billing(&app, &key).await.0, 200);
    let (status, answer) = billing(&app, &key).await;
    assert_eq!((status, error_code(&answer)), (429, "rate_limited".into()));
    app.clock.advance_secs(61);
    assert_eq!(billing(&app, &key).await.0, 200);
    dave.patch(app.url(&path))
        .json(&json!({"rpm": null, "limit": null}))
        .send()
        .await
        .unwrap();

    // Expiry, by the server's clock.
    let tomorrow =
        code_router::clock::rfc3339(code_router::clock::Clock::now(app.clock.as_ref()) + 86_400);
    dave.patch(app.url(&path))
        .json(&json!({"expires_at": tomorrow}))
        .send()
        .await
        .unwrap();
    assert_eq!(billing(&app, &key).await.0, 200);
    app.clock.advance_secs(2 * 86_400);
    let (status, answer) = billing(&app, &key).await;
    assert_eq!((status, error_code(&answer)), (401, "key_expired".into()));

    // Deleted: gone for good.
    assert_eq!(
        dave.delete(app.url(&path)).send().await.unwrap().status(),
        204
    );
    let (status, answer) = billing(&app, &key).await;
    assert_eq!(
        (status, error_code(&answer)),
        (401, "invalid_api_key".into())
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let app =
        spawn_app_with(|c| c.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.create_user("erin", Role::User).await;
    let erin = app.login("erin").await;
    let (_, body) = create(
        &app,
        &erin,
        json!({"name": "office", "ip_allowlist": ["203.0.113.0/24"]}),
    )
    .await;
    let key = body["key"].as_str().unwrap();
    let call = |xff: &'static str| {
        reqwest::Client::new()
            .get(app.url("/v1/dashboard/billing/subscription"))
            .bearer_auth(key)
            .header("x-forwarded-for", xff)
            .send()
    };
    assert_eq!(call("203.0.113.50").await.unwrap().status(), 200);
    assert_eq!(call("198.51.100.1").await.unwrap().status(), 403);
}

/// A key's scopes that cannot be read back (a hand-edited row, a bad restore) must refuse the
/// key, not widen it: an empty list means "any model" or "any address".
#[tokio::test]
async fn unreadable_stored_scopes_refuse_the_key() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let alice = app.login("alice").await;
    let cases = [
        ("models", "not json"),
        ("models", "{\"a\": 1}"),
        ("ip_allowlist", "[\"127.0.0.1\""),
        ("ip_allowlist", "[\"not-an-address\"]"),
    ];
    for (i, (column, stored)) in cases.into_iter().enumerate() {
        let (id, key) = app
            .create_key(
                &alice,
                json!({"name": format!("k{i}"), "models": ["demo:free"], "ip_allowlist": ["10.9.9.9"]}),
            )
            .await;
        // The scopes work as created: this address is not allowed.
        assert_eq!(billing(&app, &key).await.0, 403, "{column}: as created");
        let sql = format!("UPDATE api_keys SET {column} = ?1 WHERE id = ?2");
        let value = stored.to_string();
        app.state
            .db
            .write(move |conn| {
                Ok(conn
                    .execute(&sql, rusqlite::params![value, id])
                    .store("change the key's stored scope")?)
            })
            .await
            .unwrap();
        app.state.keys.invalidate_key(id);
        let (status, body) = billing(&app, &key).await;
        assert_eq!(status, 401, "{column} = {stored}: {body}");
        assert_eq!(error_code(&body), "key_unreadable", "{body}");
        let chat = reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "demo:free", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(chat.status(), 401, "{column} = {stored}");
    }
}
