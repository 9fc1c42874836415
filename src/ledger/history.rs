//! The billing history the console shows: a member's ledger rows filtered by kind and time, each
//! with a stable `code` and the `params` its sentence needs (the console says it in the reader's
//! language; `reason` keeps the server's English words), and request charges summed per day.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection};
use serde::Serialize;

use super::money::Money;
use super::LedgerRow;
use crate::clock::{parse_time, rfc3339};
use crate::db::by_time::{first_id_since, Appended};
use crate::db::Store;
use crate::error::{ApiError, ApiResult};

/// Every kind a ledger row can have (`hold` and `release` only in files from older versions).
pub const KINDS: [&str; 10] = [
    "topup",
    "redeem",
    "settle",
    "refund",
    "referral_reward",
    "commission",
    "transfer",
    "adjust",
    "hold",
    "release",
];

/// Which rows a history page shows.
#[derive(Debug, Default)]
pub struct HistoryFilter {
    /// Empty: every kind.
    kinds: Vec<&'static str>,
    from: Option<i64>,
    to: Option<i64>,
}

impl HistoryFilter {
    /// `kind` is a comma-separated list of kinds; `from`/`to` are RFC 3339 times or dates (a bare
    /// `to` date means the whole of that day, UTC).
    pub fn parse(kind: Option<&str>, from: Option<&str>, to: Option<&str>) -> ApiResult<Self> {
        let mut kinds = Vec::new();
        for name in kind.unwrap_or("").split(',').map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let known = KINDS.iter().find(|k| **k == name).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("kind is a comma-separated list of {}", KINDS.join(", ")),
                )
            })?;
            kinds.push(*known);
        }
        let time = |text: Option<&str>, name: &str| -> ApiResult<Option<i64>> {
            match text.map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => parse_time(t)
                    .map(|at| {
                        Some(if name == "to" && t.len() == 10 {
                            at + 86_400
                        } else {
                            at
                        })
                    })
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("{name} must be an RFC 3339 time or YYYY-MM-DD"),
                        )
                    }),
            }
        };
        Ok(HistoryFilter {
            kinds,
            from: time(from, "from")?,
            to: time(to, "to")?,
        })
    }
}

/// A ledger row with what the console needs to say it in any language.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryRow {
    #[serde(flatten)]
    pub row: LedgerRow,
    /// What the row is, as a stable code: `topup`, `redeem`, `charge`, `welcome_reward` (for
    /// registering with a referral code), `referral_reward` (for an invitee),
    /// `commission`, `transfer_to_balance`, `transfer_from_reward`, `adjust`, `refund`, `hold`
    /// or `release`.
    #[schema(example = "charge")]
    pub code: String,
    /// What the code's sentence needs; a field is absent when it does not apply or is not known.
    pub params: RowParams,
}

/// The parameters of a ledger row's code.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RowParams {
    /// `topup`: the order number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `topup`: the payment provider (`stripe`, `epay`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `topup`: how it was paid at the provider (EPay's `alipay`, `usdt`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_type: Option<String>,
    /// `topup`: what was paid, in `currency`, as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_amount: Option<String>,
    /// `topup`: the currency paid in, upper case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `redeem`: the code's first characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `charge`, `refund`, `hold`, `release`: the request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `charge`: the key's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `charge`: the request's full cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Money>,
    /// `charge`: the part of the cost the balance could not cover (not charged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncollected: Option<Money>,
    /// `welcome_reward`: the inviter's account id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inviter: Option<String>,
    /// `referral_reward`, `commission`: the invitee's account id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitee: Option<String>,
    /// `commission`: the share, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<String>,
    /// `commission`: the invitee's top-up it is a share of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topup: Option<Money>,
    /// `commission`: what paid it, `order` or `code`, and which (`ref`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `adjust`: the operator's own words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `adjust`: who made it (an admin's username, or `cli`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// What a row's cause is, read from the tables it names.
#[derive(Default)]
struct Joined {
    provider: Option<String>,
    pay_type: Option<String>,
    pay: Option<(i64, u32, String)>,
    hint: Option<String>,
    key_name: Option<String>,
}

/// A member's rows, newest first, strictly older than `before_id` when given.
pub fn find_history(
    conn: &Connection,
    user_id: i64,
    filter: &HistoryFilter,
    before_id: Option<i64>,
    limit: u32,
) -> ApiResult<Vec<HistoryRow>> {
    let mut sql = String::from(
        "SELECT l.id, l.account, l.kind, l.amount, l.balance_after, l.reason, l.ref_type, l.ref_id,
                l.key_id, l.created_at, o.provider, o.pay_type, o.pay_amount, o.pay_decimals,
                o.pay_currency, c.hint, k.name
         FROM ledger l
         LEFT JOIN orders o ON l.kind = 'topup' AND l.ref_type = 'order' AND o.order_no = l.ref_id
         LEFT JOIN redemption_codes c ON l.kind = 'redeem' AND l.ref_type = 'code'
                                      AND c.id = CAST(l.ref_id AS INTEGER)
         LEFT JOIN api_keys k ON k.id = l.key_id
         WHERE l.user_id = ?1 AND l.id < ?2",
    );
    let mut values: Vec<SqlValue> = vec![
        SqlValue::Integer(user_id),
        SqlValue::Integer(before_id.unwrap_or(i64::MAX)),
    ];
    if !filter.kinds.is_empty() {
        let marks: Vec<String> = filter
            .kinds
            .iter()
            .map(|k| {
                values.push(SqlValue::Text((*k).to_string()));
                format!("?{}", values.len())
            })
            .collect();
        sql.push_str(&format!(" AND l.kind IN ({})", marks.join(", ")));
    }
    if let Some(from) = filter.from {
        values.push(SqlValue::Integer(first_id_since(
            conn,
            Appended::Ledger,
            from,
        )?));
        sql.push_str(&format!(" AND l.id >= ?{}", values.len()));
        values.push(SqlValue::Integer(from));
        sql.push_str(&format!(" AND l.created_at >= ?{}", values.len()));
    }
    if let Some(to) = filter.to {
        values.push(SqlValue::Integer(to));
        sql.push_str(&format!(" AND l.created_at < ?{}", values.len()));
    }
    values.push(SqlValue::Integer(i64::from(limit)));
    sql.push_str(&format!(" ORDER BY l.id DESC LIMIT ?{}", values.len()));
    let mut stmt = conn.prepare(&sql).store("prepare the history")?;
    let rows = stmt
        .query_map(params_from_iter(values), |r| {
            let row = LedgerRow {
                id: r.get(0)?,
                account: r.get(1)?,
                kind: r.get(2)?,
                amount: Money::from_units(r.get(3)?),
                balance_after: Money::from_units(r.get(4)?),
                reason: r.get(5)?,
                ref_type: r.get(6)?,
                ref_id: r.get(7)?,
                key_id: r.get(8)?,
                created_at: rfc3339(r.get(9)?),
            };
            let pay_amount: Option<i64> = r.get(12)?;
            let pay_decimals: Option<u32> = r.get(13)?;
            let pay_currency: Option<String> = r.get(14)?;
            let joined = Joined {
                provider: r.get(10)?,
                pay_type: r.get(11)?,
                pay: match (pay_amount, pay_decimals, pay_currency) {
                    (Some(a), Some(d), Some(c)) => Some((a, d, c)),
                    _ => None,
                },
                hint: r.get(15)?,
                key_name: r.get(16)?,
            };
            Ok((row, joined))
        })
        .store("list the history")?;
    let mut out = Vec::new();
    for found in rows {
        let (row, joined) = found.store("read the history")?;
        let (code, params) = describe(&row, &joined);
        out.push(HistoryRow {
            row,
            code: code.to_string(),
            params,
        });
    }
    Ok(out)
}

/// The code and parameters of a row, from its kind, account, cause and the tables it names.
/// Where a figure exists only in the row's reason (a charge's full cost, a commission's terms),
/// it is read back from the words the server itself wrote there.
fn describe(row: &LedgerRow, joined: &Joined) -> (&'static str, RowParams) {
    let reward = row.account == "reward";
    let some = |s: &str| Some(s.to_string());
    let mut p = RowParams::default();
    let code = match row.kind.as_str() {
        "topup" => {
            p.order = some(&row.ref_id);
            p.provider = joined.provider.clone();
            p.pay_type = joined.pay_type.clone().filter(|t| !t.is_empty());
            if let Some((amount, decimals, currency)) = &joined.pay {
                p.pay_amount = Some(rust_decimal::Decimal::new(*amount, *decimals).to_string());
                p.currency = Some(currency.to_ascii_uppercase());
            }
            "topup"
        }
        "redeem" => {
            p.code = joined.hint.clone();
            "redeem"
        }
        "settle" => {
            p.request_id = some(&row.ref_id);
            p.key = joined.key_name.clone();
            if let Some((cost, uncollected)) = charge_figures(&row.reason) {
                p.cost = Some(cost);
                p.uncollected = uncollected;
            }
            "charge"
        }
        "referral_reward" if reward => {
            p.invitee = some(&row.ref_id);
            "referral_reward"
        }
        "referral_reward" => {
            p.inviter = some(&row.ref_id);
            "welcome_reward"
        }
        "commission" => {
            p.source = some(&row.ref_type);
            p.reference = some(&row.ref_id);
            if let Some((percent, topup, invitee)) = commission_terms(&row.reason) {
                p.percent = Some(percent);
                p.topup = Some(topup);
                p.invitee = Some(invitee);
            }
            "commission"
        }
        "transfer" if reward => "transfer_to_balance",
        "transfer" => "transfer_from_reward",
        "adjust" => {
            p.note = some(&row.reason);
            p.by = some(&row.ref_id);
            "adjust"
        }
        kind @ ("refund" | "hold" | "release") => {
            p.request_id = some(&row.ref_id);
            match kind {
                "refund" => "refund",
                "hold" => "hold",
                _ => "release",
            }
        }
        _ => "other",
    };
    (code, p)
}

/// `cost 0.001200000` or `cost 0.001200000; 0.000200000 could not be collected` (as
/// `ledger::charges` writes them): the full cost and what was not collected, as exact amounts.
fn charge_figures(reason: &str) -> Option<(Money, Option<Money>)> {
    let rest = reason.strip_prefix("cost ")?;
    match rest.split_once("; ") {
        None => Some((Money::parse(rest).ok()?, None)),
        Some((cost, tail)) => {
            let short = tail.strip_suffix(" could not be collected")?;
            Some((Money::parse(cost).ok()?, Some(Money::parse(short).ok()?)))
        }
    }
}

/// `commission: 10% of a top-up of 20.000000 by account 7` (as `referral::commission` writes
/// it): the percent, the top-up and the invitee's account id.
fn commission_terms(reason: &str) -> Option<(String, Money, String)> {
    let rest = reason.strip_prefix("commission: ")?;
    let (percent, rest) = rest.split_once("% of a top-up of ")?;
    let (topup, invitee) = rest.split_once(" by account ")?;
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !plain(percent) || !invitee.bytes().all(|b| b.is_ascii_digit()) || invitee.is_empty() {
        return None;
    }
    Some((
        percent.to_string(),
        Money::parse(topup).ok()?,
        invitee.to_string(),
    ))
}

/// One day's request charges.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChargeDay {
    /// The day, UTC, as `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    /// Requests charged that day.
    pub requests: i64,
    /// What they took from the balance, in total (a positive amount).
    pub amount: Money,
}

/// A member's request charges per day since `since` (Unix seconds, the start of a day), newest
/// day first, from the usage rollups (a few rows a day, whatever the number of requests): each
/// request's charge is its log row's cost, which is what its ledger rows moved in total.
pub fn charges_per_day(conn: &Connection, user_id: i64, since: i64) -> ApiResult<Vec<ChargeDay>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT date(day * 86400, 'unixepoch'), sum(charged), sum(cost)
         FROM usage_daily WHERE user_id = ?1 AND day >= ?2
         GROUP BY day HAVING sum(charged) > 0 ORDER BY day DESC",
        )
        .store("prepare the charges per day")?;
    let rows = stmt
        .query_map(params![user_id, since.div_euclid(86_400)], |r| {
            Ok(ChargeDay {
                date: r.get(0)?,
                requests: r.get(1)?,
                amount: Money::from_units(r.get(2)?),
            })
        })
        .store("list the charges per day")?;
    Ok(rows
        .collect::<Result<_, _>>()
        .store("read the charges per day")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_read_back_from_the_words_the_server_writes() {
        let m = |s: &str| Money::parse(s).unwrap();
        assert_eq!(
            charge_figures("cost 0.001200000"),
            Some((m("0.0012"), None))
        );
        assert_eq!(
            charge_figures("cost 0.001200000; 0.000200000 could not be collected"),
            Some((m("0.0012"), Some(m("0.0002"))))
        );
        assert_eq!(charge_figures("released at upgrade"), None);
        assert_eq!(charge_figures("cost 1; lots"), None);
        assert_eq!(
            commission_terms("commission: 12.5% of a top-up of 0.123456789 by account 7"),
            Some(("12.5".into(), m("0.123456789"), "7".into()))
        );
        assert_eq!(commission_terms("commission: much"), None);
        assert_eq!(
            commission_terms("commission: 1e3% of a top-up of 1 by account 7"),
            None
        );
    }

    #[test]
    fn filters_name_known_kinds_and_real_times() {
        let f = HistoryFilter::parse(
            Some("topup, settle"),
            Some("2026-01-01"),
            Some("2026-01-01"),
        )
        .unwrap();
        assert_eq!(f.kinds, ["topup", "settle"]);
        assert_eq!(
            f.to.unwrap() - f.from.unwrap(),
            86_400,
            "a bare `to` date is the whole day"
        );
        assert!(HistoryFilter::parse(Some("bonus"), None, None).is_err());
        assert!(HistoryFilter::parse(None, Some("yesterday"), None).is_err());
    }
}
