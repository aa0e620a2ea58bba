//! The token endpoint: authorization_code (with PKCE), refresh_token (rotation and reuse
//! detection), client_credentials and password. Every outcome, success or failure, leaves one
//! audit record; successes that change state record it in the same transaction.

use custos_crypto::{random, token_digest};
use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::client::RotationType;
use custos_domain::client::{
    Client, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN,
};
use custos_domain::oauth::{Grant, RefreshToken};
use custos_domain::resource_server::ResourceServer;
use custos_domain::scope;
use custos_domain::user::{User, DB_CONNECTION};
use custos_store::{StoreError, Tx};
use serde::Serialize;
use serde_json::{json, Value};

use crate::claims::AccessTokenSpec;
use crate::{ClientCredentials, OAuthError, Provider, ProviderError, RequestMeta};

/// The token request's parameters (RFC 6749 §4), already form-decoded.
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub username: Option<String>,
    pub password: Option<custos_crypto::Secret>,
    pub credentials: ClientCredentials,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Failure already recorded in the audit trail (so the caller does not record it twice).
struct Audited(ProviderError);

type GrantResult = Result<TokenResponse, Result<Audited, ProviderError>>;

fn fail(e: impl Into<ProviderError>) -> Result<Audited, ProviderError> {
    Err(e.into())
}

impl Provider {
    /// Handles a token request end to end.
    pub async fn token(
        &self,
        req: TokenRequest,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, ProviderError> {
        let grant_type = req.grant_type.clone().unwrap_or_default();
        let (ok_type, fail_type) = match grant_type.as_str() {
            GRANT_AUTHORIZATION_CODE => (EventType::Seacft, EventType::Feacft),
            GRANT_REFRESH_TOKEN => (EventType::Sertft, EventType::Fertft),
            GRANT_CLIENT_CREDENTIALS => (EventType::Seccft, EventType::Feccft),
            GRANT_PASSWORD => (EventType::Sepft, EventType::Fepft),
            "" => {
                return Err(
                    OAuthError::invalid_request("Missing required parameter: grant_type").into(),
                )
            }
            other => {
                return Err(OAuthError::unsupported_grant_type(format!(
                    "Unsupported grant type: {other}"
                ))
                .into())
            }
        };
        let claimed_client = req.credentials.claimed_client_id();
        let result = match self.authenticate_client(&req.credentials).await {
            Ok(client) if !client.allows_grant(&grant_type) => {
                Err(Err(OAuthError::unauthorized_client(format!(
                    "Grant type '{grant_type}' not allowed for the client."
                ))
                .into()))
            }
            Ok(client) => {
                let base = self.event(ok_type, &client, meta);
                match grant_type.as_str() {
                    GRANT_AUTHORIZATION_CODE => self.code_grant(&req, &client, base).await,
                    GRANT_REFRESH_TOKEN => self.refresh_grant(&req, &client, base).await,
                    GRANT_CLIENT_CREDENTIALS => {
                        self.client_credentials_grant(&req, &client, base).await
                    }
                    _ => self.password_grant(&req, &client, base).await,
                }
            }
            Err(e) => Err(Err(e)),
        };
        match result {
            Ok(r) => Ok(r),
            Err(Ok(Audited(e))) => Err(e),
            Err(Err(e)) => {
                let mut ev = AuditEvent::new(fail_type, self.now_ms());
                ev.client_id = claimed_client;
                ev.ip = Some(meta.ip.clone());
                ev.user_agent = Some(meta.user_agent.clone());
                ev.audience = req.audience.clone();
                ev.scope = req.scope.clone();
                if let ProviderError::OAuth(o) = &e {
                    ev.description = o.description.clone();
                    ev.details = json!({"error": o.error});
                }
                self.store.append_audit(ev).await?;
                Err(e)
            }
        }
    }

    pub(crate) fn event(&self, t: EventType, client: &Client, meta: &RequestMeta) -> AuditEvent {
        let mut ev = AuditEvent::new(t, self.now_ms());
        ev.client_id = Some(client.client_id.clone());
        ev.client_name = Some(client.name.clone());
        ev.ip = Some(meta.ip.clone());
        ev.user_agent = Some(meta.user_agent.clone());
        ev
    }

    /// The API named by `audience`; `access_denied` if there is none.
    pub(crate) async fn require_api(
        &self,
        audience: &str,
    ) -> Result<ResourceServer, ProviderError> {
        match self.api(audience).await {
            Ok(api) => Ok(api),
            Err(StoreError::NotFound) => {
                Err(OAuthError::access_denied(format!("Service not found: {audience}")).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The API a token on behalf of a user is for (absent or empty audience: `/userinfo`
    /// only). The Management API is never such an audience: users hold no management scopes,
    /// and without this any user could request them.
    pub(crate) async fn user_api(
        &self,
        audience: Option<&str>,
    ) -> Result<Option<ResourceServer>, ProviderError> {
        let Some(audience) = audience.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let api = self.require_api(audience).await?;
        if api.is_system {
            return Err(OAuthError::access_denied(
                "The Management API cannot be requested on behalf of a user",
            )
            .into());
        }
        Ok(Some(api))
    }

    async fn client_credentials_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        mut ev: AuditEvent,
    ) -> GrantResult {
        if client.is_public() {
            return Err(fail(OAuthError::unauthorized_client(
                "Public clients cannot use client_credentials",
            )));
        }
        let audience = req
            .audience
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                Err(OAuthError::access_denied(
                "No audience parameter was provided, and no default audience has been configured",
            )
            .into())
            })?;
        let api = self.require_api(audience).await.map_err(Err)?;
        let grant = match self.client_grant(&client.client_id, audience).await {
            Ok(g) => g,
            Err(StoreError::NotFound) => {
                return Err(fail(OAuthError::access_denied(format!(
                    "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API."
                ))))
            }
            Err(e) => return Err(fail(e)),
        };
        let scopes = match req.scope.as_deref() {
            None | Some("") => grant.scope.clone(),
            Some(s) => {
                let requested = scope::parse(s)
                    .ok_or_else(|| Err(OAuthError::invalid_scope("Malformed scope").into()))?;
                let missing: Vec<&String> = requested
                    .iter()
                    .filter(|r| !grant.scope.contains(r))
                    .collect();
                if !missing.is_empty() {
                    return Err(fail(OAuthError::access_denied(format!(
                        "Client has not been granted scopes: {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))));
                }
                requested
            }
        };
        // Actions bound to `credentials-exchange` run before the token is minted (the event is
        // built only when there are some).
        let active = self
            .extensions
            .active("credentials-exchange")
            .await
            .map_err(|e| Err(e.into()))?;
        let pipeline = if !active {
            custos_rules::PipelineResult::allow()
        } else {
            let event = json!({
                "client": {"client_id": client.client_id, "name": client.name, "metadata": client.client_metadata},
                "resource_server": {"identifier": api.identifier},
                "request": {"ip": ev.ip, "user_agent": ev.user_agent},
                "transaction": {"requested_scopes": scopes, "protocol": "oauth2-client-credentials"},
                "tenant": {"id": "custos"},
            });
            let who = custos_rules::Evidence {
                client_id: client.client_id.clone(),
                client_name: client.name.clone(),
                ip: ev.ip.clone().unwrap_or_default(),
                user_agent: ev.user_agent.clone().unwrap_or_default(),
                ..Default::default()
            };
            self.extensions
                .run_actions("credentials-exchange", event, who, self.now_ms())
                .await
                .map_err(|e| Err(e.into()))?
        };
        if let custos_rules::Verdict::Deny { error, description } = &pipeline.verdict {
            self.store
                .append_audits(pipeline.records.clone())
                .await
                .map_err(|e| Err(e.into()))?;
            return Err(fail(OAuthError::denied_by_script(
                error,
                description.clone(),
            )));
        }
        let custom = Value::Object(pipeline.access_token_claims.clone());
        let subject = format!("{}@clients", client.client_id);
        let jti = random::alphanumeric(22).map_err(|e| Err(e.into()))?;
        let (access_token, expires_in) = self
            .mint_access_token(&AccessTokenSpec {
                client,
                subject: &subject,
                api: Some(&api),
                scope: &scopes,
                jti,
                gty: Some("client-credentials"),
                org_id: None,
                custom: Some(&custom),
            })
            .map_err(Err)?;
        ev.audience = Some(api.identifier.clone());
        ev.scope = Some(scope::join(&scopes));
        // Durable before the response; concurrent requests share one commit.
        let mut records = pipeline.records;
        records.push(ev);
        self.store
            .append_audits(records)
            .await
            .map_err(|e| Err(e.into()))?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            id_token: None,
            refresh_token: None,
            scope: Some(scope::join(&scopes)),
        })
    }

    async fn code_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        mut ev: AuditEvent,
    ) -> GrantResult {
        let code = req
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Err(OAuthError::invalid_request("Missing required parameter: code").into())
            })?;
        let digest = token_digest(code);
        let now = self.now_ms();
        let mut tx = self.store.begin().await.map_err(|e| Err(e.into()))?;
        let stored = match tx.get_code(&digest).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                return Err(fail(OAuthError::invalid_grant(
                    "Invalid authorization code",
                )))
            }
            Err(e) => return Err(fail(e)),
        };
        if stored.request.client_id != client.client_id {
            return Err(fail(OAuthError::invalid_grant(
                "Invalid authorization code",
            )));
        }
        if stored.used {
            // Replay: the code leaked. Revoke everything the first redemption issued.
            if let Some(gid) = &stored.grant_id {
                tx.revoke_grant(gid).await.map_err(|e| Err(e.into()))?;
            }
            let mut fail_ev = ev.clone();
            fail_ev.event_type = EventType::Feacft;
            fail_ev.description =
                "Authorization code reused; tokens issued from it were revoked".into();
            fail_ev.user_id = Some(stored.user_id.clone());
            fail_ev.details = json!({"error": "invalid_grant", "revoked_grant": stored.grant_id});
            tx.audit(&fail_ev).await.map_err(|e| Err(e.into()))?;
            tx.commit().await.map_err(|e| Err(e.into()))?;
            return Err(Ok(Audited(
                OAuthError::invalid_grant("Invalid authorization code").into(),
            )));
        }
        if now >= stored.expires_at {
            return Err(fail(OAuthError::invalid_grant(
                "Authorization code expired",
            )));
        }
        if req.redirect_uri.as_deref() != Some(stored.request.redirect_uri.as_str()) {
            return Err(fail(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            )));
        }
        match (&stored.request.code_challenge, req.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier))
                if custos_crypto::pkce::verify_s256(verifier, challenge) => {}
            (Some(_), Some(_)) => {
                return Err(fail(OAuthError::invalid_grant(
                    "Failed to verify code verifier",
                )))
            }
            (Some(_), None) => {
                return Err(fail(OAuthError::invalid_request(
                    "Missing required parameter: code_verifier",
                )))
            }
            (None, Some(_)) => {
                return Err(fail(OAuthError::invalid_grant(
                    "code_verifier sent but no code_challenge was",
                )))
            }
            (None, None) => {}
        }
        let user = self.usable_user(&stored.user_id).await?;
        let session_ok = match self.store.get_session(&stored.session_id).await {
            Ok(s) => s.is_active(now),
            Err(StoreError::NotFound) => false,
            Err(e) => return Err(fail(e)),
        };
        if !session_ok {
            return Err(fail(OAuthError::invalid_grant(
                "The session that issued the code has ended",
            )));
        }
        let api = self
            .user_api(stored.request.audience.as_deref())
            .await
            .map_err(Err)?;
        let grant_id = format!(
            "gr_{}",
            random::alphanumeric(20).map_err(|e| Err(e.into()))?
        );
        if !tx
            .redeem_code(&digest, &grant_id)
            .await
            .map_err(|e| Err(e.into()))?
        {
            return Err(fail(OAuthError::invalid_grant(
                "Invalid authorization code",
            )));
        }
        let scopes = self
            .user_scopes(
                &user.user_id,
                &stored.request.scope,
                api.as_ref(),
                stored.request.organization.as_deref(),
            )
            .await
            .map_err(Err)?;
        let grant = Grant {
            id: grant_id,
            client_id: client.client_id.clone(),
            user_id: user.user_id.clone(),
            session_id: Some(stored.session_id.clone()),
            audience: api.as_ref().map(|a| a.identifier.clone()),
            scope: scopes.clone(),
            auth_time: stored.auth_time,
            created_at: now,
            revoked: false,
            organization_id: stored.request.organization.clone(),
            custom_claims: stored.custom_claims.clone(),
        };
        let response = self
            .issue_for_grant(
                &mut tx,
                client,
                &user,
                api.as_ref(),
                &grant,
                stored.request.nonce.as_deref(),
                true,
            )
            .await
            .map_err(Err)?;
        ev.user_id = Some(user.user_id.clone());
        ev.user_name = Some(user.email.clone());
        ev.audience = grant.audience.clone();
        ev.organization_id = grant.organization_id.clone();
        ev.scope = Some(scope::join(&scopes));
        ev.details = json!({"grant_id": grant.id, "session_id": grant.session_id});
        tx.audit(&ev).await.map_err(|e| Err(e.into()))?;
        tx.commit().await.map_err(|e| Err(e.into()))?;
        Ok(response)
    }

    /// Loads a user who may receive tokens: exists and is not blocked.
    async fn usable_user(&self, user_id: &str) -> Result<User, Result<Audited, ProviderError>> {
        match self.store.get_user(user_id).await {
            Ok(u) if u.blocked => Err(fail(OAuthError::invalid_grant("user is blocked"))),
            Ok(u) => Ok(u),
            Err(StoreError::NotFound) => {
                Err(fail(OAuthError::invalid_grant("user does not exist")))
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// Inserts `grant` (when `new_grant`) and mints the token set for it: access token, ID
    /// token when `openid` was granted, refresh token when `offline_access` was granted and
    /// allowed.
    #[allow(clippy::too_many_arguments)]
    async fn issue_for_grant(
        &self,
        tx: &mut Tx,
        client: &Client,
        user: &User,
        api: Option<&ResourceServer>,
        grant: &Grant,
        nonce: Option<&str>,
        new_grant: bool,
    ) -> Result<TokenResponse, ProviderError> {
        if new_grant {
            tx.insert_grant(grant).await?;
        }
        let wants_refresh = new_grant
            && scope::contains(&grant.scope, "offline_access")
            && client.allows_grant(GRANT_REFRESH_TOKEN)
            && api.is_none_or(|a| a.allow_offline_access);
        let refresh_token = if wants_refresh {
            Some(
                self.store_refresh_token(tx, client, grant, random::token()?)
                    .await?,
            )
        } else {
            None
        };
        let jti = format!("{}.{}", grant.id, random::alphanumeric(12)?);
        let (access_token, expires_in) = self.mint_access_token(&AccessTokenSpec {
            client,
            subject: &user.user_id,
            api,
            scope: &grant.scope,
            jti,
            gty: None,
            org_id: grant.organization_id.as_deref(),
            custom: grant
                .custom_claims
                .as_ref()
                .and_then(|c| c.get("access_token")),
        })?;
        let id_token = if scope::contains(&grant.scope, "openid") {
            Some(self.mint_id_token(
                client,
                user,
                &grant.scope,
                nonce,
                grant.auth_time,
                grant.session_id.as_deref(),
                grant.organization_id.as_deref(),
                &access_token,
                grant.custom_claims.as_ref().and_then(|c| c.get("id_token")),
            )?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            id_token,
            refresh_token,
            scope: Some(scope::join(&grant.scope)),
        })
    }

    /// Stores `token` (fresh random) as a refresh token of `grant`.
    async fn store_refresh_token(
        &self,
        tx: &mut Tx,
        client: &Client,
        grant: &Grant,
        token: String,
    ) -> Result<String, ProviderError> {
        let policy = &client.refresh_token;
        tx.insert_refresh_token(&RefreshToken {
            digest: token_digest(&token),
            grant_id: grant.id.clone(),
            created_at: self.now_ms(),
            // The absolute lifetime runs from the start of the family, across rotations.
            expires_at: policy
                .expiring
                .then(|| grant.created_at + policy.token_lifetime * 1000),
            last_used_at: self.now_ms(),
            rotated_at: None,
            replaced_by: None,
            revoked: false,
        })
        .await?;
        Ok(token)
    }

    async fn refresh_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        mut ev: AuditEvent,
    ) -> GrantResult {
        let presented = req
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Err(OAuthError::invalid_request("Missing required parameter: refresh_token").into())
            })?;
        let digest = token_digest(presented);
        let now = self.now_ms();
        let invalid = || {
            fail(OAuthError::invalid_grant(
                "Unknown or invalid refresh token.",
            ))
        };
        let rt = match self.store.get_refresh_token(&digest).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => return Err(invalid()),
            Err(e) => return Err(fail(e)),
        };
        let grant = self
            .store
            .get_grant(&rt.grant_id)
            .await
            .map_err(|e| Err(e.into()))?;
        if grant.client_id != client.client_id {
            return Err(invalid());
        }
        ev.user_id = Some(grant.user_id.clone());
        let policy = &client.refresh_token;
        let rotating = policy.rotation_type == RotationType::Rotating;
        let live = !rt.revoked && !grant.revoked;
        // Within the client's leeway the immediately previous token may be exchanged again
        // (a retry that lost its response, or two tabs refreshing at once).
        let grace = rotating
            && live
            && self
                .within_leeway(&rt, policy.leeway, now)
                .await
                .map_err(Err)?;
        let successor = random::token().map_err(|e| Err(e.into()))?;
        let mut tx = self.store.begin().await.map_err(|e| Err(e.into()))?;
        if rotating && live && !grace {
            let first_use = tx
                .rotate_refresh_token(&digest, now, &token_digest(&successor))
                .await
                .map_err(|e| Err(e.into()))?;
            if !first_use {
                return Err(self.refresh_reuse(tx, ev, &grant).await);
            }
        }
        if !live {
            return Err(invalid());
        }
        let policy = &client.refresh_token;
        if rt.expires_at.is_some_and(|exp| now >= exp)
            || (policy.expiring && now - rt.last_used_at > policy.idle_token_lifetime * 1000)
        {
            return Err(fail(OAuthError::invalid_grant("Refresh token expired")));
        }
        let user = self.usable_user(&grant.user_id).await?;
        // Leaving an organization ends what was issued for it.
        if let Some(org) = &grant.organization_id {
            if !self
                .store
                .is_member(org, &user.user_id)
                .await
                .map_err(|e| Err(e.into()))?
            {
                return Err(fail(OAuthError::invalid_grant(
                    "user is no longer a member of the organization",
                )));
            }
        }
        let mut scoped = grant.clone();
        if let Some(s) = req.scope.as_deref().filter(|s| !s.is_empty()) {
            let requested = scope::parse(s)
                .ok_or_else(|| Err(OAuthError::invalid_scope("Malformed scope").into()))?;
            if requested.iter().any(|r| !grant.scope.contains(r)) {
                return Err(fail(OAuthError::invalid_scope(
                    "Requested scope exceeds the original grant",
                )));
            }
            scoped.scope = requested;
        }
        let api = self
            .user_api(grant.audience.as_deref())
            .await
            .map_err(Err)?;
        let mut response = self
            .issue_for_grant(&mut tx, client, &user, api.as_ref(), &scoped, None, false)
            .await
            .map_err(Err)?;
        if rotating {
            response.refresh_token = Some(
                self.store_refresh_token(&mut tx, client, &grant, successor)
                    .await
                    .map_err(Err)?,
            );
        } else {
            tx.touch_refresh_token(&digest, now)
                .await
                .map_err(|e| Err(e.into()))?;
        }
        ev.user_name = Some(user.email.clone());
        ev.audience = grant.audience.clone();
        ev.organization_id = grant.organization_id.clone();
        ev.scope = Some(scope::join(&scoped.scope));
        ev.details = json!({"grant_id": grant.id, "rotated": rotating, "leeway_reuse": grace});
        tx.audit(&ev).await.map_err(|e| Err(e.into()))?;
        tx.commit().await.map_err(|e| Err(e.into()))?;
        Ok(response)
    }

    /// Whether an already rotated token may be exchanged again: within `leeway` seconds of its
    /// rotation, and only while its successor has not itself been used.
    async fn within_leeway(
        &self,
        rt: &RefreshToken,
        leeway: i64,
        now: i64,
    ) -> Result<bool, ProviderError> {
        let (Some(rotated_at), Some(successor)) = (rt.rotated_at, rt.replaced_by.as_deref()) else {
            return Ok(false);
        };
        if leeway <= 0 || now - rotated_at > leeway * 1000 {
            return Ok(false);
        }
        match self.store.get_refresh_token(successor).await {
            Ok(next) => Ok(next.rotated_at.is_none() && !next.revoked),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A rotated refresh token came back: someone holds a copy. Revoke the whole family.
    async fn refresh_reuse(
        &self,
        mut tx: Tx,
        mut ev: AuditEvent,
        grant: &Grant,
    ) -> Result<Audited, ProviderError> {
        tx.revoke_grant(&grant.id).await?;
        ev.event_type = EventType::Ferrt;
        ev.description = EventType::Ferrt.description().into();
        ev.details = json!({"error": "invalid_grant", "revoked_grant": grant.id});
        tx.audit(&ev).await?;
        tx.commit().await?;
        Ok(Audited(
            OAuthError::invalid_grant("Unknown or invalid refresh token.").into(),
        ))
    }

    async fn password_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        mut ev: AuditEvent,
    ) -> GrantResult {
        let (Some(username), Some(password)) = (req.username.as_deref(), req.password.as_ref())
        else {
            return Err(fail(OAuthError::invalid_request(
                "Missing required parameter: username and password",
            )));
        };
        let email = custos_domain::user::normalize_email(username).unwrap_or_default();
        let found = match self.store.find_user_by_email(&email).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(fail(e)),
        };
        let ip = ev.ip.clone().unwrap_or_default();
        if let Some(u) = &found {
            if self.login_blocked(u, &ip).await.map_err(Err)? {
                return Err(fail(OAuthError::invalid_grant(crate::brute_force::BLOCKED)));
            }
        }
        let ok = self
            .passwords
            .verify(
                password.expose().to_owned(),
                found.as_ref().and_then(|u| u.password_hash.clone()),
            )
            .await
            .map_err(Err)?;
        let user = match found {
            Some(u) if ok => u,
            Some(u) => {
                // Counted towards brute-force protection, with its record, in one transaction.
                let mut failure = ev.clone();
                failure.event_type = EventType::Fepft;
                failure.description = "Wrong email or password.".into();
                failure.user_id = Some(u.user_id.clone());
                failure.user_name = Some(u.email.clone());
                failure.connection = Some(DB_CONNECTION.into());
                failure.details = json!({"error": "invalid_grant"});
                let blocked = self.wrong_password(&u, &ip, failure).await.map_err(Err)?;
                let message = if blocked {
                    crate::brute_force::BLOCKED
                } else {
                    "Wrong email or password."
                };
                return Err(Ok(Audited(OAuthError::invalid_grant(message).into())));
            }
            None => return Err(fail(OAuthError::invalid_grant("Wrong email or password."))),
        };
        if user.blocked {
            return Err(fail(OAuthError::invalid_grant("user is blocked")));
        }
        let requested = scope::parse(req.scope.as_deref().unwrap_or_default())
            .ok_or_else(|| Err(OAuthError::invalid_scope("Malformed scope").into()))?;
        let api = self.user_api(req.audience.as_deref()).await.map_err(Err)?;
        // Rules and `post-login` Actions run for this grant too, as in Auth0: a script cannot
        // be sidestepped by asking for tokens without the login page.
        let meta = RequestMeta {
            ip: ip.clone(),
            user_agent: ev.user_agent.clone().unwrap_or_default(),
        };
        let pipeline = self
            .login_pipeline(crate::extensions::LoginFacts {
                client,
                user: &user,
                protocol: "oauth2-password",
                query: json!({"audience": req.audience, "scope": req.scope}),
                scope: &requested,
                audience: req.audience.as_deref(),
                organization: None,
                session_id: None,
                meta: &meta,
            })
            .await
            .map_err(Err)?;
        if let custos_rules::Verdict::Deny { error, description } = &pipeline.verdict {
            let mut records = pipeline.records.clone();
            let mut failure = ev.clone();
            failure.event_type = EventType::Fepft;
            failure.description = description.clone();
            failure.user_id = Some(user.user_id.clone());
            failure.user_name = Some(user.email.clone());
            failure.connection = Some(DB_CONNECTION.into());
            failure.details = json!({"error": error, "reason": "denied_by_rule"});
            records.push(failure);
            self.store
                .append_audits(records)
                .await
                .map_err(|e| Err(e.into()))?;
            return Err(Ok(Audited(
                OAuthError::denied_by_script(error, description.clone()).into(),
            )));
        }
        let now = self.now_ms();
        let grant = Grant {
            id: format!(
                "gr_{}",
                random::alphanumeric(20).map_err(|e| Err(e.into()))?
            ),
            client_id: client.client_id.clone(),
            user_id: user.user_id.clone(),
            session_id: None,
            audience: api.as_ref().map(|a| a.identifier.clone()),
            scope: self
                .user_scopes(&user.user_id, &requested, api.as_ref(), None)
                .await
                .map_err(Err)?,
            auth_time: now,
            created_at: now,
            revoked: false,
            organization_id: None,
            custom_claims: crate::extensions::custom_claims(&pipeline),
        };
        let mut tx = self.store.begin().await.map_err(|e| Err(e.into()))?;
        self.apply_pipeline(&mut tx, &user, &pipeline)
            .await
            .map_err(Err)?;
        let response = self
            .issue_for_grant(&mut tx, client, &user, api.as_ref(), &grant, None, true)
            .await
            .map_err(Err)?;
        tx.record_login(&user.user_id, now, &ev.ip.clone().unwrap_or_default())
            .await
            .map_err(|e| Err(e.into()))?;
        ev.user_id = Some(user.user_id.clone());
        ev.user_name = Some(user.email.clone());
        ev.connection = Some(DB_CONNECTION.into());
        ev.audience = grant.audience.clone();
        ev.scope = Some(scope::join(&grant.scope));
        tx.audit(&ev).await.map_err(|e| Err(e.into()))?;
        tx.commit().await.map_err(|e| Err(e.into()))?;
        Ok(response)
    }
}
