"""Stopping a run on Ctrl-C or SIGTERM within seconds: the run goes on in a thread while the main thread waits,
so a signal is handled at once even while the run sits inside Ray. The first signal stops the run (no new
batches; local Ray shut down) and raises Interrupted; a second one exits at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from curation.io.storage import Store

T = TypeVar("T")
EXIT_CODE = 130
STOP = threading.Event()
"""Set on the first signal: the driver takes no new batch."""


class Interrupted(Exception):
    """The run was stopped by a signal; `signal_name` says which."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


def run_interruptibly(work: Callable[[], T], stop: Callable[[], None], grace_s: float = 8.0) -> T:
    """`work()` in a thread; on SIGINT or SIGTERM call `stop()`, give the thread `grace_s` to finish its cleanup,
    then raise Interrupted. A second signal, or `stop()` hanging past the grace, ends the process (exit 130)."""
    outcome: dict = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc
        finally:
            done.set()

    received: list[str] = []

    def on_signal(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)
        if len(received) > 1:
            os._exit(EXIT_CODE)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    STOP.clear()
    threading.Thread(target=target, name="curation-run", daemon=True).start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        STOP.set()
        deadline = threading.Timer(grace_s + 5, lambda: os._exit(EXIT_CODE))
        deadline.daemon = True
        deadline.start()
        stop()
        done.wait(grace_s)
        deadline.cancel()
        raise Interrupted(received[0] if received else "SIGINT") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def stopped_summary(out: str, signal_name: str, command: list[str]) -> str:
    """What a stopped run leaves: committed shards, generated rows checkpointed per shard, how to resume."""
    import shlex

    import pyarrow.parquet as pq

    store = Store(out)
    committed = len(store.names("_manifest", ".json"))
    checkpointed: dict[str, int] = {}
    if store.local:
        for part in Path(store.location, "_checkpoints").glob("*/*/part-*.parquet"):
            stem = part.parent.name
            checkpointed[stem] = checkpointed.get(stem, 0) + pq.ParquetFile(part).metadata.num_rows
    left = ", ".join(f"{stem} ({rows} generated rows checkpointed)" for stem, rows in sorted(checkpointed.items()))
    return (f"stopped by {signal_name}: {committed} shard(s) committed in {out}"
            + (f"; left with checkpoints: {left}" if left else "")
            + f"\nresume with the same command: {shlex.join(command)}")
