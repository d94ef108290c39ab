//! What notifications exist: event types, the category a user mutes them by,
//! whether they are transactional (never muted) or promotional (daily cap),
//! and the delivery channels. Shared by the API (validation) and the notify
//! worker (fan-out rules).

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Prefix of webhook signing secrets (Standard Webhooks): `whsec_` and the key in base64.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// A kind of event the marketplace backend posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A followed seller listed a new item (promotional).
    NewListing,
    /// A liked item got cheaper (promotional).
    PriceDrop,
    /// The user's item sold (transactional).
    ItemSold,
    /// A payout was sent to the user (transactional).
    PayoutSent,
    /// Someone wrote to the user.
    NewMessage,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 5] = [
        EventType::NewListing,
        EventType::PriceDrop,
        EventType::ItemSold,
        EventType::PayoutSent,
        EventType::NewMessage,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::NewListing => "new_listing",
            EventType::PriceDrop => "price_drop",
            EventType::ItemSold => "item_sold",
            EventType::PayoutSent => "payout_sent",
            EventType::NewMessage => "new_message",
        }
    }

    /// The preference category users mute it by.
    pub fn category(self) -> Category {
        match self {
            EventType::NewListing => Category::FollowedSellers,
            EventType::PriceDrop => Category::LikedItems,
            EventType::ItemSold | EventType::PayoutSent => Category::Transactions,
            EventType::NewMessage => Category::Messages,
        }
    }

    /// Transactional types cannot be muted and skip the daily cap.
    pub fn is_transactional(self) -> bool {
        self.category() == Category::Transactions
    }

    /// Promotional types count against the per-user daily cap.
    pub fn is_promotional(self) -> bool {
        matches!(
            self.category(),
            Category::FollowedSellers | Category::LikedItems
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of: {expected})")]
pub struct UnknownName {
    /// What was parsed.
    pub what: &'static str,
    /// The value given.
    pub value: String,
    /// The accepted values, comma separated.
    pub expected: String,
}

fn parse_name<T: Copy>(
    what: &'static str,
    value: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|v| name(*v) == value)
        .ok_or_else(|| UnknownName {
            what,
            value: value.to_owned(),
            expected: all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", "),
        })
}

impl FromStr for EventType {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name("event type", s, &EventType::ALL, EventType::as_str)
    }
}

/// What users mute notifications by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// New listings of followed sellers.
    FollowedSellers,
    /// Price drops on liked items.
    LikedItems,
    /// Messages from other users.
    Messages,
    /// Sales and payouts: cannot be muted.
    Transactions,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 4] = [
        Category::FollowedSellers,
        Category::LikedItems,
        Category::Messages,
        Category::Transactions,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::FollowedSellers => "followed_sellers",
            Category::LikedItems => "liked_items",
            Category::Messages => "messages",
            Category::Transactions => "transactions",
        }
    }

    /// Whether users may turn it off.
    pub fn is_mutable(self) -> bool {
        self != Category::Transactions
    }
}

impl FromStr for Category {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name("category", s, &Category::ALL, Category::as_str)
    }
}

/// A way a notification reaches someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The in-app inbox.
    Inbox,
    /// Email over SMTP.
    Email,
    /// Web Push.
    Push,
    /// Signed webhooks to backend subscribers (per endpoint, not per user).
    Webhook,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 4] = [
        Channel::Inbox,
        Channel::Email,
        Channel::Push,
        Channel::Webhook,
    ];

    /// The channels a user has preferences for.
    pub const USER: [Channel; 3] = [Channel::Inbox, Channel::Email, Channel::Push];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Inbox => "inbox",
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name("channel", s, &Channel::ALL, Channel::as_str)
    }
}

/// The state of one delivery (event x channel x recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// A job will deliver it (possibly deferred to the end of quiet hours).
    Queued,
    /// Delivered to the peer.
    Sent,
    /// Delivery gave up.
    Failed,
    /// Not delivered on purpose (`reason` says why).
    Suppressed,
}

impl DeliveryState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Suppressed => "suppressed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_rules_hold() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert!(!(t.is_promotional() && t.is_transactional()));
        }
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
        }
        assert!(!Category::Transactions.is_mutable());
        assert!(EventType::ItemSold.is_transactional());
        assert!(EventType::PriceDrop.is_promotional());
        let err = "nope".parse::<Category>().unwrap_err();
        assert!(err.to_string().contains("followed_sellers"));
    }
}
