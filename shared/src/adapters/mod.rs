//! Adapters: each implements one port against one real thing, named after what it talks to.

pub mod aws;
pub mod dynamodb;
#[cfg(feature = "local")]
pub mod embedded;
pub mod kms;
#[cfg(feature = "local")]
pub mod local_cipher;
#[cfg(feature = "inbox-check")]
pub mod mail_login;
pub mod outbound;
#[cfg(feature = "local")]
pub mod outbox;
#[cfg(feature = "local")]
pub mod private_files;
pub mod ses;
pub mod system;
pub mod table_rules;
