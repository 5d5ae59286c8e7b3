/*
 * sink_registry.c - the table of sinks. Adding a sink adds one row here.
 */
#include "sink.h"

#include <string.h>

extern const sink_ops_t sink_file_ops;

static const sink_ops_t *const registry[] = {
    &sink_file_ops,
};

const sink_ops_t *sink_lookup(const char *scheme)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->scheme, scheme) == 0)
            return registry[i];
    return NULL;
}

const char *sink_schemes(void)
{
    return "file";
}
