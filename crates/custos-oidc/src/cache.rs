//! A short-lived in-memory cache of the configuration the token endpoint reads on every
//! request: clients, APIs and client grants.
//!
//! Writes made through this process (the Management API, bootstrap) clear it at once; a write
//! made by another node or by the CLI against the same database is seen after at most
//! [`TTL`]. Absent entries are not cached, so a newly created client works immediately.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use custos_domain::client::Client;
use custos_domain::resource_server::{ClientGrant, ResourceServer};

/// How long an entry may be served without re-reading the database.
pub const TTL: Duration = Duration::from_secs(5);

/// Entries beyond this are dropped wholesale (a bound, not an eviction policy: real tenants
/// have far fewer clients and APIs).
const MAX_ENTRIES: usize = 10_000;

struct TtlMap<K, V>(RwLock<HashMap<K, (Instant, V)>>);

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    fn get(&self, key: &K) -> Option<V> {
        let map = self.0.read().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut map) = self.0.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }

    fn clear(&self) {
        if let Ok(mut map) = self.0.write() {
            map.clear();
        }
    }
}

pub(crate) struct ConfigCache {
    clients: TtlMap<String, Client>,
    apis: TtlMap<String, ResourceServer>,
    grants: TtlMap<(String, String), ClientGrant>,
}

impl ConfigCache {
    pub fn new() -> Self {
        Self {
            clients: TtlMap::new(),
            apis: TtlMap::new(),
            grants: TtlMap::new(),
        }
    }

    pub fn clear(&self) {
        self.clients.clear();
        self.apis.clear();
        self.grants.clear();
    }
}

use custos_store::StoreError;

use crate::{Provider, ProviderError};

impl Provider {
    /// A client by id, through the cache.
    pub async fn client(&self, client_id: &str) -> Result<Client, StoreError> {
        if let Some(c) = self.cache.clients.get(&client_id.to_owned()) {
            return Ok(c);
        }
        let c = self.store.get_client(client_id).await?;
        self.cache.clients.put(client_id.to_owned(), c.clone());
        Ok(c)
    }

    /// An API by its identifier (audience), through the cache.
    pub async fn api(&self, identifier: &str) -> Result<ResourceServer, StoreError> {
        if let Some(a) = self.cache.apis.get(&identifier.to_owned()) {
            return Ok(a);
        }
        let a = self
            .store
            .get_resource_server_by_identifier(identifier)
            .await?;
        self.cache.apis.put(identifier.to_owned(), a.clone());
        Ok(a)
    }

    /// The client grant of a client for an audience, through the cache.
    pub(crate) async fn client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<ClientGrant, StoreError> {
        let key = (client_id.to_owned(), audience.to_owned());
        if let Some(g) = self.cache.grants.get(&key) {
            return Ok(g);
        }
        let g = self.store.find_client_grant(client_id, audience).await?;
        self.cache.grants.put(key, g.clone());
        Ok(g)
    }

    /// Commits a configuration change and drops cached configuration, so this node never
    /// serves a deleted client, API or grant.
    pub async fn commit_config(&self, tx: custos_store::Tx) -> Result<(), ProviderError> {
        let result = tx.commit().await;
        self.cache.clear();
        Ok(result?)
    }
}
