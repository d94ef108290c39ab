//! An event as every notify job reads it: the stored row, its parsed type, and
//! its template data with the actor filled in.

use crate::runtime::JobError;
use fleet_shared::{Db, db::notify_events::NotifyEvent, notify::EventType};
use serde_json::Value;

/// A stored event, ready for templates.
#[derive(Debug, Clone)]
pub struct LoadedEvent {
    /// The row.
    pub row: NotifyEvent,
    /// Its type.
    pub event_type: EventType,
    /// Template data: the posted `data`, plus `actor` when the event has one.
    pub data: Value,
}

impl LoadedEvent {
    /// Reads event `id`; a missing or corrupt event fails the job for good.
    pub async fn load(db: &Db, id: &str) -> Result<LoadedEvent, JobError> {
        let row = db
            .notify_event(id)
            .await
            .map_err(JobError::retry)?
            .ok_or_else(|| JobError::Permanent(format!("no event `{id}`")))?;
        LoadedEvent::from_row(row)
    }

    /// The event of a stored row; an unknown type fails the job for good.
    pub fn from_row(row: NotifyEvent) -> Result<LoadedEvent, JobError> {
        let event_type: EventType = row.event_type.parse().map_err(JobError::permanent)?;
        let mut data: Value = serde_json::from_str(&row.data).unwrap_or(Value::Null);
        if let (Value::Object(map), Some(actor)) = (&mut data, &row.actor) {
            map.entry("actor")
                .or_insert_with(|| Value::String(actor.clone()));
        }
        Ok(LoadedEvent {
            row,
            event_type,
            data,
        })
    }
}
