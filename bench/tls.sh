# shellcheck shell=bash disable=SC2016  # awk programs in single quotes, on purpose
# bench/tls.sh: the `tls` scenario of bench/run.sh (sourced by it after its durations are set; the
# functions use run.sh's wait_for, render, port_busy, stop_peer, cpu_ticks, record, note, stats,
# cell, ratio, row_label and PORT/PEER_PID/UNAVAILABLE). TLS terminated by nginx (1 worker) and
# infergate (1 worker), side by side, same certificate, same TLS 1.2 suites and groups, session
# tickets on, both proxying to the same infergate-mock over HTTP/1.1 keep-alive. See
# bench/README.md.
#
#   7a. Handshakes: connections per second, each one TCP connect + TLS handshake + one
#       GET /v1/models (HTTP/1.0, proxied to the mock) + close, by TLS_STIME_PROCS parallel
#       `openssl s_time` clients on the load CPU: full handshakes (-new) with an ECDSA P-256 and an
#       RSA 2048 certificate, resumed ones (-reuse, session tickets), TLS 1.3 and TLS 1.2. s_time
#       prints one mark per connection ('r' when the session was resumed), so every figure comes
#       with the share of connections that really resumed. Counted over a window after a warm-up,
#       with the server's and the clients' CPU over the same window.
#   7b. Requests per second over kept-alive TLS connections: h2load with the ~300-byte chat
#       completion, HTTP/1.1 (ALPN http/1.1, 64 connections, one request in flight each) and h2
#       (ALPN h2, 8 connections × 8 streams), TLS 1.3.

TLS_STIME_PROCS=${BENCH_TLS_CLIENTS:-16}  # parallel s_time clients (each one connection at a time)
TLS_WINDOW_S=2.5; TLS_WARMUP_S=1     # 7a: the counted window, after a warm-up
TLS_DURATION=4s; TLS_WARMUP=1s       # 7b: h2load -D and --warm-up-time
TLS_H2LOAD_WARMUP_S=1
TLS_H1_CONNS=64; TLS_H2_CONNS=8; TLS_H2_STREAMS=8
if [[ $QUICK == 1 ]]; then
  TLS_WINDOW_S=1.5; TLS_WARMUP_S=0.5; TLS_DURATION=2s; TLS_WARMUP=500ms; TLS_H2LOAD_WARMUP_S=0.5
fi
# infergate's TLS 1.2 suites and groups (src/tls/context.cc), given to nginx as they are.
TLS_CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
TLS_GROUPS="X25519:P-256:P-384"
# The handshake measurements: NAME CERT S_TIME-ARGS. Resumption does not sign, so it is measured
# with the ECDSA certificate only.
TLS_HS_TESTS=(
  "full13_ecdsa ecdsa -new -tls1_3"
  "full13_rsa rsa -new -tls1_3"
  "resumed13 ecdsa -reuse -tls1_3"
  "full12_ecdsa ecdsa -new -tls1_2"
  "full12_rsa rsa -new -tls1_2"
  "resumed12 ecdsa -reuse -tls1_2"
)
TLS_RPS_TESTS=(h1 h2)
TLS_PEERS=()      # the peers measured (nginx, infergate-1w, infergate-base when listed and up)
TLS_SKIPPED=""    # why the scenario did not run at all, for the report
TLS_SANITY=""     # what the resumption checks said, per peer, for the report
TLS_PRELOAD=""    # the close_notify-lenient shim for s_time (bench/tls_lenient_eof.c), when built

# tls_certs: a throwaway ECDSA P-256 and RSA 2048 self-signed certificate for 127.0.0.1 in
# $WORK/tls (never committed; made fresh every run).
tls_certs() {
  local d="$WORK/tls"
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$d/ecdsa.key" -out "$d/ecdsa.crt" >"$d/openssl.log" 2>&1 &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
      -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      -keyout "$d/rsa.key" -out "$d/rsa.crt" >>"$d/openssl.log" 2>&1
}

# tls_shim: builds bench/tls_lenient_eof.c (an LD_PRELOAD shim setting
# SSL_OP_IGNORE_UNEXPECTED_EOF in s_time) into $WORK/tls; sets TLS_PRELOAD when it works.
tls_shim() {
  local so="$WORK/tls/lenient_eof.so"
  if command -v cc >/dev/null &&
    cc -O2 -shared -fPIC -o "$so" "$ROOT/bench/tls_lenient_eof.c" -ldl -lssl >"$WORK/tls/cc.log" 2>&1; then
    TLS_PRELOAD=$so
  else
    note "tls: could not build bench/tls_lenient_eof.c ($(head -c 200 "$WORK/tls/cc.log" 2>/dev/null)): s_time runs without it, so a server that closes without close_notify is never resumed in 7a"
  fi
}

# tls_body: the non-streamed ~300-byte chat completion of bench/macro/chat.lua.
tls_body() {
  sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$ROOT/bench/macro/chat.lua" >"$WORK/tls-body.json"
}

# tls_start_peer NAME CERT: a fresh TLS proxy process on CPU PROXY_CPU with certificate CERT
# (ecdsa or rsa) on PORT[NAME]; sets PEER_PID[NAME] (0 when it did not start, with a note).
tls_start_peer() {
  local name=$1 cert=$2 dir="$WORK/tls-$1-$2" port=${PORT[$1]} pid
  local crt="$WORK/tls/$cert.crt" key="$WORK/tls/$cert.key"
  PEER_PID[$name]=0
  rm -rf "$dir"; mkdir -p "$dir"
  case "$name" in
    nginx)
      render "$ROOT/bench/peers/nginx-tls.conf.template" "$dir/nginx.conf" "DIR=$dir" \
        "PORT=$port" "UPSTREAM_PORT=$MOCK_PORT" "WORKER_CONNECTIONS=$NOFILE" "CERT=$crt" \
        "KEY=$key" "CIPHERS=$TLS_CIPHERS" "GROUPS=$TLS_GROUPS"
      taskset -c "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
    infergate-1w|infergate-base)
      local bin=$BIN/infergate
      [[ $name == infergate-base ]] && bin=$BASE_BIN
      render "$ROOT/bench/peers/infergate-tls.yaml.template" "$dir/infergate.yaml" "PORT=$port" \
        "ADMIN_PORT=$((port + 100))" "UPSTREAM_PORT=$MOCK_PORT" "CERT=$crt" "KEY=$key"
      taskset -c "$PROXY_CPU" "$bin" -c "$dir/infergate.yaml" --workers 1 --log-level warn \
        >"$dir/stdout.log" 2>&1 &
      pid=$! ;;
  esac
  PIDS+=("$pid")
  if ! wait_for 20 port_busy "$port" || ! kill -0 "$pid" 2>/dev/null; then
    note "tls: $name ($cert) did not start: $(tail -c 300 "$dir/stdout.log" | tr '\n' ' ')"
    kill -TERM "$pid" 2>/dev/null || true
    return 0
  fi
  PEER_PID[$name]=$pid
}

# tls_resumption_check NAME: per TLS version, (1) `openssl s_client -sess_out` then `-sess_in`
# (New or Reused), (2) whether the server ends the connection after an HTTP/1.0 response with a
# close_notify alert, and (3) the share of connections a plain `openssl s_time -reuse` (no
# shim: an unexpected EOF is a fatal error there, and OpenSSL then drops the session) resumed
# in about a second. Prints one line for the report.
tls_resumption_check() {
  local port=${PORT[$1]} v out="" sess="$WORK/tls/sess-$1.pem" got notify strict
  for v in 1_3 1_2; do
    rm -f "$sess"
    notify=$(printf 'GET /v1/models HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client "-tls$v" -ign_eof \
      -msg -connect "127.0.0.1:$port" -sess_out "$sess" 2>&1 | grep -c '^<<< .*close_notify' || true)
    got=$(printf 'GET /v1/models HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client "-tls$v" -ign_eof \
      -connect "127.0.0.1:$port" -sess_in "$sess" 2>/dev/null | grep -m1 -oE '^(New|Reused)' || true)
    timeout 10 openssl s_time -connect "127.0.0.1:$port" -reuse "-tls$v" -time 1 -www /v1/models \
      >"$WORK/tls/strict-$1-$v.txt" 2>&1 || true
    strict=$(tls_marks "$WORK/tls/strict-$1-$v.txt" |
      awk '{if ($1 > 0) printf "%.0f%% of %d", 100 * $2 / $1, $1; else print "no connection"}')
    out+="${out:+; }TLS ${v/_/.}: s_client ${got:-failed}, close_notify $([[ ${notify:-0} -gt 0 ]] && echo sent || echo "**not sent**"), plain s_time -reuse resumed $strict"
  done
  echo "$out"
}

# tls_sanity NAME: one h2load request over HTTP/1.1 and one over h2 (ALPN) must answer 200.
tls_sanity() {
  local port=${PORT[$1]} f="$WORK/tls-sanity-$1.txt" ok1 ok2
  timeout 20 h2load --h1 -n 2 -c 1 -d "$WORK/tls-body.json" -H 'content-type: application/json' \
    "https://127.0.0.1:$port/v1/chat/completions" >"$f" 2>&1 || true
  ok1=$(awk '/^status codes:/ {print $3}' "$f")
  timeout 20 h2load -n 2 -c 1 -d "$WORK/tls-body.json" -H 'content-type: application/json' \
    "https://127.0.0.1:$port/v1/chat/completions" >"$f.h2" 2>&1 || true
  ok2=$(awk '/^status codes:/ {print $3}' "$f.h2")
  grep -q '^Application protocol: h2' "$f.h2" || ok2=0
  [[ ${ok1:-0} == 2 && ${ok2:-0} == 2 ]]
}

# tls_marks FILE...: connections s_time has finished so far, as "ALL RESUMED". s_time's stdout
# has one mark per connection on its progress line ('r' when the session was resumed, '*' for
# a full handshake) between its header lines and its summary.
tls_marks() {
  { cat "$@" 2>/dev/null || true; } | awk '/^(Collecting|Now|starting)/ || / connections / {next}
    match($0, /^[*r]+/) {s = substr($0, 1, RLENGTH); a += RLENGTH; r += gsub(/r/, "", s)}
    END {print a + 0, r + 0}'
}

# tls_tree PID...: these processes and all their descendants, one pid a line.
tls_tree() {
  local p
  for p in "$@"; do
    echo "$p"
    # shellcheck disable=SC2046  # the children's pids, one per word
    tls_tree $(pgrep -P "$p" 2>/dev/null || true)
  done
}

# tls_ticks PID...: utime + stime of exactly these processes, in clock ticks, in one read (fast
# enough to sample a window's edges; a process that has exited counts 0).
tls_ticks() {
  local p files=()
  for p in "$@"; do files+=("/proc/$p/stat"); done
  ((${#files[@]})) || { echo 0; return; }
  { cat "${files[@]}" 2>/dev/null || true; } | sed 's/^.*) //' | awk '{t += $12 + $13} END {print t + 0}'
}

# tls_handshakes TEST PEER REP: TLS_STIME_PROCS s_time clients for warm-up + window; counts the
# connections finished in the window and the CPU time of the server and of the clients in it.
tls_handshakes() {
  local test=$1 p=$2 rep=$3 cert args pid=${PEER_PID[$2]} i j
  read -r _ cert args <<<"$(printf '%s\n' "${TLS_HS_TESTS[@]}" | awk -v t="$test" '$1 == t')"
  local f="$WORK/tls-hs-$test-$p-$rep" lims
  # s_time's own limit leaves room for a slow start (below) and the window; it is stopped after.
  lims=$(awk -v w="$TLS_WARMUP_S" -v d="$TLS_WINDOW_S" 'BEGIN{printf "%d", w + d + 12.999}')
  local pids=()
  for ((i = 0; i < TLS_STIME_PROCS; i++)); do
    # shellcheck disable=SC2086  # args is a list of s_time options
    taskset -c "$LOAD_CPU" timeout $((lims + 10)) env ${TLS_PRELOAD:+LD_PRELOAD=$TLS_PRELOAD} \
      openssl s_time -connect "127.0.0.1:${PORT[$p]}" $args -time "$lims" -www /v1/models \
      >"$f.out.$i" 2>"$f.err.$i" &
    pids+=($!)
    PIDS+=($!)
  done
  # Every client must have finished a connection before the warm-up starts (at most 10 s: a
  # loaded machine starts 16 openssl processes slowly).
  local srv=() cli=() started=0
  for ((i = 0; i < 100; i++)); do
    started=0
    for ((j = 0; j < TLS_STIME_PROCS; j++)); do
      [[ $(tls_marks "$f.out.$j" | cut -d' ' -f1) -gt 0 ]] && started=$((started + 1))
    done
    ((started == TLS_STIME_PROCS)) && break
    sleep 0.1
  done
  ((started == TLS_STIME_PROCS)) ||
    note "tls: $test $p repetition $rep: only $started of $TLS_STIME_PROCS s_time clients had connected after 10 s"
  mapfile -t srv < <(tls_tree "$pid")
  # The load CPU's figure: the clients and the mock (both on LOAD_CPU).
  mapfile -t cli < <(tls_tree "${pids[@]}" "$MOCK_PID")
  sleep "$TLS_WARMUP_S"
  # The window's edges: the time, the marks and both CPU figures read back to back.
  local m0 m1 s0 s1 l0 l1 t0 t1
  t0=$(date +%s%N); m0=$(tls_marks "$f".out.*); s0=$(tls_ticks "${srv[@]}"); l0=$(tls_ticks "${cli[@]}")
  sleep "$TLS_WINDOW_S"
  t1=$(date +%s%N); m1=$(tls_marks "$f".out.*); s1=$(tls_ticks "${srv[@]}"); l1=$(tls_ticks "${cli[@]}")
  local alive=0
  for i in "${pids[@]}"; do kill -0 "$i" 2>/dev/null && alive=$((alive + 1)); done
  for i in "${pids[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for i in "${pids[@]}"; do wait "$i" 2>/dev/null || true; done
  local n r
  n=$(($(echo "$m1" | cut -d' ' -f1) - $(echo "$m0" | cut -d' ' -f1)))
  r=$(($(echo "$m1" | cut -d' ' -f2) - $(echo "$m0" | cut -d' ' -f2)))
  local ns=$((t1 - t0))
  record tls "hs_$test" "$p" "$rep" "$(awk -v n="$n" -v ns="$ns" 'BEGIN{printf "%.0f", n / (ns / 1e9)}')"
  record tls "hs_${test}_reused_pct" "$p" "$rep" "$(awk -v n="$n" -v r="$r" 'BEGIN{printf "%.1f", (n > 0 ? 100 * r / n : 0)}')"
  record tls "hs_${test}_cpu" "$p" "$rep" "$(awk -v c=$((s1 - s0)) -v hz="$CLK_TCK" -v ns="$ns" 'BEGIN{printf "%.0f", 100 * c / hz / (ns / 1e9)}')"
  record tls "hs_${test}_load_cpu" "$p" "$rep" "$(awk -v c=$((l1 - l0)) -v hz="$CLK_TCK" -v ns="$ns" 'BEGIN{printf "%.0f", 100 * c / hz / (ns / 1e9)}')"
  ((n > 0)) && record tls "hs_${test}_cpu_us" "$p" "$rep" \
    "$(awk -v c=$((s1 - s0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN{printf "%.1f", 1e6 * c / hz / n}')"
  if ((alive < TLS_STIME_PROCS)); then
    note "tls: $test $p repetition $rep: $((TLS_STIME_PROCS - alive)) of $TLS_STIME_PROCS s_time clients stopped early: $(cat "$f".err.* 2>/dev/null | grep -m1 -iE 'error|fail|unable|connect' | cut -c1-200 || true)"
  fi
  log "tls $test rep $rep $p: $n connections in $(awk -v ns="$ns" 'BEGIN{printf "%.2f", ns / 1e9}') s, $r resumed, server CPU $(awk -v c=$((s1 - s0)) -v hz="$CLK_TCK" -v ns="$ns" 'BEGIN{printf "%.0f", 100 * c / hz / (ns / 1e9)}')%, clients $(awk -v c=$((l1 - l0)) -v hz="$CLK_TCK" -v ns="$ns" 'BEGIN{printf "%.0f", 100 * c / hz / (ns / 1e9)}')%"
}

# tls_h2load_cmd TEST PORT: the h2load command line of a 7b test (BODY: the body file).
tls_h2load_cmd() {
  if [[ $1 == h1 ]]; then
    echo "h2load --h1 -t 1 -c $TLS_H1_CONNS -m 1 -D $TLS_DURATION --warm-up-time $TLS_WARMUP -d BODY -H 'content-type: application/json' https://127.0.0.1:$2/v1/chat/completions"
  else
    echo "h2load -t 1 -c $TLS_H2_CONNS -m $TLS_H2_STREAMS -D $TLS_DURATION --warm-up-time $TLS_WARMUP -d BODY -H 'content-type: application/json' https://127.0.0.1:$2/v1/chat/completions"
  fi
}

# tls_rps TEST PEER REP: one h2load run on the load CPU; the server's and h2load's CPU from the
# end of the warm-up to h2load's exit (h2load's polled every 0.1 s while it runs).
tls_rps() {
  local test=$1 p=$2 rep=$3 pid=${PEER_PID[$2]} f="$WORK/tls-rps-$1-$2-$3.txt" cmd lg
  cmd=$(tls_h2load_cmd "$test" "${PORT[$p]}")
  cmd=${cmd/BODY/$WORK/tls-body.json}
  eval "taskset -c $LOAD_CPU timeout 60 $cmd" >"$f" 2>&1 &
  lg=$!
  PIDS+=("$lg")
  sleep "$TLS_H2LOAD_WARMUP_S"
  local s0 s1 l0 l1 lt t0 t1
  local srv=() cli=()
  mapfile -t srv < <(tls_tree "$pid")
  mapfile -t cli < <(tls_tree "$lg" "$MOCK_PID")
  s0=$(tls_ticks "${srv[@]}"); l0=$(tls_ticks "${cli[@]}"); t0=$(date +%s%N); l1=$l0
  local tl=$t0
  while kill -0 "$lg" 2>/dev/null; do
    lt=$(tls_ticks "${cli[@]}")
    if ((lt > l1)); then l1=$lt; tl=$(date +%s%N); fi
    sleep 0.1
  done
  wait "$lg" 2>/dev/null || true
  s1=$(tls_ticks "${srv[@]}"); t1=$(date +%s%N)
  local rps ndone failed errored timeouts non2xx proto
  rps=$(awk '/^finished in/ {gsub(/,/, "", $4); print $4; exit}' "$f")
  ndone=$(awk '/^requests:/ {print $6; exit}' "$f")
  failed=$(awk '/^requests:/ {print $10; exit}' "$f")
  errored=$(awk '/^requests:/ {print $12; exit}' "$f")
  timeouts=$(awk '/^requests:/ {print $14; exit}' "$f")
  non2xx=$(awk '/^status codes:/ {print $5 + $7 + $9; exit}' "$f")
  proto=$(awk -F': ' '/^Application protocol:/ {print $2; exit}' "$f")
  if [[ -z $rps || -z $failed ]]; then
    note "tls: $test $p repetition $rep: h2load printed no result: $(tail -3 "$f" | tr '\n' ' ' | cut -c1-200)"
    record tls "rps_$test" "$p" "$rep" 0
    return 0
  fi
  local ns=$((t1 - t0))
  record tls "rps_$test" "$p" "$rep" "$rps"
  record tls "rps_${test}_errors" "$p" "$rep" $((failed + errored + timeouts + ${non2xx:-0}))
  record tls "rps_${test}_cpu" "$p" "$rep" "$(awk -v c=$((s1 - s0)) -v hz="$CLK_TCK" -v ns="$ns" 'BEGIN{printf "%.0f", 100 * c / hz / (ns / 1e9)}')"
  # (h2load's last CPU sample is up to 0.1 s before its exit: over the time up to that sample.)
  record tls "rps_${test}_load_cpu" "$p" "$rep" "$(awk -v c=$((l1 - l0)) -v hz="$CLK_TCK" -v ns=$((tl - t0)) 'BEGIN{printf "%.0f", (ns > 0 ? 100 * c / hz / (ns / 1e9) : 0)}')"
  ((${ndone:-0} > 0)) && record tls "rps_${test}_cpu_us" "$p" "$rep" \
    "$(awk -v c=$((s1 - s0)) -v hz="$CLK_TCK" -v n="$ndone" 'BEGIN{printf "%.1f", 1e6 * c / hz / n}')"
  if [[ $rep == 1 ]]; then
    TLS_RPS_INFO[$test]="$(awk '/^TLS Protocol:/ {print $3; exit}' "$f"), $(awk '/^Cipher:/ {print $2; exit}' "$f"), $(awk -F': ' '/^Server Temp Key:/ {print $2; exit}' "$f"), ALPN $proto"
  fi
  if ((failed + errored + timeouts + ${non2xx:-0} > 0)); then
    note "tls: $test $p repetition $rep: $failed failed, $errored errored, $timeouts timed out, ${non2xx:-0} non-2xx"
  fi
  log "tls $test rep $rep $p: $rps req/s ($proto), $((failed + errored + timeouts)) failed/errored/timeout"
}
declare -A TLS_RPS_INFO=()

# tls_peer_notes NAME: warnings in the peer's logs; infergate's TLS handshake failures and error
# counters (the s_time clients are stopped mid-connection at the end of every window, so a few
# handshake failures per window are expected).
tls_peer_notes() {
  local p=$1 cert=$2 dir="$WORK/tls-$1-$2" n
  n=$(cat "$dir"/*.log 2>/dev/null | grep -ciE 'error|warn|crit|alert|emerg' || true)
  if ((${n:-0} > 0)); then
    note "tls: $p ($cert) logged $n warning/error lines, e.g.: $(cat "$dir"/*.log 2>/dev/null | grep -iE 'error|warn|crit|alert|emerg' | head -1 | cut -c1-200 || true)"
  fi
  if [[ ${PEER_PID[$p]:-0} != 0 ]] && ! kill -0 "${PEER_PID[$p]}" 2>/dev/null; then
    note "tls: $p ($cert) exited during the run"
  fi
  if [[ $p == infergate-* ]] && command -v curl >/dev/null; then
    local m admin=$((${PORT[$p]} + 100))
    m=$(curl -s -m 2 "http://127.0.0.1:$admin/metrics" 2>/dev/null |
      awk '(/^infergate_errors_total\{/ || /^infergate_tls_handshake_failures_total\{/) && $2 > 0 {printf "%s%s %s", sep, $1, $2; sep = ", "}')
    if [[ -n $m ]]; then note "tls: $p ($cert) counters after its runs: $m"; fi
  fi
}

scenario_tls() {
  local p rep t cert
  command -v openssl >/dev/null || TLS_SKIPPED="openssl (the CLI) not installed"
  command -v h2load >/dev/null ||
    TLS_SKIPPED="${TLS_SKIPPED:+$TLS_SKIPPED; }h2load not installed (apt-get install nghttp2-client)"
  if [[ -n $TLS_SKIPPED ]]; then note "tls skipped: $TLS_SKIPPED"; return 0; fi
  for p in nginx infergate-base infergate-1w; do
    [[ " ${PROXIES[*]} " == *" $p "* && -z ${UNAVAILABLE[$p]:-} ]] && TLS_PEERS+=("$p")
  done
  for p in "${PROXIES[@]}"; do
    [[ " ${TLS_PEERS[*]} " == *" $p "* || -n ${UNAVAILABLE[$p]:-} ]] ||
      note "tls: $p not measured (the TLS comparison is nginx against infergate, 1 worker each)"
  done
  if ((${#TLS_PEERS[@]} == 0)); then TLS_SKIPPED="no TLS peer available"; return 0; fi
  if ! tls_certs; then
    TLS_SKIPPED="openssl could not make certificates: $(tail -c 200 "$WORK/tls/openssl.log")"
    return 0
  fi
  tls_body
  tls_shim
  for cert in ecdsa rsa; do
    local up=()
    for p in "${TLS_PEERS[@]}"; do
      tls_start_peer "$p" "$cert"
      [[ ${PEER_PID[$p]} == 0 ]] && continue
      if ! tls_sanity "$p"; then
        note "tls: $p ($cert) left out: a request over HTTP/1.1 or h2 (ALPN) failed ($(cat "$WORK/tls-sanity-$p.txt"* 2>/dev/null | grep -m1 -iE 'error|fail|status codes' | cut -c1-160 || true))"
        stop_peer "$p"
        continue
      fi
      [[ $cert == ecdsa ]] && TLS_SANITY+="${TLS_SANITY:+; }${PEER_LABEL[$p]}: $(tls_resumption_check "$p")"
      up+=("$p")
    done
    local tests=()
    for t in "${TLS_HS_TESTS[@]}"; do
      if [[ $(echo "$t" | cut -d' ' -f2) == "$cert" ]]; then tests+=("hs:${t%% *}"); fi
    done
    if [[ $cert == ecdsa ]]; then tests+=("${TLS_RPS_TESTS[@]/#/rps:}"); fi
    if ((${#up[@]} > 0)); then
      for rep in $(seq 1 "$REPS"); do
        for t in "${tests[@]}"; do
          for p in $(order "$rep" "${up[@]}"); do
            if [[ $t == hs:* ]]; then tls_handshakes "${t#hs:}" "$p" "$rep"; else tls_rps "${t#rps:}" "$p" "$rep"; fi
          done
        done
      done
    fi
    for p in "${up[@]}"; do tls_peer_notes "$p" "$cert"; stop_peer "$p"; done
  done
}

# ---- Report section (run.sh prints it inside its report when tls ran).
# tls_cell METRIC PEER DECIMALS: "median (min–max)" of a tls metric.
tls_cell() { cell "$(stats tls "$1" "$2")" "$3"; }
# tls_med METRIC PEER: the median alone ("" when absent).
tls_med() { stats tls "$1" "$2" | awk '{print $1}'; }
# tls_capacity PEER METRIC: 1e6 / the median CPU µs per connection or request ("" when absent):
# what one core of the server would do at 100% CPU.
tls_capacity() {
  local us; us=$(tls_med "$2" "$1")
  [[ -z $us ]] || awk -v u="$us" 'BEGIN{if (u > 0) printf "%.0f", 1e6 / u}'
}
tls_ratio() {  # tls_ratio A B: A / B as "0.00×" ("–" unless both > 0)
  [[ -z $1 || -z $2 ]] && { echo "–"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN{ if (a <= 0 || b <= 0) print "–"; else printf "%.2f×", a / b }'
}
tls_label() {
  case "$1" in
    full13_ecdsa) echo "full, ECDSA P-256, TLS 1.3" ;;
    full13_rsa) echo "full, RSA 2048, TLS 1.3" ;;
    resumed13) echo "resumed (ticket), TLS 1.3" ;;
    full12_ecdsa) echo "full, ECDSA P-256, TLS 1.2" ;;
    full12_rsa) echo "full, RSA 2048, TLS 1.2" ;;
    resumed12) echo "resumed (ticket), TLS 1.2" ;;
    h1) echo "HTTP/1.1, $TLS_H1_CONNS conns" ;;
    h2) echo "h2, $TLS_H2_CONNS conns × $TLS_H2_STREAMS streams" ;;
  esac
}

report_tls() {
  echo "## 7. TLS: nginx and infergate terminating TLS, 1 worker each"
  echo
  if [[ -n $TLS_SKIPPED ]]; then echo "Not run: $TLS_SKIPPED."; echo; return 0; fi
  local ig=infergate-1w ng=nginx p t
  echo "Both proxies on CPU $PROXY_CPU with the same throwaway self-signed certificate (ECDSA P-256, or RSA"
  echo "2048 in the RSA rows; made with the openssl CLI for this run), TLS 1.2 and 1.3, the same TLS 1.2"
  echo "suites (\`$TLS_CIPHERS\`) and groups (\`$TLS_GROUPS\`), session tickets on (keys made in memory"
  echo "at start), ALPN h2 and http/1.1 on one port, proxying to the same mock over HTTP/1.1 keep-alive."
  echo "nginx: \`bench/peers/nginx-tls.conf.template\` (\`listen ... ssl reuseport http2\`, default"
  echo "\`ssl_session_cache none\`); infergate: \`bench/peers/infergate-tls.yaml.template\`, \`--workers 1\`."
  echo "OpenSSL: $(openssl version | cut -d' ' -f1-2) (both link the system library). Load clients and the mock on CPU $LOAD_CPU."
  echo
  echo "Resumption check (\`openssl s_client -sess_out\`, then \`-sess_in\`): $TLS_SANITY."
  echo
  echo "### 7a. Handshakes per second"
  echo
  echo "$TLS_STIME_PROCS \`openssl s_time\` clients in parallel on CPU $LOAD_CPU, each one connection at a time: TCP"
  echo "connect, handshake, \`GET /v1/models HTTP/1.0\` (proxied to the mock), read to the server's close."
  echo "Connections finished in a ${TLS_WINDOW_S} s window after a ${TLS_WARMUP_S} s warm-up, counted from s_time's one mark per"
  echo "connection ('r' when resumed: the reused column is the share that really resumed), with the CPU time"
  echo "of the server and of CPU $LOAD_CPU (the clients and the mock) over the same window. s_time runs with"
  if [[ -n $TLS_PRELOAD ]]; then
    echo "bench/tls_lenient_eof.c preloaded (\`SSL_OP_IGNORE_UNEXPECTED_EOF\`: a close without close_notify ends"
    echo "the response instead of failing the connection and dropping its session; see the resumption check)."
  else
    echo "no shim (it could not be built): a server that closes without close_notify is not resumed."
  fi
  echo "Commands (PORT = the peer's port):"
  echo
  echo '```'
  for t in "${TLS_HS_TESTS[@]}"; do
    read -r name _ args <<<"$t"
    printf '%-32s openssl s_time -connect 127.0.0.1:PORT %s -time N -www /v1/models\n' \
      "# $(tls_label "$name"):" "$args"
  done
  echo '```'
  echo
  echo "| handshake | nginx conn/s | infergate conn/s | ratio | reused % (nginx / infergate) | server CPU % (nginx / infergate) | CPU $LOAD_CPU % (clients + mock) | nginx CPU µs per conn | infergate CPU µs per conn | per core: nginx conn/s | per core: infergate conn/s | ratio |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for t in "${TLS_HS_TESTS[@]}"; do
    t=${t%% *}
    local cn ci
    cn=$(tls_capacity "$ng" "hs_${t}_cpu_us"); ci=$(tls_capacity "$ig" "hs_${t}_cpu_us")
    echo "| $(tls_label "$t") | $(tls_cell "hs_$t" "$ng" 0) | $(tls_cell "hs_$t" "$ig" 0) | $(tls_ratio "$(tls_med "hs_$t" "$ig")" "$(tls_med "hs_$t" "$ng")") | $(tls_med "hs_${t}_reused_pct" "$ng") / $(tls_med "hs_${t}_reused_pct" "$ig") | $(tls_med "hs_${t}_cpu" "$ng") / $(tls_med "hs_${t}_cpu" "$ig") | $(tls_med "hs_${t}_load_cpu" "$ng") / $(tls_med "hs_${t}_load_cpu" "$ig") | $(tls_cell "hs_${t}_cpu_us" "$ng" 1) | $(tls_cell "hs_${t}_cpu_us" "$ig" 1) | ${cn:-–} | ${ci:-–} | $(tls_ratio "$ci" "$cn") |"
  done
  echo
  echo "Ratios are infergate's over nginx's (the goal: ≥ 1). \"Per core\" = 10⁶ / the median CPU µs per"
  echo "connection: the rate one fully busy core of that server would reach. It is the figure to read"
  echo "when the server's CPU is below ~90%: then the load side bounded the measured rate (CPU $LOAD_CPU near"
  echo "100%: s_time costs the client more per connection than the handshake costs the server, above all"
  echo "for ECDSA, whose signature check costs the client more than the signature costs the server), or"
  echo "the round trips of $TLS_STIME_PROCS one-at-a-time clients did (resumption: neither core full)."
  echo
  echo "### 7b. Requests per second over kept-alive TLS connections"
  echo
  echo "The non-streamed ~300-byte chat completion (bench/macro/chat.lua's body) with h2load, TLS 1.3, ECDSA"
  echo "certificate, $TLS_DURATION after a $TLS_WARMUP warm-up (the handshakes happen in the warm-up):"
  echo
  echo '```'
  for t in "${TLS_RPS_TESTS[@]}"; do tls_h2load_cmd "$t" PORT; done
  echo '```'
  echo
  for t in "${TLS_RPS_TESTS[@]}"; do [[ -n ${TLS_RPS_INFO[$t]:-} ]] && echo "- $t: ${TLS_RPS_INFO[$t]}"; done
  echo
  echo "Ratios are infergate's over nginx's; per core = 10⁶ / the median CPU µs per request. A server CPU"
  echo "below ~90% with CPU $LOAD_CPU near 100% means the load side bounded the rate."
  echo
  echo "| protocol | nginx req/s | infergate req/s | ratio | errors (nginx / infergate) | server CPU % (nginx / infergate) | CPU $LOAD_CPU % (h2load + mock) | nginx CPU µs per req | infergate CPU µs per req | per core: nginx req/s | per core: infergate req/s | ratio |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for t in "${TLS_RPS_TESTS[@]}"; do
    local cn ci
    cn=$(tls_capacity "$ng" "rps_${t}_cpu_us"); ci=$(tls_capacity "$ig" "rps_${t}_cpu_us")
    echo "| $(tls_label "$t") | $(tls_cell "rps_$t" "$ng" 0) | $(tls_cell "rps_$t" "$ig" 0) | $(tls_ratio "$(tls_med "rps_$t" "$ig")" "$(tls_med "rps_$t" "$ng")") | $(tls_med "rps_${t}_errors" "$ng") / $(tls_med "rps_${t}_errors" "$ig") | $(tls_med "rps_${t}_cpu" "$ng") / $(tls_med "rps_${t}_cpu" "$ig") | $(tls_med "rps_${t}_load_cpu" "$ng") / $(tls_med "rps_${t}_load_cpu" "$ig") | $(tls_cell "rps_${t}_cpu_us" "$ng" 1) | $(tls_cell "rps_${t}_cpu_us" "$ig" 1) | ${cn:-–} | ${ci:-–} | $(tls_ratio "$ci" "$cn") |"
  done
  echo
  if [[ " ${TLS_PEERS[*]} " == *" infergate-base "* ]]; then
    echo "infergate baseline ($BASE_BIN), medians:"
    for t in "${TLS_HS_TESTS[@]}"; do
      t=${t%% *}; echo "$(tls_label "$t") $(tls_cell "hs_$t" infergate-base 0) conn/s, $(tls_cell "hs_${t}_cpu_us" infergate-base 1) CPU µs per conn;"
    done
    for t in "${TLS_RPS_TESTS[@]}"; do
      echo "$(tls_label "$t") $(tls_cell "rps_$t" infergate-base 0) req/s, $(tls_cell "rps_${t}_cpu_us" infergate-base 1) CPU µs per req;"
    done
    echo
  fi
}
