//! `GET /api/openapi.json` tells the truth: every `/api` route of `src/router.rs` is documented
//! with its methods and nothing else is, errors share one schema, the security each operation
//! declares is what the server enforces, and key schemas have the shape the handlers write.

use std::collections::BTreeSet;

use code_router::accounts::Role;
use regex::Regex;
use serde_json::{Map, Value};

use crate::helpers::*;

/// The route table as written, read at compile time so the test follows every edit.
const ROUTER_RS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/router.rs"));

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `(method, path)` of every `/api` route in `router.rs`, from its `.route("/api/...", ...)` lines.
fn routed_operations() -> BTreeSet<(String, String)> {
    let route = Regex::new(r#"^\s*\.route\("(/api/[^"]*)",\s*(.+)\)\s*$"#).unwrap();
    let method = Regex::new(r"\b(get|put|post|delete|options|head|patch|trace)\(").unwrap();
    let mut found = BTreeSet::new();
    for line in ROUTER_RS.lines().filter(|l| l.contains("\"/api/")) {
        let caps = route
            .captures(line)
            .unwrap_or_else(|| panic!("a router.rs line this test cannot read: {line}"));
        let methods: Vec<_> = method.captures_iter(&caps[2]).collect();
        assert!(!methods.is_empty(), "no method on route line: {line}");
        for m in methods {
            found.insert((m[1].to_string(), caps[1].to_string()));
        }
    }
    found
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_string(), path.clone()));
            }
        }
    }
    found
}

async fn fetch_document(app: &TestApp) -> Value {
    let response = reqwest::get(app.url("/api/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.unwrap()
}

/// Follows `$ref`s to `#/components/schemas/...`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The properties of an object schema, through `$ref` and `allOf` (what `#[serde(flatten)]` makes).
fn properties(doc: &Value, schema: &Value) -> Map<String, Value> {
    let schema = resolve(doc, schema);
    let mut out = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(properties(doc, part));
    }
    out
}

/// The JSON schema of an operation's response with `status`.
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: &str) -> &'a Value {
    let schema =
        &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "{method} {path} has no JSON {status}");
    schema
}

/// A schema that is a string, directly or as `[string, null]` / `oneOf` with null.
fn is_string(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    let is = |t: &Value| t == "string";
    match &schema["type"] {
        Value::String(_) => is(&schema["type"]),
        Value::Array(types) => types.iter().any(is) && types.iter().all(|t| is(t) || t == "null"),
        _ => schema["oneOf"].as_array().is_some_and(|options| {
            options.iter().any(|o| is_string(doc, o))
                && options
                    .iter()
                    .all(|o| is_string(doc, o) || o["type"] == "null")
        }),
    }
}

#[tokio::test]
async fn every_api_route_is_documented_and_nothing_else() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;

    let routed = routed_operations();
    // Guards the parser: if router.rs changes shape, this test must not pass on an empty table.
    assert!(routed.len() >= 30, "only {} routes read", routed.len());
    assert!(routed.contains(&("post".into(), "/api/keys".into())));
    assert!(routed.contains(&("patch".into(), "/api/keys/{id}".into())));

    let documented = documented_operations(&doc);
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not in the OpenAPI document (add #[utoipa::path] and list it in src/openapi.rs): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed in src/router.rs: {unrouted:?}"
    );
}

#[tokio::test]
async fn the_document_describes_itself_and_its_errors() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;

    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "Code Router API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!doc["info"]["description"].as_str().unwrap().is_empty());
    let cookie = &doc["components"]["securitySchemes"]["cr_session"];
    assert_eq!(cookie["type"], "apiKey");
    assert_eq!(cookie["in"], "cookie");
    assert_eq!(cookie["name"], "cr_session");

    let error = &doc["components"]["schemas"]["ErrorBody"];
    let detail = properties(&doc, &error["properties"]["error"]);
    for field in ["message", "type", "code"] {
        assert!(is_string(&doc, &detail[field]), "error.{field}");
    }

    for (method, path) in documented_operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let what = format!("{} {path}", method.to_uppercase());
        assert_eq!(
            op["tags"].as_array().map(Vec::len),
            Some(1),
            "{what}: one tag"
        );
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: no success response"
        );
        for (status, response) in responses {
            assert!(
                !response["description"].as_str().unwrap_or("").is_empty(),
                "{what} {status}: no description"
            );
            if status.as_str() < "400" {
                continue;
            }
            // Every error is the shared shape, except the EPay notify, which answers plain text
            // because that is what EPay gateways read.
            let content = response["content"].as_object().unwrap();
            if path == "/api/payments/epay/notify" {
                assert!(content.contains_key("text/plain"), "{what} {status}");
            } else {
                assert_eq!(
                    content["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{what} {status}: errors use the shared ErrorBody schema"
                );
            }
        }
    }
}

/// What each operation declares about sign-in is what the server does: without a cookie a
/// `cr_session` operation answers 401, a member gets 403 from an `admin` one, and an operation
/// that declares no security does not ask for a session.
#[tokio::test]
async fn declared_security_is_enforced() {
    let app = spawn_app().await;
    app.create_user("member", Role::User).await;
    let member = app.login("member").await;
    let doc = fetch_document(&app).await;
    let anonymous = reqwest::Client::new();

    let mut checked = 0;
    for (method, path) in documented_operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let url = app.url(&path.replace("{id}", "1"));
        let method_of = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let what = format!("{method_of} {path}");
        let scopes: Vec<&str> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|req| req["cr_session"].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let needs_session = op["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|r| r.get("cr_session").is_some()));

        let answer = anonymous
            .request(method_of.clone(), &url)
            .send()
            .await
            .unwrap();
        if needs_session {
            assert_eq!(answer.status(), 401, "{what} without a session");
            assert!(op["responses"].get("401").is_some(), "{what} documents 401");
        } else {
            assert_ne!(answer.status(), 401, "{what} declares no security");
        }
        if scopes.contains(&"admin") {
            let answer = member.request(method_of, &url).send().await.unwrap();
            assert_eq!(answer.status(), 403, "{what} as a member");
            assert!(op["responses"].get("403").is_some(), "{what} documents 403");
            assert_eq!(op["tags"][0], "admin", "{what}");
        }
        if path.starts_with("/api/admin/") {
            assert!(
                scopes.contains(&"admin"),
                "{what} must require the admin role"
            );
        }
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} operations checked");
}

#[tokio::test]
async fn schemas_have_the_shape_the_handlers_write() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;

    let money = &doc["components"]["schemas"]["Money"];
    assert_eq!(money["type"], "string", "money is a decimal string");
    assert_eq!(money["examples"][0], "0.050000");

    // The key create answer is the key's view plus its secret, once.
    let created = properties(&doc, response_schema(&doc, "post", "/api/keys", "201"));
    for field in [
        "id",
        "name",
        "key",
        "key_hint",
        "limit",
        "used",
        "created_at",
    ] {
        assert!(
            created.contains_key(field),
            "key create answer lacks {field}"
        );
    }
    for field in ["key", "limit", "used", "remaining", "created_at"] {
        assert!(
            is_string(&doc, &created[field]),
            "key create: {field} is a string"
        );
    }
    assert_eq!(
        resolve(&doc, &created["created_at"])["format"],
        "date-time",
        "times are RFC 3339"
    );
    let listed = properties(&doc, response_schema(&doc, "get", "/api/keys", "200"));
    let view = properties(&doc, &listed["data"]["items"]);
    assert!(!view.contains_key("key"), "a key list never shows secrets");
    // A field that may be null is still always sent: required, with null allowed.
    let key_view = resolve(&doc, &listed["data"]["items"]);
    for field in ["limit", "remaining", "expires_at", "rpm", "last_used_at"] {
        assert!(
            key_view["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from(field)),
            "KeyView.{field} is always sent"
        );
    }

    // Money fields wherever members see amounts are strings, never numbers.
    let me = properties(&doc, response_schema(&doc, "get", "/api/me", "200"));
    for field in ["balance", "reward_balance"] {
        assert!(is_string(&doc, &me[field]), "me.{field} is a string");
    }
    let ledger = properties(&doc, response_schema(&doc, "get", "/api/ledger", "200"));
    let row = properties(&doc, &ledger["data"]["items"]);
    for field in ["amount", "balance_after", "created_at"] {
        assert!(
            is_string(&doc, &row[field]),
            "ledger row {field} is a string"
        );
    }
    let logs = properties(&doc, response_schema(&doc, "get", "/api/logs", "200"));
    assert!(is_string(
        &doc,
        &properties(&doc, &logs["data"]["items"])["cost"]
    ));
    assert!(logs.contains_key("next_cursor"));

    // The log filter is documented as query parameters.
    let params: BTreeSet<&str> = doc["paths"]["/api/logs"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|p| assert_eq!(p["in"], "query"))
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["from", "to", "model", "key_id", "status", "limit", "cursor"] {
        assert!(params.contains(name), "/api/logs lacks the {name} filter");
    }

    // Request bodies name their schema.
    let body =
        &doc["paths"]["/api/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let create = properties(&doc, body);
    assert!(create.contains_key("name") && create.contains_key("limit"));
    assert!(is_string(&doc, &create["limit"]));
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let mut seen = BTreeSet::new();
    for (method, path) in documented_operations(&doc) {
        let id = doc["paths"][&path][&method]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_string();
        assert!(seen.insert(id.clone()), "operationId {id} is used twice");
    }
    // The EPay notify reads the query on GET and a form body on POST.
    let notify = &doc["paths"]["/api/payments/epay/notify"];
    assert!(notify["get"]["requestBody"].is_null());
    assert!(notify["get"]["parameters"].is_array());
    assert!(notify["post"]["parameters"].is_null());
    assert!(
        notify["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object()
    );
}

/// Checks `value` against `schema` as far as the document's promises go: an object has every
/// required property and none that is not documented, strings are strings, integers are
/// integers, and so on down through arrays and nested objects.
fn check_against(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(options) = schema["oneOf"].as_array() {
        if value.is_null() {
            assert!(options.iter().any(|o| o["type"] == "null"), "{at}: null");
            return;
        }
        let option = options.iter().find(|o| o["type"] != "null").unwrap();
        return check_against(doc, option, value, at);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty() {
        let fits = types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
        assert!(
            fits,
            "{at}: a {kind} where the document says {types:?}: {value}"
        );
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_against(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(fields) if schema["additionalProperties"].is_object() => {
            for (name, field) in fields {
                let inner = &schema["additionalProperties"];
                check_against(doc, inner, field, &format!("{at}.{name}"));
            }
        }
        Value::Object(fields) => {
            let documented = properties(doc, schema);
            let mut required: Vec<&Value> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            for part in schema["allOf"].as_array().into_iter().flatten() {
                required.extend(
                    resolve(doc, part)["required"]
                        .as_array()
                        .into_iter()
                        .flatten(),
                );
            }
            for name in required.iter().filter_map(|r| r.as_str()) {
                assert!(
                    fields.contains_key(name),
                    "{at}: required {name} is missing: {value}"
                );
            }
            for (name, field) in fields {
                let inner = documented
                    .get(name)
                    .unwrap_or_else(|| panic!("{at}.{name} is sent but not documented"));
                check_against(doc, inner, field, &format!("{at}.{name}"));
            }
        }
        _ => {}
    }
}

/// The answers that handlers build with `json!` are described by separate structs, so here
/// the real answers are held to the document, field by field.
#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let app = spawn_app().await;
    let root = app.create_user("root", Role::Admin).await;
    app.fund(root, "5").await;
    let admin = app.login("root").await;
    let (key_id, key) = app
        .create_key(&admin, serde_json::json!({"name": "k", "limit": "2"}))
        .await;
    let sent = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "demo:free", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    app.flush().await;
    let doc = fetch_document(&app).await;
    let made = admin
        .post(app.url("/api/admin/codes"))
        .json(&serde_json::json!({"amount": "1", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let (_, codes) = json_of(admin.get(app.url("/api/admin/codes")).send().await.unwrap()).await;
    let code_id = codes["data"][0]["id"].as_i64().unwrap();

    let key_path = format!("/api/keys/{key_id}");
    let calls: Vec<(&str, &str, String, Option<Value>, &str)> = vec![
        ("get", "/api/status", "/api/status".into(), None, "200"),
        ("get", "/api/me", "/api/me".into(), None, "200"),
        ("get", "/api/ledger", "/api/ledger".into(), None, "200"),
        ("get", "/api/keys", "/api/keys".into(), None, "200"),
        (
            "post",
            "/api/keys",
            "/api/keys".into(),
            Some(serde_json::json!({"name": "k2", "rpm": 5})),
            "201",
        ),
        (
            "patch",
            "/api/keys/{id}",
            key_path,
            Some(serde_json::json!({"limit": null})),
            "200",
        ),
        ("get", "/api/logs", "/api/logs".into(), None, "200"),
        ("get", "/api/usage", "/api/usage".into(), None, "200"),
        ("get", "/api/referral", "/api/referral".into(), None, "200"),
        (
            "get",
            "/api/topup/methods",
            "/api/topup/methods".into(),
            None,
            "200",
        ),
        (
            "get",
            "/api/topup/orders",
            "/api/topup/orders".into(),
            None,
            "200",
        ),
        (
            "get",
            "/api/admin/users",
            "/api/admin/users".into(),
            None,
            "200",
        ),
        (
            "patch",
            "/api/admin/users/{id}",
            format!("/api/admin/users/{root}"),
            Some(serde_json::json!({"group": "default"})),
            "200",
        ),
        (
            "post",
            "/api/admin/users/{id}/adjust",
            format!("/api/admin/users/{root}/adjust"),
            Some(serde_json::json!({"amount": "1", "reason": "test"})),
            "200",
        ),
        (
            "get",
            "/api/admin/logs",
            "/api/admin/logs".into(),
            None,
            "200",
        ),
        (
            "get",
            "/api/admin/upstreams",
            "/api/admin/upstreams".into(),
            None,
            "200",
        ),
        (
            "get",
            "/api/admin/prices",
            "/api/admin/prices".into(),
            None,
            "200",
        ),
        (
            "post",
            "/api/admin/codes",
            "/api/admin/codes".into(),
            Some(serde_json::json!({"amount": "1", "count": 1})),
            "201",
        ),
        (
            "get",
            "/api/admin/codes",
            "/api/admin/codes".into(),
            None,
            "200",
        ),
        (
            "get",
            "/api/admin/orders",
            "/api/admin/orders".into(),
            None,
            "200",
        ),
        (
            "get",
            "/api/ledger/charges",
            "/api/ledger/charges".into(),
            None,
            "200",
        ),
        (
            "get",
            "/api/balance-alert",
            "/api/balance-alert".into(),
            None,
            "200",
        ),
        (
            "put",
            "/api/balance-alert",
            "/api/balance-alert".into(),
            Some(serde_json::json!({"threshold": "2"})),
            "200",
        ),
        (
            "get",
            "/api/admin/overview",
            "/api/admin/overview".into(),
            None,
            "200",
        ),
        (
            "post",
            "/api/admin/users",
            "/api/admin/users".into(),
            Some(serde_json::json!({"username": "made", "password": "made password"})),
            "201",
        ),
        (
            "post",
            "/api/admin/codes/{id}/void",
            format!("/api/admin/codes/{code_id}/void"),
            Some(serde_json::json!({})),
            "200",
        ),
        (
            "post",
            "/api/admin/upstreams/{name}/test",
            "/api/admin/upstreams/demo/test".into(),
            Some(serde_json::json!({})),
            "200",
        ),
        // An error, to hold it to the shared schema too.
        (
            "get",
            "/api/ledger",
            "/api/ledger?cursor=x".into(),
            None,
            "400",
        ),
    ];
    for (method, path, url, body, status) in calls {
        let mut request = admin.request(
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            app.url(&url),
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (got, answer) = json_of(request.send().await.unwrap()).await;
        let what = format!("{} {url}", method.to_uppercase());
        assert_eq!(got.to_string(), status, "{what}: {answer}");
        check_against(
            &doc,
            response_schema(&doc, method, path, status),
            &answer,
            &what,
        );
        if let Some(rows) = answer["data"].as_array() {
            assert!(
                !rows.is_empty()
                    || path.ends_with("orders")
                    || path.ends_with("methods")
                    || path.ends_with("charges"),
                "{what}: nothing was checked in data"
            );
        }
    }
}
