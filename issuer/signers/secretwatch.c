/* secretwatch.c -- the Secrets a signer read while it loaded, by hash, and whether they changed. */
#include "signers/secretwatch.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "signers/secret.h"

#define SECRETWATCH_HASH_LEN 32

struct secretwatch_rec {
    char *ns, *name;
    unsigned char hash[SECRETWATCH_HASH_LEN]; /* SHA-256 of data and stringData */
};

struct secretwatch {
    struct signer_env real;
    pthread_mutex_t mu;
    bool recording;               /* mu */
    pthread_t loader;             /* mu: the thread whose reads are recorded */
    struct secretwatch_rec *recs; /* mu */
    size_t n;
};

/* A length-prefixed field into the hash, so that no two serializations run together. */
static void secretwatch_feed(EVP_MD_CTX *md, const char *s, size_t len)
{
    uint64_t n = len;
    EVP_DigestUpdate(md, &n, sizeof(n));
    EVP_DigestUpdate(md, s, len);
}

static int secretwatch_cmp(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The members of obj (data or stringData), sorted by key: the API server's order is not kept. */
static void secretwatch_feed_map(EVP_MD_CTX *md, const char *tag, const cJSON *obj)
{
    secretwatch_feed(md, tag, strlen(tag));
    if (!cJSON_IsObject(obj)) {
        secretwatch_feed(md, obj == NULL ? "absent" : "other", obj == NULL ? 6 : 5);
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(obj), i = 0;
    const cJSON **v = xcalloc(n > 0 ? n : 1, sizeof(*v));
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (i < n && it->string != NULL)
            v[i++] = it;
    }
    qsort(v, i, sizeof(*v), secretwatch_cmp);
    for (size_t k = 0; k < i; k++) {
        secretwatch_feed(md, v[k]->string, strlen(v[k]->string));
        const char *s = cJSON_IsString(v[k]) ? v[k]->valuestring : NULL;
        secretwatch_feed(md, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
        uint8_t type = s != NULL ? 1 : 0;
        EVP_DigestUpdate(md, &type, 1);
    }
    free(v);
}

static void secretwatch_hash(const cJSON *secret, unsigned char out[SECRETWATCH_HASH_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) {
        fprintf(stderr, "fatal: out of memory\n");
        abort();
    }
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    secretwatch_feed_map(md, "data", cJSON_GetObjectItemCaseSensitive(secret, "data"));
    secretwatch_feed_map(md, "stringData", cJSON_GetObjectItemCaseSensitive(secret, "stringData"));
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

/* Records ns/name's hash (mu held); a Secret read twice keeps the latest. */
static void secretwatch_record(struct secretwatch *w, const char *ns, const char *name,
                               const unsigned char hash[SECRETWATCH_HASH_LEN])
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->recs[i].ns, ns) == 0 && strcmp(w->recs[i].name, name) == 0) {
            memcpy(w->recs[i].hash, hash, SECRETWATCH_HASH_LEN);
            return;
        }
    w->recs = xrealloc(w->recs, (w->n + 1) * sizeof(*w->recs));
    w->recs[w->n].ns = xstrdup(ns);
    w->recs[w->n].name = xstrdup(name);
    memcpy(w->recs[w->n].hash, hash, SECRETWATCH_HASH_LEN);
    w->n++;
}

static cJSON *secretwatch_get_secret(void *ud, const char *ns, const char *name, struct err *err)
{
    struct secretwatch *w = ud;
    cJSON *s = w->real.get_secret(w->real.ud, ns, name, err);
    if (s == NULL)
        return NULL;
    pthread_mutex_lock(&w->mu);
    if (w->recording && pthread_equal(w->loader, pthread_self())) {
        unsigned char hash[SECRETWATCH_HASH_LEN];
        secretwatch_hash(s, hash);
        secretwatch_record(w, ns, name, hash);
    }
    pthread_mutex_unlock(&w->mu);
    return s;
}

static int secretwatch_get_token(void *ud, const char *ns, const char *service_account,
                                 const char *const *audiences, size_t n_audiences,
                                 long expiration_s, char **token, struct err *err)
{
    struct secretwatch *w = ud;
    return w->real.get_token(w->real.ud, ns, service_account, audiences, n_audiences, expiration_s,
                             token, err);
}

struct secretwatch *secretwatch_new(const struct signer_env *real)
{
    struct secretwatch *w = xcalloc(1, sizeof(*w));
    w->real = *real;
    pthread_mutex_init(&w->mu, NULL);
    return w;
}

void secretwatch_env(struct secretwatch *w, struct signer_env *out)
{
    out->get_secret = secretwatch_get_secret;
    out->get_token = w->real.get_token != NULL ? secretwatch_get_token : NULL;
    out->ud = w;
}

void secretwatch_start(struct secretwatch *w)
{
    pthread_mutex_lock(&w->mu);
    w->recording = true;
    w->loader = pthread_self();
    pthread_mutex_unlock(&w->mu);
}

void secretwatch_stop(struct secretwatch *w)
{
    pthread_mutex_lock(&w->mu);
    w->recording = false;
    pthread_mutex_unlock(&w->mu);
}

size_t secretwatch_count(struct secretwatch *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->n;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* 1 when rec's Secret is gone or different, 0 when the same or unreadable now. */
static int secretwatch_differs(const struct secretwatch *w, const struct secretwatch_rec *rec)
{
    struct err e = {0};
    cJSON *s = w->real.get_secret(w->real.ud, rec->ns, rec->name, &e);
    if (s == NULL)
        return e.kind == ERR_TRANSIENT ? 0 : 1;
    unsigned char hash[SECRETWATCH_HASH_LEN];
    secretwatch_hash(s, hash);
    secret_delete(s);
    return memcmp(hash, rec->hash, SECRETWATCH_HASH_LEN) != 0;
}

bool secretwatch_changed(struct secretwatch *w, char *which, size_t len)
{
    /* Records are only added while loading: after secretwatch_stop they no longer move, so the
     * Secrets are read without holding mu (a signing thread's login may use the getter). */
    size_t n = secretwatch_count(w);
    for (size_t i = 0; i < n; i++)
        if (secretwatch_differs(w, &w->recs[i])) {
            snprintf(which, len, "%s/%s", w->recs[i].ns, w->recs[i].name);
            return true;
        }
    return false;
}

void secretwatch_free(struct secretwatch *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->recs[i].ns);
        free(w->recs[i].name);
    }
    free(w->recs);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
