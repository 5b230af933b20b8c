/* test_vaultmsg.c -- Vault bodies and answers: login, lookup-self, sign, error lists. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/buf.h"
#include "base/mem.h"
#include "signers/vaultmsg.h"
#include "testpki.h"
#include "x509/chain.h"
#include "x509/csr.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *k_leaf, *k_int, *k_root, *k_other;

static int keys_setup(void **state)
{
    (void)state;
    k_leaf = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k_int = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k_root = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k_other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return k_leaf && k_int && k_root && k_other ? 0 : -1;
}

static int keys_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(k_leaf);
    EVP_PKEY_free(k_int);
    EVP_PKEY_free(k_root);
    EVP_PKEY_free(k_other);
    return 0;
}

/* ---- helpers ---- */

static char *pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

/* A Vault sign answer as JSON: certificate, issuing_ca (NULL = left out), ca_chain entries
 * (NULL-terminated; chain_null puts "ca_chain": null). */
static char *sign_answer(const char *cert, const char *issuing, bool chain_null, ...)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "lease_id", "");
    cJSON *data = cJSON_AddObjectToObject(root, "data");
    if (cert != NULL)
        cJSON_AddStringToObject(data, "certificate", cert);
    if (issuing != NULL)
        cJSON_AddStringToObject(data, "issuing_ca", issuing);
    if (chain_null) {
        cJSON_AddNullToObject(data, "ca_chain");
    } else {
        cJSON *arr = cJSON_AddArrayToObject(data, "ca_chain");
        va_list ap;
        va_start(ap, chain_null);
        for (const char *p = va_arg(ap, const char *); p != NULL; p = va_arg(ap, const char *))
            cJSON_AddItemToArray(arr, cJSON_CreateString(p));
        va_end(ap);
    }
    cJSON_AddStringToObject(data, "serial_number", "39:dd");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_non_null(s);
    return s;
}

/* A parsed CSR for key with CN cn (NULL = none) and SANs in openssl.cnf syntax (NULL = none;
 * "RAWURI:<uri>" = that one URI, commas included). */
static struct csr *mkcsr(EVP_PKEY *key, const char *cn, const char *sans)
{
    X509_REQ *req = X509_REQ_new();
    assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    if (cn != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
                                                    MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                                    -1, 0),
                         1);
    if (sans != NULL) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *e;
        if (strncmp(sans, "RAWURI:", 7) == 0) {
            /* openssl.cnf syntax cannot carry a comma inside a name. */
            GENERAL_NAMES *gens = GENERAL_NAMES_new();
            ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
            assert_int_equal(ASN1_STRING_set(ia5, sans + 7, -1), 1);
            GENERAL_NAME *g = GENERAL_NAME_new();
            GENERAL_NAME_set0_value(g, GEN_URI, ia5);
            sk_GENERAL_NAME_push(gens, g);
            e = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
            GENERAL_NAMES_free(gens);
        } else {
            e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
        }
        assert_non_null(e);
        sk_X509_EXTENSION_push(exts, e);
        assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(req, &der);
    assert_true(n > 0);
    X509_REQ_free(req);
    struct err err = {0};
    struct csr *c = csr_parse(der, (size_t)n, &err);
    OPENSSL_free(der);
    if (c == NULL)
        fail_msg("csr_parse: %s", err.msg);
    return c;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(j));
    return j->valuestring;
}

/* ---- login body ---- */

static void test_login_body_is_json_with_trimmed_values(void **state)
{
    (void)state;
    const char secret[] = "  s3cr\"et\\\n ";
    char *json = NULL;
    size_t len = 0;
    struct err err = {0};
    assert_int_equal(vaultmsg_login_body(" role-1\n", secret, strlen(secret), &json, &len, &err),
                     0);
    assert_int_equal(strlen(json), len);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_string_equal(jstr(root, "role_id"), "role-1");
    assert_string_equal(jstr(root, "secret_id"), "s3cr\"et\\");
    assert_int_equal(cJSON_GetArraySize(root), 2);
    cJSON_Delete(root);
    xfree_secret(json, len);
}

static void test_login_body_escapes_control_bytes(void **state)
{
    (void)state;
    const char secret[] = {'a', 0x01, 'b', 0x1f, 'c', '\0'};
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(vaultmsg_login_body("r", secret, sizeof(secret) - 1, &json, &len, NULL), 0);
    assert_non_null(strstr(json, "a\\u0001b\\u001fc"));
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_string_equal(jstr(root, "secret_id"), secret);
    cJSON_Delete(root);
    xfree_secret(json, len);
}

static void test_login_body_uses_secret_len_not_nul(void **state)
{
    (void)state;
    /* The Secret value is not NUL-terminated at secret_len. */
    const char buf[] = "abcdefXXXX";
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(vaultmsg_login_body("r", buf, 6, &json, &len, NULL), 0);
    assert_non_null(strstr(json, "\"secret_id\":\"abcdef\""));
    xfree_secret(json, len);
}

static void test_login_body_rejects_empty_and_huge(void **state)
{
    (void)state;
    char *json = (char *)1;
    size_t len = 7;
    struct err err = {0};
    assert_int_equal(vaultmsg_login_body("  ", "x", 1, &json, &len, &err), -1);
    assert_null(json);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "roleId"));

    assert_int_equal(vaultmsg_login_body("r", " \n ", 3, &json, &len, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "secret_id is empty"));

    size_t big = VAULTMSG_MAX_SECRET_ID + 1;
    char *s = xmalloc(big);
    memset(s, 'q', big);
    assert_int_equal(vaultmsg_login_body("r", s, big, &json, &len, &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    assert_null(strstr(err.msg, "qqqq")); /* the secret never reaches a message */
    assert_int_equal(vaultmsg_login_body("r", s, big - 1, &json, &len, &err), 0);
    xfree_secret(json, len);
    free(s);

    const char nul[] = "ab\0cd";
    assert_int_equal(vaultmsg_login_body("r", nul, 5, &json, &len, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "NUL"));
}

/* ---- login / renew-self answer ---- */

static int parse_login_str(const char *s, struct vaultmsg_login *l, struct err *err)
{
    return vaultmsg_parse_login(s, strlen(s), l, err);
}

static void test_parse_login_reads_auth(void **state)
{
    (void)state;
    const char *s =
        "{\"request_id\":\"x\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,"
        "\"data\":null,\"wrap_info\":null,\"warnings\":null,\"auth\":{\"client_token\":"
        "\"hvs.CAESIabc\",\"accessor\":\"a\",\"policies\":[\"default\"],\"metadata\":{},"
        "\"lease_duration\":300,\"renewable\":true,\"entity_id\":\"e\",\"token_type\":\"service\","
        "\"orphan\":true,\"mfa_requirement\":null,\"num_uses\":3}}";
    struct vaultmsg_login l;
    struct err err = {0};
    assert_int_equal(parse_login_str(s, &l, &err), 0);
    assert_string_equal(l.client_token, "hvs.CAESIabc");
    assert_int_equal(l.lease_duration, 300);
    assert_true(l.renewable);
    assert_string_equal(l.token_type, "service");
    assert_true(l.has_num_uses);
    assert_int_equal(l.num_uses, 3);
    vaultmsg_login_clear(&l);
    assert_null(l.client_token);
    vaultmsg_login_clear(NULL);
}

static void test_parse_login_defaults_for_optional_fields(void **state)
{
    (void)state;
    struct vaultmsg_login l;
    assert_int_equal(parse_login_str("{\"auth\":{\"client_token\":\"b.x\"}}", &l, NULL), 0);
    assert_int_equal(l.lease_duration, 0);
    assert_false(l.renewable);
    assert_string_equal(l.token_type, "");
    assert_false(l.has_num_uses); /* a server without auth.num_uses: the client looks it up */
    vaultmsg_login_clear(&l);
    assert_int_equal(
        parse_login_str("{\"auth\":{\"client_token\":\"b.x\",\"num_uses\":null}}", &l, NULL), 0);
    assert_false(l.has_num_uses);
    vaultmsg_login_clear(&l);
    assert_int_equal(
        parse_login_str("{\"auth\":{\"client_token\":\"b.x\",\"num_uses\":0}}", &l, NULL), 0);
    assert_true(l.has_num_uses); /* 0: unlimited, said by the server */
    assert_int_equal(l.num_uses, 0);
    vaultmsg_login_clear(&l);
}

static void expect_login_error(const char *s, enum err_kind kind, const char *needle)
{
    struct vaultmsg_login l;
    struct err err = {0};
    assert_int_equal(parse_login_str(s, &l, &err), -1);
    assert_null(l.client_token);
    if (err.kind != kind || strstr(err.msg, needle) == NULL)
        fail_msg("for %.80s: got %s \"%s\", want %s with \"%s\"", s, err_kind_name(err.kind),
                 err.msg, err_kind_name(kind), needle);
}

static void test_parse_login_rejects_missing_or_bad_token(void **state)
{
    (void)state;
    expect_login_error("{\"auth\":null,\"data\":{}}", ERR_INVALID, "no \"auth\"");
    expect_login_error("{\"data\":{}}", ERR_INVALID, "no \"auth\"");
    expect_login_error("{\"auth\":null,\"wrap_info\":{\"token\":\"w\"}}", ERR_INVALID,
                       "response-wrapped");
    expect_login_error("{\"auth\":[]}", ERR_INVALID, "auth is not an object");
    expect_login_error("{\"auth\":{}}", ERR_INVALID, "no token returned");
    expect_login_error("{\"auth\":{\"client_token\":\"\"}}", ERR_INVALID, "no token returned");
    expect_login_error("{\"auth\":{\"client_token\":42}}", ERR_INVALID, "not a string");
    expect_login_error("{\"auth\":{\"client_token\":\"a b\"}}", ERR_INVALID, "printable ASCII");
    expect_login_error("{\"auth\":{\"client_token\":\"a\\r\\nX-Evil: 1\"}}", ERR_INVALID,
                       "printable ASCII");
    expect_login_error("{\"auth\":{\"client_token\":\"t\\u00e9\"}}", ERR_INVALID,
                       "printable ASCII");
}

static void test_parse_login_rejects_wrong_types(void **state)
{
    (void)state;
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"lease_duration\":\"300\"}}",
                       ERR_INVALID, "auth.lease_duration is not a number");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"lease_duration\":-1}}", ERR_INVALID,
                       "auth.lease_duration");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"lease_duration\":1.5}}", ERR_INVALID,
                       "whole number");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"lease_duration\":1e300}}", ERR_INVALID,
                       "whole number");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"renewable\":\"yes\"}}", ERR_INVALID,
                       "auth.renewable");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"token_type\":7}}", ERR_INVALID,
                       "auth.token_type");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"token_type\":\"root\"}}", ERR_INVALID,
                       "auth.token_type");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"num_uses\":\"2\"}}", ERR_INVALID,
                       "auth.num_uses is not a number");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"num_uses\":-1}}", ERR_INVALID,
                       "auth.num_uses");
    expect_login_error("{\"auth\":{\"client_token\":\"t\",\"num_uses\":2.5}}", ERR_INVALID,
                       "whole number");
}

static void test_parse_login_not_json_is_transient(void **state)
{
    (void)state;
    expect_login_error("<html>502 Bad Gateway</html>", ERR_TRANSIENT, "not JSON");
    expect_login_error("{\"auth\":{\"client_token\":\"t\"", ERR_TRANSIENT, "not JSON");
    expect_login_error("", ERR_TRANSIENT, "empty");
    expect_login_error("[1,2]", ERR_INVALID, "not a JSON object");
}

static void test_parse_login_limits(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "{\"auth\":{\"client_token\":\"", NULL), 0);
    for (int i = 0; i < VAULTMSG_MAX_TOKEN + 1; i++)
        assert_int_equal(buf_append(&b, "t", 1, NULL), 0);
    assert_int_equal(buf_append_str(&b, "\"}}", NULL), 0);
    expect_login_error(b.data, ERR_TOO_BIG, "longer than");
    buf_free(&b);

    size_t n = VAULTMSG_MAX_BODY + 1;
    char *big = xmalloc(n);
    memset(big, ' ', n);
    struct vaultmsg_login l;
    struct err err = {0};
    assert_int_equal(vaultmsg_parse_login(big, n, &l, &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    free(big);
}

/* ---- Kubernetes and TLS certificate login bodies ---- */

static void test_kubernetes_login_body(void **state)
{
    (void)state;
    const char jwt[] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n";
    char *json = NULL;
    size_t len = 0;
    struct err err = {0};
    assert_int_equal(vaultmsg_kubernetes_login_body("ember", jwt, strlen(jwt), &json, &len, &err),
                     0);
    assert_int_equal(strlen(json), len);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_string_equal(jstr(root, "role"), "ember");
    assert_string_equal(jstr(root, "jwt"), "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
    assert_int_equal(cJSON_GetArraySize(root), 2);
    cJSON_Delete(root);
    xfree_secret(json, len);

    assert_int_equal(vaultmsg_kubernetes_login_body("", jwt, strlen(jwt), &json, &len, &err), -1);
    assert_string_equal(err.msg, "Vault Kubernetes auth requires a role to be set");
    assert_int_equal(vaultmsg_kubernetes_login_body("r", " \n", 2, &json, &len, &err), -1);
    assert_string_equal(err.msg, "the service account token (JWT) is empty");
    assert_null(json);
    size_t big = VAULTMSG_MAX_JWT + 1;
    char *s = xmalloc(big);
    memset(s, 'q', big);
    assert_int_equal(vaultmsg_kubernetes_login_body("r", s, big, &json, &len, &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    assert_null(strstr(err.msg, "qqqq"));
    assert_int_equal(vaultmsg_kubernetes_login_body("r", s, big - 1, &json, &len, &err), 0);
    xfree_secret(json, len);
    free(s);
    assert_int_equal(vaultmsg_kubernetes_login_body("r", "a\0b", 3, &json, &len, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
}

static void test_cert_login_body(void **state)
{
    (void)state;
    char *json = NULL;
    size_t len = 0;
    struct err err = {0};
    assert_int_equal(vaultmsg_cert_login_body("web \"x\"", &json, &len, &err), 0);
    assert_string_equal(json, "{\"name\":\"web \\\"x\\\"\"}");
    assert_int_equal(strlen(json), len);
    free(json);
    assert_int_equal(vaultmsg_cert_login_body("", &json, &len, &err), 0);
    assert_string_equal(json, "{}");
    free(json);
    assert_int_equal(vaultmsg_cert_login_body(NULL, &json, &len, &err), 0);
    assert_string_equal(json, "{}");
    free(json);
}

/* ---- lookup-self ---- */

static int parse_lookup_str(const char *s, struct vaultmsg_lookup *lk, struct err *err)
{
    return vaultmsg_parse_lookup(s, strlen(s), lk, err);
}

static void expect_lookup_error(const char *s, enum err_kind kind, const char *needle);

static void test_parse_lookup_num_uses(void **state)
{
    (void)state;
    struct vaultmsg_lookup lk;
    struct err err = {0};
    assert_int_equal(parse_lookup_str("{\"data\":{\"id\":\"hvs.x\",\"num_uses\":0,\"ttl\":2764790,"
                                      "\"renewable\":true}}",
                                      &lk, &err),
                     0);
    assert_int_equal(lk.num_uses, 0);
    assert_int_equal(lk.ttl, 2764790);
    assert_true(lk.renewable);
    assert_int_equal(parse_lookup_str("{\"data\":{\"num_uses\":4,\"ttl\":60}}", &lk, &err), 0);
    assert_int_equal(lk.num_uses, 4);
    assert_false(lk.renewable); /* absent: a static token is not renewed */
    assert_int_equal(parse_lookup_str("{\"data\":{\"num_uses\":0,\"renewable\":false}}", &lk, &err),
                     0);
    assert_false(lk.renewable);
    expect_lookup_error("{\"data\":{\"num_uses\":0,\"renewable\":\"yes\"}}", ERR_INVALID,
                        "data.renewable is not a boolean");
    /* The lookup itself spent the last use of a single-use token. */
    assert_int_equal(parse_lookup_str("{\"data\":{\"num_uses\":-1,\"ttl\":60}}", &lk, &err), 0);
    assert_int_equal(lk.num_uses, -1);
    assert_int_equal(parse_lookup_str("{\"data\":{\"num_uses\":3}}", &lk, &err), 0);
    assert_int_equal(lk.ttl, 0);
}

static void expect_lookup_error(const char *s, enum err_kind kind, const char *needle)
{
    struct vaultmsg_lookup lk;
    struct err err = {0};
    assert_int_equal(parse_lookup_str(s, &lk, &err), -1);
    if (err.kind != kind || strstr(err.msg, needle) == NULL)
        fail_msg("for %.80s: got %s \"%s\", want %s with \"%s\"", s, err_kind_name(err.kind),
                 err.msg, err_kind_name(kind), needle);
}

static void test_parse_lookup_rejects_bad_answers(void **state)
{
    (void)state;
    expect_lookup_error("{\"data\":null}", ERR_INVALID, "no \"data\"");
    expect_lookup_error("{\"data\":{\"ttl\":1}}", ERR_INVALID, "no data.num_uses");
    expect_lookup_error("{\"data\":{\"num_uses\":\"1\"}}", ERR_INVALID, "data.num_uses is not");
    expect_lookup_error("{\"data\":{\"num_uses\":-2}}", ERR_INVALID, "data.num_uses");
    expect_lookup_error("{\"data\":{\"num_uses\":0.5}}", ERR_INVALID, "data.num_uses");
    expect_lookup_error("{\"data\":{\"num_uses\":1,\"ttl\":-5}}", ERR_INVALID, "data.ttl");
    expect_lookup_error("{\"data\":{\"num_uses\":1,\"ttl\":true}}", ERR_INVALID, "data.ttl");
    expect_lookup_error("not json", ERR_TRANSIENT, "not JSON");
}

/* ---- sign body ---- */

static void test_sign_body_fields_as_cert_manager_sends(void **state)
{
    (void)state;
    struct csr *c = mkcsr(k_leaf, "web.example.com",
                          "DNS:web.example.com,DNS:www.example.com,IP:10.0.0.1,IP:2001:db8::1,"
                          "URI:spiffe://cluster.local/ns/a/sa/b,email:a@example.com");
    char *json = NULL;
    struct err err = {0};
    assert_int_equal(vaultmsg_sign_body(c, 90LL * 24 * 3600, &json, &err), 0);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_string_equal(jstr(root, "common_name"), "web.example.com");
    assert_string_equal(jstr(root, "alt_names"), "web.example.com,www.example.com");
    assert_string_equal(jstr(root, "ip_sans"), "10.0.0.1,2001:db8::1");
    assert_string_equal(jstr(root, "uri_sans"), "spiffe://cluster.local/ns/a/sa/b");
    assert_string_equal(jstr(root, "ttl"), "2160h0m0s");
    assert_string_equal(jstr(root, "exclude_cn_from_sans"), "true");
    /* Every value is a string; nothing else is sent (no format, no other_sans). */
    assert_int_equal(cJSON_GetArraySize(root), 7);

    /* The csr field is the same request, as PEM. */
    const char *pem = jstr(root, "csr");
    assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
    struct csr *back = csr_parse((const unsigned char *)pem, strlen(pem), &err);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back->pkey, c->pkey), 1);
    assert_string_equal(back->common_name.v[0], "web.example.com");
    csr_free(back);
    cJSON_Delete(root);
    free(json);
    csr_free(c);
}

static void test_sign_body_without_cn_or_sans(void **state)
{
    (void)state;
    struct csr *c = mkcsr(k_leaf, NULL, "URI:spiffe://td/w");
    char *json = NULL;
    assert_int_equal(vaultmsg_sign_body(c, 3600, &json, NULL), 0);
    cJSON *root = cJSON_Parse(json);
    assert_string_equal(jstr(root, "common_name"), "");
    assert_string_equal(jstr(root, "alt_names"), "");
    assert_string_equal(jstr(root, "ip_sans"), "");
    assert_string_equal(jstr(root, "ttl"), "1h0m0s");
    cJSON_Delete(root);
    free(json);
    csr_free(c);
}

/* otherNames go as other_sans, a JSON list of "<oid>;UTF8:<value>" (a value may hold commas). */
static void test_sign_body_other_sans(void **state)
{
    (void)state;
    struct csr *c = mkcsr(k_leaf, "a.example.com",
                          "DNS:a.example.com,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:bob@example.com,"
                          "otherName:1.2.3.4;UTF8:x:y;z");
    char *json = NULL;
    struct err err = {0};
    assert_int_equal(vaultmsg_sign_body(c, 3600, &json, &err), 0);
    cJSON *root = cJSON_Parse(json);
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(root, "other_sans");
    assert_true(cJSON_IsArray(os));
    assert_int_equal(cJSON_GetArraySize(os), 2);
    assert_string_equal(cJSON_GetArrayItem(os, 0)->valuestring,
                        "1.3.6.1.4.1.311.20.2.3;UTF8:bob@example.com");
    assert_string_equal(cJSON_GetArrayItem(os, 1)->valuestring, "1.2.3.4;UTF8:x:y;z");
    assert_int_equal(cJSON_GetArraySize(root), 8);
    cJSON_Delete(root);
    free(json);
    csr_free(c);
}

static void test_sign_body_rejects_bad_ttl_and_commas(void **state)
{
    (void)state;
    struct csr *c = mkcsr(k_leaf, "a", "DNS:a.example");
    char *json = (char *)1;
    struct err err = {0};
    assert_int_equal(vaultmsg_sign_body(c, 0, &json, &err), -1);
    assert_null(json);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "duration"));
    assert_int_equal(vaultmsg_sign_body(c, -5, &json, &err), -1);
    csr_free(c);

    c = mkcsr(k_leaf, "a", "RAWURI:https://x.example/a,b");
    assert_int_equal(vaultmsg_sign_body(c, 60, &json, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "uri_sans"));
    assert_non_null(strstr(err.msg, "comma"));
    csr_free(c);
}

/* ---- sign answer ---- */

struct pki {
    X509 *root, *intermediate, *leaf, *other_root;
    char *root_pem, *int_pem, *leaf_pem, *other_pem;
};

static void pki_make(struct pki *p)
{
    p->root = make_bare_cert("Root CA", k_root, NULL, NULL, 1);
    p->intermediate = make_bare_cert("Intermediate CA", k_int, p->root, k_root, 1);
    p->leaf = make_bare_cert("web.example.com", k_leaf, p->intermediate, k_int, 0);
    p->other_root = make_bare_cert("Other Root", k_other, NULL, NULL, 1);
    p->root_pem = pem_of(p->root);
    p->int_pem = pem_of(p->intermediate);
    p->leaf_pem = pem_of(p->leaf);
    p->other_pem = pem_of(p->other_root);
}

static void pki_free(struct pki *p)
{
    X509_free(p->root);
    X509_free(p->intermediate);
    X509_free(p->leaf);
    X509_free(p->other_root);
    free(p->root_pem);
    free(p->int_pem);
    free(p->leaf_pem);
    free(p->other_pem);
}

static void test_parse_sign_bundle_normalises(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    char *ans = sign_answer(p.leaf_pem, p.int_pem, false, p.int_pem, p.root_pem, NULL);
    char *pem = NULL;
    struct err err = {0};
    assert_int_equal(vaultmsg_parse_sign(ans, strlen(ans), &pem, &err), 0);
    /* certificate first, then issuing_ca, then ca_chain. */
    const char *a = strstr(pem, p.leaf_pem), *b = strstr(pem, p.int_pem),
               *r = strstr(pem, p.root_pem);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(r);
    assert_true(a < b && b < r);
    char *chain = NULL, *ca = NULL;
    assert_int_equal(chain_normalise(pem, strlen(pem), &chain, &ca, &err), 0);
    assert_true(strncmp(chain, p.leaf_pem, strlen(p.leaf_pem)) == 0);
    assert_non_null(strstr(chain, p.int_pem));
    assert_null(strstr(chain, p.root_pem));
    assert_string_equal(ca, p.root_pem);
    free(chain);
    free(ca);
    free(pem);
    free(ans);
    pki_free(&p);
}

static void test_parse_sign_optional_chain(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    /* ca_chain null and issuing_ca empty: the bundle is the certificate alone. */
    char *ans = sign_answer(p.leaf_pem, "", true);
    char *pem = NULL;
    assert_int_equal(vaultmsg_parse_sign(ans, strlen(ans), &pem, NULL), 0);
    assert_non_null(strstr(pem, p.leaf_pem));
    assert_null(strstr(pem, p.int_pem));
    free(pem);
    free(ans);
    ans = sign_answer(p.leaf_pem, NULL, false, NULL);
    assert_int_equal(vaultmsg_parse_sign(ans, strlen(ans), &pem, NULL), 0);
    free(pem);
    free(ans);
    pki_free(&p);
}

static void test_parse_sign_broken_chain_fails_normalise(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    /* Vault hands a chain of another CA: the bundle parses, the chain does not link. */
    char *ans = sign_answer(p.leaf_pem, p.other_pem, false, p.other_pem, NULL);
    char *pem = NULL, *chain = NULL, *ca = NULL;
    struct err err = {0};
    assert_int_equal(vaultmsg_parse_sign(ans, strlen(ans), &pem, &err), 0);
    assert_int_equal(chain_normalise(pem, strlen(pem), &chain, &ca, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_null(chain);
    free(pem);
    free(ans);
    pki_free(&p);
}

static void expect_sign_error(const char *s, enum err_kind kind, const char *needle)
{
    char *pem = (char *)1;
    struct err err = {0};
    assert_int_equal(vaultmsg_parse_sign(s, strlen(s), &pem, &err), -1);
    assert_null(pem);
    if (err.kind != kind || strstr(err.msg, needle) == NULL)
        fail_msg("for %.80s: got %s \"%s\", want %s with \"%s\"", s, err_kind_name(err.kind),
                 err.msg, err_kind_name(kind), needle);
}

static void test_parse_sign_rejects_missing_and_mistyped(void **state)
{
    (void)state;
    expect_sign_error("{\"errors\":[]}", ERR_INVALID, "no \"data\"");
    expect_sign_error("{\"data\":null}", ERR_INVALID, "no \"data\"");
    expect_sign_error("{\"data\":{\"issuing_ca\":\"-----BEGIN X\"}}", ERR_INVALID,
                      "no data.certificate");
    expect_sign_error("{\"data\":{\"certificate\":\"\"}}", ERR_INVALID,
                      "data.certificate is empty");
    expect_sign_error("{\"data\":{\"certificate\":[\"a\"]}}", ERR_INVALID, "not a string");
    expect_sign_error("{\"data\":{\"certificate\":\"MIIBszCCAVmgAwIBAgIU\"}}", ERR_INVALID,
                      "not PEM");
    expect_sign_error(
        "{\"data\":{\"certificate\":\"-----BEGIN CERTIFICATE-----\",\"issuing_ca\":5}}",
        ERR_INVALID, "data.issuing_ca is not a string");
    expect_sign_error(
        "{\"data\":{\"certificate\":\"-----BEGIN CERTIFICATE-----\",\"ca_chain\":\"x\"}}",
        ERR_INVALID, "data.ca_chain is not an array");
    expect_sign_error(
        "{\"data\":{\"certificate\":\"-----BEGIN CERTIFICATE-----\",\"ca_chain\":[1]}}",
        ERR_INVALID, "ca_chain entry is not a string");
    expect_sign_error("<html>gateway timeout</html>", ERR_TRANSIENT, "not JSON");
}

static void test_parse_sign_huge_chain_is_too_big(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4 << 20);
    assert_int_equal(
        buf_append_str(
            &b, "{\"data\":{\"certificate\":\"-----BEGIN CERTIFICATE-----\",\"ca_chain\":[", NULL),
        0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(buf_append_str(&b, i ? ",\"\"" : "\"\"", NULL), 0);
    assert_int_equal(buf_append_str(&b, "]}}", NULL), 0);
    expect_sign_error(b.data, ERR_TOO_BIG, "more than 100 entries");
    buf_free(&b);

    /* Exactly VAULTMSG_MAX_CHAIN entries is fine. */
    buf_init(&b, 1 << 20);
    assert_int_equal(
        buf_append_str(
            &b, "{\"data\":{\"certificate\":\"-----BEGIN CERTIFICATE-----\",\"ca_chain\":[", NULL),
        0);
    for (int i = 0; i < VAULTMSG_MAX_CHAIN; i++)
        assert_int_equal(buf_append_str(&b, i ? ",\"\"" : "\"\"", NULL), 0);
    assert_int_equal(buf_append_str(&b, "]}}", NULL), 0);
    char *pem = NULL;
    assert_int_equal(vaultmsg_parse_sign(b.data, b.len, &pem, NULL), 0);
    free(pem);
    buf_free(&b);
}

/* ---- errors ---- */

static void test_errors_joined(void **state)
{
    (void)state;
    const char *s = "{\"errors\":[\"common name evil.com not allowed by this role\",\"second\"]}";
    char out[VAULTMSG_MAX_ERROR_TEXT];
    assert_int_equal(vaultmsg_errors(s, strlen(s), out, sizeof(out)), 2);
    assert_string_equal(out, "common name evil.com not allowed by this role; second");
}

static void test_errors_escapes_and_skips_non_strings(void **state)
{
    (void)state;
    const char *s = "{\"errors\":[1,null,\"\",\"line1\\nline2\\u001b[31m\\u00e9\",{}]}";
    char out[VAULTMSG_MAX_ERROR_TEXT];
    assert_int_equal(vaultmsg_errors(s, strlen(s), out, sizeof(out)), 1);
    assert_string_equal(out, "line1 line2\\x1b[31m\\xc3\\xa9");
    /* Vault's multi-error text is one line. */
    s = "{\"errors\":[\"2 errors occurred:\\n\\t* permission denied\\n\\t* invalid token\\n\\n\"]}";
    assert_int_equal(vaultmsg_errors(s, strlen(s), out, sizeof(out)), 1);
    assert_string_equal(out, "2 errors occurred: * permission denied * invalid token");
}

static void test_errors_none_or_not_json(void **state)
{
    (void)state;
    char out[64] = "junk";
    assert_int_equal(vaultmsg_errors("<html>", 6, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(vaultmsg_errors("{\"errors\":\"x\"}", 14, out, sizeof(out)), 0);
    assert_int_equal(vaultmsg_errors("{\"errors\":[]}", 13, out, sizeof(out)), 0);
    assert_int_equal(vaultmsg_errors("", 0, out, sizeof(out)), 0);
    assert_int_equal(vaultmsg_errors(NULL, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_errors_bounded(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "{\"errors\":[", NULL), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_printf(&b, NULL, "%s\"error number %d\"", i ? "," : "", i), 0);
    assert_int_equal(buf_append_str(&b, "]}", NULL), 0);
    char out[4096];
    size_t n = vaultmsg_errors(b.data, b.len, out, sizeof(out));
    assert_true(n >= 1 && n <= VAULTMSG_MAX_ERRORS);
    assert_true(strlen(out) < VAULTMSG_MAX_ERROR_TEXT);
    assert_non_null(strstr(out, "error number 0; error number 1"));
    assert_string_equal(out + strlen(out) - 3, "...");

    /* A small output buffer is respected too. */
    char small[16];
    assert_true(vaultmsg_errors(b.data, b.len, small, sizeof(small)) >= 1);
    assert_true(strlen(small) < sizeof(small));
    assert_string_equal(small + strlen(small) - 3, "...");
    buf_free(&b);

    /* One huge message is cut, not overflowing. */
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "{\"errors\":[\"", NULL), 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(buf_append(&b, "\\n", 2, NULL), 0);
    assert_int_equal(buf_append_str(&b, "\"]}", NULL), 0);
    assert_int_equal(vaultmsg_errors(b.data, b.len, out, sizeof(out)), 1);
    assert_true(strlen(out) < VAULTMSG_MAX_ERROR_TEXT);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_body_is_json_with_trimmed_values),
        cmocka_unit_test(test_login_body_escapes_control_bytes),
        cmocka_unit_test(test_login_body_uses_secret_len_not_nul),
        cmocka_unit_test(test_login_body_rejects_empty_and_huge),
        cmocka_unit_test(test_kubernetes_login_body),
        cmocka_unit_test(test_cert_login_body),
        cmocka_unit_test(test_parse_login_reads_auth),
        cmocka_unit_test(test_parse_login_defaults_for_optional_fields),
        cmocka_unit_test(test_parse_login_rejects_missing_or_bad_token),
        cmocka_unit_test(test_parse_login_rejects_wrong_types),
        cmocka_unit_test(test_parse_login_not_json_is_transient),
        cmocka_unit_test(test_parse_login_limits),
        cmocka_unit_test(test_parse_lookup_num_uses),
        cmocka_unit_test(test_parse_lookup_rejects_bad_answers),
        cmocka_unit_test(test_sign_body_fields_as_cert_manager_sends),
        cmocka_unit_test(test_sign_body_without_cn_or_sans),
        cmocka_unit_test(test_sign_body_other_sans),
        cmocka_unit_test(test_sign_body_rejects_bad_ttl_and_commas),
        cmocka_unit_test(test_parse_sign_bundle_normalises),
        cmocka_unit_test(test_parse_sign_optional_chain),
        cmocka_unit_test(test_parse_sign_broken_chain_fails_normalise),
        cmocka_unit_test(test_parse_sign_rejects_missing_and_mistyped),
        cmocka_unit_test(test_parse_sign_huge_chain_is_too_big),
        cmocka_unit_test(test_errors_joined),
        cmocka_unit_test(test_errors_escapes_and_skips_non_strings),
        cmocka_unit_test(test_errors_none_or_not_json),
        cmocka_unit_test(test_errors_bounded),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
