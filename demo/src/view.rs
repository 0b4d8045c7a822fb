//! The live view: what the jobs, the instances and ghaec2 are doing, redrawn about once a
//! second on a terminal, or one plain line every few seconds when stdout is not one (CI logs).
//! Rendering is pure; the binary decides when and where.

use std::fmt;
use std::time::Duration;

use ghaec2_fake::{Job, JobState};
use serde_json::Value;

use crate::simulator::FleetCounts;

/// ghaec2's decision record: the fields of its `Reconciled.` log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The line's `time` (RFC 3339), if any.
    pub time: Option<String>,
    /// Runners wanted.
    pub desired: u64,
    /// Runners counted.
    pub current: u64,
    /// Of those, not online yet.
    pub booting: u64,
    /// Launched by this reconcile.
    pub launched: u64,
    /// Terminated by this reconcile.
    pub terminated: u64,
    /// What capped it (`max`, a capacity error code, …).
    pub capped_by: Vec<String>,
}

impl Decision {
    /// The decision of a log line, when it is one.
    pub fn from_log(json: &Value) -> Option<Self> {
        if json.get("msg").and_then(Value::as_str) != Some("Reconciled.") {
            return None;
        }
        let number = |key: &str| json.get(key).and_then(Value::as_u64).unwrap_or(0);
        Some(Self {
            time: json.get("time").and_then(Value::as_str).map(str::to_owned),
            desired: number("desired"),
            current: number("current"),
            booting: number("booting"),
            launched: number("launched"),
            terminated: number("terminated"),
            capped_by: capped_by(json.get("capped_by")),
        })
    }

    /// `hh:mm:ss` of its time.
    fn clock(&self) -> &str {
        self.time
            .as_deref()
            .and_then(|t| t.get(11..19))
            .unwrap_or("--:--:--")
    }
}

/// `capped_by` is logged with `Debug` (`["max"]`), or could be a JSON array.
fn capped_by(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(text)) => text
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} desired {} · current {} · booting {} · launched {} · terminated {}",
            self.clock(),
            self.desired,
            self.current,
            self.booting,
            self.launched,
            self.terminated
        )?;
        if !self.capped_by.is_empty() {
            write!(f, " · capped by {}", self.capped_by.join(", "))?;
        }
        Ok(())
    }
}

/// Jobs by state, as the Actions Service sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Not yet assigned to the scale set.
    pub queued: usize,
    /// Assigned, waiting for a runner.
    pub assigned: usize,
    /// Running on a runner.
    pub running: usize,
    /// Completed (any result but cancelled).
    pub done: usize,
    /// Cancelled.
    pub cancelled: usize,
}

impl JobCounts {
    /// Counts of `jobs`.
    pub fn of(jobs: &[Job]) -> Self {
        let mut c = Self::default();
        for job in jobs {
            match job.state {
                JobState::Queued | JobState::Available => c.queued += 1,
                JobState::Assigned => c.assigned += 1,
                JobState::Running => c.running += 1,
                JobState::Completed if job.result.as_deref() == Some("canceled") => {
                    c.cancelled += 1;
                }
                JobState::Completed => c.done += 1,
            }
        }
        c
    }

    /// Waiting for a runner.
    pub fn waiting(&self) -> usize {
        self.queued + self.assigned
    }

    /// Finished one way or the other.
    pub fn finished(&self) -> usize {
        self.done + self.cancelled
    }
}

/// Everything the view shows.
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    /// Since the workload started.
    pub elapsed: Duration,
    /// What the run is doing (`workload`, `draining`, `scale-down`…).
    pub stage: String,
    /// Jobs in the plan.
    pub planned: usize,
    /// Jobs enqueued so far.
    pub enqueued: usize,
    /// Jobs by state.
    pub jobs: JobCounts,
    /// Instances by state.
    pub fleet: FleetCounts,
    /// `MIN_RUNNERS` and `MAX_RUNNERS`.
    pub bounds: (u32, u32),
    /// ghaec2's last decision record.
    pub decision: Option<Decision>,
    /// Decision records so far.
    pub decisions: usize,
    /// Message sessions created so far.
    pub sessions: usize,
    /// Actions Service calls so far.
    pub calls: usize,
}

/// A bar of `n` cells, at most `width`.
fn bar(n: usize, width: usize) -> String {
    let shown = n.min(width);
    let mut s = "█".repeat(shown);
    if n > width {
        s.push('…');
    }
    s
}

/// The full-screen view (no escape codes: the caller clears the screen).
pub fn screen(v: &ViewState) -> String {
    let secs = v.elapsed.as_secs();
    let j = &v.jobs;
    let f = &v.fleet;
    let mut lines = vec![
        format!(
            "ghaec2 demo · {:02}:{:02} · {} · {}/{} jobs enqueued · MIN_RUNNERS {} · MAX_RUNNERS {}",
            secs / 60,
            secs % 60,
            v.stage,
            v.enqueued,
            v.planned,
            v.bounds.0,
            v.bounds.1
        ),
        String::new(),
        "JOBS".to_owned(),
        format!("  queued     {:>3}  {}", j.queued, bar(j.queued, 40)),
        format!("  assigned   {:>3}  {}", j.assigned, bar(j.assigned, 40)),
        format!("  running    {:>3}  {}", j.running, bar(j.running, 40)),
        format!(
            "  done       {:>3}  {}{}",
            j.done,
            bar(j.done, 40),
            if j.cancelled > 0 {
                format!("  (+{} cancelled)", j.cancelled)
            } else {
                String::new()
            }
        ),
        String::new(),
        "INSTANCES".to_owned(),
        format!("  pending    {:>3}  {}", f.pending, bar(f.pending, 40)),
        format!(
            "  running    {:>3}  {}  ({} busy, {} idle)",
            f.running,
            bar(f.running, 40),
            f.busy,
            f.running - f.busy.min(f.running)
        ),
        format!(
            "  terminated {:>3}  of {} launched",
            f.terminated, f.launched
        ),
        String::new(),
        "GHAEC2".to_owned(),
        format!(
            "  last decision  {}",
            v.decision
                .as_ref()
                .map_or_else(|| "(none yet)".to_owned(), ToString::to_string)
        ),
        format!(
            "  {} decisions · {} session(s) created · {} Actions Service calls",
            v.decisions, v.sessions, v.calls
        ),
    ];
    lines.push(String::new());
    lines.push("Ctrl-C stops everything.".to_owned());
    lines.join("\n") + "\n"
}

/// The one-line form, for logs.
pub fn line(v: &ViewState) -> String {
    let j = &v.jobs;
    let f = &v.fleet;
    let decision = v.decision.as_ref().map_or_else(
        || "no decision yet".to_owned(),
        |d| {
            let mut s = format!("desired {} current {}", d.desired, d.current);
            if !d.capped_by.is_empty() {
                s.push_str(&format!(" capped by {}", d.capped_by.join(",")));
            }
            s
        },
    );
    format!(
        "[{:>4}s] {}: jobs {}/{} enqueued, {} queued, {} assigned, {} running, {} done, {} cancelled | instances {} pending, {} running, {} terminated | ghaec2 {}",
        v.elapsed.as_secs(),
        v.stage,
        v.enqueued,
        v.planned,
        j.queued,
        j.assigned,
        j.running,
        j.done,
        j.cancelled,
        f.pending,
        f.running,
        f.terminated,
        decision
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reconciled() -> Value {
        json!({
            "time": "2026-11-27T20:01:02.345Z",
            "level": "INFO",
            "msg": "Reconciled.",
            "scale_set_id": 1,
            "desired": 12,
            "current": 12,
            "booting": 3,
            "launched": 2,
            "terminated": 0,
            "capped_by": "[\"max\"]"
        })
    }

    #[test]
    fn reads_the_decision_record() {
        let d = Decision::from_log(&reconciled()).unwrap();
        assert_eq!(
            (d.desired, d.current, d.booting, d.launched, d.terminated),
            (12, 12, 3, 2, 0)
        );
        assert_eq!(d.capped_by, vec!["max"]);
        assert_eq!(
            d.to_string(),
            "20:01:02 desired 12 · current 12 · booting 3 · launched 2 · terminated 0 · capped by max"
        );
        let mut uncapped = reconciled();
        uncapped["capped_by"] = json!("[]");
        assert!(Decision::from_log(&uncapped).unwrap().capped_by.is_empty());
        uncapped["capped_by"] = json!(["max", "InsufficientInstanceCapacity"]);
        assert_eq!(Decision::from_log(&uncapped).unwrap().capped_by.len(), 2);
        assert_eq!(
            Decision::from_log(&json!({"msg": "Launched instances."})),
            None
        );
    }

    fn state() -> ViewState {
        ViewState {
            elapsed: Duration::from_secs(75),
            stage: "workload".to_owned(),
            planned: 37,
            enqueued: 20,
            jobs: JobCounts {
                queued: 1,
                assigned: 2,
                running: 5,
                done: 11,
                cancelled: 1,
            },
            fleet: FleetCounts {
                launched: 20,
                pending: 2,
                running: 6,
                busy: 5,
                terminated: 12,
            },
            bounds: (1, 12),
            decision: Decision::from_log(&reconciled()),
            decisions: 40,
            sessions: 1,
            calls: 321,
        }
    }

    #[test]
    fn screen_shows_jobs_instances_and_the_last_decision() {
        let s = screen(&state());
        assert!(s.starts_with("ghaec2 demo · 01:15 · workload · 20/37 jobs enqueued"));
        assert!(s.contains("  running      5  █████\n"));
        assert!(s.contains("done        11  ███████████  (+1 cancelled)"));
        assert!(s.contains("  pending      2  ██\n"));
        assert!(s.contains("(5 busy, 1 idle)"));
        assert!(s.contains("terminated  12  of 20 launched"));
        assert!(s.contains("last decision  20:01:02 desired 12"));
        assert!(s.contains("40 decisions · 1 session(s) created · 321 Actions Service calls"));
        assert!(!s.contains('\x1b'));
    }

    #[test]
    fn plain_line_is_one_line() {
        let l = line(&state());
        assert!(!l.contains('\n'));
        assert!(l.starts_with("[  75s] workload: jobs 20/37 enqueued, 1 queued, 2 assigned"));
        assert!(l.ends_with("ghaec2 desired 12 current 12 capped by max"));
        let mut empty = state();
        empty.decision = None;
        assert!(line(&empty).ends_with("ghaec2 no decision yet"));
    }

    #[test]
    fn long_bars_are_cut() {
        assert_eq!(bar(3, 40), "███");
        assert_eq!(bar(45, 40).chars().count(), 41);
        assert!(bar(45, 40).ends_with('…'));
    }
}
