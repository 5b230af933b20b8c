/* nslabels.h -- the labels of known Namespaces, for spec.selector.namespaceSelector: fed by the
 * controller's watch of Namespaces or by the Namespace objects of --manifests, read by the
 * pipeline's namespace_labels lookup. Bounded; thread-safe (a mutex). */
#ifndef EMBER_NSLABELS_H
#define EMBER_NSLABELS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "base/strv.h"

#define NSLABELS_MAX_NAMESPACES 20000 /* Namespaces kept; more are refused (not known) */
#define NSLABELS_MAX_LABELS                                                                        \
    256                          /* labels of one Namespace kept; more: the Namespace is           \
                                    refused, as a cut set could satisfy NotIn wrongly */
#define NSLABELS_MAX_BYTES 65536 /* bytes of one Namespace's labels ("key=value" each) */

struct nslabels;

struct nslabels *nslabels_new(void);
void nslabels_free(struct nslabels *t);

/* Adds or replaces the Namespace obj (metadata.name, metadata.labels: string values). Returns
 * 0, or -1 with ERR_INVALID (not a Namespace with a name, a label not a string, a key or value
 * Kubernetes would refuse: k8sname_is_label_key/_value, e.g. `Namespace team-a:
 * metadata.labels "team=a": invalid label key (...)`) or ERR_TOO_BIG
 * (past a limit above), the Namespace then not known (an older entry of it removed). */
int nslabels_put(struct nslabels *t, const cJSON *obj, struct err *err) WUR;
/* Forgets the Namespace named name (no-op when unknown). */
void nslabels_remove(struct nslabels *t, const char *name);
/* Copies the labels of Namespace name into out ("key=value" each, appended); true when it is
 * known. */
bool nslabels_get(struct nslabels *t, const char *name, struct strv *out);
/* Namespaces known. */
size_t nslabels_count(struct nslabels *t);

/* Entries from a single GET (the controller, when the watch has not brought a Namespace yet).
 * The watch is the truth: nslabels_put and nslabels_remove replace or drop such an entry, and
 * an offer never overwrites anything. */

/* Changes made by nslabels_put and nslabels_remove so far: read it before the GET. */
unsigned long nslabels_seq(struct nslabels *t);
/* Reads the Namespace obj, which must be named name, and appends its labels to out (as
 * nslabels_get). When keep is set, it is also kept, marked provisional, if the table has no
 * entry for name and no put or remove happened since seq (so a GET answered before a newer
 * watch event, a deletion included, cannot bring back what the watch replaced). Returns 0, or
 * -1 with ERR_INVALID or ERR_TOO_BIG as nslabels_put (a mismatched name too), out unchanged. */
int nslabels_offer(struct nslabels *t, const cJSON *obj, const char *name, bool keep,
                   unsigned long seq, struct strv *out, struct err *err) WUR;
/* Forgets every provisional entry a complete list did not confirm (the Namespace is gone, or
 * came after the list: a later GET or event brings it back). Returns how many. */
size_t nslabels_drop_provisional(struct nslabels *t);

#endif
