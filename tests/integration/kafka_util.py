"""Helpers for the Kafka sink's integration tests: the mock cluster and an independent consumer.

What it is for: test_kafka*.py start $OCSF_BUILD_DIR/tools/kafka-mock (librdkafka's mock cluster on loopback,
N brokers with ephemeral ports) and read back what the collector produced with Debian's kcat, a separate
program with its own librdkafka client, so the tests compare what was sent with what a real consumer gets.

Invariants: a KafkaMock is stopped by the test that started it (close() in tearDown/addCleanup); every
command sent to it waits for its one-line answer, so `down all` has taken effect when the call returns.
consume() reads every partition from the beginning to the end offsets current when it starts (-e).
"""

import os
import shutil
import subprocess
import threading
import time

import harness
from harness import scaled

KAFKA_MOCK = os.path.join(harness.BUILD_DIR, "tools", "kafka-mock")
TOPIC = "ocsf.audit"


def require_kcat(testcase):
    if not shutil.which("kcat"):
        raise AssertionError("kcat is not installed (deploy/install-deps.sh --test installs it)")


class KafkaMock:
    """One kafka-mock process; `bootstrap` is its broker list."""

    def __init__(self, brokers=3, topics=()):
        harness.require_binary(KAFKA_MOCK)
        argv = [KAFKA_MOCK, "--brokers", str(brokers)]
        for t in topics:
            argv += ["--topic", t]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        first = self.proc.stdout.readline().strip()
        if not first.startswith("bootstrap="):
            self.close()
            raise AssertionError("kafka-mock did not print bootstrap=...: %r" % first)
        self.bootstrap = first.split("=", 1)[1]

    def command(self, line):
        """Sends one command; returns its answer (raises on `error ...`)."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise AssertionError("kafka-mock %r: %r" % (line, answer))
        return answer

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("kafka-mock did not exit on EOF")
            finally:
                if self.proc.stdout:
                    self.proc.stdout.close()
            if self.proc.returncode != 0:  # a sanitizer report in the mock fails the test too
                raise AssertionError("kafka-mock exited %d" % self.proc.returncode)


def consume(bootstrap, topic, timeout=30):
    """Every message of topic as dicts {partition, offset, key, headers, value} (value/key str), per partition
    in offset order, partitions in ascending order."""
    # kcat's -f: fields separated by \x1f, messages by \x1e; JSON bodies never contain raw control characters.
    fmt = "%p\x1f%o\x1f%k\x1f%h\x1f%s\x1e"
    r = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", fmt], capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("kcat -C %s failed (%d): %s" % (topic, r.returncode, r.stderr.decode(errors="replace")))
    out = []
    for rec in r.stdout.split(b"\x1e"):
        if not rec:
            continue
        p, o, k, h, v = rec.split(b"\x1f", 4)
        headers = {}
        for kv in h.decode().split(","):
            if "=" in kv:
                hk, hv = kv.split("=", 1)
                headers[hk] = hv
        out.append({"partition": int(p), "offset": int(o), "key": k.decode(), "headers": headers,
                    "value": v.decode()})
    out.sort(key=lambda m: (m["partition"], m["offset"]))
    return out


def wait_consumed(bootstrap, topic, n, timeout):
    """Polls with kcat until topic holds at least n messages; returns them."""
    deadline = time.monotonic() + timeout
    got = []
    while True:
        got = consume(bootstrap, topic)
        if len(got) >= n or time.monotonic() > deadline:
            if len(got) < n:
                raise AssertionError("topic %s holds %d messages, wanted %d within %.0f s"
                                     % (topic, len(got), n, timeout))
            return got
        time.sleep(0.5)


def sink_cursor(spool, url_prefix="kafka://"):
    rows = harness.spool_query(spool, "SELECT sink, seq FROM sink_cursors")
    return max([r[1] for r in rows if r[0].startswith(url_prefix)] or [0])


class KafkaTestCase(harness.CollectorTestCase):
    """A mock cluster (3 brokers, TOPIC with 4 partitions) per test, and checks against the spool."""


    def setUp(self):
        super().setUp()
        require_kcat(self)
        self.mock = KafkaMock(brokers=3, topics=[TOPIC + ":4"])
        self.addCleanup(self.mock.close)

    def kafka_url(self, query="", topic=TOPIC):
        return "kafka://%s/%s%s" % (self.mock.bootstrap, topic, ("?" + query) if query else "")

    def send(self, col, events, conns=1):
        """Sends events over `conns` connections (interleaved) and waits for every ack."""
        chunks = [events[i::conns] for i in range(conns)]
        errors = []

        def one(lines):
            try:
                cl = col.connect()
                try:
                    for j in range(0, len(lines), 500):
                        cl.send_lines(lines[j:j + 500])
                    cl.wait_ack(len(lines), scaled(30))
                finally:
                    cl.close()
            except Exception as e:  # reported below
                errors.append(e)
        threads = [threading.Thread(target=one, args=(c,)) for c in chunks if c]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def spool_rows(self, col):
        rows = harness.spool_query(col.spool, "SELECT seq, workspace, class_uid, body FROM events ORDER BY seq")
        return [(r[0], r[1], r[2], r[3] if isinstance(r[3], str) else bytes(r[3]).decode()) for r in rows]

    def assert_topic_matches_spool(self, col, msgs, allow_duplicates=False):
        """Every spooled event is in msgs (once, or at least once with allow_duplicates), nothing else is, and
        within each partition the (first) occurrences follow the spool's seq order."""
        rows = self.spool_rows(col)
        by_seq = {r[0]: r for r in rows}
        seen = {}
        for m in msgs:
            seq = int(m["headers"]["seq"])
            self.assertIn(seq, by_seq, "a consumed message has a seq the spool does not hold: %r" % m)
            seen.setdefault(seq, []).append(m)
            row = by_seq[seq]
            self.assertEqual(m["value"], row[3], "value of seq %d differs from the spooled body" % seq)
            self.assertEqual(m["key"], row[1] or "", "key of seq %d is not its workspace" % seq)
            self.assertEqual(m["headers"].get("ocsf_version"), "1.8.0")
            self.assertTrue(m["headers"].get("collector_id"))
            if row[2] is not None and row[2] >= 0:
                self.assertEqual(m["headers"].get("class_uid"), str(row[2]))
        missing = sorted(set(by_seq) - set(seen))
        self.assertEqual(missing[:10], [], "%d spooled events never reached Kafka" % len(missing))
        if not allow_duplicates:
            dups = [s for s, ms in seen.items() if len(ms) > 1]
            self.assertEqual(dups[:10], [], "%d events consumed more than once" % len(dups))
        # order per key: a key lives in one partition; first occurrences in offset order must be in seq order
        parts = {}
        for m in msgs:
            parts.setdefault(m["partition"], []).append(int(m["headers"]["seq"]))
        keys_partition = {}
        for m in msgs:
            if m["key"]:
                keys_partition.setdefault(m["key"], set()).add(m["partition"])
        self.assertTrue(all(len(p) == 1 for p in keys_partition.values()), "a key spread over partitions")
        for p, seqs in parts.items():
            first, done = [], set()
            for s in seqs:
                if s not in done:
                    done.add(s)
                    first.append(s)
            self.assertEqual(first, sorted(first), "partition %d is not in seq order" % p)
        return seen

    def wait_cursor(self, col, seq, timeout):
        harness.wait_until(lambda: sink_cursor(col.spool) >= seq, timeout,
                           what="kafka sink cursor >= %d" % seq)
