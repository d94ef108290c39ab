//! The payout schedule: at each time `payout.schedule` (cron, UTC) names,
//! record the period's run and queue its job. Every payout worker runs the
//! schedule; the run id is the period, so replicas ticking together create
//! one run and one job (the job's idempotency key), and a period missed
//! while no worker ran is not paid twice later.

use super::PayoutServices;
use chrono::{DateTime, Utc};
use fleet_shared::config::PayoutProvider;

/// The run id of the scheduled period starting at `at`.
pub fn period_run_id(at: DateTime<Utc>) -> String {
    format!("schedule:{}", at.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// Records the run of `run_id` (if new) and queues its job (idempotent).
pub async fn start_run(
    services: &PayoutServices,
    run_id: &str,
    trigger: &str,
    seller_id: Option<&str>,
) -> Result<(), String> {
    fleet_shared::payout::start_run(
        &services.queues,
        &services.config,
        run_id,
        trigger,
        seller_id,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Starts the schedule's loop on the current runtime; does nothing when no schedule is
/// set, or when SEPA is the provider and the platform's debtor account is not configured.
pub fn spawn(services: PayoutServices) {
    let schedule = match services.config.payout.cron() {
        Ok(Some(schedule)) => schedule,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "payout schedule disabled");
            return;
        }
    };
    let payout = &services.config.payout;
    if payout.provider == PayoutProvider::Sepa && payout.sepa_debtor_iban.is_none() {
        // A fresh install has no bank account to pay from: scheduled runs would only fail.
        tracing::warn!(
            "payout schedule off: SEPA payouts need the platform's account; \
             set FLEET_PAYOUT__SEPA_DEBTOR_IBAN and FLEET_PAYOUT__SEPA_DEBTOR_BIC"
        );
        return;
    }
    tokio::spawn(async move {
        loop {
            let Some(next) = schedule.upcoming(Utc).next() else {
                tracing::warn!("the payout schedule names no future time; no scheduled runs");
                return;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let run_id = period_run_id(next);
            // A failure (database or queue down) is retried until the period is recorded.
            let mut delay = std::time::Duration::from_secs(1);
            while let Err(e) = start_run(&services, &run_id, "schedule", None).await {
                tracing::error!(%run_id, error = %e, "cannot start the scheduled payout run; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(60));
            }
            tracing::info!(%run_id, "scheduled payout run queued");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_name_runs() {
        let settings = fleet_shared::config::PayoutSettings::default();
        let schedule = settings.cron().unwrap().unwrap();
        let after = DateTime::parse_from_rfc3339("2026-11-25T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = schedule.after(&after).next().unwrap();
        assert_eq!(period_run_id(next), "schedule:2026-11-26T06:00:00Z");
    }
}
