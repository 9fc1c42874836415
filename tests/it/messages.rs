//! Anthropic Messages on `/v1/messages`: passed through to an `anthropic` upstream (headers,
//! events and thinking signatures as sent), translated to and from OpenAI chat upstreams, errors
//! in Anthropic's shape, token counts, the model list, sticky sessions, and exact billing of
//! cache reads and writes.

use code_router::accounts::Role;
use code_router::config::{Config, UpstreamConfig, UpstreamKind};
use serde_json::{json, Value};

use crate::fake_anthropic::{self, FakeAnthropic, THINKING_EVENT};
use crate::fake_upstream::{Fake, Mode as ChatMode};
use crate::helpers::*;

const PRICES: &str = r#"
[models."claude-test"]
input = "3"
output = "15"
cache_read = "0.3"
cache_write = "3.75"
cache_write_1h = "6"
"#;

/// 50 fresh × 3 + 8,000 read × 0.3 + 500 written (5m) × 3.75 + 1,500 written (1h) × 6 + 60 × 15.
const CLAUDE_COST: &str = "0.014325";

fn upstream(name: &str, kind: UpstreamKind, base_url: &str) -> UpstreamConfig {
    UpstreamConfig {
        name: name.into(),
        kind,
        base_url: base_url.into(),
        api_key: Some(format!("key-{name}")),
        models: vec!["claude-test".into()],
        model_map: [("claude-test".to_string(), format!("{name}-model"))].into(),
        drop_betas: vec!["context-management-2025-06-27".into()],
        responses: false,
        ..UpstreamConfig::demo()
    }
}

struct Setup {
    app: TestApp,
    user: i64,
    key: String,
    member: reqwest::Client,
}

async fn setup(upstreams: Vec<UpstreamConfig>) -> Setup {
    let app = spawn_app_with(|c| {
        c.models = Config::parse(PRICES, "t").unwrap().models;
        c.upstreams = upstreams;
        c.relay.first_byte_timeout_secs = 2;
        c.relay.idle_timeout_secs = 2;
    })
    .await;
    let user = app.create_user("claudia", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("claudia").await;
    let (_, key) = app.create_key(&member, json!({"name": "cc"})).await;
    Setup {
        app,
        user,
        key,
        member,
    }
}

fn turn(stream: bool) -> Value {
    json!({"model": "claude-test", "max_tokens": 1024, "stream": stream,
           "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
           "messages": [{"role": "user", "content": [{"type": "text", "text": "Read notes.txt", "cache_control": {"type": "ephemeral"}}]}],
           "tools": [{"name": "Read", "description": "Reads a file", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}],
           "thinking": {"type": "adaptive"}, "metadata": {"user_id": "user-1"}})
}

impl Setup {
    /// POST /v1/messages?beta=true as Claude Code sends it (x-api-key, version, betas, session).
    async fn messages(&self, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.app.url("/v1/messages?beta=true"))
            .header("x-api-key", &self.key)
            .header("anthropic-version", "2023-06-01")
            .header(
                "anthropic-beta",
                "claude-code-20250219,context-management-2025-06-27,effort-2025-11-24",
            )
            .header("x-claude-code-session-id", "session-1")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn last_log(&self) -> Value {
        self.app.flush().await;
        let (_, body) = json_of(
            self.member
                .get(self.app.url("/api/logs?limit=1"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        body["data"][0].clone()
    }
}

#[tokio::test]
async fn claude_codes_turn_passes_through_to_an_anthropic_upstream_and_is_billed_by_kind() {
    let fake = FakeAnthropic::start(fake_anthropic::Mode::Ok).await;
    let s = setup(vec![upstream(
        "anth",
        UpstreamKind::Anthropic,
        &fake.base_url,
    )])
    .await;

    let r = s.messages(&turn(false)).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["request-id"].to_str().unwrap().to_string();
    assert_eq!(r.headers()["x-request-id"], request_id.as_str());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["content"][0]["text"], "Hello from Claude.");

    // As sent, but for the model map; the key as x-api-key; version and betas (less the dropped).
    let sent = fake.last();
    assert_eq!(sent.body["model"], "anth-model");
    assert_eq!(sent.body["system"], turn(false)["system"]);
    assert_eq!(sent.body["thinking"], json!({"type": "adaptive"}));
    assert_eq!(sent.headers["x-api-key"], "key-anth");
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        sent.headers["anthropic-beta"],
        "claude-code-20250219,effort-2025-11-24"
    );
    assert!(sent.headers.get("authorization").is_none());

    let log = s.last_log().await;
    assert_eq!(log["request_id"], request_id);
    assert_eq!(log["endpoint"], "/messages");
    assert_eq!(
        (
            log["input_tokens"].as_i64(),
            log["cache_read_tokens"].as_i64(),
            log["cache_write_tokens"].as_i64(),
            log["cache_write_1h_tokens"].as_i64(),
            log["output_tokens"].as_i64()
        ),
        (Some(50), Some(8000), Some(500), Some(1500), Some(60))
    );
    assert_eq!(log["cost"], CLAUDE_COST);

    // Streamed: every event as the upstream sent it, the thinking signature byte for byte.
    let text = s.messages(&turn(true)).await.text().await.unwrap();
    assert!(text.contains(THINKING_EVENT), "{text}");
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert_eq!(s.last_log().await["cost"], CLAUDE_COST);
    assert_eq!(s.app.balance(s.user).await, "0.971350");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn claude_code_runs_translated_on_an_openai_upstream() {
    let fake = Fake::start(ChatMode::Cached).await;
    let s = setup(vec![upstream("oa", UpstreamKind::Openai, &fake.base_url)]).await;
    let mut asking = turn(false);
    asking["messages"][0]["content"][0]["text"] = json!("context ".repeat(2000));
    let r = s.messages(&asking).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(body["usage"]["cache_read_input_tokens"], 8000);
    assert_eq!(body["usage"]["input_tokens"], 2000);
    let sent = fake.last();
    assert_eq!(sent["model"], "oa-model");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "You are Claude Code."})
    );
    assert_eq!(sent["tools"][0]["function"]["name"], "Read");
    assert!(sent.get("thinking").is_none());
    // 2,000 fresh × 3 + 8,000 read × 0.3 + 900 out × 15 = 21,900 per 1M.
    assert_eq!(s.last_log().await["cost"], "0.021900");

    asking["stream"] = json!(true);
    let text = s.messages(&asking).await.text().await.unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    assert!(names.contains(&"content_block_delta"));
    assert!(text.contains("\"cache_read_input_tokens\":8000"), "{text}");
    assert_eq!(s.last_log().await["cost"], "0.021900");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn an_openai_client_runs_translated_on_an_anthropic_upstream_with_tools() {
    let fake = FakeAnthropic::start(fake_anthropic::Mode::Tool).await;
    let s = setup(vec![upstream(
        "anth",
        UpstreamKind::Anthropic,
        &fake.base_url,
    )])
    .await;
    let chat = |stream: bool, messages: Value| {
        json!({"model": "claude-test", "max_tokens": 1024, "stream": stream, "messages": messages,
               "tools": [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}]})
    };
    let post = |body: Value| {
        reqwest::Client::new()
            .post(s.app.url("/v1/chat/completions"))
            .bearer_auth(&s.key)
            .json(&body)
            .send()
    };
    let first = vec![json!({"role": "user", "content": "Read notes.txt"})];
    let r = post(chat(false, json!(first))).await.unwrap();
    let body: Value = r.json().await.unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["function"]["name"], "Read");
    assert_eq!(
        call["function"]["arguments"],
        r#"{"file_path":"/w/notes.txt"}"#
    );
    assert_eq!(body["usage"]["prompt_tokens"], 10050);
    assert_eq!(
        fake.last().body["tools"][0]["input_schema"],
        json!({"type": "object"})
    );
    assert_eq!(fake.last().headers["anthropic-version"], "2023-06-01");

    // The result goes back as a tool_result; the answer streams back as chat chunks.
    let second = json!([
        first[0],
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "42"}
    ]);
    let text = post(chat(true, second))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent = fake.last().body;
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"})
    );
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let said: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(said, "Hello from Claude.");
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(!text.contains("\"usage\""), "not asked for");
    // Both billed by kind, exactly.
    assert_eq!(s.app.balance(s.user).await, "0.971350");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn errors_come_in_anthropics_shape_before_and_inside_a_stream() {
    let fake = FakeAnthropic::start(fake_anthropic::Mode::Reset).await;
    let s = setup(vec![upstream(
        "anth",
        UpstreamKind::Anthropic,
        &fake.base_url,
    )])
    .await;
    let shape = |body: &Value, kind: &str| {
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("request id"),
            "{body}"
        );
    };
    let anonymous = reqwest::Client::new()
        .post(s.app.url("/v1/messages"))
        .json(&turn(false))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    shape(&anonymous.json().await.unwrap(), "authentication_error");
    let mut unknown = turn(false);
    unknown["model"] = json!("claude-nope");
    let r = s.messages(&unknown).await;
    assert_eq!(r.status(), 404);
    shape(&r.json().await.unwrap(), "not_found_error");
    let mut bad = turn(false);
    bad.as_object_mut().unwrap().remove("max_tokens");
    let r = s.messages(&bad).await;
    assert_eq!(r.status(), 400);
    shape(&r.json().await.unwrap(), "invalid_request_error");
    let mut greedy = turn(false);
    greedy["max_tokens"] = json!(10_000_000);
    let r = s.messages(&greedy).await;
    assert_eq!(r.status(), 403);
    shape(&r.json().await.unwrap(), "permission_error");

    // The stream breaks after its first events: an error event, nothing billed.
    let text = s.messages(&turn(true)).await.text().await.unwrap();
    assert!(text.contains("event: message_start"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{text}");
    let data: Value = serde_json::from_str(last.split("data: ").nth(1).unwrap()).unwrap();
    assert_eq!(data["error"]["type"], "api_error");
    assert_eq!(s.last_log().await["status"], 502);
    // No upstream answering: Anthropic's api_error, 502.
    fake.set(fake_anthropic::Mode::Status(500));
    let r = s.messages(&turn(false)).await;
    assert_eq!(r.status(), 502);
    shape(&r.json().await.unwrap(), "api_error");
    assert_eq!(s.app.balance(s.user).await, "1.000000");
}

#[tokio::test]
async fn tokens_are_counted_by_the_upstream_or_here_and_never_billed() {
    let anth = FakeAnthropic::start(fake_anthropic::Mode::Ok).await;
    let s = setup(vec![upstream(
        "anth",
        UpstreamKind::Anthropic,
        &anth.base_url,
    )])
    .await;
    let count = |s: &Setup| {
        reqwest::Client::new()
            .post(s.app.url("/v1/messages/count_tokens?beta=true"))
            .header("x-api-key", &s.key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "claude-test", "messages": [{"role": "user", "content": "hello world"}]}))
            .send()
    };
    let (status, body) = json_of(count(&s).await.unwrap()).await;
    assert_eq!((status, body["input_tokens"].as_u64()), (200, Some(4242)));
    assert_eq!(anth.last().body["model"], "anth-model");
    assert!(anth.last().body.get("max_tokens").is_none());
    assert_eq!(anth.last().headers["x-api-key"], "key-anth");
    let log = s.last_log().await;
    assert_eq!(
        (
            log["endpoint"].as_str(),
            log["status"].as_i64(),
            log["cost"].as_str()
        ),
        (Some("/messages/count_tokens"), Some(200), Some("0.000000"))
    );

    // Without an anthropic upstream: the tokenizer's estimate.
    let chat = Fake::start(ChatMode::Ok).await;
    let s = setup(vec![upstream("oa", UpstreamKind::Openai, &chat.base_url)]).await;
    let (status, body) = json_of(count(&s).await.unwrap()).await;
    assert_eq!(status, 200);
    let counted = body["input_tokens"].as_u64().unwrap();
    assert!((2..30).contains(&counted), "{counted}");
    assert_eq!(chat.hits(), 0);
    assert_eq!(s.app.balance(s.user).await, "1.000000");
}

#[tokio::test]
async fn the_model_list_answers_in_the_clients_shape_and_sessions_stick() {
    let a = FakeAnthropic::start(fake_anthropic::Mode::Ok).await;
    let b = FakeAnthropic::start(fake_anthropic::Mode::Ok).await;
    let s = setup(vec![
        upstream("a", UpstreamKind::Anthropic, &a.base_url),
        upstream("b", UpstreamKind::Anthropic, &b.base_url),
    ])
    .await;
    let list: Value = reqwest::Client::new()
        .get(s.app.url("/v1/models"))
        .header("x-api-key", &s.key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["type"], "model");
    assert_eq!(list["data"][0]["id"], "claude-test");
    assert_eq!(list["has_more"], false);
    let openai: Value = reqwest::Client::new()
        .get(s.app.url("/v1/models"))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openai["object"], "list");

    // One session, one upstream (its prompt cache keeps hitting), whatever the weights draw.
    for _ in 0..12 {
        assert_eq!(s.messages(&turn(false)).await.status(), 200);
    }
    assert!(
        (a.hits(), b.hits()) == (12, 0) || (a.hits(), b.hits()) == (0, 12),
        "{} / {}",
        a.hits(),
        b.hits()
    );
}
