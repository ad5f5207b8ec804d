//! `GET /docs`: the rendered API reference of `/openapi.json` (Swagger UI), local server only.
//! Swagger UI's files are compiled into the binary (the `utoipa-swagger-ui` crate, `vendored`:
//! nothing is fetched at build or view time), served under `/docs/`, and the page's
//! Content-Security-Policy lets it load only from this origin.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa_swagger_ui::Config;

/// Scripts, styles and the document come from this origin only; `data:` images are the icons
/// inside Swagger UI's stylesheet; "Try it out" calls this origin only. The one hash is the
/// `<style>` element Swagger UI's script adds (Chromium names it when it is blocked; the browser
/// test fails on any CSP violation, so a new Swagger UI with another one is noticed).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
     base-uri 'none'";

/// `/docs` and `/docs/` answer the page; `/docs/<file>` Swagger UI's files.
pub fn router(product_name: &str) -> Router {
    // The shipped `index.html` loads its files by relative paths, which from `/docs` (no trailing
    // slash) would resolve at the root: ours names them absolutely, and carries the product name.
    let page = index_page(product_name);
    let config = Arc::new(
        Config::new(["/openapi.json"])
            // The default asks validator.swagger.io for a badge: a request to another site.
            .validator_url("none")
            .try_it_out_enabled(true),
    );
    let page_handler = move || {
        let page = page.clone();
        async move { with_policy(Html(page).into_response()) }
    };
    Router::new()
        .route("/docs", get(page_handler.clone()))
        .route("/docs/", get(page_handler))
        .route(
            "/docs/{*file}",
            get(move |Path(file): Path<String>| {
                let config = config.clone();
                async move { asset(&file, config) }
            }),
        )
}

fn asset(file: &str, config: Arc<Config<'static>>) -> Response {
    // The shipped page loads its files by relative paths (wrong from `/docs`): ours replaces it.
    if file == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(found)) => {
            let mut response = found.bytes.into_owned().into_response();
            if let Ok(content_type) = HeaderValue::from_str(&found.content_type) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            // The same bytes for the life of the process (the default is `no-store`, right for
            // auth answers, wasteful for 1.4 MB of script).
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            );
            with_policy(response)
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!(%error, file, "the Swagger UI initializer could not be written");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn with_policy(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

fn index_page(product_name: &str) -> String {
    let name = crate::escape_html(product_name);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name} API reference</title>\
         <link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\
         <link rel=\"stylesheet\" href=\"/docs/index.css\">\
         <link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\" sizes=\"32x32\">\
         </head><body><noscript>The reference needs JavaScript; the document itself is \
         <a href=\"/openapi.json\">/openapi.json</a>.</noscript><div id=\"swagger-ui\"></div>\
         <script src=\"/docs/swagger-ui-bundle.js\"></script>\
         <script src=\"/docs/swagger-ui-standalone-preset.js\"></script>\
         <script src=\"/docs/swagger-initializer.js\"></script></body></html>\n"
    )
}
