/* policy_priv.h -- what the files of an IssuancePolicy share: the loaded policy's struct, its
 * rules and fields, and the helpers one file gives the others. Only decide/policy*.c include
 * it; everyone else uses policy.h. */
#ifndef EMBER_POLICY_PRIV_H
#define EMBER_POLICY_PRIV_H

#include "base/cidr.h"
#include "base/err.h"
#include "base/strv.h"
#include "decide/policy.h"
#include "x509/usage.h"

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* Keys and names echoed in error messages are cut to this many bytes. */
#define POLICY_KEY_ECHO 64

enum policy_rule_kind { POLICY_RULE_FORBIDDEN, POLICY_RULE_OPTIONAL, POLICY_RULE_REQUIRED };

/* One subject attribute's or SAN type's rule. */
struct policy_rule {
    enum policy_rule_kind kind;
    long long min;
    long long max; /* < 0: no bound */
    bool any;      /* no `allowed` list: any value */
    regex_t *re;   /* anchored "^(...)$" */
    size_t n_re;
    struct cidr *cidr; /* ipAddresses only */
    size_t n_cidr;
};

/* Subject attributes then SAN types, in the order violations are reported. */
enum policy_field {
    POLICY_F_CN,
    POLICY_F_O,
    POLICY_F_OU,
    POLICY_F_C,
    POLICY_F_ST,
    POLICY_F_L,
    POLICY_F_SERIAL,
    POLICY_F_DNS,
    POLICY_F_IP,
    POLICY_F_URI,
    POLICY_F_EMAIL,
    POLICY_F_COUNT
};
#define POLICY_F_FIRST_SAN POLICY_F_DNS

/* Where each field sits: spec.<group>.<name>, and the struct strv of its values in a CSR. */
struct policy_field_info {
    const char *group;
    const char *name;
    size_t off; /* of the struct strv in struct csr */
};
extern const struct policy_field_info policy_fields[POLICY_F_COUNT];

/* spec.selector.namespaceSelector (policy_labels.c): a Kubernetes LabelSelector. */
enum policy_label_op {
    POLICY_LABEL_IN,
    POLICY_LABEL_NOT_IN,
    POLICY_LABEL_EXISTS,
    POLICY_LABEL_DOES_NOT_EXIST
};
struct policy_label_expr {
    char *key;
    enum policy_label_op op;
    struct strv values;
};
struct policy_label_sel {
    struct strv keys, values; /* matchLabels, same index */
    struct policy_label_expr *exprs;
    size_t n_exprs;
};

struct policy {
    char *name;
    bool has_sel_ns, has_sel_issuers;
    struct strv sel_ns;      /* fnmatch globs */
    struct strv sel_issuers; /* "Issuer/<glob>" or "ClusterIssuer/<glob>" */
    /* spec.selector.requesters (fnmatch globs; see policy_request.requester) */
    bool has_requesters;
    struct strv req_users;
    struct strv req_sa_ns, req_sa_name; /* serviceAccounts split at the '/', same index */
    struct strv req_groups;
    struct strv req_certs;
    long long max_s, default_s; /* default_s 0: none, max_s applies */
    bool has_key_algs;
    struct strv key_algs; /* canonical names, no duplicates */
    struct policy_rule rules[POLICY_F_COUNT];
    usage_set usages;
    bool is_ca;
    /* issue 14 section 4: the smaller constraints */
    long long min_s;                 /* spec.validity.min; 0: none */
    int rsa_min_bits, rsa_max_bits;  /* spec.keySizes.rsa; 0: no bound */
    usage_set required_usages;       /* spec.requiredUsages; 0: none */
    struct policy_label_sel *ns_sel; /* spec.selector.namespaceSelector, or NULL */
};

/* policy.c: true when name is a key algorithm Ember signs (RSA_2048..RSA_16384, EC_*). */
bool policy_key_alg_supported(const char *name);

/* policy_regex.c: compiles one `allowed` regex anchored as "^(pat)$" into out, after checking
 * its cost against POLICY_MAX_REGEX_COST and what is left of *budget (which it lowers).
 * Returns 0, or -1 with ERR_INVALID naming path. */
int policy_regex_compile(const char *pat, const char *path, regex_t *out, long long *budget,
                         struct err *err) WUR;

/* policy_labels.c: spec.selector.namespaceSelector (sel, an object) into *out (free it with
 * policy_labels_free), validated as Kubernetes validates a LabelSelector. Returns 0, or -1 with
 * ERR_INVALID naming the field. */
int policy_labels_parse(const cJSON *sel, struct policy_label_sel **out, struct err *err) WUR;
/* Whether labels ("key=value" strings) satisfy s, with Kubernetes' semantics. */
bool policy_labels_match(const struct policy_label_sel *s, const struct strv *labels);
void policy_labels_free(struct policy_label_sel *s);

#endif
