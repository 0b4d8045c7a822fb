//! What a Lambda event asks for (pure): the dry run, a spot interruption warning, or, for every
//! other event (the schedule, a manual test event), a cycle.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Lambda event `{"ghaec2": "dry-run"}` runs the dry run instead of a cycle.
pub const DRY_RUN_EVENT_KEY: &str = "ghaec2";

/// EventBridge's `source` of EC2's events.
pub const EC2_SOURCE: &str = "aws.ec2";
/// EventBridge's `detail-type` of EC2's two-minute spot warning.
pub const SPOT_INTERRUPTION_WARNING: &str = "EC2 Spot Instance Interruption Warning";

/// What one invocation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// The deployed role's own dry run.
    DryRun,
    /// Deal with a spot interruption warning, then listen as a cycle does.
    SpotInterruption(SpotInterruption),
    /// One cycle.
    Cycle,
}

/// EC2's warning that a spot instance is about to be interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotInterruption {
    /// The instance.
    pub instance_id: String,
    /// `terminate`, `stop` or `hibernate`: what EC2 will do to it.
    pub action: String,
    /// When EC2 sent the warning; the interruption comes two minutes later.
    pub warned_at: Option<DateTime<Utc>>,
}

/// The `detail` of a spot interruption warning.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
struct SpotDetail {
    instance_id: String,
    #[serde(default)]
    instance_action: String,
}

/// A spot interruption warning that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a \"{SPOT_INTERRUPTION_WARNING}\" event could not be read: {reason}; expected \
     {{\"detail\": {{\"instance-id\": \"i-…\", \"instance-action\": \"terminate\"}}}}"
)]
pub struct BadEvent {
    /// What was wrong.
    pub reason: String,
}

/// What `event` asks for.
pub fn classify(event: &Value) -> Result<Invocation, BadEvent> {
    if event.get(DRY_RUN_EVENT_KEY).and_then(Value::as_str) == Some("dry-run") {
        return Ok(Invocation::DryRun);
    }
    let is_warning = event.get("source").and_then(Value::as_str) == Some(EC2_SOURCE)
        && event.get("detail-type").and_then(Value::as_str) == Some(SPOT_INTERRUPTION_WARNING);
    if !is_warning {
        return Ok(Invocation::Cycle);
    }
    let warning: EventBridgeEvent<SpotDetail> =
        serde_json::from_value(event.clone()).map_err(|e| BadEvent {
            reason: e.to_string(),
        })?;
    let instance_id = warning.detail.instance_id;
    if !is_instance_id(&instance_id) {
        return Err(BadEvent {
            reason: format!("instance-id {instance_id:?} is not an EC2 instance id"),
        });
    }
    Ok(Invocation::SpotInterruption(SpotInterruption {
        instance_id,
        action: warning.detail.instance_action,
        warned_at: warning.time,
    }))
}

/// `i-` and 8 or 17 hexadecimal digits.
fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn warning(detail: Value) -> Value {
        json!({
            "version": "0",
            "id": "1e5527d7-bb36-4607-3370-4164db56a40e",
            "detail-type": SPOT_INTERRUPTION_WARNING,
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2026-12-07T10:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1a:instance/i-0123456789abcdef0"],
            "detail": detail,
        })
    }

    #[test]
    fn a_spot_warning_names_its_instance_and_action() {
        let event =
            warning(json!({"instance-id": "i-0123456789abcdef0", "instance-action": "terminate"}));
        let Ok(Invocation::SpotInterruption(spot)) = classify(&event) else {
            panic!("not recognised: {event}");
        };
        assert_eq!(spot.instance_id, "i-0123456789abcdef0");
        assert_eq!(spot.action, "terminate");
        assert_eq!(
            spot.warned_at.map(|t| t.to_rfc3339()),
            Some("2026-12-07T10:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn every_other_event_runs_a_cycle() {
        let scheduled =
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        let state_change = json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}});
        for event in [
            scheduled,
            state_change,
            json!({}),
            json!({"ghaec2": "other"}),
            json!([1]),
        ] {
            assert_eq!(classify(&event), Ok(Invocation::Cycle), "{event}");
        }
        assert_eq!(
            classify(&json!({"ghaec2": "dry-run"})),
            Ok(Invocation::DryRun)
        );
    }

    #[test]
    fn an_unreadable_warning_says_what_was_expected() {
        let missing = classify(&warning(json!({"instance-action": "terminate"}))).unwrap_err();
        assert!(missing.to_string().contains("instance-id"), "{missing}");
        let bad = classify(&warning(json!({"instance-id": "i-xyz"}))).unwrap_err();
        assert!(
            bad.to_string()
                .contains("\"i-xyz\" is not an EC2 instance id"),
            "{bad}"
        );
        assert!(bad.to_string().contains("expected {\"detail\""), "{bad}");
    }
}
