"""What an uploaded file is, decided from its bytes (libmagic, through python-magic), never from
its name or the client's Content-Type; and whether it may be uploaded: its sniffed type on the
allow-list, and its name's extension one that type is saved with."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final

from portal.errors import ServiceBusy

DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT: Final = "application/vnd.oasis.opendocument.text"

# Sniffed type: (what people call it, the extensions a file of that type is saved with).
ALLOWED_TYPES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "application/pdf": ("PDF", (".pdf",)),
    DOCX: ("DOCX", (".docx",)),
    "application/msword": ("DOC", (".doc",)),
    ODT: ("ODT", (".odt",)),
    "text/rtf": ("RTF", (".rtf",)),
    "application/rtf": ("RTF", (".rtf",)),
    "text/plain": ("TXT", (".txt",)),
    "image/png": ("PNG", (".png",)),
    "image/jpeg": ("JPEG", (".jpg", ".jpeg")),
}
ALLOWED_EXTENSIONS: Final = frozenset(ext for _, exts in ALLOWED_TYPES.values() for ext in exts)
# Shown in the browser (Content-Disposition: inline) rather than saved; everything else is a
# download. A PDF viewer and an image decoder run no script of the file under the sandbox CSP.
INLINE_TYPES: Final = frozenset({"application/pdf", "image/png", "image/jpeg"})


def extension(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


class TypeDetectionUnavailable(ServiceBusy):
    """libmagic is not installed (Debian: libmagic1): no file can be accepted."""

    def __init__(self) -> None:
        super().__init__(
            "uploads are unavailable: file types cannot be detected (libmagic is not installed "
            "on the server)",
            retry_after_seconds=3600,
        )


def sniff(path: str) -> str:
    """The MIME type libmagic reads from the file's bytes (blocking: run it in a thread).
    Imported here, so that the rest of the service runs on a machine without libmagic."""
    try:
        import magic
    except ImportError:
        raise TypeDetectionUnavailable() from None
    return magic.from_file(path, mime=True)


def refusal(filename: str, sniffed: str) -> str | None:
    """Why a file named ``filename`` whose bytes are ``sniffed`` may not be uploaded, or None."""
    allowed = ALLOWED_TYPES.get(sniffed)
    names = sorted({label for label, _ in ALLOWED_TYPES.values()})
    if allowed is None:
        return f"its content is {sniffed}, which is not accepted; files may be " + ", ".join(names)
    label, extensions = allowed
    if extension(filename) not in extensions:
        return (
            f"its content is {label} ({sniffed}) but its name ends in "
            f"{extension(filename) or 'no extension'}; a {label} file's name ends in "
            + " or ".join(extensions)
        )
    return None
