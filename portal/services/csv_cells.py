"""Every CSV the product writes goes through :func:`csv_cell`, so no cell is read as a formula.

A spreadsheet treats a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (``=HYPERLINK(...)`` in a user's display name, opened by a compliance
officer). OWASP's advice: prefix such a cell with a single quote, which spreadsheets show as
text. Numbers are written as they are (``-3`` is a number, not a formula).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as CSV cell text: None is empty, and text that would start a formula is
    quoted with a leading ``'``."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return text
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_row(values: Iterable[object]) -> list[str]:
    return [csv_cell(value) for value in values]
