//! `POST /dbconnections/signup`: self-service sign-up to the database connection.

use custos_domain::audit::{AuditEvent, EventType};
use custos_domain::user::{
    normalize_email, password_acceptable, User, DB_CONNECTION, USER_ID_PREFIX,
};
use custos_store::StoreError;
use serde_json::{json, Value};

use crate::{Provider, ProviderError, RequestMeta};

#[derive(Debug)]
pub struct SignupRequest {
    pub client_id: String,
    pub connection: String,
    pub email: String,
    pub password: custos_crypto::Secret,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub user_metadata: Option<Value>,
}

/// A refused sign-up, in Auth0's `/dbconnections/signup` error vocabulary.
#[derive(Debug)]
pub struct SignupError {
    pub code: &'static str,
    pub description: String,
}

fn refuse(code: &'static str, description: &str) -> SignupError {
    SignupError {
        code,
        description: description.to_owned(),
    }
}

impl Provider {
    pub async fn signup(
        &self,
        req: SignupRequest,
        meta: &RequestMeta,
    ) -> Result<Result<User, SignupError>, ProviderError> {
        let client = match self.client(&req.client_id).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let mut ev = AuditEvent::new(EventType::Fs, self.now_ms());
        ev.client_id = Some(req.client_id.clone());
        ev.client_name = client.as_ref().map(|c| c.name.clone());
        ev.connection = Some(req.connection.clone());
        ev.ip = Some(meta.ip.clone());
        ev.user_agent = Some(meta.user_agent.clone());
        let verdict = match (&client, normalize_email(&req.email)) {
            (None, _) => Err(refuse("unauthorized", "Unknown client")),
            (_, _) if req.connection != DB_CONNECTION => {
                Err(refuse("invalid_connection", "Connection does not exist"))
            }
            (_, None) => Err(refuse("invalid_signup", "Invalid email address")),
            (_, Some(_)) if !password_acceptable(req.password.expose()) => Err(refuse(
                "invalid_password",
                "Password is too weak: at least 8 characters are required",
            )),
            (_, Some(_)) if req.user_metadata.as_ref().is_some_and(|m| !m.is_object()) => {
                Err(refuse("invalid_signup", "user_metadata must be an object"))
            }
            (_, Some(email)) => Ok(email),
        };
        let email = match verdict {
            Ok(e) => e,
            Err(refusal) => {
                ev.description = refusal.description.clone();
                self.store.append_audit(ev).await?;
                return Ok(Err(refusal));
            }
        };
        ev.user_name = Some(email.clone());
        let hash = self
            .passwords
            .hash(req.password.expose().to_owned())
            .await?;
        let now = self.now_ms();
        let mut user = User {
            user_id: format!("{USER_ID_PREFIX}{}", custos_crypto::random::hex_id::<12>()?),
            email,
            email_verified: false,
            name: req.name,
            nickname: req.nickname,
            given_name: req.given_name,
            family_name: req.family_name,
            picture: req.picture,
            password_hash: Some(hash),
            app_metadata: json!({}),
            user_metadata: req.user_metadata.unwrap_or_else(|| json!({})),
            blocked: false,
            logins_count: 0,
            last_login: None,
            last_ip: None,
            created_at: now,
            updated_at: now,
        };
        // Customers' `pre-user-registration` Actions may refuse, or add metadata.
        let pipeline = self
            .pre_registration(&mut user, client.as_ref(), meta)
            .await?;
        if let custos_rules::Verdict::Deny { description, .. } = &pipeline.verdict {
            let mut tx = self.store.begin().await?;
            for r in &pipeline.records {
                tx.audit(r).await?;
            }
            ev.description = description.clone();
            tx.audit(&ev).await?;
            tx.commit().await?;
            return Ok(Err(refuse("extensibility_error", description)));
        }
        let mut tx = self.store.begin().await?;
        for r in &pipeline.records {
            tx.audit(r).await?;
        }
        match tx.insert_user(&user).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                drop(tx);
                ev.description = "The user already exists.".into();
                self.store.append_audit(ev).await?;
                return Ok(Err(refuse("user_exists", "The user already exists.")));
            }
            Err(e) => return Err(e.into()),
        }
        ev.event_type = EventType::Ss;
        ev.description = EventType::Ss.description().into();
        ev.user_id = Some(user.user_id.clone());
        tx.audit(&ev).await?;
        tx.commit().await?;
        let client_name = client.as_ref().map(|c| c.name.as_str()).unwrap_or_default();
        self.run_after_commit(
            "post-user-registration",
            &user,
            &req.client_id,
            client_name,
            meta,
        );
        Ok(Ok(user))
    }
}
