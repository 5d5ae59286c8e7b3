"""The Kafka sink while the cluster is unreachable (tools/kafka-mock takes every broker down mid-stream):
ingest goes on, the sink's cursor stays put, and when the brokers return every event arrives in order per key.
"""

import time

import harness
import kafka_util
from harness import make_event, scaled
from kafka_util import TOPIC


class KafkaOutageTest(kafka_util.KafkaTestCase):

    def test_outage_loses_nothing(self):
        """All brokers down for several seconds mid-stream: ingest goes on, lag grows, then everything drains in
        order per key, exactly once (the idempotent producer retried internally)."""
        col = self.collector(sinks=[self.kafka_url()])
        first = [make_event(i, "o") for i in range(1000)]
        self.send(col, first)
        kafka_util.wait_consumed(self.mock.bootstrap, TOPIC, 1000, scaled(30))
        self.mock.command("down all")
        during = [make_event(1000 + i, "o") for i in range(2000)]
        t0 = time.monotonic()
        self.send(col, during, conns=2)  # ingest is not held up by the sink
        self.assertLess(time.monotonic() - t0, scaled(15), "ingest slowed down by the unreachable cluster")
        cursor_during = kafka_util.sink_cursor(col.spool)
        self.assertLess(cursor_during, 3000, "the cursor moved past events no broker could have taken")
        time.sleep(4)  # several seconds with every broker down
        self.assertEqual(kafka_util.sink_cursor(col.spool), cursor_during, "cursor moved while all were down")
        self.mock.command("up all")
        msgs = kafka_util.wait_consumed(self.mock.bootstrap, TOPIC, 3000, scaled(60))
        self.assert_topic_matches_spool(col, msgs)
        self.assertEqual(len(msgs), 3000)
        self.wait_cursor(col, 3000, scaled(15))
        log = col.log()
        self.assertRegex(log, r"kafka sink .*(all brokers down|no delivery for)")

    def test_outage_with_timeouts_replays(self):
        """A short message.timeout.ms makes the outage fail messages: the sink resets, the shipper backs off
        and replays from the cursor. At-least-once: nothing lost, first occurrences in order per key."""
        col = self.collector(sinks=[self.kafka_url("prop.message.timeout.ms=1500")])
        self.send(col, [make_event(i, "r") for i in range(500)])
        kafka_util.wait_consumed(self.mock.bootstrap, TOPIC, 500, scaled(30))
        self.mock.command("down all")
        self.send(col, [make_event(500 + i, "r") for i in range(1500)])
        col.wait_log(r"WARN sink kafka://.*retrying from seq", scaled(20))
        time.sleep(2)
        self.mock.command("up all")
        self.wait_cursor(col, 2000, scaled(60))
        msgs = kafka_util.consume(self.mock.bootstrap, TOPIC)
        self.assert_topic_matches_spool(col, msgs, allow_duplicates=True)


if __name__ == "__main__":
    harness.main()
