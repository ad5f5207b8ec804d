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
mod docs;
mod invites;
mod members;
mod switch;
mod waitlist;

use axum::Router;
use latchkey::AppState;
use latchkey::http::Routes;
use utoipa_axum::routes;

/// Every route this group serves, each declared once (see `latchkey::http::routes`).
pub fn routes() -> Routes {
    Routes::new()
        .declare(routes!(members::list_workspaces, members::create))
        .declare(routes!(members::members))
        .declare(routes!(members::change_role, members::remove))
        .declare(routes!(invites::list, invites::invite))
        .declare(routes!(invites::revoke))
        .declare(routes!(switch::accept_from_link, switch::accept))
        .declare(routes!(switch::switch_workspace))
        .declare(routes!(waitlist::list))
        .declare(routes!(waitlist::check, waitlist::join, waitlist::leave))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}
