//! `make demo`: ghaec2 end to end on this machine. Starts the fake Actions Service in this
//! process, prepares the AWS side in the moto_server of `AWS_ENDPOINT_URL` (started by
//! `scripts/with-moto.sh`), runs ghaec2 in continuous mode, drives a seeded workload, plays
//! the instances with the runner simulator, shows a live view, prints `ghaec2 --status` once in
//! the middle of the burst, and ends with a summary and a report in `target/demo/`. Exit
//! status: 0 passed, 1 a job was not completed, more than `MIN_RUNNERS` instances are left or
//! `ghaec2 --status` failed or showed no busy runner, 2 set-up error, 130 interrupted.
//!
//! Usage: `demo --ghaec2 <path> [--out <dir>] [--seed <n>]`

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghaec2_demo::chart::{self, Sample};
use ghaec2_demo::report::{self, JobOutcome, RunRecord, Settings, Summary};
use ghaec2_demo::simulator::{FleetCounts, Simulator, SimulatorOptions};
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::status::{self, MidBurst};
use ghaec2_demo::template::Configured;
use ghaec2_demo::view::{self, Decision, JobCounts, ViewState};
use ghaec2_demo::workload::{Action, Kind, Plan};
use ghaec2_demo::{Ghaec2Process, LogLine, StandIns, StandInsOptions};
use ghaec2_fake::endpoints::SESSIONS_CREATE;
use ghaec2_fake::{Fake, FakeOptions, JobSpec, JobState, Mode};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

const SCALE_SET: &str = "ghaec2-demo";
const MIN_RUNNERS: u32 = 1;
const MAX_RUNNERS: u32 = 12;
const WINDOW: Duration = Duration::from_secs(20);
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// The fake's empty-poll hold: below the window, so empty polls (and the scale-down that
/// follows them) happen within every cycle.
const POLL_HOLD: Duration = Duration::from_secs(5);
const DEFAULT_SEED: u64 = 2026;
/// Lambda schedule of the cost estimate (template.yaml's default `rate(1 minute)`).
const SCHEDULE: Duration = Duration::from_secs(60);
/// How long ghaec2 may take to start polling.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// After the last job is enqueued: time for the jobs to finish and the fleet to shrink.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(150);
/// How long ghaec2 may take to exit after SIGTERM (it persists and deletes its session).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// After the burst's last job is enqueued: how long `--status` may wait to find a runner
/// recorded busy, before it is printed whatever it shows.
const STATUS_PATIENCE: Duration = Duration::from_secs(20);

struct Args {
    ghaec2: PathBuf,
    out: PathBuf,
    seed: u64,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut ghaec2 = None;
    let mut out = repo_root().join("target").join("demo");
    let mut seed = DEFAULT_SEED;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--ghaec2" => ghaec2 = Some(PathBuf::from(value()?)),
            "--out" => out = PathBuf::from(value()?),
            "--seed" => {
                let v = value()?;
                seed = v
                    .parse()
                    .map_err(|_| format!("--seed {v}: expected a whole number"))?;
            }
            "-h" | "--help" => {
                return Err("usage: demo --ghaec2 <path> [--out <dir>] [--seed <n>]".to_owned());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        ghaec2: ghaec2.ok_or("--ghaec2 <path to the ghaec2 binary> is required")?,
        out,
        seed,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    Interrupted,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        signal().await;
        let _ = stop_tx.send(true);
    });
    match run(args, stop_rx).await {
        Ok(Verdict::Passed) => ExitCode::SUCCESS,
        Ok(Verdict::Failed) => ExitCode::from(1),
        Ok(Verdict::Interrupted) => {
            eprintln!("demo: interrupted; ghaec2 and the fake are stopped");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::from(2)
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Progress before and after the live view, on stderr so stdout keeps the view and summary.
fn say(text: &str) {
    eprintln!("demo: {text}");
}

/// What ghaec2's log told so far.
struct Logs {
    rx: mpsc::UnboundedReceiver<LogLine>,
    closed: bool,
    polling: bool,
    decisions: Vec<Decision>,
    cycle_starts: Vec<DateTime<Utc>>,
    launched_at: HashMap<String, DateTime<Utc>>,
    last_error: Option<String>,
}

impl Logs {
    fn new(rx: mpsc::UnboundedReceiver<LogLine>) -> Self {
        Self {
            rx,
            closed: false,
            polling: false,
            decisions: Vec::new(),
            cycle_starts: Vec::new(),
            launched_at: HashMap::new(),
            last_error: None,
        }
    }

    fn drain(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(line) => self.take(&line),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Waits for the remaining lines of an exited ghaec2.
    async fn finish(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.take(&line);
        }
        self.closed = true;
    }

    fn take(&mut self, line: &LogLine) {
        let json = &line.json;
        let at = json
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(line.at, |t| t.with_timezone(&Utc));
        if json.get("level").and_then(Value::as_str) == Some("ERROR") {
            self.last_error = line.msg().map(str::to_owned);
        }
        match line.msg() {
            Some("Starting Actions Service message polling") => {
                self.polling = true;
                self.cycle_starts.push(at);
            }
            Some("Launched instances.") => {
                // `instance_ids` is logged with Debug: `["i-…", "i-…"]`.
                let ids = json
                    .get("instance_ids")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for id in ids.split('"').filter(|s| s.starts_with("i-")) {
                    self.launched_at.insert(id.to_owned(), at);
                }
            }
            _ => {
                if let Some(d) = Decision::from_log(json) {
                    self.decisions.push(d);
                }
            }
        }
    }
}

/// The demo's whole run.
async fn run(args: Args, mut stop: watch::Receiver<bool>) -> Result<Verdict> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let template = std::fs::read_to_string(repo_root().join("template.yaml"))
        .map_err(|e| format!("reading template.yaml: {e}"))?;
    let template = Configured::from_template(&template)?;
    let sim_options = SimulatorOptions {
        seed: args.seed,
        ..SimulatorOptions::default()
    };
    let settings = Settings {
        seed: args.seed,
        min_runners: MIN_RUNNERS,
        max_runners: MAX_RUNNERS,
        window: WINDOW,
        boot_timeout: BOOT_TIMEOUT,
        poll_hold: POLL_HOLD,
        boot_delay: sim_options.boot_delay,
        schedule: SCHEDULE,
        memory_mb: template.memory_mb,
        template_window: template.window,
    };

    say(
        "preparing the stand-ins: fake Actions Service (in this process), table, VPC, subnets, security group, AMI and instance profile in moto",
    );
    let stand_ins = StandIns::start(StandInsOptions {
        fake: FakeOptions::default()
            .with_mode(Mode::Dotcom)
            .with_poll_hold(POLL_HOLD),
        ..StandInsOptions::default()
    })
    .await?;
    let fake = stand_ins.fake.fake();
    let log_path = args.out.join("ghaec2.log");
    let _ = std::fs::remove_file(&log_path);
    let env: Vec<(String, String)> = [
        ("RUNNER_SCALE_SET_NAME", SCALE_SET.to_owned()),
        ("MIN_RUNNERS", MIN_RUNNERS.to_string()),
        ("MAX_RUNNERS", MAX_RUNNERS.to_string()),
        ("DRAIN_WINDOW_SECONDS", WINDOW.as_secs().to_string()),
        (
            "RUNNER_BOOT_TIMEOUT_SECONDS",
            BOOT_TIMEOUT.as_secs().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut ghaec2 = stand_ins
        .spawn_ghaec2(&args.ghaec2, &[], &env, &log_path)
        .await?;
    let mut logs = Logs::new(std::mem::replace(
        &mut ghaec2.lines,
        mpsc::unbounded_channel().1,
    ));
    say(&format!(
        "ghaec2 started (pid {}, continuous mode, MIN_RUNNERS={MIN_RUNNERS}, MAX_RUNNERS={MAX_RUNNERS}, DRAIN_WINDOW_SECONDS={}); its log: {}",
        ghaec2.pid(),
        WINDOW.as_secs(),
        log_path.display()
    ));

    // Until ghaec2 listens.
    let started = Instant::now();
    while !logs.polling {
        logs.drain();
        if *stop.borrow() {
            return interrupted(ghaec2, stand_ins, None).await;
        }
        if logs.closed {
            let why = logs.last_error.clone().unwrap_or_default();
            let _ = ghaec2.stop().await;
            stand_ins.fake.shutdown().await;
            return Err(format!(
                "ghaec2 exited during start-up: {why} (see {})",
                log_path.display()
            )
            .into());
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = ghaec2.stop().await;
            stand_ins.fake.shutdown().await;
            return Err(format!(
                "ghaec2 did not start polling within {} s (see {})",
                START_TIMEOUT.as_secs(),
                log_path.display()
            )
            .into());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => {}
        }
    }
    let scale_set_id = fake
        .scale_set_id(SCALE_SET)
        .ok_or("ghaec2 polls, but the fake has no scale set named ghaec2-demo")?;

    let simulator = Simulator::start(&stand_ins, scale_set_id, sim_options);
    let plan = Plan::generate(args.seed);
    say(&format!(
        "scale set {scale_set_id} is listening; workload: {} jobs over {} s (seed {})",
        plan.jobs.len(),
        plan.span().as_secs(),
        args.seed
    ));
    let workload_start = Instant::now();
    let started_at = Utc::now();
    let enqueued: Arc<Mutex<Vec<Option<u64>>>> = Arc::new(Mutex::new(vec![None; plan.jobs.len()]));
    let driver = tokio::spawn(drive(
        fake.clone(),
        plan.clone(),
        workload_start,
        enqueued.clone(),
    ));

    // The live view, until every job is finished and the fleet is back to MIN_RUNNERS.
    let tty = std::io::stdout().is_terminal();
    let deadline = workload_start + plan.span() + SETTLE_TIMEOUT;
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut settled_ticks = 0;
    let mut n = 0u64;
    let mut ghaec2_failure = None;
    let burst_enqueued = plan.last_of(Kind::Burst).unwrap_or_else(|| plan.span());
    let mut look: Option<MidBurst> = None;
    let mut look_framed = String::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            driver.abort();
            return interrupted(ghaec2, stand_ins, Some(simulator)).await;
        }
        logs.drain();
        let snapshot = fake.state();
        let ids: Vec<u64> = lock(&enqueued).iter().flatten().copied().collect();
        let jobs: Vec<_> = snapshot
            .jobs
            .iter()
            .filter(|j| ids.contains(&j.runner_request_id))
            .cloned()
            .collect();
        let job_counts = JobCounts::of(&jobs);
        let fleet = simulator.counts();
        let all_enqueued = ids.len() == plan.jobs.len();
        let all_finished = all_enqueued && job_counts.finished() == plan.jobs.len();
        let settled = all_finished && fleet.live() <= MIN_RUNNERS as usize;
        let stage = match (all_enqueued, all_finished, settled) {
            (false, _, _) => "workload",
            (true, false, _) => "last jobs running",
            (true, true, false) => "waiting for scale-down",
            (true, true, true) => "settled",
        };
        let elapsed = workload_start.elapsed();
        samples.push(sample(elapsed, &logs, fleet, job_counts));
        let state = ViewState {
            elapsed,
            stage: stage.to_owned(),
            planned: plan.jobs.len(),
            enqueued: ids.len(),
            jobs: job_counts,
            fleet,
            bounds: (MIN_RUNNERS, MAX_RUNNERS),
            decision: logs.decisions.last().cloned(),
            decisions: logs.decisions.len(),
            sessions: fake
                .calls_to(SESSIONS_CREATE)
                .iter()
                .filter(|c| c.status < 300)
                .count(),
            calls: fake.calls().len(),
        };
        let mut out = std::io::stdout().lock();
        if tty {
            let _ = write!(out, "\x1b[H\x1b[J{}{look_framed}", view::screen(&state));
        } else if n.is_multiple_of(5) || settled {
            let _ = writeln!(out, "{}", view::line(&state));
        }
        let _ = out.flush();
        drop(out);
        // In the middle of the burst, once the simulator has a runner on a job.
        let last_try = elapsed >= burst_enqueued + STATUS_PATIENCE;
        if look.is_none() && elapsed >= burst_enqueued && (fleet.busy > 0 || last_try) {
            look = look_at_status(&stand_ins, &args.ghaec2, &env, elapsed, last_try).await;
            if let Some(l) = &look {
                look_framed = format!("\n{}", l.framed());
                if !tty {
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "{look_framed}");
                    let _ = out.flush();
                }
            }
        }
        n += 1;
        // Twice in a row, so a launch DescribeInstances has not shown yet cannot fool it.
        settled_ticks = if settled { settled_ticks + 1 } else { 0 };
        if settled_ticks >= 2 {
            break;
        }
        if logs.closed {
            ghaec2_failure = Some(format!(
                "exited during the run: {}",
                logs.last_error.clone().unwrap_or_default()
            ));
            break;
        }
        if Instant::now() > deadline {
            say("gave up waiting for the jobs to finish and the fleet to shrink");
            break;
        }
    }
    driver.abort();

    say("stopping ghaec2 (SIGTERM: it finishes the message, persists and deletes its session)");
    let peak_rss_kb = peak_rss_kb(ghaec2.pid());
    match tokio::time::timeout(STOP_TIMEOUT, ghaec2.stop()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => {
            ghaec2_failure.get_or_insert(format!("exited with {status} after SIGTERM"));
        }
        Ok(Err(e)) => {
            ghaec2_failure.get_or_insert(format!("stopping it: {e}"));
        }
        // Dropping the stop future kills the child.
        Err(_) => {
            ghaec2_failure.get_or_insert(format!(
                "did not exit within {} s of SIGTERM; killed",
                STOP_TIMEOUT.as_secs()
            ));
        }
    }
    logs.finish().await;
    let ended = Utc::now();

    let snapshot = fake.state();
    let ids = lock(&enqueued).clone();
    let jobs = plan
        .jobs
        .iter()
        .map(|p| {
            let job = ids[p.index]
                .and_then(|id| snapshot.jobs.iter().find(|j| j.runner_request_id == id));
            JobOutcome {
                index: p.index,
                name: p.name.clone(),
                kind: p.kind,
                repository: p.repository.to_owned(),
                duration: p.duration,
                request_id: ids[p.index],
                queued: job.map(|j| j.queue_time),
                started: job.and_then(|j| j.runner_assign_time),
                finished: job.and_then(|j| j.finish_time),
                runner_name: job.and_then(|j| j.runner_name.clone()),
                result: job.and_then(|j| j.result.clone()),
                state: job.map_or_else(|| "never enqueued".to_owned(), |j| state_name(j.state)),
            }
        })
        .collect();
    let calls = fake.calls();
    let mut by_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for call in &calls {
        *by_endpoint.entry(call.endpoint.clone()).or_default() += 1;
    }
    let sessions_created = calls
        .iter()
        .filter(|c| c.endpoint == SESSIONS_CREATE && c.status < 300)
        .count();
    let record = RunRecord {
        settings: Some(settings),
        started: Some(started_at),
        ended: Some(ended),
        jobs,
        instances: simulator.instances(),
        launched_at: logs.launched_at.clone(),
        calls: by_endpoint,
        sessions_created,
        decisions: logs.decisions.clone(),
        cycle_starts: logs.cycle_starts.clone(),
        samples,
        peak_rss_kb,
        ghaec2_failure,
        simulator_errors: simulator.errors(),
        status: look,
    };
    simulator.stop();
    stand_ins.fake.shutdown().await;

    let summary = Summary::of(&record);
    write_report(&args.out, &record, &summary)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n{}report: {}",
        summary.text(record.settings.as_ref()),
        args.out.join("report.md").display()
    );
    Ok(if summary.passed() {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

/// `ghaec2 --status` with the configuration of the ghaec2 under watch: `--json` to check that
/// it shows a busy runner, then the text to print. `None` while the JSON shows none busy and
/// this is not the last try: the ledger records a runner busy only once ghaec2 has heard that
/// its job started.
async fn look_at_status(
    stand_ins: &StandIns,
    ghaec2: &Path,
    env: &[(String, String)],
    at: Duration,
    last_try: bool,
) -> Option<MidBurst> {
    let json = status::run(stand_ins.command(ghaec2, &["--status", "--json"], env)).await;
    let shown = json.and_then(|ran| match ran.failure() {
        Some(why) => Err(why),
        None => status::shown(&ran.stdout),
    });
    if matches!(&shown, Ok(s) if s.busy == 0) && !last_try {
        return None;
    }
    let (text, took) = match status::run(stand_ins.command(ghaec2, &["--status"], env)).await {
        Ok(ran) => (ran.failure().map_or(Ok(ran.stdout.clone()), Err), ran.took),
        Err(e) => (Err(e), Duration::ZERO),
    };
    Some(MidBurst {
        at,
        shown,
        text,
        took,
    })
}

/// Enqueues and cancels the plan's jobs at their times.
async fn drive(fake: Fake, plan: Plan, start: Instant, enqueued: Arc<Mutex<Vec<Option<u64>>>>) {
    for (at, action) in plan.actions() {
        tokio::time::sleep_until(start + at).await;
        match action {
            Action::Enqueue(i) => {
                let job = &plan.jobs[i];
                let spec = JobSpec {
                    labels: vec![SCALE_SET.to_owned()],
                    duration_ms: Some(u64::try_from(job.duration.as_millis()).unwrap_or(u64::MAX)),
                    repository_name: Some(job.repository.to_owned()),
                    owner_name: Some("my-org".to_owned()),
                    job_display_name: Some(job.name.clone()),
                    ..JobSpec::default()
                };
                match fake.enqueue_job(spec) {
                    Ok(j) => lock(&enqueued)[i] = Some(j.runner_request_id),
                    Err(e) => say(&format!("enqueueing job {}: {e}", i + 1)),
                }
            }
            Action::Cancel(i) => {
                if let Some(id) = lock(&enqueued)[i]
                    && let Err(e) = fake.cancel_job(id)
                {
                    say(&format!("cancelling job {}: {e}", i + 1));
                }
            }
        }
    }
}

fn sample(elapsed: Duration, logs: &Logs, fleet: FleetCounts, jobs: JobCounts) -> Sample {
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Sample {
        t: elapsed.as_secs_f64(),
        desired: logs
            .decisions
            .last()
            .map(|d| u32::try_from(d.desired).unwrap_or(u32::MAX)),
        instances: n(fleet.live()),
        busy: n(fleet.busy),
        waiting: n(jobs.waiting()),
        running: n(jobs.running),
        done: n(jobs.finished()),
    }
}

fn state_name(state: JobState) -> String {
    format!("{state:?}").to_lowercase()
}

/// Ctrl-C: ghaec2 gets SIGTERM by PID (bounded wait), the simulator and the fake stop.
async fn interrupted(
    ghaec2: Ghaec2Process,
    stand_ins: StandIns,
    simulator: Option<Simulator>,
) -> Result<Verdict> {
    say("interrupted: stopping ghaec2 and the fake");
    if let Some(s) = simulator {
        s.stop();
    }
    // On timeout the future is dropped, which kills the child.
    let _ = tokio::time::timeout(Duration::from_secs(10), ghaec2.stop()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), stand_ins.fake.shutdown()).await;
    Ok(Verdict::Interrupted)
}

fn write_report(dir: &Path, record: &RunRecord, summary: &Summary) -> Result<()> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("writing {}: {e}", dir.join(name).display()))
    };
    write(
        "timeline.svg",
        &chart::svg(&record.samples, "ghaec2 demo: runners and jobs over time"),
    )?;
    write("timeline.csv", &report::timeline_csv(&record.samples))?;
    write(
        "report.md",
        &report::markdown(record, summary, "timeline.svg"),
    )?;
    Ok(())
}

/// Peak resident set of a process, kB (Linux).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
