//! The pure part of a teardown: which instances go and which stay for a busy runner, and what
//! the operator is told.

use std::collections::BTreeSet;
use std::fmt;

use crate::ports::{Instance, RunnerRecord};
use crate::scaling;

/// A runner the service refused to remove because it runs a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyRunner {
    /// Actions Service runner id.
    pub id: i64,
    /// Runner name.
    pub name: String,
}

/// The instances of a teardown: those to terminate and those kept for a busy runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Instance ids to terminate.
    pub terminate: Vec<String>,
    /// `(instance id, runner name)` of the instances whose runner is busy.
    pub keep: Vec<(String, String)>,
}

/// The runner an instance carries: its `ghaec2:runner-name` tag, else the ledger's entry for
/// it, else the name ghaec2 gives the instance's runner (an instance whose set-up stopped
/// before the tag and the ledger entry were written).
fn runner_of(
    instance_id: &str,
    tag: Option<&str>,
    ledger: &[RunnerRecord],
    scale_set: &str,
) -> String {
    tag.map(str::to_owned)
        .or_else(|| {
            ledger
                .iter()
                .find(|r| r.instance_id == instance_id)
                .map(|r| r.name.clone())
        })
        .unwrap_or_else(|| scaling::runner_name(scale_set, instance_id))
}

/// Splits the scale set's instances (EC2's, found by tag, plus the ledger's, which EC2 may not
/// list yet right after a launch) into those to terminate and those of busy runners.
pub fn split(
    instances: &[Instance],
    ledger: &[RunnerRecord],
    busy: &[BusyRunner],
    scale_set: &str,
) -> Split {
    let busy: BTreeSet<&str> = busy.iter().map(|r| r.name.as_str()).collect();
    let tagged = instances
        .iter()
        .map(|i| (i.id.as_str(), i.runner_name.as_deref()));
    let ledger_only = ledger
        .iter()
        .filter(|r| !instances.iter().any(|i| i.id == r.instance_id))
        .map(|r| (r.instance_id.as_str(), Some(r.name.as_str())));
    let mut split = Split::default();
    for (id, tag) in tagged.chain(ledger_only) {
        let runner = runner_of(id, tag, ledger, scale_set);
        if busy.contains(runner.as_str()) {
            split.keep.push((id.to_owned(), runner));
        } else if !split.terminate.iter().any(|t| t == id) {
            split.terminate.push(id.to_owned());
        }
    }
    split
}

/// The busy runners for the operator: `name (i-…)`, or `name (no instance found)`.
pub fn describe_busy(busy: &[BusyRunner], keep: &[(String, String)]) -> String {
    busy.iter()
        .map(|runner| {
            let instances: Vec<&str> = keep
                .iter()
                .filter(|(_, name)| *name == runner.name)
                .map(|(id, _)| id.as_str())
                .collect();
            if instances.is_empty() {
                format!("{} (no instance found)", runner.name)
            } else {
                format!("{} ({})", runner.name, instances.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What happened to the scale set itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleSetOutcome {
    /// Deleted now.
    Deleted(i64),
    /// Kept (`--keep-scale-set`).
    Kept(Option<i64>),
    /// The service did not know it (already deleted).
    AlreadyGone,
}

/// What a teardown did, printed at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Scale set name.
    pub scale_set: String,
    /// Runners removed (or already gone when removed).
    pub runners_removed: Vec<String>,
    /// Instances terminated (or already terminated).
    pub instances_terminated: Vec<String>,
    /// The session deleted, if one was stored.
    pub session_deleted: Option<uuid::Uuid>,
    /// The scale set.
    pub scale_set_outcome: ScaleSetOutcome,
    /// Whether the launch template existed and was deleted.
    pub template_deleted: bool,
    /// JIT and boot-failure items deleted.
    pub instance_items_deleted: usize,
    /// Ledger entries deleted.
    pub ledger_entries_deleted: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[String]| {
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        writeln!(f, "scale set {:?}:", self.scale_set)?;
        writeln!(f, "  runners removed: {}", list(&self.runners_removed))?;
        writeln!(
            f,
            "  instances terminated: {}",
            list(&self.instances_terminated)
        )?;
        match self.session_deleted {
            Some(id) => writeln!(f, "  session deleted: {id}")?,
            None => writeln!(f, "  session deleted: none stored")?,
        }
        match self.scale_set_outcome {
            ScaleSetOutcome::Deleted(id) => writeln!(f, "  scale set deleted: id {id}")?,
            ScaleSetOutcome::Kept(Some(id)) => writeln!(f, "  scale set kept: id {id}")?,
            ScaleSetOutcome::Kept(None) => {
                writeln!(f, "  scale set kept: the service does not know it")?
            }
            ScaleSetOutcome::AlreadyGone => writeln!(f, "  scale set deleted: already gone")?,
        }
        let template = if self.template_deleted {
            "deleted"
        } else {
            "none left"
        };
        writeln!(f, "  launch template: {template}")?;
        writeln!(
            f,
            "  state table: {} instance items, {} ledger entries and the state record deleted",
            self.instance_items_deleted, self.ledger_entries_deleted
        )?;
        write!(f, "teardown complete")
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ports::{InstanceState, Lifecycle, RunnerState};

    fn instance(id: &str, tag: Option<&str>) -> Instance {
        Instance {
            id: id.into(),
            state: InstanceState::Running,
            launched_at: Utc::now(),
            runner_name: tag.map(Into::into),
            instance_type: None,
            zone: None,
            lifecycle: Lifecycle::Spot,
        }
    }

    fn record(name: &str, instance_id: &str) -> RunnerRecord {
        RunnerRecord {
            name: name.into(),
            instance_id: instance_id.into(),
            runner_id: Some(1),
            launched_at: Utc::now(),
            state: RunnerState::Busy,
            job_id: None,
            interrupted_at: None,
        }
    }

    fn busy(name: &str) -> BusyRunner {
        BusyRunner {
            id: 9,
            name: name.into(),
        }
    }

    #[test]
    fn a_busy_runner_keeps_its_instance_whichever_way_it_is_named() {
        let instances = [
            instance("i-tagged", Some("set-tagged")),
            instance("i-ledger", None),
            instance("i-derived", None),
            instance("i-idle", Some("set-idle")),
            instance("i-orphan", None),
        ];
        let ledger = [record("set-ledger", "i-ledger")];
        let runners = [busy("set-tagged"), busy("set-ledger"), busy("set-derived")];
        let split = split(&instances, &ledger, &runners, "set");
        assert_eq!(split.terminate, ["i-idle", "i-orphan"]);
        assert_eq!(
            split.keep,
            [
                ("i-tagged".to_owned(), "set-tagged".to_owned()),
                ("i-ledger".to_owned(), "set-ledger".to_owned()),
                ("i-derived".to_owned(), "set-derived".to_owned()),
            ]
        );
    }

    #[test]
    fn ledger_instances_ec2_does_not_list_yet_are_terminated_too() {
        let instances = [instance("i-listed", Some("set-listed"))];
        let ledger = [
            record("set-listed", "i-listed"),
            record("set-late", "i-late"),
        ];
        let split = split(&instances, &ledger, &[], "set");
        assert_eq!(split.terminate, ["i-listed", "i-late"]);
        assert!(split.keep.is_empty());
        let kept = super::split(&instances, &ledger, &[busy("set-late")], "set");
        assert_eq!(kept.terminate, ["i-listed"]);
        assert_eq!(kept.keep, [("i-late".to_owned(), "set-late".to_owned())]);
    }

    #[test]
    fn busy_runners_are_named_with_their_instances() {
        let keep = [("i-1".to_owned(), "set-1".to_owned())];
        assert_eq!(
            describe_busy(&[busy("set-1"), busy("set-2")], &keep),
            "set-1 (i-1), set-2 (no instance found)"
        );
    }
}
