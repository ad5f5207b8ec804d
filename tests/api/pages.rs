//! The pages a browser gets from the links we email, over HTTP on both backends: the reset form
//! (CSRF-protected form post, errors next to the field), the magic-link landing (cookies, no
//! token on the page), the verify landing. JSON clients keep the JSON answers (the other
//! modules).

use axum::body::Body;
use http::{Method, Request};
use latchkey_tests::on_both_backends;
use latchkey_tests::{Backend, TestApp, TestResponse};
use serde_json::json;

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn page(app: &TestApp, path: &str) -> TestResponse {
    app.request(Method::GET, path, None, &[("accept", BROWSER_ACCEPT)])
        .await
}

fn assert_page(response: &TestResponse) {
    let content_type = response.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = response.headers["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"));
    assert_eq!(response.headers["referrer-policy"], "no-referrer");
    assert!(!response.text.contains("<script"));
    assert!(response.text.contains("Latchkey"), "the product name");
}

/// The path and query of the emailed link.
fn path_of(link: &str) -> String {
    let start = link.find("/auth/").expect("a link to us");
    link[start..].to_owned()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

fn cookie_pair(response: &TestResponse, name: &str) -> String {
    response
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("a {name} cookie"))
}

async fn post_form(app: &TestApp, form: &str, cookie: Option<&str>) -> TestResponse {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/auth/reset-password")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", BROWSER_ACCEPT)
        .header("origin", "http://127.0.0.1:3000");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    app.send(request.body(Body::from(form.to_owned())).unwrap())
        .await
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn the_reset_link_opens_a_form_that_sets_the_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    app.post("/auth/forgot-password", &json!({"email": ada.user.email}))
        .await;
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let form = page(&app, &path_of(&link)).await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert_page(&form);
    assert!(form.text.contains("<label for=\"new_password\">"));
    let token = hidden(&form.text, "token");
    let csrf = hidden(&form.text, "csrf_token");
    let cookie = cookie_pair(&form, "__Host-csrf");

    // Without the CSRF cookie the post is refused, and the link is not spent.
    let body = format!(
        "token={}&new_password={}&csrf_token={}",
        encode(&token),
        encode("New-velvet-orbit-31415"),
        encode(&csrf)
    );
    let refused = post_form(&app, &body, None).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_page(&refused);

    // A weak password: the form again, the reason next to the field.
    let weak = format!(
        "token={}&new_password=short&csrf_token={}",
        encode(&token),
        encode(&csrf)
    );
    let again = post_form(&app, &weak, Some(&cookie)).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert!(
        again.text.contains("id=\"new_password_error\""),
        "{}",
        again.text
    );
    assert!(again.text.contains("aria-invalid=\"true\""));

    let done = post_form(&app, &body, Some(&cookie)).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_page(&done);
    assert!(done.text.contains("Your password has been reset."));
    let signed_in = app
        .post(
            "/auth/sign-in",
            &json!({"email": ada.user.email, "password": "New-velvet-orbit-31415"}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);

    // The link is spent: the page says so.
    let spent = page(&app, &path_of(&link)).await;
    assert_eq!(spent.status, 400);
    assert_page(&spent);
    assert!(spent.text.contains("This link does not work"));
}

async fn a_magic_link_opened_in_a_browser_signs_in_with_cookies_and_shows_no_token(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    app.post("/auth/magic-link", &json!({"email": ada.user.email}))
        .await;
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let landed = page(&app, &path_of(&link)).await;
    assert_eq!(landed.status, 200, "{}", landed.text);
    assert_page(&landed);
    assert!(landed.text.contains("You are signed in"));
    let access = cookie_pair(&landed, "__Host-access_token");
    let token = access.split_once('=').unwrap().1;
    assert!(!landed.text.contains(token), "no token on the page");
    assert!(!landed.text.contains("eyJ"));
    let me = app
        .request(Method::GET, "/auth/me", None, &[("cookie", &access)])
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["user"]["email"], ada.user.email, "{}", me.text);
}

async fn the_verify_link_opened_in_a_browser_confirms_the_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signed_up().await;
    let sent = app
        .with_bearer(
            Method::POST,
            "/auth/send-verification",
            ada.access_token(),
            None,
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.text);
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let landed = page(&app, &path_of(&link)).await;
    assert_eq!(landed.status, 200, "{}", landed.text);
    assert_page(&landed);
    assert!(landed.text.contains("Your email address is verified."));
    // A JSON client gets the JSON answer on the same path (a spent link: 400 in our shape).
    let json_client = app.get(&path_of(&link)).await;
    json_client.assert_error(400, "invalid_token");
}

async fn an_invite_link_opened_in_a_browser_joins_and_signs_in_without_a_token_on_the_page(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_up().await;
    let created = app
        .with_bearer(
            Method::POST,
            "/workspaces",
            owner.access_token(),
            Some(&json!({"name": "Team"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let workspace = created.json["id"].as_str().unwrap().to_owned();
    let invitee = format!("invitee-{}@example.com", uuid::Uuid::new_v4().simple());
    let invited = app
        .with_bearer(
            Method::POST,
            &format!("/workspaces/{workspace}/invites"),
            owner.access_token(),
            Some(&json!({"email": invitee, "role": "member"})),
        )
        .await;
    assert!(invited.status.is_success(), "{}", invited.text);
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let landed = page(&app, &path_of(&link)).await;
    assert_eq!(landed.status, 200, "{}", landed.text);
    assert_page(&landed);
    assert!(landed.text.contains("You joined the workspace"));
    let access = cookie_pair(&landed, "__Host-access_token");
    assert!(!landed.text.contains(access.split_once('=').unwrap().1));
    // Spent: the page says the link does not work.
    let again = page(&app, &path_of(&link)).await;
    assert_eq!(again.status, 400);
    assert_page(&again);
}

on_both_backends!(
    an_invite_link_opened_in_a_browser_joins_and_signs_in_without_a_token_on_the_page,
    the_reset_link_opens_a_form_that_sets_the_password,
    a_magic_link_opened_in_a_browser_signs_in_with_cookies_and_shows_no_token,
    the_verify_link_opened_in_a_browser_confirms_the_address,
);

#[tokio::test]
async fn a_form_post_with_a_null_origin_is_accepted_only_from_the_same_origin() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let ada = app.signed_up().await;
    app.post("/auth/forgot-password", &json!({"email": ada.user.email}))
        .await;
    let link = app.sent_mail().await.pop().unwrap().links().remove(0);
    let form = page(&app, &path_of(&link)).await;
    let cookie = cookie_pair(&form, "__Host-csrf");
    let body = format!(
        "token={}&new_password={}&csrf_token={}",
        encode(&hidden(&form.text, "token")),
        encode("Null-origin-velvet-orbit-5"),
        encode(&hidden(&form.text, "csrf_token"))
    );
    let post = |site: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/auth/reset-password")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "null")
            .header("sec-fetch-site", site)
            .header("cookie", cookie.clone())
            .body(Body::from(body.clone()))
            .unwrap()
    };
    assert_eq!(app.send(post("cross-site")).await.status, 403);
    assert_eq!(app.send(post("same-origin")).await.status, 200);
}
