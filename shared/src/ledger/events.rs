//! Order events and the rules that turn them into postings.
//!
//! An order's state is the fold of its accepted events; [`plan`] takes the
//! state before an event and returns the state after it and the postings it
//! causes, or why the event is refused in that state. It is pure: the same
//! state and event always give the same plan.

use super::{
    accounts::{Account, Bucket, Currency},
    fees::{FeePolicy, refund_split},
};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// The buyer paid `amount`: the seller's share (minus the fee) is pending.
    Paid,
    /// The item arrived: the hold period starts; a job releases the funds after it.
    Delivered,
    /// The buyer accepted the item: the funds are released now.
    Completed,
    /// Everything not yet refunded goes back to the buyer.
    Refunded,
    /// Part of the amount goes back to the buyer.
    PartiallyRefunded,
    /// The buyer disputed `amount`: released funds are held again until it is decided.
    Disputed,
    /// The dispute was decided for the seller.
    DisputeWon,
    /// The dispute was decided for the buyer: like a refund of the disputed amount.
    DisputeLost,
    /// The hold period ended (posted by the release job, never by the API).
    Released,
}

impl EventType {
    /// Every type the API accepts.
    pub const PUBLIC: [EventType; 8] = [
        EventType::Paid,
        EventType::Delivered,
        EventType::Completed,
        EventType::Refunded,
        EventType::PartiallyRefunded,
        EventType::Disputed,
        EventType::DisputeWon,
        EventType::DisputeLost,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Paid => "paid",
            EventType::Delivered => "delivered",
            EventType::Completed => "completed",
            EventType::Refunded => "refunded",
            EventType::PartiallyRefunded => "partially_refunded",
            EventType::Disputed => "disputed",
            EventType::DisputeWon => "dispute_won",
            EventType::DisputeLost => "dispute_lost",
            EventType::Released => "released",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event type name that is not one of [`EventType`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown order event type `{0}`")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::PUBLIC
            .into_iter()
            .chain([EventType::Released])
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// An order event as the marketplace backend posts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// The backend's id of this event; the same id is the same event.
    pub event_id: String,
    /// What happened.
    pub kind: EventType,
    /// The order.
    pub order_id: String,
    /// The seller of the order.
    pub seller_id: String,
    /// Minor units, > 0.
    pub amount: i64,
    /// The order's currency.
    pub currency: Currency,
    /// The platform fee of a `paid` event, overriding the configured policy.
    pub fee: Option<i64>,
}

/// An open dispute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The disputed amount.
    pub amount: i64,
    /// The seller's share of it.
    pub seller_share: i64,
    /// Whether that share was moved back from available to pending (the order was released).
    pub pulled_back: bool,
}

/// An order as its accepted events left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// The seller.
    pub seller_id: String,
    /// The currency.
    pub currency: Currency,
    /// What the buyer paid.
    pub amount: i64,
    /// The platform's fee on it.
    pub fee: i64,
    /// Whether it was delivered.
    pub delivered: bool,
    /// When the hold period ends (ms since epoch), once delivered.
    pub release_at: Option<i64>,
    /// Whether the buyer completed it.
    pub completed: bool,
    /// Whether the seller's share moved from pending to available.
    pub released: bool,
    /// Returned to the buyer so far (refunds and lost disputes).
    pub refunded: i64,
    /// Seller share of `refunded`.
    pub seller_reversed: i64,
    /// Fee share of `refunded`.
    pub fee_reversed: i64,
    /// The open dispute, if any.
    pub dispute: Option<Dispute>,
}

impl OrderState {
    /// The seller's share still attached to this order (in pending, or in available once released).
    pub fn held(&self) -> i64 {
        self.amount - self.fee - self.seller_reversed
    }

    /// What can still be refunded or disputed.
    pub fn refundable(&self) -> i64 {
        self.amount - self.refunded
    }

    fn seller(&self, bucket: Bucket) -> Account {
        Account::seller(&self.seller_id, &self.currency, bucket)
    }

    fn platform(&self, bucket: Bucket) -> Account {
        Account::platform(&self.currency, bucket)
    }
}

/// Why an event is refused in the order's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Any event before `paid`.
    #[error("order {order_id} has not been paid: post `paid` first")]
    NotPaid {
        /// The order.
        order_id: String,
    },
    /// A second `paid` under another event id.
    #[error("order {order_id} is already paid")]
    AlreadyPaid {
        /// The order.
        order_id: String,
    },
    /// `completed` or a release before `delivered`.
    #[error("order {order_id} has not been delivered: post `delivered` first")]
    NotDelivered {
        /// The order.
        order_id: String,
    },
    /// A second `delivered`.
    #[error("order {order_id} is already delivered")]
    AlreadyDelivered {
        /// The order.
        order_id: String,
    },
    /// A second `completed`.
    #[error("order {order_id} is already completed")]
    AlreadyCompleted {
        /// The order.
        order_id: String,
    },
    /// A release of funds already released.
    #[error("the funds of order {order_id} are already released")]
    AlreadyReleased {
        /// The order.
        order_id: String,
    },
    /// A release before the hold period ended.
    #[error("the hold period of order {order_id} ends at {release_at} ms")]
    NotDue {
        /// The order.
        order_id: String,
        /// When it ends.
        release_at: i64,
    },
    /// The event names another seller or currency than the order's `paid`.
    #[error("order {order_id} belongs to seller {seller_id} in {currency}")]
    OrderMismatch {
        /// The order.
        order_id: String,
        /// Its seller.
        seller_id: String,
        /// Its currency.
        currency: String,
    },
    /// The amount must equal a known figure (the order's amount, what is left, the disputed amount).
    #[error("amount must be {expected} for a `{kind}` event on order {order_id}")]
    AmountMismatch {
        /// The order.
        order_id: String,
        /// The event type.
        kind: EventType,
        /// The expected amount.
        expected: i64,
    },
    /// A refund or dispute of more than what is left of the payment.
    #[error("{amount} exceeds what order {order_id} has left to refund ({refundable})")]
    ExceedsRefundable {
        /// The order.
        order_id: String,
        /// Requested.
        amount: i64,
        /// What is left.
        refundable: i64,
    },
    /// Nothing is left to refund.
    #[error("order {order_id} is fully refunded")]
    FullyRefunded {
        /// The order.
        order_id: String,
    },
    /// A refund, completion or second dispute while a dispute is open.
    #[error("order {order_id} has an open dispute: post `dispute_won` or `dispute_lost` first")]
    DisputeOpen {
        /// The order.
        order_id: String,
    },
    /// `dispute_won` or `dispute_lost` without an open dispute.
    #[error("order {order_id} has no open dispute")]
    NoDispute {
        /// The order.
        order_id: String,
    },
    /// The `paid` fee is larger than the amount.
    #[error("fee {fee} exceeds the amount {amount}")]
    FeeExceedsAmount {
        /// The fee.
        fee: i64,
        /// The amount.
        amount: i64,
    },
}

impl Rejection {
    /// A stable snake_case reason for API clients.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::NotPaid { .. } => "order_not_paid",
            Rejection::AlreadyPaid { .. } => "order_already_paid",
            Rejection::NotDelivered { .. } => "order_not_delivered",
            Rejection::AlreadyDelivered { .. } => "order_already_delivered",
            Rejection::AlreadyCompleted { .. } => "order_already_completed",
            Rejection::AlreadyReleased { .. } => "funds_already_released",
            Rejection::NotDue { .. } => "hold_period_not_over",
            Rejection::OrderMismatch { .. } => "order_mismatch",
            Rejection::AmountMismatch { .. } => "amount_mismatch",
            Rejection::ExceedsRefundable { .. } => "exceeds_refundable",
            Rejection::FullyRefunded { .. } => "order_fully_refunded",
            Rejection::DisputeOpen { .. } => "dispute_open",
            Rejection::NoDispute { .. } => "no_open_dispute",
            Rejection::FeeExceedsAmount { .. } => "fee_exceeds_amount",
        }
    }
}

/// What an accepted event does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The order's state after the event.
    pub next: OrderState,
    /// Postings (credit positive), zero amounts already left out; empty when nothing moves.
    pub postings: Vec<(Account, i64)>,
    /// The fee charged (`paid` only).
    pub fee: Option<i64>,
    /// When a release job should run, if the event schedules one.
    pub schedule_release: Option<i64>,
}

/// Settings the rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The fee on paid orders without an explicit fee.
    pub fees: FeePolicy,
    /// The hold period after delivery, in milliseconds.
    pub hold_ms: i64,
}

/// Applies `event` at `now` (ms since epoch) to an order in `state` (None: no event yet).
pub fn plan(
    rules: &Rules,
    state: Option<&OrderState>,
    event: &OrderEvent,
    now: i64,
) -> Result<Plan, Rejection> {
    let order_id = || event.order_id.clone();
    let Some(state) = state else {
        return match event.kind {
            EventType::Paid => paid(rules, event),
            _ => Err(Rejection::NotPaid {
                order_id: order_id(),
            }),
        };
    };
    if state.seller_id != event.seller_id || state.currency != event.currency {
        return Err(Rejection::OrderMismatch {
            order_id: order_id(),
            seller_id: state.seller_id.clone(),
            currency: state.currency.to_string(),
        });
    }
    let mut next = state.clone();
    let mut postings = Vec::new();
    let mut schedule_release = None;
    let expect_amount = |expected: i64| {
        if event.amount == expected {
            Ok(())
        } else {
            Err(Rejection::AmountMismatch {
                order_id: order_id(),
                kind: event.kind,
                expected,
            })
        }
    };
    let no_dispute = || match state.dispute {
        Some(_) => Err(Rejection::DisputeOpen {
            order_id: order_id(),
        }),
        None => Ok(()),
    };
    match event.kind {
        EventType::Paid => {
            return Err(Rejection::AlreadyPaid {
                order_id: order_id(),
            });
        }
        EventType::Delivered => {
            if state.delivered {
                return Err(Rejection::AlreadyDelivered {
                    order_id: order_id(),
                });
            }
            expect_amount(state.amount)?;
            let release_at = now.saturating_add(rules.hold_ms);
            next.delivered = true;
            next.release_at = Some(release_at);
            schedule_release = Some(release_at);
        }
        EventType::Completed => {
            if !state.delivered {
                return Err(Rejection::NotDelivered {
                    order_id: order_id(),
                });
            }
            if state.completed {
                return Err(Rejection::AlreadyCompleted {
                    order_id: order_id(),
                });
            }
            expect_amount(state.amount)?;
            no_dispute()?;
            next.completed = true;
            if !state.released {
                release(state, &mut next, &mut postings);
            }
        }
        EventType::Released => {
            if !state.delivered {
                return Err(Rejection::NotDelivered {
                    order_id: order_id(),
                });
            }
            if state.released {
                return Err(Rejection::AlreadyReleased {
                    order_id: order_id(),
                });
            }
            no_dispute()?;
            if let Some(release_at) = state.release_at
                && now < release_at
            {
                return Err(Rejection::NotDue {
                    order_id: order_id(),
                    release_at,
                });
            }
            release(state, &mut next, &mut postings);
        }
        EventType::Refunded | EventType::PartiallyRefunded => {
            no_dispute()?;
            let refundable = state.refundable();
            if refundable == 0 {
                return Err(Rejection::FullyRefunded {
                    order_id: order_id(),
                });
            }
            if event.amount > refundable {
                return Err(Rejection::ExceedsRefundable {
                    order_id: order_id(),
                    amount: event.amount,
                    refundable,
                });
            }
            if event.kind == EventType::Refunded {
                expect_amount(refundable)?;
            }
            let from = if state.released {
                Bucket::Available
            } else {
                Bucket::Pending
            };
            refund(state, &mut next, &mut postings, event.amount, from);
        }
        EventType::Disputed => {
            no_dispute()?;
            let refundable = state.refundable();
            if refundable == 0 {
                return Err(Rejection::FullyRefunded {
                    order_id: order_id(),
                });
            }
            if event.amount > refundable {
                return Err(Rejection::ExceedsRefundable {
                    order_id: order_id(),
                    amount: event.amount,
                    refundable,
                });
            }
            let (seller_share, _) =
                refund_split(state.amount, state.fee, state.refunded, event.amount);
            if state.released {
                push(
                    &mut postings,
                    state.seller(Bucket::Available),
                    -seller_share,
                );
                push(&mut postings, state.seller(Bucket::Pending), seller_share);
            }
            next.dispute = Some(Dispute {
                amount: event.amount,
                seller_share,
                pulled_back: state.released,
            });
        }
        EventType::DisputeWon | EventType::DisputeLost => {
            let Some(dispute) = &state.dispute else {
                return Err(Rejection::NoDispute {
                    order_id: order_id(),
                });
            };
            expect_amount(dispute.amount)?;
            next.dispute = None;
            if event.kind == EventType::DisputeWon {
                if dispute.pulled_back {
                    push(
                        &mut postings,
                        state.seller(Bucket::Pending),
                        -dispute.seller_share,
                    );
                    push(
                        &mut postings,
                        state.seller(Bucket::Available),
                        dispute.seller_share,
                    );
                }
            } else {
                // Held funds are in pending: never released, or pulled back by the dispute.
                refund(
                    state,
                    &mut next,
                    &mut postings,
                    dispute.amount,
                    Bucket::Pending,
                );
            }
            if state.delivered && !state.released {
                schedule_release = Some(state.release_at.unwrap_or(now).max(now));
            }
        }
    }
    Ok(Plan {
        next,
        postings,
        fee: None,
        schedule_release,
    })
}

fn paid(rules: &Rules, event: &OrderEvent) -> Result<Plan, Rejection> {
    let fee = event
        .fee
        .unwrap_or_else(|| rules.fees.fee_for(event.amount));
    if fee > event.amount || fee < 0 {
        return Err(Rejection::FeeExceedsAmount {
            fee,
            amount: event.amount,
        });
    }
    let next = OrderState {
        seller_id: event.seller_id.clone(),
        currency: event.currency.clone(),
        amount: event.amount,
        fee,
        delivered: false,
        release_at: None,
        completed: false,
        released: false,
        refunded: 0,
        seller_reversed: 0,
        fee_reversed: 0,
        dispute: None,
    };
    let mut postings = Vec::new();
    push(
        &mut postings,
        next.platform(Bucket::BuyerFunds),
        -event.amount,
    );
    push(
        &mut postings,
        next.seller(Bucket::Pending),
        event.amount - fee,
    );
    push(&mut postings, next.platform(Bucket::FeesRevenue), fee);
    Ok(Plan {
        next,
        postings,
        fee: Some(fee),
        schedule_release: None,
    })
}

/// Moves what the order still holds from pending to available.
fn release(state: &OrderState, next: &mut OrderState, postings: &mut Vec<(Account, i64)>) {
    let held = state.held();
    push(postings, state.seller(Bucket::Pending), -held);
    push(postings, state.seller(Bucket::Available), held);
    next.released = true;
}

/// Returns `amount` to the buyer: the seller's share from `from`, the fee's share from fee revenue.
fn refund(
    state: &OrderState,
    next: &mut OrderState,
    postings: &mut Vec<(Account, i64)>,
    amount: i64,
    from: Bucket,
) {
    let (seller_share, fee_share) = refund_split(state.amount, state.fee, state.refunded, amount);
    push(postings, state.seller(from), -seller_share);
    push(postings, state.platform(Bucket::FeesRevenue), -fee_share);
    push(postings, state.platform(Bucket::Refunds), amount);
    next.refunded += amount;
    next.seller_reversed += seller_share;
    next.fee_reversed += fee_share;
}

fn push(postings: &mut Vec<(Account, i64)>, account: Account, amount: i64) {
    if amount != 0 {
        postings.push((account, amount));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        fees: FeePolicy {
            percent_bps: 1_000,
            fixed_minor: 0,
        },
        hold_ms: 1_000,
    };

    fn ev(kind: EventType, amount: i64) -> OrderEvent {
        OrderEvent {
            event_id: format!("e-{kind}"),
            kind,
            order_id: "o1".into(),
            seller_id: "s1".into(),
            amount,
            currency: Currency::new("EUR").unwrap(),
            fee: None,
        }
    }

    fn amounts(plan: &Plan) -> Vec<(String, i64)> {
        plan.postings.iter().map(|(a, n)| (a.id(), *n)).collect()
    }

    fn apply(state: Option<OrderState>, kind: EventType, amount: i64, now: i64) -> Plan {
        plan(&RULES, state.as_ref(), &ev(kind, amount), now).unwrap()
    }

    #[test]
    fn paid_delivered_released_refunded() {
        let p = apply(None, EventType::Paid, 1_000, 0);
        assert_eq!(
            amounts(&p),
            vec![
                ("platform:EUR:buyer_funds".into(), -1_000),
                ("seller:s1:EUR:pending".into(), 900),
                ("platform:EUR:fees_revenue".into(), 100),
            ]
        );
        let d = apply(Some(p.next), EventType::Delivered, 1_000, 10);
        assert_eq!(d.schedule_release, Some(1_010));
        assert!(d.postings.is_empty());
        let early = plan(&RULES, Some(&d.next), &ev(EventType::Released, 0), 500);
        assert!(matches!(early, Err(Rejection::NotDue { .. })));
        let r = apply(Some(d.next), EventType::Released, 0, 1_010);
        assert_eq!(
            amounts(&r),
            vec![
                ("seller:s1:EUR:pending".into(), -900),
                ("seller:s1:EUR:available".into(), 900),
            ]
        );
        let again = plan(&RULES, Some(&r.next), &ev(EventType::Released, 0), 2_000);
        assert!(matches!(again, Err(Rejection::AlreadyReleased { .. })));
        let refund = apply(Some(r.next), EventType::Refunded, 1_000, 3_000);
        assert_eq!(
            amounts(&refund),
            vec![
                ("seller:s1:EUR:available".into(), -900),
                ("platform:EUR:fees_revenue".into(), -100),
                ("platform:EUR:refunds".into(), 1_000),
            ]
        );
    }

    #[test]
    fn out_of_order_events_are_refused() {
        for kind in [
            EventType::Delivered,
            EventType::Refunded,
            EventType::DisputeWon,
        ] {
            assert!(matches!(
                plan(&RULES, None, &ev(kind, 10), 0),
                Err(Rejection::NotPaid { .. })
            ));
        }
        let p = apply(None, EventType::Paid, 1_000, 0).next;
        assert!(matches!(
            plan(&RULES, Some(&p), &ev(EventType::Completed, 1_000), 0),
            Err(Rejection::NotDelivered { .. })
        ));
        assert!(matches!(
            plan(
                &RULES,
                Some(&p),
                &ev(EventType::PartiallyRefunded, 1_001),
                0
            ),
            Err(Rejection::ExceedsRefundable {
                refundable: 1_000,
                ..
            })
        ));
        assert!(matches!(
            plan(&RULES, Some(&p), &ev(EventType::Refunded, 999), 0),
            Err(Rejection::AmountMismatch {
                expected: 1_000,
                ..
            })
        ));
        let mut other = ev(EventType::Delivered, 1_000);
        other.seller_id = "s2".into();
        assert!(matches!(
            plan(&RULES, Some(&p), &other, 0),
            Err(Rejection::OrderMismatch { .. })
        ));
    }

    #[test]
    fn disputes_after_release_hold_the_funds_again() {
        let mut s = apply(None, EventType::Paid, 1_000, 0).next;
        s = apply(Some(s), EventType::Delivered, 1_000, 0).next;
        s = apply(Some(s), EventType::Completed, 1_000, 0).next;
        let d = apply(Some(s), EventType::Disputed, 500, 0);
        assert_eq!(
            amounts(&d),
            vec![
                ("seller:s1:EUR:available".into(), -450),
                ("seller:s1:EUR:pending".into(), 450),
            ]
        );
        let won = apply(Some(d.next.clone()), EventType::DisputeWon, 500, 0);
        assert_eq!(won.postings.len(), 2);
        let lost = apply(Some(d.next), EventType::DisputeLost, 500, 0);
        assert_eq!(
            amounts(&lost),
            vec![
                ("seller:s1:EUR:pending".into(), -450),
                ("platform:EUR:fees_revenue".into(), -50),
                ("platform:EUR:refunds".into(), 500),
            ]
        );
        assert_eq!(lost.next.refundable(), 500);
    }
}
