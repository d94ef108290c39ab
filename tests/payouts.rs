//! Payouts end to end on both backends: the API (order events, payout
//! destinations, on-demand and ops runs, SEPA confirmation, Stripe webhooks,
//! reconciliation) with the payout worker running in-process, a SEPA file
//! validated against the pain.001.001.03 XSD, and the fake Stripe server.

use fleet_jobs::WorkerKind;
use fleet_shared::{config::PayoutProvider, db::api_keys::Role, ledger::Bucket};
use fleet_testkit::{Backend, platform::Platform, stripe::FakeStripe, unique, wait_for};
use reqwest::Client;
use serde_json::{Value, json};
use std::time::Duration;

const WEBHOOK_SECRET: &str = "whsec_fleet_test";

/// The platform with a payout worker, and ops, backend and seller keys.
struct Payouts {
    p: Platform,
    ops: String,
    backend: String,
    seller1: String,
}

impl std::ops::Deref for Payouts {
    type Target = Platform;

    fn deref(&self) -> &Platform {
        &self.p
    }
}

impl Payouts {
    /// API and payout worker on `backend`, paying with `provider`; Stripe calls go to `stripe`.
    async fn start(
        backend: Backend,
        provider: PayoutProvider,
        stripe: Option<&FakeStripe>,
    ) -> Payouts {
        let stripe = stripe.map(|fake| (fake.base.clone(), fake.secret_key.clone()));
        let p = Platform::on(backend)
            .workers(&[WorkerKind::Payout])
            .configure(move |config| {
                config.payout.fee_percent_bps = 0;
                config.payout.fee_fixed_minor = 0;
                config.payout.hold_days = 0;
                config.payout.schedule = String::new();
                config.payout.provider = provider;
                config.payout.sepa_debtor_iban = Some("DE02120300000000202051".to_owned());
                config.payout.sepa_debtor_bic = Some("BYLADEM1001".to_owned());
                config.payout.stripe_webhook_secret = Some(WEBHOOK_SECRET.to_owned());
                if let Some((base, key)) = stripe {
                    config.payout.stripe_api_base = base;
                    config.payout.stripe_secret_key = Some(key);
                }
                config.kinds.payout.backoff_base_ms = 100;
            })
            .start()
            .await;
        Payouts {
            ops: p.key(Role::Ops, None).await,
            backend: p.key(Role::Backend, None).await,
            seller1: p.key(Role::Seller, Some("s1")).await,
            p,
        }
    }

    /// Makes `amount` available to `seller` (a paid and completed order).
    async fn fund(&self, seller: &str, amount: i64) {
        let order = unique("o-");
        for kind in ["paid", "delivered", "completed"] {
            let body = json!({"event_id": unique("e-"), "type": kind, "order_id": order,
                "seller_id": seller, "amount": amount, "currency": "EUR"});
            let (status, answer) = self
                .call("POST", "/v1/orders/events", &self.backend, Some(body))
                .await;
            assert_eq!(status, 200, "{answer}");
        }
    }

    async fn destination(&self, seller: &str, body: Value) {
        let (status, answer) = self
            .call(
                "PUT",
                &format!("/v1/sellers/{seller}/payout-destination"),
                &self.backend,
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    /// (available, in_transit, paid_out) in EUR.
    async fn balance(&self, seller: &str) -> (i64, i64, i64) {
        let mut out = (0, 0, 0);
        for b in self.db.db.seller_balances(seller).await.unwrap() {
            match b.bucket {
                Bucket::Available => out.0 = b.balance,
                Bucket::InTransit => out.1 = b.balance,
                Bucket::PaidOut => out.2 = b.balance,
                _ => {}
            }
        }
        out
    }

    async fn run_done(&self, run_id: &str) -> Value {
        let path = format!("/v1/ops/payouts/runs/{run_id}");
        wait_for(
            "the payout run to finish",
            Duration::from_secs(30),
            || async {
                let (_, body) = self.call("GET", &path, &self.ops, None).await;
                (body["run"]["status"] == "done" || body["run"]["status"] == "failed")
                    .then_some(body)
            },
        )
        .await
    }

    async fn payout_status(&self, seller: &str, want: &str) -> Value {
        let path = format!("/v1/sellers/{seller}/payouts");
        wait_for(
            &format!("{seller}'s payout to be {want}"),
            Duration::from_secs(30),
            || async {
                let (_, body) = self.call("GET", &path, &self.ops, None).await;
                body["items"]
                    .as_array()
                    .and_then(|items| items.first())
                    .filter(|p| p["status"] == want)
                    .cloned()
            },
        )
        .await
    }

    async fn reconcile(&self) -> Value {
        let (status, started) = self
            .call("POST", "/v1/ops/payouts/reconciliations", &self.ops, None)
            .await;
        assert_eq!(status, 202, "{started}");
        let path = format!(
            "/v1/ops/payouts/reconciliations/{}",
            started["id"].as_str().unwrap()
        );
        wait_for("the reconciliation", Duration::from_secs(30), || async {
            let (_, body) = self.call("GET", &path, &self.ops, None).await;
            (body["status"] == "done").then_some(body)
        })
        .await
    }

    async fn ledger_sums_to_zero(&self) {
        for (currency, sum) in self.db.db.ledger_totals().await.unwrap() {
            assert_eq!(sum, 0, "{currency}");
        }
    }
}

fn xmllint(xml: &[u8]) -> std::process::Output {
    let path = std::env::temp_dir()
        .join(unique("fleet-sepa-"))
        .with_extension("xml");
    std::fs::write(&path, xml).unwrap();
    let xsd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/pain.001.001.03.xsd"
    );
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", xsd])
        .arg(&path)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    let _ = std::fs::remove_file(&path);
    out
}

async fn sepa_flow(backend: Backend) {
    let p = Payouts::start(backend, PayoutProvider::Sepa, None).await;
    // Bank details are validated and stored encrypted.
    let (status, body) = p
        .call("PUT", "/v1/sellers/s1/payout-destination", &p.seller1,
            Some(json!({"bank": {"name": "Jürgen Müller", "iban": "DE89 3704 0044 0532 0130 01", "bic": "COBADEFFXXX"}})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "bank.iban");
    let (status, _) = p
        .call(
            "PUT",
            "/v1/sellers/s2/payout-destination",
            &p.seller1,
            Some(json!({"stripe_account": "acct_1"})),
        )
        .await;
    assert_eq!(
        status, 404,
        "a seller never reaches another seller's destination"
    );
    p.destination("s1", json!({"bank": {"name": "Jürgen Müller", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX"}})).await;
    p.destination("s2", json!({"bank": {"name": "Amélie Dupont", "iban": "FR1420041010050500013M02606", "bic": "PSSTFRPPXXX"}})).await;
    let sealed = p.db.db.payout_destination("s1").await.unwrap().unwrap();
    assert!(!sealed.sealed.contains("DE89"), "IBAN encrypted at rest");
    assert_eq!(sealed.iban_last4.as_deref(), Some("3000"));

    p.fund("s1", 5_000).await;
    p.fund("s2", 700).await; // below the 1000 minimum
    p.fund("s3", 4_000).await; // no payout destination

    let (status, run) = p.call("POST", "/v1/ops/payouts/runs", &p.ops, None).await;
    assert_eq!(status, 202, "{run}");
    let (status, _) = p
        .call("POST", "/v1/ops/payouts/runs", &p.seller1, None)
        .await;
    assert_eq!(status, 403);
    let detail = p.run_done(run["id"].as_str().unwrap()).await;
    assert_eq!(detail["run"]["status"], "done", "{detail}");
    assert_eq!(detail["run"]["payouts"], 1, "{detail}");
    assert_eq!(
        detail["run"]["skipped"], 1,
        "s3 has no bank details: {detail}"
    );
    let payout = p.payout_status("s1", "submitted").await;
    let payout_id = payout["id"].as_str().unwrap().to_owned();
    assert_eq!(payout["amount"], 5_000);
    assert_eq!(p.balance("s1").await, (0, 5_000, 0));
    assert_eq!(p.balance("s2").await, (700, 0, 0));
    assert_eq!(p.balance("s3").await, (4_000, 0, 0));

    // The file: in the blob store, valid against the XSD, the right figures.
    let (_, batches) = p
        .call("GET", "/v1/ops/payouts/sepa-batches", &p.ops, None)
        .await;
    let batch_id = batches["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, batch) = p
        .call(
            "GET",
            &format!("/v1/ops/payouts/sepa-batches/{batch_id}"),
            &p.ops,
            None,
        )
        .await;
    assert_eq!(
        (batch["payouts"].as_i64(), batch["ctrl_sum"].as_i64()),
        (Some(1), Some(5_000))
    );
    let xml = p
        .http
        .get(batch["file_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let lint = xmllint(&xml);
    assert!(
        lint.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&lint.stderr),
        String::from_utf8_lossy(&xml)
    );
    let text = String::from_utf8(xml.to_vec()).unwrap();
    for needle in [
        format!("<MsgId>{batch_id}</MsgId>"),
        format!("<PmtInfId>{batch_id}-1</PmtInfId>"),
        format!("<EndToEndId>{payout_id}</EndToEndId>"),
        "<NbOfTxs>1</NbOfTxs>".to_owned(),
        "<CtrlSum>50.00</CtrlSum>".to_owned(),
        "<InstdAmt Ccy=\"EUR\">50.00</InstdAmt>".to_owned(),
        "<IBAN>DE89370400440532013000</IBAN>".to_owned(),
        "<BIC>COBADEFFXXX</BIC>".to_owned(),
        "<Nm>Jurgen Muller</Nm>".to_owned(),
        "<IBAN>DE02120300000000202051</IBAN>".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle} in\n{text}");
    }
    // A file with a broken field fails the schema (the check is real).
    let broken = text.replace("<NbOfTxs>1</NbOfTxs>", "<NbOfTxs>one</NbOfTxs>");
    assert!(!xmllint(broken.as_bytes()).status.success());

    // A second run finds nothing to pay (the seller's funds are in transit).
    let (_, again) = p
        .call("POST", "/v1/sellers/s1/payouts", &p.seller1, None)
        .await;
    let again = p.run_done(again["id"].as_str().unwrap()).await;
    assert_eq!(again["run"]["payouts"], 0, "{again}");

    // The bank confirms: paid. Confirming again changes nothing.
    let confirm = format!("/v1/ops/payouts/sepa-batches/{batch_id}/confirm");
    let (status, body) = p
        .call("POST", &confirm, &p.ops, Some(json!({"status": "done"})))
        .await;
    assert_eq!(status, 422, "{body}");
    for _ in 0..2 {
        let (status, body) = p
            .call("POST", &confirm, &p.ops, Some(json!({"status": "paid"})))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["payouts"][0]["status"], "paid");
        assert_eq!(p.balance("s1").await, (0, 0, 5_000));
    }
    // Later the bank returns the transfer (account closed): the payout is reversed.
    let (status, body) = p
        .call("POST", &confirm, &p.ops, Some(json!({"status": "paid", "failed_payouts": [{"payout_id": payout_id, "reason": "AC04 account closed"}]})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payouts"][0]["status"], "failed");
    assert_eq!(p.balance("s1").await, (5_000, 0, 0));
    let (_, failures) = p
        .call("GET", "/v1/ops/payouts?status=failed", &p.ops, None)
        .await;
    assert_eq!(failures["items"][0]["failure"], "AC04 account closed");
    let (status, _) = p
        .call("GET", "/v1/sellers/s2/payouts", &p.seller1, None)
        .await;
    assert_eq!(status, 404);
    p.ledger_sums_to_zero().await;

    let report = p.reconcile().await;
    assert_eq!(report["mismatches"], 0, "{report}");
    assert!(report["checked"].as_i64().unwrap() >= 2, "{report}");
}

#[tokio::test]
async fn sepa_payouts_on_sqlite() {
    sepa_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn sepa_payouts_on_postgres_and_redis() {
    sepa_flow(Backend::RedisPostgres).await;
}

/// A SEPA batch the bank never confirms: reconciliation says nothing within
/// `payout.sepa_confirm_days` (5 by default), then reports each payout still
/// in transit, until the batch is confirmed.
async fn unconfirmed_sepa_batch(backend: Backend) {
    let p = Payouts::start(backend, PayoutProvider::Sepa, None).await;
    p.fund("s1", 5_000).await;
    p.destination("s1", json!({"bank": {"name": "Jurgen Muller", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}})).await;
    let (status, run) = p.call("POST", "/v1/ops/payouts/runs", &p.ops, None).await;
    assert_eq!(status, 202, "{run}");
    p.run_done(run["id"].as_str().unwrap()).await;
    let payout = p.payout_status("s1", "submitted").await;
    assert_eq!(p.balance("s1").await, (0, 5_000, 0));
    let report = p.reconcile().await;
    assert_eq!(report["mismatches"], 0, "{report}");

    // Six days later the bank has still not answered.
    let six_days = 6 * 24 * 3_600 * 1_000_i64;
    let backdate = "UPDATE sepa_batches SET created_at = created_at - $1";
    match &p.db.db {
        fleet_shared::Db::Sqlite(pool) => sqlx::query(backdate)
            .bind(six_days)
            .execute(pool)
            .await
            .map(|_| ()),
        fleet_shared::Db::Postgres(pool) => sqlx::query(backdate)
            .bind(six_days)
            .execute(pool)
            .await
            .map(|_| ()),
    }
    .unwrap();
    let report = p.reconcile().await;
    assert_eq!(report["mismatches"], 1, "{report}");
    let item = &report["items"][0];
    assert_eq!(item["kind"], "stuck_in_transit", "{report}");
    assert_eq!(item["payout_id"], payout["id"], "{report}");
    assert!(
        item["message"].as_str().unwrap().contains("6 days"),
        "{report}"
    );

    // Confirmed: settled, and no longer reported.
    let (_, batches) = p
        .call("GET", "/v1/ops/payouts/sepa-batches", &p.ops, None)
        .await;
    let batch_id = batches["items"][0]["id"].as_str().unwrap();
    let (status, body) = p
        .call(
            "POST",
            &format!("/v1/ops/payouts/sepa-batches/{batch_id}/confirm"),
            &p.ops,
            Some(json!({"status": "paid"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(p.balance("s1").await, (0, 0, 5_000));
    let report = p.reconcile().await;
    assert_eq!(report["mismatches"], 0, "{report}");
}

#[tokio::test]
async fn unconfirmed_sepa_batch_on_sqlite() {
    unconfirmed_sepa_batch(Backend::Sqlite).await;
}

#[tokio::test]
async fn unconfirmed_sepa_batch_on_postgres_and_redis() {
    unconfirmed_sepa_batch(Backend::RedisPostgres).await;
}

async fn stripe_flow(backend: Backend) {
    // The webhook URL is known only once the API listens: start the fake after
    // reserving the API's address is not possible, so the fake posts to a
    // forwarding URL set below.
    let port = fleet_testkit::free_port();
    let fake = FakeStripe::start(Some((
        format!("http://127.0.0.1:{port}/v1/webhooks/stripe"),
        WEBHOOK_SECRET.to_owned(),
    )));
    let p = Payouts::start(backend, PayoutProvider::Stripe, Some(&fake)).await;
    // Forward the fake's webhooks from the reserved port to the API.
    let api = p.base.clone();
    let forward = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let api = api.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let mut out = Client::new()
                .post(format!("{api}{}", parts.uri.path()))
                .body(body);
            for (k, v) in &parts.headers {
                out = out.header(k, v);
            }
            let resp = out.send().await.unwrap();
            (
                axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap(),
                resp.bytes().await.unwrap_or_default(),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, forward).await });

    p.destination("s1", json!({"stripe_account": "acct_1s1"}))
        .await;
    p.destination("s2", json!({"stripe_account": "acct_2closed"}))
        .await;
    p.destination("s3", json!({"stripe_account": "acct_3s3"}))
        .await;
    fake.refuse_destination("acct_2closed");
    p.fund("s1", 5_000).await;
    p.fund("s2", 3_000).await;
    p.fund("s3", 2_000).await;

    // On demand, by the seller; Stripe fails once (500), the client retries with the same key.
    fake.fail_next(1);
    let (status, run) = p
        .call("POST", "/v1/sellers/s1/payouts", &p.seller1, None)
        .await;
    assert_eq!(status, 202, "{run}");
    let paid = p.payout_status("s1", "paid").await;
    assert!(
        paid["provider_ref"].as_str().unwrap().starts_with("tr_"),
        "{paid}"
    );
    assert_eq!(p.balance("s1").await, (0, 0, 5_000));
    assert_eq!(p.balance("s2").await, (3_000, 0, 0), "only s1 was paid");

    // A scheduled-style run over everyone: s2's account refuses, its funds come back.
    let (_, run) = p.call("POST", "/v1/ops/payouts/runs", &p.ops, None).await;
    p.run_done(run["id"].as_str().unwrap()).await;
    let failed = p.payout_status("s2", "failed").await;
    assert!(
        failed["failure"]
            .as_str()
            .unwrap()
            .contains("No such destination"),
        "{failed}"
    );
    let s3 = p.payout_status("s3", "paid").await;
    assert_eq!(p.balance("s2").await, (3_000, 0, 0));
    assert_eq!(p.balance("s3").await, (0, 0, 2_000));
    let transfers = fake.transfers();
    assert_eq!(transfers.len(), 2, "{transfers:?}");
    let ids: std::collections::HashSet<&str> = transfers
        .iter()
        .map(|t| t["metadata"]["payout_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "one transfer per payout");

    // Webhooks must be signed.
    let body = json!({"id": "evt_x", "type": "transfer.reversed", "data": {"object": {"id": "tr_2", "metadata": {"payout_id": s3["id"]}}}}).to_string();
    let forged = p
        .http
        .post(format!("{}/v1/webhooks/stripe", p.base))
        .header(
            "Stripe-Signature",
            fleet_testkit::stripe::sign(
                "whsec_wrong",
                fleet_shared::db::now_ms() / 1000,
                body.as_bytes(),
            ),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    let stale = p
        .http
        .post(format!("{}/v1/webhooks/stripe", p.base))
        .header(
            "Stripe-Signature",
            fleet_testkit::stripe::sign(
                WEBHOOK_SECRET,
                fleet_shared::db::now_ms() / 1000 - 301,
                body.as_bytes(),
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 400);
    assert_eq!(p.balance("s3").await, (0, 0, 2_000));

    // Stripe reverses s3's transfer: the payout fails and the funds return.
    fake.reverse(s3["provider_ref"].as_str().unwrap()).await;
    p.payout_status("s3", "failed").await;
    assert_eq!(p.balance("s3").await, (2_000, 0, 0));
    p.ledger_sums_to_zero().await;

    let report = p.reconcile().await;
    assert_eq!(report["mismatches"], 0, "{report}");

    // A transfer Fleet never asked for is reported.
    let stray = p
        .http
        .post(format!("{}/v1/transfers", fake.base))
        .bearer_auth(&fake.secret_key)
        .form(&[
            ("amount", "999"),
            ("currency", "eur"),
            ("destination", "acct_x"),
            ("metadata[payout_id]", "po-unknown"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(stray.status().as_u16(), 200);
    let report = p.reconcile().await;
    assert_eq!(report["mismatches"], 1, "{report}");
    assert_eq!(report["items"][0]["kind"], "unknown_at_provider");
}

impl Payouts {
    /// Posts a signed Stripe event about `object` on connected account `account`; returns (status, answer).
    async fn stripe_event(&self, kind: &str, account: &str, object: Value) -> (u16, Value) {
        let body = json!({"id": unique("evt_"), "object": "event", "type": kind,
            "account": account, "data": {"object": object}})
        .to_string();
        let signature = fleet_testkit::stripe::sign(
            WEBHOOK_SECRET,
            fleet_shared::db::now_ms() / 1000,
            body.as_bytes(),
        );
        let resp = self
            .http
            .post(format!("{}/v1/webhooks/stripe", self.base))
            .header("Stripe-Signature", signature)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// `payout.paid` and `payout.failed` of the sellers' connected accounts: the
/// transfer's own webhook never comes here (the fake sends none), so the
/// payouts wait `submitted` until the bank payout's event settles them.
async fn stripe_bank_payout_events(backend: Backend) {
    let fake = FakeStripe::start(None);
    let p = Payouts::start(backend, PayoutProvider::Stripe, Some(&fake)).await;
    p.fund("s1", 3_000).await;
    p.fund("s2", 2_000).await;
    p.destination("s1", json!({"stripe_account": "acct_s1"}))
        .await;
    p.destination("s2", json!({"stripe_account": "acct_s2"}))
        .await;
    let (status, run) = p.call("POST", "/v1/ops/payouts/runs", &p.ops, None).await;
    assert_eq!(status, 202, "{run}");
    p.run_done(run["id"].as_str().unwrap()).await;
    let s1 = p.payout_status("s1", "submitted").await;
    let s2 = p.payout_status("s2", "submitted").await;
    assert_eq!(p.balance("s1").await, (0, 3_000, 0));

    // s1's bank payout arrived: the payout is paid. A replay changes nothing.
    let paid = json!({"id": "po_s1", "object": "payout", "amount": 3_000, "currency": "eur",
        "status": "paid", "metadata": {"payout_id": s1["id"]}});
    for _ in 0..2 {
        let (status, answer) = p.stripe_event("payout.paid", "acct_s1", paid.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["outcome"], "paid", "{answer}");
        assert_eq!(p.balance("s1").await, (0, 0, 3_000));
    }
    let s1 = p.payout_status("s1", "paid").await;
    let transfer = s1["provider_ref"].as_str().unwrap_or_default();
    assert!(
        transfer.starts_with("tr_"),
        "the payout keeps its transfer as reference: {s1}"
    );

    // s2's bank refused the payout: the transfer did arrive, so Fleet's payout
    // is paid and its funds stay out of available (Stripe keeps them in the
    // seller's balance); the failure is recorded on the payout.
    let failed = json!({"id": "po_s2", "object": "payout", "amount": 2_000, "currency": "eur",
        "status": "failed", "failure_code": "account_closed",
        "failure_message": "The bank account has been closed.", "metadata": {"payout_id": s2["id"]}});
    for _ in 0..2 {
        let (status, answer) = p
            .stripe_event("payout.failed", "acct_s2", failed.clone())
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["outcome"], "bank_failed", "{answer}");
        assert_eq!(p.balance("s2").await, (0, 0, 2_000));
    }
    let s2 = p.payout_status("s2", "paid").await;
    let failure = s2["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("account_closed") && failure.contains("po_s2"),
        "{s2}"
    );

    // An automatic payout names no Fleet payout: acknowledged, nothing moves.
    let automatic = json!({"id": "po_auto", "object": "payout", "amount": 2_000, "currency": "eur",
        "status": "failed", "failure_code": "no_account", "metadata": {}});
    let (status, answer) = p.stripe_event("payout.failed", "acct_s2", automatic).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "ignored", "{answer}");
    assert_eq!(p.balance("s2").await, (0, 0, 2_000));
    p.ledger_sums_to_zero().await;
    let report = p.reconcile().await;
    assert_eq!(report["mismatches"], 0, "{report}");
}

#[tokio::test]
async fn stripe_bank_payout_events_on_sqlite() {
    stripe_bank_payout_events(Backend::Sqlite).await;
}

#[tokio::test]
async fn stripe_bank_payout_events_on_postgres_and_redis() {
    stripe_bank_payout_events(Backend::RedisPostgres).await;
}

#[tokio::test]
async fn stripe_payouts_on_sqlite() {
    stripe_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn stripe_payouts_on_postgres_and_redis() {
    stripe_flow(Backend::RedisPostgres).await;
}
