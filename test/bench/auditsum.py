#!/usr/bin/env python3
"""auditsum.py -- what one user asked of the kube-apiserver during a bench run (run.sh §8).

  auditsum.py AUDIT_LOG USER FROM TO [N]

Reads the API server's audit log (JSON lines, cluster.sh's policy: Metadata level, stage
ResponseComplete once a request is answered) and counts the requests of USER whose
requestReceivedTimestamp lies in [FROM, TO) (RFC 3339 with microseconds, UTC, as the audit log
writes them). Prints one JSON object:
  writes          create, update, patch, delete and deletecollection requests (any answer)
  writes_ok       ... of those answered 2xx
  writes_by       {"VERB RESOURCE[/SUBRESOURCE] CODE": count}, the writes broken down
  reads           get and list requests (watches are long-lived: counted apart)
  reads_by        {"VERB RESOURCE": count}
  watches         watch requests started
  per_request     writes / N (when N is given)
  peak_1s, peak_10s   most requests (writes and reads, not watches) in any 1 s / 10 s window:
                  a client-side limiter of QPS q and burst b allows at most b + q and
                  b + 10 q in them
  seconds         from the first to the last request counted
Python 3 standard library only.
"""

import collections
import datetime
import json
import sys

WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def ts(s):
    # 2026-01-01T00:00:00.123456Z
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def main():
    path, user, t_from, t_to = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    writes_by = collections.Counter()
    reads_by = collections.Counter()
    writes = writes_ok = reads = watches = 0
    times = []
    with open(path, errors="replace") as f:
        for line in f:
            if user not in line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("stage") != "ResponseComplete":
                continue
            if e.get("user", {}).get("username") != user:
                continue
            t = e.get("requestReceivedTimestamp", "")
            if not (t_from <= t < t_to):
                continue
            verb = e.get("verb", "")
            code = e.get("responseStatus", {}).get("code", 0)
            if verb == "watch":
                watches += 1
                continue
            times.append(ts(t))
            o = e.get("objectRef", {})
            res = o.get("resource", e.get("requestURI", "?").split("?")[0])
            if o.get("subresource"):
                res += "/" + o["subresource"]
            if verb in WRITES:
                writes += 1
                if 200 <= code < 300:
                    writes_ok += 1
                writes_by["%s %s %d" % (verb, res, code)] += 1
            elif verb in ("get", "list"):
                reads += 1
                reads_by["%s %s" % (verb, res)] += 1
    times.sort()

    def peak(w):
        best, j = 0, 0
        for i, t in enumerate(times):
            while times[j] <= t - w:
                j += 1
            best = max(best, i - j + 1)
        return best

    out = {"writes": writes, "writes_ok": writes_ok,
           "writes_by": dict(sorted(writes_by.items(), key=lambda kv: -kv[1])),
           "reads": reads, "reads_by": dict(sorted(reads_by.items(), key=lambda kv: -kv[1])),
           "watches": watches,
           "per_request": round(writes / n, 2) if n else None,
           "peak_1s": peak(1.0), "peak_10s": peak(10.0),
           "seconds": round(times[-1] - times[0], 1) if times else 0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
