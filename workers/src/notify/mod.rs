//! The notify worker: fans events out to their audience in chunks (inbox rows
//! in bulk, a delivery state per recipient and channel). Single-recipient
//! transactional events run on their own `notify.priority` queue, their
//! emails too. Emails go out over SMTP from `notify.email`.

pub mod email;
mod fanout;
pub mod quiet;
pub mod templates;

pub use fanout::{Decision, FanoutHandler, Plan, Recipient, plan};

use crate::{Services, runtime::Registry};
use fleet_jobs::queues;
use std::sync::Arc;

/// Registers the notify handlers: fan-out on `notify.fanout`, email on `notify.email`, both on `notify.priority`.
pub fn register(registry: &mut Registry, services: &Services) {
    let settings = services.config.notify.clone();
    let templates = Arc::new(templates::Templates::builtin(&settings.default_locale));
    let max_attempts = services.config.kinds.notify.max_attempts as i32;
    let email = email::EmailHandler::new(services.db.clone(), templates.clone(), settings.clone());
    let fanout = FanoutHandler::new(
        services.db.clone(),
        services.queues.clone(),
        templates,
        settings,
        max_attempts,
    );
    registry.register(queues::NOTIFY_FANOUT, fanout.clone());
    registry.register(queues::NOTIFY_PRIORITY, fanout);
    registry.register(queues::NOTIFY_EMAIL, email.clone());
    registry.register(queues::NOTIFY_PRIORITY, email);
}
