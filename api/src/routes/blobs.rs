//! Signed blob URLs of the local (filesystem) blob store: uploads and
//! downloads authorised by the URL's HMAC signature, not by a bearer
//! credential. With an S3 store, clients talk to S3 and these routes answer 404.

use crate::{error::ApiError, state::AppState};
use axum::{
    Router,
    body::Body,
    extract::{Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use fleet_shared::blob::{
    BlobError, BlobKey, BlobStore, FsStore, SignatureError, SignedMethod, SignedQuery,
};
use futures::TryStreamExt;
use std::io;
use tower::ServiceExt;

/// `/v1/blobs/{*key}`: GET, HEAD and PUT through signed URLs.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/blobs/{*key}", get(download).put(upload))
}

/// Checks the store is local and the URL's signature, returning the store and key.
fn authorize<'a>(
    state: &'a AppState,
    method: SignedMethod,
    key: String,
    query: &SignedQuery,
) -> Result<(&'a FsStore, BlobKey), ApiError> {
    let store = state.blobs.as_fs().ok_or_else(|| {
        ApiError::NotFound("blobs are stored in S3; use the URL the API returned".to_owned())
    })?;
    let key = BlobKey::new(key).map_err(|e| ApiError::NotFound(e.to_string()))?;
    store
        .signer()
        .verify(method, &key, query)
        .map_err(|e| match e {
            SignatureError::Expired | SignatureError::Invalid => ApiError::Forbidden(e.to_string()),
        })?;
    Ok((store, key))
}

/// Downloads a blob through a signed URL (ranges and HEAD supported).
#[utoipa::path(get, path = "/v1/blobs/{key}", tag = "blobs",
    params(("key" = String, Path, description = "Object key"), ("expires" = u64, Query), ("sig" = String, Query)),
    responses(
        (status = 200, description = "The object's bytes"),
        (status = 403, description = "Bad or expired signature"),
        (status = 404, description = "No such object"),
    ))]
pub async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<SignedQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let (store, key) = authorize(&state, SignedMethod::Get, key, &query)?;
    let meta = store
        .head(&key)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no blob at {key}")))?;
    let mime = meta
        .content_type
        .parse::<mime::Mime>()
        .ok()
        .filter(|m| HeaderValue::from_str(m.as_ref()).is_ok())
        .unwrap_or(mime::APPLICATION_OCTET_STREAM);
    let Ok(response) = tower_http::services::ServeFile::new_with_mime(store.path_of(&key), &mime)
        .oneshot(request)
        .await;
    Ok(response.map(Body::new))
}

/// Uploads a blob through a signed URL; the body must match the signed type and size.
#[utoipa::path(put, path = "/v1/blobs/{key}", tag = "blobs",
    params(("key" = String, Path, description = "Object key"), ("expires" = u64, Query), ("ct" = Option<String>, Query), ("len" = Option<u64>, Query), ("sig" = String, Query)),
    request_body(content = Vec<u8>, description = "The object's bytes", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored"),
        (status = 403, description = "Bad or expired signature, or type/size other than signed"),
        (status = 413, description = "Larger than allowed"),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<SignedQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let checked = check_upload(&state, key, &query, &headers);
    let (store, key, content_type, limit) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            // Read (a bounded part of) the body before refusing, so the client sees the
            // refusal instead of a connection reset in the middle of its upload.
            drain(body).await;
            return Err(err);
        }
    };
    let mut received = 0u64;
    let stream = body
        .into_data_stream()
        .map_err(io::Error::other)
        .and_then(move |chunk| {
            received += chunk.len() as u64;
            let result = if received > limit {
                Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    "body larger than allowed",
                ))
            } else {
                Ok(chunk)
            };
            std::future::ready(result)
        });
    // With Content-Length checked above, a body that ends early is an error, never a short object.
    match store.put(&key, Box::pin(stream), content_type).await {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(BlobError::Io { source, .. }) if source.kind() == io::ErrorKind::FileTooLarge => {
            Err(ApiError::PayloadTooLarge {
                limit: limit as usize,
            })
        }
        Err(e) => Err(internal(e)),
    }
}

/// Most of a refused upload's body that is read before answering.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Reads and discards up to [`DRAIN_LIMIT`] bytes of `body`.
async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
}

/// Checks an upload's signature, content type and length; returns the store, key, type and size limit.
fn check_upload<'a>(
    state: &'a AppState,
    key: String,
    query: &SignedQuery,
    headers: &'a HeaderMap,
) -> Result<(&'a FsStore, BlobKey, &'a str, u64), ApiError> {
    let (store, key) = authorize(state, SignedMethod::Put, key, query)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    if let Some(signed) = &query.ct
        && signed != content_type
    {
        return Err(ApiError::Forbidden(format!(
            "this URL is signed for Content-Type {signed:?}, not {content_type:?}"
        )));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(signed) = query.len
        && declared != Some(signed)
    {
        return Err(ApiError::Forbidden(format!(
            "this URL is signed for exactly {signed} bytes; send Content-Length: {signed}"
        )));
    }
    let limit = query.len.unwrap_or(state.config.api.max_upload_bytes);
    if declared.is_some_and(|d| d > limit) {
        return Err(ApiError::PayloadTooLarge {
            limit: limit as usize,
        });
    }
    Ok((store, key, content_type, limit))
}

fn internal(e: BlobError) -> ApiError {
    ApiError::Internal(e.to_string())
}
