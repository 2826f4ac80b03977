"""Hostname targets become one target per address, re-resolved in the background.

This is how a Kubernetes headless service is used: its name resolves to
every ready pod, and each pod should be balanced, health-checked and
ejected on its own. Lookups never run on the request path: the book is
refreshed when a snapshot arrives and every ``refresh`` seconds, and
compiling a snapshot reads the last answers. IPv4 addresses are preferred
when a name has both (Envoy's ``V4_PREFERRED``); a failed lookup keeps the
last good answer (Envoy does the same), and a name never resolved yet stays
one target that is resolved when it is connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger("ai_gateway.data_plane.dns")

Lookup = Callable[[str], Awaitable[list[str]]]


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def prefer_ipv4(addresses: Iterable[str]) -> tuple[str, ...]:
    """Distinct addresses in a stable order, IPv4 only when there is any."""
    unique = sorted(set(addresses), key=lambda a: (ipaddress.ip_address(a).version, a))
    v4 = tuple(a for a in unique if ipaddress.ip_address(a).version == 4)
    return v4 or tuple(unique)


async def system_lookup(host: str) -> list[str]:
    """The operating system's answer: /etc/hosts, then the resolvers in /etc/resolv.conf."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def nameserver_lookup(server: str, port: int = 53, timeout: float = 2.0) -> Lookup:
    """Ask one DNS server directly (``--dns-resolver``), A records then AAAA.

    dnspython is imported here, not with the module: only a data plane that asks a DNS
    server itself pays for it (a few MB per worker).
    """
    import dns.asyncresolver
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.port = port
    resolver.lifetime = timeout

    async def lookup(host: str) -> list[str]:
        addresses: list[str] = []
        for kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = await resolver.resolve(host, kind, search=False)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as exc:
                raise OSError(f"{host}: {exc}") from None
            addresses.extend(record.to_text() for record in answer)
            if addresses:
                break
        if not addresses:
            raise OSError(f"{host}: no A or AAAA record at {server}:{port}")
        return addresses

    return lookup


class AddressBook:
    """The last good addresses of every hostname the current snapshot's targets use."""

    def __init__(self, lookup: Lookup = system_lookup, timeout: float = 2.0) -> None:
        self._lookup = lookup
        self._timeout = timeout
        self._answers: dict[str, tuple[str, ...]] = {}
        self.unresolved: set[str] = set()  # hosts whose last lookup failed (logged once)
        self.generation = 0  # counts the changes of any answer: what a compile was made with

    def addresses(self, host: str) -> tuple[str, ...] | None:
        return self._answers.get(host)

    async def refresh(self, hosts: Iterable[str]) -> bool:
        """Look every host up again, all at once; True when any answer changed."""
        wanted = sorted(set(hosts))
        answers = await asyncio.gather(*(self._resolve(host) for host in wanted))
        changed = False
        for host, found in zip(wanted, answers, strict=True):
            if found:
                self.unresolved.discard(host)
            if found and found != self._answers.get(host):
                log.info("target host %s resolves to %s", host, ", ".join(found))
                self._answers[host] = found
                changed = True
        if changed:
            self.generation += 1
        for gone in set(self._answers) - set(wanted):
            del self._answers[gone]
        self.unresolved &= set(wanted)
        return changed

    async def _resolve(self, host: str) -> tuple[str, ...]:
        try:
            async with asyncio.timeout(self._timeout):
                return prefer_ipv4(await self._lookup(host))
        except (OSError, TimeoutError) as exc:
            if host not in self.unresolved:  # once per change of state, not each refresh
                kept = self._answers.get(host)
                log.warning("cannot resolve target host %s: %s; keeping %s", host, exc,
                            ", ".join(kept) if kept else "the name")  # fmt: skip
                self.unresolved.add(host)
            return ()
