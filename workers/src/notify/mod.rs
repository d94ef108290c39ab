//! The notify worker: fans events out to their audience in chunks (inbox rows
//! in bulk, a delivery state per recipient and channel). Single-recipient
//! transactional events run on their own `notify.priority` queue, their
//! deliveries too. Emails go out over SMTP from `notify.email`, Web Push
//! messages from `notify.push`, signed webhooks from `notify.webhook`.

pub mod email;
mod event;
mod fanout;
pub mod push;
pub mod quiet;
pub mod templates;
pub mod webhook;

pub use fanout::{Decision, FanoutHandler, Plan, Recipient, plan};

use crate::{Services, runtime::Registry};
use fleet_jobs::queues;
use fleet_shared::{seal::Sealer, vapid::VapidKey};
use std::sync::Arc;

/// Registers the notify handlers: fan-out on `notify.fanout`, each channel on its own queue, all on `notify.priority`.
pub fn register(registry: &mut Registry, services: &Services) {
    let settings = services.config.notify.clone();
    let templates = Arc::new(templates::Templates::builtin(&settings.default_locale));
    let max_attempts = services.config.kinds.notify.max_attempts as i32;
    let vapid = VapidKey::from_config(&services.config).map_err(|e| e.to_string());
    if let Err(err) = &vapid {
        tracing::error!(%err, "the push channel cannot start");
    }
    let sealer = Sealer::from_config(&services.config).map_err(|e| e.to_string());
    let fanout = FanoutHandler::new(
        services.db.clone(),
        services.queues.clone(),
        templates.clone(),
        settings.clone(),
        max_attempts,
        vapid.is_ok(),
    );
    let email = email::EmailHandler::new(services.db.clone(), templates.clone(), settings.clone());
    let push = push::PushHandler::new(services.db.clone(), templates, settings.clone(), vapid);
    let webhook = webhook::WebhookHandler::new(
        services.db.clone(),
        services.queues.clone(),
        settings,
        sealer,
        max_attempts,
    );
    registry.register(queues::NOTIFY_FANOUT, fanout.clone());
    registry.register(queues::NOTIFY_PRIORITY, fanout);
    registry.register(queues::NOTIFY_EMAIL, email::DigestHandler(email.clone()));
    registry.register(queues::NOTIFY_EMAIL, email.clone());
    registry.register(queues::NOTIFY_PRIORITY, email);
    registry.register(queues::NOTIFY_PUSH, push.clone());
    registry.register(queues::NOTIFY_PRIORITY, push);
    registry.register(queues::NOTIFY_WEBHOOK, webhook.clone());
    registry.register(queues::NOTIFY_PRIORITY, webhook);
}
