"""Every accepted kind of file is recognised from its bytes by libmagic and accepted under its
own extensions only."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from portal.services import attachment_types
from tests.attachments.files import PDF, TEXT, png


def _zip(entries: list[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries:
            archive.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


DOCX = _zip(
    [
        ("[Content_Types].xml", '<?xml version="1.0"?><Types/>'),
        ("_rels/.rels", "<Relationships/>"),
        ("word/document.xml", "<w:document/>"),
    ]
)
ODT = _zip([("mimetype", attachment_types.ODT), ("content.xml", "<office:document/>")])
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
RTF = b"{\\rtf1\\ansi Curriculum vitae}"

KINDS = [
    ("cv.pdf", PDF, "application/pdf"),
    ("cv.docx", DOCX, attachment_types.DOCX),
    ("cv.odt", ODT, attachment_types.ODT),
    ("cv.rtf", RTF, "text/rtf"),
    ("cv.txt", TEXT, "text/plain"),
    ("photo.png", png(), "image/png"),
    ("photo.jpeg", JPEG, "image/jpeg"),
    ("photo.JPG", JPEG, "image/jpeg"),
]


@pytest.mark.parametrize(("name", "content", "sniffed"), KINDS, ids=[k[0] for k in KINDS])
def test_each_accepted_kind_is_sniffed_and_accepted_under_its_own_name(
    name: str, content: bytes, sniffed: str, tmp_path: Path
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    assert attachment_types.sniff(str(path)) == sniffed
    assert attachment_types.refusal(name, sniffed) is None
    assert attachment_types.refusal("renamed.doc", sniffed) is not None
