//! The ports' contract (src/ports.rs, docs/design.md §1.1): one set of scenarios, each run
//! against the ports in memory (`memory`, the fast tier's) and the AWS adapters on moto_server
//! (`moto`), so that neither can drift from the other. Run with
//! `scripts/with-moto.sh cargo test --test port_contract`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ghaec2::aws::{Ec2Fleet, Patience};
use ghaec2::ports::{
    Decision, Decisions, Fleet, JitStore, Lease, LeaseOutcome, PortErrorKind, RerunRecord,
    RunnerRecord, RunnerState, ScaleSetState, StateRecord, StateStore, StoredAdmin,
};
use secrecy::SecretString;
use support::cycle::{Memory, Moto, REGION, StandIn, config};
use support::records::{full_state, runner};

/// The ports over one AWS side, and the side itself for what instances do.
struct Ports<A: StandIn> {
    aws: A,
    store: A::Store,
    fleet: A::Fleet,
    jit: A::Jit,
}

async fn ports<A: StandIn>() -> Ports<A> {
    let (aws, resources) = A::start(REGION).await;
    let mut vars = vec![("GITHUB_CONFIG_URL", "https://github.com/my-org".to_owned())];
    vars.extend(resources);
    let (store, fleet, jit) = aws.ports(&config(REGION, &vars));
    Ports {
        aws,
        store,
        fleet,
        jit,
    }
}

async fn memory_ports() -> Ports<Memory> {
    ports().await
}

/// moto's ports, with a patience that gives up at once on ids EC2 does not know: moto knows
/// an instance from its launch on, so waiting would only wait (tests/aws_consistency.rs plays
/// EC2's propagation delays).
async fn moto_ports() -> Ports<Moto> {
    let Ports {
        aws,
        store,
        fleet,
        jit,
    } = ports::<Moto>().await;
    let impatient = Patience {
        first: std::time::Duration::from_millis(10),
        total: std::time::Duration::from_millis(10),
    };
    let fleet: Ec2Fleet = fleet.with_patience(impatient);
    Ports {
        aws,
        store,
        fleet,
        jit,
    }
}

/// Declares each `async fn name(p) { … }` scenario, generic over the AWS side, as a module
/// `name` with two tests: `memory` and `moto`. A scenario where moto is known to differ from
/// AWS says so after its name, `unlike moto: "why"`, and its `moto` test is ignored with that
/// reason (`cargo test -- --ignored` shows the difference).
macro_rules! contract {
    ($(
        $(#[$doc:meta])*
        async fn $name:ident($p:ident) $(unlike moto: $why:literal)? $body:block
    )*) => {$(
        $(#[$doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario<A: StandIn>($p: Ports<A>) $body

            #[tokio::test]
            async fn memory() {
                scenario(memory_ports().await).await
            }

            #[tokio::test]
            $(#[ignore = $why])?
            async fn moto() {
                scenario(moto_ports().await).await
            }
        }
    )*};
}

fn acquired(outcome: LeaseOutcome) -> (Lease, ScaleSetState) {
    match outcome {
        LeaseOutcome::Acquired(lease, state) => (lease, state),
        held => panic!("expected the lease, got {held:?}"),
    }
}

/// A time with sub-millisecond digits, which the state table does not keep.
fn precise() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap()
}

/// Ledger entries sorted by name: the port promises no order.
async fn ledger<S: StateStore>(store: &S, scale_set: &str) -> Vec<RunnerRecord> {
    let mut runners = store.runners(scale_set).await.unwrap();
    runners.sort_by(|a, b| a.name.cmp(&b.name));
    runners
}

/// A pending rerun of run `run_id`, its attempt not read yet.
fn rerun(run_id: i64) -> RerunRecord {
    RerunRecord {
        run_id,
        owner: "octo-org".into(),
        repository: "octo-repo".into(),
        job_id: format!("job-{run_id}"),
        runner_name: "set-r1".into(),
        attempt: None,
        recorded_at: Utc::now(),
    }
}

/// Pending reruns sorted by run id: the port promises no order.
async fn reruns<S: StateStore>(store: &S, scale_set: &str) -> Vec<RerunRecord> {
    let mut reruns = store.reruns(scale_set).await.unwrap();
    reruns.sort_by_key(|r| r.run_id);
    reruns
}

/// The scale set id of the fleet scenarios (each test has an account of its own), and one
/// that launches nothing.
const ID: i64 = 7;
const OTHER_ID: i64 = 8;

/// The state of `id` as listed for `scale_set_id`.
async fn state_of<F: Fleet>(
    fleet: &F,
    scale_set_id: i64,
    id: &str,
) -> Option<ghaec2::ports::InstanceState> {
    let listed = fleet.instances(scale_set_id).await.unwrap();
    listed.iter().find(|i| i.id == id).map(|i| i.state)
}

contract! {
    /// A free lease is taken with fence 1 and the expiry asked; another owner meets it held,
    /// with the holder's expiry to the millisecond, up to and including that millisecond, and
    /// takes it over with the next fence once it has passed.
    async fn a_lease_is_held_until_it_lapses_then_taken_over(p) {
        let now = precise();
        let expires = now + Duration::seconds(80);
        let (lease, state) = acquired(p.store.acquire("set", "inv-1", expires, now).await.unwrap());
        assert_eq!(
            lease,
            Lease { owner: "inv-1".into(), fence: 1, expires_at: expires }
        );
        assert_eq!(state, ScaleSetState::default());

        let held = LeaseOutcome::Held { owner: "inv-1".into(), expires_at: to_millis(expires) };
        for at in [now, expires, expires + Duration::microseconds(500)] {
            let outcome = p
                .store
                .acquire("set", "inv-2", at + Duration::seconds(80), at)
                .await
                .unwrap();
            assert_eq!(outcome, held, "at {at}");
        }

        let later = to_millis(expires) + Duration::milliseconds(1);
        let (taken, _) = acquired(
            p.store.acquire("set", "inv-2", later + Duration::seconds(80), later).await.unwrap(),
        );
        assert_eq!((taken.owner.as_str(), taken.fence), ("inv-2", 2));
    }

    /// The owner acquiring again (a retried acquire) gets its lease with a new fence, and
    /// only the new fence writes: a write needs both the fence and the owner. Another scale
    /// set's lease is apart.
    async fn every_acquisition_moves_the_fence(p) {
        let now = precise();
        let expires = now + Duration::seconds(80);
        let (first, _) = acquired(p.store.acquire("set-a", "inv-1", expires, now).await.unwrap());
        let (again, _) = acquired(
            p.store.acquire("set-a", "inv-1", expires, now + Duration::seconds(5)).await.unwrap(),
        );
        assert_eq!(again.fence, 2);
        let forged = Lease { owner: "inv-2".into(), ..again.clone() };
        for lease in [&first, &forged] {
            let error = p.store.put_runner("set-a", lease, &runner("r-1")).await.unwrap_err();
            assert_eq!(error.kind, PortErrorKind::Fenced, "{lease:?}: {error}");
        }
        p.store.put_runner("set-a", &again, &runner("r-1")).await.unwrap();
        let (other, _) = acquired(p.store.acquire("set-b", "inv-9", expires, now).await.unwrap());
        assert_eq!((other.owner.as_str(), other.fence), ("inv-9", 1));
    }

    /// A released lease is free at once, even to a caller whose clock is behind the
    /// releaser's.
    async fn a_released_lease_is_free_whatever_the_next_clock_says(p) {
        let now = Utc::now();
        let (lease, _) = acquired(
            p.store.acquire("set", "inv-1", now + Duration::seconds(600), now).await.unwrap(),
        );
        p.store.release("set", &lease).await.unwrap();
        let behind = now - Duration::hours(1);
        let (next, _) = acquired(
            p.store.acquire("set", "inv-2", behind + Duration::seconds(60), behind).await.unwrap(),
        );
        assert_eq!((next.owner.as_str(), next.fence), ("inv-2", 2));
    }

    /// What one owner saves, the next acquisition returns, with the admin connection and the
    /// decisions put apart; an ended session saved as absent comes back absent, and a save
    /// leaves the admin connection and the decisions alone.
    async fn the_state_record_round_trips_under_the_lease(p) {
        let now = Utc::now();
        let (lease, _) = acquired(
            p.store.acquire("set", "inv-1", now + Duration::seconds(60), now).await.unwrap(),
        );
        let saved = full_state();
        p.store.save("set", &lease, &saved).await.unwrap();
        p.store.release("set", &lease).await.unwrap();
        let (lease, state) = acquired(
            p.store.acquire("set", "inv-2", now + Duration::seconds(60), now).await.unwrap(),
        );
        let apart = ScaleSetState { admin: None, decisions: Decisions::default(), ..saved.clone() };
        assert_eq!(state, apart, "save writes no admin nor decisions");
        p.store.put_admin("set", saved.admin.as_ref().unwrap()).await.unwrap();
        p.store.put_decisions("set", &saved.decisions).await.unwrap();

        let cleared = ScaleSetState { session: None, admin: None, ..apart };
        p.store.save("set", &lease, &cleared).await.unwrap();
        p.store.release("set", &lease).await.unwrap();
        let (_, state) = acquired(
            p.store.acquire("set", "inv-3", now + Duration::seconds(60), now).await.unwrap(),
        );
        assert_eq!(state, ScaleSetState { admin: saved.admin, decisions: saved.decisions, ..cleared });
    }

    /// A read shows the lease (holder, fence, expiry to the millisecond; the epoch and the
    /// release time once released) and everything the state holds, admin connection and
    /// decisions included (not the ledger's or reruns' items beside them), and takes nothing:
    /// the holder's fence still writes. The admin connection and the decisions are put by
    /// anyone, holder or not, the last put winning.
    async fn a_read_shows_lease_and_state_and_takes_nothing(p) {
        assert_eq!(p.store.read("set").await.unwrap(), StateRecord::default());
        let now = precise();
        let expires = now + Duration::seconds(80);
        let (lease, _) = acquired(p.store.acquire("set", "inv-1", expires, now).await.unwrap());
        let saved = full_state();
        p.store.save("set", &lease, &saved).await.unwrap();
        p.store.put_admin("set", saved.admin.as_ref().unwrap()).await.unwrap();
        p.store.put_decisions("set", &saved.decisions).await.unwrap();
        // Items beside the state's in its partition, which a read passes over.
        p.store.put_runner("set", &lease, &runner("r-1")).await.unwrap();
        p.store.put_rerun("set", &lease, &rerun(1)).await.unwrap();

        let read = p.store.read("set").await.unwrap();
        let held = Lease { owner: "inv-1".into(), fence: 1, expires_at: to_millis(expires) };
        assert_eq!(read, StateRecord { lease: Some(held.clone()), released_at: None, state: saved.clone() });
        assert_eq!(read.held_against("inv-2", expires), Some(&held));
        assert_eq!(read.held_against("inv-1", now), None, "our own lease is free to us");
        assert_eq!(read.held_against("inv-2", to_millis(expires) + Duration::milliseconds(1)), None);
        assert_eq!(p.store.read("set").await.unwrap(), read, "a read moves nothing");

        let other = StoredAdmin {
            service_url: "https://pipelines.example/other/".into(),
            token: SecretString::from("other-admin-token-value"),
        };
        p.store.put_admin("set", &other).await.unwrap();
        let newer = Decisions::new(vec![Decision { desired: 1, ..Decision::default() }]);
        p.store.put_decisions("set", &newer).await.unwrap();
        let before_release = to_millis(Utc::now());
        p.store.save_and_release("set", &lease, &ScaleSetState::default()).await.unwrap();
        let read = p.store.read("set").await.unwrap();
        let released = read.lease.clone().expect("a released lease keeps its holder");
        assert_eq!((released.owner.as_str(), released.fence), ("inv-1", 1));
        assert_eq!(released.expires_at, DateTime::<Utc>::UNIX_EPOCH);
        assert!(read.released_at.is_some_and(|at| at >= before_release), "{read:?}");
        assert_eq!(read.held_against("inv-2", now), None);
        let apart = ScaleSetState { admin: Some(other), decisions: newer, ..ScaleSetState::default() };
        assert_eq!(read.state, apart);
        assert_eq!(p.store.read("other-set").await.unwrap(), StateRecord::default());
    }

    /// After a takeover, every write with the old lease fails as `Fenced`, names no secret,
    /// and changes nothing; the new owner's writes go through.
    async fn a_stale_fence_is_refused_and_changes_nothing(p) {
        let now = Utc::now();
        let (stale, _) = acquired(
            p.store.acquire("set", "old", now + Duration::seconds(1), now).await.unwrap(),
        );
        p.store.put_runner("set", &stale, &runner("r-1")).await.unwrap();
        p.store.put_rerun("set", &stale, &rerun(1)).await.unwrap();
        let later = now + Duration::seconds(5);
        let (fresh, state) = acquired(
            p.store.acquire("set", "new", later + Duration::seconds(60), later).await.unwrap(),
        );
        let fenced = [
            p.store.save("set", &stale, &full_state()).await.unwrap_err(),
            p.store.put_runner("set", &stale, &runner("r-2")).await.unwrap_err(),
            p.store.delete_runner("set", &stale, "r-1").await.unwrap_err(),
            p.store.put_rerun("set", &stale, &rerun(2)).await.unwrap_err(),
            p.store.delete_rerun("set", &stale, 1).await.unwrap_err(),
            p.store.release("set", &stale).await.unwrap_err(),
        ];
        for error in &fenced {
            assert_eq!(error.kind, PortErrorKind::Fenced, "{error}");
            assert!(!error.message.contains("token-value"), "{error}");
        }
        let names: Vec<String> = ledger(&p.store, "set").await.into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["r-1"]);
        let runs: Vec<i64> = reruns(&p.store, "set").await.into_iter().map(|r| r.run_id).collect();
        assert_eq!(runs, [1]);

        p.store.save("set", &fresh, &state).await.unwrap();
        p.store.delete_runner("set", &fresh, "r-1").await.unwrap();
        p.store.delete_rerun("set", &fresh, 1).await.unwrap();
        p.store.release("set", &fresh).await.unwrap();
        let (_, kept) = acquired(
            p.store.acquire("set", "next", later + Duration::seconds(60), later).await.unwrap(),
        );
        assert_eq!(kept, ScaleSetState::default(), "the stale save left nothing");
        assert!(ledger(&p.store, "set").await.is_empty());
        assert!(reruns(&p.store, "set").await.is_empty());
    }

    /// A lease nobody ever took fences every write: there is no record to match.
    async fn writes_without_an_acquisition_are_fenced(p) {
        let lease = Lease { owner: "nobody".into(), fence: 1, expires_at: Utc::now() };
        let errors = [
            p.store.save("never", &lease, &ScaleSetState::default()).await.unwrap_err(),
            p.store.put_runner("never", &lease, &runner("r-1")).await.unwrap_err(),
            p.store.delete_runner("never", &lease, "r-1").await.unwrap_err(),
            p.store.put_rerun("never", &lease, &rerun(1)).await.unwrap_err(),
            p.store.delete_rerun("never", &lease, 1).await.unwrap_err(),
            p.store.release("never", &lease).await.unwrap_err(),
        ];
        for error in errors {
            assert_eq!(error.kind, PortErrorKind::Fenced, "{error}");
        }
        assert!(p.store.runners("never").await.unwrap().is_empty());
        assert!(p.store.reruns("never").await.unwrap().is_empty());
    }

    /// The fence, not the expiry, guards writes: a lapsed lease nobody took over still writes.
    async fn a_lapsed_lease_writes_until_taken_over(p) {
        let now = Utc::now();
        let (lapsed, _) = acquired(
            p.store.acquire("set", "slow", now - Duration::seconds(1), now).await.unwrap(),
        );
        p.store.put_runner("set", &lapsed, &runner("r-1")).await.unwrap();
        p.store.save("set", &lapsed, &ScaleSetState::default()).await.unwrap();
        p.store.release("set", &lapsed).await.unwrap();
        assert_eq!(ledger(&p.store, "set").await.len(), 1);
    }

    /// Ledger entries are per scale set, read back exactly (launch time to the nanosecond),
    /// replaced by name, and deleting one that is not there is fine.
    async fn the_ledger_is_per_scale_set_and_keyed_by_name(p) {
        let now = Utc::now();
        let (lease, _) = acquired(
            p.store.acquire("set", "inv-1", now + Duration::seconds(60), now).await.unwrap(),
        );
        let busy = RunnerRecord {
            runner_id: Some(31),
            state: RunnerState::Busy,
            job_id: Some("job-7".into()),
            ..runner("r-busy")
        };
        let boot = runner("r-boot");
        p.store.put_runner("set", &lease, &boot).await.unwrap();
        p.store.put_runner("set", &lease, &busy).await.unwrap();
        assert_eq!(ledger(&p.store, "set").await, [boot, busy.clone()]);
        assert!(p.store.runners("other-set").await.unwrap().is_empty());

        let idle = RunnerRecord { state: RunnerState::Idle, job_id: None, ..busy };
        p.store.put_runner("set", &lease, &idle).await.unwrap();
        p.store.delete_runner("set", &lease, "r-boot").await.unwrap();
        p.store.delete_runner("set", &lease, "never-existed").await.unwrap();
        assert_eq!(ledger(&p.store, "set").await, [idle]);
    }

    /// Pending reruns are per scale set, read back exactly (the time to the nanosecond),
    /// replaced by run id, apart from the ledger both ways, and deleting one that is not there
    /// is fine.
    async fn pending_reruns_are_per_scale_set_keyed_by_run_id_and_apart_from_the_ledger(p) {
        let now = Utc::now();
        let (lease, _) = acquired(
            p.store.acquire("set", "inv-1", now + Duration::seconds(60), now).await.unwrap(),
        );
        let (first, second) = (rerun(30_433_642), rerun(7));
        p.store.put_rerun("set", &lease, &first).await.unwrap();
        p.store.put_rerun("set", &lease, &second).await.unwrap();
        p.store.put_runner("set", &lease, &runner("r-1")).await.unwrap();
        assert_eq!(reruns(&p.store, "set").await, [second.clone(), first.clone()]);
        assert!(p.store.reruns("other-set").await.unwrap().is_empty());
        let names: Vec<String> = ledger(&p.store, "set").await.into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["r-1"], "a rerun is no ledger entry");

        let noted = RerunRecord { attempt: Some(2), ..first };
        p.store.put_rerun("set", &lease, &noted).await.unwrap();
        p.store.delete_rerun("set", &lease, second.run_id).await.unwrap();
        p.store.delete_rerun("set", &lease, 99).await.unwrap();
        assert_eq!(reruns(&p.store, "set").await, [noted]);
        p.store.delete_runner("set", &lease, "r-1").await.unwrap();
        assert_eq!(reruns(&p.store, "set").await.len(), 1, "a ledger delete leaves reruns");
    }

    /// Launched instances are listed live under their scale set only, with their launch time,
    /// and carry their runner's name once named.
    async fn launched_instances_are_listed_by_scale_set_and_named(p) {
        let (id, other) = (ID, OTHER_ID);
        let before = Utc::now() - Duration::minutes(5);
        let outcome = p.fleet.launch(id, 2, &format!("contract-{id}-1")).await.unwrap();
        assert_eq!(outcome.instance_ids.len(), 2, "{outcome:?}");
        assert!(outcome.errors.is_empty(), "{outcome:?}");
        let listed = p.fleet.instances(id).await.unwrap();
        let mut ids: Vec<&str> = listed.iter().map(|i| i.id.as_str()).collect();
        ids.sort_unstable();
        let mut launched: Vec<&str> = outcome.instance_ids.iter().map(String::as_str).collect();
        launched.sort_unstable();
        assert_eq!(ids, launched);
        assert!(
            listed.iter().all(|i| i.state.is_live()
                && i.runner_name.is_none()
                && i.launched_at > before
                && i.launched_at <= Utc::now()),
            "{listed:?}"
        );
        assert!(p.fleet.instances(other).await.unwrap().is_empty());

        let named = &outcome.instance_ids[0];
        p.fleet.name_runner(named, "cycle-set-r1").await.unwrap();
        let listed = p.fleet.instances(id).await.unwrap();
        let names: Vec<(&str, Option<&str>)> = listed
            .iter()
            .map(|i| (i.id.as_str(), i.runner_name.as_deref()))
            .filter(|(_, name)| name.is_some())
            .collect();
        assert_eq!(names, [(named.as_str(), Some("cycle-set-r1"))]);
    }

    /// Launching nothing launches nothing.
    async fn launching_nothing_launches_nothing(p) {
        let id = ID;
        let outcome = p.fleet.launch(id, 0, &format!("contract-{id}-0")).await.unwrap();
        assert_eq!(outcome, ghaec2::ports::LaunchOutcome::default());
        assert!(p.fleet.instances(id).await.unwrap().is_empty());
    }

    /// A terminated instance stays listed, no longer live; terminating it again, nothing, or an
    /// id EC2 never knew is fine, and the known ones of a mixed batch go.
    async fn terminated_instances_stay_listed_and_unknown_ones_are_fine(p) {
        let id = ID;
        let outcome = p.fleet.launch(id, 3, &format!("contract-{id}-1")).await.unwrap();
        let [a, b, c] = <[String; 3]>::try_from(outcome.instance_ids).unwrap();
        p.fleet.terminate(std::slice::from_ref(&a)).await.unwrap();
        let gone = state_of(&p.fleet, id, &a).await.expect("still listed");
        assert!(!gone.is_live(), "{gone:?}");
        assert!(state_of(&p.fleet, id, &b).await.is_some_and(|s| s.is_live()));

        p.fleet.terminate(std::slice::from_ref(&a)).await.unwrap();
        p.fleet.terminate(&[]).await.unwrap();
        let unknown = "i-0fffffffffffffff0".to_owned();
        p.fleet.terminate(std::slice::from_ref(&unknown)).await.unwrap();
        p.fleet.terminate(&[b.clone(), unknown]).await.unwrap();
        assert!(!state_of(&p.fleet, id, &b).await.unwrap().is_live());
        assert!(state_of(&p.fleet, id, &c).await.unwrap().is_live());
    }

    /// Naming an instance EC2 does not know fails, once the patience is spent, as retryable
    /// with EC2's code. EC2's CreateTags answers `InvalidInstanceID.NotFound` for an id it does
    /// not know ("Eventual consistency in the Amazon EC2 API"); moto 5.2 tags any id.
    async fn naming_an_unknown_instance_is_retryable(p)
        unlike moto: "moto's CreateTags accepts unknown instance ids; EC2 refuses them"
    {
        let error = p.fleet.name_runner("i-0fffffffffffffff1", "cycle-set-r1").await.unwrap_err();
        assert_eq!(error.kind, PortErrorKind::Retryable, "{error}");
        assert!(error.message.contains("InvalidInstanceID.NotFound"), "{error}");
    }

    /// JIT configs are listed by instance until deleted or read by their instance; a config
    /// put again replaces the first; deleting one that is gone is fine.
    async fn jit_configs_are_listed_until_deleted_or_taken(p) {
        let (a, b) = ("i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2");
        p.jit.put(a, &SecretString::from("jit-a")).await.unwrap();
        p.jit.put(b, &SecretString::from("jit-b-old")).await.unwrap();
        p.jit.put(b, &SecretString::from("jit-b")).await.unwrap();
        let mut listed = p.jit.listing().await.unwrap().instance_ids;
        listed.sort();
        assert_eq!(listed, [a, b]);

        p.jit.delete(a).await.unwrap();
        p.jit.delete(a).await.unwrap();
        assert_eq!(p.aws.take_jit(b).await.as_deref(), Some("jit-b"));
        assert_eq!(p.aws.take_jit(b).await, None, "read once");
        let listing = p.jit.listing().await.unwrap();
        assert!(listing.instance_ids.is_empty(), "{listing:?}");
        assert!(listing.boot_failures.is_empty(), "{listing:?}");
    }

    /// Boot failures are listed apart from JIT material, with the reason cut to 200
    /// characters, and deleted apart from it.
    async fn boot_failures_are_listed_and_deleted_apart_from_jit_material(p) {
        let (a, b) = ("i-0aaaaaaaaaaaaaaa3", "i-0bbbbbbbbbbbbbbb4");
        p.jit.put(a, &SecretString::from("jit-a")).await.unwrap();
        p.aws.report_boot_failure(a, "runner exited with status 1").await;
        p.aws.report_boot_failure(b, &"x".repeat(300)).await;
        let listing = p.jit.listing().await.unwrap();
        assert_eq!(listing.instance_ids, [a], "a report is no JIT material");
        let mut failures: Vec<(String, String)> = listing
            .boot_failures
            .into_iter()
            .map(|f| (f.instance_id, f.reason))
            .collect();
        failures.sort();
        assert_eq!(
            failures,
            [
                (a.to_owned(), "runner exited with status 1".to_owned()),
                (b.to_owned(), "x".repeat(200)),
            ]
        );

        p.jit.delete_boot_failure(a).await.unwrap();
        p.jit.delete_boot_failure(a).await.unwrap();
        p.jit.delete(b).await.unwrap();
        let listing = p.jit.listing().await.unwrap();
        assert_eq!(listing.instance_ids, [a], "the JIT config stays");
        let left: Vec<&str> = listing.boot_failures.iter().map(|f| f.instance_id.as_str()).collect();
        assert_eq!(left, [b], "deleting JIT material leaves the report");
    }

    /// A launch retried with its client token returns the first launch's instances and
    /// launches no more; the token with another count is refused. EC2 returns the first
    /// launch for a repeated CreateFleet ClientToken, and `IdempotentParameterMismatch` when
    /// another parameter changed ("Ensuring idempotency in Amazon EC2 API requests"); moto 5.2
    /// ignores the token and launches again, so tests/support/invariants.rs counts repeated
    /// tokens on moto instead.
    async fn a_retried_client_token_launches_once(p)
        unlike moto: "moto's CreateFleet ignores ClientToken; EC2 honours it"
    {
        let token = format!("contract-{ID}-1");
        let first = p.fleet.launch(ID, 2, &token).await.unwrap();
        let again = p.fleet.launch(ID, 2, &token).await.unwrap();
        assert_eq!(again, first);
        let changed = p.fleet.launch(ID, 3, &token).await.unwrap_err();
        assert!(changed.message.contains("IdempotentParameterMismatch"), "{changed}");
        assert_eq!(p.fleet.instances(ID).await.unwrap().len(), 2);
    }
}
