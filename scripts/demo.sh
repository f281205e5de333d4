#!/usr/bin/env bash
# The demo behind `make run`: a "large" and a "small" mock model server and infergate in front
# of them with config/demo.yaml. Ctrl-C stops everything.
set -euo pipefail
bin=${1:-build/bin}
cd "$(dirname "$0")/.."
pids=()
cleanup() { trap - EXIT INT TERM; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; echo; echo "demo stopped"; }
trap cleanup EXIT INT TERM

"$bin/infergate-mock" --listen 127.0.0.1:9001 --id large --model meta-llama/Llama-3.1-70B-Instruct \
  --tokens 24 --token-interval 40ms --ttft 150ms &
pids+=($!)
"$bin/infergate-mock" --listen 127.0.0.1:9002 --id small --model llama-8b --tokens 12 --token-interval 15ms &
pids+=($!)
"$bin/infergate" -c config/demo.yaml --workers 2 &
pids+=($!)
for _ in $(seq 50); do
  curl -s -o /dev/null http://127.0.0.1:9901/ready 2>/dev/null && break
  sleep 0.1
done

cat <<'TXT'

infergate is listening on http://127.0.0.1:8080 (admin and metrics on http://127.0.0.1:9901).
Try, in another terminal:

  # 1. non-streaming, routed by model to the "large" pool (the model name is rewritten)
  curl -s http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"llama-70b","messages":[{"role":"user","content":"Hello"}]}'

  # 2. streaming (SSE): tokens arrive as the backend produces them
  curl -sN http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"llama-8b","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

  # 3. an unknown model: a 404 in the OpenAI error shape, with its x-request-id
  curl -si http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"gpt-9","messages":[]}'

Metrics: curl -s http://127.0.0.1:9901/metrics     Stop: Ctrl-C
TXT
wait
