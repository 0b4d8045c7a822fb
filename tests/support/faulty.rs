//! Fault-injecting wrappers for the cycle's ports: [`Faulty`] wraps a [`StateStore`], a
//! [`Fleet`] or a [`JitStore`] and fails the Nth call of a chosen operation, either before the
//! call reaches AWS (the step never happened) or after it succeeded (the step happened, but the
//! invocation "crashed" before it could use the result). It can also let another invocation
//! take the lease over just before a chosen call, to play a paused, stale owner, or "kill"
//! the invocation at a call: the call never returns, and the test drops the cycle's future
//! once [`Faulty::killed`] fires, as if the process had died there.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use ghaec2::ports::{
    Decisions, Fleet, Instance, JitListing, JitStore, LaunchOutcome, Lease, LeaseOutcome,
    PortError, PortErrorKind, RerunRecord, RunnerRecord, ScaleSetState, StateRecord, StateStore,
    StoredAdmin,
};
use secrecy::SecretString;

/// `StateStore::acquire`.
pub const ACQUIRE: &str = "acquire";
/// `StateStore::read`.
pub const READ: &str = "read";
/// `StateStore::put_admin`.
pub const PUT_ADMIN: &str = "put_admin";
/// `StateStore::put_decisions`.
pub const PUT_DECISIONS: &str = "put_decisions";
/// `StateStore::save`.
pub const SAVE: &str = "save";
/// `StateStore::release`.
pub const RELEASE: &str = "release";
/// `StateStore::runners`.
pub const RUNNERS: &str = "runners";
/// `StateStore::put_runner`.
pub const PUT_RUNNER: &str = "put_runner";
/// `StateStore::delete_runner`.
pub const DELETE_RUNNER: &str = "delete_runner";
/// `StateStore::reruns`.
pub const RERUNS: &str = "reruns";
/// `StateStore::put_rerun`.
pub const PUT_RERUN: &str = "put_rerun";
/// `StateStore::delete_rerun`.
pub const DELETE_RERUN: &str = "delete_rerun";
/// `Fleet::instances`.
pub const INSTANCES: &str = "instances";
/// `Fleet::prepare`.
pub const PREPARE: &str = "prepare";
/// `Fleet::launch`.
pub const LAUNCH: &str = "launch";
/// `Fleet::name_runner`.
pub const NAME_RUNNER: &str = "name_runner";
/// `Fleet::terminate`.
pub const TERMINATE: &str = "terminate";
/// `JitStore::put`.
pub const JIT_PUT: &str = "jit.put";
/// `JitStore::delete`.
pub const JIT_DELETE: &str = "jit.delete";
/// `JitStore::listing`.
pub const JIT_LISTING: &str = "jit.listing";
/// `JitStore::delete_boot_failure`.
pub const JIT_DELETE_BOOT_FAILURE: &str = "jit.delete_boot_failure";

/// Whether a fault fires before the wrapped call or after it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The call never reaches AWS.
    Before,
    /// The call is carried out, then reported as failed (a crash right after it).
    After,
}

#[derive(Debug, Clone, Copy)]
struct Kill {
    op: &'static str,
    nth: u32,
    when: When,
}

#[derive(Debug, Clone)]
struct Rule {
    op: &'static str,
    nth: u32,
    when: When,
    kind: PortErrorKind,
}

#[derive(Debug, Clone)]
struct Takeover {
    op: &'static str,
    nth: u32,
    owner: String,
}

#[derive(Debug, Default)]
struct Book {
    counts: HashMap<&'static str, u32>,
    rules: Vec<Rule>,
    takeover: Option<Takeover>,
    fired: Vec<(&'static str, u32)>,
    launched: Vec<String>,
    lease_taken: Option<Lease>,
    kill: Option<Kill>,
}

/// A port that fails chosen calls. Counts are per operation, 1-based, over the wrapper's life.
#[derive(Debug)]
pub struct Faulty<'a, T> {
    inner: &'a T,
    book: Mutex<Book>,
    /// Held during a takeover, so that concurrent calls wait for it instead of racing it.
    gate: tokio::sync::Mutex<()>,
    /// Flips to true when the kill point is reached.
    killed: tokio::sync::watch::Sender<bool>,
}

impl<'a, T> Faulty<'a, T> {
    /// Wraps `inner` without any fault.
    pub fn new(inner: &'a T) -> Self {
        Faulty {
            inner,
            book: Mutex::new(Book::default()),
            gate: tokio::sync::Mutex::new(()),
            killed: tokio::sync::watch::channel(false).0,
        }
    }

    /// The `nth` call of `op` never returns: before it reaches AWS, or after it succeeded.
    pub fn kill(self, op: &'static str, nth: u32, when: When) -> Self {
        self.book.lock().unwrap().kill = Some(Kill { op, nth, when });
        self
    }

    /// Resolves once the kill point is reached; the caller then drops the cycle.
    pub async fn killed(&self) {
        let mut rx = self.killed.subscribe();
        let _ = rx.wait_for(|k| *k).await;
    }

    /// Hangs forever if call `n` of `op` at `when` is the kill point.
    async fn maybe_kill(&self, op: &'static str, n: u32, when: When) {
        let due = {
            let book = self.book.lock().unwrap();
            book.kill
                .is_some_and(|k| k.op == op && k.nth == n && k.when == when)
        };
        if due {
            self.book.lock().unwrap().fired.push((op, n));
            self.killed.send_replace(true);
            std::future::pending::<()>().await;
        }
    }

    /// Fails the `nth` call of `op` before it runs, as a fatal error.
    pub fn fail(self, op: &'static str, nth: u32) -> Self {
        self.fail_with(op, nth, When::Before, PortErrorKind::Fatal)
    }

    /// Runs the `nth` call of `op`, then reports it failed, as a fatal error.
    pub fn fail_after(self, op: &'static str, nth: u32) -> Self {
        self.fail_with(op, nth, When::After, PortErrorKind::Fatal)
    }

    /// Fails the `nth` call of `op` with `kind`, before or after it runs.
    pub fn fail_with(self, op: &'static str, nth: u32, when: When, kind: PortErrorKind) -> Self {
        self.book.lock().unwrap().rules.push(Rule {
            op,
            nth,
            when,
            kind,
        });
        self
    }

    /// Just before the `nth` call of `op`, `owner` takes the lease over as if ours had lapsed
    /// (state store only).
    pub fn take_over_before(self, op: &'static str, nth: u32, owner: &str) -> Self {
        self.book.lock().unwrap().takeover = Some(Takeover {
            op,
            nth,
            owner: owner.to_owned(),
        });
        self
    }

    /// How many times `op` was called.
    pub fn calls(&self, op: &str) -> u32 {
        self.book
            .lock()
            .unwrap()
            .counts
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    /// The faults that fired, as (operation, call number).
    pub fn fired(&self) -> Vec<(&'static str, u32)> {
        self.book.lock().unwrap().fired.clone()
    }

    /// Every instance id a launch through this wrapper produced (failed launches included).
    pub fn launched(&self) -> Vec<String> {
        self.book.lock().unwrap().launched.clone()
    }

    /// The lease the takeover produced, once it happened.
    pub fn lease_taken(&self) -> Option<Lease> {
        self.book.lock().unwrap().lease_taken.clone()
    }

    /// Counts a call of `op` and returns its number.
    fn enter(&self, op: &'static str) -> u32 {
        let mut book = self.book.lock().unwrap();
        let n = book.counts.entry(op).or_insert(0);
        *n += 1;
        *n
    }

    /// The error to report for call `n` of `op` at `when`, if a rule says so.
    fn fault(&self, op: &'static str, n: u32, when: When) -> Result<(), PortError> {
        let mut book = self.book.lock().unwrap();
        let Some(rule) = book
            .rules
            .iter()
            .find(|r| r.op == op && r.nth == n && r.when == when)
            .cloned()
        else {
            return Ok(());
        };
        book.fired.push((op, n));
        Err(PortError {
            operation: rule.op,
            kind: rule.kind,
            message: format!("injected fault: call {n} of {op} ({when:?})"),
        })
    }

    /// Whether the takeover is due before call `n` of `op` (it fires once).
    fn takeover_due(&self, op: &'static str, n: u32) -> Option<String> {
        let mut book = self.book.lock().unwrap();
        let due = book
            .takeover
            .as_ref()
            .is_some_and(|t| t.op == op && t.nth == n);
        if due {
            book.takeover.take().map(|t| t.owner)
        } else {
            None
        }
    }

    /// Runs `call` as call number `n` of `op` with the rules applied.
    async fn around<R>(
        &self,
        op: &'static str,
        n: u32,
        call: impl Future<Output = Result<R, PortError>>,
    ) -> Result<R, PortError> {
        self.maybe_kill(op, n, When::Before).await;
        self.fault(op, n, When::Before)?;
        let result = call.await?;
        self.maybe_kill(op, n, When::After).await;
        self.fault(op, n, When::After)?;
        Ok(result)
    }
}

impl<S: StateStore + Sync> Faulty<'_, S> {
    async fn maybe_take_over(&self, op: &'static str, n: u32, scale_set: &str) {
        let _gate = self.gate.lock().await;
        let Some(owner) = self.takeover_due(op, n) else {
            return;
        };
        // "now" far ahead, so our lease counts as lapsed; the usurper's own lease is already
        // lapsed for everybody else, so a later invocation can take it without waiting.
        let now = Utc::now();
        let outcome = self
            .inner
            .acquire(
                scale_set,
                &owner,
                now - chrono::Duration::seconds(1),
                now + chrono::Duration::days(1),
            )
            .await
            .expect("takeover acquire");
        match outcome {
            LeaseOutcome::Acquired(lease, _) => {
                self.book.lock().unwrap().lease_taken = Some(lease);
            }
            held => panic!("takeover did not get the lease: {held:?}"),
        }
    }
}

impl<S: StateStore + Sync> StateStore for Faulty<'_, S> {
    async fn acquire(
        &self,
        scale_set: &str,
        owner: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, PortError> {
        let n = self.enter(ACQUIRE);
        self.maybe_take_over(ACQUIRE, n, scale_set).await;
        self.around(
            ACQUIRE,
            n,
            self.inner.acquire(scale_set, owner, expires_at, now),
        )
        .await
    }

    async fn read(&self, scale_set: &str) -> Result<StateRecord, PortError> {
        let n = self.enter(READ);
        self.maybe_take_over(READ, n, scale_set).await;
        self.around(READ, n, self.inner.read(scale_set)).await
    }

    async fn put_admin(&self, scale_set: &str, admin: &StoredAdmin) -> Result<(), PortError> {
        let n = self.enter(PUT_ADMIN);
        self.maybe_take_over(PUT_ADMIN, n, scale_set).await;
        self.around(PUT_ADMIN, n, self.inner.put_admin(scale_set, admin))
            .await
    }

    async fn put_decisions(&self, scale_set: &str, decisions: &Decisions) -> Result<(), PortError> {
        let n = self.enter(PUT_DECISIONS);
        self.maybe_take_over(PUT_DECISIONS, n, scale_set).await;
        self.around(
            PUT_DECISIONS,
            n,
            self.inner.put_decisions(scale_set, decisions),
        )
        .await
    }

    async fn save(
        &self,
        scale_set: &str,
        lease: &Lease,
        state: &ScaleSetState,
    ) -> Result<(), PortError> {
        let n = self.enter(SAVE);
        self.maybe_take_over(SAVE, n, scale_set).await;
        self.around(SAVE, n, self.inner.save(scale_set, lease, state))
            .await
    }

    async fn release(&self, scale_set: &str, lease: &Lease) -> Result<(), PortError> {
        let n = self.enter(RELEASE);
        self.maybe_take_over(RELEASE, n, scale_set).await;
        self.around(RELEASE, n, self.inner.release(scale_set, lease))
            .await
    }

    async fn runners(&self, scale_set: &str) -> Result<Vec<RunnerRecord>, PortError> {
        let n = self.enter(RUNNERS);
        self.maybe_take_over(RUNNERS, n, scale_set).await;
        self.around(RUNNERS, n, self.inner.runners(scale_set)).await
    }

    async fn put_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        runner: &RunnerRecord,
    ) -> Result<(), PortError> {
        let n = self.enter(PUT_RUNNER);
        self.maybe_take_over(PUT_RUNNER, n, scale_set).await;
        self.around(
            PUT_RUNNER,
            n,
            self.inner.put_runner(scale_set, lease, runner),
        )
        .await
    }

    async fn delete_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        name: &str,
    ) -> Result<(), PortError> {
        let n = self.enter(DELETE_RUNNER);
        self.maybe_take_over(DELETE_RUNNER, n, scale_set).await;
        self.around(
            DELETE_RUNNER,
            n,
            self.inner.delete_runner(scale_set, lease, name),
        )
        .await
    }

    async fn reruns(&self, scale_set: &str) -> Result<Vec<RerunRecord>, PortError> {
        let n = self.enter(RERUNS);
        self.maybe_take_over(RERUNS, n, scale_set).await;
        self.around(RERUNS, n, self.inner.reruns(scale_set)).await
    }

    async fn put_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        rerun: &RerunRecord,
    ) -> Result<(), PortError> {
        let n = self.enter(PUT_RERUN);
        self.maybe_take_over(PUT_RERUN, n, scale_set).await;
        self.around(PUT_RERUN, n, self.inner.put_rerun(scale_set, lease, rerun))
            .await
    }

    async fn delete_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        run_id: i64,
    ) -> Result<(), PortError> {
        let n = self.enter(DELETE_RERUN);
        self.maybe_take_over(DELETE_RERUN, n, scale_set).await;
        self.around(
            DELETE_RERUN,
            n,
            self.inner.delete_rerun(scale_set, lease, run_id),
        )
        .await
    }
}

impl<F: Fleet + Sync> Fleet for Faulty<'_, F> {
    async fn instances(&self, scale_set_id: i64) -> Result<Vec<Instance>, PortError> {
        let n = self.enter(INSTANCES);
        self.around(INSTANCES, n, self.inner.instances(scale_set_id))
            .await
    }

    async fn prepare(&self, scale_set_id: i64) -> Result<(), PortError> {
        let n = self.enter(PREPARE);
        self.around(PREPARE, n, self.inner.prepare(scale_set_id))
            .await
    }

    async fn launch(
        &self,
        scale_set_id: i64,
        count: u32,
        client_token: &str,
    ) -> Result<LaunchOutcome, PortError> {
        let n = self.enter(LAUNCH);
        self.maybe_kill(LAUNCH, n, When::Before).await;
        self.fault(LAUNCH, n, When::Before)?;
        let outcome = self.inner.launch(scale_set_id, count, client_token).await?;
        self.book
            .lock()
            .unwrap()
            .launched
            .extend(outcome.instance_ids.iter().cloned());
        self.maybe_kill(LAUNCH, n, When::After).await;
        self.fault(LAUNCH, n, When::After)?;
        Ok(outcome)
    }

    async fn name_runner(&self, instance_id: &str, runner_name: &str) -> Result<(), PortError> {
        let n = self.enter(NAME_RUNNER);
        self.around(
            NAME_RUNNER,
            n,
            self.inner.name_runner(instance_id, runner_name),
        )
        .await
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), PortError> {
        let n = self.enter(TERMINATE);
        self.around(TERMINATE, n, self.inner.terminate(instance_ids))
            .await
    }
}

impl<J: JitStore + Sync> JitStore for Faulty<'_, J> {
    async fn put(&self, instance_id: &str, config: &SecretString) -> Result<(), PortError> {
        let n = self.enter(JIT_PUT);
        self.around(JIT_PUT, n, self.inner.put(instance_id, config))
            .await
    }

    async fn delete(&self, instance_id: &str) -> Result<(), PortError> {
        let n = self.enter(JIT_DELETE);
        self.around(JIT_DELETE, n, self.inner.delete(instance_id))
            .await
    }

    async fn listing(&self) -> Result<JitListing, PortError> {
        let n = self.enter(JIT_LISTING);
        self.around(JIT_LISTING, n, self.inner.listing()).await
    }

    async fn delete_boot_failure(&self, instance_id: &str) -> Result<(), PortError> {
        let n = self.enter(JIT_DELETE_BOOT_FAILURE);
        self.around(
            JIT_DELETE_BOOT_FAILURE,
            n,
            self.inner.delete_boot_failure(instance_id),
        )
        .await
    }
}
