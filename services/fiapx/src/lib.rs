//! The FIAP X process: configuration, telemetry and the composition of the services into one HTTP application and
//! background workers. The binary (`main.rs`) only parses the command line and calls in here.
//!
//! It owns how the pieces are wired (one OpenAPI document for every HTTP API, `/healthz`, `/metrics` on a listener
//! of its own, graceful shutdown), not what any piece does: that lives in the service and adapter crates.

pub mod account;
pub mod config;
pub mod nats_roles;
pub mod serve;
pub mod telemetry;
pub mod web;

pub use serve::{Apis, Started, Which, http_app, http_server, openapi_document, start};
