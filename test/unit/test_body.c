/* test_body.c -- unit tests for front/body.c: a request body is read by the parser its
 * Content-Type names (JSON with cJSON, YAML with libyaml) and by no other, under one set of
 * limits. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/manifest.h"
#include "base/mem.h"
#include "front/body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *parse_ok_n(enum body_type type, const char *text, size_t len)
{
    struct err e = {0};
    cJSON *o = body_parse(type, text, len, &e);
    if (o == NULL)
        fail_msg("%s: unexpected error: %s", text, e.msg);
    assert_true(cJSON_IsObject(o));
    return o;
}

static cJSON *parse_ok(enum body_type type, const char *text)
{
    return parse_ok_n(type, text, strlen(text));
}

static void parse_fails_n(enum body_type type, const char *text, size_t len, enum err_kind kind,
                          const char *want)
{
    struct err e = {0};
    cJSON *o = body_parse(type, text, len, &e);
    if (o != NULL) {
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        fail_msg("expected an error containing \"%s\", got %s", want, s);
    }
    assert_int_equal(e.kind, kind);
    if (strstr(e.msg, want) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", e.msg, want);
}

static void parse_fails(enum body_type type, const char *text, enum err_kind kind, const char *want)
{
    parse_fails_n(type, text, strlen(text), kind, want);
}

static const char *str_at(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* len bytes of text parse, and hold the string want at key. */
static void parses_to(enum body_type type, const char *text, size_t len, const char *key,
                      const char *want)
{
    cJSON *o = parse_ok_n(type, text, len);
    assert_string_equal(str_at(o, key), want);
    cJSON_Delete(o);
}

static void test_content_types(void **state)
{
    (void)state;
    const struct {
        const char *ct;
        enum body_type want;
    } cases[] = {
        {"application/json", BODY_JSON},
        {"Application/JSON; charset=utf-8", BODY_JSON},
        {"application/json ; charset=utf-8", BODY_JSON},
        {"application/yaml", BODY_YAML},
        {"application/x-yaml; charset=utf-8", BODY_YAML},
        {"text/yaml", BODY_YAML},
        {"application/jsonx", BODY_OTHER},
        {"application/merge-patch+json", BODY_OTHER},
        {"text/plain", BODY_OTHER},
        {"", BODY_OTHER},
        {NULL, BODY_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        if (body_type(cases[i].ct) != cases[i].want)
            fail_msg("\"%s\": %d, want %d", cases[i].ct ? cases[i].ct : "(null)",
                     body_type(cases[i].ct), cases[i].want);
}

static void test_json_objects(void **state)
{
    (void)state;
    cJSON *o = parse_ok(BODY_JSON, " \r\n\t{\"a\": \"x\", \"b\": [1, true, null, {\"c\": {}}], "
                                   "\"d\": -1.5e3}\n\n");
    assert_string_equal(str_at(o, "a"), "x");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "b")), 4);
    assert_true(cJSON_GetObjectItem(o, "d")->valuedouble == -1500.0);
    cJSON_Delete(o);

    /* The length is the body's: nothing past it is read, no NUL is needed. */
    parses_to(BODY_JSON, "{\"a\":\"x\"}{\"b\":1}", 9, "a", "x");

    /* cJSON reads what libyaml cannot: UTF-16 surrogate escapes, as JSON allows them. */
    const char *escapes = "{\"e\":\"\\ud83d\\ude00 \\u00e9\\/\"}";
    parses_to(BODY_JSON, escapes, strlen(escapes), "e", "\xf0\x9f\x98\x80 \xc3\xa9/");
    parse_fails(BODY_YAML, "{\"e\":\"\\ud83d\\ude00\"}", ERR_INVALID, "surrogate");

    /* An escaped backslash before "u0000" is not a NUL. */
    const char *backslash = "{\"p\":\"C:\\\\u0000\"}";
    parses_to(BODY_JSON, backslash, strlen(backslash), "p", "C:\\u0000");

    /* A UTF-8 byte order mark, as libyaml takes it too. */
    parses_to(BODY_JSON, "\xef\xbb\xbf{\"a\":\"x\"}", 12, "a", "x");
}

/* YAML is not JSON: under application/json it is a syntax error at its place. */
static void test_json_refuses_yaml(void **state)
{
    (void)state;
    const char *yaml = "apiVersion: cert-manager.io/v1\nkind: CertificateRequest\n";
    parse_fails(BODY_JSON, yaml, ERR_INVALID, "line 1 column 1: syntax error");
    cJSON *o = parse_ok(BODY_YAML, yaml);
    assert_string_equal(str_at(o, "kind"), "CertificateRequest");
    cJSON_Delete(o);
    /* a flow mapping with plain scalars is YAML, not JSON */
    parse_fails(BODY_JSON, "{a: 1}", ERR_INVALID, "syntax error");
    o = parse_ok(BODY_YAML, "{a: 1}");
    cJSON_Delete(o);
    /* the place is counted in lines and characters */
    parse_fails(BODY_JSON, "{\n  \"n\": \"\xc3\xa9\xc3\xa9\",\n  \"k\": tru\n}", ERR_INVALID,
                "line 3 column 8: syntax error");
    parse_fails(BODY_JSON, "{\"n\": \"\xc3\xa9\xc3\xa9\", \"k\": tru}", ERR_INVALID,
                "line 1 column 18: syntax error");
    parse_fails(BODY_JSON, "", ERR_INVALID, "line 1 column 1: empty");
    parse_fails(BODY_JSON, "  \n ", ERR_INVALID, "syntax error");
    parse_fails(BODY_JSON, "{\"a\":1} {\"b\":2}", ERR_INVALID,
                "line 1 column 9: more after the end of the JSON value");
    parse_fails(BODY_JSON, "{\"a\":1}\n---\n", ERR_INVALID, "line 2 column 1: more after");
}

/* The rules the YAML reader keeps hold for JSON too. */
static void test_json_rules(void **state)
{
    (void)state;
    parse_fails(BODY_JSON, "{\"a\":1,\"b\":2,\"a\":3}", ERR_INVALID, "duplicate key \"a\"");
    parse_fails(BODY_JSON, "{\"m\":{\"x\":[{\"k\":1,\"k\":1}]}}", ERR_INVALID,
                "duplicate key \"k\"");
    parse_fails(BODY_YAML, "{\"a\":1,\"a\":2}", ERR_INVALID, "duplicate key \"a\"");
    /* equal keys in different objects are fine */
    cJSON *o = parse_ok(BODY_JSON, "{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
    cJSON_Delete(o);

    parse_fails(BODY_JSON, "{\"name\":\"good\\u0000evil\"}", ERR_INVALID,
                "line 1 column 14: a string contains a NUL character");
    parse_fails(BODY_YAML, "{\"name\":\"good\\u0000evil\"}", ERR_INVALID, "NUL");
    parse_fails_n(BODY_JSON, "{\"a\":1}\0", 8, ERR_INVALID, "a control character (0x00)");
    parse_fails(BODY_JSON, "{\"a\":\"tab\there\"}", ERR_INVALID,
                "a control character (0x09) in a string");
    parse_fails(BODY_JSON, "{\x01\"a\":1}", ERR_INVALID, "line 1 column 2: a control character");
    parse_fails(BODY_JSON, "{\"a\":\"\xff\"}", ERR_INVALID, "invalid UTF-8");
    parse_fails(BODY_JSON, "{\"a\":\"\xed\xa0\x80\"}", ERR_INVALID, "invalid UTF-8");
    parse_fails(BODY_JSON, "{\"a\":\"\\ud800x\"}", ERR_INVALID, "syntax error");

    const char *not_objects[] = {"[1,2]", "\"x\"", "42", "null", "true", " [] "};
    for (size_t i = 0; i < sizeof(not_objects) / sizeof(*not_objects); i++)
        parse_fails(BODY_JSON, not_objects[i], ERR_INVALID, "the top level is not an object");
}

/* Nesting and size are bounded as for YAML, before cJSON allocates. */
static void test_json_limits(void **state)
{
    (void)state;
    char deep[4 * MANIFEST_MAX_DEPTH + 16];
    size_t n = 0;
    for (int i = 0; i < MANIFEST_MAX_DEPTH; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "%s", i == 0 ? "{\"a\":" : "[");
    for (int i = 1; i < MANIFEST_MAX_DEPTH; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    cJSON *o = parse_ok(BODY_JSON, deep); /* 64 levels */
    cJSON_Delete(o);
    n = 0;
    for (int i = 0; i <= MANIFEST_MAX_DEPTH; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "%s", i == 0 ? "{\"a\":" : "[");
    deep[n] = '\0';
    parse_fails(BODY_JSON, deep, ERR_TOO_BIG, "more than 64 levels of nesting");
    parse_fails(BODY_YAML, deep, ERR_TOO_BIG, "more than 64 levels of nesting");
    /* 20,000 levels: refused at the 65th, the rest never read */
    size_t big = 20000;
    char *deeper = xmalloc(big + 8);
    memcpy(deeper, "{\"a\":", 5);
    memset(deeper + 5, '[', big);
    parse_fails_n(BODY_JSON, deeper, big + 5, ERR_TOO_BIG, "line 1 column 69: more than 64");
    free(deeper);

    /* {"a":[0,0,...]}: 1 + 1 + 1 nodes before the list's values */
    size_t values = MANIFEST_MAX_NODES - 3;
    char *many = xmalloc(2 * values + 16);
    n = (size_t)snprintf(many, 16, "{\"a\":[");
    for (size_t i = 0; i < values; i++) {
        many[n++] = '0';
        many[n++] = ',';
    }
    many[n - 1] = ']';
    many[n++] = '}';
    o = parse_ok_n(BODY_JSON, many, n); /* exactly MANIFEST_MAX_NODES */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "a")), (int)values);
    cJSON_Delete(o);
    memcpy(many + n - 2, ",0]}", 4);
    parse_fails_n(BODY_JSON, many, n + 2, ERR_TOO_BIG, "more than 200000 nodes");
    free(many);
}

/* YAML goes to libyaml only: its rules and messages (base/manifest.h), JSON included. */
static void test_yaml(void **state)
{
    (void)state;
    const char *yaml = "a: x\nb: [1, true]\n", *json = "{\"a\": \"x\", \"b\": [1, true, null]}";
    parses_to(BODY_YAML, yaml, strlen(yaml), "a", "x");
    parses_to(BODY_YAML, json, strlen(json), "a", "x");
    parse_fails(BODY_YAML, "a: 1\n---\nb: 2\n", ERR_INVALID, "expected one object, found 2");
    parse_fails(BODY_YAML, "a: &x [1]\nb: *x\n", ERR_INVALID, "alias");
    parse_fails(BODY_YAML, "- 1\n", ERR_INVALID, "not an object");
    parse_fails(BODY_YAML, "a: [1, 2\n", ERR_INVALID, "line ");
    parse_fails(BODY_OTHER, "{}", ERR_INVALID, "not JSON nor YAML");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types),     cmocka_unit_test(test_json_objects),
        cmocka_unit_test(test_json_refuses_yaml), cmocka_unit_test(test_json_rules),
        cmocka_unit_test(test_json_limits),       cmocka_unit_test(test_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
