"""The allow-list sanitiser for ``html`` message bodies (nh3, the Rust ammonia library).

What it returns can be stored and shown as HTML: formatting tags only, links limited to http,
https and mailto with ``rel="noopener noreferrer"``, no scripts, styles, event handlers or
comments. Sanitising its own output changes nothing.
"""

from __future__ import annotations

import re
from typing import Final

import nh3

ALLOWED_TAGS: Final = frozenset(
    {
        "p",
        "br",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ul",
        "ol",
        "li",
        "a",
        "blockquote",
        "code",
        "pre",
    }
)
ALLOWED_ATTRIBUTES: Final = {"a": frozenset({"href"})}
ALLOWED_URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})
LINK_REL: Final = "noopener noreferrer"

_ALLOWED_URL = re.compile(r"^(?:https?|mailto):", re.IGNORECASE)
_MAX_PASSES: Final = 4


def _only_absolute_allowed_urls(_tag: str, attribute: str, value: str) -> str | None:
    # ammonia passes relative URLs through; an href must name one of the allowed schemes outright.
    if attribute == "href" and not _ALLOWED_URL.match(value):
        return None
    return value


_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    # "*" replaces ammonia's default attributes for every tag (lang, title).
    attributes={"*": set(), **{tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()}},
    attribute_filter=_only_absolute_allowed_urls,
    url_schemes=set(ALLOWED_URL_SCHEMES),
    link_rel=LINK_REL,
    strip_comments=True,
)
_text_only = nh3.Cleaner(tags=set(), clean_content_tags={"script", "style"}, strip_comments=True)


def _clean_once(html: str) -> str:
    # The HTML parser drops one newline right after <pre>; serialisation does not put it back, so
    # it is restored here, or every pass would eat another newline.
    return _cleaner.clean(html).replace("<pre>\n", "<pre>\n\n")


def sanitize_html(html: str) -> str:
    """Safe HTML for ``html``; ``sanitize_html(sanitize_html(x)) == sanitize_html(x)``."""
    cleaned = _clean_once(html)
    # Misnested markup can come out of the parser in a shape that parses differently once more
    # (an <li> inside an <li>, say); a second pass settles it, so cleaning runs to a fixed point.
    for _ in range(_MAX_PASSES):
        again = _clean_once(cleaned)
        if again == cleaned:
            return cleaned
        cleaned = again
    return _text_only.clean(html)
