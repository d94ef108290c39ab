//! Ledger accounts: four buckets per seller and currency, four platform accounts per currency.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// An ISO 4217 style currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

/// A currency code that is not three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a currency code (three upper-case letters, like EUR)")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// Parses `code`, which must be exactly three upper-case ASCII letters.
    pub fn new(code: &str) -> Result<Currency, InvalidCurrency> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(code.to_owned()))
        } else {
            Err(InvalidCurrency(code.to_owned()))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point of the currency's major unit (ISO 4217: 2 for most, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        const ZERO: &[&str] = &[
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
            "VND", "VUV", "XAF", "XOF", "XPF",
        ];
        const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
        const FOUR: &[&str] = &["CLF", "UYW"];
        let code = self.as_str();
        if ZERO.contains(&code) {
            0
        } else if THREE.contains(&code) {
            3
        } else if FOUR.contains(&code) {
            4
        } else {
            2
        }
    }

    /// `minor` units as a decimal amount of the major unit (`1250` EUR is `12.50`, `500` JPY is `500`).
    pub fn decimal(&self, minor: i64) -> String {
        let exponent = self.exponent();
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10u64.pow(exponent);
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = exponent as usize
        )
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        Currency::new(&code)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Seller: earned on paid orders, still held (not delivered, or within the hold period).
    Pending,
    /// Seller: released and payable; negative when the seller owes the platform.
    Available,
    /// Seller: in a payout sent to the provider, not yet confirmed.
    InTransit,
    /// Seller: paid out, confirmed.
    PaidOut,
    /// Platform: money buyers paid in (debit-normal).
    BuyerFunds,
    /// Platform: the platform's fees.
    FeesRevenue,
    /// Platform: money returned to buyers (refunds, lost disputes).
    Refunds,
    /// Platform: money handed to payout providers, awaiting settlement (debit-normal).
    ProviderClearing,
}

impl Bucket {
    /// The buckets every seller has per currency.
    pub const SELLER: [Bucket; 4] = [
        Bucket::Pending,
        Bucket::Available,
        Bucket::InTransit,
        Bucket::PaidOut,
    ];
    /// The platform's accounts per currency.
    pub const PLATFORM: [Bucket; 4] = [
        Bucket::BuyerFunds,
        Bucket::FeesRevenue,
        Bucket::Refunds,
        Bucket::ProviderClearing,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Pending => "pending",
            Bucket::Available => "available",
            Bucket::InTransit => "in_transit",
            Bucket::PaidOut => "paid_out",
            Bucket::BuyerFunds => "buyer_funds",
            Bucket::FeesRevenue => "fees_revenue",
            Bucket::Refunds => "refunds",
            Bucket::ProviderClearing => "provider_clearing",
        }
    }

    /// Whether this is one of a seller's buckets.
    pub fn is_seller(self) -> bool {
        Bucket::SELLER.contains(&self)
    }

    /// +1 for credit-normal accounts, −1 for debit-normal ones: a balance is
    /// the sum of the account's signed postings (credit positive) times this.
    pub fn normal_sign(self) -> i64 {
        match self {
            Bucket::BuyerFunds | Bucket::ProviderClearing => -1,
            _ => 1,
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bucket name that is not one of [`Bucket`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown ledger bucket `{0}`")]
pub struct UnknownBucket(pub String);

impl FromStr for Bucket {
    type Err = UnknownBucket;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bucket::SELLER
            .into_iter()
            .chain(Bucket::PLATFORM)
            .find(|b| b.as_str() == s)
            .ok_or_else(|| UnknownBucket(s.to_owned()))
    }
}

/// One account: a seller's bucket in a currency, or a platform account in a currency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account {
    /// The owning seller; None for platform accounts.
    pub seller_id: Option<String>,
    /// Its currency.
    pub currency: Currency,
    /// What it holds.
    pub bucket: Bucket,
}

impl Account {
    /// A seller's bucket.
    pub fn seller(seller_id: &str, currency: &Currency, bucket: Bucket) -> Account {
        Account {
            seller_id: Some(seller_id.to_owned()),
            currency: currency.clone(),
            bucket,
        }
    }

    /// A platform account.
    pub fn platform(currency: &Currency, bucket: Bucket) -> Account {
        Account {
            seller_id: None,
            currency: currency.clone(),
            bucket,
        }
    }

    /// The stored id: `seller:<seller>:<CUR>:<bucket>` or `platform:<CUR>:<bucket>`.
    /// Currency and bucket never contain `:`, so the id is unambiguous read from the right.
    pub fn id(&self) -> String {
        match &self.seller_id {
            Some(seller) => format!("seller:{seller}:{}:{}", self.currency, self.bucket),
            None => format!("platform:{}:{}", self.currency, self.bucket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes() {
        assert!(Currency::new("EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(Currency::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_amounts_follow_the_currency_exponent() {
        let c = |code: &str| Currency::new(code).unwrap();
        assert_eq!(c("EUR").decimal(1250), "12.50");
        assert_eq!(c("EUR").decimal(5), "0.05");
        assert_eq!(c("EUR").decimal(-105), "-1.05");
        assert_eq!(c("JPY").decimal(500), "500");
        assert_eq!(c("KWD").decimal(1234), "1.234");
    }

    #[test]
    fn bucket_names_round_trip() {
        for b in Bucket::SELLER.into_iter().chain(Bucket::PLATFORM) {
            assert_eq!(b.as_str().parse::<Bucket>().unwrap(), b);
        }
        assert!("cash".parse::<Bucket>().is_err());
    }

    #[test]
    fn account_ids() {
        let eur = Currency::new("EUR").unwrap();
        assert_eq!(
            Account::seller("s:1", &eur, Bucket::Pending).id(),
            "seller:s:1:EUR:pending"
        );
        assert_eq!(
            Account::platform(&eur, Bucket::FeesRevenue).id(),
            "platform:EUR:fees_revenue"
        );
    }
}
