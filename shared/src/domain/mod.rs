//! Users, workspaces, sessions, credentials: types and rules, no I/O.

pub mod one_time_token;
