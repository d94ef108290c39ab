//! The `export.plan` job: selects the run's listings into items, numbered
//! into chunks, then enqueues one chunk job per chunk (or the file job).
//! Safe to redo: items already planned stay, jobs are enqueued once.

use super::Shared;
use crate::runtime::{JobContext, JobError, JobHandler};
use fleet_jobs::{
    Job,
    export::{ExportChunk, PlanExport, WriteExportFile},
};
use fleet_shared::{
    db::{exports::RunRecord, jobs::NewJob},
    export::{ExportMode, Selection},
};

/// `job` owned by `seller_id`, so the seller may read it.
fn seller_job<J: Job>(job: &J, max_attempts: i32, seller_id: &str) -> Result<NewJob, JobError> {
    let mut new = NewJob::of(job, max_attempts)
        .map_err(|e| JobError::Permanent(format!("{}: {e}", J::KIND)))?;
    new.seller_id = Some(seller_id.to_owned());
    Ok(new)
}

/// Listings read per query while planning.
const PAGE: usize = 1_000;

/// Runs [`PlanExport`] jobs.
#[derive(Debug, Clone)]
pub struct PlanHandler {
    shared: Shared,
}

impl PlanHandler {
    /// A handler on `shared`.
    pub fn new(shared: Shared) -> Self {
        PlanHandler { shared }
    }

    /// `(id, sku)` of every listing `run` selects, in id order; Err says why the selection is unusable.
    async fn select(
        &self,
        run: &RunRecord,
    ) -> Result<Result<Vec<(String, String)>, String>, JobError> {
        let db = &self.shared.services.db;
        let max = self.shared.services.config.export.max_listings_per_run;
        let selection: Selection = match serde_json::from_value(run.selection.clone()) {
            Ok(selection) => selection,
            Err(e) => return Ok(Err(format!("the stored selection is unreadable: {e}"))),
        };
        let mut out = Vec::new();
        if selection.all {
            let filter = selection.filter.listing_filter();
            let mut after: Option<String> = None;
            loop {
                let page = db
                    .list_listings(&run.seller_id, &filter, after.as_deref(), PAGE as i64)
                    .await
                    .map_err(JobError::retry)?;
                let last = page.len() < PAGE;
                after = page.last().map(|l| l.id.clone());
                out.extend(page.into_iter().map(|l| (l.id, l.sku)));
                if out.len() > max {
                    return Ok(Err(format!(
                        "the selection holds more than {max} listings (export.max_listings_per_run): narrow the filter"
                    )));
                }
                if last {
                    break;
                }
            }
        } else {
            for ids in selection.ids.chunks(PAGE) {
                let page = db
                    .listings_by_ids(&run.seller_id, ids)
                    .await
                    .map_err(JobError::retry)?;
                out.extend(page.into_iter().map(|l| (l.id, l.sku)));
            }
            out.sort();
        }
        Ok(Ok(out))
    }
}

impl JobHandler for PlanHandler {
    type Job = PlanExport;

    async fn handle(&self, job: PlanExport, _ctx: JobContext) -> Result<(), JobError> {
        let services = &self.shared.services;
        let db = &services.db;
        let Some(run) = self.shared.live_run(&job.run_id).await? else {
            return Ok(());
        };
        let listings = match self.select(&run).await? {
            Ok(listings) => listings,
            Err(reason) => {
                db.stop_run(&run.id, &reason, &reason)
                    .await
                    .map_err(JobError::retry)?;
                return Ok(());
            }
        };
        let size = services.config.export.chunk_size.max(1);
        let items: Vec<(String, String, i64)> = listings
            .into_iter()
            .enumerate()
            .map(|(i, (id, sku))| (id, sku, (i / size) as i64))
            .collect();
        db.add_run_items(&run.id, &items)
            .await
            .map_err(JobError::retry)?;
        let Some(chunks) = db.set_run_planned(&run.id).await.map_err(JobError::retry)? else {
            return Ok(()); // cancelled while planning
        };
        let max_attempts = services.config.kinds.export.max_attempts as i32;
        let jobs = match run.mode {
            ExportMode::Push => (0..chunks)
                .map(|chunk| {
                    let job = ExportChunk {
                        run_id: run.id.clone(),
                        marketplace: run.marketplace,
                        chunk,
                        pass: run.pass,
                    };
                    seller_job(&job, max_attempts, &run.seller_id)
                })
                .collect::<Result<Vec<_>, _>>()?,
            ExportMode::File if chunks > 0 => {
                let job = WriteExportFile {
                    run_id: run.id.clone(),
                    marketplace: run.marketplace,
                };
                vec![seller_job(&job, max_attempts, &run.seller_id)?]
            }
            ExportMode::File => Vec::new(),
        };
        if jobs.is_empty() {
            db.finish_run_if_done(&run.id)
                .await
                .map_err(JobError::retry)?;
        } else {
            services
                .queues
                .enqueue(jobs)
                .await
                .map_err(JobError::retry)?;
        }
        Ok(())
    }
}
