//! Settings of the ledger and payouts: fees, hold period, minimum payout per
//! currency, the payout schedule and provider (SEPA files or Stripe Connect).

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
    /// Who pays sellers out: `sepa` (credit-transfer files for the bank) or `stripe` (Connect transfers).
    pub provider: PayoutProvider,
    /// When payout runs start: a cron expression with seconds, in UTC (`0 0 6 * * *`: daily 06:00); empty: never.
    pub schedule: String,
    /// The platform's name as debtor in SEPA files.
    pub sepa_debtor_name: String,
    /// The platform's IBAN SEPA payouts are paid from.
    pub sepa_debtor_iban: Option<String>,
    /// The BIC of the platform's bank.
    pub sepa_debtor_bic: Option<String>,
    /// Base URL of the Stripe API.
    pub stripe_api_base: String,
    /// Stripe secret key (`sk_…`), sent as the bearer credential.
    pub stripe_secret_key: Option<String>,
    /// Secret of the Stripe webhook endpoint (`whsec_…`) that signs events.
    pub stripe_webhook_secret: Option<String>,
    /// Days after which reconciliation reports a SEPA payout still in transit
    /// (its batch never confirmed, or never written) as a mismatch; 0: never.
    pub sepa_confirm_days: u32,
}

/// A payout provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutProvider {
    /// pain.001.001.03 credit-transfer batches in the blob store, confirmed by the finance team.
    Sepa,
    /// Stripe Connect transfers to the sellers' connected accounts.
    Stripe,
}

impl PayoutProvider {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutProvider::Sepa => "sepa",
            PayoutProvider::Stripe => "stripe",
        }
    }
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
            provider: PayoutProvider::Sepa,
            schedule: "0 0 6 * * *".to_owned(),
            sepa_debtor_name: "Fleet Marketplace".to_owned(),
            sepa_debtor_iban: None,
            sepa_debtor_bic: None,
            stripe_api_base: "https://api.stripe.com".to_owned(),
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            sepa_confirm_days: 5,
        }
    }
}

impl PayoutSettings {
    /// The hold period in milliseconds.
    pub fn hold_ms(&self) -> i64 {
        i64::from(self.hold_days) * 24 * 3_600 * 1_000
    }

    /// How long a SEPA payout may stay in transit before reconciliation reports it, in ms (None: never).
    pub fn sepa_confirm_ms(&self) -> Option<i64> {
        (self.sepa_confirm_days > 0).then(|| i64::from(self.sepa_confirm_days) * 24 * 3_600 * 1_000)
    }

    /// The payout schedule, None when `schedule` is empty.
    pub fn cron(&self) -> Result<Option<cron::Schedule>, String> {
        let text = self.schedule.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<cron::Schedule>().map(Some).map_err(|e| {
            format!("`{text}` is not a cron expression (sec min hour day month weekday): {e}")
        })
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
