//! Verified keys kept in memory, so the `/v1` check costs one HMAC and a map lookup instead of a
//! query. Every change to a key or its owner made by this server invalidates at once; a
//! generation counter stops a lookup that raced with a change from caching what it read before
//! the change. Changes made by another process (`code-router user disable` while `serve` runs)
//! cannot invalidate, so a cached key is read again after [`CACHE_SECS`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension};

use crate::db::Store;
use crate::error::ApiResult;
use crate::net::IpRange;

/// What the `/v1` check needs to know about a key and its owner.
#[derive(Debug)]
pub struct VerifiedKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub group: String,
    pub enabled: bool,
    pub owner_disabled: bool,
    pub expires_at: Option<i64>,
    /// Empty: every model.
    pub models: Vec<String>,
    /// Empty: any address.
    pub ip_allowlist: Vec<IpRange>,
    pub rpm: Option<u32>,
    /// Why the stored scopes could not be read, if they could not: such a key is refused, since
    /// reading them as empty would mean "any model, any address".
    pub unreadable: Option<String>,
}

impl VerifiedKey {
    pub fn allows_model(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

/// Loads a live (not deleted) key by its hash, with its owner's group and state.
pub fn load_key_by_hash(conn: &Connection, hash: &[u8]) -> ApiResult<Option<VerifiedKey>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT k.id, k.user_id, k.name, u.user_group, k.enabled, u.disabled, k.expires_at,
                k.models, k.ip_allowlist, k.rpm
         FROM api_keys k JOIN users u ON u.id = k.user_id
         WHERE k.key_hash = ?1 AND k.deleted = 0",
        )
        .store("prepare the key lookup")?;
    Ok(stmt
        .query_row([hash], |r| {
            let id: i64 = r.get(0)?;
            let models: String = r.get(7)?;
            let allow: String = r.get(8)?;
            let (models, ip_allowlist, unreadable) = match read_scopes(&models, &allow) {
                Ok((models, allow)) => (models, allow, None),
                Err(why) => {
                    tracing::error!(key = id, %why, "API key refused: its stored scopes cannot be read");
                    (Vec::new(), Vec::new(), Some(why))
                }
            };
            Ok(VerifiedKey {
                id,
                user_id: r.get(1)?,
                name: r.get(2)?,
                group: r.get(3)?,
                enabled: r.get(4)?,
                owner_disabled: r.get(5)?,
                expires_at: r.get(6)?,
                models,
                ip_allowlist,
                rpm: r.get(9)?,
                unreadable,
            })
        })
        .optional().store("read the key")?)
}

/// The stored `models` and `ip_allowlist` JSON lists, every entry read or an error saying
/// which column failed.
fn read_scopes(models: &str, allow: &str) -> Result<(Vec<String>, Vec<IpRange>), String> {
    let models: Vec<String> =
        serde_json::from_str(models).map_err(|e| format!("models is not a JSON list: {e}"))?;
    let allow: Vec<String> =
        serde_json::from_str(allow).map_err(|e| format!("ip_allowlist is not a JSON list: {e}"))?;
    let allow = allow
        .iter()
        .map(|entry| {
            entry
                .parse()
                .map_err(|_| format!("ip_allowlist entry `{entry}` is not an address or range"))
        })
        .collect::<Result<_, _>>()?;
    Ok((models, allow))
}

/// How long a cached key is trusted before it is read again: the longest a change by another
/// process takes to reach `/v1`. One indexed read per busy key every few seconds costs nothing
/// measurable.
pub const CACHE_SECS: i64 = 5;

/// A cached key and the time (ms) it was read from the database.
type Cached = (Arc<VerifiedKey>, i64);

#[derive(Default)]
pub struct KeyCache {
    by_hash: RwLock<HashMap<[u8; 32], Cached>>,
    generation: AtomicU64,
    /// Requests per key in the current minute: (window start ms, count).
    minute_windows: Mutex<HashMap<i64, (i64, u32)>>,
}

/// Most keys kept; past this the cache starts over (keys reload on their next request).
const MAX_CACHED: usize = 100_000;

impl KeyCache {
    /// The cached key, unless it was read more than [`CACHE_SECS`] before `now_ms`.
    pub fn get(&self, hash: &[u8; 32], now_ms: i64) -> Option<Arc<VerifiedKey>> {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .filter(|(_, loaded_ms)| now_ms - loaded_ms < CACHE_SECS * 1000)
            .map(|(key, _)| key.clone())
    }

    /// Read before loading from the database; pass to `insert`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a key read at `loaded_ms` unless something was invalidated since `generation`
    /// was read.
    pub fn insert(&self, hash: [u8; 32], key: Arc<VerifiedKey>, generation: u64, loaded_ms: i64) {
        let mut map = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(hash, (key, loaded_ms));
    }

    fn invalidate_where(&self, gone: impl Fn(&VerifiedKey) -> bool) {
        let mut map = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, (k, _)| !gone(k));
    }

    pub fn invalidate_key(&self, key_id: i64) {
        self.invalidate_where(|k| k.id == key_id);
    }

    /// After a change to an account (disabled, group) that every key of it must see.
    pub fn invalidate_user(&self, user_id: i64) {
        self.invalidate_where(|k| k.user_id == user_id);
    }

    /// Counts a request against the key's per-minute limit; `Err(seconds to wait)` when over.
    pub fn hit_rpm(&self, key_id: i64, rpm: u32, now_ms: i64) -> Result<(), u64> {
        let mut windows = self
            .minute_windows
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if windows.len() > MAX_CACHED {
            windows.retain(|_, (start, _)| now_ms - *start < 60_000);
        }
        let entry = windows.entry(key_id).or_insert((now_ms, 0));
        if now_ms - entry.0 >= 60_000 {
            *entry = (now_ms, 0);
        }
        if entry.1 >= rpm {
            return Err(((entry.0 + 60_000 - now_ms) / 1000 + 1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}
