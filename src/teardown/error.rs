//! Why a teardown stops: each error says what was left and how to go on.

use crate::actions::ActionsError;
use crate::ports::PortError;

/// Why a teardown stopped.
#[derive(Debug, thiserror::Error)]
pub enum TeardownError {
    /// Another invocation kept the lease for the whole lease wait.
    #[error(
        "the lease of scale set {scale_set:?} is still held by {owner} after {waited_s} s: stop \
         that ghaec2 (make destroy disables the schedule first) and run --teardown again"
    )]
    LeaseHeld {
        /// Scale set name.
        scale_set: String,
        /// The holder.
        owner: String,
        /// How long it waited.
        waited_s: u64,
    },
    /// Runners still ran jobs when the busy wait ended.
    #[error(
        "runners still running jobs after {waited_s} s: {runners}. They and their instances were \
         left alone, and so were the scale set, its session, the launch template and the state; \
         idle runners were removed and their instances terminated. Run `ghaec2 --teardown \
         --busy-wait-seconds <longer>` again once the jobs end (or cancel them in GitHub)"
    )]
    Busy {
        /// The busy runners and their instances.
        runners: String,
        /// How long it waited.
        waited_s: u64,
    },
    /// Instances did not reach `terminated` in time.
    #[error(
        "instances not terminated after {waited_s} s: {instances}; run --teardown again to wait \
         for them"
    )]
    NotTerminated {
        /// The instances and their states.
        instances: String,
        /// How long it waited.
        waited_s: u64,
    },
    /// The scale set found by name is not the configured one.
    #[error(
        "RUNNER_SCALE_SET_ID={expected}, but scale set {name:?} has id {actual}; nothing was \
         deleted"
    )]
    ScaleSetIdMismatch {
        /// Scale set name.
        name: String,
        /// Configured id.
        expected: i64,
        /// Id the service reports.
        actual: i64,
    },
    /// GitHub or the Actions Service.
    #[error(transparent)]
    Actions(#[from] ActionsError),
    /// AWS.
    #[error(transparent)]
    Port(#[from] PortError),
}
