//! Money in flight against the outside world: writes by other processes, balances read right
//! after a call, charges bounded by their hold.

use std::process::Command;

use code_router::accounts::Role;
use code_router::config::{Config, UpstreamConfig};
use serde_json::{json, Value};

use crate::fake_upstream::{Fake, Mode};
use crate::helpers::*;
use crate::process::BIN;

/// gpt-test at $1000 / $2000 per 1M tokens: the fake's 10 in + 20 out cost 0.05; a request with
/// `max_tokens: 20` and the prompt "Say hello" holds 0.055.
fn priced(config: &mut Config, fake: &Fake) {
    let prices = Config::parse(
        "[models.\"gpt-test\"]\ninput = \"1000\"\noutput = \"2000\"\n",
        "t",
    )
    .unwrap();
    config.models = prices.models;
    config.upstreams = vec![UpstreamConfig {
        name: "main".into(),
        kind: Default::default(),
        base_url: fake.base_url.clone(),
        api_key: Some("k".into()),
        api_key_env: None,
        models: vec!["gpt-test".into()],
        model_map: Default::default(),
        priority: 0,
        weight: 1,
        enabled: true,
    }];
}

fn small() -> Value {
    json!({"model": "gpt-test", "max_tokens": 20,
           "messages": [{"role": "user", "content": "Say hello"}]})
}

/// Runs the real command line against the server's data directory, as an operator would.
fn cli(app: &TestApp, args: &[&str]) -> String {
    let data = app.state.config().server.data_dir.clone();
    let out = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(&data)
        .env_remove("CODE_ROUTER_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn a_debit_from_another_process_is_seen_before_the_next_admission() {
    let fake = Fake::start(Mode::Status(500)).await;
    let app = spawn_app_with(|c| priced(c, &fake)).await;
    let fred = app.create_user("fred", Role::User).await;
    app.fund(fred, "1").await;
    let member = app.login("fred").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let client = reqwest::Client::new();
    let call = |body: Value| {
        let (client, key, url) = (client.clone(), key.clone(), app.url("/v1/chat/completions"));
        async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // One failed request: the balance of 1.00 is kept in memory from here on.
    assert_eq!(call(small()).await, 502);

    // The operator takes 0.95 away with the command line while the server runs.
    let out = cli(
        &app,
        &[
            "user",
            "adjust",
            "--username",
            "fred",
            "--amount",
            "-0.95",
            "--reason",
            "refund",
        ],
    );
    assert!(out.contains("0.050000"), "{out}");

    // 0.05 is left and each request holds 0.055: none may be served, however many race.
    fake.set(Mode::Ok);
    let statuses = futures_util::future::join_all((0..32).map(|_| call(small()))).await;
    assert!(
        statuses.iter().all(|s| *s == 403),
        "every request refused for the balance: {statuses:?}"
    );
    assert_eq!(app.balance(fred).await, "0.050000");
    assert!(app.audit().await.is_clean());

    // Money added from outside is seen too, and spent exactly.
    cli(
        &app,
        &[
            "user",
            "adjust",
            "--username",
            "fred",
            "--amount",
            "0.05",
            "--reason",
            "top-up",
        ],
    );
    let statuses = futures_util::future::join_all((0..4).map(|_| call(small()))).await;
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(served, 1, "0.10 holds one request of 0.055: {statuses:?}");
    assert_eq!(app.balance(fred).await, "0.050000");
    assert!(app.audit().await.is_clean());
}
