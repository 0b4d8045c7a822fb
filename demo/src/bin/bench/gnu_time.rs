//! The figures of GNU `/usr/bin/time -v`, which wraps every ghaec2 the bench starts: its
//! report (on stderr, after the child exits) carries the peak resident set and CPU time.

use std::time::Duration;

/// What `/usr/bin/time -v` reported for one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeReport {
    /// "Maximum resident set size (kbytes)".
    pub max_rss_kb: u64,
    /// "User time (seconds)".
    pub user: Duration,
    /// "System time (seconds)".
    pub system: Duration,
}

impl TimeReport {
    /// User plus system CPU time.
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

/// Parses the `-v` report from the lines of a stderr; `None` without the RSS line.
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<TimeReport> {
    let (mut rss, mut user, mut system) = (None, Duration::ZERO, Duration::ZERO);
    for line in lines {
        let Some((key, value)) = line.trim().rsplit_once(": ") else {
            continue;
        };
        let seconds = || value.parse::<f64>().ok().map(Duration::from_secs_f64);
        match key {
            "Maximum resident set size (kbytes)" => rss = value.parse().ok(),
            "User time (seconds)" => user = seconds().unwrap_or_default(),
            "System time (seconds)" => system = seconds().unwrap_or_default(),
            _ => {}
        }
    }
    Some(TimeReport {
        max_rss_kb: rss?,
        user,
        system,
    })
}

/// Kibibytes as mebibytes, e.g. `17.4 MiB`.
pub fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_verbose_report() {
        let text = "\tCommand being timed: \"ghaec2 --once\"\n\
                    \tUser time (seconds): 0.05\n\
                    \tSystem time (seconds): 0.02\n\
                    \tPercent of CPU this job got: 6%\n\
                    \tElapsed (wall clock) time (h:mm:ss or m:ss): 0:01.12\n\
                    \tMaximum resident set size (kbytes): 17540\n\
                    \tExit status: 0";
        let report = parse(text.lines()).unwrap();
        assert_eq!(report.max_rss_kb, 17540);
        assert_eq!(report.cpu(), Duration::from_millis(70));
        assert_eq!(mib(report.max_rss_kb), "17.1 MiB");
    }

    #[test]
    fn no_report_without_the_rss_line() {
        assert_eq!(parse(["{\"msg\":\"x\"}", "User time (seconds): 1.0"]), None);
    }
}
