"""Shared harness for the ocsf-collector integration tests (python3 stdlib only).

What it is for: every test_*.py in this directory starts the real daemon
($OCSF_BUILD_DIR/collector/ocsf-collector) on ephemeral ports in a private temp directory, talks the wire
protocol to it (DESIGN.md "Wire protocol for emitters"), and checks what became durable in the spool
(SQLite, read-only) and in the file sink.

Invariants the tests rely on:
  - A Collector is started with stderr on a pipe that a thread drains; every log line is kept (for assertions)
    and printed when the test that owns the daemon fails.  start() returns only after the `INFO ready` line, and
    parses every `INFO listening on URL` line into `urls` (ports chosen by the kernel when `:0` was asked).
  - Every daemon a test starts is stopped in tearDown; a daemon that is still running then must exit 0 on
    SIGTERM (so a crash or an ASan report at shutdown fails the test that caused it).
  - Timeouts go through scaled(): under OCSF_SANITIZE=1 the daemon is ~3x slower, so timeouts (and, where a test
    says so, sizes) are scaled by FACTOR while the assertions stay the same.
  - The spool is only ever opened read-only (`file:PATH?mode=ro`); the tests never write to it, except
    test_config's format-version test which edits `meta` while no daemon runs.

Environment: OCSF_BUILD_DIR (default <source>/build), OCSF_SOURCE_DIR, OCSF_SANITIZE ("1" in the ASan build).
"""

import gzip
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

SOURCE_DIR = os.environ.get("OCSF_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("OCSF_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
SANITIZE = os.environ.get("OCSF_SANITIZE", "0").strip().lower() in ("1", "on", "true", "yes")
FACTOR = 3 if SANITIZE else 1

DAEMON = os.path.join(BUILD_DIR, "collector", "ocsf-collector")
EMIT = os.path.join(BUILD_DIR, "tools", "ocsf-emit")
BENCH = os.path.join(BUILD_DIR, "tools", "ocsf-bench")

LISTEN_RE = re.compile(r"\bINFO listening on (\S+)")
READY_RE = re.compile(r"\bINFO ready\b")


def scaled(seconds):
    """A timeout in seconds, stretched for the sanitizer build."""
    return seconds * FACTOR


def require_binary(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("%s is not built (OCSF_BUILD_DIR=%s)" % (path, BUILD_DIR))


# ---------------------------------------------------------------------------------------------------------------
# Events

def make_event(i, prefix="ev", pad=0, **extra):
    """One native-envelope event line (bytes, no newline) with the unique id '<prefix>-<i>'.

    The fields follow DESIGN.md's envelope so the same events stay meaningful once normalization lands; `pad`
    adds a filler field to reach a size."""
    ev = {
        "type": "workspace.start",
        "time": "2026-11-28T20:00:%02d.%03dZ" % (i // 1000 % 60, i % 1000),
        "id": "%s-%06d" % (prefix, i),
        "source": "integration-test",
        "user": "u%d@corp.example" % (i % 300),
        "workspace": "ws-u%d" % (i % 300),
        "vm": "vm-u%d-01" % (i % 300),
        "outcome": "success",
    }
    ev.update(extra)
    if pad:
        ev["note"] = "x" * pad
    return json.dumps(ev, separators=(",", ":")).encode()


def event_key(body):
    """The emitter's id of a stored/shipped event body (bytes or str), or None.

    Until normalization lands the body is the line as received (`id` at top level); afterwards the id may only
    survive under `unmapped`, so look there too."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("id"), str):
        return obj["id"]
    meta = obj.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("original_event_uid"), str):
        return meta["original_event_uid"]  # normalized OCSF: the emitter's id
    unmapped = obj.get("unmapped")
    if isinstance(unmapped, dict) and isinstance(unmapped.get("id"), str):
        return unmapped["id"]
    return None


def is_normalized(body):
    """True when a stored body is an OCSF event made by the normalizer rather than the line as received."""
    try:
        obj = json.loads(body)
    except ValueError:
        return False
    return isinstance(obj, dict) and "class_uid" in obj and "metadata" in obj


# ---------------------------------------------------------------------------------------------------------------
# Spool and sink readers

def spool_connect(path):
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
    return sqlite3.connect(uri, uri=True, timeout=10)


def spool_query(path, sql, params=(), attempts=50):
    """Runs one read-only query on the spool, retrying while the daemon holds a lock."""
    last = None
    for _ in range(attempts):
        try:
            con = spool_connect(path)
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.close()
        except sqlite3.OperationalError as e:
            last = e
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.05)
    raise last


def spool_count(path, table="events"):
    return spool_query(path, "SELECT count(*) FROM %s" % table)[0][0]


def spool_bodies(path):
    rows = spool_query(path, "SELECT body FROM events ORDER BY seq")
    return [r[0].encode() if isinstance(r[0], str) else bytes(r[0]) for r in rows]


def spool_dead_letters(path):
    """Every dead letter as a dict with the contract's columns (raw as bytes)."""
    rows = spool_query(path, "SELECT id, received_ms, peer, listener, line, reason, raw, raw_len "
                             "FROM dead_letters ORDER BY id")
    out = []
    for r in rows:
        raw = r[6]
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        out.append({"id": r[0], "received_ms": r[1], "peer": r[2], "listener": r[3], "line": r[4],
                    "reason": r[5] or "", "raw": bytes(raw) if raw is not None else b"", "raw_len": r[7]})
    return out


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value (returned) or raises AssertionError after timeout s."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except (sqlite3.OperationalError, OSError) as e:  # spool not created yet, sink not there yet
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s%s"
                                 % (timeout, what, (" (last error: %s)" % last_exc) if last_exc else ""))
        time.sleep(interval)


def read_sink_lines(path, gz=False):
    """Complete lines (bytes, without '\\n') of a file sink; a trailing partial line is left out."""
    if not os.path.exists(path):
        return []
    if gz:
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    lines = data.split(b"\n")
    return lines[:-1]  # the last element is '' or an incomplete line


def wait_sink_lines(path, n, timeout, gz=False):
    """Waits until the sink holds at least n complete lines; returns them."""
    box = {}

    def enough():
        box["lines"] = read_sink_lines(path, gz)
        return len(box["lines"]) >= n
    try:
        wait_until(enough, timeout, what="%d lines in sink %s" % (n, path))
    except AssertionError as e:
        raise AssertionError("%s: it holds %d" % (e, len(box.get("lines", [])))) from None
    return box["lines"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


# ---------------------------------------------------------------------------------------------------------------
# The daemon

class Collector:
    """One ocsf-collector process.  Arguments become flags; `config` (a dict) is written to a JSON file and
    passed with --config.  With defaults=False no --listen/--spool/--sink flags are added."""

    def __init__(self, workdir, listen=None, sinks=None, spool=None, args=(), config=None, defaults=True,
                 env=None, name="collector"):
        self.workdir = workdir
        self.name = name
        self.spool = spool or os.path.join(workdir, "spool.db")
        self.sink_path = os.path.join(workdir, "events.ndjson")
        self.listen = ["tcp://127.0.0.1:0"] if listen is None else list(listen)
        self.sinks = ["file://" + self.sink_path] if sinks is None else list(sinks)
        self.args = list(args)
        self.config = config
        self.defaults = defaults
        self.env = env
        self.proc = None
        self.lines = []          # every stderr line of every run, decoded
        self.run_lines = []      # stderr lines of the current run
        self.stdout = b""
        self.urls = []
        self.runs = 0
        self._cond = threading.Condition()
        self._threads = []

    def argv(self):
        argv = [DAEMON]
        if self.config is not None:
            cfg_path = os.path.join(self.workdir, "%s.json" % self.name)
            with open(cfg_path, "w") as f:
                json.dump(self.config, f)
            argv += ["--config", cfg_path]
        if self.defaults:
            for u in self.listen:
                argv += ["--listen", u]
            argv += ["--spool", self.spool]
            for s in self.sinks:
                argv += ["--sink", s]
        return argv + self.args

    def _drain_err(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self.run_lines.append(line)
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self._cond.notify_all()

    def _drain_out(self, stream):
        chunks = []
        for chunk in iter(lambda: stream.read(65536), b""):
            chunks.append(chunk)
        stream.close()
        self.stdout = b"".join(chunks)

    def start(self, wait_ready=True, timeout=None):
        require_binary(DAEMON)
        assert not self.running(), "already running"
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.runs += 1
        with self._cond:
            self.lines.append("---- %s run %d: %s" % (self.name, self.runs, " ".join(self.argv())))
            self.run_lines = []
        self.urls = []
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=self.workdir)
        self._threads = [threading.Thread(target=self._drain_err, args=(self.proc.stderr,), daemon=True),
                         threading.Thread(target=self._drain_out, args=(self.proc.stdout,), daemon=True)]
        for t in self._threads:
            t.start()
        if wait_ready:
            self.wait_ready(timeout or scaled(15))
        return self

    def wait_ready(self, timeout):
        self.wait_log(READY_RE, timeout)
        with self._cond:
            self.urls = [m.group(1) for m in (LISTEN_RE.search(l) for l in self.run_lines) if m]

    def wait_log(self, regex, timeout):
        """Waits for a stderr line of the current run matching regex; returns the match."""
        if isinstance(regex, str):
            regex = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for l in self.run_lines:
                    m = regex.search(l)
                    if m:
                        return m
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._threads[:1]):
                    raise AssertionError("%s exited with %s before logging /%s/:\n%s"
                                         % (self.name, self.proc.returncode, regex.pattern, self.log()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s did not log /%s/ within %.1f s:\n%s"
                                         % (self.name, regex.pattern, timeout, self.log()))
                self._cond.wait(min(left, 0.1))

    def log(self, current_run_only=True):
        with self._cond:
            return "\n".join(self.run_lines if current_run_only else self.lines)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self, scheme="tcp", index=0):
        found = [u for u in self.urls if u.startswith(scheme + "://")]
        if len(found) <= index:
            raise AssertionError("no %s listener #%d in %r" % (scheme, index, self.urls))
        return found[index]

    def tcp_port(self, index=0):
        return int(self.url("tcp", index).rsplit(":", 1)[1])

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code (raises AssertionError on timeout)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s (pid %d) still running after %.1f s:\n%s"
                                 % (self.name, self.proc.pid, timeout, self.log())) from None
        for t in self._threads:
            t.join(5)
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signals the daemon and waits for it; returns the exit code."""
        if not self.running():
            return self.wait(1)
        self.send_signal(sig)
        return self.wait(timeout or scaled(15))

    def kill9(self):
        self.proc.kill()
        return self.wait(scaled(10))

    def connect(self, scheme="tcp", index=0, **kw):
        return Client(self.url(scheme, index), **kw)


def run_collector(args, timeout=None, input=None):
    """Runs the daemon as a one-shot command (--help, --check-config, bad flags): CompletedProcess, text."""
    require_binary(DAEMON)
    return subprocess.run([DAEMON] + list(args), input=input, capture_output=True, text=True,
                          timeout=timeout or scaled(20), stdin=None if input is not None else subprocess.DEVNULL)


def run_emit(args, input=None, timeout=None):
    """Runs ocsf-emit; input is bytes for stdin."""
    require_binary(EMIT)
    return subprocess.run([EMIT] + list(args), input=input if input is not None else b"",
                          capture_output=True, timeout=timeout or scaled(60))


# ---------------------------------------------------------------------------------------------------------------
# A wire-protocol client

class Client:
    """A connection to a listener URL (tcp://host:port or unix:///path).  A reader thread parses every reply
    line: `{"ack":N}` into acks, `{"error":{"line":N,"reason":R}}` into errors (as (N, R)), anything else into
    other.  eof is set when the daemon closes (or resets) the connection."""

    def __init__(self, url, connect_timeout=5, rcvbuf=None, reader=True):
        self.url = url
        self.sock = connect_url(url, connect_timeout, rcvbuf)
        self.acks = []
        self.errors = []
        self.other = []
        self.eof = False
        self.eof_time = None
        self.reset = False
        self.sent_lines = 0
        self._buf = b""
        self._cond = threading.Condition()
        self._reader = None
        if reader:
            self._reader = threading.Thread(target=self._read_loop, daemon=True)
            self._reader.start()

    def _read_loop(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
                self.reset = True
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self.eof = True
                    self.eof_time = time.monotonic()
                    self._cond.notify_all()
                    return
                self._buf += data
                while b"\n" in self._buf:
                    line, self._buf = self._buf.split(b"\n", 1)
                    self._parse(line)
                self._cond.notify_all()

    def _parse(self, line):
        try:
            obj = json.loads(line)
        except ValueError:
            self.other.append(line)
            return
        if isinstance(obj, dict) and isinstance(obj.get("ack"), int) and len(obj) == 1:
            self.acks.append(obj["ack"])
        elif isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            e = obj["error"]
            self.errors.append((e.get("line"), str(e.get("reason"))))
        else:
            self.other.append(line)

    @property
    def last_ack(self):
        with self._cond:
            return self.acks[-1] if self.acks else 0

    def send(self, data):
        self.sock.sendall(data)

    def send_lines(self, lines):
        """Sends each line (bytes, no newline) terminated by '\\n'."""
        self.sock.sendall(b"".join(l + b"\n" for l in lines))
        self.sent_lines += len(lines)

    def half_close(self):
        self.sock.shutdown(socket.SHUT_WR)

    def wait_ack(self, n, timeout=None):
        """Waits until an ack >= n arrived; returns the last ack."""
        timeout = timeout or scaled(10)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self.acks and self.acks[-1] >= n):
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    raise AssertionError("%s: wanted ack >= %d, got acks %s (eof=%s) errors=%s other=%s"
                                         % (self.url, n, self.acks[-5:], self.eof, self.errors[-5:],
                                            self.other[-3:]))
                self._cond.wait(min(left, 0.1))
            return self.acks[-1]

    def wait_errors(self, n, timeout=None):
        timeout = timeout or scaled(10)
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.errors) < n:
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    raise AssertionError("%s: wanted %d error replies, got %s (eof=%s, acks %s)"
                                         % (self.url, n, self.errors, self.eof, self.acks[-5:]))
                self._cond.wait(min(left, 0.1))
            return list(self.errors)

    def wait_eof(self, timeout=None):
        """Waits until the daemon closed the connection."""
        timeout = timeout or scaled(10)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: connection not closed by the daemon within %.1f s (acks %s)"
                                         % (self.url, timeout, self.acks[-5:]))
                self._cond.wait(min(left, 0.1))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        if self._reader:
            self._reader.join(2)


def connect_url(url, timeout=5, rcvbuf=None):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "tcp":
        host = u.hostname
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        addr = (host, u.port)
    elif u.scheme == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = u.path
    else:
        raise ValueError("unsupported url %s" % url)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        s.settimeout(timeout)
        s.connect(addr)
        s.settimeout(None)
    except OSError:
        s.close()
        raise
    return s


# ---------------------------------------------------------------------------------------------------------------
# The test base class

class CollectorTestCase(unittest.TestCase):
    """Gives each test a temp dir and stops every daemon it started; on failure prints their logs."""

    keep_tmp_on_failure = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ocsf-it-")
        self.collectors = []
        self.clients = []

    def collector(self, start=True, **kw):
        c = Collector(self.tmp, **kw)
        self.collectors.append(c)
        if start:
            c.start()
        return c

    def client(self, url, **kw):
        c = Client(url, **kw)
        self.clients.append(c)
        return c

    def tearDown(self):
        for cl in self.clients:
            cl.close()
        problems = []
        for c in self.collectors:
            if c.running():
                c.send_signal(signal.SIGTERM)
                try:
                    rc = c.proc.wait(scaled(15))
                except subprocess.TimeoutExpired:
                    c.proc.kill()
                    c.proc.wait()
                    problems.append("%s did not exit within %d s of SIGTERM" % (c.name, scaled(15)))
                    continue
                if rc != 0:
                    problems.append("%s exited %d on SIGTERM at teardown" % (c.name, rc))
        if problems:
            self.fail("; ".join(problems))

    def run(self, result=None):
        result = result or self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        failed = len(result.failures) + len(result.errors) > before
        if failed:
            for c in self.collectors:
                sys.stderr.write("\n==== %s log (%s) ====\n%s\n" % (c.name, self.id(), c.log(False)))
                if c.stdout:
                    sys.stderr.write("==== %s stdout ====\n%s\n" % (c.name, c.stdout[-4000:].decode("utf-8",
                                                                                                      "replace")))
            sys.stderr.write("==== temp dir kept: %s ====\n" % self.tmp)
        elif os.path.isdir(getattr(self, "tmp", "")):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return result


def main():
    """unittest.main with verbose output; exits non-zero on failure."""
    unittest.main(verbosity=2)
