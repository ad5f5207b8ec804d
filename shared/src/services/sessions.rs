//! Sessions: starting one and answering the AuthResponse (every way of signing in ends here),
//! rotating refresh tokens with reuse detection, listing and revoking.

use futures::future::join_all;
use serde::Serialize;

use crate::domain::ids::SessionId;
use crate::domain::keys;
use crate::domain::sessions::{
    ClaimsSnapshot, NewRefreshToken, REFRESH_ACTIVE, REFRESH_ROTATED, RefreshRecord, Session,
    SessionContext, token_hash,
};
use crate::domain::users::User;
use crate::ports::{Condition, StoreError, Write};
use crate::services::tokens;
use crate::{AppState, Error, Result};

/// `token_type` of every AuthResponse.
pub const TOKEN_TYPE: &str = "bearer";

/// The user part of an AuthResponse (API.md, "AuthResponse").
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuthUser {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    pub name: String,
    /// The active workspace.
    #[schema(format = "uuid")]
    pub organization_id: Option<String>,
    pub email_verified: bool,
    pub has_password: bool,
}

impl AuthUser {
    fn of(snapshot: &ClaimsSnapshot) -> Self {
        Self {
            id: snapshot.user_id.clone(),
            email: snapshot.email.clone(),
            name: snapshot.name.clone(),
            organization_id: snapshot.org.clone(),
            email_verified: snapshot.email_verified,
            has_password: snapshot.has_password,
        }
    }
}

/// The answer to every successful sign-in, sign-up, refresh and verification. It holds secrets,
/// so it has no `Debug`.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct AuthResponse {
    #[schema(schema_with = crate::http::answers::always_true)]
    pub success: bool,
    /// The RS256 access JWT (15 minutes by default).
    pub access_token: String,
    /// The same JWT, for seed 001 clients.
    pub token: String,
    /// Opaque, 256 random bits, rotated on every use.
    pub refresh_token: String,
    #[schema(schema_with = crate::http::answers::bearer)]
    pub token_type: &'static str,
    /// Unix seconds: when the access token expires.
    pub expires_at: i64,
    /// Unix seconds: the session's absolute end (30 days by default).
    pub refresh_expires_at: i64,
    pub user: AuthUser,
}

impl AuthResponse {
    /// Seconds until the access token expires (the access cookie's `Max-Age`).
    pub fn access_max_age(&self, now: i64) -> i64 {
        (self.expires_at - now).max(0)
    }

    /// Seconds until the session ends (the refresh cookie's `Max-Age`).
    pub fn refresh_max_age(&self, now: i64) -> i64 {
        (self.refresh_expires_at - now).max(0)
    }
}

/// A session ready to be written: the writes that create it and the answer to give once they
/// are. Callers that create other items at the same time (sign-up) put these writes in their own
/// transaction; the rest call `start`.
pub struct PreparedSession {
    pub writes: Vec<Write>,
    pub response: AuthResponse,
    pub session_id: String,
}

/// Mint the access token and build the writes of a new session for a user who has passed every
/// factor. `amr` names the methods used (`pwd`, `email_link`, `webauthn`, `oauth`, `mfa`, ...).
pub async fn prepare(
    state: &AppState,
    user: &User,
    amr: &[&str],
    aal: u8,
    context: &SessionContext,
) -> Result<PreparedSession> {
    let now = state.clock.unix();
    let session_id = SessionId::generate(state.random.as_ref()).to_string();
    let expires_at = now + state.config.refresh_token_ttl.as_secs() as i64;
    let snapshot = ClaimsSnapshot::of(user, amr, aal);
    let refresh = NewRefreshToken::generate(state.random.as_ref());
    let access = tokens::issue(state, snapshot.subject(&session_id)).await?;
    let session = Session {
        id: session_id.clone(),
        user_id: user.id.clone(),
        created_at: now,
        last_used_at: now,
        expires_at,
        ip: context.ip.clone(),
        user_agent: context.user_agent.clone(),
        refresh_hash: refresh.hash.clone(),
        amr: snapshot.amr.clone(),
        aal,
    };
    let record = RefreshRecord {
        session_id: session_id.clone(),
        user_id: user.id.clone(),
        state: REFRESH_ACTIVE.to_owned(),
        expires_at,
        snapshot: snapshot.clone(),
    };
    let writes = vec![
        Write::Put {
            item: session.to_item(),
            condition: Some(Condition::NotExists),
        },
        Write::Put {
            item: record.to_item(&refresh.hash),
            condition: Some(Condition::NotExists),
        },
    ];
    let response = AuthResponse {
        success: true,
        token: access.token.clone(),
        access_token: access.token,
        refresh_token: refresh.token,
        token_type: TOKEN_TYPE,
        expires_at: access.claims.exp,
        refresh_expires_at: expires_at,
        user: AuthUser::of(&snapshot),
    };
    Ok(PreparedSession {
        writes,
        response,
        session_id,
    })
}

/// Start a session in one table round trip and answer the AuthResponse. Magic links, passkeys,
/// OAuth and MFA end here with their own `amr`.
pub async fn start(
    state: &AppState,
    user: &User,
    amr: &[&str],
    aal: u8,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let prepared = prepare(state, user, amr, aal, context).await?;
    state.table.transact(prepared.writes).await?;
    Ok(prepared.response)
}

fn refresh_refused() -> Error {
    Error::invalid_token("The refresh token is not valid")
}

/// Exchange a refresh token for a new access token and refresh token, in at most two table round
/// trips: read the refresh item, then one conditional transaction that retires it, writes its
/// successor and moves the session on. Only one of any number of concurrent uses can win that
/// transaction. A token that was already rotated is a replay: the whole session is revoked.
pub async fn refresh(
    state: &AppState,
    presented: &str,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let now = state.clock.unix();
    let old_hash = token_hash(presented.trim());
    let Some(item) = state.table.get(&RefreshRecord::key(&old_hash)).await? else {
        return Err(refresh_refused());
    };
    let record = RefreshRecord::from_item(item)?;
    if record.expires_at <= now {
        return Err(refresh_refused());
    }
    if record.state == REFRESH_ROTATED {
        tracing::warn!(
            session_id = %record.session_id,
            user_id = %record.user_id,
            "a rotated refresh token was presented again; revoking its session"
        );
        revoke(state, &record.user_id, &record.session_id).await?;
        return Err(Error::invalid_token(
            "The refresh token was already used; the session has been revoked",
        ));
    }

    let next = NewRefreshToken::generate(state.random.as_ref());
    let access = tokens::issue(state, record.snapshot.subject(&record.session_id)).await?;
    let successor = RefreshRecord {
        state: REFRESH_ACTIVE.to_owned(),
        ..record.clone()
    };
    let writes = vec![
        RefreshRecord::retirement(&old_hash, now),
        Write::Put {
            item: successor.to_item(&next.hash),
            condition: Some(Condition::NotExists),
        },
        Session::rotation(
            &record.user_id,
            &record.session_id,
            &old_hash,
            &next.hash,
            now,
            context,
        ),
    ];
    match state.table.transact(writes).await {
        Ok(()) => {}
        // Another use of the same token won the race; this one is refused without revoking,
        // since a client retrying in parallel is not evidence of theft.
        Err(StoreError::ConditionFailed) => return Err(refresh_refused()),
        Err(error) => return Err(error.into()),
    }
    Ok(AuthResponse {
        success: true,
        token: access.token.clone(),
        access_token: access.token,
        refresh_token: next.token,
        token_type: TOKEN_TYPE,
        expires_at: access.claims.exp,
        refresh_expires_at: record.expires_at,
        user: AuthUser::of(&record.snapshot),
    })
}

/// The live session, if any.
pub async fn find(state: &AppState, user_id: &str, session_id: &str) -> Result<Option<Session>> {
    let Some(item) = state.table.get(&Session::key(user_id, session_id)).await? else {
        return Ok(None);
    };
    let session = Session::from_item(item)?;
    Ok(session.is_live(state.clock.unix()).then_some(session))
}

/// A user's live sessions, oldest first.
pub async fn list(state: &AppState, user_id: &str) -> Result<Vec<Session>> {
    let now = state.clock.unix();
    let items = state
        .table
        .query(&keys::user_partition(user_id), keys::SESSION_PREFIX)
        .await?;
    let mut sessions = Vec::with_capacity(items.len());
    for item in items {
        let session = Session::from_item(item)?;
        if session.is_live(now) {
            sessions.push(session);
        }
    }
    sessions.sort_by_key(|s| s.created_at);
    Ok(sessions)
}

/// Revoke one of a user's sessions: access tokens naming it stop working on our endpoints at
/// once, and its refresh token can no longer rotate. Answers whether there was such a session
/// (another user's session id is simply not found under this user).
pub async fn revoke(state: &AppState, user_id: &str, session_id: &str) -> Result<bool> {
    let key = Session::key(user_id, session_id);
    let removed = match state.table.delete(&key, Some(Condition::Exists)).await {
        Ok(removed) => removed,
        Err(StoreError::ConditionFailed) => return Ok(false),
        Err(error) => return Err(error.into()),
    };
    // The current refresh item is useless without its session (rotation is conditional on the
    // session); deleting it too keeps the table tidy.
    if let Some(session) = removed.map(Session::from_item).transpose()? {
        let _ = state
            .table
            .delete(&RefreshRecord::key(&session.refresh_hash), None)
            .await;
        return Ok(session.is_live(state.clock.unix()));
    }
    Ok(true)
}

/// Revoke every session of a user except `keep`.
pub async fn revoke_all_except(
    state: &AppState,
    user_id: &str,
    keep: Option<&str>,
) -> Result<usize> {
    let sessions = list(state, user_id).await?;
    let targets: Vec<&Session> = sessions
        .iter()
        .filter(|s| Some(s.id.as_str()) != keep)
        .collect();
    let results = join_all(targets.iter().map(|s| revoke(state, user_id, &s.id))).await;
    let mut revoked = 0;
    for result in results {
        if result? {
            revoked += 1;
        }
    }
    Ok(revoked)
}
