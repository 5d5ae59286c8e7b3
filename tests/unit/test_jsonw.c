/* test_jsonw.c - unit tests for jsonw.c: the writer's output equals json_dumpb(JSON_COMPACT)
 * byte for byte on hand-picked edge cases (every control character, quotes, backslashes, UTF-8,
 * NUL inside strings and keys, integer extremes, reals, empty containers, insertion order) and on
 * every golden OCSF event of the native corpus; the size limit and the depth limit refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus_files.h"
#include "jsonw.h"

/* jsonw_dump(v) must equal json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY). */
static void check_same(const json_t *v)
{
    jsonw_buf_t b = {0};
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(want);
    assert_int_equal(jsonw_dump(v, &b, 0), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    assert_int_equal(b.data[b.len], '\0');
    free(want);
    jsonw_free(&b);
}

static void test_scalars(void **state)
{
    (void)state;
    static const json_int_t ints[] = {0, 1, -1, 9, 10, 1234567890123LL, INT64_MAX, INT64_MIN};
    static const double reals[] = {0.0, -0.0, 1.5, 0.1, 1e300, -2.5e-300, 100.0, 123456789.125};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_integer(ints[i]);
        check_same(v);
        json_decref(v);
    }
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        json_t *v = json_real(reals[i]);
        check_same(v);
        json_decref(v);
    }
    check_same(json_true());
    check_same(json_false());
    check_same(json_null());
}

static void test_strings(void **state)
{
    (void)state;
    char all[40];
    for (int c = 0; c < 32; c++)
        all[c] = (char)c; /* includes NUL, \b \f \n \r \t */
    memcpy(all + 32, "\"\\/\x7f\xc3\xa9", 7);
    json_t *s = json_stringn(all, 39);
    assert_non_null(s);
    check_same(s);
    json_decref(s);
    json_t *u = json_string("ws-\xe2\x82\xac \xf0\x9f\x98\x80 plain ascii");
    check_same(u);
    json_decref(u);
    json_t *e = json_string("");
    check_same(e);
    json_decref(e);
}

static void test_containers(void **state)
{
    (void)state;
    json_t *o = json_object();
    json_object_set_new(o, "z", json_integer(1)); /* insertion order, not sorted */
    json_object_set_new(o, "a\"b\\c\n", json_string("k"));
    json_object_setn_new(o, "nul\0key", 7, json_true());
    json_object_set_new(o, "empty_o", json_object());
    json_object_set_new(o, "empty_a", json_array());
    json_t *arr = json_array();
    json_array_append_new(arr, json_integer(-5));
    json_array_append_new(arr, json_pack("{s:[i,s,n],s:{}}", "x", 1, "y", "w", "q"));
    json_object_set_new(o, "arr", arr);
    check_same(o);
    check_same(arr);
    json_decref(o);
}

static void test_limits(void **state)
{
    (void)state;
    jsonw_buf_t b = {0};
    json_t *s = json_string("0123456789");
    assert_int_equal(jsonw_dump(s, &b, 12), 0); /* "0123456789" is 12 bytes */
    assert_int_equal(b.len, 12);
    assert_int_equal(jsonw_dump(s, &b, 11), -1);
    assert_int_equal(b.len, 0);
    json_decref(s);

    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < JSONW_MAX_DEPTH + 5; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    assert_int_equal(jsonw_dump(root, &b, 0), -1);
    assert_int_equal(jsonw_dump(NULL, &b, 0), -1);
    json_decref(root);
    jsonw_free(&b);
}

/* Every expected OCSF event in the corpus: what the collector really writes. */
static void check_corpus_file(const char *path, void *ctx)
{
    (void)ctx;
    json_error_t jerr;
    json_t *v = json_load_file(path, 0, &jerr);
    assert_non_null(v);
    check_same(v);
    json_decref(v);
}

static void test_corpus(void **state)
{
    (void)state;
    assert_true(corpus_foreach(check_corpus_file, NULL) >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),    cmocka_unit_test(test_strings),
        cmocka_unit_test(test_containers), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
