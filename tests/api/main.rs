//! Whole flows over HTTP, Lambda events, and the storage conformance suite, on both backends.
//! One test binary (modules below) so it links once.

mod accounts;
mod accounts_budget;
mod accounts_discovery;
mod accounts_sessions;
mod api_keys;
mod authorizer;
mod cipher;
mod client_address;
mod email_links;
mod email_timing;
mod faults;
mod gates;
mod hardening;
mod health;
mod http_layer;
mod integrations;
mod inboxes;
mod lambda_events;
mod mail;
mod mfa;
mod nginx;
mod oauth;
mod oauth_flow;
mod openapi;
mod passkeys;
mod passkeys_budget;
mod passkeys_demo;
mod races;
mod routes;
mod storage;
mod tokens;
mod workspaces;
mod workspaces_budget;
