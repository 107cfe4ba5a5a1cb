"""Where uploaded files' bytes live: local files under ``PORTAL_VAR_DIR/attachments`` (the
embedded default), or an S3-compatible store (``PORTAL_STORAGE_URL``) through boto3.

A file arrives as a spool file on local disk (written chunk by chunk while it was received,
hashed and sniffed there) and is handed to the store under a random key; it is read back in
chunks. Nothing here holds a whole file in memory. The blocking calls (file system, boto3) run
in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from portal.settings import Settings

CHUNK_BYTES: Final = 256 * 1024
_KEY_ALPHABET: Final = frozenset("0123456789abcdef")


def new_storage_key() -> str:
    """A random key (128 bits, hex): nothing of the file's name or content is in it."""
    return secrets.token_hex(16)


class StoredObjectMissing(Exception):
    """The store has no object under the key."""


class AttachmentStore(Protocol):
    @property
    def kind(self) -> str:
        """``local`` or ``s3``."""

    def spool(self) -> contextlib.AbstractContextManager[Path]:
        """A new local file to receive an upload into, removed when the block ends unless
        :meth:`put` moved it into the store."""

    async def put(self, key: str, spool: Path) -> None: ...

    def chunks(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    def presigned_url(
        self, key: str, *, seconds: int, content_disposition: str, content_type: str
    ) -> str | None:
        """A time-limited URL the client downloads from directly, or None (the app serves)."""


def _checked(key: str) -> str:
    if len(key) != 32 or not set(key) <= _KEY_ALPHABET:
        raise ValueError(f"not a storage key: {key!r}")
    return key


@contextlib.contextmanager
def _spool_in(directory: Path) -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    os.close(handle)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


async def _iterate_in_thread(iterator: Generator[bytes]) -> AsyncIterator[bytes]:
    done = object()
    try:
        while True:
            chunk = await asyncio.to_thread(next, iterator, done)
            if chunk is done:
                return
            assert isinstance(chunk, bytes)
            yield chunk
    finally:
        iterator.close()  # a reader that stopped early: the file or the connection is let go


@dataclass(frozen=True)
class LocalStore:
    """Files under ``root`` (``var/attachments``), two levels of directories by key prefix."""

    root: Path
    kind: str = "local"

    def path(self, key: str) -> Path:
        key = _checked(key)
        return self.root / key[:2] / key

    def spool(self) -> contextlib.AbstractContextManager[Path]:
        return _spool_in(self.root / ".incoming")

    async def put(self, key: str, spool: Path) -> None:
        target = self.path(key)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(spool, target)  # same file system: .incoming is under root
            target.chmod(0o600)

        await asyncio.to_thread(move)

    def _read(self, key: str) -> Generator[bytes]:
        try:
            handle = self.path(key).open("rb")
        except FileNotFoundError:
            raise StoredObjectMissing(key) from None
        with handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk

    def chunks(self, key: str) -> AsyncIterator[bytes]:
        return _iterate_in_thread(self._read(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    def presigned_url(
        self, key: str, *, seconds: int, content_disposition: str, content_type: str
    ) -> str | None:
        return None


class S3Store:
    """Objects in one bucket of an S3-compatible store. Uploads go in parts (boto3's managed
    transfer), downloads are read in chunks or handed out as presigned URLs."""

    kind = "s3"

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        *,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        spool_dir: Path,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.spool_dir = spool_dir
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def spool(self) -> contextlib.AbstractContextManager[Path]:
        return _spool_in(self.spool_dir)

    async def put(self, key: str, spool: Path) -> None:
        await asyncio.to_thread(self.client.upload_file, str(spool), self.bucket, _checked(key))

    def _read(self, key: str) -> Generator[bytes]:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=_checked(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise StoredObjectMissing(key) from None
            raise
        body = answer["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def chunks(self, key: str) -> AsyncIterator[bytes]:
        return _iterate_in_thread(self._read(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=_checked(key))

    def presigned_url(
        self, key: str, *, seconds: int, content_disposition: str, content_type: str
    ) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": _checked(key),
                "ResponseContentDisposition": content_disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=seconds,
        )
        return url


def attachment_store(settings: Settings) -> AttachmentStore:
    """The store the settings name (one per configuration and process)."""
    if settings.storage_url is None:
        return _local_store(settings.var_dir)
    return _s3_store(
        settings.storage_url,
        settings.storage_bucket,
        settings.storage_region,
        settings.storage_access_key_id,
        settings.storage_secret_access_key,
        settings.var_dir,
    )


@functools.lru_cache(maxsize=16)
def _local_store(var_dir: Path) -> LocalStore:
    return LocalStore(var_dir / "attachments")


@functools.lru_cache(maxsize=4)
def _s3_store(
    endpoint_url: str,
    bucket: str,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    var_dir: Path,
) -> S3Store:
    return S3Store(
        endpoint_url,
        bucket,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        spool_dir=var_dir / "attachments" / ".incoming",
    )
