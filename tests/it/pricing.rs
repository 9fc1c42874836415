//! Prices as providers bill them, end to end: cached input, reasoning and group multipliers
//! charged exactly from an upstream's usage, each log row's prices and cost breakdown, and the
//! member's price list.

use code_router::accounts::Role;
use code_router::config::{Config, UpstreamConfig};
use serde_json::{json, Value};

use crate::fake_upstream::{Fake, Mode};
use crate::helpers::*;

const PRICES: &str = r#"
[models."gpt-cache"]
input = "1.25"
output = "10"
cache_read = "0.125"
[models."claude-tiered"]
input = "3"
output = "15"
cache_read = "0.3"
cache_write = "3.75"
cache_write_1h = "6"
[[models."claude-tiered".tiers]]
above_input_tokens = 200000
input = "6"
output = "22.5"
[models."flat"]
per_request = "0.01"
[models."local:free"]
[groups]
vip = "0.8"
"#;

fn priced(config: &mut Config, fake: &Fake) {
    let prices = Config::parse(PRICES, "t").unwrap();
    config.models = prices.models;
    config.groups = prices.groups;
    config.upstreams = vec![UpstreamConfig {
        name: "main".into(),
        kind: Default::default(),
        base_url: fake.base_url.clone(),
        api_key: Some("k".into()),
        api_key_env: None,
        models: vec![
            "gpt-cache".into(),
            "claude-tiered".into(),
            "flat".into(),
            "local:free".into(),
        ],
        model_map: Default::default(),
        priority: 0,
        weight: 1,
        enabled: true,
        drop_betas: Vec::new(),
        responses: false,
    }];
}

/// A prompt of 12,000 bytes, so the hold covers the 10,000 prompt tokens the fake reports.
fn big_prompt(stream: bool) -> Value {
    json!({"model": "gpt-cache", "max_tokens": 1000, "stream": stream,
           "messages": [{"role": "user", "content": "cached context ".repeat(800)}]})
}

#[tokio::test]
async fn cached_input_and_reasoning_are_charged_at_their_own_prices() {
    let fake = Fake::start(Mode::Cached).await;
    let app = spawn_app_with(|c| priced(c, &fake)).await;
    let user = app.create_user("kim", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("kim").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let client = reqwest::Client::new();
    for stream in [false, true] {
        let r = client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&big_prompt(stream))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        if !stream {
            // The client sees OpenAI's usage as the upstream reported it.
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                body["usage"]["prompt_tokens_details"]["cached_tokens"],
                8000
            );
        }
    }
    // Each: 2,000 fresh × 1.25 + 8,000 cached × 0.125 + 900 output × 10 = 12,500 per 1M.
    assert_eq!(app.balance(user).await, "0.975000");
    let (_, logs) = json_of(member.get(app.url("/api/logs")).send().await.unwrap()).await;
    for log in logs["data"].as_array().unwrap() {
        assert_eq!(log["cost"], "0.012500");
        assert_eq!(
            (
                log["input_tokens"].as_i64(),
                log["cache_read_tokens"].as_i64(),
                log["cache_write_tokens"].as_i64(),
                log["output_tokens"].as_i64(),
                log["reasoning_tokens"].as_i64()
            ),
            (Some(2000), Some(8000), Some(0), Some(900), Some(600))
        );
        assert_eq!(log["prices"]["input"], "1.25");
        assert_eq!(log["prices"]["cache_read"], "0.125");
        assert_eq!(
            log["prices"]["cache_write"], "1.25",
            "unset: the input price"
        );
        let b = &log["cost_breakdown"];
        assert_eq!(
            (&b["input"], &b["cache_read"], &b["output"], &b["subtotal"]),
            (
                &json!("0.0025"),
                &json!("0.001"),
                &json!("0.009"),
                &json!("0.0125")
            )
        );
        assert_eq!(b["charged"], "0.012500");
    }
    // The CSV has every kind.
    let csv = member
        .get(app.url("/api/logs.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.contains("input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens"),
        "{header}"
    );
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .contains(",2000,8000,0,0,900,600,"));
    let (_, usage) = json_of(
        member
            .get(app.url("/api/usage?days=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let by_model = &usage["by_model"][0];
    assert_eq!(
        (
            by_model["cache_read_tokens"].as_i64(),
            by_model["reasoning_tokens"].as_i64(),
            by_model["cost"].as_str()
        ),
        (Some(16_000), Some(1_200), Some("0.025000"))
    );
    assert!(app.audit().await.is_clean());
}

#[tokio::test]
async fn a_group_multiplier_applies_to_every_kind_and_the_member_sees_their_prices() {
    let fake = Fake::start(Mode::Cached).await;
    let app = spawn_app_with(|c| priced(c, &fake)).await;
    let admin = app.create_user("root", Role::Admin).await;
    let _ = admin;
    let user = app.create_user("vic", Role::User).await;
    app.fund(user, "1").await;
    let root = app.login("root").await;
    let r = root
        .patch(app.url(&format!("/api/admin/users/{user}")))
        .json(&json!({"group": "vip"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let member = app.login("vic").await;
    let (_, key) = app.create_key(&member, json!({"name": "k"})).await;
    let r = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&big_prompt(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // 12,500 per 1M × 0.8.
    assert_eq!(app.balance(user).await, "0.990000");

    let (status, list) = json_of(member.get(app.url("/api/models")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        (list["group"].as_str(), list["multiplier"].as_str()),
        (Some("vip"), Some("0.8"))
    );
    let find = |name: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let claude = find("claude-tiered");
    assert_eq!(claude["prices"]["input"], "2.4");
    assert_eq!(claude["prices"]["cache_write_1h"], "4.8");
    assert_eq!(claude["tiers"][0]["above_input_tokens"], 200000);
    assert_eq!(claude["tiers"][0]["input"], "4.8");
    assert_eq!(
        claude["tiers"][0]["cache_read"], "0.24",
        "the tier keeps the model's cache read"
    );
    assert_eq!(find("flat")["prices"]["per_request"], "0.008");
    assert_eq!(find("local:free")["free"], true);

    // A member whose only key is limited to one model sees only that one.
    let (_, keys) = json_of(member.get(app.url("/api/keys")).send().await.unwrap()).await;
    let id = keys["data"][0]["id"].as_i64().unwrap();
    let r = member
        .patch(app.url(&format!("/api/keys/{id}")))
        .json(&json!({"models": ["flat"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, list) = json_of(member.get(app.url("/api/models")).send().await.unwrap()).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["flat"]);
    // For choosing a new key's models: every served one.
    let (_, all) = json_of(
        member
            .get(app.url("/api/models?all=true"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
}
