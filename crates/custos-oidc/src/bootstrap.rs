//! First-run set-up: the Management API as a resource server, and the bootstrap
//! machine-to-machine client authorised for it.

use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::client::{
    AppType, AuthMethod, Client, RefreshTokenPolicy, GRANT_CLIENT_CREDENTIALS,
};
use custos_domain::resource_server::{ApiScope, ClientGrant, ResourceServer, MANAGEMENT_SCOPES};
use custos_store::StoreError;
use serde_json::json;

use crate::{Provider, ProviderError};

pub const MANAGEMENT_API_NAME: &str = "Custos Management API";

/// Makes sure the Management API exists with the current issuer's audience and every scope
/// this version defines (a newer version may add scopes to an existing data directory).
pub(crate) async fn ensure_management_api(p: &Provider) -> Result<(), ProviderError> {
    let audience = p.settings.management_audience();
    let now = p.now_ms();
    match p.store.get_resource_server_by_identifier(&audience).await {
        Ok(mut api) => {
            let missing: Vec<&str> = MANAGEMENT_SCOPES
                .iter()
                .copied()
                .filter(|s| !api.has_scope(s))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            api.scopes.extend(missing.iter().map(|s| ApiScope {
                value: (*s).to_owned(),
                description: String::new(),
            }));
            // The system (bootstrap) clients' grants gain them too, so an upgraded data
            // directory can use the new endpoints; other clients' grants stay as granted.
            let grants = p
                .store
                .list_client_grants(None, Some(&audience), 0, 1000)
                .await?
                .items;
            let mut widened = Vec::new();
            for g in grants {
                if p.store
                    .get_client(&g.client_id)
                    .await
                    .is_ok_and(|c| c.is_system)
                {
                    let mut scope = g.scope.clone();
                    scope.extend(
                        missing
                            .iter()
                            .filter(|m| !g.scope.iter().any(|s| s == *m))
                            .map(|m| (*m).to_owned()),
                    );
                    widened.push((g.id.clone(), g.client_id.clone(), scope));
                }
            }
            let mut tx = p.store.begin().await?;
            tx.update_resource_server(&api).await?;
            for (id, _, scope) in &widened {
                tx.update_client_grant_scope(id, scope).await?;
            }
            let mut ev = AuditEvent::new(EventType::Sapi, now);
            ev.description = "Add new scopes to the Management API".into();
            ev.details = json!({
                "identifier": audience,
                "added_scopes": missing,
                "granted_to_system_clients": widened.iter().map(|(_, c, _)| c).collect::<Vec<_>>(),
            });
            tx.audit(&ev).await?;
            return p.commit_config(tx).await;
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let api = ResourceServer {
        id: custos_crypto::random::hex_id::<12>()?,
        name: MANAGEMENT_API_NAME.into(),
        identifier: audience.clone(),
        scopes: MANAGEMENT_SCOPES
            .iter()
            .map(|s| ApiScope {
                value: (*s).to_owned(),
                description: String::new(),
            })
            .collect(),
        signing_alg: "RS256".into(),
        token_lifetime: 86_400,
        allow_offline_access: false,
        skip_consent_for_verifiable_first_party_clients: false,
        is_system: true,
        enforce_policies: false,
        token_dialect: "access_token".into(),
        created_at: now,
    };
    let mut tx = p.store.begin().await?;
    tx.insert_resource_server(&api).await?;
    let mut ev = AuditEvent::new(EventType::Sapi, now);
    ev.description = "Create the Management API".into();
    ev.details = json!({"identifier": audience});
    tx.audit(&ev).await?;
    match p.commit_config(tx).await {
        // Another node created it first.
        Err(ProviderError::Store(StoreError::Conflict(_))) => Ok(()),
        other => Ok(other?),
    }
}

/// Creates (idempotently) the bootstrap client with a grant for every management scope.
/// Returns `true` when it was created now.
pub async fn ensure_bootstrap_client(
    p: &Provider,
    client_id: &str,
    secret: &str,
) -> Result<bool, ProviderError> {
    match p.store.get_client(client_id).await {
        Ok(_) => return Ok(false),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let now = p.now_ms();
    let client = Client {
        client_id: client_id.to_owned(),
        name: "Custos Bootstrap (Management API)".into(),
        description: "Machine-to-machine client created at start-up for the Management API".into(),
        app_type: AppType::NonInteractive,
        is_first_party: true,
        auth_method: AuthMethod::ClientSecretPost,
        sealed_secret: Some(p.seal_client_secret(client_id, secret)?),
        grant_types: vec![GRANT_CLIENT_CREDENTIALS.into()],
        callbacks: vec![],
        allowed_logout_urls: vec![],
        id_token_alg: "RS256".into(),
        id_token_lifetime: 36_000,
        refresh_token: RefreshTokenPolicy::default(),
        jwks: vec![],
        client_metadata: json!({}),
        is_system: true,
        created_at: now,
        updated_at: now,
    };
    let grant = ClientGrant {
        id: format!("cgr_{}", custos_crypto::random::alphanumeric(16)?),
        client_id: client_id.to_owned(),
        audience: p.settings.management_audience(),
        scope: MANAGEMENT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        created_at: now,
    };
    let mut tx = p.store.begin().await?;
    tx.insert_client(&client).await?;
    tx.insert_client_grant(&grant).await?;
    let mut ev = AuditEvent::new(EventType::Sapi, now);
    ev.description = "Create the bootstrap Management API client".into();
    ev.client_id = Some(client_id.to_owned());
    ev.details = json!({"audience": grant.audience});
    tx.audit(&ev).await?;
    p.commit_config(tx).await?;
    Ok(true)
}
