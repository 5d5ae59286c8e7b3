"""SIGHUP reloads the mapping tables (issue 3, item 7): a good table takes effect for the next event, a bad one
is refused with file, entry and field in the log while the old tables keep serving, and reloads in the middle of
a stream lose nothing.

Each test runs the daemon on its own copy of schemas/ (--schemas-dir), edits the native table in place and sends
SIGHUP, as an operator would.
"""

import copy
import json
import os
import re
import shutil
import signal
import threading
import time

import harness
from harness import make_event, event_key, scaled

RELOADED_RE = re.compile(r"SIGHUP: mapping tables reloaded \((\d+) entries\)")
REFUSED_RE = re.compile(r"SIGHUP: mapping tables refused, the previous tables keep serving: (.*)")


class ReloadTest(harness.CollectorTestCase):

    def setUp(self):
        super().setUp()
        self.schemas = os.path.join(self.tmp, "schemas")
        shutil.copytree(os.path.join(harness.SOURCE_DIR, "schemas"), self.schemas)
        self.table_path = os.path.join(self.schemas, "mappings", "native.json")
        with open(self.table_path) as f:
            self.table = json.load(f)

    def write_table(self, table):
        # write-then-rename, as a config management tool would: the daemon never sees half a file
        tmp = self.table_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(table, f, indent=1)
        os.replace(tmp, self.table_path)

    def table_with(self, type_name, class_uid=3004, activity_id=10, fields=None):
        """The shipped table plus one entry for type_name (a copy of workspace.start unless fields are given)."""
        t = copy.deepcopy(self.table)
        base = next(e for e in t["entries"] if e["type"] == "workspace.start")
        e = copy.deepcopy(base)
        e["name"] = type_name
        e["type"] = type_name
        e["class_uid"] = class_uid
        e["activity_id"] = activity_id
        if fields is not None:
            e["fields"] = fields
        t["entries"].append(e)
        return t

    def start(self):
        return self.collector(args=["--schemas-dir", self.schemas])

    def count_log(self, col, regex):
        return sum(1 for l in col.log().splitlines() if regex.search(l))

    def hup_and_wait(self, col, regex):
        before = self.count_log(col, regex)
        col.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: self.count_log(col, regex) > before, scaled(10),
                           what="a log line /%s/ after SIGHUP" % regex.pattern)
        return [m.group(1) for m in (regex.search(l) for l in col.log().splitlines()) if m][-1]

    def send_acked(self, col, lines):
        cl = self.client(col.url("tcp"))
        cl.send_lines(lines)
        cl.wait_ack(len(lines), scaled(10))
        cl.close()

    def test_good_table_takes_effect(self):
        col = self.start()
        self.send_acked(col, [make_event(1, "before", type="agent.custom_probe")])
        harness.wait_until(lambda: harness.spool_count(col.spool, "dead_letters") == 1, scaled(10),
                           what="a dead letter for the unmapped type")
        reasons = [d["reason"] for d in harness.spool_dead_letters(col.spool)]
        self.assertIn("no mapping for type agent.custom_probe", reasons[0])

        self.write_table(self.table_with("agent.custom_probe"))
        entries = int(self.hup_and_wait(col, RELOADED_RE))
        self.assertEqual(entries, len(self.table["entries"]) + 1)

        self.send_acked(col, [make_event(2, "after", type="agent.custom_probe")])
        lines = harness.wait_sink_lines(col.sink_path, 1, scaled(10))
        ev = json.loads(lines[0])
        self.assertEqual(ev["class_uid"], 3004)
        self.assertEqual(ev["activity_id"], 10)
        self.assertEqual(ev["type_uid"], 300410)
        self.assertEqual(ev["metadata"]["original_event_uid"], "after-000002")
        self.assertEqual(harness.spool_count(col.spool, "dead_letters"), 1)

    def test_bad_table_refused_old_keeps_serving(self):
        col = self.start()
        # an entry whose field path does not exist in OCSF 3004 (Entity Management)
        bad = self.table_with("agent.custom_probe", fields={"entity.name": "workspace",
                                                           "entity.no_such_attribute": "vm"})
        self.write_table(bad)
        why = self.hup_and_wait(col, REFUSED_RE)
        self.assertIn("native.json", why, "the file is named")
        self.assertIn("agent.custom_probe", why, "the entry is named")
        self.assertIn("no_such_attribute", why, "the field is named")

        # not JSON at all: refused too, with the file and a line
        with open(self.table_path, "w") as f:
            f.write('{"table": "native", "entries": [\n  {"name": oops}\n]}\n')
        why = self.hup_and_wait(col, REFUSED_RE)
        self.assertIn("native.json", why)
        self.assertRegex(why, r"native\.json:2:\d+: ", "file:line:column of the error")

        # the shipped tables still serve: a known type is normalized, the refused entry's type is not
        self.send_acked(col, [make_event(1, "known"), make_event(2, "new", type="agent.custom_probe")])
        lines = harness.wait_sink_lines(col.sink_path, 1, scaled(10))
        self.assertEqual(len(lines), 1)
        ev = json.loads(lines[0])
        self.assertEqual(ev["class_uid"], 3004)
        self.assertEqual(ev["metadata"]["original_event_uid"], "known-000001")
        harness.wait_until(lambda: harness.spool_count(col.spool, "dead_letters") == 1, scaled(10),
                           what="the unmapped type dead-lettered")
        self.assertTrue(col.running())

    def test_reloads_during_load_lose_nothing(self):
        col = self.start()
        good = self.table_with("agent.custom_probe")
        bad = self.table_with("agent.custom_probe", fields={"entity.no_such_attribute": "vm"})
        n_conns, min_per_conn = 3, 2000
        sent = {}
        failures = []
        stop = threading.Event()

        def stream(k):
            # streams until the main thread has done its reloads (and at least min_per_conn lines), so the
            # reloads always interleave with the load however fast or slow the build is
            try:
                cl = harness.Client(col.url("tcp"))
                lines = sent[k] = []
                while not stop.is_set() or len(lines) < min_per_conn:
                    chunk = [make_event(len(lines) + i, "load%d" % k) for i in range(200)]
                    lines.extend(chunk)
                    cl.send_lines(chunk)
                    time.sleep(0.01)
                cl.wait_ack(len(lines), scaled(60))
                cl.close()
            except Exception as e:  # reported by the main thread
                failures.append("connection %d: %s" % (k, e))

        threads = [threading.Thread(target=stream, args=(k,)) for k in range(n_conns)]
        for t in threads:
            t.start()
        reloads = refusals = 0
        try:
            harness.wait_until(lambda: harness.spool_count(col.spool) > 500, scaled(20), what="load started")
            while reloads + refusals < 6:
                self.write_table(good if reloads <= refusals else bad)
                if reloads <= refusals:
                    self.hup_and_wait(col, RELOADED_RE)
                    reloads += 1
                else:
                    self.hup_and_wait(col, REFUSED_RE)
                    refusals += 1
                time.sleep(0.05)
            streaming = all(t.is_alive() for t in threads)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])
        self.assertTrue(streaming, "a stream ended before the reloads were done")

        total = sum(len(v) for v in sent.values())
        lines = harness.wait_sink_lines(col.sink_path, total, scaled(30))
        self.assertEqual(len(lines), total)
        self.assertEqual(harness.spool_count(col.spool, "dead_letters"), 0)
        got = [event_key(l) for l in lines]
        self.assertEqual(sorted(got), sorted(event_key(s) for k in sent for s in sent[k]))
        # per connection, in the order sent
        for k in sent:
            mine = [g for g in got if g.startswith("load%d-" % k)]
            self.assertEqual(mine, [event_key(s) for s in sent[k]])
        self.assertTrue(all(harness.is_normalized(l) for l in lines))


if __name__ == "__main__":
    harness.main()
