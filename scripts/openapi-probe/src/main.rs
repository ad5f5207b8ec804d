#![allow(unused_braces)]
//! Ten routes shaped like the accounts group's, declared with the generator the feature names
//! (none: plain axum). Each variant builds its router (and, with a generator, the document's
//! path items) at start-up, as a Lambda function of ours does, then serves Lambda events.

use axum::Json;
use axum::extract::Path;
use serde::{Deserialize, Serialize};

macro_rules! schema_types {
    ($($item:item)*) => {
        $(
            #[derive(Serialize, Deserialize)]
            #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
            #[cfg_attr(feature = "aide", derive(schemars::JsonSchema))]
            $item
        )*
    };
}

schema_types! {
    pub struct Credentials { pub email: String, pub password: String, pub name: Option<String> }
    pub struct UserView { pub id: String, pub email: String, pub name: String, pub email_verified: bool, pub plan: String, pub created_at: i64 }
    pub struct TokenAnswer { pub success: bool, pub access_token: String, pub refresh_token: String, pub token_type: String, pub expires_in: u64, pub user: UserView }
    pub struct RefreshBody { pub refresh_token: Option<String> }
    pub struct EmailBody { pub email: String, pub redirect_url: Option<String> }
    pub struct Accepted { pub success: bool, pub message: String }
    pub struct SessionView { pub id: String, pub created_at: i64, pub last_used_at: i64, pub user_agent: String, pub ip: String, pub current: bool }
    pub struct SessionList { pub sessions: Vec<SessionView> }
    pub struct PasswordChange { pub current_password: String, pub new_password: String }
    pub struct Status { pub authenticated: bool, pub user: Option<UserView> }
    pub struct ErrorBody { pub error: String, pub message: String, pub field: Option<String> }
}

fn user() -> UserView {
    UserView {
        id: "u".into(),
        email: "a@example.com".into(),
        name: "A".into(),
        email_verified: false,
        plan: "free".into(),
        created_at: 0,
    }
}

fn tokens() -> TokenAnswer {
    TokenAnswer {
        success: true,
        access_token: "a".into(),
        refresh_token: "r".into(),
        token_type: "bearer".into(),
        expires_in: 900,
        user: user(),
    }
}

fn accepted() -> Accepted {
    Accepted {
        success: true,
        message: "ok".into(),
    }
}

macro_rules! handler {
    ($method:ident $path:literal, $name:ident($($arg:ident: $ty:ty),*) -> $out:ty $body:block) => {
        #[cfg_attr(feature = "utoipa", utoipa::path($method, path = $path,
            responses((status = 200, body = $out), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))))]
        async fn $name($($arg: $ty),*) -> Json<$out> {
            $(let _ = $arg;)*
            Json($body)
        }
    };
}

handler!(post "/auth/sign-up", sign_up(body: Json<Credentials>) -> TokenAnswer { tokens() });
handler!(post "/auth/sign-in", sign_in(body: Json<Credentials>) -> TokenAnswer { tokens() });
handler!(post "/auth/refresh", refresh(body: Json<RefreshBody>) -> TokenAnswer { tokens() });
handler!(get "/auth/me", me() -> UserView { user() });
handler!(get "/auth/status", status() -> Status { Status { authenticated: true, user: Some(user()) } });
handler!(post "/auth/logout", logout() -> Accepted { accepted() });
handler!(post "/auth/magic-link", magic_link(body: Json<EmailBody>) -> Accepted { accepted() });
handler!(get "/auth/sessions", sessions() -> SessionList { SessionList { sessions: vec![] } });
handler!(delete "/auth/sessions/{id}", delete_session(id: Path<String>) -> Accepted { accepted() });
handler!(post "/auth/password", change_password(body: Json<PasswordChange>) -> Accepted { accepted() });

#[cfg(not(any(feature = "utoipa", feature = "aide")))]
fn router() -> axum::Router {
    use axum::routing::{delete, get, post};
    axum::Router::new()
        .route("/auth/sign-up", post(sign_up))
        .route("/auth/sign-in", post(sign_in))
        .route("/auth/refresh", post(refresh))
        .route("/auth/me", get(me))
        .route("/auth/status", get(status))
        .route("/auth/logout", post(logout))
        .route("/auth/magic-link", post(magic_link))
        .route("/auth/sessions", get(sessions))
        .route("/auth/sessions/{id}", delete(delete_session))
        .route("/auth/password", post(change_password))
}

#[cfg(feature = "utoipa")]
fn router() -> axum::Router {
    use utoipa_axum::{router::OpenApiRouter, routes};
    let (router, api) = OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(me))
        .routes(routes!(status))
        .routes(routes!(logout))
        .routes(routes!(magic_link))
        .routes(routes!(sessions))
        .routes(routes!(delete_session))
        .routes(routes!(change_password))
        .split_for_parts();
    std::hint::black_box(api.paths.paths.len());
    router
}

#[cfg(feature = "aide")]
fn router() -> axum::Router {
    use aide::axum::ApiRouter;
    use aide::axum::routing::{delete, get, post};
    let mut api = aide::openapi::OpenApi::default();
    let router = ApiRouter::new()
        .api_route("/auth/sign-up", post(sign_up))
        .api_route("/auth/sign-in", post(sign_in))
        .api_route("/auth/refresh", post(refresh))
        .api_route("/auth/me", get(me))
        .api_route("/auth/status", get(status))
        .api_route("/auth/logout", post(logout))
        .api_route("/auth/magic-link", post(magic_link))
        .api_route("/auth/sessions", get(sessions))
        .api_route("/auth/sessions/{id}", delete(delete_session))
        .api_route("/auth/password", post(change_password))
        .finish_api(&mut api);
    std::hint::black_box(api.paths.as_ref().map(|p| p.paths.len()));
    router
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(router()).await
}
