"""A keep-alive HTTP/1.1 client on asyncio streams, for load benchmarks that share the machine
with the server: it spends a fraction of httpx's CPU per request, so more of the two cores are
left to the server whose latency the benchmark reports. GET only; no TLS, redirects or cookies
beyond the headers given; enough for the portal's own responses (Content-Length or chunked).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Response:
    status_code: int
    content: bytes


class RawClient:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._headers = {"Host": parts.netloc, "Connection": "keep-alive", **headers}
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        lines = [
            f"GET {path} HTTP/1.1",
            *(f"{k}: {v}" for k, v in {**self._headers, **(headers or {})}.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        fields = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)
        }
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = await _chunks(reader)
        else:
            body = await reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.aclose()
        return Response(status, body)

    async def aclose(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")  # the empty trailer
    return bytes(body)
