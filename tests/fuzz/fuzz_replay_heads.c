/* fuzz_replay_heads.c - libFuzzer target for the chain head parser of ocsf-replay --verify --heads
 * (tools/replay_heads.c): any line, a log line or a shipped head event, either yields no head or
 * a head whose "SEQ:HEX" form parses back to the same seq and hash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    int64_t seq;
    uint8_t hash[CHAIN_HASH_LEN], again[CHAIN_HASH_LEN];
    if (replay_heads_parse_line(line, size, &seq, hash) == 1) {
        char point[CHAIN_POINT_LEN];
        int64_t seq2;
        if (seq < 0)
            abort();
        chain_point_format(seq, hash, point);
        if (chain_point_parse(point, &seq2, again) != 0 || seq2 != seq ||
            memcmp(hash, again, sizeof hash) != 0)
            abort();
    }
    free(line);
    return 0;
}
