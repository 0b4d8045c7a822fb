//! The demo's workload: a seeded plan of jobs over about two minutes — a steady trickle, a
//! burst, a few long jobs and one job that is cancelled while it runs. The plan is pure data, so
//! the same seed always gives the same run and the tests can check its shape.

use std::time::Duration;

/// What part of the workload a job belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Jobs arriving a few seconds apart.
    Trickle,
    /// Many jobs within a second or two (a merge train, a matrix build).
    Burst,
    /// Jobs that run for most of a minute.
    Long,
    /// A job the user cancels while it runs.
    Cancelled,
}

impl Kind {
    /// A short name for tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Trickle => "trickle",
            Kind::Burst => "burst",
            Kind::Long => "long",
            Kind::Cancelled => "cancelled",
        }
    }
}

/// One job of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedJob {
    /// Index in the plan (also the order of enqueueing).
    pub index: usize,
    /// When it is enqueued, from the start of the workload.
    pub at: Duration,
    /// How long it runs once a runner takes it.
    pub duration: Duration,
    /// Which part of the workload it belongs to.
    pub kind: Kind,
    /// For the cancelled job: how long after enqueueing it is cancelled.
    pub cancel_after: Option<Duration>,
    /// Display name (`jobDisplayName`).
    pub name: String,
    /// Repository it comes from.
    pub repository: &'static str,
}

/// Something the workload driver does at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Enqueue job `index` of the plan.
    Enqueue(usize),
    /// Cancel job `index` of the plan.
    Cancel(usize),
}

/// A seeded workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The seed it was generated from.
    pub seed: u64,
    /// Jobs, in enqueue order.
    pub jobs: Vec<PlannedJob>,
}

/// The trickle's span: jobs keep arriving until about two minutes in.
const TRICKLE_END: Duration = Duration::from_secs(115);
/// When the burst starts, and how many jobs it has.
const BURST_AT: Duration = Duration::from_secs(40);
const BURST_JOBS: usize = 12;
/// Long jobs start at these offsets (plus jitter).
const LONG_AT: [u64; 3] = [6, 28, 62];
/// The cancelled job: enqueued at, and cancelled this long after (it is running by then).
const CANCELLED_AT: Duration = Duration::from_secs(18);
const CANCEL_AFTER: Duration = Duration::from_secs(16);

const REPOSITORIES: [&str; 4] = ["api", "web", "infra", "docs"];

impl Plan {
    /// The plan for `seed`.
    pub fn generate(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut jobs = Vec::new();
        let mut push =
            |at: Duration, duration: Duration, kind: Kind, name: String, rng: &mut SplitMix64| {
                jobs.push(PlannedJob {
                    index: 0,
                    at,
                    duration,
                    kind,
                    cancel_after: (kind == Kind::Cancelled).then_some(CANCEL_AFTER),
                    name,
                    repository: REPOSITORIES[rng.below(REPOSITORIES.len() as u64) as usize],
                });
            };

        let mut at = Duration::from_secs(2);
        let mut n = 0;
        while at <= TRICKLE_END {
            n += 1;
            let duration = Duration::from_millis(rng.between(6_000, 20_000));
            push(at, duration, Kind::Trickle, format!("build #{n}"), &mut rng);
            at += Duration::from_millis(rng.between(3_000, 8_000));
        }
        for i in 0..BURST_JOBS {
            let at = BURST_AT + Duration::from_millis(rng.between(0, 1_500));
            let duration = Duration::from_millis(rng.between(8_000, 16_000));
            push(
                at,
                duration,
                Kind::Burst,
                format!("test (matrix {})", i + 1),
                &mut rng,
            );
        }
        for (i, start) in LONG_AT.iter().enumerate() {
            let at = Duration::from_secs(*start) + Duration::from_millis(rng.between(0, 2_000));
            let duration = Duration::from_millis(rng.between(40_000, 55_000));
            push(
                at,
                duration,
                Kind::Long,
                format!("e2e #{}", i + 1),
                &mut rng,
            );
        }
        // Runs far longer than it is allowed to: it must end cancelled, never completed.
        push(
            CANCELLED_AT,
            Duration::from_secs(90),
            Kind::Cancelled,
            "deploy (cancelled)".to_owned(),
            &mut rng,
        );

        jobs.sort_by_key(|j| j.at);
        for (index, job) in jobs.iter_mut().enumerate() {
            job.index = index;
        }
        Self { seed, jobs }
    }

    /// Enqueues and cancellations in time order.
    pub fn actions(&self) -> Vec<(Duration, Action)> {
        let mut actions: Vec<(Duration, Action)> = self
            .jobs
            .iter()
            .flat_map(|j| {
                let cancel = j.cancel_after.map(|c| (j.at + c, Action::Cancel(j.index)));
                std::iter::once((j.at, Action::Enqueue(j.index))).chain(cancel)
            })
            .collect();
        actions.sort_by_key(|(at, _)| *at);
        actions
    }

    /// When the last job is enqueued.
    pub fn span(&self) -> Duration {
        self.jobs.iter().map(|j| j.at).max().unwrap_or_default()
    }

    /// When the last job of a kind is enqueued, if the plan has any.
    pub fn last_of(&self, kind: Kind) -> Option<Duration> {
        self.jobs
            .iter()
            .filter(|j| j.kind == kind)
            .map(|j| j.at)
            .max()
    }

    /// How many jobs of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.jobs.iter().filter(|j| j.kind == kind).count()
    }
}

/// SplitMix64: a tiny, well-known seeded generator; the demo needs reproducibility, not
/// statistical quality, so no `rand` dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A value in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low) + 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with `mean`: the gaps of a Poisson arrival process.
    pub fn exponential(&mut self, mean: Duration) -> Duration {
        // 1 - unit() is in (0, 1], so ln is finite.
        mean.mul_f64(-(1.0 - self.unit()).ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        assert_eq!(Plan::generate(7), Plan::generate(7));
        assert_ne!(Plan::generate(7).jobs, Plan::generate(8).jobs);
    }

    #[test]
    fn a_few_dozen_jobs_over_about_two_minutes() {
        for seed in 0..50 {
            let plan = Plan::generate(seed);
            assert!((24..=60).contains(&plan.jobs.len()), "{}", plan.jobs.len());
            assert!(plan.span() <= Duration::from_secs(120));
            assert!(plan.span() >= Duration::from_secs(90));
            assert!(plan.jobs.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(plan.jobs.iter().enumerate().all(|(i, j)| j.index == i));
        }
    }

    #[test]
    fn has_a_burst_long_jobs_and_exactly_one_cancelled_job() {
        let plan = Plan::generate(42);
        assert_eq!(plan.count(Kind::Burst), BURST_JOBS);
        let burst: Vec<_> = plan.jobs.iter().filter(|j| j.kind == Kind::Burst).collect();
        let first = burst.iter().map(|j| j.at).min().unwrap();
        let last = burst.iter().map(|j| j.at).max().unwrap();
        assert!(last - first <= Duration::from_secs(2));
        assert_eq!(plan.last_of(Kind::Burst), Some(last));
        assert_eq!(plan.count(Kind::Long), 3);
        assert!(
            plan.jobs
                .iter()
                .filter(|j| j.kind == Kind::Long)
                .all(|j| j.duration >= Duration::from_secs(40))
        );
        let cancelled: Vec<_> = plan
            .jobs
            .iter()
            .filter(|j| j.cancel_after.is_some())
            .collect();
        assert_eq!(cancelled.len(), 1);
        assert_eq!(cancelled[0].kind, Kind::Cancelled);
        // Cancelled before it could finish by itself.
        assert!(cancelled[0].cancel_after.unwrap() < cancelled[0].duration);
    }

    #[test]
    fn actions_are_in_time_order_and_cancel_follows_its_enqueue() {
        let plan = Plan::generate(3);
        let actions = plan.actions();
        assert_eq!(actions.len(), plan.jobs.len() + 1);
        assert!(actions.windows(2).all(|w| w[0].0 <= w[1].0));
        let enqueue = actions
            .iter()
            .position(
                |(_, a)| matches!(a, Action::Enqueue(i) if plan.jobs[*i].kind == Kind::Cancelled),
            )
            .unwrap();
        let cancel = actions
            .iter()
            .position(|(_, a)| matches!(a, Action::Cancel(_)))
            .unwrap();
        assert!(enqueue < cancel);
    }

    #[test]
    fn between_stays_in_bounds() {
        let mut rng = SplitMix64::new(1);
        for _ in 0..1000 {
            let v = rng.between(3, 8);
            assert!((3..=8).contains(&v));
        }
    }
}
