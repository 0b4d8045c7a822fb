//! The runner simulator: it plays the part of the EC2 instances ghaec2 launches in moto.
//!
//! For each instance of the scale set it sees, after a boot delay it does what
//! `src/aws/user_data.sh` does: reads its own JIT item (`jit#<instance ARN>`, consistent
//! GetItem, retried for up to [`JIT_WAIT_SECONDS`]) and deletes it, then starts the runner, here
//! by connecting it to the fake. The fake runs the job and completes it after its duration; the
//! ephemeral runner is then gone, the runner process would exit, and the instance powers off
//! (shutdown behaviour `terminate`), so the simulator terminates it. An idle runner stays until
//! ghaec2 removes its registration (the runner then exits too) or terminates the instance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ec2::types::Filter;
use chrono::{DateTime, Utc};
use ghaec2::aws::schema::{self, jit};
use ghaec2::aws::user_data::JIT_WAIT_SECONDS;
use ghaec2::aws::{InstanceArns, TAG_RUNNER_NAME, TAG_SCALE_SET_ID};
use ghaec2_fake::Fake;
use tokio::task::JoinSet;

use crate::stand_ins::StandIns;
use crate::workload::SplitMix64;

/// Where a simulated instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Launched, still booting (before the runner starts).
    Booting,
    /// The runner is connected (idle or busy).
    Online,
    /// Powered itself off: the simulator terminated it.
    PoweredOff,
    /// Terminated by someone else (ghaec2's scale-down or orphan cleanup).
    TerminatedByGhaec2,
}

/// One instance as the simulator knows it.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    /// EC2 instance id.
    pub id: String,
    /// The `ghaec2:runner-name` tag.
    pub runner_name: Option<String>,
    /// EC2 `LaunchTime`.
    pub launch_time: Option<DateTime<Utc>>,
    /// When the simulator first saw it.
    pub first_seen: DateTime<Utc>,
    /// The last EC2 state seen (`pending`, `running`, `terminated`, …).
    pub ec2_state: String,
    /// Where it is in its life.
    pub phase: Phase,
    /// Its simulated boot time.
    pub boot_delay: Duration,
    /// When it read (and deleted) its JIT config.
    pub jit_fetched_at: Option<DateTime<Utc>>,
    /// When its runner connected.
    pub online_at: Option<DateTime<Utc>>,
    /// The runner's agent id.
    pub runner_id: Option<u64>,
    /// The job its runner ran, if any.
    pub job: Option<u64>,
    /// When it stopped existing (powered off, or seen terminated).
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it powered off without running a job, when that happened.
    pub note: Option<String>,
}

impl InstanceRecord {
    /// Launched and not terminated.
    pub fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Booting | Phase::Online)
    }
}

/// Instance counts for the live view and the chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// Every instance seen.
    pub launched: usize,
    /// Booting (EC2 `pending`/`running`, runner not started yet).
    pub pending: usize,
    /// Runner online.
    pub running: usize,
    /// Of those, running a job.
    pub busy: usize,
    /// Terminated.
    pub terminated: usize,
}

impl FleetCounts {
    /// Counts of `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a InstanceRecord>) -> Self {
        let mut c = Self::default();
        for r in records {
            c.launched += 1;
            match r.phase {
                Phase::Booting => c.pending += 1,
                Phase::Online => {
                    c.running += 1;
                    c.busy += usize::from(r.job.is_some());
                }
                Phase::PoweredOff | Phase::TerminatedByGhaec2 => c.terminated += 1,
            }
        }
        c
    }

    /// Pending plus running.
    pub fn live(&self) -> usize {
        self.pending + self.running
    }
}

/// How the simulated instances behave.
#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    /// Shortest and longest boot delay (EC2 takes 30–90 s; the demo compresses it).
    pub boot_delay: (Duration, Duration),
    /// Seed of the boot delays.
    pub seed: u64,
    /// How often it looks at EC2 and at the runners.
    pub poll: Duration,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        Self {
            boot_delay: (Duration::from_secs(3), Duration::from_secs(8)),
            seed: 1,
            poll: Duration::from_millis(400),
        }
    }
}

type Records = Arc<Mutex<BTreeMap<String, InstanceRecord>>>;

/// The running simulator; stops (its tasks are aborted) when dropped or stopped.
#[derive(Debug)]
pub struct Simulator {
    records: Records,
    errors: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// What a simulated instance needs.
#[derive(Debug, Clone)]
struct Ctx {
    ec2: aws_sdk_ec2::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    arns: InstanceArns,
    fake: Fake,
    records: Records,
    errors: Arc<Mutex<Vec<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Simulator {
    /// Starts playing the instances of scale set `scale_set_id`.
    pub fn start(stand_ins: &StandIns, scale_set_id: u64, options: SimulatorOptions) -> Self {
        let records: Records = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let ctx = Ctx {
            ec2: stand_ins.ec2.clone(),
            dynamodb: stand_ins.dynamodb.clone(),
            table: stand_ins.table.clone(),
            arns: stand_ins.arns.clone(),
            fake: stand_ins.fake.fake(),
            records: records.clone(),
            errors: errors.clone(),
        };
        let task = tokio::spawn(watch(ctx, scale_set_id, options));
        Self {
            records,
            errors,
            task,
        }
    }

    /// Every instance seen so far, in id order.
    pub fn instances(&self) -> Vec<InstanceRecord> {
        lock(&self.records).values().cloned().collect()
    }

    /// Instance counts now.
    pub fn counts(&self) -> FleetCounts {
        FleetCounts::of(lock(&self.records).values())
    }

    /// Errors met talking to moto or the fake (each once).
    pub fn errors(&self) -> Vec<String> {
        lock(&self.errors).clone()
    }

    /// Stops watching; booting instances stop where they are.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Ctx {
    fn error(&self, e: String) {
        let mut errors = lock(&self.errors);
        if !errors.contains(&e) {
            errors.push(e);
        }
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut InstanceRecord)) {
        if let Some(r) = lock(&self.records).get_mut(id) {
            f(r);
        }
    }

    fn phase(&self, id: &str) -> Option<Phase> {
        lock(&self.records).get(id).map(|r| r.phase)
    }

    /// The instance powers itself off: `terminate` on shutdown ends it.
    async fn power_off(&self, id: &str, note: Option<String>) {
        self.update(id, |r| {
            if r.is_live() {
                r.phase = Phase::PoweredOff;
                r.ended_at = Some(Utc::now());
                r.note = note;
            }
        });
        if let Err(e) = self.ec2.terminate_instances().instance_ids(id).send().await {
            self.error(format!("terminating {id}: {}", aws_error(&e)));
        }
    }
}

/// The poller: sees new instances, starts their boot, and watches online runners.
async fn watch(ctx: Ctx, scale_set_id: u64, options: SimulatorOptions) {
    let mut rng = SplitMix64::new(options.seed);
    let mut boots = JoinSet::new();
    let mut tick = tokio::time::interval(options.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        while boots.try_join_next().is_some() {}
        match describe(&ctx.ec2, scale_set_id).await {
            Ok(seen) => {
                for instance in seen {
                    if let Some(delay) = observe(&ctx, instance, &mut rng, &options) {
                        boots.spawn(boot(ctx.clone(), delay.0, delay.1));
                    }
                }
            }
            Err(e) => ctx.error(e),
        }
        check_runners(&ctx).await;
    }
}

/// An instance as DescribeInstances lists it.
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    state: String,
    runner_name: Option<String>,
    launch_time: Option<DateTime<Utc>>,
}

async fn describe(ec2: &aws_sdk_ec2::Client, scale_set_id: u64) -> Result<Vec<Seen>, String> {
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_SCALE_SET_ID}"))
                    .values(scale_set_id.to_string())
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| format!("describing instances: {}", aws_error(&e)))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = instance.instance_id() else {
                continue;
            };
            let tag = |key: &str| {
                instance
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .map(str::to_owned)
            };
            seen.push(Seen {
                id: id.to_owned(),
                state: instance
                    .state()
                    .and_then(|s| s.name())
                    .map_or_else(|| "unknown".to_owned(), |n| n.as_str().to_owned()),
                runner_name: tag(TAG_RUNNER_NAME),
                launch_time: instance
                    .launch_time()
                    .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?)),
            });
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(seen);
        }
    }
}

/// Records what DescribeInstances said; returns the boot delay of a newly seen live instance.
fn observe(
    ctx: &Ctx,
    seen: Seen,
    rng: &mut SplitMix64,
    options: &SimulatorOptions,
) -> Option<(String, Duration)> {
    let gone = matches!(seen.state.as_str(), "shutting-down" | "terminated");
    let mut records = lock(&ctx.records);
    if let Some(r) = records.get_mut(&seen.id) {
        r.ec2_state = seen.state;
        // Tags can show up a describe later than the instance.
        if r.runner_name.is_none() {
            r.runner_name = seen.runner_name;
        }
        if gone && r.is_live() {
            r.phase = Phase::TerminatedByGhaec2;
            r.ended_at = Some(Utc::now());
        }
        return None;
    }
    let (low, high) = options.boot_delay;
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // Terminated before it was ever seen live: counted, never booted.
    let boot_delay = if gone {
        Duration::ZERO
    } else {
        Duration::from_millis(rng.between(millis(low), millis(high)))
    };
    let now = Utc::now();
    records.insert(
        seen.id.clone(),
        InstanceRecord {
            id: seen.id.clone(),
            runner_name: seen.runner_name,
            launch_time: seen.launch_time,
            first_seen: now,
            ec2_state: seen.state,
            phase: if gone {
                Phase::TerminatedByGhaec2
            } else {
                Phase::Booting
            },
            boot_delay,
            jit_fetched_at: None,
            online_at: None,
            runner_id: None,
            job: None,
            ended_at: gone.then_some(now),
            note: None,
        },
    );
    (!gone).then_some((seen.id, boot_delay))
}

/// One instance's boot: wait, fetch the JIT config as user-data does, start the runner.
async fn boot(ctx: Ctx, id: String, delay: Duration) {
    tokio::time::sleep(delay).await;
    if ctx.phase(&id) != Some(Phase::Booting) {
        return; // terminated while booting
    }
    let config = match fetch_jit(&ctx, &id).await {
        Ok(Some(config)) => config,
        Ok(None) => {
            if ctx.phase(&id) == Some(Phase::Booting) {
                let note = format!("no JIT config after {JIT_WAIT_SECONDS} s");
                ctx.power_off(&id, Some(note)).await;
            }
            return;
        }
        Err(e) => {
            ctx.error(e.clone());
            ctx.power_off(&id, Some(e)).await;
            return;
        }
    };
    match ctx.fake.connect_runner(&config) {
        Ok(runner) => ctx.update(&id, |r| {
            if r.phase == Phase::Booting {
                r.phase = Phase::Online;
                r.online_at = Some(Utc::now());
                r.runner_id = Some(runner.runner.id);
                r.job = runner.runner.job;
            }
        }),
        // The registration was removed while the instance booted (scale-down): the runner
        // refuses to start and the instance powers off.
        Err(e) => {
            ctx.power_off(&id, Some(format!("runner refused: {e}")))
                .await
        }
    }
}

/// GetItem (consistent, the config attribute only) until found or [`JIT_WAIT_SECONDS`] pass,
/// then DeleteItem, whatever was found: the script's exact calls.
async fn fetch_jit(ctx: &Ctx, id: &str) -> Result<Option<String>, String> {
    let key = schema::jit_key(ctx.arns.jit_pk(id));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(JIT_WAIT_SECONDS.into());
    let mut config = None;
    while tokio::time::Instant::now() < deadline && ctx.phase(id) == Some(Phase::Booting) {
        let item = ctx
            .dynamodb
            .get_item()
            .table_name(&ctx.table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .projection_expression("#c")
            .expression_attribute_names("#c", jit::CONFIG)
            .send()
            .await
            .map_err(|e| format!("reading the JIT config of {id}: {}", aws_error(&e)))?;
        if let Some(AttributeValue::S(c)) = item.item().and_then(|i| i.get(jit::CONFIG)) {
            config = Some(c.clone());
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    ctx.dynamodb
        .delete_item()
        .table_name(&ctx.table)
        .set_key(Some(key))
        .send()
        .await
        .map_err(|e| format!("deleting the JIT config of {id}: {}", aws_error(&e)))?;
    if config.is_some() {
        ctx.update(id, |r| r.jit_fetched_at = Some(Utc::now()));
    }
    Ok(config)
}

/// Online runners that are gone from the service (an ephemeral runner after its job, or one
/// whose registration ghaec2 removed) exit, and their instance powers off.
async fn check_runners(ctx: &Ctx) {
    let snapshot = ctx.fake.state();
    let live: BTreeMap<u64, Option<u64>> = snapshot
        .runners
        .iter()
        .map(|r| (r.runner.id, r.runner.job))
        .collect();
    // A job keeps its runner id after the runner is gone: it tells a runner that exited
    // after its job from one whose idle registration was removed.
    let ran: BTreeMap<u64, u64> = snapshot
        .jobs
        .iter()
        .filter_map(|j| Some((j.runner_id?, j.runner_request_id)))
        .collect();
    let mut exited = Vec::new();
    for r in lock(&ctx.records).values_mut() {
        let Some(runner_id) = r.runner_id else {
            continue;
        };
        // Also for instances ghaec2 already terminated after their job.
        r.job = r.job.or(ran.get(&runner_id).copied());
        if r.phase == Phase::Online && !live.contains_key(&runner_id) {
            let note = r
                .job
                .is_none()
                .then(|| "registration removed by ghaec2, runner exited".to_owned());
            exited.push((r.id.clone(), note));
        }
    }
    for (id, note) in exited {
        ctx.power_off(&id, note).await;
    }
}

/// An SDK error with its causes (moto's messages carry no secret).
fn aws_error(e: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_ec2::error::DisplayErrorContext(e).to_string()
}
