"""bench-soak: mixed load for BENCH_SOAK_SECONDS (default 600) with sink outages; events in = events out.

One collector with two sinks (file, and Kafka on tools/kafka-mock), four kinds of load at once:
  - ocsf-bench runs (4 connections, generated events of every family) back to back,
  - a trickle of single events through ocsf-emit --ack (one connection per event),
  - a client that sends invalid lines now and then (they must become dead letters, never sink lines),
  - every 45 s all Kafka brokers go down for 15 s; once, half-way, the collector is killed with -9 and restarted.
At the end it waits for both sinks to catch up and checks: every acknowledged event id is in the file sink and in
Kafka (the sink's cursor: the cluster acknowledged it; kcat reads back what the mock still retains), nothing unacknowledged or invalid is there, and dead letters equal the
invalid lines sent. Prints the counts, rates, RSS and duplicates (allowed only for at-least-once resends after the
kill or a Kafka timeout). Exit status 0 when events in = events out.

Not part of the test suite: cmake --build build --target bench-soak."""

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.path.abspath(os.environ.get("OCSF_BUILD_DIR", "build"))
DAEMON = os.path.join(BUILD, "collector", "ocsf-collector")
BENCH = os.path.join(BUILD, "tools", "ocsf-bench")
EMIT = os.path.join(BUILD, "tools", "ocsf-emit")
MOCK = os.path.join(BUILD, "tools", "kafka-mock")
SECONDS = int(os.environ.get("BENCH_SOAK_SECONDS", "600"))
TOPIC = "ocsf.soak"


class Soak:
    def __init__(self):
        self.d = tempfile.mkdtemp(prefix="bench-soak-")
        self.spool = os.path.join(self.d, "spool.db")
        self.sink = os.path.join(self.d, "events.ndjson")
        self.lock = threading.Lock()
        self.acked_bench = 0      # events acknowledged to ocsf-bench runs (ids unknown: counted)
        self.acked_ids = set()    # ids of single events acknowledged to ocsf-emit
        self.invalid_sent = 0
        self.stop = threading.Event()
        self.col = None
        self.url = None
        self.rss_peak = 0
        self.mock = subprocess.Popen([MOCK, "--brokers", "3", "--topic", TOPIC + ":16"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.bootstrap = self.mock.stdout.readline().strip().split("=", 1)[1]

    def mock_cmd(self, c):
        with self.lock:
            self.mock.stdin.write(c + "\n")
            self.mock.stdin.flush()
            return self.mock.stdout.readline().strip()

    def start_collector(self, port=0):
        self.col = subprocess.Popen([DAEMON, "--listen", "tcp://127.0.0.1:%d" % port, "--spool", self.spool,
                                     "--sink", "file://" + self.sink,
                                     "--sink", "kafka://%s/%s" % (self.bootstrap, TOPIC)],
                                    stderr=subprocess.PIPE, text=True)
        for line in self.col.stderr:
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
            if "INFO ready" in line:
                break
        threading.Thread(target=lambda p=self.col: [None for _ in p.stderr], daemon=True).start()

    def bench_loop(self):
        seed = 1
        while not self.stop.is_set():
            r = subprocess.run([BENCH, "--to", self.url, "-n", "20000", "-c", "4", "--window", "1000",
                                "--seed", str(seed), "--json", "--timeout", "120"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            seed += 1
            if r.returncode == 0:
                with self.lock:
                    self.acked_bench += json.loads(r.stdout)["events"]
            else:
                time.sleep(1)  # the collector is being restarted: this run's events were not all acked

    def emit_loop(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            eid = "soak-single-%07d" % i
            ev = {"type": "tool.call", "time": "2026-11-29T10:00:00Z", "id": eid, "source": "soak",
                  "user": "soak@corp.example", "workspace": "ws-soak", "outcome": "allowed", "tool": "shell"}
            r = subprocess.run([EMIT, "--to", self.url, "--ack"], input=(json.dumps(ev) + "\n").encode(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            if r.returncode == 0:
                with self.lock:
                    self.acked_ids.add(eid)
            time.sleep(0.05)

    def invalid_loop(self):
        while not self.stop.is_set():
            try:
                host, port = self.url[len("tcp://"):].rsplit(":", 1)
                s = socket.create_connection((host, int(port)), timeout=5)
                s.sendall(b'{"type": "tool.call", "broken": \n')
                s.shutdown(socket.SHUT_WR)
                s.settimeout(10)
                if b'"error"' in s.recv(65536):
                    with self.lock:
                        self.invalid_sent += 1
                s.close()
            except OSError:
                pass
            time.sleep(1)

    def sample_rss(self):
        try:
            with open("/proc/%d/status" % self.col.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.rss_peak = max(self.rss_peak, int(line.split()[1]))
        except OSError:
            pass

    def run(self):
        self.start_collector()
        port = int(self.url.rsplit(":", 1)[1])
        threads = [threading.Thread(target=f, daemon=True)
                   for f in (self.bench_loop, self.emit_loop, self.invalid_loop)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        outages = restarts = 0
        next_outage = t0 + 45
        killed = False
        while time.monotonic() - t0 < SECONDS:
            time.sleep(0.5)
            self.sample_rss()
            now = time.monotonic()
            if now >= next_outage:
                self.mock_cmd("down all")
                outages += 1
                time.sleep(15)
                self.mock_cmd("up all")
                next_outage = time.monotonic() + 45
            if not killed and now - t0 > SECONDS / 2:
                killed = True
                self.col.send_signal(signal.SIGKILL)
                self.col.wait()
                self.start_collector(port)
                restarts += 1
        self.stop.set()
        for t in threads:
            t.join(180)
        elapsed = time.monotonic() - t0
        return elapsed, outages, restarts

    def check(self, elapsed, outages, restarts):
        db = sqlite3.connect("file:%s?mode=ro" % self.spool, uri=True, timeout=10)
        deadline = time.monotonic() + 600
        while True:
            last = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            cur = db.execute("SELECT coalesce(min(seq), 0), count(*) FROM sink_cursors").fetchone()
            if cur[1] == 2 and cur[0] >= last or time.monotonic() > deadline:
                break
            time.sleep(1)
        dead = db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        db.close()

        def key(body):
            o = json.loads(body)
            return o.get("metadata", {}).get("original_event_uid")

        with open(self.sink) as f:
            file_ids = [key(l) for l in f if l.strip()]
        # The mock cluster keeps only the newest 5 MB / 100,000 message sets of each partition (librdkafka's
        # rdkafka_mock.c, like a broker's retention): what Kafka acknowledged is the sink's cursor (checked
        # above), and what it still holds is read back with kcat and must be gap-free per partition.
        r = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", TOPIC, "-o", "beginning", "-e", "-q",
                            "-f", "%p %o %s\n"], stdout=subprocess.PIPE, timeout=600)
        kafka_ids, offsets = [], {}
        for line in r.stdout.decode().splitlines():
            p, o, body = line.split(" ", 2)
            offsets.setdefault(int(p), []).append(int(o))
            kafka_ids.append(key(body))
        gaps = sum(1 for offs in offsets.values() for a, b in zip(offs, offs[1:]) if b != a + 1)
        kafka_cursor_ok = cur[1] == 2 and cur[0] >= last
        print("kafka: the cluster acknowledged every stored event (cursor %d of %d): %s; it still holds %d "
              "messages in %d partitions, offsets without gaps: %s"
              % (cur[0], last, "yes" if kafka_cursor_ok else "NO", len(kafka_ids), len(offsets),
                 "yes" if gaps == 0 else "NO (%d gaps)" % gaps))
        acked = self.acked_bench + len(self.acked_ids)
        ok = kafka_cursor_ok and gaps == 0
        uniq = set(file_ids)
        missing_single = self.acked_ids - uniq
        print("file sink: %d lines, %d distinct ids, %d duplicates (at-least-once resends); acknowledged single "
              "events missing: %d" % (len(file_ids), len(uniq), len(file_ids) - len(uniq), len(missing_single)))
        # every acked event is there: bench events are counted, singles checked by id
        if len(uniq) < acked or missing_single:
            ok = False
        stray = set(kafka_ids) - uniq
        print("kafka messages that are not in the file sink: %d" % len(stray))
        if stray:
            ok = False
        print("soak: %.0f s, %d Kafka outages of 15 s, %d kill -9 + restart; %d events acknowledged "
              "(%.0f events/s), %d invalid lines sent, %d dead letters; peak RSS %.1f MB"
              % (elapsed, outages, restarts, acked, acked / elapsed, self.invalid_sent, dead,
                 self.rss_peak / 1024.0))
        if dead < self.invalid_sent:
            ok = False
        print("events in = events out: %s" % ("yes" if ok else "NO"))
        return ok

    def close(self):
        if self.col and self.col.poll() is None:
            self.col.send_signal(signal.SIGTERM)
            self.col.wait(120)
        self.mock.stdin.close()
        self.mock.wait(60)
        shutil.rmtree(self.d, ignore_errors=True)


def main():
    s = Soak()
    try:
        ok = s.check(*s.run())
    finally:
        s.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
