//! Log exports as background jobs (`POST /api/v2/jobs/logs-exports`): the same export as
//! `custos audit export`, written to a file in the exports directory, with the manifest (and
//! its checkpoint) as the job's result.

use std::path::PathBuf;
use std::sync::Arc;

use custos_crypto::ed25519::Ed25519Signer;
use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::Clock;
use custos_store::{JobRow, Store};
use serde_json::{json, Value};

use crate::export::{self, Format};
use crate::{Result, TrailError};

/// Runs export jobs.
pub struct Exports {
    store: Store,
    signer: Arc<Ed25519Signer>,
    clock: Arc<dyn Clock>,
    dir: PathBuf,
}

/// Validated parameters of an export job.
#[derive(Debug, Clone)]
pub struct ExportParams {
    pub format: Format,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl ExportParams {
    /// From the request body `{format, from?, to?}` (from/to: a log_id or an ISO 8601 date).
    pub fn parse(body: &Value) -> Result<Self> {
        let map = body
            .as_object()
            .ok_or_else(|| TrailError::Invalid("the body must be an object".into()))?;
        if let Some(k) = map
            .keys()
            .find(|k| !["format", "from", "to"].contains(&k.as_str()))
        {
            return Err(TrailError::Invalid(format!(
                "Additional properties not allowed: {k}"
            )));
        }
        let text = |k: &str| -> Result<Option<String>> {
            match map.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= 64 => Ok(Some(s.clone())),
                Some(_) => Err(TrailError::Invalid(format!("{k} must be a string"))),
            }
        };
        let format = match text("format")?.as_deref() {
            None => Format::Jsonl,
            Some(f) => Format::parse(f)
                .ok_or_else(|| TrailError::Invalid("format must be jsonl, csv or cef".into()))?,
        };
        for k in ["from", "to"] {
            if let Some(v) = text(k)? {
                let ok = v.bytes().all(|b| b.is_ascii_digit())
                    || custos_domain::parse_iso8601(&v).is_some()
                    || custos_domain::parse_iso8601(&format!("{v}T00:00:00Z")).is_some();
                if !ok {
                    return Err(TrailError::Invalid(format!(
                        "{k} must be a log_id or an ISO 8601 date"
                    )));
                }
            }
        }
        Ok(Self {
            format,
            from: text("from")?,
            to: text("to")?,
        })
    }
}

impl Exports {
    pub fn new(
        store: Store,
        signer: Arc<Ed25519Signer>,
        clock: Arc<dyn Clock>,
        dir: PathBuf,
    ) -> Self {
        Self {
            store,
            signer,
            clock,
            dir,
        }
    }

    /// Records the job (with `created`, the caller's audit event) and starts it.
    pub async fn create(
        self: &Arc<Self>,
        params: ExportParams,
        created: AuditEvent,
    ) -> Result<JobRow> {
        let now = self.clock.now_ms();
        let job = JobRow {
            id: format!("job_{}", custos_crypto::random::alphanumeric(16)?),
            job_type: "logs_export".into(),
            status: "pending".into(),
            params: json!({"format": params.format.as_str(), "from": params.from, "to": params.to})
                .to_string(),
            result: None,
            file: None,
            error: None,
            created_by: created.client_id.clone().unwrap_or_default(),
            created_at: now,
            completed_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_job(&job).await?;
        tx.audit(&created).await?;
        tx.commit().await?;
        let me = self.clone();
        let (id, actor) = (job.id.clone(), created);
        tokio::spawn(async move {
            if let Err(e) = me.run(&id, params, actor).await {
                tracing::error!(job = %id, error = %e, "log export failed");
                let _ = me
                    .store
                    .finish_job(
                        &id,
                        "failed",
                        None,
                        None,
                        Some(&e.to_string()),
                        Some(me.clock.now_ms()),
                    )
                    .await;
            }
        });
        Ok(job)
    }

    async fn run(&self, id: &str, params: ExportParams, actor: AuditEvent) -> Result<()> {
        self.store
            .finish_job(id, "processing", None, None, None, None)
            .await?;
        std::fs::create_dir_all(&self.dir)?;
        let name = format!("{id}.{}", params.format.as_str());
        let path = self.dir.join(&name);
        let range =
            export::resolve_range(&self.store, params.from.as_deref(), params.to.as_deref())
                .await?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut ev = actor;
        ev.event_type = EventType::AuditExported;
        ev.date = self.clock.now_ms();
        let manifest = export::export(
            &self.store,
            &self.signer,
            self.clock.now_ms(),
            range,
            params.format,
            &mut out,
            ev,
        )
        .await?;
        out.into_inner()
            .map_err(|e| TrailError::Io(e.into_error()))?
            .sync_all()?;
        self.store
            .finish_job(
                id,
                "completed",
                Some(&manifest.to_string()),
                Some(&name),
                None,
                Some(self.clock.now_ms()),
            )
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<JobRow> {
        Ok(self.store.get_job(id).await?)
    }

    /// The result file of a completed job.
    pub fn file(&self, job: &JobRow) -> Option<PathBuf> {
        job.file.as_ref().map(|f| self.dir.join(f))
    }
}
