#!/usr/bin/env python3
"""bench/h2_attacks.py: HTTP/2 (h2c, prior knowledge) attacks on infergate's listener.

Standard library only: raw sockets, hand-built HTTP/2 frames, HPACK literals without indexing
on the way out and a small HPACK decoder (static + dynamic table, Huffman) on the way in.

Each attack runs against a fresh `infergate --workers 1` (config written here, loopback ports
chosen by the kernel) in front of a fresh `infergate-mock --listen 127.0.0.1:0`. Meanwhile a
sampler reads the gateway's VmRSS (every 100 ms), its open fds and CPU time, and a normal client
sends GET /v1/models every 250 ms on a fresh connection, alternately over h2c and HTTP/1.1.
After the attack (and a settle time) the gateway's /metrics and the mock's /mock/stats are read,
the gateway is stopped (SIGTERM, then SIGKILL) and its exit status checked. Every attack is
bounded in time (<= 30 s) and in count; every process started is stopped at the end, also on
Ctrl-C. Writes bench/results/h2-attacks-<date>.md.

  bench/h2_attacks.py                       # everything (about 3 minutes)
  bench/h2_attacks.py --only slowloris-settings,ping-flood
  bench/h2_attacks.py --list
Environment: INFERGATE_BUILD=DIR (default ./build) holds bin/infergate and bin/infergate-mock;
they are copied to a scratch directory first (a rebuild during the run cannot mix binaries).
BENCH_KEEP=1 keeps the scratch directory (configs, logs).
"""

import argparse
import errno
import hashlib
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

HOST = "127.0.0.1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT, S_INITIAL_WINDOW, S_MAX_FRAME, S_MAX_HEADER_LIST = 1, 2, 3, 4, 5, 6
ERR = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT",
       5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR",
       10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}


def errname(code):
    return ERR.get(code, "0x%x" % code)


def frame(ftype, flags, sid, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, sid & 0x7FFFFFFF) + payload


def settings_frame(params=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in params))


def rst_frame(sid, code=8):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def wu_frame(sid, inc):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc))


# ---------------------------------------------------------------------------------------------
# HPACK (RFC 7541).

def hp_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_literal(name, value, first=0x00, prefix=4):
    """A literal field with a new name: without indexing (0x00, 4-bit prefix) by default, with
    incremental indexing when first=0x40, prefix=6. No Huffman."""
    n = name.encode() if isinstance(name, str) else name
    v = value.encode() if isinstance(value, str) else value
    return hp_int(0, prefix, first) + hp_int(len(n), 7) + n + hp_int(len(v), 7) + v


def hp_block(fields):
    return b"".join(hp_literal(k, v) for k, v in fields)


STATIC = [None, (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
          (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
          (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
          (":status", "404"), (":status", "500"), ("accept-charset", ""),
          ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""),
          ("accept", ""), ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
          ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
          ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
          ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
          ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
          ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
          ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""),
          ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""),
          ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
          ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
          ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", "")]

# RFC 7541 Appendix B: the Huffman code of each symbol 0..256 (hex) and its length in bits
# (chr(48 + length)).
HUFF_CODES = "1ff8,7fffd8,fffffe2,fffffe3,fffffe4,fffffe5,fffffe6,fffffe7,fffffe8,ffffea,3ffffffc,fffffe9,fffffea,3ffffffd,fffffeb,fffffec,fffffed,fffffee,fffffef,ffffff0,ffffff1,ffffff2,3ffffffe,ffffff3,ffffff4,ffffff5,ffffff6,ffffff7,ffffff8,ffffff9,ffffffa,ffffffb,14,3f8,3f9,ffa,1ff9,15,f8,7fa,3fa,3fb,f9,7fb,fa,16,17,18,0,1,2,19,1a,1b,1c,1d,1e,1f,5c,fb,7ffc,20,ffb,3fc,1ffa,21,5d,5e,5f,60,61,62,63,64,65,66,67,68,69,6a,6b,6c,6d,6e,6f,70,71,72,fc,73,fd,1ffb,7fff0,1ffc,3ffc,22,7ffd,3,23,4,24,5,25,26,27,6,74,75,28,29,2a,7,2b,76,2c,8,9,2d,77,78,79,7a,7b,7ffe,7fc,3ffd,1ffd,ffffffc,fffe6,3fffd2,fffe7,fffe8,3fffd3,3fffd4,3fffd5,7fffd9,3fffd6,7fffda,7fffdb,7fffdc,7fffdd,7fffde,ffffeb,7fffdf,ffffec,ffffed,3fffd7,7fffe0,ffffee,7fffe1,7fffe2,7fffe3,7fffe4,1fffdc,3fffd8,7fffe5,3fffd9,7fffe6,7fffe7,ffffef,3fffda,1fffdd,fffe9,3fffdb,3fffdc,7fffe8,7fffe9,1fffde,7fffea,3fffdd,3fffde,fffff0,1fffdf,3fffdf,7fffeb,7fffec,1fffe0,1fffe1,3fffe0,1fffe2,7fffed,3fffe1,7fffee,7fffef,fffea,3fffe2,3fffe3,3fffe4,7ffff0,3fffe5,3fffe6,7ffff1,3ffffe0,3ffffe1,fffeb,7fff1,3fffe7,7ffff2,3fffe8,1ffffec,3ffffe2,3ffffe3,3ffffe4,7ffffde,7ffffdf,3ffffe5,fffff1,1ffffed,7fff2,1fffe3,3ffffe6,7ffffe0,7ffffe1,3ffffe7,7ffffe2,fffff2,1fffe4,1fffe5,3ffffe8,3ffffe9,ffffffd,7ffffe3,7ffffe4,7ffffe5,fffec,fffff3,fffed,1fffe6,3fffe9,1fffe7,1fffe8,7ffff3,3fffea,3fffeb,1ffffee,1ffffef,fffff4,fffff5,3ffffea,7ffff4,3ffffeb,7ffffe6,3ffffec,3ffffed,7ffffe7,7ffffe8,7ffffe9,7ffffea,7ffffeb,ffffffe,7ffffec,7ffffed,7ffffee,7ffffef,7fffff0,3ffffee,3fffffff"
HUFF_LENS = "=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFGJJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN"
HUFF = {}
for _sym, (_c, _l) in enumerate(zip(HUFF_CODES.split(","), HUFF_LENS)):
    HUFF[(ord(_l) - 48, int(_c, 16))] = _sym


def huff_decode(data):
    out = bytearray()
    code = 0
    n = 0
    for byte in data:
        for i in range(7, -1, -1):
            code = (code << 1) | ((byte >> i) & 1)
            n += 1
            sym = HUFF.get((n, code))
            if sym is not None:
                if sym == 256:
                    raise ValueError("EOS in Huffman string")
                out.append(sym)
                code = 0
                n = 0
            elif n > 30:
                raise ValueError("bad Huffman code")
    return bytes(out)


class HpackDecoder:
    def __init__(self):
        self.dyn = []  # newest first
        self.size = 0
        self.max = 4096

    def _int(self, data, pos, prefix):
        limit = (1 << prefix) - 1
        v = data[pos] & limit
        pos += 1
        if v < limit:
            return v, pos
        m = 0
        while True:
            b = data[pos]
            pos += 1
            v += (b & 0x7F) << m
            m += 7
            if not b & 0x80:
                return v, pos

    def _str(self, data, pos):
        huff = data[pos] & 0x80
        n, pos = self._int(data, pos, 7)
        s = data[pos:pos + n]
        pos += n
        return (huff_decode(s) if huff else bytes(s)).decode("latin-1"), pos

    def _get(self, idx):
        if idx <= 0:
            raise ValueError("index 0")
        if idx < len(STATIC):
            return STATIC[idx]
        return self.dyn[idx - len(STATIC)]

    def _add(self, name, value):
        sz = len(name) + len(value) + 32
        self.dyn.insert(0, (name, value))
        self.size += sz
        while self.size > self.max and self.dyn:
            n, v = self.dyn.pop()
            self.size -= len(n) + len(v) + 32

    def decode(self, data):
        out = []
        pos = 0
        while pos < len(data):
            b = data[pos]
            if b & 0x80:
                idx, pos = self._int(data, pos, 7)
                out.append(self._get(idx))
            elif b & 0x40:
                idx, pos = self._int(data, pos, 6)
                name = self._get(idx)[0] if idx else None
                if name is None:
                    name, pos = self._str(data, pos)
                value, pos = self._str(data, pos)
                self._add(name, value)
                out.append((name, value))
            elif b & 0x20:
                self.max, pos = self._int(data, pos, 5)
                while self.size > self.max and self.dyn:
                    n, v = self.dyn.pop()
                    self.size -= len(n) + len(v) + 32
            else:
                idx, pos = self._int(data, pos, 4)
                name = self._get(idx)[0] if idx else None
                if name is None:
                    name, pos = self._str(data, pos)
                value, pos = self._str(data, pos)
                out.append((name, value))
        return out


def req_fields(method="GET", path="/v1/models", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", "a")] + list(extra)


CHAT_BODY = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'


# ---------------------------------------------------------------------------------------------
# A blocking HTTP/2 client connection with a frame reader that keeps the HPACK state.

class H2:
    def __init__(self, port, settings=((S_ENABLE_PUSH, 0),), timeout=5.0, rcvbuf=None, preface=True):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(timeout)
        self.s.connect((HOST, port))
        self.buf = b""
        self.dec = HpackDecoder()
        self.hblock = None  # (sid, bytes) while a header block is open
        self.status = {}  # sid -> :status
        self.rst = {}  # sid -> error code
        self.ended = set()  # sids with END_STREAM from the server
        self.data = {}  # sid -> bytes of DATA received
        self.goaway = None  # (last_sid, code, debug)
        self.closed = False
        self.peer_settings = {}
        self.frames = 0
        self.ping_acks = 0
        self.settings_acks = 0
        self.send_window = 65535
        self.stream_send_window = {}
        self.peer_initial_window = 65535
        self.wu_received = 0
        if preface:
            self.send(PREFACE + settings_frame(settings))

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def _on_frame(self, ftype, flags, sid, payload, auto_ack):
        self.frames += 1
        if ftype == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
            else:
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    self.peer_settings[k] = v
                    if k == S_INITIAL_WINDOW:
                        delta = v - self.peer_initial_window
                        self.peer_initial_window = v
                        for s in self.stream_send_window:
                            self.stream_send_window[s] += delta
                if auto_ack:
                    self.send(settings_frame(ack=True))
        elif ftype == HEADERS or ftype == CONTINUATION:
            if ftype == HEADERS:
                p = payload
                if flags & PADDED:
                    p = p[1:len(p) - p[0]]
                if flags & PRIO_FLAG:
                    p = p[5:]
                self.hblock = [sid, p, flags & END_STREAM]
            else:
                self.hblock[1] += payload
            if flags & END_HEADERS:
                s, block, es = self.hblock
                self.hblock = None
                for k, v in self.dec.decode(block):
                    if k == ":status" and s not in self.status:
                        self.status[s] = int(v)
                if es:
                    self.ended.add(s)
        elif ftype == DATA:
            self.data[sid] = self.data.get(sid, 0) + len(payload)
            if flags & END_STREAM:
                self.ended.add(sid)
        elif ftype == RST_STREAM:
            self.rst[sid] = struct.unpack(">I", payload[:4])[0]
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7FFFFFFF, code, payload[8:200])
        elif ftype == PING and not flags & ACK:
            if auto_ack:
                self.send(frame(PING, ACK, 0, payload))
        elif ftype == PING:
            self.ping_acks += 1
        elif ftype == WINDOW_UPDATE:
            inc = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            self.wu_received += 1
            if sid == 0:
                self.send_window += inc
            else:
                self.stream_send_window[sid] = self.stream_send_window.get(sid, self.peer_initial_window) + inc

    def pump(self, timeout, until=None, auto_ack=True):
        """Reads frames for up to `timeout` s, or until until(self) is true or the peer closes.
        Returns True when the connection is closed."""
        end = time.monotonic() + timeout
        while not self.closed:
            if until is not None and until(self):
                return False
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(min(left, 1.0))
            try:
                data = self.s.recv(262144)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                self.closed = "rst"
                break
            except OSError as e:
                self.closed = "err:" + errno.errorcode.get(e.errno, str(e.errno))
                break
            if not data:
                self.closed = "fin"
                break
            self.buf += data
            while len(self.buf) >= 9:
                n = (self.buf[0] << 16) | (self.buf[1] << 8) | self.buf[2]
                if len(self.buf) < 9 + n:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
                payload = self.buf[9:9 + n]
                self.buf = self.buf[9 + n:]
                try:
                    self._on_frame(ftype, flags, sid, payload, auto_ack)
                except OSError:
                    pass
        return True

    def summary(self):
        codes = {}
        for st in self.status.values():
            codes[st] = codes.get(st, 0) + 1
        rst = {}
        for c in self.rst.values():
            rst[errname(c)] = rst.get(errname(c), 0) + 1
        ga = None
        if self.goaway:
            ga = "GOAWAY(%s, last %d%s)" % (errname(self.goaway[1]), self.goaway[0],
                                           (", \"%s\"" % self.goaway[2].decode("latin-1")) if self.goaway[2] else "")
        return {"status": codes, "rst": rst, "goaway": ga, "closed": self.closed}


def headers_frames(sid, block, end_stream=True, max_frame=16384):
    """HEADERS + CONTINUATION frames carrying `block`."""
    chunks = [block[i:i + max_frame] for i in range(0, len(block), max_frame)] or [b""]
    out = []
    for i, c in enumerate(chunks):
        last = i == len(chunks) - 1
        if i == 0:
            out.append(frame(HEADERS, (END_STREAM if end_stream else 0) | (END_HEADERS if last else 0), sid, c))
        else:
            out.append(frame(CONTINUATION, END_HEADERS if last else 0, sid, c))
    return b"".join(out)


def describe(summary, t_close=None):
    parts = []
    if summary["status"]:
        parts.append(", ".join("%d×%s" % (n, s) for s, n in sorted(summary["status"].items())))
    if summary["rst"]:
        parts.append("RST_STREAM " + ", ".join("%d×%s" % (n, c) for c, n in sorted(summary["rst"].items())))
    if summary["goaway"]:
        parts.append(summary["goaway"])
    if summary["closed"]:
        parts.append("closed (%s)%s" % (summary["closed"], "" if t_close is None else " after %.2f s" % t_close))
    return "; ".join(parts) or "nothing"


# ---------------------------------------------------------------------------------------------
# Processes, metrics, the sampler and the normal client.

def wait_log(path, needle, timeout, proc):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            if needle in text:
                return text
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("%s: '%s' not seen; log:\n%s" % (path, needle, open(path).read()[-2000:]))


def port_after(text, prefix):
    i = text.index(prefix) + len(prefix)
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return int(text[i:j])


def http_get(port, path, timeout=2.0):
    with urllib.request.urlopen("http://%s:%d%s" % (HOST, port, path), timeout=timeout) as r:
        return r.read()


def metrics(admin_port):
    out = {}
    try:
        for line in http_get(admin_port, "/metrics").decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
    except Exception as e:  # noqa: BLE001 (the gateway may be dead)
        out["_error"] = str(e)
    return out


def attack_requests(env, st=None):
    """Requests that reached the mock less those of the normal client (each of its successful
    GETs is one request at the mock); may be off by one while a normal GET is in flight."""
    st = st if st is not None else mock_stats(env.mock_port)
    if "requests" not in st:
        return None
    return st["requests"] - sum(1 for x in list(env.normal.res) if x[2])


def mock_stats(mock_port):
    try:
        return json.loads(http_get(mock_port, "/mock/stats"))
    except Exception as e:  # noqa: BLE001
        return {"_error": str(e)}


def proc_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.rss = []  # (t, kib)
        self.fds_peak = 0

    def run(self):
        i = 0
        while not self.stop.is_set():
            r = proc_rss_kib(self.pid)
            if r is not None:
                self.rss.append((time.monotonic(), r))
            if i % 5 == 0:
                f = proc_fds(self.pid)
                if f:
                    self.fds_peak = max(self.fds_peak, f)
            i += 1
            self.stop.wait(0.1)


def normal_h2(port, timeout=2.0):
    c = H2(port, timeout=timeout)
    try:
        c.send(headers_frames(1, hp_block(req_fields())))
        c.pump(timeout, until=lambda h: 1 in h.ended or 1 in h.rst)
        return c.status.get(1) == 200 and 1 in c.ended, c.status.get(1)
    finally:
        c.close()


def normal_h1(port, timeout=2.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        buf = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        line = buf.split(b"\r\n", 1)[0].decode("latin-1")
        return line.startswith("HTTP/1.1 200") and b'"object":"list"' in buf, line[:40]
    finally:
        s.close()


class Normal(threading.Thread):
    """GET /v1/models every 250 ms on a fresh connection, alternately h2c and HTTP/1.1."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.phase = "during"
        self.res = []  # (phase, proto, ok, latency, what)

    def run(self):
        i = 0
        while not self.stop.is_set():
            proto = "h2" if i % 2 == 0 else "h1"
            t = time.monotonic()
            try:
                ok, what = (normal_h2 if proto == "h2" else normal_h1)(self.port)
            except Exception as e:  # noqa: BLE001
                ok, what = False, type(e).__name__ + ": " + str(e)[:60]
            self.res.append((self.phase, proto, ok, time.monotonic() - t, what))
            i += 1
            self.stop.wait(max(0.0, 0.25 - (time.monotonic() - t)))

    def summary(self, phase):
        r = [x for x in self.res if x[0] == phase]
        ok = sum(1 for x in r if x[2])
        lat = sorted(x[3] for x in r if x[2])
        fails = {}
        for x in r:
            if not x[2]:
                k = "%s %s" % (x[1], x[4])
                fails[k] = fails.get(k, 0) + 1
        return {"ok": ok, "n": len(r), "max_ms": round(lat[-1] * 1000, 1) if lat else None,
                "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None, "fails": fails}


# ---------------------------------------------------------------------------------------------
# The harness: one fresh mock and gateway per attack.

class Env:
    def __init__(self, work, bins):
        self.work = work
        self.bins = bins
        self.procs = []

    def start(self, name, listener_extra, http2_extra, mock_args=()):
        self.name = name
        mlog = os.path.join(self.work, "mock-%s.log" % name)
        self.mock = subprocess.Popen([self.bins["mock"], "--listen", "127.0.0.1:0", "--id", "m", "--model", "m",
                                      "--tokens", "3"] + list(mock_args),
                                     stdout=open(mlog, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(self.mock)
        self.mock_port = port_after(wait_log(mlog, "listening on 127.0.0.1:", 10, self.mock), "listening on 127.0.0.1:")
        cfg = os.path.join(self.work, "gw-%s.yaml" % name)
        lines = ["workers: 1", "listeners:", "  - name: public", "    listen: 127.0.0.1:0"]
        lines += ["    %s: %s" % kv for kv in listener_extra]
        if http2_extra:
            lines.append("    http2:")
            lines += ["      %s: %s" % kv for kv in http2_extra]
        lines += ["admin:", "  listen: 127.0.0.1:0", "pools:", "  - name: main",
                  "    backends: [http://127.0.0.1:%d]" % self.mock_port, "routes:",
                  "  - {name: all, match: {path_prefix: /}, to: main}"]
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.cfg = cfg
        self.gw_log = os.path.join(self.work, "gw-%s.log" % name)
        self.gw_cmd = [self.bins["gw"], "-c", cfg, "--workers", "1", "--drain-timeout", "1s"]
        self.gw = subprocess.Popen(self.gw_cmd, stdout=open(self.gw_log, "wb"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.procs.append(self.gw)
        text = wait_log(self.gw_log, "admin listening on 127.0.0.1:", 10, self.gw)
        self.port = port_after(text, "listener public on 127.0.0.1:")
        self.admin = port_after(text, "admin listening on 127.0.0.1:")
        self.sampler = Sampler(self.gw.pid)
        self.sampler.start()
        time.sleep(0.3)
        self.rss0 = proc_rss_kib(self.gw.pid)
        self.cpu0 = proc_cpu_s(self.gw.pid)
        self.m0 = metrics(self.admin)
        self.normal = Normal(self.port)
        self.normal.start()
        time.sleep(0.6)
        self.t_attack = time.monotonic()

    def finish(self, settle):
        self.t_attack_end = time.monotonic()
        self.alive_after_attack = self.gw.poll() is None
        self.normal.phase = "after"
        time.sleep(settle)
        self.normal.stop.set()
        self.normal.join(5)
        res = {}
        res["alive"] = self.gw.poll() is None
        res["metrics1"] = metrics(self.admin) if res["alive"] else {}
        res["mock"] = mock_stats(self.mock_port)
        res["attack_requests"] = attack_requests(self, res["mock"])
        res["cpu_s"] = None if self.cpu0 is None or not res["alive"] else round(proc_cpu_s(self.gw.pid) - self.cpu0, 2)
        res["rss_after"] = proc_rss_kib(self.gw.pid)
        self.sampler.stop.set()
        self.sampler.join(2)
        during = [k for t, k in self.sampler.rss if t >= self.t_attack]
        res["rss0"] = self.rss0
        res["rss_peak"] = max(during) if during else None
        res["fds_peak"] = self.sampler.fds_peak
        res["normal_during"] = self.normal.summary("during")
        res["normal_after"] = self.normal.summary("after")
        res["metrics0"] = self.m0
        res["gw_exit"] = self.stop_all()
        with open(self.gw_log, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        res["warnings"] = [l for l in log.splitlines() if " warn " in l or " error " in l or " crit " in l][:8]
        res["log_tail"] = log.splitlines()[-15:]
        res["gw_cmd"] = " ".join(self.gw_cmd)
        res["cfg"] = open(self.cfg).read()
        return res

    def stop_all(self):
        exit_note = None
        for p in reversed(self.procs):
            if p.poll() is not None:
                if p is getattr(self, "gw", None):
                    exit_note = "the gateway exited by itself with status %s" % p.returncode
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            if p is getattr(self, "gw", None) and p.returncode not in (0, -signal.SIGTERM):
                exit_note = "the gateway exited with status %s on SIGTERM" % p.returncode
        self.procs = []
        return exit_note


def mdelta(res, key):
    return res["metrics1"].get(key, 0) - res["metrics0"].get(key, 0)


def nonzero_deltas(res, prefix):
    out = []
    for k in sorted(res["metrics1"]):
        if k.startswith(prefix):
            d = mdelta(res, k)
            if d:
                lab = k[len(prefix):].strip("{}")
                out.append("%s=%d" % (lab.split("=", 1)[-1].strip('"') if "=" in lab else lab or "total", d))
    return ", ".join(out) or "0"


# ---------------------------------------------------------------------------------------------
# The attacks. Each takes (env, args) and returns a dict: summary (what the gateway answered),
# numbers (key: value), expect_ok (bool) and notes.

def many_conns(port, n, rate, hold_until_age, first_bytes, trickle=None, trickle_every=1.0, max_total=25.0):
    """Opens n non-blocking connections at `rate`/s, sends first_bytes on each, then trickle
    (bytes or a function of the count) every trickle_every s; records when each was closed and
    whether a GOAWAY arrived. Stops when all closed or each is older than hold_until_age."""
    ep = select.epoll()
    conns = {}
    t0 = time.monotonic()
    opened = 0
    rec = []  # (age_at_close or None, kind, goaway_code)
    fails = {}
    hard_end = t0 + max_total
    while True:
        now = time.monotonic()
        due = min(n, int((now - t0) * rate) + 1)
        while opened < due:
            s = socket.socket()
            s.setblocking(False)
            opened += 1
            e = s.connect_ex((HOST, port))
            if e not in (0, errno.EINPROGRESS):
                fails[errno.errorcode.get(e, e)] = fails.get(errno.errorcode.get(e, e), 0) + 1
                s.close()
                continue
            conns[s.fileno()] = {"s": s, "t": now, "est": False, "buf": b"", "sent": 0, "next": None, "ga": None}
            ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)
        for fd, c in list(conns.items()):
            if c["est"] and c["next"] is not None and now >= c["next"] and trickle is not None:
                try:
                    c["s"].send(trickle(c["sent"]))
                    c["sent"] += 1
                except (BlockingIOError, OSError):
                    pass
                c["next"] = now + trickle_every
            if now - c["t"] > hold_until_age or now > hard_end:
                rec.append((None, "still open", c["ga"]))
                ep.unregister(fd)
                c["s"].close()
                del conns[fd]
        if opened >= n and not conns:
            break
        if now > hard_end:
            break
        for fd, ev in ep.poll(0.05):
            c = conns.get(fd)
            if c is None:
                continue
            if not c["est"] and ev & select.EPOLLOUT:
                c["est"] = True
                ep.modify(fd, select.EPOLLIN)
                try:
                    c["s"].send(first_bytes)
                except OSError:
                    pass
                c["next"] = time.monotonic() + trickle_every
                continue
            kind = None
            try:
                d = c["s"].recv(65536)
                if not d:
                    kind = "fin"
                else:
                    c["buf"] = (c["buf"] + d)[-4096:] if len(c["buf"]) < 4096 else c["buf"]
                    # find a GOAWAY frame in what came (frames parsed from the start)
                    b = c["buf"]
                    i = 0
                    while i + 9 <= len(b):
                        ln = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2]
                        if b[i + 3] == GOAWAY and i + 17 <= len(b):
                            c["ga"] = struct.unpack(">I", b[i + 13:i + 17])[0]
                        i += 9 + ln
            except BlockingIOError:
                continue
            except ConnectionResetError:
                kind = "rst"
            except OSError as e:
                kind = "err:" + errno.errorcode.get(e.errno, str(e.errno))
            if kind:
                rec.append((time.monotonic() - c["t"], kind, c["ga"]))
                ep.unregister(fd)
                c["s"].close()
                del conns[fd]
    ep.close()
    return rec, fails, opened


def rec_summary(rec, lo, hi):
    closed = [r for r in rec if r[0] is not None]
    ages = sorted(r[0] for r in closed)
    kinds = {}
    for r in rec:
        k = r[1] + ("+GOAWAY(%s)" % errname(r[2]) if r[2] is not None else "")
        kinds[k] = kinds.get(k, 0) + 1
    in_window = sum(1 for a in ages if lo <= a <= hi)
    return {"closed": len(closed), "still_open": len(rec) - len(closed), "in_window": in_window,
            "age_min": round(ages[0], 2) if ages else None, "age_med": round(ages[len(ages) // 2], 2) if ages else None,
            "age_max": round(ages[-1], 2) if ages else None, "kinds": kinds}


def a_slowloris_settings(env, a):
    """Three rounds of a.conns connections on the same gateway: the RSS after each round tells
    allocator retention (a plateau: round 3 adds under a quarter of round 1's growth) from a leak
    (the same growth per round)."""
    ht = 2.0
    rss_after = []
    allrec = []
    fails_all = {}
    opened_all = 0
    for _ in range(3):
        rec, fails, opened = many_conns(env.port, a.conns, 1000, ht + 6, PREFACE + settings_frame(((S_ENABLE_PUSH, 0),)))
        allrec += rec
        opened_all += opened
        for k, v in fails.items():
            fails_all[k] = fails_all.get(k, 0) + v
        time.sleep(0.5)
        rss_after.append(proc_rss_kib(env.gw.pid))
    s = rec_summary(allrec, ht - 0.2, ht + 1.5)
    plateau = None not in rss_after and env.rss0 is not None and \
        rss_after[2] - rss_after[1] < 0.25 * max(1, rss_after[0] - env.rss0)
    ok = s["closed"] == opened_all and s["in_window"] >= 0.99 * opened_all and not fails_all and plateau
    return {"summary": "closes: %s; age at close min/median/max %s/%s/%s s" % (
        ", ".join("%d×%s" % (v, k) for k, v in s["kinds"].items()), s["age_min"], s["age_med"], s["age_max"]),
        "numbers": {"connections (3 rounds)": opened_all, "connect failures": fails_all or 0,
                    "closed within header_timeout+[-0.2,1.5] s": s["in_window"],
                    "still open at %g s" % (ht + 6): s["still_open"],
                    "RSS after round 1 / 2 / 3 (MiB; retained by the allocator when it plateaus)": " / ".join(fmt_kib(x) for x in rss_after)},
        "expect_ok": ok, "rss_plateau": plateau}


def a_slowloris_continuation(env, a):
    ht = 2.0
    first = PREFACE + settings_frame(((S_ENABLE_PUSH, 0),)) + frame(HEADERS, END_STREAM, 1, hp_block(req_fields()[:2]))
    # One CONTINUATION of one byte (the start of a literal field) every second.
    rec, fails, opened = many_conns(env.port, a.cont_conns, 500, ht + 8, first,
                                    trickle=lambda i: frame(CONTINUATION, 0, 1, b"\x00"), trickle_every=1.0)
    s = rec_summary(rec, ht - 0.2, ht + 1.5)
    ok = s["closed"] == opened and s["in_window"] >= 0.99 * opened
    return {"summary": "closes: %s; age at close min/median/max %s/%s/%s s" % (
        ", ".join("%d×%s" % (v, k) for k, v in s["kinds"].items()), s["age_min"], s["age_med"], s["age_max"]),
        "numbers": {"connections": opened, "closed within header_timeout+[-0.2,1.5] s": s["in_window"],
                    "still open at %g s" % (ht + 8): s["still_open"]},
        "expect_ok": ok}


def open_streams(c, nstreams, fields, body=None, first_sid=1):
    out = []
    for i in range(nstreams):
        sid = first_sid + 2 * i
        out.append(headers_frames(sid, hp_block(fields), end_stream=body is None))
        if body is not None:
            out.append(frame(DATA, END_STREAM, sid, body))
    c.send(b"".join(out))
    return [first_sid + 2 * i for i in range(nstreams)]


def a_window_hold(env, a, read_socket=True):
    """read_socket=True: SETTINGS_INITIAL_WINDOW_SIZE=0, frames read, no WINDOW_UPDATE ever.
    read_socket=False: windows wide open (2^31-1) but the TCP socket is never read."""
    nconn, nstr = a.hold_conns, 100
    fields = req_fields("POST", "/v1/chat/completions",
                        [("content-type", "application/json"), ("content-length", str(len(CHAT_BODY))),
                         ("x-mock-tokens", "1000"), ("x-mock-token-interval-ms", "20")])
    conns = []
    t0 = time.monotonic()
    for i in range(nconn):
        if read_socket:
            c = H2(env.port, settings=((S_ENABLE_PUSH, 0), (S_INITIAL_WINDOW, 0)))
        else:
            c = H2(env.port, settings=((S_ENABLE_PUSH, 0), (S_INITIAL_WINDOW, 2 ** 31 - 1)), rcvbuf=4096)
            c.send(wu_frame(0, 2 ** 31 - 1 - 65535))
        open_streams(c, nstr, fields, body=CHAT_BODY)
        conns.append(c)
    total = nconn * nstr
    deadline = t0 + 20
    mock_peak = 0
    if read_socket:
        while time.monotonic() < deadline:
            for c in conns:
                c.pump(0.05)
            st = mock_stats(env.mock_port)
            mock_peak = max(mock_peak, st.get("active_streams", 0) or 0)
            if sum(len(c.rst) + len(c.ended) for c in conns) >= total or all(c.closed for c in conns):
                break
    else:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            st = mock_stats(env.mock_port)
            mock_peak = max(mock_peak, st.get("active_streams", 0) or 0)
            m = metrics(env.admin)
            if m.get('infergate_h2_resets_total{cause="send_timeout"}', 0) - env.m0.get('infergate_h2_resets_total{cause="send_timeout"}', 0) >= total:
                break
            if st.get("active_streams", 1) == 0 and time.monotonic() - t0 > 5:
                break
        # now read what was buffered, to see what the gateway sent
        for c in conns:
            c.pump(2.0, until=lambda h: len(h.rst) + len(h.ended) >= nstr)
    t_done = time.monotonic() - t0
    time.sleep(1.0)
    st = mock_stats(env.mock_port)
    agg = {"status": {}, "rst": {}}
    goaways = {}
    data = 0
    for c in conns:
        sm = c.summary()
        for k, v in sm["status"].items():
            agg["status"][k] = agg["status"].get(k, 0) + v
        for k, v in sm["rst"].items():
            agg["rst"][k] = agg["rst"].get(k, 0) + v
        if sm["goaway"]:
            goaways[sm["goaway"]] = goaways.get(sm["goaway"], 0) + 1
        data += sum(c.data.values())
        c.close()
    resets = agg["rst"].get("CANCEL", 0)
    ok = st.get("active_streams", 1) == 0 and (st.get("client_disconnects", 0) >= total)
    if read_socket:
        ok = ok and resets == total
    else:  # the gateway cannot send a reset the client does not read: it closes the connection
        ok = ok and all(c.closed or len(c.rst) == nstr for c in conns)
    summ = "heads: %s; %s; GOAWAYs: %s; DATA bytes received %d" % (
        ", ".join("%d×%s" % (v, k) for k, v in sorted(agg["status"].items())) or "none",
        "RST_STREAM " + (", ".join("%d×%s" % (v, k) for k, v in agg["rst"].items()) or "none"),
        goaways or "none", data)
    return {"summary": summ, "numbers": {"streams": total, "all streams ended/reset after (s)": round(t_done, 2),
                                         "mock active_streams peak": mock_peak,
                                         "mock client_disconnects": st.get("client_disconnects"),
                                         "mock active_streams after": st.get("active_streams"),
                                         "mock tokens_streamed": st.get("tokens_streamed")},
            "expect_ok": ok}


def a_buffering(env, a):
    return a_window_hold(env, a, read_socket=False)


def a_body_budget(env, a):
    """One connection, 100 POST streams declaring 1 MiB each; DATA sent as fast as the windows
    allow, never the last byte (no END_STREAM). A reader thread applies WINDOW_UPDATEs."""
    nstr, size = 100, 1 << 20
    c = H2(env.port, settings=((S_ENABLE_PUSH, 0),))
    c.pump(1.0, until=lambda h: h.peer_settings)  # (pump acknowledges the SETTINGS)
    iw = c.peer_settings.get(S_INITIAL_WINDOW, 65535)
    c.peer_initial_window = iw
    fields = req_fields("POST", "/v1/chat/completions",
                        [("content-type", "application/json"), ("content-length", str(size))])
    sids = [1 + 2 * i for i in range(nstr)]
    c.send(b"".join(headers_frames(s, hp_block(fields), end_stream=False) for s in sids))
    for s in sids:
        c.stream_send_window.setdefault(s, iw)
    sent = {s: 0 for s in sids}
    lock = threading.Lock()
    stop = threading.Event()

    def reader():
        while not stop.is_set() and not c.closed:
            with lock:
                pass
            c.pump(0.2, auto_ack=True)

    # Blocking socket shared: the reader uses recv, we use sendall (both safe on a socket).
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    t0 = time.monotonic()
    chunk = b"x" * 16384
    last_progress = t0
    timeline = []
    while time.monotonic() - t0 < a.body_seconds and not c.closed:
        progressed = False
        for s in sids:
            room = min(c.send_window, c.stream_send_window.get(s, 0), size - 1 - sent[s], 16384)
            if room <= 0:
                continue
            try:
                c.send(frame(DATA, 0, s, chunk[:room]))
            except OSError:
                c.closed = c.closed or "send error"
                break
            c.send_window -= room
            c.stream_send_window[s] -= room
            sent[s] += room
            progressed = True
        now = time.monotonic()
        if progressed:
            last_progress = now
        if not timeline or now - timeline[-1][0] >= 1.0:
            timeline.append((now, sum(sent.values()), proc_rss_kib(env.gw.pid)))
        if not progressed:
            time.sleep(0.05)
    total = sum(sent.values())
    stop.set()
    th.join(2)
    rss_now = proc_rss_kib(env.gw.pid)
    sm = c.summary()
    c.close()
    budget = 8 << 20
    cap = budget + (1 << 20) + 16384 * 2
    ok = total <= cap
    return {"summary": "sent %.2f MiB of DATA in %ds, then the window stayed shut (last progress %.1f s in); "
                       "gateway answered: %s" % (total / 1048576, a.body_seconds, last_progress - t0, describe(sm)),
            "numbers": {"bytes sent": total, "cap (budget + initial_connection_window)": cap,
                        "streams with >0 bytes": sum(1 for v in sent.values() if v),
                        "WINDOW_UPDATEs received": c.wu_received,
                        "RSS growth at end of sending (KiB)": (rss_now or 0) - (env.rss0 or 0),
                        "sent per second (MiB)": " ".join("%.1f" % (b / 1048576) for _, b, _ in timeline)},
            "expect_ok": ok}


def one_conn_attack(env, payload_fn, wait=5.0, read=True, settings=((S_ENABLE_PUSH, 0),)):
    c = H2(env.port, settings=settings)
    t0 = time.monotonic()
    info = payload_fn(c) or {}
    if read:
        c.pump(wait, until=lambda h: h.closed)
    t_close = time.monotonic() - t0 if c.closed else None
    sm = c.summary()
    c.close()
    return c, sm, t_close, info


def a_hpack_bomb(env, a):
    def go(c):
        block = hp_block(req_fields())
        block += hp_literal("x-bomb", "a" * 4000, first=0x40, prefix=6)
        block += b"\xbe" * 60000  # index 62: the entry just added, ~4 KiB decoded each (240 MB total)
        c.send(headers_frames(1, block, end_stream=True))
    c, sm, tc, _ = one_conn_attack(env, go)
    ar = attack_requests(env)
    ok = (1 not in c.status or c.status[1] == 431) and ar is not None and ar <= 0
    return {"summary": describe(sm, tc), "numbers": {"decoded bytes offered": 6 + 4000 + 32 + 60000 * 4038,
                                                     "encoded bytes": len(block_len_dummy()), "attack requests at the mock": ar},
            "expect_ok": ok}


def block_len_dummy():
    return hp_block(req_fields()) + hp_literal("x-bomb", "a" * 4000, first=0x40, prefix=6) + b"\xbe" * 60000


def a_huge_headers(env, a):
    res = {}
    for label, fields in (("90 fields × 800 B (72 KiB decoded, over 64 KiB)", [("x-h%d" % i, "v" * 800) for i in range(90)]),
                          ("500 fields × 10 B (over 100 fields)", [("x-h%d" % i, "v" * 10) for i in range(500)])):
        def go(c, fields=fields):
            c.send(headers_frames(1, hp_block(req_fields() + fields), end_stream=True))
        c, sm, tc, _ = one_conn_attack(env, go, wait=3.0)
        res[label] = (describe(sm, tc), c.status.get(1))
    ar = attack_requests(env)
    ok = all(s in (431, None) for _, s in res.values()) and ar is not None and ar <= 0
    return {"summary": " | ".join("%s: %s" % (k, v[0]) for k, v in res.items()),
            "numbers": {"attack requests at the mock": ar}, "expect_ok": ok}


def a_rapid_reset(env, a):
    n = a.resets
    c = H2(env.port)
    c.pump(0.5, until=lambda h: h.peer_settings)  # (pump acknowledges the SETTINGS)
    stop = threading.Event()
    th = threading.Thread(target=lambda: [c.pump(0.2) for _ in iter(lambda: stop.is_set() or c.closed, True)], daemon=True)
    th.start()
    t0 = time.monotonic()
    sent = 0
    blk = hp_block(req_fields())
    for i in range(n):
        sid = 1 + 2 * i
        try:
            c.send(frame(HEADERS, END_STREAM | END_HEADERS, sid, blk))
            c.send(rst_frame(sid, 8))
        except OSError:
            break
        sent += 1
        if c.closed or time.monotonic() - t0 > 20:
            break
    t_stop = time.monotonic() - t0
    c.pump(3.0, until=lambda h: h.closed) if not c.closed else None
    stop.set()
    th.join(2)
    sm = c.summary()
    c.close()
    time.sleep(0.5)
    ar = attack_requests(env)
    ok = sm["goaway"] is not None and "ENHANCE_YOUR_CALM" in sm["goaway"] and ar is not None and ar <= 300
    return {"summary": describe(sm) + "; the attacker stopped after %d streams (%.2f s)" % (sent, t_stop),
            "numbers": {"streams opened+reset": sent, "attack requests at the mock": ar},
            "expect_ok": ok}


def flood_no_read(env, make_frame, n, max_s=10.0):
    """Sends n frames (in batches of 100) without ever reading; stops at a send error."""
    c = H2(env.port, rcvbuf=4096)
    c.s.settimeout(2.0)
    t0 = time.monotonic()
    sent = 0
    err = None
    while sent < n and time.monotonic() - t0 < max_s:
        try:
            c.send(b"".join(make_frame(sent + i) for i in range(100)))
            sent += 100
        except socket.timeout:
            err = "send blocked 2 s (the gateway stopped reading)"
            break
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
            break
    t_err = time.monotonic() - t0
    c.pump(3.0, until=lambda h: h.closed, auto_ack=False)
    t_close = time.monotonic() - t0 if c.closed else None
    sm = c.summary()
    c.close()
    return sm, sent, err, t_err, t_close, c


def flood_result(env, kind, sm, sent, err, t_err, t_close, c, extra=None):
    ga = sm["goaway"] or ""
    ok = "ENHANCE_YOUR_CALM" in ga and mdelta_live(env, 'infergate_h2_flood_goaways_total{kind="%s"}' % kind) >= 1
    nums = {"frames sent": sent, "send stopped": "%s after %.2f s" % (err, t_err) if err else "no (all sent in %.2f s)" % t_err,
            "connection closed after (s)": None if t_close is None else round(t_close, 2),
            "PING ACKs read": c.ping_acks, "SETTINGS ACKs read": c.settings_acks}
    nums.update(extra or {})
    return {"summary": describe(sm, t_close), "numbers": nums, "expect_ok": ok}


def mdelta_live(env, key):
    return metrics(env.admin).get(key, 0) - env.m0.get(key, 0)


def a_ping_flood(env, a):
    r = flood_no_read(env, lambda i: frame(PING, 0, 0, struct.pack(">Q", i)), a.flood_frames)
    return flood_result(env, "pings", *r)


def a_settings_flood(env, a):
    r = flood_no_read(env, lambda i: settings_frame(((S_MAX_FRAME, 16384 + (i % 2)),)), a.flood_frames)
    return flood_result(env, "settings", *r)


def a_priority_flood(env, a):
    r = flood_no_read(env, lambda i: frame(PRIORITY, 0, 1 + 2 * (i % 5000), struct.pack(">IB", (3 + 2 * (i % 5000)) & 0x7FFFFFFF, 15)),
                      a.flood_frames)
    return flood_result(env, "priority", *r)


def a_window_update_flood(env, a):
    r = flood_no_read(env, lambda i: wu_frame(0, 1), a.flood_frames)
    return flood_result(env, "window_updates", *r)


def a_empty_data_flood(env, a):
    fields = req_fields("POST", "/v1/chat/completions", [("content-type", "application/json")])

    def mk(i):
        if i == 0:
            return headers_frames(1, hp_block(fields), end_stream=False)
        return frame(DATA, 0, 1, b"")
    r = flood_no_read(env, mk, a.flood_frames)
    return flood_result(env, "empty_frames", *r)


def a_settings_big(env, a):
    """One SETTINGS frame with 1000 entries (the limit is 32 per frame)."""
    def go(c):
        c.send(settings_frame([(S_MAX_FRAME, 16384)] * 1000))
    c, sm, tc, _ = one_conn_attack(env, go, wait=3.0)
    ok = sm["goaway"] is not None
    return {"summary": describe(sm, tc), "numbers": {}, "expect_ok": ok}


def a_continuation_flood(env, a):
    """HEADERS without END_HEADERS, then 1000 CONTINUATION frames of 16 KiB of 1-byte-name
    literal fields, never ending the block (CVE-2024-27316 style)."""
    sent = [0]

    def go(c):
        c.send(frame(HEADERS, END_STREAM, 1, hp_block(req_fields())))
        piece = hp_literal("x", "y" * 16000)
        for i in range(1000):
            try:
                c.send(frame(CONTINUATION, 0, 1, piece))
                sent[0] += 1
            except OSError:
                break
    c, sm, tc, _ = one_conn_attack(env, go, wait=4.0)
    ar = attack_requests(env)
    ok = (c.closed and sent[0] < 1000) or (sm["goaway"] is not None)
    return {"summary": describe(sm, tc), "numbers": {"CONTINUATION frames sent before an error": sent[0],
                                                     "attack requests at the mock": ar},
            "expect_ok": ok and ar is not None and ar <= 0}


def a_zero_length_headers(env, a):
    """CVE-2019-9516: many fields with an empty name and value (32 bytes each in the list size)."""
    def go(c):
        c.send(headers_frames(1, hp_block(req_fields()) + b"\x00\x00\x00" * 2000, end_stream=True))
    c, sm, tc, _ = one_conn_attack(env, go, wait=3.0)
    ar = attack_requests(env)
    ok = c.status.get(1) != 200 and ar is not None and ar <= 0
    return {"summary": describe(sm, tc), "numbers": {"attack requests at the mock": ar}, "expect_ok": ok}


def a_too_many_streams(env, a):
    """150 streams after acknowledging SETTINGS (max_concurrent_streams 100)."""
    fields = req_fields("POST", "/v1/chat/completions",
                        [("content-type", "application/json"), ("x-mock-tokens", "200"), ("x-mock-token-interval-ms", "10")])

    def go(c):
        c.pump(1.0, until=lambda h: h.peer_settings and h.settings_acks)  # (acknowledged by pump)
        time.sleep(0.2)
        c.send(b"".join(headers_frames(1 + 2 * i, hp_block(fields), end_stream=False) + frame(DATA, END_STREAM, 1 + 2 * i, CHAT_BODY)
                        for i in range(150)))
    c, sm, tc, _ = one_conn_attack(env, go, wait=6.0)
    ar = attack_requests(env)
    ok = sm["goaway"] is not None or sm["rst"].get("REFUSED_STREAM", 0) >= 50
    return {"summary": describe(sm, tc), "numbers": {"attack requests at the mock": ar,
                                                     "advertised max_concurrent_streams": c.peer_settings.get(S_MAX_CONCURRENT)},
            "expect_ok": ok and ar is not None and ar <= 100}


def a_data_dribble(env, a):
    """CVE-2019-9511: window of 1 byte per stream, a 1-byte WINDOW_UPDATE per stream in a loop,
    so the gateway must answer in 1-byte DATA frames. 100 streams, streamed completions."""
    fields = req_fields("POST", "/v1/chat/completions",
                        [("content-type", "application/json"), ("content-length", str(len(CHAT_BODY))),
                         ("x-mock-tokens", "2000"), ("x-mock-token-interval-ms", "2")])
    c = H2(env.port, settings=((S_ENABLE_PUSH, 0), (S_INITIAL_WINDOW, 1)))
    open_streams(c, 100, fields, body=CHAT_BODY)
    t0 = time.monotonic()
    wus = 0
    cpu0 = proc_cpu_s(env.gw.pid)
    while time.monotonic() - t0 < a.dribble_seconds and not c.closed:
        live = [1 + 2 * i for i in range(100) if (1 + 2 * i) not in c.rst and (1 + 2 * i) not in c.ended]
        if not live:
            break
        try:
            c.send(b"".join(wu_frame(s, 1) for s in live) + wu_frame(0, len(live)))
        except OSError:
            break
        wus += len(live) + 1
        c.pump(0.02)
        time.sleep(0.02)  # about 2,500 WINDOW_UPDATEs/s (bounded)
    el = time.monotonic() - t0
    cpu = (proc_cpu_s(env.gw.pid) or 0) - (cpu0 or 0)
    c.pump(1.0)
    sm = c.summary()
    data = sum(c.data.values())
    c.closed = c.closed
    c.close()
    ok = True  # informational: the expectation is that the gateway stays responsive
    return {"summary": describe(sm) + "; DATA bytes received %d over %.1f s" % (data, el),
            "numbers": {"WINDOW_UPDATEs sent": wus, "gateway CPU during the dribble (s)": round(cpu, 2),
                        "CPU per DATA byte (us)": round(cpu * 1e6 / data, 1) if data else None},
            "expect_ok": ok}


# (name, function, listener keys, http2 keys, mock args, expectation, settle)
ATTACKS = [
    ("slowloris-settings", a_slowloris_settings, [("header_timeout", "2s")], [], [],
     "N connections sending only the preface + SETTINGS are closed at header_timeout (2s); normal clients served; RSS bounded", 1.5),
    ("slowloris-continuation", a_slowloris_continuation, [("header_timeout", "2s")], [], [],
     "HEADERS without END_HEADERS + one 1-byte CONTINUATION a second: closed at header_timeout (2s)", 1.5),
    ("window-hold", a_window_hold, [("send_timeout", "3s")], [], [],
     "10×100 streamed completions, SETTINGS_INITIAL_WINDOW_SIZE=0, no WINDOW_UPDATE: each stream RST_STREAM(CANCEL) after send_timeout (3s); backend connections closed (mock client_disconnects); RSS bounded", 2.0),
    ("buffering-no-read", a_buffering, [("send_timeout", "3s")], [], [],
     "10×100 streamed completions, windows 2^31-1 but the TCP socket never read (CVE-2019-9517): at most ~64 KiB framed ahead per connection; streams reset after send_timeout; RSS bounded", 2.0),
    ("body-budget", a_body_budget, [("max_request_body_bytes", "2MiB")], [("max_connection_body_bytes", "8MiB")], [],
     "1 connection, 100 streams × 1 MiB bodies never finished: window not given back past max_connection_body_bytes (8 MiB; max_request_body_bytes set to 2MiB, since the budget is raised to it when below) so at most ~8 MiB + initial_connection_window (1 MiB) is sent", 1.0),
    ("hpack-bomb", a_hpack_bomb, [], [], [],
     "one 4000-byte literal with incremental indexing, then 60,000 1-byte references to it across CONTINUATION frames: 431 (or the connection closed), never decoded past 64 KiB, no backend request", 1.0),
    ("huge-header-list", a_huge_headers, [], [], [],
     "header lists over max_request_header_bytes / max_request_headers: 431, no backend request", 1.0),
    ("rapid-reset", a_rapid_reset, [], [], [],
     "10,000 streams opened and reset in separate writes: GOAWAY(ENHANCE_YOUR_CALM) after 200 resets, few backend requests", 1.0),
    ("ping-flood", a_ping_flood, [], [], [],
     "PINGs without reading the socket: GOAWAY(ENHANCE_YOUR_CALM) after 100, connection closed, ACK queue bounded", 1.0),
    ("settings-flood", a_settings_flood, [], [], [],
     "SETTINGS frames without reading: GOAWAY(ENHANCE_YOUR_CALM) after 100", 1.0),
    ("settings-1000-entries", a_settings_big, [], [], [],
     "one SETTINGS frame with 1,000 entries (limit 32): connection error", 1.0),
    ("priority-flood", a_priority_flood, [], [], [],
     "PRIORITY frames (CVE-2019-9513 resource loop): GOAWAY(ENHANCE_YOUR_CALM) after 1,000", 1.0),
    ("window-update-flood", a_window_update_flood, [], [], [],
     "connection WINDOW_UPDATEs of 1 byte: GOAWAY(ENHANCE_YOUR_CALM) after 1,000", 1.0),
    ("empty-data-flood", a_empty_data_flood, [], [], [],
     "empty DATA frames on one stream (CVE-2019-9518): GOAWAY(ENHANCE_YOUR_CALM) after 100", 1.0),
    ("continuation-flood", a_continuation_flood, [], [], [],
     "endless CONTINUATION frames (CVE-2024-27316 kin): block cut after 8 frames / 64 KiB, connection closed, no backend request", 1.0),
    ("zero-length-headers", a_zero_length_headers, [], [], [],
     "2,000 fields with an empty name and value (CVE-2019-9516): refused (431 or a stream/connection error), no backend request", 1.0),
    ("too-many-streams", a_too_many_streams, [], [], [],
     "150 streams after the SETTINGS ACK (limit 100): GOAWAY(PROTOCOL_ERROR) or REFUSED_STREAM; at most 100 backend requests", 1.0),
    ("data-dribble", a_data_dribble, [], [], [],
     "window 1 byte + 1-byte WINDOW_UPDATEs (CVE-2019-9511) on 100 streams for 8 s: gateway CPU bounded, normal clients served (informational)", 1.0),
]


def judge(name, r, res):
    problems = []
    if not res["alive"]:
        problems.append("gateway died")
    if res["gw_exit"]:
        problems.append(res["gw_exit"])
    nd, na = res["normal_during"], res["normal_after"]
    if nd["ok"] < nd["n"]:
        problems.append("normal client failed %d/%d during" % (nd["n"] - nd["ok"], nd["n"]))
    if na["ok"] < na["n"] or na["n"] == 0:
        problems.append("normal client failed %d/%d after" % (na["n"] - na["ok"], na["n"]))
    if res["rss_after"] and res["rss0"] and res["rss_after"] - res["rss0"] > 64 * 1024 and not r.get("rss_plateau"):
        problems.append("RSS after is %d MiB above the start" % ((res["rss_after"] - res["rss0"]) // 1024))
    if res["rss_peak"] and res["rss0"] and res["rss_peak"] - res["rss0"] > 256 * 1024:
        problems.append("RSS peak %d MiB above the start" % ((res["rss_peak"] - res["rss0"]) // 1024))
    if not r.get("expect_ok"):
        problems.append("expectation not met")
    return problems


def fmt_kib(k):
    return "?" if k is None else "%.1f" % (k / 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated attack names (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--out", default="")
    ap.add_argument("--conns", type=int, default=2000, help="slowloris-settings connections")
    ap.add_argument("--cont-conns", type=int, default=200, help="slowloris-continuation connections")
    ap.add_argument("--hold-conns", type=int, default=10, help="window-hold connections (100 streams each)")
    ap.add_argument("--resets", type=int, default=10000)
    ap.add_argument("--flood-frames", type=int, default=20000)
    ap.add_argument("--body-seconds", type=int, default=10)
    ap.add_argument("--dribble-seconds", type=int, default=8)
    a = ap.parse_args()
    if a.list:
        for n, _, _, _, _, e, _ in ATTACKS:
            print("%-24s %s" % (n, e))
        return 0
    only = [x for x in a.only.split(",") if x]
    names = [x[0] for x in ATTACKS]
    for x in only:
        if x not in names:
            print("unknown attack %s; --list shows them" % x, file=sys.stderr)
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if a.conns + 100 > nofile:
        a.conns = max(100, nofile - 200)
    build = os.environ.get("INFERGATE_BUILD", os.path.join(ROOT, "build"))
    work = tempfile.mkdtemp(prefix="infergate-h2-attacks.")
    bins = {}
    for k, b in (("gw", "infergate"), ("mock", "infergate-mock")):
        src = os.path.join(build, "bin", b)
        if not os.access(src, os.X_OK):
            print("missing %s" % src, file=sys.stderr)
            return 1
        bins[k] = os.path.join(work, b)
        shutil.copy2(src, bins[k])
    sha = hashlib.sha256(open(bins["gw"], "rb").read()).hexdigest()[:12]
    bin_time = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(os.path.join(build, "bin", "infergate"))))
    env = Env(work, bins)

    def on_signal(sig, _f):
        env.stop_all()
        sys.exit(130)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    results = []
    t_run = time.monotonic()
    try:
        for name, fn, lk, hk, mk, expect, settle in ATTACKS:
            if only and name not in only:
                continue
            print("[h2-attacks] %s ..." % name, flush=True)
            t = time.monotonic()
            try:
                env.start(name, lk, hk, mk)
                try:
                    r = fn(env, a)
                except Exception:  # noqa: BLE001
                    r = {"summary": "attacker error: " + traceback.format_exc(limit=3).replace("\n", " "),
                         "numbers": {}, "expect_ok": False}
                res = env.finish(settle)
            finally:
                env.stop_all()
            res["secs"] = round(time.monotonic() - t, 1)
            probs = judge(name, r, res)
            results.append((name, expect, r, res, probs))
            print("[h2-attacks] %s: %s (%s s) %s" % (name, "PASS" if not probs else "FAIL: " + "; ".join(probs),
                                                     res["secs"], r["summary"][:300]), flush=True)
    finally:
        env.stop_all()
    out = a.out or os.path.join(ROOT, "bench", "results", "h2-attacks-%s.md" % time.strftime("%Y-%m-%d"))
    write_report(out, results, a, sha, bin_time, nofile, time.monotonic() - t_run)
    print("[h2-attacks] wrote %s" % out)
    if os.environ.get("BENCH_KEEP") == "1":
        print("[h2-attacks] scratch directory kept: %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(not p for *_, p in results) else 1


def write_report(out, results, a, sha, bin_time, nofile, secs):
    L = []
    L.append("# infergate HTTP/2 (h2c) attacks, %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    L.append("")
    L.append("Produced by `bench/h2_attacks.py%s` in %.0f s (%s). Each attack ran against a fresh "
             "`infergate --workers 1` on 127.0.0.1 (binary sha256 %s…, built %s) in front of a fresh "
             "`infergate-mock --listen 127.0.0.1:0 --tokens 3`; fd limit %d. RSS is the gateway's VmRSS "
             "(MiB) before the attack, at its peak during it and after the settle time. The normal client "
             "sends GET /v1/models every 250 ms on a fresh connection, alternately h2c and HTTP/1.1 "
             "(ok/total during the attack, then after it). Metrics are deltas over the attack. "
             "Machine: %d CPUs, load average at the end %s (a CI build was running in parallel)." % (
                 (" " + " ".join(sys.argv[1:])) if sys.argv[1:] else "", secs, socket.gethostname(), sha, bin_time,
                 nofile, os.cpu_count(), open("/proc/loadavg").read().split()[:3]))
    L.append("")
    L.append("| attack | gateway's answer | RSS MiB before / peak / after | normal during | normal after | "
             "flood GOAWAYs | h2 resets | errors | attack requests at the mock | verdict |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for name, expect, r, res, probs in results:
        m1 = res["metrics1"]
        fg = nonzero_deltas(res, "infergate_h2_flood_goaways_total") if m1 else "?"
        rs = nonzero_deltas(res, "infergate_h2_resets_total") if m1 else "?"
        er = nonzero_deltas(res, "infergate_errors_total") if m1 else "?"
        nd, na = res["normal_during"], res["normal_after"]
        L.append("| %s | %s | %s / %s / %s | %d/%d | %d/%d | %s | %s | %s | %s | %s |" % (
            name, r["summary"][:260].replace("|", "/"), fmt_kib(res["rss0"]), fmt_kib(res["rss_peak"]),
            fmt_kib(res["rss_after"]), nd["ok"], nd["n"], na["ok"], na["n"], fg, rs, er,
            res.get("attack_requests", "?"), "**pass**" if not probs else "**FAIL**: " + "; ".join(probs)))
    L.append("")
    L.append("## Details")
    for name, expect, r, res, probs in results:
        L.append("")
        L.append("### %s" % name)
        L.append("")
        L.append("Expectation: %s." % expect)
        L.append("")
        L.append("- Verdict: %s" % ("pass" if not probs else "FAIL: " + "; ".join(probs)))
        L.append("- Reproduce: `bench/h2_attacks.py --only %s` (gateway: `infergate -c CFG --workers 1 --drain-timeout 1s`; "
                 "listener keys: %s)" % (name, ", ".join("%s" % l.strip() for l in res["cfg"].splitlines()
                                                             if l.startswith("    ") and ":" in l and "listen:" not in l
                                                             and "name:" not in l and "backends" not in l) or "defaults"))
        L.append("- What the gateway answered: %s" % r["summary"])
        for k, v in r["numbers"].items():
            L.append("- %s: %s" % (k, v))
        L.append("- Gateway: RSS %s → peak %s → %s MiB, peak fds %s, CPU %s s over the attack and settle time; %s" % (
            fmt_kib(res["rss0"]), fmt_kib(res["rss_peak"]), fmt_kib(res["rss_after"]), res["fds_peak"], res["cpu_s"],
            "alive" if res["alive"] else "**dead**"))
        L.append("- Metrics: flood GOAWAYs {%s}; h2 resets {%s}; errors {%s}; h2 streams %d; responses h2 4xx %d" % (
            nonzero_deltas(res, "infergate_h2_flood_goaways_total"), nonzero_deltas(res, "infergate_h2_resets_total"),
            nonzero_deltas(res, "infergate_errors_total"), mdelta(res, "infergate_h2_streams_total") if res["metrics1"] else -1,
            mdelta(res, 'infergate_responses_total{route="all",code="4xx",protocol="h2"}') +
            mdelta(res, 'infergate_responses_total{route="",code="4xx",protocol="h2"}') if res["metrics1"] else -1))
        mk = res["mock"]
        L.append("- Mock: attack requests %s (requests less the normal client's), requests %s, completed %s, client_disconnects %s, active_streams %s, connections_accepted %s" % (
            res.get("attack_requests"), mk.get("requests"), mk.get("completed"), mk.get("client_disconnects"), mk.get("active_streams"),
            mk.get("connections_accepted")))
        for ph in ("during", "after"):
            s = res["normal_%s" % ph]
            L.append("- Normal client %s: %d/%d ok, latency p50 %s ms, max %s ms%s" % (
                ph, s["ok"], s["n"], s["p50_ms"], s["max_ms"], ("; failures: %s" % s["fails"]) if s["fails"] else ""))
        if res["warnings"]:
            L.append("- Gateway warnings: " + "; ".join("`%s`" % w[25:200] for w in res["warnings"][:4]))
        if probs and (not res["alive"] or res["gw_exit"]):
            L.append("")
            L.append("Gateway log tail:\n\n```\n%s\n```" % "\n".join(res["log_tail"]))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())
