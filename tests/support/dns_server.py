"""A DNS server on loopback whose answers a test changes: how hostname targets are exercised."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    """Answers A queries for the names in ``records`` (NXDOMAIN for others), over UDP."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.queries = 0
        self.asked: set[str] = set()  # every name a query was for
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            self.queries += 1
            response = dns.message.make_response(query)
            question = query.question[0]
            self.asked.add(question.name.to_text(omit_final_dot=True))
            addresses = self.records.get(question.name.to_text(omit_final_dot=True))
            if addresses is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A and addresses:
                response.answer.append(dns.rrset.from_text(question.name, 1, "IN", "A", *addresses))
            self._sock.sendto(response.to_wire(), peer)
