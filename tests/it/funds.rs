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
        drop_betas: Vec::new(),
        responses: false,
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

#[tokio::test]
async fn a_charge_never_exceeds_its_hold_and_the_excess_is_shown() {
    let fake = Fake::start(Mode::Overreport).await;
    let app = spawn_app_with(|c| priced(c, &fake)).await;
    let user = app.create_user("gina", Role::User).await;
    app.fund(user, "50").await;
    let member = app.login("gina").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    // 10,000,000 output tokens for max_tokens 20 would cost 20,000.01: the hold, 0.055, is charged.
    let r = post(small()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.balance(user).await, "49.945000");
    let (_, logs) = json_of(
        member
            .get(app.url("/api/logs?limit=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let log = &logs["data"][0];
    assert_eq!(log["cost"], "0.055000");
    assert_eq!(log["output_tokens"], 10_000_000);
    let error = log["error"].as_str().unwrap();
    assert!(
        error.contains("above the request's bound") && error.contains("19999.955000 not collected"),
        "{error}"
    );

    // An endless stream without usage: counted far past its bound, charged the hold.
    fake.set(Mode::Endless);
    let mut streamed = small();
    streamed["stream"] = json!(true);
    let text = post(streamed).await.unwrap().text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(app.balance(user).await, "49.890000");

    // The operator sees it per upstream.
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("code_router_usage_over_bound_total{upstream=\"main\"} 2"),
        "{metrics}"
    );
    assert!(app.audit().await.is_clean());
}

#[tokio::test]
async fn a_balance_read_right_after_a_call_shows_its_charge() {
    let fake = Fake::start(Mode::Ok).await;
    let app = spawn_app_with(|c| priced(c, &fake)).await;
    let user = app.create_user("hal", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("hal").await;
    let (key_id, key) = app
        .create_key(&member, json!({"name": "k", "limit": "0.8"}))
        .await;
    let client = reqwest::Client::new();
    for n in 1..=10u32 {
        let r = client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&small())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        // No flush: whatever the request writer has committed or not, the figures show the call.
        let spent = 5 * u64::from(n);
        let (_, me) = json_of(member.get(app.url("/api/me")).send().await.unwrap()).await;
        assert_eq!(
            me["balance"],
            format!("0.{:06}", 1_000_000 - spent * 10_000),
            "call {n}"
        );
        let (_, keys) = json_of(member.get(app.url("/api/keys")).send().await.unwrap()).await;
        let listed = keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == key_id)
            .unwrap()
            .clone();
        assert_eq!(
            listed["used"],
            format!("0.{:06}", spent * 10_000),
            "call {n}"
        );
        assert_eq!(
            listed["remaining"],
            format!("0.{:06}", 800_000 - spent * 10_000),
            "call {n}"
        );
        let usage: Value = client
            .get(app.url("/v1/dashboard/billing/usage"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(usage["total_usage"], json!(spent), "cents, call {n}");
    }
    assert_eq!(app.balance(user).await, "0.500000");
    assert!(app.audit().await.is_clean());
}

#[tokio::test]
async fn whole_answers_held_at_once_stay_within_their_budget() {
    let fake = Fake::start(Mode::Big).await;
    let app = spawn_app_with(|c| {
        priced(c, &fake);
        c.relay.max_buffered_mb = 8;
    })
    .await;
    let user = app.create_user("ida", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("ida").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let client = reqwest::Client::new();
    let call = || async {
        let r = client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&small())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").is_some();
        (status, retry, r.bytes().await.unwrap())
    };
    // Four 6 MB answers at once against an 8 MB budget: one at a time fits, the rest wait outside.
    let answers = futures_util::future::join_all((0..4).map(|_| call())).await;
    let served: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    let busy = answers
        .iter()
        .filter(|(s, retry, _)| *s == 503 && *retry)
        .count();
    assert!(
        !served.is_empty() && busy > 0,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(served.len() + busy, 4, "nothing else but served or busy");
    for (_, _, body) in &served {
        let parsed: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            parsed["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .len(),
            crate::fake_upstream::BIG_TEXT
        );
    }
    assert_eq!(app.state.buffers.in_use(), 0, "every buffer given back");
    // Alone, an answer fits again, and every one served was charged exactly once.
    assert_eq!(call().await.0, 200);
    assert_eq!(app.state.buffers.in_use(), 0);
    let charged = served.len() + 1;
    let left = 1_000_000 - 50_000 * charged as u64;
    assert_eq!(app.balance(user).await, format!("0.{left:06}"));
    assert!(app.audit().await.is_clean());
}
