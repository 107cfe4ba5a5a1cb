"""What an ``html`` body can never carry once sanitised: scripts, event handlers, script URLs.

The sanitiser is checked on its own with generated markup, and end to end through send and
thread detail on both databases with known-hostile markup and a few generated bodies.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from portal.services.sanitize import ALLOWED_TAGS, sanitize_html
from portal.settings import Settings
from server.app import create_app
from tests.api.helpers import auth, make_pair
from tests.conftest import examples, settings_with

KNOWN_HOSTILE = [
    "<script>alert(1)</script>hello",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>hello",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<svg><script>alert(1)</script></svg>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="https://example.com" onclick="alert(1)" onmouseover="alert(1)">ok</a>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">x</button></form>',
    '<body onload="alert(1)">x</body>',
    '<div onpointerenter="alert(1)">hover</div>',
    '<details open ontoggle="alert(1)">x</details>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<style>@import 'javascript:alert(1)';</style>styled",
    "<!--<script>alert(1)</script>-->comment",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<b <script>alert(1)</script>>bold</b>",
    '<a href="https://ok.example/" title="x" onfocus=alert(1) autofocus>ok</a>',
    "<p>fine <b>bold</b> <i>italic</i> <code>x &lt; y</code></p><pre>\n\n  indented</pre>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//"><a href="/x">rel</a>',
    '<a href="mailto:someone@example.com">mail</a>',
]

_EVENT_HANDLER_IN_TAG = re.compile(r"<[^>]*[\s/\"']on[a-z]+\s*=", re.IGNORECASE)
_QUOTED_VALUE = re.compile(r'=\s*"[^"]*"')
_SAFE_URL = re.compile(r"^(?:https?|mailto):", re.IGNORECASE)
_IGNORED_IN_URLS = re.compile(r"[\x00-\x20\x7f]")


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_safe(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered, html
    # Text inside a (double-quoted, as serialised) attribute value is no attribute.
    assert not _EVENT_HANDLER_IN_TAG.search(_QUOTED_VALUE.sub('=""', html)), html
    parser = _Markup()
    parser.feed(html)
    parser.close()
    for tag, attributes in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attributes:
            assert not name.startswith("on"), (name, html)
            assert name in {"href", "rel"}, (name, html)
            if name == "href":
                url = _IGNORED_IN_URLS.sub("", value or "")
                assert _SAFE_URL.match(url), (value, html)
            if value is not None:
                assert "javascript:" not in _IGNORED_IN_URLS.sub("", value).lower(), html


def assert_sanitised(original: str, cleaned: str) -> None:
    assert_safe(cleaned)
    assert sanitize_html(cleaned) == cleaned, (original, cleaned)


# --- the sanitiser on its own ---------------------------------------------------------------

_TAG_NAMES = st.sampled_from(
    [
        *sorted(ALLOWED_TAGS),
        "script",
        "svg",
        "math",
        "img",
        "iframe",
        "style",
        "object",
        "embed",
        "form",
        "textarea",
        "noscript",
        "template",
        "title",
        "select",
        "table",
        "td",
        "xmp",
        "SCRIPT",
        "ScRiPt",
    ]
)
_ATTRIBUTE_NAMES = st.sampled_from(
    ["href", "src", "title", "style", "onerror", "onload", "OnClick", "xlink:href", "srcdoc", "on"]
)
_ATTRIBUTE_VALUES = st.sampled_from(
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "&#106;avascript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "https://example.com/?a=1&b=2",
        "mailto:a@example.com",
        "//evil.example",
        "alert(1)",
        '"><script>alert(1)</script>',
    ]
) | st.text(max_size=8)
_NOISE = st.sampled_from(
    ["<", ">", "</", '"', "'", "=", "&", "&lt;", "&#", "<!--", "-->", "<![CDATA[", "]]>", "\n"]
) | st.text(max_size=6)


@st.composite
def _element(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    tag = draw(_TAG_NAMES)
    attributes = draw(st.lists(st.tuples(_ATTRIBUTE_NAMES, _ATTRIBUTE_VALUES), max_size=3))
    quotes = draw(st.lists(st.sampled_from(['"', "'", ""]), min_size=3, max_size=3))
    rendered = "".join(
        f" {name}={quote}{value}{quote}"
        for (name, value), quote in zip(attributes, quotes, strict=False)
    )
    inner = "".join(draw(st.lists(children, max_size=3)))
    closing = draw(st.sampled_from([f"</{tag}>", "", f"</{tag.upper()}>"]))
    return f"<{tag}{rendered}>{inner}{closing}"


HOSTILE_HTML = st.recursive(
    _NOISE | st.sampled_from(KNOWN_HOSTILE),
    lambda children: _element(children) | st.lists(children, max_size=4).map("".join),
    max_leaves=12,
)


@pytest.mark.parametrize("html", KNOWN_HOSTILE)
def test_known_hostile_markup_is_neutralised(html: str) -> None:
    cleaned = sanitize_html(html)
    assert_sanitised(html, cleaned)
    # None of these carry a script URL as visible text, so none may be left anywhere.
    assert "javascript:" not in cleaned.lower()
    assert "alert(1)</script" not in cleaned


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        "<svg onload=alert(1)>",
    ],
)
def test_the_safety_check_catches_unsanitised_markup(html: str) -> None:
    with pytest.raises(AssertionError):
        assert_safe(html)


def test_formatting_is_kept() -> None:
    html = (
        '<p>Hi <strong>Sam</strong>, see <a href="https://example.com/job">the job</a>.</p>'
        "<ul><li>one</li><li>two</li></ul><blockquote>quote</blockquote><br>"
    )
    assert sanitize_html(html) == html.replace(
        'href="https://example.com/job"', 'href="https://example.com/job" rel="noopener noreferrer"'
    )


@settings(max_examples=examples(400), deadline=None)
@given(HOSTILE_HTML)
def test_generated_markup_is_safe_and_sanitising_twice_changes_nothing(html: str) -> None:
    assert_sanitised(html, sanitize_html(html))


# --- through the API, on both databases ----------------------------------------------------


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[tuple[AsyncTestClient, Settings]]:
    generous = settings_with(settings, rate_limit_messages=100_000)
    async with AsyncTestClient(app=create_app(generous)) as client:
        yield client, generous


async def _send_and_show(
    client: AsyncTestClient, settings: Settings, html: str
) -> tuple[str, list[str]]:
    app = client.app
    employer, candidate = await make_pair(app)
    response = await client.post(
        "/api/v1/messages",
        json={"recipient_id": str(candidate.id), "body": html, "body_format": "html"},
        headers=auth(settings, employer),
    )
    if response.status_code == 400:  # nothing left once the unsafe parts are gone
        assert "body" in response.json()["detail"]
        return "", []
    assert response.status_code == 201, response.text
    sent = response.json()["message"]["body"]
    thread_id = uuid.UUID(response.json()["thread"]["id"])
    detail = await client.get(
        f"/api/v1/messages/threads/{thread_id}", headers=auth(settings, candidate)
    )
    return sent, [message["body"] for message in detail.json()["messages"]]


async def test_known_hostile_markup_through_send_and_detail(
    api: tuple[AsyncTestClient, Settings],
) -> None:
    client, generous = api
    for html in KNOWN_HOSTILE:
        sent, shown = await _send_and_show(client, generous, html)
        assert shown == ([sent] if sent else [])
        assert_sanitised(html, sent)
        assert "javascript:" not in sent.lower()


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(html=HOSTILE_HTML)
async def test_generated_markup_through_send_and_detail(
    api: tuple[AsyncTestClient, Settings], html: str
) -> None:
    client, generous = api
    sent, shown = await _send_and_show(client, generous, html)
    assert shown == ([sent] if sent else [])
    assert_sanitised(html, sent)
