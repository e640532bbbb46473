#!/usr/bin/env bash
# Benchmarks the authenticated hot path of portcullis side by side with a direct
# connection, nginx proxy_pass, HAProxy and the nginx auth_request pattern.
#
# Usage: benches/run.sh [--duration SECONDS] [--repeats N] [--quick]
#
# Everything binds 127.0.0.1 and every load run is bounded by --duration. Missing tools
# (nginx, haproxy, wrk from Debian; oha from crates.io) are installed first. Results go to
# bench-results/<timestamp>/ as raw tool output plus summary.md, the table BENCHMARKS.md shows.
set -euo pipefail

DURATION=10
REPEATS=3
CONNECTIONS=64
OPEN_LOOP_RATE=5000
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --quick) DURATION=3; REPEATS=1; shift ;;
    *) echo "unknown option: $1 (expected --duration N, --repeats N or --quick)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT="$ROOT/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
WORK="$OUT/run"
mkdir -p "$WORK"

# Fixed loopback ports, far from the demo's 4180-4190.
UPSTREAM_PORT=18080
GATEWAY_PORT=18180
GATEWAY_ADMIN_PORT=18190
EMULATOR_PORT=18181
AUTH_PORT=18580
AUTH_ADMIN_PORT=18590
NGINX_PROXY_PORT=18280
NGINX_AUTH_PORT=18480
HAPROXY_PORT=18380

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

log() { printf '[bench] %s\n' "$*" >&2; }

# --- tools ---------------------------------------------------------------------------
install_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v oha >/dev/null; then
    log "installing oha from crates.io (a few minutes, once)"
    cargo install oha --locked --quiet
  fi
}

# --- processes -----------------------------------------------------------------------
wait_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "nothing listens on 127.0.0.1:$port after 10 s"; return 1
}

start() { # name, command...
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  echo $!
}

cpu_ticks() { # pid... -> utime+stime in clock ticks, summed
  local total=0 pid
  for pid in "$@"; do
    local stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    # After the command name, utime and stime are fields 12 and 13.
    total=$((total + $(echo "$stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

rss_kib() { # pid... -> summed VmRSS in KiB
  local total=0 pid
  for pid in "$@"; do
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

nginx_workers() { pgrep -P "$1" | tr '\n' ' '; }

# --- setup ---------------------------------------------------------------------------
install_tools
log "building release binaries"
cargo build --release --quiet --bin portcullis --example bench_upstream
BIN="$ROOT/target/release/portcullis"
UPSTREAM_BIN="$ROOT/target/release/examples/bench_upstream"

UPSTREAM_PID=$(start upstream "$UPSTREAM_BIN" "127.0.0.1:$UPSTREAM_PORT")
wait_port "$UPSTREAM_PORT"

# Long-lived tokens and no rate limits: the runs measure the gateway, not Okta's limits.
cat >"$WORK/emulator-settings.toml" <<TOML
access_token_ttl = "24h"
sms_resend_interval = "0s"
wrong_code_limit = 0
password_requests_per_second = 0
org_rate_limit_per_minute = 0
TOML
EMULATOR_PID=$(start emulator "$BIN" emulator --listen "127.0.0.1:$EMULATOR_PORT" --settings "$WORK/emulator-settings.toml")
wait_port "$EMULATOR_PORT"
ISSUER="http://127.0.0.1:$EMULATOR_PORT/oauth2/default"

write_gateway_config() { # file, listen port, admin port
  cat >"$1" <<TOML
[server]
listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"

[okta]
issuer = "$ISSUER"
client_id = "portcullis-demo"
client_secret = "portcullis-demo-secret"

[auth]
introspection_cache_ttl = "1h"

[session]
cookie_name = "portcullis"
cookie_secure = false

[upstream]
url = "http://127.0.0.1:$UPSTREAM_PORT"

[log]
level = "warn"
TOML
}
write_gateway_config "$WORK/gateway.toml" "$GATEWAY_PORT" "$GATEWAY_ADMIN_PORT"
write_gateway_config "$WORK/auth.toml" "$AUTH_PORT" "$AUTH_ADMIN_PORT"
GATEWAY_PID=$(start gateway "$BIN" serve --config "$WORK/gateway.toml")
AUTH_PID=$(start auth-service "$BIN" serve --config "$WORK/auth.toml")
wait_port "$GATEWAY_PORT"
wait_port "$AUTH_PORT"

# Log in through the gateway: password, SMS challenge, code from the emulator's outbox.
login() { # gateway port, cookie jar -> prints the access token
  local base="http://127.0.0.1:$1/.portcullis" jar=$2 tx code
  tx=$(curl -fsS -c "$jar" -H 'Content-Type: application/json' \
    -d '{"username":"alice@example.com","password":"Correct-Horse-42"}' "$base/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["transaction_id"])')
  curl -fsS -H 'Content-Type: application/json' -d "{\"transaction_id\":\"$tx\",\"channel\":\"sms\"}" \
    "$base/challenge" >/dev/null
  code=$(curl -fsS "http://127.0.0.1:$EMULATOR_PORT/__emulator/outbox" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["code"])')
  curl -fsS -c "$jar" -H 'Content-Type: application/json' \
    -d "{\"transaction_id\":\"$tx\",\"code\":\"$code\"}" "$base/verify" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
TOKEN=$(login "$GATEWAY_PORT" "$WORK/cookies.txt")
COOKIE=$(awk '$6 == "portcullis" {print "portcullis=" $7}' "$WORK/cookies.txt")
[ -n "$TOKEN" ] && [ -n "$COOKIE" ] || { log "login failed; see $WORK/*.log"; exit 1; }

# Warm both gateways' caches so the runs measure the cache-hit path.
for port in "$GATEWAY_PORT" "$AUTH_PORT"; do
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/warm"
done
curl -fsS -o /dev/null -H "Cookie: $COOKIE" "http://127.0.0.1:$GATEWAY_PORT/warm"

# nginx, one worker: plain proxy_pass and auth_request to the separate auth service.
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream app { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; }
  upstream auth { server 127.0.0.1:$AUTH_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PROXY_PORT;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:$NGINX_AUTH_PORT;
    location = /.portcullis/auth {
      internal;
      proxy_pass http://auth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
    location / {
      auth_request /.portcullis/auth;
      auth_request_set \$user \$upstream_http_x_forwarded_user;
      proxy_set_header X-Forwarded-User \$user;
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
NGINX_PID=$(start nginx nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx")
wait_port "$NGINX_PROXY_PORT"
sleep 0.3
NGINX_WORKERS=$(nginx_workers "$NGINX_PID")

HAPROXY_BIN=$(command -v haproxy || echo /usr/sbin/haproxy)
cat >"$WORK/haproxy.cfg" <<HAPROXY
global
  nbthread 1
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend bench
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend app
backend app
  server app1 127.0.0.1:$UPSTREAM_PORT
HAPROXY
HAPROXY_PID=$(start haproxy "$HAPROXY_BIN" -db -f "$WORK/haproxy.cfg")
wait_port "$HAPROXY_PORT"

# --- variants ------------------------------------------------------------------------
# name | url | header | pids whose CPU counts as the proxy's
variant_line() {
  case "$1" in
    direct) echo "http://127.0.0.1:$UPSTREAM_PORT/|X-Bench: 1|" ;;
    nginx) echo "http://127.0.0.1:$NGINX_PROXY_PORT/|X-Bench: 1|$NGINX_WORKERS" ;;
    haproxy) echo "http://127.0.0.1:$HAPROXY_PORT/|X-Bench: 1|$HAPROXY_PID" ;;
    nginx-auth-request) echo "http://127.0.0.1:$NGINX_AUTH_PORT/|Authorization: Bearer $TOKEN|$NGINX_WORKERS $AUTH_PID" ;;
    portcullis-bearer) echo "http://127.0.0.1:$GATEWAY_PORT/|Authorization: Bearer $TOKEN|$GATEWAY_PID" ;;
    portcullis-cookie) echo "http://127.0.0.1:$GATEWAY_PORT/|Cookie: $COOKIE|$GATEWAY_PID" ;;
  esac
}
VARIANTS=(direct nginx haproxy nginx-auth-request portcullis-bearer portcullis-cookie)

RESULTS="$OUT/results.tsv"
printf 'round\tvariant\tmode\trps\tp50_us\tp99_us\tcpu_us_per_req\trss_kib\n' >"$RESULTS"

# Converts wrk's latency strings (e.g. 812.00us, 1.20ms, 2.00s) to microseconds.
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }

run_wrk() { # round, variant, mode(closed|single), connections
  local round=$1 variant=$2 mode=$3 conns=$4 line url header pids before after out rps requests p50 p99
  line=$(variant_line "$variant")
  url=${line%%|*}; line=${line#*|}; header=${line%%|*}; pids=${line#*|}
  before=$(cpu_ticks $pids)
  out="$OUT/wrk-$variant-$mode-$round.txt"
  wrk -t1 -c"$conns" -d"${DURATION}s" --latency -H "$header" "$url" >"$out" 2>&1
  after=$(cpu_ticks $pids)
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  requests=$(awk '/requests in/ {print $1}' "$out")
  p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  if [ -n "$non2xx" ]; then log "$variant answered $non2xx non-2xx responses; see $out"; fi
  local cpu="-" rss="-"
  if [ -n "$pids" ] && [ "${requests:-0}" -gt 0 ]; then
    cpu=$(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
    rss=$(rss_kib $pids)
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$variant" "$mode" "$rps" "$p50" "$p99" "$cpu" "$rss" >>"$RESULTS"
  log "round $round $variant $mode: $rps req/s, p50 ${p50} us, p99 ${p99} us, cpu ${cpu} us/req"
}

for round in $(seq 1 "$REPEATS"); do
  for variant in "${VARIANTS[@]}"; do run_wrk "$round" "$variant" closed "$CONNECTIONS"; done
  for variant in "${VARIANTS[@]}"; do run_wrk "$round" "$variant" single 1; done
done

# Open loop at a fixed rate with oha: latency when the proxy is not saturated.
for variant in direct nginx haproxy nginx-auth-request portcullis-bearer; do
  line=$(variant_line "$variant"); url=${line%%|*}; line=${line#*|}; header=${line%%|*}
  oha --no-tui -z "${DURATION}s" -q "$OPEN_LOOP_RATE" -c "$CONNECTIONS" -H "$header" --output-format json "$url" \
    >"$OUT/oha-$variant.json" 2>"$OUT/oha-$variant.err" || log "oha failed for $variant; see $OUT/oha-$variant.err"
done

# --- cache-miss scenarios -------------------------------------------------------------
# Distinct tokens: each is introspected once, so this measures the miss path and the
# number of Okta calls per second the gateway makes.
python3 "$ROOT/benches/tokens.py" "$EMULATOR_PORT" 1000 >"$WORK/tokens.txt"
STATS_BEFORE=$(curl -fsS "http://127.0.0.1:$EMULATOR_PORT/__emulator/stats")
cat >"$WORK/tokens.lua" <<LUA
local tokens = {}
for line in io.lines("$WORK/tokens.txt") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/", { ["Authorization"] = "Bearer " .. tokens[i] })
end
LUA
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/tokens.lua" "http://127.0.0.1:$GATEWAY_PORT/" >"$OUT/wrk-1000-tokens.txt" 2>&1
STATS_AFTER=$(curl -fsS "http://127.0.0.1:$EMULATOR_PORT/__emulator/stats")
printf '%s\n%s\n' "$STATS_BEFORE" "$STATS_AFTER" >"$OUT/emulator-stats.txt"

python3 "$ROOT/benches/summarize.py" "$OUT" "$DURATION" >"$OUT/summary.md"
cat "$OUT/summary.md"
log "raw results in $OUT"
