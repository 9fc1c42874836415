//! Same-site request forgery: a page on another origin of the same site (another port, a
//! sibling subdomain) rides the console's session cookie, which SameSite=Lax still sends. The
//! `/api` answer to anything that changes state without JSON from the console's own origin is a
//! 403; payment callbacks and cookie-less scripts are unaffected.

use code_router::accounts::Role;
use serde_json::json;

use crate::helpers::*;

/// What the attacker's `<form enctype="text/plain">` posts: the input name and value joined by
/// `=` make a JSON body.
const FORM_BODY: &str = "{\"amount\":\"1000\",\"reason\":\"x=\"}";

#[tokio::test]
async fn a_form_from_another_origin_cannot_move_money_create_keys_or_change_passwords() {
    let app = spawn_app().await;
    app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    let alice = app.create_user("alice", Role::User).await;
    let member = app.login("alice").await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let evil = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let adjust = app.url(&format!("/api/admin/users/{alice}/adjust"));

    // The reported attack: text/plain from the same host on another port.
    let (status, body) = json_of(
        admin
            .post(&adjust)
            .header("content-type", "text/plain")
            .header("origin", &evil)
            .header("sec-fetch-site", "same-site")
            .body(FORM_BODY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "cross_origin_request");
    assert_eq!(app.balance(alice).await, "0.000000");

    // Either half alone is refused too: JSON from the foreign origin, text/plain from our own.
    let refused = [
        (
            "application/json",
            Some(evil.as_str()),
            None,
            "cross_origin_request",
        ),
        ("text/plain", Some(app.base.as_str()), None, "json_required"),
        (
            "application/x-www-form-urlencoded",
            None,
            None,
            "json_required",
        ),
        ("text/plain", None, None, "json_required"),
        (
            "application/json",
            None,
            Some("same-site"),
            "cross_origin_request",
        ),
        (
            "application/json",
            None,
            Some("cross-site"),
            "cross_origin_request",
        ),
        (
            "application/json",
            Some("null"),
            None,
            "cross_origin_request",
        ),
    ];
    for (content_type, origin, fetch_site, code) in refused {
        let mut request = admin
            .post(&adjust)
            .header("content-type", content_type)
            .body(FORM_BODY);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        let (status, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(
            status, 403,
            "{content_type} {origin:?} {fetch_site:?}: {body}"
        );
        assert_eq!(error_code(&body), code, "{body}");
    }
    assert_eq!(app.balance(alice).await, "0.000000");

    // A member's key, and a member's password, the same way.
    let (status, body) = json_of(
        member
            .post(app.url("/api/keys"))
            .header("content-type", "text/plain")
            .header("origin", &evil)
            .body("{\"name\":\"stolen=\"}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (_, keys) = json_of(member.get(app.url("/api/keys")).send().await.unwrap()).await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 0, "{keys}");
    let (status, body) = json_of(
        member
            .post(app.url("/api/auth/password"))
            .header("content-type", "text/plain")
            .header("origin", "http://evil.example")
            .body(format!(
                "{{\"current_password\":\"{PASSWORD}\",\"new_password\":\"owned by evil=\"}}"
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    app.login("alice").await;

    // The console itself: JSON from its own origin, by Origin, by Sec-Fetch-Site, or from a
    // script that sends neither. A body-less DELETE needs no Content-Type.
    let allowed = [
        (Some(app.base.as_str()), None),
        (None, Some("same-origin")),
        (None, None),
    ];
    for (origin, fetch_site) in allowed {
        let mut request = admin
            .post(&adjust)
            .json(&json!({"amount": "1", "reason": "console"}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        let (status, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{origin:?} {fetch_site:?}: {body}");
    }
    assert_eq!(app.balance(alice).await, "3.000000");
    let (id, _) = app.create_key(&member, json!({"name": "k"})).await;
    let r = member
        .delete(app.url(&format!("/api/keys/{id}")))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

/// Behind a reverse proxy the Host the server sees is its own address; the browser's Origin is
/// the public one, which `[server] public_url` names.
#[tokio::test]
async fn the_public_url_is_our_origin_too() {
    let app = spawn_app_with(|c| c.server.public_url = "https://router.example.com".into()).await;
    let alice = app.create_user("alice", Role::User).await;
    app.fund(alice, "1").await;
    let member = app.login("alice").await;
    for (origin, want) in [
        ("https://router.example.com", 201),
        ("https://router.example.com:443", 201),
        ("http://router.example.com", 403),
        ("https://evil.router.example.com", 403),
        ("https://router.example.com:8443", 403),
    ] {
        let r = member
            .post(app.url("/api/keys"))
            .header("origin", origin)
            .json(&json!({"name": "k"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{origin}");
    }
}

/// Payment providers post forms from their own servers, and sign-in from another origin (login
/// forgery) is refused even without a cookie.
#[tokio::test]
async fn payment_callbacks_are_unaffected_and_foreign_sign_ins_refused() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let notify = cookie_client()
        .post(app.url("/api/payments/epay/notify"))
        .header("origin", "https://pay.example.net")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("out_trade_no=x&trade_status=TRADE_SUCCESS")
        .send()
        .await
        .unwrap();
    assert_ne!(
        notify.status(),
        403,
        "a payment callback is not a console request"
    );
    let r = cookie_client()
        .post(app.url("/api/auth/login"))
        .header("origin", "http://evil.example")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
}
