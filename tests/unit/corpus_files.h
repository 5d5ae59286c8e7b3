/*
 * corpus_files.h - the golden corpus's case files (tests/corpus/native/NN-name.json), for the unit
 * tests that run a check over every one of them. The corpus is found next to the schema tables the
 * test is pointed at (OCSF_SCHEMAS_DIR, set by ctest).
 */
#ifndef OCSF_TEST_CORPUS_FILES_H
#define OCSF_TEST_CORPUS_FILES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls fn(path, ctx) for each .json file of the corpus, in directory order; returns how many, or
 * -1 when OCSF_SCHEMAS_DIR is unset or the directory cannot be read. */
static inline int corpus_foreach(void (*fn)(const char *path, void *ctx), void *ctx)
{
    char dir[4096], path[4600];
    const char *src = getenv("OCSF_SCHEMAS_DIR");
    if (!src)
        return -1;
    snprintf(dir, sizeof dir, "%s/../tests/corpus/native", src);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        fn(path, ctx);
        n++;
    }
    closedir(d);
    return n;
}

#endif
