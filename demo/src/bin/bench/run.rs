//! ghaec2 as the bench runs it: a child of `/usr/bin/time -v` (for peak RSS and CPU), its
//! JSON log lines collected as they come, stopped with SIGTERM sent to ghaec2 itself (GNU time
//! would die of it and orphan ghaec2, and report nothing).

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghaec2_demo::stand_ins::{Result, Stream};
use ghaec2_demo::{Ghaec2Process, LogLine, StandIns};
use tokio::time::Instant;

use crate::cgroup::{self, CpuLimit};
use crate::gnu_time::{self, TimeReport};

/// GNU time, for `-v`.
pub const GNU_TIME: &str = "/usr/bin/time";

/// What every scenario needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub ghaec2: PathBuf,
    /// Logs of every run go here.
    pub work: PathBuf,
}

impl Ctx {
    pub fn log(&self, name: &str) -> PathBuf {
        self.work.join(format!("{name}.log"))
    }
}

/// `MAX_RUNNERS` of every bench run: above every burst.
pub const MAX_RUNNERS: u32 = 1000;

/// The scale set settings of a bench run; `extra` entries win.
pub fn env(scale_set: &str, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let base = [
        ("RUNNER_SCALE_SET_NAME", scale_set.to_owned()),
        ("MIN_RUNNERS", "0".to_owned()),
        ("MAX_RUNNERS", MAX_RUNNERS.to_string()),
        // No runner ever comes online in most scenarios; a shorter timeout would terminate
        // and relaunch instances in the middle of a measurement.
        ("RUNNER_BOOT_TIMEOUT_SECONDS", "3600".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    base.iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A running ghaec2.
#[derive(Debug)]
pub struct Running {
    process: Ghaec2Process,
    /// Just before the spawn.
    pub spawned_at: DateTime<Utc>,
    /// Every line so far.
    pub lines: Vec<LogLine>,
}

/// A ghaec2 that has exited.
#[derive(Debug)]
pub struct Exited {
    pub spawned_at: DateTime<Utc>,
    /// When the bench saw the exit.
    pub exited_at: DateTime<Utc>,
    pub status: ExitStatus,
    pub lines: Vec<LogLine>,
    /// `None` if GNU time's report was missing.
    pub time: Option<TimeReport>,
}

impl Exited {
    /// Spawn to exit.
    pub fn wall(&self) -> Duration {
        (self.exited_at - self.spawned_at)
            .to_std()
            .unwrap_or_default()
    }
}

impl Running {
    /// Starts `ghaec2 args` under `/usr/bin/time -v` with the stand-ins' environment and `env`.
    pub async fn start(
        ctx: &Ctx,
        stand_ins: &StandIns,
        args: &[&str],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self> {
        Self::start_in(ctx, stand_ins, None, args, env, log).await
    }

    /// [`Running::start`], with ghaec2 in the CPU-limited group `limit` when given (GNU time
    /// stays outside it).
    pub async fn start_in(
        ctx: &Ctx,
        stand_ins: &StandIns,
        limit: Option<&CpuLimit>,
        args: &[&str],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self> {
        let wrapper = limit
            .map(|l| cgroup::wrapper(&l.procs()))
            .unwrap_or_default();
        let ghaec2 = ctx.ghaec2.to_string_lossy().into_owned();
        let mut argv = vec!["-v"];
        argv.extend(wrapper.iter().map(String::as_str));
        argv.push(ghaec2.as_str());
        argv.extend_from_slice(args);
        let spawned_at = Utc::now();
        let process = stand_ins
            .spawn_ghaec2(Path::new(GNU_TIME), &argv, env, log)
            .await?;
        Ok(Self {
            process,
            spawned_at,
            lines: Vec::new(),
        })
    }

    /// Collects lines until `done(all lines so far)` holds or `timeout` passes; true if it held.
    pub async fn until(&mut self, timeout: Duration, done: impl Fn(&[LogLine]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lines) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.process.lines.recv()).await {
                Ok(Some(line)) => self.lines.push(line),
                // Output closed (exited) or timed out: one last look.
                Ok(None) | Err(_) => return done(&self.lines),
            }
        }
    }

    /// Collects whatever arrived, without waiting.
    pub fn collect(&mut self) {
        while let Ok(line) = self.process.lines.try_recv() {
            self.lines.push(line);
        }
    }

    /// SIGTERM to ghaec2 (the child of GNU time), then waits for both to exit.
    pub async fn stop(self) -> Result<Exited> {
        let time_pid = self.process.pid();
        for pid in children(time_pid) {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()?;
        }
        self.exit().await
    }

    /// Waits for it to exit by itself (`--once`).
    pub async fn exit(mut self) -> Result<Exited> {
        let status = self.process.wait().await?;
        let exited_at = Utc::now();
        // Both output streams end with the process; the channel then closes.
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.process.lines.recv()).await
        {
            self.lines.push(line);
        }
        let time = gnu_time::parse(
            self.lines
                .iter()
                .filter(|l| l.stream == Stream::Stderr)
                .filter_map(|l| l.json.as_str()),
        );
        Ok(Exited {
            spawned_at: self.spawned_at,
            exited_at,
            status,
            lines: self.lines,
            time,
        })
    }
}

/// SIGTERM to every ghaec2 this process started (the children of its GNU time children).
pub fn stop_all() {
    for time_pid in children(std::process::id()) {
        for pid in children(time_pid) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

/// PIDs whose parent is `parent` (from /proc/<pid>/stat).
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parent_of(&stat))
                == Some(parent)
        })
        .collect()
}

/// The ppid field of a /proc/<pid>/stat line; the command name may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn parent_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// From `from` to `to`; `None` if `to` is earlier (a broken pairing, to be counted).
pub fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Duration> {
    (to - from).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_from_stat() {
        assert_eq!(parent_of("42 (ghaec2) S 41 42 41 0 -1"), Some(41));
        assert_eq!(parent_of("42 (a) b (c)) R 7 42"), Some(7));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn own_children_are_found() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = children(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&child.id()));
    }

    #[test]
    fn env_extra_entries_come_last() {
        let env = env("s", &[("MIN_RUNNERS", "2".to_owned())]);
        let last = env.iter().rev().find(|(k, _)| k == "MIN_RUNNERS").unwrap();
        assert_eq!(last.1, "2");
    }
}
