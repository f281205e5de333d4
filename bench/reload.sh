#!/usr/bin/env bash
# bench/reload.sh: what hot reloads cost under load. One infergate-mock and one infergate
# (2 workers, admin listener on, one pool of that mock with health checks at their default
# interval, one route), and the same load run side by side with and without reloads:
#   (a) no reloads;
#   (b) a reload every ~100 ms: the -c file is rewritten, alternately with two configurations
#       that differ for real (B adds a route and a compartment, changes the route's compartment
#       limit and queue, its retries, and the pool's balancing, idle-connection cap and connect
#       timeout; A undoes all that), then POST /admin/reload, then a 0.1 s pause.
# Loads: streaming (loadgen --mode stream: N looping streams of T tokens I ms apart, with
# --expect-tokens so that a cut stream is an error, and --gap-threshold to count stalls) and,
# unless --only says otherwise, non-streamed requests (loadgen --mode rps). Repetitions
# alternate the order (a, b then b, a). Every run starts from configuration A (written and
# reloaded before the load starts). Reported per run: streams or requests completed, errors by
# kind, TTFT, inter-token gap and latency percentiles, the reloads applied (every POST answer
# must be 200 "reloaded"; the counters infergate_config_reloads_total{result=...} and
# infergate_config_generation must agree), the gateway's CPU time by thread and its RSS; and
# the (b)/(a) ratios of throughput and p99. Writes bench/results/reload-<date>.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/reload.sh [--reps N] [--only LIST] [--quick] [--out FILE]
  --reps N      repetitions of each (a)/(b) pair, the order alternating (default 2)
  --only LIST   comma-separated loads: stream,rps (default both); bench/run.sh --only reload
                runs this script with both
  --quick       1 repetition, 5 s streams and 3 s rps runs (about 40 s)
  --out FILE    the report (default bench/results/reload-YYYY-MM-DD.md)
Environment: RELOAD_STREAM_DURATION (default 20s), RELOAD_RPS_DURATION (default 10s),
RELOAD_CONNECTIONS (32), RELOAD_TOKENS (32), RELOAD_TOKEN_INTERVAL_MS (5),
RELOAD_GAP_THRESHOLD_MS (50), RELOAD_PAUSE (the pause after each reload, default 0.1 s);
RELOAD_SAME=1 makes (b) reload the unchanged configuration A every time (a control: what a
reload that changes nothing costs);
INFERGATE_BUILD=DIR uses that build directory instead of ./build; INFERGATE_NO_BUILD=1 runs the
binaries already there; BENCH_PORT_BASE=N moves the 3 ports used (default 18300);
BENCH_KEEP=1 keeps the scratch directory (configs, logs, raw JSON, every reload's answer).
EOF
}

REPS=2
ONLY="stream,rps"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# "reload" is accepted as well, for bench/run.sh --only reload: it means both loads.
bench_args reload.sh "stream,rps,reload" "" "$@"
[[ ",$ONLY," == *",reload,"* ]] && ONLY="stream,rps"
want() { [[ ",$ONLY," == *",$1,"* ]]; }

STREAM_DURATION=${RELOAD_STREAM_DURATION:-20s}
RPS_DURATION=${RELOAD_RPS_DURATION:-10s}; RPS_WARMUP=1s
CONNS=${RELOAD_CONNECTIONS:-32}
TOKENS=${RELOAD_TOKENS:-32}
INTERVAL_MS=${RELOAD_TOKEN_INTERVAL_MS:-5}
GAP_MS=${RELOAD_GAP_THRESHOLD_MS:-50}
PAUSE=${RELOAD_PAUSE:-0.1}
SAME=${RELOAD_SAME:-0}
if [[ $QUICK == 1 ]]; then
  REPS=1; STREAM_DURATION=5s; RPS_DURATION=3s; RPS_WARMUP=0.5s
fi

cd "$ROOT"
[[ -n $OUT ]] || OUT="$ROOT/bench/results/reload-$(date +%Y-%m-%d).md"
WORK=$(mktemp -d /tmp/infergate-reload.XXXXXX)
RUN_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMAND="bench/reload.sh${*:+ $*}"
for e in RELOAD_SAME RELOAD_PAUSE RELOAD_GAP_THRESHOLD_MS RELOAD_TOKEN_INTERVAL_MS RELOAD_TOKENS \
  RELOAD_CONNECTIONS RELOAD_RPS_DURATION RELOAD_STREAM_DURATION; do
  [[ -n ${!e:-} ]] && COMMAND="$e=${!e} $COMMAND"
done

declare -a PIDS=()
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_build infergate infergate-mock infergate-loadgen
bench_require infergate infergate-mock infergate-loadgen
command -v curl >/dev/null || { echo "reload.sh: needs curl (admin /metrics)" >&2; exit 1; }
((BASH_VERSINFO[0] >= 5)) || { echo "reload.sh: needs bash 5 (EPOCHREALTIME)" >&2; exit 1; }

bench_machine
bench_results_init
PORT_BASE=${BENCH_PORT_BASE:-18300}
MOCK_PORT=$PORT_BASE; GW_PORT=$((PORT_BASE + 1)); ADMIN_PORT=$((PORT_BASE + 2))
for p in "$MOCK_PORT" "$GW_PORT" "$ADMIN_PORT"; do
  if port_busy "$p"; then echo "reload.sh: port $p is in use; set BENCH_PORT_BASE" >&2; exit 1; fi
done

ms() { awk -v v="$1" 'BEGIN{printf "%.2f", v / 1000}'; }  # µs -> ms
error_kinds() { grep -o '"error_kinds":{[^}]*}' "$1" | sed 's/"error_kinds"://; s/[{}"]//g; s/,/, /g'; }

# ---- The two configurations. A is where every run starts; B differs from it in a compartment
# (a second one, and the route's with another limit and a queue), a route (a second one, and
# the chat route's retries) and the pool (balancing, idle connections kept, connect timeout).
# Health checks are on at their default interval (250 ms) in both.
write_config() {  # write_config a|b FILE
  local v=$1 max=256 queue=0 lb=least_request idle=128 connect=2s retries=1 extra_c="" extra_r=""
  if [[ $v == b ]]; then
    max=128; queue=64; lb=round_robin; idle=64; connect=1s; retries=0
    extra_c=$'  - name: listing\n    max_concurrent: 8\n'
    extra_r=$'  - name: models\n    match: {path: /v1/models, methods: [GET]}\n    to: mock\n    compartment: listing\n'
  fi
  cat >"$2" <<EOF
# bench/reload.sh, configuration ${v^^}.
listeners:
  - name: public
    listen: 127.0.0.1:$GW_PORT
    keepalive_timeout: 75s
admin:
  listen: 127.0.0.1:$ADMIN_PORT
compartments:
  - name: chat
    max_concurrent: $max
    max_queue: $queue
${extra_c}pools:
  - name: mock
    load_balancing: $lb
    max_idle_connections: $idle
    connect_timeout: $connect
    backends:
      - http://127.0.0.1:$MOCK_PORT
routes:
${extra_r}  - name: chat
    match:
      path_prefix: /v1/
      methods: [POST]
      model: [mock-model, "gpt-*"]
    to: mock
    compartment: chat
    retries: $retries
EOF
}
write_config a "$WORK/a.yaml"
write_config b "$WORK/b.yaml"
LIVE="$WORK/infergate.yaml"
cp "$WORK/a.yaml" "$LIVE"
for v in a b; do
  "$BIN/infergate" --check-config -c "$WORK/$v.yaml" >"$WORK/check-$v.log" 2>&1 ||
    { echo "reload.sh: configuration $v is refused:" >&2; cat "$WORK/check-$v.log" >&2; exit 1; }
done
CONFIG_A=$(<"$WORK/a.yaml"); CONFIG_B=$(<"$WORK/b.yaml")
# The control: (b) rewrites and reloads A, unchanged, every time.
[[ $SAME == 1 ]] && CONFIG_B=$CONFIG_A

# ---- Processes: the mock on the load CPU, infergate (2 workers) on every CPU.
taskset -c "$LOAD_CPU" "$BIN/infergate-mock" --listen "127.0.0.1:$MOCK_PORT" --model mock-model \
  --tokens 16 --token-interval 0ms --ttft 0ms --threads 1 >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!; PIDS+=("$MOCK_PID")
wait_for 10 grep -qs listening "$WORK/mock.log" || { cat "$WORK/mock.log" >&2; exit 1; }
taskset -c "$ALL_CPUS" "$BIN/infergate" -c "$LIVE" --workers 2 --log-level info \
  >"$WORK/infergate.log" 2>&1 &
GW_PID=$!; PIDS+=("$GW_PID")
up() { ! kill -0 "$GW_PID" 2>/dev/null || { port_busy "$GW_PORT" && port_busy "$ADMIN_PORT"; }; }
wait_for 10 up || true
if ! kill -0 "$GW_PID" 2>/dev/null || ! port_busy "$GW_PORT"; then
  echo "reload.sh: infergate did not start:" >&2; tail -20 "$WORK/infergate.log" >&2; exit 1
fi
log "mock on 127.0.0.1:$MOCK_PORT (CPU $LOAD_CPU), infergate on :$GW_PORT (admin :$ADMIN_PORT, CPUs $ALL_CPUS)"

metric() {  # metric NAME_WITH_LABELS: its value on the admin /metrics (empty when absent)
  curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk -v m="$1" '!f && index($0, m " ") == 1 {print $2; f = 1}' || true
}
# The backend must be up (health checks) before load: wait for the first good probe.
backend_up() {
  curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/admin/backends" | grep -q '"state":"available"'
}
wait_for 10 backend_up || note "the mock was not reported available within 10 s of the start"

# ---- One reload: rewrite the -c file in place and POST /admin/reload, with bash builtins only
# (no process started per reload, so that the driver itself costs the machine little). Prints
# "START_S END_S STATUS RESULT GENERATION WARNINGS" (times from EPOCHREALTIME).
reload_once() {  # reload_once CONFIG_TEXT
  local t0 t1 resp="" code=000 result="" gen="" warn=""
  printf '%s\n' "$1" >"$LIVE"
  t0=$EPOCHREALTIME
  if exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT"; then
    printf 'POST /admin/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' >&3
    IFS= read -r -d '' -t 10 -u 3 resp || true
    exec 3<&-
  fi
  t1=$EPOCHREALTIME
  [[ $resp =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] && code=${BASH_REMATCH[1]}
  [[ $resp =~ \"status\":\"([a-z_]*)\" ]] && result=${BASH_REMATCH[1]}
  [[ $resp =~ \"generation\":([0-9]+) ]] && gen=${BASH_REMATCH[1]}
  [[ $resp =~ \"warnings\":\[([^]]*)\] ]] && warn=${BASH_REMATCH[1]}
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t0" "$t1" "$code" "${result:--}" "${gen:--}" "${warn:--}"
}

# reload_loop OUT_TSV LOADGEN_PID: reloads, alternately with B and A, pausing PAUSE after each
# answer, for as long as the load generator runs. The pause reads a FIFO that nobody writes
# (read -t), which is `sleep` without a process.
mkfifo "$WORK/pause.fifo"
reload_loop() {
  local out=$1 lg=$2 n=0
  taskset -cp "$LOAD_CPU" "$BASHPID" >/dev/null 2>&1 || true
  exec 4<>"$WORK/pause.fifo"
  : >"$out"
  while kill -0 "$lg" 2>/dev/null; do
    n=$((n + 1))
    if ((n % 2)); then reload_once "$CONFIG_B" >>"$out"; else reload_once "$CONFIG_A" >>"$out"; fi
    read -r -t "$PAUSE" -u 4 _ || true
  done
  exec 4<&-
}

# Each run starts from A: written and reloaded (outside the measured window) when it is not A.
reset_to_a() {
  local r
  r=$(reload_once "$CONFIG_A")
  [[ $(cut -f3 <<<"$r") == 200 ]] || note "resetting to A: reload answered $(cut -f3- <<<"$r")"
}

# Per-thread CPU time of the gateway (ns, /proc/PID/task/*/schedstat), by thread name: main
# (infergate), admin, health, worker-N summed as workers, anything else as other.
thread_ns() {
  local t comm ns
  for t in /proc/"$GW_PID"/task/*; do
    comm=$(<"$t/comm") 2>/dev/null || continue
    read -r ns _ <"$t/schedstat" 2>/dev/null || continue
    case "$comm" in
      infergate) echo "main $ns" ;;
      admin|health) echo "$comm $ns" ;;
      worker-*) echo "workers $ns" ;;
      *) echo "other $ns" ;;
    esac
  done | awk '{s[$1] += $2} END {printf "%.0f %.0f %.0f %.0f %.0f\n", s["main"], s["admin"], s["health"], s["workers"], s["other"]}'
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$GW_PID/status"; }
# The mock's own counters (GET /mock/stats): "connections_accepted client_disconnects".
mock_stats() {
  curl -s --max-time 5 "http://127.0.0.1:$MOCK_PORT/mock/stats" |
    awk '{a = $0; sub(/.*"connections_accepted":/, "", a); sub(/[^0-9].*/, "", a);
          d = $0; sub(/.*"client_disconnects":/, "", d); sub(/[^0-9].*/, "", d); print a + 0, d + 0}' || true
}

STREAM_ARGS=(--mode stream --stream --connections "$CONNS" --streams-per-conn 0
  --duration "$STREAM_DURATION" --timeout 10s --expect-tokens "$TOKENS"
  --gap-threshold "${GAP_MS}ms" --header "x-mock-tokens: $TOKENS"
  --header "x-mock-token-interval-ms: $INTERVAL_MS" --header "x-mock-ttft-ms: 0")
RPS_ARGS=(--mode rps --connections "$CONNS" --duration "$RPS_DURATION" --warmup "$RPS_WARMUP"
  --timeout 10s)

# ---- Sanity and warm-up: two complete streams and a second of requests, configuration A.
taskset -c "$LOAD_CPU" "$BIN/infergate-loadgen" --json --url "http://127.0.0.1:$GW_PORT/v1/chat/completions" \
  --mode stream --stream --connections 2 --duration 5s --expect-tokens "$TOKENS" \
  --header "x-mock-tokens: $TOKENS" --header "x-mock-token-interval-ms: 1" >"$WORK/sanity.json" 2>/dev/null || true
[[ $(jnum "$WORK/sanity.json" streams_completed) == 2 ]] ||
  { echo "reload.sh: the sanity streams failed: $(cat "$WORK/sanity.json")" >&2; exit 1; }
taskset -c "$LOAD_CPU" "$BIN/infergate-loadgen" --json --url "http://127.0.0.1:$GW_PORT/v1/chat/completions" \
  --mode rps --connections "$CONNS" --duration 1s >/dev/null 2>&1 || true
# And one reload of each kind by hand: both must answer 200.
for v in B A; do
  cfg=CONFIG_$v
  r=$(reload_once "${!cfg}")
  [[ $(cut -f3 <<<"$r") == 200 ]] || { echo "reload.sh: a reload to $v answered: $r" >&2; exit 1; }
done

# run LOAD VARIANT REP: one measured run; its figures are recorded as LOAD VARIANT REP KEY VALUE.
run() {
  local load=$1 v=$2 rep=$3 f="$WORK/$1-$2-$3.json" args ok0 rej0 gen0 ok1 rej1 gen1 c0 c1 t0 t1 rss0 rss1 lg
  local st0 st1 m0 m1
  if [[ $load == stream ]]; then args=("${STREAM_ARGS[@]}"); else args=("${RPS_ARGS[@]}"); fi
  reset_to_a
  ok0=$(metric 'infergate_config_reloads_total{result="ok"}')
  rej0=$(metric 'infergate_config_reloads_total{result="rejected"}')
  gen0=$(metric infergate_config_generation)
  st0=$(metric infergate_gateway_stalls_total); m0=$(mock_stats)
  rss0=$(rss_kib); c0=$(thread_ns); t0=$(date +%s%N)
  taskset -c "$LOAD_CPU" "$BIN/infergate-loadgen" --json \
    --url "http://127.0.0.1:$GW_PORT/v1/chat/completions" "${args[@]}" >"$f" 2>"$f.err" &
  lg=$!; PIDS+=("$lg")
  if [[ $v == b ]]; then
    reload_loop "$WORK/$load-$v-$rep.reloads.tsv" "$lg" &
    local rl=$!; PIDS+=("$rl")
  fi
  wait "$lg" || note "$load ($v) rep $rep: the load generator exited with status $?"
  [[ $v == b ]] && { wait "$rl" || true; }
  t1=$(date +%s%N); c1=$(thread_ns); rss1=$(rss_kib)
  ok1=$(metric 'infergate_config_reloads_total{result="ok"}')
  rej1=$(metric 'infergate_config_reloads_total{result="rejected"}')
  gen1=$(metric infergate_config_generation)
  st1=$(metric infergate_gateway_stalls_total); m1=$(mock_stats)
  [[ -s $f ]] || echo '{}' >"$f"
  r() { record "$load" "$v" "$rep" "$1" "$2"; }
  r wall_s "$(awk -v n=$((t1 - t0)) 'BEGIN{printf "%.2f", n / 1e9}')"
  r elapsed_s "$(jnum "$f" elapsed_s)"
  r errors "$(jnum "$f" errors)"
  r error_kinds "$(error_kinds "$f")"
  if [[ $load == stream ]]; then
    r completed "$(jnum "$f" streams_completed)"
    r started "$(jnum "$f" streams_started)"
    r cut_at_end "$(jnum "$f" streams_cut_at_end)"
    r tokens "$(jnum "$f" tokens)"
    r gaps_over "$(jnum "$f" gaps_over_threshold)"
    local k
    for k in p50 p99 p999 max; do
      r "ttft_$k" "$(ms "$(jnum "$f" ttft_us "$k")")"
      r "gap_$k" "$(ms "$(jnum "$f" gap_us "$k")")"
    done
  else
    r completed "$(jnum "$f" requests)"
    local k
    for k in p50 p99 p999 max; do r "lat_$k" "$(ms "$(jnum "$f" latency_us "$k")")"; done
  fi
  r rate "$(awk -v n="$(jnum "$f" "$([[ $load == stream ]] && echo streams_completed || echo requests)")" \
    -v s="$(jnum "$f" elapsed_s)" 'BEGIN{printf "%.1f", (s > 0 ? n / s : 0)}')"
  r metric_ok "$((${ok1:-0} - ${ok0:-0}))"
  r metric_rejected "$((${rej1:-0} - ${rej0:-0}))"
  r generation "${gen0:-?}→${gen1:-?}"
  r gen_delta "$((${gen1:-0} - ${gen0:-0}))"
  r rss_kib "$rss0 $rss1"
  # New connections the mock accepted (the gateway's pool and its health checks) and the
  # exchanges the mock saw abandoned by the gateway, over the run.
  r mock_conns "$(awk -v a="$m0" -v b="$m1" 'BEGIN{split(a, x, " "); split(b, y, " "); print y[1] - x[1]}')"
  r mock_disconnects "$(awk -v a="$m0" -v b="$m1" 'BEGIN{split(a, x, " "); split(b, y, " "); print y[2] - x[2]}')"
  # infergate_gateway_stalls_total: the health thread saw the gateway itself stall (a starved
  # machine: here, most likely the other work on it).
  r stalls "$((${st1:-0} - ${st0:-0}))"
  # CPU by thread over the run: main admin health workers other (ms), and % of one CPU.
  local cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v ns=$((t1 - t0)) 'BEGIN{
    split(a, x, " "); split(b, y, " "); t = 0; s = "";
    for (i = 1; i <= 5; i++) { d = (y[i] - x[i]) / 1e6; t += d; s = s sprintf("%.0f ", d) }
    printf "%s%.0f %.0f", s, t, 100 * t / (ns / 1e6) }')
  r cpu_ms "$cpu"
  if [[ $v == b ]]; then
    local tsv="$WORK/$load-$v-$rep.reloads.tsv"
    r posts "$(wc -l <"$tsv")"
    r posts_200 "$(awk -F'\t' '$3 == 200 && $4 == "reloaded"' "$tsv" | wc -l)"
    r posts_warn "$(awk -F'\t' '$6 != "-" && $6 != ""' "$tsv" | wc -l)"
    # The POST's round trip (connect to the end of the answer), ms: p50 p99 max.
    r post_ms "$(awk -F'\t' '{printf "%.3f\n", ($2 - $1) * 1000}' "$tsv" | sort -g |
      awk '{v[NR] = $1} END {if (NR == 0) {print "- - -"; exit}
        i50 = int(NR * 0.5 + 0.5); i99 = int(NR * 0.99 + 0.5); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
        printf "%.2f %.2f %.2f", v[i50], v[i99], v[NR]}')"
    # Reloads per second of the run, from the first POST to the last answer.
    r reload_hz "$(awk -F'\t' 'NR == 1 {a = $1} {b = $2; n++} END {printf "%.1f", (b > a ? n / (b - a) : 0)}' "$tsv")"
    local bad
    bad=$(awk -F'\t' '$3 != 200 || $4 != "reloaded"' "$tsv" | head -3 | tr '\t\n' ' ;')
    [[ -n $bad ]] && note "$load (b) rep $rep: reload answers other than 200 reloaded: $bad"
    # Generations must follow each other: each answer one above the previous.
    local skips
    skips=$(awk -F'\t' '$5 ~ /^[0-9]+$/ {if (p != "" && $5 != p + 1) n++; p = $5} END {print n + 0}' "$tsv")
    ((skips == 0)) || note "$load (b) rep $rep: $skips reload answers whose generation was not the previous one + 1"
  fi
  log "$load ($v) rep $rep: $(jnum "$f" "$([[ $load == stream ]] && echo streams_completed || echo requests)") done, $(jnum "$f" errors) errors, $((${ok1:-0} - ${ok0:-0})) reloads (metric)"
}

LOADS=()
want stream && LOADS+=(stream)
want rps && LOADS+=(rps)
for rep in $(seq 1 "$REPS"); do
  for load in "${LOADS[@]}"; do
    for v in $(order "$rep" a b); do run "$load" "$v" "$rep"; done
  done
done
RUN_SECONDS=$(($(date +%s) - RUN_START))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
kill -0 "$GW_PID" 2>/dev/null || note "infergate exited during the run"
n=$(grep -ciE ' (warn|error|crit)' "$WORK/infergate.log" || true)
((${n:-0} == 0)) || note "infergate logged $n warning/error lines, e.g.: $(grep -iE ' (warn|error|crit)' "$WORK/infergate.log" | head -2 | cut -c1-200 | tr '\n' ' ')"
n=$(grep -c 'reloaded ' "$WORK/infergate.log" || true)
note "infergate logged $n 'reloaded' lines in all (the runs, the resets to A and 2 sanity reloads)"

# ---- Report.
get() { awk -F'\t' -v l="$1" -v v="$2" -v r="$3" -v k="$4" '$1 == l && $2 == v && $3 == r && $4 == k {print $5}' "$RESULTS"; }
sum() {  # sum LOAD VARIANT KEY: over repetitions
  awk -F'\t' -v l="$1" -v v="$2" -v k="$3" '$1 == l && $2 == v && $4 == k {s += $5} END {print s + 0}' "$RESULTS"
}
med() {  # med LOAD VARIANT KEY: median over repetitions
  awk -F'\t' -v l="$1" -v v="$2" -v k="$3" '$1 == l && $2 == v && $4 == k {print $5}' "$RESULTS" | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) {print 0; exit} print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a > 0 && b > 0) printf "%.2f×", a / b; else print "–" }'; }
label() { [[ $1 == a ]] && echo "(a) no reloads" || echo "(b) reload every ~$(awk -v p="$PAUSE" 'BEGIN{print p * 1000}') ms"; }
reloads_cell() {  # LOAD VARIANT REP: "POSTs 200 / sent; metric ok (rejected); generation"
  [[ $2 == a ]] && { echo "0 / 0; metric $(get "$1" a "$3" metric_ok) ($(get "$1" a "$3" metric_rejected)); gen $(get "$1" a "$3" generation)"; return; }
  echo "$(get "$1" b "$3" posts_200) / $(get "$1" b "$3" posts); metric $(get "$1" b "$3" metric_ok) ($(get "$1" b "$3" metric_rejected)); gen $(get "$1" b "$3" generation); $(get "$1" b "$3" reload_hz)/s"
}
cpu_cell() {  # LOAD VARIANT REP: "total % (workers / main / admin / health ms)"
  local m a h w t p
  read -r m a h w _ t p <<<"$(get "$1" "$2" "$3" cpu_ms)"
  echo "$p% (workers $w, main $m, admin $a, health $h ms)"
}
rss_cell() { local x y; read -r x y <<<"$(get "$1" "$2" "$3" rss_kib)"; awk -v x="$x" -v y="$y" 'BEGIN{printf "%.1f → %.1f", x / 1024, y / 1024}'; }
errs_cell() { local e k; e=$(get "$1" "$2" "$3" errors); k=$(get "$1" "$2" "$3" error_kinds); [[ $e == 0 ]] && echo 0 || echo "$e ($k)"; }

cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
ver_infergate=$("$BIN/infergate" --version 2>&1 | head -1)
ver_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || ver_git="$ver_git + uncommitted changes in src/include"
NICE=$(awk '{print $19}' /proc/$$/stat)

mkdir -p "$(dirname "$OUT")"
{
  echo "# infergate: the cost of hot reloads under load, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "Produced by \`$COMMAND\` in ${RUN_SECONDS}s ($REPS repetition(s), the order of (a) and (b)"
  echo "alternating). One infergate-mock, one infergate with 2 workers in front of it (one pool, health"
  echo "checks at the default 250 ms, one route with a compartment), loopback only."
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| CPU | $cpu_model, $NCPU CPUs |"
  echo "| kernel | $(uname -sr) |"
  echo "| pinning | infergate (2 workers) on CPUs $ALL_CPUS; mock, load generator and reload driver on CPU $LOAD_CPU |"
  echo "| niceness of the run | $NICE |"
  echo "| load average (1, 5, 15 min) | $LOAD_START at the start, $LOAD_END at the end |"
  echo "| infergate | $ver_infergate (git $ver_git, $BUILD_TYPE) |"
  echo
  if [[ $SAME == 1 ]]; then
    echo "**Control run (RELOAD_SAME=1):** (b) rewrites the -c file with configuration A, unchanged, every"
    echo "~$(awk -v p="$PAUSE" 'BEGIN{print p * 1000}') ms, then \`POST /admin/reload\`, then pauses ${PAUSE} s: reloads that change nothing."
  else
    echo "What (b) does, every ~$(awk -v p="$PAUSE" 'BEGIN{print p * 1000}') ms while the load runs: rewrite the -c file in place with configuration B"
    echo "or A in turn, then \`POST /admin/reload\` on the admin listener and wait for its answer, then pause"
    echo "${PAUSE} s (bash builtins only: no process is started per reload). B differs from A in: a second"
    echo "compartment and a second route (GET /v1/models), the chat compartment's max_concurrent 256 → 128"
    echo "and max_queue 0 → 64, the route's retries 1 → 0, the pool's load_balancing least_request →"
    echo "round_robin, max_idle_connections 128 → 64 and connect_timeout 2s → 1s. Every run starts from A."
  fi
  echo
  if want stream; then
    echo "## Streaming"
    echo
    echo "\`infergate-loadgen ${STREAM_ARGS[*]}\`: $CONNS connections, each streaming again as soon"
    echo "as its stream ends; a stream is complete with exactly $TOKENS tokens and its end (anything else"
    echo "is an error: short_stream, reset, ...); a gap is the time between two tokens at the client"
    echo "(the mock sends one every $INTERVAL_MS ms). Cut at end = streams still open when the run stopped (not errors)."
    echo
    echo "| run | rep | streams complete | streams/s | errors | cut at end | gaps > ${GAP_MS} ms | TTFT p50 / p99 / max ms | gap p50 / p99 / p99.9 / max ms | reloads: 200 answers / POSTs; metric ok (rejected); generation | POST round trip p50 / p99 / max ms | gateway CPU | RSS MiB | mock: new conns / disconnects | gateway stalls |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for rep in $(seq 1 "$REPS"); do
      for v in a b; do
        post="–"; [[ $v == b ]] && post=$(get stream b "$rep" post_ms | sed 's# # / #g')
        echo "| $(label "$v") | $rep | $(get stream "$v" "$rep" completed) | $(get stream "$v" "$rep" rate) | $(errs_cell stream "$v" "$rep") | $(get stream "$v" "$rep" cut_at_end) | $(get stream "$v" "$rep" gaps_over) | $(get stream "$v" "$rep" ttft_p50) / $(get stream "$v" "$rep" ttft_p99) / $(get stream "$v" "$rep" ttft_max) | $(get stream "$v" "$rep" gap_p50) / $(get stream "$v" "$rep" gap_p99) / $(get stream "$v" "$rep" gap_p999) / $(get stream "$v" "$rep" gap_max) | $(reloads_cell stream "$v" "$rep") | $post | $(cpu_cell stream "$v" "$rep") | $(rss_cell stream "$v" "$rep") | $(get stream "$v" "$rep" mock_conns) / $(get stream "$v" "$rep" mock_disconnects) | $(get stream "$v" "$rep" stalls) |"
      done
    done
    echo
    echo "Ratios (b)/(a), medians over repetitions: streams/s $(ratio "$(med stream b rate)" "$(med stream a rate)"),"
    echo "TTFT p99 $(ratio "$(med stream b ttft_p99)" "$(med stream a ttft_p99)"), gap p99 $(ratio "$(med stream b gap_p99)" "$(med stream a gap_p99)"),"
    echo "gap p99.9 $(ratio "$(med stream b gap_p999)" "$(med stream a gap_p999)"). Totals: (a) $(sum stream a completed) streams, $(sum stream a errors) errors,"
    echo "$(sum stream a gaps_over) gaps over ${GAP_MS} ms; (b) $(sum stream b completed) streams, $(sum stream b errors) errors, $(sum stream b gaps_over) gaps over ${GAP_MS} ms,"
    echo "$(sum stream b posts_200) of $(sum stream b posts) reloads answered 200, $(sum stream b metric_ok) counted ok and $(sum stream b metric_rejected) rejected by the metric."
    echo
  fi
  if want rps; then
    echo "## Non-streamed requests"
    echo
    echo "\`infergate-loadgen ${RPS_ARGS[*]}\`: closed loop, the ~300-byte chat completion, the mock"
    echo "answering at once (16 tokens, no delay)."
    echo
    echo "| run | rep | requests | req/s | errors | latency p50 / p99 / p99.9 / max ms | reloads: 200 answers / POSTs; metric ok (rejected); generation | POST round trip p50 / p99 / max ms | gateway CPU | RSS MiB | mock: new conns / disconnects | gateway stalls |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for rep in $(seq 1 "$REPS"); do
      for v in a b; do
        post="–"; [[ $v == b ]] && post=$(get rps b "$rep" post_ms | sed 's# # / #g')
        echo "| $(label "$v") | $rep | $(get rps "$v" "$rep" completed) | $(get rps "$v" "$rep" rate) | $(errs_cell rps "$v" "$rep") | $(get rps "$v" "$rep" lat_p50) / $(get rps "$v" "$rep" lat_p99) / $(get rps "$v" "$rep" lat_p999) / $(get rps "$v" "$rep" lat_max) | $(reloads_cell rps "$v" "$rep") | $post | $(cpu_cell rps "$v" "$rep") | $(rss_cell rps "$v" "$rep") | $(get rps "$v" "$rep" mock_conns) / $(get rps "$v" "$rep" mock_disconnects) | $(get rps "$v" "$rep" stalls) |"
      done
    done
    echo
    echo "Ratios (b)/(a), medians over repetitions: req/s $(ratio "$(med rps b rate)" "$(med rps a rate)"),"
    echo "latency p99 $(ratio "$(med rps b lat_p99)" "$(med rps a lat_p99)"), p99.9 $(ratio "$(med rps b lat_p999)" "$(med rps a lat_p999)"). Totals: (a) $(sum rps a errors) errors;"
    echo "(b) $(sum rps b errors) errors, $(sum rps b posts_200) of $(sum rps b posts) reloads answered 200, $(sum rps b metric_ok) counted ok and $(sum rps b metric_rejected) rejected by the metric."
    echo
  fi
  echo "Gateway CPU = its CPU time over the run's wall time (200% = both CPUs), split by thread (ms;"
  echo "main is the thread named infergate). The load generator reports the rate over its own elapsed"
  echo "time (rps: after the warm-up). Mock: new conns = connections the mock accepted during the run"
  echo "(the pool's and the health checks'), disconnects = exchanges it saw the gateway abandon. Gateway"
  echo "stalls = infergate_gateway_stalls_total over the run (its health thread saw the whole process"
  echo "stall: a starved machine)."
  echo
  bench_tail "load, run, repetition, key, value"
} >"$OUT"
log "wrote $OUT (${RUN_SECONDS}s)"
