//! Runners (docs/protocol.md §12): JIT generation registers an offline runner; the
//! runner "connects" with its JIT config and goes online; removal is refused while
//! it runs a job.

use chrono::{DateTime, Utc};

use super::{Fail, Runner, State};
use crate::jit::{self, RunnerSettings};

/// Agent pool the fake reports in `.runner` (real value varies; docs/protocol.md §12.2).
const POOL_ID: u64 = 1;

impl State {
    /// `generatejitconfig` (docs/protocol.md §12.1): registers runner `name` (unique per
    /// tenant, else 409 `TaskAgentExistsException`) and returns it with its config.
    pub fn generate_jit_config(
        &mut self,
        tenant: u64,
        scale_set_id: u64,
        name: &str,
        work_folder: &str,
        now: DateTime<Utc>,
    ) -> Result<(Runner, String), Fail> {
        let scale_set = self.scale_set(tenant, scale_set_id)?;
        if name.trim().is_empty() {
            return Err(Fail::BadRequest("The runner name is required.".to_owned()));
        }
        if self
            .runners
            .values()
            .any(|r| r.tenant == tenant && r.name.eq_ignore_ascii_case(name))
        {
            return Err(Fail::AgentExists(name.to_owned()));
        }
        let id = self.next_runner_id;
        let work_folder = if work_folder.is_empty() {
            "_work"
        } else {
            work_folder
        };
        let tenant_url = self.tenant_url(tenant);
        let settings = RunnerSettings {
            agent_id: id,
            agent_name: name.to_owned(),
            pool_id: POOL_ID,
            pool_name: scale_set.name.clone(),
            disable_update: scale_set.runner_setting.disable_update,
            ephemeral: true,
            server_url: tenant_url.clone(),
            git_hub_url: format!(
                "{}/{}",
                self.cfg.base_url,
                self.tenants
                    .get((tenant as usize).wrapping_sub(1))
                    .cloned()
                    .unwrap_or_default()
            ),
            work_folder: work_folder.to_owned(),
            use_v2_flow: true,
            server_url_v2: format!("{}/", self.cfg.base_url),
        };
        let encoded = jit::encode(&settings, &format!("{tenant_url}_apis/oauth2/token"))
            .map_err(|e| Fail::Internal(e.to_string()))?;
        self.next_runner_id += 1;
        let runner = Runner {
            id,
            name: name.to_owned(),
            runner_scale_set_id: scale_set_id,
            tenant,
            work_folder: work_folder.to_owned(),
            created_on: now,
            online: false,
            job: None,
        };
        self.runners.insert(id, runner.clone());
        self.jit_configs.push(encoded.clone());
        Ok((runner, encoded))
    }

    /// A runner process started with `encoded` connects: it goes online and, if an
    /// assigned job waits in its scale set, takes the oldest (`JobStarted`).
    pub fn connect_runner(&mut self, encoded: &str, now: DateTime<Utc>) -> Result<Runner, Fail> {
        let settings = jit::decode(encoded).map_err(|e| Fail::BadRequest(e.to_string()))?;
        let runner = self
            .runners
            .get_mut(&settings.agent_id)
            .ok_or(Fail::AgentNotFound(settings.agent_id))?;
        if runner.name != settings.agent_name {
            return Err(Fail::AgentNotFound(settings.agent_id));
        }
        runner.online = true;
        self.dispatch(now);
        self.runners
            .get(&settings.agent_id)
            .cloned()
            .ok_or(Fail::AgentNotFound(settings.agent_id))
    }

    /// A runner of `tenant` by id (404 `TaskAgentNotFoundException`).
    pub fn runner(&self, tenant: u64, id: u64) -> Result<Runner, Fail> {
        self.runners
            .get(&id)
            .filter(|r| r.tenant == tenant)
            .cloned()
            .ok_or(Fail::AgentNotFound(id))
    }

    /// Runners of `tenant`, optionally only those named `name`.
    pub fn runners_named(&self, tenant: u64, name: Option<&str>) -> Vec<Runner> {
        self.runners
            .values()
            .filter(|r| r.tenant == tenant && name.is_none_or(|n| r.name.eq_ignore_ascii_case(n)))
            .cloned()
            .collect()
    }

    /// Any runner by id (control API).
    pub fn any_runner(&self, id: u64) -> Option<Runner> {
        self.runners.get(&id).cloned()
    }

    /// DELETE agent (docs/protocol.md §12.3): ok also when unknown; 400 while busy.
    pub fn remove_runner(&mut self, tenant: u64, id: u64, now: DateTime<Utc>) -> Result<(), Fail> {
        match self.runners.get(&id).filter(|r| r.tenant == tenant) {
            Some(r) if r.job.is_some() => Err(Fail::AgentBusy(id)),
            Some(_) => {
                self.runners.remove(&id);
                self.dispatch(now);
                Ok(())
            }
            None => Ok(()),
        }
    }
}
