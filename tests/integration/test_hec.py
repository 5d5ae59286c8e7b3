"""Integration tests of the Splunk HEC sink (sinks/sink_hec.c) against hec_server.py (HTTPS, a test CA).

Covers: batch shape and fields (event = the spooled OCSF JSON, time from the event time with milliseconds, host,
source, sourcetype ocsf:<class_name>, index), gzip bodies, batch limits, the token from a file and from the
environment (never the URL), TLS verification on by default, injected 503s and slow answers (retried with backoff,
nothing lost, ingest and a second sink unaffected), a 400 on one event (found by invalid-event-number and by
bisection; a dead letter with Splunk's reason), a 401 (the sink stops, no retry loop), and indexer acknowledgement
(the cursor waits for the ack).
"""

import json
import os
import time

import harness
from harness import make_event, scaled
from hec_server import HecServer, event_key
from syslog_rsyslog import make_certs

TOKEN = "8d1b1f0e-5a52-4d3e-9a44-0c5d3b1e7f21"


def spool_rows(path):
    rows = harness.spool_query(path, "SELECT seq, body, received_ms, event_ms FROM events ORDER BY seq")
    return [dict(zip(("seq", "body", "received_ms", "event_ms"), r)) for r in rows]


def cursor(path):
    rows = harness.spool_query(path, "SELECT seq FROM sink_cursors WHERE sink LIKE 'hec%'")
    return rows[0][0] if rows else 0


def mixed_events(n, prefix):
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(make_event(i, prefix))
        elif i % 3 == 1:
            out.append(make_event(i, prefix, type="broker.session.open", src_ip="10.0.0.%d" % (i % 250)))
        else:
            out.append(make_event(i, prefix, type="workspace.kill", severity="high"))
    return out


class HecTest(harness.CollectorTestCase):

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.certdir = make_certs(tempfile.mkdtemp(prefix="ocsf-hec-certs-"))

    def setUp(self):
        super().setUp()
        self.servers = []
        self.token_file = os.path.join(self.tmp, "hec.token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")

    def tearDown(self):
        for s in self.servers:
            s.stop()
        super().tearDown()

    def server(self, token=TOKEN, tls=True, **kw):
        c = self.certdir
        s = HecServer(token, cert=c + "/server.pem" if tls else None, key=c + "/server.key" if tls else None, **kw)
        self.servers.append(s)
        return s.start()

    def url(self, srv, extra="", tls=True):
        if tls:
            return ("hec+https://127.0.0.1:%d?token_file=%s&ca_file=%s/ca.pem&index=audit&host=collector-1%s"
                    % (srv.port, self.token_file, self.certdir, extra))
        return "hec+http://127.0.0.1:%d?token_file=%s&host=collector-1%s" % (srv.port, self.token_file, extra)

    def emit(self, col, lines):
        r = harness.run_emit(["--to", col.url("tcp"), "--ack", "--quiet"], input=b"".join(l + b"\n" for l in lines))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    def wait_cursor(self, col, timeout):
        last = harness.spool_query(col.spool, "SELECT max(seq) FROM events")[0][0]
        harness.wait_until(lambda: cursor(col.spool) >= last, timeout, what="HEC cursor at %s" % last)
        return spool_rows(col.spool)

    def check_events(self, rows, events, exactly_once=True):
        """The server's events against the spool rows: the OCSF JSON, time, sourcetype, host, source, index."""
        by_key = {}
        for r in rows:
            by_key[event_key(json.loads(r["body"]))] = r
        got = [event_key(e["event"]) for e in events]
        self.assertEqual(set(got), set(by_key), "the HEC holds exactly the spooled events")
        if exactly_once:
            self.assertEqual(got, [event_key(json.loads(r["body"])) for r in rows], "once each, in seq order")
        for e in events:
            r = by_key[event_key(e["event"])]
            body = json.loads(r["body"])
            self.assertEqual(e["event"], body)
            t = r["event_ms"] if r["event_ms"] is not None and r["event_ms"] >= 0 else r["received_ms"]
            self.assertAlmostEqual(e["time"], t / 1000.0, places=3)
            self.assertEqual(e["sourcetype"], "ocsf:" + body.get("class_name", "unknown").lower().replace(" ", "_"))
            self.assertEqual(e["host"], "collector-1")
            self.assertEqual(e["source"], "ocsf-collector")

    def test_batches_fields_gzip(self):
        srv = self.server()
        col = self.collector(sinks=[self.url(srv, "&max_batch_events=40")])
        self.emit(col, mixed_events(300, "hec"))
        rows = self.wait_cursor(col, scaled(20))
        self.assertEqual(len(rows), 300)
        self.check_events(rows, srv.events)
        self.assertEqual({e["index"] for e in srv.events}, {"audit"})
        self.assertEqual({e["sourcetype"] for e in srv.events},
                         {"ocsf:entity_management", "ocsf:authentication"})
        posts = [r for r in srv.requests if r["path"].startswith("/services/collector/event")]
        self.assertTrue(all(r["gzip"] for r in posts), "every body gzip")
        self.assertTrue(all(r["events"] <= 40 for r in posts))
        self.assertGreater(max(r["events"] for r in posts), 1, "batches, not one event per POST")
        self.assertEqual(harness.spool_count(col.spool, "dead_letters"), 0)

    def test_batch_bytes_limit_and_token_env(self):
        srv = self.server(tls=False)
        url = "hec+http://127.0.0.1:%d?token_env=OCSF_TEST_HEC_TOKEN&host=collector-1&max_batch_bytes=8192" % srv.port
        col = self.collector(sinks=[url], env={"OCSF_TEST_HEC_TOKEN": TOKEN})
        self.emit(col, [make_event(i, "bytes", pad=1500) for i in range(60)])
        rows = self.wait_cursor(col, scaled(20))
        self.check_events(rows, srv.events)
        posts = [r for r in srv.requests if r["events"]]
        self.assertTrue(all(r["events"] <= 4 for r in posts), [r["events"] for r in posts])  # ~2 KiB each
        self.assertTrue(any("plain http" in l for l in col.run_lines))

    def test_stored_as_received(self):
        srv = self.server()
        col = self.collector(sinks=[self.url(srv)], args=["--normalize", "off"])
        self.emit(col, [make_event(i, "raw") for i in range(30)])
        rows = self.wait_cursor(col, scaled(20))
        self.check_events(rows, srv.events)
        self.assertEqual({e["sourcetype"] for e in srv.events}, {"ocsf:unknown"})

    def test_503_and_slow_answers(self):
        """503s and answers slower than timeout_ms are retried with backoff; nothing is lost; ingest and the file
        sink go on meanwhile."""
        srv = self.server()
        srv.state.fail_503 = 3
        srv.state.delay_first = 2
        srv.state.delay_first_s = 2.0
        srv.state.delay_s = 0.05
        file_sink = os.path.join(self.tmp, "events.ndjson")
        col = self.collector(sinks=[self.url(srv, "&timeout_ms=1000&max_batch_events=100"), "file://" + file_sink])
        t0 = time.monotonic()
        self.emit(col, mixed_events(500, "slow"))
        lines = harness.wait_sink_lines(file_sink, 500, scaled(10))
        self.assertEqual(len(lines), 500)
        rows = self.wait_cursor(col, scaled(40))
        self.assertGreater(time.monotonic() - t0, 1.0)
        self.check_events(rows, srv.events, exactly_once=False)
        statuses = [r["status"] for r in srv.requests]
        self.assertEqual(statuses.count(503), 3)
        self.assertTrue(any("retrying from seq" in l for l in col.run_lines), col.log())
        self.assertTrue(any("timed out" in l.lower() or "timeout" in l.lower() for l in col.run_lines), col.log())
        self.assertEqual(harness.spool_count(col.spool, "dead_letters"), 0)

    def check_one_rejected(self, report_index):
        srv = self.server()
        srv.state.report_index = report_index
        bad = "bad%d-%06d" % (report_index, 77)
        srv.state.reject_keys = {bad}
        col = self.collector(sinks=[self.url(srv, "&max_batch_events=64")])
        sent = mixed_events(200, "bad%d" % report_index)
        self.emit(col, sent)
        rows = self.wait_cursor(col, scaled(20))
        dls = harness.spool_dead_letters(col.spool)
        self.assertEqual(len(dls), 1, dls)
        bad_row = [r for r in rows if event_key(json.loads(r["body"])) == bad][0]
        self.assertIn("seq %d" % bad_row["seq"], dls[0]["reason"])
        self.assertIn("HEC answered 400: Invalid data format (code 6)", dls[0]["reason"])
        got = [event_key(e["event"]) for e in srv.events]
        self.assertNotIn(bad, got)
        self.assertEqual(set(got), {event_key(json.loads(r["body"])) for r in rows} - {bad})
        return srv, got

    def test_400_one_event_invalid_event_number(self):
        srv, got = self.check_one_rejected(True)
        self.assertEqual([r["status"] for r in srv.requests].count(400), 1, "the number named the event")

    def test_400_one_event_bisect(self):
        srv, got = self.check_one_rejected(False)
        self.assertEqual(len(got), len(set(got)), "bisection resends only rejected batches")
        n400 = [r["status"] for r in srv.requests].count(400)
        self.assertTrue(2 <= n400 <= 8, n400)  # log2(64) halvings at most

    def test_401_stops_the_sink(self):
        srv = self.server(token="another-token")
        file_sink = os.path.join(self.tmp, "events.ndjson")
        col = self.collector(sinks=[self.url(srv), "file://" + file_sink])
        self.emit(col, mixed_events(50, "unauth"))
        col.wait_log(r"stopped: HEC answered 401 \(Invalid authorization, code 3\): the token from token_file=%s"
                     % self.token_file, scaled(10))
        time.sleep(1.5)
        self.assertEqual(srv.state.n_requests, 1, "no retry loop after a 401")
        self.assertEqual(len(harness.wait_sink_lines(file_sink, 50, scaled(10))), 50)
        self.emit(col, mixed_events(10, "unauth2"))  # ingest goes on
        self.assertEqual(cursor(col.spool), 0)
        self.assertEqual(col.stop(), 0)

    def test_token_in_url_refused(self):
        r = harness.run_collector(["--listen", "tcp://127.0.0.1:0", "--spool", os.path.join(self.tmp, "s.db"),
                                   "--sink", "hec+https://127.0.0.1:1?token=abc"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("token= in the URL is refused", r.stderr)
        self.assertIn("token_file=PATH or token_env=VAR", r.stderr)

    def test_tls_verification_on_by_default(self):
        srv = self.server()
        url = "hec+https://127.0.0.1:%d?token_file=%s" % (srv.port, self.token_file)  # no ca_file: system store
        col = self.collector(sinks=[url])
        self.emit(col, mixed_events(5, "tlsv"))
        col.wait_log(r"WARN sink hec\+https://.*(certificate|SSL)", scaled(10))
        self.assertEqual(srv.state.events, [])
        self.assertEqual(cursor(col.spool), 0)

    def test_indexer_ack(self):
        srv = self.server(ack=True)
        srv.state.hold_acks = True
        col = self.collector(sinks=[self.url(srv, "&ack=1&ack_poll_ms=100&max_batch_events=50")])
        self.emit(col, mixed_events(200, "ack"))
        harness.wait_until(lambda: len(srv.state.events) >= 200, scaled(10), what="the HEC to receive 200")
        harness.wait_until(lambda: any(r["path"].startswith("/services/collector/ack") for r in srv.requests),
                           scaled(5), what="an ack query")
        time.sleep(0.5)
        self.assertEqual(cursor(col.spool), 0, "no ack, no cursor")
        srv.state.hold_acks = False
        rows = self.wait_cursor(col, scaled(10))
        self.check_events(rows, srv.events)

    def test_indexer_ack_timeout_resends(self):
        srv = self.server(ack=True)
        srv.state.hold_acks = True
        col = self.collector(sinks=[self.url(srv, "&ack=1&ack_poll_ms=100&ack_timeout_ms=800")])
        self.emit(col, mixed_events(20, "acktmo"))
        col.wait_log(r"not acknowledged within 800 ms", scaled(10))
        harness.wait_until(lambda: len(srv.state.events) >= 40, scaled(10), what="the batch sent again")
        srv.state.hold_acks = False
        rows = self.wait_cursor(col, scaled(15))
        self.check_events(rows, srv.events, exactly_once=False)


if __name__ == "__main__":
    harness.main()
