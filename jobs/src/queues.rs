//! The queue names: one per worker kind and per external rate-limit domain.

/// Image and video compression.
pub const MEDIA: &str = "media";
/// Pushes to Shopify's Admin API.
pub const EXPORT_SHOPIFY: &str = "export.shopify";
/// Pushes to Etsy's Open API v3.
pub const EXPORT_ETSY: &str = "export.etsy";
/// Pushes to Amazon's Selling Partner API.
pub const EXPORT_AMAZON: &str = "export.amazon";
/// Audience expansion of one event into recipient chunks.
pub const NOTIFY_FANOUT: &str = "notify.fanout";
/// Email delivery over SMTP.
pub const NOTIFY_EMAIL: &str = "notify.email";
/// Web Push delivery.
pub const NOTIFY_PUSH: &str = "notify.push";
/// Signed webhook delivery.
pub const NOTIFY_WEBHOOK: &str = "notify.webhook";
/// Every step of single-recipient transactional notifications, never behind a big fan-out.
pub const NOTIFY_PRIORITY: &str = "notify.priority";
/// Listing categorization.
pub const CATEGORIZE: &str = "categorize";
/// Seller payouts.
pub const PAYOUT: &str = "payout";

/// Every queue Fleet's worker kinds consume, in display order.
pub const ALL: [&str; 11] = [
    MEDIA,
    EXPORT_SHOPIFY,
    EXPORT_ETSY,
    EXPORT_AMAZON,
    NOTIFY_FANOUT,
    NOTIFY_EMAIL,
    NOTIFY_PUSH,
    NOTIFY_WEBHOOK,
    NOTIFY_PRIORITY,
    CATEGORIZE,
    PAYOUT,
];

/// Whether `name` is usable as a queue name: 1-64 chars of `a-z0-9._-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_queue_names_are_valid() {
        assert!(ALL.iter().all(|q| is_valid_name(q)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("Media"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name(&"x".repeat(65)));
    }
}
