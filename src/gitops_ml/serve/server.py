"""Run the app under uvicorn: one process per container (scale with replicas, not workers)."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from gitops_ml.errors import UserError
from gitops_ml.serve.settings import Settings


def _exit_cleanly(sig: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the SIGTERM it shut down for; reaching here means the shutdown was
    # graceful, and a stop the operator asked for is a success (`docker stop` shows 0, not 143).
    sys.exit(0)


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests finish before the process exits 0."""
    import uvicorn

    from gitops_ml.serve.app import create_app

    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # uvloop and httptools by name, not "auto": a missing one is an error, not a silent
    # fallback to the pure-Python stack (bench/serve.py measures what each one buys).
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level,
        access_log=settings.access_log, server_header=False, timeout_graceful_shutdown=30,
        loop="uvloop", http="httptools"))
    server.run()
    if not server.started:
        raise UserError("serve: the server did not start (see the log above)")
