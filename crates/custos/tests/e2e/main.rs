//! End-to-end tests: the real server on a random port, a real database, real HTTP.
//! One test binary for the whole suite (fast to build, run in parallel by nextest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod authz;
mod cli;
mod contracts;
mod crash;
mod grants;
mod interop;
mod login;
mod management;
mod orgs;
mod rbac;
mod rules;
mod rules_api;
mod rules_network;
mod sdk;
mod streams;
mod support;
mod tokens;
