//! The job runtime every worker kind runs on: apalis workers (one per queue,
//! built with `WorkerBuilder` and layers) over Fleet's queue backends.
//!
//! A job's attempt is leased from its queue, run by its [`JobHandler`] under a
//! per-kind timeout, and its outcome recorded: success, a retry after an
//! exponential backoff with jitter, or dead once attempts run out. Leases are
//! kept alive by heartbeats; a worker killed mid-job stops sending them and
//! its jobs return to the queue for another worker.

mod ack;
mod backend;
mod handler;
mod pool;
mod registry;
mod retry;
mod service;

pub use handler::{JobContext, JobError, JobHandler};
pub use pool::{Lane, WorkerPool};
pub use registry::Registry;
pub use retry::RetryPolicy;
