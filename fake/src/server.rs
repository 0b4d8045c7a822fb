//! The running server: shared state, the router, the job ticker, start and shutdown.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::routing::{delete, get, patch, post};
use axum::serve::Listener;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::calls::Call;
use crate::control::Fake;
use crate::endpoints::paths;
use crate::faults::Faults;
use crate::options::FakeOptions;
use crate::state::{State, StateConfig};
use crate::{actions, control_http, github, middleware, queue};

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    faults: Mutex<Faults>,
    calls: Mutex<Vec<Call>>,
    /// Woken whenever new job messages exist (long polls and the ticker wait on it).
    pub(crate) changed: Notify,
    /// Flips to `true` on shutdown so held polls return at once.
    pub(crate) stopping: watch::Receiver<bool>,
    /// The options.
    pub(crate) options: FakeOptions,
    /// `http://127.0.0.1:PORT` (`https://` when served over TLS).
    pub(crate) base_url: String,
    /// JSON responses counted for `Bom::EveryNth`.
    pub(crate) json_responses: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not wedge the fake for every later test request.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Runs `f` on the state with the current time; wakes waiters if it produced new
    /// job messages.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut State, DateTime<Utc>) -> T) -> T {
        let (result, changed) = {
            let mut state = lock(&self.state);
            let before = state.version();
            let result = f(&mut state, Utc::now());
            (result, state.version() != before)
        };
        if changed {
            self.changed.notify_waiters();
        }
        result
    }

    /// The fault rules.
    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// Appends to the call log.
    pub(crate) fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }

    /// The call log.
    pub(crate) fn calls(&self) -> MutexGuard<'_, Vec<Call>> {
        lock(&self.calls)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding 127.0.0.1:port failed.
    #[error("binding 127.0.0.1:{port}: {source}")]
    Bind {
        /// Requested port.
        port: u16,
        /// Cause.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("TLS set-up: {0}")]
    Tls(String),
}

/// A running fake on 127.0.0.1. Dereferences to [`Fake`], the control handle.
#[derive(Debug)]
pub struct FakeServer {
    fake: Fake,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeServer {
    /// Binds 127.0.0.1 (`options.port`, 0 = ephemeral) and serves in tokio tasks.
    pub async fn start(options: FakeOptions) -> Result<FakeServer, StartError> {
        let (listener, addr) = FakeServer::bind(options.port).await?;
        Ok(FakeServer::serve(
            listener,
            addr,
            format!("http://{addr}"),
            options,
        ))
    }

    /// Binds 127.0.0.1:`port` (0 = ephemeral).
    pub(crate) async fn bind(
        port: u16,
    ) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| StartError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { port, source })?;
        Ok((listener, addr))
    }

    /// Serves on `listener` (plain TCP, or TLS in [`crate::tls`]) at `base_url`.
    pub(crate) fn serve<L>(
        listener: L,
        addr: SocketAddr,
        base_url: String,
        options: FakeOptions,
    ) -> FakeServer
    where
        L: Listener<Addr = SocketAddr>,
    {
        let (stop, stopping) = watch::channel(false);
        let state = State::new(StateConfig {
            options: options.clone(),
            base_url: base_url.clone(),
        });
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(Faults::default()),
            calls: Mutex::new(Vec::new()),
            changed: Notify::new(),
            stopping,
            options,
            base_url,
            json_responses: AtomicU64::new(0),
        });
        let app = router(shared.clone());
        let mut shutdown = shared.stopping.clone();
        let serve = tokio::spawn(async move {
            let graceful = async move {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await
            {
                tracing::error!(error = %e, "Fake server stopped with an error.");
            }
        });
        let ticker = tokio::spawn(tick_jobs(shared.clone()));
        tracing::info!(%addr, "Fake Actions service listening.");
        FakeServer {
            fake: Fake::new(shared),
            addr,
            stop,
            tasks: vec![serve, ticker],
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A clonable control handle.
    pub fn fake(&self) -> Fake {
        self.fake.clone()
    }

    /// Stops accepting, ends held polls, and waits for the tasks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Deref for FakeServer {
    type Target = Fake;

    fn deref(&self) -> &Fake {
        &self.fake
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Completes running jobs when their duration elapses (the state's `tick`).
async fn tick_jobs(shared: Arc<Shared>) {
    let mut stopping = shared.stopping.clone();
    loop {
        let notified = shared.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let deadline = shared.with_state(|s, now| {
            s.tick(now);
            s.next_deadline()
        });
        let wait = deadline.map_or(std::time::Duration::from_secs(3600), |d| {
            (d - Utc::now()).to_std().unwrap_or_default()
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = notified => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            paths::ORG_REGISTRATION_TOKEN,
            post(github::registration_token_org),
        )
        .route(
            paths::REPO_REGISTRATION_TOKEN,
            post(github::registration_token_repo),
        )
        .route(
            paths::ENTERPRISE_REGISTRATION_TOKEN,
            post(github::registration_token_enterprise),
        )
        .route(paths::ACCESS_TOKEN, post(github::access_token))
        .route(
            paths::RUNNER_REGISTRATION,
            post(github::runner_registration),
        )
        .route(paths::WORKFLOW_RUN, get(github::workflow_run))
        .route(paths::RERUN_FAILED_JOBS, post(github::rerun_failed_jobs))
        .route(paths::RUNNER_GROUPS, get(actions::runner_groups))
        .route(paths::RUNNER_GROUPS_NO_SLASH, get(actions::runner_groups))
        .route(
            paths::SCALE_SETS,
            get(actions::list_scale_sets).post(actions::create_scale_set),
        )
        .route(
            paths::SCALE_SET,
            get(actions::get_scale_set)
                .patch(actions::update_scale_set)
                .delete(actions::delete_scale_set),
        )
        .route(paths::SESSIONS, post(actions::create_session))
        .route(
            paths::SESSION,
            patch(actions::refresh_session).delete(actions::delete_session),
        )
        .route(
            paths::GENERATE_JIT_CONFIG,
            post(actions::generate_jit_config),
        )
        .route(paths::AGENTS, get(actions::list_agents))
        .route(
            paths::AGENT,
            get(actions::get_agent).delete(actions::delete_agent),
        )
        .route(paths::ACQUIRE_JOBS, post(queue::acquire_jobs))
        .route(paths::ACQUIRABLE_JOBS, get(queue::acquirable_jobs))
        .route(paths::QUEUE_MESSAGES, get(queue::get_message))
        .route(paths::QUEUE_MESSAGE, delete(queue::delete_message))
        .merge(control_http::routes())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            middleware::around,
        ))
        .with_state(shared)
}
