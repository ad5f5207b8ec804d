//! What `/health` checks: every dependency a request needs, each named, each with a short public
//! reason when it fails (details go to the log, never to the answer):
//!
//! - `store`: a probe item written and read back (a store that failed a write, an unreachable or
//!   missing table, throttling);
//! - `signing_key`: the current access-token signing key decrypts with this cipher (a replaced
//!   local key file or KMS key fails every sign-in);
//! - `cipher`: the KMS key is enabled (`DescribeKey`; the local key always passes here);
//! - `mail`: the SES sender identity is verified (`GetEmailIdentity`), or the outbox writable.
//!
//! The checks run at once, each within `CHECK_TIMEOUT`. A passing report is kept `CACHE_FOR`: a
//! load balancer polling every second costs a few calls every few seconds, not per poll. A
//! failing one is not kept, so recovery shows at the next poll; concurrent polls still share one
//! run (they wait on the same lock).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::AppState;
use crate::domain::keys;
use crate::services::tokens;

/// How long one check may take before it counts as failed. Only a backstop against a hang: every
/// AWS call already fails within its own 3 s budget (`adapters::aws`) with its reason, and the
/// embedded store's durable write can take seconds on a saturated disk without being broken
/// (seen in the test suite: over 8 s). Inside API Gateway's 29 s.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(25);
/// How long a report is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(5);

/// One named check's outcome.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    /// `None` when it passed; otherwise a short reason fit for a public answer.
    pub failure: Option<String>,
}

/// Every check, in a fixed order.
#[derive(Clone, Debug)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|check| check.failure.is_none())
    }
}

/// The last report and when it was made; the lock also makes concurrent callers share one run.
#[derive(Default)]
pub struct HealthCache(tokio::sync::Mutex<Option<(Instant, Arc<Report>)>>);

/// The report, from the cache when it is fresh.
pub async fn report(state: &AppState) -> Arc<Report> {
    let mut cached = state.health.0.lock().await;
    if let Some((made, report)) = cached.as_ref()
        && made.elapsed() < CACHE_FOR
    {
        return report.clone();
    }
    let report = Arc::new(run(state).await);
    for check in &report.checks {
        if let Some(reason) = &check.failure {
            tracing::warn!(check = check.name, %reason, "health check failing");
        }
    }
    *cached = report.ok().then(|| (Instant::now(), report.clone()));
    report
}

/// Run every check now.
pub async fn run(state: &AppState) -> Report {
    let (store, signing_key, cipher, mail) = tokio::join!(
        within(store(state)),
        within(tokens::check_current_key(state)),
        within(state.cipher.check()),
        within(state.mailer.check()),
    );
    let checks = [
        ("store", store),
        ("signing_key", signing_key),
        ("cipher", cipher),
        ("mail", mail),
    ]
    .into_iter()
    .map(|(name, outcome)| Check {
        name,
        failure: outcome.err(),
    })
    .collect();
    Report { checks }
}

async fn within(
    check: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())))
}

/// Write the probe item with a fresh value and read it back.
async fn store(state: &AppState) -> Result<(), String> {
    let stamp = uuid::Uuid::new_v4().simple().to_string();
    let mut item = keys::health_probe().item();
    item.insert("stamp".into(), Value::String(stamp.clone()));
    item.insert("checked_at".into(), Value::from(state.clock.unix()));
    state.table.put(item, None).await.map_err(|error| {
        tracing::warn!(%error, "health: the store refused a write");
        "the store does not take writes".to_owned()
    })?;
    let back = state
        .table
        .get(&keys::health_probe())
        .await
        .map_err(|error| {
            tracing::warn!(%error, "health: the store refused a read");
            "the store does not answer reads".to_owned()
        })?;
    match back.as_ref().and_then(|item| item.get("stamp")) {
        // Another instance may have written in between; any probe read back proves the read.
        Some(Value::String(_)) => Ok(()),
        _ => Err("the store lost a write it acknowledged".into()),
    }
}
