//! Where the protocol meets customers' code: the login pipeline (Rules, then `post-login`
//! Actions) runs after the credentials are verified and before any code or token is issued.

use custos_domain::client::Client;
use custos_domain::user::{User, DB_CONNECTION};
use custos_rules::{LoginInput, PipelineResult};
use custos_store::{StoreError, Tx};
use serde_json::{json, Value};

use crate::{Provider, ProviderError, RequestMeta};

/// What a login is, for the pipeline.
pub(crate) struct LoginFacts<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    /// Auth0's `context.protocol`: `oidc-basic-profile`, `oauth2-password`…
    pub protocol: &'a str,
    pub query: Value,
    pub scope: &'a [String],
    pub audience: Option<&'a str>,
    pub organization: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub meta: &'a RequestMeta,
}

impl Provider {
    /// Runs the login pipeline for a user whose credentials are verified.
    pub(crate) async fn login_pipeline(
        &self,
        f: LoginFacts<'_>,
    ) -> Result<PipelineResult, ProviderError> {
        // Most tenants have no scripts: then a login reads nothing more.
        if !self.extensions.active("post-login").await? {
            return Ok(PipelineResult::allow());
        }
        let roles = self
            .store
            .user_roles(&f.user.user_id)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        let organization = match f.organization {
            None => None,
            Some(id) => match self.store.get_organization(id).await {
                Ok(o) => Some(json!({
                    "id": o.id, "name": o.name, "display_name": o.display_name,
                    "metadata": o.metadata,
                })),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let hostname = url::Url::parse(&self.settings.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let input = LoginInput {
            user: f.user.clone(),
            client_id: f.client.client_id.clone(),
            client_name: f.client.name.clone(),
            client_metadata: f.client.client_metadata.clone(),
            connection: DB_CONNECTION.to_owned(),
            protocol: f.protocol.to_owned(),
            ip: f.meta.ip.clone(),
            user_agent: f.meta.user_agent.clone(),
            hostname,
            query: f.query,
            // The login form's body holds the password: scripts never see it.
            body: json!({}),
            organization,
            roles,
            session_id: f.session_id.map(str::to_owned),
            scope: f.scope.to_vec(),
            audience: f.audience.map(str::to_owned),
        };
        Ok(self.extensions.post_login(&input, self.now_ms()).await?)
    }

    /// Writes what an allowing pipeline asked to persist (metadata) and its execution records.
    pub(crate) async fn apply_pipeline(
        &self,
        tx: &mut Tx,
        user: &User,
        result: &PipelineResult,
    ) -> Result<(), ProviderError> {
        if result.allows() && (!result.app_metadata.is_empty() || !result.user_metadata.is_empty())
        {
            let app = PipelineResult::merged(&user.app_metadata, &result.app_metadata);
            let usr = PipelineResult::merged(&user.user_metadata, &result.user_metadata);
            tx.set_user_metadata(&user.user_id, &app, &usr, self.now_ms())
                .await?;
        }
        for r in &result.records {
            tx.audit(r).await?;
        }
        Ok(())
    }
}

/// The claims to carry with a code or grant, if any.
pub(crate) fn custom_claims(result: &PipelineResult) -> Option<Value> {
    if result.id_token_claims.is_empty() && result.access_token_claims.is_empty() {
        return None;
    }
    Some(json!({
        "id_token": result.id_token_claims,
        "access_token": result.access_token_claims,
    }))
}

impl Provider {
    /// Runs an asynchronous trigger (`post-user-registration`, `post-change-password`) for
    /// `user` after the change has committed: it cannot undo anything, so it runs in the
    /// background and only its execution records are written.
    pub fn run_after_commit(
        &self,
        trigger: &'static str,
        user: &User,
        client_id: &str,
        client_name: &str,
        meta: &RequestMeta,
    ) {
        let extensions = self.extensions.clone();
        let store = self.store.clone();
        let now = self.now_ms();
        let event = json!({
            "user": custos_rules::user_profile(user),
            "connection": {"name": DB_CONNECTION, "strategy": "auth0"},
            "client": {"client_id": client_id, "name": client_name},
            "request": {"ip": meta.ip, "user_agent": meta.user_agent},
            "tenant": {"id": "custos"},
        });
        let who = custos_rules::Evidence {
            user_id: Some(user.user_id.clone()),
            user_name: Some(user.email.clone()),
            client_id: client_id.to_owned(),
            client_name: client_name.to_owned(),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            ..Default::default()
        };
        tokio::spawn(async move {
            let written = async {
                let result = extensions.run_actions(trigger, event, who, now).await?;
                if result.records.is_empty() {
                    return Ok::<(), StoreError>(());
                }
                store.append_audits(result.records).await.map(|_| ())
            };
            if let Err(e) = written.await {
                tracing::error!(trigger, error = %e, "an asynchronous trigger's records were not written");
            }
        });
    }

    /// Runs `pre-user-registration` for a user about to be created by sign-up: a denial
    /// refuses the sign-up; metadata set by the Actions is applied to `user`.
    pub(crate) async fn pre_registration(
        &self,
        user: &mut User,
        client: Option<&Client>,
        meta: &RequestMeta,
    ) -> Result<PipelineResult, ProviderError> {
        let event = json!({
            "user": custos_rules::user_profile(user),
            "connection": {"name": DB_CONNECTION, "strategy": "auth0"},
            "client": client.map(|c| json!({"client_id": c.client_id, "name": c.name, "metadata": c.client_metadata})),
            "request": {"ip": meta.ip, "user_agent": meta.user_agent},
            "tenant": {"id": "custos"},
        });
        let who = custos_rules::Evidence {
            user_name: Some(user.email.clone()),
            client_id: client.map(|c| c.client_id.clone()).unwrap_or_default(),
            client_name: client.map(|c| c.name.clone()).unwrap_or_default(),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            ..Default::default()
        };
        let result = self
            .extensions
            .run_actions("pre-user-registration", event, who, self.now_ms())
            .await?;
        if result.allows() {
            user.app_metadata = PipelineResult::merged(&user.app_metadata, &result.app_metadata);
            user.user_metadata = PipelineResult::merged(&user.user_metadata, &result.user_metadata);
        }
        Ok(result)
    }
}
