#!/usr/bin/env python3
"""slowloris.py -- a Slowloris against one of Ember's listeners on loopback, and a victim.

Attackers: from each address of --attackers, --per-address connections that send a request
line and then one header line every --line-every seconds, never the end of the headers (with
--tls, after a handshake; --raw of them per address never even start one). A connection the
server closes is opened again after a second, as an attacker would. Victim: from --victim, a
new connection every second that POSTs --body and must get 201. Everything stops after
--hold seconds. Writes a JSON summary to --out: what the victim got and how fast, what the
attackers' connections saw (an answer with its status and Retry-After, or a close without
one, and after how long), and the server's largest RSS (--pid).

Only loopback addresses (127.0.0.0/8); every loop is bounded by --hold."""
import argparse
import http.client
import json
import resource
import selectors
import socket
import ssl
import threading
import time

RECONNECT_S = 1.0


def loopback(addr):
    if not addr.startswith("127."):
        raise SystemExit(f"slowloris.py: {addr} is not a loopback address")
    return addr


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Conn:
    def __init__(self, src, raw):
        self.src, self.raw = src, raw
        self.sock = None
        self.opened = 0.0
        self.next_line = 0.0
        self.lines = 0
        self.got = b""


class Attack:
    def __init__(self, a):
        self.a = a
        self.sel = selectors.DefaultSelector()
        self.ctx = None
        if a.tls_ca:
            self.ctx = ssl.create_default_context(cafile=a.tls_ca)
        self.stats = {"opened": 0, "connect_failed": 0, "answered": 0, "answered_503": 0,
                      "retry_after": 0, "closed_unanswered_early": 0, "closed_unanswered": 0,
                      "lifetimes_unanswered": [], "statuses": {}}
        self.waiting = []  # (when, src, raw): connections to open again

    def open(self, src, raw):
        c = Conn(src, raw)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", self.a.port))
            if self.ctx is not None and not raw:
                s = self.ctx.wrap_socket(s, server_hostname="127.0.0.1")
            head = b"" if raw else (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % self.a.path.encode())
            if head:
                s.sendall(head)
            s.setblocking(False)
        except (OSError, ssl.SSLError):
            self.stats["connect_failed"] += 1
            s.close()
            self.waiting.append((time.monotonic() + RECONNECT_S, src, raw))
            return
        c.sock = s
        c.opened = time.monotonic()
        c.next_line = c.opened + self.a.line_every
        self.stats["opened"] += 1
        self.sel.register(s, selectors.EVENT_READ, c)

    def closed(self, c):
        self.sel.unregister(c.sock)
        c.sock.close()
        life = time.monotonic() - c.opened
        if c.got:
            self.stats["answered"] += 1
            head = c.got.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            status = head.split(" ")[1] if head.startswith("HTTP/1.") and " " in head else "?"
            self.stats["statuses"][status] = self.stats["statuses"].get(status, 0) + 1
            if status == "503":
                self.stats["answered_503"] += 1
                if "\r\nretry-after:" in head.lower():
                    self.stats["retry_after"] += 1
        elif life < 2.0:
            self.stats["closed_unanswered_early"] += 1
        else:
            self.stats["closed_unanswered"] += 1
            self.stats["lifetimes_unanswered"].append(round(life, 2))
        self.waiting.append((time.monotonic() + RECONNECT_S, c.src, c.raw))

    def readable(self, c):
        try:
            data = c.sock.recv(4096)
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except (OSError, ssl.SSLError):
            data = b""
        if data:
            if len(c.got) < 8192:
                c.got += data
            return
        self.closed(c)

    def tick(self, now):
        for key in list(self.sel.get_map().values()):
            c = key.data
            if c.raw or now < c.next_line:
                continue
            c.next_line = now + self.a.line_every
            c.lines += 1
            try:
                c.sock.send(b"X-Slow-%d: %d\r\n" % (c.lines, c.lines))
            except (ssl.SSLWantWriteError, BlockingIOError):
                pass
            except (OSError, ssl.SSLError):
                self.closed(c)
        due = [w for w in self.waiting if w[0] <= now]
        self.waiting = [w for w in self.waiting if w[0] > now]
        for _, src, raw in due:
            self.open(src, raw)

    def run(self, until):
        for src in self.a.attackers:
            for i in range(self.a.per_address):
                self.open(src, i < self.a.raw)
        while time.monotonic() < until:
            for key, _ in self.sel.select(timeout=0.2):
                self.readable(key.data)
            self.tick(time.monotonic())
        self.stats["open_at_end"] = len(self.sel.get_map())
        for key in list(self.sel.get_map().values()):
            key.data.sock.close()


def victim(a, until, out):
    ctx = ssl.create_default_context(cafile=a.tls_ca) if a.tls_ca else None
    with open(a.body, "rb") as f:
        body = f.read()
    lat, codes, ok = [], {}, 0
    time.sleep(a.victim_delay)
    while time.monotonic() < until - 2:
        t0 = time.monotonic()
        code = "error"
        try:
            if ctx is not None:
                c = http.client.HTTPSConnection("127.0.0.1", a.port, timeout=5,
                                                source_address=(a.victim, 0), context=ctx)
            else:
                c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=5,
                                               source_address=(a.victim, 0))
            c.request("POST", a.path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            code = str(r.status)
            c.close()
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            code = type(e).__name__
        dt = time.monotonic() - t0
        lat.append(round(dt, 3))
        codes[code] = codes.get(code, 0) + 1
        if code == "201" and dt <= 2.0:
            ok += 1
        time.sleep(max(0.0, 1.0 - dt))
    out["victim_codes"] = codes
    out["victim_latencies"] = lat
    out["victim_total"] = len(lat)
    out["victim_ok_2s"] = ok


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/v1/certificaterequests")
    p.add_argument("--attackers", default="127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6")
    p.add_argument("--per-address", type=int, default=150)
    p.add_argument("--raw", type=int, default=0, help="of them, connections that send nothing")
    p.add_argument("--hold", type=float, default=30)
    p.add_argument("--line-every", type=float, default=10)
    p.add_argument("--victim", default="127.0.0.7")
    p.add_argument("--victim-delay", type=float, default=2)
    p.add_argument("--body")
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--tls-ca")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    a.attackers = [loopback(x) for x in a.attackers.split(",") if x]
    loopback(a.victim)
    if a.hold > 120 or a.per_address > 1000:
        raise SystemExit("slowloris.py: --hold is at most 120 s, --per-address at most 1000")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(a.attackers) * a.per_address + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    out = {}
    until = time.monotonic() + a.hold
    rss = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.5):
            rss[0] = max(rss[0], rss_kib(a.pid)) if a.pid else 0

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    vt = None
    if a.body:
        vt = threading.Thread(target=victim, args=(a, until, out), daemon=True)
        vt.start()
    attack = Attack(a)
    attack.run(until)
    if vt is not None:
        vt.join(timeout=15)
    stop.set()
    sampler.join(timeout=2)
    lives = attack.stats["lifetimes_unanswered"]
    attack.stats["max_lifetime_unanswered"] = max(lives) if lives else 0
    out.update(attack.stats)
    out["rss_max_kib"] = rss[0]
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
