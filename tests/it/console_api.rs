//! The API the console's pages stand on: log rows with error codes and the filter's totals,
//! usage per key, billing history by kind with charges per day, the low-balance warning, the
//! operator's overview, accounts made by an admin, voided codes, upstream tests, and the model a
//! key is tested with. Money is compared as exact decimal strings.

use std::time::Duration;

use code_router::accounts::Role;
use code_router::config::Config;
use code_router::db::Store;
use serde_json::{json, Value};

use crate::fake_upstream::{Fake, Mode};
use crate::helpers::*;

/// gpt-test at $1000 / $2000 per 1M tokens (10 in + 20 out is exactly 0.05), `other` at $1 / $1,
/// served by `main` (the fake) and the built-in demo upstream for `demo:free`.
fn config(fake: &Fake, extra: &str) -> Config {
    Config::parse(
        &format!(
            "[server]\nregistrations_per_ip_hour = 1000\n\
             [models.\"gpt-test\"]\ninput = \"1000\"\noutput = \"2000\"\n\
             [models.\"other\"]\ninput = \"1\"\noutput = \"1\"\n\
             [models.\"demo:free\"]\n\
             [groups]\nvip = \"0.8\"\n\
             [[upstreams]]\nname = \"main\"\nbase_url = \"{}\"\napi_key = \"k\"\n\
             models = [\"gpt-test\", \"other\"]\nmodel_map = {{ \"other\" = \"other-2\" }}\n\
             [[upstreams]]\nname = \"demo\"\nkind = \"demo\"\nmodels = [\"demo:free\"]\n{extra}",
            fake.base_url
        ),
        "t",
    )
    .unwrap()
}

struct Member {
    app: TestApp,
    fake: Fake,
    user: i64,
    client: reqwest::Client,
    key: String,
    key_id: i64,
}

async fn member(extra: &str, balance: &str) -> Member {
    let fake = Fake::start(Mode::Ok).await;
    let app = spawn_app_config(config(&fake, extra)).await;
    let user = app.create_user("alice", Role::User).await;
    app.fund(user, balance).await;
    let client = app.login("alice").await;
    let (key_id, key) = app.create_key(&client, json!({"name": "laptop"})).await;
    Member {
        app,
        fake,
        user,
        client,
        key,
        key_id,
    }
}

async fn call(m: &Member, key: &str, model: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(m.app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 30}))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    (r.status().as_u16(), id)
}

fn now(app: &TestApp) -> i64 {
    code_router::clock::Clock::now(app.clock.as_ref())
}

/// Credits a balance at the server's time, so the ledger's ids keep running in time order.
async fn fund_now(app: &TestApp, user_id: i64, amount: &str) {
    let amount = code_router::ledger::money::Money::parse(amount).unwrap();
    let now = now(app);
    app.state
        .db
        .write(move |conn| {
            code_router::ledger::adjust(conn, user_id, amount, "funding", "test", now)
        })
        .await
        .unwrap();
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let (status, body) = json_of(client.get(app.url(path)).send().await.unwrap()).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// A request whose balance is taken by the operator while it runs: of its 0.05, the 0.02 left
/// is charged and 0.03 cannot be collected.
async fn short_request(m: &Member) -> String {
    m.fake.set(Mode::Slow(400));
    let (url, key) = (m.app.url("/v1/chat/completions"), m.key.clone());
    let running = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(key)
            .json(&json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 30}))
            .send()
            .await
            .unwrap();
        r.headers()["x-request-id"].to_str().unwrap().to_string()
    });
    for _ in 0..100 {
        if m.app.state.funds.open_holds() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        m.app.state.funds.open_holds(),
        1,
        "the request is in flight"
    );
    let balance = m.app.balance(m.user).await;
    let take = code_router::ledger::money::Money::from_units(
        code_router::ledger::money::Money::parse(&balance)
            .unwrap()
            .units()
            - 20_000_000,
    );
    let (user, now) = (m.user, now(&m.app));
    m.app
        .state
        .db
        .write(move |conn| {
            code_router::ledger::adjust(
                conn,
                user,
                code_router::ledger::money::Money::from_units(-take.units()),
                "taken back",
                "test",
                now,
            )
        })
        .await
        .unwrap();
    let id = running.await.unwrap();
    m.fake.set(Mode::Ok);
    m.app.flush().await;
    id
}

#[tokio::test]
async fn status_tells_the_public_url_and_whether_referrals_are_on() {
    let app = spawn_app_with(|c| {
        c.server.public_url = "https://router.example.com/".into();
        c.referral.enabled = true;
    })
    .await;
    let status = get(&reqwest::Client::new(), &app, "/api/status").await;
    assert_eq!(status["public_url"], "https://router.example.com");
    assert_eq!(status["referral_enabled"], true);
    let app = spawn_app().await;
    let status = get(&reqwest::Client::new(), &app, "/api/status").await;
    assert_eq!(status["referral_enabled"], false);
}

#[tokio::test]
async fn log_rows_say_what_went_wrong_as_codes_and_the_filter_has_exact_totals() {
    let m = member("", "1").await;
    let (ok, served) = call(&m, &m.key, "gpt-test").await;
    assert_eq!(ok, 200);
    let (missing, unknown) = call(&m, &m.key, "nope").await;
    assert_eq!(missing, 404);
    m.fake.set(Mode::Status(500));
    let (failed, broken) = call(&m, &m.key, "gpt-test").await;
    assert_eq!(failed, 502);
    m.fake.set(Mode::Ok);
    let short = short_request(&m).await;

    let logs = get(&m.client, &m.app, "/api/logs").await;
    let row = |id: &str| -> Value {
        logs["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["request_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no row {id}: {logs}"))
    };
    assert_eq!(row(&served)["error_code"], "");
    assert_eq!(row(&served)["error_params"], json!({}));
    assert_eq!(row(&unknown)["error_code"], "model_not_found");
    assert_eq!(row(&unknown)["error_params"], json!({"model": "nope"}));
    assert_eq!(row(&broken)["error_code"], "upstream_failed");
    assert!(
        row(&broken)["error"].as_str().unwrap().contains("500"),
        "the operator's detail stays: {}",
        row(&broken)
    );
    assert_eq!(row(&short)["error_code"], "uncollected");
    assert_eq!(row(&short)["error_params"], json!({"amount": "0.030000"}));
    assert_eq!(row(&short)["uncollected"], "0.030000");
    assert_eq!(row(&short)["cost"], "0.020000");

    // The totals cover every row of the filter, whatever the page size.
    assert_eq!(
        logs["summary"],
        json!({"requests": 4, "errors": 2, "input_tokens": 20, "output_tokens": 40,
               "cost": "0.070000", "uncollected": "0.030000"})
    );
    let errors = get(&m.client, &m.app, "/api/logs?status=error&limit=1").await;
    assert_eq!(errors["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        errors["summary"],
        json!({"requests": 2, "errors": 2, "input_tokens": 0, "output_tokens": 0,
               "cost": "0.000000", "uncollected": "0.000000"})
    );
    let cursor = errors["next_cursor"].as_str().unwrap();
    let next = get(
        &m.client,
        &m.app,
        &format!("/api/logs?status=error&limit=1&cursor={cursor}"),
    )
    .await;
    assert!(
        next.get("summary").is_none(),
        "later pages carry no totals: {next}"
    );
    let today = code_router::clock::rfc3339(now(&m.app));
    let since_today = get(
        &m.client,
        &m.app,
        &format!("/api/logs?from={}", &today[..10]),
    )
    .await;
    assert_eq!(since_today["summary"], logs["summary"]);
    let tomorrow = code_router::clock::rfc3339(now(&m.app) + 86_400);
    let none = get(
        &m.client,
        &m.app,
        &format!("/api/logs?from={}", &tomorrow[..10]),
    )
    .await;
    assert_eq!(none["summary"]["requests"], 0);
    assert_eq!(none["summary"]["cost"], "0.000000");
    let one = get(&m.client, &m.app, &format!("/api/logs?request_id={short}")).await;
    assert_eq!(one["summary"]["uncollected"], "0.030000");

    let csv = m
        .client
        .get(m.app.url("/api/logs.csv?status=error"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("time,request_id,key,"), "{csv}");
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .ends_with(",error_code,uncollected_usd"));
    assert!(csv.contains(",model_not_found,0.000000"), "{csv}");
}

#[tokio::test]
async fn usage_is_totalled_per_key_as_well() {
    let m = member("", "1").await;
    let (second_id, second) = m.app.create_key(&m.client, json!({"name": "ci"})).await;
    for _ in 0..2 {
        assert_eq!(call(&m, &m.key, "gpt-test").await.0, 200);
    }
    assert_eq!(call(&m, &second, "gpt-test").await.0, 200);
    assert_eq!(call(&m, &second, "demo:free").await.0, 200);
    m.app.flush().await;
    // A renamed key shows its name of today; a deleted one keeps its last name.
    let r = m
        .client
        .patch(m.app.url(&format!("/api/keys/{}", m.key_id)))
        .json(&json!({"name": "laptop-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = m
        .client
        .delete(m.app.url(&format!("/api/keys/{second_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let usage = get(&m.client, &m.app, "/api/usage?days=7").await;
    assert_eq!(
        usage["by_key"],
        json!([
            {"key_id": m.key_id, "name": "laptop-2", "deleted": false, "requests": 2,
             "input_tokens": 20, "cache_read_tokens": 0, "cache_write_tokens": 0,
             "output_tokens": 40, "reasoning_tokens": 0, "cost": "0.100000"},
            {"key_id": second_id, "name": "ci", "deleted": true, "requests": 2,
             "input_tokens": usage["by_key"][1]["input_tokens"], "cache_read_tokens": 0,
             "cache_write_tokens": 0, "output_tokens": usage["by_key"][1]["output_tokens"],
             "reasoning_tokens": 0, "cost": "0.050000"},
        ])
    );
}

#[tokio::test]
async fn admins_export_everyones_logs_as_csv_with_the_account() {
    let m = member("", "1").await;
    assert_eq!(call(&m, &m.key, "gpt-test").await.0, 200);
    m.app.flush().await;
    let denied = m
        .client
        .get(m.app.url("/api/admin/logs.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    m.app.create_user("root", Role::Admin).await;
    let admin = m.app.login("root").await;
    let r = admin
        .get(
            m.app
                .url(&format!("/api/admin/logs.csv?user_id={}", m.user)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time,request_id,user,key,model,upstream,input_tokens,cache_read_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,status,latency_ms,stream,client_ip,usage_source,error,error_code,uncollected_usd"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(",alice,laptop,gpt-test,main,10,0,0,0,20,0,0.050000,200,"),
        "{row}"
    );
    assert_eq!(lines.next(), None);
}

#[tokio::test]
async fn billing_history_filters_by_kind_words_rows_as_codes_and_sums_charges_per_day() {
    let extra = "[referral]\nenabled = true\ninviter_reward = \"1\"\ninvitee_reward = \"0.5\"\n";
    let m = member(extra, "1").await;
    m.app.create_user("root", Role::Admin).await;
    let admin = m.app.login("root").await;
    let (_, made) = json_of(
        admin
            .post(m.app.url("/api/admin/codes"))
            .json(&json!({"amount": "2.5", "count": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let code = made["codes"][0].as_str().unwrap();
    let r = m
        .client
        .post(m.app.url("/api/topup/redeem"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An invitee registers with alice's code; alice moves the reward into her balance.
    let me = get(&m.client, &m.app, "/api/me").await;
    let r = reqwest::Client::new()
        .post(m.app.url("/api/auth/register"))
        .json(
            &json!({"username": "bob", "password": PASSWORD, "referral_code": me["referral_code"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = m
        .client
        .post(m.app.url("/api/referral/transfer"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Two charges today and one tomorrow.
    let today = code_router::clock::rfc3339(code_router::clock::Clock::now(m.app.clock.as_ref()));
    let today = &today[..10];
    for _ in 0..2 {
        assert_eq!(call(&m, &m.key, "gpt-test").await.0, 200);
    }
    m.app.flush().await;
    m.app.clock.advance_secs(86_400);
    let later = code_router::clock::rfc3339(code_router::clock::Clock::now(m.app.clock.as_ref()));
    let later = &later[..10];
    assert_eq!(call(&m, &m.key, "gpt-test").await.0, 200);
    m.app.flush().await;

    let all = get(&m.client, &m.app, "/api/ledger").await;
    let codes: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "charge",
            "charge",
            "charge",
            "transfer_from_reward",
            "transfer_to_balance",
            "referral_reward",
            "redeem",
            "adjust"
        ]
    );
    let rows = all["data"].as_array().unwrap();
    assert_eq!(
        rows[0]["params"],
        json!({"request_id": rows[0]["ref_id"], "key": "laptop", "cost": "0.050000"})
    );
    assert_eq!(rows[0]["amount"], "-0.050000");
    assert_eq!(rows[5]["params"], json!({"invitee": rows[5]["ref_id"]}));
    assert_eq!(rows[5]["account"], "reward");
    assert_eq!(
        rows[6]["params"]["code"].as_str().unwrap(),
        format!("{}…", &code[..6])
    );
    assert_eq!(
        rows[7]["params"],
        json!({"note": "test funding", "by": "test"})
    );
    assert!(
        rows[7]["reason"] == "test funding",
        "the server's words stay"
    );

    let credits = get(&m.client, &m.app, "/api/ledger?kind=redeem,adjust,transfer").await;
    let kinds: Vec<&str> = credits["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["transfer", "transfer", "redeem", "adjust"]);
    let (status, body) = json_of(
        m.client
            .get(m.app.url("/api/ledger?kind=bonus"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, error_code(&body).as_str()), (400, "invalid_query"));

    let days = get(&m.client, &m.app, "/api/ledger/charges?days=7").await;
    assert_eq!(
        days["data"],
        json!([
            {"date": later, "requests": 1, "amount": "0.050000"},
            {"date": today, "requests": 2, "amount": "0.100000"},
        ])
    );
    let one_day = get(
        &m.client,
        &m.app,
        &format!("/api/ledger?kind=settle&from={today}&to={today}"),
    )
    .await;
    assert_eq!(one_day["data"].as_array().unwrap().len(), 2);
    let only_today = get(&m.client, &m.app, "/api/ledger/charges?days=1").await;
    assert_eq!(only_today["data"].as_array().unwrap().len(), 1);

    // The invitee's own welcome reward.
    let bob = m.app.login("bob").await;
    let theirs = get(&bob, &m.app, "/api/ledger").await;
    assert_eq!(theirs["data"][0]["code"], "welcome_reward");
    assert_eq!(theirs["data"][0]["params"]["inviter"], m.user.to_string());
    assert_eq!(theirs["data"][0]["amount"], "0.500000");
}

#[tokio::test]
async fn the_low_balance_threshold_defaults_to_a_day_of_recent_spend() {
    let m = member("", "0.2").await;
    let alert = get(&m.client, &m.app, "/api/balance-alert").await;
    assert_eq!(
        alert,
        json!({"balance": "0.200000", "threshold": "0.000000", "source": "recent_spend",
               "recent_daily_spend": "0.000000", "low": false})
    );
    // 3 × 0.05 over the last 7 days is 0.15 a week: a day of it is 0.15 / 7, rounded up.
    for _ in 0..3 {
        assert_eq!(call(&m, &m.key, "gpt-test").await.0, 200);
    }
    m.app.flush().await;
    let alert = get(&m.client, &m.app, "/api/balance-alert").await;
    assert_eq!(alert["balance"], "0.050000");
    assert_eq!(alert["recent_daily_spend"], "0.021428572");
    assert_eq!(alert["threshold"], "0.021428572");
    assert_eq!(alert["low"], false);

    let put = |body: Value| {
        let (client, url) = (m.client.clone(), m.app.url("/api/balance-alert"));
        async move { json_of(client.put(url).json(&body).send().await.unwrap()).await }
    };
    let (status, alert) = put(json!({"threshold": "1"})).await;
    assert_eq!(status, 200, "{alert}");
    assert_eq!(
        (
            alert["threshold"].as_str(),
            alert["source"].as_str(),
            alert["low"].as_bool()
        ),
        (Some("1.000000"), Some("custom"), Some(true))
    );
    let again = get(&m.client, &m.app, "/api/balance-alert").await;
    assert_eq!(again["low"], true, "kept on the server");
    let (_, off) = put(json!({"threshold": "0"})).await;
    assert_eq!(
        (off["threshold"].as_str(), off["low"].as_bool()),
        (Some("0.000000"), Some(false))
    );
    let (_, back) = put(json!({"threshold": null})).await;
    assert_eq!(back["source"], "recent_spend");
    assert_eq!(back["threshold"], "0.021428572");
    for bad in [
        json!({"threshold": "-1"}),
        json!({}),
        json!({"threshold": 1}),
    ] {
        let (status, body) = put(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // A week later the spend has aged out.
    m.app.clock.advance_secs(8 * 86_400);
    let client = m.app.login("alice").await;
    let aged = get(&client, &m.app, "/api/balance-alert").await;
    assert_eq!(aged["recent_daily_spend"], "0.000000");
}

#[tokio::test]
async fn the_overview_sums_revenue_spend_and_uncollected_exactly() {
    let m = member("", "1").await;
    let root = m.app.create_user("root", Role::Admin).await;
    let admin = m.app.login("root").await;
    let denied = m
        .client
        .get(m.app.url("/api/admin/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    // A paid top-up of 20 for alice, as a verified payment posts it.
    let (user, at) = (m.user, now(&m.app));
    m.app
        .state
        .db
        .write(move |conn| {
            let entry = code_router::ledger::Entry {
                user_id: user,
                account: code_router::ledger::Account::Balance,
                kind: code_router::ledger::Kind::Topup,
                amount: code_router::ledger::money::Money::parse("20").unwrap(),
                reason: "top-up by stripe: 20.00 USD",
                ref_type: "order",
                ref_id: "crTest",
                key_id: None,
            };
            code_router::ledger::post(conn, &entry, at).map(|_| ())
        })
        .await
        .unwrap();
    let (_, made) = json_of(
        admin
            .post(m.app.url("/api/admin/codes"))
            .json(&json!({"amount": "2.5", "count": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let r = m
        .client
        .post(m.app.url("/api/topup/redeem"))
        .json(&json!({"code": made["codes"][0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..2 {
        assert_eq!(call(&m, &m.key, "gpt-test").await.0, 200);
    }
    assert_eq!(call(&m, &m.key, "nope").await.0, 404);
    short_request(&m).await;
    // root spends on the free model only.
    fund_now(&m.app, root, "1").await;
    let (_, root_key) = m.app.create_key(&admin, json!({"name": "r"})).await;
    assert_eq!(call(&m, &root_key, "demo:free").await.0, 200);
    m.app.flush().await;

    let o = get(&admin, &m.app, "/api/admin/overview?days=7").await;
    assert_eq!(o["days"], 7);
    let totals = &o["totals"];
    assert_eq!(totals["revenue"], "20.000000", "paid top-ups only");
    assert_eq!(totals["redeemed"], "2.500000");
    assert_eq!(
        totals["spend"], "0.120000",
        "0.05 + 0.05 + the 0.02 collected"
    );
    assert_eq!(totals["uncollected"], "0.030000");
    assert_eq!(totals["uncollected_requests"], 1);
    assert_eq!(totals["requests"], 5);
    assert_eq!(totals["errors"], 1);
    assert_eq!(totals["active_members"], 2);
    assert_eq!(totals["members"], 2);
    assert_eq!(totals["new_members"], 2);
    let days = o["by_day"].as_array().unwrap();
    assert!(!days.is_empty());
    let today: Vec<&Value> = days.iter().filter(|d| d["requests"] != 0).collect();
    assert_eq!(today.len(), 1);
    assert_eq!(today[0]["spend"], "0.120000");
    assert_eq!(today[0]["uncollected"], "0.030000");
    assert_eq!(
        o["top_members"],
        json!([{"user_id": m.user, "username": "alice", "spend": "0.120000", "requests": 3}])
    );
    assert_eq!(o["top_models"][0]["model"], "gpt-test");
    assert_eq!(o["top_models"][0]["cost"], "0.120000");
    assert_eq!(o["top_models"][0]["requests"], 3);
    assert_eq!(o["top_models"][0]["uncollected"], "0.030000");

    // Days before the period are left out.
    m.app.clock.advance_secs(10 * 86_400);
    let admin = m.app.login("root").await;
    let o = get(&admin, &m.app, "/api/admin/overview?days=7").await;
    assert_eq!(o["totals"]["spend"], "0.000000");
    assert_eq!(o["totals"]["active_members"], 0);
    assert_eq!(o["by_day"], json!([]));
}

#[tokio::test]
async fn admins_create_accounts() {
    let app = spawn_app_with(|c| {
        c.server.allow_registration = false;
        c.groups.insert(
            "vip".into(),
            code_router::pricing::Rate("0.8".parse().unwrap()),
        );
    })
    .await;
    app.create_user("root", Role::Admin).await;
    app.create_user("mallory", Role::User).await;
    let admin = app.login("root").await;
    let member = app.login("mallory").await;
    let body = json!({"username": "carol", "password": "carols password", "group": "vip"});
    let denied = member
        .post(app.url("/api/admin/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let (status, made) = json_of(
        admin
            .post(app.url("/api/admin/users"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(
        (
            made["username"].as_str(),
            made["role"].as_str(),
            made["group"].as_str(),
            made["multiplier"].as_str()
        ),
        (Some("carol"), Some("user"), Some("vip"), Some("0.8"))
    );
    assert_eq!(made["balance"], "0.000000");
    let login = cookie_client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "carol", "password": "carols password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the new account signs in");
    for (bad, status, code) in [
        (
            json!({"username": "carol", "password": "another password"}),
            409,
            "username_taken",
        ),
        (
            json!({"username": "x", "password": "long enough pw"}),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "dave", "password": "short"}),
            400,
            "invalid_password",
        ),
        (
            json!({"username": "dave", "password": "long enough pw", "group": "gold"}),
            400,
            "unknown_group",
        ),
        (
            json!({"username": "dave", "password": "long enough pw", "role": "owner"}),
            400,
            "invalid_request",
        ),
    ] {
        let (got, answer) = json_of(
            admin
                .post(app.url("/api/admin/users"))
                .json(&bad)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((got, error_code(&answer).as_str()), (status, code), "{bad}");
    }
    let (_, admin_made) = json_of(
        admin
            .post(app.url("/api/admin/users"))
            .json(&json!({"username": "erin", "password": "erins password", "role": "admin"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(admin_made["role"], "admin");
    assert_eq!(admin_made["multiplier"], "1");
    let list = get(&admin, &app, "/api/admin/users?q=carol").await;
    assert_eq!(list["data"][0]["multiplier"], "0.8");
}

#[tokio::test]
async fn an_unused_code_can_be_voided_and_then_never_redeemed() {
    let app = spawn_app().await;
    app.create_user("root", Role::Admin).await;
    app.create_user("alice", Role::User).await;
    let admin = app.login("root").await;
    let member = app.login("alice").await;
    let (_, made) = json_of(
        admin
            .post(app.url("/api/admin/codes"))
            .json(&json!({"amount": "3", "count": 2}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let codes: Vec<String> = made["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let listed = get(&admin, &app, "/api/admin/codes").await;
    let id_of = |code: &str| -> i64 {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| code.starts_with(r["hint"].as_str().unwrap().trim_end_matches('…')))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (voided_id, used_id) = (id_of(&codes[0]), id_of(&codes[1]));
    let void = |id: i64, client: reqwest::Client| {
        let url = app.url(&format!("/api/admin/codes/{id}/void"));
        async move { json_of(client.post(url).json(&json!({})).send().await.unwrap()).await }
    };
    let (status, _) = void(voided_id, member.clone()).await;
    assert_eq!(status, 403, "admins only");
    let (status, row) = void(voided_id, admin.clone()).await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["status"], "voided");
    assert!(row["voided_at"].is_string());
    let (status, again) = void(voided_id, admin.clone()).await;
    assert_eq!(
        (status, again["voided_at"].clone()),
        (200, row["voided_at"].clone()),
        "voiding twice changes nothing"
    );

    let redeem = |code: String| {
        let (client, url) = (member.clone(), app.url("/api/topup/redeem"));
        async move {
            json_of(
                client
                    .post(url)
                    .json(&json!({ "code": code }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, body) = redeem(codes[0].clone()).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "code_voided"));
    let (status, _) = redeem(codes[1].clone()).await;
    assert_eq!(status, 200);
    let (status, body) = void(used_id, admin.clone()).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "code_used"));
    let (status, body) = void(999_999, admin.clone()).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (404, "code_not_found")
    );

    let voided = get(&admin, &app, "/api/admin/codes?status=voided").await;
    assert_eq!(voided["data"].as_array().unwrap().len(), 1);
    assert_eq!(voided["data"][0]["id"], voided_id);
    let unused = get(&admin, &app, "/api/admin/codes?status=unused").await;
    assert_eq!(unused["data"], json!([]));
    let me = get(&member, &app, "/api/me").await;
    assert_eq!(
        me["balance"], "3.000000",
        "only the code that was not voided credited"
    );
}

#[tokio::test]
async fn an_upstream_test_really_calls_each_model() {
    let m = member("", "1").await;
    m.app.create_user("root", Role::Admin).await;
    let admin = m.app.login("root").await;
    let test = |name: &str, body: Value, client: &reqwest::Client| {
        let (client, url) = (
            client.clone(),
            m.app.url(&format!("/api/admin/upstreams/{name}/test")),
        );
        async move { json_of(client.post(url).json(&body).send().await.unwrap()).await }
    };
    let (status, _) = test("main", json!({}), &m.client).await;
    assert_eq!(status, 403);
    let before = m.fake.hits();
    let (status, report) = test("main", json!({}), &admin).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(m.fake.hits() - before, 2, "one real call per model");
    assert_eq!(report["upstream"], "main");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["model"], "gpt-test");
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["answer"], "Hello there, friend!");
    assert!(results[0]["latency_ms"].is_u64());
    assert_eq!(
        results[1]["upstream_model"], "other-2",
        "sent by the upstream's own name"
    );
    let sent: Vec<Value> = m.fake.received.lock().unwrap()[before..].to_vec();
    let mut models: Vec<&str> = sent.iter().map(|b| b["model"].as_str().unwrap()).collect();
    models.sort_unstable();
    assert_eq!(models, ["gpt-test", "other-2"]);
    assert!(sent
        .iter()
        .all(|b| b["max_tokens"] == 8 && b["stream"] == false));

    m.fake.set(Mode::Status(503));
    let (_, failing) = test("main", json!({"model": "gpt-test"}), &admin).await;
    let one = &failing["results"][0];
    assert_eq!(failing["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        (one["ok"].as_bool(), one["status"].as_u64()),
        (Some(false), Some(503))
    );
    assert!(
        one["error"].as_str().unwrap().contains("fake says 503"),
        "{one}"
    );
    m.fake.set(Mode::Status(400));
    let (_, refused) = test("main", json!({"model": "gpt-test"}), &admin).await;
    assert_eq!(refused["results"][0]["status"], 400);
    assert_eq!(refused["results"][0]["ok"], false);
    m.fake.set(Mode::Ok);

    let (_, demo) = test("demo", json!({}), &admin).await;
    assert_eq!(demo["results"][0]["ok"], true);
    assert!(!demo["results"][0]["answer"].as_str().unwrap().is_empty());
    let (status, body) = test("nowhere", json!({}), &admin).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (404, "upstream_not_found")
    );
    let (status, body) = test("main", json!({"model": "demo:free"}), &admin).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "model_not_served")
    );
    // Nothing of it was billed or logged as a member's request.
    m.app.flush().await;
    let logs = get(&admin, &m.app, "/api/admin/logs").await;
    assert_eq!(logs["data"], json!([]));
}

#[tokio::test]
async fn a_key_tests_with_a_free_model_or_else_the_cheapest() {
    let m = member("", "1").await;
    let keys = get(&m.client, &m.app, "/api/keys").await;
    assert_eq!(keys["data"][0]["test_model"], "demo:free");
    let (status, paid) = json_of(
        m.client
            .post(m.app.url("/api/keys"))
            .json(&json!({"name": "paid", "models": ["gpt-test", "other"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(paid["test_model"], "other", "the cheaper of the two");
    let (_, only) = json_of(
        m.client
            .patch(m.app.url(&format!("/api/keys/{}", paid["id"])))
            .json(&json!({"models": ["gpt-test", "unpriced"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(only["test_model"], "gpt-test");
    let (_, none) = json_of(
        m.client
            .patch(m.app.url(&format!("/api/keys/{}", paid["id"])))
            .json(&json!({"models": ["unpriced"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(none["test_model"], Value::Null);
    let me = get(&m.client, &m.app, "/api/me").await;
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn admin_orders_name_their_account() {
    let app = spawn_app().await;
    app.create_user("root", Role::Admin).await;
    let payer = app.create_user("payer", Role::User).await;
    app.state
        .db
        .write(move |conn| {
            conn.execute(
                "INSERT INTO orders (order_no, user_id, provider, amount, pay_amount, pay_currency,
                                     pay_decimals, created_at, updated_at)
                 VALUES ('crOne', ?1, 'stripe', 5000000000, 500, 'usd', 2, 0, 0)",
                [payer],
            )
            .store("add an order")?;
            Ok(())
        })
        .await
        .unwrap();
    let admin = app.login("root").await;
    let orders = get(&admin, &app, "/api/admin/orders").await;
    assert_eq!(orders["data"][0]["order_id"], "crOne");
    assert_eq!(orders["data"][0]["username"], "payer");
    assert_eq!(orders["data"][0]["user_id"], payer);
}
