"""How a test's own server process says it is listening: a ready file, written atomically."""

from __future__ import annotations

import json
import os


def announce(ready_file: str, port: int) -> None:
    with open(ready_file + ".tmp", "w") as handle:
        json.dump({"port": port, "pid": os.getpid()}, handle)
    os.replace(ready_file + ".tmp", ready_file)
