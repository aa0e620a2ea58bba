//! Password hashing off the async runtime, on a bounded number of blocking threads, so a burst
//! of logins queues for CPU instead of stalling every other request. Verifications reuse warm
//! argon2 memory, one buffer per permit, created on first use.

use std::sync::{Arc, Mutex};

use custos_crypto::password::Memory;
use tokio::sync::Semaphore;

use crate::ProviderError;

pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Idle argon2 working memory; never more buffers than permits.
    memory: Arc<Mutex<Vec<Memory>>>,
    /// Verified against when the account does not exist, so timing does not reveal it.
    dummy: Arc<str>,
}

impl PasswordHasher {
    pub fn new() -> Result<Self, ProviderError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            permits: Arc::new(Semaphore::new(cores)),
            memory: Arc::new(Mutex::new(Vec::new())),
            dummy: custos_crypto::password::dummy_hash()?.into(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ProviderError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ProviderError::Internal("password pool closed"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| ProviderError::Internal("password task failed"))
    }

    pub async fn hash(&self, password: String) -> Result<String, ProviderError> {
        Ok(self
            .run(move || custos_crypto::password::hash(&password))
            .await??)
    }

    /// Verifies against `phc`, or against a dummy hash when there is none (unknown user).
    pub async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, ProviderError> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        let pool = self.memory.clone();
        let ok = self
            .run(move || {
                let mut memory = pool
                    .lock()
                    .ok()
                    .and_then(|mut p| p.pop())
                    .unwrap_or_default();
                let ok = custos_crypto::password::verify_with(&password, &phc, &mut memory);
                if let Ok(mut p) = pool.lock() {
                    p.push(memory);
                }
                ok
            })
            .await?;
        Ok(known && ok)
    }
}
