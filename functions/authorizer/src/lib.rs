//! The API Gateway Lambda authorizer for a platform's other APIs: a Bearer access token or an API
//! key (`Authorization` or `X-API-Key`), checked against `LATCHKEY_GATES` by the decision every
//! door shares (`latchkey::services::gate`).
//!
//! - HTTP API (payload 2.0, simple responses): `isAuthorized` and a `context` with `sub`, `org`,
//!   `plan`, `features`, `amr` (lists comma-separated). A refusal carries the error body's fields
//!   in `context`; HTTP APIs answer any refusal `403`.
//! - REST API TOKEN and REQUEST events: an IAM policy and the same context. No or invalid
//!   credentials fail with the error `Unauthorized` (API Gateway's `401`). Because API Gateway
//!   caches a policy per identity and reuses it for other routes, every policy allows the whole
//!   API (`<api>/<stage>/*`) and explicitly denies each gated route this caller fails; the
//!   route of a refused request is among them, and its context carries seed 001's gate body
//!   (`$context.authorizer.code`, `.message`, `.currentPlan`, ...) for the gateway response.

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_http::aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use lambda_http::http::{HeaderMap, HeaderValue, Method, Uri, header};
use lambda_runtime::{LambdaEvent, service_fn};
use latchkey::http::caller::Caller;
use latchkey::services::gate::{self, Allowed};
use latchkey::{AppState, Config, Error, telemetry};
use serde::Serialize;
use serde_json::{Map, Value};

/// The three event shapes API Gateway sends an authorizer.
#[derive(Debug)]
pub enum AuthorizerEvent {
    /// HTTP API, payload format 2.0.
    HttpApi(Box<ApiGatewayV2CustomAuthorizerV2Request>),
    /// REST API, `TOKEN` authorizer.
    Token(ApiGatewayCustomAuthorizerRequest),
    /// REST API, `REQUEST` authorizer.
    Request(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
}

impl AuthorizerEvent {
    /// Tell the shapes apart: 2.0 events carry `version`, REST ones `type`.
    pub fn from_value(event: Value) -> Result<Self, serde_json::Error> {
        if event["version"] == "2.0" {
            return serde_json::from_value(event).map(|e| Self::HttpApi(Box::new(e)));
        }
        if event["type"] == "TOKEN" {
            return serde_json::from_value(event).map(Self::Token);
        }
        serde_json::from_value(event).map(|e| Self::Request(Box::new(e)))
    }
}

/// What the authorizer answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AuthorizerAnswer {
    Simple(ApiGatewayV2CustomAuthorizerSimpleResponse),
    Policy(ApiGatewayCustomAuthorizerResponse),
}

/// A failure API Gateway must see as an error rather than an answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    /// REST APIs answer `401` for exactly this message.
    #[error("Unauthorized")]
    Unauthorized,
    /// The event could not be read, or a backend failed: API Gateway answers `500`.
    #[error("{0}")]
    Failed(String),
}

impl From<AuthorizerError> for lambda_runtime::Diagnostic {
    fn from(error: AuthorizerError) -> Self {
        // API Gateway matches the message `Unauthorized` exactly; the type is for logs.
        Self {
            error_type: match error {
                AuthorizerError::Unauthorized => "Unauthorized",
                AuthorizerError::Failed(_) => "AuthorizerFailed",
            }
            .to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The guarded request as the decision needs it.
struct Guarded {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    /// `arn:...:<api>/<stage>` for REST policies.
    api_arn: Option<String>,
    method_arn: Option<String>,
}

fn uri(path: &str, query: Option<&str>) -> Result<Uri, AuthorizerError> {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let text = match query.filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    text.parse()
        .map_err(|_| AuthorizerError::Failed(format!("the event's path is not a URI: {text}")))
}

/// `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path...>` split into the API
/// root, the method and the path.
fn split_method_arn(arn: &str) -> Option<(String, String, String)> {
    let mut parts = arn.splitn(4, '/');
    let api = parts.next()?;
    let stage = parts.next()?;
    let method = parts.next()?;
    let path = parts.next().unwrap_or_default();
    Some((
        format!("{api}/{stage}"),
        method.to_owned(),
        format!("/{path}"),
    ))
}

impl Guarded {
    fn of(event: AuthorizerEvent) -> Result<Self, AuthorizerError> {
        match event {
            AuthorizerEvent::HttpApi(event) => {
                let context = &event.request_context;
                let mut path = event
                    .raw_path
                    .clone()
                    .or_else(|| context.http.path.clone())
                    .unwrap_or_else(|| "/".to_owned());
                // A named stage appears in rawPath; `$default` does not.
                if let Some(stage) = context.stage.as_deref().filter(|s| *s != "$default") {
                    let prefix = format!("/{stage}");
                    if path == prefix || path.starts_with(&format!("{prefix}/")) {
                        path = path[prefix.len()..].to_owned();
                    }
                }
                let mut headers = event.headers.clone();
                if !event.cookies.is_empty()
                    && !headers.contains_key(header::COOKIE)
                    && let Ok(value) = HeaderValue::from_str(&event.cookies.join("; "))
                {
                    headers.insert(header::COOKIE, value);
                }
                Ok(Self {
                    method: context.http.method.clone(),
                    uri: uri(&path, event.raw_query_string.as_deref())?,
                    headers,
                    api_arn: None,
                    method_arn: None,
                })
            }
            AuthorizerEvent::Token(event) => {
                let method_arn = event.method_arn.clone().unwrap_or_default();
                let (api_arn, method, path) = split_method_arn(&method_arn).ok_or_else(|| {
                    AuthorizerError::Failed("the TOKEN event has no methodArn".into())
                })?;
                let mut headers = HeaderMap::new();
                if let Some(token) = event.authorization_token.as_deref().map(str::trim) {
                    // The identity source may be `Authorization` ("Bearer x") or a bare
                    // credential (an `X-API-Key` header, say).
                    let value = if token.contains(' ') {
                        token.to_owned()
                    } else {
                        format!("Bearer {token}")
                    };
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.insert(header::AUTHORIZATION, value);
                    }
                }
                Ok(Self {
                    method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
                    uri: uri(&path, None)?,
                    headers,
                    api_arn: Some(api_arn),
                    method_arn: Some(method_arn),
                })
            }
            AuthorizerEvent::Request(event) => {
                let method_arn = event.method_arn.clone().unwrap_or_default();
                let (api_arn, arn_method, arn_path) =
                    split_method_arn(&method_arn).ok_or_else(|| {
                        AuthorizerError::Failed("the REQUEST event has no methodArn".into())
                    })?;
                let method = event.http_method.clone().unwrap_or_else(|| {
                    Method::from_bytes(arn_method.as_bytes()).unwrap_or(Method::GET)
                });
                let path = event.path.clone().unwrap_or(arn_path);
                Ok(Self {
                    method,
                    uri: uri(&path, None)?,
                    headers: event.headers.clone(),
                    api_arn: Some(api_arn),
                    method_arn: Some(method_arn),
                })
            }
        }
    }
}

/// Decide for one event.
pub async fn authorize(
    state: &AppState,
    event: AuthorizerEvent,
) -> Result<AuthorizerAnswer, AuthorizerError> {
    let rest = !matches!(event, AuthorizerEvent::HttpApi(_));
    let guarded = Guarded::of(event)?;
    let caller =
        match gate::authenticate(state, &guarded.method, &guarded.uri, &guarded.headers).await {
            Ok(caller) => Some(caller),
            Err(error) if error.status().is_server_error() => {
                return Err(AuthorizerError::Failed(
                    error.cause_chain().unwrap_or(error.message),
                ));
            }
            Err(error) if rest => {
                tracing::info!(code = %error.code, "authorizer: no valid credentials");
                return Err(AuthorizerError::Unauthorized);
            }
            Err(error) => return Ok(simple(Err(error))),
        };
    let decision = gate::decide(
        caller.as_ref(),
        guarded.method.as_str(),
        guarded.uri.path(),
        &state.config.gates,
    );
    if !rest {
        return Ok(simple(decision));
    }
    Ok(policy(state, &guarded, caller.as_ref(), decision))
}

fn allowed_context(allowed: &Allowed) -> Map<String, Value> {
    allowed
        .flat()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect()
}

/// The error body's fields, as context (every value a string, number or boolean).
fn refused_context(error: &Error) -> Map<String, Value> {
    match error.body() {
        Value::Object(body) => body,
        _ => Map::new(),
    }
}

fn simple(decision: Result<Allowed, Error>) -> AuthorizerAnswer {
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    match decision {
        Ok(allowed) => {
            response.is_authorized = true;
            response.context = Value::Object(allowed_context(&allowed));
        }
        Err(error) => {
            response.is_authorized = false;
            response.context = Value::Object(refused_context(&error));
        }
    }
    AuthorizerAnswer::Simple(response)
}

fn statement(effect: IamPolicyEffect, resources: Vec<String>) -> IamPolicyStatement {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = effect;
    statement.resource = resources;
    statement
}

fn policy(
    state: &AppState,
    guarded: &Guarded,
    caller: Option<&Caller>,
    decision: Result<Allowed, Error>,
) -> AuthorizerAnswer {
    let api_arn = guarded.api_arn.clone().unwrap_or_default();
    let mut denied: Vec<String> = match caller {
        Some(caller) => state
            .config
            .gates
            .refused_arn_tails(|gate| gate::check_gate(&caller.claims, gate).is_ok())
            .into_iter()
            .map(|tail| format!("{api_arn}/{tail}"))
            .collect(),
        None => Vec::new(),
    };
    let context = match &decision {
        Ok(allowed) => allowed_context(allowed),
        Err(error) => {
            // Named first, so the refused route is denied even were the tails to miss it.
            if let Some(method_arn) = &guarded.method_arn {
                denied.insert(0, method_arn.clone());
            }
            refused_context(error)
        }
    };
    let mut statements = vec![statement(
        IamPolicyEffect::Allow,
        vec![format!("{api_arn}/*")],
    )];
    if !denied.is_empty() {
        statements.push(statement(IamPolicyEffect::Deny, denied));
    }
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".to_owned());
    document.statement = statements;
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(
        caller
            .map(|c| c.claims.sub.to_string())
            .unwrap_or_else(|| "anonymous".into()),
    );
    response.policy_document = document;
    response.context = Value::Object(context);
    AuthorizerAnswer::Policy(response)
}

/// The function's body: state once per cold start, then one decision per event.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    telemetry::init(config.log_json);
    let state = AppState::from_config(config).await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let event = AuthorizerEvent::from_value(event.payload)
            .map_err(|e| AuthorizerError::Failed(format!("unreadable authorizer event: {e}")))?;
        authorize(state, event).await
    }))
    .await
}
