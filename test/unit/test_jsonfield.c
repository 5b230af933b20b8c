/* test_jsonfield.c -- JSON members checked against a table, and the typed getters. */
#include "base/jsonfield.h"

/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const colours[] = {"Red", "Green", "Blue", NULL};

static const struct jsonfield table[] = {
    {.name = "name", .type = JSONFIELD_STRING, .required = true},
    {.name = "count", .type = JSONFIELD_INTEGER},
    {.name = "on", .type = JSONFIELD_BOOL},
    {.name = "ref", .type = JSONFIELD_OBJECT, .want = "an object ({name, key})"},
    {.name = "list", .type = JSONFIELD_ARRAY},
    {.name = "tags", .type = JSONFIELD_STRINGS},
    {.name = "colour", .type = JSONFIELD_STRING, .choices = colours},
    {.name = "extra", .type = JSONFIELD_ANY},
    {0},
};

/* Single quotes in the test's JSON stand for double quotes. */
static cJSON *parse(const char *text)
{
    char *t = strdup(text);
    assert_non_null(t);
    for (char *c = t; *c != '\0'; c++)
        if (*c == '\'')
            *c = '"';
    cJSON *j = cJSON_Parse(t);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s", t);
    free(t);
    return j;
}

/* Checks text against table under path with flags: 0, or the exact message want. */
static void check(const char *text, const char *path, unsigned flags, const char *want)
{
    cJSON *j = parse(text);
    struct err e = {0};
    int rc = jsonfield_check(j, path, table, flags, &e);
    cJSON_Delete(j);
    if (want == NULL) {
        if (rc != 0)
            fail_msg("%s refused: %s", text, e.msg);
        assert_int_equal(e.kind, ERR_NONE);
        return;
    }
    if (rc == 0)
        fail_msg("%s accepted, want \"%s\"", text, want);
    assert_int_equal(e.kind, ERR_INVALID);
    if (strcmp(e.msg, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", text, e.msg, want);
}

static void test_check_accepts(void **state)
{
    (void)state;
    check("{'name':'n'}", "spec", 0, NULL);
    check("{'name':'n','count':3,'on':false,'ref':{},'list':[1,'a'],'tags':['a'],"
          "'colour':'Green','extra':[{}]}",
          "spec", 0, NULL);
    /* null is absent, for optional members; the count may be 1.5 (jsonfield_int judges it) */
    check("{'name':'n','count':null,'ref':null,'colour':null}", "spec", 0, NULL);
    check("{'name':'n','count':1.5}", "spec", 0, NULL);
}

static void test_check_unknown_and_duplicate(void **state)
{
    (void)state;
    check("{'name':'n','title':1}", "spec.x", 0,
          "spec.x.title: unknown field (known: name, count, on, ref, list, tags, colour, extra)");
    check("{'Name':'n'}", "", 0,
          "Name: unknown field (known: name, count, on, ref, list, tags, colour, extra)");
    /* an unknown member is unknown whatever its value, null too */
    check("{'name':'n','title':null}", "spec", 0,
          "spec.title: unknown field (known: name, count, on, ref, list, tags, colour, extra)");
    check("{'name':'n','on':true,'on':false}", "spec", 0, "spec.on: duplicate field");
    check("{'name':'n','name':'m'}", "", 0, "name: duplicate field");
    /* the first problem in the object's order wins */
    check("{'a':1,'name':'n','name':'m'}", "s", 0,
          "s.a: unknown field (known: name, count, on, ref, list, tags, colour, extra)");
    check("{'name':'n','name':'m','a':1}", "s", 0, "s.name: duplicate field");
}

static void test_check_quotes_names_from_the_input(void **state)
{
    (void)state;
    /* control bytes, quotes and invalid UTF-8 escaped; cut at JSONFIELD_KEY_ECHO bytes */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", "n");
    char key[200];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memcpy(key, "\x01\"\xff\xc3\xa9", 5);
    cJSON_AddNumberToObject(j, key, 1);
    struct err e = {0};
    assert_int_equal(jsonfield_check(j, "spec", table, 0, &e), -1);
    cJSON_Delete(j);
    char want[512];
    char ks[JSONFIELD_KEY_ECHO - 5 + 1];
    memset(ks, 'k', sizeof(ks) - 1);
    ks[sizeof(ks) - 1] = '\0';
    snprintf(want, sizeof(want), "spec.\\x01\\\"\\xff\xc3\xa9%s...: unknown field (known: ", ks);
    if (strncmp(e.msg, want, strlen(want)) != 0)
        fail_msg("got \"%s\", want it to start \"%s\"", e.msg, want);
}

static void test_check_types(void **state)
{
    (void)state;
    check("{'name':5}", "spec", 0, "spec.name: expected a string, got a number");
    check("{'name':'n','count':'3'}", "spec", 0, "spec.count: expected an integer, got a string");
    check("{'name':'n','on':'yes'}", "spec", 0, "spec.on: expected a boolean, got a string");
    check("{'name':'n','ref':[]}", "spec", 0,
          "spec.ref: expected an object ({name, key}), got a list");
    check("{'name':'n','list':{}}", "spec", 0, "spec.list: expected a list, got an object");
    check("{'name':'n','tags':'a'}", "spec", 0,
          "spec.tags: expected a list of strings, got a string");
    check("{'name':'n','colour':true}", "spec", 0, "spec.colour: expected a string, got a boolean");
    /* rows are checked in the table's order */
    check("{'on':1,'name':5}", "spec", 0, "spec.name: expected a string, got a number");
    check("{'name':'n','list':1,'on':1}", "spec", 0, "spec.on: expected a boolean, got a number");
}

static void test_check_required_and_choices(void **state)
{
    (void)state;
    check("{}", "spec", 0, "spec.name: missing (expected a string)");
    check("{'name':null}", "spec", 0, "spec.name: missing (expected a string)");
    check("{'name':''}", "spec", 0, "spec.name: empty (expected a string)");
    check("{'name':'n','colour':'red'}", "spec", 0,
          "spec.colour: \"red\" is not one of Red, Green, Blue");
    check("{'name':'n','colour':''}", "spec", 0,
          "spec.colour: \"\" is not one of Red, Green, Blue");

    static const struct jsonfield rule[] = {
        {.name = "rule", .type = JSONFIELD_STRING, .required = true, .choices = colours},
        {0},
    };
    cJSON *j = parse("{}");
    struct err e = {0};
    assert_int_equal(jsonfield_check(j, "r", rule, 0, &e), -1);
    assert_string_equal(e.msg, "r.rule: missing (expected one of Red, Green, Blue)");
    cJSON_Delete(j);
}

static void test_check_null_refused(void **state)
{
    (void)state;
    check("{'name':'n','on':null}", "", JSONFIELD_NULL_REFUSED, "on: expected a boolean, got null");
    check("{'name':null}", "", JSONFIELD_NULL_REFUSED, "name: expected a string, got null");
    check("{'name':'n','extra':null}", "", JSONFIELD_NULL_REFUSED, NULL); /* ANY takes null */
}

static void test_check_not_an_object(void **state)
{
    (void)state;
    check("[1]", "spec.ref", 0, "spec.ref: expected an object, got a list");
    check("'x'", "", 0, "expected an object, got a string");
    struct err e = {0};
    assert_int_equal(jsonfield_check(NULL, "spec", table, 0, &e), -1);
    assert_string_equal(e.msg, "spec: expected an object, got something else");

    /* a table longer than JSONFIELD_MAX_FIELDS is the caller's bug, never the input's */
    struct jsonfield big[JSONFIELD_MAX_FIELDS + 2];
    for (size_t i = 0; i < JSONFIELD_MAX_FIELDS + 1; i++)
        big[i] = (struct jsonfield){.name = "f", .type = JSONFIELD_ANY};
    big[JSONFIELD_MAX_FIELDS + 1] = (struct jsonfield){0};
    cJSON *j = parse("{}");
    assert_int_equal(jsonfield_check(j, "spec", big, 0, &e), -1);
    assert_int_equal(e.kind, ERR_INTERNAL);
    cJSON_Delete(j);
}

static void test_getters(void **state)
{
    (void)state;
    cJSON *j = parse("{'s':'v','b':true,'i':42,'o':{'k':1},'a':[1],'n':null,'f':1.5,"
                     "'big':1e300,'neg':-1}");
    struct err e = {0};
    const char *s = "unset";
    assert_int_equal(jsonfield_string(j, "spec", "s", &s, &e), 0);
    assert_string_equal(s, "v");
    assert_int_equal(jsonfield_string(j, "spec", "n", &s, &e), 0);
    assert_null(s); /* null: absent */
    assert_int_equal(jsonfield_string(j, "spec", "missing", &s, &e), 0);
    assert_null(s);
    assert_int_equal(jsonfield_string(j, "spec", "i", &s, &e), -1);
    assert_string_equal(e.msg, "spec.i: expected a string, got a number");

    bool b = false;
    assert_int_equal(jsonfield_bool(j, "spec", "b", &b, &e), 0);
    assert_true(b);
    b = false;
    assert_int_equal(jsonfield_bool(j, "spec", "missing", &b, &e), 0);
    assert_false(b); /* the default stays */
    assert_int_equal(jsonfield_bool(j, "", "s", &b, &e), -1);
    assert_string_equal(e.msg, "s: expected a boolean, got a string");

    const cJSON *o = NULL;
    assert_int_equal(jsonfield_object(j, "spec", "o", &o, &e), 0);
    assert_non_null(jsonfield_get(o, "k"));
    assert_int_equal(jsonfield_object(j, "spec", "a", &o, &e), -1);
    assert_string_equal(e.msg, "spec.a: expected an object, got a list");
    assert_int_equal(jsonfield_array(j, "spec", "a", &o, &e), 0);
    assert_int_equal(cJSON_GetArraySize(o), 1);
    assert_int_equal(jsonfield_array(j, "spec", "n", &o, &e), 0);
    assert_null(o);
    assert_int_equal(jsonfield_array(j, "spec", "o", &o, &e), -1);
    assert_string_equal(e.msg, "spec.o: expected a list, got an object");

    /* jsonfield_get: absent, null and not-an-object are all NULL */
    assert_null(jsonfield_get(j, "n"));
    assert_null(jsonfield_get(j, "missing"));
    assert_null(jsonfield_get(jsonfield_get(j, "a"), "k"));
    assert_null(jsonfield_get(NULL, "k"));
    cJSON_Delete(j);
}

static void test_int_range(void **state)
{
    (void)state;
    cJSON *j = parse("{'i':42,'f':1.5,'big':1e300,'neg':-1,'s':'1'}");
    struct err e = {0};
    long long v = 7;
    bool present = false;
    assert_int_equal(jsonfield_int(j, "spec", "i", 0, 100, &v, &present, &e), 0);
    assert_int_equal(v, 42);
    assert_true(present);
    v = 7;
    assert_int_equal(jsonfield_int(j, "spec", "missing", 0, 100, &v, &present, &e), 0);
    assert_int_equal(v, 7);
    assert_false(present);
    assert_int_equal(jsonfield_int(j, "spec", "missing", 0, 100, &v, NULL, &e), 0);
    assert_int_equal(jsonfield_int(j, "spec", "i", 0, 42, &v, NULL, &e), 0); /* bounds included */
    assert_int_equal(jsonfield_int(j, "spec", "i", 43, 100, &v, NULL, &e), -1);
    assert_string_equal(e.msg, "spec.i: must be a whole number from 43 to 100");
    const char *bad[] = {"f", "big", "neg"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        v = 7;
        assert_int_equal(jsonfield_int(j, "spec", bad[i], 0, 1000, &v, NULL, &e), -1);
        assert_int_equal(v, 7);
        char want[80];
        snprintf(want, sizeof(want), "spec.%s: must be a whole number from 0 to 1000", bad[i]);
        assert_string_equal(e.msg, want);
    }
    assert_int_equal(jsonfield_int(j, "spec", "s", 0, 1000, &v, NULL, &e), -1);
    assert_string_equal(e.msg, "spec.s: expected an integer, got a string");
    cJSON_Delete(j);
}

static void test_strings(void **state)
{
    (void)state;
    cJSON *j = parse("{'ok':['a','bb'],'empty':[],'mixed':['a',5],'long':['abcd'],'s':'a'}");
    struct err e = {0};
    const cJSON *l = NULL;
    assert_int_equal(jsonfield_strings(j, "spec", "ok", 2, 2, &l, &e), 0);
    assert_int_equal(cJSON_GetArraySize(l), 2);
    assert_int_equal(jsonfield_strings(j, "spec", "empty", 2, 2, &l, &e), 0);
    assert_int_equal(cJSON_GetArraySize(l), 0);
    assert_int_equal(jsonfield_strings(j, "spec", "missing", 2, 2, &l, &e), 0);
    assert_null(l);
    assert_int_equal(jsonfield_strings(j, "spec", "ok", 1, 2, &l, &e), -1);
    assert_string_equal(e.msg, "spec.ok: 2 entries, at most 1 allowed");
    assert_int_equal(jsonfield_strings(j, "spec", "mixed", 2, 2, &l, &e), -1);
    assert_string_equal(e.msg, "spec.mixed[1]: expected a string, got a number");
    assert_int_equal(jsonfield_strings(j, "spec", "long", 2, 3, &l, &e), -1);
    assert_string_equal(e.msg, "spec.long[0]: longer than 3 bytes");
    assert_int_equal(jsonfield_strings(j, "spec", "long", 2, 4, &l, &e), 0);
    assert_int_equal(jsonfield_strings(j, "spec", "s", 2, 4, &l, &e), -1);
    assert_string_equal(e.msg, "spec.s: expected a list of strings, got a string");
    cJSON_Delete(j);
}

static void test_choice(void **state)
{
    (void)state;
    cJSON *j = parse("{'c':'Blue','bad':'blue','n':3}");
    struct err e = {0};
    int idx = -1;
    assert_int_equal(jsonfield_choice(j, "spec", "c", colours, &idx, &e), 0);
    assert_int_equal(idx, 2);
    idx = -1;
    assert_int_equal(jsonfield_choice(j, "spec", "missing", colours, &idx, &e), 0);
    assert_int_equal(idx, -1);
    assert_int_equal(jsonfield_choice(j, "spec", "bad", colours, &idx, &e), -1);
    assert_string_equal(e.msg, "spec.bad: \"blue\" is not one of Red, Green, Blue");
    assert_int_equal(jsonfield_choice(j, "spec", "n", colours, &idx, &e), -1);
    assert_string_equal(e.msg, "spec.n: expected a string, got a number");
    cJSON_Delete(j);
}

static void test_paths_and_messages(void **state)
{
    (void)state;
    struct err e = {0};
    char p[16];
    assert_int_equal(jsonfield_path(p, sizeof(p), "spec", "isCA", &e), 0);
    assert_string_equal(p, "spec.isCA");
    assert_int_equal(jsonfield_path(p, sizeof(p), "", "isCA", &e), 0);
    assert_string_equal(p, "isCA");
    assert_int_equal(jsonfield_path_index(p, sizeof(p), "spec.a", 12, &e), 0);
    assert_string_equal(p, "spec.a[12]");
    /* a path that does not fit is an error, never a cut path */
    assert_int_equal(jsonfield_path(p, sizeof(p), "spec.selector", "requesters", &e), -1);
    assert_int_equal(e.kind, ERR_INVALID);
    assert_int_equal(jsonfield_path(p, 10, "spec", "isCA", &e), 0); /* 9 bytes and the NUL */
    assert_int_equal(jsonfield_path(p, 9, "spec", "isCA", &e), -1);
    assert_int_equal(jsonfield_path_index(p, sizeof(p), "spec.a.b.c.d", 1000, &e), -1);
    assert_string_equal(e.msg, "spec.a.b.c.d...: path longer than 15 bytes");

    assert_int_equal(jsonfield_missing("spec", "an object", &e), -1);
    assert_string_equal(e.msg, "spec: missing (expected an object)");
    cJSON *n = cJSON_CreateNull();
    assert_int_equal(jsonfield_expected("IssuancePolicy", "an object", n, &e), -1);
    assert_string_equal(e.msg, "IssuancePolicy: expected an object, got null");
    cJSON_Delete(n);
    assert_int_equal(jsonfield_expected("x", "a string", NULL, &e), -1);
    assert_string_equal(e.msg, "x: expected a string, got something else");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_accepts),
        cmocka_unit_test(test_check_unknown_and_duplicate),
        cmocka_unit_test(test_check_quotes_names_from_the_input),
        cmocka_unit_test(test_check_types),
        cmocka_unit_test(test_check_required_and_choices),
        cmocka_unit_test(test_check_null_refused),
        cmocka_unit_test(test_check_not_an_object),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_int_range),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_paths_and_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
