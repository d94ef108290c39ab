//! Job contracts: the payloads, queue names and statuses that Fleet's API and
//! workers both compile against. This crate does no I/O.
//!
//! A job type implements [`Job`]; the API enqueues it and the worker of its
//! [`WorkerKind`] runs it from the job's queue.
//!
//! ```
//! use fleet_jobs::{Job, queues};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Resize { media_id: String }
//!
//! impl Job for Resize {
//!     const KIND: &'static str = "media.resize";
//!     fn queue(&self) -> &str { queues::MEDIA }
//!     fn idempotency_key(&self) -> Option<String> { Some(format!("resize:{}", self.media_id)) }
//! }
//! ```

pub mod categorize;
pub mod export;
pub mod kind;
pub mod media;
pub mod notify;
pub mod payout;
pub mod queues;
pub mod status;

pub use kind::{UnknownWorkerKind, WorkerKind};
pub use status::{JobStatus, UnknownStatus};

use serde::{Serialize, de::DeserializeOwned};

/// A unit of work that can be enqueued and run by a worker.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name of this job type, recorded with every job (`media.process`).
    const KIND: &'static str;
    /// Version of the payload schema; bumped on incompatible changes.
    const VERSION: u32 = 1;
    /// The queue this job is pushed to.
    fn queue(&self) -> &str;
    /// A key that makes enqueueing idempotent: a second job with the same key is not created.
    fn idempotency_key(&self) -> Option<String> {
        None
    }
}
