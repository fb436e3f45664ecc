"""A tiny round-robin HTTP load balancer for the multi-node run (`make cluster`).

It plays the bank's load balancer in front of the web nodes: each request goes to the next
node in turn; a node that refuses the connection (restarting) is skipped and the request goes
to the next one, so a rolling restart costs no request. A request already handed to a node is
never sent twice: if that node fails before answering, the client gets a 502.

Like a real load balancer it adds the client's address to X-Forwarded-For (the app trusts the
right-most entry: TRUSTED_PROXY_IP_HEADER), and it keeps client connections alive while
opening a fresh one to the node for each request (`Connection: close`), so a node being
restarted never has a half-used connection of ours. It understands only what the run sends:
bodies with a Content-Length, no chunked uploads, no upgrades.

    python bench/cluster_proxy.py --listen 127.0.0.1:8800 --backend 127.0.0.1:8801 \
        --backend 127.0.0.1:8802 --drain-dir drain/

A rolling restart takes a node out of the rotation first, as with a real load balancer:
while a file named after it (`host:port`) exists in --drain-dir, it gets no new requests, and
the ones it is serving finish. A GET or HEAD that a node closes without answering (it was
stopping) is sent to the next node; anything else answers 502.

It prints one line per node with the requests it sent there when stopped (SIGTERM or SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from collections import Counter
from pathlib import Path

MAX_HEADER_BYTES = 64 * 1024
NODE_TIMEOUT_SECONDS = 60.0
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"}


class Balancer:
    def __init__(self, backends: list[tuple[str, int]], drain_dir: Path | None) -> None:
        self.backends = backends
        self.drain_dir = drain_dir
        self.turn = itertools.cycle(range(len(backends)))
        self.sent: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.failed = 0
        self.retried = 0

    async def open_next(self) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the next node that accepts one, or None when none does."""
        first = next(self.turn)
        for offset in range(len(self.backends)):
            host, port = self.backends[(first + offset) % len(self.backends)]
            name = f"{host}:{port}"
            if self.drain_dir is not None and (self.drain_dir / name).exists():
                continue
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), timeout=2
                )
            except (OSError, TimeoutError):
                self.skipped[name] += 1
                continue
            self.sent[name] += 1
            return name, reader, writer
        return None

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        peer = client_w.get_extra_info("peername")[0]
        try:
            while True:
                try:
                    head = await client_r.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                request_line, headers = parse_head(head)
                length = int(header(headers, b"content-length") or 0)
                body = await client_r.readexactly(length) if length else b""
                keep_alive = header(headers, b"connection").lower() != b"close"
                forwarded = header(headers, b"x-forwarded-for")
                out = [request_line]
                out += [
                    name + b": " + value
                    for name, value in headers
                    if name.lower() not in HOP_BY_HOP and name.lower() != b"x-forwarded-for"
                ]
                chain = (forwarded + b", " if forwarded else b"") + peer.encode()
                out += [b"X-Forwarded-For: " + chain, b"Connection: close"]
                idempotent = request_line.split(b" ", 1)[0] in (b"GET", b"HEAD")
                request = b"\r\n".join(out) + b"\r\n\r\n" + body
                response = await self.forward(request, retry=idempotent)
                status_line, response_headers, response_body = response
                framed = header(response_headers, b"content-length") or header(
                    response_headers, b"transfer-encoding"
                )
                keep_alive = keep_alive and bool(framed)
                back = [status_line]
                back += [
                    name + b": " + value
                    for name, value in response_headers
                    if name.lower() not in HOP_BY_HOP
                ]
                back.append(b"Connection: keep-alive" if keep_alive else b"Connection: close")
                client_w.write(b"\r\n".join(back) + b"\r\n\r\n" + response_body)
                await client_w.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            client_w.close()

    async def forward(
        self, request: bytes, *, retry: bool
    ) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
        for _ in range(len(self.backends) if retry else 1):
            raw = await self.send_once(request)
            if raw:
                break
            self.retried += 1
        if not raw:
            self.failed += 1
            return bad_gateway("the node closed the connection without an answer")
        head, separator, body = raw.partition(b"\r\n\r\n")
        if not separator:
            self.failed += 1
            return bad_gateway("the node's answer was cut short")
        status_line, headers = parse_head(head + b"\r\n\r\n")
        return status_line, headers, body

    async def send_once(self, request: bytes) -> bytes | None:
        """The raw answer of the next node; None if none accepted or it did not answer."""
        opened = await self.open_next()
        if opened is None:
            return None
        name, node_r, node_w = opened
        try:
            node_w.write(request)
            await node_w.drain()
            return await asyncio.wait_for(node_r.read(), timeout=NODE_TIMEOUT_SECONDS)
        except (OSError, TimeoutError):
            return None
        finally:
            node_w.close()


def parse_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key.lower() == name:
            return value
    return b""


def bad_gateway(reason: str) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    body = f"502 Bad Gateway: {reason}\n".encode()
    return (
        b"HTTP/1.1 502 Bad Gateway",
        [(b"Content-Type", b"text/plain"), (b"Content-Length", str(len(body)).encode())],
        body,
    )


def address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


async def serve(
    listen: tuple[str, int], backends: list[tuple[str, int]], drain_dir: Path | None
) -> Balancer:
    balancer = Balancer(backends, drain_dir)
    server = await asyncio.start_server(
        balancer.handle, listen[0], listen[1], limit=MAX_HEADER_BYTES, backlog=1024
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"proxy on {listen[0]}:{listen[1]} -> {', '.join(f'{h}:{p}' for h, p in backends)}")
    sys.stdout.flush()
    async with server:
        await stop.wait()
    return balancer


def main() -> int:
    parser = argparse.ArgumentParser(description="Round-robin HTTP proxy for make cluster.")
    parser.add_argument("--listen", type=address, required=True, help="host:port")
    parser.add_argument("--backend", type=address, action="append", required=True)
    parser.add_argument("--drain-dir", type=Path, help="nodes named by a file here get nothing")
    args = parser.parse_args()
    balancer = asyncio.run(serve(args.listen, args.backend, args.drain_dir))
    for name in sorted({*balancer.sent, *balancer.skipped}):
        print(
            f"proxy: {name} served {balancer.sent[name]} request(s), "
            f"skipped {balancer.skipped[name]} time(s) while down"
        )
    print(
        f"proxy: {balancer.retried} GET(s) sent again after a stopping node closed without "
        f"answering; {balancer.failed} request(s) answered 502 by the proxy"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
