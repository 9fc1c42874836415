//! `spawn_app()` and friends: a real server on port 0, a temp data dir, a clock the test moves.

use std::sync::Arc;

use code_router::accounts::{self, password, NewUser, Role};
use code_router::clock::ManualClock;
use code_router::config::Config;
use code_router::db::Store;
use code_router::ledger::{self, money::Money};
use code_router::state::AppState;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse 1";

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    _dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A server on the default config (registration limits raised so tests can sign up freely).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose config the test adjusts first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::default();
    config.server.registrations_per_ip_hour = 1000;
    adjust(&mut config);
    spawn_app_config(config).await
}

pub async fn spawn_app_config(mut config: Config) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    config.server.data_dir = dir.path().to_path_buf();
    let clock = ManualClock::starting_now();
    let state = code_router::open_state(config, clock.clone()).expect("state opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = state.clone();
    tokio::spawn(async move {
        let _ = code_router::serve(served, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    TestApp {
        base: format!("http://{addr}"),
        state,
        clock,
        _dir: dir,
        stop: Some(stop),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an account directly in the database; returns its id.
    pub async fn create_user(&self, username: &str, role: Role) -> i64 {
        let hash = password::hash(PASSWORD).expect("hash");
        let username = username.to_string();
        let now = code_router::clock::Clock::now(self.clock.as_ref());
        self.state
            .db
            .write(move |conn| {
                accounts::create_user(
                    conn,
                    &NewUser {
                        username: &username,
                        password_hash: &hash,
                        role,
                        inviter_id: None,
                    },
                    now,
                )
            })
            .await
            .expect("user created")
            .id
    }

    /// Credits a balance through the ledger.
    pub async fn fund(&self, user_id: i64, amount: &str) {
        let amount = Money::parse(amount).expect("amount");
        self.state
            .db
            .write(move |conn| ledger::adjust(conn, user_id, amount, "test funding", "test", 0))
            .await
            .expect("funded");
    }

    /// A client with a cookie jar, signed in as `username`.
    pub async fn login(&self, username: &str) -> reqwest::Client {
        let client = cookie_client();
        let r = client
            .post(self.url("/api/auth/login"))
            .json(&json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status(), 200, "login as {username}");
        client
    }

    /// Runs the ledger audit against the live database.
    pub async fn audit(&self) -> code_router::ledger::audit::AuditReport {
        self.flush().await;
        self.state
            .db
            .write(code_router::ledger::audit::audit)
            .await
            .expect("audit runs")
    }
}

pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

/// Status and JSON body (or `null` when the body is not JSON).
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts the OpenAI error shape and returns its `code`.
pub fn error_code(body: &Value) -> String {
    let error = &body["error"];
    assert!(error["message"].is_string(), "error has a message: {body}");
    assert!(error["type"].is_string(), "error has a type: {body}");
    error["code"].as_str().unwrap_or_default().to_string()
}

impl TestApp {
    /// Waits until every finished request is settled and logged.
    pub async fn flush(&self) {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.writer.flush())
            .await
            .unwrap();
    }

    /// The balance once every finished request is written.
    pub async fn balance(&self, user_id: i64) -> String {
        self.flush().await;
        self.state
            .db
            .read(move |conn| {
                Ok(conn
                    .query_row("SELECT balance FROM users WHERE id = ?1", [user_id], |r| {
                        r.get::<_, i64>(0)
                    })
                    .store("read the balance")?)
            })
            .await
            .map(|units| Money::from_units(units).to_string())
            .unwrap()
    }

    /// (kind, amount) of a user's ledger rows, oldest first.
    pub async fn ledger_of(&self, user_id: i64) -> Vec<(String, String)> {
        self.flush().await;
        self.state
            .db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare("SELECT kind, amount FROM ledger WHERE user_id = ?1 ORDER BY id")
                    .store("prepare the ledger rows")?;
                let rows = stmt
                    .query_map([user_id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            Money::from_units(r.get(1)?).to_string(),
                        ))
                    })
                    .store("list the ledger rows")?;
                Ok(rows
                    .collect::<Result<Vec<_>, _>>()
                    .store("read the ledger rows")?)
            })
            .await
            .unwrap()
    }

    /// Creates an API key through the API for a signed-in client; returns (id, secret).
    pub async fn create_key(&self, client: &reqwest::Client, body: Value) -> (i64, String) {
        let r = client
            .post(self.url("/api/keys"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_i64().unwrap(),
            body["key"].as_str().unwrap().to_string(),
        )
    }
}
