//! The command line: `serve`, `user`, `config check` and the operator tools, each a plain function.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::accounts::{self, password, NewUser, Role};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, LogFormat};
use crate::db::Db;
use crate::ledger::{self, audit, money::Money};
use crate::topup::codes::{self, NewCodes};

#[derive(Parser)]
#[command(
    name = "code-router",
    version,
    about = "Code Router: a self-hosted, OpenAI-compatible LLM API gateway with exact prepaid billing",
    long_about = "Code Router: a self-hosted, OpenAI-compatible LLM API gateway with exact prepaid \
                  billing.\n\nRun `code-router serve` to start the gateway (/v1) and the web console (/). \
                  Without --config it runs on embedded defaults with its data in ./data."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Args, Clone)]
pub struct Common {
    /// Config file (TOML); without it the embedded defaults are used
    #[arg(long, value_name = "FILE", env = "CODE_ROUTER_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory holding code-router.db (overrides server.data_dir)
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway and the web console
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on, e.g. 0.0.0.0:3000 (overrides server.listen)
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Log as JSON lines instead of text (overrides server.log_format)
        #[arg(long)]
        log_json: bool,
    },
    /// Manage accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Work with the config file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Redemption codes
    #[command(subcommand)]
    Codes(CodesCommand),
    /// Re-derive every balance and key limit from the ledger; exits non-zero on any mismatch
    Audit {
        #[command(flatten)]
        common: Common,
    },
    /// Write a consistent copy of the database, safe while the server runs
    Backup {
        #[command(flatten)]
        common: Common,
        /// The new file to write (must not exist)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from standard input
    Create {
        #[command(flatten)]
        common: Common,
        /// Username: 3 to 32 letters, digits, '_', '-' or '.'
        #[arg(long)]
        username: String,
        /// Make the account an admin
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List every account: id, username, role, state and balances
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Set an account's password (read from standard input) and end its sessions
    SetPassword {
        #[command(flatten)]
        common: Common,
        /// The account
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: it cannot sign in, its sessions end and its API keys stop
    Disable {
        #[command(flatten)]
        common: Common,
        /// The account
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again
    Enable {
        #[command(flatten)]
        common: Common,
        /// The account
        #[arg(long)]
        username: String,
    },
    /// Credit (positive amount) or debit (negative amount) a balance; recorded in the ledger
    Adjust {
        #[command(flatten)]
        common: Common,
        /// The account to adjust
        #[arg(long)]
        username: String,
        /// Amount in USD as a decimal, e.g. 10 or -2.50
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Why, kept in the ledger row
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum CodesCommand {
    /// Print new redemption codes, one a line; they are shown only now (the database keeps a hash)
    Generate {
        #[command(flatten)]
        common: Common,
        /// Amount each code credits, in USD as a decimal, e.g. 10 or 2.50
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// How many codes to make, 1 to 1000
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        count: String,
        /// When the codes stop working: a date (2026-12-31, at 00:00 UTC) or an RFC 3339 time
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// A note shown in the admin list, e.g. the campaign the codes are for
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file: errors name the key and the line (exit 1); what parses but
    /// cannot work (a price no upstream serves, a served model without a price, an upstream
    /// without an API key) is a warning on standard error, one line each (exit 0)
    Check {
        /// The config file to check (TOML); required
        #[arg(long, value_name = "FILE", env = "CODE_ROUTER_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory to report instead of the file's server.data_dir
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

/// Loads the config the command names, with `--data` applied.
fn load_config(common: &Common) -> Result<Config, String> {
    let mut config = match &common.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(dir) = &common.data {
        config.server.data_dir = dir.clone();
    }
    Ok(config)
}

fn open_db(config: &Config) -> Result<Db, String> {
    Db::open(&config.database_path())
}

/// Opens the database of a command that needs one to exist already: a typo in `--data` must
/// not make an empty database (and report it "clean" or its codes "generated"). Only `serve`
/// and `user create` start a new data directory.
fn open_existing_db(config: &Config, command: &str) -> Result<Db, String> {
    let path = config.database_path();
    if !path.is_file() {
        return Err(format!(
            "{command}: no database at {}; check --data (or server.data_dir in the config); nothing was created",
            path.display()
        ));
    }
    open_db(config)
}

/// The first line of standard input, for `--password-stdin`, checked like a password typed in
/// the console.
fn password_from_stdin(command: &str, password_stdin: bool) -> Result<String, String> {
    if !password_stdin {
        return Err(format!(
            "{command}: pass the password on standard input with --password-stdin"
        ));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("{command}: reading the password: {e}"))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    password::check_strength(&pw).map_err(|e| format!("{command}: {e}"))?;
    Ok(pw)
}

pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            common,
            listen,
            log_json,
        } => {
            let mut config = load_config(&common)?;
            if let Some(addr) = listen {
                config.server.listen = addr;
            }
            if log_json {
                config.server.log_format = LogFormat::Json;
            }
            serve(config, common.config)
        }
        Command::User(UserCommand::Create {
            common,
            username,
            admin,
            password_stdin,
        }) => {
            let pw = password_from_stdin("user create", password_stdin)?;
            accounts::check_username(&username).map_err(|e| format!("user create: {e}"))?;
            let config = load_config(&common)?;
            let db = open_db(&config)?;
            let hash = password::hash(&pw).map_err(|e| e.cli_text())?;
            let role = if admin { Role::Admin } else { Role::User };
            let now = SystemClock.now();
            let user = db
                .write_blocking(|conn| {
                    accounts::create_user(
                        conn,
                        &NewUser {
                            username: &username,
                            password_hash: &hash,
                            role,
                            inviter_id: None,
                        },
                        now,
                    )
                })
                .map_err(|e| format!("user create: {}", e.cli_text()))?;
            println!(
                "created {} {} (id {})",
                user.role.as_str(),
                user.username,
                user.id
            );
            Ok(())
        }
        Command::User(UserCommand::List { common }) => {
            let config = load_config(&common)?;
            let db = open_existing_db(&config, "user list")?;
            let users = db
                .read_blocking(accounts::find_all_users)
                .map_err(|e| format!("user list: {}", e.cli_text()))?;
            print!("{}", user_table(&users));
            Ok(())
        }
        Command::User(UserCommand::SetPassword {
            common,
            username,
            password_stdin,
        }) => {
            let pw = password_from_stdin("user set-password", password_stdin)?;
            let config = load_config(&common)?;
            let db = open_existing_db(&config, "user set-password")?;
            let user = db
                .read_blocking(|conn| accounts::find_user_by_username(conn, &username))
                .map_err(|e| format!("user set-password: {}", e.cli_text()))?;
            let hash = password::hash(&pw).map_err(|e| e.cli_text())?;
            let ended = db
                .write_blocking(|conn| accounts::set_password_hash(conn, user.id, &hash))
                .map_err(|e| format!("user set-password: {}", e.cli_text()))?;
            println!("{username}: password set; {ended} sessions ended");
            Ok(())
        }
        Command::User(UserCommand::Disable { common, username }) => {
            set_disabled(&common, &username, true)
        }
        Command::User(UserCommand::Enable { common, username }) => {
            set_disabled(&common, &username, false)
        }
        Command::User(UserCommand::Adjust {
            common,
            username,
            amount,
            reason,
        }) => {
            let amount =
                Money::parse(&amount).map_err(|e| format!("user adjust: --amount: {e}"))?;
            let config = load_config(&common)?;
            let db = open_existing_db(&config, "user adjust")?;
            let now = SystemClock.now();
            let balance = db
                .write_blocking(|conn| {
                    let user_id = ledger::find_user_id_by_username(conn, &username)?;
                    ledger::adjust(conn, user_id, amount, &reason, "cli", now)
                })
                .map_err(|e| format!("user adjust: {}", e.cli_text()))?;
            println!("{username}: adjusted by {amount}; balance is now {balance}");
            Ok(())
        }
        Command::Audit { common } => {
            let config = load_config(&common)?;
            let db = open_existing_db(&config, "audit")?;
            let report = db
                .write_blocking(audit::audit)
                .map_err(|e| format!("audit: {}", e.cli_text()))?;
            for problem in &report.problems {
                println!("MISMATCH {problem}");
            }
            let summary = format!(
                "{} accounts, {} keys, {} ledger rows",
                report.accounts, report.keys, report.ledger_rows
            );
            if report.is_clean() {
                println!("audit: clean ({summary})");
                Ok(())
            } else {
                Err(format!(
                    "audit: {} mismatches ({summary})",
                    report.problems.len()
                ))
            }
        }
        Command::Backup { common, out } => {
            let config = load_config(&common)?;
            // Checked here too, so every command words a missing database alike.
            let path = config.database_path();
            if !path.is_file() {
                return Err(format!(
                    "backup: no database at {}; check --data (or server.data_dir in the config)",
                    path.display()
                ));
            }
            crate::db::backup::backup(&path, &out)?;
            println!("backup: wrote {}", out.display());
            Ok(())
        }
        Command::Codes(CodesCommand::Generate {
            common,
            amount,
            count,
            expires,
            note,
        }) => {
            let count: i64 = count
                .trim()
                .parse()
                .map_err(|_| format!("codes generate: --count: `{count}` is not a whole number"))?;
            let now = SystemClock.now();
            let batch = NewCodes::parse(&amount, count, expires.as_deref(), note.as_deref(), now)
                .map_err(|e| format!("codes generate: {}", e.cli_text()))?;
            let config = load_config(&common)?;
            let db = open_existing_db(&config, "codes generate")?;
            let made = db
                .write_blocking(|conn| codes::generate_codes(conn, &batch, "cli", now))
                .map_err(|e| format!("codes generate: {}", e.cli_text()))?;
            for code in &made {
                println!("{code}");
            }
            let expiry = batch
                .expires_at
                .map(|at| format!(", expiring {}", crate::clock::rfc3339(at)))
                .unwrap_or_default();
            eprintln!(
                "codes generate: {} codes of {} each{expiry}; they are not stored, keep them now",
                made.len(),
                batch.amount
            );
            Ok(())
        }
        Command::Config(ConfigCommand::Check { config, data }) => {
            let Some(path) = &config else {
                return Err("config check: name the file with --config FILE".into());
            };
            let mut config = Config::load(path).map_err(|e| e.to_string())?;
            if let Some(dir) = data {
                config.server.data_dir = dir;
            }
            for warning in config.warnings(|var| std::env::var(var).ok()) {
                eprintln!("config check: warning: {warning}");
            }
            println!(
                "{}: ok ({} models priced, {} upstreams, listening on {}, database {})",
                path.display(),
                config.models.len(),
                config.upstreams.len(),
                config.server.listen,
                config.database_path().display()
            );
            Ok(())
        }
    }
}

/// `user disable` and `user enable`.
fn set_disabled(common: &Common, username: &str, disabled: bool) -> Result<(), String> {
    let command = if disabled {
        "user disable"
    } else {
        "user enable"
    };
    let config = load_config(common)?;
    let db = open_existing_db(&config, command)?;
    let ended = db
        .write_blocking(|conn| {
            let user = accounts::find_user_by_username(conn, username)?;
            accounts::set_disabled(conn, user.id, disabled)
        })
        .map_err(|e| format!("{command}: {}", e.cli_text()))?;
    if disabled {
        println!(
            "{username}: disabled; {ended} sessions ended; its API keys stop within {} seconds",
            crate::keys::cache::CACHE_SECS
        );
    } else {
        println!("{username}: enabled");
    }
    Ok(())
}

/// Accounts as `user list` prints them: a header, then one aligned row each.
fn user_table(users: &[accounts::User]) -> String {
    let rows: Vec<[String; 6]> = users
        .iter()
        .map(|u| {
            [
                u.id.to_string(),
                u.username.clone(),
                u.role.as_str().to_string(),
                if u.disabled { "disabled" } else { "active" }.to_string(),
                u.balance.to_string(),
                u.reward_balance.to_string(),
            ]
        })
        .collect();
    let header = ["id", "username", "role", "state", "balance", "reward"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn serve(config: Config, config_path: Option<PathBuf>) -> Result<(), String> {
    crate::telemetry::init(config.server.log_format, &config.server.log_level);
    let addr = config
        .listen_addr()
        .map_err(|e| format!("server.listen: {e}"))?;
    let clock = Arc::new(SystemClock);
    let state = crate::open_state(config, clock.clone())?;
    if let Some(path) = config_path {
        state.set_config_path(path);
    }
    let created = state
        .db
        .write_blocking(|conn| accounts::ensure_admin(conn, clock.now()))
        .map_err(|e| format!("creating the first admin: {}", e.cli_text()))?;
    // This thread accepts connections and runs the background jobs; requests are served on
    // `server.workers` threads of their own (see `server`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        if let Some((username, pw)) = created {
            println!("Created the first admin account (shown only this once):");
            println!("  username: {username}");
            println!("  password: {pw}");
            println!("Sign in at http://{local}/ and change the password under Account.");
        }
        println!("Code Router listening on http://{local}");
        reload_on_hangup(state.clone());
        tracing::info!(%local, "listening");
        crate::serve(state, listener, shutdown_signal())
            .await
            .map_err(|e| format!("server: {e}"))
    })
}

/// `SIGHUP` reloads the config file; a broken file is logged and the running config stays.
fn reload_on_hangup(state: crate::state::AppState) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /api/admin/reload");
            return;
        };
        while hangups.recv().await.is_some() {
            let reloading = state.clone();
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(summary)) => tracing::info!(%summary, "SIGHUP: config reloaded"),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "SIGHUP: config NOT reloaded; the running config stays")
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = state;
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
