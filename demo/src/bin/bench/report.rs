//! The results of a bench run: every figure the report shows, as measured. Rendering them is
//! [`crate::markdown`]'s.

use std::time::Duration;

use ghaec2_demo::stats::Distribution;

use crate::cgroup::Throttled;
use crate::machine::Machine;
use crate::moto_time::MotoTime;
use crate::recoveries::Recoveries;

/// The pickup bar: p50 queued → launched while listening.
pub const PICKUP_BAR: Duration = Duration::from_millis(500);

/// A latency measured over pairs of events, and the pairs that broke: an end that never
/// came, or one logged before its start. Broken pairs are not in the distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    pub dist: Option<Distribution>,
    pub missing: usize,
    pub out_of_order: usize,
}

impl Latency {
    pub fn broken(&self) -> usize {
        self.missing + self.out_of_order
    }
}

pub use ghaec2_demo::template::Configured;

/// How the stand-ins were set up for a scenario (reported, not assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// How long the fake holds an empty poll.
    pub poll_hold: Duration,
    /// `DRAIN_WINDOW_SECONDS`, when the scenario sets it.
    pub window: Option<Duration>,
    /// `MAX_RUNNERS`.
    pub max_runners: u32,
}

/// One steady trickle.
#[derive(Debug, Clone, PartialEq)]
pub struct Trickle {
    pub setup: Setup,
    pub jobs: usize,
    pub mean_interval: Duration,
    pub span: Duration,
    /// Queued → acquired (`acquirejobs`), the fake's timestamps.
    pub to_acquired: Latency,
    /// Queued → CreateFleet returned ("Launched instances."), FIFO pairing.
    pub to_launched: Latency,
    /// Queued → decision record after the runner's JIT config was stored ("Reconciled.").
    pub to_ready: Latency,
    /// Job finished → its instance terminated (listening only).
    pub scale_down: Latency,
    pub recoveries: Recoveries,
}

/// The trickle across invocation gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaps {
    pub trickle: Trickle,
    pub period: Duration,
    /// Spawn → exit of each `--once`.
    pub invocations: Vec<Duration>,
    /// One invocation stopping listening → the next one's first poll (the hand-over).
    pub gap_lengths: Latency,
    /// Queued → launched of the jobs queued while an invocation listened, and in a gap.
    pub in_window_to_launched: Latency,
    pub in_gap_to_launched: Latency,
    pub peak_rss_kb: Option<u64>,
    pub cpu: Vec<Duration>,
}

/// Which side throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The fake Actions Service (429 + Retry-After).
    Actions,
    /// AWS, through the proxy in front of moto.
    Aws,
}

/// Throttling injected into a burst, and what ghaec2 did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttling {
    pub side: Side,
    pub injected: String,
    /// Throttled answers given.
    pub throttled_answers: usize,
    /// Actions side: the shortest time from a 429 to the next call to its endpoint, and the
    /// Retry-After it asked for.
    pub shortest_wait: Option<(Duration, Duration)>,
}

/// One burst.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub label: String,
    pub jobs: u32,
    pub setup: Setup,
    /// First enqueue → the decision record that counted every job's instance.
    pub all_launched: Option<Duration>,
    /// First enqueue → the last job acquired.
    pub all_acquired: Option<Duration>,
    /// First enqueue → k instances current, for k = 100, 200, … below N.
    pub milestones: Vec<(u32, Duration)>,
    /// Timed events above logged before the first enqueue (a broken pairing).
    pub out_of_order: usize,
    /// Actions Service calls answered from the first enqueue until all were launched.
    pub calls: usize,
    /// AWS calls (through the proxy) in the same span.
    pub aws_calls: usize,
    pub breakdown: String,
    /// Jobs acquired, instances live in EC2, instances launched (CreateFleet) at the end.
    pub acquired: usize,
    pub instances: usize,
    pub launches: u32,
    pub throttling: Option<Throttling>,
    pub recoveries: Recoveries,
    /// Moto's part of first enqueue → all launched.
    pub moto: Option<MotoTime>,
    pub peak_rss_kb: Option<u64>,
    pub cpu: Option<Duration>,
}

impl Burst {
    pub fn calls_per_job(&self) -> f64 {
        self.calls as f64 / f64::from(self.jobs.max(1))
    }

    /// Every job acquired and given exactly one live instance.
    pub fn nothing_lost(&self) -> bool {
        let n = self.jobs as usize;
        self.acquired == n && self.instances == n
    }
}

/// Cold start: fresh processes, their AWS calls through the proxy, the GitHub credential in
/// SSM as the template deploys it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cold {
    pub runs: usize,
    pub setup: Setup,
    pub to_first_log: Latency,
    /// Spawn → SSM's answer with the credential: what Lambda's init does.
    pub to_credential: Latency,
    pub to_polling: Latency,
    pub to_first_poll: Latency,
    pub once_exit: Latency,
    /// AWS calls from spawn to the first poll, per run, by `service action`.
    pub calls_before_ready: Vec<(String, usize)>,
    /// Moto's part of spawn → first poll, summed over the runs.
    pub moto_before_ready: Duration,
    pub before_ready: Duration,
    pub binary_bytes: u64,
    pub peak_rss_kb: Option<u64>,
    pub cpu: Option<Distribution>,
    pub recoveries: Recoveries,
}

/// The burst that decides the default memory must have all launched within this.
pub const BURST_BAR: Duration = Duration::from_secs(10);

/// A process started under a CPU share, timed from just before the spawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// `DRAIN_WINDOW_SECONDS` of each run.
    pub window: Duration,
    /// Spawn → its first call at the fake (App: the token exchange; PAT: the registration
    /// token).
    pub to_first_call: Latency,
    /// Spawn → its first long poll at the fake.
    pub to_ready: Latency,
    pub throttled: Throttled,
}

/// An empty `--once` under a CPU share.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleWindow {
    pub window: Duration,
    pub to_ready: Option<Duration>,
    pub wall: Duration,
    pub cpu: Option<Duration>,
    pub throttled: Throttled,
    /// Exit status 0 after it stopped listening at the window's end.
    pub clean: bool,
}

/// ghaec2 at one Lambda memory size's CPU share.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuShare {
    pub memory_mb: u32,
    /// Of each 100 ms period.
    pub quota_us: u64,
    pub idle: IdleWindow,
    pub pat: Start,
    pub app: Start,
    pub burst: Burst,
    pub burst_throttled: Throttled,
}

/// The CPU-share-limited runs, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuRuns {
    Measured(Vec<CpuShare>),
    NotMeasured(String),
}

/// The default memory the figures call for: the smallest measured size whose burst had every
/// job launched, nothing lost, within [`BURST_BAR`]; the largest measured one if none did.
pub fn memory_choice(shares: &[CpuShare]) -> Option<u32> {
    let within = |s: &&CpuShare| {
        s.burst.nothing_lost() && s.burst.all_launched.is_some_and(|d| d <= BURST_BAR)
    };
    let passing = shares.iter().filter(within).map(|s| s.memory_mb).min();
    passing.or_else(|| shares.iter().map(|s| s.memory_mb).max())
}

/// Several scale sets served by one continuous process, a trickle spread across them.
#[derive(Debug, Clone, PartialEq)]
pub struct Several {
    pub setup: Setup,
    pub jobs: usize,
    pub mean_interval: Duration,
    pub span: Duration,
    /// Queued → launched of each scale set's jobs, paired with its own launches; jobs the
    /// fake routed to no scale set are under `None`.
    pub per_scale_set: Vec<(Option<String>, Latency)>,
    pub overall: Latency,
    pub cpu: Option<Duration>,
    pub peak_rss_kb: Option<u64>,
    /// Distinct EMF metrics (name and dimensions) the run published.
    pub metrics: Vec<String>,
    pub recoveries: Recoveries,
}

/// What one steady-state idle invocation of a deployment used.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub scale_sets: usize,
    /// Spawn → exit: the billed duration.
    pub invocation: Duration,
    /// DynamoDB calls by action, the predecessor's end-of-window calls taken off.
    pub dynamodb: Vec<(String, usize)>,
    /// The predecessor's end-of-window calls that were taken off, by action.
    pub predecessor_tail: Vec<(String, usize)>,
    pub write_units: f64,
    pub read_units: f64,
    /// Bytes of the JSON log lines ghaec2 wrote.
    pub log_bytes: u64,
    pub log_lines: usize,
    /// Distinct EMF metrics (name and dimensions) it published.
    pub metrics: Vec<String>,
    pub clean: bool,
}

/// `ghaec2 --status` is meant to answer well under a second: its p95 must be within this.
pub const STATUS_BAR: Duration = Duration::from_secs(1);

/// One `ghaec2 --status` command run again and again, one run after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTimes {
    /// The command as an operator types it.
    pub command: String,
    pub runs: usize,
    /// Spawn → exit of the runs that exited 0.
    pub wall: Option<Distribution>,
    /// Runs that exited non-zero, and why the first did.
    pub failed: usize,
    pub first_failure: Option<String>,
    /// AWS calls of one run (the proxy's count): fewest, most.
    pub aws_calls: (usize, usize),
    /// AWS calls of all the runs, by action.
    pub by_action: Vec<(String, usize)>,
    /// Actions Service calls of all the runs (the fake's count).
    pub actions_calls: usize,
    /// JSON runs whose document showed the set-up exactly: every runner, the busy ones, the
    /// orphan and the held lease. `None` for text runs.
    pub showed_setup: Option<usize>,
}

/// The text runs at a Lambda memory size's CPU share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAtShare {
    pub memory_mb: u32,
    /// Of each 100 ms period.
    pub quota_us: u64,
    pub times: StatusTimes,
    pub throttled: Throttled,
}

/// `ghaec2 --status` against one scale set in several states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRuns {
    /// What the stand-ins held: runners in the ledger, of them on a job, orphan instances.
    pub runners: usize,
    pub busy: usize,
    pub orphans: usize,
    pub text: StatusTimes,
    pub json: StatusTimes,
    /// The text runs at a CPU share, or why they could not be measured here.
    pub at_share: Result<StatusAtShare, String>,
}

/// Everything one bench run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub machine: Machine,
    pub configured: Configured,
    pub listening: Option<Trickle>,
    pub gaps: Option<Gaps>,
    pub bursts: Vec<Burst>,
    pub cold: Option<Cold>,
    pub cpu: Option<CpuRuns>,
    pub several: Option<Several>,
    pub paths: Option<crate::path::Paths>,
    pub status: Option<StatusRuns>,
    /// Idle gapless invocations with 1 and with several scale sets.
    pub cost: Vec<Usage>,
    pub wall: Duration,
    /// 1-minute load average when the scenarios ended (the start's is the machine's).
    pub load_after: Option<f64>,
}
