//! `POST /auth/api-keys` (`/users/generate-api-key`), `GET /auth/api-keys`,
//! `DELETE /auth/api-keys/{id}`.

use axum::extract::{Path, State};
use latchkey::http::{Caller, Json};
use latchkey::services::api_keys::{self, ApiKeySummary, NewKeyRequest};
use latchkey::{AppState, Error, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
}

/// The answer to minting a key: the only time the key itself is shown.
#[derive(Serialize)]
pub struct Created {
    success: bool,
    #[serde(rename = "apiKey")]
    api_key: String,
    #[serde(flatten)]
    summary: ApiKeySummary,
}

/// `POST /auth/api-keys` (`/users/generate-api-key`): `200` with the key, shown once. A key
/// cannot mint keys.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateBody>,
) -> Result<Json<Created>> {
    caller.require_credential_scope()?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map(OffsetDateTime::unix_timestamp)
                .map_err(|_| Error::invalid_field("expires_at", "expected an RFC 3339 time"))
        })
        .transpose()?;
    let request = NewKeyRequest {
        name: body.name,
        scopes: body.scopes,
        expires_at,
    };
    let created = api_keys::create(&state, caller.user_id(), request).await?;
    Ok(Json(Created {
        success: true,
        api_key: created.key,
        summary: created.summary,
    }))
}

#[derive(Serialize)]
pub struct Listed {
    success: bool,
    #[serde(rename = "apiKeys")]
    api_keys: Vec<ApiKeySummary>,
}

/// `GET /auth/api-keys`: the caller's live keys, never the secret.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Listed>> {
    let api_keys = api_keys::list(&state, caller.user_id()).await?;
    Ok(Json(Listed {
        success: true,
        api_keys,
    }))
}

#[derive(Serialize)]
pub struct Revoked {
    success: bool,
    message: &'static str,
}

/// `DELETE /auth/api-keys/{id}`: the key stops working at once; another user's id is `404`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Revoked>> {
    api_keys::revoke(&state, caller.user_id(), &id).await?;
    Ok(Json(Revoked {
        success: true,
        message: "API key revoked",
    }))
}
