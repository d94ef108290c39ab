//! The platform's fee on a paid order, and how refunds split between seller and fee.

/// Fee = `percent_bps` basis points of the amount (rounded half up) + `fixed_minor`, at most the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    /// Percentage part in basis points (1/100 of a percent).
    pub percent_bps: u32,
    /// Fixed part in minor units.
    pub fixed_minor: i64,
}

impl FeePolicy {
    /// The fee on an order of `amount` minor units.
    pub fn fee_for(&self, amount: i64) -> i64 {
        let amount = amount.max(0);
        let percent = (i128::from(amount) * i128::from(self.percent_bps) + 5_000) / 10_000;
        let fee = percent + i128::from(self.fixed_minor.max(0));
        i64::try_from(fee.min(i128::from(amount))).unwrap_or(amount)
    }
}

/// The fee share returned when buyers have been refunded `refunded` of an
/// order of `amount` that carried `fee`: `ceil(fee × refunded / amount)`.
/// Computed on running totals, so partial refunds add up to exactly the fee.
pub fn fee_refunded(amount: i64, fee: i64, refunded: i64) -> i64 {
    if amount <= 0 {
        return 0;
    }
    let num = i128::from(fee) * i128::from(refunded);
    let den = i128::from(amount);
    let share = (num + den - 1) / den;
    i64::try_from(share).unwrap_or(fee)
}

/// How a refund of `refund` (after `refunded_before`) splits into (seller share, fee share).
/// The seller share is never negative and all seller shares together never exceed `amount − fee`.
pub fn refund_split(amount: i64, fee: i64, refunded_before: i64, refund: i64) -> (i64, i64) {
    let fee_share = fee_refunded(amount, fee, refunded_before + refund)
        - fee_refunded(amount, fee, refunded_before);
    (refund - fee_share, fee_share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_is_percentage_plus_fixed_capped_at_amount() {
        let p = FeePolicy {
            percent_bps: 500,
            fixed_minor: 70,
        };
        assert_eq!(p.fee_for(10_000), 570);
        assert_eq!(p.fee_for(10), 10);
        assert_eq!(p.fee_for(1_010), 121); // 50.5 rounds half up to 51
        let zero = FeePolicy {
            percent_bps: 0,
            fixed_minor: 0,
        };
        assert_eq!(zero.fee_for(1_000), 0);
    }

    #[test]
    fn partial_refunds_add_up_to_the_whole() {
        for (amount, fee) in [(10_000, 570), (3, 1), (7, 7), (1, 0), (999, 333)] {
            let mut refunded = 0;
            let (mut seller, mut fees) = (0, 0);
            for step in [1, 2, 3, 5, 8, 13, 21, 10_000] {
                let refund = step.min(amount - refunded);
                if refund == 0 {
                    break;
                }
                let (s, f) = refund_split(amount, fee, refunded, refund);
                assert!(s >= 0 && f >= 0, "{amount} {fee} {refund}");
                refunded += refund;
                seller += s;
                fees += f;
                assert!(seller <= amount - fee && fees <= fee);
            }
            assert_eq!((seller, fees), (amount - fee, fee));
        }
    }
}
