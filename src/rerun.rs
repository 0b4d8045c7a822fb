//! Re-running an interrupted job's workflow run exactly once (`RERUN_INTERRUPTED_JOBS`): the
//! pure decision, from the pending [`RerunRecord`] and the run as GitHub reports it
//! (docs/protocol.md §19).
//!
//! Exactly-once rests on `run_attempt`, which GitHub raises by one with every re-run. The
//! record keeps the attempt the interrupted job ran in; a run whose attempt has moved past it
//! was re-run already, by ghaec2 before a crash or by a person, and is left alone. So the
//! caller records the attempt ([`RerunStep::Note`]) before it ever re-runs, and a re-run that
//! happened but was not recorded is still seen.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::actions::WorkflowRun;
use crate::ports::RerunRecord;

/// How long a run may take to complete before ghaec2 stops watching it: longer than a
/// self-hosted job may run (5 days), well inside the 30 days GitHub allows re-runs for.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// What to do with a pending rerun now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerunStep {
    /// The run has not completed: look again later.
    Wait,
    /// Re-run the run's failed jobs, then drop the record.
    Rerun,
    /// Nothing left to do: drop the record. The reason is for the log.
    Done(&'static str),
    /// Store this attempt in the record, then decide again.
    Note(u32),
}

/// The next step for `record`, given `run` as read now.
pub fn next_step(record: &RerunRecord, run: &WorkflowRun, now: DateTime<Utc>) -> RerunStep {
    let age = (now - record.recorded_at).to_std().unwrap_or_default();
    if age > GIVE_UP_AFTER {
        return RerunStep::Done("gave up: the run did not complete within 7 days");
    }
    match record.attempt {
        None => return RerunStep::Note(run.run_attempt),
        Some(attempt) if run.run_attempt > attempt => {
            return RerunStep::Done("re-run already: the run has a later attempt");
        }
        Some(_) => {}
    }
    if run.status != "completed" {
        return RerunStep::Wait;
    }
    match run.conclusion.as_deref() {
        Some("failure" | "timed_out") => RerunStep::Rerun,
        Some("success") => RerunStep::Done("the run succeeded"),
        Some("cancelled") => RerunStep::Done("the run was cancelled"),
        Some("skipped") => RerunStep::Done("the run was skipped"),
        // GitHub sets the conclusion with the status; until it shows, nothing is known.
        None => RerunStep::Wait,
        Some(_) => RerunStep::Done("the run neither failed nor timed out"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn record(attempt: Option<u32>) -> RerunRecord {
        RerunRecord {
            run_id: 42,
            owner: "octo-org".into(),
            repository: "octo-repo".into(),
            job_id: "job-1".into(),
            runner_name: "set-r1".into(),
            attempt,
            recorded_at: now() - TimeDelta::hours(1),
        }
    }

    fn run(status: &str, conclusion: Option<&str>, run_attempt: u32) -> WorkflowRun {
        WorkflowRun {
            id: 42,
            status: status.into(),
            conclusion: conclusion.map(str::to_owned),
            run_attempt,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    #[test]
    fn the_first_look_notes_the_attempt_whatever_the_run_is() {
        for run in [
            run("in_progress", None, 1),
            run("completed", Some("failure"), 3),
        ] {
            assert_eq!(
                next_step(&record(None), &run, now()),
                RerunStep::Note(run.run_attempt)
            );
        }
    }

    #[test]
    fn a_later_attempt_means_it_was_re_run_already() {
        for status in ["queued", "completed"] {
            let step = next_step(&record(Some(1)), &run(status, Some("failure"), 2), now());
            assert!(matches!(step, RerunStep::Done(why) if why.contains("later attempt")));
        }
    }

    #[test]
    fn a_run_not_completed_is_waited_for() {
        for status in ["queued", "in_progress", "waiting", "requested", "pending"] {
            assert_eq!(
                next_step(&record(Some(1)), &run(status, None, 1), now()),
                RerunStep::Wait,
                "{status}"
            );
        }
        let no_conclusion = run("completed", None, 1);
        assert_eq!(
            next_step(&record(Some(1)), &no_conclusion, now()),
            RerunStep::Wait
        );
    }

    #[test]
    fn a_failed_or_timed_out_run_is_re_run() {
        for conclusion in ["failure", "timed_out"] {
            let run = run("completed", Some(conclusion), 1);
            assert_eq!(
                next_step(&record(Some(1)), &run, now()),
                RerunStep::Rerun,
                "{conclusion}"
            );
        }
    }

    #[test]
    fn any_other_conclusion_ends_it_and_says_why() {
        let cases = [
            ("success", "succeeded"),
            ("cancelled", "cancelled"),
            ("skipped", "skipped"),
            ("neutral", "neither failed"),
            ("action_required", "neither failed"),
        ];
        for (conclusion, why) in cases {
            let step = next_step(
                &record(Some(1)),
                &run("completed", Some(conclusion), 1),
                now(),
            );
            assert!(
                matches!(step, RerunStep::Done(said) if said.contains(why)),
                "{conclusion}: {step:?}"
            );
        }
    }

    #[test]
    fn an_old_record_is_given_up_even_on_a_failed_run() {
        let old = RerunRecord {
            recorded_at: now() - TimeDelta::days(8),
            ..record(Some(1))
        };
        for attempt in [None, Some(1)] {
            let record = RerunRecord {
                attempt,
                ..old.clone()
            };
            let step = next_step(&record, &run("completed", Some("failure"), 1), now());
            assert!(matches!(step, RerunStep::Done(why) if why.starts_with("gave up")));
        }
        let just_inside = RerunRecord {
            recorded_at: now() - TimeDelta::days(7),
            ..record(Some(1))
        };
        assert_eq!(
            next_step(&just_inside, &run("completed", Some("failure"), 1), now()),
            RerunStep::Rerun
        );
    }

    #[test]
    fn a_record_from_a_clock_ahead_is_not_old() {
        let ahead = RerunRecord {
            recorded_at: now() + TimeDelta::hours(1),
            ..record(Some(1))
        };
        assert_eq!(
            next_step(&ahead, &run("completed", Some("failure"), 1), now()),
            RerunStep::Rerun
        );
    }
}
