"""A quiet console for a run: our own lines and progress bar on the terminal; everything Ray, vLLM, transformers
and torch print (Python logs, C++ messages, warnings) in a log file under OUT/_logs/. `verbose` keeps it all."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from curation.io.storage import Store

QUIET = {"value": False}
"""Whether the running process keeps library output off the console (read by ray_setup: log_to_driver)."""
_TERMINAL: dict[str, io.TextIOBase | None] = {"out": None, "err": None}


def terminal(err: bool = False):
    """The stream our own lines go to: the terminal's stdout or stderr, also while library output is diverted."""
    return _TERMINAL["err" if err else "out"] or (sys.stderr if err else sys.stdout)


def log_folder(out: str) -> Path:
    """OUT/_logs for a local OUT; a local temporary folder for an object-store OUT."""
    store = Store(out)
    folder = Path(store.location) / "_logs" if store.local else Path(tempfile.gettempdir()) / "safecurate-logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _terminal_copy(stream, fd: int):
    """A stream on a copy of descriptor `fd` when `stream` writes to it (a real console), else `stream` itself
    (output captured by a test runner, which has no descriptor to keep)."""
    try:
        if stream.fileno() != fd:
            return stream
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stream
    stream.flush()
    return io.TextIOWrapper(os.fdopen(os.dup(fd), "wb", buffering=0), write_through=True)


@contextlib.contextmanager
def quiet_console(out: str, verbose: bool) -> Iterator[Path | None]:
    """Send library output to OUT/_logs/curate-<time>.log for the duration; yields its path (None: verbose).

    Descriptors 1 and 2 (so sys.stdout, sys.stderr and whatever C++ code prints) and the root logger go to the
    file; copies of the terminal's descriptors serve `terminal()` (our lines, the progress bar) and the
    `safecurate` logger."""
    if verbose:
        yield None
        return
    path = log_folder(out) / f"curate-{time.strftime('%Y%m%d-%H%M%S')}.log"
    saved = os.dup(1), os.dup(2)
    terminal_out, terminal_err = _terminal_copy(sys.stdout, 1), _terminal_copy(sys.stderr, 2)
    log_file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed below, after the descriptors are restored
    root = logging.getLogger()
    ours = logging.getLogger("safecurate")
    file_handler = logging.StreamHandler(io.TextIOWrapper(log_file, write_through=True))
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    console_handler = logging.StreamHandler(terminal_err)
    console_handler.setFormatter(logging.Formatter("%(message)s"))
    old_root_handlers, old_root_level = root.handlers[:], root.level
    try:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        _TERMINAL.update(out=terminal_out, err=terminal_err)
        root.handlers = [file_handler]
        root.setLevel(logging.INFO)
        ours.addHandler(console_handler)
        ours.propagate = True  # our lines reach the file too
        QUIET["value"] = True
        yield path
    finally:
        QUIET["value"] = False
        ours.removeHandler(console_handler)
        root.handlers, root.level = old_root_handlers, old_root_level
        _TERMINAL.update(out=None, err=None)
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        for stream in (terminal_out, terminal_err):
            if stream not in (sys.stdout, sys.stderr):
                stream.close()
        log_file.close()
