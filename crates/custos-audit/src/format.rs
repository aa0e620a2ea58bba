//! The shapes audit records leave Custos in: Auth0's log JSON (API, JSONL export, log streams as
//! `{log_id, data}`), CSV, ArcSight CEF, RFC 5424 syslog, Splunk HEC and Datadog intake bodies.

use custos_domain::audit::AuditRecord;
use custos_domain::iso8601;
use serde_json::{json, Value};

/// A record in Auth0's log shape.
pub fn log_json(r: &AuditRecord) -> Value {
    let e = &r.event;
    let mut v = json!({
        "log_id": r.log_id(),
        "date": iso8601(e.date),
        "type": e.event_type.code(),
        "description": e.description,
        "details": e.details,
    });
    for (k, val) in [
        ("client_id", &e.client_id),
        ("client_name", &e.client_name),
        ("user_id", &e.user_id),
        ("user_name", &e.user_name),
        ("connection", &e.connection),
        ("organization_id", &e.organization_id),
        ("resource", &e.resource),
        ("audience", &e.audience),
        ("scope", &e.scope),
        ("ip", &e.ip),
        ("user_agent", &e.user_agent),
    ] {
        if let Some(val) = val {
            v[k] = json!(val);
        }
    }
    v
}

/// The event as log streams deliver it, Auth0's envelope: `{log_id, data}`.
pub fn stream_item(r: &AuditRecord) -> Value {
    json!({"log_id": r.log_id(), "data": log_json(r)})
}

/// CSV header matching [`csv_row`].
pub const CSV_HEADER: &str = "log_id,date,type,description,client_id,client_name,user_id,user_name,connection,organization_id,resource,audience,scope,ip,user_agent,details\r\n";

fn csv_cell(out: &mut String, text: &str) {
    // Spreadsheets execute cells starting with these as formulas; a leading quote neutralises
    // them (OWASP's CSV-injection advice). The JSONL export carries the exact values.
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    out.push('"');
    if risky {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// One RFC 4180 CSV line (CRLF-terminated).
pub fn csv_row(r: &AuditRecord) -> String {
    let e = &r.event;
    let mut out = String::with_capacity(256);
    let details = e.details.to_string();
    let date = iso8601(e.date);
    let log_id = r.log_id();
    let cells: [Option<&str>; 16] = [
        Some(log_id.as_str()),
        Some(date.as_str()),
        Some(e.event_type.code()),
        Some(e.description.as_str()),
        e.client_id.as_deref(),
        e.client_name.as_deref(),
        e.user_id.as_deref(),
        e.user_name.as_deref(),
        e.connection.as_deref(),
        e.organization_id.as_deref(),
        e.resource.as_deref(),
        e.audience.as_deref(),
        e.scope.as_deref(),
        e.ip.as_deref(),
        e.user_agent.as_deref(),
        Some(details.as_str()),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(text) = cell {
            csv_cell(&mut out, text);
        }
    }
    out.push_str("\r\n");
    out
}

/// Syslog / CEF severity of an event: failures and denials are warnings.
fn is_failure(r: &AuditRecord) -> bool {
    let code = r.event.event_type.code();
    code.starts_with('f')
        || code == "limit_wc"
        || code.ends_with("denied")
        || code.ends_with("failed")
}

fn cef_header(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

fn cef_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// One ArcSight CEF line (LF-terminated).
pub fn cef_line(r: &AuditRecord, version: &str) -> String {
    let e = &r.event;
    let severity = if is_failure(r) { 7 } else { 3 };
    let mut ext = vec![
        ("rt", e.date.to_string()),
        ("externalId", r.log_id()),
        ("cat", e.event_type.category().to_owned()),
    ];
    for (k, v) in [
        ("duid", &e.user_id),
        ("suser", &e.user_name),
        ("src", &e.ip),
        ("requestClientApplication", &e.user_agent),
    ] {
        if let Some(v) = v {
            ext.push((k, v.clone()));
        }
    }
    let mut labelled = 0;
    for (label, v) in [
        ("client_id", &e.client_id),
        ("client_name", &e.client_name),
        ("connection", &e.connection),
        ("organization_id", &e.organization_id),
        ("resource", &e.resource),
    ] {
        if let Some(v) = v {
            labelled += 1;
            ext.push((
                ["cs1Label", "cs2Label", "cs3Label", "cs4Label", "cs5Label"][labelled - 1],
                label.to_owned(),
            ));
            ext.push((["cs1", "cs2", "cs3", "cs4", "cs5"][labelled - 1], v.clone()));
        }
    }
    ext.push(("msg", e.details.to_string()));
    let ext: Vec<String> = ext
        .into_iter()
        .map(|(k, v)| format!("{k}={}", cef_value(&v)))
        .collect();
    format!(
        "CEF:0|Custos|Custos|{}|{}|{}|{}|{}\n",
        cef_header(version),
        cef_header(e.event_type.code()),
        cef_header(&e.description),
        severity,
        ext.join(" ")
    )
}

/// One RFC 5424 message, framed by octet counting (RFC 6587 §3.4.1, RFC 5425) as
/// `LEN SP MSG`. Facility authpriv (10); severity warning for failures, informational otherwise.
/// The record's `log_id` is in the structured data, the whole `{log_id, data}` item in MSG.
pub fn syslog_frame(r: &AuditRecord, hostname: &str, app_name: &str) -> String {
    let severity = if is_failure(r) { 4 } else { 6 };
    let pri = 10 * 8 + severity;
    let printable = |s: &str, max: usize| -> String {
        let t: String = s
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(max)
            .collect();
        if t.is_empty() {
            "-".into()
        } else {
            t
        }
    };
    let msg = format!(
        "<{pri}>1 {} {} {} - {} [custos@32473 log_id=\"{}\"] {}",
        iso8601(r.event.date),
        printable(hostname, 255),
        printable(app_name, 48),
        printable(r.event.event_type.code(), 32),
        r.log_id(),
        stream_item(r)
    );
    format!("{} {msg}", msg.len())
}

/// A Splunk HTTP Event Collector body: one JSON event object per line.
pub fn splunk_body(records: &[AuditRecord], host: &str) -> String {
    let mut out = String::new();
    for r in records {
        let ev = json!({
            "time": r.event.date as f64 / 1000.0,
            "host": host,
            "source": "custos",
            "sourcetype": "custos:log",
            "event": stream_item(r),
        });
        out.push_str(&ev.to_string());
        out.push('\n');
    }
    out
}

/// A Datadog logs intake body: a JSON array of log entries whose message is the item.
pub fn datadog_body(records: &[AuditRecord], host: &str) -> Value {
    Value::Array(
        records
            .iter()
            .map(|r| {
                json!({
                    "ddsource": "custos",
                    "service": "custos",
                    "hostname": host,
                    "ddtags": format!("type:{},category:{}", r.event.event_type.code(), r.event.event_type.category()),
                    "message": stream_item(r).to_string(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_domain::audit::{AuditEvent, EventType};

    fn rec() -> AuditRecord {
        let mut e = AuditEvent::new(EventType::Fp, 1_700_000_000_123);
        e.user_name = Some("=cmd|' /C calc'!A0".into());
        e.user_id = Some("auth0|1".into());
        e.ip = Some("10.0.0.1".into());
        e.details = json!({"error": "a=b|c\nd"});
        AuditRecord { seq: 7, event: e }
    }

    #[test]
    fn log_json_has_auth0_fields() {
        let v = log_json(&rec());
        assert_eq!(v["log_id"], "00000000000000000007");
        assert_eq!(v["type"], "fp");
        assert_eq!(v["date"], "2023-11-14T22:13:20.123Z");
        assert!(v.get("client_id").is_none());
        assert_eq!(stream_item(&rec())["data"], v);
    }

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        let line = csv_row(&rec());
        assert!(line.starts_with("\"00000000000000000007\",\"2023-11-14T22:13:20.123Z\",\"fp\""));
        assert!(line.contains("\"'=cmd|' /C calc'!A0\""));
        assert!(line.contains("\"{\"\"error\"\":\"\"a=b|c\\nd\"\"}\""));
        assert!(line.ends_with("\r\n"));
        assert!(line.contains(",,,"), "absent fields are empty cells");
    }

    #[test]
    fn cef_escapes_header_and_extension() {
        let line = cef_line(&rec(), "0.1.0");
        assert!(line.starts_with("CEF:0|Custos|Custos|0.1.0|fp|Wrong email or password.|7|rt=1700000000123 externalId=00000000000000000007"));
        assert!(line.contains("suser=\\=cmd|' /C calc'!A0"));
        assert!(line.contains("a\\=b|c\\\\nd"));
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn syslog_frame_is_octet_counted_rfc5424() {
        let f = syslog_frame(&rec(), "host a", "custos");
        let (len, msg) = f.split_once(' ').unwrap_or_default();
        assert_eq!(len.parse::<usize>().ok(), Some(msg.len()));
        assert!(msg.starts_with("<84>1 2023-11-14T22:13:20.123Z hosta custos - fp [custos@32473 log_id=\"00000000000000000007\"] {"));
    }

    #[test]
    fn siem_bodies_carry_the_item() {
        let s = splunk_body(&[rec(), rec()], "h");
        assert_eq!(s.lines().count(), 2);
        let first: Value =
            serde_json::from_str(s.lines().next().unwrap_or_default()).unwrap_or_default();
        assert_eq!(first["event"]["log_id"], "00000000000000000007");
        let d = datadog_body(&[rec()], "h");
        assert!(d[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("\"log_id\""));
    }
}
