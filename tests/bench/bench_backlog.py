"""bench-backlog: a sink outage long enough to build a large backlog, then the drain (a benchmark, not a test).

1. kafka-mock with every broker down; a collector with the Kafka sink (normalization on, defaults otherwise).
2. ocsf-bench loads BENCH_BACKLOG_EVENTS (default 1,000,000) events: the ingest rate with the sink down.
3. Brokers up. While the backlog drains, a second ocsf-bench loads BENCH_BACKLOG_LIVE (default 200,000) more.
4. Prints: ingest rate during the outage, drain time of the backlog, the live load's rate while draining, the
   drain rate, the collector's peak RSS (VmHWM) and RSS at the end, spool size; checks that the Kafka sink's
   cursor reached the last event (events in = events acknowledged by the cluster).

Run: cmake --build build --target bench-backlog   (or python3 tests/bench/bench_backlog.py with OCSF_BUILD_DIR)"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.path.abspath(os.environ.get("OCSF_BUILD_DIR", "build"))
DAEMON = os.path.join(BUILD, "collector", "ocsf-collector")
BENCH = os.path.join(BUILD, "tools", "ocsf-bench")
MOCK = os.path.join(BUILD, "tools", "kafka-mock")
N = int(os.environ.get("BENCH_BACKLOG_EVENTS", "1000000"))
LIVE = int(os.environ.get("BENCH_BACKLOG_LIVE", "200000"))


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cursor(spool):
    db = sqlite3.connect("file:%s?mode=ro" % spool, uri=True, timeout=10)
    try:
        row = db.execute("SELECT coalesce(min(seq), 0) FROM sink_cursors").fetchone()
        return row[0]
    finally:
        db.close()


def bench(url, n, seed):
    r = subprocess.run([BENCH, "--to", url, "-n", str(n), "-c", "4", "--window", "1000", "--seed", str(seed),
                        "--json", "--timeout", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("ocsf-bench failed: %s" % r.stderr.decode(errors="replace")[-2000:])
    return json.loads(r.stdout)


def main():
    d = tempfile.mkdtemp(prefix="bench-backlog-")
    mock = subprocess.Popen([MOCK, "--brokers", "3", "--topic", "ocsf.backlog:4"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    bootstrap = mock.stdout.readline().strip().split("=", 1)[1]

    def cmd(c):
        mock.stdin.write(c + "\n")
        mock.stdin.flush()
        return mock.stdout.readline().strip()

    cmd("down all")
    spool = os.path.join(d, "spool.db")
    log = open(os.path.join(d, "collector.log"), "w")
    col = subprocess.Popen([DAEMON, "--listen", "tcp://127.0.0.1:0", "--spool", spool,
                            "--sink", "kafka://%s/ocsf.backlog" % bootstrap], stderr=subprocess.PIPE, text=True)
    url = None
    for line in col.stderr:
        log.write(line)
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].split()[0]
        if "INFO ready" in line:
            break
    threading.Thread(target=lambda: [log.write(l) for l in col.stderr], daemon=True).start()
    try:
        t0 = time.monotonic()
        out = bench(url, N, 1)
        t_ingest = time.monotonic() - t0
        rss_backlog = status_kb(col.pid, "VmRSS")
        print("outage: %d events ingested in %.1f s, %.0f events/s (ack p99 %.0f ms); sink cursor %d; RSS %.1f MB"
              % (N, t_ingest, out["events_per_s"], out["ack_latency_ms"]["p99"], cursor(spool),
                 rss_backlog / 1024.0))
        print("spool: %.0f MB with the backlog" % (os.path.getsize(spool) / 1e6))

        cmd("up all")
        t1 = time.monotonic()
        live = {}
        th = threading.Thread(target=lambda: live.update(bench(url, LIVE, 2)))
        th.start()
        done_at = None
        while True:
            c = cursor(spool)
            if done_at is None and c >= N:
                done_at = time.monotonic() - t1
            if not th.is_alive() and c >= N + LIVE:
                break
            if time.monotonic() - t1 > 1800:
                sys.exit("drain did not finish in 30 minutes (cursor %d)" % c)
            time.sleep(0.2)
        th.join()
        t_all = time.monotonic() - t1
        print("drain: the %d-event backlog delivered in %.1f s (%.0f events/s) while %d live events came in at "
              "%.0f events/s (ack p99 %.0f ms); everything (%d) delivered after %.1f s"
              % (N, done_at, N / done_at, LIVE, live["events_per_s"], live["ack_latency_ms"]["p99"],
                 N + LIVE, t_all))
        print("memory: peak RSS (VmHWM) %.1f MB, RSS now %.1f MB"
              % (status_kb(col.pid, "VmHWM") / 1024.0, status_kb(col.pid, "VmRSS") / 1024.0))
        print("events in = events out: %s (acked %d, Kafka cursor %d)"
              % ("yes" if cursor(spool) >= N + LIVE else "NO", N + LIVE, cursor(spool)))
    finally:
        col.send_signal(signal.SIGTERM)
        col.wait(120)
        mock.stdin.close()
        mock.wait(30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
