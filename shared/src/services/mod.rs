//! Use cases over the ports.

pub mod mail_templates;
pub mod one_time_tokens;
pub mod tokens;
