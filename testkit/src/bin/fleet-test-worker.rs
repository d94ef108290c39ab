//! A worker process for cross-process tests: runs `test.effect` jobs from the
//! queue named by `FLEET_TEST_QUEUE`, configured by the usual `FLEET_*`
//! variables, until SIGTERM.

use fleet_shared::{Config, Db, Queues, config::KindSettings};
use fleet_testkit::effect::EffectHandler;
use fleet_workers::runtime::{Registry, WorkerPool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(None)?;
    fleet_shared::telemetry::init_logging(&config);
    let queue = std::env::var("FLEET_TEST_QUEUE")?;
    let db = Db::connect(&config.database_url()).await?;
    let queues = match &config.redis_url {
        Some(url) => Queues::redis(url, db).await?,
        None => Queues::sql(db),
    };
    let mut registry = Registry::new();
    registry.register(&queue, EffectHandler);
    let kind = KindSettings {
        concurrency: 4,
        timeout_secs: 60,
        backoff_base_ms: 100,
        ..KindSettings::default()
    };
    let mut pool = WorkerPool::new(queues, registry, &config.queue);
    pool.add_queue(&queue, &kind, &config.queue);
    println!("worker {} ready", std::process::id());
    pool.run(fleet_shared::signal::shutdown()).await?;
    println!("worker {} stopped", std::process::id());
    Ok(())
}
