//! The `media.process` job: fetch the uploaded source, make its variants,
//! store them under content-addressed keys, and record the result.

use super::{
    MediaError,
    image::{ImageSettings, Variant, process},
};
use crate::{
    Services,
    runtime::{JobContext, JobError, JobHandler},
};
use bytes::Bytes;
use fleet_jobs::media::ProcessMedia;
use fleet_shared::{
    blob::{BlobError, BlobKey},
    db::media::{MediaRecord, MediaResult, MediaStatus, StoredVariant},
};
use sha2::{Digest, Sha256};

/// Runs [`ProcessMedia`] jobs.
pub struct ProcessMediaHandler {
    services: Services,
    settings: ImageSettings,
}

impl ProcessMediaHandler {
    /// A handler using `services` and the media settings of their configuration.
    pub fn new(services: Services) -> Self {
        let settings = ImageSettings::from(&services.config.media);
        ProcessMediaHandler { services, settings }
    }

    async fn fail(&self, media: &MediaRecord, err: MediaError) -> JobError {
        let reason = err.to_string();
        if !err.is_permanent() {
            return JobError::Retry(reason);
        }
        if let Err(db) = self.services.db.media_failed(&media.id, &reason).await {
            return JobError::retry(db);
        }
        JobError::Permanent(reason)
    }

    /// Stores every variant under `media/{sha256}/{name}.{ext}`; a retried job rewrites the same objects.
    async fn store(
        &self,
        sha: &str,
        variants: Vec<Variant>,
        ctx: &JobContext,
    ) -> Result<Vec<StoredVariant>, JobError> {
        let total = variants.len() as i64 + 1;
        let mut stored = Vec::with_capacity(variants.len());
        for (i, variant) in variants.into_iter().enumerate() {
            let key = BlobKey::new(format!(
                "media/{sha}/{}.{}",
                variant.name,
                variant.format.extension()
            ))
            .map_err(JobError::permanent)?;
            let size = variant.bytes.len() as u64;
            self.services
                .blobs
                .put_bytes(
                    &key,
                    Bytes::from(variant.bytes),
                    variant.format.content_type(),
                )
                .await
                .map_err(JobError::retry)?;
            stored.push(StoredVariant {
                name: variant.name,
                key: key.to_string(),
                width: variant.width,
                height: variant.height,
                format: variant.format.as_str().to_owned(),
                bytes: size,
            });
            ctx.progress(i as i64 + 2, Some(total))
                .await
                .map_err(JobError::retry)?;
        }
        Ok(stored)
    }

    /// The result of an earlier item with the same bytes, if its variants are all still stored.
    async fn reusable(&self, sha: &str) -> Result<Option<MediaResult>, JobError> {
        let Some(earlier) = self
            .services
            .db
            .ready_media_by_sha(sha)
            .await
            .map_err(JobError::retry)?
        else {
            return Ok(None);
        };
        for variant in &earlier.variants {
            let key = BlobKey::new(variant.key.clone()).map_err(JobError::permanent)?;
            if self
                .services
                .blobs
                .head(&key)
                .await
                .map_err(JobError::retry)?
                .is_none()
            {
                return Ok(None);
            }
        }
        Ok(Some(MediaResult {
            source_sha256: sha.to_owned(),
            format: earlier.format.unwrap_or_default(),
            width: earlier.width.unwrap_or_default(),
            height: earlier.height.unwrap_or_default(),
            duration_ms: earlier.duration_ms,
            variants: earlier.variants,
            blurhash: earlier.blurhash,
            thumbhash: earlier.thumbhash,
        }))
    }
}

impl JobHandler for ProcessMediaHandler {
    type Job = ProcessMedia;

    async fn handle(&self, job: ProcessMedia, ctx: JobContext) -> Result<(), JobError> {
        let db = &self.services.db;
        let Some(media) = db.media(&job.media_id).await.map_err(JobError::retry)? else {
            // Deleted before it was processed: nothing left to do.
            return Ok(());
        };
        if media.status == MediaStatus::Ready {
            return Ok(());
        }
        let source = BlobKey::new(media.source_key.clone()).map_err(JobError::permanent)?;
        let limit = self.services.config.media.max_photo_bytes;
        let bytes = match self.services.blobs.get_bytes(&source, limit).await {
            Ok(bytes) => bytes,
            Err(BlobError::NotFound(_)) => {
                return Err(self
                    .fail(
                        &media,
                        MediaError::Invalid("the uploaded file is missing".to_owned()),
                    )
                    .await);
            }
            Err(BlobError::TooLarge { limit, .. }) => {
                let err = MediaError::TooLarge(format!("the upload is larger than {limit} bytes"));
                return Err(self.fail(&media, err).await);
            }
            Err(e) => return Err(JobError::retry(e)),
        };
        ctx.progress(0, None).await.map_err(JobError::retry)?;
        let sha = hex::encode(Sha256::digest(&bytes));
        let result = match self.reusable(&sha).await? {
            Some(result) => result,
            None => {
                let settings = self.settings.clone();
                let processed = tokio::task::spawn_blocking(move || {
                    process(&bytes, &settings, &mut fast_image_resize::Resizer::new())
                })
                .await
                .map_err(|e| JobError::Retry(format!("image task failed: {e}")))?;
                let processed = match processed {
                    Ok(processed) => processed,
                    Err(e) => return Err(self.fail(&media, e).await),
                };
                let variants = self.store(&sha, processed.variants, &ctx).await?;
                MediaResult {
                    source_sha256: sha,
                    format: processed.format.as_str().to_owned(),
                    width: processed.width as i32,
                    height: processed.height as i32,
                    duration_ms: None,
                    variants,
                    blurhash: Some(processed.placeholders.blurhash),
                    thumbhash: Some(processed.placeholders.thumbhash),
                }
            }
        };
        db.media_ready(&media.id, &result)
            .await
            .map_err(JobError::retry)
    }
}
