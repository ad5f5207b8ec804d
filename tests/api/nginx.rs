//! A real reverse proxy in front of a platform's API: nginx (Debian `nginx-light`, installed by
//! `tests/run.sh`) on a free loopback port, `auth_request` to `/auth/check` of a Latchkey server
//! started here, a stub upstream behind it. A refused request is re-asked of `/auth/check` by an
//! `error_page` location, so the client gets Latchkey's own 401/403 body (seed 001's gate
//! bodies), not nginx's error page. nginx is stopped when the test ends, pass or fail.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use http::Method;
use latchkey_tests::{Backend, TestApp, on_both_backends};
use serde_json::{Value, json};

use crate::api_keys::{admin_token, gated_app, key_of, mint, promote};

/// The nginx binary `tests/run.sh` installed; without it the test fails loudly.
fn nginx_binary() -> PathBuf {
    let path = std::env::var("LATCHKEY_TEST_NGINX").unwrap_or_else(|_| {
        panic!(
            "\n\n*** The nginx auth_request test did NOT run: LATCHKEY_TEST_NGINX is not set. ***\n\
             *** Run ./tests/run.sh, which installs nginx-light and sets it.              ***\n\n"
        )
    });
    PathBuf::from(path)
}

/// The nginx configuration a platform would write (README, "Protect your own API"), with
/// everything nginx writes kept under `dir`.
fn nginx_config(dir: &Path, listen: u16, latchkey: SocketAddr, upstream: SocketAddr) -> String {
    let dir = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {dir}/access.log;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream latchkey {{ server {latchkey}; }}
  upstream platform {{ server {upstream}; }}
  server {{
    listen 127.0.0.1:{listen};
    # The gate check: credentials travel as sent; the guarded request as X-Original-*.
    location = /_latchkey_check {{
      internal;
      proxy_pass http://latchkey/auth/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
    }}
    # A refusal asks again, this time passing Latchkey's answer (401, or 403 with the plan or
    # feature body) to the client.
    location @latchkey_refused {{
      internal;
      rewrite ^ /auth/check break;
      proxy_pass http://latchkey;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
    }}
    location / {{
      auth_request /_latchkey_check;
      auth_request_set $latchkey_user $upstream_http_x_auth_user;
      auth_request_set $latchkey_plan $upstream_http_x_auth_plan;
      error_page 401 403 = @latchkey_refused;
      proxy_set_header X-Auth-User $latchkey_user;
      proxy_set_header X-Auth-Plan $latchkey_plan;
      proxy_pass http://platform;
    }}
  }}
}}
"#
    )
}

/// nginx as a child process, killed on drop (so also when an assertion fails).
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    async fn start(latchkey: SocketAddr, upstream: SocketAddr) -> (Self, u16) {
        let dir = tempfile::tempdir().expect("temp dir");
        let listen = free_port();
        let config = dir.path().join("nginx.conf");
        std::fs::write(
            &config,
            nginx_config(dir.path(), listen, latchkey, upstream),
        )
        .expect("write nginx.conf");
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Self { child, dir };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", listen))
                .await
                .is_ok()
            {
                return (nginx, listen);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.error_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nginx did not listen on {listen}: {}", nginx.error_log());
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Serve a router on a free loopback port for the rest of the test.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    address
}

/// The platform's API: answers whatever reaches it, with the identity nginx passed on.
fn stub_upstream() -> Router {
    Router::new().fallback(|headers: HeaderMap| async move {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        axum::Json(json!({
            "upstream": true,
            "user": header("x-auth-user"),
            "plan": header("x-auth-plan"),
        }))
    })
}

async fn get(client: &reqwest::Client, url: &str, header: Option<(&str, &str)>) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("nginx answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn nginx_passes_business_users_and_keys_and_shows_seed_001s_refusals(backend: Backend) {
    let app: TestApp = gated_app(backend).await;
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
    let created = mint(&app, &business, json!({"name": "proxy"})).await;
    let key = key_of(&created);

    let latchkey = serve(app.router.clone()).await;
    let upstream = serve(stub_upstream()).await;
    let (_nginx, port) = Nginx::start(latchkey, upstream).await;
    let url = format!("http://127.0.0.1:{port}/reports/1?format=csv");
    let client = latchkey_tests::http_client();

    let free_bearer = format!("Bearer {}", free.access_token());
    let (status, body) = get(&client, &url, Some(("authorization", &free_bearer))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "plan_required", "{body}");
    assert_eq!(body["error"], "Upgrade required");
    assert_eq!(body["currentPlan"], "free");
    assert_eq!(body["requiredPlan"], "business");

    let business_bearer = format!("Bearer {}", business.access_token());
    let (status, body) = get(&client, &url, Some(("authorization", &business_bearer))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upstream"], true);
    assert_eq!(body["user"], business.user_id());
    assert_eq!(body["plan"], "business");

    let (status, body) = get(&client, &url, Some(("x-api-key", &key))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], business.user_id());

    let (status, body) = get(&client, &url, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "authentication_required");

    let path = format!("/auth/api-keys/{}", created.json["id"].as_str().unwrap());
    let revoked = app
        .with_bearer(Method::DELETE, &path, business.access_token(), None)
        .await;
    assert_eq!(revoked.status, 200);
    let (status, body) = get(&client, &url, Some(("x-api-key", &key))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "invalid_token");
}

on_both_backends!(nginx_passes_business_users_and_keys_and_shows_seed_001s_refusals);
