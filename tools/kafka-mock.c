/*
 * kafka-mock.c - a throw-away Kafka cluster on loopback for tests and local runs.
 *
 * It hosts librdkafka's mock cluster (rdkafka_mock.h): N brokers listening on 127.0.0.1 with
 * ephemeral ports, speaking enough of the protocol for an idempotent producer (the collector's
 * Kafka sink) and a plain consumer (kcat). Nothing is written to disk; the data lives as long as
 * this process.
 *
 *   kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]...
 *
 * The first line on stdout is `bootstrap=127.0.0.1:PORT,...` (flushed), so a test reads one line
 * and knows where to connect. Then it takes commands on stdin, one per line, and answers each with
 * one line on stdout (`ok ...` or `error ...`):
 *
 *   down N | up N        broker N (1..brokers) down (connections closed, new ones refused) / up
 *   down all | up all    every broker
 *   topic NAME[:P]       create a topic with P partitions (default 1)
 *   produce-error E [N]  the next N (default 1) produce requests fail with Kafka error code E
 *                        (e.g. 29 TOPIC_AUTHORIZATION_FAILED)
 *   quit                 exit 0
 *
 * Signals: SIGUSR1 = down all, SIGUSR2 = up all; SIGTERM/SIGINT or EOF on stdin exit 0.
 * Topics not created up front are auto-created by the mock on first use (4 partitions, the mock's
 * default), so creating them is only needed for another partition count.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOCK_MAX_BROKERS 16
#define MOCK_LINE_MAX    512

static volatile sig_atomic_t got_term, got_down, got_up;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        got_down = 1;
    else if (sig == SIGUSR2)
        got_up = 1;
    else
        got_term = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]...\n"
                 "  prints bootstrap=HOST:PORT,... then reads commands on stdin:\n"
                 "  down N|all, up N|all, topic NAME[:P], quit (SIGUSR1 = down all, SIGUSR2 = up "
                 "all)\n");
}

/* Parses "NAME[:P]" and creates the topic; 0 or -1 with a message in err. */
static int mock_topic_create(rd_kafka_mock_cluster_t *mc, int n_brokers, const char *spec,
                             char *err, size_t errlen)
{
    char name[256];
    long partitions = 1;
    const char *colon = strrchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);

    if (len == 0 || len >= sizeof name) {
        snprintf(err, errlen, "bad topic '%.100s' (NAME[:PARTITIONS], name 1..255 bytes)", spec);
        return -1;
    }
    memcpy(name, spec, len);
    name[len] = '\0';
    if (colon) {
        char *end;
        partitions = strtol(colon + 1, &end, 10);
        if (*end || partitions < 1 || partitions > 1000) {
            snprintf(err, errlen, "bad partition count in '%.100s' (1..1000)", spec);
            return -1;
        }
    }
    rd_kafka_resp_err_t e =
        rd_kafka_mock_topic_create(mc, name, (int)partitions, n_brokers < 3 ? n_brokers : 3);
    if (e) {
        snprintf(err, errlen, "cannot create topic %s: %s", name, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Sets one broker (1..n) or all (id 0) down or up. */
static int mock_set_state(rd_kafka_mock_cluster_t *mc, int n_brokers, int id, int is_up, char *err,
                          size_t errlen)
{
    for (int b = id ? id : 1; b <= (id ? id : n_brokers); b++) {
        rd_kafka_resp_err_t e =
            is_up ? rd_kafka_mock_broker_set_up(mc, b) : rd_kafka_mock_broker_set_down(mc, b);
        if (e) {
            snprintf(err, errlen, "broker %d: %s", b, rd_kafka_err2str(e));
            return -1;
        }
    }
    return 0;
}

/* Makes the next count (text, default 1) produce requests fail with Kafka error code (text). */
static int mock_produce_errors(rd_kafka_mock_cluster_t *mc, const char *code, const char *count,
                               char *err, size_t errlen)
{
    rd_kafka_resp_err_t errors[1000];
    char *end;
    long e = strtol(code, &end, 10);
    if (*end || e < 1 || e > 32767) {
        snprintf(err, errlen, "produce-error wants a Kafka error code 1..32767, not '%s'", code);
        return -1;
    }
    long n = 1;
    if (count) {
        n = strtol(count, &end, 10);
        if (*end || n < 1 || n > 1000) {
            snprintf(err, errlen, "produce-error count must be 1..1000, not '%s'", count);
            return -1;
        }
    }
    for (long i = 0; i < n; i++)
        errors[i] = (rd_kafka_resp_err_t)e;
    rd_kafka_mock_push_request_errors_array(mc, 0 /* ProduceRequest */, (size_t)n, errors);
    return 0;
}

/* Runs one stdin command; returns 1 for quit, 0 otherwise (the answer is printed). */
static int mock_command(rd_kafka_mock_cluster_t *mc, int n_brokers, char *line)
{
    char err[512] = "";
    char *verb = strtok(line, " \t\r\n");
    char *arg = strtok(NULL, " \t\r\n");
    int rc = 0;

    if (!verb)
        return 0;
    if (strcmp(verb, "quit") == 0) {
        printf("ok quit\n");
        fflush(stdout);
        return 1;
    }
    if ((strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0) && arg) {
        int id = 0;
        if (strcmp(arg, "all") != 0) {
            char *end;
            long v = strtol(arg, &end, 10);
            if (*end || v < 1 || v > n_brokers) {
                printf("error broker '%s' is not 1..%d or all\n", arg, n_brokers);
                fflush(stdout);
                return 0;
            }
            id = (int)v;
        }
        rc = mock_set_state(mc, n_brokers, id, verb[0] == 'u', err, sizeof err);
    } else if (strcmp(verb, "topic") == 0 && arg) {
        rc = mock_topic_create(mc, n_brokers, arg, err, sizeof err);
    } else if (strcmp(verb, "produce-error") == 0 && arg) {
        rc = mock_produce_errors(mc, arg, strtok(NULL, " \t\r\n"), err, sizeof err);
    } else {
        printf("error unknown command '%s' (down N|all, up N|all, topic NAME[:P], produce-error "
               "CODE [N], quit)\n",
               verb);
        fflush(stdout);
        return 0;
    }
    if (rc < 0)
        printf("error %s\n", err);
    else
        printf("ok %s %s\n", verb, arg);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    char errstr[512];
    int n_brokers = 3;
    const char *topics[64];
    int n_topics = 0;
    int exit_code = 1;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    char line[MOCK_LINE_MAX];
    size_t line_len = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > MOCK_MAX_BROKERS) {
                fprintf(stderr, "kafka-mock: --brokers wants 1..%d\n", MOCK_MAX_BROKERS);
                return 2;
            }
            n_brokers = (int)v;
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            if (n_topics == (int)(sizeof topics / sizeof topics[0])) {
                fprintf(stderr, "kafka-mock: at most 64 --topic\n");
                return 2;
            }
            topics[n_topics++] = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "kafka-mock: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The mock cluster needs a client handle to host it; this one is otherwise idle. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka-mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr); /* takes conf */
    if (!rk) {
        fprintf(stderr, "kafka-mock: cannot create the host client: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (!mc) {
        fprintf(stderr, "kafka-mock: cannot create a mock cluster of %d brokers\n", n_brokers);
        goto out;
    }
    for (int i = 0; i < n_topics; i++)
        if (mock_topic_create(mc, n_brokers, topics[i], errstr, sizeof errstr) < 0) {
            fprintf(stderr, "kafka-mock: %s\n", errstr);
            exit_code = 2;
            goto out;
        }
    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    int is_stdin_open = 1;
    for (;;) {
        if (got_term)
            break;
        if (got_down) {
            got_down = 0;
            if (mock_set_state(mc, n_brokers, 0, 0, errstr, sizeof errstr) < 0)
                fprintf(stderr, "kafka-mock: down all: %s\n", errstr);
        }
        if (got_up) {
            got_up = 0;
            if (mock_set_state(mc, n_brokers, 0, 1, errstr, sizeof errstr) < 0)
                fprintf(stderr, "kafka-mock: up all: %s\n", errstr);
        }
        struct pollfd pfd = {.fd = is_stdin_open ? 0 : -1, .events = POLLIN};
        int n = poll(&pfd, 1, 200);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "kafka-mock: poll: %s\n", strerror(errno));
            goto out;
        }
        if (n <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* EOF: whoever started us is gone */
        line_len += (size_t)r;
        line[line_len] = '\0';
        char *nl;
        int is_quit = 0;
        while (!is_quit && (nl = memchr(line, '\n', line_len))) {
            *nl = '\0';
            size_t used = (size_t)(nl - line) + 1;
            is_quit = mock_command(mc, n_brokers, line);
            memmove(line, line + used, line_len - used);
            line_len -= used;
            line[line_len] = '\0';
        }
        if (is_quit)
            break;
        if (line_len == sizeof line - 1) {
            printf("error command longer than %d bytes\n", MOCK_LINE_MAX - 1);
            fflush(stdout);
            line_len = 0;
        }
    }
    exit_code = 0;
out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return exit_code;
}
