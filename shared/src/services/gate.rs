//! The one decision every door shares (the Lambda authorizer, `/auth/check`, the axum gate
//! layers): caller + method + path + `LATCHKEY_GATES` -> allow with context, `401`, or `403` with
//! seed 001's plan or feature body.

use axum::http::{HeaderMap, Method, Uri};
use serde::Serialize;

use crate::domain::gates::{Gate, Gates};
use crate::domain::plans::Plan;
use crate::http::caller::{self, Caller};
use crate::services::profiles;
use crate::services::tokens::AccessClaims;
use crate::{AppState, Error, Result};

/// What an allowed request passes on to the service behind the door (also sent as
/// `X-Auth-User`, `X-Auth-Org`, `X-Auth-Plan`, `X-Auth-Features`, `X-Auth-Amr`, lists
/// comma-separated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = GateContext)]
pub struct Allowed {
    /// The user id.
    #[schema(format = "uuid")]
    pub sub: String,
    /// The active workspace.
    pub org: Option<String>,
    pub plan: String,
    pub features: Vec<String>,
    pub amr: Vec<String>,
}

/// The headers `/auth/check` answers with (and a proxy copies to the upstream request).
pub const HEADER_USER: &str = "x-auth-user";
pub const HEADER_ORG: &str = "x-auth-org";
pub const HEADER_PLAN: &str = "x-auth-plan";
pub const HEADER_FEATURES: &str = "x-auth-features";
pub const HEADER_AMR: &str = "x-auth-amr";

impl Allowed {
    pub fn of_caller(caller: &Caller) -> Self {
        Self::of(&caller.claims)
    }

    fn of(claims: &AccessClaims) -> Self {
        Self {
            sub: claims.sub.to_string(),
            org: claims.org.as_ref().map(String::from),
            plan: claims.plan.clone(),
            features: claims.features.clone(),
            amr: claims.amr.clone(),
        }
    }

    /// The context as flat strings (lists comma-separated): API Gateway's REST authorizer
    /// context takes no arrays, and headers take none either.
    pub fn flat(&self) -> [(&'static str, String); 5] {
        [
            ("sub", self.sub.clone()),
            ("org", self.org.clone().unwrap_or_default()),
            ("plan", self.plan.clone()),
            ("features", self.features.join(",")),
            ("amr", self.amr.join(",")),
        ]
    }

    /// The `X-Auth-*` headers of `/auth/check`.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        let [sub, org, plan, features, amr] = self.flat();
        [
            (HEADER_USER, sub.1),
            (HEADER_ORG, org.1),
            (HEADER_PLAN, plan.1),
            (HEADER_FEATURES, features.1),
            (HEADER_AMR, amr.1),
        ]
    }
}

/// Whether the caller passes one gate; the refusal is seed 001's body.
pub fn check_gate(claims: &AccessClaims, gate: &Gate) -> Result<()> {
    if let Some(required) = gate.plan
        && Plan::lenient(&claims.plan) < required
    {
        return Err(Error::plan_required(&claims.plan, required.as_str()));
    }
    if let Some(feature) = &gate.feature
        && !claims.features.iter().any(|f| f == feature)
    {
        return Err(Error::feature_required(&claims.plan, feature));
    }
    Ok(())
}

/// The decision: no caller is `401`; a caller who fails a gate the route table names for this
/// method and path is `403`; anyone else is allowed, with the context to pass on.
pub fn decide(caller: Option<&Caller>, method: &str, path: &str, gates: &Gates) -> Result<Allowed> {
    let caller = caller.ok_or_else(Error::unauthenticated)?;
    for gate in gates.matching(method, path) {
        check_gate(&caller.claims, gate)?;
    }
    Ok(Allowed::of(&caller.claims))
}

/// The caller behind the credentials in `headers` for the guarded request `method uri`, as every
/// door authenticates it: valid credentials (a JWT costs the session read, an API key its one
/// read), and a holder still a member of the workspace the credentials name (`org`; from the
/// per-instance profile cache, so a warm instance pays no read for it).
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Caller> {
    let caller = caller::authenticate_request(state, method, uri, headers).await?;
    profiles::require_token_workspace_member(state, &caller.claims).await?;
    Ok(caller)
}

/// `authenticate`, then decide with `LATCHKEY_GATES`.
pub async fn check(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Allowed> {
    let caller = authenticate(state, method, uri, headers).await?;
    decide(
        Some(&caller),
        method.as_str(),
        uri.path(),
        &state.config.gates,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::caller::CredentialSource;

    fn caller(plan: &str, features: &[&str]) -> Caller {
        Caller {
            claims: AccessClaims {
                iss: "i".into(),
                aud: "a".into(),
                sub: "u1".into(),
                exp: 0,
                iat: 0,
                nbf: 0,
                jti: "j".into(),
                sid: "s".into(),
                scope: String::new(),
                org: Some("w1".into()),
                role: None,
                plan: plan.into(),
                features: features.iter().map(|f| (*f).to_owned()).collect(),
                email: "a@b.co".into(),
                email_verified: true,
                amr: vec!["pwd".into()],
                aal: 1,
            },
            source: CredentialSource::Bearer,
            api_key_id: None,
        }
    }

    fn gates() -> Gates {
        Gates::parse(
            r#"{"GET /reports/*": {"plan": "business"}, "POST /analytics": {"feature": "advanced_analytics"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn no_caller_is_401_and_ungated_routes_need_only_a_caller() {
        assert_eq!(
            decide(None, "GET", "/x", &gates()).unwrap_err().status(),
            401
        );
        let allowed = decide(Some(&caller("free", &[])), "GET", "/x", &gates()).unwrap();
        assert_eq!(allowed.sub, "u1");
        assert_eq!(allowed.org.as_deref(), Some("w1"));
    }

    #[test]
    fn a_plan_below_the_required_one_gets_the_upgrade_body() {
        let error = decide(
            Some(&caller("personal", &[])),
            "GET",
            "/reports/1",
            &gates(),
        )
        .unwrap_err();
        assert_eq!(error.status(), 403);
        let body = error.body();
        assert_eq!(body["code"], "plan_required");
        assert_eq!(body["error"], "Upgrade required");
        assert_eq!(body["currentPlan"], "personal");
        assert_eq!(body["requiredPlan"], "business");
        assert!(
            decide(
                Some(&caller("enterprise", &[])),
                "GET",
                "/reports/1",
                &gates()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_missing_feature_gets_the_feature_body() {
        let error = decide(Some(&caller("free", &[])), "POST", "/analytics", &gates()).unwrap_err();
        let body = error.body();
        assert_eq!(body["code"], "feature_required");
        assert_eq!(body["error"], "Feature not available");
        assert_eq!(body["currentPlan"], "free");
        assert_eq!(body["requiredFeature"], "advanced_analytics");
        let with = caller("free", &["advanced_analytics"]);
        assert!(decide(Some(&with), "POST", "/analytics", &gates()).is_ok());
    }
}
