"""The base of every local HTTP stand-in."""

from http.server import BaseHTTPRequestHandler


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no request log, and TCP_NODELAY: the handlers write headers
    and body separately, and with Nagle's algorithm on, the body waits for the peer's
    delayed ACK, adding 40 ms to every exchange."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass
