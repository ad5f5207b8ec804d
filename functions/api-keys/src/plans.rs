//! `PUT /admin/users/{id}/plan`: an administrator sets a user's plan and features.

use axum::extract::{Path, State};
use latchkey::domain::ids::UserId;
use latchkey::domain::plans::Plan;
use latchkey::http::answers::{ErrorResponse, errors};
use latchkey::http::{Caller, Json};
use latchkey::services::plans::{self, PlanChanged};
use latchkey::{AppState, Result};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlan {
    plan: Plan,
    /// Features of the user's own, beyond the plan's (1 to 64 of a-z 0-9 _ . : -; at most 50);
    /// left out, they stay as they are.
    #[serde(default)]
    features: Option<Vec<String>>,
}

/// `200` with the user's plan and features; `403` for anyone but an administrator.
#[utoipa::path(put, path = "/admin/users/{id}/plan", operation_id = "setUserPlan",
    tag = "api-keys", summary = "Set a user's plan and features (administrators)",
    description = "Administrators are the verified addresses in `LATCHKEY_ADMIN_EMAILS`. The \
        change shows in the user's tokens from their next sign-in, refresh or workspace switch, \
        and at once for their API keys.",
    params(("id" = String, Path, format = "uuid", description = "The user's id.")),
    request_body = SetPlan,
    security(("bearerAuth" = []), ("apiKeyHeader" = []), ("cookieAuth" = [], "csrfToken" = [])),
    responses(
        (status = 200, description = "The user's plan and features.", body = PlanChanged),
        (status = 400, description = errors::BAD_REQUEST, body = ErrorResponse),
        (status = 401, description = errors::UNAUTHORIZED, body = ErrorResponse),
        (status = 403, description = "`forbidden`: the caller is not an administrator.",
            body = ErrorResponse),
        (status = 404, description = "`not_found`: no user with this id.", body = ErrorResponse),
        (status = "default", description = errors::OTHER, body = ErrorResponse),
    ))]
pub async fn set_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Json(body): Json<SetPlan>,
) -> Result<Json<PlanChanged>> {
    let user_id = UserId::parse(&user_id);
    let changed = plans::set_plan(
        &state,
        &caller.claims,
        user_id.as_ref(),
        body.plan,
        body.features,
    )
    .await?;
    Ok(Json(changed))
}
