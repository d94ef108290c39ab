//! Marketplace export job contracts: a run is planned into chunks, each chunk
//! is pushed by any worker of the marketplace's queue; a file-mode run is
//! written by one job.

use crate::{Job, queues};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A marketplace sellers export to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Marketplace {
    /// Shopify (Admin GraphQL API).
    Shopify,
    /// Etsy (Open API v3).
    Etsy,
    /// Amazon (Selling Partner API).
    Amazon,
}

impl Marketplace {
    /// Every marketplace.
    pub const ALL: [Marketplace; 3] =
        [Marketplace::Shopify, Marketplace::Etsy, Marketplace::Amazon];

    /// The name used in URLs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Marketplace::Shopify => "shopify",
            Marketplace::Etsy => "etsy",
            Marketplace::Amazon => "amazon",
        }
    }

    /// The marketplace named `s`.
    pub fn parse(s: &str) -> Option<Marketplace> {
        Marketplace::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The queue its export jobs run on (one rate-limit domain each).
    pub fn queue(self) -> &'static str {
        match self {
            Marketplace::Shopify => queues::EXPORT_SHOPIFY,
            Marketplace::Etsy => queues::EXPORT_ETSY,
            Marketplace::Amazon => queues::EXPORT_AMAZON,
        }
    }
}

impl fmt::Display for Marketplace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Selects a run's listings into items and chunks, then enqueues the chunk jobs
/// (or the file job). Idempotent: a retry adds only missing items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanExport {
    /// The run.
    pub run_id: String,
    /// Its marketplace (picks the queue).
    pub marketplace: Marketplace,
}

impl Job for PlanExport {
    const KIND: &'static str = "export.plan";

    fn queue(&self) -> &str {
        self.marketplace.queue()
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("export.plan:{}", self.run_id))
    }
}

/// Pushes the still pending items of one chunk of a run to the marketplace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportChunk {
    /// The run.
    pub run_id: String,
    /// Its marketplace.
    pub marketplace: Marketplace,
    /// The chunk, from 0.
    pub chunk: i64,
    /// Which pass over the run this is: 0 first, then one more per retry-failed.
    pub pass: i64,
}

impl Job for ExportChunk {
    const KIND: &'static str = "export.chunk";

    fn queue(&self) -> &str {
        self.marketplace.queue()
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!(
            "export.chunk:{}:{}:{}",
            self.run_id, self.pass, self.chunk
        ))
    }
}

/// Writes a file-mode run's feed files to the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteExportFile {
    /// The run.
    pub run_id: String,
    /// Its marketplace.
    pub marketplace: Marketplace,
}

impl Job for WriteExportFile {
    const KIND: &'static str = "export.file";

    fn queue(&self) -> &str {
        self.marketplace.queue()
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("export.file:{}", self.run_id))
    }
}
