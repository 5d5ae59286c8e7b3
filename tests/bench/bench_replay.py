"""bench-replay: ocsf-replay query timings over a 1,000,000-event spool (a benchmark, not a test).

The spool is created by the real collector (so it has the real schema, format version and indexes), then filled
with 1,000,000 normalized-looking rows straight through SQLite (the daemon would take ~1 minute per 1M at the
current ingest rate; the query side is what is measured here): 300 users and workspaces, 8 classes, event times
spread over 7 days. It is kept as build/bench-replay-1M.db and reused. Prints one line per query:
wall time of the whole ocsf-replay process (schema load and exit included) and rows returned."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("OCSF_BUILD_DIR", "build")
SOURCE = os.environ.get("OCSF_SOURCE_DIR", ".")
REPLAY = os.path.join(BUILD, "tools", "ocsf-replay")
DAEMON = os.path.join(BUILD, "collector", "ocsf-collector")
SPOOL = os.path.join(BUILD, "bench-replay-1M.db")
N = int(os.environ.get("BENCH_REPLAY_EVENTS", "1000000"))
T0 = 1795824000000  # 2026-11-28T00:00:00Z
SPAN = 7 * 86400000
CLASSES = [(4001, 5, 2, "tool.egress"), (4001, 1, 1, "tool.egress"), (3002, 1, 1, "broker.session.open"),
           (3002, 1, 2, "broker.session.deny"), (6003, 2, None, "tool.call"), (3004, 10, 1, "workspace.start"),
           (4002, 3, 1, "tool.http"), (1007, 1, 1, "tool.exec")]


def open_with_daemon():
    """Starts the collector on the spool until it is ready, then stops it; returns the seconds to ready. The
    open indexes for replay (collector/spool_index.h) whatever it has not indexed yet: the rows filled
    below, or a spool from before the postings."""
    d = tempfile.mkdtemp(prefix="bench-replay-")
    t = time.monotonic()
    p = subprocess.Popen([DAEMON, "--listen", "tcp://127.0.0.1:0", "--spool", SPOOL, "--retention-s", "-1", "--sink",
                          "file://%s/events.ndjson" % d], stderr=subprocess.PIPE)
    for line in p.stderr:
        if b"INFO ready" in line:
            break
    ready = time.monotonic() - t
    p.send_signal(signal.SIGTERM)
    p.wait()
    return ready


def build_spool():
    open_with_daemon()
    db = sqlite3.connect(SPOOL)
    db.execute("PRAGMA synchronous=OFF")
    rnd = random.Random(1)
    t = time.monotonic()
    rows = []
    for i in range(1, N + 1):
        cls, act, st, typ = CLASSES[i % len(CLASSES)]
        u = rnd.randrange(300)
        ms = T0 + (i * SPAN) // N
        body = ('{"class_uid":%d,"activity_id":%d,"time":%d,%s"metadata":{"event_code":"%s","version":"1.8.0",'
                '"product":{"name":"ocsf-collector","vendor_name":"ocsf-collector project"},"uid":"%032x",'
                '"sequence":%d},"severity_id":1,"actor":{"user":{"name":"user%d@corp.example"}},'
                '"src_endpoint":{"name":"vm-%d","type_id":6},"dst_endpoint":{"hostname":"h%d.example","port":443},'
                '"type_uid":%d,"unmapped":{"workspace":"ws-%d","pad":"%s"}}'
                % (cls, act, ms, '"status_id":%d,' % st if st else "", typ, rnd.getrandbits(128), i, u, u,
                   i % 977, cls * 100 + act, u, "x" * 200))
        rows.append((i, ms, ms, cls, act, st, typ, "user%d@corp.example" % u, "ws-%d" % u, "127.0.0.1:1", body))
        if len(rows) == 50000:
            db.executemany("INSERT INTO events(seq, received_ms, event_ms, class_uid, activity_id, status_id, type, user, "
                           "workspace, peer, body) VALUES(?,?,?,?,?,?,?,?,?,?,?)", rows)
            db.commit()
            rows = []
            sys.stderr.write("\rfilling %d/%d" % (i, N))
    if rows:
        db.executemany("INSERT INTO events(seq, received_ms, event_ms, class_uid, activity_id, status_id, type, user, "
                           "workspace, peer, body) VALUES(?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.commit()
    db.execute("ANALYZE")
    db.commit()
    db.close()
    sys.stderr.write("\rfilled %d events in %.1f s\n" % (N, time.monotonic() - t))


def run(label, args):
    best, out = None, b""
    for _ in range(3):
        t = time.monotonic()
        r = subprocess.run([REPLAY, "--spool", SPOOL] + args, capture_output=True)
        dt = time.monotonic() - t
        if r.returncode != 0:
            sys.exit("ocsf-replay %s failed: %s" % (args, r.stderr.decode()))
        best = dt if best is None or dt < best else best
        out = r.stdout
    lines = out.count(b"\n")
    print("%-58s %8.1f ms  %7d lines" % (label, best * 1000, lines))
    return best


def main():
    if not os.path.exists(SPOOL):
        build_spool()
    print("collector open (indexes what is not indexed yet for replay): %.1f s" % open_with_daemon())
    n = sqlite3.connect("file:%s?mode=ro" % SPOOL, uri=True).execute("SELECT count(*) FROM events").fetchone()[0]
    print("ocsf-replay query timings over %s (%d events; best of 3, whole process)" % (SPOOL, n))
    hour = ["--since", "2026-11-30T14:00:00Z", "--until", "2026-11-30T15:00:00Z"]
    run("one workspace, one hour (ndjson)", ["--workspace", "ws-42"] + hour)
    run("one workspace, one hour (table)", ["--workspace", "ws-42", "--format", "table"] + hour)
    run("one user, one hour, failures (csv)", ["--user", "user7@corp.example", "--status", "failure",
                                               "--format", "csv"] + hour)
    run("one hour, class network activity, --where host", ["--class", "network activity", "--where",
                                                           "dst_endpoint.hostname=h7.example"] + hour)
    run("one hour, --count", ["--count"] + hour)
    run("one workspace, whole week (ndjson)", ["--workspace", "ws-42"])
    run("everything, --count (full scan)", ["--count"])
    print("\nquery plan for one workspace, one hour:")
    sys.stdout.flush()
    subprocess.run([REPLAY, "--spool", SPOOL, "--explain", "--workspace", "ws-42"] + hour)


if __name__ == "__main__":
    main()
