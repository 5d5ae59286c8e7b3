/* ocsf-bench - load an ocsf-collector with realistic native-envelope events and measure it.
 *
 *   ocsf-bench --to URL | --spawn PATH_TO_ocsf-collector [-n EVENTS] [-c CONNECTIONS]
 *              [--window W] [--users N] [--seed S] [--baseline] [--spawn-arg ARG]... [--json]
 *
 * What is measured, and how:
 * - The workload (N events, about 700 bytes each on average, from the four families of
 *   DESIGN.md: lifecycle, broker, policy, tool) is generated before any clock starts, one
 *   contiguous buffer per connection. Content is a function of --seed; only `time` and the run
 *   nonce inside `id` change between runs, so that ids stay unique across runs (dedupe).
 * - Each connection has its own thread and a poll loop on a non-blocking socket: it writes up to
 *   --window unacknowledged events, reads acks concurrently, half-closes after the last event and
 *   waits for the final ack. The send time of a line is when write() accepted its last byte; its
 *   ack latency is the time from then to the first ack that covers it.
 * - Throughput is N / (last final ack - first send); with --spawn the end-to-end rate is N /
 *   (last line seen in the file sink - first send), the sink file being polled every 2 ms.
 * - --baseline first runs the identical workload against a null collector (a thread here that
 *   acks each read chunk's complete lines at once, no parsing, no disk): the "baseline measured
 *   in the same run" quoted in reports, and prints the real/baseline ratio.
 * - --compare-normalize PAIRS runs the same load as received and normalized in pairs (order
 *   alternating, a sync and a rest before each run) and prints the ratio of end-to-end rates;
 *   --same-bytes adds a run as received with every event padded (--pad-to) to the normalized
 *   output's mean line, so that what normalizing costs shows apart from the bytes OCSF adds,
 *   which the spool and the sink must write either way.
 * - With --spawn, the collector's CPU per event by thread name: utime + stime of every
 *   /proc/PID/task/TID/stat just before the first send and again once the sinks have every event,
 *   matched by tid, summed by comm (ocsf-collector = the loop thread: read, parse, normalize,
 *   serialize, acks; ocsf-writer = the spool writer; ocsf-SCHEME = a sink), divided by N; also
 *   rchar/wchar from .../io when readable. Clock-tick resolution (usually 10 ms per thread), so
 *   meaningful from ~100,000 events. When /proc cannot be read, one note says why; the exit code
 *   is not affected.
 *
 * Ownership: main() owns the workload, the spawned collector and its temp directory (removed at
 * the end unless --keep); each connection thread owns only its socket state. The spawned
 * collector gets PR_SET_PDEATHSIG so it never outlives us.
 *
 * Exit codes: 0 every connection got its final ack (and, with --spawn, the sink got every
 * accepted event); 1 otherwise (the message names the connection and its ack count); 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <sqlite3.h>

#include "tool_net.h"
#include "url.h"

#define BENCH_MAX_CONNECTIONS 1024
#define BENCH_MAX_EVENTS      50000000u
#define BENCH_MAX_PAIRS       100
#define BENCH_MAX_USERS       1000000u
#define BENCH_WRITE_MAX       (1u << 20)            /* bytes per write() call */
#define BENCH_EVENT_MAX       4096                  /* one generated event always fits */
#define BENCH_PAD_MAX         (BENCH_EVENT_MAX - 2) /* --pad-to: the line, its '\n' and a NUL fit */
#define BENCH_PAD_OVERHEAD    10                    /* ,"pad":"" and the closing brace */
#define BENCH_LOG_LINE_MAX    4096
#define BENCH_REJECTS_SHOWN   5
#define BENCH_EXIT_OK         0
#define BENCH_EXIT_FAIL       1
#define BENCH_EXIT_USAGE      2

/* ---------------------------------------------------------------------------------------------
 * Command line: parsing and --help come from one table. */

enum bench_opt_id {
    OPT_TO,
    OPT_SPAWN,
    OPT_EVENTS,
    OPT_CONNECTIONS,
    OPT_WINDOW,
    OPT_USERS,
    OPT_SEED,
    OPT_BASELINE,
    OPT_SPAWN_ARG,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_KEEP,
    OPT_SINK,
    OPT_COMPARE_FILE,
    OPT_COMPARE_NORMALIZE,
    OPT_SAME_BYTES,
    OPT_PAD_TO,
    OPT_HELP,
    OPT_VERSION,
};

static const tool_option_t bench_options[] = {
    {OPT_TO, "--to", NULL, "URL", "load a running collector (tcp://HOST:PORT or unix:///path)"},
    {OPT_SPAWN, "--spawn", NULL, "PATH",
     "start PATH (an ocsf-collector) in a temp dir with a file sink, load it, stop it"},
    {OPT_EVENTS, "--events", "-n", "N", "events to send (default 100000)"},
    {OPT_CONNECTIONS, "--connections", "-c", "N", "concurrent connections (default 4)"},
    {OPT_WINDOW, "--window", NULL, "W", "max unacknowledged events per connection (default 20000)"},
    {OPT_USERS, "--users", NULL, "N", "distinct users and workspaces (default 300)"},
    {OPT_SEED, "--seed", NULL, "S", "seed of the event generator (default 1)"},
    {OPT_BASELINE, "--baseline", NULL, NULL,
     "first run the same load against a built-in null collector, then print real/baseline"},
    {OPT_SPAWN_ARG, "--spawn-arg", NULL, "ARG",
     "extra argument for the spawned collector (repeatable)"},
    {OPT_JSON, "--json", NULL, NULL, "print one JSON object instead of text"},
    {OPT_TIMEOUT, "--timeout", NULL, "SECONDS",
     "give up after this long without progress (default 60)"},
    {OPT_KEEP, "--keep", NULL, NULL, "keep the spawned collector's temp dir (its path is printed)"},
    {OPT_SINK, "--sink", NULL, "URL",
     "with --spawn: ship to URL instead of the file sink (repeatable); end-to-end is when every "
     "sink's cursor in the spool reaches the last event"},
    {OPT_COMPARE_FILE, "--compare-file", NULL, NULL,
     "with --sink: first run the same load with the default file sink, then print sink/file"},
    {OPT_COMPARE_NORMALIZE, "--compare-normalize", NULL, "PAIRS",
     "with --spawn: run PAIRS pairs of the same load, the collector with --normalize off and on "
     "(the order alternates from pair to pair), and print each pair's end-to-end ratio "
     "normalized/as received and their geometric mean"},
    {OPT_SAME_BYTES, "--same-bytes", NULL, NULL,
     "with --compare-normalize: a third run in each pair, as received with every event padded to "
     "the normalized output's mean line, and the ratio normalized/padded: what normalizing costs "
     "apart from the bytes it adds"},
    {OPT_PAD_TO, "--pad-to", NULL, "BYTES",
     "make each event BYTES long (without its newline) with a filler field \"pad\" (longer events "
     "are left as they are): the same load with bigger events"},
    {OPT_HELP, "--help", NULL, NULL, "show this help"},
    {OPT_VERSION, "--version", NULL, NULL, "print the version"},
};

struct bench_config {
    const char *to;
    const char *spawn;
    uint64_t events, connections, window, users, seed;
    int is_baseline, is_json, is_keep;
    int timeout_ms;
    const char **spawn_args; /* borrowed from argv */
    int spawn_arg_count;
    const char **sinks; /* borrowed from argv; none: the file sink */
    int sink_count;
    int is_compare_file;
    uint64_t normalize_pairs; /* --compare-normalize; 0: off */
    int is_same_bytes;        /* --same-bytes */
    uint64_t pad_to;          /* --pad-to; 0: events as generated */
};

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: ocsf-bench --to URL | --spawn PATH [options]\n\n"
               "Loads an ocsf-collector with realistic events and reports throughput and ack "
               "latency.\n\n");
    tool_option_usage(f, bench_options, sizeof(bench_options) / sizeof(bench_options[0]), 24);
    fprintf(f,
            "\nExit status: 0 every connection got its final ack, 1 otherwise, 2 usage error.\n");
}

static int bench_parse_count(const char *flag, const char *value, uint64_t min, uint64_t max,
                             uint64_t *out)
{
    if (tool_parse_u64(value, min, max, out) < 0) {
        fprintf(stderr, "ocsf-bench: %s: expected a whole number in [%llu, %llu], got '%s'\n", flag,
                (unsigned long long)min, (unsigned long long)max, value);
        return -1;
    }
    return 0;
}

/* Parses argv. -1 usage error (printed), 1 --help/--version handled, 0 go on. */
static int bench_parse_args(int argc, char **argv, struct bench_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->events = 100000;
    cfg->connections = 4;
    cfg->window = 20000;
    cfg->users = 300;
    cfg->seed = 1;
    cfg->timeout_ms = 60000;
    cfg->spawn_args = calloc((size_t)argc + 2, sizeof(char *)); /* + --normalize off|on */
    cfg->sinks = calloc((size_t)argc, sizeof(char *));
    if (!cfg->spawn_args || !cfg->sinks) {
        fprintf(stderr, "ocsf-bench: out of memory\n");
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        char err[256];
        const tool_option_t *opt =
            tool_option_next(bench_options, sizeof(bench_options) / sizeof(bench_options[0]), argc,
                             argv, &i, &value, err, sizeof(err));
        if (!opt) {
            fprintf(stderr, "ocsf-bench: %s\n", err);
            return -1;
        }
        switch ((enum bench_opt_id)opt->id) {
        case OPT_TO:
            cfg->to = value;
            break;
        case OPT_SPAWN:
            cfg->spawn = value;
            break;
        case OPT_EVENTS:
            if (bench_parse_count("-n", value, 1, BENCH_MAX_EVENTS, &cfg->events) < 0)
                return -1;
            break;
        case OPT_CONNECTIONS:
            if (bench_parse_count("-c", value, 1, BENCH_MAX_CONNECTIONS, &cfg->connections) < 0)
                return -1;
            break;
        case OPT_WINDOW:
            if (bench_parse_count("--window", value, 1, BENCH_MAX_EVENTS, &cfg->window) < 0)
                return -1;
            break;
        case OPT_USERS:
            if (bench_parse_count("--users", value, 1, BENCH_MAX_USERS, &cfg->users) < 0)
                return -1;
            break;
        case OPT_SEED:
            if (bench_parse_count("--seed", value, 0, UINT64_MAX, &cfg->seed) < 0)
                return -1;
            break;
        case OPT_BASELINE:
            cfg->is_baseline = 1;
            break;
        case OPT_SPAWN_ARG:
            cfg->spawn_args[cfg->spawn_arg_count++] = value;
            break;
        case OPT_JSON:
            cfg->is_json = 1;
            break;
        case OPT_TIMEOUT:
            if (tool_parse_seconds(value, &cfg->timeout_ms) < 0) {
                fprintf(stderr,
                        "ocsf-bench: --timeout: not a number of seconds in (0, 86400]: %s\n",
                        value);
                return -1;
            }
            break;
        case OPT_KEEP:
            cfg->is_keep = 1;
            break;
        case OPT_SINK:
            cfg->sinks[cfg->sink_count++] = value;
            break;
        case OPT_COMPARE_FILE:
            cfg->is_compare_file = 1;
            break;
        case OPT_COMPARE_NORMALIZE:
            if (bench_parse_count("--compare-normalize", value, 1, BENCH_MAX_PAIRS,
                                  &cfg->normalize_pairs) < 0)
                return -1;
            break;
        case OPT_SAME_BYTES:
            cfg->is_same_bytes = 1;
            break;
        case OPT_PAD_TO:
            if (bench_parse_count("--pad-to", value, 1, BENCH_PAD_MAX, &cfg->pad_to) < 0)
                return -1;
            break;
        case OPT_HELP:
            bench_usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("ocsf-bench %s\n", OCSF_VERSION);
            return 1;
        }
    }
    if (!cfg->to == !cfg->spawn) {
        fprintf(stderr, "ocsf-bench: give exactly one of --to URL or --spawn PATH (see --help)\n");
        return -1;
    }
    if (cfg->spawn_arg_count > 0 && !cfg->spawn) {
        fprintf(stderr, "ocsf-bench: --spawn-arg needs --spawn\n");
        return -1;
    }
    if (cfg->sink_count > 0 && !cfg->spawn) {
        fprintf(stderr, "ocsf-bench: --sink needs --spawn (with --to, the collector's own sinks "
                        "are used)\n");
        return -1;
    }
    if (cfg->normalize_pairs > 0) {
        if (!cfg->spawn || cfg->is_compare_file) {
            fprintf(stderr,
                    "ocsf-bench: --compare-normalize needs --spawn (and no --compare-file)\n");
            return -1;
        }
        for (int i = 0; i < cfg->spawn_arg_count; i++)
            if (strcmp(cfg->spawn_args[i], "--normalize") == 0) {
                fprintf(stderr, "ocsf-bench: --compare-normalize sets --normalize itself; drop "
                                "--spawn-arg --normalize\n");
                return -1;
            }
    }
    if (cfg->is_same_bytes && (cfg->normalize_pairs == 0 || cfg->sink_count > 0 || cfg->pad_to)) {
        fprintf(stderr, "ocsf-bench: --same-bytes needs --compare-normalize with the file sink (no "
                        "--sink) and no --pad-to (it pads the third run itself)\n");
        return -1;
    }
    if (cfg->is_compare_file && cfg->sink_count == 0) {
        fprintf(stderr, "ocsf-bench: --compare-file needs --sink URL\n");
        return -1;
    }
    if (cfg->connections > cfg->events) {
        fprintf(stderr, "ocsf-bench: -c: more connections (%llu) than events (%llu)\n",
                (unsigned long long)cfg->connections, (unsigned long long)cfg->events);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Workload generation. Deterministic in --seed (splitmix64); the event types and their weights
 * are one table, the family fields one writer per family. */

struct bench_rng {
    uint64_t state;
};

static uint64_t bench_rand(struct bench_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned bench_below(struct bench_rng *r, unsigned n)
{
    return (unsigned)(bench_rand(r) % n);
}

static const char *bench_pick(struct bench_rng *r, const char *const *list, size_t n)
{
    return list[bench_below(r, (unsigned)n)];
}
#define BENCH_PICK(r, list) bench_pick((r), (list), sizeof(list) / sizeof((list)[0]))

/* One event being written: a bounded buffer; overflow is a programming error (asserted by the
 * caller's check of is_overflow). */
struct bench_line {
    char buf[BENCH_EVENT_MAX];
    size_t len;
    int is_overflow;
};

__attribute__((format(printf, 2, 3))) static void bench_put(struct bench_line *l, const char *fmt,
                                                            ...)
{
    va_list ap;
    int n;
    if (l->is_overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(l->buf) - l->len)
        l->is_overflow = 1;
    else
        l->len += (size_t)n;
}

/* Appends ,"pad":"<fill letters>" (--pad-to). The letters depend on the event's index only, not on
 * the generator's random stream: a padded workload has the same events as the unpadded one. */
static void bench_pad(struct bench_line *l, size_t fill, uint64_t index)
{
    static const char head[] = ",\"pad\":\"";
    if (l->is_overflow || l->len + sizeof(head) - 1 + fill + 1 >= sizeof(l->buf)) {
        l->is_overflow = 1;
        return;
    }
    memcpy(l->buf + l->len, head, sizeof(head) - 1);
    l->len += sizeof(head) - 1;
    for (size_t k = 0; k < fill; k++)
        l->buf[l->len++] = (char)('a' + (index + k) % 26);
    l->buf[l->len++] = '"';
}

/* What the family writers know about the event being generated. */
struct bench_gen {
    struct bench_rng rng;
    unsigned user; /* 1..users */
    unsigned users;
    int is_failure;   /* outcome is the failure/denied word */
    uint64_t time_ms; /* event time, epoch ms */
};

static void bench_hex(struct bench_rng *r, char *out, size_t hex_digits)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t v = 0;
    for (size_t i = 0; i < hex_digits; i++) {
        if (i % 16 == 0)
            v = bench_rand(r);
        out[i] = digits[v & 15];
        v >>= 4;
    }
    out[hex_digits] = '\0';
}

static void bench_rfc3339(uint64_t ms, char *out, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static const char *const bench_images[] = {"devbox", "devbox-gpu", "data-science", "web-frontend",
                                           "go-toolchain"};
static const char *const bench_profiles[] = {"standard", "large", "gpu-a10", "restricted"};
static const char *const bench_teams[] = {"payments", "search", "platform", "ml-infra",
                                          "identity", "mobile", "data-eng", "security"};
static const char *const bench_repos[] = {"checkout-service", "search-api",   "infra-live",
                                          "model-serving",    "auth-gateway", "ios-app",
                                          "etl-jobs"};

static void bench_fields_lifecycle(struct bench_line *l, struct bench_gen *g, const char *type)
{
    char digest[65];
    bench_hex(&g->rng, digest, 64);
    if (strncmp(type, "image.", 6) == 0) {
        bench_put(
            l,
            ",\"image\":\"registry.corp.example/workspaces/%s:2026.11.%u\",\"digest\":\"sha256:"
            "%s\",\"actor\":\"image-pipeline@corp.example\",\"build_id\":\"b-%u\"",
            BENCH_PICK(&g->rng, bench_images), 1 + bench_below(&g->rng, 28), digest,
            100000 + bench_below(&g->rng, 900000));
        return;
    }
    char actor[64];
    /* Who asked: the user, or the on-call operator for the kill switch. */
    if (strcmp(type, "workspace.kill") == 0)
        snprintf(actor, sizeof(actor), "ops-oncall@corp.example");
    else
        snprintf(actor, sizeof(actor), "u%u@corp.example", g->user);
    bench_put(l,
              ",\"image\":\"registry.corp.example/workspaces/%s:2026.11.%u\",\"image_digest\":"
              "\"sha256:%s\",\"profile\":\"%s\",\"actor\":\"%s\",\"cluster\":\"ocp-prod-%u\","
              "\"namespace\":\"ws-u%u\"",
              BENCH_PICK(&g->rng, bench_images), 1 + bench_below(&g->rng, 28), digest,
              BENCH_PICK(&g->rng, bench_profiles), actor, 1 + bench_below(&g->rng, 3), g->user);
    if (strcmp(type, "workspace.kill") == 0)
        bench_put(l, ",\"reason\":\"revoke-sso\",\"severity\":\"high\"");
}

static void bench_fields_broker(struct bench_line *l, struct bench_gen *g, const char *type)
{
    char session[17];
    char expires[80];
    bench_hex(&g->rng, session, 16);
    bench_rfc3339(g->time_ms + 8 * 3600 * 1000, expires, sizeof(expires));
    bench_put(l,
              ",\"session\":\"s-%s\",\"src_ip\":\"10.%u.%u.%u\",\"vm_ip\":\"10.128.%u.%u\","
              "\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/131.0 Safari/537.36\"",
              session, 1 + g->user % 200, g->user / 200, 1 + g->user % 250, g->user / 250,
              2 + g->user % 250);
    if (strcmp(type, "broker.session.open") == 0 || strcmp(type, "broker.session.deny") == 0)
        bench_put(l, ",\"auth_protocol\":\"%s\",\"is_mfa\":%s,\"expiration_time\":\"%s\"",
                  bench_below(&g->rng, 4) ? "oidc" : "saml", g->is_failure ? "false" : "true",
                  expires);
    if (strcmp(type, "broker.session.deny") == 0)
        bench_put(l, ",\"reason\":\"mfa required by policy sso-prod\"");
    else if (strcmp(type, "broker.session.expire") == 0)
        bench_put(l, ",\"expiration_reason\":\"idle timeout (30 min)\"");
    else if (strcmp(type, "broker.session.close") == 0)
        bench_put(l, ",\"duration_ms\":%u", 60000 + bench_below(&g->rng, 8 * 3600000));
    else if (strcmp(type, "broker.token.issue") == 0)
        bench_put(
            l, ",\"audience\":\"workspace-gateway\",\"scope\":\"workspace:connect\",\"ttl_s\":900");
}

static void bench_fields_policy(struct bench_line *l, struct bench_gen *g, const char *type)
{
    char digest[65];
    unsigned version = 1 + bench_below(&g->rng, 40);
    bench_hex(&g->rng, digest, 64);
    bench_put(l,
              ",\"policy\":\"%s-agent-policy\",\"version\":\"2026.11.%u\",\"bundle_sha256\":\"%s\","
              "\"actor\":\"gitops-controller\",\"repo\":\"git.corp.example/platform/policies\","
              "\"commit\":\"%.40s\"",
              BENCH_PICK(&g->rng, bench_teams), version, digest, digest + 8);
    if (strcmp(type, "policy.reject") == 0 ||
        (g->is_failure && strcmp(type, "policy.bundle.verify") == 0))
        bench_put(l, ",\"reason\":\"bundle signature does not match key policy-signing-2026\"");
}

static void bench_fields_tool(struct bench_line *l, struct bench_gen *g, const char *type)
{
    static const char *const ops[] = {"create", "read", "update", "delete"};
    static const char *const tools[] = {"github.create_pull_request", "jira.update_issue",
                                        "slack.post_message", "k8s.get_pods", "fs.search"};
    static const char *const hosts[] = {"api.github.com", "pypi.org", "registry.npmjs.org",
                                        "proxy.golang.org", "inference.corp.example"};
    static const char *const methods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
    static const char *const commands[] = {
        "pytest -q tests/test_api.py --maxfail=1", "go test ./... -run TestCheckout -count=1",
        "npm run build -- --mode production", "git push origin HEAD:refs/heads/agent/fix-1234"};
    char trace[33], span[17], call[25];
    const char *repo = BENCH_PICK(&g->rng, bench_repos);

    bench_hex(&g->rng, trace, 32);
    bench_hex(&g->rng, span, 16);
    bench_hex(&g->rng, call, 24);
    bench_put(l,
              ",\"agent\":\"claude-code/2.0.%u\",\"tool_call_id\":\"toolu_%s\",\"trace_id\":\"%s\","
              "\"span_id\":\"%s\",\"policy\":\"%s-agent-policy@2026.11.%u\",\"team\":\"%s\"",
              10 + bench_below(&g->rng, 9), call, trace, span, BENCH_PICK(&g->rng, bench_teams),
              1 + bench_below(&g->rng, 40), BENCH_PICK(&g->rng, bench_teams));
    if (strcmp(type, "tool.call") == 0) {
        bench_put(l, ",\"tool\":\"%s\",\"op\":\"%s\",\"args_bytes\":%u,\"repo\":\"%s\"",
                  BENCH_PICK(&g->rng, tools), BENCH_PICK(&g->rng, ops), bench_below(&g->rng, 8192),
                  repo);
    } else if (strcmp(type, "tool.egress") == 0) {
        unsigned h = bench_below(&g->rng, sizeof(hosts) / sizeof(hosts[0]));
        bench_put(l,
                  ",\"dst_hostname\":\"%s\",\"dst_ip\":\"%u.%u.%u.%u\",\"dst_port\":443,"
                  "\"protocol\":\"tcp\",\"rule\":\"%s\",\"bytes_out\":%u",
                  g->is_failure ? "paste.example.net" : hosts[h], 140 + h, 82 + h,
                  bench_below(&g->rng, 256), 1 + bench_below(&g->rng, 254),
                  g->is_failure ? "default-deny" : "allow-dev-registries",
                  bench_below(&g->rng, 65536));
    } else if (strcmp(type, "tool.http") == 0) {
        const char *method = BENCH_PICK(&g->rng, methods);
        bench_put(
            l,
            ",\"method\":\"%s\",\"url\":\"https://api.github.com/repos/corp/%s/pulls?state=open"
            "&per_page=50\",\"status_code\":%u,\"bytes_in\":%u",
            method, repo, g->is_failure ? 403 : 200, bench_below(&g->rng, 200000));
    } else if (strcmp(type, "tool.file") == 0) {
        bench_put(l, ",\"op\":\"%s\",\"path\":\"/home/u%u/src/%s/src/module_%u.py\",\"bytes\":%u",
                  BENCH_PICK(&g->rng, ops), g->user, repo, bench_below(&g->rng, 500),
                  bench_below(&g->rng, 100000));
    } else if (strcmp(type, "tool.exec") == 0) {
        bench_put(l,
                  ",\"pid\":%u,\"cmd_line\":\"%s\",\"process\":\"%s\",\"exit_code\":%d,\"cwd\":"
                  "\"/home/u%u/src/%s\"",
                  1000 + bench_below(&g->rng, 60000), BENCH_PICK(&g->rng, commands), "bash",
                  g->is_failure ? 1 : 0, g->user, repo);
    } else if (strcmp(type, "tool.inference") == 0) {
        unsigned prompt = 500 + bench_below(&g->rng, 30000),
                 completion = bench_below(&g->rng, 4000);
        bench_put(
            l,
            ",\"model\":\"claude-sonnet-4-5\",\"provider\":\"anthropic\",\"prompt_tokens\":%u,"
            "\"completion_tokens\":%u,\"total_tokens\":%u,\"endpoint\":\"https://inference."
            "corp.example/v1/messages\"",
            prompt, completion, prompt + completion);
    } else if (strcmp(type, "tool.credential") == 0) {
        bench_put(l, ",\"credential\":\"github-app-token/%s\",\"purpose\":\"git push\"", repo);
    } else if (strcmp(type, "tool.approval") == 0) {
        bench_put(l,
                  ",\"reviewer\":\"u%u@corp.example\",\"decision\":\"%s\",\"request\":\"merge PR "
                  "in %s\"",
                  1 + (g->user + 7) % g->users, g->is_failure ? "rejected" : "approved", repo);
    }
}

/* Fields every emitter in the fleet adds: request correlation and deployment labels. */
static void bench_fields_common(struct bench_line *l, struct bench_gen *g)
{
    static const char *const regions[] = {"eu-west-1", "eu-central-1", "us-east-1"};
    static const char *const tiers[] = {"gold", "silver", "bronze"};
    char request[25];
    bench_hex(&g->rng, request, 24);
    bench_put(l,
              ",\"request_id\":\"req-%s\",\"env\":\"prod\",\"region\":\"%s\",\"labels\":{\"team\":"
              "\"%s\",\"cost_center\":\"cc-%04u\",\"tier\":\"%s\",\"managed_by\":\"workspace-"
              "operator\"}",
              request, BENCH_PICK(&g->rng, regions), bench_teams[g->user % 8], 1000 + g->user % 97,
              BENCH_PICK(&g->rng, tiers));
}

typedef void (*bench_family_writer)(struct bench_line *l, struct bench_gen *g, const char *type);

/* The event mix: weight per mille; outcome words; failure percentage. */
static const struct bench_type {
    const char *type;
    unsigned weight;
    const char *source;
    bench_family_writer fields;
    const char *ok, *fail;
    unsigned fail_pct;
} bench_types[] = {
    {"tool.call", 170, "agent-runtime", bench_fields_tool, "allowed", "denied", 4},
    {"tool.egress", 140, "agent-runtime", bench_fields_tool, "allowed", "denied", 6},
    {"tool.http", 120, "agent-runtime", bench_fields_tool, "allowed", "denied", 3},
    {"tool.file", 140, "agent-runtime", bench_fields_tool, "success", "failure", 2},
    {"tool.exec", 80, "agent-runtime", bench_fields_tool, "success", "failure", 10},
    {"tool.inference", 80, "agent-runtime", bench_fields_tool, "success", "failure", 1},
    {"tool.credential", 30, "credential-proxy", bench_fields_tool, "success", "failure", 1},
    {"tool.approval", 10, "review-gate", bench_fields_tool, "success", "failure", 15},
    {"policy.status", 40, "policy-agent", bench_fields_policy, "success", "failure", 0},
    {"policy.apply", 20, "policy-agent", bench_fields_policy, "success", "failure", 0},
    {"policy.reject", 3, "policy-agent", bench_fields_policy, "failure", "failure", 100},
    {"policy.bundle.verify", 10, "gitops-controller", bench_fields_policy, "success", "failure", 5},
    {"policy.release.publish", 7, "gitops-controller", bench_fields_policy, "success", "failure",
     0},
    {"broker.session.open", 40, "access-broker", bench_fields_broker, "success", "failure", 0},
    {"broker.session.deny", 8, "access-broker", bench_fields_broker, "failure", "failure", 100},
    {"broker.session.close", 30, "access-broker", bench_fields_broker, "success", "failure", 0},
    {"broker.session.expire", 10, "access-broker", bench_fields_broker, "success", "failure", 0},
    {"broker.token.issue", 30, "access-broker", bench_fields_broker, "success", "failure", 0},
    {"workspace.create", 4, "workspace-controller", bench_fields_lifecycle, "success", "failure",
     2},
    {"workspace.start", 12, "workspace-controller", bench_fields_lifecycle, "success", "failure",
     1},
    {"workspace.stop", 10, "workspace-controller", bench_fields_lifecycle, "success", "failure", 0},
    {"workspace.suspend", 3, "workspace-controller", bench_fields_lifecycle, "success", "failure",
     0},
    {"workspace.resume", 3, "workspace-controller", bench_fields_lifecycle, "success", "failure",
     0},
    {"workspace.snapshot", 2, "workspace-controller", bench_fields_lifecycle, "success", "failure",
     0},
    {"workspace.update", 2, "workspace-controller", bench_fields_lifecycle, "success", "failure",
     0},
    {"workspace.delete", 2, "workspace-controller", bench_fields_lifecycle, "success", "failure",
     0},
    {"workspace.kill", 1, "operator-console", bench_fields_lifecycle, "success", "failure", 0},
    {"image.approve", 2, "image-pipeline", bench_fields_lifecycle, "success", "failure", 0},
    {"image.revoke", 1, "image-pipeline", bench_fields_lifecycle, "success", "failure", 0},
};

/* The pre-generated events of one connection, and the state of one run over them. */
struct bench_conn {
    int index;
    char *buf; /* all lines, each '\n'-terminated (owned) */
    size_t buf_len, buf_cap;
    size_t *line_end; /* offset just past line i's '\n' (owned) */
    size_t line_count, line_cap;
    /* per run */
    const struct bench_config *cfg;
    int fd;
    uint64_t *t_ns; /* send time of line i, then its ack latency once acked (owned) */
    size_t sent_lines, acked, rejected;
    size_t off;
    uint64_t done_ns;
    int is_ok;
    char err[256];
};

struct bench_workload {
    struct bench_conn *conns;
    size_t conn_count;
    uint64_t events, bytes;
};

static int bench_conn_append(struct bench_conn *c, const char *line, size_t len)
{
    if (c->buf_len + len > c->buf_cap) {
        size_t cap = c->buf_cap ? c->buf_cap * 2 : 1 << 20;
        char *p;
        while (cap < c->buf_len + len)
            cap *= 2;
        p = realloc(c->buf, cap);
        if (!p)
            return -1;
        c->buf = p;
        c->buf_cap = cap;
    }
    if (c->line_count == c->line_cap) {
        size_t cap = c->line_cap ? c->line_cap * 2 : 4096;
        size_t *p = realloc(c->line_end, cap * sizeof(*p));
        if (!p)
            return -1;
        c->line_end = p;
        c->line_cap = cap;
    }
    memcpy(c->buf + c->buf_len, line, len);
    c->buf_len += len;
    c->line_end[c->line_count++] = c->buf_len;
    return 0;
}

/* Generates cfg->events events round-robin over the connections. */
static int bench_generate(const struct bench_config *cfg, struct bench_workload *w)
{
    struct bench_gen g;
    struct bench_line *l = malloc(sizeof(*l));
    unsigned total_weight = 0;
    struct timespec now;
    uint64_t base_ms;
    unsigned nonce;
    int rc = -1;

    if (!l)
        return -1;
    memset(w, 0, sizeof(*w));
    w->conn_count = (size_t)cfg->connections;
    w->conns = calloc(w->conn_count, sizeof(*w->conns));
    if (!w->conns)
        goto fail;
    for (size_t i = 0; i < sizeof(bench_types) / sizeof(bench_types[0]); i++)
        total_weight += bench_types[i].weight;
    clock_gettime(CLOCK_REALTIME, &now);
    base_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    nonce = (unsigned)(((uint64_t)now.tv_nsec ^ ((uint64_t)getpid() << 20)) * 2654435761u);

    memset(&g, 0, sizeof(g));
    g.rng.state = cfg->seed;
    g.users = (unsigned)cfg->users;
    for (uint64_t i = 0; i < cfg->events; i++) {
        unsigned pick = bench_below(&g.rng, total_weight);
        const struct bench_type *t = bench_types;
        char time_text[80];

        while (pick >= t->weight) {
            pick -= t->weight;
            t++;
        }
        g.user = 1 + bench_below(&g.rng, g.users);
        g.is_failure = bench_below(&g.rng, 100) < t->fail_pct;
        g.time_ms = base_ms + i / 16; /* 16 events per millisecond, in send order */
        bench_rfc3339(g.time_ms, time_text, sizeof(time_text));

        l->len = 0;
        l->is_overflow = 0;
        bench_put(
            l,
            "{\"type\":\"%s\",\"time\":\"%s\",\"id\":\"bench-%08x-%012llu\",\"source\":\"%s\","
            "\"user\":\"u%u@corp.example\",\"workspace\":\"ws-u%u\",\"vm\":\"vm-u%u-01\","
            "\"outcome\":\"%s\"",
            t->type, time_text, nonce, (unsigned long long)i, t->source, g.user, g.user, g.user,
            g.is_failure ? t->fail : t->ok);
        t->fields(l, &g, t->type);
        bench_fields_common(l, &g);
        if (cfg->pad_to > l->len + BENCH_PAD_OVERHEAD)
            bench_pad(l, (size_t)cfg->pad_to - l->len - BENCH_PAD_OVERHEAD, i);
        bench_put(l, "}\n");
        if (l->is_overflow) {
            fprintf(stderr, "ocsf-bench: internal error: event %s longer than %d bytes\n", t->type,
                    BENCH_EVENT_MAX);
            goto fail;
        }
        if (bench_conn_append(&w->conns[i % w->conn_count], l->buf, l->len) < 0) {
            fprintf(stderr, "ocsf-bench: out of memory generating %llu events\n",
                    (unsigned long long)cfg->events);
            goto fail;
        }
        w->bytes += l->len;
    }
    w->events = cfg->events;
    for (size_t c = 0; c < w->conn_count; c++) {
        w->conns[c].index = (int)c;
        w->conns[c].t_ns = malloc(w->conns[c].line_count * sizeof(uint64_t));
        if (!w->conns[c].t_ns) {
            fprintf(stderr, "ocsf-bench: out of memory\n");
            goto fail;
        }
    }
    rc = 0;
fail:
    free(l);
    return rc;
}

static void bench_workload_free(struct bench_workload *w)
{
    for (size_t c = 0; w->conns && c < w->conn_count; c++) {
        free(w->conns[c].buf);
        free(w->conns[c].line_end);
        free(w->conns[c].t_ns);
    }
    free(w->conns);
    memset(w, 0, sizeof(*w));
}

/* ---------------------------------------------------------------------------------------------
 * One connection's load loop (a thread per connection). */

static atomic_int bench_rejects_shown;

static void bench_on_ack(void *ctx, uint64_t count)
{
    struct bench_conn *c = ctx;
    uint64_t now;
    if (count <= c->acked || !c->is_ok)
        return;
    if (count > c->sent_lines) {
        snprintf(c->err, sizeof(c->err), "collector acked %llu lines but only %zu were sent",
                 (unsigned long long)count, c->sent_lines);
        c->is_ok = 0;
        return;
    }
    now = tool_now_ns();
    for (size_t i = c->acked; i < count; i++)
        c->t_ns[i] = now - c->t_ns[i];
    c->acked = (size_t)count;
}

static void bench_on_error(void *ctx, uint64_t line, const char *reason)
{
    struct bench_conn *c = ctx;
    char text[256];
    c->rejected++;
    if (atomic_fetch_add(&bench_rejects_shown, 1) < BENCH_REJECTS_SHOWN) {
        snprintf(text, sizeof(text), "%s", reason);
        tool_sanitize(text);
        fprintf(stderr, "ocsf-bench: connection %d: line %llu rejected: %s\n", c->index,
                (unsigned long long)line, text);
    }
}

static const tool_reply_ops_t bench_reply_ops = {.on_ack = bench_on_ack,
                                                 .on_error = bench_on_error};

static void *bench_conn_main(void *arg)
{
    struct bench_conn *c = arg;
    const uint64_t timeout_ns = (uint64_t)c->cfg->timeout_ms * 1000000u;
    const size_t window = (size_t)c->cfg->window;
    uint64_t last_progress = tool_now_ns();
    int is_half_closed = 0;
    tool_reply_reader_t *reader = malloc(sizeof(*reader));

    if (!reader) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        c->is_ok = 0;
        return NULL;
    }
    tool_reply_init(reader);
    while (c->is_ok && c->acked < c->line_count) {
        size_t limit = c->acked + window < c->line_count ? c->acked + window : c->line_count;
        size_t want_off = c->line_end[limit - 1];
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        uint64_t now = tool_now_ns();
        int n;

        if (c->off < want_off)
            pfd.events |= POLLOUT;
        if (now - last_progress >= timeout_ns) {
            snprintf(c->err, sizeof(c->err), "no progress for %g s: ack %zu of %zu",
                     c->cfg->timeout_ms / 1000.0, c->acked, c->line_count);
            c->is_ok = 0;
            break;
        }
        n = poll(&pfd, 1, (int)((last_progress + timeout_ns - now) / 1000000u) + 1);
        if (n < 0 && errno != EINTR) {
            snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
            c->is_ok = 0;
            break;
        }
        if (n <= 0)
            continue;
        if (pfd.revents & POLLOUT) {
            size_t len = want_off - c->off < BENCH_WRITE_MAX ? want_off - c->off : BENCH_WRITE_MAX;
            ssize_t w = write(c->fd, c->buf + c->off, len);
            if (w > 0) {
                uint64_t t = tool_now_ns();
                c->off += (size_t)w;
                while (c->sent_lines < c->line_count && c->line_end[c->sent_lines] <= c->off)
                    c->t_ns[c->sent_lines++] = t;
                last_progress = t;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                snprintf(c->err, sizeof(c->err),
                         "connection closed by collector after ack %zu of %zu (%s)", c->acked,
                         c->line_count, strerror(errno));
                c->is_ok = 0;
                break;
            }
            if (c->sent_lines == c->line_count && !is_half_closed) {
                shutdown(c->fd, SHUT_WR);
                is_half_closed = 1;
            }
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t before = c->acked;
            int rc = tool_reply_read(reader, c->fd, &bench_reply_ops, c);
            if (c->acked != before)
                last_progress = tool_now_ns();
            if (rc != 0 && c->is_ok && c->acked < c->line_count) {
                snprintf(c->err, sizeof(c->err),
                         "connection closed by collector after ack %zu of %zu", c->acked,
                         c->line_count);
                c->is_ok = 0;
            }
        }
    }
    c->done_ns = tool_now_ns();
    free(reader);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The null collector: accepts on 127.0.0.1:0, acks every read chunk's complete lines at once. */

struct bench_null_conn {
    int fd;
    uint64_t lines;      /* complete lines received */
    uint64_t acked_sent; /* count of the last ack fully written */
    char out[32];        /* ack line being written */
    size_t out_len, out_off;
    int is_eof;
};

struct bench_null {
    int listen_fd;
    int stop_pipe[2];
    int port;
    pthread_t thread;
    int is_running;
};

/* Writes as much ack as the socket takes; formats a fresh (coalesced) ack when the previous one
 * is out. Returns 1 when the connection is finished (EOF seen and final ack written), -1 on a
 * write error, 0 otherwise. */
static int bench_null_flush(struct bench_null_conn *nc)
{
    for (;;) {
        if (nc->out_off == nc->out_len) {
            if (nc->acked_sent == nc->lines)
                return nc->is_eof ? 1 : 0;
            nc->out_len = (size_t)snprintf(nc->out, sizeof(nc->out), "{\"ack\":%llu}\n",
                                           (unsigned long long)nc->lines);
            nc->out_off = 0;
            nc->acked_sent = nc->lines;
        }
        ssize_t n = write(nc->fd, nc->out + nc->out_off, nc->out_len - nc->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0)
            return -1;
        nc->out_off += (size_t)n;
    }
}

static void *bench_null_main(void *arg)
{
    struct bench_null *ns = arg;
    struct bench_null_conn conns[BENCH_MAX_CONNECTIONS];
    struct pollfd pfds[BENCH_MAX_CONNECTIONS + 2];
    size_t count = 0;
    char *buf = malloc(256 * 1024);

    if (!buf)
        return NULL;
    for (;;) {
        pfds[0] = (struct pollfd){.fd = ns->stop_pipe[0], .events = POLLIN};
        pfds[1] = (struct pollfd){.fd = count < BENCH_MAX_CONNECTIONS ? ns->listen_fd : -1,
                                  .events = POLLIN};
        for (size_t i = 0; i < count; i++)
            pfds[i + 2] = (struct pollfd){
                .fd = conns[i].fd,
                .events = (short)((conns[i].is_eof ? 0 : POLLIN) |
                                  (conns[i].out_off < conns[i].out_len ? POLLOUT : 0))};
        if (poll(pfds, (nfds_t)(count + 2), -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfds[0].revents)
            break;
        for (size_t i = 0; i < count; i++) {
            struct bench_null_conn *nc = &conns[i];
            short revents = pfds[i + 2].revents;
            int rc = 0;
            if (revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = read(nc->fd, buf, 256 * 1024);
                if (n > 0) {
                    for (const char *p = buf, *end = buf + n;
                         (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
                        nc->lines++;
                } else if (n == 0) {
                    nc->is_eof = 1;
                } else if (errno != EAGAIN && errno != EINTR) {
                    rc = -1;
                }
            }
            if (rc == 0)
                rc = bench_null_flush(nc);
            if (rc != 0) {
                close(nc->fd);
                conns[i] = conns[--count];
                pfds[i + 2] = pfds[count + 2];
                i--;
            }
        }
        /* Accept after serving: new connections join the next poll round. */
        if (pfds[1].revents & POLLIN) {
            int fd = accept4(ns->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                memset(&conns[count], 0, sizeof(conns[count]));
                conns[count].fd = fd;
                count++;
            }
        }
    }
    for (size_t i = 0; i < count; i++)
        close(conns[i].fd);
    free(buf);
    return NULL;
}

static int bench_null_start(struct bench_null *ns)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sin);

    memset(ns, 0, sizeof(*ns));
    ns->stop_pipe[0] = ns->stop_pipe[1] = -1;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ns->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ns->listen_fd < 0 || bind(ns->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(ns->listen_fd, 128) < 0 ||
        getsockname(ns->listen_fd, (struct sockaddr *)&sin, &len) < 0 ||
        pipe2(ns->stop_pipe, O_CLOEXEC) < 0)
        goto fail;
    ns->port = ntohs(sin.sin_port);
    if (pthread_create(&ns->thread, NULL, bench_null_main, ns) != 0)
        goto fail;
    ns->is_running = 1;
    return 0;
fail:
    fprintf(stderr, "ocsf-bench: cannot start the null collector: %s\n", strerror(errno));
    if (ns->listen_fd >= 0)
        close(ns->listen_fd);
    if (ns->stop_pipe[0] >= 0) {
        close(ns->stop_pipe[0]);
        close(ns->stop_pipe[1]);
    }
    return -1;
}

static void bench_null_stop(struct bench_null *ns)
{
    if (!ns->is_running)
        return;
    (void)!write(ns->stop_pipe[1], "x", 1);
    pthread_join(ns->thread, NULL);
    close(ns->stop_pipe[0]);
    close(ns->stop_pipe[1]);
    close(ns->listen_fd);
    ns->is_running = 0;
}

/* ---------------------------------------------------------------------------------------------
 * The spawned collector: temp dir, child process, its log lines, the sink file. */

struct bench_spawn {
    pid_t pid;
    int log_fd;                /* read end of the child's stdout+stderr */
    char dir[PATH_MAX - 64];   /* leaves room for "/events.ndjson" in sink_path */
    char sink_path[PATH_MAX];  /* the file sink's output; empty when --sink URLs are used */
    char spool_path[PATH_MAX]; /* for the cursor watch */
    int sink_count;            /* sinks whose cursors must reach the last event */
    char listen_url[256];
    char log_buf[BENCH_LOG_LINE_MAX];
    size_t log_len;
    char recent[8][256]; /* last log lines, shown when the start fails */
    unsigned recent_count;
    pthread_t log_thread;
    int has_log_thread;
};

/* Forwards a collector log line to stderr unless its level is INFO or quieter. Log lines look
 * like "2026-11-29T02:00:00.123Z INFO listening on tcp://127.0.0.1:40123"; lines without a
 * known level (crash reports, sanitizer output) are forwarded too. */
static void bench_log_forward(const char *line)
{
    static const char *const quiet[] = {"INFO", "DEBUG", "TRACE", "NOTICE"};
    const char *sp = strchr(line, ' ');
    if (sp) {
        const char *level = sp + 1;
        size_t n = strcspn(level, " ");
        for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
            if (n == strlen(quiet[i]) && strncmp(level, quiet[i], n) == 0)
                return;
        }
    }
    fprintf(stderr, "ocsf-bench: collector: %s\n", line);
}

/* Moves the first len bytes of sp->log_buf (plus skip bytes) out as a line into out. */
static void bench_log_take(struct bench_spawn *sp, size_t len, size_t skip, char *out,
                           size_t outlen)
{
    size_t copy = len < outlen - 1 ? len : outlen - 1;
    memcpy(out, sp->log_buf, copy);
    out[copy] = '\0';
    tool_sanitize(out);
    memmove(sp->log_buf, sp->log_buf + len + skip, sp->log_len - len - skip);
    sp->log_len -= len + skip;
    /* the last 8 lines, each cut to the slot's size on purpose (for the failure report) */
    char *slot = sp->recent[sp->recent_count++ % 8];
    size_t n = strnlen(out, sizeof(sp->recent[0]) - 1);
    memcpy(slot, out, n);
    slot[n] = '\0';
}

/* Gets the collector's next log line into out, waiting at most timeout_ms (-1: forever). A line
 * longer than the buffer comes out in pieces. 1 got a line, 0 timeout, -1 end of stream. */
static int bench_log_next(struct bench_spawn *sp, char *out, size_t outlen, int timeout_ms)
{
    uint64_t deadline = tool_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
    for (;;) {
        char *nl = memchr(sp->log_buf, '\n', sp->log_len);
        struct pollfd pfd = {.fd = sp->log_fd, .events = POLLIN};
        int wait_ms = -1, n;
        ssize_t r;

        if (nl || sp->log_len == sizeof(sp->log_buf)) {
            bench_log_take(sp, nl ? (size_t)(nl - sp->log_buf) : sp->log_len, nl ? 1 : 0, out,
                           outlen);
            return 1;
        }
        if (timeout_ms >= 0) {
            uint64_t now = tool_now_ns();
            if (now >= deadline)
                return 0;
            wait_ms = (int)((deadline - now) / 1000000u) + 1;
        }
        n = poll(&pfd, 1, wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return 0;
        r = read(sp->log_fd, sp->log_buf + sp->log_len, sizeof(sp->log_buf) - sp->log_len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            if (sp->log_len == 0)
                return -1;
            bench_log_take(sp, sp->log_len, 0, out, outlen); /* last line without '\n' */
            return 1;
        }
        sp->log_len += (size_t)r;
    }
}

static void *bench_log_main(void *arg)
{
    struct bench_spawn *sp = arg;
    char line[BENCH_LOG_LINE_MAX];
    while (bench_log_next(sp, line, sizeof(line), -1) == 1)
        bench_log_forward(line);
    return NULL;
}

static int bench_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0)
        fprintf(stderr, "ocsf-bench: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* Starts the collector and waits for its "listening on tcp://..." line. 0 or -1 (printed). */
static int bench_spawn_start(const struct bench_config *cfg, int is_file_sink,
                             struct bench_spawn *sp)
{
    const char *tmp = getenv("TMPDIR");
    char sink_url[PATH_MAX + 16];
    char line[BENCH_LOG_LINE_MAX];
    int pipefd[2] = {-1, -1};
    const char **args = NULL;
    int argn = 0;
    uint64_t deadline;

    memset(sp, 0, sizeof(*sp));
    sp->pid = -1;
    sp->log_fd = -1;
    snprintf(sp->dir, sizeof(sp->dir), "%s/ocsf-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(sp->dir)) {
        fprintf(stderr, "ocsf-bench: cannot create a temp dir in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        sp->dir[0] = '\0';
        return -1;
    }
    snprintf(sp->spool_path, sizeof(sp->spool_path), "%s/spool.db", sp->dir);
    if (is_file_sink) {
        snprintf(sp->sink_path, sizeof(sp->sink_path), "%s/events.ndjson", sp->dir);
        snprintf(sink_url, sizeof(sink_url), "file://%s", sp->sink_path);
        sp->sink_count = 1;
    } else {
        sp->sink_count = cfg->sink_count;
    }

    args = calloc((size_t)cfg->spawn_arg_count + 2 * (size_t)cfg->sink_count + 8, sizeof(char *));
    if (!args || pipe2(pipefd, O_CLOEXEC) < 0) {
        fprintf(stderr, "ocsf-bench: cannot prepare the collector: %s\n", strerror(errno));
        goto fail;
    }
    args[argn++] = cfg->spawn;
    args[argn++] = "--listen";
    args[argn++] = "tcp://127.0.0.1:0";
    args[argn++] = "--spool";
    args[argn++] = sp->spool_path;
    if (is_file_sink) {
        args[argn++] = "--sink";
        args[argn++] = sink_url;
    } else {
        for (int i = 0; i < cfg->sink_count; i++) {
            args[argn++] = "--sink";
            args[argn++] = cfg->sinks[i];
        }
    }
    for (int i = 0; i < cfg->spawn_arg_count; i++)
        args[argn++] = cfg->spawn_args[i];
    args[argn] = NULL;

    fflush(NULL);
    sp->pid = fork();
    if (sp->pid < 0) {
        fprintf(stderr, "ocsf-bench: fork: %s\n", strerror(errno));
        goto fail;
    }
    if (sp->pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execv(cfg->spawn, (char *const *)args);
        fprintf(stderr, "cannot execute %s: %s\n", cfg->spawn, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    sp->log_fd = pipefd[0];
    pipefd[0] = -1;
    free(args);
    args = NULL;

    deadline = tool_now_ns() + (uint64_t)cfg->timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = tool_now_ns();
        int rc = now < deadline ? bench_log_next(sp, line, sizeof(line),
                                                 (int)((deadline - now) / 1000000u) + 1)
                                : 0;
        const char *at;
        if (rc <= 0) {
            fprintf(stderr,
                    "ocsf-bench: %s %s before logging 'listening on tcp://...'; its last "
                    "lines:\n",
                    cfg->spawn, rc == 0 ? "timed out" : "exited");
            for (unsigned i = sp->recent_count > 8 ? sp->recent_count - 8 : 0; i < sp->recent_count;
                 i++)
                fprintf(stderr, "  %s\n", sp->recent[i % 8]);
            goto fail;
        }
        bench_log_forward(line);
        at = strstr(line, "listening on tcp://");
        if (at) {
            url_t u;
            char err[256];
            size_t n = strcspn(at + 13, " \t,;");
            snprintf(sp->listen_url, sizeof(sp->listen_url), "%.*s", (int)n, at + 13);
            if (url_parse(sp->listen_url, &u, err, sizeof(err)) == 0 && u.port > 0)
                break;
            fprintf(stderr, "ocsf-bench: cannot use the collector's listen address: %s\n", err);
            goto fail;
        }
    }
    if (pthread_create(&sp->log_thread, NULL, bench_log_main, sp) != 0) {
        fprintf(stderr, "ocsf-bench: pthread_create: %s\n", strerror(errno));
        goto fail;
    }
    sp->has_log_thread = 1;
    return 0;
fail:
    free(args);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    return -1;
}

/* Stops the collector (SIGTERM, then SIGKILL after the timeout), joins the log thread, removes
 * the temp dir unless keep. Returns 0 when the collector exited with status 0. */
static int bench_spawn_stop(const struct bench_config *cfg, struct bench_spawn *sp)
{
    int rc = 0, status = 0;
    if (sp->pid > 0) {
        uint64_t deadline = tool_now_ns() + (uint64_t)cfg->timeout_ms * 1000000u;
        pid_t r;
        kill(sp->pid, SIGTERM);
        while ((r = waitpid(sp->pid, &status, WNOHANG)) == 0 && tool_now_ns() < deadline)
            nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
        if (r == 0) {
            fprintf(stderr,
                    "ocsf-bench: collector did not exit within %g s of SIGTERM; killing it\n",
                    cfg->timeout_ms / 1000.0);
            kill(sp->pid, SIGKILL);
            waitpid(sp->pid, &status, 0);
            rc = -1;
        } else if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            fprintf(stderr, "ocsf-bench: collector exited with status %d\n", WEXITSTATUS(status));
            rc = -1;
        } else if (r > 0 && WIFSIGNALED(status)) {
            fprintf(stderr, "ocsf-bench: collector died of signal %d\n", WTERMSIG(status));
            rc = -1;
        }
        sp->pid = -1;
    }
    if (sp->has_log_thread) {
        pthread_join(sp->log_thread, NULL);
        sp->has_log_thread = 0;
    }
    if (sp->log_fd >= 0) {
        close(sp->log_fd);
        sp->log_fd = -1;
    }
    if (sp->dir[0]) {
        if (cfg->is_keep)
            fprintf(stderr, "ocsf-bench: kept %s\n", sp->dir);
        else
            nftw(sp->dir, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        sp->dir[0] = '\0';
    }
    return rc;
}

/* Counts the lines appearing in the sink file, in a thread that runs from the first send, and
 * when the count last grew: the end-to-end time is that of the read that completed the count. */
struct bench_sink_watch {
    const char *path;       /* the file sink's output, or NULL: watch the spool's cursors */
    const char *spool_path; /* with path NULL */
    int sink_count;
    atomic_uint_fast64_t lines;
    atomic_uint_fast64_t bytes;   /* of the file sink's output (path set), newlines included */
    atomic_uint_fast64_t grew_ns; /* tool_now_ns() of the read that last added lines */
    atomic_int is_stop_requested;
    pthread_t thread;
};

/* The number of events every sink has delivered: the lowest cursor in the spool once each sink
 * has one (seqs of a fresh spool run 1..N, so cursor = count), else 0; -1 on error. */
static int64_t bench_cursor_min(sqlite3 *db, int sink_count)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*), coalesce(min(seq), 0) FROM sink_cursors", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0) >= sink_count ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_finalize(st);
    return v;
}

static void *bench_cursor_main(struct bench_sink_watch *sw)
{
    sqlite3 *db = NULL;
    while (!atomic_load(&sw->is_stop_requested)) {
        if (!db && sqlite3_open_v2(sw->spool_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
            sqlite3_close(db);
            db = NULL;
        }
        if (db)
            sqlite3_busy_timeout(db, 100);
        int64_t n = db ? bench_cursor_min(db, sw->sink_count) : -1;
        if (n > 0 && (uint64_t)n != atomic_load(&sw->lines)) {
            atomic_store(&sw->grew_ns, tool_now_ns());
            atomic_store(&sw->lines, (uint64_t)n);
        }
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
    sqlite3_close(db);
    return NULL;
}

static void *bench_sink_main(void *arg)
{
    struct bench_sink_watch *sw = arg;
    if (!sw->path)
        return bench_cursor_main(sw);
    char *buf = malloc(1 << 20);
    int fd = -1;
    uint64_t lines = 0, bytes = 0;

    if (!buf)
        return NULL;
    while (!atomic_load(&sw->is_stop_requested)) {
        uint64_t before = lines;
        ssize_t n;
        if (fd < 0)
            fd = open(sw->path, O_RDONLY | O_CLOEXEC);
        while (fd >= 0 && (n = read(fd, buf, 1 << 20)) > 0) {
            bytes += (uint64_t)n;
            for (const char *p = buf, *end = buf + n;
                 (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
                lines++;
        }
        if (lines != before) {
            atomic_store(&sw->grew_ns, tool_now_ns());
            atomic_store(&sw->bytes, bytes);
            atomic_store(&sw->lines, lines);
        }
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The spawned collector's CPU and I/O per thread. /proc/PID/task/TID/{stat,comm,io} are read just
 * before the first send and again once the sinks have every event. Threads are matched by tid (a
 * thread only in the second snapshot counts from zero; one that exited in between is not counted)
 * and summed by name, so several sink threads of one scheme add up. stat gives utime + stime in
 * clock ticks (sysconf(_SC_CLK_TCK), usually 10 ms): runs of a few seconds are needed for a
 * figure to mean much. io (rchar/wchar: bytes through read/write-like syscalls, sockets
 * included) is optional: when it cannot be read, only CPU is shown. */

#define BENCH_CPU_MAX_THREADS 256  /* more are reported and not read */
#define BENCH_COMM_MAX        64   /* TASK_COMM_LEN is 16; room for kernels that allow more */
#define BENCH_PROC_READ_MAX   2048 /* a task's stat line is ~300 bytes, its io ~200 */

struct bench_task {
    pid_t tid;
    char comm[BENCH_COMM_MAX];
    uint64_t ticks;        /* utime + stime */
    uint64_t rchar, wchar; /* when has_io */
    int has_io;
};

struct bench_tasks {
    struct bench_task t[BENCH_CPU_MAX_THREADS];
    size_t count;
    int is_truncated; /* the collector had more threads than BENCH_CPU_MAX_THREADS */
};

/* One thread name's totals between the two snapshots. */
struct bench_cpu_row {
    char name[BENCH_COMM_MAX];
    uint64_t ticks, rchar, wchar;
    int has_io; /* every thread of this name had a readable io file in both snapshots */
};

/* The breakdown of a run: rows sorted by ticks descending, names that used no CPU left out. */
struct bench_cpu {
    int is_measured;
    long ticks_per_s;
    uint64_t events; /* the divisor */
    struct bench_cpu_row rows[BENCH_CPU_MAX_THREADS];
    size_t count;
};

/* Reads at most len - 1 bytes of path into buf, NUL-terminated. Bytes read, or -1 (errno set). */
static ssize_t bench_read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd < 0)
        return -1;
    while (got < len - 1) {
        ssize_t r = read(fd, buf + got, len - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* A decimal field at *p (no sign): its value, *p moved past it. 0 or -1. */
static int bench_parse_field(const char **p, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (**p < '0' || **p > '9')
        return -1;
    errno = 0;
    v = strtoull(*p, &end, 10);
    if (errno != 0)
        return -1;
    *p = end;
    *out = v;
    return 0;
}

/* utime + stime (fields 14 and 15) of a stat line. Field 2, the comm in parentheses, may hold
 * spaces and ')', so fields are counted from the last ')'. 0 or -1. */
static int bench_parse_stat_ticks(const char *line, uint64_t *ticks)
{
    const char *p = strrchr(line, ')');
    uint64_t utime = 0, stime = 0;
    if (!p)
        return -1;
    p++;
    for (int field = 3; field <= 13; field++) { /* state .. cmajflt */
        if (*p != ' ')
            return -1;
        p += 1 + strcspn(p + 1, " ");
    }
    if (*p++ != ' ' || bench_parse_field(&p, &utime) < 0 || *p++ != ' ' ||
        bench_parse_field(&p, &stime) < 0)
        return -1;
    *ticks = utime + stime;
    return 0;
}

/* rchar and wchar of an io file ("rchar: N\nwchar: N\n..."). 0 or -1 when either is missing. */
static int bench_parse_io(const char *text, uint64_t *rchar, uint64_t *wchar)
{
    int found = 0;
    for (const char *p = text; *p; p += strcspn(p, "\n"), p += *p == '\n') {
        const char *v;
        if (strncmp(p, "rchar: ", 7) == 0 && (v = p + 7, bench_parse_field(&v, rchar) == 0))
            found |= 1;
        else if (strncmp(p, "wchar: ", 7) == 0 && (v = p + 7, bench_parse_field(&v, wchar) == 0))
            found |= 2;
    }
    return found == 3 ? 0 : -1;
}

/* Reads one thread's stat, comm and io into t. 0; 1 the thread is gone (exited meanwhile); -1
 * with why set. */
static int bench_task_read(pid_t pid, long tid, struct bench_task *t, char *why, size_t whylen)
{
    char path[96];
    char buf[BENCH_PROC_READ_MAX];

    memset(t, 0, sizeof(*t));
    t->tid = (pid_t)tid;
    snprintf(path, sizeof(path), "/proc/%d/task/%ld/stat", (int)pid, tid);
    if (bench_read_small(path, buf, sizeof(buf)) < 0)
        goto fail_read;
    if (bench_parse_stat_ticks(buf, &t->ticks) < 0) {
        snprintf(why, whylen, "cannot parse fields 14 and 15 of %s", path);
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/task/%ld/comm", (int)pid, tid);
    if (bench_read_small(path, t->comm, sizeof(t->comm)) < 0)
        goto fail_read;
    t->comm[strcspn(t->comm, "\n")] = '\0';
    for (char *c = t->comm; *c; c++) { /* printable ASCII: text output and JSON keys */
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    }
    if (!t->comm[0])
        snprintf(t->comm, sizeof(t->comm), "?");
    snprintf(path, sizeof(path), "/proc/%d/task/%ld/io", (int)pid, tid);
    t->has_io = bench_read_small(path, buf, sizeof(buf)) >= 0 &&
                bench_parse_io(buf, &t->rchar, &t->wchar) == 0;
    return 0;
fail_read:
    if (errno == ENOENT || errno == ESRCH)
        return 1;
    snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    return -1;
}

/* Snapshot of every thread of pid (at most BENCH_CPU_MAX_THREADS). 0, or -1 with why set. */
static int bench_tasks_read(pid_t pid, struct bench_tasks *ts, char *why, size_t whylen)
{
    char path[64];
    DIR *d;
    struct dirent *de;
    int rc = 0;

    ts->count = 0;
    ts->is_truncated = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (!d) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char *end;
        long tid;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        tid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || tid <= 0)
            continue;
        if (ts->count == BENCH_CPU_MAX_THREADS) {
            ts->is_truncated = 1;
            break;
        }
        rc = bench_task_read(pid, tid, &ts->t[ts->count], why, whylen);
        if (rc == 0)
            ts->count++;
        else if (rc == 1)
            rc = 0;
    }
    closedir(d);
    if (rc == 0 && ts->count == 0) {
        snprintf(why, whylen, "no threads in %s", path);
        rc = -1;
    }
    return rc < 0 ? -1 : 0;
}

static int bench_cpu_row_cmp(const void *a, const void *b)
{
    const struct bench_cpu_row *x = a, *y = b;
    if (x->ticks != y->ticks)
        return x->ticks > y->ticks ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Fills cpu from the snapshots before and after a run of events events. 0, or -1 with why. */
static int bench_cpu_compute(const struct bench_tasks *before, const struct bench_tasks *after,
                             uint64_t events, struct bench_cpu *cpu, char *why, size_t whylen)
{
    size_t kept = 0;

    memset(cpu, 0, sizeof(*cpu));
    cpu->ticks_per_s = sysconf(_SC_CLK_TCK);
    if (cpu->ticks_per_s <= 0) {
        snprintf(why, whylen, "sysconf(_SC_CLK_TCK) gave %ld clock ticks per second",
                 cpu->ticks_per_s);
        return -1;
    }
    if (events == 0) {
        snprintf(why, whylen, "no events");
        return -1;
    }
    cpu->events = events;
    for (size_t i = 0; i < after->count; i++) {
        const struct bench_task *a = &after->t[i], *b = NULL;
        struct bench_cpu_row *row = NULL;
        for (size_t k = 0; k < before->count && !b; k++) {
            if (before->t[k].tid == a->tid)
                b = &before->t[k];
        }
        if (b && a->ticks < b->ticks) /* the tid was reused by a new thread */
            b = NULL;
        for (size_t k = 0; k < cpu->count && !row; k++) {
            if (strcmp(cpu->rows[k].name, a->comm) == 0)
                row = &cpu->rows[k];
        }
        if (!row) { /* after->count <= BENCH_CPU_MAX_THREADS: always room */
            row = &cpu->rows[cpu->count++];
            snprintf(row->name, sizeof(row->name), "%s", a->comm);
            row->has_io = 1;
        }
        row->ticks += a->ticks - (b ? b->ticks : 0);
        if (a->has_io && (!b || b->has_io) &&
            (!b || (a->rchar >= b->rchar && a->wchar >= b->wchar))) {
            row->rchar += a->rchar - (b ? b->rchar : 0);
            row->wchar += a->wchar - (b ? b->wchar : 0);
        } else {
            row->has_io = 0;
        }
    }
    for (size_t k = 0; k < cpu->count; k++) {
        if (cpu->rows[k].ticks > 0)
            cpu->rows[kept++] = cpu->rows[k];
    }
    cpu->count = kept;
    qsort(cpu->rows, cpu->count, sizeof(cpu->rows[0]), bench_cpu_row_cmp);
    cpu->is_measured = 1;
    return 0;
}

static double bench_cpu_us(const struct bench_cpu *cpu, uint64_t ticks)
{
    return (double)ticks * 1e6 / (double)cpu->ticks_per_s / (double)cpu->events;
}

static double bench_per_event(const struct bench_cpu *cpu, uint64_t v)
{
    return (double)v / (double)cpu->events;
}

/* ---------------------------------------------------------------------------------------------
 * A run: connect, load, measure. */

struct bench_result {
    const char *label;
    uint64_t events, bytes, acked, rejected;
    double seconds, events_per_s, mb_per_s;
    double p50_ms, p99_ms, max_ms;
    int is_ok;
    int has_e2e;
    uint64_t sink_lines, sink_bytes; /* sink_bytes: of the file sink's output, 0 unknown */
    double e2e_seconds, e2e_events_per_s;
    struct bench_cpu cpu; /* with --spawn, once the sinks had every event */
};

static int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (n > 0), in ms. */
static double bench_percentile_ms(const uint64_t *v, size_t n, double pct)
{
    size_t rank = (size_t)ceil(pct / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

/* Prints why the cpu breakdown is left out, and drops the snapshots. */
static void bench_cpu_unavailable(struct bench_tasks **tasks, const char *why)
{
    fprintf(stderr, "ocsf-bench: cpu breakdown unavailable: %s\n", why);
    free(*tasks);
    *tasks = NULL;
}

/* Runs the workload against target (and watches the spawned collector's sinks when sp is given).
 * 0 ok; -1 ran but some connection or a sink fell short (printed); -2 could not start. */
static int bench_run(const struct bench_config *cfg, struct bench_workload *w, const url_t *target,
                     const struct bench_spawn *sp, struct bench_result *res)
{
    pthread_t *threads = calloc(w->conn_count, sizeof(pthread_t));
    size_t started = 0;
    uint64_t t0, t_end = 0, lat_count = 0;
    uint64_t *lat = NULL;
    struct bench_sink_watch sw;
    int has_sink_watch = 0, has_tasks_after = 0;
    struct bench_tasks *tasks = NULL; /* [0] before the first send, [1] once the sinks have all */
    char err[512];

    const char *label = res->label;

    memset(res, 0, sizeof(*res));
    res->label = label;
    res->events = w->events;
    res->bytes = w->bytes;
    res->is_ok = 1;
    if (!threads) {
        fprintf(stderr, "ocsf-bench: out of memory\n");
        res->is_ok = 0;
        return -2;
    }
    atomic_store(&bench_rejects_shown, 0);
    for (size_t i = 0; i < w->conn_count; i++) {
        struct bench_conn *c = &w->conns[i];
        c->cfg = cfg;
        c->sent_lines = c->acked = c->rejected = c->off = 0;
        c->is_ok = 1;
        c->err[0] = '\0';
        c->fd = tool_net_connect(target, cfg->timeout_ms, err, sizeof(err));
        if (c->fd < 0) {
            fprintf(stderr, "ocsf-bench: connection %zu: %s\n", i, err);
            for (size_t k = 0; k < i; k++)
                close(w->conns[k].fd);
            free(threads);
            res->is_ok = 0;
            return -2;
        }
    }
    if (sp) {
        memset(&sw, 0, sizeof(sw));
        sw.path = sp->sink_path[0] ? sp->sink_path : NULL;
        sw.spool_path = sp->spool_path;
        sw.sink_count = sp->sink_count;
        has_sink_watch = pthread_create(&sw.thread, NULL, bench_sink_main, &sw) == 0;
        tasks = calloc(2, sizeof(*tasks));
        if (!tasks)
            fprintf(stderr, "ocsf-bench: cpu breakdown unavailable: out of memory\n");
        else if (bench_tasks_read(sp->pid, &tasks[0], err, sizeof(err)) < 0)
            bench_cpu_unavailable(&tasks, err);
    }
    t0 = tool_now_ns();
    for (; started < w->conn_count; started++) {
        if (pthread_create(&threads[started], NULL, bench_conn_main, &w->conns[started]) != 0) {
            fprintf(stderr, "ocsf-bench: pthread_create: %s\n", strerror(errno));
            res->is_ok = 0;
            break;
        }
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);

    for (size_t i = 0; i < w->conn_count; i++) {
        struct bench_conn *c = &w->conns[i];
        close(c->fd);
        c->fd = -1;
        if (i >= started)
            continue;
        if (c->done_ns > t_end)
            t_end = c->done_ns;
        res->acked += c->acked;
        res->rejected += c->rejected;
        lat_count += c->acked;
        if (!c->is_ok) {
            fprintf(stderr, "ocsf-bench: connection %zu: %s\n", i, c->err);
            res->is_ok = 0;
        }
    }
    res->seconds = t_end > t0 ? (double)(t_end - t0) / 1e9 : 0;
    res->events_per_s = res->seconds > 0 ? (double)res->acked / res->seconds : 0;
    res->mb_per_s = res->seconds > 0 ? (double)w->bytes / 1e6 / res->seconds : 0;
    lat = lat_count ? malloc(lat_count * sizeof(*lat)) : NULL;
    if (lat) {
        size_t k = 0;
        for (size_t i = 0; i < started; i++) {
            memcpy(lat + k, w->conns[i].t_ns, w->conns[i].acked * sizeof(*lat));
            k += w->conns[i].acked;
        }
        qsort(lat, lat_count, sizeof(*lat), bench_cmp_u64);
        res->p50_ms = bench_percentile_ms(lat, lat_count, 50);
        res->p99_ms = bench_percentile_ms(lat, lat_count, 99);
        res->max_ms = (double)lat[lat_count - 1] / 1e6;
        free(lat);
    }

    if (has_sink_watch) {
        /* Every accepted event must reach the sink; rejected ones went to dead letters. */
        uint64_t want = res->acked - res->rejected;
        uint64_t last_lines = atomic_load(&sw.lines), last_change = tool_now_ns();
        int is_complete = 0;
        for (;;) {
            uint64_t lines = atomic_load(&sw.lines), now = tool_now_ns();
            if (lines >= want) {
                is_complete = 1;
                if (tasks && bench_tasks_read(sp->pid, &tasks[1], err, sizeof(err)) < 0)
                    bench_cpu_unavailable(&tasks, err);
                has_tasks_after = tasks != NULL;
                break;
            }
            if (lines != last_lines) {
                last_lines = lines;
                last_change = now;
            } else if (now - last_change > (uint64_t)cfg->timeout_ms * 1000000u) {
                break;
            }
            nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
        }
        atomic_store(&sw.is_stop_requested, 1);
        pthread_join(sw.thread, NULL);
        res->has_e2e = 1;
        res->sink_lines = atomic_load(&sw.lines);
        res->sink_bytes = atomic_load(&sw.bytes);
        if (is_complete) {
            res->e2e_seconds = (double)(atomic_load(&sw.grew_ns) - t0) / 1e9;
            res->e2e_events_per_s = res->e2e_seconds > 0 ? (double)want / res->e2e_seconds : 0;
        } else {
            fprintf(stderr,
                    "ocsf-bench: sinks delivered %llu of %llu events (%s) after %g s without "
                    "progress\n",
                    (unsigned long long)res->sink_lines, (unsigned long long)want,
                    sw.path ? sw.path : "lowest cursor in the spool", cfg->timeout_ms / 1000.0);
            res->is_ok = 0;
        }
    }
    if (tasks && (!res->is_ok || !has_tasks_after)) {
        bench_cpu_unavailable(&tasks, "the run did not complete");
    } else if (tasks) {
        if (tasks[0].is_truncated || tasks[1].is_truncated)
            fprintf(stderr,
                    "ocsf-bench: the collector has more than %d threads; the cpu breakdown "
                    "covers %d of them\n",
                    BENCH_CPU_MAX_THREADS, BENCH_CPU_MAX_THREADS);
        if (bench_cpu_compute(&tasks[0], &tasks[1], res->events, &res->cpu, err, sizeof(err)) < 0)
            fprintf(stderr, "ocsf-bench: cpu breakdown unavailable: %s\n", err);
    }
    free(tasks);
    return res->is_ok ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------------
 * Reporting. */

/* "  cpu/event    NAME 19.6 us   NAME 9.1 us   total 30.7 us", then, where /proc gave io,
 * "  io/event     NAME read 712 B write 24 B" (one line per name). */
static void bench_print_cpu(const struct bench_cpu *cpu)
{
    uint64_t total = 0;
    int has_io_line = 0;
    printf("  cpu/event   ");
    for (size_t i = 0; i < cpu->count; i++) {
        printf(" %s %.1f us  ", cpu->rows[i].name, bench_cpu_us(cpu, cpu->rows[i].ticks));
        total += cpu->rows[i].ticks;
    }
    printf(" total %.1f us\n", bench_cpu_us(cpu, total));
    for (size_t i = 0; i < cpu->count; i++) {
        const struct bench_cpu_row *row = &cpu->rows[i];
        if (!row->has_io || (row->rchar == 0 && row->wchar == 0))
            continue;
        printf("  %-12s %s read %.0f B write %.0f B\n", has_io_line ? "" : "io/event", row->name,
               bench_per_event(cpu, row->rchar), bench_per_event(cpu, row->wchar));
        has_io_line = 1;
    }
}

static void bench_print_text(const struct bench_result *r, int connections)
{
    printf("%s\n", r->label);
    printf("  events       %llu (%llu rejected)\n", (unsigned long long)r->events,
           (unsigned long long)r->rejected);
    printf("  connections  %d\n", connections);
    printf("  seconds      %.3f\n", r->seconds);
    printf("  events/s     %.0f\n", r->events_per_s);
    printf("  MB/s         %.1f\n", r->mb_per_s);
    printf("  ack latency  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r->p50_ms, r->p99_ms,
           r->max_ms);
    if (r->has_e2e && r->e2e_seconds > 0)
        printf("  end-to-end   %.3f s until the sinks had every event, %.0f events/s\n",
               r->e2e_seconds, r->e2e_events_per_s);
    else if (r->has_e2e)
        printf("  end-to-end   incomplete: the sinks delivered %llu events\n",
               (unsigned long long)r->sink_lines);
    if (r->cpu.is_measured)
        bench_print_cpu(&r->cpu);
}

static double bench_round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

/* Adds r's figures to obj (borrowed; new values are stolen by json_object_set_new). */
static void bench_json_fill(json_t *obj, const struct bench_result *r, int connections)
{
    json_object_set_new(obj, "events", json_integer((json_int_t)r->events));
    json_object_set_new(obj, "rejected", json_integer((json_int_t)r->rejected));
    json_object_set_new(obj, "connections", json_integer(connections));
    json_object_set_new(obj, "seconds", json_real(bench_round3(r->seconds)));
    json_object_set_new(obj, "events_per_s", json_real(bench_round3(r->events_per_s)));
    json_object_set_new(obj, "mb_per_s", json_real(bench_round3(r->mb_per_s)));
    json_object_set_new(obj, "ack_latency_ms",
                        json_pack("{s:f,s:f,s:f}", "p50", bench_round3(r->p50_ms), "p99",
                                  bench_round3(r->p99_ms), "max", bench_round3(r->max_ms)));
    json_object_set_new(obj, "ok", json_boolean(r->is_ok));
    if (r->has_e2e) {
        json_object_set_new(obj, "sink_lines", json_integer((json_int_t)r->sink_lines));
        if (r->sink_bytes > 0)
            json_object_set_new(obj, "sink_bytes", json_integer((json_int_t)r->sink_bytes));
        json_object_set_new(obj, "e2e_seconds", json_real(bench_round3(r->e2e_seconds)));
        json_object_set_new(obj, "e2e_events_per_s", json_real(bench_round3(r->e2e_events_per_s)));
    }
    if (r->cpu.is_measured) {
        json_t *cpu = json_object(), *io = json_object();
        for (size_t i = 0; i < r->cpu.count; i++) {
            const struct bench_cpu_row *row = &r->cpu.rows[i];
            json_object_set_new(cpu, row->name,
                                json_real(bench_round3(bench_cpu_us(&r->cpu, row->ticks))));
            if (row->has_io && (row->rchar > 0 || row->wchar > 0))
                json_object_set_new(io, row->name,
                                    json_pack("{s:f,s:f}", "read",
                                              bench_round3(bench_per_event(&r->cpu, row->rchar)),
                                              "write",
                                              bench_round3(bench_per_event(&r->cpu, row->wchar))));
        }
        json_object_set_new(obj, "cpu_us_per_event", cpu);
        if (json_object_size(io) > 0)
            json_object_set_new(obj, "io_bytes_per_event", io);
        else
            json_decref(io);
    }
}

static double bench_ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One spawned run of the workload, start to stop: with the default file sink or cfg's sinks, and
 * with the collector's --normalize set to `mode` when not NULL. 0 ok (r filled, r->is_ok tells
 * whether it fell short), -1 could not start. */
static int bench_spawned_run(struct bench_config *cfg, struct bench_workload *w, int is_file_sink,
                             const char *mode, struct bench_result *r)
{
    struct bench_spawn sp;
    url_t target;
    char err[512];
    const int base_argc = cfg->spawn_arg_count;
    memset(&sp, 0, sizeof(sp));
    if (mode) { /* spawn_args has room for these two (bench_parse_args) */
        cfg->spawn_args[base_argc] = "--normalize";
        cfg->spawn_args[base_argc + 1] = mode;
        cfg->spawn_arg_count = base_argc + 2;
    }
    int rc = bench_spawn_start(cfg, is_file_sink, &sp);
    if (rc == 0) {
        (void)url_parse(sp.listen_url, &target, err, sizeof(err));
        rc = bench_run(cfg, w, &target, &sp, r) == -2 ? -1 : 0;
    }
    /* also after a failed start: a collector that never said where it listens is stopped */
    if (bench_spawn_stop(cfg, &sp) < 0)
        r->is_ok = 0;
    cfg->spawn_arg_count = base_argc;
    return rc;
}

/* Between the runs of a comparison: the previous run's files are deleted, but the file system may
 * still be writing back and freeing them; wait for that (sync) and give the machine a moment, so
 * a run does not pay for the one before it. */
static void bench_settle(void)
{
    sync();
    nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
}

/* Geometric mean, median, min and max of v[0..n). */
struct bench_stats {
    double geo, median, min, max;
    size_t n;
};

static void bench_stats_of(const double *v, size_t n, struct bench_stats *st)
{
    double sorted[BENCH_MAX_PAIRS], log_sum = 0;
    memset(st, 0, sizeof(*st));
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = v[i];
        log_sum += log(v[i]);
    }
    qsort(sorted, n, sizeof(sorted[0]), bench_cmp_double);
    st->n = n;
    st->geo = exp(log_sum / (double)n);
    st->median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    st->min = sorted[0];
    st->max = sorted[n - 1];
}

static json_t *bench_stats_json(const struct bench_stats *st)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:i}", "geometric_mean", bench_round3(st->geo), "median",
                     bench_round3(st->median), "min", bench_round3(st->min), "max",
                     bench_round3(st->max), "pairs", (int)st->n);
}

/* The runs of one --compare-normalize pair. */
enum { BENCH_AS_RECEIVED, BENCH_NORMALIZED, BENCH_PADDED, BENCH_RUN_KINDS };
static const char *const bench_run_key[BENCH_RUN_KINDS] = {"as_received", "normalized",
                                                           "as_received_padded"};

/* --same-bytes: the padded workload, generated once from the first normalized run's output (its
 * mean line without the newline). 0, or -1 (printed). */
static int bench_padded_workload(const struct bench_config *cfg, const struct bench_result *norm,
                                 struct bench_workload *padded, uint64_t *pad_to)
{
    if (norm->sink_lines != norm->events || norm->sink_bytes <= norm->sink_lines) {
        fprintf(stderr, "ocsf-bench: --same-bytes: the normalized run's output size is unknown "
                        "(the file sink did not get every event)\n");
        return -1;
    }
    struct bench_config pc = *cfg;
    uint64_t mean = (norm->sink_bytes + norm->sink_lines / 2) / norm->sink_lines;
    pc.pad_to = mean - 1 > BENCH_PAD_MAX ? BENCH_PAD_MAX : mean - 1;
    if (bench_generate(&pc, padded) < 0) {
        bench_workload_free(padded);
        return -1;
    }
    *pad_to = pc.pad_to;
    return 0;
}

/* --compare-normalize: PAIRS pairs of runs of the same load on the same binary, as received and
 * normalized, so the ratio of each pair shares the machine's state of that moment; the order
 * alternates (off then on, on then off, ...) so that a machine getting slower or faster over the
 * run does not favour one mode. With --same-bytes each pair has a third run, as received with
 * events padded to the normalized output's size, and the order rotates over the three (the first
 * pair runs normalized before padded, which is generated from it). Prints every pair and the
 * geometric mean, median, min and max of the ratios. Exit code. */
static int bench_normalize_pairs(struct bench_config *cfg, struct bench_workload *w)
{
    double ratios[BENCH_MAX_PAIRS], same[BENCH_MAX_PAIRS];
    size_t n = 0, n_same = 0;
    int is_ok = 1;
    const int kinds = cfg->is_same_bytes ? 3 : 2;
    struct bench_workload padded;
    uint64_t pad_to = 0;
    int has_padded = 0;
    json_t *out = cfg->is_json ? json_object() : NULL, *pairs = cfg->is_json ? json_array() : NULL;
    memset(&padded, 0, sizeof(padded));
    if (cfg->is_json && (!out || !pairs)) {
        json_decref(out);
        json_decref(pairs);
        return BENCH_EXIT_FAIL;
    }
    for (uint64_t i = 0; i < cfg->normalize_pairs; i++) {
        struct bench_result r[BENCH_RUN_KINDS] = {
            {.label = "as received (--normalize off)"},
            {.label = "normalized (--normalize on)"},
            {.label = "as received, events padded to the normalized size (--normalize off)"}};
        const int first = (int)(i % (uint64_t)kinds);
        for (int j = 0; j < kinds; j++) {
            int k = (j + first) % kinds;
            bench_settle();
            if (k == BENCH_PADDED && !has_padded) {
                if (bench_padded_workload(cfg, &r[BENCH_NORMALIZED], &padded, &pad_to) < 0) {
                    is_ok = 0;
                    goto done;
                }
                has_padded = 1;
            }
            if (bench_spawned_run(cfg, k == BENCH_PADDED ? &padded : w, cfg->sink_count == 0,
                                  k == BENCH_NORMALIZED ? "on" : "off", &r[k]) < 0) {
                is_ok = 0;
                goto done;
            }
            if (!r[k].is_ok || !r[k].has_e2e || r[k].e2e_seconds <= 0)
                is_ok = 0;
        }
        const double norm_rate = r[BENCH_NORMALIZED].e2e_events_per_s;
        double ratio = bench_ratio(norm_rate, r[BENCH_AS_RECEIVED].e2e_events_per_s);
        double ratio_same = bench_ratio(norm_rate, r[BENCH_PADDED].e2e_events_per_s);
        if (ratio > 0)
            ratios[n++] = ratio;
        if (kinds == 3 && ratio_same > 0)
            same[n_same++] = ratio_same;
        if (cfg->is_json) {
            json_t *pair = json_object();
            for (int k = 0; k < kinds; k++) {
                json_t *o = json_object();
                bench_json_fill(o, &r[k], (int)cfg->connections);
                json_object_set_new(pair, bench_run_key[k], o);
            }
            json_object_set_new(pair, "ratio", json_real(bench_round3(ratio)));
            json_object_set_new(pair, "first", json_string(bench_run_key[first]));
            if (kinds == 3) {
                json_object_set_new(pair, "ratio_same_bytes", json_real(bench_round3(ratio_same)));
                json_object_set_new(pair, "padded_to", json_integer((json_int_t)pad_to));
            }
            json_array_append_new(pairs, pair);
        } else {
            printf("pair %llu (%s first): end-to-end events/s as received %.0f, normalized %.0f, "
                   "ratio %.3f; ack p99 %.1f / %.1f ms\n",
                   (unsigned long long)i + 1, bench_run_key[first],
                   r[BENCH_AS_RECEIVED].e2e_events_per_s, norm_rate, ratio,
                   r[BENCH_AS_RECEIVED].p99_ms, r[BENCH_NORMALIZED].p99_ms);
            if (kinds == 3)
                printf("  same bytes: as received padded to %llu bytes %.0f, normalized/padded "
                       "%.3f\n",
                       (unsigned long long)pad_to, r[BENCH_PADDED].e2e_events_per_s, ratio_same);
            for (int k = 0; k < kinds; k++)
                if (r[k].cpu.is_measured) {
                    printf("  %s\n", r[k].label);
                    bench_print_cpu(&r[k].cpu);
                }
            fflush(stdout);
        }
    }
done:
    if (has_padded)
        bench_workload_free(&padded);
    struct bench_stats st, st_same;
    bench_stats_of(ratios, n, &st);
    bench_stats_of(same, n_same, &st_same);
    if (cfg->is_json) {
        json_object_set_new(out, "pairs", pairs);
        json_object_set_new(out, "normalized_to_as_received", bench_stats_json(&st));
        if (kinds == 3)
            json_object_set_new(out, "normalized_to_padded", bench_stats_json(&st_same));
        json_object_set_new(out, "ok", json_boolean(is_ok));
        char *text = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(12));
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(out);
    } else {
        if (n > 0)
            printf("normalized/as received, end-to-end events/s over %zu pairs: geometric mean "
                   "%.3f, median %.3f, min %.3f, max %.3f\n",
                   n, st.geo, st.median, st.min, st.max);
        if (n_same > 0)
            printf("normalized/as received padded to the same bytes, over %zu pairs: geometric "
                   "mean %.3f, median %.3f, min %.3f, max %.3f\n",
                   n_same, st_same.geo, st_same.median, st_same.min, st_same.max);
    }
    return is_ok ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
}

int main(int argc, char **argv)
{
    struct bench_config cfg;
    struct bench_workload w;
    struct bench_spawn sp;
    struct bench_null ns;
    struct bench_result base = {.label = "baseline (null collector in ocsf-bench)"};
    struct bench_result real = {.label = "collector"};
    struct bench_result file_ref = {.label = "collector with the file sink (reference)"};
    char real_label[PATH_MAX + 64];
    url_t target;
    char err[512];
    int has_spawn = 0, exit_code = BENCH_EXIT_FAIL, rc;

    memset(&w, 0, sizeof(w));
    memset(&sp, 0, sizeof(sp));
    rc = bench_parse_args(argc, argv, &cfg);
    if (rc != 0) {
        free(cfg.spawn_args);
        free(cfg.sinks);
        return rc > 0 ? BENCH_EXIT_OK : BENCH_EXIT_USAGE;
    }
    if (cfg.to) {
        if (url_parse(cfg.to, &target, err, sizeof(err)) < 0) {
            fprintf(stderr, "ocsf-bench: --to: %s\n", err);
            free(cfg.spawn_args);
            free(cfg.sinks);
            return BENCH_EXIT_USAGE;
        }
        if (strcmp(target.scheme, "tcp") != 0 && strcmp(target.scheme, "unix") != 0) {
            fprintf(stderr, "ocsf-bench: --to: unsupported scheme '%s' (use tcp:// or unix://)\n",
                    target.scheme);
            free(cfg.spawn_args);
            free(cfg.sinks);
            return BENCH_EXIT_USAGE;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    if (bench_generate(&cfg, &w) < 0)
        goto out;
    if (!cfg.is_json)
        printf("workload: %llu events (mean %.0f bytes, %.1f MB), %llu connections, window %llu, "
               "%llu users, seed %llu\n",
               (unsigned long long)w.events, (double)w.bytes / (double)w.events,
               (double)w.bytes / 1e6, (unsigned long long)cfg.connections,
               (unsigned long long)cfg.window, (unsigned long long)cfg.users,
               (unsigned long long)cfg.seed);

    if (cfg.is_baseline) {
        url_t null_url;
        char null_text[64];
        if (bench_null_start(&ns) < 0)
            goto out;
        snprintf(null_text, sizeof(null_text), "tcp://127.0.0.1:%d", ns.port);
        (void)url_parse(null_text, &null_url, err, sizeof(err));
        rc = bench_run(&cfg, &w, &null_url, NULL, &base);
        bench_null_stop(&ns);
        if (rc == -2)
            goto out;
        if (!cfg.is_json) {
            bench_print_text(&base, (int)cfg.connections);
            fflush(stdout);
        }
    }

    if (cfg.normalize_pairs > 0) {
        exit_code = bench_normalize_pairs(&cfg, &w);
        goto out;
    }
    if (cfg.spawn && cfg.is_compare_file) {
        /* the same load, same binary and arguments, with the file sink: the reference figure */
        if (bench_spawned_run(&cfg, &w, 1, NULL, &file_ref) < 0)
            goto out;
        if (!cfg.is_json) {
            bench_print_text(&file_ref, (int)cfg.connections);
            fflush(stdout);
        }
    }
    if (cfg.spawn) {
        has_spawn = 1;
        if (cfg.is_compare_file)
            bench_settle(); /* the reference run's spool is still being freed */
        if (bench_spawn_start(&cfg, cfg.sink_count == 0, &sp) < 0)
            goto out;
        (void)url_parse(sp.listen_url, &target, err, sizeof(err));
        snprintf(real_label, sizeof(real_label), "collector (spawned %s, %s%s%s)", cfg.spawn,
                 sp.listen_url, cfg.sink_count ? ", sink " : "",
                 cfg.sink_count ? cfg.sinks[0] : "");
    } else {
        snprintf(real_label, sizeof(real_label), "collector (%s)", cfg.to);
    }
    real.label = real_label;
    if (bench_run(&cfg, &w, &target, has_spawn ? &sp : NULL, &real) == -2)
        goto out;
    if (has_spawn) {
        if (bench_spawn_stop(&cfg, &sp) < 0)
            real.is_ok = 0;
        has_spawn = 0;
    }

    if (cfg.is_json) {
        json_t *obj = json_object(); /* owned here */
        char *text;
        json_object_set_new(obj, "window", json_integer((json_int_t)cfg.window));
        json_object_set_new(obj, "users", json_integer((json_int_t)cfg.users));
        json_object_set_new(obj, "seed", json_integer((json_int_t)cfg.seed));
        json_object_set_new(obj, "mean_event_bytes",
                            json_real(bench_round3((double)w.bytes / (double)w.events)));
        bench_json_fill(obj, &real, (int)cfg.connections);
        if (cfg.is_compare_file) {
            json_t *f = json_object();
            bench_json_fill(f, &file_ref, (int)cfg.connections);
            json_object_set_new(obj, "file_sink", f);
            json_object_set_new(obj, "ratio_to_file_sink",
                                json_pack("{s:f}", "e2e_events_per_s",
                                          bench_round3(bench_ratio(real.e2e_events_per_s,
                                                                   file_ref.e2e_events_per_s))));
        }
        if (cfg.is_baseline) {
            json_t *b = json_object();
            bench_json_fill(b, &base, (int)cfg.connections);
            json_object_set_new(obj, "baseline", b);
            json_object_set_new(
                obj, "ratio",
                json_pack("{s:f,s:f,s:f}", "events_per_s",
                          bench_round3(bench_ratio(real.events_per_s, base.events_per_s)),
                          "p50_latency", bench_round3(bench_ratio(real.p50_ms, base.p50_ms)),
                          "p99_latency", bench_round3(bench_ratio(real.p99_ms, base.p99_ms))));
        }
        text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(12));
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(obj);
    } else {
        bench_print_text(&real, (int)cfg.connections);
        if (cfg.is_baseline)
            printf("real/baseline: events/s %.3f, p50 latency %.1fx, p99 latency %.1fx\n",
                   bench_ratio(real.events_per_s, base.events_per_s),
                   bench_ratio(real.p50_ms, base.p50_ms), bench_ratio(real.p99_ms, base.p99_ms));
        if (cfg.is_compare_file)
            printf("sink/file-sink: end-to-end events/s %.3f\n",
                   bench_ratio(real.e2e_events_per_s, file_ref.e2e_events_per_s));
    }
    exit_code =
        real.is_ok && (!cfg.is_baseline || base.is_ok) && (!cfg.is_compare_file || file_ref.is_ok)
            ? BENCH_EXIT_OK
            : BENCH_EXIT_FAIL;
out:
    if (has_spawn)
        bench_spawn_stop(&cfg, &sp);
    bench_workload_free(&w);
    free(cfg.spawn_args);
    free(cfg.sinks);
    return exit_code;
}
