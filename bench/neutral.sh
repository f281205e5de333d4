# shellcheck shell=bash disable=SC2016  # awk programs in single quotes, on purpose
# bench/neutral.sh: the `neutral` scenario of bench/run.sh (issue 18; sourced by it after its
# durations are set; the functions use run.sh's render, wait_for, port_busy, cpu_ticks, record,
# note, stats, added, cell, ratio and PORT/PEERS/PEER_LABEL/UNAVAILABLE). The set-up a reviewer
# would build without the project's own tools: wrk as the client and a second nginx answering
# fixed responses (peers/nginx-static.conf.template) as the backend, nginx, HAProxy and infergate
# in front of it with their usual templates (the upstream port changed). See bench/README.md.
#
#   9a. Throughput: wrk -t1 -c64 --latency -s peers/wrk-chat.lua, the ~300-byte chat completion;
#       req/s, p50/p99, socket errors and non-2xx answers, proxy and backend CPU %.
#   9b. Added latency at concurrency 1: wrk -t1 -c1 --latency; p50/p99 minus direct's (the same
#       repetition).
#   9c. SSE relay: wrk -t1 -c16 -s peers/wrk-sse.lua, each response NEUTRAL_SSE_EVENTS
#       chat.completion.chunk events and [DONE]; the proxy's CPU time (utime + stime of its
#       process tree) over the events relayed, in µs per event.
# Rows: direct (wrk to the static nginx), the 1-worker proxies pinned to CPU PROXY_CPU (wrk and
# the backend on LOAD_CPU), and the 2-worker rows (nginx worker_processes 2, HAProxy nbthread 2,
# infergate --workers 2) on every CPU, sharing LOAD_CPU with wrk and the backend.

NEUTRAL_TP_DURATION=4; NEUTRAL_LAT_DURATION=3; NEUTRAL_SSE_DURATION=4  # seconds (wrk -d, whole)
if [[ $QUICK == 1 ]]; then NEUTRAL_TP_DURATION=2; NEUTRAL_LAT_DURATION=2; NEUTRAL_SSE_DURATION=2; fi
NEUTRAL_CONNS=64                     # 9a: wrk -c
NEUTRAL_SSE_CONNS=16                 # 9c: wrk -c
NEUTRAL_SSE_EVENTS=64                # 9c: chunk events per response ([DONE] not counted)
NEUTRAL_WORKERS=2                    # the multi-worker rows
NEUTRAL_ROWS=()                      # the rows wanted (from --peers)
NEUTRAL_TARGETS=()                   # the rows measured (direct, proxies that passed the checks)
NEUTRAL_SSE_BYTES=0                  # the backend's SSE body, bytes
NEUTRAL_SKIPPED=""                   # why the scenario did not run at all, for the report
declare -A NEUTRAL_PID=() NEUTRAL_PORT=()

# neutral_base TARGET: the peer a row is made of (nginx-2w -> nginx, infergate-2w -> infergate-1w).
neutral_base() {
  case "$1" in
    infergate-2w) echo infergate-1w ;;
    *-2w) echo "${1%-2w}" ;;
    *) echo "$1" ;;
  esac
}
neutral_label() {
  local l base
  base=$(neutral_base "$1")
  case "$1" in
    direct) l="direct: wrk to the static nginx (no proxy)" ;;
    nginx-2w) l="nginx, $NEUTRAL_WORKERS workers (unpinned)" ;;
    haproxy-2w) l="HAProxy, $NEUTRAL_WORKERS threads (unpinned)" ;;
    infergate-2w) l="infergate, $NEUTRAL_WORKERS workers (unpinned)" ;;
    *) l=${PEER_LABEL[$1]} ;;
  esac
  if [[ -n ${UNAVAILABLE[$base]:-} ]]; then l+=": unavailable: ${UNAVAILABLE[$base]}"
  elif [[ " ${NEUTRAL_TARGETS[*]} " != *" $1 "* ]]; then l+=": not measured (see the notes)"; fi
  echo "$l"
}
neutral_url() { echo "http://127.0.0.1:${NEUTRAL_PORT[$1]}/v1/chat/completions"; }
# neutral_ref TARGET PEER: the row a ratio column divides by (the same worker count).
neutral_ref() { if [[ $1 == *-2w ]]; then echo "$2-2w"; else echo "$2"; fi; }

# neutral_static: the backend, one nginx worker on LOAD_CPU. Sets NEUTRAL_PID[direct].
neutral_static() {
  local dir="$WORK/neutral-static" port=${NEUTRAL_PORT[direct]} chunks="" i pid
  rm -rf "$dir"; mkdir -p "$dir"
  for ((i = 1; i < NEUTRAL_SSE_EVENTS; i++)); do chunks+='${c}'; done
  render "$ROOT/bench/peers/nginx-static.conf.template" "$dir/nginx.conf" "DIR=$dir" \
    "PORT=$port" "WORKER_CONNECTIONS=$NOFILE" "SSE_EVENTS=$NEUTRAL_SSE_EVENTS" \
    "SSE_TOKENS=$((NEUTRAL_SSE_EVENTS - 1))" "SSE_TOTAL=$((42 + NEUTRAL_SSE_EVENTS - 1))" \
    "SSE_CHUNKS=$chunks"
  taskset -c "$LOAD_CPU" nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  if ! wait_for 10 port_busy "$port" || ! kill -0 "$pid" 2>/dev/null; then
    NEUTRAL_SKIPPED="the static nginx backend did not start: $(tail -c 300 "$dir/stdout.log" "$dir/nginx-error.log" 2>/dev/null | tr '\n' ' ')"
    return 1
  fi
  NEUTRAL_PID[direct]=$pid
}

# neutral_start TARGET: a fresh proxy with the static nginx as its upstream; 1-worker rows on
# PROXY_CPU, 2-worker rows on ALL_CPUS. Sets NEUTRAL_PID[TARGET] (0 when it did not start).
neutral_start() {
  local t=$1 base dir="$WORK/neutral-$1" port=${NEUTRAL_PORT[$1]} up=${NEUTRAL_PORT[direct]}
  local workers=1 cpus=$PROXY_CPU pid bin
  base=$(neutral_base "$t")
  [[ $t == *-2w ]] && { workers=$NEUTRAL_WORKERS; cpus=$ALL_CPUS; }
  NEUTRAL_PID[$t]=0
  rm -rf "$dir"; mkdir -p "$dir"
  case "$base" in
    nginx)
      render "$ROOT/bench/peers/nginx.conf.template" "$dir/nginx.conf" "DIR=$dir" "PORT=$port" \
        "UPSTREAM_PORT=$up" "WORKER_CONNECTIONS=$NOFILE" "WORKERS=$workers" "HTTP2="
      taskset -c "$cpus" nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
    haproxy)
      render "$ROOT/bench/peers/haproxy.cfg.template" "$dir/haproxy.cfg" "DIR=$dir" "PORT=$port" \
        "UPSTREAM_PORT=$up" "MAXCONN=$(((NOFILE - 200) / 2))" "WORKERS=$workers" "BIND_PROTO="
      taskset -c "$cpus" haproxy -db -f "$dir/haproxy.cfg" >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
    infergate-1w|infergate-base)
      bin=$BIN/infergate
      [[ $base == infergate-base ]] && bin=$BASE_BIN
      render "$ROOT/bench/peers/infergate.yaml.template" "$dir/infergate.yaml" "PORT=$port" \
        "ADMIN_PORT=$((port + 100))" "UPSTREAM_PORT=$up"
      taskset -c "$cpus" "$bin" -c "$dir/infergate.yaml" --workers "$workers" \
        --log-level warn >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
  esac
  PIDS+=("$pid")
  local why
  if ! why=$(started "$pid" "$port" "$dir"); then
    note "neutral: $t left out: $why"
    return 0
  fi
  NEUTRAL_PID[$t]=$pid
}

neutral_stop() {
  local pid=${NEUTRAL_PID[$1]:-0}
  [[ $pid == 0 ]] && return 0
  stop_pid "$pid"
  NEUTRAL_PID[$1]=0
}

# neutral_check TARGET: one plain and one SSE request through the row with curl; the answers
# must be the backend's (200, a chat.completion; text/event-stream with every event and [DONE]).
# Prints why not, nothing when they are.
neutral_check() {
  local t=$1 f="$WORK/neutral-check-$1" plain sse
  plain=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$ROOT/bench/peers/wrk-chat.lua")
  sse=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$ROOT/bench/peers/wrk-sse.lua")
  curl -s -m 5 -o "$f.json" -w '%{http_code}' -H 'content-type: application/json' -d "$plain" \
    "$(neutral_url "$t")" >"$f.code" 2>&1 || true
  if [[ $(cat "$f.code") != 200 ]] || ! grep -q '"object":"chat.completion"' "$f.json"; then
    echo "plain request: HTTP $(cat "$f.code"), $(head -c 150 "$f.json" | tr '\n' ' ')"; return 0
  fi
  curl -s -N -m 5 -D "$f.head" -o "$f.sse" -H 'content-type: application/json' \
    -H 'x-bench-sse: 1' -H 'accept: text/event-stream' -d "$sse" "$(neutral_url "$t")" \
    >/dev/null 2>&1 || true
  local events done_ type
  events=$(grep -c '^data: {' "$f.sse" 2>/dev/null || true)
  done_=$(grep -c '^data: \[DONE\]' "$f.sse" 2>/dev/null || true)
  type=$(grep -i '^content-type:' "$f.head" 2>/dev/null | head -1 | tr -d '\r' | cut -d' ' -f2-)
  if [[ ${events:-0} != "$NEUTRAL_SSE_EVENTS" || ${done_:-0} != 1 || $type != text/event-stream* ]]; then
    echo "SSE request: ${events:-0} of $NEUTRAL_SSE_EVENTS events, [DONE] ${done_:-0} time(s), content-type '$type' ($(head -1 "$f.head" 2>/dev/null | tr -d '\r'))"
  fi
}

# neutral_wrk OUT TARGET CONNS SECONDS LUA: wrk on LOAD_CPU, bounded by timeout.
neutral_wrk() {
  taskset -c "$LOAD_CPU" timeout $(($4 + 30)) wrk -t1 -c"$3" -d"$4s" --timeout 5s --latency \
    -s "$ROOT/bench/peers/$5" "$(neutral_url "$2")" >"$1" 2>&1 || true
}
neutral_wrk_cmd() { echo "wrk -t1 -c$1 -d$2s --timeout 5s --latency -s bench/peers/$3 http://127.0.0.1:PORT/v1/chat/completions"; }

# neutral_parse FILE: "rps requests p50_us p99_us socket_errors non2xx" from wrk's text output
# (empty when wrk printed no result).
neutral_parse() {
  awk 'function us(v,  u) { u = v; sub(/^[0-9.]+/, "", u); v += 0
         return u == "us" ? v : (u == "ms" ? v * 1000 : (u == "s" ? v * 1e6 : (u == "m" ? v * 6e7 : -1))) }
    /^Requests\/sec:/ {rps = $2}
    / requests in / {n = $1}
    /^ +50% / {p50 = us($2)}
    /^ +99% / {p99 = us($2)}
    /Socket errors:/ {se = $4 + $6 + $8 + $10}
    /Non-2xx or 3xx responses:/ {non = $5}
    END {if (rps != "") print rps, n + 0, p50 + 0, p99 + 0, se + 0, non + 0}' "$1"
}

# neutral_run KIND TARGET REP: one wrk run (tp, lat or sse) with the proxy's and the backend's CPU
# time around it; records neutral KIND_* figures.
neutral_run() {
  local kind=$1 t=$2 rep=$3 f="$WORK/neutral-$1-$2-$3.txt" pid=${NEUTRAL_PID[$2]:-0}
  local back=${NEUTRAL_PID[direct]} c0=0 c1 b0 b1 t0 t1 r
  [[ $t != direct ]] && c0=$(cpu_ticks "$pid")
  b0=$(cpu_ticks "$back"); t0=$(date +%s%N)
  case "$kind" in
    tp) neutral_wrk "$f" "$t" "$NEUTRAL_CONNS" "$NEUTRAL_TP_DURATION" wrk-chat.lua ;;
    lat) neutral_wrk "$f" "$t" 1 "$NEUTRAL_LAT_DURATION" wrk-chat.lua ;;
    sse) neutral_wrk "$f" "$t" "$NEUTRAL_SSE_CONNS" "$NEUTRAL_SSE_DURATION" wrk-sse.lua ;;
  esac
  t1=$(date +%s%N); b1=$(cpu_ticks "$back")
  r=$(neutral_parse "$f")
  if [[ -z $r ]]; then
    note "neutral: $kind $t repetition $rep: wrk printed no result: $(tail -3 "$f" | tr '\n' ' ' | cut -c1-200)"
    record neutral "${kind}_errors" "$t" "$rep" -1
    return 0
  fi
  local rps n p50 p99 se non
  read -r rps n p50 p99 se non <<<"$r"
  record neutral "${kind}_rps" "$t" "$rep" "$rps"
  record neutral "${kind}_requests" "$t" "$rep" "$n"
  record neutral "${kind}_p50_us" "$t" "$rep" "$p50"
  record neutral "${kind}_p99_us" "$t" "$rep" "$p99"
  record neutral "${kind}_errors" "$t" "$rep" "$se"
  record neutral "${kind}_non2xx" "$t" "$rep" "$non"
  record neutral "${kind}_backend_cpu_pct" "$t" "$rep" \
    "$(awk -v c=$((b1 - b0)) -v hz="$CLK_TCK" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100*c/hz/(ns/1e9)}')"
  if [[ $t != direct ]]; then
    c1=$(cpu_ticks "$pid")
    record neutral "${kind}_cpu_pct" "$t" "$rep" \
      "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100*c/hz/(ns/1e9)}')"
    # The proxy's CPU time per request, and for SSE per chunk event, of the responses wrk
    # completed (the figure least moved by other processes taking the proxy's core).
    record neutral "${kind}_cpu_us_per_req" "$t" "$rep" \
      "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN{printf "%.2f", (n > 0 ? 1e6*c/hz/n : 0)}')"
    [[ $kind == sse ]] && record neutral sse_cpu_us_per_event "$t" "$rep" \
      "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" -v e="$NEUTRAL_SSE_EVENTS" 'BEGIN{printf "%.3f", (n > 0 ? 1e6*c/hz/(n*e) : 0)}')"
  fi
  ((se + non > 0)) && note "neutral: $kind $t repetition $rep: wrk saw $se socket errors, $non non-2xx answers ($(grep -E 'Socket errors|Non-2xx' "$f" | sed 's/^ *//' | tr '\n' ';'))"
  [[ $kind == sse ]] && record neutral sse_events_s "$t" "$rep" \
    "$(awk -v r="$rps" -v e="$NEUTRAL_SSE_EVENTS" 'BEGIN{printf "%.0f", r*e}')"
  log "neutral $kind rep $rep $t: $rps req/s, p50 $p50 us, p99 $p99 us, $se socket errors, $non non-2xx"
}

scenario_neutral() {
  local p t rep kind
  command -v wrk >/dev/null || NEUTRAL_SKIPPED="wrk not installed (apt-get install wrk)"
  command -v nginx >/dev/null || NEUTRAL_SKIPPED="${NEUTRAL_SKIPPED:+$NEUTRAL_SKIPPED; }nginx not installed (the backend is nginx)"
  command -v curl >/dev/null || NEUTRAL_SKIPPED="${NEUTRAL_SKIPPED:+$NEUTRAL_SKIPPED; }curl not installed (the checks use it)"
  if [[ -n $NEUTRAL_SKIPPED ]]; then note "neutral skipped: $NEUTRAL_SKIPPED"; return 0; fi
  NEUTRAL_PORT=([direct]=$((PORT_BASE + 7)) [nginx]=${PORT[nginx]} [haproxy]=${PORT[haproxy]}
    [infergate-1w]=${PORT[infergate-1w]} [infergate-base]=${PORT[infergate-base]}
    [nginx-2w]=$((PORT_BASE + 8)) [haproxy-2w]=$((PORT_BASE + 9)) [infergate-2w]=$((PORT_BASE + 10)))
  neutral_static || { note "neutral skipped: $NEUTRAL_SKIPPED"; return 0; }
  local why
  why=$(neutral_check direct)
  if [[ -n $why ]]; then
    NEUTRAL_SKIPPED="the static nginx backend answered wrong: $why"
    note "neutral skipped: $NEUTRAL_SKIPPED"; neutral_stop direct; return 0
  fi
  NEUTRAL_SSE_BYTES=$(wc -c <"$WORK/neutral-check-direct.sse")
  # The rows: the listed peers with 1 worker, then the 2-worker rows of nginx, HAProxy and
  # infergate (when nginx, haproxy, infergate-1w or infergate-all is listed).
  for p in "${PEERS[@]}"; do
    case "$p" in
      direct|nginx|haproxy|infergate-base|infergate-1w) NEUTRAL_ROWS+=("$p") ;;
      portkey) note "neutral: portkey left out (it needs its x-portkey-* headers and an OpenAI provider; the scenario is wrk with one fixed request)" ;;
    esac
  done
  [[ " ${PEERS[*]} " == *" nginx "* ]] && NEUTRAL_ROWS+=(nginx-2w)
  [[ " ${PEERS[*]} " == *" haproxy "* ]] && NEUTRAL_ROWS+=(haproxy-2w)
  [[ " ${PEERS[*]} " == *" infergate-1w "* || " ${PEERS[*]} " == *" infergate-all "* ]] && NEUTRAL_ROWS+=(infergate-2w)
  ((NCPU < 2)) && note "neutral: one CPU: the 2-worker rows share it with everything else"
  for t in "${NEUTRAL_ROWS[@]}"; do
    if [[ $t != direct ]]; then
      [[ -n ${UNAVAILABLE[$(neutral_base "$t")]:-} ]] && continue
      neutral_start "$t"
      [[ ${NEUTRAL_PID[$t]} == 0 ]] && continue
    fi
    # Sanity and warm-up: the backend's answers come through unchanged.
    why=$(neutral_check "$t")
    if [[ -n $why ]]; then
      note "neutral: $t left out: $why"
      neutral_stop "$t"
      continue
    fi
    NEUTRAL_TARGETS+=("$t")
  done
  log "neutral: rows ${NEUTRAL_TARGETS[*]}; backend on 127.0.0.1:${NEUTRAL_PORT[direct]}"
  for kind in tp lat sse; do
    for rep in $(seq 1 "$REPS"); do
      for t in $(order "$rep" "${NEUTRAL_TARGETS[@]}"); do neutral_run "$kind" "$t" "$rep"; done
    done
  done
  for t in "${NEUTRAL_TARGETS[@]}"; do
    [[ $t == direct ]] && continue
    local n
    n=$(cat "$WORK/neutral-$t"/*.log 2>/dev/null | grep -ciE 'error|warn|crit|alert|emerg' || true)
    if ((${n:-0} > 0)); then
      note "neutral: $t logged $n warning/error lines, e.g.: $(cat "$WORK/neutral-$t"/*.log 2>/dev/null | grep -iE 'error|warn|crit|alert|emerg' | head -1 | cut -c1-200 || true)"
    fi
    kill -0 "${NEUTRAL_PID[$t]}" 2>/dev/null || note "neutral: $t exited during the run"
    if [[ $t == infergate-* ]]; then
      local errs
      errs=$(curl -s -m 2 "http://127.0.0.1:$((${NEUTRAL_PORT[$t]} + 100))/metrics" 2>/dev/null |
        awk '/^infergate_errors_total\{/ && $2 > 0 {printf "%s%s %s", sep, $1, $2; sep = ", "}')
      [[ -n $errs ]] && note "neutral: $t's error counters after the runs: $errs (wrk stops with requests in flight: up to $(((NEUTRAL_CONNS + 1 + NEUTRAL_SSE_CONNS) * REPS)) client aborts over $REPS repetition(s) are expected)"
    fi
    neutral_stop "$t"
  done
  neutral_stop direct
}

# ---- Report section (run.sh prints it inside its report when neutral ran).
neutral_sum() {  # neutral_sum METRIC TARGET: the sum over repetitions
  awk -F'\t' -v m="$1" -v p="$2" '$1 == "neutral" && $2 == m && $3 == p {s += $5} END {print s + 0}' "$RESULTS"
}
# neutral_errors KIND TARGET: "socket errors / non-2xx", bold with a flag when not 0 / 0.
neutral_errors() {
  local se non
  se=$(neutral_sum "${1}_errors" "$2"); non=$(neutral_sum "${1}_non2xx" "$2")
  if [[ $se == 0 && $non == 0 ]]; then echo "0 / 0"; else echo "**$se / $non** ⚠"; fi
}
# neutral_ratio STATS METRIC TARGET PEER [ADDED]: STATS' median over the same-worker-count PEER
# row's (added figures when ADDED=1); "–" for the reference itself, direct, or a missing row.
neutral_ratio() {
  local s=$1 metric=$2 t=$3 ref
  ref=$(neutral_ref "$t" "$4")
  [[ $t == direct || $t == "$ref" || " ${NEUTRAL_TARGETS[*]} " != *" $ref "* ]] && { echo "–"; return; }
  if [[ ${5:-0} == 1 ]]; then ratio "$s" "$(added neutral "$metric" "$ref")"
  else ratio "$s" "$(stats neutral "$metric" "$ref")"; fi
}

report_neutral() {
  echo "## 9. Neutral set-up: wrk against a static nginx backend"
  echo
  if [[ -n $NEUTRAL_SKIPPED ]]; then echo "Not run: $NEUTRAL_SKIPPED."; echo; return 0; fi
  echo "No project tool in the path: the client is wrk ($ver_wrk, Debian's \`wrk\`), the backend a second"
  echo "nginx (1 worker, \`peers/nginx-static.conf.template\`) answering every POST /v1/chat/completions"
  echo "with a fixed ~330-byte chat.completion, or, with the header \`x-bench-sse: 1\`, a fixed"
  echo "text/event-stream body of $NEUTRAL_SSE_EVENTS chat.completion.chunk events and \`data: [DONE]\`, written at once"
  echo "(Content-Length). The proxies are the templates of scenarios 1–3 with this backend as upstream;"
  echo "infergate routes on the body's \"model\":\"mock-model\". 1-worker rows: the proxy on CPU $PROXY_CPU, wrk and"
  echo "the backend on CPU $LOAD_CPU. ${NEUTRAL_WORKERS}-worker rows (nginx \`worker_processes $NEUTRAL_WORKERS\`, HAProxy \`nbthread $NEUTRAL_WORKERS\`,"
  echo "infergate \`--workers $NEUTRAL_WORKERS\`): not pinned, on CPUs $ALL_CPUS, so they share CPU $LOAD_CPU with wrk and the backend and"
  echo "are not proxy-bound figures. Before measuring, one plain and one SSE request with curl through"
  echo "each row must return the backend's answer unchanged (all $NEUTRAL_SSE_EVENTS events and [DONE], text/event-stream)."
  echo "Each wrk run is one measurement (no warm-up excluded); rows interleaved per repetition. Ratio"
  echo "columns: the row's median over nginx's / HAProxy's with the same worker count (for infergate"
  echo "rows, infergate/nginx and infergate/HAProxy). Errors: wrk's socket errors (connect, read, write,"
  echo "timeout) / non-2xx answers, summed over repetitions; ⚠ marks a row with any. CPU %: the"
  echo "process tree's CPU time over the run's wall time (100% = one core; a 2-worker row can reach 200%)."
  echo "Commands:"
  echo
  echo '```'
  neutral_wrk_cmd "$NEUTRAL_CONNS" "$NEUTRAL_TP_DURATION" wrk-chat.lua
  neutral_wrk_cmd 1 "$NEUTRAL_LAT_DURATION" wrk-chat.lua
  neutral_wrk_cmd "$NEUTRAL_SSE_CONNS" "$NEUTRAL_SSE_DURATION" wrk-sse.lua
  echo '```'
  echo
  local t s rows=("${NEUTRAL_ROWS[@]}")
  echo "### 9a. Throughput, $NEUTRAL_CONNS connections"
  echo
  echo "| peer | requests/s | ÷ nginx | ÷ HAProxy | p50 ms | p99 ms | errors | proxy CPU % | proxy CPU µs per request | ÷ nginx | ÷ HAProxy | backend CPU % |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for t in "${rows[@]}"; do
    s=$(stats neutral tp_rps "$t")
    [[ -z $s ]] && { echo "| $(neutral_label "$t") | – | – | – | – | – | $(neutral_errors tp "$t") | – | – | – | – | – |"; continue; }
    local u; u=$(stats neutral tp_cpu_us_per_req "$t")
    echo "| $(neutral_label "$t") | $(cell "$s" 0) | $(neutral_ratio "$s" tp_rps "$t" nginx) | $(neutral_ratio "$s" tp_rps "$t" haproxy) | $(cell "$(stats neutral tp_p50_us "$t" | awk '{print $1/1000, $2/1000, $3/1000, $4}')" 2) | $(cell "$(stats neutral tp_p99_us "$t" | awk '{print $1/1000, $2/1000, $3/1000, $4}')" 2) | $(neutral_errors tp "$t") | $(cell "$(stats neutral tp_cpu_pct "$t")" 0) | $(cell "$u" 1) | $(neutral_ratio "$u" tp_cpu_us_per_req "$t" nginx) | $(neutral_ratio "$u" tp_cpu_us_per_req "$t" haproxy) | $(cell "$(stats neutral tp_backend_cpu_pct "$t")" 0) |"
  done
  local direct verdict=yes slower=""
  direct=$(stats neutral tp_rps direct | awk '{print $1}')
  for t in "${rows[@]}"; do
    [[ $t == direct ]] && continue
    s=$(stats neutral tp_rps "$t" | awk '{print $1}')
    [[ -n $s && -n $direct ]] && awk -v a="$direct" -v b="$s" 'BEGIN{exit !(a <= b)}' && { verdict=no; slower+=" $t"; }
  done
  [[ -z $direct ]] && verdict="unknown (no direct row)"
  echo
  echo "Proxy CPU µs per request: the proxy's CPU time over the requests wrk completed (lower is better;"
  echo "the figure least moved when other processes take time from the proxy's core, which its CPU % shows)."
  echo
  echo "Check: direct rate $(fmt "${direct:-0}" 0) req/s > every proxy row's: **$verdict**${slower:+ (not above:$slower)}"
  echo
  echo "### 9b. Added latency at concurrency 1"
  echo
  echo "\`wrk -c1\`: one connection, one request at a time, ${NEUTRAL_LAT_DURATION} s. Added = the row's percentile minus direct's in"
  echo "the same repetition (µs); wrk's percentiles have 1 µs resolution."
  echo
  echo "| peer | p50 µs | added p50 µs | ÷ nginx | ÷ HAProxy | p99 µs | added p99 µs | ÷ nginx | ÷ HAProxy | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for t in "${rows[@]}"; do
    local s50 s99 a50 a99
    s50=$(stats neutral lat_p50_us "$t"); s99=$(stats neutral lat_p99_us "$t")
    [[ -z $s50 ]] && { echo "| $(neutral_label "$t") | – | – | – | – | – | – | – | – | $(neutral_errors lat "$t") |"; continue; }
    if [[ $t == direct ]]; then
      echo "| $(neutral_label "$t") | $(cell "$s50" 0) | 0 | – | – | $(cell "$s99" 0) | 0 | – | – | $(neutral_errors lat "$t") |"
      continue
    fi
    a50=$(added neutral lat_p50_us "$t"); a99=$(added neutral lat_p99_us "$t")
    echo "| $(neutral_label "$t") | $(cell "$s50" 0) | $(cell "$a50" 0) | $(neutral_ratio "$a50" lat_p50_us "$t" nginx 1) | $(neutral_ratio "$a50" lat_p50_us "$t" haproxy 1) | $(cell "$s99" 0) | $(cell "$a99" 0) | $(neutral_ratio "$a99" lat_p99_us "$t" nginx 1) | $(neutral_ratio "$a99" lat_p99_us "$t" haproxy 1) | $(neutral_errors lat "$t") |"
  done
  echo
  echo "### 9c. SSE relay: proxy CPU per event"
  echo
  echo "\`wrk -c$NEUTRAL_SSE_CONNS\` with \`peers/wrk-sse.lua\`, ${NEUTRAL_SSE_DURATION} s: every response is $NEUTRAL_SSE_EVENTS chunk events and [DONE]"
  echo "($NEUTRAL_SSE_BYTES bytes). CPU µs per event = the proxy's CPU time (utime + stime of its process tree, from"
  echo "/proc, in $CLK_TCK Hz ticks) over requests completed × $NEUTRAL_SSE_EVENTS; lower is better. The backend writes each"
  echo "body at once, so this is the cost of relaying (and, for infergate, parsing) events that arrive"
  echo "together, not of one wake-up per event."
  echo
  echo "| peer | responses/s | events/s | proxy CPU % | CPU µs per event | ÷ nginx | ÷ HAProxy | errors |"
  echo "|---|---|---|---|---|---|---|---|"
  for t in "${rows[@]}"; do
    s=$(stats neutral sse_rps "$t")
    [[ -z $s ]] && { echo "| $(neutral_label "$t") | – | – | – | – | – | – | $(neutral_errors sse "$t") |"; continue; }
    local e; e=$(stats neutral sse_cpu_us_per_event "$t")
    echo "| $(neutral_label "$t") | $(cell "$s" 0) | $(cell "$(stats neutral sse_events_s "$t")" 0) | $(cell "$(stats neutral sse_cpu_pct "$t")" 0) | $(cell "$e" 3) | $(neutral_ratio "$e" sse_cpu_us_per_event "$t" nginx) | $(neutral_ratio "$e" sse_cpu_us_per_event "$t" haproxy) | $(neutral_errors sse "$t") |"
  done
  echo
  local w
  for w in infergate-1w infergate-2w; do
    [[ " ${NEUTRAL_TARGETS[*]} " == *" $w "* ]] || continue
    local r=() m
    for m in tp_rps tp_cpu_us_per_req lat_p50_us sse_cpu_us_per_event; do
      local st a=0
      [[ $m == lat_* ]] && a=1
      if [[ $a == 1 ]]; then st=$(added neutral "$m" "$w"); else st=$(stats neutral "$m" "$w"); fi
      r+=("$(neutral_ratio "$st" "$m" "$w" nginx "$a") / $(neutral_ratio "$st" "$m" "$w" haproxy "$a")")
    done
    echo "**$(neutral_label "$w")** over nginx / HAProxy: requests/s ${r[0]} (higher is better); CPU per"
    echo "request ${r[1]}, added p50 at concurrency 1 ${r[2]}, SSE CPU per event ${r[3]} (lower is better)."
    echo
  done
}
