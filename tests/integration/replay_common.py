"""Shared pieces of the ocsf-replay integration tests (test_replay*.py): a varied set of native events whose
expected OCSF columns are known from DESIGN.md's mapping table (the oracle the tests compare ocsf-replay's
selections against, never ocsf-replay's own output), and a runner for the tool."""

import calendar
import json
import os
import subprocess
import time

import harness

REPLAY = os.path.join(harness.BUILD_DIR, "tools", "ocsf-replay")
BASE_S = calendar.timegm((2026, 11, 28, 10, 0, 0))  # 2026-11-28T10:00:00Z

# (type, outcome, class_uid, activity_id, status_id or None, extra fields)
KINDS = [
    ("tool.egress", "denied", 4001, 5, 2, {"dst_host": "evil.example", "dst_port": 443}),
    ("tool.egress", "allowed", 4001, 1, 1, {"dst_host": "api.github.com", "dst_port": 443}),
    ("broker.session.open", "success", 3002, 1, 1, {"src_ip": "10.1.2.3", "session": "s-1"}),
    ("broker.session.deny", "failure", 3002, 1, 2, {"src_ip": "10.9.9.9"}),
    ("tool.call", None, 6003, 2, None, {"op": "read", "tool": "github.search"}),
    ("workspace.start", "success", 3004, 10, 1, {}),
]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def make_events(n, prefix="rp"):
    """n native events, one a minute from BASE_S; returns (lines, expected) where expected[i] is a dict of the
    columns the spool must hold for line i."""
    lines, expected = [], []
    for i in range(n):
        typ, outcome, cls, act, st, extra = KINDS[i % len(KINDS)]
        ms = (BASE_S + 60 * i) * 1000 + i % 1000
        ev = {"type": typ, "time": iso(ms), "id": "%s-%05d" % (prefix, i), "source": "replay-test",
              "user": "user%d@corp.example" % (i % 5), "workspace": "ws-%d" % (i % 4), "vm": "vm-%d" % (i % 4)}
        if outcome:
            ev["outcome"] = outcome
        ev.update(extra)
        lines.append(json.dumps(ev, separators=(",", ":")).encode())
        expected.append({"id": ev["id"], "ms": ms, "user": ev["user"], "workspace": ev["workspace"],
                         "class_uid": cls, "activity_id": act, "status_id": st, "type": typ,
                         "dst_host": extra.get("dst_host")})
    return lines, expected


def run_replay(args, timeout=None, env=None):
    harness.require_binary(REPLAY)
    e = dict(os.environ)
    e["OCSF_SCHEMAS_DIR"] = os.path.join(harness.SOURCE_DIR, "schemas")
    if env:
        e.update(env)
    return subprocess.run([REPLAY] + list(args), capture_output=True, timeout=timeout or harness.scaled(60),
                          stdin=subprocess.DEVNULL, env=e)


def ids_of(stdout):
    """The emitters' ids of the NDJSON lines ocsf-replay printed, in order."""
    return [harness.event_key(l) for l in stdout.split(b"\n") if l.strip()]


def by_time(rows):
    return [r["id"] for r in sorted(rows, key=lambda r: (r["ms"], r["id"]))]
