//! Redemption codes: generated in batches and shown once (the table keeps only their SHA-256),
//! redeemed exactly once with their ledger credit in one transaction, listed for the admin, and
//! voided by the admin while unused.

pub mod handlers;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::config::ReferralConfig;
use crate::db::{self, Store};
use crate::error::{ApiError, ApiResult};
use crate::ledger::money::{Money, MoneyError};
use crate::ledger::{self, Account, Entry, Kind};
use crate::{random, referral};

/// Most codes one request or command makes.
pub const MAX_COUNT: i64 = 1000;
/// Random characters in a code: 24 from a 57-letter alphabet is about 140 bits, far past guessing.
const CODE_LEN: usize = 24;
/// Codes are shown in groups of this many characters, joined by `-`, to be read and typed.
const GROUP_LEN: usize = 6;
/// Characters kept in clear as the hint: the first group, which leaves about 105 bits secret.
const HINT_LEN: usize = 6;
const MAX_NOTE_CHARS: usize = 200;
/// Longer input cannot be a code; it is refused before hashing.
const MAX_INPUT_CHARS: usize = 100;

/// A checked batch of codes to generate.
#[derive(Debug)]
pub struct NewCodes {
    pub amount: Money,
    pub count: i64,
    pub expires_at: Option<i64>,
    pub note: String,
}

impl NewCodes {
    /// Checks what an operator typed, through the API or the command line; errors name the field.
    pub fn parse(
        amount: &str,
        count: i64,
        expires_at: Option<&str>,
        note: Option<&str>,
        now: i64,
    ) -> ApiResult<NewCodes> {
        let amount = Money::parse_positive(amount).map_err(|e| {
            let message = match e {
                MoneyError::NotPositive => e.to_string(),
                _ => format!("amount: {e}"),
            };
            ApiError::bad_request("invalid_amount", message)
        })?;
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(ApiError::bad_request(
                "invalid_count",
                format!("count must be from 1 to {MAX_COUNT}"),
            ));
        }
        let expires_at = match expires_at.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(text) => {
                let at = clock::parse_time(text).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_expires_at",
                        format!("expiry `{text}` is not a date (2026-12-31) or an RFC 3339 time"),
                    )
                })?;
                if at <= now {
                    return Err(ApiError::bad_request(
                        "invalid_expires_at",
                        "the expiry must be in the future",
                    ));
                }
                Some(at)
            }
        };
        let note = note.unwrap_or("").trim().to_string();
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(ApiError::bad_request(
                "invalid_note",
                format!("note must be at most {MAX_NOTE_CHARS} characters"),
            ));
        }
        Ok(NewCodes {
            amount,
            count,
            expires_at,
            note,
        })
    }
}

/// A code as people type it, reduced to its characters: dashes and spaces do not matter.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

fn code_hash(normalized: &str) -> Vec<u8> {
    Sha256::digest(normalized.as_bytes()).to_vec()
}

fn hint_of(normalized: &str) -> String {
    let head: String = normalized.chars().take(HINT_LEN).collect();
    format!("{head}…")
}

/// `AbCdEf-GhJkMn-…`: the random characters in groups.
fn grouped(raw: &str) -> String {
    raw.as_bytes()
        .chunks(GROUP_LEN)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Stores a batch in one transaction and returns the codes, which exist nowhere else afterwards.
pub fn generate_codes(
    conn: &mut Connection,
    batch: &NewCodes,
    created_by: &str,
    now: i64,
) -> ApiResult<Vec<String>> {
    let tx = db::immediate(conn)?;
    let mut codes = Vec::with_capacity(usize::try_from(batch.count).unwrap_or(0));
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO redemption_codes (code_hash, hint, amount, note, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        ).store("prepare the code insert")?;
        for _ in 0..batch.count {
            let raw = random::readable(CODE_LEN);
            insert
                .execute(params![
                    code_hash(&raw),
                    hint_of(&raw),
                    batch.amount.units(),
                    batch.note,
                    created_by,
                    now,
                    batch.expires_at
                ])
                .store("add a code")?;
            codes.push(grouped(&raw));
        }
    }
    tx.commit().store("commit the new codes")?;
    Ok(codes)
}

#[derive(Debug, Clone, Serialize)]
pub struct Redeemed {
    pub code_id: i64,
    pub credited: Money,
    pub balance: Money,
}

/// Credits the code's amount to the user's balance, once. Claiming the code (a conditional
/// UPDATE that only an unused, unexpired code passes) and the ledger credit share one IMMEDIATE
/// transaction, so of any number of concurrent attempts exactly one credits and the rest see
/// `code_used`. Unknown, used and expired codes are distinct errors. A referral reward or
/// commission the redemption earns the account's inviter is paid in the same transaction.
pub fn redeem(
    conn: &mut Connection,
    user_id: i64,
    code: &str,
    terms: &ReferralConfig,
    now: i64,
) -> ApiResult<Redeemed> {
    let normalized = normalize(code);
    if normalized.is_empty() || normalized.chars().count() > MAX_INPUT_CHARS {
        return Err(code_not_found());
    }
    let hash = code_hash(&normalized);
    let tx = db::immediate(conn)?;
    let claimed: Option<(i64, String, i64)> = tx
        .query_row(
            "UPDATE redemption_codes SET used_by = ?1, used_at = ?2
             WHERE code_hash = ?3 AND used_by IS NULL AND voided_at IS NULL
                   AND (expires_at IS NULL OR expires_at > ?2)
             RETURNING id, hint, amount",
            params![user_id, now, hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .store("mark the code used")?;
    let Some((code_id, hint, amount)) = claimed else {
        return Err(why_not_redeemable(&tx, &hash)?);
    };
    let reason = format!("redemption code {hint}");
    let ref_id = code_id.to_string();
    let entry = Entry {
        user_id,
        account: Account::Balance,
        kind: Kind::Redeem,
        amount: Money::from_units(amount),
        reason: &reason,
        ref_type: "code",
        ref_id: &ref_id,
        key_id: None,
    };
    let balance = ledger::post(&tx, &entry, now)?
        .ok_or_else(|| ApiError::internal("a code's credit was refused by the balance check"))?;
    referral::reward_inviter_on_first_topup(&tx, user_id, now)?;
    let credited = Money::from_units(amount);
    referral::pay_commission(
        &tx,
        user_id,
        credited,
        referral::Topup::Code(code_id),
        terms,
        now,
    )?;
    tx.commit().store("commit the redemption")?;
    Ok(Redeemed {
        code_id,
        credited: Money::from_units(amount),
        balance,
    })
}

fn code_not_found() -> ApiError {
    ApiError::not_found("code_not_found", "no such redemption code")
}

/// Why the claim matched nothing: the code is unknown, already used, voided, or expired.
fn why_not_redeemable(conn: &Connection, hash: &[u8]) -> ApiResult<ApiError> {
    let state: Option<(bool, bool)> = conn
        .query_row(
            "SELECT used_by IS NOT NULL, voided_at IS NOT NULL FROM redemption_codes WHERE code_hash = ?1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional().store("read the code's state")?;
    Ok(match state {
        None => code_not_found(),
        Some((true, _)) => ApiError::conflict("code_used", "this code has already been redeemed"),
        Some((false, true)) => {
            ApiError::bad_request("code_voided", "this code was withdrawn by the operator")
        }
        Some((false, false)) => ApiError::bad_request("code_expired", "this code has expired"),
    })
}

/// Withdraws an unused code so it can never be redeemed; voiding a voided code changes nothing.
/// A used code cannot be voided (its credit stands): 409 `code_used`.
pub fn void_code(conn: &mut Connection, code_id: i64, now: i64) -> ApiResult<CodeRow> {
    let tx = db::immediate(conn)?;
    let voided = tx
        .execute(
            "UPDATE redemption_codes SET voided_at = ?2
         WHERE id = ?1 AND used_by IS NULL AND voided_at IS NULL",
            params![code_id, now],
        )
        .store("void the code")?;
    let row = find_code(&tx, code_id, now)?.ok_or_else(code_not_found)?;
    if voided == 0 && row.status == CodeStatus::Used {
        return Err(ApiError::conflict(
            "code_used",
            "this code has already been redeemed; its credit stands",
        ));
    }
    tx.commit().store("commit the voided code")?;
    Ok(row)
}

/// Which codes a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CodeStatus {
    Unused,
    Used,
    Expired,
    /// Withdrawn by an operator before anyone redeemed it.
    Voided,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeRow {
    pub id: i64,
    pub hint: String,
    pub amount: Money,
    pub note: String,
    pub status: CodeStatus,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
    #[schema(required = true)]
    pub used_by: Option<i64>,
    #[schema(required = true)]
    pub used_by_username: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub used_at: Option<String>,
    /// When an operator voided it.
    #[schema(format = DateTime, required = true)]
    pub voided_at: Option<String>,
}

const CODE_COLUMNS: &str = "c.id, c.hint, c.amount, c.note, c.created_by, c.created_at, \
                            c.expires_at, c.used_by, u.username, c.used_at, c.voided_at";

fn code_from_row(r: &rusqlite::Row, now: i64) -> rusqlite::Result<CodeRow> {
    let expires_at: Option<i64> = r.get(6)?;
    let used_by: Option<i64> = r.get(7)?;
    let used_at: Option<i64> = r.get(9)?;
    let voided_at: Option<i64> = r.get(10)?;
    let status = if used_by.is_some() {
        CodeStatus::Used
    } else if voided_at.is_some() {
        CodeStatus::Voided
    } else if expires_at.is_some_and(|at| at <= now) {
        CodeStatus::Expired
    } else {
        CodeStatus::Unused
    };
    Ok(CodeRow {
        id: r.get(0)?,
        hint: r.get(1)?,
        amount: Money::from_units(r.get(2)?),
        note: r.get(3)?,
        status,
        created_by: r.get(4)?,
        created_at: clock::rfc3339(r.get(5)?),
        expires_at: expires_at.map(clock::rfc3339),
        used_by,
        used_by_username: r.get(8)?,
        used_at: used_at.map(clock::rfc3339),
        voided_at: voided_at.map(clock::rfc3339),
    })
}

/// One code by id.
pub fn find_code(conn: &Connection, code_id: i64, now: i64) -> ApiResult<Option<CodeRow>> {
    let sql = format!(
        "SELECT {CODE_COLUMNS} FROM redemption_codes c LEFT JOIN users u ON u.id = c.used_by
         WHERE c.id = ?1"
    );
    Ok(conn
        .query_row(&sql, [code_id], |r| code_from_row(r, now))
        .optional()
        .store("read the code")?)
}

/// Codes newest first, strictly older than `before_id` when given, optionally of one status.
pub fn find_codes(
    conn: &Connection,
    status: Option<CodeStatus>,
    before_id: Option<i64>,
    limit: u32,
    now: i64,
) -> ApiResult<Vec<CodeRow>> {
    let status = match status {
        None => "",
        Some(CodeStatus::Unused) => "unused",
        Some(CodeStatus::Used) => "used",
        Some(CodeStatus::Expired) => "expired",
        Some(CodeStatus::Voided) => "voided",
    };
    let sql = format!(
        "SELECT {CODE_COLUMNS}
         FROM redemption_codes c LEFT JOIN users u ON u.id = c.used_by
         WHERE c.id < ?1 AND CASE ?3
             WHEN 'used' THEN c.used_by IS NOT NULL
             WHEN 'voided' THEN c.used_by IS NULL AND c.voided_at IS NOT NULL
             WHEN 'unused' THEN c.used_by IS NULL AND c.voided_at IS NULL
                                AND (c.expires_at IS NULL OR c.expires_at > ?4)
             WHEN 'expired' THEN c.used_by IS NULL AND c.voided_at IS NULL AND c.expires_at <= ?4
             ELSE 1 END
         ORDER BY c.id DESC LIMIT ?2"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .store("prepare the list of codes")?;
    let rows = stmt
        .query_map(
            params![before_id.unwrap_or(i64::MAX), limit, status, now],
            |r| code_from_row(r, now),
        )
        .store("list the codes")?;
    Ok(rows.collect::<Result<_, _>>().store("read the codes")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_normalized_back() {
        let raw = random::readable(CODE_LEN);
        let shown = grouped(&raw);
        assert_eq!(shown.len(), CODE_LEN + CODE_LEN / GROUP_LEN - 1);
        assert_eq!(normalize(&shown), raw);
        assert_eq!(normalize(&format!("  {} ", shown.replace('-', " "))), raw);
        assert_eq!(hint_of(&raw).chars().count(), HINT_LEN + 1);
    }

    #[test]
    fn batches_are_checked() {
        let now = 1_000;
        assert!(NewCodes::parse("5", 10, Some("2099-01-01"), Some("promo"), now).is_ok());
        let cases = [
            ("0", 1, None, "invalid_amount"),
            ("-1", 1, None, "invalid_amount"),
            ("1e3", 1, None, "invalid_amount"),
            ("5", 0, None, "invalid_count"),
            ("5", MAX_COUNT + 1, None, "invalid_count"),
            ("5", 1, Some("soon"), "invalid_expires_at"),
            ("5", 1, Some("1970-01-01"), "invalid_expires_at"),
        ];
        for (amount, count, expires, code) in cases {
            let e = NewCodes::parse(amount, count, expires, None, now).unwrap_err();
            assert_eq!(e.code, code, "{amount} {count} {expires:?}");
        }
    }
}
