//! Whole flows over HTTP, Lambda events, and the storage conformance suite, on both backends.
//! One test binary (modules below) so it links once.

mod accounts;
mod accounts_budget;
mod accounts_discovery;
mod accounts_sessions;
mod admin;
mod api_keys;
mod authorizer;
mod browser;
mod cipher;
mod client_address;
mod email_links;
mod email_timing;
mod faults;
mod gates;
mod hardening;
mod health;
mod http_layer;
mod lambda_events;
mod mail;
mod mfa;
mod nginx;
mod openapi;
mod pages;
mod races;
mod routes;
mod security_log;
mod storage;
mod tokens;
mod workspaces;
mod workspaces_budget;
