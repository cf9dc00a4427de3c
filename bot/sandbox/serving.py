"""A stdlib HTTP server run in a daemon thread: what both sandbox servers share."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

log = logging.getLogger(__name__)


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1; writes whole answers; logs at DEBUG only."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (40 ms on Linux) on every kept-alive request.
    disable_nagle_algorithm = True

    def reply(self, status: int, content_type: str, body: bytes,
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("%s: the client left before the answer", type(self).__name__)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, type(self).__name__, *args)


class _Server(ThreadingHTTPServer):
    """Remembers its open connections, so stopping it also ends kept-alive ones (as a real
    server going down does) instead of letting their threads answer on."""

    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connections: set[socket.socket] = set()
        self._guard = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._guard:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class BackgroundServer:
    """A real HTTP server on a free port, served from a thread, for a stand-in."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str, port: int) -> None:
        self._server = _Server((host, port), handler)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        # A short poll interval keeps stop() quick (tests start and stop many servers).
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                         name=type(self).__name__).start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SoapStandIn(BackgroundServer):
    """A SOAP service stand-in: answers on `path`, serves its WSDL (`wsdl_text`) at
    `?wsdl` with the address rewritten to itself, as the real services publish theirs."""

    path = "/"
    wsdl_text = ""

    @property
    def endpoint(self) -> str:
        return self.base_url + self.path

    @property
    def wsdl_url(self) -> str:
        return self.endpoint + "?wsdl"

    def wsdl(self) -> bytes:
        return re.sub(r'(<soap:address location=")[^"]*(")', rf"\g<1>{self.endpoint}\g<2>",
                      self.wsdl_text).encode()

