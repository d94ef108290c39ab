//! Parsing `blob_url`: `file:///path` or `s3://bucket[/prefix]?endpoint=…&region=…&path_style=true`.

use super::BlobError;
use std::path::PathBuf;

/// Where blobs live, as `blob_url` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A local directory.
    Fs {
        /// The directory.
        root: PathBuf,
    },
    /// An S3 bucket.
    S3(S3Settings),
}

/// How to reach an S3 bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Prepended to every key (empty, or ending in `/`).
    pub prefix: String,
    /// Custom endpoint (MinIO, R2, …); AWS when `None`.
    pub endpoint: Option<String>,
    /// Region; from the AWS environment when `None`, else `us-east-1`.
    pub region: Option<String>,
    /// Address the bucket in the path (`host/bucket/key`) instead of the host name.
    pub path_style: bool,
}

impl BlobLocation {
    /// Parses a `blob_url`.
    pub fn parse(url: &str) -> Result<BlobLocation, BlobError> {
        let invalid = |reason: &str| BlobError::Config {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        match parsed.scheme() {
            "file" => {
                let root = parsed
                    .to_file_path()
                    .map_err(|()| invalid("not an absolute local path"))?;
                Ok(BlobLocation::Fs { root })
            }
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid("no bucket name"))?
                    .to_owned();
                let mut prefix = parsed.path().trim_matches('/').to_owned();
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                let mut settings = S3Settings {
                    bucket,
                    prefix,
                    endpoint: None,
                    region: None,
                    path_style: false,
                };
                for (name, value) in parsed.query_pairs() {
                    match name.as_ref() {
                        "endpoint" => {
                            let endpoint = url::Url::parse(&value)
                                .map_err(|e| invalid(&format!("endpoint: {e}")))?;
                            if !matches!(endpoint.scheme(), "http" | "https") {
                                return Err(invalid("endpoint must be an http:// or https:// URL"));
                            }
                            settings.endpoint = Some(value.trim_end_matches('/').to_owned());
                        }
                        "region" => settings.region = Some(value.into_owned()),
                        "path_style" => {
                            settings.path_style = match value.as_ref() {
                                "true" | "1" => true,
                                "false" | "0" => false,
                                _ => return Err(invalid("path_style must be true or false")),
                            }
                        }
                        other => {
                            return Err(invalid(&format!(
                                "unknown parameter `{other}` (known: endpoint, region, path_style)"
                            )));
                        }
                    }
                }
                Ok(BlobLocation::S3(settings))
            }
            other => Err(invalid(&format!("unknown scheme `{other}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        assert_eq!(
            BlobLocation::parse("file:///var/lib/fleet/blobs").unwrap(),
            BlobLocation::Fs {
                root: PathBuf::from("/var/lib/fleet/blobs")
            }
        );
        assert_eq!(
            BlobLocation::parse(
                "s3://fleet/prod/media?endpoint=http://minio:9000/&path_style=true&region=eu-west-1"
            )
            .unwrap(),
            BlobLocation::S3(S3Settings {
                bucket: "fleet".to_owned(),
                prefix: "prod/media/".to_owned(),
                endpoint: Some("http://minio:9000".to_owned()),
                region: Some("eu-west-1".to_owned()),
                path_style: true,
            })
        );
        let plain = BlobLocation::parse("s3://bucket").unwrap();
        assert!(matches!(plain, BlobLocation::S3(s) if s.prefix.is_empty() && !s.path_style));
    }

    #[test]
    fn names_what_is_wrong() {
        for (url, needle) in [
            ("ftp://x", "unknown scheme"),
            ("s3://b?endpoint=minio:9000", "endpoint"),
            ("s3://b?path_style=yes", "path_style"),
            ("s3://b?secret=x", "unknown parameter"),
            ("file://relative", "absolute"),
            ("nonsense", "relative URL"),
        ] {
            let err = BlobLocation::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
