#!/usr/bin/env bash
# bench/limits.sh: what the rate limiter costs per request (issue 16, "Benchmarks"), local and
# Redis-backed, against the same gateway without limits, in one interleaved run on this machine.
# One infergate-mock, one redis-server (loopback, no persistence) and four infergate processes
# (one worker each, all on the proxy CPU, only one of them loaded at a time):
#   none   no tenants, no limits (the plain path)
#   auth   tenant acme identified by its bearer key (api_keys_sha256), no limits: the baseline
#          of the limiter's ratios, so that the cost of authentication is not counted as its cost
#   local  auth + limits on every scope a request meets: the tenant (requests and tokens per
#          minute), the route (requests) and the model (requests and tokens), far above the load
#   redis  local's limits counted through Redis (shared_state.redis: the local redis-server)
# Every request carries `Authorization: Bearer <acme's key>` (the none config ignores it). Loads:
# h2load --h1 (neutral; req/s and mean latency) and infergate-loadgen (percentiles), each at
# concurrency 1 and 64, a small non-streamed POST /v1/chat/completions. For each repetition and
# load the four configs run in turn, forward on odd repetitions and backward on even ones. After
# every run: no non-2xx answer, no rate-limit refusal, the limits were consulted (the admitted
# counter moved), and for redis infergate_shared_state_available is 1; otherwise the report says
# the run is invalid. Writes bench/results/limits-<date>.md. See bench/README.md, "Rate limits".
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/limits.sh [--reps N] [--only LIST] [--quick] [--out FILE]
  --reps N      repetitions, the four configs interleaved within each (default 3)
  --only LIST   comma-separated parts: h2load,loadgen,callgrind,micro (default all; "limits" =
                all, for bench/run.sh --only limits); callgrind = instructions per request of
                each config under valgrind (noise-free; needs valgrind, else skipped)
  --quick       1 repetition, short loads (about 1 minute)
  --out FILE    the report (default bench/results/limits-YYYY-MM-DD.md)
Environment: INFERGATE_BUILD=DIR uses that build directory instead of ./build;
INFERGATE_NO_BUILD=1 runs the binaries already there; BENCH_PORT_BASE=N moves the 10 ports used
(default 18400); BENCH_KEEP=1 keeps the scratch directory (configs, logs, raw outputs).
Needs redis-server and redis-cli (Debian redis-server), h2load (nghttp2-client) and curl.
EOF
}

REPS=3
ONLY="h2load,loadgen,callgrind,micro"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ARGS=("$@")
bench_args limits.sh "h2load,loadgen,callgrind,micro,limits" "" "$@"
[[ ",$ONLY," == *",limits,"* ]] && ONLY="h2load,loadgen,callgrind,micro"
want() { [[ ",$ONLY," == *",$1,"* ]]; }

cd "$ROOT"
[[ -n $OUT ]] || OUT="$ROOT/bench/results/limits-$(date +%Y-%m-%d).md"
WORK=$(mktemp -d /tmp/infergate-limits.XXXXXX)
RUN_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- The measurements (full run; --quick shortens them).
H2_DURATION=3s; H2_WARMUP=1s        # h2load -D and --warm-up-time
LG_DURATION=3.5s; LG_WARMUP=1s      # infergate-loadgen --duration and --warmup
MICRO_MIN_TIME=0.2
CG_WARMUP=2s; CG_DURATION=5s        # callgrind: loadgen with 4 connections, counted after the warm-up
if [[ $QUICK == 1 ]]; then
  REPS=1; CG_WARMUP=1s; CG_DURATION=2s
  H2_DURATION=1500ms; H2_WARMUP=500ms
  LG_DURATION=2s; LG_WARMUP=0.5s
  MICRO_MIN_TIME=0.05
fi
CONCURRENCY=(1 64)

# The limits: far above what one gateway process consumes (c64 is ~40,000 req/s, so ~2.4 M
# requests and, at ~60 tokens each, ~150 M tokens a minute if sustained; a run lasts a few
# seconds and the burst of a GCRA limit is its per-minute amount). Requests: 5 M per minute
# (a burst of 5 M; Redis leases batches of 500,000). Tokens: 50 M per minute (under the
# 60 M/min a Redis-backed limit is exact to; Redis leases batches of 5 M, so at c64 a token
# cell leases about every second or two: Redis is on the path, though never per request).
RPM=5000000
TPM=50000000

# A bearer key (a benchmark value, not a secret); the config holds its SHA-256.
KEY=sk-bench-limits-0123456789abcdef0123456789ab

CONFIGS=(none auth local redis)
declare -A LABEL=([none]="none: no tenants, no limits"
  [auth]="auth: tenant by bearer key, no limits (baseline)"
  [local]="local: auth + tenant, route, model limits"
  [redis]="redis: local's limits through Redis")

# ---- Processes: every one started here is recorded and ended by PID on exit.
declare -a PIDS=()
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
die() { log "limits.sh: error: $*"; exit 1; }

for c in curl sha256sum taskset redis-server redis-cli; do
  command -v "$c" >/dev/null || die "$c is needed (apt-get install curl coreutils util-linux redis-server)"
done
if want h2load && ! command -v h2load >/dev/null; then
  die "h2load is needed for the h2load part (apt-get install nghttp2-client), or run --only loadgen,micro"
fi

# ---- Build.
TARGETS=(infergate infergate-mock infergate-loadgen)
want micro && TARGETS+=(infergate-microbench)
bench_build "${TARGETS[@]}"
bench_require infergate infergate-mock infergate-loadgen

# ---- Limits, CPUs, ports.
bench_machine
PORT_BASE=${BENCH_PORT_BASE:-18400}
MOCK_PORT=$PORT_BASE
REDIS_PORT=$((PORT_BASE + 1))
declare -A GW_PORT=() ADMIN_PORT=()
i=2
for c in "${CONFIGS[@]}"; do
  GW_PORT[$c]=$((PORT_BASE + i)); ADMIN_PORT[$c]=$((PORT_BASE + i + 1)); i=$((i + 2))
done
for p in $(seq "$PORT_BASE" $((PORT_BASE + 9))); do
  port_busy "$p" && die "port $p is in use; set BENCH_PORT_BASE"
done

bench_results_init
INVALID="$WORK/invalid.txt"; : >"$INVALID"
invalid() { echo "$*" >>"$INVALID"; log "INVALID: $*"; }

calc() { awk "BEGIN{ printf \"%.4f\", $1 }"; }
# cpu_ns PID: the CPU time of all of a process's threads so far, in ns (the scheduler's own
# accounting, /proc/PID/task/*/schedstat; finer than utime + stime's clock ticks).
cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s + 0}'
}
# metric_sum CONFIG REGEX: the sum of that gateway's /metrics samples whose line matches REGEX.
metric_sum() {
  { curl -s --max-time 3 "http://127.0.0.1:${ADMIN_PORT[$1]}/metrics" || true; } |
    awk -v re="$2" '!/^#/ && $0 ~ re {s += $NF} END {printf "%.0f", s + 0}'
}
# Lease scripts run by Redis so far (EVALSHA + EVAL calls).
redis_evals() {
  redis-cli -p "$REDIS_PORT" info commandstats 2>/dev/null | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_(evalsha|eval):/ {s += $3} END {print s + 0}'
}

# ---- Machine and versions.
ver_infergate=$("$BIN/infergate" --version 2>&1 | head -1)
ver_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || ver_git="$ver_git + uncommitted changes in src/include"
ver_redis=$(redis-server --version | awk '{print $3}' | sed 's/^v=//')
ver_h2load=$(h2load --version 2>/dev/null | head -1 || echo "not installed")
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
[[ -n $cpu_model ]] || cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')

# ---- Configs.
CFG="$WORK/cfg"; mkdir -p "$CFG"
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
write_config() {  # write_config NAME
  local c=$1
  {
    echo "# bench/limits.sh, config '$c': ${LABEL[$c]}."
    cat <<EOF
listeners:
  - name: public
    listen: 127.0.0.1:${GW_PORT[$c]}
    keepalive_timeout: 75s
admin:
  listen: 127.0.0.1:${ADMIN_PORT[$c]}
pools:
  - name: mock
    load_balancing: least_request
    max_idle_connections: 128
    backends: [http://127.0.0.1:$MOCK_PORT]
routes:
  - name: chat
    match: {path_prefix: /v1/, methods: [POST], model: [mock-model]}
    to: mock
EOF
    [[ $c == local || $c == redis ]] && echo "    limits: {requests_per_minute: $RPM}"
    if [[ $c != none ]]; then
      echo "tenants:"
      echo "  - name: acme"
      echo "    api_keys_sha256: [$HASH]"
      [[ $c == local || $c == redis ]] &&
        echo "    limits: {requests_per_minute: $RPM, tokens_per_minute: $TPM}"
    fi
    if [[ $c == local || $c == redis ]]; then
      echo "model_limits:"
      echo "  - {model: mock-model, limits: {requests_per_minute: $RPM, tokens_per_minute: $TPM}}"
    fi
    if [[ $c == redis ]]; then
      echo "shared_state:"
      echo "  redis:"
      echo "    address: 127.0.0.1:$REDIS_PORT"
      echo "    timeout: 50ms   # the default"
    fi
  } >"$CFG/$c.yaml"
  "$BIN/infergate" -c "$CFG/$c.yaml" --check-config >"$WORK/check.log" 2>&1 ||
    { cat "$WORK/check.log" >&2; die "config $c.yaml is invalid (a bug in this script or the config keys changed)"; }
}
for c in "${CONFIGS[@]}"; do write_config "$c"; done

# The request body, the same bytes for both load generators (bench/macro/chat.lua's).
BODY="$WORK/body.json"
printf '%s' '{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of a reverse proxy in front of GPU inference servers in one short sentence, please."}],"max_tokens":16,"temperature":0.2,"stream":false}' >"$BODY"

# ---- The mock and Redis, on the load CPU.
MOCK_LOG="$WORK/mock.log"
taskset -c "$LOAD_CPU" "$BIN/infergate-mock" --listen "127.0.0.1:$MOCK_PORT" --model mock-model \
  --tokens 16 --token-interval 0ms --ttft 0ms --threads 1 >"$MOCK_LOG" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_for 10 grep -qs listening "$MOCK_LOG" || { cat "$MOCK_LOG" >&2; die "infergate-mock did not start"; }

REDIS_LOG="$WORK/redis.log"
taskset -c "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$WORK" --daemonize no >"$REDIS_LOG" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_for 10 grep -qs 'Ready to accept connections' "$REDIS_LOG" || { cat "$REDIS_LOG" >&2; die "redis-server did not start"; }
log "mock on 127.0.0.1:$MOCK_PORT, redis-server $ver_redis on 127.0.0.1:$REDIS_PORT (CPU $LOAD_CPU)"

# ---- The gateways: one process per config for the whole run, all on the proxy CPU.
declare -A GW_PID=()
for c in "${CONFIGS[@]}"; do
  taskset -c "$PROXY_CPU" "$BIN/infergate" -c "$CFG/$c.yaml" --workers 1 --log-level warn \
    --drain-timeout 1s >"$WORK/gw-$c.log" 2>&1 &
  GW_PID[$c]=$!
  PIDS+=("${GW_PID[$c]}")
done
for c in "${CONFIGS[@]}"; do
  wait_for 10 bash -c "! kill -0 ${GW_PID[$c]} 2>/dev/null || ( (exec 3<>/dev/tcp/127.0.0.1/${GW_PORT[$c]}) && (exec 3<>/dev/tcp/127.0.0.1/${ADMIN_PORT[$c]}) ) 2>/dev/null" || true
  if ! kill -0 "${GW_PID[$c]}" 2>/dev/null || ! port_busy "${GW_PORT[$c]}"; then
    tail -20 "$WORK/gw-$c.log" >&2; die "infergate with $c.yaml did not start (log above)"
  fi
done
check_alive_backends() {
  kill -0 "$MOCK_PID" 2>/dev/null || { tail -20 "$MOCK_LOG" >&2; die "infergate-mock exited"; }
  kill -0 "$REDIS_PID" 2>/dev/null || { tail -20 "$REDIS_LOG" >&2; die "redis-server exited"; }
}
check_alive() {
  check_alive_backends
  local c
  for c in "${CONFIGS[@]}"; do
    kill -0 "${GW_PID[$c]}" 2>/dev/null || { tail -20 "$WORK/gw-$c.log" >&2; die "infergate ($c) exited"; }
  done
}
url() { echo "http://127.0.0.1:${GW_PORT[$1]}/v1/chat/completions"; }

# One request each with curl: a 200, and the x-ratelimit-* headers exactly where limits apply.
declare -A RL_HEADERS=()
for c in "${CONFIGS[@]}"; do
  h=$({ curl -s --max-time 5 -o /dev/null -D - -X POST -H 'content-type: application/json' \
    -H "authorization: Bearer $KEY" --data-binary "@$BODY" "$(url "$c")" || true; } | tr -d '\r')
  [[ $h == "HTTP/1.1 200"* ]] || die "$c: the check request did not get a 200: $(echo "$h" | head -1)"
  RL_HEADERS[$c]=$(echo "$h" | grep -ci '^x-ratelimit-' || true)
  if [[ $c == local || $c == redis ]]; then
    ((RL_HEADERS[$c] > 0)) || die "$c: no x-ratelimit-* header on the check request: the limits do not apply"
  else
    ((RL_HEADERS[$c] == 0)) || die "$c: x-ratelimit-* headers without limits"
  fi
done
echo "$h" | grep -i '^x-ratelimit-' >"$WORK/rl-headers.txt" || true
wait_for 10 bash -c "[[ \$(curl -s --max-time 2 http://127.0.0.1:${ADMIN_PORT[redis]}/metrics | awk '/^infergate_shared_state_available/ {print \$NF}') == 1 ]]" ||
  invalid "redis: infergate_shared_state_available is not 1 after start: Redis is not used"
log "gateways up: ${CONFIGS[*]} on ports $(for c in "${CONFIGS[@]}"; do printf '%s ' "${GW_PORT[$c]}"; done)(CPU $PROXY_CPU)"

# ---- One measured run.
# run_load TOOL CONC CONFIG REP: one load against one gateway; records req/s, latency, the
# gateway's CPU time per response, and checks what the run must satisfy.
run_load() {
  local tool=$1 n=$2 c=$3 rep=$4
  local key="$tool-c$n" f="$WORK/$tool-c$n-$c-$rep.out"
  local pid=${GW_PID[$c]} r0 r1 a0 a1 f0 f1 e0 e1 t0 t1 w0 w1 rc=0
  r0=$(metric_sum "$c" '^infergate_responses_total[{]route="chat"')
  a0=$(metric_sum "$c" '^infergate_rate_limit_admitted_total[{]tenant="acme"')
  f0=$(metric_sum "$c" '^infergate_rate_limit_refused_total')
  e0=$(redis_evals)
  t0=$(cpu_ns "$pid"); w0=$(date +%s.%N)
  if [[ $tool == h2load ]]; then
    taskset -c "$LOAD_CPU" timeout 60 h2load --h1 -t 1 -c "$n" -m 1 -D "$H2_DURATION" \
      --warm-up-time "$H2_WARMUP" -d "$BODY" -H 'content-type: application/json' \
      -H "authorization: Bearer $KEY" "$(url "$c")" >"$f" 2>&1 || rc=$?
  else
    local mode=(--mode rps --connections "$n")
    ((n == 1)) && mode=(--mode latency)
    taskset -c "$LOAD_CPU" timeout 60 "$BIN/infergate-loadgen" --json --url "$(url "$c")" "${mode[@]}" \
      --duration "$LG_DURATION" --warmup "$LG_WARMUP" --timeout 10s --body "$BODY" \
      --header "authorization: Bearer $KEY" >"$f" 2>"$f.err" || rc=$?
  fi
  t1=$(cpu_ns "$pid"); w1=$(date +%s.%N)
  r1=$(metric_sum "$c" '^infergate_responses_total[{]route="chat"')
  a1=$(metric_sum "$c" '^infergate_rate_limit_admitted_total[{]tenant="acme"')
  f1=$(metric_sum "$c" '^infergate_rate_limit_refused_total')
  e1=$(redis_evals)
  local rps lat_a lat_b bad
  if [[ $tool == h2load ]]; then
    rps=$(awk '/^finished in/ {gsub(/,/, "", $4); print $4}' "$f" | head -1)
    local failed errored timeouts non2xx
    failed=$(awk '/^requests:/ {print $10}' "$f" | head -1)
    errored=$(awk '/^requests:/ {print $12}' "$f" | head -1)
    timeouts=$(awk '/^requests:/ {print $14}' "$f" | head -1)
    non2xx=$(awk '/^status codes:/ {print $5 + $7 + $9}' "$f" | head -1)
    # "time for request:  min  max  mean  sd  +/- sd", each with a unit (us, ms, s): µs here.
    lat_a=$(awk '/^time for request:/ {v = $6; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
      print (u == "us" ? v : (u == "s" ? v * 1e6 : v * 1000))}' "$f" | head -1)
    lat_b=$(awk '/^time for request:/ {v = $7; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
      print (u == "us" ? v : (u == "s" ? v * 1e6 : v * 1000))}' "$f" | head -1)
    if [[ $rc != 0 || -z $rps || -z $failed ]]; then
      invalid "$key $c rep $rep: h2load exited with $rc / printed no result: $(tail -3 "$f" | tr '\n' ' ' | cut -c1-200)"
      return 0
    fi
    bad=$((failed + errored + timeouts + ${non2xx:-0}))
    record "$key" mean_us "$c" "$rep" "$lat_a"
    record "$key" sd_us "$c" "$rep" "$lat_b"
  else
    if [[ $rc != 0 || ! -s $f ]]; then
      invalid "$key $c rep $rep: infergate-loadgen exited with $rc: $(tail -2 "$f.err" | tr '\n' ' ' | cut -c1-200)"
      return 0
    fi
    rps=$(jnum "$f" rps)
    bad=$(jnum "$f" errors)
    record "$key" p50_us "$c" "$rep" "$(jnum "$f" latency_us p50)"
    record "$key" p99_us "$c" "$rep" "$(jnum "$f" latency_us p99)"
  fi
  record "$key" rps "$c" "$rep" "$rps"
  record "$key" bad "$c" "$rep" "$bad"
  record "$key" gw_cpu_pct "$c" "$rep" "$(calc "100 * ($t1 - $t0) / 1e9 / ($w1 - $w0)")"
  record "$key" cpu_us_per_req "$c" "$rep" "$(calc "($r1 > $r0) ? ($t1 - $t0) / 1e3 / ($r1 - $r0) : 0")"
  record "$key" refused "$c" "$rep" $((f1 - f0))
  record "$key" admitted "$c" "$rep" $((a1 - a0))
  if [[ $c == redis ]]; then
    record "$key" redis_leases "$c" "$rep" $((e1 - e0))
    # The keys the leases wrote (they expire once their TAT is past, so collected after every run).
    redis-cli -p "$REDIS_PORT" --scan --pattern 'infergate:*' >>"$WORK/redis-keys.txt" 2>/dev/null || true
  fi
  # What the run must satisfy.
  ((bad == 0)) || invalid "$key $c rep $rep: $bad requests failed or were not 2xx"
  ((f1 - f0 == 0)) || invalid "$key $c rep $rep: $((f1 - f0)) requests refused by a rate limit"
  if [[ $c == local || $c == redis ]]; then
    ((a1 - a0 > 0)) || invalid "$key $c rep $rep: infergate_rate_limit_admitted_total did not move: the limits were not consulted"
  fi
  if [[ $c == redis ]]; then
    local avail
    avail=$(metric_sum redis '^infergate_shared_state_available')
    [[ $avail == 1 ]] || invalid "$key $c rep $rep: infergate_shared_state_available is $avail after the run: Redis was not used"
  fi
  log "$key rep $rep $c: $rps req/s$([[ $tool == h2load ]] && echo ", mean $lat_a µs" || echo ", p50 $(jnum "$f" latency_us p50) µs p99 $(jnum "$f" latency_us p99) µs"), gw CPU $(calc "($r1 > $r0) ? ($t1 - $t0) / 1e3 / ($r1 - $r0) : 0") µs/req, $bad bad, $((f1 - f0)) refused"
}

LOADS=()
for n in "${CONCURRENCY[@]}"; do
  want h2load && LOADS+=("h2load $n")
  want loadgen && LOADS+=("loadgen $n")
done
: >"$WORK/redis-keys.txt"
EVALS_START=$(redis_evals)
for rep in $(seq 1 "$REPS"); do
  for l in "${LOADS[@]}"; do
    read -r tool n <<<"$l"
    for c in $(order "$rep" "${CONFIGS[@]}"); do
      check_alive
      run_load "$tool" "$n" "$c" "$rep"
    done
  done
done
EVALS_END=$(redis_evals)
sort -u -o "$WORK/redis-keys.txt" "$WORK/redis-keys.txt"
# Anything the gateways logged (warn and above): a Redis fallback would show here.
for c in "${CONFIGS[@]}"; do
  if [[ -s $WORK/gw-$c.log ]]; then
    note "gateway $c logged $(wc -l <"$WORK/gw-$c.log") line(s), the first: $(head -1 "$WORK/gw-$c.log" | cut -c1-240)"
  fi
done
for c in "${CONFIGS[@]}"; do
  kill -TERM "${GW_PID[$c]}" 2>/dev/null || true
done
for c in "${CONFIGS[@]}"; do
  wait_for 5 bash -c "! kill -0 ${GW_PID[$c]} 2>/dev/null" || kill -KILL "${GW_PID[$c]}" 2>/dev/null || true
done

# ---- Instructions per request (callgrind Ir): each config's gateway alone under valgrind, the
# same mock, Redis and request; instrumentation on only while the measured load runs. Instruction
# counts do not move with the machine's other load, so this part is what resolves a cost of a
# few hundred ns per request on a shared machine.
CG_DONE=0
cg_run() {  # cg_run CONFIG
  local c=$1
  local out="$WORK/cg-$c.out" lg="$WORK/cg-$c.json" gw rc=0
  local lgargs=(--url "$(url "$c")" --connections 4 --body "$BODY" --header "authorization: Bearer $KEY" --timeout 10s)
  taskset -c "$PROXY_CPU" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$BIN/infergate" -c "$CFG/$c.yaml" --workers 1 --log-level warn >"$WORK/cg-$c.log" 2>&1 &
  gw=$!
  PIDS+=("$gw")
  wait_for 60 port_busy "${GW_PORT[$c]}" || { tail -5 "$WORK/cg-$c.log" >&2; die "callgrind: infergate ($c) did not start under valgrind"; }
  taskset -c "$LOAD_CPU" timeout 60 "$BIN/infergate-loadgen" "${lgargs[@]}" --duration "$CG_WARMUP" >/dev/null 2>&1 || true
  callgrind_control -i on "$gw" >/dev/null 2>&1
  taskset -c "$LOAD_CPU" timeout 60 "$BIN/infergate-loadgen" "${lgargs[@]}" --duration "$CG_DURATION" --json \
    >"$lg" 2>"$lg.err" || rc=$?
  callgrind_control -d "$gw" >/dev/null 2>&1
  callgrind_control -i off "$gw" >/dev/null 2>&1
  if [[ $c == redis ]]; then
    local avail; avail=$(metric_sum redis '^infergate_shared_state_available')
    [[ $avail == 1 ]] || invalid "callgrind redis: infergate_shared_state_available is $avail: Redis was not used"
  fi
  kill -TERM "$gw" 2>/dev/null || true
  wait_for 30 bash -c "! kill -0 $gw 2>/dev/null" || kill -KILL "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  local ir req bad
  ir=$(awk '/^totals:/ {print $2}' "$out".* 2>/dev/null | head -1)
  req=$(jnum "$lg" requests); bad=$(jnum "$lg" errors)
  if [[ $rc != 0 || -z $ir || $req == 0 ]]; then
    invalid "callgrind $c: no count (loadgen exited with $rc, $req requests, Ir '${ir:-}')"
    return 0
  fi
  ((bad == 0)) || invalid "callgrind $c: $bad requests failed or were not 2xx"
  record callgrind requests "$c" 1 "$req"
  record callgrind ir "$c" 1 "$ir"
  record callgrind ir_per_req "$c" 1 "$(calc "$ir / $req")"
  log "callgrind $c: $req requests, $(calc "$ir / $req") Ir per request"
}
if want callgrind; then
  if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    for c in "${CONFIGS[@]}"; do check_alive_backends; cg_run "$c"; done
    CG_DONE=1
  else
    note "callgrind: valgrind is not installed (apt-get install valgrind): skipped"
  fi
fi
REDIS_CPU_S=$(calc "$(cpu_ns "$REDIS_PID") / 1e9")
kill -TERM "$MOCK_PID" "$REDIS_PID" 2>/dev/null || true

# ---- Microbenchmarks of the limiter (bench/micro/rate_limit_bench.cc), nothing else running.
MICRO_FILTER='Gcra|Leased|Ticket'
if want micro; then
  if [[ -x $BIN/infergate-microbench ]]; then
    rc=0
    timeout 120 taskset -c "$PROXY_CPU" "$BIN/infergate-microbench" --benchmark_filter="$MICRO_FILTER" \
      --benchmark_min_time="$MICRO_MIN_TIME" --benchmark_color=false >"$WORK/micro.txt" 2>"$WORK/micro.err" || rc=$?
    [[ $rc == 0 ]] || note "micro: infergate-microbench exited with $rc"
  else
    note "micro: infergate-microbench not built (libbenchmark-dev missing?): skipped"
  fi
fi
RUN_SECONDS=$(($(date +%s) - RUN_START))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- Report.
# stats, paired, fmt and cell: bench/lib.sh.
signed() {  # signed "median min max n" DECIMALS -> "+median (min–max)"
  local med min max n
  read -r med min max n <<<"$1"
  [[ -z ${med:-} ]] && { echo "–"; return; }
  local s; s=$(awk -v v="$med" -v d="$2" 'BEGIN{printf "%+.*f", d, v}')
  if [[ $n == 1 ]]; then echo "$s"; else echo "$s ($(fmt "$min" "$2")–$(fmt "$max" "$2"))"; fi
}
sum_metric() { awk -F'\t' -v m="$1" -v p="${2:-}" '$2 == m && (p == "" || $3 == p) {s += $5} END {print s + 0}' "$RESULTS"; }

CMDLINE="bench/limits.sh${ARGS[*]:+ ${ARGS[*]}}"
[[ -n ${INFERGATE_BUILD:-} ]] && CMDLINE="INFERGATE_BUILD=$INFERGATE_BUILD $CMDLINE"
[[ ${INFERGATE_NO_BUILD:-0} == 1 ]] && CMDLINE="INFERGATE_NO_BUILD=1 $CMDLINE"

mkdir -p "$(dirname "$OUT")"
{
  echo "# infergate rate limiter benchmark, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "Produced by \`$CMDLINE\` in ${RUN_SECONDS}s ($REPS repetition(s)). Issue 16, \"Benchmarks\": the cost per"
  echo "request of the rate limiter, local and Redis-backed, against the same gateway without limits."
  echo "Figures are medians over repetitions with the range (min–max) in brackets; ratios and added"
  echo "figures are paired by repetition (each repetition's config against the baseline's of the same"
  echo "repetition), then the median is taken."
  echo
  if [[ -s $INVALID ]]; then
    echo "**THIS RUN IS INVALID** (a run failed a check; the figures below are not the limiter's cost):"
    echo
    sed 's/^/- /' "$INVALID"
    echo
  else
    echo "Checks, all passed: every request answered 2xx; no rate-limit refusal (\`infergate_rate_limit_refused_total\`"
    echo "did not move); the limits were consulted on every run (\`infergate_rate_limit_admitted_total{tenant=\"acme\"}\`"
    echo "moved by $(sum_metric admitted local) on local and $(sum_metric admitted redis) on redis); \`infergate_shared_state_available\` was 1 after every"
    echo "redis run, and Redis ran $((EVALS_END - EVALS_START)) lease scripts (EVALSHA/EVAL) during the loads."
    echo
  fi
  echo "| machine | |"
  echo "|---|---|"
  echo "| CPU | $cpu_model, $NCPU CPUs |"
  echo "| kernel | $(uname -sr) |"
  echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
  echo "| pinning | the four infergate processes (1 worker each, one loaded at a time) on CPU $PROXY_CPU; the load generator, the mock and redis-server on CPU $LOAD_CPU |"
  echo "| load average (1, 5, 15 min) | $LOAD_START at the start, $LOAD_END at the end (a machine shared with other builds: expect noise) |"
  echo "| infergate | $ver_infergate (git $ver_git, $BUILD_TYPE, $BUILD) |"
  echo "| redis-server | $ver_redis, loopback, \`--save \"\" --appendonly no\`; $REDIS_CPU_S s of CPU over the whole run |"
  echo "| h2load | $ver_h2load |"
  echo "| backend | one infergate-mock, 1 thread, 16 tokens, no delay; non-streamed answers with usage |"
  echo
  echo "## The set-up"
  echo
  echo "- Four gateways, started once and loaded in turn (for each repetition and each load, the four"
  echo "  configs forward on odd repetitions and backward on even ones):"
  for c in "${CONFIGS[@]}"; do echo "  - **${LABEL[$c]}**"; done
  echo "- Limits (local, redis): tenant \`acme\` requests_per_minute $RPM and tokens_per_minute $TPM, route"
  echo "  \`chat\` requests_per_minute $RPM, model \`mock-model\` requests_per_minute $RPM and tokens_per_minute"
  echo "  $TPM: five cells consulted per request (three request cells, two token cells; each token cell"
  echo "  is corrected once the answer's usage is known). Nothing is refused: a GCRA limit's burst is its"
  echo "  per-minute amount and one gateway process takes far less over the whole run. With Redis each"
  echo "  cell leases 10% of its limit at a time (a new lease when half a batch is left), so Redis runs a"
  echo "  lease script about every $((TPM / 10 / 1000000)) M tokens per token cell (every few seconds at c64) and every"
  echo "  $((RPM / 10 / 1000)) k requests per request cell, besides each cell's first lease."
  echo "- Every request: \`POST /v1/chat/completions\`, $(wc -c <"$BODY")-byte body (bench/macro/chat.lua's, \`max_tokens\` 16),"
  echo "  \`authorization: Bearer <acme's key>\` (sent to the none config as well, which ignores it)."
  echo "- h2load: \`h2load --h1 -t 1 -c N -m 1 -D $H2_DURATION --warm-up-time $H2_WARMUP -d BODY -H 'content-type: application/json' -H 'authorization: Bearer …'\`;"
  echo "  it reports req/s and the mean and sd of the request time."
  echo "- infergate-loadgen: c1 \`--mode latency\`, c64 \`--mode rps --connections 64\`, \`--duration $LG_DURATION --warmup $LG_WARMUP\`; p50 and p99."
  echo "- Gateway CPU µs per request: the process's CPU time (all threads: the worker, and with Redis the"
  echo "  store's thread) over the whole load run, divided by the responses it counted"
  echo "  (\`infergate_responses_total\`). It is the figure least moved by other load on a shared machine;"
  echo "  at c1 it includes the cost of waking up for every request."
  echo "- x-ratelimit-* headers on the local and redis answers ($(wc -l <"$WORK/rl-headers.txt") headers on the redis config's check request):"
  echo
  echo '```'
  cat "$WORK/rl-headers.txt"
  echo '```'
  echo
  echo "## Expected (written before the first run)"
  echo
  cat <<'EOF'
From bench/micro/rate_limit_bench.cc on this machine (2026-12-06 17:21 UTC, `infergate-microbench
--benchmark_filter='Gcra|Leased|Ticket' --benchmark_min_time=0.2`): one GCRA take 4.5 ns, a take from
a Redis lease 7.3 ns, a refused take 3.1 ns, a cell shared by 2 threads 25 ns, and the head check of a
request through RateTicket (key and tenant cells plus the header state) 38.5 ns. A request meets five
cells here, so the takes themselves are ~0.1 µs. Around them the limiter does more per request: the
token estimate from the body, six x-ratelimit-* response headers (numbers and OpenAI durations
formatted), the correction of the two token cells from the answer's usage, and its counters. I expect
**~0.3–1 µs of gateway CPU per request** in all, on a path of ~17–20 µs per request (one worker at
c64), so:

- c64 req/s: local / auth **0.95–0.99×**; redis / auth the same within noise (a leased take costs ~3 ns
  more than a local one per cell; a lease every second or so costs the store's thread tens of µs).
- c1 latency: added p50 **< 1–2 µs**, below what this machine resolves (a run's p50 moves by several
  µs between repetitions); added p99 is scheduling noise either way.
- Redis: no request waits on Redis (leases are asynchronous), so redis ≈ local; if redis costs
  measurably more per request than local, it is on the lease path (the store's thread sharing CPU 0).
EOF
  echo
  echo "## Summary: the limiter's cost over auth only"
  echo
  echo "Ratios of req/s (paired median), added latency in µs and added gateway CPU per request in ns,"
  echo "each config against **auth** (the same config without limits). The last columns give auth over none"
  echo "(what identifying the tenant costs, for reference)."
  echo
  echo "| load | local / auth req/s | redis / auth req/s | local added p50 µs | redis added p50 µs | local added p99 µs | redis added p99 µs | local added CPU ns/req | redis added CPU ns/req | auth / none req/s | auth added CPU ns/req |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for l in "${LOADS[@]}"; do
    read -r tool n <<<"$l"; k="$tool-c$n"
    row="| $tool c$n"
    row+=" | $(cell "$(paired "$k" rps local auth ratio)" 3) | $(cell "$(paired "$k" rps redis auth ratio)" 3)"
    if [[ $tool == h2load ]]; then
      row+=" | $(signed "$(paired "$k" mean_us local auth diff)" 1) (mean) | $(signed "$(paired "$k" mean_us redis auth diff)" 1) (mean) | – | –"
    else
      row+=" | $(signed "$(paired "$k" p50_us local auth diff)" 1) | $(signed "$(paired "$k" p50_us redis auth diff)" 1)"
      row+=" | $(signed "$(paired "$k" p99_us local auth diff)" 1) | $(signed "$(paired "$k" p99_us redis auth diff)" 1)"
    fi
    local_ns=$(paired "$k" cpu_us_per_req local auth diff | awk '{print $1*1000, $2*1000, $3*1000, $4}')
    redis_ns=$(paired "$k" cpu_us_per_req redis auth diff | awk '{print $1*1000, $2*1000, $3*1000, $4}')
    auth_ns=$(paired "$k" cpu_us_per_req auth none diff | awk '{print $1*1000, $2*1000, $3*1000, $4}')
    row+=" | $(signed "$local_ns" 0) | $(signed "$redis_ns" 0)"
    row+=" | $(cell "$(paired "$k" rps auth none ratio)" 3) | $(signed "$auth_ns" 0) |"
    echo "$row"
  done
  echo
  echo "h2load gives no percentiles: its rows show the added mean request time in the p50 columns."
  echo
  cg_auth=$(stats callgrind ir_per_req auth | awk '{print $1}')
  if [[ -n $cg_auth ]]; then
    echo -n "Instructions per request (callgrind, not moved by the machine's other load; section below): auth $(fmt "$cg_auth" 0)"
    for c in none local redis; do
      v=$(stats callgrind ir_per_req "$c" | awk '{print $1}')
      [[ -n $v ]] && echo -n "; $c $(fmt "$v" 0) ($(awk -v a="$v" -v b="$cg_auth" 'BEGIN{printf "%+.0f, %.3f×", a - b, a / b}'))"
    done
    echo "."
    echo
  fi
  for l in "${LOADS[@]}"; do
    read -r tool n <<<"$l"
    ((n > 1)) || continue
    lo=$(for c in "${CONFIGS[@]}"; do stats "$tool-c$n" gw_cpu_pct "$c" | awk '{print $1}'; done | sort -g | head -1)
    [[ -z $lo ]] && continue
    if awk -v v="$lo" 'BEGIN{exit !(v < 90)}'; then
      echo "Check, $tool c$n: the gateway's CPU was under 90% (lowest median $(fmt "$lo" 0)%): its core was not the bottleneck,"
      echo "so req/s there measures the load side (CPU $LOAD_CPU: the client, the mock and whatever else ran there) as"
      echo "much as the gateway; compare the CPU per request."
    else
      echo "Check, $tool c$n: the gateway's CPU was at least 90% in every config (lowest median $(fmt "$lo" 0)%): req/s is its rate."
    fi
    echo
  done
  for l in "${LOADS[@]}"; do
    read -r tool n <<<"$l"; k="$tool-c$n"
    echo "## $tool, concurrency $n"
    echo
    if [[ $tool == h2load ]]; then
      echo "| config | req/s | vs auth | mean µs | sd µs | gateway CPU % | CPU µs / req | refused | admitted by the limits | Redis leases |"
    else
      echo "| config | req/s | vs auth | p50 µs | p99 µs | gateway CPU % | CPU µs / req | refused | admitted by the limits | Redis leases |"
    fi
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for c in "${CONFIGS[@]}"; do
      s=$(stats "$k" rps "$c")
      [[ -z $s ]] && { echo "| ${LABEL[$c]} | – | – | – | – | – | – | – | – | – |"; continue; }
      vs=1
      [[ $c == auth ]] || vs=$(cell "$(paired "$k" rps "$c" auth ratio)" 3)
      if [[ $tool == h2load ]]; then a=$(stats "$k" mean_us "$c"); b=$(stats "$k" sd_us "$c"); else a=$(stats "$k" p50_us "$c"); b=$(stats "$k" p99_us "$c"); fi
      leases="–"; [[ $c == redis ]] && leases=$(awk -F'\t' -v k="$k" '$1 == k && $2 == "redis_leases" {s += $5} END {print s + 0}' "$RESULTS")
      echo "| ${LABEL[$c]} | $(cell "$s" 0) | $vs | $(cell "$a" 1) | $(cell "$b" 1) | $(cell "$(stats "$k" gw_cpu_pct "$c")" 0) | $(cell "$(stats "$k" cpu_us_per_req "$c")" 2) | $(awk -F'\t' -v k="$k" -v c="$c" '$1 == k && $2 == "refused" && $3 == c {s += $5} END {print s + 0}' "$RESULTS") | $(awk -F'\t' -v k="$k" -v c="$c" '$1 == k && $2 == "admitted" && $3 == c {s += $5} END {print s + 0}' "$RESULTS") | $leases |"
    done
    echo
  done
  echo "Redis leases: lease scripts Redis ran during that load's runs (all repetitions together), from"
  echo "\`INFO commandstats\`. Keys left in Redis at the end:"
  echo
  echo '```'
  cat "$WORK/redis-keys.txt"
  echo '```'
  echo
  if want callgrind; then
    echo "## Instructions per request (callgrind)"
    echo
    if [[ $CG_DONE == 1 ]]; then
      echo "Each config's gateway alone under \`valgrind --tool=callgrind --instr-atstart=no\` (1 worker), the same"
      echo "mock, Redis and request, infergate-loadgen with 4 connections: ${CG_WARMUP} not counted, then instrumentation on"
      echo "for ${CG_DURATION}. Ir = instructions executed by the whole process (every thread: the worker, and for redis the"
      echo "store's thread) over the requests completed in that window. Instruction counts do not move with the"
      echo "machine's other load: this is the figure that resolves the limiter's cost here. (Under valgrind the"
      echo "gateway runs ~50× slower, so the redis config leases less often than at full speed; the leases"
      echo "themselves are few either way, see the lease counts above.) The count includes the process's background"
      echo "work over the window (timers, the health thread) shared among the requests, so a config that completed fewer"
      echo "requests carries a little more of it (~100 Ir here); a function-level comparison of the profiles"
      echo "(\`BENCH_KEEP=1\`, \`callgrind_annotate\`) attributes the differences exactly."
      echo
      echo "| config | requests | Ir per request | vs auth | added Ir per request vs auth | est. added ns per request¹ |"
      echo "|---|---|---|---|---|---|"
      base=$(stats callgrind ir_per_req auth | awk '{print $1}')
      cpu_auth=$(stats loadgen-c64 cpu_us_per_req auth | awk '{print $1}')
      [[ -z $cpu_auth ]] && cpu_auth=$(stats h2load-c64 cpu_us_per_req auth | awk '{print $1}')
      for c in "${CONFIGS[@]}"; do
        v=$(stats callgrind ir_per_req "$c" | awk '{print $1}')
        [[ -z $v ]] && { echo "| ${LABEL[$c]} | – | – | – | – | – |"; continue; }
        r=$(stats callgrind requests "$c" | awk '{print $1}')
        if [[ -n $base ]]; then
          ratio=$(awk -v a="$v" -v b="$base" 'BEGIN{printf "%.3f×", a / b}')
          added=$(awk -v a="$v" -v b="$base" 'BEGIN{printf "%+.0f", a - b}')
          ns="–"
          [[ -n $cpu_auth ]] && ns=$(awk -v a="$v" -v b="$base" -v t="$cpu_auth" 'BEGIN{printf "%+.0f", (a - b) * t * 1000 / b}')
        else ratio="–"; added="–"; ns="–"; fi
        echo "| ${LABEL[$c]} | $r | $(fmt "$v" 0) | $ratio | $added | $ns |"
      done
      echo
      echo "¹ Added instructions × (auth's median CPU time per request at c64 / auth's Ir per request), i.e. at"
      echo "the auth path's average time per instruction on this machine ($(fmt "${cpu_auth:-0}" 2) µs / $(fmt "${base:-0}" 0) Ir): a rough"
      echo "conversion, since the limiter's instructions (atomics, small formatting) need not run at the path's average speed."
    else
      echo "Skipped: see the notes."
    fi
    echo
  fi
  if want micro; then
    echo "## Microbenchmarks of the limiter"
    echo
    if grep -q '^BM_' "$WORK/micro.txt" 2>/dev/null; then
      echo "\`infergate-microbench --benchmark_filter='$MICRO_FILTER' --benchmark_min_time=$MICRO_MIN_TIME\` on CPU $PROXY_CPU after the"
      echo "loads (bench/micro/rate_limit_bench.cc)."
      echo
      echo "| benchmark | time per op | CPU per op | iterations |"
      echo "|---|---|---|---|"
      awk '/^BM_/ {printf "| %s | %s %s | %s %s | %s |\n", $1, $2, $3, $4, $5, $6}' "$WORK/micro.txt"
    else
      echo "Skipped: see the notes."
    fi
    echo
  fi
  echo "## Configs"
  echo
  echo "Exactly as used (ports as in this run; \`bench/limits.sh\` writes them)."
  echo
  for c in "${CONFIGS[@]}"; do
    echo "<details><summary>$c.yaml</summary>"
    echo
    echo '```yaml'
    cat "$CFG/$c.yaml"
    echo '```'
    echo "</details>"
    echo
  done
  bench_tail "load, metric, config, repetition, value"
} >"$OUT"
log "wrote $OUT (${RUN_SECONDS}s)"
[[ -s $INVALID ]] && { log "the run is INVALID: see the report"; exit 3; }
exit 0
