"""The failure policy's moving parts: retry a call with backoff, and the error a failed stage leaves on its rows.

What counts as a per-row problem, a transient one and a stage failure is described in config.FailureConfig.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from curation.config import FailureConfig

T = TypeVar("T")
log = logging.getLogger("safecurate")


def with_retries(call: Callable[[], T], policy: FailureConfig, what: str) -> T:
    """`call()`, tried again after `policy.backoff_s` (doubling) while it raises, `policy.retries` times at most;
    the last exception is raised."""
    wait = policy.backoff_s
    for attempt in range(policy.retries + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - transient until the last try
            if attempt == policy.retries:
                raise
            log.warning("%s failed (%s: %s); retry %d of %d in %.1fs", what, type(exc).__name__, exc,
                        attempt + 1, policy.retries, wait)
            time.sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")


def describe(stage: str, exc: BaseException, tries: int) -> str:
    """The one-line error a stage failure records: `stage llm: RuntimeError: engine died (3 tries)`."""
    message = " ".join(str(exc).split())[:300]
    return f"stage {stage}: {type(exc).__name__}: {message} ({tries} {'try' if tries == 1 else 'tries'})"
