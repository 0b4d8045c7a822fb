//! Lambda's CPU share around one process: Lambda gives a function memory/1769 of a vCPU (as
//! template.yaml's comment on `FunctionMemorySize` says), enforced here with a cgroup CPU quota. cgroup v1 (`cpu`
//! controller: `cpu.cfs_period_us`, `cpu.cfs_quota_us`) or v2 (`cpu.max`), as root. The process
//! is put in the group by a wrapper, `sh -c 'echo $$ > …/cgroup.procs && exec "$@"'`, so that
//! it is limited from its first instruction.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lambda's memory for one full vCPU.
pub const MB_PER_VCPU: u32 = 1769;

/// The scheduler period of the quota.
pub const PERIOD_US: u64 = 100_000;

/// The quota of `memory_mb`'s share in each [`PERIOD_US`]: round(period × mb / 1769).
pub fn quota_us(memory_mb: u32) -> u64 {
    (PERIOD_US * u64::from(memory_mb) + u64::from(MB_PER_VCPU) / 2) / u64::from(MB_PER_VCPU)
}

/// Which cgroup interface the machine offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// How often, and for how long, the group was held back by its quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttled {
    /// Scheduler periods in which the group ran.
    pub periods: u64,
    /// Periods in which it used up its quota and was stopped.
    pub throttled: u64,
    pub time: Duration,
}

impl Throttled {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            periods: self.periods.saturating_sub(earlier.periods),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            time: self.time.saturating_sub(earlier.time),
        }
    }
}

/// `cpu.stat`: v1 has `nr_periods`, `nr_throttled`, `throttled_time` (ns); v2 `nr_periods`,
/// `nr_throttled`, `throttled_usec`.
pub fn parse_stat(text: &str) -> Throttled {
    let mut out = Throttled::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        let Ok(n) = value.trim().parse::<u64>() else {
            continue;
        };
        match key {
            "nr_periods" => out.periods = n,
            "nr_throttled" => out.throttled = n,
            "throttled_time" => out.time = Duration::from_nanos(n),
            "throttled_usec" => out.time = Duration::from_micros(n),
            _ => {}
        }
    }
    out
}

/// A cgroup with a CPU quota; removed when dropped (its processes must have exited).
#[derive(Debug)]
pub struct CpuLimit {
    pub memory_mb: u32,
    pub quota_us: u64,
    dir: PathBuf,
}

impl CpuLimit {
    /// A group limited to `memory_mb`'s share of one CPU, or why there can be none here.
    pub fn create(memory_mb: u32) -> Result<Self, String> {
        let (version, root) = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            (Version::V2, Path::new("/sys/fs/cgroup"))
        } else if Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() {
            (Version::V1, Path::new("/sys/fs/cgroup/cpu"))
        } else {
            return Err("no cgroup CPU controller at /sys/fs/cgroup (v1 cpu/ or v2)".to_owned());
        };
        let dir = root.join(format!("ghaec2-bench-{memory_mb}"));
        // A group left by an interrupted run would keep its old settings: start afresh.
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let limit = Self {
            memory_mb,
            quota_us: quota_us(memory_mb),
            dir,
        };
        let settings = match version {
            Version::V1 => vec![
                ("cpu.cfs_period_us", PERIOD_US.to_string()),
                ("cpu.cfs_quota_us", limit.quota_us.to_string()),
            ],
            Version::V2 => vec![("cpu.max", format!("{} {PERIOD_US}", limit.quota_us))],
        };
        for (file, value) in settings {
            let path = limit.dir.join(file);
            std::fs::write(&path, &value)
                .map_err(|e| format!("writing {value} to {}: {e}", path.display()))?;
        }
        Ok(limit)
    }

    /// Where a process writes its PID to join.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The group's throttling so far.
    pub fn stat(&self) -> Throttled {
        std::fs::read_to_string(self.dir.join("cpu.stat"))
            .map(|text| parse_stat(&text))
            .unwrap_or_default()
    }
}

impl Drop for CpuLimit {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            eprintln!("bench: could not remove {}: {e}", self.dir.display());
        }
    }
}

/// The argv prefix that starts a command inside the group of `procs`: `sh -c` writes its own
/// PID there, then becomes the command (`exec` keeps the PID).
pub fn wrapper(procs: &Path) -> Vec<String> {
    vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        r#"echo $$ > "$0" && exec "$@""#.to_owned(),
        procs.to_string_lossy().into_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_the_share_of_one_cpu_rounded() {
        // 100,000 × 128 / 1769 = 7,235.7; × 256 = 14,471.45; 1769 MB is one CPU.
        assert_eq!(quota_us(128), 7_236);
        assert_eq!(quota_us(256), 14_471);
        assert_eq!(quota_us(1769), PERIOD_US);
        assert_eq!(quota_us(3538), 2 * PERIOD_US);
    }

    #[test]
    fn stat_of_either_version() {
        let v1 = "nr_periods 21\nnr_throttled 20\nthrottled_time 1880583379\nnr_bursts 0\n";
        let t = parse_stat(v1);
        assert_eq!((t.periods, t.throttled), (21, 20));
        assert_eq!(t.time, Duration::from_nanos(1_880_583_379));
        let v2 = "usage_usec 90\nnr_periods 5\nnr_throttled 2\nthrottled_usec 1500\n";
        assert_eq!(parse_stat(v2).time, Duration::from_micros(1500));
        assert_eq!(parse_stat("garbage"), Throttled::default());
        let later = Throttled {
            periods: 30,
            throttled: 25,
            time: Duration::from_secs(3),
        };
        assert_eq!(
            later.since(&t),
            Throttled {
                periods: 9,
                throttled: 5,
                time: Duration::from_secs(3) - Duration::from_nanos(1_880_583_379),
            }
        );
    }

    #[test]
    fn the_wrapper_joins_then_becomes_the_command() {
        let dir = std::env::temp_dir().join(format!("ghaec2-wrapper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let procs = dir.join("cgroup.procs");
        let argv = wrapper(&procs);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .args(["sh", "-c", "echo $$"])
            .output()
            .unwrap();
        let written = std::fs::read_to_string(&procs).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // The command printed the PID the wrapper wrote: it is the same process.
        assert_eq!(written.trim(), String::from_utf8_lossy(&out.stdout).trim());
    }
}
