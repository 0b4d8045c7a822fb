//! `ghaec2 --teardown` against moto_server and the fake: a scale set with an idle runner, a
//! busy one, a booting one, an orphan instance, JIT and boot-failure items, a launch template
//! and a session is taken down completely; a busy runner is waited for and never removed or
//! terminated; reruns, partial runs, a held lease and `--keep-scale-set`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ec2::types::{ResourceType, TagSpecification};
use ghaec2::aws::{TableCleanup, scale_set_tags, schema, template_name};
use ghaec2::ports::{LeaseOutcome, StateStore};
use ghaec2::teardown::{Report, ScaleSetOutcome, Teardown, TeardownError, TeardownSettings};
use ghaec2_fake::{JobSpec, Mode};
use support::cycle::{Harness, SCALE_SET, isolated};

const WINDOW: Duration = Duration::from_millis(2500);

/// What [`scene`] built.
struct Scene {
    scale_set_id: i64,
    /// The job of the busy runner.
    job: u64,
    busy_instance: String,
    idle_instance: String,
    booting_instance: String,
    orphan_instance: String,
}

/// One cycle with `MIN_RUNNERS=2` and one job launches three instances; then one runner
/// connects and takes the job (busy, for `job_ms`, or until completed), one connects idle, one
/// stays booting and records a boot failure, and an instance nobody registered carries the
/// scale set's tag.
async fn scene(h: &Harness, job_ms: Option<u64>) -> Scene {
    let job = h
        .fake
        .enqueue_job(JobSpec {
            duration_ms: job_ms,
            ..JobSpec::with_labels([SCALE_SET])
        })
        .unwrap()
        .runner_request_id;
    let summary = h.cycle(WINDOW).await.unwrap();
    assert_eq!(summary.launched, 3, "{summary:?}");
    let scale_set_id = h.scale_set_id().await;
    let mut ids: Vec<String> = h.instances().await.into_iter().map(|i| i.id).collect();
    ids.sort();
    let connect = |id: String| async move {
        let config = h.take_jit(&id).await.expect("jit config");
        h.fake.connect_runner(&config).unwrap();
        id
    };
    let busy_instance = connect(ids[0].clone()).await;
    let idle_instance = connect(ids[1].clone()).await;
    let booting_instance = ids[2].clone();
    put_boot_failure(h, &booting_instance).await;
    Scene {
        scale_set_id,
        job,
        busy_instance,
        idle_instance,
        booting_instance,
        orphan_instance: launch_orphan(h, scale_set_id).await,
    }
}

/// A boot-failure record as the runner's script writes it, beside its JIT config.
async fn put_boot_failure(h: &Harness, instance_id: &str) {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    h.aws
        .dynamodb
        .put_item()
        .table_name(&h.aws.table)
        .item(schema::PARTITION_KEY, s(&h.aws.arns.jit_pk(instance_id)))
        .item(schema::SORT_KEY, s("boot-failure"))
        .item("reason", s("AccessDenied reading its JIT config"))
        .item(schema::jit::INSTANCE_ID, s(instance_id))
        .item(schema::jit::SCALE_SET_NAME, s(SCALE_SET))
        .item(
            schema::TTL_ATTRIBUTE,
            AttributeValue::N("4102444800".into()),
        )
        .send()
        .await
        .unwrap();
}

/// An instance with the scale set's tags that no ledger entry or runner knows.
async fn launch_orphan(h: &Harness, scale_set_id: i64) -> String {
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .set_tags(Some(scale_set_tags(scale_set_id, "orphan")))
        .build();
    let launched = h
        .aws
        .ec2
        .run_instances()
        .set_image_id(h.config.ec2.ami_id.clone())
        .subnet_id(&h.aws.network.subnet_ids[0])
        .min_count(1)
        .max_count(1)
        .tag_specifications(tags)
        .send()
        .await
        .unwrap();
    launched.instances()[0].instance_id().unwrap().to_owned()
}

/// Test waits: short polls, a lease wait of a few seconds.
fn settings(h: &Harness, busy_wait: Duration) -> TeardownSettings {
    let mut settings = TeardownSettings::new(&h.config, "teardown-test".to_owned());
    settings.busy_wait = busy_wait;
    settings.lease_wait = Duration::from_secs(5);
    settings.termination_wait = Duration::from_secs(10);
    settings.poll = Duration::from_millis(100);
    settings
}

/// Runs a teardown in-process with its logs captured, and checks them for secrets.
async fn tear_down(h: &Harness, settings: &TeardownSettings) -> Result<Report, TeardownError> {
    let table = TableCleanup::new(h.aws.dynamodb.clone(), h.aws.table.clone());
    let teardown = Teardown {
        actions: &h.actions,
        store: &h.store,
        fleet: &h.fleet,
        ec2: &h.aws.ec2,
        table: &table,
        settings,
    };
    let result = h.captured(teardown.run()).await;
    let leaks = h.leaks(&format!("{result:?}")).await;
    assert!(leaks.is_empty(), "secrets leaked: {leaks:?}");
    result
}

/// Every item left in the table (the harness's table holds this scale set only).
async fn items_left(h: &Harness) -> Vec<String> {
    let scan = h
        .aws
        .dynamodb
        .scan()
        .table_name(&h.aws.table)
        .send()
        .await
        .unwrap();
    scan.items()
        .iter()
        .map(|item| format!("{:?} {:?}", item.get("pk"), item.get("sk")))
        .collect()
}

async fn template_left(h: &Harness) -> bool {
    h.aws
        .ec2
        .describe_launch_templates()
        .launch_template_names(template_name(SCALE_SET))
        .send()
        .await
        .is_ok_and(|out| !out.launch_templates().is_empty())
}

async fn live_instances(h: &Harness, scale_set_id: i64) -> Vec<String> {
    use ghaec2::ports::Fleet;
    let mut ids: Vec<String> = h
        .fleet
        .instances(scale_set_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.state.is_live())
        .map(|i| i.id)
        .collect();
    ids.sort();
    ids
}

/// Nothing of the scale set is left but, when `kept`, the scale set itself.
async fn assert_all_gone(h: &Harness, scale_set_id: i64, kept: bool) {
    assert!(live_instances(h, scale_set_id).await.is_empty());
    assert_eq!(items_left(h).await, Vec::<String>::new());
    assert!(!template_left(h).await, "launch template left");
    let state = h.fake.state();
    assert!(state.runners.is_empty(), "{:?}", state.runners);
    assert_eq!(h.fake.live_session(scale_set_id as u64), None);
    let exists = h.actions.scale_set_by_name(1, SCALE_SET).await.unwrap();
    assert_eq!(exists.is_some(), kept, "{exists:?}");
}

#[tokio::test]
async fn everything_goes_and_a_busy_runner_is_waited_for() {
    let h = isolated(Mode::Dotcom, 2, 10).await;
    let scene = scene(&h, Some(1500)).await;
    let session = h.fake.live_session(scene.scale_set_id as u64);
    assert!(session.is_some(), "the cycle left its session");
    assert!(template_left(&h).await);
    assert_eq!(
        items_left(&h).await.len(),
        1 + 1 + 1 + 3 + 1 + 1,
        "state, admin connection, decisions, ledger, jit, boot failure"
    );

    let report = tear_down(&h, &settings(&h, Duration::from_secs(30)))
        .await
        .unwrap();

    assert_eq!(report.runners_removed.len(), 3, "{report:?}");
    let mut terminated = report.instances_terminated.clone();
    terminated.sort();
    let mut expected = vec![
        scene.busy_instance.clone(),
        scene.idle_instance.clone(),
        scene.booting_instance.clone(),
        scene.orphan_instance.clone(),
    ];
    expected.sort();
    assert_eq!(terminated, expected);
    assert_eq!(report.session_deleted, session);
    assert_eq!(
        report.scale_set_outcome,
        ScaleSetOutcome::Deleted(scene.scale_set_id)
    );
    assert!(report.template_deleted);
    assert_eq!(
        (report.instance_items_deleted, report.ledger_entries_deleted),
        (2, 3)
    );
    assert_all_gone(&h, scene.scale_set_id, false).await;
    // The busy runner was refused (400) while its job ran; the job ended on its own.
    let refused = h.fake.calls_to("agents.delete");
    assert!(refused.iter().any(|c| c.status == 400), "{refused:?}");
    let job = h.fake.find_job(&scene.job.to_string()).unwrap();
    assert_eq!(job.result.as_deref(), Some("succeeded"), "{job:?}");
    assert!(report.to_string().ends_with("teardown complete"));

    // A rerun finds nothing and succeeds.
    let again = tear_down(&h, &settings(&h, Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(again.runners_removed.is_empty(), "{again:?}");
    assert!(again.instances_terminated.is_empty());
    assert_eq!(again.scale_set_outcome, ScaleSetOutcome::AlreadyGone);
    assert!(!again.template_deleted);
    assert_all_gone(&h, scene.scale_set_id, false).await;
}

#[tokio::test]
async fn a_runner_still_busy_stops_it_and_keeps_its_instance() {
    let h = isolated(Mode::Dotcom, 2, 10).await;
    let scene = scene(&h, None).await;

    let error = tear_down(&h, &settings(&h, Duration::from_millis(300)))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, TeardownError::Busy { .. }), "{error:?}");
    assert!(text.contains(&scene.busy_instance), "{text}");
    assert!(text.contains("--busy-wait-seconds"), "{text}");
    assert_eq!(
        live_instances(&h, scene.scale_set_id).await,
        vec![scene.busy_instance.clone()],
        "only the busy runner's instance is left"
    );
    let job = h.fake.find_job(&scene.job.to_string()).unwrap();
    assert_eq!(job.result, None, "the job runs on: {job:?}");
    assert!(h.fake.live_session(scene.scale_set_id as u64).is_some());
    assert!(template_left(&h).await);
    assert!(
        h.actions
            .scale_set_by_name(1, SCALE_SET)
            .await
            .unwrap()
            .is_some()
    );

    // Once the job ends, a rerun finishes the job, and a cycle could still have run meanwhile:
    // the lease was released.
    h.fake.succeed_job(scene.job).unwrap();
    tear_down(&h, &settings(&h, Duration::from_secs(5)))
        .await
        .unwrap();
    assert_all_gone(&h, scene.scale_set_id, false).await;
}

#[tokio::test]
async fn keep_scale_set_keeps_only_the_scale_set() {
    let h = isolated(Mode::Dotcom, 2, 10).await;
    let scene = scene(&h, Some(300)).await;
    let mut settings = settings(&h, Duration::from_secs(30));
    settings.keep_scale_set = true;
    let report = tear_down(&h, &settings).await.unwrap();
    assert_eq!(
        report.scale_set_outcome,
        ScaleSetOutcome::Kept(Some(scene.scale_set_id))
    );
    assert!(report.session_deleted.is_some());
    assert_all_gone(&h, scene.scale_set_id, true).await;
}

#[tokio::test]
async fn a_scale_set_the_service_deleted_still_has_its_instances_found() {
    let h = isolated(Mode::Dotcom, 2, 10).await;
    let scene = scene(&h, None).await;
    // The service deletes the scale set (e.g. dormant): runners and session go with it.
    h.fake.delete_scale_set(scene.scale_set_id as u64).unwrap();
    let report = tear_down(&h, &settings(&h, Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.scale_set_outcome, ScaleSetOutcome::AlreadyGone);
    assert_eq!(report.instances_terminated.len(), 4, "{report:?}");
    assert_all_gone(&h, scene.scale_set_id, false).await;
}

#[tokio::test]
async fn a_partial_run_is_finished_by_the_rerun() {
    let h = isolated(Mode::Dotcom, 2, 10).await;
    let scene = scene(&h, Some(300)).await;
    h.aws
        .proxy
        .fail("ec2", "DeleteLaunchTemplate", 1, "UnauthorizedOperation");
    let error = tear_down(&h, &settings(&h, Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("UnauthorizedOperation"),
        "{error}"
    );
    // Instances, session and scale set went; the state record stays for the rerun.
    assert!(live_instances(&h, scene.scale_set_id).await.is_empty());
    assert!(!items_left(&h).await.is_empty());

    let report = tear_down(&h, &settings(&h, Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(report.template_deleted, "{report:?}");
    assert_all_gone(&h, scene.scale_set_id, false).await;
}

#[tokio::test]
async fn it_waits_for_a_running_invocations_lease() {
    let h = isolated(Mode::Dotcom, 1, 10).await;
    h.cycle(WINDOW).await.unwrap();
    let scale_set_id = h.scale_set_id().await;
    let now = chrono::Utc::now();
    let taken = h
        .store
        .acquire(
            SCALE_SET,
            "lambda-invocation",
            now + chrono::Duration::milliseconds(800),
            now,
        )
        .await
        .unwrap();
    assert!(matches!(taken, LeaseOutcome::Acquired(..)), "{taken:?}");
    tear_down(&h, &settings(&h, Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(h.logs.text().contains("Lease held; waiting"));
    assert_all_gone(&h, scale_set_id, false).await;

    // A lease that outlives the wait stops the teardown before it changes anything.
    h.cycle(WINDOW).await.unwrap();
    let now = chrono::Utc::now();
    h.store
        .acquire(
            SCALE_SET,
            "lambda-invocation",
            now + chrono::Duration::minutes(5),
            now,
        )
        .await
        .unwrap();
    let mut short = settings(&h, Duration::from_secs(5));
    short.lease_wait = Duration::from_millis(300);
    let error = tear_down(&h, &short).await.unwrap_err();
    assert!(
        matches!(&error, TeardownError::LeaseHeld { owner, .. } if owner == "lambda-invocation"),
        "{error:?}"
    );
    assert_eq!(h.instances().await.len(), 1);
}

/// The binary as `make destroy` runs it: the busy case exits 1 and names the runner, the rerun
/// after the job exits 0 with the report.
#[tokio::test]
async fn the_command_line_exits_non_zero_while_busy_and_zero_when_done() {
    let h = isolated(Mode::Dotcom, 2, 10).await;
    let scene = scene(&h, None).await;
    let (code, stdout, stderr) = run_cli(&h, &["--busy-wait-seconds", "0"]).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("teardown stopped: runners still running jobs"),
        "{stderr}"
    );
    assert!(stderr.contains(&scene.busy_instance), "{stderr}");
    assert_eq!(
        live_instances(&h, scene.scale_set_id).await,
        vec![scene.busy_instance.clone()]
    );

    h.fake.succeed_job(scene.job).unwrap();
    let (code, stdout, stderr) = run_cli(&h, &[]).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().last(), Some("teardown complete"), "{stdout}");
    assert!(
        !stdout.contains(ghaec2_fake::DEFAULT_PAT) && !stderr.contains(ghaec2_fake::DEFAULT_PAT)
    );
    assert_all_gone(&h, scene.scale_set_id, false).await;
}

async fn run_cli(h: &Harness, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ghaec2"));
    command
        .arg("--teardown")
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_CONFIG_URL", h.fake.config_url("my-org"))
        .env("GITHUB_TOKEN", ghaec2_fake::DEFAULT_PAT)
        .env("RUNNER_SCALE_SET_NAME", SCALE_SET)
        .env("EC2_SUBNET_ID", h.aws.network.subnet_ids.join(","))
        .env("EC2_SECURITY_GROUP_ID", &h.aws.network.security_group_id)
        .env(
            "EC2_AMI_ID",
            h.config.ec2.ami_id.as_deref().unwrap_or_default(),
        )
        .env("STATE_TABLE_NAME", &h.aws.table)
        .env("AWS_REGION", support::cycle::REGION)
        .env("AWS_ENDPOINT_URL", h.aws.proxy.url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("runs ghaec2");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
