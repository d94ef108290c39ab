//! The `export.file` job: writes a file-mode run's listings as import files
//! (Shopify's product CSV, Amazon's JSON_LISTINGS_FEED split at 25,000
//! messages, or a generic CSV) into a temporary directory a page at a time,
//! then streams each file to the blob store. Memory stays bounded by one page.

use super::{
    Shared,
    listing::{ExportListing, ItemError, run_listings},
};
use crate::runtime::{JobContext, JobError, JobHandler};
use fleet_jobs::export::{Marketplace, WriteExportFile};
use fleet_shared::{
    blob::BlobKey,
    db::exports::RunRecord,
    export::{
        FileFormat, ItemStatus,
        amazon_marketplaces::{self, AmazonMarketplace},
        category_map::CategoryMap,
    },
};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

/// Items read per query.
const PAGE: i64 = 500;
/// Most messages in one JSON_LISTINGS_FEED file (Amazon's limit).
pub const AMAZON_MESSAGES_PER_FILE: usize = 25_000;

const GENERIC_HEADER: &[&str] = &[
    "id",
    "sku",
    "title",
    "description",
    "price",
    "currency",
    "quantity",
    "condition",
    "brand",
    "size",
    "colour",
    "material",
    "category",
    "image_urls",
    "attributes",
];

const SHOPIFY_HEADER: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Variant SKU",
    "Variant Inventory Qty",
    "Variant Price",
    "Variant Requires Shipping",
    "Image Src",
    "Image Position",
    "Status",
];

/// Runs [`WriteExportFile`] jobs.
#[derive(Debug, Clone)]
pub struct FileHandler {
    shared: Shared,
}

impl FileHandler {
    /// A handler on `shared`.
    pub fn new(shared: Shared) -> Self {
        FileHandler { shared }
    }
}

/// Where rows go: the open file and the files finished so far.
struct Output {
    dir: PathBuf,
    format: FileFormat,
    amazon_seller: Option<String>,
    files: Vec<PathBuf>,
    csv: Option<csv::Writer<BufWriter<File>>>,
    json: Option<BufWriter<File>>,
    in_file: usize,
    per_file: usize,
}

fn io_err(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(format!("writing the export file: {e}"))
}

impl Output {
    fn new(dir: PathBuf, format: FileFormat, amazon_seller: Option<String>) -> Output {
        Output {
            dir,
            format,
            amazon_seller,
            files: Vec::new(),
            csv: None,
            json: None,
            in_file: 0,
            per_file: AMAZON_MESSAGES_PER_FILE,
        }
    }

    fn next_path(&mut self, ext: &str) -> PathBuf {
        let name = match self.format {
            FileFormat::ShopifyCsv => "shopify-products".to_owned(),
            FileFormat::GenericCsv => "listings".to_owned(),
            FileFormat::AmazonJson => format!("amazon-listings-{:04}", self.files.len() + 1),
        };
        let path = self.dir.join(format!("{name}.{ext}"));
        self.files.push(path.clone());
        path
    }

    fn csv_row(&mut self, row: &[String]) -> Result<(), JobError> {
        if self.csv.is_none() {
            let path = self.next_path("csv");
            let mut writer =
                csv::Writer::from_writer(BufWriter::new(File::create(path).map_err(io_err)?));
            let header = match self.format {
                FileFormat::ShopifyCsv => SHOPIFY_HEADER,
                _ => GENERIC_HEADER,
            };
            writer.write_record(header).map_err(io_err)?;
            self.csv = Some(writer);
        }
        if let Some(writer) = &mut self.csv {
            writer.write_record(row).map_err(io_err)?;
        }
        Ok(())
    }

    fn amazon_message(&mut self, message: &Value) -> Result<(), JobError> {
        if self.in_file == self.per_file {
            self.close_json()?;
        }
        if self.json.is_none() {
            let path = self.next_path("json");
            let mut out = BufWriter::new(File::create(path).map_err(io_err)?);
            let seller_id = self.amazon_seller.clone().unwrap_or_default();
            let header = json!({"sellerId": seller_id, "version": "2.0", "issueLocale": "en_US"});
            write!(out, "{{\"header\":{header},\"messages\":[").map_err(io_err)?;
            self.json = Some(out);
            self.in_file = 0;
        }
        if let Some(out) = &mut self.json {
            if self.in_file > 0 {
                out.write_all(b",").map_err(io_err)?;
            }
            let mut message = message.clone();
            message["messageId"] = json!(self.in_file + 1);
            serde_json::to_writer(&mut *out, &message).map_err(io_err)?;
            self.in_file += 1;
        }
        Ok(())
    }

    fn close_json(&mut self) -> Result<(), JobError> {
        if let Some(mut out) = self.json.take() {
            out.write_all(b"]}").map_err(io_err)?;
            out.flush().map_err(io_err)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<PathBuf>, JobError> {
        self.close_json()?;
        if let Some(mut writer) = self.csv.take() {
            writer.flush().map_err(io_err)?;
        }
        Ok(self.files)
    }
}

fn generic_row(l: &ExportListing) -> Vec<String> {
    let r = &l.record;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let (price, currency) = l.price().unwrap_or_default();
    vec![
        r.id.clone(),
        r.sku.clone(),
        r.title.clone(),
        r.description.clone(),
        price,
        currency,
        r.quantity.to_string(),
        r.condition.as_str().to_owned(),
        opt(&r.brand),
        opt(&r.size),
        opt(&r.colour),
        opt(&r.material),
        opt(&r.category),
        l.image_urls.join(" "),
        Value::Object(r.attributes.clone()).to_string(),
    ]
}

/// Shopify CSV rows: the product on the first, each further photo on its own row.
fn shopify_rows(l: &ExportListing, category_path: &str) -> Result<Vec<Vec<String>>, String> {
    let r = &l.record;
    let (price, _) = l.price()?;
    let handle = super::shopify::handle(r);
    let mut first = vec![
        handle.clone(),
        r.title.clone(),
        super::shopify::description_html(&r.description),
        r.brand.clone().unwrap_or_default(),
        category_path.to_owned(),
        format!("condition:{}", r.condition.as_str()),
        "TRUE".to_owned(),
        "Title".to_owned(),
        "Default Title".to_owned(),
        r.sku.clone(),
        r.quantity.to_string(),
        price,
        "TRUE".to_owned(),
        l.image_urls.first().cloned().unwrap_or_default(),
        if l.image_urls.is_empty() {
            String::new()
        } else {
            "1".to_owned()
        },
        "active".to_owned(),
    ];
    first.truncate(SHOPIFY_HEADER.len());
    let mut rows = vec![first];
    for (i, url) in l.image_urls.iter().enumerate().skip(1) {
        let mut row = vec![String::new(); SHOPIFY_HEADER.len()];
        row[0] = handle.clone();
        row[13] = url.clone();
        row[14] = (i + 1).to_string();
        rows.push(row);
    }
    Ok(rows)
}

/// Where an Amazon feed goes: the connection's seller, marketplaces and the seller's category map.
struct AmazonTarget {
    seller_id: String,
    markets: Vec<&'static AmazonMarketplace>,
    map: CategoryMap,
}

impl FileHandler {
    /// The Amazon connection's seller id and marketplaces (Err: why there are none) and the seller's map.
    async fn amazon_target(
        &self,
        run: &RunRecord,
    ) -> Result<Result<AmazonTarget, String>, JobError> {
        let db = &self.shared.services.db;
        let connection = db
            .connection(&run.seller_id, Marketplace::Amazon)
            .await
            .map_err(JobError::retry)?;
        let settings = connection.map(|c| c.settings).unwrap_or_default();
        let seller = settings.get("seller_id").and_then(Value::as_str);
        let ids: Vec<String> = settings
            .get("marketplace_ids")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let (Some(seller), false) = (seller, ids.is_empty()) else {
            return Ok(Err("an Amazon feed needs the seller id and marketplaces of the amazon connection: PUT /v1/connections/amazon first".to_owned()));
        };
        let region = settings.get("region").and_then(Value::as_str);
        let markets = match amazon_marketplaces::resolve(&ids, region) {
            Ok(markets) => markets,
            Err(e) => {
                return Ok(Err(format!(
                    "the amazon connection is not usable ({e}): put it again"
                )));
            }
        };
        let map = db
            .category_map(&run.seller_id, Marketplace::Amazon)
            .await
            .map_err(JobError::retry)?;
        Ok(Ok(AmazonTarget {
            seller_id: seller.to_owned(),
            markets,
            map,
        }))
    }

    /// Writes every pending item of `run` into files under `dir`; returns the files.
    async fn write(
        &self,
        run: &RunRecord,
        dir: &Path,
    ) -> Result<Result<Vec<PathBuf>, String>, JobError> {
        let services = &self.shared.services;
        let db = &services.db;
        let format = run.format.unwrap_or(FileFormat::GenericCsv);
        let amazon = if format == FileFormat::AmazonJson {
            match self.amazon_target(run).await? {
                Ok(target) => Some(target),
                Err(reason) => return Ok(Err(reason)),
            }
        } else {
            None
        };
        let mut out = Output::new(
            dir.to_owned(),
            format,
            amazon.as_ref().map(|a| a.seller_id.clone()),
        );
        let mut paths: HashMap<String, String> = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let items = db
                .run_items(&run.id, Some(ItemStatus::Pending), after.as_deref(), PAGE)
                .await
                .map_err(JobError::retry)?;
            let Some(last) = items.last() else { break };
            after = Some(last.listing_id.clone());
            let ids: Vec<String> = items.iter().map(|i| i.listing_id.clone()).collect();
            let listings = run_listings(db, run, &ids).await?;
            for record in listings {
                let id = record.id.clone();
                let written = match ExportListing::resolve(services, record).await {
                    Err(ItemError::Transient(e)) => return Err(JobError::Retry(e)),
                    Err(ItemError::Invalid(reason)) => Err(reason),
                    Ok(listing) => match format {
                        FileFormat::GenericCsv => out.csv_row(&generic_row(&listing)).map(Ok)?,
                        FileFormat::ShopifyCsv => {
                            let path = match &listing.record.category {
                                Some(gid) => match paths.get(gid) {
                                    Some(path) => path.clone(),
                                    None => {
                                        let row = db
                                            .taxonomy_category(gid)
                                            .await
                                            .map_err(JobError::retry)?;
                                        let path = row.map(|c| c.full_path).unwrap_or_default();
                                        paths.insert(gid.clone(), path.clone());
                                        path
                                    }
                                },
                                None => String::new(),
                            };
                            match shopify_rows(&listing, &path) {
                                Ok(rows) => {
                                    for row in rows {
                                        out.csv_row(&row)?;
                                    }
                                    Ok(())
                                }
                                Err(reason) => Err(reason),
                            }
                        }
                        FileFormat::AmazonJson => match &amazon {
                            Some(target) => {
                                match super::amazon::offer(
                                    &listing,
                                    &target.markets,
                                    &target.map,
                                    None,
                                ) {
                                    Ok(offer) => {
                                        if let Some(warning) = &offer.warning {
                                            db.set_item_warning(&run.id, &id, warning)
                                                .await
                                                .map_err(JobError::retry)?;
                                        }
                                        out.amazon_message(&offer.message).map(Ok)?
                                    }
                                    Err(reason) => Err(reason),
                                }
                            }
                            None => Err("no amazon connection".to_owned()),
                        },
                    },
                };
                if let Err(reason) = written {
                    db.settle_item(&run.id, &id, ItemStatus::Failed, Some(&reason), None)
                        .await
                        .map_err(JobError::retry)?;
                }
            }
        }
        Ok(Ok(out.finish()?))
    }
}

impl JobHandler for FileHandler {
    type Job = WriteExportFile;

    async fn handle(&self, job: WriteExportFile, _ctx: JobContext) -> Result<(), JobError> {
        let services = &self.shared.services;
        let db = &services.db;
        let Some(run) = self.shared.live_run(&job.run_id).await? else {
            return Ok(());
        };
        let dir =
            std::env::temp_dir().join(format!("fleet-export-{}-{}", run.id, std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io_err)?;
        let written = self.write(&run, &dir).await;
        let result = match written {
            Ok(Ok(files)) => self.upload(&run, &files).await,
            Ok(Err(reason)) => db
                .stop_run(&run.id, &format!("not written: {reason}"), &reason)
                .await
                .map_err(JobError::retry),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_dir_all(&dir);
        result?;
        db.finish_run_if_done(&run.id)
            .await
            .map_err(JobError::retry)?;
        Ok(())
    }
}

impl FileHandler {
    /// Streams `files` to `exports/{seller}/{run}/…` and settles the written items.
    async fn upload(&self, run: &RunRecord, files: &[PathBuf]) -> Result<(), JobError> {
        let services = &self.shared.services;
        let mut keys = Vec::with_capacity(files.len());
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("export");
            let key = BlobKey::new(format!("exports/{}/{}/{name}", run.seller_id, run.id))
                .map_err(JobError::permanent)?;
            let content_type = if name.ends_with(".json") {
                "application/json"
            } else {
                "text/csv"
            };
            services
                .blobs
                .put_file(&key, path, content_type)
                .await
                .map_err(JobError::retry)?;
            keys.push(key.as_str().to_owned());
        }
        services
            .db
            .set_run_files(&run.id, &keys)
            .await
            .map_err(JobError::retry)?;
        services
            .db
            .settle_pending_items(&run.id, ItemStatus::Succeeded)
            .await
            .map_err(JobError::retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amazon_feeds_split_at_the_message_limit() {
        let dir = std::env::temp_dir().join(format!("fleet-feed-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut out = Output::new(
            dir.clone(),
            FileFormat::AmazonJson,
            Some("A1SELLER".to_owned()),
        );
        out.per_file = 2;
        for sku in ["a", "b", "c", "d", "e"] {
            out.amazon_message(&json!({"sku": sku})).unwrap();
        }
        let files = out.finish().unwrap();
        let feeds: Vec<Value> = files
            .iter()
            .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        let sizes: Vec<usize> = feeds
            .iter()
            .map(|f| f["messages"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(feeds.iter().all(|f| f["header"]["sellerId"] == "A1SELLER"));
        assert_eq!(feeds[2]["messages"][0], json!({"sku": "e", "messageId": 1}));
    }
}
