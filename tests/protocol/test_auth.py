"""The credentials header of A1, written and read back."""

from __future__ import annotations

import pytest

from lvatool.protocol import basic_credentials, parse_basic_credentials


def test_round_trip_keeps_colons_in_the_password() -> None:
    header = basic_credentials("lva", "pa:ss")
    assert header.startswith("Basic ")
    assert parse_basic_credentials(header) == ("lva", "pa:ss")


@pytest.mark.parametrize(
    "value", ["Basic not-base64!", "Bearer bHZhOnB3", "Basic bm9jb2xvbg==", "Basic", ""]
)
def test_malformed_headers_are_refused(value: str) -> None:
    assert parse_basic_credentials(value) is None
