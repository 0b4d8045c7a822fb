use std::collections::BTreeMap;

use ghaec2_demo::cost::{
    ARM64_USD_PER_GB_SECOND, CLOUDWATCH_PRICES, DAYS_PER_MONTH, DYNAMODB_PRICES, LAMBDA_PRICES,
};
use ghaec2_demo::stats::Distribution;

use super::*;
use crate::cgroup::{MB_PER_VCPU, PERIOD_US, Throttled};
use crate::machine::Machine;
use crate::moto_time::{ActionTime, MotoTime};
use crate::report::{
    Configured, CpuShare, IdleWindow, STATUS_BAR, Setup, Several, Start, StatusAtShare, StatusRuns,
    StatusTimes, Throttling, Usage, memory_choice,
};

/// `count` samples of `ms`.
fn d(ms: u64, count: u64) -> Distribution {
    Distribution::of(&vec![Duration::from_millis(ms); count as usize]).unwrap()
}

/// A latency whose every figure changes with `k`: `k` samples, `k - 1` missing.
fn lat(ms: u64, k: u64) -> Latency {
    Latency {
        dist: Some(d(ms * k, k)),
        missing: k as usize - 1,
        out_of_order: 0,
    }
}

fn recoveries(k: usize) -> Recoveries {
    Recoveries {
        by_kind: [k, k + 1, k + 2, k + 3],
        other: BTreeMap::from([("Could not tag the instance.".to_owned(), k + 4)]),
        actions_errors: k + 5,
        aws_errors: Some(k + 6),
    }
}

/// `ghaec2 --status` runs whose every figure changes with `k`.
fn status_runs(k: u64) -> StatusRuns {
    let ms = |x: u64| Duration::from_millis(x * k);
    let n = |x: usize| x * k as usize;
    let times = |command: &str, x: u64, showed: Option<usize>| StatusTimes {
        command: command.into(),
        runs: n(20),
        wall: Some(Distribution {
            count: n(20),
            p50: ms(x),
            p95: ms(2 * x),
            max: ms(3 * x),
        }),
        failed: n(1) - 1,
        first_failure: None,
        aws_calls: (n(5), n(5)),
        by_action: vec![("DescribeInstances".into(), n(20)), ("Query".into(), n(40))],
        actions_calls: n(1) - 1,
        showed_setup: showed,
    };
    StatusRuns {
        runners: n(20),
        busy: n(8),
        orphans: n(1),
        text: times("ghaec2 --status", 137, None),
        json: times("ghaec2 --status --json", 141, Some(n(20))),
        at_share: Ok(StatusAtShare {
            memory_mb: 128 * k as u32,
            quota_us: 7_236 * k,
            times: times("ghaec2 --status", 613, None),
            throttled: Throttled {
                periods: 300 * k,
                throttled: 3 * k,
                time: ms(111),
            },
        }),
    }
}

/// A run whose every figure changes with `k`, so that 1 and 1000 differ everywhere.
fn results(k: u64) -> Results {
    let ms = |x: u64| Duration::from_millis(x * k);
    let n = |x: usize| x * k as usize;
    let throttled = |x: u64| Throttled {
        periods: 100 * x * k,
        throttled: x * k,
        time: ms(37 * x),
    };
    let setup = Setup {
        poll_hold: ms(50_000),
        window: Some(ms(50_000)),
        max_runners: 1000 * k as u32,
    };
    let configured = Configured {
        schedule: ms(60_000),
        window: ms(50_000),
        memory_mb: 256 * k as u32,
    };
    let trickle = Trickle {
        setup,
        jobs: n(27),
        mean_interval: ms(1_500),
        span: ms(60_000),
        to_acquired: lat(81, k),
        to_launched: lat(183, k),
        to_ready: lat(207, k),
        scale_down: lat(301, k),
        recoveries: recoveries(n(10)),
    };
    let moto = MotoTime {
        span: ms(74_716),
        in_moto: Duration::from_millis(61_003 + k),
        waiting_on_aws: Duration::from_millis(70_009 + k),
        by_action: vec![ActionTime {
            action: "TransactWriteItems".into(),
            calls: n(500),
            in_moto: ms(40_001),
            first_quarter: Some(d(13 * k, k)),
            last_quarter: Some(d(149 * k, k)),
        }],
    };
    let burst = |label: &str, throttling| Burst {
        label: label.into(),
        jobs: 100 * k as u32,
        setup,
        all_launched: Some(ms(5_901)),
        all_acquired: Some(ms(401)),
        milestones: Vec::new(),
        out_of_order: n(1),
        calls: n(109) * k as usize,
        aws_calls: n(421) * k as usize,
        breakdown: format!("generatejitconfig {}", n(100)),
        acquired: n(100),
        instances: n(99),
        launches: 101 * k as u32,
        throttling,
        recoveries: recoveries(n(20)),
        moto: Some(moto.clone()),
        peak_rss_kb: Some(20_480 * k),
        cpu: Some(ms(503)),
    };
    Results {
        machine: Machine {
            date: chrono::DateTime::from_timestamp(1_800_000_000 + 7_777 * k as i64, 0).unwrap(),
            cpus: n(2),
            cpu_model: format!("Test CPU {k}"),
            arch: format!("arch{k}"),
            kernel: format!("6.{k}"),
            commit: format!("{k}").repeat(40),
            dirty_files: n(3),
            load_before: Some(0.25 * k as f64),
            rustc: format!("rustc 1.9{k}"),
            argv: format!("bench --ghaec2 ~/ghaec2-{k}"),
            moto: format!("5.2.{k}"),
        },
        configured,
        listening: Some(trickle.clone()),
        gaps: Some(Gaps {
            trickle: Trickle {
                to_launched: Latency {
                    dist: Some(d(4_003 * k, k)),
                    missing: n(2),
                    out_of_order: n(1),
                },
                ..trickle.clone()
            },
            period: ms(60_000),
            invocations: vec![ms(50_701); k as usize],
            gap_lengths: lat(10_007, k),
            in_window_to_launched: lat(211, k),
            in_gap_to_launched: lat(7_001, k),
            peak_rss_kb: Some(18_000 * k),
            cpu: vec![ms(91); k as usize],
        }),
        bursts: vec![
            burst("clean", None),
            burst(
                "throttled",
                Some(Throttling {
                    side: Side::Actions,
                    injected: format!("429 × {}", n(4)),
                    throttled_answers: n(4),
                    shortest_wait: Some((ms(1_003), ms(1_000))),
                }),
            ),
        ],
        cold: Some(Cold {
            runs: n(10),
            setup,
            to_first_log: lat(3, k),
            to_credential: lat(17, k),
            to_polling: lat(61, k),
            to_first_poll: lat(91, k),
            once_exit: lat(1_151, k),
            calls_before_ready: vec![("ssm GetParameter".into(), n(10))],
            moto_before_ready: Duration::from_millis(203 + k),
            before_ready: ms(911),
            binary_bytes: 22_826_080 * k,
            peak_rss_kb: Some(17_540 * k),
            cpu: Some(d(41 * k, k)),
            recoveries: recoveries(n(30)),
        }),
        cpu: Some(CpuRuns::Measured(
            [128, 256]
                .map(|mb| CpuShare {
                    memory_mb: mb * k as u32,
                    quota_us: 7_236 * k,
                    idle: IdleWindow {
                        window: ms(10_000),
                        to_ready: Some(ms(311)),
                        wall: ms(10_093),
                        cpu: Some(ms(71)),
                        throttled: throttled(3),
                        clean: true,
                    },
                    pat: Start {
                        window: ms(1_000),
                        to_first_call: lat(23, k),
                        to_ready: lat(301, k),
                        throttled: throttled(5),
                    },
                    app: Start {
                        window: ms(1_000),
                        to_first_call: lat(97, k),
                        to_ready: lat(419, k),
                        throttled: throttled(7),
                    },
                    burst: burst("clean", None),
                    burst_throttled: throttled(11),
                })
                .to_vec(),
        )),
        paths: None,
        status: Some(status_runs(k)),
        several: Some(Several {
            setup,
            jobs: n(41),
            mean_interval: ms(750),
            span: ms(30_000),
            // One named scale set in one run, two in the other.
            per_scale_set: (1..=k.min(2))
                .map(|i| (Some(format!("bench-several-{k}-{i}")), lat(131, k)))
                .chain([(None, lat(17, k))])
                .collect(),
            overall: lat(139, k),
            cpu: Some(ms(337)),
            peak_rss_kb: Some(21_000 * k),
            metrics: (1..=k.min(2))
                .map(|i| format!("ghaec2/Launches{k}-{i}"))
                .collect(),
            recoveries: recoveries(n(40)),
        }),
        cost: [1, 5]
            .map(|sets| Usage {
                scale_sets: sets * k as usize,
                invocation: ms(60_047),
                dynamodb: vec![("UpdateItem".into(), n(7))],
                predecessor_tail: vec![("UpdateItem".into(), n(2))],
                // Per invocation, scaled past the schedule's scaling so the month differs.
                write_units: (7 * k * k) as f64,
                read_units: (3 * k * k) as f64,
                log_bytes: 2_345 * k * k,
                log_lines: n(9),
                metrics: Vec::new(),
                clean: true,
            })
            .to_vec(),
        wall: ms(600_000),
        load_after: Some(1.5 * k as f64),
    }
}

/// The fragments of a report: table cells, clauses and sentences.
fn fragments(md: &str) -> Vec<String> {
    let mut md = md.to_owned();
    for anchor in anchors::ALL {
        for text in [anchor.figure, anchor.differs, anchor.url] {
            md = md.replace(text, "");
        }
    }
    md.split(['|', '\n', ';', ':', '(', ')', ','])
        .flat_map(|s| s.split(". "))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Numbers the fixed prose may state: none of them a measurement.
fn not_measured() -> Vec<String> {
    let fixed = [
        "ghaec2",
        "EC2",
        "`MIN_RUNNERS` 0",
        "≤ 500 ms",
        "p50",
        "p95",
        "429",
        "5xx",
        "arm64",
        "us-east-1",
        "/20",
        "Node.js 24",
        "RS256",
        "1 KB",
        "4 KB",
        "2 units per item",
        "1 unit",
        "≤ $5.00",
    ];
    let bars = [format!("≤ {}", ms(STATUS_BAR))];
    // Prices, their sources and the CPU share's definition are constants, not measurements.
    let prices = [
        format!("${ARM64_USD_PER_GB_SECOND}"),
        "$0.20".to_owned(),
        "$0.625".to_owned(),
        "$0.125".to_owned(),
        "$0.50".to_owned(),
        "$0.30".to_owned(),
        LAMBDA_PRICES.to_owned(),
        DYNAMODB_PRICES.to_owned(),
        CLOUDWATCH_PRICES.to_owned(),
        format!("memory/{MB_PER_VCPU}"),
        format!("{PERIOD_US} µs"),
        format!("{DAYS_PER_MONTH} days"),
    ];
    prices
        .into_iter()
        .chain(bars)
        .chain(fixed.map(str::to_owned))
        .collect()
}

#[test]
fn no_fixed_fragment_states_a_number() {
    let (one, other_run) = (render(&results(1)), render(&results(1000)));
    let other: std::collections::BTreeSet<String> = fragments(&other_run).into_iter().collect();
    let mut fixed = Vec::new();
    let allowed = not_measured();
    for fragment in fragments(&one) {
        let mut rest = fragment.clone();
        for allowed in &allowed {
            rest = rest.replace(allowed.as_str(), "");
        }
        if rest.chars().any(|c| c.is_ascii_digit()) && other.contains(&fragment) {
            fixed.push(fragment);
        }
    }
    assert!(fixed.is_empty(), "fixed fragments with numbers: {fixed:#?}");
}

#[test]
fn broken_pairings_show() {
    let md = render(&results(1));
    // The gaps' launches: 2 missing, 1 out of order, in bold; whole ones plain.
    assert!(
        md.contains("| queued → instance launched | p50 4.003 s · p95 4.003 s · max 4.003 s (n = 1) | **2 / 1** |"),
        "{md}"
    );
    assert!(md.contains("| queued → acquired (`acquirejobs` answered; the fake's timestamps) | p50 81 ms · p95 81 ms · max 81 ms (n = 1) | 0 / 0 |"));
    // A burst's timings out of order.
    assert!(md.contains("| 100 / 99 / 101 | **no** | **1** |"), "{md}");
    let none = Latency {
        dist: None,
        missing: 4,
        out_of_order: 0,
    };
    assert_eq!(dist(&none), "no samples");
    assert_eq!(broken(&none), "**4 / 0**");
}

#[test]
fn anchors_carry_how_they_differ() {
    let md = render(&results(1));
    for anchor in anchors::ALL {
        let row = md
            .lines()
            .find(|l| l.contains(anchor.figure))
            .unwrap_or_else(|| panic!("no row for {}", anchor.figure));
        assert!(row.contains(anchor.differs), "{row}");
        assert!(row.contains(anchor.url), "{row}");
    }
    assert!(anchors::TAGR_DELAY.differs.contains("not a floor"));
    assert!(
        anchors::TAGR_SCALE_DOWN
            .differs
            .contains("not the same event")
    );
    assert!(anchors::LAMBDA_INIT.differs.contains("SSM"));
    // The init anchor stands beside the init measured up to SSM, not beside process start.
    let init = md
        .lines()
        .find(|l| l.contains(anchors::LAMBDA_INIT.figure))
        .unwrap();
    assert!(init.contains("credential read from SSM"), "{init}");
}

#[test]
fn recoveries_and_moto_share_are_reported() {
    let md = render(&results(1));
    assert!(md.contains("| steps cut at a window boundary | message retries | set-ups undone |"));
    assert!(
        md.contains(
            "| burst: clean | 20 | 21 | 22 | 23 | 25 | 26 | Could not tag the instance. × 24 |"
        ),
        "{md}"
    );
    assert!(md.contains("| 61.004 s (82 %) | 70.010 s (94 %) | 0.503 s | TransactWriteItems × 500: 40.001 s, p50 13 ms → 149 ms |"), "{md}");
    assert!(md.contains("1.003 s (Retry-After asked 1.000 s)"));
}

#[test]
fn the_commit_line_is_the_one_the_staleness_check_reads() {
    let md = render(&results(1));
    assert!(md.contains(&format!("\n| code | commit `{}` |\n", "1".repeat(40))));
}

#[test]
fn a_missed_bar_says_why() {
    let mut r = results(1);
    if let Some(t) = r.listening.as_mut() {
        t.to_launched = lat(900, 1);
    }
    let md = render(&r);
    assert!(md.contains("bar ≤ 500 ms: **not met**"));
    assert!(md.contains("What would get there"));
    assert!(md.contains("the p50 of queued → acquired is 81 ms"));
}

#[test]
fn durations_read_well() {
    assert_eq!(ms(Duration::from_millis(412)), "412 ms");
    assert_eq!(ms(Duration::from_millis(1412)), "1.412 s");
    assert_eq!(mb(22_826_080), "21.8 MiB");
    assert_eq!(share(Duration::from_secs(1), Duration::ZERO), "–");
}

#[test]
fn deployment_sections_show_their_figures() {
    let md = render(&results(1));
    assert!(
        md.contains("| `bench-several-1-1`: queued → launched | p50 131 ms"),
        "{md}"
    );
    assert!(md.contains("| jobs routed to no scale set → launched | p50 17 ms"));
    assert!(md.contains("| one scale set while listening (above): queued → launched | p50 183 ms"));
    assert!(md.contains("| App key − PAT, p50s: parsing the key and signing | 74 ms | 74 ms |"));
    assert!(
        md.contains("| idle window: throttled | 3 of 300 periods, 0.111 s |"),
        "{md}"
    );
    // 43,200 invocations × 60.047 s × 0.25 GB ≈ $8.65, + $0.01 requests, $0.21 DynamoDB,
    // $0.05 logs, $0.30 for one metric: over the goal.
    assert!(md.contains("| total | **$9.21** | **$9.21** |"), "{md}");
    assert!(md.contains("goal ≤ $5.00: **not met**"));
    assert!(
        md.contains("The lines, largest first: Lambda compute $"),
        "{md}"
    );
    let mut r = results(1);
    r.cpu = Some(CpuRuns::NotMeasured("no cgroup CPU controller".into()));
    r.configured.memory_mb = 128;
    let md = render(&r);
    assert!(md.contains("Not measured: no cgroup CPU controller."));
    assert!(!md.contains("Over the goal"), "{md}");
}

#[test]
fn memory_choice_takes_the_smallest_size_within_the_bar() {
    let Some(CpuRuns::Measured(mut shares)) = results(1).cpu else {
        panic!("measured");
    };
    for s in &mut shares {
        s.burst.instances = s.burst.acquired;
    }
    // Both bursts launched all within the bar (5.901 s), nothing lost: the smaller size.
    assert_eq!(memory_choice(&shares), Some(128));
    shares[0].burst.all_launched = Some(Duration::from_secs(11));
    assert_eq!(memory_choice(&shares), Some(256));
    // None within it (one lost a job): the largest measured.
    shares[1].burst.instances = 0;
    assert_eq!(memory_choice(&shares), Some(256));
    assert_eq!(memory_choice(&[]), None);
}

#[test]
fn the_status_section_shows_its_figures_and_the_bar() {
    let md = render(&results(1));
    assert!(
        md.contains("| `ghaec2 --status` | p50 137 ms · p95 274 ms · max 411 ms (n = 20) | 5 | DescribeInstances 20, Query 40 | 0 | 0 of 20 | – |"),
        "{md}"
    );
    assert!(md.contains("| `ghaec2 --status --json` | p50 141 ms · p95 282 ms · max 423 ms (n = 20) | 5 | DescribeInstances 20, Query 40 | 0 | 0 of 20 | 20 of 20 |"));
    assert!(md.contains(
        "| `ghaec2 --status` at 128 MB's CPU share (7236 µs of every 100000 µs) | p50 613 ms"
    ));
    assert!(md.contains("one scale set with 20 runners in its ledger (8 on a job, the others booting), orphan instances: 1"));
    assert!(md.contains("as operators run it:** bar p95 ≤ 1.000 s: met. At 128 MB's CPU share the runs were held back in 3 of 300 scheduler periods, 111 ms in all."), "{md}");
    assert!(
        md.contains("| `ghaec2 --status`, 20 runners: spawn → exit | p50 137 ms · p95 274 ms (bar p95 ≤ 1.000 s: met); at 128 MB's CPU share p50 613 ms · p95 1.226 s |"),
        "{md}"
    );

    // A failed run misses the bar and says why; no CPU controller is said too.
    let mut r = results(1);
    if let Some(s) = r.status.as_mut() {
        s.text.failed = 1;
        s.text.first_failure = Some("exit status: 1: status: scale set x: denied".into());
        s.at_share = Err("no cgroup CPU controller at /sys/fs/cgroup".into());
    }
    let md = render(&r);
    assert!(md.contains("| **1** of 20 |"), "{md}");
    assert!(md.contains("bar p95 ≤ 1.000 s: **not met**."), "{md}");
    assert!(md.contains(
        "The first failed run of `ghaec2 --status`: exit status: 1: status: scale set x: denied."
    ));
    assert!(
        md.contains(
            "Lambda's CPU share: not measured: no cgroup CPU controller at /sys/fs/cgroup."
        )
    );
    assert!(!md.contains("MB's CPU share ("), "{md}");

    // Slower than the bar at p95, every run clean: not met either.
    let mut r = results(1);
    if let Some(s) = r.status.as_mut() {
        s.text.wall = Some(d(1_001, 20));
    }
    assert!(render(&r).contains("bar p95 ≤ 1.000 s: **not met**"));
}
