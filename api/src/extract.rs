//! Request body extraction with the API's error mapping: malformed JSON is
//! 400, a body of the wrong content type 415, too large 413, and fields of
//! the wrong type or failing validation 422 with the field named.

use crate::error::{ApiError, FieldError};
use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde::de::DeserializeOwned;

/// Field checks beyond what the type already enforces.
pub trait Validate {
    /// Every invalid field; empty when the value is acceptable.
    fn validate(&self) -> Vec<FieldError>;
}

/// The error for an optional `seller_id` field that is empty or longer than 128 characters.
pub fn invalid_seller_id(seller_id: Option<&str>) -> Option<FieldError> {
    seller_id
        .is_some_and(|s| s.is_empty() || s.len() > 128)
        .then(|| FieldError::new("seller_id", "must be 1-128 characters"))
}

/// The error for `field` unless `url` is an http(s) URL with a host, of at most 2048 characters.
pub fn invalid_http_url(field: &str, url: &str) -> Option<FieldError> {
    let ok = url.len() <= 2_048
        && url::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    (!ok).then(|| FieldError::new(field, "must be an http(s) URL of at most 2048 characters"))
}

/// A JSON body, parsed and validated.
#[derive(Debug, Clone)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".to_owned(),
            ));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(usize::MAX);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {rejection}"))
            }
        })?;
        let value: T = parse(&bytes)?;
        let problems = value.validate();
        if problems.is_empty() {
            Ok(ValidJson(value))
        } else {
            Err(ApiError::Invalid(problems))
        }
    }
}

/// Parses a JSON body: syntax errors are 400, type errors 422 naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Invalid(vec![FieldError::new(
                if path == "." { String::new() } else { path },
                strip_position(&inner.to_string()),
            )]),
            _ => ApiError::BadRequest(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Reads one item of a batch: a type error becomes that item's field error,
/// named by its path inside the item.
pub fn batch_item<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Vec<FieldError>> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        vec![FieldError::new(
            if path == "." { String::new() } else { path },
            message,
        )]
    })
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The body size limit in force, recorded for error messages.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);
