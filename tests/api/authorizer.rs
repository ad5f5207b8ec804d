//! The Lambda authorizer, fed the events in `events/authorizer/` (HTTP API 2.0, REST TOKEN and
//! REQUEST) parsed into `aws_lambda_events` types as the runtime does, with a real credential in
//! place of `CREDENTIAL`: allowed with the right context, denied for no, invalid or revoked
//! credentials, and the plan and feature gates.

use http::Method;
use lambda_http::aws_lambda_events::iam::IamPolicyEffect;
use latchkey_authorizer::{AuthorizerAnswer, AuthorizerError, AuthorizerEvent, authorize};
use latchkey_tests::{Backend, TestApp, workspace_root};
use serde_json::{Value, json};

use crate::api_keys::{admin_token, gated_app, key_of, mint, promote};

/// The event file with `CREDENTIAL` replaced (`None` drops the credential headers).
fn event(file: &str, credential: Option<&str>) -> AuthorizerEvent {
    let text = std::fs::read_to_string(workspace_root().join("events/authorizer").join(file))
        .expect("read the event");
    let mut value: Value = match credential {
        Some(credential) => serde_json::from_str(&text.replace("CREDENTIAL", credential)),
        None => serde_json::from_str(&text),
    }
    .expect("the event is JSON");
    if credential.is_none() {
        for field in ["headers", "multiValueHeaders"] {
            if let Some(headers) = value[field].as_object_mut() {
                headers.remove("authorization");
                headers.remove("x-api-key");
            }
        }
        if let Some(event) = value.as_object_mut() {
            event.remove("authorizationToken");
        }
    }
    AuthorizerEvent::from_value(value).expect("aws_lambda_events parses the event")
}

async fn simple(app: &TestApp, credential: Option<&str>) -> (bool, Value) {
    match authorize(&app.state, event("http-api-v2.json", credential)).await {
        Ok(AuthorizerAnswer::Simple(response)) => (response.is_authorized, response.context),
        other => panic!("an HTTP API event gets a simple response: {other:?}"),
    }
}

/// (allowed for the event's own route, context, the policy's denied resources)
async fn policy(
    app: &TestApp,
    file: &str,
    credential: Option<&str>,
) -> Result<(bool, Value, Vec<String>), AuthorizerError> {
    let answer = authorize(&app.state, event(file, credential)).await?;
    let AuthorizerAnswer::Policy(response) = answer else {
        panic!("a REST event gets a policy");
    };
    let method_arn = match file {
        "rest-token.json" => {
            "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/reports/7"
        }
        _ => "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/POST/analytics",
    };
    let statements = &response.policy_document.statement;
    assert_eq!(statements[0].effect, IamPolicyEffect::Allow);
    assert_eq!(
        statements[0].resource,
        vec!["arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*"]
    );
    let denied: Vec<String> = statements
        .iter()
        .filter(|s| s.effect == IamPolicyEffect::Deny)
        .flat_map(|s| s.resource.clone())
        .collect();
    // IAM `*` matches any characters, `/` included.
    let covers = |pattern: &str| {
        let parts: Vec<&str> = pattern.split('*').collect();
        let mut rest = method_arn;
        parts.iter().enumerate().all(|(i, part)| {
            if i == 0 {
                rest.strip_prefix(part).map(|r| rest = r).is_some()
            } else if i == parts.len() - 1 {
                rest.ends_with(part)
            } else {
                rest.find(part)
                    .map(|at| rest = &rest[at + part.len()..])
                    .is_some()
            }
        })
    };
    let allowed = !denied.iter().any(|pattern| covers(pattern));
    Ok((allowed, response.context, denied))
}

#[tokio::test]
async fn the_authorizer_allows_with_context_and_refuses_by_the_gates() {
    let app = gated_app(Backend::Embedded).await;
    let admin = admin_token(&app).await;
    let free = app.signed_up().await;
    let business = app.signed_up().await;
    promote(
        &app,
        &admin,
        business.user_id(),
        json!({"plan": "business"}),
    )
    .await;
    let business = app.signed_in(&business.user).await;

    // HTTP API: GET /reports/7 needs business.
    let (authorized, context) = simple(&app, Some(business.access_token())).await;
    assert!(authorized, "{context}");
    assert_eq!(context["sub"], business.user_id());
    assert_eq!(context["plan"], "business");
    assert_eq!(context["features"], "advanced_analytics");
    assert_eq!(context["amr"], "pwd");
    assert_eq!(
        context["org"],
        business.response.json["user"]["organization_id"]
    );
    let (authorized, context) = simple(&app, Some(free.access_token())).await;
    assert!(!authorized);
    assert_eq!(context["code"], "plan_required");
    assert_eq!(context["currentPlan"], "free");
    assert_eq!(context["requiredPlan"], "business");
    let (authorized, context) = simple(&app, None).await;
    assert!(!authorized);
    assert_eq!(context["code"], "authentication_required");
    let (authorized, _) = simple(&app, Some("not.a.jwt")).await;
    assert!(!authorized);

    // REST TOKEN: the same route, answered with a policy.
    let (allowed, context, denied) = policy(&app, "rest-token.json", Some(business.access_token()))
        .await
        .unwrap();
    assert!(allowed, "{denied:?}");
    assert_eq!(context["sub"], business.user_id());
    let (allowed, context, denied) = policy(&app, "rest-token.json", Some(free.access_token()))
        .await
        .unwrap();
    assert!(!allowed, "{denied:?}");
    assert_eq!(context["code"], "plan_required");
    assert_eq!(context["statusCode"], 403);
    assert!(matches!(
        policy(&app, "rest-token.json", None).await,
        Err(AuthorizerError::Unauthorized)
    ));
    assert!(matches!(
        policy(&app, "rest-token.json", Some("forged.token.here")).await,
        Err(AuthorizerError::Unauthorized)
    ));

    // REST REQUEST with X-API-Key: POST /analytics needs the feature, which business grants.
    let free_key = key_of(&mint(&app, &free, json!({})).await);
    let (allowed, context, _) = policy(&app, "rest-request.json", Some(&free_key))
        .await
        .unwrap();
    assert!(!allowed);
    assert_eq!(context["code"], "feature_required");
    assert_eq!(context["requiredFeature"], "advanced_analytics");
    let created = mint(&app, &business, json!({})).await;
    let key = key_of(&created);
    let (allowed, context, denied) = policy(&app, "rest-request.json", Some(&key)).await.unwrap();
    assert!(allowed, "{denied:?}");
    assert_eq!(context["amr"], "api_key");
    assert!(denied.is_empty(), "business passes every gate: {denied:?}");

    // A revoked key fails at once.
    let path = format!("/auth/api-keys/{}", created.json["id"].as_str().unwrap());
    let revoked = app
        .with_bearer(Method::DELETE, &path, business.access_token(), None)
        .await;
    assert_eq!(revoked.status, 200);
    assert!(matches!(
        policy(&app, "rest-request.json", Some(&key)).await,
        Err(AuthorizerError::Unauthorized)
    ));
    let (authorized, _) = simple(&app, Some(&key)).await;
    assert!(!authorized);
}

#[test]
fn unauthorized_reaches_api_gateway_as_exactly_that_message() {
    let diagnostic: lambda_runtime::Diagnostic = AuthorizerError::Unauthorized.into();
    assert_eq!(diagnostic.error_message, "Unauthorized");
}
