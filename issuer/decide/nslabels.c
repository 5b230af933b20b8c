/* nslabels.c -- the labels of known Namespaces, by name, under a mutex. */
#include "decide/nslabels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/k8sname.h"
#include "base/mem.h"
#include "base/utf8.h"

#define NSLABELS_BUCKETS 1024
#define NSLABELS_ECHO 80 /* bytes of a refused label key or value in a message */

struct nslabels_node {
    char *name;
    struct strv labels; /* "key=value" */
    bool provisional;   /* from nslabels_offer, not (yet) confirmed by nslabels_put */
    struct nslabels_node *next;
};

struct nslabels {
    pthread_mutex_t lock;
    struct nslabels_node *b[NSLABELS_BUCKETS];
    size_t n;
    unsigned long seq; /* nslabels_put and nslabels_remove calls: nslabels_seq */
};

struct nslabels *nslabels_new(void)
{
    struct nslabels *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

static void nslabels_node_free(struct nslabels_node *n)
{
    free(n->name);
    strv_free(&n->labels);
    free(n);
}

void nslabels_free(struct nslabels *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < NSLABELS_BUCKETS; i++) {
        struct nslabels_node *n = t->b[i];
        while (n != NULL) {
            struct nslabels_node *next = n->next;
            nslabels_node_free(n);
            n = next;
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* The link to the node named name in its bucket, or the NULL link at its end. Lock held. */
static struct nslabels_node **nslabels_find(struct nslabels *t, const char *name)
{
    unsigned long h = 5381;
    for (const unsigned char *s = (const unsigned char *)name; *s != '\0'; s++)
        h = h * 33 + *s;
    struct nslabels_node **l = &t->b[h % NSLABELS_BUCKETS];
    while (*l != NULL && strcmp((*l)->name, name) != 0)
        l = &(*l)->next;
    return l;
}

/* metadata.labels of obj into out, within the limits. */
static int nslabels_read(const cJSON *labels, const char *name, struct strv *out, struct err *err)
{
    size_t bytes = 0;
    for (const cJSON *c = labels != NULL ? labels->child : NULL; c != NULL; c = c->next) {
        if (c->string == NULL || !cJSON_IsString(c) || c->valuestring == NULL) {
            err_set(err, ERR_INVALID,
                    "Namespace %.63s: metadata.labels holds a value that is "
                    "not a string",
                    name);
            return -1;
        }
        if (!k8sname_is_label_key(c->string) || !k8sname_is_label_value(c->valuestring)) {
            bool key = !k8sname_is_label_key(c->string);
            char q[UTF8_ESCAPE_SIZE(NSLABELS_ECHO)], v[UTF8_ESCAPE_SIZE(NSLABELS_ECHO)];
            utf8_escape(c->string, NSLABELS_ECHO, true, q, sizeof(q));
            utf8_escape(c->valuestring, NSLABELS_ECHO, true, v, sizeof(v));
            err_set(err, ERR_INVALID,
                    "Namespace %.63s: metadata.labels %s: invalid label %s%s (%s)", name, q,
                    key ? "key" : "value ", key ? "" : v,
                    key ? K8SNAME_LABEL_KEY_RULE : K8SNAME_LABEL_VALUE_RULE);
            return -1;
        }
        bytes += strlen(c->string) + strlen(c->valuestring) + 2;
        if (out->n == NSLABELS_MAX_LABELS || bytes > NSLABELS_MAX_BYTES) {
            err_set(err, ERR_TOO_BIG,
                    "Namespace %.63s: more than %d labels or %d bytes of labels; not kept, so "
                    "spec.selector.namespaceSelector matches nothing there",
                    name, NSLABELS_MAX_LABELS, NSLABELS_MAX_BYTES);
            return -1;
        }
        strv_push_take(out, xasprintf("%s=%s", c->string, c->valuestring));
    }
    return 0;
}

/* The name and labels of the Namespace obj: 0, or -1 with err and *name NULL when obj has no
 * name (sv may hold labels read so far: strv_free it either way). */
static int nslabels_parse(const cJSON *obj, const char **name, struct strv *sv, struct err *err)
{
    *name = NULL;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(md, "name");
    if (!cJSON_IsString(nm) || nm->valuestring == NULL || nm->valuestring[0] == '\0') {
        err_set(err, ERR_INVALID, "a Namespace without metadata.name");
        return -1;
    }
    *name = nm->valuestring;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
    if (labels != NULL && !cJSON_IsNull(labels) && !cJSON_IsObject(labels)) {
        err_set(err, ERR_INVALID, "Namespace %.63s: metadata.labels is not an object", *name);
        return -1;
    }
    return nslabels_read(cJSON_IsObject(labels) ? labels : NULL, *name, sv, err);
}

int nslabels_put(struct nslabels *t, const cJSON *obj, struct err *err)
{
    const char *name = NULL;
    struct strv sv = {0};
    if (nslabels_parse(obj, &name, &sv, err) != 0) {
        strv_free(&sv);
        if (name != NULL)
            nslabels_remove(t, name);
        return -1;
    }
    pthread_mutex_lock(&t->lock);
    struct nslabels_node **l = nslabels_find(t, name);
    if (*l == NULL && t->n == NSLABELS_MAX_NAMESPACES) {
        pthread_mutex_unlock(&t->lock);
        strv_free(&sv);
        err_set(err, ERR_TOO_BIG, "Namespace %.63s: more than %d Namespaces known; not kept", name,
                NSLABELS_MAX_NAMESPACES);
        return -1;
    }
    if (*l == NULL) {
        *l = xcalloc(1, sizeof(**l));
        (*l)->name = xstrdup(name);
        t->n++;
    }
    strv_free(&(*l)->labels);
    (*l)->labels = sv;
    (*l)->provisional = false;
    t->seq++;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void nslabels_remove(struct nslabels *t, const char *name)
{
    pthread_mutex_lock(&t->lock);
    struct nslabels_node **l = nslabels_find(t, name);
    struct nslabels_node *n = *l;
    if (n != NULL) {
        *l = n->next;
        t->n--;
    }
    t->seq++;
    pthread_mutex_unlock(&t->lock);
    if (n != NULL)
        nslabels_node_free(n);
}

bool nslabels_get(struct nslabels *t, const char *name, struct strv *out)
{
    if (t == NULL || name == NULL)
        return false;
    pthread_mutex_lock(&t->lock);
    struct nslabels_node *n = *nslabels_find(t, name);
    if (n != NULL)
        for (size_t i = 0; i < n->labels.n; i++)
            strv_push(out, n->labels.v[i]);
    pthread_mutex_unlock(&t->lock);
    return n != NULL;
}

size_t nslabels_count(struct nslabels *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->n;
    pthread_mutex_unlock(&t->lock);
    return n;
}

unsigned long nslabels_seq(struct nslabels *t)
{
    pthread_mutex_lock(&t->lock);
    unsigned long seq = t->seq;
    pthread_mutex_unlock(&t->lock);
    return seq;
}

int nslabels_offer(struct nslabels *t, const cJSON *obj, const char *name, bool keep,
                   unsigned long seq, struct strv *out, struct err *err)
{
    const char *got = NULL;
    struct strv sv = {0};
    if (nslabels_parse(obj, &got, &sv, err) != 0) {
        strv_free(&sv);
        return -1;
    }
    if (strcmp(got, name) != 0) {
        strv_free(&sv);
        err_set(err, ERR_INVALID, "asked for Namespace %.63s, got %.63s", name, got);
        return -1;
    }
    for (size_t i = 0; i < sv.n; i++)
        strv_push(out, sv.v[i]);
    pthread_mutex_lock(&t->lock);
    struct nslabels_node **l = nslabels_find(t, name);
    /* Only into a gap no put or remove touched since seq: the watch's word always wins. */
    if (keep && *l == NULL && t->seq == seq && t->n < NSLABELS_MAX_NAMESPACES) {
        *l = xcalloc(1, sizeof(**l));
        (*l)->name = xstrdup(name);
        (*l)->labels = sv;
        (*l)->provisional = true;
        sv = (struct strv){0};
        t->n++;
    }
    pthread_mutex_unlock(&t->lock);
    strv_free(&sv);
    return 0;
}

size_t nslabels_drop_provisional(struct nslabels *t)
{
    size_t dropped = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < NSLABELS_BUCKETS; i++) {
        struct nslabels_node **l = &t->b[i];
        while (*l != NULL) {
            struct nslabels_node *n = *l;
            if (!n->provisional) {
                l = &n->next;
                continue;
            }
            *l = n->next;
            t->n--;
            dropped++;
            nslabels_node_free(n);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return dropped;
}
