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
    /// Legacy Rules: run in order at every login, before any Action.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Actions: create, deploy, and bind to a trigger.
    #[command(subcommand)]
    Actions(ActionsCommand),
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

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// List rules by order (JSON).
    List,
    /// Create a rule from a file holding `function (user, context, callback) { … }`.
    Create {
        #[arg(long)]
        name: String,
        /// The script; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Where it runs among the rules (lower first); default: after the last one.
        #[arg(long)]
        order: Option<i64>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Delete a rule.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum ActionsCommand {
    /// List actions (JSON).
    List,
    /// Create an action (a draft: deploy it, then bind it) from a file holding
    /// `exports.onExecutePostLogin = async (event, api) => { … }` or the like.
    Create {
        #[arg(long)]
        name: String,
        /// The trigger it is written for, e.g. post-login or access-check.
        #[arg(long)]
        trigger: String,
        /// The code; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Deploy an action's draft as a new version.
    Deploy { id: String },
    /// Replace a trigger's bindings with these actions (ids or names), in this order.
    Bind {
        #[arg(long)]
        trigger: String,
        #[arg(required = true, value_name = "ACTION")]
        actions: Vec<String>,
    },
    /// Run an action locally against a sample event, in the server's sandbox and limits, and
    /// print what it decided: outcome, claims, metadata, cache and logs (JSON). Nothing is
    /// stored and no server is needed. Exits non-zero unless the action lets the flow go on.
    Test {
        /// The action's code.
        file: PathBuf,
        /// The trigger to run it for, e.g. post-login or access-check.
        #[arg(long, default_value = "post-login")]
        trigger: String,
        /// The event as JSON (Auth0's `event` object); a sample doctor's login without it.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
    },
}

/// A script from a file, or standard input for `-`.
fn read_script(file: &std::path::Path) -> anyhow::Result<String> {
    if file == std::path::Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading the script from standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
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
        Command::Rules(r) => rules(settings(&cli)?, r).await,
        Command::Actions(a) => actions(settings(&cli)?, a).await,
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

/// `custos rules …`: the Management API's rule operations, audited as the CLI.
async fn rules(s: Settings, c: &RulesCommand) -> anyhow::Result<()> {
    boot::init_logging(s.log_format);
    let booted = boot::boot(&s, &s.issuer).await?;
    let mgr = Manager::new(&booted.provider, cli_actor());
    let out = match c {
        RulesCommand::List => {
            let paging = Paging {
                page: 0,
                per_page: 100,
                include_totals: true,
                checkpoint: false,
            };
            mgr.list_rules(paging, None).await
        }
        RulesCommand::Create {
            name,
            file,
            order,
            disabled,
        } => {
            let mut body =
                json!({"name": name, "script": read_script(file)?, "enabled": !disabled});
            if let Some(o) = order {
                body["order"] = json!(o);
            }
            mgr.create_rule(&body).await
        }
        RulesCommand::Delete { id } => mgr.delete_rule(id).await.map(|()| json!({"deleted": id})),
    };
    booted.provider.store.close().await;
    print_result(out)
}

/// `custos actions test`: runs an action locally; needs no data directory or database.
async fn test_action(
    s: &Settings,
    file: &std::path::Path,
    trigger: &str,
    event: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let limits = custos_rules_js::Limits {
        time: std::time::Duration::from_millis(s.script_timeout_ms),
        memory: usize::try_from(s.script_memory_mb)
            .unwrap_or(32)
            .saturating_mul(1024 * 1024),
        ..Default::default()
    };
    let (file, trigger, event) = (
        file.to_owned(),
        trigger.to_owned(),
        event.map(|e| e.to_owned()),
    );
    let allowed = tokio::task::spawn_blocking(move || {
        crate::script_test::run(&file, &trigger, event.as_deref(), limits)
    })
    .await??;
    if !allowed {
        bail!("the action did not let the flow continue");
    }
    Ok(())
}

/// `custos actions …`: the Management API's action operations, audited as the CLI.
async fn actions(s: Settings, c: &ActionsCommand) -> anyhow::Result<()> {
    if let ActionsCommand::Test {
        file,
        trigger,
        event,
    } = c
    {
        return test_action(&s, file, trigger, event.as_deref()).await;
    }
    boot::init_logging(s.log_format);
    let booted = boot::boot(&s, &s.issuer).await?;
    let mgr = Manager::new(&booted.provider, cli_actor());
    let out = match c {
        // Handled above, before any database is opened.
        ActionsCommand::Test {
            file,
            trigger,
            event,
        } => {
            booted.provider.store.close().await;
            return test_action(&s, file, trigger, event.as_deref()).await;
        }
        ActionsCommand::List => {
            let paging = Paging {
                page: 0,
                per_page: 100,
                include_totals: true,
                checkpoint: false,
            };
            mgr.list_actions(paging, None, None, None, None).await
        }
        ActionsCommand::Create {
            name,
            trigger,
            file,
        } => {
            let body = json!({
                "name": name,
                "supported_triggers": [{"id": trigger, "version": custos_domain::extensibility::TRIGGER_VERSION}],
                "code": read_script(file)?,
            });
            mgr.create_action(&body).await
        }
        ActionsCommand::Deploy { id } => mgr.deploy_action(id).await,
        ActionsCommand::Bind { trigger, actions } => {
            // Action ids are UUIDs; anything else is taken as a name.
            let bindings: Vec<Value> = actions
                .iter()
                .map(|a| {
                    let kind = if a.len() == 36 && a.chars().filter(|c| *c == '-').count() == 4 {
                        "action_id"
                    } else {
                        "action_name"
                    };
                    json!({"ref": {"type": kind, "value": a}})
                })
                .collect();
            mgr.update_trigger_bindings(trigger, &json!({ "bindings": bindings }))
                .await
        }
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
