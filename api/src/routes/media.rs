//! Media uploads: issue a direct-upload URL, confirm the upload (which queues
//! processing), read the variants, delete.

use super::rfc3339;
use crate::{
    auth::Principal,
    error::{ApiError, ApiResult, FieldError},
    extract::{ValidJson, Validate, invalid_seller_id},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use fleet_jobs::{WorkerKind, media::ProcessMedia};
use fleet_shared::{
    blob::{BlobKey, Presigned},
    db::{
        api_keys::Role,
        jobs::NewJob,
        media::{MediaRecord, MediaStatus, NewMedia},
    },
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// `/v1/media` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/media/uploads", post(create_upload))
        .route("/v1/media/{id}/complete", post(complete_upload))
        .route("/v1/media/{id}", get(get_media).delete(delete_media))
}

/// What an upload is for; each purpose has its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A photo of an item for sale.
    ListingPhoto,
    /// A user's or shop's avatar.
    Avatar,
    /// A video of an item for sale.
    ListingVideo,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::ListingPhoto => "listing_photo",
            Purpose::Avatar => "avatar",
            Purpose::ListingVideo => "listing_video",
        }
    }
}

/// Image types accepted for photos and avatars (the real type is checked from the bytes).
const IMAGE_TYPES: [&str; 7] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/avif",
];

/// Video types accepted for listing videos (the real container is checked from the bytes).
const VIDEO_TYPES: [&str; 5] = [
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/x-msvideo",
];

/// A request for an upload URL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    /// What the file is for.
    pub purpose: Purpose,
    /// MIME type of the file (`image/jpeg`, …).
    pub content_type: String,
    /// Exact size of the file in bytes.
    pub size_bytes: u64,
    /// Original file name, kept for display.
    pub filename: Option<String>,
    /// Owning seller, for backend and ops keys (seller keys and user tokens own their uploads).
    pub seller_id: Option<String>,
}

impl CreateUpload {
    fn validate_with(&self, limits: &fleet_shared::config::MediaSettings) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self.purpose {
            Purpose::ListingPhoto | Purpose::Avatar => {
                if !IMAGE_TYPES.contains(&self.content_type.as_str()) {
                    errors.push(FieldError::new(
                        "content_type",
                        format!("must be one of {}", IMAGE_TYPES.join(", ")),
                    ));
                }
                if self.size_bytes > limits.max_photo_bytes {
                    errors.push(FieldError::new(
                        "size_bytes",
                        format!("photos may be at most {} bytes", limits.max_photo_bytes),
                    ));
                }
            }
            Purpose::ListingVideo => {
                if !VIDEO_TYPES.contains(&self.content_type.as_str()) {
                    errors.push(FieldError::new(
                        "content_type",
                        format!("must be one of {}", VIDEO_TYPES.join(", ")),
                    ));
                }
                if self.size_bytes > limits.max_video_bytes {
                    errors.push(FieldError::new(
                        "size_bytes",
                        format!("videos may be at most {} bytes", limits.max_video_bytes),
                    ));
                }
            }
        }
        if self.size_bytes == 0 {
            errors.push(FieldError::new("size_bytes", "must be at least 1"));
        }
        if self
            .filename
            .as_ref()
            .is_some_and(|f| f.is_empty() || f.len() > 255 || f.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "filename",
                "must be 1-255 printable characters",
            ));
        }
        errors.extend(invalid_seller_id(self.seller_id.as_deref()));
        errors
    }
}

impl Validate for CreateUpload {
    fn validate(&self) -> Vec<FieldError> {
        // Limits depend on configuration; checked in the handler.
        Vec::new()
    }
}

/// An issued upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadCreated {
    /// The new media item.
    pub media_id: String,
    /// `awaiting_upload`.
    pub status: String,
    /// The request that uploads the file: send the file's bytes as the body.
    pub upload: Presigned,
    /// Where to confirm the upload once the PUT succeeded.
    pub complete_url: String,
    /// Where to read the item.
    pub status_url: String,
}

/// One stored variant, with a download URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantView {
    /// Ladder size (`"640"`: the longest side it was made for), video rendition (`"720"`), or
    /// poster size of a video (`"poster-640"`).
    pub name: String,
    /// Download URL (expires).
    pub url: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `jpeg`, `webp` or `mp4`.
    pub format: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A media item.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// Id.
    pub id: String,
    /// What it is for.
    pub purpose: String,
    /// `awaiting_upload`, `processing`, `ready` or `failed`.
    pub status: String,
    /// Declared content type.
    pub content_type: String,
    /// Declared size in bytes.
    pub size_bytes: i64,
    /// Original file name.
    pub filename: Option<String>,
    /// Real format found in the file (for videos, the video codec: `h264`, `hevc`).
    pub format: Option<String>,
    /// Upright width of the source.
    pub width: Option<i32>,
    /// Upright height of the source.
    pub height: Option<i32>,
    /// Duration of a video, in milliseconds.
    pub duration_ms: Option<i64>,
    /// BlurHash placeholder (of the poster, for videos).
    pub blurhash: Option<String>,
    /// ThumbHash placeholder (base64).
    pub thumbhash: Option<String>,
    /// Every size in every format.
    pub variants: Vec<VariantView>,
    /// Why processing failed.
    pub error: Option<String>,
    /// The processing job.
    pub job_id: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// Whether `principal` may use `media`: its seller or uploading user, the backend and ops.
fn can_access(principal: &Principal, media: &MediaRecord) -> bool {
    match principal {
        Principal::User(user) if media.user_id.as_deref() == Some(user.sub.as_str()) => true,
        _ => principal.can_see(media.seller_id.as_deref()),
    }
}

/// The item `id` if `principal` may see it; 404 otherwise, whether it exists or not.
async fn visible(state: &AppState, principal: &Principal, id: &str) -> ApiResult<MediaRecord> {
    let not_found = || ApiError::NotFound(format!("no media {id}"));
    let media = state.db.media(id).await?.ok_or_else(not_found)?;
    if !can_access(principal, &media) {
        return Err(not_found());
    }
    Ok(media)
}

async fn view(state: &AppState, media: MediaRecord) -> ApiResult<MediaView> {
    let ttl = Duration::from_secs(state.config.media.download_url_ttl_secs);
    let mut variants = Vec::with_capacity(media.variants.len());
    for v in media.variants {
        let key = BlobKey::new(v.key).map_err(ApiError::internal)?;
        let url = state.blobs.presign_get(&key, ttl).await?.url;
        variants.push(VariantView {
            name: v.name,
            url,
            width: v.width,
            height: v.height,
            format: v.format,
            bytes: v.bytes,
        });
    }
    Ok(MediaView {
        id: media.id,
        purpose: media.purpose,
        status: media.status.as_str().to_owned(),
        content_type: media.content_type,
        size_bytes: media.size_bytes,
        filename: media.filename,
        format: media.format,
        width: media.width,
        height: media.height,
        duration_ms: media.duration_ms,
        blurhash: media.blurhash,
        thumbhash: media.thumbhash,
        variants,
        error: media.error,
        job_id: media.job_id,
        created_at: rfc3339(media.created_at),
        updated_at: rfc3339(media.updated_at),
    })
}

/// Issues a direct-upload URL (presigned S3 PUT, or a signed URL served by this API).
#[utoipa::path(post, path = "/v1/media/uploads", tag = "media", request_body = CreateUpload,
    responses(
        (status = 201, description = "Upload URL issued", body = UploadCreated),
        (status = 401, description = "No valid credential"),
        (status = 422, description = "Type or size not accepted for this purpose"),
    ),
    security(("bearer" = [])))]
pub async fn create_upload(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(req): ValidJson<CreateUpload>,
) -> ApiResult<impl IntoResponse> {
    let errors = req.validate_with(&state.config.media);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (seller_id, user_id) = match &principal {
        Principal::Key {
            role: Role::Seller,
            seller_id,
            ..
        } => (seller_id.clone(), None),
        Principal::Key { .. } => (req.seller_id.clone(), None),
        Principal::User(user) => (user.seller_id.clone(), Some(user.sub.clone())),
    };
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let source_key = format!("uploads/{id}/source");
    let key = BlobKey::new(source_key.clone()).map_err(ApiError::internal)?;
    let ttl = Duration::from_secs(state.config.media.upload_url_ttl_secs);
    let upload = state
        .blobs
        .presign_put(&key, &req.content_type, Some(req.size_bytes), ttl)
        .await?;
    let size_bytes = i64::try_from(req.size_bytes).map_err(ApiError::internal)?;
    let media = NewMedia {
        id: id.clone(),
        seller_id,
        user_id,
        purpose: req.purpose.as_str().to_owned(),
        content_type: req.content_type,
        size_bytes,
        filename: req.filename,
        source_key,
    };
    state.db.insert_media(&media).await?;
    let body = UploadCreated {
        media_id: id.clone(),
        status: MediaStatus::AwaitingUpload.as_str().to_owned(),
        upload,
        complete_url: format!("/v1/media/{id}/complete"),
        status_url: format!("/v1/media/{id}"),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, body.status_url.clone())],
        Json(body),
    ))
}

/// Confirms the upload: checks the object exists with the declared size, then queues processing.
#[utoipa::path(post, path = "/v1/media/{id}/complete", tag = "media",
    params(("id" = String, Path, description = "Media id")),
    responses(
        (status = 202, description = "Processing queued (or already done)", body = MediaView),
        (status = 404, description = "No such media visible to this credential"),
        (status = 409, description = "Nothing uploaded yet, or a size other than declared"),
    ),
    security(("bearer" = [])))]
pub async fn complete_upload(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let media = visible(&state, &principal, &id).await?;
    if media.status == MediaStatus::AwaitingUpload {
        let key = BlobKey::new(media.source_key.clone()).map_err(ApiError::internal)?;
        let Some(object) = state.blobs.head(&key).await? else {
            return Err(ApiError::Conflict(
                "nothing was uploaded yet: PUT the file to the upload URL first".to_owned(),
            ));
        };
        if object.size != media.size_bytes as u64 {
            return Err(ApiError::Conflict(format!(
                "the uploaded file has {} bytes, but {} were declared",
                object.size, media.size_bytes
            )));
        }
        let max_attempts = state.config.kinds.of(WorkerKind::Media).max_attempts as i32;
        let mut job = NewJob::of(
            &ProcessMedia {
                media_id: media.id.clone(),
            },
            max_attempts,
        )
        .map_err(ApiError::internal)?;
        job.seller_id = media.seller_id.clone();
        let slot = state
            .queues
            .enqueue(vec![job])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::internal("enqueue returned nothing"))?;
        state.db.media_uploaded(&media.id, &slot.id).await?;
    }
    let current = visible(&state, &principal, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, current).await?)))
}

/// A media item: status, source size, variants with download URLs, placeholders.
#[utoipa::path(get, path = "/v1/media/{id}", tag = "media",
    params(("id" = String, Path, description = "Media id")),
    responses((status = 200, body = MediaView), (status = 404, description = "No such media visible to this credential")),
    security(("bearer" = [])))]
pub async fn get_media(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<MediaView>> {
    let media = visible(&state, &principal, &id).await?;
    Ok(Json(view(&state, media).await?))
}

/// Deletes an item: its source, and its variants unless another item has the same bytes.
#[utoipa::path(delete, path = "/v1/media/{id}", tag = "media",
    params(("id" = String, Path, description = "Media id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such media visible to this credential")),
    security(("bearer" = [])))]
pub async fn delete_media(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let media = visible(&state, &principal, &id).await?;
    let source = BlobKey::new(media.source_key.clone()).map_err(ApiError::internal)?;
    state.blobs.delete(&source).await?;
    let sharing = state
        .db
        .delete_media(&media.id, media.source_sha256.as_deref())
        .await?;
    if let Some(sha) = &media.source_sha256
        && sharing == 0
    {
        let prefix = BlobKey::new(format!("media/{sha}")).map_err(ApiError::internal)?;
        state.blobs.delete_prefix(&prefix).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
