//! `GET /docs`, the local server's rendered API reference: its page and Swagger UI's files come
//! from the server itself (nothing from another origin, under a CSP that says so), and in headless
//! Chromium (Debian's, driven by `tests/browser/api_reference.mjs` through playwright-core) the
//! operations of `/openapi.json` render with no console error. The embedded run keeps the
//! screenshot in `docs/api-reference.png`. Only the local server serves it: no Lambda function
//! depends on the crate that carries Swagger UI.

use std::net::SocketAddr;
use std::time::Duration;

use latchkey_tests::{Backend, TestApp, workspace_root};
use serde_json::Value;

/// Every `src="..."` and `href="..."` of a page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| {
            html.split(attribute)
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn the_api_reference_loads_only_its_own_assets_each_with_its_content_type() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let page = app.get("/docs").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let policy = page.header("content-security-policy").expect("a CSP");
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    for source in ["http:", "https:", "*", "unsafe-inline", "unsafe-eval"] {
        assert!(!policy.contains(source), "{source} in {policy}");
    }
    assert_eq!(app.get("/docs/").await.text, page.text);

    let assets = references(&page.text);
    assert!(assets.len() >= 5, "{assets:?}");
    for asset in &assets {
        assert!(
            asset.starts_with('/') && !asset.starts_with("//"),
            "{asset} is not on this origin"
        );
        let answer = app.get(asset).await;
        assert_eq!(answer.status, 200, "{asset}");
        let expected = match asset.rsplit('.').next() {
            Some("css") => "text/css",
            Some("js") => "text/javascript",
            Some("png") => "image/png",
            Some("json") => "application/json",
            _ => panic!("an asset of an unexpected kind: {asset}"),
        };
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with(expected)),
            "{asset}: {:?}",
            answer.header("content-type")
        );
        assert!(
            answer.text.len() > 100 || expected == "image/png",
            "{asset}"
        );
    }
    // The script that starts Swagger UI points it at our generated document, and nowhere else.
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert!(
        initializer.text.contains("\"url\": \"/openapi.json\""),
        "{}",
        initializer.text
    );
    assert!(!initializer.text.contains("http"), "{}", initializer.text);
    assert_eq!(app.get("/docs/no-such-file.js").await.status, 404);
    assert_eq!(app.get("/docs/index.html").await.status, 404);
}

#[tokio::test]
async fn the_index_page_links_the_api_reference() {
    let app = TestApp::spawn(Backend::Embedded).await;
    assert!(app.get("/").await.text.contains("<a href=\"/docs\">"));
}

#[test]
fn only_the_local_server_carries_swagger_ui() {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap();
    let dependents: Vec<&str> = lock
        .split("[[package]]")
        .filter(|package| package.contains("\n \"utoipa-swagger-ui\""))
        .filter_map(|package| package.split('"').nth(1))
        .collect();
    assert_eq!(dependents, ["latchkey-local"]);
    let on_local: Vec<&str> = lock
        .split("[[package]]")
        .filter(|package| package.contains("\n \"latchkey-local\""))
        .filter_map(|package| package.split('"').nth(1))
        .collect();
    assert!(
        on_local
            .iter()
            .all(|name| ["latchkey-tests", "xtask"].contains(name)),
        "{on_local:?}"
    );
}

fn required(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: the browser test did not run. Run ./tests/run.sh, which installs Chromium and playwright-core")
    })
}

#[tokio::test]
async fn the_api_reference_renders_every_operation_in_headless_chromium() {
    let chromium = required("LATCHKEY_TEST_CHROMIUM");
    let playwright = required("LATCHKEY_TEST_PLAYWRIGHT");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = TestApp::spawn(Backend::Embedded).await;
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let screenshot = workspace_root().join("docs/api-reference.png");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(workspace_root().join("tests/browser/api_reference.mjs"))
            .arg(&playwright)
            .arg(&chromium)
            .arg(format!("{origin}/docs"))
            .arg(&screenshot)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser finished within 2 minutes")
    .expect("node runs");
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser script failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("the script's JSON");

    let paths: Vec<&str> = seen["paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .map(|path| path.trim_end_matches('\u{200b}').trim())
        .collect();
    let document = app.get("/openapi.json").await.json;
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            let methods = [
                "get", "put", "post", "delete", "patch", "options", "head", "trace",
            ];
            methods.iter().filter(|m| item.get(**m).is_some()).count()
        })
        .sum();
    assert_eq!(
        paths.len(),
        operations,
        "one block per operation: {paths:?}"
    );
    for path in ["/auth/sign-in", "/auth/sign-up", "/health"] {
        assert!(paths.contains(&path), "{path} not rendered: {paths:?}");
    }
    assert_eq!(
        seen["opened"]
            .as_str()
            .map(|p| p.trim_end_matches('\u{200b}')),
        Some("/auth/sign-in")
    );
    assert!(
        seen["title"].as_str().unwrap().contains("Latchkey"),
        "{seen}"
    );
    for url in seen["requested"].as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(&format!("{origin}/")) || url.starts_with("data:"),
            "the page asked another origin: {url}"
        );
    }
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
    assert!(std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000));
}
