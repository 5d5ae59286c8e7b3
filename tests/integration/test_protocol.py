"""The wire protocol's connection life cycle: half-close, coalesced monotonic acks, clients that never read,
the per-listener connection limit and the idle timeout."""

import json
import os
import select
import socket
import threading
import time

import harness
from harness import make_event, event_key, scaled


class ProtocolTest(harness.CollectorTestCase):

    def test_half_close_final_ack_then_eof(self):
        col = self.collector()
        c = self.client(col.url("tcp"))
        c.send_lines([make_event(i, "hc") for i in range(3)])
        c.half_close()
        c.wait_eof(scaled(5))
        self.assertEqual(c.acks[-1], 3)
        self.assertFalse(c.reset, "connection reset instead of an orderly close")
        self.assertEqual((c.errors, c.other), ([], []))

    def test_half_close_without_lines(self):
        col = self.collector()
        c = self.client(col.url("tcp"))
        c.half_close()
        c.wait_eof(scaled(5))
        self.assertTrue(all(a == 0 for a in c.acks), c.acks)
        self.assertEqual((c.errors, c.other), ([], []))

    def test_unix_half_close(self):
        path = os.path.join(self.tmp, "in.sock")
        col = self.collector(listen=["unix://" + path])
        c = self.client("unix://" + path)
        c.send_lines([make_event(i, "uhc") for i in range(10)])
        c.half_close()
        c.wait_eof(scaled(5))
        self.assertEqual(c.acks[-1], 10)

    def test_acks_coalesced_and_monotonic(self):
        col = self.collector()
        c = self.client(col.url("tcp"))
        total = 20000
        sent_at_ack = []
        sent = 0
        # Send in bursts; an ack may never exceed the lines sent so far.
        for start in range(0, total, 1000):
            c.send_lines([make_event(i, "mono") for i in range(start, start + 1000)])
            sent += 1000
            sent_at_ack.append((len(c.acks), sent))
        c.half_close()
        c.wait_eof(scaled(30))
        acks = list(c.acks)
        self.assertEqual(acks[-1], total)
        self.assertTrue(all(a < b for a, b in zip(acks, acks[1:])),
                        "acks not strictly increasing: %s" % [(a, b) for a, b in zip(acks, acks[1:]) if a >= b][:5])
        self.assertTrue(all(0 <= a <= total for a in acks))
        self.assertLess(len(acks), total, "acks are not coalesced: one reply per line")
        # every ack seen before burst k was sent cannot exceed the lines sent before burst k
        for n_acks, sent_so_far in sent_at_ack:
            if n_acks:
                self.assertLessEqual(acks[n_acks - 1], sent_so_far)
        self.assertEqual(harness.spool_count(col.spool), total)

    def test_client_that_never_reads(self):
        """200k lines from a client with a tiny receive buffer that never reads its acks: all stored, the final
        ack is there when it finally reads, and another client is not stalled meanwhile."""
        col = self.collector()
        total = 200000 // harness.FACTOR
        s = harness.connect_url(col.url("tcp"), rcvbuf=4096)
        payload = b"".join(make_event(i, "deaf") + b"\n" for i in range(total))
        sender_done = threading.Event()
        send_error = []

        def send():
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                send_error.append(e)
            sender_done.set()
        t = threading.Thread(target=send, daemon=True)
        t.start()
        # meanwhile another client gets prompt acks, several times
        other = self.client(col.url("tcp"))
        latencies = []
        for k in range(5):
            t0 = time.monotonic()
            other.send_lines([make_event(k, "lively")])
            other.wait_ack(k + 1, scaled(3))
            latencies.append(time.monotonic() - t0)
            time.sleep(0.1)
        self.assertTrue(sender_done.wait(scaled(120)), "the deaf client could not send its 200k lines")
        self.assertEqual(send_error, [])
        harness.wait_until(lambda: harness.spool_count(col.spool) >= total + 5, scaled(60),
                           what="%d events stored" % (total + 5))
        # now read everything the daemon wrote: acks only (coalesced), the last one covers every line
        data = b""
        s.settimeout(scaled(10))
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        replies = [l for l in data.split(b"\n") if l]
        self.assertTrue(replies, "no reply at all")
        self.assertEqual(json.loads(replies[-1]), {"ack": total}, replies[-3:])
        self.assertLess(len(data), 64 * 1024, "acks to a non-reading client should be coalesced")
        keys = [event_key(b) for b in harness.spool_bodies(col.spool)]
        self.assertEqual([k for k in keys if k.startswith("deaf-")], ["deaf-%06d" % i for i in range(total)])
        self.assertLess(max(latencies), scaled(2), latencies)

    def test_max_connections(self):
        col = self.collector(args=["--max-connections", "2"])
        url = col.url("tcp")
        a, b = self.client(url), self.client(url)
        a.send_lines([make_event(0, "mc-a")])
        b.send_lines([make_event(0, "mc-b")])
        a.wait_ack(1)
        b.wait_ack(1)
        # a third connection is closed promptly (it may be told why first)
        t0 = time.monotonic()
        c = self.client(url)
        try:
            c.send_lines([make_event(0, "mc-c")])
        except OSError:
            pass
        c.wait_eof(scaled(2))
        self.assertLess(time.monotonic() - t0, scaled(2))
        self.assertTrue(all(x == 0 for x in c.acks), "the refused connection got acks: %s" % c.acks)
        # the two keep working
        a.send_lines([make_event(i, "mc-a") for i in range(1, 100)])
        b.send_lines([make_event(i, "mc-b") for i in range(1, 100)])
        a.wait_ack(100)
        b.wait_ack(100)
        self.assertFalse(a.eof or b.eof)
        keys = [event_key(x) for x in harness.spool_bodies(col.spool)]
        self.assertNotIn("mc-c-000000", keys)
        # a freed slot is usable again
        a.half_close()
        a.wait_eof()
        a.close()

        def slot_free():
            d = harness.Client(url)
            try:
                d.send_lines([make_event(0, "mc-d")])
                d.half_close()
                d.wait_eof(scaled(2))
                return d.last_ack == 1
            except (OSError, AssertionError):
                return False
            finally:
                d.close()
        harness.wait_until(slot_free, scaled(5), interval=0.2, what="a connection after one of two closed")
        b.half_close()
        b.wait_eof()
        self.assertEqual(b.last_ack, 100)

    def test_idle_timeout(self):
        col = self.collector(args=["--idle-timeout-ms", "500"])
        url = col.url("tcp")
        idle = self.client(url)
        idle.send_lines([make_event(0, "idle")])
        idle.wait_ack(1)
        t_last = time.monotonic()
        busy = self.client(url)
        # the busy one sends every 150 ms for 1.5 s and must survive; the idle one must be closed
        for i in range(10):
            busy.send_lines([make_event(i, "busy")])
            time.sleep(0.15)
        busy.wait_ack(10)
        self.assertFalse(busy.eof, "an active connection was closed by the idle timeout")
        idle.wait_eof(scaled(3))
        waited = idle.eof_time - t_last
        self.assertGreaterEqual(waited, 0.4, "closed after %.2f s, before the 500 ms idle timeout" % waited)
        self.assertLess(waited, scaled(2.5), "closed only after %.2f s" % waited)
        self.assertTrue(col.running())
        keys = [event_key(x) for x in harness.spool_bodies(col.spool)]
        self.assertIn("idle-000000", keys)

    def test_silent_connection_idle_timeout(self):
        """A connection that never sends a byte is closed too."""
        col = self.collector(args=["--idle-timeout-ms", "500"])
        s = harness.connect_url(col.url("tcp"))
        t0 = time.monotonic()
        r, _, _ = select.select([s], [], [], scaled(3))
        self.assertTrue(r, "silent connection not closed within %d s" % scaled(3))
        try:
            self.assertEqual(s.recv(100), b"")
        except ConnectionResetError:
            pass
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        s.close()


if __name__ == "__main__":
    harness.main()
