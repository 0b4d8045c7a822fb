//! `ghaec2 --status` as the demo and the bench run it: the same binary and configuration as
//! the ghaec2 they watch, run to its end against the same stand-ins. What its JSON document
//! shows is counted here, and the demo's look at it in the middle of the burst is judged here.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use tokio::time::Instant;

use crate::stats::seconds;

/// One run of a command to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Spawn → exit.
    pub took: Duration,
    /// Exited 0.
    pub success: bool,
    /// How it exited, e.g. `exit status: 1`.
    pub exit: String,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Why the run failed, with the last line it wrote on stderr; `None` when it exited 0.
    pub fn failure(&self) -> Option<String> {
        if self.success {
            return None;
        }
        let last = self.stderr.lines().rev().find(|l| !l.trim().is_empty());
        Some(format!(
            "{}: {}",
            self.exit,
            last.unwrap_or("nothing on stderr")
        ))
    }
}

/// Runs `command` to its end, its output captured, timed from just before the spawn.
pub async fn run(mut command: Command) -> Result<Ran, String> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    // The program only: the command's environment holds the credentials.
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let output = command
        .output()
        .await
        .map_err(|e| format!("running {program}: {e}"))?;
    Ok(Ran {
        took: started.elapsed(),
        success: output.status.success(),
        exit: output.status.to_string(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// What a `--status --json` document shows, summed over its scale sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shown {
    /// Scale sets read.
    pub scale_sets: usize,
    /// Scale sets that could not be read.
    pub errors: usize,
    /// Runners in the ledgers.
    pub runners: usize,
    /// Of those, running a job.
    pub busy: usize,
    /// Instances of a scale set without a ledger entry.
    pub orphans: usize,
    /// Scale sets whose lease is held: an invocation listening.
    pub listening: usize,
}

/// Counts what the document `{"scaleSets": [...]}` shows.
pub fn shown(document: &str) -> Result<Shown, String> {
    let value: Value = serde_json::from_str(document)
        .map_err(|e| format!("--status --json printed no JSON document ({e}): {document}"))?;
    let scale_sets = value
        .get("scaleSets")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("expected {{\"scaleSets\": [...]}}, got {value}"))?;
    let mut out = Shown::default();
    for set in scale_sets {
        out.scale_sets += 1;
        out.errors += usize::from(set.get("error").is_some());
        let list = |key: &str| set.get(key).and_then(Value::as_array).into_iter().flatten();
        for runner in list("runners") {
            out.runners += 1;
            out.busy += usize::from(runner.get("phase").and_then(Value::as_str) == Some("busy"));
        }
        out.orphans += list("mismatches")
            .filter(|m| m.get("kind").and_then(Value::as_str) == Some("orphan"))
            .count();
        out.listening += usize::from(set.pointer("/lease/listening") == Some(&Value::Bool(true)));
    }
    Ok(out)
}

/// A report set apart from what surrounds it: a heading line, the report, a closing rule.
pub fn framed(heading: &str, report: &str) -> String {
    let top = format!("── {heading} ");
    let width = top.chars().count().max(72);
    format!(
        "{top}{}\n{}\n{}\n",
        "─".repeat(width - top.chars().count()),
        report.trim_end(),
        "─".repeat(width)
    )
}

/// The demo's look at `ghaec2 --status` in the middle of the burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MidBurst {
    /// When, from the start of the workload.
    pub at: Duration,
    /// What the `--json` run showed, or why it showed nothing.
    pub shown: Result<Shown, String>,
    /// The text run: its report, or why it failed.
    pub text: Result<String, String>,
    /// Spawn → exit of the text run.
    pub took: Duration,
}

impl MidBurst {
    /// The summary's line: when, what it showed, how long it took.
    pub fn line(&self) -> String {
        match (&self.shown, &self.text) {
            (Ok(s), Ok(_)) => format!(
                "at {}: exit 0, {} runners, {} busy; spawn → exit {}",
                seconds(self.at),
                s.runners,
                s.busy,
                seconds(self.took)
            ),
            (Err(e), _) | (_, Err(e)) => format!("at {}: {e}", seconds(self.at)),
        }
    }

    /// The text report under a heading that says what it is and when it ran.
    pub fn framed(&self) -> String {
        let heading = format!(
            "ghaec2 --status, {} into the workload, the burst running",
            seconds(self.at)
        );
        let report = self
            .text
            .as_ref()
            .map_or_else(|why| format!("failed: {why}"), Clone::clone);
        framed(&heading, &report)
    }
}

/// Why the look at `--status` fails the demo: it never ran, a run failed or could not be
/// read, or it showed no busy runner. Empty when it passed.
pub fn failures(look: Option<&MidBurst>) -> Vec<String> {
    let Some(look) = look else {
        return vec!["ghaec2 --status did not run during the burst".to_owned()];
    };
    let mut out = Vec::new();
    match &look.shown {
        Ok(s) if s.errors > 0 => out.push(format!(
            "ghaec2 --status --json could not read {} scale sets",
            s.errors
        )),
        Ok(s) if s.busy == 0 => out.push(format!(
            "ghaec2 --status showed no busy runner in the middle of the burst ({} runners)",
            s.runners
        )),
        Ok(_) => {}
        Err(e) => out.push(format!("ghaec2 --status --json: {e}")),
    }
    if let Err(e) = &look.text {
        out.push(format!("ghaec2 --status: {e}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = r#"{"scaleSets": [
        {"scaleSetName": "a", "lease": {"listening": true},
         "runners": [{"phase": "busy"}, {"phase": "booting"}, {"phase": "busy"}, {"phase": "idle"}],
         "mismatches": [{"kind": "orphan"}, {"kind": "instance_gone"}]},
        {"scaleSetName": "b", "lease": {"listening": false}, "runners": [{"phase": "finishing"}],
         "mismatches": []},
        {"scaleSetName": "c", "error": "scale set c: ec2 describe instances: denied"}
    ]}"#;

    fn look(shown: Result<Shown, String>, text: Result<String, String>) -> MidBurst {
        MidBurst {
            at: Duration::from_millis(47_250),
            shown,
            text,
            took: Duration::from_millis(312),
        }
    }

    #[test]
    fn the_document_is_counted_over_its_scale_sets() {
        assert_eq!(
            shown(DOCUMENT),
            Ok(Shown {
                scale_sets: 3,
                errors: 1,
                runners: 5,
                busy: 2,
                orphans: 1,
                listening: 1,
            })
        );
        let not_json = shown("scale set a (id 1)").unwrap_err();
        assert!(not_json.contains("no JSON document"), "{not_json}");
        assert!(
            shown("{\"runners\": []}")
                .unwrap_err()
                .contains("scaleSets")
        );
    }

    #[test]
    fn a_report_is_framed_by_a_heading_and_a_rule() {
        let text = framed("ghaec2 --status", "scale set a (id 1)\n  runners:    0\n");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("── ghaec2 --status ──"), "{text}");
        assert_eq!(lines[1], "scale set a (id 1)");
        assert_eq!(lines[0].chars().count(), lines[3].chars().count());
        assert!(lines[3].chars().all(|c| c == '─'));
        // A heading wider than the rule widens it.
        let heading = "x".repeat(100);
        let wide = framed(&heading, "r");
        let (top, bottom) = (wide.lines().next().unwrap(), wide.lines().last().unwrap());
        assert!(top.contains(&heading));
        assert_eq!(top.chars().count(), bottom.chars().count());
    }

    #[test]
    fn a_clean_look_with_a_busy_runner_passes() {
        let busy = Shown {
            scale_sets: 1,
            runners: 6,
            busy: 4,
            ..Shown::default()
        };
        let good = look(Ok(busy), Ok("scale set ghaec2-demo (id 1)".to_owned()));
        assert_eq!(failures(Some(&good)), Vec::<String>::new());
        assert_eq!(
            good.line(),
            "at 47.250 s: exit 0, 6 runners, 4 busy; spawn → exit 0.312 s"
        );
        let text = good.framed();
        assert!(
            text.starts_with(
                "── ghaec2 --status, 47.250 s into the workload, the burst running ──"
            )
        );
        assert!(text.contains("\nscale set ghaec2-demo (id 1)\n"), "{text}");
    }

    #[test]
    fn no_look_a_failed_run_or_no_busy_runner_fails() {
        assert_eq!(
            failures(None),
            ["ghaec2 --status did not run during the burst"]
        );
        let idle = Shown {
            scale_sets: 1,
            runners: 3,
            ..Shown::default()
        };
        let none_busy = look(Ok(idle), Ok(String::new()));
        assert_eq!(
            failures(Some(&none_busy)),
            ["ghaec2 --status showed no busy runner in the middle of the burst (3 runners)"]
        );
        let failed = look(
            Err("exit status: 1: status: scale set x: dynamodb get item: denied".to_owned()),
            Err("exit status: 1: status: scale set x: dynamodb get item: denied".to_owned()),
        );
        let why = failures(Some(&failed));
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].starts_with("ghaec2 --status --json: exit status: 1"));
        assert!(why[1].starts_with("ghaec2 --status: exit status: 1"));
        assert!(failed.line().starts_with("at 47.250 s: exit status: 1"));
        assert!(
            failed
                .framed()
                .contains("\nfailed: exit status: 1: status: scale set x")
        );
        let unread = look(
            Ok(Shown {
                errors: 1,
                ..busy_one()
            }),
            Ok(String::new()),
        );
        assert_eq!(
            failures(Some(&unread)),
            ["ghaec2 --status --json could not read 1 scale sets"]
        );
    }

    fn busy_one() -> Shown {
        Shown {
            scale_sets: 1,
            runners: 1,
            busy: 1,
            ..Shown::default()
        }
    }

    #[test]
    fn a_failed_run_names_its_exit_and_last_error_line() {
        let ran = |success: bool, stderr: &str| Ran {
            took: Duration::ZERO,
            success,
            exit: if success {
                "exit status: 0"
            } else {
                "exit status: 1"
            }
            .to_owned(),
            stdout: String::new(),
            stderr: stderr.to_owned(),
        };
        assert_eq!(ran(true, "").failure(), None);
        assert_eq!(
            ran(false, "a\nstatus: scale set x: denied\n\n").failure(),
            Some("exit status: 1: status: scale set x: denied".to_owned())
        );
        assert_eq!(
            ran(false, "").failure(),
            Some("exit status: 1: nothing on stderr".to_owned())
        );
    }
}
