//! The gateway against fake upstreams: exact charges, streaming, failover, refusals, logs.

use std::time::Duration;

use code_router::accounts::Role;
use code_router::config::{Config, UpstreamConfig};
use serde_json::{json, Value};

use crate::fake_upstream::{Fake, Mode, WORDS};
use crate::helpers::*;

/// Prices: gpt-test at $1000 / $2000 per 1M tokens, so 10 in + 20 out costs exactly 0.05.
fn priced(config: &mut Config, upstreams: &[(&str, &Fake, i32)]) {
    let prices = Config::parse(
        "[models.\"gpt-test\"]\ninput = \"1000\"\noutput = \"2000\"\n[models.\"emb\"]\ninput = \"1000\"\n[models.\"other\"]\ninput = \"1\"\noutput = \"1\"\n",
        "t",
    )
    .unwrap();
    config.models = prices.models;
    config.relay.first_byte_timeout_secs = 1;
    config.relay.idle_timeout_secs = 2;
    config.relay.disconnect_grace_secs = 5;
    config.upstreams = upstreams
        .iter()
        .map(|(name, fake, priority)| UpstreamConfig {
            name: name.to_string(),
            kind: Default::default(),
            base_url: fake.base_url.clone(),
            api_key: Some(format!("upstream-key-{name}")),
            api_key_env: None,
            models: vec!["gpt-test".into(), "emb".into(), "other".into()],
            model_map: [("gpt-test".to_string(), "gpt-test-upstream".to_string())].into(),
            priority: *priority,
            weight: 1,
            enabled: true,
            drop_betas: Vec::new(),
            responses: false,
        })
        .collect();
}

struct Setup {
    app: TestApp,
    user: i64,
    member: reqwest::Client,
    key: String,
}

async fn setup(upstreams: &[(&str, &Fake, i32)], balance: &str) -> Setup {
    let app = spawn_app_with(|c| priced(c, upstreams)).await;
    let user = app.create_user("alice", Role::User).await;
    if balance != "0" {
        app.fund(user, balance).await;
    }
    let member = app.login("alice").await;
    let (_, key) = app.create_key(&member, json!({"name": "main"})).await;
    Setup {
        app,
        user,
        member,
        key,
    }
}

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}],
           "max_tokens": 100, "stream": stream, "temperature": 0.5, "tools": [{"type": "function", "function": {"name": "f"}}],
           "x_vendor_field": {"keep": [1, 2]}})
}

async fn post(s: &Setup, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(s.app.url(path))
        .bearer_auth(&s.key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn last_log(s: &Setup) -> Value {
    s.app.flush().await;
    let (_, body) = json_of(
        s.member
            .get(s.app.url("/api/logs?limit=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    body["data"][0].clone()
}

#[tokio::test]
async fn a_completion_is_charged_its_exact_usage() {
    let fake = Fake::start(Mode::Ok).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    let r = post(&s, "/v1/chat/completions", &chat(false)).await;
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], WORDS.concat());
    assert_eq!(body["usage"]["completion_tokens"], 20);

    // Forwarded as sent, but for the mapped model name.
    let sent = fake.last();
    assert_eq!(sent["model"], "gpt-test-upstream");
    assert_eq!(sent["temperature"], 0.5);
    assert_eq!(sent["x_vendor_field"], json!({"keep": [1, 2]}));
    assert_eq!(sent["tools"][0]["function"]["name"], "f");
    assert!(sent.get("stream_options").is_none());

    let log = last_log(&s).await;
    assert_eq!(log["request_id"], request_id);
    assert_eq!(
        (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
        (Some(10), Some(20))
    );
    assert_eq!(log["cost"], "0.050000");
    assert_eq!(log["usage_source"], "upstream");
    assert_eq!(log["upstream"], "main");
    assert_eq!(log["status"], 200);
    assert_eq!(log["key_name"], "main");
    assert_eq!(s.app.balance(s.user).await, "0.950000");
    let kinds: Vec<String> = s
        .app
        .ledger_of(s.user)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["adjust", "settle"], "one row per charged request");
    assert!(s.app.audit().await.is_clean());
}

fn events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn streams_pass_through_and_the_usage_chunk_is_shown_only_when_asked() {
    // Event by event, and (WholeStream) a stream that arrives finished in one read, which the
    // gateway answers whole.
    for mode in [Mode::Ok, Mode::WholeStream] {
        stream_passes_through(mode).await;
    }
}

async fn stream_passes_through(mode: Mode) {
    let fake = Fake::start(mode).await;
    let s = setup(&[("main", &fake, 0)], "1").await;

    let r = post(&s, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(r.status(), 200);
    if mode == Mode::WholeStream {
        assert!(r.content_length().is_some(), "answered whole");
    }
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    let got = events(&text);
    assert_eq!(got.len(), WORDS.len() + 1, "{text}");
    assert!(
        got.iter().all(|e| e.starts_with("data: ")),
        "SSE framing: {text}"
    );
    assert_eq!(got.last().unwrap(), "data: [DONE]");
    assert!(
        !text.contains("\"usage\""),
        "the client did not ask for usage: {text}"
    );
    assert_eq!(
        fake.last()["stream_options"]["include_usage"],
        true,
        "but the gateway did"
    );
    assert_eq!(last_log(&s).await["cost"], "0.050000");

    let mut asking = chat(true);
    asking["stream_options"] = json!({"include_usage": true});
    let text = post(&s, "/v1/chat/completions", &asking)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"usage\""), "{text}");
    assert_eq!(s.app.balance(s.user).await, "0.900000");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn without_reported_usage_tokens_are_counted() {
    use code_router::relay::tokenizer::count;
    let fake = Fake::start(Mode::NoUsage).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    // Prompt: one message's text plus 3 per message and 3 to prime the reply.
    let input = count("Say hello") + 3 + 3;
    let output_whole = count(&WORDS.concat());
    let output_chunks: u64 = WORDS.iter().map(|w| count(w)).sum();
    let price = |i: u64, o: u64| {
        code_router::ledger::money::Money::from_units((i * 1_000_000 + o * 2_000_000) as i64)
            .to_string()
    };

    assert_eq!(
        post(&s, "/v1/chat/completions", &chat(false))
            .await
            .status(),
        200
    );
    let log = last_log(&s).await;
    assert_eq!(log["usage_source"], "counted");
    assert_eq!(log["input_tokens"].as_u64(), Some(input));
    assert_eq!(log["output_tokens"].as_u64(), Some(output_whole));
    assert_eq!(log["cost"], price(input, output_whole));

    let text = post(&s, "/v1/chat/completions", &chat(true))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let log = last_log(&s).await;
    assert_eq!(log["usage_source"], "counted");
    assert_eq!(log["output_tokens"].as_u64(), Some(output_chunks));
    assert_eq!(log["cost"], price(input, output_chunks));
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn failover_bills_once_and_total_failure_bills_nothing() {
    let first = Fake::start(Mode::Status(429)).await;
    let second = Fake::start(Mode::Ok).await;
    let s = setup(&[("first", &first, 10), ("second", &second, 1)], "1").await;

    assert_eq!(
        post(&s, "/v1/chat/completions", &chat(false))
            .await
            .status(),
        200
    );
    assert_eq!((first.hits(), second.hits()), (1, 1));
    let log = last_log(&s).await;
    assert_eq!(
        (log["upstream"].as_str(), log["cost"].as_str()),
        (Some("second"), Some("0.050000"))
    );
    let settles = s
        .app
        .ledger_of(s.user)
        .await
        .iter()
        .filter(|(k, _)| k == "settle")
        .count();
    assert_eq!(settles, 1);

    // Every failure the issue names, on both: a 502 or 504, and not a cent billed.
    for (mode, want) in [
        (Mode::Status(500), 502),
        (Mode::Status(503), 502),
        (Mode::BadJson, 502),
        (Mode::Slow(3000), 504),
    ] {
        first.set(mode);
        second.set(mode);
        let before = s.app.balance(s.user).await;
        let r = post(&s, "/v1/chat/completions", &chat(false)).await;
        let (status, body) = json_of(r).await;
        assert_eq!(status, want, "{mode:?}: {body}");
        assert!(error_code(&body).starts_with("upstream_"), "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request id"));
        let log = last_log(&s).await;
        assert_eq!(
            (log["status"].as_i64(), log["cost"].as_str()),
            (Some(want as i64), Some("0.000000"))
        );
        assert_eq!(
            s.app.balance(s.user).await,
            before,
            "{mode:?} billed nothing"
        );
    }
    // Ten calls in all: one charged; the failed ones left no ledger row and no hold.
    let ledger = s.app.ledger_of(s.user).await;
    let count = |kind: &str| ledger.iter().filter(|(k, _)| k == kind).count();
    assert_eq!(
        (count("hold"), count("settle"), count("release")),
        (0, 1, 0)
    );
    assert_eq!(s.app.state.funds.open_holds(), 0);
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn a_slow_upstream_is_passed_over_for_a_fast_one() {
    let slow = Fake::start(Mode::Slow(3000)).await;
    let fast = Fake::start(Mode::Ok).await;
    let s = setup(&[("slow", &slow, 10), ("fast", &fast, 1)], "1").await;
    let r = post(&s, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(last_log(&s).await["upstream"], "fast");
}

#[tokio::test]
async fn failing_upstreams_cool_down() {
    let broken = Fake::start(Mode::Status(500)).await;
    let good = Fake::start(Mode::Ok).await;
    let s = setup(&[("broken", &broken, 10), ("good", &good, 1)], "1").await;
    // Default: three failures in a row before a cool-down.
    for _ in 0..5 {
        assert_eq!(
            post(&s, "/v1/chat/completions", &chat(false))
                .await
                .status(),
            200
        );
    }
    assert_eq!(broken.hits(), 3, "skipped once cooling down");
    assert_eq!(good.hits(), 5);
    s.app.clock.advance_secs(31);
    broken.set(Mode::Ok);
    assert_eq!(
        post(&s, "/v1/chat/completions", &chat(false))
            .await
            .status(),
        200
    );
    assert_eq!(broken.hits(), 4, "tried again after the cool-down");
}

#[tokio::test]
async fn the_clients_own_mistakes_pass_through_unbilled() {
    let fake = Fake::start(Mode::Status(400)).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    let r = post(&s, "/v1/chat/completions", &chat(false)).await;
    let (status, body) = json_of(r).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "fake says 400");
    assert_eq!(fake.hits(), 1, "not retried elsewhere");
    assert_eq!(last_log(&s).await["status"], 400);
    assert_eq!(s.app.balance(s.user).await, "1.000000");
}

#[tokio::test]
async fn a_stream_broken_by_the_upstream_is_not_billed() {
    let fake = Fake::start(Mode::Reset).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    let r = post(&s, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("Hel"), "what came is passed on: {text}");
    assert!(
        text.contains("\"upstream_failed\""),
        "then an error event: {text}"
    );
    let log = last_log(&s).await;
    assert_eq!(
        (log["status"].as_i64(), log["cost"].as_str()),
        (Some(502), Some("0.000000"))
    );
    assert_eq!(s.app.balance(s.user).await, "1.000000");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn a_client_leaving_mid_stream_pays_for_what_was_produced() {
    let fake = Fake::start(Mode::SlowStream).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    let mut r = post(&s, "/v1/chat/completions", &chat(true)).await;
    let first = r.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tick"));
    drop(r); // the client hangs up after the first chunk
    let mut log = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = last_log(&s).await;
        if log["status"] == 499 {
            break;
        }
    }
    assert_eq!(log["status"], 499, "{log}");
    assert_eq!(
        log["usage_source"], "upstream",
        "read on to the usage chunk"
    );
    assert_eq!(log["cost"], "0.050000");
    assert_eq!(s.app.balance(s.user).await, "0.950000");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn refusals_before_the_upstream_are_clear_and_free() {
    let fake = Fake::start(Mode::Ok).await;
    let s = setup(&[("main", &fake, 0)], "0").await;
    let (_, limited) = s
        .app
        .create_key(
            &s.member,
            json!({"name": "tiny", "limit": "0.05", "models": ["gpt-test"]}),
        )
        .await;
    let call = |key: String, body: Value| {
        let url = s.app.url("/v1/chat/completions");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            json_of(r).await
        }
    };
    // The limited key cannot hold 100 output tokens at $2000/1M (0.2 > 0.05): 402.
    let (status, body) = call(limited.clone(), chat(false)).await;
    assert_eq!(
        (status, error_code(&body)),
        (402, "key_limit_reached".into()),
        "{body}"
    );
    // A small request fits the key, but the account has nothing: 403 insufficient_quota.
    let mut small = chat(false);
    small["max_tokens"] = json!(1);
    let (status, body) = call(limited.clone(), small.clone()).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "insufficient_quota".into()),
        "{body}"
    );
    let (status, body) = call(limited.clone(), json!({"model": "other", "messages": []})).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "model_not_allowed".into())
    );
    let (status, body) = call(s.key.clone(), json!({"model": "gpt-9", "messages": []})).await;
    assert_eq!((status, error_code(&body)), (404, "model_not_found".into()));
    let (status, body) = call(s.key.clone(), json!({"messages": []})).await;
    assert_eq!((status, error_code(&body)), (400, "missing_model".into()));
    let r = reqwest::Client::new()
        .post(s.app.url("/v1/chat/completions"))
        .bearer_auth(&s.key)
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json".into()));
    let r = reqwest::Client::new()
        .post(s.app.url("/v1/chat/completions"))
        .bearer_auth(&s.key)
        .body(vec![b' '; 33 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (status, body) = json_of(
        reqwest::Client::new()
            .post(s.app.url("/v1/chat/completions"))
            .json(&chat(false))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "missing_api_key".into()));

    assert_eq!(fake.hits(), 0, "none of these reached the upstream");
    s.app.flush().await;
    let (_, logs) = json_of(
        s.member
            .get(s.app.url("/api/logs?status=error"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        logs["data"].as_array().unwrap().len(),
        7,
        "failed requests are logged too: {logs}"
    );
    assert!(
        s.app.ledger_of(s.user).await.is_empty(),
        "and touch no balance"
    );
}

#[tokio::test]
async fn completions_embeddings_and_the_model_list() {
    let fake = Fake::start(Mode::Ok).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    let r = post(
        &s,
        "/v1/completions",
        &json!({"model": "gpt-test", "prompt": "Say hello there", "max_tokens": 20}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(fake.last()["prompt"], "Say hello there");
    let r = post(
        &s,
        "/v1/embeddings",
        &json!({"model": "emb", "input": ["alpha beta", "gamma"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let log = last_log(&s).await;
    assert_eq!(
        (log["endpoint"].as_str(), log["cost"].as_str()),
        (Some("/embeddings"), Some("0.010000"))
    );

    let (_, only) = s
        .app
        .create_key(
            &s.member,
            json!({"name": "one", "models": ["emb", "unpriced"]}),
        )
        .await;
    let list = |key: String| {
        let url = s.app.url("/v1/models");
        async move {
            json_of(
                reqwest::Client::new()
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .1
        }
    };
    let ids = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(list(s.key.clone()).await), ["emb", "gpt-test", "other"]);
    assert_eq!(ids(list(only).await), ["emb"]);
}

#[tokio::test]
async fn the_demo_upstream_works_out_of_the_box() {
    let app = spawn_app().await;
    let user = app.create_user("newbie", Role::User).await;
    let client = app.login("newbie").await;
    let (_, key) = app.create_key(&client, json!({"name": "try"})).await;
    for stream in [false, true] {
        let r = reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "demo:free", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("demo"));
    }
    app.flush().await;
    assert!(
        app.ledger_of(user).await.is_empty(),
        "free never touches a balance"
    );
}

#[tokio::test]
async fn logs_filter_export_and_sum_up() {
    let fake = Fake::start(Mode::Ok).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    for _ in 0..3 {
        post(&s, "/v1/chat/completions", &chat(false)).await;
    }
    post(
        &s,
        "/v1/chat/completions",
        &json!({"model": "nope", "messages": []}),
    )
    .await;
    s.app.flush().await;
    let get = |path: &str| {
        let url = s.app.url(path);
        let client = s.member.clone();
        async move { json_of(client.get(url).send().await.unwrap()).await.1 }
    };
    let page = get("/api/logs?limit=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let rest = get(&format!("/api/logs?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        get("/api/logs?model=gpt-test").await["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        get("/api/logs?status=404").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let today = code_router::clock::rfc3339(code_router::clock::Clock::now(s.app.clock.as_ref()));
    let day = &today[..10];
    assert_eq!(
        get(&format!("/api/logs?from={day}&to={day}")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        get("/api/logs?to=2001-01-01").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (status, _) = json_of(
        s.member
            .get(s.app.url("/api/logs?from=yesterday"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);

    let csv = s
        .member
        .get(s.app.url("/api/logs.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("time,request_id"));
    assert!(
        lines[1..]
            .iter()
            .filter(|l| l.contains(",0.050000,200,"))
            .count()
            == 3,
        "{csv}"
    );

    let usage = get("/api/usage?days=7").await;
    assert_eq!(usage["by_day"][0]["requests"], 4);
    assert_eq!(usage["by_day"][0]["cost"], "0.150000");
    assert_eq!(usage["by_model"][0]["model"], "gpt-test");
    assert_eq!(usage["by_model"][0]["output_tokens"], 60);

    // Another member sees none of it; an admin sees all of it.
    s.app.create_user("bob", Role::User).await;
    let bob = s.app.login("bob").await;
    let (_, theirs) = json_of(bob.get(s.app.url("/api/logs")).send().await.unwrap()).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);
    s.app.create_user("root", Role::Admin).await;
    let admin = s.app.login("root").await;
    let (status, all) = json_of(
        admin
            .get(s.app.url(&format!("/api/admin/logs?user_id={}", s.user)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    assert_eq!(
        bob.get(s.app.url("/api/admin/logs"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn a_valid_key_on_an_unknown_path_is_logged_and_a_502_names_its_request() {
    let fake = Fake::start(Mode::Status(500)).await;
    let s = setup(&[("main", &fake, 0)], "1").await;
    let r = reqwest::Client::new()
        .post(s.app.url("/v1/chat/complete"))
        .bearer_auth(&s.key)
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, body) = json_of(r).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));
    let log = last_log(&s).await;
    assert_eq!(log["request_id"], request_id);
    assert_eq!(log["status"], 404);
    assert!(log["error"].as_str().unwrap().contains("/v1/chat/complete"));

    // Every upstream failing: 502, and the message quotes the request's real id.
    let r = post(&s, "/v1/chat/completions", &chat(false)).await;
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, body) = json_of(r).await;
    assert_eq!(status, 502);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("(request id: {request_id})")),
        "{message}"
    );
}
