//! The `integrations` endpoint group (seed 001's "Provider & Integration API", paths exactly as
//! there): the provider registry, OAuth connections to providers, users' provider API keys,
//! `valid-token` for agents, and the Google search keys. HTTP glue only; the rules live in
//! `latchkey::services::integrations` and `latchkey::services::connections`.
//!
//! Decisions API.md leaves open:
//! - Built-in entries (Google, GitHub from the oauth settings) are read-only: `409 conflict` on
//!   change, delete, or a create with their id.
//! - `PUT /auth/providers/{id}` takes any subset of the create body; an omitted
//!   `oauth.client_secret` keeps the stored one.
//! - A provider API key is stored only for a provider in the registry (`404` otherwise).
//! - API keys (`agnt_sk_...`) act as their owner here, within their scopes: an agent reads its
//!   owner's provider keys and valid tokens with one.

mod connections;
mod keys;
mod registry;

use axum::Router;
use latchkey::AppState;
use latchkey::http::Routes;
use utoipa_axum::routes;

/// Every route this group serves, each declared once (see `latchkey::http::routes`).
pub fn routes() -> Routes {
    Routes::new()
        .declare(routes!(registry::list, registry::create))
        .declare(routes!(registry::get, registry::update, registry::delete))
        .declare(routes!(keys::store, keys::read))
        .declare(routes!(keys::google_search_keys))
        .declare(routes!(connections::connect))
        .declare(routes!(connections::callback_get))
        .declare(routes!(connections::callback_post))
        .declare(routes!(connections::connected))
        .declare(routes!(connections::disconnect))
        .declare(routes!(connections::valid_token))
}

pub fn router(state: AppState) -> Router {
    routes().router(state)
}
