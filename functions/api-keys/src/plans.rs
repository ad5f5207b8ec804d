//! `PUT /admin/users/{id}/plan`: an administrator sets a user's plan and features.

use axum::extract::{Path, State};
use latchkey::domain::plans::Plan;
use latchkey::http::{Caller, Json};
use latchkey::services::plans::{self, PlanChanged};
use latchkey::{AppState, Result};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    plan: Plan,
    /// Features of the user's own, beyond the plan's; left out, they stay as they are.
    #[serde(default)]
    features: Option<Vec<String>>,
}

/// `200` with the user's plan and features; `403` for anyone but an administrator.
pub async fn set_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Json(body): Json<PlanBody>,
) -> Result<Json<PlanChanged>> {
    let changed =
        plans::set_plan(&state, &caller.claims, &user_id, body.plan, body.features).await?;
    Ok(Json(changed))
}
