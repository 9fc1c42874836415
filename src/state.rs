//! Shared server state: database, clock, the live config, and the in-memory limiters.

use std::ops::Deref;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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
    /// One HTTP client for outbound calls (payment providers), with its connection pool.
    pub http: reqwest::Client,
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
}

impl AppState {
    pub fn new(config: Config, db: Db, clock: SharedClock) -> AppState {
        let server = &config.server;
        let limits = Limits {
            login_by_ip: RateLimiter::new(server.login_attempts * 3, server.login_window_secs),
            login_by_user: RateLimiter::new(server.login_attempts, server.login_window_secs),
            register_by_ip: RateLimiter::new(server.registrations_per_ip_hour, 3600),
        };
        let prices = Arc::new(PriceTable::new(&config.models, &config.groups));
        AppState(Arc::new(Inner {
            db,
            clock,
            limits,
            http: outbound_client(),
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

/// The client for outbound calls: bounded connect and total times, so a provider that hangs
/// cannot hold a request open. Building it only fails without a TLS backend, which we compile in.
fn outbound_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("code-router/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
