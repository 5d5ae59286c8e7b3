"""The tamper-evident spool (collector/chain.h): every event row carries SHA-256 over the previous row's hash
and its own columns; `ocsf-replay --verify` walks the chain.

The real daemon builds each spool; the tests then tamper with it through sqlite3 while no daemon runs (an edited
row, a deleted row, the newest rows deleted, the hash column of an old spool) and check what --verify reports and
its exit code. The chain itself is recomputed here in Python from the layout documented in chain.h (an oracle
independent of chain.c), and the heads the daemon logs must be links of it.
"""

import hashlib
import os
import re
import sqlite3
import struct
import subprocess
import threading

import harness
from harness import make_event, scaled

REPLAY = os.path.join(harness.BUILD_DIR, "tools", "ocsf-replay")
HEAD_RE = re.compile(r"INFO chain head seq=(\d+) hash=([0-9a-f]{64}) \((\w+)\)")


def verify(spool):
    harness.require_binary(REPLAY)
    r = subprocess.run([REPLAY, "--spool", spool, "--verify"], capture_output=True, text=True,
                       timeout=scaled(30))
    return r.returncode, r.stdout + r.stderr


def link(prev, row):
    """chain.h's link: 0x01, prev, six big-endian integers (NULL = -1), four tagged strings, the body."""
    seq, received_ms, event_ms, class_uid, activity_id, status_id, typ, user, ws, peer, body = row
    ints = [-1 if v is None else v for v in (received_ms, event_ms, class_uid, activity_id, status_id)]
    data = b"\x01" + prev + struct.pack(">Q5q", seq, *ints)
    for s in (typ, user, ws, peer):
        if s is None:
            data += b"\x00"
        else:
            b = s.encode()
            data += b"\x01" + struct.pack(">I", len(b)) + b
    return hashlib.sha256(data + struct.pack(">Q", len(body)) + body).digest()


def meta_point(spool, key):
    rows = harness.spool_query(spool, "SELECT value FROM meta WHERE key = ?", (key,))
    if not rows:
        return None
    seq, hexhash = rows[0][0].split(":")
    return int(seq), bytes.fromhex(hexhash)


def tamper(spool, *sql):
    con = sqlite3.connect(spool)
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()


class ChainTest(harness.CollectorTestCase):

    def emit(self, col, start, n, prefix="ch"):
        lines = [make_event(start + i, prefix) for i in range(n)]
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in lines))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    def build_spool(self, n=300, runs=3, args=()):
        """A stopped collector whose spool holds n events written by several commits."""
        col = self.collector(args=["--chain-head-interval-s", "1"] + list(args))
        per = n // runs
        for k in range(runs):
            self.emit(col, k * per, per)
        harness.wait_sink_lines(col.sink_path, n, scaled(15))
        self.assertEqual(col.stop(), 0)
        self.assertEqual(harness.spool_count(col.spool), n)
        return col

    def assert_python_chain(self, spool):
        """Recomputes every stored hash from the anchor and compares, and the persisted head."""
        base_seq, h = meta_point(spool, "chain_base")
        rows = harness.spool_query(
            spool, "SELECT seq, received_ms, event_ms, class_uid, activity_id, status_id, type, user, workspace, "
                   "peer, CAST(body AS BLOB), hash FROM events WHERE seq > ? ORDER BY seq", (base_seq,))
        self.assertTrue(rows, "no chained rows")
        seq = base_seq
        for r in rows:
            self.assertEqual(r[0], seq + 1, "seqs are contiguous")
            h = link(h, r[:11])
            self.assertEqual(h, r[11], "stored hash at seq %d differs from the documented link" % r[0])
            seq = r[0]
        self.assertEqual(meta_point(spool, "chain_head"), (seq, h))
        return seq, h

    # --- an untouched spool ----------------------------------------------------------------------------------

    def test_daemon_spool_verifies_and_heads_are_logged(self):
        col = self.collector(args=["--chain-head-interval-s", "1"])
        self.emit(col, 0, 150)
        self.emit(col, 150, 150)
        harness.wait_sink_lines(col.sink_path, 300, scaled(15))
        # a running collector's spool verifies too (one read snapshot)
        rc, out = verify(col.spool)
        self.assertEqual(rc, 0, out)
        self.assertIn("chain OK: genesis, 300 events verified (seq 1..300)", out)
        # the periodic head line reaches the last commit
        col.wait_log(r"INFO chain head seq=300 hash=[0-9a-f]{64} \(periodic\)", scaled(10))
        self.assertEqual(col.stop(), 0)
        seq, h = self.assert_python_chain(col.spool)
        self.assertEqual(seq, 300)
        heads = [(int(m.group(1)), m.group(2), m.group(3)) for m in HEAD_RE.finditer(col.log(False))]
        self.assertEqual(heads[0][:1] + heads[0][2:], (0, "start"))
        self.assertEqual(heads[-1], (300, h.hex(), "stop"))
        rc, out = verify(col.spool)
        self.assertEqual(rc, 0, out)
        self.assertIn("head seq=300 hash=%s" % h.hex(), out)
        # a logged head is a link of the chain: every logged (seq, hash) matches the stored row
        for s, hx, _ in heads:
            if s > 0:
                self.assertEqual(harness.spool_query(col.spool, "SELECT hex(hash) FROM events WHERE seq = ?",
                                                     (s,))[0][0].lower(), hx)
        # the chain goes on across a restart
        col.start()
        self.emit(col, 300, 50)
        harness.wait_sink_lines(col.sink_path, 350, scaled(15))
        self.assertEqual(col.stop(), 0)
        self.assertEqual(self.assert_python_chain(col.spool)[0], 350)
        rc, out = verify(col.spool)
        self.assertEqual(rc, 0, out)
        self.assertIn("350 events verified", out)

    # --- tampering --------------------------------------------------------------------------------------------

    def test_edited_row_reported_at_its_seq(self):
        col = self.build_spool()
        tamper(col.spool, "UPDATE events SET body = replace(body, 'ch', 'XX') WHERE seq = 57")
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("FIRST BROKEN LINK: altered event at seq=57:", out)
        self.assertEqual(out.count("altered event"), 1, out)  # the rows after it still check out
        self.assertIn("chain BROKEN", out)
        self.assertIn("1 problems", out)

    def test_edited_indexed_column_and_rehashed_row(self):
        """An edit of the user (an indexed column replay filters on) is caught; so is an edit whose row hash was
        recomputed: the next link breaks."""
        col = self.build_spool()
        user = harness.spool_query(col.spool, "SELECT user FROM events WHERE seq = 20")[0][0]
        tamper(col.spool, "UPDATE events SET user = 'mallory' WHERE seq = 20")
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("altered event at seq=20:", out)
        # restore seq 20, then edit 120 and recompute its own hash from the stored predecessor
        con = sqlite3.connect(col.spool)
        con.execute("UPDATE events SET user = ? WHERE seq = 20", (user,))
        prev = con.execute("SELECT hash FROM events WHERE seq = 119").fetchone()[0]
        con.execute("UPDATE events SET body = replace(body, 'ch', 'YY') WHERE seq = 120")
        row = con.execute("SELECT seq, received_ms, event_ms, class_uid, activity_id, status_id, type, user, "
                          "workspace, peer, CAST(body AS BLOB) FROM events WHERE seq = 120").fetchone()
        con.execute("UPDATE events SET hash = ? WHERE seq = 120", (link(prev, row),))
        con.commit()
        con.close()
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertNotIn("seq=20:", out)
        self.assertIn("FIRST BROKEN LINK: altered event at seq=121:", out)

    def test_deleted_row_reported_as_gap(self):
        col = self.build_spool()
        tamper(col.spool, "DELETE FROM events WHERE seq = 100")
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("FIRST BROKEN LINK: deleted range: seq=100..100 missing (1 events)", out)
        self.assertNotIn("altered", out)
        tamper(col.spool, "DELETE FROM events WHERE seq BETWEEN 1 AND 10")  # the oldest, without pruning
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("FIRST BROKEN LINK: deleted range: seq=1..10 missing (10 events)", out)
        self.assertIn("deleted range: seq=100..100", out)

    def test_truncated_spool_reported(self):
        col = self.build_spool()
        tamper(col.spool, "DELETE FROM events WHERE seq > 250")
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("FIRST BROKEN LINK: truncated spool: the persisted chain head is seq=300", out)
        self.assertIn("seq=251..300 are gone", out)
        # every row gone
        tamper(col.spool, "DELETE FROM events")
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("seq=1..300 are gone", out)

    def test_replaced_newest_row_reported(self):
        """The newest row replaced by one with a self-consistent hash: its link checks, the head does not."""
        col = self.build_spool()
        con = sqlite3.connect(col.spool)
        prev = con.execute("SELECT hash FROM events WHERE seq = 299").fetchone()[0]
        con.execute("UPDATE events SET body = '{}' WHERE seq = 300")
        row = con.execute("SELECT seq, received_ms, event_ms, class_uid, activity_id, status_id, type, user, "
                          "workspace, peer, CAST(body AS BLOB) FROM events WHERE seq = 300").fetchone()
        con.execute("UPDATE events SET hash = ? WHERE seq = 300", (link(prev, row),))
        con.commit()
        con.close()
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("FIRST BROKEN LINK: head mismatch at seq=300", out)

    # --- pruning, migration ------------------------------------------------------------------------------------

    def test_retention_prune_keeps_chain_verifiable(self):
        col = self.collector(args=["--retention-s", "0"])
        self.emit(col, 0, 200)
        harness.wait_sink_lines(col.sink_path, 200, scaled(15))
        harness.wait_until(lambda: harness.spool_count(col.spool) == 0, scaled(15),
                           what="delivered events pruned with --retention-s 0")
        self.assertEqual(meta_point(col.spool, "chain_base")[0], 200)
        self.assertEqual(meta_point(col.spool, "chain_base"), meta_point(col.spool, "chain_head"))
        rc, out = verify(col.spool)
        self.assertEqual(rc, 0, out)
        self.assertIn("chain OK: anchor seq=200", out)
        self.emit(col, 200, 100)
        harness.wait_sink_lines(col.sink_path, 300, scaled(15))
        self.assertEqual(col.stop(), 0)
        rc, out = verify(col.spool)
        self.assertEqual(rc, 0, out)
        self.assertIn("chain OK", out)
        # whatever retention left, it verifies from the anchor, and a gap behind the anchor is not a problem
        left = harness.spool_count(col.spool)
        if left:
            self.assert_python_chain(col.spool)
        # ... while a row slipped in past the head is not
        tamper(col.spool, "INSERT INTO events(seq, received_ms, body) VALUES(301, 1, '{}')")
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("unhashed events: seq=301..301", out)
        self.assertIn("events past the head: seq=301..301 follow the persisted chain head seq=300", out)

    def test_spool_from_before_the_chain_is_migrated(self):
        """A spool without the hash column (written before the chain) gains it; its old rows are reported as
        before the chain, the new ones verify."""
        col = self.build_spool(n=60, runs=2)
        tamper(col.spool, "ALTER TABLE events DROP COLUMN hash",
               "DELETE FROM meta WHERE key IN ('chain_base', 'chain_head')")
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        self.assertIn("no hash chain", out)
        col.start()
        self.emit(col, 60, 40)
        harness.wait_sink_lines(col.sink_path, 100, scaled(15))
        self.assertEqual(col.stop(), 0)
        fmt = harness.spool_query(col.spool, "SELECT value FROM meta WHERE key = 'format_version'")
        self.assertEqual([str(r[0]) for r in fmt], ["1"])
        self.assertEqual(meta_point(col.spool, "chain_base")[0], 60)
        rc, out = verify(col.spool)
        self.assertEqual(rc, 0, out)
        self.assertIn("40 events verified (seq 61..100), 60 before the chain", out)
        self.assert_python_chain(col.spool)

    def test_kill9_during_commits_leaves_a_consistent_chain(self):
        """The head is written in the transaction of its rows: a kill -9 while commits stream in leaves a chain
        that verifies, and the next run chains on from it."""
        col = self.collector()
        for k in range(3):
            before = harness.spool_count(col.spool)
            stream = threading.Thread(target=self.emit_ignoring_errors, args=(col, k * 10000, 4000))
            stream.start()
            harness.wait_until(lambda: harness.spool_count(col.spool) > before + 500, scaled(15),
                               what="events streaming in")
            col.kill9()
            stream.join(scaled(30))
            rc, out = verify(col.spool)
            self.assertEqual(rc, 0, out)
            col.start()
        self.emit(col, 90000, 10)
        self.assertEqual(col.stop(), 0)
        rc, out = verify(col.spool)
        self.assertEqual(rc, 0, out)
        self.assert_python_chain(col.spool)

    def emit_ignoring_errors(self, col, start, n):
        lines = [make_event(start + i, "k9") for i in range(n)]
        harness.run_emit(["--to", col.url("tcp")], input=b"".join(l + b"\n" for l in lines))

    def test_salvaged_spool_shows_the_lost_range(self):
        """Startup salvage of a spool with damaged pages copies the hashes and anchors: the lost seqs are reported
        as deleted ranges, every recovered row still verifies, and new events chain on."""
        col = self.collector()
        self.emit(col, 0, 1500)
        harness.wait_sink_lines(col.sink_path, 1500, scaled(15))
        self.assertEqual(col.stop(), 0)
        db = sqlite3.connect("file:%s?mode=ro" % col.spool, uri=True)
        pages = [r[0] for r in db.execute("SELECT pageno FROM dbstat WHERE name='events' AND pagetype='leaf' "
                                          "ORDER BY pageno")]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        db.close()
        self.assertGreater(len(pages), 10)
        with open(col.spool, "r+b") as f:
            f.seek((pages[len(pages) // 2] - 1) * page_size + 100)
            f.write(os.urandom(page_size - 200))
        col.start()
        m = col.wait_log(r"recovered (\d+) events of seq 1\.\.1500 \((\d+) unreadable\)", scaled(10))
        unreadable = int(m.group(2))
        self.assertGreater(unreadable, 0)
        self.emit(col, 1500, 50)
        harness.wait_until(lambda: harness.spool_query(col.spool, "SELECT max(seq) FROM events")[0][0] == 1550,
                           scaled(10), what="new events after the salvage")
        self.assertEqual(col.stop(), 0)
        rc, out = verify(col.spool)
        self.assertEqual(rc, 1, out)
        gaps = [tuple(map(int, g)) for g in re.findall(r"deleted range: seq=(\d+)\.\.(\d+) missing", out)]
        self.assertTrue(gaps, out)
        self.assertEqual(sum(hi - lo + 1 for lo, hi in gaps), unreadable, out)
        self.assertNotIn("altered", out)
        self.assertNotIn("truncated", out)
        # every row but the first after each gap (its predecessor is gone) was recomputed and matched
        self.assertIn("%d events verified (seq 1..1550)" % (1550 - unreadable - len(gaps)), out)


if __name__ == "__main__":
    harness.main()
