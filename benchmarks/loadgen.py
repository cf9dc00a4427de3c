"""The load generator: signed Slack requests over raw HTTP/1.1 keep-alive connections, from
a process of its own; and the trivial server that measures its floor.

Why not httpx or aiohttp's client: pointed at a server that answers at once, httpx measured
p99 over a second at 50 concurrent requests, so every server looked alike. Writing the request
bytes and reading the answer on asyncio streams costs tens of microseconds; the trivial
server (`serve_trivial`) shows what is left: the floor of this machine and this client.

Each request is signed when it is sent (`v0` HMAC-SHA256 over timestamp and body, as Slack
signs), so a request that waits for its turn is never stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import multiprocessing
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Shot:
    """One request to send: its kind (for per-kind figures), the body, and when to send it
    (seconds after the load starts; 0: as soon as a connection is free)."""

    kind: str
    body: bytes
    at: float = 0.0
    content_type: str = FORM


@dataclass(frozen=True)
class Answer:
    """One request the load generator sent, and how and when it was answered."""
    kind: str
    seconds: float      # from the first byte written to the last byte of the answer read
    status: int         # HTTP status; 0 when no answer came (refused, reset, timed out)
    body: bytes         # the answer's body when asked for (keep_bodies), else b""
    sent_at: float      # seconds after the load started


def sign(secret: bytes, stamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret, b"v0:" + stamp.encode() + b":" + body,
                            hashlib.sha256).hexdigest()


def _request(host: str, path: str, shot: Shot, secret: bytes) -> bytes:
    stamp = str(int(time.time()))
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {shot.content_type}\r\n"
            f"Content-Length: {len(shot.body)}\r\nX-Slack-Request-Timestamp: {stamp}\r\n"
            f"X-Slack-Signature: {sign(secret, stamp, shot.body)}\r\n\r\n")
    return head.encode() + shot.body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, the server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}
    keep = headers.get("connection", "").lower() != "close"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")  # the empty line after the last chunk
        return status, body, keep
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"])), keep
    return status, await reader.read(), False


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def fire(url: str, shots: list[Shot], *, secret: str, concurrency: int = 50,
               timeout_s: float = 30.0, keep_bodies: bool = False) -> list[Answer]:
    """Send every shot, `concurrency` at a time (one request per connection at a time, as
    many connections as workers, opened before the clock starts); one answer per shot, in
    the shots' order."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    key = secret.encode()
    answers: list[Answer | None] = [None] * len(shots)
    queue = iter(range(len(shots)))
    workers = max(1, min(concurrency, len(shots)))
    connections = [await _connect(host, port) for _ in range(workers)]
    start = time.perf_counter()

    async def worker(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None
                     ) -> None:
        for index in queue:
            shot = shots[index]
            if (wait := shot.at - (time.perf_counter() - start)) > 0:
                await asyncio.sleep(wait)
            if connection is None:
                connection = await _connect(host, port)
            reader, writer = connection
            sent = time.perf_counter()
            status, body, keep = 0, b"", False
            try:
                writer.write(_request(f"{host}:{port}", path, shot, key))
                status, body, keep = await asyncio.wait_for(_read_answer(reader), timeout_s)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                pass
            seconds = time.perf_counter() - sent
            answers[index] = Answer(shot.kind, seconds, status, body if keep_bodies else b"",
                                    sent - start)
            if not keep:
                writer.close()
                connection = None
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(worker(c) for c in connections))
    return [a for a in answers if a is not None]


# -- the generator's own process ----------------------------------------------------------

def _serve_load(conn: Connection) -> None:
    while True:
        message = conn.recv()
        if message is None:
            return
        url, shots, options = message
        try:
            conn.send(asyncio.run(fire(url, shots, **options)))
        except Exception as exc:  # never leave the parent waiting
            conn.send(f"{type(exc).__name__}: {exc}")


class LoadProcess:
    """The generator in a process of its own, kept for the whole benchmark (so its start-up
    is paid once); `fire` blocks until every answer is in."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve_load, args=(child,), daemon=True,
                                       name="load-generator")
        self.process.start()

    def fire(self, url: str, shots: list[Shot], **options: Any) -> list[Answer]:
        self._conn.send((url, shots, options))
        result = self._conn.recv()
        if isinstance(result, str):
            raise RuntimeError(f"the load generator failed: {result}")
        return list(result)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(10)


# -- the trivial server: the floor of this client on this machine ----------------------------

async def _trivial(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve_trivial(conn: Connection) -> None:
    """Answer every request `200 OK` with no body, keeping connections open; sends its port
    through `conn`, then serves until the process is ended."""
    async def run() -> None:
        server = await asyncio.start_server(_trivial, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(run())


class TrivialServer:
    """A server that answers every Slack request at once, in a process of its own: the floor the
    bot's acks are measured against."""
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self.process = context.Process(target=serve_trivial, args=(child,), daemon=True,
                                       name="trivial-server")
        self.process.start()
        self.url = f"http://127.0.0.1:{parent.recv()}/slack/events"

    def close(self) -> None:
        self.process.terminate()
        self.process.join(10)
