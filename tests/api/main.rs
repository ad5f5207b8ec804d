//! Whole flows over HTTP, Lambda events, and the storage conformance suite, on both backends.
//! One test binary (modules below) so it links once.

mod cipher;
mod email_links;
mod health;
mod http_layer;
mod mail;
mod storage;
