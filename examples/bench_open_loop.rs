//! An open-loop HTTP/1.1 load driver for the benchmarks: sends requests at a fixed rate
//! over keep-alive connections and rotates the `Authorization: Bearer` token through a
//! file of tokens, which `oha` cannot do.
//!
//! Latency is measured from each request's scheduled send time, so a slow response that
//! delays the next request on its connection is counted against the server (no
//! coordinated omission). The run ends after `--duration`, or in `--once` mode after
//! every token was sent once, and in any case within `--duration` + 10 s.
//!
//! Run: `cargo run --release --example bench_open_loop -- --url http://127.0.0.1:18180/
//! --rate 5000 --duration 10 --connections 64 --tokens tokens.txt`
//!
//! Prints one JSON object: requests sent and completed, status counts, errors, achieved
//! rate and latency percentiles in microseconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Extra time allowed after `--duration` for responses still in flight.
const DRAIN: Duration = Duration::from_secs(10);

struct Options {
    url: hyper::Uri,
    rate: f64,
    duration: Duration,
    connections: usize,
    tokens: Vec<String>,
    once: bool,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    ok: u64,
    non_2xx: u64,
    errors: u64,
}

fn main() -> anyhow::Result<()> {
    let options = parse_options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

fn usage() -> &'static str {
    "usage: bench_open_loop --url URL --rate REQUESTS_PER_SECOND --duration SECONDS \
     [--connections N] [--tokens FILE] [--once]"
}

fn parse_options() -> anyhow::Result<Options> {
    let mut url = None;
    let mut rate = None;
    let mut duration = None;
    let mut connections = 64;
    let mut tokens = Vec::new();
    let mut once = false;

    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value; {}", usage()))
        };
        match arg.as_str() {
            "--url" => url = Some(value()?.parse::<hyper::Uri>()?),
            "--rate" => rate = Some(value()?.parse::<f64>()?),
            "--duration" => duration = Some(Duration::from_secs_f64(value()?.parse()?)),
            "--connections" => connections = value()?.parse()?,
            "--tokens" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| anyhow::anyhow!("failed to read --tokens {path}: {error}"))?;
                tokens = text
                    .lines()
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "--once" => once = true,
            _ => anyhow::bail!("unknown option {arg}; {}", usage()),
        }
    }

    let (Some(url), Some(rate), Some(duration)) = (url, rate, duration) else {
        anyhow::bail!("--url, --rate and --duration are required; {}", usage());
    };
    if rate <= 0.0 || connections == 0 {
        anyhow::bail!("--rate and --connections must be positive");
    }
    if once && tokens.is_empty() {
        anyhow::bail!("--once needs --tokens FILE with at least one token");
    }
    Ok(Options {
        url,
        rate,
        duration,
        connections,
        tokens,
        once,
    })
}

async fn run(options: Options) -> anyhow::Result<()> {
    let host = options.url.host().unwrap_or("127.0.0.1");
    let port = options.url.port_u16().unwrap_or(80);
    let addr: SocketAddr = format!("{host}:{port}").parse()?;
    if !addr.ip().is_loopback() {
        anyhow::bail!("--url must name a loopback address, not {addr}");
    }

    let mut total = (options.rate * options.duration.as_secs_f64()).round() as u64;
    if options.once {
        total = total.min(options.tokens.len() as u64);
    }
    let options = Arc::new(options);
    let start = Instant::now() + Duration::from_millis(50);
    let deadline = start + options.duration + DRAIN;

    let mut tasks = Vec::new();
    for lane in 0..options.connections as u64 {
        let options = options.clone();
        tasks.push(tokio::spawn(async move {
            drive_connection(addr, &options, lane, total, start, deadline).await
        }));
    }
    let mut tally = Tally::default();
    for task in tasks {
        let part = task.await?;
        tally.latencies_us.extend(part.latencies_us);
        tally.ok += part.ok;
        tally.non_2xx += part.non_2xx;
        tally.errors += part.errors;
    }
    let elapsed = start.elapsed().as_secs_f64();
    report(&tally, total, elapsed);
    Ok(())
}

/// Sends requests `lane`, `lane + connections`, ... of the schedule on one connection,
/// reconnecting after an error.
async fn drive_connection(
    addr: SocketAddr,
    options: &Options,
    lane: u64,
    total: u64,
    start: Instant,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    let path = options
        .url
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let host = options.url.authority().map_or("127.0.0.1", |a| a.as_str());
    let interval = 1.0 / options.rate;

    let mut index = lane;
    while index < total {
        let scheduled = start + Duration::from_secs_f64(index as f64 * interval);
        if scheduled >= deadline {
            break;
        }
        tokio::time::sleep_until(scheduled).await;

        if sender.is_none() {
            sender = connect(addr).await;
        }
        let Some(connection) = sender.as_mut() else {
            tally.errors += 1;
            index += options.connections as u64;
            continue;
        };

        let mut request = Request::get(path.as_str()).header(hyper::header::HOST, host);
        if !options.tokens.is_empty() {
            let token = &options.tokens[(index % options.tokens.len() as u64) as usize];
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .expect("the request parts are valid");
        let exchange = async {
            let response = connection.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(Ok(status)) => {
                let latency = scheduled.elapsed().as_micros().min(u32::MAX as u128) as u32;
                tally.latencies_us.push(latency);
                if status.is_success() {
                    tally.ok += 1;
                } else {
                    tally.non_2xx += 1;
                }
            }
            Ok(Err(_)) => {
                tally.errors += 1;
                sender = None;
            }
            Err(_) => {
                tally.errors += 1;
                break;
            }
        }
        index += options.connections as u64;
    }
    tally
}

async fn connect(addr: SocketAddr) -> Option<http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    Some(sender)
}

fn report(tally: &Tally, scheduled: u64, elapsed: f64) {
    let mut latencies = tally.latencies_us.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| -> u32 {
        if latencies.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
        latencies[rank]
    };
    let completed = tally.ok + tally.non_2xx;
    println!(
        "{{\"scheduled\": {scheduled}, \"completed\": {completed}, \"ok\": {}, \"non_2xx\": {}, \
         \"errors\": {}, \"elapsed_s\": {elapsed:.3}, \"achieved_rps\": {:.1}, \"p50_us\": {}, \
         \"p90_us\": {}, \"p99_us\": {}, \"max_us\": {}}}",
        tally.ok,
        tally.non_2xx,
        tally.errors,
        completed as f64 / elapsed.max(1e-9),
        percentile(50.0),
        percentile(90.0),
        percentile(99.0),
        latencies.last().copied().unwrap_or(0),
    );
}
