# Shared by bench/run.sh, bench/failover.sh and bench/isolation.sh: option parsing, process
# cleanup, logging and the build step. Expects ROOT, WORK, RUN_START and the array PIDS to be set
# by the sourcing script before cleanup, logging or building is used.

# bench_args SCRIPT SCENARIOS PEERS "$@": the options every bench script takes (--reps, --only,
# --quick, --out, --help, and --peers when PEERS, a comma list of allowed peers, is not empty).
# Sets REPS, ONLY, QUICK, OUT and PEER_LIST, keeping the caller's values as defaults; `usage`
# must be defined. Exits 2 on an unknown option, scenario or peer.
bench_args() {
  local script=$1 scenarios=$2 peers=$3 s
  shift 3
  QUICK=${QUICK:-0}
  OUT=${OUT:-}
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --reps) REPS="$2"; shift 2 ;;
      --reps=*) REPS="${1#*=}"; shift ;;
      --only) ONLY="$2"; shift 2 ;;
      --only=*) ONLY="${1#*=}"; shift ;;
      --peers) [[ -n $peers ]] || break; PEER_LIST="$2"; shift 2 ;;
      --peers=*) [[ -n $peers ]] || break; PEER_LIST="${1#*=}"; shift ;;
      --quick) QUICK=1; shift ;;
      --out) OUT="$2"; shift 2 ;;
      --out=*) OUT="${1#*=}"; shift ;;
      -h|--help) usage; exit 0 ;;
      *) break ;;
    esac
  done
  if [[ $# -gt 0 ]]; then
    echo "$script: unknown argument $1" >&2; usage >&2; exit 2
  fi
  [[ $REPS =~ ^[1-9][0-9]?$ ]] || { echo "$script: --reps must be 1..99" >&2; exit 2; }
  for s in ${ONLY//,/ }; do
    [[ ",$scenarios," == *",$s,"* ]] || { echo "$script: unknown scenario $s" >&2; exit 2; }
  done
  if [[ -n $peers ]]; then
    for s in ${PEER_LIST//,/ }; do
      [[ ",$peers," == *",$s,"* ]] || { echo "$script: unknown peer $s" >&2; exit 2; }
    done
  fi
}

# Stops every process the script started (resuming stopped ones first), then removes WORK
# unless BENCH_KEEP=1.
bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "scratch kept in $WORK" >&2; else rm -rf "$WORK"; fi
}

log() { printf '[%4ds] %s\n' "$(($(date +%s) - RUN_START))" "$*" >&2; }

# bench_machine: raises the open-file limit to its hard limit and picks the CPUs: the proxy on
# CPU 0 and the load on CPU 1 (both on CPU 0 on a one-CPU machine). Sets NOFILE, NCPU,
# PROXY_CPU, LOAD_CPU and ALL_CPUS.
bench_machine() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  NOFILE=$(ulimit -n)
  NCPU=$(nproc)
  if ((NCPU >= 2)); then
    PROXY_CPU=0; LOAD_CPU=1
  else
    PROXY_CPU=0; LOAD_CPU=0
    log "warning: one CPU; the proxy and the load generators share it"
  fi
  ALL_CPUS="0-$((NCPU - 1))"
}

# bench_results_init: empty RESULTS (tab-separated records) and NOTES files in WORK, for record
# and note.
bench_results_init() {
  RESULTS="$WORK/results.tsv"; : >"$RESULTS"
  NOTES="$WORK/notes.txt"; : >"$NOTES"
}
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RESULTS"; }
note() { echo "$*" >>"$NOTES"; log "note: $*"; }

# order REP ITEM...: the items forward on odd repetitions and reversed on even ones, so drift over
# a run does not favour whoever goes first.
order() {
  local rep=$1; shift
  local list=("$@") i
  if ((rep % 2 == 0)); then
    for ((i = ${#list[@]} - 1; i >= 0; i--)); do echo "${list[$i]}"; done
  else
    printf '%s\n' "${list[@]}"
  fi
}

# bench_build TARGET...: sets BUILD, BUILD_TYPE and BIN, configuring a Release build in $ROOT/build unless
# INFERGATE_BUILD names one, and building the targets unless INFERGATE_NO_BUILD=1.
bench_build() {
  if [[ -n ${INFERGATE_BUILD:-} ]]; then
    BUILD=$(cd "$INFERGATE_BUILD" && pwd)
  else
    BUILD="$ROOT/build"
    if [[ ! -f $BUILD/CMakeCache.txt ]]; then
      log "configuring a Release build in $BUILD"
      cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 ||
        { cat "$WORK/cmake.log" >&2; exit 1; }
    fi
  fi
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
  [[ $BUILD_TYPE == Release ]] || log "warning: $BUILD is a '$BUILD_TYPE' build; numbers need Release"
  if [[ ${INFERGATE_NO_BUILD:-0} == 1 ]]; then
    log "INFERGATE_NO_BUILD=1: using the binaries in $BUILD/bin as they are"
  else
    log "building $* in $BUILD"
    cmake --build "$BUILD" --target "$@" >"$WORK/build.log" 2>&1 ||
      { tail -50 "$WORK/build.log" >&2; exit 1; }
  fi
  BIN="$BUILD/bin"
}

# Shared by the scenario scripts.
bench_require() {  # bench_require BINARY...: each must be in $BIN, else the script stops
  local b
  for b in "$@"; do
    [[ -x $BIN/$b ]] || { log "$(basename "$0"): error: $BIN/$b is missing"; exit 1; }
  done
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }  # something listens on it
wait_for() {  # wait_for SECONDS COMMAND...: polls every 0.05 s; false when time runs out
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# stop_pid PID [SECONDS]: continue it (if stopped), TERM, KILL after SECONDS (default 5), reap.
stop_pid() {
  local pid=$1 grace=${2:-5}
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait_for "$grace" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# A number from the load generator's flat JSON output (0 when absent): jnum FILE KEY [SUBKEY].
jnum() {
  local v
  if [[ -z ${3:-} ]]; then
    v=$(grep -o "\"$2\":[-0-9.e+]*" "$1" | head -1 | cut -d: -f2) || true
  else
    v=$(grep -o "\"$2\":{[^}]*}" "$1" | grep -o "\"$3\":[-0-9.e+]*" | head -1 | cut -d: -f2) || true
  fi
  echo "${v:-0}"
}
# Report helpers over $RESULTS (lines "KEY METRIC CONFIG REP VALUE", tab-separated).
# median_range: the numbers on stdin -> "median min max n" (nothing when there are none).
median_range() {
  sort -g | awk '{v[NR] = $1} END {if (NR == 0) exit; med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print med, v[1], v[NR], NR}'
}
# stats KEY METRIC CONFIG -> "median min max n" over repetitions (empty when no data).
stats() {
  awk -F'\t' -v s="$1" -v m="$2" -v p="$3" '$1 == s && $2 == m && $3 == p {print $5}' "$RESULTS" |
    median_range
}
# paired KEY METRIC CONFIG REF [OP] -> the same over CONFIG op REF paired by repetition
# (OP: ratio, the default, skipping references at or below zero; or diff).
paired() {
  awk -F'\t' -v s="$1" -v m="$2" -v p="$3" -v r="$4" -v op="${5:-ratio}" '$1 == s && $2 == m && $3 == r {d[$4] = $5}
    $1 == s && $2 == m && $3 == p {x[$4] = $5}
    END {for (k in x) if (k in d) { if (op == "diff") print x[k] - d[k]; else if (d[k] > 0) print x[k] / d[k] }}' "$RESULTS" |
    median_range
}
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN{printf "%.*f", d, v}'; }
cell() {  # cell "median min max n" DECIMALS [SUFFIX] -> "median (min–max)"
  local med min max n
  read -r med min max n <<<"$1"
  [[ -z ${med:-} ]] && { echo "–"; return; }
  if [[ $n == 1 ]]; then echo "$(fmt "$med" "$2")${3:-}"; else
    echo "$(fmt "$med" "$2")${3:-} ($(fmt "$min" "$2")–$(fmt "$max" "$2"))"; fi
}
# The end of a results file: the run's notes, then the raw figures folded. bench_tail COLUMNS
bench_tail() {
  if [[ -s $NOTES ]]; then
    echo "## Notes from this run"
    echo
    sed 's/^/- /' "$NOTES"
    echo
  fi
  echo "<details><summary>Raw figures ($1)</summary>"
  echo
  echo '```'
  cat "$RESULTS"
  echo '```'
  echo "</details>"
}
