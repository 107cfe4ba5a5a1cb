"""Signed checkpoints of every audit chain's head, in the spirit of RFC 6962's signed tree heads.

Whoever holds the database can rewrite a chain and recompute every hash and its head row; the
chain alone cannot tell. A checkpoint is a signed statement, kept outside the database, of
where every chain stood at one moment: ``portal audit check --checkpoint`` then refuses a chain
that no longer reaches the checkpointed hash at the checkpointed position, a checkpointed chain
that is gone, and a chain the checkpoint does not list whose events are dated before it.

The file is RFC 8785 canonical JSON::

    {"checkpoint": {"format": "portal-audit-checkpoint/1", "created_at": "...",
                    "chains": [{"chain": "global", "position": 41, "hash": "…"}, …]},
     "signature": {"algorithm": "Ed25519", "public_key": "-----BEGIN PUBLIC KEY-----…",
                   "value": "<base64 of the signature over the canonical 'checkpoint' object>"}}
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import (
    contextmanager,
)
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import read_transaction, snapshot_transaction, write_transaction
from portal.models import AuditChainHead
from portal.models.base import utcnow
from portal.permissions import Capability, Who
from portal.services.compliance.chain import canonical, timestamp
from portal.services.compliance.signing import (
    ALGORITHM,
    load_private_key,
    sign,
    signature_valid,
)
from portal.settings import Settings

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT: Final = "portal-audit-checkpoint/1"
# How much older than a checkpoint an event may be and still have been committed after it (a
# transaction records its events' time before it commits): a chain the checkpoint does not list
# whose first event is older than this was fabricated or backdated.
COMMIT_GRACE: Final = timedelta(minutes=15)
FILE_PREFIX: Final = "checkpoint-"
MAX_CHECKPOINT_BYTES: Final = 1 << 30
BATCH: Final = 5000
_HASH = re.compile(r"[0-9a-f]{64}")


class CheckpointError(ValueError):
    """A checkpoint cannot be made, or a checkpoint file is not one this key signed."""


@dataclass(frozen=True)
class ChainHead:
    chain: str
    position: int
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    created_at: datetime
    heads: dict[str, ChainHead]

    @property
    def fabrication_cutoff(self) -> datetime:
        """An unlisted chain's first event dated before this did not appear after the
        checkpoint."""
        return self.created_at - COMMIT_GRACE


async def read_heads(session: AsyncSession) -> tuple[datetime, list[ChainHead]]:
    """Every chain's head in one snapshot, and the time it was taken."""
    heads: list[ChainHead] = []
    async with snapshot_transaction(session):
        query = select(AuditChainHead.chain_key, AuditChainHead.position, AuditChainHead.hash)
        rows = (await session.execute(query.order_by(AuditChainHead.chain_key).limit(BATCH))).all()
        taken_at = utcnow()  # the snapshot is the first statement's
        while rows:
            heads.extend(ChainHead(key, position, digest) for key, position, digest in rows)
            if len(rows) < BATCH:
                break
            after = query.where(AuditChainHead.chain_key > rows[-1][0])
            rows = (
                await session.execute(after.order_by(AuditChainHead.chain_key).limit(BATCH))
            ).all()
    # In code point order whatever the database's collation, so the file is the same anywhere.
    heads.sort(key=lambda head: head.chain)
    return taken_at, heads


def signed_part(taken_at: datetime, heads: list[ChainHead]) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "created_at": timestamp(taken_at),
        "chains": [
            {"chain": head.chain, "position": head.position, "hash": head.hash} for head in heads
        ],
    }


@dataclass(frozen=True)
class WrittenCheckpoint:
    path: Path
    created_at: datetime
    chains: int
    size: int


async def write_checkpoint(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Who,
    path_for: Callable[[datetime], Path],
) -> WrittenCheckpoint:
    """Signs a checkpoint of every chain's head and writes it, atomically, to
    ``path_for(its time)``; then records who made it (``audit.checkpointed``, in the global
    chain, after the snapshot it describes). A checkpoint that could not be written is not
    recorded."""
    if not settings.audit_signing_key:
        raise CheckpointError(
            "PORTAL_AUDIT_SIGNING_KEY is not set: a checkpoint must be signed to prove anything"
        )
    async with read_transaction(session):
        actor = await permissions.authorize(session, actor, Capability.CHECKPOINT)
    key = load_private_key(settings.audit_signing_key)
    taken_at, heads = await read_heads(session)
    signed = signed_part(taken_at, heads)
    data = canonical({"checkpoint": signed, "signature": sign(key, signed)})
    path = path_for(taken_at)
    await asyncio.to_thread(write_atomically, path, data)
    async with write_transaction(session):
        await record_event(
            session,
            actor=actor,
            action="audit.checkpointed",
            subject_type="audit_log",
            subject_id=None,
            details={"created_at": signed["created_at"], "chains": len(heads)},
        )
    return WrittenCheckpoint(path, taken_at, len(heads), len(data))


def write_atomically(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same directory, renamed into
    place: a reader never sees half a checkpoint."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
        _sync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    """Makes the rename itself durable, where the file system allows it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def checkpoint_file_name(at: datetime) -> str:
    """Sorts by time: ``checkpoint-20261206T104500.123456Z.json``."""
    return f"{FILE_PREFIX}{at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}.json"


def load_checkpoint(data: bytes, public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in ``data``, once its signature verifies with ``public_key``; otherwise
    CheckpointError saying what is wrong."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"not JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(document, dict) or set(document) != {"checkpoint", "signature"}:
        raise CheckpointError("not a checkpoint: expected exactly 'checkpoint' and 'signature'")
    signed, signature = document["checkpoint"], document["signature"]
    if not isinstance(signed, dict) or signed.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not a checkpoint: the format is not {CHECKPOINT_FORMAT!r}")
    if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
        raise CheckpointError(f"the signature is missing or not {ALGORITHM}")
    value = signature.get("value")
    if not isinstance(value, str) or not signature_valid(public_key, signed, value):
        raise CheckpointError("the signature does not verify with the given public key")
    return Checkpoint(created_at=_created_at(signed), heads=_heads(signed.get("chains")))


def _created_at(signed: dict[str, Any]) -> datetime:
    raw = signed.get("created_at")
    try:
        created_at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        created_at = None
    if created_at is None or created_at.tzinfo is None:
        raise CheckpointError(f"created_at {raw!r} is not a time with a zone")
    return created_at


def _heads(chains: Any) -> dict[str, ChainHead]:
    if not isinstance(chains, list):
        raise CheckpointError("'chains' is not a list")
    heads: dict[str, ChainHead] = {}
    for index, entry in enumerate(chains):
        if not isinstance(entry, dict):
            raise CheckpointError(f"chains[{index}] is not an object")
        chain, position, digest = entry.get("chain"), entry.get("position"), entry.get("hash")
        if not isinstance(chain, str) or not chain:
            raise CheckpointError(f"chains[{index}]: 'chain' is not a name")
        if type(position) is not int or position < 0:
            raise CheckpointError(f"chains[{index}] ({chain}): 'position' is not a position")
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise CheckpointError(f"chains[{index}] ({chain}): 'hash' is not a SHA-256 in hex")
        if chain in heads:
            raise CheckpointError(f"chain {chain} is listed twice")
        heads[chain] = ChainHead(chain, position, digest)
    return heads


def read_checkpoint_file(path: Path, public_key: Ed25519PublicKey) -> Checkpoint:
    """``load_checkpoint`` of a regular file of bounded size (never a FIFO or a device)."""
    try:
        # Non-blocking, so that opening a FIFO does not wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise CheckpointError("not a regular file")
            data = handle.read(MAX_CHECKPOINT_BYTES + 1)
    except OSError as exc:
        raise CheckpointError(f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"larger than {MAX_CHECKPOINT_BYTES} bytes")
    return load_checkpoint(data, public_key)


# The periodic checkpoint of `portal worker` (and of `portal serve` when it runs the worker).


def checkpoints_disabled_because(settings: Settings) -> str | None:
    if settings.audit_checkpoint_dir is None:
        return "PORTAL_AUDIT_CHECKPOINT_DIR is not set"
    if not settings.audit_signing_key:
        return "PORTAL_AUDIT_SIGNING_KEY is not set"
    return None


def _newest_checkpoint_time(directory: Path) -> datetime | None:
    names = sorted(
        name
        for name in os.listdir(directory)
        if name.startswith(FILE_PREFIX) and name.endswith(".json")
    )
    for name in reversed(names):
        try:
            stamp = name.removeprefix(FILE_PREFIX).removesuffix(".json")
            return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


async def write_checkpoint_if_due(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> Path | None:
    """Writes a checkpoint into the directory unless its newest one is younger than the
    interval, or another process is writing one (so restarts and several serving processes do
    not multiply them); the file written, or None."""
    directory = settings.audit_checkpoint_dir
    assert directory is not None
    with _writer_lock(directory) as mine:
        if not mine:
            return None
        interval = timedelta(minutes=settings.audit_checkpoint_minutes)
        newest = await asyncio.to_thread(_newest_checkpoint_time, directory)
        if newest is not None and (now or utcnow()) - newest < interval:
            return None
        async with sessions() as session:
            written = await write_checkpoint(
                session,
                settings,
                actor=Actor.system(),
                path_for=lambda at: directory / checkpoint_file_name(at),
            )
        return written.path


@contextmanager
def _writer_lock(directory: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock on ``.checkpoint.lock`` in the directory: True when this
    process holds it. Where the directory takes no lock file, every process writes (the newest
    file's time still spaces them)."""
    try:
        handle = (directory / ".checkpoint.lock").open("a")
    except OSError:
        yield True
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError:
            yield True
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
