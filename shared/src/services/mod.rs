//! Use cases over the ports.
//!
//! - `accounts`: sign-up, password sign-in, profile, password change, check-email.
//! - `admin`: the operator commands (`latchkey users ...`, `latchkey sessions revoke`).
//! - `users`: the one users service: reads, typed updates, new passwords, verified addresses.
//! - `sessions`: starting a session (the AuthResponse), refresh rotation, listing, revocation.
//! - `mfa`: TOTP enrolment, the MFA step every sign-in ends in, recovery codes.
//! - `passkeys`: WebAuthn registration and sign-in (ceremony state in the table), listing, removal.
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
//! - `oauth_flow`: the OAuth 2 authorization-code flow (PKCE, state, nonce, token exchange,
//!   refresh, revocation) shared by social login, integrations and inboxes.
//! - `oidc`: OpenID Connect discovery, JWKS and ID-token verification (cached per instance).
//! - `social`: social login and account linking (the oauth group).
//! - `health`: the dependency checks behind `/health`, cached a few seconds.
//! - `workspaces`: workspaces, members and roles, invites, switching, waitlists.
//! - `integrations`: the provider registry, provider API keys, Google search keys.
//! - `connections`: OAuth connections to providers, their tokens kept encrypted and refreshed
//!   once for many concurrent `valid-token` callers.
//! - `inboxes`: agent inboxes (IMAP/SMTP checked by login, Google tokens), their confirmation,
//!   the hosted IMAP form's flow, listing and deletion.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod code_secret;
pub mod connections;
pub mod email_links;
pub mod gate;
pub mod health;
pub mod inboxes;
pub mod integrations;
pub mod mail_templates;
pub mod mfa;
pub mod oauth_flow;
pub mod oidc;
pub mod one_time_tokens;
pub mod passkeys;
pub mod passwords;
pub mod plans;
pub mod profiles;
pub mod rate_limit;
pub mod sessions;
pub mod social;
pub mod tokens;
pub mod users;
pub mod workspaces;
