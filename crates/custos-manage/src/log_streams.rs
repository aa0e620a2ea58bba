//! `/api/v2/log-streams` in Auth0's shape: `{id, name, type, status, sink, filters}`. The sink
//! is sealed at rest because it holds credentials (`httpAuthorization`, `splunkToken`,
//! `datadogApiKey`); responses never include those fields, and a PATCH of `sink` merges into
//! the stored one, so a read-modify-write round trip keeps them. Responses add `health`
//! (Custos' own): the delivery cursor, lag, last error and when failure began.

use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::iso8601;
use custos_store::StreamRow;
use custos_trail::streams::{parse_filters, sink_context, validate_sink};
use custos_trail::TrailError;
use serde_json::{json, Map, Value};

use crate::body::Body;
use crate::{ApiError, Manager};

const SECRET_FIELDS: &[&str] = &[
    "httpAuthorization",
    "splunkToken",
    "datadogApiKey",
    "natsToken",
];

impl From<TrailError> for ApiError {
    fn from(e: TrailError) -> Self {
        match e {
            TrailError::Invalid(m) => {
                ApiError::bad_body(format!("Payload validation error: '{m}'."))
            }
            TrailError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "log stream operation failed");
                ApiError::internal()
            }
        }
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("The log stream does not exist.", "inexistent_log_stream")
}

fn public_sink(sink: &Value) -> Value {
    let mut out = Map::new();
    if let Some(map) = sink.as_object() {
        for (k, v) in map {
            if !SECRET_FIELDS.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

impl Manager<'_> {
    fn open_sink(&self, s: &StreamRow) -> Result<Value, ApiError> {
        let bytes = self
            .provider
            .master
            .open(&sink_context(&s.id), &s.sealed_sink)
            .map_err(|_| ApiError::internal())?;
        serde_json::from_slice(&bytes).map_err(|_| ApiError::internal())
    }

    fn stream_json(&self, s: &StreamRow, head: i64) -> Result<Value, ApiError> {
        let sink = self.open_sink(s)?;
        let filters: Value = serde_json::from_str(&s.filters).unwrap_or_else(|_| json!([]));
        Ok(json!({
            "id": s.id,
            "name": s.name,
            "type": s.stream_type,
            "status": s.status,
            "sink": public_sink(&sink),
            "filters": filters,
            "health": {
                "cursor_log_id": format!("{:020}", s.cursor_seq),
                "lag": (head - s.cursor_seq).max(0),
                "delivered": s.delivered,
                "last_error": s.last_error,
                "last_error_at": s.last_error_at.map(iso8601),
                "failing_since": s.failing_since.map(iso8601),
            },
        }))
    }

    fn config_event(&self, action: &str, id: &str, before: Value, after: Value) -> AuditEvent {
        let mut ev = AuditEvent::new(EventType::ConfigChanged, self.provider.now_ms());
        ev.description = format!("Log stream {action}");
        ev.client_id = Some(self.actor.client_id.clone());
        ev.ip = Some(self.actor.meta.ip.clone());
        ev.user_agent = Some(self.actor.meta.user_agent.clone());
        ev.details = json!({"log_stream": id, "before": before, "after": after});
        ev
    }

    pub async fn list_log_streams(&self) -> Result<Value, ApiError> {
        let (head, _) = self.provider.store.audit_head().await?;
        let items = self
            .provider
            .store
            .list_streams()
            .await?
            .iter()
            .map(|s| self.stream_json(s, head))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Array(items))
    }

    pub async fn get_log_stream(&self, id: &str) -> Result<Value, ApiError> {
        let s = self
            .provider
            .store
            .get_stream(id)
            .await
            .map_err(|_| not_found())?;
        let (head, _) = self.provider.store.audit_head().await?;
        self.stream_json(&s, head)
    }

    pub async fn create_log_stream(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(
            body,
            &["name", "type", "sink", "filters", "startFrom", "isPriority"],
        )?;
        let stream_type = b.required_str("type", 32)?;
        let sink = b.raw("sink").cloned().ok_or_else(|| {
            ApiError::bad_body("Payload validation error: 'Missing required property: sink'.")
        })?;
        validate_sink(&stream_type, &sink)?;
        let filters = b.raw("filters").cloned().unwrap_or_else(|| json!([]));
        parse_filters(&filters)?;
        let now = self.provider.now_ms();
        // New streams start with what happens from now on (Auth0's behaviour), or from
        // `startFrom` (an ISO 8601 date) when given.
        let cursor = match b.str("startFrom", 40)? {
            None => self.provider.store.audit_head().await?.0,
            Some(d) => {
                let ms = custos_domain::parse_iso8601(&d).ok_or_else(|| {
                    ApiError::bad_body(
                        "Payload validation error: 'startFrom must be an ISO 8601 date-time'.",
                    )
                })?;
                self.provider
                    .store
                    .audit_seq_bound(ms, true)
                    .await?
                    .map(|s| s - 1)
                    .unwrap_or(self.provider.store.audit_head().await?.0)
            }
        };
        let id = format!("lst_{}", custos_crypto::random::alphanumeric(16)?);
        let sealed = self
            .provider
            .master
            .seal(&sink_context(&id), sink.to_string().as_bytes())?;
        let row = StreamRow {
            id: id.clone(),
            name: b
                .str("name", 100)?
                .unwrap_or_else(|| format!("{stream_type} stream")),
            stream_type,
            status: "active".into(),
            sealed_sink: sealed,
            filters: filters.to_string(),
            cursor_seq: cursor,
            delivered: 0,
            last_error: None,
            last_error_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        let after = json!({"name": row.name, "type": row.stream_type, "sink": public_sink(&sink), "filters": filters, "status": "active"});
        let mut tx = self.provider.store.begin().await?;
        tx.insert_stream(&row).await?;
        tx.audit(&self.success_event("create:log_streams", json!({"id": id})))
            .await?;
        tx.audit(&self.config_event("created", &id, Value::Null, after))
            .await?;
        tx.commit().await?;
        self.stream_json(&row, cursor)
    }

    pub async fn update_log_stream(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, &["name", "status", "sink", "filters", "isPriority"])?;
        let mut tx = self.provider.store.begin().await?;
        let mut row = tx
            .get_stream_for_update(id)
            .await
            .map_err(|_| not_found())?;
        let old_sink = self.open_sink(&row)?;
        let before = json!({"name": row.name, "status": row.status, "sink": public_sink(&old_sink), "filters": serde_json::from_str::<Value>(&row.filters).unwrap_or(Value::Null)});
        if let Some(name) = b.str("name", 100)? {
            row.name = name;
        }
        if let Some(status) = b.str("status", 16)? {
            if !["active", "paused", "suspended"].contains(&status.as_str()) {
                return Err(ApiError::bad_body(
                    "Payload validation error: 'status must be active, paused or suspended'.",
                ));
            }
            row.status = status;
        }
        let mut sink = old_sink;
        if let Some(patch) = b.object("sink")? {
            if let Some(map) = sink.as_object_mut() {
                for (k, v) in patch {
                    map.insert(k.clone(), v.clone());
                }
            }
            validate_sink(&row.stream_type, &sink)?;
            row.sealed_sink = self
                .provider
                .master
                .seal(&sink_context(id), sink.to_string().as_bytes())?;
        }
        if let Some(filters) = b.raw("filters") {
            parse_filters(filters)?;
            row.filters = filters.to_string();
        }
        row.updated_at = self.provider.now_ms().max(row.updated_at + 1);
        let after = json!({"name": row.name, "status": row.status, "sink": public_sink(&sink), "filters": serde_json::from_str::<Value>(&row.filters).unwrap_or(Value::Null)});
        tx.update_stream(&row).await?;
        tx.audit(&self.success_event("update:log_streams", json!({"id": id})))
            .await?;
        tx.audit(&self.config_event("updated", id, before, after))
            .await?;
        tx.commit().await?;
        self.get_log_stream(id).await
    }

    pub async fn delete_log_stream(&self, id: &str) -> Result<Value, ApiError> {
        let mut tx = self.provider.store.begin().await?;
        let row = tx
            .get_stream_for_update(id)
            .await
            .map_err(|_| not_found())?;
        tx.delete_stream(id).await?;
        tx.audit(&self.success_event("delete:log_streams", json!({"id": id})))
            .await?;
        tx.audit(&self.config_event(
            "deleted",
            id,
            json!({"name": row.name, "type": row.stream_type, "status": row.status}),
            Value::Null,
        ))
        .await?;
        tx.commit().await?;
        Ok(Value::Null)
    }
}
