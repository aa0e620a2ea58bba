//! Log-stream delivery: at least once, from the audit log itself as the durable outbox.
//!
//! Each active stream has a worker that reads committed records after the stream's cursor,
//! filters them by category, delivers a batch to the sink, and only then moves the cursor,
//! durably. A crash between delivery and cursor update re-sends that batch (receivers
//! de-duplicate by `log_id`); nothing is ever skipped. Failures back off exponentially from
//! `backoff_base` to `backoff_cap` (30 s) and retry forever, so a sink that comes back is
//! caught up automatically; only after `suspend_after` of continuous failure does the stream
//! become `suspended` and wait for an operator. Workers never touch the append path.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use custos_audit::format;
use custos_crypto::seal::MasterKey;
use custos_domain::audit::{AuditRecord, CATEGORIES};
use custos_domain::Clock;
use custos_store::{Store, StreamRow};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::{Result, TrailError};

/// Delivery tuning.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub batch: usize,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub suspend_after: Duration,
    pub request_timeout: Duration,
    /// How often workers look for records written by other processes, and the supervisor for
    /// configuration changes made elsewhere.
    pub poll: Duration,
    /// Syslog has no acknowledgements: after writing a batch, wait this long for the receiver
    /// to reset the connection before counting the batch as delivered.
    pub syslog_probe: Duration,
    /// The HOSTNAME field of syslog messages and `host` of SIEM payloads.
    pub hostname: String,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            batch: 500,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            suspend_after: Duration::from_secs(7 * 24 * 3600),
            request_timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            syslog_probe: Duration::from_millis(50),
            hostname: "custos".into(),
        }
    }
}

/// The stream types Custos delivers to.
pub const TYPES: &[&str] = &["http", "splunk", "datadog", "syslog", "nats"];

/// The sealing context of a stream's sink.
pub fn sink_context(id: &str) -> String {
    format!("log_stream_sink:{id}")
}

/// A validated sink configuration.
#[derive(Debug, Clone)]
enum Sink {
    Http {
        endpoint: String,
        content_type: String,
        format: HttpFormat,
        authorization: Option<String>,
        headers: Vec<(String, String)>,
    },
    Splunk {
        url: String,
        token: String,
    },
    Datadog {
        url: String,
        api_key: String,
    },
    Syslog {
        host: String,
        port: u16,
        tls: Option<Arc<rustls::ClientConfig>>,
        server_name: String,
        app_name: String,
    },
    /// NATS JetStream: one message per record on `subject` (a subject per tenant), with
    /// `Nats-Msg-Id` = `log_id` so JetStream itself drops re-sent duplicates.
    Nats {
        url: String,
        subject: String,
        stream: String,
        token: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpFormat {
    Array,
    Lines,
    Object,
}

fn text(sink: &Value, key: &str) -> Result<Option<String>> {
    match sink.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TrailError::Invalid(format!("sink.{key} must be a string"))),
    }
}

fn required(sink: &Value, key: &str) -> Result<String> {
    text(sink, key)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TrailError::Invalid(format!("sink.{key} is required")))
}

fn http_url(url: &str, key: &str) -> Result<String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        reqwest::Url::parse(url)
            .map(|_| url.to_owned())
            .map_err(|_| TrailError::Invalid(format!("sink.{key} must be an absolute http(s) URL")))
    } else {
        Err(TrailError::Invalid(format!(
            "sink.{key} must be an absolute http(s) URL"
        )))
    }
}

fn tls_config(ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut reader = std::io::BufReader::new(pem.as_bytes());
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert =
                cert.map_err(|_| TrailError::Invalid("sink.syslogCaPem is not PEM".into()))?;
            roots.add(cert).map_err(|_| {
                TrailError::Invalid("sink.syslogCaPem holds an invalid certificate".into())
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(TrailError::Invalid(
                "sink.syslogCaPem holds no certificate".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TrailError::Invalid("TLS set-up failed".into()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Validates a stream's type and sink JSON (Auth0's field names; `syslog` is Custos' own).
pub fn validate_sink(stream_type: &str, sink: &Value) -> Result<()> {
    parse_sink(stream_type, sink).map(|_| ())
}

fn parse_sink(stream_type: &str, sink: &Value) -> Result<Sink> {
    if !sink.is_object() {
        return Err(TrailError::Invalid("sink must be an object".into()));
    }
    match stream_type {
        "http" => {
            let endpoint = http_url(&required(sink, "httpEndpoint")?, "httpEndpoint")?;
            let format = match text(sink, "httpContentFormat")?.as_deref() {
                None | Some("JSONARRAY") => HttpFormat::Array,
                Some("JSONLINES") => HttpFormat::Lines,
                Some("JSONOBJECT") => HttpFormat::Object,
                Some(_) => {
                    return Err(TrailError::Invalid(
                        "sink.httpContentFormat must be JSONARRAY, JSONLINES or JSONOBJECT".into(),
                    ))
                }
            };
            let mut headers = Vec::new();
            if let Some(list) = sink.get("httpCustomHeaders") {
                let items = list.as_array().ok_or_else(|| {
                    TrailError::Invalid("sink.httpCustomHeaders must be an array".into())
                })?;
                for h in items {
                    let (Some(name), Some(value)) = (
                        h.get("header").and_then(Value::as_str),
                        h.get("value").and_then(Value::as_str),
                    ) else {
                        return Err(TrailError::Invalid(
                            "sink.httpCustomHeaders items need header and value strings".into(),
                        ));
                    };
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                        || reqwest::header::HeaderValue::from_str(value).is_err()
                    {
                        return Err(TrailError::Invalid(format!(
                            "sink.httpCustomHeaders: invalid header {name}"
                        )));
                    }
                    headers.push((name.to_owned(), value.to_owned()));
                }
            }
            let authorization = text(sink, "httpAuthorization")?.filter(|s| !s.is_empty());
            if authorization
                .as_deref()
                .is_some_and(|a| reqwest::header::HeaderValue::from_str(a).is_err())
            {
                return Err(TrailError::Invalid(
                    "sink.httpAuthorization is not a valid header value".into(),
                ));
            }
            Ok(Sink::Http {
                endpoint,
                content_type: text(sink, "httpContentType")?
                    .unwrap_or_else(|| "application/json".into()),
                format,
                authorization,
                headers,
            })
        }
        "splunk" => {
            let domain = required(sink, "splunkDomain")?;
            let port = match sink.get("splunkPort") {
                None => 8088,
                Some(Value::String(p)) => p.parse().map_err(|_| {
                    TrailError::Invalid("sink.splunkPort must be a port number".into())
                })?,
                Some(Value::Number(n)) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| {
                        TrailError::Invalid("sink.splunkPort must be a port number".into())
                    })?,
                Some(_) => {
                    return Err(TrailError::Invalid(
                        "sink.splunkPort must be a port number".into(),
                    ))
                }
            };
            let secure = sink
                .get("splunkSecure")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let scheme = if secure { "https" } else { "http" };
            let url = http_url(
                &format!("{scheme}://{domain}:{port}/services/collector/event"),
                "splunkDomain",
            )?;
            Ok(Sink::Splunk {
                url,
                token: required(sink, "splunkToken")?,
            })
        }
        "datadog" => {
            let api_key = required(sink, "datadogApiKey")?;
            let url = match text(sink, "datadogEndpoint")? {
                Some(u) => http_url(&u, "datadogEndpoint")?,
                None => {
                    let site = match text(sink, "datadogRegion")?.as_deref() {
                        None | Some("us") => "datadoghq.com",
                        Some("eu") => "datadoghq.eu",
                        Some("us3") => "us3.datadoghq.com",
                        Some("us5") => "us5.datadoghq.com",
                        Some(_) => {
                            return Err(TrailError::Invalid(
                                "sink.datadogRegion must be us, eu, us3 or us5".into(),
                            ))
                        }
                    };
                    format!("https://http-intake.logs.{site}/api/v2/logs")
                }
            };
            Ok(Sink::Datadog { url, api_key })
        }
        "syslog" => {
            let host = required(sink, "syslogHost")?;
            let port = sink
                .get("syslogPort")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    TrailError::Invalid("sink.syslogPort must be a port number".into())
                })?;
            let use_tls = sink
                .get("syslogTls")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let ca = text(sink, "syslogCaPem")?;
            let tls = if use_tls {
                Some(tls_config(ca.as_deref())?)
            } else {
                None
            };
            Ok(Sink::Syslog {
                server_name: text(sink, "syslogServerName")?.unwrap_or_else(|| host.clone()),
                host,
                port,
                tls,
                app_name: text(sink, "syslogAppName")?.unwrap_or_else(|| "custos".into()),
            })
        }
        "nats" => {
            let url = required(sink, "natsUrl")?;
            if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                return Err(TrailError::Invalid(
                    "sink.natsUrl must be a nats:// or tls:// URL".into(),
                ));
            }
            let tenant = text(sink, "natsTenant")?.unwrap_or_else(|| "default".into());
            let token_ok = |t: &str| {
                !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            if !token_ok(&tenant) {
                return Err(TrailError::Invalid(
                    "sink.natsTenant may hold only letters, digits, - and _".into(),
                ));
            }
            let subject =
                text(sink, "natsSubject")?.unwrap_or_else(|| format!("custos.logs.{tenant}"));
            if subject.is_empty()
                || subject.contains(['*', '>', ' '])
                || subject.split('.').any(str::is_empty)
            {
                return Err(TrailError::Invalid(
                    "sink.natsSubject must be a literal subject like custos.logs.clinic-a".into(),
                ));
            }
            let stream = text(sink, "natsStream")?.unwrap_or_else(|| "CUSTOS_LOGS".into());
            if !token_ok(&stream) {
                return Err(TrailError::Invalid(
                    "sink.natsStream may hold only letters, digits, - and _".into(),
                ));
            }
            Ok(Sink::Nats {
                url,
                subject,
                stream,
                token: text(sink, "natsToken")?.filter(|t| !t.is_empty()),
            })
        }
        other => Err(TrailError::Invalid(format!(
            "type must be one of {}; got {other}",
            TYPES.join(", ")
        ))),
    }
}

/// Validates `filters` (Auth0's `[{type: "category", name}]`); returns the category names.
pub fn parse_filters(filters: &Value) -> Result<Vec<String>> {
    let items = filters
        .as_array()
        .ok_or_else(|| TrailError::Invalid("filters must be an array".into()))?;
    items
        .iter()
        .map(|f| {
            let name = f.get("name").and_then(Value::as_str);
            match (f.get("type").and_then(Value::as_str), name) {
                (Some("category"), Some(name)) if CATEGORIES.contains(&name) => Ok(name.to_owned()),
                _ => Err(TrailError::Invalid(format!(
                    "filters items must be {{\"type\": \"category\", \"name\": <one of {}>}}",
                    CATEGORIES.join(", ")
                ))),
            }
        })
        .collect()
}

/// An open syslog connection.
trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// Delivers batches to one sink; keeps a syslog connection open between batches.
struct Deliverer {
    sink: Sink,
    http: reqwest::Client,
    syslog: Option<Box<dyn Conn>>,
    nats: Option<async_nats::jetstream::Context>,
    settings: StreamSettings,
}

impl Deliverer {
    async fn deliver(&mut self, records: &[AuditRecord]) -> std::result::Result<(), String> {
        match &self.sink {
            Sink::Http {
                endpoint,
                content_type,
                format,
                authorization,
                headers,
            } => {
                let items: Vec<Value> = records.iter().map(format::stream_item).collect();
                let bodies: Vec<String> = match format {
                    HttpFormat::Array => vec![Value::Array(items).to_string()],
                    HttpFormat::Lines => vec![items
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")],
                    HttpFormat::Object => items.iter().map(|i| i.to_string()).collect(),
                };
                for body in bodies {
                    let mut req = self
                        .http
                        .post(endpoint)
                        .header("content-type", content_type.as_str())
                        .body(body);
                    if let Some(a) = authorization {
                        req = req.header("authorization", a.as_str());
                    }
                    for (k, v) in headers {
                        req = req.header(k.as_str(), v.as_str());
                    }
                    send(req).await?;
                }
                Ok(())
            }
            Sink::Splunk { url, token } => {
                let req = self
                    .http
                    .post(url)
                    .header("authorization", format!("Splunk {token}"))
                    .header("content-type", "application/json")
                    .body(format::splunk_body(records, &self.settings.hostname));
                send(req).await
            }
            Sink::Datadog { url, api_key } => {
                let req = self
                    .http
                    .post(url)
                    .header("dd-api-key", api_key.as_str())
                    .header("content-type", "application/json")
                    .body(format::datadog_body(records, &self.settings.hostname).to_string());
                send(req).await
            }
            Sink::Nats { .. } => {
                let result = self.nats_batch(records).await;
                if result.is_err() {
                    self.nats = None;
                }
                result
            }
            Sink::Syslog { .. } => {
                let result = self.syslog_batch(records).await;
                if result.is_err() {
                    // Reconnect next time; the whole batch is sent again.
                    self.syslog = None;
                }
                result
            }
        }
    }

    async fn nats_batch(&mut self, records: &[AuditRecord]) -> std::result::Result<(), String> {
        let Sink::Nats {
            url,
            subject,
            stream,
            token,
        } = &self.sink
        else {
            return Err("not a NATS sink".into());
        };
        if self.nats.is_none() {
            let mut options = async_nats::ConnectOptions::new()
                .connection_timeout(self.settings.request_timeout)
                .request_timeout(Some(self.settings.request_timeout))
                // Reconnecting is ours to do (with backoff and status), not the client's.
                .max_reconnects(Some(0));
            if let Some(t) = token {
                options = options.token(t.clone());
            }
            let client =
                tokio::time::timeout(self.settings.request_timeout, options.connect(url.as_str()))
                    .await
                    .map_err(|_| format!("connecting to {url} timed out"))?
                    .map_err(|e| format!("connecting to {url}: {e}"))?;
            let js = async_nats::jetstream::new(client);
            // The stream is created when missing; an existing stream (or one an operator made
            // over a wider subject) is used as it is.
            if js.get_stream(stream.as_str()).await.is_err() {
                if let Err(e) = js
                    .create_stream(async_nats::jetstream::stream::Config {
                        name: stream.clone(),
                        subjects: vec![subject.clone()],
                        ..Default::default()
                    })
                    .await
                {
                    tracing::warn!(%stream, error = %e, "could not create the JetStream stream; publishing anyway");
                }
            }
            self.nats = Some(js);
        }
        let Some(js) = self.nats.as_ref() else {
            return Err("no connection".into());
        };
        let mut acks = Vec::with_capacity(records.len());
        for r in records {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", r.log_id().as_str());
            let payload = format::stream_item(r).to_string();
            let ack = js
                .publish_with_headers(subject.clone(), headers, payload.into())
                .await
                .map_err(|e| format!("publishing to {subject}: {e}"))?;
            acks.push(ack);
        }
        // Delivered only once JetStream has stored (acknowledged) every message.
        for ack in acks {
            tokio::time::timeout(self.settings.request_timeout, ack)
                .await
                .map_err(|_| "JetStream acknowledgement timed out".to_owned())?
                .map_err(|e| format!("JetStream did not store the message: {e}"))?;
        }
        Ok(())
    }

    async fn syslog_batch(&mut self, records: &[AuditRecord]) -> std::result::Result<(), String> {
        let Sink::Syslog {
            host,
            port,
            tls,
            server_name,
            app_name,
        } = &self.sink
        else {
            return Err("not a syslog sink".into());
        };
        if self.syslog.is_none() {
            let tcp = tokio::time::timeout(
                self.settings.request_timeout,
                TcpStream::connect((host.as_str(), *port)),
            )
            .await
            .map_err(|_| format!("connecting to {host}:{port} timed out"))?
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let conn: Box<dyn Conn> = match tls {
                Some(config) => {
                    let name = rustls::pki_types::ServerName::try_from(server_name.clone())
                        .map_err(|_| format!("invalid TLS server name {server_name}"))?;
                    let stream = tokio::time::timeout(
                        self.settings.request_timeout,
                        tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp),
                    )
                    .await
                    .map_err(|_| "TLS handshake timed out".to_owned())?
                    .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
                    Box::new(stream)
                }
                None => Box::new(tcp),
            };
            self.syslog = Some(conn);
        }
        let Some(conn) = self.syslog.as_mut() else {
            return Err("no connection".into());
        };
        let mut payload = String::with_capacity(records.len() * 400);
        for r in records {
            payload.push_str(&format::syslog_frame(r, &self.settings.hostname, app_name));
        }
        tokio::time::timeout(self.settings.request_timeout, async {
            conn.write_all(payload.as_bytes()).await?;
            conn.flush().await
        })
        .await
        .map_err(|_| "syslog write timed out".to_owned())?
        .map_err(|e| format!("syslog write: {e}"))?;
        // A syslog receiver never sends anything: readable means it closed or reset the
        // connection, possibly before reading everything we wrote.
        let mut probe = [0u8; 64];
        match tokio::time::timeout(self.settings.syslog_probe, conn.read(&mut probe)).await {
            Err(_) => Ok(()),
            Ok(Ok(0)) => Err("syslog receiver closed the connection".into()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("syslog connection: {e}")),
        }
    }
}

async fn send(req: reqwest::RequestBuilder) -> std::result::Result<(), String> {
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            "request timed out".to_owned()
        } else if e.is_connect() {
            "connection refused or unreachable".to_owned()
        } else {
            "request failed".to_owned()
        }
    })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("endpoint answered HTTP {}", status.as_u16()))
    }
}

/// Runs one worker per active stream and keeps the set in step with the configuration.
pub struct Streams {
    store: Store,
    master: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    settings: StreamSettings,
    http: reqwest::Client,
    workers: Mutex<HashMap<String, (i64, JoinHandle<()>)>>,
    changed: tokio::sync::Notify,
}

impl Streams {
    pub fn new(
        store: Store,
        master: Arc<MasterKey>,
        clock: Arc<dyn Clock>,
        settings: StreamSettings,
    ) -> Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| TrailError::Invalid("HTTP client set-up failed".into()))?;
        Ok(Arc::new(Self {
            store,
            master,
            clock,
            settings,
            http,
            workers: Mutex::new(HashMap::new()),
            changed: tokio::sync::Notify::new(),
        }))
    }

    /// Tells the supervisor that streams were created, changed or deleted.
    pub fn reconfigure(&self) {
        self.changed.notify_one();
    }

    /// Supervises workers until `stop` fires.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.reconcile().await {
                tracing::error!(error = %e, "log stream supervisor");
            }
            tokio::select! {
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = stop.changed() => break,
            }
        }
        for (_, (_, handle)) in self.workers.lock().await.drain() {
            handle.abort();
        }
    }

    async fn reconcile(self: &Arc<Self>) -> Result<()> {
        let streams = self.store.list_streams().await?;
        let mut workers = self.workers.lock().await;
        workers.retain(|id, (version, handle)| {
            let keep = !handle.is_finished()
                && streams
                    .iter()
                    .any(|s| &s.id == id && s.status == "active" && s.updated_at == *version);
            if !keep {
                handle.abort();
            }
            keep
        });
        for s in streams {
            if s.status == "active" && !workers.contains_key(&s.id) {
                let me = self.clone();
                let id = s.id.clone();
                let version = s.updated_at;
                let handle = tokio::spawn(async move { me.work(s).await });
                workers.insert(id, (version, handle));
            }
        }
        Ok(())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.settings
            .backoff_base
            .saturating_mul(factor)
            .min(self.settings.backoff_cap)
    }

    async fn work(self: Arc<Self>, stream: StreamRow) {
        let sink = self
            .master
            .open(&sink_context(&stream.id), &stream.sealed_sink)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .ok_or_else(|| TrailError::Invalid("sink cannot be decrypted".into()))
            .and_then(|v| parse_sink(&stream.stream_type, &v));
        let sink = match sink {
            Ok(s) => s,
            Err(e) => {
                let _ = self
                    .store
                    .stream_failed(&stream.id, &e.to_string(), self.clock.now_ms(), true)
                    .await;
                return;
            }
        };
        let categories: Vec<String> = serde_json::from_str::<Value>(&stream.filters)
            .ok()
            .and_then(|f| parse_filters(&f).ok())
            .unwrap_or_default();
        let mut deliverer = Deliverer {
            sink,
            http: self.http.clone(),
            syslog: None,
            nats: None,
            settings: self.settings.clone(),
        };
        let mut appended = self.store.watch_appends();
        let mut cursor = stream.cursor_seq;
        let mut failing_since = stream.failing_since;
        let mut attempt = 0u32;
        loop {
            let records = match self
                .store
                .audit_records(cursor, i64::MAX, self.settings.batch as i64)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(stream = %stream.id, error = %e, "reading audit records");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    continue;
                }
            };
            let Some(last) = records.last().map(|r| r.seq) else {
                appended.mark_unchanged();
                tokio::select! {
                    _ = appended.changed() => {}
                    _ = tokio::time::sleep(self.settings.poll) => {}
                }
                continue;
            };
            let wanted: Vec<AuditRecord> = if categories.is_empty() {
                records
            } else {
                records
                    .into_iter()
                    .filter(|r| {
                        categories
                            .iter()
                            .any(|c| c == r.event.event_type.category())
                    })
                    .collect()
            };
            let outcome = if wanted.is_empty() {
                Ok(())
            } else {
                deliverer.deliver(&wanted).await
            };
            let now = self.clock.now_ms();
            match outcome {
                Ok(()) => {
                    match self
                        .store
                        .advance_stream(&stream.id, last, wanted.len() as i64)
                        .await
                    {
                        Ok(true) => {
                            cursor = last;
                            attempt = 0;
                            failing_since = None;
                        }
                        // Deleted, or the cursor was moved by someone else: start over.
                        Ok(false) => return,
                        Err(e) => {
                            tracing::warn!(stream = %stream.id, error = %e, "saving stream cursor");
                            tokio::time::sleep(self.backoff(attempt)).await;
                            attempt = attempt.saturating_add(1);
                        }
                    }
                }
                Err(error) => {
                    let since = *failing_since.get_or_insert(now);
                    let suspend = now.saturating_sub(since)
                        >= i64::try_from(self.settings.suspend_after.as_millis())
                            .unwrap_or(i64::MAX);
                    tracing::warn!(stream = %stream.id, %error, attempt, "log stream delivery failed");
                    if let Err(e) = self
                        .store
                        .stream_failed(&stream.id, &error, now, suspend)
                        .await
                    {
                        tracing::warn!(stream = %stream.id, error = %e, "recording stream failure");
                    }
                    if suspend {
                        return;
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(stream_type: &str, sink: Value, expected: std::result::Result<(), &str>) {
        let got = validate_sink(stream_type, &sink).map_err(|e| e.to_string());
        match expected {
            Ok(()) => assert!(got.is_ok(), "{sink}: {got:?}"),
            Err(part) => {
                let msg = got.err().unwrap_or_default();
                assert!(msg.contains(part), "{sink}: {msg}");
            }
        }
    }

    #[test]
    fn sinks_are_validated() {
        check(
            "http",
            json!({"httpEndpoint": "https://siem.example/in"}),
            Ok(()),
        );
        check(
            "http",
            json!({"httpEndpoint": "https://x/in", "httpContentFormat": "JSONLINES", "httpAuthorization": "Bearer t"}),
            Ok(()),
        );
        check("http", json!({}), Err("sink.httpEndpoint is required"));
        check(
            "http",
            json!({"httpEndpoint": "ftp://x"}),
            Err("absolute http(s) URL"),
        );
        check(
            "http",
            json!({"httpEndpoint": "https://x", "httpContentFormat": "XML"}),
            Err("JSONARRAY"),
        );
        check(
            "http",
            json!({"httpEndpoint": "https://x", "httpAuthorization": "a\nb"}),
            Err("httpAuthorization"),
        );
        check(
            "http",
            json!({"httpEndpoint": "https://x", "httpCustomHeaders": [{"header": "x y", "value": "1"}]}),
            Err("invalid header"),
        );
        check("http", json!("x"), Err("sink must be an object"));
        check(
            "splunk",
            json!({"splunkDomain": "splunk.local", "splunkToken": "t", "splunkPort": "8088"}),
            Ok(()),
        );
        check(
            "splunk",
            json!({"splunkDomain": "splunk.local"}),
            Err("splunkToken"),
        );
        check(
            "splunk",
            json!({"splunkDomain": "s", "splunkToken": "t", "splunkPort": "x"}),
            Err("port"),
        );
        check(
            "datadog",
            json!({"datadogApiKey": "k", "datadogRegion": "eu"}),
            Ok(()),
        );
        check(
            "datadog",
            json!({"datadogApiKey": "k", "datadogRegion": "mars"}),
            Err("datadogRegion"),
        );
        check(
            "syslog",
            json!({"syslogHost": "127.0.0.1", "syslogPort": 6514}),
            Ok(()),
        );
        check(
            "syslog",
            json!({"syslogHost": "127.0.0.1", "syslogPort": 0}),
            Err("syslogPort"),
        );
        check(
            "syslog",
            json!({"syslogHost": "h", "syslogPort": 514, "syslogCaPem": "nope"}),
            Err("no certificate"),
        );
        check("eventbridge", json!({}), Err("type must be one of"));
        check(
            "nats",
            json!({"natsUrl": "nats://127.0.0.1:4222", "natsTenant": "clinic-a"}),
            Ok(()),
        );
        check("nats", json!({"natsUrl": "http://x"}), Err("nats://"));
        check(
            "nats",
            json!({"natsUrl": "nats://x", "natsSubject": "custos.>"}),
            Err("literal subject"),
        );
        check(
            "nats",
            json!({"natsUrl": "nats://x", "natsTenant": "a.b"}),
            Err("natsTenant"),
        );
    }

    #[test]
    fn filters_are_validated() {
        assert_eq!(
            parse_filters(&json!([{"type": "category", "name": "auth.login.fail"}])).ok(),
            Some(vec!["auth.login.fail".to_owned()])
        );
        assert!(parse_filters(&json!([{"type": "category", "name": "nope"}])).is_err());
        assert!(parse_filters(&json!({})).is_err());
        assert_eq!(parse_filters(&json!([])).ok(), Some(vec![]));
    }
}
