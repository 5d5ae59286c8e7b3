"""ocsf-replay's user and workspace lookups (collector/spool_index.h): entries are merged in bulk into posting
lists (one postings row per user and per workspace per merge), so at any moment part of the spool (the tail
after meta.index_seq) is only in the events table. These tests put the daemon in each state and check that --user / --workspace select exactly the sent
events (the oracle is what the test sent, replay_common), in event-time order:

- a running collector whose newest events are not merged yet (tail only, then ix plus tail), on many pages;
- after a clean stop (everything merged), after kill -9 (the tail rebuilt at the next open), and a spool from
  before the postings (the old row-by-row indexes dropped, every event indexed on open);
- retention: pruned events leave no entries behind, including events pruned before they were merged;
- an as-received spool (--normalize off): event times converted from the envelope's `time` in each form.
"""

import json
import os
import sqlite3
import time

import harness
import replay_common as rc
from harness import scaled


def meta_int(spool, key):
    rows = harness.spool_query(spool, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", (key,))
    return rows[0][0] if rows else 0


def entries(spool, kind):
    """Entries listed in the postings of kind (0 user, 1 workspace)."""
    return harness.spool_query(spool, "SELECT coalesce(sum(n), 0) FROM postings WHERE kind = ?", (kind,))[0][0]


def max_seq(spool):
    return harness.spool_query(spool, "SELECT coalesce(max(seq), 0) FROM events")[0][0]


class ReplayIndexTest(harness.CollectorTestCase):

    def send(self, col, lines):
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in lines))
        self.assertEqual(r.returncode, 0, r.stderr)

    def check_all(self, spool, exp, what):
        """Every user and workspace filter, alone, combined and with a time window, selects exactly exp's."""
        users = sorted({e["user"] for e in exp})
        wss = sorted({e["workspace"] for e in exp})
        lo = rc.BASE_S * 1000 + 3600 * 1000
        hi = lo + 4 * 3600 * 1000
        cases = [(["--user", u], lambda e, u=u: e["user"] == u) for u in users]
        cases += [(["--workspace", w], lambda e, w=w: e["workspace"] == w) for w in wss]
        cases.append((["--user", users[1], "--workspace", wss[1]],
                      lambda e: e["user"] == users[1] and e["workspace"] == wss[1]))
        cases.append((["--workspace", wss[0], "--since", rc.iso(lo), "--until", rc.iso(hi), "--status", "failure"],
                      lambda e: e["workspace"] == wss[0] and lo <= e["ms"] < hi and e["status_id"] == 2))
        for args, pred in cases:
            r = rc.run_replay(["--spool", spool] + args)
            self.assertEqual(r.returncode, 0, r.stderr)
            want = rc.by_time([e for e in exp if pred(e)])
            self.assertTrue(want, "a case that selects nothing: %s" % args)
            self.assertEqual(rc.ids_of(r.stdout), want, "%s: %s" % (what, args))
            r = rc.run_replay(["--spool", spool, "--count"] + args)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_tail_and_merged_while_running_and_after_kill(self):
        # entries wait up to a minute here, so each state below holds as long as the test needs it
        col = self.collector(args=["--index-merge-ms", "60000"])
        # 5,000 events: pages of 2,000 rows cross the boundary between the postings and the tail
        lines, exp = rc.make_events(5000, prefix="ix")
        self.send(col, lines[:3000])
        harness.wait_sink_lines(col.sink_path, 3000, scaled(20))
        self.assertEqual(meta_int(col.spool, "index_seq"), 0)
        self.check_all(col.spool, exp[:3000], "everything in the tail")
        self.assertEqual(col.stop(), 0)  # a clean stop merges what waits
        self.assertEqual(meta_int(col.spool, "index_seq"), 3000)
        self.check_all(col.spool, exp[:3000], "everything merged")
        col.start()
        self.send(col, lines[3000:])
        harness.wait_sink_lines(col.sink_path, 5000, scaled(20))
        self.assertEqual(meta_int(col.spool, "index_seq"), 3000)
        self.check_all(col.spool, exp, "merged plus a tail of 2,000, on a running collector")
        # one entry per merged event with a user / workspace
        self.assertEqual(entries(col.spool, 0), 3000)
        col.kill9()
        self.check_all(col.spool, exp, "after kill -9, before the next open")
        col.start()  # the open indexes the tail the crash left
        self.assertEqual(meta_int(col.spool, "index_seq"), 5000)
        self.assertEqual(entries(col.spool, 1), 5000)
        self.check_all(col.spool, exp, "tail rebuilt at open")
        self.assertEqual(col.stop(), 0)

    def test_merge_interval(self):
        """With the default interval, entries reach the postings within about a second of an idle spool (the
        writer's once-a-second housekeeping commit carries the merge)."""
        col = self.collector()
        lines, exp = rc.make_events(300, prefix="mi")
        self.send(col, lines)
        harness.wait_until(lambda: meta_int(col.spool, "index_seq") == 300, scaled(10), what="the merge")
        self.assertEqual(entries(col.spool, 0), 300)
        self.check_all(col.spool, exp, "merged by the interval")
        self.assertEqual(col.stop(), 0)

    def test_as_received_event_times(self):
        """--normalize off: the stored event time is the envelope's `time` converted as the normalizer converts it
        (RFC 3339 with fractions and offsets, epoch seconds or milliseconds), so replay's time, user and
        workspace lookups work on an as-received spool; an event without a readable time is stored with none and
        indexed by nothing."""
        col = self.collector(args=["--normalize", "off"])
        lines, exp = rc.make_events(60, prefix="ar")
        forms = [(lambda ms: ms // 1000 * 1000, lambda ms: ms // 1000),  # epoch seconds
                 (lambda ms: ms, lambda ms: ms),  # epoch milliseconds
                 (lambda ms: ms, lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000 + 3600))
                  + ".%03d+01:00" % (ms % 1000))]  # an offset
        for i in range(0, 60, 4):  # every fourth event: its time in another form
            conv, form = forms[(i // 4) % len(forms)]
            ev = json.loads(lines[i])
            ev["time"] = form(exp[i]["ms"])
            exp[i]["ms"] = conv(exp[i]["ms"])
            lines[i] = json.dumps(ev, separators=(",", ":")).encode()
        untimed = [json.dumps({"type": "tool.call", "id": "nt-%d" % k, "user": "user0@corp.example",
                               "workspace": "ws-0", **t}, separators=(",", ":")).encode()
                   for k, t in enumerate([{}, {"time": "yesterday"}, {"time": None}])]
        self.send(col, lines + untimed)
        harness.wait_until(lambda: meta_int(col.spool, "index_seq") == 63, scaled(10), what="the merge")
        got = dict((harness.event_key(b), ms) for b, ms in
                   harness.spool_query(col.spool, "SELECT body, event_ms FROM events"))
        self.assertEqual(got, dict([(e["id"], e["ms"]) for e in exp] + [("nt-%d" % k, None) for k in range(3)]))
        self.assertEqual(entries(col.spool, 0), 60, "events without a time are not indexed")
        lo = rc.BASE_S * 1000 + 15 * 60 * 1000
        hi = lo + 20 * 60 * 1000
        for args, pred in [(["--user", "user1@corp.example"], lambda e: e["user"] == "user1@corp.example"),
                           (["--workspace", "ws-2", "--since", rc.iso(lo)],
                            lambda e: e["workspace"] == "ws-2" and e["ms"] >= lo),
                           (["--since", rc.iso(lo), "--until", rc.iso(hi)], lambda e: lo <= e["ms"] < hi)]:
            r = rc.run_replay(["--spool", col.spool] + args)
            self.assertEqual(r.returncode, 0, r.stderr)
            want = rc.by_time([e for e in exp if pred(e)])
            self.assertTrue(want)
            self.assertEqual(rc.ids_of(r.stdout), want, args)
        self.assertEqual(col.stop(), 0)

    def test_spool_from_before_the_postings(self):
        col = self.collector()
        lines, exp = rc.make_events(1200, prefix="old")
        self.send(col, lines)
        harness.wait_sink_lines(col.sink_path, 1200, scaled(20))
        self.assertEqual(col.stop(), 0)
        # as an older collector left it: row-by-row indexes, no postings
        con = sqlite3.connect(col.spool)
        con.executescript("DROP TABLE postings; DELETE FROM meta WHERE key = 'index_seq';"
                          "CREATE INDEX events_workspace_time ON events(workspace, event_ms);"
                          "CREATE INDEX events_user_time ON events(user, event_ms);")
        con.close()
        self.check_all(col.spool, exp, "old spool read as it is")
        col.start()
        self.assertEqual(col.stop(), 0)
        names = {r[0] for r in harness.spool_query(col.spool, "SELECT name FROM sqlite_master")}
        self.assertIn("postings", names)
        self.assertNotIn("events_user_time", names)
        self.assertNotIn("events_workspace_time", names)
        self.assertEqual(meta_int(col.spool, "index_seq"), 1200)
        self.check_all(col.spool, exp, "old spool after the open that indexed it")

    def test_prune_leaves_no_entries(self):
        col = self.collector(args=["--retention-s", "0"])
        lines, exp = rc.make_events(600, prefix="pr")
        self.send(col, lines[:300])
        harness.wait_until(lambda: harness.spool_count(col.spool) == 0, scaled(15), what="300 events pruned")
        time.sleep(1.2)
        self.send(col, lines[300:])  # merges: entries of the 300 pruned events are skipped, not inserted
        harness.wait_until(lambda: meta_int(col.spool, "index_seq") >= 300, scaled(10), what="a merge")
        harness.wait_until(lambda: harness.spool_count(col.spool) == 0, scaled(15), what="600 events pruned")
        self.assertEqual(col.stop(), 0)
        # every event is pruned, so is every postings row (each covers pruned events only)
        self.assertEqual(harness.spool_query(col.spool, "SELECT count(*) FROM postings")[0][0], 0)
        r = rc.run_replay(["--spool", col.spool, "--user", exp[0]["user"]])
        self.assertEqual((r.returncode, r.stdout), (0, b""))


if __name__ == "__main__":
    harness.main()
