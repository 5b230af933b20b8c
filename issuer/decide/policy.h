/* policy.h -- IssuancePolicy: load and validate from a CRD-shaped object, evaluate requests.
 * Validation is policy.c (its regexes policy_regex.c, their ${variables} policy_vars.c),
 * evaluation policy_check.c. Pure: no I/O, no logging, no globals. A loaded policy is
 * immutable (but for the compiled expansions its ${variable} patterns cache, behind a lock of
 * their own) and may be evaluated from many threads at once. */
#ifndef EMBER_POLICY_H
#define EMBER_POLICY_H

#include "base/err.h"
#include "base/strv.h"
#include "decide/caller.h"
#include "x509/csr.h"
#include "x509/usage.h"

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
#define POLICY_MAX_GROUP_ECHO 8      /* a requester's groups (and SANs) quoted in a message */

struct policy; /* opaque */

/* Builds a policy from a whole IssuancePolicy object ({apiVersion, kind, metadata{name},
 * spec{...}} as design.md §1 shows). Every problem is ERR_INVALID with a message naming the
 * field path, e.g. `spec.sans.dnsNames.allowed[0]: invalid regex "[": ...`,
 * `spec.validity.max: invalid duration "1x"`, `spec.subject.title: unknown field (known: ...)`
 * (the members of each object are checked by base/jsonfield, in its message shapes).
 * Also rejected: an empty list (omit the field instead), min/max/allowed under Forbidden, min
 * under Optional, min > max, regexes with back-references or stacked repeats ("a**") or that
 * expand past POLICY_MAX_REGEX_COST; under spec.selector.requesters: an object with no list
 * ("say who, or leave requesters out"), an empty entry, a serviceAccounts entry that is not
 * "<namespace glob>/<name glob>"; spec.validity.min longer than max or default;
 * spec.keySizes.rsa without min and max, or min > max; a spec.requiredUsages entry spec.usages
 * does not allow; a spec.selector.namespaceSelector that selects every namespace or that
 * Kubernetes would refuse as a LabelSelector. JSON null counts as absent. The policy copies
 * what it needs: obj may be deleted afterwards. Returns a new policy (policy_free it) or NULL. */
struct policy *policy_from_json(const cJSON *obj, struct err *err) WUR;
void policy_free(struct policy *p);

/* Borrowed name (metadata.name). */
const char *policy_name(const struct policy *p);

/* True when the policy has spec.selector.requesters (who may use it, by identity). The signing
 * API refuses a policy without it (policy_request.require_requesters). Thread-safe. */
bool policy_has_requesters(const struct policy *p);

/* True when what the policy decides depends on the request's namespace: a pattern uses
 * ${namespace}, or it has spec.selector.namespaces or spec.selector.namespaceSelector. The
 * signing API then lets a caller authenticated as a service account request only in its own
 * namespace (policy_request.namespace_claimed). Thread-safe. */
bool policy_depends_on_namespace(const struct policy *p);

/* spec.ca.maxPathLen of a policy with isCA, into *out: the pathLenConstraint a CA request that
 * asks for none is issued with. False when the policy has none. Thread-safe. */
bool policy_ca_max_path_len(const struct policy *p, long *out);

/* True when the policy has spec.selector.namespaceSelector: evaluating it needs the labels of
 * the request's Namespace (policy_request.namespace_labels). Thread-safe. */
bool policy_has_namespace_selector(const struct policy *p);

/* What is asked, for evaluation. */
struct policy_request {
    const struct csr *csr;
    long long duration_s; /* requested spec.duration in seconds; 0 = not given */
    bool is_ca;
    usage_set usages;      /* 0 = not given (cert-manager's default applies) */
    const char *namespace; /* the request's namespace (selector.namespaces, ${namespace}) */
    /* ${serviceAccount} and ${serviceAccountNamespace} in `allowed` regexes: NAME and NS of a
     * requester system:serviceaccount:NS:NAME; NULL when the requester is none. A regex whose
     * variable has no value (NULL or "") matches nothing. Borrowed. */
    const char *service_account;
    const char *service_account_namespace;
    /* The namespace is the requester's claim (the signing API's metadata.namespace), not where
     * the API server put the request: under a policy that depends on it
     * (policy_depends_on_namespace), a requester with a service_account_namespace other than
     * namespace is a violation. */
    bool namespace_claimed;
    /* The labels of that Namespace, "key=value" each (selector.namespaceSelector), borrowed;
     * NULL = none. namespace_known false: no Namespace object of that name is known (none in
     * the cache or the manifests), and a namespaceSelector matches nothing. */
    const struct strv *namespace_labels;
    bool namespace_known;
    const char *issuer_kind; /* "Issuer" or "ClusterIssuer" (selector.issuers) */
    const char *issuer_name;
    /* Who asks (selector.requesters); borrowed. NULL = not checked, unless require_requesters.
     * A policy with requesters admits a caller when one entry matches it:
     * - users: the username (TOKEN, CERT_MANAGER only: never a certificate, however it reads);
     * - serviceAccounts: "NS/NAME" against a username system:serviceaccount:NS:NAME (TOKEN and
     *   CERT_MANAGER only: a certificate never names a service account);
     * - groups: any of the caller's groups (TOKEN, CERT_MANAGER);
     * - certificates: a client certificate's one identity (MTLS only; caller_mtls_identity:
     *   the first URI SAN, else the first DNS SAN, else the CN), never its other names.
     * Entries are fnmatch(3) globs ('*', '?', '[...]'). In users, groups and serviceAccounts '*'
     * matches any characters. In certificates '*', '?' and '[...]' never match '/', so a glob
     * stays within one path segment of a URI ("spiffe://td/ns/team-a/sa/" then '*' admits
     * every service account of team-a and nothing deeper), and DNS SANs match
     * case-insensitively. CALLER_ANONYMOUS and CALLER_NONE (a CertificateRequest without
     * spec.username) are admitted by no requesters list: they pass only a policy without
     * requesters, and only while require_requesters is false. */
    const struct caller *requester;
    /* The signing API with authentication on: a policy without selector.requesters is itself a
     * violation, and a NULL requester counts as CALLER_NONE. */
    bool require_requesters;
};

/* Evaluates r against p and returns the number of violations (0 = allowed). When there are
 * violations, msg receives ONE message naming the policy and every violation, in a fixed
 * order, e.g. `policy "mesh": sans.dnsNames "evil.com" not allowed; keyAlgorithm RSA_2048
 * not allowed`. msg is always NUL-terminated (bounded by msglen).
 * Order: selector (requesters, namespaces, namespaceSelector, issuers), a claimed namespace not
 * the service account's own (namespace_claimed: `policy "mesh": it uses ${namespace}: a service
 * account of namespace "team-a" may only request in namespace "team-a", not "team-b"`; `it
 * selects by namespace: ...` for a policy with selector.namespaces or namespaceSelector but
 * no ${namespace}),
 * validity.min, keyAlgorithm, keySizes, subject fields (commonName, organization,
 * organizationalUnit, country, province, locality, streetAddress, postalCode, serialNumber),
 * subject.otherAttributes (each listed OID in policy order, e.g. `subject 2.5.4.12 (title)
 * "boss" not allowed`, then one item naming the attributes no entry lists), sans (dnsNames,
 * ipAddresses, uris, emailAddresses, then otherNames, e.g. `sans.otherNames
 * 1.3.6.1.4.1.311.20.2.3 "bob@evil.com" not allowed`), usages, requiredUsages, isCA, ca (of a
 * CA request under a policy with isCA: maxPathLen, then nameConstraints: required, permitted
 * dnsDomains, ipRanges, emailAddresses, uriDomains, excluded in the same order); each
 * "; "-separated item counts one (the disallowed values of one field share an item). Values
 * are quoted, escaped (\xNN for control bytes and invalid UTF-8) and cut to
 * POLICY_MAX_VALUE_ECHO bytes; the message is cut to min(msglen - 1, POLICY_MAX_MESSAGE) bytes
 * ending in "...". msg may be NULL (msglen 0) to only count. A NULL r->csr is itself a
 * violation. Validity is only when a requested duration (duration_s > 0) is shorter than
 * spec.validity.min, e.g. `validity: 10m0s requested, at least 1h0m0s (spec.validity.min)`;
 * longer ones are clamped (policy_validity). An RSA key outside spec.keySizes.rsa is `keySize
 * RSA 2048 bits, at least 3072 (spec.keySizes.rsa.min)`; usages missing from spec.requiredUsages
 * are one item naming them (the request's usages, or cert-manager's default when it names
 * none). A namespace whose labels do not satisfy spec.selector.namespaceSelector is one item
 * naming its labels, or, when namespace_known is false, saying that it is not known to Ember
 * (no Namespace object). A requester not admitted is one item
 * naming it and its groups (or its certificate's names), e.g. `requester
 * "system:serviceaccount:team-b:ci" (groups "system:serviceaccounts",
 * "system:serviceaccounts:team-b") is not admitted by spec.selector.requesters`. Thread-safe;
 * deterministic. */
int policy_evaluate(const struct policy *p, const struct policy_request *r, char *msg,
                    size_t msglen);

/* The lifetime to issue: requested_s clamped to validity.max; validity.default (or max when
 * no default) when requested_s is 0. */
long long policy_validity(const struct policy *p, long long requested_s);

/* spec.validity.min in seconds, 0 when none: the shortest lifetime a signer may issue
 * (sign_params.min_duration_s), since a signer can cut a lifetime after approval. */
long long policy_min_validity(const struct policy *p);

#endif
