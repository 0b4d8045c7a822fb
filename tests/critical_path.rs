//! Nothing between a message and CreateFleet that the invocation already knows: under its
//! lease the ledger is the invocation's own after the first read, and EC2's view was listed at
//! the first pass and is listed again after each launch (src/cycle/known.rs). Against moto
//! through the tests' proxy, which records every AWS call in order. Run with
//! `scripts/with-moto.sh cargo test --test critical_path`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2_fake::{FakeOptions, Mode};
use support::cycle::{REGION, harness_on, stop};

#[tokio::test]
async fn a_jobs_message_goes_straight_to_create_fleet() {
    // Empty polls are held past the window: no quiet poll lists EC2 in between.
    let options = FakeOptions::for_tests()
        .with_mode(Mode::Dotcom)
        .with_poll_hold(Duration::from_secs(5));
    let h = harness_on(options, REGION, 0, 10, &[]).await;
    h.cycle(Duration::from_millis(1500)).await.unwrap();

    let listener = h.services();
    let window = stop(Duration::from_millis(3500));
    let (summary, after_first_pass) = tokio::join!(h.run(listener, &window), async {
        // The first pass reconciles, then the listener polls and waits.
        while !h.logs.text().contains("Reconciled.") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = h.aws.proxy.calls().len();
        h.enqueue(2);
        seen
    });
    let summary = summary.unwrap();
    assert_eq!(summary.launched, 2, "{summary:?}");

    let actions: Vec<String> = h.aws.proxy.calls()[after_first_pass..]
        .iter()
        .map(|c| c.action.clone())
        .collect();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("CreateFleet"),
        "the message's first AWS call: {actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "DescribeInstances"),
        "EC2 is listed after the launch, for the next plan: {actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a == "Query"),
        "the ledger is not read again: {actions:?}"
    );
}
