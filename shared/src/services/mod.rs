//! Use cases over the ports.
//!
//! - `accounts`: sign-up, password sign-in, profile, password change, check-email.
//! - `sessions`: starting a session (the AuthResponse), refresh rotation, listing, revocation.
//! - `passwords`: argon2id off the executor, dummy hash for unknown accounts.
//! - `rate_limit`: fixed-window counters in the table.
//! - `tokens`: access tokens and signing keys.

pub mod accounts;
pub mod passwords;
pub mod rate_limit;
pub mod sessions;
pub mod tokens;
