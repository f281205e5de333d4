#!/usr/bin/env bash
# bench/callgrind.sh: instructions per proxied request (callgrind Ir), for one or more infergate
# binaries side by side. Instruction counts are stable on noisy machines where wall-clock is not.
# Each binary serves a model-routed chat completion (one worker) from the current build's mock,
# driven by infergate-loadgen with 4 connections; instrumentation covers only the measured load,
# not start-up or warm-up. Loopback only; each load is bounded in time.
#   usage: bench/callgrind.sh BINARY [BINARY...]     e.g. /tmp/base/build/bin/infergate build/bin/infergate
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${INFERGATE_BUILD:-$ROOT/build}/bin
DURATION=${CALLGRIND_DURATION:-8s}
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[[ $# -ge 1 ]] || { sed -n '2,7p' "$0"; exit 2; }
WORK=$(mktemp -d /tmp/infergate-callgrind.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
cat > "$WORK/gw.yaml" <<YAML
listeners:
  - name: public
    listen: 127.0.0.1:18280
pools:
  - name: main
    backends: [http://127.0.0.1:18281]
routes:
  - {name: chat, match: {model: mock-model, path_prefix: /v1/}, to: main}
YAML
"$BIN_DIR/infergate-mock" --listen 127.0.0.1:18281 --id m --model mock-model --tokens 4 \
  > "$WORK/mock.log" 2>&1 &
PIDS+=($!)
printf '| binary | requests | Ir | Ir per request |\n|---|---|---|---|\n'
n=0
for bin in "$@"; do
  n=$((n + 1))
  out="$WORK/cg-$n.out"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$bin" \
    -c "$WORK/gw.yaml" --workers 1 > "$WORK/gw-$n.log" 2>&1 &
  gw=$!
  for _ in $(seq 1 150); do grep -q "listener public on" "$WORK/gw-$n.log" && break; sleep 0.2; done
  url=http://127.0.0.1:18280/v1/chat/completions
  "$BIN_DIR/infergate-loadgen" --url "$url" --connections 4 --duration 2s > /dev/null 2>&1
  callgrind_control -i on "$gw" > /dev/null 2>&1
  "$BIN_DIR/infergate-loadgen" --url "$url" --connections 4 --duration "$DURATION" --json \
    2> /dev/null > "$WORK/load-$n.json"
  callgrind_control -d "$gw" > /dev/null 2>&1
  callgrind_control -i off "$gw" > /dev/null 2>&1
  kill -TERM "$gw"; wait "$gw" || true
  ir=$(awk '/^totals:/{print $2}' "$out.1")
  req=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['requests'])" "$WORK/load-$n.json")
  printf '| %s | %s | %s | %s |\n' "$bin" "$req" "$ir" "$((ir / req))"
done
