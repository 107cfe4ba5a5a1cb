"""Request data in a log line, escaped: one log record stays one line.

A decoded path or header can hold a newline (``%0a``), a carriage return or a bidi override, with
which a client could write a line of its own into the log. Every control, format and separator
character is written as its escape (``\\n``, ``\\x1b``, ``\\u202e``); printable text is kept.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def loggable(value: object) -> str:
    text = str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )
