"""The fast canonical JSON encoder agrees byte for byte with the RFC 8785 reference."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.services.compliance.chain import canonical
from tests.conftest import examples

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=examples(500), deadline=None)
@given(values)
def test_canonical_matches_the_reference(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError):
        with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError)):
            canonical(value)
        return
    assert canonical(value) == expected


def test_control_characters_and_unicode() -> None:
    value = {"b": 'tab\t nl\n \u0001 \u001f \u007f é ✓ 𝄞 "q" \\', "a": [1, True, None]}
    assert canonical(value) == rfc8785.dumps(value)
