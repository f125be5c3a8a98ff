"""One status line on standard error while a long call works: what it is doing, how far it is.

A fit that takes more than ``DELAY`` seconds shows, on one line rewritten in place::

    scalefit: bootstrap 500/1000 replicates, 12 s

and clears it when the call ends (a call that ends sooner shows nothing). A background
thread redraws the line, so it keeps moving while XLA compiles or a batch runs.

When it shows: by default only where someone watches — standard error is a terminal, or a
Jupyter/IPython kernel's stream — so scripts, pipes, CI logs and tests stay quiet. Force it
with the environment variable ``SCALEFIT_PROGRESS=1`` (or ``0`` to silence it everywhere), or
per call with ``LeastSquares(progress=True)`` / ``fit_law(..., progress=False)``, which wins
over the variable. No dependency: tqdm is not needed.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
import time

ENV = "SCALEFIT_PROGRESS"
#: Seconds a task runs before its line appears; seconds between redraws.
DELAY, INTERVAL = 2.0, 0.5

_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar("scalefit_progress", default=None)


def wanted(option: bool | None = None) -> bool:
    """Whether to show progress: ``option`` if given, else ``$SCALEFIT_PROGRESS``, else
    whether standard error is watched (a terminal or a notebook kernel's stream)."""
    if option is None:
        option = _override.get()
    if option is not None:
        return bool(option)
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    stream = sys.stderr
    if stream is None:
        return False
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def enabled(option: bool | None):
    """Within the block, :func:`wanted` answers ``option`` (``None``: the usual rule)."""
    token = _override.set(option)
    try:
        yield
    finally:
        _override.reset(token)


class _Line:
    """A task's status line, redrawn by a daemon thread until the task ends."""

    def __init__(self, label: str, total: int | None, unit: str):
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.start = time.monotonic()
        self.shown = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scalefit-progress", daemon=True)

    def set(self, done: int) -> None:
        self.done = int(done)

    def text(self) -> str:
        elapsed = time.monotonic() - self.start
        count = f" {self.done}/{self.total} {self.unit}" if self.total else ""
        return f"scalefit: {self.label}{count}, {elapsed:.0f} s"

    def _draw(self, text: str) -> None:
        try:
            sys.stderr.write("\r" + text + "\x1b[K")
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):  # a closed or odd stream: progress is never worth an error
            self._stop.set()

    def _run(self) -> None:
        if self._stop.wait(DELAY):
            return
        while True:
            self.shown = True
            self._draw(self.text())
            if self._stop.wait(INTERVAL):
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.shown:
            self._draw("")  # the line cleared: the result (or the error) is what stays on screen
            with contextlib.suppress(AttributeError, ValueError, OSError):
                sys.stderr.write("\r")
                sys.stderr.flush()


class _Quiet:
    def set(self, done: int) -> None:
        pass


_current: list[_Line] = []  # the line on screen, if any: a task inside another takes it over


@contextlib.contextmanager
def task(label: str, total: int | None = None, unit: str = ""):
    """A status line for the block (when :func:`wanted`); ``.set(done)`` updates its count.
    A task inside another shows on the same line while it runs, then gives it back."""
    if not wanted():
        yield _Quiet()
        return
    if _current:
        line = _current[0]
        saved = (line.label, line.total, line.unit, line.done)
        line.label, line.total, line.unit, line.done = label, total, unit, 0
        try:
            yield line
        finally:
            line.label, line.total, line.unit, line.done = saved
        return
    line = _Line(label, total, unit)
    _current.append(line)
    line._thread.start()
    try:
        yield line
    finally:
        _current.clear()
        line.close()
