/*
 * replay_kafka_mock.c - a librdkafka mock cluster for ocsf-replay's Kafka tests (loopback only).
 *
 *   replay-kafka-mock TOPIC PARTITIONS
 *
 * Creates a one-broker mock cluster (rd_kafka_mock_cluster_new) with TOPIC, prints
 * "bootstrap HOST:PORT" on stdout, and serves until stdin reaches EOF (the test closes it). kcat
 * -P produces to it; ocsf-replay --from-kafka consumes from it. Exit 0, or 1 with a message.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char errstr[512];
    if (argc != 3) {
        fprintf(stderr, "usage: replay-kafka-mock TOPIC PARTITIONS\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "replay-kafka-mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        fprintf(stderr, "replay-kafka-mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    if (rd_kafka_mock_topic_create(mc, argv[1], atoi(argv[2]), 1)) {
        fprintf(stderr, "replay-kafka-mock: cannot create topic %s\n", argv[1]);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (getchar() != EOF)
        ;
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
