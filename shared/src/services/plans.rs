//! Changing a user's plan (`PUT /admin/users/{id}/plan`), by an administrator
//! (`LATCHKEY_ADMIN_EMAILS`, with a verified address).
//!
//! API.md: the new plan shows in tokens from the next sign-in, refresh or workspace switch. A
//! refresh mints its token from the claims snapshot on the refresh item (two round trips, no
//! user read), so the change rewrites the snapshot of each live session's current refresh item
//! and of each API key of the user. Residual window: a refresh that read its item before this
//! rewrite and commits after it carries the old plan forward once; the next plan change, or the
//! next sign-in, corrects it. After each rewrite the session is read again and a rotation that
//! already happened is followed, which closes the window in all but that narrow case.

use crate::domain::MalformedItem;
use crate::domain::ids::UserId;
use crate::domain::keys;
use crate::domain::plans::{Plan, is_feature_name};
use crate::domain::sessions::{REFRESH_ACTIVE, RefreshRecord, Session};
use crate::domain::users::{User, UserUpdate};
use crate::ports::{Condition, Item, StoreError};
use crate::services::tokens::AccessClaims;
use crate::services::{api_keys, sessions, users};
use crate::{AppState, Error};

/// How often a session's rotating refresh item is followed before giving up on it.
const FOLLOW_ROTATION_ATTEMPTS: usize = 3;

/// The most features of their own a user may be given.
pub const MAX_USER_FEATURES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("only administrators change plans")]
    NotAdministrator,
    #[error("no such user")]
    UnknownUser,
    #[error("{field}: {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error(transparent)]
    Api(#[from] Error),
}

impl From<PlanError> for Error {
    fn from(error: PlanError) -> Self {
        match error {
            PlanError::NotAdministrator => Error::forbidden("Only administrators change plans"),
            PlanError::UnknownUser => Error::not_found("No user with this id"),
            PlanError::InvalidField { field, problem } => Error::invalid_field(field, &problem),
            PlanError::Store(error) => error.into(),
            PlanError::Malformed(error) => error.into(),
            PlanError::Api(error) => error,
        }
    }
}

impl From<api_keys::ApiKeyError> for PlanError {
    fn from(error: api_keys::ApiKeyError) -> Self {
        Self::Api(error.into())
    }
}

type Result<T, E = PlanError> = std::result::Result<T, E>;

/// Whether the caller is an administrator: a verified email listed in `LATCHKEY_ADMIN_EMAILS`
/// (an unverified address proves nothing: anyone may sign up with any address not yet taken).
pub fn is_administrator(state: &AppState, claims: &AccessClaims) -> bool {
    claims.email_verified
        && state
            .config
            .admin_emails
            .iter()
            .any(|admin| admin.eq_ignore_ascii_case(&claims.email))
}

/// The plan and extra features the user now has.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PlanChanged {
    #[schema(schema_with = crate::http::answers::always_true)]
    pub success: bool,
    #[schema(format = "uuid")]
    pub user_id: String,
    pub plan: Plan,
    /// The features of the user's own (beyond those the plan grants).
    pub extra_features: Vec<String>,
    /// Every feature the user now has.
    pub features: Vec<String>,
}

/// Set `user_id`'s plan (and, when given, their own extra features) and update the claims of
/// their live sessions and API keys.
pub async fn set_plan(
    state: &AppState,
    admin: &AccessClaims,
    // `None` when the path names no user id at all: `404`, but only after the checks above it.
    user_id: Option<&UserId>,
    plan: Plan,
    features: Option<Vec<String>>,
) -> Result<PlanChanged> {
    if !is_administrator(state, admin) {
        return Err(PlanError::NotAdministrator);
    }
    if let Some(features) = &features {
        if features.len() > MAX_USER_FEATURES {
            return Err(PlanError::InvalidField {
                field: "features",
                problem: format!("at most {MAX_USER_FEATURES} features"),
            });
        }
        if let Some(bad) = features.iter().find(|f| !is_feature_name(f)) {
            return Err(PlanError::InvalidField {
                field: "features",
                problem: format!("`{bad}` is not a feature name (1 to 64 of a-z 0-9 _ . : -)"),
            });
        }
    }
    let user_id = user_id.ok_or(PlanError::UnknownUser)?;
    let user = users::load(state, user_id)
        .await?
        .ok_or(PlanError::UnknownUser)?;
    let mut extra = features.unwrap_or_else(|| user.features.clone());
    extra.sort();
    extra.dedup();
    let change = UserUpdate::new().plan(plan, extra.clone());
    let user = users::update(state, &user, change)
        .await
        .map_err(Error::from)?;
    update_claim_snapshots(state, &user).await?;
    Ok(PlanChanged {
        success: true,
        user_id: user.id.to_string(),
        plan,
        features: state.config.plan_features.features_of(plan, &extra),
        extra_features: extra,
    })
}

/// Rewrite the plan and features in the snapshots the user's tokens are minted from.
async fn update_claim_snapshots(state: &AppState, user: &User) -> Result<()> {
    let live = sessions::list(state, &user.id).await?;
    let results = futures::future::join_all(
        live.iter()
            .map(|session| update_session_snapshot(state, user, session)),
    )
    .await;
    for result in results {
        result?;
    }
    let keys = api_keys::records_of(state, &user.id, "").await?;
    for (hash, mut record) in keys {
        record.snapshot.plan = user.plan.clone();
        record.snapshot.features = user.features.clone();
        match set_snapshot(
            state,
            &keys::api_key(&hash),
            &record.snapshot,
            Condition::Exists,
        )
        .await
        {
            // Revoked meanwhile: nothing to update.
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

async fn update_session_snapshot(state: &AppState, user: &User, session: &Session) -> Result<()> {
    let mut refresh_hash = session.refresh_hash.clone();
    for _ in 0..FOLLOW_ROTATION_ATTEMPTS {
        let key = keys::refresh_token(&refresh_hash);
        if let Some(item) = state.table.get(&key).await? {
            let mut record = RefreshRecord::from_item(item)?;
            if record.state == REFRESH_ACTIVE {
                record.snapshot.plan = user.plan.clone();
                record.snapshot.features = user.features.clone();
                let active = Condition::Equals("state".into(), REFRESH_ACTIVE.into());
                match set_snapshot(state, &key, &record.snapshot, active).await {
                    Ok(()) | Err(StoreError::ConditionFailed) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        // Did a refresh rotate the token while we wrote? Then its successor may carry the old
        // snapshot: follow it.
        let Some(item) = state
            .table
            .get(&keys::session(&user.id, &session.id))
            .await?
        else {
            return Ok(());
        };
        let now_hash = Session::from_item(item)?.refresh_hash;
        if now_hash == refresh_hash {
            return Ok(());
        }
        refresh_hash = now_hash;
    }
    tracing::warn!(session_id = %session.id, "a session kept rotating while its plan changed");
    Ok(())
}

async fn set_snapshot(
    state: &AppState,
    key: &crate::ports::Key,
    snapshot: &impl serde::Serialize,
    condition: Condition,
) -> std::result::Result<(), StoreError> {
    let value = serde_json::to_value(snapshot)
        .map_err(|e| StoreError::Invalid(format!("snapshot: {e}")))?;
    let mut set = Item::new();
    set.insert("snapshot".into(), value);
    state
        .table
        .update(key, set, vec![], Some(condition))
        .await
        .map(|_| ())
}
