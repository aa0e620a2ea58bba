//! The authorization endpoint, the login transaction behind the login page, and logout.
//!
//! Until the client and its redirect URI are validated, errors are shown on our own page;
//! after that they go back to the client by its chosen response mode, never to an unregistered
//! URI (RFC 6749 §4.1.2.1).

use custos_crypto::{pkce, random, token_digest, Secret};
use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::client::{Client, GRANT_AUTHORIZATION_CODE};
use custos_domain::oauth::{
    AuthCode, AuthRequest, LoginTransaction, ResponseMode, CODE_LIFETIME_MS,
    LOGIN_TRANSACTION_LIFETIME_MS,
};
use custos_domain::organization::ORGANIZATION_ID_PREFIX;
use custos_domain::scope;
use custos_domain::session::Session;
use custos_domain::user::{normalize_email, User, DB_CONNECTION};
use custos_store::StoreError;
use serde_json::{json, Value};

use crate::{OAuthError, Provider, ProviderError, RequestMeta};

/// `/authorize` query parameters, as received.
#[derive(Debug, Default, Clone)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub audience: Option<String>,
    /// Auth0's `organization`: an organization's id (`org_…`) or name.
    pub organization: Option<String>,
    /// The session cookie, if the browser sent one.
    pub session_token: Option<String>,
}

/// A response delivered to the client's redirect URI.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub params: Vec<(String, String)>,
}

impl ClientResponse {
    fn error(req: &AuthRequest, e: &OAuthError) -> Self {
        let mut params = vec![
            ("error".to_owned(), e.error.to_owned()),
            ("error_description".to_owned(), e.description.clone()),
        ];
        if let Some(state) = &req.state {
            params.push(("state".into(), state.clone()));
        }
        Self {
            redirect_uri: req.redirect_uri.clone(),
            response_mode: req.response_mode,
            params,
        }
    }

    /// The redirect URL for `response_mode=query`.
    pub fn location(&self) -> String {
        let mut url = self.redirect_uri.clone();
        let query = serde_urlencode(&self.params);
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query);
        url
    }
}

fn serde_urlencode(params: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The request cannot be answered to the client: show an error page.
    ErrorPage(OAuthError),
    /// Answer the client (a code, or an error).
    Respond(ClientResponse),
    /// Send the browser to the login page for this transaction; `csrf` goes in a cookie.
    Login {
        transaction_id: String,
        csrf: String,
    },
}

/// What the login page shows.
#[derive(Debug, Clone)]
pub struct LoginPage {
    pub transaction_id: String,
    pub csrf: String,
    pub client_name: String,
    pub error: Option<String>,
    pub email: String,
}

/// The login form as posted.
#[derive(Debug)]
pub struct LoginForm {
    pub transaction_id: String,
    pub csrf_form: String,
    pub csrf_cookie: Option<String>,
    pub username: String,
    pub password: Secret,
}

#[derive(Debug)]
pub enum LoginOutcome {
    /// Logged in: set the session cookie, then answer the client.
    Success {
        session_token: String,
        respond: ClientResponse,
    },
    /// Show the form again with an error.
    Retry(LoginPage),
    ErrorPage(OAuthError),
}

/// `/oidc/logout` and `/v2/logout` parameters.
#[derive(Debug, Default)]
pub struct LogoutParams {
    pub session_token: Option<String>,
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug)]
pub enum LogoutOutcome {
    Redirect(String),
    LoggedOut,
    ErrorPage(OAuthError),
}

/// Bound for any single parameter: real values are far shorter.
const MAX_PARAM_LEN: usize = 2048;

/// Binds sealed login transactions to their purpose.
const TXN_CONTEXT: &str = "login-transaction";

impl Provider {
    pub async fn authorize(
        &self,
        p: AuthorizeParams,
        meta: &RequestMeta,
    ) -> Result<AuthorizeOutcome, ProviderError> {
        // 1. Client and redirect URI: failures here are shown, never redirected.
        let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(AuthorizeOutcome::ErrorPage(OAuthError::invalid_request(
                "Missing required parameter: client_id",
            )));
        };
        let client = match self.client(client_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                return Ok(AuthorizeOutcome::ErrorPage(OAuthError::invalid_request(
                    "Unknown client",
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let Some(redirect_uri) = p.redirect_uri.as_deref().filter(|r| client.has_callback(r))
        else {
            return Ok(AuthorizeOutcome::ErrorPage(OAuthError::invalid_request(
                "The redirect_uri is missing or not registered for this client",
            )));
        };
        let response_mode = match p.response_mode.as_deref() {
            None | Some("") => ResponseMode::Query,
            Some(m) => match ResponseMode::parse(m) {
                Some(m) => m,
                None => {
                    return Ok(AuthorizeOutcome::ErrorPage(OAuthError::invalid_request(
                        format!("Unsupported response_mode: {m}"),
                    )))
                }
            },
        };
        let mut request = AuthRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            response_mode,
            scope: vec![],
            audience: None,
            state: p.state.clone().filter(|s| !s.is_empty()),
            nonce: p.nonce.clone().filter(|s| !s.is_empty()),
            code_challenge: None,
            max_age: None,
            organization: None,
        };
        // 2. Everything else is answered to the client.
        match self.validate_request(&p, &client, &mut request).await {
            Ok(()) => {}
            Err(ProviderError::OAuth(e)) => {
                return Ok(AuthorizeOutcome::Respond(ClientResponse::error(
                    &request, &e,
                )))
            }
            Err(e) => return Err(e),
        }
        let prompt = p.prompt.as_deref().unwrap_or_default();
        // 3. An existing session may answer without a login page.
        if prompt != "login" {
            if let Some((session, user)) = self.active_session(p.session_token.as_deref()).await? {
                let fresh = request
                    .max_age
                    .is_none_or(|max| self.now_ms() - session.auth_time <= max * 1000);
                if fresh {
                    let event = if prompt == "none" {
                        EventType::Ssa
                    } else {
                        EventType::S
                    };
                    let respond = self
                        .issue_code(&client, &user, &session, &request, event, meta, None)
                        .await?;
                    return Ok(AuthorizeOutcome::Respond(respond));
                }
            }
        }
        if prompt == "none" {
            let mut ev = self.event(EventType::Fsa, &client, meta);
            ev.description = "Login required".into();
            self.store.append_audit(ev).await?;
            let e = OAuthError::login_required("Login required");
            return Ok(AuthorizeOutcome::Respond(ClientResponse::error(
                &request, &e,
            )));
        }
        // 4. Start a login transaction: sealed into the login page's `state`, not stored.
        let txn = LoginTransaction {
            request,
            csrf: random::token()?,
            expires_at: self.now_ms() + LOGIN_TRANSACTION_LIFETIME_MS,
        };
        let transaction_id = self
            .master
            .seal(TXN_CONTEXT, txn.to_json().to_string().as_bytes())?;
        Ok(AuthorizeOutcome::Login {
            transaction_id,
            csrf: txn.csrf,
        })
    }

    async fn validate_request(
        &self,
        p: &AuthorizeParams,
        client: &Client,
        req: &mut AuthRequest,
    ) -> Result<(), ProviderError> {
        let too_long = [&p.scope, &p.state, &p.nonce, &p.audience, &p.code_challenge]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| v.len() > MAX_PARAM_LEN));
        if too_long {
            return Err(OAuthError::invalid_request("A parameter is too long").into());
        }
        match p.response_type.as_deref() {
            Some("code") => {}
            None | Some("") => {
                return Err(OAuthError::invalid_request(
                    "Missing required parameter: response_type",
                )
                .into())
            }
            Some(other) => {
                return Err(OAuthError::unsupported_response_type(format!(
                    "Unsupported response type: {other}"
                ))
                .into())
            }
        }
        if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
            return Err(OAuthError::unauthorized_client(
                "The client is not allowed the authorization_code grant",
            )
            .into());
        }
        req.scope = scope::parse(p.scope.as_deref().unwrap_or("openid"))
            .ok_or_else(|| OAuthError::invalid_scope("Malformed scope"))?;
        match (
            p.code_challenge.as_deref(),
            p.code_challenge_method.as_deref(),
        ) {
            (Some(c), Some("S256")) if pkce::is_valid_challenge(c) => {
                req.code_challenge = Some(c.to_owned())
            }
            (Some(_), Some("S256")) => {
                return Err(OAuthError::invalid_request("Malformed code_challenge").into())
            }
            (Some(_), Some("plain")) | (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256; plain is not allowed",
                )
                .into())
            }
            (Some(_), Some(other)) => {
                return Err(OAuthError::invalid_request(format!(
                    "Unsupported code_challenge_method: {other}"
                ))
                .into())
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method without code_challenge",
                )
                .into())
            }
            (None, None) if client.is_public() => {
                return Err(OAuthError::invalid_request(
                    "Public clients must use PKCE (code_challenge with S256)",
                )
                .into())
            }
            (None, None) => {}
        }
        match p.prompt.as_deref() {
            None | Some("") | Some("none") | Some("login") => {}
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "Unsupported prompt value: {other}"
                ))
                .into())
            }
        }
        if let Some(max_age) = p.max_age.as_deref().filter(|m| !m.is_empty()) {
            req.max_age = Some(max_age.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(
                || OAuthError::invalid_request("max_age must be a non-negative integer"),
            )?);
        }
        if let Some(audience) = p.audience.as_deref().filter(|a| !a.is_empty()) {
            self.user_api(Some(audience)).await?;
            req.audience = Some(audience.to_owned());
        }
        if let Some(org) = p.organization.as_deref().filter(|o| !o.is_empty()) {
            let found = if org.starts_with(ORGANIZATION_ID_PREFIX) {
                self.store.get_organization(org).await
            } else {
                self.store.get_organization_by_name(org).await
            };
            match found {
                Ok(o) => req.organization = Some(o.id),
                Err(StoreError::NotFound) => {
                    return Err(OAuthError::invalid_request(
                        "parameter organization is invalid: no organization has that id or name",
                    )
                    .into())
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The session behind a cookie, if it is active and its user may log in.
    async fn active_session(
        &self,
        token: Option<&str>,
    ) -> Result<Option<(Session, User)>, ProviderError> {
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 128) else {
            return Ok(None);
        };
        let session = match self.store.get_session(&token_digest(token)).await {
            Ok(s) if s.is_active(self.now_ms()) => s,
            Ok(_) | Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match self.store.get_user(&session.user_id).await {
            Ok(u) if !u.blocked => Ok(Some((session, u))),
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Issues an authorization code for a logged-in user and records the login outcome.
    #[allow(clippy::too_many_arguments)]
    async fn issue_code(
        &self,
        client: &Client,
        user: &User,
        session: &Session,
        request: &AuthRequest,
        event: EventType,
        meta: &RequestMeta,
        new_session: Option<&Session>,
    ) -> Result<ClientResponse, ProviderError> {
        let now = self.now_ms();
        // A login for an organization is only for its members.
        if let Some(org) = &request.organization {
            if !self.store.is_member(org, &user.user_id).await? {
                let mut ev = self.event(EventType::F, client, meta);
                ev.description = "user is not a member of the organization".into();
                ev.user_id = Some(user.user_id.clone());
                ev.user_name = Some(user.email.clone());
                ev.organization_id = Some(org.clone());
                ev.details = json!({"reason": "not_a_member", "organization_id": org});
                self.store.append_audit(ev).await?;
                return Ok(ClientResponse::error(
                    request,
                    &OAuthError::access_denied(format!(
                        "user {} is not part of the {org} organization",
                        user.user_id
                    )),
                ));
            }
        }
        // Customers' Rules and Actions, after the credentials and before any code.
        let query = json!({
            "client_id": request.client_id, "redirect_uri": request.redirect_uri,
            "response_type": "code", "scope": scope::join(&request.scope),
            "audience": request.audience, "state": request.state,
            "organization": request.organization,
        });
        let pipeline = self
            .login_pipeline(crate::extensions::LoginFacts {
                client,
                user,
                protocol: "oidc-basic-profile",
                query,
                scope: &request.scope,
                audience: request.audience.as_deref(),
                organization: request.organization.as_deref(),
                session_id: Some(&session.id),
                meta,
            })
            .await?;
        if let custos_rules::Verdict::Deny { error, description } = &pipeline.verdict {
            let mut tx = self.store.begin().await?;
            self.apply_pipeline(&mut tx, user, &pipeline).await?;
            let mut ev = self.event(EventType::F, client, meta);
            ev.description = description.clone();
            ev.user_id = Some(user.user_id.clone());
            ev.user_name = Some(user.email.clone());
            ev.connection = Some(DB_CONNECTION.into());
            ev.organization_id = request.organization.clone();
            ev.details = json!({"reason": "denied_by_rule", "error": error});
            tx.audit(&ev).await?;
            tx.commit().await?;
            return Ok(ClientResponse::error(
                request,
                &OAuthError::denied_by_script(error, description.clone()),
            ));
        }
        let code = random::token()?;
        let mut tx = self.store.begin().await?;
        self.apply_pipeline(&mut tx, user, &pipeline).await?;
        match new_session {
            Some(s) => {
                tx.insert_session(s).await?;
                tx.record_login(&user.user_id, now, &meta.ip).await?;
            }
            None => {
                tx.touch_session(&session.id, now, now + self.settings.session.idle)
                    .await?;
            }
        }
        tx.insert_code(&AuthCode {
            code_digest: token_digest(&code),
            request: request.clone(),
            user_id: user.user_id.clone(),
            session_id: session.id.clone(),
            auth_time: session.auth_time,
            expires_at: now + CODE_LIFETIME_MS,
            grant_id: None,
            used: false,
            custom_claims: crate::extensions::custom_claims(&pipeline),
        })
        .await?;
        let mut ev = self.event(event, client, meta);
        ev.user_id = Some(user.user_id.clone());
        ev.user_name = Some(user.email.clone());
        ev.connection = Some(DB_CONNECTION.into());
        ev.audience = request.audience.clone();
        ev.organization_id = request.organization.clone();
        ev.scope = Some(scope::join(&request.scope));
        // `sso`: answered from an existing session rather than a password just entered.
        ev.details = json!({"session_id": session.id, "sso": new_session.is_none()});
        if let Some(mfa) = &pipeline.multifactor {
            // Asked for by an Action; enforced once Custos has MFA.
            ev.details["multifactor_requested"] = mfa.clone();
        }
        tx.audit(&ev).await?;
        tx.commit().await?;
        let mut params = vec![("code".to_owned(), code)];
        if let Some(state) = &request.state {
            params.push(("state".into(), state.clone()));
        }
        Ok(ClientResponse {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            params,
        })
    }

    /// Opens a sealed login transaction; `None` if it is forged, garbled or expired.
    async fn transaction(
        &self,
        id: &str,
    ) -> Result<Option<(LoginTransaction, Client)>, ProviderError> {
        if id.is_empty() || id.len() > 8192 {
            return Ok(None);
        }
        let Some(txn) = self
            .master
            .open(TXN_CONTEXT, id)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| LoginTransaction::from_json(&v))
            .filter(|t| t.expires_at > self.now_ms())
        else {
            return Ok(None);
        };
        match self.client(&txn.request.client_id).await {
            Ok(c) => Ok(Some((txn, c))),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// What the login page shows for a transaction; `None` if it is unknown or expired.
    pub async fn login_page(
        &self,
        transaction_id: &str,
    ) -> Result<Option<LoginPage>, ProviderError> {
        Ok(self
            .transaction(transaction_id)
            .await?
            .map(|(txn, client)| LoginPage {
                transaction_id: transaction_id.to_owned(),
                csrf: txn.csrf,
                client_name: client.name,
                error: None,
                email: String::new(),
            }))
    }

    /// Checks the posted credentials; on success creates the session and issues the code.
    pub async fn login(
        &self,
        form: LoginForm,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome, ProviderError> {
        let Some((txn, client)) = self.transaction(&form.transaction_id).await? else {
            return Ok(LoginOutcome::ErrorPage(OAuthError::invalid_request(
                "This login request has expired or is unknown. Go back to the application and try again.",
            )));
        };
        let csrf_ok = form
            .csrf_cookie
            .as_deref()
            .is_some_and(|c| custos_crypto::ct_eq(c.as_bytes(), txn.csrf.as_bytes()))
            && custos_crypto::ct_eq(form.csrf_form.as_bytes(), txn.csrf.as_bytes());
        if !csrf_ok {
            let mut ev = self.event(EventType::F, &client, meta);
            ev.description = "Login form rejected: CSRF token missing or wrong".into();
            self.store.append_audit(ev).await?;
            return Ok(LoginOutcome::ErrorPage(OAuthError::invalid_request(
                "The login form expired or was not sent by this browser. Go back to the application and try again.",
            )));
        }
        let retry = |message: &str| {
            LoginOutcome::Retry(LoginPage {
                transaction_id: form.transaction_id.clone(),
                csrf: txn.csrf.clone(),
                client_name: client.name.clone(),
                error: Some(message.to_owned()),
                email: form.username.chars().take(254).collect(),
            })
        };
        let email = normalize_email(&form.username);
        let found = match &email {
            Some(e) => match self.store.find_user_by_email(e).await {
                Ok(u) => Some(u),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        if let Some(u) = &found {
            if self.login_blocked(u, &meta.ip).await? {
                let mut ev = self.event(EventType::F, &client, meta);
                ev.description = "Login refused: blocked by brute-force protection".into();
                ev.user_id = Some(u.user_id.clone());
                ev.user_name = Some(u.email.clone());
                ev.connection = Some(DB_CONNECTION.into());
                ev.details = json!({"reason": "too_many_attempts"});
                self.store.append_audit(ev).await?;
                return Ok(retry(crate::brute_force::BLOCKED));
            }
        }
        let password_ok = self
            .passwords
            .verify(
                form.password.expose().to_owned(),
                found.as_ref().and_then(|u| u.password_hash.clone()),
            )
            .await?;
        let user = match found {
            Some(u) if password_ok => u,
            other => {
                let (t, detail) = if other.is_some() {
                    (EventType::Fp, "wrong password")
                } else {
                    (EventType::Fu, "unknown user")
                };
                let mut ev = self.event(t, &client, meta);
                ev.user_name = email.clone();
                ev.user_id = other.as_ref().map(|u| u.user_id.clone());
                ev.connection = Some(DB_CONNECTION.into());
                ev.details = json!({"reason": detail});
                if let Some(u) = &other {
                    if self.wrong_password(u, &meta.ip, ev).await? {
                        return Ok(retry(crate::brute_force::BLOCKED));
                    }
                } else {
                    self.store.append_audit(ev).await?;
                }
                return Ok(retry("Wrong email or password."));
            }
        };
        if user.blocked {
            let mut ev = self.event(EventType::F, &client, meta);
            ev.description = "user is blocked".into();
            ev.user_id = Some(user.user_id.clone());
            ev.user_name = Some(user.email.clone());
            self.store.append_audit(ev).await?;
            return Ok(retry(
                "Your account has been blocked. Contact your administrator.",
            ));
        }
        let now = self.now_ms();
        let session_token = random::token()?;
        let session = Session {
            id: token_digest(&session_token),
            user_id: user.user_id.clone(),
            auth_time: now,
            last_seen_at: now,
            expires_at: now + self.settings.session.absolute,
            idle_expires_at: now + self.settings.session.idle,
            revoked: false,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.chars().take(512).collect(),
        };
        let respond = self
            .issue_code(
                &client,
                &user,
                &session,
                &txn.request,
                EventType::S,
                meta,
                Some(&session),
            )
            .await?;
        Ok(LoginOutcome::Success {
            session_token,
            respond,
        })
    }

    /// Ends the browser session (and every token family issued under it).
    pub async fn logout(
        &self,
        p: LogoutParams,
        meta: &RequestMeta,
    ) -> Result<LogoutOutcome, ProviderError> {
        // Which client asks? From client_id, or the audience of the ID token hint.
        let mut client_id = p.client_id.clone().filter(|c| !c.is_empty());
        if let Some(hint) = p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            let claims = match self.keys.verify(hint).await {
                Ok(c) if c.get("iss").and_then(Value::as_str) == Some(&self.settings.issuer) => c,
                _ => {
                    return Ok(LogoutOutcome::ErrorPage(OAuthError::invalid_request(
                        "Invalid id_token_hint",
                    )))
                }
            };
            let aud = claims.get("aud").and_then(Value::as_str).map(str::to_owned);
            if client_id.is_some() && client_id != aud {
                return Ok(LogoutOutcome::ErrorPage(OAuthError::invalid_request(
                    "client_id does not match id_token_hint",
                )));
            }
            client_id = aud;
        }
        let client = match &client_id {
            Some(id) => match self.client(id).await {
                Ok(c) => Some(c),
                Err(StoreError::NotFound) => {
                    return Ok(LogoutOutcome::ErrorPage(OAuthError::invalid_request(
                        "Unknown client",
                    )))
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let redirect = match p
            .post_logout_redirect_uri
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(uri) => match &client {
                Some(c) if c.has_logout_url(uri) => Some(uri.to_owned()),
                _ => {
                    return Ok(LogoutOutcome::ErrorPage(OAuthError::invalid_request(
                        "The logout redirect URL is not in the client's allowed_logout_urls",
                    )))
                }
            },
        };
        if let Some((session, user)) = self.active_session(p.session_token.as_deref()).await? {
            let mut tx = self.store.begin().await?;
            let families = tx.revoke_session(&session.id).await?;
            let mut ev = AuditEvent::new(EventType::Slo, self.now_ms());
            ev.client_id = client.as_ref().map(|c| c.client_id.clone());
            ev.client_name = client.as_ref().map(|c| c.name.clone());
            ev.user_id = Some(user.user_id.clone());
            ev.user_name = Some(user.email.clone());
            ev.ip = Some(meta.ip.clone());
            ev.user_agent = Some(meta.user_agent.clone());
            ev.details = json!({"session_id": session.id, "revoked_grants": families});
            tx.audit(&ev).await?;
            tx.commit().await?;
        }
        Ok(match redirect {
            Some(mut uri) => {
                if let Some(state) = p.state.as_deref().filter(|s| !s.is_empty()) {
                    uri.push(if uri.contains('?') { '&' } else { '?' });
                    uri.push_str(&serde_urlencode(&[("state".into(), state.into())]));
                }
                LogoutOutcome::Redirect(uri)
            }
            None => LogoutOutcome::LoggedOut,
        })
    }
}
