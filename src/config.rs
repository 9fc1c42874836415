//! The operator's TOML file: typed sections with defaults, loading, and validation that names the key and line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ledger::money::Money;
use crate::net::IpRange;
use crate::pricing::{GroupRate, ModelPrice, Rate};
use crate::topup::payments::PaymentsConfig;

/// Everything the operator can set. Every section and key has a default, so an empty file
/// (or no file at all) gives a server that starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub billing: BillingConfig,
    pub relay: RelayConfig,
    pub logs: LogsConfig,
    pub metrics: MetricsConfig,
    pub models: BTreeMap<String, ModelPrice>,
    pub groups: BTreeMap<String, GroupRate>,
    pub payments: PaymentsConfig,
    /// A file lists its upstreams; only running with no file at all gets the built-in demo one.
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    pub codes: CodesConfig,
    pub referral: ReferralConfig,
}

/// Without a config file: every default, plus the built-in `demo` upstream serving
/// `demo:free`, so a new user can try the whole flow before configuring a provider.
impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            billing: BillingConfig::default(),
            relay: RelayConfig::default(),
            logs: LogsConfig::default(),
            metrics: MetricsConfig::default(),
            models: BTreeMap::new(),
            groups: BTreeMap::new(),
            upstreams: vec![UpstreamConfig::demo()],
            codes: CodesConfig::default(),
            referral: ReferralConfig::default(),
            payments: PaymentsConfig::default(),
        }
    }
}

/// `[[upstreams]]`: one provider endpoint (an operator's "channel").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    /// `openai` (any OpenAI-compatible HTTP API), `anthropic` (Anthropic's Messages API) or
    /// `demo` (built in, canned replies).
    #[serde(default)]
    pub kind: UpstreamKind,
    /// e.g. `https://api.openai.com/v1`; requests go to `{base_url}/chat/completions` etc. For
    /// `anthropic`, `https://api.anthropic.com` (requests go to `{base_url}/v1/messages`).
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub api_key: Option<String>,
    /// Name of an environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    pub models: Vec<String>,
    /// Client model name → the name this upstream knows it by.
    #[serde(default)]
    pub model_map: BTreeMap<String, String>,
    /// Higher is tried first.
    #[serde(default)]
    pub priority: i32,
    /// Share among upstreams of equal priority.
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `anthropic`: `anthropic-beta` flags taken out of what clients send before it is passed
    /// on, for upstreams that refuse some of them.
    #[serde(default)]
    pub drop_betas: Vec<String>,
    /// `openai`: the upstream serves the Responses API too (`{base_url}/responses`, as
    /// api.openai.com does), so `/v1/responses` is passed through rather than translated to
    /// chat completions.
    #[serde(default)]
    pub responses: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    #[default]
    Openai,
    Anthropic,
    Demo,
}

impl UpstreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamKind::Openai => "openai",
            UpstreamKind::Anthropic => "anthropic",
            UpstreamKind::Demo => "demo",
        }
    }
}

impl UpstreamConfig {
    pub fn demo() -> Self {
        Self {
            name: "demo".into(),
            kind: UpstreamKind::Demo,
            base_url: String::new(),
            api_key: None,
            api_key_env: None,
            models: vec!["demo:free".into()],
            model_map: BTreeMap::new(),
            priority: 0,
            weight: 1,
            enabled: true,
            drop_betas: Vec::new(),
            responses: false,
        }
    }
}

/// `[metrics]`: who may scrape `/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A bearer token scrapers must send; without one, only loopback peers are answered.
    pub token: Option<String>,
}

/// `[logs]`: request log retention. The ledger is kept forever regardless.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Request logs older than this many days are deleted; 0 keeps them forever.
    pub retain_days: u32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self { retain_days: 90 }
    }
}

/// `[relay]`: how the gateway talks to upstreams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Seconds to open a connection to an upstream.
    pub connect_timeout_secs: u64,
    /// Seconds from sending a request until the upstream's response headers arrive.
    pub first_byte_timeout_secs: u64,
    /// Seconds an upstream may stay silent between two chunks of a response.
    pub idle_timeout_secs: u64,
    /// Seconds to keep reading an upstream after the client went away, to learn the usage
    /// the provider bills for.
    pub disconnect_grace_secs: u64,
    /// Consecutive failures after which an upstream is skipped for `cooldown_secs`.
    pub failures_before_cooldown: u32,
    pub cooldown_secs: u64,
    /// Largest request body accepted on `/v1`, in MiB (images make bodies large).
    pub max_body_mb: u32,
    /// MiB of whole (non-stream) upstream answers held in memory at once, across all requests;
    /// past it a request answers 503 rather than the server growing without bound.
    pub max_buffered_mb: u32,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            connect_timeout_secs: 10,
            first_byte_timeout_secs: 120,
            idle_timeout_secs: 120,
            disconnect_grace_secs: 120,
            failures_before_cooldown: 3,
            cooldown_secs: 30,
            max_body_mb: 32,
            max_buffered_mb: 128,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the gateway and console listen on.
    pub listen: String,
    /// Directory holding `code-router.db`.
    pub data_dir: PathBuf,
    /// Public base URL, used for payment return URLs and to decide whether cookies are `Secure`.
    pub public_url: String,
    /// Whether anyone may create an account through `/api/auth/register`.
    pub allow_registration: bool,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `code_router=debug,info`.
    pub log_level: String,
    /// How long a console session lasts without logging in again.
    pub session_hours: u32,
    /// Sign-in attempts allowed per username and client address in `login_window_secs`; after
    /// three failures each attempt waits twice as long as the one before (1 s, 2 s, 4 s, ...).
    pub login_attempts: u32,
    /// Sign-in attempts allowed per username from all addresses together: far above one
    /// address's share, so a stranger alone cannot lock the owner out.
    pub login_attempts_per_username: u32,
    /// Sign-in attempts allowed per client address for all usernames together.
    pub login_attempts_per_ip: u32,
    pub login_window_secs: u32,
    /// Registrations allowed per client IP per hour.
    pub registrations_per_ip_hour: u32,
    /// Largest request body accepted on `/api`, in KiB.
    pub api_body_limit_kb: u32,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<IpRange>,
    /// Seconds a client has to send a request's headers.
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    pub body_timeout_secs: u64,
    /// Seconds in-flight requests (streams included) may take to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Threads serving requests; 0 means one per CPU core.
    pub workers: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Display {
    Usd,
    Quota,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// How the console shows balances: `usd` or `quota`.
    pub display: Display,
    /// Quota units per US dollar, for the `quota` view.
    pub quota_per_usd: u64,
    /// Label of the balance currency.
    pub currency: String,
    /// Output tokens assumed for the pre-hold when a request sets no `max_tokens`.
    pub default_max_output_tokens: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3000".into(),
            data_dir: PathBuf::from("./data"),
            public_url: "http://localhost:3000".into(),
            allow_registration: true,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            session_hours: 168,
            login_attempts: 10,
            login_attempts_per_username: 100,
            login_attempts_per_ip: 100,
            login_window_secs: 300,
            registrations_per_ip_hour: 5,
            api_body_limit_kb: 256,
            trusted_proxies: Vec::new(),
            header_timeout_secs: 30,
            body_timeout_secs: 60,
            shutdown_timeout_secs: 60,
            workers: 0,
        }
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            display: Display::Usd,
            quota_per_usd: 500_000,
            currency: "USD".into(),
            default_max_output_tokens: 4096,
        }
    }
}

/// Redemption codes: how many failed redeem attempts an account gets per window, so codes
/// cannot be guessed by brute force. Counted mainly per account and address, so that members
/// mistyping behind one NAT, or at another place, do not lock each other out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodesConfig {
    /// Per account and client address; after three each attempt waits twice as long.
    pub max_failures_per_account_ip: u32,
    /// Per account, from all addresses together.
    pub max_failures_per_account: u32,
    /// Per client address, for all accounts together.
    pub max_failures_per_ip: u32,
    pub failure_window_secs: u32,
}

impl Default for CodesConfig {
    fn default() -> Self {
        Self {
            max_failures_per_account_ip: 5,
            max_failures_per_account: 20,
            max_failures_per_ip: 100,
            failure_window_secs: 900,
        }
    }
}

/// Referral rewards. Off by default: an operator decides to give money away, not the binary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralConfig {
    pub enabled: bool,
    /// Credited to the inviter's reward balance for each account registered with their code.
    pub inviter_reward: Money,
    /// Credited to the new account's main balance when it registers with a code.
    pub invitee_reward: Money,
    /// When the inviter's reward is paid.
    pub reward_on: RewardOn,
    /// Percent of each paid top-up of an invited account credited to the inviter's reward
    /// balance (`"10"` is 10 %); `"0"` pays no commission.
    pub commission_percent: Rate,
    /// Commission is paid on each invitee's first this many top-ups; 0 pays it on every one.
    pub commission_topups: u32,
    /// Whether redeemed codes count as top-ups for the commission (paid orders always do).
    pub commission_on_codes: bool,
}

impl Default for ReferralConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            inviter_reward: Money::ZERO,
            invitee_reward: Money::ZERO,
            reward_on: RewardOn::Register,
            commission_percent: Rate(rust_decimal::Decimal::ZERO),
            commission_topups: 0,
            commission_on_codes: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RewardOn {
    /// As soon as the invitee registers.
    Register,
    /// After the invitee's first paid top-up or code redemption.
    FirstTopup,
}

/// A problem in the config file, already worded for the operator: file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config: cannot read {}: {e}", path.display())))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let (line, snippet) = line_of(text, span.start);
                    ConfigError(format!(
                        "config: {origin} line {line}: {message} (at `{snippet}`)"
                    ))
                }
                None => ConfigError(format!("config: {origin}: {message}")),
            }
        })?;
        config.validate().map_err(|(key, message)| {
            let at = locate_key(text, &key)
                .map(|line| format!(" line {line}"))
                .unwrap_or_default();
            ConfigError(format!("config: {origin}{at}: {key}: {message}"))
        })?;
        Ok(config)
    }

    /// Checks that span several keys or need more than a type; errors are (key path, message).
    fn validate(&self) -> Result<(), (String, String)> {
        self.listen_addr()
            .map_err(|m| ("server.listen".to_string(), m))?;
        if !(self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            return Err((
                "server.public_url".into(),
                "must start with http:// or https://".into(),
            ));
        }
        if let Err(e) = self
            .server
            .log_level
            .parse::<tracing_subscriber::EnvFilter>()
        {
            return Err((
                "server.log_level".into(),
                format!("not a valid filter: {e}"),
            ));
        }
        if self.server.session_hours == 0 {
            return Err(("server.session_hours".into(), "must be at least 1".into()));
        }
        for (key, value) in [
            ("server.login_attempts", self.server.login_attempts),
            (
                "server.login_attempts_per_username",
                self.server.login_attempts_per_username,
            ),
            (
                "server.login_attempts_per_ip",
                self.server.login_attempts_per_ip,
            ),
            ("server.login_window_secs", self.server.login_window_secs),
        ] {
            if value == 0 {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        for (key, value) in [
            (
                "server.header_timeout_secs",
                self.server.header_timeout_secs,
            ),
            ("server.body_timeout_secs", self.server.body_timeout_secs),
        ] {
            if value == 0 {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        if self.server.api_body_limit_kb < 4 {
            return Err((
                "server.api_body_limit_kb".into(),
                "must be at least 4".into(),
            ));
        }
        if self.billing.quota_per_usd == 0 {
            return Err(("billing.quota_per_usd".into(), "must be at least 1".into()));
        }
        let codes = &self.codes;
        for (key, value) in [
            (
                "max_failures_per_account_ip",
                codes.max_failures_per_account_ip,
            ),
            ("max_failures_per_account", codes.max_failures_per_account),
            ("max_failures_per_ip", codes.max_failures_per_ip),
            ("failure_window_secs", codes.failure_window_secs),
        ] {
            if value == 0 {
                return Err((format!("codes.{key}"), "must be at least 1".into()));
            }
        }
        for (key, value) in [
            ("inviter_reward", self.referral.inviter_reward),
            ("invitee_reward", self.referral.invitee_reward),
        ] {
            if value < Money::ZERO {
                return Err((format!("referral.{key}"), "must not be negative".into()));
            }
        }
        crate::referral::check_commission(&self.referral)?;
        for (name, price) in &self.models {
            price
                .check(name)
                .map_err(|m| (format!("models.\"{name}\""), m))?;
        }
        let relay = &self.relay;
        for (key, value) in [
            ("relay.connect_timeout_secs", relay.connect_timeout_secs),
            (
                "relay.first_byte_timeout_secs",
                relay.first_byte_timeout_secs,
            ),
            ("relay.idle_timeout_secs", relay.idle_timeout_secs),
            ("relay.max_body_mb", u64::from(relay.max_body_mb)),
            ("relay.max_buffered_mb", u64::from(relay.max_buffered_mb)),
        ] {
            if value == 0 {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for upstream in &self.upstreams {
            let fail = |field: &str, message: String| Err((format!("upstreams.{field}"), message));
            let name = upstream.name.trim();
            if name.is_empty() {
                return fail("name", "every upstream needs a name".into());
            }
            if !names.insert(name.to_string()) {
                return fail("name", format!("`{name}` is used by two upstreams"));
            }
            if upstream.kind != UpstreamKind::Demo
                && !(upstream.base_url.starts_with("http://")
                    || upstream.base_url.starts_with("https://"))
            {
                return fail(
                    "base_url",
                    format!("upstream `{name}`: base_url must start with http:// or https://"),
                );
            }
            if upstream.api_key.is_some() && upstream.api_key_env.is_some() {
                return fail(
                    "api_key",
                    format!("upstream `{name}`: set api_key or api_key_env, not both"),
                );
            }
            if upstream.responses && upstream.kind != UpstreamKind::Openai {
                return fail(
                    "responses",
                    format!(
                        "upstream `{name}`: responses = true is for `openai` upstreams; a `{}` upstream gets Responses requests translated",
                        upstream.kind.as_str()
                    ),
                );
            }
            if upstream.models.is_empty() {
                return fail("models", format!("upstream `{name}` serves no models"));
            }
            if upstream.weight == 0 {
                return fail(
                    "weight",
                    format!("upstream `{name}`: weight must be at least 1"),
                );
            }
        }
        self.payments.check()?;
        Ok(())
    }

    /// What parses but cannot work, one sentence each: a priced model no enabled upstream
    /// serves, a served model with neither a price nor the `:free` suffix (it is refused), and an
    /// enabled `openai` upstream that would be sent no API key. `env` reads an environment
    /// variable, so `api_key_env` is checked where the check runs.
    pub fn warnings(&self, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let enabled: Vec<&UpstreamConfig> = self.upstreams.iter().filter(|u| u.enabled).collect();
        let mut warnings = Vec::new();
        // A `:free` entry is no price, only a name; it may wait for an upstream.
        let priced = self
            .models
            .keys()
            .filter(|m| !m.ends_with(crate::pricing::FREE_SUFFIX));
        for model in priced {
            if !enabled.iter().any(|u| u.models.contains(model)) {
                warnings.push(format!(
                    "models.\"{model}\" is priced but no enabled upstream serves it"
                ));
            }
        }
        let mut unpriced = std::collections::BTreeSet::new();
        for upstream in &enabled {
            for model in &upstream.models {
                if !self.models.contains_key(model)
                    && !model.ends_with(crate::pricing::FREE_SUFFIX)
                    && unpriced.insert(model.as_str())
                {
                    warnings.push(format!(
                        "model `{model}` (upstream `{}`) has no price and no `{}` suffix, so it is not served",
                        upstream.name,
                        crate::pricing::FREE_SUFFIX
                    ));
                }
            }
        }
        for upstream in enabled.iter().filter(|u| u.kind != UpstreamKind::Demo) {
            let name = &upstream.name;
            match (&upstream.api_key, &upstream.api_key_env) {
                (Some(key), _) if key.is_empty() => warnings.push(format!(
                    "upstream `{name}`: api_key is empty, so requests go without a key"
                )),
                (Some(_), _) => {}
                (None, Some(var)) => {
                    if env(var).is_none_or(|value| value.is_empty()) {
                        warnings.push(format!(
                            "upstream `{name}`: api_key_env `{var}` is not set (or empty) here, so requests go without a key"
                        ));
                    }
                }
                (None, None) => warnings.push(format!(
                    "upstream `{name}` has no API key: set api_key or api_key_env (any value for a server that needs none)"
                )),
            }
        }
        warnings
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.server.listen.parse().map_err(|_| {
            format!(
                "`{}` is not an address such as 127.0.0.1:3000",
                self.server.listen
            )
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.server.data_dir.join("code-router.db")
    }

    pub fn secure_cookies(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }
}

/// 1-based line number of a byte offset, and that line trimmed.
fn line_of(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    (line_no, line.chars().take(80).collect())
}

/// Finds the line that sets a dotted key path such as `server.listen` or `models."gpt-4o"`,
/// following `[table]` headers; good enough to point an operator at the line to fix.
fn locate_key(text: &str, path: &str) -> Option<usize> {
    let want = normalize_key(path);
    let mut table = String::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_start_matches('[');
            let name = header.split(']').next().unwrap_or("");
            table = normalize_key(name);
            if table == want {
                return Some(index + 1);
            }
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            let key = normalize_key(key);
            let full = if table.is_empty() {
                key
            } else {
                format!("{table}.{key}")
            };
            if full == want {
                return Some(index + 1);
            }
        }
    }
    None
}

fn normalize_key(key: &str) -> String {
    key.split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_defaults() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:3000");
        assert_eq!(c.billing.quota_per_usd, 500_000);
    }

    #[test]
    fn type_errors_name_line_and_key() {
        let e = Config::parse("[server]\n\nlisten = 5\n", "c.toml").unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        assert!(e.0.contains("listen"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = Config::parse("[server]\nlisen = \"x\"\n", "c.toml").unwrap_err();
        assert!(e.0.contains("lisen"), "{e}");
        assert!(e.0.contains("line 2"), "{e}");
    }

    #[test]
    fn referral_and_codes_sections() {
        let c = Config::parse("", "t").unwrap();
        assert!(!c.referral.enabled);
        assert_eq!(c.referral.inviter_reward, Money::ZERO);
        assert_eq!(c.referral.reward_on, RewardOn::Register);
        let c = Config::parse(
            "[referral]\nenabled = true\ninviter_reward = \"1.5\"\nreward_on = \"first_topup\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.referral.inviter_reward.units(), 1_500_000_000);
        assert_eq!(c.referral.reward_on, RewardOn::FirstTopup);
        let cases = [
            (
                "[referral]\ninviter_reward = \"-1\"\n",
                "line 2: referral.inviter_reward",
            ),
            ("[referral]\ninvitee_reward = 1\n", "line 2"),
            ("[referral]\nreward_on = \"later\"\n", "line 2"),
            (
                "[codes]\nfailure_window_secs = 0\n",
                "line 2: codes.failure_window_secs",
            ),
        ];
        for (text, needle) in cases {
            let e = Config::parse(text, "c.toml").unwrap_err();
            assert!(e.0.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn semantic_errors_find_the_line() {
        let e = Config::parse(
            "[server]\nallow_registration = true\nlisten = \"nope\"\n",
            "c.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("line 3: server.listen"), "{e}");
    }
}
