//! Taking the scale set's lease (docs/design.md §1.1), with the hand-over between invocations:
//! an invocation that finds the lease held by one whose listening ends before its own waits
//! for it and takes over as soon as it is released, so that with a drain window as long as the
//! schedule period some invocation is always listening. The lease is watched by consistent
//! reads, and taken by a conditional write only once a read finds it free: a failed conditional
//! write costs as much as one that succeeds.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{CycleError, CycleSettings, LEASE_OVERHANG, SAFETY_MARGIN, Stop};
use crate::backoff::Backoff;
use crate::ports::{Lease, LeaseOutcome, PortError, PortErrorKind, ScaleSetState, StateStore};

/// Looks while the holder is releasing: 200 ms apart, slowing to 2 s if it does not (a
/// crashed holder's lease lapses only at its expiry). Each look is one consistent read.
const RETRY: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));

/// An invocation takes the lease over only when at least this much of its own listening would
/// be left: one started together with the holder ends with it, and returns at once.
const WORTH_TAKING_OVER: Duration = Duration::from_secs(1);

/// The lease, or `None` when another invocation holds it for (nearly) all our own listening.
pub(super) async fn take<S: StateStore + Sync>(
    store: &S,
    settings: &CycleSettings,
    stop: &Stop,
) -> Result<Option<(Lease, ScaleSetState)>, CycleError> {
    let name = settings.scale_set_name.as_str();
    let mut retry = RETRY;
    let mut waiting = false;
    loop {
        let now = settings.clock.now();
        let record = store.read(name).await?;
        let (holder, expires_at) = match record.held_against(&settings.owner, now) {
            Some(held) => (held.owner.clone(), held.expires_at),
            // Free, lapsed or ours: the conditional write decides a race with another taker.
            None => match store
                .acquire(name, &settings.owner, now + stop.lease_span(), now)
                .await?
            {
                LeaseOutcome::Acquired(lease, state) => return Ok(Some((lease, state))),
                LeaseOutcome::Held { owner, expires_at } => (owner, expires_at),
            },
        };
        // The holder listens until its expiry less the margin and overhang it took it with,
        // then persists and releases within the margin.
        let holder_listening = expires_at - chrono_span(SAFETY_MARGIN + LEASE_OVERHANG) - now;
        let holder_listening = holder_listening.to_std().unwrap_or_default();
        if holder_listening + WORTH_TAKING_OVER >= stop.left() || stop.shutting_down() {
            tracing::info!(scale_set = name, holder, %expires_at, "Lease held by another invocation.");
            return Ok(None);
        }
        let wait = match holder_listening.is_zero() {
            // Releasing (or crashed, and its lease lapses at its expiry): try again soon.
            true => retry.fail(),
            // Still listening: come back as it stops.
            false => holder_listening,
        };
        // Once a take: the hand-over's later looks are routine.
        if !std::mem::replace(&mut waiting, true) {
            tracing::info!(
                scale_set = name,
                holder,
                wait_ms = wait.as_millis() as u64,
                "Lease held by an invocation that ends first; waiting to take over."
            );
        }
        stop.pause(wait).await;
    }
}

/// The lease taken from whoever holds it: a spot interruption cannot wait for the holder's
/// window to end. The holder's next fenced write fails and it stops; anything it launched
/// in between has no ledger entry, and the next reconcile removes it as unknown.
pub(super) async fn preempt<S: StateStore + Sync>(
    store: &S,
    settings: &CycleSettings,
    stop: &Stop,
) -> Result<(Lease, ScaleSetState), CycleError> {
    let name = settings.scale_set_name.as_str();
    let lease_until = settings.clock.now() + stop.lease_span();
    // Every lease has lapsed by the end of time.
    match store
        .acquire(name, &settings.owner, lease_until, DateTime::<Utc>::MAX_UTC)
        .await?
    {
        LeaseOutcome::Acquired(lease, state) => {
            tracing::info!(scale_set = name, fence = lease.fence, "Lease preempted.");
            Ok((lease, state))
        }
        LeaseOutcome::Held { owner, .. } => Err(CycleError::Port(PortError {
            operation: "preempt lease",
            kind: PortErrorKind::Retryable,
            message: format!("the state store kept the lease with {owner}"),
        })),
    }
}

fn chrono_span(span: Duration) -> chrono::Duration {
    chrono::Duration::from_std(span).unwrap_or_default()
}
