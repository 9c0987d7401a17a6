"""The one progress reporter: stage lines on stderr and the wall time of each stage."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

PREFIX = "[tsne_native]"


class Progress:
    """Reports stages on stderr (``[tsne_native] ...``) and keeps their wall times.

    Parameters
    ----------
    verbose : bool
        Print; when false, stages are only timed.

    Attributes
    ----------
    seconds : dict of str to float
        Wall time of every stage run so far, by name.
    """

    def __init__(self, verbose: bool = True):
        self.verbose = bool(verbose)
        self.seconds = {}

    def say(self, message: str) -> None:
        """Print one line (when verbose)."""
        if self.verbose:
            print(f"{PREFIX} {message}", file=sys.stderr, flush=True)

    @contextmanager
    def stage(self, name: str, description: str | None = None):
        """Time the enclosed work as stage ``name``.

        With a ``description`` its start and its wall time are printed too
        ("nearest neighbours ..." then "nearest neighbours: 1.23 s").
        """
        if description is not None:
            self.say(f"{description} ...")
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        if description is not None:
            self.say(f"{description}: {self.seconds[name]:.2f} s")


def time_left(started: float, done: int, total: int) -> str:
    """", about 12 s left" after ``done`` of ``total`` steps begun at ``started`` (perf_counter)."""
    if done <= 0 or done >= total:
        return ""
    remaining = (time.perf_counter() - started) / done * (total - done)
    return f", about {remaining:.0f} s left" if remaining < 120 else \
        f", about {remaining / 60:.0f} min left"
