//! The one users service: reading a user (by id or by address), typed updates under optimistic
//! locking, and the account operations both the accounts and the email-links groups need (a new
//! password that revokes sessions, marking an address verified).

use crate::domain::MalformedItem;
use crate::domain::emails::EmailAddress;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::keys;
use crate::domain::passwords::{Password, WeakPassword};
use crate::domain::sessions::Session;
use crate::domain::users::{EmailClaim, User, UserUpdate};
use crate::error::ErrorCode;
use crate::ports::{StoreError, Write};
use crate::services::{passwords, sessions};
use crate::{AppState, Error, Result};

/// How a typed update of a user failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The user changed since it was read (the version moved on); nothing was written.
    #[error("the account changed since it was read")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
}

impl From<StoreError> for UpdateError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed => Self::Conflict,
            other => Self::Store(other),
        }
    }
}

impl From<UpdateError> for Error {
    fn from(error: UpdateError) -> Self {
        match error {
            UpdateError::Conflict => concurrent_change(),
            UpdateError::Store(error) => error.into(),
            UpdateError::Malformed(error) => error.into(),
        }
    }
}

fn concurrent_change() -> Error {
    Error::conflict(
        ErrorCode::Conflict,
        "The account changed at the same time; try again",
    )
}

/// The user, if the account exists.
pub async fn load(state: &AppState, user_id: &UserId) -> Result<Option<User>> {
    match state.table.get(&keys::user(user_id)).await? {
        Some(item) => Ok(Some(User::from_item(item)?)),
        None => Ok(None),
    }
}

/// The user behind a verified token; a token for a deleted user is not valid.
pub async fn require(state: &AppState, user_id: &UserId) -> Result<User> {
    load(state, user_id)
        .await?
        .ok_or_else(|| Error::invalid_token("The account no longer exists"))
}

/// The account holding the address, if any.
pub async fn find_by_email(state: &AppState, email: &EmailAddress) -> Result<Option<User>> {
    let Some(item) = state
        .table
        .get(&keys::email_claim(email.normalized()))
        .await?
    else {
        return Ok(None);
    };
    let claim = EmailClaim::from_item(item)?;
    load(state, &claim.user_id).await
}

/// Apply a typed change to the user as read (its `version` must still be current); answers the
/// user as written.
pub async fn update(
    state: &AppState,
    user: &User,
    change: UserUpdate,
) -> Result<User, UpdateError> {
    let (key, set, condition) = change.for_user(user, state.clock.unix());
    let item = state
        .table
        .update(&key, set, vec![], Some(condition))
        .await?;
    // `/auth/validate` caches profiles per instance: a change made here shows at once.
    state.profiles.forget(&user.id);
    Ok(User::from_item(item)?)
}

/// A new password for the user, checked against the policy (the user's address and name count
/// as words an attacker tries first).
pub fn check_new_password(
    state: &AppState,
    user: &User,
    raw: String,
) -> Result<Password, WeakPassword> {
    Password::new_checked(
        raw,
        state.config.password_min_length,
        &[&user.email, &user.name],
    )
}

/// Replace the password and end every session but `keep`, all or nothing: one transaction writes
/// the new hash and moves the user's credential epoch on (which ends every session at its next
/// refresh or check, however many there are), and carries the kept session and its current
/// refresh token into the new epoch. Then the ended sessions are deleted one by one, only to
/// tidy the table: a failure there is logged, not answered. Answers the user as written and how
/// many sessions were deleted.
pub async fn set_password_and_revoke_sessions(
    state: &AppState,
    user: &User,
    password: Password,
    keep: Option<&SessionId>,
) -> Result<(User, usize)> {
    let (hash, kept) = tokio::join!(passwords::hash(state, password), async {
        match keep {
            Some(id) => sessions::find(state, &user.id, id).await,
            None => Ok(None),
        }
    });
    let (hash, kept) = (hash?, kept?);
    let now = state.clock.unix();
    let change = UserUpdate::new().password(hash, now).end_sessions(user);
    let updated = change.applied_to(user, now)?;
    let (key, set, condition) = change.for_user(user, now);
    let mut writes = vec![Write::Update {
        key,
        set,
        remove: vec![],
        condition: Some(condition),
    }];
    if let Some(session) = &kept {
        writes.extend(Session::new_epoch(session, updated.credential_epoch));
    }
    // Any failed condition (the user or the kept session changed since read) leaves everything
    // as it was: the client may retry.
    state
        .table
        .transact(writes)
        .await
        .map_err(UpdateError::from)?;
    let revoked = match sessions::revoke_all_except(state, &user.id, keep).await {
        Ok(revoked) => revoked,
        Err(error) => {
            tracing::warn!(user_id = %user.id, %error, "ended sessions not deleted (their epoch is past; they no longer work)");
            0
        }
    };
    Ok((updated, revoked))
}

/// Mark the user's address verified, if it is still `email`. One retry when the user changed
/// under us (a concurrent sign-in updating the profile, say).
pub async fn mark_email_verified(state: &AppState, user: User, email: &str) -> Result<User> {
    let mut user = user;
    for _ in 0..2 {
        if user.email_verified || user.email_normalized != email.trim().to_lowercase() {
            return Ok(user);
        }
        match update(state, &user, UserUpdate::new().email_verified()).await {
            Ok(updated) => return Ok(updated),
            Err(UpdateError::Conflict) => {
                user = load(state, &user.id)
                    .await?
                    .ok_or_else(|| Error::internal("the user vanished while verifying"))?;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(concurrent_change())
}
