//! Log streams through induced outages, with real sockets: a webhook that answers 500 and then
//! hangs, a syslog receiver that drops the connection mid-batch and then refuses; each receiver
//! ends up with every event, exactly once after de-duplication by `log_id`, and the stream's
//! status tells what happened meanwhile.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::*;

const OK: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

#[derive(Clone, Default)]
struct Hook {
    mode: Arc<AtomicU8>,
    received: Arc<Mutex<Vec<String>>>,
    auth: Arc<Mutex<Vec<String>>>,
}

async fn ingest(State(h): State<Hook>, headers: HeaderMap, body: String) -> StatusCode {
    match h.mode.load(Ordering::SeqCst) {
        FAIL => return StatusCode::INTERNAL_SERVER_ERROR,
        HANG => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return StatusCode::OK;
        }
        _ => {}
    }
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut got = h.received.lock().unwrap();
    for i in items {
        // Auth0's envelope: {log_id, data} with data.log_id equal.
        assert_eq!(i["log_id"], i["data"]["log_id"]);
        got.push(i["log_id"].as_str().unwrap_or_default().to_owned());
    }
    if let Some(a) = headers.get("authorization") {
        h.auth
            .lock()
            .unwrap()
            .push(a.to_str().unwrap_or_default().to_owned());
    }
    StatusCode::OK
}

/// Starts the webhook receiver; returns its endpoint.
async fn start_hook(hook: &Hook) -> R<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/ingest", listener.local_addr()?);
    let router = axum::Router::new()
        .route("/ingest", post(ingest))
        .with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(endpoint)
}

/// Creates a log stream; returns it, its id and the cursor it starts from.
async fn create_stream(app: &TestApp, body: Value) -> R<(Value, String, i64)> {
    let (s, created) = app.api(Method::POST, "log-streams", Some(body)).await?;
    assert_eq!(s, 200, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let cursor: i64 = created["health"]["cursor_log_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    Ok((created, id, cursor))
}

/// `n` client-credentials exchanges: `n` new records.
async fn burst(app: &TestApp, n: usize) -> R<()> {
    for _ in 0..n {
        let (s, _) = app
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app.bootstrap.0),
                ("client_secret", &app.bootstrap.1),
                ("audience", &format!("{}api/v2/", app.base)),
            ])
            .await?;
        assert_eq!(s, 200);
    }
    Ok(())
}

async fn wait_for<F: FnMut() -> bool>(what: &str, secs: u64, mut f: F) -> R<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("timed out waiting for {what}").into())
}

async fn stream_row(app: &TestApp, id: &str) -> R<custos_store::StreamRow> {
    Ok(app.store().get_stream(id).await?)
}

/// Every record after `cursor` up to `last` was received; returns (distinct, total) counts.
fn check_exactly_once(received: &[String], cursor: i64, last: i64) -> (usize, usize) {
    let distinct: BTreeSet<i64> = received.iter().filter_map(|l| l.parse().ok()).collect();
    for seq in cursor + 1..=last {
        assert!(distinct.contains(&seq), "log_id {seq:020} never delivered");
    }
    assert!(
        distinct.iter().all(|s| *s > cursor),
        "delivered a record from before the stream"
    );
    (distinct.len(), received.len())
}

#[tokio::test]
async fn webhook_gets_every_event_through_500s_and_a_hang() -> TestResult {
    let app = TestApp::start().await?;
    let hook = Hook::default();
    hook.mode.store(FAIL, Ordering::SeqCst);
    let endpoint = start_hook(&hook).await?;

    let (s, created) = app
        .api(
            Method::POST,
            "log-streams",
            Some(json!({"name": "SIEM", "type": "http", "sink": {
                "httpEndpoint": endpoint, "httpContentType": "application/json",
                "httpContentFormat": "JSONARRAY", "httpAuthorization": "Bearer siem-secret"}})),
        )
        .await?;
    assert_eq!(s, 200, "{created}");
    assert_eq!(created["status"], "active");
    assert!(
        created["sink"].get("httpAuthorization").is_none(),
        "{created}"
    );
    assert!(!created.to_string().contains("siem-secret"));
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let cursor: i64 = created["health"]["cursor_log_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;

    // Outage 1: the SIEM answers 500. Logins and tokens keep working meanwhile.
    burst(&app, 20).await?;
    let mut row = stream_row(&app, &id).await?;
    for _ in 0..100 {
        if row.last_error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        row = stream_row(&app, &id).await?;
    }
    assert_eq!(
        row.last_error.as_deref(),
        Some("endpoint answered HTTP 500")
    );
    assert_eq!(row.status, "active", "a short outage never suspends");
    assert!(row.failing_since.is_some());
    assert_eq!(row.cursor_seq, cursor, "nothing counted as delivered");

    // Outage 2: the SIEM hangs (longer than the request timeout).
    hook.mode.store(HANG, Ordering::SeqCst);
    burst(&app, 10).await?;
    let mut timed_out = false;
    for _ in 0..120 {
        if stream_row(&app, &id).await?.last_error.as_deref() == Some("request timed out") {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(timed_out, "a hanging sink is reported as a timeout");

    // The SIEM comes back: delivery resumes by itself.
    hook.mode.store(OK, Ordering::SeqCst);
    burst(&app, 10).await?;
    let last = app.store().audit_max_seq().await?;
    wait_for("every event at the webhook", 20, || {
        let got = hook.received.lock().unwrap();
        let distinct: BTreeSet<&String> = got.iter().collect();
        distinct.len() as i64 >= last - cursor
    })
    .await?;
    let received = hook.received.lock().unwrap().clone();
    let (distinct, total) = check_exactly_once(&received, cursor, last);
    assert!(distinct as i64 >= last - cursor && total >= distinct);
    assert!(hook
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == "Bearer siem-secret"));
    // The receiver counts a batch before it answers; the cursor moves once the answer is in.
    let mut row = stream_row(&app, &id).await?;
    for _ in 0..100 {
        if row.cursor_seq >= last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        row = stream_row(&app, &id).await?;
    }
    assert!(row.cursor_seq >= last);
    assert_eq!(row.failing_since, None, "healthy again");

    // Pausing holds events back; resuming delivers them.
    let (s, paused) = app
        .api(
            Method::PATCH,
            &format!("log-streams/{id}"),
            Some(json!({"status": "paused"})),
        )
        .await?;
    assert_eq!((s, paused["status"].as_str()), (200, Some("paused")));
    // Records written before the pause took effect (the PATCH's own) may still go out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = hook.received.lock().unwrap().len();
    burst(&app, 5).await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        hook.received.lock().unwrap().len(),
        before,
        "paused streams deliver nothing"
    );
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("log-streams/{id}"),
            Some(json!({"status": "active"})),
        )
        .await?;
    assert_eq!(s, 200);
    let last = app.store().audit_max_seq().await?;
    wait_for("paused events after resuming", 20, || {
        let got = hook.received.lock().unwrap();
        got.iter()
            .filter_map(|l| l.parse::<i64>().ok())
            .any(|s| s == last)
    })
    .await?;
    check_exactly_once(&hook.received.lock().unwrap(), cursor, last);

    // The stream's configuration changes are themselves in the trail, before and after.
    let changes = app.logs_of_type("custos_config_changed").await?;
    assert!(changes
        .iter()
        .any(|c| c["details"]["before"]["status"] == "active"
            && c["details"]["after"]["status"] == "paused"));
    assert!(!serde_json::to_string(&changes)?.contains("siem-secret"));
    Ok(())
}

#[derive(Clone, Default)]
struct Syslog {
    received: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

/// The `log_id` in a syslog message's structured data (`[custos@32473 log_id="…"]`).
fn sd_log_id(msg: &str) -> String {
    msg.split("log_id=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// Reads one octet-counted frame (`LEN SP MSG`).
async fn frame<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<String> {
    let mut len = Vec::new();
    r.read_until(b' ', &mut len).await.ok()?;
    let n: usize = std::str::from_utf8(len.strip_suffix(b" ")?)
        .ok()?
        .parse()
        .ok()?;
    let mut msg = vec![0u8; n];
    r.read_exact(&mut msg).await.ok()?;
    String::from_utf8(msg).ok()
}

#[tokio::test]
async fn syslog_gets_every_event_through_a_dropped_connection_and_refusals() -> TestResult {
    let app = TestApp::start().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let sys = Syslog::default();
    let s2 = sys.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let n = {
                let mut c = s2.connections.lock().unwrap();
                *c += 1;
                *c
            };
            let s3 = s2.clone();
            tokio::spawn(async move {
                // 1st connection: read three messages, then drop it mid-batch.
                // 2nd-4th: refuse (close at once). Later: a healthy receiver.
                if (2..=4).contains(&n) {
                    return;
                }
                let mut r = BufReader::new(sock);
                let mut read = 0;
                while let Some(msg) = frame(&mut r).await {
                    assert!(msg.starts_with('<'), "{msg}");
                    assert!(msg.contains(" custos - "), "RFC 5424 header: {msg}");
                    let id = sd_log_id(&msg);
                    s3.received.lock().unwrap().push(id);
                    read += 1;
                    if n == 1 && read == 3 {
                        return;
                    }
                }
            });
        }
    });
    let (_, id, cursor) = create_stream(
        &app,
        json!({"name": "syslog", "type": "syslog", "sink": {
                "syslogHost": "127.0.0.1", "syslogPort": port, "syslogTls": false}}),
    )
    .await?;
    burst(&app, 30).await?;
    let last = app.store().audit_max_seq().await?;
    wait_for("every event at the syslog receiver", 30, || {
        let got = sys.received.lock().unwrap();
        let distinct: BTreeSet<&String> = got.iter().collect();
        distinct.len() as i64 >= last - cursor
    })
    .await?;
    let received = sys.received.lock().unwrap().clone();
    check_exactly_once(&received, cursor, last);
    assert!(*sys.connections.lock().unwrap() >= 5, "the outage was real");
    let row = stream_row(&app, &id).await?;
    assert!(row.last_error.is_some(), "the failures were recorded");
    assert_eq!(row.status, "active");
    Ok(())
}

#[tokio::test]
async fn log_stream_api_validates_and_hides_secrets() -> TestResult {
    let app = TestApp::start().await?;
    for (body, says) in [
        (json!({"type": "http"}), "sink"),
        (json!({"type": "http", "sink": {}}), "httpEndpoint"),
        (
            json!({"type": "http", "sink": {"httpEndpoint": "javascript:alert(1)"}}),
            "URL",
        ),
        (
            json!({"type": "eventbridge", "sink": {}}),
            "type must be one of",
        ),
        (
            json!({"type": "http", "sink": {"httpEndpoint": "https://x"}, "filters": [{"type": "category", "name": "nope"}]}),
            "filters",
        ),
        (
            json!({"type": "http", "sink": {"httpEndpoint": "https://x"}, "bogus": 1}),
            "bogus",
        ),
        (
            json!({"type": "splunk", "sink": {"splunkDomain": "s"}}),
            "splunkToken",
        ),
    ] {
        let (s, e) = app
            .api(Method::POST, "log-streams", Some(body.clone()))
            .await?;
        assert_eq!(s, 400, "{body}: {e}");
        assert!(
            e["message"].as_str().unwrap_or_default().contains(says),
            "{body}: {e}"
        );
    }
    let (s, e) = app.api(Method::GET, "log-streams/lst_nope", None).await?;
    assert_eq!(
        (s, e["errorCode"].as_str()),
        (404, Some("inexistent_log_stream"))
    );
    let (s, c) = app
        .api(Method::POST, "log-streams", Some(json!({"type": "splunk", "sink": {"splunkDomain": "splunk.local", "splunkToken": "hec-token", "splunkSecure": true},
            "filters": [{"type": "category", "name": "auth.login.fail"}]})))
        .await?;
    assert_eq!(s, 200, "{c}");
    let id = c["id"].as_str().unwrap_or_default();
    // A PATCH of the sink merges: the token survives a change of port.
    let (s, p) = app
        .api(
            Method::PATCH,
            &format!("log-streams/{id}"),
            Some(json!({"sink": {"splunkPort": 8089}})),
        )
        .await?;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["sink"]["splunkPort"], 8089);
    assert!(!p.to_string().contains("hec-token"));
    let (s, e) = app
        .api(
            Method::PATCH,
            &format!("log-streams/{id}"),
            Some(json!({"status": "deleted"})),
        )
        .await?;
    assert_eq!(s, 400, "{e}");
    let (_, list) = app.api(Method::GET, "log-streams", None).await?;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert!(!list.to_string().contains("hec-token"));
    let (s, _) = app
        .api(Method::DELETE, &format!("log-streams/{id}"), None)
        .await?;
    assert_eq!(s, 204);
    let (s, _) = app
        .api(Method::DELETE, &format!("log-streams/{id}"), None)
        .await?;
    assert_eq!(s, 404);
    let rows = app.store().chain_rows(0, i64::MAX, 100_000).await?;
    assert!(
        rows.iter().all(|r| !r.details.contains("hec-token")),
        "secrets never reach the trail"
    );
    Ok(())
}

/// NATS runs on the CI machine (127.0.0.1:4222) but not on a user's fresh machine: the test
/// runs when the server answers, and must run when `CUSTOS_TEST_NATS=required` (as in CI).
#[allow(clippy::disallowed_methods)]
async fn nats_available() -> R<bool> {
    let up = tokio::net::TcpStream::connect("127.0.0.1:4222")
        .await
        .is_ok();
    if !up && std::env::var("CUSTOS_TEST_NATS").as_deref() == Ok("required") {
        return Err("CUSTOS_TEST_NATS=required but no NATS server at 127.0.0.1:4222".into());
    }
    Ok(up)
}

#[tokio::test]
async fn nats_jetstream_gets_every_event_once_after_an_outage() -> TestResult {
    use futures_util_compat::collect_log_ids;
    if !nats_available().await? {
        eprintln!("skipped: no NATS server at 127.0.0.1:4222");
        return Ok(());
    }
    let app = TestApp::start().await?;
    let tag = custos_crypto::random::alphanumeric(10)?.to_lowercase();
    let subject = format!("custos.logs.t{tag}");
    let stream = format!("CUSTOS_TEST_{tag}");
    // First pointed at a port where nothing listens: an outage from the start.
    let (_, id, cursor) = create_stream(
        &app,
        json!({"name": "jetstream", "type": "nats", "sink": {
                "natsUrl": "nats://127.0.0.1:9", "natsSubject": subject, "natsStream": stream}}),
    )
    .await?;
    burst(&app, 15).await?;
    let mut failing = false;
    for _ in 0..100 {
        if stream_row(&app, &id).await?.last_error.is_some() {
            failing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failing, "the outage shows in the stream's status");
    // The operator fixes the URL: everything queued is delivered.
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("log-streams/{id}"),
            Some(json!({"sink": {"natsUrl": "nats://127.0.0.1:4222"}})),
        )
        .await?;
    assert_eq!(s, 200);
    let last = app.store().audit_max_seq().await?;
    let mut delivered = false;
    for _ in 0..200 {
        if stream_row(&app, &id).await?.cursor_seq >= last {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered, "the stream caught up");
    let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    let js = async_nats::jetstream::new(client);
    let ids = collect_log_ids(&js, &stream).await?;
    let (distinct, total) = check_exactly_once(&ids, cursor, last);
    // JetStream de-duplicates by Nats-Msg-Id = log_id: what it stored is exactly once, and a
    // re-sent record (as after a crash between delivery and cursor update) is dropped.
    assert_eq!(distinct, total);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{last:020}").as_str());
    js.publish_with_headers(subject.clone(), headers, "{}".into())
        .await?
        .await?;
    assert_eq!(collect_log_ids(&js, &stream).await?.len(), total);
    js.delete_stream(&stream).await?;
    Ok(())
}

mod futures_util_compat {
    //! Reads every message of a JetStream stream (test helper).
    use crate::support::R;

    pub async fn collect_log_ids(
        js: &async_nats::jetstream::Context,
        stream: &str,
    ) -> R<Vec<String>> {
        let s = js.get_stream(stream).await?;
        let info = s.get_info().await?;
        let mut out = Vec::new();
        for seq in info.state.first_sequence..=info.state.last_sequence {
            let m = s.get_raw_message(seq).await?;
            let v: serde_json::Value = serde_json::from_slice(&m.payload)?;
            assert_eq!(v["log_id"], v["data"]["log_id"]);
            out.push(v["log_id"].as_str().unwrap_or_default().to_owned());
        }
        Ok(out)
    }
}

#[tokio::test]
async fn syslog_over_tls_with_a_private_ca() -> TestResult {
    let app = TestApp::start().await?;
    let (ca, cert, key) = test_ca()?;
    let acceptor = tls_acceptor(&cert, &key)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let r2 = received.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let r3 = r2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut r = BufReader::new(tls);
                while let Some(msg) = frame(&mut r).await {
                    let id = sd_log_id(&msg);
                    r3.lock().unwrap().push(id);
                }
            });
        }
    });
    // Without the private CA the server is not trusted: nothing is sent, the status says why.
    let (s, untrusted) = app
        .api(
            Method::POST,
            "log-streams",
            Some(
                json!({"type": "syslog", "sink": {"syslogHost": "127.0.0.1", "syslogPort": port,
                "syslogServerName": "localhost"}}),
            ),
        )
        .await?;
    assert_eq!(s, 200, "{untrusted}");
    let (s, trusted) = app
        .api(
            Method::POST,
            "log-streams",
            Some(
                json!({"type": "syslog", "sink": {"syslogHost": "127.0.0.1", "syslogPort": port,
                "syslogTls": true, "syslogCaPem": ca, "syslogServerName": "localhost"}}),
            ),
        )
        .await?;
    assert_eq!(s, 200, "{trusted}");
    let cursor: i64 = trusted["health"]["cursor_log_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    burst(&app, 10).await?;
    let last = app.store().audit_max_seq().await?;
    wait_for("every event over TLS", 20, || {
        let got = received.lock().unwrap();
        got.iter()
            .filter_map(|l| l.parse::<i64>().ok())
            .collect::<BTreeSet<_>>()
            .range(cursor + 1..=last)
            .count() as i64
            == last - cursor
    })
    .await?;
    let bad = stream_row(&app, untrusted["id"].as_str().unwrap_or_default()).await?;
    assert!(
        bad.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("TLS"),
        "{:?}",
        bad.last_error
    );
    Ok(())
}

#[tokio::test]
async fn a_healthy_webhook_gets_each_event_exactly_once() -> TestResult {
    let app = TestApp::start().await?;
    let hook = Hook::default();
    let endpoint = start_hook(&hook).await?;
    let (s, created) = app
        .api(
            Method::POST,
            "log-streams",
            Some(json!({"type": "http", "sink": {"httpEndpoint": endpoint}})),
        )
        .await?;
    assert_eq!(s, 200, "{created}");
    let cursor: i64 = created["health"]["cursor_log_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    // Several bursts spread over more than one supervisor poll: delivery bookkeeping must not
    // restart the worker (which would re-send batches).
    for _ in 0..5 {
        burst(&app, 10).await?;
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let last = app.store().audit_max_seq().await?;
    wait_for("every event", 20, || {
        hook.received
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.parse::<i64>().ok() == Some(last))
    })
    .await?;
    let received = hook.received.lock().unwrap().clone();
    let (distinct, total) = check_exactly_once(&received, cursor, last);
    assert_eq!(distinct, total, "no duplicates without failures");
    Ok(())
}
