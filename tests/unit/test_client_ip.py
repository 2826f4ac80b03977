"""X-Forwarded-For is believed only as far as trusted proxies appended it."""

from __future__ import annotations

import pytest

from data_plane.proxy.client_ip import ClientAddress, parse_networks


def test_untrusted_peer_is_the_client() -> None:
    assert ClientAddress(()).resolve("203.0.113.9", "1.2.3.4") == "203.0.113.9"
    assert ClientAddress(["10.0.0.0/8"]).resolve("203.0.113.9", "1.2.3.4") == "203.0.113.9"


def test_trusted_chain_is_walked_from_the_right() -> None:
    resolver = ClientAddress(["10.0.0.0/8", "127.0.0.1"])
    assert resolver.resolve("10.0.0.5", "6.6.6.6, 198.51.100.7, 10.1.1.1") == "198.51.100.7"
    assert resolver.resolve("127.0.0.1", "10.0.0.9") == "127.0.0.1"
    assert resolver.resolve("10.0.0.5", "not-an-ip") == "10.0.0.5"


def test_networks_are_validated() -> None:
    assert parse_networks("10.0.0.0/8, ::1") == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33'"):
        parse_networks("10.0.0.0/33")
