//! Fleet's apalis backend: one per queue and worker. Background tasks lease
//! jobs into a bounded buffer the worker pulls from, extend the leases of
//! everything held, and write outcomes in batches. On shutdown, unstarted
//! jobs go back to the queue and every outcome is flushed.

use super::{ack::AckLayer, retry::RetryPolicy};
use apalis_core::{
    backend::{Backend, BackendConfig, finalize::Ephemeral},
    task::{
        Task,
        builder::TaskBuilder,
        task_id::{RandomId, TaskId},
    },
    worker::context::WorkerContext,
};
use fleet_shared::{Queues, db::jobs::Outcome, queue::Leased};
use futures::{FutureExt, future::BoxFuture};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};
use tokio::sync::{mpsc, oneshot, watch};

/// Most outcomes written in one round trip.
const ACK_BATCH: usize = 500;
/// Outcome batches written at once.
const ACK_WRITERS: usize = 4;
/// Longest pause between retries of a failing queue backend.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(5);
/// An attempt running this long is marked running in the jobs table; quicker
/// ones go straight from queued to their outcome in one write.
const MARK_RUNNING_AFTER_MS: i64 = 250;

/// A job this worker has leased and not yet reported.
#[derive(Debug, Clone, Copy)]
struct Held {
    attempt: i32,
    /// When the handler started (ms since epoch); None while buffered.
    started_at: Option<i64>,
    /// Whether the running mark was written, or is no longer wanted because
    /// the attempt has finished and its outcome waits to be written.
    marked: bool,
}

/// Settings of one queue's worker.
#[derive(Debug, Clone)]
pub struct LaneConfig {
    /// Queue name.
    pub queue: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Lease length; heartbeats renew it three times per lease.
    pub lease: Duration,
    /// Longest pause between polls of an empty queue.
    pub idle_poll: Duration,
    /// Most jobs per fetch.
    pub fetch_batch: usize,
    /// Jobs leased ahead of free slots, so a slot never waits for a fetch.
    pub prefetch: usize,
    /// Backoff between attempts.
    pub retry: RetryPolicy,
}

enum AckMsg {
    Outcome(Outcome),
    Flush(oneshot::Sender<()>),
}

/// State shared by a queue worker's backend, its middleware and its background tasks.
pub(crate) struct LaneState {
    pub(crate) queues: Queues,
    pub(crate) retry: RetryPolicy,
    config: LaneConfig,
    worker_id: Mutex<String>,
    held: Mutex<HashMap<String, Held>>,
    acks: mpsc::UnboundedSender<AckMsg>,
}

impl LaneState {
    /// Queues an outcome for the batch writer. The attempt is never marked
    /// running after this: that write would race the outcome's for its row.
    pub(crate) fn record(&self, outcome: Outcome) {
        if let Ok(mut held) = self.held.lock()
            && let Some(entry) = held.get_mut(&outcome.id)
            && entry.attempt == outcome.attempt
        {
            entry.marked = true;
        }
        if self.acks.send(AckMsg::Outcome(outcome)).is_err() {
            tracing::error!(queue = %self.config.queue, "outcome writer stopped; the lease will expire and the job run again");
        }
    }

    fn hold(&self, jobs: &[Leased]) {
        if let Ok(mut held) = self.held.lock() {
            held.extend(jobs.iter().map(|j| {
                let entry = Held {
                    attempt: j.attempt,
                    started_at: None,
                    marked: false,
                };
                (j.id.clone(), entry)
            }));
        }
    }

    /// Notes that the handler of `job` started at `at`.
    pub(crate) fn started(&self, job: &Leased, at: i64) {
        if let Ok(mut held) = self.held.lock()
            && let Some(entry) = held.get_mut(&job.id)
            && entry.attempt == job.attempt
        {
            entry.started_at = Some(at);
        }
    }

    fn release(&self, outcomes: &[Outcome]) {
        if let Ok(mut held) = self.held.lock() {
            for o in outcomes {
                if held.get(&o.id).map(|h| h.attempt) == Some(o.attempt) {
                    held.remove(&o.id);
                }
            }
        }
    }

    fn held(&self) -> Vec<(String, i32)> {
        self.held
            .lock()
            .map(|h| h.iter().map(|(id, e)| (id.clone(), e.attempt)).collect())
            .unwrap_or_default()
    }

    /// Attempts started before `cutoff` and not yet marked running; marks them as marked.
    fn take_unmarked(&self, cutoff: i64) -> Vec<(String, i32)> {
        let Ok(mut held) = self.held.lock() else {
            return Vec::new();
        };
        held.iter_mut()
            .filter(|(_, e)| !e.marked && e.started_at.is_some_and(|t| t <= cutoff))
            .map(|(id, e)| {
                e.marked = true;
                (id.clone(), e.attempt)
            })
            .collect()
    }
}

struct Running {
    stop: watch::Sender<bool>,
    fetcher: tokio::task::JoinHandle<()>,
    heartbeat: tokio::task::JoinHandle<()>,
    marker: tokio::task::JoinHandle<()>,
    acker: tokio::task::JoinHandle<()>,
}

/// The apalis [`Backend`] of one queue.
pub struct QueueBackend {
    lane: Arc<LaneState>,
    ack_rx: Option<mpsc::UnboundedReceiver<AckMsg>>,
    tx: mpsc::Sender<Task<Leased>>,
    rx: mpsc::Receiver<Task<Leased>>,
    running: Option<Running>,
    closing: Option<BoxFuture<'static, ()>>,
}

impl QueueBackend {
    /// A backend leasing jobs of `config.queue` from `queues`.
    pub fn new(queues: Queues, config: LaneConfig) -> Self {
        let (acks, ack_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::channel(config.prefetch.max(1));
        QueueBackend {
            lane: Arc::new(LaneState {
                queues,
                retry: config.retry,
                config,
                worker_id: Mutex::default(),
                held: Mutex::default(),
                acks,
            }),
            ack_rx: Some(ack_rx),
            tx,
            rx,
            running: None,
            closing: None,
        }
    }

    fn start(&mut self, worker: &WorkerContext) {
        let Some(ack_rx) = self.ack_rx.take() else {
            return;
        };
        let worker_id = format!(
            "{}:{}",
            worker.name(),
            ulid::Ulid::new().to_string().to_lowercase()
        );
        if let Ok(mut id) = self.lane.worker_id.lock() {
            id.clone_from(&worker_id);
        }
        let (stop, stop_rx) = watch::channel(false);
        self.running = Some(Running {
            fetcher: tokio::spawn(fetch_loop(
                Arc::clone(&self.lane),
                self.tx.clone(),
                worker_id,
                stop_rx.clone(),
            )),
            heartbeat: tokio::spawn(heartbeat_loop(Arc::clone(&self.lane), stop_rx.clone())),
            marker: tokio::spawn(mark_loop(Arc::clone(&self.lane), stop_rx)),
            acker: tokio::spawn(ack_loop(Arc::clone(&self.lane), ack_rx)),
            stop,
        });
    }

    fn close(&mut self) -> BoxFuture<'static, ()> {
        let running = self.running.take();
        let lane = Arc::clone(&self.lane);
        // Tasks leased but never started go back to the queue; their attempt does not count.
        let mut unstarted = Vec::new();
        self.rx.close();
        let mut drain = |rx: &mut mpsc::Receiver<Task<Leased>>| {
            while let Ok(task) = rx.try_recv() {
                unstarted.push(task.args);
            }
        };
        drain(&mut self.rx);
        let rx = std::mem::replace(&mut self.rx, mpsc::channel(1).1);
        async move {
            let mut rx = rx;
            if let Some(running) = running {
                let _ = running.stop.send(true);
                let _ = running.fetcher.await;
                while let Ok(task) = rx.try_recv() {
                    unstarted.push(task.args);
                }
                for job in unstarted {
                    lane.record(Outcome::released(&job.id, job.attempt));
                }
                let (done, flushed) = oneshot::channel();
                if lane.acks.send(AckMsg::Flush(done)).is_ok() {
                    let _ = flushed.await;
                }
                running.heartbeat.abort();
                running.marker.abort();
                running.acker.abort();
            }
        }
        .boxed()
    }
}

async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

async fn fetch_loop(
    lane: Arc<LaneState>,
    tx: mpsc::Sender<Task<Leased>>,
    worker_id: String,
    mut stop: watch::Receiver<bool>,
) {
    let cfg = &lane.config;
    let min_idle = Duration::from_millis(5).min(cfg.idle_poll);
    let mut idle = min_idle;
    let mut error_backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        let room = tokio::select! {
            permit = tx.reserve() => match permit {
                Ok(permit) => { drop(permit); tx.capacity().max(1) }
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        match lane
            .queues
            .fetch(&cfg.queue, &worker_id, room.min(cfg.fetch_batch), cfg.lease)
            .await
        {
            Ok(jobs) if jobs.is_empty() => {
                if sleep_or_stop(idle, &mut stop).await {
                    return;
                }
                idle = (idle * 2).min(cfg.idle_poll);
            }
            Ok(jobs) => {
                idle = min_idle;
                error_backoff = Duration::from_millis(100);
                lane.hold(&jobs);
                for job in jobs {
                    let task = TaskBuilder::new(job.clone())
                        .task_id(TaskId::from_string(job.id.clone()))
                        .build();
                    if tx.send(task).await.is_err() {
                        return;
                    }
                }
            }
            Err(err) => {
                tracing::warn!(queue = %cfg.queue, error = %err, retry_in = ?error_backoff, "cannot fetch jobs");
                if sleep_or_stop(error_backoff, &mut stop).await {
                    return;
                }
                error_backoff = (error_backoff * 2).min(MAX_ERROR_BACKOFF);
            }
        }
    }
}

async fn heartbeat_loop(lane: Arc<LaneState>, mut stop: watch::Receiver<bool>) {
    let every = (lane.config.lease / 3).max(Duration::from_millis(50));
    loop {
        if sleep_or_stop(every, &mut stop).await {
            // Leases are still renewed while in-flight jobs drain.
            if lane.held().is_empty() {
                return;
            }
        }
        let held = lane.held();
        if let Err(err) = lane
            .queues
            .heartbeat(&lane.config.queue, &held, lane.config.lease)
            .await
        {
            tracing::warn!(queue = %lane.config.queue, error = %err, "cannot renew job leases");
        }
    }
}

async fn mark_loop(lane: Arc<LaneState>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(MARK_RUNNING_AFTER_MS as u64);
    loop {
        if sleep_or_stop(every, &mut stop).await {
            return;
        }
        let due = lane.take_unmarked(fleet_shared::db::now_ms() - MARK_RUNNING_AFTER_MS);
        if due.is_empty() {
            continue;
        }
        let worker = lane.worker_id.lock().map(|w| w.clone()).unwrap_or_default();
        if let Err(err) = lane.queues.mark_running(&due, &worker).await {
            tracing::warn!(queue = %lane.config.queue, error = %err, "cannot mark jobs running");
        }
    }
}

async fn ack_loop(lane: Arc<LaneState>, mut rx: mpsc::UnboundedReceiver<AckMsg>) {
    // Several batches are written at once: each is one round trip to the
    // database and one to the queue backend, and they touch distinct attempts.
    let writers = Arc::new(tokio::sync::Semaphore::new(ACK_WRITERS));
    while let Some(first) = rx.recv().await {
        let mut outcomes = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                AckMsg::Outcome(o) => outcomes.push(o),
                AckMsg::Flush(done) => flushes.push(done),
            }
            if outcomes.len() < ACK_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !outcomes.is_empty() {
            let Ok(permit) = Arc::clone(&writers).acquire_owned().await else {
                return;
            };
            let lane = Arc::clone(&lane);
            tokio::spawn(async move {
                write_outcomes(&lane, &outcomes).await;
                drop(permit);
            });
        }
        if !flushes.is_empty() {
            // Everything sent before the flush is written once every writer is idle.
            let Ok(all) = writers.acquire_many(ACK_WRITERS as u32).await else {
                return;
            };
            drop(all);
            for done in flushes {
                let _ = done.send(());
            }
        }
    }
}

/// Writes one batch of outcomes, retrying until the backends accept it.
async fn write_outcomes(lane: &LaneState, outcomes: &[Outcome]) {
    let queue = &lane.config.queue;
    let mut backoff = Duration::from_millis(100);
    while let Err(err) = lane.queues.finish(queue, outcomes).await {
        tracing::warn!(queue = %queue, error = %err, retry_in = ?backoff, "cannot record job outcomes");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_ERROR_BACKOFF);
    }
    lane.release(outcomes);
}

impl Backend for QueueBackend {
    type Task = Task<Leased>;
    type Error = std::convert::Infallible;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.running.is_none() && self.ack_rx.is_some() {
            self.start(worker);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        self.rx.poll_recv(cx).map(|task| task.map(Ok))
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.closing.is_none() {
            self.closing = Some(self.close());
        }
        match self.closing.as_mut() {
            Some(fut) => fut.poll_unpin(cx).map(Ok),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl BackendConfig for QueueBackend {
    type Args = Leased;
    type Id = RandomId;
    type Kind = Ephemeral;
    type Config = LaneConfig;
    type Layer = AckLayer;

    fn config(&self) -> &Self::Config {
        &self.lane.config
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> Self::Layer {
        AckLayer {
            lane: Arc::clone(&self.lane),
        }
    }
}
