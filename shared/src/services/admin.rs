//! Operator use cases behind `latchkey users ...` and `latchkey sessions revoke`: find, list,
//! create, disable/enable, delete and unlock accounts, and end sessions, on whichever backend the
//! environment names. Each change is a security event (`audit::admin_action`).

use crate::audit;
use crate::domain::emails::EmailAddress;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::keys;
use crate::domain::sessions::{SessionContext, UNKNOWN_ADDRESS};
use crate::domain::users::{User, UserUpdate};
use crate::ports::Condition;
use crate::services::accounts::{self, SignUp};
use crate::services::rate_limit::{self, SIGN_IN_FAILURES_PER_ACCOUNT};
use crate::services::{sessions, users, workspaces};
use crate::{AppState, Error, Result};

/// The account an operator names: by email (anything with `@`) or by user id.
pub async fn find(state: &AppState, who: &str) -> Result<Option<User>> {
    if who.contains('@') {
        let email = EmailAddress::parse(who)?;
        users::find_by_email(state, &email).await
    } else {
        // Not a user id at all: nobody by that name, as before.
        match UserId::parse(who) {
            Some(id) => users::load(state, &id).await,
            None => Ok(None),
        }
    }
}

/// `find`, or a `404` naming what was asked for.
pub async fn require(state: &AppState, who: &str) -> Result<User> {
    find(state, who)
        .await?
        .ok_or_else(|| Error::not_found(format!("no account {who}")))
}

/// Every account, oldest first (a whole-table scan: operators only).
pub async fn list(state: &AppState) -> Result<Vec<User>> {
    let items = state.table.scan("USER#", keys::PROFILE).await?;
    let mut found = items
        .into_iter()
        .map(User::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    found.sort_by_key(|user| user.created_at);
    Ok(found)
}

/// A new account with a password, as sign-up makes it (and its personal workspace), without
/// keeping the session sign-up starts.
pub async fn create(state: &AppState, email: &str, name: &str, password: String) -> Result<User> {
    let email = EmailAddress::parse(email)?;
    let context = SessionContext {
        ip: UNKNOWN_ADDRESS.to_owned(),
        user_agent: Some("latchkey admin".into()),
    };
    let answer = accounts::sign_up(
        state,
        SignUp {
            email: email.clone(),
            name: name.to_owned(),
            password,
        },
        &context,
    )
    .await?;
    let user_id = UserId::parse(&answer.user.id)
        .ok_or_else(|| Error::internal("sign-up answered a user id that is not a UUID"))?;
    sessions::revoke_all_except(state, &user_id, None).await?;
    audit::admin_action(&user_id, "created");
    users::require(state, &user_id).await
}

/// Disable (every session ends, no new one starts) or enable an account.
pub async fn set_disabled(state: &AppState, who: &str, disabled: bool) -> Result<User> {
    let user = require(state, who).await?;
    let mut change = UserUpdate::new().disabled(disabled);
    if disabled {
        change = change.end_sessions(&user);
    }
    let updated = users::update(state, &user, change).await?;
    if disabled {
        // Tidying only: the epoch has already ended them.
        let _ = sessions::revoke_all_except(state, &user.id, None).await;
    }
    audit::admin_action(&user.id, if disabled { "disabled" } else { "enabled" });
    Ok(updated)
}

/// Clear the account's sign-in failure count: the password path is open again at once.
pub async fn unlock(state: &AppState, who: &str) -> Result<User> {
    let user = require(state, who).await?;
    let window = SIGN_IN_FAILURES_PER_ACCOUNT.window(&user.email_normalized, state.clock.unix());
    rate_limit::reset(state, &window).await?;
    audit::admin_action(&user.id, "unlocked");
    Ok(user)
}

/// End one session, or every session when `session_id` is `None`; answers how many ended.
pub async fn revoke_sessions(
    state: &AppState,
    who: &str,
    session_id: Option<&str>,
) -> Result<(User, usize)> {
    let user = require(state, who).await?;
    let ended = match session_id {
        Some(id) => match SessionId::parse(id) {
            Some(id) => usize::from(sessions::revoke(state, &user.id, &id).await?),
            None => 0,
        },
        None => sessions::revoke_all_except(state, &user.id, None).await?,
    };
    if ended > 0 {
        audit::admin_action(&user.id, "sessions_revoked");
    }
    Ok((user, ended))
}

/// Delete an account: its sessions, every item in its partition (profile, MFA, recovery codes,
/// API-key index, ...), its memberships and its email claim, so the address can sign up again.
/// Workspaces it owned with other members stay (their other owners keep them); its personal
/// workspace item stays as an orphan without members.
pub async fn delete(state: &AppState, who: &str) -> Result<User> {
    let user = require(state, who).await?;
    sessions::revoke_all_except(state, &user.id, None).await?;
    for membership in workspaces::memberships(state, &user.id).await? {
        state
            .table
            .delete(&keys::member(&membership.workspace.id, &user.id), None)
            .await?;
    }
    for item in state
        .table
        .query(&keys::user_partition(&user.id), "")
        .await?
    {
        if let Some(key) = crate::ports::Key::of(&item) {
            state.table.delete(&key, None).await?;
        }
    }
    // Only if it is still this user's: the address may have moved on meanwhile.
    let claim = keys::email_claim(&user.email_normalized);
    let _ = state
        .table
        .delete(
            &claim,
            Some(Condition::Equals("user_id".into(), user.id.clone().into())),
        )
        .await;
    state.profiles.forget(&user.id);
    audit::admin_action(&user.id, "deleted");
    Ok(user)
}
