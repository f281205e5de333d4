#!/usr/bin/env bash
# The llm forward pass side by side (issue 17): infergate-llm-bench (8-bit activations),
# llama.cpp (bench/llm_llamacpp.mjs) and PyTorch eager (bench/llm_torch.py), one thread, on the
# generated 120M-parameter llama in each type, peers interleaved per model so that they share
# the machine's load. Prints a markdown table of tokens per CPU second on stdout, the peers'
# own output on stderr.
#
#   bench/llm.sh [TYPE...]      # TYPE: q8_0 q4_k q4_k_m (default all three); about 2 min each
#
# INFERGATE_BUILD=DIR picks the build holding bin/infergate-llm-bench (default build-cc; not
# built here). A peer that is missing (no binary, no node or node-llama-cpp, no torch) is
# skipped with a message. Missing model files are written into $TMPDIR/infergate-llm-bench/
# with the arguments llm_bench.cc uses (it would write the same files).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_START=$(date +%s)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # log (reads RUN_START), order

BENCH=${INFERGATE_BUILD:-$ROOT/build-cc}/bin/infergate-llm-bench
NODE_LIB=${NODE_LLAMA_CPP:-$ROOT/tests/tokenize/node_modules/node-llama-cpp/dist/index.js}
DIR=${TMPDIR:-/tmp}/infergate-llm-bench
TYPES=("$@")
[[ ${#TYPES[@]} -gt 0 ]] || TYPES=(q8_0 q4_k q4_k_m)
WORK=$(mktemp -d /tmp/infergate-llm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

declare -A INDEX=([q8_0]=0 [q4_k]=1 [q4_k_m]=2)
for t in "${TYPES[@]}"; do
  [[ -n ${INDEX[$t]:-} ]] || { echo "llm.sh: unknown type $t (q8_0, q4_k, q4_k_m)" >&2; exit 2; }
done

PEERS=()
if [[ -x $BENCH ]]; then PEERS+=(infergate); else log "infergate: skipped, no $BENCH"; fi
if ! command -v node >/dev/null; then
  log "llama.cpp: skipped, no node"
elif [[ ! -f $NODE_LIB ]]; then
  log "llama.cpp: skipped, no node-llama-cpp at $NODE_LIB (make tokenize-vectors installs it)"
else
  PEERS+=(llama.cpp)
fi
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then PEERS+=(torch)
else log "torch: skipped, no torch for /usr/bin/python3 (apt-get install python3-torch)"; fi
[[ ${#PEERS[@]} -gt 0 ]] || { log "no peer to run"; exit 1; }

declare -A TOK  # [type,peer,row] -> tokens per CPU second; rows: prompt b1 b4

run_peer() {  # run_peer PEER TYPE FILE: fills TOK from the peer's output
  local peer=$1 type=$2 file=$3 out="$WORK/$1-$2"
  case $peer in
    infergate)
      "$BENCH" --benchmark_filter="type:${INDEX[$type]}/qact:1/threads:1/" \
        --benchmark_out="$out.json" --benchmark_out_format=json >"$out" 2>&1 || return 1
      # "name": "BM_LlmGenerate/.../batch:4/real_time", ... "tok/cpu_s": 2.8e+02,
      awk -F'"' '/"name":/ { row = $4 ~ /Prompt/ ? "prompt" : $4 ~ /batch:1/ ? "b1" : "b4" }
                 /"tok\/cpu_s":/ { v = $3; gsub(/[:, ]/, "", v); print row, v }' "$out.json" \
        >"$out.tok" ;;
    llama.cpp | torch)
      if [[ $peer == torch ]]; then
        "$ROOT/bench/llm_torch.py" "$file" 1 >"$out" 2>&1 || return 1
      else
        node "$ROOT/bench/llm_llamacpp.mjs" "$file" 1 >"$out" 2>&1 || return 1
      fi
      # "prompt 64   220.6 tok/s   335.4 tok/cpu_s"
      awk '/^prompt 64 / { print "prompt", $(NF-1) }
           /^generate batch [14] / { print "b" $3, $(NF-1) }' "$out" >"$out.tok" ;;
  esac
  local row v
  while read -r row v; do TOK[$type,$peer,$row]=$v; done <"$out.tok"
}

mkdir -p "$DIR"
rep=0
for type in "${TYPES[@]}"; do
  file="$DIR/llama-768x12-$type.gguf"
  if [[ ! -f $file ]]; then
    log "writing $file"
    /usr/bin/python3 -B "$ROOT/scripts/gguf/gen_gguf.py" --arch llama --seed 1 --n-embd 768 \
      --n-layer 12 --n-head 12 --n-head-kv 4 --n-ff 2048 --vocab-pad 31680 --context 2048 \
      --type "$type" --out "$file.tmp" && mv "$file.tmp" "$file"
  fi
  ((++rep))
  for peer in $(order "$rep" "${PEERS[@]}"); do
    log "$type: $peer"
    if run_peer "$peer" "$type" "$file"; then sed 's/^/    /' "$WORK/$peer-$type" >&2
    else log "$type: $peer failed:"; tail -5 "$WORK/$peer-$type" >&2; fi
  done
done

echo "Tokens per CPU second, 1 thread ($(date -u +%F), $(nproc) CPUs, load average" \
  "$(cut -d' ' -f1-3 /proc/loadavg) at the end):"
echo
header="|" rule="|---"
for type in "${TYPES[@]}"; do
  for peer in infergate llama.cpp torch; do header+=" | $peer ${type^^}"; rule+="|---"; done
done
echo "$header |"
echo "$rule|"
for row in prompt b1 b4; do
  case $row in
    prompt) line="| prompt (64 tokens)" ;;
    b1) line="| generation, batch 1" ;;
    b4) line="| generation, batch 4" ;;
  esac
  for type in "${TYPES[@]}"; do
    for peer in infergate llama.cpp torch; do
      v=${TOK[$type,$peer,$row]:-–}
      [[ $v == – ]] || v=$(printf '%.0f' "$v")
      line+=" | $v"
    done
  done
  echo "$line |"
done
echo
echo "infergate: CPU time of the computing thread; llama.cpp (node) and torch: of the whole" \
  "process. torch computes in float32 (weights dequantized: no GGUF types in PyTorch eager)."
