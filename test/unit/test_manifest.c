/* test_manifest.c -- unit tests for manifest.c: YAML/JSON manifests to cJSON. */
/* cmocka.h needs the standard headers first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
/* clang-format on */

#include "base/buf.h"
#include "base/manifest.h"
#include "base/mem.h"

static cJSON *parse_ok(const char *text)
{
    struct err err = {0};
    cJSON *docs = manifest_parse(text, strlen(text), &err);
    if (docs == NULL)
        fail_msg("unexpected error: %s", err.msg);
    assert_true(cJSON_IsArray(docs));
    return docs;
}

/* The first document of text, which must parse. Returns the array to delete. */
static cJSON *first_doc(const char *text, cJSON **docs)
{
    *docs = parse_ok(text);
    cJSON *doc = cJSON_GetArrayItem(*docs, 0);
    assert_non_null(doc);
    return doc;
}

static void parse_fails_n(const char *text, size_t len, enum err_kind kind, const char *want)
{
    struct err err = {0};
    cJSON *docs = manifest_parse(text, len, &err);
    if (docs != NULL) {
        char *s = cJSON_PrintUnformatted(docs);
        cJSON_Delete(docs);
        fail_msg("expected an error containing \"%s\", got %s", want, s);
    }
    assert_int_equal(err.kind, kind);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static void parse_fails(const char *text, enum err_kind kind, const char *want)
{
    parse_fails_n(text, strlen(text), kind, want);
}

/* The value of key "v" in the only document of text. */
static cJSON *value_of(const char *text, cJSON **docs)
{
    cJSON *doc = first_doc(text, docs);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "v");
    assert_non_null(v);
    return v;
}

static void assert_bool_value(const char *text, int want)
{
    cJSON *docs;
    cJSON *v = value_of(text, &docs);
    if (!cJSON_IsBool(v))
        fail_msg("%s: not a boolean", text);
    assert_int_equal(cJSON_IsTrue(v), want);
    cJSON_Delete(docs);
}

static void assert_null_value(const char *text)
{
    cJSON *docs;
    cJSON *v = value_of(text, &docs);
    if (!cJSON_IsNull(v))
        fail_msg("%s: not null", text);
    cJSON_Delete(docs);
}

static void assert_number_value(const char *text, double want)
{
    cJSON *docs;
    cJSON *v = value_of(text, &docs);
    if (!cJSON_IsNumber(v))
        fail_msg("%s: not a number", text);
    assert_true(v->valuedouble == want);
    cJSON_Delete(docs);
}

static void assert_string_value(const char *text, const char *want)
{
    cJSON *docs;
    cJSON *v = value_of(text, &docs);
    if (!cJSON_IsString(v))
        fail_msg("%s: not a string", text);
    assert_string_equal(v->valuestring, want);
    cJSON_Delete(docs);
}

static const char *str_at(const cJSON *obj, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static const char typical[] =
    "# Ember resources for the mesh\n"
    "apiVersion: ember.issuer.dev/v1alpha1\n"
    "kind: Issuer\n"
    "metadata:\n"
    "  name: mesh-ca\n"
    "  namespace: istio-system\n"
    "spec:\n"
    "  defaultPolicy: mesh\n"
    "  ca:\n"
    "    secretName: mesh-sub-ca\n"
    "---\n"
    "apiVersion: ember.issuer.dev/v1alpha1\n"
    "kind: ClusterIssuer\n"
    "metadata: {name: vault}\n"
    "spec:\n"
    "  vault:\n"
    "    server: https://vault.vault.svc:8200\n"
    "    path: pki_int/sign/mesh\n"
    "    namespace: \"\"\n"
    "    auth:\n"
    "      appRole:\n"
    "        path: approle\n"
    "        roleId: 1d5c\n"
    "        secretRef: {name: vault-approle, key: secretId}\n"
    "---\n"
    "apiVersion: ember.issuer.dev/v1alpha1\n"
    "kind: IssuancePolicy\n"
    "metadata: {name: mesh}\n"
    "spec:\n"
    "  selector:\n"
    "    namespaces: [istio-system]\n"
    "    issuers: [Issuer/mesh-ca, ClusterIssuer/*]\n"
    "  validity: {max: 24h, default: 1h}\n"
    "  keyAlgorithms: [EC_P256, EC_P384, RSA_2048]\n"
    "  subject:\n"
    "    commonName:   {rule: Optional, allowed: ['[a-z0-9.-]+\\.svc'], max: 1}\n"
    "    organization: {rule: Forbidden}\n"
    "  sans:\n"
    "    dnsNames:       {rule: Optional, allowed: ['[a-z0-9.-]+\\.svc(\\.cluster\\.local)?'], "
    "max: 10}\n"
    "    uris:           {rule: Required, allowed: ['spiffe://cluster\\.local/ns/[^/]+/sa/[^/]+'], "
    "min: 1, max: 1}\n"
    "  usages: [digital signature, key encipherment, server auth, client auth]\n"
    "  isCA: false\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Secret\n"
    "metadata:\n"
    "  name: mesh-sub-ca\n"
    "  namespace: istio-system\n"
    "type: kubernetes.io/tls\n"
    "data:\n"
    "  tls.crt: LS0tLS1CRUdJTg==\n"
    "  tls.key: LS0tLS1CRUdJTiBQUklWQVRF\n";

static void test_typical_multi_document_file(void **state)
{
    (void)state;
    cJSON *docs = parse_ok(typical);
    assert_int_equal(cJSON_GetArraySize(docs), 4);

    cJSON *issuer = cJSON_GetArrayItem(docs, 0);
    assert_string_equal(str_at(issuer, "kind", NULL, NULL), "Issuer");
    assert_string_equal(str_at(issuer, "metadata", "namespace", NULL), "istio-system");
    assert_string_equal(str_at(issuer, "spec", "ca", "secretName"), "mesh-sub-ca");

    cJSON *ci = cJSON_GetArrayItem(docs, 1);
    assert_string_equal(str_at(ci, "kind", NULL, NULL), "ClusterIssuer");
    const cJSON *vault =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ci, "spec"), "vault");
    assert_string_equal(str_at(vault, "server", NULL, NULL), "https://vault.vault.svc:8200");
    assert_string_equal(str_at(vault, "namespace", NULL, NULL), "");
    assert_string_equal(str_at(vault, "auth", "appRole", "roleId"), "1d5c");

    cJSON *pol = cJSON_GetArrayItem(docs, 2);
    assert_string_equal(str_at(pol, "kind", NULL, NULL), "IssuancePolicy");
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(pol, "spec");
    assert_string_equal(str_at(spec, "validity", "max", NULL), "24h");
    cJSON *cn = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "subject"),
                                                 "commonName");
    cJSON *allowed = cJSON_GetObjectItemCaseSensitive(cn, "allowed");
    assert_int_equal(cJSON_GetArraySize(allowed), 1);
    assert_string_equal(cJSON_GetArrayItem(allowed, 0)->valuestring, "[a-z0-9.-]+\\.svc");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cn, "max")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cn, "max")->valueint, 1);
    cJSON *dns = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "sans"),
                                                  "dnsNames");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(dns, "allowed"), 0)->valuestring,
        "[a-z0-9.-]+\\.svc(\\.cluster\\.local)?");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(dns, "max")->valueint, 10);
    cJSON *usages = cJSON_GetObjectItemCaseSensitive(spec, "usages");
    assert_int_equal(cJSON_GetArraySize(usages), 4);
    assert_string_equal(cJSON_GetArrayItem(usages, 1)->valuestring, "key encipherment");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(spec, "isCA")));
    cJSON *issuers = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(spec, "selector"), "issuers");
    assert_string_equal(cJSON_GetArrayItem(issuers, 1)->valuestring, "ClusterIssuer/*");

    cJSON *secret = cJSON_GetArrayItem(docs, 3);
    assert_string_equal(str_at(secret, "kind", NULL, NULL), "Secret");
    assert_string_equal(str_at(secret, "data", "tls.crt", NULL), "LS0tLS1CRUdJTg==");
    assert_string_equal(str_at(secret, "data", "tls.key", NULL), "LS0tLS1CRUdJTiBQUklWQVRF");
    cJSON_Delete(docs);
}

static void test_plain_booleans(void **state)
{
    (void)state;
    const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"};
    const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"};
    char text[64];
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(text, sizeof(text), "v: %s\n", yes[i]);
        assert_bool_value(text, 1);
        snprintf(text, sizeof(text), "v: %s\n", no[i]);
        assert_bool_value(text, 0);
    }
    /* near misses stay strings */
    assert_string_value("v: tRUE\n", "tRUE");
    assert_string_value("v: yess\n", "yess");
}

static void test_plain_nulls(void **state)
{
    (void)state;
    assert_null_value("v: null\n");
    assert_null_value("v: Null\n");
    assert_null_value("v: NULL\n");
    assert_null_value("v: ~\n");
    assert_null_value("v:\n");
    assert_null_value("{v: }");
    assert_string_value("v: nULL\n", "nULL");
}

static void test_plain_integers(void **state)
{
    (void)state;
    assert_number_value("v: 42\n", 42);
    assert_number_value("v: -42\n", -42);
    assert_number_value("v: +42\n", 42);
    assert_number_value("v: 0\n", 0);
    assert_number_value("v: 0x1F\n", 31);
    assert_number_value("v: -0x10\n", -16);
    assert_number_value("v: 0o17\n", 15);
    assert_number_value("v: 0b101\n", 5);
    assert_number_value("v: 0644\n", 420); /* YAML 1.1 octal, as kubectl reads defaultMode */
    assert_number_value("v: 1_000_000\n", 1000000);
    assert_number_value("v: 9007199254740992\n", 9007199254740992.0);
    assert_number_value("v: -9007199254740992\n", -9007199254740992.0);
}

static void test_integers_out_of_range_refused(void **state)
{
    (void)state;
    parse_fails("v: 9007199254740993\n", ERR_INVALID, "line 1 column 4: integer out of range");
    parse_fails("v: -9007199254740993\n", ERR_INVALID, "integer out of range");
    parse_fails("v: 123456789012345678901234567890\n", ERR_INVALID, "integer out of range");
    parse_fails("v: 0xFFFFFFFFFFFFFFFFFFFF\n", ERR_INVALID, "integer out of range");
    /* quoted, the same digits are a string */
    assert_string_value("v: \"9007199254740993\"\n", "9007199254740993");
}

static void test_plain_floats(void **state)
{
    (void)state;
    assert_number_value("v: 1.5\n", 1.5);
    assert_number_value("v: -0.25\n", -0.25);
    assert_number_value("v: 1e3\n", 1000);
    assert_number_value("v: 2.5E-1\n", 0.25);
    assert_number_value("v: .5\n", 0.5);
    assert_number_value("v: -.5\n", -0.5);
    assert_number_value("v: 1.\n", 1);
    assert_number_value("v: 09\n", 9);          /* not octal: go-yaml reads it as a float */
    assert_string_value("v: 1e400\n", "1e400"); /* overflows: go-yaml keeps the string */
    assert_string_value("v: 1.2.3\n", "1.2.3");
}

static void test_non_finite_floats_refused(void **state)
{
    (void)state;
    parse_fails("v: .inf\n", ERR_INVALID, "line 1 column 4: .inf is not representable in JSON");
    parse_fails("v: -.Inf\n", ERR_INVALID, "not representable in JSON");
    parse_fails("v: +.INF\n", ERR_INVALID, "not representable in JSON");
    parse_fails("v: .nan\n", ERR_INVALID, "not representable in JSON");
    parse_fails("v: !!float .NaN\n", ERR_INVALID, "not representable in JSON");
    assert_string_value("v: '.inf'\n", ".inf");
}

static void test_other_plain_scalars_are_strings(void **state)
{
    (void)state;
    assert_string_value("v: hello world\n", "hello world");
    assert_string_value("v: 2001-12-14\n", "2001-12-14"); /* timestamps stay strings */
    assert_string_value("v: 10.0.0.1\n", "10.0.0.1");
    assert_string_value("v: 0x\n", "0x");
    assert_string_value("v: 1h30m\n", "1h30m");
    assert_string_value("v: -x\n", "-x");
    assert_string_value("v: +\n", "+");
    assert_string_value("v: _1\n", "_1");
    assert_string_value("v: spiffe://cluster.local/ns/a\n", "spiffe://cluster.local/ns/a");
}

static void test_quoted_scalars_are_strings(void **state)
{
    (void)state;
    assert_string_value("v: \"true\"\n", "true");
    assert_string_value("v: 'yes'\n", "yes");
    assert_string_value("v: \"123\"\n", "123");
    assert_string_value("v: '1e3'\n", "1e3");
    assert_string_value("v: \"\"\n", "");
    assert_string_value("v: '~'\n", "~");
    assert_string_value("v: 'null'\n", "null");
    assert_string_value("v: '[a-z0-9.-]+\\.svc'\n", "[a-z0-9.-]+\\.svc");
    assert_string_value("v: 'it''s'\n", "it's");
    assert_string_value("v: \"a\\tb\\\\c\\\"d\\u00e9\"\n", "a\tb\\c\"d\xc3\xa9");
}

static void test_block_scalars(void **state)
{
    (void)state;
    assert_string_value("v: |\n  line one\n  line two\nw: 1\n", "line one\nline two\n");
    assert_string_value("v: |-\n  true\n", "true");
    assert_string_value("v: >\n  folded\n  text\n\n  para\n", "folded text\npara\n");
    assert_string_value("v: |\n  123\n", "123\n");
    assert_string_value("v: |+\n  keep\n\n", "keep\n\n");
    assert_string_value("v: |2\n    indented\n", "  indented\n");
}

static void test_explicit_tags(void **state)
{
    (void)state;
    assert_string_value("v: !!str 12\n", "12");
    assert_string_value("v: !!str true\n", "true");
    assert_string_value("v: !!str\n", "");
    assert_number_value("v: !!int \"12\"\n", 12);
    assert_number_value("v: !!int 0x10\n", 16);
    assert_number_value("v: !!float 3\n", 3);
    assert_number_value("v: !!float '2.5'\n", 2.5);
    assert_bool_value("v: !!bool \"yes\"\n", 1);
    assert_null_value("v: !!null ''\n");
    assert_string_value("v: !!binary aGVsbG8=\n", "aGVsbG8=");
    assert_string_value("v: ! 12\n", "12");
    assert_string_value("v: !<tag:yaml.org,2002:str> 12\n", "12");

    cJSON *docs;
    cJSON *doc = first_doc("v: !!map {a: 1}\nw: !!seq [1, 2]\n", &docs);
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "v")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "w")), 2);
    cJSON_Delete(docs);

    parse_fails("v: !!int abc\n", ERR_INVALID, "line 1 column 4: cannot decode \"abc\" as !!int");
    parse_fails("v: !!int 1.5\n", ERR_INVALID, "as !!int");
    parse_fails("v: !!bool 1\n", ERR_INVALID, "as !!bool");
    parse_fails("v: !!null x\n", ERR_INVALID, "as !!null");
    parse_fails("v: !!timestamp 2001-12-14\n", ERR_INVALID, "unsupported tag \"!!timestamp\"");
    parse_fails("v: !custom x\n", ERR_INVALID, "unsupported tag \"!custom\"");
    parse_fails("v: !!str [1]\n", ERR_INVALID, "unsupported tag \"!!str\" on a sequence");
    parse_fails("v: !!seq {a: 1}\n", ERR_INVALID, "unsupported tag \"!!seq\" on a mapping");
    parse_fails("--- !!map\n- a\n", ERR_INVALID, "unsupported tag");
}

static void test_keys_are_converted_to_text(void **state)
{
    (void)state;
    cJSON *docs;
    cJSON *doc =
        first_doc("yes: a\nn: b\n0x10: c\n80: d\n1.5: e\n'on': f\n\"12\": g\n~x: h\n", &docs);
    assert_string_equal(str_at(doc, "true", NULL, NULL), "a");
    assert_string_equal(str_at(doc, "false", NULL, NULL), "b");
    assert_string_equal(str_at(doc, "16", NULL, NULL), "c");
    assert_string_equal(str_at(doc, "80", NULL, NULL), "d");
    assert_string_equal(str_at(doc, "1.5", NULL, NULL), "e");
    assert_string_equal(str_at(doc, "on", NULL, NULL), "f");
    assert_string_equal(str_at(doc, "12", NULL, NULL), "g");
    assert_string_equal(str_at(doc, "~x", NULL, NULL), "h");
    assert_int_equal(cJSON_GetArraySize(doc), 8);
    cJSON_Delete(docs);

    parse_fails("a: 1\n~: 2\n", ERR_INVALID, "line 2 column 1: a mapping key is null");
    parse_fails("a: 1\n? [x]\n: 2\n", ERR_INVALID,
                "line 2 column 3: a mapping key must be a scalar, found a sequence");
    parse_fails("{a: 1, {b: 1}: 2}", ERR_INVALID,
                "a mapping key must be a scalar, found a mapping");
}

static void test_duplicate_keys_refused(void **state)
{
    (void)state;
    parse_fails("a: 1\nb: 2\na: 3\n", ERR_INVALID, "line 3 column 1: duplicate key \"a\"");
    parse_fails("spec:\n  x: 1\n  y: 2\n  x: 3\n", ERR_INVALID,
                "line 4 column 3: duplicate key \"x\"");
    parse_fails("{\"a\": 1, \"a\": 2}", ERR_INVALID, "duplicate key \"a\"");
    /* the same text after conversion is the same key */
    parse_fails("yes: 1\ntrue: 2\n", ERR_INVALID, "duplicate key \"true\"");
    /* first repeated key reported */
    parse_fails("b: 1\na: 1\nb: 2\na: 2\n", ERR_INVALID, "line 3 column 1: duplicate key \"b\"");

    /* the same key in sibling and nested mappings is fine */
    cJSON *docs = parse_ok("a: {x: 1}\nb: {x: 2, a: {x: 3}}\n---\na: 1\n");
    assert_int_equal(cJSON_GetArraySize(docs), 2);
    cJSON_Delete(docs);
}

static void test_anchors_and_aliases_refused(void **state)
{
    (void)state;
    parse_fails("a: &x 1\nb: *x\n", ERR_INVALID,
                "line 1 column 4: YAML anchors and aliases are not supported");
    parse_fails("a: &x {b: 1}\n", ERR_INVALID, "YAML anchors and aliases are not supported");
    parse_fails("a: &x [1]\n", ERR_INVALID, "YAML anchors and aliases are not supported");
    parse_fails("base: {b: 1}\nc:\n  <<: {b: 2}\n", ERR_INVALID,
                "line 3 column 3: YAML anchors and aliases are not supported");
    /* billion laughs never gets expanded */
    parse_fails("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", ERR_INVALID,
                "anchors and aliases");
    /* a quoted "<<" is an ordinary key */
    assert_string_value("'<<': 1\nv: x\n", "x");
}

static void test_comments_ignored(void **state)
{
    (void)state;
    cJSON *docs;
    cJSON *doc =
        first_doc("# top\n---\n# head\nv: x # trailing\n# between\nw: 'a # not a comment'\n"
                  "u: a#b\n# end\n",
                  &docs);
    assert_int_equal(cJSON_GetArraySize(docs), 1);
    assert_string_equal(str_at(doc, "v", NULL, NULL), "x");
    assert_string_equal(str_at(doc, "w", NULL, NULL), "a # not a comment");
    assert_string_equal(str_at(doc, "u", NULL, NULL), "a#b");
    cJSON_Delete(docs);

    docs = parse_ok("# only a comment\n");
    assert_int_equal(cJSON_GetArraySize(docs), 0);
    cJSON_Delete(docs);
}

static void test_crlf_line_ends(void **state)
{
    (void)state;
    cJSON *docs;
    cJSON *doc = first_doc(
        "kind: Secret\r\ndata:\r\n  k: v\r\nblock: |\r\n  one\r\n  two\r\n---\r\nb: 2\r\n", &docs);
    assert_int_equal(cJSON_GetArraySize(docs), 2);
    assert_string_equal(str_at(doc, "kind", NULL, NULL), "Secret");
    assert_string_equal(str_at(doc, "data", "k", NULL), "v");
    assert_string_equal(str_at(doc, "block", NULL, NULL), "one\ntwo\n");
    cJSON_Delete(docs);
    parse_fails("a: 1\r\nb: \"x\r\n", ERR_INVALID, "line 3");
}

static void test_utf8_bom(void **state)
{
    (void)state;
    cJSON *docs;
    cJSON *doc = first_doc("\xef\xbb\xbfkind: Issuer\nv: \xc3\xa9t\xc3\xa9\n", &docs);
    assert_string_equal(str_at(doc, "kind", NULL, NULL), "Issuer");
    assert_string_equal(str_at(doc, "v", NULL, NULL), "\xc3\xa9t\xc3\xa9");
    cJSON_Delete(docs);
    doc = first_doc("\xef\xbb\xbf{\"kind\": \"Issuer\"}", &docs);
    assert_string_equal(str_at(doc, "kind", NULL, NULL), "Issuer");
    cJSON_Delete(docs);
}

static void test_syntax_errors_name_the_line(void **state)
{
    (void)state;
    /* bad indentation */
    parse_fails("a:\n  b: 1\n c: 2\n", ERR_INVALID, "line 3 column 2: did not find expected key");
    /* unclosed quote */
    parse_fails("a: 1\nb: \"never closed\nc: 3\n", ERR_INVALID,
                "while scanning a quoted scalar that started at line 2 column 4");
    parse_fails("a: 'x\n", ERR_INVALID, "line 2 column 1: found unexpected end of stream");
    /* tab indentation */
    parse_fails("a:\n\tb: 1\n", ERR_INVALID,
                "line 2 column 1: found character that cannot start any token");
    /* unclosed flow collection */
    parse_fails("{\"a\": [1, 2}\n", ERR_INVALID, "line 1 column 12:");
    /* invalid UTF-8 and control characters */
    parse_fails("a: 1\nb: \xff\n", ERR_INVALID, "line 2 column 4: invalid leading UTF-8 octet");
    parse_fails("a: 1\nb: x\x01\n", ERR_INVALID,
                "line 2 column 5: control characters are not allowed");
    /* JSON surrogate pairs: libyaml decodes \u escapes one by one */
    parse_fails("{\"a\": \"\\ud83d\\ude00\"}", ERR_INVALID,
                "line 1 column 10: found invalid Unicode character escape code");
    parse_fails("{\"a\": \"\\ud83d\\ude00\"}", ERR_INVALID, "write the character in UTF-8");
    assert_string_value("{\"v\": \"\\U0001F600 \xf0\x9f\x98\x80\"}",
                        "\xf0\x9f\x98\x80 \xf0\x9f\x98\x80");
    /* NUL escaped in a string */
    parse_fails("a: \"x\\0y\"\n", ERR_INVALID,
                "line 1 column 4: a string contains a NUL character");
    parse_fails("{\"a\": \"x\\u0000\"}", ERR_INVALID, "NUL character");
}

static void test_non_object_documents_refused(void **state)
{
    (void)state;
    parse_fails("a: 1\n---\n- x\n", ERR_INVALID,
                "line 3 column 1: document 2 is not an object (found a sequence)");
    parse_fails("just a string\n", ERR_INVALID, "document 1 is not an object (found a string)");
    parse_fails("a: 1\n--- 42\n", ERR_INVALID, "document 2 is not an object (found a number)");
    parse_fails("[1, 2]", ERR_INVALID, "document 1 is not an object");
    parse_fails("--- \"null\"\n", ERR_INVALID, "document 1 is not an object (found a string)");
}

static void test_empty_and_null_documents_skipped(void **state)
{
    (void)state;
    cJSON *docs = parse_ok("");
    assert_int_equal(cJSON_GetArraySize(docs), 0);
    cJSON_Delete(docs);
    docs = parse_ok("---\n---\na: 1\n--- ~\n--- null\n---\n# nothing\n---\nb: 2\n...\n");
    assert_int_equal(cJSON_GetArraySize(docs), 2);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 0), "a")->valueint,
                     1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 1), "b")->valueint,
                     2);
    cJSON_Delete(docs);
    struct err err = {0};
    docs = manifest_parse(NULL, 0, &err);
    assert_non_null(docs);
    assert_int_equal(cJSON_GetArraySize(docs), 0);
    cJSON_Delete(docs);
}

static void test_list_expanded_into_items(void **state)
{
    (void)state;
    cJSON *docs = parse_ok(
        "a: 0\n---\napiVersion: v1\nkind: List\nitems:\n"
        "- {kind: Secret, metadata: {name: s1}}\n"
        "- {kind: SecretList, items: [{kind: Secret, metadata: {name: s2}}, {kind: Secret, "
        "metadata: {name: s3}}]}\n"
        "---\nkind: SecretList\napiVersion: v1\nitems:\n- kind: Secret\n  metadata: {name: s4}\n"
        "---\nkind: List\nitems: []\n"
        "---\nkind: List\n"
        "---\nkind: AllowList\nspec: {}\n");
    assert_int_equal(cJSON_GetArraySize(docs), 6);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 0), "a")->valueint,
                     0);
    const char *names[] = {"s1", "s2", "s3", "s4"};
    for (int i = 0; i < 4; i++) {
        cJSON *d = cJSON_GetArrayItem(docs, i + 1);
        assert_string_equal(str_at(d, "kind", NULL, NULL), "Secret");
        assert_string_equal(str_at(d, "metadata", "name", NULL), names[i]);
    }
    /* a kind ending in List without items is an ordinary object */
    assert_string_equal(str_at(cJSON_GetArrayItem(docs, 5), "kind", NULL, NULL), "AllowList");
    cJSON_Delete(docs);

    parse_fails("kind: List\nitems: [{a: 1}, 2]\n", ERR_INVALID,
                "document 1 (kind List): items[1] is not an object");
    parse_fails("kind: List\nitems: {a: 1}\n", ERR_INVALID,
                "kind List needs items to be a sequence");
}

static void test_json_body(void **state)
{
    (void)state;
    const char *json =
        "{\n"
        "\t\"apiVersion\": \"cert-manager.io/v1\",\n"
        "\t\"kind\": \"CertificateRequest\",\n"
        "\t\"metadata\": {\"name\": \"r1\", \"annotations\": {\"ember.issuer.dev/policy-name\": "
        "\"mesh\"}},\n"
        "\t\"spec\": {\"request\": \"LS0t\\u002F+==\", \"isCA\": false, \"duration\": \"1h\",\n"
        "\t\t\"usages\": [\"server auth\", \"client auth\"], \"n\": 1e3, \"f\": -2.5E-1, \"z\": "
        "0,\n"
        "\t\t\"nested\": [[1, [2, []]], {}, null, true],\n"
        "\t\t\"s\": \"caf\\u00e9 \\\"q\\\" \\\\ \\/ \\n\\t\\r\\b\\f \\u20ac <\\u003c>\", \"e\": "
        "\"\", \"yes\": \"no\"}\n"
        "}\n";
    struct err err = {0};
    cJSON *obj = manifest_parse_one(json, strlen(json), &err);
    if (obj == NULL)
        fail_msg("%s", err.msg);
    char *printed = cJSON_PrintUnformatted(obj);
    assert_string_equal(
        printed, "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"CertificateRequest\","
                 "\"metadata\":{\"name\":\"r1\",\"annotations\":{\"ember.issuer.dev/"
                 "policy-name\":\"mesh\"}},"
                 "\"spec\":{\"request\":\"LS0t/+==\",\"isCA\":false,\"duration\":\"1h\","
                 "\"usages\":[\"server auth\",\"client auth\"],\"n\":1000,\"f\":-0.25,\"z\":0,"
                 "\"nested\":[[1,[2,[]]],{},null,true],"
                 "\"s\":\"caf\xc3\xa9 \\\"q\\\" \\\\ / \\n\\t\\r\\b\\f \xe2\x82\xac "
                 "<<>\",\"e\":\"\",\"yes\":\"no\"}}");

    /* what we print parses back to the same thing */
    cJSON *again = manifest_parse_one(printed, strlen(printed), &err);
    if (again == NULL)
        fail_msg("%s", err.msg);
    char *printed2 = cJSON_PrintUnformatted(again);
    assert_string_equal(printed, printed2);
    free(printed);
    free(printed2);
    cJSON_Delete(again);
    cJSON_Delete(obj);
}

static void test_parse_one_needs_exactly_one_object(void **state)
{
    (void)state;
    struct err err = {0};
    const char *two = "a: 1\n---\nb: 2\n";
    assert_null(manifest_parse_one(two, strlen(two), &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "expected one object, found 2 documents");

    assert_null(manifest_parse_one("", 0, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "expected one object, found 0 documents");

    const char *bad = "{\"a\": 1,}x";
    assert_null(manifest_parse_one(bad, strlen(bad), &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "line 1 column"));

    const char *arr = "[{\"a\": 1}]";
    assert_null(manifest_parse_one(arr, strlen(arr), &err));
    assert_non_null(strstr(err.msg, "document 1 is not an object"));

    const char *one = "---\nkind: Issuer\n---\n";
    cJSON *obj = manifest_parse_one(one, strlen(one), &err);
    assert_non_null(obj);
    assert_string_equal(str_at(obj, "kind", NULL, NULL), "Issuer");
    cJSON_Delete(obj);
}

/* ---- limits: inputs built in memory ---- */

static char *nested(int depth, size_t *len)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < depth; i++)
        assert_int_equal(buf_append_str(&b, "{a: ", NULL), 0);
    assert_int_equal(buf_append_str(&b, "1", NULL), 0);
    for (int i = 0; i < depth; i++)
        assert_int_equal(buf_append_str(&b, "}", NULL), 0);
    return buf_take(&b, len);
}

static void test_limit_depth(void **state)
{
    (void)state;
    size_t len;
    char *ok = nested(MANIFEST_MAX_DEPTH, &len);
    struct err err = {0};
    cJSON *docs = manifest_parse(ok, len, &err);
    assert_non_null(docs);
    cJSON_Delete(docs);
    free(ok);

    char *deep = nested(MANIFEST_MAX_DEPTH + 1, &len);
    parse_fails_n(deep, len, ERR_TOO_BIG,
                  "line 1 column 257: more than 64 levels of nesting (MANIFEST_MAX_DEPTH)");
    free(deep);

    /* block style and sequences count too */
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "a:\n", NULL), 0);
    for (int i = 1; i <= MANIFEST_MAX_DEPTH; i++)
        assert_int_equal(buf_printf(&b, NULL, "%*s- \n", i, ""), 0);
    char *seqs = buf_take(&b, &len);
    parse_fails_n(seqs, len, ERR_TOO_BIG, "MANIFEST_MAX_DEPTH");
    free(seqs);
}

/* {a: [0,0,...]} with n nodes in all: the mapping, its key, the sequence and n-3 scalars. */
static char *many_nodes(size_t n, size_t *len)
{
    struct buf b;
    buf_init(&b, 4u << 20);
    assert_int_equal(buf_append_str(&b, "{a: [", NULL), 0);
    for (size_t i = 0; i < n - 3; i++)
        assert_int_equal(buf_append_str(&b, i ? ",0" : "0", NULL), 0);
    assert_int_equal(buf_append_str(&b, "]}", NULL), 0);
    return buf_take(&b, len);
}

static void test_limit_nodes(void **state)
{
    (void)state;
    size_t len;
    char *ok = many_nodes(MANIFEST_MAX_NODES, &len);
    struct err err = {0};
    cJSON *docs = manifest_parse(ok, len, &err);
    if (docs == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 0), "a")),
        MANIFEST_MAX_NODES - 3);
    cJSON_Delete(docs);
    free(ok);

    char *big = many_nodes(MANIFEST_MAX_NODES + 1, &len);
    parse_fails_n(big, len, ERR_TOO_BIG, "more than 200000 nodes (MANIFEST_MAX_NODES)");
    free(big);
}

static char *many_docs(int n, size_t *len)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < n; i++)
        assert_int_equal(buf_printf(&b, NULL, "---\ni: %d\n", i), 0);
    return buf_take(&b, len);
}

static void test_limit_documents(void **state)
{
    (void)state;
    size_t len;
    char *ok = many_docs(MANIFEST_MAX_DOCS, &len);
    struct err err = {0};
    cJSON *docs = manifest_parse(ok, len, &err);
    assert_non_null(docs);
    assert_int_equal(cJSON_GetArraySize(docs), MANIFEST_MAX_DOCS);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 999), "i")->valueint,
                     999);
    cJSON_Delete(docs);
    free(ok);

    char *big = many_docs(MANIFEST_MAX_DOCS + 1, &len);
    parse_fails_n(big, len, ERR_TOO_BIG,
                  "line 2001 column 1: more than 1000 documents (MANIFEST_MAX_DOCS)");
    free(big);
}

static void test_limit_bytes(void **state)
{
    (void)state;
    size_t len = MANIFEST_MAX_BYTES + 1;
    char *data = xmalloc(len);
    memcpy(data, "v: ", 3);
    memset(data + 3, 'x', len - 4);
    data[len - 1] = '\n';
    parse_fails_n(data, len, ERR_TOO_BIG,
                  "input is 4194305 bytes, more than 4194304 (MANIFEST_MAX_BYTES)");

    /* exactly at the limit is fine */
    data[len - 2] = '\n';
    struct err err = {0};
    cJSON *docs = manifest_parse(data, len - 1, &err);
    if (docs == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(
        strlen(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(docs, 0), "v")->valuestring),
        MANIFEST_MAX_BYTES - 4);
    cJSON_Delete(docs);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typical_multi_document_file),
        cmocka_unit_test(test_plain_booleans),
        cmocka_unit_test(test_plain_nulls),
        cmocka_unit_test(test_plain_integers),
        cmocka_unit_test(test_integers_out_of_range_refused),
        cmocka_unit_test(test_plain_floats),
        cmocka_unit_test(test_non_finite_floats_refused),
        cmocka_unit_test(test_other_plain_scalars_are_strings),
        cmocka_unit_test(test_quoted_scalars_are_strings),
        cmocka_unit_test(test_block_scalars),
        cmocka_unit_test(test_explicit_tags),
        cmocka_unit_test(test_keys_are_converted_to_text),
        cmocka_unit_test(test_duplicate_keys_refused),
        cmocka_unit_test(test_anchors_and_aliases_refused),
        cmocka_unit_test(test_comments_ignored),
        cmocka_unit_test(test_crlf_line_ends),
        cmocka_unit_test(test_utf8_bom),
        cmocka_unit_test(test_syntax_errors_name_the_line),
        cmocka_unit_test(test_non_object_documents_refused),
        cmocka_unit_test(test_empty_and_null_documents_skipped),
        cmocka_unit_test(test_list_expanded_into_items),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_parse_one_needs_exactly_one_object),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_nodes),
        cmocka_unit_test(test_limit_documents),
        cmocka_unit_test(test_limit_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
