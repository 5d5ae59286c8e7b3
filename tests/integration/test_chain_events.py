"""Chain heads shipped as OCSF events (--chain-head-events, collector/chain_event.h) and checked later against a
spool with `ocsf-replay --verify --heads FILE` (tools/replay_heads.c).

The real daemon ships the head events through its file sink; the tests check each one against the spool's rows
(the hash it reports is the stored hash at its seq), that an idle collector does not ship a heartbeat forever, and
that heads shipped earlier expose a spool rewritten by someone who also rewrote every hash and anchor: truncated
(the newest rows gone and the head moved back), replaced (deleted and rebuilt), while heads pruned by retention
are reported as not checkable, not as a problem.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import time

import harness
from harness import make_event, scaled

REPLAY = os.path.join(harness.BUILD_DIR, "tools", "ocsf-replay")
INTERVAL = ["--chain-head-events", "--chain-head-interval-s", "1"]


def replay(*args):
    harness.require_binary(REPLAY)
    r = subprocess.run([REPLAY] + list(args), capture_output=True, text=True, timeout=scaled(30))
    return r.returncode, r.stdout + r.stderr


def head_events(sink_path):
    """The chain head events in a file sink, in order."""
    out = []
    for line in harness.read_sink_lines(sink_path):
        ev = json.loads(line)
        if ev.get("metadata", {}).get("event_code") == "collector.chain_head":
            out.append(ev)
    return out


class ChainEventsTest(harness.CollectorTestCase):

    def emit(self, col, start, n, prefix="ce"):
        lines = [make_event(start + i, prefix) for i in range(n)]
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in lines))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    def wait_head_at_least(self, col, seq):
        """Waits for a shipped head event that covers seq; returns the head events so far."""
        box = {}

        def covered():
            box["heads"] = head_events(col.sink_path)
            return any(h["unmapped"]["chain_head"]["seq"] >= seq for h in box["heads"])
        harness.wait_until(covered, scaled(15), what="a head event covering seq %d" % seq)
        return box["heads"]

    def assert_heads_are_links(self, spool, heads):
        for h in heads:
            ch = h["unmapped"]["chain_head"]
            stored = harness.spool_query(spool, "SELECT lower(hex(hash)) FROM events WHERE seq = ?", (ch["seq"],))
            self.assertEqual(stored, [(ch["hash"],)], "head event %r is not a link of the spool" % ch)

    def test_heads_shipped_checked_and_not_a_heartbeat(self):
        col = self.collector(args=INTERVAL)
        self.emit(col, 0, 100)
        heads = self.wait_head_at_least(col, 100)
        h = heads[-1]
        # what a SIEM receives: OCSF Event Log Activity, activity Other, the head under unmapped.chain_head
        self.assertEqual((h["class_uid"], h["category_uid"], h["activity_id"], h["type_uid"]), (1008, 1, 99, 100899))
        self.assertEqual(h["activity_name"], "Chain Head")
        self.assertEqual(h["unmapped"]["chain_head"]["algorithm"], "sha256")
        self.assertEqual(h["unmapped"]["collector"], {"listener": "internal"})
        self.assertEqual(len(h["metadata"]["uid"]), 36)
        self.assertIn("seq=%d hash=%s" % (h["unmapped"]["chain_head"]["seq"], h["unmapped"]["chain_head"]["hash"]),
                      h["message"])
        # the head event is a spool row of its own, after the head it reports, typed and from the collector
        own = h["metadata"]["sequence"]
        self.assertGreater(own, h["unmapped"]["chain_head"]["seq"])
        row = harness.spool_query(col.spool, "SELECT type, peer, class_uid, user FROM events WHERE seq = ?", (own,))
        self.assertEqual(row, [("collector.chain_head", "internal", 1008, None)])
        self.assert_heads_are_links(col.spool, heads)

        # idle: the last head event is the newest row, so no further one is due (no heartbeat stream)
        n = len(head_events(col.sink_path))
        time.sleep(3.5)
        self.assertEqual(len(head_events(col.sink_path)), n, "an idle collector kept shipping head events")

        self.emit(col, 100, 50)
        total = harness.spool_query(col.spool, "SELECT max(seq) FROM events")[0][0]
        heads = self.wait_head_at_least(col, total)
        self.assertEqual(col.stop(), 0)
        self.assertNotIn("chain head event", col.log(False))  # none refused or lost
        self.assert_heads_are_links(col.spool, heads)
        # every event still arrived once, besides the head events
        lines = harness.read_sink_lines(col.sink_path)
        self.assertEqual(len(lines) - len(head_events(col.sink_path)), 150)

        rc, out = replay("--spool", col.spool, "--verify", "--heads", col.sink_path)
        self.assertEqual(rc, 0, out)
        self.assertIn("chain OK", out)
        self.assertIn("heads OK: %d found in %d lines" % (len(heads), len(lines)), out)
        self.assertIn("%d held, 0 pruned" % len(heads), out)
        # the collector's own log lines are heads too
        log = os.path.join(self.tmp, "collector.log")
        with open(log, "w") as f:
            f.write(col.log(False))
        rc, out = replay("--spool", col.spool, "--verify", "--heads", log)
        self.assertEqual(rc, 0, out)
        self.assertIn("heads OK", out)
        # and the head events are selectable like any class
        rc, out = replay("--spool", col.spool, "--class", "event_log_activity", "--count")
        self.assertEqual(rc, 0, out)
        self.assertIn(str(len(heads)), out)

    def test_shipped_heads_expose_a_rewritten_spool(self):
        col = self.collector(args=INTERVAL)
        for k in range(3):
            self.emit(col, k * 60, 60)
            self.wait_head_at_least(col, harness.spool_query(col.spool, "SELECT max(seq) FROM events")[0][0])
        self.assertEqual(col.stop(), 0)
        shipped = os.path.join(self.tmp, "shipped.ndjson")  # what the SIEM holds
        shutil.copy(col.sink_path, shipped)
        heads = head_events(shipped)
        self.assertGreaterEqual(len(heads), 3)
        newest = heads[-1]["unmapped"]["chain_head"]["seq"]

        # truncated by someone who also moved the persisted head back: the walk passes, the shipped heads do not
        truncated = os.path.join(self.tmp, "truncated.db")
        shutil.copy(col.spool, truncated)
        cut = heads[-2]["unmapped"]["chain_head"]["seq"] + 2
        con = sqlite3.connect(truncated)
        con.execute("DELETE FROM events WHERE seq > ?", (cut,))
        h = con.execute("SELECT lower(hex(hash)) FROM events WHERE seq = ?", (cut,)).fetchone()[0]
        con.execute("UPDATE meta SET value = ? WHERE key = 'chain_head'", ("%d:%s" % (cut, h),))
        con.commit()
        con.close()
        rc, out = replay("--spool", truncated, "--verify")
        self.assertEqual(rc, 0, out)
        rc, out = replay("--spool", truncated, "--verify", "--heads", shipped)
        self.assertEqual(rc, 1, out)
        self.assertIn("TRUNCATED: head seq=%d hash=%s was shipped, this spool ends at seq=%d"
                      % (newest, heads[-1]["unmapped"]["chain_head"]["hash"], cut), out)
        self.assertIn("heads BROKEN", out)
        self.assertIn("1 not in this spool", out)

        # deleted and rebuilt with as many events: every seq exists again, none with the shipped hash
        os.remove(col.spool)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(col.spool + suffix):
                os.remove(col.spool + suffix)
        col.start()
        self.emit(col, 0, 200, prefix="forged")
        harness.wait_until(lambda: harness.spool_count(col.spool) >= 200, scaled(15), what="200 forged events")
        self.assertEqual(col.stop(), 0)
        rc, out = replay("--spool", col.spool, "--verify")
        self.assertEqual(rc, 0, out)
        rc, out = replay("--spool", col.spool, "--verify", "--heads", shipped)
        self.assertEqual(rc, 1, out)
        self.assertEqual(out.count("REWRITTEN: head seq="), len(heads), out)

    def test_pruned_heads_are_not_checkable_not_broken(self):
        col = self.collector(args=INTERVAL + ["--retention-s", "0"])
        self.emit(col, 0, 80)
        self.wait_head_at_least(col, 80)
        self.emit(col, 80, 40)  # after the head event: prunes it and what it covers
        harness.wait_until(lambda: harness.spool_query(col.spool, "SELECT count(*) FROM events WHERE seq <= 82")
                           == [(0,)], scaled(15), what="the first head and its events pruned")
        self.assertEqual(col.stop(), 0)
        heads = head_events(col.sink_path)
        rc, out = replay("--spool", col.spool, "--verify", "--heads", col.sink_path)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"heads (OK|UNCHECKED): %d found" % len(heads))
        self.assertIn(", 0 not in this spool", out)
        self.assertGreaterEqual(int(out.split(" held, ")[1].split(" pruned")[0]), 1, out)  # the first head

    def test_usage(self):
        r = harness.run_collector(["--normalize", "off", "--chain-head-events", "--check-config"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--chain-head-events needs --normalize on", r.stderr)
        rc, out = replay("--spool", "/nonexistent.db", "--heads", "x")
        self.assertEqual(rc, 2, out)
        self.assertIn("--heads is checked by --verify", out)
        col = self.collector(args=INTERVAL)
        self.emit(col, 0, 5)
        self.assertEqual(col.stop(), 0)
        rc, out = replay("--spool", col.spool, "--verify", "--heads", os.path.join(self.tmp, "missing"))
        self.assertEqual(rc, 1, out)
        self.assertIn("--heads %s: No such file or directory" % os.path.join(self.tmp, "missing"), out)


if __name__ == "__main__":
    harness.main()
