//! Runner scale set CRUD (docs/protocol.md §7).

use chrono::{DateTime, Utc};

use super::{Fail, JobState, Label, Queue, RunnerSetting, ScaleSet, State};
use crate::wire::{LABEL_TYPE_SYSTEM, RESULT_CANCELED};

/// The fields of a create or PATCH body; `None` = not sent (PATCH keeps the value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScaleSetInput {
    /// `name`.
    pub name: Option<String>,
    /// `runnerGroupId` (0 = default group on create).
    pub runner_group_id: Option<u64>,
    /// `labels`.
    pub labels: Option<Vec<Label>>,
    /// `RunnerSetting` / `runnerSetting`.
    pub runner_setting: Option<RunnerSetting>,
}

impl State {
    /// Creates a scale set (docs/protocol.md §7.2: 200, duplicate name in the group ⇒ 400).
    pub fn create_scale_set(
        &mut self,
        tenant: u64,
        input: ScaleSetInput,
        now: DateTime<Utc>,
    ) -> Result<ScaleSet, Fail> {
        let name = input
            .name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| Fail::BadRequest("The runner scale set name is required.".to_owned()))?;
        let group = match input.runner_group_id {
            None | Some(0) => crate::wire::DEFAULT_GROUP_ID,
            Some(g) => g,
        };
        self.check_name_free(tenant, group, &name, None)?;
        let id = self.next_scale_set_id;
        self.next_scale_set_id += 1;
        let scale_set = ScaleSet {
            id,
            tenant,
            labels: normalize_labels(&name, input.labels),
            name,
            runner_group_id: group,
            runner_setting: input.runner_setting.unwrap_or_default(),
            created_on: now,
        };
        self.scale_sets.insert(id, scale_set.clone());
        self.queues.insert(id, Queue::default());
        self.dispatch(now);
        Ok(scale_set)
    }

    /// A scale set of `tenant` by id.
    pub fn scale_set(&self, tenant: u64, id: u64) -> Result<ScaleSet, Fail> {
        self.scale_sets
            .get(&id)
            .filter(|s| s.tenant == tenant)
            .cloned()
            .ok_or(Fail::ScaleSetNotFound(id))
    }

    /// Scale sets of `tenant` named `name` (case-insensitive), optionally in one group.
    pub fn scale_sets_named(
        &self,
        tenant: u64,
        group: Option<u64>,
        name: Option<&str>,
    ) -> Vec<ScaleSet> {
        self.scale_sets
            .values()
            .filter(|s| s.tenant == tenant)
            .filter(|s| group.is_none_or(|g| s.runner_group_id == g))
            .filter(|s| name.is_none_or(|n| s.name.eq_ignore_ascii_case(n)))
            .cloned()
            .collect()
    }

    /// PATCH: changes only the fields sent (docs/protocol.md §7.2, §18.8).
    pub fn update_scale_set(
        &mut self,
        tenant: u64,
        id: u64,
        input: ScaleSetInput,
        now: DateTime<Utc>,
    ) -> Result<ScaleSet, Fail> {
        let current = self.scale_set(tenant, id)?;
        let name = input
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| current.name.clone());
        let group = input
            .runner_group_id
            .filter(|g| *g != 0)
            .unwrap_or(current.runner_group_id);
        self.check_name_free(tenant, group, &name, Some(id))?;
        let labels = match input.labels {
            Some(labels) => normalize_labels(&name, Some(labels)),
            None => current.labels,
        };
        let updated = ScaleSet {
            name,
            runner_group_id: group,
            labels,
            runner_setting: input.runner_setting.unwrap_or(current.runner_setting),
            ..current
        };
        self.scale_sets.insert(id, updated.clone());
        self.dispatch(now);
        Ok(updated)
    }

    /// DELETE (docs/protocol.md §7.2): refused while a job runs on one of its runners;
    /// assigned-not-running jobs go back to the queue, its runners and sessions go.
    pub fn delete_scale_set(
        &mut self,
        tenant: u64,
        id: u64,
        now: DateTime<Utc>,
    ) -> Result<(), Fail> {
        let scale_set = self.scale_set(tenant, id)?;
        if self
            .runners
            .values()
            .any(|r| r.runner_scale_set_id == id && r.job.is_some())
        {
            return Err(Fail::ScaleSetBusy(scale_set.name));
        }
        self.remove_scale_set(id, now);
        Ok(())
    }

    /// Server-side deletion (dormant cleanup, docs/protocol.md §7.2): no refusal; jobs
    /// running on its runners are cancelled. Later session calls get 404.
    pub fn delete_scale_set_server_side(
        &mut self,
        id: u64,
        now: DateTime<Utc>,
    ) -> Result<(), Fail> {
        if !self.scale_sets.contains_key(&id) {
            return Err(Fail::ScaleSetNotFound(id));
        }
        let running: Vec<u64> = self
            .jobs
            .values()
            .filter(|j| j.scale_set_id == Some(id) && j.state == JobState::Running)
            .map(|j| j.runner_request_id)
            .collect();
        for job in running {
            self.finish_job(job, RESULT_CANCELED, now);
        }
        self.remove_scale_set(id, now);
        Ok(())
    }

    fn remove_scale_set(&mut self, id: u64, now: DateTime<Utc>) {
        self.scale_sets.remove(&id);
        self.queues.remove(&id);
        self.sessions.retain(|_, s| s.scale_set_id != id);
        self.runners.retain(|_, r| r.runner_scale_set_id != id);
        for job in self
            .jobs
            .values_mut()
            .filter(|j| j.scale_set_id == Some(id) && j.state != JobState::Completed)
        {
            job.scale_set_id = None;
            job.state = JobState::Queued;
            job.acquired = false;
            job.scale_set_assign_time = None;
        }
        self.dispatch(now);
    }

    fn check_name_free(
        &self,
        tenant: u64,
        group: u64,
        name: &str,
        except: Option<u64>,
    ) -> Result<(), Fail> {
        let group_name = self
            .groups
            .iter()
            .find(|g| g.id == group)
            .map(|g| g.name.clone())
            .ok_or(Fail::RunnerGroupNotFound(group))?;
        let taken = self.scale_sets.values().any(|s| {
            s.tenant == tenant
                && s.runner_group_id == group
                && s.name.eq_ignore_ascii_case(name)
                && Some(s.id) != except
        });
        if taken {
            Err(Fail::ScaleSetExists { group: group_name })
        } else {
            Ok(())
        }
    }
}

/// Labels as the service stores them: empty types become `System`; no labels means
/// the name is the only label (docs/protocol.md §7.2).
fn normalize_labels(name: &str, labels: Option<Vec<Label>>) -> Vec<Label> {
    let mut labels: Vec<Label> = labels
        .unwrap_or_default()
        .into_iter()
        .filter(|l| !l.name.is_empty())
        .map(|l| Label {
            kind: if l.kind.is_empty() {
                LABEL_TYPE_SYSTEM.to_owned()
            } else {
                l.kind
            },
            name: l.name,
        })
        .collect();
    if labels.is_empty() {
        labels.push(Label {
            name: name.to_owned(),
            kind: LABEL_TYPE_SYSTEM.to_owned(),
        });
    }
    labels
}
