"""lvatool.addresses: every address form users and topologies write, judged before any I/O."""

from __future__ import annotations

import pytest

from lvatool.addresses import Address, AddressError, parse_address, parse_listen, parse_target


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("localhost:5001", "localhost:5001"),
        ("tcp://localhost:5001", "localhost:5001"),  # LVA's own form (grpcBinding, endpoint.url)
        ("TCP://Extension:5001/", "Extension:5001"),
        ("grpc://10.0.0.7:443", "10.0.0.7:443"),
        ("dns:///example.com:5001", "example.com:5001"),
        ("  127.0.0.1:1  ", "127.0.0.1:1"),
        ("[::1]:5001", "[::1]:5001"),
        ("tcp://[fe80::1]:65535", "[fe80::1]:65535"),
    ],
)
def test_targets_in_every_form_are_dialled_as_host_port(text: str, target: str) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("localhost", "has no port"),
        ("localhost:", "has no port"),
        ("tcp://localhost", "has no port"),
        ("[::1]", "has no port"),
        (":5001", "has no host"),
        ("localhost:0", "outside 1-65535"),
        ("localhost:65536", "outside 1-65535"),
        ("localhost:-1", "is not a number"),
        ("localhost:http", "is not a number"),
        ("::1:5001", "write an IPv6 address in brackets"),
        ("[::1", "an IPv6 address is written [ADDRESS]:PORT"),
        ("[::1]5001", "an IPv6 address is written [ADDRESS]:PORT"),
        ("http://localhost:5001", "scheme http:// is not supported"),
        ("unix:///tmp/socket", "scheme unix:// is not supported"),
        ("localhost:\u00b2", "is not a number"),  # str.isdigit() says yes; int() says no
        ("localhost:\u0665\u0660\u0660\u0661", "is not a number"),  # Arabic-Indic 5001
        ("local host:5001", "is not a host name or address"),
        ("user@host:5001", "is not a host name or address"),
        ("host/path:5001", "is not a host name or address"),
    ],
)
def test_bad_targets_are_refused_with_a_sentence_quoting_them(text: str, says: str) -> None:
    with pytest.raises(AddressError) as raised:
        parse_target(text)
    assert says in str(raised.value)
    assert repr(text) in str(raised.value)
    assert isinstance(raised.value, ValueError)  # callers may catch ValueError


def test_listening_addresses_take_a_default_host_and_port_0() -> None:
    assert parse_listen(":5001") == Address("0.0.0.0", 5001)
    assert parse_listen("tcp://127.0.0.1:0") == Address("127.0.0.1", 0)
    assert parse_listen(":6001", default_host="127.0.0.1") == Address("127.0.0.1", 6001)
    assert parse_listen("[::]:5001") == Address("::", 5001)
    with pytest.raises(AddressError, match="has no port"):
        parse_listen("0.0.0.0")


def test_port_0_is_only_for_listening() -> None:
    with pytest.raises(AddressError, match="outside 1-65535"):
        parse_address("localhost:0")
    assert parse_address("localhost:0", allow_port_zero=True).port == 0


def test_an_ipv6_host_prints_in_brackets() -> None:
    assert str(Address("::1", 5001)) == "[::1]:5001"
    assert str(Address("localhost", 5001)) == "localhost:5001"
