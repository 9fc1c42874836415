//! API key secrets: `sk-` + 48 random characters, stored only as HMAC-SHA-256 under a server secret.

use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension};
use sha2::Sha256;

use crate::db::Store;
use crate::error::ApiResult;
use crate::random;

pub const PREFIX: &str = "sk-";
const RANDOM_LEN: usize = 48;

/// A new secret key; 48 characters of a 62-letter alphabet is ≈285 bits.
pub fn generate() -> String {
    format!("{PREFIX}{}", random::alphanumeric(RANDOM_LEN))
}

/// Keyed hash of a presented key. Keys are high-entropy, so one fast HMAC is enough: no salt or
/// slow hash is needed, and the per-request check stays cheap.
pub fn hash(server_secret: &[u8], key: &str) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(server_secret) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return [0; 32];
    };
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What the owner sees to recognise a key: `sk-abcd…wxyz`.
pub fn hint(key: &str) -> String {
    let body = key.strip_prefix(PREFIX).unwrap_or(key);
    let head: String = body.chars().take(4).collect();
    let tail: String = body
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{PREFIX}{head}…{tail}")
}

/// The server's hashing secret, made on first start and kept in the database.
pub fn load_or_create_server_secret(conn: &Connection) -> ApiResult<Vec<u8>> {
    let existing: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM settings WHERE name = 'key_hash_secret'",
            [],
            |r| r.get(0),
        )
        .optional()
        .store("read the server secret")?;
    if let Some(secret) = existing {
        return Ok(secret);
    }
    let secret = random::bytes::<32>().to_vec();
    conn.execute(
        "INSERT OR IGNORE INTO settings (name, value) VALUES ('key_hash_secret', ?1)",
        [&secret],
    )
    .store("add the server secret")?;
    Ok(conn
        .query_row(
            "SELECT value FROM settings WHERE name = 'key_hash_secret'",
            [],
            |r| r.get(0),
        )
        .store("read the server secret")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed_with_the_secret() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with("sk-") && a.len() == 51);
        assert_ne!(a, b);
        assert_ne!(hash(b"one", &a), hash(b"two", &a));
        assert_eq!(hash(b"one", &a), hash(b"one", &a));
        assert_eq!(hint("sk-abcdEFGHijklMNOP"), "sk-abcd…MNOP");
    }
}
