//! OAuth 2.0 and OpenID Connect for Custos: authorization requests, the login transaction,
//! authorization codes with PKCE, the token endpoint's grants and client authentication, ID and
//! access tokens, userinfo, introspection (RFC 7662), revocation (RFC 7009), logout, discovery
//! and the signing key ring.
//!
//! [`Provider`] is the service that the HTTP server and the CLI share. This crate never knows
//! axum or HTTP framing: it takes parsed parameters and returns typed outcomes and RFC-shaped
//! [`OAuthError`]s; the server renders them.

mod authorize;
pub mod bootstrap;
pub mod brute_force;
mod cache;
mod claims;
mod client_auth;
mod discovery;
mod error;
mod extensions;
mod introspect;
pub mod keyring;
mod passwords;
mod signup;
mod token;

use std::sync::Arc;

use custos_crypto::seal::MasterKey;
use custos_domain::session::SessionPolicy;
use custos_domain::Clock;
use custos_store::Store;

pub use authorize::{
    AuthorizeOutcome, AuthorizeParams, ClientResponse, LoginForm, LoginOutcome, LoginPage,
    LogoutOutcome, LogoutParams,
};
pub use client_auth::ClientCredentials;
pub use error::{OAuthError, ProviderError};
pub use introspect::{BearerIdentity, TokenKind};
pub use keyring::KeyRing;
pub use passwords::PasswordHasher;
pub use signup::{SignupError, SignupRequest};
pub use token::{TokenRequest, TokenResponse};

/// Who made a request, for audit records.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: String,
    pub user_agent: String,
}

/// Settings of the provider that do not live in the database.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Public base URL with a trailing slash; the `iss` of every token.
    pub issuer: String,
    pub session: SessionPolicy,
}

impl ProviderSettings {
    /// The Management API's audience: `<issuer>api/v2/`.
    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    /// The audience of tokens meant only for `/userinfo`.
    pub fn userinfo_audience(&self) -> String {
        format!("{}userinfo", self.issuer)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}oauth/token", self.issuer)
    }

    /// Whether cookies must be `Secure` (the issuer is https).
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// The identity provider: storage, keys, clock and settings.
pub struct Provider {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: KeyRing,
    pub master: Arc<MasterKey>,
    pub settings: ProviderSettings,
    pub passwords: PasswordHasher,
    /// Customers' Rules and Actions, and the engine that runs them.
    pub extensions: Arc<custos_rules::Extensions>,
    discovery: Arc<[u8]>,
    cache: cache::ConfigCache,
    assertions: client_auth::SeenAssertions,
}

impl Provider {
    /// Loads (or creates) the signing keys and makes sure the Management API exists.
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        master: Arc<MasterKey>,
        settings: ProviderSettings,
    ) -> Result<Self, ProviderError> {
        let keys = KeyRing::load(store.clone(), master.clone(), clock.now_ms()).await?;
        let discovery = discovery::document(&settings)?;
        let extensions = Arc::new(custos_rules::Extensions::new(
            Arc::new(custos_rules::NoEngine),
            store.clone(),
            master.clone(),
        ));
        let provider = Self {
            extensions,
            store,
            clock,
            keys,
            master,
            settings,
            passwords: PasswordHasher::new()?,
            discovery,
            cache: cache::ConfigCache::new(),
            assertions: client_auth::SeenAssertions::default(),
        };
        bootstrap::ensure_management_api(&provider).await?;
        Ok(provider)
    }

    /// Runs customers' Rules and Actions with `engine` (without one, no script saves, and
    /// any script already stored denies when it would run).
    pub fn with_engine(mut self, engine: Arc<dyn custos_rules::Engine>) -> Self {
        self.extensions = Arc::new(custos_rules::Extensions::new(
            engine,
            self.store.clone(),
            self.master.clone(),
        ));
        self
    }

    /// `/.well-known/openid-configuration`, encoded once.
    pub fn discovery(&self) -> Arc<[u8]> {
        self.discovery.clone()
    }

    /// `/.well-known/jwks.json`, encoded once per key set.
    pub fn jwks(&self) -> Arc<[u8]> {
        self.keys.snapshot().jwks()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn now_secs(&self) -> i64 {
        self.clock.now_secs()
    }

    /// Opens a client's sealed secret.
    pub fn client_secret(
        &self,
        client: &custos_domain::client::Client,
    ) -> Result<Option<String>, ProviderError> {
        match &client.sealed_secret {
            None => Ok(None),
            Some(sealed) => {
                let bytes = self
                    .master
                    .open(&secret_context(&client.client_id), sealed)?;
                String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| ProviderError::Internal("client secret is not UTF-8"))
            }
        }
    }

    /// Seals a client secret for storage.
    pub fn seal_client_secret(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<String, ProviderError> {
        Ok(self
            .master
            .seal(&secret_context(client_id), secret.as_bytes())?)
    }
}

fn secret_context(client_id: &str) -> String {
    format!("client-secret:{client_id}")
}
