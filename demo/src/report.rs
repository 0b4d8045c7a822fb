//! The demo's results: what happened to each job and instance, the summary printed at the
//! end, the markdown report, and the verdict (the demo fails when a job was not completed,
//! more than `MIN_RUNNERS` instances are left, or `ghaec2 --status` in the middle of the burst
//! failed or showed no busy runner). Everything here is computed from a recorded
//! [`RunRecord`], so it is tested without moto.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::chart::Sample;
use crate::cost::LambdaCost;
use crate::simulator::{InstanceRecord, Phase};
use crate::stats::{Distribution, seconds};
use crate::status::{self, MidBurst};
use crate::view::Decision;
use crate::workload::Kind;

/// What a passing run showed.
const PASSED: &str = "every job completed (the cancelled one ended cancelled), only \
    MIN_RUNNERS instances are left, and ghaec2 --status showed busy runners in the middle of the \
    burst";

/// The settings of the run, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Workload seed.
    pub seed: u64,
    /// `MIN_RUNNERS`.
    pub min_runners: u32,
    /// `MAX_RUNNERS`.
    pub max_runners: u32,
    /// `DRAIN_WINDOW_SECONDS`.
    pub window: Duration,
    /// `RUNNER_BOOT_TIMEOUT_SECONDS`.
    pub boot_timeout: Duration,
    /// The fake's empty-poll hold.
    pub poll_hold: Duration,
    /// Simulated boot delay range.
    pub boot_delay: (Duration, Duration),
    /// The Lambda schedule of the cost estimate.
    pub schedule: Duration,
    /// The Lambda memory of the cost estimate, MB (the template's default).
    pub memory_mb: u32,
    /// The template's `DrainWindowSeconds`, for the cost line's comparison.
    pub template_window: Duration,
}

/// One job of the plan and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// Plan index.
    pub index: usize,
    /// Display name.
    pub name: String,
    /// Workload part.
    pub kind: Kind,
    /// Repository.
    pub repository: String,
    /// Planned run time.
    pub duration: Duration,
    /// The fake's runner request id, once enqueued.
    pub request_id: Option<u64>,
    /// Enqueued at.
    pub queued: Option<DateTime<Utc>>,
    /// Taken by a runner at.
    pub started: Option<DateTime<Utc>>,
    /// Finished at.
    pub finished: Option<DateTime<Utc>>,
    /// Runner that took it.
    pub runner_name: Option<String>,
    /// Final result (`succeeded`, `canceled`, …).
    pub result: Option<String>,
    /// Job state as the service saw it last.
    pub state: String,
}

impl JobOutcome {
    /// Completed the way the plan wants: cancelled for the cancelled job, succeeded otherwise.
    pub fn as_planned(&self) -> bool {
        let wanted = if self.kind == Kind::Cancelled {
            "canceled"
        } else {
            "succeeded"
        };
        self.finished.is_some() && self.result.as_deref() == Some(wanted)
    }
}

/// Everything recorded during a run.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// Settings.
    pub settings: Option<Settings>,
    /// When the workload started (time 0 of tables and chart).
    pub started: Option<DateTime<Utc>>,
    /// When the run ended (ghaec2 stopped).
    pub ended: Option<DateTime<Utc>>,
    /// The jobs of the plan.
    pub jobs: Vec<JobOutcome>,
    /// The instances the simulator saw.
    pub instances: Vec<InstanceRecord>,
    /// Launch time per instance id, from ghaec2's `Launched instances.` lines.
    pub launched_at: HashMap<String, DateTime<Utc>>,
    /// Actions Service calls by endpoint name (the fake's call log).
    pub calls: BTreeMap<String, usize>,
    /// Message sessions created.
    pub sessions_created: usize,
    /// ghaec2's decision records.
    pub decisions: Vec<Decision>,
    /// Start times of ghaec2's cycles (`Starting Actions Service message polling`).
    pub cycle_starts: Vec<DateTime<Utc>>,
    /// The timeline.
    pub samples: Vec<Sample>,
    /// ghaec2's peak resident set, kB (Linux `VmHWM`).
    pub peak_rss_kb: Option<u64>,
    /// How ghaec2 ended, when it did not exit 0 on SIGTERM.
    pub ghaec2_failure: Option<String>,
    /// Problems the simulator met.
    pub simulator_errors: Vec<String>,
    /// `ghaec2 --status` in the middle of the burst, once it ran.
    pub status: Option<MidBurst>,
}

/// A job's pickup latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pickup {
    /// Plan index.
    pub index: usize,
    /// Queued → the instance of the runner that took it was launched (zero when that runner
    /// was launched before the job was queued).
    pub to_launch: Option<Duration>,
    /// Queued → a runner took the job.
    pub to_start: Option<Duration>,
    /// The runner existed before the job was queued.
    pub warm: bool,
}

/// `later − earlier`, or zero when `later` is earlier.
fn between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or_default()
}

/// Pairs each job that started with the instance of the runner that ran it, by runner name
/// (the `ghaec2:runner-name` tag). `launches` maps runner names to launch times.
pub fn pickups(jobs: &[JobOutcome], launches: &HashMap<String, DateTime<Utc>>) -> Vec<Pickup> {
    jobs.iter()
        .filter_map(|job| {
            let queued = job.queued?;
            let started = job.started?;
            let launched = job.runner_name.as_ref().and_then(|n| launches.get(n));
            Some(Pickup {
                index: job.index,
                to_launch: launched.map(|l| between(queued, *l)),
                to_start: Some(between(queued, started)),
                warm: launched.is_some_and(|l| *l < queued),
            })
        })
        .collect()
}

/// Whether an instance's runner ran a job: the simulator saw it, or a job names its runner.
pub fn ran_a_job(instance: &InstanceRecord, jobs: &[JobOutcome]) -> bool {
    instance.job.is_some()
        || instance
            .runner_name
            .as_ref()
            .is_some_and(|n| jobs.iter().any(|j| j.runner_name.as_ref() == Some(n)))
}

/// Launch time per runner name: ghaec2's log when it names the instance, else EC2's
/// `LaunchTime` (whole seconds in moto), else when the simulator first saw it.
pub fn launches_by_runner(
    instances: &[InstanceRecord],
    launched_at: &HashMap<String, DateTime<Utc>>,
) -> HashMap<String, DateTime<Utc>> {
    instances
        .iter()
        .filter_map(|i| {
            let at = launched_at
                .get(&i.id)
                .copied()
                .or(i.launch_time)
                .unwrap_or(i.first_seen);
            Some((i.runner_name.clone()?, at))
        })
        .collect()
}

/// The figures of the final summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Jobs enqueued.
    pub queued: usize,
    /// Jobs of the plan (the cancelled one included).
    pub planned: usize,
    /// Jobs completed (succeeded), the cancelled one not included.
    pub completed: usize,
    /// Jobs meant to complete.
    pub to_complete: usize,
    /// The cancelled job ended cancelled.
    pub cancelled_as_planned: bool,
    /// Queued → runner launched.
    pub to_launch: Option<Distribution>,
    /// Queued → job started.
    pub to_start: Option<Distribution>,
    /// Jobs whose runner was launched before they were queued.
    pub warm: usize,
    /// Queued → runner launched, for the jobs that waited for a new runner.
    pub to_launch_cold: Option<Distribution>,
    /// Instances launched.
    pub launched: usize,
    /// Instances terminated.
    pub terminated: usize,
    /// Of those, after their runner ran a job (the others were idle and scaled down).
    pub after_job: usize,
    /// Instances left at the end.
    pub left: usize,
    /// Actions Service calls.
    pub calls: usize,
    /// Message sessions created.
    pub sessions_created: usize,
    /// Cycles ghaec2 started.
    pub cycles: usize,
    /// Billed duration per invocation of the estimate: the mean measured cycle.
    pub billed: Duration,
    /// The monthly Lambda cost at this window and memory.
    pub cost: LambdaCost,
    /// The same at the template's window.
    pub cost_default_window: LambdaCost,
    /// `ghaec2 --status` in the middle of the burst: when, what it showed.
    pub status: String,
    /// Why the run failed; empty when it passed.
    pub failures: Vec<String>,
}

impl Summary {
    /// The summary of `run`.
    pub fn of(run: &RunRecord) -> Self {
        let settings = run.settings.clone().unwrap_or(Settings {
            seed: 0,
            min_runners: 0,
            max_runners: 0,
            window: Duration::ZERO,
            boot_timeout: Duration::ZERO,
            poll_hold: Duration::ZERO,
            boot_delay: (Duration::ZERO, Duration::ZERO),
            schedule: Duration::from_secs(60),
            memory_mb: 128,
            template_window: Duration::from_secs(60),
        });
        let launches = launches_by_runner(&run.instances, &run.launched_at);
        let picks = pickups(&run.jobs, &launches);
        let to_launch: Vec<Duration> = picks.iter().filter_map(|p| p.to_launch).collect();
        let to_launch_cold: Vec<Duration> = picks
            .iter()
            .filter(|p| !p.warm)
            .filter_map(|p| p.to_launch)
            .collect();
        let to_start: Vec<Duration> = picks.iter().filter_map(|p| p.to_start).collect();
        let planned_to_complete: Vec<&JobOutcome> = run
            .jobs
            .iter()
            .filter(|j| j.kind != Kind::Cancelled)
            .collect();
        let completed = planned_to_complete
            .iter()
            .filter(|j| j.as_planned())
            .count();
        let cancelled_as_planned = run
            .jobs
            .iter()
            .filter(|j| j.kind == Kind::Cancelled)
            .all(JobOutcome::as_planned);
        let left = run.instances.iter().filter(|i| i.is_live()).count();
        let terminated = run.instances.len() - left;
        let after_job = run
            .instances
            .iter()
            .filter(|i| !i.is_live() && ran_a_job(i, &run.jobs))
            .count();
        let queued = run.jobs.iter().filter(|j| j.queued.is_some()).count();

        // Each cycle of the continuous loop is what one Lambda invocation would do, so the
        // time between cycle starts is an invocation's billed duration.
        let cycles: Vec<Duration> = run
            .cycle_starts
            .windows(2)
            .map(|w| between(w[0], w[1]))
            .collect();
        let billed = if cycles.is_empty() {
            settings.window
        } else {
            cycles.iter().sum::<Duration>() / u32::try_from(cycles.len()).unwrap_or(u32::MAX)
        };
        let overhead = billed.saturating_sub(settings.window);
        let cost = LambdaCost::monthly(settings.schedule, billed, settings.memory_mb);
        let cost_default_window = LambdaCost::monthly(
            settings.schedule,
            settings.template_window + overhead,
            settings.memory_mb,
        );

        let mut failures = Vec::new();
        for job in &run.jobs {
            if !job.as_planned() {
                let wanted = if job.kind == Kind::Cancelled {
                    "cancelled"
                } else {
                    "completed"
                };
                failures.push(format!(
                    "job {} ({}) was not {wanted}: {}{}",
                    job.index + 1,
                    job.name,
                    job.state,
                    job.result
                        .as_ref()
                        .map(|r| format!(", result {r}"))
                        .unwrap_or_default()
                ));
            }
        }
        if left > settings.min_runners as usize {
            failures.push(format!(
                "{left} instances left at the end, more than MIN_RUNNERS={}",
                settings.min_runners
            ));
        }
        if let Some(f) = &run.ghaec2_failure {
            failures.push(format!("ghaec2: {f}"));
        }
        failures.extend(status::failures(run.status.as_ref()));

        Self {
            queued,
            planned: run.jobs.len(),
            completed,
            to_complete: planned_to_complete.len(),
            cancelled_as_planned,
            to_launch: Distribution::of(&to_launch),
            to_start: Distribution::of(&to_start),
            warm: picks.iter().filter(|p| p.warm).count(),
            to_launch_cold: Distribution::of(&to_launch_cold),
            launched: run.instances.len(),
            terminated,
            after_job,
            left,
            calls: run.calls.values().sum(),
            sessions_created: run.sessions_created,
            cycles: run.cycle_starts.len(),
            billed,
            cost,
            cost_default_window,
            status: run
                .status
                .as_ref()
                .map_or_else(|| "did not run".to_owned(), MidBurst::line),
            failures,
        }
    }

    /// Actions Service calls per job enqueued.
    pub fn calls_per_job(&self) -> f64 {
        self.calls as f64 / self.queued.max(1) as f64
    }

    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The `(label, value)` rows shared by the terminal summary and the report.
    pub fn rows(&self, settings: Option<&Settings>) -> Vec<(String, String)> {
        let dist = |d: &Option<Distribution>| d.map_or_else(|| "n/a".to_owned(), |d| d.to_string());
        let memory = settings.map_or(256, |s| s.memory_mb);
        let (window, template_window) = settings.map_or((Duration::ZERO, Duration::ZERO), |s| {
            (s.window, s.template_window)
        });
        vec![
            (
                "jobs completed".to_owned(),
                format!(
                    "{} of {} queued; the other one was cancelled {}",
                    self.completed,
                    self.queued,
                    if self.cancelled_as_planned {
                        "as planned"
                    } else {
                        "but did NOT end cancelled"
                    }
                ),
            ),
            (
                "pickup, queued → runner launched".to_owned(),
                format!(
                    "{}; {} jobs were taken by a runner already up, the others waited for a new one: {}",
                    dist(&self.to_launch),
                    self.warm,
                    dist(&self.to_launch_cold)
                ),
            ),
            (
                "pickup, queued → job started".to_owned(),
                dist(&self.to_start),
            ),
            (
                "instances".to_owned(),
                format!(
                    "{} launched · {} terminated ({} after their job, {} idle scaled down) · {} left",
                    self.launched,
                    self.terminated,
                    self.after_job,
                    self.terminated - self.after_job,
                    self.left
                ),
            ),
            ("ghaec2 --status mid-burst".to_owned(), self.status.clone()),
            (
                "Actions Service calls".to_owned(),
                format!("{} in all, {:.1} per job", self.calls, self.calls_per_job()),
            ),
            (
                "sessions created".to_owned(),
                format!(
                    "{} (over {} cycles of ghaec2)",
                    self.sessions_created, self.cycles
                ),
            ),
            (
                "Lambda cost per month".to_owned(),
                format!(
                    "${:.2} at this window ({} s) and {memory} MB: {:.0} invocations × {} billed; ${:.2} at the template's {} s window",
                    self.cost.total_usd(),
                    window.as_secs(),
                    self.cost.invocations,
                    seconds(self.billed),
                    self.cost_default_window.total_usd(),
                    template_window.as_secs()
                ),
            ),
        ]
    }

    /// The summary printed at the end of the demo.
    pub fn text(&self, settings: Option<&Settings>) -> String {
        let rows = self.rows(settings);
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::from("ghaec2 demo summary\n");
        for (label, value) in rows {
            let pad = width - label.chars().count();
            let _ = writeln!(out, "  {label}{} : {value}", " ".repeat(pad));
        }
        if self.passed() {
            let _ = writeln!(out, "PASS: {PASSED}");
        } else {
            out.push_str("FAIL:\n");
            for f in &self.failures {
                let _ = writeln!(out, "  - {f}");
            }
        }
        out
    }
}

/// Seconds from `zero` to `t`, as `12.3`.
fn offset(zero: Option<DateTime<Utc>>, t: Option<DateTime<Utc>>) -> String {
    match (zero, t) {
        // Rounded to tenths, without a "-0.0" for an instant before time 0.
        (Some(zero), Some(t)) => format!(
            "{:.1}",
            ((t - zero).num_milliseconds() as f64 / 100.0).round() / 10.0 + 0.0
        ),
        _ => "–".to_owned(),
    }
}

fn opt_seconds(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".to_owned(), |d| format!("{:.1}", d.as_secs_f64()))
}

/// Markdown table cell text.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The markdown report; `chart` is the SVG's file name beside it.
pub fn markdown(run: &RunRecord, summary: &Summary, chart: &str) -> String {
    let zero = run.started;
    let mut md = String::from("# ghaec2 demo report\n\n");
    let when = zero.map_or_else(String::new, |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    });
    let length = match (run.started, run.ended) {
        (Some(a), Some(b)) => format!(
            ", {:.0} s from the first job to ghaec2's exit",
            between(a, b).as_secs_f64()
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        md,
        "Run of `make demo` on {when}{length}: ghaec2 (continuous mode) against the fake Actions \
         Service and moto_server, with a runner simulator playing the EC2 instances. Written by \
         the demo from what it measured.\n"
    );
    if summary.passed() {
        let _ = writeln!(md, "**Result: PASS** — {PASSED}.\n");
    } else {
        md.push_str("**Result: FAIL**\n\n");
        for f in &summary.failures {
            let _ = writeln!(md, "- {}", f);
        }
        md.push('\n');
    }

    md.push_str("## Summary\n\n| | |\n|---|---|\n");
    for (label, value) in summary.rows(run.settings.as_ref()) {
        let _ = writeln!(md, "| {} | {} |", cell(&label), cell(&value));
    }
    if let Some(kb) = run.peak_rss_kb {
        let _ = writeln!(
            md,
            "| ghaec2 peak RSS | {:.1} MB (debug build; Lambda bills the configured memory) |",
            kb as f64 / 1024.0
        );
    }
    let _ = writeln!(
        md,
        "\nPickup latency counts from the job's queue time at the service. \"Runner launched\" is \
         when ghaec2's CreateFleet returned the instance of the runner that took the job \
         (zero when that runner was already up); \"job started\" adds the simulated boot and the \
         JIT hand-over.\n"
    );
    let _ = writeln!(md, "![Runners and jobs over time]({chart})\n");
    if let Some(look) = &run.status {
        let report = look.text.as_ref().unwrap_or_else(|why| why);
        let _ = writeln!(
            md,
            "## `ghaec2 --status` in the middle of the burst\n\nRun {} into the workload with \
             the configuration of the ghaec2 under watch, as an operator would:\n\n```text\n{}\n```\n",
            seconds(look.at),
            report.trim_end()
        );
    }

    if let Some(s) = &run.settings {
        md.push_str("## Settings\n\n| setting | value | why |\n|---|---|---|\n");
        let rows = [
            ("MIN_RUNNERS", s.min_runners.to_string(), "one warm runner"),
            (
                "MAX_RUNNERS",
                s.max_runners.to_string(),
                "below the burst, so the cap shows",
            ),
            (
                "DRAIN_WINDOW_SECONDS",
                s.window.as_secs().to_string(),
                "several cycles in a short run (session reuse across cycles)",
            ),
            (
                "RUNNER_BOOT_TIMEOUT_SECONDS",
                s.boot_timeout.as_secs().to_string(),
                "the lowest allowed; simulated boots are quick",
            ),
            (
                "fake empty-poll hold",
                format!("{} s", s.poll_hold.as_secs_f64()),
                "the real service holds ~50 s; shorter so idle runners are scaled down within seconds of an empty poll",
            ),
            (
                "simulated boot",
                format!(
                    "{:.0}–{:.0} s",
                    s.boot_delay.0.as_secs_f64(),
                    s.boot_delay.1.as_secs_f64()
                ),
                "EC2 takes 30–90 s; compressed",
            ),
            ("workload seed", s.seed.to_string(), "same seed, same plan"),
            (
                "cost estimate",
                format!(
                    "one invocation per {} s, {} MB",
                    s.schedule.as_secs(),
                    s.memory_mb
                ),
                "template.yaml defaults",
            ),
        ];
        for (name, value, why) in rows {
            let name = if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                format!("`{name}`")
            } else {
                name.to_owned()
            };
            let _ = writeln!(md, "| {name} | {} | {why} |", cell(&value));
        }
        md.push('\n');
    }

    md.push_str("## ghaec2's decisions\n\n");
    let capped = run
        .decisions
        .iter()
        .filter(|d| d.capped_by.iter().any(|c| c == "max"))
        .count();
    let launched: u64 = run.decisions.iter().map(|d| d.launched).sum();
    let terminated: u64 = run.decisions.iter().map(|d| d.terminated).sum();
    let peak = run.decisions.iter().map(|d| d.desired).max().unwrap_or(0);
    let _ = writeln!(
        md,
        "{} decision records; peak desired {peak}; {capped} capped by `MAX_RUNNERS`; {launched} launches and {terminated} terminations decided.",
        run.decisions.len()
    );
    if let Some(last) = run.decisions.last() {
        let _ = writeln!(md, "Last: `{last}`.");
    }

    md.push_str("\n## Actions Service calls by endpoint\n\n| endpoint | calls |\n|---|---|\n");
    let mut calls: Vec<(&String, &usize)> = run.calls.iter().collect();
    calls.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (endpoint, n) in calls {
        let _ = writeln!(md, "| `{endpoint}` | {n} |");
    }

    let launches = launches_by_runner(&run.instances, &run.launched_at);
    let picks: HashMap<usize, Pickup> = pickups(&run.jobs, &launches)
        .into_iter()
        .map(|p| (p.index, p))
        .collect();
    md.push_str("\n## Jobs\n\nTimes in seconds from the first job.\n\n| # | job | kind | repo | run for | queued | → launched | → started | finished | result |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for job in &run.jobs {
        let p = picks.get(&job.index);
        let launched = p.map_or_else(
            || "–".to_owned(),
            |p| {
                let s = opt_seconds(p.to_launch);
                if p.warm { format!("{s} (warm)") } else { s }
            },
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.0} s | {} | {} | {} | {} | {} |",
            job.index + 1,
            cell(&job.name),
            job.kind.label(),
            cell(&job.repository),
            job.duration.as_secs_f64(),
            offset(zero, job.queued),
            launched,
            opt_seconds(p.and_then(|p| p.to_start)),
            offset(zero, job.finished),
            job.result.as_deref().unwrap_or(&job.state)
        );
    }

    md.push_str("\n## Instances\n\n| instance | runner | launched | boot | runner online | ended | how |\n|---|---|---|---|---|---|---|\n");
    let mut instances = run.instances.clone();
    instances.sort_by_key(|i| i.first_seen);
    for i in &instances {
        let job = ran_a_job(i, &run.jobs);
        let how = match (i.phase, job) {
            (Phase::Booting, _) => "still booting".to_owned(),
            (Phase::Online, _) => "still up (idle)".to_owned(),
            (Phase::PoweredOff, true) => "job done; powered itself off".to_owned(),
            (Phase::PoweredOff, false) => i
                .note
                .clone()
                .unwrap_or_else(|| "powered itself off".to_owned()),
            (Phase::TerminatedByGhaec2, true) => {
                "job done; terminated by ghaec2 before it powered off".to_owned()
            }
            (Phase::TerminatedByGhaec2, false) => "idle; scaled down by ghaec2".to_owned(),
        };
        let launched = run.launched_at.get(&i.id).copied().or(i.launch_time);
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            i.id,
            cell(i.runner_name.as_deref().unwrap_or("–")),
            offset(zero, launched.or(Some(i.first_seen))),
            seconds(i.boot_delay),
            offset(zero, i.online_at),
            offset(zero, i.ended_at),
            cell(&how)
        );
    }

    if !run.simulator_errors.is_empty() {
        md.push_str("\n## Simulator errors\n\n");
        for e in &run.simulator_errors {
            let _ = writeln!(md, "- {}", cell(e));
        }
    }
    md.push_str("\nFiles beside this report: the chart, `timeline.csv` (the samples), `ghaec2.log` (ghaec2's JSON log).\n");
    md
}

/// The samples as CSV.
pub fn timeline_csv(samples: &[Sample]) -> String {
    let mut out = String::from(
        "t_seconds,desired,instances,busy_runners,jobs_waiting,jobs_running,jobs_done\n",
    );
    for s in samples {
        let _ = writeln!(
            out,
            "{:.1},{},{},{},{},{},{}",
            s.t,
            s.desired.map(|d| d.to_string()).unwrap_or_default(),
            s.instances,
            s.busy,
            s.waiting,
            s.running,
            s.done
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Shown;

    fn t(s: f64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + (s * 1000.0) as i64).unwrap()
    }

    fn job(
        index: usize,
        kind: Kind,
        queued: f64,
        started: Option<f64>,
        runner: Option<&str>,
        result: Option<&str>,
    ) -> JobOutcome {
        JobOutcome {
            index,
            name: format!("job {index}"),
            kind,
            repository: "api".to_owned(),
            duration: Duration::from_secs(10),
            request_id: Some(index as u64 + 1),
            queued: Some(t(queued)),
            started: started.map(t),
            finished: result.map(|_| t(queued + 30.0)),
            runner_name: runner.map(str::to_owned),
            result: result.map(str::to_owned),
            state: if result.is_some() {
                "completed"
            } else {
                "assigned"
            }
            .to_owned(),
        }
    }

    fn instance(id: &str, runner: &str, seen: f64, phase: Phase) -> InstanceRecord {
        InstanceRecord {
            id: id.to_owned(),
            runner_name: Some(runner.to_owned()),
            launch_time: Some(t(seen.floor())),
            first_seen: t(seen),
            ec2_state: "running".to_owned(),
            phase,
            boot_delay: Duration::from_secs(4),
            jit_fetched_at: None,
            online_at: Some(t(seen + 4.0)),
            runner_id: Some(1),
            // A powered-off instance ran a job; the others did not.
            job: (phase == Phase::PoweredOff).then_some(1),
            ended_at: None,
            note: None,
        }
    }

    #[test]
    fn pairs_jobs_with_the_launch_of_the_runner_that_took_them() {
        let jobs = [
            job(
                0,
                Kind::Trickle,
                10.0,
                Some(15.0),
                Some("r-b"),
                Some("succeeded"),
            ),
            // Taken by the warm runner launched before it was queued.
            job(
                1,
                Kind::Trickle,
                20.0,
                Some(20.2),
                Some("r-a"),
                Some("succeeded"),
            ),
            // Never started: no pickup.
            job(2, Kind::Cancelled, 30.0, None, None, Some("canceled")),
        ];
        let launches = HashMap::from([("r-a".to_owned(), t(0.0)), ("r-b".to_owned(), t(10.4))]);
        let p = pickups(&jobs, &launches);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].to_launch, Some(Duration::from_millis(400)));
        assert_eq!(p[0].to_start, Some(Duration::from_secs(5)));
        assert!(!p[0].warm);
        assert_eq!(p[1].to_launch, Some(Duration::ZERO));
        assert_eq!(p[1].to_start, Some(Duration::from_millis(200)));
        assert!(p[1].warm);
    }

    #[test]
    fn launch_times_prefer_ghaec2s_log_then_ec2_then_first_seen() {
        let mut a = instance("i-a", "r-a", 5.7, Phase::Online);
        let b = instance("i-b", "r-b", 8.3, Phase::Online);
        a.launch_time = None;
        let mut c = instance("i-c", "r-c", 9.5, Phase::Online);
        c.launch_time = None;
        let logged = HashMap::from([("i-a".to_owned(), t(5.1)), ("i-b".to_owned(), t(8.1))]);
        let l = launches_by_runner(&[a, b, c], &logged);
        assert_eq!(l["r-a"], t(5.1));
        assert_eq!(l["r-b"], t(8.1));
        assert_eq!(l["r-c"], t(9.5));
    }

    fn record() -> RunRecord {
        RunRecord {
            settings: Some(Settings {
                seed: 1,
                min_runners: 1,
                max_runners: 10,
                window: Duration::from_secs(20),
                boot_timeout: Duration::from_secs(30),
                poll_hold: Duration::from_secs(5),
                boot_delay: (Duration::from_secs(3), Duration::from_secs(8)),
                schedule: Duration::from_secs(60),
                memory_mb: 256,
                template_window: Duration::from_secs(60),
            }),
            started: Some(t(0.0)),
            ended: Some(t(100.0)),
            jobs: vec![
                job(
                    0,
                    Kind::Trickle,
                    1.0,
                    Some(6.0),
                    Some("r-b"),
                    Some("succeeded"),
                ),
                job(
                    1,
                    Kind::Burst,
                    2.0,
                    Some(9.0),
                    Some("r-c"),
                    Some("succeeded"),
                ),
                job(
                    2,
                    Kind::Cancelled,
                    3.0,
                    Some(3.5),
                    Some("r-a"),
                    Some("canceled"),
                ),
            ],
            instances: vec![
                instance("i-a", "r-a", 0.0, Phase::Online),
                instance("i-b", "r-b", 1.5, Phase::PoweredOff),
                instance("i-c", "r-c", 2.5, Phase::TerminatedByGhaec2),
            ],
            launched_at: HashMap::new(),
            calls: BTreeMap::from([
                ("messages.get".to_owned(), 20),
                ("generatejitconfig".to_owned(), 3),
                ("sessions.create".to_owned(), 1),
            ]),
            sessions_created: 1,
            decisions: vec![Decision {
                desired: 3,
                current: 3,
                capped_by: vec!["max".to_owned()],
                ..Decision::default()
            }],
            cycle_starts: vec![t(0.0), t(21.0), t(42.0), t(63.0)],
            samples: vec![Sample::default()],
            peak_rss_kb: Some(20480),
            ghaec2_failure: None,
            simulator_errors: Vec::new(),
            status: Some(MidBurst {
                at: Duration::from_millis(45_500),
                shown: Ok(Shown {
                    scale_sets: 1,
                    runners: 3,
                    busy: 2,
                    ..Shown::default()
                }),
                text: Ok("scale set ghaec2-demo (id 1)\n  runners:    3\n".to_owned()),
                took: Duration::from_millis(250),
            }),
        }
    }

    #[test]
    fn summary_of_a_good_run_passes() {
        let mut run = record();
        run.launched_at.insert("i-b".to_owned(), t(1.5));
        let s = Summary::of(&run);
        assert!(s.passed(), "{:?}", s.failures);
        assert_eq!((s.queued, s.completed, s.to_complete), (3, 2, 2));
        assert!(s.cancelled_as_planned);
        assert_eq!(
            (s.launched, s.terminated, s.after_job, s.left),
            (3, 2, 2, 1)
        );
        assert_eq!(s.calls, 24);
        assert!((s.calls_per_job() - 8.0).abs() < 1e-9);
        assert_eq!(s.billed, Duration::from_secs(21));
        assert_eq!(s.cycles, 4);
        // 43,200 × 21 s × 0.25 GB and, at the template's 60 s window, 43,200 × 61 s × 0.25 GB.
        assert_eq!(s.cost.gb_seconds.round(), 226_800.0);
        assert_eq!(s.cost_default_window.gb_seconds.round(), 658_800.0);
        assert_eq!(s.to_start.unwrap().count, 3);
        let text = s.text(run.settings.as_ref());
        assert!(text.contains("jobs completed"));
        assert!(text.contains("2 of 3 queued; the other one was cancelled as planned"));
        assert!(text.contains(
            "3 launched · 2 terminated (2 after their job, 0 idle scaled down) · 1 left"
        ));
        assert!(text.contains("sessions created"));
        // Job 1 waited 0.5 s for its runner (ghaec2's log), job 2 none (EC2's launch time,
        // whole seconds); job 3 took the runner up since time 0.
        let cold = s.to_launch_cold.unwrap();
        assert_eq!((cold.count, cold.max), (2, Duration::from_millis(500)));
        assert!(text.contains("1 jobs were taken by a runner already up"));
        assert!(text.contains("$3.03 at this window (20 s) and 256 MB"));
        let status = text
            .lines()
            .find(|l| l.trim_start().starts_with("ghaec2 --status mid-burst "))
            .unwrap_or_default();
        assert!(
            status.ends_with(" : at 45.500 s: exit 0, 3 runners, 2 busy; spawn → exit 0.250 s"),
            "{text}"
        );
        assert!(text.ends_with(&format!("PASS: {PASSED}\n")), "{text}");
    }

    #[test]
    fn unfinished_jobs_a_completed_cancel_and_leftover_instances_fail() {
        let mut run = record();
        run.jobs[0] = job(0, Kind::Trickle, 1.0, None, None, None);
        run.jobs[2].result = Some("succeeded".to_owned());
        run.instances[1].phase = Phase::Online;
        let s = Summary::of(&run);
        assert!(!s.passed());
        assert_eq!(s.failures.len(), 3, "{:?}", s.failures);
        assert!(s.failures[0].starts_with("job 1 (job 0) was not completed: assigned"));
        assert!(s.failures[1].contains("was not cancelled"));
        assert!(s.failures[2].starts_with("2 instances left"));
        assert!(s.text(None).contains("FAIL:\n  - job 1"));
    }

    #[test]
    fn a_status_that_never_ran_or_showed_no_busy_runner_fails() {
        let mut run = record();
        run.status = None;
        let s = Summary::of(&run);
        assert_eq!(s.failures, ["ghaec2 --status did not run during the burst"]);
        assert!(s.text(None).contains(" : did not run\n"));
        assert!(!markdown(&run, &s, "t.svg").contains("in the middle of the burst\n\nRun"));
        let mut run = record();
        if let Some(look) = run.status.as_mut() {
            look.shown = Ok(Shown::default());
        }
        let s = Summary::of(&run);
        assert!(!s.passed());
        assert!(
            s.failures[0].contains("showed no busy runner"),
            "{:?}",
            s.failures
        );
    }

    #[test]
    fn markdown_report_has_summary_chart_and_tables_and_no_secret() {
        let run = record();
        let s = Summary::of(&run);
        let md = markdown(&run, &s, "timeline.svg");
        assert!(md.starts_with("# ghaec2 demo report\n"));
        assert!(md.contains("**Result: PASS**"));
        assert!(md.contains(
            "## `ghaec2 --status` in the middle of the burst\n\nRun 45.500 s into the workload"
        ));
        assert!(md.contains("```text\nscale set ghaec2-demo (id 1)\n  runners:    3\n```\n"));
        assert!(md.contains("![Runners and jobs over time](timeline.svg)"));
        assert!(md.contains("| jobs completed | 2 of 3 queued"));
        assert!(md.contains("| `messages.get` | 20 |"));
        assert!(md.contains("| 3 | job 2 | cancelled |"));
        assert!(md.contains("| `i-c` | r-c |"));
        assert!(md.contains("terminated by ghaec2"));
        assert!(md.contains("1 decision records; peak desired 3; 1 capped by `MAX_RUNNERS`"));
        assert!(!md.contains("ghp_"));
    }

    #[test]
    fn offsets_are_tenths_of_a_second_without_negative_zero() {
        assert_eq!(offset(Some(t(10.0)), Some(t(9.96))), "0.0");
        assert_eq!(offset(Some(t(10.0)), Some(t(12.34))), "2.3");
        assert_eq!(offset(Some(t(10.0)), Some(t(8.0))), "-2.0");
        assert_eq!(offset(Some(t(10.0)), None), "–");
    }

    #[test]
    fn csv_has_a_row_per_sample() {
        let samples = [
            Sample {
                t: 0.0,
                desired: None,
                instances: 1,
                ..Sample::default()
            },
            Sample {
                t: 1.0,
                desired: Some(3),
                instances: 1,
                waiting: 2,
                ..Sample::default()
            },
        ];
        let csv = timeline_csv(&samples);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], "0.0,,1,0,0,0,0");
        assert_eq!(lines[2], "1.0,3,1,0,2,0,0");
    }
}
