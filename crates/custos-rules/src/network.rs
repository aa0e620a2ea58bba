//! [`HttpsNetwork`]: the [`Network`] a server gives scripts that declared HTTPS hosts, built on
//! `reqwest` (rustls).
//!
//! Scripts call it from the blocking thread they run on, and that thread may belong to the
//! server's runtime (`spawn_blocking`), to the CLI's, or to no runtime at all (tests). So the
//! exchange runs on a small runtime of its own (one worker thread, created with the network)
//! and the calling thread waits for it on a plain channel: nothing here depends on the caller's
//! runtime flavour, `Runtime::block_on` is never called (it panics on a thread that is driving
//! async tasks), and pooled connections always belong to the runtime that drives them.
//!
//! Policy, whatever the caller checked before: HTTPS only, redirects are not followed (a 3xx is
//! handed back as it is), request bodies up to [`MAX_REQUEST_BODY`], response bodies up to
//! [`MAX_RESPONSE_BODY`] (read incrementally; past the cap the exchange fails), no proxy, and
//! the timeout covers the whole exchange, body included. Bodies and header values are never
//! logged.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::{HttpRequest, HttpResponse, Network};

/// The largest request body a script may send.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// The largest response body a script may receive.
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// Methods a script may use.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers a script may not set: the connection's framing and routing are the client's.
const FORBIDDEN_HEADERS: [&str; 10] = [
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How much longer than the timeout the calling thread waits before giving up on the
/// exchange's own timeout having fired.
const GRACE: Duration = Duration::from_millis(50);

/// HTTPS for scripts, through `reqwest` on a dedicated one-thread runtime.
pub struct HttpsNetwork {
    client: reqwest::Client,
    /// Always `Some` until dropped (taken out in `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for HttpsNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsNetwork").finish_non_exhaustive()
    }
}

impl Drop for HttpsNetwork {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its worker stops, which tokio forbids (with a panic)
        // on a thread that drives async tasks — where the last owner of an engine may well be.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl HttpsNetwork {
    /// A network trusting the default (Mozilla) roots, and `extra_root_pem` as well when given
    /// (a test CA; production passes `None`).
    pub fn new(extra_root_pem: Option<&str>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("custos-script-fetch")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the script network runtime: {e}"))?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .no_proxy()
            .user_agent(concat!(
                "Custos/",
                env!("CARGO_PKG_VERSION"),
                " (script fetch)"
            ));
        if let Some(pem) = extra_root_pem {
            let root = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| format!("the extra root certificate: {e}"))?;
            builder = builder.add_root_certificate(root);
        }
        let client = {
            // Built inside the runtime it will run on.
            let _entered = runtime.enter();
            builder
                .build()
                .map_err(|e| format!("building the script HTTP client: {e}"))?
        };
        Ok(Self {
            client,
            runtime: Some(runtime),
        })
    }

    /// The request as `reqwest` sends it, or why it may not be sent.
    fn build(&self, request: &HttpRequest) -> Result<reqwest::Request, String> {
        let url = reqwest::Url::parse(&request.url).map_err(|_| "the URL does not parse")?;
        if url.scheme() != "https" {
            return Err(format!(
                "only https URLs are allowed, not {}:",
                url.scheme()
            ));
        }
        let method = request.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(format!("the method must be one of {}", METHODS.join(", ")));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| "the method is not valid")?;
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("'{name}' is not a valid header name"))?;
            if FORBIDDEN_HEADERS.contains(&name.as_str()) {
                return Err(format!("the header '{name}' may not be set"));
            }
            // The value is not repeated in the message: it may be a credential.
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header '{name}' is not valid"))?;
            headers.append(name, value);
        }
        let mut built = self.client.request(method, url).headers(headers);
        if let Some(body) = &request.body {
            if body.len() > MAX_REQUEST_BODY {
                return Err(format!(
                    "the request body is larger than {} KiB",
                    MAX_REQUEST_BODY / 1024
                ));
            }
            built = built.body(body.clone());
        }
        built.build().map_err(|e| describe(&e.without_url()))
    }
}

impl Network for HttpsNetwork {
    fn fetch(&self, request: &HttpRequest, timeout: Duration) -> Result<HttpResponse, String> {
        let prepared = self.build(request)?;
        let host = prepared.url().host_str().unwrap_or_default().to_owned();
        if timeout.is_zero() {
            return Err("no time is left for the request".to_owned());
        }
        let Some(runtime) = &self.runtime else {
            return Err("the network is shut down".to_owned());
        };
        let started = Instant::now();
        let client = self.client.clone();
        let (sender, receiver) = mpsc::sync_channel(1);
        let task = runtime.spawn(async move {
            let result = match tokio::time::timeout(timeout, exchange(client, prepared)).await {
                Ok(result) => result,
                Err(_) => Err(timed_out(timeout)),
            };
            let _ = sender.send(result);
        });
        let result = match receiver.recv_timeout(timeout.saturating_add(GRACE)) {
            Ok(result) => result,
            Err(_) => {
                task.abort();
                Err(timed_out(timeout))
            }
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(response) => tracing::debug!(
                %host,
                status = response.status,
                bytes = response.body.len(),
                elapsed_ms,
                "script fetch"
            ),
            Err(error) => tracing::debug!(%host, %error, elapsed_ms, "script fetch failed"),
        }
        result
    }
}

fn timed_out(timeout: Duration) -> String {
    format!(
        "no complete response within {} ms",
        timeout.as_millis().max(1)
    )
}

/// Sends the request and reads the whole response, up to the body cap.
async fn exchange(
    client: reqwest::Client,
    request: reqwest::Request,
) -> Result<HttpResponse, String> {
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| describe(&e.without_url()))?;
    let too_large = || {
        format!(
            "the response body is larger than {} MiB",
            MAX_RESPONSE_BODY / (1024 * 1024)
        )
    };
    let declared = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok());
    if declared.is_some_and(|n| n > MAX_RESPONSE_BODY) {
        return Err(too_large());
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| describe(&e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// An error with its causes (`reqwest`'s own message alone says little: "error sending
/// request"). URLs are stripped by the caller; nothing here carries a body or a header value.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The policy checks need no server; the exchange is tested against a local TLS server
    //! with a certificate from a throw-away CA.

    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn requests_against_the_policy_are_refused_before_any_connection() {
        let network = HttpsNetwork::new(None).unwrap();
        let big = HttpRequest {
            method: "POST".into(),
            body: Some("x".repeat(MAX_REQUEST_BODY + 1)),
            ..get("https://api.example.com/")
        };
        let host = HttpRequest {
            headers: vec![("Host".into(), "elsewhere.example".into())],
            ..get("https://api.example.com/")
        };
        let bad_value = HttpRequest {
            headers: vec![("authorization".into(), "Bearer a\nb".into())],
            ..get("https://api.example.com/")
        };
        let cases: [(HttpRequest, &str); 6] = [
            (get("http://api.example.com/"), "only https"),
            (get("not a url"), "does not parse"),
            (
                HttpRequest {
                    method: "CONNECT".into(),
                    ..get("https://api.example.com/")
                },
                "method must be one of",
            ),
            (big, "larger than 64 KiB"),
            (host, "may not be set"),
            (bad_value, "header 'authorization' is not valid"),
        ];
        for (request, expected) in cases {
            let error = network.fetch(&request, SECOND).unwrap_err();
            assert!(error.contains(expected), "{request:?}: {error}");
            assert!(!error.contains("Bearer"), "{error}");
        }
        let error = network
            .fetch(&get("https://api.example.com/"), Duration::ZERO)
            .unwrap_err();
        assert!(error.contains("no time"), "{error}");
    }

    #[test]
    fn debug_output_hides_header_values_and_bodies() {
        let request = HttpRequest {
            method: "POST".into(),
            url: "https://api.example.com/".into(),
            headers: vec![("authorization".into(), "Bearer s3cret".into())],
            body: Some("{\"password\":\"hunter2\"}".into()),
        };
        let response = HttpResponse {
            status: 200,
            headers: vec![("set-cookie".into(), "session=s3cret".into())],
            body: "hunter2".into(),
        };
        for text in [format!("{request:?}"), format!("{response:?}")] {
            assert!(
                !text.contains("s3cret") && !text.contains("hunter2"),
                "{text}"
            );
        }
        assert!(format!("{request:?}").contains("authorization"));
    }

    /// A CA and a certificate it signed for `localhost`: `(ca_pem, cert_pem, key_pem)`.
    fn test_ca() -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "network test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (ca_cert.pem(), cert.pem(), key.serialize_pem())
    }

    /// Serves each connection by path: `/json`, `/redirect`, `/big` (declared length),
    /// `/stream` (chunked, no length), `/stall` (never answers). Returns `localhost:port`.
    async fn server(cert_pem: &str, key_pem: &str) -> String {
        let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .unwrap()
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    let big = "x".repeat(MAX_RESPONSE_BODY + 1);
                    let response = match path.as_str() {
                        "/json" => "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-trace: t-1\r\ncontent-length: 16\r\nconnection: close\r\n\r\n{\"answer\":42.0}\n".to_owned(),
                        "/redirect" => "HTTP/1.1 302 Found\r\nlocation: https://localhost/json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                        "/big" => format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{big}", big.len()),
                        "/stream" => {
                            let chunk = "y".repeat(64 * 1024);
                            let mut text = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_owned();
                            for _ in 0..20 {
                                text.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
                            }
                            text.push_str("0\r\n\r\n");
                            text
                        }
                        _ => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                    };
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        format!("localhost:{port}")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exchanges_with_a_real_tls_server_under_the_limits() {
        let (ca, cert, key) = test_ca();
        let host = server(&cert, &key).await;
        let network = Arc::new(HttpsNetwork::new(Some(&ca)).unwrap());
        let call = |path: &str, timeout: Duration| {
            let network = Arc::clone(&network);
            let request = get(&format!("https://{host}{path}"));
            // As the pipeline calls it: from a blocking thread of the caller's runtime.
            tokio::task::spawn_blocking(move || network.fetch(&request, timeout))
        };

        let response = call("/json", SECOND).await.unwrap().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "{\"answer\":42.0}\n");
        assert!(response
            .headers
            .iter()
            .any(|(n, v)| n == "x-trace" && v == "t-1"));

        let response = call("/redirect", SECOND).await.unwrap().unwrap();
        assert_eq!(
            response.status, 302,
            "redirects are handed back, not followed"
        );

        for path in ["/big", "/stream"] {
            let error = call(path, SECOND).await.unwrap().unwrap_err();
            assert!(error.contains("larger than 1 MiB"), "{path}: {error}");
        }

        let started = Instant::now();
        let error = call("/stall", Duration::from_millis(200))
            .await
            .unwrap()
            .unwrap_err();
        assert!(error.contains("within 200 ms"), "{error}");
        assert!(started.elapsed() < Duration::from_millis(900));

        // Without the test CA, the server's certificate is not trusted.
        let untrusting = HttpsNetwork::new(None).unwrap();
        let request = get(&format!("https://{host}/json"));
        let error = tokio::task::spawn_blocking(move || untrusting.fetch(&request, SECOND))
            .await
            .unwrap()
            .unwrap_err();
        assert!(error.to_lowercase().contains("certificate"), "{error}");

        // The last owner may drop the network on an async worker.
        drop(network);
    }

    #[test]
    fn works_from_a_thread_with_no_runtime() {
        let network = HttpsNetwork::new(None).unwrap();
        // Nothing listens on port 1: the connection is refused, and that is an error, not a
        // panic for want of a runtime.
        let error = network
            .fetch(&get("https://localhost:1/"), SECOND)
            .unwrap_err();
        assert!(!error.is_empty());
    }
}
