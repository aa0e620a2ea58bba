//! Background jobs (log exports): their parameters, status and result. Creating a job is
//! audited by its caller; status updates are the job's own bookkeeping.

use sqlx::any::AnyRow;

use crate::{get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub job_type: String,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: String,
    pub params: String,
    pub result: Option<String>,
    /// The result file's name inside the exports directory.
    pub file: Option<String>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

fn row(r: &AnyRow) -> Result<JobRow> {
    Ok(JobRow {
        id: get_str(r, "id")?,
        job_type: get_str(r, "job_type")?,
        status: get_str(r, "status")?,
        params: get_str(r, "params")?,
        result: get_opt_str(r, "result")?,
        file: get_opt_str(r, "file")?,
        error: get_opt_str(r, "error")?,
        created_by: get_str(r, "created_by")?,
        created_at: get_i64(r, "created_at")?,
        completed_at: get_opt_i64(r, "completed_at")?,
    })
}

impl Tx {
    pub async fn insert_job(&mut self, j: &JobRow) -> Result<()> {
        sqlx::query("INSERT INTO jobs (id, job_type, status, params, result, file, error, created_by, created_at, completed_at) VALUES ($1, $2, $3, $4, NULL, NULL, NULL, $5, $6, NULL)")
            .bind(&j.id)
            .bind(&j.job_type)
            .bind(&j.status)
            .bind(&j.params)
            .bind(&j.created_by)
            .bind(j.created_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn get_job(&self, id: &str) -> Result<JobRow> {
        let r = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        row(&r)
    }

    /// Records a job's progress or outcome.
    pub async fn finish_job(
        &self,
        id: &str,
        status: &str,
        result: Option<&str>,
        file: Option<&str>,
        error: Option<&str>,
        now: Option<i64>,
    ) -> Result<()> {
        sqlx::query("UPDATE jobs SET status = $1, result = $2, file = $3, error = $4, completed_at = $5 WHERE id = $6")
            .bind(status)
            .bind(result)
            .bind(file)
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
