//! Transfers: a set of postings in one currency whose debits equal their credits.

use super::accounts::{Account, Currency};

/// One line of a transfer: a signed amount in minor units (credit positive, debit negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// The account posted to.
    pub account: Account,
    /// Minor units; positive credits the account, negative debits it. Never zero.
    pub amount: i64,
}

/// A balanced set of postings with an id derived from its cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// `event:<event id>` or `release:<order id>`: a cause posts at most one transfer.
    pub id: String,
    /// What caused it (`paid`, `refunded`, `released`, …).
    pub kind: String,
    /// The currency of every posting.
    pub currency: Currency,
    /// At least two postings, summing to zero.
    postings: Vec<Posting>,
}

/// A condition checked under the transfer's account locks before it is posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The account must hold at least `amount` (minor units) before the transfer.
    AtLeast {
        /// The account.
        account: Account,
        /// The least balance it must hold.
        amount: i64,
    },
    /// No transfer with this id may exist (two outcomes that exclude each other).
    Absent(String),
    /// A transfer with this id must exist (an outcome needs its cause).
    Present(String),
}

/// Why postings do not make a transfer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// Debits and credits differ.
    #[error("transfer {id} is unbalanced: postings sum to {sum}")]
    Unbalanced {
        /// The transfer.
        id: String,
        /// Their sum (should be zero).
        sum: i128,
    },
    /// A posting of zero.
    #[error("transfer {id} has a zero posting to {account}")]
    ZeroPosting {
        /// The transfer.
        id: String,
        /// The account.
        account: String,
    },
    /// A posting in another currency.
    #[error("transfer {id} in {currency} posts to {account}")]
    CurrencyMismatch {
        /// The transfer.
        id: String,
        /// The transfer's currency.
        currency: String,
        /// The account in another currency.
        account: String,
    },
    /// Fewer than two postings.
    #[error("transfer {id} needs at least two postings")]
    TooFewPostings {
        /// The transfer.
        id: String,
    },
}

impl Transfer {
    /// A transfer of `postings`, refused unless they are in `currency`, non-zero and sum to zero.
    pub fn new(
        id: String,
        kind: &str,
        currency: &Currency,
        postings: Vec<Posting>,
    ) -> Result<Transfer, TransferError> {
        if postings.len() < 2 {
            return Err(TransferError::TooFewPostings { id });
        }
        let mut sum: i128 = 0;
        for p in &postings {
            if p.amount == 0 {
                return Err(TransferError::ZeroPosting {
                    id,
                    account: p.account.id(),
                });
            }
            if &p.account.currency != currency {
                return Err(TransferError::CurrencyMismatch {
                    id,
                    currency: currency.to_string(),
                    account: p.account.id(),
                });
            }
            sum += i128::from(p.amount);
        }
        if sum != 0 {
            return Err(TransferError::Unbalanced { id, sum });
        }
        Ok(Transfer {
            id,
            kind: kind.to_owned(),
            currency: currency.clone(),
            postings,
        })
    }

    /// The postings, in the order given.
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::accounts::Bucket;

    fn eur() -> Currency {
        Currency::new("EUR").unwrap()
    }

    fn post(bucket: Bucket, amount: i64) -> Posting {
        Posting {
            account: Account::platform(&eur(), bucket),
            amount,
        }
    }

    #[test]
    fn balanced_transfers_only() {
        let ok = Transfer::new(
            "t".into(),
            "paid",
            &eur(),
            vec![
                post(Bucket::BuyerFunds, -100),
                post(Bucket::FeesRevenue, 100),
            ],
        );
        assert!(ok.is_ok());
        let err = Transfer::new(
            "t".into(),
            "paid",
            &eur(),
            vec![
                post(Bucket::BuyerFunds, -100),
                post(Bucket::FeesRevenue, 99),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err,
            TransferError::Unbalanced {
                id: "t".into(),
                sum: -1
            }
        );
        assert!(matches!(
            Transfer::new(
                "t".into(),
                "x",
                &eur(),
                vec![post(Bucket::Refunds, 0), post(Bucket::Refunds, 0)]
            ),
            Err(TransferError::ZeroPosting { .. })
        ));
        assert!(matches!(
            Transfer::new("t".into(), "x", &eur(), vec![post(Bucket::Refunds, 1)]),
            Err(TransferError::TooFewPostings { .. })
        ));
        let usd = Currency::new("USD").unwrap();
        assert!(matches!(
            Transfer::new(
                "t".into(),
                "x",
                &usd,
                vec![post(Bucket::Refunds, 1), post(Bucket::Refunds, -1)]
            ),
            Err(TransferError::CurrencyMismatch { .. })
        ));
    }
}
