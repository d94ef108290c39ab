//! The OpenAPI document, generated from the handlers' annotations.

use crate::routes::{
    blobs, categorize, category_map, connections, dashboard, events, exports, health, inbox, jobs,
    listings, media, metrics, ops, orders, payouts, sellers, stripe, taxonomy, users, webhooks,
};
use axum::Json;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// Fleet's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Fleet API", description = "Back-office engine of a second-hand marketplace: enqueue work, watch it run."),
    paths(
        health::healthz, health::readyz, metrics::metrics, openapi_json,
        jobs::create_job, jobs::get_job,
        listings::batch_upsert, listings::list, listings::get_listing, listings::update_listing, listings::delete_listing,
        categorize::categorize,
        connections::put_connection, connections::get_connection, connections::delete_connection, connections::test_connection,
        category_map::list_map, category_map::put_map, category_map::delete_entry, category_map::resolve_category,
        exports::start_export, exports::list_exports, exports::get_export, exports::export_items, exports::cancel_export, exports::retry_failed,
        media::create_upload, media::complete_upload, media::get_media, media::delete_media,
        blobs::download, blobs::upload,
        ops::list_queues, ops::list_dead, ops::retry_dead, ops::retry_all_dead, ops::purge_dead, ops::purge_all_dead,
        dashboard::page, dashboard::script, dashboard::style,
        orders::post_event, orders::post_events, sellers::balance, sellers::ledger,
        payouts::seller_payouts, payouts::request_payout, payouts::get_destination, payouts::put_destination,
        payouts::ops_payouts, payouts::list_runs, payouts::start_run, payouts::get_run,
        payouts::list_batches, payouts::get_batch, payouts::confirm_batch,
        payouts::start_reconciliation, payouts::get_reconciliation, stripe::stripe_webhook,
        taxonomy::list_categories,
        users::upsert_users, users::add_push_subscription, users::vapid_public_key, users::get_preferences, users::put_preferences,
        users::upsert_follows, users::upsert_likes, events::post_event, events::get_event,
        inbox::list, inbox::unread, inbox::read_one, inbox::read_all,
        webhooks::create_endpoint, webhooks::list_endpoints, webhooks::get_endpoint, webhooks::update_endpoint,
        webhooks::delete_endpoint, webhooks::list_attempts,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "jobs", description = "Enqueue jobs and read their status"),
        (name = "listings", description = "Sellers' catalogue: batch upsert by SKU, filtered pages, single changes"),
        (name = "exports", description = "Marketplace connections and export runs to Shopify, Etsy and Amazon"),
        (name = "orders", description = "Order events from the marketplace backend, posted to the seller ledger"),
        (name = "sellers", description = "Seller balances and ledger"),
        (name = "payouts", description = "Seller payouts, payout runs, SEPA batches, Stripe webhooks and reconciliation"),
        (name = "taxonomy", description = "The product taxonomy (Shopify Standard Product Taxonomy), for category pickers"),
        (name = "notifications", description = "Users, follows, likes, preferences, push subscriptions, events, the in-app inbox and webhook endpoints"),
        (name = "ops", description = "Queues, dead jobs and metrics, for operators"),
        (name = "media", description = "Direct uploads of photos, processed into variants"),
        (name = "blobs", description = "Signed upload and download URLs of the local blob store"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("An API key (`fleet_…`) or an end-user JWT from the marketplace's identity service"))
                        .build(),
                ),
            );
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "The OpenAPI document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
