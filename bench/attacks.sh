#!/usr/bin/env bash
# bench/attacks.sh: what an attacker on the network can make one infergate worker hold, and
# whether a normal client keeps being served meanwhile: (1) slowloris, N connections each sending
# one byte of a request head every 5 s, with the gateway's fd limit as the shell has it and under
# prlimit --nofile=4096 (so max_connections, half the fds, is below N); (2) one endless chunk
# extension; (3) an endless trailer section; (4) N silent connections. For each: the gateway's
# VmRSS and open fds before, at peak and after, its connection metrics, what happened to the
# attacker's connections, and a normal client's GET /v1/models every 200 ms. Loopback only;
# every load is bounded in count and time. Writes bench/results/attacks-<date>.md.
# The attacker, the normal client and the sampler are bench/attack.py (python3, standard library).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/attacks.sh [--only LIST] [--quick] [--out FILE] [options]
  --only LIST          comma-separated scenarios: slowloris,chunkext,trailers,silent (default: all)
  --quick              a smoke run (~30 s): 2,000 slowloris connections for 6 s (a byte a second),
                       header_timeout 3s, 500 silent connections, 32 MiB / 4 MiB streams, the
                       limited run at --nofile=1024
  --out FILE           the report (default bench/results/attacks-YYYY-MM-DD.md)
  --conns N            slowloris connections (default 20000; split over several attacker
                       processes when N exceeds the hard RLIMIT_NOFILE)
  --duration S         how long the slowloris connections are held (default 30)
  --rate R             connections opened per second (default 4000)
  --byte-interval S    slowloris: one byte of the head every S seconds (default 5)
  --limited-nofile N   the second slowloris run's gateway fd limit (default 4096)
  --silent-conns N     silent connections (default 5000)
  --silent-duration S  how long the silent connections are held (default 25; past the
                       header_timeout, well short of keepalive_timeout 75s)
  --header-timeout S   the listener's header_timeout in seconds (default 10)
  --chunk-mib N        chunk-extension bytes at most (default 256)
  --trailer-mib N      trailer bytes at most (default 32)
Environment: INFERGATE_BUILD=DIR uses that build directory instead of ./build;
INFERGATE_NO_BUILD=1 runs the binaries already there; BENCH_KEEP=1 keeps the scratch directory
(configs, logs, raw JSON). Ports are chosen by the kernel (port 0) and read from the logs.
EOF
}

# shellcheck disable=SC2034  # bench_args checks REPS; one repetition here
REPS=1
ONLY="slowloris,chunkext,trailers,silent"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

ARGV_STR=$(printf ' %q' "$@"); [[ $# -gt 0 ]] || ARGV_STR=""
# This script's own options first; the rest go to bench_args (--only, --quick, --out, --help).
CONNS="" DURATION="" RATE="" BYTE_INTERVAL="" LIMITED_NOFILE="" SILENT_CONNS="" SILENT_DURATION=""
HEADER_TIMEOUT="" CHUNK_MIB="" TRAILER_MIB=""
rest=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --conns|--duration|--rate|--byte-interval|--limited-nofile|--silent-conns|--silent-duration|--header-timeout|--chunk-mib|--trailer-mib)
      [[ $# -ge 2 ]] || { echo "attacks.sh: $1 needs a value" >&2; exit 2; }
      v=$2
      [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "attacks.sh: $1 needs a number, not '$v'" >&2; exit 2; }
      case "$1" in
        --conns|--limited-nofile|--silent-conns|--chunk-mib|--trailer-mib)
          [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "attacks.sh: $1 needs a positive integer, not '$v'" >&2; exit 2; } ;;
      esac
      case "$1" in
        --conns) CONNS=$v ;; --duration) DURATION=$v ;; --rate) RATE=$v ;;
        --byte-interval) BYTE_INTERVAL=$v ;; --limited-nofile) LIMITED_NOFILE=$v ;;
        --silent-conns) SILENT_CONNS=$v ;; --silent-duration) SILENT_DURATION=$v ;;
        --header-timeout) HEADER_TIMEOUT=$v ;; --chunk-mib) CHUNK_MIB=$v ;; --trailer-mib) TRAILER_MIB=$v ;;
      esac
      shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
bench_args attacks.sh "slowloris,chunkext,trailers,silent" "" ${rest[@]+"${rest[@]}"}
want() { [[ ",$ONLY," == *",$1,"* ]]; }

# Defaults (full run about 2.5 minutes; --quick about 30 s). Explicit flags win.
if [[ $QUICK == 1 ]]; then
  : "${CONNS:=2000}" "${DURATION:=6}" "${BYTE_INTERVAL:=1}" "${LIMITED_NOFILE:=1024}"
  : "${SILENT_CONNS:=500}" "${SILENT_DURATION:=6}" "${HEADER_TIMEOUT:=3}"
  : "${CHUNK_MIB:=32}" "${TRAILER_MIB:=4}"
  SETTLE=1; NORMAL_MIN=1.5
else
  SETTLE=2; NORMAL_MIN=3
fi
: "${CONNS:=20000}" "${DURATION:=30}" "${RATE:=4000}" "${BYTE_INTERVAL:=5}" "${LIMITED_NOFILE:=4096}"
: "${SILENT_CONNS:=5000}" "${SILENT_DURATION:=25}" "${HEADER_TIMEOUT:=10}"
: "${CHUNK_MIB:=256}" "${TRAILER_MIB:=32}"
KEEPALIVE_TIMEOUT=75

cd "$ROOT"
[[ -n $OUT ]] || OUT="$ROOT/bench/results/attacks-$(date +%Y-%m-%d).md"
WORK=$(mktemp -d /tmp/infergate-attacks.XXXXXX)
RUN_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

declare -a PIDS=()
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
die() { log "attacks.sh: error: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is needed (bench/attack.py)"
command -v taskset >/dev/null || die "taskset (util-linux) is needed for CPU pinning"
command -v prlimit >/dev/null || die "prlimit (util-linux) is needed for the limited-fd run"
ATTACK="$ROOT/bench/attack.py"
[[ -f $ATTACK ]] || die "$ATTACK is missing"

bench_build infergate infergate-mock
for b in infergate infergate-mock; do [[ -x $BIN/$b ]] || die "$BIN/$b is missing"; done
# The run uses copies, so a rebuild of the build directory while it runs cannot mix binaries.
BUILD_BIN=$BIN
bin_time=$(date -r "$BUILD_BIN/infergate" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo "?")
mkdir -p "$WORK/bin"
cp "$BUILD_BIN/infergate" "$BUILD_BIN/infergate-mock" "$WORK/bin/"
BIN="$WORK/bin"
bin_sha=$(sha256sum "$BIN/infergate" | cut -c1-12)
bench_machine
HARD_NOFILE=$(ulimit -Hn)

bench_results_init
CMDS="$WORK/commands.txt"; : >"$CMDS"
# run_logged CMD...: records the exact command line (shell-quoted) for the report, then runs it.
logcmd() { printf '%q ' "$@" | sed 's/ $//' >>"$CMDS"; echo >>"$CMDS"; }

ver_infergate=$("$BIN/infergate" --version 2>&1 | head -1)
ver_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || ver_git="$ver_git + uncommitted changes in src/include"
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
[[ -n $cpu_model ]] || cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')

# ---- The mock: one for the whole run, on the load CPU, port chosen by the kernel.
MOCK_LOG="$WORK/mock.log"
MOCK_CMD=(taskset -c "$LOAD_CPU" "$BIN/infergate-mock" --listen 127.0.0.1:0 --id m --model m --tokens 3)
logcmd "${MOCK_CMD[@]}"
"${MOCK_CMD[@]}" >"$MOCK_LOG" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_for 10 grep -q 'listening on' "$MOCK_LOG" || { cat "$MOCK_LOG" >&2; die "infergate-mock did not start"; }
MOCK_PORT=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$MOCK_LOG" | head -1 | grep -o '[0-9]*$')
[[ -n $MOCK_PORT ]] || { cat "$MOCK_LOG" >&2; die "cannot read the mock's port from its log"; }
log "mock on 127.0.0.1:$MOCK_PORT (CPU $LOAD_CPU); gateway on CPU $PROXY_CPU, attacker and normal client on CPU $LOAD_CPU"

# ---- The gateway config: the listener's timeouts spelled out.
CFG="$WORK/gateway.yaml"
cat >"$CFG" <<EOF
listeners:
  - name: public
    listen: 127.0.0.1:0
    header_timeout: ${HEADER_TIMEOUT}s
    keepalive_timeout: ${KEEPALIVE_TIMEOUT}s
admin:
  listen: 127.0.0.1:0
pools:
  - name: main
    backends: [http://127.0.0.1:$MOCK_PORT]
routes:
  - {name: all, match: {path_prefix: /}, to: main}
EOF
"$BIN/infergate" -c "$CFG" --check-config >"$WORK/check.log" 2>&1 ||
  { cat "$WORK/check.log" >&2; die "the gateway config is invalid"; }

# ---- One fresh `infergate --workers 1` per measurement on PROXY_CPU; NOFILE_LIMIT "" = as the shell.
GW_PID=0 GW_LOG="" GW_PORT="" ADMIN_PORT="" GW_MAXCONN="" GW_NOFILE=""
start_gw() {  # start_gw NAME [NOFILE]
  GW_LOG="$WORK/gw-$1.log"
  local cmd=(taskset -c "$PROXY_CPU")
  [[ -n ${2:-} ]] && cmd+=(prlimit "--nofile=$2:$2")
  cmd+=("$BIN/infergate" -c "$CFG" --workers 1 --drain-timeout 1s)
  logcmd "${cmd[@]}"
  "${cmd[@]}" >"$GW_LOG" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  wait_for 10 bash -c "! kill -0 $GW_PID 2>/dev/null || grep -q 'admin listening on' '$GW_LOG'" || true
  if ! kill -0 "$GW_PID" 2>/dev/null || ! grep -q 'admin listening on' "$GW_LOG"; then
    tail -20 "$GW_LOG" >&2; die "infergate did not start (log above)"
  fi
  GW_PORT=$(grep -o 'listener public on 127\.0\.0\.1:[0-9]*' "$GW_LOG" | head -1 | grep -o '[0-9]*$')
  ADMIN_PORT=$(grep -o 'admin listening on 127\.0\.0\.1:[0-9]*' "$GW_LOG" | head -1 | grep -o '[0-9]*$')
  GW_MAXCONN=$(grep -o 'listener public: max_connections [0-9]*' "$GW_LOG" | head -1 | grep -o '[0-9]*$' || true)
  GW_NOFILE=$(awk '/^Max open files/ {print $4}' "/proc/$GW_PID/limits")
  [[ -n $GW_PORT && -n $ADMIN_PORT ]] || { cat "$GW_LOG" >&2; die "cannot read the gateway's ports from its log"; }
  [[ $(cat "/proc/$GW_PID/comm") == infergate ]] || die "pid $GW_PID is $(cat "/proc/$GW_PID/comm"), not infergate"
}
GW_EXIT=""
stop_gw() {
  [[ $GW_PID == 0 ]] && return 0
  GW_EXIT=""
  if ! kill -0 "$GW_PID" 2>/dev/null; then
    local rc=0; wait "$GW_PID" || rc=$?
    GW_EXIT="exited by itself with status $rc"
    note "$(basename "$GW_LOG" .log): the gateway $GW_EXIT; last log lines: $(tail -3 "$GW_LOG" | tr '\n' ' ' | cut -c1-400)"
  else
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait_for 5 bash -c "! kill -0 $GW_PID 2>/dev/null" || kill -KILL "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
  fi
  GW_PID=0
}
# gw_log_summary NAME: the gateway's warnings and errors during a measurement, counted by message.
gw_log_summary() {
  grep -E ' (warn|error|crit) ' "$WORK/gw-$1.log" 2>/dev/null |
    sed -E 's/^[^ ]+ //; s/[0-9]+(\.[0-9]+)?/N/g' | sort | uniq -c | sort -rn | head -8 |
    awk '{c=$1; $1=""; printf "- %s × `%s`\n", c, substr($0, 2, 220)}'
}

# attack NAME SCENARIO [ARGS...]: one measurement (attack.py run) against the running gateway,
# on the load CPU; JSON in WORK/NAME.json.
attack() {
  local name=$1 scen=$2; shift 2
  local cmd=(taskset -c "$LOAD_CPU" python3 "$ATTACK" run --scenario "$scen" --port "$GW_PORT"
    --admin-port "$ADMIN_PORT" --gw-pid "$GW_PID" --gw-nofile "$GW_NOFILE"
    --gw-max-connections "${GW_MAXCONN:-?}" --header-timeout "$HEADER_TIMEOUT" --settle "$SETTLE"
    --normal-min "$NORMAL_MIN" "$@" --out "$WORK/$name.json")
  logcmd "${cmd[@]}"
  local rc=0
  "${cmd[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  if [[ $rc != 0 || ! -s $WORK/$name.json ]]; then
    cat "$WORK/$name.err" >&2
    die "attack.py $scen exited with $rc"
  fi
  log "$(cat "$WORK/$name.out")"
  # Anything a reader must not miss becomes a note at the top of the report.
  local findings
  findings=$(python3 - "$WORK/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
out = list(r["errors"])
at, n = r.get("attack") or {}, r["normal"]
if at.get("late_closed") or at.get("late_open"):
    out.append("%d of %d attacker connections were held past header_timeout (%d closed late, %d still "
               "open when the attacker stopped after %g s)" % (at["late_closed"] + at["late_open"],
               at["established"], at["late_closed"], at["late_open"], r["args"]["duration"]))
if n.get("failed"):
    out.append("the normal client failed %d of %d requests (%s), the first %.1f s in" % (
        n["failed"], n["requests"], n["failures"], n["first_failure_s"]))
if not r["gateway_alive"]:
    out.append("the gateway died during the attack")
print("; ".join(out))
PY
)
  [[ -z $findings ]] || note "$name: $findings"
}

SECTIONS="$WORK/sections.md"; : >"$SECTIONS"
section() { cat >>"$SECTIONS"; }
logs_section() {  # logs_section NAME...: the gateway's warnings per measurement
  local n s
  for n in "$@"; do
    s=$(gw_log_summary "$n" || true)
    if [[ -n $s ]]; then
      printf '\nGateway warnings (%s), counted (digits shown as N):\n\n%s\n' "$n" "$s" | section
    else
      printf '\nGateway warnings (%s): none.\n' "$n" | section
    fi
  done
}

# ---- Scenario 1: slowloris, twice.
if want slowloris; then
  sl_args=(--conns "$CONNS" --duration "$DURATION" --rate "$RATE" --byte-interval "$BYTE_INTERVAL")
  log "slowloris: $CONNS connections, a byte every $BYTE_INTERVAL s, held $DURATION s; gateway fd limit as the shell ($NOFILE)"
  start_gw slowloris-default
  attack slowloris-default slowloris "${sl_args[@]}"
  stop_gw; EXIT_SL1=$GW_EXIT
  log "slowloris: the same with the gateway under prlimit --nofile=$LIMITED_NOFILE"
  start_gw slowloris-limited "$LIMITED_NOFILE"
  attack slowloris-limited slowloris "${sl_args[@]}"
  stop_gw; EXIT_SL2=$GW_EXIT
  {
    echo
    echo "## 1. Slowloris"
    echo
    echo "$CONNS connections opened at $RATE/s, each sending one byte of \`GET /v1/models HTTP/1.1\\r\\nHost: a\\r\\nX-Slow: aaaa…\`"
    echo "every $BYTE_INTERVAL s (a header timer re-armed on every byte would never fire), held for $DURATION s,"
    echo "never reopened. header_timeout ${HEADER_TIMEOUT}s. \"Age\" is the time from the attacker's connect to the close it saw."
    echo
    python3 "$ATTACK" table --scenario slowloris "gateway fd limit as the shell=$WORK/slowloris-default.json" \
      "gateway under prlimit --nofile=$LIMITED_NOFILE=$WORK/slowloris-limited.json"
    [[ -z ${EXIT_SL1:-}${EXIT_SL2:-} ]] || echo -e "\n**The gateway exited during the run:** ${EXIT_SL1:-} ${EXIT_SL2:-}"
  } | section
  logs_section slowloris-default slowloris-limited
fi

# ---- Scenarios 2 and 3: an endless chunk extension, endless trailers.
STREAM_COLS=()
if want chunkext; then
  log "chunk extension: up to $CHUNK_MIB MiB after '5;a='"
  start_gw chunkext
  attack chunkext chunkext --max-bytes $((CHUNK_MIB << 20))
  stop_gw; EXIT_CE=$GW_EXIT
  STREAM_COLS+=("chunk extension=$WORK/chunkext.json")
fi
if want trailers; then
  log "trailers: up to $TRAILER_MIB MiB of 'x-t: 1' lines after the last chunk"
  start_gw trailers
  attack trailers trailers --max-bytes $((TRAILER_MIB << 20))
  stop_gw; EXIT_TR=$GW_EXIT
  STREAM_COLS+=("trailers=$WORK/trailers.json")
fi
if ((${#STREAM_COLS[@]} > 0)); then
  {
    echo
    echo "## 2–3. Chunk extension and trailers"
    echo
    echo "One connection: \`POST /p HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n\` then either"
    echo "\`5;a=\` and up to $CHUNK_MIB MiB of \`b\` with no CRLF, or \`0\\r\\n\` and up to $TRAILER_MIB MiB of \`x-t: 1\\r\\n\` lines with no"
    echo "blank line; written in 1 KiB pieces for the first MiB, then 64 KiB, until the gateway answers or closes."
    echo
    python3 "$ATTACK" table --scenario stream "${STREAM_COLS[@]}"
    echo
    echo "¹ Written minus what was still queued in the attacker's socket (TIOCOUTQ) when the answer came:"
    echo "bytes the gateway read or held in its socket's receive buffer."
    [[ -z ${EXIT_CE:-}${EXIT_TR:-} ]] || echo -e "\n**The gateway exited during the run:** ${EXIT_CE:-} ${EXIT_TR:-}"
  } | section
  want chunkext && logs_section chunkext
  want trailers && logs_section trailers
fi

# ---- Scenario 4: silent connections.
if want silent; then
  log "silent: $SILENT_CONNS connections that send nothing, held $SILENT_DURATION s"
  start_gw silent
  attack silent silent --conns "$SILENT_CONNS" --duration "$SILENT_DURATION" --rate "$RATE"
  stop_gw; EXIT_SI=$GW_EXIT
  {
    echo
    echo "## 4. Silent connections"
    echo
    echo "$SILENT_CONNS connections opened at $RATE/s that send nothing, held up to $SILENT_DURATION s."
    echo "header_timeout ${HEADER_TIMEOUT}s, keepalive_timeout ${KEEPALIVE_TIMEOUT}s: they should close at the header timeout."
    echo
    python3 "$ATTACK" table --scenario silent "silent connections=$WORK/silent.json"
    [[ -z ${EXIT_SI:-} ]] || echo -e "\n**The gateway exited during the run:** $EXIT_SI"
  } | section
  logs_section silent
fi

# ---- Raw timelines: RSS, fds and client_connections per second of each measurement.
{
  echo
  echo "## Raw: the gateway per second"
  echo
  echo "Seconds from the start of the attack; the first sample of each second (sampled every 50 ms;"
  echo "\`client_connections\` every 0.5 s from /metrics)."
  for f in "$WORK"/*.json; do
    n=$(basename "$f" .json)
    echo
    echo "<details><summary>$n</summary>"
    echo
    python3 - "$f" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
g = dict((s, v) for s, v in r.get("client_connections_1s", []))
print("| s | RSS MiB | fds | client_connections |")
print("|---|---|---|---|")
for s, rss, fds in r.get("timeline_1s", []):
    print("| %d | %.1f | %d | %s |" % (s, rss / 1024.0, fds, "" if s not in g else int(g[s])))
PY
    echo
    echo "</details>"
  done
} | section

# ---- The report.
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$(dirname "$OUT")"
{
  echo "# infergate under attack ($(date +%Y-%m-%d))"
  echo
  echo "\`bench/attacks.sh$([[ $QUICK == 1 ]] && echo " --quick")\`: what an attacker on loopback can make one infergate worker hold, and whether a"
  echo "normal client (GET /v1/models every 200 ms, a fresh connection each time, 5 s timeout) keeps"
  echo "being served during the attack. Run time $(($(date +%s) - RUN_START)) s."
  echo
  echo "- Machine: $cpu_model, $NCPU CPUs, kernel $(uname -r); load average $LOAD_START at the start, $LOAD_END at the end."
  echo "- infergate: $ver_infergate, git $ver_git; binaries copied from $BUILD_BIN at the start (infergate built $bin_time, $BUILD_TYPE, sha256 $bin_sha…)."
  echo "- Pinning: the gateway (\`--workers 1\`) on CPU $PROXY_CPU; the mock, the attacker (nice 10) and the normal client (nice 0) on CPU $LOAD_CPU."
  echo "- Open-file limit: the shell's $NOFILE (hard $HARD_NOFILE); the attacker raises its own to the hard limit and"
  echo "  splits its connections over several processes when one limit is not enough."
  echo "- Gateway RSS is VmRSS from /proc/PID/status, open fds are the entries of /proc/PID/fd, both every 50 ms;"
  echo "  \"before\" is after 3 warm-up requests, \"after\" is ${SETTLE} s after the attacker closed everything."
  echo "  Metric rows are the change of the counter over the measurement. A fresh gateway per measurement."
  if [[ -s $NOTES ]]; then
    echo
    echo "Notes:"
    echo
    sed 's/^/- /' "$NOTES"
  fi
  cat "$SECTIONS"
  echo
  echo "## The gateway config"
  echo
  echo '```yaml'
  sed "s/127\.0\.0\.1:$MOCK_PORT/127.0.0.1:MOCKPORT/" "$CFG"
  echo '```'
  echo
  echo "## Commands"
  echo
  echo "The driver: \`bench/attacks.sh$ARGV_STR\` with CONNS=$CONNS DURATION=$DURATION RATE=$RATE BYTE_INTERVAL=$BYTE_INTERVAL"
  echo "LIMITED_NOFILE=$LIMITED_NOFILE SILENT_CONNS=$SILENT_CONNS SILENT_DURATION=$SILENT_DURATION HEADER_TIMEOUT=$HEADER_TIMEOUT CHUNK_MIB=$CHUNK_MIB TRAILER_MIB=$TRAILER_MIB."
  echo "What it ran, in order (scratch paths under /tmp; ports chosen by the kernel):"
  echo
  echo '```'
  sed "s#$WORK#\$WORK#g; s#$ROOT/##g" "$CMDS"
  echo '```'
} >"$OUT"
cat "$SECTIONS" >&2
log "report: $OUT"
