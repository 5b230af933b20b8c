#!/usr/bin/env python3
"""chartcheck.py -- checks one rendering of charts/ember-issuer (`chart-render -o json`, built
from test/e2e/tools/cmd/chart-render: helm's own library rendering as `helm template` does).

Python 3 standard library only. Prints "ok - LABEL: ..." / "not ok - LABEL: ..." lines; exits 1 on
any failure. Used by test/integration/test_chart.sh:

  chartcheck.py render LABEL RENDER.json VALUES.json CRDS.json HELP.txt NAMESPACE RELEASE ARGS_OUT
      every document is a real kind at a real apiVersion, namespaced as it should be; the RBAC
      bound to Ember's ServiceAccount is exactly EXPECTED_RULES (plus the approver rule when
      approve is on, plus create on tokenreviews when the signing API checks tokens, plus
      create on serviceaccounts/token in the cluster resource namespace with
      serviceAccountTokens.enabled, limited to its names), without
      wildcards, and nothing binds anyone else; the pod passes the
      restricted Pod Security Standard and OpenShift's restricted-v2 SCC (no fixed UID or
      fsGroup); every container arg is a flag `ember-issuer --help` lists, in --flag=value
      form, with a value of the flag's type; the probes and Service ports reach the listeners
      the args open; the Deployment, PDB, topology spread and ServiceMonitor select the pods;
      the CRDs are api/'s; the signing API's flags follow api.* (authentication methods, TLS,
      audit), its TLS and client CA files are in read-only Secret/ConfigMap mounts, the
      NetworkPolicy admits the api port from api.networkPolicy.from only; NOTES.txt tells how
      to call the API with each configured method. Writes the container args, one per line,
      to ARGS_OUT, and the mounted files as MOUNTPATH<TAB>FILE<TAB>SOURCE-KEY lines to
      ARGS_OUT.mounts (so the caller can give the binary such files).
  chartcheck.py rbac-to-fake RENDER.json NAMESPACE RELEASE TOKEN
      the permissions the chart binds to Ember's ServiceAccount, as a fake_apiserver.py token
      identity (rules + approve_signers), on stdout.
  chartcheck.py values-table README.md VALUES.json SCHEMA.json
      the chart README's values table lists exactly the keys of values.yaml with their defaults.
  chartcheck.py helm-commands README.md SCHEMA.json CHART_DIR OUT_DIR
      the `helm install/upgrade` lines of README.md's "Install with Helm" section use the chart
      path and only --set keys the schema has; writes each command's renderer arguments to
      OUT_DIR/cmd-N.args (NUL-separated) so the caller renders them.
"""
import json
import os
import re
import shlex
import sys

failures = 0


def ok(msg):
    print("ok - " + msg)


def not_ok(msg, why=""):
    global failures
    failures += 1
    print("not ok - " + msg)
    if why:
        for line in str(why).splitlines():
            print("#   " + line)


def check(msg, cond, why=""):
    if cond:
        ok(msg)
    else:
        not_ok(msg, why)


# kind -> (apiVersion, namespaced): every kind the chart may render.
KINDS = {
    "Deployment": ("apps/v1", True),
    "ServiceAccount": ("v1", True),
    "Service": ("v1", True),
    "PodDisruptionBudget": ("policy/v1", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", False),
    "Role": ("rbac.authorization.k8s.io/v1", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", True),
    "CustomResourceDefinition": ("apiextensions.k8s.io/v1", False),
    "ServiceMonitor": ("monitoring.coreos.com/v1", True),
    "NetworkPolicy": ("networking.k8s.io/v1", True),
}

LEASE = "ember-issuer-leader"  # fixed in issuer/main.c
# (apiGroup, resource, verb, resourceName or "") the controller needs cluster-wide: what
# issuer/controller/controller.c calls (list+watch through the reflectors, PATCH of /status, GET of
# Secrets, POST+PATCH of core Events) -- contract.md §3.6 minus what Ember never calls.
EXPECTED_CLUSTER = {
    ("cert-manager.io", "certificaterequests", "list", ""),
    ("cert-manager.io", "certificaterequests", "watch", ""),
    ("cert-manager.io", "certificaterequests/status", "patch", ""),
    ("", "secrets", "get", ""),
    ("", "namespaces", "list", ""),   # spec.selector.namespaceSelector: Namespace labels
    ("", "namespaces", "watch", ""),
    # ... and one GET of a Namespace the watch has not brought yet (created with its
    # Certificate): without it such a request waits for the watch instead of being decided.
    ("", "namespaces", "get", ""),
    ("", "events", "create", ""),
    ("", "events", "patch", ""),
}
for _r in ("issuers", "clusterissuers", "issuancepolicies"):
    EXPECTED_CLUSTER |= {("ember.issuer.dev", _r, "list", ""), ("ember.issuer.dev", _r, "watch", ""),
                         ("ember.issuer.dev", _r + "/status", "patch", "")}
# The approver: contract.md §2.1; only with approve=true.
EXPECTED_APPROVE = {
    ("cert-manager.io", "signers", "approve", "issuers.ember.issuer.dev/*"),
    ("cert-manager.io", "signers", "approve", "clusterissuers.ember.issuer.dev/*"),
}
# The signing API's token authentication (a TokenReview per new token): only with api.enabled
# and api.tokenAuth.enabled.
EXPECTED_TOKENREVIEW = {("authentication.k8s.io", "tokenreviews", "create", "")}
# Vault's Kubernetes auth with serviceAccountRef (issuer/kube/tokenrequest.c: POST
# serviceaccounts/NAME/token): in the cluster resource namespace, only with
# serviceAccountTokens.enabled, for serviceAccountTokens.names (every account when empty).
def expected_sa_tokens(values, namespace):
    """{namespace: permissions} the chart must grant for TokenRequests ({} when off)."""
    sat = values.get("serviceAccountTokens") or {}
    if not sat.get("enabled"):
        return {}
    crn = values.get("clusterResourceNamespace") or namespace
    return {crn: {("", "serviceaccounts/token", "create", n) for n in (sat.get("names") or [""])}}


# In the release namespace only (issuer/kube/lease.c: POST the collection, GET and PUT the item).
EXPECTED_NAMESPACED = {
    ("coordination.k8s.io", "leases", "create", ""),
    ("coordination.k8s.io", "leases", "get", LEASE),
    ("coordination.k8s.io", "leases", "update", LEASE),
}


def load(path):
    with open(path) as f:
        return json.load(f)


def objects(render):
    return [m["object"] for m in render["manifests"]]


def md(o):
    return o.get("metadata") or {}


def sa_name(values, release):
    sa = values["serviceAccount"]
    if sa.get("name"):
        return sa["name"]
    return fullname(values, release)


def fullname(values, release):
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:63].rstrip("-")
    name = values.get("nameOverride") or "ember-issuer"
    return (release if name in release else "%s-%s" % (release, name))[:63].rstrip("-")


def expand(rule):
    """A PolicyRule as (apiGroup, resource, verb, resourceName) tuples; non-resource URLs and
    wildcards are reported by the caller."""
    out = set()
    names = rule.get("resourceNames") or [""]
    for g in rule.get("apiGroups") or []:
        for r in rule.get("resources") or []:
            for v in rule.get("verbs") or []:
                for n in names:
                    out.add((g, r, v, n))
    return out


def bound_permissions(objs, namespace, sa):
    """(cluster-wide set, {namespace: set}, problems): what the chart's bindings grant the
    ServiceAccount, and every binding, role or rule that is not as it must be."""
    problems = []
    roles = {}
    for o in objs:
        if o["kind"] in ("ClusterRole", "Role"):
            ns = md(o).get("namespace", "") if o["kind"] == "Role" else ""
            roles[(o["kind"], ns, md(o)["name"])] = o
            for rule in o.get("rules") or []:
                if rule.get("nonResourceURLs"):
                    problems.append("%s %s has nonResourceURLs" % (o["kind"], md(o)["name"]))
                for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                    if any("*" == x or (key != "resourceNames" and "*" in x) for x in rule.get(key) or []):
                        problems.append("%s %s has a wildcard in %s: %s" % (o["kind"], md(o)["name"], key, rule[key]))
            if o.get("aggregationRule"):
                problems.append("%s %s aggregates other roles" % (o["kind"], md(o)["name"]))
    cluster, spaced = set(), {}
    used = set()
    me = {"kind": "ServiceAccount", "name": sa, "namespace": namespace}
    for o in objs:
        if o["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        subjects = o.get("subjects") or []
        for s in subjects:
            if s != me:
                problems.append("%s %s binds %s (only Ember's ServiceAccount %s/%s may be bound)"
                                % (o["kind"], md(o)["name"], s, namespace, sa))
            if "cert-manager" in json.dumps(s):
                problems.append("%s %s names cert-manager's service account: %s" % (o["kind"], md(o)["name"], s))
        ref = o.get("roleRef") or {}
        bns = md(o).get("namespace", "") if o["kind"] == "RoleBinding" else ""
        key = (ref.get("kind"), bns if ref.get("kind") == "Role" else "", ref.get("name"))
        role = roles.get(key)
        if role is None or ref.get("apiGroup") != "rbac.authorization.k8s.io":
            problems.append("%s %s refers to %s, which the chart does not render" % (o["kind"], md(o)["name"], ref))
            continue
        used.add(key)
        perms = set()
        for rule in role.get("rules") or []:
            perms |= expand(rule)
        if o["kind"] == "ClusterRoleBinding":
            cluster |= perms
        else:
            spaced.setdefault(bns, set()).update(perms)
    for key in roles:
        if key not in used:
            problems.append("%s %s is bound to nobody" % (key[0], key[2]))
    return cluster, spaced, problems


def fmt(perms):
    return "\n".join("%s %s %s%s" % (g or "core", r, v, " [%s]" % n if n else "") for g, r, v, n in sorted(perms))


def parse_help(path):
    """flag name -> metavar ('' for booleans) from `ember-issuer --help`."""
    flags = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s+(?:-h, )?--([a-z0-9-]+)(?: ([A-Z]+))?\s", line)
            if m:
                flags[m.group(1)] = m.group(2) or ""
    return flags


DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
VALUE_FORMS = {
    "ADDR": re.compile(r"^(0|[^:]*:[0-9]{1,5})$"),
    "DURATION": DURATION,
    "NS": DNS_LABEL,
    "N": re.compile(r"^[0-9]+$"),
    "BYTES": re.compile(r"^[0-9]+$"),
    "LEVEL": re.compile(r"^(debug|info|warn|error)$"),
    "FORMAT": re.compile(r"^(json|text)$"),
    "KEY": re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9][-A-Za-z0-9_.]*$"),
    "REF": re.compile(r"^(Issuer/[a-z0-9-]+/[a-z0-9.-]+|ClusterIssuer/[a-z0-9.-]+)$"),
    # The chart names files in its own mounts (absolute) or "-" (stderr, --audit-log).
    "FILE": re.compile(r"^(-|/[^\s]*[^/\s])$"),
    "AUDIENCE": re.compile(r"^\S+$"),
    "": re.compile(r"^(true|false)$"),
}


def port_of(addr):
    return None if addr == "0" else int(addr.rsplit(":", 1)[1])


def restricted_problems(pod):
    """What breaks the restricted Pod Security Standard (Kubernetes 1.25+) or OpenShift's
    restricted-v2 SCC (which assigns the UID and fsGroup itself: none may be fixed)."""
    p = []
    spec = pod
    psc = spec.get("securityContext") or {}
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(k):
            p.append("pod %s" % k)
    for k in ("runAsUser", "fsGroup", "runAsGroup", "supplementalGroups"):
        if k in psc:
            p.append("pod securityContext.%s is fixed (OpenShift assigns it)" % k)
    if psc.get("sysctls"):
        p.append("pod sysctls")
    if (psc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        p.append("pod seccompProfile is not RuntimeDefault")
    if (psc.get("seLinuxOptions") or {}).get("type") or (psc.get("seLinuxOptions") or {}).get("user"):
        p.append("pod seLinuxOptions type/user")
    for v in spec.get("volumes") or []:
        kinds = set(v) - {"name"}
        allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret"}
        if kinds - allowed:
            p.append("volume %s is %s" % (v.get("name"), sorted(kinds - allowed)))
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    for c in containers:
        sc = c.get("securityContext") or {}
        n = c.get("name")
        if sc.get("privileged"):
            p.append("%s privileged" % n)
        if sc.get("allowPrivilegeEscalation") is not False:
            p.append("%s allowPrivilegeEscalation is not false" % n)
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            p.append("%s does not drop ALL capabilities" % n)
        if caps.get("add"):
            p.append("%s adds capabilities %s" % (n, caps["add"]))
        if sc.get("readOnlyRootFilesystem") is not True:
            p.append("%s root filesystem is writable" % n)
        if not (sc.get("runAsNonRoot") is True or (psc.get("runAsNonRoot") is True and sc.get("runAsNonRoot") is not False)):
            p.append("%s may run as root (runAsNonRoot)" % n)
        for k in ("runAsUser", "runAsGroup"):
            if k in sc:
                p.append("%s securityContext.%s is fixed (OpenShift assigns it)" % (n, k))
        prof = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if prof not in ("RuntimeDefault", "Localhost"):
            p.append("%s seccompProfile is %s" % (n, prof))
        if sc.get("procMount", "Default") != "Default":
            p.append("%s procMount" % n)
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                p.append("%s hostPort %s" % (n, port["hostPort"]))
    return p


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def cmd_render(label, render_path, values_path, crds_path, help_path, namespace, release, args_out):
    render, values, help_flags = load(render_path), load(values_path), parse_help(help_path)
    api_crds = {}
    for entry in load(crds_path):
        for d in entry["docs"]:
            api_crds[md(d)["name"]] = d
    objs = objects(render)
    L = label + ": "
    want_tokens = expected_sa_tokens(values, namespace)

    # Kinds, apiVersions, namespaces, names.
    bad = []
    seen = set()
    for o in objs:
        kind, av = o.get("kind"), o.get("apiVersion")
        want = KINDS.get(kind)
        if want is None or want[0] != av:
            bad.append("%s %s" % (av, kind))
            continue
        ns = md(o).get("namespace")
        # the TokenRequest Role and its binding live in the cluster resource namespace
        tokens_role = kind in ("Role", "RoleBinding") and md(o)["name"].endswith("-serviceaccount-tokens") \
            and ns in want_tokens
        if want[1] and ns != namespace and not tokens_role:
            bad.append("%s %s is in namespace %r, not the release's %r" % (kind, md(o)["name"], ns, namespace))
        if not want[1] and ns is not None:
            bad.append("cluster-scoped %s %s has a namespace" % (kind, md(o)["name"]))
        key = (kind, ns, md(o)["name"])
        if key in seen:
            bad.append("%s %s twice" % (kind, md(o)["name"]))
        seen.add(key)
        lab = md(o).get("labels") or {}
        if lab.get("app.kubernetes.io/managed-by") != "Helm" or lab.get("app.kubernetes.io/instance") != release:
            bad.append("%s %s lacks the release's labels" % (kind, md(o)["name"]))
    check(L + "every document is a known kind at its real apiVersion, namespaced as it must be", not bad, "\n".join(bad))

    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    deps = by_kind.get("Deployment", [])
    if len(deps) != 1:
        not_ok(L + "exactly one Deployment", "got %d" % len(deps))
        return
    dep = deps[0]
    sa = sa_name(values, release)
    full = fullname(values, release)

    # RBAC.
    cluster, spaced, problems = bound_permissions(objs, namespace, sa)
    api = values["api"]
    token_rbac = bool(api["enabled"] and api["tokenAuth"]["enabled"])
    want_cluster = EXPECTED_CLUSTER | (EXPECTED_APPROVE if values["approve"] else set()) | \
        (EXPECTED_TOKENREVIEW if token_rbac else set())
    check(L + "RBAC: no wildcards, nothing unbound, only Ember's ServiceAccount is bound", not problems,
          "\n".join(problems))
    check(L + "RBAC: the cluster-wide permissions are exactly what ember-issuer calls",
          cluster == want_cluster,
          "missing:\n%s\nextra:\n%s" % (fmt(want_cluster - cluster), fmt(cluster - want_cluster)))
    want_spaced = {namespace: set(EXPECTED_NAMESPACED)}
    for ns, perms in want_tokens.items():
        want_spaced.setdefault(ns, set()).update(perms)
    check(L + "RBAC: the namespaced permissions are the Lease in the release namespace%s only" %
          (" and create on serviceaccounts/token in %s" % list(want_tokens) if want_tokens else ""),
          spaced == want_spaced,
          "got: %s\nwant: %s" % ({k: sorted(v) for k, v in spaced.items()}, {k: sorted(v) for k, v in want_spaced.items()}))
    granted = {(ns, p) for ns, perms in spaced.items() for p in perms if p[1].startswith("serviceaccounts")} | \
        {("", p) for p in cluster if p[1].startswith("serviceaccounts")}
    check(L + "RBAC: create on serviceaccounts/token %s" %
          ("is granted in %s for %s (serviceAccountTokens)" % (list(want_tokens), (values["serviceAccountTokens"]["names"] or "every account"))
           if want_tokens else "is not granted (serviceAccountTokens.enabled=false)"),
          granted == {(ns, p) for ns, perms in want_tokens.items() for p in perms}, "got: %s" % sorted(granted))
    check(L + "RBAC: Secrets are read with get only",
          {p for p in cluster | set().union(*spaced.values()) if p[1] == "secrets"} == {("", "secrets", "get", "")})
    check(L + "RBAC: approve on Ember's signers %s" % ("is granted" if values["approve"] else "is not granted (approve=false)"),
          (EXPECTED_APPROVE <= cluster) == bool(values["approve"]))
    check(L + "RBAC: create on tokenreviews %s" % ("is granted (api.tokenAuth)" if token_rbac else "is not granted"),
          {p for p in cluster | set().union(*spaced.values()) if p[1] == "tokenreviews"} ==
          (EXPECTED_TOKENREVIEW if token_rbac else set()))
    sas = [o for o in by_kind.get("ServiceAccount", [])]
    if values["serviceAccount"]["create"]:
        check(L + "the ServiceAccount %s is rendered" % sa, [md(o)["name"] for o in sas] == [sa])
    else:
        check(L + "no ServiceAccount is rendered (serviceAccount.create=false)", not sas)

    # The pod.
    tpl = dep["spec"]["template"]
    pod = tpl["spec"]
    plabels = md(tpl).get("labels") or {}
    check(L + "the Deployment's selector matches its pods",
          labels_match(dep["spec"]["selector"].get("matchLabels"), plabels))
    check(L + "replicas = replicaCount (%s)" % values["replicaCount"], dep["spec"].get("replicas") == values["replicaCount"])
    check(L + "the pods run as the bound ServiceAccount", pod.get("serviceAccountName") == sa)
    check(L + "the service account token is mounted (the controller calls the API)",
          pod.get("automountServiceAccountToken", True) is not False and
          all(o.get("automountServiceAccountToken", True) is not False for o in sas))
    rp = restricted_problems(pod)
    check(L + "securityContext passes the restricted Pod Security Standard and restricted-v2 SCC", not rp, "\n".join(rp))
    if len(pod.get("containers") or []) != 1:
        not_ok(L + "one container", pod.get("containers"))
        return
    c = pod["containers"][0]
    img = values["image"]
    want_img = "%s@%s" % (img["repository"], img["digest"]) if img["digest"] else \
        "%s:%s" % (img["repository"], img["tag"] or render_chart_app_version(render))
    check(L + "the image is %s" % want_img, c.get("image") == want_img, c.get("image"))
    res = c.get("resources") or {}
    check(L + "cpu and memory requests and a memory limit are set",
          all(k in (res.get("requests") or {}) for k in ("cpu", "memory")) and
          "memory" in (res.get("limits") or {}), res)

    # Args: known flags, --flag=value, values of the flag's type.
    args = c.get("args") or []
    if c.get("command"):
        not_ok(L + "the image's ENTRYPOINT runs (no command override)", c["command"])
    parsed = {}
    arg_problems = []
    for a in args:
        m = re.match(r"^--([a-z0-9-]+)(?:=(.*))?$", a, re.S)
        if not m:
            arg_problems.append("%r is not --flag or --flag=value" % a)
            continue
        name, val = m.group(1), m.group(2)
        if name not in help_flags or name in ("help", "version"):
            arg_problems.append("--%s is not a flag of ember-issuer --help" % name)
            continue
        metavar = help_flags[name]
        if val is None:
            if metavar:
                arg_problems.append("--%s needs a value (%s)" % (name, metavar))
            val = "true"
        form = VALUE_FORMS.get(metavar)
        if form is None:
            arg_problems.append("--%s: no value check for %s" % (name, metavar))
        elif not form.match(val):
            arg_problems.append("--%s=%s is not a %s" % (name, val, metavar or "boolean"))
        parsed.setdefault(name, []).append(val)
    for name, vals in parsed.items():
        if len(vals) > 1 and name not in ("policy-annotation", "namespace", "manifests"):
            arg_problems.append("--%s given %d times" % (name, len(vals)))
    check(L + "every container arg is a flag ember-issuer --help lists, with a value of its type",
          not arg_problems and args, "\n".join(arg_problems))
    with open(args_out, "w") as f:
        f.write("\n".join(args) + "\n")

    def arg(name, default=None):
        return (parsed.get(name) or [default])[-1]

    check(L + "--leader-elect is on", arg("leader-elect") == "true")
    check(L + "the Lease is in the release namespace", arg("leader-election-namespace") == namespace)
    crn = values["clusterResourceNamespace"] or namespace
    check(L + "--cluster-resource-namespace is %s" % crn, arg("cluster-resource-namespace") == crn)
    for flag, want in (("approve", str(values["approve"]).lower()), ("log-level", values["log"]["level"]),
                       ("log-format", values["log"]["format"]), ("max-retry-duration", values["maxRetryDuration"]),
                       ("leader-election-lease-duration", values["leaderElection"]["leaseDuration"]),
                       ("leader-election-renew-deadline", values["leaderElection"]["renewDeadline"]),
                       ("leader-election-retry-period", values["leaderElection"]["retryPeriod"]),
                       ("issuer-recheck-period", values["issuerRecheckPeriod"])):
        check(L + "--%s carries its value (%s)" % (flag, want), arg(flag) == want, arg(flag))
    check(L + "--policy-annotation carries policyAnnotations",
          parsed.get("policy-annotation", []) == values["policyAnnotations"])
    for e in values["extraArgs"]:
        check(L + "extraArgs %s is passed" % e, e in args)

    # Ports: probes reach the health listener; Service ports reach the listeners.
    cports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}

    def resolve(port):
        return cports.get(port) if isinstance(port, str) else port

    health = port_of(arg("health-probe-bind-address", ":8081"))
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = (c.get(probe) or {}).get("httpGet") or {}
        check(L + "%s is GET %s on the health listener (:%s)" % (probe, path, health),
              health is not None and g.get("path") == path and resolve(g.get("port")) == health, g)
    metrics = port_of(arg("metrics-bind-address", ":8082"))
    apip = port_of(arg("api-bind-address", "127.0.0.1:8080"))
    check(L + "metrics %s" % ("served on :%s" % metrics if values["metrics"]["enabled"] else "off"),
          (metrics is not None) == values["metrics"]["enabled"])
    api_on = apip is not None and not arg("api-bind-address", "127.0.0.1:8080").startswith("127.")
    check(L + "the signing API %s" % ("is served (api.enabled)" if values["api"]["enabled"] else "is off"),
          api_on == values["api"]["enabled"])
    svcs = by_kind.get("Service", [])
    want_ports = {}
    if metrics is not None:
        want_ports["metrics"] = metrics
    if api_on:
        want_ports["api"] = apip
    if want_ports:
        ok_svc = len(svcs) == 1 and labels_match(svcs[0]["spec"].get("selector"), plabels)
        got = {p["name"]: resolve(p.get("targetPort")) for p in (svcs[0]["spec"].get("ports") or [])} if svcs else {}
        check(L + "the Service selects the pods and its ports %s reach the listeners" % sorted(want_ports),
              ok_svc and got == want_ports, "service ports %s, want %s" % (got, want_ports))
    else:
        check(L + "no Service (metrics and API off)", not svcs)
    sms = by_kind.get("ServiceMonitor", [])
    if values["metrics"]["serviceMonitor"]["enabled"]:
        good = len(sms) == 1 and svcs and labels_match(sms[0]["spec"]["selector"].get("matchLabels"),
                                                      md(svcs[0]).get("labels") or {})
        eps = sms[0]["spec"].get("endpoints") if sms else []
        check(L + "the ServiceMonitor selects the Service and scrapes port metrics at /metrics",
              good and [(e.get("port"), e.get("path")) for e in eps] == [("metrics", "/metrics")],
              sms)
        for k, v in values["metrics"]["serviceMonitor"]["labels"].items():
            check(L + "the ServiceMonitor has the label %s=%s" % (k, v), (md(sms[0]).get("labels") or {}).get(k) == v)
    else:
        check(L + "no ServiceMonitor", not sms)

    # Availability: PDB, topology spread.
    pdbs = by_kind.get("PodDisruptionBudget", [])
    if values["podDisruptionBudget"]["enabled"] and values["replicaCount"] > 1:
        check(L + "a PodDisruptionBudget keeps minAvailable %s of the pods" % values["podDisruptionBudget"]["minAvailable"],
              len(pdbs) == 1 and pdbs[0]["spec"].get("minAvailable") == values["podDisruptionBudget"]["minAvailable"]
              and labels_match(pdbs[0]["spec"]["selector"].get("matchLabels"), plabels), pdbs)
    else:
        check(L + "no PodDisruptionBudget (one replica, or disabled)", not pdbs)
    tscs = pod.get("topologySpreadConstraints") or []
    check(L + "topologySpreadConstraints as configured, each selecting the pods",
          len(tscs) == len(values["topologySpreadConstraints"]) and
          all(labels_match((t.get("labelSelector") or {}).get("matchLabels"), plabels) or
              (t.get("labelSelector") and t.get("labelSelector") == v.get("labelSelector"))
              for t, v in zip(tscs, values["topologySpreadConstraints"])), tscs)

    # CRDs.
    crds = {md(o)["name"]: o for o in by_kind.get("CustomResourceDefinition", [])}
    if values["crds"]["enabled"]:
        diffs = []
        if set(crds) != set(api_crds):
            diffs.append("rendered %s, api/ has %s" % (sorted(crds), sorted(api_crds)))
        for name in sorted(set(crds) & set(api_crds)):
            r, a = crds[name], api_crds[name]
            if r.get("spec") != a.get("spec") or r.get("apiVersion") != a.get("apiVersion"):
                diffs.append("%s: spec differs from api/ (run `make chart`)" % name)
            extra_ann = set(md(r).get("annotations") or {}) - set(md(a).get("annotations") or {})
            want_ann = {"helm.sh/resource-policy"} if values["crds"]["keep"] else set()
            if extra_ann != want_ann:
                diffs.append("%s: annotations added %s, want %s" % (name, sorted(extra_ann), sorted(want_ann)))
            if values["crds"]["keep"] and md(r)["annotations"]["helm.sh/resource-policy"] != "keep":
                diffs.append("%s: resource-policy is not keep" % name)
            for k, v in (md(a).get("labels") or {}).items():
                if (md(r).get("labels") or {}).get(k) != v:
                    diffs.append("%s: label %s lost" % (name, k))
        check(L + "the CRDs are api/'s (%d)%s" % (len(api_crds), ", kept on uninstall" if values["crds"]["keep"] else ""),
              not diffs, "\n".join(diffs))
    else:
        check(L + "no CRDs (crds.enabled=false)", not crds)

    notes = render.get("notes") or ""
    check(L + "NOTES.txt tells the next step (IssuancePolicy, Issuer)",
          "IssuancePolicy" in notes and "Issuer" in notes and "examples/" in notes)

    check_signing_api(L, values, pod, c, parsed, by_kind, plabels, dep, notes, args_out,
                      {"api": apip, "health": health, "metrics": metrics})


def check_signing_api(L, values, pod, c, parsed, by_kind, plabels, dep, notes, args_out, ports):
    """The signing API's flags, mounts, NetworkPolicy and NOTES against api.*."""
    api = values["api"]
    on = api["enabled"]
    tls = bool(on and api["tls"]["secretName"])
    ca_src = None
    if on and api["clientCA"]["secretName"]:
        ca_src = ("secret", api["clientCA"]["secretName"])
    elif on and api["clientCA"]["configMapName"]:
        ca_src = ("configMap", api["clientCA"]["configMapName"])
    tokens = bool(on and api["tokenAuth"]["enabled"])
    authenticated = bool(ca_src or tokens)

    def arg(name):
        vals = parsed.get(name)
        return vals[-1] if vals else None

    # Flags: each authentication method and setting, and nothing when it is off.
    want = {
        "api-allow-unauthenticated": "true" if on and not authenticated else None,
        "api-token-auth": "true" if tokens else None,
        "api-token-audience": api["tokenAuth"]["audience"] if tokens else None,
        "api-token-cache-ttl": api["tokenAuth"]["cacheTTL"] if tokens else None,
        "api-allow-plaintext-tokens": "true" if tokens and not tls else None,
        "audit-log": "-" if api["audit"]["enabled"] else None,
        "audit-log-include-certificate":
            "true" if api["audit"]["enabled"] and api["audit"]["includeCertificate"] else None,
        "api-issuer": api["issuer"] if on and api["issuer"] else None,
    }
    for flag, v in want.items():
        check(L + "signing API: --%s %s" % (flag, "is %s" % v if v is not None else "is not passed"),
              arg(flag) == v, "got %r" % arg(flag))
    for flag in ("api-tls-cert-file", "api-tls-key-file"):
        check(L + "signing API: --%s %s" % (flag, "names a file" if tls else "is not passed (plain HTTP)"),
              (arg(flag) is not None) == tls, "got %r" % arg(flag))
    check(L + "signing API: --api-client-ca-file %s" % ("names a file" if ca_src else "is not passed"),
          (arg("api-client-ca-file") is not None) == bool(ca_src), "got %r" % arg("api-client-ca-file"))
    if on and not authenticated:
        check(L + "signing API: unauthenticated only with the acknowledgement api.allowUnauthenticated",
              api["allowUnauthenticated"] is True)
    if tokens and not tls:
        check(L + "signing API: tokens over plain HTTP only with api.tokenAuth.allowWithoutTLS",
              api["tokenAuth"]["allowWithoutTLS"] is True)

    # Mounts: the files the flags name are in read-only mounts of the right Secret/ConfigMap
    # items, updated in place (no subPath); no other volume.
    vols = {v.get("name"): v for v in pod.get("volumes") or []}
    mounts = c.get("volumeMounts") or []
    problems = []
    files = []  # (mountPath, file, source key)
    for m in mounts:
        if m.get("readOnly") is not True:
            problems.append("mount %s is not readOnly" % m.get("name"))
        if m.get("subPath") or m.get("subPathExpr"):
            problems.append("mount %s uses subPath (the kubelet would never update it)" % m.get("name"))
        if m.get("name") not in vols:
            problems.append("mount %s has no volume" % m.get("name"))
    for name, v in vols.items():
        if not any(m.get("name") == name for m in mounts):
            problems.append("volume %s is not mounted" % name)

    def source_of(path):
        """(kind, object name, key) of the mounted file at path, or None."""
        for m in mounts:
            mp = m.get("mountPath", "").rstrip("/")
            if not path.startswith(mp + "/"):
                continue
            rel = path[len(mp) + 1:]
            v = vols.get(m.get("name")) or {}
            for kind, name_key in (("secret", "secretName"), ("configMap", "name")):
                src = v.get(kind)
                if src is None:
                    continue
                for it in src.get("items") or []:
                    if it.get("path") == rel:
                        return kind, src.get(name_key), it.get("key")
                if not src.get("items"):
                    return kind, src.get(name_key), rel
        return None

    wanted_files = []
    if tls:
        wanted_files += [("api-tls-cert-file", ("secret", api["tls"]["secretName"], "tls.crt")),
                         ("api-tls-key-file", ("secret", api["tls"]["secretName"], "tls.key"))]
    if ca_src:
        wanted_files.append(("api-client-ca-file", ca_src + (api["clientCA"]["key"],)))
    for flag, src in wanted_files:
        path = arg(flag) or ""
        got = source_of(path)
        check(L + "signing API: --%s=%s is %s %s key %s, mounted read-only" % ((flag, path) + src), got == src,
              "got %r" % (got,))
    for m in mounts:
        v = vols.get(m.get("name")) or {}
        for kind in ("secret", "configMap"):
            for it in (v.get(kind) or {}).get("items") or []:
                files.append((m["mountPath"].rstrip("/"), it["path"], it["key"]))
    check(L + "volumes: %s" % ("only the API's TLS Secret and client CA, read-only, updated in place"
                               if wanted_files else "none (no TLS, no client CA)"),
          not problems and len(vols) == int(tls) + int(bool(ca_src)) and
          all(set(v) - {"name"} <= {"secret", "configMap"} for v in vols.values()),
          "\n".join(problems) or "volumes %s" % sorted(vols))
    with open(args_out + ".mounts", "w") as f:
        for row in files:
            f.write("\t".join(row) + "\n")

    # The NetworkPolicy.
    nps = by_kind.get("NetworkPolicy", [])
    if on and api["networkPolicy"]["enabled"]:
        np = nps[0] if len(nps) == 1 else {}
        spec = np.get("spec") or {}
        sel = (spec.get("podSelector") or {}).get("matchLabels") or {}
        check(L + "NetworkPolicy: one, selecting exactly the Deployment's pods",
              len(nps) == 1 and labels_match(sel, plabels) and sel == dep["spec"]["selector"].get("matchLabels")
              and not (spec.get("podSelector") or {}).get("matchExpressions"), nps)
        check(L + "NetworkPolicy: restricts ingress only (egress to the API server and Vault stays open)",
              spec.get("policyTypes") == ["Ingress"], spec.get("policyTypes"))
        rules = spec.get("ingress") or []
        api_rules, open_ports, bad = [], set(), []
        for r in rules:
            rp = set()
            for pt in r.get("ports") or []:
                if pt.get("protocol", "TCP") != "TCP" or not isinstance(pt.get("port"), int) or pt.get("endPort"):
                    bad.append("port %r" % pt)
                rp.add(pt.get("port"))
            if not rp:
                bad.append("a rule without ports admits every port: %r" % r)
            if ports["api"] in rp:
                api_rules.append(r)
                if rp != {ports["api"]}:
                    bad.append("the api port shares a rule with %s" % sorted(rp - {ports["api"]}))
            elif r.get("from"):
                bad.append("a rule other than the api port's has peers: %r" % r)
            else:
                open_ports |= rp
        want_open = {ports["health"]} | ({ports["metrics"]} if ports["metrics"] is not None else set())
        check(L + "NetworkPolicy: the api port :%s admits exactly api.networkPolicy.from" % ports["api"],
              len(api_rules) == 1 and api_rules[0].get("from") == api["networkPolicy"]["from"] and
              api["networkPolicy"]["from"] and not bad, "\n".join(bad) or api_rules)
        check(L + "NetworkPolicy: the health and metrics ports %s stay open, no other port" % sorted(want_open),
              open_ports == want_open, "open: %s" % sorted(open_ports))
        cports = {p["containerPort"] for p in c.get("ports") or []}
        check(L + "NetworkPolicy: its ports are the container's ports",
              (open_ports | {ports["api"]}) <= cports, "container ports %s" % sorted(cports))
        for i, peer in enumerate(api["networkPolicy"]["from"]):
            check(L + "NetworkPolicy: peer %d is a valid NetworkPolicyPeer" % i,
                  bool(peer) and set(peer) <= {"podSelector", "namespaceSelector", "ipBlock"} and
                  not ("ipBlock" in peer and len(peer) > 1), peer)
    else:
        check(L + "no NetworkPolicy (api.networkPolicy off)", not nps)

    # NOTES.txt: how to call the API with each configured method.
    if on:
        scheme = "https" if tls else "http"
        check(L + "NOTES.txt gives the API's %s URL on the Service" % scheme,
              "%s://%s." % (scheme, md(dep)["name"]) in notes)
        if ca_src:
            check(L + "NOTES.txt shows a curl with a client certificate",
                  re.search(r"curl .*--cert \S+ --key \S+", notes) is not None)
        if tokens:
            check(L + "NOTES.txt shows how to mint a token for the audience %s and send it" % api["tokenAuth"]["audience"],
                  "create token" in notes and "--audience %s" % api["tokenAuth"]["audience"] in notes
                  and "Authorization: Bearer" in notes)
            check(L + "NOTES.txt %s" % ("warns that tokens travel in clear text" if not tls else "has no clear-text warning"),
                  ("clear text" in notes) == (not tls))
        check(L + "NOTES.txt %s" % ("warns that the API is unauthenticated" if not authenticated else "has no unauthenticated warning"),
              ("WITHOUT AUTHENTICATION" in notes) == (not authenticated))


def render_chart_app_version(render):
    for o in objects(render):
        v = (md(o).get("labels") or {}).get("app.kubernetes.io/version")
        if v:
            return v
    return ""


def cmd_rbac_to_fake(render_path, namespace, release, token):
    render = load(render_path)
    objs = objects(render)
    values_sa = None
    for o in objs:
        if o["kind"] == "Deployment":
            values_sa = o["spec"]["template"]["spec"]["serviceAccountName"]
    cluster, spaced, _ = bound_permissions(objs, namespace, values_sa)
    rules, approve = [], []
    for g, r, v, n in sorted(cluster):
        if (g, r, v) == ("cert-manager.io", "signers", "approve"):
            approve.append(n)
            continue
        rule = {"verbs": [v], "resources": [r], "apiGroups": [g]}
        if n:
            rule["names"] = [n]
        rules.append(rule)
    for ns, perms in spaced.items():
        for g, r, v, n in sorted(perms):
            rule = {"verbs": [v], "resources": [r], "apiGroups": [g], "namespaces": [ns]}
            if n:
                rule["names"] = [n]
            rules.append(rule)
    ident = {"user": "system:serviceaccount:%s:%s" % (namespace, values_sa), "groups": ["system:serviceaccounts"],
             "rules": rules}
    if approve:
        ident["approve_signers"] = approve
    print(json.dumps({token: ident}))


def leaf_rows(values, schema, defs, prefix=""):
    """The chart's own keys flattened to (dotted key, default); a Kubernetes object ($ref), a map,
    a list or a scalar is one row."""
    rows = []
    props = schema.get("properties") or {}
    for k in values:
        v = values[k]
        s = props.get(k) or {}
        key = prefix + k
        if isinstance(v, dict) and "properties" in s and "$ref" not in s:
            rows += leaf_rows(v, s, defs, key + ".")
        else:
            rows.append((key, v))
    return rows


def cmd_values_table(readme, values_path, schema_path):
    values, schema = load(values_path), load(schema_path)
    want = dict(leaf_rows(values, schema, schema.get("definitions") or {}))
    got = {}
    problems = []
    if not os.path.isfile(readme):
        not_ok("the chart has a README.md", readme)
        return
    with open(readme) as f:
        for line in f:
            m = re.match(r"^\|\s*`([A-Za-z0-9_.]+)`\s*\|\s*`(.*?)`\s*\|", line)
            if not m:
                continue
            key, default = m.group(1), m.group(2)
            try:
                got[key] = json.loads(default)
            except ValueError:
                problems.append("%s: default %r is not JSON" % (key, default))
    check("chart README: the values table has rows", bool(got))
    for k in sorted(set(want) | set(got)):
        if k not in got:
            not_ok("chart README documents %s" % k)
        elif k not in want:
            not_ok("chart README's %s is a key of values.yaml" % k)
        else:
            check("chart README's default of %s is values.yaml's (%s)" % (k, json.dumps(want[k])),
                  got[k] == want[k], "README says %s" % json.dumps(got[k]))
    check("chart README: every default is JSON", not problems, "\n".join(problems))


def schema_has(schema, key):
    node = schema
    defs = schema.get("definitions") or {}
    for part in re.split(r"(?<!\\)\.", key):
        part = re.sub(r"\[[0-9]+\]$", "", part.replace("\\.", "."))
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        if node.get("type") == "array":
            node = node.get("items") or {}
            while "$ref" in node:
                node = defs[node["$ref"].rsplit("/", 1)[1]]
        props = node.get("properties")
        if props is not None and part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return False
    return True


def cmd_helm_commands(readme, schema_path, chart_dir, out_dir):
    schema = load(schema_path)
    if not os.path.isfile(readme):
        not_ok("%s exists" % readme)
        return
    with open(readme) as f:
        text = f.read()
    if readme == "README.md":
        m = re.search(r"^## Install with Helm\n(.*?)(?=^## )", text + "\n## end\n", re.S | re.M)
        if not m:
            not_ok("README.md has a section \"## Install with Helm\"")
            return
        ok("README.md has a section \"## Install with Helm\"")
        section = m.group(1)
    else:
        section = text
    # --set in the prose too.
    for key in re.findall(r"--set(?:-string)?[ =]([A-Za-z0-9_.\[\]]+)=", re.sub(r"```.*?```", "", section, flags=re.S)):
        check("%s: --set %s (in the text) is a key of values.schema.json" % (readme, key), schema_has(schema, key))
    # Shell lines of the code blocks, with backslash continuations joined.
    lines = []
    for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", section, re.S):
        lines += block.replace("\\\n", " ").splitlines()
    cmds = [l.strip() for l in lines if re.match(r"^\s*helm (install|upgrade|template)\b", l)]
    cmds = [re.sub(r"\s+", " ", c) for c in cmds]
    want = ("helm install", "helm upgrade") if readme == "README.md" else ("helm install",)
    check("%s shows %s" % (readme, " and ".join(want)),
          all(any(c.startswith(w) for c in cmds) for w in want), cmds)
    for i, c in enumerate(cmds):
        words = shlex.split(c, comments=True)
        pos = [w for j, w in enumerate(words[2:], 2) if not w.startswith("-") and
               not (words[j - 1].startswith("-") and "=" not in words[j - 1] and words[j - 1] not in
                    ("--install", "--create-namespace", "--atomic", "--wait", "--reuse-values", "--reset-values",
                     "--dry-run"))]
        check("%s: `%s` names the chart ./charts/ember-issuer" % (readme, c), len(pos) >= 2 and
              os.path.normpath(pos[1]) == os.path.normpath(chart_dir), pos)
        rargs = []
        j = 2
        while j < len(words):
            w = words[j]
            name, eq, val = w.partition("=")
            if name in ("--set", "--set-string", "-f", "--values", "--namespace", "-n"):
                if not eq:
                    j += 1
                    val = words[j] if j < len(words) else ""
                if name in ("--set", "--set-string"):
                    for expr in re.split(r"(?<!\\),", val):
                        key = expr.split("=", 1)[0]
                        check("%s: --set %s is a key of values.schema.json" % (readme, key), schema_has(schema, key))
                    rargs += [name, val]
                elif name in ("-f", "--values"):
                    check("%s: the values file %s exists" % (readme, val), os.path.isfile(val))
                    rargs += ["-f", val]
                else:
                    rargs += ["--namespace", val]
            j += 1
        tag = re.sub(r"[^A-Za-z0-9]", "_", readme)
        with open(os.path.join(out_dir, "%s-%d.args" % (tag, i)), "w") as f:
            f.write("\0".join(rargs + [chart_dir]))
        with open(os.path.join(out_dir, "%s-%d.txt" % (tag, i)), "w") as f:
            f.write(c)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "render" and len(a) == 8:
        cmd_render(*a)
    elif cmd == "rbac-to-fake" and len(a) == 4:
        cmd_rbac_to_fake(*a)
        return
    elif cmd == "values-table" and len(a) == 3:
        cmd_values_table(*a)
    elif cmd == "helm-commands" and len(a) == 4:
        cmd_helm_commands(*a)
    else:
        sys.exit(__doc__)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
