//! API keys: records and their SQL. Create, list, update and delete for the owner; the `/v1`
//! check itself (`auth.rs`) reads keys through an in-memory cache.

pub mod auth;
pub mod billing;
pub mod cache;
pub mod handlers;
pub mod secret;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::db::Store;
use crate::error::{ApiError, ApiResult};
use crate::ledger::money::Money;
use crate::net::IpRange;

/// A key as its owner sees it (never with the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub key_hint: String,
    /// The spending limit, or `null` for unlimited.
    #[schema(required = true)]
    pub limit: Option<Money>,
    /// Charged so far (requests in flight are not counted until they end).
    pub used: Money,
    /// What is left under the limit, or `null` for unlimited.
    #[schema(required = true)]
    pub remaining: Option<Money>,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
    pub models: Vec<String>,
    pub ip_allowlist: Vec<String>,
    #[schema(required = true)]
    pub rpm: Option<u32>,
    pub enabled: bool,
    #[schema(format = DateTime, required = true)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The model a one-call test of this key uses: a free (`:free`) one it may use, else the
    /// cheapest priced one for the member's group; `null` when it may use none that is served.
    #[schema(required = true)]
    pub test_model: Option<String>,
}

const VIEW_COLUMNS: &str = "id, name, key_hint, spend_limit, used, expires_at, models, \
                            ip_allowlist, rpm, enabled, last_used_at, created_at";

fn json_list(text: String) -> Vec<String> {
    serde_json::from_str(&text).unwrap_or_default()
}

fn view_from_row(r: &Row) -> rusqlite::Result<KeyView> {
    let limit: Option<i64> = r.get(3)?;
    let used: i64 = r.get(4)?;
    Ok(KeyView {
        id: r.get(0)?,
        name: r.get(1)?,
        key_hint: r.get(2)?,
        limit: limit.map(Money::from_units),
        used: Money::from_units(used),
        remaining: limit.map(|l| Money::from_units((l - used).max(0))),
        expires_at: r.get::<_, Option<i64>>(5)?.map(crate::clock::rfc3339),
        models: json_list(r.get(6)?),
        ip_allowlist: json_list(r.get(7)?),
        rpm: r.get(8)?,
        enabled: r.get(9)?,
        last_used_at: r.get::<_, Option<i64>>(10)?.map(crate::clock::rfc3339),
        created_at: crate::clock::rfc3339(r.get(11)?),
        test_model: None,
    })
}

/// The model a test call with a key allowed `models` (empty: all) should use: a served free
/// model if there is one, else the one whose small call (16 tokens in, 16 out) costs least for
/// `group`, by name among equals.
pub fn cheapest_model(
    prices: &crate::pricing::PriceTable,
    upstreams: &crate::relay::upstreams::UpstreamSet,
    group: &str,
    models: &[String],
) -> Option<String> {
    let usable: Vec<&str> = upstreams
        .models()
        .into_iter()
        .filter(|m| prices.is_served(m) && (models.is_empty() || models.iter().any(|k| k == m)))
        .collect();
    if let Some(free) = usable.iter().find(|m| prices.is_free(m)) {
        return Some((*free).to_string());
    }
    usable
        .into_iter()
        .filter_map(|m| prices.hold(m, group, 16, 16).ok().map(|c| (c, m)))
        .min()
        .map(|(_, m)| m.to_string())
}

/// The settings of a key, checked: what create and update write.
#[derive(Debug, Clone)]
pub struct KeySettings {
    pub name: String,
    pub limit: Option<Money>,
    pub expires_at: Option<i64>,
    pub models: Vec<String>,
    pub ip_allowlist: Vec<IpRange>,
    pub rpm: Option<u32>,
    pub enabled: bool,
}

pub const MAX_KEYS_PER_USER: i64 = 200;

impl KeySettings {
    pub fn check(&self) -> ApiResult<()> {
        let name_len = self.name.trim().chars().count();
        if name_len == 0 || name_len > 64 {
            return Err(ApiError::bad_request(
                "invalid_name",
                "key name must be 1 to 64 characters",
            ));
        }
        if self.limit.is_some_and(|l| l < Money::ZERO) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                "limit must not be negative",
            ));
        }
        if self.models.len() > 500
            || self
                .models
                .iter()
                .any(|m| m.trim().is_empty() || m.len() > 200)
        {
            return Err(ApiError::bad_request(
                "invalid_models",
                "models must be non-empty model names",
            ));
        }
        if self.ip_allowlist.len() > 100 {
            return Err(ApiError::bad_request(
                "invalid_ip_allowlist",
                "at most 100 entries",
            ));
        }
        if self.rpm == Some(0) {
            return Err(ApiError::bad_request(
                "invalid_rpm",
                "rpm must be at least 1, or null",
            ));
        }
        Ok(())
    }

    fn models_json(&self) -> String {
        serde_json::to_string(&self.models).unwrap_or_else(|_| "[]".into())
    }

    fn allowlist_json(&self) -> String {
        let list: Vec<String> = self.ip_allowlist.iter().map(|r| r.to_string()).collect();
        serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
    }
}

/// Stores a new key for `user_id` by its hash; returns its id.
pub fn create_key(
    conn: &Connection,
    user_id: i64,
    settings: &KeySettings,
    key_hash: &[u8],
    key_hint: &str,
    now: i64,
) -> ApiResult<i64> {
    settings.check()?;
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM api_keys WHERE user_id = ?1 AND deleted = 0",
            [user_id],
            |r| r.get(0),
        )
        .store("count the user's keys")?;
    if count >= MAX_KEYS_PER_USER {
        return Err(ApiError::bad_request(
            "too_many_keys",
            format!("an account can have at most {MAX_KEYS_PER_USER} keys"),
        ));
    }
    conn.execute(
        "INSERT INTO api_keys (user_id, name, key_hash, key_hint, spend_limit, expires_at, models,
                               ip_allowlist, rpm, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            user_id,
            settings.name.trim(),
            key_hash,
            key_hint,
            settings.limit.map(Money::units),
            settings.expires_at,
            settings.models_json(),
            settings.allowlist_json(),
            settings.rpm,
            settings.enabled,
            now
        ],
    )
    .store("add the key")?;
    Ok(conn.last_insert_rowid())
}

pub fn list_keys_of_user(conn: &Connection, user_id: i64) -> ApiResult<Vec<KeyView>> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM api_keys WHERE user_id = ?1 AND deleted = 0 ORDER BY id DESC"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .store("prepare the list of keys")?;
    let rows = stmt
        .query_map([user_id], view_from_row)
        .store("list the keys")?;
    Ok(rows.collect::<Result<_, _>>().store("read the keys")?)
}

/// The models the user's live keys may call together: `None` when some key (or the lack of any
/// key yet) allows every model.
pub fn allowed_models_of_user(conn: &Connection, user_id: i64) -> ApiResult<Option<Vec<String>>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT models FROM api_keys WHERE user_id = ?1 AND deleted = 0 AND enabled = 1",
        )
        .store("prepare the list of allowed models")?;
    let lists = stmt
        .query_map([user_id], |r| r.get::<_, String>(0))
        .store("list the allowed models")?;
    let mut allowed: Vec<String> = Vec::new();
    let mut any_key = false;
    for list in lists {
        any_key = true;
        let list = json_list(list.store("read the allowed models")?);
        if list.is_empty() {
            return Ok(None);
        }
        allowed.extend(list);
    }
    if !any_key {
        return Ok(None);
    }
    allowed.sort();
    allowed.dedup();
    Ok(Some(allowed))
}

/// One of the user's own keys; someone else's key is as good as missing.
pub fn find_key_of_user(conn: &Connection, user_id: i64, key_id: i64) -> ApiResult<KeyView> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM api_keys WHERE id = ?1 AND user_id = ?2 AND deleted = 0"
    );
    conn.query_row(&sql, params![key_id, user_id], view_from_row)
        .optional()
        .store("read the key")?
        .ok_or_else(|| ApiError::not_found("key_not_found", "no such key"))
}

/// The stored settings of one of the user's keys, for a partial update.
pub fn find_settings_of_key(
    conn: &Connection,
    user_id: i64,
    key_id: i64,
) -> ApiResult<KeySettings> {
    let view = find_key_of_user(conn, user_id, key_id)?;
    let expires_at = conn
        .query_row(
            "SELECT expires_at FROM api_keys WHERE id = ?1",
            [key_id],
            |r| r.get(0),
        )
        .store("read the key's expiry")?;
    Ok(KeySettings {
        name: view.name,
        limit: view.limit,
        expires_at,
        models: view.models,
        ip_allowlist: view
            .ip_allowlist
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
        rpm: view.rpm,
        enabled: view.enabled,
    })
}

pub fn update_key(conn: &Connection, user_id: i64, key_id: i64, s: &KeySettings) -> ApiResult<()> {
    s.check()?;
    let changed = conn
        .execute(
            "UPDATE api_keys SET name = ?1, spend_limit = ?2, expires_at = ?3, models = ?4,
                ip_allowlist = ?5, rpm = ?6, enabled = ?7
         WHERE id = ?8 AND user_id = ?9 AND deleted = 0",
            params![
                s.name.trim(),
                s.limit.map(Money::units),
                s.expires_at,
                s.models_json(),
                s.allowlist_json(),
                s.rpm,
                s.enabled,
                key_id,
                user_id
            ],
        )
        .store("update the key")?;
    if changed == 0 {
        return Err(ApiError::not_found("key_not_found", "no such key"));
    }
    Ok(())
}

/// Deletes a key for good. The row stays (disabled, its hash wiped) so the ledger keeps its links.
pub fn delete_key(conn: &Connection, user_id: i64, key_id: i64) -> ApiResult<()> {
    let changed = conn
        .execute(
            "UPDATE api_keys SET deleted = 1, enabled = 0, key_hash = randomblob(32)
         WHERE id = ?1 AND user_id = ?2 AND deleted = 0",
            params![key_id, user_id],
        )
        .store("delete the key")?;
    if changed == 0 {
        return Err(ApiError::not_found("key_not_found", "no such key"));
    }
    Ok(())
}
