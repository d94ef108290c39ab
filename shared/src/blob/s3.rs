//! Blobs in an S3 bucket (AWS, MinIO, R2 or any S3-compatible service),
//! through aws-sdk-s3. Credentials come from the usual AWS sources
//! (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles, instance roles).

use super::{
    Blob, BlobError, BlobKey, BlobStore, ByteStream, DEFAULT_CONTENT_TYPE, ObjectMeta, Presigned,
    location::S3Settings,
};
use aws_sdk_s3::{
    Client,
    config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation},
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    presigning::{PresignedRequest, PresigningConfig},
    primitives::ByteStream as AwsByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use std::{io, time::Duration};

/// Size of each part of a multipart upload; bodies smaller than this go in one `PutObject`.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Objects deleted concurrently by [`BlobStore::delete_prefix`].
const DELETE_CONCURRENCY: usize = 16;

/// A blob store in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    /// A client for the bucket `settings` names, with `credentials` (access key id, secret)
    /// or else the usual AWS sources; the bucket is not contacted until first use.
    pub async fn connect(settings: S3Settings, credentials: Option<(String, String)>) -> S3Store {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some((id, secret)) = credentials {
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret,
                None,
                None,
                "fleet-config",
            ));
        }
        let sdk = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(settings.path_style)
            // Plain clients using presigned URLs, and most S3-compatible servers, expect no extra checksum fields.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if sdk.region().is_none() {
            config = config.region(Region::new("us-east-1"));
        }
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        S3Store {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket,
            prefix: settings.prefix,
        }
    }

    fn object(&self, key: &BlobKey) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Uploads `first` and the rest of `body` as a multipart upload, aborting it on failure.
    async fn put_multipart(
        &self,
        key: &BlobKey,
        first: Bytes,
        body: &mut ByteStream,
        content_type: &str,
    ) -> Result<u64, BlobError> {
        let object = self.object(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&object)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| s3_error("start upload of", key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self
            .upload_parts(key, &object, &upload_id, first, body)
            .await;
        let parts = match result {
            Ok(parts) => parts,
            Err(e) => {
                let abort = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&object)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                if let Err(abort) = abort {
                    tracing::warn!(key = %key, error = %DisplayErrorContext(&abort), "cannot abort multipart upload");
                }
                return Err(e);
            }
        };
        let size = parts.iter().map(|(_, len)| *len).sum();
        let completed = parts.into_iter().map(|(part, _)| part).collect::<Vec<_>>();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&object)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_error("complete upload of", key, e))?;
        Ok(size)
    }

    async fn upload_parts(
        &self,
        key: &BlobKey,
        object: &str,
        upload_id: &str,
        first: Bytes,
        body: &mut ByteStream,
    ) -> Result<Vec<(CompletedPart, u64)>, BlobError> {
        let mut parts = Vec::new();
        let mut next = Some(first);
        while let Some(part) = next.take() {
            next = read_part(key, body).await?;
            let number = parts.len() as i32 + 1;
            let len = part.len() as u64;
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(object)
                .upload_id(upload_id)
                .part_number(number)
                .body(AwsByteStream::from(part))
                .send()
                .await
                .map_err(|e| s3_error("upload part of", key, e))?;
            let part = CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_owned))
                .build();
            parts.push((part, len));
        }
        Ok(parts)
    }
}

/// Reads up to [`PART_SIZE`] bytes of `body`; `None` at its end.
async fn read_part(key: &BlobKey, body: &mut ByteStream) -> Result<Option<Bytes>, BlobError> {
    let mut part = BytesMut::new();
    while part.len() < PART_SIZE {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk.map_err(|source| BlobError::Io {
                    op: "read upload for",
                    key: key.to_string(),
                    source,
                })?;
                part.extend_from_slice(&chunk);
            }
            None => break,
        }
    }
    Ok((!part.is_empty()).then(|| part.freeze()))
}

fn s3_error<E: ProvideErrorMetadata + std::error::Error + 'static, R>(
    op: &'static str,
    key: &impl std::fmt::Display,
    err: SdkError<E, R>,
) -> BlobError
where
    R: std::fmt::Debug,
{
    let message = match err.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => DisplayErrorContext(&err).to_string(),
    };
    BlobError::S3 {
        op,
        key: key.to_string(),
        message,
    }
}

fn is_not_found<E, R: HasStatus>(err: &SdkError<E, R>) -> bool {
    err.raw_response().is_some_and(|r| r.status_code() == 404)
}

/// The HTTP status of a raw SDK response.
trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn presigned(request: PresignedRequest, expires_at: std::time::SystemTime) -> Presigned {
    let headers = request
        .headers()
        // Every HTTP client sets these itself from the body it sends.
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("host")
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    Presigned::new(
        request.method(),
        request.uri().to_owned(),
        headers,
        expires_at,
    )
}

/// Metadata from the `Content-Length` and `Content-Type` S3 answered with.
fn object_meta(size: Option<i64>, content_type: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        size: size.unwrap_or_default().max(0) as u64,
        content_type: content_type.unwrap_or(DEFAULT_CONTENT_TYPE).to_owned(),
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, BlobError> {
    PresigningConfig::expires_in(ttl).map_err(|e| BlobError::Config {
        url: String::new(),
        reason: format!("presigned URL lifetime: {e}"),
    })
}

#[async_trait::async_trait]
impl BlobStore for S3Store {
    async fn put(
        &self,
        key: &BlobKey,
        mut body: ByteStream,
        content_type: &str,
    ) -> Result<ObjectMeta, BlobError> {
        let first = read_part(key, &mut body).await?.unwrap_or_default();
        let size = if first.len() < PART_SIZE {
            let size = first.len() as u64;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.object(key))
                .content_type(content_type)
                .body(AwsByteStream::from(first))
                .send()
                .await
                .map_err(|e| s3_error("put", key, e))?;
            size
        } else {
            self.put_multipart(key, first, &mut body, content_type)
                .await?
        };
        Ok(ObjectMeta {
            size,
            content_type: content_type.to_owned(),
        })
    }

    async fn get(&self, key: &BlobKey) -> Result<Blob, BlobError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if is_not_found(&e) => return Err(BlobError::NotFound(key.to_string())),
            Err(e) => return Err(s3_error("get", key, e)),
        };
        let meta = object_meta(output.content_length(), output.content_type());
        let body = futures::stream::unfold(output.body, |mut body| async move {
            body.next().await.map(|chunk| (chunk, body))
        })
        .map_err(io::Error::other);
        Ok(Blob {
            meta,
            body: Box::pin(body),
        })
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectMeta>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .send()
            .await
        {
            Ok(output) => Ok(Some(object_meta(
                output.content_length(),
                output.content_type(),
            ))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_error("head", key, e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(s3_error("delete", key, e)),
        }
    }

    async fn delete_prefix(&self, prefix: &BlobKey) -> Result<u64, BlobError> {
        let listing_prefix = format!("{}/", self.object(prefix));
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&listing_prefix)
            .into_paginator()
            .send();
        let mut deleted = 0u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error("list", prefix, e))?;
            let keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect();
            let results: Vec<Result<(), BlobError>> = futures::stream::iter(keys)
                .map(|object| async move {
                    self.client
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(&object)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| s3_error("delete", &object, e))
                })
                .buffer_unordered(DELETE_CONCURRENCY)
                .collect()
                .await;
            for result in results {
                result?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn presign_put(
        &self,
        key: &BlobKey,
        content_type: &str,
        content_length: Option<u64>,
        ttl: Duration,
    ) -> Result<Presigned, BlobError> {
        let expires_at = std::time::SystemTime::now() + ttl;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .content_type(content_type)
            .set_content_length(content_length.map(|l| l as i64))
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| s3_error("presign upload of", key, e))?;
        Ok(presigned(request, expires_at))
    }

    async fn presign_get(&self, key: &BlobKey, ttl: Duration) -> Result<Presigned, BlobError> {
        let expires_at = std::time::SystemTime::now() + ttl;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| s3_error("presign download of", key, e))?;
        Ok(presigned(request, expires_at))
    }

    async fn check(&self) -> Result<(), BlobError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| s3_error("reach bucket", &self.bucket, e))
    }
}
