//! The embedded console: shell pages and assets, served offline with safe headers.

use crate::helpers::*;

#[tokio::test]
async fn console_pages_and_assets_are_served() {
    let app = spawn_app().await;
    for path in ["/", "/login", "/register", "/console", "/console/keys"] {
        let r = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let body = r.text().await.unwrap();
        assert!(body.contains("/assets/app.js"), "{path}");
    }
    let r = reqwest::get(app.url("/assets/app.js")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let again = reqwest::Client::new()
        .get(app.url("/assets/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let missing = reqwest::get(app.url("/assets/nope.js")).await.unwrap();
    assert_eq!(missing.status(), 404);

    // Offline: no page or script refers to another host.
    for path in ["/", "/assets/app.js", "/assets/style.css"] {
        let body = reqwest::get(app.url(path))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!body.contains("https://"), "{path} loads nothing remote");
    }
}
