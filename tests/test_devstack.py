"""The local stand-ins themselves: what `make dev` prints is the function's, not theirs."""

import socket
import struct
import threading
import time

from devstack.quiet import LoopbackServer, QuietHandler


class Slow(QuietHandler):
    """Answers a body too large to leave before the client is gone."""

    def do_GET(self):
        time.sleep(0.3)
        self.send_response(200)
        self.send_header("Content-Length", str(10**7))
        self.end_headers()
        self.wfile.write(b"x" * 10**7)
        Slow.finished.set()

    finished = threading.Event()


def test_a_client_gone_mid_answer_prints_no_traceback(capfd):
    server = LoopbackServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = socket.create_connection(server.server_address)
        client.sendall(b"GET / HTTP/1.1\r\nHost: local\r\n\r\n")
        # Closed with a reset, as a browser drops a page it leaves.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        time.sleep(1.5)
        assert not Slow.finished.is_set(), "the answer went out whole: the client was not gone in time"
        assert "Traceback" not in capfd.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
