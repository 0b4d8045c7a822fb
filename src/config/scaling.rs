//! Fleet size bounds.

use super::env::Env;
use super::vars::{MAX_RUNNERS, MIN_RUNNERS};

/// The bounds of the runner fleet: desired = min(max, min + assigned jobs) (`docs/design.md` §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingSettings {
    /// `MIN_RUNNERS`: runners kept even without jobs, 0 to 1000, at most `MAX_RUNNERS`.
    /// Default 0.
    pub min_runners: u32,
    /// `MAX_RUNNERS`: upper bound of the fleet (also sent as `X-ScaleSetMaxCapacity`), 0 to
    /// 1000. Default 10.
    pub max_runners: u32,
}

const DEFAULT_MIN_RUNNERS: u32 = 0;
const DEFAULT_MAX_RUNNERS: u32 = 10;
/// A sanity bound: one scale set beyond this is almost certainly a typo, and EC2 quotas would
/// refuse it anyway.
const RUNNER_LIMIT: u32 = 1000;

impl ScalingSettings {
    /// Reads the bounds; `None` only after recording a problem.
    pub(crate) fn from_env(env: &mut Env<'_>) -> Option<Self> {
        let min_runners = env.number(MIN_RUNNERS, DEFAULT_MIN_RUNNERS, 0..=RUNNER_LIMIT);
        let max_runners = env.number(MAX_RUNNERS, DEFAULT_MAX_RUNNERS, 0..=RUNNER_LIMIT);
        let (min_runners, max_runners) = (min_runners?, max_runners?);
        if min_runners > max_runners {
            env.invalid(
                MIN_RUNNERS,
                &min_runners.to_string(),
                format!("at most MAX_RUNNERS ({max_runners})"),
            );
            return None;
        }
        Some(Self {
            min_runners,
            max_runners,
        })
    }
}
