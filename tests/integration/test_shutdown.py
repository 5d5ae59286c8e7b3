"""Signals: SIGTERM/SIGINT drain, commit, flush and exit 0 (everything acked is in the sink); a restart on the same
spool resumes shipping without duplicates after a clean shutdown; SIGHUP reloads without stopping service."""

import signal
import threading
import time

import harness
from harness import make_event, event_key, scaled


class Streamer(threading.Thread):
    """Sends events with ids '<tag>-N' in order on one connection until stopped or the daemon goes away;
    records the highest ack."""

    def __init__(self, url, tag, batch=50, pause=0.002):
        super().__init__(daemon=True)
        self.client = harness.Client(url)
        self.tag = tag
        self.batch = batch
        self.pause = pause
        self.sent = 0
        self.stop_flag = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop_flag.is_set() and not self.client.eof:
                lines = [make_event(i, self.tag) for i in range(self.sent, self.sent + self.batch)]
                self.client.send_lines(lines)
                self.sent += self.batch
                time.sleep(self.pause)
        except OSError as e:  # the daemon closed on us: expected at shutdown
            self.error = e


class ShutdownTest(harness.CollectorTestCase):

    def check_stop_while_streaming(self, sig):
        col = self.collector()
        streams = [Streamer(col.url("tcp"), "st%d" % k) for k in range(2)]
        for s in streams:
            s.start()
        harness.wait_until(lambda: all(s.client.last_ack > 500 for s in streams), scaled(10),
                           what="both streams acked past 500")
        t0 = time.monotonic()
        col.send_signal(sig)
        rc = col.wait(scaled(5))
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit code after %s" % sig.name)
        self.assertLess(elapsed, scaled(5))
        for s in streams:
            s.stop_flag.set()
            s.join(5)
            s.client.wait_eof(scaled(5))
        lines = harness.read_sink_lines(col.sink_path)
        keys = [event_key(l) for l in lines]
        self.assertEqual(len(keys), len(set(keys)), "duplicates in the sink")
        self.assertEqual(len(lines), harness.spool_count(col.spool), "sink not flushed to the spool's end")
        for s in streams:
            acked = s.client.last_ack
            mine = [k for k in keys if k.startswith(s.tag + "-")]
            # everything acked is in the sink, in order; what came after the last ack may or may not be
            self.assertGreaterEqual(len(mine), acked)
            self.assertEqual(mine, ["%s-%06d" % (s.tag, i) for i in range(len(mine))])
            self.assertLessEqual(len(mine), s.sent)
            s.client.close()
        self.assertIn("INFO", col.log())
        return col

    def test_sigterm_while_streaming(self):
        self.check_stop_while_streaming(signal.SIGTERM)

    def test_sigint_while_streaming(self):
        self.check_stop_while_streaming(signal.SIGINT)

    def test_stops_accepting_after_sigterm(self):
        col = self.collector()
        url = col.url("tcp")
        col.send_signal(signal.SIGTERM)
        self.assertEqual(col.wait(scaled(5)), 0)
        with self.assertRaises(OSError):
            harness.connect_url(url, timeout=2)

    def test_idle_connections_do_not_block_shutdown(self):
        col = self.collector()
        idle = [self.client(col.url("tcp")) for _ in range(5)]
        idle[0].send_lines([make_event(0, "idle")])
        idle[0].wait_ack(1)
        t0 = time.monotonic()
        self.assertEqual(col.stop(), 0)
        self.assertLess(time.monotonic() - t0, scaled(5))
        for c in idle:
            c.wait_eof(scaled(2))
        self.assertEqual([event_key(l) for l in harness.read_sink_lines(col.sink_path)], ["idle-000000"])

    def test_restart_resumes_without_duplicates(self):
        col = self.collector()
        sent = []
        for run in range(3):
            lines = [make_event(i, "rs%d" % run) for i in range(700)]
            r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in lines))
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
            sent += lines
            self.assertEqual(col.stop(), 0)
            got = harness.read_sink_lines(col.sink_path)
            self.assertEqual([event_key(l) for l in got], [event_key(l) for l in sent],
                             "sink after clean stop #%d" % (run + 1))
            col.start()
        # a restart with nothing new ships nothing again
        time.sleep(0.5)
        self.assertEqual(col.stop(), 0)
        self.assertEqual(len(harness.read_sink_lines(col.sink_path)), len(sent))
        self.assertEqual(harness.spool_count(col.spool), len(sent))
        cursors = harness.spool_query(col.spool, "SELECT sink, seq FROM sink_cursors")
        self.assertEqual(len(cursors), 1, cursors)
        self.assertEqual(cursors[0][1], harness.spool_query(col.spool, "SELECT max(seq) FROM events")[0][0])

    def cursor(self, col):
        rows = harness.spool_query(col.spool, "SELECT seq FROM sink_cursors")
        return rows[0][0] if rows else 0

    def test_cursor_waits_to_share_a_commit(self):
        """cursor_commit_ms: a sink's progress alone waits (here 3 s) for events to share their commit; the next
        event's commit carries it at once; shutdown stores it; after kill -9 inside the wait the sink sends the
        events again (the same seq and uid: at least once, never lost)."""
        col = self.collector(args=["--cursor-commit-ms", "3000"])
        c = self.client(col.url("tcp"))
        c.send_lines([make_event(0, "cc")])
        c.wait_ack(1, scaled(5))
        harness.wait_sink_lines(col.sink_path, 1, scaled(5))
        time.sleep(0.3)
        self.assertEqual(self.cursor(col), 0, "progress alone was committed at once")
        c.send_lines([make_event(1, "cc")])  # its commit carries the first event's progress
        c.wait_ack(2, scaled(5))
        harness.wait_until(lambda: self.cursor(col) >= 1, scaled(2), what="cursor carried by the next commit")
        harness.wait_sink_lines(col.sink_path, 2, scaled(5))
        harness.wait_until(lambda: self.cursor(col) == 2, scaled(3) + 3, what="cursor stored after the wait")
        c.send_lines([make_event(2, "cc")])
        c.wait_ack(3, scaled(5))
        harness.wait_sink_lines(col.sink_path, 3, scaled(5))
        self.assertEqual(self.cursor(col), 2)
        col.kill9()  # progress of event 3 not stored yet: it is sent again after the restart
        col.start()
        harness.wait_sink_lines(col.sink_path, 4, scaled(5))
        lines = harness.read_sink_lines(col.sink_path)
        self.assertEqual([event_key(l) for l in lines[2:]], [event_key(lines[2])] * 2, "event 3 sent again")
        self.assertEqual(lines[2], lines[3], "a resent event is the same event (seq, uid)")
        self.assertEqual(col.stop(), 0)  # shutdown stores the progress it held
        self.assertEqual(self.cursor(col), 3)

    def test_restart_with_a_new_sink_keeps_the_old_cursor(self):
        """The first sink's cursor survives a restart that adds a second sink: no re-delivery to the first."""
        col = self.collector()
        lines = [make_event(i, "ns") for i in range(100)]
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in lines))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.assertEqual(col.stop(), 0)
        second = col.sink_path + ".second"
        col.sinks.append("file://" + second)
        col.start()
        more = [make_event(i, "ns2") for i in range(10)]
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in more))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.assertEqual(col.stop(), 0)
        first = [event_key(l) for l in harness.read_sink_lines(col.sink_path)]
        self.assertEqual(first, [event_key(l) for l in lines + more])
        got2 = [event_key(l) for l in harness.read_sink_lines(second)]
        self.assertTrue(set(event_key(l) for l in more) <= set(got2), got2[-10:])
        self.assertEqual(len(got2), len(set(got2)))

    def test_sighup_keeps_serving(self):
        col = self.collector()
        c = self.client(col.url("tcp"))
        total = 0
        for round_ in range(3):
            col.send_signal(signal.SIGHUP)
            c.send_lines([make_event(total + i, "hup") for i in range(100)])
            total += 100
            c.wait_ack(total, scaled(5))
            self.assertTrue(col.running(), "SIGHUP killed the daemon")
        for _ in range(5):  # a burst of reloads
            col.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        self.assertTrue(col.running())
        c.send_lines([make_event(total, "hup")])
        c.wait_ack(total + 1, scaled(5))
        self.assertFalse(c.eof, "SIGHUP closed client connections")
        new = self.client(col.url("tcp"))
        new.send_lines([make_event(0, "hup-new")])
        new.wait_ack(1)
        lines = harness.wait_sink_lines(col.sink_path, total + 2, scaled(10))
        self.assertEqual(len(lines), total + 2)
        c.half_close()
        c.wait_eof()
        self.assertEqual(col.stop(), 0)


if __name__ == "__main__":
    harness.main()
