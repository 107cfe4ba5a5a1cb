"""Uploaded files: ``POST /api/v1/attachments`` (multipart, parsed as it streams in: the file
goes to a spool file chunk by chunk, never whole in memory) and ``GET
/api/v1/attachments/{id}`` (the thread's participants). The rules are
portal.services.attachments'."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath
from litestar.response import Redirect, Stream
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from sqlalchemy.ext.asyncio import AsyncSession

from api import schemas
from api.auth import CALLER, END_USERS
from api.errors import MalformedBody, UnsupportedMediaType
from api.messages import provide_request_session, provide_user
from api.responses import error_responses
from portal.errors import InvalidInput, PayloadTooLarge
from portal.principals import EndUser
from portal.services import attachment_types, attachments
from portal.settings import Settings

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD: Final = "file"
# What a request may carry besides the file's bytes (other parts, headers, boundaries).
MAX_ENVELOPE_BYTES: Final = 64 * 1024
MULTIPART: Final = "multipart/form-data"


@dataclass
class _Parts:
    """The parser's callbacks' state: where the file part is, and its bytes not yet taken."""

    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    in_file: bool = False
    file_started: bool = False
    file_done: bool = False
    ended: bool = False
    filename: str | None = None
    pending: list[bytes] = field(default_factory=list)
    envelope: int = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field_data,
            "on_header_value": self.header_value_data,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field.extend(data[start:end])

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value.extend(data[start:end])

    def part_begin(self) -> None:
        self.headers = {}

    def header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition"))
        if options.get(b"name") == FILE_FIELD.encode() and not self.file_started:
            self.in_file = self.file_started = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(bytes(data[start:end]))
        else:
            self.envelope += end - start

    def part_end(self) -> None:
        if self.in_file:
            self.in_file = False
            self.file_done = True

    def end(self) -> None:
        self.ended = True


async def read_file_part(
    request: Request[Any, Any, Any],
) -> tuple[str | None, AsyncIterator[bytes]]:
    """The file part's name and its bytes as they arrive. Reads the body only up to the start
    of the file part before returning."""
    media_type, options = request.content_type
    boundary = options.get("boundary")
    if media_type.lower() != MULTIPART or not boundary:
        raise UnsupportedMediaType(
            detail=f"Content-Type must be {MULTIPART} with a boundary, the file in a part "
            f"named {FILE_FIELD!r}"
        )
    parts = _Parts()
    parser = MultipartParser(boundary, parts.callbacks())
    stream = request.stream().__aiter__()

    def feed(raw: bytes) -> None:
        try:
            parser.write(raw)
        except MultipartParseError as exc:
            raise MalformedBody(detail=f"the multipart body is malformed: {exc}") from None
        if parts.envelope > MAX_ENVELOPE_BYTES:
            raise PayloadTooLarge(
                f"the parts besides {FILE_FIELD!r} exceed {MAX_ENVELOPE_BYTES:,} bytes"
            )

    while not parts.file_started:
        raw = await anext(stream, None)
        if raw is None or parts.ended:
            raise InvalidInput(FILE_FIELD, f"the request has no part named {FILE_FIELD!r}")
        feed(raw)

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            if parts.pending:
                data = b"".join(parts.pending)
                parts.pending.clear()
                yield data
            if parts.file_done:
                return
            raw = await anext(stream, None)
            if raw is None:
                raise MalformedBody(detail="the request body ended inside the file part")
            feed(raw)

    return parts.filename, chunks()


@dataclass
class UploadOperation(Operation):
    """The upload's OpenAPI operation: a multipart body with one binary part, ``file``."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=f"`{MULTIPART}` with the file in a part named `{FILE_FIELD}` (its "
            "`filename` is kept as the attachment's name).",
            content={
                MULTIPART: OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties={
                            FILE_FIELD: Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                        },
                        required=[FILE_FIELD],
                    )
                )
            },
        )


def _accepted() -> str:
    labels = sorted({label for label, _ in attachment_types.ALLOWED_TYPES.values()})
    return ", ".join(labels)


class AttachmentsController(Controller):
    path = "/attachments"
    tags = ["attachments"]  # noqa: RUF012 - Litestar reads these class attributes
    opt = {CALLER: END_USERS}  # noqa: RUF012
    dependencies = {  # noqa: RUF012
        "user": Provide(provide_user, sync_to_thread=False),
        "db_session": Provide(provide_request_session),
    }

    @post(
        "/",
        status_code=201,
        summary="Upload a file to attach",
        description="Streams one file (multipart, part `file`) to the attachment store and "
        "returns its id, for `attachment_ids` of `POST /api/v1/messages`. Its type is sniffed "
        f"from its bytes and must be one of {_accepted()}, and match its name's extension "
        "(415 otherwise: a `.pdf` that is a program is refused). At most "
        "`PORTAL_ATTACHMENT_MAX_FILE_BYTES` bytes (413). With a virus scanner configured the "
        "file is scanned before it is accepted: one the scanner flags is refused with 422 "
        "(`infected`) and kept for staff; 503 when the scanner cannot be reached.",
        responses=error_responses(400, 401, 403, 404, 413, 415, 422, 503),
        request_max_body_size=None,  # the file's bytes are counted as they stream in
        operation_class=UploadOperation,
    )
    async def upload_attachment(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        state: State,
    ) -> Response[schemas.UploadedAttachmentOut]:
        settings: Settings = state.settings
        cap = min(settings.attachment_max_file_bytes, attachments.MAX_TOTAL_BYTES)
        announced = request.content_length
        if announced is not None and announced > cap + MAX_ENVELOPE_BYTES:
            # Refused before a byte is read; a body without a length is counted as it streams.
            raise PayloadTooLarge(
                f"file: the request is {announced:,} bytes; one file may be at most {cap:,}",
                field="file",
            )
        filename, chunks = await read_file_part(request)
        row = await attachments.upload_attachment(
            db_session, uploader_id=user.id, filename=filename, chunks=chunks, settings=settings
        )
        return Response(
            schemas.UploadedAttachmentOut(
                id=row.id,
                filename=row.original_name,
                content_type=row.content_type,
                size_bytes=row.size_bytes,
                sha256=row.sha256,
                scan_status="clean" if row.scan_status == "clean" else "unscanned",
                created_at=row.created_at,
            ),
            status_code=201,
        )

    @get(
        "/{attachment_id:uuid}",
        summary="Download an attached file",
        description="The thread's participants (and the uploader, before it is attached). "
        "`Content-Disposition: attachment` with the original name (`filename*`), except PNG, "
        "JPEG and PDF, which are `inline`; always `X-Content-Type-Options: nosniff` and "
        "`Content-Security-Policy: sandbox`. With an S3 store and "
        "`PORTAL_STORAGE_PRESIGN_SECONDS` set, a 303 to a presigned URL valid that long "
        "(at most 60 s). 404 for a file that is not the caller's to see; 410 once its "
        "message was removed by a moderator or purged under the retention policy.",
        responses=error_responses(400, 401, 403, 404, 409, 410, 422),
    )
    async def download_attachment(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        state: State,
        attachment_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        settings: Settings = state.settings
        download = await attachments.access_attachment(db_session, user, attachment_id, settings)
        row = download.attachment
        headers = download.headers()
        if settings.storage_presign_seconds:
            url = download.store.presigned_url(
                row.storage_key,
                seconds=settings.storage_presign_seconds,
                content_disposition=headers["Content-Disposition"],
                content_type=row.content_type,
            )
            if url is not None:
                return Redirect(url, status_code=303, headers={"Cache-Control": "no-store"})
        body = await download.body()
        headers["Content-Length"] = str(row.size_bytes)
        return Stream(body, media_type=row.content_type, headers=headers)
