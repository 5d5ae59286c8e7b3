"""A damaged spool at startup, and a torn WAL after power loss (issue 7, item 4).

- Pages of the events table overwritten while the collector was down: the startup check finds it, the spool is
  moved aside (kept), every readable event, the sink cursors and the seq high-water mark are salvaged into a fresh
  spool, and the collector serves on it: new events get new seqs, delivered ones are not shipped again.
- An SQLite file whose header page is destroyed: moved aside, a fresh spool, still serving. (A file that is not
  SQLite at all is a configuration mistake and is refused untouched: test_config.py.)
- kill -9 under load, then a torn partial commit appended to the WAL: SQLite drops the torn frames, the check
  passes, and every acknowledged event is there.
"""

import glob
import json
import os
import sqlite3
import time

import harness
from harness import make_event, event_key, scaled


def events_leaf_pages(path):
    """Page numbers of the events table's leaf pages (SQLite's dbstat)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        rows = db.execute("SELECT pageno FROM dbstat WHERE name='events' AND pagetype='leaf' "
                          "ORDER BY pageno").fetchall()
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    return [r[0] for r in rows], page_size


class CorruptionTest(harness.CollectorTestCase):

    def fill(self, col, n, prefix):
        cl = self.client(col.url("tcp"))
        sent = [make_event(i, prefix) for i in range(n)]
        cl.send_lines(sent)
        cl.wait_ack(n, scaled(20))
        cl.close()
        return sent

    def test_damaged_pages_are_salvaged(self):
        col = self.collector()
        sent = self.fill(col, 3000, "old")
        harness.wait_sink_lines(col.sink_path, 3000, scaled(20))
        col.stop()
        self.assertFalse(os.path.exists(col.spool + "-wal") and os.path.getsize(col.spool + "-wal") > 0,
                         "a clean stop leaves everything in the main file")
        pages, page_size = events_leaf_pages(col.spool)
        self.assertGreater(len(pages), 10)
        victims = pages[len(pages) // 2:len(pages) // 2 + 2]
        with open(col.spool, "r+b") as f:
            for p in victims:
                f.seek((p - 1) * page_size + 100)
                f.write(os.urandom(page_size - 200))

        col.start()
        col.wait_log(r"failed its integrity check", scaled(10))
        m = col.wait_log(r"moved aside to (\S+) \(kept for inspection\); recovered (\d+) events of seq "
                         r"(\d+)\.\.(\d+) \((\d+) unreadable\), (\d+) sink cursors", scaled(10))
        moved, got, first, last, unreadable, cursors = m.group(1), *map(int, m.groups()[1:])
        self.assertTrue(os.path.exists(moved), "the damaged spool is kept")
        self.assertEqual((first, last), (1, 3000))
        self.assertEqual(got + unreadable, 3000, "every seq is either recovered or counted unreadable")
        self.assertGreater(unreadable, 0, "the overwritten leaf pages held events")
        self.assertGreater(got, 2500)
        self.assertEqual(cursors, 1)
        self.assertEqual(harness.spool_count(col.spool), got)
        stored = {event_key(b) for b in harness.spool_bodies(col.spool)}
        self.assertTrue(stored <= {event_key(s) for s in sent})

        # serving again: new events get seqs above the old range and are shipped; old ones are not re-shipped
        self.fill(col, 100, "new")
        lines = harness.wait_sink_lines(col.sink_path, 3100, scaled(20))
        time.sleep(0.5)
        lines = harness.read_sink_lines(col.sink_path)
        self.assertEqual(len(lines), 3100, "delivered events were not shipped a second time")
        seqs = harness.spool_query(col.spool, "SELECT min(seq) FROM events WHERE body LIKE '%new-0000%'")
        self.assertGreater(seqs[0][0], 3000, "seqs are never reused after a salvage")
        new_meta = [json.loads(l)["metadata"]["sequence"] for l in lines[3000:]]
        self.assertTrue(all(s > 3000 for s in new_meta))

    def test_destroyed_header(self):
        # still an SQLite file by its magic, the rest of the first page and beyond destroyed
        spool = os.path.join(self.tmp, "spool.db")
        with open(spool, "wb") as f:
            f.write(b"SQLite format 3\0" + os.urandom(16 * 1024 * 4))
        col = self.collector(spool=spool)
        col.wait_log(r"failed its integrity check", scaled(10))
        self.assertEqual(len(glob.glob(spool + ".corrupt-*")), 1)
        self.fill(col, 50, "fresh")
        self.assertEqual(len(harness.wait_sink_lines(col.sink_path, 50, scaled(10))), 50)

    def test_torn_wal_tail_loses_no_acked_event(self):
        # a sink that never delivers keeps every event in the spool, so the WAL holds real frames at the kill
        col = self.collector(sinks=["file://" + self.tmp + "/out.ndjson"], args=["--retention-s", "-1"])
        cl = self.client(col.url("tcp"))
        sent = [make_event(i, "torn") for i in range(20000)]
        cl.send_lines(sent[:15000])
        cl.wait_ack(10000, scaled(20))
        col.kill9()
        acked = cl.last_ack
        wal = col.spool + "-wal"
        self.assertTrue(os.path.exists(wal) and os.path.getsize(wal) > 0, "the kill left a WAL behind")
        with open(wal, "ab") as f:  # the next commit, torn: a frame header and part of a page
            f.write(os.urandom(24 + 5000))
        col.start()
        col.wait_ready(scaled(10))
        self.assertNotIn("failed its integrity check", col.log())
        stored = {event_key(b) for b in harness.spool_bodies(col.spool)}
        missing = [event_key(s) for s in sent[:acked] if event_key(s) not in stored]
        self.assertEqual(missing, [], "acknowledged events lost after the torn WAL")


if __name__ == "__main__":
    harness.main()
