/* manifest.h -- Kubernetes manifests (multi-document YAML, or JSON) to cJSON objects. Pure. */
#ifndef EMBER_MANIFEST_H
#define EMBER_MANIFEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/err.h"

/* Named limits on hostile input. */
#define MANIFEST_MAX_BYTES (4 * 1024 * 1024) /* one input */
#define MANIFEST_MAX_DEPTH 64                /* nesting of mappings/sequences */
#define MANIFEST_MAX_NODES 200000            /* scalars + collections in one input */
#define MANIFEST_MAX_DOCS 1000

/* Parses YAML 1.1/1.2 as Kubernetes does (sigs.k8s.io/yaml): plain scalars true/false,
 * null/~/empty, integers and floats become JSON types, quoted scalars stay strings; keys
 * must be scalars; anchors and aliases are refused; duplicate keys are an error; tags other
 * than the core ones are refused. JSON is YAML, so JSON input works too. Documents that are
 * empty or null are skipped; a top-level "kind: List" document is expanded into its items.
 * Returns a cJSON array of the document objects (cJSON_Delete it) or NULL; errors are
 * ERR_INVALID with "line L column C: ..." or ERR_TOO_BIG naming the limit. Thread-safe. */
cJSON *manifest_parse(const char *data, size_t len, struct err *err) WUR;

/* Parses exactly one object (YAML or JSON) as a request body: same rules, but more or fewer
 * than one document is ERR_INVALID. Returns the object (cJSON_Delete it) or NULL. */
cJSON *manifest_parse_one(const char *data, size_t len, struct err *err) WUR;

#endif
