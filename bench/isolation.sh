#!/usr/bin/env bash
# bench/isolation.sh: what compartments (bulkheads), degradation chains and admission cost and buy,
# measured side by side in one interleaved run on this machine: (1) isolation, one model's latency
# while another is flooded past its compartment, with and without compartments; (2) the
# throughput of one worker in degraded mode (fallback pool, static answer); (3) the cost of the
# admission path (a route compartment + bearer-key tenants) end to end, and its microbenchmarks.
# Writes bench/results/isolation-<date>.md. See bench/README.md, "Isolation and degradation".
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/isolation.sh [--reps N] [--only LIST] [--quick] [--out FILE]
  --reps N      repetitions of every measurement, interleaved across cases (default 3; the
                admission comparison runs at least 5, its difference is small)
  --only LIST   comma-separated scenarios: isolation,degraded,admission,micro (default: all)
  --quick       1 repetition, short loads (under a minute)
  --out FILE    the report (default bench/results/isolation-YYYY-MM-DD.md)
Environment: INFERGATE_BUILD=DIR uses that build directory instead of ./build;
INFERGATE_NO_BUILD=1 runs the binaries already there; BENCH_PORT_BASE=N moves the 12 ports used
(default 18200); BENCH_KEEP=1 keeps the scratch directory (configs, logs, raw JSON).
EOF
}

REPS=3
ONLY="isolation,degraded,admission,micro"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_args isolation.sh "isolation,degraded,admission,micro" "" "$@"
want() { [[ ",$ONLY," == *",$1,"* ]]; }

cd "$ROOT"
[[ -n $OUT ]] || OUT="$ROOT/bench/results/isolation-$(date +%Y-%m-%d).md"
WORK=$(mktemp -d /tmp/infergate-isolation.XXXXXX)
RUN_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- The measurements (full run; --quick shortens them).
TTFT_MS=20           # isolation: each request's time at the mock (x-mock-ttft-ms), so slots fill
B_CONNS=8            # isolation: model-b's steady load (closed loop)
A_CONNS=128          # isolation: model-a's flood (closed loop: a 429 is answered by a new request)
A_CONNS_FEW=16       # isolation, case flood-few: the same flood from fewer connections
A_SLOTS=8            # compartment model-a: max_concurrent, no queue, reject (429)
B_SLOTS=8            # compartment model-b: the same
CAP_SLOTS=$((A_SLOTS + B_SLOTS))  # the emulated finite backend of case flood-capacity
B_DURATION=6s; B_WARMUP=1s; SETTLE=1  # model-b run; the flood starts SETTLE s before it
TP_CONNS=64; TP_DURATION=3.5s; TP_WARMUP=1s   # degraded and admission: closed-loop throughput
ADM_REPS=$((REPS < 5 ? 5 : REPS))
STREAM_TOKENS=12     # streamed variants: the mock's token count, ~ the static answer's 12 words
MICRO_MIN_TIME=0.2
if [[ $QUICK == 1 ]]; then
  REPS=1; ADM_REPS=1
  B_DURATION=2.5s; B_WARMUP=0.5s; SETTLE=0.5
  TP_DURATION=2s; TP_WARMUP=0.5s
  MICRO_MIN_TIME=0.05
fi
secs() { awk -v d="$1" 'BEGIN{ if (d ~ /ms$/) print d / 1000; else { sub(/s$/, "", d); print d + 0 } }'; }
A_DURATION="$(awk -v a="$(secs "$B_DURATION")" -v s="$SETTLE" 'BEGIN{printf "%.1f", a + s + 0.5}')s"

# Two tenants' bearer keys (benchmark values, not secrets); the config holds their SHA-256.
KEY_ACME=sk-bench-acme-0123456789abcdef0123456789
KEY_HOBBY=sk-bench-hobby-0123456789abcdef012345678

# ---- Processes: every one started here is recorded and ended by PID on exit.
declare -a PIDS=()
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
die() { log "isolation.sh: error: $*"; exit 1; }

command -v curl >/dev/null || die "curl is needed (the degraded-header check and /metrics); apt-get install curl"
command -v sha256sum >/dev/null || die "sha256sum (coreutils) is needed for the tenants' key hashes"
command -v taskset >/dev/null || die "taskset (util-linux) is needed for CPU pinning"

# ---- Build.
TARGETS=(infergate infergate-mock infergate-loadgen)
want micro && TARGETS+=(infergate-microbench)
bench_build "${TARGETS[@]}"
bench_require infergate infergate-mock infergate-loadgen

# ---- Limits, CPUs, ports.
bench_machine
PORT_BASE=${BENCH_PORT_BASE:-18200}
MOCK_PORT=$PORT_BASE
DEAD_PORT=$((PORT_BASE + 9))    # nothing listens here: the dead primary's only backend
GW_PORT=$((PORT_BASE + 10))
ADMIN_PORT=$((PORT_BASE + 11))
for p in $(seq "$PORT_BASE" $((PORT_BASE + 11))); do
  port_busy "$p" && die "port $p is in use; set BENCH_PORT_BASE"
done
CLK_TCK=$(getconf CLK_TCK)


bench_results_init

calc() { awk "BEGIN{ printf \"%.4f\", $1 }"; }

cpu_ticks() {  # utime + stime of one process (all its threads), in clock ticks
  local t
  t=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}') || true
  echo "${t:-0}"
}

# metric_sum REGEX: the sum of the gateway's /metrics samples whose line matches REGEX.
metric_sum() {
  { curl -s --max-time 3 "http://127.0.0.1:$ADMIN_PORT/metrics" || true; } |
    awk -v re="$1" '!/^#/ && $0 ~ re {s += $NF} END {printf "%.0f", s + 0}'
}

# ---- Machine and versions.
ver_infergate=$("$BIN/infergate" --version 2>&1 | head -1)
ver_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || ver_git="$ver_git + uncommitted changes in src/include"
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
[[ -n $cpu_model ]] || cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')

# ---- Configs. Every case runs a fresh `infergate --workers 1` on CPU PROXY_CPU with one of these.
CFG="$WORK/cfg"; mkdir -p "$CFG"
common_head() {
  cat <<EOF
listeners:
  - name: public
    listen: 127.0.0.1:$GW_PORT
admin:
  listen: 127.0.0.1:$ADMIN_PORT
EOF
}
two_routes() {  # two_routes COMPARTMENT_A COMPARTMENT_B ("" = none)
  cat <<EOF
routes:
  - name: model-a
    match: {path_prefix: /v1/, methods: [POST], model: [model-a]}
    to: mock
EOF
  [[ -n $1 ]] && echo "    compartment: $1"
  cat <<EOF
  - name: model-b
    match: {path_prefix: /v1/, methods: [POST], model: [model-b]}
    to: mock
EOF
  [[ -n $2 ]] && echo "    compartment: $2"
  return 0
}
mock_pool() {  # mock_pool MAX_IDLE
  cat <<EOF
  - name: mock
    max_idle_connections: $1
    backends: [http://127.0.0.1:$MOCK_PORT]
EOF
}
dead_pool() {
  cat <<EOF
  - name: primary
    backends: [http://127.0.0.1:$DEAD_PORT]   # nothing listens there
    health_check: {interval: 100ms, timeout: 100ms}   # marked down after 3 failures (~0.3 s)
EOF
}
chat_route() {  # chat_route POOL
  cat <<EOF
routes:
  - name: chat
    match: {path_prefix: /v1/, methods: [POST], model: [mock-model]}
    to: $1
EOF
}
{ # isolated: one compartment per model; a full one answers 429 at once (no queue).
  echo "# isolation, cases alone and flood: each model's route has its own compartment."
  common_head
  echo "compartments:"
  echo "  - {name: model-a, max_concurrent: $A_SLOTS, max_queue: 0, on_full: reject, retry_after: 1s}"
  echo "  - {name: model-b, max_concurrent: $B_SLOTS, max_queue: 0, on_full: reject, retry_after: 1s}"
  echo "pools:"; mock_pool 256
  two_routes model-a model-b
} >"$CFG/isolated.yaml"
{ # shared: no compartment at all, one path to the same backend.
  echo "# isolation, case flood-nocomp: no compartments, both routes share the path to the mock."
  common_head
  echo "pools:"; mock_pool 256
  two_routes "" ""
} >"$CFG/shared.yaml"
{ # capacity: one compartment for both routes, standing in for a backend with finite capacity
  # (the mock has none: it serves any number of requests at once) that queues the rest.
  echo "# isolation, case flood-capacity: both routes share one compartment of $CAP_SLOTS slots with a FIFO"
  echo "# queue: a stand-in for a backend that serves $CAP_SLOTS requests at once and queues the rest."
  common_head
  echo "compartments:"
  echo "  - {name: backend, max_concurrent: $CAP_SLOTS, max_queue: 1024, max_wait: 30s}"
  echo "pools:"; mock_pool 256
  two_routes backend backend
} >"$CFG/capacity.yaml"
{
  echo "# degraded normal / admission plain: the reference path, one route to the mock."
  common_head
  echo "pools:"; mock_pool 128
  chat_route mock
} >"$CFG/normal.yaml"
{
  echo "# degraded fallback-pool: the primary is dead; no_backend sends requests to the mock pool"
  echo "# with the model rewritten."
  common_head
  echo "pools:"; dead_pool; mock_pool 128
  chat_route primary
  echo "    fallbacks:"
  echo "      - {pool: mock, rewrite_model: mock-small}"
} >"$CFG/fallback-pool.yaml"
{
  echo "# degraded static / static-stream: the primary is dead; the gateway answers itself."
  common_head
  echo "pools:"; dead_pool
  chat_route primary
  echo "    fallbacks:"
  echo '      - static: "The assistant is under heavy load; please try again in a minute."'
} >"$CFG/static.yaml"
HASH_ACME=$(printf %s "$KEY_ACME" | sha256sum | cut -d' ' -f1)
HASH_HOBBY=$(printf %s "$KEY_HOBBY" | sha256sum | cut -d' ' -f1)
{
  echo "# admission: the normal path plus a route compartment, two tiers and two bearer-key"
  echo "# tenants; the load is tenant acme's (its own compartment too): SHA-256 of the key, a"
  echo "# table lookup and two bulkhead slots per request. Slots are never short (4096)."
  common_head
  cat <<EOF
compartments:
  - {name: chat, max_concurrent: 4096}
  - {name: tenant-acme, max_concurrent: 4096}
tiers:
  - name: paid
  - {name: free, reserve_percent: 30}
tenants:
  - {name: acme, tier: paid, compartment: tenant-acme, api_keys_sha256: [$HASH_ACME]}
  - {name: hobbyist, tier: free, api_keys_sha256: [$HASH_HOBBY]}
EOF
  echo "pools:"; mock_pool 128
  chat_route mock
  echo "    compartment: chat"
} >"$CFG/admission.yaml"
for f in "$CFG"/*.yaml; do
  "$BIN/infergate" -c "$f" --check-config >"$WORK/check.log" 2>&1 ||
    { cat "$WORK/check.log" >&2; die "config $(basename "$f") is invalid (a bug in this script or the config keys changed)"; }
done

# ---- The mock: one for the whole run, on the load CPU, serving every model used here.
MOCK_LOG="$WORK/mock.log"
taskset -c "$LOAD_CPU" "$BIN/infergate-mock" --listen "127.0.0.1:$MOCK_PORT" \
  --model model-a --model model-b --model mock-model --model mock-small \
  --tokens 16 --token-interval 0ms --ttft 0ms --threads 1 >"$MOCK_LOG" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_for 10 grep -q listening "$MOCK_LOG" || { cat "$MOCK_LOG" >&2; die "infergate-mock did not start"; }
check_mock() {
  kill -0 "$MOCK_PID" 2>/dev/null || { tail -20 "$MOCK_LOG" >&2; die "infergate-mock (pid $MOCK_PID) exited"; }
}
log "mock on 127.0.0.1:$MOCK_PORT (CPU $LOAD_CPU), gateway on 127.0.0.1:$GW_PORT (CPU $PROXY_CPU)"

# ---- The gateway.
GW_PID=0
GW_LOG=""
start_gw() {  # start_gw CONFIG LOGNAME: a fresh one-worker infergate; dies loudly if it does not come up
  GW_LOG="$WORK/gw-$2.log"
  taskset -c "$PROXY_CPU" "$BIN/infergate" -c "$CFG/$1.yaml" --workers 1 --log-level warn \
    --drain-timeout 1s >"$GW_LOG" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  wait_for 10 bash -c "! kill -0 $GW_PID 2>/dev/null || ( (exec 3<>/dev/tcp/127.0.0.1/$GW_PORT) && (exec 3<>/dev/tcp/127.0.0.1/$ADMIN_PORT) ) 2>/dev/null" || true
  if ! kill -0 "$GW_PID" 2>/dev/null || ! port_busy "$GW_PORT"; then
    tail -20 "$GW_LOG" >&2
    die "infergate with $1.yaml did not start (log above)"
  fi
}
stop_gw() {
  [[ $GW_PID == 0 ]] && return 0
  kill -0 "$GW_PID" 2>/dev/null || { tail -20 "$GW_LOG" >&2; die "infergate (pid $GW_PID) exited during the measurement"; }
  kill -TERM "$GW_PID" 2>/dev/null || true
  wait_for 5 bash -c "! kill -0 $GW_PID 2>/dev/null" || kill -KILL "$GW_PID" 2>/dev/null || true
  wait "$GW_PID" 2>/dev/null || true
  GW_PID=0
  # Anything logged at error level is worth a look (warn is expected: sheds, degradations).
  if grep -qiE '\b(error|crit)\b' "$GW_LOG"; then
    note "$(basename "$GW_LOG" .log): $(grep -iE '\b(error|crit)\b' "$GW_LOG" | head -1 | cut -c1-200)"
  fi
}

URL="http://127.0.0.1:$GW_PORT/v1/chat/completions"
# loadgen OUT ARGS...: a measured run on the load CPU; dies when it fails or prints nothing.
loadgen() {
  local out=$1; shift
  local rc=0
  taskset -c "$LOAD_CPU" "$BIN/infergate-loadgen" --json --url "$URL" "$@" >"$out" 2>"$out.err" || rc=$?
  if [[ $rc != 0 || ! -s $out ]]; then
    cat "$out.err" >&2
    die "infergate-loadgen $* exited with $rc"
  fi
}

# The degraded answer's header, checked once per measurement with curl.
degraded_header() {  # degraded_header [stream]
  local body='{"model":"mock-model","messages":[{"role":"user","content":"Say hello."}],"stream":false}'
  [[ ${1:-} == stream ]] && body=${body/\"stream\":false/\"stream\":true}
  { curl -s --max-time 5 -o "$WORK/curl.body" -D - -X POST -H 'content-type: application/json' \
    --data "$body" "$URL" || true; } | tr -d '\r' | awk -F': ' 'NR == 1 {print "status:" $0} tolower($1) == "x-infergate-degraded" {print $2}'
}
primary_down() {  # /admin/backends lists the dead primary's backend as unavailable
  { curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/admin/backends" || true; } | tr '}' '\n' |
    grep '"pool":"primary"' | grep -q '"state":"unavailable"'
}

# ---- Scenario 1: isolation.
ISO_CASES=(alone flood flood-few flood-nocomp flood-capacity)
declare -A ISO_CFG=([alone]=isolated [flood]=isolated [flood-few]=isolated [flood-nocomp]=shared
  [flood-capacity]=capacity)
declare -A ISO_ACONNS=([flood]=$A_CONNS [flood-few]=$A_CONNS_FEW [flood-nocomp]=$A_CONNS
  [flood-capacity]=$A_CONNS)
scenario_isolation() {
  local rep c
  for rep in $(seq 1 "$REPS"); do
    for c in $(order "$rep" "${ISO_CASES[@]}"); do
      check_mock
      start_gw "${ISO_CFG[$c]}" "iso-$c-$rep"
      local fa="$WORK/iso-$c-$rep-a.json" fb="$WORK/iso-$c-$rep-b.json" apid=0
      if [[ $c != alone ]]; then
        # The flood at nice 19 on the load CPU, so that its client does not take that core from
        # the mock and model-b's client: model-b's figures then measure the gateway and the backend.
        taskset -c "$LOAD_CPU" nice -n 19 "$BIN/infergate-loadgen" --json --url "$URL" \
          --model model-a --connections "${ISO_ACONNS[$c]}" --duration "$A_DURATION" --timeout 30s \
          --header "x-mock-ttft-ms: $TTFT_MS" >"$fa" 2>"$fa.err" &
        apid=$!
        PIDS+=("$apid")
        sleep "$SETTLE"
        kill -0 "$apid" 2>/dev/null || { cat "$fa.err" >&2; die "model-a's flood (infergate-loadgen) exited early"; }
      fi
      local t0 t1 w0 w1
      t0=$(cpu_ticks "$GW_PID"); w0=$(date +%s.%N)
      loadgen "$fb" --model model-b --connections "$B_CONNS" --duration "$B_DURATION" \
        --warmup "$B_WARMUP" --timeout 30s --header "x-mock-ttft-ms: $TTFT_MS"
      t1=$(cpu_ticks "$GW_PID"); w1=$(date +%s.%N)
      if [[ $apid != 0 ]]; then
        wait_for 30 bash -c "! kill -0 $apid 2>/dev/null" || { kill -KILL "$apid" 2>/dev/null || true; die "model-a's flood did not end by itself"; }
        local arc=0
        wait "$apid" || arc=$?
        [[ $arc == 0 && -s $fa ]] || { cat "$fa.err" >&2; die "model-a's flood exited with $arc"; }
        local el; el=$(jnum "$fa" elapsed_s)
        record iso a_ok_rps "$c" "$rep" "$(calc "$(jnum "$fa" requests) / $el")"
        record iso a_429_rps "$c" "$rep" "$(calc "$(jnum "$fa" error_kinds status_4xx) / $el")"
        record iso a_other_err "$c" "$rep" "$(calc "$(jnum "$fa" errors) - $(jnum "$fa" error_kinds status_4xx)")"
        record iso a_p50_ms "$c" "$rep" "$(calc "$(jnum "$fa" latency_us p50) / 1000")"
      fi
      local ok err
      ok=$(jnum "$fb" requests); err=$(jnum "$fb" errors)
      record iso b_rps "$c" "$rep" "$(jnum "$fb" rps)"
      record iso b_p50_ms "$c" "$rep" "$(calc "$(jnum "$fb" latency_us p50) / 1000")"
      record iso b_p99_ms "$c" "$rep" "$(calc "$(jnum "$fb" latency_us p99) / 1000")"
      record iso b_max_ms "$c" "$rep" "$(calc "$(jnum "$fb" latency_us max) / 1000")"
      record iso b_success_pct "$c" "$rep" "$(calc "($ok + $err > 0) ? 100 * $ok / ($ok + $err) : 0")"
      record iso b_errors "$c" "$rep" "$err"
      record iso gw_cpu_pct "$c" "$rep" "$(calc "100 * ($t1 - $t0) / $CLK_TCK / ($w1 - $w0)")"
      ((err > 0)) && note "isolation $c rep $rep: model-b had $err errors: $(grep -o '"error_kinds":{[^}]*}' "$fb")"
      stop_gw
      log "isolation rep $rep $c: model-b p50 $(jnum "$fb" latency_us p50) µs p99 $(jnum "$fb" latency_us p99) µs, $ok ok / $err errors"
    done
  done
}

# ---- Scenario 2: throughput in degraded mode.
DEG_CASES=(normal fallback-pool static normal-stream static-stream)
declare -A DEG_CFG=([normal]=normal [fallback-pool]=fallback-pool [static]=static
  [normal-stream]=normal [static-stream]=static)
declare -A DEG_SERVED=([fallback-pool]=mock [static]=static [static-stream]=static)
declare -A DEG_HEADER=()
# tp_run OUT SCEN CASE REP ARGS...: one closed-loop throughput run; records rps, latency,
# gateway CPU and its CPU time per response.
tp_run() {
  local out=$1 scen=$2 c=$3 rep=$4; shift 4
  local t0 t1 w0 w1 r0 r1
  r0=$(metric_sum '^infergate_responses_total[{]route="chat"')
  t0=$(cpu_ticks "$GW_PID"); w0=$(date +%s.%N)
  loadgen "$out" --connections "$TP_CONNS" --duration "$TP_DURATION" --warmup "$TP_WARMUP" "$@"
  t1=$(cpu_ticks "$GW_PID"); w1=$(date +%s.%N)
  r1=$(metric_sum '^infergate_responses_total[{]route="chat"')
  record "$scen" rps "$c" "$rep" "$(jnum "$out" rps)"
  record "$scen" p50_ms "$c" "$rep" "$(calc "$(jnum "$out" latency_us p50) / 1000")"
  record "$scen" p99_ms "$c" "$rep" "$(calc "$(jnum "$out" latency_us p99) / 1000")"
  record "$scen" errors "$c" "$rep" "$(jnum "$out" errors)"
  record "$scen" gw_cpu_pct "$c" "$rep" "$(calc "100 * ($t1 - $t0) / $CLK_TCK / ($w1 - $w0)")"
  record "$scen" cpu_us_per_req "$c" "$rep" \
    "$(calc "($r1 > $r0) ? 1e6 * ($t1 - $t0) / $CLK_TCK / ($r1 - $r0) : 0")"
  local e; e=$(jnum "$out" errors)
  ((e > 0)) && note "$scen $c rep $rep: $e errors: $(grep -o '"error_kinds":{[^}]*}' "$out")"
  return 0
}
scenario_degraded() {
  local rep c
  for rep in $(seq 1 "$REPS"); do
    for c in $(order "$rep" "${DEG_CASES[@]}"); do
      check_mock
      start_gw "${DEG_CFG[$c]}" "deg-$c-$rep"
      local stream=() mode=""
      [[ $c == *-stream ]] && { stream=(--stream --header "x-mock-tokens: $STREAM_TOKENS"); mode=stream; }
      local h expect=${DEG_SERVED[$c]:-}
      if [[ -n $expect ]]; then
        wait_for 10 primary_down || die "$c: the dead primary was not marked down within 10 s (/admin/backends)"
        h=$(degraded_header "$mode")
        [[ $h == *"status:HTTP/1.1 200"* ]] || die "$c: the check request did not get a 200: $(echo "$h" | head -1)"
        [[ $h == *"served-by=$expect"* ]] ||
          die "$c: no 'x-infergate-degraded: ...; served-by=$expect' on the check request (got: $(echo "$h" | tr '\n' ' '))"
        h=$(echo "$h" | grep -v '^status:' | head -1)
        [[ $h == no_backend\;* ]] || note "$c rep $rep: degraded by '$h', not no_backend"
        DEG_HEADER[$c]=$h
      else
        h=$(degraded_header "$mode")
        [[ $h == *"status:HTTP/1.1 200"* ]] || die "$c: the check request did not get a 200: $(echo "$h" | head -1)"
        [[ $(echo "$h" | grep -vc '^status:') == 0 ]] || die "$c: the normal path answered degraded: $h"
      fi
      tp_run "$WORK/deg-$c-$rep.json" deg "$c" "$rep" "${stream[@]}"
      if [[ -n $expect ]]; then
        # Every response of the run must have been degraded: infergate's own counters.
        local d n
        d=$(metric_sum '^infergate_degraded_total[{]route="chat"')
        n=$(metric_sum '^infergate_responses_total[{]route="chat"')
        record deg degraded_pct "$c" "$rep" "$(calc "($n > 0) ? 100 * $d / $n : 0")"
      fi
      stop_gw
      log "degraded rep $rep $c: $(jnum "$WORK/deg-$c-$rep.json" rps) req/s"
    done
  done
}

# ---- Scenario 3: the admission path end to end.
ADM_CASES=(plain admission)
declare -A ADM_CFG=([plain]=normal [admission]=admission)
scenario_admission() {
  local rep c
  for rep in $(seq 1 "$ADM_REPS"); do
    for c in $(order "$rep" "${ADM_CASES[@]}"); do
      check_mock
      start_gw "${ADM_CFG[$c]}" "adm-$c-$rep"
      # The same request bytes in both cases: the bearer key is sent to the plain path too.
      tp_run "$WORK/adm-$c-$rep.json" adm "$c" "$rep" --header "authorization: Bearer $KEY_ACME"
      if [[ $c == admission ]]; then
        local n; n=$(metric_sum '^infergate_tenant_requests_total[{]tenant="acme"[}]')
        ((n > 0)) || die "admission: infergate_tenant_requests_total{tenant=\"acme\"} is 0: the tenant was not identified"
      fi
      stop_gw
      log "admission rep $rep $c: $(jnum "$WORK/adm-$c-$rep.json" rps) req/s"
    done
  done
}

# ---- Scenario 4: microbenchmarks of admission (bench/micro/admission_bench.cc).
MICRO_FILTER='Bulkhead|AdaptiveGate|Tenant|Latch'
scenario_micro() {
  if [[ ! -x $BIN/infergate-microbench ]]; then
    note "micro: infergate-microbench not built (libbenchmark-dev missing?): skipped"
    return 0
  fi
  # Console format: the CSV reporter aborts when a later benchmark adds a counter ("refused").
  # Pinned to every CPU, with no other process of this script running, so the 2-thread case
  # contends across two cores.
  local rc=0
  timeout 300 taskset -c "$ALL_CPUS" "$BIN/infergate-microbench" --benchmark_filter="$MICRO_FILTER" \
    --benchmark_min_time="$MICRO_MIN_TIME" --benchmark_color=false >"$WORK/micro.txt" 2>"$WORK/micro.err" || rc=$?
  if ! grep -q '^BM_' "$WORK/micro.txt"; then
    note "micro: no benchmark matched '$MICRO_FILTER' (bench/micro/admission_bench.cc absent?): skipped"
  elif [[ $rc != 0 ]]; then
    note "micro: infergate-microbench exited with $rc: $(tail -1 "$WORK/micro.err" | cut -c1-200)"
  fi
}

# ---- Run.
want isolation && { log "scenario 1: isolation"; scenario_isolation; }
want degraded && { log "scenario 2: throughput in degraded mode"; scenario_degraded; }
want admission && { log "scenario 3: admission cost"; scenario_admission; }
check_mock
kill -TERM "$MOCK_PID" 2>/dev/null || true
wait_for 5 bash -c "! kill -0 $MOCK_PID 2>/dev/null" || kill -KILL "$MOCK_PID" 2>/dev/null || true
want micro && { log "scenario 4: microbenchmarks"; scenario_micro; }
RUN_SECONDS=$(($(date +%s) - RUN_START))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- Report.
# stats, paired, fmt and cell: bench/lib.sh.
ratio() {  # ratio VALUE_STATS REF_STATS -> median / reference median
  local a b
  a=$(echo "$1" | awk '{print $1}'); b=$(echo "$2" | awk '{print $1}')
  [[ -z $a || -z $b ]] && { echo "–"; return; }
  awk -v a="$a" -v b="$b" 'BEGIN{ if (a <= 0 || b <= 0) print "–"; else printf "%.2f×", a / b }'
}
med() { echo "$1" | awk '{print $1}'; }

declare -A ISO_LABEL=([alone]="(a) model-b alone"
  [flood]="(b) + model-a flood, compartments"
  [flood-few]="(b′) + model-a flood from $A_CONNS_FEW connections, compartments"
  [flood-nocomp]="(c) + model-a flood, no compartments"
  [flood-capacity]="(c′) + model-a flood, one shared $CAP_SLOTS-slot compartment (finite backend)")
declare -A DEG_LABEL=([normal]="(a) normal path to the mock" [fallback-pool]="(b) primary dead → fallback pool (rewrite_model)"
  [static]="(c) primary dead → static answer" [normal-stream]="(a′) normal path, streamed"
  [static-stream]="(d) primary dead → static answer, streamed")
declare -A ADM_LABEL=([plain]="no compartment, no tenants" [admission]="route compartment + tenant compartment + 2 bearer-key tenants")

mkdir -p "$(dirname "$OUT")"
{
  echo "# infergate isolation and degradation benchmark, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "Produced by \`$( [[ -n ${INFERGATE_BUILD:-} ]] && echo "INFERGATE_BUILD=$INFERGATE_BUILD ")bench/isolation.sh$([[ $QUICK == 1 ]] && echo ' --quick') --reps $REPS --only $ONLY\` in ${RUN_SECONDS}s."
  echo "Each figure is the median of the interleaved repetitions (forward, then backward order) with"
  echo "the range (min–max) in brackets. See bench/README.md, \"Isolation and degradation\"."
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| CPU | $cpu_model, $NCPU CPUs |"
  echo "| kernel | $(uname -sr) |"
  echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
  echo "| pinning | infergate (1 worker) on CPU $PROXY_CPU; the mock and the load generators on CPU $LOAD_CPU (model-a's flood at nice 19) |"
  echo "| fd limit | $NOFILE |"
  echo "| load average (1, 5, 15 min) | $LOAD_START at the start, $LOAD_END at the end |"
  echo "| infergate | $ver_infergate (git $ver_git, $BUILD_TYPE, $BUILD) |"
  echo "| backend | one infergate-mock, 1 thread, models model-a, model-b, mock-model, mock-small; 16 tokens, no delay unless a request asks (x-mock-ttft-ms) |"
  echo
  if want isolation; then
    echo "## 1. Isolation: model-b while model-a is flooded"
    echo
    echo "model-b: $B_CONNS connections, closed loop, ${B_DURATION} (first ${B_WARMUP} not counted), every request"
    echo "${TTFT_MS} ms at the mock (\`x-mock-ttft-ms: $TTFT_MS\`). model-a's flood: $A_CONNS connections, closed loop (a 429"
    echo "is answered at once by the next request), the same ${TTFT_MS} ms, started ${SETTLE} s before model-b and running"
    echo "through it (case b′: $A_CONNS_FEW connections instead). Compartments: model-a and model-b $A_SLOTS slots"
    echo "each, no queue, \`on_full: reject\` (429 + Retry-After). The mock itself has no capacity limit, so case (c) only shares the"
    echo "gateway, the mock's CPU and the connection pool; case (c′) adds what a real model server has,"
    echo "a finite number of concurrent requests ($CAP_SLOTS = $A_SLOTS + $B_SLOTS) with a FIFO queue for the rest,"
    echo "emulated by one compartment shared by both routes (max_queue 1024, max_wait 30s)."
    echo
    echo "| case | model-b p50 ms | model-b p99 ms | p99 vs alone | model-b req/s | model-b success % | model-a 2xx/s | model-a 429/s | gateway CPU % |"
    echo "|---|---|---|---|---|---|---|---|---|"
    ref=$(stats iso b_p99_ms alone)
    for c in "${ISO_CASES[@]}"; do
      s=$(stats iso b_p99_ms "$c")
      [[ -z $s ]] && continue
      pr=$(paired iso b_p99_ms "$c" alone)
      echo "| ${ISO_LABEL[$c]} | $(cell "$(stats iso b_p50_ms "$c")" 2) | $(cell "$s" 2) | $(ratio "$s" "$ref") (paired $(cell "$pr" 2)) | $(cell "$(stats iso b_rps "$c")" 0) | $(cell "$(stats iso b_success_pct "$c")" 2) | $(cell "$(stats iso a_ok_rps "$c")" 0) | $(cell "$(stats iso a_429_rps "$c")" 0) | $(cell "$(stats iso gw_cpu_pct "$c")" 0) |"
    done
    echo
    echo "\"paired\" divides each repetition's p99 by the alone case's p99 of the same repetition."
    echo "Gateway CPU per request it answered (2xx and 429, both models; medians): $(for c in "${ISO_CASES[@]}"; do
      awk -v c="$c" -v cpu="$(med "$(stats iso gw_cpu_pct "$c")")" -v a="$(med "$(stats iso a_ok_rps "$c")")" \
        -v r="$(med "$(stats iso a_429_rps "$c")")" -v b="$(med "$(stats iso b_rps "$c")")" \
        'BEGIN{ n = a + r + b; if (n > 0 && cpu != "") printf "%s %.1f µs; ", c, 1e4 * cpu / n }'; done)"
    echo "model-a's own 2xx latency p50: $(for c in flood flood-few flood-nocomp flood-capacity; do printf '%s %s ms; ' "$c" "$(cell "$(stats iso a_p50_ms "$c")" 1)"; done)"
    echo "model-b's worst request (max): $(for c in "${ISO_CASES[@]}"; do printf '%s %s ms; ' "$c" "$(cell "$(stats iso b_max_ms "$c")" 1)"; done)"
    echo
    a99=$(med "$(stats iso b_p99_ms alone)"); f99=$(med "$(stats iso b_p99_ms flood)")
    if [[ -n $a99 && -n $f99 ]]; then
      verdict=$(awk -v a="$a99" -v f="$f99" 'BEGIN{print (f <= 1.10 * a) ? "yes" : "no"}')
      echo "Check: model-b's p99 with model-a flooded past its compartment within 10% of alone: **$verdict**"
      echo "($(fmt "$f99" 2) ms against $(fmt "$a99" 2) ms, $(awk -v a="$a99" -v f="$f99" 'BEGIN{printf "%+.1f%%", 100 * (f - a) / a}'))."
      echo
    fi
  fi
  if want degraded; then
    echo "## 2. Throughput of one worker in degraded mode"
    echo
    echo "$TP_CONNS connections, closed loop, ${TP_DURATION} (first ${TP_WARMUP} not counted), zero-delay mock. The dead"
    echo "primary's only backend is a closed port with \`health_check: {interval: 100ms}\`: the run starts"
    echo "once /admin/backends shows it unavailable, and one curl request checks the degraded header."
    echo "Streamed variants ask the mock for $STREAM_TOKENS tokens (the static answer is 12 words). CPU µs per"
    echo "response = the gateway's CPU time over the run / the responses it counted (infergate_responses_total)."
    echo
    echo "| case | requests/s | vs normal | p50 ms | p99 ms | errors | gateway CPU % | CPU µs / response | degraded % | x-infergate-degraded |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for c in "${DEG_CASES[@]}"; do
      s=$(stats deg rps "$c")
      [[ -z $s ]] && continue
      refc=normal; [[ $c == *-stream ]] && refc=normal-stream
      errs=$(awk -F'\t' -v p="$c" '$1 == "deg" && $2 == "errors" && $3 == p {s += $5} END {print s + 0}' "$RESULTS")
      echo "| ${DEG_LABEL[$c]} | $(cell "$s" 0) | $(ratio "$s" "$(stats deg rps "$refc")") | $(cell "$(stats deg p50_ms "$c")" 2) | $(cell "$(stats deg p99_ms "$c")" 2) | $errs | $(cell "$(stats deg gw_cpu_pct "$c")" 0) | $(cell "$(stats deg cpu_us_per_req "$c")" 2) | $(cell "$(stats deg degraded_pct "$c")" 1) | ${DEG_HEADER[$c]:-–} |"
    done
    echo
    echo "Ratios of streamed cases are to the streamed normal path (a′). A case whose gateway CPU is well"
    echo "under 100% was bound by the load side (client and mock on CPU $LOAD_CPU), not by the gateway: compare"
    echo "CPU µs per response then."
    echo
  fi
  if want admission; then
    echo "## 3. The cost of admission"
    echo
    echo "The normal path ($TP_CONNS connections, closed loop, ${TP_DURATION}, zero-delay mock) with and without admission:"
    echo "a route compartment, and tenant \`acme\` identified by its bearer key (SHA-256 of the key, a table"
    echo "lookup) with a compartment of its own, among 2 tenants and 2 tiers. Both cases send the same"
    echo "\`authorization: Bearer …\` header. Interleaved repetitions: $ADM_REPS."
    echo
    echo "| case | requests/s | ratio | p50 ms | p99 ms | gateway CPU % | CPU µs / response |"
    echo "|---|---|---|---|---|---|---|"
    for c in "${ADM_CASES[@]}"; do
      s=$(stats adm rps "$c")
      [[ -z $s ]] && continue
      echo "| ${ADM_LABEL[$c]} | $(cell "$s" 0) | $(ratio "$s" "$(stats adm rps plain)") | $(cell "$(stats adm p50_ms "$c")" 3) | $(cell "$(stats adm p99_ms "$c")" 3) | $(cell "$(stats adm gw_cpu_pct "$c")" 0) | $(cell "$(stats adm cpu_us_per_req "$c")" 3) |"
    done
    pr=$(paired adm rps admission plain); pc=$(paired adm cpu_us_per_req admission plain)
    p=$(med "$(stats adm cpu_us_per_req plain)"); a=$(med "$(stats adm cpu_us_per_req admission)")
    echo
    if [[ -n $pr ]]; then
      echo "Paired by repetition: admission / plain requests/s $(cell "$pr" 3), CPU per response $(cell "$pc" 3)."
      [[ -n $p && -n $a ]] && echo "Difference of the medians of CPU per response: $(awk -v a="$a" -v p="$p" 'BEGIN{printf "%+.0f ns", 1000 * (a - p)}') per request."
      echo
    fi
  fi
  if want micro; then
    echo "## 4. Microbenchmarks of admission"
    echo
    if grep -q '^BM_' "$WORK/micro.txt" 2>/dev/null; then
      echo "\`infergate-microbench --benchmark_filter='$MICRO_FILTER' --benchmark_min_time=$MICRO_MIN_TIME\` on CPUs $ALL_CPUS"
      echo "(bench/micro/admission_bench.cc; nothing else of this script running). For the threaded case, Time is"
      echo "wall time per operation per thread and CPU the CPU time per operation per thread."
      echo
      echo "| benchmark | time per op | CPU per op | iterations | counters |"
      echo "|---|---|---|---|---|"
      awk '/^BM_/ {c = ""; for (i = 7; i <= NF; i++) c = c (c == "" ? "" : " ") $i;
        printf "| %s | %s %s | %s %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, (c == "" ? "–" : c)}' "$WORK/micro.txt"
      if grep -q 'DEBUG' "$WORK/micro.txt" "$WORK/micro.err" 2>/dev/null; then
        echo
        echo "(Google Benchmark warns that its own library was built as DEBUG; the code measured is Release.)"
      fi
    else
      echo "Skipped: see the notes."
    fi
    echo
  fi
  echo "## Configs"
  echo
  echo "Exactly as used (ports as in this run; \`bench/isolation.sh\` writes them)."
  echo
  for f in isolated shared capacity normal fallback-pool static admission; do
    echo "<details><summary>$f.yaml</summary>"
    echo
    echo '```yaml'
    cat "$CFG/$f.yaml"
    echo '```'
    echo "</details>"
    echo
  done
  if [[ -s $NOTES ]]; then
    echo "## Notes from this run"
    echo
    sed 's/^/- /' "$NOTES"
    echo
  fi
  echo "<details><summary>Raw figures (scenario, metric, case, repetition, value)</summary>"
  echo
  echo '```'
  cat "$RESULTS"
  echo '```'
  echo "</details>"
} >"$OUT"
log "wrote $OUT (${RUN_SECONDS}s)"
