//! The `media.process` job: fetch the uploaded source, make its variants
//! (image ladder for photos, MP4 renditions and a poster for videos), store
//! them under content-addressed keys, and record the result.

use super::{
    MediaError,
    image::{ImageSettings, Variant, process},
    scratch::{self, Scratch},
    source,
    video::{self, Progress, VideoSettings},
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
use std::{sync::Arc, time::Duration};

/// The purpose whose uploads are videos.
const VIDEO_PURPOSE: &str = "listing_video";

/// How often a video job writes its frame count to the database.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Runs [`ProcessMedia`] jobs.
pub struct ProcessMediaHandler {
    services: Services,
    settings: ImageSettings,
    video: VideoSettings,
}

/// Cancels a video transcode when the job's future is dropped (timeout, shutdown), so the
/// blocking thread stops at its next packet instead of running on unobserved.
struct CancelOnDrop(Arc<Progress>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl ProcessMediaHandler {
    /// A handler using `services` and the media settings of their configuration.
    pub fn new(services: Services) -> Self {
        let settings = ImageSettings::from(&services.config.media);
        let video = VideoSettings::from(&services.config.media);
        ProcessMediaHandler {
            services,
            settings,
            video,
        }
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

    /// Turns a failure to fetch the source into the job's outcome: a missing or oversized upload
    /// is the uploader's (permanent), anything else is retried.
    async fn fetch_failed(&self, media: &MediaRecord, err: BlobError) -> JobError {
        match err {
            BlobError::NotFound(_) => {
                let err = MediaError::Invalid("the uploaded file is missing".to_owned());
                self.fail(media, err).await
            }
            BlobError::TooLarge { limit, .. } => {
                let err = MediaError::TooLarge(format!("the upload is larger than {limit} bytes"));
                self.fail(media, err).await
            }
            e => JobError::retry(e),
        }
    }

    fn key(sha: &str, name: &str, extension: &str) -> Result<BlobKey, JobError> {
        BlobKey::new(format!("media/{sha}/{name}.{extension}")).map_err(JobError::permanent)
    }

    /// Stores every image variant under `media/{sha256}/{name}.{ext}`; a retried job rewrites the
    /// same objects. Reports one step per variant to `ctx` when given.
    async fn store(
        &self,
        sha: &str,
        variants: Vec<Variant>,
        ctx: Option<&JobContext>,
    ) -> Result<Vec<StoredVariant>, JobError> {
        let total = variants.len() as i64 + 1;
        let mut stored = Vec::with_capacity(variants.len());
        for (i, variant) in variants.into_iter().enumerate() {
            let key = Self::key(sha, &variant.name, variant.format.extension())?;
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
            if let Some(ctx) = ctx {
                ctx.progress(i as i64 + 2, Some(total))
                    .await
                    .map_err(JobError::retry)?;
            }
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

    /// A photo: read it into memory, run the image ladder.
    async fn image(
        &self,
        media: &MediaRecord,
        source: &BlobKey,
        ctx: &JobContext,
    ) -> Result<MediaResult, JobError> {
        let limit = self.services.config.media.max_photo_bytes;
        let (bytes, sha) = match source::to_memory(&self.services.blobs, source, limit).await {
            Ok(fetched) => fetched,
            Err(e) => return Err(self.fetch_failed(media, e).await),
        };
        ctx.progress(0, None).await.map_err(JobError::retry)?;
        if let Some(result) = self.reusable(&sha).await? {
            return Ok(result);
        }
        let settings = self.settings.clone();
        let processed = tokio::task::spawn_blocking(move || {
            process(&bytes, &settings, &mut fast_image_resize::Resizer::new())
        })
        .await
        .map_err(|e| JobError::Retry(format!("image task failed: {e}")))?;
        let processed = match processed {
            Ok(processed) => processed,
            Err(e) => return Err(self.fail(media, e).await),
        };
        let variants = self.store(&sha, processed.variants, Some(ctx)).await?;
        Ok(MediaResult {
            source_sha256: sha,
            format: processed.format.as_str().to_owned(),
            width: processed.width as i32,
            height: processed.height as i32,
            duration_ms: None,
            variants,
            blurhash: Some(processed.placeholders.blurhash),
            thumbhash: Some(processed.placeholders.thumbhash),
        })
    }

    /// A video: stream it into a scratch directory, transcode there on a blocking thread
    /// while reporting frames done, then stream the renditions and store the poster variants.
    /// A killed attempt's directory is removed by the next video job on the machine.
    async fn video(
        &self,
        media: &MediaRecord,
        source: &BlobKey,
        ctx: &JobContext,
    ) -> Result<MediaResult, JobError> {
        let config = &self.services.config.media;
        let parent = config.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        // Directories of attempts killed on this machine go first, then this attempt's own.
        let dir = {
            let (within, job) = (parent.clone(), ctx.id.clone());
            tokio::task::spawn_blocking(move || {
                for stale in scratch::sweep(&within) {
                    tracing::info!(dir = %stale.display(), "removed the scratch directory of a lost video job");
                }
                Scratch::create(&within, &job)
            })
            .await
            .map_err(|e| JobError::Retry(format!("scratch directory task failed: {e}")))?
            .map_err(|e| {
                JobError::Retry(format!(
                    "cannot create a temporary directory in {}: {e}",
                    parent.display()
                ))
            })?
        };
        let input = dir.path().join("source");
        let sha =
            match source::to_file(&self.services.blobs, source, config.max_video_bytes, &input)
                .await
            {
                Ok(sha) => sha,
                Err(e) => return Err(self.fetch_failed(media, e).await),
            };
        ctx.progress(0, None).await.map_err(JobError::retry)?;
        if let Some(result) = self.reusable(&sha).await? {
            return Ok(result);
        }

        let progress = Arc::new(Progress::default());
        let _cancel = CancelOnDrop(progress.clone());
        let task = {
            let (settings, progress, out) =
                (self.video.clone(), progress.clone(), dir.path().to_owned());
            tokio::task::spawn_blocking(move || video::process(&input, &out, &settings, &progress))
        };
        tokio::pin!(task);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        let mut reported = (0, 0);
        let joined = loop {
            tokio::select! {
                joined = &mut task => break joined,
                _ = tick.tick() => {
                    let now = progress.get();
                    if now != reported && now.1 > 0 {
                        // Progress is informative: a failed write must not abandon the transcode.
                        if let Err(e) = ctx.progress(now.0 as i64, Some(now.1 as i64)).await {
                            tracing::warn!(job = %ctx.id, error = %e, "cannot record video progress");
                        }
                        reported = now;
                    }
                }
            }
        };
        let processed = joined.map_err(|e| JobError::Retry(format!("video task failed: {e}")))?;
        let processed = match processed {
            Ok(processed) => processed,
            Err(e) => return Err(self.fail(media, e).await),
        };
        let t = &processed.transcoded;
        let mut variants = Vec::with_capacity(t.renditions.len() + processed.poster.len());
        for file in &t.renditions {
            let r = &file.rendition;
            let key = Self::key(&sha, &r.name, "mp4")?;
            let meta = self
                .services
                .blobs
                .put_file(&key, &file.path, "video/mp4")
                .await
                .map_err(JobError::retry)?;
            variants.push(StoredVariant {
                name: r.name.clone(),
                key: key.to_string(),
                width: r.width,
                height: r.height,
                format: "mp4".to_owned(),
                bytes: meta.size,
            });
        }
        variants.extend(self.store(&sha, processed.poster, None).await?);
        ctx.progress(t.frames as i64, Some(t.frames as i64))
            .await
            .map_err(JobError::retry)?;
        let result = MediaResult {
            source_sha256: sha,
            format: t.probe.video.codec.clone(),
            width: t.width as i32,
            height: t.height as i32,
            duration_ms: Some(t.probe.duration_ms),
            variants,
            blurhash: Some(processed.placeholders.blurhash),
            thumbhash: Some(processed.placeholders.thumbhash),
        };
        // Removing a few hundred MB of temporary files blocks: off the async threads.
        let _ = tokio::task::spawn_blocking(move || drop(dir)).await;
        Ok(result)
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
        let result = if media.purpose == VIDEO_PURPOSE {
            self.video(&media, &source, &ctx).await?
        } else {
            self.image(&media, &source, &ctx).await?
        };
        db.media_ready(&media.id, &result)
            .await
            .map_err(JobError::retry)
    }
}
