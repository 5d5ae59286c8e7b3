"""ocsf-replay against a spool built by the real daemon: every filter alone and combined, table/csv/count
output, re-shipping to a file sink with the replay marker, error messages and exit codes, and reading while
the collector is under load.

The expected selections come from the events the test sent (replay_common.KINDS says which OCSF class,
activity and status each native type maps to), not from ocsf-replay's output."""

import collections
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import harness
import replay_common as rc
from harness import scaled

N = 360  # one event a minute: six hours, 60 of each kind


class ReplaySpoolTest(harness.CollectorTestCase):

    @classmethod
    def setUpClass(cls):
        """One spool for the read-only tests, built once by the real daemon and stopped."""
        cls.base = harness.tempfile.mkdtemp(prefix="ocsf-replay-")
        col = harness.Collector(cls.base)
        col.start()
        try:
            cls.lines, cls.exp = rc.make_events(N)
            r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in cls.lines))
            assert r.returncode == 0, r.stderr
            harness.wait_sink_lines(col.sink_path, N, scaled(20))
        finally:
            assert col.stop() == 0, col.log()
        cls.spool = col.spool
        assert harness.spool_count(cls.spool) == N
        assert harness.spool_count(cls.spool, "dead_letters") == 0, harness.spool_dead_letters(cls.spool)[:2]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def replay(self, *args, ok=True):
        r = rc.run_replay(["--spool", self.spool] + list(args))
        if ok:
            self.assertEqual(r.returncode, 0, "ocsf-replay %s: %s" % (" ".join(args), r.stderr.decode()))
        return r

    def check(self, args, pred):
        """ocsf-replay with args selects exactly the sent events for which pred holds, in event-time order."""
        r = self.replay(*args)
        want = rc.by_time([e for e in self.exp if pred(e)])
        self.assertTrue(want, "the test's filter %s selects nothing: a useless case" % (args,))
        self.assertEqual(rc.ids_of(r.stdout), want, "selection of %s" % (args,))
        self.assertIn(b"%d events matched" % len(want), r.stderr)
        return r

    # ---- filters alone ----------------------------------------------------------------------------------

    def test_no_filter_is_everything_in_time_order(self):
        self.check([], lambda e: True)

    def test_since_until_rfc3339(self):
        lo, hi = (rc.BASE_S + 3600) * 1000, (rc.BASE_S + 7200) * 1000
        self.check(["--since", rc.iso(lo)], lambda e: e["ms"] >= lo)
        self.check(["--until", rc.iso(hi)], lambda e: e["ms"] < hi)
        self.check(["--since", "2026-11-28T12:00:00+02:00", "--until", "2026-11-28T12:00:00.000+01:00"],
                   lambda e: rc.BASE_S * 1000 <= e["ms"] < (rc.BASE_S + 3600) * 1000)

    def test_since_relative(self):
        # everything is from 2026-11-28; relative windows are relative to now
        now_ms = int(time.time() * 1000)
        days = max(1, (now_ms - rc.BASE_S * 1000) // 86400000 + 2)
        self.check(["--since", "%dd" % days], lambda e: True)
        r = self.replay("--since", "90m")
        self.assertEqual([i for i in rc.ids_of(r.stdout)],
                         rc.by_time([e for e in self.exp if e["ms"] >= now_ms - 90 * 60000]))

    def test_user(self):
        self.check(["--user", "user3@corp.example"], lambda e: e["user"] == "user3@corp.example")

    def test_workspace(self):
        self.check(["--workspace", "ws-2"], lambda e: e["workspace"] == "ws-2")

    def test_class_by_uid_and_by_name(self):
        self.check(["--class", "3002"], lambda e: e["class_uid"] == 3002)
        self.check(["--class", "authentication"], lambda e: e["class_uid"] == 3002)
        self.check(["--class", "Network Activity"], lambda e: e["class_uid"] == 4001)
        self.check(["--class", "api_activity", "--class", "entity-management"],
                   lambda e: e["class_uid"] in (6003, 3004))

    def test_activity_by_id_and_by_name(self):
        self.check(["--activity", "5"], lambda e: e["activity_id"] == 5)
        self.check(["--activity", "refuse"], lambda e: e["activity_id"] == 5 and e["class_uid"] == 4001)
        self.check(["--activity", "Logon"], lambda e: e["class_uid"] == 3002)

    def test_status(self):
        self.check(["--status", "failure"], lambda e: e["status_id"] == 2)
        self.check(["--status", "success"], lambda e: e["status_id"] == 1)

    def test_where_any_field(self):
        self.check(["--where", "dst_endpoint.hostname=evil.example"], lambda e: e["dst_host"] == "evil.example")
        self.check(["--where", "dst_endpoint.hostname=*.github.com"], lambda e: e["dst_host"] == "api.github.com")
        self.check(["--where", "dst_endpoint.port=443", "--where", "actor.user.name=user1@corp.example"],
                   lambda e: e["dst_host"] and e["user"] == "user1@corp.example")
        self.check(["--where", "metadata.original_event_uid=rp-00007"], lambda e: e["id"] == "rp-00007")

    def test_limit(self):
        r = self.replay("--workspace", "ws-1", "--limit", "7")
        self.assertEqual(rc.ids_of(r.stdout), rc.by_time([e for e in self.exp if e["workspace"] == "ws-1"])[:7])

    # ---- combined ---------------------------------------------------------------------------------------

    def test_the_investigation(self):
        """'what did the agent in ws-1 do between 11:00 and 13:00, and which egress was denied?'"""
        lo, hi = (rc.BASE_S + 3600) * 1000, (rc.BASE_S + 3 * 3600) * 1000
        window = ["--workspace", "ws-2", "--since", rc.iso(lo), "--until", rc.iso(hi)]
        self.check(window, lambda e: e["workspace"] == "ws-2" and lo <= e["ms"] < hi)
        self.check(window + ["--class", "network_activity", "--status", "failure"],
                   lambda e: e["workspace"] == "ws-2" and lo <= e["ms"] < hi and e["class_uid"] == 4001
                   and e["status_id"] == 2)
        self.check(["--user", "user2@corp.example", "--workspace", "ws-2", "--class", "3002",
                    "--activity", "1", "--where", "src_endpoint.ip=10.1.2.3"],
                   lambda e: e["user"] == "user2@corp.example" and e["workspace"] == "ws-2"
                   and e["type"] == "broker.session.open")

    def test_indexes_used(self):
        """--explain shows the workspace+time window served by an index, not a table scan: the key's postings
        rows by index, then each listed event by its seq."""
        for flag in ("--workspace", "--user"):
            r = self.replay("--explain", flag, "x", "--since", "2h")
            self.assertIn(b"SEARCH postings USING INDEX postings_key (kind=? AND key=? AND last_ms>?)", r.stdout,
                          r.stdout)
            self.assertIn(b"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)", r.stdout, r.stdout)
            self.assertNotIn(b"SCAN", r.stdout, r.stdout)
        r = self.replay("--explain", "--class", "3002", "--since", "2h")
        self.assertIn(b"events_time", r.stdout, r.stdout)
        self.assertNotIn(b"TEMP B-TREE", r.stdout, r.stdout)

    # ---- output formats ---------------------------------------------------------------------------------

    def test_table(self):
        r = self.replay("--format", "table", "--workspace", "ws-0", "--class", "4001")
        rows = r.stdout.decode().splitlines()
        want = [e for e in self.exp if e["workspace"] == "ws-0" and e["class_uid"] == 4001]
        self.assertEqual(len(rows), len(want) + 1, r.stdout.decode()[:2000])
        self.assertTrue(rows[0].startswith("TIME") and "CLASS/ACTIVITY" in rows[0] and "SUMMARY" in rows[0])
        first = sorted(want, key=lambda e: e["ms"])[0]
        self.assertTrue(rows[1].startswith(rc.iso(first["ms"])), rows[1])
        self.assertIn(first["user"], rows[1])
        self.assertIn("Network Activity/", rows[1])
        denied = [l for l in rows[1:] if "evil.example" in l]
        self.assertEqual(len(denied), len([e for e in want if e["dst_host"] == "evil.example"]))
        for l in denied:
            self.assertIn("Refuse", l)
            self.assertIn("Failure", l)
            self.assertIn("host=evil.example", l)
            self.assertIn("tool.egress", l)

    def test_csv(self):
        r = self.replay("--format", "csv", "--status", "failure")
        table = list(csv.DictReader(io.StringIO(r.stdout.decode(), newline="")))
        want = sorted([e for e in self.exp if e["status_id"] == 2], key=lambda e: e["ms"])
        self.assertEqual(len(table), len(want))
        for row, e in zip(table, want):
            self.assertEqual(row["time"], rc.iso(e["ms"]))
            self.assertEqual(row["user"], e["user"])
            self.assertEqual(row["workspace"], e["workspace"])
            self.assertEqual(int(row["class_uid"]), e["class_uid"])
            self.assertEqual(int(row["activity_id"]), e["activity_id"])
            self.assertEqual(row["status"], "Failure")
            self.assertIn(e["type"], row["summary"])
        self.assertEqual({r["class"] for r in table}, {"Network Activity", "Authentication"})

    def test_count(self):
        for args in (["--count", "--format", "csv"], ["--count", "--format", "ndjson"]):
            r = self.replay(*(args + ["--where", "unmapped.collector.listener=tcp*"]), ok=True)
            got = collections.Counter()
            if "csv" in args:
                for row in csv.DictReader(io.StringIO(r.stdout.decode(), newline="")):
                    got[(int(row["class_uid"]), int(row["status_id"]))] += int(row["count"])
            else:
                for l in r.stdout.splitlines():
                    o = json.loads(l)
                    got[(o["class_uid"], o["status_id"])] += o["count"]
            all_ = collections.Counter((e["class_uid"], e["status_id"] if e["status_id"] is not None else -1)
                                       for e in self.exp)
            self.assertEqual(got, all_)
        r = self.replay("--count", "--workspace", "ws-3")
        text = r.stdout.decode()
        self.assertIn("TOTAL", text)
        self.assertIn("3002 Authentication", text)
        self.assertTrue(text.strip().splitlines()[-1].endswith(str(N // 4)), text)
        want3 = collections.Counter((e["class_uid"], e["status_id"]) for e in self.exp if e["workspace"] == "ws-3")
        self.assertEqual(len(text.strip().splitlines()), len(want3) + 2, text)

    # ---- re-shipping ------------------------------------------------------------------------------------

    def test_to_file_sink_with_marker_and_rate(self):
        out = os.path.join(self.tmp, "replayed.ndjson")
        lo = (rc.BASE_S + 3600) * 1000
        t0 = time.monotonic()
        r = self.replay("--since", rc.iso(lo), "--class", "network activity", "--to", "file://" + out,
                        "--rate", "200/s")
        took = time.monotonic() - t0
        want = rc.by_time([e for e in self.exp if e["ms"] >= lo and e["class_uid"] == 4001])
        lines = harness.read_sink_lines(out)
        self.assertEqual([harness.event_key(l) for l in lines], want)
        self.assertGreaterEqual(took, (len(want) - 100) / 200.0, "--rate 200/s not honoured")
        spool_bodies = {harness.event_key(b): json.loads(b) for b in harness.spool_bodies(self.spool)}
        for l in lines:
            o = json.loads(l)
            rp = o["unmapped"]["replay"]
            self.assertEqual(rp["source"], "spool:" + self.spool)
            self.assertIsInstance(rp["original_seq"], int)
            self.assertIn("ocsf-replay", o["metadata"]["labels"])
            # apart from the marker, the event is the stored one
            orig = spool_bodies[harness.event_key(l)]
            del o["unmapped"]["replay"]
            o["metadata"]["labels"].remove("ocsf-replay")
            if not o["metadata"]["labels"]:
                del o["metadata"]["labels"]
            self.assertEqual(o, orig)
        self.assertIn(b"%d delivered to file://%s" % (len(want), out.encode()), r.stderr)

    def test_to_unknown_scheme(self):
        r = self.replay("--to", "nope://127.0.0.1:1/x", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"unknown sink scheme 'nope'", r.stderr)

    # ---- errors -----------------------------------------------------------------------------------------

    def test_errors_name_the_problem(self):
        cases = [
            (["--spool", os.path.join(self.tmp, "missing.db")], 1, b"No such file"),
            (["--spool", self.spool, "--class", "authentikation"], 2, b"not an OCSF 1.8.0 class"),
            (["--spool", self.spool, "--since", "yesterday"], 2, b"bad time 'yesterday'"),
            (["--spool", self.spool, "--since", "2026-11-28T14:00:00"], 2, b"bad time"),
            (["--spool", self.spool, "--status", "meh"], 2, b"--status 'meh'"),
            (["--spool", self.spool, "--where", "novalue"], 2, b"PATH=VALUE"),
            (["--spool", self.spool, "--format", "xml"], 2, b"--format 'xml'"),
            (["--spool", self.spool, "--bogus"], 2, b"unknown option '--bogus'"),
            ([], 2, b"exactly one source"),
            (["--spool", self.spool, "--since", "1h", "--until", "2h"], 2, b"not before --until"),
        ]
        for args, code, msg in cases:
            r = rc.run_replay(args)
            self.assertEqual(r.returncode, code, "%s: %s" % (args, r.stderr))
            self.assertIn(msg, r.stderr, args)
        not_spool = os.path.join(self.tmp, "other.db")
        sqlite3.connect(not_spool).execute("CREATE TABLE t(x)").connection.commit()
        r = rc.run_replay(["--spool", not_spool])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"not a collector spool", r.stderr)

    def test_locked_spool(self):
        copy = os.path.join(self.tmp, "locked.db")
        src = sqlite3.connect("file:%s?mode=ro" % self.spool, uri=True)
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.isolation_level = None
        dst.execute("BEGIN EXCLUSIVE")
        try:
            r = rc.run_replay(["--spool", copy])
        finally:
            dst.execute("ROLLBACK")
            dst.close()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"is locked", r.stderr)


class ReplayUnderLoadTest(harness.CollectorTestCase):

    def test_read_while_collector_commits(self):
        """ocsf-replay reads the live spool again and again while ocsf-bench loads the collector: every replay
        succeeds and sees a growing prefix-closed set, the bench gets every ack, and commits never pause for
        long (the spool count keeps growing between replays)."""
        col = self.collector()
        n = 40000 if not harness.SANITIZE else 15000
        bench = subprocess.Popen([harness.BENCH, "--to", col.url("tcp"), "-n", str(n), "-c", "2", "--window", "500",
                                  "--timeout", str(scaled(60))], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        counts, replays, stalls = [], 0, 0
        try:
            harness.wait_until(lambda: harness.spool_count(col.spool) > 1000, scaled(20), what="load started")
            while bench.poll() is None:
                before = harness.spool_count(col.spool)
                r = rc.run_replay(["--spool", col.spool, "--count", "--format", "csv"])
                self.assertEqual(r.returncode, 0, r.stderr)
                total = sum(int(row["count"]) for row in csv.DictReader(io.StringIO(r.stdout.decode())))
                after = harness.spool_count(col.spool)
                self.assertGreaterEqual(total, before)  # a snapshot taken after `before`...
                self.assertLessEqual(total, after)      # ...and before `after`
                if counts and after == counts[-1] and after < n and bench.poll() is None:
                    stalls += 1
                counts.append(after)
                replays += 1
                r = rc.run_replay(["--spool", col.spool, "--workspace", "ws-u7", "--limit", "50",
                                   "--format", "table"])
                self.assertEqual(r.returncode, 0, r.stderr)
            out = bench.communicate(timeout=scaled(120))[0].decode()
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait()
        self.assertEqual(bench.returncode, 0, "bench lost acks while replays ran:\n" + out)
        self.assertGreaterEqual(replays, 2, "the load ended before two replays ran; make it larger")
        self.assertEqual(stalls, 0, "spool count did not move between replays: %s" % counts)
        self.assertEqual(harness.spool_count(col.spool), n)
        r = rc.run_replay(["--spool", col.spool, "--count", "--format", "csv"])
        self.assertEqual(sum(int(row["count"]) for row in csv.DictReader(io.StringIO(r.stdout.decode()))), n)


if __name__ == "__main__":
    harness.main()
