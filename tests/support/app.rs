//! `TestApp`: a whole Latchkey app (every endpoint group merged) on fresh state, and the helpers
//! that make a flow test a few lines long. Every JSON answer it reads is validated against the
//! OpenAPI schema of its route and status (`crate::schema`).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use http::{Method, Request};
use latchkey::adapters::system::SystemClock;
use latchkey::ports::{Clock, Table};
use latchkey::{AppState, Config};
use serde_json::Value;
use tower::ServiceExt;

use crate::aws::{fresh_cipher_at, fresh_mailer_at, fresh_table_at};
use crate::http::TestResponse;
use crate::mail::{RecordRecipients, SentMail, sent_mail};
use crate::schema;

/// Which adapters back a test app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded store, outbox, local key file.
    Embedded,
    /// DynamoDB, SES and KMS on the local AWS emulator.
    Aws,
}

pub const BOTH: [Backend; 2] = [Backend::Embedded, Backend::Aws];

/// A whole Latchkey app, every endpoint group merged, on fresh state.
pub struct TestApp {
    pub backend: Backend,
    pub state: AppState,
    pub router: Router,
    pub dir: tempfile::TempDir,
    /// Who this app has mailed, so `sent_mail` can pick its messages out of the shared emulator.
    recipients: Arc<Mutex<Vec<String>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawn with configuration changes.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_wrapping(backend, configure, |table| table).await
    }

    /// Spawn with the table wrapped in a decorator (a counting wrapper, say) around the real
    /// adapter.
    pub async fn spawn_wrapping(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
        wrap: impl FnOnce(Arc<dyn Table>) -> Arc<dyn Table>,
    ) -> Self {
        Self::spawn_at(backend, None, configure, wrap).await
    }

    /// Spawn on the AWS backend with every AWS client (DynamoDB, KMS, SES) going through
    /// `endpoint`: a lane of the fault-injection proxy in front of the emulator.
    pub async fn spawn_aws_through(endpoint: &str, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_at(Backend::Aws, Some(endpoint), configure, |table| table).await
    }

    async fn spawn_at(
        backend: Backend,
        endpoint: Option<&str>,
        configure: impl FnOnce(&mut Config),
        wrap: impl FnOnce(Arc<dyn Table>) -> Arc<dyn Table>,
    ) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (table, dir) = fresh_table_at(backend, clock.clone(), endpoint).await;
        let table = wrap(table);
        let mut config = Config::for_tests(dir.path());
        configure(&mut config);
        let cipher = fresh_cipher_at(backend, dir.path(), endpoint).await;
        let recipients = Arc::new(Mutex::new(Vec::new()));
        let mailer = Arc::new(RecordRecipients {
            inner: fresh_mailer_at(backend, dir.path(), &config.mail_from, endpoint).await,
            recipients: recipients.clone(),
        });
        let state = AppState::new(config, table, mailer, cipher, clock);
        let router = latchkey_local::app(state.clone());
        Self {
            backend,
            state,
            router,
            dir,
            recipients,
        }
    }

    /// The mail this app has sent, in send order, read back from the outbox files or from the
    /// emulator's SES.
    pub async fn sent_mail(&self) -> Vec<SentMail> {
        let recipients = self.recipients.lock().expect("recipients lock").clone();
        sent_mail(self.backend, self.dir.path(), &recipients).await
    }

    /// Send a request through the app in-process. A JSON answer on a declared route must
    /// validate against that route's documented schema for its status.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let response = TestResponse::read(response).await;
        if let Some(route) = schema::route_of(&method, &path)
            && response.is_json()
        {
            schema::check(&method, &route, response.status.as_u16(), &response.json);
        }
        response
    }

    /// A request with an optional JSON body and extra headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("a valid request"))
            .await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.request(Method::POST, path, Some(body), &[]).await
    }
}

/// Someone to sign up as: a unique email and a password the policy accepts.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub email: String,
    pub password: String,
    pub name: String,
}

impl TestUser {
    pub fn generate() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            email: format!("user-{}@example.com", &id[..12]),
            password: format!("Velvet-orbit-{}-tangerine", &id[12..20]),
            name: "Test User".to_owned(),
        }
    }

    pub fn sign_up_body(&self) -> Value {
        serde_json::json!({"email": self.email, "password": self.password, "name": self.name})
    }

    pub fn sign_in_body(&self) -> Value {
        serde_json::json!({"email": self.email, "password": self.password})
    }
}

/// `POST /auth/sign-up`.
pub async fn sign_up(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post(
        "/auth/sign-up",
        &serde_json::json!({"email": email, "password": password, "name": "Test User"}),
    )
    .await
}

/// `POST /auth/sign-in`.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post(
        "/auth/sign-in",
        &serde_json::json!({"email": email, "password": password}),
    )
    .await
}

/// A signed-up user and the tokens of their first session.
pub struct SignedIn {
    pub user: TestUser,
    pub response: TestResponse,
}

impl SignedIn {
    pub fn access_token(&self) -> &str {
        self.response.json["access_token"]
            .as_str()
            .expect("an access token")
    }

    pub fn refresh_token(&self) -> &str {
        self.response.json["refresh_token"]
            .as_str()
            .expect("a refresh token")
    }

    pub fn user_id(&self) -> &str {
        self.response.json["user"]["id"]
            .as_str()
            .expect("a user id")
    }

    /// The user id, typed, for calling services and key builders.
    pub fn user(&self) -> latchkey::domain::ids::UserId {
        latchkey::domain::ids::UserId::parse(self.user_id()).expect("a UUID user id")
    }
}

impl TestApp {
    /// Sign up a fresh user; panics unless it answers 201.
    pub async fn signed_up(&self) -> SignedIn {
        let user = TestUser::generate();
        let response = self.post("/auth/sign-up", &user.sign_up_body()).await;
        assert_eq!(response.status, 201, "sign-up: {}", response.text);
        SignedIn { user, response }
    }

    /// Sign in an existing user again (a second session); panics unless it answers 200.
    pub async fn signed_in(&self, user: &TestUser) -> SignedIn {
        let response = self.post("/auth/sign-in", &user.sign_in_body()).await;
        assert_eq!(response.status, 200, "sign-in: {}", response.text);
        SignedIn {
            user: user.clone(),
            response,
        }
    }

    /// A request with `Authorization: Bearer <token>`.
    pub async fn with_bearer(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let authorization = format!("Bearer {token}");
        self.request(method, path, body, &[("authorization", &authorization)])
            .await
    }

    /// `POST /auth/refresh` with the token in the body.
    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.post(
            "/auth/refresh",
            &serde_json::json!({"refresh_token": refresh_token}),
        )
        .await
    }
}
