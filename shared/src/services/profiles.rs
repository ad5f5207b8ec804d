//! A per-instance cache of what `/auth/validate` answers about a user (the profile and their
//! workspaces), kept a few seconds, so bearer validation with the workspace list costs about what
//! the session check alone costs. The session is still read on every request (logout and
//! revocation stop a token at once); only the profile and memberships may be up to `TTL` old when
//! another instance changed them. Every write of this instance that changes a user or a
//! membership calls `forget`, so a caller sees its own change at once.

use crate::domain::ids::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::users::User;
use crate::services::accounts::{self, Membership};
use crate::services::tokens::AccessClaims;
use crate::services::workspaces;
use crate::{AppState, Result};

/// How long a cached profile answers.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; beyond it the expired ones go, and if none had expired, all of them.
const MAX_ENTRIES: usize = 10_000;

/// A user and their workspaces, as read together.
#[derive(Clone, Debug)]
pub struct Profile {
    pub user: User,
    pub memberships: Vec<Membership>,
}

#[derive(Default)]
pub struct ProfileCache {
    entries: Mutex<HashMap<UserId, (Instant, Arc<Profile>)>>,
}

impl ProfileCache {
    fn fresh(&self, user_id: &UserId) -> Option<Arc<Profile>> {
        let entries = self.entries.lock().ok()?;
        let (read_at, profile) = entries.get(user_id)?;
        (read_at.elapsed() < TTL).then(|| profile.clone())
    }

    fn keep(&self, user_id: &UserId, read_at: Instant, profile: Arc<Profile>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(user_id.clone(), (read_at, profile));
    }

    /// Drop what is cached about the user (their profile or memberships just changed here).
    pub fn forget(&self, user_id: &UserId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(user_id);
        }
    }
}

/// The user (`401 invalid_token` if the account is gone) and their workspaces, from the cache
/// when read less than `TTL` ago.
pub async fn profile(state: &AppState, user_id: &UserId) -> Result<Arc<Profile>> {
    if let Some(profile) = state.profiles.fresh(user_id) {
        return Ok(profile);
    }
    // Timed from before the reads, so an entry never outlives TTL from what it saw.
    let read_at = Instant::now();
    let (user, memberships) = tokio::join!(
        accounts::require_user(state, user_id),
        accounts::memberships(state, user_id),
    );
    let profile = Arc::new(Profile {
        user: user?,
        memberships: memberships?,
    });
    state.profiles.keep(user_id, read_at, profile.clone());
    Ok(profile)
}

/// The caller's profile, refused with `401 invalid_token` when the token names a workspace (`org`)
/// its holder is no longer a member of: API.md has `/auth/validate` and the gate check refuse
/// such tokens. From the cache, so a warm instance pays no read for it.
pub async fn require_token_workspace_member(
    state: &AppState,
    claims: &AccessClaims,
) -> Result<Arc<Profile>> {
    let profile = profile(state, &claims.sub).await?;
    if let Some(org) = &claims.org
        && !profile.memberships.iter().any(|m| &m.workspace.id == org)
    {
        return Err(workspaces::removed_from_token_workspace());
    }
    Ok(profile)
}
