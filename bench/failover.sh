#!/usr/bin/env bash
# bench/failover.sh: failure detection side by side (issue 4). infergate, HAProxy and nginx,
# each in front of three infergate-mock backends, under a steady paced load: how long a hung
# (SIGSTOPped) backend keeps receiving requests and how many client requests that hurts, and
# what clients see while a backend is killed (SIGKILL); plus microbenchmarks of the breaker
# and detector. Writes bench/results/failover-<date>.md. See bench/README.md, "Failure
# detection".
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/failover.sh [--reps N] [--only LIST] [--peers LIST] [--quick] [--out FILE]
  --reps N      repetitions of each scenario, interleaved across peers (default 3)
  --only LIST   comma-separated scenarios: hang,kill,micro (default: all)
  --peers LIST  comma-separated subset of nginx,haproxy,infergate,infergate-rr
                (default nginx,haproxy,infergate; infergate-rr is infergate with
                round_robin balancing, which isolates its detectors from least_request)
  --quick       1 repetition (about 1 minute 40 s)
  --out FILE    the report (default bench/results/failover-YYYY-MM-DD.md)
Environment: FAILOVER_RATE (requests/s, default 100) and FAILOVER_TTFT_MS (each request's time
at the mock, default 50) change the load; INFERGATE_BUILD=DIR uses that build directory instead
of ./build;
INFERGATE_NO_BUILD=1 runs the binaries already there; BENCH_PORT_BASE=N moves the 12 ports
used (default 18100); BENCH_KEEP=1 keeps the scratch directory (per-request CSVs, logs).
EOF
}

REPS=3
ONLY="hang,kill,micro"
PEER_LIST="nginx,haproxy,infergate"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_args failover.sh "hang,kill,micro" "nginx,haproxy,infergate,infergate-rr" "$@"
[[ $QUICK == 1 ]] && REPS=1  # --quick: one repetition
want() { [[ ",$ONLY," == *",$1,"* ]]; }

cd "$ROOT"
[[ -n $OUT ]] || OUT="$ROOT/bench/results/failover-$(date +%Y-%m-%d).md"
WORK=$(mktemp -d /tmp/infergate-failover.XXXXXX)
RUN_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- The measurement (the same for every peer).
RATE=${FAILOVER_RATE:-100}     # requests a second, open loop (a stuck request does not slow it)
TTFT_MS=${FAILOVER_TTFT_MS:-50} # each request takes this long at the mock (x-mock-ttft-ms):
                                # at 100/s and 50 ms, ~5 requests are in flight
WARMUP=3          # seconds of load before the fault
HANG_WINDOW=12    # seconds of load after SIGSTOP; then SIGCONT
KILL_WINDOW=10    # seconds of load after SIGKILL
STALL=1           # a request slower than this (s) was stalled by the fault
MICRO_MIN_TIME=0.1
VICTIM=1          # the mock that is stopped or killed: m1 (of m1, m2, m3)

# ---- Processes: every one started here is recorded and ended by PID on exit. A stopped mock
# is continued first, so that it can act on TERM.
declare -a PIDS=()
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---- Build.
TARGETS=(infergate infergate-mock)
want micro && TARGETS+=(infergate-microbench)
bench_build "${TARGETS[@]}"
for b in infergate infergate-mock; do
  [[ -x $BIN/$b ]] || { echo "failover.sh: $BIN/$b is missing" >&2; exit 1; }
done

# The client (python3) and the peers install themselves when missing, as in run.sh.
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v haproxy >/dev/null || missing+=(haproxy)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "failover.sh: installing ${missing[*]}" >&2
    { DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
      { timeout 300 apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y "${missing[@]}" >/dev/null 2>&1; }; } ||
      echo "failover.sh: apt-get install ${missing[*]} failed" >&2
  else
    echo "failover.sh: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

PYTHON=$(command -v python3 || true)
if [[ -z $PYTHON ]] || ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 7))'; then
  echo "failover.sh: needs python3 >= 3.7 (the per-request client)" >&2; exit 1
fi

# ---- Peers.
export PATH="$PATH:/usr/sbin:/sbin"
declare -A UNAVAILABLE=()
command -v nginx >/dev/null || UNAVAILABLE[nginx]="nginx not installed (apt-get install nginx-light)"
command -v haproxy >/dev/null || UNAVAILABLE[haproxy]="haproxy not installed (apt-get install haproxy)"
PEERS=()
for p in nginx haproxy infergate infergate-rr; do
  [[ ",$PEER_LIST," == *",$p,"* ]] && PEERS+=("$p")
done

bench_machine
PORT_BASE=${BENCH_PORT_BASE:-18100}
MPORT=("" $((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)))
PROXY_PORT=$((PORT_BASE + 10))
STATUS_PORT=$((PORT_BASE + 11))
for p in "${MPORT[1]}" "${MPORT[2]}" "${MPORT[3]}" "$PROXY_PORT" "$STATUS_PORT"; do
  if port_busy "$p"; then echo "failover.sh: port $p is in use; set BENCH_PORT_BASE" >&2; exit 1; fi
done

render() {  # render TEMPLATE OUT KEY=VALUE...
  local template=$1 out=$2; shift 2
  local sed_args=() kv
  for kv in "$@"; do sed_args+=(-e "s#@${kv%%=*}@#${kv#*=}#g"); done
  sed "${sed_args[@]}" "$template" >"$out"
}

bench_results_init

declare -a MOCK_PID=()
start_mocks() {  # start_mocks DIR: three fresh mocks m1..m3 on the load CPU
  local dir=$1 i
  MOCK_PID=("")
  for i in 1 2 3; do
    taskset -c "$LOAD_CPU" "$BIN/infergate-mock" --listen "127.0.0.1:${MPORT[$i]}" --id "m$i" \
      --model mock-model --tokens 16 --token-interval 0ms --ttft 0ms --threads 1 \
      >"$dir/mock$i.log" 2>&1 &
    MOCK_PID+=($!)
    PIDS+=($!)
  done
  for i in 1 2 3; do
    wait_for 10 grep -q listening "$dir/mock$i.log" || { cat "$dir/mock$i.log" >&2; return 1; }
  done
}
stop_mocks() { local i; for i in 1 2 3; do stop_pid "${MOCK_PID[$i]}" 3; done; }

PEER_PID=0
start_peer() {  # start_peer NAME DIR: sets PEER_PID (0 when it did not start)
  local name=$1 dir=$2 ports=(M1="${MPORT[1]}" M2="${MPORT[2]}" M3="${MPORT[3]}" PORT="$PROXY_PORT")
  PEER_PID=0
  case "$name" in
    nginx)
      render "$ROOT/bench/peers/nginx-failover.conf.template" "$dir/nginx.conf" "DIR=$dir" "${ports[@]}"
      taskset -c "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 & ;;
    haproxy)
      render "$ROOT/bench/peers/haproxy-failover.cfg.template" "$dir/haproxy.cfg" "DIR=$dir" \
        "STATS_PORT=$STATUS_PORT" "${ports[@]}"
      taskset -c "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" >"$dir/stdout.log" 2>&1 & ;;
    infergate|infergate-rr)
      local lb=least_request
      [[ $name == infergate-rr ]] && lb=round_robin
      render "$ROOT/bench/peers/infergate-failover.yaml.template" "$dir/infergate.yaml" \
        "ADMIN_PORT=$STATUS_PORT" "LB=$lb" "${ports[@]}"
      taskset -c "$PROXY_CPU" "$BIN/infergate" -c "$dir/infergate.yaml" --workers 1 \
        --log-level warn --drain-timeout 1s >"$dir/stdout.log" 2>&1 & ;;
  esac
  local pid=$!
  PIDS+=("$pid")
  # Up when its port answers; given up at once if it exits (a config error), else after 10 s.
  wait_for 10 bash -c "! kill -0 $pid 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT) 2>/dev/null" || true
  if ! kill -0 "$pid" 2>/dev/null || ! port_busy "$PROXY_PORT"; then
    note "$name did not start: $(tail -c 300 "$dir/stdout.log" | tr '\n' ' ')"
    stop_pid "$pid" 3
    return 0
  fi
  PEER_PID=$pid
}

jget() {  # jget FILE KEY[.SUBKEY]: a number or string from the client's summary ("" if absent)
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else (int(d) if isinstance(d, bool) else d))
PY
}

# ---- Versions and machine.
ver_nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //' || true)
ver_haproxy=$(haproxy -v 2>/dev/null | head -1 | awk '{print $3}' || true)
ver_infergate=$("$BIN/infergate" --version 2>&1 | head -1)
ver_git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || ver_git="$ver_git + uncommitted changes in src/include"
ver_python=$("$PYTHON" --version 2>&1)
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
[[ -n $cpu_model ]] || cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')

# ---- The per-request client (Python asyncio; see the head of the file it writes).
cat >"$WORK/client.py" <<'PY'
# failover client of bench/failover.sh: an open-loop paced HTTP/1.1 load through one proxy that
# records every request (send time, end time, status, the mock that answered), sends the fault
# (SIGSTOP or SIGKILL) to the victim mock itself so that every time is on one clock, polls the
# proxy's own view of the victim (infergate /admin/backends, HAProxy's stats CSV), and writes
# one JSON summary plus a CSV of every request.
import argparse
import asyncio
import json
import os
import signal
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--rate", type=float, default=100.0)
ap.add_argument("--warmup", type=float, default=3.0)
ap.add_argument("--window", type=float, default=12.0)
ap.add_argument("--drain", type=float, default=2.5)
ap.add_argument("--timeout", type=float, default=15.0)
ap.add_argument("--stall", type=float, default=1.0)
ap.add_argument("--action", choices=["stop", "kill"], required=True)
ap.add_argument("--victim-pid", type=int, required=True)
ap.add_argument("--victim-id", required=True)
ap.add_argument("--victim-port", type=int, required=True)
ap.add_argument("--ttft-ms", type=int, default=50)
ap.add_argument("--status", choices=["none", "infergate", "haproxy"], default="none")
ap.add_argument("--status-port", type=int, default=0)
ap.add_argument("--out", required=True)
ap.add_argument("--raw", required=True)
args = ap.parse_args()

BODY = (b'{"model":"mock-model","messages":[{"role":"user","content":"Say hello."}],'
        b'"max_tokens":16,"stream":false}')
REQUEST = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\n"
           b"x-mock-ttft-ms: " + str(args.ttft_ms).encode() + b"\r\n"
           b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)

now = time.monotonic
T0 = now()
records = []          # [t_send, t_end or None, status, server, error]
pool = []             # idle keep-alive connections (reader, writer)
marks = {}            # proxy's view: first time (s after the fault) of each state / reason
fault = {"t": None, "t_cont": None}
samples = []          # the first few non-2xx responses: time and body


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    keep = headers.get("connection", "").lower() != "close"
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            body += (await reader.readexactly(size + 2))[:-2]
    else:
        body = await reader.read()
        keep = False
    if not (200 <= status < 300) and len(samples) < 5:
        samples.append("%.3f s after the fault: %d %s" % (
            now() - T0 - (fault["t"] or 0), status, body[:300].decode("utf-8", "replace")))
    return status, headers.get("x-mock-server", ""), keep


async def exchange(conn):
    reader, writer = conn
    writer.write(REQUEST)
    await writer.drain()
    return await read_response(reader)


async def one(rec):
    held = [pool.pop()] if pool else []
    reused = bool(held)

    async def attempt():
        if not held:
            held.append(await asyncio.open_connection("127.0.0.1", args.port))
        return await exchange(held[0])

    try:
        status, server, keep = await asyncio.wait_for(attempt(), args.timeout)
        rec[1] = now() - T0
        rec[2] = status
        rec[3] = server
        if not (200 <= status < 300):
            rec[4] = "status_%d" % status
        if keep:
            pool.append(held.pop())
    except asyncio.CancelledError:
        rec[4] = "unfinished"
        raise
    except asyncio.TimeoutError:
        rec[1] = now() - T0
        rec[4] = "timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        rec[1] = now() - T0
        kind = type(e).__name__
        if isinstance(e, asyncio.IncompleteReadError):
            kind = "closed_before_response" + ("_reused" if reused else "")
        rec[4] = kind
    finally:
        for _, w in held:
            w.close()


async def fetch(port, path):
    r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    try:
        w.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
        data = await asyncio.wait_for(r.read(), 1.0)
    finally:
        w.close()
    return data.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace")


def victim_view(text):
    """The proxy's verdict on the victim: (down?, [reasons])."""
    if args.status == "infergate":
        for b in json.loads(text).get("backends", []):
            if b.get("url", "").rstrip("/").endswith(":%d" % args.victim_port):
                return b.get("state") != "available", list(b.get("reasons", []))
    elif args.status == "haproxy":
        header = None
        for line in text.splitlines():
            if line.startswith("# "):
                header = line[2:].split(",")
                continue
            cols = line.split(",")
            if header and len(cols) > 1 and cols[1] == args.victim_id:
                st = cols[header.index("status")]
                return st.startswith("DOWN") or st.startswith("MAINT"), [st]
    return None, []


async def poller(stop_at):
    if args.status == "none":
        return
    path = "/admin/backends" if args.status == "infergate" else "/stats;csv"
    down_before = None
    while now() < stop_at:
        try:
            down, reasons = victim_view(await fetch(args.status_port, path))
        except Exception:
            down, reasons = None, []
        t = now() - T0
        if fault["t"] is not None and down is not None:
            rel = round(t - fault["t"], 3)
            if down and not down_before:
                marks.setdefault("down", rel)
                marks["down_count"] = marks.get("down_count", 0) + 1
            if down_before and not down:
                marks.setdefault("up_again", rel)
            for r in reasons:
                if args.status == "infergate":
                    marks.setdefault("reason_" + r, rel)
            down_before = down
        elif down and fault["t"] is None:
            marks["down_before_fault"] = marks.get("down_before_fault", 0) + 1
        await asyncio.sleep(0.05)


async def main():
    t_fault = args.warmup
    t_end_send = args.warmup + args.window
    poll = asyncio.create_task(poller(T0 + t_end_send))
    tasks = set()
    i = 0
    while True:
        t = i / args.rate
        if t >= t_end_send:
            break
        if fault["t"] is None and t >= t_fault:
            os.kill(args.victim_pid, signal.SIGSTOP if args.action == "stop" else signal.SIGKILL)
            fault["t"] = now() - T0
        delay = T0 + t - now()
        if delay > 0:
            await asyncio.sleep(delay)
        rec = [now() - T0, None, 0, "", None]
        records.append(rec)
        task = asyncio.create_task(one(rec))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    if args.action == "stop":
        os.kill(args.victim_pid, signal.SIGCONT)
        fault["t_cont"] = now() - T0
    await poll
    if tasks:
        await asyncio.wait(set(tasks), timeout=args.drain)
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.wait(set(tasks), timeout=1.0)
    for _, w in pool:
        w.close()


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0.0


def summarise():
    tf = fault["t"]
    t_close = tf + args.window
    warm = [r for r in records if r[0] < tf]
    after = [r for r in records if r[0] >= tf]

    def bad(r):  # failed, stalled past the threshold, or never finished
        return r[4] is not None or r[1] is None or (r[1] - r[0]) > args.stall

    foreign = sum(1 for r in records if r[3] and r[3] not in ("m1", "m2", "m3"))
    servers = {}
    for r in warm:
        if r[4] is None:
            servers[r[3]] = servers.get(r[3], 0) + 1
    # Requests hurt by the fault: in flight at the fault or sent in the window after it, that
    # failed, stalled, or were sent to the victim after the fault (a hung one answers those only
    # after SIGCONT, so the last second's few can finish under the stall threshold).
    hurt = [r for r in records if r[0] < t_close and (r[1] is None or r[1] >= tf)
            and (bad(r) or (r[0] >= tf and r[3] == args.victim_id))]
    errors = [r for r in hurt if r[4] is not None]
    out = {
        "action": args.action, "rate": args.rate, "window_s": args.window,
        "sent": len(records), "sent_after_fault": len(after),
        "warmup_errors": sum(1 for r in warm if r[4] is not None and r[1] is not None and r[1] < tf),
        "warmup_servers": servers,
        "hurt": len(hurt), "hurt_errors": len(errors),
        "hurt_in_flight_at_fault": sum(1 for r in hurt if r[0] < tf),
        "error_kinds": {},
        "proxy_view": marks,
        "error_samples": samples, "foreign": foreign,
        "latency_p50_ms_before": round(1000 * median([r[1] - r[0] for r in warm if r[1] and not r[4]]), 2),
    }
    for r in errors:
        out["error_kinds"][r[4]] = out["error_kinds"].get(r[4], 0) + 1
    # Requests that reached the victim after the fault: answered by it (after SIGCONT), or
    # stalled / failed (a hung or dead backend is the only cause of either in this set-up).
    hits = [r for r in after if r[0] < t_close and (r[3] == args.victim_id or bad(r))]
    out["hits"] = len(hits)
    out["answered_by_victim_after_fault"] = sum(1 for r in after if r[3] == args.victim_id)
    last = max((r[0] for r in hits), default=None)
    out["last_hit_s"] = round(last - tf, 3) if last is not None else 0.0
    # Still being sent to it during the last second of the window: not detected.
    out["censored"] = last is not None and last >= t_close - 1.0
    out["last_error_s"] = round(max((r[0] for r in errors), default=tf) - tf, 3)
    out["slow_ok"] = sum(1 for r in hurt if r[4] is None)
    return out


asyncio.run(main())
summary = summarise()
with open(args.out, "w") as f:
    json.dump(summary, f)
with open(args.raw, "w") as f:
    f.write("t_send_s,t_end_s,status,server,error\n")
    for r in records:
        f.write("%.4f,%s,%d,%s,%s\n" % (r[0] - fault["t"], "" if r[1] is None else "%.4f" % (r[1] - fault["t"]),
                                        r[2], r[3], r[4] or ""))
print(json.dumps(summary), file=sys.stderr)
PY

mkdir -p "$WORK/out" "$WORK/logs"
# measure SCENARIO PEER REP: fresh mocks and a fresh proxy, the client's paced load, the fault.
measure() {
  local scen=$1 p=$2 rep=$3
  local dir="$WORK/$scen-$p-$rep"
  mkdir -p "$dir"
  if [[ -n ${UNAVAILABLE[${p%-rr}]:-} ]]; then return 0; fi
  start_mocks "$dir" || { note "$scen rep $rep $p: the mocks did not start"; stop_mocks; return 0; }
  start_peer "$p" "$dir"
  if [[ $PEER_PID == 0 ]]; then stop_mocks; return 0; fi
  local status=none action=stop window=$HANG_WINDOW drain=2.5
  case "$p" in haproxy) status=haproxy ;; infergate*) status=infergate ;; esac
  [[ $scen == kill ]] && { action="kill"; window=$KILL_WINDOW; drain=1; }
  local json="$WORK/out/$scen-$p-$rep.json"
  taskset -c "$LOAD_CPU" timeout $((WARMUP + window + 10)) "$PYTHON" "$WORK/client.py" \
    --port "$PROXY_PORT" --rate "$RATE" --warmup "$WARMUP" --window "$window" --drain "$drain" \
    --timeout $((window + 3)) --stall "$STALL" --action "$action" \
    --victim-pid "${MOCK_PID[$VICTIM]}" --victim-id "m$VICTIM" --victim-port "${MPORT[$VICTIM]}" \
    --ttft-ms "$TTFT_MS" --status "$status" --status-port "$STATUS_PORT" \
    --out "$json" --raw "$dir/requests.csv" 2>"$dir/client.err" &
  local cpid=$!
  PIDS+=("$cpid")
  { wait "$cpid" || true; } 2>/dev/null  # quiet: bash reports the SIGKILLed mock as "Killed"
  if ! kill -0 "$PEER_PID" 2>/dev/null; then
    note "$p EXITED during $scen rep $rep; its output: $(tail -c 400 "$dir/stdout.log" | tr '\n' ' ')"
  fi
  stop_pid "$PEER_PID" 3
  stop_mocks 2>/dev/null
  cat "$dir"/stdout.log "$dir"/nginx-error.log 2>/dev/null | head -40 >"$WORK/logs/$scen-$p-$rep.log" || true
  if [[ ! -s $json ]]; then
    note "$scen rep $rep $p: the client wrote no summary: $(tail -c 300 "$dir/client.err" | tr '\n' ' ')"
    return 0
  fi
  cp "$dir/requests.csv" "$WORK/out/$scen-$p-$rep.csv" 2>/dev/null || true
  local warm
  warm=$(jget "$json" warmup_servers)
  [[ $warm == *m1* && $warm == *m2* && $warm == *m3* ]] ||
    note "$scen rep $rep $p: not every mock got traffic in the warm-up: $warm"
  # Only m1..m3 may answer: another process bound to the proxy's port with SO_REUSEPORT would
  # take a share of the connections unseen.
  [[ $(jget "$json" foreign) == 0 ]] ||
    note "$scen rep $rep $p: $(jget "$json" foreign) responses came from a backend other than m1..m3 (another process on port $PROXY_PORT?)"
  if [[ $scen == hang ]]; then
    log "hang rep $rep $p: last request to the hung m$VICTIM sent at $(jget "$json" last_hit_s)s$( \
      [[ $(jget "$json" censored) == 1 ]] && echo ' (still at the end: not detected)'), $(jget "$json" hurt) requests hurt ($(jget "$json" hurt_errors) errors), proxy marked it down at $(d=$(jget "$json" proxy_view.down); echo "${d:-–}")s"
  else
    log "kill rep $rep $p: $(jget "$json" hurt_errors) client errors $(jget "$json" error_kinds), last at $(jget "$json" last_error_s)s, $(jget "$json" slow_ok) slow, proxy marked it down at $(d=$(jget "$json" proxy_view.down); echo "${d:-–}")s"
  fi
}

log "peers on CPU $PROXY_CPU, three mocks and the client on CPU $LOAD_CPU; $RATE req/s open loop"
if want hang; then
  log "scenario 1: hung backend (SIGSTOP for ${HANG_WINDOW}s)"
  for rep in $(seq 1 "$REPS"); do
    for p in $(order "$rep" "${PEERS[@]}"); do measure hang "$p" "$rep"; done
  done
fi
if want kill; then
  log "scenario 2: killed backend (SIGKILL, ${KILL_WINDOW}s observed)"
  for rep in $(seq 1 "$REPS"); do
    for p in $(order "$rep" "${PEERS[@]}"); do measure kill "$p" "$rep"; done
  done
fi
if want micro; then
  if [[ -x $BIN/infergate-microbench ]]; then
    log "scenario 3: microbenchmarks"
    taskset -c "$PROXY_CPU" "$BIN/infergate-microbench" --benchmark_min_time="$MICRO_MIN_TIME" \
      --benchmark_filter='Breaker|Classify|BackendState|Heartbeat|Evidence|Phi|CheckIteration' \
      --benchmark_format=csv >"$WORK/micro.csv" 2>"$WORK/micro.err" ||
      note "infergate-microbench failed: $(tail -c 300 "$WORK/micro.err" | tr '\n' ' ')"
  else
    note "infergate-microbench not built (libbenchmark-dev missing?): microbenchmarks skipped"
  fi
fi
RUN_SECONDS=$(($(date +%s) - RUN_START))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- Report.
mkdir -p "$(dirname "$OUT")"
export WORK OUT REPS ONLY PEER_LIST RATE TTFT_MS WARMUP HANG_WINDOW KILL_WINDOW STALL VICTIM \
  RUN_SECONDS LOAD_START LOAD_END PROXY_CPU LOAD_CPU NCPU MICRO_MIN_TIME cpu_model ver_nginx \
  ver_haproxy ver_infergate ver_git ver_python BUILD_TYPE
export PEERS_RUN="${PEERS[*]}"
UNAVAILABLE_LIST="$(for k in "${!UNAVAILABLE[@]}"; do echo "$k: ${UNAVAILABLE[$k]}"; done)"
export UNAVAILABLE_LIST
"$PYTHON" - <<'PY'
# The report of bench/failover.sh, from the client summaries in $WORK/out.
import csv
import glob
import json
import os
import time

E = os.environ
WORK, OUT = E["WORK"], E["OUT"]
REPS = int(E["REPS"])
PEERS = E["PEERS_RUN"].split()
HANG_W = float(E["HANG_WINDOW"])
KILL_W = float(E["KILL_WINDOW"])
LABEL = {"nginx": "nginx", "haproxy": "HAProxy",
         "infergate": "**infergate**", "infergate-rr": "infergate, round_robin"}
UNAV = dict(l.split(": ", 1) for l in E.get("UNAVAILABLE_LIST", "").splitlines() if ": " in l)

data = {}
for f in glob.glob(os.path.join(WORK, "out", "*.json")):
    scen, rest = os.path.basename(f)[:-5].split("-", 1)
    peer, rep = rest.rsplit("-", 1)
    data[(scen, peer, int(rep))] = json.load(open(f))


def reps(scen, peer):
    return [data[(scen, peer, r)] for r in range(1, REPS + 1) if (scen, peer, r) in data]


def med(v):
    v = sorted(v)
    n = len(v)
    return None if n == 0 else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def cell(v, d=2):
    v = [x for x in v if x is not None]
    if not v:
        return "–"
    m = med(v)
    if len(v) == 1:
        return "%.*f" % (d, m)
    return "%.*f (%.*f–%.*f)" % (d, m, d, min(v), d, max(v))


def ratio(v, ref):
    v = [x for x in v if x is not None]
    ref = [x for x in ref if x is not None]
    if not v or not ref or med(ref) <= 0:
        return "–"
    return "%.1f×" % (med(v) / med(ref))


def label(p):
    return LABEL.get(p, p) + (": unavailable: " + UNAV[p] if p in UNAV else "")


def detection(s, window):
    return window if s["censored"] else s["last_hit_s"]


def down(s):
    return s.get("proxy_view", {}).get("down")


def down_cell(p, runs, window):
    if p == "nginx":
        return "– (no status API)"
    v = [down(s) for s in runs]
    got = [x for x in v if x is not None]
    if not runs:
        return "–"
    if not got:
        return "not within %.0f s" % window
    c = cell(got)
    return c + ("; %d/%d never" % (len(v) - len(got), len(v)) if len(got) < len(v) else "")


L = []
w = L.append
w("# Failure detection: infergate, HAProxy, nginx, %s" % time.strftime("%Y-%m-%d %H:%M %Z"))
w("")
w("Produced by `bench/failover.sh --reps %d --only %s --peers %s` in %ss. Each figure is the median"
  % (REPS, E["ONLY"], E["PEER_LIST"], E["RUN_SECONDS"]))
w("of %d interleaved repetitions (forward, then backward order) with min–max in brackets; ratios"
  % REPS)
w("divide a peer's median by infergate's. See bench/README.md, \"Failure detection\", for the method.")
w("")
w("| machine | |")
w("|---|---|")
w("| CPU | %s, %s CPUs |" % (E.get("cpu_model", "?"), E["NCPU"]))
with open("/proc/meminfo") as f:
    mem = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
w("| kernel | %s |" % " ".join(os.uname()[i] for i in (0, 2)))
w("| memory | %.1f GiB |" % (mem / 1048576))
w("| pinning | proxy on CPU %s; the three mocks and the client on CPU %s |" % (E["PROXY_CPU"], E["LOAD_CPU"]))
w("| load average (1, 5, 15 min) | %s at the start, %s at the end |" % (E["LOAD_START"], E["LOAD_END"]))
w("| infergate | %s (git %s, %s), 1 worker, defaults (`bench/peers/infergate-failover.yaml.template`) |"
  % (E["ver_infergate"], E["ver_git"], E["BUILD_TYPE"]))
w("| nginx | %s, 1 worker, `max_fails=1 fail_timeout=10s` (`bench/peers/nginx-failover.conf.template`) |"
  % (UNAV.get("nginx") or E.get("ver_nginx")))
w("| HAProxy | %s, 1 thread, `check inter 2s fall 3 rise 2`, `option redispatch` (`bench/peers/haproxy-failover.cfg.template`) |"
  % (UNAV.get("haproxy") or E.get("ver_haproxy")))
w("| backends | 3 × infergate-mock (m1, m2, m3), each request answered after %s ms (x-mock-ttft-ms); m%s is the victim |"
  % (E["TTFT_MS"], E["VICTIM"]))
w("| client | %s, asyncio, open loop at %s requests/s, keep-alive, a new connection when none is idle |"
  % (E["ver_python"], E["RATE"]))
w("")

ref_h = [detection(s, HANG_W) for s in reps("hang", "infergate")]
if any(k[0] == "hang" for k in data):
    w("## 1. Hung backend: time until it stops receiving requests")
    w("")
    w("%s s of load, then SIGSTOP on m%s for %.0f s (load continues), then SIGCONT. **Detection** = the"
      % (E["WARMUP"], E["VICTIM"], HANG_W))
    w("send time (after SIGSTOP) of the last request that reached the hung mock: answered by it after")
    w("SIGCONT, stalled over %s s, or failed. \"Not detected\" = requests still reached it in the last second"
      % E["STALL"])
    w("of the window (the figure is then the window, %.0f s). **Hurt** = requests in flight at SIGSTOP or"
      % HANG_W)
    w("sent during the window that reached the hung mock (it answers them only after SIGCONT), took over")
    w("%s s, or failed. **Marked down** = when the proxy's own" % E["STALL"])
    w("status (infergate `/admin/backends`, HAProxy stats CSV; polled every 50 ms) first showed it unavailable.")
    w("")
    w("| peer | detection s | ratio | not detected | requests hurt | of which errors | marked down by the proxy s | ratio |")
    w("|---|---|---|---|---|---|---|---|")
    ref_d = [down(s) for s in reps("hang", "infergate")]
    for p in PEERS:
        runs = reps("hang", p)
        if not runs:
            w("| %s | – | – | – | – | – | – | – |" % label(p))
            continue
        det = [detection(s, HANG_W) for s in runs]
        cens = sum(1 for s in runs if s["censored"])
        w("| %s | %s%s | %s | %d of %d | %s | %s | %s | %s |" % (
            label(p), cell(det), " (≥ %.0f)" % HANG_W if cens * 2 > len(runs) else "",
            ratio(det, ref_h), cens, len(runs), cell([s["hurt"] for s in runs], 0),
            cell([s["hurt_errors"] for s in runs], 0), down_cell(p, runs, HANG_W),
            "–" if p == "nginx" else ratio([down(s) for s in runs], ref_d)))
    w("")
    for p in [p for p in PEERS if p.startswith("infergate")]:
        runs = [(r, data[("hang", p, r)]) for r in range(1, REPS + 1) if ("hang", p, r) in data]
        if not runs:
            continue
        w("%s, per repetition: when each reason first showed in `/admin/backends` (s after SIGSTOP):"
          % label(p).replace("*", ""))
        w("")
        w("| repetition | detection s | unavailable | phi | health_check | ejected | breaker_open | requests that reached m%s |"
          % E["VICTIM"])
        w("|---|---|---|---|---|---|---|---|")
        for r, s in runs:
            pv = s.get("proxy_view", {})
            g = lambda k: "–" if pv.get(k) is None else "%.2f" % pv[k]
            w("| %d | %.2f%s | %s | %s | %s | %s | %s | %d |" % (
                r, detection(s, HANG_W), " (not detected)" if s["censored"] else "", g("down"),
                g("reason_phi"), g("reason_health_check"), g("reason_ejected"), g("reason_breaker_open"),
                s["hits"]))
        w("")

ref_k = [s["hurt_errors"] for s in reps("kill", "infergate")]
if any(k[0] == "kill" for k in data):
    w("## 2. Killed backend: what clients see")
    w("")
    w("%s s of load, then SIGKILL on m%s; the load continues for %.0f s. **Client errors** = requests in flight at"
      % (E["WARMUP"], E["VICTIM"], KILL_W))
    w("the kill or sent in those %.0f s that got a non-2xx status or a connection error; **last error** = the"
      % KILL_W)
    w("send time of the last of them (after it, the proxy no longer sent clients' requests to the dead")
    w("backend, or retried them elsewhere); negative when it was already in flight at the kill. The ratio")
    w("divides the peer's total errors over all repetitions by infergate's (\"–\" when infergate had none).")
    w("")
    w("| peer | client errors | ratio | total over repetitions (kinds) | last error s | ok but slower than %s s | marked down by the proxy s |"
      % E["STALL"])
    w("|---|---|---|---|---|---|---|")
    for p in PEERS:
        runs = reps("kill", p)
        if not runs:
            w("| %s | – | – | – | – | – | – |" % label(p))
            continue
        errs = [s["hurt_errors"] for s in runs]
        kinds = {}
        for s in runs:
            for k, n in s["error_kinds"].items():
                kinds[k] = kinds.get(k, 0) + n
        kinds_s = ", ".join("%s %d" % kv for kv in sorted(kinds.items()))
        last = [s["last_error_s"] for s in runs if s["hurt_errors"] > 0]
        w("| %s | %s | %s | %d%s | %s | %s | %s |" % (
            label(p), cell(errs, 0), ratio([sum(errs)], [sum(ref_k)]), sum(errs), " (%s)" % kinds_s if kinds_s else "",
            cell(last) if last else "–", cell([s["slow_ok"] for s in runs], 0), down_cell(p, runs, KILL_W)))
    w("")

micro = os.path.join(WORK, "micro.csv")
if os.path.exists(micro) and os.path.getsize(micro) > 0:
    w("## 3. Inside infergate: breaker and detector microbenchmarks")
    w("")
    w("`infergate-microbench --benchmark_min_time=%s` (breaker_bench.cc, phi_bench.cc) on CPU %s."
      % (E["MICRO_MIN_TIME"], E["PROXY_CPU"]))
    w("")
    w("| benchmark | time per op | CPU per op | iterations | note |")
    w("|---|---|---|---|---|")
    lines = open(micro).read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("name,")), None)
    if start is not None:
        for row in csv.DictReader(lines[start:]):
            try:
                w("| %s | %.1f %s | %.1f %s | %s | %s |" % (
                    row["name"], float(row["real_time"]), row["time_unit"], float(row["cpu_time"]),
                    row["time_unit"], row["iterations"], row.get("label") or ""))
            except (ValueError, KeyError):
                pass
    w("")

# What deserves a look, infergate first: it is measured against its own targets.
notes = []
for r in range(1, REPS + 1):
    for p in [p for p in PEERS if p.startswith("infergate")]:
        s = data.get(("hang", p, r))
        if s:
            d = down(s)
            if d is None or d > 1.0:
                notes.append("%s hang rep %d: marked the hung backend unavailable at %s (target < 1 s)"
                             % (p, r, "never" if d is None else "%.2f s" % d))
            if s["censored"] or s["last_hit_s"] > 1.0:
                notes.append("%s hang rep %d: requests reached the hung backend until %.2f s after SIGSTOP"
                             % (p, r, s["last_hit_s"]))
            if s["hurt_errors"]:
                notes.append("%s hang rep %d: %d client errors %s" % (p, r, s["hurt_errors"], s["error_kinds"]))
                for x in s.get("error_samples", [])[:3]:
                    notes.append("  %s hang rep %d response: %s" % (p, r, x.replace("\n", " ")))
        s = data.get(("kill", p, r))
        if s and s["hurt_errors"]:
            notes.append("%s kill rep %d: %d client errors %s, the last sent %.2f s after SIGKILL, where a "
                         "retry on another backend was expected (reproduce: BENCH_KEEP=1 FAILOVER_TTFT_MS=500 "
                         "bench/failover.sh --only kill --peers %s --reps 1 fails several requests every "
                         "time; at the default 50 ms only some runs have one; the per-request CSV "
                         "and the proxy's log are in the scratch directory)"
                         % (p, r, s["hurt_errors"], s["error_kinds"], s["last_error_s"], p))
            for x in s.get("error_samples", [])[:3]:
                notes.append("  %s kill rep %d response: %s" % (p, r, x.replace("\n", " ")))
            lf = os.path.join(WORK, "logs", "kill-%s-%d.log" % (p, r))
            spent = [l.strip() for l in open(lf)] if os.path.exists(lf) else []
            spent = [l for l in spent if "retry budget" in l]
            if spent:
                notes.append("  %s kill rep %d: the retry was refused by the pool's retry budget: `%s`"
                             % (p, r, spent[0]))
for (scen, p, r), s in sorted(data.items()):
    if s.get("warmup_errors"):
        notes.append("%s %s rep %d: %d errors before the fault" % (scen, p, r, s["warmup_errors"]))
if os.path.exists(os.path.join(WORK, "notes.txt")):
    notes += [l.strip() for l in open(os.path.join(WORK, "notes.txt")) if l.strip()]
w("## Notes from this run")
w("")
for n in notes or ["nothing unusual: no proxy exited, every mock served traffic in every warm-up."]:
    w("- " + n)
w("")

logs = sorted(glob.glob(os.path.join(WORK, "logs", "*-infergate-1.log")))
for (scen, p, r), s in sorted(data.items()):  # and every repetition where infergate let errors through
    f = os.path.join(WORK, "logs", "%s-%s-%d.log" % (scen, p, r))
    if p == "infergate" and r != 1 and s["hurt_errors"] and os.path.exists(f):
        logs.append(f)
if logs:
    w("<details><summary>infergate's log (warn level): first repetition of each scenario, and every one with client errors</summary>")
    w("")
    for f in logs:
        w("`%s`:" % os.path.basename(f)[:-4])
        w("")
        w("```")
        w(open(f).read().rstrip()[:4000] or "(empty)")
        w("```")
        w("")
    w("</details>")
    w("")

w("<details><summary>Raw figures per repetition</summary>")
w("")
w("| scenario | peer | rep | sent after fault | reached victim | last hit s | not detected | hurt | errors | error kinds | last error s | marked down s | warm-up split |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (scen, p, r), s in sorted(data.items()):
    w("| %s | %s | %d | %d | %d | %.3f | %s | %d | %d | %s | %.3f | %s | %s |" % (
        scen, p, r, s["sent_after_fault"], s["hits"], s["last_hit_s"], "yes" if s["censored"] else "no",
        s["hurt"], s["hurt_errors"], json.dumps(s["error_kinds"]).replace("|", "/"), s["last_error_s"],
        "–" if down(s) is None else down(s), json.dumps(s["warmup_servers"], sort_keys=True)))
w("</details>")
w("")
with open(OUT, "w") as f:
    f.write("\n".join(L))
PY
log "wrote $OUT (${RUN_SECONDS}s)"
