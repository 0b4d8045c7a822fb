//! The scale set by name in its runner group: found, created when missing, and kept in line
//! with the configuration (docs/design.md §3).

use std::collections::BTreeSet;

use super::{CycleError, CycleSettings};
use crate::actions::ActionsClient;
use crate::actions::wire::RunnerScaleSet;

/// The scale set by name in its runner group, created when missing (docs/design.md §3).
pub(super) async fn find_or_create(
    actions: &ActionsClient,
    settings: &CycleSettings,
) -> Result<i64, CycleError> {
    let group = actions.runner_group_id(&settings.runner_group).await?;
    let set = match actions
        .scale_set_by_name(group, &settings.scale_set_name)
        .await?
    {
        Some(set) => {
            align(actions, settings, &set, group).await?;
            set
        }
        None => {
            let set = actions
                .create_scale_set(group, &settings.scale_set_name, &settings.labels)
                .await?;
            tracing::info!(
                scale_set_id = set.id,
                name = settings.scale_set_name,
                "Created runner scale set."
            );
            set
        }
    };
    match settings.scale_set_id {
        Some(expected) if expected != set.id => Err(CycleError::ScaleSetIdMismatch {
            name: settings.scale_set_name.clone(),
            expected,
            actual: set.id,
        }),
        _ => Ok(set.id),
    }
}

/// Brings the stored scale set's labels and runner group in line with the configuration,
/// which a redeploy may have changed. A failure here only costs the alignment: a scale set
/// that is gone is replaced when its session fails, as before.
pub(super) async fn align_stored(actions: &ActionsClient, settings: &CycleSettings, id: i64) {
    let checked = async {
        let group = actions.runner_group_id(&settings.runner_group).await?;
        let set = actions.scale_set(id).await?;
        align(actions, settings, &set, group).await
    };
    if let Err(e) = checked.await {
        tracing::warn!(scale_set_id = id, error = %e, "Could not check the scale set against the configuration.");
    }
}

/// Updates `set` when its labels or runner group differ from the configuration.
async fn align(
    actions: &ActionsClient,
    settings: &CycleSettings,
    set: &RunnerScaleSet,
    group: i64,
) -> Result<(), CycleError> {
    let Some(change) = drift(set, group, &settings.labels) else {
        return Ok(());
    };
    actions
        .update_scale_set(set.id, group, &settings.scale_set_name, &settings.labels)
        .await?;
    tracing::info!(
        scale_set_id = set.id,
        change,
        "Updated the scale set to the configuration."
    );
    Ok(())
}

/// How `set` differs from the configured runner group and labels, for the log; `None` when it
/// does not. Labels compare as sets, ignoring case, as the service matches `runs-on`.
fn drift(set: &RunnerScaleSet, group: i64, labels: &[String]) -> Option<String> {
    let normalized = |names: &mut dyn Iterator<Item = &str>| -> BTreeSet<String> {
        names.map(str::to_lowercase).collect()
    };
    let have = normalized(&mut set.labels.iter().map(|l| l.name.as_str()));
    let want = normalized(&mut labels.iter().map(String::as_str));
    let mut changes = Vec::new();
    if set.runner_group_id != group {
        changes.push(format!("runner group {} -> {group}", set.runner_group_id));
    }
    if have != want {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
        changes.push(format!("labels {} -> {}", list(&have), list(&want)));
    }
    (!changes.is_empty()).then(|| changes.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::wire::{Label, RunnerSetting};

    fn set(group: i64, labels: &[&str]) -> RunnerScaleSet {
        RunnerScaleSet {
            id: 7,
            name: "linux".into(),
            runner_group_id: group,
            runner_group_name: String::new(),
            labels: labels.iter().map(|l| Label::system(l)).collect(),
            runner_setting: RunnerSetting::default(),
            statistics: None,
        }
    }

    #[test]
    fn drift_is_what_the_configuration_changed() {
        let want: Vec<String> = ["linux", "x64"].map(String::from).to_vec();
        assert_eq!(drift(&set(1, &["linux", "x64"]), 1, &want), None);
        assert_eq!(drift(&set(1, &["X64", "Linux"]), 1, &want), None);
        assert_eq!(
            drift(&set(1, &["linux", "gpu"]), 1, &want).as_deref(),
            Some("labels gpu,linux -> linux,x64")
        );
        assert_eq!(
            drift(&set(3, &["linux", "x64"]), 1, &want).as_deref(),
            Some("runner group 3 -> 1")
        );
        assert_eq!(
            drift(&set(3, &["linux"]), 1, &want).as_deref(),
            Some("runner group 3 -> 1; labels linux -> linux,x64")
        );
    }
}
