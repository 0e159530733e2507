"""Run the app under uvicorn: one process, or a supervisor with GITOPS_ML_WORKERS workers."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from gitops_ml.errors import UserError
from gitops_ml.serve.settings import Settings

FACTORY = "gitops_ml.serve.app:create_app_from_env"


def _exit_cleanly(sig: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the SIGTERM it shut down for; reaching here means the shutdown was
    # graceful, and a stop the operator asked for is a success (`docker stop` shows 0, not 143).
    sys.exit(0)


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests finish before the process exits 0."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from gitops_ml.serve.app import create_app

    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    # Built here even with several workers: a bad model directory fails once, before any fork.
    app = create_app(settings)
    common = {"host": settings.host, "port": settings.port, "log_level": settings.log_level,
              "access_log": settings.access_log, "server_header": False,
              "timeout_graceful_shutdown": 30}
    signal.signal(signal.SIGTERM, _exit_cleanly)
    if settings.workers > 1:
        # Workers are spawned and import the factory; each reads the same environment once.
        config = uvicorn.Config(FACTORY, factory=True, workers=settings.workers, **common)
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(uvicorn.Config(app, **common))
    server.run()
    if not server.started:
        raise UserError("serve: the server did not start (see the log above)")
