#!/usr/bin/env python3
"""crdcheck.py -- checks Ember's CRDs (api/) and every ember.issuer.dev manifest against them.

Python 3 standard library only. YAML is read by test/integration/yaml2json (Ember's own
manifest_parse, the sigs.k8s.io/yaml rules), and Ember's loaders are run by
test/integration/crdagree (issuer_from_json, policy_from_json), both built by test_crds.sh.

It checks
  1. each CRD is well-formed: apiVersion, kind, names, scope, one served+storage version
     v1alpha1, the status subresource, the printer columns, a structural schema with a
     description on every field, and the same spec for Issuer and ClusterIssuer;
  2. every ember.issuer.dev object in the given manifests validates against its CRD;
  3. known-bad objects (CASES below) are refused with a message naming the field, and
     known-good edge cases are accepted;
  4. Ember's C loaders agree with the schemas on all of the above; the places where they
     cannot (a schema does not compile regexes) are marked in CASES and printed as notes;
  5. sweeps (SWEEPS): hundreds of Go durations, every RSA_<n> up to 17000 and hundreds of
     dotted OIDs get the same verdict from the schema (pattern + CEL) as from the C loader.

The validator covers the OpenAPI v3 subset the CRDs use and evaluates their CEL rules
(x-kubernetes-validations) by exact rule text: an unknown keyword or rule is an error, so
nothing is skipped silently. Unknown fields are refused, as `kubectl apply` does with its
default strict field validation. Prints "ok - ..." / "not ok - ..." lines; exits 1 on failure.
"""
import argparse
import base64
import copy
import json
import random
import re
import subprocess
import sys

GROUP = "ember.issuer.dev"
VERSION = "v1alpha1"
API_VERSION = GROUP + "/" + VERSION
# kind -> (plural, singular, scope)
KINDS = {
    "Issuer": ("issuers", "issuer", "Namespaced"),
    "ClusterIssuer": ("clusterissuers", "clusterissuer", "Cluster"),
    "IssuancePolicy": ("issuancepolicies", "issuancepolicy", "Cluster"),
}
READY = '.status.conditions[?(@.type=="Ready")]'
PRINTER_COLUMNS = [
    ("Ready", "string", READY + ".status"),
    ("Reason", "string", READY + ".reason"),
    ("Message", "string", READY + ".message"),
    ("Age", "date", ".metadata.creationTimestamp"),
]
CONDITION_FIELDS = ["type", "status", "reason", "message", "lastTransitionTime",
                    "observedGeneration"]
SCHEMA_KEYWORDS = {
    "type", "description", "properties", "required", "items", "enum", "pattern", "format",
    "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields", "additionalProperties", "nullable",
}

from tap import failures, not_ok, ok  # noqa: E402  (this directory is on sys.path)


def note(msg):
    print("# note: " + msg)


class SchemaError(Exception):
    """The schema uses something this validator does not implement."""


# ---- Go durations, as CEL's duration() parses them (Go time.ParseDuration) ----

GO_UNITS = {"ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000, "ms": 10**6,
            "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
GO_LIMIT = 1 << 63


def _isdigit(c):
    return "0" <= c <= "9"


def go_duration_ns(s):
    """Nanoseconds of a Go duration string, step by step as Go's time.ParseDuration (which
    CEL's duration() uses) computes them, fractions in float64 included; ValueError where Go
    fails."""
    orig = s
    neg = s[:1] == "-"
    if s[:1] in ("+", "-"):
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise ValueError("invalid duration %r" % orig)
    total = 0
    i = 0
    n = len(s)
    while i < n:
        if not (s[i] == "." or _isdigit(s[i])):
            raise ValueError("invalid duration %r" % orig)
        start = i
        v = 0
        while i < n and _isdigit(s[i]):
            if v > GO_LIMIT // 10:
                raise ValueError("invalid duration %r" % orig)
            v = v * 10 + int(s[i])
            if v > GO_LIMIT:
                raise ValueError("invalid duration %r" % orig)
            i += 1
        pre = i != start
        post = False
        f, scale = 0, 1.0
        if i < n and s[i] == ".":
            i += 1
            fstart = i
            overflow = False
            while i < n and _isdigit(s[i]):
                if not overflow:
                    if f > (GO_LIMIT - 1) // 10:
                        overflow = True
                    else:
                        y = f * 10 + int(s[i])
                        if y > GO_LIMIT:
                            overflow = True
                        else:
                            f, scale = y, scale * 10
                i += 1
            post = i != fstart
        if not pre and not post:
            raise ValueError("invalid duration %r" % orig)
        ustart = i
        while i < n and s[i] != "." and not _isdigit(s[i]):
            i += 1
        unit = GO_UNITS.get(s[ustart:i])
        if unit is None:
            raise ValueError("missing or unknown unit in duration %r" % orig)
        if v > GO_LIMIT // unit:
            raise ValueError("invalid duration %r" % orig)
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > GO_LIMIT:
                raise ValueError("invalid duration %r" % orig)
        total += v
        if total > GO_LIMIT:
            raise ValueError("invalid duration %r" % orig)
    if not neg and total > GO_LIMIT - 1:
        raise ValueError("invalid duration %r" % orig)
    return -total if neg else total


# ---- the CEL rules used by the CRDs, by exact text ----

def _dur(v):
    return go_duration_ns(v)


CEL_RULES = {
    "has(self.ca) != has(self.vault)":
        lambda o: ("ca" in o) != ("vault" in o),
    "!(has(self.caBundle) && has(self.caBundleSecretRef))":
        lambda o: not ("caBundle" in o and "caBundleSecretRef" in o),
    "has(self.clientCertSecretRef) == has(self.clientKeySecretRef)":
        lambda o: ("clientCertSecretRef" in o) == ("clientKeySecretRef" in o),
    "has(self.tokenSecretRef) || has(self.appRole) || has(self.clientCertificate) || "
    "has(self.kubernetes)":
        lambda o: any(k in o for k in ("tokenSecretRef", "appRole", "clientCertificate",
                                       "kubernetes")),
    "(has(self.tokenSecretRef) ? 1 : 0) + (has(self.appRole) ? 1 : 0) + "
    "(has(self.clientCertificate) ? 1 : 0) + (has(self.kubernetes) ? 1 : 0) + "
    "(has(self.aws) ? 1 : 0) <= 1":
        lambda o: sum(k in o for k in ("tokenSecretRef", "appRole", "clientCertificate",
                                       "kubernetes", "aws")) <= 1,
    "!has(self.aws)":
        lambda o: "aws" not in o,
    "has(self.secretRef) != has(self.serviceAccountRef)":
        lambda o: ("secretRef" in o) != ("serviceAccountRef" in o),
    "self.rule != 'Forbidden' || !(has(self.min) || has(self.max) || has(self.allowed))":
        lambda o: o["rule"] != "Forbidden" or not ("min" in o or "max" in o or "allowed" in o),
    "!has(self.min) || self.rule == 'Required'":
        lambda o: "min" not in o or o["rule"] == "Required",
    "!has(self.min) || self.min >= 1":
        lambda o: "min" not in o or o["min"] >= 1,
    "!has(self.max) || self.max >= (has(self.min) ? self.min : "
    "(self.rule == 'Required' ? 1 : 0))":
        lambda o: "max" not in o or o["max"] >= (
            o["min"] if "min" in o else (1 if o["rule"] == "Required" else 0)),
    "!has(self.default) || duration(self.default) <= (has(self.max) ? duration(self.max) : "
    "duration('2160h'))":
        lambda o: "default" not in o or _dur(o["default"]) <= (
            _dur(o["max"]) if "max" in o else _dur("2160h")),
    # spec.ca (CA requests' pathLen and nameConstraints)
    "!has(self.ca) || (has(self.isCA) && self.isCA)":
        lambda o: "ca" not in o or o.get("isCA") is True,
    "has(self.maxPathLen) || has(self.nameConstraints)":
        lambda o: "maxPathLen" in o or "nameConstraints" in o,
    "has(self.permitted) || has(self.excluded) || (has(self.required) && self.required)":
        lambda o: "permitted" in o or "excluded" in o or o.get("required") is True,
    "has(self.dnsDomains) || has(self.ipRanges) || has(self.emailAddresses) || "
    "has(self.uriDomains)":
        lambda o: any(k in o for k in ("dnsDomains", "ipRanges", "emailAddresses", "uriDomains")),
    "has(self.users) || has(self.serviceAccounts) || has(self.groups) || has(self.certificates)":
        lambda o: any(k in o for k in ("users", "serviceAccounts", "groups", "certificates")),
    # spec.subject.otherAttributes[]: an OID with its own field is named by that field
    "!(self.oid in ['2.5.4.3', '2.5.4.10', '2.5.4.11', '2.5.4.6', '2.5.4.8', '2.5.4.7', "
    "'2.5.4.9', '2.5.4.17', '2.5.4.5'])":
        lambda o: o["oid"] not in ("2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "2.5.4.8",
                                   "2.5.4.7", "2.5.4.9", "2.5.4.17", "2.5.4.5"),
    "duration(self) >= duration('1s')":
        lambda s: _dur(s) >= _dur("1s"),
    "duration(self) < duration('876000h1s')":
        lambda s: _dur(s) < _dur("876000h1s"),
    # issue 14 section 4: validity.min, keySizes, namespaceSelector
    "!has(self.min) || duration(self.min) <= (has(self.max) ? duration(self.max) : "
    "duration('2160h'))":
        lambda o: "min" not in o or _dur(o["min"]) <= (
            _dur(o["max"]) if "max" in o else _dur("2160h")),
    "!has(self.min) || !has(self.default) || duration(self.min) <= duration(self.default)":
        lambda o: "min" not in o or "default" not in o or _dur(o["min"]) <= _dur(o["default"]),
    "has(self.min) || has(self.max)":
        lambda o: "min" in o or "max" in o,
    "!has(self.min) || !has(self.max) || self.min <= self.max":
        lambda o: "min" not in o or "max" not in o or o["min"] <= o["max"],
    "(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && "
    "size(self.matchExpressions) > 0)":
        lambda o: bool(o.get("matchLabels")) or bool(o.get("matchExpressions")),
    "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : "
    "(!has(self.values) || size(self.values) == 0)":
        lambda o: bool(o.get("values")) if o["operator"] in ("In", "NotIn") else not o.get("values"),
    # spec.vault.subCA (the Vault sub-CA mode)
    "has(self.path) || (has(self.subCA) && (!has(self.subCA.enabled) || self.subCA.enabled))":
        lambda o: "path" in o or ("subCA" in o and o["subCA"].get("enabled", True)),
    "(has(self.enabled) && !self.enabled) || has(self.path)":
        lambda o: ("enabled" in o and not o["enabled"]) or "path" in o,
    "duration(has(self.maxLeafDuration) ? self.maxLeafDuration : '24h') < "
    "duration(has(self.duration) ? self.duration : '168h')":
        lambda o: _dur(o.get("maxLeafDuration", "24h")) < _dur(o.get("duration", "168h")),
    "!has(self.renewBefore) || (duration(self.renewBefore) < duration(has(self.duration) ? "
    "self.duration : '168h') && duration(self.renewBefore) >= duration(has(self.maxLeafDuration) ? "
    "self.maxLeafDuration : '24h'))":
        lambda o: "renewBefore" not in o or (
            _dur(o["renewBefore"]) < _dur(o.get("duration", "168h")) and
            _dur(o["renewBefore"]) >= _dur(o.get("maxLeafDuration", "24h"))),
}


# ---- OpenAPI v3 (structural schema) validation ----

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _type_ok(t, v):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    raise SchemaError("unknown type %r" % t)


def _join(path, key):
    return key if path == "" else path + "." + key


def prune_nulls(schema, v):
    """Drops null members whose schema is not nullable, as the API server does."""
    if isinstance(v, dict) and isinstance(schema, dict):
        props = schema.get("properties", {})
        out = {}
        for k, x in v.items():
            sub = props.get(k, schema.get("additionalProperties")
                            if isinstance(schema.get("additionalProperties"), dict) else None)
            if x is None and not (sub or {}).get("nullable", False):
                continue
            out[k] = prune_nulls(sub, x)
        return out
    if isinstance(v, list) and isinstance(schema, dict):
        return [prune_nulls(schema.get("items"), x) for x in v]
    return v


def validate(schema, v, path, errs, root=False):
    """Appends "path: message" strings to errs for every problem of v against schema."""
    unknown = set(schema) - SCHEMA_KEYWORDS
    if unknown:
        raise SchemaError("%s: unsupported schema keywords %s" % (path or "<root>",
                                                                  sorted(unknown)))
    before = len(errs)
    where = path or "<root>"
    t = schema.get("type")
    if t is None:
        raise SchemaError("%s: no type (not a structural schema)" % where)
    if not _type_ok(t, v):
        errs.append("%s: must be of type %s, got %s" % (where, t, type(v).__name__))
        return
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: unsupported value %r: must be one of %s" % (
            where, v, ", ".join(json.dumps(e) for e in schema["enum"])))
    if t == "string":
        if "maxLength" in schema and len(v) > schema["maxLength"]:
            errs.append("%s: must be at most %d characters" % (where, schema["maxLength"]))
        if "minLength" in schema and len(v) < schema["minLength"]:
            errs.append("%s: must be at least %d characters" % (where, schema["minLength"]))
        if "pattern" in schema and re.search(schema["pattern"], v) is None:
            errs.append("%s: %r does not match the pattern %s" % (where, v, schema["pattern"]))
        fmt = schema.get("format")
        if fmt == "byte":
            try:
                if not _BASE64.match(v):
                    raise ValueError
                base64.b64decode(v, validate=True)
            except ValueError:
                errs.append("%s: must be base64 (format byte)" % where)
        elif fmt == "date-time":
            if not _DATE_TIME.match(v):
                errs.append("%s: must be an RFC 3339 date-time" % where)
        elif fmt is not None:
            raise SchemaError("%s: unsupported string format %r" % (where, fmt))
    if t in ("integer", "number"):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append("%s: must be greater than or equal to %s" % (where, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            errs.append("%s: must be less than or equal to %s" % (where, schema["maximum"]))
        fmt = schema.get("format")
        if fmt == "int64" and not -2**63 <= v < 2**63:
            errs.append("%s: does not fit in int64" % where)
        elif fmt not in (None, "int64", "int32", "double", "float"):
            raise SchemaError("%s: unsupported number format %r" % (where, fmt))
    if t == "array":
        if "minItems" in schema and len(v) < schema["minItems"]:
            errs.append("%s: must have at least %d items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(v) > schema["maxItems"]:
            errs.append("%s: must have at most %d items" % (where, schema["maxItems"]))
        items = schema.get("items")
        if items is None:
            raise SchemaError("%s: array without items" % where)
        for i, x in enumerate(v):
            validate(items, x, "%s[%d]" % (path, i), errs)
        lt = schema.get("x-kubernetes-list-type", "atomic")
        if lt == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            if not keys:
                raise SchemaError("%s: list-type map without list-map-keys" % where)
            seen = set()
            for i, x in enumerate(v):
                if not isinstance(x, dict):
                    continue
                k = tuple(json.dumps(x.get(key)) for key in keys)
                if k in seen:
                    errs.append("%s[%d]: duplicate entry for key %s" % (where, i, k))
                seen.add(k)
        elif lt == "set":
            seen = set()
            for i, x in enumerate(v):
                k = json.dumps(x, sort_keys=True)
                if k in seen:
                    errs.append("%s[%d]: duplicate value" % (where, i))
                seen.add(k)
        elif lt != "atomic":
            raise SchemaError("%s: unknown x-kubernetes-list-type %r" % (where, lt))
    if t == "object":
        props = schema.get("properties", {})
        for r in schema.get("required", []):
            if r not in v:
                errs.append("%s: Required value" % _join(path, r))
        extra = schema.get("additionalProperties")
        for k, x in v.items():
            if root and k == "metadata":
                continue  # validated by the API server itself (check_metadata below)
            if k in props:
                validate(props[k], x, _join(path, k), errs)
            elif isinstance(extra, dict):
                validate(extra, x, _join(path, k), errs)
            elif not schema.get("x-kubernetes-preserve-unknown-fields", False):
                errs.append("%s: unknown field" % _join(path, k))
    # CEL rules run on values whose own schema checks passed (they assume the types).
    if len(errs) == before:
        for rule in schema.get("x-kubernetes-validations", []):
            fn = CEL_RULES.get(rule.get("rule"))
            if fn is None:
                raise SchemaError("%s: CEL rule this checker does not implement: %r" % (
                    where, rule.get("rule")))
            try:
                good = fn(v)
            except (ValueError, KeyError, TypeError) as e:
                errs.append("%s: Invalid value: rule %r failed to evaluate: %s" % (
                    where, rule["rule"], e))
                continue
            if not good:
                # fieldPath (".path"): the message names that field, as the API server does.
                errs.append("%s: Invalid value: %s" % (where + rule.get("fieldPath", ""),
                                                       rule.get("message", rule["rule"])))


# ---- CRDs ----

def walk_schema(schema, path, fn):
    fn(schema, path)
    for k, sub in schema.get("properties", {}).items():
        walk_schema(sub, _join(path, k), fn)
    if isinstance(schema.get("items"), dict):
        walk_schema(schema["items"], path + "[]", fn)
    if isinstance(schema.get("additionalProperties"), dict):
        walk_schema(schema["additionalProperties"], path + ".*", fn)


def check_crd(file, crd):
    """Returns a list of problems of one CRD document (empty when well-formed)."""
    p = []
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1":
        p.append("apiVersion is %r, want apiextensions.k8s.io/v1" % crd.get("apiVersion"))
    if crd.get("kind") != "CustomResourceDefinition":
        p.append("kind is %r, want CustomResourceDefinition" % crd.get("kind"))
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    kind = names.get("kind")
    if kind not in KINDS:
        return p + ["spec.names.kind %r is not one of %s" % (kind, ", ".join(KINDS))]
    plural, singular, scope = KINDS[kind]
    want_file = "%s_%s.yaml" % (GROUP, plural)
    if not file.endswith("/" + want_file) and file != want_file:
        p.append("file should be named %s" % want_file)
    if (crd.get("metadata") or {}).get("name") != plural + "." + GROUP:
        p.append("metadata.name must be %s.%s" % (plural, GROUP))
    if spec.get("group") != GROUP:
        p.append("spec.group must be %s" % GROUP)
    if spec.get("scope") != scope:
        p.append("spec.scope must be %s" % scope)
    for key, want in (("plural", plural), ("singular", singular), ("listKind", kind + "List")):
        if names.get(key) != want:
            p.append("spec.names.%s must be %s" % (key, want))
    if "ember" not in (names.get("categories") or []):
        p.append("spec.names.categories must contain ember")
    for sn in names.get("shortNames") or []:
        if not re.match(r"^[a-z][a-z0-9]*$", sn):
            p.append("spec.names.shortNames: %r is not a lowercase word" % sn)
    versions = spec.get("versions") or []
    if [v.get("name") for v in versions] != [VERSION]:
        return p + ["spec.versions must be exactly [%s]" % VERSION]
    v = versions[0]
    if v.get("served") is not True or v.get("storage") is not True:
        p.append("version %s must be served and storage" % VERSION)
    if (v.get("subresources") or {}).get("status") != {}:
        p.append("the status subresource (subresources.status: {}) is missing")
    cols = [(c.get("name"), c.get("type"), c.get("jsonPath"))
            for c in v.get("additionalPrinterColumns") or []]
    if cols != PRINTER_COLUMNS:
        p.append("printer columns are %s, want %s" % (cols, PRINTER_COLUMNS))
    schema = (v.get("schema") or {}).get("openAPIV3Schema")
    if not isinstance(schema, dict):
        return p + ["schema.openAPIV3Schema is missing"]
    props = schema.get("properties") or {}
    if schema.get("type") != "object" or "spec" not in props or "status" not in props:
        p.append("openAPIV3Schema must be an object with spec and status")
    if "spec" not in schema.get("required", []):
        p.append("openAPIV3Schema.required must list spec")
    conds = ((props.get("status") or {}).get("properties") or {}).get("conditions") or {}
    if conds.get("x-kubernetes-list-type") != "map" or \
            conds.get("x-kubernetes-list-map-keys") != ["type"]:
        p.append("status.conditions must be x-kubernetes-list-type map keyed by [type]")
    cprops = (conds.get("items") or {}).get("properties") or {}
    if sorted(cprops) != sorted(CONDITION_FIELDS):
        p.append("status.conditions items must have exactly %s" % CONDITION_FIELDS)

    def node(s, path):
        unknown = set(s) - SCHEMA_KEYWORDS
        if unknown:
            p.append("%s: unsupported schema keywords %s" % (path or "<root>", sorted(unknown)))
        if "type" not in s:
            p.append("%s: no type (schemas must be structural)" % (path or "<root>"))
        if path != "metadata" and not s.get("description"):
            p.append("%s: no description (kubectl explain shows it)" % (path or "<root>"))
        if path == "metadata" and set(s) != {"type"}:
            p.append("metadata: only `type: object` is allowed at the root")
        if s.get("x-kubernetes-preserve-unknown-fields"):
            p.append("%s: x-kubernetes-preserve-unknown-fields hides mistakes" % path)
        for r in s.get("x-kubernetes-validations", []):
            if r.get("rule") not in CEL_RULES:
                p.append("%s: CEL rule not known to crdcheck.py: %r" % (path, r.get("rule")))
            if not r.get("message"):
                p.append("%s: CEL rule %r has no message" % (path, r.get("rule")))
        if "pattern" in s:
            try:
                re.compile(s["pattern"])
            except re.error as e:
                p.append("%s: pattern does not compile: %s" % (path, e))
    walk_schema(schema, "", node)
    return p


# ---- known objects: CASES ----

def issuer(spec, kind="Issuer", name="t"):
    md = {"name": name}
    if kind == "Issuer":
        md["namespace"] = "default"
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": md, "spec": spec}


def policy(spec, name="t"):
    return {"apiVersion": API_VERSION, "kind": "IssuancePolicy", "metadata": {"name": name},
            "spec": spec}


def vault(**over):
    v = {"server": "https://vault.example:8200", "path": "pki_int/sign/mesh",
         "auth": {"appRole": {"path": "approle", "roleId": "r-1",
                              "secretRef": {"name": "vault-approle", "key": "secretId"}}}}
    for k, x in over.items():
        if x is None:
            v.pop(k, None)
        else:
            v[k] = x
    return v


def approle(**over):
    a = {"path": "approle", "roleId": "r-1",
         "secretRef": {"name": "vault-approle", "key": "secretId"}}
    for k, x in over.items():
        if x is None:
            a.pop(k, None)
        else:
            a[k] = x
    return vault(auth={"appRole": a})


def dns(**rule):
    return policy({"sans": {"dnsNames": rule}})


def requesters(**lists):
    """A policy whose spec.selector.requesters holds lists (None: a JSON null member)."""
    return policy({"selector": {"requesters": lists}})


PEM_B64 = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                           ).decode()

# (name, object, schema verdict, field the schema's message must name, C verdict, note)
# C verdict "refuse"/"accept"; where it differs from the schema's, note says why.
CASES = [
    # -- refused by both --
    ("issuer with both ca and vault", issuer({"ca": {"secretName": "x"}, "vault": vault()}),
     "refuse", "spec", "refuse", None),
    ("issuer with neither ca nor vault", issuer({"defaultPolicy": "web"}),
     "refuse", "spec", "refuse", None),
    ("clusterissuer with neither ca nor vault", issuer({}, kind="ClusterIssuer"),
     "refuse", "spec", "refuse", None),
    ("issuer without spec", {k: v for k, v in issuer({}).items() if k != "spec"},
     "refuse", "spec", "refuse", None),
    ("issuer unknown spec field", issuer({"ca": {"secretName": "x"}, "acme": {}}),
     "refuse", "spec.acme", "refuse", None),
    ("issuer unknown spec.ca field", issuer({"ca": {"secretName": "x", "secretNamespace": "y"}}),
     "refuse", "spec.ca.secretNamespace", "refuse", None),
    ("issuer ca without secretName", issuer({"ca": {}}),
     "refuse", "spec.ca.secretName", "refuse", None),
    ("issuer ca with empty secretName", issuer({"ca": {"secretName": ""}}),
     "refuse", "spec.ca.secretName", "refuse", None),
    ("issuer defaultPolicy not a string", issuer({"defaultPolicy": 5, "ca": {"secretName": "x"}}),
     "refuse", "spec.defaultPolicy", "refuse", None),
    ("vault caBundle and caBundleSecretRef together",
     issuer({"vault": vault(caBundle=PEM_B64, caBundleSecretRef={"name": "ca"})}),
     "refuse", "spec.vault", "refuse", None),
    ("vault without server", issuer({"vault": vault(server=None)}),
     "refuse", "spec.vault.server", "refuse", None),
    ("vault without path", issuer({"vault": vault(path=None)}),
     "refuse", "spec.vault.path", "refuse", None),
    ("vault without path, subCA disabled", issuer({"vault": vault(path=None, subCA={"enabled": False})}),
     "refuse", "spec.vault.path", "refuse", None),
    ("vault subCA enabled without its path", issuer({"vault": vault(subCA={"duration": "24h1s"})}),
     "refuse", "spec.vault.subCA.path", "refuse", None),
    ("vault subCA path not sign-intermediate",
     issuer({"vault": vault(subCA={"path": "pki_int/sign/mesh"})}),
     "refuse", "spec.vault.subCA.path", "refuse", None),
    ("vault subCA maxLeafDuration not below duration",
     issuer({"vault": vault(subCA={"path": "p/root/sign-intermediate", "duration": "24h"})}),
     "refuse", "spec.vault.subCA", "refuse", None),
    ("vault subCA renewBefore below maxLeafDuration",
     issuer({"vault": vault(subCA={"path": "p/root/sign-intermediate", "renewBefore": "1h"})}),
     "refuse", "spec.vault.subCA", "refuse", None),
    ("vault subCA keyAlgorithm unknown",
     issuer({"vault": vault(subCA={"path": "p/root/sign-intermediate", "keyAlgorithm": "DSA"})}),
     "refuse", "spec.vault.subCA.keyAlgorithm", "refuse", None),
    ("vault subCA permittedDNSDomains with a comma",
     issuer({"vault": vault(subCA={"path": "p/root/sign-intermediate", "permittedDNSDomains": ["a,b"]})}),
     "refuse", "spec.vault.subCA.permittedDNSDomains", "refuse", None),
    ("vault subCA unknown field",
     issuer({"vault": vault(subCA={"path": "p/root/sign-intermediate", "ttl": "1h"})}),
     "refuse", "spec.vault.subCA.ttl", "refuse", None),
    ("vault server not a URL", issuer({"vault": vault(server="vault.example:8200")}),
     "refuse", "spec.vault.server", "refuse", None),
    ("vault path with a leading slash", issuer({"vault": vault(path="/v1/pki/sign/x")}),
     "refuse", "spec.vault.path", "refuse", None),
    ("vault namespace not a string", issuer({"vault": vault(namespace=7)}),
     "refuse", "spec.vault.namespace", "refuse", None),
    ("vault caBundle not base64", issuer({"vault": vault(caBundle="-----BEGIN CERT")}),
     "refuse", "spec.vault.caBundle", "refuse", None),
    ("vault caBundle base64 without padding", issuer({"vault": vault(caBundle="QUJD" + "QQ")}),
     "refuse", "spec.vault.caBundle", "refuse", None),
    ("vault caBundleSecretRef without name", issuer({"vault": vault(caBundleSecretRef={"key": "k"})}),
     "refuse", "spec.vault.caBundleSecretRef.name", "refuse", None),
    ("vault without auth", issuer({"vault": vault(auth=None)}),
     "refuse", "spec.vault.auth", "refuse", None),
    ("vault kubernetes auth without secretRef or serviceAccountRef",
     issuer({"vault": vault(auth={"kubernetes": {"role": "x", "mountPath": "/v1/auth/k8s"}})}),
     "refuse", "spec.vault.auth.kubernetes", "refuse", None),
    ("vault kubernetes auth with both secretRef and serviceAccountRef",
     issuer({"vault": vault(auth={"kubernetes": {"role": "x", "secretRef": {"name": "j"},
                                                 "serviceAccountRef": {"name": "sa"}}})}),
     "refuse", "spec.vault.auth.kubernetes", "refuse", None),
    ("vault kubernetes auth without role",
     issuer({"vault": vault(auth={"kubernetes": {"secretRef": {"name": "j"}}})}),
     "refuse", "spec.vault.auth.kubernetes.role", "refuse", None),
    ("vault kubernetes mountPath without /v1/",
     issuer({"vault": vault(auth={"kubernetes": {"role": "x", "mountPath": "auth/k8s",
                                                 "secretRef": {"name": "j"}}})}),
     "refuse", "spec.vault.auth.kubernetes.mountPath", "refuse", None),
    ("vault kubernetes serviceAccountRef without name",
     issuer({"vault": vault(auth={"kubernetes": {"role": "x", "serviceAccountRef": {}}})}),
     "refuse", "spec.vault.auth.kubernetes.serviceAccountRef.name", "refuse", None),
    ("vault tokenSecretRef without name",
     issuer({"vault": vault(auth={"tokenSecretRef": {"key": "token"}})}),
     "refuse", "spec.vault.auth.tokenSecretRef.name", "refuse", None),
    ("vault two auth methods",
     issuer({"vault": vault(auth={"tokenSecretRef": {"name": "t"},
                                  "appRole": {"roleId": "r", "secretRef": {"name": "s", "key": "k"}}})}),
     "refuse", "spec.vault.auth", "refuse", None),
    ("vault empty auth", issuer({"vault": vault(auth={})}),
     "refuse", "spec.vault.auth", "refuse", None),
    ("vault aws auth (out of scope)", issuer({"vault": vault(auth={"aws": {}})}),
     "refuse", "spec.vault.auth", "refuse", None),
    ("vault clientCertSecretRef without clientKeySecretRef",
     issuer({"vault": vault(clientCertSecretRef={"name": "c"})}),
     "refuse", "spec.vault", "refuse", None),
    ("vault serverName not a host name", issuer({"vault": vault(serverName="vault/x")}),
     "refuse", "spec.vault.serverName", "refuse", None),
    ("vault appRole without roleId", issuer({"vault": approle(roleId=None)}),
     "refuse", "spec.vault.auth.appRole.roleId", "refuse", None),
    ("vault appRole with empty roleId", issuer({"vault": approle(roleId="")}),
     "refuse", "spec.vault.auth.appRole.roleId", "refuse", None),
    ("vault appRole without secretRef", issuer({"vault": approle(secretRef=None)}),
     "refuse", "spec.vault.auth.appRole.secretRef", "refuse", None),
    ("vault appRole secretRef without key", issuer({"vault": approle(secretRef={"name": "s"})}),
     "refuse", "spec.vault.auth.appRole.secretRef.key", "refuse", None),
    ("vault appRole unknown field", issuer({"vault": approle(secretId="plain")}),
     "refuse", "spec.vault.auth.appRole.secretId", "refuse", None),
    ("vault unknown field", issuer({"vault": vault(caBundlePEM="x")}),
     "refuse", "spec.vault.caBundlePEM", "refuse", None),
    ("policy without spec", {k: v for k, v in policy({}).items() if k != "spec"},
     "refuse", "spec", "refuse", None),
    ("policy unknown spec field", policy({"maxDuration": "1h"}),
     "refuse", "spec.maxDuration", "refuse", None),
    ("policy unknown subject attribute", policy({"subject": {"title": {"rule": "Optional"}}}),
     "refuse", "spec.subject.title", "refuse", None),
    ("policy unknown rule field", dns(rule="Optional", allow=["a"]),
     "refuse", "spec.sans.dnsNames.allow", "refuse", None),
    ("policy bad rule enum", dns(rule="Allowed"),
     "refuse", "spec.sans.dnsNames.rule", "refuse", None),
    ("policy rule in lower case", policy({"subject": {"commonName": {"rule": "required"}}}),
     "refuse", "spec.subject.commonName.rule", "refuse", None),
    ("policy rule missing", dns(allowed=["a"]),
     "refuse", "spec.sans.dnsNames.rule", "refuse", None),
    ("policy bad key algorithm RSA_1024", policy({"keyAlgorithms": ["EC_P256", "RSA_1024"]}),
     "refuse", "spec.keyAlgorithms[1]", "refuse", None),
    ("policy bad key algorithm RSA_16385", policy({"keyAlgorithms": ["RSA_16385"]}),
     "refuse", "spec.keyAlgorithms[0]", "refuse", None),
    ("policy bad key algorithm RSA_02048", policy({"keyAlgorithms": ["RSA_02048"]}),
     "refuse", "spec.keyAlgorithms[0]", "refuse", None),
    ("policy bad key algorithm ECDSA", policy({"keyAlgorithms": ["ECDSA"]}),
     "refuse", "spec.keyAlgorithms[0]", "refuse", None),
    ("policy bad usage", policy({"usages": ["digital signature", "server-auth"]}),
     "refuse", "spec.usages[1]", "refuse", None),
    ("policy bad duration 1d", policy({"validity": {"max": "1d"}}),
     "refuse", "spec.validity.max", "refuse", None),
    ("policy bad duration without unit", policy({"validity": {"max": "3600"}}),
     "refuse", "spec.validity.max", "refuse", None),
    ("policy negative duration", policy({"validity": {"default": "-1h"}}),
     "refuse", "spec.validity.default", "refuse", None),
    ("policy duration 0s", policy({"validity": {"max": "0s"}}),
     "refuse", "spec.validity.max", "refuse", None),
    ("policy duration under 1s", policy({"validity": {"max": "999ms"}}),
     "refuse", "spec.validity.max", "refuse", None),
    ("policy duration over 100 years", policy({"validity": {"max": "876001h"}}),
     "refuse", "spec.validity.max", "refuse", None),
    ("policy duration not a string", policy({"validity": {"max": 3600}}),
     "refuse", "spec.validity.max", "refuse", None),
    ("policy default longer than max", policy({"validity": {"max": "1h", "default": "2h"}}),
     "refuse", "spec.validity", "refuse", None),
    ("policy default longer than the 2160h default max", policy({"validity": {"default": "2161h"}}),
     "refuse", "spec.validity", "refuse", None),
    ("policy empty allowed list", dns(rule="Optional", allowed=[]),
     "refuse", "spec.sans.dnsNames.allowed", "refuse", None),
    ("policy empty usages", policy({"usages": []}),
     "refuse", "spec.usages", "refuse", None),
    ("policy empty keyAlgorithms", policy({"keyAlgorithms": []}),
     "refuse", "spec.keyAlgorithms", "refuse", None),
    ("policy empty selector namespaces", policy({"selector": {"namespaces": []}}),
     "refuse", "spec.selector.namespaces", "refuse", None),
    ("policy selector issuer without kind", policy({"selector": {"issuers": ["mesh-ca"]}}),
     "refuse", "spec.selector.issuers[0]", "refuse", None),
    ("policy selector issuer with empty name", policy({"selector": {"issuers": ["Issuer/"]}}),
     "refuse", "spec.selector.issuers[0]", "refuse", None),
    ("policy requesters naming no one", requesters(),
     "refuse", "spec.selector.requesters", "refuse", None),
    ("policy requesters with only a null list", requesters(users=None),
     "refuse", "spec.selector.requesters", "refuse", None),
    ("policy requesters empty users", requesters(users=[]),
     "refuse", "spec.selector.requesters.users", "refuse", None),
    ("policy requesters unknown field", requesters(users=["a"], names=["b"]),
     "refuse", "spec.selector.requesters.names", "refuse", None),
    ("policy requesters group not a string", requesters(groups=[5]),
     "refuse", "spec.selector.requesters.groups[0]", "refuse", None),
    ("policy requesters empty entry", requesters(certificates=[""]),
     "refuse", "spec.selector.requesters.certificates[0]", "refuse", None),
    ("policy requesters entry too long", requesters(users=["u" * 1025]),
     "refuse", "spec.selector.requesters.users[0]", "refuse", None),
    ("policy requesters serviceAccount without namespace", requesters(serviceAccounts=["builder"]),
     "refuse", "spec.selector.requesters.serviceAccounts[0]", "refuse", None),
    ("policy requesters serviceAccount with two slashes",
     requesters(serviceAccounts=["team-a/x", "a/b/c"]),
     "refuse", "spec.selector.requesters.serviceAccounts[1]", "refuse", None),
    ("policy requesters serviceAccount with an empty name", requesters(serviceAccounts=["team-a/"]),
     "refuse", "spec.selector.requesters.serviceAccounts[0]", "refuse", None),
    ("policy Required with min 0", dns(rule="Required", min=0),
     "refuse", "spec.sans.dnsNames", "refuse", None),
    ("policy Required with max 0", dns(rule="Required", max=0),
     "refuse", "spec.sans.dnsNames", "refuse", None),
    ("policy min more than max", dns(rule="Required", min=3, max=2),
     "refuse", "spec.sans.dnsNames", "refuse", None),
    ("policy min with rule Optional", dns(rule="Optional", min=1),
     "refuse", "spec.sans.dnsNames", "refuse", None),
    ("policy allowed with rule Forbidden", dns(rule="Forbidden", allowed=["a"]),
     "refuse", "spec.sans.dnsNames", "refuse", None),
    ("policy max with rule Forbidden", policy({"sans": {"uris": {"rule": "Forbidden", "max": 1}}}),
     "refuse", "spec.sans.uris", "refuse", None),
    ("policy serialNumber allowed with rule Forbidden",
     policy({"subject": {"serialNumber": {"rule": "Forbidden", "allowed": ["[0-9]+"]}}}),
     "refuse", "spec.subject.serialNumber", "refuse", None),
    ("policy serialNumber rule missing", policy({"subject": {"serialNumber": {"max": 1}}}),
     "refuse", "spec.subject.serialNumber.rule", "refuse", None),
    ("policy serialNumber max over 1000",
     policy({"subject": {"serialNumber": {"rule": "Optional", "max": 1001}}}),
     "refuse", "spec.subject.serialNumber.max", "refuse", None),
    ("policy negative max", dns(rule="Optional", max=-1),
     "refuse", "spec.sans.dnsNames.max", "refuse", None),
    ("policy max over 1000", dns(rule="Optional", max=1001),
     "refuse", "spec.sans.dnsNames.max", "refuse", None),
    ("policy min not a number", dns(rule="Required", min="1"),
     "refuse", "spec.sans.dnsNames.min", "refuse", None),
    ("policy isCA not a boolean", policy({"isCA": "true"}),
     "refuse", "spec.isCA", "refuse", None),
    ("policy ipAddresses allowed not a CIDR",
     policy({"sans": {"ipAddresses": {"rule": "Optional", "allowed": ["example.com"]}}}),
     "refuse", "spec.sans.ipAddresses.allowed[0]", "refuse", None),
    ("policy allowed entry too long", dns(rule="Optional", allowed=["a" * 1025]),
     "refuse", "spec.sans.dnsNames.allowed[0]", "refuse", None),
    # issue 14 section 4
    ("policy validity.min longer than max", policy({"validity": {"min": "2h", "max": "1h"}}),
     "refuse", "spec.validity", "refuse", None),
    ("policy validity.min longer than default",
     policy({"validity": {"min": "2h", "default": "1h", "max": "24h"}}),
     "refuse", "spec.validity", "refuse", None),
    ("policy validity.min longer than the 2160h default max", policy({"validity": {"min": "2161h"}}),
     "refuse", "spec.validity", "refuse", None),
    ("policy validity.min 0s", policy({"validity": {"min": "0s"}}),
     "refuse", "spec.validity.min", "refuse", None),
    ("policy keySizes.rsa min more than max", policy({"keySizes": {"rsa": {"min": 4096, "max": 3072}}}),
     "refuse", "spec.keySizes.rsa", "refuse", None),
    ("policy keySizes.rsa min under 2048", policy({"keySizes": {"rsa": {"min": 1024}}}),
     "refuse", "spec.keySizes.rsa.min", "refuse", None),
    ("policy keySizes.rsa max over 16384", policy({"keySizes": {"rsa": {"max": 16385}}}),
     "refuse", "spec.keySizes.rsa.max", "refuse", None),
    ("policy keySizes.rsa empty", policy({"keySizes": {"rsa": {}}}),
     "refuse", "spec.keySizes.rsa", "refuse", None),
    ("policy keySizes without rsa", policy({"keySizes": {}}),
     "refuse", "spec.keySizes.rsa", "refuse", None),
    ("policy requiredUsages unknown usage", policy({"requiredUsages": ["server-auth"]}),
     "refuse", "spec.requiredUsages[0]", "refuse", None),
    ("policy requiredUsages empty", policy({"requiredUsages": []}),
     "refuse", "spec.requiredUsages", "refuse", None),
    ("policy namespaceSelector empty", policy({"selector": {"namespaceSelector": {}}}),
     "refuse", "spec.selector.namespaceSelector", "refuse", None),
    ("policy namespaceSelector In without values",
     policy({"selector": {"namespaceSelector": {"matchExpressions": [
         {"key": "env", "operator": "In"}]}}}),
     "refuse", "spec.selector.namespaceSelector.matchExpressions[0]", "refuse", None),
    ("policy namespaceSelector Exists with values",
     policy({"selector": {"namespaceSelector": {"matchExpressions": [
         {"key": "env", "operator": "Exists", "values": ["a"]}]}}}),
     "refuse", "spec.selector.namespaceSelector.matchExpressions[0]", "refuse", None),
    ("policy namespaceSelector unknown operator",
     policy({"selector": {"namespaceSelector": {"matchExpressions": [
         {"key": "env", "operator": "Gt", "values": ["1"]}]}}}),
     "refuse", "spec.selector.namespaceSelector.matchExpressions[0].operator", "refuse", None),
    ("policy namespaceSelector bad key",
     policy({"selector": {"namespaceSelector": {"matchExpressions": [
         {"key": "-env", "operator": "Exists"}]}}}),
     "refuse", "spec.selector.namespaceSelector.matchExpressions[0].key", "refuse", None),
    ("policy namespaceSelector bad label value",
     policy({"selector": {"namespaceSelector": {"matchLabels": {"team": "a b"}}}}),
     "refuse", "spec.selector.namespaceSelector.matchLabels.team", "refuse", None),
    ("policy namespaceSelector value too long",
     policy({"selector": {"namespaceSelector": {"matchLabels": {"team": "a" * 64}}}}),
     "refuse", "spec.selector.namespaceSelector.matchLabels.team", "refuse", None),
    # -- accepted by both --
    ("policy issue 14 section 4 fields",
     policy({"selector": {"namespaces": ["team-*"], "namespaceSelector": {
         "matchLabels": {"example.com/team": "a", "tier": ""},
         "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]},
                              {"key": "frozen", "operator": "DoesNotExist"}]}},
             "validity": {"min": "1h", "default": "24h", "max": "720h"},
             "keySizes": {"rsa": {"min": 3072, "max": 4096}},
             "usages": ["signing", "key encipherment", "server auth"],
             "requiredUsages": ["digital signature", "server auth"]}),
     "accept", None, "accept", None),
    ("policy validity.min alone", policy({"validity": {"min": "2160h"}}),
     "accept", None, "accept", None),
    ("issuer ca minimal", issuer({"ca": {"secretName": "x"}}), "accept", None, "accept", None),
    ("vault subCA without spec.vault.path",
     issuer({"vault": vault(path=None, subCA={"path": "pki_int/root/sign-intermediate"})}),
     "accept", None, "accept", None),
    ("vault subCA with every field",
     issuer({"vault": vault(subCA={"enabled": True, "path": "pki_int/issuer/ember/sign-intermediate",
                                   "keyAlgorithm": "RSA3072", "duration": "20s", "renewBefore": "10s",
                                   "maxLeafDuration": "5s", "commonNamePrefix": "Mesh CA",
                                   "subject": {"organizations": ["Acme"], "organizationalUnits": ["Ops"]},
                                   "permittedDNSDomains": ["example.com", ".svc.cluster.local"],
                                   "caBundleSecretRef": {"name": "root"}, "requireLockedMemory": True})}),
     "accept", None, "accept", None),
    ("clusterissuer vault minimal", issuer({"vault": vault()}, kind="ClusterIssuer"),
     "accept", None, "accept", None),
    ("vault http server and Enterprise namespace",
     issuer({"vault": vault(server="http://127.0.0.1:8200", namespace="team-a")}),
     "accept", None, "accept", None),
    ("vault empty namespace", issuer({"vault": vault(namespace="")}),
     "accept", None, "accept", None),
    ("vault caBundle", issuer({"vault": vault(caBundle=PEM_B64)}), "accept", None, "accept", None),
    ("vault caBundleSecretRef without key (ca.crt)",
     issuer({"vault": vault(caBundleSecretRef={"name": "vault-ca"})}),
     "accept", None, "accept", None),
    ("vault appRole without path (approle)", issuer({"vault": approle(path=None)}),
     "accept", None, "accept", None),
    ("vault tokenSecretRef without key (token)",
     issuer({"vault": vault(auth={"tokenSecretRef": {"name": "vault-token"}})}),
     "accept", None, "accept", None),
    ("vault kubernetes with secretRef",
     issuer({"vault": vault(auth={"kubernetes": {"role": "ember", "mountPath": "/v1/auth/k8s",
                                                 "secretRef": {"name": "jwt"}}})}),
     "accept", None, "accept", None),
    ("vault kubernetes with serviceAccountRef and audiences",
     issuer({"vault": vault(auth={"kubernetes": {"role": "ember", "serviceAccountRef": {
         "name": "ember", "audiences": ["vault"]}}})}),
     "accept", None, "accept", None),
    ("vault clientCertificate with secretName",
     issuer({"vault": vault(auth={"clientCertificate": {"secretName": "login", "name": "web"}})}),
     "accept", None, "accept", None),
    ("vault mTLS, serverName and clientCertificate with the mTLS identity",
     issuer({"vault": vault(serverName="vault.internal", clientCertSecretRef={"name": "c"},
                            clientKeySecretRef={"name": "c"},
                            auth={"clientCertificate": {"mountPath": "/v1/auth/cert"}})}),
     "accept", None, "accept", None),
    ("policy empty spec", policy({}), "accept", None, "accept", None),
    ("policy every key algorithm form",
     policy({"keyAlgorithms": ["EC_P256", "EC_P384", "EC_P521", "EC_ED25519", "RSA_2048",
                               "RSA_2049", "RSA_8192", "RSA_16384", "RSA_16379", "RSA_9999"]}),
     "accept", None, "accept", None),
    ("policy every usage", policy({"usages": [
        "signing", "digital signature", "content commitment", "key encipherment",
        "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
        "decipher only", "any", "server auth", "client auth", "code signing",
        "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user",
        "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"]}),
     "accept", None, "accept", None),
    ("policy Go duration forms",
     policy({"validity": {"max": "1.5h", "default": "+90m"}}), "accept", None, "accept", None),
    ("policy Go duration forms 2",
     policy({"validity": {"max": "1h30m0.5s", "default": ".5h"}}), "accept", None, "accept", None),
    ("policy Go duration in microseconds",
     policy({"validity": {"max": "3600000000\u00b5s", "default": "1.s"}}),
     "accept", None, "accept", None),
    ("policy 100-year max", policy({"validity": {"max": "876000h"}}),
     "accept", None, "accept", None),
    ("policy default 2160h without max", policy({"validity": {"default": "2160h"}}),
     "accept", None, "accept", None),
    ("policy default equal to max", policy({"validity": {"max": "24h", "default": "1440m"}}),
     "accept", None, "accept", None),
    ("policy Optional with max 0", dns(rule="Optional", max=0), "accept", None, "accept", None),
    ("policy Required without min", dns(rule="Required", max=1), "accept", None, "accept", None),
    ("policy Required min equal to max", dns(rule="Required", min=2, max=2),
     "accept", None, "accept", None),
    ("policy every subject and SAN rule", policy({
        "subject": {k: {"rule": "Optional"} for k in (
            "commonName", "organization", "organizationalUnit", "country", "province",
            "locality", "streetAddress", "postalCode", "serialNumber")},
        "sans": {"dnsNames": {"rule": "Required", "min": 1000, "max": 1000},
                 "ipAddresses": {"rule": "Optional", "allowed": ["10.0.0.0/8", "::1",
                                                                 "2001:db8::/32"]},
                 "uris": {"rule": "Forbidden"}, "emailAddresses": {"rule": "Optional"}},
        "selector": {"namespaces": ["team-*"], "issuers": ["Issuer/*", "ClusterIssuer/x"]},
        "isCA": True}), "accept", None, "accept", None),
    ("policy for SPIRE's upstream CA (C, O, serialNumber)", policy({
        "subject": {"country": {"rule": "Optional", "allowed": ["US"], "max": 1},
                    "organization": {"rule": "Required", "allowed": ["SPIFFE"], "max": 1},
                    "serialNumber": {"rule": "Required", "allowed": ["[0-9]{1,64}"], "min": 1,
                                     "max": 1}},
        "sans": {"uris": {"rule": "Required", "allowed": ["spiffe://example\\.org"], "max": 1}},
        "usages": ["cert sign", "crl sign"], "isCA": True}), "accept", None, "accept", None),
    # -- issue 14 section 2: otherNames, streetAddress, postalCode, otherAttributes --
    ("policy otherNames for the Microsoft UPN, streetAddress, postalCode, otherAttributes",
     policy({"subject": {"streetAddress": {"rule": "Optional", "allowed": ["[A-Za-z ]+ [0-9]+"],
                                           "max": 1},
                         "postalCode": {"rule": "Required", "max": 1},
                         "otherAttributes": [
                             {"oid": "2.5.4.12", "rule": "Optional", "allowed": ["engineer"]},
                             {"oid": "1.3.6.1.4.1.99999.1", "rule": "Required", "min": 1,
                              "max": 2},
                             {"oid": "2.5.4.42", "rule": "Forbidden"}]},
             "sans": {"otherNames": {"rule": "Optional", "max": 2, "allowed": [
                 {"oid": "1.3.6.1.4.1.311.20.2.3", "value": "[a-z.]+@example\\.com"}]}}}),
     "accept", None, "accept", None),
    ("policy otherNames without rule", policy({"sans": {"otherNames": {"max": 1}}}),
     "refuse", "spec.sans.otherNames.rule", "refuse", None),
    ("policy otherNames allowed with rule Forbidden",
     policy({"sans": {"otherNames": {"rule": "Forbidden", "allowed": [
         {"oid": "1.2.3", "value": "x"}]}}}),
     "refuse", "spec.sans.otherNames", "refuse", None),
    ("policy otherNames entry without value",
     policy({"sans": {"otherNames": {"rule": "Optional", "allowed": [{"oid": "1.2.3"}]}}}),
     "refuse", "spec.sans.otherNames.allowed[0].value", "refuse", None),
    ("policy otherNames entry with an empty value",
     policy({"sans": {"otherNames": {"rule": "Optional", "allowed": [
         {"oid": "1.2.3", "value": ""}]}}}),
     "refuse", "spec.sans.otherNames.allowed[0].value", "refuse", None),
    ("policy otherNames entry with a bad OID",
     policy({"sans": {"otherNames": {"rule": "Optional", "allowed": [
         {"oid": "1.40.3", "value": "x"}]}}}),
     "refuse", "spec.sans.otherNames.allowed[0].oid", "refuse", None),
    ("policy otherNames empty allowed",
     policy({"sans": {"otherNames": {"rule": "Optional", "allowed": []}}}),
     "refuse", "spec.sans.otherNames.allowed", "refuse", None),
    ("policy otherNames unknown member",
     policy({"sans": {"otherNames": {"rule": "Optional", "allowed": [
         {"oid": "1.2.3", "value": "x", "type": "UTF8"}]}}}),
     "refuse", "spec.sans.otherNames.allowed[0].type", "refuse", None),
    ("policy streetAddress min with rule Optional",
     policy({"subject": {"streetAddress": {"rule": "Optional", "min": 1}}}),
     "refuse", "spec.subject.streetAddress", "refuse", None),
    ("policy postalCode allowed with rule Forbidden",
     policy({"subject": {"postalCode": {"rule": "Forbidden", "allowed": ["1"]}}}),
     "refuse", "spec.subject.postalCode", "refuse", None),
    ("policy otherAttributes OID listed twice",
     policy({"subject": {"otherAttributes": [{"oid": "1.2.3", "rule": "Optional"},
                                             {"oid": "1.2.3", "rule": "Forbidden"}]}}),
     "refuse", "spec.subject.otherAttributes[1]", "refuse", None),
    ("policy otherAttributes OID with a field of its own",
     policy({"subject": {"otherAttributes": [{"oid": "2.5.4.3", "rule": "Optional"}]}}),
     "refuse", "spec.subject.otherAttributes[0]", "refuse", None),
    ("policy otherAttributes entry without oid",
     policy({"subject": {"otherAttributes": [{"rule": "Optional"}]}}),
     "refuse", "spec.subject.otherAttributes[0].oid", "refuse", None),
    ("policy otherAttributes empty", policy({"subject": {"otherAttributes": []}}),
     "refuse", "spec.subject.otherAttributes", "refuse", None),
    ("policy otherAttributes not a list",
     policy({"subject": {"otherAttributes": {"oid": "1.2.3", "rule": "Optional"}}}),
     "refuse", "spec.subject.otherAttributes", "refuse", None),
    ("policy otherAttributes max with rule Forbidden",
     policy({"subject": {"otherAttributes": [{"oid": "1.2.3", "rule": "Forbidden", "max": 1}]}}),
     "refuse", "spec.subject.otherAttributes[0]", "refuse", None),
    ("policy requesters of every kind", requesters(
        users=["alice", "system:serviceaccount:ci:*"], serviceAccounts=["team-a/*", "*/deployer"],
        groups=["system:serviceaccounts:team-b"],
        certificates=["spiffe://cluster.local/ns/team-a/sa/*", "*.clients.example.com"]),
     "accept", None, "accept", None),
    ("policy requesters with one list and a null one", requesters(groups=["g"], users=None),
     "accept", None, "accept", None),
    ("policy requesters entry of 1024 bytes", requesters(users=["u" * 1024]),
     "accept", None, "accept", None),
    ("policy allowed patterns relative to the request", policy({
        "subject": {"commonName": {"rule": "Optional", "allowed": ["${serviceAccount}",
                                                                   "a\\$\\{x\\}"]}},
        "sans": {"uris": {"rule": "Required", "allowed": [
            "spiffe://cluster\\.local/ns/${namespace}/sa/.+",
            "spiffe://td/ns/${serviceAccountNamespace}/sa/${serviceAccount}"]}}}),
     "accept", None, "accept", None),
    ("policy ca of every kind", policy({"isCA": True, "ca": {"maxPathLen": 64, "nameConstraints": {
        "required": True,
        "permitted": {"dnsDomains": ["team-a.example.com", ".example.org"],
                      "ipRanges": ["10.1.0.0/16", "2001:db8::/32"],
                      "emailAddresses": ["admin@example.com", "example.com", ".example.com"],
                      "uriDomains": ["example.com", ".example.io"]},
        "excluded": {"dnsDomains": ["secret.team-a.example.com"]}}}}),
     "accept", None, "accept", None),
    ("policy ca maxPathLen 0 alone", policy({"isCA": True, "ca": {"maxPathLen": 0}}),
     "accept", None, "accept", None),
    ("policy ca nameConstraints required alone",
     policy({"isCA": True, "ca": {"nameConstraints": {"required": True}}}),
     "accept", None, "accept", None),
    ("policy ca without isCA", policy({"ca": {"maxPathLen": 1}}),
     "refuse", "spec.ca", "refuse", None),
    ("policy ca with isCA false", policy({"isCA": False, "ca": {"maxPathLen": 1}}),
     "refuse", "spec.ca", "refuse", None),
    ("policy ca empty", policy({"isCA": True, "ca": {}}), "refuse", "spec.ca", "refuse", None),
    ("policy ca maxPathLen 65", policy({"isCA": True, "ca": {"maxPathLen": 65}}),
     "refuse", "spec.ca.maxPathLen", "refuse", None),
    ("policy ca unknown field", policy({"isCA": True, "ca": {"pathLen": 1}}),
     "refuse", "spec.ca.pathLen", "refuse", None),
    ("policy ca nameConstraints saying nothing",
     policy({"isCA": True, "ca": {"nameConstraints": {"required": False}}}),
     "refuse", "spec.ca.nameConstraints", "refuse", None),
    ("policy ca nameConstraints permitted empty",
     policy({"isCA": True, "ca": {"nameConstraints": {"permitted": {}}}}),
     "refuse", "spec.ca.nameConstraints.permitted", "refuse", None),
    ("policy ca nameConstraints empty list",
     policy({"isCA": True, "ca": {"nameConstraints": {"excluded": {"uriDomains": []}}}}),
     "refuse", "spec.ca.nameConstraints.excluded.uriDomains", "refuse", None),
    ("policy ca nameConstraints DNS domain with an empty label",
     policy({"isCA": True, "ca": {"nameConstraints": {"permitted": {"dnsDomains": ["a..com"]}}}}),
     "refuse", "spec.ca.nameConstraints.permitted.dnsDomains[0]", "refuse", None),
    ("policy with status", dict(policy({}), status={"conditions": [{
        "type": "Ready", "status": "False", "reason": "Invalid", "message": "bad regex",
        "lastTransitionTime": "2025-01-02T03:04:05Z", "observedGeneration": 3}]}),
     "accept", None, "accept", None),
    # -- where the schema and the C loader differ (see notes) --
    ("vault caBundleSecretRef with empty key",
     issuer({"vault": vault(caBundleSecretRef={"name": "vault-ca", "key": ""})}),
     "refuse", "spec.vault.caBundleSecretRef.key", "accept",
     "C keeps key \"\" and only fails when it reads the Secret; the schema refuses it early"),
    ("vault clientCertificate without secretName or an mTLS identity",
     issuer({"vault": vault(auth={"clientCertificate": {"name": "web"}})}),
     "accept", None, "refuse",
     "the schema cannot tie auth.clientCertificate to spec.vault's mTLS references; Ember says "
     "which to set"),
    ("vault serverName with an http:// server",
     issuer({"vault": vault(server="http://127.0.0.1:8200", serverName="vault.internal")}),
     "accept", None, "refuse", "Ember refuses a serverName it could not use (no TLS)"),
    ("issuer defaultPolicy longer than a name",
     issuer({"defaultPolicy": "p" * 254, "ca": {"secretName": "x"}}),
     "refuse", "spec.defaultPolicy", "accept",
     "C takes any string; no policy can have a name longer than 253 characters"),
    ("policy regex that does not compile", dns(rule="Optional", allowed=["[unclosed"]),
     "accept", None, "refuse",
     "a schema cannot compile POSIX regexes; Ember reports it in the policy's Ready condition"),
    ("policy allowed pattern with an unknown variable",
     dns(rule="Optional", allowed=["[a-z]+\\.${nmespace}\\.svc"]),
     "accept", None, "refuse",
     "a schema cannot parse regexes; Ember names the unknown variable in the policy's Ready condition"),
    ("policy CIDR with a bad prefix",
     policy({"sans": {"ipAddresses": {"rule": "Optional", "allowed": ["10.0.0.0/33"]}}}),
     "accept", None, "refuse",
     "the schema's CIDR pattern is loose; Ember reports it in the policy's Ready condition"),
    ("policy ca nameConstraints CIDR with a bad prefix",
     policy({"isCA": True, "ca": {"nameConstraints": {"permitted": {"ipRanges": ["10.0.0.0/33"]}}}}),
     "accept", None, "refuse",
     "the schema's CIDR pattern is loose; Ember reports it in the policy's Ready condition"),
    ("policy ca nameConstraints email with two @",
     policy({"isCA": True, "ca": {"nameConstraints": {"permitted": {"emailAddresses": ["a@@b.com"]}}}}),
     "accept", None, "refuse",
     "the schema does not parse mailboxes; Ember reports it in the policy's Ready condition"),
    ("policy default longer than max by under a second",
     policy({"validity": {"max": "1h", "default": "1h0.5s"}}),
     "refuse", "spec.validity", "accept",
     "C compares whole seconds (sub-second parts are truncated); CEL compares exact durations"),
    ("status condition with a bad status",
     dict(policy({}), status={"conditions": [{"type": "Ready", "status": "yes"}]}),
     "refuse", "status.conditions[0].status", "accept",
     "C does not read status"),
]

# Objects in the manifests that the C loader refuses on purpose (the schema accepts them):
# (kind, name) -> text its error must contain.
EXPECTED_C_REFUSALS = {
    ("IssuancePolicy", "broken"): "invalid regex",
}


def duration_samples():
    """Go duration strings, good and bad, from a fixed seed (so failures reproduce)."""
    fixed = ["1s", "999ms", "1000ms", "999999999ns", "1000000us", "0.5s", "1.5s", "0", "0s",
             "+1s", "-1s", "1", "s", ".s", "1.s", ".1s", "1..1s", "1e3s", "1d", "1 h", " 1h",
             "1h ", "1H", "876000h", "876000h0.9s", "876000h1s", "876001h", "52560000m",
             "3153600000s", "3153600001s", "9223372036s", "9223372037s", "2562047h",
             "2562048h", "0.9999999999999999999s", "1\u00b5s", "1000000000\u03bcs", "1\u00b5"]
    rnd = random.Random(20240601)
    nums = ["0", "1", "2", "9", "10", "59", "90", "999", "1000", "3600", "86400", "876000", "00"]
    units = ["ns", "us", "\u00b5s", "\u03bcs", "ms", "s", "m", "h", "h", "m", "d", "x", ""]
    out = list(fixed)
    while len(out) < 600:
        v = rnd.choice(["", "", "", "+", "-"])
        for _ in range(rnd.randint(1, 3)):
            r = rnd.random()
            if r < 0.7:
                v += rnd.choice(nums)
            elif r < 0.85:
                v += rnd.choice(nums) + "." + rnd.choice(["", "5", "25", "999999999", "0001"])
            else:
                v += "." + rnd.choice(["", "5", "75"])
            v += rnd.choice(units)
        if len(v) <= 64:
            out.append(v)
    return out


def key_algorithm_samples():
    out = ["RSA_%d" % n for n in range(0, 17001)]
    out += ["RSA_0%d" % n for n in (2048, 4096)] + ["RSA_", "RSA", "RSA_+2048", "RSA_2048 ",
            " RSA_2048", "rsa_2048", "RSA-2048", "RSA_2048.0", "RSA_99999", "RSA_100000",
            "EC_P256", "EC_P384", "EC_P521", "EC_ED25519", "EC_P224", "EC_ED448", "ec_p256",
            "EC_P256 ", "ED25519", "EC_ED25519_", ""]
    return out


def oid_samples():
    """Dotted OIDs, good and bad: the CRD's pattern and Ember's loader must agree on each."""
    out = ["0.0", "0.39", "0.40", "1.39", "1.40", "2.40", "2.999", "3.1", "1", "1.", ".1",
           "1..2", "1.2.", "01.2", "1.02", "1.2.03", "1.2.0", "1.2.3", "2.5.4.12",
           "1.3.6.1.4.1.311.20.2.3", "1.2.a", "1.2 .3", " 1.2", "1,2", "-1.2", "+1.2",
           "1.2." + "9" * 18, "1.2." + "9" * 19, "1.2." + "1" * 18 + ".0", "1.2" + ".1" * 31,
           "1.2" + ".1" * 32, "1.2" + ".12" * 20, ""]
    rnd = random.Random(20261207)
    parts = ["0", "1", "2", "3", "9", "10", "39", "40", "99", "311", "00", "01", "a", ""]
    while len(out) < 400:
        out.append(".".join(rnd.choice(parts) for _ in range(rnd.randint(1, 6))))
    return out


SWEEPS = [
    ("spec.sans.otherNames.allowed[0].oid", oid_samples,
     lambda v: policy({"sans": {"otherNames": {"rule": "Optional", "allowed": [
         {"oid": v, "value": "x"}]}}})),
    ("spec.subject.otherAttributes[0].oid", oid_samples,
     lambda v: policy({"subject": {"otherAttributes": [{"oid": v, "rule": "Optional"}]}})),
    ("spec.validity.max", duration_samples,
     lambda v: policy({"validity": {"max": v}})),
    ("spec.keyAlgorithms[0]", key_algorithm_samples,
     lambda v: policy({"keyAlgorithms": [v]})),
]


def field_named(errs, field):
    """True when some message is about field (its path, or a path inside it)."""
    for e in errs:
        path = e.split(": ", 1)[0]
        if path == field or path.startswith(field + ".") or path.startswith(field + "["):
            return True
    return False


def run_json(cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr))
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump-cases", action="store_true",
                    help="print the known cases as JSON ({name, object, verdict, field}) and stop "
                         "(test/e2e applies them to the real API server)")
    ap.add_argument("--yaml2json", help="the yaml2json helper binary")
    ap.add_argument("--crdagree", help="the crdagree helper binary")
    ap.add_argument("--crd", action="append", help="a CRD file (repeat)")
    ap.add_argument("manifests", nargs="*", help="YAML manifests whose objects to check")
    a = ap.parse_args()
    if a.dump_cases:
        json.dump([{"name": n, "object": o, "verdict": v, "field": f} for n, o, v, f, _, _ in CASES],
                  sys.stdout)
        return 0
    if not (a.yaml2json and a.crdagree and a.crd):
        ap.error("--yaml2json, --crdagree and --crd are required")

    # 1. the CRDs
    crds = {}  # kind -> CRD document
    for entry in run_json([a.yaml2json] + a.crd):
        docs = entry["docs"]
        if len(docs) != 1:
            not_ok("CRD file %s holds one document" % entry["file"], "%d documents" % len(docs))
            continue
        problems = check_crd(entry["file"], docs[0])
        kind = ((docs[0].get("spec") or {}).get("names") or {}).get("kind")
        if problems:
            not_ok("CRD %s is well-formed" % entry["file"], "\n".join(problems))
        else:
            ok("CRD %s is well-formed (%s)" % (entry["file"], kind))
        if kind in crds:
            not_ok("one CRD per kind", "%s defined twice" % kind)
        crds[kind] = docs[0]
    for kind in KINDS:
        if kind not in crds:
            not_ok("CRD for %s present" % kind, "none of %s defines it" % a.crd)
    if failures():
        return 1

    def schema_of(kind):
        return crds[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

    si = schema_of("Issuer")["properties"]["spec"]
    sc = schema_of("ClusterIssuer")["properties"]["spec"]
    if si == sc:
        ok("Issuer and ClusterIssuer have the same spec schema")
    else:
        not_ok("Issuer and ClusterIssuer have the same spec schema")

    def check_object(obj):
        """Problems of obj against its CRD: a list of "path: message" strings."""
        kind = obj.get("kind")
        if kind not in crds:
            return ["kind: %r is not an ember.issuer.dev kind" % kind]
        if obj.get("apiVersion") != API_VERSION:
            return ["apiVersion: %r is not served (want %s)" % (obj.get("apiVersion"),
                                                               API_VERSION)]
        schema = schema_of(kind)
        errs = []
        md = obj.get("metadata")
        if not isinstance(md, dict) or not isinstance(md.get("name"), str) or not md["name"]:
            errs.append("metadata.name: Required value")
        elif KINDS[kind][2] == "Cluster" and "namespace" in md:
            errs.append("metadata.namespace: a %s is cluster-scoped" % kind)
        validate(schema, prune_nulls(schema, copy.deepcopy(obj)), "", errs, root=True)
        return errs

    # 2. the objects of the manifests
    agree_objs = []  # (label, object, expected C verdict, expected text or note)
    for file in a.manifests:
        try:
            entry = run_json([a.yaml2json, file])[0]
        except RuntimeError as e:
            not_ok("%s parses as Kubernetes YAML" % file, e)
            continue
        checked = 0
        for obj in entry["docs"]:
            av = obj.get("apiVersion", "") if isinstance(obj, dict) else ""
            if not isinstance(av, str) or av.split("/")[0] != GROUP:
                continue
            checked += 1
            label = "%s %s/%s" % (entry["file"], obj.get("kind"),
                                  (obj.get("metadata") or {}).get("name"))
            try:
                errs = check_object(obj)
            except SchemaError as e:
                not_ok("%s validates against its CRD" % label, "checker: %s" % e)
                continue
            if errs:
                not_ok("%s validates against its CRD" % label, "\n".join(errs))
            else:
                ok("%s validates against its CRD" % label)
            key = (obj.get("kind"), (obj.get("metadata") or {}).get("name"))
            if key in EXPECTED_C_REFUSALS:
                agree_objs.append((label, obj, "refuse", EXPECTED_C_REFUSALS[key]))
            else:
                agree_objs.append((label, obj, "accept", None))
        if checked == 0:
            print("# %s: no ember.issuer.dev objects" % entry["file"])

    # 3. known-bad and known-good objects
    for name, obj, verdict, field, c_verdict, why in CASES:
        label = "case %r" % name
        try:
            errs = check_object(obj)
        except SchemaError as e:
            not_ok("%s: schema %ss it" % (label, verdict), "checker: %s" % e)
            continue
        if verdict == "accept":
            if errs:
                not_ok("%s: schema accepts it" % label, "\n".join(errs))
            else:
                ok("%s: schema accepts it" % label)
        elif not errs:
            not_ok("%s: schema refuses it" % label, "accepted")
        elif not field_named(errs, field):
            not_ok("%s: schema refuses it naming %s" % (label, field), "\n".join(errs))
        else:
            ok("%s: schema refuses it naming %s (%s)" % (label, field, errs[0]))
        if c_verdict in ("accept", "refuse"):
            agree_objs.append((label, obj, c_verdict, why))

    # 4. the C loaders agree
    results = run_json([a.crdagree], json.dumps([o for _, o, _, _ in agree_objs]))
    if len(results) != len(agree_objs):
        not_ok("crdagree answers once per object",
               "%d objects, %d answers" % (len(agree_objs), len(results)))
        return 1
    for (label, obj, want, text), res in zip(agree_objs, results):
        got = "accept" if res.get("ok") else "refuse"
        err = res.get("error", "")
        if got != want:
            not_ok("%s: C loader %ss it" % (label, want),
                   "C loader %ss it%s" % (got, ": " + err if err else ""))
            continue
        if label.startswith("case ") and text:
            note("%s: schema and C differ on purpose: %s" % (label, text))
        if want == "refuse" and text and not label.startswith("case ") and text not in err:
            not_ok("%s: C loader refuses it with %r" % (label, text), err)
            continue
        ok("%s: C loader %ss it%s" % (label, want, " (%s)" % err if err else ""))

    # 5. sweeps: many values of one field, the schema's verdict against the C loader's
    for field, samples, make in SWEEPS:
        values = samples()
        objs = [make(v) for v in values]
        schema_ok = [not check_object(o) for o in objs]
        results = run_json([a.crdagree], json.dumps(objs))
        diffs = ["%r: schema %s, C %s%s" % (v, "accepts" if s_ok else "refuses",
                                           "accepts" if r.get("ok") else "refuses",
                                           " (%s)" % r["error"] if r.get("error") else "")
                 for v, s_ok, r in zip(values, schema_ok, results) if s_ok != bool(r.get("ok"))]
        good = sum(schema_ok)
        if len(results) != len(objs) or diffs:
            not_ok("%s: schema and C agree on %d values" % (field, len(values)),
                   "\n".join(diffs[:30]) or "answer count differs")
        elif good == 0 or good == len(values):
            not_ok("%s: the sweep has good and bad values" % field, "%d of %d good" % (
                good, len(values)))
        else:
            ok("%s: schema and C agree on %d values (%d accepted, %d refused)" % (
                field, len(values), good, len(values) - good))
    return 1 if failures() else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, SchemaError, subprocess.TimeoutExpired) as e:
        not_ok("crdcheck.py ran", e)
        sys.exit(1)
