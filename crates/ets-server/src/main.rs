//! `ets-ledger`: the one binary. `main` only wires things together: the
//! command line, logging, the store, the HTTP server and shutdown.

mod demo;
mod journal_file;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ets_api::AppState;
use ets_core::{Actor, Role};
use ets_store::{Command, NewCredential, NewPerson, PersonSecrets, Store};
use uuid::Uuid;

/// The database used when none is given: a SQLite file in the working folder.
const DEFAULT_DATABASE: &str = "sqlite:ets-ledger.db";

#[derive(Parser)]
#[command(
    name = "ets-ledger",
    version,
    about = "An emissions-rights trading ledger"
)]
struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "ETS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
struct Database {
    /// `postgres://…` for PostgreSQL; `sqlite:PATH` or a file path for SQLite.
    /// Without it, `ets-ledger.db` in the working folder is created and used.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE, hide_env_values = true)]
    database_url: String,
    /// The time zone the ledger counts its business days in, as an offset
    /// from UTC (`+08:00`; `Asia/Shanghai` and `UTC` are understood). Stored
    /// with a new database (Asia/Shanghai without it); an existing database
    /// keeps its own, and a command that names another is refused.
    #[arg(long, env = "ETS_BUSINESS_ZONE")]
    business_zone: Option<ets_core::BusinessZone>,
}

#[derive(clap::Args, Clone)]
struct TokenSettings {
    /// Access tokens' lifetime in seconds.
    #[arg(long, env = "ETS_TOKEN_TTL_SECS", default_value_t = 900)]
    token_ttl_secs: u64,
    /// The tokens' `iss`.
    #[arg(long, env = "ETS_TOKEN_ISSUER", default_value = "ets-ledger")]
    token_issuer: String,
    /// The tokens' `aud`.
    #[arg(long, env = "ETS_TOKEN_AUDIENCE", default_value = "ets-ledger-api")]
    token_audience: String,
    /// A file holding the Ed25519 signing key as base64 PKCS#8. Without it the
    /// key kept with the database is used (generated at first start).
    #[arg(long, env = "ETS_SIGNING_KEY_FILE")]
    signing_key_file: Option<PathBuf>,
}

/// Paid-use fees and the late surcharge (SPEC §1, §5).
#[derive(clap::Args, Clone)]
struct FinanceArgs {
    /// The published unit fees a paid allocation without `unit_fee` is
    /// charged at, CNY per unit per year: `NAME=FEE,…` by pollutant.
    #[arg(
        long,
        env = "ETS_PAID_USE_FEES",
        default_value_t = ets_engine::FeeSchedule::default()
    )]
    paid_use_fees: ets_engine::FeeSchedule,
    /// The late surcharge per day, as a fraction of the principal overdue,
    /// fixed on each invoice when it is created (0 to 1, at most 6 places).
    #[arg(long, env = "ETS_SURCHARGE_DAILY_RATE", default_value_t = ets_engine::DEFAULT_DAILY_SURCHARGE_RATE, value_parser = daily_rate)]
    surcharge_daily_rate: rust_decimal::Decimal,
}

fn daily_rate(text: &str) -> Result<rust_decimal::Decimal, String> {
    let rate: rust_decimal::Decimal = text
        .parse()
        .map_err(|_| format!("{text:?} is not a decimal"))?;
    if rate < rust_decimal::Decimal::ZERO
        || rate > rust_decimal::Decimal::ONE
        || rate.normalize().scale() > 6
    {
        return Err("the rate must be 0 to 1 with at most 6 decimal places".to_owned());
    }
    Ok(rate)
}

impl FinanceArgs {
    fn settings(&self) -> ets_api::FinanceSettings {
        ets_api::FinanceSettings {
            fees: self.paid_use_fees.clone(),
            daily_rate: self.surcharge_daily_rate,
        }
    }
}

impl TokenSettings {
    fn config(&self) -> ets_api::token::TokenConfig {
        ets_api::token::TokenConfig {
            issuer: self.token_issuer.clone(),
            audience: self.token_audience.clone(),
            ttl: std::time::Duration::from_secs(self.token_ttl_secs),
        }
    }

    fn configured_key(&self) -> Result<Option<ets_api::token::SigningKey>, AnyError> {
        let Some(path) = &self.signing_key_file else {
            return Ok(None);
        };
        use base64::Engine;
        let text = std::fs::read_to_string(path)?;
        let der = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
        Ok(Some(ets_api::token::SigningKey::from_pkcs8(&der)?))
    }
}

#[derive(Subcommand)]
enum Commands {
    /// Run the HTTP server (migrating the database first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "ETS_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        tokens: TokenSettings,
        #[command(flatten)]
        finance: FinanceArgs,
        #[command(flatten)]
        edge: Edge,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[command(flatten)]
        database: Database,
    },
    /// Manage API credentials.
    Credential {
        #[command(subcommand)]
        command: CredentialCommand,
    },
    /// Manage the web console's people (administrators, regulators,
    /// finance staff).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Fill an empty database with a realistic city (a dozen enterprises,
    /// rights, allocations, cash) and print one credential of each role.
    Demo {
        #[command(flatten)]
        database: Database,
        /// Where to write the signed checkpoint of the demo's journal and
        /// the key set that verifies it (`demo-checkpoint.json`,
        /// `demo-jwks.json`).
        #[arg(long, env = "ETS_DEMO_OUT_DIR", default_value = ".")]
        out_dir: PathBuf,
    },
    /// Export or verify the tamper-evident journal.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// The signing keys of tokens and checkpoints.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// The settlement of a business day, for finance's scheduled jobs.
    Settlement {
        #[command(subcommand)]
        command: SettlementCommand,
    },
}

#[derive(Subcommand)]
enum SettlementCommand {
    /// Write a business day's settlement (SPEC §5): the same bytes as
    /// `GET /v1/settlements/{date}?format=…`.
    Export {
        /// The business day, YYYY-MM-DD (Asia/Shanghai).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// json, csv (the participant rows) or xlsx.
        #[arg(long, default_value = "json")]
        format: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        database: Database,
    },
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// Issue a credential and print `{"client_id": …, "client_secret": …}`.
    /// The secret is shown this once and stored only as an argon2id hash.
    Create {
        /// admin, enterprise, regulator or finance.
        #[arg(long)]
        role: String,
        /// A human name for the client, e.g. "registry operator".
        #[arg(long)]
        name: String,
        /// The participant an enterprise credential is bound to.
        #[arg(long)]
        participant: Option<Uuid>,
        #[command(flatten)]
        database: Database,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a person and print `{"login", "password", "totp_uri"}`: a
    /// generated password, shown this once and stored as an argon2id hash,
    /// and the TOTP secret for an authenticator app.
    Create {
        /// admin, regulator or finance.
        #[arg(long)]
        role: String,
        /// Their name, as the console shows it.
        #[arg(long)]
        name: String,
        /// What they log in as.
        #[arg(long)]
        login: String,
        #[command(flatten)]
        database: Database,
    },
    /// Give a person a new password and TOTP secret (printed as by
    /// `create`), ending their console sessions.
    Reset {
        #[arg(long)]
        login: String,
        #[command(flatten)]
        database: Database,
    },
    /// Disable a person: no more logins, their sessions ended.
    Disable {
        #[arg(long)]
        login: String,
        #[command(flatten)]
        database: Database,
    },
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Write the whole journal as JSON lines.
    Export {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        database: Database,
    },
    /// Verify an exported journal offline, and with `--checkpoint` that it
    /// extends a kept checkpoint signed by a key of the kept `--jwks`;
    /// exits 1 naming the first bad entry and why.
    Verify {
        /// The exported JSON-lines file.
        #[arg(long)]
        file: PathBuf,
        /// A checkpoint kept from `GET /v1/audit/checkpoint`.
        #[arg(long, requires = "jwks")]
        checkpoint: Option<PathBuf>,
        /// The key set kept from `GET /.well-known/jwks.json`.
        #[arg(long, requires = "checkpoint")]
        jwks: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Install a new signing key: every node signs tokens and checkpoints
    /// with it within seconds; earlier keys stay published. Journaled.
    /// Prints `{"kid": …}`.
    Rotate {
        #[command(flatten)]
        database: Database,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ets-ledger: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = %error, "ets-ledger failed");
            eprintln!("ets-ledger: {error}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

async fn run(command: Commands) -> Result<ExitCode, AnyError> {
    match command {
        Commands::Serve {
            listen,
            database,
            tokens,
            finance,
            edge,
        } => serve(listen, &database, &tokens, finance.settings(), edge).await,
        Commands::Migrate { database } => {
            open(&database).await?;
            tracing::info!("database migrated");
            Ok(ExitCode::SUCCESS)
        }
        Commands::Credential {
            command:
                CredentialCommand::Create {
                    role,
                    name,
                    participant,
                    database,
                },
        } => create_credential(&role, &name, participant, &database).await,
        Commands::User { command } => user(command).await,
        Commands::Demo { database, out_dir } => {
            let store = open(&database).await?;
            let summary = demo::run(&store, &out_dir).await?;
            emit(&summary)?;
            Ok(ExitCode::SUCCESS)
        }
        Commands::Journal {
            command: JournalCommand::Export { out, database },
        } => {
            let store = open(&database).await?;
            let written = journal_file::export(&store, &out).await?;
            tracing::info!(entries = written, file = %out.display(), "journal exported");
            Ok(ExitCode::SUCCESS)
        }
        Commands::Settlement {
            command:
                SettlementCommand::Export {
                    date,
                    format,
                    out,
                    database,
                },
        } => {
            let format = ets_api::settlement::SettlementFormat::parse(&format)
                .map_err(|problem| problem.detail().to_owned())?;
            let store = open(&database).await?;
            let mut download = ets_api::settlement::settlement(&store, date, format)
                .await
                .map_err(|problem| problem.detail().to_owned())?;
            let written = write_download(&mut download, &out).await.inspect_err(|_| {
                // Nothing half-written is left for a scheduled job to pick up.
                let _ = std::fs::remove_file(&out);
            })?;
            tracing::info!(%date, file = %out.display(), bytes = written, "settlement exported");
            Ok(ExitCode::SUCCESS)
        }
        Commands::Journal {
            command:
                JournalCommand::Verify {
                    file,
                    checkpoint,
                    jwks,
                },
        } => {
            let kept = checkpoint.zip(jwks);
            let verdict = journal_file::verify(
                &file,
                kept.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            )?;
            emit(&verdict)?;
            if verdict["ok"] == true {
                Ok(ExitCode::SUCCESS)
            } else {
                let reason = verdict["reason"]
                    .as_str()
                    .unwrap_or("the journal does not verify");
                eprintln!("ets-ledger: journal verify failed: {reason}");
                Ok(ExitCode::from(1))
            }
        }
        Commands::Key {
            command: KeyCommand::Rotate { database },
        } => {
            let store = open(&database).await?;
            let kid = ets_api::auth::rotate_signing_key(&store, Actor::cli()).await?;
            tracing::info!(%kid, "signing key rotated");
            emit(&serde_json::json!({ "kid": kid }))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open(database: &Database) -> Result<Store, AnyError> {
    let url = &database.database_url;
    tracing::info!(database = %redact(url), "opening the database");
    let clock = std::sync::Arc::new(ets_store::SystemClock::default());
    let store = Store::open_configured(url, clock, database.business_zone).await?;
    tracing::info!(business_zone = %store.business_zone(), "business days counted at UTC offset");
    Ok(store)
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// How the node meets its clients and the other nodes: the request
/// timeout, the reverse proxies it trusts, the time a client has to send a
/// request's head, where other nodes reach it.
#[derive(clap::Args)]
struct Edge {
    /// Seconds a request may take to the head of its answer; a download
    /// (a settlement, an export) then streams for as long as it takes.
    #[arg(long, env = "ETS_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Reverse proxies (IP addresses, comma-separated) whose
    /// `X-Forwarded-For` names the client's address for the login
    /// limits; without it the peer's address is the client's.
    #[arg(long, env = "ETS_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a client may take to send a request's head; a slower
    /// one's connection is closed.
    #[arg(long, env = "ETS_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// Where the other nodes on the same PostgreSQL database reach this
    /// one (e.g. http://10.0.0.5:8080) when it holds the writer lease
    /// and they pass it their writes; by default the listen address
    /// (127.0.0.1 when listening on every address).
    #[arg(long, env = "ETS_ADVERTISE_URL")]
    advertise_url: Option<String>,
}

/// An `--advertise-url` as the forwarding client can use it: `http://`, a
/// host and a port, nothing after.
fn checked_advertise_url(url: &str) -> Result<String, AnyError> {
    let parsed: axum::http::Uri = url
        .parse()
        .map_err(|_| format!("--advertise-url {url:?} is not a URL"))?;
    let plain_http = parsed.scheme_str() == Some("http")
        && parsed.authority().is_some_and(|a| a.port_u16().is_some())
        && matches!(parsed.path(), "" | "/")
        && parsed.query().is_none();
    if plain_http {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(format!("--advertise-url must be http://HOST:PORT, not {url:?}").into())
    }
}

/// Where other nodes reach this one: `http://` and the address it listens
/// on, 127.0.0.1 (or ::1) for an unspecified address.
fn advertised(listening: SocketAddr) -> String {
    let ip = match listening.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listening.port()))
}

async fn serve(
    listen: SocketAddr,
    database: &Database,
    tokens: &TokenSettings,
    finance: ets_api::FinanceSettings,
    edge: Edge,
) -> Result<ExitCode, AnyError> {
    let store = open(database).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let advertise = match edge.advertise_url {
        Some(url) => checked_advertise_url(&url)?,
        None => {
            let own = advertised(address);
            if address.ip().is_unspecified() && store.backend_name() == "postgres" {
                tracing::warn!(
                    "listening on every address without --advertise-url: other nodes of this \
                     database will be told {own}, which reaches this node only from its own host"
                );
            }
            own
        }
    };
    let lease = store.join_writer_election(advertise);
    let sweeper = ets_api::spawn_sweeper(store.clone());
    let stopping = store.clone();
    let header_read_timeout = std::time::Duration::from_secs(edge.header_read_timeout_secs);
    let state = AppState::load(store, tokens.config(), tokens.configured_key()?)
        .await?
        .with_finance(finance)
        .with_request_timeout(std::time::Duration::from_secs(edge.request_timeout_secs))
        .with_trusted_proxies(edge.trusted_proxies)
        .with_writer_lease(lease, header_read_timeout / 2);
    tracing::info!(kid = %state.tokens.signing_key().kid(), "signing key ready");
    let app = ets_api::app(state);
    tracing::info!(address = %address, "listening");
    ets_api::serve::serve(listener, app, header_read_timeout, shutdown_signal()).await?;
    sweeper.abort();
    match stopping.stop().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "another connection kept the database busy: the write-ahead log stays until the next start"
        ),
        Err(error) => {
            tracing::warn!(error = %error, "the write-ahead log stays until the next start");
        }
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn create_credential(
    role: &str,
    name: &str,
    participant: Option<Uuid>,
    database: &Database,
) -> Result<ExitCode, AnyError> {
    let role = Role::parse(role)?;
    let store = open(database).await?;
    let client_id = ets_api::secret::new_client_id()?;
    let secret = ets_api::secret::new_secret()?;
    let credential = NewCredential {
        client_id: client_id.clone(),
        name: name.to_owned(),
        role,
        participant_id: participant,
        secret_hash: ets_api::secret::hash_secret(&secret)?,
    };
    store
        .execute(Actor::cli(), Command::CreateCredential(credential))
        .await?;
    tracing::info!(client_id = %client_id, role = role.as_str(), "credential created");
    emit(&serde_json::json!({ "client_id": client_id, "client_secret": secret }))?;
    Ok(ExitCode::SUCCESS)
}

/// `ets-ledger user …`: each change one journaled command, actor `cli`.
async fn user(command: UserCommand) -> Result<ExitCode, AnyError> {
    let (database, login, command) = match command {
        UserCommand::Create {
            role,
            name,
            login,
            database,
        } => {
            let role = Role::parse(&role)?;
            let (secrets, printed) = person_secrets(&login)?;
            let person = NewPerson {
                login: login.clone(),
                name,
                role,
                secrets,
            };
            (database, Some(printed), Command::CreatePerson(person))
        }
        UserCommand::Reset { login, database } => {
            let (secrets, printed) = person_secrets(&login)?;
            let command = Command::ResetPerson { login, secrets };
            (database, Some(printed), command)
        }
        UserCommand::Disable { login, database } => {
            let printed = serde_json::json!({ "login": login, "disabled": true });
            (database, Some(printed), Command::DisablePerson { login })
        }
    };
    let store = open(&database).await?;
    store.execute(Actor::cli(), command).await?;
    if let Some(printed) = login {
        emit(&printed)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A new password and TOTP secret for `login`: what is stored, and what is
/// printed once (`{"login", "password", "totp_uri"}`).
fn person_secrets(login: &str) -> Result<(PersonSecrets, serde_json::Value), AnyError> {
    let password = ets_api::secret::new_password()?;
    let totp = ets_api::secret::new_totp_secret()?;
    let secrets = PersonSecrets {
        password_hash: ets_api::secret::hash_secret(&password)?,
        totp_secret: ets_core::totp::base32(&totp),
    };
    let printed = serde_json::json!({
        "login": login,
        "password": password,
        "totp_uri": ets_core::totp::uri("ets-ledger", login, &totp),
    });
    Ok((secrets, printed))
}

/// A command's result: one JSON line on stdout (logs go to stderr).
fn emit(value: &serde_json::Value) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ETS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Logs go to stderr: stdout carries command output (credentials, verdicts).
    // Colours only for a person at a terminal, never into a log file.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Writes a download into the file `out`, chunk by chunk; answers the bytes
/// written.
async fn write_download(
    download: &mut ets_api::settlement::Download,
    out: &std::path::Path,
) -> Result<u64, AnyError> {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut written = 0;
    while let Some(chunk) = download.recv().await {
        let chunk = chunk?;
        file.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    file.into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::{advertised, checked_advertise_url, redact};

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact("postgres://ets:s3cret@db:5432/ets"),
            "postgres://ets:***@db:5432/ets"
        );
        assert_eq!(redact("sqlite:ets-ledger.db"), "sqlite:ets-ledger.db");
    }

    #[test]
    fn an_advertised_url_is_plain_http_with_a_port_and_nothing_after() {
        assert_eq!(
            checked_advertise_url("http://10.0.0.5:8080/").ok(),
            Some("http://10.0.0.5:8080".to_owned())
        );
        for wrong in [
            "10.0.0.5:8080",
            "https://10.0.0.5:8080",
            "http://10.0.0.5",
            "http://10.0.0.5:8080/api",
            "http://10.0.0.5:8080?x=1",
        ] {
            assert!(checked_advertise_url(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn a_node_listening_on_every_address_advertises_its_loopback() {
        let every: std::net::SocketAddr = "0.0.0.0:8080".parse().expect("an address");
        assert_eq!(advertised(every), "http://127.0.0.1:8080");
        let one: std::net::SocketAddr = "10.0.0.5:9000".parse().expect("an address");
        assert_eq!(advertised(one), "http://10.0.0.5:9000");
    }
}
