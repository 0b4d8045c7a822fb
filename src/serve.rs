//! Serving a deployment: one cycle for every configured scale set at the same time, each with
//! its own lease, session, cursor, ledger and launch template. One scale set's failure (its
//! 403, its capacity errors) never stops the others; the outcome reports each.

use serde_json::{Value, json};
use tracing::Instrument;

use crate::actions::ActionsClient;
use crate::app::{self, Adapters};
use crate::aws::{DynamoJitStore, DynamoStateStore, Ec2Fleet};
use crate::config::Config;
use crate::cycle::{CycleError, Listener, Ports, Stop, Summary};
use crate::event::SpotInterruption;
use crate::ports::StateStore;

/// One scale set of the deployment: its configuration and its AWS adapters.
#[derive(Debug)]
pub struct ScaleSet {
    /// Its configuration (the shared settings are the same in every scale set).
    pub config: Config,
    /// Its state store, fleet and JIT store.
    pub adapters: Adapters,
}

/// What one invocation did to the scale sets it ran, in configuration order.
#[derive(Debug)]
pub struct Outcome {
    /// Each scale set's name and result.
    pub results: Vec<(String, Result<Summary, CycleError>)>,
    /// The deployment has several scale sets: results are named.
    pub several: bool,
}

/// Runs one cycle of `owner` for every scale set at once.
pub async fn cycle_all(
    actions: &ActionsClient,
    scale_sets: &[ScaleSet],
    owner: &str,
    stop: &Stop,
    delete_session_on_shutdown: bool,
) -> Outcome {
    let cycles = scale_sets.iter().map(|scale_set| async move {
        let result = cycle(actions, scale_set, owner, stop, delete_session_on_shutdown).await;
        scale_set.named(result)
    });
    Outcome {
        results: futures::future::join_all(cycles).await,
        several: scale_sets.len() > 1,
    }
}

/// One cycle of one scale set.
pub async fn cycle(
    actions: &ActionsClient,
    scale_set: &ScaleSet,
    owner: &str,
    stop: &Stop,
    delete_session_on_shutdown: bool,
) -> Result<Summary, CycleError> {
    let settings = app::cycle_settings(
        &scale_set.config,
        owner.to_owned(),
        delete_session_on_shutdown,
    );
    Listener::new(actions, scale_set.ports(), &settings)
        .run(stop)
        .instrument(scale_set.span())
        .await
}

/// A spot interruption warning: the scale set whose ledger holds the instance runs a cycle
/// that deals with it first ([`Listener::run_interrupted`]); the other scale sets are left to
/// their listeners. An instance no ledger holds is not a ghaec2 runner's: nothing runs.
pub async fn interruption(
    actions: &ActionsClient,
    scale_sets: &[ScaleSet],
    owner: &str,
    stop: &Stop,
    warning: &SpotInterruption,
) -> Outcome {
    let lookups = scale_sets.iter().map(|scale_set| async move {
        let ledger = scale_set.adapters.store.runners(scale_set.name()).await;
        let holds = ledger.map(|l| l.iter().any(|r| r.instance_id == warning.instance_id));
        (scale_set, holds)
    });
    let mut unread = Vec::new();
    for (scale_set, holds) in futures::future::join_all(lookups).await {
        match holds {
            Ok(false) => {}
            Ok(true) => {
                let settings = app::cycle_settings(&scale_set.config, owner.to_owned(), false);
                let result = Listener::new(actions, scale_set.ports(), &settings)
                    .run_interrupted(stop, warning)
                    .instrument(scale_set.span())
                    .await;
                return Outcome {
                    results: vec![scale_set.named(result)],
                    several: scale_sets.len() > 1,
                };
            }
            // A scale set whose ledger cannot be read may be the one: reported.
            Err(e) => unread.push(scale_set.named(Err(e.into()))),
        }
    }
    if unread.is_empty() {
        tracing::info!(
            instance_id = warning.instance_id,
            "Spot interruption warning for an instance that is not a ghaec2 runner's; ignored."
        );
    }
    Outcome {
        results: unread,
        several: scale_sets.len() > 1,
    }
}

impl ScaleSet {
    fn name(&self) -> &str {
        &self.config.github.scale_set_name
    }

    /// The span of this scale set's cycle: every line it logs names the scale set. At error
    /// level, so that no `RUST_LOG` that keeps a line drops the name.
    fn span(&self) -> tracing::Span {
        tracing::error_span!("scale_set", scale_set = self.name())
    }

    fn ports(&self) -> Ports<'_, DynamoStateStore, Ec2Fleet, DynamoJitStore> {
        Ports {
            store: &self.adapters.store,
            fleet: &self.adapters.fleet,
            jit: &self.adapters.jit,
        }
    }

    /// A cycle's result under this scale set's name; a failure is logged with it.
    fn named(&self, result: Result<Summary, CycleError>) -> (String, Result<Summary, CycleError>) {
        match &result {
            Err(e @ CycleError::Fenced(_)) => {
                tracing::warn!(scale_set = self.name(), error = %e, "Lease taken by another invocation; stopped.");
            }
            Err(e) => tracing::error!(scale_set = self.name(), error = %e, "Cycle failed."),
            Ok(_) => {}
        }
        (self.name().to_owned(), result)
    }
}

/// One scale set's result as JSON: its summary, or an `error` in place of the counts; with its
/// `scaleSetName` when `name` is given (a deployment of several).
pub fn result_json(name: Option<&str>, result: &Result<Summary, CycleError>) -> Value {
    let mut value = match result {
        Ok(summary) => serde_json::to_value(summary).unwrap_or_default(),
        Err(e) => json!({ "error": e.to_string() }),
    };
    if let (Some(name), Some(object)) = (name, value.as_object_mut()) {
        object.insert("scaleSetName".to_owned(), json!(name));
    }
    value
}

impl Outcome {
    /// The JSON summary: one scale set's as it always was; a deployment of several as
    /// `{"scaleSets":[…]}`, each with its name, and an `error` in place of a failed one's
    /// counts. A spot interruption warning that no scale set's ledger knows ran none:
    /// `{"scaleSets":[]}`.
    pub fn to_json(&self) -> Value {
        match self.results.as_slice() {
            [(_, result)] if !self.several => result_json(None, result),
            several => {
                let scale_sets: Vec<Value> = several
                    .iter()
                    .map(|(name, result)| result_json(Some(name), result))
                    .collect();
                json!({ "scaleSets": scale_sets })
            }
        }
    }

    /// The failed scale sets, by name.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &CycleError)> {
        self.results
            .iter()
            .filter_map(|(name, result)| result.as_ref().err().map(|e| (name.as_str(), e)))
    }

    /// In Lambda: the summary, or an invocation error when a scale set failed. With one scale
    /// set the error is that cycle's, as it always was; with several it names each failed
    /// scale set, and has their type when they share one (else `Fatal`). A cycle whose lease
    /// another invocation took (a spot interruption preempts the listener) did not fail: it
    /// stopped writing, and the other carries on.
    pub fn into_lambda_result(self) -> Result<Value, lambda_runtime::Diagnostic> {
        let json = self.to_json();
        let mut failed: Vec<lambda_runtime::Diagnostic> = Vec::new();
        let mut names = Vec::new();
        let total = self.results.len();
        for (name, result) in self.results {
            if let Err(e) = result
                && !matches!(e, CycleError::Fenced(_))
            {
                names.push(name);
                failed.push(e.into());
            }
        }
        if failed.is_empty() {
            return Ok(json);
        }
        if !self.several {
            return Err(failed.remove(0));
        }
        tracing::info!(summary = %json, "Some scale sets failed.");
        // One type when every failure has it (all retryable, say); otherwise the worst.
        let first_type = failed[0].error_type.clone();
        let error_type = match failed.iter().all(|d| d.error_type == first_type) {
            true => first_type,
            false => "Fatal".to_owned(),
        };
        let message = names
            .iter()
            .zip(&failed)
            .map(|(name, d)| format!("{name}: {}", d.error_message))
            .collect::<Vec<_>>()
            .join("; ");
        Err(lambda_runtime::Diagnostic {
            error_type,
            error_message: format!("{} of {total} scale sets failed: {message}", failed.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::EndReason;

    fn mismatch(name: &str) -> CycleError {
        CycleError::ScaleSetIdMismatch {
            name: name.to_owned(),
            expected: 9,
            actual: 7,
        }
    }

    fn outcome(results: Vec<(&str, Result<Summary, CycleError>)>) -> Outcome {
        Outcome {
            several: results.len() > 1,
            results: results
                .into_iter()
                .map(|(name, result)| (name.to_owned(), result))
                .collect(),
        }
    }

    #[test]
    fn one_scale_set_keeps_its_summary_and_its_error() {
        let ok = outcome(vec![("a", Ok(Summary::ended(EndReason::WindowOver)))]);
        assert_eq!(ok.to_json()["reason"], "window_over");
        assert!(ok.to_json().get("scaleSets").is_none());
        let failed = outcome(vec![("a", Err(mismatch("a")))]).into_lambda_result();
        let error = failed.expect_err("a failed cycle is an invocation error");
        assert_eq!(error.error_type, "Config");
        assert!(
            error.error_message.starts_with("RUNNER_SCALE_SET_ID=9"),
            "{}",
            error.error_message
        );
    }

    /// A listener a spot interruption preempted stopped in order: its invocation did not
    /// fail (Lambda would count an error, and retry it), and its JSON says why it stopped.
    #[test]
    fn a_cycle_whose_lease_was_taken_is_not_an_invocation_error() {
        let fenced = || {
            CycleError::Fenced(crate::ports::PortError {
                operation: "dynamodb save state",
                kind: crate::ports::PortErrorKind::Fenced,
                message: "ConditionalCheckFailed".into(),
            })
        };
        let one = outcome(vec![("a", Err(fenced()))]).into_lambda_result();
        let json = one.expect("not an invocation error");
        assert!(
            json["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("lease lost")),
            "{json}"
        );
        let several = outcome(vec![
            ("a", Err(fenced())),
            ("b", Ok(Summary::ended(EndReason::WindowOver))),
        ]);
        assert!(several.into_lambda_result().is_ok());
    }

    #[test]
    fn several_report_each_by_name_and_fail_naming_the_failed_ones() {
        let several = outcome(vec![
            ("a", Ok(Summary::ended(EndReason::WindowOver))),
            ("b", Err(mismatch("b"))),
        ]);
        let json = several.to_json();
        assert_eq!(json["scaleSets"][0]["scaleSetName"], "a");
        assert_eq!(json["scaleSets"][0]["reason"], "window_over");
        assert_eq!(json["scaleSets"][1]["scaleSetName"], "b");
        assert!(
            json["scaleSets"][1]["error"]
                .as_str()
                .is_some_and(|e| e.contains("RUNNER_SCALE_SET_ID=9"))
        );
        assert_eq!(
            several.failures().map(|(name, _)| name).collect::<Vec<_>>(),
            ["b"]
        );
        let error = several.into_lambda_result().expect_err("one failed");
        assert!(
            error
                .error_message
                .starts_with("1 of 2 scale sets failed: b: RUNNER_SCALE_SET_ID=9"),
            "{}",
            error.error_message
        );
        assert_eq!(error.error_type, "Config", "the one failure's type");
    }

    #[test]
    fn failures_of_different_types_are_fatal_and_successes_alone_are_ok() {
        let mixed = outcome(vec![
            ("a", Err(mismatch("a"))),
            (
                "b",
                Err(CycleError::Actions(
                    crate::actions::ActionsError::Protocol {
                        what: "session",
                        problem: "x".into(),
                    },
                )),
            ),
        ]);
        let error = mixed.into_lambda_result().expect_err("both failed");
        assert!(
            error.error_message.starts_with("2 of 2 scale sets failed"),
            "{}",
            error.error_message
        );
        assert_eq!(error.error_type, "Fatal");
        let fine = outcome(vec![
            ("a", Ok(Summary::ended(EndReason::LeaseHeld))),
            ("b", Ok(Summary::ended(EndReason::WindowOver))),
        ]);
        assert!(fine.into_lambda_result().is_ok());
    }
}
