//! The Management API's rate limit: a token bucket per client, reported to callers in Auth0's
//! headers (`x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset`) and enforced with
//! Auth0's 429 body.
//!
//! The bucket is keyed by the client id of a verified token, so a caller cannot drain another
//! client's bucket; requests without a valid token are refused before they reach it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::http::HeaderValue;

/// Clients idle this long are forgotten (their bucket would be full anyway).
const IDLE_SECS: f64 = 600.0;

/// What one request was told about its client's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: u64,
    pub remaining: u64,
    /// Unix time (seconds) at which the bucket is full again.
    pub reset: u64,
    pub allowed: bool,
    /// The first refusal after a run of allowed requests (the one worth an audit record).
    pub first_refusal: bool,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    refusing: bool,
}

/// Token buckets of `per_second` capacity refilled at `per_second` per second.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
    sweep: Mutex<Instant>,
}

impl RateLimiter {
    /// `None` when the limit is off (0).
    pub fn new(per_second: u64) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second,
            buckets: Mutex::new(HashMap::new()),
            sweep: Mutex::new(Instant::now()),
        })
    }

    /// Takes one request from `key`'s bucket. `now_unix_ms` only dates the reset header.
    pub fn take(&self, key: &str, now_unix_ms: i64) -> RateInfo {
        let now = Instant::now();
        let rate = self.per_second as f64;
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.maybe_sweep(&mut buckets, now);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: rate,
            last: now,
            refusing: false,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.last = now;
        let allowed = bucket.tokens >= 1.0;
        let first_refusal = !allowed && !bucket.refusing;
        bucket.refusing = !allowed;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let secs_to_full = (rate - bucket.tokens) / rate;
        let now_secs = now_unix_ms.max(0) as f64 / 1000.0;
        RateInfo {
            limit: self.per_second,
            remaining: bucket.tokens.floor().max(0.0) as u64,
            reset: (now_secs + secs_to_full).ceil() as u64,
            allowed,
            first_refusal,
        }
    }

    fn maybe_sweep(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let mut last = match self.sweep.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        if now.duration_since(*last).as_secs_f64() < IDLE_SECS {
            return;
        }
        *last = now;
        buckets.retain(|_, b| now.duration_since(b.last).as_secs_f64() < IDLE_SECS);
    }
}

/// Where the authorising extractor leaves the bucket's state for the response headers.
#[derive(Clone, Default)]
pub struct RateSlot(pub Arc<OnceLock<RateInfo>>);

/// Adds the `x-ratelimit-*` headers to a Management API response whose caller was counted.
pub async fn headers(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slot = RateSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    if let Some(info) = slot.0.get() {
        let h = res.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", info.limit),
            ("x-ratelimit-remaining", info.remaining),
            ("x-ratelimit-reset", info.reset),
        ] {
            h.insert(name, HeaderValue::from(value));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_refuses_once_noted_and_keys_are_separate() {
        let Some(rl) = RateLimiter::new(3) else {
            panic!("limit 3 is on");
        };
        let now = 1_800_000_000_000;
        let got: Vec<(bool, u64)> = (0..4)
            .map(|_| rl.take("a", now))
            .map(|i| (i.allowed, i.remaining))
            .collect();
        assert_eq!(got, vec![(true, 2), (true, 1), (true, 0), (false, 0)]);
        let again = rl.take("a", now);
        assert!(!again.allowed && !again.first_refusal);
        assert!(again.reset >= 1_800_000_000 && again.reset <= 1_800_000_002);
        let other = rl.take("b", now);
        assert_eq!((other.allowed, other.remaining, other.limit), (true, 2, 3));
        assert!(RateLimiter::new(0).is_none());
    }

    #[test]
    fn the_first_refusal_is_flagged() {
        let Some(rl) = RateLimiter::new(1) else {
            panic!("limit 1 is on");
        };
        assert!(rl.take("a", 0).allowed);
        let refused = rl.take("a", 0);
        assert!(!refused.allowed && refused.first_refusal);
    }
}
