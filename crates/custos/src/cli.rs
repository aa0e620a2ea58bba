//! Command-line interface.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use custos_config::Settings;
use custos_manage::{Actor, ApiError, Manager, Paging};
use custos_oidc::RequestMeta;
use serde_json::{json, Value};

use crate::boot;

/// Custos: a self-hostable identity and access platform (OAuth 2.0 / OpenID Connect).
#[derive(Debug, Parser)]
#[command(name = "custos", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file; CUSTOS_* environment variables override its values.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (initialising an empty data directory first).
    Serve,
    /// Create the data directory, database, signing keys and bootstrap client; print them.
    Init,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage applications (OAuth clients).
    #[command(subcommand)]
    Clients(Resource),
    /// Manage users of the Username-Password-Authentication connection.
    #[command(subcommand)]
    Users(Resource),
    /// Manage APIs (resource servers).
    #[command(subcommand)]
    Apis(Resource),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit trail: verify, checkpoint, export, rotate the audit key.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
enum Resource {
    /// Create one from a JSON body in the Management API's shape (plus shortcut flags).
    Create(CreateArgs),
    /// List them (JSON).
    List {
        #[arg(long, default_value_t = 0)]
        page: i64,
        #[arg(long, default_value_t = 50)]
        per_page: i64,
    },
    /// Show one (JSON).
    Get { id: String },
    /// Delete one.
    Delete { id: String },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The request body as JSON, e.g. '{"name":"My app","app_type":"spa"}'.
    #[arg(long)]
    json: Option<String>,
    /// Shortcut for "name".
    #[arg(long)]
    name: Option<String>,
    /// Shortcut for "email" (users).
    #[arg(long)]
    email: Option<String>,
    /// Shortcut for "password" (users).
    #[arg(long)]
    password: Option<String>,
    /// Shortcut for "identifier" (APIs).
    #[arg(long)]
    identifier: Option<String>,
    /// Shortcut for "app_type" (clients): native, spa, regular_web, non_interactive.
    #[arg(long)]
    app_type: Option<String>,
    /// Shortcut for "callbacks" (clients), repeatable.
    #[arg(long = "callback")]
    callbacks: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Rotate signing keys: next becomes current, current becomes previous.
    Rotate,
    /// List signing keys.
    List,
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    Ok(Settings::load(cli.config.as_deref())?)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Version => {
            println!("custos {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve => serve(settings(&cli)?).await,
        Command::Init => {
            let s = settings(&cli)?;
            boot::init_logging(s.log_format);
            let booted = boot::boot(&s, &s.issuer).await?;
            println!("Initialised Custos");
            println!("  data directory: {}", s.data_dir.display());
            println!("  database:       {}", redact_url(&s.database_url));
            println!("  issuer:         {}", s.issuer);
            println!("  signing keys:   RS256, ES256, EdDSA (current and next)");
            match &booted.generated_bootstrap {
                Some(c) => boot::print_bootstrap(&s.issuer, c),
                None => println!("  bootstrap client: already present (not shown again)"),
            }
            booted.provider.store.close().await;
            Ok(())
        }
        Command::Migrate => {
            let s = settings(&cli)?;
            boot::init_logging(s.log_format);
            std::fs::create_dir_all(&s.data_dir)?;
            let store = custos_store::Store::connect(&s.database_url).await?;
            println!("Database is at the latest schema");
            store.close().await;
            Ok(())
        }
        Command::Clients(r) | Command::Users(r) | Command::Apis(r) => {
            let kind = match &cli.command {
                Command::Clients(_) => Kind::Clients,
                Command::Users(_) => Kind::Users,
                _ => Kind::Apis,
            };
            admin(settings(&cli)?, kind, r).await
        }
        Command::Audit(a) => crate::audit::run(settings(&cli)?, a).await,
        Command::Keys(k) => {
            let s = settings(&cli)?;
            boot::init_logging(s.log_format);
            let booted = boot::boot(&s, &s.issuer).await?;
            let mgr = Manager::new(&booted.provider, cli_actor());
            let out = match k {
                KeysCommand::Rotate => mgr.rotate_signing_keys().await,
                KeysCommand::List => mgr.list_signing_keys().await,
            };
            booted.provider.store.close().await;
            print_result(out)
        }
    }
}

fn redact_url(url: &str) -> String {
    match url.split_once('@') {
        Some((head, tail)) if head.contains("://") => {
            let scheme = head.split("://").next().unwrap_or_default();
            format!("{scheme}://[redacted]@{tail}")
        }
        _ => url.to_owned(),
    }
}

fn cli_actor() -> Actor {
    Actor {
        client_id: "cli".into(),
        meta: RequestMeta {
            ip: "local".into(),
            user_agent: format!("custos-cli/{}", env!("CARGO_PKG_VERSION")),
        },
    }
}

enum Kind {
    Clients,
    Users,
    Apis,
}

fn print_result(r: Result<Value, ApiError>) -> anyhow::Result<()> {
    match r {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        Err(e) => bail!("{} ({})", e.message, e.status),
    }
}

async fn admin(s: Settings, kind: Kind, r: &Resource) -> anyhow::Result<()> {
    boot::init_logging(s.log_format);
    let booted = boot::boot(&s, &s.issuer).await?;
    let mgr = Manager::new(&booted.provider, cli_actor());
    let out = match r {
        Resource::Create(a) => {
            let mut body: Value = match &a.json {
                Some(j) => serde_json::from_str(j).context("--json is not valid JSON")?,
                None => json!({}),
            };
            let obj = body.as_object_mut().context("--json must be an object")?;
            for (k, v) in [
                ("name", &a.name),
                ("email", &a.email),
                ("password", &a.password),
                ("identifier", &a.identifier),
                ("app_type", &a.app_type),
            ] {
                if let Some(v) = v {
                    obj.insert(k.into(), json!(v));
                }
            }
            if !a.callbacks.is_empty() {
                obj.insert("callbacks".into(), json!(a.callbacks));
            }
            if matches!(kind, Kind::Users) && !obj.contains_key("connection") {
                obj.insert(
                    "connection".into(),
                    json!(custos_domain::user::DB_CONNECTION),
                );
            }
            match kind {
                Kind::Clients => mgr.create_client(&body).await,
                Kind::Users => mgr.create_user(&body).await,
                Kind::Apis => mgr.create_resource_server(&body).await,
            }
        }
        Resource::List { page, per_page } => {
            let paging = Paging {
                page: *page,
                per_page: *per_page,
                include_totals: true,
                checkpoint: false,
            };
            match kind {
                Kind::Clients => mgr.list_clients(paging).await,
                Kind::Users => mgr.list_users(paging).await,
                Kind::Apis => mgr.list_resource_servers(paging).await,
            }
        }
        Resource::Get { id } => match kind {
            Kind::Clients => mgr.get_client(id).await,
            Kind::Users => mgr.get_user(id).await,
            Kind::Apis => mgr.get_resource_server(id).await,
        },
        Resource::Delete { id } => match kind {
            Kind::Clients => mgr.delete_client(id).await,
            Kind::Users => mgr.delete_user(id).await,
            Kind::Apis => mgr.delete_resource_server(id).await,
        }
        .map(|()| json!({"deleted": id})),
    };
    booted.provider.store.close().await;
    print_result(out)
}

async fn serve(mut s: Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    boot::init_logging(s.log_format);
    boot::check_tls(&s)?;
    let listener =
        std::net::TcpListener::bind(s.listen).with_context(|| format!("binding {}", s.listen))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    // With port 0 and no explicit issuer, the issuer follows the port actually bound.
    let scheme = if s.tls.is_some() { "https" } else { "http" };
    if s.listen.port() == 0 && s.issuer == format!("{scheme}://{}/", s.listen) {
        s.issuer = format!("{scheme}://{bound}/");
    }
    let booted = boot::boot(&s, &s.issuer).await?;
    let trail = boot::start_trail(&s, &booted.provider).await?;
    let trail = std::sync::Arc::new(trail);
    let router = custos_server::router_with(
        booted.provider.clone(),
        trail.clone(),
        &custos_server::HttpSettings {
            management_rate_limit: s.management_rate_limit,
        },
    );
    println!("Custos listening on {scheme}://{bound}");
    println!("Issuer: {}", s.issuer);
    println!("Discovery: {}.well-known/openid-configuration", s.issuer);
    println!(
        "Login: applications send users to {}authorize (the login page is {}u/login)",
        s.issuer, s.issuer
    );
    println!(
        "Management API: {}api/v2/ (described at {}openapi.json)",
        s.issuer, s.issuer
    );
    if let Some(c) = &booted.generated_bootstrap {
        boot::print_bootstrap(&s.issuer, c);
    }
    tracing::info!(address = %bound, issuer = %s.issuer, ready_ms = started.elapsed().as_millis() as u64, "ready");
    match &s.tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            custos_server::serve_plain(listener, router, shutdown_signal()).await?;
        }
        Some(tls) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .context("loading TLS certificate and key")?;
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                h.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
            });
            axum_server::from_tcp_rustls(listener, config)
                .handle(handle)
                .serve(router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await?;
        }
    }
    trail.shutdown().await;
    booted.provider.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

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
    tracing::info!("shutting down: finishing in-flight requests");
}
