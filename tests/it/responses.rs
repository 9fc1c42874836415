//! OpenAI Responses on `/v1/responses` and `/v1/responses/compact`: passed through to an upstream
//! that serves it (`responses = true`), translated to chat completions elsewhere; errors before a
//! stream as OpenAI's JSON and inside one as `response.failed`; sticky sessions by
//! `prompt_cache_key`; cached input and reasoning billed exactly.

use code_router::accounts::Role;
use code_router::config::{Config, UpstreamConfig, UpstreamKind};
use serde_json::{json, Value};

use crate::fake_anthropic::{self, FakeAnthropic};
use crate::fake_responses::{self, FakeResponses};
use crate::fake_upstream::{Fake, Mode as ChatMode};
use crate::helpers::*;

const PRICES: &str = r#"
[models."gpt-test"]
input = "2"
output = "8"
cache_read = "0.5"
cache_write = "2.5"
cache_write_1h = "4"
"#;

/// The Responses fake's usage: 200 fresh × 2 + 1,000 cached × 0.5 + 90 out × 8 = 1,620 per 1M.
const NATIVE_COST: &str = "0.001620";

/// The chat fake's `Cached` usage: 2,000 fresh × 2 + 8,000 cached × 0.5 + 900 out × 8 = 15,200.
const TRANSLATED_COST: &str = "0.015200";

fn upstream(name: &str, base_url: &str, responses: bool) -> UpstreamConfig {
    UpstreamConfig {
        name: name.into(),
        kind: UpstreamKind::Openai,
        base_url: base_url.into(),
        api_key: Some(format!("key-{name}")),
        models: vec!["gpt-test".into()],
        model_map: [("gpt-test".to_string(), format!("{name}-model"))].into(),
        responses,
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
    let user = app.create_user("cody", Role::User).await;
    app.fund(user, "1").await;
    let member = app.login("cody").await;
    let (_, key) = app.create_key(&member, json!({"name": "codex"})).await;
    Setup {
        app,
        user,
        key,
        member,
    }
}

/// A Codex turn, as codex-cli sends one: developer and user messages, a function tool beside
/// tools only OpenAI runs, encrypted reasoning asked for, stateless.
fn turn(stream: bool) -> Value {
    json!({"model": "gpt-test", "instructions": "You are Codex.", "stream": stream, "store": false,
           "input": [
             {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox: workspace-write"}]},
             {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Read notes.txt"}]}],
           "tools": [{"type": "function", "name": "shell", "description": "Runs a command", "strict": false,
                      "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}}},
                     {"type": "web_search"}],
           "tool_choice": "auto", "parallel_tool_calls": false, "reasoning": {"summary": "auto"},
           "include": ["reasoning.encrypted_content"], "prompt_cache_key": "thread-1"})
}

impl Setup {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.app.url(path))
            .bearer_auth(&self.key)
            .header("session-id", "thread-1")
            .header("originator", "codex_exec")
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

/// The data of each event of a stream, and its `event:` names.
fn events_of(text: &str) -> (Vec<Value>, Vec<String>) {
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let names = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::to_string)
        .collect();
    (data, names)
}

#[tokio::test]
async fn a_codex_turn_passes_through_to_a_responses_upstream_and_is_billed_by_kind() {
    let fake = FakeResponses::start(fake_responses::Mode::Ok).await;
    let s = setup(vec![upstream("oa", &fake.base_url, true)]).await;

    let r = s.post("/v1/responses", &turn(false)).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "Hello from Responses."
    );
    // As sent, but for the model map; the key as a bearer token.
    let sent = fake.last();
    assert_eq!(sent.path, "/responses");
    let mut expected = turn(false);
    expected["model"] = json!("oa-model");
    assert_eq!(sent.body, expected);
    assert_eq!(sent.headers["authorization"], "Bearer key-oa");

    let log = s.last_log().await;
    assert_eq!(log["request_id"], request_id);
    assert_eq!(log["endpoint"], "/responses");
    assert_eq!(
        (
            log["input_tokens"].as_i64(),
            log["cache_read_tokens"].as_i64(),
            log["output_tokens"].as_i64(),
        ),
        (Some(200), Some(1000), Some(90))
    );
    assert_eq!(log["cost"], NATIVE_COST);

    // Streamed: every event byte for byte, ending in response.completed.
    let text = s
        .post("/v1/responses", &turn(true))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, fake_responses::events("oa-model").concat());
    assert_eq!(s.last_log().await["cost"], NATIVE_COST);
    assert_eq!(s.app.balance(s.user).await, "0.996760");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn a_failed_response_from_the_upstream_reaches_the_client_and_is_not_billed() {
    let fake = FakeResponses::start(fake_responses::Mode::Failed).await;
    let s = setup(vec![upstream("oa", &fake.base_url, true)]).await;
    let text = s
        .post("/v1/responses", &turn(true))
        .await
        .text()
        .await
        .unwrap();
    let (events, _) = events_of(&text);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["message"], "The model failed.");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "response.failed")
            .count(),
        1
    );
    let log = s.last_log().await;
    assert_eq!(
        (log["status"].as_i64(), log["cost"].as_str()),
        (Some(502), Some("0.000000"))
    );
    assert_eq!(s.app.balance(s.user).await, "1.000000");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn a_codex_turn_runs_translated_on_a_chat_upstream() {
    let fake = Fake::start(ChatMode::Cached).await;
    let s = setup(vec![upstream("oa", &fake.base_url, false)]).await;

    let r = s.post("/v1/responses", &turn(false)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["object"].as_str(), body["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "Hello there, friend!"
    );
    assert_eq!(body["usage"]["input_tokens"], 10_000);
    assert_eq!(
        body["usage"]["input_tokens_details"]["cached_tokens"],
        8_000
    );
    assert_eq!(
        body["usage"]["output_tokens_details"]["reasoning_tokens"],
        600
    );
    let sent = fake.last();
    assert_eq!(sent["model"], "oa-model");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "You are Codex."})
    );
    assert_eq!(
        sent["messages"][1],
        json!({"role": "system", "content": "sandbox: workspace-write"})
    );
    assert_eq!(
        sent["tools"].as_array().unwrap().len(),
        1,
        "web_search left out"
    );
    assert_eq!(sent["tools"][0]["function"]["name"], "shell");
    assert!(sent.get("input").is_none() && sent.get("reasoning").is_none());
    let log = s.last_log().await;
    assert_eq!(log["endpoint"], "/responses");
    assert_eq!(log["cost"], TRANSLATED_COST);

    // Streamed: Responses events with sequence numbers, usage in response.completed.
    let text = s
        .post("/v1/responses", &turn(true))
        .await
        .text()
        .await
        .unwrap();
    let (events, names) = events_of(&text);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(names, types, "every event is named after its type");
    assert_eq!(
        &types[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "response.output_text.delta")
            .count(),
        4
    );
    assert_eq!(types.last(), Some(&"response.completed"));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64);
    }
    let done = &events.last().unwrap()["response"];
    assert_eq!(
        done["output"][0]["content"][0]["text"],
        "Hello there, friend!"
    );
    assert_eq!(
        done["usage"]["input_tokens_details"]["cached_tokens"],
        8_000
    );
    assert_eq!(
        fake.last()["stream_options"],
        json!({"include_usage": true})
    );
    assert_eq!(s.last_log().await["cost"], TRANSLATED_COST);
    assert_eq!(s.app.balance(s.user).await, "0.969600");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn a_tool_call_and_its_output_round_trip_through_translation() {
    let fake = Fake::start(ChatMode::Ok).await;
    let s = setup(vec![upstream("oa", &fake.base_url, false)]).await;
    let mut body = turn(true);
    let input = body["input"].as_array_mut().unwrap();
    input.push(
        json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"}),
    );
    input.push(json!({"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"cat\",\"notes.txt\"]}"}));
    input.push(json!({"type": "function_call_output", "call_id": "call_1", "output": "forty-two"}));
    let r = s.post("/v1/responses", &body).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    let sent = fake.last();
    let m = sent["messages"].as_array().unwrap();
    assert_eq!(m.len(), 5, "{m:?}");
    assert_eq!(m[3]["role"], "assistant");
    assert_eq!(m[3]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        m[3]["tool_calls"][0]["function"]["arguments"],
        "{\"command\":[\"cat\",\"notes.txt\"]}"
    );
    assert_eq!(
        m[4],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "forty-two"})
    );
}

#[tokio::test]
async fn state_on_a_server_is_refused_when_translating_and_passed_when_native() {
    let chat = Fake::start(ChatMode::Ok).await;
    let s = setup(vec![upstream("oa", &chat.base_url, false)]).await;
    let mut body = turn(false);
    body["previous_response_id"] = json!("resp_earlier");
    let (status, error) = json_of(s.post("/v1/responses", &body).await).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "untranslatable");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("previous_response_id"),
        "{error}"
    );
    assert_eq!(chat.hits(), 0);
    let log = s.last_log().await;
    assert_eq!(
        (log["status"].as_i64(), log["cost"].as_str()),
        (Some(400), Some("0.000000"))
    );

    let native = FakeResponses::start(fake_responses::Mode::Ok).await;
    let s = setup(vec![upstream("oa", &native.base_url, true)]).await;
    let r = s.post("/v1/responses", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(native.last().body["previous_response_id"], "resp_earlier");
}

#[tokio::test]
async fn errors_before_a_stream_are_openai_json_and_inside_it_response_failed() {
    let fake = Fake::start(ChatMode::Reset).await;
    let s = setup(vec![upstream("oa", &fake.base_url, false)]).await;

    // Bad input: OpenAI's error JSON with the request id.
    let r = s
        .post("/v1/responses", &json!({"model": "gpt-test", "input": 5}))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("input"),
        "{body}"
    );

    // A stream that breaks: response.failed with a code Codex retries; nothing billed.
    let text = s
        .post("/v1/responses", &turn(true))
        .await
        .text()
        .await
        .unwrap();
    let (events, _) = events_of(&text);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{text}");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert_eq!(last["response"]["id"], events[0]["response"]["id"]);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64, "{text}");
    }
    assert!(!text.contains("response.completed"));
    assert_eq!(s.last_log().await["status"], 502);
    assert_eq!(s.app.balance(s.user).await, "1.000000");

    // No money: refused before any upstream is asked, with the code Codex stops on.
    s.app.fund(s.user, "-1").await;
    let (status, body) = json_of(s.post("/v1/responses", &turn(true)).await).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "insufficient_quota");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn compaction_passes_through_or_is_summarized_by_a_chat_upstream() {
    let compact = json!({"model": "gpt-test", "instructions": "You are Codex.", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix the bug"}]},
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]}]});

    let native = FakeResponses::start(fake_responses::Mode::Ok).await;
    let s = setup(vec![upstream("oa", &native.base_url, true)]).await;
    let (status, body) = json_of(s.post("/v1/responses/compact", &compact).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(native.last().path, "/responses/compact");
    assert_eq!(body["output"][1]["encrypted_content"], "gAAAAopaque");
    let log = s.last_log().await;
    assert_eq!(
        (log["endpoint"].as_str(), log["cost"].as_str()),
        (Some("/responses/compact"), Some(NATIVE_COST))
    );

    let chat = Fake::start(ChatMode::Cached).await;
    let s = setup(vec![upstream("oa", &chat.base_url, false)]).await;
    let (status, body) = json_of(s.post("/v1/responses/compact", &compact).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "response.compaction");
    let output = body["output"].as_array().unwrap();
    assert_eq!(output.len(), 2);
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["content"][0]["text"], "Fix the bug");
    let summary = output[1]["content"][0]["text"].as_str().unwrap();
    assert!(summary.ends_with("Hello there, friend!"), "{summary}");
    let sent = chat.last();
    assert!(sent.get("tools").is_none());
    let asked = sent["messages"].as_array().unwrap();
    assert!(asked.last().unwrap()["content"]
        .as_str()
        .unwrap()
        .contains("summary"));
    assert_eq!(s.last_log().await["cost"], TRANSLATED_COST);

    let (status, body) = json_of(
        s.post(
            "/v1/responses/compact",
            &json!({"model": "gpt-test", "input": "x", "stream": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(s.app.audit().await.is_clean());
}

#[tokio::test]
async fn one_conversation_sticks_to_one_upstream() {
    let a = FakeResponses::start(fake_responses::Mode::Ok).await;
    let b = FakeResponses::start(fake_responses::Mode::Ok).await;
    let s = setup(vec![
        upstream("a", &a.base_url, true),
        upstream("b", &b.base_url, true),
    ])
    .await;
    for _ in 0..8 {
        assert_eq!(s.post("/v1/responses", &turn(false)).await.status(), 200);
    }
    assert!(
        (a.hits(), b.hits()) == (8, 0) || (a.hits(), b.hits()) == (0, 8),
        "{} / {}",
        a.hits(),
        b.hits()
    );
}

#[test]
fn responses_is_for_openai_upstreams() {
    let e = Config::parse(
        r#"
[[upstreams]]
name = "anth"
kind = "anthropic"
base_url = "https://api.anthropic.com"
models = ["claude"]
responses = true
"#,
        "t",
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().contains("responses = true is for `openai`"),
        "{e}"
    );
}

#[tokio::test]
async fn a_failing_responses_upstream_fails_over_to_a_translated_one() {
    let native = FakeResponses::start(fake_responses::Mode::Status(500)).await;
    let chat = Fake::start(ChatMode::Cached).await;
    let mut first = upstream("native", &native.base_url, true);
    first.priority = 10;
    let s = setup(vec![first, upstream("chat", &chat.base_url, false)]).await;
    let text = s
        .post("/v1/responses", &turn(true))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("event: response.completed"), "{text}");
    assert_eq!((native.hits(), chat.hits()), (1, 1));
    let log = s.last_log().await;
    assert_eq!(log["upstream"], "chat");
    assert_eq!(log["cost"], TRANSLATED_COST);

    // The client's own mistake, in the upstream's words, is not retried elsewhere.
    let native = FakeResponses::start(fake_responses::Mode::Status(400)).await;
    let s = setup(vec![upstream("native", &native.base_url, true)]).await;
    let (status, body) = json_of(s.post("/v1/responses", &turn(false)).await).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("fake says 400"))
    );
}

#[tokio::test]
async fn a_codex_turn_reaches_an_anthropic_upstream_through_chat() {
    let fake = FakeAnthropic::start(fake_anthropic::Mode::Ok).await;
    let mut up = upstream("anth", &fake.base_url, false);
    up.kind = UpstreamKind::Anthropic;
    let s = setup(vec![up]).await;
    let (status, body) = json_of(s.post("/v1/responses", &turn(false)).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "response");
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "Hello from Claude."
    );
    let sent = fake.last().body;
    assert_eq!(sent["model"], "anth-model");
    assert_eq!(sent["system"], "You are Codex.\n\nsandbox: workspace-write");
    assert_eq!(sent["tools"][0]["name"], "shell");
    // 50 fresh × 2 + 8,000 read × 0.5 + 500 (5m) × 2.5 + 1,500 (1h) × 4 + 60 out × 8 = 11,830.
    assert_eq!(s.last_log().await["cost"], "0.011830");

    let text = s
        .post("/v1/responses", &turn(true))
        .await
        .text()
        .await
        .unwrap();
    let (events, _) = events_of(&text);
    assert_eq!(events[0]["type"], "response.created");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed", "{text}");
    assert_eq!(
        last["response"]["usage"]["input_tokens_details"]["cached_tokens"],
        8000
    );
    assert_eq!(s.last_log().await["cost"], "0.011830");
    assert!(s.app.audit().await.is_clean());
}
