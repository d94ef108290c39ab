//! Keeping secrets out of logs: URLs and headers as they may be shown.

use reqwest::header::HeaderMap;

/// Query parameters whose values are never shown.
const SECRET_PARAMS: [&str; 12] = [
    "token",
    "access_token",
    "refresh_token",
    "key",
    "api_key",
    "apikey",
    "secret",
    "client_secret",
    "password",
    "sig",
    "signature",
    "x-amz-signature",
];

/// Headers whose values are never shown.
const SECRET_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-shopify-access-token",
    "x-api-key",
    "x-amz-security-token",
    "x-amz-access-token",
];

/// `url` with user info and secret query values replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return "<unparseable url>".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                (
                    k.into_owned(),
                    if secret {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Header names and values for logging, secrets replaced by `***`.
pub fn redacted_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if SECRET_HEADERS.contains(&name.as_str()) {
                "***".to_owned()
            } else {
                value.to_str().unwrap_or("<binary>").to_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_secret_query_values_and_passwords() {
        let shown = redact_url(
            "https://user:pw@api.example/v1/x?access_token=abc&page=2&X-Amz-Signature=f00",
        );
        assert_eq!(
            shown,
            "https://user:***@api.example/v1/x?access_token=***&page=2&X-Amz-Signature=***"
        );
        assert_eq!(redact_url("not a url"), "<unparseable url>");
    }

    #[test]
    fn hides_secret_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-shopify-access-token", "shpat_secret".parse().unwrap());
        headers.insert("accept", "application/json".parse().unwrap());
        let shown = redacted_headers(&headers);
        assert!(shown.contains(&("x-shopify-access-token".to_owned(), "***".to_owned())));
        assert!(shown.contains(&("accept".to_owned(), "application/json".to_owned())));
    }
}
