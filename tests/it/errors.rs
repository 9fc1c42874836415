//! Whatever arrives, the answer is a 4xx in the error shape, never a 500.

use code_router::accounts::Role;

use crate::helpers::*;

#[tokio::test]
async fn bad_requests_get_clear_4xx() {
    let app = spawn_app_with(|c| c.server.api_body_limit_kb = 16).await;
    app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(64 * 1024)
    );
    let deep = format!("{}{}", "[".repeat(1_000), "]".repeat(1_000));
    let cases: Vec<(&str, &str, Option<String>, u16, &str)> = vec![
        (
            "POST",
            "/api/auth/login",
            Some("{not json".into()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/auth/login",
            Some(String::new()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/auth/login",
            Some("[1,2]".into()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/auth/login",
            Some("{\"username\":1,\"password\":2}".into()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/auth/login",
            Some(deep),
            400,
            "invalid_request",
        ),
        ("POST", "/api/auth/login", Some(big), 413, "body_too_large"),
        (
            "POST",
            "/api/auth/login",
            Some("\u{0}\u{1}\u{2}".into()),
            400,
            "invalid_json",
        ),
        ("GET", "/api/nothing-here", None, 404, "not_found"),
        ("GET", "/v1/nothing-here", None, 404, "not_found"),
        ("DELETE", "/api/me", None, 405, "method_not_allowed"),
        (
            "GET",
            "/api/admin/users?limit=many",
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            "/api/admin/users?cursor=abc",
            None,
            400,
            "invalid_cursor",
        ),
        (
            "POST",
            "/api/admin/users/abc/adjust",
            Some("{}".into()),
            404,
            "not_found",
        ),
        (
            "POST",
            "/api/admin/users/999/adjust",
            Some("{\"amount\":\"1\",\"reason\":\"r\"}".into()),
            404,
            "user_not_found",
        ),
        (
            "POST",
            "/api/admin/users/1/adjust",
            Some("{\"amount\":1.5,\"reason\":\"r\"}".into()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/admin/users/1/adjust",
            Some("{\"amount\":\"0.0000000001\",\"reason\":\"r\"}".into()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/admin/users/1/adjust",
            Some("{\"amount\":\"0\",\"reason\":\"r\"}".into()),
            400,
            "invalid_amount",
        ),
        (
            "POST",
            "/api/admin/users/1/adjust",
            Some("{\"amount\":\"-5\",\"reason\":\"r\"}".into()),
            400,
            "insufficient_balance",
        ),
        (
            "POST",
            "/api/admin/users/1/adjust",
            Some("{\"amount\":\"5\",\"reason\":\"  \"}".into()),
            400,
            "invalid_reason",
        ),
    ];
    for (method, path, body, want_status, want_code) in cases {
        let mut request = admin.request(method.parse().unwrap(), app.url(path));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let r = request.send().await.unwrap();
        assert!(r.headers().contains_key("x-request-id"), "{method} {path}");
        let (status, answer) = json_of(r).await;
        assert_eq!(status, want_status, "{method} {path} -> {answer}");
        assert_eq!(error_code(&answer), want_code, "{method} {path}");
    }
    // The server is still healthy after all of it.
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200
    );
}
