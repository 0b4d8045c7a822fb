//! A harness that runs whole cycles against the in-process fake and an AWS side
//! ([`StandIn`]): the ports in memory ([`Memory`], the fast tier) or moto_server ([`Moto`]).
//! Each moto harness reaches moto through its own proxy, which makes it a separate AWS account
//! (so tests are isolated whatever region they use) and lets tests inject AWS errors. Every
//! cycle run through [`Harness::run`] (and [`Harness::cycle`]) has its logs captured and is
//! checked for leaked secrets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use ghaec2::actions::ActionsClient;
use ghaec2::config::Config;
use ghaec2::cycle::{CycleError, CycleSettings, Listener, Ports, Stop, Summary};
use ghaec2::ports::{Fleet, Instance, JitStore, LeaseOutcome, StateStore};
use ghaec2_fake::{FakeOptions, FakeServer, JobSpec, Mode};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::instrument::WithSubscriber;

use super::secrets::{Leak, Logs, find_leaks, pem_secrets};
pub use super::stand_in::{Memory, Moto, StandIn};
use super::{fake, moto};

/// Scale set name used by every harness.
pub const SCALE_SET: &str = "cycle-set";

/// Region of harnesses that need no region of their own (the proxy's account isolates them).
pub const REGION: &str = "us-east-1";

/// How long the fake may take to answer and log a poll once its hold is over.
const ANSWER_SLACK: Duration = Duration::from_millis(50);

/// Everything a cycle runs against: the fake, and the ports over an AWS side.
pub struct Harness<A: StandIn = Moto> {
    pub fake: FakeServer,
    pub actions: ActionsClient,
    pub store: A::Store,
    pub fleet: A::Fleet,
    pub jit: A::Jit,
    pub settings: CycleSettings,
    pub config: Config,
    /// The AWS side the ports use.
    pub aws: A,
    /// Logs of the cycles run so far.
    pub logs: Logs,
    /// How long the fake holds an empty poll.
    pub poll_hold: Duration,
}

/// A harness on the ports in memory, with the fake in `mode` and `min`..=`max` runners.
pub async fn memory(mode: Mode, min: u32, max: u32) -> Harness<Memory> {
    Harness::start(
        FakeOptions::for_tests().with_mode(mode),
        REGION,
        min,
        max,
        &[],
    )
    .await
}

/// A moto harness in its own account, for tests that need no region of their own.
pub async fn isolated(mode: Mode, min: u32, max: u32) -> Harness {
    harness_with(REGION, mode, min, max, &[]).await
}

/// A harness in `region` with the fake in `mode` and `min`..=`max` runners.
pub async fn harness(region: &str, mode: Mode, min: u32, max: u32) -> Harness {
    harness_with(region, mode, min, max, &[]).await
}

/// The shapes the fake answers in: complete, or sparse as a .NET data contract service may
/// send them (defaults left out, nulls, no statistics on refresh, unknown job messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shapes {
    Full,
    Sparse,
}

impl Shapes {
    /// A harness in `region` with the fake in `mode`, answering in these shapes.
    pub async fn harness(self, region: &str, mode: Mode, min: u32, max: u32) -> Harness {
        harness_on(self.options(mode), region, min, max, &[]).await
    }

    /// [`Shapes::harness`] in its own account.
    pub async fn isolated(self, mode: Mode, min: u32, max: u32) -> Harness {
        self.harness(REGION, mode, min, max).await
    }

    /// A harness on the ports in memory, with the fake in `mode`, answering in these shapes.
    pub async fn memory(self, mode: Mode, min: u32, max: u32) -> Harness<Memory> {
        Harness::start(self.options(mode), REGION, min, max, &[]).await
    }

    fn options(self, mode: Mode) -> FakeOptions {
        FakeOptions::for_tests()
            .with_mode(mode)
            .with_sparse(self == Shapes::Sparse)
    }
}

/// Declares each `async fn name(shapes: Shapes) { … }` scenario as a module `name` with two
/// tests, `full` and `sparse`, that run it against the fake in each of the [`Shapes`].
#[macro_export]
macro_rules! in_both_shapes {
    ($($(#[$doc:meta])* async fn $name:ident($shapes:ident: Shapes $(,)?) $body:block)*) => {$(
        $(#[$doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($shapes: $crate::support::cycle::Shapes) $body

            #[tokio::test]
            async fn full() {
                scenario($crate::support::cycle::Shapes::Full).await
            }

            #[tokio::test]
            async fn sparse() {
                scenario($crate::support::cycle::Shapes::Sparse).await
            }
        }
    )*};
}

/// A harness with extra or overriding configuration variables.
pub async fn harness_with(
    region: &str,
    mode: Mode,
    min: u32,
    max: u32,
    extra: &[(&str, String)],
) -> Harness {
    harness_on(
        FakeOptions::for_tests().with_mode(mode),
        region,
        min,
        max,
        extra,
    )
    .await
}

/// A moto harness with the fake started from `options`.
pub async fn harness_on(
    options: FakeOptions,
    region: &str,
    min: u32,
    max: u32,
    extra: &[(&str, String)],
) -> Harness {
    Harness::start(options, region, min, max, extra).await
}

/// The configuration of [`SCALE_SET`] in `region`, with the variables of `vars` added or
/// overriding.
pub fn config(region: &str, vars: &[(&str, String)]) -> Config {
    let mut all: HashMap<&str, String> = HashMap::from([
        ("GITHUB_TOKEN", ghaec2_fake::DEFAULT_PAT.to_owned()),
        ("RUNNER_SCALE_SET_NAME", SCALE_SET.to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("EC2_INSTANCE_TYPE", "t3.micro,t3.small".to_owned()),
    ]);
    all.extend(vars.iter().cloned());
    Config::from_lookup(|name| all.get(name).cloned()).expect("valid config")
}

/// A stop that listens for `window` and is never shut down.
pub fn stop(window: Duration) -> Stop {
    Stop {
        listen_until: Instant::now() + window,
        deadline_bound: false,
        shutdown: watch::channel(false).1,
    }
}

impl<A: StandIn> Harness<A> {
    /// A harness on a new AWS side for `region`, with the fake started from `options`,
    /// `min`..=`max` runners and extra or overriding configuration variables.
    pub async fn start(
        options: FakeOptions,
        region: &str,
        min: u32,
        max: u32,
        extra: &[(&str, String)],
    ) -> Self {
        let poll_hold = options.poll_hold;
        let fake = fake::start(options).await;
        let (aws, resources) = A::start(region).await;
        let mut vars = vec![
            ("GITHUB_CONFIG_URL", fake.config_url("my-org")),
            ("MIN_RUNNERS", min.to_string()),
            ("MAX_RUNNERS", max.to_string()),
        ];
        vars.extend(resources);
        vars.extend(extra.iter().cloned());
        let config = config(region, &vars);
        let (store, fleet, jit) = aws.ports(&config);
        let actions = fake::client(&fake, &fake::pat());
        let mut settings =
            ghaec2::app::cycle_settings(&config, format!("test-{}", moto::unique()), false);
        settings.describe_grace = Duration::ZERO;
        Harness {
            fake,
            actions,
            store,
            fleet,
            jit,
            settings,
            config,
            aws,
            logs: Logs::default(),
            poll_hold,
        }
    }

    /// A listener over the harness's own ports.
    pub fn services(&self) -> Listener<'_, A::Store, A::Fleet, A::Jit> {
        self.with_ports(&self.store, &self.fleet, &self.jit)
    }

    /// A listener over the harness's own ports with other settings (another owner, other
    /// labels).
    pub fn with_settings<'a>(
        &'a self,
        settings: &'a CycleSettings,
    ) -> Listener<'a, A::Store, A::Fleet, A::Jit> {
        let ports = Ports {
            store: &self.store,
            fleet: &self.fleet,
            jit: &self.jit,
        };
        Listener::new(&self.actions, ports, settings)
    }

    /// A listener over other ports (fault-injecting wrappers).
    pub fn with_ports<'a, S, F, J>(
        &'a self,
        store: &'a S,
        fleet: &'a F,
        jit: &'a J,
    ) -> Listener<'a, S, F, J>
    where
        S: StateStore + Sync,
        F: Fleet + Sync,
        J: JitStore + Sync,
    {
        let ports = Ports { store, fleet, jit };
        Listener::new(&self.actions, ports, &self.settings)
    }

    /// One cycle listening for `window`.
    pub async fn cycle(&self, window: Duration) -> Result<Summary, CycleError> {
        self.run(self.services(), &stop(window)).await
    }

    /// Runs a cycle over `services` with its logs captured, then asserts that no secret
    /// leaked into its logs, its result, or what it left in EC2. Returns once the fake has
    /// answered the poll the window cut short, as before the next invocation: else that poll
    /// could take a message queued after the cycle, or be logged after the test reset the log.
    pub async fn run<S, F, J>(
        &self,
        services: Listener<'_, S, F, J>,
        stop: &Stop,
    ) -> Result<Summary, CycleError>
    where
        S: StateStore + Sync,
        F: Fleet + Sync,
        J: JitStore + Sync,
    {
        self.settle(stop, Box::pin(services.run(stop))).await
    }

    /// One cycle for EC2's spot interruption warning about `instance_id`, listening for
    /// `window`, checked like [`Harness::run`].
    pub async fn interrupted(
        &self,
        window: Duration,
        instance_id: &str,
    ) -> Result<Summary, CycleError> {
        let warning = ghaec2::event::SpotInterruption {
            instance_id: instance_id.to_owned(),
            action: "terminate".to_owned(),
            warned_at: None,
        };
        let stop = stop(window);
        let listener = self.services();
        self.settle(&stop, Box::pin(listener.run_interrupted(&stop, &warning)))
            .await
    }

    /// Runs a cycle with its logs captured, checks it leaked no secret, and returns once
    /// the poll its window cut short has been answered. The cycle comes boxed: a debug build's
    /// cycle future is large, and a test thread's stack small.
    async fn settle(
        &self,
        stop: &Stop,
        cycle: impl Future<Output = Result<Summary, CycleError>>,
    ) -> Result<Summary, CycleError> {
        let result = self.captured(cycle).await;
        let last_poll_sent = Instant::now().min(stop.listen_until);
        let leaks = self.leaks(&describe(&result)).await;
        assert!(
            leaks.is_empty(),
            "secrets leaked: {leaks:?} (result: {result:?})"
        );
        tokio::time::sleep_until(last_poll_sent + self.poll_hold + ANSWER_SLACK).await;
        result
    }

    /// Runs `future` with its logs captured into [`Harness::logs`].
    pub async fn captured<T>(&self, future: impl Future<Output = T>) -> T {
        future.with_subscriber(self.logs.dispatch()).await
    }

    /// Every secret the run knows of: what the fake issued, the PAT, the fixture App keys.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.fake.issued_secrets();
        secrets.push(ghaec2_fake::DEFAULT_PAT.to_owned());
        for which in ["pkcs1", "pkcs8"] {
            let path = format!(
                "{}/fake/tests/fixtures/test_app_{which}_key.pem",
                env!("CARGO_MANIFEST_DIR")
            );
            if let Ok(pem) = std::fs::read_to_string(path) {
                secrets.extend(pem_secrets(&pem));
            }
        }
        secrets
    }

    /// Secrets found in the captured logs, in `result` (a cycle's summary or error, as text)
    /// and in what EC2 shows: the tags of every instance and, on moto, the tags and user-data
    /// of every launch template version of the account.
    pub async fn leaks(&self, result: &str) -> Vec<Leak> {
        let mut places = vec![
            ("logs".to_owned(), self.logs.text()),
            ("result".to_owned(), result.to_owned()),
        ];
        places.extend(self.aws.exposed().await);
        find_leaks(&places, &self.secrets())
    }

    /// Plays a killed invocation's lease running out: another owner takes it over as if it had
    /// lapsed, with a lease that has itself lapsed already, so the next cycle gets it at once.
    pub async fn lapse_lease(&self) {
        let now = Utc::now();
        let outcome = self
            .store
            .acquire(
                SCALE_SET,
                "lease-reaper",
                now - chrono::Duration::seconds(1),
                now + chrono::Duration::days(1),
            )
            .await
            .unwrap();
        assert!(matches!(outcome, LeaseOutcome::Acquired(..)), "{outcome:?}");
    }

    /// The scale set's live instances.
    pub async fn instances(&self) -> Vec<Instance> {
        let id = self.scale_set_id().await;
        let listed = self.fleet.instances(id).await.unwrap();
        listed.into_iter().filter(|i| i.state.is_live()).collect()
    }

    /// The scale set id the fake assigned.
    pub async fn scale_set_id(&self) -> i64 {
        self.actions
            .scale_set_by_name(1, SCALE_SET)
            .await
            .unwrap()
            .expect("scale set exists")
            .id
    }

    /// Reads an instance's JIT config the way its user-data script does, and deletes it.
    pub async fn take_jit(&self, instance_id: &str) -> Option<String> {
        self.aws.take_jit(instance_id).await
    }

    /// Boots every launched instance's runner: fetches its JIT config and connects it.
    pub async fn boot_all(&self) -> usize {
        let mut booted = 0;
        for instance in self.instances().await {
            if let Some(config) = self.take_jit(&instance.id).await {
                self.fake.connect_runner(&config).unwrap();
                booted += 1;
            }
        }
        booted
    }

    /// Queues `n` jobs for the scale set; returns their request ids.
    pub fn enqueue(&self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                self.fake
                    .enqueue_job(JobSpec::with_labels([SCALE_SET]))
                    .unwrap()
                    .runner_request_id
            })
            .collect()
    }

    /// Ids of the messages the fake still holds, unacknowledged, for scale set `id`.
    pub fn unacknowledged(&self, id: i64) -> Vec<u64> {
        self.fake
            .state()
            .scale_sets
            .iter()
            .filter(|s| s.scale_set.id == id as u64)
            .flat_map(|s| s.queue.messages.keys().copied().collect::<Vec<_>>())
            .collect()
    }

    /// The ledger entries.
    pub async fn ledger(&self) -> Vec<ghaec2::ports::RunnerRecord> {
        self.store.runners(SCALE_SET).await.unwrap()
    }

    /// JIT material left.
    pub async fn jit_left(&self) -> Vec<String> {
        self.jit.listing().await.unwrap().instance_ids
    }
}

/// A cycle's result as text, the way an operator would see it: summary JSON or error text.
pub fn describe(result: &Result<Summary, CycleError>) -> String {
    match result {
        Ok(summary) => format!(
            "{}\n{summary:?}",
            serde_json::to_string(summary).unwrap_or_default()
        ),
        Err(e) => format!("{e}\n{e:?}"),
    }
}
