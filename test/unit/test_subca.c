/* test_subca.c -- the Vault sub-CA's pure parts: spec.vault.subCA's rules, defaults and
 * messages, the request body, Vault's answer, the checks of a returned sub-CA, leaf truncation. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "signers/localca.h"
#include "signers/subcaspec.h"
#include "signers/vaultspec.h"
#include "testpki.h"
#include "x509/chain.h"

static time_t NOW;

#define SUB_BC "critical,CA:TRUE,pathlen:0"
#define SUB_KU "critical,keyCertSign,cRLSign"

/* ---- spec ---- */

/* Parses spec.vault.subCA given as JSON text; returns 0/-1, the spec in *out, the error in e. */
static int parse(const char *json, struct subca_spec **out, struct err *e)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    err_clear(e);
    int rc = subcaspec_parse(o, out, e);
    cJSON_Delete(o);
    return rc;
}

static void expect_refused(const char *json, const char *msg)
{
    struct subca_spec *s = NULL;
    struct err e;
    assert_int_equal(parse(json, &s, &e), -1);
    assert_null(s);
    assert_int_equal(e.kind, ERR_INVALID);
    if (strstr(e.msg, msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, msg);
}

static void test_spec_defaults(void **state)
{
    (void)state;
    struct subca_spec *s = NULL;
    struct err e;
    assert_int_equal(parse("{\"path\":\"pki_int/issuer/ember/sign-intermediate\"}", &s, &e), 0);
    assert_non_null(s);
    assert_string_equal(s->path, "pki_int/issuer/ember/sign-intermediate");
    assert_int_equal(s->key_alg, SUBCASPEC_ECDSA_P256);
    assert_int_equal(s->duration_s, 168 * 3600);
    assert_string_equal(s->duration_text, "168h");
    assert_int_equal(s->max_leaf_s, 24 * 3600);
    assert_int_equal(s->renew_before_s, 56 * 3600); /* max(168h/3, 24h+1h) */
    assert_string_equal(s->cn_prefix, "Ember sub-CA");
    assert_int_equal(s->n_orgs + s->n_ous + s->n_domains, 0);
    assert_null(s->bundle_name);
    assert_false(s->require_locked);
    struct subca_spec *d = subcaspec_dup(s);
    assert_string_equal(d->path, s->path);
    subcaspec_free(d);
    subcaspec_free(s);
}

static void test_spec_values(void **state)
{
    (void)state;
    struct subca_spec *s = NULL;
    struct err e;
    assert_int_equal(
        parse("{\"enabled\":true,\"path\":\"pki_int/root/sign-intermediate\",\"keyAlgorithm\":"
              "\"Ed25519\",\"duration\":\"20s\",\"maxLeafDuration\":\"5s\",\"commonNamePrefix\":"
              "\"Mesh CA\",\"subject\":{\"organizations\":[\"Acme\"],\"organizationalUnits\":["
              "\"Mesh\",\"Ops\"]},\"permittedDNSDomains\":[\"example.com\",\".svc.cluster.local\"],"
              "\"caBundleSecretRef\":{\"name\":\"root\"},\"requireLockedMemory\":true}",
              &s, &e),
        0);
    assert_int_equal(s->key_alg, SUBCASPEC_ED25519);
    assert_int_equal(s->duration_s, 20);
    assert_int_equal(s->max_leaf_s, 5);
    /* max(20/3, min(5+3600, (20+5)/2)) = 12: maxLeafDuration+1h does not fit below duration */
    assert_int_equal(s->renew_before_s, 12);
    assert_string_equal(s->cn_prefix, "Mesh CA");
    assert_int_equal(s->n_orgs, 1);
    assert_int_equal(s->n_ous, 2);
    assert_int_equal(s->n_domains, 2);
    assert_string_equal(s->bundle_name, "root");
    assert_string_equal(s->bundle_key, "ca.crt");
    assert_true(s->require_locked);

    char *body = subcaspec_request_body(s, "CSRPEM", "Mesh CA pod-1");
    cJSON *o = cJSON_Parse(body);
    assert_non_null(o);
    const char *want[][2] = {{"csr", "CSRPEM"},
                             {"common_name", "Mesh CA pod-1"},
                             {"ttl", "20s"},
                             {"max_path_length", "0"},
                             {"exclude_cn_from_sans", "true"},
                             {"format", "pem"},
                             {"use_csr_values", "false"},
                             {"organization", "Acme"},
                             {"ou", "Mesh,Ops"},
                             {"permitted_dns_domains", "example.com,.svc.cluster.local"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, want[i][0]);
        assert_true(cJSON_IsString(v));
        assert_string_equal(v->valuestring, want[i][1]);
    }
    assert_int_equal(cJSON_GetArraySize(o), 10);
    cJSON_Delete(o);
    free(body);
    subcaspec_free(s);
}

static void test_spec_disabled(void **state)
{
    (void)state;
    struct subca_spec *s = (struct subca_spec *)1;
    struct err e;
    assert_int_equal(parse("{\"enabled\":false}", &s, &e), 0);
    assert_null(s);
}

static void test_spec_refusals(void **state)
{
    (void)state;
    expect_refused("{}", "spec.vault.subCA.path: missing");
    expect_refused("{\"path\":\"pki_int/sign/web\"}", "must end in /sign-intermediate");
    expect_refused("{\"path\":\"/pki_int/root/sign-intermediate\"}", "is used after /v1/");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"ttl\":\"1h\"}",
                   "spec.vault.subCA.ttl: unknown field");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"keyAlgorithm\":\"DSA\"}",
                   "spec.vault.subCA.keyAlgorithm: \"DSA\" is not one of");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"enabled\":\"yes\"}",
                   "spec.vault.subCA.enabled: expected a boolean");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"duration\":\"7d\"}",
                   "spec.vault.subCA.duration");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"duration\":\"0s\"}",
                   "must be positive");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"duration\":\"24h\"}",
                   "maxLeafDuration (86400s) must be shorter than duration (86400s)");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"renewBefore\":\"1h\"}",
                   "renewBefore (3600s) must be at least maxLeafDuration (86400s)");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"renewBefore\":\"200h\"}",
                   "renewBefore (720000s) must be shorter than duration (604800s)");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"permittedDNSDomains\":[\"a,b\"]}",
                   "permittedDNSDomains[0]: \"a,b\" is not a DNS name");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"permittedDNSDomains\":[\"\"]}",
                   "permittedDNSDomains[0]: empty");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"commonNamePrefix\":\"\"}",
                   "commonNamePrefix: expected 1 to 32 printable ASCII characters");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"subject\":{\"organization\":[]}}",
                   "spec.vault.subCA.subject.organization: unknown field");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"subject\":{\"organizations\":["
                   "\"A, Inc.\"]}}",
                   "subject.organizations: \"A, Inc.\" has a comma");
    expect_refused("{\"path\":\"pki/root/sign-intermediate\",\"caBundleSecretRef\":{}}",
                   "spec.vault.subCA.caBundleSecretRef.name: missing");
}

/* spec.vault with subCA: path is no longer required; without subCA (or disabled) it is. */
static void test_vault_spec_path_rule(void **state)
{
    (void)state;
#define VAULT_JSON                                                                                 \
    "{\"server\":\"https://v:8200\",%s\"auth\":{\"appRole\":{\"roleId\":\"r\",\"secretRef\":{"     \
    "\"name\":\"s\",\"key\":\"k\"}}}}"
    const char *cases[][2] = {
        {"\"subCA\":{\"path\":\"pki/root/sign-intermediate\"},", NULL},
        {"\"subCA\":{\"enabled\":false},", "Vault server and path are required fields"},
        {"", "Vault server and path are required fields"},
    };
    for (size_t i = 0; i < 3; i++) {
        char json[1024];
        snprintf(json, sizeof(json), VAULT_JSON, cases[i][0]);
        cJSON *o = cJSON_Parse(json);
        void *spec = NULL;
        struct err e = {0};
        int rc = vault_row.parse(o, &spec, &e);
        cJSON_Delete(o);
        if (cases[i][1] == NULL) {
            assert_int_equal(rc, 0);
            assert_non_null(((struct vault_spec *)spec)->subca);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(e.msg, cases[i][1]);
        }
        vault_row.free_spec(spec);
    }
}

static void test_common_name(void **state)
{
    (void)state;
    char cn[SUBCASPEC_CN_MAX + 1];
    subcaspec_common_name("Ember sub-CA", "ember-7f9c", 3, cn, sizeof(cn));
    assert_string_equal(cn, "Ember sub-CA ember-7f9c-3");
    subcaspec_common_name("Ember sub-CA",
                          "a-very-long-host-name-that-goes-on-and-on-and-on-forever", 12, cn,
                          sizeof(cn));
    assert_int_equal(strlen(cn), SUBCASPEC_CN_MAX);
    assert_string_equal(cn + strlen(cn) - 3, "-12");
}

/* ---- verification ---- */

struct pki {
    EVP_PKEY *root_key, *inter_key, *sub_key;
    X509 *root, *inter;
};

static void pki_make(struct pki *p)
{
    p->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p->inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p->sub_key = subcaspec_keygen(SUBCASPEC_ECDSA_P256, NULL);
    assert_non_null(p->sub_key);
    p->root = make_ca_cert("Root", p->root_key, NULL, NULL, "critical,CA:TRUE", 1);
    p->inter = make_ca_cert("Inter", p->inter_key, p->root, p->root_key, "critical,CA:TRUE", 2);
}

static void pki_free(struct pki *p)
{
    X509_free(p->root);
    X509_free(p->inter);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->inter_key);
    EVP_PKEY_free(p->sub_key);
}

/* A sub-CA for key, signed by inter, basicConstraints bc, keyUsage ku (NULL: none),
 * nameConstraints nc (NULL: none), valid from an hour ago for life seconds. */
static X509 *make_sub_nc(struct pki *p, EVP_PKEY *key, const char *bc, const char *ku, long life,
                         const char *nc)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 77);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Ember sub-CA h-1", -1,
                               -1, 0);
    X509_set_subject_name(x, n);
    X509_NAME_free(n);
    X509_set_issuer_name(x, X509_get_subject_name(p->inter));
    X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &NOW);
    X509_time_adj_ex(X509_getm_notAfter(x), 0, life, &NOW);
    X509_set_pubkey(x, key);
    add_ext(x, p->inter, NID_basic_constraints, bc);
    if (ku != NULL)
        add_ext(x, p->inter, NID_key_usage, ku);
    if (nc != NULL)
        add_ext(x, p->inter, NID_name_constraints, nc);
    add_ext(x, p->inter, NID_subject_key_identifier, "hash");
    add_ext(x, p->inter, NID_authority_key_identifier, "keyid:always");
    assert_true(X509_sign(x, p->inter_key, EVP_sha256()) > 0);
    return x;
}

static X509 *make_sub(struct pki *p, EVP_PKEY *key, const char *bc, const char *ku, long life)
{
    return make_sub_nc(p, key, bc, ku, life, NULL);
}

/* subcaspec_verify of sub through inter to root (or to anchor instead); the error in e. */
static int verify(struct pki *p, X509 *sub, EVP_PKEY *key, X509 *anchor, long long max_leaf,
                  time_t *na, struct err *e)
{
    STACK_OF(X509) *up = sk_X509_new_null(), *anchors = sk_X509_new_null(), *chain = NULL;
    sk_X509_push(up, p->inter);
    if (anchor != NULL)
        sk_X509_push(anchors, anchor);
    err_clear(e);
    int rc = subcaspec_verify(sub, up, anchors, key, NOW, max_leaf, na, &chain, e);
    if (rc == 0) {
        assert_int_equal(sk_X509_num(chain), 3);
        assert_int_equal(X509_cmp(sk_X509_value(chain, 2), p->root), 0);
    }
    sk_X509_pop_free(chain, X509_free);
    sk_X509_free(up);
    sk_X509_free(anchors);
    return rc;
}

static void expect_verify(struct pki *p, X509 *sub, EVP_PKEY *key, X509 *anchor, long long max_leaf,
                          const char *msg)
{
    time_t na = 0;
    struct err e;
    int rc = verify(p, sub, key, anchor, max_leaf, &na, &e);
    X509_free(sub);
    if (msg == NULL) {
        assert_int_equal(rc, 0);
        return;
    }
    assert_int_equal(rc, -1);
    if (strstr(e.msg, msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, msg);
}

static void test_verify(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    time_t na = 0;
    struct err e;
    X509 *good = make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 7 * 86400);
    assert_int_equal(verify(&p, good, p.sub_key, p.root, 86400, &na, &e), 0);
    assert_int_equal(na, NOW + 7 * 86400); /* the sub-CA's own notAfter: the earliest */
    X509_free(good);

    expect_verify(&p, make_sub(&p, p.sub_key, "critical,CA:FALSE", SUB_KU, 86400 * 7), p.sub_key,
                  p.root, 86400, "is not a CA");
    expect_verify(&p, make_sub(&p, p.sub_key, "critical,CA:TRUE", SUB_KU, 86400 * 7), p.sub_key,
                  p.root, 86400, "has no pathLen limit");
    expect_verify(&p, make_sub(&p, p.sub_key, "critical,CA:TRUE,pathlen:1", SUB_KU, 86400 * 7),
                  p.sub_key, p.root, 86400, "a pathLen above 0");
    expect_verify(&p, make_sub(&p, p.sub_key, SUB_BC, "critical,digitalSignature", 86400 * 7),
                  p.sub_key, p.root, 86400, "lacks keyUsage keyCertSign");
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    expect_verify(&p, make_sub(&p, other, SUB_BC, SUB_KU, 86400 * 7), p.sub_key, p.root, 86400,
                  "not for the key Ember sent");
    EVP_PKEY_free(other);
    /* Another root: the chain does not verify. */
    EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *root2 = make_ca_cert("Root", k2, NULL, NULL, "critical,CA:TRUE", 9);
    expect_verify(&p, make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 86400 * 7), p.sub_key, root2, 86400,
                  "does not verify to the trust anchor");
    X509_free(root2);
    EVP_PKEY_free(k2);
    expect_verify(&p, make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 86400 * 7), p.sub_key, NULL, 86400,
                  "caBundleSecretRef");
    expect_verify(&p, make_sub(&p, p.sub_key, SUB_BC, SUB_KU, -60), p.sub_key, p.root, 86400,
                  "certificate has expired");
    expect_verify(&p, make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 3600), p.sub_key, p.root, 86400,
                  "not more than maxLeafDuration (86400s)");
    /* Vault's intermediate expires in 3 days, before the 7-day sub-CA: its notAfter wins... */
    X509_time_adj_ex(X509_getm_notAfter(p.inter), 0, 3 * 86400, &NOW);
    assert_true(X509_sign(p.inter, p.root_key, EVP_sha256()) > 0);
    good = make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 7 * 86400);
    assert_int_equal(verify(&p, good, p.sub_key, p.root, 86400, &na, &e), 0);
    assert_int_equal(na, NOW + 3 * 86400);
    X509_free(good);
    /* ... also against maxLeafDuration: 3 days left is not more than 4 days. */
    expect_verify(&p, make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 7 * 86400), p.sub_key, p.root,
                  4 * 86400, "not more than maxLeafDuration (345600s)");
    pki_free(&p);
}

/* A sub-CA that passed the checks signs leaves through localca_from_parts, chain and anchor
 * as for a Secret's CA. */
static void test_from_parts(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    X509 *sub = make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 7 * 86400);
    STACK_OF(X509) *up = sk_X509_new_null(), *roots = sk_X509_new_null();
    sk_X509_push(up, p.inter);
    sk_X509_push(roots, p.root);
    struct err e = {0};
    struct localca *ca = localca_from_parts(sub, up, p.sub_key, roots, NOW, &e);
    assert_non_null(ca);
    assert_int_equal(localca_not_after(ca), NOW + 7 * 86400);
    localca_free(ca);
    /* A key that is not the certificate's is refused as localca_load refuses it. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_null(localca_from_parts(sub, up, other, roots, NOW, &e));
    assert_non_null(strstr(e.msg, "does not match"));
    EVP_PKEY_free(other);
    sk_X509_free(up);
    sk_X509_free(roots);
    X509_free(sub);
    pki_free(&p);
}

static void test_csr(void **state)
{
    (void)state;
    struct subca_spec *s = NULL;
    struct err e;
    assert_int_equal(parse("{\"path\":\"p/root/sign-intermediate\",\"subject\":{\"organizations\":"
                           "[\"Acme\"],\"organizationalUnits\":[\"Mesh\"]}}",
                           &s, &e),
                     0);
    for (int alg = SUBCASPEC_ECDSA_P256; alg <= SUBCASPEC_ED25519; alg++) {
        if (alg == SUBCASPEC_RSA3072 || alg == SUBCASPEC_RSA4096)
            continue; /* slow to generate; the same code as RSA2048 */
        EVP_PKEY *k = subcaspec_keygen(alg, &e);
        assert_non_null(k);
        char *pem = subcaspec_csr_pem(s, k, "Ember sub-CA h-1", &e);
        assert_non_null(pem);
        BIO *b = BIO_new_mem_buf(pem, -1);
        X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        assert_non_null(req);
        assert_int_equal(X509_REQ_verify(req, k), 1);
        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
        assert_int_equal(sk_X509_EXTENSION_num(exts), 0); /* no SAN, nothing else */
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        char subj[256];
        X509_NAME_oneline(X509_REQ_get_subject_name(req), subj, sizeof(subj));
        assert_string_equal(subj, "/O=Acme/OU=Mesh/CN=Ember sub-CA h-1");
        X509_REQ_free(req);
        BIO_free(b);
        free(pem);
        EVP_PKEY_free(k);
    }
    subcaspec_free(s);
}

static void test_answer(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    X509 *sub = make_sub(&p, p.sub_key, SUB_BC, SUB_KU, 7 * 86400);
    char *s_pem = cert_pem(sub), *i_pem = cert_pem(p.inter), *r_pem = cert_pem(p.root);
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(data, "certificate", s_pem);
    cJSON_AddStringToObject(data, "issuing_ca", i_pem);
    const char *chain[] = {s_pem, i_pem, r_pem};
    cJSON_AddItemToObject(data, "ca_chain", cJSON_CreateStringArray(chain, 3));
    cJSON *w = cJSON_AddArrayToObject(o, "warnings");
    cJSON_AddItemToArray(w, cJSON_CreateString("TTL is longer than permitted maxTTL"));
    char *body = cJSON_PrintUnformatted(o);
    struct subcaspec_answer a;
    struct err e = {0};
    assert_int_equal(subcaspec_read_answer(body, strlen(body), &a, &e), 0);
    assert_int_equal(X509_cmp(a.cert, sub), 0);
    assert_int_equal(sk_X509_num(a.upstream), 1); /* inter once, the sub-CA itself dropped */
    assert_int_equal(sk_X509_num(a.roots), 1);
    assert_string_equal(a.warnings, "TTL is longer than permitted maxTTL");
    subcaspec_answer_free(&a);
    const char *bad[] = {"{}", "{\"data\":{}}", "{\"data\":{\"certificate\":\"x\"}}",
                         "{\"data\":{\"certificate\":\"\"}}"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(subcaspec_read_answer(bad[i], strlen(bad[i]), &a, &e), -1);
        subcaspec_answer_free(&a);
    }
    cJSON_free(body);
    cJSON_Delete(o);
    free(s_pem);
    free(i_pem);
    free(r_pem);
    X509_free(sub);
    pki_free(&p);
}

static void test_leaf_duration(void **state)
{
    (void)state;
    bool cut = true;
    assert_int_equal(subcaspec_leaf_duration(3600, NOW, 86400, NOW + 7 * 86400, &cut), 3600);
    assert_false(cut);
    assert_int_equal(subcaspec_leaf_duration(90 * 86400, NOW, 86400, NOW + 7 * 86400, &cut), 86400);
    assert_true(cut);
    assert_int_equal(subcaspec_leaf_duration(86400, NOW, 86400, NOW + 600, &cut), 600);
    assert_true(cut);
}

/* The renewal time: renewBefore ahead of notAfter normally; a sub-CA Vault cut below renewBefore
 * (life between maxLeafDuration and renewBefore) is renewed halfway to where leaves would be cut,
 * never at once (that was a request per second). */
static void test_renew_at(void **state)
{
    (void)state;
    bool sh = true;
    /* 1h sub-CA, renewBefore 35m, maxLeaf 10m: at notAfter - 35m (+ jitter). */
    assert_int_equal(subcaspec_renew_at(NOW + 3600, NOW, 2100, 600, 0, 5, &sh), NOW + 1500);
    assert_false(sh);
    assert_int_equal(subcaspec_renew_at(NOW + 3600, NOW, 2100, 600, -30, 5, &sh), NOW + 1470);
    /* A jitter past notAfter - maxLeaf (renewBefore = maxLeafDuration): at notAfter - maxLeaf. */
    assert_int_equal(subcaspec_renew_at(NOW + 3600, NOW, 600, 600, 60, 5, &sh), NOW + 3000);
    assert_false(sh);
    /* Vault cut it to 30m (< renewBefore 35m): halfway to notAfter - maxLeaf (20m): 10m. */
    assert_int_equal(subcaspec_renew_at(NOW + 1800, NOW, 2100, 600, 0, 5, &sh), NOW + 600);
    assert_true(sh);
    /* Just above maxLeaf: the backoff minimum, not now + 0 or + 1. */
    assert_int_equal(subcaspec_renew_at(NOW + 603, NOW, 2100, 600, 0, 5, &sh), NOW + 5);
    assert_true(sh);
    /* Exactly at the renewal point counts as past. */
    assert_int_equal(subcaspec_renew_at(NOW + 2100, NOW, 2100, 600, 0, 5, &sh), NOW + 750);
    assert_true(sh);
}

/* The sub-CA must carry exactly the permittedDNSDomains asked for, critical, nothing excluded. */
static void test_constraints(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    char *one[] = {"example.com"}, *two[] = {"example.com", ".svc.cluster.local"};
    struct {
        const char *nc;
        char **d;
        size_t n;
        const char *msg; /* NULL: accepted */
    } cases[] = {
        {"critical,permitted;DNS:example.com", one, 1, NULL},
        {"critical,permitted;DNS:EXAMPLE.com", one, 1, NULL},
        {"critical,permitted;DNS:.svc.cluster.local,permitted;DNS:example.com", two, 2, NULL},
        {NULL, one, 0, NULL}, /* none asked: nothing checked */
        {"critical,permitted;DNS:example.org", one, 0, NULL},
        {NULL, one, 1, "has no nameConstraints"},
        {"permitted;DNS:example.com", one, 1, "not critical"},
        {"critical,permitted;DNS:example.com,excluded;DNS:a.example.com", one, 1, "excluded"},
        {"critical,permitted;DNS:example.com,permitted;DNS:example.org", one, 1,
         "permits names outside"},
        {"critical,permitted;DNS:example.com,permitted;IP:10.0.0.0/255.0.0.0", one, 1,
         "permits names outside"},
        {"critical,permitted;DNS:example.com", two, 2, "lacks some of"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *sub = make_sub_nc(&p, p.sub_key, SUB_BC, SUB_KU, 86400, cases[i].nc);
        struct err e = {0};
        int rc = subcaspec_check_constraints(sub, cases[i].d, cases[i].n, &e);
        X509_free(sub);
        if (cases[i].msg == NULL && rc != 0)
            fail_msg("case %zu refused: %s", i, e.msg);
        if (cases[i].msg != NULL && (rc != -1 || strstr(e.msg, cases[i].msg) == NULL))
            fail_msg("case %zu: rc %d, message \"%s\" lacks \"%s\"", i, rc, e.msg, cases[i].msg);
    }
    pki_free(&p);
}

/* A leaf with SAN dns (NULL: none) and CN cn, self-signed (only its names matter here). */
static X509 *make_leaf(EVP_PKEY *key, const char *cn, const char *dns)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &NOW);
    X509_time_adj_ex(X509_getm_notAfter(x), 0, 3600, &NOW);
    X509_set_pubkey(x, key);
    if (dns != NULL) {
        char san[300];
        snprintf(san, sizeof(san), "DNS:%s", dns);
        add_ext(x, x, NID_subject_alt_name, san);
    }
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

/* A leaf is checked against the constraints of every certificate of the chain: Vault's
 * upstream issuer's too, and a DNS-like CN without SAN. */
static void test_check_leaf(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    /* The sub-CA allows example.com and example.org; Vault's issuer above it only example.com. */
    X509 *sub = make_sub_nc(&p, p.sub_key, SUB_BC, SUB_KU, 86400,
                            "critical,permitted;DNS:example.com,permitted;DNS:example.org");
    X509 *up = make_sub_nc(&p, p.inter_key, "critical,CA:TRUE", SUB_KU, 86400,
                           "critical,permitted;DNS:example.com");
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, sub);
    sk_X509_push(chain, up);
    sk_X509_push(chain, p.root);
    struct {
        const char *cn, *dns;
        bool ok;
    } cases[] = {
        {"www.example.com", "www.example.com", true},
        {"web", "api.example.com", true},
        {"www.example.com", NULL, true},
        {"Web server", NULL, true},                    /* not DNS-like: not a name to constrain */
        {"www.example.org", "www.example.org", false}, /* the sub-CA allows it, upstream not */
        {"www.example.net", "www.example.net", false},
        {"www.example.org", NULL, false}, /* a DNS-like CN without SAN */
        {"x", "www.example.net", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *leaf = make_leaf(p.sub_key, cases[i].cn, cases[i].dns);
        struct err e = {0};
        int rc = chain_check_names(leaf, chain, &e);
        X509_free(leaf);
        if (cases[i].ok && rc != 0)
            fail_msg("case %zu refused: %s", i, e.msg);
        if (!cases[i].ok && (rc != -1 || e.kind != ERR_PERMANENT ||
                             strstr(e.msg, "outside the name constraints of") == NULL))
            fail_msg("case %zu: rc %d, \"%s\"", i, rc, e.msg);
    }
    sk_X509_free(chain);
    X509_free(sub);
    X509_free(up);
    pki_free(&p);
}

static void test_dns_permitted(void **state)
{
    (void)state;
    char *d[] = {"example.com", ".svc.cluster.local"};
    assert_true(subcaspec_dns_permitted(d, 2, "example.com"));
    assert_true(subcaspec_dns_permitted(d, 2, "www.Example.COM"));
    assert_true(subcaspec_dns_permitted(d, 2, "a.b.example.com"));
    assert_false(subcaspec_dns_permitted(d, 2, "badexample.com"));
    assert_false(subcaspec_dns_permitted(d, 2, "example.org"));
    assert_true(subcaspec_dns_permitted(d, 2, "api.ns.svc.cluster.local"));
    assert_false(subcaspec_dns_permitted(d, 2, "svc.cluster.local")); /* leading '.': below only */
    assert_true(subcaspec_dns_permitted(d, 0, "anything.org"));
}

int main(void)
{
    NOW = time(NULL);
    testpki_now = &NOW;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_defaults),
        cmocka_unit_test(test_spec_values),
        cmocka_unit_test(test_spec_disabled),
        cmocka_unit_test(test_spec_refusals),
        cmocka_unit_test(test_vault_spec_path_rule),
        cmocka_unit_test(test_common_name),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_from_parts),
        cmocka_unit_test(test_csr),
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_leaf_duration),
        cmocka_unit_test(test_dns_permitted),
        cmocka_unit_test(test_renew_at),
        cmocka_unit_test(test_constraints),
        cmocka_unit_test(test_check_leaf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
