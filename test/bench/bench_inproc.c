/* bench_inproc.c -- raw OpenSSL sign/verify rates and Ember's in-process pipeline rate, with
 * the pipeline printed as a ratio to the crypto bound measured in the same run. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/b64.h"
#include "base/mem.h"
#include "decide/cr.h"
#include "decide/pipeline.h"
#include "decide/policy.h"
#include "front/api.h"
#include "issuers/issuer.h"
#include "standalone/store.h"
#include "x509/csr.h"

#define BENCH_MSG_BYTES 300
#define BENCH_NCSR 16 /* distinct CSRs cycled through, so nothing is cached by accident */

enum bench_key { BENCH_EC256, BENCH_RSA2048, BENCH_NKEYS };
static const char *const bench_key_name[BENCH_NKEYS] = {"EC P-256", "RSA 2048"};
static const char *const bench_key_tag[BENCH_NKEYS] = {"ec256", "rsa2048"};

static double crypto_seconds = 2.0, pipeline_seconds = 2.0, part_seconds = 0.5;
static FILE *results; /* key=value lines for run.sh */

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_die(const char *what)
{
    fprintf(stderr, "bench_inproc: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static EVP_PKEY *bench_keygen(enum bench_key k)
{
    EVP_PKEY *key = k == BENCH_EC256 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                                     : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (key == NULL)
        bench_die("key generation failed");
    return key;
}

static char *bench_bio_take(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static void bench_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
        bench_die("cannot add a CA extension");
    X509_EXTENSION_free(ext);
}

/* A CA certificate for key, issued by issuer/ikey (self-signed when issuer is NULL). */
static X509 *bench_ca_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey)
{
    X509 *x = X509_new();
    unsigned char serial[8];
    if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
        bench_die("X509_new");
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400) == NULL || X509_set_pubkey(x, key) != 1)
        bench_die("cannot build a CA certificate");
    BN_free(bn);
    bench_add_ext(x, issuer, NID_basic_constraints,
                  issuer ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE");
    bench_add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    bench_add_ext(x, issuer, NID_subject_key_identifier, "hash");
    bench_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    if (X509_sign(x, issuer ? ikey : key, EVP_sha256()) <= 0)
        bench_die("cannot sign a CA certificate");
    return x;
}

static char *bench_cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_X509(b, x) != 1)
        bench_die("PEM_write_bio_X509");
    return bench_bio_take(b);
}

static char *bench_csr_pem(EVP_PKEY *key, int i)
{
    char cn[64], san[80];
    snprintf(cn, sizeof(cn), "bench-%d.example.com", i);
    snprintf(san, sizeof(san), "DNS:%s", cn);
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    if (req == NULL || exts == NULL || ext == NULL || X509_REQ_set_version(req, 0) != 1 ||
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1 || sk_X509_EXTENSION_push(exts, ext) == 0 ||
        X509_REQ_add_extensions(req, exts) != 1 || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        bench_die("cannot build a CSR");
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_X509_REQ(b, req) != 1)
        bench_die("PEM_write_bio_X509_REQ");
    X509_REQ_free(req);
    return bench_bio_take(b);
}

/* ---- 1. raw OpenSSL ---------------------------------------------------------------------- */

struct crypto_rate {
    double sign_s, verify_s; /* operations per second */
};
static struct crypto_rate crypto[BENCH_NKEYS];

/* One operation as a signer of distinct messages must do it: a fresh context, init, sign. */
static size_t crypto_sign_once(EVP_PKEY *key, const unsigned char *msg, unsigned char *sig,
                               size_t cap)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = cap;
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &len, msg, BENCH_MSG_BYTES) != 1)
        bench_die("EVP_DigestSign failed");
    EVP_MD_CTX_free(ctx);
    return len;
}

static void crypto_verify_once(EVP_PKEY *key, const unsigned char *msg, const unsigned char *sig,
                               size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestVerify(ctx, sig, len, msg, BENCH_MSG_BYTES) != 1)
        bench_die("EVP_DigestVerify failed");
    EVP_MD_CTX_free(ctx);
}

static void crypto_run(enum bench_key k)
{
    EVP_PKEY *key = bench_keygen(k);
    unsigned char msg[BENCH_MSG_BYTES], sig[1024];
    if (RAND_bytes(msg, sizeof(msg)) != 1)
        bench_die("RAND_bytes");
    size_t len = 0;
    long n = 0;
    double t0 = bench_now(), t = t0;
    for (; t - t0 < crypto_seconds; n++) {
        msg[n % BENCH_MSG_BYTES]++; /* a new message every time */
        len = crypto_sign_once(key, msg, sig, sizeof(sig));
        t = bench_now();
    }
    crypto[k].sign_s = (double)n / (t - t0);
    n = 0;
    t0 = t = bench_now();
    for (; t - t0 < crypto_seconds; n++) {
        crypto_verify_once(key, msg, sig, len);
        t = bench_now();
    }
    crypto[k].verify_s = (double)n / (t - t0);
    EVP_PKEY_free(key);
    printf("  %-10s sign %9.0f/s (%6.1f us)   verify %9.0f/s (%6.1f us)\n", bench_key_name[k],
           crypto[k].sign_s, 1e6 / crypto[k].sign_s, crypto[k].verify_s, 1e6 / crypto[k].verify_s);
    fprintf(results, "crypto_%s_sign=%.0f\ncrypto_%s_verify=%.0f\n", bench_key_tag[k],
            crypto[k].sign_s, bench_key_tag[k], crypto[k].verify_s);
    fflush(stdout);
}

/* ---- 2. the pipeline --------------------------------------------------------------------- */

static void bench_report(void *ud, const char *object, const char *problem)
{
    (void)ud;
    fprintf(stderr, "bench_inproc: store: %s: %s\n", object, problem);
}

static cJSON *bench_secret(enum bench_key ca_key)
{
    EVP_PKEY *root_key = bench_keygen(ca_key), *sub_key = bench_keygen(ca_key);
    X509 *root = bench_ca_cert("Ember bench root", root_key, NULL, NULL);
    X509 *sub = bench_ca_cert("Ember bench sub-CA", sub_key, root, root_key);
    char *crt = bench_cert_pem(sub), *ca = bench_cert_pem(root);
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_PKCS8PrivateKey(b, sub_key, NULL, NULL, 0, NULL, NULL) != 1)
        bench_die("PEM_write_bio_PKCS8PrivateKey");
    char *key = bench_bio_take(b);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "apiVersion", "v1");
    cJSON_AddStringToObject(s, "kind", "Secret");
    cJSON_AddStringToObject(s, "type", "kubernetes.io/tls");
    cJSON *meta = cJSON_AddObjectToObject(s, "metadata");
    cJSON_AddStringToObject(meta, "name", "dev-ca");
    cJSON_AddStringToObject(meta, "namespace", "default");
    cJSON *data = cJSON_AddObjectToObject(s, "data");
    const char *names[3] = {"tls.crt", "tls.key", "ca.crt"};
    const char *vals[3] = {crt, key, ca};
    for (int i = 0; i < 3; i++) {
        char *v = b64_encode(vals[i], strlen(vals[i]));
        cJSON_AddStringToObject(data, names[i], v);
        free(v);
    }
    xfree_secret(key, strlen(key));
    free(crt);
    free(ca);
    X509_free(root);
    X509_free(sub);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(sub_key);
    return s;
}

static cJSON *bench_cr_json(const char *csr_pem, int i)
{
    char name[32];
    snprintf(name, sizeof(name), "bench-%d", i);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", CR_API_VERSION);
    cJSON_AddStringToObject(o, "kind", CR_KIND);
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", "default");
    cJSON_AddStringToObject(meta, "creationTimestamp", "2024-01-01T00:00:00Z");
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    char *b64 = b64_encode(csr_pem, strlen(csr_pem));
    cJSON_AddStringToObject(spec, "request", b64);
    free(b64);
    cJSON *ref = cJSON_AddObjectToObject(spec, "issuerRef");
    cJSON_AddStringToObject(ref, "group", ISSUER_GROUP);
    cJSON_AddStringToObject(ref, "kind", "ClusterIssuer");
    cJSON_AddStringToObject(ref, "name", "dev-ca");
    return o;
}

struct pipe_ctx {
    struct store *st;
    struct pipeline_env env;
    cJSON *crs[BENCH_NCSR];
    char *b64[BENCH_NCSR];
    struct csr *csrs[BENCH_NCSR];
    const struct policy *policy;
    struct issuer *issuer;
    struct api api;
    char *firefly[BENCH_NCSR]; /* {"request": PEM} bodies */
};

/* Runs fn(ctx, i) for seconds; returns operations per second. */
static double bench_loop(void (*fn)(struct pipe_ctx *, long), struct pipe_ctx *c, double seconds)
{
    long n = 0;
    double t0 = bench_now(), t = t0;
    for (; t - t0 < seconds; n++) {
        fn(c, n);
        t = bench_now();
    }
    return (double)n / (t - t0);
}

static const char *const bench_annotations[] = {PIPELINE_POLICY_ANNOTATION};

static void step_pipeline(struct pipe_ctx *c, long i)
{
    struct cr cr;
    struct err e = {0};
    if (cr_from_json(c->crs[i % BENCH_NCSR], &cr, &e) != 0)
        bench_die(e.msg);
    struct pipeline_result res;
    pipeline_run(&c->env, &cr, &res);
    if (res.state != PIPELINE_STATE_ISSUED || cr.certificate == NULL) {
        fprintf(stderr, "bench_inproc: the pipeline did not issue (state %d): %s\n", res.state,
                res.n_events ? res.events[res.n_events - 1].message : "");
        exit(1);
    }
    cr_free(&cr);
}

static void step_cr_from_json(struct pipe_ctx *c, long i)
{
    struct cr cr;
    struct err e = {0};
    if (cr_from_json(c->crs[i % BENCH_NCSR], &cr, &e) != 0)
        bench_die(e.msg);
    cr_free(&cr);
}

static void step_csr_parse(struct pipe_ctx *c, long i)
{
    const char *s = c->b64[i % BENCH_NCSR];
    unsigned char *pem = NULL;
    size_t len = 0;
    struct err e = {0};
    if (b64_decode(s, strlen(s), CSR_MAX_BYTES, &pem, &len, &e) != 0)
        bench_die(e.msg);
    struct csr *csr = csr_parse(pem, len, &e);
    free(pem);
    if (csr == NULL || csr_check_request(csr, false, 0, &e) != 0)
        bench_die(e.msg);
    csr_free(csr);
}

static void step_policy(struct pipe_ctx *c, long i)
{
    struct policy_request r = {
        .csr = c->csrs[i % BENCH_NCSR],
        .namespace = "default",
        .issuer_kind = "ClusterIssuer",
        .issuer_name = "dev-ca",
    };
    char msg[POLICY_MAX_MESSAGE];
    if (policy_evaluate(c->policy, &r, msg, sizeof(msg)) != 0)
        bench_die(msg);
}

static void step_sign(struct pipe_ctx *c, long i)
{
    struct sign_params p = {.duration_s = 720 * 3600, .now = c->env.now};
    struct sign_result out = {0};
    struct err e = {0};
    if (c->issuer->signer.ops->sign(c->issuer->signer.ctx, c->csrs[i % BENCH_NCSR], &p, &out, &e) !=
        0)
        bench_die(e.msg);
    char *chain = b64_encode(out.chain_pem, strlen(out.chain_pem));
    char *ca = b64_encode(out.ca_pem, strlen(out.ca_pem));
    free(chain);
    free(ca);
    sign_result_free(&out);
}

/* What POST /v1/certificatesigningrequest does without the HTTP server. */
static void step_firefly(struct pipe_ctx *c, long i)
{
    const char *body = c->firefly[i % BENCH_NCSR];
    struct api_response out;
    api_handle_firefly(&c->api, NULL, "application/json", body, strlen(body), &out);
    if (out.status != 200) {
        fprintf(stderr, "bench_inproc: api_handle_firefly answered %u: %s\n", out.status,
                out.body ? out.body : "");
        exit(1);
    }
    api_response_free(&out);
}

static void pipeline_bench(const char *examples, enum bench_key ca_key, enum bench_key csr_key)
{
    struct pipe_ctx c = {0};
    struct err e = {0};
    c.st = store_new("default");
    if (store_load_path(c.st, examples, &e) != 0)
        bench_die(e.msg);
    cJSON *secret = bench_secret(ca_key);
    if (store_add_object(c.st, secret, "bench", &e) != 0)
        bench_die(e.msg);
    cJSON_Delete(secret);
    store_resolve(c.st, time(NULL), bench_report, NULL);
    c.env = (struct pipeline_env){
        .group = ISSUER_GROUP,
        .policy_annotations = bench_annotations,
        .n_policy_annotations = 1,
        .approve = true,
        .synced = true,
        .now = time(NULL),
        .max_retry_s = 3600,
        .find_issuer = store_find_issuer,
        .find_policy = store_find_policy,
        .ud = c.st,
    };
    c.issuer = store_find_issuer(c.st, "ClusterIssuer", "", "dev-ca");
    const char *invalid = NULL;
    if (c.issuer == NULL || c.issuer->signer.ops == NULL ||
        store_find_policy(c.st, "web", &c.policy, &invalid) != 1)
        bench_die("examples/standalone: ClusterIssuer/dev-ca not ready or policy web missing");
    for (int i = 0; i < BENCH_NCSR; i++) {
        EVP_PKEY *key = bench_keygen(csr_key);
        char *pem = bench_csr_pem(key, i);
        EVP_PKEY_free(key);
        c.crs[i] = bench_cr_json(pem, i);
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "request", pem);
        c.firefly[i] = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        c.b64[i] = b64_encode(pem, strlen(pem));
        c.csrs[i] = csr_parse((const unsigned char *)pem, strlen(pem), &e);
        if (c.csrs[i] == NULL)
            bench_die(e.msg);
        free(pem);
    }
    c.api.env = c.env;
    c.api.cluster_ns = xstrdup("default");
    if (api_set_issuer(&c.api, "ClusterIssuer/dev-ca", &e) != 0)
        bench_die(e.msg);
    step_pipeline(&c, 0); /* warm up, and check it issues */
    step_firefly(&c, 0);

    double rate = bench_loop(step_pipeline, &c, pipeline_seconds);
    double sign = crypto[ca_key].sign_s, verify = crypto[csr_key].verify_s;
    double bound = 1.0 / (1.0 / sign + 1.0 / verify);
    double firefly = bench_loop(step_firefly, &c, pipeline_seconds / 2);
    double parts[4] = {
        bench_loop(step_cr_from_json, &c, part_seconds),
        bench_loop(step_csr_parse, &c, part_seconds),
        bench_loop(step_policy, &c, part_seconds),
        bench_loop(step_sign, &c, part_seconds),
    };
    char tag[64];
    snprintf(tag, sizeof(tag), "%s_%s", bench_key_tag[ca_key], bench_key_tag[csr_key]);
    printf("  CA %-8s CSR %-8s %8.0f certs/s (%6.1f us)  bound %8.0f/s  ratio %.2f\n",
           bench_key_name[ca_key], bench_key_name[csr_key], rate, 1e6 / rate, bound, rate / bound);
    printf("      api_handle_firefly (JSON body in, JSON out, no HTTP): %.0f certs/s (%.1f us)\n",
           firefly, 1e6 / firefly);
    double sum = 0;
    for (int i = 0; i < 4; i++)
        sum += 1e6 / parts[i];
    printf("      per request: cr_from_json %.1f us, b64+csr_parse(+POP verify) %.1f us "
           "[raw verify %.1f], policy_evaluate %.1f us, localca_sign+b64 %.1f us [raw sign %.1f]; "
           "sum %.1f us, rest of pipeline_run %.1f us\n",
           1e6 / parts[0], 1e6 / parts[1], 1e6 / verify, 1e6 / parts[2], 1e6 / parts[3], 1e6 / sign,
           sum, 1e6 / rate - sum);
    fprintf(results, "firefly_%s=%.0f\n", tag, firefly);
    fprintf(results, "pipeline_%s=%.0f\nbound_%s=%.0f\nratio_%s=%.3f\n", tag, rate, tag, bound, tag,
            rate / bound);
    fprintf(results, "us_%s_cr=%.1f\nus_%s_parse=%.1f\nus_%s_policy=%.1f\nus_%s_sign=%.1f\n", tag,
            1e6 / parts[0], tag, 1e6 / parts[1], tag, 1e6 / parts[2], tag, 1e6 / parts[3]);
    fflush(stdout);

    for (int i = 0; i < BENCH_NCSR; i++) {
        cJSON_Delete(c.crs[i]);
        free(c.b64[i]);
        csr_free(c.csrs[i]);
        free(c.firefly[i]);
    }
    api_free(&c.api);
    issuer_unref(c.issuer);
    store_free(c.st);
}

static double bench_env_seconds(const char *name, double def)
{
    const char *v = getenv(name);
    double d = v ? strtod(v, NULL) : def;
    return d > 0 && d <= 60 ? d : def;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: bench_inproc EXAMPLES_DIR RESULTS_FILE [all|crypto|ec]\n"
                        "  ec: only the EC P-256 CA + EC P-256 CSR pipeline (for profiling)\n");
        return 2;
    }
    const char *what = argc == 4 ? argv[3] : "all";
    crypto_seconds = bench_env_seconds("CRYPTO_SECONDS", 2.0);
    pipeline_seconds = bench_env_seconds("PIPELINE_SECONDS", 2.0);
    part_seconds = bench_env_seconds("PART_SECONDS", 0.5);
    results = fopen(argv[2], "a");
    if (results == NULL)
        bench_die("cannot open the results file");
    printf("1. raw OpenSSL, one thread, %g s each: EVP_DigestSign / EVP_DigestVerify "
           "(SHA-256, %d-byte message, init per operation)\n",
           crypto_seconds, BENCH_MSG_BYTES);
    for (int k = 0; k < BENCH_NKEYS; k++)
        crypto_run((enum bench_key)k);
    if (strcmp(what, "crypto") != 0) {
        printf("\n2. in-process pipeline, one thread, %g s each: cr_from_json + pipeline_run "
               "(approve, b64, csr_parse, policy, localca_sign, PEM, b64)\n"
               "   bound = 1/(1/sign[CA key] + 1/verify[CSR key]) from 1.\n",
               pipeline_seconds);
        pipeline_bench(argv[1], BENCH_EC256, BENCH_EC256);
        if (strcmp(what, "ec") != 0) {
            pipeline_bench(argv[1], BENCH_EC256, BENCH_RSA2048);
            pipeline_bench(argv[1], BENCH_RSA2048, BENCH_EC256);
        }
    }
    fclose(results);
    return 0;
}
