"""fakehttp.py -- the HTTP(S) server both fakes (fake_apiserver.py, fake_vault.py) run on,
behaving on the wire as the Go servers they stand for: a bounded number of connections, the TLS
handshake in the connection's own thread under a socket timeout, TCP_NODELAY, and a lingering
close after a request body that was not read (a 413), so the answer is not lost to a RST."""

import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer

LINGER_SECONDS = 0.5  # Go's net/http rstAvoidanceDelay


class FakeServer(ThreadingHTTPServer):
    """A handler that leaves a request body unread sets self.body_unread = True (and
    close_connection); the server then stops writing and drops what the client still sends for
    LINGER_SECONDS before closing."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, state, tls_ctx, socket_timeout, max_connections, log):
        self.state = state
        self.tls_ctx = tls_ctx
        self.socket_timeout = socket_timeout
        self.log = log
        self.conn_slots = threading.BoundedSemaphore(max_connections)
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        if not self.conn_slots.acquire(blocking=False):
            self.log("too many connections; closing one from %s" % client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.conn_slots.release()

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's thread, bounded by the socket
        # timeout, so a slow or silent client cannot stall the accept loop.
        request.settimeout(self.socket_timeout)
        # Headers and body go out as separate writes; Nagle plus the peer's delayed ACK would
        # otherwise hold the second one for ~40 ms (Go sets TCP_NODELAY on every connection).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = request
        h = None
        try:
            if self.tls_ctx is not None:
                conn = self.tls_ctx.wrap_socket(request, server_side=True)
            h = self.RequestHandlerClass(conn, client_address, self)
        except (ssl.SSLError, OSError) as e:
            self.log("connection from %s:%d ended: %s" % (client_address[0], client_address[1],
                                                           e.__class__.__name__))
        finally:
            if getattr(h, "body_unread", False):
                # On conn: wrap_socket detached request's descriptor. After SSLSocket.shutdown
                # the rest is read as plain bytes and dropped.
                try:
                    conn.shutdown(socket.SHUT_WR)
                    conn.settimeout(LINGER_SECONDS)
                    end = time.monotonic() + LINGER_SECONDS
                    while time.monotonic() < end and conn.recv(65536):
                        pass
                except OSError:
                    pass
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass
