/*
 * fuzz_common.h - checks shared by the libFuzzer targets in this folder.
 */
#ifndef OCSF_FUZZ_COMMON_H
#define OCSF_FUZZ_COMMON_H

#include <stdlib.h>

/* Checked in every build type: assert() vanishes under NDEBUG, which release builds define. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Aborts unless s is valid UTF-8 without control characters: every message the collector may put
 * into a JSON reply or a log line (reasons, load errors) must be. */
static inline void check_clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80             ? 0
                    : (*p & 0xE0) == 0xC0 ? 1
                    : (*p & 0xF0) == 0xE0 ? 2
                    : (*p & 0xF8) == 0xF0 ? 3
                                          : -1;
        if (extra < 0 || *p < 0x20 || *p == 0x7f)
            abort();
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xC0) != 0x80)
                abort();
    }
}

#endif
