//! Shared server state: database, clock, the live config, and the in-memory limiters.

use std::ops::Deref;
use std::sync::{Arc, RwLock};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::pricing::PriceTable;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub clock: SharedClock,
    pub limits: Limits,
    live: RwLock<Live>,
}

/// The parts of the config that a reload replaces, swapped whole.
struct Live {
    config: Arc<Config>,
    prices: Arc<PriceTable>,
}

pub struct Limits {
    pub login_by_ip: RateLimiter,
    pub login_by_user: RateLimiter,
    pub register_by_ip: RateLimiter,
    /// Failed redemption-code attempts, per account id and per client address.
    pub redeem_by_user: RateLimiter,
    pub redeem_by_ip: RateLimiter,
}

impl AppState {
    pub fn new(config: Config, db: Db, clock: SharedClock) -> AppState {
        let server = &config.server;
        let limits = Limits {
            login_by_ip: RateLimiter::new(server.login_attempts * 3, server.login_window_secs),
            login_by_user: RateLimiter::new(server.login_attempts, server.login_window_secs),
            register_by_ip: RateLimiter::new(server.registrations_per_ip_hour, 3600),
            redeem_by_user: RateLimiter::new(
                config.codes.max_failures_per_account,
                config.codes.failure_window_secs,
            ),
            redeem_by_ip: RateLimiter::new(
                config.codes.max_failures_per_ip,
                config.codes.failure_window_secs,
            ),
        };
        let prices = Arc::new(PriceTable::new(&config.models, &config.groups));
        AppState(Arc::new(Inner {
            db,
            clock,
            limits,
            live: RwLock::new(Live {
                config: Arc::new(config),
                prices,
            }),
        }))
    }

    pub fn config(&self) -> Arc<Config> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .config
            .clone()
    }

    pub fn prices(&self) -> Arc<PriceTable> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .prices
            .clone()
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
