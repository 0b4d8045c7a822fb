//! Why a cycle failed, and how Lambda reports it.

use crate::actions::ActionsError;
use crate::ports::{PortError, PortErrorKind};

/// Why a cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// GitHub or the Actions Service.
    #[error(transparent)]
    Actions(#[from] ActionsError),
    /// AWS.
    #[error(transparent)]
    Port(PortError),
    /// Another invocation took the lease; this one must stop writing.
    #[error("lease lost to another invocation: {0}")]
    Fenced(PortError),
    /// The scale set exists with another id than `RUNNER_SCALE_SET_ID`.
    #[error("RUNNER_SCALE_SET_ID={expected}, but scale set {name:?} has id {actual}")]
    ScaleSetIdMismatch {
        /// Scale set name.
        name: String,
        /// Configured id.
        expected: i64,
        /// Id the service reports.
        actual: i64,
    },
}

impl From<PortError> for CycleError {
    fn from(e: PortError) -> Self {
        match e.kind {
            PortErrorKind::Fenced => CycleError::Fenced(e),
            _ => CycleError::Port(e),
        }
    }
}

/// In Lambda a failed cycle is an invocation error whose message is the error's text (the
/// wording of docs/design.md §5 included) and whose type says whether the next run may fix it.
impl From<CycleError> for lambda_runtime::Diagnostic {
    fn from(error: CycleError) -> Self {
        let error_type = match &error {
            CycleError::ScaleSetIdMismatch { .. } => "Config",
            e if e.is_transient() || matches!(e, CycleError::Fenced(_)) => "Retryable",
            _ => "Fatal",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

impl CycleError {
    /// Worth trying again within the window.
    pub(super) fn is_transient(&self) -> bool {
        match self {
            CycleError::Actions(e) => e.is_retryable(),
            CycleError::Port(e) => e.kind == PortErrorKind::Retryable,
            _ => false,
        }
    }
}
