//! Where and what was measured, for the report's header.

use std::process::Command;

use chrono::{DateTime, Utc};
use ghaec2_demo::stand_ins::Result;

/// The machine, the code and the command of one bench run.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub date: DateTime<Utc>,
    pub cpus: usize,
    pub cpu_model: String,
    pub arch: String,
    pub kernel: String,
    pub commit: String,
    /// Files with uncommitted changes in the working tree when the bench ran.
    pub dirty_files: usize,
    /// 1-minute load average when the bench started (other work on the machine shows here).
    pub load_before: Option<f64>,
    pub rustc: String,
    /// The bench's own argv, with the home directory as `~`.
    pub argv: String,
    pub moto: String,
}

impl Machine {
    pub fn here() -> Result<Self> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let home = std::env::var("HOME").unwrap_or_default();
        let argv = std::env::args()
            .map(|a| tilde(&a, &home))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            date: Utc::now(),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_owned()),
            arch: std::env::consts::ARCH.to_owned(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            commit: output("git", &["rev-parse", "HEAD"]),
            load_before: load_average(),
            dirty_files: output("git", &["status", "--porcelain", "--untracked-files=no"])
                .lines()
                .count(),
            rustc: output("rustc", &["--version"]),
            argv,
            moto: output(
                "sh",
                &[
                    "-c",
                    "\"$(scripts/venv.sh)/bin/python\" -c 'import moto; print(moto.__version__)'",
                ],
            ),
        })
    }
}

/// The 1-minute load average (/proc/loadavg).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The first `model name` of /proc/cpuinfo.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

fn tilde(arg: &str, home: &str) -> String {
    match arg.strip_prefix(home) {
        Some(rest) if !home.is_empty() => format!("~{rest}"),
        _ => arg.to_owned(),
    }
}

/// A command's trimmed stdout, or `unknown`.
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_from_cpuinfo() {
        let info = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            cpu_model(info).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(cpu_model(""), None);
    }

    #[test]
    fn home_becomes_tilde() {
        assert_eq!(tilde("/root/.cache/x", "/root"), "~/.cache/x");
        assert_eq!(tilde("/opt/x", "/root"), "/opt/x");
        assert_eq!(tilde("/x", ""), "/x");
    }
}
