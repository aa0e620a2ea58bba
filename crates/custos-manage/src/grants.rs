//! `/api/v2/client-grants`.

use custos_domain::resource_server::ClientGrant;
use serde_json::{json, Value};

use crate::body::Body;
use crate::{ApiError, Manager, Paging};

fn grant_json(g: &ClientGrant) -> Value {
    json!({"id": g.id, "client_id": g.client_id, "audience": g.audience, "scope": g.scope})
}

fn not_found() -> ApiError {
    ApiError::not_found("The client grant does not exist", "inexistent_client_grant")
}

impl Manager<'_> {
    async fn check_scopes(&self, audience: &str, scope: &[String]) -> Result<(), ApiError> {
        let api = self
            .provider
            .store
            .get_resource_server_by_identifier(audience)
            .await
            .map_err(|_| {
                ApiError::not_found(
                    format!("No resource server found for audience {audience}"),
                    "inexistent_resource_server",
                )
            })?;
        if let Some(unknown) = scope.iter().find(|s| !api.has_scope(s)) {
            return Err(ApiError::bad_body(format!("Payload validation error: 'The scope {unknown} is not defined by the API {audience}'.")));
        }
        Ok(())
    }

    pub async fn create_client_grant(&self, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, &["client_id", "audience", "scope"])?;
        let client_id = b.required_str("client_id", 64)?;
        let audience = b.required_str("audience", 600)?;
        let scope = b.strings("scope", 1000, 280)?.unwrap_or_default();
        self.provider
            .store
            .get_client(&client_id)
            .await
            .map_err(|_| ApiError::not_found("The client does not exist", "inexistent_client"))?;
        self.check_scopes(&audience, &scope).await?;
        let g = ClientGrant {
            id: format!("cgr_{}", custos_crypto::random::alphanumeric(16)?),
            client_id,
            audience,
            scope,
            created_at: self.provider.now_ms(),
        };
        let mut tx = self.provider.store.begin().await?;
        match tx.insert_client_grant(&g).await {
            Err(custos_store::StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    "A client grant for this client and audience already exists",
                    "conflict",
                ))
            }
            other => other?,
        }
        tx.audit(&self.success_event("create:client_grants", grant_json(&g)))
            .await?;
        self.provider.commit_config(tx).await?;
        Ok(grant_json(&g))
    }

    pub async fn list_client_grants(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        paging: Paging,
    ) -> Result<Value, ApiError> {
        let page = self
            .provider
            .store
            .list_client_grants(client_id, audience, paging.page, paging.per_page)
            .await?;
        Ok(paging.wrap(
            "client_grants",
            page.items.iter().map(grant_json).collect(),
            page.total,
        ))
    }

    /// `GET /api/v2/client-grants/{id}` (the SDKs' `clientGrants.get` / `client_grants.get`).
    pub async fn get_client_grant(&self, id: &str) -> Result<Value, ApiError> {
        self.provider
            .store
            .get_client_grant(id)
            .await
            .map(|g| grant_json(&g))
            .map_err(|e| match e {
                custos_store::StoreError::NotFound => not_found(),
                other => other.into(),
            })
    }

    pub async fn update_client_grant(&self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let b = Body::new(body, &["scope"])?;
        let mut g = self
            .provider
            .store
            .get_client_grant(id)
            .await
            .map_err(|_| not_found())?;
        let before = grant_json(&g);
        if let Some(scope) = b.strings("scope", 1000, 280)? {
            self.check_scopes(&g.audience, &scope).await?;
            g.scope = scope;
        }
        let mut tx = self.provider.store.begin().await?;
        tx.update_client_grant_scope(id, &g.scope).await?;
        tx.audit(&self.success_event(
            "update:client_grants",
            json!({"id": g.id, "before": before, "after": grant_json(&g)}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(grant_json(&g))
    }

    pub async fn delete_client_grant(&self, id: &str) -> Result<(), ApiError> {
        let g = self
            .provider
            .store
            .get_client_grant(id)
            .await
            .map_err(|_| not_found())?;
        let mut tx = self.provider.store.begin().await?;
        tx.delete_client_grant(id).await?;
        tx.audit(&self.success_event(
            "delete:client_grants",
            json!({"id": g.id, "before": grant_json(&g)}),
        ))
        .await?;
        self.provider.commit_config(tx).await?;
        Ok(())
    }
}
