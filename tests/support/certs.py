"""A throwaway CA (trustme) and certificates for 127.0.0.1, written where the processes read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509


@dataclass(frozen=True)
class IssuedCert:
    cert: Path
    key: Path
    serial: int


class TestCA:
    __test__ = False  # a helper, not a test class

    def __init__(self, directory: Path, name: str = "ca") -> None:
        self.directory = directory
        self._ca = trustme.CA()
        self.path = directory / f"{name}.pem"
        self._ca.cert_pem.write_to_path(str(self.path))

    def issue(
        self, name: str, cert_path: Path | None = None, key_path: Path | None = None
    ) -> IssuedCert:
        """A certificate for 127.0.0.1 and localhost (usable by servers and as a client certificate)."""
        issued = self._ca.issue_cert("127.0.0.1", "localhost", common_name=name)
        cert_path = cert_path or self.directory / f"{name}.crt"
        key_path = key_path or self.directory / f"{name}.key"
        issued.private_key_pem.write_to_path(str(key_path))
        cert_path.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        serial = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes()).serial_number
        return IssuedCert(cert_path, key_path, serial)
