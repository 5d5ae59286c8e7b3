/*
 * test_schema_validate.c - schema_validate against the real OCSF 1.8.0 table.
 *
 * Positive tests: realistic events of the classes the native mapping tables produce (3002, 3004,
 * 6003, 4001, 4002, 1001, 1007), with the profiles they need. Negative tests: one per validator
 * rule, each starting from a valid event and breaking exactly one thing, so the problem count is 1
 * and the reason is the rule's. Then the limits (depth, problem count, reason buffer truncation and
 * UTF-8 safety), thread safety, and a micro-benchmark that prints ns/event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema.h"

static schema_t *g_schema;

static int group_setup(void **state)
{
    const char *dir = getenv("OCSF_SCHEMAS_DIR");
    char err[512];
    if (schema_load(dir != NULL ? dir : OCSF_SCHEMAS_DIR, &g_schema, err, sizeof(err)) != 0) {
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

#define METADATA(profiles)                                                                         \
    "\"metadata\": {\"version\": \"1.8.0\", \"uid\": \"8e0c6c3e-1f0a-4c1e-9a55-2f1f8c7d6b01\","    \
    " \"logged_time\": 1764360000200, \"sequence\": 42, \"profiles\": " profiles ","               \
    " \"product\": {\"name\": \"ocsf-collector\", \"vendor_name\": \"Example\", \"version\": "     \
    "\"0.1.0\"}}"

/* broker.session.open */
static const char EV_3002[] =
    "{\"class_uid\": 3002, \"class_name\": \"Authentication\", \"category_uid\": 3,"
    " \"category_name\": \"Identity & Access Management\", \"activity_id\": 1, \"activity_name\": "
    "\"Logon\","
    " \"type_uid\": 300201, \"type_name\": \"Authentication: Logon\", \"severity_id\": 1, "
    "\"severity\": \"Informational\","
    " \"status_id\": 1, \"status\": \"Success\", \"time\": 1764360000123, " METADATA(
        "[]") ","
              " \"user\": {\"name\": \"alice@corp.example\", \"uid\": \"alice\", \"type_id\": 1},"
              " \"session\": {\"uid\": \"s-123\", \"created_time\": 1764360000123, "
              "\"expiration_time\": "
              "1764388800000,"
              "  \"is_remote\": true, \"is_mfa\": true},"
              " \"src_endpoint\": {\"ip\": \"10.1.2.3\"}, \"dst_endpoint\": {\"hostname\": "
              "\"vm-alice-01\", "
              "\"name\": \"vm-alice-01\"},"
              " \"service\": {\"name\": \"broker\"}, \"auth_protocol_id\": 4, \"auth_protocol\": "
              "\"OpenID\","
              " \"unmapped\": {\"workspace\": \"ws-alice\", \"peer\": {\"addr\": "
              "\"10.1.2.3:51234\"}}}";

/* workspace.create, with the host profile for `device` */
static const char EV_3004[] =
    "{\"class_uid\": 3004, \"category_uid\": 3, \"activity_id\": 1, \"type_uid\": 300401,"
    " \"severity_id\": 1, \"status_id\": 1, \"time\": 1764360000123, " METADATA(
        "[\"host\"]") ","
                      " \"actor\": {\"user\": {\"name\": \"alice@corp.example\"}},"
                      " \"entity\": {\"type_id\": 1, \"type\": \"Device\", \"name\": \"ws-alice\","
                      "  \"device\": {\"type_id\": 6, \"name\": \"vm-alice-01\", \"uid\": "
                      "\"vm-alice-01\"},"
                      "  \"data\": {\"image\": \"ubuntu-24.04\", \"profile\": \"dev\", \"gpus\": "
                      "[0, 1]}},"
                      " \"device\": {\"type_id\": 6, \"name\": \"vm-alice-01\", \"uid\": "
                      "\"vm-alice-01\"}}";

/* policy.release.publish and workspace.snapshot: entity is a policy; activity 99 with a name */
static const char EV_3004_POLICY[] =
    "{\"class_uid\": 3004, \"category_uid\": 3, \"activity_id\": 99, \"activity_name\": "
    "\"Snapshot\","
    " \"type_uid\": 300499, \"severity_id\": 1, \"status_id\": 1, \"time\": 1764360000123,"
    " " METADATA("[]") ", \"actor\": {\"app_name\": \"gitops-controller\"},"
                       " \"entity\": {\"type_id\": 5, \"type\": \"Policy\", \"policy\": {\"name\": "
                       "\"tools\", \"uid\": "
                       "\"sha256:ab12\","
                       "  \"version\": \"42\", \"is_applied\": false}}}";

/* tool.call with the security_control profile: policy, disposition, action */
static const char EV_6003[] =
    "{\"class_uid\": 6003, \"category_uid\": 6, \"activity_id\": 1, \"type_uid\": 600301,"
    " \"severity_id\": 1, \"status_id\": 1, \"time\": 1764360000123,"
    " " METADATA("[\"security_control\"]") ","
                                           " \"actor\": {\"user\": {\"name\": \"alice\"}, "
                                           "\"app_name\": \"agent-runtime\"},"
                                           " \"api\": {\"operation\": \"github.create_issue\", "
                                           "\"service\": {\"name\": \"github\"}},"
                                           " \"src_endpoint\": {\"hostname\": \"vm-alice-01\", "
                                           "\"ip\": \"10.1.2.3\"},"
                                           " \"resources\": [{\"type\": \"repository\", \"name\": "
                                           "\"corp/app\"}, {\"uid\": \"r2\"}],"
                                           " \"policy\": {\"name\": \"tools-allow\", \"uid\": "
                                           "\"sha256:ab12\", \"version\": \"42\"},"
                                           " \"disposition_id\": 1, \"disposition\": \"Allowed\", "
                                           "\"action_id\": 1, \"action\": "
                                           "\"Allowed\"}";

/* tool.inference with the ai_operation profile */
static const char EV_6003_AI[] =
    "{\"class_uid\": 6003, \"category_uid\": 6, \"activity_id\": 99, \"activity_name\": "
    "\"Inference\","
    " \"type_uid\": 600399, \"severity_id\": 1, \"status_id\": 1, \"time\": 1764360000123,"
    " " METADATA(
        "[\"ai_operation\", \"security_control\"]") ","
                                                    " \"actor\": {\"user\": {\"name\": \"alice\"}, "
                                                    "\"app_name\": \"agent-runtime\"},"
                                                    " \"api\": {\"operation\": "
                                                    "\"chat.completions\"},"
                                                    " \"src_endpoint\": {\"hostname\": "
                                                    "\"vm-alice-01\"},"
                                                    " \"dst_endpoint\": {\"hostname\": "
                                                    "\"llm.corp.example\", \"port\": 443},"
                                                    " \"ai_model\": {\"name\": \"model-x\", "
                                                    "\"ai_provider\": \"provider-y\"},"
                                                    " \"message_context\": {\"prompt_tokens\": "
                                                    "1200, \"completion_tokens\": 300, "
                                                    "\"total_tokens\": 1500,"
                                                    "  \"service\": {\"name\": \"llm-gateway\"}},"
                                                    " \"disposition_id\": 1}";

/* tool.egress denied */
static const char EV_4001[] =
    "{\"class_uid\": 4001, \"category_uid\": 4, \"activity_id\": 5, \"type_uid\": 400105,"
    " \"severity_id\": 3, \"status_id\": 2, \"status_detail\": \"not on allowlist\", \"time\": "
    "1764360000123,"
    " " METADATA("[\"security_control\"]") ","
                                           " \"src_endpoint\": {\"ip\": \"10.1.2.3\", "
                                           "\"hostname\": \"vm-alice-01\"},"
                                           " \"dst_endpoint\": {\"hostname\": \"evil.example\", "
                                           "\"ip\": \"203.0.113.7\", \"port\": 443},"
                                           " \"disposition_id\": 2, \"disposition\": \"Blocked\", "
                                           "\"action_id\": 2,"
                                           " \"firewall_rule\": {\"name\": \"default-deny\", "
                                           "\"uid\": \"rule-0\"}}";

/* tool.http GET */
static const char EV_4002[] =
    "{\"class_uid\": 4002, \"category_uid\": 4, \"activity_id\": 3, \"type_uid\": 400203,"
    " \"severity_id\": 1, \"status_id\": 1, \"time\": 1764360000123, "
    "" METADATA("[\"security_control\"]") ","
                                          " \"http_request\": {\"http_method\": \"GET\", \"url\": "
                                          "{\"url_string\": "
                                          "\"https://api.github.com/repos/corp/app\","
                                          "  \"hostname\": \"api.github.com\", \"path\": "
                                          "\"/repos/corp/app\", \"port\": 443, \"scheme\": "
                                          "\"https\"}},"
                                          " \"http_response\": {\"code\": 200},"
                                          " \"src_endpoint\": {\"ip\": \"10.1.2.3\"}, "
                                          "\"dst_endpoint\": {\"hostname\": "
                                          "\"api.github.com\", \"port\": 443},"
                                          " \"disposition_id\": 1}";

/* tool.file read: device is required in system classes, no profile needed */
static const char EV_1001[] =
    "{\"class_uid\": 1001, \"category_uid\": 1, \"activity_id\": 2, \"type_uid\": 100102,"
    " \"severity_id\": 1, \"status_id\": 1, \"time\": 1764360000123, " METADATA(
        "[]") ","
              " \"actor\": {\"user\": {\"name\": \"alice\"}, \"app_name\": \"agent-runtime\"},"
              " \"device\": {\"type_id\": 6, \"name\": \"vm-alice-01\", \"uid\": \"vm-alice-01\"},"
              " \"file\": {\"name\": \"main.c\", \"path\": \"/home/alice/src/main.c\", "
              "\"type_id\": 1, "
              "\"size\": 1234}}";

/* tool.exec */
static const char EV_1007[] =
    "{\"class_uid\": 1007, \"category_uid\": 1, \"activity_id\": 1, \"type_uid\": 100701,"
    " \"severity_id\": 1, \"status_id\": 1, \"time\": 1764360000123, " METADATA(
        "[\"host\"]") ","
                      " \"actor\": {\"user\": {\"name\": \"alice\"}, \"process\": {\"pid\": 100, "
                      "\"name\": "
                      "\"agent\"}},"
                      " \"device\": {\"type_id\": 6, \"hostname\": \"vm-alice-01\"},"
                      " \"process\": {\"pid\": 4242, \"name\": \"git\", \"cmd_line\": \"git "
                      "status\","
                      "  \"parent_process\": {\"pid\": 100}}}";

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *e = json_loads(text, 0, &jerr);
    if (e == NULL)
        fail_msg("test event does not parse: %s (col %d)", jerr.text, jerr.column);
    return e;
}

static void assert_valid(const char *text)
{
    json_t *e = parse(text);
    char reasons[2048];
    int n = schema_validate(g_schema, e, reasons, sizeof(reasons));
    json_decref(e);
    if (n != 0)
        fail_msg("expected valid, got %d problem(s): %s", n, reasons);
}

/* Validates e (and drops it); expects exactly `count` problems and `needle` among the reasons. */
static void expect(json_t *e, int count, const char *needle)
{
    char reasons[2048];
    int n = schema_validate(g_schema, e, reasons, sizeof(reasons));
    json_decref(e);
    if (n != count || strstr(reasons, needle) == NULL)
        fail_msg("expected %d problem(s) with '%s', got %d: '%s'", count, needle, n, reasons);
}

static json_t *obj_at(json_t *e, const char *a, const char *b)
{
    json_t *j = json_object_get(e, a);
    if (b != NULL)
        j = json_object_get(j, b);
    assert_non_null(j);
    return j;
}

/* ---- valid events ---- */

static void test_valid_3002(void **state)
{
    assert_valid(EV_3002);
}

static void test_valid_3004(void **state)
{
    assert_valid(EV_3004);
    assert_valid(EV_3004_POLICY);
}

static void test_valid_6003(void **state)
{
    assert_valid(EV_6003);
    assert_valid(EV_6003_AI);
}

static void test_valid_4001(void **state)
{
    assert_valid(EV_4001);
}

static void test_valid_4002(void **state)
{
    assert_valid(EV_4002);
}

static void test_valid_1001(void **state)
{
    assert_valid(EV_1001);
}

static void test_valid_1007(void **state)
{
    assert_valid(EV_1007);
}

/* Anything goes under `unmapped` (object type `object`) and inside json_t values; deprecated
 * attributes are allowed; unknown profile names (extensions) are ignored; float_t takes integers
 * too. */
static void test_valid_open_places_and_leniency(void **state)
{
    json_t *e = parse(EV_4002);
    json_object_set_new(e, "unmapped",
                        json_pack("{s:{s:[i,{s:n}]},s:s}", "deep", "x", 1, "y", "z", "q"));
    json_object_set_new(e, "enrichments",
                        json_pack("[{s:s,s:s,s:{s:[i]}}]", "name", "ip", "value", "203.0.113.7",
                                  "data", "anything", 1));
    json_object_set_new(e, "http_status", json_integer(200)); /* deprecated in 1.8 */
    json_array_append_new(obj_at(e, "metadata", "profiles"), json_string("linux/linux_users"));
    json_object_set_new(obj_at(e, "dst_endpoint", NULL), "location",
                        json_pack("{s:s,s:f,s:i}", "city", "Paris", "lat", 48.85, "long", 2));
    char reasons[1024];
    int n = schema_validate(g_schema, e, reasons, sizeof(reasons));
    json_decref(e);
    if (n != 0)
        fail_msg("%s", reasons);
}

/* ---- one negative test per rule ---- */

static void test_rule_not_an_object(void **state)
{
    expect(json_pack("[i]", 1), 1, "event is not a JSON object");
}

static void test_rule_class_uid_missing(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_del(e, "class_uid");
    expect(e, 1, "missing required attribute class_uid");
}

static void test_rule_class_uid_unknown(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "class_uid", json_integer(9999));
    expect(e, 1, "class_uid 9999 unknown");
}

static void test_rule_class_uid_type(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "class_uid", json_string("3002"));
    expect(e, 1, "class_uid: expected integer_t, got string");
}

static void test_rule_category_matches_class(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "category_uid", json_integer(4));
    expect(e, 1, "category_uid 4 != 3 of class 3002 (authentication)");
}

static void test_rule_activity_in_class(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "activity_id", json_integer(42));
    json_object_set_new(e, "type_uid", json_integer(300242));
    expect(e, 1, "activity_id 42 not in class 3002 enum");
}

static void test_rule_type_uid(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "type_uid", json_integer(300299));
    expect(e, 1, "type_uid 300299 != class_uid*100+activity_id 300201");
}

static void test_rule_required_top_level(void **state)
{
    json_t *e = parse(EV_6003);
    json_object_del(e, "time");
    expect(e, 1, "missing required attribute time");
    e = parse(EV_6003);
    json_object_del(e, "actor");
    expect(e, 1, "missing required attribute actor (object actor)");
    e = parse(EV_1007);
    json_object_del(e, "process");
    expect(e, 1, "missing required attribute process (object process)");
}

static void test_rule_required_nested(void **state)
{
    json_t *e = parse(EV_6003);
    json_object_del(obj_at(e, "api", NULL), "operation");
    expect(e, 1, "missing required attribute api.operation");
    e = parse(EV_3002);
    json_object_del(obj_at(e, "metadata", NULL), "product");
    expect(e, 1, "missing required attribute metadata.product (object product)");
    e = parse(EV_1001);
    json_object_del(obj_at(e, "device", NULL), "type_id");
    expect(e, 1, "missing required attribute device.type_id");
}

/* Inside arrays of objects, each element is checked: resources[1] lacks both name and uid. */
static void test_rule_required_in_array_elements(void **state)
{
    json_t *e = parse(EV_6003);
    json_object_del(json_array_get(obj_at(e, "resources", NULL), 1), "uid");
    expect(e, 1, "resources[1]: at least one of name, uid");
}

static void test_rule_undefined_attribute(void **state)
{
    json_t *e = parse(EV_6003);
    json_object_set_new(e, "foo", json_integer(1));
    expect(e, 1, "attribute foo not defined in class api_activity");
    e = parse(EV_6003);
    json_object_set_new(obj_at(e, "actor", "user"), "nickname", json_string("al"));
    expect(e, 1, "attribute actor.user.nickname not defined in object user");
}

static void test_rule_profile_security_control(void **state)
{
    json_t *e = parse(EV_6003);
    json_array_clear(obj_at(e, "metadata", "profiles"));
    char reasons[1024];
    int n = schema_validate(g_schema, e, reasons, sizeof(reasons));
    json_decref(e);
    /* policy, disposition_id, disposition, action_id, action */
    assert_int_equal(n, 5);
    assert_non_null(strstr(reasons, "policy needs profile security_control (metadata.profiles)"));
    assert_non_null(strstr(reasons, "disposition_id needs profile security_control"));
    assert_non_null(strstr(reasons, "action_id needs profile security_control"));
}

static void test_rule_profile_ai_operation(void **state)
{
    json_t *e = parse(EV_6003_AI);
    json_array_remove(obj_at(e, "metadata", "profiles"), 0); /* "ai_operation" */
    char reasons[1024];
    int n = schema_validate(g_schema, e, reasons, sizeof(reasons));
    json_decref(e);
    assert_int_equal(n, 2);
    assert_non_null(strstr(reasons, "ai_model needs profile ai_operation (metadata.profiles)"));
    assert_non_null(strstr(reasons, "message_context needs profile ai_operation"));
}

static void test_rule_profile_host(void **state)
{
    json_t *e = parse(EV_3004);
    json_array_clear(obj_at(e, "metadata", "profiles"));
    expect(e, 1, "device needs profile host (metadata.profiles)");
}

/* A profile's requirements apply once it is listed: `cloud` is required under the cloud profile. */
static void test_rule_profile_requirement_applies_when_listed(void **state)
{
    json_t *e = parse(EV_6003);
    json_array_append_new(obj_at(e, "metadata", "profiles"), json_string("cloud"));
    expect(e, 1, "missing required attribute cloud (object cloud)");
}

static void test_rule_type_integer(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "status_id", json_string("1"));
    expect(e, 1, "status_id: expected integer_t, got string");
    e = parse(EV_3002);
    json_object_set_new(e, "status_id", json_real(1.0));
    expect(e, 1, "status_id: expected integer_t, got number");
    e = parse(EV_3002);
    json_object_set_new(e, "status_id", json_null());
    expect(e, 1, "status_id: expected integer_t, got null");
    e = parse(EV_1007);
    json_object_set_new(obj_at(e, "process", NULL), "pid", json_integer(1LL << 40));
    expect(e, 1, "process.pid: 1099511627776 out of range for integer_t");
}

static void test_rule_type_long_and_timestamp(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "time", json_string("2026-11-28T20:00:00Z"));
    expect(e, 1, "time: expected timestamp_t (long_t), got string");
    e = parse(EV_3002);
    json_object_set_new(e, "time", json_integer(1LL << 40)); /* fine for a long */
    expect(e, 0, "");
}

static void test_rule_type_port_range(void **state)
{
    json_t *e = parse(EV_4001);
    json_object_set_new(obj_at(e, "dst_endpoint", NULL), "port", json_integer(70000));
    expect(e, 1, "dst_endpoint.port: 70000 out of range 0..65535 (port_t)");
}

static void test_rule_type_string_and_max_len(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(obj_at(e, "user", NULL), "name", json_integer(7));
    expect(e, 1, "user.name: expected username_t (string_t), got integer");
    e = parse(EV_4001);
    json_object_set_new(obj_at(e, "src_endpoint", NULL), "ip",
                        json_string("10.1.2.3.10.1.2.3.10.1.2.3.10.1.2.3.10.1.2.3.10.1.2.3"));
    expect(e, 1, "src_endpoint.ip: ip_t longer than 40 bytes");
}

static void test_rule_type_boolean(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(obj_at(e, "session", NULL), "is_mfa", json_string("true"));
    expect(e, 1, "session.is_mfa: expected boolean_t, got string");
}

static void test_rule_type_float(void **state)
{
    json_t *e = parse(EV_4002);
    json_object_set_new(obj_at(e, "dst_endpoint", NULL), "location",
                        json_pack("{s:s,s:s}", "city", "Paris", "lat", "48.85"));
    expect(e, 1, "dst_endpoint.location.lat: expected float_t, got string");
}

static void test_rule_type_object(void **state)
{
    json_t *e = parse(EV_6003);
    json_object_set_new(e, "actor", json_string("alice"));
    expect(e, 1, "actor: expected object actor, got string");
}

static void test_rule_array_where_is_array(void **state)
{
    json_t *e = parse(EV_6003);
    json_object_set_new(e, "resources", json_pack("{s:s}", "name", "x"));
    expect(e, 1, "resources: expected array of object resource_details, got object");
    e = parse(EV_6003);
    json_array_append_new(obj_at(e, "resources", NULL), json_string("x"));
    expect(e, 1, "resources[2]: expected object resource_details, got string");
    e = parse(EV_3002);
    json_object_set_new(obj_at(e, "metadata", NULL), "profiles", json_string("host"));
    expect(e, 1, "metadata.profiles: expected array of string_t, got string");
}

static void test_rule_no_array_where_not_array(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "user", json_pack("[{s:s}]", "name", "alice"));
    expect(e, 1, "user: expected object user, got array");
}

static void test_rule_enum_nested(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(obj_at(e, "user", NULL), "type_id", json_integer(42));
    expect(e, 1, "user.type_id 42 not in object user enum");
    e = parse(EV_4001);
    json_object_set_new(e, "disposition_id", json_integer(1000));
    expect(e, 1, "disposition_id 1000 not in class 4001 enum");
}

static void test_rule_at_least_one(void **state)
{
    json_t *e = parse(EV_3002);
    json_object_set_new(e, "user", json_pack("{s:i}", "type_id", 1));
    expect(e, 1, "user: at least one of account, name, uid");
    e = parse(EV_3002);
    json_object_del(e, "service");
    json_object_del(e, "dst_endpoint");
    expect(e, 1, "authentication: at least one of service, dst_endpoint");
    e = parse(EV_3002); /* a null member does not count */
    json_object_set_new(e, "service", json_null());
    json_object_del(e, "dst_endpoint");
    char reasons[512];
    assert_int_equal(schema_validate(g_schema, e, reasons, sizeof(reasons)), 2);
    assert_non_null(strstr(reasons, "at least one of service, dst_endpoint"));
    json_decref(e);
}

static void test_rule_just_one(void **state)
{
    static const char base[] =
        "{\"class_uid\": 3003, \"category_uid\": 3, \"activity_id\": 1, \"type_uid\": 300301,"
        " \"severity_id\": 1, \"time\": 1764360000123, " METADATA(
            "[]") ","
                  " \"user\": {\"name\": \"alice\"}, \"privileges\": [\"sudo\"]}";
    assert_valid(base);
    json_t *e = parse(base);
    json_object_set_new(e, "group", json_pack("{s:s}", "name", "admins"));
    expect(e, 1, "authorize_session: just one of privileges, group (found 2)");
    e = parse(base);
    json_object_del(e, "privileges");
    expect(e, 1, "authorize_session: just one of privileges, group (found 0)");
}

/* ---- limits ---- */

static void test_depth_is_bounded(void **state)
{
    json_t *e = parse(EV_1007);
    json_t *p = obj_at(e, "process", NULL);
    for (int i = 0; i < 40; i++) {
        json_t *parent = json_pack("{s:i}", "pid", 1000 + i);
        json_object_set_new(p, "parent_process", parent);
        p = parent;
    }
    char reasons[2048];
    int n = schema_validate(g_schema, e, reasons, sizeof(reasons));
    json_decref(e);
    assert_int_equal(n, 1);
    assert_non_null(strstr(reasons, "objects nested deeper than 32"));
}

static void test_problem_count_is_bounded(void **state)
{
    json_t *e = parse(EV_6003);
    json_t *big = json_array();
    for (int i = 0; i < 5000; i++)
        json_array_append_new(big, json_integer(i));
    json_object_set_new(e, "resources", big); /* 5000 wrong elements */
    char reasons[4096];
    int n = schema_validate(g_schema, e, reasons, sizeof(reasons));
    json_decref(e);
    assert_int_equal(n, SCHEMA_MAX_PROBLEMS);
    int described = 1;
    for (const char *p = reasons; (p = strstr(p, "; ")) != NULL; p += 2)
        described++;
    assert_int_equal(described, SCHEMA_MAX_REASONS + 1); /* + "and N more" */
    assert_non_null(strstr(reasons, "; and 984 more"));
}

/* Every byte sequence in reasons must be well-formed UTF-8 without control characters. */
static int is_clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80             ? 0
                    : (*p & 0xE0) == 0xC0 ? 1
                    : (*p & 0xF0) == 0xE0 ? 2
                    : (*p & 0xF8) == 0xF0 ? 3
                                          : -1;
        if (extra < 0 || *p < 0x20 || *p == 0x7f)
            return 0;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void test_reasons_truncated_safely(void **state)
{
    json_t *e = parse(EV_6003);
    /* keys with multi-byte characters and a newline, long enough to be cut */
    json_object_set_new(e, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                        json_integer(1));
    json_object_set_new(e, "bad\nkey", json_integer(1));
    char longkey[300];
    for (size_t i = 0; i < 99; i++)
        memcpy(longkey + 3 * i, "\xe2\x82\xac", 3); /* 99 euro signs */
    longkey[297] = '\0';
    json_object_set_new(e, longkey, json_integer(1));

    char full[4096];
    int n = schema_validate(g_schema, e, full, sizeof(full));
    assert_int_equal(n, 3);
    assert_true(is_clean_utf8(full));
    assert_non_null(strstr(full, "attribute bad?key not defined"));
    assert_non_null(strstr(full, "...")); /* the 297-byte key was cut */
    for (size_t len = 1; len < 120; len++) {
        char small[128];
        memset(small, 'X', sizeof(small));
        assert_int_equal(schema_validate(g_schema, e, small, len), 3);
        assert_true(strlen(small) < len);
        assert_true(is_clean_utf8(small));
        assert_int_equal(small[len], 'X'); /* nothing written past len */
        assert_int_equal(strncmp(small, full, strlen(small)), 0);
    }
    assert_int_equal(schema_validate(g_schema, e, NULL, 0), 3);
    json_decref(e);
}

/* ---- threads and speed ---- */

struct worker {
    const char *text;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    json_t *e = parse(w->text);
    char reasons[256];
    for (int i = 0; i < 20000; i++)
        if (schema_validate(g_schema, e, reasons, sizeof(reasons)) != 0)
            w->failures++;
    json_decref(e);
    return NULL;
}

static void test_shared_between_threads(void **state)
{
    struct worker w[2] = {{EV_6003, 0}, {EV_3002, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(w[0].failures + w[1].failures, 0);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void test_benchmark(void **state)
{
    static const char *const events[] = {EV_3002, EV_6003, EV_4001};
    static const char *const names[] = {"3002", "6003", "4001"};
    for (size_t k = 0; k < 3; k++) {
        json_t *e = parse(events[k]);
        char *text = json_dumps(e, JSON_COMPACT);
        char reasons[256];
        int iterations = 50000;
        double t0 = now_ns();
        for (int i = 0; i < iterations; i++)
            assert_int_equal(schema_validate(g_schema, e, reasons, sizeof(reasons)), 0);
        double ns = (now_ns() - t0) / iterations;
        printf("# schema_validate class %s (%zu-byte event): %.0f ns/event\n", names[k],
               strlen(text), ns);
        /* generous bound (sanitizer builds are ~10x slower): catches accidental O(n^2) walks */
        assert_true(ns < 200000.0);
        free(text);
        json_decref(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_3002),
        cmocka_unit_test(test_valid_3004),
        cmocka_unit_test(test_valid_6003),
        cmocka_unit_test(test_valid_4001),
        cmocka_unit_test(test_valid_4002),
        cmocka_unit_test(test_valid_1001),
        cmocka_unit_test(test_valid_1007),
        cmocka_unit_test(test_valid_open_places_and_leniency),
        cmocka_unit_test(test_rule_not_an_object),
        cmocka_unit_test(test_rule_class_uid_missing),
        cmocka_unit_test(test_rule_class_uid_unknown),
        cmocka_unit_test(test_rule_class_uid_type),
        cmocka_unit_test(test_rule_category_matches_class),
        cmocka_unit_test(test_rule_activity_in_class),
        cmocka_unit_test(test_rule_type_uid),
        cmocka_unit_test(test_rule_required_top_level),
        cmocka_unit_test(test_rule_required_nested),
        cmocka_unit_test(test_rule_required_in_array_elements),
        cmocka_unit_test(test_rule_undefined_attribute),
        cmocka_unit_test(test_rule_profile_security_control),
        cmocka_unit_test(test_rule_profile_ai_operation),
        cmocka_unit_test(test_rule_profile_host),
        cmocka_unit_test(test_rule_profile_requirement_applies_when_listed),
        cmocka_unit_test(test_rule_type_integer),
        cmocka_unit_test(test_rule_type_long_and_timestamp),
        cmocka_unit_test(test_rule_type_port_range),
        cmocka_unit_test(test_rule_type_string_and_max_len),
        cmocka_unit_test(test_rule_type_boolean),
        cmocka_unit_test(test_rule_type_float),
        cmocka_unit_test(test_rule_type_object),
        cmocka_unit_test(test_rule_array_where_is_array),
        cmocka_unit_test(test_rule_no_array_where_not_array),
        cmocka_unit_test(test_rule_enum_nested),
        cmocka_unit_test(test_rule_at_least_one),
        cmocka_unit_test(test_rule_just_one),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_problem_count_is_bounded),
        cmocka_unit_test(test_reasons_truncated_safely),
        cmocka_unit_test(test_shared_between_threads),
        cmocka_unit_test(test_benchmark),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
