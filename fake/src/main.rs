//! `ghaec2-fake`: the fake Actions service as a standalone process, for demos and for
//! rehearsing a configuration. Prints one JSON line with `baseUrl` and an example
//! `configUrl` on stdout once ready, logs to stderr, stops on SIGINT/SIGTERM. With
//! `--tls-ca-file` it serves HTTPS from a fresh private CA, as a GHES behind one.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ghaec2_fake::{AppOptions, Bom, DEFAULT_PAT, FakeOptions, FakeServer, Mode, PrivateCa};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Ghes,
    Dotcom,
}

/// A fake of GitHub's Actions service (runner scale sets) with fault injection.
#[derive(Debug, Parser)]
#[command(name = "ghaec2-fake", version)]
struct Args {
    /// Port on 127.0.0.1 (0 = ephemeral).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// `ghes` (JobAvailable + acquirejobs) or `dotcom` (direct JobAssigned).
    #[arg(long, value_enum, default_value = "ghes")]
    mode: ModeArg,
    /// How long an empty long poll is held before 202.
    #[arg(long, default_value_t = 50_000)]
    poll_hold_ms: u64,
    /// Session idle TTL.
    #[arg(long, default_value_t = 300_000)]
    session_ttl_ms: u64,
    /// Admin token lifetime.
    #[arg(long, default_value_t = 3_600_000)]
    admin_token_ttl_ms: u64,
    /// Message queue token lifetime.
    #[arg(long, default_value_t = 3_600_000)]
    mq_token_ttl_ms: u64,
    /// Registration token lifetime.
    #[arg(long, default_value_t = 3_600_000)]
    registration_token_ttl_ms: u64,
    /// How long a started job runs before it completes by itself (absent: until
    /// completed through the control API).
    #[arg(long)]
    job_duration_ms: Option<u64>,
    /// Accepted PAT (repeatable).
    #[arg(long = "pat", default_values_t = [DEFAULT_PAT.to_owned()])]
    pats: Vec<String>,
    /// GitHub App id (with --app-installation-id and --app-public-key).
    #[arg(long, requires_all = ["app_installation_id", "app_public_key"])]
    app_id: Option<String>,
    /// GitHub App installation id.
    #[arg(long)]
    app_installation_id: Option<u64>,
    /// PEM file with the App's RSA public key.
    #[arg(long)]
    app_public_key: Option<PathBuf>,
    /// Prefix every Nth Actions JSON response with a UTF-8 BOM (0 = never).
    #[arg(long, default_value_t = 0)]
    bom_every: u32,
    /// Extra runner groups besides Default (repeatable).
    #[arg(long = "runner-group")]
    runner_groups: Vec<String>,
    /// Serve HTTPS with a certificate from a fresh private CA, and write the CA's PEM to this
    /// file (for ghaec2's GITHUB_CA_BUNDLE).
    #[arg(long)]
    tls_ca_file: Option<PathBuf>,
    /// Answer as a .NET data contract service may: defaults left out, nulls for empty
    /// values, no statistics on session refresh, an unknown job message in every message.
    #[arg(long)]
    sparse: bool,
}

fn options(args: Args) -> Result<FakeOptions, Box<dyn std::error::Error>> {
    let app = match (args.app_id, args.app_installation_id, args.app_public_key) {
        (Some(app_id), Some(installation_id), Some(path)) => {
            let public_key_pem = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            Some(AppOptions {
                app_id,
                client_id: None,
                installation_id,
                public_key_pem,
            })
        }
        _ => None,
    };
    Ok(FakeOptions {
        mode: match args.mode {
            ModeArg::Ghes => Mode::Ghes,
            ModeArg::Dotcom => Mode::Dotcom,
        },
        port: args.port,
        pats: args.pats,
        app,
        admin_token_ttl: Duration::from_millis(args.admin_token_ttl_ms),
        mq_token_ttl: Duration::from_millis(args.mq_token_ttl_ms),
        registration_token_ttl: Duration::from_millis(args.registration_token_ttl_ms),
        session_idle_ttl: Duration::from_millis(args.session_ttl_ms),
        poll_hold: Duration::from_millis(args.poll_hold_ms),
        bom: Bom::EveryNth(args.bom_every),
        default_job_duration: args.job_duration_ms.map(Duration::from_millis),
        extra_runner_groups: args.runner_groups,
        sparse: args.sparse,
        ..FakeOptions::default()
    })
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let tls_ca_file = args.tls_ca_file.clone();
    let options = options(args)?;
    let server = match tls_ca_file {
        None => FakeServer::start(options).await?,
        Some(path) => {
            let ca = PrivateCa::generate()?;
            std::fs::write(&path, &ca.ca_pem)
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            FakeServer::start_tls(options, &ca).await?
        }
    };
    let ready = serde_json::json!({ "baseUrl": server.base_url(), "configUrl": server.config_url("my-org") });
    // The one stdout line a driver waits for.
    #[allow(clippy::print_stdout)]
    {
        println!("{ready}");
    }
    stop_signal().await;
    tracing::info!("Stopping.");
    server.shutdown().await;
    Ok(())
}
