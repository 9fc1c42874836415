//! Settle: the last stage. A request's [`Bill`] — who pays, what is held, the prices it was
//! admitted under, its log row — is closed exactly once: served (usage → exact cost → a charge
//! against the hold), unserved (the hold goes back in full), or refused at admission (nothing
//! was held). Either way the log row and any charge go to the request writer together.

use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::Response;

use super::dialects::Dialect;
use super::usage::{Usage, UsageSource};
use super::ClientLeft;
use crate::error::ApiError;
use crate::keys::cache::VerifiedKey;
use crate::ledger::funds::{Charge, Hold};
use crate::ledger::money::Money;
use crate::logs::LogRow;
use crate::pricing::PriceTable;
use crate::state::AppState;

/// An admitted request's account, open until one of its closing methods consumes it.
pub struct Bill {
    state: AppState,
    key: Arc<VerifiedKey>,
    prices: Arc<PriceTable>,
    hold: Option<Hold>,
    /// The request's log row, filled in as the request goes.
    pub log: LogRow,
    started: Instant,
    left: ClientLeft,
}

impl Bill {
    pub fn open(
        state: AppState,
        key: Arc<VerifiedKey>,
        prices: Arc<PriceTable>,
        hold: Option<Hold>,
        log: LogRow,
        started: Instant,
        left: ClientLeft,
    ) -> Bill {
        Bill {
            state,
            key,
            prices,
            hold,
            log,
            started,
            left,
        }
    }

    /// Whether the client went away before its answer.
    pub fn client_left(&self) -> bool {
        self.left.has_left()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn request_id(&self) -> &str {
        &self.log.request_id
    }

    /// A served request: its exact cost is charged against the hold. The hold is the worst case
    /// the request allowed, so a charge never exceeds it: usage above the request's bound (an
    /// upstream ignoring `max_tokens`, an endless stream) is recorded, not collected.
    /// `code` and `note` say what the client should know of an answer that was served (a client
    /// that hung up mid-stream), and are empty otherwise.
    pub fn served(
        mut self,
        usage: Usage,
        source: UsageSource,
        status: u16,
        code: &'static str,
        note: String,
    ) {
        self.log.usage = usage;
        self.log.usage_source = source.as_str();
        self.log.status = status;
        self.log.error_code = code;
        self.log.error = note;
        let charge = match self.hold.take() {
            Some(hold) => {
                let cost = match self
                    .prices
                    .sheet(&self.log.model, &self.key.group, usage.prompt())
                {
                    Ok(Some(sheet)) => {
                        let cost = sheet.cost(&usage);
                        self.log.sheet = Some(sheet);
                        cost
                    }
                    Ok(None) => Ok(Money::ZERO),
                    Err(e) => Err(e),
                };
                let charged = match cost {
                    Ok(cost) if cost <= hold.amount => cost,
                    over => {
                        self.over_bound(over.ok(), hold.amount);
                        hold.amount
                    }
                };
                self.log.cost = charged;
                hold.charge(charged)
            }
            None => None,
        };
        self.close(charge);
    }

    /// Notes a cost above the hold (`None`: too large to represent at all).
    fn over_bound(&mut self, cost: Option<Money>, held: Money) {
        let uncollected = cost.and_then(|c| c.checked_sub(held));
        let what = match (cost, uncollected) {
            (Some(cost), Some(uncollected)) => {
                format!("cost {cost}, charged the hold {held}; {uncollected} not collected")
            }
            _ => format!("cost too large to represent, charged the hold {held}"),
        };
        tracing::warn!(request_id = %self.log.request_id, upstream = %self.log.upstream, %what,
            "upstream reported usage above the request's bound");
        self.state.metrics.over_bound(
            &self.log.upstream,
            uncollected.map_or(u64::MAX, |u| u.units().max(0) as u64),
        );
        let note = format!("upstream reported usage above the request's bound: {what}");
        self.log.error = if self.log.error.is_empty() {
            note
        } else {
            format!("{}; {note}", self.log.error)
        };
    }

    /// A request no upstream served: nothing is charged and the hold goes back in full.
    /// `code` is the error code the client was told; `error` the detail for the operator.
    pub fn unserved(mut self, status: u16, code: &'static str, error: String) {
        self.log.status = status;
        self.log.error_code = code;
        self.log.error = error;
        self.log.cost = Money::ZERO;
        if let Some(hold) = self.hold.take() {
            hold.release();
        }
        self.close(None);
    }

    /// Hands the charge and the log row to the request writer. It is not waited for: from here
    /// on the charge counts against the balance in memory until the writer commits it, so the
    /// next request the client sends already sees it. (A crash before the commit leaves the
    /// request unbilled, never billed twice.)
    fn close(mut self, charge: Option<Charge>) {
        self.log.latency_ms = self.started.elapsed().as_millis() as u64;
        record(&self.state, charge, std::mem::take(&mut self.log));
    }
}

fn record(state: &AppState, charge: Option<Charge>, log: LogRow) {
    state.metrics.observe(&log);
    state.writer.finish(charge, log, state.clock.now());
}

/// A request refused before anything was held: its log row, and the error in its dialect.
pub fn refused(
    state: &AppState,
    dialect: &dyn Dialect,
    mut log: LogRow,
    started: Instant,
    error: ApiError,
) -> Response {
    log.status = error.status.as_u16();
    log.error_code = error.code;
    log.error = error.message.clone();
    log.latency_ms = started.elapsed().as_millis() as u64;
    let error = with_request_id(error, &log.request_id);
    record(state, None, log);
    dialect.error_response(&error)
}

/// A request that costs nothing (a token count): its log row, status 200 unless set.
pub fn record_free(state: &AppState, mut log: LogRow, started: Instant) {
    if log.status == 0 {
        log.status = 200;
    }
    log.latency_ms = started.elapsed().as_millis() as u64;
    record(state, None, log);
}

/// What the client is told when no upstream could answer (after `Bill::unserved`).
pub fn unserved_error(status: StatusCode, code: &'static str, request_id: &str) -> ApiError {
    with_request_id(
        ApiError::new(
            status,
            "upstream_error",
            code,
            "no upstream could answer this request; it was not billed",
        ),
        request_id,
    )
}

/// Adds the request id to a `/v1` error's message, so a user can quote it to the operator.
pub fn with_request_id(mut e: ApiError, request_id: &str) -> ApiError {
    e.message = format!("{} (request id: {request_id})", e.message);
    e
}
