//! `fleet supervise`: the local autoscaler for one-VM installs. Runs
//! `fleet worker KIND` processes per kind and follows the scaling rule of the
//! ops report (the rule KEDA applies on Kubernetes): scale up at once, scale
//! down only after the stabilisation window, stop workers with SIGTERM so
//! they drain their in-flight jobs.

use anyhow::Context;
use fleet_jobs::WorkerKind;
use fleet_shared::{Config, Db, db::now_ms, queue::scaling::Stabiliser};
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::process::{Child, Command};

/// Longest one reading of the queue figures may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(20);

/// What to supervise.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Worker kinds to run (default: every kind).
    #[arg(value_name = "KIND")]
    kinds: Vec<WorkerKind>,
    /// Append a CSV line per kind and tick to FILE: at_ms, kind, waiting,
    /// in_flight, recommended, replicas, live_workers.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

/// The worker processes of one kind.
struct KindPool {
    kind: WorkerKind,
    running: Vec<Child>,
    draining: Vec<Child>,
    stabiliser: Stabiliser,
}

impl KindPool {
    /// Forgets processes that exited; a running one that exited is replaced on the next tick.
    fn reap(&mut self) {
        let kind = self.kind;
        self.running.retain_mut(|child| match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                tracing::warn!(%kind, %status, "worker exited on its own; starting another");
                false
            }
            Err(err) => {
                tracing::warn!(%kind, error = %err, "cannot check a worker process");
                true
            }
        });
        self.draining
            .retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    }
}

/// Runs until SIGTERM or Ctrl-C, then stops every worker with SIGTERM and waits for them to drain.
pub async fn run(file: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let config = crate::start::config(file)?;
    let db = crate::start::database(&config).await?;
    let queues = crate::start::queues(&config, db).await?;
    let exe = std::env::current_exe().context("cannot find the fleet executable")?;
    let kinds = if args.kinds.is_empty() {
        WorkerKind::ALL.to_vec()
    } else {
        args.kinds.clone()
    };
    warn_if_connections_run_out(&config, queues.db(), &kinds).await;
    let window_ms = (config.supervise.scale_down_window_secs * 1000) as i64;
    let mut pools: Vec<KindPool> = kinds
        .iter()
        .map(|&kind| KindPool {
            kind,
            running: Vec::new(),
            draining: Vec::new(),
            stabiliser: Stabiliser::new(0, window_ms),
        })
        .collect();
    let mut record = match &args.record {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            if f.metadata()?.len() == 0 {
                writeln!(
                    f,
                    "at_ms,kind,waiting,in_flight,recommended,replicas,live_workers"
                )?;
            }
            Some(f)
        }
        None => None,
    };
    tracing::info!(
        kinds = ?kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        interval_ms = config.supervise.interval_ms,
        scale_down_window_secs = config.supervise.scale_down_window_secs,
        "supervising workers"
    );
    let shutdown = fleet_shared::signal::shutdown();
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(config.supervise.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        for pool in &mut pools {
            pool.reap();
        }
        // A read that hangs (a starved database pool, a lost reply) must not stop the ticks.
        let read = fleet_shared::queue::report(&queues, &config.kinds);
        let report = match tokio::time::timeout(REPORT_TIMEOUT, read).await {
            Ok(Ok(report)) => report,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot read queue figures; keeping the workers as they are");
                continue;
            }
            Err(_) => {
                tracing::warn!(
                    timeout_secs = REPORT_TIMEOUT.as_secs(),
                    "reading queue figures timed out; keeping the workers as they are"
                );
                continue;
            }
        };
        let now = now_ms();
        for pool in &mut pools {
            let Some(figures) = report.kind(pool.kind) else {
                continue;
            };
            let target = pool.stabiliser.observe(now, figures.recommended_replicas) as usize;
            let before = pool.running.len();
            while pool.running.len() < target {
                match spawn(&exe, file, pool.kind) {
                    Ok(child) => pool.running.push(child),
                    Err(err) => {
                        tracing::error!(kind = %pool.kind, error = %err, "cannot start a worker");
                        break;
                    }
                }
            }
            while pool.running.len() > target {
                if let Some(child) = pool.running.pop() {
                    terminate(&child);
                    pool.draining.push(child);
                }
            }
            if pool.running.len() != before {
                tracing::info!(
                    kind = %pool.kind,
                    from = before,
                    to = pool.running.len(),
                    waiting = figures.waiting,
                    recommended = figures.recommended_replicas,
                    "scaled"
                );
            }
            if let Some(f) = record.as_mut() {
                writeln!(
                    f,
                    "{now},{},{},{},{},{},{}",
                    pool.kind,
                    figures.waiting,
                    figures.in_flight,
                    figures.recommended_replicas,
                    pool.running.len(),
                    figures.live_workers
                )?;
            }
        }
        if let Some(f) = record.as_mut() {
            f.flush()?;
        }
    }
    stop_all(pools, config.queue.shutdown_grace_secs).await;
    Ok(())
}

/// Warns when the workers at their maximum, each with a full pool, could ask
/// PostgreSQL for more connections than it accepts: the extra ones would be
/// refused and jobs would stall waiting for a connection.
async fn warn_if_connections_run_out(config: &Config, db: &Db, kinds: &[WorkerKind]) {
    let Ok(Some(limit)) = db.server_connection_limit().await else {
        return;
    };
    // The supervisor's own pool, and the API's, which usually shares the server.
    let processes = 2 + kinds
        .iter()
        .map(|&k| config.kinds.of(k).max_replicas)
        .sum::<u32>();
    let wanted = processes * config.database_max_connections;
    if wanted > limit {
        tracing::warn!(
            processes,
            database_max_connections = config.database_max_connections,
            server_limit = limit,
            "at their maximum replicas the workers may open {wanted} database connections but PostgreSQL accepts {limit}: \
             set database_max_connections (FLEET_DATABASE_MAX_CONNECTIONS) to at most {}, lower max_replicas, or raise max_connections",
            (limit / processes).max(1)
        );
    }
}

/// Starts `fleet worker KIND` with this process's configuration.
fn spawn(exe: &Path, file: Option<&Path>, kind: WorkerKind) -> std::io::Result<Child> {
    let mut cmd = Command::new(exe);
    if let Some(file) = file {
        cmd.arg("--config").arg(file);
    }
    // Several workers of a kind cannot share one metrics address.
    cmd.arg("worker")
        .arg(kind.as_str())
        .env_remove("FLEET_WORKER_METRICS_LISTEN")
        .stdin(std::process::Stdio::null());
    // A supervisor that dies without draining (SIGKILL, the OOM killer) must
    // not leave its workers running: a restarted one would start more. The
    // kernel sends each a SIGTERM, and they drain, when the runtime thread
    // that started them ends, which is with the process.
    // SAFETY: the hook only calls prctl(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(fleet_shared::signal::term_with_parent);
    }
    let child = cmd.spawn()?;
    tracing::debug!(%kind, pid = child.id(), "started worker");
    Ok(child)
}

/// Asks a worker to drain and exit.
fn terminate(child: &Child) {
    let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) with a pid of our own child and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc != 0 {
        tracing::warn!(pid, error = %std::io::Error::last_os_error(), "cannot send SIGTERM to a worker");
    }
}

/// SIGTERM to every worker, then waits for all of them; kills what is left after the grace period.
async fn stop_all(pools: Vec<KindPool>, grace_secs: u64) {
    let mut children = Vec::new();
    for pool in pools {
        for child in &pool.running {
            terminate(child);
        }
        children.extend(pool.running);
        children.extend(pool.draining);
    }
    tracing::info!(workers = children.len(), "stopping workers");
    let deadline = Duration::from_secs(grace_secs + 10);
    for mut child in children {
        match tokio::time::timeout(deadline, child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(pid = child.id(), "worker did not stop in time; killing it");
                let _ = child.kill().await;
            }
        }
    }
}
