//! Latchkey's common crate: everything that is not one endpoint group's HTTP glue.
//!
//! - `config`: typed settings read once from the environment.
//! - `error`: the one API error type and its JSON shape.
//! - `ports`: the traits the services are written against (Table, Mailer, Cipher, Clock, Random).
//! - `adapters`: DynamoDB, embedded store, SES, outbox, KMS, local cipher.
//! - `domain`, `services`: types, rules and use cases over the ports.
//! - `http`: extractors and middleware shared by every endpoint group.
//! - `audit`: the structured security events (one per security-relevant outcome).
//! - `health`: what `/health` checks (services::health).

pub mod adapters;
pub mod audit;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod lambda;
pub mod ports;
pub mod services;
pub mod state;
pub mod telemetry;

pub use config::Config;
pub use error::{Error, Result};
pub use state::AppState;
