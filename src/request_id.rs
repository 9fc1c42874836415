//! Request ids: `req_`, the time the request arrived (milliseconds since the Unix epoch, nine
//! base-62 digits, so ids sort by time), then 13 random base-62 characters (≈77 bits). A lookup
//! by id reads the time back and searches only the log rows of that moment (ids run in time
//! order) instead of every row. Ids made before they carried a time (`req_` and 20 random
//! characters) have none, and are looked up by a scan.

use crate::random;

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TIME_DIGITS: usize = 9;
const RANDOM_CHARS: usize = 13;
const PREFIX: &str = "req_";

/// A new request id for a request arriving at `now_ms`.
pub fn new(now_ms: i64) -> String {
    let mut time = [b'0'; TIME_DIGITS];
    let mut rest = now_ms.max(0) as u64;
    for digit in time.iter_mut().rev() {
        *digit = DIGITS[(rest % 62) as usize];
        rest /= 62;
    }
    let mut id = String::with_capacity(PREFIX.len() + TIME_DIGITS + RANDOM_CHARS);
    id.push_str(PREFIX);
    id.extend(time.iter().map(|&b| char::from(b)));
    id.push_str(&random::alphanumeric(RANDOM_CHARS));
    id
}

/// The arrival time (milliseconds) a request id carries; `None` for an id of the older form,
/// or anything else that is not one of ours.
pub fn time_ms(id: &str) -> Option<i64> {
    let body = id.strip_prefix(PREFIX)?;
    if body.len() != TIME_DIGITS + RANDOM_CHARS || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let mut ms: i64 = 0;
    for b in body[..TIME_DIGITS].bytes() {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            _ => b - b'a' + 36,
        };
        ms = ms.checked_mul(62)?.checked_add(i64::from(digit))?;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_time_and_sort_by_it() {
        for ms in [0, 1, 61, 62, 1_764_000_000_123, 62_i64.pow(9) - 1] {
            let id = new(ms);
            assert_eq!(id.len(), 26, "{id}");
            assert!(id.starts_with("req_"));
            assert_eq!(time_ms(&id), Some(ms), "{id}");
        }
        let (a, b) = (new(1_764_000_000_123), new(1_764_000_000_124));
        assert!(a[..13] < b[..13]);
        assert_ne!(new(5), new(5));
    }

    #[test]
    fn old_and_foreign_ids_carry_no_time() {
        // The form before: `req_` and 20 random characters.
        assert_eq!(time_ms("req_aB3dE5gH7jK9mN1pQ3sT"), None);
        assert_eq!(time_ms("req_seed0000333"), None);
        assert_eq!(time_ms("0000000001abcdefghijklm"), None);
        assert_eq!(time_ms("req_00000000-abcdefghijkl"), None);
        assert_eq!(time_ms("req_00000000é0abcdefghijk"), None);
        assert_eq!(time_ms(""), None);
    }
}
