//! `TestApp`: the real router on a real socket with a fresh database (SQLite file, or a fresh
//! PostgreSQL schema when `CUSTOS_TEST_DATABASE_URL` is a postgres URL), a movable clock, and
//! an HTTP client that behaves like a browser (cookies, no automatic redirects).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use custos_crypto::seal::MasterKey;
use custos_domain::session::SessionPolicy;
use custos_domain::{Clock, SystemClock};
use custos_oidc::{Provider, ProviderSettings};
use custos_store::Store;
use reqwest::Method;
use serde_json::{json, Value};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type R<T> = Result<T, Box<dyn std::error::Error>>;

/// A clock that starts at real time and moves only when told.
pub struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct TestApp {
    pub base: String,
    /// Kept so the provider (and its audit writer) lives as long as the test.
    pub _provider: Arc<Provider>,
    pub clock: Arc<FakeClock>,
    /// Checkpoints and log-stream delivery, as `custos serve` runs them.
    pub trail: Arc<custos_trail::Runtime>,
    pub mgmt_token: String,
    pub bootstrap: (String, String),
    /// The database URL (for tampering with it directly, or pointing the CLI at it).
    pub db_url: String,
    /// The client behind `api` and `token_form`; it trusts the test CA when serving TLS.
    pub http: reqwest::Client,
    /// With TLS, the test CA's certificate as a PEM file, for clients in other processes
    /// (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`).
    pub ca_file: Option<std::path::PathBuf>,
    /// The certificate and key this app's test CA signed for `localhost` and `127.0.0.1`. The
    /// CA is made for every app: scripts' `fetch` trusts it besides the default roots.
    cert_pem: String,
    key_pem: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub const PASSWORD: &str = "correct horse battery staple";
pub const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// The test suite's own setting (not the server's configuration): which engine to test.
#[allow(clippy::disallowed_methods)]
pub async fn database_url(dir: &std::path::Path) -> R<String> {
    match std::env::var("CUSTOS_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            // A fresh schema per test so tests run in parallel on one database.
            let schema = format!(
                "t_{}",
                custos_crypto::random::alphanumeric(12)?.to_lowercase()
            );
            sqlx_create_schema(&url, &schema).await?;
            let sep = if url.contains('?') { '&' } else { '?' };
            Ok(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
        }
        _ => Ok(format!("sqlite://{}", dir.join("custos.db").display())),
    }
}

async fn sqlx_create_schema(url: &str, schema: &str) -> R<()> {
    // The store's own connection creates nothing outside its schema, so use psql-free SQL
    // through a throwaway store connection on the default search path.
    let admin = custos_store::admin::Admin::connect(url).await?;
    admin.execute(&format!("CREATE SCHEMA {schema}")).await?;
    Ok(())
}

impl TestApp {
    /// Plain HTTP on `http://127.0.0.1:<port>/`.
    pub async fn start() -> R<Self> {
        Self::start_with(false).await
    }

    /// HTTPS (rustls) on `https://127.0.0.1:<port>/` with a certificate from a fresh test CA,
    /// whose PEM is in `ca_file`: what SDKs that only speak HTTPS to a domain need.
    pub async fn start_tls() -> R<Self> {
        Self::start_with(true).await
    }

    /// Plain HTTP, with scripts limited to `ms` milliseconds (the default is 100).
    pub async fn start_with_script_time(ms: u64) -> R<Self> {
        Self::start_full(false, std::time::Duration::from_millis(ms)).await
    }

    async fn start_with(tls: bool) -> R<Self> {
        Self::start_full(tls, std::time::Duration::from_millis(100)).await
    }

    async fn start_full(tls: bool, script_time: std::time::Duration) -> R<Self> {
        let dir = tempfile::tempdir()?;
        let url = database_url(dir.path()).await?;
        let store = Store::connect(&url).await?;
        let db_url = url.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let scheme = if tls { "https" } else { "http" };
        let base = format!("{scheme}://{}/", listener.local_addr()?);
        let clock = Arc::new(FakeClock(AtomicI64::new(SystemClock.now_ms())));
        let master = Arc::new(MasterKey::from_text(&MasterKey::generate_text()?)?);
        let (ca_pem, cert_pem, key_pem) = test_ca()?;
        let network = custos_rules::HttpsNetwork::new(Some(&ca_pem))?;
        let provider = Arc::new(
            Provider::new(
                store,
                clock.clone(),
                master,
                ProviderSettings {
                    issuer: base.clone(),
                    session: SessionPolicy::from_hours(1.0, 8.0),
                },
            )
            .await?
            .with_engine(Arc::new(
                custos_rules_js::JsEngine::new(custos_rules_js::Limits {
                    time: script_time,
                    ..Default::default()
                })
                .with_network(Arc::new(network)),
            )),
        );
        let bootstrap = (
            "bootstrap-client".to_owned(),
            "bootstrap-secret-0123456789".to_owned(),
        );
        custos_oidc::bootstrap::ensure_bootstrap_client(&provider, &bootstrap.0, &bootstrap.1)
            .await?;
        let trail = Arc::new(
            custos_trail::Runtime::start(
                provider.store.clone(),
                provider.master.clone(),
                provider.clock.clone(),
                custos_trail::RuntimeConfig {
                    checkpoint_every: std::time::Duration::from_millis(500),
                    streams: custos_trail::streams::StreamSettings {
                        backoff_base: std::time::Duration::from_millis(50),
                        backoff_cap: std::time::Duration::from_millis(400),
                        request_timeout: std::time::Duration::from_secs(2),
                        poll: std::time::Duration::from_millis(100),
                        ..Default::default()
                    },
                    archive_dir: None,
                    exports_dir: dir.path().join("exports"),
                },
            )
            .await?,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = custos_server::router(provider.clone(), trail.clone());
        let (http, ca_file) = if tls {
            let ca_file = dir.path().join("test-ca.pem");
            std::fs::write(&ca_file, &ca_pem)?;
            serve_tls(listener, router, &cert_pem, &key_pem, rx)?;
            let http = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
                .build()?;
            (http, Some(ca_file))
        } else {
            tokio::spawn(custos_server::serve_plain(listener, router, async {
                let _ = rx.await;
            }));
            (reqwest::Client::new(), None)
        };
        let mut app = Self {
            base,
            _provider: provider,
            clock,
            trail,
            mgmt_token: String::new(),
            bootstrap,
            db_url,
            http,
            ca_file,
            cert_pem,
            key_pem,
            _dir: dir,
            shutdown: Some(tx),
        };
        let t = app
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app.bootstrap.0),
                ("client_secret", &app.bootstrap.1),
                ("audience", &format!("{}api/v2/", app.base)),
            ])
            .await?;
        app.mgmt_token = t.1["access_token"].as_str().unwrap_or_default().to_owned();
        Ok(app)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    pub fn advance(&self, secs: i64) {
        self.clock.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }

    /// A browser: keeps cookies, never follows redirects.
    pub fn browser() -> R<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?)
    }

    pub async fn token_form(&self, form: &[(&str, &str)]) -> R<(u16, Value)> {
        let r = self
            .http
            .post(self.url("oauth/token"))
            .form(form)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// A Management API call with the bootstrap token.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> R<(u16, Value)> {
        let mut req = self
            .http
            .request(
                method,
                self.url(&format!("api/v2/{}", path.trim_start_matches('/'))),
            )
            .bearer_auth(&self.mgmt_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn create_user(&self, email: &str) -> R<Value> {
        let (s, u) = self
            .api(
                reqwest::Method::POST,
                "users",
                Some(json!({"connection": "Username-Password-Authentication", "email": email, "password": PASSWORD})),
            )
            .await?;
        assert_eq!(s, 201, "{u}");
        Ok(u)
    }

    /// A client with `body` merged into defaults for an interactive test app.
    pub async fn create_client(&self, body: Value) -> R<Value> {
        let mut b = json!({"name": "Test app", "callbacks": [CALLBACK], "allowed_logout_urls": ["http://127.0.0.1:9/bye"]});
        if let (Some(dst), Some(src)) = (b.as_object_mut(), body.as_object()) {
            for (k, v) in src {
                dst.insert(k.clone(), v.clone());
            }
        }
        let (s, c) = self.api(reqwest::Method::POST, "clients", Some(b)).await?;
        assert_eq!(s, 201, "{c}");
        Ok(c)
    }

    /// Audit records of one type, newest first.
    pub async fn logs_of_type(&self, t: &str) -> R<Vec<Value>> {
        let (_, logs) = self
            .api(reqwest::Method::GET, "logs?per_page=100", None)
            .await?;
        Ok(logs
            .as_array()
            .map(|a| a.iter().filter(|l| l["type"] == t).cloned().collect())
            .unwrap_or_default())
    }
}

impl TestApp {
    pub fn store(&self) -> &Store {
        &self._provider.store
    }

    /// Verifies the whole audit chain with the trail's verifier; the finding, if any.
    pub async fn verify_chain(&self) -> R<Option<custos_audit::Finding>> {
        let report = custos_trail::verify::verify(
            self.store(),
            Some(&self._provider.master),
            &custos_trail::verify::VerifyOptions::default(),
        )
        .await?;
        Ok(report.finding)
    }
}

/// A local HTTPS server answering every request with one JSON body, with a certificate from
/// the app's test CA (so scripts' `fetch` trusts it). Stops when dropped.
pub struct HttpsJsonServer {
    /// `localhost:<port>`, as a script declares and fetches it.
    pub host: String,
    /// Requests answered so far.
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsJsonServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestApp {
    /// Starts an [`HttpsJsonServer`] answering `200` with `body` (`application/json`).
    pub async fn https_json_server(&self, body: &str) -> R<HttpsJsonServer> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let acceptor = tls_acceptor(&self.cert_pem, &self.key_pem)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let host = format!("localhost:{}", listener.local_addr()?.port());
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let response = response.clone();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    // The request's head is enough: the answer does not depend on it.
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 2048];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Ok(HttpsJsonServer { host, hits, task })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One run of the authorization-code flow through the login page.
pub struct Login {
    pub browser: reqwest::Client,
    pub verifier: String,
    pub code: String,
    pub state: String,
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Extracts `name="…" value="…"` from the login form.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'"),
    )
}

impl TestApp {
    pub fn authorize_url(&self, client_id: &str, challenge: &str, extra: &str) -> String {
        format!(
            "{}authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20profile%20email%20offline_access&state=st-1&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256{extra}",
            self.base,
            url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
        )
    }

    /// Drives `/authorize` → login page → credentials → code.
    /// Follows `authorize_url` to the login page in `browser` and returns the login form filled
    /// in with `email` and `password`, ready to post to `/u/login`.
    pub async fn login_form(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        email: &str,
        password: &str,
    ) -> R<[(&'static str, String); 4]> {
        let r = browser.get(authorize_url).send().await?;
        assert!(r.status().is_redirection(), "{}", r.status());
        let login_url = self.url(r.headers()["location"].to_str()?);
        let page = browser.get(&login_url).send().await?.text().await?;
        Ok([
            ("state", hidden(&page, "state").ok_or("no state")?),
            ("csrf", hidden(&page, "csrf").ok_or("no csrf")?),
            ("username", email.to_owned()),
            ("password", password.to_owned()),
        ])
    }

    pub async fn login(&self, client_id: &str, email: &str, password: &str) -> R<Login> {
        let browser = Self::browser()?;
        let verifier = custos_crypto::random::token()?;
        let challenge = custos_crypto::pkce::s256(&verifier);
        let url = self.authorize_url(client_id, &challenge, "");
        let form = self.login_form(&browser, &url, email, password).await?;
        let r = browser.post(self.url("u/login")).form(&form).send().await?;
        if !r.status().is_redirection() {
            return Err(format!("login answered {}", r.status()).into());
        }
        let location = r.headers()["location"].to_str()?.to_owned();
        assert!(location.starts_with(CALLBACK), "{location}");
        Ok(Login {
            browser,
            verifier,
            code: query_param(&location, "code").ok_or("no code")?,
            state: query_param(&location, "state").unwrap_or_default(),
        })
    }

    pub async fn exchange(&self, client_id: &str, login: &Login) -> R<(u16, Value)> {
        self.token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &login.code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &login.verifier),
        ])
        .await
    }

    pub async fn userinfo(&self, token: &str) -> R<(u16, Value)> {
        let r = self
            .http
            .get(self.url("userinfo"))
            .bearer_auth(token)
            .send()
            .await?;
        let s = r.status().as_u16();
        Ok((s, r.json().await.unwrap_or(Value::Null)))
    }
}

/// A throwaway CA and a server certificate it signed for `localhost` and `127.0.0.1`:
/// `(ca_pem, server_cert_pem, server_key_pem)`.
pub fn test_ca() -> R<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Custos test CA");
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

fn server_tls_config(cert_pem: &str, key_pem: &str) -> R<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())?.ok_or("no key")?;
    Ok(rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?)
}

/// A TLS acceptor serving `cert_pem` / `key_pem`.
pub fn tls_acceptor(cert_pem: &str, key_pem: &str) -> R<tokio_rustls::TlsAcceptor> {
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(
        server_tls_config(cert_pem, key_pem)?,
    )))
}

/// Serves `router` over rustls on `listener` (as `custos serve` does with `CUSTOS_TLS_CERT`)
/// until `stop` fires.
fn serve_tls(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    cert_pem: &str,
    key_pem: &str,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> R<()> {
    let mut config = server_tls_config(cert_pem, key_pem)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        let _ = stop.await;
        h.shutdown();
    });
    let server = axum_server::from_tcp_rustls(listener.into_std()?, config).handle(handle);
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(router.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .await
        {
            eprintln!("test TLS server stopped: {e}");
        }
    });
    Ok(())
}

/// The claims of a JWT, unverified (the tests check what a token says, not who signed it).
pub fn jwt_claims(token: &str) -> R<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    Ok(serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?,
    )?)
}

/// Creates an enabled Rule; its id.
pub async fn create_rule(app: &TestApp, name: &str, script: &str) -> R<String> {
    let (s, r) = app
        .api(
            Method::POST,
            "rules",
            Some(json!({"name": name, "script": script, "enabled": true})),
        )
        .await?;
    assert_eq!(s, 201, "{r}");
    Ok(r["id"].as_str().ok_or("rule id")?.to_owned())
}

/// Creates, deploys and binds (appending to the trigger's bindings) an action.
pub async fn deploy_action(
    app: &TestApp,
    name: &str,
    trigger: &str,
    code: &str,
    secrets: Value,
) -> R<String> {
    let (s, a) = app
        .api(
            Method::POST,
            "actions/actions",
            Some(json!({"name": name, "code": code, "secrets": secrets,
                "supported_triggers": [{"id": trigger, "version": "v3"}]})),
        )
        .await?;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_str().ok_or("action id")?.to_owned();
    let (s, v) = app
        .api(Method::POST, &format!("actions/actions/{id}/deploy"), None)
        .await?;
    assert!(s == 200 || s == 201, "{s} {v}");
    let (s, current) = app
        .api(
            Method::GET,
            &format!("actions/triggers/{trigger}/bindings"),
            None,
        )
        .await?;
    assert_eq!(s, 200, "{current}");
    let mut refs: Vec<Value> = current["bindings"]
        .as_array()
        .ok_or("bindings")?
        .iter()
        .map(|b| json!({"ref": {"type": "action_id", "value": b["action"]["id"]}, "display_name": b["display_name"]}))
        .collect();
    refs.push(json!({"ref": {"type": "action_id", "value": id}, "display_name": name}));
    let (s, b) = app
        .api(
            Method::PATCH,
            &format!("actions/triggers/{trigger}/bindings"),
            Some(json!({"bindings": refs})),
        )
        .await?;
    assert_eq!(s, 200, "{b}");
    Ok(id)
}

/// `POST /api/v2/check`, expecting HTTP 200; the decision.
pub async fn check(app: &TestApp, body: Value) -> R<Value> {
    let (s, d) = app.api(Method::POST, "check", Some(body)).await?;
    assert_eq!(s, 200, "{d}");
    Ok(d)
}
