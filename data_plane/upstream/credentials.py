"""A target's credential header, with ``${NAME}`` taken from this data plane's environment.

Resolved when a snapshot compiles, so a request never reads the environment.
A variable that is not set leaves the target without its credential: requests
to it get 502 ``upstream_credentials_missing`` naming the variable (never a
value), rather than reaching a provider unauthenticated or failing the whole
snapshot for one backend. The value is checked as any header value the gateway
writes: no control characters.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from data_plane.errors import SnapshotRejected
from data_plane.proxy.headers import is_safe_value
from protos import snapshot_pb2 as pb

log = logging.getLogger("ai_gateway.data_plane.config")

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
MAX_CREDENTIAL = 4096


def resolve_credential(
    auth: pb.TargetAuth, where: str, environment: Mapping[str, str] | None = None
) -> tuple[tuple[str, str] | None, str]:
    """(header, value), or (None, the missing variable's name)."""
    env = os.environ if environment is None else environment
    if not _HEADER_NAME.fullmatch(auth.header):
        raise SnapshotRejected(f"{where}: auth.header is not a header name")
    missing = [name for name in _REFERENCE.findall(auth.value) if name not in env]
    if missing:
        log.warning("%s: environment variable %s is not set; its requests get 502",
                    where, missing[0])  # fmt: skip
        return None, missing[0]
    value = _REFERENCE.sub(lambda m: env[m[1]], auth.value)
    if not is_safe_value(value, MAX_CREDENTIAL):
        # The message names the header only: the value is a secret.
        raise SnapshotRejected(
            f"{where}: the {auth.header} credential holds a control character or surrounding "
            "spaces (after ${...} substitution)"
        )
    return (auth.header, value), ""
