"""Virus scanning of uploads through ClamAV's ``clamd`` (``PORTAL_CLAMD_URL``): the file is
streamed to it with the INSTREAM command over TCP or a unix socket, in chunks, and clamd says
``OK`` or names the signature it found."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from portal.errors import ServiceBusy

CHUNK_BYTES: Final = 256 * 1024
MAX_REPLY_BYTES: Final = 4096
RETRY_AFTER_SECONDS: Final = 30


@dataclass(frozen=True)
class Verdict:
    infected: bool
    signature: str | None = None


class ScannerUnavailable(ServiceBusy):
    """clamd could not be reached or did not give a verdict: the upload stays quarantined."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"the virus scanner is unavailable ({detail}); try again shortly", RETRY_AFTER_SECONDS
        )


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return await asyncio.open_unix_connection(parts.path)
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        return await asyncio.open_connection(parts.hostname, parts.port)
    raise ScannerUnavailable(f"PORTAL_CLAMD_URL {url!r} is not tcp://HOST:PORT or unix:///PATH")


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


async def scan_file(url: str, path: Path, *, timeout_seconds: float) -> Verdict:
    """clamd's verdict on the file at ``path``; ScannerUnavailable when there is none."""
    try:
        async with asyncio.timeout(timeout_seconds):
            reader, writer = await _connect(url)
            try:
                writer.write(b"zINSTREAM\0")
                async for chunk in _file_chunks(path):
                    writer.write(struct.pack("!L", len(chunk)) + chunk)
                    await writer.drain()
                writer.write(struct.pack("!L", 0))
                await writer.drain()
                reply = await reader.readuntil(b"\0")
            finally:
                writer.close()
    except TimeoutError:
        raise ScannerUnavailable(f"no verdict within {timeout_seconds:g} seconds") from None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise ScannerUnavailable(type(exc).__name__) from None
    return parse_reply(reply.rstrip(b"\0").decode("utf-8", "replace"))


def parse_reply(reply: str) -> Verdict:
    """``stream: OK`` or ``stream: <signature> FOUND``; anything else (``... ERROR``, such as
    a file over clamd's StreamMaxLength) gives no verdict."""
    _, _, result = reply.partition(": ")
    if result == "OK":
        return Verdict(infected=False)
    if result.endswith(" FOUND"):
        return Verdict(infected=True, signature=result.removesuffix(" FOUND")[:200])
    raise ScannerUnavailable(f"clamd answered {reply[:200]!r}")
