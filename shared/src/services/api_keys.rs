//! API key use cases: mint (shown once), list (never the secret), revoke (stops at once), and
//! authenticate a presented key in one table read.

use serde::Serialize;

use crate::domain::MalformedItem;
use crate::domain::api_keys::{
    API_KEY_AMR, ApiKeyRecord, DEFAULT_SCOPES, MAX_NAME_CHARS, MAX_SCOPES, NewApiKey, is_scope_name,
};
use crate::domain::ids::{ApiKeyId, UserId};
use crate::domain::keys;
use crate::domain::plans::Plan;
use crate::domain::sessions::{ClaimsSnapshot, token_hash};
use crate::domain::timestamp;
use crate::ports::{Condition, Item, StoreError};
use crate::services::tokens::AccessClaims;
use crate::services::users;
use crate::{AppState, Error};

/// How often `last_used_at` is written at most: a busy key costs no write per request.
pub const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// What can go wrong with API keys; the edge turns each into the API error of API.md.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("{field}: {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    /// Unknown id, or another user's key: the same answer, so ids cannot be probed.
    #[error("no such API key")]
    NotFound,
    /// Unknown or revoked key.
    #[error("the API key is not valid")]
    InvalidKey,
    #[error("the API key has expired")]
    Expired,
    #[error("the API key's owner no longer exists")]
    OwnerGone,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error(transparent)]
    Api(#[from] Error),
}

impl From<ApiKeyError> for Error {
    fn from(error: ApiKeyError) -> Self {
        match error {
            ApiKeyError::InvalidField { field, problem } => Error::invalid_field(field, &problem),
            ApiKeyError::NotFound => Error::not_found("No API key with this id"),
            ApiKeyError::InvalidKey => Error::invalid_token("The API key is not valid"),
            ApiKeyError::Expired => Error::invalid_token("The API key has expired"),
            ApiKeyError::OwnerGone => {
                Error::invalid_token("The API key's account no longer exists")
            }
            ApiKeyError::Store(error) => error.into(),
            ApiKeyError::Malformed(error) => error.into(),
            ApiKeyError::Api(error) => error,
        }
    }
}

type Result<T, E = ApiKeyError> = std::result::Result<T, E>;

/// What a new key is asked to be.
#[derive(Clone, Debug, Default)]
pub struct NewKeyRequest {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Unix seconds; must be in the future.
    pub expires_at: Option<i64>,
}

/// An API key as listed: never the secret.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeySummary {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// `read` allows GET/HEAD/OPTIONS, `write` the other methods; other names pass through to
    /// the platform.
    pub scopes: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Recorded at most once a minute.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

impl ApiKeySummary {
    fn of(record: &ApiKeyRecord) -> Self {
        Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            prefix: record.prefix.clone(),
            scopes: record.scopes.clone(),
            created_at: timestamp(record.created_at),
            last_used_at: record.last_used_at.map(timestamp),
            expires_at: record.expires_at.map(timestamp),
        }
    }
}

/// A key just made: the secret, shown this once, and its summary.
#[derive(Clone, Debug)]
pub struct CreatedApiKey {
    pub key: String,
    pub summary: ApiKeySummary,
}

fn checked_scopes(scopes: Option<Vec<String>>) -> Result<Vec<String>> {
    let invalid = |problem: &str| ApiKeyError::InvalidField {
        field: "scopes",
        problem: problem.to_owned(),
    };
    let Some(scopes) = scopes else {
        return Ok(DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    };
    if scopes.is_empty() {
        return Err(invalid("name at least one scope, or leave scopes out"));
    }
    if scopes.len() > MAX_SCOPES {
        return Err(invalid("at most 20 scopes"));
    }
    if let Some(bad) = scopes.iter().find(|s| !is_scope_name(s)) {
        return Err(invalid(&format!(
            "`{bad}` is not a scope name (1 to 64 of a-z 0-9 _ . : -)"
        )));
    }
    let mut unique = scopes;
    unique.sort();
    unique.dedup();
    Ok(unique)
}

/// Mint a key for `user_id`: two round trips (the owner, for the claims snapshot; the put).
pub async fn create(
    state: &AppState,
    user_id: &UserId,
    request: NewKeyRequest,
) -> Result<CreatedApiKey> {
    let now = state.clock.unix();
    let scopes = checked_scopes(request.scopes)?;
    if let Some(at) = request.expires_at.filter(|at| *at <= now) {
        return Err(ApiKeyError::InvalidField {
            field: "expires_at",
            problem: format!("must be in the future, got {}", timestamp(at)),
        });
    }
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(MAX_NAME_CHARS).collect())
        .unwrap_or_else(|| "API key".to_owned());
    let user = users::require(state, user_id).await?;
    let new = NewApiKey::generate(state.random.as_ref(), &state.config.api_key_prefix);
    let mut snapshot = ClaimsSnapshot::of(&user, &[API_KEY_AMR], 1);
    snapshot.scope = scopes.join(" ");
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(state.random.as_ref()),
        user_id: user.id.clone(),
        name,
        prefix: new.display_prefix,
        scopes,
        created_at: now,
        expires_at: request.expires_at,
        last_used_at: None,
        snapshot,
    };
    state
        .table
        .put(record.to_item(&new.hash), Some(Condition::NotExists))
        .await?;
    Ok(CreatedApiKey {
        key: new.key,
        summary: ApiKeySummary::of(&record),
    })
}

/// The user's live keys, oldest first (one GSI1 query).
pub async fn list(state: &AppState, user_id: &UserId) -> Result<Vec<ApiKeySummary>> {
    let now = state.clock.unix();
    let mut records = records_of(state, user_id, "").await?;
    records.retain(|(_, record)| record.is_live(now));
    records.sort_by_key(|(_, record)| record.created_at);
    Ok(records.iter().map(|(_, r)| ApiKeySummary::of(r)).collect())
}

/// The user's key records and their hashes; `id_prefix` narrows by id.
pub(crate) async fn records_of(
    state: &AppState,
    user_id: &UserId,
    id_prefix: &str,
) -> Result<Vec<(String, ApiKeyRecord)>> {
    let (gsi1pk, sk_prefix) = keys::api_key_gsi1(user_id, id_prefix);
    let items = state.table.query_gsi1(&gsi1pk, &sk_prefix).await?;
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let hash = ApiKeyRecord::hash_of(&item).map(str::to_owned);
        let record = ApiKeyRecord::from_item(item)?;
        if let Some(hash) = hash {
            records.push((hash, record));
        }
    }
    Ok(records)
}

/// Revoke one of the user's keys: the item is deleted, so the next request with it fails.
pub async fn revoke(state: &AppState, user_id: &UserId, key_id: &ApiKeyId) -> Result<()> {
    let found = records_of(state, user_id, key_id.as_str())
        .await?
        .into_iter()
        .find(|(_, record)| record.id == *key_id);
    let Some((hash, _)) = found else {
        return Err(ApiKeyError::NotFound);
    };
    match state
        .table
        .delete(&keys::api_key(&hash), Some(Condition::Exists))
        .await
    {
        Ok(_) => Ok(()),
        // Revoked (or expired) concurrently: gone all the same, but not by this request.
        Err(StoreError::ConditionFailed) => Err(ApiKeyError::NotFound),
        Err(error) => Err(error.into()),
    }
}

/// A key that authenticated: its id and the claims it acts with.
#[derive(Clone, Debug)]
pub struct KeyCaller {
    pub key_id: ApiKeyId,
    pub claims: AccessClaims,
}

/// Authenticate a presented key: one read (plus, at most once a minute per key, the
/// `last_used_at` write). Revoked keys are gone from the table; expired ones are refused here
/// even before the store hides them.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<KeyCaller> {
    let hash = token_hash(presented.trim());
    let key = keys::api_key(&hash);
    let Some(item) = state.table.get(&key).await? else {
        return Err(ApiKeyError::InvalidKey);
    };
    let record = ApiKeyRecord::from_item(item)?;
    let now = state.clock.unix();
    if !record.is_live(now) {
        return Err(ApiKeyError::Expired);
    }
    if record
        .last_used_at
        .is_none_or(|at| now.saturating_sub(at) >= LAST_USED_RESOLUTION_SECONDS)
    {
        touch(state, &key, &record, now).await;
    }
    Ok(KeyCaller {
        key_id: record.id.clone(),
        claims: claims_of(state, &record, now),
    })
}

/// Record the use. Conditional on the value read, so of concurrent requests one writes; on the
/// item existing, so a key revoked meanwhile is not brought back. A failure is logged and
/// otherwise ignored: the request itself is good.
async fn touch(state: &AppState, key: &crate::ports::Key, record: &ApiKeyRecord, now: i64) {
    let condition = match record.last_used_at {
        Some(at) => Condition::Equals("last_used_at".into(), at.into()),
        None => Condition::Exists,
    };
    let mut set = Item::new();
    set.insert("last_used_at".into(), now.into());
    match state.table.update(key, set, vec![], Some(condition)).await {
        Ok(_) | Err(StoreError::ConditionFailed) => {}
        Err(error) => {
            tracing::warn!(key_id = %record.id, %error, "could not record an API key's use");
        }
    }
}

/// The claims a key acts with: its owner's snapshot, `amr: ["api_key"]`, its scopes, and the
/// features the owner's plan grants now.
fn claims_of(state: &AppState, record: &ApiKeyRecord, now: i64) -> AccessClaims {
    let snapshot = &record.snapshot;
    let lifetime = i64::try_from(state.config.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
    AccessClaims {
        iss: state.config.issuer.clone(),
        aud: state.config.audience.clone(),
        sub: record.user_id.clone(),
        exp: record
            .expires_at
            .unwrap_or(i64::MAX)
            .min(now.saturating_add(lifetime)),
        iat: now,
        nbf: now,
        jti: record.id.to_string(),
        sid: format!("api_key:{}", record.id),
        scope: record.scopes.join(" "),
        org: snapshot.org.clone(),
        role: snapshot.role.clone(),
        plan: snapshot.plan.clone(),
        features: state
            .config
            .plan_features
            .features_of(Plan::lenient(&snapshot.plan), &snapshot.features),
        email: snapshot.email.clone(),
        email_verified: snapshot.email_verified,
        amr: vec![API_KEY_AMR.to_owned()],
        aal: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_read_and_write_and_are_checked() {
        assert_eq!(checked_scopes(None).unwrap(), vec!["read", "write"]);
        assert_eq!(
            checked_scopes(Some(vec!["read".into(), "read".into()])).unwrap(),
            vec!["read"]
        );
        assert!(checked_scopes(Some(vec![])).is_err());
        assert!(checked_scopes(Some(vec!["Read Me".into()])).is_err());
        assert!(checked_scopes(Some(vec!["x".into(); 21])).is_err());
    }
}
