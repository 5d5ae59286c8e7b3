"""ocsf-replay and Kafka, against librdkafka's mock cluster (build/tools/kafka-mock, loopback only):
--from-kafka with the same filters (events produced with kcat -P, bodies taken from a spool the real daemon
built), and --to kafka://... read back with kcat -C when this build has the kafka sink.

The mock cluster does not look up offsets by timestamp (librdkafka 2.0.2: ListOffsets by time answers -1), so
--since here exercises the documented fallback (scan the partition, filter on event time)."""

import json
import os
import shutil
import subprocess
import unittest

import harness
import kafka_util
import replay_common as rc
from harness import scaled

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
N = 120


class ReplayKafkaTest(harness.CollectorTestCase):

    def setUp(self):
        super().setUp()
        if not KCAT:
            self.skipTest("kcat is not installed")
        self.mock = kafka_util.KafkaMock(brokers=1, topics=["ocsf:2"])
        self.brokers = self.mock.bootstrap

    def tearDown(self):
        self.mock.close()
        super().tearDown()

    def produce(self, bodies, topic="ocsf"):
        data = b"".join(b + b"\n" for b in bodies)
        r = subprocess.run([KCAT, "-P", "-b", self.brokers, "-t", topic, "-p", "-1"], input=data,
                           capture_output=True, timeout=scaled(30))
        self.assertEqual(r.returncode, 0, r.stderr)

    def spool_bodies(self):
        col = self.collector()
        lines, exp = rc.make_events(N, prefix="kf")
        r = harness.run_emit(["--to", col.url("tcp"), "--ack"], input=b"".join(l + b"\n" for l in lines))
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.wait_sink_lines(col.sink_path, N, scaled(20))
        return harness.spool_bodies(col.spool), exp

    def test_from_kafka_with_filters(self):
        bodies, exp = self.spool_bodies()
        self.produce(bodies)
        src = ["--from-kafka", self.brokers + "/ocsf"]

        def sel(args, pred):
            r = rc.run_replay(src + args)
            self.assertEqual(r.returncode, 0, r.stderr)
            want = {e["id"] for e in exp if pred(e)}
            self.assertTrue(want, args)
            got = rc.ids_of(r.stdout)
            self.assertEqual(len(got), len(set(got)), "duplicates")
            self.assertEqual(set(got), want, args)
            return r

        sel([], lambda e: True)
        lo, hi = (rc.BASE_S + 1800) * 1000, (rc.BASE_S + 5400) * 1000
        # produced now, events from 2026-11-28: the stop at --until must allow for that lateness
        sel(["--since", rc.iso(lo), "--until", rc.iso(hi), "--kafka-lateness", "3650d"], lambda e: lo <= e["ms"] < hi)
        r = rc.run_replay(src + ["--until", rc.iso(hi)])  # default 5m: stops at the first late message
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(len(rc.ids_of(r.stdout)), N)
        sel(["--class", "network activity", "--status", "failure"],
            lambda e: e["class_uid"] == 4001 and e["status_id"] == 2)
        sel(["--user", "user1@corp.example"], lambda e: e["user"] == "user1@corp.example")
        # workspace from the body (unmapped.workspace, or the entity / endpoint the mapping put it in)
        sel(["--workspace", "ws-3", "--class", "4001"], lambda e: e["workspace"] == "ws-3" and e["class_uid"] == 4001)
        sel(["--where", "dst_endpoint.hostname=evil.example"], lambda e: e["dst_host"] == "evil.example")
        sel(["--activity", "Logon"], lambda e: e["class_uid"] == 3002)
        r = rc.run_replay(src + ["--limit", "5"])
        self.assertEqual(len(rc.ids_of(r.stdout)), 5)
        r = rc.run_replay(src + ["--count", "--format", "csv"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"%d events matched (%d read)" % (N, N), r.stderr)

    def test_from_kafka_errors(self):
        r = rc.run_replay(["--from-kafka", "no-topic-given"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"BROKERS/TOPIC", r.stderr)
        r = rc.run_replay(["--from-kafka", self.brokers + "/does-not-exist"], timeout=scaled(60))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"does-not-exist", r.stderr)

    def test_to_kafka_read_back_with_kcat(self):
        r = rc.run_replay(["--help"])
        schemes = [l for l in r.stdout.decode().splitlines() if l.startswith("sinks in this build:")][0]
        if "kafka" not in schemes:
            self.skipTest("this build has no kafka sink yet (%s)" % schemes)
        bodies, exp = self.spool_bodies()
        spool = os.path.join(self.tmp, "spool.db")
        r = rc.run_replay(["--spool", spool, "--class", "3002", "--to", "kafka://%s/replayed" % self.brokers])
        self.assertEqual(r.returncode, 0, r.stderr)
        want = rc.by_time([e for e in exp if e["class_uid"] == 3002])
        c = subprocess.run([KCAT, "-C", "-b", self.brokers, "-t", "replayed", "-e", "-f", "%h\t%s\n"],
                           capture_output=True, timeout=scaled(30))
        self.assertEqual(c.returncode, 0, c.stderr)
        rows = [l.split(b"\t", 1) for l in c.stdout.splitlines() if l]
        self.assertEqual(sorted(harness.event_key(b) for _, b in rows), sorted(want))
        for hdrs, body in rows:
            self.assertIn(b"ocsf-replay", hdrs)
            self.assertIn("replay", json.loads(body)["unmapped"])


if __name__ == "__main__":
    harness.main()
