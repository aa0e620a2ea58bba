//! The audit trail's evidence, as pure functions: the canonical encoding of a record, the
//! SHA-256 hash chain over records, signed checkpoints, the verifier that finds the first
//! record modified, removed, inserted or reordered, and the wire formats records leave in
//! (Auth0's log JSON, CSV, CEF, syslog).
//!
//! This crate never does IO and never knows SQL or HTTP: the store feeds it rows, the binary
//! and the stream workers write what it formats.

pub mod chain;
pub mod checkpoint;
pub mod format;
pub mod verify;

pub use chain::{entry_hash, Entry, Hash, GENESIS};
pub use checkpoint::Checkpoint;
pub use verify::{ChainChecker, Finding};
