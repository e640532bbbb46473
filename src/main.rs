//! The `portcullis` command: serve, check, demo and emulator.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use portcullis::config::{Config, ConfigError, LoadedConfig, LogFormat, ENV_CONFIG_FILE};
use portcullis::demo::DemoArgs;
use portcullis::emulator::EmulatorArgs;

/// An authenticating reverse proxy: password + phone MFA (SMS or voice) through Okta's
/// Direct Authentication APIs in front of services that cannot do it themselves.
#[derive(Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file (TOML). PORTCULLIS_<SECTION>_<KEY> variables override keys.
        #[arg(long, short, value_name = "FILE", env = ENV_CONFIG_FILE)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration and exit: 0 when valid, 2 listing every invalid key.
    Check {
        /// Configuration file (TOML). PORTCULLIS_<SECTION>_<KEY> variables override keys.
        #[arg(long, short, value_name = "FILE", env = ENV_CONFIG_FILE)]
        config: Option<PathBuf>,
        /// Also load Okta discovery and test the client credentials against Okta.
        #[arg(long)]
        online: bool,
    },
    /// Run the emulator, an echo service and the gateway on loopback, with a walkthrough.
    Demo(DemoArgs),
    /// Run the Okta-compatible emulator alone (a test double, not an identity provider).
    Emulator(EmulatorArgs),
}

/// Exit code for a runtime failure.
const EXIT_RUNTIME: u8 = 1;
/// Exit code for bad usage or an invalid configuration.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => match load(config) {
            Ok(loaded) => {
                let worker_threads = loaded.config.server.worker_threads;
                block_on(worker_threads, serve(loaded))
            }
            Err(code) => code,
        },
        Command::Check { config, online } => match load(config) {
            Ok(loaded) => block_on(0, check(loaded, online)),
            Err(code) => code,
        },
        Command::Demo(args) => {
            // Keep the walkthrough readable: only warnings unless RUST_LOG sets another filter.
            portcullis::telemetry::init(LogFormat::Text, "warn");
            block_on(0, async {
                match portcullis::demo::run(args, portcullis::shutdown::signal()).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("error: {error:#}");
                        ExitCode::from(EXIT_RUNTIME)
                    }
                }
            })
        }
        Command::Emulator(args) => {
            portcullis::telemetry::init(LogFormat::Text, "info");
            block_on(0, async {
                match portcullis::emulator::run(args).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) if error.is::<portcullis::emulator::ConfigError>() => {
                        eprintln!("error: {error}");
                        ExitCode::from(EXIT_USAGE)
                    }
                    Err(error) => {
                        eprintln!("error: {error:#}");
                        ExitCode::from(EXIT_RUNTIME)
                    }
                }
            })
        }
    }
}

/// Runs `future` to completion on a new async runtime with `worker_threads` workers
/// (see [`build_runtime`]).
fn block_on(
    worker_threads: usize,
    future: impl std::future::Future<Output = ExitCode>,
) -> ExitCode {
    match build_runtime(worker_threads) {
        Ok(runtime) => runtime.block_on(future),
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Builds the async runtime: one worker per CPU core for `0`, a single-threaded runtime
/// for `1`, and a multi-threaded runtime with that many workers otherwise.
fn build_runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    match worker_threads {
        0 => tokio::runtime::Runtime::new(),
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        workers => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build(),
    }
}

/// Loads and validates the configuration, printing every problem on failure.
fn load(path: Option<PathBuf>) -> Result<LoadedConfig, ExitCode> {
    Config::load(path.as_deref()).map_err(|error: ConfigError| {
        eprintln!("error: {error}");
        ExitCode::from(EXIT_USAGE)
    })
}

async fn serve(loaded: LoadedConfig) -> ExitCode {
    let log = &loaded.config.log;
    portcullis::telemetry::init(log.format, &log.level);
    match portcullis::server::serve(loaded).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The subscriber writes to stderr, so this one line also reaches the operator's terminal.
            tracing::error!("{error:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

async fn check(loaded: LoadedConfig, online: bool) -> ExitCode {
    let config = &loaded.config;
    println!("configuration is valid");
    println!("  issuer:   {}", config.okta.issuer);
    println!(
        "  client:   {} ({})",
        config.okta.client_id,
        config.okta.auth_method.as_str()
    );
    println!("  upstream: {}", config.upstream.url);
    println!(
        "  listen:   {} (admin {})",
        config.server.listen, config.server.admin_listen
    );
    if !online {
        return ExitCode::SUCCESS;
    }

    let okta = match portcullis::okta::OktaClient::new(
        &config.okta,
        loaded.client_secret.clone(),
        portcullis::metrics::Metrics::new(),
    ) {
        Ok(okta) => okta,
        Err(error) => {
            eprintln!("error: failed to build the HTTP client: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    if let Err(error) = okta.discover().await {
        eprintln!("error: discovery at {} failed: {error}", config.okta.issuer);
        return ExitCode::from(EXIT_RUNTIME);
    }
    println!("  discovery loaded");
    // Introspecting a made-up token checks the client credentials without a user:
    // Okta returns `{"active": false}` for good credentials and 401 for bad ones.
    let probe = portcullis::secret::Secret::new("portcullis-check-probe".to_string());
    match okta.introspect(&probe, "access_token").await {
        Ok(_) => {
            println!("  client credentials accepted");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: Okta rejected the client credentials check: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
