//! The one place that decides how long any call to DynamoDB, KMS or SES may take and how often it
//! is retried. Every AWS client (the functions', the local server's and the tests') is built from
//! `sdk_config_loader`, so the budget below holds for all of them.
//!
//! The budget: API Gateway gives an integration 29 s and our Lambdas have 10 s, but a client
//! waiting on a dead backend should hear `503` within a few seconds. One call may take
//! `OPERATION_TIMEOUT` in all, retries included; a request stops at its first failed call, so a
//! black-holed backend answers `503` within about that time.
//!
//! It also owns when clients are built: on first use (`AwsSdk`, `LazyClient`). A Lambda instance
//! that is started and never asked for anything, or a function that never sends mail, never loads
//! the SDK configuration (credential and region chains, the HTTPS client) or builds a client it
//! does not use: process start to ready stays a few milliseconds, and the cost moves to the first
//! request that needs AWS.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use tokio::sync::OnceCell;

/// Establishing a TCP (and TLS) connection to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt of one call, from sending the request to reading the whole answer. DynamoDB, KMS
/// and SES answer in tens of milliseconds; an attempt this slow is a dead connection.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// One call, every attempt and back-off included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per call (the first and two retries), for throttling and 5xx answers that come back
/// fast; a hanging attempt leaves time for at most one more within `OPERATION_TIMEOUT`.
pub const MAX_ATTEMPTS: u32 = 3;

/// The timeouts of every AWS call.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry budget of every AWS call: standard mode (with its client-side retry quota, so a
/// failing backend is not hammered), short back-offs that fit inside `OPERATION_TIMEOUT`.
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500))
}

/// The SDK configuration loader with our timeouts and retries; the environment (region,
/// credentials, `AWS_ENDPOINT_URL`) fills in the rest. Callers may override more (the tests set
/// the emulator's endpoint).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(retries())
}

/// The SDK configuration shared by a process's clients, loaded once, on first use.
#[derive(Default)]
pub struct AwsSdk(OnceCell<SdkConfig>);

impl AwsSdk {
    pub async fn config(&self) -> &SdkConfig {
        self.0.get_or_init(|| sdk_config_loader().load()).await
    }
}

/// One SDK client, built from the shared configuration when first asked for (or given ready).
pub struct LazyClient<C> {
    client: OnceCell<C>,
    sdk: Option<Arc<AwsSdk>>,
    make: fn(&SdkConfig) -> C,
}

impl<C> LazyClient<C> {
    /// A client built by `make` on first use.
    pub fn on_first_use(sdk: Arc<AwsSdk>, make: fn(&SdkConfig) -> C) -> Self {
        Self {
            client: OnceCell::new(),
            sdk: Some(sdk),
            make,
        }
    }

    /// A client built already (tests point one at the emulator).
    pub fn ready(client: C) -> Self {
        Self {
            client: OnceCell::new_with(Some(client)),
            sdk: None,
            make: |_| unreachable!("a ready client is never built"),
        }
    }

    pub async fn get(&self) -> &C {
        self.client
            .get_or_init(|| async {
                let sdk = self.sdk.as_ref().expect("a lazy client has its SDK");
                (self.make)(sdk.config().await)
            })
            .await
    }
}

/// A short, readable account of an SDK failure that came with no answer from the service. The
/// SDK's full context (every source error, the raw request) runs to a thousand characters; a
/// missing credential or region is the usual cause on a laptop, and is said in one sentence.
pub fn describe_unanswered<E: std::error::Error>(error: &E) -> String {
    let full = aws_smithy_types::error::display::DisplayErrorContext(error).to_string();
    let lower = full.to_lowercase();
    if lower.contains("credential") && (lower.contains("no ") || lower.contains("load")) {
        return "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or \
                AWS_PROFILE); against an emulator any values do"
            .into();
    }
    if lower.contains("region") && (lower.contains("no region") || lower.contains("missing")) {
        return "no AWS region: set AWS_REGION (e.g. us-east-1)".into();
    }
    if lower.contains("dispatch failure") || lower.contains("connect") {
        return "cannot reach the AWS endpoint (is AWS_ENDPOINT_URL right and the emulator \
                running?)"
            .into();
    }
    if lower.contains("timeout") || lower.contains("timed out") {
        return format!("no answer within {} s", OPERATION_TIMEOUT.as_secs());
    }
    // Unknown: keep the start, where the SDK says what kind of failure it was.
    full.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_and_its_retries_fit_well_inside_a_lambda_and_api_gateway() {
        let timeouts = timeouts();
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
        // A client hears 503 within 5 s (issue 17's acceptance), far inside the 10 s Lambda.
        assert!(OPERATION_TIMEOUT < Duration::from_secs(5));
        assert_eq!(retries().max_attempts(), MAX_ATTEMPTS);
    }
}
