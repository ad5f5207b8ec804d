//! AWS SDK clients built on first use. A Lambda instance that is started and never asked for
//! anything, or a function that never sends mail, never loads the SDK configuration (credential
//! and region chains, the HTTPS client) or builds a client it does not use: process start to
//! ready stays a few milliseconds, and the cost moves to the first request that needs AWS.

use std::sync::Arc;

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

/// The SDK configuration shared by a process's clients, loaded once, on first use.
#[derive(Default)]
pub struct AwsSdk(OnceCell<SdkConfig>);

impl AwsSdk {
    pub async fn config(&self) -> &SdkConfig {
        self.0
            .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
            .await
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
