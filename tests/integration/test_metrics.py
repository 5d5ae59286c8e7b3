"""The metrics file (collector/metrics.h): Prometheus text format, replaced whole every metrics_interval_ms and
once more at shutdown. Checks every line's syntax (HELP/TYPE before the samples of a metric), that the counters
equal what the test sent (events, dead letters by cause: unknown type, type not allowed, unparsable), sink
cursor and lag, open connections, mapping reloads; that a reader never sees a partial file while the collector
rewrites it under load; and that a metrics path the collector cannot write stops it at start with the path named.
"""

import json
import os
import re
import signal
import socket
import threading

import harness
from harness import make_event, scaled

SAMPLE = re.compile(r'^(ocsf_collector_[a-z_]+)(\{([a-z_]+="(?:[^"\\\n]|\\.)*"(?:,[a-z_]+="(?:[^"\\\n]|\\.)*")*)\})? '
                    r'(-?[0-9]+)$')


def parse(text):
    """{(name, labels): value}; fails on any line that is not a comment or a well-formed sample, on a sample
    whose metric has no TYPE line before it, and on a file that does not end with a newline."""
    assert text.endswith("\n"), "a partial file: %r" % text[-80:]
    typed, out = set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        m = re.match(r"^# TYPE (ocsf_collector_[a-z_]+) (counter|gauge)$", line)
        if m:
            typed.add(m.group(1))
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        assert m.group(1) in typed, "%s before its TYPE line" % m.group(1)
        out[(m.group(1)[len("ocsf_collector_"):], m.group(3) or "")] = int(m.group(4))
    return out


def read_metrics(path):
    with open(path) as f:
        return parse(f.read())


class MetricsTest(harness.CollectorTestCase):

    def test_counters_match_what_was_sent(self):
        path = os.path.join(self.tmp, "metrics", "collector.prom")
        listen = {"url": "tcp://127.0.0.1:0", "allow_types": ["tool.*", "workspace.*", "nosuch.*"]}
        col = self.collector(listen=[], config={"listen": [listen]},
                             args=["--metrics-file", path, "--metrics-interval-ms", "100"])
        sink = 'sink="file://%s"' % col.sink_path
        m = read_metrics(path)  # written at start
        self.assertEqual(m[("events_total", "")], 0)
        self.assertEqual(m[("mapping_entries", "")], 29)

        c = self.client(col.url("tcp"))
        lines = [make_event(i, "m") for i in range(10)]
        lines += [make_event(10, "m", type="nosuch.type"), make_event(11, "m", type="nosuch.other"),
                  b'{"type": "tool.exec", oops', make_event(12, "m", type="broker.session.open", session="s",
                                                           src_ip="10.1.2.3"), b""]
        c.send_lines(lines)
        c.wait_ack(len(lines))
        harness.wait_until(lambda: read_metrics(path).get(("connections_open", "")) == 1, scaled(10),
                           what="the open connection counted")
        c.half_close()  # the collector sends the final ack and closes
        c.wait_eof(scaled(10))

        def settled():
            m = read_metrics(path)
            return (m[("sink_lag_events", sink)] == 0 and m[("sink_cursor_seq", sink)] == 10
                    and m[("connections_open", "")] == 0)

        harness.wait_until(settled, scaled(10), what="the sink caught up and the connection closed")
        m = read_metrics(path)
        want = {"lines_total": 15, "events_total": 10, "dead_letters_total": 4,
                "dead_letters_type_not_allowed_total": 1, "unknown_type_total": 2, "mapped_total": 10,
                "passthrough_total": 0, "invalid_total": 0, "connections_total": 1,
                "connections_refused_total": 0, "spool_committed_seq": 10, "spool_dropped_total": 0,
                "spool_full": 0}
        self.assertEqual({k: m[(k, "")] for k in want}, want)
        self.assertEqual(m[("info", 'version="0.1.0"')], 1)
        self.assertLessEqual(m[("start_time_seconds", "")], m[("metrics_written_timestamp_seconds", "")])

        # a mapping reload is counted
        col.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: read_metrics(path)[("mapping_reloads_total", 'result="ok"')] == 1, scaled(10),
                           what="the reload counted")

        # the final snapshot at shutdown
        self.assertEqual(col.stop(), 0)
        m = read_metrics(path)
        self.assertEqual(m[("sink_cursor_seq", sink)], 10)
        self.assertEqual(m[("events_total", "")], 10)
        self.assertFalse(os.path.exists(path + ".tmp"))

    def test_sink_down(self):
        """A sink that cannot deliver: its errors count up, sink_up is 0 and its lag holds every event, while the
        file sink beside it is up with no lag."""
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        dead = "syslog+tcp://127.0.0.1:%d" % probe.getsockname()[1]
        probe.close()  # nothing listens there now: every connect is refused
        path = os.path.join(self.tmp, "collector.prom")
        col = self.collector(sinks=["file://" + os.path.join(self.tmp, "events.ndjson"), dead],
                             args=["--metrics-file", path, "--metrics-interval-ms", "100",
                                   "--shutdown-timeout-ms", "1000"])
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"],
                             input=b"".join(make_event(i, "down") + b"\n" for i in range(5)))
        self.assertEqual(r.returncode, 0, r.stderr)
        file_sink, down = 'sink="file://%s"' % col.sink_path, 'sink="%s"' % dead

        def seen():
            m = read_metrics(path)
            return m[("sink_errors_total", down)] >= 2 and m[("sink_lag_events", file_sink)] == 0
        harness.wait_until(seen, scaled(10), what="the down sink's errors and the file sink's delivery")
        m = read_metrics(path)
        self.assertEqual(m[("sink_up", down)], 0)
        self.assertEqual(m[("sink_lag_events", down)], 5)
        self.assertEqual(m[("sink_up", file_sink)], 1)
        self.assertEqual(m[("sink_errors_total", file_sink)], 0)

    def test_never_partial_under_load(self):
        path = os.path.join(self.tmp, "collector.prom")
        col = self.collector(args=["--metrics-file", path, "--metrics-interval-ms", "100",
                                   "--normalize", "off"])
        stop = threading.Event()
        seen = []

        def reader():
            while not stop.is_set():
                seen.append(read_metrics(path)[("events_total", "")])

        t = threading.Thread(target=reader)
        t.start()
        try:
            r = harness.run_emit(["--to", col.url("tcp"), "--ack"],
                                 input=b"".join(make_event(i, "load") + b"\n" for i in range(20000)))
            self.assertEqual(r.returncode, 0, r.stderr)
            harness.wait_until(lambda: read_metrics(path)[("events_total", "")] == 20000, scaled(10),
                               what="the last snapshot")
        finally:
            stop.set()
            t.join()
        self.assertGreater(len(seen), 10)
        self.assertEqual(seen, sorted(seen), "a counter went back")

    def test_unwritable_path_refused_at_start(self):
        blocker = os.path.join(self.tmp, "file")
        with open(blocker, "w") as f:
            f.write("x")
        col = self.collector(start=False, args=["--metrics-file", os.path.join(blocker, "m.prom")])
        col.start(wait_ready=False)
        self.assertEqual(col.wait(scaled(10)), 2)
        self.assertRegex(col.log(), r"ERROR metrics file \S+/file/m\.prom: Not a directory \(check that its directory "
                                    r"exists and the collector's user may write there\)")


if __name__ == "__main__":
    harness.main()
