"""The ``scalefit`` command: ``laws``, ``fit``, ``predict``, ``boundary``, ``crossover``, ``compare``,
``allocate``, ``suggest``, ``plot``, ``backtest``, ``collect``, ``demo``.

``crossover``, ``compare``, ``allocate`` and ``suggest`` take ``--json``: the result as strict
JSON on standard output (no NaN: a missing number is ``null``; ``allocate`` writes
``Allocation.to_dict()``, where it is the string ``"NaN"`` or ``"Infinity"``), nothing else
there; ``--out FILE.json`` saves the same JSON atomically before anything is printed.

A thin layer over the Python API. Every argument is checked before any work starts, and
every failure is exactly one line on stderr; warnings are one line each, prefixed
``scalefit: warning:``. ``--debug`` (before or after the command) adds the full traceback.

Exit status:

* ``0`` — done.
* ``1`` — internal error: a bug in scalefit (``scalefit: internal error: ...``, please
  report it with the command; ``--debug`` shows the traceback).
* ``2`` — usage or data error (``scalefit: error: ...``): a bad argument, a missing,
  unreadable or malformed file, a table or fit that cannot be used. Nothing was written.
* ``130`` — interrupted by Ctrl-C (SIGINT), ``143`` — terminated (SIGTERM):
  ``scalefit: interrupted``. A file being written when the signal came is finished first,
  so an output file is either the old one, absent, or complete — never half-written, and
  no temporary is left.
* ``141`` — standard output was closed early (e.g. piped into ``head``) or before the
  start (``>&-``): the same status as a program killed by SIGPIPE. Output files
  (``--out``) are written *before* anything is printed, so they are complete even then.

``--out`` is checked before the work (the directory exists and is writable, the target is
a regular file or absent, the suffix is one the writer understands) and written atomically
into the real target: a symlink is followed and kept."""

from __future__ import annotations

import gc
import io
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence

from scalefit import files
from scalefit.cli.arguments import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    one_line,
    raised_by_scalefit,
    say,
    silence,
)
from scalefit.cli.parser import build_parser
from scalefit.errors import ScalefitError, ScalingWarning


# -- output, errors and signals -----------------------------------------------------------------
def _open_missing_streams() -> dict[str, io.TextIOBase]:
    """Point a standard stream that was closed before scalefit started (``scalefit laws >&-``:
    Python then sets ``sys.stdout`` to None) at /dev/null for the run, so writes and flushes
    succeed; returns the streams opened, by name. A closed stdout then ends the run like a
    closed pipe (exit 141, silent); a closed stderr only loses the messages."""
    opened = {}
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            try:
                opened[name] = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed by main()
            except OSError:
                continue
            setattr(sys, name, opened[name])
    return opened


def _show_warning(message, category, filename, lineno, file=None, line=None):
    say(f"scalefit: warning: {one_line(message)}")


def _expected(exc: BaseException) -> bool:
    """A failure the user can fix (exit 2), as opposed to a bug in scalefit (exit 1)."""
    if isinstance(exc, ScalefitError | OSError | UnicodeError | MemoryError):
        return True
    if type(exc).__name__ == "JSONDecodeError":
        return True
    return isinstance(exc, TypeError | ValueError) and raised_by_scalefit(exc)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory; use fewer --starts or --bootstrap replicates, or a smaller table"
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" + (f" -> {exc.filename2}" if exc.filename2 else "")
    return one_line(exc) or type(exc).__name__


def _tracker() -> str:
    try:
        from importlib.metadata import metadata

        for entry in metadata("scalefit").get_all("Project-URL") or ():
            label, _, url = entry.partition(",")
            if any(w in label.lower() for w in ("issue", "bug", "tracker")):
                return url.strip()
    except Exception:  # noqa: BLE001 - the message must be printed whatever the metadata holds
        pass
    return "the scalefit issue tracker"


class _Interrupts:
    """Ctrl-C and SIGTERM, noticed even while the main thread is inside JAX/XLA.

    The C-level signal handler writes the signal number to a pipe (``signal.set_wakeup_fd``);
    a daemon thread reads it, waits for any file write in progress (:data:`scalefit.files.WRITING`),
    prints ``scalefit: interrupted`` and leaves with ``os._exit`` — no interpreter or JAX
    teardown, which is where a segfault or a swallowed interrupt came from. The Python-level
    handler does nothing: it exists so the C handler runs, and it must not exit itself (it
    runs in the main thread, which may hold ``WRITING`` mid-write). A signal that was ignored
    when scalefit started (``nohup``, a background job) stays ignored.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug
        self.installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread; leave them as they are
        wanted = [s for s in self.SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
        if not wanted:
            return
        try:
            self.read_fd, self.write_fd = os.pipe()
        except OSError:  # out of file descriptors: run without (Python's own Ctrl-C handling)
            return
        os.set_blocking(self.write_fd, False)
        self.old_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self.old_handlers = {s: signal.signal(s, self._noop) for s in wanted}
        self.thread = threading.Thread(target=self._watch, name="scalefit-interrupts", daemon=True)
        self.thread.start()
        self.installed = True

    def restore(self) -> None:
        if not self.installed:
            return
        self.installed = False
        signal.set_wakeup_fd(self.old_wakeup)
        for sig, handler in self.old_handlers.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        os.close(self.write_fd)  # the watcher reads end-of-file and stops
        self.thread.join(timeout=1.0)

    @staticmethod
    def _noop(signum, frame) -> None:
        pass

    def _watch(self) -> None:
        try:
            while True:
                data = os.read(self.read_fd, 64)
                if not data:
                    return
                for signum in data:  # one byte per signal with a Python handler; act on ours only
                    if signum in self.SIGNALS:
                        self._stop(signum)
        finally:
            os.close(self.read_fd)

    def _stop(self, signum: int) -> None:
        files.WRITING.acquire()  # a file being written is finished (and renamed) first; never released
        if self.debug:
            import faulthandler

            faulthandler.dump_traceback(all_threads=True)
        try:
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - leaving anyway
            pass
        try:
            os.write(2, b"scalefit: interrupted\n")
        except OSError:
            pass
        os._exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``scalefit`` command; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # until the arguments are parsed
    interrupts = _Interrupts(debug)
    interrupts.install()
    show_warning = warnings.showwarning
    missing = _open_missing_streams()
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, or a usage error already printed in one line
            if exc.code is None and "stdout" in missing:
                return EXIT_BROKEN_PIPE
            return EXIT_OK if exc.code is None else exc.code if isinstance(exc.code, int) else EXIT_USAGE
        debug = interrupts.debug = args.debug
        warnings.showwarning = _show_warning
        with warnings.catch_warnings():
            # scalefit's notes are printed as one line each, whatever filter the caller set
            # (``python -W error``, a test runner): the command's contract, not an error
            warnings.simplefilter("default", ScalingWarning)
            args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not as "Exception ignored" at exit
        return EXIT_BROKEN_PIPE if "stdout" in missing else EXIT_OK
    except KeyboardInterrupt:
        with files.WRITING:
            say("scalefit: interrupted")
        return 128 + signal.SIGINT
    except BrokenPipeError:  # stdout piped into e.g. `head`, which stopped reading; files are already written
        silence(sys.stdout)
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - every failure is one line; --debug shows the traceback
        if debug:
            traceback.print_exc()
        if _expected(exc):
            say(f"scalefit: error: {_error_text(exc)}")
            return EXIT_USAGE
        say(
            f"scalefit: internal error: {type(exc).__name__}: {one_line(exc)} — please report this at "
            f"{_tracker()} with the command you ran; rerun with --debug for the traceback"
        )
        return EXIT_INTERNAL
    finally:
        warnings.showwarning = show_warning
        interrupts.restore()
        for name, stream in missing.items():
            setattr(sys, name, None)
            stream.close()


def command() -> None:
    """The ``scalefit`` console command (and ``python -m scalefit``): :func:`main`, then exit.

    Before the interpreter shuts down, every object still alive is moved out of the garbage
    collector's view (``gc.freeze``), so the shutdown's collections do not walk JAX's and
    pandas' object graphs: ~0.1 s of every command (measured: 0.13 s -> 0.03 s from the last
    line to the exit after a JAX computation). The process is ending: nothing lives longer, and
    every file was written and closed by :func:`main`. Not done by :func:`main` itself, which
    callers (tests, notebooks) run in a process that goes on."""
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    command()
