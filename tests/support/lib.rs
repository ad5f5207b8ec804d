//! The test harness every workspace-level test uses: `TestApp::spawn(backend)` gives a fresh app
//! (fresh data dir, or a fresh DynamoDB table and KMS key on the emulator) and helpers that make a
//! test a few lines long.
//!
//! - `app`: `TestApp`, `Backend`, users and sign-in helpers.
//! - `http`: `TestResponse` and its assertions.
//! - `schema`: every JSON answer checked against the OpenAPI schema of its route and status.
//! - `aws`: fresh tables, ciphers and mailers, embedded or on the emulator.
//! - `mail`: the mail an app sent, read back from the outbox or the emulator's SES.
//! - `python`: the Python of the independent checkers.
//! - `counting`: a table decorator that counts round trips.
//! - `oauth`: a real OAuth 2 / OIDC provider (oauth2-mock-server) per test.
//! - `mail_servers`: the real IMAP and SMTP servers (pymap, aiosmtpd) of the inbox tests.
//! - `passkeys`: real software WebAuthn authenticators (kanidm's soft passkey, 1Password's
//!   passkey-rs) acting as the browser.
//! - `on_both_backends!`: one scenario, two tests.

pub mod app;
pub mod aws;
pub mod counting;
pub mod http;
pub mod mail;
pub mod mail_servers;
pub mod oauth;
pub mod passkeys;
pub mod python;
pub mod schema;

pub use app::{BOTH, Backend, SignedIn, TestApp, TestUser, sign_in, sign_up};
pub use aws::{
    aws_endpoint, aws_sdk_config, aws_sdk_config_at, fault_proxy, fresh_cipher, fresh_mailer,
    fresh_table, named_dynamo_table, stored_text, unique, unique_email,
};
pub use http::TestResponse;
pub use mail::{SentMail, outbox_mail, parse_eml, sent_mail, ses_mail};
pub use mail_servers::MailServers;
pub use oauth::{MockProvider, Tamper};
pub use python::test_python;

/// A builder for the tests' own HTTP clients (to peers on loopback). reqwest carries no crypto
/// provider of its own in this workspace (aws-lc-rs only, no ring), so every client must be built
/// after `install_crypto_provider`: build them here.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    latchkey::adapters::outbound::install_crypto_provider();
    reqwest::Client::builder()
}

/// A default test HTTP client (see `http_client_builder`).
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("an HTTP client")
}

/// The workspace root (where `template.yaml`, `events/` and `functions/` are).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// One async scenario `name(backend: Backend)`, run as two tests: `name::on_the_embedded_store`
/// and `name::on_dynamodb`. Takes a list: `on_both_backends!(a, b, c);`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_the_embedded_store() {
                super::$name($crate::Backend::Embedded).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_dynamodb() {
                super::$name($crate::Backend::Aws).await;
            }
        }
    )*};
}
