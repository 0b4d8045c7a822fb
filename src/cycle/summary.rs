//! The JSON summary of one cycle (docs/design.md §3) and why it ended.

use serde::Serialize;

/// Why a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The drain window was used up.
    WindowOver,
    /// The Lambda deadline (minus the safety margin) came first.
    Deadline,
    /// Another live invocation holds the lease.
    LeaseHeld,
    /// SIGINT/SIGTERM in the local loop.
    Shutdown,
    /// Another live session blocked ours for the whole window.
    SessionConflict,
}

/// What one cycle did. Carries the session id, never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Scale set id, once known.
    pub scale_set_id: Option<i64>,
    /// Message session id.
    pub session_id: Option<String>,
    /// Messages handled (malformed ones included).
    pub messages_processed: u32,
    /// Cursor after the cycle.
    pub last_message_id: i64,
    /// Jobs acquired (GHES acquire flow).
    pub jobs_acquired: u32,
    /// Desired runners at the last reconcile.
    pub desired: u32,
    /// Current runners at the last reconcile, after its launches and removals.
    pub current: u32,
    /// Instances launched.
    pub launched: u32,
    /// Instances terminated.
    pub terminated: u32,
    /// Why the cycle ended.
    pub reason: EndReason,
    /// The spot interruption warning this invocation was started for, and what it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interruption: Option<Interruption>,
}

/// A spot interruption warning for one of the scale set's instances, and what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interruption {
    /// The instance EC2 is about to interrupt.
    pub instance_id: String,
    /// Its instance type, when EC2 still lists it.
    pub instance_type: Option<String>,
    /// Its runner.
    pub runner: String,
    /// The job the runner runs, if busy.
    pub job_id: Option<String>,
    /// What was done.
    pub handled: Handling,
}

/// What a spot interruption warning led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// The runner was idle or booting: registration removed, instance terminated.
    Removed,
    /// The runner runs a job: marked, so that the job's end is put down to the interruption;
    /// its replacement comes once EC2 has taken the instance.
    MarkedBusy,
    /// The runner was already on its way out (job finished, being removed).
    AlreadyLeaving,
}

impl Summary {
    /// A cycle that ended before it listened: nothing done.
    pub fn ended(reason: EndReason) -> Self {
        Tally::default().summary(None, None, 0, reason)
    }
}

/// What a cycle counts while it runs; a [`Summary`] once it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub messages_processed: u32,
    pub jobs_acquired: u32,
    pub desired: u32,
    pub current: u32,
    pub launched: u32,
    pub terminated: u32,
}

impl Tally {
    /// Takes in what a reconcile did: its counts, and its view of the fleet as the latest.
    pub fn add(&mut self, outcome: &super::Outcome) {
        self.desired = outcome.desired;
        self.current = outcome.current;
        self.launched += outcome.launched;
        self.terminated += outcome.terminated;
    }

    pub fn summary(
        self,
        scale_set_id: Option<i64>,
        session_id: Option<String>,
        last_message_id: i64,
        reason: EndReason,
    ) -> Summary {
        Summary {
            scale_set_id,
            session_id,
            messages_processed: self.messages_processed,
            last_message_id,
            jobs_acquired: self.jobs_acquired,
            desired: self.desired,
            current: self.current,
            launched: self.launched,
            terminated: self.terminated,
            reason,
            interruption: None,
        }
    }
}
