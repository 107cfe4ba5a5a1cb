"""A finished export waiting in a temporary file, sent at whatever pace the client reads.

An export is produced whole inside its database snapshot, then the snapshot is closed and only
then is the file sent: a slow download never holds a transaction open (PostgreSQL ends
connections idle in a transaction past ``idle_in_transaction_session_timeout``, which would cut
the file after ``200 OK``), and an export that fails fails before its response starts. The file
stays in memory up to ``IN_MEMORY_BYTES`` and moves to disk beyond, so memory stays bounded for
a thread of any length.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from typing import IO

IN_MEMORY_BYTES = 1024 * 1024
READ_BYTES = 64 * 1024


def new_spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES, mode="w+b")


async def spool(chunks: AsyncIterator[bytes], into: IO[bytes]) -> int:
    """Writes every chunk into ``into``; its size in bytes."""
    size = 0
    async for chunk in chunks:
        into.write(chunk)
        size += len(chunk)
    return size


async def read_spooled(file: IO[bytes]) -> AsyncIterator[bytes]:
    """The file from its start, then closed (also when the reader stops early)."""
    try:
        file.seek(0)
        while chunk := file.read(READ_BYTES):
            yield chunk
    finally:
        file.close()
