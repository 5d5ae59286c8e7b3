"""The Kafka sink against librdkafka's mock cluster (tools/kafka-mock), read back with kcat.

Each test starts its own mock cluster (3 brokers on loopback) and daemon. Events carry unique ids; what kcat
consumes is compared with the spool (the bodies the sink was given) for count, content, key, headers and order
per key (a key always maps to one partition, so per-partition offset order must be the spool's seq order).
"""

import os

import harness
import kafka_util
from harness import make_event, event_key, scaled
from kafka_util import TOPIC


class KafkaTest(kafka_util.KafkaTestCase):

    def test_sent_equals_consumed(self):
        url = self.kafka_url("collector_id=it-collector")
        col = self.collector(sinks=[url, "file://" + os.path.join(self.tmp, "events.ndjson")])
        n = 3000
        sent = [make_event(i, "k") for i in range(n)]
        self.send(col, sent, conns=3)
        msgs = kafka_util.wait_consumed(self.mock.bootstrap, TOPIC, n, scaled(30))
        self.assertEqual(len(msgs), n)
        self.assert_topic_matches_spool(col, msgs)
        self.assertEqual(sorted(event_key(m["value"]) for m in msgs), sorted(event_key(s) for s in sent))
        self.assertTrue(all(m["headers"]["collector_id"] == "it-collector" for m in msgs))
        self.assertGreater(len({m["partition"] for m in msgs}), 1, "300 workspaces all in one partition")
        self.wait_cursor(col, harness.spool_query(col.spool, "SELECT max(seq) FROM events")[0][0], scaled(10))
        self.assertEqual(harness.spool_count(col.spool, "dead_letters"), 0)
        # the file sink alongside got the same events
        self.assertEqual(len(harness.wait_sink_lines(col.sink_path, n, scaled(10))), n)

    def test_key_and_topic_template(self):
        url = self.kafka_url("key=user&topic_template=ocsf.{category_name}.{class_uid}&compression=zstd",
                             topic="ocsf.unrouted")
        col = self.collector(sinks=[url])
        n = 200
        self.send(col, [make_event(i, "t") for i in range(n)])
        rows = self.spool_rows(col)
        classes = {r[2] for r in rows}
        names = {1: "system_activity", 2: "findings", 3: "identity_access_management", 4: "network_activity",
                 5: "discovery", 6: "application_activity", 7: "remediation", 8: "unmanned_systems"}
        total = 0
        for c in classes:
            topic = "ocsf.%s.%d" % (names[c // 1000], c) if c is not None and c >= 0 else "ocsf.unrouted"
            want = [r for r in rows if r[2] == c]
            msgs = kafka_util.wait_consumed(self.mock.bootstrap, topic, len(want), scaled(30))
            self.assertEqual(sorted(int(m["headers"]["seq"]) for m in msgs), [r[0] for r in want])
            users = harness.spool_query(col.spool, "SELECT seq, user FROM events")
            user_of = dict(users)
            for m in msgs:
                self.assertEqual(m["key"], user_of[int(m["headers"]["seq"])] or "")
            total += len(msgs)
        self.assertEqual(total, n)

    def test_oversized_message_is_dead_lettered(self):
        """message.max.bytes below one event's size: librdkafka refuses that message (MSG_SIZE_TOO_LARGE), the
        sink dead-letters it with the reason and the cursor moves on; its neighbours arrive."""
        col = self.collector(sinks=[self.kafka_url("prop.message.max.bytes=4000")])
        events = [make_event(i, "big") for i in range(10)]
        events[5] = make_event(5, "big", pad=20000)
        self.send(col, events)
        self.wait_cursor(col, 10, scaled(20))
        msgs = kafka_util.consume(self.mock.bootstrap, TOPIC)
        self.assertEqual(sorted(int(m["headers"]["seq"]) for m in msgs), [1, 2, 3, 4, 5, 7, 8, 9, 10])
        dead = [d for d in harness.spool_dead_letters(col.spool) if d["listener"].startswith("kafka://")]
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["line"], 6)
        self.assertIn("too large", dead[0]["reason"].lower())

    def test_broker_refusal_is_dead_lettered(self):
        """Produce requests the brokers refuse with TOPIC_AUTHORIZATION_FAILED: the events of those batches are
        dead letters with the broker's reason, the rest arrive, the cursor passes them all, nothing twice."""
        col = self.collector(sinks=[self.kafka_url()])
        self.send(col, [make_event(i, "auth") for i in range(50)])
        self.wait_cursor(col, 50, scaled(20))
        self.mock.command("produce-error 29 2")
        self.send(col, [make_event(50 + i, "auth") for i in range(200)])
        self.wait_cursor(col, 250, scaled(30))
        consumed = [int(m["headers"]["seq"]) for m in kafka_util.consume(self.mock.bootstrap, TOPIC)]
        dead = [d for d in harness.spool_dead_letters(col.spool) if d["listener"].startswith("kafka://")]
        dead_seqs = [d["line"] for d in dead]
        self.assertGreaterEqual(len(dead), 1, "no dead letter for the refused batches")
        self.assertTrue(all("authorization" in d["reason"].lower() for d in dead), dead[:2])
        self.assertEqual(sorted(consumed + dead_seqs), list(range(1, 251)),
                         "every event is either consumed or a dead letter, exactly once")

    def test_fatal_idempotence_error_recreates_producer(self):
        """OUT_OF_ORDER_SEQUENCE_NUMBER is fatal for librdkafka's idempotent producer: the sink recreates the
        producer and the shipper replays from the cursor; nothing is lost, first occurrences stay in order."""
        col = self.collector(sinks=[self.kafka_url()])
        self.send(col, [make_event(i, "fatal") for i in range(50)])
        self.wait_cursor(col, 50, scaled(20))
        self.mock.command("produce-error 45 1")
        self.send(col, [make_event(50 + i, "fatal") for i in range(200)])
        self.wait_cursor(col, 250, scaled(30))
        msgs = kafka_util.consume(self.mock.bootstrap, TOPIC)
        self.assert_topic_matches_spool(col, msgs, allow_duplicates=True)
        self.assertIn("fatal producer error", col.log())
        self.assertIn("recreating the producer", col.log())
        self.assertEqual(harness.spool_count(col.spool, "dead_letters"), 0)

    def test_config_properties_and_secrets(self):
        """The config file's sink object passes properties; secrets only from a file or the environment."""
        pw = os.path.join(self.tmp, "sasl.pw")
        with open(pw, "w") as f:
            f.write("s3cret\n")
        def run_bad(query):
            return harness.run_collector(["--listen", "tcp://127.0.0.1:0", "--spool", os.path.join(self.tmp, "x.db"),
                                          "--sink", self.kafka_url(query)])
        bad = run_bad("prop.sasl.password=s3cret")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("is a secret", bad.stderr)
        bad = run_bad("sasl_password_env=OCSF_NO_SUCH_VAR")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("OCSF_NO_SUCH_VAR", bad.stderr)
        bad = run_bad("nosuch=1")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("unknown option 'nosuch'", bad.stderr)
        bad = run_bad("prop.linger.ms=banana")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("linger.ms", bad.stderr)
        cfg = {"listen": ["tcp://127.0.0.1:0"], "spool": os.path.join(self.tmp, "spool.db"),
               "sinks": [{"url": self.kafka_url("sasl_password_file=" + pw),
                          "properties": {"linger.ms": 1, "batch.num.messages": "500",
                                         "enable.idempotence": True}}]}
        col = self.collector(config=cfg, defaults=False)
        self.send(col, [make_event(i, "cfg") for i in range(100)])
        msgs = kafka_util.wait_consumed(self.mock.bootstrap, TOPIC, 100, scaled(30))
        self.assert_topic_matches_spool(col, msgs)
        self.assertNotIn("s3cret", col.log())


if __name__ == "__main__":
    harness.main()
