"""Hostile and broken input: every rejected line becomes a dead letter with its reason, gets an error reply with
its 1-based line number, is counted in the acks, and does not disturb the next line on the same connection,
other connections, or the daemon's memory.

Each case sends  good line 1, BAD line 2, good line 3  on one connection, half-closes, and reads to EOF.
"""

import os
import socket
import threading
import time

import harness
from harness import make_event, event_key, scaled

MAX_EVENT_BYTES = 65536  # small, yet large enough for the 10,000-deep object (60 kB) to reach the parser


class BadInputTest(harness.CollectorTestCase):

    def setUp(self):
        super().setUp()
        env = None
        if harness.SANITIZE:
            # ASan's quarantine keeps freed read buffers resident, which would look like growth in the RSS check.
            env = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4").lstrip(":")}
        self.col = self.collector(args=["--max-event-bytes", str(MAX_EVENT_BYTES)], env=env)
        # A second client that keeps working while the bad input arrives.
        self.other = self.client(self.col.url("tcp"))
        self.other_sent = 0

    def other_client_works(self, tag):
        """The concurrent client gets a good line acked, promptly."""
        self.other_sent += 1
        self.other.send_lines([make_event(self.other_sent, "other-" + tag)])
        self.other.wait_ack(self.other_sent, scaled(5))

    def run_case(self, tag, bad, reason, raw_check="exact"):
        """Sends good/bad/good; checks the replies, the dead letter, the stored events; returns the dead letter."""
        good1, good3 = make_event(1, tag), make_event(3, tag)
        c = self.client(self.col.url("tcp"))
        c.send(good1 + b"\n")
        c.send(bad)
        self.other_client_works(tag)
        c.send(b"\n" + good3 + b"\n")
        c.half_close()
        c.wait_eof(scaled(20))
        self.assertEqual(c.last_ack, 3, "acks must count every line, the rejected one too: %s" % c.acks[-5:])
        self.assertEqual(len(c.errors), 1, "error replies: %s" % c.errors)
        line, why = c.errors[0]
        self.assertEqual(line, 2, "error reply names line %r, the bad line is 2" % line)
        self.assertIn(reason, why)
        self.assertEqual(c.other, [], "unexpected replies")
        self.assertTrue(self.col.running())
        self.other_client_works(tag + "-after")

        letters = [d for d in harness.spool_dead_letters(self.col.spool) if reason in d["reason"]]
        self.assertEqual(len(letters), 1, "dead letters with %r: %s" % (reason, letters))
        d = letters[0]
        self.assertEqual(d["line"], 2)
        self.assertEqual(d["raw_len"], len(bad))
        if raw_check == "exact":
            self.assertIn(d["raw"], (bad, bad + b"\n"), "raw is not the rejected line's bytes")
        elif raw_check == "prefix":
            self.assertGreater(len(d["raw"]), 0)
            self.assertLessEqual(len(d["raw"]), MAX_EVENT_BYTES + 1)
            self.assertEqual(d["raw"], bad[:len(d["raw"])], "raw is not a prefix of the rejected line")
        self.assertTrue(d["listener"] and "tcp://127.0.0.1:" in d["listener"], d["listener"])
        self.assertTrue(d["peer"] and "127.0.0.1" in d["peer"], d["peer"])

        keys = [event_key(b) for b in harness.spool_bodies(self.col.spool)]
        self.assertIn(event_key(good1), keys)
        self.assertIn(event_key(good3), keys, "the good line after the bad one was not stored")
        self.assertLess(keys.index(event_key(good1)), keys.index(event_key(good3)))
        self.assertEqual(len([k for k in keys if k is None]), 0, "an event without an id was stored")
        return d

    def test_not_json(self):
        self.run_case("notjson", b"this is {not json", "invalid JSON")

    def test_truncated_json(self):
        self.run_case("cut", b'{"type":"x","a":', "invalid JSON")

    def test_array_is_not_an_object(self):
        self.run_case("array", b'[{"type":"workspace.start"}]', "not a JSON object")

    def test_number_is_not_an_object(self):
        self.run_case("number", b"42", "not a JSON object")

    def test_invalid_utf8(self):
        self.run_case("utf8", b'{"type":"workspace.start","user":"al\xff\xfece"}', "invalid UTF-8")

    def test_overlong_utf8(self):
        self.run_case("utf8b", b'{"type":"workspace.start","user":"\xc0\xafetc"}', "invalid UTF-8")

    def test_nul_byte(self):
        self.run_case("nul", b'{"type":"workspace.start","user":"al\x00ice"}', "NUL byte")

    def test_line_over_max_event_bytes(self):
        bad = b'{"type":"workspace.start","note":"' + b"y" * (MAX_EVENT_BYTES * 2) + b'"}'
        self.run_case("big", bad, "exceeds max_event_bytes", raw_check="prefix")

    def test_line_exactly_max_event_bytes_is_accepted(self):
        ev = make_event(7, "edge")
        line = ev[:-1] + b',"pad":"' + b"p" * (MAX_EVENT_BYTES - len(ev) - 9) + b'"}'
        self.assertEqual(len(line), MAX_EVENT_BYTES)
        c = self.client(self.col.url("tcp"))
        c.send_lines([line])
        c.half_close()
        c.wait_eof()
        self.assertEqual((c.last_ack, c.errors), (1, []))
        self.assertIn("edge-000007", [event_key(b) for b in harness.spool_bodies(self.col.spool)])

    def test_ten_megabytes_without_newline(self):
        """10 MB in one line: rejected whole, only a prefix kept, the memory stays bounded, and the daemon goes on
        at the next newline; another client is served while the big line streams in."""
        self.other_client_works("warmup")
        rss_before = harness.rss_kb(self.col.pid)
        size = 10 * 1024 * 1024
        bad = b'{"type":"workspace.start","note":"' + b"z" * (size - 36) + b'"}'
        self.assertEqual(len(bad), size)
        good1, good3 = make_event(1, "huge"), make_event(3, "huge")
        c = self.client(self.col.url("tcp"))
        c.send(good1 + b"\n")
        chunk = 256 * 1024
        for off in range(0, size, chunk):
            c.send(bad[off:off + chunk])
            if off == size // 2:
                self.other_client_works("during")  # served while the big line is half-way in
        rss_peak = harness.rss_kb(self.col.pid)
        c.send(b"\n" + good3 + b"\n")
        c.half_close()
        c.wait_eof(scaled(30))
        self.assertEqual(c.last_ack, 3, c.acks[-5:])
        self.assertEqual(len(c.errors), 1, c.errors)
        self.assertEqual(c.errors[0][0], 2)
        self.assertIn("exceeds max_event_bytes", c.errors[0][1])
        rss_after = harness.rss_kb(self.col.pid)
        grown = max(rss_peak, rss_after) - rss_before
        self.assertLess(grown, 8 * 1024, "RSS grew by %d kB while a 10 MB line streamed (before %d, peak %d, "
                                         "after %d kB): the line is being buffered" % (grown, rss_before,
                                                                                       rss_peak, rss_after))
        d = [d for d in harness.spool_dead_letters(self.col.spool) if "exceeds max_event_bytes" in d["reason"]]
        self.assertEqual(len(d), 1, d)
        self.assertEqual(d[0]["raw_len"], size)
        self.assertLessEqual(len(d[0]["raw"]), MAX_EVENT_BYTES + 1)
        self.assertEqual(d[0]["raw"], bad[:len(d[0]["raw"])])
        keys = [event_key(b) for b in harness.spool_bodies(self.col.spool)]
        self.assertIn("huge-000001", keys)
        self.assertIn("huge-000003", keys)
        self.other_client_works("after")

    def test_deep_nesting(self):
        depth = 10000
        bad = b'{"a":' * depth + b"1" + b"}" * depth
        self.assertLess(len(bad), MAX_EVENT_BYTES)
        self.run_case("deep", bad, "nesting deeper than")

    def test_deep_array_nesting(self):
        depth = 10000
        bad = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
        self.run_case("deeparr", bad, "nesting deeper than")

    def test_many_bad_lines_in_a_row(self):
        c = self.client(self.col.url("tcp"))
        lines = []
        for i in range(1, 201):
            lines.append(make_event(i, "mix") if i % 2 else b"nope %d" % i)
        c.send_lines(lines)
        c.half_close()
        c.wait_eof(scaled(20))
        self.assertEqual(c.last_ack, 200)
        self.assertEqual([e[0] for e in c.errors], list(range(2, 201, 2)))
        self.assertTrue(all("invalid JSON" in e[1] for e in c.errors), c.errors[:3])
        keys = [event_key(b) for b in harness.spool_bodies(self.col.spool)]
        self.assertEqual([k for k in keys if k.startswith("mix-")], ["mix-%06d" % i for i in range(1, 201, 2)])
        self.assertEqual(harness.spool_count(self.col.spool, "dead_letters"), 100)

    def test_half_close_mid_line(self):
        """The client half-closes inside line 2: the partial line is a dead letter ('truncated'), counted in
        the final ack."""
        c = self.client(self.col.url("tcp"))
        good1 = make_event(1, "halfcut")
        partial = b'{"type":"workspace.start","id":"halfcut-2"'
        c.send(good1 + b"\n" + partial)
        c.half_close()
        c.wait_eof(scaled(10))
        self.assertEqual(c.last_ack, 2, c.acks)
        self.assertEqual([e[0] for e in c.errors], [2], c.errors)
        self.assertIn("truncated", c.errors[0][1])
        d = [d for d in harness.spool_dead_letters(self.col.spool) if "truncated" in d["reason"]]
        self.assertEqual(len(d), 1, d)
        self.assertEqual(d[0]["raw"], partial)
        self.assertEqual(d[0]["raw_len"], len(partial))
        self.assertEqual(d[0]["line"], 2)
        self.other_client_works("halfcut")

    def test_disconnect_mid_line(self):
        """The client closes the socket entirely inside line 3: lines 1-2 are stored, line 3 is a dead letter."""
        s = harness.connect_url(self.col.url("tcp"))
        partial = b'{"type":"workspace.start","id":"gone-3","note":"' + b"q" * 1000
        s.sendall(make_event(1, "gone") + b"\n" + make_event(2, "gone") + b"\n" + partial)
        time.sleep(0.2)
        s.close()

        def dead_letter():
            return [d for d in harness.spool_dead_letters(self.col.spool) if "truncated" in d["reason"]]
        d = harness.wait_until(dead_letter, scaled(10), what="a 'truncated' dead letter")
        self.assertEqual(len(d), 1, d)
        self.assertEqual(d[0]["line"], 3)
        self.assertEqual(d[0]["raw"], partial)
        self.assertEqual(d[0]["raw_len"], len(partial))
        keys = [event_key(b) for b in harness.spool_bodies(self.col.spool)]
        self.assertIn("gone-000001", keys)
        self.assertIn("gone-000002", keys)
        self.other_client_works("gone")

    def test_reset_mid_line(self):
        """An abortive close (RST) inside a line is handled like a disconnect."""
        s = harness.connect_url(self.col.url("tcp"))
        s.sendall(make_event(1, "rst") + b"\n" + b'{"type":"workspace.st')
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        harness.wait_until(lambda: [d for d in harness.spool_dead_letters(self.col.spool)
                                    if "truncated" in d["reason"]], scaled(10), what="a 'truncated' dead letter")
        self.assertIn("rst-000001", [event_key(b) for b in harness.spool_bodies(self.col.spool)])
        self.other_client_works("rst")

    def test_bad_input_on_many_connections_at_once(self):
        """Several clients send garbage concurrently while one sends good events; all are answered."""
        url = self.col.url("tcp")
        errors = []

        def garbage(k):
            try:
                c = harness.Client(url)
                c.send_lines([b"\xff\xfe garbage %d" % i for i in range(300)])
                c.half_close()
                c.wait_eof(scaled(20))
                if c.last_ack != 300 or len(c.errors) != 300:
                    errors.append("garbage client %d: ack %s, %d errors" % (k, c.last_ack, len(c.errors)))
                c.close()
            except Exception as e:  # reported below
                errors.append("garbage client %d: %r" % (k, e))
        threads = [threading.Thread(target=garbage, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        good = self.client(url)
        good.send_lines([make_event(i, "amid") for i in range(500)])
        good.wait_ack(500, scaled(10))
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(harness.spool_count(self.col.spool, "dead_letters"), 1200)


if __name__ == "__main__":
    harness.main()
