//! `/api/v2/resource-servers` (APIs).

use custos_crypto::jws::Alg;
use custos_domain::resource_server::{ApiScope, ResourceServer};
use serde_json::{json, Value};

use crate::body::Body;
use crate::{ApiError, Manager, Paging};

const FIELDS: &[&str] = &[
    "enforce_policies",
    "token_dialect",
    "name",
    "identifier",
    "scopes",
    "signing_alg",
    "token_lifetime",
    "allow_offline_access",
    "skip_consent_for_verifiable_first_party_clients",
];

fn not_found() -> ApiError {
    ApiError::not_found(
        "The resource server does not exist",
        "inexistent_resource_server",
    )
}

pub(crate) fn resource_server_json(r: &ResourceServer) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "identifier": r.identifier,
        "scopes": r.scopes.iter().map(|s| json!({"value": s.value, "description": s.description})).collect::<Vec<_>>(),
        "signing_alg": r.signing_alg,
        "token_lifetime": r.token_lifetime,
        "allow_offline_access": r.allow_offline_access,
        "skip_consent_for_verifiable_first_party_clients": r.skip_consent_for_verifiable_first_party_clients,
        "is_system": r.is_system,
        "enforce_policies": r.enforce_policies,
        "token_dialect": r.token_dialect,
    })
}

fn apply(b: &Body<'_>, r: &mut ResourceServer) -> Result<(), ApiError> {
    let bad = |m: &str| ApiError::bad_body(format!("Payload validation error: '{m}'."));
    if let Some(name) = b.str("name", 200)? {
        r.name = name;
    }
    if let Some(alg) = b.str("signing_alg", 16)? {
        r.signing_alg = Alg::parse(&alg)
            .ok_or_else(|| bad("signing_alg must be RS256, ES256 or EdDSA"))?
            .as_str()
            .into();
    }
    if let Some(l) = b.int("token_lifetime", 60, 2_592_000)? {
        r.token_lifetime = l;
    }
    if let Some(v) = b.bool("enforce_policies")? {
        r.enforce_policies = v;
    }
    if let Some(d) = b.str("token_dialect", 32)? {
        if !["access_token", "access_token_authz"].contains(&d.as_str()) {
            return Err(bad(
                "token_dialect must be access_token or access_token_authz",
            ));
        }
        r.token_dialect = d;
    }
    if let Some(v) = b.bool("allow_offline_access")? {
        r.allow_offline_access = v;
    }
    if let Some(v) = b.bool("skip_consent_for_verifiable_first_party_clients")? {
        r.skip_consent_for_verifiable_first_party_clients = v;
    }
    if let Some(scopes) = b.raw("scopes") {
        let items = scopes
            .as_array()
            .filter(|a| a.len() <= 1000)
            .ok_or_else(|| bad("scopes must be an array"))?;
        let mut out: Vec<ApiScope> = Vec::new();
        for s in items {
            let value = s
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("each scope needs a value"))?;
            if !custos_domain::scope::is_valid_token(value) || value.len() > 280 {
                return Err(bad(
                    "scope values are printable ASCII without spaces, at most 280 characters",
                ));
            }
            if out.iter().any(|o| o.value == value) {
                return Err(bad("scope values must be unique"));
            }
            let description = s
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect();
            out.push(ApiScope {
                value: value.to_owned(),
                description,
            });
        }
        r.scopes = out;
    }
    Ok(())
}

impl Manager<'_> {
    pub async fn create_resource_server(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let identifier = b.required_str("identifier", 600)?;
        if identifier.trim() != identifier || identifier.chars().any(char::is_whitespace) {
            return Err(ApiError::bad_body(
                "Payload validation error: 'identifier must not contain whitespace'.",
            ));
        }
        let mut r = ResourceServer {
            id: custos_crypto::random::hex_id::<12>()?,
            name: identifier.clone(),
            identifier,
            scopes: vec![],
            signing_alg: "RS256".into(),
            token_lifetime: 86_400,
            allow_offline_access: false,
            skip_consent_for_verifiable_first_party_clients: true,
            is_system: false,
            enforce_policies: false,
            token_dialect: "access_token".into(),
            created_at: self.provider.now_ms(),
        };
        apply(&b, &mut r)?;
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_resource_server(&r).await {
            Err(custos_store::StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    format!(
                        "A resource server with the same identifier ({}) already exists",
                        r.identifier
                    ),
                    "conflict",
                ))
            }
            other => other?,
        }
        tx.audit(&self.success_event(
            "create:resource_servers",
            json!({"id": r.id, "identifier": r.identifier}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(resource_server_json(&r))
    }

    /// By id, or by identifier (Auth0 accepts both in the path).
    async fn find_resource_server(&self, id: &str) -> Result<ResourceServer, ApiError> {
        match self.provider.store.get_resource_server(id).await {
            Ok(r) => Ok(r),
            Err(_) => self
                .provider
                .store
                .get_resource_server_by_identifier(id)
                .await
                .map_err(|_| not_found()),
        }
    }

    pub async fn get_resource_server(&self, id: &str) -> Result<Value, ApiError> {
        Ok(resource_server_json(&self.find_resource_server(id).await?))
    }

    pub async fn list_resource_servers(&self, paging: Paging) -> Result<Value, ApiError> {
        let page = self
            .provider
            .store
            .list_resource_servers(paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap(
            "resource_servers",
            page.items.iter().map(resource_server_json).collect(),
            page.total,
        ))
    }

    pub async fn update_resource_server(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, FIELDS)?;
        let mut r = self.find_resource_server(id).await?;
        if r.is_system {
            return Err(ApiError::forbidden(
                "The Management API cannot be modified",
                "operation_not_supported",
            ));
        }
        if b.str("identifier", 600)?.is_some_and(|i| i != r.identifier) {
            return Err(ApiError::bad_body(
                "Payload validation error: 'identifier cannot be changed'.",
            ));
        }
        let before = resource_server_json(&r);
        apply(&b, &mut r)?;
        let mut tx = self.provider.store.begin().await?;
        tx.update_resource_server(&r).await?;
        tx.audit(&self.success_event(
            "update:resource_servers",
            json!({"id": r.id, "identifier": r.identifier, "before": before, "after": resource_server_json(&r)}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(resource_server_json(&r))
    }

    pub async fn delete_resource_server(&self, id: &str) -> Result<(), ApiError> {
        let r = self.find_resource_server(id).await?;
        if r.is_system {
            return Err(ApiError::forbidden(
                "The Management API cannot be deleted",
                "operation_not_supported",
            ));
        }
        let mut tx = self.provider.store.begin().await?;
        tx.delete_resource_server(&r.id).await?;
        tx.audit(&self.success_event(
            "delete:resource_servers",
            json!({"id": r.id, "identifier": r.identifier, "before": resource_server_json(&r)}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(())
    }
}
