//! The hosted IMAP/SMTP credential form (`GET|POST /human/v0/auth/imap`): server-rendered HTML
//! (minijinja, autoescaped), no script, errors next to their field.
//!
//! CSRF: the form carries a token that is an HMAC of its `state` under the deployment's secret
//! (`services::code_secret`), checked in constant time on post. The post is authorized by the
//! unguessable `state` alone (no cookie or session rides along), so a cross-site page cannot
//! forge one without it; the token makes sure a post came from a page we rendered for that state.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey::domain::one_time_token::hash_token;
use latchkey::services::code_secret;
use latchkey::{AppState, Result};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

/// The form's fields as posted (`application/x-www-form-urlencoded`). Every field is text, so a
/// post parses whatever it holds and each problem is shown next to its field.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ImapFormBody {
    pub state: String,
    pub csrf_token: String,
    pub email_address: String,
    pub imap_host: String,
    pub imap_port: String,
    /// `on` when ticked: TLS from the first byte (port 993); otherwise STARTTLS where offered.
    pub imap_secure: String,
    pub imap_username: String,
    #[schema(format = Password)]
    pub imap_password: String,
    pub smtp_host: String,
    pub smtp_port: String,
    /// `on` when ticked: TLS from the first byte (port 465); otherwise STARTTLS where offered.
    pub smtp_secure: String,
    pub smtp_username: String,
    #[schema(format = Password)]
    pub smtp_password: String,
}

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in [
            (
                "imap_form.html.j2",
                include_str!("../templates/imap_form.html.j2"),
            ),
            (
                "imap_sent.html.j2",
                include_str!("../templates/imap_sent.html.j2"),
            ),
            (
                "form_gone.html.j2",
                include_str!("../templates/form_gone.html.j2"),
            ),
        ] {
            env.add_template(name, source)
                .expect("the bundled form templates are valid");
        }
        env
    })
}

/// The CSRF token of the form for `state`.
pub async fn csrf_token(state: &AppState, form_state: &str) -> Result<String> {
    let secret = code_secret::get(state).await?;
    Ok(hex_tag(secret.as_ref(), form_state))
}

/// Whether `presented` is the CSRF token of the form for `state`.
pub async fn csrf_matches(state: &AppState, form_state: &str, presented: &str) -> Result<bool> {
    let expected = csrf_token(state, form_state).await?;
    Ok(presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
}

fn hex_tag(secret: &[u8], form_state: &str) -> String {
    // HMAC-SHA256(secret, "inbox-form-csrf\0" + sha256(state)): the hash keeps the raw state out
    // of the MAC input's length-dependent timing.
    latchkey::domain::one_time_token::hash_code(
        secret,
        &hash_token(form_state.trim()),
        "inbox-form-csrf",
    )
}

/// One field of a server's fieldset.
#[derive(Serialize)]
struct Field {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
}

#[derive(Serialize)]
struct Server {
    title: &'static str,
    fields: Vec<Field>,
}

fn servers() -> Vec<Server> {
    let fields = |prefix: &'static str| -> Vec<Field> {
        let name = |suffix: &str| -> &'static str {
            match (prefix, suffix) {
                ("imap", "host") => "imap_host",
                ("imap", "port") => "imap_port",
                ("imap", "secure") => "imap_secure",
                ("imap", "username") => "imap_username",
                ("imap", "password") => "imap_password",
                ("smtp", "host") => "smtp_host",
                ("smtp", "port") => "smtp_port",
                ("smtp", "secure") => "smtp_secure",
                ("smtp", "username") => "smtp_username",
                _ => "smtp_password",
            }
        };
        vec![
            Field {
                name: name("host"),
                label: "Server",
                kind: "text",
            },
            Field {
                name: name("port"),
                label: "Port",
                kind: "number",
            },
            Field {
                name: name("secure"),
                label: "TLS from the start (ports 993 and 465); otherwise STARTTLS",
                kind: "checkbox",
            },
            Field {
                name: name("username"),
                label: "Username",
                kind: "text",
            },
            Field {
                name: name("password"),
                label: "Password",
                kind: "password",
            },
        ]
    };
    vec![
        Server {
            title: "Incoming mail (IMAP)",
            fields: fields("imap"),
        },
        Server {
            title: "Outgoing mail (SMTP)",
            fields: fields("smtp"),
        },
    ]
}

/// What a rendered form shows: the values typed so far (never the passwords) and the errors by
/// field name, with an optional banner above the form.
pub struct FormView<'a> {
    pub product_name: &'a str,
    pub action: &'a str,
    pub state: &'a str,
    pub csrf_token: &'a str,
    pub values: &'a ImapFormBody,
    pub errors: BTreeMap<String, String>,
    pub banner: Option<String>,
}

pub fn render_form(view: FormView<'_>, status: StatusCode) -> Response {
    let mut values = serde_json::to_value(view.values).unwrap_or_default();
    if let Some(values) = values.as_object_mut() {
        values.remove("imap_password");
        values.remove("smtp_password");
    }
    let ctx = context! {
        product_name => view.product_name,
        action => view.action,
        state => view.state,
        csrf_token => view.csrf_token,
        values => values,
        errors => view.errors,
        banner => view.banner,
        servers => servers(),
    };
    html(status, render("imap_form.html.j2", ctx))
}

pub fn render_sent(
    product_name: &str,
    email: &str,
    expires_in: &str,
    redirect: Option<&str>,
) -> Response {
    let ctx = context! { product_name, email, expires_in, redirect };
    html(StatusCode::OK, render("imap_sent.html.j2", ctx))
}

pub fn render_gone(product_name: &str, status: StatusCode, message: &str) -> Response {
    let ctx = context! { product_name, message };
    html(status, render("form_gone.html.j2", ctx))
}

fn render(name: &str, ctx: minijinja::Value) -> String {
    environment()
        .get_template(name)
        .and_then(|template| template.render(ctx))
        .unwrap_or_else(|error| {
            tracing::error!(%error, template = name, "form page not rendered");
            "<!DOCTYPE html><title>Error</title><p>Something went wrong on our side.</p>".into()
        })
}

/// An HTML answer with a policy that allows no script, no framing, and form posts only to us.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
