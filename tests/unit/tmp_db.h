/*
 * tmp_db.h - a fresh directory for one SQLite database in a unit test: made under OCSF_TEST_TMP
 * (set by ctest) or /tmp, removed with the database's -wal and -shm files.
 */
#ifndef OCSF_TEST_TMP_DB_H
#define OCSF_TEST_TMP_DB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Makes dir ("<tmp>/<prefix>_XXXXXX") and sets path to dir/file. 0, or -1. */
static inline int tmp_db_make(char *dir, size_t dirlen, char *path, size_t pathlen,
                              const char *prefix, const char *file)
{
    const char *tmp = getenv("OCSF_TEST_TMP");
    snprintf(dir, dirlen, "%s/%s_XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, pathlen, "%s/%s", dir, file);
    return 0;
}

/* Removes path, its -wal and -shm files, and dir (which must hold nothing else). */
static inline void tmp_db_remove(const char *dir, const char *path)
{
    char p[4300];
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

#endif
