//! Sessions: starting one and answering the AuthResponse (every way of signing in ends here),
//! rotating refresh tokens with reuse detection (and a grace for the immediately previous
//! token), checking that a session is current, listing and revoking.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::join_all;
use serde::Serialize;

use crate::domain::ids::{SessionId, UserId};
use crate::domain::keys;
use crate::domain::sessions::{
    ClaimsSnapshot, NewRefreshToken, REFRESH_ACTIVE, REFRESH_ROTATED, RefreshRecord, Session,
    SessionContext, token_hash,
};
use crate::domain::users::{User, UserUpdate};
use crate::ports::{Condition, EncryptionContext, StoreError, Write};
use crate::services::{tokens, users};
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
            id: snapshot.user_id.to_string(),
            email: snapshot.email.clone(),
            name: snapshot.name.clone(),
            organization_id: snapshot.org.as_ref().map(String::from),
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
    pub session_id: SessionId,
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
    if user.disabled {
        return Err(account_disabled(&user.id));
    }
    let now = state.clock.unix();
    let session_id = SessionId::generate(state.random.as_ref());
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
        epoch: user.credential_epoch,
    };
    let record = RefreshRecord {
        session_id: session_id.clone(),
        user_id: user.id.clone(),
        state: REFRESH_ACTIVE.to_owned(),
        expires_at,
        snapshot: snapshot.clone(),
        epoch: user.credential_epoch,
        rotated_at: None,
        successor: None,
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

/// A disabled account starts no session, whatever the way in.
pub fn account_disabled(user_id: &UserId) -> Error {
    crate::audit::sign_in_failed(Some(user_id), "any", "account_disabled");
    Error::forbidden("This account is disabled")
}

fn refresh_refused() -> Error {
    Error::invalid_token("The refresh token is not valid")
}

/// Exchange a refresh token for a new access token and refresh token, in at most two table round
/// trips: read the refresh item (while the successor is sealed with the Cipher), then one
/// conditional transaction that retires it with its sealed successor, writes the successor, moves
/// the session on and checks that the user's credential epoch has not moved since the session
/// started. Only one of any number of concurrent uses can win that transaction.
///
/// A token already rotated is either the immediately previous one reused within the grace (a
/// race between tabs, or a retry after a lost answer), which answers the same successor, or a
/// replay, which revokes the whole session.
pub async fn refresh(
    state: &AppState,
    presented: &str,
    context: &SessionContext,
) -> Result<AuthResponse> {
    let now = state.clock.unix();
    let old_hash = token_hash(presented.trim());
    let next = NewRefreshToken::generate(state.random.as_ref());
    let key = RefreshRecord::key(&old_hash);
    let (item, sealed) = tokio::join!(
        state.table.get(&key),
        seal_successor(state, &old_hash, &next.token),
    );
    let Some(item) = item? else {
        return Err(refresh_refused());
    };
    let record = RefreshRecord::from_item(item)?;
    if record.expires_at <= now {
        return Err(refresh_refused());
    }
    if record.state == REFRESH_ROTATED {
        return reuse(state, &old_hash, record, now).await;
    }

    let access = tokens::issue(state, record.snapshot.subject(&record.session_id)).await?;
    let successor = RefreshRecord {
        state: REFRESH_ACTIVE.to_owned(),
        rotated_at: None,
        successor: None,
        ..record.clone()
    };
    let writes = vec![
        RefreshRecord::retirement(&old_hash, now, sealed?),
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
        Write::Check {
            key: keys::user(&record.user_id),
            condition: UserUpdate::epoch_unchanged(record.epoch),
        },
    ];
    match state.table.transact(writes).await {
        Ok(()) => Ok(answer(access, next.token, &record)),
        // Another use of the same token won the race (or the session ended): look again. The
        // winner left its successor, which this use may answer too.
        Err(StoreError::ConditionFailed) => {
            let Some(item) = state.table.get(&RefreshRecord::key(&old_hash)).await? else {
                return Err(refresh_refused());
            };
            let record = RefreshRecord::from_item(item)?;
            if record.state == REFRESH_ROTATED {
                return reuse(state, &old_hash, record, now).await;
            }
            Err(refresh_refused())
        }
        Err(error) => Err(error.into()),
    }
}

fn answer(
    access: tokens::IssuedToken,
    refresh_token: String,
    record: &RefreshRecord,
) -> AuthResponse {
    AuthResponse {
        success: true,
        token: access.token.clone(),
        access_token: access.token,
        refresh_token,
        token_type: TOKEN_TYPE,
        expires_at: access.claims.exp,
        refresh_expires_at: record.expires_at,
        user: AuthUser::of(&record.snapshot),
    }
}

/// The successor of a refresh token is sealed under a context naming the token it succeeds, so
/// a sealed value copied onto another refresh item does not open there.
fn successor_context(old_hash: &str) -> EncryptionContext {
    EncryptionContext::new(RefreshRecord::key(old_hash).pk, "refresh-successor")
}

async fn seal_successor(state: &AppState, old_hash: &str, successor: &str) -> Result<String> {
    let sealed = state
        .cipher
        .encrypt(successor.as_bytes(), &successor_context(old_hash))
        .await?;
    Ok(STANDARD.encode(sealed))
}

async fn unseal_successor(state: &AppState, old_hash: &str, sealed: &str) -> Result<String> {
    let sealed = STANDARD
        .decode(sealed)
        .map_err(|_| Error::internal("a sealed refresh successor is not base64"))?;
    let plain = state
        .cipher
        .decrypt(&sealed, &successor_context(old_hash))
        .await?;
    String::from_utf8(plain).map_err(|_| Error::internal("a refresh successor is not text"))
}

/// A rotated token presented again. Within the grace, if its successor is still the session's
/// current token and the session is current, answer that same successor (with a new access
/// token); no write, so any number of such reuses agree. Otherwise it is a replay (or an older
/// ancestor): the session is revoked.
async fn reuse(
    state: &AppState,
    old_hash: &str,
    record: RefreshRecord,
    now: i64,
) -> Result<AuthResponse> {
    let grace = i64::try_from(state.config.refresh_reuse_grace.as_secs()).unwrap_or(i64::MAX);
    let within_grace = record
        .rotated_at
        .is_some_and(|rotated_at| now < rotated_at.saturating_add(grace));
    if within_grace && let Some(sealed) = &record.successor {
        let session_key = Session::key(&record.user_id, &record.session_id);
        let (successor, session, user) = tokio::join!(
            unseal_successor(state, old_hash, sealed),
            state.table.get(&session_key),
            users::load(state, &record.user_id),
        );
        let successor = successor?;
        let session = session?.map(Session::from_item).transpose()?;
        match (session, user?) {
            (Some(session), Some(user)) if session.is_current(now, &user) => {
                if session.refresh_hash == token_hash(&successor) {
                    let access =
                        tokens::issue(state, record.snapshot.subject(&record.session_id)).await?;
                    return Ok(answer(access, successor, &record));
                }
                // The successor was used in turn: this is an older ancestor.
            }
            // The session ended already: nothing to revoke, nothing to answer.
            _ => return Err(refresh_refused()),
        }
    }
    crate::audit::refresh_reused(&record.user_id, &record.session_id);
    revoke(state, &record.user_id, &record.session_id).await?;
    Err(Error::invalid_token(
        "The refresh token was already used; the session has been revoked",
    ))
}

/// Move a live session onto new claims (a workspace switch): the same session, its refresh token
/// rotated, and a new claims snapshot on the successor, so later refreshes keep the new claims.
/// The old token is retired as a refresh retires it (its successor sealed), so a tab racing the
/// switch with a refresh gets the same successor within the grace. `extra` writes (a membership
/// check, say) join the one conditional transaction; they must write the user item under the
/// session's credential-epoch condition (`UserUpdate::epoch_unchanged`), as a transaction names
/// an item once. Any failed condition answers `StoreError::ConditionFailed` and changes nothing.
/// One table round trip.
pub async fn rotate_with_claims(
    state: &AppState,
    session: &Session,
    snapshot: ClaimsSnapshot,
    extra: Vec<Write>,
    context: &SessionContext,
) -> Result<Result<AuthResponse, StoreError>> {
    let now = state.clock.unix();
    let next = NewRefreshToken::generate(state.random.as_ref());
    let (access, sealed) = tokio::join!(
        tokens::issue(state, snapshot.subject(&session.id)),
        seal_successor(state, &session.refresh_hash, &next.token),
    );
    let (access, sealed) = (access?, sealed?);
    let successor = RefreshRecord {
        session_id: session.id.clone(),
        user_id: session.user_id.clone(),
        state: REFRESH_ACTIVE.to_owned(),
        expires_at: session.expires_at,
        snapshot: snapshot.clone(),
        epoch: session.epoch,
        rotated_at: None,
        successor: None,
    };
    let mut writes = vec![
        RefreshRecord::retirement(&session.refresh_hash, now, sealed),
        Write::Put {
            item: successor.to_item(&next.hash),
            condition: Some(Condition::NotExists),
        },
        Session::rotation(
            &session.user_id,
            &session.id,
            &session.refresh_hash,
            &next.hash,
            now,
            context,
        ),
    ];
    writes.extend(extra);
    if let Err(error) = state.table.transact(writes).await {
        return Ok(Err(error));
    }
    Ok(Ok(AuthResponse {
        success: true,
        token: access.token.clone(),
        access_token: access.token,
        refresh_token: next.token,
        token_type: TOKEN_TYPE,
        expires_at: access.claims.exp,
        refresh_expires_at: session.expires_at,
        user: AuthUser::of(&snapshot),
    }))
}

/// Change the claims snapshot that each live session of the user will next refresh with
/// (`change` answers whether it changed anything): how a removal from a workspace or a role
/// change reaches sessions that are already open, without costing refresh a round trip. Best
/// effort: a refresh racing this keeps the old snapshot until the next change or sign-in; the
/// workspace's own endpoints and `/auth/validate` check the membership anyway. Answers how many
/// sessions changed.
pub async fn restamp_claims(
    state: &AppState,
    user_id: &UserId,
    change: impl Fn(&mut ClaimsSnapshot) -> bool,
) -> Result<usize> {
    let sessions = list(state, user_id).await?;
    let record_keys: Vec<_> = sessions
        .iter()
        .map(|s| RefreshRecord::key(&s.refresh_hash))
        .collect();
    let records = join_all(record_keys.iter().map(|key| state.table.get(key))).await;
    let mut updates = Vec::new();
    for (session, record) in sessions.iter().zip(records) {
        let Some(item) = record? else { continue };
        let mut record = RefreshRecord::from_item(item)?;
        if record.state != REFRESH_ACTIVE || !change(&mut record.snapshot) {
            continue;
        }
        let snapshot = serde_json::to_value(&record.snapshot)
            .map_err(|e| Error::internal(format!("a claims snapshot did not serialize: {e}")))?;
        let mut set = crate::ports::Item::new();
        set.insert("snapshot".into(), snapshot);
        updates.push((RefreshRecord::key(&session.refresh_hash), set));
    }
    let results = join_all(updates.into_iter().map(|(key, set)| async move {
        let condition = Condition::Equals("state".into(), REFRESH_ACTIVE.into());
        state.table.update(&key, set, vec![], Some(condition)).await
    }))
    .await;
    let mut changed = 0;
    for result in results {
        match result {
            Ok(_) => changed += 1,
            // Rotated meanwhile: that refresh already minted its token from the old snapshot.
            Err(StoreError::ConditionFailed) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(changed)
}

/// The session, if it is live and no credential change has ended it since it started: the
/// session and its user are read in parallel (one round trip) and their epochs compared.
pub async fn find(
    state: &AppState,
    user_id: &UserId,
    session_id: &SessionId,
) -> Result<Option<Session>> {
    let key = Session::key(user_id, session_id);
    let (session, user) = tokio::join!(state.table.get(&key), users::load(state, user_id),);
    let (Some(item), Some(user)) = (session?, user?) else {
        return Ok(None);
    };
    let session = Session::from_item(item)?;
    Ok(session
        .is_current(state.clock.unix(), &user)
        .then_some(session))
}

/// A user's live sessions, oldest first.
pub async fn list(state: &AppState, user_id: &UserId) -> Result<Vec<Session>> {
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
pub async fn revoke(state: &AppState, user_id: &UserId, session_id: &SessionId) -> Result<bool> {
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
    user_id: &UserId,
    keep: Option<&SessionId>,
) -> Result<usize> {
    let sessions = list(state, user_id).await?;
    let targets: Vec<&Session> = sessions.iter().filter(|s| Some(&s.id) != keep).collect();
    let results = join_all(targets.iter().map(|s| revoke(state, user_id, &s.id))).await;
    let mut revoked = 0;
    for result in results {
        if result? {
            revoked += 1;
        }
    }
    Ok(revoked)
}
