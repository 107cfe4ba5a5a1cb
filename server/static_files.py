"""What /static serves: the app's own files, and of each npm package only the files a page loads.

The whole ``swagger-ui-dist`` package used to be served, its stock ``index.html`` (which loads a
spec from any URL in its query) and ``oauth2-redirect.html`` included; now a vendor directory
answers only for the files named here. A path with a NUL or another control character is a
404 (the file system refused it with an error, which was a 500).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.file_system import BaseLocalFileSystem
from litestar.static_files import create_static_files_router
from litestar.types import PathType

from portal.settings import PROJECT_ROOT
from server.api_docs import SWAGGER_UI_FILES

STATIC_DIR = PROJECT_ROOT / "static"
NODE_MODULES = PROJECT_ROOT / "node_modules"
HTMX_DIR = NODE_MODULES / "htmx.org" / "dist"
HTMX_FILES = ("htmx.min.js",)
HTMX_SSE_DIR = NODE_MODULES / "htmx-ext-sse" / "dist"  # /mod/events (issue 19)
HTMX_SSE_FILES = ("sse.min.js",)
SWAGGER_UI_DIR = NODE_MODULES / "swagger-ui-dist"


class ServedFiles(BaseLocalFileSystem):
    """The local file system, answering "not found" for a path with a control character or,
    when ``only`` is given, for any file not in it."""

    def __init__(self, only: Iterable[Path] | None = None) -> None:
        self.only = None if only is None else frozenset(os.path.normpath(p) for p in only)

    def _check(self, path: PathType) -> None:
        text = os.fspath(path)
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in str(text)):
            raise FileNotFoundError("not a servable path")
        if self.only is not None and os.path.normpath(text) not in self.only:
            raise FileNotFoundError("not a served file")

    async def info(self, path: PathType, **kwargs: Any) -> Any:
        self._check(path)
        return await super().info(path, **kwargs)

    async def open(self, file: PathType, mode: str, buffering: int = -1) -> Any:
        self._check(file)
        return await super().open(file, mode, buffering)


def _vendor(path: str, directory: Path, files: Iterable[str], name: str) -> Router:
    return create_static_files_router(
        path=path,
        directories=[directory],
        file_system=ServedFiles(only=[directory / file for file in files]),
        name=name,
    )


FAVICON = (STATIC_DIR / "favicon.svg").read_bytes()


@get("/favicon.ico", include_in_schema=False, name="favicon", sync_to_thread=False)
def favicon() -> Response[bytes]:
    """What a browser asks every host for unbidden (a 404 here was an error in its console)."""
    return Response(
        FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


def static_routers() -> list[Router]:
    return [
        _vendor("/static/vendor/htmx", HTMX_DIR, HTMX_FILES, "vendor-htmx"),
        _vendor("/static/vendor/htmx-ext-sse", HTMX_SSE_DIR, HTMX_SSE_FILES, "vendor-htmx-sse"),
        _vendor("/static/vendor/swagger-ui", SWAGGER_UI_DIR, SWAGGER_UI_FILES, "vendor-swagger-ui"),
        create_static_files_router(
            path="/static", directories=[STATIC_DIR], file_system=ServedFiles(), name="static"
        ),
    ]
