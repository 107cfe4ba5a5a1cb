"""Attachment links must name a public host: what the service says for each refused link, and
that the published pattern and the service's rule agree."""

from __future__ import annotations

import re
import uuid

import pytest

from portal.errors import InvalidInput
from portal.services.messaging import ATTACHMENT_URL_PATTERN, Attachment, normalise_draft
from portal.services.messaging import MessageDraft as Draft

# url -> why the service refuses it
NON_PUBLIC_URLS = {
    "http://127.0.0.1/admin": "127.0.0.1 is an IP address (127.0.0.1, loopback)",
    "http://2130706433/": "2130706433 is an IP address (127.0.0.1, loopback)",
    "http://0x7f.1/": "0x7f.1 is an IP address (127.0.0.1, loopback)",
    "http://0177.0.0.1/": "0177.0.0.1 is an IP address (127.0.0.1, loopback)",
    "http://127.1:8080/": "127.1 is an IP address (127.0.0.1, loopback)",
    "http://10.1.2.3/": "10.1.2.3 is an IP address (10.1.2.3, private)",
    "https://192.168.0.1/": "192.168.0.1 is an IP address (192.168.0.1, private)",
    "http://172.16.5.4/": "172.16.5.4 is an IP address (172.16.5.4, private)",
    "http://169.254.169.254/latest/meta-data/": (
        "169.254.169.254 is an IP address (169.254.169.254, link-local)"
    ),
    "http://0.0.0.0/": "0.0.0.0 is an IP address (0.0.0.0, unspecified)",
    "http://224.0.0.1/": "224.0.0.1 is an IP address (224.0.0.1, multicast)",
    "http://[::1]/": "[::1] is an IP address (::1, loopback)",
    "http://[fe80::1]:80/": "[fe80::1] is an IP address (fe80::1, link-local)",
    "http://[fc00::5]/": "[fc00::5] is an IP address (fc00::5, private)",
    "http://[::]/": "[::] is an IP address (::, unspecified)",
    "http://[ff02::1]/": "[ff02::1] is an IP address (ff02::1, multicast)",
    "http://[::ffff:127.0.0.1]/": "[::ffff:127.0.0.1] is an IP address (::ffff:7f00:1, loopback)",
    "http://8.8.8.8/x": "8.8.8.8 is an IP address; links must name their host",
    "http://[2001:4860:4860::8888]/": "is an IP address; links must name their host",
    "http://localhost:8000/cv.pdf": "localhost names a local host",
    "http://LocalHost./": "LocalHost. names a local host",
    "http://app.localhost/": "app.localhost names a local host",
    "http://printer.local/": "printer.local names a local host",
    "http://db.corp.internal/x": "db.corp.internal names a local host",
}
PUBLIC_URLS = (
    "https://files.example.com/cv.pdf",
    "https://localhost.example.com/a",
    "https://local.example.org/",
    "http://intern.al/",
    "https://xn--80ak6aa92e.com:8443/x?y=1#z",
)


def _draft(url: str) -> Draft:
    return Draft(
        recipient_id=uuid.uuid4(),
        body="hi",
        attachments=(Attachment("cv.pdf", "application/pdf", 1, url),),
    )


@pytest.mark.parametrize(("url", "why"), NON_PUBLIC_URLS.items())
def test_the_service_says_why_a_link_is_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_draft(_draft(url))
    assert str(refused.value).startswith("attachments[0].url: must link to a public host name: ")
    assert why in str(refused.value)


def test_the_published_pattern_is_the_services_rule() -> None:
    pattern = re.compile(ATTACHMENT_URL_PATTERN)
    for url in NON_PUBLIC_URLS:
        assert pattern.match(url) is None, url
    for url in PUBLIC_URLS:
        assert pattern.match(url), url
        assert normalise_draft(_draft(url)).attachments[0].url == url
