//! `portcullis demo`: the Okta emulator, the echo resource server and the gateway on
//! loopback, with a printed curl walkthrough and every SMS or voice code printed as the
//! emulator "sends" it. No Okta tenant is needed.
//!
//! Ports: gateway N, emulator N+1, echo N+2, admin N+10, with N = 4180 by default.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::emulator::{Emulator, EmulatorConfig};
use crate::gateway::Gateway;

/// The demo's configuration file, also shipped as `config/demo.toml`.
const DEMO_TOML: &str = include_str!("../config/demo.toml");

/// The first port of the demo; the others follow it.
pub const DEFAULT_BASE_PORT: u16 = 4180;

/// Offset of the admin listener from the base port.
const ADMIN_OFFSET: u16 = 10;

/// Arguments of `portcullis demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// First port: gateway N, emulator N+1, echo N+2, admin N+10.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BASE_PORT)]
    pub base_port: u16,
}

/// The demo's addresses.
struct Ports {
    gateway: SocketAddr,
    emulator: SocketAddr,
    echo: SocketAddr,
    admin: SocketAddr,
}

impl Ports {
    fn new(base: u16) -> anyhow::Result<Self> {
        let port = |offset: u16| {
            base.checked_add(offset)
                .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                .with_context(|| format!("--base-port {base} leaves no room for port N+{offset}"))
        };
        Ok(Self {
            gateway: port(0)?,
            emulator: port(1)?,
            echo: port(2)?,
            admin: port(ADMIN_OFFSET)?,
        })
    }
}

/// Builds the gateway configuration of the demo for the given addresses.
pub fn demo_config(
    gateway: SocketAddr,
    admin: SocketAddr,
    emulator: SocketAddr,
    echo: SocketAddr,
) -> anyhow::Result<(Config, Option<crate::secret::Secret<String>>)> {
    // The demo ignores PORTCULLIS_* variables so that it always runs as documented.
    let loaded = Config::load_from(Some(DEMO_TOML), None, std::iter::empty())
        .map_err(|error| anyhow::anyhow!("the built-in demo configuration is invalid: {error}"))?;
    let mut config = loaded.config;
    let public_url = format!("http://{gateway}");
    config.server.listen = gateway;
    config.server.admin_listen = admin;
    config.okta.issuer = format!("http://{emulator}/oauth2/default");
    config.okta.post_logout_redirect_uri = Some(format!("{public_url}/.portcullis/signed_out"));
    config.upstream.url = format!("http://{echo}");
    config.server.public_url = Some(public_url);
    Ok((config, loaded.client_secret))
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(
    args: DemoArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let ports = Ports::new(args.base_port)?;

    // Bind everything first, so a busy port fails before anything starts.
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr).await.with_context(|| {
            format!(
                "port {} is not free; stop what uses it or pass --base-port N",
                addr.port()
            )
        })
    };
    let gateway_listener = bind(ports.gateway).await?;
    let emulator_listener = bind(ports.emulator).await?;
    let echo_listener = bind(ports.echo).await?;
    let admin_listener = bind(ports.admin).await?;

    let redirect = format!("http://{}/.portcullis/signed_out", ports.gateway);
    let emulator_config = EmulatorConfig::demo().edit_client("portcullis-demo", |client| {
        client.post_logout_redirect_uris = vec![redirect];
    });
    let emulator = Emulator::start(emulator_listener, emulator_config)
        .await
        .context("failed to start the emulator")?;
    let mut outbox = emulator.subscribe_outbox();
    let echo = crate::echo::start(echo_listener)
        .await
        .context("failed to start the echo server")?;

    let (config, client_secret) =
        demo_config(ports.gateway, ports.admin, ports.emulator, ports.echo)?;
    let cookie_name = config.session.cookie_name.clone();
    let gateway = Gateway::build(config, client_secret)?;
    let running = crate::server::start(gateway, gateway_listener, admin_listener).await?;

    println!("{}", walkthrough(&ports, &cookie_name));

    let printer = tokio::spawn(async move {
        loop {
            match outbox.recv().await {
                Ok(message) => println!(
                    "[demo] {} code {} sent to {} ({})",
                    message.channel, message.code, message.to, message.sent_at
                ),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    println!("[demo] {missed} codes were sent faster than they could be printed; see /__emulator/outbox");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });

    shutdown.await;
    println!("[demo] stopping");
    printer.abort();
    running.shutdown().await;
    echo.shutdown();
    emulator.shutdown().await;
    Ok(())
}

/// Formats the text printed at start: the addresses, the users and the curl walkthrough.
fn walkthrough(ports: &Ports, cookie_name: &str) -> String {
    let gw = format!("http://{}", ports.gateway);
    let emu = format!("http://{}", ports.emulator);
    let echo = format!("http://{}", ports.echo);
    let admin = format!("http://{}", ports.admin);
    let json = "-H 'content-type: application/json'";
    format!(
        r#"
portcullis demo: everything runs on loopback, with an Okta emulator instead of Okta.

  gateway   {gw}   the authenticating proxy (its own routes are under /.portcullis)
  emulator  {emu}   Okta test double, issuer {emu}/oauth2/default
  echo      {echo}   the protected service; it answers with the request it received
  admin     {admin}   /healthz, /readyz, /metrics

Users: alice@example.com / Correct-Horse-42 (sms and voice)
       bob@example.com / Battery-Staple-7 (sms only)
       carol@example.com / Locked-Out-1 (locked out)

Walkthrough: run these in another terminal. Codes "sent" by the emulator are printed
here as they go out.

 1. Password step; the answer holds a transaction id:
    TX=$(curl -s {gw}/.portcullis/login {json} \
      -d '{{"username":"alice@example.com","password":"Correct-Horse-42"}}' \
      | sed -E 's/.*"transaction_id":"([^"]+)".*/\1/'); echo "$TX"

 2. Send a code by SMS (or "voice"; repeat to resend):
    curl -s {gw}/.portcullis/challenge {json} -d '{{"transaction_id":"'$TX'","channel":"sms"}}'

 3. Verify with the code printed in this terminal; keeps the session cookie in demo-cookies.txt:
    TOKEN=$(curl -s -c demo-cookies.txt {gw}/.portcullis/verify {json} \
      -d '{{"transaction_id":"'$TX'","code":"PUT-THE-CODE-HERE"}}' \
      | sed -E 's/.*"access_token":"([^"]+)".*/\1/'); echo "$TOKEN"

 4. Call the echo service through the gateway, with the bearer token or the cookie.
    The echo shows what the gateway forwarded: x-forwarded-user and
    x-forwarded-preferred-username for both, plus x-forwarded-email and
    x-forwarded-groups from the session for the cookie (Okta's introspection of a
    bearer token carries no email or groups):
    curl -s {gw}/hello -H "authorization: Bearer $TOKEN"
    curl -s -b demo-cookies.txt {gw}/hello
    curl -s {gw}/hello          # no credential: 401

 5. Revoke the token, then try it again (401). The session holding the token ends
    too ("session_ended":true), so the cookie stops working as well:
    curl -s {gw}/.portcullis/revoke {json} -d '{{"token":"'$TOKEN'"}}'
    curl -s {gw}/hello -H "authorization: Bearer $TOKEN"
    curl -s -b demo-cookies.txt {gw}/hello

 6. Log out: clears the cookie and returns Okta's end-session URL. Run it before
    step 5 to see it end a live session and revoke its tokens:
    curl -s -b demo-cookies.txt -X POST {gw}/.portcullis/logout

The session cookie is named "{cookie_name}" and has no Secure attribute, because the demo
serves plain HTTP on loopback. In production the default is "__Host-portcullis" with
Secure, which browsers accept only over HTTPS.

Press Ctrl-C to stop.
"#
    )
}
