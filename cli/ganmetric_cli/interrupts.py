"""Long runs and Ctrl-C: stop after the current step, or at once on a second Ctrl-C."""
from __future__ import annotations

import os
import signal

from .errors import EXIT_INTERRUPTED


class stop_on_sigint:
    """Context manager: the first Ctrl-C asks a long run to stop after its current step (a
    KeyboardInterrupt raised inside torch can be swallowed there and perturb the step being
    computed); a second one exits at once (atomic writes leave no partial file, and a staged
    output folder keeps its previous set). Entering it gives the ``stop()`` callable the
    library's long runs poll.

    Args:
        step: what a step is, for the message ("point", "generation", ...).
    """

    def __init__(self, step: str = "point"):
        self.step = step

    def __enter__(self):
        self.requested = False
        self.previous = signal.getsignal(signal.SIGINT)
        if self.previous is signal.SIG_IGN:        # e.g. a background job: keep ignoring
            return lambda: False
        signal.signal(signal.SIGINT, self._handle)
        return lambda: self.requested

    def _handle(self, signum, frame):
        if self.requested:
            os.write(2, b"\nInterrupted.\n")
            os._exit(EXIT_INTERRUPTED)
        self.requested = True
        os.write(2, f"\nStopping after the current {self.step} (Ctrl-C again to stop at once)...\n".encode())

    def __exit__(self, *exc):
        if self.previous is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self.previous)
        return False
