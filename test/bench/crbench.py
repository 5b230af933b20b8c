#!/usr/bin/env python3
"""crbench.py -- drives the controller bench: against the fake API server (test/bench/run.sh §6)
and against a real kube-apiserver (§8, test/bench/e2e_bench.sh).

Creates CertificateRequests as cert-manager does (by default with the fake's token
tok-certmanager, in namespace default) and watches them the way cert-manager's own controller
would, recording for each request the time from just before its create call to the watch event
that shows it Ready=True. Python 3 standard library only.

  crbench.py burst    URL CACERT CR-TEMPLATE N CONNS [--patch STATUS-FILE]
  crbench.py steady   URL CACERT CR-TEMPLATE RATE SECONDS
  options: --token TOKEN | --token-file FILE   who creates and watches (default tok-certmanager)
           --namespace NS                      where (default default; the template's namespace
                                               is replaced)
           --ember-token TOKEN                 who makes the --patch writes (default tok-ember)

burst creates N requests over CONNS keep-alive connections as fast as the server takes them.
With --patch, each connection also makes, right after the create, the writes Ember makes for a
request (as tok-ember): one status merge patch with Approved, Ready, certificate and ca, and the
two Events Approved and Issued. That is the fake's own ceiling for the same writes, with no
issuer. steady creates RATE requests per second for SECONDS.
Every run ends when all requests are Ready or after a bound (60 s without progress, or
--max-seconds). Prints one JSON line: n, ready, seconds, rate, p50_ms, p99_ms, max_ms, and the
driver's own CPU time (driver_cpu_s: it shares the machine with the servers it drives).
"""

import argparse
import copy
import http.client
import json
import ssl
import sys
import threading
import time

NS = "default"
CR_PATH = "/apis/cert-manager.io/v1/namespaces/%s/certificaterequests" % NS
TOKEN = "tok-certmanager"


class Conn:
    """One keep-alive HTTPS connection with a bearer token; reconnects after an error."""

    def __init__(self, host, port, ctx, token):
        self.host, self.port, self.ctx, self.token = host, port, ctx, token
        self.c = None

    def call(self, method, path, body=None, ctype="application/json"):
        for attempt in range(3):
            try:
                if self.c is None:
                    self.c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
                hdrs = {"Authorization": "Bearer " + self.token}
                if body is not None:
                    hdrs["Content-Type"] = ctype
                self.c.request(method, path, body=body, headers=hdrs)
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (OSError, http.client.HTTPException):
                if self.c is not None:
                    self.c.close()
                self.c = None
                if attempt == 2:
                    raise
                time.sleep(0.05)
        raise RuntimeError("unreachable")


class Watcher(threading.Thread):
    """Watches every CertificateRequest and records when each one is first seen Ready=True."""

    def __init__(self, host, port, ctx):
        super().__init__(daemon=True)
        self.host, self.port, self.ctx = host, port, ctx
        self.ready = {}
        self.lock = threading.Lock()
        self.stop = False
        self.rv = None
        self.started = threading.Event()
        self.restarts = 0

    def run(self):
        conn = Conn(self.host, self.port, self.ctx, TOKEN)
        code, data = conn.call("GET", CR_PATH + "?limit=1")
        self.rv = json.loads(data)["metadata"]["resourceVersion"]
        while not self.stop:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=5)
            try:
                c.request("GET", CR_PATH + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=600"
                          "&resourceVersion=" + self.rv,
                          headers={"Authorization": "Bearer " + TOKEN})
                r = c.getresponse()
                self.started.set()
                if r.status != 200:
                    raise OSError("watch answered %d" % r.status)
                while not self.stop:
                    try:
                        line = r.readline()
                    except TimeoutError:
                        continue
                    if not line:
                        break
                    now = time.monotonic()
                    ev = json.loads(line)
                    obj = ev.get("object") or {}
                    if ev.get("type") == "ERROR":
                        # Expired: start over from now (the bench then waits for what it missed).
                        code, data = conn.call("GET", CR_PATH + "?limit=1")
                        self.rv = json.loads(data)["metadata"]["resourceVersion"]
                        break
                    self.rv = (obj.get("metadata") or {}).get("resourceVersion", self.rv)
                    if ev.get("type") not in ("ADDED", "MODIFIED"):
                        continue
                    for cond in (obj.get("status") or {}).get("conditions") or []:
                        if cond.get("type") == "Ready" and cond.get("status") == "True":
                            name = obj["metadata"]["name"]
                            with self.lock:
                                self.ready.setdefault(name, now)
            except (OSError, http.client.HTTPException, ValueError):
                time.sleep(0.1)
            finally:
                c.close()
            self.restarts += 1

    def count(self, names):
        with self.lock:
            return sum(1 for n in names if n in self.ready)


def percentile(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["burst", "steady"])
    ap.add_argument("url")
    ap.add_argument("cacert")
    ap.add_argument("template", help="a CertificateRequest (JSON) to copy, renamed per request")
    ap.add_argument("a", type=float, help="burst: N; steady: requests per second")
    ap.add_argument("b", type=float, help="burst: connections; steady: seconds")
    ap.add_argument("--patch", help="status JSON written by the driver itself (the ceiling)")
    ap.add_argument("--prefix", default="cr")
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--token", default="tok-certmanager", help="bearer token of the requester")
    ap.add_argument("--token-file", help="read the requester's token from this file")
    ap.add_argument("--ember-token", default="tok-ember", help="bearer token of the --patch writes")
    ap.add_argument("--namespace", default="default")
    args = ap.parse_args()
    global NS, CR_PATH, TOKEN
    NS = args.namespace
    CR_PATH = "/apis/cert-manager.io/v1/namespaces/%s/certificaterequests" % NS
    TOKEN = open(args.token_file).read().strip() if args.token_file else args.token

    hostport = args.url.split("://", 1)[1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    port = int(port)
    ctx = ssl.create_default_context(cafile=args.cacert)
    template = json.load(open(args.template))
    status = json.load(open(args.patch)) if args.patch else None

    if args.mode == "burst":
        n, conns = int(args.a), max(1, int(args.b))
    else:
        n, conns = int(args.a * args.b), 2
    names = ["%s-%06d" % (args.prefix, i) for i in range(n)]
    bodies = []
    for name in names:
        o = copy.deepcopy(template)
        o["metadata"]["name"] = name
        o["metadata"]["namespace"] = NS
        bodies.append(json.dumps(o, separators=(",", ":")).encode())
    created_at = [0.0] * n
    errors = []

    w = Watcher(host, port, ctx)
    w.start()
    if not w.started.wait(10):
        print(json.dumps({"error": "the watch did not start"}))
        return 1

    t0 = time.monotonic()

    def worker(idx):
        c = Conn(host, port, ctx, TOKEN)
        e = Conn(host, port, ctx, args.ember_token) if status else None
        for i in range(idx, n, conns):
            if args.mode == "steady":
                due = t0 + i / args.a
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
            created_at[i] = time.monotonic()
            code, data = c.call("POST", CR_PATH, bodies[i])
            if code != 201:
                errors.append("create %s: %d %s" % (names[i], code, data[:200]))
                continue
            if status:
                rv = json.loads(data)["metadata"]["resourceVersion"]
                p = {"metadata": {"resourceVersion": rv}, "status": status}
                code, data = e.call("PATCH", CR_PATH + "/" + names[i] + "/status",
                                    json.dumps(p, separators=(",", ":")).encode(),
                                    "application/merge-patch+json")
                if code != 200:
                    errors.append("patch %s: %d %s" % (names[i], code, data[:200]))
                    continue
                uid = json.loads(data)["metadata"]["uid"]
                for reason, msg in (("Approved", 'Approved by IssuancePolicy "web"'),
                                    ("Issued", "Succeeded signing the CertificateRequest")):
                    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    ev = {"apiVersion": "v1", "kind": "Event",
                          "metadata": {"name": "%s.%x" % (names[i], time.time_ns()), "namespace": NS},
                          "involvedObject": {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
                                             "name": names[i], "namespace": NS, "uid": uid},
                          "type": "Normal", "reason": reason, "message": msg,
                          "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
                          "source": {"component": "ember-issuer"}, "reportingComponent": "ember-issuer",
                          "reportingInstance": "bench"}
                    code, data = e.call("POST", "/api/v1/namespaces/%s/events" % NS,
                                        json.dumps(ev, separators=(",", ":")).encode())
                    if code != 201:
                        errors.append("event %s: %d %s" % (names[i], code, data[:200]))

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = time.monotonic()

    last, last_count = time.monotonic(), -1
    while True:
        k = w.count(names)
        if k == n - len(errors):
            break
        now = time.monotonic()
        if k != last_count:
            last, last_count = now, k
        if now - last > 60 or now - t0 > args.max_seconds:
            break
        time.sleep(0.05)
    w.stop = True
    with w.lock:
        lat = [(w.ready[nm] - created_at[i]) * 1000.0 for i, nm in enumerate(names) if nm in w.ready]
        end = max(w.ready.values()) if w.ready else time.monotonic()
    secs = end - t0
    out = {"mode": args.mode, "n": n, "ready": len(lat), "errors": len(errors),
           "first_error": errors[0] if errors else "", "seconds": round(secs, 3),
           "create_seconds": round(created - t0, 3),
           "rate": round(len(lat) / secs, 1) if secs > 0 else 0,
           "p50_ms": round(percentile(lat, 50), 1), "p99_ms": round(percentile(lat, 99), 1),
           "max_ms": round(max(lat), 1) if lat else 0, "watch_restarts": w.restarts,
           "driver_cpu_s": round(time.process_time(), 2)}
    print(json.dumps(out))
    return 0 if len(lat) == n else 1


if __name__ == "__main__":
    sys.exit(main())
