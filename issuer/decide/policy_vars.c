/* policy_vars.c -- `allowed` regexes relative to the request: ${namespace}, ${serviceAccount}
 * and ${serviceAccountNamespace}, checked at load at their longest, expanded per request with
 * the values quoted, and compiled once per distinct expansion (a bounded cache per template). */
#include "decide/policy_priv.h"

#include "base/mem.h"
#include "base/utf8.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Expansions kept per template; past this the oldest is replaced. */
#define POLICY_VARS_CACHE 256

/* Each variable's name and its longest value: a namespace is a DNS label, a service account's
 * name a DNS subdomain. A longer value is no value (the cost checked at load stays a bound). */
static const struct {
    const char *name;
    size_t max;
} policy_vars_known[POLICY_VAR_COUNT] = {
    [POLICY_VAR_NAMESPACE] = {"namespace", 63},
    [POLICY_VAR_SA] = {"serviceAccount", 253},
    [POLICY_VAR_SA_NAMESPACE] = {"serviceAccountNamespace", 63},
};

#define POLICY_VARS_KNOWN "${namespace}, ${serviceAccount}, ${serviceAccountNamespace}"
#define POLICY_VARS_LITERAL "a literal \"${\" is written \\$\\{ or [$][{]"

struct policy_vars_entry {
    uint64_t hash; /* of key */
    char *key;     /* the expansion, unanchored */
    regex_t re;    /* "^(key)$" */
};

struct policy_vars_template {
    size_t n;             /* variables */
    char **lit;           /* the n + 1 literal pieces around them */
    enum policy_var *var; /* n */
    pthread_rwlock_t lock;
    bool lock_ready;
    struct policy_vars_entry **cache; /* guarded by lock */
    size_t n_cache, cap_cache;
    size_t next; /* once full: the oldest entry, replaced next */
};

static void policy_vars_template_free(struct policy_vars_template *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; t->lit != NULL && i <= t->n; i++)
        free(t->lit[i]);
    free(t->lit);
    free(t->var);
    for (size_t i = 0; i < t->n_cache; i++) {
        regfree(&t->cache[i]->re);
        free(t->cache[i]->key);
        free(t->cache[i]);
    }
    free(t->cache);
    if (t->lock_ready)
        pthread_rwlock_destroy(&t->lock);
    free(t);
}

/* Appends the literal pat[from..to) and, when var >= 0, a variable after it. */
static void policy_vars_push(struct policy_vars_template *t, const char *pat, size_t from,
                             size_t to, int var)
{
    t->lit = xrealloc(t->lit, (t->n + 1) * sizeof(*t->lit));
    t->lit[t->n] = xmalloc(to - from + 1);
    memcpy(t->lit[t->n], pat + from, to - from);
    t->lit[t->n][to - from] = '\0';
    if (var < 0)
        return;
    t->var = xrealloc(t->var, (t->n + 1) * sizeof(*t->var));
    t->var[t->n++] = (enum policy_var)var;
}

/* The variable named by pat[at..] ("${name}"): its index, *end at its '}'; -1 with the error. */
static int policy_vars_name(const char *pat, size_t at, const char *path, size_t *end,
                            struct err *err)
{
    const char *close = strchr(pat + at + 2, '}');
    char q[UTF8_ESCAPE_SIZE(POLICY_MAX_VALUE_ECHO)];
    if (close == NULL) {
        utf8_escape(pat, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
        err_set(err, ERR_INVALID,
                "%s: regex %s has a \"${\" that is not closed by '}' (variables: " POLICY_VARS_KNOWN
                "; " POLICY_VARS_LITERAL ")",
                path, q);
        return -1;
    }
    size_t len = (size_t)(close - (pat + at + 2));
    for (int v = 0; v < POLICY_VAR_COUNT; v++) {
        if (strlen(policy_vars_known[v].name) == len &&
            memcmp(policy_vars_known[v].name, pat + at + 2, len) == 0) {
            *end = (size_t)(close - pat);
            return v;
        }
    }
    char name[POLICY_KEY_ECHO + 1];
    snprintf(name, sizeof(name), "%.*s", len < POLICY_KEY_ECHO ? (int)len : POLICY_KEY_ECHO,
             pat + at + 2);
    utf8_escape(name, POLICY_KEY_ECHO, false, q, sizeof(q));
    err_set(err, ERR_INVALID,
            "%s: unknown variable ${%s} (known: " POLICY_VARS_KNOWN "; " POLICY_VARS_LITERAL ")",
            path, q);
    return -1;
}

/* The index of the first "${" at or after i that is meant as a variable (neither escaped nor
 * inside a bracket expression, where it is the regex's own, as it always was), or of pat's NUL. */
static size_t policy_vars_next(const char *pat, size_t i)
{
    for (; pat[i] != '\0'; i++) {
        if (pat[i] == '\\') {
            if (pat[i + 1] != '\0')
                i++;
        } else if (pat[i] == '[') {
            i = policy_regex_bracket_end(pat, i);
        } else if (pat[i] == '$' && pat[i + 1] == '{') {
            break;
        }
    }
    return i;
}

/* Splits pat at its variables into t. */
static int policy_vars_parse(const char *pat, const char *path, struct policy_vars_template *t,
                             struct err *err)
{
    size_t from = 0;
    for (size_t i = policy_vars_next(pat, 0); pat[i] != '\0'; i = policy_vars_next(pat, from)) {
        size_t end = 0;
        int v = policy_vars_name(pat, i, path, &end, err);
        if (v < 0)
            return -1;
        policy_vars_push(t, pat, from, i, v);
        from = end + 1;
    }
    policy_vars_push(t, pat, from, strlen(pat), -1);
    return 0;
}

/* The expansion of t with vals[v] for each variable: each value a group of its bytes with every
 * ERE metacharacter escaped, so "a.b" matches only itself and "x+" cannot repeat. Quoting
 * keeps it injective: distinct values give distinct expansions. Owned by the caller. */
static char *policy_vars_expand(const struct policy_vars_template *t, const char *const *vals)
{
    size_t len = 1;
    for (size_t i = 0; i <= t->n; i++)
        len += strlen(t->lit[i]);
    for (size_t i = 0; i < t->n; i++)
        len += 2 * strlen(vals[t->var[i]]) + 2;
    char *out = xmalloc(len);
    size_t o = 0;
    for (size_t i = 0; i <= t->n; i++) {
        size_t l = strlen(t->lit[i]);
        memcpy(out + o, t->lit[i], l);
        o += l;
        if (i == t->n)
            break;
        out[o++] = '(';
        for (const char *c = vals[t->var[i]]; *c != '\0'; c++) {
            if (strchr(".[]\\()*+?{}|^$", *c) != NULL)
                out[o++] = '\\';
            out[o++] = *c;
        }
        out[o++] = ')';
    }
    out[o] = '\0';
    return out;
}

/* Load-time checks: the expansion with every variable at its longest value is costed against
 * the limits (it is the costliest expansion: quoting a byte keeps it one atom) and compiled
 * once, so a syntax error shows now, named by the template. */
static int policy_vars_check(const struct policy_vars_template *t, const char *pat,
                             const char *path, long long *budget, struct err *err)
{
    char longest[POLICY_VAR_COUNT][254];
    const char *vals[POLICY_VAR_COUNT];
    for (int v = 0; v < POLICY_VAR_COUNT; v++) {
        memset(longest[v], 'a', policy_vars_known[v].max);
        longest[v][policy_vars_known[v].max] = '\0';
        vals[v] = longest[v];
    }
    char *sample = policy_vars_expand(t, vals);
    regex_t probe;
    int rc = policy_regex_compile_as(sample, pat, path, &probe, budget, err);
    free(sample);
    if (rc != 0)
        return -1;
    regfree(&probe);
    return 0;
}

int policy_pattern_compile(const char *pat, const char *path, struct policy_pattern *out,
                           long long *budget, unsigned *vars, struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (pat[policy_vars_next(pat, 0)] == '\0') {
        if (policy_regex_compile(pat, path, &out->re, budget, err) != 0)
            return -1;
        out->has_re = true;
        return 0;
    }
    struct policy_vars_template *t = xcalloc(1, sizeof(*t));
    if (policy_vars_parse(pat, path, t, err) != 0 ||
        policy_vars_check(t, pat, path, budget, err) != 0) {
        policy_vars_template_free(t);
        return -1;
    }
    if (pthread_rwlock_init(&t->lock, NULL) != 0) {
        err_set(err, ERR_INTERNAL, "%s: cannot create a lock for the regex's cache", path);
        policy_vars_template_free(t);
        return -1;
    }
    t->lock_ready = true;
    for (size_t i = 0; i < t->n; i++)
        *vars |= POLICY_VAR_BIT(t->var[i]);
    out->tpl = t;
    return 0;
}

void policy_pattern_free(struct policy_pattern *pt)
{
    if (pt->has_re)
        regfree(&pt->re);
    policy_vars_template_free(pt->tpl);
    memset(pt, 0, sizeof(*pt));
}

/* FNV-1a, to skip most string comparisons in the cache. */
static uint64_t policy_vars_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The cached entry for key, or NULL. Needs t->lock (read or write). */
static const struct policy_vars_entry *policy_vars_find(const struct policy_vars_template *t,
                                                        const char *key, uint64_t h)
{
    for (size_t i = 0; i < t->n_cache; i++)
        if (t->cache[i]->hash == h && strcmp(t->cache[i]->key, key) == 0)
            return t->cache[i];
    return NULL;
}

/* Adds e (taking it), replacing the oldest entry when the cache is full. Needs the write lock. */
static void policy_vars_insert(struct policy_vars_template *t, struct policy_vars_entry *e)
{
    if (t->n_cache < POLICY_VARS_CACHE) {
        if (t->n_cache == t->cap_cache) {
            t->cap_cache = t->cap_cache == 0 ? 8 : t->cap_cache * 2;
            t->cache = xrealloc(t->cache, t->cap_cache * sizeof(*t->cache));
        }
        t->cache[t->n_cache++] = e;
        return;
    }
    struct policy_vars_entry *old = t->cache[t->next];
    regfree(&old->re);
    free(old->key);
    free(old);
    t->cache[t->next] = e;
    t->next = (t->next + 1) % POLICY_VARS_CACHE;
}

/* value against the expansion key, compiled once: readers share the cache; a miss compiles
 * outside the lock, then inserts (unless another thread was first) under the write lock. An
 * entry is only freed under the write lock, so a reader's regexec never sees it go. */
static bool policy_vars_match(struct policy_vars_template *t, const char *key, const char *value)
{
    uint64_t h = policy_vars_hash(key);
    (void)pthread_rwlock_rdlock(&t->lock);
    const struct policy_vars_entry *e = policy_vars_find(t, key, h);
    if (e != NULL) {
        bool m = regexec(&e->re, value, 0, NULL, 0) == 0;
        (void)pthread_rwlock_unlock(&t->lock);
        return m;
    }
    (void)pthread_rwlock_unlock(&t->lock);
    struct policy_vars_entry *ne = xcalloc(1, sizeof(*ne));
    char *wrapped = xasprintf("^(%s)$", key);
    int rc = regcomp(&ne->re, wrapped, REG_EXTENDED | REG_NOSUB);
    free(wrapped);
    if (rc != 0) {
        /* Out of memory in glibc (the syntax was checked at load): match nothing. */
        free(ne);
        return false;
    }
    ne->hash = h;
    ne->key = xstrdup(key);
    (void)pthread_rwlock_wrlock(&t->lock);
    e = policy_vars_find(t, key, h);
    if (e != NULL) {
        regfree(&ne->re);
        free(ne->key);
        free(ne);
    } else {
        policy_vars_insert(t, ne);
        e = ne;
    }
    bool m = regexec(&e->re, value, 0, NULL, 0) == 0;
    (void)pthread_rwlock_unlock(&t->lock);
    return m;
}

bool policy_pattern_match(const struct policy_pattern *pt, const struct policy_request *r,
                          const char *value)
{
    if (pt->tpl == NULL)
        return pt->has_re && regexec(&pt->re, value, 0, NULL, 0) == 0;
    const char *vals[POLICY_VAR_COUNT] = {
        [POLICY_VAR_NAMESPACE] = r->namespace,
        [POLICY_VAR_SA] = r->service_account,
        [POLICY_VAR_SA_NAMESPACE] = r->service_account_namespace,
    };
    struct policy_vars_template *t = pt->tpl;
    for (size_t i = 0; i < t->n; i++) {
        const char *v = vals[t->var[i]];
        if (v == NULL || v[0] == '\0' || strlen(v) > policy_vars_known[t->var[i]].max)
            return false;
    }
    char *key = policy_vars_expand(t, vals);
    bool m = policy_vars_match(t, key, value);
    free(key);
    return m;
}
