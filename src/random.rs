//! Secrets from the operating system's CSPRNG-seeded generator: tokens, codes, passwords.

use rand::Rng;

/// Letters and digits without look-alikes (no 0/O, 1/l/I), for codes people type.
const READABLE: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn pick(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A string of `len` characters from a 62-letter alphabet (≈5.95 bits each).
pub fn alphanumeric(len: usize) -> String {
    pick(ALPHANUMERIC, len)
}

/// A string of `len` characters without look-alike letters, for codes read by people.
pub fn readable(len: usize) -> String {
    pick(READABLE, len)
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill(&mut out[..]);
    out
}
