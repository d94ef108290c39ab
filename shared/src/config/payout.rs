//! Settings of the ledger and payouts: fees, hold period, minimum payout per currency.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// How order events become seller balances and payouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayoutSettings {
    /// Percentage part of the platform fee on a paid order, in basis points (500 = 5%).
    pub fee_percent_bps: u32,
    /// Fixed part of the platform fee, in minor units of the order's currency.
    pub fee_fixed_minor: i64,
    /// Days between delivery and the funds becoming available.
    pub hold_days: u32,
    /// Smallest payout per currency, in minor units (`EUR = 1000`).
    #[serde(deserialize_with = "currency_map")]
    pub minimum_payout: BTreeMap<String, i64>,
}

impl Default for PayoutSettings {
    fn default() -> Self {
        PayoutSettings {
            fee_percent_bps: 500,
            fee_fixed_minor: 70,
            hold_days: 2,
            minimum_payout: [("EUR", 1_000), ("GBP", 1_000), ("USD", 1_000)]
                .into_iter()
                .map(|(c, n)| (c.to_owned(), n))
                .collect(),
        }
    }
}

impl PayoutSettings {
    /// The hold period in milliseconds.
    pub fn hold_ms(&self) -> i64 {
        i64::from(self.hold_days) * 24 * 3_600 * 1_000
    }
}

/// Currency keys are upper-cased: environment variable names arrive lower-cased.
fn currency_map<'de, D: Deserializer<'de>>(de: D) -> Result<BTreeMap<String, i64>, D::Error> {
    let raw = BTreeMap::<String, i64>::deserialize(de)?;
    let mut out = BTreeMap::new();
    for (code, minimum) in raw {
        let code = code.to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom(format!(
                "`{code}` is not a currency code (three letters, like EUR)"
            )));
        }
        if minimum < 0 {
            return Err(serde::de::Error::custom(format!(
                "the minimum payout in {code} must not be negative"
            )));
        }
        out.insert(code, minimum);
    }
    Ok(out)
}
