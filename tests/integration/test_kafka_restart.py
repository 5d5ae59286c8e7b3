"""The Kafka sink across kill -9: a backlog that never reached the cluster ships after the restart
(at-least-once; order per key by first occurrence).
"""


import harness
import kafka_util
from harness import make_event, scaled
from kafka_util import TOPIC


class KafkaRestartTest(kafka_util.KafkaTestCase):

    def test_restart_after_kill9_delivers_backlog(self):
        """kill -9 while the cluster is down and a backlog waits: after the restart every event arrives."""
        url = self.kafka_url()
        col = self.collector(sinks=[url])
        self.send(col, [make_event(i, "k9") for i in range(500)])
        kafka_util.wait_consumed(self.mock.bootstrap, TOPIC, 500, scaled(30))
        self.wait_cursor(col, 500, scaled(10))
        self.mock.command("down all")
        self.send(col, [make_event(500 + i, "k9") for i in range(2500)])
        col.kill9()
        self.assertLess(kafka_util.sink_cursor(col.spool), 3000)
        self.mock.command("up all")
        col.start()
        self.wait_cursor(col, 3000, scaled(60))
        msgs = kafka_util.consume(self.mock.bootstrap, TOPIC)
        self.assert_topic_matches_spool(col, msgs, allow_duplicates=True)


if __name__ == "__main__":
    harness.main()
