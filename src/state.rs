//! Shared server state: database, clock, the live config, and the in-memory limiters.

use std::cell::OnceCell;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::checkpoint::Checkpointer;
use crate::db::Db;
use crate::keys::cache::KeyCache;
use crate::ledger::funds::Funds;
use crate::ledger::writer::RequestWriter;
use crate::metrics::Metrics;
use crate::pricing::PriceTable;
use crate::ratelimit::Limits;
use crate::relay::buffers::BufferBudget;
use crate::relay::route::Sticky;
use crate::relay::upstreams::UpstreamSet;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

thread_local! {
    /// A serving thread's own upstream client, so the connections its requests use are driven
    /// by that thread (see `server`).
    static OWN_CLIENT: OnceCell<reqwest::Client> = const { OnceCell::new() };
}

/// `[relay] max_buffered_mb` in bytes.
fn buffer_limit(config: &Config) -> usize {
    config.relay.max_buffered_mb as usize * 1024 * 1024
}

/// An HTTP client for upstreams, with the relay's settings.
fn upstream_client(config: &Config) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(config.relay.connect_timeout_secs))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        // Failover is ours (see relay::upstreams); an API call is never redirected.
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .build()
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "HTTP client with settings failed; using defaults");
            reqwest::Client::new()
        })
}

pub struct Inner {
    pub db: Db,
    pub clock: SharedClock,
    pub limits: Limits,
    /// Verified API keys, so the `/v1` check needs no query.
    pub keys: KeyCache,
    /// The HMAC secret API keys are hashed under.
    pub key_secret: Vec<u8>,
    /// The pooled HTTP client for upstreams and payment providers, for threads without their own.
    pub http: reqwest::Client,
    /// Money in flight: requests' holds and charges not yet committed.
    pub funds: Arc<Funds>,
    /// Writes finished requests' charges and log rows, group-committed.
    pub writer: RequestWriter,
    /// Folds the WAL into the database file in the background.
    pub checkpointer: Checkpointer,
    /// Which upstream each recent session was answered by.
    pub sticky: Sticky,
    /// What whole upstream answers may hold in memory at once.
    pub buffers: BufferBudget,
    pub metrics: Metrics,
    config_path: OnceLock<PathBuf>,
    live: RwLock<Live>,
}

/// The parts of the config that a reload replaces, swapped whole.
struct Live {
    config: Arc<Config>,
    prices: Arc<PriceTable>,
    upstreams: Arc<UpstreamSet>,
}

impl AppState {
    pub fn new(
        config: Config,
        db: Db,
        clock: SharedClock,
        key_secret: Vec<u8>,
    ) -> Result<AppState, String> {
        let limits = Limits::new(&config);
        let prices = Arc::new(PriceTable::new(&config.models, &config.groups));
        let upstreams = Arc::new(UpstreamSet::from_config(&config.upstreams, None));
        let http = upstream_client(&config);
        let funds = Arc::new(Funds::open(db.path(), db.writes())?);
        let writer = RequestWriter::start(db.path(), funds.clone())?;
        let checkpointer = Checkpointer::start(db.path())?;
        Ok(AppState(Arc::new(Inner {
            db,
            clock,
            limits,
            keys: KeyCache::default(),
            key_secret,
            http,
            funds,
            writer,
            checkpointer,
            sticky: Sticky::default(),
            buffers: BufferBudget::new(buffer_limit(&config)),
            metrics: Metrics::default(),
            config_path: OnceLock::new(),
            live: RwLock::new(Live {
                config: Arc::new(config),
                prices,
                upstreams,
            }),
        })))
    }

    /// The upstream client for this thread: a serving thread's own, else the shared one.
    pub fn upstream_http(&self) -> reqwest::Client {
        OWN_CLIENT
            .with(|own| own.get().cloned())
            .unwrap_or_else(|| self.http.clone())
    }

    /// Gives the calling thread its own upstream client (a serving thread, as it starts).
    pub fn use_own_upstream_client(&self) {
        let client = upstream_client(&self.config());
        OWN_CLIENT.with(|own| {
            let _ = own.set(client);
        });
    }

    pub fn config(&self) -> Arc<Config> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .config
            .clone()
    }

    /// Remembers the file the config came from, so it can be reloaded.
    pub fn set_config_path(&self, path: PathBuf) {
        let _ = self.config_path.set(path);
    }

    /// Re-reads the config file and swaps prices, upstreams and every other reloadable
    /// setting in at once; requests in flight keep what they started with. The listen address
    /// and data directory need a restart. On any error nothing changes.
    pub fn reload(&self) -> Result<String, String> {
        let Some(path) = self.config_path.get() else {
            return Err(
                "the server runs on embedded defaults; there is no config file to reload".into(),
            );
        };
        let mut fresh = Config::load(path).map_err(|e| e.to_string())?;
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        let old = &live.config.server;
        if fresh.server.listen != old.listen || fresh.server.data_dir != old.data_dir {
            tracing::warn!("server.listen and server.data_dir change only on restart");
        }
        fresh.server.listen = old.listen.clone();
        fresh.server.data_dir = old.data_dir.clone();
        let prices = Arc::new(PriceTable::new(&fresh.models, &fresh.groups));
        let upstreams = Arc::new(UpstreamSet::from_config(
            &fresh.upstreams,
            Some(&live.upstreams),
        ));
        let summary = format!(
            "{} models priced, {} upstreams",
            fresh.models.len(),
            upstreams.list.len()
        );
        self.buffers.set_limit(buffer_limit(&fresh));
        *live = Live {
            config: Arc::new(fresh),
            prices,
            upstreams,
        };
        drop(live);
        // Group rates may have changed: cached keys carry their owner's group, not its rate, so
        // nothing cached goes stale.
        tracing::info!(%summary, "config reloaded");
        Ok(summary)
    }

    pub fn upstreams(&self) -> Arc<UpstreamSet> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .upstreams
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
