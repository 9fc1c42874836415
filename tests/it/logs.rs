//! Request logs as a member exports them: the CSV never hands a spreadsheet a formula.

use code_router::accounts::Role;
use serde_json::json;

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
