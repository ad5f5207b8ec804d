//! `Json<T>`: a body extractor whose every rejection answers in our error shape: 415 for a body
//! that is not JSON, 413 over the limit, 400 naming the field for malformed or missing input.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// The largest request body accepted (API.md: 64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let has_body = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_none_or(|length| length > 0);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::payload_too_large()
                } else {
                    Error::bad_request("The request body could not be read")
                }
            })?;
        if has_body && !bytes.is_empty() && !content_type.as_deref().is_some_and(is_json) {
            return Err(Error::unsupported_media_type());
        }
        parse(&bytes).map(Json)
    }
}

/// Parse a JSON body; an empty body reads as `{}` so bodies of only optional fields may be left
/// out.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let detail = inner.to_string();
        // serde's messages end with " at line 1 column 9": position noise for an API client.
        let detail = detail
            .split(" at line ")
            .next()
            .unwrap_or(&detail)
            .to_owned();
        if inner.is_syntax() || inner.is_eof() {
            Error::bad_request(format!("The body is not valid JSON: {detail}"))
        } else if let Some(field) = missing_field(&detail) {
            let field = if path == "." {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            Error::invalid_field(&field, "is required")
        } else if path == "." {
            Error::bad_request(format!(
                "The body is not the expected JSON object: {detail}"
            ))
        } else {
            Error::invalid_field(&path, &detail)
        }
    })?;
    // One JSON value and nothing after it: `{"a":1}{"a":2}` or `{...}garbage` is not a body two
    // parsers would read the same way.
    deserializer.end().map_err(|_| {
        Error::bad_request("The body is not valid JSON: trailing characters after the value")
    })?;
    Ok(value)
}

fn missing_field(detail: &str) -> Option<&str> {
    detail.strip_prefix("missing field `")?.strip_suffix('`')
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct SignIn {
        #[allow(dead_code)]
        email: String,
        #[allow(dead_code)]
        password: String,
    }

    #[test]
    fn a_missing_field_is_named() {
        let error = parse::<SignIn>(br#"{"email":"a@b.c"}"#).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.extra["field"], "password");
        assert!(error.message.contains("password"), "{}", error.message);
    }

    #[test]
    fn a_wrong_type_is_named() {
        let error = parse::<SignIn>(br#"{"email":5,"password":"x"}"#).unwrap_err();
        assert_eq!(error.extra["field"], "email");
    }

    #[test]
    fn malformed_json_is_a_400() {
        let error = parse::<SignIn>(b"{nope").unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.code, crate::error::ErrorCode::InvalidRequest);
    }

    #[test]
    fn trailing_garbage_after_the_body_is_a_400() {
        for body in [
            &br#"{"email":"a@b.c","password":"x"}garbage"#[..],
            br#"{"email":"a@b.c","password":"x"}{"email":"d@e.f","password":"y"}"#,
            br#"{"email":"a@b.c","password":"x"} 1"#,
        ] {
            let error = parse::<SignIn>(body).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            assert_eq!(error.code, crate::error::ErrorCode::InvalidRequest);
        }
        assert!(parse::<SignIn>(b"{\"email\":\"a@b.c\",\"password\":\"x\"}\n\t ").is_ok());
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
    }
}
