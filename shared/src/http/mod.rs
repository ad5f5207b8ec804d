//! HTTP glue shared by every endpoint group: extractors, middleware, client address.

pub mod json;
pub mod middleware;

pub use json::Json;
