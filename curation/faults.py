"""Fault injection: named points in the run where the reliability tests make a process crash or a stage raise,
without editing code. Off unless SAFECURATE_FAULTS is set (a dict lookup per batch, not per row).

    SAFECURATE_FAULTS="commit.outputs_written=crash"       the whole run dies (driver and local Ray, SIGKILL
                                                            to the process group) the first time a commit
                                                            task has written a shard's outputs
    SAFECURATE_FAULTS="embed.batch=exit@2"                  the embedding actor's process exits abruptly on
                                                            its 2nd batch (Ray restarts the actor)
    SAFECURATE_FAULTS="embed.row=raise:poison"              the classifier raises on every text containing
                                                            "poison"

Points: read.task, read.row_group (a row group is read from its shard), embed.batch, embed.row, llm.batch,
generate.batch, driver.batch (the driver has taken a batch of scores), commit.outputs_written,
commit.manifest_temp (the manifest is written under its temporary name, not yet renamed). Actions: `crash`
(SIGKILL every process of this session: the driver and its local Ray, whose workers each have their own process
group), `exit` (SIGKILL this process only), `raise` (RuntimeError; `raise:WORD` on every text that contains
WORD). `@n` fires on the n-th hit only (default the 1st), counted in this process, or across all processes with
SAFECURATE_FAULTS_ONCE=DIR; with it a fault also fires only once across processes and runs (a marker file in
DIR), so a restarted actor or a re-run goes through. `@*` fires on every hit: a failure that persists
(`llm.batch=raise@*`). Several faults: separate them with commas.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

ENV = "SAFECURATE_FAULTS"
ONCE_ENV = "SAFECURATE_FAULTS_ONCE"
POINTS = ("read.task", "read.row_group", "embed.batch", "embed.row", "llm.batch", "generate.batch", "driver.batch",
          "commit.outputs_written", "commit.manifest_temp")


class InjectedFault(RuntimeError):
    """Raised at a fault point with the `raise` action."""


@dataclass(frozen=True)
class Fault:
    point: str
    action: str
    arg: str = ""
    nth: int = 1
    """Fire on this hit; 0: on every hit (`@*`)."""


@lru_cache(maxsize=8)
def parse(spec: str) -> dict[str, Fault]:
    """The faults of a SAFECURATE_FAULTS value (parsed once per value: fault points run per batch and per row)."""
    faults = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, rest = item.partition("=")
        rest, _, nth = rest.partition("@")
        action, _, arg = rest.partition(":")
        if point not in POINTS or action not in ("crash", "exit", "raise"):
            raise ValueError(f"{ENV}: bad fault {item!r} (points: {', '.join(POINTS)}; actions: crash, exit, raise)")
        faults[point] = Fault(point, action, arg, 0 if nth == "*" else int(nth or 1))
    return faults


_hits: Counter = Counter()


def _active() -> dict[str, Fault]:
    spec = os.environ.get(ENV)
    return parse(spec) if spec else {}


def _count_hit(point: str) -> int:
    """This hit's number: counted across processes with SAFECURATE_FAULTS_ONCE (Ray runs commits and batches in
    several worker processes), else within this process."""
    folder = os.environ.get(ONCE_ENV)
    if not folder:
        _hits[point] += 1
        return _hits[point]
    path = os.path.join(folder, f"{point}.hits")
    with open(path, "ab") as handle:  # appends are atomic: each hit adds one byte
        handle.write(b".")
    return os.path.getsize(path)


def _claim(fault: Fault) -> bool:
    """With SAFECURATE_FAULTS_ONCE set, only the first process to get here fires."""
    folder = os.environ.get(ONCE_ENV)
    if not folder:
        return True
    try:
        os.close(os.open(os.path.join(folder, fault.point), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def fault_point(point: str, text: str | None = None) -> None:
    """Fire the fault configured for `point`, if any (for `raise:WORD`, only when `text` contains WORD)."""
    fault = _active().get(point)
    if fault is None or (fault.arg and (text is None or fault.arg not in text)):
        return
    every = fault.nth == 0 or bool(fault.arg)  # `@*`, or a poison word: every hit fires
    if not every and (_count_hit(point) != fault.nth or not _claim(fault)):
        return
    if fault.action == "raise":
        raise InjectedFault(f"fault injected at {point}")
    if fault.action == "exit":
        os.kill(os.getpid(), signal.SIGKILL)
    kill_session(os.getsid(0))


def session_pids(sid: int) -> list[int]:
    """The processes of session `sid` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after "pid (comm)": state, ppid, pgrp, session
            pids.append(int(entry))
    return pids


def kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid`, this one last: a machine crash, as far as the run can tell."""
    me = os.getpid()
    for pid in session_pids(sid):
        if pid != me:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if os.getsid(0) == sid:
        os.kill(me, signal.SIGKILL)


def environment() -> dict[str, str]:
    """The fault variables of this process, to hand on to Ray workers (empty when none are set)."""
    return {k: os.environ[k] for k in (ENV, ONCE_ENV) if k in os.environ}
