//! Password hashing with argon2id; CPU-heavy, so callers run it on the blocking pool.
//!
//! Each hash fills a block of `m_cost` KiB, the largest allocation of the process; with
//! argon2's default (19 MiB, t=2) the admin created at start-up plus the first sign-in left
//! peak RSS at 37-56 MB before any request (the allocator did not always reuse the freed block).
//! New hashes use 7 MiB, t=5, which OWASP's password storage guidance lists as giving the same
//! defence as 19 MiB, t=2 (less memory, more passes; about the same CPU). Stored hashes carry
//! their own parameters, so older ones still verify.
//!
//! All hashing runs on one long-lived thread, one hash at a time, so N sign-ins at once hold
//! one block instead of N; hashing is bound by the CPU, so this costs sign-ins little.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

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

type Task = Box<dyn FnOnce() + Send>;

/// The hashing thread's queue, started on first use; `None` if the thread could not start.
fn hasher() -> Option<&'static mpsc::Sender<Task>> {
    static HASHER: OnceLock<Option<mpsc::Sender<Task>>> = OnceLock::new();
    HASHER
        .get_or_init(|| {
            let (sender, tasks) = mpsc::channel::<Task>();
            std::thread::Builder::new()
                .name("password-hasher".into())
                .spawn(move || {
                    for task in tasks {
                        // A panic loses that one answer (the caller sees `None`), not the thread.
                        let _ = catch_unwind(AssertUnwindSafe(task));
                    }
                })
                .ok()
                .map(|_| sender)
        })
        .as_ref()
}

/// Runs `work` on the hashing thread (here, if that thread is not running) and waits for it.
/// `None` if it panicked.
fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (reply, answer) = mpsc::sync_channel(1);
    let task: Task = Box::new(move || {
        let _ = reply.send(work());
    });
    match hasher() {
        Some(queue) => {
            if let Err(mpsc::SendError(task)) = queue.send(task) {
                task();
            }
        }
        None => task(),
    }
    answer.recv().ok()
}

/// An argon2id PHC string with a fresh salt.
pub fn hash(password: &str) -> Result<String, ApiError> {
    let password = password.to_owned();
    on_hasher(move || hash_here(&password))
        .unwrap_or_else(|| Err(ApiError::internal("argon2: hashing failed")))
}

/// Memory (KiB) and passes of new hashes; see the module's doc.
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_here(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))
}

/// Whether `password` matches `phc`. With `None` it checks against a fixed hash, so an unknown
/// username costs as much time as a wrong password.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    let password = password.to_owned();
    let phc = phc.map(str::to_owned);
    on_hasher(move || verify_here(&password, phc.as_deref())).unwrap_or(false)
}

fn verify_here(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_here("not-a-real-password").unwrap_or_default());
    let target = phc.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(target) else {
        return false;
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && phc.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_hashes_use_the_smaller_block_and_old_ones_still_verify() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        assert!(verify("correct horse", Some(&phc)));
        assert!(!verify("wrong horse", Some(&phc)));
        assert!(!verify("correct horse", None));
        let old = "$argon2id$v=19$m=19456,t=2,p=1$XmgrALhRbsyAyxkUkss9vw$KRZEocxVToOfVr6cdOCoxximNAR/o2iEUNLS/KXJYXE";
        assert!(verify("bench password", Some(old)));
        assert!(!verify("other password", Some(old)));
    }
}
