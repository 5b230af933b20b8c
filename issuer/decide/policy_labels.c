/* policy_labels.c -- spec.selector.namespaceSelector: a Kubernetes LabelSelector (matchLabels,
 * matchExpressions), validated as the API server validates one, matched against a Namespace's
 * labels. */
#include "decide/policy_priv.h"

#include "base/jsonfield.h"
#include "base/k8sname.h"
#include "base/mem.h"
#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_LABELS_PATH "spec.selector.namespaceSelector"

static const char *const policy_labels_ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};

static const struct jsonfield policy_labels_fields[] = {
    {.name = "matchLabels", .type = JSONFIELD_OBJECT, .want = "an object of label: value"},
    {.name = "matchExpressions", .type = JSONFIELD_ARRAY},
    {0},
};
static const struct jsonfield policy_labels_expr_fields[] = {
    {.name = "key", .type = JSONFIELD_STRING, .required = true},
    {.name = "operator", .type = JSONFIELD_STRING, .required = true, .choices = policy_labels_ops},
    {.name = "values", .type = JSONFIELD_STRINGS},
    {0},
};

static int policy_labels_bad(const char *path, const char *what, const char *v, const char *rule,
                             struct err *err)
{
    char q[UTF8_ESCAPE_SIZE(POLICY_KEY_ECHO)];
    utf8_escape(v, POLICY_KEY_ECHO, true, q, sizeof(q));
    err_set(err, ERR_INVALID, "%s: invalid %s %s (%s)", path, what, q, rule);
    return -1;
}

static int policy_labels_check_value(const char *path, const char *v, struct err *err)
{
    if (k8sname_is_label_value(v))
        return 0;
    return policy_labels_bad(path, "label value", v, K8SNAME_LABEL_VALUE_RULE, err);
}

static int policy_labels_parse_match(const cJSON *ml, struct policy_label_sel *s, struct err *err)
{
    size_t i = 0;
    for (const cJSON *c = ml->child; c != NULL; c = c->next, i++) {
        char p[JSONFIELD_PATH_MAX];
        if (jsonfield_path(p, sizeof(p), POLICY_LABELS_PATH ".matchLabels",
                           c->string != NULL ? c->string : "", err) != 0)
            return -1;
        if (i == POLICY_MAX_LIST) {
            err_set(err, ERR_INVALID, "%s.matchLabels: more than %d labels", POLICY_LABELS_PATH,
                    POLICY_MAX_LIST);
            return -1;
        }
        if (c->string == NULL || !k8sname_is_label_key(c->string))
            return policy_labels_bad(POLICY_LABELS_PATH ".matchLabels", "label key",
                                     c->string != NULL ? c->string : "", K8SNAME_LABEL_KEY_RULE,
                                     err);
        if (strv_contains(&s->keys, c->string)) {
            err_set(err, ERR_INVALID, "%s: duplicate field", p);
            return -1;
        }
        if (!cJSON_IsString(c) || c->valuestring == NULL)
            return jsonfield_expected(p, "a string (the label's value)", c, err);
        if (policy_labels_check_value(p, c->valuestring, err) != 0)
            return -1;
        strv_push(&s->keys, c->string);
        strv_push(&s->values, c->valuestring);
    }
    return 0;
}

/* One matchExpressions entry at path into e (e->key set once it is valid). */
static int policy_labels_parse_expr(const cJSON *j, const char *path, struct policy_label_expr *e,
                                    struct err *err)
{
    const char *key;
    int op = 0;
    const cJSON *vals;
    if (jsonfield_check(j, path, policy_labels_expr_fields, 0, err) != 0 ||
        jsonfield_string(j, path, "key", &key, err) != 0 ||
        jsonfield_choice(j, path, "operator", policy_labels_ops, &op, err) != 0 ||
        jsonfield_strings(j, path, "values", POLICY_MAX_LIST, POLICY_KEY_ECHO, &vals, err) != 0)
        return -1;
    char kp[JSONFIELD_PATH_MAX];
    if (jsonfield_path(kp, sizeof(kp), path, "key", err) != 0)
        return -1;
    if (!k8sname_is_label_key(key))
        return policy_labels_bad(kp, "label key", key, K8SNAME_LABEL_KEY_RULE, err);
    e->op = (enum policy_label_op)op;
    bool set_op = e->op == POLICY_LABEL_IN || e->op == POLICY_LABEL_NOT_IN;
    bool has_vals = vals != NULL && vals->child != NULL;
    if (set_op && !has_vals) {
        err_set(err, ERR_INVALID, "%s.values: required with operator %s (list the label values)",
                path, policy_labels_ops[op]);
        return -1;
    }
    if (!set_op && has_vals) {
        err_set(err, ERR_INVALID, "%s.values: must be empty with operator %s (remove it)", path,
                policy_labels_ops[op]);
        return -1;
    }
    size_t i = 0;
    for (const cJSON *c = has_vals ? vals->child : NULL; c != NULL; c = c->next, i++) {
        char vp[JSONFIELD_PATH_MAX], ip[JSONFIELD_PATH_MAX];
        if (jsonfield_path(vp, sizeof(vp), path, "values", err) != 0 ||
            jsonfield_path_index(ip, sizeof(ip), vp, i, err) != 0 ||
            policy_labels_check_value(ip, c->valuestring, err) != 0)
            return -1;
        strv_push(&e->values, c->valuestring);
    }
    e->key = xstrdup(key);
    return 0;
}

static int policy_labels_parse_exprs(const cJSON *me, struct policy_label_sel *s, struct err *err)
{
    size_t n = (size_t)cJSON_GetArraySize(me);
    if (n > POLICY_MAX_LIST) {
        err_set(err, ERR_INVALID, "%s.matchExpressions: %zu entries, at most %d allowed",
                POLICY_LABELS_PATH, n, POLICY_MAX_LIST);
        return -1;
    }
    s->exprs = xcalloc(n > 0 ? n : 1, sizeof(*s->exprs));
    size_t i = 0;
    for (const cJSON *c = me->child; c != NULL; c = c->next, i++) {
        char p[JSONFIELD_PATH_MAX];
        if (jsonfield_path_index(p, sizeof(p), POLICY_LABELS_PATH ".matchExpressions", i, err) != 0)
            return -1;
        s->n_exprs++; /* freed whatever happens */
        if (policy_labels_parse_expr(c, p, &s->exprs[i], err) != 0)
            return -1;
    }
    return 0;
}

int policy_labels_parse(const cJSON *sel, struct policy_label_sel **out, struct err *err)
{
    *out = NULL;
    const cJSON *ml, *me;
    if (jsonfield_check(sel, POLICY_LABELS_PATH, policy_labels_fields, 0, err) != 0 ||
        jsonfield_object(sel, POLICY_LABELS_PATH, "matchLabels", &ml, err) != 0 ||
        jsonfield_array(sel, POLICY_LABELS_PATH, "matchExpressions", &me, err) != 0)
        return -1;
    if ((ml == NULL || ml->child == NULL) && (me == NULL || me->child == NULL)) {
        err_set(err, ERR_INVALID,
                "%s: selects every namespace (give matchLabels or matchExpressions, or leave "
                "it out)",
                POLICY_LABELS_PATH);
        return -1;
    }
    struct policy_label_sel *s = xcalloc(1, sizeof(*s));
    if ((ml != NULL && policy_labels_parse_match(ml, s, err) != 0) ||
        (me != NULL && policy_labels_parse_exprs(me, s, err) != 0)) {
        policy_labels_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void policy_labels_free(struct policy_label_sel *s)
{
    if (s == NULL)
        return;
    strv_free(&s->keys);
    strv_free(&s->values);
    for (size_t i = 0; i < s->n_exprs; i++) {
        free(s->exprs[i].key);
        strv_free(&s->exprs[i].values);
    }
    free(s->exprs);
    free(s);
}

/* The value of label key in labels ("key=value"), or NULL when it has none. */
static const char *policy_labels_get(const struct strv *labels, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; labels != NULL && i < labels->n; i++)
        if (strncmp(labels->v[i], key, kl) == 0 && labels->v[i][kl] == '=')
            return labels->v[i] + kl + 1;
    return NULL;
}

static bool policy_labels_expr_match(const struct policy_label_expr *e, const struct strv *labels)
{
    const char *v = policy_labels_get(labels, e->key);
    switch (e->op) {
    case POLICY_LABEL_IN: return v != NULL && strv_contains(&e->values, v);
    case POLICY_LABEL_NOT_IN: return v == NULL || !strv_contains(&e->values, v);
    case POLICY_LABEL_EXISTS: return v != NULL;
    case POLICY_LABEL_DOES_NOT_EXIST: return v == NULL;
    }
    return false;
}

bool policy_labels_match(const struct policy_label_sel *s, const struct strv *labels)
{
    for (size_t i = 0; i < s->keys.n; i++) {
        const char *v = policy_labels_get(labels, s->keys.v[i]);
        if (v == NULL || strcmp(v, s->values.v[i]) != 0)
            return false;
    }
    for (size_t i = 0; i < s->n_exprs; i++)
        if (!policy_labels_expr_match(&s->exprs[i], labels))
            return false;
    return true;
}
