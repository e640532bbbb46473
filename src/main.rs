use clap::{Parser, Subcommand};

/// An authenticating reverse proxy: password + phone MFA through Okta in front of any service.
#[derive(Parser)]
#[command(name = "portcullis", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => std::process::ExitCode::from(1),
    }
}
