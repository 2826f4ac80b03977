"""TLS for the proxy listener, with the certificate reloaded when its files change.

OpenSSL lets a context load a new chain while it serves: handshakes after the
reload present the new certificate, connections already open keep theirs.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

log = logging.getLogger("ai_gateway.data_plane.tls")


class ReloadingServerContext:
    def __init__(self, cert: Path, key: Path, poll_seconds: float = 1.0) -> None:
        self.cert, self.key = cert, key
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_alpn_protocols(["http/1.1"])
        self._poll = poll_seconds
        self._stamp = self._mtimes()
        self.context.load_cert_chain(cert, key)

    def _mtimes(self) -> tuple[float, float]:
        return self.cert.stat().st_mtime, self.key.stat().st_mtime

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                stamp = await asyncio.to_thread(self._mtimes)
                if stamp != self._stamp:
                    await asyncio.to_thread(self.context.load_cert_chain, self.cert, self.key)
                    self._stamp = stamp
                    log.info("reloaded the TLS certificate %s", self.cert)
            except (OSError, ssl.SSLError) as exc:  # half-written files: keep serving the old one
                log.warning("cannot reload the TLS certificate %s: %s", self.cert, exc)


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify servers against the system store, or only against ``ca_file`` when given."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
