//! Test support for Fleet: fresh databases and queue backends on the services
//! running on this machine (PostgreSQL and Redis on 127.0.0.1), unique queue
//! names, and polling helpers. Real services only; nothing is mocked.

pub mod amazon;
pub mod effect;
pub mod etsy;
pub mod fake_server;
pub mod openai;
pub mod platform;
pub mod push;
pub mod s3;
pub mod shopify;
pub mod smtp;
pub mod stripe;
pub mod webhook;
pub mod worker;

pub use smtp::{SinkTls, SmtpSink, silent_smtp};

use fleet_shared::{Db, Queues, blob::Blobs};
use std::{future::Future, time::Duration};

/// PostgreSQL server used by tests (`FLEET_TEST_POSTGRES_URL`).
pub fn postgres_url() -> String {
    std::env::var("FLEET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Redis server used by tests (`FLEET_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("FLEET_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A unique id for naming test resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A unique queue name, so tests sharing one Redis never see each other's jobs.
pub fn unique_queue(prefix: &str) -> String {
    unique(&format!("t.{prefix}."))
}

/// The two backend combinations the job runtime supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite holds both the jobs table and the queues (`fleet dev`).
    Sqlite,
    /// PostgreSQL holds the jobs table, Redis the queues (production).
    RedisPostgres,
}

impl Backend {
    /// Both backends, for suites that must pass on each.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::RedisPostgres];
}

/// A database created for one test and dropped after it.
#[derive(Debug)]
pub struct TestDb {
    /// The migrated database.
    pub db: Db,
    /// Its URL.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    File(std::path::PathBuf),
    Postgres { server: String, name: String },
}

impl TestDb {
    /// A migrated SQLite file in the temp directory.
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique("fleet-test-"));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let url = format!("sqlite://{}/fleet.db", dir.display());
        TestDb::open(url, Cleanup::File(dir)).await
    }

    /// A migrated, freshly created PostgreSQL database.
    pub async fn postgres() -> TestDb {
        let server = postgres_url();
        let name = unique("fleet_test_");
        let admin = Db::connect(&format!("{server}/postgres"))
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 must be running");
        if let Db::Postgres(pool) = &admin {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(pool)
                .await
                .expect("create test database");
        }
        admin.close().await;
        let url = format!("{server}/{name}");
        TestDb::open(url, Cleanup::Postgres { server, name }).await
    }

    /// A migrated database of the kind `backend` uses.
    pub async fn for_backend(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::RedisPostgres => TestDb::postgres().await,
        }
    }

    async fn open(url: String, cleanup: Cleanup) -> TestDb {
        let db = Db::connect(&url).await.expect("connect test database");
        db.migrate().await.expect("migrate test database");
        TestDb { db, url, cleanup }
    }

    /// Queues on this database: in it (SQLite) or in Redis (PostgreSQL).
    pub async fn queues(&self) -> Queues {
        match self.db {
            Db::Sqlite(_) => Queues::sql(self.db.clone()),
            Db::Postgres(_) => Queues::redis(&redis_url(), self.db.clone())
                .await
                .expect("Redis on 127.0.0.1:6379 must be running"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { server, name } => {
                let (server, name) = (server.clone(), name.clone());
                // Dropping runs on its own runtime: Drop may run inside or outside one.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        if let Ok(Db::Postgres(pool)) =
                            Db::connect(&format!("{server}/postgres")).await
                        {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&pool)
                            .await;
                            pool.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A Redis server started by a test on a free port, with an append-only file
/// so a restart keeps its data (as compose.yaml runs Redis).
#[derive(Debug)]
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts `redis-server --appendonly yes` on a free port and waits until it answers.
    pub async fn start() -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("fleet-redis-"));
        std::fs::create_dir_all(&dir).expect("create redis dir");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
        };
        server.spawn().await;
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
            ])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        self.child = Some(child);
        let url = self.url();
        wait_for("redis-server to answer", Duration::from_secs(10), || {
            let url = url.clone();
            async move {
                let client = redis::Client::open(url).ok()?;
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                pong.ok().map(|_| ())
            }
        })
        .await;
    }

    /// Stops the server (SIGKILL: nothing is flushed beyond what AOF already holds).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A filesystem blob store in a fresh temporary directory whose signed URLs start with `public_url`.
pub async fn fs_blobs(public_url: &str) -> Blobs {
    let root = std::env::temp_dir().join(unique("fleet-blobs-"));
    let secret = fleet_shared::secret::SecretKey::from_text(&unique("fleet-test-secret-key-"))
        .expect("a long enough test secret");
    let signer = fleet_shared::blob::UrlSigner::new(secret.derive("blob-url"), public_url);
    std::sync::Arc::new(
        fleet_shared::blob::FsStore::open(root, signer)
            .await
            .expect("create blob directory"),
    )
}
