"""The base of every local HTTP stand-in."""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no request log, and TCP_NODELAY: the handlers write headers
    and body separately, and with Nagle's algorithm on, the body waits for the peer's
    delayed ACK, adding 40 ms to every exchange."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass


class LoopbackServer(ThreadingHTTPServer):
    """A threaded server for many clients at once. The backlog must be a class attribute:
    `listen()` runs in the constructor, and with Python's default of 5 a crowd of
    connections overflows the accept queue and the overflow waits until it times out."""

    request_queue_size = 1024
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client gone mid-answer (a browser leaving the page, a process stopped mid-call)
        # is no error of the server's: no traceback for it.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)
