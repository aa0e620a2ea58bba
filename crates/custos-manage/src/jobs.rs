//! `/api/v2/jobs/logs-exports` and `/api/v2/jobs/{id}`: audit exports as jobs, in the shape of
//! Auth0's jobs (`id`, `type`, `status`, `created_at`, `location` when done), with the export's
//! manifest (range, SHA-256, chain hashes, signed checkpoint) as `result`.

use std::sync::Arc;

use custos_domain::iso8601;
use custos_store::JobRow;
use custos_trail::jobs::{ExportParams, Exports};
use serde_json::{json, Value};

use crate::{ApiError, Manager};

fn not_found() -> ApiError {
    ApiError::not_found("The job does not exist.", "inexistent_job")
}

impl Manager<'_> {
    fn job_json(&self, j: &JobRow) -> Value {
        let params: Value = serde_json::from_str(&j.params).unwrap_or(Value::Null);
        let mut v = json!({
            "id": j.id,
            "type": j.job_type,
            "status": j.status,
            "format": params["format"],
            "from": params["from"],
            "to": params["to"],
            "created_at": iso8601(j.created_at),
        });
        if let Some(done) = j.completed_at {
            v["completed_at"] = json!(iso8601(done));
        }
        if let Some(r) = &j.result {
            v["result"] = serde_json::from_str(r).unwrap_or(Value::Null);
            v["location"] = json!(format!(
                "{}api/v2/jobs/{}/result",
                self.provider.settings.issuer, j.id
            ));
        }
        if let Some(e) = &j.error {
            v["error"] = json!(e);
        }
        v
    }

    pub async fn create_logs_export(
        &self,
        exports: &Arc<Exports>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let params = ExportParams::parse(body)?;
        let ev = self.success_event("create:logs_exports", body.clone());
        let job = exports.create(params, ev).await?;
        Ok(self.job_json(&job))
    }

    pub async fn get_job(&self, exports: &Exports, id: &str) -> Result<Value, ApiError> {
        let job = exports.get(id).await.map_err(|_| not_found())?;
        Ok(self.job_json(&job))
    }

    /// The result file of a completed export: `(path, content type)`.
    pub async fn job_result(
        &self,
        exports: &Exports,
        id: &str,
    ) -> Result<(std::path::PathBuf, &'static str), ApiError> {
        let job = exports.get(id).await.map_err(|_| not_found())?;
        let path = match (job.status.as_str(), exports.file(&job)) {
            ("completed", Some(p)) => p,
            _ => {
                return Err(ApiError::new(
                    409,
                    "The job has not completed.",
                    Some("job_not_completed"),
                ))
            }
        };
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => "text/csv; charset=utf-8",
            Some("cef") => "text/plain; charset=utf-8",
            _ => "application/x-ndjson",
        };
        Ok((path, content_type))
    }
}
