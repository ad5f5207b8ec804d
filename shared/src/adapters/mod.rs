//! Adapters: each implements one port against one real thing, named after what it talks to.

pub mod aws;
pub mod dynamodb;
pub mod embedded;
pub mod kms;
pub mod local_cipher;
pub mod outbox;
pub mod private_files;
pub mod ses;
pub mod system;
pub mod table_rules;
