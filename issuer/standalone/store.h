/* store.h -- the standalone object store: Issuers, ClusterIssuers, IssuancePolicies and Secrets
 * loaded from manifest files. Built once at start-up, then read-only (thread-safe lookups). */
#ifndef EMBER_STORE_H
#define EMBER_STORE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "decide/pipeline.h"
#include "decide/policy.h"
#include "issuers/issuer.h"

#define STORE_MAX_FILES 1000

struct store;

/* cluster_ns: where ClusterIssuers' Secrets are read from. */
struct store *store_new(const char *cluster_ns);
void store_free(struct store *st);

/* Loads one manifest file, or every *.yaml, *.yml and *.json file of a directory (sorted by
 * name, not recursive). Fails on unreadable files, YAML/JSON errors and duplicate objects,
 * with the file name in the message. Namespaces (v1) are kept for their labels
 * (spec.selector.namespaceSelector). Objects of other kinds are skipped and reported. */
int store_load_path(struct store *st, const char *path, struct err *err) WUR;
/* Adds one object; origin names it in messages (a file name). */
int store_add_object(struct store *st, const cJSON *obj, const char *origin, struct err *err) WUR;

/* Called for every problem found while loading and resolving: invalid policies and issuers,
 * missing Secrets, skipped objects. object is "Kind/ns/name"-style. */
typedef void (*store_report_fn)(void *ud, const char *object, const char *problem);

/* Loads each issuer's signer from its Secrets and checks it at now (a Vault issuer logs in
 * and asks /v1/sys/health); issuers that cannot be loaded or checked stay not ready with a
 * message naming the Secret or the Vault error. */
void store_resolve(struct store *st, time_t now, store_report_fn report, void *ud);

/* Lookups with the pipeline_env signatures (ud is the store). */
struct issuer *store_find_issuer(void *ud, const char *kind, const char *ns, const char *name);
int store_find_policy(void *ud, const char *name, const struct policy **p,
                      const char **invalid_msg);

/* pipeline_env.namespace_labels over the Namespace objects (apiVersion v1) of the manifests:
 * known or not found (the manifests are the truth), never unavailable. */
enum pipeline_ns store_namespace_labels(void *ud, const char *ns, struct strv *labels,
                                        struct err *why);

size_t store_count_issuers(const struct store *st);
size_t store_count_policies(const struct store *st);
/* The i-th issuer (borrowed), for metrics and readiness. */
struct issuer *store_issuer_at(const struct store *st, size_t i);
/* All store_count_issuers() issuers (borrowed; NULL when there are none), for
 * issuer_publish_metrics. */
struct issuer *const *store_issuers(const struct store *st);

/* Checks every issuer that has a signer again (CA expiry; Vault login and health) and updates
 * its Ready state; reports each issuer whose state changed. Returns how many are not ready.
 * Safe while requests are being served. */
size_t store_recheck(struct store *st, time_t now, store_report_fn report, void *ud);

#endif
