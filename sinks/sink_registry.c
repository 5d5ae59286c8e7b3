/*
 * sink_registry.c - the table of sinks. Adding a sink adds one extern and one row here.
 */
#include "sink.h"

#include <stdio.h>
#include <string.h>

extern const sink_ops_t sink_file_ops;
extern const sink_ops_t sink_kafka_ops;
extern const sink_ops_t sink_hec_https_ops, sink_hec_http_ops, sink_syslog_tcp_ops,
    sink_syslog_tls_ops;

static const sink_ops_t *const registry[] = {
    &sink_file_ops,     &sink_kafka_ops,      &sink_hec_https_ops,
    &sink_hec_http_ops, &sink_syslog_tcp_ops, &sink_syslog_tls_ops,
};

#define REGISTRY_N (sizeof registry / sizeof registry[0])

const sink_ops_t *sink_lookup(const char *scheme)
{
    for (size_t i = 0; i < REGISTRY_N; i++)
        if (strcmp(registry[i]->scheme, scheme) == 0)
            return registry[i];
    return NULL;
}

const char *sink_schemes(void)
{
    /* built once from the table; called while sinks are opened, on the main thread */
    static char list[256];
    if (!list[0]) {
        size_t off = 0;
        for (size_t i = 0; i < REGISTRY_N && off < sizeof list; i++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                                    registry[i]->scheme);
    }
    return list;
}
