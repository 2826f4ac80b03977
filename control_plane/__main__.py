"""``ai-gateway-control-plane``: parse flags, run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

from control_plane.errors import ControlPlaneError
from control_plane.log_format import configure_logging
from control_plane.process import ControlPlane
from control_plane.settings import parse_args


async def _serve(plane: ControlPlane) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await plane.start()
    try:
        await stop.wait()
    finally:
        await plane.stop()


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    configure_logging(settings.log_level)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        pass
    try:
        asyncio.run(_serve(ControlPlane(settings)))
    except ControlPlaneError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
