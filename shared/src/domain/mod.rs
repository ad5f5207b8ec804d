//! Users, workspaces, sessions, credentials: types and rules, no I/O.
