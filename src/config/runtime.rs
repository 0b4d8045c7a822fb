//! Settings of the invocation cycle: state table, timing and the runner's work folder.

use std::time::Duration;

use super::env::Env;
use super::vars::*;
use crate::metrics::{self, Published};

/// How each invocation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// `STATE_TABLE_NAME`: the DynamoDB table holding leases, sessions and the ledger
    /// (3 to 255 of `a-z A-Z 0-9 _ - .`). Default `ghaec2-state`.
    pub state_table_name: String,
    /// `DRAIN_WINDOW_SECONDS`: how long one invocation listens, 1 to 840 (Lambda's 900 s limit
    /// minus room to persist). Default 50.
    pub drain_window: Duration,
    /// `RUNNER_BOOT_TIMEOUT_SECONDS`: how long a launched instance may take to bring its runner
    /// online before it counts as an orphan, 30 to 3600. Default 300.
    pub runner_boot_timeout: Duration,
    /// `RUNNER_WORK_FOLDER`: the runner's work folder, relative to the runner directory
    /// (letters, digits, `_ - . /`, no `..`, at most 255 characters). Default `_work`.
    pub runner_work_folder: String,
    /// `RUNNER_MIN_VERSION`: the oldest runner version an instance may start (`x.y.z`);
    /// the service silently refuses deprecated runners and their jobs then queue forever, so
    /// the user-data script powers off instead. `0.0.0` starts any. Default `2.329.0`.
    pub runner_min_version: String,
    /// `RERUN_INTERRUPTED_JOBS`: re-run the failed jobs of a workflow run once when a spot
    /// interruption failed one of its jobs (needs the credential's "Actions: read and
    /// write"). Default false.
    pub rerun_interrupted_jobs: bool,
    /// `METRICS`: which metrics CloudWatch publishes (the rest stay log lines). Default
    /// `default`: the failures and interruptions.
    pub metrics: Published,
}

/// Default of `RUNNER_MIN_VERSION`.
pub const DEFAULT_RUNNER_MIN_VERSION: &str = "2.329.0";

const DEFAULT_STATE_TABLE_NAME: &str = "ghaec2-state";
const DEFAULT_DRAIN_WINDOW_SECONDS: u64 = 60;
const DEFAULT_RUNNER_BOOT_TIMEOUT_SECONDS: u64 = 300;
const DEFAULT_RUNNER_WORK_FOLDER: &str = "_work";

impl RuntimeSettings {
    /// Reads the runtime settings; `None` only after recording a problem.
    pub(crate) fn from_env(env: &mut Env<'_>) -> Option<Self> {
        let state_table_name = env
            .parsed(
                STATE_TABLE_NAME,
                "a DynamoDB table name: 3 to 255 letters, digits, '_', '-' or '.'",
                |v| is_table_name(v).then(|| v.to_owned()),
            )
            .unwrap_or_else(|| DEFAULT_STATE_TABLE_NAME.to_owned());
        let drain_window = env.seconds(DRAIN_WINDOW_SECONDS, DEFAULT_DRAIN_WINDOW_SECONDS, 1..=840);
        let runner_boot_timeout = env.seconds(
            RUNNER_BOOT_TIMEOUT_SECONDS,
            DEFAULT_RUNNER_BOOT_TIMEOUT_SECONDS,
            30..=3600,
        );
        // The folder ends up in the instance's user-data script, so only shell-safe characters.
        let runner_work_folder = env
            .parsed(
                RUNNER_WORK_FOLDER,
                "a relative folder path of letters, digits, '_', '-', '.' and '/' without '..' \
                 (at most 255 characters)",
                |v| is_work_folder(v).then(|| v.to_owned()),
            )
            .unwrap_or_else(|| DEFAULT_RUNNER_WORK_FOLDER.to_owned());
        let runner_min_version = env
            .parsed(
                RUNNER_MIN_VERSION,
                "a runner version such as 2.329.0",
                |v| is_version(v).then(|| v.to_owned()),
            )
            .unwrap_or_else(|| DEFAULT_RUNNER_MIN_VERSION.to_owned());
        let rerun_interrupted_jobs = env.boolean(RERUN_INTERRUPTED_JOBS, false);
        let metrics = match env.get(METRICS) {
            None => Some(Published::default()),
            Some(_) => env.parsed(METRICS, &metrics_expected(), |v| Published::parse(v).ok()),
        };
        Some(Self {
            state_table_name,
            drain_window: drain_window?,
            runner_boot_timeout: runner_boot_timeout?,
            runner_work_folder,
            runner_min_version,
            rerun_interrupted_jobs: rerun_interrupted_jobs?,
            metrics: metrics?,
        })
    }
}

/// What `METRICS` takes, naming every metric.
fn metrics_expected() -> String {
    format!(
        "a comma-separated list of default, all, none or metric names ({})",
        metrics::names().collect::<Vec<_>>().join(", ")
    )
}

/// `major.minor.patch`, digits only: it ends up in the user-data script.
fn is_version(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// DynamoDB table names: 3 to 255 characters of `a-z A-Z 0-9 _ - .`.
fn is_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn is_work_folder(path: &str) -> bool {
    (1..=255).contains(&path.len())
        && !path.starts_with('/')
        && !path.split('/').any(|part| part == "..")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_dynamodb_rules() {
        let long = "t".repeat(255);
        let too_long = "t".repeat(256);
        let cases = [
            ("ghaec2-state", true),
            ("a.b_c-D9", true),
            ("abc", true),
            (long.as_str(), true),
            ("ab", false),
            (too_long.as_str(), false),
            ("has space", false),
            ("tab/le", false),
        ];
        for (name, valid) in cases {
            assert_eq!(is_table_name(name), valid, "{name:?}");
        }
    }

    #[test]
    fn work_folders_are_relative_and_shell_safe() {
        let cases = [
            ("_work", true),
            ("work/dir-1", true),
            ("/abs", false),
            ("../up", false),
            ("a/../b", false),
            ("$(reboot)", false),
            ("a b", false),
        ];
        for (path, valid) in cases {
            assert_eq!(is_work_folder(path), valid, "{path:?}");
        }
    }
}
