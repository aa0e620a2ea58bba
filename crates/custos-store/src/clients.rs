//! Applications (OAuth clients).

use custos_domain::client::{AppType, AuthMethod, Client, RefreshTokenPolicy, RotationType};
use serde_json::json;
use sqlx::any::AnyRow;

use crate::{
    get_bool, get_i64, get_json, get_opt_str, get_str, get_strings, to_json, Page, Result, Store,
    StoreError, Tx,
};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn policy_to_json(p: &RefreshTokenPolicy) -> String {
    json!({
        "rotation_type": p.rotation_type.as_str(),
        "expiring": p.expiring,
        "token_lifetime": p.token_lifetime,
        "idle_token_lifetime": p.idle_token_lifetime,
        "leeway": p.leeway,
    })
    .to_string()
}

fn policy_from_json(v: &serde_json::Value) -> Result<RefreshTokenPolicy> {
    Ok(RefreshTokenPolicy {
        rotation_type: v["rotation_type"]
            .as_str()
            .and_then(RotationType::parse)
            .ok_or_else(|| corrupt("refresh_token.rotation_type"))?,
        expiring: v["expiring"].as_bool().unwrap_or(true),
        token_lifetime: v["token_lifetime"].as_i64().unwrap_or(2_592_000),
        idle_token_lifetime: v["idle_token_lifetime"].as_i64().unwrap_or(1_296_000),
        leeway: v["leeway"].as_i64().unwrap_or(0),
    })
}

fn client(row: &AnyRow) -> Result<Client> {
    let jwks = get_json(row, "jwks")?;
    Ok(Client {
        client_id: get_str(row, "client_id")?,
        name: get_str(row, "name")?,
        description: get_str(row, "description")?,
        app_type: AppType::parse(&get_str(row, "app_type")?).ok_or_else(|| corrupt("app_type"))?,
        is_first_party: get_bool(row, "is_first_party")?,
        auth_method: AuthMethod::parse(&get_str(row, "auth_method")?)
            .ok_or_else(|| corrupt("auth_method"))?,
        sealed_secret: get_opt_str(row, "sealed_secret")?,
        grant_types: get_strings(row, "grant_types")?,
        callbacks: get_strings(row, "callbacks")?,
        allowed_logout_urls: get_strings(row, "allowed_logout_urls")?,
        id_token_alg: get_str(row, "id_token_alg")?,
        id_token_lifetime: get_i64(row, "id_token_lifetime")?,
        refresh_token: policy_from_json(&get_json(row, "refresh_token")?)?,
        jwks: jwks.as_array().cloned().unwrap_or_default(),
        client_metadata: get_json(row, "client_metadata")?,
        is_system: get_bool(row, "is_system")?,
        created_at: get_i64(row, "created_at")?,
        updated_at: get_i64(row, "updated_at")?,
    })
}

impl Store {
    pub async fn get_client(&self, client_id: &str) -> Result<Client> {
        let row = sqlx::query("SELECT * FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        client(&row)
    }

    pub async fn list_clients(&self, page: i64, per_page: i64) -> Result<Page<Client>> {
        let rows =
            sqlx::query("SELECT * FROM clients ORDER BY created_at, client_id LIMIT $1 OFFSET $2")
                .bind(per_page)
                .bind(page * per_page)
                .fetch_all(&self.read)
                .await?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clients")
            .fetch_one(&self.read)
            .await?;
        Ok(Page {
            items: rows.iter().map(client).collect::<Result<_>>()?,
            total,
        })
    }
}

impl Tx {
    pub async fn insert_client(&mut self, c: &Client) -> Result<()> {
        let q = sqlx::query(
            "INSERT INTO clients (client_id, name, description, app_type, is_first_party, auth_method, sealed_secret, grant_types, callbacks, allowed_logout_urls, id_token_alg, id_token_lifetime, refresh_token, jwks, client_metadata, is_system, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
        );
        bind_client(q, c).execute(self.conn()).await?;
        Ok(())
    }

    pub async fn update_client(&mut self, c: &Client) -> Result<()> {
        let q = sqlx::query(
            "UPDATE clients SET name=$2, description=$3, app_type=$4, is_first_party=$5, auth_method=$6, sealed_secret=$7, grant_types=$8, callbacks=$9, allowed_logout_urls=$10, id_token_alg=$11, id_token_lifetime=$12, refresh_token=$13, jwks=$14, client_metadata=$15, is_system=$16, created_at=$17, updated_at=$18 WHERE client_id=$1",
        );
        crate::expect_one(bind_client(q, c).execute(self.conn()).await?)
    }

    pub async fn delete_client(&mut self, client_id: &str) -> Result<()> {
        let r = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(self.conn())
            .await?;
        crate::expect_one(r)
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_client<'q>(q: AnyQuery<'q>, c: &'q Client) -> AnyQuery<'q> {
    q.bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.description)
        .bind(c.app_type.as_str())
        .bind(i64::from(c.is_first_party))
        .bind(c.auth_method.as_str())
        .bind(&c.sealed_secret)
        .bind(to_json(&c.grant_types))
        .bind(to_json(&c.callbacks))
        .bind(to_json(&c.allowed_logout_urls))
        .bind(&c.id_token_alg)
        .bind(c.id_token_lifetime)
        .bind(policy_to_json(&c.refresh_token))
        .bind(to_json(&c.jwks))
        .bind(c.client_metadata.to_string())
        .bind(i64::from(c.is_system))
        .bind(c.created_at)
        .bind(c.updated_at)
}

impl Store {
    /// Whether a system client (the bootstrap client) exists: false only on a first run.
    pub async fn has_system_client(&self) -> Result<bool> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clients WHERE is_system = 1")
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }
}
