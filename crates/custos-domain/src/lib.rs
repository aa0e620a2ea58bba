//! The things Custos manages — users, applications (clients), APIs (resource servers), client
//! grants, sessions, authorization codes, token families, signing keys and audit events — as
//! typed values with their invariants.
//!
//! This crate never does IO, is never async, and never derives a wire format: the Management
//! API's JSON shapes live in the server, the table layout in the store.

pub mod audit;
pub mod client;
pub mod clock;
pub mod extensibility;
pub mod keys;
pub mod lucene;
pub mod oauth;
pub mod organization;
pub mod resource_server;
pub mod role;
pub mod scope;
pub mod session;
pub mod user;

pub use clock::{iso8601, parse_iso8601, Clock, SystemClock};

/// Milliseconds since the Unix epoch (UTC). Every stored instant uses it.
pub type Millis = i64;

/// One second in [`Millis`].
pub const SECOND: Millis = 1_000;
