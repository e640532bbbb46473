#!/usr/bin/env bash
# Benchmarks the authenticated hot path of portcullis side by side with a direct
# connection, nginx proxy_pass, HAProxy and the nginx auth_request pattern, then the
# cache-miss paths.
#
# Usage: benches/run.sh [--duration SECONDS] [--repeats N] [--quick] [--no-install]
#                       [--variants "NAME ..."] [--hot-only] [--baseline BINARY]
#                       [--profile NAME]
#
#   --duration SECONDS  length of each load run (default 10)
#   --repeats N         interleaved rounds of the closed-loop and one-in-flight runs (default 3)
#   --quick             --duration 3 --repeats 1, to check that the harness works
#   --no-install        fail instead of installing missing tools
#   --variants "A B"    run only these paths (default: all; names as in VARIANTS below)
#   --hot-only          skip the open-loop and cache-miss runs (for comparing changes)
#   --baseline BINARY   also run another portcullis build (e.g. a copy of the binary
#                       before a change) as the paths baseline-bearer and baseline-cookie
#   --profile NAME      cargo profile of the binaries (default dist, the deployment
#                       build). release builds faster, which suits checking the harness
#
# Everything binds 127.0.0.1 and every load run is bounded by --duration (the open-loop
# driver also by a request count). Missing tools (nginx, haproxy, wrk from Debian; oha
# from crates.io) are installed first. Results go to bench-results/<timestamp>/ as raw
# tool output, results.tsv and summary.md, the table BENCHMARKS.md shows. Every process
# the script starts is stopped on exit, including on failure or Ctrl-C.
set -euo pipefail

DURATION=10
REPEATS=3
CONNECTIONS=64
OPEN_LOOP_RATE=5000
ROTATING_TOKENS=1000
# Requests of the miss-per-request run: each carries a token used nowhere else.
MISS_TOKENS=3000
MISS_RATE=1000
INSTALL=1
ONLY_VARIANTS=""
HOT_ONLY=0
BASELINE_BIN=""
PROFILE=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --quick) DURATION=3; REPEATS=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    --variants) ONLY_VARIANTS="$2"; shift 2 ;;
    --hot-only) HOT_ONLY=1; shift ;;
    --baseline) BASELINE_BIN=$(realpath "$2"); shift 2 ;;
    --profile) PROFILE="$2"; shift 2 ;;
    *) echo "unknown option: $1 (expected --duration SECONDS, --repeats N, --quick, --no-install, --variants \"A B\", --hot-only, --baseline BINARY or --profile NAME)" >&2; exit 2 ;;
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
MINIMAL_PORT=18680
BASELINE_PORT=18780
BASELINE_ADMIN_PORT=18790

log() { printf '[bench] %s\n' "$*" >&2; }

PIDS=()
cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Give nginx and the gateways their graceful shutdown, then force what is left.
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "process $pid did not stop on SIGTERM; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ---------------------------------------------------------------------------
install_tools() {
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$INSTALL" -eq 1 ] || { log "missing tools: ${missing[*]}"; exit 1; }
    log "installing ${missing[*]} from Debian packages"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v oha >/dev/null; then
    [ "$INSTALL" -eq 1 ] || { log "missing tool: oha"; exit 1; }
    log "installing oha from crates.io (a few minutes, once)"
    cargo install oha --locked --quiet
  fi
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
}

# --- processes -----------------------------------------------------------------------
wait_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "nothing listens on 127.0.0.1:$port after 10 s; see $WORK/*.log"; return 1
}

# Starts a command in the background, logs to $WORK/NAME.log, stores its PID in the
# variable VAR and in PIDS for cleanup. No command substitution: a subshell would lose
# PIDS, and the child would not be this shell's to wait for.
start() { # var, name, command...
  local var=$1 name=$2; shift 2
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  printf -v "$var" '%s' "$!"
}

# After the command name in /proc/PID/stat, utime and stime are fields 12 and 13.
stat_ticks() { # awk expression over the fields, pid... -> its value in clock ticks, summed
  local expression=$1 total=0 pid stat; shift
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    total=$((total + $(echo "$stat" | awk "{print $expression}")))
  done
  echo "$total"
}
cpu_ticks() { stat_ticks '$12 + $13' "$@"; } # pid... -> utime + stime
user_ticks() { stat_ticks '$12' "$@"; }      # pid... -> utime

proc_status_kib() { # field, pid... -> summed field of /proc/PID/status in KiB
  local field=$1 total=0 pid value; shift
  for pid in "$@"; do
    value=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null)
    total=$((total + ${value:-0}))
  done
  echo "$total"
}

# --- setup ---------------------------------------------------------------------------
install_tools
log "building the binaries with the $PROFILE profile"
cargo build --profile "$PROFILE" --quiet --bin portcullis --example bench_upstream \
  --example bench_open_loop --example bench_minimal_proxy
# cargo puts the dev profile's output in target/debug.
PROFILE_DIR=$PROFILE
[ "$PROFILE" = dev ] && PROFILE_DIR=debug
BIN="$ROOT/target/$PROFILE_DIR/portcullis"
UPSTREAM_BIN="$ROOT/target/$PROFILE_DIR/examples/bench_upstream"
OPEN_LOOP_BIN="$ROOT/target/$PROFILE_DIR/examples/bench_open_loop"
MINIMAL_BIN="$ROOT/target/$PROFILE_DIR/examples/bench_minimal_proxy"
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY_BIN=$(command -v haproxy || echo /usr/sbin/haproxy)

start UPSTREAM_PID upstream "$UPSTREAM_BIN" "127.0.0.1:$UPSTREAM_PORT"
wait_port "$UPSTREAM_PORT"

# Long-lived tokens and no rate limits: the runs measure the gateway, not Okta's limits.
cat >"$WORK/emulator-settings.toml" <<TOML
access_token_ttl = "24h"
sms_resend_interval = "0s"
wrong_code_limit = 0
password_requests_per_second = 0
org_rate_limit_per_minute = 0
TOML
start EMULATOR_PID emulator "$BIN" emulator --listen "127.0.0.1:$EMULATOR_PORT" --settings "$WORK/emulator-settings.toml"
wait_port "$EMULATOR_PORT"
ISSUER="http://127.0.0.1:$EMULATOR_PORT/oauth2/default"

# Keys as in config/portcullis.example.toml. Plain HTTP on loopback, so the cookie has
# no Secure attribute and no __Host- prefix. One runtime worker, as nginx and HAProxy
# get one worker each. Login rate limits are raised only for the token minting below,
# which talks to the emulator directly, so they stay at their defaults here.
write_gateway_config() { # file, listen port, admin port
  cat >"$1" <<TOML
[server]
listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"
public_url = "http://127.0.0.1:$2"
worker_threads = 1

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
"$BIN" check --config "$WORK/gateway.toml" >/dev/null
start GATEWAY_PID gateway "$BIN" serve --config "$WORK/gateway.toml"
start AUTH_PID auth-service "$BIN" serve --config "$WORK/auth.toml"
wait_port "$GATEWAY_PORT"
wait_port "$AUTH_PORT"

# Log in through the gateway as the README describes: POST /login (password), POST
# /challenge (SMS), POST /verify with the code taken from the emulator's outbox.
login() { # gateway port, cookie jar -> prints the access token
  local base="http://127.0.0.1:$1/.portcullis" jar=$2 tx code
  tx=$(curl -fsS -c "$jar" -H 'Content-Type: application/json' \
    -d '{"username":"alice@example.com","password":"Correct-Horse-42"}' "$base/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["transaction_id"])')
  curl -fsS -H 'Content-Type: application/json' -d "{\"transaction_id\":\"$tx\",\"channel\":\"sms\"}" \
    "$base/challenge" >/dev/null
  code=$(curl -fsS "http://127.0.0.1:$EMULATOR_PORT/__emulator/outbox?to=%2B15555550100" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["code"])')
  curl -fsS -c "$jar" -H 'Content-Type: application/json' \
    -d "{\"transaction_id\":\"$tx\",\"code\":\"$code\"}" "$base/verify" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
if [ -n "$BASELINE_BIN" ]; then
  write_gateway_config "$WORK/baseline.toml" "$BASELINE_PORT" "$BASELINE_ADMIN_PORT"
  start BASELINE_PID baseline "$BASELINE_BIN" serve --config "$WORK/baseline.toml"
  wait_port "$BASELINE_PORT"
fi
TOKEN=$(login "$GATEWAY_PORT" "$WORK/cookies.txt")
COOKIE=$(awk '$6 == "portcullis" {print "portcullis=" $7}' "$WORK/cookies.txt")
[ -n "$TOKEN" ] && [ -n "$COOKIE" ] || { log "login failed; see $WORK/*.log"; exit 1; }

# Warm both gateways' caches so the runs measure the cache-hit path, and check that each
# path answers 200 before timing it.
for port in "$GATEWAY_PORT" "$AUTH_PORT"; do
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/warm"
done
curl -fsS -o /dev/null -H "Cookie: $COOKIE" "http://127.0.0.1:$GATEWAY_PORT/warm"
if [ -n "$BASELINE_BIN" ]; then
  # Sessions live in each process, so the baseline needs its own login for the cookie.
  login "$BASELINE_PORT" "$WORK/baseline-cookies.txt" >/dev/null
  BASELINE_COOKIE=$(awk '$6 == "portcullis" {print "portcullis=" $7}' "$WORK/baseline-cookies.txt")
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$BASELINE_PORT/warm"
  curl -fsS -o /dev/null -H "Cookie: $BASELINE_COOKIE" "http://127.0.0.1:$BASELINE_PORT/warm"
fi

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
start NGINX_PID nginx "$NGINX_BIN" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_port "$NGINX_PROXY_PORT"
wait_port "$NGINX_AUTH_PORT"
sleep 0.3
NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
[ -n "$NGINX_WORKERS" ] || { log "nginx started no worker; see $WORK/nginx/error.log"; exit 1; }
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$NGINX_AUTH_PORT/warm"

cat >"$WORK/haproxy.cfg" <<HAPROXY
global
  nbthread 1
  maxconn 4096
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
start HAPROXY_PID haproxy "$HAPROXY_BIN" -db -f "$WORK/haproxy.cfg"
wait_port "$HAPROXY_PORT"

# The floor: a hyper + moka proxy with no features (examples/bench_minimal_proxy.rs).
start MINIMAL_PID minimal-proxy "$MINIMAL_BIN" "127.0.0.1:$MINIMAL_PORT" "127.0.0.1:$UPSTREAM_PORT" "$TOKEN"
wait_port "$MINIMAL_PORT"
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$MINIMAL_PORT/warm"

# --- variants ------------------------------------------------------------------------
# name -> url|header|pids whose CPU counts as the proxy's, in groups split by ';' (the
# auth_request pattern counts nginx and the auth service separately).
variant_line() {
  case "$1" in
    direct) echo "http://127.0.0.1:$UPSTREAM_PORT/|X-Bench: 1|" ;;
    nginx) echo "http://127.0.0.1:$NGINX_PROXY_PORT/|X-Bench: 1|$NGINX_WORKERS" ;;
    haproxy) echo "http://127.0.0.1:$HAPROXY_PORT/|X-Bench: 1|$HAPROXY_PID" ;;
    nginx-auth-request) echo "http://127.0.0.1:$NGINX_AUTH_PORT/|Authorization: Bearer $TOKEN|$NGINX_WORKERS;$AUTH_PID" ;;
    minimal) echo "http://127.0.0.1:$MINIMAL_PORT/|Authorization: Bearer $TOKEN|$MINIMAL_PID" ;;
    baseline-bearer) [ -n "$BASELINE_BIN" ] && echo "http://127.0.0.1:$BASELINE_PORT/|Authorization: Bearer $TOKEN|$BASELINE_PID" ;;
    baseline-cookie) [ -n "$BASELINE_BIN" ] && echo "http://127.0.0.1:$BASELINE_PORT/|Cookie: $BASELINE_COOKIE|$BASELINE_PID" ;;
    portcullis-bearer) echo "http://127.0.0.1:$GATEWAY_PORT/|Authorization: Bearer $TOKEN|$GATEWAY_PID" ;;
    portcullis-cookie) echo "http://127.0.0.1:$GATEWAY_PORT/|Cookie: $COOKIE|$GATEWAY_PID" ;;
  esac
}
VARIANTS=(direct nginx haproxy nginx-auth-request minimal portcullis-bearer portcullis-cookie)
[ -z "$BASELINE_BIN" ] || VARIANTS+=(baseline-bearer baseline-cookie)
if [ -n "$ONLY_VARIANTS" ]; then
  for variant in $ONLY_VARIANTS; do
    [ -n "$(variant_line "$variant")" ] || { log "unknown variant $variant (known: ${VARIANTS[*]})"; exit 2; }
  done
  read -ra VARIANTS <<<"$ONLY_VARIANTS"
fi

RESULTS="$OUT/results.tsv"
printf 'round\tvariant\tmode\trps\tp50_us\tp99_us\tcpu_us_per_req\tcpu_parts\trss_kib\tuser_us_per_req\n' >"$RESULTS"

# Converts wrk's latency strings (e.g. 812.00us, 1.20ms, 2.00s) to microseconds.
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }

run_wrk() { # round, variant, mode(closed|single), connections
  local round=$1 variant=$2 mode=$3 conns=$4 line url header groups out
  line=$(variant_line "$variant")
  url=${line%%|*}; line=${line#*|}; header=${line%%|*}; groups=${line#*|}
  local -a befores=() afters=()
  local group user_before user_after
  IFS=';' read -ra group_list <<<"$groups"
  for group in "${group_list[@]}"; do befores+=("$(cpu_ticks $group)"); done
  # shellcheck disable=SC2086
  user_before=$(user_ticks ${groups//;/ })
  out="$OUT/wrk-$variant-$mode-$round.txt"
  wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 5s --latency -H "$header" "$url" >"$out" 2>&1
  for group in "${group_list[@]}"; do afters+=("$(cpu_ticks $group)"); done
  # shellcheck disable=SC2086
  user_after=$(user_ticks ${groups//;/ })

  local rps requests p50 p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  requests=$(awk '/requests in/ {print $1}' "$out")
  p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  if [ -n "$non2xx" ]; then log "$variant returned $non2xx non-2xx responses; see $out"; fi

  local cpu="-" parts="-" rss="-" user="-" hz index part
  hz=$(getconf CLK_TCK)
  if [ ${#group_list[@]} -gt 0 ] && [ "${requests:-0}" -gt 0 ]; then
    local total=0
    parts=""
    for index in "${!group_list[@]}"; do
      part=$((afters[index] - befores[index]))
      total=$((total + part))
      parts+="${parts:++}$(awk -v t="$part" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')"
    done
    cpu=$(awk -v t="$total" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
    user=$(awk -v t="$((user_after - user_before))" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
    # shellcheck disable=SC2086
    rss=$(proc_status_kib VmRSS ${groups//;/ })
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$variant" "$mode" "$rps" "$p50" "$p99" "$cpu" "$parts" "$rss" "$user" >>"$RESULTS"
  log "round $round $variant $mode: $rps req/s, p50 ${p50} us, p99 ${p99} us, cpu ${cpu} (${parts}) us/req, user space ${user} us/req"
}

# Each round runs every variant once per mode; the order rotates between rounds so that
# no variant always runs first (after an idle pause) or last.
for round in $(seq 1 "$REPEATS"); do
  shift_by=$(( (round - 1) % ${#VARIANTS[@]} ))
  ordered=("${VARIANTS[@]:shift_by}" "${VARIANTS[@]:0:shift_by}")
  for variant in "${ordered[@]}"; do run_wrk "$round" "$variant" closed "$CONNECTIONS"; done
  for variant in "${ordered[@]}"; do run_wrk "$round" "$variant" single 1; done
done

if [ "$HOT_ONLY" -eq 1 ]; then
  python3 "$ROOT/benches/summarize.py" "$OUT" "$DURATION" >"$OUT/summary.md"
  cat "$OUT/summary.md"
  log "raw results in $OUT (--hot-only: open-loop and cache-miss runs skipped)"
  exit 0
fi

# Open loop at a fixed rate with oha: latency when the proxy is not saturated, corrected
# for coordinated omission.
for variant in "${VARIANTS[@]}"; do
  line=$(variant_line "$variant"); url=${line%%|*}; line=${line#*|}; header=${line%%|*}
  oha --no-tui --latency-correction -z "${DURATION}s" -q "$OPEN_LOOP_RATE" -c "$CONNECTIONS" -H "$header" \
    --output-format json "$url" >"$OUT/oha-$variant.json" 2>"$OUT/oha-$variant.err" ||
    log "oha failed for $variant; see $OUT/oha-$variant.err"
done
proc_status_kib VmHWM "$GATEWAY_PID" >"$OUT/gateway-hwm-kib.txt"

# --- cache-miss scenarios -------------------------------------------------------------
# Tokens are minted at the emulator (password, SMS challenge, mfa-oob grant) and are
# new to the gateway, so each is introspected on first use.
ticks_to_s() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }
emulator_stats() { curl -fsS "http://127.0.0.1:$EMULATOR_PORT/__emulator/stats"; }
log "minting $((ROTATING_TOKENS + MISS_TOKENS + 1)) tokens at the emulator"
python3 "$ROOT/benches/tokens.py" "$EMULATOR_PORT" $((ROTATING_TOKENS + MISS_TOKENS + 1)) >"$WORK/all-tokens.txt"
head -n "$ROTATING_TOKENS" "$WORK/all-tokens.txt" >"$WORK/rotating-tokens.txt"
sed -n "$((ROTATING_TOKENS + 1)),$((ROTATING_TOKENS + MISS_TOKENS))p" "$WORK/all-tokens.txt" >"$WORK/miss-tokens.txt"
STAMPEDE_TOKEN=$(tail -n 1 "$WORK/all-tokens.txt")

# 1. Miss per request: every request carries a token used nowhere else, at a fixed rate
#    (MISS_TOKENS requests at MISS_RATE req/s, so the run is bounded by the token count).
before=$(emulator_stats); cpu_before=$(cpu_ticks "$GATEWAY_PID")
"$OPEN_LOOP_BIN" --url "http://127.0.0.1:$GATEWAY_PORT/" --rate "$MISS_RATE" --duration "$DURATION" \
  --connections "$CONNECTIONS" --tokens "$WORK/miss-tokens.txt" --once >"$OUT/open-loop-miss.json"
after=$(emulator_stats); cpu_after=$(cpu_ticks "$GATEWAY_PID")
printf '{"before": %s, "after": %s, "gateway_cpu_s": %s}\n' "$before" "$after" "$(ticks_to_s $((cpu_after - cpu_before)))" >"$OUT/stats-miss.json"

# 2. 1,000 distinct tokens rotating at OPEN_LOOP_RATE req/s: the first use of each token
#    misses, every later one hits. The driver rotates the Authorization header, which
#    oha cannot do.
before=$(emulator_stats); cpu_before=$(cpu_ticks "$GATEWAY_PID")
"$OPEN_LOOP_BIN" --url "http://127.0.0.1:$GATEWAY_PORT/" --rate "$OPEN_LOOP_RATE" --duration "$DURATION" \
  --connections "$CONNECTIONS" --tokens "$WORK/rotating-tokens.txt" >"$OUT/open-loop-rotating.json"
after=$(emulator_stats); cpu_after=$(cpu_ticks "$GATEWAY_PID")
printf '{"before": %s, "after": %s, "gateway_cpu_s": %s}\n' "$before" "$after" "$(ticks_to_s $((cpu_after - cpu_before)))" >"$OUT/stats-rotating.json"

# 3. Stampede: 64 connections send one uncached token at once; the introspection cache
#    must coalesce them into one call.
before=$(emulator_stats)
wrk -t1 -c"$CONNECTIONS" -d2s --timeout 5s -H "Authorization: Bearer $STAMPEDE_TOKEN" \
  "http://127.0.0.1:$GATEWAY_PORT/" >"$OUT/wrk-stampede.txt" 2>&1
after=$(emulator_stats)
printf '{"before": %s, "after": %s, "gateway_cpu_s": null}\n' "$before" "$after" >"$OUT/stats-stampede.json"
proc_status_kib VmRSS "$GATEWAY_PID" >"$OUT/gateway-rss-after-miss-kib.txt"

{
  echo "nproc: $(nproc)"
  echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "cargo profile: $PROFILE"
  echo "nginx: $("$NGINX_BIN" -v 2>&1)"
  echo "haproxy: $("$HAPROXY_BIN" -v | head -n 1)"
  echo "wrk: $(wrk -v 2>&1 | head -n 1)"
  echo "oha: $(oha --version)"
} >"$OUT/machine.txt"

python3 "$ROOT/benches/summarize.py" "$OUT" "$DURATION" >"$OUT/summary.md"
cat "$OUT/summary.md"
log "raw results in $OUT"
