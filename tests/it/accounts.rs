//! Register, sign in, sessions, roles and the limits around them.

use code_router::accounts::Role;
use code_router::db::Store;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn register_login_me_logout() {
    let app = spawn_app().await;
    let client = cookie_client();

    let r = client
        .post(app.url("/api/auth/register"))
        .json(&json!({ "username": "alice", "password": "hunter2hunter2" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["username"], "alice");

    let (status, _) = json_of(client.get(app.url("/api/me")).send().await.unwrap()).await;
    assert_eq!(status, 401, "registering does not sign in");

    let r = client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "ALICE", "password": "hunter2hunter2" }))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http public_url: {cookie}"
    );
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "user");

    let (status, me) = json_of(client.get(app.url("/api/me")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["group"], "default");
    assert_eq!(me["balance"], "0.000000");
    assert_eq!(me["reward_balance"], "0.000000");
    assert_eq!(me["referral_code"].as_str().unwrap().len(), 8);

    // Logout clears the session server-side: replaying the old cookie fails too.
    let token = cookie.split(';').next().unwrap().to_string();
    let r = client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, body) = json_of(client.get(app.url("/api/me")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "not_signed_in");
    let replay = reqwest::Client::new()
        .get(app.url("/api/me"))
        .header("cookie", token)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    app.create_user("bob", Role::User).await;
    for (username, password) in [("bob", "wrong-password"), ("nobody", PASSWORD)] {
        let r = cookie_client()
            .post(app.url("/api/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(status, 401);
        assert_eq!(error_code(&body), "invalid_credentials");
    }
}

#[tokio::test]
async fn logins_are_rate_limited_per_username() {
    let app = spawn_app_with(|c| c.server.login_attempts = 3).await;
    app.create_user("carol", Role::User).await;
    let client = cookie_client();
    let attempt = |password: &'static str| {
        client
            .post(app.url("/api/auth/login"))
            .json(&json!({ "username": "carol", "password": password }))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("nope-nope").await.unwrap().status(), 401);
    }
    let r = attempt(PASSWORD).await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let (status, body) = json_of(r).await;
    assert_eq!(status, 429, "even the right password waits");
    assert_eq!(error_code(&body), "rate_limited");
    // The window passes.
    app.clock.advance_secs(301);
    assert_eq!(attempt(PASSWORD).await.unwrap().status(), 200);
}

#[tokio::test]
async fn registration_can_be_closed() {
    let app = spawn_app_with(|c| c.server.allow_registration = false).await;
    let r = cookie_client()
        .post(app.url("/api/auth/register"))
        .json(&json!({ "username": "dave", "password": "hunter2hunter2" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 403);
    assert_eq!(error_code(&body), "registration_disabled");
    let (_, status_body) = json_of(reqwest::get(app.url("/api/status")).await.unwrap()).await;
    assert_eq!(status_body["allow_registration"], false);
}

#[tokio::test]
async fn registrations_are_rate_limited_per_ip() {
    let app = spawn_app_with(|c| c.server.registrations_per_ip_hour = 2).await;
    let register = |name: &str| {
        cookie_client()
            .post(app.url("/api/auth/register"))
            .json(&json!({ "username": name, "password": "hunter2hunter2" }))
            .send()
    };
    assert_eq!(register("user1").await.unwrap().status(), 201);
    assert_eq!(register("user2").await.unwrap().status(), 201);
    let (status, body) = json_of(register("user3").await.unwrap()).await;
    assert_eq!(status, 429);
    assert_eq!(error_code(&body), "rate_limited");
    app.clock.advance_secs(3601);
    assert_eq!(register("user3").await.unwrap().status(), 201);
}

#[tokio::test]
async fn registration_validates_input() {
    let app = spawn_app().await;
    app.create_user("erin", Role::User).await;
    let cases = [
        (
            json!({"username": "erin", "password": "hunter2hunter2"}),
            409,
            "username_taken",
        ),
        (
            json!({"username": "ERIN", "password": "hunter2hunter2"}),
            409,
            "username_taken",
        ),
        (
            json!({"username": "x", "password": "hunter2hunter2"}),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "a b c", "password": "hunter2hunter2"}),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "frank", "password": "short"}),
            400,
            "invalid_password",
        ),
        (
            json!({"username": "frank", "password": "hunter2hunter2", "referral_code": "NOPE1234"}),
            400,
            "invalid_referral_code",
        ),
        (json!({"username": "frank"}), 400, "invalid_request"),
        (
            json!({"username": 5, "password": "hunter2hunter2"}),
            400,
            "invalid_request",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let r = cookie_client()
            .post(app.url("/api/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, answer) = json_of(r).await;
        assert_eq!(status, want_status, "{body} -> {answer}");
        assert_eq!(error_code(&answer), want_code, "{body}");
    }
}

#[tokio::test]
async fn sessions_expire() {
    let app = spawn_app_with(|c| c.server.session_hours = 1).await;
    app.create_user("gina", Role::User).await;
    let client = app.login("gina").await;
    assert_eq!(
        client
            .get(app.url("/api/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.clock.advance_secs(3601);
    assert_eq!(
        client
            .get(app.url("/api/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn secure_cookie_behind_https() {
    let app = spawn_app_with(|c| c.server.public_url = "https://router.example.com".into()).await;
    app.create_user("hana", Role::User).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "hana", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn members_cannot_reach_admin_routes() {
    let app = spawn_app().await;
    let member = app.create_user("ivan", Role::User).await;
    app.create_user("root", Role::Admin).await;

    let client = app.login("ivan").await;
    for (method, path) in [
        ("GET", "/api/admin/users".to_string()),
        ("POST", format!("/api/admin/users/{member}/adjust")),
    ] {
        let r = client
            .request(method.parse().unwrap(), app.url(&path))
            .json(&json!({ "amount": "100", "reason": "free money" }))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(status, 403, "{method} {path}");
        assert_eq!(error_code(&body), "admin_only");
    }
    let anonymous = reqwest::get(app.url("/api/admin/users")).await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let admin = app.login("root").await;
    let (status, body) = json_of(
        admin
            .get(app.url("/api/admin/users?q=iv"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["username"], "ivan");
    assert_eq!(app.audit().await.problems, Vec::<String>::new());
}

#[tokio::test]
async fn disabled_accounts_lose_their_sessions() {
    let app = spawn_app().await;
    let id = app.create_user("judy", Role::User).await;
    let client = app.login("judy").await;
    app.state
        .db
        .write(move |conn| {
            conn.execute("UPDATE users SET disabled = 1 WHERE id = ?1", [id])
                .store("disable the account")?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        client
            .get(app.url("/api/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = cookie_client()
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "judy", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 401, "like a wrong password: {body}");
    assert_eq!(error_code(&body), "invalid_credentials");
}

#[tokio::test]
async fn password_change_ends_other_sessions() {
    let app = spawn_app().await;
    app.create_user("kate", Role::User).await;
    let here = app.login("kate").await;
    let elsewhere = app.login("kate").await;
    let r = here
        .post(app.url("/api/auth/password"))
        .json(&json!({ "current_password": "wrong-one!", "new_password": "new password 2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = here
        .post(app.url("/api/auth/password"))
        .json(&json!({ "current_password": PASSWORD, "new_password": "new password 2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        here.get(app.url("/api/me")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        elsewhere
            .get(app.url("/api/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = cookie_client()
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "kate", "password": "new password 2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_burst_cannot_outrun_the_limits() {
    let app = spawn_app_with(|c| {
        c.server.login_attempts = 3;
        c.server.registrations_per_ip_hour = 2;
    })
    .await;
    app.create_user("target", Role::User).await;
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let url = app.url("/api/auth/login");
            tokio::spawn(async move {
                let body = json!({ "username": "target", "password": format!("guess number {i}") });
                reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        9,
        "{statuses:?}"
    );

    let signups: Vec<_> = (0..8)
        .map(|i| {
            let url = app.url("/api/auth/register");
            tokio::spawn(async move {
                let body = json!({ "username": format!("farm{i}"), "password": "hunter2hunter2" });
                reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for s in signups {
        statuses.push(s.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        2,
        "{statuses:?}"
    );
}

/// Signs in as `username` from `address` (through a trusted proxy); returns (status, body,
/// Retry-After).
async fn sign_in_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let r = cookie_client()
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    let wait = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = json_of(r).await;
    (status, body, wait)
}

fn behind_a_proxy(c: &mut code_router::config::Config) {
    c.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

/// Without the right password a disabled account must look like any other: the same answer
/// to a wrong password and to the right one, so guessing cannot tell when it hit. With the
/// right password the member still learns what to do: the one message for every refused
/// sign-in names the operator.
#[tokio::test]
async fn a_disabled_account_answers_every_password_alike() {
    let app = spawn_app().await;
    app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    let dora = app.create_user("dora", Role::User).await;
    let (_, wrong, _) = sign_in_from(&app, "1.1.1.1", "dora", "not her password").await;
    let (_, unknown, _) = sign_in_from(&app, "1.1.1.1", "nobody-here", "not her password").await;
    assert_eq!(wrong, unknown);
    let r = admin
        .patch(app.url(&format!("/api/admin/users/{dora}")))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, right, _) = sign_in_from(&app, "1.1.1.1", "dora", PASSWORD).await;
    assert_eq!(status, 401, "{right}");
    assert_eq!(right, wrong, "the right password answers like a wrong one");
    let (_, still_wrong, _) = sign_in_from(&app, "1.1.1.1", "dora", "not her password").await;
    assert_eq!(still_wrong, wrong);
    assert!(
        wrong["error"]["message"]
            .as_str()
            .unwrap()
            .contains("operator"),
        "{wrong}"
    );
}

/// Failed sign-ins count per (username, address): a stranger guessing from elsewhere is
/// stopped without locking the owner out.
#[tokio::test]
async fn a_stranger_elsewhere_cannot_lock_the_owner_out() {
    let app = spawn_app_with(behind_a_proxy).await;
    app.create_user("owner", Role::User).await;
    let mut refused = 0;
    for _ in 0..15 {
        let (status, _, _) = sign_in_from(&app, "203.0.113.9", "owner", "a guess, wrong").await;
        assert!(matches!(status, 401 | 429), "{status}");
        refused += usize::from(status == 429);
        app.clock.advance_secs(1);
    }
    assert!(refused > 0, "the stranger is slowed down");
    let (status, body, _) = sign_in_from(&app, "198.51.100.4", "owner", PASSWORD).await;
    assert_eq!(status, 200, "the owner signs in from home: {body}");
}

/// After three failures from one address each further attempt waits twice as long as the one
/// before, so guessing slows down long before the window's limit.
#[tokio::test]
async fn failed_sign_ins_back_off() {
    let app = spawn_app_with(behind_a_proxy).await;
    app.create_user("owner", Role::User).await;
    let guess = || sign_in_from(&app, "203.0.113.9", "owner", "a guess, wrong");
    for _ in 0..3 {
        assert_eq!(guess().await.0, 401);
    }
    for wait in [1, 2, 4, 8] {
        let (status, body, retry) = guess().await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(retry.as_deref(), Some(wait.to_string().as_str()), "{body}");
        app.clock.advance_secs(wait);
        assert_eq!(guess().await.0, 401, "after {wait} s");
    }
    // The owner's right password from the same address also waits its turn, then works and
    // starts the count over.
    app.clock.advance_secs(16);
    let (status, _, _) = sign_in_from(&app, "203.0.113.9", "owner", PASSWORD).await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        assert_eq!(guess().await.0, 401);
    }
}

/// Guessing spread over many addresses still meets the per-username ceiling.
#[tokio::test]
async fn guessing_from_many_addresses_meets_the_per_username_ceiling() {
    let app = spawn_app_with(|c| {
        behind_a_proxy(c);
        c.server.login_attempts = 2;
        c.server.login_attempts_per_username = 4;
    })
    .await;
    app.create_user("owner", Role::User).await;
    for i in 0..4 {
        let address = format!("203.0.113.{i}");
        let (status, _, _) = sign_in_from(&app, &address, "owner", "a guess, wrong").await;
        assert_eq!(status, 401);
    }
    let (status, _, wait) = sign_in_from(&app, "198.51.100.4", "owner", PASSWORD).await;
    assert_eq!(status, 429);
    assert!(wait.is_some());
    app.clock.advance_secs(300);
    let (status, _, _) = sign_in_from(&app, "198.51.100.4", "owner", PASSWORD).await;
    assert_eq!(status, 200);
}
