//! The ops dashboard at `/ops`: one static page, its script and stylesheet,
//! bundled in the binary. The page holds no data: it asks for an ops API key,
//! keeps it in the tab's sessionStorage and calls the `/v1/ops` routes with
//! it as a bearer header, so the dashboard has exactly the API's access rules.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/app.css");

/// Scripts, styles and requests from this origin only; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `/ops` and its assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ops", get(page))
        .route("/ops/app.js", get(script))
        .route("/ops/app.css", get(style))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// The dashboard page (sign-in with an ops key, then live queue figures).
#[utoipa::path(get, path = "/ops", tag = "ops", responses((status = 200, description = "The ops dashboard", content_type = "text/html")))]
pub async fn page() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

/// The dashboard's script.
#[utoipa::path(get, path = "/ops/app.js", tag = "ops", responses((status = 200, description = "JavaScript", content_type = "text/javascript")))]
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// The dashboard's stylesheet.
#[utoipa::path(get, path = "/ops/app.css", tag = "ops", responses((status = 200, description = "CSS", content_type = "text/css")))]
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
