#!/usr/bin/env python3
"""examplecheck.py -- helpers for test_examples.sh: static checks of examples/ and requests.

Python 3 standard library only; YAML is read by test/integration/yaml2json (Ember's own
manifest parser, built by test_examples.sh as test_crds.sh builds it); keys and signatures come
from the openssl CLI.

Subcommands
  static --yaml2json BIN FILE...
      Every document of every file is a known apiVersion/kind, or the file is a Helm values
      file (*values*.yaml, no apiVersion/kind; istio-csr-values*.yaml are istio-csr's); every field that refers to Ember resolves
      among the examples: Certificates' issuerRef and policy annotation (and the policy's
      selector admits them), Issuers' defaultPolicy, istio-csr values (issuer group/kind/name or
      the runtime ConfigMap, additionalAnnotations, rootCAFile mounted from a Secret, only keys
      of istio-csr's chart, names the policy admits), runtime ConfigMaps, ServiceMeshControlPlane
      and ServiceMeshMemberRoll against the istio-csr values of their folder. Prints
      "ok - ..." / "not ok - ..." lines; exits 1 on failure.
  request OUT.json --name N --ns NS --issuer KIND/NAME [--policy P] [--usages a,b,...]
          [--duration D] [--key ec256|ec384|rsa2048|rsa3072|rsa4096] [--org-empty | --org O]
          [--cn CN] [--dns D]... [--uri U]... [--ip IP]... --workdir DIR
      A cert-manager CertificateRequest (JSON) with a CSR built here: the subject holds an
      empty organization with --org-empty (as Istio's CSRs do, which the openssl CLI cannot
      make), or O, and the CN; the SAN extension is critical when the subject is empty.
  from-certificate --yaml2json BIN CERT.yaml OUT.json --workdir DIR
      The CertificateRequest cert-manager makes from the (first) Certificate in CERT.yaml: its
      key algorithm and size, CN and SANs in the CSR, usages, duration, issuerRef, and the
      Certificate's annotations copied. Prints the SANs it requested, one per line ("DNS:x").
  istio-csr --yaml2json BIN VALUES.yaml [CONFIGMAP.yaml...]
      What istio-csr installed with VALUES asks Ember for, as JSON: namespace, issuer, policy,
      trust domain, its serving DNS names and istiod's CN, DNS names and URI.
"""
import argparse
import base64
import fnmatch
import json
import os
import posixpath
import re
import subprocess
import sys

GROUP = "ember.issuer.dev"
EMBER_AV = GROUP + "/v1alpha1"
POLICY_ANNOTATION = GROUP + "/policy-name"
# The namespace the READMEs install istio-csr in (helm install ... -n cert-manager).
ISTIO_CSR_NAMESPACE = "cert-manager"
ISTIO_CSR_SERVICE = "cert-manager-istio-csr"
KNOWN_KINDS = {
    (EMBER_AV, "Issuer"), (EMBER_AV, "ClusterIssuer"), (EMBER_AV, "IssuancePolicy"),
    ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "Namespace"), ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("cert-manager.io/v1", "Certificate"),
    ("maistra.io/v2", "ServiceMeshControlPlane"), ("maistra.io/v1", "ServiceMeshMemberRoll"),
}
CM_USAGES = {
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime",
    "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc"}
# cert-manager does not copy these annotation prefixes from a Certificate to its requests.
NOT_COPIED = ("kubectl.kubernetes.io/", "fluxcd.io/", "argocd.argoproj.io/", "cert-manager.io/")

# Leaf keys of cert-manager/istio-csr's chart (deploy/charts/istio-csr/values.yaml) that the
# examples may set; a list value is a leaf. A typo in an example fails here.
ISTIO_CSR_KEYS = {
    "replicaCount", "image.repository", "image.tag", "image.pullPolicy", "imagePullSecrets",
    "imageRegistry", "imageNamespace",
    "service.type", "service.port",
    "app.logLevel", "app.logFormat",
    "app.metrics.port", "app.metrics.service.enabled", "app.metrics.service.type",
    "app.metrics.service.servicemonitor.enabled",
    "app.runtimeConfiguration.create", "app.runtimeConfiguration.name",
    "app.runtimeConfiguration.issuer.name", "app.runtimeConfiguration.issuer.kind",
    "app.runtimeConfiguration.issuer.group",
    "app.readinessProbe.port", "app.readinessProbe.path",
    "app.certmanager.namespace", "app.certmanager.preserveCertificateRequests",
    "app.certmanager.additionalAnnotations", "app.certmanager.issuer.enabled",
    "app.certmanager.issuer.name", "app.certmanager.issuer.kind", "app.certmanager.issuer.group",
    "app.tls.trustDomain", "app.tls.rootCAFile", "app.tls.certificateDNSNames",
    "app.tls.certificateDuration", "app.tls.istiodCertificateEnable",
    "app.tls.istiodCertificateDuration", "app.tls.istiodCertificateRenewBefore",
    "app.tls.istiodPrivateKeyAlgorithm", "app.tls.istiodPrivateKeySize",
    "app.tls.istiodAdditionalDNSNames",
    "app.server.clusterID", "app.server.maxCertificateDuration",
    "app.server.serving.address", "app.server.serving.port",
    "app.server.serving.certificateKeySize", "app.server.serving.signatureAlgorithm",
    "app.server.authenticators.enableClientCert", "app.server.caTrustedNodeAccounts",
    "app.istio.revisions", "app.istio.namespace",
    "app.controller.leaderElectionNamespace", "app.controller.configmapNamespaceSelector",
    "app.controller.disableKubernetesClientRateLimiter",
    "app.controller.maxConcurrentReconciles",
    "volumes", "volumeMounts", "resources", "securityContext", "affinity", "tolerations",
    "nodeSelector", "podLabels", "podAnnotations", "commonLabels",
}

from tap import failures, not_ok, ok  # noqa: E402  (this directory is on sys.path)


def check(cond, msg, detail=None):
    if cond:
        ok(msg)
    else:
        not_ok(msg, detail)
    return cond


def load(yaml2json, files):
    r = subprocess.run([yaml2json] + list(files), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("yaml2json failed: " + r.stderr)
    return json.loads(r.stdout)


def get(d, path, default=None):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def leaf_paths(d, prefix=""):
    out = []
    for k, v in d.items():
        p = prefix + k
        if isinstance(v, dict) and v and p not in ISTIO_CSR_KEYS:
            out += leaf_paths(v, p + ".")
        else:
            out.append(p)
    return out


def is_values_file(path):
    """A Helm values file (istio-csr's, Ember's chart's): no apiVersion/kind."""
    return "values" in os.path.basename(path) and path.endswith((".yaml", ".yml"))


def is_istio_csr_values(path):
    return os.path.basename(path).startswith("istio-csr-values")


def full_match(patterns, value):
    """Ember's `allowed` regexes are POSIX EREs matched against the whole value; the ones in
    the examples mean the same in Python's re."""
    return any(re.fullmatch(p, value) for p in patterns)


class Policy:
    def __init__(self, obj):
        self.name = obj["metadata"]["name"]
        self.spec = obj.get("spec") or {}

    def selects(self, ns, kind, name):
        """spec.selector admits requests from namespace ns (None: any) for issuer kind/name."""
        sel = self.spec.get("selector") or {}
        if ns is not None and "namespaces" in sel and not any(
                fnmatch.fnmatchcase(ns, g) for g in sel["namespaces"]):
            return False
        if "issuers" in sel:
            ok_ = False
            for s in sel["issuers"]:
                k, _, g = s.partition("/")
                ok_ = ok_ or (k == kind and fnmatch.fnmatchcase(name, g))
            return ok_
        return True

    def allows(self, group, field, value):
        """None when value is allowed by spec.<group>.<field>, else why not."""
        r = get(self.spec, group + "." + field)
        if r is None or r.get("rule") == "Forbidden":
            return "%s.%s is forbidden" % (group, field)
        if "allowed" in r and not full_match(r["allowed"], value):
            return "%s.%s does not allow %r" % (group, field, value)
        return None


def static(a):
    entries = load(a.yaml2json, a.files)
    docs = []  # (file, obj)
    for e in entries:
        f = e["file"]
        if is_values_file(f):
            bad = [d for d in e["docs"] if isinstance(d, dict) and ("apiVersion" in d or "kind" in d)]
            check(len(e["docs"]) == 1 and not bad,
                  "%s is one Helm values document (no apiVersion/kind)" % f)
            continue
        for d in e["docs"]:
            key = (d.get("apiVersion"), d.get("kind")) if isinstance(d, dict) else None
            name = (get(d, "metadata.name") or "?") if isinstance(d, dict) else "?"
            if check(key in KNOWN_KINDS, "%s: %s/%s is a known apiVersion and kind" % (
                    f, key[1] if key else "?", name), "apiVersion/kind %r" % (key,)):
                docs.append((f, d))

    policies = {d["metadata"]["name"]: Policy(d) for _, d in docs if d["kind"] == "IssuancePolicy"}
    issuers = {}
    for _, d in docs:
        if d["kind"] in ("Issuer", "ClusterIssuer") and d["apiVersion"] == EMBER_AV:
            ns = get(d, "metadata.namespace", "default") if d["kind"] == "Issuer" else ""
            issuers[(d["kind"], ns, d["metadata"]["name"])] = d
    configmaps = {(get(d, "metadata.namespace", "default"), d["metadata"]["name"]): d
                  for _, d in docs if d["kind"] == "ConfigMap"}
    check(policies and issuers, "the examples hold IssuancePolicies and Issuers",
          "%d policies, %d issuers" % (len(policies), len(issuers)))

    def issuer_of(kind, ns, name):
        kind = kind or "Issuer"
        return issuers.get((kind, ns if kind == "Issuer" else "", name))

    for (kind, ns, name), d in sorted(issuers.items()):
        dp = get(d, "spec.defaultPolicy")
        ref = "%s %s" % (kind, ns + "/" + name if ns else name)
        if dp is not None:
            check(dp in policies, "%s: defaultPolicy %s is an example IssuancePolicy" % (ref, dp))
            if dp in policies:
                check(policies[dp].selects(ns or None, kind, name),
                      "%s: its defaultPolicy %s selects it" % (ref, dp))

    # Certificates
    for f, d in docs:
        if d["kind"] != "Certificate":
            continue
        ns = get(d, "metadata.namespace", "default")
        label = "%s: Certificate %s/%s" % (f, ns, d["metadata"]["name"])
        ref = get(d, "spec.issuerRef") or {}
        check(ref.get("group") == GROUP, label + ": issuerRef.group is " + GROUP, ref)
        kind = ref.get("kind") or "Issuer"
        is_ = issuer_of(kind, ns, ref.get("name"))
        check(is_ is not None, label + ": issuerRef names an example %s in its namespace" % kind, ref)
        ann = get(d, "metadata.annotations") or {}
        pol = ann.get(POLICY_ANNOTATION) or (get(is_, "spec.defaultPolicy") if is_ else None)
        if check(pol in policies, label + ": the policy annotation names an example IssuancePolicy",
                 "annotations %r" % ann):
            p = policies[pol]
            check(p.selects(ns, kind, ref.get("name", "")),
                  label + ": policy %s selects its namespace and issuer" % pol)
            why = [p.allows("sans", "dnsNames", n) for n in get(d, "spec.dnsNames", [])]
            if get(d, "spec.commonName"):
                why.append(p.allows("subject", "commonName", d["spec"]["commonName"]))
            why = [w for w in why if w]
            check(not why, label + ": policy %s allows its names" % pol, "\n".join(why))
            bad = set(get(d, "spec.usages", [])) - set(get(p.spec, "usages", []))
            check(not bad, label + ": policy %s allows its usages" % pol, bad)
        check(bool(get(d, "spec.secretName")), label + ": has spec.secretName")
        check(set(get(d, "spec.usages", [])) <= CM_USAGES, label + ": usages are cert-manager's")
        check(get(d, "spec.privateKey.algorithm", "RSA") in ("RSA", "ECDSA", "Ed25519"),
              label + ": privateKey.algorithm is one cert-manager knows")

    # Runtime ConfigMaps (istio-csr): data issuer-name/-kind/-group
    for (ns, name), d in sorted(configmaps.items()):
        data = d.get("data") or {}
        if "issuer-group" not in data:
            continue
        label = "ConfigMap %s/%s" % (ns, name)
        check(data.get("issuer-group") == GROUP, label + ": issuer-group is " + GROUP, data)
        check(data.get("issuer-kind") in ("Issuer", "ClusterIssuer"),
              label + ": issuer-kind is Issuer or ClusterIssuer", data)

    # istio-csr values
    values = {}
    for e in entries:
        if not is_istio_csr_values(e["file"]) or not e["docs"]:
            continue
        f, v = e["file"], e["docs"][0]
        values[f] = v
        unknown = [p for p in leaf_paths(v) if p not in ISTIO_CSR_KEYS]
        check(not unknown, "%s: only keys of istio-csr's chart" % f, ", ".join(unknown))
        try:
            plan = istio_csr_plan(v, configmaps)
        except ValueError as ex:
            not_ok("%s: istio-csr's issuer resolves" % f, ex)
            continue
        ok("%s: istio-csr's issuer resolves (%s %s/%s via %s)" % (
            f, plan["issuer_kind"], plan["namespace"], plan["issuer_name"], plan["via"]))
        check(plan["issuer_group"] == GROUP, "%s: the issuer's group is %s" % (f, GROUP))
        check(issuer_of(plan["issuer_kind"], plan["namespace"], plan["issuer_name"]) is not None,
              "%s: the issuer is an example %s in %s" % (f, plan["issuer_kind"], plan["namespace"]))
        p = policies.get(plan["policy"])
        if not check(p is not None, "%s: additionalAnnotations name an example IssuancePolicy with %s"
                     % (f, POLICY_ANNOTATION), plan["policy"]):
            continue
        check(p.selects(plan["namespace"], plan["issuer_kind"], plan["issuer_name"]),
              "%s: policy %s selects istio-csr's namespace and issuer" % (f, p.name))
        td = plan["trust_domain"]
        probs = [p.allows("sans", "uris", "spiffe://%s/ns/app/sa/app" % td),
                 p.allows("sans", "uris", plan["istiod_uri"]),
                 p.allows("subject", "commonName", plan["istiod_cn"]),
                 p.allows("subject", "organization", "")]
        probs += [p.allows("sans", "dnsNames", n) for n in plan["serving_dns"] + plan["istiod_dns"]]
        probs = [x for x in probs if x]
        check(not probs, "%s: policy %s allows the names istio-csr asks for (trust domain %s, "
              "%s, %s)" % (f, p.name, td, ", ".join(plan["serving_dns"]), ", ".join(plan["istiod_dns"])),
              "\n".join(probs))
        root = get(v, "app.tls.rootCAFile")
        if check(isinstance(root, str) and root.startswith("/"),
                 "%s: app.tls.rootCAFile is set (the mesh's trust anchor is not taken from a "
                 "request's status.ca)" % f):
            mounts = [m for m in v.get("volumeMounts") or []
                      if posixpath.dirname(root) == m.get("mountPath", "").rstrip("/")]
            vols = {x.get("name"): x for x in v.get("volumes") or []}
            srcs = [vols.get(m.get("name")) for m in mounts]
            good = [s for s in srcs if s and get(s, "secret.secretName") and any(
                i.get("path") == posixpath.basename(root) for i in get(s, "secret.items", []))]
            check(bool(good), "%s: rootCAFile %s is mounted from a Secret key" % (f, root))

    # Service Mesh: against the istio-csr values of the same folder
    for f, d in docs:
        if d["kind"] not in ("ServiceMeshControlPlane", "ServiceMeshMemberRoll"):
            continue
        folder = posixpath.dirname(f)
        vs = [(vf, v) for vf, v in values.items() if posixpath.dirname(vf) == folder]
        if not check(len(vs) == 1, "%s: one istio-csr values file beside it" % f, [x for x, _ in vs]):
            continue
        vf, v = vs[0]
        ns = get(d, "metadata.namespace")
        if d["kind"] == "ServiceMeshControlPlane":
            ca = get(d, "spec.security.certificateAuthority") or {}
            check(ca.get("type") == "cert-manager", f + ": certificateAuthority.type is cert-manager")
            addr = get(ca, "cert-manager.address", "")
            host, _, port = addr.rpartition(":")
            check(host == "%s.%s.svc" % (ISTIO_CSR_SERVICE, ISTIO_CSR_NAMESPACE) and port == "443",
                  f + ": the cert-manager address is istio-csr's Service", addr)
            check(host in (get(v, "app.tls.certificateDNSNames") or []),
                  f + ": the address is a DNS name of istio-csr's serving certificate (%s)" % vf)
            check(get(d, "spec.security.identity.type") == "ThirdParty",
                  f + ": identity.type is ThirdParty")
            check(d["metadata"]["name"] in (get(v, "app.istio.revisions") or ["default"]),
                  f + ": its name is an Istio revision of %s" % vf)
            check(ns == get(v, "app.istio.namespace", "istio-system"),
                  f + ": its namespace is app.istio.namespace of %s" % vf)
        else:
            check(d["metadata"]["name"] == "default", f + ": a ServiceMeshMemberRoll is named default")
            check(bool(get(d, "spec.members")), f + ": lists members")
            check(get(v, "app.controller.configmapNamespaceSelector") == "maistra.io/member-of=" + ns,
                  f + ": istio-csr's configmapNamespaceSelector selects its members (%s)" % vf)
            smcps = [x for _, x in docs if x["kind"] == "ServiceMeshControlPlane"
                     and get(x, "metadata.namespace") == ns]
            check(bool(smcps), f + ": a ServiceMeshControlPlane in its namespace")
    return 1 if failures() else 0


def istio_csr_plan(v, configmaps):
    """What istio-csr installed with values v asks for; ValueError when its issuer is unknown."""
    cm_ns = get(v, "app.certmanager.namespace", "istio-system")
    if get(v, "app.certmanager.issuer.enabled", True) is not False:
        iss = get(v, "app.certmanager.issuer") or {}
        kind, name, group, via = iss.get("kind"), iss.get("name"), iss.get("group"), "values"
    else:
        rc = get(v, "app.runtimeConfiguration.name")
        cm = configmaps.get((ISTIO_CSR_NAMESPACE, rc)) if rc else None
        if cm is None:
            raise ValueError("no fixed issuer and no runtime ConfigMap %s/%s among the examples"
                             % (ISTIO_CSR_NAMESPACE, rc))
        data = cm.get("data") or {}
        kind, name, group = data.get("issuer-kind"), data.get("issuer-name"), data.get("issuer-group")
        via = "ConfigMap %s/%s" % (ISTIO_CSR_NAMESPACE, rc)
    if not (kind and name and group):
        raise ValueError("issuer name/kind/group incomplete: %r" % ((kind, name, group),))
    pol = None
    for an in get(v, "app.certmanager.additionalAnnotations") or []:
        if an.get("name") == POLICY_ANNOTATION:
            pol = an.get("value")
    td = get(v, "app.tls.trustDomain", "cluster.local")
    ins = get(v, "app.istio.namespace", "istio-system")
    revs = get(v, "app.istio.revisions") or ["default"]
    return {
        "namespace": cm_ns, "issuer_kind": kind, "issuer_name": name, "issuer_group": group,
        "via": via, "policy": pol, "trust_domain": td,
        "serving_dns": get(v, "app.tls.certificateDNSNames") or
        ["%s.%s.svc" % (ISTIO_CSR_SERVICE, ISTIO_CSR_NAMESPACE)],
        "istiod_cn": "istiod.%s.svc" % ins,
        "istiod_dns": ["istiod.%s.svc" % ins if r == "default" else "istiod-%s.%s.svc" % (r, ins)
                       for r in revs] + (get(v, "app.tls.istiodAdditionalDNSNames") or []),
        "istiod_uri": "spiffe://%s/ns/%s/sa/istiod-service-account" % (td, ins),
    }


# ---- CSRs in DER, signed with the openssl CLI ----

def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body


def oid(s):
    p = [int(x) for x in s.split(".")]
    out = bytes([40 * p[0] + p[1]])
    for v in p[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(enc))
    return tlv(0x06, out)


def seq(*xs):
    return tlv(0x30, b"".join(xs))


def ip_bytes(s):
    import ipaddress
    return ipaddress.ip_address(s).packed


KEYS = {"ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa3072": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        "rsa4096": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"]}


UPN_OID = "1.3.6.1.4.1.311.20.2.3"  # Microsoft UPN otherName (cert-manager's otherNames)


def make_csr(key_kind, keyfile, org=None, cn=None, dns=(), uris=(), ips=(), extra=None):
    """extra: {"upn": [...], "email": [...], "street": str, "title": str} or None."""
    extra = extra or {}
    subprocess.run(["openssl", "genpkey"] + KEYS[key_kind] + ["-out", keyfile],
                   check=True, capture_output=True)
    spki = subprocess.run(["openssl", "pkey", "-in", keyfile, "-pubout", "-outform", "DER"],
                          check=True, capture_output=True).stdout
    rdns = []
    if org is not None:
        # PrintableString, as Go's crypto/x509 (Istio) encodes an empty organization.
        rdns.append(tlv(0x31, seq(oid("2.5.4.10"), tlv(0x13, org.encode()))))
    if cn:
        rdns.append(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0C, cn.encode()))))
    for attr, key in (("2.5.4.9", "street"), ("2.5.4.12", "title")):
        if extra.get(key):
            rdns.append(tlv(0x31, seq(oid(attr), tlv(0x0C, extra[key].encode()))))
    names = ([tlv(0x82, d.encode()) for d in dns] + [tlv(0x86, u.encode()) for u in uris] +
             [tlv(0x87, ip_bytes(i)) for i in ips] +
             [tlv(0x81, e.encode()) for e in extra.get("email", [])] +
             # otherName: [0] { type-id, [0] EXPLICIT UTF8String }, as cert-manager writes it
             [tlv(0xA0, oid(UPN_OID) + tlv(0xA0, tlv(0x0C, u.encode())))
              for u in extra.get("upn", [])])
    attrs = b""
    if names:
        crit = tlv(0x01, b"\xff") if not rdns else b""
        ext = seq(oid("2.5.29.17"), crit, tlv(0x04, seq(*names)))
        attrs = seq(oid("1.2.840.113549.1.9.14"), tlv(0x31, seq(ext)))
    cri = seq(tlv(0x02, b"\x00"), seq(*rdns), spki, tlv(0xA0, attrs))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", keyfile], input=cri,
                         check=True, capture_output=True).stdout
    alg = (seq(oid("1.2.840.10045.4.3.2")) if key_kind.startswith("ec")
           else seq(oid("1.2.840.113549.1.1.11"), b"\x05\x00"))
    der = seq(cri, alg, tlv(0x03, b"\x00" + sig))
    b = base64.b64encode(der).decode()
    return ("-----BEGIN CERTIFICATE REQUEST-----\n" +
            "".join(b[i:i + 64] + "\n" for i in range(0, len(b), 64)) +
            "-----END CERTIFICATE REQUEST-----\n")


def cr_object(name, ns, csr_pem, kind, issuer, annotations, usages, duration):
    spec = {"request": base64.b64encode(csr_pem.encode()).decode(), "isCA": False,
            "issuerRef": {"group": GROUP, "kind": kind, "name": issuer}}
    if usages:
        spec["usages"] = usages
    if duration:
        spec["duration"] = duration
    md = {"name": name, "namespace": ns}
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest", "metadata": md,
            "spec": spec}


def request(a):
    kind, _, issuer = a.issuer.partition("/")
    org = "" if a.org_empty else a.org
    csr = make_csr(a.key, os.path.join(a.workdir, a.name + ".key"), org, a.cn, a.dns, a.uri, a.ip,
                   {"upn": a.upn, "email": a.email, "street": a.street, "title": a.title})
    ann = {POLICY_ANNOTATION: a.policy} if a.policy else {}
    usages = [u for u in a.usages.split(",") if u] if a.usages else []
    with open(a.out, "w") as f:
        json.dump(cr_object(a.name, a.ns, csr, kind, issuer, ann, usages, a.duration), f)
    return 0


def from_certificate(a):
    certs = [d for e in load(a.yaml2json, [a.file]) for d in e["docs"] if d.get("kind") == "Certificate"]
    c = certs[0]
    s = c["spec"]
    alg, size = get(s, "privateKey.algorithm", "RSA"), get(s, "privateKey.size")
    key = {"RSA": "rsa%d" % (size or 2048), "ECDSA": "ec%d" % (size or 256)}[alg]
    name = c["metadata"]["name"]
    csr = make_csr(key, os.path.join(a.workdir, name + ".key"), None, s.get("commonName"),
                   s.get("dnsNames", []), s.get("uris", []), s.get("ipAddresses", []))
    ann = {k: v for k, v in (get(c, "metadata.annotations") or {}).items()
           if not k.startswith(NOT_COPIED)}
    ref = s["issuerRef"]
    cr = cr_object(name + "-1", get(c, "metadata.namespace", "default"), csr,
                   ref.get("kind", "Issuer"), ref["name"], ann, s.get("usages", []),
                   s.get("duration"))
    with open(a.out, "w") as f:
        json.dump(cr, f)
    for d in s.get("dnsNames", []):
        print("DNS:" + d)
    return 0


def istio_csr(a):
    entries = load(a.yaml2json, [a.values] + a.configmaps)
    v = entries[0]["docs"][0]
    cms = {}
    for e in entries[1:]:
        for d in e["docs"]:
            if d.get("kind") == "ConfigMap":
                cms[(get(d, "metadata.namespace", "default"), d["metadata"]["name"])] = d
    print(json.dumps(istio_csr_plan(v, cms)))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("static")
    s.add_argument("--yaml2json", required=True)
    s.add_argument("files", nargs="+")
    r = sub.add_parser("request")
    r.add_argument("out")
    r.add_argument("--name", required=True)
    r.add_argument("--ns", required=True)
    r.add_argument("--issuer", required=True)
    r.add_argument("--policy")
    r.add_argument("--usages")
    r.add_argument("--duration")
    r.add_argument("--key", default="ec256", choices=sorted(KEYS))
    r.add_argument("--org-empty", action="store_true")
    r.add_argument("--org")
    r.add_argument("--cn")
    r.add_argument("--dns", action="append", default=[])
    r.add_argument("--uri", action="append", default=[])
    r.add_argument("--ip", action="append", default=[])
    r.add_argument("--email", action="append", default=[])
    r.add_argument("--upn", action="append", default=[], help="a Microsoft UPN otherName SAN")
    r.add_argument("--street", help="subject streetAddress")
    r.add_argument("--title", help="subject title (2.5.4.12)")
    r.add_argument("--workdir", required=True)
    c = sub.add_parser("from-certificate")
    c.add_argument("--yaml2json", required=True)
    c.add_argument("--workdir", required=True)
    c.add_argument("file")
    c.add_argument("out")
    i = sub.add_parser("istio-csr")
    i.add_argument("--yaml2json", required=True)
    i.add_argument("values")
    i.add_argument("configmaps", nargs="*")
    a = ap.parse_args()
    return {"static": static, "request": request, "from-certificate": from_certificate,
            "istio-csr": istio_csr}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
