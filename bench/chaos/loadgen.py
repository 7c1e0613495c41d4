#!/usr/bin/env python3
"""Load and live clients for bench/chaos/run.sh and bench/soak/run.sh (python3, stdlib only).

  write   POST progress events to one or more servers and record, per task, the largest n
          acknowledged (a 200 {"ok":true}); request round trips go into a log-bucket histogram.
  watch   live clients of a broadcaster: WebSocket /ws?protocol=delta and SSE /events, plain,
          slow (tiny receive buffer, read slowly, then drained: were they cut off?) and churning
          (reconnect every few seconds); each follows every task's n, counts frames, seq going
          back, n going back, reconnects; on SIGTERM each client's view is written out.
  verify  acknowledged vs stored vs seen: every acknowledged n must be <= the stored n, every
          client still connected must hold the stored n of every task.
  report  every INTERVAL s one line: the daemons' RSS and fds (/proc), request p99 (the writer's
          stats), the broadcaster's tick duration and frames (/metrics), frames received and
          events acknowledged; at the end the drift from the first to the last minute.

Event rule: n is the event's timestamp in microseconds minus --base-us. A later event always
carries a larger n, so the server's ordering rule (an older timestamp is ignored, acknowledged)
can never make a task's stored n smaller than an acknowledged one: stored n >= acked n.
Every loop is bounded by --duration (and by counts); stats files are replaced atomically.
"""

import argparse
import base64
import http.client
import json
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time

STOP = threading.Event()


def on_signal(_sig, _frame):
    STOP.set()


def write_json(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def split_url(url):
    m = re.fullmatch(r"http://(127\.0\.0\.1|localhost|\[::1\]):(\d+)/?", url)
    if not m:
        sys.exit(f"loadgen: only loopback http://127.0.0.1:PORT URLs, not {url!r}")
    return m.group(1), int(m.group(2))


# --- latency histogram: buckets of 5 % (log base 1.05 of microseconds) -----------------------

BUCKET_BASE = math.log(1.05)


def bucket_of(us):
    return int(math.log(max(us, 1.0)) / BUCKET_BASE)


def bucket_upper_ms(b):
    return math.exp((b + 1) * BUCKET_BASE) / 1000.0


def quantile_ms(buckets, q):
    """buckets: {index: count}; the upper bound of the bucket holding the q-quantile."""
    total = sum(buckets.values())
    if total <= 0:
        return 0.0
    rank, seen = max(1, math.ceil(q * total)), 0
    for b in sorted(buckets):
        seen += buckets[b]
        if seen >= rank:
            return bucket_upper_ms(b)
    return 0.0


def diff_buckets(now, before):
    keys = set(now) | set(before)
    return {int(k): now.get(k, 0) - before.get(k, 0) for k in keys if now.get(k, 0) - before.get(k, 0) > 0}


# --- write ---------------------------------------------------------------------------------

class Writer(threading.Thread):
    def __init__(self, args, url, index, rate, tasks, shared):
        super().__init__(daemon=True)
        self.host, self.port = split_url(url)
        self.url, self.index, self.rate, self.tasks = url, index, rate, tasks
        self.args, self.shared = args, shared
        self.rng = random.Random(index * 7919 + os.getpid())
        big = args.big
        self.desc = ("d" * 500) if big else "chaos writer"
        self.meta = ('{"blob":"%s"}' % ("m" * 1900)) if big else '{"w":%d}' % index
        self.msg_pad = "x" * 480 if big else ""

    def body(self, task, n, ts, k):
        msg = f"w{self.index}-{k}-{self.msg_pad}"
        return (f'{{"task_id":"{task}","desc":"{self.desc}","message":"{msg}","unit":"it",'
                f'"n":{n},"total":1000000000000,"status":"update","timestamp":{ts:.6f},'
                f'"meta":{self.meta}}}').encode()

    def run(self):
        sh, args = self.shared, self.args
        conn, k = None, 0
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        next_at = time.monotonic()
        while not STOP.is_set() and time.monotonic() < sh["deadline"] and k < args.max_requests:
            if interval:
                now = time.monotonic()
                if next_at > now:
                    STOP.wait(next_at - now)
                    if STOP.is_set():
                        break
                elif now - next_at > 1.0:
                    next_at = now  # more than a second behind: the server stalled, start over
                next_at += interval
            k += 1
            task = self.tasks[self.rng.randrange(len(self.tasks))]
            t = time.time()
            us = round(t * 1e6)
            n = us - args.base_us
            body = self.body(task, n, us / 1e6, k)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=args.timeout)
                t0 = time.perf_counter()
                conn.request("POST", "/progress", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                lat_us = (time.perf_counter() - t0) * 1e6
                with sh["lock"]:
                    st = sh["stats"]
                    st["requests"] += 1
                    if resp.status == 200 and data.startswith(b'{"ok":true'):
                        st["acked"] += 1
                        if sh["acked"].get(task, -1) < n:
                            sh["acked"][task] = n
                        b = bucket_of(lat_us)
                        sh["hist"][b] = sh["hist"].get(b, 0) + 1
                        st["max_ms"] = max(st["max_ms"], lat_us / 1000.0)
                    else:
                        key = str(resp.status)
                        st["status"][key] = st["status"].get(key, 0) + 1
                        if not st["first_error"]:
                            st["first_error"] = f"{self.url}: {resp.status} {data[:200]!r}"
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                # The server died or restarts: the event's fate is unknown, it is not acked.
                with sh["lock"]:
                    sh["stats"]["conn_errors"] += 1
                    by = sh["stats"]["errors_by_url"]
                    by[self.url] = by.get(self.url, 0) + 1
                if conn is not None:
                    conn.close()
                conn = None
                STOP.wait(0.05)


def cmd_write(args):
    tasks = [f"{args.prefix}{i}" for i in range(args.tasks)]
    shared = {
        "lock": threading.Lock(),
        "deadline": time.monotonic() + args.duration,
        "acked": {},
        "hist": {},
        "stats": {"requests": 0, "acked": 0, "conn_errors": 0, "status": {}, "errors_by_url": {},
                  "first_error": "", "max_ms": 0.0},
    }
    writers = []
    per_writer = args.rate / (len(args.url) * args.threads) if args.rate > 0 else 0
    for u in args.url:
        for _ in range(args.threads):
            writers.append(Writer(args, u, len(writers), per_writer, tasks, shared))

    def dump(final):
        with shared["lock"]:
            obj = dict(shared["stats"], acked_by_task=dict(shared["acked"]),
                       hist=dict(shared["hist"]), time=time.time(), final=final)
        write_json(args.stats, obj)

    for w in writers:
        w.start()
    while not STOP.is_set() and time.monotonic() < shared["deadline"]:
        STOP.wait(1.0)
        dump(False)
    STOP.set()
    for w in writers:
        w.join(timeout=args.timeout + 2)
    dump(True)


# --- live clients --------------------------------------------------------------------------

class FrameCache:
    """Every client of a view receives the same bytes: parse each frame once."""

    def __init__(self, prefix):
        self.prefix, self.lock, self.frames = prefix, threading.Lock(), {}

    def parse(self, payload):
        with self.lock:
            hit = self.frames.get(payload)
        if hit is not None:
            return hit
        try:
            doc = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        kind = doc.get("type", "plain")
        tasks = doc.get("upserts") if kind == "delta" else doc.get("tasks")
        items = []
        if isinstance(tasks, dict):
            for tid, t in tasks.items():
                if tid.startswith(self.prefix) and isinstance(t, dict) and isinstance(t.get("n"), (int, float)):
                    items.append((tid, t["n"]))
        parsed = (kind, doc.get("seq", 0), bool(doc.get("reset")), tuple(items))
        with self.lock:
            if len(self.frames) > 256:
                self.frames.clear()
            self.frames[payload] = parsed
        return parsed


class Conn:
    """A socket with a read buffer."""

    def __init__(self, host, port, timeout, rcvbuf=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.chunk = 65536

    def fill(self):
        data = self.sock.recv(self.chunk)
        if not data:
            raise EOFError("connection closed by the server")
        self.buf += data

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, sep, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError("line too long")
            self.fill()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Client(threading.Thread):
    """One live client; reconnects (bounded) until stopped or the deadline."""

    def __init__(self, args, cache, index, transport, mode):
        super().__init__(daemon=True)
        self.args, self.cache, self.index = args, cache, index
        self.transport, self.mode = transport, mode  # ws|sse, plain|slow|churn
        self.host, self.port = split_url(args.url)
        self.rng = random.Random(index * 104729 + os.getpid())
        self.view = {}  # task -> last n seen
        self.connected = False
        self.slow_until = self.stall_until = 0.0
        self.n_back = []  # the first few regressions, described
        self.last_event_id = ""
        self.s = {"connections": 0, "connect_failures": 0, "ended_by_server": 0, "frames": 0,
                  "bytes": 0, "snapshots": 0, "resets": 0, "deltas": 0, "seq_back": 0,
                  "seq_repeat": 0, "n_back_in_conn": 0, "n_back_after_reconnect": 0,
                  "malformed": 0, "cutoffs": 0, "survived_slow": 0, "last_error": ""}

    # one frame's payload
    def on_frame(self, payload, conn_state):
        st = self.s
        st["frames"] += 1
        st["bytes"] += len(payload)
        parsed = self.cache.parse(payload)
        if parsed is None:
            st["malformed"] += 1
            return
        kind, seq, reset, items = parsed
        if kind == "snapshot":
            st["snapshots"] += 1
            st["resets"] += reset
        elif kind == "delta":
            st["deltas"] += 1
        conn_state["seq_before"] = conn_state["seq"]
        if kind in ("snapshot", "delta") and isinstance(seq, int):
            last = conn_state["seq"]
            if last is not None and seq < last:
                st["seq_back"] += 1
            elif last is not None and seq == last and kind == "delta":
                st["seq_repeat"] += 1
            conn_state["seq"] = seq
        fresh = conn_state["fresh"]
        for tid, n in items:
            prev = self.view.get(tid)
            if prev is not None and n < prev:
                where = "n_back_in_conn" if tid in fresh else "n_back_after_reconnect"
                st[where] += 1
                if len(self.n_back) < 3:
                    self.n_back.append(f"{where} {tid}: {prev} -> {n} in a {kind} frame seq {seq}"
                                       f" (previous frame seq {conn_state['seq_before']},"
                                       f" reset {reset}, frame {st['frames']} of the client)")
            self.view[tid] = n
            fresh.add(tid)

    def session_ws(self, conn, until):
        key = base64.b64encode(os.urandom(16)).decode()
        conn.sock.sendall((f"GET /ws?protocol=delta HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = conn.read_until(b"\r\n\r\n", 65536)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ValueError(f"handshake: {head[:60]!r}")
        self.connected = True
        self.s["connections"] += 1
        state, parts = {"seq": None, "fresh": set()}, []
        while not STOP.is_set() and time.monotonic() < until:
            self.pace(conn)
            b0, b1 = conn.read_exact(2)
            op, ln = b0 & 0x0F, b1 & 0x7F
            if ln == 126:
                ln = struct.unpack(">H", conn.read_exact(2))[0]
            elif ln == 127:
                ln = struct.unpack(">Q", conn.read_exact(8))[0]
            if b1 & 0x80:
                conn.read_exact(4)  # a server never masks; tolerate it anyway
            payload = conn.read_exact(ln) if ln else b""
            if op == 9:  # ping: answer with a masked pong
                mask = os.urandom(4)
                conn.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask +
                                  bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))
            elif op == 8:
                raise EOFError(f"close frame {payload[:2].hex()}")
            elif op in (0, 1, 2):
                parts.append(payload)
                if b0 & 0x80:
                    self.on_frame(b"".join(parts), state)
                    parts = []
        # we end it: a close frame, then the socket
        try:
            mask = os.urandom(4)
            conn.sock.sendall(bytes([0x88, 0x82]) + mask + bytes(c ^ mask[i] for i, c in enumerate(b"\x03\xe8")))
        except OSError:
            pass

    def session_sse(self, conn, until):
        extra = f"Last-Event-ID: {self.last_event_id}\r\n" if self.last_event_id else ""
        conn.sock.sendall((f"GET /events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                           f"Accept: text/event-stream\r\n{extra}\r\n").encode())
        head = conn.read_until(b"\r\n\r\n", 65536)
        if not head.startswith(b"HTTP/1.1 200"):
            raise ValueError(f"SSE answer: {head[:60]!r}")
        self.connected = True
        self.s["connections"] += 1
        state, data, ev_id = {"seq": None, "seq_before": None, "fresh": set()}, [], None
        while not STOP.is_set() and time.monotonic() < until:
            self.pace(conn)
            line = conn.read_until(b"\n")
            if not line:
                if data:
                    self.on_frame(b"\n".join(data), state)
                    if ev_id is not None:
                        self.last_event_id = ev_id
                data, ev_id = [], None
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
            elif line.startswith(b"id:"):
                ev_id = line[3:].strip().decode()

    def pace(self, conn):
        """A slow client takes two frames a second, then stops reading (stuck), then drains."""
        now = time.monotonic()
        if self.mode == "slow" and now < self.stall_until:
            conn.chunk = 512
            STOP.wait(0.5 if now < self.slow_until else self.stall_until - now)
        else:
            conn.chunk = 65536

    def run(self):
        args, st = self.args, self.s
        deadline = time.monotonic() + args.duration
        attempts = 0
        while not STOP.is_set() and time.monotonic() < deadline and attempts < args.max_connects:
            attempts += 1
            now = time.monotonic()
            if self.mode == "churn":
                until = now + self.rng.uniform(3.0, 15.0)
            elif self.mode == "slow":
                self.slow_until = now + args.slow_seconds
                self.stall_until = self.slow_until + args.stall_seconds
                until = self.stall_until + args.drain_seconds
            else:
                until = deadline
            conn = None
            try:
                conn = Conn(self.host, self.port, args.timeout,
                            rcvbuf=4096 if self.mode == "slow" else 0)
                if self.transport == "ws":
                    self.session_ws(conn, until)
                else:
                    self.session_sse(conn, until)
                if self.mode == "slow" and not STOP.is_set():
                    st["survived_slow"] += 1
            except (OSError, EOFError, ValueError) as e:
                if self.connected:
                    st["ended_by_server"] += 1
                    if self.mode == "slow":
                        st["cutoffs"] += 1
                else:
                    st["connect_failures"] += 1
                st["last_error"] = f"{type(e).__name__}: {e}"[:200]
            finally:
                self.connected = False
                if conn is not None:
                    conn.close()
            if not STOP.is_set():
                STOP.wait(self.rng.uniform(0.2, 0.5))  # a browser's reconnect delay


def cmd_watch(args):
    cache = FrameCache(args.prefix)
    clients = []
    plan = ([("ws", "plain")] * args.ws + [("sse", "plain")] * args.sse +
            [("ws", "slow")] * args.slow_ws + [("sse", "slow")] * args.slow_sse +
            [("ws", "churn")] * args.churn_ws + [("sse", "churn")] * args.churn_sse)
    for i, (transport, mode) in enumerate(plan):
        clients.append(Client(args, cache, i, transport, mode))
    for c in clients:
        c.start()
        time.sleep(0.01)  # spread the connects

    def totals():
        t = {}
        for c in clients:
            for k, v in c.s.items():
                if isinstance(v, int):
                    t[k] = t.get(k, 0) + v
        t["live"] = sum(1 for c in clients if c.connected)
        t["clients"] = len(clients)
        t["reconnects"] = max(0, t.get("connections", 0) - len(clients))
        return t

    deadline = time.monotonic() + args.duration
    while not STOP.is_set() and time.monotonic() < deadline:
        STOP.wait(1.0)
        write_json(args.stats, dict(totals(), time=time.time(), final=False))
    STOP.set()
    out = []
    for c in clients:
        out.append({"transport": c.transport, "mode": c.mode, "connected": c.connected,
                    "stats": c.s, "view": dict(c.view), "n_back": c.n_back})
    write_json(args.stats, dict(totals(), time=time.time(), final=True))
    if args.views:
        write_json(args.views, out)


# --- verify --------------------------------------------------------------------------------

def cmd_verify(args):
    stored_doc = read_json(args.stored, {})
    stored = {tid: t.get("n") for tid, t in (stored_doc.get("tasks") or {}).items()
              if tid.startswith(args.prefix)}
    acked = {}
    for path in args.acked:
        doc = read_json(path, {})
        for tid, n in (doc.get("acked_by_task") or {}).items():
            acked[tid] = max(acked.get(tid, -1), n)
    lost = [(tid, n, stored.get(tid)) for tid, n in sorted(acked.items())
            if stored.get(tid) is None or stored[tid] < n]
    result = {"tasks_acked": len(acked), "tasks_stored": len(stored), "lost": len(lost)}
    print(f"acknowledged vs stored: {len(acked)} tasks with acknowledged events, {len(stored)} stored;"
          f" tasks whose stored n is below the last acknowledged n: {len(lost)}")
    for tid, n, s in lost[:10]:
        print(f"  LOST {tid}: acknowledged n={n}, stored n={s}")
    if args.views:
        views = read_json(args.views, [])
        behind = stale_clients = 0
        for c in views:
            if not c["connected"]:
                continue
            miss = sum(1 for tid, n in stored.items() if c["view"].get(tid) != n)
            behind += miss
            stale_clients += miss > 0
        connected = sum(1 for c in views if c["connected"])
        result.update(clients=len(views), connected=connected, tasks_behind=behind,
                      clients_behind=stale_clients)
        print(f"live clients at the end: {connected} of {len(views)} connected; {stale_clients} of"
              f" them do not hold the stored n of every task ({behind} (client, task) pairs)")
        for c in views:
            for line in c.get("n_back", []):
                print(f"  n went back, {c['mode']} {c['transport']} client: {line}")
    if args.json:
        write_json(args.json, result)
    return 1 if lost else 0


# --- report (soak) -------------------------------------------------------------------------

def proc_figures(pid):
    rss = anon = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    return {"rss_mib": rss / 1024, "anon_mib": anon / 1024, "fds": fds}


def scrape(url):
    host, port = split_url(url)
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        c.close()
    except (OSError, http.client.HTTPException):
        return None
    m = {"tick_buckets": {}}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        if name.startswith("progressista_tick_duration_seconds_bucket"):
            le = re.search(r'le="([^"]+)"', name).group(1)
            m["tick_buckets"][le] = v
        elif "{" not in name:
            m[name] = v
    return m


def tick_p99_ms(now, before):
    """The upper bound (ms) of the bucket holding the 99th percentile of ticks in between."""
    les = sorted(now["tick_buckets"], key=lambda le: math.inf if le == "+Inf" else float(le))
    total = now["tick_buckets"].get("+Inf", 0) - before["tick_buckets"].get("+Inf", 0)
    if total <= 0:
        return 0.0
    for le in les:
        if now["tick_buckets"][le] - before["tick_buckets"].get(le, 0) >= 0.99 * total:
            return math.inf if le == "+Inf" else float(le) * 1000
    return math.inf


def cmd_report(args):
    pids = dict(p.split("=", 1) for p in args.pid)
    rows = []
    cols = ([f"{n} RSS MiB" for n in pids] + [f"{n} own MiB" for n in pids] + [f"{n} fds" for n in pids] +
            ["req p99 ms", "tick mean ms", "tick p99 ms", "frames sent/s", "frames recv/s",
             "acked/s", "live clients", "reconnects", "cutoffs"])
    start = time.monotonic()
    prev_m, prev_w, prev_c, prev_t = scrape(args.metrics), read_json(args.writer_stats, {}), \
        read_json(args.watch_stats, {}), time.monotonic()
    widths = [max(len(k), 8) for k in cols]
    header = "  time " + " ".join(f"{k:>{wd}}" for k, wd in zip(cols, widths))
    print(header, flush=True)
    n_samples = int(args.duration // args.interval)
    for i in range(n_samples):
        if STOP.wait(max(0.0, start + (i + 1) * args.interval - time.monotonic())):
            break
        now_t = time.monotonic()
        dt = now_t - prev_t
        m, w, c = scrape(args.metrics), read_json(args.writer_stats, {}), read_json(args.watch_stats, {})
        row = {}
        for n, p in pids.items():
            f = proc_figures(p) or {"rss_mib": math.nan, "anon_mib": math.nan, "fds": math.nan}
            row[f"{n} RSS MiB"], row[f"{n} own MiB"], row[f"{n} fds"] = f["rss_mib"], f["anon_mib"], f["fds"]
        row["req p99 ms"] = quantile_ms(diff_buckets(w.get("hist", {}), prev_w.get("hist", {})), 0.99)
        if m and prev_m:
            dc = m.get("progressista_tick_duration_seconds_count", 0) - prev_m.get("progressista_tick_duration_seconds_count", 0)
            ds = m.get("progressista_tick_duration_seconds_sum", 0) - prev_m.get("progressista_tick_duration_seconds_sum", 0)
            row["tick mean ms"] = ds / dc * 1000 if dc > 0 else 0.0
            row["tick p99 ms"] = tick_p99_ms(m, prev_m)
            row["frames sent/s"] = (m.get("progressista_frames_sent_total", 0) - prev_m.get("progressista_frames_sent_total", 0)) / dt
        else:
            row["tick mean ms"] = row["tick p99 ms"] = row["frames sent/s"] = math.nan
        row["frames recv/s"] = (c.get("frames", 0) - prev_c.get("frames", 0)) / dt
        row["acked/s"] = (w.get("acked", 0) - prev_w.get("acked", 0)) / dt
        row["live clients"] = c.get("live", 0)
        row["reconnects"] = c.get("reconnects", 0) - prev_c.get("reconnects", 0)
        row["cutoffs"] = c.get("cutoffs", 0) - prev_c.get("cutoffs", 0)
        row["t"] = now_t - start
        rows.append(row)
        print(f"{row['t']:6.0f} " + " ".join(f"{row[k]:{wd}.1f}" for k, wd in zip(cols, widths)), flush=True)
        prev_m, prev_w, prev_c, prev_t = m or prev_m, w, c, now_t
    if len(rows) < 2:
        print("report: fewer than two samples, no drift")
        return 0
    per_min = max(1, int(round(60 / args.interval)))
    first, last = rows[:per_min], rows[-per_min:]
    print()
    print(f"drift, first minute ({len(first)} samples) -> last minute ({len(last)} samples):")
    print(f"| {'figure':<17} | {'first min':>10} | {'last min':>10} | {'change':>10} | {'change %':>8} |")
    print(f"| {'-' * 17} | {'-' * 9}: | {'-' * 9}: | {'-' * 9}: | {'-' * 7}: |")
    summary = {}
    for k in cols:
        a = sum(r[k] for r in first) / len(first)
        b = sum(r[k] for r in last) / len(last)
        pct = (b - a) / a * 100 if a else math.nan
        summary[k] = {"first": a, "last": b}
        print(f"| {k:<17} | {a:10.1f} | {b:10.1f} | {b - a:+10.1f} | {pct:+7.1f}% |")
    if args.json:
        write_json(args.json, {"rows": rows, "drift": summary})
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--url", action="append", required=True)
    w.add_argument("--threads", type=int, default=2, help="writer threads per URL")
    w.add_argument("--rate", type=float, default=0, help="events/s in all (0: as fast as answered)")
    w.add_argument("--tasks", type=int, default=8)
    w.add_argument("--prefix", default="chaos-hot-")
    w.add_argument("--big", action="store_true", help="desc, message and meta near their limits")
    w.add_argument("--base-us", type=int, required=True)
    w.add_argument("--duration", type=float, required=True)
    w.add_argument("--max-requests", type=int, default=10_000_000, help="per thread")
    w.add_argument("--timeout", type=float, default=5.0)
    w.add_argument("--stats", required=True)
    c = sub.add_parser("watch")
    c.add_argument("--url", required=True)
    for k in ("ws", "sse", "slow-ws", "slow-sse", "churn-ws", "churn-sse"):
        c.add_argument(f"--{k}", type=int, default=0)
    c.add_argument("--prefix", default="chaos-hot-")
    c.add_argument("--duration", type=float, required=True)
    c.add_argument("--slow-seconds", type=float, default=15.0, help="a slow client's slow reading")
    c.add_argument("--stall-seconds", type=float, default=60.0, help="then not reading at all")
    c.add_argument("--drain-seconds", type=float, default=10.0)
    c.add_argument("--max-connects", type=int, default=10000, help="per client")
    c.add_argument("--timeout", type=float, default=15.0)
    c.add_argument("--stats", required=True)
    c.add_argument("--views")
    v = sub.add_parser("verify")
    v.add_argument("--stored", required=True, help="inspect --json output")
    v.add_argument("--acked", action="append", required=True)
    v.add_argument("--views")
    v.add_argument("--prefix", default="chaos-hot-")
    v.add_argument("--json")
    r = sub.add_parser("report")
    r.add_argument("--pid", action="append", required=True, help="NAME=PID")
    r.add_argument("--metrics", required=True, help="the broadcaster's base URL")
    r.add_argument("--writer-stats", required=True)
    r.add_argument("--watch-stats", required=True)
    r.add_argument("--interval", type=float, default=30)
    r.add_argument("--duration", type=float, required=True)
    r.add_argument("--json")
    args = p.parse_args()
    if getattr(args, "duration", 1) > 3600:
        sys.exit("loadgen: --duration is at most 3600 s")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rc = {"write": cmd_write, "watch": cmd_watch, "verify": cmd_verify, "report": cmd_report}[args.cmd](args)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
