"""The data path end to end: emitter -> listener (tcp, unix) -> spool -> file sink (plain, gzip).

Each test starts its own daemon; events carry unique ids so order and completeness can be checked line by line.
While the spool body is the line as received, the sink must hold the sent lines byte for byte; once the
normalizer produces OCSF bodies, the sink must still equal the spool bodies byte for byte, in acked order.
"""

import json
import os
import socket
import threading

import harness
from harness import make_event, event_key, scaled


class BasicTest(harness.CollectorTestCase):

    def assert_sink_is(self, col, sent, sink_lines):
        """The sink holds exactly `sent` in order: the same bytes as the spool bodies, which are the sent lines
        themselves until normalization lands."""
        bodies = harness.spool_bodies(col.spool)
        self.assertEqual(len(sink_lines), len(sent), "sink line count")
        self.assertEqual(len(bodies), len(sent), "events table row count")
        self.assertEqual(sink_lines, bodies, "sink lines differ from spool bodies (seq order)")
        if any(harness.is_normalized(b) for b in bodies[:1]):
            self.assertEqual([event_key(b) for b in sink_lines], [event_key(s) for s in sent])
        else:
            for i, (got, want) in enumerate(zip(sink_lines, sent)):
                self.assertEqual(got, want, "sink line %d is not the sent line byte for byte" % (i + 1))

    def test_tcp_emit_stdin(self):
        col = self.collector()
        n = 500
        sent = [make_event(i, "tcp") for i in range(n)]
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in sent))
        self.assertEqual(r.returncode, 0, "ocsf-emit --ack failed: %s" % r.stderr.decode(errors="replace"))
        lines = harness.wait_sink_lines(col.sink_path, n, scaled(10))
        self.assertEqual(harness.spool_count(col.spool), n)
        self.assertEqual(harness.spool_count(col.spool, "dead_letters"), 0)
        self.assert_sink_is(col, sent, lines)

    def test_stdin_without_final_newline_and_crlf(self):
        col = self.collector()
        sent = [make_event(i, "nl") for i in range(3)]
        data = sent[0] + b"\r\n" + sent[1] + b"\n" + sent[2]  # CR tolerated, last newline added by ocsf-emit
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=data)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        lines = harness.wait_sink_lines(col.sink_path, 3, scaled(10))
        self.assertEqual([event_key(l) for l in lines], [event_key(s) for s in sent])

    def test_unix_emit_type(self):
        sock_path = os.path.join(self.tmp, "ingest.sock")
        col = self.collector(listen=["unix://" + sock_path])
        self.assertEqual(col.urls, ["unix://" + sock_path])
        self.assertTrue(os.path.exists(sock_path))
        r = harness.run_emit(["--to", "unix://" + sock_path, "--ack", "--type", "tool.exec",
                              "user=alice@corp.example", "workspace=ws-alice", "id=typed-1",
                              "pid:=4242", "flags:={\"a\":[1,2]}"])
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        lines = harness.wait_sink_lines(col.sink_path, 1, scaled(10))
        self.assertEqual(len(lines), 1)
        body = harness.spool_bodies(col.spool)
        self.assertEqual(lines, body)
        if not harness.is_normalized(lines[0]):
            ev = json.loads(lines[0])
            self.assertEqual(ev, {"type": "tool.exec", "user": "alice@corp.example", "workspace": "ws-alice",
                                  "id": "typed-1", "pid": 4242, "flags": {"a": [1, 2]}})
        self.assertEqual(harness.spool_query(col.spool, "SELECT type, user, workspace FROM events"),
                         [("tool.exec", "alice@corp.example", "ws-alice")])

    def test_gzip_sink(self):
        gz_path = os.path.join(self.tmp, "events.ndjson.gz")
        col = self.collector(sinks=["file://" + gz_path + "?gzip=1"])
        sent = []
        for batch in range(3):  # three emitter runs, so the sink is flushed (a member written) more than once
            lines = [make_event(batch * 1000 + i, "gz") for i in range(200)]
            r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in lines))
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
            sent += lines
        self.assertEqual(col.stop(), 0)
        got = harness.read_sink_lines(gz_path, gz=True)
        self.assertFalse(os.path.exists(col.sink_path))
        self.assert_sink_is(col, sent, got)
        # Restart appends new gzip members to the same file; python's gzip reads all members.
        col.start()
        more = [make_event(i, "gz2") for i in range(50)]
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in more))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.assertEqual(col.stop(), 0)
        self.assert_sink_is(col, sent + more, harness.read_sink_lines(gz_path, gz=True))

    def test_two_connections_at_once(self):
        col = self.collector()
        a = self.client(col.url("tcp"))
        b = self.client(col.url("tcp"))
        sent_a, sent_b = [], []
        for i in range(300):  # interleave lines of the two connections
            la, lb = make_event(i, "conn-a"), make_event(i, "conn-b")
            a.send_lines([la])
            b.send_lines([lb])
            sent_a.append(la)
            sent_b.append(lb)
        a.wait_ack(300)
        b.wait_ack(300)
        a.half_close()
        b.half_close()
        a.wait_eof()
        b.wait_eof()
        self.assertEqual(a.acks[-1], 300)
        self.assertEqual(b.acks[-1], 300)
        self.assertEqual(a.errors + b.errors, [])
        lines = harness.wait_sink_lines(col.sink_path, 600, scaled(10))
        self.assertEqual(len(lines), 600)
        keys = [event_key(l) for l in lines]
        # each connection's events keep their order; nothing lost or doubled
        self.assertEqual([k for k in keys if k.startswith("conn-a")], [event_key(l) for l in sent_a])
        self.assertEqual([k for k in keys if k.startswith("conn-b")], [event_key(l) for l in sent_b])

    def test_concurrent_emitters(self):
        col = self.collector()
        results = {}

        def emit(tag):
            lines = [make_event(i, tag) for i in range(400)]
            results[tag] = harness.run_emit(["--to", col.url("tcp"), "--ack", "--quiet"],
                                            input=b"".join(l + b"\n" for l in lines))
        threads = [threading.Thread(target=emit, args=("em%d" % k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for tag, r in sorted(results.items()):
            self.assertEqual(r.returncode, 0, "%s: %s" % (tag, r.stderr.decode(errors="replace")))
        lines = harness.wait_sink_lines(col.sink_path, 1600, scaled(10))
        keys = [event_key(l) for l in lines]
        self.assertEqual(len(keys), 1600)
        for k in range(4):
            tag = "em%d" % k
            self.assertEqual([x for x in keys if x.startswith(tag + "-")], ["%s-%06d" % (tag, i) for i in range(400)])

    def test_listen_twice(self):
        sock_path = os.path.join(self.tmp, "ingest.sock")
        col = self.collector(listen=["tcp://127.0.0.1:0", "unix://" + sock_path, "tcp://127.0.0.1:0"])
        self.assertEqual(len(col.urls), 3, col.urls)
        self.assertNotEqual(col.tcp_port(0), col.tcp_port(1))
        total = 0
        for url in (col.url("tcp", 0), col.url("unix"), col.url("tcp", 1)):
            lines = [make_event(i, "l%d" % total) for i in range(20)]
            r = harness.run_emit(["--to", url, "--ack"], input=b"".join(l + b"\n" for l in lines))
            self.assertEqual(r.returncode, 0, "%s: %s" % (url, r.stderr.decode(errors="replace")))
            total += 1
        lines = harness.wait_sink_lines(col.sink_path, 60, scaled(10))
        self.assertEqual(sorted(event_key(l) for l in lines),
                         sorted("l%d-%06d" % (k, i) for k in range(3) for i in range(20)))

    def test_port0_log_line(self):
        col = self.collector(listen=["tcp://127.0.0.1:0"])
        listening = [l for l in col.run_lines if harness.LISTEN_RE.search(l)]
        self.assertEqual(len(listening), 1, col.log())
        # "<RFC 3339 UTC time with ms> INFO listening on tcp://127.0.0.1:<port>"
        self.assertRegex(listening[0],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO listening on tcp://127\.0\.0\.1:\d+$")
        port = col.tcp_port()
        self.assertGreater(port, 0)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.close()
        ready = [i for i, l in enumerate(col.run_lines) if harness.READY_RE.search(l)]
        self.assertTrue(ready and ready[0] > col.run_lines.index(listening[0]), "ready must follow listening")


if __name__ == "__main__":
    harness.main()
