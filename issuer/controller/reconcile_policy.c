/* reconcile_policy.c -- the IssuancePolicy reconciler and the table of compiled policies the
 * pipeline looks policies up in (a policy in use outlives its replacement). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "controller/controller_int.h"

/* ---- the table --------------------------------------------------------------------------- */

/* Compiles obj (valid or not). reconciled: by the reconciler, whose Ready write follows. */
static struct ctl_policy *reconcile_policy_new(const char *name, const cJSON *obj, bool reconciled)
{
    struct err e = {0};
    struct ctl_policy *cp = xcalloc(1, sizeof(*cp));
    cp->name = xstrdup(name);
    cp->refs = 1;
    cp->p = policy_from_json(obj, &e);
    if (cp->p == NULL)
        cp->invalid = xstrdup(e.msg);
    const char *uid = ctl_str(obj, "metadata", "uid");
    cp->uid = uid != NULL ? xstrdup(uid) : NULL;
    cp->generation = ctl_generation(obj);
    cp->reconciled = reconciled;
    return cp;
}

static void reconcile_policy_free(struct ctl_policy *cp)
{
    free(cp->name);
    policy_free(cp->p);
    free(cp->invalid);
    free(cp->uid);
    free(cp);
}

void ctl_policies_free(struct controller *c)
{
    for (size_t i = 0; i < c->n_pols; i++)
        reconcile_policy_free(c->pols[i]);
    free(c->pols);
    c->pols = NULL;
    c->n_pols = c->cap_pols = 0;
}

/* Adds cp to the table; c->lock held. */
static void reconcile_policy_add_locked(struct controller *c, struct ctl_policy *cp)
{
    if (c->n_pols == c->cap_pols) {
        c->cap_pols = c->cap_pols ? c->cap_pols * 2 : 8;
        c->pols = xrealloc(c->pols, c->cap_pols * sizeof(*c->pols));
    }
    c->pols[c->n_pols++] = cp;
}

/* The current (not retired) policy called name, or NULL; c->lock held. */
static struct ctl_policy *reconcile_policy_find_locked(struct controller *c, const char *name)
{
    for (size_t i = 0; i < c->n_pols; i++)
        if (!c->pols[i]->retired && strcmp(c->pols[i]->name, name) == 0)
            return c->pols[i];
    return NULL;
}

/* Drops one reference of cp; c->lock held. */
static void reconcile_policy_unref_locked(struct controller *c, struct ctl_policy *cp)
{
    if (--cp->refs > 0)
        return;
    for (size_t i = 0; i < c->n_pols; i++) {
        if (c->pols[i] == cp) {
            c->pols[i] = c->pols[--c->n_pols];
            break;
        }
    }
    reconcile_policy_free(cp);
}

int controller_find_policy(void *ud, const char *name, const struct policy **p,
                           const char **invalid_msg)
{
    struct controller *c = ud;
    pthread_mutex_lock(&c->lock);
    struct ctl_policy *found = reconcile_policy_find_locked(c, name);
    if (found == NULL) {
        /* Listed but not reconciled yet: load it now rather than call it missing (a request
         * must never be denied for a policy Ember has not looked at). */
        const struct ctl_node *n = *ctl_map_find(&c->objs[CTL_POLICY], name);
        if (n != NULL) {
            found = reconcile_policy_new(name, n->obj, false);
            reconcile_policy_add_locked(c, found);
        }
    }
    int rc = 0;
    if (found != NULL) {
        found->refs++;
        *p = found->p;
        *invalid_msg = found->invalid;
        rc = found->p != NULL ? 1 : -1;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void controller_release_policy(void *ud, const struct policy *p, const char *invalid_msg)
{
    struct controller *c = ud;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_pols; i++) {
        struct ctl_policy *cp = c->pols[i];
        if ((p != NULL && cp->p == p) ||
            (p == NULL && invalid_msg != NULL && cp->invalid == invalid_msg)) {
            reconcile_policy_unref_locked(c, cp);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* ---- the reconciler ---------------------------------------------------------------------- */

/* Writes obj's Ready condition: Valid, or Invalid saying why. */
static void reconcile_policy_write(struct controller *c, const char *name, const cJSON *obj,
                                   bool valid, const char *invalid)
{
    char path[CTL_PATH_MAX];
    int n = snprintf(path, sizeof(path),
                     "/apis/ember.issuer.dev/v1alpha1/issuancepolicies/%s/status", name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return; /* a cache key holds at most CTL_KEY_MAX bytes: not reached */
    ctl_write_ready(c, obj, path, valid, valid ? "Valid" : "Invalid",
                    valid ? "The policy is valid" : invalid, POLICY_KIND, POLICY_GROUP_VERSION);
}

/* The echo of our own status write (or any change outside spec): the policy compiled is of
 * this object (same uid, same generation), so nothing is compiled again and no request is
 * queued; only the Ready condition is written again if someone else changed it. True when obj
 * was such an echo. */
static bool reconcile_policy_echo(struct controller *c, const char *name, const cJSON *obj)
{
    const char *uid = ctl_str(obj, "metadata", "uid");
    long long gen = ctl_generation(obj);
    pthread_mutex_lock(&c->lock);
    const struct ctl_policy *cp = reconcile_policy_find_locked(c, name);
    bool echo = cp != NULL && cp->reconciled && cp->generation == gen && uid != NULL &&
                cp->uid != NULL && strcmp(cp->uid, uid) == 0;
    bool valid = echo && cp->p != NULL;
    char *invalid = echo && cp->invalid != NULL ? xstrdup(cp->invalid) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (echo)
        reconcile_policy_write(c, name, obj, valid, invalid);
    free(invalid);
    return echo;
}

struct ctl_next ctl_reconcile_policy(struct controller *c, const char *name)
{
    cJSON *obj = ctl_cache_dup(c, CTL_POLICY, name);
    if (obj != NULL && reconcile_policy_echo(c, name, obj)) {
        cJSON_Delete(obj);
        return (struct ctl_next){CTL_NEXT_FORGET, 0};
    }
    struct ctl_policy *cp = obj != NULL ? reconcile_policy_new(name, obj, true) : NULL;
    pthread_mutex_lock(&c->lock);
    struct ctl_policy *old = reconcile_policy_find_locked(c, name);
    if (old != NULL) {
        old->retired = true;
        reconcile_policy_unref_locked(c, old);
    }
    if (cp != NULL)
        reconcile_policy_add_locked(c, cp);
    bool valid = cp != NULL && cp->p != NULL;
    char *invalid = cp != NULL && cp->invalid ? xstrdup(cp->invalid) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (obj != NULL)
        reconcile_policy_write(c, name, obj, valid, invalid);
    ctl_count(c, POLICY_KIND, obj == NULL ? "deleted" : valid ? "valid" : "invalid");
    free(invalid);
    cJSON_Delete(obj);
    ctl_enqueue_all(c, true);
    return (struct ctl_next){CTL_NEXT_FORGET, 0};
}
