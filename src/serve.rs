//! Serving a deployment: one cycle for every configured scale set at the same time, each with
//! its own lease, session, cursor, ledger and launch template. One scale set's failure (its
//! 403, its capacity errors) never stops the others; the outcome reports each.

use serde_json::{Value, json};

use crate::actions::ActionsClient;
use crate::app::{self, Adapters};
use crate::config::Config;
use crate::cycle::{CycleError, Listener, Ports, Stop, Summary};

/// One scale set of the deployment: its configuration and its AWS adapters.
#[derive(Debug)]
pub struct ScaleSet {
    /// Its configuration (the shared settings are the same in every scale set).
    pub config: Config,
    /// Its state store, fleet and JIT store.
    pub adapters: Adapters,
}

/// What one run of every scale set did, in configuration order.
#[derive(Debug)]
pub struct Outcome {
    /// Each scale set's name and result.
    pub results: Vec<(String, Result<Summary, CycleError>)>,
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
        let name = scale_set.config.github.scale_set_name.clone();
        let result = cycle(actions, scale_set, owner, stop, delete_session_on_shutdown).await;
        if let Err(e) = &result {
            tracing::error!(scale_set = name, error = %e, "Cycle failed.");
        }
        (name, result)
    });
    Outcome {
        results: futures::future::join_all(cycles).await,
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
    let adapters = &scale_set.adapters;
    let ports = Ports {
        store: &adapters.store,
        fleet: &adapters.fleet,
        jit: &adapters.jit,
    };
    Listener::new(actions, ports, &settings).run(stop).await
}

impl Outcome {
    /// The JSON summary: one scale set's as it always was; several as
    /// `{"scaleSets":[…]}`, each with its name, and an `error` in place of a failed one's
    /// counts.
    pub fn to_json(&self) -> Value {
        let entry = |result: &Result<Summary, CycleError>| match result {
            Ok(summary) => serde_json::to_value(summary).unwrap_or_default(),
            Err(e) => json!({ "error": e.to_string() }),
        };
        match self.results.as_slice() {
            [(_, result)] => entry(result),
            several => {
                let scale_sets: Vec<Value> = several
                    .iter()
                    .map(|(name, result)| {
                        let mut value = entry(result);
                        if let Some(object) = value.as_object_mut() {
                            object.insert("scaleSetName".to_owned(), json!(name));
                        }
                        value
                    })
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
    /// scale set, and is retryable unless one failure is not.
    pub fn into_lambda_result(self) -> Result<Value, lambda_runtime::Diagnostic> {
        let json = self.to_json();
        let mut failed: Vec<lambda_runtime::Diagnostic> = Vec::new();
        let mut names = Vec::new();
        let total = self.results.len();
        for (name, result) in self.results {
            if let Err(e) = result {
                names.push(name);
                failed.push(e.into());
            }
        }
        if failed.is_empty() {
            return Ok(json);
        }
        if total == 1 {
            return Err(failed.remove(0));
        }
        tracing::info!(summary = %json, "Some scale sets failed.");
        let error_type = if failed.iter().all(|d| d.error_type == "Retryable") {
            "Retryable"
        } else {
            "Fatal"
        };
        let message = names
            .iter()
            .zip(&failed)
            .map(|(name, d)| format!("{name}: {}", d.error_message))
            .collect::<Vec<_>>()
            .join("; ");
        Err(lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: format!("{} of {total} scale sets failed: {message}", failed.len()),
        })
    }
}
