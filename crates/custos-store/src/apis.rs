//! APIs (resource servers) and client grants.

use custos_domain::resource_server::{ApiScope, ClientGrant, ResourceServer};
use serde_json::{json, Value};
use sqlx::any::AnyRow;

use crate::{
    get_bool, get_i64, get_json, get_str, get_strings, to_json, Page, Result, Store, StoreError, Tx,
};

fn scopes_to_json(scopes: &[ApiScope]) -> String {
    Value::Array(
        scopes
            .iter()
            .map(|s| json!({"value": s.value, "description": s.description}))
            .collect(),
    )
    .to_string()
}

fn resource_server(row: &AnyRow) -> Result<ResourceServer> {
    let scopes = get_json(row, "scopes")?
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| ApiScope {
                    value: s["value"].as_str().unwrap_or_default().to_owned(),
                    description: s["description"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ResourceServer {
        id: get_str(row, "id")?,
        name: get_str(row, "name")?,
        identifier: get_str(row, "identifier")?,
        scopes,
        signing_alg: get_str(row, "signing_alg")?,
        token_lifetime: get_i64(row, "token_lifetime")?,
        allow_offline_access: get_bool(row, "allow_offline_access")?,
        skip_consent_for_verifiable_first_party_clients: get_bool(row, "skip_consent")?,
        is_system: get_bool(row, "is_system")?,
        enforce_policies: get_bool(row, "enforce_policies")?,
        token_dialect: get_str(row, "token_dialect")?,
        created_at: get_i64(row, "created_at")?,
    })
}

fn client_grant(row: &AnyRow) -> Result<ClientGrant> {
    Ok(ClientGrant {
        id: get_str(row, "id")?,
        client_id: get_str(row, "client_id")?,
        audience: get_str(row, "audience")?,
        scope: get_strings(row, "scope")?,
        created_at: get_i64(row, "created_at")?,
    })
}

impl Store {
    pub async fn get_resource_server(&self, id: &str) -> Result<ResourceServer> {
        let row = sqlx::query("SELECT * FROM resource_servers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        resource_server(&row)
    }

    pub async fn get_resource_server_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<ResourceServer> {
        let row = sqlx::query("SELECT * FROM resource_servers WHERE identifier = $1")
            .bind(identifier)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        resource_server(&row)
    }

    pub async fn list_resource_servers(
        &self,
        page: i64,
        per_page: i64,
    ) -> Result<Page<ResourceServer>> {
        let rows = sqlx::query(
            "SELECT * FROM resource_servers ORDER BY created_at, id LIMIT $1 OFFSET $2",
        )
        .bind(per_page)
        .bind(page * per_page)
        .fetch_all(&self.read)
        .await?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM resource_servers")
            .fetch_one(&self.read)
            .await?;
        Ok(Page {
            items: rows.iter().map(resource_server).collect::<Result<_>>()?,
            total,
        })
    }

    pub async fn find_client_grant(&self, client_id: &str, audience: &str) -> Result<ClientGrant> {
        let row = sqlx::query("SELECT * FROM client_grants WHERE client_id = $1 AND audience = $2")
            .bind(client_id)
            .bind(audience)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        client_grant(&row)
    }

    pub async fn get_client_grant(&self, id: &str) -> Result<ClientGrant> {
        let row = sqlx::query("SELECT * FROM client_grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        client_grant(&row)
    }

    pub async fn list_client_grants(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> Result<Page<ClientGrant>> {
        let filter = "WHERE ($1 = '' OR client_id = $1) AND ($2 = '' OR audience = $2)";
        let rows = sqlx::query(&format!(
            "SELECT * FROM client_grants {filter} ORDER BY created_at, id LIMIT $3 OFFSET $4"
        ))
        .bind(client_id.unwrap_or_default())
        .bind(audience.unwrap_or_default())
        .bind(per_page)
        .bind(page * per_page)
        .fetch_all(&self.read)
        .await?;
        let (total,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM client_grants {filter}"))
                .bind(client_id.unwrap_or_default())
                .bind(audience.unwrap_or_default())
                .fetch_one(&self.read)
                .await?;
        Ok(Page {
            items: rows.iter().map(client_grant).collect::<Result<_>>()?,
            total,
        })
    }
}

impl Tx {
    pub async fn insert_resource_server(&mut self, r: &ResourceServer) -> Result<()> {
        sqlx::query("INSERT INTO resource_servers (id, name, identifier, scopes, signing_alg, token_lifetime, allow_offline_access, skip_consent, is_system, created_at, enforce_policies, token_dialect) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)")
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.identifier)
            .bind(scopes_to_json(&r.scopes))
            .bind(&r.signing_alg)
            .bind(r.token_lifetime)
            .bind(i64::from(r.allow_offline_access))
            .bind(i64::from(r.skip_consent_for_verifiable_first_party_clients))
            .bind(i64::from(r.is_system))
            .bind(r.created_at)
            .bind(i64::from(r.enforce_policies))
            .bind(&r.token_dialect)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn update_resource_server(&mut self, r: &ResourceServer) -> Result<()> {
        let res = sqlx::query("UPDATE resource_servers SET name=$2, scopes=$3, signing_alg=$4, token_lifetime=$5, allow_offline_access=$6, skip_consent=$7, enforce_policies=$8, token_dialect=$9 WHERE id=$1")
            .bind(&r.id)
            .bind(&r.name)
            .bind(scopes_to_json(&r.scopes))
            .bind(&r.signing_alg)
            .bind(r.token_lifetime)
            .bind(i64::from(r.allow_offline_access))
            .bind(i64::from(r.skip_consent_for_verifiable_first_party_clients))
            .bind(i64::from(r.enforce_policies))
            .bind(&r.token_dialect)
            .execute(self.conn())
            .await?;
        crate::expect_one(res)
    }

    pub async fn delete_resource_server(&mut self, id: &str) -> Result<()> {
        let identifier: Option<(String,)> =
            sqlx::query_as("SELECT identifier FROM resource_servers WHERE id = $1")
                .bind(id)
                .fetch_optional(self.conn())
                .await?;
        let (identifier,) = identifier.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM client_grants WHERE audience = $1")
            .bind(&identifier)
            .execute(self.conn())
            .await?;
        let r = sqlx::query("DELETE FROM resource_servers WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        crate::expect_one(r)
    }

    pub async fn insert_client_grant(&mut self, g: &ClientGrant) -> Result<()> {
        sqlx::query("INSERT INTO client_grants (id, client_id, audience, scope, created_at) VALUES ($1,$2,$3,$4,$5)")
            .bind(&g.id)
            .bind(&g.client_id)
            .bind(&g.audience)
            .bind(to_json(&g.scope))
            .bind(g.created_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn update_client_grant_scope(&mut self, id: &str, scope: &[String]) -> Result<()> {
        let r = sqlx::query("UPDATE client_grants SET scope = $2 WHERE id = $1")
            .bind(id)
            .bind(to_json(&scope))
            .execute(self.conn())
            .await?;
        crate::expect_one(r)
    }

    pub async fn delete_client_grant(&mut self, id: &str) -> Result<()> {
        let r = sqlx::query("DELETE FROM client_grants WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        crate::expect_one(r)
    }
}
