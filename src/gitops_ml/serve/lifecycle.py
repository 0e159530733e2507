"""Readiness: not ready until the model is loaded, and not ready again once shutdown begins."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class Lifecycle:
    """Two flags read by the readiness probe; flipped by the lifespan and by SIGTERM."""

    def __init__(self) -> None:
        self.loaded = False
        self.draining = False

    @property
    def ready(self) -> bool:
        return self.loaded and not self.draining

    def begin_shutdown(self) -> None:
        self.draining = True


def install_drain_hook(lifecycle: Lifecycle, drain_seconds: float) -> Callable[[], None]:
    """Put readiness to 503 on SIGTERM, then pass the signal on to the server's handler.

    uvicorn stops listening as soon as it sees SIGTERM, so a probe could never observe the 503.
    Wrapping its handler (installed before the lifespan starts, in every worker) flips readiness
    first and, with `drain_seconds`, keeps serving that long so a load balancer can take the pod
    out of rotation. uvicorn then finishes in-flight requests and exits. Returns an undo function.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals are for the main thread (TestClient runs apps elsewhere)
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return lambda: None

    handled = False

    def on_sigterm(sig: int, frame: FrameType | None) -> Any:
        nonlocal handled
        lifecycle.begin_shutdown()
        if handled or drain_seconds <= 0:
            return previous(sig, frame)
        handled = True
        timer = threading.Timer(drain_seconds, previous, (sig, frame))
        timer.daemon = True
        timer.start()
        return None

    signal.signal(signal.SIGTERM, on_sigterm)

    def undo() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return undo
