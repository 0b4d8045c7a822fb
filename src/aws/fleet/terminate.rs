//! Terminating: TerminateInstances in batches. EC2 answers `InvalidInstanceID.NotFound` both
//! for an instance long gone and for one it does not know yet, and in the second case "your
//! instance might still be running" ("Eventual consistency in the Amazon EC2 API",
//! <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>). So a NotFound
//! counts as terminated only once DescribeInstances agrees.

use aws_sdk_ec2::types::InstanceStateName;

use aws_sdk_ec2::Client;

use super::Patience;
use crate::aws::error::{Detail, INSTANCE_NOT_FOUND, code_of, from_sdk};
use crate::ports::{PortError, PortErrorKind};

/// Instance ids per TerminateInstances call. EC2 takes up to 1000 and recommends smaller
/// batches (TerminateInstances API reference, `InstanceIds`); with `MAX_RUNNERS` up to 1000
/// plus strays, a scale-down can exceed that. This is the only call that sends many ids: the
/// fleet lists its instances by tag, and DynamoDB calls name one item (or two in a
/// transaction).
const TERMINATE_BATCH: usize = 500;

/// What DescribeInstances says of one instance id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Listed shutting-down or terminated: on its way out, as asked.
    Leaving,
    /// Listed in another state: still there.
    There,
    /// Not listed (NotFound).
    Unlisted,
}

fn seen(state: Option<&InstanceStateName>) -> Seen {
    match state {
        Some(InstanceStateName::ShuttingDown | InstanceStateName::Terminated) => Seen::Leaving,
        _ => Seen::There,
    }
}

/// Terminates instances, confirming an id EC2 does not know with DescribeInstances, within
/// its patience.
#[derive(Debug)]
pub struct Terminator {
    ec2: Client,
    patience: Patience,
}

impl Terminator {
    /// A terminator that waits for an unknown id's fate with `patience`.
    pub fn new(ec2: Client, patience: Patience) -> Self {
        Terminator { ec2, patience }
    }

    /// Terminates `instance_ids`; already-terminated ones are fine.
    pub async fn terminate(&self, instance_ids: &[String]) -> Result<(), PortError> {
        for batch in instance_ids.chunks(TERMINATE_BATCH) {
            // EC2 refuses the whole batch for one unknown id: then one by one, so that the
            // others still go and each unknown one is confirmed on its own.
            if self.terminate_batch(batch).await? {
                continue;
            }
            for id in batch {
                if batch.len() == 1 || !self.terminate_batch(std::slice::from_ref(id)).await? {
                    self.confirm_gone(id).await?;
                }
            }
        }
        if !instance_ids.is_empty() {
            tracing::info!(count = instance_ids.len(), instance_ids = ?instance_ids, "Terminated instances.");
        }
        Ok(())
    }

    /// Terminates a batch; `Ok(false)` when EC2 does not know one of the ids.
    async fn terminate_batch(&self, ids: &[String]) -> Result<bool, PortError> {
        let result = self
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if code_of(&e) == Some(INSTANCE_NOT_FOUND) => Ok(false),
            Err(e) => Err(from_sdk("ec2 terminate instances", &e, Detail::Full)),
        }
    }

    /// TerminateInstances did not know `id`: asks DescribeInstances, and while the instance is
    /// still there or unlisted, waits and terminates again, within the fleet's patience.
    async fn confirm_gone(&self, id: &str) -> Result<(), PortError> {
        let mut waits = self.patience.waits();
        loop {
            let seen = self.describe_one(id).await?;
            if seen == Seen::Leaving {
                return Ok(());
            }
            let Some(wait) = waits.next() else {
                return gave_up(id, seen);
            };
            tracing::debug!(
                instance_id = id,
                ?seen,
                wait_ms = wait.as_millis() as u64,
                "TerminateInstances does not know the instance; trying again."
            );
            tokio::time::sleep(wait).await;
            if self.terminate_batch(&[id.to_owned()]).await? {
                return Ok(());
            }
        }
    }

    async fn describe_one(&self, id: &str) -> Result<Seen, PortError> {
        let result = self.ec2.describe_instances().instance_ids(id).send().await;
        let found = match result {
            Ok(found) => found,
            Err(e) if code_of(&e) == Some(INSTANCE_NOT_FOUND) => return Ok(Seen::Unlisted),
            Err(e) => return Err(from_sdk("ec2 describe instance", &e, Detail::Full)),
        };
        let state = found
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id))
            .map(|i| seen(i.state().and_then(|s| s.name())));
        Ok(state.unwrap_or(Seen::Unlisted))
    }
}

/// The verdict once the patience ran out on an id TerminateInstances does not know.
///
/// Unlisted by both calls for that long, the instance counts as gone. Either it is: EC2 lists
/// a terminated instance for only about an hour. Or EC2 has still not propagated a launch, and
/// then nothing here could terminate it anyway; CreateFleet tagged it with the scale set when
/// it launched it, so once it surfaces, a later reconcile meets it as unknown (no ledger entry)
/// and terminates it. Holding the ledger entry instead would keep a runner whose registration
/// is already removed. Listed as still there, it is an error worth retrying: a later reconcile
/// terminates it again.
fn gave_up(id: &str, seen: Seen) -> Result<(), PortError> {
    match seen {
        Seen::There => Err(PortError {
            operation: "ec2 terminate instances",
            kind: PortErrorKind::Retryable,
            message: format!(
                "{INSTANCE_NOT_FOUND}: TerminateInstances does not know {id}, which \
                 DescribeInstances lists as not terminated"
            ),
        }),
        Seen::Leaving | Seen::Unlisted => {
            tracing::warn!(
                instance_id = id,
                "Neither TerminateInstances nor DescribeInstances knows the instance; counting it as gone."
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_shutting_down_and_terminated_count_as_leaving() {
        let cases = [
            (Some(InstanceStateName::Pending), Seen::There),
            (Some(InstanceStateName::Running), Seen::There),
            (Some(InstanceStateName::Stopping), Seen::There),
            (Some(InstanceStateName::Stopped), Seen::There),
            (Some(InstanceStateName::ShuttingDown), Seen::Leaving),
            (Some(InstanceStateName::Terminated), Seen::Leaving),
            (None, Seen::There),
        ];
        for (state, want) in cases {
            assert_eq!(seen(state.as_ref()), want, "{state:?}");
        }
    }

    #[test]
    fn giving_up_fails_only_for_an_instance_still_listed() {
        let there = gave_up("i-1", Seen::There).unwrap_err();
        assert_eq!(there.kind, PortErrorKind::Retryable);
        assert!(there.message.contains("i-1"), "{there}");
        assert!(gave_up("i-1", Seen::Unlisted).is_ok());
        assert!(gave_up("i-1", Seen::Leaving).is_ok());
    }
}
