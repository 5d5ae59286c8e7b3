/*
 * test_schema.c - the schema loader (schema_load) and the lookups of schema.h.
 *
 * The real generated table (schemas/ocsf/, env OCSF_SCHEMAS_DIR) is loaded once for the lookup
 * tests. Loader errors are exercised on a small hand-written table (and on a copy of the real one
 * with one entry broken) written under OCSF_TEST_TMP: each must fail with a message naming the
 * file, the entry and the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schema.h"

static schema_t *g_schema;

static const char *schemas_dir(void)
{
    const char *d = getenv("OCSF_SCHEMAS_DIR");
    return d != NULL ? d : OCSF_SCHEMAS_DIR;
}

static int group_setup(void **state)
{
    char err[512];
    if (schema_load(schemas_dir(), &g_schema, err, sizeof(err)) != 0) {
        fprintf(stderr, "schema_load: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    schema_free(g_schema);
    return 0;
}

/* ---- a scratch schemas dir: <tmp>/schema-<pid>-<n>/ocsf/ ---- */

struct scratch {
    char root[512];
    char ocsf[600];
};

static void scratch_make(struct scratch *sc)
{
    static int counter;
    const char *tmp = getenv("OCSF_TEST_TMP");
    snprintf(sc->root, sizeof(sc->root), "%s/schema-%ld-%d", tmp != NULL ? tmp : "/tmp",
             (long)getpid(), counter++);
    snprintf(sc->ocsf, sizeof(sc->ocsf), "%s/ocsf", sc->root);
    assert_true(mkdir(sc->root, 0700) == 0 || errno == EEXIST);
    assert_true(mkdir(sc->ocsf, 0700) == 0 || errno == EEXIST);
}

static void scratch_write(struct scratch *sc, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", sc->ocsf, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void scratch_write_json(struct scratch *sc, const char *name, json_t *root)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", sc->ocsf, name);
    assert_int_equal(json_dump_file(root, path, JSON_COMPACT), 0);
}

static void scratch_remove(struct scratch *sc)
{
    DIR *d = opendir(sc->ocsf);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[900];
            snprintf(path, sizeof(path), "%s/%s", sc->ocsf, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(sc->ocsf);
    rmdir(sc->root);
}

/* A minimal table in the generator's format: one class, two objects, one profile. */
static const char MINI[] =
    "{\"_generated\": \"test\", \"format\": 1, \"version\": \"9.9.9\","
    " \"types\": {\"string_t\": {\"base_type\": \"string_t\"}, \"integer_t\": {\"base_type\": "
    "\"integer_t\"},"
    "  \"long_t\": {\"base_type\": \"long_t\"}, \"float_t\": {\"base_type\": \"float_t\"},"
    "  \"boolean_t\": {\"base_type\": \"boolean_t\"}, \"json_t\": {\"base_type\": \"json_t\"},"
    "  \"object_t\": {\"base_type\": \"object_t\"}, \"timestamp_t\": {\"base_type\": \"long_t\"},"
    "  \"port_t\": {\"base_type\": \"integer_t\", \"range\": [0, 65535]}},"
    " \"profiles\": {\"host\": {\"caption\": \"Host\", \"attributes\": [\"device\"]}},"
    " \"categories\": {\"iam\": {\"uid\": 3, \"caption\": \"IAM\"}},"
    " \"objects\": {"
    "  \"object\": {\"caption\": \"Object\", \"attributes\": {}},"
    "  \"user\": {\"caption\": \"User\", \"constraints\": {\"at_least_one\": [\"name\", \"uid\"]},"
    "   \"attributes\": {\"name\": {\"type\": \"string_t\", \"base_type\": \"string_t\"},"
    "    \"uid\": {\"type\": \"string_t\", \"base_type\": \"string_t\"},"
    "    \"state_id\": {\"type\": \"integer_t\", \"base_type\": \"integer_t\", \"enum\": {\"0\": "
    "\"Unknown\", \"1\": \"Up\"}}}}},"
    " \"classes\": {\"login\": {\"uid\": 3002, \"caption\": \"Login\", \"category_uid\": 3,"
    "  \"category_name\": \"IAM\", \"activities\": {\"1\": \"Logon\", \"99\": \"Other\"},"
    "  \"profiles\": [\"host\"],"
    "  \"attributes\": {"
    "   \"class_uid\": {\"type\": \"integer_t\", \"base_type\": \"integer_t\", \"requirement\": "
    "\"required\"},"
    "   \"activity_id\": {\"type\": \"integer_t\", \"base_type\": \"integer_t\", \"requirement\": "
    "\"required\","
    "    \"enum\": {\"1\": \"Logon\", \"99\": \"Other\"}, \"sibling\": \"activity_name\"},"
    "   \"activity_name\": {\"type\": \"string_t\", \"base_type\": \"string_t\"},"
    "   \"time\": {\"type\": \"timestamp_t\", \"base_type\": \"long_t\", \"requirement\": "
    "\"required\"},"
    "   \"port\": {\"type\": \"port_t\", \"base_type\": \"integer_t\"},"
    "   \"device\": {\"type\": \"string_t\", \"base_type\": \"string_t\", \"profile\": \"host\"},"
    "   \"unmapped\": {\"type\": \"object_t\", \"base_type\": \"object_t\", \"object_type\": "
    "\"object\"},"
    "   \"user\": {\"type\": \"object_t\", \"base_type\": \"object_t\", \"object_type\": \"user\","
    "    \"requirement\": \"required\"}}}}}";

static json_t *mini_json(void)
{
    json_error_t jerr;
    json_t *root = json_loads(MINI, 0, &jerr);
    if (root == NULL)
        fail_msg("MINI does not parse: %s at %d", jerr.text, jerr.column);
    return root;
}

/* Writes root as the only table of a scratch dir, loads it, expects failure whose message contains
 * every needle; cleans up. */
static void expect_load_error(json_t *root, const char *n1, const char *n2)
{
    struct scratch sc;
    scratch_make(&sc);
    scratch_write_json(&sc, "ocsf-9.9.9.json", root);
    char err[512];
    schema_t *s = (schema_t *)(uintptr_t)0x1; /* must stay untouched */
    int rc = schema_load(sc.root, &s, err, sizeof(err));
    scratch_remove(&sc);
    assert_int_equal(rc, -1);
    assert_ptr_equal(s, (schema_t *)(uintptr_t)0x1);
    if (strstr(err, "ocsf-9.9.9.json") == NULL || strstr(err, n1) == NULL ||
        (n2 != NULL && strstr(err, n2) == NULL))
        fail_msg("error '%s' lacks '%s' / '%s'", err, n1, n2 != NULL ? n2 : "");
}

static json_t *path_get(json_t *root, const char *a, const char *b, const char *c, const char *d)
{
    json_t *j = json_object_get(root, a);
    if (b != NULL)
        j = json_object_get(j, b);
    if (c != NULL)
        j = json_object_get(j, c);
    if (d != NULL)
        j = json_object_get(j, d);
    assert_non_null(j);
    return j;
}

/* ---- loader ---- */

static void test_load_real_table(void **state)
{
    assert_string_equal(schema_version(g_schema), "1.8.0");
}

static void test_load_mini_table_and_validate(void **state)
{
    struct scratch sc;
    scratch_make(&sc);
    scratch_write(&sc, "ocsf-9.9.9.json", MINI);
    scratch_write(&sc, "README.md", "not a table: ignored\n");
    char err[512] = "";
    schema_t *s = NULL;
    int rc = schema_load(sc.root, &s, err, sizeof(err));
    scratch_remove(&sc);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(schema_version(s), "9.9.9");
    assert_string_equal(schema_class_name(s, 3002), "Login");
    assert_int_equal(schema_class_uid(s, "LOGIN"), 3002);

    char reasons[512];
    json_t *ok =
        json_loads("{\"class_uid\": 3002, \"activity_id\": 99, \"activity_name\": \"Swipe\","
                   " \"time\": 1, \"port\": 443, \"user\": {\"uid\": \"u1\", \"state_id\": 1},"
                   " \"unmapped\": {\"a\": [1, {\"b\": null}]}}",
                   0, NULL);
    assert_non_null(ok);
    assert_int_equal(schema_validate(s, ok, reasons, sizeof(reasons)), 0);
    /* 99 is valid only where the enum lists it: user.state_id lists 0 and 1. */
    json_object_set_new(json_object_get(ok, "user"), "state_id", json_integer(99));
    assert_int_equal(schema_validate(s, ok, reasons, sizeof(reasons)), 1);
    assert_string_equal(reasons, "user.state_id 99 not in object user enum");
    json_decref(ok);
    schema_free(s);
}

static void test_load_missing_dir(void **state)
{
    char err[512];
    schema_t *s = NULL;
    assert_int_equal(schema_load("/nonexistent/schemas", &s, err, sizeof(err)), -1);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent/schemas/ocsf"));
    assert_non_null(strstr(err, "cannot open schema directory"));
}

static void test_load_empty_dir(void **state)
{
    struct scratch sc;
    scratch_make(&sc);
    char err[512];
    schema_t *s = NULL;
    int rc = schema_load(sc.root, &s, err, sizeof(err));
    scratch_remove(&sc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "no ocsf-<version>.json"));
    assert_non_null(strstr(err, "tools/ocsf-schema-gen.py"));
}

static void test_load_two_tables(void **state)
{
    struct scratch sc;
    scratch_make(&sc);
    scratch_write(&sc, "ocsf-9.9.9.json", MINI);
    scratch_write(&sc, "ocsf-9.9.8.json", MINI);
    char err[512];
    schema_t *s = NULL;
    int rc = schema_load(sc.root, &s, err, sizeof(err));
    scratch_remove(&sc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "more than one schema table"));
}

static void test_load_bad_json(void **state)
{
    struct scratch sc;
    scratch_make(&sc);
    scratch_write(&sc, "ocsf-9.9.9.json", "{\"format\": 1,\n \"version\": }\n");
    char err[512];
    schema_t *s = NULL;
    int rc = schema_load(sc.root, &s, err, sizeof(err));
    scratch_remove(&sc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "ocsf-9.9.9.json:2:")); /* file:line:column */
}

static void test_load_wrong_format(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(root, "format", json_integer(2));
    expect_load_error(root, "format 2", "regenerate");
    json_decref(root);
}

static void test_load_missing_version(void **state)
{
    json_t *root = mini_json();
    json_object_del(root, "version");
    expect_load_error(root, "field version missing", NULL);
    json_decref(root);
}

static void test_load_bad_object_type(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(path_get(root, "classes", "login", "attributes", "user"), "object_type",
                        json_string("usr"));
    expect_load_error(root, "classes.login.attributes.user", "object_type 'usr' is not a defined");
    json_decref(root);
}

static void test_load_unknown_type(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(path_get(root, "objects", "user", "attributes", "name"), "type",
                        json_string("nick_t"));
    expect_load_error(root, "objects.user.attributes.name", "type 'nick_t' is not a defined type");
    json_decref(root);
}

static void test_load_base_type_disagrees(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(path_get(root, "classes", "login", "attributes", "time"), "base_type",
                        json_string("string_t"));
    expect_load_error(root, "classes.login.attributes.time", "disagrees with type timestamp_t");
    json_decref(root);
}

static void test_load_bad_requirement(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(path_get(root, "classes", "login", "attributes", "time"), "requirement",
                        json_string("sometimes"));
    expect_load_error(root, "classes.login.attributes.time", "requirement 'sometimes'");
    json_decref(root);
}

static void test_load_unknown_profile(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(path_get(root, "classes", "login", "attributes", "device"), "profile",
                        json_string("nope"));
    expect_load_error(root, "classes.login.attributes.device", "unknown profile 'nope'");
    json_decref(root);
}

static void test_load_bad_enum_value(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(path_get(root, "objects", "user", "attributes", "state_id"), "enum",
                        json_pack("{s:s}", "up", "Up"));
    expect_load_error(root, "objects.user.attributes.state_id",
                      "enum value 'up' is not an integer");
    json_decref(root);
}

static void test_load_duplicate_class_uid(void **state)
{
    json_t *root = mini_json();
    json_t *copy = json_deep_copy(path_get(root, "classes", "login", NULL, NULL));
    json_object_set_new(json_object_get(root, "classes"), "login2", copy);
    expect_load_error(root, "uid 3002 also used by class", NULL);
    json_decref(root);
}

static void test_load_bad_constraint(void **state)
{
    json_t *root = mini_json();
    json_object_set_new(path_get(root, "objects", "user", NULL, NULL), "constraints",
                        json_pack("{s:[s,s]}", "at_least_one", "name", "nick"));
    expect_load_error(root, "objects.user.constraints.at_least_one", "'nick' is not an attribute");
    json_decref(root);
}

static void test_load_missing_activities(void **state)
{
    json_t *root = mini_json();
    json_object_del(path_get(root, "classes", "login", NULL, NULL), "activities");
    expect_load_error(root, "classes.login", "activities missing");
    json_decref(root);
}

/* A copy of the real table with one object removed: the attributes that use it are named. */
static void test_load_real_table_broken_object(void **state)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/ocsf/ocsf-1.8.0.json", schemas_dir());
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_object_del(json_object_get(root, "objects"), "ai_model"), 0);
    expect_load_error(root, ".attributes.ai_model",
                      "object_type 'ai_model' is not a defined object");
    json_decref(root);
}

static void test_load_null_dir_uses_env(void **state)
{
    assert_int_equal(setenv("OCSF_SCHEMAS_DIR", schemas_dir(), 1), 0);
    char err[512];
    schema_t *s = NULL;
    assert_int_equal(schema_load(NULL, &s, err, sizeof(err)), 0);
    assert_string_equal(schema_version(s), "1.8.0");
    schema_free(s);
    schema_free(NULL);
}

/* ---- lookups on the real table ---- */

static void test_classes_and_categories(void **state)
{
    static const struct {
        int uid;
        const char *caption;
        int category;
    } want[] = {
        {3002, "Authentication", 3},   {3004, "Entity Management", 3},
        {6003, "API Activity", 6},     {4001, "Network Activity", 4},
        {4002, "HTTP Activity", 4},    {1001, "File System Activity", 1},
        {1007, "Process Activity", 1}, {5019, "Device Config State Change", 5},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(schema_class_name(g_schema, want[i].uid), want[i].caption);
        assert_int_equal(schema_class_category(g_schema, want[i].uid), want[i].category);
        assert_int_equal(schema_class_uid(g_schema, want[i].caption), want[i].uid);
    }
    assert_null(schema_class_name(g_schema, 9999));
    assert_null(schema_class_name(g_schema, -1));
    assert_int_equal(schema_class_category(g_schema, 9999), -1);
    assert_string_equal(schema_category_name(g_schema, 3), "Identity & Access Management");
    assert_string_equal(schema_category_name(g_schema, 6), "Application Activity");
    assert_null(schema_category_name(g_schema, 42));
    assert_int_equal(schema_class_uid(g_schema, "authentication"), 3002);
    assert_int_equal(schema_class_uid(g_schema, "api_activity"), 6003);
    assert_int_equal(schema_class_uid(g_schema, "api activity"), 6003);
    assert_int_equal(schema_class_uid(g_schema, "no such class"), -1);
    assert_int_equal(schema_class_uid(g_schema, NULL), -1);
}

static void test_activities_and_profiles(void **state)
{
    assert_true(schema_class_has_activity(g_schema, 3002, 1));
    assert_true(schema_class_has_activity(g_schema, 3002, 99));
    assert_false(schema_class_has_activity(g_schema, 3002, 42));
    assert_true(schema_class_has_activity(g_schema, 3004, 13)); /* Resume */
    assert_false(schema_class_has_activity(g_schema, 9999, 1));
    assert_true(schema_class_has_profile(g_schema, 6003, "ai_operation"));
    assert_true(schema_class_has_profile(g_schema, 4001, "security_control"));
    assert_false(schema_class_has_profile(g_schema, 3002, "ai_operation"));
    assert_false(schema_class_has_profile(g_schema, 3002, "no_such_profile"));
}

static void test_enum_captions(void **state)
{
    assert_string_equal(schema_enum_caption(g_schema, 3002, "activity_id", 1), "Logon");
    assert_string_equal(schema_enum_caption(g_schema, 3002, "activity_id", 99), "Other");
    assert_string_equal(schema_enum_caption(g_schema, 3004, "activity_id", 12), "Suspend");
    assert_string_equal(schema_enum_caption(g_schema, 6003, "severity_id", 4), "High");
    assert_string_equal(schema_enum_caption(g_schema, 6003, "status_id", 2), "Failure");
    assert_string_equal(schema_enum_caption(g_schema, 4001, "disposition_id", 2), "Blocked");
    assert_string_equal(schema_enum_caption(g_schema, 6003, "disposition_id", 8), "Approved");
    assert_string_equal(schema_enum_caption(g_schema, 3002, "auth_protocol_id", 4), "OpenID");
    assert_string_equal(schema_enum_caption(g_schema, 3004, "entity.device.type_id", 6), "Virtual");
    assert_non_null(schema_enum_caption(g_schema, 6003, "actor.user.type_id", 1));
    assert_null(schema_enum_caption(g_schema, 3002, "activity_id", 42)); /* value unknown */
    assert_null(schema_enum_caption(g_schema, 3002, "time", 1));         /* not an enum */
    assert_null(schema_enum_caption(g_schema, 3002, "no_such_attr", 1)); /* undefined */
    assert_null(schema_enum_caption(g_schema, 9999, "activity_id", 1));  /* unknown class */
    assert_string_equal(schema_enum_caption_str(g_schema, 4002, "http_request.http_method", "GET"),
                        "Get");
    assert_null(schema_enum_caption_str(g_schema, 4002, "http_request.http_method", "BREW"));

    long long v = -1;
    assert_int_equal(schema_enum_value(g_schema, 3002, "activity_id", "logoff", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(schema_enum_value(g_schema, 4002, "activity_id", "Post", &v), 0);
    assert_int_equal(v, 6);
    assert_int_equal(schema_enum_value(g_schema, 3002, "activity_id", "Dance", &v), -1);
}

static void test_enum_siblings(void **state)
{
    assert_string_equal(schema_enum_sibling(g_schema, 3002, "activity_id"), "activity_name");
    assert_string_equal(schema_enum_sibling(g_schema, 4001, "disposition_id"), "disposition");
    assert_string_equal(schema_enum_sibling(g_schema, 6003, "severity_id"), "severity");
    assert_string_equal(schema_enum_sibling(g_schema, 3004, "entity.type_id"), "type");
    assert_null(schema_enum_sibling(g_schema, 3002, "time"));
    assert_null(schema_enum_sibling(g_schema, 3002, "nope"));
}

static void test_attr_types(void **state)
{
    int is_array = -1;
    assert_string_equal(schema_attr_type(g_schema, 3002, "time", &is_array), "long_t");
    assert_int_equal(is_array, 0);
    assert_string_equal(schema_attr_declared_type(g_schema, 3002, "time"), "timestamp_t");
    assert_string_equal(schema_attr_type(g_schema, 6003, "actor.user.name", &is_array), "string_t");
    assert_string_equal(schema_attr_type(g_schema, 6003, "resources", &is_array), "object_t");
    assert_int_equal(is_array, 1);
    assert_string_equal(schema_attr_type(g_schema, 6003, "resources.name", &is_array), "string_t");
    assert_int_equal(is_array, 0);
    assert_string_equal(schema_attr_type(g_schema, 4001, "dst_endpoint.port", NULL), "integer_t");
    assert_string_equal(schema_attr_declared_type(g_schema, 4001, "dst_endpoint.port"), "port_t");
    assert_string_equal(schema_attr_declared_type(g_schema, 4001, "dst_endpoint.ip"), "ip_t");
    assert_string_equal(schema_attr_type(g_schema, 1007, "process.pid", NULL), "integer_t");
    assert_string_equal(schema_attr_type(g_schema, 3002, "session.is_remote", NULL), "boolean_t");
    assert_string_equal(schema_attr_type(g_schema, 3004, "entity.data", NULL), "json_t");
    assert_string_equal(schema_attr_type(g_schema, 3002, "metadata.profiles", &is_array),
                        "string_t");
    assert_int_equal(is_array, 1);
    assert_string_equal(schema_attr_type(g_schema, 3002, "unmapped", NULL), "object_t");
    assert_string_equal(schema_attr_object_type(g_schema, 6003, "actor.user"), "user");
    assert_string_equal(schema_attr_object_type(g_schema, 3002, "unmapped"), "object");
    assert_null(schema_attr_object_type(g_schema, 3002, "time"));
    /* not defined: unknown names, paths through scalars, json_t or `object` */
    is_array = -1;
    assert_null(schema_attr_type(g_schema, 3002, "nope", &is_array));
    assert_int_equal(is_array, 0);
    assert_null(schema_attr_type(g_schema, 3002, "time.x", NULL));
    assert_null(schema_attr_type(g_schema, 3002, "unmapped.anything", NULL));
    assert_null(schema_attr_type(g_schema, 3004, "entity.data.image", NULL));
    assert_null(schema_attr_type(g_schema, 3002, "actor..user", NULL));
    assert_null(schema_attr_type(g_schema, 3002, "", NULL));
    assert_null(schema_attr_type(g_schema, 9999, "time", NULL));
    assert_null(schema_attr_type(g_schema, 3002, NULL, NULL));
}

static void test_attr_requirements(void **state)
{
    assert_string_equal(schema_attr_requirement(g_schema, 6003, "actor"), "required");
    assert_string_equal(schema_attr_requirement(g_schema, 6003, "api"), "required");
    assert_string_equal(schema_attr_requirement(g_schema, 6003, "api.operation"), "required");
    assert_string_equal(schema_attr_requirement(g_schema, 6003, "dst_endpoint"), "recommended");
    assert_string_equal(schema_attr_requirement(g_schema, 6003, "count"), "optional");
    assert_null(schema_attr_requirement(g_schema, 6003, "nope"));
}

static void test_attr_profiles(void **state)
{
    assert_string_equal(schema_attr_profile(g_schema, 6003, "disposition_id"), "security_control");
    assert_string_equal(schema_attr_profile(g_schema, 6003, "action_id"), "security_control");
    assert_string_equal(schema_attr_profile(g_schema, 6003, "policy"), "security_control");
    assert_string_equal(schema_attr_profile(g_schema, 6003, "policy.name"), "security_control");
    assert_string_equal(schema_attr_profile(g_schema, 6003, "ai_model"), "ai_operation");
    assert_string_equal(schema_attr_profile(g_schema, 6003, "message_context"), "ai_operation");
    assert_string_equal(schema_attr_profile(g_schema, 6003, "device"), "host");
    assert_string_equal(schema_attr_profile(g_schema, 3002, "time_dt"), "datetime");
    assert_null(schema_attr_profile(g_schema, 6003, "actor.user.name"));
    assert_null(schema_attr_profile(g_schema, 1007, "device")); /* required there, no profile */
    assert_null(schema_attr_profile(g_schema, 6003, "nope"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_real_table),
        cmocka_unit_test(test_load_mini_table_and_validate),
        cmocka_unit_test(test_load_missing_dir),
        cmocka_unit_test(test_load_empty_dir),
        cmocka_unit_test(test_load_two_tables),
        cmocka_unit_test(test_load_bad_json),
        cmocka_unit_test(test_load_wrong_format),
        cmocka_unit_test(test_load_missing_version),
        cmocka_unit_test(test_load_bad_object_type),
        cmocka_unit_test(test_load_unknown_type),
        cmocka_unit_test(test_load_base_type_disagrees),
        cmocka_unit_test(test_load_bad_requirement),
        cmocka_unit_test(test_load_unknown_profile),
        cmocka_unit_test(test_load_bad_enum_value),
        cmocka_unit_test(test_load_duplicate_class_uid),
        cmocka_unit_test(test_load_bad_constraint),
        cmocka_unit_test(test_load_missing_activities),
        cmocka_unit_test(test_load_real_table_broken_object),
        cmocka_unit_test(test_load_null_dir_uses_env),
        cmocka_unit_test(test_classes_and_categories),
        cmocka_unit_test(test_activities_and_profiles),
        cmocka_unit_test(test_enum_captions),
        cmocka_unit_test(test_enum_siblings),
        cmocka_unit_test(test_attr_types),
        cmocka_unit_test(test_attr_requirements),
        cmocka_unit_test(test_attr_profiles),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
