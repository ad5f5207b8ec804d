//! The test harness every workspace-level test uses: `TestApp::spawn(backend)` gives a fresh app
//! (fresh data dir, or a fresh DynamoDB table and KMS key on the emulator) and helpers that make a
//! test a few lines long.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use latchkey::adapters::{
    dynamodb::DynamoTable, embedded::EmbeddedTable, kms::KmsCipher, local_cipher::LocalCipher,
};
use latchkey::adapters::{outbox::Outbox, ses::SesMailer, system::SystemClock};
use latchkey::ports::{Cipher, Clock, Email, MailError, Mailer, Table};
use latchkey::{AppState, Config};
use serde_json::Value;
use tower::ServiceExt;

/// Which adapters back a test app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded store, outbox, local key file.
    Embedded,
    /// DynamoDB, SES and KMS on the local AWS emulator.
    Aws,
}

pub const BOTH: [Backend; 2] = [Backend::Embedded, Backend::Aws];

/// The Python that runs the independent checkers (PyJWT, openapi-spec-validator): `tests/run.sh`
/// exports `LATCHKEY_TEST_PYTHON`; otherwise the venv it uses.
pub fn test_python() -> PathBuf {
    if let Ok(python) = std::env::var("LATCHKEY_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = std::env::var("LATCHKEY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".venv")
        });
    venv.join("bin").join("python")
}

/// The emulator's address, set by `tests/run.sh`. Without it the AWS-backed tests fail loudly:
/// they must never pass by not running.
pub fn aws_endpoint() -> String {
    std::env::var("LATCHKEY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "\n\n*** The DynamoDB/KMS/SES tests did NOT run: LATCHKEY_TEST_AWS_ENDPOINT is not set. ***\n\
             *** Run ./tests/run.sh, which starts the AWS emulator (moto) and runs every test.   ***\n\n"
        )
    })
}

/// An AWS SDK configuration pointing at the emulator.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_sdk_config_at(&aws_endpoint()).await
}

/// An AWS SDK configuration pointing at an endpoint (the emulator, or a fault-injection lane in
/// front of it), with the timeouts and retries every Latchkey AWS client has.
pub async fn aws_sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    latchkey::adapters::aws::sdk_config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// The SDK configuration for an endpoint override, or for the emulator.
async fn sdk_config_for(endpoint: Option<&str>) -> aws_config::SdkConfig {
    match endpoint {
        Some(endpoint) => aws_sdk_config_at(endpoint).await,
        None => aws_sdk_config().await,
    }
}

/// A unique name for per-test resources (tables, keys).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A unique email address. Tests send to these: the emulator's SES is shared by every test
/// running at once, and mail is told apart by its recipient.
pub fn unique_email(name: &str) -> String {
    format!("{}@example.com", unique(name))
}

/// The fault-injection proxy's control address, set by `tests/run.sh` (see
/// `tests/fault_proxy.py`); without it the fault tests fail loudly.
pub fn fault_proxy() -> String {
    std::env::var("LATCHKEY_TEST_FAULT_PROXY").unwrap_or_else(|_| {
        panic!(
            "\n\n*** The fault-injection tests did NOT run: LATCHKEY_TEST_FAULT_PROXY is not set. ***\n\
             *** Run ./tests/run.sh, which starts the fault proxy in front of the emulator.      ***\n\n"
        )
    })
}

/// A fresh table on the given backend, and the temp dir holding it (embedded).
pub async fn fresh_table(
    backend: Backend,
    clock: Arc<dyn Clock>,
) -> (Arc<dyn Table>, tempfile::TempDir) {
    fresh_table_at(backend, clock, None).await
}

/// `fresh_table`, with the AWS clients going to `endpoint` instead of the emulator.
async fn fresh_table_at(
    backend: Backend,
    clock: Arc<dyn Clock>,
    endpoint: Option<&str>,
) -> (Arc<dyn Table>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let table: Arc<dyn Table> = match backend {
        Backend::Embedded => Arc::new(
            EmbeddedTable::open(&dir.path().join("store.redb"), clock)
                .expect("open embedded store"),
        ),
        Backend::Aws => {
            let table = DynamoTable::new(
                aws_sdk_dynamodb::Client::new(&sdk_config_for(endpoint).await),
                unique("latchkey-test"),
                clock,
            )
            // As with `LATCHKEY_CREATE_TABLE` on an emulator: the table is ours to re-create.
            .recreating_when_missing(true);
            table
                .create_table_if_missing()
                .await
                .expect("create table on the emulator");
            Arc::new(table)
        }
    };
    (table, dir)
}

/// A fresh cipher: a new local key file, or a new KMS key on the emulator.
pub async fn fresh_cipher(backend: Backend, dir: &std::path::Path) -> Arc<dyn Cipher> {
    fresh_cipher_at(backend, dir, None).await
}

async fn fresh_cipher_at(
    backend: Backend,
    dir: &std::path::Path,
    endpoint: Option<&str>,
) -> Arc<dyn Cipher> {
    match backend {
        Backend::Embedded => {
            Arc::new(LocalCipher::open(&dir.join("local.key")).expect("local key"))
        }
        Backend::Aws => {
            let client = aws_sdk_kms::Client::new(&sdk_config_for(endpoint).await);
            let key = client
                .create_key()
                .description("latchkey test")
                .send()
                .await
                .expect("create KMS key on the emulator");
            let key_id = key
                .key_metadata()
                .expect("key metadata")
                .key_id()
                .to_owned();
            Arc::new(KmsCipher::new(client, key_id))
        }
    }
}

/// A fresh mailer: an outbox under the dir, or SES on the emulator with a verified sender.
pub async fn fresh_mailer(backend: Backend, dir: &std::path::Path, from: &str) -> Arc<dyn Mailer> {
    fresh_mailer_at(backend, dir, from, None).await
}

async fn fresh_mailer_at(
    backend: Backend,
    dir: &std::path::Path,
    from: &str,
    endpoint: Option<&str>,
) -> Arc<dyn Mailer> {
    match backend {
        Backend::Embedded => Arc::new(Outbox::new(dir.join("outbox"), from.to_owned())),
        Backend::Aws => {
            let client = aws_sdk_sesv2::Client::new(&sdk_config_for(endpoint).await);
            let address = from
                .rsplit('<')
                .next()
                .unwrap_or(from)
                .trim_end_matches('>')
                .to_owned();
            client
                .create_email_identity()
                .email_identity(address)
                .send()
                .await
                .expect("verify the sender on the emulator");
            Arc::new(SesMailer::new(client, from.to_owned()))
        }
    }
}

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

    /// Send a request through the app in-process.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        TestResponse::read(response).await
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

/// A response read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl TestResponse {
    pub async fn read(response: axum::response::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert the error shape of API.md with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert_eq!(self.json["success"], false, "{}", self.text);
        assert_eq!(self.json["code"], code, "{}", self.text);
        assert_eq!(self.json["statusCode"], status, "{}", self.text);
        assert!(
            self.json["error"].is_string() && self.json["message"].is_string(),
            "{}",
            self.text
        );
        assert!(self.json["timestamp"].is_string(), "{}", self.text);
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

impl TestResponse {
    /// The `Set-Cookie` header that sets (or clears) the named cookie.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value a `Set-Cookie` header gives the named cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.set_cookie(name)?;
        let pair = header.split(';').next()?;
        Some(pair.split_once('=')?.1.to_owned())
    }
}

/// Notes whom each email went to (nothing else: the mail itself is read back from the real
/// peer), so a test app's messages can be found among every test's on the shared emulator.
struct RecordRecipients {
    inner: Arc<dyn Mailer>,
    recipients: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Mailer for RecordRecipients {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.inner.send(email).await?;
        let address = bare_address(&email.to);
        let mut recipients = self.recipients.lock().expect("recipients lock");
        if !recipients.contains(&address) {
            recipients.push(address);
        }
        Ok(())
    }
}

/// An email as its recipient reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMail {
    /// Bare addresses (`ada@example.com`, no display name).
    pub to: Vec<String>,
    pub subject: String,
    /// The text part when there is one, else the HTML part. moto keeps only the HTML part of an
    /// SES message, so on AWS this is HTML.
    pub body: String,
}

impl SentMail {
    /// The `http(s)://` links in the body, in order, with HTML's `&amp;` decoded.
    pub fn links(&self) -> Vec<String> {
        let mut links = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(start) = ["https://", "http://"]
            .iter()
            .filter_map(|scheme| rest.find(scheme))
            .min()
        {
            let candidate = &rest[start..];
            let end = candidate
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
                .unwrap_or(candidate.len());
            let link = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            links.push(link.replace("&amp;", "&"));
            rest = &candidate[end..];
        }
        links.dedup();
        links
    }

    /// The first standalone 6-digit number outside links and HTML tags (`#123456`, a colour or
    /// character reference, does not count).
    pub fn code(&self) -> Option<String> {
        let mut text = String::with_capacity(self.body.len());
        let mut in_tag = false;
        for c in self.body.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => {
                    in_tag = false;
                    text.push(' ');
                }
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split_whitespace()
            .filter(|word| !word.contains("://"))
            .flat_map(|word| word.split(|c: char| !(c.is_ascii_alphanumeric() || c == '#')))
            .find(|part| part.len() == 6 && part.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
    }
}

/// The mail sent to any of `recipients`, in send order: from the outbox under `dir` (embedded) or
/// from the emulator's SES (AWS).
pub async fn sent_mail(backend: Backend, dir: &Path, recipients: &[String]) -> Vec<SentMail> {
    let all = match backend {
        Backend::Embedded => outbox_mail(&dir.join("outbox")),
        Backend::Aws => ses_mail().await,
    };
    all.into_iter()
        .filter(|mail| mail.to.iter().any(|to| recipients.contains(to)))
        .collect()
}

/// Every `.eml` file of an outbox, parsed, in file-name (send) order; none if there is no outbox.
pub fn outbox_mail(outbox: &Path) -> Vec<SentMail> {
    let entries = match std::fs::read_dir(outbox) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("cannot list the outbox {}: {e}", outbox.display()),
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .map(|entry| entry.expect("an outbox entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let raw = std::fs::read(path).expect("read an outbox message");
            parse_eml(&raw).unwrap_or_else(|problem| panic!("{}: {problem}", path.display()))
        })
        .collect()
}

/// One RFC 5322 message, read by a MIME parser independent of the code that wrote it.
pub fn parse_eml(raw: &[u8]) -> Result<SentMail, String> {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .ok_or("not a MIME message")?;
    let to = message
        .to()
        .ok_or("no To header")?
        .iter()
        .filter_map(|address| address.address())
        .map(str::to_owned)
        .collect();
    let subject = message.subject().ok_or("no Subject header")?.to_owned();
    // `body_text` would turn an HTML-only message into text; take a real text/plain part only.
    let text = message
        .text_part(0)
        .filter(|part| !part.is_text_html())
        .and_then(|part| part.text_contents());
    let body = match text {
        Some(text) => text.to_owned(),
        None => message
            .body_html(0)
            .ok_or("no text or HTML part")?
            .into_owned(),
    }
    // Lines end in CRLF on the wire; LF as written, like the SES body.
    .replace("\r\n", "\n");
    Ok(SentMail { to, subject, body })
}

/// Every message the emulator's SES has accepted, from every test running, in send order.
pub async fn ses_mail() -> Vec<SentMail> {
    let url = format!("{}/moto-api/data.json", aws_endpoint());
    let data: Value = reqwest::get(&url)
        .await
        .and_then(|response| response.error_for_status())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"));
    // moto's shape: {"ses": {"Message": [{"source", "destinations": {"ToAddresses": [..]},
    // "subject", "body" (the HTML part only), "id"}]}}.
    let messages = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    messages
        .iter()
        .map(|message| SentMail {
            to: message["destinations"]["ToAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(bare_address)
                .collect(),
            subject: message["subject"].as_str().unwrap_or_default().to_owned(),
            body: message["body"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// `ada@example.com` from `Ada <ada@example.com>` or from itself.
fn bare_address(address: &str) -> String {
    match (address.rfind('<'), address.rfind('>')) {
        (Some(open), Some(close)) if open < close => address[open + 1..close].trim().to_owned(),
        _ => address.trim().to_owned(),
    }
}

/// A decorator over a real table that counts calls and round trips, for the budgets of
/// DESIGN.md. A round trip is a wait on the table: calls made in parallel (`tokio::join!`) overlap
/// and count once; a call that starts while none is in flight starts a new round trip.
pub mod counting {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use latchkey::ports::{Condition, Item, Key, StoreError, Table, Write};

    #[derive(Default)]
    pub struct Counts {
        in_flight: AtomicUsize,
        round_trips: AtomicUsize,
        calls: Mutex<Vec<&'static str>>,
    }

    impl Counts {
        pub fn reset(&self) {
            self.round_trips.store(0, Ordering::SeqCst);
            self.calls.lock().unwrap().clear();
        }

        pub fn round_trips(&self) -> usize {
            self.round_trips.load(Ordering::SeqCst)
        }

        pub fn calls(&self) -> Vec<&'static str> {
            self.calls.lock().unwrap().clone()
        }
    }

    /// Delegates every call to the real table, counting round trips on the way.
    pub struct CountingTable {
        inner: Arc<dyn Table>,
        counts: Arc<Counts>,
    }

    impl CountingTable {
        pub fn new(inner: Arc<dyn Table>, counts: Arc<Counts>) -> Self {
            Self { inner, counts }
        }

        async fn counted<T>(&self, name: &'static str, call: impl Future<Output = T>) -> T {
            if self.counts.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
                self.counts.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            self.counts.calls.lock().unwrap().push(name);
            // Stand in for network latency: yield once before the (possibly synchronous) embedded
            // store answers, so calls issued together (`tokio::join!`) are all in flight at once,
            // as they would be against DynamoDB.
            tokio::task::yield_now().await;
            let result = call.await;
            self.counts.in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        }
    }

    #[async_trait]
    impl Table for CountingTable {
        async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
            self.counted("get", self.inner.get(key)).await
        }

        async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
            self.counted("put", self.inner.put(item, condition)).await
        }

        async fn update(
            &self,
            key: &Key,
            set: Item,
            remove: Vec<String>,
            condition: Option<Condition>,
        ) -> Result<Item, StoreError> {
            self.counted("update", self.inner.update(key, set, remove, condition))
                .await
        }

        async fn delete(
            &self,
            key: &Key,
            condition: Option<Condition>,
        ) -> Result<Option<Item>, StoreError> {
            self.counted("delete", self.inner.delete(key, condition))
                .await
        }

        async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
            self.counted("transact", self.inner.transact(writes)).await
        }

        async fn add(
            &self,
            key: &Key,
            attribute: &str,
            delta: i64,
            ttl: Option<i64>,
        ) -> Result<i64, StoreError> {
            self.counted("add", self.inner.add(key, attribute, delta, ttl))
                .await
        }

        async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
            self.counted("query", self.inner.query(pk, sk_prefix)).await
        }

        async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
            self.counted("query_gsi1", self.inner.query_gsi1(gsi1pk, sk_prefix))
                .await
        }

        async fn ping(&self) -> Result<(), StoreError> {
            self.counted("ping", self.inner.ping()).await
        }

        fn backend(&self) -> &'static str {
            self.inner.backend()
        }

        fn generation(&self) -> u64 {
            self.inner.generation()
        }
    }
}
