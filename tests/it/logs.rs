//! Request logs as members and admins read them: the CSV never hands a spreadsheet a formula and
//! exports every row asked for; the usage rollups are the exact sums of the logs after any
//! traffic; filters and their totals find the rows a plain scan finds.

use code_router::accounts::Role;
use code_router::config::Config;
use code_router::db::Store;
use code_router::logs::LogRow;
use code_router::relay::usage::Usage;
use serde_json::{json, Value};

use crate::fake_upstream::{Fake, Mode};
use crate::helpers::*;

/// A model name is the client's own text and lands in the log: a leading tab or carriage
/// return (which spreadsheets skip before looking for `=`) must be neutralised like `=` is.
#[tokio::test]
async fn csv_export_neutralises_formulas_behind_tab_and_carriage_return() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let member = app.login("alice").await;
    let (_, key) = app.create_key(&member, json!({"name": "main"})).await;
    for model in ["\t=1+2", "\r=3+4", "=5+6"] {
        let r = reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{model:?} is not served");
    }
    app.flush().await;
    let csv = member
        .get(app.url("/api/logs.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cells: Vec<&str> = csv
        .split([',', '\n'])
        .map(|c| c.trim_start_matches('"'))
        .collect();
    for formula in ["=1+2", "=3+4", "=5+6"] {
        assert!(csv.contains(formula), "{formula} is in the export: {csv:?}");
    }
    // Spreadsheets skip leading tabs, carriage returns and spaces before looking for a formula.
    for cell in cells {
        let looks_like = cell.trim_start_matches(['\t', '\r', ' ']);
        if looks_like.starts_with(['=', '+', '@']) {
            assert!(cell.starts_with('\''), "{cell:?} is neutralised: {csv:?}");
        }
    }
}

/// The rollups as stored, and as summed again from the log rows, in the same order.
async fn rollups_and_log_sums(app: &TestApp) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    const COLUMNS: &str = "requests, charged, input_tokens, cache_read_tokens, cache_write_tokens,
        cache_write_1h_tokens, output_tokens, reasoning_tokens, cost, uncollected,
        uncollected_requests";
    app.state
        .db
        .read(|conn| {
            let read = |sql: &str| -> rusqlite::Result<Vec<Vec<i64>>> {
                let mut stmt = conn.prepare(sql)?;
                let rows = stmt.query_map([], |r| {
                    let mut row = vec![r.get(0)?, r.get(1)?, r.get(2)?];
                    row.push(r.get::<_, String>(3)?.len() as i64);
                    for at in 4..16 {
                        row.push(r.get(at)?);
                    }
                    Ok(row)
                })?;
                rows.collect()
            };
            let stored = read(&format!(
                "SELECT user_id, day, key_id, model, status, {COLUMNS} FROM usage_daily
                 ORDER BY user_id, day, key_id, model, status"
            )).store("read the usage rollups")?;
            let summed = read(
                "SELECT COALESCE(user_id, 0) AS u, created_at / 86400 AS d, COALESCE(key_id, 0) AS k,
                        model, status, count(*), sum(cost > 0), sum(input_tokens),
                        sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens),
                        sum(output_tokens), sum(reasoning_tokens), sum(cost), sum(uncollected),
                        sum(uncollected > 0)
                 FROM request_logs GROUP BY u, d, k, model, status ORDER BY u, d, k, model, status",
            ).store("sum the log rows")?;
            Ok((stored, summed))
        })
        .await
        .unwrap()
}

/// Successes (plain, streamed, cached and reasoning tokens), upstream failures, unknown models,
/// unknown keys, a key over its limit, free requests, over two days: the rollups the request
/// writer keeps equal the sums of the log rows, column for column, and the ledger's charges.
#[tokio::test]
async fn usage_rollups_are_the_exact_sums_of_the_logs_after_mixed_traffic() {
    let fake = Fake::start(Mode::Ok).await;
    let config = Config::parse(
        &format!(
            "[models.\"gpt-test\"]\ninput = \"1000\"\noutput = \"2000\"\ncache_read = \"100\"\n\
             [models.\"demo:free\"]\n\
             [[upstreams]]\nname = \"main\"\nbase_url = \"{}\"\napi_key = \"k\"\nmodels = [\"gpt-test\"]\n\
             [[upstreams]]\nname = \"demo\"\nkind = \"demo\"\nmodels = [\"demo:free\"]\n",
            fake.base_url
        ),
        "t",
    )
    .unwrap();
    let app = spawn_app_config(config).await;
    let user = app.create_user("alice", Role::User).await;
    app.fund(user, "10").await;
    let member = app.login("alice").await;
    let (_, key) = app.create_key(&member, json!({"name": "main"})).await;
    let (_, small) = app
        .create_key(&member, json!({"name": "small", "limit": "0.06"}))
        .await;
    let call = |key: String, model: &'static str, stream: bool| {
        let url = app.url("/v1/chat/completions");
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&json!({"model": model, "stream": stream, "max_tokens": 30,
                              "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
    };
    for day in 0..2 {
        fake.set(Mode::Ok);
        call(key.clone(), "gpt-test", false).await;
        call(key.clone(), "gpt-test", true).await;
        fake.set(Mode::Cached);
        call(key.clone(), "gpt-test", false).await;
        fake.set(Mode::Status(500));
        call(key.clone(), "gpt-test", false).await;
        fake.set(Mode::Ok);
        call(key.clone(), "nope", false).await;
        call("sk-unknown".into(), "gpt-test", false).await;
        call(key.clone(), "demo:free", false).await;
        // 0.05 each: the second is refused by the key's limit of 0.06.
        call(small.clone(), "gpt-test", false).await;
        call(small.clone(), "gpt-test", false).await;
        app.flush().await;
        if day == 0 {
            app.clock.advance_secs(86_400);
        }
    }
    let (stored, summed) = rollups_and_log_sums(&app).await;
    assert!(
        stored.len() >= 10,
        "a rollup row per day, key, model and status: {stored:?}"
    );
    assert_eq!(stored, summed);
    let statuses: std::collections::BTreeSet<i64> = stored.iter().map(|r| r[4]).collect();
    assert!(
        statuses.len() >= 4,
        "successes and failures of several kinds: {statuses:?}"
    );
    let charged: i64 = stored.iter().map(|r| r[13]).sum();
    let settled: i64 = app
        .state
        .db
        .read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT -sum(amount) FROM ledger WHERE kind = 'settle'",
                    [],
                    |r| r.get(0),
                )
                .store("sum the settled charges")?)
        })
        .await
        .unwrap();
    assert_eq!(
        charged, settled,
        "the rollups' cost is what the ledger charged"
    );
    assert!(app.audit().await.is_clean());

    // The dashboard's totals are those sums.
    let (status, usage) = json_of(
        member
            .get(app.url("/api/usage?days=7"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    let days = usage["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{usage}");
    let of_alice: Vec<&Vec<i64>> = stored.iter().filter(|r| r[0] == user).collect();
    let requests: i64 = of_alice.iter().map(|r| r[5]).sum();
    let day_requests: i64 = days.iter().map(|d| d["requests"].as_i64().unwrap()).sum();
    assert_eq!(day_requests, requests);
    let cost: i64 = of_alice.iter().map(|r| r[13]).sum();
    let key_cost: i64 = usage["by_key"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| units(&k["cost"]))
        .sum();
    assert_eq!(key_cost, cost);
    let (_, logs) = json_of(member.get(app.url("/api/logs")).send().await.unwrap()).await;
    assert_eq!(logs["summary"]["requests"], requests);
    assert_eq!(units(&logs["summary"]["cost"]), cost);

    // The operator's rollups are the sums of the per-account ones, and the overview and the
    // admin's totals read from them answer what the queries over the per-account rollups did.
    app.create_user("root", Role::Admin).await;
    let admin = app.login("root").await;
    assert_operator_rollups_are_sums(&app).await;
    for days in [1, 2, 7, 366] {
        let (status, got) = json_of(
            admin
                .get(app.url(&format!("/api/admin/overview?days={days}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got, overview_the_old_way(&app, days).await, "days={days}");
    }
    for query in [
        "",
        "?model=gpt-test",
        "?status=error",
        "?status=200",
        "?model=nope",
    ] {
        let (status, page) = json_of(
            admin
                .get(app.url(&format!("/api/admin/logs{query}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let condition = match query {
            "" => "1 = 1",
            "?model=gpt-test" => "model = 'gpt-test'",
            "?status=error" => "status >= 400",
            "?status=200" => "status = 200",
            _ => "model = 'nope'",
        };
        let sql = format!(
            "SELECT count(*), COALESCE(sum(status >= 400), 0), COALESCE(sum(input_tokens), 0),
                    COALESCE(sum(output_tokens), 0), COALESCE(sum(cost), 0),
                    COALESCE(sum(uncollected), 0)
             FROM request_logs WHERE {condition}"
        );
        let want: [i64; 6] = app
            .state
            .db
            .read(move |conn| {
                Ok(conn
                    .query_row(&sql, [], |r| {
                        Ok([
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ])
                    })
                    .store("sum the log rows")?)
            })
            .await
            .unwrap();
        let s = &page["summary"];
        let got = [
            s["requests"].as_i64().unwrap(),
            s["errors"].as_i64().unwrap(),
            s["input_tokens"].as_i64().unwrap(),
            s["output_tokens"].as_i64().unwrap(),
            units(&s["cost"]),
            units(&s["uncollected"]),
        ];
        assert_eq!(got, want, "the totals of /api/admin/logs{query}");
    }

    // Pruning a day of logs prunes it from the operator's rollups too.
    let now = code_router::clock::Clock::now(app.clock.as_ref());
    app.state
        .db
        .write(move |conn| code_router::logs::retention::delete_logs_before(conn, now))
        .await
        .unwrap();
    assert_operator_rollups_are_sums(&app).await;
    let (_, got) = json_of(
        admin
            .get(app.url("/api/admin/overview?days=7"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got, overview_the_old_way(&app, 7).await);
    assert_eq!(got["by_day"].as_array().unwrap().len(), 1, "{got}");
}

/// `usage_daily_models` and `usage_daily_members` hold, row for row, the sums of `usage_daily`.
async fn assert_operator_rollups_are_sums(app: &TestApp) {
    let pairs = [
        (
            "SELECT day, model, status, requests, charged, input_tokens, cache_read_tokens,
                    cache_write_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost,
                    uncollected, uncollected_requests
             FROM usage_daily_models ORDER BY day, model, status",
            "SELECT day, model, status, sum(requests), sum(charged), sum(input_tokens),
                    sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens),
                    sum(output_tokens), sum(reasoning_tokens), sum(cost), sum(uncollected),
                    sum(uncollected_requests)
             FROM usage_daily GROUP BY day, model, status ORDER BY day, model, status",
        ),
        (
            "SELECT day, user_id, '', requests, charged, cost FROM usage_daily_members
             ORDER BY day, user_id",
            "SELECT day, user_id, '', sum(requests), sum(charged), sum(cost) FROM usage_daily
             GROUP BY day, user_id ORDER BY day, user_id",
        ),
    ];
    for (stored, summed) in pairs {
        let (a, b) = app
            .state
            .db
            .read(move |conn| {
                let read = |sql: &str| -> rusqlite::Result<Vec<(i64, String, Vec<i64>)>> {
                    let mut stmt = conn.prepare(sql)?;
                    let n = stmt.column_count();
                    let rows = stmt.query_map([], |r| {
                        let key = match r.get_ref(1)? {
                            rusqlite::types::ValueRef::Text(t) => {
                                String::from_utf8_lossy(t).into_owned()
                            }
                            v => format!("{:?}", v.as_i64()),
                        };
                        let mut sums = vec![r.get(2).unwrap_or(0)];
                        for at in 3..n {
                            sums.push(r.get(at)?);
                        }
                        Ok((r.get(0)?, key, sums))
                    })?;
                    rows.collect()
                };
                Ok((
                    read(stored).store("read the operator's rollups")?,
                    read(summed).store("sum the rollups")?,
                ))
            })
            .await
            .unwrap();
        assert!(!a.is_empty());
        assert_eq!(a, b, "{stored}");
    }
}

/// `/api/admin/overview` as the queries before the operator's rollups answered it: every
/// figure summed from `usage_daily`, per account, key, model, day and status.
async fn overview_the_old_way(app: &TestApp, days: i64) -> Value {
    let now = code_router::clock::Clock::now(app.clock.as_ref());
    let since = (now - (days - 1) * 86_400).div_euclid(86_400) * 86_400;
    let money =
        |units: i64| Value::from(code_router::ledger::money::Money::from_units(units).to_string());
    app.state
        .db
        .read(move |conn| {
            let day = since / 86_400;
            let mut by_day = Vec::new();
            let mut totals = [0i64; 6];
            {
                let mut stmt = conn
                    .prepare(
                        "SELECT date(day * 86400, 'unixepoch'), sum(requests),
                            sum(CASE WHEN status >= 400 THEN requests ELSE 0 END), sum(cost),
                            sum(uncollected), sum(uncollected_requests)
                         FROM usage_daily WHERE day >= ?1 GROUP BY day ORDER BY day",
                    )
                    .store("prepare")?;
                let mut rows = stmt.query([day]).store("query")?;
                while let Some(r) = rows.next().store("row")? {
                    let v: [i64; 5] = [
                        r.get(1).store("get")?,
                        r.get(2).store("get")?,
                        r.get(3).store("get")?,
                        r.get(4).store("get")?,
                        r.get(5).store("get")?,
                    ];
                    for (t, x) in totals.iter_mut().zip(v) {
                        *t += x;
                    }
                    by_day.push(json!({
                        "date": r.get::<_, String>(0).store("get")?,
                        "revenue": money(0), "redeemed": money(0),
                        "spend": money(v[2]), "requests": v[0], "errors": v[1],
                        "uncollected": money(v[3]),
                    }));
                }
            }
            // This test's traffic credits through the admin's adjustments only (no top-ups or
            // codes), so revenue and redemptions are zero.
            let credits: i64 = conn
                .query_row(
                    "SELECT count(*) FROM ledger WHERE kind IN ('topup', 'redeem')",
                    [],
                    |r| r.get(0),
                )
                .store("count credits")?;
            assert_eq!(credits, 0);
            let active: i64 = conn
                .query_row(
                    "SELECT count(DISTINCT user_id) FROM usage_daily WHERE day >= ?1 AND user_id != 0",
                    [day],
                    |r| r.get(0),
                )
                .store("active")?;
            let (members, new_members): (i64, i64) = conn
                .query_row(
                    "SELECT count(*), COALESCE(sum(created_at >= ?1), 0) FROM users",
                    [since],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .store("members")?;
            let mut top_members = Vec::new();
            {
                let mut stmt = conn
                    .prepare(
                        "SELECT d.user_id, u.username, sum(d.cost) AS spend, sum(d.charged)
                         FROM usage_daily d JOIN users u ON u.id = d.user_id
                         WHERE d.day >= ?1 AND d.user_id != 0
                         GROUP BY d.user_id HAVING sum(d.charged) > 0
                         ORDER BY spend DESC, d.user_id LIMIT 10",
                    )
                    .store("prepare")?;
                let mut rows = stmt.query([day]).store("query")?;
                while let Some(r) = rows.next().store("row")? {
                    top_members.push(json!({
                        "user_id": r.get::<_, i64>(0).store("get")?,
                        "username": r.get::<_, String>(1).store("get")?,
                        "spend": money(r.get(2).store("get")?),
                        "requests": r.get::<_, i64>(3).store("get")?,
                    }));
                }
            }
            let mut top_models = Vec::new();
            {
                let mut stmt = conn
                    .prepare(
                        "SELECT model, sum(cost) AS total, sum(requests), sum(uncollected)
                         FROM usage_daily WHERE day >= ?1 AND model != ''
                         GROUP BY model ORDER BY total DESC, sum(requests) DESC, model LIMIT 10",
                    )
                    .store("prepare")?;
                let mut rows = stmt.query([day]).store("query")?;
                while let Some(r) = rows.next().store("row")? {
                    top_models.push(json!({
                        "model": r.get::<_, String>(0).store("get")?,
                        "cost": money(r.get(1).store("get")?),
                        "requests": r.get::<_, i64>(2).store("get")?,
                        "uncollected": money(r.get(3).store("get")?),
                    }));
                }
            }
            Ok(json!({
                "days": days,
                "by_day": by_day,
                "totals": {
                    "revenue": money(0), "redeemed": money(0), "spend": money(totals[2]),
                    "requests": totals[0], "errors": totals[1], "uncollected": money(totals[3]),
                    "uncollected_requests": totals[4], "active_members": active,
                    "new_members": new_members, "members": members,
                },
                "top_members": top_members,
                "top_models": top_models,
            }))
        })
        .await
        .unwrap()
}

/// Nano-dollars of a decimal string.
fn units(v: &Value) -> i64 {
    code_router::ledger::money::Money::parse(v.as_str().unwrap())
        .unwrap()
        .units()
}

/// Rows as the request writer would leave them, written straight to the database (with their
/// rollups): `n` rows over `days` days before now, of two models, two keys, several statuses.
fn seeded_rows(user: i64, keys: [i64; 2], now: i64, n: usize, days: i64) -> Vec<LogRow> {
    let start = now - days * 86_400;
    let step = (days * 86_400) / n as i64;
    (0..n)
        .map(|i| {
            let status = match i % 17 {
                0 => 500,
                5 => 429,
                9 => 404,
                _ => 200,
            };
            LogRow {
                request_id: format!("req_seed{i:07}"),
                created_at: start + i as i64 * step,
                user_id: Some(user),
                key_id: Some(keys[i % 2]),
                key_name: "seed".into(),
                endpoint: "chat",
                model: if i % 5 == 0 { "rare-model" } else { "gpt-test" }.into(),
                upstream: "main".into(),
                usage: Usage {
                    input: 10 + (i % 7) as u64,
                    output: 20,
                    ..Default::default()
                },
                cost: code_router::ledger::money::Money::from_units(if status == 200 {
                    1000 + i as i64
                } else {
                    0
                }),
                status,
                ..Default::default()
            }
        })
        .collect()
}

/// A member's CSV of 100,500 rows holds every one of them, streamed (no silent cap), and a
/// `limit` asked for caps it.
#[tokio::test]
async fn csv_export_streams_every_row_past_a_hundred_thousand() {
    let app = spawn_app().await;
    let user = app.create_user("alice", Role::User).await;
    let member = app.login("alice").await;
    let now = code_router::clock::Clock::now(app.clock.as_ref());
    let rows = seeded_rows(user, [0, 0], now, 100_500, 30);
    app.state
        .db
        .write(move |conn| {
            let tx = conn.transaction().store("begin writing the log rows")?;
            code_router::logs::record_logs(&tx, &rows)?;
            tx.commit().store("commit the log rows")?;
            Ok(())
        })
        .await
        .unwrap();
    let csv = member
        .get(app.url("/api/logs.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 100_500, "a header and every row");
    assert!(lines[0].starts_with("time,request_id,"));
    assert!(
        lines[1].contains("req_seed0100499"),
        "newest first: {}",
        lines[1]
    );
    assert!(
        lines[100_500].contains("req_seed0000000"),
        "down to the oldest"
    );
    let ids: std::collections::HashSet<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), 100_500, "no row twice");

    let capped = member
        .get(app.url("/api/logs.csv?limit=1500&status=500"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = capped.lines().collect();
    assert_eq!(lines.len(), 1 + 1500);
    assert!(
        lines[1..].iter().all(|l| l.contains(",500,")),
        "only the filter's rows"
    );
}

/// Every filter (and pairs of them) answers, page by page and in its totals, what a plain scan
/// of the rows finds: ranges of whole days and of odd times, models that are rare or never
/// used, statuses, keys, request ids, for a member and for an admin.
#[tokio::test]
async fn filters_find_the_rows_a_plain_scan_finds() {
    let app = spawn_app().await;
    let user = app.create_user("alice", Role::User).await;
    let other = app.create_user("bob", Role::User).await;
    app.create_user("root", Role::Admin).await;
    let member = app.login("alice").await;
    let admin = app.login("root").await;
    let (k1, _) = app.create_key(&member, json!({"name": "one"})).await;
    let (k2, _) = app.create_key(&member, json!({"name": "two"})).await;
    let now = code_router::clock::Clock::now(app.clock.as_ref());
    let mut rows = seeded_rows(user, [k1, k2], now, 1200, 6);
    rows.extend(
        seeded_rows(other, [0, 0], now, 300, 6)
            .into_iter()
            .map(|mut r| {
                r.request_id.push('b');
                r.key_id = None;
                r
            }),
    );
    rows.sort_by_key(|r| r.created_at);
    // Every third row has an id as the server makes them now, which carries its time.
    for (i, r) in rows.iter_mut().enumerate() {
        if i % 3 == 0 {
            r.request_id = code_router::request_id::new(r.created_at * 1000 + 500);
        }
    }
    let timed: Vec<String> = [300, 301 * 3, 1497]
        .iter()
        .map(|&i| rows[i].request_id.clone())
        .collect();
    assert!(timed
        .iter()
        .all(|id| code_router::request_id::time_ms(id).is_some()));
    app.state
        .db
        .write(move |conn| {
            let tx = conn.transaction().store("begin writing the log rows")?;
            code_router::logs::record_logs(&tx, &rows)?;
            tx.commit().store("commit the log rows")?;
            Ok(())
        })
        .await
        .unwrap();
    let day = |back: i64| code_router::clock::rfc3339(now - back * 86_400)[..10].to_string();
    let odd = |back_secs: i64| code_router::clock::rfc3339(now - back_secs);
    let filters: Vec<(Vec<(&str, String)>, String)> = vec![
        (vec![], "1 = 1".into()),
        (
            vec![("model", "rare-model".into())],
            "model = 'rare-model'".into(),
        ),
        (
            vec![("model", "never-used".into())],
            "model = 'never-used'".into(),
        ),
        (vec![("status", "500".into())], "status = 500".into()),
        (vec![("status", "200".into())], "status = 200".into()),
        (vec![("status", "error".into())], "status >= 400".into()),
        (vec![("status", "success".into())], "status < 400".into()),
        (vec![("key_id", k2.to_string())], format!("key_id = {k2}")),
        (
            vec![("request_id", "req_seed0000333".into())],
            "request_id = 'req_seed0000333'".into(),
        ),
        (
            vec![("request_id", timed[0].clone())],
            format!("request_id = '{}'", timed[0]),
        ),
        (
            vec![("request_id", timed[1].clone()), ("status", "200".into())],
            format!("request_id = '{}' AND status = 200", timed[1]),
        ),
        (
            vec![("request_id", timed[2].clone()), ("from", day(1))],
            format!(
                "request_id = '{}' AND created_at >= {}",
                timed[2],
                (now / 86_400 - 1) * 86_400
            ),
        ),
        (
            vec![("from", day(3)), ("to", day(1))],
            format!(
                "created_at >= {} AND created_at < {}",
                (now / 86_400 - 3) * 86_400,
                (now / 86_400) * 86_400
            ),
        ),
        (
            vec![
                ("from", odd(4 * 86_400 + 5_000)),
                ("to", odd(86_400 + 7_000)),
                ("model", "rare-model".into()),
            ],
            format!(
                "created_at >= {} AND created_at < {} AND model = 'rare-model'",
                now - 4 * 86_400 - 5_000,
                now - 86_400 - 7_000
            ),
        ),
        (
            vec![
                ("from", odd(50_000)),
                ("to", odd(20_000)),
                ("status", "error".into()),
            ],
            format!(
                "created_at >= {} AND created_at < {} AND status >= 400",
                now - 50_000,
                now - 20_000
            ),
        ),
    ];
    for (query, condition) in filters {
        for (client, owner) in [(&member, Some(user)), (&admin, None)] {
            let path = if owner.is_some() {
                "/api/logs"
            } else {
                "/api/admin/logs"
            };
            let scope = match owner {
                Some(u) => format!("user_id = {u} AND {condition}"),
                None => condition.clone(),
            };
            let (want_ids, want): (Vec<String>, (i64, i64, i64, i64, i64)) = app
                .state
                .db
                .read(move |conn| {
                    let mut stmt = conn.prepare(&format!(
                        "SELECT request_id FROM request_logs WHERE {scope} ORDER BY id DESC"
                    )).store("prepare the scan of the log rows")?;
                    let ids = stmt
                        .query_map([], |r| r.get(0)).store("scan the log rows")?
                        .collect::<Result<Vec<String>, _>>().store("read the scanned log rows")?;
                    let sums = conn.query_row(
                        &format!(
                            "SELECT count(*), COALESCE(sum(status >= 400), 0), COALESCE(sum(input_tokens), 0),
                                    COALESCE(sum(output_tokens), 0), COALESCE(sum(cost), 0)
                             FROM request_logs WHERE {scope}"
                        ),
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    ).store("sum the scanned log rows")?;
                    Ok((ids, sums))
                })
                .await
                .unwrap();
            let mut got_ids: Vec<String> = Vec::new();
            let mut cursor: Option<String> = None;
            let mut summary = Value::Null;
            loop {
                let mut params: Vec<(&str, String)> = query.clone();
                params.push(("limit", "100".into()));
                if let Some(c) = &cursor {
                    params.push(("cursor", c.clone()));
                }
                let r = client
                    .get(app.url(path))
                    .query(&params)
                    .send()
                    .await
                    .unwrap();
                let (status, page) = json_of(r).await;
                assert_eq!(status, 200, "{query:?}: {page}");
                if cursor.is_none() {
                    summary = page["summary"].clone();
                }
                for row in page["data"].as_array().unwrap() {
                    got_ids.push(row["request_id"].as_str().unwrap().to_string());
                }
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            assert_eq!(got_ids, want_ids, "{path} {query:?}");
            let got = (
                summary["requests"].as_i64().unwrap(),
                summary["errors"].as_i64().unwrap(),
                summary["input_tokens"].as_i64().unwrap(),
                summary["output_tokens"].as_i64().unwrap(),
                units(&summary["cost"]),
            );
            assert_eq!(got, want, "the totals of {path} {query:?}");
        }
    }
}

/// A request is found by the id its answer carried (which says when it arrived), by its member
/// and by an admin, among rows before and after it; so is a request whose row was appended long
/// after it arrived (a long stream), and a row of an id of the older form (no time in it); an id
/// of nobody's request finds nothing, and a member never finds another's request.
#[tokio::test]
async fn requests_are_found_by_their_ids() {
    let config = Config::parse(
        "[models.\"demo:free\"]\n\
         [[upstreams]]\nname = \"demo\"\nkind = \"demo\"\nmodels = [\"demo:free\"]\n",
        "t",
    )
    .unwrap();
    let app = spawn_app_config(config).await;
    let user = app.create_user("alice", Role::User).await;
    let other = app.create_user("bob", Role::User).await;
    app.create_user("root", Role::Admin).await;
    let member = app.login("alice").await;
    let bob = app.login("bob").await;
    let admin = app.login("root").await;
    let (key_id, key) = app.create_key(&member, json!({"name": "main"})).await;
    let clock = || code_router::clock::Clock::now_ms(app.clock.as_ref());
    let write = |rows: Vec<LogRow>| {
        app.state.db.write(move |conn| {
            let tx = conn.transaction().store("begin writing the log rows")?;
            code_router::logs::record_logs(&tx, &rows)?;
            tx.commit().store("commit the log rows")?;
            Ok(())
        })
    };
    let now = clock() / 1000;
    // A day of earlier traffic, then the real requests, then more rows after them.
    let mut before = seeded_rows(user, [key_id, key_id], now, 2000, 1);
    for (i, r) in before.iter_mut().enumerate() {
        if i % 2 == 0 {
            r.request_id = code_router::request_id::new(r.created_at * 1000 + 7);
        }
    }
    let timed_before = before[1000].request_id.clone();
    let old_form = before[1001].request_id.clone();
    write(before).await.unwrap();
    let mut real = Vec::new();
    for _ in 0..3 {
        let at = clock();
        let r = reqwest::Client::new()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "demo:free", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(code_router::request_id::time_ms(&id), Some(at), "{id}");
        real.push(id);
        app.clock.advance_secs(40);
    }
    app.flush().await;
    // A request that arrived two hours ago and ended now: its row comes after two hours of
    // others.
    app.clock.advance_secs(3 * 3600);
    let now = clock() / 1000;
    let long_ago = now - 2 * 3600;
    let mut after: Vec<LogRow> = (0..500)
        .map(|i| LogRow {
            request_id: code_router::request_id::new((now - 3 * 3600 + 200 + i * 20) * 1000),
            created_at: now - 3 * 3600 + 200 + i * 20,
            user_id: Some(if i % 3 == 0 { other } else { user }),
            model: "gpt-test".into(),
            status: 200,
            ..Default::default()
        })
        .collect();
    after.push(LogRow {
        request_id: code_router::request_id::new(long_ago * 1000 + 999),
        created_at: long_ago,
        user_id: Some(user),
        key_id: Some(key_id),
        model: "gpt-long".into(),
        status: 200,
        ..Default::default()
    });
    let long = after.last().unwrap().request_id.clone();
    write(after).await.unwrap();

    let find = |client: &reqwest::Client, path: &str, id: &str| {
        let request = client.get(app.url(path)).query(&[("request_id", id)]);
        async move {
            let (status, page) = json_of(request.send().await.unwrap()).await;
            assert_eq!(status, 200, "{page}");
            let ids: Vec<String> = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["request_id"].as_str().unwrap().to_string())
                .collect();
            (ids, page["summary"]["requests"].as_i64().unwrap())
        }
    };
    let mut all = real.clone();
    all.extend([timed_before, old_form, long]);
    for id in &all {
        for (client, path) in [(&member, "/api/logs"), (&admin, "/api/admin/logs")] {
            assert_eq!(
                find(client, path, id).await,
                (vec![id.clone()], 1),
                "{path} {id}"
            );
        }
        assert_eq!(find(&bob, "/api/logs", id).await, (vec![], 0), "{id}");
    }
    assert_eq!(
        find(&admin, "/api/admin/logs?model=gpt-long", &all[5]).await,
        (vec![all[5].clone()], 1)
    );
    assert_eq!(
        find(&admin, "/api/admin/logs?model=demo:free", &all[5]).await,
        (vec![], 0)
    );
    // Ids of no request: one with a time (now, and a day ago), and one of the older form.
    let nobody = [
        code_router::request_id::new(clock()),
        code_router::request_id::new(clock() - 86_400_000),
        "req_aB3dE5gH7jK9mN1pQ3sT".to_string(),
    ];
    for id in &nobody {
        assert_eq!(
            find(&admin, "/api/admin/logs", id).await,
            (vec![], 0),
            "{id}"
        );
        assert_eq!(find(&member, "/api/logs", id).await, (vec![], 0), "{id}");
    }
}
