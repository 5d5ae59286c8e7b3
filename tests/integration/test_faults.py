"""Faults and hostile clients at the ingest (issue 7): many connections, a client that never reads its acks, a
slowloris, and a disk that fills up under the spool.  The promise under test: nothing acked is lost, memory stays
bounded, one bad client does not hold up the others, and a full disk makes the collector push back (no ack) and
recover by itself once space returns.
"""

import os
import resource
import selectors
import socket
import subprocess
import threading
import time

import harness
from harness import make_event, event_key, scaled


def read_acks(sock, want, timeout):
    """Reads ack lines from a blocking socket until ack >= want; returns the last ack."""
    sock.settimeout(timeout)
    buf, last = b"", 0
    while last < want:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b'{"ack":'):
                last = int(line[7:-1])
    return last


class FaultTest(harness.CollectorTestCase):

    def test_thousand_connections(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        col = self.collector(args=["--max-connections", "1100"])
        port = col.tcp_port()
        n = 1000
        socks = []
        try:
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
                socks.append(s)
            rss_idle = harness.rss_kb(col.pid)
            for i, s in enumerate(socks):
                s.sendall(make_event(i, "conn") + b"\n")
            sel = selectors.DefaultSelector()
            for s in socks:
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, [b""])
            acked = set()
            deadline = time.monotonic() + scaled(30)
            while len(acked) < n and time.monotonic() < deadline:
                for key, _ in sel.select(0.5):
                    data = key.fileobj.recv(4096)
                    key.data[0] += data
                    if b'{"ack":1}\n' in key.data[0]:
                        acked.add(key.fileobj)
                        sel.unregister(key.fileobj)
            self.assertEqual(len(acked), n, "every one of %d connections got its ack" % n)
            rss = harness.rss_kb(col.pid)
        finally:
            for s in socks:
                s.close()
        lines = harness.wait_sink_lines(col.sink_path, n, scaled(20))
        self.assertEqual(sorted(event_key(l) for l in lines), sorted("conn-%06d" % i for i in range(n)))
        print("RSS with %d open connections: %.1f MB idle, %.1f MB after one event each"
              % (n, rss_idle / 1024.0, rss / 1024.0))
        if not harness.SANITIZE:
            self.assertLess(rss, 100 * 1024, "RSS with %d connections" % n)

    def test_client_that_never_reads_acks(self):
        col = self.collector()
        # a tiny receive buffer and no reader: its acks pile up in the kernel, then in the collector
        deaf = harness.Client(col.url("tcp"), rcvbuf=4096, reader=False)
        self.clients.append(deaf)
        n_deaf = 30000
        sender = threading.Thread(
            target=lambda: deaf.send_lines([make_event(i, "deaf") for i in range(n_deaf)]), daemon=True)
        sender.start()
        # meanwhile an ordinary client is served normally
        ok = self.client(col.url("tcp"))
        ok.send_lines([make_event(i, "ok") for i in range(2000)])
        ok.wait_ack(2000, scaled(20))
        sender.join(scaled(30))
        self.assertFalse(sender.is_alive(), "the deaf client's sends were not taken")
        harness.wait_until(lambda: harness.spool_count(col.spool) >= n_deaf + 2000, scaled(30),
                           what="every line of the deaf client stored")
        rss = harness.rss_kb(col.pid)
        # now it reads: the coalesced acks cover everything it sent
        self.assertEqual(read_acks(deaf.sock, n_deaf, scaled(10)), n_deaf)
        if not harness.SANITIZE:
            self.assertLess(rss, 100 * 1024)

    def test_slowloris_does_not_hold_up_others(self):
        col = self.collector()
        slow = harness.Client(col.url("tcp"))
        self.clients.append(slow)
        line = make_event(1, "slow") + b"\n"
        stop = threading.Event()

        def drip():
            for i in range(len(line)):
                if stop.is_set():
                    return
                slow.send(line[i:i + 1])
                time.sleep(0.002 if i > 40 else 0.05)

        t = threading.Thread(target=drip, daemon=True)
        t.start()
        # while it drips, another emitter gets through at full speed
        fast = self.client(col.url("tcp"))
        t0 = time.monotonic()
        fast.send_lines([make_event(i, "fast") for i in range(5000)])
        fast.wait_ack(5000, scaled(20))
        fast_seconds = time.monotonic() - t0
        t.join(scaled(30))
        stop.set()
        slow.wait_ack(1, scaled(10))  # its one line, complete at last, is stored like any other
        lines = harness.wait_sink_lines(col.sink_path, 5001, scaled(20))
        self.assertIn("slow-000001", [event_key(l) for l in lines])
        self.assertLess(fast_seconds, scaled(10))

    def test_disk_full_pushes_back_then_recovers(self):
        mnt = os.path.join(self.tmp, "small")
        os.mkdir(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (needs root): %s" % r.stdout.decode().strip())
        self.addCleanup(lambda: subprocess.run(["umount", "-l", mnt]))
        # delivered events leave the spool at once (retention 0): what fills the disk is someone else
        col = self.collector(spool=os.path.join(mnt, "spool.db"),
                             args=["--max-pending-bytes", str(1 << 20), "--retention-s", "0"])
        cl = self.client(col.url("tcp"))
        cl.send_lines([make_event(i, "pre") for i in range(500)])
        cl.wait_ack(500, scaled(10))
        # fill the filesystem, leaving a little room
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        os.truncate(filler, max(0, os.path.getsize(filler) - 96 * 1024))
        sent = 500
        # less than the filesystem holds once the filler is gone (~1.5 KB each normalized, about 12 MB): a
        # spool that fills the disk with its own undelivered data needs spool_max_bytes, not a retry
        batch = [make_event(i, "full") for i in range(8000)]
        cl.send_lines(batch)
        sent += len(batch)
        # commits fail: the acks stop short of what was sent, and the log says why, once
        harness.wait_until(lambda: any("commit of" in l and "failed" in l for l in col.log().splitlines()),
                           scaled(20), what="a log line about the failed commit")
        time.sleep(scaled(1.5))
        stuck_at = cl.last_ack
        self.assertLess(stuck_at, sent, "acks must stop while nothing can be committed")
        fail_lines = [l for l in col.log().splitlines() if "failed" in l and "commit" in l]
        self.assertLessEqual(len(fail_lines), 2, "no flood of identical errors:\n" + "\n".join(fail_lines))
        self.assertTrue(col.running())
        # space returns: commits resume, every line is acked and delivered, none twice
        os.unlink(filler)
        cl.wait_ack(sent, scaled(30))
        col.wait_log(r"commits succeed again", scaled(10))
        lines = harness.wait_sink_lines(col.sink_path, sent, scaled(30))
        keys = [event_key(l) for l in lines]
        self.assertEqual(len(keys), sent)
        self.assertEqual(len(set(keys)), sent)
        r = subprocess.run(["sqlite3", col.spool, "PRAGMA integrity_check"], stdout=subprocess.PIPE)
        self.assertEqual(r.stdout.strip(), b"ok")


if __name__ == "__main__":
    harness.main()
