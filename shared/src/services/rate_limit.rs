//! Fixed-window rate limits kept in the table (`RATE#<bucket>#<window start>`, atomic add, `ttl`
//! at the window's end), so they hold across every function instance.
//!
//! Buckets name what is counted and a SHA-256 of whom (an email or a client address), so no
//! address is stored in clear in a counter.
//!
//! Limits are counted first: the atomic add happens before the work it guards (a password hash,
//! a sign-up), and the answer to the add decides. A check that reads the count and adds after
//! the work lets a burst of concurrent requests all read the same count and all pass.

use sha2::{Digest, Sha256};

use crate::domain::keys;
use crate::ports::StoreError;
use crate::{AppState, Error};

/// How counting against a limit failed.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// Over the limit: the window ends in `retry_after` seconds.
    #[error("over the rate limit; the window ends in {retry_after} s")]
    Exceeded { retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RateLimitError {
    /// Seconds until the window that refused ends (`None` for a storage failure).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Exceeded { retry_after } => Some(*retry_after),
            Self::Store(_) => None,
        }
    }
}

impl From<RateLimitError> for Error {
    fn from(error: RateLimitError) -> Self {
        match error {
            RateLimitError::Exceeded { retry_after } => Error::too_many_requests(retry_after),
            RateLimitError::Store(error) => error.into(),
        }
    }
}

pub type Result<T, E = RateLimitError> = std::result::Result<T, E>;

/// One limit: at most `max` events per `window` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub max: i64,
    pub window: i64,
}

/// Failed sign-ins for one account (by normalized email, known or not): 10 per 15 minutes.
pub const SIGN_IN_FAILURES_PER_ACCOUNT: Limit = Limit {
    name: "signin-account",
    max: 10,
    window: 15 * 60,
};

/// Failed sign-ins from one client address: 50 per 15 minutes.
pub const SIGN_IN_FAILURES_PER_ADDRESS: Limit = Limit {
    name: "signin-address",
    max: 50,
    window: 15 * 60,
};

/// `/auth/check-email` calls from one client address: 20 per minute (it tells whether an account
/// exists, so it must not serve as an enumeration oracle).
pub const CHECK_EMAIL_PER_ADDRESS: Limit = Limit {
    name: "check-email",
    max: 20,
    window: 60,
};

const COUNT: &str = "count";

/// The counter of a limit for a subject at a time: its key and its window's end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub key: crate::ports::Key,
    pub ends_at: i64,
}

impl Limit {
    pub fn window(&self, subject: &str, now: i64) -> Window {
        let start = now - now.rem_euclid(self.window);
        let digest = hex::encode(&Sha256::digest(subject.as_bytes())[..16]);
        Window {
            key: keys::rate(&format!("{}:{digest}", self.name), start),
            ends_at: start + self.window,
        }
    }
}

impl Window {
    /// The refusal for this window (a 429 at the edge): retry when it ends.
    pub fn exceeded(&self, now: i64) -> RateLimitError {
        RateLimitError::Exceeded {
            retry_after: (self.ends_at - now).max(1) as u64,
        }
    }
}

/// Sign-ups from one client address: 20 per hour. Sign-up's `409 email_taken` tells whether an
/// address has an account, so it must not serve as an unlimited enumeration oracle; every
/// attempt is counted first, since counting only the 409s would leave `201` as the oracle.
pub const SIGN_UPS_PER_ADDRESS: Limit = Limit {
    name: "signup-address",
    max: 20,
    window: 60 * 60,
};

/// Count one event in the window (before the work it guards) and answer the new count.
pub async fn count(state: &AppState, window: &Window) -> Result<i64> {
    Ok(state
        .table
        .add(&window.key, COUNT, 1, Some(window.ends_at))
        .await?)
}

/// Give back an event counted first that turned out not to count (a sign-in that succeeded
/// against a failure budget).
pub async fn refund(state: &AppState, window: &Window) -> Result<()> {
    state
        .table
        .add(&window.key, COUNT, -1, Some(window.ends_at))
        .await?;
    Ok(())
}

/// Forget the window's count (a successful sign-in clears its account's failures).
pub async fn reset(state: &AppState, window: &Window) -> Result<()> {
    state.table.delete(&window.key, None).await?;
    Ok(())
}

/// Count one event first and refuse it (`429`) if it goes over the limit.
pub async fn hit(state: &AppState, limit: Limit, subject: &str) -> Result<()> {
    let now = state.clock.unix();
    let window = limit.window(subject, now);
    if count(state, &window).await? > limit.max {
        return Err(window.exceeded(now));
    }
    Ok(())
}

/// Count one event and answer the count, refusing nothing (callers that cap quietly).
pub async fn record(state: &AppState, limit: Limit, subject: &str) -> Result<i64> {
    count(state, &limit.window(subject, state.clock.unix())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_end_at_the_next_boundary() {
        let a = SIGN_IN_FAILURES_PER_ACCOUNT.window("ada@example.com", 1_000_000);
        let b = SIGN_IN_FAILURES_PER_ACCOUNT.window("ada@example.com", 1_000_000 + 10);
        assert_eq!(a, b);
        assert_eq!(a.ends_at % 900, 0);
        assert!(a.ends_at > 1_000_000 && a.ends_at <= 1_000_900);
        assert_eq!(a.exceeded(a.ends_at - 30).retry_after(), Some(30));
        assert_eq!(
            Error::from(a.exceeded(a.ends_at - 30)).retry_after,
            Some(30)
        );
    }

    #[test]
    fn buckets_differ_by_limit_and_subject_and_hide_the_subject() {
        let a = SIGN_IN_FAILURES_PER_ACCOUNT.window("ada@example.com", 0);
        let b = SIGN_IN_FAILURES_PER_ADDRESS.window("ada@example.com", 0);
        let c = SIGN_IN_FAILURES_PER_ACCOUNT.window("bob@example.com", 0);
        assert_ne!(a.key, b.key);
        assert_ne!(a.key, c.key);
        assert!(!a.key.pk.contains("ada"));
    }
}
