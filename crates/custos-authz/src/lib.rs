//! Custos's authorization engine: Auth0-style RBAC ([`RbacIndex`]) and relationship checks
//! over OpenFGA authorization models ([`AuthorizationModel`], [`TupleStore`], [`check`],
//! [`list_objects`], [`list_users`]).
//!
//! Pure and in memory: the server loads models, tuples and role grants from its store into
//! these structures and asks them for every decision. This crate must never do IO, be async,
//! know SQL or HTTP, or lock internally (except the optional [`Engine`] wrapper): callers
//! choose how to share it. Every error a check returns means "deny".

mod arena;
mod check;
mod engine;
mod graph;
mod intern;
mod list;
mod model;
mod rbac;
mod store;
mod tuple;

pub use check::{check, check_fast, CheckError, CheckOutcome, CheckRequest, MAX_DEPTH};
pub use engine::{Engine, EngineError};
pub use list::{list_objects, list_users, ObjectPage};
pub use model::{AuthorizationModel, ModelError};
pub use rbac::{RbacIndex, RbacSource};
pub use store::TupleStore;
pub use tuple::{validate_tuple, TupleError, TupleKey};
