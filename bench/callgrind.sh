#!/usr/bin/env bash
# bench/callgrind.sh: instructions per proxied request (callgrind Ir), for one or more infergate
# binaries side by side. Instruction counts are stable on noisy machines where wall-clock is not.
# Each binary serves a model-routed chat completion (one worker) from the current build's mock,
# driven by infergate-loadgen with 4 connections; instrumentation covers only the measured load,
# not start-up or warm-up. Loopback only; each load is bounded in time.
# CALLGRIND_CASE=429: instead, Ir per refused request: a tenant whose requests_per_minute (1) is
# spent sends chat completions with a BODY_BYTES (4096) body; every answer after the first is a
# 429 decided from the head. Ir is user-space only: the kernel's side of a body read or of a new
# connection is not in it.
#   usage: bench/callgrind.sh BINARY [BINARY...]     e.g. /tmp/base/build/bin/infergate build/bin/infergate
# CALLGRIND_KEEP=DIR keeps each profile as DIR/callgrind-N.out (for callgrind_annotate).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${INFERGATE_BUILD:-$ROOT/build}/bin
DURATION=${CALLGRIND_DURATION:-8s}
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
CASE=${CALLGRIND_CASE:-proxied}
PORT=${CALLGRIND_PORT:-18280}  # the gateway; the mock on the next port
MOCK_PORT=$((PORT + 1))
BODY_BYTES=${BODY_BYTES:-4096}
[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
WORK=$(mktemp -d /tmp/infergate-callgrind.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
cat > "$WORK/gw.yaml" <<YAML
listeners:
  - name: public
    listen: 127.0.0.1:${PORT}
pools:
  - name: main
    backends: [http://127.0.0.1:${MOCK_PORT}]
routes:
  - {name: chat, match: {model: mock-model, path_prefix: /v1/}, to: main}
YAML
LOAD=(--url http://127.0.0.1:${PORT}/v1/chat/completions --connections 4)
COUNTED=requests
if [[ $CASE == 429 ]]; then
  sed -i "s|listen: 127.0.0.1:${PORT}|&\n    require_api_key: true|" "$WORK/gw.yaml"
  cat >> "$WORK/gw.yaml" <<YAML
tenants:
  - name: flood
    api_keys_sha256: [$(printf %s flood-key | sha256sum | cut -d' ' -f1)]
    limits: {requests_per_minute: 1}
YAML
  python3 -c "import json,sys; n=int(sys.argv[1]); b={'model':'mock-model','messages':[{'role':'user','content':''}]}
b['messages'][0]['content']='x'*max(0,n-len(json.dumps(b))); sys.stdout.write(json.dumps(b))" \
    "$BODY_BYTES" > "$WORK/body.json"
  LOAD+=(--body "$WORK/body.json" --header "authorization: Bearer flood-key")
  COUNTED=refused
fi
"$BIN_DIR/infergate-mock" --listen 127.0.0.1:${MOCK_PORT} --id m --model mock-model --tokens 4 \
  > "$WORK/mock.log" 2>&1 &
PIDS+=($!)
printf '| binary | %s | Ir | Ir per request |\n|---|---|---|---|\n' "$COUNTED"
n=0
for bin in "$@"; do
  n=$((n + 1))
  out="$WORK/cg-$n.out"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$bin" \
    -c "$WORK/gw.yaml" --workers 1 > "$WORK/gw-$n.log" 2>&1 &
  gw=$!
  for _ in $(seq 1 150); do grep -q "listener public on" "$WORK/gw-$n.log" && break; sleep 0.2; done
  "$BIN_DIR/infergate-loadgen" "${LOAD[@]}" --duration 2s > /dev/null 2>&1 || true
  callgrind_control -i on "$gw" > /dev/null 2>&1
  "$BIN_DIR/infergate-loadgen" "${LOAD[@]}" --duration "$DURATION" --json \
    2> /dev/null > "$WORK/load-$n.json" || true
  callgrind_control -d "$gw" > /dev/null 2>&1
  callgrind_control -i off "$gw" > /dev/null 2>&1
  kill -TERM "$gw"; wait "$gw" || true
  ir=$(awk '/^totals:/{print $2}' "$out.1")
  req=$(python3 -c "import json,sys;d=json.load(open(sys.argv[1]))
print(d['requests'] if sys.argv[2] == 'requests' else d['error_kinds'].get('status_4xx', 0))" \
    "$WORK/load-$n.json" "$COUNTED")
  printf '| %s | %s | %s | %s |\n' "$bin" "$req" "$ir" "$((ir / req))"
  [[ -n ${CALLGRIND_KEEP:-} ]] && mkdir -p "$CALLGRIND_KEEP" && cp "$out.1" "$CALLGRIND_KEEP/callgrind-$n.out"
done
