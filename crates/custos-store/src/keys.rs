//! Signing key records.

use custos_domain::keys::{KeyRecord, KeyState};
use sqlx::any::AnyRow;

use crate::{get_i64, get_opt_i64, get_str, Result, Store, StoreError, Tx};

fn record(row: &AnyRow) -> Result<KeyRecord> {
    let state = get_str(row, "state")?;
    Ok(KeyRecord {
        kid: get_str(row, "kid")?,
        alg: get_str(row, "alg")?,
        state: KeyState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("key state {state}")))?,
        sealed_pkcs8: get_str(row, "sealed_pkcs8")?,
        created_at: get_i64(row, "created_at")?,
        rotated_at: get_opt_i64(row, "rotated_at")?,
    })
}

impl Store {
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(record).collect()
    }
}

impl Tx {
    pub async fn insert_key(&mut self, k: &KeyRecord) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, alg, state, sealed_pkcs8, created_at, rotated_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&k.kid)
            .bind(&k.alg)
            .bind(k.state.as_str())
            .bind(&k.sealed_pkcs8)
            .bind(k.created_at)
            .bind(k.rotated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Moves a key from state `from` to `to`. Fails with `Conflict` if the key is no longer in
    /// `from`: two rotations racing (on several nodes) cannot both succeed.
    pub async fn set_key_state(
        &mut self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        at: i64,
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE signing_keys SET state = $1, rotated_at = $2 WHERE kid = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind(at)
        .bind(kid)
        .bind(from.as_str())
        .execute(self.conn())
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict("signing key changed concurrently"));
        }
        Ok(())
    }

    /// The keys as this transaction sees them.
    pub async fn list_keys(&mut self) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(record).collect()
    }
}
