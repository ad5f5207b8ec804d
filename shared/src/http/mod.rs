//! HTTP glue shared by every endpoint group: extractors, middleware, client address.
//!
//! - `answers`: JSON answers several groups give, and the documented error shape.
//! - `caller`: `Caller` / `MaybeCaller` (Bearer JWT, API key, or cookie; session liveness; CSRF).
//! - `client`: the client address and user agent, from what cannot be spoofed.
//! - `cookies`: token cookies set on every AuthResponse and cleared at logout.
//! - `csrf`: the CSRF cookie and token.
//! - `gates`: `require_plan` / `require_feature` layers for a platform's own axum services.
//! - `json`: `Json<T>` with rejections in our error shape.
//! - `middleware`: what every router is wrapped in.
//! - `pages`: server-rendered pages for emailed links (browsers), beside the JSON API.
//! - `routes`: `Routes`, each group's one declaration of what it serves.

pub mod answers;
pub mod caller;
pub mod client;
pub mod cookies;
pub mod csrf;
pub mod gates;
pub mod json;
pub mod middleware;
pub mod pages;
pub mod routes;

pub use caller::{Caller, MaybeCaller};
pub use client::Client;
pub use json::Json;
pub use routes::{Routes, alias};
