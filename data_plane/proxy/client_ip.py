"""Who the client is: the socket's peer, or the X-Forwarded-For hop just before our trusted proxies.

X-Forwarded-For is written by whoever sent the request, so it is believed
only as far as it was appended by proxies listed in ``--trusted-proxies``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    def __init__(self, trusted: Sequence[str]) -> None:
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(t, strict=False) for t in trusted
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def resolve(self, peer: str, forwarded_for: str | None) -> str:
        if not self._trusted or forwarded_for is None or not self._is_trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # garbage where an address should be: trust nothing in it
        return peer


def parse_networks(text: str) -> list[str]:
    """'10.0.0.0/8, 127.0.0.1' -> validated networks; raises ValueError naming the bad one."""
    networks = [part.strip() for part in text.split(",") if part.strip()]
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"'{network}' is not an IP address or network (CIDR)") from None
    return networks
