#!/usr/bin/env bash
# bench/run.sh: measures infergate and its peers (direct, nginx, HAProxy, Portkey) in one run on
# this machine against one mock backend, and writes bench/results/<date>.md. See bench/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/run.sh [--reps N] [--only LIST] [--peers LIST] [--quick] [--out FILE]
  --reps N      repetitions of every measurement, interleaved across peers (default 3)
  --only LIST   comma-separated scenarios: throughput,latency,streaming,maxstreams,memory,micro,h2,tls,
                neutral (default: all of them; h2 = HTTP/2 cleartext to the proxies, bench/h2.sh;
                tls = TLS handshakes and requests over TLS, nginx against infergate, bench/tls.sh;
                neutral = wrk against a static nginx backend through nginx, HAProxy and infergate
                with 1 and 2 workers: req/s, added latency at c1, SSE CPU per event, bench/neutral.sh); also
                reload (not in the default): bench/reload.sh, the cost of hot reloads under load,
                run alone (--only reload [--reps N] [--quick] [--out FILE] are passed on to it);
                limits (not in the default): bench/limits.sh, the rate limiter's cost per
                request, local and through Redis, run alone in the same way
  --peers LIST  comma-separated subset of direct,nginx,haproxy,portkey,infergate-1w,infergate-all,
                infergate-base (default: all but infergate-base; direct and infergate-1w are the
                references of the ratios)
  --quick       a short smoke run: 1 repetition, short loads, small sweeps (about 3 minutes)
  --out FILE    the report (default bench/results/YYYY-MM-DD.md)
Environment: INFERGATE_BUILD=DIR uses an existing build directory instead of ./build;
INFERGATE_NO_BUILD=1 runs the binaries already there without building;
BENCH_PORT_BASE=N moves the 11 ports used (default 18000); BENCH_KEEP=1 keeps the scratch dir;
INFERGATE_BASE_BIN=FILE is the infergate binary of the infergate-base peer (a baseline build run
exactly like infergate-1w, against the same mock and load generator).
EOF
}

REPS=3
ONLY="throughput,latency,streaming,maxstreams,memory,micro,h2,tls,neutral"
PEER_LIST="direct,nginx,haproxy,portkey,infergate-1w,infergate-all"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_args run.sh "throughput,latency,streaming,maxstreams,memory,micro,h2,tls,neutral,reload,limits" \
  "direct,nginx,haproxy,portkey,infergate-1w,infergate-all,infergate-base" "$@"
want() { [[ ",$ONLY," == *",$1,"* ]]; }
# The reload scenario is a script of its own, with one infergate and no peers: run it alone.
if want reload; then
  [[ $ONLY == reload ]] || { echo "run.sh: --only reload runs alone (bench/reload.sh)" >&2; exit 2; }
  exec "$ROOT/bench/reload.sh" "$@"
fi
# So is the rate limiter's (bench/limits.sh): four infergate configs, a mock and a redis-server.
if want limits; then
  [[ $ONLY == limits ]] || { echo "run.sh: --only limits runs alone (bench/limits.sh)" >&2; exit 2; }
  exec "$ROOT/bench/limits.sh" "$@"
fi
for s in ${PEER_LIST//,/ }; do
  case "$s" in direct|nginx|haproxy|portkey|infergate-1w|infergate-all|infergate-base) ;;
    *) echo "run.sh: unknown peer $s" >&2; exit 2 ;; esac
done
# The baseline binary, as an absolute path (the script changes directory below).
BASE_BIN=""
[[ -n ${INFERGATE_BASE_BIN:-} ]] && BASE_BIN=$(readlink -f "$INFERGATE_BASE_BIN" || echo "$INFERGATE_BASE_BIN")

cd "$ROOT"
PEERS_DIR="$ROOT/bench/.peers"
[[ -n $OUT ]] || OUT="$ROOT/bench/results/$(date +%Y-%m-%d).md"
WORK=$(mktemp -d /tmp/infergate-bench.XXXXXX)
RUN_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# Pinned peer versions. Portkey 1.15.2 with the @hono/node-server its range resolves to fails
# every streamed response on Node ("TypeError: immutable", Portkey-AI/gateway#1389, #1550);
# node-server 2.1.8 copies response headers and streams correctly.
PORTKEY_VERSION=1.15.2
HONO_NODE_SERVER_VERSION=2.1.8

# ---- Durations (full run; --quick shortens them).
TP_DURATION=3.5s; TP_WARMUP=1s          # throughput: 64 connections, closed loop
LAT_DURATION=2.5s; LAT_WARMUP=0.5s      # added latency: concurrency 1
ST_DURATION=3.5s                        # streaming timing: 64 looping streams
SWEEP_MAX=16384; SWEEP_RAMP=1s          # max streams: 64, 128, ... SWEEP_MAX
MEM_IDLE_CONNS=10000; MEM_STREAMS=9000; MEM_RAMP=3s  # memory: clamped below the fd limit
MICRO_MIN_TIME=0.2
if [[ $QUICK == 1 ]]; then
  REPS=1
  TP_DURATION=2s; TP_WARMUP=0.5s; LAT_DURATION=1.5s; LAT_WARMUP=0.3s; ST_DURATION=2s
  SWEEP_MAX=1024; MEM_IDLE_CONNS=2000; MEM_STREAMS=200; MEM_RAMP=1s; MICRO_MIN_TIME=0.05
fi
STREAM_TOKENS=64; STREAM_INTERVAL_MS=20; GAP_THRESHOLD_MS=$((10 * STREAM_INTERVAL_MS))
# The h2 scenario: its durations, load and report section.
# shellcheck source=bench/h2.sh
source "$ROOT/bench/h2.sh"
# The tls scenario: nginx and infergate terminating TLS (handshakes, requests over TLS).
# shellcheck source=bench/tls.sh
source "$ROOT/bench/tls.sh"
# The neutral scenario: wrk and a static nginx backend instead of the project's own tools.
# shellcheck source=bench/neutral.sh
source "$ROOT/bench/neutral.sh"

# ---- Processes: every one started here is recorded and killed on exit.
declare -a PIDS=()
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---- Build.
TARGETS=(infergate infergate-mock infergate-loadgen)
want micro && TARGETS+=(infergate-microbench)
bench_build "${TARGETS[@]}"
if want micro && [[ ! -x $BIN/infergate-microbench ]]; then
  log "infergate-microbench not built (libbenchmark-dev missing?): micro scenario skipped"
fi

# ---- Peers: install what is missing; a peer that cannot run is reported, not fatal.
declare -A UNAVAILABLE=()
install_debs() {
  local missing=()
  command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  [[ ${#missing[@]} == 0 ]] && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y "${missing[@]}" \
      >"$WORK/apt.log" 2>&1 || { apt-get update >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y "${missing[@]}" \
      >"$WORK/apt.log" 2>&1; } || log "apt-get install ${missing[*]} failed"
  else
    log "missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
  fi
}
install_debs
export PATH="$PATH:/usr/sbin:/sbin"
command -v nginx >/dev/null || UNAVAILABLE[nginx]="nginx not installed (apt-get install nginx-light)"
command -v haproxy >/dev/null || UNAVAILABLE[haproxy]="haproxy not installed (apt-get install haproxy)"

PORTKEY_MAIN="$PEERS_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"
install_portkey() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    UNAVAILABLE[portkey]="node/npm not installed"
    return 0
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if ((major < 18)); then
    UNAVAILABLE[portkey]="node $(node --version) is too old (Portkey needs 18+)"
    return 0
  fi
  local have="" hono=""
  have=$(node -p "require('$PEERS_DIR/node_modules/@portkey-ai/gateway/package.json').version" \
    2>/dev/null || true)
  hono=$(node -p "require('$PEERS_DIR/node_modules/@hono/node-server/package.json').version" \
    2>/dev/null || true)
  if [[ $have == "$PORTKEY_VERSION" && $hono == "$HONO_NODE_SERVER_VERSION" && -f $PORTKEY_MAIN ]]; then
    return 0
  fi
  log "installing @portkey-ai/gateway@$PORTKEY_VERSION into bench/.peers"
  mkdir -p "$PEERS_DIR"
  cat >"$PEERS_DIR/package.json" <<EOF
{
  "private": true,
  "dependencies": { "@portkey-ai/gateway": "$PORTKEY_VERSION" },
  "overrides": { "@hono/node-server": "$HONO_NODE_SERVER_VERSION" }
}
EOF
  if ! timeout 300 npm install --prefix "$PEERS_DIR" --no-audit --no-fund >"$WORK/npm.log" 2>&1 ||
    [[ ! -f $PORTKEY_MAIN ]]; then
    UNAVAILABLE[portkey]="npm install failed: $(grep -m1 -i 'err' "$WORK/npm.log" | cut -c1-120)"
  fi
}
install_portkey
if [[ -z $BASE_BIN ]]; then
  UNAVAILABLE[infergate-base]="INFERGATE_BASE_BIN is not set"
elif [[ ! -x $BASE_BIN ]]; then
  UNAVAILABLE[infergate-base]="INFERGATE_BASE_BIN=$BASE_BIN is not an executable"
fi

# ---- Limits, CPUs, ports.
bench_machine
PORT_BASE=${BENCH_PORT_BASE:-18000}
MOCK_PORT=$PORT_BASE
declare -A PORT=([direct]=$MOCK_PORT [nginx]=$((PORT_BASE + 1)) [haproxy]=$((PORT_BASE + 2))
  [portkey]=$((PORT_BASE + 3)) [infergate-1w]=$((PORT_BASE + 4)) [infergate-all]=$((PORT_BASE + 5))
  [infergate-base]=$((PORT_BASE + 6)))
# PORT_BASE + 7 to + 10: the neutral scenario's static backend and 2-worker rows (bench/neutral.sh).
for p in $(seq "$PORT_BASE" $((PORT_BASE + 10))); do
  if port_busy "$p"; then echo "run.sh: port $p is in use; set BENCH_PORT_BASE" >&2; exit 1; fi
done

PEERS=(); PROXIES=()
for p in direct nginx haproxy portkey infergate-base infergate-1w infergate-all; do
  [[ ",$PEER_LIST," == *",$p,"* ]] || continue
  PEERS+=("$p")
  [[ $p == direct ]] || PROXIES+=("$p")
done
declare -A PEER_PID=()
declare -A PEER_LABEL=([direct]="direct (no proxy)" [nginx]="nginx, 1 worker"
  [haproxy]="HAProxy, 1 thread" [portkey]="Portkey (Node)" [infergate-1w]="infergate, 1 worker"
  [infergate-all]="infergate, $NCPU workers" [infergate-base]="infergate baseline, 1 worker")


render() {  # render TEMPLATE OUT KEY=VALUE...; @WORKERS@ is 1 unless given
  local template=$1 out=$2; shift 2
  local sed_args=() kv
  for kv in "$@"; do sed_args+=(-e "s#@${kv%%=*}@#${kv#*=}#g"); done
  sed "${sed_args[@]}" -e "s#@WORKERS@#1#g" "$template" >"$out"
}

start_mock() {
  taskset -c "$LOAD_CPU" "$BIN/infergate-mock" --listen "127.0.0.1:$MOCK_PORT" --model mock-model \
    --tokens 16 --token-interval 0ms --ttft 0ms --threads 1 >"$WORK/mock.log" 2>&1 &
  MOCK_PID=$!
  PIDS+=("$MOCK_PID")
  wait_for 10 grep -q "listening" "$WORK/mock.log" || { cat "$WORK/mock.log" >&2; exit 1; }
}

# start_peer NAME: starts a fresh proxy process; sets PEER_PID[NAME] (0 when unavailable).
start_peer() {
  local name=$1 dir="$WORK/$1" port=${PORT[$1]}
  PEER_PID[$name]=0
  [[ $name == direct || -n ${UNAVAILABLE[$name]:-} ]] && return 0
  rm -rf "$dir"; mkdir -p "$dir"
  local pid h2_listen="" h2_bind=""
  # The h2 scenario (bench/h2.sh) sets H2_MODE=1: nginx and HAProxy then serve h2c only on their
  # port; infergate's listener serves HTTP/1.1 and h2c on one port in either case.
  [[ ${H2_MODE:-0} == 1 ]] && { h2_listen=" http2"; h2_bind=" proto h2"; }
  case "$name" in
    nginx)
      render "$ROOT/bench/peers/nginx.conf.template" "$dir/nginx.conf" "DIR=$dir" "PORT=$port" \
        "UPSTREAM_PORT=$MOCK_PORT" "WORKER_CONNECTIONS=$NOFILE" "WORKERS=1" \
        "HTTP2=$h2_listen"
      taskset -c "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
    haproxy)
      render "$ROOT/bench/peers/haproxy.cfg.template" "$dir/haproxy.cfg" "DIR=$dir" "PORT=$port" \
        "UPSTREAM_PORT=$MOCK_PORT" "MAXCONN=$(((NOFILE - 200) / 2))" "WORKERS=1" \
        "BIND_PROTO=$h2_bind"
      taskset -c "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
    portkey)
      NODE_ENV=production taskset -c "$PROXY_CPU" node "$PORTKEY_MAIN" --port="$port" --headless \
        >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
    infergate-1w|infergate-all|infergate-base)
      local workers=1 cpus=$PROXY_CPU bin=$BIN/infergate
      [[ $name == infergate-all ]] && { workers=$NCPU; cpus=$ALL_CPUS; }
      [[ $name == infergate-base ]] && bin=$BASE_BIN
      render "$ROOT/bench/peers/infergate.yaml.template" "$dir/infergate.yaml" "PORT=$port" \
        "ADMIN_PORT=$((port + 100))" "UPSTREAM_PORT=$MOCK_PORT"
      taskset -c "$cpus" "$bin" -c "$dir/infergate.yaml" --workers "$workers" \
        --log-level warn >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
  esac
  PIDS+=("$pid")
  local why
  if ! why=$(started "$pid" "$port" "$dir"); then
    UNAVAILABLE[$name]=$why
    log "$name: $why"
    return 0
  fi
  PEER_PID[$name]=$pid
}

# started PID PORT DIR: true once PID listens on PORT (within 20 s); else TERMs it and prints
# why, with the tail of DIR/stdout.log.
started() {
  local pid=$1 port=$2 dir=$3
  wait_for 20 port_busy "$port" && kill -0 "$pid" 2>/dev/null && return 0
  kill -TERM "$pid" 2>/dev/null || true
  echo "did not start: $(tail -c 300 "$dir/stdout.log" | tr '\n' ' ')"
  return 1
}

stop_peer() {
  local pid=${PEER_PID[$1]:-0}
  [[ $pid == 0 ]] && return 0
  stop_pid "$pid"
  PEER_PID[$1]=0
}

peer_available() { [[ $1 == direct || ${PEER_PID[$1]:-0} != 0 ]]; }

# The process and its children (nginx's worker), for CPU and memory figures.
proc_tree() { echo "$1"; pgrep -P "$1" 2>/dev/null || true; }
cpu_ticks() {  # utime + stime of the tree, in clock ticks
  local total=0 p t
  for p in $(proc_tree "$1"); do
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
rss_kib() {
  local total=0 p r
  for p in $(proc_tree "$1"); do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || r=0
    total=$((total + ${r:-0}))
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# Load generator invocation against a peer: peer_url NAME, peer_headers NAME.
peer_url() { echo "http://127.0.0.1:${PORT[$1]}/v1/chat/completions"; }
peer_headers() {
  if [[ $1 == portkey ]]; then
    printf '%s\n' --header "x-portkey-provider: openai" \
      --header "x-portkey-custom-host: http://127.0.0.1:$MOCK_PORT/v1" \
      --header "authorization: Bearer sk-bench" \
      --header "x-portkey-forward-headers: x-mock-tokens,x-mock-token-interval-ms"
  fi
}
STREAM_HEADERS=(--header "x-mock-tokens: $STREAM_TOKENS"
  --header "x-mock-token-interval-ms: $STREAM_INTERVAL_MS")

# loadgen OUTFILE PEER ARGS...: runs the load generator on the load CPU; JSON to OUTFILE.
loadgen() {
  local out=$1 peer=$2; shift 2
  local extra=()
  mapfile -t extra < <(peer_headers "$peer")
  taskset -c "$LOAD_CPU" "$BIN/infergate-loadgen" --json --url "$(peer_url "$peer")" \
    "${extra[@]}" "$@" >"$out" 2>"$out.err" || true
  [[ -s $out ]] || echo '{}' >"$out"
}

# loadgen_bg OUTFILE PEER ARGS...: the same in the background; sets LG_PID (the loadgen itself,
# so a TERM reaches it and it prints its figures).
loadgen_bg() {
  local out=$1 peer=$2; shift 2
  local extra=()
  mapfile -t extra < <(peer_headers "$peer")
  taskset -c "$LOAD_CPU" "$BIN/infergate-loadgen" --json --url "$(peer_url "$peer")" \
    "${extra[@]}" "$@" >"$out" 2>"$out.err" &
  LG_PID=$!
  PIDS+=("$LG_PID")
}
stop_loadgen() {
  kill -TERM "$LG_PID" 2>/dev/null || true
  wait_for 10 bash -c "! kill -0 $LG_PID 2>/dev/null" || kill -KILL "$LG_PID" 2>/dev/null || true
  wait "$LG_PID" 2>/dev/null || true
  [[ -s $1 ]] || echo '{}' >"$1"
}


bench_results_init

# ---- Versions and machine.
ver_nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //' || echo "not installed")
ver_haproxy=$(haproxy -v 2>/dev/null | head -1 | awk '{print $3}' || echo "not installed")
ver_portkey="${UNAVAILABLE[portkey]:-@portkey-ai/gateway $PORTKEY_VERSION (@hono/node-server $HONO_NODE_SERVER_VERSION), node $(node --version 2>/dev/null)}"
ver_infergate=$("$BIN/infergate" --version 2>&1 | head -1)
ver_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
ver_base="${UNAVAILABLE[infergate-base]:-$("$BASE_BIN" --version 2>&1 | head -1), $BASE_BIN (its checkout: git $(git -C "$(dirname "$BASE_BIN")" rev-parse --short HEAD 2>/dev/null || echo "?"))}"
ver_wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}' || true)
[[ -n $ver_wrk ]] || ver_wrk="not installed"
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
[[ -n $cpu_model ]] || cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')

start_mock
log "mock on 127.0.0.1:$MOCK_PORT (CPU $LOAD_CPU), peers on CPU $PROXY_CPU, fd limit $NOFILE"

# ---- Calibration: the load generator against the mock, and wrk for comparison.
calibrate() {
  loadgen "$WORK/cal-loadgen.json" direct --mode rps --connections 64 --duration 3s --warmup 1s
  CAL_LOADGEN=$(jnum "$WORK/cal-loadgen.json" rps)
  CAL_WRK="n/a"
  if command -v wrk >/dev/null; then
    local lua="$WORK/chat.lua"
    sed 's/"stream":false/"user":"bench","stream":false/' "$ROOT/bench/macro/chat.lua" >"$lua"
    CAL_WRK=$(taskset -c "$LOAD_CPU" timeout 20 wrk -t1 -c64 -d3s -s "$lua" "$(peer_url direct)" \
      2>/dev/null | awk '/Requests\/sec/ {print $2}') || CAL_WRK="n/a"
  fi
  log "calibration: loadgen $CAL_LOADGEN req/s, wrk $CAL_WRK req/s (direct, CPU $LOAD_CPU)"
}
calibrate

# Long-lived peers for the load scenarios.
start_all() {
  local p
  for p in "${PROXIES[@]}"; do start_peer "$p"; done
  # Warm-up and sanity: one streamed and one plain request through each peer.
  for p in "${PEERS[@]}"; do
    peer_available "$p" || continue
    loadgen "$WORK/sanity-$p.json" "$p" --mode stream --stream --connections 2 --duration 5s \
      "${STREAM_HEADERS[@]}" --header "x-mock-token-interval-ms: 1" --expect-tokens "$STREAM_TOKENS"
    local done_streams
    done_streams=$(jnum "$WORK/sanity-$p.json" streams_completed)
    [[ $done_streams == 2 ]] || note "sanity: $p completed $done_streams of 2 streams: $(tr '\n' ' ' <"$WORK/sanity-$p.json.err" | cut -c1-200)"
  done
}
stop_all() { local p; for p in "${PROXIES[@]}"; do stop_peer "$p"; done; }

# ---- Scenario 1: throughput.
scenario_throughput() {
  local rep p f c0 c1 t0 t1
  for rep in $(seq 1 "$REPS"); do
    for p in $(order "$rep" "${PEERS[@]}"); do
      peer_available "$p" || continue
      f="$WORK/tp-$p-$rep.json"
      local pid=${PEER_PID[$p]:-0}
      [[ $pid != 0 ]] && c0=$(cpu_ticks "$pid")
      t0=$(date +%s%N)
      loadgen "$f" "$p" --mode rps --connections 64 --duration "$TP_DURATION" --warmup "$TP_WARMUP"
      t1=$(date +%s%N)
      record throughput rps "$p" "$rep" "$(jnum "$f" rps)"
      record throughput p50_ms "$p" "$rep" "$(awk -v v="$(jnum "$f" latency_us p50)" 'BEGIN{print v/1000}')"
      record throughput p99_ms "$p" "$rep" "$(awk -v v="$(jnum "$f" latency_us p99)" 'BEGIN{print v/1000}')"
      record throughput errors "$p" "$rep" "$(jnum "$f" errors)"
      if [[ $pid != 0 ]]; then
        c1=$(cpu_ticks "$pid")
        record throughput cpu_pct "$p" "$rep" \
          "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100*c/hz/(ns/1e9)}')"
      fi
      log "throughput rep $rep $p: $(jnum "$f" rps) req/s, errors $(jnum "$f" errors)"
    done
  done
}

# ---- Scenario 2: added latency at concurrency 1.
scenario_latency() {
  local rep p f
  for rep in $(seq 1 "$REPS"); do
    for p in $(order "$rep" "${PEERS[@]}"); do
      peer_available "$p" || continue
      f="$WORK/lat-$p-$rep.json"
      loadgen "$f" "$p" --mode latency --duration "$LAT_DURATION" --warmup "$LAT_WARMUP"
      record latency p50_us "$p" "$rep" "$(jnum "$f" latency_us p50)"
      record latency p99_us "$p" "$rep" "$(jnum "$f" latency_us p99)"
      record latency errors "$p" "$rep" "$(jnum "$f" errors)"
      log "latency rep $rep $p: p50 $(jnum "$f" latency_us p50) us, p99 $(jnum "$f" latency_us p99) us"
    done
  done
}

# ---- Scenario 3a: per-token timing of 64 concurrent streams.
scenario_streaming() {
  local rep p f
  for rep in $(seq 1 "$REPS"); do
    for p in $(order "$rep" "${PEERS[@]}"); do
      peer_available "$p" || continue
      f="$WORK/st-$p-$rep.json"
      loadgen "$f" "$p" --mode stream --stream --connections 64 --streams-per-conn 0 \
        --duration "$ST_DURATION" --expect-tokens "$STREAM_TOKENS" \
        --gap-threshold "${GAP_THRESHOLD_MS}ms" "${STREAM_HEADERS[@]}"
      record streaming ttft_p50_ms "$p" "$rep" "$(awk -v v="$(jnum "$f" ttft_us p50)" 'BEGIN{print v/1000}')"
      record streaming ttft_p99_ms "$p" "$rep" "$(awk -v v="$(jnum "$f" ttft_us p99)" 'BEGIN{print v/1000}')"
      record streaming gap_p50_ms "$p" "$rep" "$(awk -v v="$(jnum "$f" gap_us p50)" 'BEGIN{print v/1000}')"
      record streaming gap_p99_ms "$p" "$rep" "$(awk -v v="$(jnum "$f" gap_us p99)" 'BEGIN{print v/1000}')"
      record streaming completed "$p" "$rep" "$(jnum "$f" streams_completed)"
      record streaming errors "$p" "$rep" "$(jnum "$f" errors)"
      log "streaming rep $rep $p: ttft p99 $(jnum "$f" ttft_us p99) us, gap p99 $(jnum "$f" gap_us p99) us, $(jnum "$f" streams_completed) complete, $(jnum "$f" errors) errors"
    done
  done
}

# ---- Scenario 3b: the most concurrent streams held with every token on time.
# stream_level PEER N REP: 0 when N streams pass (all tokens, no gap over the threshold, < 0.1%
# errors), 1 when they fail, 2 when the machine's file-descriptor limit forbids N.
LAST_FAIL=""
stream_level() {
  local p=$1 n=$2 rep=$3
  local fds_per_stream=2
  [[ $p == direct ]] && fds_per_stream=1
  if ((n * fds_per_stream + 200 > NOFILE)); then
    LAST_FAIL="fd limit $NOFILE at $n"
    return 2
  fi
  local f="$WORK/ms-$p-$n-$rep.json"
  local ramp_ms=${SWEEP_RAMP%s}000
  # Time to first token is not a criterion: streams may wait up to 6 s for their first token.
  local hold_ms=$((ramp_ms + STREAM_TOKENS * STREAM_INTERVAL_MS + 6000))
  loadgen "$f" "$p" --mode stream --stream --connections "$n" --ramp "$SWEEP_RAMP" \
    --duration "${hold_ms}ms" --timeout "${hold_ms}ms" --expect-tokens "$STREAM_TOKENS" \
    --gap-threshold "${GAP_THRESHOLD_MS}ms" "${STREAM_HEADERS[@]}"
  local errors over completed
  errors=$(jnum "$f" errors); over=$(jnum "$f" gaps_over_threshold)
  completed=$(jnum "$f" streams_completed)
  sleep 0.3
  if ((errors * 1000 < n && over == 0 && completed + errors >= n)); then return 0; fi
  LAST_FAIL="at $n: $errors errors, $over gaps > ${GAP_THRESHOLD_MS}ms, max gap $(jnum "$f" gap_us max | cut -d. -f1) us"
  return 1
}

scenario_maxstreams() {
  local rep p n best rc start
  declare -A prev=()
  for rep in $(seq 1 "$REPS"); do
    for p in $(order "$rep" "${PEERS[@]}"); do
      peer_available "$p" || continue
      # Repetition 1 starts at 256 and later ones at the previous result; a level that fails
      # first sends the sweep down (to 64 at least), a level that passes sends it up.
      best=0
      start=$((SWEEP_MAX < 256 ? 64 : 256))
      local pv=${prev[$p]:-0}
      ((pv > 64)) && start=$pv
      n=$start
      LAST_FAIL=""
      while ((n <= SWEEP_MAX)); do
        rc=0; stream_level "$p" "$n" "$rep" || rc=$?
        if ((rc == 0)); then
          best=$n; n=$((n * 2))
        elif ((best == 0 && n > 64 && rc == 1)); then
          n=$((n / 2))
        else
          break
        fi
      done
      ((n > SWEEP_MAX)) && LAST_FAIL="sweep ends at $SWEEP_MAX"
      prev[$p]=$best
      record maxstreams streams "$p" "$rep" "$best"
      echo -e "$p\t$rep\t$LAST_FAIL" >>"$WORK/maxstreams-stop.tsv"
      log "max streams rep $rep $p: $best (stopped: $LAST_FAIL)"
    done
  done
}

# ---- Scenario 4: memory. Fresh processes, RSS from /proc (the whole tree for nginx).
wait_line() {  # wait_line FILE PATTERN SECONDS
  wait_for "$3" grep -qs "$2" "$1"
}
scenario_memory() {
  local rep p pid idle loaded f held open conns streams=$MEM_STREAMS
  # A proxy holds two descriptors per stream (client and upstream), HAProxy's maxconn is half
  # the fd limit, and the load generator holds one per stream: keep every stream under them.
  if ((streams > (NOFILE - 200) / 2 - 50)); then
    streams=$(((NOFILE - 200) / 2 - 50))
    note "memory: $streams active streams instead of $MEM_STREAMS (two descriptors each under the fd limit $NOFILE)"
  fi
  MEM_STREAMS_RUN=$streams
  for rep in $(seq 1 "$REPS"); do
    for p in $(order "$rep" "${PROXIES[@]}"); do
      [[ -n ${UNAVAILABLE[$p]:-} ]] && continue
      # 4a: idle keep-alive connections.
      start_peer "$p"; pid=${PEER_PID[$p]}
      [[ $pid == 0 ]] && continue
      sleep 1
      idle=$(rss_kib "$pid")
      f="$WORK/mem-idle-$p-$rep.json"
      conns=$MEM_IDLE_CONNS
      # HAProxy reserves two descriptors per connection: its maxconn is half the fd limit.
      if [[ $p == haproxy ]] && ((conns > (NOFILE - 200) / 2 - 50)); then
        conns=$(((NOFILE - 200) / 2 - 50))
        [[ $rep == 1 ]] && note "haproxy: $conns idle connections instead of $MEM_IDLE_CONNS (maxconn $(((NOFILE - 200) / 2)) under the fd limit $NOFILE)"
      fi
      loadgen_bg "$f" "$p" --mode idle --connections "$conns" --duration 30s --timeout 15s \
        --setup-timeout 40s
      wait_line "$f.err" "holding" 70 || true
      sleep 0.5
      loaded=$(rss_kib "$pid")
      stop_loadgen "$f"
      held=$(jnum "$f" held)
      stop_peer "$p"
      record memory rss_idle_mib "$p" "$rep" "$(awk -v v="$idle" 'BEGIN{printf "%.1f", v/1024}')"
      record memory rss_conns_mib "$p" "$rep" "$(awk -v v="$loaded" 'BEGIN{printf "%.1f", v/1024}')"
      record memory held "$p" "$rep" "$held"
      record memory per_conn_kib "$p" "$rep" \
        "$(awk -v a="$idle" -v b="$loaded" -v n="$held" 'BEGIN{printf "%.2f", (n > 0 ? (b - a) / n : 0)}')"
      # 4b: active streams (one token a second, so they stay open while RSS is read).
      start_peer "$p"; pid=${PEER_PID[$p]}
      [[ $pid == 0 ]] && continue
      sleep 1
      idle=$(rss_kib "$pid")
      f="$WORK/mem-st-$p-$rep.json"
      loadgen_bg "$f" "$p" --mode stream --stream --connections "$streams" --ramp "$MEM_RAMP" \
        --duration 20s --timeout 20s --header "x-mock-tokens: 20" \
        --header "x-mock-token-interval-ms: 1000"
      wait_line "$f.err" "streams open" 40 || true
      sleep 0.5
      loaded=$(rss_kib "$pid")
      stop_loadgen "$f"
      open=$(jnum "$f" peak_open_streams)
      stop_peer "$p"
      record memory rss_streams_mib "$p" "$rep" "$(awk -v v="$loaded" 'BEGIN{printf "%.1f", v/1024}')"
      record memory streams_open "$p" "$rep" "$open"
      record memory per_stream_kib "$p" "$rep" \
        "$(awk -v a="$idle" -v b="$loaded" -v n="$open" 'BEGIN{printf "%.2f", (n > 0 ? (b - a) / n : 0)}')"
      log "memory rep $rep $p: idle $(awk -v v="$idle" 'BEGIN{printf "%.1f", v/1024}') MiB, $held conns, $open streams"
    done
  done
}

# ---- Scenario 5: microbenchmarks.
scenario_micro() {
  [[ -x $BIN/infergate-microbench ]] || return 0
  taskset -c "$PROXY_CPU" "$BIN/infergate-microbench" --benchmark_min_time="$MICRO_MIN_TIME" \
    --benchmark_format=csv >"$WORK/micro.csv" 2>"$WORK/micro.err" || true
}

# ---- Run.
if want throughput || want latency || want streaming || want maxstreams; then
  start_all
  want throughput && { log "scenario 1: throughput"; scenario_throughput; }
  want latency && { log "scenario 2: added latency"; scenario_latency; }
  want streaming && { log "scenario 3: streaming"; scenario_streaming; }
  want maxstreams && { log "scenario 3: max concurrent streams"; scenario_maxstreams; }
  # Anything the proxies said at warn level or above is worth a look.
  for p in "${PROXIES[@]}"; do
    [[ -f $WORK/$p/stdout.log ]] || continue
    n=$(cat "$WORK/$p"/*.log 2>/dev/null | grep -ciE 'error|warn|crit|alert|emerg' || true)
    if ((${n:-0} > 0)); then
      note "$p logged $n warning/error lines, e.g.: $(cat "$WORK/$p"/*.log 2>/dev/null | grep -iE 'error|warn|crit|alert|emerg' | head -1 | cut -c1-200 || true)"
    fi
    if [[ ${PEER_PID[$p]:-0} != 0 ]] && ! kill -0 "${PEER_PID[$p]}" 2>/dev/null; then
      note "$p exited during the run"
    fi
  done
  stop_all
fi
want memory && { log "scenario 4: memory"; scenario_memory; }
want micro && { log "scenario 5: microbenchmarks"; scenario_micro; }
want h2 && { log "scenario 6: HTTP/2"; scenario_h2; }
want tls && { log "scenario 7: TLS"; scenario_tls; }
want neutral && { log "scenario 9: neutral (wrk, static nginx backend)"; scenario_neutral; }
RUN_SECONDS=$(($(date +%s) - RUN_START))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- Report.
# added SCENARIO METRIC PEER -> stats of (peer - direct) paired by repetition (lib.sh).
added() { paired "$1" "$2" "$3" direct diff; }
ratio() {  # ratio VALUE_STATS REF_STATS -> median / reference median ("–" unless both > 0:
  # an added time at or below zero is noise around direct, and a ratio of noise means nothing)
  local a b
  a=$(echo "$1" | awk '{print $1}'); b=$(echo "$2" | awk '{print $1}')
  [[ -z $a || -z $b ]] && { echo "–"; return; }
  awk -v a="$a" -v b="$b" 'BEGIN{ if (a <= 0 || b <= 0) print "–"; else printf "%.2f×", a / b }'
}
row_label() {
  local p=$1
  if [[ -n ${UNAVAILABLE[$p]:-} ]]; then echo "${PEER_LABEL[$p]}: unavailable: ${UNAVAILABLE[$p]}"; else echo "${PEER_LABEL[$p]}"; fi
}

mkdir -p "$(dirname "$OUT")"
{
  echo "# infergate benchmark, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "Produced by \`bench/run.sh$([[ $QUICK == 1 ]] && echo ' --quick') --reps $REPS --only $ONLY --peers $PEER_LIST\` in ${RUN_SECONDS}s. Each figure is the median of"
  echo "$REPS interleaved repetitions with the range (min–max) in brackets; ratios are the peer's median over"
  echo "infergate 1 worker's median. See bench/README.md for what each scenario measures."
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| CPU | $cpu_model, $NCPU CPUs |"
  echo "| kernel | $(uname -sr) |"
  echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
  echo "| pinning | proxy on CPU $PROXY_CPU; load generator and mock on CPU $LOAD_CPU; infergate all-workers row on CPUs $ALL_CPUS |"
  echo "| fd limit | $NOFILE |"
  echo "| load average (1, 5, 15 min) | $LOAD_START at the start, $LOAD_END at the end |"
  echo "| infergate | $ver_infergate (git $ver_git, $BUILD_TYPE) |"
  [[ ",$PEER_LIST," == *",infergate-base,"* ]] && echo "| infergate baseline | $ver_base |"
  echo "| nginx | ${UNAVAILABLE[nginx]:-$ver_nginx} |"
  echo "| HAProxy | ${UNAVAILABLE[haproxy]:-$ver_haproxy} |"
  echo "| Portkey | $ver_portkey |"
  echo "| wrk | $ver_wrk (calibration and the neutral scenario) |"
  echo "| load generator | infergate-loadgen (this tree) |"
  echo
  echo "Load generator check: against the mock directly, infergate-loadgen ran ${CAL_LOADGEN%.*} req/s and"
  echo "wrk -t1 -c64 ${CAL_WRK%.*} req/s (each sharing CPU $LOAD_CPU with the mock)."
  echo
  if want throughput; then
    echo "## 1. Throughput"
    echo
    echo "Non-streaming POST /v1/chat/completions (~300-byte body, routed by model), 64 keep-alive"
    echo "connections, closed loop, ${TP_DURATION} runs (first ${TP_WARMUP} not counted). Proxy CPU % is the proxy's"
    echo "CPU time over the run's wall time (100% = its core was saturated; the all-workers row can reach $((NCPU * 100))%)."
    echo
    echo "| peer | requests/s | ratio | p50 ms | p99 ms | errors | proxy CPU % |"
    echo "|---|---|---|---|---|---|---|"
    ref=$(stats throughput rps infergate-1w)
    for p in "${PEERS[@]}"; do
      s=$(stats throughput rps "$p")
      [[ -z $s ]] && { echo "| $(row_label "$p") | – | – | – | – | – | – |"; continue; }
      errs=$(awk -F'\t' -v p="$p" '$1 == "throughput" && $2 == "errors" && $3 == p {s += $5} END {print s + 0}' "$RESULTS")
      echo "| $(row_label "$p") | $(cell "$s" 0) | $(ratio "$s" "$ref") | $(cell "$(stats throughput p50_ms "$p")" 2) | $(cell "$(stats throughput p99_ms "$p")" 2) | $errs | $(cell "$(stats throughput cpu_pct "$p")" 0) |"
    done
    direct=$(stats throughput rps direct | awk '{print $1}')
    verdict=yes
    for p in "${PROXIES[@]}"; do
      s=$(stats throughput rps "$p" | awk '{print $1}')
      [[ -n $s && -n $direct ]] && awk -v a="$direct" -v b="$s" 'BEGIN{exit !(a <= b)}' && verdict=no
    done
    [[ -z $direct ]] && verdict="unknown (no direct run)"
    echo
    echo "Check: mock direct rate $(fmt "${direct:-0}" 0) req/s > every proxy's rate: **$verdict**"
    echo
  fi
  if want latency; then
    echo "## 2. Added latency at concurrency 1"
    echo
    echo "One connection, one request at a time, zero-delay mock, ${LAT_DURATION} runs (first ${LAT_WARMUP} not counted). Added = the"
    echo "peer's percentile minus direct's in the same repetition (µs). Every proxied request crosses"
    echo "between CPU $PROXY_CPU and CPU $LOAD_CPU four times; on a virtual machine those wake-ups are a large,"
    echo "equal share of every pinned proxy's added time."
    echo
    echo "| peer | p50 µs | added p50 µs | ratio | p99 µs | added p99 µs | ratio |"
    echo "|---|---|---|---|---|---|---|"
    ref50=$(added latency p50_us infergate-1w); ref99=$(added latency p99_us infergate-1w)
    for p in "${PEERS[@]}"; do
      s50=$(stats latency p50_us "$p"); s99=$(stats latency p99_us "$p")
      [[ -z $s50 ]] && { echo "| $(row_label "$p") | – | – | – | – | – | – |"; continue; }
      if [[ $p == direct ]]; then
        echo "| $(row_label "$p") | $(cell "$s50" 1) | 0 | – | $(cell "$s99" 1) | 0 | – |"
      else
        a50=$(added latency p50_us "$p"); a99=$(added latency p99_us "$p")
        echo "| $(row_label "$p") | $(cell "$s50" 1) | $(cell "$a50" 1) | $(ratio "$a50" "$ref50") | $(cell "$s99" 1) | $(cell "$a99" 1) | $(ratio "$a99" "$ref99") |"
      fi
    done
    echo
  fi
  if want streaming; then
    echo "## 3. Streaming"
    echo
    echo "$STREAM_TOKENS tokens ${STREAM_INTERVAL_MS} ms apart, 64 concurrent streams, each connection streaming"
    echo "again as soon as its stream ends, ${ST_DURATION} runs. Added = the peer's percentile minus direct's in"
    echo "the same repetition (ms). A gap is the time between two consecutive tokens at the client."
    echo
    echo "| peer | TTFT p50 ms | added TTFT p50 | added TTFT p99 | ratio (p99) | gap p99 ms | added gap p50 | added gap p99 | ratio (p99) | streams ok / errors |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    reft=$(added streaming ttft_p99_ms infergate-1w); refg=$(added streaming gap_p99_ms infergate-1w)
    for p in "${PEERS[@]}"; do
      s=$(stats streaming ttft_p50_ms "$p")
      [[ -z $s ]] && { echo "| $(row_label "$p") | – | – | – | – | – | – | – | – | – |"; continue; }
      ok=$(awk -F'\t' -v p="$p" '$1 == "streaming" && $2 == "completed" && $3 == p {s += $5} END {print s + 0}' "$RESULTS")
      errs=$(awk -F'\t' -v p="$p" '$1 == "streaming" && $2 == "errors" && $3 == p {s += $5} END {print s + 0}' "$RESULTS")
      if [[ $p == direct ]]; then
        echo "| $(row_label "$p") | $(cell "$s" 2) | 0 | 0 | – | $(cell "$(stats streaming gap_p99_ms "$p")" 2) | 0 | 0 | – | $ok / $errs |"
      else
        at=$(added streaming ttft_p99_ms "$p"); ag=$(added streaming gap_p99_ms "$p")
        echo "| $(row_label "$p") | $(cell "$s" 2) | $(cell "$(added streaming ttft_p50_ms "$p")" 2) | $(cell "$at" 2) | $(ratio "$at" "$reft") | $(cell "$(stats streaming gap_p99_ms "$p")" 2) | $(cell "$(added streaming gap_p50_ms "$p")" 2) | $(cell "$ag" 2) | $(ratio "$ag" "$refg") | $ok / $errs |"
      fi
    done
    echo
  fi
  if want maxstreams; then
    echo "### Most concurrent streams held"
    echo
    echo "N streams ($STREAM_TOKENS tokens ${STREAM_INTERVAL_MS} ms apart) opened over ${SWEEP_RAMP}, so all N are open together."
    echo "A level passes when every stream gets all its tokens and its end, no gap exceeds ${GAP_THRESHOLD_MS} ms and"
    echo "errors stay under 0.1% (time to first token is not a criterion; streams may wait up to 6 s for it)."
    echo "Levels: 64, 128, … $SWEEP_MAX; repetition 1 starts at 256, later ones at the previous result, going"
    echo "down on a failure and up on a pass. A proxy needs two file descriptors per stream, so the fd"
    echo "limit ($NOFILE) stops proxies before 16384."
    echo
    echo "| peer | max streams | ratio | what stopped the sweep (last repetition) |"
    echo "|---|---|---|---|"
    ref=$(stats maxstreams streams infergate-1w)
    for p in "${PEERS[@]}"; do
      s=$(stats maxstreams streams "$p")
      [[ -z $s ]] && { echo "| $(row_label "$p") | – | – | – |"; continue; }
      why=$(awk -F'\t' -v p="$p" '$1 == p {w = $3} END {print w}' "$WORK/maxstreams-stop.tsv" 2>/dev/null)
      echo "| $(row_label "$p") | $(cell "$s" 0) | $(ratio "$s" "$ref") | ${why:-–} |"
    done
    direct=$(stats maxstreams streams direct | awk '{print $1}')
    verdict=yes
    for p in "${PROXIES[@]}"; do
      s=$(stats maxstreams streams "$p" | awk '{print $1}')
      [[ -n $s && -n $direct ]] && awk -v a="$direct" -v b="$s" 'BEGIN{exit !(a < b)}' && verdict=no
    done
    echo
    echo "Check: direct streams held ${direct:-?} ≥ every proxy's: **$verdict** (when yes, proxies near the"
    echo "direct figure were bound by the shared load CPU, not by themselves)"
    echo
  fi
  if want memory; then
    echo "## 4. Memory"
    echo
    echo "VmRSS of a fresh proxy process (nginx: master and worker), idle, then holding"
    echo "$MEM_IDLE_CONNS idle keep-alive client connections (each after one request), and, in another fresh"
    echo "process, with ${MEM_STREAMS_RUN:-$MEM_STREAMS} active streams opened over $MEM_RAMP (one token a second). Per connection or stream ="
    echo "(loaded − idle) / N, N the connections held or the streams open (with their first token) when RSS was read."
    echo
    echo "| peer | idle MiB | with idle conns MiB | conns held | KiB per idle conn | ratio | with streams MiB | streams open | KiB per stream | ratio |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    refc=$(stats memory per_conn_kib infergate-1w); refs=$(stats memory per_stream_kib infergate-1w)
    echo "| $(row_label direct) | – | – | – | – | – | – | – | – | – |"
    for p in "${PROXIES[@]}"; do
      s=$(stats memory rss_idle_mib "$p")
      [[ -z $s ]] && { echo "| $(row_label "$p") | – | – | – | – | – | – | – | – | – |"; continue; }
      c=$(stats memory per_conn_kib "$p"); st=$(stats memory per_stream_kib "$p")
      echo "| $(row_label "$p") | $(cell "$s" 1) | $(cell "$(stats memory rss_conns_mib "$p")" 1) | $(cell "$(stats memory held "$p")" 0) | $(cell "$c" 2) | $(ratio "$c" "$refc") | $(cell "$(stats memory rss_streams_mib "$p")" 1) | $(cell "$(stats memory streams_open "$p")" 0) | $(cell "$st" 2) | $(ratio "$st" "$refs") |"
    done
    echo
  fi
  if want micro && [[ -s $WORK/micro.csv ]]; then
    echo "## 5. Inside infergate: microbenchmarks"
    echo
    echo "\`infergate-microbench --benchmark_min_time=$MICRO_MIN_TIME\` on CPU $PROXY_CPU (Google Benchmark)."
    echo
    echo "| benchmark | time per op | CPU per op | iterations | note |"
    echo "|---|---|---|---|---|"
    # CSV: name,iterations,real_time,cpu_time,time_unit,bytes_per_second,items_per_second,label,...
    awk -F',' 'f && NF >= 5 {gsub(/"/, "", $1); gsub(/"/, "", $8);
        printf "| %s | %.1f %s | %.1f %s | %s | %s |\n", $1, $3, $5, $4, $5, $2, $8}
      /^name,/ {f = 1}' "$WORK/micro.csv"
    echo
  fi
  want h2 && report_h2
  want tls && report_tls
  want neutral && report_neutral
  bench_tail "scenario, metric, peer, repetition, value"
} >"$OUT"
log "wrote $OUT (${RUN_SECONDS}s)"
