//! The `export.chunk` job: sends the still pending listings of one chunk to
//! the marketplace, one at a time, settling each item as it goes. A crash or
//! retry redoes only what is still pending; a refused credential stops the
//! whole run; a cancelled run stops before its next listing.

use super::{
    Shared,
    amazon::AmazonSink,
    etsy::EtsySink,
    listing::{ExportListing, ItemError, run_listings},
    shopify::ShopifySink,
};
use crate::runtime::{JobContext, JobError, JobHandler};
use fleet_jobs::export::{ExportChunk, Marketplace};
use fleet_shared::{
    db::exports::{RemoteRecord, RunRecord},
    export::{
        ItemStatus, RunStatus,
        amazon::{AmazonClient, AmazonCredentials},
        amazon_marketplaces,
        category_map::CategoryMap,
        connection::{self, ConnectionFields},
        etsy::EtsyClient,
        shopify::ShopifyClient,
    },
};
use std::future::Future;

/// What a marketplace answered for one listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The marketplace's id for it (None in a dry run of a new listing).
    pub remote_id: Option<String>,
    /// The handle or SKU it is stored under there.
    pub handle: Option<String>,
    /// What was left out (marketplaces it could not go to), in plain words.
    pub warning: Option<String>,
}

/// Why one listing was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// This listing is invalid for the marketplace or was refused: the item fails.
    Item(String),
    /// The connection is unusable (refused credentials): the run stops.
    Stop(String),
    /// A passing failure: the chunk is retried later.
    Transient(String),
}

/// A marketplace that takes listings one at a time.
pub trait Sink: Send {
    /// What the sink derives for `listing` beyond its own fields (a mapped
    /// category, the target marketplaces): part of the hash that skips unchanged listings.
    fn fingerprint(&self, _listing: &ExportListing) -> String {
        String::new()
    }

    /// Sends `listing` (already there as `known`, if exported before); a dry run only validates.
    fn push(
        &mut self,
        listing: &ExportListing,
        known: Option<&RemoteRecord>,
        dry_run: bool,
    ) -> impl Future<Output = Result<Pushed, PushError>> + Send;
}

/// Runs [`ExportChunk`] jobs.
#[derive(Debug, Clone)]
pub struct ChunkHandler {
    shared: Shared,
}

impl ChunkHandler {
    /// A handler on `shared`.
    pub fn new(shared: Shared) -> Self {
        ChunkHandler { shared }
    }

    /// The seller's connection to the run's marketplace, secrets opened.
    async fn connection(&self, run: &RunRecord) -> Result<ConnectionFields, PushError> {
        let sealer = self.shared.sealer().map_err(PushError::Transient)?;
        connection::load(
            &self.shared.services.db,
            &sealer,
            &run.seller_id,
            run.marketplace,
        )
        .await
        .map(|(_, fields)| fields)
        .map_err(|e| match e {
            connection::ConnectionError::Db(e) => PushError::Transient(e.to_string()),
            other => PushError::Stop(other.to_string()),
        })
    }

    /// The seller's shop, ready to take products.
    async fn shopify(&self, run: &RunRecord) -> Result<ShopifySink, PushError> {
        let fields = self.connection(run).await?;
        let client = ShopifyClient::new(
            self.shared.http().map_err(PushError::Transient)?,
            &self.shared.services.config.export,
            fields.setting("shop_domain").unwrap_or_default(),
            fields.secret("access_token"),
            self.shared.buckets().await.map_err(PushError::Transient)?,
        );
        ShopifySink::open(client, fields.setting("location_id")).await
    }

    /// The seller's Amazon listings, ready to take offers.
    async fn amazon(&self, run: &RunRecord) -> Result<AmazonSink, PushError> {
        let fields = self.connection(run).await?;
        let client = AmazonClient::new(
            self.shared.http().map_err(PushError::Transient)?,
            &self.shared.services.config.export,
            AmazonCredentials::of(&fields),
            self.shared.buckets().await.map_err(PushError::Transient)?,
        );
        let markets =
            amazon_marketplaces::resolve(&fields.list("marketplace_ids"), fields.setting("region"))
                .map_err(|e| {
                    PushError::Stop(format!(
                        "the amazon connection is not usable ({e}): put it again"
                    ))
                })?;
        let map = self.category_map(run).await?;
        AmazonSink::open(client, markets, map).await
    }

    /// The seller's Etsy shop, ready to take listings.
    async fn etsy(&self, run: &RunRecord) -> Result<EtsySink, PushError> {
        let fields = self.connection(run).await?;
        let client = EtsyClient::new(
            self.shared.http().map_err(PushError::Transient)?,
            &self.shared.services.config.export,
            &fields,
            self.shared.buckets().await.map_err(PushError::Transient)?,
        );
        let sealer = self.shared.sealer().map_err(PushError::Transient)?;
        let map = self.category_map(run).await?;
        EtsySink::open(
            client,
            self.shared.services.clone(),
            sealer,
            &run.seller_id,
            fields,
            map,
        )
        .await
    }

    /// The seller's category map for the run's marketplace.
    async fn category_map(&self, run: &RunRecord) -> Result<CategoryMap, PushError> {
        self.shared
            .services
            .db
            .category_map(&run.seller_id, run.marketplace)
            .await
            .map_err(|e| PushError::Transient(e.to_string()))
    }

    /// Stops `run` for `reason`: its pending items fail, the connection shows why.
    async fn stop(&self, run: &RunRecord, reason: &str) -> Result<(), JobError> {
        let db = &self.shared.services.db;
        db.set_connection_status(
            &run.seller_id,
            run.marketplace,
            "unauthorized",
            Some(reason),
        )
        .await
        .map_err(JobError::retry)?;
        db.stop_run(&run.id, &format!("not sent: {reason}"), reason)
            .await
            .map_err(JobError::retry)
    }

    /// Sends the pending `ids` of `run` through `sink`.
    async fn send<S: Sink>(
        &self,
        mut sink: S,
        run: &RunRecord,
        ids: Vec<String>,
        ctx: &JobContext,
    ) -> Result<(), JobError> {
        let services = &self.shared.services;
        let db = &services.db;
        let listings = run_listings(db, run, &ids).await?;
        let remotes = db
            .remote_listings(&run.seller_id, run.marketplace, &ids)
            .await
            .map_err(JobError::retry)?;
        let total = listings.len() as i64;
        for (done, record) in listings.into_iter().enumerate() {
            ctx.progress(done as i64, Some(total))
                .await
                .map_err(JobError::retry)?;
            let status = db.run_status(&run.id).await.map_err(JobError::retry)?;
            if status.is_none_or(RunStatus::is_final) {
                return Ok(()); // cancelled, or stopped by another chunk
            }
            let id = record.id.clone();
            let known = remotes.get(&id);
            let listing = match ExportListing::resolve(services, record).await {
                Ok(listing) => listing,
                Err(ItemError::Invalid(reason)) => {
                    db.settle_item(&run.id, &id, ItemStatus::Failed, Some(&reason), None)
                        .await
                        .map_err(JobError::retry)?;
                    continue;
                }
                Err(ItemError::Transient(reason)) => return Err(JobError::Retry(reason)),
            };
            let hash = listing.content_hash(&sink.fingerprint(&listing));
            if !run.dry_run && known.is_some_and(|k| k.content_hash == hash) {
                let remote = known.map(|k| k.remote_id.as_str());
                db.settle_item(
                    &run.id,
                    &id,
                    ItemStatus::Skipped,
                    Some("unchanged since the last export"),
                    remote,
                )
                .await
                .map_err(JobError::retry)?;
                continue;
            }
            let pushed = sink.push(&listing, known, run.dry_run).await;
            if let Ok(Pushed {
                warning: Some(warning),
                ..
            }) = &pushed
            {
                db.set_item_warning(&run.id, &id, warning)
                    .await
                    .map_err(JobError::retry)?;
            }
            match pushed {
                Ok(Pushed {
                    remote_id: Some(remote_id),
                    handle,
                    ..
                }) if !run.dry_run => {
                    let remote = RemoteRecord {
                        listing_id: id,
                        remote_id,
                        handle,
                        content_hash: hash,
                    };
                    db.settle_exported(&run.id, &run.seller_id, run.marketplace, &remote)
                        .await
                        .map_err(JobError::retry)?;
                }
                Ok(pushed) => {
                    db.settle_item(
                        &run.id,
                        &id,
                        ItemStatus::Succeeded,
                        None,
                        pushed.remote_id.as_deref(),
                    )
                    .await
                    .map_err(JobError::retry)?;
                }
                Err(PushError::Item(reason)) => {
                    db.settle_item(&run.id, &id, ItemStatus::Failed, Some(&reason), None)
                        .await
                        .map_err(JobError::retry)?;
                }
                Err(PushError::Stop(reason)) => return self.stop(run, &reason).await,
                Err(PushError::Transient(reason)) => return Err(JobError::Retry(reason)),
            }
        }
        ctx.progress(total, Some(total))
            .await
            .map_err(JobError::retry)?;
        Ok(())
    }
}

impl JobHandler for ChunkHandler {
    type Job = ExportChunk;

    async fn handle(&self, job: ExportChunk, ctx: JobContext) -> Result<(), JobError> {
        let db = &self.shared.services.db;
        let Some(run) = self.shared.live_run(&job.run_id).await? else {
            return Ok(());
        };
        // A job of an earlier pass has nothing left: its failed items belong to the new pass's jobs.
        if job.pass != run.pass {
            return Ok(());
        }
        let ids = db
            .pending_chunk_items(&run.id, job.chunk)
            .await
            .map_err(JobError::retry)?;
        if !ids.is_empty() {
            let sent = match run.marketplace {
                Marketplace::Shopify => match self.shopify(&run).await {
                    Ok(sink) => Ok(self.send(sink, &run, ids, &ctx).await?),
                    Err(e) => Err(e),
                },
                Marketplace::Amazon => match self.amazon(&run).await {
                    Ok(sink) => Ok(self.send(sink, &run, ids, &ctx).await?),
                    Err(e) => Err(e),
                },
                Marketplace::Etsy => match self.etsy(&run).await {
                    Ok(sink) => Ok(self.send(sink, &run, ids, &ctx).await?),
                    Err(e) => Err(e),
                },
            };
            match sent {
                Ok(()) => {}
                Err(PushError::Transient(reason)) => return Err(JobError::Retry(reason)),
                Err(PushError::Stop(reason) | PushError::Item(reason)) => {
                    return self.stop(&run, &reason).await;
                }
            }
        }
        db.finish_run_if_done(&run.id)
            .await
            .map_err(JobError::retry)?;
        Ok(())
    }
}
