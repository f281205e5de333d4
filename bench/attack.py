#!/usr/bin/env python3
"""bench/attack.py: the attacker, the normal client and the /proc sampler of bench/attacks.sh.

Standard library only. Every loop is bounded in count and in time and stops by itself; every
socket goes to 127.0.0.1 only.

  attack.py run --scenario S --port P --admin-port A --gw-pid PID [options] --out FILE.json
      One measurement against a running gateway: samples the gateway (VmRSS and open fds every
      50 ms, /metrics every 0.5 s), runs a normal client (GET /v1/models every 200 ms, a fresh
      connection each time) during the attack, runs the attack (S: slowloris, silent, chunkext,
      trailers) in child processes, waits --settle s and samples again. Writes one JSON record.
  attack.py table --scenario S LABEL=FILE.json...
      A markdown table, one column per JSON record.

The workers (`conns`, `stream`, `normal`) are run by `run` as child processes; they print JSON.
"""

import argparse
import errno
import fcntl
import heapq
import json
import os
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import termios
import threading
import time
import urllib.request

HOST = "127.0.0.1"
ME = os.path.abspath(__file__)

# The slowloris head: one byte is sent every --byte-interval seconds, so it never ends within any
# bounded run (the header value is 60,000 bytes long, under the 64 KiB header limit).
SLOW_HEAD = b"GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 60000

NORMAL_REQ = b"GET /v1/models HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


def raise_nofile():
    """Raises this process's RLIMIT_NOFILE soft limit to its hard limit; returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def errname(e):
    return errno.errorcode.get(e, str(e))


def status_line(buf):
    """The first line of an HTTP answer (without CRLF), or None when nothing came."""
    if not buf:
        return None
    line = buf.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    return line[:80].decode("latin-1", "replace")


# ---------------------------------------------------------------------------------------------
# Worker: many connections (slowloris when --byte-interval > 0, silent when 0).


class Conn:
    __slots__ = ("cid", "sock", "fd", "t_start", "t_est", "sent", "resp", "established")

    def __init__(self, cid, sock, t_start):
        self.cid = cid
        self.sock = sock
        self.fd = sock.fileno()
        self.t_start = t_start
        self.t_est = None
        self.sent = 0
        self.resp = b""
        self.established = False


def cmd_conns(a):
    raise_nofile()
    if a.nice:
        os.nice(a.nice)
    addr = (HOST, a.port)
    t0 = a.t0
    end = t0 + a.duration
    hard_end = end + 5.0
    ep = select.epoll()
    by_fd = {}
    by_cid = {}
    sends = []  # heap of (time, cid)
    pending = []  # FIFO of (t_start, cid) connects in progress (checked for --connect-timeout)
    pending_head = 0
    n_pending = 0
    records = []  # [t_start, t_est, t_close, kind, status, bytes_sent], times relative to t0
    opened = 0
    bytes_sent = 0
    fail = {}

    def rel(t):
        return None if t is None else round(t - t0, 4)

    def finish(c, kind, now):
        nonlocal n_pending
        try:
            ep.unregister(c.fd)
        except (OSError, ValueError):
            pass
        try:
            c.sock.close()
        except OSError:
            pass
        by_fd.pop(c.fd, None)
        by_cid.pop(c.cid, None)
        if not c.established:
            n_pending -= 1
        records.append([rel(c.t_start), rel(c.t_est), rel(now), kind, status_line(c.resp), c.sent])

    def drain(c, now):
        """Reads what the gateway sent; returns a close kind when it closed, else None."""
        for _ in range(64):  # bounded: 64 reads of 64 KiB per event
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                return None
            except ConnectionResetError:
                return "rst"
            except OSError as e:
                return "err:" + errname(e.errno)
            if not data:
                return "fin"
            if len(c.resp) < 512:
                c.resp += data[: 512 - len(c.resp)]
        return None

    while True:
        now = time.monotonic()
        if now >= end or now >= hard_end:
            break
        # Open the connections that are due (paced at --rate, at most --max-pending in progress).
        due = a.conns if a.rate <= 0 else min(a.conns, int(max(0.0, now - t0) * a.rate) + 1)
        while opened < due and n_pending < a.max_pending:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            cid = opened
            opened += 1
            err = s.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS):
                s.close()
                k = "connect:" + errname(err)
                fail[k] = fail.get(k, 0) + 1
                records.append([rel(now), None, rel(now), k, None, 0])
                continue
            c = Conn(cid, s, now)
            by_fd[c.fd] = c
            by_cid[cid] = c
            n_pending += 1
            pending.append((now, cid))
            ep.register(c.fd, select.EPOLLOUT)
        # Connects that take too long (the gateway's backlog is full and SYNs are dropped).
        while pending_head < len(pending) and pending[pending_head][0] + a.connect_timeout <= now:
            _, cid = pending[pending_head]
            pending_head += 1
            c = by_cid.get(cid)
            if c is not None and not c.established:
                finish(c, "connect:timeout", now)
        if pending_head > 4096:
            del pending[:pending_head]
            pending_head = 0
        # Send the bytes that are due: one byte per connection per --byte-interval.
        while sends and sends[0][0] <= now:
            _, cid = heapq.heappop(sends)
            c = by_cid.get(cid)
            if c is None:
                continue
            try:
                n = c.sock.send(SLOW_HEAD[c.sent : c.sent + 1])
                c.sent += n
                bytes_sent += n
            except BlockingIOError:
                pass
            except OSError as e:
                kind = drain(c, now) or ("rst" if e.errno == errno.ECONNRESET else "send:" + errname(e.errno))
                finish(c, kind, now)
                continue
            if c.sent < len(SLOW_HEAD):
                heapq.heappush(sends, (now + a.byte_interval, cid))
        # Wait for the next event, the next send or the next connection to open.
        nxt = end
        if sends:
            nxt = min(nxt, sends[0][0])
        if opened < a.conns:
            nxt = min(nxt, now + (0.001 if n_pending < a.max_pending else 0.01))
        if pending_head < len(pending):
            nxt = min(nxt, pending[pending_head][0] + a.connect_timeout)
        timeout = max(0.0, min(nxt - time.monotonic(), 0.25))
        try:
            events = ep.poll(timeout, 4096)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, ev in events:
            c = by_fd.get(fd)
            if c is None:
                continue
            if not c.established:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(c, "connect:" + errname(err), now)
                    continue
                c.established = True
                c.t_est = now
                n_pending -= 1
                ep.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
                if a.byte_interval > 0:
                    try:
                        c.sent += c.sock.send(SLOW_HEAD[:1])
                        bytes_sent += 1
                    except OSError:
                        pass
                    heapq.heappush(sends, (now + a.byte_interval, c.cid))
                continue
            kind = drain(c, now)
            if kind is None and ev & (select.EPOLLHUP | select.EPOLLERR):
                kind = "hup"
            if kind is not None:
                finish(c, kind, now)

    now = time.monotonic()
    for c in list(by_cid.values()):
        finish(c, "open_at_end" if c.established else "pending_at_end", now)
    ep.close()
    json.dump({"opened": opened, "bytes_sent": bytes_sent, "records": records,
               "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))}, sys.stdout)


# ---------------------------------------------------------------------------------------------
# Worker: one connection streaming an endless chunk extension or trailer section.


def cmd_stream(a):
    if a.kind == "chunkext":
        head = (b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=")
        unit = b"b" * 65536
    else:
        head = (b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n")
        unit = b"x-t: 1\r\n" * 8192  # 64 KiB of trailer lines, no blank line
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    t_start = time.monotonic()
    s.connect((HOST, a.port))
    s.setblocking(False)
    sent = 0  # body bytes (after the head)
    head_left = memoryview(head)
    resp = b""
    ended = None
    t_answer = None
    sent_at_answer = None
    queued_at_answer = None
    deadline = t_start + a.max_seconds
    t_limit = None  # when --max-bytes was reached
    buf = memoryview(unit)

    def outq():
        try:
            v = fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            return int.from_bytes(v, sys.byteorder)
        except OSError:
            return None

    while True:
        now = time.monotonic()
        if now >= deadline:
            ended = ended or "time limit (%.0f s)" % a.max_seconds
            break
        if t_limit is not None and now >= t_limit + a.answer_wait:
            ended = ended or "no answer %.0f s after the last byte" % a.answer_wait
            break
        want_write = t_limit is None and ended is None
        r, w, _ = select.select([s], [s] if want_write else [], [], 0.2)
        if r:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                data = None
            except ConnectionResetError:
                ended = ended or "reset by the gateway"
                break
            except OSError as e:
                ended = ended or "recv " + errname(e.errno)
                break
            if data is not None:
                if not data:
                    ended = ended or ("closed after answering" if resp else "closed without an answer")
                    break
                if t_answer is None:
                    t_answer = time.monotonic()
                    sent_at_answer = sent
                    queued_at_answer = outq()
                    # Stop sending; read the rest of the answer for at most answer_wait.
                    t_limit = t_answer
                    ended = "answered"
                if len(resp) < 4096:
                    resp += data[: 4096 - len(resp)]
                continue
        if w and want_write:
            try:
                if len(head_left):
                    n = s.send(head_left)
                    head_left = head_left[n:]
                else:
                    # 1 KiB writes for the first MiB, so the bytes sent before the answer are
                    # known to about a KiB where the limits are; 64 KiB writes after that.
                    step = 1024 if sent < (1 << 20) else len(buf)
                    chunk = buf[: min(step, a.max_bytes - sent)]
                    n = s.send(chunk)
                    sent += n
                    if sent >= a.max_bytes:
                        t_limit = time.monotonic()
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError) as e:
                ended = "send failed: " + errname(e.errno) + " (the gateway closed)"
                t_closed = time.monotonic()
                # An answer may still be readable.
                try:
                    s.setblocking(True)
                    s.settimeout(0.5)
                    data = s.recv(4096)
                    if data:
                        resp += data
                        t_answer = t_answer or t_closed
                        sent_at_answer = sent if sent_at_answer is None else sent_at_answer
                except OSError:
                    pass
                break
    t_end = time.monotonic()
    q_end = outq()
    s.close()
    json.dump({
        "kind": a.kind, "head_bytes": len(head), "max_bytes": a.max_bytes,
        "body_bytes_sent": sent, "sent_at_answer": sent_at_answer,
        "unsent_at_answer": queued_at_answer, "unsent_at_end": q_end,
        "answer_s": None if t_answer is None else round(t_answer - t_start, 4),
        "elapsed_s": round(t_end - t_start, 3), "status_line": status_line(resp),
        "ended": ended, "response_head": resp.split(b"\r\n\r\n", 1)[0][:600].decode("latin-1", "replace"),
    }, sys.stdout)


# ---------------------------------------------------------------------------------------------
# Worker: the normal client, GET /v1/models every --interval on a fresh connection.

_stop = False


def _on_term(signum, frame):
    global _stop
    _stop = True


def one_request(port, timeout):
    t = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    buf = b""
    try:
        s.connect((HOST, port))
        s.sendall(NORMAL_REQ)
        while len(buf) < 1 << 20:
            d = s.recv(65536)
            if not d:
                break
            buf += d
            if b"\r\n\r\n" in buf:
                head, body = buf.split(b"\r\n\r\n", 1)
                cl = None
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        cl = int(v.strip())
                if cl is not None and len(body) >= cl:
                    break
    except socket.timeout:
        return time.monotonic() - t, "timeout", status_line(buf)
    except ConnectionRefusedError:
        return time.monotonic() - t, "refused", None
    except ConnectionResetError:
        return time.monotonic() - t, "reset", status_line(buf)
    except OSError as e:
        return time.monotonic() - t, errname(e.errno), status_line(buf)
    finally:
        s.close()
    st = status_line(buf)
    if st and st.split(" ")[1:2] == ["200"]:
        return time.monotonic() - t, "ok", st
    return time.monotonic() - t, ("status " + st.split(" ")[1]) if st and " " in st else "no answer", st


def cmd_normal(a):
    signal.signal(signal.SIGTERM, _on_term)
    t0 = time.monotonic()
    end = t0 + a.max_duration
    res = []  # [t_rel, latency_s, outcome]
    k = 0
    while not _stop and len(res) < 100000:
        now = time.monotonic()
        if now >= end:
            break
        lat, outcome, _ = one_request(a.port, a.timeout)
        res.append([round(now - t0, 3), round(lat, 5), outcome])
        k += 1
        nxt = t0 + k * a.interval
        while not _stop:
            d = nxt - time.monotonic()
            if d <= 0:
                break
            time.sleep(min(d, 0.05))
    json.dump({"requests": res}, sys.stdout)


# ---------------------------------------------------------------------------------------------
# run: sampling, the normal client and the attack, against a gateway already started.


def proc_sample(pid):
    """(VmRSS KiB, open fds) of a process, or (None, None) when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = None
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds
    except (OSError, ValueError):
        return None, None


INTEREST = (
    "infergate_connections_rejected_total",
    "infergate_connections_shed_total",
    "infergate_accept_errors_total",
    "infergate_client_connections",
    "infergate_client_connections_total",
    "infergate_errors_total",
    "infergate_responses_total",
)


def scrape(admin_port, timeout=2.0):
    """{series: value} for the metrics of INTEREST, or None when /metrics does not answer."""
    try:
        with urllib.request.urlopen("http://%s:%d/metrics" % (HOST, admin_port), timeout=timeout) as r:
            text = r.read().decode("utf-8", "replace")
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in INTEREST:
            continue
        series, _, val = line.rpartition(" ")
        series = series.replace(',listener="public"', "").replace('listener="public",', "")
        series = series.replace('{listener="public"}', "")
        try:
            out[series] = float(val)
        except ValueError:
            pass
    return out


class Sampler:
    """VmRSS and open fds of the gateway every `interval` s; its connection gauge every 0.5 s."""

    def __init__(self, pid, admin_port, interval):
        self.pid, self.admin_port, self.interval = pid, admin_port, interval
        self.samples = []  # (t, rss_kib, fds)
        self.gauge = []  # (t, client_connections)
        self.died_at = None
        self._stop = threading.Event()
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self._proc, daemon=True),
                        threading.Thread(target=self._metrics, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(timeout=5)

    def _proc(self):
        nxt = time.monotonic()
        for _ in range(200000):  # bounded: ~2.8 h at 50 ms
            if self._stop.is_set():
                return
            rss, fds = proc_sample(self.pid)
            now = time.monotonic()
            if rss is None:
                if self.died_at is None:
                    self.died_at = now - self.t0
                return
            self.samples.append((now - self.t0, rss, fds))
            nxt += self.interval
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def _metrics(self):
        for _ in range(40000):
            if self._stop.is_set():
                return
            m = scrape(self.admin_port, timeout=1.0)
            if m is not None and "infergate_client_connections" in m:
                self.gauge.append((time.monotonic() - self.t0, m["infergate_client_connections"]))
            self._stop.wait(0.5)

    def peak(self, t_from=0.0, t_to=1e18):
        s = [x for x in self.samples if t_from <= x[0] <= t_to]
        g = [x for x in self.gauge if t_from <= x[0] <= t_to]
        return {
            "rss_kib": max((x[1] for x in s), default=None),
            "fds": max((x[2] for x in s), default=None),
            "rss_peak_t": max(s, key=lambda x: x[1])[0] if s else None,
            "client_connections": max((x[1] for x in g), default=None),
            "samples": len(s),
        }


def spawn(args, nice_cpu=None):
    return subprocess.Popen([sys.executable, ME] + [str(x) for x in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def collect(p, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, "killed after %.0f s: %s" % (timeout, err.decode()[-300:])
    if p.returncode != 0 or not out:
        return None, "exit %s: %s" % (p.returncode, err.decode()[-500:])
    return json.loads(out), None


def summarize_normal(d, t_from=None, t_to=None):
    if d is None:
        return {"error": "no result"}
    reqs = d["requests"]
    lat = [r[1] for r in reqs]
    ok = [r for r in reqs if r[2] == "ok"]
    bad = {}
    for r in reqs:
        if r[2] != "ok":
            bad[r[2]] = bad.get(r[2], 0) + 1
    return {
        "requests": len(reqs), "ok": len(ok), "failed": len(reqs) - len(ok), "failures": bad,
        "worst_ms": round(1000 * max(lat), 1) if lat else None,
        "p50_ms": round(1000 * statistics.median(lat), 2) if lat else None,
        "first_failure_s": min((r[0] for r in reqs if r[2] != "ok"), default=None),
    }


AGE_BUCKETS = [(0, 1), (1, 5), (5, 9.5), (9.5, 11), (11, 20), (20, 75), (75, 1e9)]


def summarize_conns(shards, duration, header_timeout):
    recs = []
    opened = 0
    bytes_sent = 0
    for sh in shards:
        recs += sh["records"]
        opened += sh["opened"]
        bytes_sent += sh["bytes_sent"]
    est = [r for r in recs if r[1] is not None]
    closed = [r for r in est if r[3] not in ("open_at_end",)]
    kinds = {}
    for r in recs:
        kinds[r[3]] = kinds.get(r[3], 0) + 1
    answers = {}
    for r in closed:
        answers[r[4] or "(none)"] = answers.get(r[4] or "(none)", 0) + 1
    ht = header_timeout
    # Age at close (from the connection's establishment), bucketed around the header timeout.
    edges = [(0, 1), (1, ht * 0.5), (ht * 0.5, ht * 0.95), (ht * 0.95, ht * 1.1 + 0.5),
             (ht * 1.1 + 0.5, 2 * ht), (2 * ht, 75), (75, 1e9)]
    ages = [r[2] - r[1] for r in closed]
    age_b = []
    for lo, hi in edges:
        n = sum(1 for x in ages if lo <= x < hi)
        age_b.append(["%g–%g s" % (round(lo, 2), round(hi, 2)) if hi < 1e9 else "≥ %g s" % lo, n])
    # Close times on the run's clock, in 5 s buckets.
    step = 5 if duration > 12 else 1
    nb = int(duration // step) + 1
    clock_b = [0] * nb
    for r in closed:
        clock_b[min(nb - 1, max(0, int(r[2] // step)))] += 1
    est_t = sorted(r[1] for r in est)
    # Held past the header timeout: closed later than 1.1 × it + 0.5 s after the connect, or
    # still open at the end although established that long before the end.
    late_limit = ht * 1.1 + 0.5
    late_closed = sum(1 for r in closed if r[2] - r[1] >= late_limit)
    late_open = sum(1 for r in est if r[3] == "open_at_end" and r[2] - r[1] >= late_limit)
    return {
        "attempted": opened, "established": len(est),
        "established_by_s": est_t[-1] if est_t else None,
        "closed_by_gateway": len(closed), "kinds": kinds, "answers": answers,
        "age_buckets": age_b,
        "age_min_s": round(min(ages), 2) if ages else None,
        "age_median_s": round(statistics.median(ages), 2) if ages else None,
        "age_max_s": round(max(ages), 2) if ages else None,
        "clock_step_s": step, "clock_buckets": clock_b,
        "open_at_end": kinds.get("open_at_end", 0), "bytes_sent": bytes_sent,
        "late_limit_s": round(late_limit, 2), "late_closed": late_closed, "late_open": late_open,
    }


def metric_delta(m0, m1):
    if m0 is None or m1 is None:
        return None
    out = {}
    for k, v in m1.items():
        d = v - m0.get(k, 0.0)
        if k == "infergate_client_connections":
            continue
        if d != 0:
            out[k] = d
    return out


def cmd_run(a):
    soft, hard = raise_nofile()
    res = {"scenario": a.scenario, "attacker_nofile": [soft, hard], "args": vars(a).copy()}
    res["args"].pop("func", None)
    if not os.path.isdir("/proc/%d" % a.gw_pid):
        sys.exit("attack.py: gateway pid %d is not running" % a.gw_pid)
    # Warm-up: a few normal requests, so "before" includes a used upstream connection.
    for _ in range(3):
        one_request(a.port, 5)
    time.sleep(0.3)
    res["before"] = dict(zip(("rss_kib", "fds"), proc_sample(a.gw_pid)))
    m0 = scrape(a.admin_port)
    res["before"]["client_connections"] = (m0 or {}).get("infergate_client_connections")
    sampler = Sampler(a.gw_pid, a.admin_port, a.sample_interval)
    sampler.start()
    normal = spawn(["normal", "--port", a.port, "--interval", a.normal_interval,
                    "--max-duration", a.duration + a.max_seconds + 30, "--timeout", 5])
    t_attack0 = time.monotonic()
    errors = []
    if a.scenario in ("slowloris", "silent"):
        per = max(1, hard - 64)
        nshards = max(1, -(-a.conns // per))
        base, extra = divmod(a.conns, nshards)
        t0 = time.monotonic() + 0.3  # the shared start, after the children have started
        kids = []
        for i in range(nshards):
            n = base + (1 if i < extra else 0)
            kids.append(spawn(["conns", "--port", a.port, "--conns", n, "--t0", repr(t0),
                               "--duration", a.duration, "--rate", a.rate / nshards,
                               "--byte-interval", a.byte_interval if a.scenario == "slowloris" else 0,
                               "--connect-timeout", a.connect_timeout, "--max-pending", a.max_pending,
                               "--nice", a.nice]))
        shards = []
        for k in kids:
            d, e = collect(k, a.duration + 60)
            if d is None:
                errors.append("attacker shard: " + e)
            else:
                shards.append(d)
        res["shards"] = nshards
        res["attack"] = summarize_conns(shards, a.duration, a.header_timeout)
        # Time of the shared start on the sampler's clock.
        t_attack0 = t0
    else:
        time.sleep(0.5)  # the normal client's first requests come before the attack
        t_attack0 = time.monotonic()
        k = spawn(["stream", "--port", a.port, "--kind", a.scenario, "--max-bytes", a.max_bytes,
                   "--max-seconds", a.max_seconds, "--answer-wait", a.answer_wait])
        d, e = collect(k, a.max_seconds + a.answer_wait + 30)
        if d is None:
            errors.append("attacker: " + e)
        res["attack"] = d
        # The normal client runs at least --normal-min s in all.
        left = a.normal_min - (time.monotonic() - t_attack0 + 0.5)
        if left > 0:
            time.sleep(left)
    t_attack1 = time.monotonic()
    normal.send_signal(signal.SIGTERM)
    nd, e = collect(normal, 30)
    if e:
        errors.append("normal client: " + e)
    res["normal"] = summarize_normal(nd)
    res["peak"] = sampler.peak(t_attack0 - sampler.t0 - 0.5, t_attack1 - sampler.t0 + a.settle)
    res["attack_s"] = round(t_attack1 - t_attack0, 2)
    time.sleep(a.settle)
    sampler.stop()
    rss, fds = proc_sample(a.gw_pid)
    m1 = scrape(a.admin_port)
    res["after"] = {"rss_kib": rss, "fds": fds,
                    "client_connections": (m1 or {}).get("infergate_client_connections")}
    res["gateway_alive"] = rss is not None
    res["gateway_died_at_s"] = None if sampler.died_at is None else round(sampler.died_at - (t_attack0 - sampler.t0), 2)
    res["metrics_delta"] = metric_delta(m0, m1)
    # RSS over time (1 s steps) for the report's raw section.
    tl = []
    last = -1
    for t, r, f in sampler.samples:
        s_ = int(t - (t_attack0 - sampler.t0))
        if s_ != last:
            tl.append([s_, r, f])
            last = s_
    res["timeline_1s"] = tl
    gl = []
    last = -1
    for t, g in sampler.gauge:
        s_ = int(t - (t_attack0 - sampler.t0))
        if s_ != last:
            gl.append([s_, g])
            last = s_
    res["client_connections_1s"] = gl
    res["errors"] = errors
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(one_line(res))


def mib(k):
    return "–" if k is None else "%.1f" % (k / 1024.0)


def one_line(r):
    at = r.get("attack") or {}
    n = r.get("normal", {})
    extra = ""
    if r["scenario"] in ("slowloris", "silent"):
        extra = "established %s, closed by gateway %s (median age %s s), open at end %s" % (
            at.get("established"), at.get("closed_by_gateway"), at.get("age_median_s"), at.get("open_at_end"))
    else:
        extra = "sent %s B, answer %r after %s s (%s)" % (
            at.get("body_bytes_sent"), at.get("status_line"), at.get("answer_s"), at.get("ended"))
    return "%s: %s; RSS %s → %s → %s MiB; fds %s → %s → %s; normal client %s/%s ok, worst %s ms; gateway %s" % (
        r["scenario"], extra, mib(r["before"]["rss_kib"]), mib(r["peak"]["rss_kib"]), mib(r["after"]["rss_kib"]),
        r["before"]["fds"], r["peak"]["fds"], r["after"]["fds"], n.get("ok"), n.get("requests"),
        n.get("worst_ms"), "alive" if r["gateway_alive"] else "DEAD")


# ---------------------------------------------------------------------------------------------
# table: markdown from JSON records.


def fmt_int(v):
    return "–" if v is None else "{:,}".format(int(v))


def cmd_table(a):
    cols = []
    for spec in a.files:
        label, _, path = spec.rpartition("=")
        with open(path) as f:
            cols.append((label, json.load(f)))
    rows = []

    def row(name, fn):
        vals = []
        for _, r in cols:
            try:
                v = fn(r)
            except (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError):
                v = "–"
            vals.append("–" if v is None else str(v))
        rows.append([name] + vals)

    def md(r, key):
        return (r.get("metrics_delta") or {}).get(key, 0)

    def metrics_rows():
        row("rejected at accept (`connections_rejected_total`)", lambda r: fmt_int(md(r, "infergate_connections_rejected_total")))
        row("shed idle / head (`connections_shed_total`)", lambda r: "%s / %s" % (
            fmt_int(md(r, 'infergate_connections_shed_total{state="idle"}')),
            fmt_int(md(r, 'infergate_connections_shed_total{state="head"}'))))
        row("accept errors fd_limit / other", lambda r: "%s / %s" % (
            fmt_int(md(r, 'infergate_accept_errors_total{reason="fd_limit"}')),
            fmt_int(md(r, 'infergate_accept_errors_total{reason="other"}'))))
        row("connections accepted (`client_connections_total`)", lambda r: fmt_int(md(r, "infergate_client_connections_total")))
        row("`client_connections` before / peak / after", lambda r: "%s / %s / %s" % (
            fmt_int(r["before"].get("client_connections")), fmt_int(r["peak"].get("client_connections")),
            fmt_int(r["after"].get("client_connections"))))

    def resp_summary(r):
        d = r.get("metrics_delta") or {}
        parts = []
        for k, v in sorted(d.items()):
            if k.startswith("infergate_responses_total") or k.startswith("infergate_errors_total"):
                parts.append("%s %s" % (k.replace("infergate_", ""), fmt_int(v)))
        return "; ".join(parts) or "none"

    def common_rows():
        row("gateway RSS before / peak / after (MiB)", lambda r: "%s / %s / %s" % (
            mib(r["before"]["rss_kib"]), mib(r["peak"]["rss_kib"]), mib(r["after"]["rss_kib"])))
        row("gateway open fds before / peak / after", lambda r: "%s / %s / %s" % (
            fmt_int(r["before"]["fds"]), fmt_int(r["peak"]["fds"]), fmt_int(r["after"]["fds"])))
        row("normal client: ok / failed (of requests)", lambda r: "%s / %s (of %s)%s" % (
            r["normal"]["ok"], r["normal"]["failed"], r["normal"]["requests"],
            (" " + ", ".join("%s %d" % kv for kv in sorted(r["normal"]["failures"].items())))
            if r["normal"]["failures"] else ""))
        row("normal client: p50 / worst latency (ms)", lambda r: "%s / %s" % (r["normal"]["p50_ms"], r["normal"]["worst_ms"]))
        row("gateway alive after", lambda r: "yes" if r["gateway_alive"] else "**no** (gone %s s into the attack)" % r["gateway_died_at_s"])

    if a.scenario in ("slowloris", "silent"):
        row("gateway fd limit / max_connections", lambda r: "%s / %s" % (r["args"].get("gw_nofile") or "–", r["args"].get("gw_max_connections") or "–"))
        row("attacker connections attempted / established", lambda r: "%s / %s" % (
            fmt_int(r["attack"]["attempted"]), fmt_int(r["attack"]["established"])))
        row("attacker connect failures", lambda r: ", ".join(
            "%s %s" % (k.split(":", 1)[1], fmt_int(v)) for k, v in sorted(r["attack"]["kinds"].items())
            if k.startswith("connect:") or k == "pending_at_end") or "0")
        if a.scenario == "slowloris":
            row("bytes sent per connection (1 per interval)", lambda r: "%.1f avg, every %s s" % (
                r["attack"]["bytes_sent"] / max(1, r["attack"]["established"]), r["args"]["byte_interval"]))
        row("closed by the gateway / still open at the end", lambda r: "%s / %s" % (
            fmt_int(r["attack"]["closed_by_gateway"]), fmt_int(r["attack"]["open_at_end"])))
        row("held past the header timeout (> 1.1 × it + 0.5 s): closed late / still open at the end", lambda r: "%s / %s" % (
            fmt_int(r["attack"]["late_closed"]), fmt_int(r["attack"]["late_open"])))
        row("how closed (FIN / RST / other)", lambda r: "%s / %s / %s" % (
            fmt_int(r["attack"]["kinds"].get("fin", 0)), fmt_int(r["attack"]["kinds"].get("rst", 0)),
            fmt_int(sum(v for k, v in r["attack"]["kinds"].items()
                        if k not in ("fin", "rst", "open_at_end", "pending_at_end") and not k.startswith("connect:")))))
        row("answer before the close", lambda r: ", ".join(
            "%s × %s" % (k, fmt_int(v)) for k, v in sorted(r["attack"]["answers"].items(), key=lambda kv: -kv[1])))
        row("age at close: min / median / max (s)", lambda r: "%s / %s / %s" % (
            r["attack"]["age_min_s"], r["attack"]["age_median_s"], r["attack"]["age_max_s"]))
        row("age at close, bucketed", lambda r: ", ".join(
            "%s: %s" % (b, fmt_int(n)) for b, n in r["attack"]["age_buckets"] if n))
        row("closes by time since the attack began", lambda r: ", ".join(
            "%d–%d s: %s" % (i * r["attack"]["clock_step_s"], (i + 1) * r["attack"]["clock_step_s"], fmt_int(n))
            for i, n in enumerate(r["attack"]["clock_buckets"]) if n))
        metrics_rows()
        row("responses / errors counted by the gateway", resp_summary)
        common_rows()
    else:
        row("request", lambda r: "`%s` + up to %s MiB of `%s`" % (
            "...chunked\\r\\n\\r\\n5;a=" if r["scenario"] == "chunkext" else "...chunked\\r\\n\\r\\n0\\r\\n",
            r["attack"]["max_bytes"] >> 20, "b" if r["scenario"] == "chunkext" else "x-t: 1\\r\\n"))
        row("body bytes written before the answer arrived", lambda r: "answer never came"
            if r["attack"]["sent_at_answer"] is None else fmt_int(r["attack"]["sent_at_answer"]))
        row("of which had left the attacker's socket¹", lambda r: fmt_int(
            r["attack"]["sent_at_answer"] - (r["attack"]["unsent_at_answer"] or 0)))
        row("bytes sent in all", lambda r: fmt_int(r["attack"]["body_bytes_sent"]))
        row("answer (status line)", lambda r: "`%s`" % r["attack"]["status_line"] if r["attack"]["status_line"] else "none")
        row("time to the answer (s)", lambda r: r["attack"]["answer_s"])
        row("how it ended", lambda r: r["attack"]["ended"])
        metrics_rows()
        row("responses / errors counted by the gateway", resp_summary)
        common_rows()
    print("| | " + " | ".join(l for l, _ in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run")
    r.add_argument("--scenario", required=True, choices=["slowloris", "silent", "chunkext", "trailers"])
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--admin-port", type=int, required=True)
    r.add_argument("--gw-pid", type=int, required=True)
    r.add_argument("--gw-nofile", default="")
    r.add_argument("--gw-max-connections", default="")
    r.add_argument("--conns", type=int, default=20000)
    r.add_argument("--duration", type=float, default=30.0, help="how long the connections are held (s)")
    r.add_argument("--rate", type=float, default=4000.0, help="connections opened per second")
    r.add_argument("--byte-interval", type=float, default=5.0)
    r.add_argument("--connect-timeout", type=float, default=10.0)
    r.add_argument("--max-pending", type=int, default=512, help="connects in progress at once")
    r.add_argument("--header-timeout", type=float, default=10.0, help="the gateway's, for bucketing")
    r.add_argument("--max-bytes", type=int, default=256 << 20)
    r.add_argument("--max-seconds", type=float, default=60.0, help="stream attacks: time limit")
    r.add_argument("--answer-wait", type=float, default=3.0)
    r.add_argument("--normal-interval", type=float, default=0.2)
    r.add_argument("--normal-min", type=float, default=3.0, help="stream attacks: the normal client's least run (s)")
    r.add_argument("--sample-interval", type=float, default=0.05)
    r.add_argument("--settle", type=float, default=2.0, help="wait before the 'after' sample (s)")
    r.add_argument("--nice", type=int, default=10, help="the attacker's nice value (normal client: 0)")
    r.add_argument("--out", required=True)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("conns")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--conns", type=int, required=True)
    c.add_argument("--t0", type=float, required=True)
    c.add_argument("--duration", type=float, required=True)
    c.add_argument("--rate", type=float, default=0)
    c.add_argument("--byte-interval", type=float, default=0)
    c.add_argument("--connect-timeout", type=float, default=10)
    c.add_argument("--max-pending", type=int, default=512)
    c.add_argument("--nice", type=int, default=0)
    c.set_defaults(func=cmd_conns)

    s = sub.add_parser("stream")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--kind", required=True, choices=["chunkext", "trailers"])
    s.add_argument("--max-bytes", type=int, required=True)
    s.add_argument("--max-seconds", type=float, default=60)
    s.add_argument("--answer-wait", type=float, default=3)
    s.set_defaults(func=cmd_stream)

    n = sub.add_parser("normal")
    n.add_argument("--port", type=int, required=True)
    n.add_argument("--interval", type=float, default=0.2)
    n.add_argument("--max-duration", type=float, default=120)
    n.add_argument("--timeout", type=float, default=5)
    n.set_defaults(func=cmd_normal)

    t = sub.add_parser("table")
    t.add_argument("--scenario", required=True)
    t.add_argument("files", nargs="+", metavar="LABEL=FILE")
    t.set_defaults(func=cmd_table)

    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
