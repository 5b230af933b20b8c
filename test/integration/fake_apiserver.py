#!/usr/bin/env python3
"""fake_apiserver.py -- a strict fake Kubernetes API server for Ember's controller tests.

Python 3 standard library only.  It serves the few resources Ember talks to, over HTTPS with
bearer tokens, and is as strict as the real kube-apiserver (plus cert-manager's validating
webhook) on the points shared/docs/contract.md §1, §2.1 and §5 list: a kinder fake would hide
client bugs.  Wire behaviour follows kubernetes/apiserver (registry/generic/registry/store.go,
endpoints/handlers/patch.go, storage/cacher), kubernetes/apiextensions-apiserver
(pkg/registry/customresource/strategy.go, status_strategy.go) and apimachinery
(pkg/api/errors/errors.go) as read for this project; nothing is copied from them.

Served resources (paths per contract §5.1, cluster-wide list of namespaced types included):
  cert-manager.io/v1        certificaterequests  namespaced  /status  cert-manager webhook rules
  ember.issuer.dev/v1alpha1 issuers              namespaced  /status  generation on spec change
  ember.issuer.dev/v1alpha1 clusterissuers       cluster     /status
  ember.issuer.dev/v1alpha1 issuancepolicies     cluster     /status
  v1                        secrets, events      namespaced
  v1                        serviceaccounts      namespaced  /token (TokenRequest), see below
  v1                        namespaces           cluster     status.phase Active on create (no
                                                             finalizers: a delete is immediate);
                                                             labels are what Ember reads
  coordination.k8s.io/v1    leases               namespaced
Every type supports get, list, watch, create (generateName too), update (PUT), patch, delete.
  authentication.k8s.io/v1  tokenreviews         cluster     create only (POST), see below
Also: GET /version, /healthz, /readyz (no token needed), /apis/<group>/<version> discovery.

Lists and watches by resourceVersion (Kubernetes API concepts, "Semantics for list/watch", and
what a real kube-apiserver with the watch cache on answers):
  list  RV unset                       -> current state (a quorum read)
        RV "0"                         -> current state (any is allowed; the fake serves current)
        RV N, no limit, Match unset    -> NotOlderThan N: current state (waits for a future N)
        RV N, limit>0, Match unset     -> Exact N: the state AT N, metadata.resourceVersion "N",
                                          from etcd (the history), 410 Expired "The
                                          resourceVersion for the provided list is too old."
                                          when N < compacted_rv; a future N is waited for
        RV N, Match=NotOlderThan/Exact -> as named (Exact: 410 as above)
        continue=TOKEN                 -> the token's RV exactly; 410 once compacted
  watch RV unset or "0"                -> synthetic ADDED for every object, then live events
        RV N                           -> events after N, from the watch cache: when N is older
                                          than the cache's oldest RV (the history's compacted_rv,
                                          or watch_floor_rv after /_fake/watch-cache-reset) the
                                          answer is 200 with one ERROR event (Status 410 Expired
                                          "too old resource version: N (OLDEST)") and the end of
                                          the stream.  Lists are not limited by watch_floor_rv:
                                          etcd still holds what the watch cache lost.

TokenReview (api-auth.md §2.1 and the TokenReview v1 API reference): the caller needs an
authenticated token whose rules allow create on tokenreviews (a token without "rules" may do
anything; else 403 with the RBAC wording, "... at the cluster scope").  The body
is decoded like any built-in object (application/json, apiVersion/kind optional but checked);
spec.token "" or absent -> 400 "token is required for TokenReview in authentication".  The
answer is 201 with the TokenReview echoed (spec.token included: treat answers as secret) and a
status following Go's omitempty: authenticated only when true, error only when set, audiences
only when non-empty, user always ({} when unknown).  The target audiences are spec.audiences,
or when that is empty the server's own "api_audiences".  For a token of "token_reviews":
  unknown                     -> error "[invalid bearer token, token lookup failed]"
  "error": "..."              -> that error (e.g. an invalidated or expired token)
  "audience_unaware": true    -> authenticated, user, NO audiences (an authenticator that
                                 ignores audiences on a server with none configured)
  no common audience          -> error 'token audiences ["a"] is invalid for the target
                                 audiences ["b"]' (as the service-account authenticator says)
  else                        -> authenticated, user {username, uid, groups[, extra]},
                                 audiences = target audiences that the token holds
A review of a token past its "expires" (Unix seconds; minted tokens carry theirs) -> error
"[invalid bearer token, service account token has expired]".
Fault injection (/_fake/fault with "resource": "tokenreviews", verb create), random faults and
latency apply as to any create.  The body is never logged (no write_log entry); /_fake/stats
counts answered reviews in "token_reviews" and keeps "token_review_log" entries {reviewer,
audiences, known, authenticated} without the token.

TokenRequest (POST /api/v1/namespaces/NS/serviceaccounts/NAME/token, as TokenREST.Create in
kubernetes pkg/registry/core/serviceaccount/storage/token.go behaves): only POST (else 405);
the caller needs create on "serviceaccounts/token" (RBAC wording: 'serviceaccounts "NAME" is
forbidden: User "U" cannot create resource "serviceaccounts/token" in API group "" in the
namespace "NS"'; create on serviceaccounts alone is not enough); the body is decoded as an
authentication.k8s.io/v1 TokenRequest (wrong types or kind -> 400); metadata.name/namespace,
when set, must match the URL (422); the ServiceAccount must exist (404 'serviceaccounts "NAME"
not found'); spec.audiences defaults to the api_audiences, spec.expirationSeconds to 3600, and
must be 600..2^32 (422 'TokenRequest.authentication.k8s.io "" is invalid:
spec.expirationSeconds: Invalid value: N: may not specify a duration less than 10 minutes').
The answer is 201 with the TokenRequest echoed (metadata name, namespace, creationTimestamp;
spec with boundObjectRef null) and status {token, expirationTimestamp}.  The token is
JWT-shaped (payload: aud, exp, iat, nbf, iss, jti, sub "system:serviceaccount:NS:NAME",
kubernetes.io {namespace, serviceaccount {name, uid}}; a random signature nobody verifies), and
TokenReviews know it from then on (the account, its groups, its audiences, until its exp; the
last MAX_MINTED_TOKENS only).  /_fake/stats counts 201 answers in "token_requests" and keeps
"token_request_log" entries {requester, namespace, name, audiences, expirationSeconds (as sent;
null when the body was not read), code}, never the token.  Faults: "resource":
"serviceaccounts", "subresource": "token", verb create.

Usage:
  fake_apiserver.py --port P --tls-cert CRT --tls-key KEY --config CONF.json
                    [--bind 127.0.0.1] [--admin-token T] [--ready-file F]
                    [--kubeconfig-out FILE --kubeconfig-token TOKEN-OR-USER
                     [--kubeconfig-ca CA.crt] [--kubeconfig-namespace NS]]
  --port 0 lets the kernel pick; --ready-file receives the port once listening.
  --kubeconfig-out writes a kubeconfig (JSON, which is valid YAML) with server
  https://<bind>:<port>, certificate-authority-data (base64 of --kubeconfig-ca, default the
  --tls-cert file) and the bearer token of the named config token (token value or its user).
  SIGTERM/SIGINT: every loop (watch streams included) ends, exit 0.  One line per request on
  stderr (verb, path, code, user; never a token).

Configuration (JSON):
  {
    "tokens": {                      # token value -> identity
      "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                    "groups": ["system:serviceaccounts"],
                    "readonly": false,            # true: every write -> 403 (RBAC wording)
                    "approve_signers": ["issuers.ember.issuer.dev/*"],
                                                  # RBAC resourceNames of verb approve on
                                                  # signers.cert-manager.io; "all" = any;
                                                  # absent = may not add Approved/Denied
                    "rules": [{"verbs": ["get", "list", "watch"],
                               "resources": ["secrets", "certificaterequests/status"],
                               "apiGroups": [""],   # optional: absent = any group
                               "namespaces": ["ember"], "names": ["x"]}]}},
                                                  # rules absent = every verb on everything
                                                  # (TokenReview needs {"verbs": ["create"],
                                                  #  "resources": ["tokenreviews"]})
    "token_reviews": {               # client tokens TokenReviews vouch for (see above)
      "<client token>": {"user": "system:serviceaccount:team-a:builder", "uid": "...",
                         "groups": ["system:serviceaccounts", ...], "extra": {...},
                         "audiences": ["ember"],   # default: the api_audiences
                         "audience_unaware": false, "error": ""}},
    "api_audiences": ["https://kubernetes.default.svc.cluster.local"],
                                         # the server's own audiences (TokenReview default)
    "namespaces": ["default", "ember"],  # optional: create elsewhere -> 404 namespace not found
    "history_window": 1000,              # events kept for watch/continue (etcd compaction)
    "bookmark_interval_seconds": 60,     # BOOKMARK period on allowWatchBookmarks watches
    "watch_max_timeout_seconds": 1800,   # cap of timeoutSeconds (and default without it)
    "max_watches": 100,                  # open watches; more -> 429
    "too_large_wait_seconds": 3,         # wait for a future RV before 504 (as the watch cache)
    "objects": [ {...}, ... ]            # created at start, status kept, no auth/webhook
  }

Control API (header X-Fake-Apiserver-Admin: <--admin-token, default "fake-admin">; 403
without it).  POST bodies are JSON; answers 200 with JSON (or 204).
  GET  /_fake/stats          {"requests": {"<verb> <path> <code>": n}, "by_verb": {..},
                              "writes": {"<plural>/<ns>/<name>": n} (successful changes),
                              "write_log": [{verb, path, subresource, code, content_type, body,
                              user, rv}], "watches": {"open": n, "total": n, "by_path": {..}},
                              "connections_by_user": {user: TLS connections}, "requests_by_user": {..},
                              "token_reviews": n (201 answers), "token_review_log": [{reviewer,
                              audiences, known, authenticated}] (never the token),
                              "token_requests": n (201 answers), "token_request_log": [...]
                              (see TokenRequest above),
                              "log": [last 500 requests], "rv": current, "compacted_rv": n,
                              "watch_floor_rv": n (oldest RV a watch may start from),
                              "settings": {...}, "faults": [...]}
  POST /_fake/reset-stats
  POST /_fake/fault          {"count": N, "status": 500|503|429|..., "retry_after": s,
                              "verbs": ["create","update","patch","delete"] (default: writes),
                              "resource": "certificaterequests" (optional),
                              "subresource": "status" (optional)}  next N matching requests fail
  POST /_fake/random-faults  {"rate": 0.0-1.0, "seed": 42, "statuses": [500, 503, 429],
                              "verbs": [...] (default writes), "retry_after": 1}; rate 0 = off
  POST /_fake/faults-clear   removes queued/random faults and latency
  POST /_fake/latency        {"ms": L}   added to every API request
  POST /_fake/drop-watches   {"graceful": false}  ends every open watch now (abrupt TCP close
                              without the last chunk unless graceful)
  POST /_fake/expire-history {}  compacts: every RV older than the current one is gone (watch
                              from it -> ERROR 410, continue tokens -> 410); open watches live on
  POST /_fake/watch-cache-reset {"graceful": false}  an API server restart whose watch cache is
                              rebuilt from a fresh list: watch_floor_rv = the current RV, history
                              (etcd) kept.  Every open watch ends (abrupt close unless graceful);
                              a watch from an RV < watch_floor_rv then answers 200 with one ERROR
                              event {"type":"ERROR","object":{Status Failure, reason Expired,
                              code 410, message "too old resource version: RV (FLOOR)"}} and
                              closes, while lists at that RV (paged = Exact, continue tokens)
                              are still served from the history -> {"watch_floor_rv", "dropped"}
  POST /_fake/hold-watch     {"resources": ["namespaces"]}  watches of these resources (plural
                              names) hold their live events (and send no BOOKMARK, whose RV
                              would pass them) until a later call leaves the resource out
                              ({"resources": []} releases all): a watch that lags behind the
                              others, as a real one can.  Gets, lists and the synthetic ADDED
                              events of a watch from RV "" are not held -> {"resources": [...]}
  POST /_fake/history        {"window": N}  shrinks/grows the retained event window
  POST /_fake/settings       {"bookmark_interval_seconds", "watch_max_timeout_seconds",
                              "max_watches", "too_large_wait_seconds", "history_window",
                              "split_chunks": bool (watch events cut at random byte boundaries
                              and glued across events, one HTTP chunk per piece)}
  POST /_fake/objects        an object (apiVersion, kind, metadata.name[, namespace]); creates or
                              replaces it directly (status kept, no auth, no webhook) -> object
  POST /_fake/delete-object  {"apiVersion", "kind", "namespace", "name"} -> deleted object
  GET  /_fake/object?apiVersion=..&kind=..&namespace=..&name=..   dump one object (404 if none)
  GET  /_fake/objects?apiVersion=..&kind=..   every object of that type
  POST /_fake/tokens         {"set": {"<token>": {identity}}, "remove": ["<token>", ...]}
  POST /_fake/rotate-token   {"old": "<token>", "new": "<token>"}  same identity, old one dead
  POST /_fake/token-reviews  {"set": {"<client token>": {...}}, "remove": ["<client token>"]}
                              what TokenReviews say about client tokens from now on
"""

import argparse
import base64
import bisect
import collections
import copy
import datetime
import json
import os
import random
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from fakehttp import FakeServer  # this directory is on sys.path (run as a script)

# ---------------------------------------------------------------------------------------------
# Limits: every network-fed buffer and every loop is bounded.
MAX_BODY = 3 * 1024 * 1024          # kube-apiserver MaxRequestBodyBytes (3 MiB)
MAX_CHUNKS = 100000                 # chunked request-body pieces
MAX_REQS_PER_CONN = 10000           # keep-alive requests on one connection
MAX_CONNECTIONS = 512               # concurrent connections (others are closed at once)
SOCKET_TIMEOUT = 30.0               # seconds of client silence (reads) or a stuck send
MAX_LOG_ENTRIES = 500               # request log kept for /_fake/stats
MAX_WRITE_LOG = 500                 # write log entries kept
MAX_LOGGED_BODY = 65536             # bytes of a write body kept in the write log
MAX_OBJECTS = 100000                # objects in the store
MAX_WATCH_QUEUE = 10000             # events queued for one slow watcher before it is closed
MAX_JSON_PATCH_OPS = 10000          # kube-apiserver maxJSONPatchOperations
MAX_LATENCY_MS = 60000
MAX_HISTORY_WINDOW = 1000000
MAX_FAULTS = 1000
MAX_STATS_KEYS = 10000
ADMIN_HEADER = "X-Fake-Apiserver-Admin"
WEBHOOK_NAME = "webhook.cert-manager.io"
GIT_VERSION = "v1.31.0-fake"

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def log(msg):
    sys.stderr.write("fake-apiserver: %s\n" % msg)
    sys.stderr.flush()


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Resource registry.

class Res:
    def __init__(self, group, version, plural, kind, namespaced, status_sub, crd):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.status_sub, self.crd = namespaced, status_sub, crd
        self.api_version = "%s/%s" % (group, version) if group else version

    @property
    def qualified(self):
        """GroupResource.String(): "certificaterequests.cert-manager.io" or "secrets"."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def group_kind(self):
        """GroupKind.String(): "CertificateRequest.cert-manager.io" or "Secret"."""
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind


RESOURCES = [
    Res("cert-manager.io", "v1", "certificaterequests", "CertificateRequest", True, True, True),
    Res("ember.issuer.dev", "v1alpha1", "issuers", "Issuer", True, True, True),
    Res("ember.issuer.dev", "v1alpha1", "clusterissuers", "ClusterIssuer", False, True, True),
    Res("ember.issuer.dev", "v1alpha1", "issuancepolicies", "IssuancePolicy", False, True, True),
    Res("", "v1", "secrets", "Secret", True, False, False),
    Res("", "v1", "events", "Event", True, False, False),
    Res("", "v1", "serviceaccounts", "ServiceAccount", True, False, False),
    Res("", "v1", "namespaces", "Namespace", False, False, False),
    Res("coordination.k8s.io", "v1", "leases", "Lease", True, False, False),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
# Not stored and only created: served by Handler.token_review, not by the generic verbs.
TOKENREVIEWS = Res("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, False, False)
DEFAULT_API_AUDIENCES = ["https://kubernetes.default.svc.cluster.local"]
MAX_TOKEN_REVIEW_LOG = 500
BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
SERVICEACCOUNTS = BY_PATH[("", "v1", "serviceaccounts")]
# The body and answer of POST serviceaccounts/NAME/token (never stored).
TOKENREQUESTS = Res("authentication.k8s.io", "v1", "tokenrequests", "TokenRequest", True, False, False)
TOKEN_ISSUER = "https://kubernetes.default.svc.cluster.local"
MAX_TOKEN_REQUEST_LOG = 500
MAX_MINTED_TOKENS = 1000            # minted tokens TokenReviews still know (oldest forgotten)

# Kinds the cert-manager approval webhook can resolve through discovery (issuerRef.group/kind
# -> plural, namespaced).  cert-manager's own issuers are registered too, as in a real cluster.
SIGNER_KINDS = {
    ("cert-manager.io", "Issuer"): ("issuers", True),
    ("cert-manager.io", "ClusterIssuer"): ("clusterissuers", False),
    ("ember.issuer.dev", "Issuer"): ("issuers", True),
    ("ember.issuer.dev", "ClusterIssuer"): ("clusterissuers", False),
}


# ---------------------------------------------------------------------------------------------
# Status errors (apimachinery pkg/api/errors shapes).

class APIError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None, drop=False):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.headers, self.drop = details, headers or {}, drop

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason}
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def details_for(res, name):
    d = {}
    if name:
        d["name"] = name
    if res.group:
        d["group"] = res.group
    d["kind"] = res.plural
    return d


def err_not_found(res, name):
    return APIError(404, "NotFound", '%s "%s" not found' % (res.qualified, name), details_for(res, name))


def err_already_exists(res, name):
    return APIError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, name),
                    details_for(res, name))


def err_conflict(res, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (res.qualified, name, why),
                    details_for(res, name))


def err_bad_request(msg):
    return APIError(400, "BadRequest", msg)


def err_invalid(res, name, causes):
    """causes: [(reason, field, message-without-field)]; errors.NewInvalid."""
    msgs = ["%s: %s" % (f, m) for (_, f, m) in causes]
    agg = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    d = {"name": name} if name else {}
    if res.group:
        d["group"] = res.group
    d["kind"] = res.kind
    d["causes"] = [{"reason": r, "message": m, "field": f} for (r, f, m) in causes]
    return APIError(422, "Invalid", '%s "%s" is invalid: %s' % (res.group_kind, name, agg), d)


def err_expired(msg):
    return APIError(410, "Expired", msg)


def err_webhook_denied(field_errors):
    """cert-manager's validating webhook: its admission plugins return field.ErrorList
    aggregates (internal/webhook/admission/resourcevalidation/resourcevalidation.go:
    errs.ToAggregate(); certificaterequest/approval: field.Forbidden).  Those are not
    APIStatus errors, so pkg/webhook/admission/custom_validator_webhook.go answers
    controller-runtime admission.Denied(err.Error()), whose ValidationResponse sets
    Code 403 / Reason Forbidden; kube-apiserver (admission/plugin/webhook/errors
    ToStatusErr) keeps that code and prefixes the message.  So the client sees HTTP 403,
    reason Forbidden, no details/causes -- not 422 Invalid."""
    agg = field_errors[0] if len(field_errors) == 1 else "[" + ", ".join(field_errors) + "]"
    return APIError(403, "Forbidden", 'admission webhook "%s" denied the request: %s' % (WEBHOOK_NAME, agg))


def go_quote(v):
    return json.dumps(v)


# ---------------------------------------------------------------------------------------------
# JSON helpers: strict equality, merge patch (RFC 7386), JSON patch (RFC 6902).

def json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class PatchError(Exception):
    pass


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError('invalid JSON pointer "%s"' % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts, path, op):
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and re.fullmatch(r"0|[1-9][0-9]*", p) and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
    return cur


def _get(doc, path, op):
    parts = _pointer(path)
    if not parts:
        return doc
    par = _parent(doc, parts, path, op)
    k = parts[-1]
    if isinstance(par, dict) and k in par:
        return par[k]
    if isinstance(par, list) and re.fullmatch(r"0|[1-9][0-9]*", k) and int(k) < len(par):
        return par[int(k)]
    raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))


def _remove(doc, path, op):
    parts = _pointer(path)
    if not parts:
        raise PatchError("%s operation does not apply: cannot remove the document root" % op)
    par = _parent(doc, parts, path, op)
    k = parts[-1]
    if isinstance(par, dict) and k in par:
        return par.pop(k)
    if isinstance(par, list) and re.fullmatch(r"0|[1-9][0-9]*", k) and int(k) < len(par):
        return par.pop(int(k))
    raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))


def _add(doc, path, value, op):
    parts = _pointer(path)
    if not parts:
        return value
    par = _parent(doc, parts, path, op)
    k = parts[-1]
    if isinstance(par, dict):
        par[k] = value
    elif isinstance(par, list):
        if k == "-":
            par.append(value)
        elif re.fullmatch(r"0|[1-9][0-9]*", k) and int(k) <= len(par):
            par.insert(int(k), value)
        else:
            raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
    else:
        raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
    return doc


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise ValueError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for o in ops:
        if not isinstance(o, dict) or not isinstance(o.get("op"), str) or not isinstance(o.get("path"), str):
            raise PatchError("operation missing op or path")
        op, path = o["op"], o["path"]
        if op in ("add", "replace", "test") and "value" not in o:
            raise PatchError('missing value for op "%s"' % op)
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(o["value"]), op)
        elif op == "remove":
            _remove(doc, path, op)
        elif op == "replace":
            _get(doc, path, op)
            parts = _pointer(path)
            if not parts:
                doc = copy.deepcopy(o["value"])
            else:
                _remove(doc, path, op)
                doc = _add(doc, path, copy.deepcopy(o["value"]), op)
        elif op in ("move", "copy"):
            if not isinstance(o.get("from"), str):
                raise PatchError('missing from for op "%s"' % op)
            v = _get(doc, o["from"], op)
            if op == "move":
                _remove(doc, o["from"], op)
            doc = _add(doc, path, copy.deepcopy(v), op)
        elif op == "test":
            try:
                cur = _get(doc, path, op)
            except PatchError:
                cur = None
                if o["value"] is not None:
                    raise PatchError('testing value %s failed: test failed' % path)
            if not json_equal(cur, o["value"]):
                raise PatchError('testing value %s failed: test failed' % path)
        else:
            raise PatchError("Unexpected kind: %s" % op)
    return doc


# ---------------------------------------------------------------------------------------------
# Validation.

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MICROTIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def name_errors(name, field="metadata.name"):
    if len(name) > 253:
        return [("FieldValueInvalid", field, "Invalid value: %s: must be no more than 253 characters" % go_quote(name))]
    if not DNS1123_SUBDOMAIN.fullmatch(name):
        return [("FieldValueInvalid", field,
                 "Invalid value: %s: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                 "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                 "([-a-z0-9]*[a-z0-9])?)*')" % go_quote(name))]
    return []


def is_b64(s):
    if not isinstance(s, str) or len(s) % 4 != 0 or not B64.fullmatch(s):
        return False
    try:
        base64.b64decode(s, validate=True)
        return True
    except ValueError:
        return False


def schema_errors(res, obj):
    """Type/schema validation the apiserver does before admission (422 Invalid causes), or a
    400 decode error raised directly."""
    errs = []
    if res.plural == "certificaterequests":
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            errs.append(("FieldValueRequired", "spec", "Required value"))
        else:
            req = spec.get("request")
            if req is not None and not is_b64(req):
                errs.append(("FieldValueInvalid", "spec.request",
                             "Invalid value: %s: spec.request in body must be of type byte: %s" % (go_quote(str(req)[:64]), go_quote(str(req)[:64]))))
            if not isinstance(spec.get("issuerRef"), dict):
                errs.append(("FieldValueRequired", "spec.issuerRef", "Required value"))
        st = obj.get("status")
        if isinstance(st, dict):
            for fld in ("certificate", "ca"):
                if fld in st and not is_b64(st[fld]):
                    errs.append(("FieldValueInvalid", "status." + fld,
                                 "Invalid value: %s: status.%s in body must be of type byte: %s" % (go_quote(str(st[fld])[:64]), fld, go_quote(str(st[fld])[:64]))))
            if "failureTime" in st and not (isinstance(st["failureTime"], str) and RFC3339.fullmatch(st["failureTime"])):
                errs.append(("FieldValueInvalid", "status.failureTime",
                             "Invalid value: %s: status.failureTime in body must be of type date-time: %s" % (go_quote(str(st["failureTime"])), go_quote(str(st["failureTime"])))))
    if res.crd:
        st = obj.get("status")
        conds = st.get("conditions") if isinstance(st, dict) else None
        if conds is not None:
            if not isinstance(conds, list):
                errs.append(("FieldValueTypeInvalid", "status.conditions",
                             'Invalid value: "%s": status.conditions in body must be of type array: "%s"' % (type(conds).__name__, type(conds).__name__)))
            else:
                seen = {}
                for i, c in enumerate(conds):
                    p = "status.conditions[%d]" % i
                    if not isinstance(c, dict):
                        errs.append(("FieldValueTypeInvalid", p, "Invalid value: must be of type object"))
                        continue
                    if "type" not in c:
                        errs.append(("FieldValueRequired", p + ".type", "Required value"))
                    if "status" not in c:
                        errs.append(("FieldValueRequired", p + ".status", "Required value"))
                    elif c["status"] not in ("True", "False", "Unknown"):
                        errs.append(("FieldValueNotSupported", p + ".status",
                                     'Unsupported value: %s: supported values: "True", "False", "Unknown"' % go_quote(c["status"])))
                    lt = c.get("lastTransitionTime")
                    if lt is not None and not (isinstance(lt, str) and RFC3339.fullmatch(lt)):
                        errs.append(("FieldValueInvalid", p + ".lastTransitionTime",
                                     "Invalid value: %s: %s.lastTransitionTime in body must be of type date-time: %s" % (go_quote(str(lt)), p, go_quote(str(lt)))))
                    if "type" in c:
                        # x-kubernetes-list-type: map keyed by type (CRD yaml of cert-manager)
                        key = c["type"]
                        if isinstance(key, str) and key in seen:
                            errs.append(("FieldValueDuplicate", p,
                                         'Duplicate value: map[string]interface {}{"type":%s}' % go_quote(key)))
                        seen[key] = i
    if res.plural == "secrets":
        data = obj.get("data")
        if data is not None:
            if not isinstance(data, dict):
                raise err_bad_request('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal data into Go struct field Secret.data of type map[string][]uint8')
            for k, v in data.items():
                if not is_b64(v):
                    raise err_bad_request('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (key %s)' % k)
    if res.plural == "leases":
        spec = obj.get("spec") or {}
        if not isinstance(spec, dict):
            raise err_bad_request('Lease in version "v1" cannot be handled as a Lease: spec must be an object')
        for f in ("acquireTime", "renewTime"):
            v = spec.get(f)
            if v is not None and not (isinstance(v, str) and MICROTIME.fullmatch(v)):
                raise err_bad_request('Lease in version "v1" cannot be handled as a Lease: parsing time %s as '
                                      '"2006-01-02T15:04:05.000000Z07:00": cannot parse as MicroTime (RFC3339 with 6 fractional digits)'
                                      % go_quote(str(v)))
        for f in ("leaseDurationSeconds", "leaseTransitions"):
            v = spec.get(f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise err_bad_request('Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal %s into Go struct field LeaseSpec.spec.%s of type int32'
                                      % (type(v).__name__, f))
        if isinstance(spec.get("leaseDurationSeconds"), int) and spec["leaseDurationSeconds"] <= 0:
            errs.append(("FieldValueInvalid", "spec.leaseDurationSeconds",
                         "Invalid value: %d: must be greater than 0" % spec["leaseDurationSeconds"]))
        if isinstance(spec.get("leaseTransitions"), int) and spec["leaseTransitions"] < 0:
            errs.append(("FieldValueInvalid", "spec.leaseTransitions",
                         "Invalid value: %d: must be greater than or equal to 0" % spec["leaseTransitions"]))
    if res.plural == "events":
        inv = obj.get("involvedObject") or {}
        ens = obj.get("metadata", {}).get("namespace", "")
        ins = inv.get("namespace", "") if isinstance(inv, dict) else ""
        # core/v1 event validation: cluster-scoped involved objects -> event in "" or "default"
        if (not ins and ens not in ("", "default")) or (ins and ins != ens):
            errs.append(("FieldValueInvalid", "involvedObject.namespace",
                         "Invalid value: %s: does not match event.namespace" % go_quote(ins)))
        for f in ("firstTimestamp", "lastTimestamp"):
            v = obj.get(f)
            if v is not None and not (isinstance(v, str) and RFC3339.fullmatch(v)):
                raise err_bad_request('Event in version "v1" cannot be handled as a Event: parsing time %s as "2006-01-02T15:04:05Z07:00": cannot parse' % go_quote(str(v)))
        v = obj.get("eventTime")
        if v is not None and not (isinstance(v, str) and MICROTIME.fullmatch(v)):
            raise err_bad_request('Event in version "v1" cannot be handled as a Event: parsing time %s as "2006-01-02T15:04:05.000000Z07:00": cannot parse' % go_quote(str(v)))
    return errs


def cond_of(obj, ctype):
    st = obj.get("status")
    conds = st.get("conditions") if isinstance(st, dict) else None
    if not isinstance(conds, list):
        return None
    for c in conds:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def conds_of(obj):
    st = obj.get("status")
    conds = st.get("conditions") if isinstance(st, dict) else None
    return [c for c in conds if isinstance(c, dict)] if isinstance(conds, list) else []


def go_issuer_ref(ref):
    ref = ref if isinstance(ref, dict) else {}
    return "{%s %s %s}" % (ref.get("name", ""), ref.get("kind", ""), ref.get("group", ""))


def approval_condition_errors(conds):
    """CM internal/apis/certmanager/validation/certificaterequest.go
    ValidateCertificateRequestApprovalCondition."""
    el = []
    fld = "status.conditions"
    for ctype in ("Approved", "Denied"):
        found = [c for c in conds if c.get("type") == ctype]
        if not found:
            continue
        if len(found) > 1:
            el.append('%s: Forbidden: multiple "%s" conditions present' % (fld, ctype))
            continue
        if found[0].get("status") != "True":
            el.append('%s.%s: Invalid value: %s: "%s" condition may only be set to True'
                      % (fld, ctype, go_quote(found[0].get("status", "")), ctype))
    if any(c.get("type") == "Denied" for c in conds) and any(c.get("type") == "Approved" for c in conds):
        el.append("%s: Forbidden: both 'Denied' and 'Approved' conditions cannot coexist" % fld)
    return el


def webhook_create_errors(obj):
    """ValidateCertificateRequest on CREATE (spec part; status is dropped on create)."""
    el = []
    spec = obj.get("spec") or {}
    ref = spec.get("issuerRef") if isinstance(spec.get("issuerRef"), dict) else {}
    if not ref.get("name"):
        el.append("spec.issuerRef.name: Required value: must be specified")
    req = spec.get("request")
    if not req:
        el.append("spec.request: Required value: must be specified")
    else:
        try:
            pem = base64.b64decode(req).decode("ascii", "replace")
        except ValueError:
            pem = ""
        if "-----BEGIN CERTIFICATE REQUEST-----" not in pem and "-----BEGIN NEW CERTIFICATE REQUEST-----" not in pem:
            el.append("spec.request: Invalid value: %s: failed to decode csr: error decoding certificate request PEM block"
                      % go_quote(req[:64]))
    return el


def webhook_update_errors(old, new, subresource, identity):
    """CM ValidateUpdateCertificateRequest + certificaterequest_approval plugin, in that order."""
    el = []
    oa = (old.get("metadata") or {}).get("annotations") or {}
    na = (new.get("metadata") or {}).get("annotations") or {}
    for a, b in ((oa, na), (na, oa)):
        for k, v in a.items():
            if k.startswith("cert-manager.io") or k.startswith("acme.cert-manager.io"):
                if k not in b or b[k] != v:
                    el.append("metadata.annotations.%s: Forbidden: cannot change cert-manager annotation after creation" % k)
    oc, nc = conds_of(old), conds_of(new)
    for ctype in ("Approved", "Denied"):
        o = next((c for c in oc if c.get("type") == ctype), None)
        n = next((c for c in nc if c.get("type") == ctype), None)
        if o is not None and (n is None or not json_equal(o, n)):
            el.append("status.conditions: Forbidden: '%s' condition may not be modified once set" % ctype)
    el.extend(approval_condition_errors(nc))
    if not json_equal(old.get("spec"), new.get("spec")):
        el.append("spec: Forbidden: cannot change spec after creation")
    if el:
        return el
    if subresource != "status":
        return []
    added = any(next((c for c in oc if c.get("type") == t), None) is None and
                next((c for c in nc if c.get("type") == t), None) is not None for t in ("Approved", "Denied"))
    if not added:
        return []
    ref = (new.get("spec") or {}).get("issuerRef") or {}
    group = ref.get("group") or "cert-manager.io"
    kind = ref.get("kind") or "Issuer"
    info = SIGNER_KINDS.get((group, kind))
    if info is None:
        return ["spec.issuerRef: Forbidden: referenced signer resource does not exist: %s" % go_issuer_ref(ref)]
    plural, namespaced = info
    ns = new["metadata"].get("namespace", "")
    names = ["%s.%s/*" % (plural, group)]
    names.append("%s.%s/%s.%s" % (plural, group, ns, ref.get("name", "")) if namespaced
                 else "%s.%s/%s" % (plural, group, ref.get("name", "")))
    allowed = identity.get("approve_signers")
    if allowed == "all" or (isinstance(allowed, list) and any(n in allowed for n in names)):
        return []
    return ['status.conditions: Forbidden: user "%s" does not have permissions to set approved/denied '
            'conditions for issuer %s' % (identity.get("user", ""), go_issuer_ref(ref))]


# ---------------------------------------------------------------------------------------------
# Store, history and watchers.

class Event:
    __slots__ = ("rv", "res", "ns", "name", "type", "obj", "prev")

    def __init__(self, rv, res, ns, name, etype, obj, prev):
        self.rv, self.res, self.ns, self.name = rv, res, ns, name
        self.type, self.obj, self.prev = etype, obj, prev


class Watcher:
    def __init__(self, res, ns, selector):
        self.res, self.ns, self.selector = res, ns, selector
        self.queue = collections.deque()
        self.overflow = False
        self.dropped = False
        self.graceful = False

    def wants(self, res, obj):
        if res is not self.res:
            return False
        if self.ns and obj["metadata"].get("namespace", "") != self.ns:
            return False
        return self.selector(obj)


class State:
    def __init__(self, cfg, admin_token):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.admin_token = admin_token
        self.tokens = dict(cfg.get("tokens", {}))
        self.token_reviews = dict(cfg.get("token_reviews", {}))
        self.minted = collections.deque()  # tokens TokenRequests made, oldest first
        self.api_audiences = list(cfg.get("api_audiences", DEFAULT_API_AUDIENCES))
        self.namespaces = cfg.get("namespaces")
        self.objects = {}                 # (res, ns, name) -> obj
        self.rv = 1
        self.compacted_rv = 1             # events with rv <= this are gone
        self.watch_floor_rv = 1           # watches from an rv below this expire (watch cache)
        self.history = collections.deque()
        self.settings = {
            "history_window": int(cfg.get("history_window", 1000)),
            "bookmark_interval_seconds": float(cfg.get("bookmark_interval_seconds", 60)),
            "watch_max_timeout_seconds": int(cfg.get("watch_max_timeout_seconds", 1800)),
            "max_watches": int(cfg.get("max_watches", 100)),
            "too_large_wait_seconds": float(cfg.get("too_large_wait_seconds", 3)),
            "split_chunks": bool(cfg.get("split_chunks", False)),
        }
        self.watchers = set()
        self.held = set()                 # plurals whose watch events are held (hold-watch)
        self.stopping = False
        self.faults = []
        self.random_faults = None
        self.rng = random.Random(0)
        self.latency_ms = 0
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"requests": {}, "by_verb": {}, "writes": {}, "watches_total": 0, "watches_by_path": {},
                      "faults_fired": 0, "connections_by_user": {}, "requests_by_user": {},
                      "token_reviews": 0, "token_requests": 0}
        self.token_review_log = collections.deque(maxlen=MAX_TOKEN_REVIEW_LOG)
        self.token_request_log = collections.deque(maxlen=MAX_TOKEN_REQUEST_LOG)
        self.req_log = collections.deque(maxlen=MAX_LOG_ENTRIES)
        self.write_log = collections.deque(maxlen=MAX_WRITE_LOG)

    # -- history ---------------------------------------------------------------------------
    def trim_history(self):
        win = max(0, self.settings["history_window"])
        while len(self.history) > win:
            e = self.history.popleft()
            self.compacted_rv = e.rv

    def expire_history(self):
        self.history.clear()
        self.compacted_rv = self.rv

    def commit(self, res, ns, name, etype, obj, prev):
        """Called with the lock held; obj already carries the new rv (self.rv)."""
        if etype == "DELETED":
            self.objects.pop((res, ns, name), None)
        else:
            self.objects[(res, ns, name)] = obj
        ev = Event(self.rv, res, ns, name, etype, obj, prev)
        self.history.append(ev)
        self.trim_history()
        for w in self.watchers:
            if w.wants(res, obj):
                if len(w.queue) >= MAX_WATCH_QUEUE:
                    w.overflow = True
                else:
                    w.queue.append(ev)
        key = "%s/%s/%s" % (res.plural, ns, name) if ns else "%s/%s" % (res.plural, name)
        if key in self.stats["writes"] or len(self.stats["writes"]) < MAX_STATS_KEYS:
            self.stats["writes"][key] = self.stats["writes"].get(key, 0) + 1
        self.cond.notify_all()

    def next_rv(self):
        self.rv += 1
        return self.rv

    def state_at(self, res, rv):
        """Objects of res as they were at rv (rv >= compacted_rv), sorted by key."""
        cur = {(ns, name): o for (r, ns, name), o in self.objects.items() if r is res}
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.res is not res:
                continue
            if ev.prev is None:
                cur.pop((ev.ns, ev.name), None)
            else:
                cur[(ev.ns, ev.name)] = ev.prev
        return [cur[k] for k in sorted(cur)]


# ---------------------------------------------------------------------------------------------
# Selectors.

def parse_field_selector(s, res):
    reqs = []
    if not s:
        return lambda o: True
    for part in s.split(","):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-/]+)\s*(==|!=|=)\s*([^,]*?)\s*", part)
        if not m:
            raise err_bad_request('invalid selector: \'%s\'; can\'t understand \'%s\'' % (s, part))
        k, op, v = m.groups()
        if k not in ("metadata.name", "metadata.namespace"):
            raise err_bad_request('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"' % k)
        reqs.append((k, op, v))

    def match(o):
        for k, op, v in reqs:
            got = o["metadata"].get(k.split(".", 1)[1], "")
            if (got == v) != (op != "!="):
                return False
        return True
    return match


def parse_label_selector(s):
    if not s:
        return lambda o: True
    reqs = []
    for part in s.split(","):
        part = part.strip()
        m = re.fullmatch(r"(!?)([A-Za-z0-9_.\-/]+)(?:\s*(==|!=|=)\s*([A-Za-z0-9_.\-]*))?", part)
        if not m or (m.group(1) and m.group(3)):
            raise err_bad_request('unable to parse requirement: %s (set-based selectors are not supported by the fake)' % part)
        reqs.append(m.groups())

    def match(o):
        labels = o["metadata"].get("labels") or {}
        for neg, k, op, v in reqs:
            if op is None:
                if (k in labels) == bool(neg):
                    return False
            elif op == "!=":
                if labels.get(k) == v:
                    return False
            elif labels.get(k) != v:
                return False
        return True
    return match


def encode_continue(rv, start):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(tok):
    try:
        pad = "=" * (-len(tok) % 4)
        d = json.loads(base64.urlsafe_b64decode(tok + pad).decode())
        if d.get("v") != "meta.k8s.io/v1" or not isinstance(d.get("rv"), int) or not isinstance(d.get("start"), str):
            raise ValueError("unknown format")
        return d["rv"], d["start"]
    except (ValueError, UnicodeDecodeError, AttributeError) as e:
        raise err_bad_request("continue key is not valid: %s" % e)


def obj_key(o):
    return "%s/%s" % (o["metadata"].get("namespace", ""), o["metadata"]["name"])


def parse_rv(s, what="resource version"):
    if not re.fullmatch(r"[0-9]{1,19}", s or ""):
        raise err_bad_request('invalid %s: %s' % (what, go_quote(s)))
    return int(s)


def too_large(rv, cur):
    return APIError(504, "Timeout", "Timeout: Too large resource version: %d, current: %d" % (rv, cur),
                    {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1}, {"Retry-After": "1"})


# ---------------------------------------------------------------------------------------------
# HTTP handler.

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeKubeAPIServer/" + GIT_VERSION
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.reqs_on_conn = 0
        self.conn_counted = False
        self.body_unread = False

    def handle_one_request(self):
        self.reqs_on_conn += 1
        if self.reqs_on_conn > MAX_REQS_PER_CONN or self.server.state.stopping:
            self.close_connection = True
            return
        super().handle_one_request()

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    # -- plumbing ------------------------------------------------------------------------------
    def send_json(self, code, obj, headers=None):
        body = b"" if obj is None else (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.send_response(code)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.code_sent = code

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        too_big = APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is %d" % MAX_BODY)
        if te.lower() == "chunked":
            out = bytearray()
            for _ in range(MAX_CHUNKS):
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise err_bad_request("malformed chunked encoding")
                if size == 0:
                    for _ in range(100):
                        if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                            break
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    self.close_connection = self.body_unread = True
                    raise too_big
                out += self.rfile.read(size)
                self.rfile.readline(8)
            self.close_connection = True
            raise err_bad_request("too many chunks")
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            raise err_bad_request("invalid Content-Length")
        if n > MAX_BODY:
            self.close_connection = self.body_unread = True
            raise too_big
        return self.rfile.read(n)

    def dispatch(self):
        self.code_sent = 0
        self.user = "-"
        self.verb = self.command.lower()
        self.raw_body = b""
        url = urlsplit(self.path)
        path = url.path
        self.log_path = path
        try:
            self.raw_body = self.read_body()
            if path.startswith("/_fake/"):
                self.handle_control(path, url.query)
            else:
                self.handle_api(path, url.query)
        except APIError as e:
            if e.drop:
                self.close_connection = True
            else:
                try:
                    self.send_json(e.code, e.status(), e.headers)
                except OSError:
                    self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # an internal failure: answer like the apiserver's 500
            log("internal error on %s %s: %r" % (self.command, path, e))
            try:
                self.send_json(500, APIError(500, "InternalError", "Internal error occurred: %s" % e).status())
            except OSError:
                self.close_connection = True
        self.finish_log()

    def finish_log(self):
        path = self.log_path
        code = self.code_sent or "dropped"
        log("%s %s %s -> %s user=%s" % (self.command, self.verb, path, code, self.user))
        if path.startswith("/_fake/"):
            return
        st = self.server.state
        with st.lock:
            key = "%s %s %s" % (self.verb, path, code)
            if key in st.stats["requests"] or len(st.stats["requests"]) < MAX_STATS_KEYS:
                st.stats["requests"][key] = st.stats["requests"].get(key, 0) + 1
            st.stats["by_verb"][self.verb] = st.stats["by_verb"].get(self.verb, 0) + 1
            st.req_log.append({"method": self.command, "verb": self.verb, "path": path,
                               "query": urlsplit(self.path).query, "code": code, "user": self.user,
                               "content_type": self.headers.get("Content-Type")})

    # -- control API -------------------------------------------------------------------------
    def handle_control(self, path, query):
        st = self.server.state
        self.verb = "control"
        given = self.headers.get(ADMIN_HEADER, "")
        if not secrets.compare_digest(given.encode(), st.admin_token.encode()):
            raise APIError(403, "Forbidden", "fake admin header %s missing or wrong" % ADMIN_HEADER)
        name = path[len("/_fake/"):]
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        if self.command == "GET":
            with st.lock:
                if name == "stats":
                    out = {"requests": dict(st.stats["requests"]), "by_verb": dict(st.stats["by_verb"]),
                           "writes": dict(st.stats["writes"]), "write_log": list(st.write_log),
                           "watches": {"open": len(st.watchers), "total": st.stats["watches_total"],
                                       "by_path": dict(st.stats["watches_by_path"])},
                           "faults_fired": st.stats["faults_fired"], "log": list(st.req_log),
                           "connections_by_user": dict(st.stats["connections_by_user"]),
                           "requests_by_user": dict(st.stats["requests_by_user"]),
                           "token_reviews": st.stats["token_reviews"],
                           "token_review_log": list(st.token_review_log),
                           "token_requests": st.stats["token_requests"],
                           "token_request_log": list(st.token_request_log),
                           "rv": str(st.rv), "compacted_rv": str(st.compacted_rv),
                           "watch_floor_rv": str(st.watch_floor_rv),
                           "history_len": len(st.history), "settings": dict(st.settings),
                           "faults": [dict(f) for f in st.faults], "random_faults": st.random_faults,
                           "latency_ms": st.latency_ms, "objects": len(st.objects),
                           "held_watches": sorted(st.held)}
                    self.send_json(200, out)
                    return
                if name in ("object", "objects"):
                    res = self.control_res(q)
                    if name == "objects":
                        items = [copy.deepcopy(o) for (r, _, _), o in sorted(st.objects.items(), key=lambda kv: (kv[0][1], kv[0][2])) if r is res]
                        self.send_json(200, {"items": items, "resourceVersion": str(st.rv)})
                        return
                    o = st.objects.get((res, q.get("namespace", "") if res.namespaced else "", q.get("name", "")))
                    if o is None:
                        raise err_not_found(res, q.get("name", ""))
                    self.send_json(200, copy.deepcopy(o))
                    return
            raise APIError(404, "NotFound", "unknown control endpoint GET %s" % name)
        if self.command != "POST":
            raise APIError(405, "MethodNotAllowed", "control endpoints take POST (GET for stats/object/objects)")
        try:
            body = json.loads(self.raw_body.decode() or "{}")
        except (ValueError, UnicodeDecodeError) as e:
            raise err_bad_request("control body is not JSON: %s" % e)
        if not isinstance(body, dict):
            raise err_bad_request("control body must be a JSON object")
        with st.lock:
            out = None
            if name == "reset-stats":
                st.reset_stats()
            elif name == "fault":
                if len(st.faults) >= MAX_FAULTS:
                    raise err_bad_request("too many faults queued (max %d)" % MAX_FAULTS)
                f = {"count": int(body.get("count", 1)), "status": int(body.get("status", 500)),
                     "retry_after": int(body.get("retry_after", 1)),
                     "verbs": list(body.get("verbs", ["create", "update", "patch", "delete"])),
                     "resource": body.get("resource"), "subresource": body.get("subresource")}
                if f["count"] < 1 or not 400 <= f["status"] <= 599:
                    raise err_bad_request("count must be >= 1 and status 400..599")
                st.faults.append(f)
            elif name == "random-faults":
                rate = float(body.get("rate", 0))
                if rate <= 0:
                    st.random_faults = None
                else:
                    st.random_faults = {"rate": min(rate, 1.0), "statuses": [int(s) for s in body.get("statuses", [500, 503, 429])],
                                        "verbs": list(body.get("verbs", ["create", "update", "patch", "delete"])),
                                        "retry_after": int(body.get("retry_after", 1))}
                    st.rng = random.Random(body.get("seed", 0))
            elif name == "faults-clear":
                st.faults, st.random_faults, st.latency_ms = [], None, 0
            elif name == "latency":
                st.latency_ms = max(0, min(int(body.get("ms", 0)), MAX_LATENCY_MS))
            elif name == "drop-watches":
                for w in st.watchers:
                    w.dropped = True
                    w.graceful = bool(body.get("graceful", False))
                out = {"dropped": len(st.watchers)}
                st.cond.notify_all()
            elif name == "watch-cache-reset":
                st.watch_floor_rv = st.rv
                for w in st.watchers:
                    w.dropped = True
                    w.graceful = bool(body.get("graceful", False))
                out = {"watch_floor_rv": str(st.watch_floor_rv), "dropped": len(st.watchers)}
                st.cond.notify_all()
            elif name == "hold-watch":
                want = body.get("resources", [])
                if not isinstance(want, list) or any(p not in {r.plural for r in RESOURCES} for p in want):
                    raise err_bad_request("resources must be a list of served resources (plural names)")
                st.held = set(want)
                st.cond.notify_all()
                out = {"resources": sorted(st.held)}
            elif name == "expire-history":
                st.expire_history()
                out = {"compacted_rv": str(st.compacted_rv)}
            elif name in ("history", "settings"):
                if name == "history":
                    body = {"history_window": body.get("window", st.settings["history_window"])}
                for k, v in body.items():
                    if k not in st.settings:
                        raise err_bad_request("unknown setting %s" % k)
                    st.settings[k] = bool(v) if k == "split_chunks" else type(st.settings[k])(v)
                st.settings["history_window"] = max(0, min(st.settings["history_window"], MAX_HISTORY_WINDOW))
                st.trim_history()
                st.cond.notify_all()
                out = dict(st.settings)
            elif name == "objects":
                out = self.control_put(body)
            elif name == "delete-object":
                res = self.control_res(body)
                ns = body.get("namespace", "") if res.namespaced else ""
                cur = st.objects.get((res, ns, body.get("name", "")))
                if cur is None:
                    raise err_not_found(res, body.get("name", ""))
                gone = copy.deepcopy(cur)
                gone["metadata"]["resourceVersion"] = str(st.next_rv())
                st.commit(res, ns, gone["metadata"]["name"], "DELETED", gone, cur)
                out = gone
            elif name == "tokens":
                for tok, ident in (body.get("set") or {}).items():
                    if not isinstance(ident, dict):
                        raise err_bad_request("token identity must be an object")
                    st.tokens[str(tok)] = ident
                for tok in body.get("remove") or []:
                    st.tokens.pop(tok, None)
            elif name == "token-reviews":
                for tok, ident in (body.get("set") or {}).items():
                    why = token_review_entry_error(ident)
                    if why:
                        raise err_bad_request(why)
                    st.token_reviews[str(tok)] = ident
                for tok in body.get("remove") or []:
                    st.token_reviews.pop(tok, None)
            elif name == "rotate-token":
                old, new = body.get("old"), body.get("new")
                if old not in st.tokens or not isinstance(new, str) or not new:
                    raise err_bad_request("old must name a configured token and new must be a non-empty string")
                st.tokens[new] = st.tokens.pop(old)
            else:
                raise APIError(404, "NotFound", "unknown control endpoint %s" % name)
        self.send_json(200 if out is not None else 204, out)

    def control_res(self, q):
        if q.get("resource"):
            for r in RESOURCES:
                if r.plural == q["resource"] or r.qualified == q["resource"]:
                    return r
        res = BY_KIND.get((q.get("apiVersion", ""), q.get("kind", "")))
        if res is None:
            raise err_bad_request("unknown apiVersion/kind %s/%s (or resource)" % (q.get("apiVersion"), q.get("kind")))
        return res

    def control_put(self, obj):
        """Create or replace an object directly (lock held)."""
        st = self.server.state
        res = self.control_res(obj)
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict) or not md.get("name"):
            raise err_bad_request("metadata.name is required")
        ns = md.get("namespace", "default") if res.namespaced else ""
        if res.namespaced:
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        cur = st.objects.get((res, ns, md["name"]))
        if cur is None and len(st.objects) >= MAX_OBJECTS:
            raise err_bad_request("too many objects")
        if res.plural == "secrets":
            self.fold_string_data(obj)
        md.pop("resourceVersion", None)
        if cur is not None:
            md["uid"] = cur["metadata"]["uid"]
            md["creationTimestamp"] = cur["metadata"]["creationTimestamp"]
            if res.crd:
                g = cur["metadata"].get("generation", 1)
                md["generation"] = g + (0 if json_equal(self.content(cur), self.content(obj)) else 1)
        else:
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_rfc3339())
            if res.crd:
                md.setdefault("generation", 1)
        md["resourceVersion"] = str(st.next_rv())
        st.commit(res, ns, md["name"], "MODIFIED" if cur else "ADDED", obj, cur)
        return copy.deepcopy(obj)

    @staticmethod
    def content(o):
        return {k: v for k, v in o.items() if k not in ("metadata", "status")}

    @staticmethod
    def fold_string_data(obj):
        sd = obj.pop("stringData", None)
        if sd is not None:
            if not isinstance(sd, dict) or not all(isinstance(v, str) for v in sd.values()):
                raise err_bad_request('Secret in version "v1" cannot be handled as a Secret: stringData must map strings to strings')
            data = obj.get("data")
            if not isinstance(data, dict):
                data = {}
            for k, v in sd.items():
                data[k] = base64.b64encode(v.encode()).decode()
            obj["data"] = data

    # -- API: routing ------------------------------------------------------------------------
    def handle_api(self, path, query):
        st = self.server.state
        if path in ("/healthz", "/readyz", "/livez"):
            self.verb = "get"
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.code_sent = 200
            return
        if path == "/version":
            self.verb = "get"
            self.send_json(200, {"major": "1", "minor": "31", "gitVersion": GIT_VERSION, "platform": "linux/amd64"})
            return
        ident = self.authenticate()
        if st.latency_ms:
            time.sleep(st.latency_ms / 1000.0)
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 2 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise APIError(404, "NotFound", "the server could not find the requested resource", {})
        if not rest:
            self.verb = "get"
            self.discovery(group, version)
            return
        if (group, version) == (TOKENREVIEWS.group, TOKENREVIEWS.version):
            self.token_review(ident, rest)
            return
        ns = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise APIError(404, "NotFound", "the server could not find the requested resource", {})
        res = BY_PATH.get((group, version, rest[0]))
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        token_sub = res is SERVICEACCOUNTS and sub == "token"
        if res is None or (ns and not res.namespaced) or \
                (sub and not token_sub and (sub != "status" or not res.status_sub)):
            raise APIError(404, "NotFound", "the server could not find the requested resource", {})
        if name and res.namespaced and not ns:
            raise APIError(404, "NotFound", "the server could not find the requested resource", {})
        if token_sub:
            self.token_request(ident, ns, name)
            return
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        m = self.command
        is_watch = q.get("watch", "") in ("1", "true", "True")
        if q.get("watch", "") not in ("", "0", "1", "true", "false", "True", "False"):
            raise err_bad_request('invalid value for watch: %s' % go_quote(q["watch"]))
        if m in ("GET", "HEAD"):
            verb = "watch" if is_watch else ("get" if name else "list")
        elif m == "POST" and not name:
            verb = "create"
        elif m == "PUT" and name:
            verb = "update"
        elif m == "PATCH" and name:
            verb = "patch"
        elif m == "DELETE" and name:
            verb = "delete"
        else:
            self.verb = m.lower()
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                           details_for(res, name))
        if sub and verb not in ("get", "update", "patch"):
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                           details_for(res, name))
        self.verb = verb
        self.authorize(ident, verb, res, ns, name, sub)
        self.inject_faults(verb, res, sub)
        if verb == "get":
            self.do_get(res, ns, name)
        elif verb == "list":
            self.do_list(res, ns, q)
        elif verb == "watch":
            if name:  # GET .../<name>?watch=1 is a watch of the collection limited to that name
                q["fieldSelector"] = ",".join(x for x in (q.get("fieldSelector", ""), "metadata.name=" + name) if x)
            self.do_watch(res, ns, q, path)
        elif verb == "create":
            self.logged_write(verb, res, ns, name, sub, lambda: self.do_create(res, ns, q, ident))
        elif verb == "update":
            self.logged_write(verb, res, ns, name, sub, lambda: self.do_update(res, ns, name, sub, ident))
        elif verb == "patch":
            self.logged_write(verb, res, ns, name, sub, lambda: self.do_patch(res, ns, name, sub, ident))
        elif verb == "delete":
            self.logged_write(verb, res, ns, name, sub, lambda: self.do_delete(res, ns, name))

    def discovery(self, group, version):
        if (group, version) == (TOKENREVIEWS.group, TOKENREVIEWS.version):
            self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version),
                                 "resources": [{"name": "tokenreviews", "singularName": "tokenreview", "namespaced": False,
                                                "kind": "TokenReview", "verbs": ["create"]}]})
            return
        rs = [r for r in RESOURCES if r.group == group and r.version == version]
        if not rs:
            raise APIError(404, "NotFound", "the server could not find the requested resource", {})
        out = []
        for r in rs:
            out.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced, "kind": r.kind,
                        "verbs": ["delete", "get", "list", "patch", "create", "update", "watch"]})
            if r.status_sub:
                out.append({"name": r.plural + "/status", "singularName": "", "namespaced": r.namespaced,
                            "kind": r.kind, "verbs": ["get", "patch", "update"]})
            if r is SERVICEACCOUNTS:
                out.append({"name": "serviceaccounts/token", "singularName": "", "namespaced": True,
                            "group": TOKENREQUESTS.group, "version": TOKENREQUESTS.version,
                            "kind": TOKENREQUESTS.kind, "verbs": ["create"]})
        self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": "%s/%s" % (group, version) if group else version, "resources": out})

    def authenticate(self):
        st = self.server.state
        h = self.headers.get("Authorization", "")
        tok = h[7:].strip() if h[:7].lower() == "bearer " else None
        with st.lock:
            ident = st.tokens.get(tok) if tok else None
            ident = dict(ident) if ident is not None else None
        if ident is None:
            raise APIError(401, "Unauthorized", "Unauthorized")
        self.user = ident.get("user", "")
        with st.lock:
            by = st.stats["requests_by_user"]
            by[self.user] = by.get(self.user, 0) + 1
        if not self.conn_counted:
            # Connections by the user of their first authenticated request: a client that
            # opens a connection per request shows here.
            self.conn_counted = True
            with st.lock:
                by = st.stats["connections_by_user"]
                by[self.user] = by.get(self.user, 0) + 1
        return ident

    def authorize(self, ident, verb, res, ns, name, sub):
        resource = res.plural + ("/" + sub if sub else "")
        allowed = True
        if ident.get("readonly") and verb in WRITE_VERBS:
            allowed = False
        rules = ident.get("rules")
        if allowed and rules is not None:
            allowed = False
            for r in rules:
                if not isinstance(r, dict):
                    continue
                if not any(v in ("*", verb) for v in r.get("verbs", [])):
                    continue
                if not any(x in ("*", resource) for x in r.get("resources", [])):
                    continue
                if r.get("apiGroups") is not None and not any(g in ("*", res.group) for g in r["apiGroups"]):
                    continue
                if r.get("namespaces") and ns not in r["namespaces"]:
                    continue
                if r.get("names") and name not in r["names"]:
                    continue
                allowed = True
                break
        if allowed:
            return
        where = ('in the namespace "%s"' % ns) if ns else "at the cluster scope"
        why = 'User "%s" cannot %s resource "%s" in API group "%s" %s' % (ident.get("user", ""), verb, resource, res.group, where)
        prefix = ('%s "%s" is forbidden' % (res.qualified, name)) if name else "%s is forbidden" % res.qualified
        raise APIError(403, "Forbidden", "%s: %s" % (prefix, why), details_for(res, name))

    def inject_faults(self, verb, res, sub):
        st = self.server.state
        chosen = None
        with st.lock:
            for f in st.faults:
                if verb in f["verbs"] and (not f["resource"] or f["resource"] == res.plural) and \
                        (f["subresource"] is None or f["subresource"] == sub):
                    f["count"] -= 1
                    chosen = (f["status"], f["retry_after"])
                    break
            st.faults = [f for f in st.faults if f["count"] > 0]
            rf = st.random_faults
            if chosen is None and rf and verb in rf["verbs"] and st.rng.random() < rf["rate"]:
                chosen = (st.rng.choice(rf["statuses"]), rf["retry_after"])
            if chosen:
                st.stats["faults_fired"] += 1
        if chosen is None:
            return
        code, ra = chosen
        if code == 429:
            raise APIError(429, "TooManyRequests", "the server has received too many requests and has asked us to try again later",
                           {"retryAfterSeconds": ra}, {"Retry-After": str(ra)})
        if code == 503:
            raise APIError(503, "ServiceUnavailable", "the server is currently unable to handle the request",
                           {"retryAfterSeconds": ra}, {"Retry-After": str(ra)})
        if code == 504:
            raise APIError(504, "Timeout", "Timeout: request did not complete within the allotted timeout", {})
        if code == 500:
            raise APIError(500, "InternalError", "Internal error occurred: injected fault",
                           {"causes": [{"message": "injected fault"}]})
        raise APIError(code, "InternalError" if code >= 500 else "BadRequest", "injected fault (HTTP %d)" % code)

    # -- API: TokenReview ----------------------------------------------------------------------
    def token_review(self, ident, rest):
        st = self.server.state
        res = TOKENREVIEWS
        if rest != ["tokenreviews"]:  # cluster-scoped collection only: no namespace, no name
            raise APIError(404, "NotFound", "the server could not find the requested resource", {})
        if self.command != "POST":
            self.verb = self.command.lower()
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                           details_for(res, ""))
        self.verb = "create"
        self.authorize(ident, "create", res, "", "", "")
        self.inject_faults("create", res, "")
        obj = self.decode_object(res)
        spec = obj.get("spec")
        bad = 'TokenReview in version "v1" cannot be handled as a TokenReview: '
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise err_bad_request(bad + "json: cannot unmarshal %s into Go struct field TokenReview.spec of type v1.TokenReviewSpec"
                                  % type(spec).__name__)
        token = spec.get("token", "")
        auds = spec.get("audiences") or []
        if not isinstance(token, str):
            raise err_bad_request(bad + "json: cannot unmarshal %s into Go struct field TokenReviewSpec.spec.token of type string"
                                  % type(token).__name__)
        if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
            raise err_bad_request(bad + "json: cannot unmarshal into Go struct field TokenReviewSpec.spec.audiences of type []string")
        if not token:
            raise err_bad_request("token is required for TokenReview in authentication")
        with st.lock:
            entry = st.token_reviews.get(token)
            entry = copy.deepcopy(entry) if entry is not None else None
            api_auds = list(st.api_audiences)
        target = auds if auds else api_auds
        status = {"user": {}}
        if entry is None:
            status["error"] = "[invalid bearer token, token lookup failed]"
        elif entry.get("error"):
            status["error"] = entry["error"]
        elif entry.get("expires") is not None and time.time() >= entry["expires"]:
            status["error"] = "[invalid bearer token, service account token has expired]"
        else:
            user = {"username": entry["user"],
                    "uid": entry.get("uid") or str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-user:" + entry["user"]))}
            if entry.get("groups"):
                user["groups"] = list(entry["groups"])
            if entry.get("extra"):
                user["extra"] = entry["extra"]
            if entry.get("audience_unaware"):
                status.update({"authenticated": True, "user": user})
            else:
                have = entry.get("audiences", api_auds)
                common = [a for a in target if a in have]
                if common:
                    status.update({"authenticated": True, "user": user, "audiences": common})
                else:
                    status["error"] = "token audiences %s is invalid for the target audiences %s" % (
                        json.dumps(have), json.dumps(target))
        answer = {"kind": "TokenReview", "apiVersion": res.api_version, "metadata": {"creationTimestamp": None},
                  "spec": spec, "status": status}
        self.send_json(201, answer)
        with st.lock:
            st.stats["token_reviews"] += 1
            st.token_review_log.append({"reviewer": self.user, "audiences": auds, "known": entry is not None,
                                        "authenticated": bool(status.get("authenticated"))})

    # -- API: TokenRequest (serviceaccounts/NAME/token) ------------------------------------------
    def token_request(self, ident, ns, name):
        st = self.server.state
        entry = {"requester": self.user, "namespace": ns, "name": name, "audiences": None,
                 "expirationSeconds": None, "code": 0}
        try:
            self.token_request_answer(ident, ns, name, entry)
        except APIError as e:
            entry["code"] = e.code
            raise
        finally:
            with st.lock:
                st.token_request_log.append(entry)

    def token_request_answer(self, ident, ns, name, entry):
        """The API server's TokenREST.Create, in its order: RBAC, decoding (400), the body's
        name/namespace (422), the ServiceAccount (404), defaults, validation (422)."""
        st = self.server.state
        res = SERVICEACCOUNTS
        if self.command != "POST":
            self.verb = self.command.lower()
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                           details_for(res, name))
        self.verb = "create"
        self.authorize(ident, "create", res, ns, name, "token")
        self.inject_faults("create", res, "token")
        obj = self.decode_object(TOKENREQUESTS)
        spec = token_request_spec(obj)
        entry["audiences"], entry["expirationSeconds"] = list(spec["audiences"]), spec["expirationSeconds"]
        md = obj["metadata"]
        for fld, want, what in (("name", name, "name"), ("namespace", ns, "namespace")):
            if md.get(fld) and md[fld] != want:
                raise err_invalid(TOKENREQUESTS, name, [("FieldValueInvalid", "metadata." + fld,
                                                         "Invalid value: %s: must match the service account %s if specified"
                                                         % (go_quote(md[fld]), what))])
        with st.lock:
            sa = st.objects.get((res, ns, name))
            sa = copy.deepcopy(sa) if sa is not None else None
            api_auds = list(st.api_audiences)
        if sa is None:
            raise err_not_found(res, name)
        if not spec["audiences"]:
            spec["audiences"] = api_auds
        exp = spec["expirationSeconds"]
        if exp < 600 or exp > 1 << 32:
            raise err_invalid(TOKENREQUESTS, "", [("FieldValueInvalid", "spec.expirationSeconds",
                                                   "Invalid value: %d: may not specify a duration %s" %
                                                   (exp, "less than 10 minutes" if exp < 600 else "larger than 2^32 seconds"))])
        now = int(time.time())
        token = mint_token(sa, spec["audiences"], now, now + exp)
        stamp = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = {"kind": TOKENREQUESTS.kind, "apiVersion": TOKENREQUESTS.api_version,
                  "metadata": {"name": name, "namespace": ns, "creationTimestamp": stamp(now)},
                  "spec": spec, "status": {"token": token, "expirationTimestamp": stamp(now + exp)}}
        with st.lock:
            # TokenReviews know the token from now on, as the API server's authenticator does
            st.token_reviews[token] = {"user": "system:serviceaccount:%s:%s" % (ns, name),
                                       "uid": sa["metadata"].get("uid", ""),
                                       "groups": ["system:serviceaccounts", "system:serviceaccounts:" + ns],
                                       "audiences": list(spec["audiences"]), "expires": now + exp}
            st.minted.append(token)
            while len(st.minted) > MAX_MINTED_TOKENS:
                st.token_reviews.pop(st.minted.popleft(), None)
            st.stats["token_requests"] += 1
        entry["code"] = 201
        self.send_json(201, answer)

    # -- API: reads ----------------------------------------------------------------------------
    def do_get(self, res, ns, name):
        st = self.server.state
        with st.lock:
            o = st.objects.get((res, ns, name))
            o = copy.deepcopy(o) if o is not None else None
        if o is None:
            raise err_not_found(res, name)
        self.send_json(200, o)

    def wait_rv(self, rv):
        """With the lock held: wait (bounded) until rv <= current, else 504 too large."""
        st = self.server.state
        deadline = time.monotonic() + st.settings["too_large_wait_seconds"]
        while rv > st.rv and not st.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                raise too_large(rv, st.rv)
            st.cond.wait(left)
        if rv > st.rv:
            raise too_large(rv, st.rv)

    def do_list(self, res, ns, q):
        st = self.server.state
        fsel = parse_field_selector(q.get("fieldSelector", ""), res)
        lsel = parse_label_selector(q.get("labelSelector", ""))
        limit = 0
        if q.get("limit", ""):
            if not re.fullmatch(r"[0-9]{1,9}", q["limit"]):
                raise err_bad_request("invalid value for limit: %s" % go_quote(q["limit"]))
            limit = int(q["limit"])
        rvs = q.get("resourceVersion", "")
        match = q.get("resourceVersionMatch", "")
        cont = q.get("continue", "")
        if match not in ("", "NotOlderThan", "Exact"):
            raise err_invalid(res, "", [("FieldValueNotSupported", "resourceVersionMatch",
                                         'Unsupported value: %s: supported values: "Exact", "NotOlderThan", ""' % go_quote(match))])
        if match and not rvs:
            raise err_invalid(res, "", [("FieldValueForbidden", "resourceVersionMatch",
                                         "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")])
        if cont and rvs not in ("", "0"):
            raise err_bad_request("specifying resource version is not allowed when using continue")
        with st.lock:
            start = ""
            if cont:
                at, start = decode_continue(cont)
                if at < st.compacted_rv:
                    raise err_expired("The provided continue parameter is too old to display a consistent list result. "
                                      "You can start a new list without the continue parameter, or use the continue token "
                                      "in this response to retrieve the remainder of the results. Continuing with the "
                                      "provided token results in an inconsistent list - objects that were created, "
                                      "modified, or deleted between the time the first chunk was returned and now may "
                                      "show up in the list.")
                if at > st.rv:
                    raise err_bad_request("continue key is not valid: resource version in the future")
            elif rvs in ("", "0"):
                at = st.rv
            else:
                want = parse_rv(rvs)
                self.wait_rv(want)
                # A paged list with resourceVersionMatch unset and a non-zero RV is Exact (API
                # concepts, "Semantics for list"): served at that RV from etcd, not from the
                # watch cache, so an RV the watch cache no longer holds still lists fine.
                if match == "Exact" or (not match and limit > 0):
                    if want < st.compacted_rv:
                        raise err_expired("The resourceVersion for the provided list is too old.")
                    at = want
                else:
                    at = st.rv
            items = st.state_at(res, at)
            items = [o for o in items if (not ns or o["metadata"].get("namespace") == ns) and fsel(o) and lsel(o)]
            if start:
                keys = [obj_key(o) for o in items]
                items = items[bisect.bisect_right(keys, start):]
            md = {"resourceVersion": str(at)}
            if limit and len(items) > limit:
                md["continue"] = encode_continue(at, obj_key(items[limit - 1]))
                md["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            items = [copy.deepcopy(o) for o in items]
        if not res.crd:
            # built-in lists encode items without apiVersion/kind (only CRD lists carry them)
            for o in items:
                o.pop("apiVersion", None)
                o.pop("kind", None)
        self.send_json(200, {"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": md, "items": items})

    # -- API: watch ----------------------------------------------------------------------------
    def do_watch(self, res, ns, q, path):
        st = self.server.state
        fsel = parse_field_selector(q.get("fieldSelector", ""), res)
        lsel = parse_label_selector(q.get("labelSelector", ""))
        rvs = q.get("resourceVersion", "")
        bookmarks = q.get("allowWatchBookmarks", "") in ("1", "true", "True")
        tmax = st.settings["watch_max_timeout_seconds"]
        timeout = tmax
        if q.get("timeoutSeconds", ""):
            if not re.fullmatch(r"[0-9]{1,9}", q["timeoutSeconds"]):
                raise err_bad_request("invalid value for timeoutSeconds: %s" % go_quote(q["timeoutSeconds"]))
            timeout = min(int(q["timeoutSeconds"]), tmax) or tmax
        w = Watcher(res, ns, lambda o: fsel(o) and lsel(o))
        initial, expired = [], None
        with st.lock:
            if len(st.watchers) >= st.settings["max_watches"]:
                raise APIError(429, "TooManyRequests", "Too many requests, please try again later.",
                               {"retryAfterSeconds": 1}, {"Retry-After": "1"})
            if rvs in ("", "0"):
                initial = [copy.deepcopy(o) for (r, _, _), o in st.objects.items() if r is res and w.wants(res, o)]
                random.shuffle(initial)  # synthetic ADDED events come in no particular RV order
            else:
                want = parse_rv(rvs)
                self.wait_rv(want)
                # The watch cache's window: what the history kept, and nothing from before its
                # last rebuild (watch-cache-reset).  watchCache answers "(oldest-1)", the last RV
                # it can start after, which is the floor itself.
                oldest = max(st.compacted_rv, st.watch_floor_rv)
                if want < oldest:
                    expired = "too old resource version: %d (%d)" % (want, oldest)
                else:
                    for ev in st.history:
                        if ev.rv > want and w.wants(ev.res, ev.obj):
                            w.queue.append(ev)
            if expired is None:
                st.watchers.add(w)
                st.stats["watches_total"] += 1
                st.stats["watches_by_path"][path] = st.stats["watches_by_path"].get(path, 0) + 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.code_sent = 200
        self.wfile.flush()
        if expired is not None:
            self.send_events([{"type": "ERROR", "object": err_expired(expired).status()}])
            self.end_chunks()
            return
        try:
            self.watch_loop(w, res, initial, bookmarks, timeout)
        finally:
            with st.lock:
                st.watchers.discard(w)

    def send_events(self, events):
        data = b"".join((json.dumps(e, separators=(",", ":")) + "\n").encode() for e in events)
        if not data:
            return
        st = self.server.state
        if not st.settings["split_chunks"]:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            return
        pos = 0
        while pos < len(data):
            n = random.randint(1, max(1, min(len(data) - pos, 40)))
            piece = data[pos:pos + n]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            pos += n
            time.sleep(0.0005)

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def watch_loop(self, w, res, initial, bookmarks, timeout):
        st = self.server.state
        if initial:
            self.send_events([{"type": "ADDED", "object": o} for o in initial])
        deadline = time.monotonic() + timeout
        next_bm = time.monotonic() + st.settings["bookmark_interval_seconds"]
        while True:
            out, bm_rv, end = [], None, None
            with st.lock:
                while True:
                    nowt = time.monotonic()
                    if st.stopping:
                        end = "graceful"
                    elif w.dropped:
                        end = "graceful" if w.graceful else "abrupt"
                    elif w.overflow:
                        end = "overflow"
                    elif nowt >= deadline:
                        end = "graceful"
                    held = res.plural in st.held
                    if end or (w.queue and not held) or (bookmarks and not held and nowt >= next_bm):
                        break
                    wake = deadline if not bookmarks else min(deadline, next_bm)
                    st.cond.wait(max(0.01, min(wake - nowt, 1.0)))
                if end is None:
                    while w.queue and not held:
                        ev = w.queue.popleft()
                        out.append({"type": ev.type, "object": copy.deepcopy(ev.obj)})
                    if bookmarks and not held and time.monotonic() >= next_bm:
                        bm_rv = str(st.rv)
                        next_bm = time.monotonic() + st.settings["bookmark_interval_seconds"]
            if end == "abrupt":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if end == "overflow":
                self.close_connection = True
                return
            if end:
                self.end_chunks()
                return
            if bm_rv is not None:
                out.append({"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version,
                                                           "metadata": {"resourceVersion": bm_rv}}})
            self.send_events(out)

    # -- API: writes ---------------------------------------------------------------------------
    def logged_write(self, verb, res, ns, name, sub, fn):
        st = self.server.state
        rv, code = None, 0
        try:
            code, obj = fn()
            rv = (obj.get("metadata") or {}).get("resourceVersion") if isinstance(obj, dict) else None
            self.send_json(code, obj)
        except APIError as e:
            code = e.code
            raise
        finally:
            body = self.raw_body[:MAX_LOGGED_BODY].decode("utf-8", "replace")
            with st.lock:
                st.write_log.append({"verb": verb, "path": self.log_path, "namespace": ns, "name": name,
                                     "resource": res.plural, "subresource": sub, "code": self.code_sent or code,
                                     "content_type": self.headers.get("Content-Type"), "body": body,
                                     "user": self.user, "rv": rv})

    def parse_json_body(self, res):
        try:
            obj = json.loads(self.raw_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise err_bad_request("the body of the request was not valid JSON: %s" % e)
        return obj

    def decode_object(self, res):
        ct = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ct not in ("application/json", ""):
            raise APIError(415, "UnsupportedMediaType",
                           'the body of the request was in an unknown format - accepted media types include: '
                           'application/json, application/yaml', {})
        obj = self.parse_json_body(res)
        if not isinstance(obj, dict):
            raise err_bad_request("couldn't get version/kind; json parse error: json: cannot unmarshal %s into Go value of type struct"
                                  % type(obj).__name__)
        self.check_type_meta(res, obj)
        if not isinstance(obj.get("metadata", {}), dict):
            raise err_bad_request("metadata must be an object")
        obj.setdefault("metadata", {})
        return obj

    def check_type_meta(self, res, obj):
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if res.crd and (not av or not kind):
            raise err_bad_request("Object 'Kind' is missing in '%s'" % json.dumps(obj)[:200] if not kind
                                  else "Object 'apiVersion' is missing in '%s'" % json.dumps(obj)[:200])
        if (av and av != res.api_version) or (kind and kind != res.kind):
            raise err_bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                                  % (av, res.api_version) if av and av != res.api_version else
                                  "the kind in the data (%s) does not match the expected kind (%s)" % (kind, res.kind))
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind

    def do_create(self, res, ns, q, ident):
        st = self.server.state
        obj = self.decode_object(res)
        md = obj["metadata"]
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise err_bad_request("the namespace of the provided object does not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if md.get("resourceVersion"):
            raise APIError(500, "InternalError", "Internal error occurred: resourceVersion should not be set on objects to be created",
                           {"causes": [{"message": "resourceVersion should not be set on objects to be created"}]})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        name = md.get("name", "")
        if not name:
            raise err_invalid(res, "", [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")])
        errs = name_errors(name)
        if errs:
            raise err_invalid(res, name, errs)
        if q.get("dryRun"):
            raise err_bad_request("dryRun is not supported by the fake")
        if res.plural == "secrets":
            self.fold_string_data(obj)
            obj.setdefault("type", "Opaque")
        if res.plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        if res.status_sub:
            obj.pop("status", None)  # customresource strategy PrepareForCreate drops status
        for k in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            md.pop(k, None)
        errs = schema_errors(res, obj)
        if errs:
            raise err_invalid(res, name, errs)
        if res.plural == "certificaterequests":
            wel = webhook_create_errors(obj)
            if wel:
                raise err_webhook_denied(wel)
            # cert-manager's mutating webhook records who created the request, overwriting
            # whatever the client wrote there.
            spec = obj.setdefault("spec", {})
            for k in ("username", "uid", "groups", "extra"):
                spec.pop(k, None)
            user = ident.get("user", "")
            spec["username"] = user
            spec["uid"] = ident.get("uid") or str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-user:" + user))
            if ident.get("groups"):
                spec["groups"] = list(ident["groups"])
            if ident.get("extra"):
                spec["extra"] = dict(ident["extra"])
        with st.lock:
            if res.namespaced and st.namespaces is not None and ns not in st.namespaces:
                raise APIError(404, "NotFound", 'namespaces "%s" not found' % ns, {"name": ns, "kind": "namespaces"})
            if (res, ns, name) in st.objects:
                raise err_already_exists(res, name)
            if len(st.objects) >= MAX_OBJECTS:
                raise APIError(507, "InternalError", "too many objects in the fake (max %d)" % MAX_OBJECTS)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339()
            if res.crd:
                md["generation"] = 1
            md["resourceVersion"] = str(st.next_rv())
            st.commit(res, ns, name, "ADDED", obj, None)
            return 201, copy.deepcopy(obj)

    def do_update(self, res, ns, name, sub, ident):
        obj = self.decode_object(res)
        md = obj["metadata"]
        if res.namespaced and md.get("namespace") and md["namespace"] != ns:
            raise err_bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if md.get("name") and md["name"] != name:
            raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (md["name"], name))
        if not md.get("name"):
            raise err_bad_request("name is required in the body of a PUT (metadata.name)")
        if not md.get("resourceVersion") and res.crd:
            # custom resources never allow unconditional updates (AllowUnconditionalUpdate=false)
            raise err_invalid(res, name, [("FieldValueInvalid", "metadata.resourceVersion",
                                           "Invalid value: 0x0: must be specified for an update")])
        return self.apply_update(res, ns, name, sub, ident, lambda cur: obj)

    def do_patch(self, res, ns, name, sub, ident):
        ct = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        if not res.crd:
            accepted += ", application/strategic-merge-patch+json"
        if ct == "application/apply-patch+yaml":
            # Server-side apply is real in kube-apiserver; this fake does not implement it (Ember
            # does not use it, contract.md box) and refuses it loudly instead of faking it.
            raise APIError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - server-side apply "
                           "(application/apply-patch+yaml) is not implemented by this fake", {})
        if ct not in ("application/json-patch+json", "application/merge-patch+json") and \
                not (ct == "application/strategic-merge-patch+json" and not res.crd):
            # custom resources: strategic merge patch -> 415 (kubernetes PR #53558)
            raise APIError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: " + accepted, {})
        patch = self.parse_json_body(res)
        if ct == "application/json-patch+json":
            if not isinstance(patch, list):
                raise err_bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
            if len(patch) > MAX_JSON_PATCH_OPS:
                raise APIError(413, "RequestEntityTooLarge",
                               "Request entity too large: The allowed maximum operations in a JSON patch is %d, got %d"
                               % (MAX_JSON_PATCH_OPS, len(patch)))
        elif not isinstance(patch, dict):
            raise err_bad_request("json: cannot unmarshal %s into Go value of type map[string]interface {}" % type(patch).__name__)
        elif ct == "application/strategic-merge-patch+json" and re.search(r'"\$(patch|retainKeys|deleteFromPrimitiveList|setElementOrder)',
                                                                          self.raw_body.decode("utf-8", "replace")):
            raise err_bad_request("strategic merge patch directives are not implemented by this fake")

        def compute(cur):
            if ct == "application/json-patch+json":
                try:
                    out = json_patch(cur, patch)
                except PatchError as e:
                    raise APIError(422, "Invalid", "the server rejected our request due to an error in our request",
                                   dict(details_for(res, name), causes=[{"reason": "UnexpectedServerResponse", "message": str(e)}]))
                if not isinstance(out, dict):
                    raise err_bad_request("the patched document is not an object")
                return out
            return merge_patch(cur, patch)
        return self.apply_update(res, ns, name, sub, ident, compute)

    def apply_update(self, res, ns, name, sub, ident, compute):
        st = self.server.state
        with st.lock:
            cur = st.objects.get((res, ns, name))
            if cur is None:
                raise err_not_found(res, name)
            new = compute(copy.deepcopy(cur))
            if not isinstance(new, dict):
                raise err_bad_request("the result is not an object")
            md = new.get("metadata")
            if not isinstance(md, dict):
                raise err_bad_request("metadata must be an object")
            self.check_type_meta(res, new)
            if md.get("name", name) != name:
                raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (md.get("name"), name))
            if res.namespaced and md.get("namespace", ns) != ns:
                raise err_bad_request("the namespace of the provided object does not match the namespace sent on the request")
            if md.get("uid") and md["uid"] != cur["metadata"]["uid"]:
                raise err_conflict(res, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                   % (md["uid"], cur["metadata"]["uid"]))
            want_rv = md.get("resourceVersion")
            cur_rv = cur["metadata"]["resourceVersion"]
            if want_rv not in (None, "") and want_rv != cur_rv:
                if not isinstance(want_rv, str) or not re.fullmatch(r"[0-9]{1,19}", want_rv):
                    raise err_bad_request("invalid resource version: %s" % go_quote(want_rv))
                raise err_conflict(res, name)
            if res.plural == "secrets":
                self.fold_string_data(new)
                new.setdefault("type", cur.get("type", "Opaque"))
            # strategy: /status keeps only status, the main resource keeps the old status
            if sub == "status":
                result = copy.deepcopy(cur)
                if "status" in new:
                    result["status"] = new["status"]
                else:
                    result.pop("status", None)
            else:
                result = new
                if res.status_sub:
                    if "status" in cur:
                        result["status"] = copy.deepcopy(cur["status"])
                    else:
                        result.pop("status", None)
                rmd = result["metadata"]
                for k in ("uid", "creationTimestamp", "generation"):
                    if k in cur["metadata"]:
                        rmd[k] = cur["metadata"][k]
                    else:
                        rmd.pop(k, None)
                rmd["name"] = name
                if res.namespaced:
                    rmd["namespace"] = ns
                if res.crd and not json_equal(self.content(cur), self.content(result)):
                    rmd["generation"] = cur["metadata"].get("generation", 1) + 1
            result["metadata"]["resourceVersion"] = cur_rv
            errs = schema_errors(res, result)
            if errs:
                raise err_invalid(res, name, errs)
            if res.plural == "certificaterequests":
                wel = webhook_update_errors(cur, result, sub, ident)
                if wel:
                    raise err_webhook_denied(wel)
            if json_equal(result, cur):
                return 200, copy.deepcopy(cur)  # no-op: nothing written, RV unchanged, no event
            result["metadata"]["resourceVersion"] = str(st.next_rv())
            st.commit(res, ns, name, "MODIFIED", result, cur)
            return 200, copy.deepcopy(result)

    def do_delete(self, res, ns, name):
        st = self.server.state
        pre = None
        if self.raw_body.strip():
            opts = self.parse_json_body(res)
            if not isinstance(opts, dict):
                raise err_bad_request("DeleteOptions must be an object")
            pre = (opts.get("preconditions") or {}) if isinstance(opts.get("preconditions") or {}, dict) else {}
        with st.lock:
            cur = st.objects.get((res, ns, name))
            if cur is None:
                raise err_not_found(res, name)
            if pre:
                if pre.get("resourceVersion") and pre["resourceVersion"] != cur["metadata"]["resourceVersion"]:
                    raise err_conflict(res, name, "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s"
                                       % (pre["resourceVersion"], cur["metadata"]["resourceVersion"]))
                if pre.get("uid") and pre["uid"] != cur["metadata"]["uid"]:
                    raise err_conflict(res, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                       % (pre["uid"], cur["metadata"]["uid"]))
            gone = copy.deepcopy(cur)
            gone["metadata"]["resourceVersion"] = str(st.next_rv())
            st.commit(res, ns, name, "DELETED", gone, cur)
        if res.crd:
            return 200, copy.deepcopy(gone)
        d = details_for(res, name)
        d["uid"] = gone["metadata"]["uid"]
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}


# ---------------------------------------------------------------------------------------------
# Server.

class Server(FakeServer):
    def __init__(self, addr, handler, state, tls_ctx):
        super().__init__(addr, handler, state, tls_ctx, SOCKET_TIMEOUT, MAX_CONNECTIONS, log)


def load_config(path):
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    if not isinstance(cfg, dict):
        raise SystemExit("config: top level must be an object")
    toks = cfg.get("tokens", {})
    if not isinstance(toks, dict) or not all(isinstance(v, dict) and isinstance(v.get("user"), str) for v in toks.values()):
        raise SystemExit('config: "tokens" must map token values to {"user": ...} objects')
    trs = cfg.get("token_reviews", {})
    if not isinstance(trs, dict):
        raise SystemExit('config: "token_reviews" must map client tokens to identities')
    for v in trs.values():
        why = token_review_entry_error(v)
        if why:
            raise SystemExit("config: token_reviews: " + why)
    auds = cfg.get("api_audiences", DEFAULT_API_AUDIENCES)
    if not (isinstance(auds, list) and all(isinstance(x, str) for x in auds)):
        raise SystemExit('config: "api_audiences" must be a list of strings')
    ns = cfg.get("namespaces")
    if ns is not None and not (isinstance(ns, list) and all(isinstance(x, str) for x in ns)):
        raise SystemExit('config: "namespaces" must be a list of strings')
    return cfg


def token_review_entry_error(v):
    """Why v is not a token_reviews entry, or None."""
    if not isinstance(v, dict):
        return "an entry must be an object"
    if not isinstance(v.get("error", ""), str):
        return '"error" must be a string'
    if not (isinstance(v.get("user"), str) and v["user"]) and not v.get("error"):
        return 'an entry needs "user" (or "error")'
    for k in ("groups", "audiences"):
        if k in v and not (isinstance(v[k], list) and all(isinstance(x, str) for x in v[k])):
            return '"%s" must be a list of strings' % k
    if v.get("expires") is not None and (isinstance(v["expires"], bool) or not isinstance(v["expires"], (int, float))):
        return '"expires" must be a Unix time'
    return None


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint_token(sa, auds, iat, exp):
    """A JWT-shaped service account token (payload as the API server's; the signature is random
    bytes: nothing here verifies it)."""
    md = sa["metadata"]
    header = {"alg": "RS256", "kid": "fake-apiserver"}
    claims = {"aud": auds, "exp": exp, "iat": iat, "nbf": iat, "iss": TOKEN_ISSUER, "jti": str(uuid.uuid4()),
              "sub": "system:serviceaccount:%s:%s" % (md["namespace"], md["name"]),
              "kubernetes.io": {"namespace": md["namespace"],
                                "serviceaccount": {"name": md["name"], "uid": md.get("uid", "")}}}
    enc = lambda o: b64url(json.dumps(o, separators=(",", ":")).encode())
    return "%s.%s.%s" % (enc(header), enc(claims), b64url(secrets.token_bytes(256)))


def token_request_spec(obj):
    """spec of a decoded TokenRequest body, defaulted (expirationSeconds 3600), or the 400 the
    API server's decoder answers for a wrong type."""
    bad = 'TokenRequest in version "v1" cannot be handled as a TokenRequest: json: cannot unmarshal '
    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise err_bad_request(bad + "%s into Go struct field TokenRequest.spec of type v1.TokenRequestSpec"
                              % type(spec).__name__)
    auds = spec.get("audiences")
    if auds is not None and not (isinstance(auds, list) and all(isinstance(a, str) for a in auds)):
        raise err_bad_request(bad + "into Go struct field TokenRequestSpec.spec.audiences of type []string")
    exp = spec.get("expirationSeconds")
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int)):
        raise err_bad_request(bad + "%s into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64"
                              % type(exp).__name__)
    out = {"audiences": list(auds or []), "expirationSeconds": 3600 if exp is None else exp,
           "boundObjectRef": spec.get("boundObjectRef")}
    if out["boundObjectRef"] is not None:
        raise err_bad_request("the fake API server does not bind tokens to objects (spec.boundObjectRef)")
    return out


def write_kubeconfig(path, server, ca_file, token, ns):
    with open(ca_file, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    kc = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
          "clusters": [{"name": "fake", "cluster": {"server": server, "certificate-authority-data": ca}}],
          "users": [{"name": "fake-user", "user": {"token": token}}],
          "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake-user", "namespace": ns}}],
          "preferences": {}}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(kc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="strict fake Kubernetes API server for Ember's tests")
    ap.add_argument("--config", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--tls-cert", required=True)
    ap.add_argument("--tls-key", required=True)
    ap.add_argument("--admin-token", default=os.environ.get("FAKE_APISERVER_ADMIN_TOKEN", "fake-admin"))
    ap.add_argument("--ready-file")
    ap.add_argument("--kubeconfig-out")
    ap.add_argument("--kubeconfig-token", help="token value or user name of a configured token")
    ap.add_argument("--kubeconfig-ca", help="CA certificate for certificate-authority-data (default: --tls-cert)")
    ap.add_argument("--kubeconfig-namespace", default="default")
    a = ap.parse_args()
    cfg = load_config(a.config)
    if a.kubeconfig_out and not a.kubeconfig_token:
        ap.error("--kubeconfig-out needs --kubeconfig-token")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(a.tls_cert, a.tls_key)
    state = State(cfg, a.admin_token)
    tok = None
    if a.kubeconfig_out:
        for t, ident in state.tokens.items():
            if t == a.kubeconfig_token or ident.get("user") == a.kubeconfig_token:
                tok = t
                break
        if tok is None:
            ap.error("--kubeconfig-token names no configured token")
    handler = Handler
    for o in cfg.get("objects", []):
        with state.lock:
            h = Handler.__new__(Handler)
            h.server = type("S", (), {"state": state})()
            h.control_put(copy.deepcopy(o))
    srv = Server((a.bind, a.port), handler, state, ctx)
    port = srv.server_address[1]
    host = "[%s]" % a.bind if ":" in a.bind else a.bind
    log("listening on https://%s:%d" % (host, port))
    if a.kubeconfig_out:
        write_kubeconfig(a.kubeconfig_out, "https://%s:%d" % (host, port), a.kubeconfig_ca or a.tls_cert, tok,
                         a.kubeconfig_namespace)
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.ready_file)

    def stopper():
        with state.lock:
            state.stopping = True
            state.cond.notify_all()
        srv.shutdown()

    def stop(signum, frame):
        log("signal %d: shutting down" % signum)
        threading.Thread(target=stopper, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
