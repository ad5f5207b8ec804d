//! The `workspaces` endpoint group: a user's workspaces, members and roles, invites (and
//! accepting one, which signs the invitee in), switching the active workspace, and per-workspace
//! waitlists. HTTP glue only; the rules live in `latchkey::services::workspaces` and
//! `latchkey::domain::workspaces`.
//!
//! Decisions API.md leaves open:
//! - Ids of a workspace the caller is not in, and ids that are not UUIDs, answer `404`, the same
//!   as ids that do not exist; switching to such a workspace answers `403`, as API.md says.
//! - Any member lists the members; only owners and admins list or revoke invites.
//! - `DELETE /workspaces/{id}/members/{own id}` is leaving; anyone may leave but the last owner.
//! - An invite link that is unknown, spent, revoked, replaced or expired answers
//!   `400 invalid_token`, like every other emailed link; `GET /auth/invites/accept` answers the
//!   AuthResponse as JSON with the cookies (an invite carries no redirect).
//! - A token whose workspace its holder has left answers `401 invalid_token` at `/auth/validate`
//!   and at the waitlist routes (which act in the token's workspace).

mod bodies;
mod invites;
mod members;
mod switch;
mod waitlist;

use axum::Router;
use axum::routing::{delete, get, post};
use latchkey::AppState;

/// Every (method, path) this group serves, in axum's path syntax. `template.yaml` and the route
/// tests are checked against this list, so the three cannot drift apart.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/workspaces"),
    ("POST", "/workspaces"),
    ("GET", "/workspaces/{id}/members"),
    ("PATCH", "/workspaces/{id}/members/{user_id}"),
    ("DELETE", "/workspaces/{id}/members/{user_id}"),
    ("GET", "/workspaces/{id}/invites"),
    ("POST", "/workspaces/{id}/invites"),
    ("DELETE", "/workspaces/{id}/invites/{invite_id}"),
    ("GET", "/auth/invites/accept"),
    ("POST", "/auth/invites/accept"),
    ("POST", "/auth/switch-workspace"),
    ("GET", "/auth/waitlist"),
    ("GET", "/auth/waitlist/{feature}"),
    ("PUT", "/auth/waitlist/{feature}"),
    ("DELETE", "/auth/waitlist/{feature}"),
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/workspaces",
            get(members::list_workspaces).post(members::create),
        )
        .route("/workspaces/{id}/members", get(members::members))
        .route(
            "/workspaces/{id}/members/{user_id}",
            axum::routing::patch(members::change_role).delete(members::remove),
        )
        .route(
            "/workspaces/{id}/invites",
            get(invites::list).post(invites::invite),
        )
        .route(
            "/workspaces/{id}/invites/{invite_id}",
            delete(invites::revoke),
        )
        .route(
            "/auth/invites/accept",
            get(switch::accept_from_link).post(switch::accept),
        )
        .route("/auth/switch-workspace", post(switch::switch_workspace))
        .route("/auth/waitlist", get(waitlist::list))
        .route(
            "/auth/waitlist/{feature}",
            get(waitlist::check)
                .put(waitlist::join)
                .delete(waitlist::leave),
        )
        .with_state(state)
}
