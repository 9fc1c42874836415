//! Password hashing with argon2id; CPU-heavy, so callers run it on the blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::ApiError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

pub fn check_strength(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(ApiError::bad_request(
            "invalid_password",
            format!("password must be {MIN_LEN} to {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// An argon2id PHC string with a fresh salt.
pub fn hash(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))
}

/// Whether `password` matches `phc`. With `None` it checks against a fixed hash, so an unknown
/// username costs as much time as a wrong password.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not-a-real-password").unwrap_or_default());
    let target = phc.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(target) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && phc.is_some()
}
