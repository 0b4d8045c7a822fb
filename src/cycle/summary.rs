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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    pub reason: Option<EndReason>,
}
