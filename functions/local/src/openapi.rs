//! The OpenAPI 3.1 document, generated: every group's declared routes and the types they name,
//! under the conventions, security schemes and decisions written once here.
//! `cargo run -p xtask -- openapi` writes it to `functions/well-known/openapi.json`, which the
//! well-known function serves as it is; a test fails when the file is stale.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, ServerBuilder,
};

use crate::groups::{GROUPS, Kind};

/// Where the document is written, relative to the workspace root.
pub const DOCUMENT_PATH: &str = "functions/well-known/openapi.json";

/// The document's introduction: conventions and the decisions API.md leaves open.
const INTRODUCTION: &str = include_str!("../openapi-intro.md");

/// The whole document.
pub fn document() -> OpenApi {
    let mut document = base();
    for group in GROUPS {
        if let Kind::Http { routes, .. } = group.kind {
            document.merge(routes().openapi());
        }
    }
    document
}

/// The document as written to `DOCUMENT_PATH`: pretty JSON and a final newline.
pub fn document_json() -> String {
    let value = serde_json::to_value(document()).expect("the document is JSON");
    let mut text = serde_json::to_string_pretty(&sorted(value)).expect("the document is JSON");
    text.push('\n');
    text
}

/// Object keys in sorted order at every level, so the text is the same whether or not
/// serde_json keeps insertion order (a feature some test-only dependencies turn on).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("Latchkey")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(INTRODUCTION.trim_end()))
        // As Cargo.toml's `license`.
        .license(Some(
            LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        ))
        .build();
    let tags = GROUPS
        .iter()
        .filter(|group| matches!(group.kind, Kind::Http { .. }))
        .map(|group| {
            TagBuilder::new()
                .name(group.name)
                .description(Some(group.description))
                .build()
        })
        .collect::<Vec<_>>();
    OpenApiBuilder::new()
        .info(info)
        .servers(Some([ServerBuilder::new().url("/").build()]))
        .tags(Some(tags))
        .components(Some(security_schemes()))
        .build()
}

fn security_schemes() -> utoipa::openapi::Components {
    let api_key = |location: fn(ApiKeyValue) -> ApiKey, name: &str, description: &str| {
        SecurityScheme::ApiKey(location(ApiKeyValue::with_description(name, description)))
    };
    ComponentsBuilder::new()
        .security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "`Authorization: Bearer <access token>`: an RS256 JWT (`typ: at+jwt`) \
                         from an AuthResponse, verifiable with `/.well-known/jwks.json`. The \
                         same header also takes an API key (`agnt_sk_...`). An `mfa_token` \
                         (`typ: mfa+jwt`) is refused here. Checked first.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "mfaToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "`Authorization: Bearer <mfa_token>`: the JWT of the MFA step (`typ: \
                         mfa+jwt`, audience `<LATCHKEY_AUDIENCE>:mfa`, 5 minutes, single use), \
                         accepted only by `/auth/mfa/verify` and `/auth/mfa/recovery-verify`.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "apiKeyHeader",
            api_key(
                ApiKey::Header,
                "X-API-Key",
                "An API key (`agnt_sk_...`), read when there is no `Authorization` header. API \
                 keys arrive with the api-keys group; until then every key answers \
                 `401 invalid_token`.",
            ),
        )
        .security_scheme(
            "cookieAuth",
            api_key(
                ApiKey::Cookie,
                "__Host-access_token",
                "The access-token cookie set with every AuthResponse (prefix configurable), \
                 read when neither header is present. Requests that change state must also \
                 carry `X-CSRF-Token`.",
            ),
        )
        .security_scheme(
            "refreshCookie",
            api_key(
                ApiKey::Cookie,
                "__Host-refresh_token",
                "The refresh-token cookie set with every AuthResponse (prefix configurable); \
                 read by `POST /auth/refresh` when the body has no `refresh_token`.",
            ),
        )
        .security_scheme(
            "csrfToken",
            api_key(
                ApiKey::Header,
                "X-CSRF-Token",
                "The token from `GET /auth/csrf/token`, bound to the `__Host-csrf` cookie. \
                 Required with cookie authentication on every method but GET, HEAD and \
                 OPTIONS; `403 csrf_failed` without it.",
            ),
        )
        .security_scheme(
            "csrfCookie",
            api_key(
                ApiKey::Cookie,
                "__Host-csrf",
                "The CSRF cookie planted by `/auth/csrf/init` or `/auth/csrf/token`; the CSRF \
                 token is bound to it.",
            ),
        )
        .build()
}
