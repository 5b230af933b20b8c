/* store.c -- the standalone object store loaded from manifest files. */
#include "standalone/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/manifest.h"
#include "base/mem.h"
#include "decide/nslabels.h"
#include "signers/secret.h"

struct store_policy {
    char *name;
    struct policy *policy; /* NULL when invalid */
    char *invalid;         /* why, when invalid */
};

struct store_secret {
    char *namespace, *name;
    cJSON *obj;
};

struct store {
    char *cluster_ns;
    struct issuer **issuers;
    size_t n_issuers;
    struct store_policy *policies;
    size_t n_policies;
    struct store_secret *secrets;
    size_t n_secrets;
    struct strv skipped; /* "file: Kind/name: why" */
    struct nslabels *ns; /* Namespace objects' labels */
};

struct store *store_new(const char *cluster_ns)
{
    struct store *st = xcalloc(1, sizeof(*st));
    st->cluster_ns = xstrdup(cluster_ns);
    st->ns = nslabels_new();
    return st;
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_issuers; i++)
        issuer_unref(st->issuers[i]);
    free(st->issuers);
    for (size_t i = 0; i < st->n_policies; i++) {
        free(st->policies[i].name);
        policy_free(st->policies[i].policy);
        free(st->policies[i].invalid);
    }
    free(st->policies);
    for (size_t i = 0; i < st->n_secrets; i++) {
        free(st->secrets[i].namespace);
        free(st->secrets[i].name);
        secret_delete(st->secrets[i].obj);
    }
    free(st->secrets);
    strv_free(&st->skipped);
    nslabels_free(st->ns);
    free(st->cluster_ns);
    free(st);
}

static const char *store_str(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int store_add_issuer(struct store *st, const cJSON *obj, const char *origin, struct err *err)
{
    struct issuer *is = issuer_from_json(obj, err);
    if (is == NULL) {
        err_prefix(err, "%s", origin);
        return -1;
    }
    for (size_t i = 0; i < st->n_issuers; i++) {
        const struct issuer *o = st->issuers[i];
        if (strcmp(o->kind, is->kind) == 0 && strcmp(o->namespace, is->namespace) == 0 &&
            strcmp(o->name, is->name) == 0) {
            char ref[600];
            issuer_format_ref(is, ref, sizeof(ref));
            err_set(err, ERR_INVALID, "%s: %s is defined twice", origin, ref);
            issuer_unref(is);
            return -1;
        }
    }
    st->issuers = xrealloc(st->issuers, (st->n_issuers + 1) * sizeof(*st->issuers));
    st->issuers[st->n_issuers++] = is;
    return 0;
}

static int store_add_policy(struct store *st, const cJSON *obj, const char *origin, struct err *err)
{
    const char *name = store_str(obj, "metadata", "name");
    if (name == NULL || name[0] == '\0') {
        err_set(err, ERR_INVALID, "%s: IssuancePolicy without metadata.name", origin);
        return -1;
    }
    for (size_t i = 0; i < st->n_policies; i++) {
        if (strcmp(st->policies[i].name, name) == 0) {
            err_set(err, ERR_INVALID, "%s: IssuancePolicy/%s is defined twice", origin, name);
            return -1;
        }
    }
    struct err perr = {0};
    struct store_policy sp = {.name = xstrdup(name)};
    sp.policy = policy_from_json(obj, &perr);
    if (sp.policy == NULL)
        sp.invalid = xstrdup(perr.msg);
    st->policies = xrealloc(st->policies, (st->n_policies + 1) * sizeof(*st->policies));
    st->policies[st->n_policies++] = sp;
    return 0;
}

static int store_add_secret(struct store *st, const cJSON *obj, const char *origin, struct err *err)
{
    const char *name = store_str(obj, "metadata", "name");
    const char *ns = store_str(obj, "metadata", "namespace");
    if (name == NULL || name[0] == '\0') {
        err_set(err, ERR_INVALID, "%s: Secret without metadata.name", origin);
        return -1;
    }
    if (ns == NULL || ns[0] == '\0')
        ns = "default";
    for (size_t i = 0; i < st->n_secrets; i++) {
        if (strcmp(st->secrets[i].name, name) == 0 && strcmp(st->secrets[i].namespace, ns) == 0) {
            err_set(err, ERR_INVALID, "%s: Secret/%s/%s is defined twice", origin, ns, name);
            return -1;
        }
    }
    st->secrets = xrealloc(st->secrets, (st->n_secrets + 1) * sizeof(*st->secrets));
    st->secrets[st->n_secrets++] = (struct store_secret){
        .namespace = xstrdup(ns), .name = xstrdup(name), .obj = cJSON_Duplicate(obj, 1)};
    return 0;
}

/* A Namespace: its labels, for spec.selector.namespaceSelector. */
static int store_add_namespace(struct store *st, const cJSON *obj, const char *origin,
                               struct err *err)
{
    const char *name = store_str(obj, "metadata", "name");
    if (name == NULL || name[0] == '\0') {
        err_set(err, ERR_INVALID, "%s: Namespace without metadata.name", origin);
        return -1;
    }
    struct strv tmp = {0};
    bool dup = nslabels_get(st->ns, name, &tmp);
    strv_free(&tmp);
    if (dup) {
        err_set(err, ERR_INVALID, "%s: Namespace/%s is defined twice", origin, name);
        return -1;
    }
    if (nslabels_put(st->ns, obj, err) != 0) {
        err_prefix(err, "%s", origin);
        return -1;
    }
    return 0;
}

int store_add_object(struct store *st, const cJSON *obj, const char *origin, struct err *err)
{
    const char *api = store_str(obj, "apiVersion", NULL);
    const char *kind = store_str(obj, "kind", NULL);
    if (api == NULL || kind == NULL) {
        err_set(err, ERR_INVALID, "%s: an object without apiVersion or kind", origin);
        return -1;
    }
    if (strcmp(api, ISSUER_API_VERSION) == 0 &&
        (strcmp(kind, "Issuer") == 0 || strcmp(kind, "ClusterIssuer") == 0))
        return store_add_issuer(st, obj, origin, err);
    if (strcmp(api, ISSUER_API_VERSION) == 0 && strcmp(kind, POLICY_KIND) == 0)
        return store_add_policy(st, obj, origin, err);
    if (strcmp(api, "v1") == 0 && strcmp(kind, "Secret") == 0)
        return store_add_secret(st, obj, origin, err);
    if (strcmp(api, "v1") == 0 && strcmp(kind, "Namespace") == 0)
        return store_add_namespace(st, obj, origin, err);
    const char *name = store_str(obj, "metadata", "name");
    strv_push_take(&st->skipped, xasprintf("%s: %s %s/%s is not an Ember object, skipped", origin,
                                           api, kind, name ? name : "(no name)"));
    return 0;
}

static int store_read_file(const char *path, struct buf *b, struct err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        err_set(err, ERR_INVALID, "%s: %s", path, strerror(errno));
        return -1;
    }
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(b, chunk, n, err) != 0) {
            fclose(f);
            err_prefix(err, "%s", path);
            return -1;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        err_set(err, ERR_INVALID, "%s: read error", path);
        return -1;
    }
    return 0;
}

static int store_load_file(struct store *st, const char *path, struct err *err)
{
    struct buf b;
    buf_init(&b, MANIFEST_MAX_BYTES);
    if (store_read_file(path, &b, err) != 0) {
        buf_free_secret(&b);
        return -1;
    }
    cJSON *docs = manifest_parse(b.data ? b.data : "", b.len, err);
    buf_free_secret(&b); /* manifests may hold Secrets */
    if (docs == NULL) {
        err_prefix(err, "%s", path);
        return -1;
    }
    int rc = 0;
    const cJSON *obj;
    cJSON_ArrayForEach(obj, docs)
    {
        if (store_add_object(st, obj, path, err) != 0) {
            rc = -1;
            break;
        }
    }
    secret_delete(docs);
    return rc;
}

static int store_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool store_is_manifest_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

int store_load_path(struct store *st, const char *path, struct err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        err_set(err, ERR_INVALID, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode))
        return store_load_file(st, path, err);
    DIR *d = opendir(path);
    if (d == NULL) {
        err_set(err, ERR_INVALID, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct strv names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!store_is_manifest_name(e->d_name))
            continue;
        if (names.n == STORE_MAX_FILES) {
            closedir(d);
            strv_free(&names);
            err_set(err, ERR_TOO_BIG, "%s: more than %d manifest files", path, STORE_MAX_FILES);
            return -1;
        }
        strv_push_take(&names, xasprintf("%s/%s", path, e->d_name));
    }
    closedir(d);
    if (names.n > 0)
        qsort(names.v, names.n, sizeof(*names.v), store_cmp_names);
    int rc = 0;
    for (size_t i = 0; i < names.n && rc == 0; i++)
        rc = store_load_file(st, names.v[i], err);
    strv_free(&names);
    return rc;
}

static const struct store_secret *store_find_secret(const struct store *st, const char *ns,
                                                    const char *name)
{
    for (size_t i = 0; i < st->n_secrets; i++)
        if (strcmp(st->secrets[i].namespace, ns) == 0 && strcmp(st->secrets[i].name, name) == 0)
            return &st->secrets[i];
    return NULL;
}

/* signer_env.get_secret over the Secrets loaded from the manifests (immutable: thread-safe). */
static cJSON *store_get_secret(void *ud, const char *ns, const char *name, struct err *err)
{
    const struct store_secret *s = store_find_secret(ud, ns, name);
    if (s == NULL) {
        err_set(err, ERR_ISSUER_NOT_READY, "not found in --manifests");
        return NULL;
    }
    return cJSON_Duplicate(s->obj, 1);
}

static void store_report_issuer(struct issuer *is, store_report_fn report, void *ud)
{
    struct issuer_state state;
    issuer_get_state(is, &state);
    char ref[600];
    issuer_format_ref(is, ref, sizeof(ref));
    report(ud, ref, state.ready ? "ready again" : state.message);
}

void store_resolve(struct store *st, time_t now, store_report_fn report, void *ud)
{
    for (size_t i = 0; i < st->skipped.n; i++)
        report(ud, "", st->skipped.v[i]);
    for (size_t i = 0; i < st->n_policies; i++) {
        if (st->policies[i].invalid != NULL) {
            char obj[300];
            snprintf(obj, sizeof(obj), "IssuancePolicy/%s", st->policies[i].name);
            report(ud, obj, st->policies[i].invalid);
        }
    }
    /* No token source: there is no API server to ask for service account tokens. */
    struct signer_env env = {.get_secret = store_get_secret, .ud = st};
    for (size_t i = 0; i < st->n_issuers; i++) {
        struct issuer *is = st->issuers[i];
        issuer_load_signer(is, &env, st->cluster_ns, now);
        if (!issuer_is_ready(is))
            store_report_issuer(is, report, ud);
    }
}

size_t store_recheck(struct store *st, time_t now, store_report_fn report, void *ud)
{
    size_t not_ready = 0;
    for (size_t i = 0; i < st->n_issuers; i++) {
        struct issuer *is = st->issuers[i];
        if (issuer_check(is, now))
            store_report_issuer(is, report, ud);
        if (!issuer_is_ready(is))
            not_ready++;
    }
    return not_ready;
}

struct issuer *store_find_issuer(void *ud, const char *kind, const char *ns, const char *name)
{
    struct store *st = ud;
    for (size_t i = 0; i < st->n_issuers; i++) {
        struct issuer *is = st->issuers[i];
        if (strcmp(is->kind, kind) == 0 && strcmp(is->namespace, ns) == 0 &&
            strcmp(is->name, name) == 0)
            return issuer_ref(is);
    }
    return NULL;
}

int store_find_policy(void *ud, const char *name, const struct policy **p, const char **invalid_msg)
{
    struct store *st = ud;
    for (size_t i = 0; i < st->n_policies; i++) {
        if (strcmp(st->policies[i].name, name) != 0)
            continue;
        if (st->policies[i].policy == NULL) {
            *invalid_msg = st->policies[i].invalid;
            return -1;
        }
        *p = st->policies[i].policy;
        return 1;
    }
    return 0;
}

enum pipeline_ns store_namespace_labels(void *ud, const char *ns, struct strv *labels,
                                        struct err *why)
{
    (void)why; /* the manifests are the whole truth: what they lack does not exist */
    struct store *st = ud;
    return nslabels_get(st->ns, ns, labels) ? PIPELINE_NS_KNOWN : PIPELINE_NS_NOT_FOUND;
}

size_t store_count_issuers(const struct store *st)
{
    return st->n_issuers;
}

size_t store_count_policies(const struct store *st)
{
    return st->n_policies;
}

struct issuer *store_issuer_at(const struct store *st, size_t i)
{
    return i < st->n_issuers ? st->issuers[i] : NULL;
}

struct issuer *const *store_issuers(const struct store *st)
{
    return st->issuers;
}
