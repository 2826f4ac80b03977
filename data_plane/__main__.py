"""``ai-gateway-data-plane``: one process, or ``--workers N`` forked processes on one port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator

from data_plane.logs import configure_logging
from data_plane.settings import DataPlaneSettings, parse_args

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when it is imported


async def _serve(settings: DataPlaneSettings, worker: int) -> None:
    from data_plane.process import DataPlane  # after the metrics mode is set: see main()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    plane = DataPlane(settings, worker=worker)
    try:
        await plane.start()
        await stop.wait()
    finally:
        await plane.stop()


def _run_worker(settings: DataPlaneSettings, worker: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    try:
        asyncio.run(_serve(settings, worker))
    except OSError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _supervise(settings: DataPlaneSettings) -> None:
    """Fork the workers (before any event loop or gRPC exists) and wait for them."""
    children: list[int] = []
    for worker in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            _run_worker(settings, worker)
            os._exit(0)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    raise SystemExit(status)


@contextlib.contextmanager
def _shared_metrics() -> Iterator[None]:
    """Workers count into files in a fresh directory, so one /metrics shows them all."""
    directory = tempfile.mkdtemp(prefix="aigw-metrics-")
    os.environ[MULTIPROCESS_ENV] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    configure_logging(settings.log_level)
    if settings.workers == 1:
        os.environ.pop(MULTIPROCESS_ENV, None)  # one process: its own registry
        _run_worker(settings, 0)
    else:
        with _shared_metrics():
            _supervise(settings)


if __name__ == "__main__":
    main()
