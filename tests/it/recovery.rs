//! An operator can always get back in: passwords set, accounts listed, disabled and enabled
//! from the command line (while `serve` runs too), passwords reset from Admin > Users; and the
//! commands that only read refuse a data directory that does not exist instead of making one.

use code_router::accounts::Role;
use code_router::db::Store;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::process::{cli, Server};

fn one_line_failure((ok, out, err): (bool, String, String), needle: &str) {
    assert!(!ok, "fails: {out}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{needle}: {err}");
}

async fn sign_in(base: &str, username: &str, password: &str) -> (u16, reqwest::Client) {
    let client = cookie_client();
    let status = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (status, client)
}

async fn me(base: &str, client: &reqwest::Client) -> u16 {
    client
        .get(format!("{base}/api/me"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_sets_passwords_lists_disables_and_enables_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let user = |args: &[&str], stdin: &str| {
        let mut all = vec!["user", args[0], "--data", &data];
        all.extend_from_slice(&args[1..]);
        cli(&all, stdin)
    };
    let (ok, _, err) = user(
        &["create", "--username", "alice", "--password-stdin"],
        "first password 1\n",
    );
    assert!(ok, "{err}");
    let server = Server::start(&["--data", &data]);
    let base = server.base.clone();
    let (status, alice) = sign_in(&base, "alice", "first password 1").await;
    assert_eq!(status, 200);

    let (ok, out, err) = user(&["list"], "");
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.contains("alice"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("user") && row.contains("active") && row.contains("0.000000"),
        "{out}"
    );
    assert!(
        out.contains("admin"),
        "the first admin serve created: {out}"
    );

    let (ok, out, err) = user(
        &["set-password", "--username", "alice", "--password-stdin"],
        "second password 2\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("alice"), "{out}");
    assert_eq!(me(&base, &alice).await, 401, "her sessions ended");
    assert_eq!(sign_in(&base, "alice", "first password 1").await.0, 401);
    let (status, alice) = sign_in(&base, "alice", "second password 2").await;
    assert_eq!(status, 200);

    let (ok, _, err) = user(&["disable", "--username", "alice"], "");
    assert!(ok, "{err}");
    assert_eq!(me(&base, &alice).await, 401, "disabling ends her sessions");
    assert_eq!(sign_in(&base, "alice", "second password 2").await.0, 401);
    let (_, out, _) = user(&["list"], "");
    assert!(
        out.lines()
            .any(|l| l.contains("alice") && l.contains("disabled")),
        "{out}"
    );
    let (ok, _, err) = user(&["enable", "--username", "alice"], "");
    assert!(ok, "{err}");
    assert_eq!(sign_in(&base, "alice", "second password 2").await.0, 200);

    for (args, stdin, needle) in [
        (
            vec!["set-password", "--username", "nobody", "--password-stdin"],
            "a long password\n",
            "nobody",
        ),
        (
            vec!["set-password", "--username", "alice"],
            "",
            "--password-stdin",
        ),
        (
            vec!["set-password", "--username", "alice", "--password-stdin"],
            "short\n",
            "8 to 128",
        ),
        (vec!["disable", "--username", "nobody"], "", "nobody"),
        (vec!["enable", "--username", "nobody"], "", "nobody"),
    ] {
        one_line_failure(user(&args, stdin), needle);
    }
}

#[test]
fn commands_refuse_a_data_directory_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    let data = typo.display().to_string();
    let out = dir.path().join("copy.db").display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["audit", "--data", &data],
        vec!["user", "list", "--data", &data],
        vec!["backup", "--data", &data, "--out", &out],
        vec!["user", "disable", "--data", &data, "--username", "alice"],
        vec!["user", "enable", "--data", &data, "--username", "alice"],
        vec![
            "user",
            "adjust",
            "--data",
            &data,
            "--username",
            "alice",
            "--amount",
            "1",
            "--reason",
            "x",
        ],
        vec![
            "codes", "generate", "--data", &data, "--amount", "1", "--count", "1",
        ],
    ];
    for args in commands {
        let result = cli(&args, "");
        assert!(!result.0, "{args:?} refuses: {}", result.1);
        one_line_failure(result, "no database");
        assert!(!typo.exists(), "{args:?} created {data}");
    }
    one_line_failure(
        cli(
            &[
                "user",
                "set-password",
                "--data",
                &data,
                "--username",
                "alice",
                "--password-stdin",
            ],
            "a long password\n",
        ),
        "no database",
    );
    assert!(!typo.exists());
    // Creating an account is how a data directory is started, so that one may create it.
    let (ok, _, err) = cli(
        &[
            "user",
            "create",
            "--data",
            &data,
            "--username",
            "alice",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(ok, "{err}");
    assert!(typo.join("code-router.db").exists());
}

/// `user disable` writes from another process: API keys cached by the server must stop within
/// the cache's lifetime, not at the next restart.
#[tokio::test]
async fn a_change_by_another_process_reaches_cached_keys() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let member = app.login("alice").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let models = || {
        reqwest::Client::new()
            .get(app.url("/v1/models"))
            .bearer_auth(&key)
            .send()
    };
    assert_eq!(
        models().await.unwrap().status(),
        200,
        "the key is now cached"
    );
    let other = rusqlite::Connection::open(app.state.db.path()).unwrap();
    other
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    other
        .execute("UPDATE users SET disabled = 1 WHERE username = 'alice'", [])
        .unwrap();
    app.clock.advance_secs(code_router::keys::cache::CACHE_SECS);
    assert_eq!(models().await.unwrap().status(), 401);
}

async fn reset(admin: &reqwest::Client, app: &TestApp, id: i64) -> (u16, Value) {
    json_of(
        admin
            .post(app.url(&format!("/api/admin/users/{id}/reset-password")))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn an_admin_resets_a_password_shown_once_and_the_sessions_end() {
    let app = spawn_app().await;
    let root = app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    let alice = app.create_user("alice", Role::User).await;
    let member = app.login("alice").await;

    let (status, body) = reset(&admin, &app, alice).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], alice);
    assert_eq!(body["username"], "alice");
    let password = body["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 16, "{password}");
    assert_eq!(me(&app.base, &member).await, 401, "her sessions ended");
    assert_eq!(sign_in(&app.base, "alice", PASSWORD).await.0, 401);
    let (status, _) = sign_in(&app.base, "alice", &password).await;
    assert_eq!(status, 200);
    let (status, again) = reset(&admin, &app, alice).await;
    assert_eq!(status, 200);
    assert_ne!(again["password"], body["password"], "a new one each time");
    let stored: String = app
        .state
        .db
        .read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT password_hash FROM users WHERE id = ?1",
                    [alice],
                    |r| r.get(0),
                )
                .store("read the password hash")?)
        })
        .await
        .unwrap();
    assert!(!stored.contains(again["password"].as_str().unwrap()));

    let (_, member) = sign_in(&app.base, "alice", again["password"].as_str().unwrap()).await;
    let (status, body) = reset(&admin, &app, root).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "cannot_change_self")
    );
    let (status, body) = reset(&admin, &app, 999_999).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (404, "user_not_found")
    );
    let (status, _) = reset(&member, &app, root).await;
    assert_eq!(status, 403, "members cannot");
}
