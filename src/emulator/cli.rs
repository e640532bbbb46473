//! The `portcullis emulator` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::config::EmulatorConfig;
use super::state::mask_phone;
use super::Emulator;

/// Default listen address of the emulator (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4181";

/// Arguments of `portcullis emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on. Binds loopback unless another address is named here.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Users file (TOML, `[[users]]` tables). Default: the built-in demo users.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,

    /// Clients file (TOML, `[[clients]]` tables). Default: the built-in demo clients.
    #[arg(long, value_name = "FILE")]
    pub clients: Option<PathBuf>,

    /// Settings file (TOML: lifetimes, limits, switches). Flags override its values.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// Also accept `urn:okta:params:oauth:grant-type:mfa-oob`, which Okta does not document.
    #[arg(long)]
    pub accept_urn_mfa_oob: bool,

    /// Access token lifetime, e.g. `1h` or `5s` (default 1h).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Option<Duration>,

    /// Refresh token lifetime (default 7d).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Option<Duration>,

    /// `mfa_token` lifetime (default 5m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub mfa_token_ttl: Option<Duration>,

    /// `oob_code` lifetime (default 5m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub oob_code_ttl: Option<Duration>,

    /// Minimum time between SMS or calls to one phone (default 30s; `0s` disables).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub sms_resend_interval: Option<Duration>,

    /// Management API token expected after `SSWS` (default `portcullis-demo-api-token`).
    #[arg(long, value_name = "TOKEN", env = "PORTCULLIS_EMULATOR_API_TOKEN")]
    pub api_token: Option<String>,
}

/// Loads the configuration, prints the banner and serves until Ctrl-C or SIGTERM.
/// An invalid file returns a [`super::ConfigError`], which `main` maps to exit code 2.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let mut config = EmulatorConfig::from_files(
        args.users.as_deref(),
        args.clients.as_deref(),
        args.settings.as_deref(),
    )?;
    apply_flags(&mut config, &args);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("failed to bind the emulator to {}: {err}", args.listen))?;
    let running = Emulator::start(listener, config).await?;

    eprintln!("==========================================================================");
    eprintln!(" portcullis emulator: an Okta-compatible TEST DOUBLE, not an identity provider.");
    eprintln!(" Users, tokens and keys live in memory; one-time codes are printed and logged.");
    eprintln!(" Never expose it or use it to protect anything real.");
    eprintln!(" base URL: {}", running.base_url());
    eprintln!(" issuer:   {}", running.issuer());
    eprintln!(" outbox:   {}/__emulator/outbox", running.base_url());
    if !running.addr().ip().is_loopback() {
        eprintln!(
            " WARNING: listening on {}, which is not a loopback address.",
            running.addr()
        );
    }
    eprintln!("==========================================================================");

    let mut outbox = running.subscribe_outbox();
    let printer = tokio::spawn(async move {
        loop {
            match outbox.recv().await {
                // The phone number is masked as in the log; the outbox hook has it in full.
                Ok(message) => eprintln!(
                    "[emulator outbox] {} code {} to {}",
                    message.channel,
                    message.code,
                    mask_phone(&message.to)
                ),
                // A burst of codes overran the channel: report the gap and keep printing.
                Err(RecvError::Lagged(missed)) => eprintln!(
                    "[emulator outbox] {missed} messages not printed; GET /__emulator/outbox lists them"
                ),
                Err(RecvError::Closed) => break,
            }
        }
    });

    wait_for_signal().await;
    tracing::info!("emulator shutting down");
    printer.abort();
    running.shutdown().await;
    Ok(())
}

fn apply_flags(config: &mut EmulatorConfig, args: &EmulatorArgs) {
    let settings = &mut config.settings;
    if args.accept_urn_mfa_oob {
        settings.accept_urn_mfa_oob = true;
    }
    if let Some(ttl) = args.access_token_ttl {
        settings.access_token_ttl = ttl.max(Duration::from_secs(1));
    }
    if let Some(ttl) = args.refresh_token_ttl {
        settings.refresh_token_ttl = ttl;
    }
    if let Some(ttl) = args.mfa_token_ttl {
        settings.mfa_token_ttl = ttl.max(Duration::from_secs(1));
    }
    if let Some(ttl) = args.oob_code_ttl {
        settings.oob_code_ttl = ttl.max(Duration::from_secs(1));
    }
    if let Some(interval) = args.sms_resend_interval {
        settings.sms_resend_interval = interval;
    }
    if let Some(token) = &args.api_token {
        settings.api_token = token.clone();
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM; stop the emulator with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
