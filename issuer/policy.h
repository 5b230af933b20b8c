/* policy.h -- IssuancePolicy: load and validate from a CRD-shaped object, evaluate requests.
 * Pure: no I/O, no logging, no globals. A loaded policy is immutable and may be evaluated
 * from many threads at once. */
#ifndef EMBER_POLICY_H
#define EMBER_POLICY_H

#include "csr.h"
#include "err.h"
#include "usage.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define POLICY_GROUP_VERSION "ember.issuer.dev/v1alpha1"
#define POLICY_KIND "IssuancePolicy"
#define POLICY_DEFAULT_MAX_SECONDS (90LL * 24 * 3600) /* cert-manager's default duration */
#define POLICY_MAX_MESSAGE 4096 /* evaluate() messages are cut (with "...") beyond this */

/* Named limits on what a policy object may hold (each exceeded limit is an ERR_INVALID naming
 * the field and the limit). */
#define POLICY_MAX_LIST 1000         /* entries in any list (allowed, namespaces, usages...) */
#define POLICY_MAX_PATTERN 1024      /* bytes in one regex, glob or CIDR */
#define POLICY_MAX_NAME 253          /* bytes in metadata.name */
#define POLICY_MAX_COUNT 1000        /* largest min/max a rule may state (CSR_MAX_SANS) */
#define POLICY_MAX_REGEX_COST 5000   /* one regex's size once its repeats ({n,m}, +) expand */
#define POLICY_MAX_REGEX_TOTAL 50000 /* the same, summed over every regex of a policy */
#define POLICY_MAX_VALUE_ECHO 128    /* bytes of a requested value quoted in a message */

struct policy; /* opaque */

/* Builds a policy from a whole IssuancePolicy object ({apiVersion, kind, metadata{name},
 * spec{...}} as design.md §1 shows). Every problem is ERR_INVALID with a message naming the
 * field path, e.g. `spec.sans.dnsNames.allowed[0]: invalid regex "[": ...`,
 * `spec.validity.max: invalid duration "1x"`, `spec.subject.title: unknown field`.
 * Also rejected: an empty list (omit the field instead), min/max/allowed under Forbidden, min
 * under Optional, min > max, regexes with back-references or stacked repeats ("a**") or that
 * expand past POLICY_MAX_REGEX_COST. JSON null counts as absent. The policy copies what it
 * needs: obj may be deleted afterwards. Returns a new policy (policy_free it) or NULL. */
struct policy *policy_from_json(const cJSON *obj, struct err *err) WUR;
void policy_free(struct policy *p);

/* Borrowed name (metadata.name). */
const char *policy_name(const struct policy *p);

/* What is asked, for evaluation. */
struct policy_request {
    const struct csr *csr;
    long long duration_s; /* requested spec.duration in seconds; 0 = not given */
    bool is_ca;
    usage_set usages;        /* 0 = not given (cert-manager's default applies) */
    const char *namespace;   /* the request's namespace (selector.namespaces) */
    const char *issuer_kind; /* "Issuer" or "ClusterIssuer" (selector.issuers) */
    const char *issuer_name;
};

/* Evaluates r against p and returns the number of violations (0 = allowed). When there are
 * violations, msg receives ONE message naming the policy and every violation, in a fixed
 * order, e.g. `policy "mesh": sans.dnsNames "evil.com" not allowed; keyAlgorithm RSA_2048
 * not allowed`. msg is always NUL-terminated (bounded by msglen).
 * Order: selector (namespaces, issuers), keyAlgorithm, subject fields (commonName,
 * organization, organizationalUnit, country, province, locality), other subject attributes,
 * sans (dnsNames, ipAddresses, uris, emailAddresses), usages, isCA; each "; "-separated item
 * counts one (the disallowed values of one field share an item). Values are quoted, escaped
 * (\xNN for control bytes and invalid UTF-8) and cut to POLICY_MAX_VALUE_ECHO bytes; the
 * message is cut to min(msglen - 1, POLICY_MAX_MESSAGE) bytes ending in "...". msg may be NULL
 * (msglen 0) to only count. A NULL r->csr is itself a violation. Validity never is (see
 * policy_validity). Thread-safe; deterministic. */
int policy_evaluate(const struct policy *p, const struct policy_request *r, char *msg,
                    size_t msglen);

/* The lifetime to issue: requested_s clamped to validity.max; validity.default (or max when
 * no default) when requested_s is 0. */
long long policy_validity(const struct policy *p, long long requested_s);

#endif
