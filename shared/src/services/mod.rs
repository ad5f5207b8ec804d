//! Use cases over the ports.
//!
//! - `accounts`: sign-up, password sign-in, profile, password change, check-email.
//! - `admin`: the operator commands (`latchkey users ...`, `latchkey sessions revoke`).
//! - `users`: the one users service: reads, typed updates, new passwords, verified addresses.
//! - `sessions`: starting a session (the AuthResponse), refresh rotation, listing, revocation.
//! - `mfa`: TOTP enrolment, the MFA step every sign-in ends in, recovery codes.
//! - `passwords`: argon2id on a bounded set of warm hashing threads, dummy hash for unknown accounts.
//! - `profiles`: the per-instance cache of a user's profile and workspaces for `/auth/validate`.
//! - `rate_limit`: fixed-window counters in the table.
//! - `tokens`: access tokens and signing keys.
//! - `code_secret`: the server secret that keys the stored hash of 6-digit codes.
//! - `api_keys`: API keys (mint, list, revoke, authenticate in one read).
//! - `plans`: an administrator's plan change, carried into live sessions' and keys' claims.
//! - `gate`: the one decision (caller + method + path + gates) behind every door.
//! - `one_time_tokens`, `email_links`, `mail_templates`: emailed links and codes (magic link,
//!   email verification, password reset) and the mail they go out in.
//! - `health`: the dependency checks behind `/health`, cached a few seconds.
//! - `workspaces`: workspaces, members and roles, invites, switching, waitlists.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod code_secret;
pub mod email_links;
pub mod gate;
pub mod health;
pub mod mail_templates;
pub mod mfa;
pub mod one_time_tokens;
pub mod passwords;
pub mod plans;
pub mod profiles;
pub mod rate_limit;
pub mod sessions;
pub mod tokens;
pub mod users;
pub mod workspaces;
