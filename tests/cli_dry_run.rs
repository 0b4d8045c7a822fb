//! `ghaec2 --dry-run` as a user runs it, against the fake: success, each error of docs/design.md §5,
//! and invalid configuration. The binary's environment is set explicitly, never inherited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ghaec2_fake::{FakeServer, Fault};

/// `ghaec2 --dry-run` with one retry at most, so injected faults surface at once.
async fn dry_run(
    fake: &FakeServer,
    region: &str,
    extra: &[(&str, &str)],
) -> (bool, String, String) {
    let extra: Vec<(&str, &str)> = [("AWS_MAX_ATTEMPTS", "1")]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let ran = support::cli::run(fake, region, "dry", &["--dry-run"], &extra).await;
    (ran.success, ran.stdout, ran.stderr)
}

#[tokio::test]
async fn passes_against_the_fake_and_reports_the_missing_scale_set() {
    let fake = support::fake::fake().await;
    let (ok, stdout, stderr) = dry_run(&fake, "eu-north-1", &[]).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().last(), Some("dry-run passed"));
    assert!(stdout.contains("it would be created"), "{stdout}");
    assert!(
        fake.calls_to("scale-sets.create").is_empty(),
        "dry-run creates nothing"
    );
    assert!(fake.calls_to("sessions.create").is_empty());
    assert!(
        stderr.contains("Successfully initialized Actions Service client"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(ghaec2_fake::DEFAULT_PAT) && !stdout.contains(ghaec2_fake::DEFAULT_PAT)
    );
}

#[tokio::test]
async fn prints_the_messages_users_know_and_fails() {
    let cases = [
        (
            Fault::runner_registration_status(404, 10),
            "Actions Service not available on this GitHub Enterprise Server. Please ensure you have a compatible version that supports the Actions Service API. Status: 404",
        ),
        (
            Fault::registration_token_forbidden(10),
            "failed to get registration token: Actions API error (status: 403)",
        ),
        (
            Fault::runner_registration_html(10),
            "Actions Service endpoint returned invalid response",
        ),
    ];
    for (fault, message) in cases {
        let fake = support::fake::fake().await;
        fake.add_fault(fault);
        let (ok, stdout, _) = dry_run(&fake, "eu-south-1", &[]).await;
        assert!(!ok, "{stdout}");
        assert!(stdout.contains(message), "{stdout}");
        assert_eq!(stdout.lines().last(), Some("dry-run failed"));
    }
}

#[tokio::test]
async fn invalid_configuration_names_the_variable_and_hides_secrets() {
    let fake = support::fake::fake().await;
    let (ok, stdout, _) = dry_run(
        &fake,
        "eu-central-1",
        &[("MAX_RUNNERS", "ten"), ("GITHUB_TOKEN", "ghp_secret_value")],
    )
    .await;
    assert!(!ok);
    assert!(stdout.contains("MAX_RUNNERS=\"ten\""), "{stdout}");
    assert!(!stdout.contains("ghp_secret_value"));
    assert_eq!(stdout.lines().last(), Some("dry-run failed"));
}
