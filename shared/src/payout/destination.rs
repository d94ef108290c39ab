//! Reading and writing a seller's sealed payout destination.

use super::bank::PayoutDestination;
use crate::{
    Db, DbError,
    db::{now_ms, payouts::StoredDestination},
    seal::{SealError, Sealer},
};

/// Why a destination could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The sealed value does not open (another secret key?).
    #[error("the stored payout destination of {seller_id} cannot be opened: {source}")]
    Sealed {
        /// The seller.
        seller_id: String,
        /// Why.
        source: SealError,
    },
}

/// Seals and stores `destination` as `seller_id`'s.
pub async fn store(
    db: &Db,
    sealer: &Sealer,
    seller_id: &str,
    destination: &PayoutDestination,
) -> Result<StoredDestination, DbError> {
    let json = serde_json::to_vec(destination).map_err(|e| DbError::Corrupt {
        table: "payout_accounts",
        message: e.to_string(),
    })?;
    let stored = StoredDestination {
        seller_id: seller_id.to_owned(),
        sealed: sealer.seal(seller_id, &json),
        iban_last4: destination
            .bank
            .as_ref()
            .map(|b| b.iban[b.iban.len().saturating_sub(4)..].to_owned()),
        has_stripe: destination.stripe_account.is_some(),
        has_bank: destination.bank.is_some(),
        updated_at: now_ms(),
    };
    db.put_payout_destination(&stored).await?;
    Ok(stored)
}

/// `seller_id`'s destination, opened.
pub async fn load(
    db: &Db,
    sealer: &Sealer,
    seller_id: &str,
) -> Result<Option<PayoutDestination>, DestinationError> {
    let Some(stored) = db.payout_destination(seller_id).await? else {
        return Ok(None);
    };
    let sealed_err = |source| DestinationError::Sealed {
        seller_id: seller_id.to_owned(),
        source,
    };
    let json = sealer.open(seller_id, &stored.sealed).map_err(sealed_err)?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|_| sealed_err(SealError::Malformed))
}
