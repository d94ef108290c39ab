//! A real S3-compatible server for tests: s3s-fs (the `s3s` crate's
//! filesystem backend) on a free port, with SigV4 authentication on, so
//! signatures and presigned-URL expiry are enforced as by S3.

use std::{path::PathBuf, time::Duration};

/// An S3 server on 127.0.0.1 with one bucket, stopped on drop.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket created for the test.
    pub bucket: String,
    /// Access key id the server accepts.
    pub access_key: String,
    /// Secret key the server accepts.
    pub secret_key: String,
    root: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl S3Server {
    /// Starts the server on its own thread and waits until it accepts connections.
    pub fn start() -> S3Server {
        let root = std::env::temp_dir().join(crate::unique("fleet-s3-"));
        let bucket = crate::unique("fleet-");
        std::fs::create_dir_all(root.join(&bucket)).expect("create bucket directory");
        let (access_key, secret_key) = (
            "fleet-test-access".to_owned(),
            "fleet-test-secret-key".to_owned(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind S3 port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let endpoint = format!("http://{}", listener.local_addr().expect("S3 address"));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let service = {
            let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs root");
            let mut builder = s3s::service::S3ServiceBuilder::new(fs);
            builder.set_auth(s3s::auth::SimpleAuth::from_single(
                access_key.clone(),
                secret_key.clone(),
            ));
            builder.build()
        };
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(serve(listener, service, stopped));
        });
        S3Server {
            endpoint,
            bucket,
            access_key,
            secret_key,
            root,
            stop: Some(stop),
        }
    }

    /// The `blob_url` pointing Fleet at this server's bucket.
    pub fn blob_url(&self) -> String {
        format!(
            "s3://{}?endpoint={}&path_style=true&region=us-east-1",
            self.bucket, self.endpoint
        )
    }

    /// Number of objects stored under `prefix` in the bucket, read from disk.
    pub fn object_count(&self, prefix: &str) -> usize {
        fn walk(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        walk(&self.root.join(&self.bucket).join(prefix))
    }

    /// Every object key in the bucket, sorted, read from disk.
    pub fn keys(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, prefix: &str, keys: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                if entry.path().is_dir() {
                    walk(&entry.path(), &format!("{name}/"), keys);
                } else {
                    keys.push(name);
                }
            }
        }
        let mut keys = Vec::new();
        walk(&self.root.join(&self.bucket), "", &mut keys);
        keys.sort();
        keys
    }

    /// The server's files of writes in progress or never finished: multipart uploads neither
    /// completed nor aborted (their parts and records) and partly written objects.
    pub fn unfinished_writes(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".upload") || n.starts_with(".tmp."))
            .collect();
        names.sort();
        names
    }
}

async fn serve(
    listener: std::net::TcpListener,
    service: s3s::service::S3Service,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut stopped => return,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
