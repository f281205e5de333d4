# shellcheck shell=bash disable=SC2016  # awk programs in single quotes, on purpose
# bench/h2.sh: the `h2` scenario of bench/run.sh (sourced by it after its durations are set; the
# functions use run.sh's start_peer, stop_peer, cpu_ticks, record, note, stats, added, cell, ratio
# and row_label). HTTP/2 cleartext with prior knowledge from the client to each proxy, HTTP/1.1
# keep-alive from each proxy to the same infergate-mock. See bench/README.md.
#
#   6a. Throughput: h2load POSTs the ~300-byte non-streamed chat completion on H2_CONNS
#       connections with 1, 10 and 100 streams each, duration-based with a warm-up; req/s,
#       failed/errored/timed-out requests, non-2xx answers, proxy CPU.
#   6b. Time to first token: bench/h2_ttft.mjs (Node, built-in http2/http) sends streamed
#       completions one at a time on one connection; per request the time from handing the
#       request to the connection to the first SSE `data:` line; added over the mock reached
#       directly over HTTP/1.1 by the same script.

H2_CONNS=8                           # h2load connections (fixed; streams per connection vary)
H2_STREAMS=(1 10 100)                # h2load -m
H2_DURATION=4s; H2_WARMUP=1s         # h2load -D and --warm-up-time
H2_WARMUP_S=1                        # the warm-up in seconds (CPU is sampled after it)
H2_TTFT_REQUESTS=1000; H2_TTFT_WARMUP=20
H2_TTFT_TOKENS=4; H2_TTFT_INTERVAL_MS=2
H2_TTFT_DEADLINE_S=120               # per run of h2_ttft.mjs; it stops by itself then
if [[ $QUICK == 1 ]]; then
  H2_DURATION=2s; H2_WARMUP=500ms; H2_WARMUP_S=0.5; H2_TTFT_REQUESTS=200; H2_TTFT_DEADLINE_S=30
fi
H2_TTFT_HEADERS=(--header "x-mock-tokens: $H2_TTFT_TOKENS"
  --header "x-mock-token-interval-ms: $H2_TTFT_INTERVAL_MS")
H2_PEERS=()     # proxies that answered a streamed request over h2c
H2_TARGETS=()   # what 6a and 6b measure: direct, H2_PEERS, and infergate-1w-h1 with infergate-1w
H2_SKIPPED=""   # why h2 did not run at all (missing tool), for the report

# The request bodies: the throughput body of bench/macro/chat.lua, and the same streamed.
h2_bodies() {
  sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$ROOT/bench/macro/chat.lua" >"$WORK/h2-body.json"
  sed 's/"stream":false/"stream":true/' "$WORK/h2-body.json" >"$WORK/h2-stream-body.json"
}

# h2_url TARGET: where a target is reached. direct is the mock itself; infergate-1w-h1 is
# infergate 1 worker's port spoken to over HTTP/1.1.
h2_url() {
  local t=$1
  [[ $t == infergate-1w-h1 ]] && t=infergate-1w
  echo "http://127.0.0.1:${PORT[$t]}/v1/chat/completions"
}
h2_proto() { [[ $1 == direct || $1 == infergate-1w-h1 ]] && echo h1 || echo h2; }
h2_pid() {
  local t=$1
  [[ $t == infergate-1w-h1 ]] && t=infergate-1w
  echo "${PEER_PID[$t]:-0}"
}
h2_label() {
  case "$1" in
    direct) echo "direct: the mock over HTTP/1.1 (reference)" ;;
    infergate-1w-h1) echo "infergate, 1 worker, over HTTP/1.1 (reference)" ;;
    *) row_label "$1" ;;
  esac
}

# h2load_cmd TARGET M: the h2load command line (printed in the report as it ran). HTTP/1.1
# targets get H2_CONNS × M connections of one request each (h2load allows one request in flight
# per HTTP/1.1 connection when it POSTs), so every target has the same number in flight.
h2load_cmd() {
  local t=$1 m=$2
  if [[ $(h2_proto "$t") == h1 ]]; then
    echo "h2load --h1 -t 1 -c $((H2_CONNS * m)) -m 1 -D $H2_DURATION --warm-up-time $H2_WARMUP -d BODY -H 'content-type: application/json' $(h2_url "$t")"
  else
    echo "h2load -t 1 -c $H2_CONNS -m $m -D $H2_DURATION --warm-up-time $H2_WARMUP -d BODY -H 'content-type: application/json' $(h2_url "$t")"
  fi
}

# h2_mock_conns: connections the mock has accepted so far ("" without curl or an answer). Sampled
# around each h2load run, so each proxy's upstream keep-alive reuse shows.
h2_mock_conns() {
  command -v curl >/dev/null || return 0
  curl -s -m 2 "http://127.0.0.1:$MOCK_PORT/mock/stats" 2>/dev/null |
    grep -o '"connections_accepted":[0-9]*' | cut -d: -f2
}

# h2_number FILE AWK_PROGRAM: one figure from h2load's text output ("" when absent).
h2_number() { awk "$2" "$1" 2>/dev/null | head -1; }

# h2_throughput TARGET M REP: one h2load run on the load CPU; records rps, errors, non-2xx,
# mean latency, proxy CPU % and proxy CPU µs per request under scenario h2 as METRIC_mM. The
# proxy's CPU time is sampled from the end of h2load's warm-up to its exit.
h2_throughput() {
  local t=$1 m=$2 rep=$3
  local f="$WORK/h2-tp-$t-m$m-$rep.txt" pid c0=0 c1 t0 t1 cmd lg k0 k1
  pid=$(h2_pid "$t")
  k0=$(h2_mock_conns)
  cmd=$(h2load_cmd "$t" "$m")
  cmd=${cmd/BODY/$WORK/h2-body.json}
  # The limit: warm-up + duration + connection set-up, generously (h2load stops by itself).
  eval "taskset -c $LOAD_CPU timeout 60 $cmd" >"$f" 2>&1 &
  lg=$!
  PIDS+=("$lg")
  sleep "$H2_WARMUP_S"
  [[ $pid != 0 ]] && c0=$(cpu_ticks "$pid")
  t0=$(date +%s%N)
  wait "$lg" || true
  t1=$(date +%s%N)
  k1=$(h2_mock_conns)
  local rps ndone failed errored timeouts non2xx mean
  rps=$(h2_number "$f" '/^finished in/ {gsub(/,/, "", $4); print $4}')
  ndone=$(h2_number "$f" '/^requests:/ {print $6}')
  failed=$(h2_number "$f" '/^requests:/ {print $10}')
  errored=$(h2_number "$f" '/^requests:/ {print $12}')
  timeouts=$(h2_number "$f" '/^requests:/ {print $14}')
  non2xx=$(h2_number "$f" '/^status codes:/ {print $5 + $7 + $9}')
  # "time for request:  min  max  mean  sd  +/- sd", each with a unit (us, ms, s).
  mean=$(h2_number "$f" '/^time for request:/ {v = $6; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    print (u == "us" ? v / 1000 : (u == "s" ? v * 1000 : v))}')
  if [[ -z $rps || -z $failed ]]; then
    note "h2: $t -m $m repetition $rep: h2load printed no result: $(tail -3 "$f" | tr '\n' ' ' | cut -c1-200)"
    record h2 "rps_m$m" "$t" "$rep" 0
    record h2 "errors_m$m" "$t" "$rep" -1
    return 0
  fi
  record h2 "rps_m$m" "$t" "$rep" "$rps"
  record h2 "errors_m$m" "$t" "$rep" $((failed + errored + timeouts))
  record h2 "non2xx_m$m" "$t" "$rep" "${non2xx:-0}"
  record h2 "mean_ms_m$m" "$t" "$rep" "${mean:-0}"
  # Upstream connections the mock accepted per 1,000 requests (the whole run, warm-up included,
  # over the requests of the measured part: an upper bound; ~0 = keep-alive reuse works).
  if [[ -n $k0 && -n $k1 && ${ndone:-0} -gt 0 ]]; then
    record h2 "upconn_m$m" "$t" "$rep" \
      "$(awk -v k=$((k1 - k0 - 1)) -v n="$ndone" 'BEGIN{printf "%.1f", (k < 0 ? 0 : 1000*k/n)}')"
  fi
  if [[ $pid != 0 ]]; then
    c1=$(cpu_ticks "$pid")
    record h2 "cpu_m$m" "$t" "$rep" \
      "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f", 100*c/hz/(ns/1e9)}')"
    # CPU per request: the CPU time of that window over the requests h2load counted in it.
    record h2 "cpu_us_m$m" "$t" "$rep" \
      "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v n="${ndone:-0}" 'BEGIN{printf "%.1f", (n > 0 ? 1e6*c/hz/n : 0)}')"
  fi
  if ((failed + errored + timeouts + ${non2xx:-0} > 0)); then
    note "h2: $t -m $m repetition $rep: $failed failed, $errored errored, $timeouts timed out, ${non2xx:-0} non-2xx ($(grep -m1 '^requests:' "$f"))"
  fi
  log "h2 throughput rep $rep -m $m $t: $rps req/s, $((failed + errored + timeouts)) failed/errored/timeout, ${non2xx:-0} non-2xx"
}

# h2_ttft_cmd TARGET REQUESTS: the h2_ttft.mjs command line (BODY stands for the body file).
h2_ttft_cmd() {
  echo "node bench/h2_ttft.mjs --url $(h2_url "$1") --proto $(h2_proto "$1") --requests $2 --warmup $H2_TTFT_WARMUP --timeout-ms 5000 --deadline-s $H2_TTFT_DEADLINE_S --body-file BODY --header 'x-mock-tokens: $H2_TTFT_TOKENS' --header 'x-mock-token-interval-ms: $H2_TTFT_INTERVAL_MS'"
}

# h2_ttft_run OUT TARGET REQUESTS: runs the TTFT client on the load CPU; JSON to OUT.
h2_ttft_run() {
  local out=$1 t=$2 n=$3
  taskset -c "$LOAD_CPU" timeout $((H2_TTFT_DEADLINE_S + 20)) node "$ROOT/bench/h2_ttft.mjs" \
    --url "$(h2_url "$t")" --proto "$(h2_proto "$t")" --requests "$n" --warmup "$H2_TTFT_WARMUP" \
    --timeout-ms 5000 --deadline-s "$H2_TTFT_DEADLINE_S" --body-file "$WORK/h2-stream-body.json" \
    "${H2_TTFT_HEADERS[@]}" >"$out" 2>"$out.err" || true
  [[ -s $out ]] || echo '{}' >"$out"
}
h2_first_error() { grep -o '"first_error":"[^"]*"' "$1" | cut -d'"' -f4 | cut -c1-200; }

h2_ttft() {
  local t=$1 rep=$2 f="$WORK/h2-ttft-$1-$2.json"
  h2_ttft_run "$f" "$t" "$H2_TTFT_REQUESTS"
  local ok errors
  ok=$(jnum "$f" ok); errors=$(jnum "$f" errors)
  record h2 ttft_ok "$t" "$rep" "$ok"
  record h2 ttft_errors "$t" "$rep" "$errors"
  if ((ok > 0)); then
    record h2 ttft_p50_us "$t" "$rep" "$(jnum "$f" ttft_us p50)"
    record h2 ttft_p99_us "$t" "$rep" "$(jnum "$f" ttft_us p99)"
  fi
  if ((errors > 0 || ok < H2_TTFT_REQUESTS)); then
    note "h2: TTFT $t repetition $rep: $ok ok, $errors errors of $H2_TTFT_REQUESTS: $(h2_first_error "$f") $(head -c 200 "$f.err")"
  fi
  log "h2 ttft rep $rep $t: p50 $(jnum "$f" ttft_us p50) us, p99 $(jnum "$f" ttft_us p99) us, $ok ok, $errors errors"
}

scenario_h2() {
  local p rep m t
  if ! command -v h2load >/dev/null; then H2_SKIPPED="h2load not installed (apt-get install nghttp2-client)"; fi
  if ! command -v node >/dev/null; then H2_SKIPPED="${H2_SKIPPED:+$H2_SKIPPED; }node not installed (Node 18+ runs bench/h2_ttft.mjs)"; fi
  if [[ -n $H2_SKIPPED ]]; then note "h2 skipped: $H2_SKIPPED"; return 0; fi
  h2_bodies
  # shellcheck disable=SC2034  # read by run.sh's start_peer
  H2_MODE=1
  for p in "${PROXIES[@]}"; do
    if [[ $p == portkey ]]; then
      note "h2: portkey left out (its Node server speaks HTTP/1.1 only)"
      continue
    fi
    start_peer "$p"
    peer_available "$p" || continue
    # Sanity and warm-up: a few streamed requests over h2c.
    h2_ttft_run "$WORK/h2-sanity-$p.json" "$p" 5
    if [[ $(jnum "$WORK/h2-sanity-$p.json" ok) != 5 ]]; then
      note "h2: $p left out: 5 streamed h2c requests gave $(jnum "$WORK/h2-sanity-$p.json" ok) ok ($(h2_first_error "$WORK/h2-sanity-$p.json") $(head -c 200 "$WORK/h2-sanity-$p.json.err"))"
      stop_peer "$p"
      continue
    fi
    H2_PEERS+=("$p")
  done
  H2_TARGETS=(direct "${H2_PEERS[@]}")
  [[ " ${H2_PEERS[*]} " == *" infergate-1w "* ]] && H2_TARGETS+=(infergate-1w-h1)
  for rep in $(seq 1 "$REPS"); do
    for m in "${H2_STREAMS[@]}"; do
      for t in $(order "$rep" "${H2_TARGETS[@]}"); do h2_throughput "$t" "$m" "$rep"; done
    done
  done
  for rep in $(seq 1 "$REPS"); do
    for t in $(order "$rep" "${H2_TARGETS[@]}"); do h2_ttft "$t" "$rep"; done
  done
  for p in "${H2_PEERS[@]}"; do
    local n
    n=$(cat "$WORK/$p"/*.log 2>/dev/null | grep -ciE 'error|warn|crit|alert|emerg' || true)
    if ((${n:-0} > 0)); then
      note "h2: $p logged $n warning/error lines, e.g.: $(cat "$WORK/$p"/*.log 2>/dev/null | grep -iE 'error|warn|crit|alert|emerg' | head -1 | cut -c1-200 || true)"
    fi
    if ! kill -0 "${PEER_PID[$p]}" 2>/dev/null; then note "h2: $p exited during the run"; fi
    # infergate's own view: errors it counted while h2load and the TTFT client saw none.
    if [[ $p == infergate-* ]] && command -v curl >/dev/null; then
      local errs admin=$((${PORT[$p]} + 100))
      errs=$(curl -s -m 2 "http://127.0.0.1:$admin/metrics" 2>/dev/null |
        awk '/^infergate_errors_total\{/ && $2 > 0 {printf "%s%s %s", sep, $1, $2; sep = ", "}')
      [[ -n $errs ]] && note "h2: $p's error counters after the h2 runs (HTTP/1.1 reference runs included): $errs"
    fi
    stop_peer "$p"
  done
  # shellcheck disable=SC2034
  H2_MODE=0
}

# ---- Report section (run.sh prints it inside its report when h2 ran).
h2_sum() {  # h2_sum METRIC TARGET: the sum over repetitions
  awk -F'\t' -v m="$1" -v p="$2" '$1 == "h2" && $2 == m && $3 == p {s += $5} END {print s + 0}' "$RESULTS"
}
# h2_vs_best METRIC HIGHER_IS_BETTER ADDED: "infergate's median / the best of nginx and HAProxy
# (who)"; ADDED=1 compares added figures over direct.
h2_vs_best() {
  local metric=$1 higher=$2 use_added=${3:-0} best="" who="" p s v ig
  for p in nginx haproxy; do
    [[ " ${H2_PEERS[*]} " == *" $p "* ]] || continue
    if [[ $use_added == 1 ]]; then s=$(added h2 "$metric" "$p"); else s=$(stats h2 "$metric" "$p"); fi
    v=$(echo "$s" | awk '{print $1}')
    [[ -z $v ]] && continue
    if [[ -z $best ]] || awk -v a="$v" -v b="$best" -v h="$higher" 'BEGIN{exit !(h ? a > b : a < b)}'; then
      best=$v; who=$p
    fi
  done
  if [[ $use_added == 1 ]]; then ig=$(added h2 "$metric" infergate-1w | awk '{print $1}')
  else ig=$(stats h2 "$metric" infergate-1w | awk '{print $1}'); fi
  if [[ -z $best || -z $ig ]]; then echo "–"; return; fi
  awk -v a="$ig" -v b="$best" -v w="${PEER_LABEL[$who]}" \
    'BEGIN{ if (a <= 0 || b <= 0) printf "– (infergate %.1f, %s %.1f)", a, w, b; else printf "%.2f× (best: %s)", a / b, w }'
}

report_h2() {
  echo "## 6. HTTP/2 (h2c) to the proxy, HTTP/1.1 to the mock"
  echo
  if [[ -n $H2_SKIPPED ]]; then echo "Not run: $H2_SKIPPED."; echo; return 0; fi
  echo "Clients speak HTTP/2 cleartext with prior knowledge to each proxy; every proxy keeps HTTP/1.1"
  echo "keep-alive connections to the same mock. nginx: \`listen 127.0.0.1:PORT reuseport http2;\`"
  echo "(h2c only on that port), 1 worker; HAProxy: \`bind 127.0.0.1:PORT proto h2\`, \`nbthread 1\`;"
  echo "infergate: its usual listener (HTTP/1.1 and h2c on one port, the preface decides), 1 worker."
  echo "Otherwise the configs are those of scenarios 1–3. Proxies on CPU $PROXY_CPU; h2load, the TTFT client"
  echo "and the mock on CPU $LOAD_CPU. Reference rows (not proxies under test): the mock reached directly over"
  echo "HTTP/1.1, and infergate's same port spoken to over HTTP/1.1."
  echo
  echo "### 6a. Requests per second"
  echo
  echo "The non-streamed ~300-byte chat completion (bench/macro/chat.lua's body), $H2_CONNS connections with"
  echo "1, 10 and 100 concurrent streams each, $H2_DURATION measured after a $H2_WARMUP warm-up, peers interleaved per"
  echo "stream count. HTTP/1.1 rows use $H2_CONNS × streams connections (one request in flight each). Commands"
  echo "(BODY = the body file, PORT = the peer's port):"
  echo
  echo '```'
  local m t p
  for m in "${H2_STREAMS[@]}"; do
    h2load_cmd infergate-1w "$m" | sed "s#127.0.0.1:[0-9]*/#127.0.0.1:PORT/#"
  done
  for m in "${H2_STREAMS[@]}"; do h2load_cmd direct "$m" | sed "s#127.0.0.1:[0-9]*/#127.0.0.1:PORT/#"; done
  echo '```'
  echo
  local hdr="| peer |" sep="|---|"
  for m in "${H2_STREAMS[@]}"; do hdr+=" req/s, $m stream$([[ $m == 1 ]] || echo s)/conn | ratio |"; sep+="---|---|"; done
  echo "$hdr failed+errored+timeout / non-2xx | mean latency ms | proxy CPU % | proxy CPU µs per request | upstream conns per 1k requests |"
  echo "$sep---|---|---|---|---|"
  for t in "${H2_TARGETS[@]}"; do
    local row errs=0 non=0 lat="" cpu="" cpr="" upc=""
    row="| $(h2_label "$t") |"
    for m in "${H2_STREAMS[@]}"; do
      local s; s=$(stats h2 "rps_m$m" "$t")
      row+=" $(cell "$s" 0) | $(ratio "$s" "$(stats h2 "rps_m$m" infergate-1w)") |"
      errs=$((errs + $(h2_sum "errors_m$m" "$t" | cut -d. -f1)))
      non=$((non + $(h2_sum "non2xx_m$m" "$t" | cut -d. -f1)))
      lat+="${lat:+ / }$(cell "$(stats h2 "mean_ms_m$m" "$t" | awk '{print $1, $1, $1, 1}')" 2)"
      cpu+="${cpu:+ / }$(cell "$(stats h2 "cpu_m$m" "$t" | awk '{print $1, $1, $1, 1}')" 0)"
      cpr+="${cpr:+ / }$(cell "$(stats h2 "cpu_us_m$m" "$t" | awk '{print $1, $1, $1, 1}')" 1)"
      upc+="${upc:+ / }$(cell "$(stats h2 "upconn_m$m" "$t" | awk '{print $1, $1, $1, 1}')" 0)"
    done
    echo "$row $errs / $non | $lat | $cpu | $cpr | $upc |"
  done
  for p in "${PROXIES[@]}"; do
    [[ " ${H2_PEERS[*]} " == *" $p "* ]] && continue
    echo "| $(row_label "$p"): not measured over h2 (see the notes) | $(for _ in "${H2_STREAMS[@]}"; do printf -- '– | – | '; done)– | – | – | – | – |"
  done
  echo
  echo "Ratios are the peer's median over infergate 1 worker's (over h2c). The last four columns give"
  echo "the medians for 1 / 10 / 100 streams per connection; the proxy's CPU is sampled from the end of"
  echo "the warm-up to h2load's exit, and CPU µs per request (that CPU time over the requests h2load"
  echo "counted) is the figure least moved by other processes on a shared machine. Upstream conns per"
  echo "1k requests: connections the mock accepted during the run (warm-up included) per 1,000 measured"
  echo "requests; near 0 when the proxy reuses its keep-alive connections, ~1,000 when it opens one per"
  echo "request (with $((H2_CONNS * 100)) requests in flight and 128 idle connections kept, some churn at 100 streams is expected)."
  echo
  echo "infergate 1 worker over the best of nginx and HAProxy, requests per second (higher is better, the"
  echo "goal is ≥ 1):"
  for m in "${H2_STREAMS[@]}"; do echo "$m stream(s) per connection **$(h2_vs_best "rps_m$m" 1)**;"; done
  echo "and CPU µs per request (lower is better, the goal is ≤ 1):"
  for m in "${H2_STREAMS[@]}"; do echo "$m stream(s) per connection **$(h2_vs_best "cpu_us_m$m" 0)**;"; done
  echo
  local verdict=yes direct
  for m in "${H2_STREAMS[@]}"; do
    direct=$(stats h2 "rps_m$m" direct | awk '{print $1}')
    for p in "${H2_PEERS[@]}"; do
      local s; s=$(stats h2 "rps_m$m" "$p" | awk '{print $1}')
      [[ -n $s && -n $direct ]] && awk -v a="$direct" -v b="$s" 'BEGIN{exit !(a <= b)}' && verdict=no
    done
  done
  echo "Check: the direct (HTTP/1.1) rate beats every proxy's h2 rate at each stream count: **$verdict**"
  echo "(an approximate floor: h2load spends less CPU per request on a few h2 connections than on"
  echo "$H2_CONNS × streams HTTP/1.1 ones, so a proxy can beat it; when no, the load CPU may have bound"
  echo "that proxy's figure, and its CPU % in the table says whether the proxy's core was full)."
  echo
  echo "### 6b. Added time to first token, streamed completions"
  echo
  echo "One connection, one streamed completion at a time ($H2_TTFT_TOKENS tokens ${H2_TTFT_INTERVAL_MS} ms apart from the mock, which"
  echo "sends the first at once), $H2_TTFT_REQUESTS requests after $H2_TTFT_WARMUP not counted. TTFT = from handing the request to"
  echo "the connection to the first complete SSE \`data:\` line, measured by bench/h2_ttft.mjs (Node"
  echo "$(node --version 2>/dev/null), built-in http2 / http client). Added = the peer's percentile minus the direct"
  echo "HTTP/1.1 one in the same repetition, so it includes the client's own HTTP/2-vs-HTTP/1.1 cost."
  echo "Commands (BODY = the body with \`\"stream\":true\`):"
  echo
  echo '```'
  h2_ttft_cmd infergate-1w "$H2_TTFT_REQUESTS" | sed "s#127.0.0.1:[0-9]*/#127.0.0.1:PORT/#"
  h2_ttft_cmd direct "$H2_TTFT_REQUESTS" | sed "s#127.0.0.1:[0-9]*/#127.0.0.1:PORT/#"
  echo '```'
  echo
  echo "| peer | protocol | ok / errors | TTFT p50 µs | added p50 µs | ratio | TTFT p99 µs | added p99 µs | ratio |"
  echo "|---|---|---|---|---|---|---|---|---|"
  local r50 r99
  r50=$(added h2 ttft_p50_us infergate-1w); r99=$(added h2 ttft_p99_us infergate-1w)
  for t in "${H2_TARGETS[@]}"; do
    local s50 s99 proto
    proto=$([[ $(h2_proto "$t") == h2 ]] && echo h2c || echo HTTP/1.1)
    s50=$(stats h2 ttft_p50_us "$t"); s99=$(stats h2 ttft_p99_us "$t")
    if [[ $t == direct ]]; then
      echo "| $(h2_label "$t") | $proto | $(h2_sum ttft_ok "$t") / $(h2_sum ttft_errors "$t") | $(cell "$s50" 0) | 0 | – | $(cell "$s99" 0) | 0 | – |"
    else
      local a50 a99
      a50=$(added h2 ttft_p50_us "$t"); a99=$(added h2 ttft_p99_us "$t")
      echo "| $(h2_label "$t") | $proto | $(h2_sum ttft_ok "$t") / $(h2_sum ttft_errors "$t") | $(cell "$s50" 0) | $(cell "$a50" 0) | $(ratio "$a50" "$r50") | $(cell "$s99" 0) | $(cell "$a99" 0) | $(ratio "$a99" "$r99") |"
    fi
  done
  echo
  echo "infergate 1 worker's added TTFT over the best of nginx and HAProxy (lower is better, the goal is"
  echo "≤ 1): p50 **$(h2_vs_best ttft_p50_us 0 1)**, p99 **$(h2_vs_best ttft_p99_us 0 1)**."
  echo
}
