#!/usr/bin/env python3
"""fake_vault.py -- a strict fake HashiCorp Vault server for Ember's integration tests.

Python 3 standard library only; certificates are signed with the `openssl` CLI (`openssl req
-verify` checks the CSR, `openssl ca` signs with explicit notBefore/notAfter).  It speaks the part
of the Vault HTTP API that shared/docs/vault.md describes (AppRole, TLS certificate and Kubernetes
logins, static tokens, token lookup-self / renew-self / revoke-self, sys/health, PKI sign) and is deliberately as strict as the real server
(token uses, TTLs, namespaces, role rules, error wording): a kinder fake would hide client bugs.
Error texts follow hashicorp/vault (builtin/logical/pki/issuing/issue_common.go, sign_cert.go,
builtin/logical/pki/path_issue_sign.go, builtin/credential/approle/path_login.go,
builtin/credential/cert/path_login.go, builtin/credential/kubernetes (path_login.go),
sdk/logical/response_util.go).

Usage:
  fake_vault.py --config CONF.json --port PORT (--tls-cert CRT --tls-key KEY | --http)
                [--bind 127.0.0.1] [--admin-token TOKEN] [--ready-file FILE]
                [--static-token TOKEN[:TTL[:renewable]]]... [--require-client-cert CA.pem]
  --port 0 lets the kernel pick a port; --ready-file receives the port once listening.
  --static-token adds a token (policies ["root"], every path; TTL 0 = no expiry; renewable only
  when said and with a TTL), as `vault token create` or a root token would be.
  --require-client-cert: every TLS connection must present a certificate CA.pem (and only it)
  verifies (Vault's listener tls_require_and_verify_client_cert with tls_client_ca_file);
  without one the handshake fails.
  With "cert" mounts in the config the listener asks for (does not require) a certificate,
  verified against the mounts' CAs at the handshake (Go's server verifies it only at the login:
  a certificate no mount trusts fails the handshake here instead of the login's 400).
  SIGTERM/SIGINT: clean shutdown, exit 0.  One line per request on stderr (method, path, status,
  whether a token / namespace header was present; never token or secret_id values).

Configuration (JSON; relative file names are relative to the config file; durations are
seconds or Go duration strings such as "90s", "72h", "30d"):
  {
    "namespace": "ns1/team",            # optional; "" / absent = OSS mode (header ignored)
    "default_lease_ttl": "768h", "max_lease_ttl": "768h",   # system defaults (Vault's)
    "approle": {                        # AppRole mounts: auth/<mount>/login
      "approle": {"roles": {"ember": {
        "role_id": "rid", "secret_ids": ["sid", {"secret_id": "sid2", "num_uses": 2}],
        "bind_secret_id": true, "secret_id_num_uses": 0, "token_ttl": "1h",
        "token_max_ttl": "4h", "token_num_uses": 0, "token_type": "service" | "batch",
        "renewable": true, "token_policies": ["ember"],
        "allowed_paths": ["pki_int/sign/*"]}}}},   # ACL stand-in (go-glob); self paths always ok
    "pki": {                            # PKI mounts: <mount>/sign/<role>, <mount>/issuer/<ref>/sign/<role>
      "pki_int": {"ca_cert": "inter.crt", "ca_key": "inter.key", "chain": ["root.crt"],
        "issuer_name": "default", "remove_roots": false, "leaf_not_after_behavior": "err" | "truncate" | "permit",
        "check_signer_not_before": false,
        "roles": {"web": {"allowed_domains": ["example.com"], "allow_subdomains": true,
          "allow_bare_domains": false, "allow_glob_domains": false, "allow_any_name": false,
          "allow_localhost": true, "allow_wildcard_certificates": true, "enforce_hostnames": true,
          "cn_validations": ["email", "hostname"], "allow_ip_sans": true,
          "allowed_uri_sans": ["spiffe://td/*"], "use_csr_common_name": true,
          "use_csr_sans": true, "require_cn": true, "ttl": 0, "max_ttl": "72h",
          "not_before_duration": "30s", "key_type": "rsa" | "ec" | "ed25519" | "any",
          "key_bits": 0, "key_usage": [...], "ext_key_usage": [], "server_flag": true,
          "client_flag": true, "organization": [], "ou": [], "generate_lease": false,
          "street_address": [], "postal_code": [],
          "allowed_other_sans": ["1.3.6.1.4.1.311.20.2.3;UTF8:*@example.com"] | ["*"],
          "allowed_serial_numbers": ["SN-*"]}}}},
    "tokens": {"static-token": {"ttl": 0, "num_uses": 0, "renewable": false,
                                "allowed_paths": ["*"]}},
    "cert": {                           # TLS certificate auth mounts: auth/<mount>/login {"name"}
      "cert": {"roles": {"web": {"certificate": "client-ca.crt", "token_ttl": "1h", ...}}}},
    "kubernetes": {                     # Kubernetes auth mounts: auth/<mount>/login {role, jwt}
      "kubernetes": {"jwt": "eyJ..." | "jwt_file": "sa.jwt",   # the JWT accepted (a stand-in
                     "roles": {"ember": {"token_ttl": "1h", ...}}}}}  # for the TokenReview)
  }
  Without jwt/jwt_file a kubernetes role accepts a JWT whose claims (not verified) match its
  "bound_service_account_names", "bound_service_account_namespaces" ("*" = any) and
  "audience" (when set), and that has not expired: the tokens fake_apiserver.py's TokenRequest
  makes.
  cert and kubernetes roles take AppRole's token_* fields, renewable and allowed_paths.
  Sign takes otherName SANs from the CSR with use_csr_sans, else from other_sans
  ("<oid>;UTF8:<value>", a list or comma-separated), checked against allowed_other_sans; the
  subject's serialNumber is the body's serial_number, else the CSR's, checked against
  allowed_serial_numbers (issue_common.go); street and postalCode come from the role only.
  Role defaults are Vault's.  check_signer_not_before (Vault always checks that the backdated
  notBefore is not before the CA's notBefore) is off by default because test CAs are made a
  second before use; turn it on to get "notBefore before signer's notBefore".

Control API (header X-Fake-Vault-Admin: <--admin-token, default "fake-admin">; POST with a JSON
body unless noted; answers 204, or 403 without the header):
  /_fake/seal, /_fake/unseal
  /_fake/standby-on {"active_addr": "https://host:port"}, /_fake/standby-off
  /_fake/state {"sealed", "initialized", "standby", "perf_standby", "dr_secondary",
                "login_num_uses" (AppRole login answers carry auth.num_uses; default true): bool,
                "active_addr": str}
  /_fake/fault {"path": "/v1/..." | "*", "method": opt, "count": N, "status": S,
                "errors": [..], "headers": {..}, "latency_ms": L, "drop": bool}
  /_fake/latency {"ms": L}        global added latency;  /_fake/faults-clear
  /_fake/revoke-secret-id {"secret_id": s}
  /_fake/add-secret-id {"mount": "approle", "role": name, "secret_id": s, "num_uses": n}
  /_fake/revoke-tokens {["mount": m]}   all tokens, or those of logins on auth mount m
                                  ("token" for the static ones)
  /_fake/clock {"advance_seconds": n}  (ages tokens only)
  /_fake/add-token {"token": t, "ttl": s, "renewable": b, "num_uses": n, "policies": [...]}
                                            a static token (policies default ["root"]; without
                                            "default" or "root" it may not look itself up)
  /_fake/revoke-token {"token": t}
  /_fake/kubernetes-jwt {"mount": "kubernetes", "jwt": j}   the JWT a mount accepts from now
  GET /_fake/stats                counters, per-path counts, tokens_alive, request log, sign bodies,
                                  kubernetes_jwts (the JWTs logins sent, last 50), cert_logins,
                                  cert_login_cns (the CNs of the certificates that logged in)
  /_fake/reset-stats
"""

import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from fakehttp import FakeServer  # this directory is on sys.path (run as a script)

# ---------------------------------------------------------------------------------------------
# Limits (every network-fed buffer and every loop is bounded).
MAX_BODY = 32 * 1024 * 1024          # Vault's default max_request_size (32 MiB)
MAX_CHUNKS = 100000                  # chunked-encoding pieces per body
MAX_REQS_PER_CONN = 1000             # keep-alive requests on one connection
MAX_CONNECTIONS = 512               # concurrent connections (others are closed at once)
SOCKET_TIMEOUT = 15.0                # seconds of client silence before the socket is closed
MAX_TOKENS = 100000                  # live tokens kept; expired ones are pruned beyond this
MAX_LOG_ENTRIES = 500                # request log entries kept for /_fake/stats
MAX_SIGN_BODIES = 50                 # sign request bodies kept for /_fake/stats
MAX_FAULTS = 1000                    # queued fault-injection rules
MAX_LATENCY_MS = 60000               # injected latency cap
OPENSSL_TIMEOUT = 20                 # seconds per openssl invocation
SYSTEM_DEFAULT_TTL = 768 * 3600      # Vault's system default/max lease TTL (32 days)
ADMIN_HEADER = "X-Fake-Vault-Admin"
VERSION = "1.17.0"

# ---------------------------------------------------------------------------------------------
# Small helpers: durations, Go-style formatting, globs, field conversion.

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|ms|s|m|h)")


class FieldError(Exception):
    """A request field could not be converted (400, Vault wording)."""


def parse_go_duration(s):
    """Seconds of a Go duration string ("2160h0m0s", "1h30m", "90s"); None when invalid."""
    if not s or len(s) > 64:
        return None
    rest = s
    sign = 1
    if rest[0] in "+-":
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    total = 0.0
    pos = 0
    count = 0
    while pos < len(rest) and count < 32:
        m = _GO_PART.match(rest, pos)
        if not m or m.group(1) in ("", "."):
            return None
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
        count += 1
    if pos != len(rest) or count == 0:
        return None
    return sign * total


def parse_duration_second(v, field):
    """Vault's TypeDurationSecond (parseutil.ParseDurationSecond): int seconds or a duration
    string, with a "d" suffix accepted."""
    if isinstance(v, bool):
        raise FieldError('error converting input %s for field "%s": invalid duration' % (v, field))
    if isinstance(v, (int, float)):
        return int(v)
    if not isinstance(v, str):
        raise FieldError('error converting input %s for field "%s": invalid type' % (v, field))
    s = v.strip()
    if s == "":
        return 0
    if re.fullmatch(r"-?[0-9]+", s):
        return int(s)
    if s.endswith("d") and re.fullmatch(r"[0-9]+d", s):
        return int(s[:-1]) * 86400
    d = parse_go_duration(s)
    if d is None:
        raise FieldError('error converting input %s for field "%s": time: invalid duration "%s"'
                         % (v, field, v))
    return int(d)


def go_duration(seconds):
    """Format whole seconds as Go's time.Duration.String() does ("2160h0m0s")."""
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    neg = seconds < 0
    seconds = abs(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        out = "%dh%dm%ds" % (h, m, s)
    elif m:
        out = "%dm%ds" % (m, s)
    else:
        out = "%ds" % s
    return ("-" if neg else "") + out


def go_rfc3339nano(ts):
    """UTC time formatted like Go's time.RFC3339Nano (trailing zeros dropped)."""
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = ("%06d" % dt.microsecond).rstrip("0")
    return base + ("." + frac if frac else "") + "Z"


def glob_match(pattern, s):
    """ryanuber/go-glob semantics: only '*' is special and it matches any run (including '/')."""
    if pattern == "*":
        return True
    parts = pattern.split("*")
    if len(parts) == 1:
        return s == pattern
    if not s.startswith(parts[0]):
        return False
    pos = len(parts[0])
    for mid in parts[1:-1]:
        i = s.find(mid, pos)
        if i < 0:
            return False
        pos = i + len(mid)
    last = parts[-1]
    return len(s) - pos >= len(last) and s.endswith(last)


def to_str(v, field):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return str(v)
    if v is None:
        return ""
    raise FieldError("error converting input %s for field \"%s\": expected a string" % (json.dumps(v), field))


def to_bool(v, field):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str):
        if v in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if v in ("0", "f", "F", "FALSE", "false", "False", ""):
            return False
        raise FieldError('error converting input %s for field "%s": strconv.ParseBool: parsing "%s": invalid syntax'
                         % (v, field, v))
    if v is None:
        return False
    raise FieldError("error converting input %s for field \"%s\": expected a bool" % (json.dumps(v), field))


def to_comma_slice(v, field):
    """Vault's TypeCommaStringSlice: "a, b" or ["a","b"]; entries trimmed, empties dropped."""
    if v is None:
        return []
    if isinstance(v, str):
        items = v.split(",")
    elif isinstance(v, list):
        items = [to_str(x, field) for x in v]
    else:
        items = [to_str(v, field)]
    return [x.strip() for x in items if x.strip() != ""]


def go_list(items):
    return "[" + " ".join(items) + "]"


def rand_token(prefix, n=24):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def log(msg):
    sys.stderr.write("fake-vault: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Host name validation (a port of Vault's ValidateNames / ValidateCommonName rules).

_LABEL = r"([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])"
_LEFTWILD = r"(\*|\*%s|%s\*|%s\*%s)" % (_LABEL, _LABEL, _LABEL, _LABEL)
_HOSTNAME = r"(%s\.)*%s\.?\Z" % (_LABEL, _LABEL)
WILD_HOST_RE = re.compile(r"^(%s\.)?%s" % (_LEFTWILD, _HOSTNAME))


def idna_to_ascii(name):
    """Roughly idna.New(StrictDomainName, VerifyDNSLength).ToASCII: None when invalid."""
    try:
        if any(ord(c) > 127 for c in name):
            name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    trimmed = name[:-1] if name.endswith(".") else name
    if trimmed == "" or len(trimmed) > 253:
        return None
    for label in trimmed.split("."):
        if label == "" or len(label) > 63:
            return None
    return name


def validate_names(role, names):
    """Returns the first name the role does not allow, or "" when all pass."""
    for name in names:
        reduced = name
        email_domain = reduced
        wild_label = ""
        is_email = False
        is_wild = False
        if "@" in reduced:
            parts = reduced.split("@")
            if len(parts) != 2:
                return name
            reduced = parts[1]
            email_domain = parts[1]
            is_email = True
        if "*" in reduced:
            is_wild = True
            if not role["allow_wildcard_certificates"]:
                return name
            if reduced.count("*") > 1:
                return name
            split = reduced.split(".", 1)
            if len(split) != 2:
                wild_label, reduced = split[0], ""
            else:
                wild_label, reduced = split
                if "*" in reduced:
                    return name
        if is_email and is_wild:
            return name
        if role["enforce_hostnames"] and reduced != "":
            conv = idna_to_ascii(reduced)
            if conv is None:
                return name
            if is_wild:
                conv = wild_label + "." + conv
            if not WILD_HOST_RE.match(conv):
                return name
        if role["allow_any_name"]:
            continue
        if role["allow_localhost"]:
            if reduced in ("localhost", "localdomain") or (is_email and email_domain in ("localhost", "localdomain")):
                continue
            if role["allow_subdomains"]:
                if reduced.endswith(".localhost") or (is_wild and reduced == "localhost"):
                    continue
                if reduced.endswith(".localdomain") or (is_wild and reduced == "localdomain"):
                    continue
        if role["allowed_domains"]:
            valid = False
            for dom in role["allowed_domains"]:
                if dom == "":
                    continue
                if role["allow_bare_domains"] and (name.lower() == dom.lower() or
                                                   (is_email and email_domain.lower() == dom.lower())):
                    valid = True
                    break
                if role["allow_subdomains"] and (reduced.endswith("." + dom) or
                                                 (is_wild and reduced.lower() == dom.lower())):
                    valid = True
                    break
                if role["allow_glob_domains"] and "*" in dom and glob_match(dom.lower(), name.lower()):
                    valid = True
                    break
            if valid:
                continue
        return name
    return ""


def validate_common_name(role, name):
    vals = role["cn_validations"]
    if vals == ["disabled"]:
        return ""
    if validate_names(role, [name]):
        return name
    if not vals:
        return ""
    if "@" in name:
        return "" if "email" in vals else name
    return "" if "hostname" in vals else name


# ---------------------------------------------------------------------------------------------
# openssl helpers.

def run_openssl(args, stdin=None):
    p = subprocess.run(["openssl"] + args, input=stdin, capture_output=True, timeout=OPENSSL_TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def first_pem_block(text):
    m = _PEM_BLOCK.search(text)
    if not m:
        return None, None
    return m.group(1), m.group(0)


def read_pem_certs(path):
    with open(path, "r", encoding="ascii") as f:
        text = f.read()
    certs = [m.group(0).strip() for m in _PEM_BLOCK.finditer(text) if m.group(1) == "CERTIFICATE"]
    if not certs:
        raise SystemExit("fake-vault: %s holds no PEM certificate" % path)
    return certs


def openssl_date(s):
    return time.mktime(time.strptime(s.strip(), "%b %d %H:%M:%S %Y GMT")) - time.timezone


def cert_info(pem):
    rc, out, err = run_openssl(["x509", "-noout", "-startdate", "-enddate", "-subject", "-issuer",
                                "-nameopt", "RFC2253"], pem.encode())
    if rc != 0:
        raise SystemExit("fake-vault: cannot parse certificate: " + err)
    info = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        info[k.strip()] = v.strip()
    return {"not_before": openssl_date(info["notBefore"]), "not_after": openssl_date(info["notAfter"]),
            "subject": info.get("subject", ""), "issuer": info.get("issuer", "")}


def cert_chains_to(pem, ca_file):
    """True when the client certificate pem verifies against ca_file for client auth."""
    rc, out, _ = run_openssl(["verify", "-CAfile", ca_file, "-purpose", "sslclient"], stdin=pem.encode())
    return rc == 0 and out.strip().endswith("OK")


def answer_format(body):
    """The "format" of a sign or sign-intermediate request, or the HTTPError Vault answers."""
    fmt = to_str(body.get("format", "pem"), "format") or "pem"
    if fmt not in ("pem", "der", "pem_bundle"):
        return None, HTTPError(400, ['the "format" path parameter must be "pem", "der", or "pem_bundle"'])
    return fmt, None


def cert_data(fmt, cert, issuer_pem, ca_chain, bundle):
    """certificate, issuing_ca and ca_chain (left out when empty) of a sign answer in fmt: PEM
    trimmed (Vault's certutil.ToCertBundle), DER as base64, or pem_bundle (the certificate
    followed by the certificates of bundle)."""
    if fmt == "der":
        der = lambda pem: base64.b64encode(ssl.PEM_cert_to_DER_cert(pem)).decode()
        cert, issuer_pem, ca_chain = der(cert), der(issuer_pem), [der(c) for c in ca_chain]
    elif fmt == "pem_bundle":
        cert = "\n".join([cert] + bundle)
    data = {"certificate": cert, "issuing_ca": issuer_pem}
    if ca_chain:
        data["ca_chain"] = ca_chain
    return data


def jwt_binds(jwt, role):
    """Without a configured JWT: the token's claims (read, not verified: the fake API server's
    tokens carry a random signature) must match the role's bound service account names and
    namespaces ("*" for any) and, when set, its audience, as Vault's Kubernetes auth checks them
    after the TokenReview."""
    try:
        part = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        _, _, ns, name = claims["sub"].split(":", 3)
    except (IndexError, ValueError, KeyError, AttributeError, TypeError):
        return False
    names = role.get("bound_service_account_names") or []
    nss = role.get("bound_service_account_namespaces") or []
    aud = claims.get("aud") or []
    aud = [aud] if isinstance(aud, str) else aud
    return ((name in names or "*" in names) and (ns in nss or "*" in nss) and
            (not role.get("audience") or role["audience"] in aud) and
            (claims.get("exp") or 0) > time.time())


# The otherName types openssl prints by name (OpenSSL 3.0 GENERAL_NAME_print).
OTHERNAME_OIDS = {"UPN": "1.3.6.1.4.1.311.20.2.3", "SmtpUTF8Mailbox": "1.3.6.1.5.5.7.8.9",
                  "XmppAddr": "1.3.6.1.5.5.7.8.5", "SRVName": "1.3.6.1.5.5.7.8.7",
                  "NAIRealm": "1.3.6.1.5.5.7.8.8"}


def parse_other_sans(items):
    """Vault's parseOtherSANs: "<oid>;UTF8:<value>" (type case-insensitive) into (oid, value)."""
    out = []
    for other in items:
        oid, sep, rest = other.partition(";")
        typ, sep2, v = rest.partition(":")
        if not sep or not sep2 or not oid:
            raise FieldError("invalid other SAN format: %s" % other)
        if typ.lower() != "utf8":
            raise FieldError("only UTF8 other SANs are supported; got %s" % typ)
        out.append((oid, v))
    return out


def other_sans_refused(role, requested):
    """Vault's validateOtherSANs against allowed_other_sans; returns its message or None."""
    allowed = role["allowed_other_sans"]
    if allowed == ["*"]:
        return None
    table = {}
    for oid, v in parse_other_sans(allowed):
        table.setdefault(oid, []).append(v)
    for oid, v in requested:
        if oid not in table:
            return "other SAN  not allowed for OID %s by this role" % oid
        if not any(glob_match(g, v) for g in table[oid]):
            return "other SAN %s not allowed for OID %s by this role" % (v, oid)
    return None


def parse_csr(pem):
    """Parses a PEM CSR with openssl. Returns (info, error) where error is a Vault-style message."""
    rc, out, err = run_openssl(["req", "-noout", "-text", "-verify", "-nameopt", "RFC2253"], pem.encode())
    if "Certificate Request:" not in out:
        first = err.strip().splitlines()
        detail = first[-1] if first else "malformed"
        return None, "certificate request could not be parsed: " + detail
    info = {"sig_ok": rc == 0, "cn": "", "dns": [], "emails": [], "ips": [], "uris": [],
            "key_type": "", "key_bits": 0, "basic_constraints": False, "other_sans": [],
            "serial_number": ""}
    lines = out.splitlines()
    for i, line in enumerate(lines[:2000]):
        s = line.strip()
        if s.startswith("Subject:"):
            info["cn"] = rdn_value(s[len("Subject:"):].strip(), "CN")
            info["serial_number"] = rdn_value(s[len("Subject:"):].strip(), "serialNumber")
        elif s.startswith("Public Key Algorithm:"):
            alg = s.split(":", 1)[1].strip()
            info["key_type"] = {"id-ecPublicKey": "ec", "rsaEncryption": "rsa", "ED25519": "ed25519"}.get(alg, alg)
        elif re.match(r"^(RSA )?Public-Key: \((\d+) bit\)", s):
            info["key_bits"] = int(re.search(r"\((\d+) bit\)", s).group(1))
        elif s.startswith("X509v3 Basic Constraints"):
            info["basic_constraints"] = True
        elif s.startswith("X509v3 Subject Alternative Name") and i + 1 < len(lines):
            for item in lines[i + 1].strip().split(", "):
                kind, _, val = item.partition(":")
                if kind == "DNS":
                    info["dns"].append(val)
                elif kind == "email":
                    info["emails"].append(val)
                elif kind == "IP Address":
                    try:
                        info["ips"].append(str(ipaddress.ip_address(val)))
                    except ValueError:
                        info["ips"].append(val)
                elif kind == "URI":
                    info["uris"].append(val)
                elif kind == "othername":
                    # openssl prints "othername: UPN::v" (a name it knows) or "othername: OID::v".
                    oid, sep, v = val.strip().partition("::")
                    if sep:
                        info["other_sans"].append((OTHERNAME_OIDS.get(oid, oid), v))
    return info, None


def rdn_value(dn, attr):
    """Value of attr in an RFC 2253 DN as printed by openssl (escaped commas honoured)."""
    parts = []
    cur = ""
    i = 0
    while i < len(dn) and i < 8192:
        c = dn[i]
        if c == "\\" and i + 1 < len(dn):
            cur += dn[i + 1]
            i += 2
            continue
        if c in ",+":
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    for p in parts:
        k, _, v = p.partition("=")
        if k.strip() == attr:
            return v
    return ""


KU_NAMES = {"digitalsignature": "digitalSignature", "contentcommitment": "nonRepudiation",
            "keyencipherment": "keyEncipherment", "dataencipherment": "dataEncipherment",
            "keyagreement": "keyAgreement", "certsign": "keyCertSign", "crlsign": "cRLSign",
            "encipheronly": "encipherOnly", "decipheronly": "decipherOnly"}
EKU_NAMES = {"serverauth": "serverAuth", "clientauth": "clientAuth", "codesigning": "codeSigning",
             "emailprotection": "emailProtection", "timestamping": "timeStamping", "ocspsigning": "OCSPSigning",
             "any": "anyExtendedKeyUsage"}


def subj_escape(v):
    return v.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+").replace("=", "\\=")


def sign_with_openssl(issuer, csr_pem, subject, sans, role, not_before, not_after):
    """Signs csr_pem with the issuer's CA via `openssl ca`; returns (cert_pem, serial_hex)."""
    serial = secrets.token_bytes(20)
    serial = bytes([serial[0] & 0x7F | 0x01]) + serial[1:]
    serial_hex = serial.hex()
    with tempfile.TemporaryDirectory(prefix="fake-vault-") as d:
        for name, content in (("csr.pem", csr_pem), ("index.txt", ""), ("serial", serial_hex + "\n")):
            with open(os.path.join(d, name), "w", encoding="ascii") as f:
                f.write(content)
        kus = [KU_NAMES[k.lower()] for k in role["key_usage"] if k.lower() in KU_NAMES]
        ekus = []
        for flag, name in (("server_flag", "serverAuth"), ("client_flag", "clientAuth"),
                           ("code_signing_flag", "codeSigning"), ("email_protection_flag", "emailProtection")):
            if role[flag]:
                ekus.append(name)
        for e in role["ext_key_usage"]:
            n = EKU_NAMES.get(e.lower())
            if n and n not in ekus:
                ekus.append(n)
        ext = []
        if kus:
            ext.append("keyUsage = critical," + ",".join(kus))
        if ekus:
            ext.append("extendedKeyUsage = " + ",".join(ekus))
        if role["basic_constraints_valid_for_non_ca"]:
            ext.append("basicConstraints = critical,CA:FALSE")
        ext.append("subjectKeyIdentifier = hash")
        ext.append("authorityKeyIdentifier = keyid")
        if sans:
            # As Vault's Go x509 does (RFC 5280 4.2.1.6): critical when the subject is empty.
            ext.append("subjectAltName = " + ("critical," if subject in ("", "/") else "") + ",".join(sans))
        conf = "\n".join([
            "[ ca ]", "default_ca = fake",
            "[ fake ]",
            "database = %s/index.txt" % d, "new_certs_dir = %s" % d, "serial = %s/serial" % d,
            "default_md = sha256", "policy = pol", "unique_subject = no", "email_in_dn = no",
            "copy_extensions = none", "x509_extensions = ext",
            "[ pol ]",
            "commonName = optional", "organizationName = optional", "organizationalUnitName = optional",
            "countryName = optional", "localityName = optional", "stateOrProvinceName = optional",
            "streetAddress = optional", "postalCode = optional", "serialNumber = optional",
            "[ ext ]"] + ext) + "\n"
        with open(os.path.join(d, "ca.cnf"), "w", encoding="utf-8") as f:
            f.write(conf)
        fmt = "%Y%m%d%H%M%SZ"
        start = time.strftime(fmt, time.gmtime(not_before))
        end = time.strftime(fmt, time.gmtime(not_after))
        rc, out, err = run_openssl(["ca", "-batch", "-notext", "-utf8", "-preserveDN", "-config", os.path.join(d, "ca.cnf"),
                                    "-cert", issuer["cert_file"], "-keyfile", issuer["key_file"],
                                    "-in", os.path.join(d, "csr.pem"), "-out", os.path.join(d, "out.pem"),
                                    "-subj", subject, "-startdate", start, "-enddate", end])
        if rc != 0:
            raise RuntimeError("openssl ca failed: " + err.strip()[-500:])
        with open(os.path.join(d, "out.pem"), "r", encoding="ascii") as f:
            text = f.read()
    _, cert = first_pem_block(text)
    if cert is None:
        raise RuntimeError("openssl ca wrote no certificate")
    return cert.strip(), ":".join("%02x" % b for b in serial)


# ---------------------------------------------------------------------------------------------
# Configuration.

ROLE_DEFAULTS = {
    "allowed_domains": [], "allow_subdomains": False, "allow_bare_domains": False,
    "allow_glob_domains": False, "allow_any_name": False, "allow_localhost": True,
    "allow_wildcard_certificates": True, "enforce_hostnames": True,
    "cn_validations": ["email", "hostname"], "allow_ip_sans": True, "allowed_uri_sans": [],
    "use_csr_common_name": True, "use_csr_sans": True, "require_cn": True,
    "ttl": 0, "max_ttl": 0, "not_before_duration": 30, "key_type": "rsa", "key_bits": 0,
    "key_usage": ["DigitalSignature", "KeyAgreement", "KeyEncipherment"], "ext_key_usage": [],
    "server_flag": True, "client_flag": True, "code_signing_flag": False, "email_protection_flag": False,
    "organization": [], "ou": [], "country": [], "locality": [], "province": [],
    "street_address": [], "postal_code": [], "basic_constraints_valid_for_non_ca": False,
    "generate_lease": False, "allowed_other_sans": [], "allowed_serial_numbers": [],
}

APPROLE_DEFAULTS = {
    "role_id": None, "secret_ids": [], "bind_secret_id": True, "secret_id_num_uses": 0,
    "token_ttl": 0, "token_max_ttl": 0, "token_num_uses": 0, "token_type": "service",
    "renewable": True, "token_policies": ["ember"], "allowed_paths": ["*"],
}


def cfg_dur(v, what):
    try:
        return parse_duration_second(v, what)
    except FieldError as e:
        raise SystemExit("fake-vault: config: %s" % e)


def load_config(path):
    with open(path, "r", encoding="utf-8") as f:
        raw = json.load(f)
    base = os.path.dirname(os.path.abspath(path))

    def p(x):
        return x if os.path.isabs(x) else os.path.join(base, x)

    cfg = {"namespace": (raw.get("namespace") or "").strip("/"),
           "active_addr": raw.get("active_addr", ""),
           "default_lease_ttl": cfg_dur(raw.get("default_lease_ttl", SYSTEM_DEFAULT_TTL), "default_lease_ttl"),
           "max_lease_ttl": cfg_dur(raw.get("max_lease_ttl", SYSTEM_DEFAULT_TTL), "max_lease_ttl"),
           "approle": {}, "pki": {}, "tokens": {}, "cert": {}, "kubernetes": {}}
    for mount, mc in (raw.get("approle") or {}).items():
        roles = {}
        for rname, rc in (mc.get("roles") or {}).items():
            unknown = set(rc) - set(APPROLE_DEFAULTS)
            if unknown:
                raise SystemExit("fake-vault: config: approle role %s: unknown keys %s" % (rname, sorted(unknown)))
            r = dict(APPROLE_DEFAULTS)
            r.update(rc)
            if not r["role_id"]:
                raise SystemExit("fake-vault: config: approle role %s needs role_id" % rname)
            for k in ("token_ttl", "token_max_ttl"):
                r[k] = cfg_dur(r[k], k)
            if r["token_type"] not in ("service", "batch", "default-service", "default-batch", "default"):
                raise SystemExit("fake-vault: config: token_type must be service or batch")
            r["token_type"] = "batch" if "batch" in r["token_type"] else "service"
            sids = {}
            for s in r["secret_ids"]:
                if isinstance(s, str):
                    s = {"secret_id": s}
                sids[s["secret_id"]] = {"num_uses": int(s.get("num_uses", r["secret_id_num_uses"])),
                                        "metadata": dict(s.get("metadata", {}))}
            r["secret_ids"] = sids
            r["name"] = rname
            r["entity_id"] = str(uuid.uuid4())
            roles[rname] = r
        cfg["approle"][mount.strip("/")] = roles
    for mount, mc in (raw.get("pki") or {}).items():
        issuer_pem = read_pem_certs(p(mc["ca_cert"]))[0]
        chain = []
        for cpath in mc.get("chain", []):
            chain.extend(read_pem_certs(p(cpath)))
        info = cert_info(issuer_pem)
        behavior = mc.get("leaf_not_after_behavior", "err")
        if behavior not in ("err", "truncate", "permit"):
            raise SystemExit("fake-vault: config: leaf_not_after_behavior must be err, truncate or permit")
        issuer = {"name": str(mc.get("issuer_name", "default")), "cert_file": p(mc["ca_cert"]), "key_file": p(mc["ca_key"]), "pem": issuer_pem,
                  "chain": [c for c in chain if c != issuer_pem], "info": info,
                  "remove_roots": bool(mc.get("remove_roots", False)),
                  "leaf_not_after_behavior": behavior,
                  "check_signer_not_before": bool(mc.get("check_signer_not_before", False)),
                  "self_signed": {}, "sign_intermediate": subca_config(mc)}
        rc, pub1, _ = run_openssl(["x509", "-noout", "-pubkey", "-in", issuer["cert_file"]])
        rc2, pub2, _ = run_openssl(["pkey", "-pubout", "-in", issuer["key_file"]])
        if rc != 0 or rc2 != 0 or pub1.strip() != pub2.strip():
            raise SystemExit("fake-vault: config: pki %s: ca_key does not match ca_cert" % mount)
        for c in [issuer_pem] + issuer["chain"]:
            ci = cert_info(c)
            issuer["self_signed"][c] = ci["subject"] == ci["issuer"]
        roles = {}
        for rname, rc in (mc.get("roles") or {}).items():
            unknown = set(rc) - set(ROLE_DEFAULTS)
            if unknown:
                raise SystemExit("fake-vault: config: pki role %s: unknown keys %s" % (rname, sorted(unknown)))
            r = dict(ROLE_DEFAULTS)
            r.update(rc)
            for k in ("ttl", "max_ttl", "not_before_duration"):
                r[k] = cfg_dur(r[k], k)
            if r["key_type"] not in ("rsa", "ec", "ed25519", "any"):
                raise SystemExit("fake-vault: config: key_type must be rsa, ec, ed25519 or any")
            if r["key_bits"] == 0:
                r["key_bits"] = {"rsa": 2048, "ec": 256}.get(r["key_type"], 0)
            roles[rname] = r
        cfg["pki"][mount.strip("/")] = {"issuer": issuer, "roles": roles}
    for tok, tc in (raw.get("tokens") or {}).items():
        cfg["tokens"][tok] = static_token_cfg(tc)
    for mount, mc in (raw.get("cert") or {}).items():
        roles = {}
        for rname, rc in (mc.get("roles") or {}).items():
            r = login_role(rc, "cert role " + rname, {"certificate"})
            r["ca_file"] = p(rc["certificate"])
            read_pem_certs(r["ca_file"])
            r["name"] = rname
            roles[rname] = r
        cfg["cert"][mount.strip("/")] = roles
    for mount, mc in (raw.get("kubernetes") or {}).items():
        jwt = mc.get("jwt")
        if mc.get("jwt_file"):
            with open(p(mc["jwt_file"]), "r", encoding="ascii") as f:
                jwt = f.read().strip()
        roles = {}
        for rname, rc in (mc.get("roles") or {}).items():
            r = login_role(rc, "kubernetes role " + rname, KUBE_BINDS)
            for k in KUBE_BINDS:
                r[k] = rc.get(k)
            r["name"] = rname
            roles[rname] = r
        cfg["kubernetes"][mount.strip("/")] = {"jwt": jwt, "roles": roles}
    return cfg


def static_token_cfg(tc):
    return {"policies": tc.get("policies", ["root"]), "ttl": cfg_dur(tc.get("ttl", 0), "ttl"),
            "num_uses": int(tc.get("num_uses", 0)), "renewable": bool(tc.get("renewable", False)),
            "allowed_paths": tc.get("allowed_paths", ["*"])}


KUBE_BINDS = {"bound_service_account_names", "bound_service_account_namespaces", "audience"}

LOGIN_ROLE_KEYS = {"token_ttl", "token_max_ttl", "token_num_uses", "token_type", "renewable",
                   "token_policies", "allowed_paths"}


def login_role(rc, what, extra):
    """A cert or kubernetes role: AppRole's token settings with their defaults."""
    unknown = set(rc) - LOGIN_ROLE_KEYS - extra
    if unknown:
        raise SystemExit("fake-vault: config: %s: unknown keys %s" % (what, sorted(unknown)))
    r = {k: APPROLE_DEFAULTS[k] for k in LOGIN_ROLE_KEYS}
    r.update({k: v for k, v in rc.items() if k in LOGIN_ROLE_KEYS})
    for k in ("token_ttl", "token_max_ttl"):
        r[k] = cfg_dur(r[k], k)
    r["token_type"] = "batch" if "batch" in r["token_type"] else "service"
    r["entity_id"] = str(uuid.uuid4())
    return r


# ---------------------------------------------------------------------------------------------
# PKI sign-intermediate (the Vault sub-CA mode, issue 13 part 2; shared/docs/vault-subca.md §6.4):
# POST /v1/<mount>/root/sign-intermediate and /v1/<mount>/issuer/<ref>/sign-intermediate.
# Per-mount config "sign_intermediate": {"max_ttl": "768h" (the mount's max_lease_ttl; a longer
# ttl is capped with Vault's warning), "not_after_behavior": "permit" (OpenBao) | "truncate"
# (Vault >= 1.17) | "err", "include_root": true (ca_chain ends with the root)}.  A parent whose
# certificate has pathlen:0 answers Vault's 400.  Control: POST /_fake/subca {"answer":
# "normal" | "not_ca" | "wrong_key" | "no_root" | "no_constraints" (permitted_dns_domains
# ignored), "count": N (answers in that mode, then normal),
# or "answers": [A, B, ...] (the next answers, in order, then normal), "mount": M (only that
# mount's answers; default all), "issuer_of": M2 (sign with mount M2's issuer from now on: a
# Vault issuer whose root changed), "not_after_behavior", "max_ttl",
# "include_root"}; /_fake/stats has "subca_requests" (each
# body without csr, plus csr_len, csr_sans, csr_cn and path) and "subca_signs".

SUBCA_FIELDS = ("csr", "common_name", "alt_names", "ip_sans", "uri_sans", "other_sans", "ttl", "format",
                "exclude_cn_from_sans", "not_after", "not_before_duration", "max_path_length",
                "permitted_dns_domains", "use_csr_values", "ou", "organization", "country", "locality",
                "province", "street_address", "postal_code", "serial_number", "signature_bits", "use_pss",
                "skid", "key_usage", "ext_key_usage", "ext_key_usage_oids", "issuer_name", "issuer_ref")


def subca_config(mc):
    c = mc.get("sign_intermediate") or {}
    unknown = set(c) - {"max_ttl", "not_after_behavior", "include_root"}
    if unknown:
        raise SystemExit("fake-vault: config: sign_intermediate: unknown keys %s" % sorted(unknown))
    out = {"max_ttl": cfg_dur(c.get("max_ttl", SYSTEM_DEFAULT_TTL), "max_ttl"),
           "not_after_behavior": c.get("not_after_behavior", "permit"),
           "include_root": bool(c.get("include_root", True))}
    if out["not_after_behavior"] not in ("permit", "truncate", "err"):
        raise SystemExit("fake-vault: config: sign_intermediate.not_after_behavior must be permit, truncate or err")
    return out


def cert_path_len(cert_file):
    """The pathlen of a CA certificate file: None when unlimited."""
    rc, out, _ = run_openssl(["x509", "-noout", "-ext", "basicConstraints", "-in", cert_file])
    m = re.search(r"pathlen:(\d+)", out)
    return int(m.group(1)) if rc == 0 and m else None


def sign_ca_with_openssl(issuer, csr_pem, subject, ext, not_before, not_after):
    """Signs csr_pem as a CA with the issuer's key via `openssl ca` and the extension lines ext."""
    serial = secrets.token_bytes(20)
    serial = bytes([serial[0] & 0x7F | 0x01]) + serial[1:]
    with tempfile.TemporaryDirectory(prefix="fake-vault-ca-") as d:
        for name, content in (("csr.pem", csr_pem), ("index.txt", ""), ("serial", serial.hex() + "\n")):
            with open(os.path.join(d, name), "w", encoding="ascii") as f:
                f.write(content)
        conf = "\n".join(["[ ca ]", "default_ca = fake", "[ fake ]",
                          "database = %s/index.txt" % d, "new_certs_dir = %s" % d, "serial = %s/serial" % d,
                          "default_md = sha256", "policy = pol", "unique_subject = no", "email_in_dn = no",
                          "copy_extensions = none", "x509_extensions = ext",
                          "[ pol ]", "commonName = optional", "organizationName = optional",
                          "organizationalUnitName = optional",
                          "[ ext ]"] + ext) + "\n"
        with open(os.path.join(d, "ca.cnf"), "w", encoding="utf-8") as f:
            f.write(conf)
        fmt = "%Y%m%d%H%M%SZ"
        rc, _, err = run_openssl(["ca", "-batch", "-notext", "-utf8", "-preserveDN", "-config", os.path.join(d, "ca.cnf"),
                                  "-cert", issuer["cert_file"], "-keyfile", issuer["key_file"],
                                  "-in", os.path.join(d, "csr.pem"), "-out", os.path.join(d, "out.pem"),
                                  "-subj", subject, "-startdate", time.strftime(fmt, time.gmtime(not_before)),
                                  "-enddate", time.strftime(fmt, time.gmtime(not_after))])
        if rc != 0:
            raise RuntimeError("openssl ca failed: " + err.strip()[-500:])
        with open(os.path.join(d, "out.pem"), "r", encoding="ascii") as f:
            _, cert = first_pem_block(f.read())
    return cert.strip(), ":".join("%02x" % b for b in serial)


def other_key_csr(subject):
    """A CSR for a fresh key (the "wrong_key" answer: a CA for a key the client does not hold)."""
    rc, out, err = run_openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                "-nodes", "-keyout", "/dev/null", "-subj", subject])
    if rc != 0:
        raise RuntimeError("openssl req failed: " + err.strip()[-300:])
    return out


class SubCAMixin:
    def subca_control(self, st, body):
        mounts = [body["mount"]] if body.get("mount") else list(st.cfg["pki"])
        if any(m not in st.cfg["pki"] for m in mounts):
            raise HTTPError(400, ["unknown mount %s" % body.get("mount")])
        if "answer" in body:
            if body["answer"] not in ("normal", "not_ca", "wrong_key", "no_root", "no_constraints"):
                raise HTTPError(400, ["answer must be normal, not_ca, wrong_key, no_root or no_constraints"])
            for m in mounts:
                st.subca[m] = {"queue": [body["answer"]] * int(body["count"]) if body.get("count") else None,
                               "answer": body["answer"]}
        if "answers" in body:
            if any(a not in ("normal", "not_ca", "wrong_key", "no_root", "no_constraints") for a in body["answers"]):
                raise HTTPError(400, ["answers must be normal, not_ca, wrong_key, no_root or no_constraints"])
            for m in mounts:
                st.subca[m] = {"queue": list(body["answers"])[:1000], "answer": "normal"}
        if body.get("issuer_of") is not None:  # the mount signs with another mount's issuer
            if body["issuer_of"] not in st.cfg["pki"]:
                raise HTTPError(400, ["unknown mount %s" % body["issuer_of"]])
            for m in mounts:
                st.cfg["pki"][m]["issuer"] = st.cfg["pki"][body["issuer_of"]]["issuer"]
        for mc in [st.cfg["pki"][m] for m in mounts]:
            si = mc["issuer"]["sign_intermediate"]
            if body.get("not_after_behavior") in ("permit", "truncate", "err"):
                si["not_after_behavior"] = body["not_after_behavior"]
            if "max_ttl" in body:
                si["max_ttl"] = parse_duration_second(body["max_ttl"], "max_ttl")
            if "include_root" in body:
                si["include_root"] = bool(body["include_root"])

    def subca_mode(self, mount):
        st = self.server.state
        with st.lock:
            sc = st.subca.get(mount)
            if not sc:
                return "normal"
            if sc["queue"] is not None:
                return sc["queue"].pop(0) if sc["queue"] else "normal"
            return sc["answer"]

    def sign_intermediate(self, mount, body):
        st = self.server.state
        csr_info = None
        if isinstance(body.get("csr"), str):
            csr_info, _ = parse_csr(body["csr"])
        with st.lock:
            rec = {k: body[k] for k in body if k != "csr"}
            rec["csr_len"] = len(body["csr"]) if isinstance(body.get("csr"), str) else None
            rec["csr_sans"] = (csr_info["dns"] + csr_info["ips"] + csr_info["uris"] + csr_info["emails"]) if csr_info else None
            rec["csr_cn"] = csr_info["cn"] if csr_info else None
            rec["path"] = self.path
            st.subca_bodies.append(rec)
            del st.subca_bodies[:-MAX_SIGN_BODIES]
        try:
            resp = self.sign_intermediate_inner(mount, body, csr_info)
        except FieldError as e:
            resp = HTTPError(400, [str(e)])
        if isinstance(resp, HTTPError):
            raise resp
        with st.lock:
            st.stats["subca_signs"] += 1
        self.send_json(200, resp)

    def subca_ttl(self, issuer, body, now, warnings):
        si = issuer["sign_intermediate"]
        ttl = parse_duration_second(body.get("ttl", 0), "ttl") or self.server.state.cfg["default_lease_ttl"]
        if ttl > si["max_ttl"]:
            warnings.append('TTL "%s" is longer than permitted maxTTL "%s", so maxTTL is being used'
                            % (go_duration(ttl), go_duration(si["max_ttl"])))
            ttl = si["max_ttl"]
        not_after = now + ttl
        ca_after = issuer["info"]["not_after"]
        if not_after > ca_after:
            mode = si["not_after_behavior"]
            if mode == "err":
                return None, HTTPError(400, ["cannot satisfy request, as TTL would result in notAfter of %s that is beyond "
                                             "the expiration of the CA certificate at %s"
                                             % (go_rfc3339nano(not_after), go_rfc3339nano(ca_after))])
            if mode == "truncate":
                warnings.append("the expiration of the requested certificate was truncated to the CA's expiration")
                not_after = ca_after
            else:
                warnings.append("The expiration time for the signed certificate is after the CA's expiration time. "
                                "If the new certificate is not treated as a root, validation paths with the "
                                "certificate past the issuing CA's expiration time will fail.")
        return not_after, None

    def subca_ext(self, issuer, body, mode):
        parent_len = issuer.get("path_len", "?")
        if parent_len == "?":
            parent_len = issuer["path_len"] = cert_path_len(issuer["cert_file"])
        if parent_len == 0:
            return None, HTTPError(400, ["signing certificate has a max path length of zero, and cannot issue "
                                         "further CA certificates"])
        mpl = int(to_str(body.get("max_path_length", "-1"), "max_path_length") or "-1")
        if mpl < 0 and parent_len is not None:
            mpl = parent_len - 1
        bc = "basicConstraints = critical,CA:TRUE" + (",pathlen:%d" % mpl if mpl >= 0 else "")
        if mode == "not_ca":
            bc = "basicConstraints = critical,CA:FALSE"
        ext = [bc, "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash",
               "authorityKeyIdentifier = keyid:always"]
        domains = [d for d in to_comma_slice(body.get("permitted_dns_domains"), "permitted_dns_domains") if d]
        if domains and mode != "no_constraints":  # as a Vault that ignored permitted_dns_domains
            ext.append("nameConstraints = critical," + ",".join("permitted;DNS:" + d for d in domains))
        return ext, None

    def sign_intermediate_inner(self, mount, body, csr):
        issuer = self.server.state.cfg["pki"][mount]["issuer"]
        mode = self.subca_mode(mount)
        warnings = self.unknown_fields(body, SUBCA_FIELDS) or []
        fmt, err = answer_format(body)
        if err:
            return err
        csr_text = to_str(body.get("csr", ""), "csr")
        if csr_text == "":
            return HTTPError(400, ['"csr" is empty'])
        if csr is None or not csr["sig_ok"]:
            return HTTPError(400, ["certificate request could not be parsed"])
        if csr["key_type"] == "rsa" and csr["key_bits"] < 2048:
            return HTTPError(400, ["RSA keys < 2048 bits are unsafe and not supported"])
        use_csr = to_bool(body.get("use_csr_values", False), "use_csr_values")
        cn = to_str(body.get("common_name", ""), "common_name") or csr["cn"]
        now = time.time()  # certificates use the real clock; /_fake/clock only ages tokens
        not_after, err = self.subca_ttl(issuer, body, now, warnings)
        if err:
            return err
        ext, err = self.subca_ext(issuer, body, mode)
        if err:
            return err
        subject = ""
        if not use_csr:
            for attr, key in (("O", "organization"), ("OU", "ou")):
                for v in to_comma_slice(body.get(key), key):
                    subject += "/%s=%s" % (attr, subj_escape(v))
        subject += "/CN=" + subj_escape(cn)
        if cn and "." in cn and " " not in cn and not to_bool(body.get("exclude_cn_from_sans", False), "exclude_cn_from_sans"):
            ext.append("subjectAltName = DNS:" + cn)
        csr_pem = other_key_csr(subject) if mode == "wrong_key" else csr_text
        try:
            cert, serial = sign_ca_with_openssl(issuer, csr_pem, subject, ext, now - 30, not_after)
        except RuntimeError as e:
            raise HTTPError(500, ["1 error occurred:\n\t* error signing/generating certificate: %s\n\n" % e])
        chain = [issuer["pem"]] + issuer["chain"]
        if mode == "no_root" or not issuer["sign_intermediate"]["include_root"]:
            chain = [c for c in chain if not issuer["self_signed"].get(c)]
        data = cert_data(fmt, cert, issuer["pem"], [cert] + chain, chain)
        data.update({"serial_number": serial, "expiration": int(not_after)})
        return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": 0,
                "data": data, "wrap_info": None, "warnings": warnings or None, "auth": None, "mount_type": "pki"}


# ---------------------------------------------------------------------------------------------
# Server state.

class State:
    def __init__(self, cfg, admin_token):
        self.cfg = cfg
        self.admin_token = admin_token
        self.lock = threading.Lock()
        self.sealed = False
        self.initialized = True
        self.standby = False
        self.perf_standby = False
        self.dr_secondary = False
        self.login_num_uses = True  # login answers carry auth.num_uses (as Vault 1.21 does)
        self.active_addr = cfg["active_addr"]
        self.clock_offset = 0.0
        self.latency_ms = 0
        self.faults = []
        self.tokens = {}
        self.subca = {}  # mount -> the sub-CA answers /_fake/subca set (sign-intermediate)
        self.cluster_id = str(uuid.uuid4())
        self.reset_stats()
        for tok, tc in cfg["tokens"].items():
            self.add_static_token(tok, tc)

    def add_static_token(self, tok, tc):
        """A token made outside any login (vault token create, a root token)."""
        now = self.now()
        self.tokens[tok] = {"accessor": rand_token("", 24), "type": "service", "policies": tc["policies"],
                            "created": now, "ttl": tc["ttl"],
                            # vault token create -ttl: renewable up to the system max TTL
                            "max_ttl": self.cfg["max_lease_ttl"] if tc["ttl"] else 0,
                            "expire": now + tc["ttl"] if tc["ttl"] else None,
                            "num_uses": tc["num_uses"], "renewable": tc["renewable"] and tc["ttl"] > 0,
                            "role": None, "mount": "token", "namespace": self.cfg["namespace"],
                            "revoked": False, "allowed_paths": tc["allowed_paths"], "meta": None,
                            "entity_id": "", "path": "auth/token/create", "orphan": False,
                            "creation_ttl": tc["ttl"]}

    def reset_stats(self):
        self.stats = {"requests": {}, "logins": 0, "login_failures": 0, "tokens_issued": 0,
                      "renewals": 0, "revocations": 0, "signs": 0, "sign_failures": 0,
                      "denied": 0, "faults_fired": 0, "cert_logins": 0, "kubernetes_logins": 0,
                      "subca_signs": 0}
        self.kube_jwts = []
        self.cert_cns = []
        self.subca_bodies = []
        self.req_log = []
        self.sign_bodies = []

    def now(self):
        return time.time() + self.clock_offset

    def alive(self, t, now):
        return not t["revoked"] and (t["expire"] is None or t["expire"] > now)

    def tokens_alive(self):
        now = self.now()
        return sum(1 for t in self.tokens.values() if self.alive(t, now))

    def add_token(self, tok, rec):
        if len(self.tokens) >= MAX_TOKENS:
            now = self.now()
            for k in [k for k, t in self.tokens.items() if not self.alive(t, now)][:MAX_TOKENS]:
                del self.tokens[k]
            if len(self.tokens) >= MAX_TOKENS:
                raise RuntimeError("token store full (%d live tokens)" % MAX_TOKENS)
        self.tokens[tok] = rec


# ---------------------------------------------------------------------------------------------
# HTTP handling.

class HTTPError(Exception):
    def __init__(self, status, errors, headers=None):
        super().__init__(status)
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def permission_denied():
    # Vault >= 1.17 answers an unknown/expired/revoked/used-up token with both messages
    # (hashicorp/vault PR #26687 documents them); "permission denied" comes first.
    return HTTPError(403, ["permission denied", "invalid token"])


class Handler(SubCAMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeVault/" + VERSION
    sys_version = ""

    def log_message(self, fmt, *args):  # silence http.server's own access log
        pass

    def setup(self):
        super().setup()
        self.reqs_on_conn = 0

    def handle_one_request(self):
        self.reqs_on_conn += 1
        if self.reqs_on_conn > MAX_REQS_PER_CONN:
            self.close_connection = True
            return
        super().handle_one_request()

    # All verbs go through one dispatcher.
    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_LIST = do_GET

    # -- plumbing ------------------------------------------------------------------------------
    def send_json(self, status, obj, headers=None):
        body = b"" if obj is None else (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.status_sent = status

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            out = bytearray()
            for _ in range(MAX_CHUNKS):
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise HTTPError(400, ["failed to parse JSON input: malformed chunked encoding"])
                if size == 0:
                    for _ in range(100):
                        if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                            break
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    self.close_connection = self.body_unread = True
                    raise HTTPError(413, ["failed to parse JSON input: http: request body too large"])
                out += self.rfile.read(size)
                self.rfile.readline(8)
            raise HTTPError(400, ["failed to parse JSON input: too many chunks"])
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            self.close_connection = True
            raise HTTPError(400, ["invalid Content-Length"])
        if n < 0:
            self.close_connection = True
            raise HTTPError(400, ["invalid Content-Length"])
        if n > MAX_BODY:
            self.close_connection = self.body_unread = True
            raise HTTPError(413, ["failed to parse JSON input: http: request body too large"])
        return self.rfile.read(n)

    def json_body(self):
        raw = self.raw_body
        if raw.strip() == b"":
            return {}
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise HTTPError(400, ["failed to parse JSON input: %s" % e])
        if not isinstance(obj, dict):
            raise HTTPError(400, ["failed to parse JSON input: json: cannot unmarshal %s into Go value of type map[string]interface {}"
                                  % type(obj).__name__])
        return obj

    def finish_log(self, path):
        st = getattr(self, "status_sent", 0)
        tok = bool(self.headers.get("X-Vault-Token") or
                   (self.headers.get("Authorization", "").startswith("Bearer ")))
        ns = self.headers.get("X-Vault-Namespace")
        log("%s %s -> %s token=%s namespace=%s" % (self.command, path, st or "dropped",
                                                     "yes" if tok else "no", "yes" if ns is not None else "no"))
        if path.startswith("/_fake/"):
            return
        st_obj = self.server.state
        with st_obj.lock:
            key = "%s %s" % (self.command, path)
            if key in st_obj.stats["requests"] or len(st_obj.stats["requests"]) < 10000:
                st_obj.stats["requests"][key] = st_obj.stats["requests"].get(key, 0) + 1
            raw_tok = self.headers.get("X-Vault-Token") or ""
            st_obj.req_log.append({"method": self.command, "path": path, "status": st, "token": tok,
                                   # which token, never the token: its SHA-256's first 12 hex digits
                                   "token_id": hashlib.sha256(raw_tok.encode()).hexdigest()[:12] if raw_tok else None,
                                   "namespace": ns, "x_vault_request": self.headers.get("X-Vault-Request")})
            del st_obj.req_log[:-MAX_LOG_ENTRIES]

    def dispatch(self):
        self.status_sent = 0
        url = urlsplit(self.path)
        path = url.path
        self.raw_body = b""
        try:
            # The body is always read first (bounded by MAX_BODY) so an early error answer
            # never leaves unread bytes on a keep-alive connection.
            self.raw_body = self.read_body()
            if path.startswith("/_fake/"):
                self.handle_control(path)
            else:
                self.handle_vault(path, url.query)
        except HTTPError as e:
            if e.status is None:  # injected connection drop
                self.close_connection = True
            else:
                self.send_json(e.status, {"errors": e.errors}, e.headers)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # an internal failure: answer like Vault's 500
            log("internal error on %s %s: %r" % (self.command, path, e))
            try:
                self.send_json(500, {"errors": ["1 error occurred:\n\t* %s\n\n" % e]})
            except OSError:
                self.close_connection = True
        self.finish_log(path)

    # -- control API ---------------------------------------------------------------------------
    def handle_control(self, path):
        st = self.server.state
        given = self.headers.get(ADMIN_HEADER, "")
        if not secrets.compare_digest(given.encode(), st.admin_token.encode()):
            raise HTTPError(403, ["fake admin header %s missing or wrong" % ADMIN_HEADER])
        name = path[len("/_fake/"):]
        if self.command == "GET" and name == "stats":
            with st.lock:
                out = dict(st.stats)
                out["tokens_alive"] = st.tokens_alive()
                out["log"] = list(st.req_log)
                out["sign_requests"] = list(st.sign_bodies)
                out["kubernetes_jwts"] = list(st.kube_jwts)
                out["cert_login_cns"] = list(st.cert_cns)
                out["subca_requests"] = list(st.subca_bodies)
                out["state"] = {"sealed": st.sealed, "initialized": st.initialized, "standby": st.standby,
                                "perf_standby": st.perf_standby, "dr_secondary": st.dr_secondary,
                                "login_num_uses": st.login_num_uses,
                                "active_addr": st.active_addr, "clock_offset": st.clock_offset,
                                "latency_ms": st.latency_ms, "faults": [dict(f) for f in st.faults]}
            self.send_json(200, out)
            return
        if self.command != "POST":
            raise HTTPError(405, ["control endpoints take POST (GET only for /_fake/stats)"])
        body = self.json_body()
        with st.lock:
            if name == "seal":
                st.sealed = True
            elif name == "unseal":
                st.sealed = False
            elif name == "standby-on":
                addr = body.get("active_addr") or st.active_addr
                if not addr:
                    raise HTTPError(400, ["active_addr is required"])
                st.standby, st.active_addr = True, addr.rstrip("/")
            elif name == "standby-off":
                st.standby = False
            elif name == "state":
                for k in ("sealed", "initialized", "standby", "perf_standby", "dr_secondary",
                          "login_num_uses"):
                    if k in body:
                        setattr(st, k, bool(body[k]))
                if "active_addr" in body:
                    st.active_addr = str(body["active_addr"]).rstrip("/")
            elif name == "fault":
                if len(st.faults) >= MAX_FAULTS:
                    raise HTTPError(400, ["too many faults queued (max %d)" % MAX_FAULTS])
                f = {"path": str(body.get("path", "*")), "method": body.get("method"),
                     "count": int(body.get("count", 1)), "status": body.get("status"),
                     "errors": body.get("errors", ["injected fault"]),
                     "latency_ms": min(int(body.get("latency_ms", 0)), MAX_LATENCY_MS),
                     "drop": bool(body.get("drop", False)), "headers": dict(body.get("headers", {}))}
                if f["count"] < 1:
                    raise HTTPError(400, ["count must be >= 1"])
                st.faults.append(f)
            elif name == "faults-clear":
                st.faults = []
                st.latency_ms = 0
            elif name == "latency":
                st.latency_ms = max(0, min(int(body.get("ms", 0)), MAX_LATENCY_MS))
            elif name == "revoke-secret-id":
                sid = body.get("secret_id")
                found = False
                for roles in st.cfg["approle"].values():
                    for r in roles.values():
                        if sid in r["secret_ids"]:
                            del r["secret_ids"][sid]
                            found = True
                if not found:
                    raise HTTPError(404, ["secret_id not found"])
            elif name == "add-secret-id":
                mount = str(body.get("mount", "approle")).strip("/")
                role = st.cfg["approle"].get(mount, {}).get(body.get("role"))
                if role is None or not body.get("secret_id"):
                    raise HTTPError(400, ["mount, role and secret_id must name a configured AppRole role"])
                role["secret_ids"][str(body["secret_id"])] = {
                    "num_uses": int(body.get("num_uses", role["secret_id_num_uses"])), "metadata": {}}
            elif name == "revoke-tokens":
                for t in st.tokens.values():
                    if "mount" not in body or t["mount"] == body["mount"]:
                        t["revoked"] = True
            elif name == "add-token":
                if not body.get("token"):
                    raise HTTPError(400, ["token is required"])
                st.add_static_token(str(body["token"]), static_token_cfg(body))
            elif name == "revoke-token":
                t = st.tokens.get(body.get("token"))
                if t is None:
                    raise HTTPError(404, ["token not found"])
                t["revoked"] = True
            elif name == "kubernetes-jwt":
                mc = st.cfg["kubernetes"].get(str(body.get("mount", "kubernetes")).strip("/"))
                if mc is None:
                    raise HTTPError(400, ["mount must name a configured kubernetes mount"])
                mc["jwt"] = str(body.get("jwt", ""))
            elif name == "clock":
                st.clock_offset += float(body.get("advance_seconds", 0))
            elif name == "subca":
                self.subca_control(st, body)
            elif name == "reset-stats":
                st.reset_stats()
            else:
                raise HTTPError(404, ["unknown control endpoint %s" % name])
        self.send_json(204, None)

    # -- Vault API -----------------------------------------------------------------------------
    def apply_faults(self, path):
        st = self.server.state
        chosen = None
        with st.lock:
            latency = st.latency_ms
            for f in st.faults:
                if (f["path"] == "*" or f["path"] == path) and (not f["method"] or f["method"] == self.command):
                    chosen = dict(f)
                    f["count"] -= 1
                    st.stats["faults_fired"] += 1
                    break
            st.faults = [f for f in st.faults if f["count"] > 0]
        if latency:
            time.sleep(latency / 1000.0)
        if chosen is None:
            return
        if chosen["latency_ms"]:
            time.sleep(chosen["latency_ms"] / 1000.0)
        if chosen["drop"]:
            raise HTTPError(None, [])
        if chosen["status"]:
            raise HTTPError(int(chosen["status"]), list(chosen["errors"]), chosen["headers"])

    def handle_vault(self, path, query):
        st = self.server.state
        self.apply_faults(path)
        if not path.startswith("/v1/"):
            raise HTTPError(404, [])
        rel = path[len("/v1/"):]
        ns_hdr = self.headers.get("X-Vault-Namespace")

        if rel == "sys/health":
            # Strictness on purpose: sys/health is a root-only endpoint and has to be called
            # WITHOUT X-Vault-Namespace (vault.md §2.2: cert-manager keeps a second, namespace-less
            # client for it because root-only paths can fail when a namespace header is sent).
            # Inside a namespace the path does not exist, so a client that reuses its namespaced
            # connection setup for the health check gets a 404 here instead of silently working.
            if ns_hdr is not None:
                raise HTTPError(404, [])
            if self.command not in ("GET", "HEAD"):
                raise HTTPError(405, ["unsupported operation"])
            self.health(query)
            return

        with st.lock:
            sealed, standby, active = st.sealed or not st.initialized, st.standby, st.active_addr
        if sealed:
            raise HTTPError(503, ["Vault is sealed"])
        if standby:
            loc = active + self.path
            self.send_json(307, None, {"Location": loc})
            return

        # Namespace: X-Vault-Namespace and/or a path prefix must add up to the configured one.
        want = st.cfg["namespace"]
        hdr = (ns_hdr or "").strip("/")
        if want:
            if hdr != want:
                if hdr == "" or want.startswith(hdr + "/"):
                    rest = want[len(hdr) + 1:] if hdr else want
                    if rel.startswith(rest + "/"):
                        rel = rel[len(rest) + 1:]
                    else:
                        raise self.ns_mismatch()
                else:
                    raise self.ns_mismatch()
        # Without a configured namespace the fake behaves as OSS Vault: the header is ignored.

        if self.command == "LIST" or query and "list=true" in query:
            raise HTTPError(405, ["unsupported operation"])

        parts = rel.split("/")
        if len(parts) == 3 and parts[0] == "auth" and parts[2] == "login":
            logins = (("approle", self.login), ("cert", self.cert_login),
                      ("kubernetes", self.kubernetes_login))
            for kind, fn in logins:
                if parts[1] in st.cfg[kind]:
                    self.require_method(("POST", "PUT"))
                    fn(parts[1])
                    return
        if rel in ("auth/token/lookup-self", "auth/token/renew-self", "auth/token/revoke-self"):
            op = rel.rsplit("/", 1)[1]
            self.require_method(("GET", "POST", "PUT") if op == "lookup-self" else ("POST", "PUT"))
            body = self.json_body()
            tok, rec = self.authenticate(rel)
            # Vault's default policy is what grants a token its own lookup-self, renew-self and
            # revoke-self: a token made with -no-default-policy (policies without "default" or
            # "root") is refused them, with "permission denied" alone (it is a valid token).
            if not ({"default", "root"} & set(rec["policies"])):
                raise HTTPError(403, ["permission denied"])
            getattr(self, op.replace("-", "_"))(tok, rec, body)
            return
        mount, sub = self.pki_route(rel)
        if mount is not None:
            mi = re.fullmatch(r"(?:issuer/([^/]+)|root)/sign-intermediate", sub)
            if mi:
                self.require_method(("POST", "PUT"))
                body = self.json_body()
                self.authenticate(rel)
                if mi.group(1) is not None and mi.group(1) not in ("default", st.cfg["pki"][mount]["issuer"]["name"]):
                    raise HTTPError(400, ["unable to find PKI issuer for reference: %s" % mi.group(1)])
                self.sign_intermediate(mount, body)
                return
            m = re.fullmatch(r"(?:issuer/([^/]+)/)?sign/([^/]+)", sub)
            if m:
                self.require_method(("POST", "PUT"))
                body = self.json_body()
                self.authenticate(rel)
                ref = m.group(1)
                if ref is not None and ref not in ("default", st.cfg["pki"][mount]["issuer"]["name"]):
                    raise HTTPError(400, ["unable to find PKI issuer for reference: %s" % ref])
                self.sign(mount, m.group(2), body)
                return
            if sub in ("ca_chain", "cert/ca_chain", "ca/pem", "ca"):
                self.require_method(("GET",))
                self.read_ca(mount, sub)
                return
        # Unknown path: Vault checks the token (ACL) before routing, so an unauthenticated or
        # badly authenticated request gets 403; an authorised one gets 404 with no message.
        self.authenticate(rel)
        raise HTTPError(404, [])

    def ns_mismatch(self):
        # Documented choice: a missing, wrong or unknown namespace is answered like an ACL
        # failure (403 "permission denied"), because Vault checks the token's policy before
        # routing and the mounts/tokens only exist in the configured namespace; no use is spent.
        with self.server.state.lock:
            self.server.state.stats["denied"] += 1
        return HTTPError(403, ["permission denied"])

    def require_method(self, allowed):
        if self.command not in allowed:
            raise HTTPError(405, ["unsupported operation"])

    def pki_route(self, rel):
        best = None
        for mount in self.server.state.cfg["pki"]:
            if rel.startswith(mount + "/") and (best is None or len(mount) > len(best)):
                best = mount
        if best is None:
            return None, None
        return best, rel[len(best) + 1:]

    # -- health --------------------------------------------------------------------------------
    def health(self, query):
        st = self.server.state
        q = parse_qs(query, keep_blank_values=True)

        def flag(name):
            if name not in q:
                return False
            v = q[name][-1]
            return v == "" or v.lower() in ("1", "t", "true")

        def code(name, default):
            if name not in q:
                return default
            try:
                c = int(q[name][-1])
            except ValueError:
                raise HTTPError(400, ["unable to parse %s parameter: %s" % (name, q[name][-1])])
            if c < 1:
                raise HTTPError(400, ["unable to parse %s parameter: invalid code" % name])
            return c

        with st.lock:
            init, sealed, standby = st.initialized, st.sealed, st.standby
            perf, dr = st.perf_standby, st.dr_secondary
        if not init:
            status = code("uninitcode", 501)
        elif sealed:
            status = code("sealedcode", 503)
        elif dr:
            status = code("drsecondarycode", 472)
        elif perf:
            status = 200 if flag("perfstandbyok") else code("performancestandbycode", 473)
        elif standby:
            status = 200 if flag("standbyok") else code("standbycode", 429)
        else:
            status = code("activecode", 200)
        body = {"initialized": init, "sealed": sealed or not init, "standby": standby or perf,
                "performance_standby": perf, "replication_performance_mode": "disabled",
                "replication_dr_mode": "secondary" if dr else "disabled",
                "server_time_utc": int(st.now()), "version": VERSION,
                "enterprise": bool(st.cfg["namespace"])}
        if init and not sealed:
            body["cluster_name"] = "vault-cluster-fake"
            body["cluster_id"] = st.cluster_id
        self.send_json(status, body)

    # -- tokens --------------------------------------------------------------------------------
    def authenticate(self, rel):
        """Checks the token, spends one use, enforces the role's allowed paths."""
        st = self.server.state
        tok = self.headers.get("X-Vault-Token")
        if not tok:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                tok = auth[len("Bearer "):].strip()
        with st.lock:
            rec = st.tokens.get(tok) if tok else None
            now = st.now()
            if rec is None or not st.alive(rec, now):
                st.stats["denied"] += 1
                if not tok:
                    raise HTTPError(403, ["permission denied"])
                raise permission_denied()
            if rec["namespace"] != st.cfg["namespace"]:
                raise permission_denied()
            self_path = rel.startswith("auth/token/") and rel.endswith("-self")
            if not self_path and not any(glob_match(g, rel) for g in rec["allowed_paths"]):
                st.stats["denied"] += 1
                raise HTTPError(403, ["permission denied"])
            if rec["num_uses"] > 0:
                # Each call spends one use; the call that spends the last one still succeeds
                # and the token is revoked right after it (lookup-self spends one too:
                # hashicorp/vault#10664).
                rec["num_uses"] -= 1
                if rec["num_uses"] == 0:
                    # Vault marks a used-up token with num_uses -1 (vault/token_store.go
                    # UseToken), so a lookup-self that spent the last use reports -1, not 0
                    # (which would read as "unlimited").
                    rec["num_uses"] = -1
                    rec["revoked"] = True
            return tok, rec

    def login(self, mount):
        st = self.server.state
        body = self.json_body()
        try:
            role_id = to_str(body.get("role_id", ""), "role_id").strip()
            secret_id = to_str(body.get("secret_id", ""), "secret_id").strip()
        except FieldError as e:
            raise HTTPError(400, [str(e)])
        with st.lock:
            if not role_id:
                st.stats["login_failures"] += 1
                raise HTTPError(400, ["missing role_id"])
            role = next((r for r in st.cfg["approle"][mount].values() if r["role_id"] == role_id), None)
            if role is None:
                st.stats["login_failures"] += 1
                raise HTTPError(400, ["invalid role or secret ID"])
            meta = {}
            if role["bind_secret_id"]:
                if not secret_id:
                    st.stats["login_failures"] += 1
                    raise HTTPError(400, ["missing secret_id"])
                entry = role["secret_ids"].get(secret_id)
                if entry is None:
                    st.stats["login_failures"] += 1
                    raise HTTPError(400, ["invalid role or secret ID"])
                if entry["num_uses"] > 0:
                    entry["num_uses"] -= 1
                    if entry["num_uses"] == 0:
                        del role["secret_ids"][secret_id]
                meta = dict(entry["metadata"])
            meta["role_name"] = role["name"]
        self.issue_token(role, mount, meta, "approle", self.unknown_fields(body, ("role_id", "secret_id")))

    def issue_token(self, role, mount, meta, mount_type, warnings):
        """A new token for a login through role on mount; answers the login."""
        st = self.server.state
        with st.lock:
            now = st.now()
            cfg = st.cfg
            ttl = role["token_ttl"] or cfg["default_lease_ttl"]
            max_ttl = role["token_max_ttl"] or cfg["max_lease_ttl"]
            ttl = min(ttl, max_ttl)
            batch = role["token_type"] == "batch"
            tok = rand_token("hvb." if batch else "hvs.", 90 if batch else 24)
            policies = sorted(set(["default"] + list(role["token_policies"])))
            rec = {"accessor": "" if batch else rand_token("", 24), "type": role["token_type"],
                   "policies": policies, "created": now, "ttl": ttl, "max_ttl": max_ttl,
                   "expire": now + ttl, "num_uses": 0 if batch else int(role["token_num_uses"]),
                   "renewable": (not batch) and bool(role["renewable"]), "role": role, "mount": mount,
                   "namespace": cfg["namespace"], "revoked": False, "allowed_paths": role["allowed_paths"],
                   "meta": meta, "entity_id": role["entity_id"], "path": "auth/%s/login" % mount,
                   "orphan": True, "creation_ttl": ttl}
            st.add_token(tok, rec)
            st.stats["logins"] += 1
            st.stats["tokens_issued"] += 1
        # auth.num_uses is the role's token_num_uses (Vault's HTTPAuth.NumUses); a server that
        # predates the field is emulated with /_fake/state {"login_num_uses": false}.
        auth = {"client_token": tok, "accessor": rec["accessor"], "policies": policies,
                "token_policies": policies, "metadata": meta, "lease_duration": int(ttl),
                "renewable": rec["renewable"], "entity_id": rec["entity_id"],
                "token_type": rec["type"], "orphan": True, "mfa_requirement": None,
                "num_uses": rec["num_uses"]}
        if not st.login_num_uses:
            del auth["num_uses"]
        self.send_json(200, {
            "request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": 0,
            "data": None, "wrap_info": None, "warnings": warnings,
            "auth": auth, "mount_type": mount_type})

    def cert_login(self, mount):
        """TLS certificate auth (builtin/credential/cert): the connection's client certificate
        must chain to the CA of the role named by "name", or of any role when name is empty."""
        st = self.server.state
        body = self.json_body()
        try:
            name = to_str(body.get("name", ""), "name")
        except FieldError as e:
            raise HTTPError(400, [str(e)])
        der = None
        if isinstance(self.connection, ssl.SSLSocket):
            der = self.connection.getpeercert(binary_form=True)
        if not der:
            with st.lock:
                st.stats["login_failures"] += 1
            raise HTTPError(400, ["client certificate must be supplied"])
        roles = st.cfg["cert"][mount]
        candidates = [roles[name]] if name in roles else ([] if name else list(roles.values()))
        pem = ssl.DER_cert_to_PEM_cert(der)
        role = next((r for r in candidates if cert_chains_to(pem, r["ca_file"])), None)
        if role is None:
            with st.lock:
                st.stats["login_failures"] += 1
            raise HTTPError(400, ["invalid certificate or no client certificate supplied"])
        info = cert_info(pem)
        with st.lock:
            st.stats["cert_logins"] += 1
            st.cert_cns.append(rdn_value(info["subject"], "CN") or "")
            del st.cert_cns[:-MAX_SIGN_BODIES]
        meta = {"cert_name": role["name"], "common_name": rdn_value(info["subject"], "CN") or ""}
        self.issue_token(role, mount, meta, "cert", self.unknown_fields(body, ("name",)))

    def kubernetes_login(self, mount):
        """Kubernetes auth: {role, jwt}; the JWT must be the one the mount accepts (a stand-in for
        the TokenReview a real Vault makes). Every JWT sent is recorded for the tests."""
        st = self.server.state
        body = self.json_body()
        try:
            role_name = to_str(body.get("role", ""), "role")
            jwt = to_str(body.get("jwt", ""), "jwt")
        except FieldError as e:
            raise HTTPError(400, [str(e)])
        mc = st.cfg["kubernetes"][mount]
        with st.lock:
            st.kube_jwts.append(jwt)
            del st.kube_jwts[:-MAX_SIGN_BODIES]
            if not role_name:
                st.stats["login_failures"] += 1
                raise HTTPError(400, ["missing role"])
            if not jwt:
                st.stats["login_failures"] += 1
                raise HTTPError(400, ["missing jwt"])
            role = mc["roles"].get(role_name)
            if role is None:
                st.stats["login_failures"] += 1
                raise HTTPError(400, ['invalid role name "%s"' % role_name])
            if mc["jwt"]:
                accepted = secrets.compare_digest(jwt.encode(), mc["jwt"].encode())
            else:
                accepted = jwt_binds(jwt, role)
            if not accepted:
                st.stats["login_failures"] += 1
                st.stats["denied"] += 1
                raise HTTPError(403, ["permission denied"])
            st.stats["kubernetes_logins"] += 1
        meta = {"role": role_name, "service_account_name": "ember"}
        self.issue_token(role, mount, meta, "kubernetes", self.unknown_fields(body, ("role", "jwt")))

    def unknown_fields(self, body, known):
        extra = sorted(k for k in body if k not in known)
        if not extra:
            return None
        return ["Endpoint ignored these unrecognized parameters: " + go_list(extra)]

    def lookup_self(self, tok, rec, body):
        st = self.server.state
        with st.lock:
            now = st.now()
            ttl = 0 if rec["expire"] is None else max(0, int(rec["expire"] - now))
            data = {"accessor": rec["accessor"], "creation_time": int(rec["created"]),
                    "creation_ttl": int(rec["creation_ttl"]), "display_name": "approle" if rec["role"] else "token",
                    "entity_id": rec["entity_id"],
                    "expire_time": None if rec["expire"] is None else go_rfc3339nano(rec["expire"]),
                    "explicit_max_ttl": 0, "id": tok, "issue_time": go_rfc3339nano(rec["created"]),
                    "meta": rec["meta"], "num_uses": rec["num_uses"], "orphan": rec["orphan"],
                    "path": rec["path"], "policies": rec["policies"], "renewable": rec["renewable"],
                    "ttl": ttl, "type": rec["type"]}
        self.send_json(200, {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
                             "lease_duration": 0, "data": data, "wrap_info": None, "warnings": None,
                             "auth": None, "mount_type": "token"})

    def renew_self(self, tok, rec, body):
        st = self.server.state
        try:
            inc = parse_duration_second(body.get("increment", 0), "increment")
        except FieldError as e:
            raise HTTPError(400, [str(e)])
        warnings = []
        with st.lock:
            if rec["type"] == "batch":
                raise HTTPError(400, ["batch tokens cannot be renewed"])
            if not rec["renewable"]:
                raise HTTPError(400, ["lease is not renewable"])
            now = st.now()
            base = rec["role"]["token_ttl"] if rec["role"] else rec["creation_ttl"]
            ttl = inc if inc > 0 else (base or st.cfg["default_lease_ttl"])
            remaining_max = rec["created"] + rec["max_ttl"] - now
            if ttl > remaining_max:
                warnings.append('TTL of "%s" exceeded the effective max_ttl of "%s"; TTL value is capped accordingly'
                                % (go_duration(ttl), go_duration(max(0, remaining_max))))
                ttl = max(0, int(remaining_max))
            rec["expire"] = now + ttl
            st.stats["renewals"] += 1
        self.send_json(200, {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
                             "lease_duration": 0, "data": None, "wrap_info": None,
                             "warnings": warnings or None,
                             "auth": {"client_token": tok, "accessor": rec["accessor"], "policies": rec["policies"],
                                      "token_policies": rec["policies"], "metadata": rec["meta"],
                                      "lease_duration": int(ttl), "renewable": rec["renewable"],
                                      "entity_id": rec["entity_id"], "token_type": rec["type"],
                                      "orphan": rec["orphan"], "mfa_requirement": None, "num_uses": rec["num_uses"]},
                             "mount_type": "token"})

    def revoke_self(self, tok, rec, body):
        st = self.server.state
        with st.lock:
            if rec["type"] == "batch":
                raise HTTPError(400, ["batch tokens cannot be revoked"])
            rec["revoked"] = True
            st.stats["revocations"] += 1
        self.send_json(204, None)

    # -- PKI -----------------------------------------------------------------------------------
    def read_ca(self, mount, sub):
        issuer = self.server.state.cfg["pki"][mount]["issuer"]
        chain = [issuer["pem"]] + issuer["chain"]
        if sub == "ca_chain":
            body = "\n".join(chain).encode()
            ctype = "application/pem-file"
        elif sub == "ca/pem":
            body = issuer["pem"].encode()
            ctype = "application/pem-file"
        elif sub == "ca":
            body = ssl.PEM_cert_to_DER_cert(issuer["pem"])
            ctype = "application/pkix-cert"
        else:
            self.send_json(200, {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
                                 "lease_duration": 0, "data": {"certificate": "\n".join(chain), "revocation_time": 0},
                                 "wrap_info": None, "warnings": None, "auth": None})
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.status_sent = 200

    SIGN_FIELDS = ("csr", "common_name", "alt_names", "ip_sans", "uri_sans", "other_sans", "ttl", "format",
                   "private_key_format", "exclude_cn_from_sans", "not_after", "remove_roots_from_chain",
                   "serial_number", "user_ids", "issuer_ref", "cert_metadata")

    def sign(self, mount, role_name, body):
        st = self.server.state
        with st.lock:
            rec = {k: body[k] for k in body if k != "csr"}
            rec["csr_len"] = len(body.get("csr", "")) if isinstance(body.get("csr"), str) else None
            rec["path"] = "%s/sign/%s" % (mount, role_name)
            st.sign_bodies.append(rec)
            del st.sign_bodies[:-MAX_SIGN_BODIES]
        try:
            resp = self.sign_inner(mount, role_name, body)
        except FieldError as e:
            resp = HTTPError(400, [str(e)])
        if isinstance(resp, HTTPError):
            with st.lock:
                st.stats["sign_failures"] += 1
            raise resp
        with st.lock:
            st.stats["signs"] += 1
        self.send_json(200, resp)

    def sign_inner(self, mount, role_name, body):
        pki = self.server.state.cfg["pki"][mount]
        role = pki["roles"].get(role_name)
        issuer = pki["issuer"]
        if role is None:
            return HTTPError(400, ["unknown role: %s" % role_name])
        fmt, err = answer_format(body)
        if err:
            return err
        csr_text = to_str(body.get("csr", ""), "csr")
        common_name = to_str(body.get("common_name", ""), "common_name")
        alt_names = to_str(body.get("alt_names", ""), "alt_names")
        ip_sans = to_comma_slice(body.get("ip_sans"), "ip_sans")
        uri_sans = to_comma_slice(body.get("uri_sans"), "uri_sans")
        ttl_req = parse_duration_second(body.get("ttl", 0), "ttl")
        exclude_cn = to_bool(body.get("exclude_cn_from_sans", False), "exclude_cn_from_sans")
        remove_roots = to_bool(body.get("remove_roots_from_chain", False), "remove_roots_from_chain")
        not_after_req = to_str(body.get("not_after", ""), "not_after")
        warnings = []

        if csr_text == "":
            return HTTPError(400, ['"csr" is empty'])
        kind, block = first_pem_block(csr_text)
        if block is None:
            return HTTPError(400, ["csr contains no data"])
        if kind not in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"):
            return HTTPError(400, ["certificate request could not be parsed: x509: malformed certificate request"])
        csr, err = parse_csr(block)
        if err:
            return HTTPError(400, [err])

        # Key type (sign_cert.go).
        kt, kb = csr["key_type"], csr["key_bits"]
        if kt not in ("rsa", "ec", "ed25519"):
            return HTTPError(400, ["Refusing to sign CSR with empty PublicKey. This usually means the SubjectPublicKeyInfo "
                                   "field has an OID not recognized by Go, such as 1.2.840.113549.1.1.10 for rsaPSS."])
        min_bits = role["key_bits"]
        if role["key_type"] == "any":
            if kt == "rsa" and kb < 2048:
                return HTTPError(400, ["RSA keys < 2048 bits are unsafe and not supported"])
            min_bits = {"rsa": 2048, "ec": 224}.get(kt, 0)
        elif kt != role["key_type"]:
            return HTTPError(400, ["role requires keys of type %s" % role["key_type"]])
        if kt in ("rsa", "ec") and kb < min_bits:
            return HTTPError(400, ["role requires a minimum of a %d-bit key, but CSR's key is %d bits" % (min_bits, kb)])
        if kt == "rsa" and kb < 2048:
            return HTTPError(400, ["Vault requires a minimum of a 2048-bit key, but CSR's key is %d bits" % kb])

        # Names (issue_common.go GenerateCreationBundle).
        cn = csr["cn"] if role["use_csr_common_name"] else ""
        if cn == "":
            cn = common_name
            if cn == "" and role["require_cn"]:
                return HTTPError(400, ['the common_name field is required, or must be provided in a CSR with '
                                       '"use_csr_common_name" set to true, unless "require_cn" is set to false'])
        dns, emails = [], []
        if role["use_csr_sans"]:
            dns, emails = list(csr["dns"]), list(csr["emails"])
        if cn and not exclude_cn:
            if "@" in cn:
                emails.append(cn)
            else:
                conv = idna_to_ascii(cn)
                if conv is None:
                    return HTTPError(400, ['idna: invalid label "%s"' % cn])
                if WILD_HOST_RE.match(conv):
                    dns.append(conv)
        if not role["use_csr_sans"] and alt_names:
            for v in sorted(set(x.strip() for x in alt_names.split(",") if x.strip())):
                if "@" in v:
                    emails.append(v)
                else:
                    conv = idna_to_ascii(v)
                    if conv is None:
                        return HTTPError(400, ['idna: invalid label "%s"' % v])
                    if WILD_HOST_RE.match(conv):
                        dns.append(conv)
                    else:
                        return HTTPError(400, ["subject alternate name %s is not a valid DNS name and cannot be "
                                               "included as a SAN" % v])
        if cn:
            bad = validate_common_name(role, cn)
            if bad:
                return HTTPError(400, ["common name %s not allowed by this role" % bad])
        bad = validate_names(role, dns)
        if bad:
            return HTTPError(400, ["subject alternate name %s not allowed by this role" % bad])
        bad = validate_names(role, emails)
        if bad:
            return HTTPError(400, ["email address %s not allowed by this role" % bad])
        ips = []
        if role["use_csr_sans"]:
            if csr["ips"]:
                if not role["allow_ip_sans"]:
                    return HTTPError(400, ["IP Subject Alternative Names are not allowed in this role, but was provided some via CSR"])
                ips = list(csr["ips"])
        elif ip_sans:
            if not role["allow_ip_sans"]:
                return HTTPError(400, ["IP Subject Alternative Names are not allowed in this role, but was provided %s"
                                       % go_list(ip_sans)])
            for v in ip_sans:
                try:
                    ips.append(str(ipaddress.ip_address(v)))
                except ValueError:
                    return HTTPError(400, ['the value "%s" is not a valid IP address' % v])
        uris = []
        if role["use_csr_sans"]:
            if csr["uris"]:
                if not role["allowed_uri_sans"]:
                    return HTTPError(400, ["URI Subject Alternative Names are not allowed in this role, but were provided via CSR"])
                for u in csr["uris"]:
                    if not any(glob_match(g, u) for g in role["allowed_uri_sans"]):
                        return HTTPError(400, ["URI Subject Alternative Names were provided via CSR which are not valid for this role"])
                uris = list(csr["uris"])
        elif uri_sans:
            if not role["allowed_uri_sans"]:
                return HTTPError(400, ["URI Subject Alternative Names are not allowed in this role, but were provided via the API"])
            for u in uri_sans:
                if not any(glob_match(g, u) for g in role["allowed_uri_sans"]):
                    return HTTPError(400, ["URI Subject Alternative Names were provided via the API which are not valid for this role"])
            uris = uri_sans

        # Other SANs: from the CSR with use_csr_sans, else from other_sans; then the role.
        if role["use_csr_sans"]:
            others = list(csr["other_sans"])
        else:
            others = parse_other_sans(to_comma_slice(body.get("other_sans"), "other_sans"))
        if others:
            bad = other_sans_refused(role, others)
            if bad:
                return HTTPError(400, [bad])
        # serialNumber: the API's, else the CSR's (issue_common.go), within allowed_serial_numbers.
        rid_serial = to_str(body.get("serial_number", ""), "serial_number") or csr["serial_number"]
        if rid_serial and not any(a and glob_match(a, rid_serial) for a in role["allowed_serial_numbers"]):
            return HTTPError(400, ['serial_number "%s" not allowed by this role' % rid_serial])

        # Lifetime (GetCertificateNotAfter).
        st = self.server.state
        now = time.time()  # certificates use the real clock; /_fake/clock only ages tokens
        if ttl_req > 0 and not_after_req:
            return HTTPError(400, ["Either ttl or not_after should be provided. Both should not be provided in the same request."])
        ttl = ttl_req or role["ttl"] or st.cfg["default_lease_ttl"]
        max_ttl = role["max_ttl"] or st.cfg["max_lease_ttl"]
        if ttl > max_ttl:
            warnings.append('TTL "%s" is longer than permitted maxTTL "%s", so maxTTL is being used'
                            % (go_duration(ttl), go_duration(max_ttl)))
            ttl = max_ttl
        if not_after_req:
            try:
                not_after = datetime.datetime.strptime(not_after_req, "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
            except ValueError:
                return HTTPError(400, ['parsing time "%s" as "2006-01-02T15:04:05Z07:00": cannot parse' % not_after_req])
        else:
            not_after = now + ttl
        ca_after = issuer["info"]["not_after"]
        if not_after > ca_after:
            b = issuer["leaf_not_after_behavior"]
            if b == "truncate":
                not_after = ca_after
            elif b == "err":
                return HTTPError(400, ["cannot satisfy request, as TTL would result in notAfter of %s that is beyond "
                                       "the expiration of the CA certificate at %s"
                                       % (go_rfc3339nano(not_after), go_rfc3339nano(ca_after))])
        not_before = now - role["not_before_duration"]
        if not_after < not_before:
            return HTTPError(400, ["notAfter before notBefore"])
        if issuer["check_signer_not_before"] and not_before < issuer["info"]["not_before"]:
            return HTTPError(400, ["notBefore before signer's notBefore"])

        if not csr["sig_ok"]:
            return HTTPError(400, ["request signature invalid"])
        if csr["basic_constraints"]:
            warnings.append("specified CSR contained a Basic Constraints extension that was ignored during issuance")

        # As Vault: the subject's C, ST, L, street, postalCode, O and OU come from the role only
        # (never the CSR), each list without empty entries or duplicates (compared trimmed,
        # the first spelling kept); then the CN and the serialNumber.
        subject = ""
        for attr, key in (("C", "country"), ("ST", "province"), ("L", "locality"), ("street", "street_address"),
                          ("postalCode", "postal_code"), ("O", "organization"), ("OU", "ou")):
            seen = set()
            for v in role[key]:
                if v.strip() == "" or v.strip() in seen:
                    continue
                seen.add(v.strip())
                subject += "/%s=%s" % (attr, subj_escape(v))
        if cn:
            subject += "/CN=" + subj_escape(cn)
        if rid_serial:
            subject += "/serialNumber=" + subj_escape(rid_serial)
        if not subject:
            subject = "/"
        sans = (["DNS:" + d for d in sorted(set(dns))] + ["email:" + e for e in sorted(set(emails))] +
                ["IP:" + i for i in ips] + ["URI:" + u for u in uris] +
                ["otherName:%s;UTF8:%s" % (o, v) for o, v in others])
        for s in sans:
            if any(c in s for c in ",\n\r"):
                return HTTPError(400, ['the provided Subject Alternative Name "%s" cannot be encoded' % s])
        try:
            cert, serial = sign_with_openssl(issuer, block, subject, sans, role, not_before, not_after)
        except RuntimeError as e:
            raise HTTPError(500, ["1 error occurred:\n\t* error signing/generating certificate: %s\n\n" % e])

        chain = [issuer["pem"]] + issuer["chain"]
        if remove_roots or issuer["remove_roots"]:
            chain = [c for c in chain if not issuer["self_signed"].get(c)]
        data = cert_data(fmt, cert, issuer["pem"], chain, chain)
        data.update({"expiration": int(not_after), "serial_number": serial})
        if role["use_csr_common_name"] and common_name:
            warnings.append('the common_name field was provided but the role is set with "use_csr_common_name" set to true')
        if role["use_csr_sans"] and alt_names:
            warnings.append('the alt_names field was provided but the role is set with "use_csr_sans" set to true')
        extra = self.unknown_fields(body, self.SIGN_FIELDS)
        if extra:
            warnings.extend(extra)
        lease = {"lease_id": "", "renewable": False, "lease_duration": 0}
        if role["generate_lease"]:
            lease = {"lease_id": "%s/sign/%s/%s" % (mount, role_name, uuid.uuid4()), "renewable": False,
                     "lease_duration": max(0, int(not_after - now))}
        out = {"request_id": str(uuid.uuid4())}
        out.update(lease)
        out.update({"data": data, "wrap_info": None, "warnings": warnings or None, "auth": None,
                    "mount_type": "pki"})
        return out


class Server(FakeServer):
    def __init__(self, addr, handler, state, tls_ctx):
        super().__init__(addr, handler, state, tls_ctx, SOCKET_TIMEOUT, MAX_CONNECTIONS, log)


def main():
    ap = argparse.ArgumentParser(description="strict fake HashiCorp Vault for Ember's integration tests")
    ap.add_argument("--config", required=True, help="JSON configuration file")
    ap.add_argument("--port", type=int, required=True, help="TCP port (0: the kernel picks one)")
    ap.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--tls-cert", help="PEM server certificate (chain) for HTTPS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--http", action="store_true", help="plain HTTP (benchmarks only)")
    ap.add_argument("--admin-token", default=os.environ.get("FAKE_VAULT_ADMIN_TOKEN", "fake-admin"),
                    help="value of the %s header the /_fake/ control endpoints require" % ADMIN_HEADER)
    ap.add_argument("--ready-file", help="file to write the listening port to once ready")
    ap.add_argument("--static-token", action="append", default=[],
                    help="TOKEN[:TTL[:renewable]]: a static token (repeatable)")
    ap.add_argument("--require-client-cert", metavar="CA",
                    help="every TLS connection must present a certificate this CA verifies")
    a = ap.parse_args()
    if a.http == bool(a.tls_cert or a.tls_key):
        ap.error("give either --tls-cert and --tls-key, or --http")
    if not a.http and not (a.tls_cert and a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    cfg = load_config(a.config)
    ctx = None
    if not a.http:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        # Required: only that CA verifies (Vault's tls_client_ca_file); else the cert mounts'.
        cas = [r["ca_file"] for roles in cfg["cert"].values() for r in roles.values()]
        if a.require_client_cert:
            cas = [a.require_client_cert]
        for ca in cas:
            ctx.load_verify_locations(ca)
        if a.require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
        elif cas:
            ctx.verify_mode = ssl.CERT_OPTIONAL
    elif a.require_client_cert or cfg["cert"]:
        ap.error("--require-client-cert and cert mounts need TLS")
    for spec in a.static_token:
        tok, _, rest = spec.partition(":")
        ttl, _, ren = rest.partition(":")
        if not tok or ren not in ("", "renewable"):
            ap.error("--static-token TOKEN[:TTL[:renewable]], not %r" % spec)
        cfg["tokens"][tok] = static_token_cfg({"ttl": ttl or 0, "renewable": ren == "renewable"})
    state = State(cfg, a.admin_token)
    srv = Server((a.bind, a.port), Handler, state, ctx)
    port = srv.server_address[1]
    scheme = "http" if a.http else "https"
    log("listening on %s://%s:%d (namespace %s)" % (scheme, a.bind, port, cfg["namespace"] or "none"))
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.ready_file)

    def stop(signum, frame):
        log("signal %d: shutting down" % signum)
        threading.Thread(target=srv.shutdown, daemon=True).start()

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
