//! The message queue (docs/protocol.md §9, §15 items 3–4): redelivery of undeleted
//! messages, batching of at most 50 job messages, ids +1 per scale set.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::MqIdentity;
use super::{Fail, State, Statistics};
use crate::wire::{MAX_EVENTS_PER_MESSAGE, MESSAGE_TYPE_JOB_MESSAGES};

/// `RunnerScaleSetMessage` (docs/protocol.md §9.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Message id.
    pub message_id: u64,
    /// Always `RunnerScaleSetJobMessages`.
    pub message_type: &'static str,
    /// JSON array of job messages, as a string.
    pub body: String,
    /// Statistics at delivery time.
    pub statistics: Statistics,
}

impl State {
    /// One poll without waiting: the oldest undeleted message with id > `last`
    /// (any undeleted one when `last` is absent or 0), else a new message built from
    /// pending job messages, else `None` (the caller holds the poll, then 202).
    /// Records `max_capacity`, which gates dotcom assignment.
    pub fn poll(
        &mut self,
        who: MqIdentity,
        last: Option<u64>,
        max_capacity: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Option<Envelope>, Fail> {
        self.touch_session(who.session_id, now);
        let queue = self
            .queues
            .get_mut(&who.scale_set_id)
            .ok_or(Fail::ScaleSetNotFound(who.scale_set_id))?;
        if max_capacity.is_some() && queue.max_capacity != max_capacity {
            queue.max_capacity = max_capacity;
            self.dispatch(now);
        }
        let queue = self
            .queues
            .get_mut(&who.scale_set_id)
            .ok_or(Fail::ScaleSetNotFound(who.scale_set_id))?;
        let floor = last.unwrap_or(0);
        let redelivery = queue
            .messages
            .range(floor.saturating_add(1)..)
            .next()
            .map(|(id, body)| (*id, body.clone()));
        let (message_id, body) = match redelivery {
            Some(found) => found,
            None if queue.pending.is_empty() => return Ok(None),
            None => {
                let take = queue.pending.len().min(MAX_EVENTS_PER_MESSAGE);
                let events: Vec<serde_json::Value> = queue.pending.drain(..take).collect();
                let body =
                    serde_json::to_string(&events).map_err(|e| Fail::Internal(e.to_string()))?;
                let id = queue.next_message_id;
                queue.next_message_id += 1;
                queue.messages.insert(id, body.clone());
                (id, body)
            }
        };
        *queue.deliveries.entry(message_id).or_default() += 1;
        let statistics = self.delivered_statistics(who.scale_set_id);
        Ok(Some(Envelope {
            message_id,
            message_type: MESSAGE_TYPE_JOB_MESSAGES,
            body,
            statistics,
        }))
    }

    /// The statistics a delivery carries: the frozen ones while a lag is armed, else now's.
    fn delivered_statistics(&mut self, scale_set_id: u64) -> Statistics {
        let lagging = self
            .queues
            .get_mut(&scale_set_id)
            .and_then(|q| match q.lagging.take() {
                Some((frozen, left)) if left > 0 => {
                    q.lagging = (left > 1).then_some((frozen, left - 1));
                    Some(frozen)
                }
                _ => None,
            });
        lagging.unwrap_or_else(|| self.statistics(scale_set_id))
    }

    /// The next `deliveries` messages of a scale set carry its statistics as they are now,
    /// whatever happens meanwhile: counters that lag the messages.
    pub fn lag_statistics(&mut self, scale_set_id: u64, deliveries: u32) -> Result<(), Fail> {
        let frozen = self.statistics(scale_set_id);
        let queue = self
            .queues
            .get_mut(&scale_set_id)
            .ok_or(Fail::ScaleSetNotFound(scale_set_id))?;
        queue.lagging = (deliveries > 0).then_some((frozen, deliveries));
        Ok(())
    }

    /// Appends a raw job message (e.g. an event type no client knows) to a scale set's
    /// pending messages; it goes out with the next message.
    pub fn push_raw_event(
        &mut self,
        scale_set_id: u64,
        event: serde_json::Value,
    ) -> Result<(), Fail> {
        let queue = self
            .queues
            .get_mut(&scale_set_id)
            .ok_or(Fail::ScaleSetNotFound(scale_set_id))?;
        queue.pending.push_back(event);
        self.version += 1;
        Ok(())
    }

    /// Acknowledges (deletes) a message (docs/protocol.md §9.2); unknown id ⇒ 404.
    pub fn ack(
        &mut self,
        who: MqIdentity,
        message_id: u64,
        now: DateTime<Utc>,
    ) -> Result<(), Fail> {
        self.touch_session(who.session_id, now);
        let queue = self
            .queues
            .get_mut(&who.scale_set_id)
            .ok_or(Fail::ScaleSetNotFound(who.scale_set_id))?;
        queue
            .messages
            .remove(&message_id)
            .map(|_| ())
            .ok_or(Fail::MessageNotFound(message_id))
    }

    /// Whether a poll for this scale set would return something now.
    pub fn has_message(&self, scale_set_id: u64, last: Option<u64>) -> bool {
        self.queues.get(&scale_set_id).is_some_and(|q| {
            !q.pending.is_empty()
                || q.messages
                    .range(last.unwrap_or(0).saturating_add(1)..)
                    .next()
                    .is_some()
        })
    }
}
