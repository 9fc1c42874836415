//! Prometheus metrics at `/metrics`: requests by endpoint/model/upstream/status, latency
//! histograms, tokens, cost (in integer nano-dollars, never a float), open holds, upstream
//! health and database pool waits. Scraping needs the configured token, or a loopback peer.

use std::fmt::Write;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::{ApiError, ApiResult};
use crate::logs::LogRow;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    model: String,
    upstream: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
    stream: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

type LatencyFamily = Family<EndpointLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter>,
    over_bound: Family<UpstreamLabels, Counter>,
    over_bound_cost: Family<UpstreamLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("code_router");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let tokens = Family::<TokenLabels, Counter>::default();
        let cost = Family::<ModelLabels, Counter>::default();
        let over_bound = Family::<UpstreamLabels, Counter>::default();
        let over_bound_cost = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "usage_over_bound",
            "Requests whose reported usage cost more than their hold (charged the hold), by upstream",
            over_bound.clone(),
        );
        registry.register(
            "usage_over_bound_uncollected_nanodollars",
            "What those requests' usage cost beyond their hold, not collected, in 10^-9 USD",
            over_bound_cost.clone(),
        );
        registry.register("requests", "Requests on /v1, by outcome", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time to answer a /v1 request (whole stream for streams)",
            latency.clone(),
        );
        registry.register(
            "tokens",
            "Tokens billed, by model and direction",
            tokens.clone(),
        );
        registry.register(
            "cost_nanodollars",
            "Cost charged, in 10^-9 USD",
            cost.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            tokens,
            cost,
            over_bound,
            over_bound_cost,
        }
    }
}

impl Metrics {
    /// A request's usage cost more than its hold; `uncollected` is the difference.
    pub fn over_bound(&self, upstream: &str, uncollected: u64) {
        let labels = UpstreamLabels {
            upstream: upstream.to_string(),
        };
        self.over_bound.get_or_create(&labels).inc();
        self.over_bound_cost
            .get_or_create(&labels)
            .inc_by(uncollected);
    }

    /// Counts one finished `/v1` request from its log row.
    pub fn observe(&self, log: &LogRow) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: log.endpoint.to_string(),
                model: log.model.clone(),
                upstream: log.upstream.clone(),
                status: log.status,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: log.endpoint.to_string(),
                stream: log.stream,
            })
            .observe(log.latency_ms as f64 / 1000.0);
        let u = &log.usage;
        if u.prompt() > 0 || u.output > 0 {
            for (direction, n) in [
                ("input", u.input),
                ("cache_read", u.cache_read),
                ("cache_write", u.cache_write_5m + u.cache_write_1h),
                ("output", u.output),
            ] {
                // Cache kinds only where a model uses them.
                if n == 0 && direction.starts_with("cache") {
                    continue;
                }
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: log.model.clone(),
                        direction,
                    })
                    .inc_by(n);
            }
        }
        if log.cost.is_positive() {
            self.cost
                .get_or_create(&ModelLabels {
                    model: log.model.clone(),
                })
                .inc_by(log.cost.units() as u64);
        }
    }
}

/// Quotes a label value for the exposition format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn scrape(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let config = state.config();
    match config.metrics.token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let matches = given.is_some_and(|g| {
                use subtle::ConstantTimeEq;
                bool::from(g.as_bytes().ct_eq(token.as_bytes()))
            });
            if !matches {
                return Err(ApiError::unauthorized(
                    "invalid_token",
                    "metrics need the configured bearer token",
                ));
            }
        }
        None if !peer.ip().to_canonical().is_loopback() => {
            return Err(ApiError::forbidden(
                "metrics_loopback_only",
                "metrics are served to loopback only unless [metrics] token is set",
            ));
        }
        None => {}
    }
    let mut out = String::new();
    encode(&mut out, &state.metrics.registry).map_err(ApiError::internal)?;
    // Figures read at scrape time rather than counted.
    let holds = state.funds.open_holds();
    let _ = writeln!(
        out,
        "# HELP code_router_holds_open Holds of requests in flight."
    );
    let _ = writeln!(out, "# TYPE code_router_holds_open gauge");
    let _ = writeln!(out, "code_router_holds_open {holds}");
    let _ = writeln!(
        out,
        "# HELP code_router_balance_reads_total Committed balances admission read from the database (the rest came from memory)."
    );
    let _ = writeln!(out, "# TYPE code_router_balance_reads_total counter");
    let _ = writeln!(
        out,
        "code_router_balance_reads_total {}",
        state.funds.balance_reads()
    );
    let now_ms = state.clock.now_ms();
    let _ = writeln!(
        out,
        "# HELP code_router_upstream_up 1 when the upstream is not cooling down."
    );
    let _ = writeln!(out, "# TYPE code_router_upstream_up gauge");
    for u in &state.upstreams().list {
        let up = if u.health.cooling_down(now_ms) { 0 } else { 1 };
        let _ = writeln!(
            out,
            "code_router_upstream_up{{upstream=\"{}\"}} {up}",
            label(&u.name)
        );
    }
    let _ = writeln!(
        out,
        "# HELP code_router_upstream_errors Failed attempts at the upstream."
    );
    let _ = writeln!(out, "# TYPE code_router_upstream_errors counter");
    for u in &state.upstreams().list {
        let errors = u.health.snapshot().errors;
        let _ = writeln!(
            out,
            "code_router_upstream_errors_total{{upstream=\"{}\"}} {errors}",
            label(&u.name)
        );
    }
    let waits = state.db.pool_waits();
    let _ = writeln!(
        out,
        "# HELP code_router_db_pool_wait_seconds Time spent waiting for a database connection."
    );
    let _ = writeln!(out, "# TYPE code_router_db_pool_wait_seconds counter");
    for (pool, w) in [("read", waits.read), ("write", waits.write)] {
        let _ = writeln!(
            out,
            "code_router_db_pool_wait_seconds_total{{pool=\"{pool}\"}} {}",
            w.wait_micros as f64 / 1e6
        );
    }
    let _ = writeln!(
        out,
        "# HELP code_router_db_pool_acquires Database connections taken from a pool."
    );
    let _ = writeln!(out, "# TYPE code_router_db_pool_acquires counter");
    for (pool, w) in [("read", waits.read), ("write", waits.write)] {
        let _ = writeln!(
            out,
            "code_router_db_pool_acquires_total{{pool=\"{pool}\"}} {}",
            w.acquires
        );
    }
    if !out.ends_with("# EOF\n") {
        out.push_str("# EOF\n");
    } else {
        // Keep the OpenMetrics terminator last.
        out = out.replace("# EOF\n", "") + "# EOF\n";
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
