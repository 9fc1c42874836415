//! Payment orders: recorded pending at checkout, then settled by a verified callback. An order
//! credits at most once: [`credit_paid_order`] marks it paid with a conditional UPDATE and posts
//! its ledger row in the same IMMEDIATE transaction, whatever order callbacks arrive in.
//! Until then an order is open: `pending`, or, for crypto, `processing` (seen on chain, not yet
//! confirmed) or `partially_paid` (less than the price arrived); open orders can still be paid.

use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{Provider, Quote};
use crate::config::ReferralConfig;
use crate::db::{self, Store};
use crate::error::{ApiError, ApiResult};
use crate::ledger::{self, money::Money, Account, Entry, Kind};
use crate::{random, referral};

/// The states in which an order may still be paid or closed, as SQL.
const OPEN: &str = "('pending', 'processing', 'partially_paid')";

/// Whether an order in `status` may still be paid or closed.
pub fn is_open(status: &str) -> bool {
    matches!(status, "pending" | "processing" | "partially_paid")
}

/// Every state an order can be in, for filters.
pub const STATUSES: [&str; 6] = [
    "pending",
    "processing",
    "partially_paid",
    "paid",
    "failed",
    "expired",
];

#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub order_no: String,
    pub user_id: i64,
    pub provider: String,
    pub pay_type: String,
    pub amount: Money,
    pub pay_minor: i64,
    pub pay_currency: String,
    pub pay_decimals: u32,
    pub status: String,
    pub provider_ref: Option<String>,
    pub note: String,
    pub created_at: i64,
    pub paid_at: Option<i64>,
}

const ORDER_COLUMNS: &str = "id, order_no, user_id, provider, pay_type, amount, pay_amount, \
     pay_currency, pay_decimals, status, provider_ref, note, created_at, paid_at";

impl Order {
    fn from_row(r: &Row) -> rusqlite::Result<Order> {
        Ok(Order {
            id: r.get(0)?,
            order_no: r.get(1)?,
            user_id: r.get(2)?,
            provider: r.get(3)?,
            pay_type: r.get(4)?,
            amount: Money::from_units(r.get(5)?),
            pay_minor: r.get(6)?,
            pay_currency: r.get(7)?,
            pay_decimals: r.get(8)?,
            status: r.get(9)?,
            provider_ref: r.get(10)?,
            note: r.get(11)?,
            created_at: r.get(12)?,
            paid_at: r.get(13)?,
        })
    }

    /// What the provider must report as paid, in its currency.
    pub fn pay_decimal(&self) -> Decimal {
        Decimal::new(self.pay_minor, self.pay_decimals)
    }

    /// The order as its owner sees it; admins also get the user and the provider's reference.
    pub fn to_json(&self, for_admin: bool) -> Value {
        let mut v = json!({
            "order_id": self.order_no,
            "method": self.provider,
            "type": self.pay_type,
            "amount": self.amount,
            "pay_amount": self.pay_decimal().to_string(),
            "currency": self.pay_currency,
            "status": self.status,
            "created_at": crate::clock::rfc3339(self.created_at),
            "paid_at": self.paid_at.map(crate::clock::rfc3339),
        });
        if for_admin {
            v["id"] = json!(self.id);
            v["user_id"] = json!(self.user_id);
            v["provider_ref"] = json!(self.provider_ref);
            v["note"] = json!(self.note);
        }
        v
    }
}

/// Records a pending order for `quote` and returns it. The order number is random (not a
/// counter) so it stays unique at the provider even across reinstalls.
pub fn create_order(
    conn: &Connection,
    user_id: i64,
    provider: Provider,
    pay_type: &str,
    quote: &Quote,
    now: i64,
) -> ApiResult<Order> {
    let order_no = format!("cr{}", random::alphanumeric(22));
    let sql = format!(
        "INSERT INTO orders (order_no, user_id, provider, pay_type, amount, pay_amount, pay_currency,
                             pay_decimals, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9) RETURNING {ORDER_COLUMNS}"
    );
    Ok(conn
        .query_row(
            &sql,
            params![
                order_no,
                user_id,
                provider.as_str(),
                pay_type,
                quote.credit.units(),
                quote.pay_minor,
                quote.currency,
                quote.decimals,
                now
            ],
            Order::from_row,
        )
        .store("add the order")?)
}

/// How many orders a user may open in an hour while earlier ones are still pending: enough
/// for anyone changing their mind, too few to flood a provider's API through us.
pub const PENDING_PER_HOUR: i64 = 20;

/// Refuses a new checkout when the user already has [`PENDING_PER_HOUR`] pending orders from
/// the last hour.
pub fn check_pending_limit(conn: &Connection, user_id: i64, now: i64) -> ApiResult<()> {
    let pending: i64 = conn.query_row(
        "SELECT count(*) FROM orders WHERE user_id = ?1 AND status = 'pending' AND created_at > ?2",
        params![user_id, now - 3600],
        |r| r.get(0),
    ).store("count the pending orders")?;
    if pending >= PENDING_PER_HOUR {
        return Err(ApiError::rate_limited(
            "too many unpaid checkouts; finish or wait for one of them",
            600,
        ));
    }
    Ok(())
}

/// Notes the provider's id for the checkout it opened for a pending order.
pub fn attach_checkout(
    conn: &Connection,
    order_id: i64,
    provider_ref: &str,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE orders SET provider_ref = ?1, updated_at = ?2 WHERE id = ?3 AND status = 'pending'",
        params![provider_ref, now, order_id],
    )
    .store("attach the checkout to the order")?;
    Ok(())
}

/// Marks a pending order failed (the provider would not open a checkout for it).
pub fn fail_order(conn: &Connection, order_id: i64, note: &str, now: i64) -> ApiResult<()> {
    conn.execute(
        "UPDATE orders SET status = 'failed', note = ?1, updated_at = ?2 WHERE id = ?3 AND status = 'pending'",
        params![note, now, order_id],
    ).store("mark the order failed")?;
    Ok(())
}

pub fn find_order_by_no(conn: &Connection, order_no: &str) -> ApiResult<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE order_no = ?1");
    Ok(conn
        .query_row(&sql, [order_no], Order::from_row)
        .optional()
        .store("read the order")?)
}

/// Orders newest first, strictly older than `before_id`; of one user, or of everyone.
pub fn find_orders(
    conn: &Connection,
    user_id: Option<i64>,
    status: Option<&str>,
    before_id: Option<i64>,
    limit: u32,
) -> ApiResult<Vec<Order>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE id < ?1 AND (?2 IS NULL OR user_id = ?2) AND (?3 IS NULL OR status = ?3)
         ORDER BY id DESC LIMIT ?4"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .store("prepare the list of orders")?;
    let rows = stmt
        .query_map(
            params![before_id.unwrap_or(i64::MAX), user_id, status, limit],
            Order::from_row,
        )
        .store("list the orders")?;
    Ok(rows.collect::<Result<_, _>>().store("read the orders")?)
}

/// Marks `order` paid and credits its amount to the owner's balance, in the caller's
/// transaction. The UPDATE only matches an open order, so of any number of racing or
/// repeated callbacks exactly one gets here with `Some`; the rest get `None` and change nothing.
/// Everything a first payment causes belongs in this one function: the credit, a referral
/// reward waiting for it, and the inviter's commission under `terms`.
pub fn credit_paid_order(
    tx: &Connection,
    order: &Order,
    provider_ref: &str,
    terms: &ReferralConfig,
    now: i64,
) -> ApiResult<Option<Money>> {
    let marked = tx.execute(
        &format!(
            "UPDATE orders SET status = 'paid', provider_ref = ?1, paid_at = ?2, updated_at = ?2, note = ''
             WHERE id = ?3 AND status IN {OPEN}"
        ),
        params![provider_ref, now, order.id],
    ).store("mark the order paid")?;
    if marked == 0 {
        return Ok(None);
    }
    let reason = format!(
        "top-up by {}: {} {}",
        order.provider,
        order.pay_decimal(),
        order.pay_currency.to_ascii_uppercase()
    );
    let entry = Entry {
        user_id: order.user_id,
        account: Account::Balance,
        kind: Kind::Topup,
        amount: order.amount,
        reason: &reason,
        ref_type: "order",
        ref_id: &order.order_no,
        key_id: None,
    };
    let balance = ledger::post(tx, &entry, now)?
        .ok_or_else(|| ApiError::internal("a credit was refused by the balance check"))?;
    // A referral reward waiting for this account's first top-up is paid in the same
    // transaction; it is idempotent, so later top-ups pay nothing more.
    referral::reward_inviter_on_first_topup(tx, order.user_id, now)?;
    referral::pay_commission(
        tx,
        order.user_id,
        order.amount,
        referral::Topup::Order(&order.order_no),
        terms,
        now,
    )?;
    Ok(Some(balance))
}

/// What a verified provider callback reports as paid.
#[derive(Debug, Clone)]
pub struct Payment {
    pub provider: Provider,
    pub order_no: String,
    /// The provider's id for this payment (Stripe session, Creem checkout, EPay trade number).
    pub provider_ref: String,
    /// Paid amount in the provider's currency, exactly as reported.
    pub paid: Decimal,
    pub currency: String,
}

/// What a verified callback asks of us. `order_no` of `None` means the order whose checkout
/// is `provider_ref` (for providers whose events name only their own invoice).
#[derive(Debug, Clone)]
pub enum Callback {
    Paid(Payment),
    /// The checkout can no longer be paid: `expired` or `failed`.
    Closed {
        provider: Provider,
        order_no: Option<String>,
        provider_ref: String,
        status: &'static str,
        note: String,
    },
    /// A payment is under way but not complete: `processing` or `partially_paid`. Shown to the
    /// member; credits nothing.
    Progress {
        provider: Provider,
        order_no: Option<String>,
        provider_ref: String,
        status: &'static str,
        note: String,
    },
    Ignored(String),
}

/// How a callback ended, for the answer to the provider and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Credited {
        order_no: String,
        user_id: i64,
        amount: Money,
    },
    AlreadyPaid {
        order_no: String,
    },
    Closed {
        order_no: String,
    },
    Progress {
        order_no: String,
        status: &'static str,
    },
    Ignored(String),
}

fn unknown_order() -> ApiError {
    ApiError::bad_request("unknown_order", "no such order for this provider")
}

/// Applies a verified callback. Refusals (unknown order, another provider's order, a
/// different checkout, a different amount or currency, an order that can no longer be paid)
/// are 400s that change no balance; database trouble is an error the provider will retry.
pub fn apply_callback(
    conn: &mut Connection,
    callback: Callback,
    terms: &ReferralConfig,
    now: i64,
) -> ApiResult<Outcome> {
    match callback {
        Callback::Ignored(why) => Ok(Outcome::Ignored(why)),
        Callback::Closed {
            provider,
            order_no,
            provider_ref,
            status,
            note,
        } => {
            let order_no =
                change_open_order(conn, provider, order_no, &provider_ref, status, &note, now)?;
            Ok(Outcome::Closed { order_no })
        }
        Callback::Progress {
            provider,
            order_no,
            provider_ref,
            status,
            note,
        } => {
            let order_no =
                change_open_order(conn, provider, order_no, &provider_ref, status, &note, now)?;
            Ok(Outcome::Progress { order_no, status })
        }
        Callback::Paid(payment) => settle_payment(conn, &payment, terms, now),
    }
}

/// Moves an open order to `status` (closed or in progress) with a note; an order that is paid
/// or closed already stays as it is. Returns the order's number.
fn change_open_order(
    conn: &mut Connection,
    provider: Provider,
    order_no: Option<String>,
    provider_ref: &str,
    status: &str,
    note: &str,
    now: i64,
) -> ApiResult<String> {
    let tx = db::immediate(conn)?;
    let order = match &order_no {
        Some(no) => find_order_by_no(&tx, no)?,
        None => find_order_by_ref(&tx, provider, provider_ref)?,
    }
    .filter(|o| o.provider == provider.as_str())
    .ok_or_else(unknown_order)?;
    if order
        .provider_ref
        .as_deref()
        .is_some_and(|r| r != provider_ref)
    {
        return Err(reference_mismatch());
    }
    tx.execute(
        &format!(
            "UPDATE orders SET status = ?1, note = ?2, updated_at = ?3 WHERE id = ?4 AND status IN {OPEN}"
        ),
        params![status, note, now, order.id],
    ).store("change the order's status")?;
    tx.commit().store("commit the order's status")?;
    Ok(order.order_no)
}

/// The order whose checkout at `provider` is `provider_ref`.
pub fn find_order_by_ref(
    conn: &Connection,
    provider: Provider,
    provider_ref: &str,
) -> ApiResult<Option<Order>> {
    let sql =
        format!("SELECT {ORDER_COLUMNS} FROM orders WHERE provider = ?1 AND provider_ref = ?2");
    Ok(conn
        .query_row(
            &sql,
            params![provider.as_str(), provider_ref],
            Order::from_row,
        )
        .optional()
        .store("read the order by its reference")?)
}

fn reference_mismatch() -> ApiError {
    ApiError::bad_request(
        "reference_mismatch",
        "the callback is for another checkout than this order's",
    )
}

fn settle_payment(
    conn: &mut Connection,
    payment: &Payment,
    terms: &ReferralConfig,
    now: i64,
) -> ApiResult<Outcome> {
    let tx = db::immediate(conn)?;
    let order = find_order_by_no(&tx, &payment.order_no)?
        .filter(|o| o.provider == payment.provider.as_str())
        .ok_or_else(unknown_order)?;
    if order.status == "paid" {
        if order.provider_ref.as_deref() != Some(payment.provider_ref.as_str()) {
            // A second, different payment for an order already credited: never a second
            // credit; the operator has to refund it at the provider.
            tracing::error!(
                order = %order.order_no,
                provider_ref = %payment.provider_ref,
                "a second payment arrived for an order already paid; not credited, refund it"
            );
        }
        return Ok(Outcome::AlreadyPaid {
            order_no: order.order_no,
        });
    }
    if !is_open(&order.status) {
        // Money that really arrived for a closed order (paid after its invoice expired, say)
        // is the operator's to settle with the member; it is never credited on its own.
        tracing::error!(
            order = %order.order_no,
            status = %order.status,
            provider_ref = %payment.provider_ref,
            paid = %payment.paid,
            "a verified payment arrived for a closed order; not credited, settle it by hand"
        );
        return Err(ApiError::bad_request(
            "order_not_payable",
            format!("the order is {}", order.status),
        ));
    }
    if order
        .provider_ref
        .as_deref()
        .is_some_and(|r| r != payment.provider_ref)
    {
        return Err(reference_mismatch());
    }
    let reused: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE provider = ?1 AND provider_ref = ?2 AND id != ?3)",
        params![order.provider, payment.provider_ref, order.id],
        |r| r.get(0),
    ).store("check whether the payment reference is reused")?;
    if reused {
        return Err(reference_mismatch());
    }
    if payment.currency != order.pay_currency || payment.paid != order.pay_decimal() {
        let note = format!(
            "refused a callback saying {} {} was paid; the order is for {} {}",
            payment.paid,
            payment.currency.to_ascii_uppercase(),
            order.pay_decimal(),
            order.pay_currency.to_ascii_uppercase()
        );
        tracing::warn!(order = %order.order_no, "{note}");
        tx.execute(
            &format!(
                "UPDATE orders SET note = ?1, updated_at = ?2 WHERE id = ?3 AND status IN {OPEN}"
            ),
            params![note, now, order.id],
        )
        .store("note the refused payment on the order")?;
        tx.commit().store("commit the order's note")?;
        return Err(ApiError::bad_request(
            "amount_mismatch",
            "the paid amount does not match the order",
        ));
    }
    if !ledger::has_room(&tx, order.user_id, Account::Balance, order.amount)? {
        // Paid, but the balance has no room for it (it filled up after checkout): the order
        // stays pending with a note, and the provider's retries credit it once there is room.
        let note = format!(
            "paid, but crediting it would take the balance past the largest an account may hold, {}; \
             debit the account or refund the payment",
            ledger::MAX_BALANCE.whole()
        );
        tracing::error!(order = %order.order_no, user = order.user_id, "{note}");
        tx.execute(
            &format!(
                "UPDATE orders SET note = ?1, updated_at = ?2 WHERE id = ?3 AND status IN {OPEN}"
            ),
            params![note, now, order.id],
        )
        .store("note the uncredited payment on the order")?;
        tx.commit().store("commit the order's note")?;
        return Err(ledger::balance_limit(Account::Balance));
    }
    match credit_paid_order(&tx, &order, &payment.provider_ref, terms, now) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Ok(Outcome::AlreadyPaid {
                order_no: order.order_no,
            })
        }
        Err(e) => return Err(e),
    }
    tx.commit().store("commit the paid order")?;
    Ok(Outcome::Credited {
        order_no: order.order_no,
        user_id: order.user_id,
        amount: order.amount,
    })
}
