//! The backends of a test app: fresh tables, ciphers and mailers, embedded or on the AWS emulator
//! (moto, started by `tests/run.sh`).

use std::sync::Arc;

use latchkey::adapters::{
    dynamodb::DynamoTable, embedded::EmbeddedTable, kms::KmsCipher, local_cipher::LocalCipher,
};
use latchkey::adapters::{outbox::Outbox, ses::SesMailer};
use latchkey::ports::{Cipher, Clock, Mailer, Table};

use crate::app::Backend;

/// The emulator's address, set by `tests/run.sh`. Without it the AWS-backed tests fail loudly:
/// they must never pass by not running.
pub fn aws_endpoint() -> String {
    std::env::var("LATCHKEY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "\n\n*** The DynamoDB/KMS/SES tests did NOT run: LATCHKEY_TEST_AWS_ENDPOINT is not set. ***\n\
             *** Run ./tests/run.sh, which starts the AWS emulator (moto) and runs every test.   ***\n\n"
        )
    })
}

/// An AWS SDK configuration pointing at the emulator.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_sdk_config_at(&aws_endpoint()).await
}

/// An AWS SDK configuration pointing at an endpoint (the emulator, or a fault-injection lane in
/// front of it), with the timeouts and retries every Latchkey AWS client has.
pub async fn aws_sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    latchkey::adapters::aws::sdk_config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// The SDK configuration for an endpoint override, or for the emulator.
async fn sdk_config_for(endpoint: Option<&str>) -> aws_config::SdkConfig {
    match endpoint {
        Some(endpoint) => aws_sdk_config_at(endpoint).await,
        None => aws_sdk_config().await,
    }
}

/// A unique name for per-test resources (tables, keys).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A unique email address. Tests send to these: the emulator's SES is shared by every test
/// running at once, and mail is told apart by its recipient.
pub fn unique_email(name: &str) -> String {
    format!("{}@example.com", unique(name))
}

/// The fault-injection proxy's control address, set by `tests/run.sh` (see
/// `tests/fault_proxy.py`); without it the fault tests fail loudly.
pub fn fault_proxy() -> String {
    std::env::var("LATCHKEY_TEST_FAULT_PROXY").unwrap_or_else(|_| {
        panic!(
            "\n\n*** The fault-injection tests did NOT run: LATCHKEY_TEST_FAULT_PROXY is not set. ***\n\
             *** Run ./tests/run.sh, which starts the fault proxy in front of the emulator.      ***\n\n"
        )
    })
}

/// A fresh table on the given backend, and the temp dir holding it (embedded).
pub async fn fresh_table(
    backend: Backend,
    clock: Arc<dyn Clock>,
) -> (Arc<dyn Table>, tempfile::TempDir) {
    fresh_table_at(backend, clock, None).await
}

/// `fresh_table`, with the AWS clients going to `endpoint` instead of the emulator.
pub(crate) async fn fresh_table_at(
    backend: Backend,
    clock: Arc<dyn Clock>,
    endpoint: Option<&str>,
) -> (Arc<dyn Table>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let table: Arc<dyn Table> = match backend {
        Backend::Embedded => Arc::new(
            EmbeddedTable::open(&dir.path().join("store.redb"), clock)
                .expect("open embedded store"),
        ),
        Backend::Aws => {
            let table = DynamoTable::new(
                aws_sdk_dynamodb::Client::new(&sdk_config_for(endpoint).await),
                unique("latchkey-test"),
                clock,
            )
            // As with `LATCHKEY_CREATE_TABLE` on an emulator: the table is ours to re-create.
            .recreating_when_missing(true);
            table
                .create_table_if_missing()
                .await
                .expect("create table on the emulator");
            Arc::new(table)
        }
    };
    (table, dir)
}

/// A fresh cipher: a new local key file, or a new KMS key on the emulator.
pub async fn fresh_cipher(backend: Backend, dir: &std::path::Path) -> Arc<dyn Cipher> {
    fresh_cipher_at(backend, dir, None).await
}

pub(crate) async fn fresh_cipher_at(
    backend: Backend,
    dir: &std::path::Path,
    endpoint: Option<&str>,
) -> Arc<dyn Cipher> {
    match backend {
        Backend::Embedded => {
            Arc::new(LocalCipher::open(&dir.join("local.key")).expect("local key"))
        }
        Backend::Aws => {
            let client = aws_sdk_kms::Client::new(&sdk_config_for(endpoint).await);
            let key = client
                .create_key()
                .description("latchkey test")
                .send()
                .await
                .expect("create KMS key on the emulator");
            let key_id = key
                .key_metadata()
                .expect("key metadata")
                .key_id()
                .to_owned();
            Arc::new(KmsCipher::new(client, key_id))
        }
    }
}

/// A fresh mailer: an outbox under the dir, or SES on the emulator with a verified sender.
pub async fn fresh_mailer(backend: Backend, dir: &std::path::Path, from: &str) -> Arc<dyn Mailer> {
    fresh_mailer_at(backend, dir, from, None).await
}

pub(crate) async fn fresh_mailer_at(
    backend: Backend,
    dir: &std::path::Path,
    from: &str,
    endpoint: Option<&str>,
) -> Arc<dyn Mailer> {
    match backend {
        Backend::Embedded => Arc::new(Outbox::new(dir.join("outbox"), from.to_owned())),
        Backend::Aws => {
            let client = aws_sdk_sesv2::Client::new(&sdk_config_for(endpoint).await);
            let address = from
                .rsplit('<')
                .next()
                .unwrap_or(from)
                .trim_end_matches('>')
                .to_owned();
            client
                .create_email_identity()
                .email_identity(address)
                .send()
                .await
                .expect("verify the sender on the emulator");
            Arc::new(SesMailer::new(client, from.to_owned()))
        }
    }
}

/// A DynamoDB table on the emulator that a test can scan by name (the harness's tables are
/// anonymous), for the "no secret stored in plain text" checks.
pub async fn named_dynamo_table(prefix: &str) -> (Arc<DynamoTable>, String) {
    let name = unique(prefix);
    let table = DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws_sdk_config().await),
        name.clone(),
        Arc::new(latchkey::adapters::system::SystemClock),
    );
    table.create_table_if_missing().await.expect("create table");
    (Arc::new(table), name)
}

/// Everything stored, as text, and how many DynamoDB items that was: the raw bytes of the
/// embedded store's file (0 items counted), or every item of the named DynamoDB table as the SDK
/// returns it.
pub async fn stored_text(app: &crate::TestApp, dynamo_name: Option<&str>) -> (String, usize) {
    match dynamo_name {
        None => {
            let bytes = std::fs::read(app.dir.path().join("store.redb")).expect("read the store");
            (String::from_utf8_lossy(&bytes).into_owned(), 0)
        }
        Some(name) => {
            let client = aws_sdk_dynamodb::Client::new(&aws_sdk_config().await);
            let items: Vec<_> = client
                .scan()
                .table_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("scan the table");
            (format!("{items:?}"), items.len())
        }
    }
}
