"""Seeded draws that depend only on (seed, key, purpose): the same in every process, order and batching."""

from __future__ import annotations

import hashlib


def _digest(seed: int, key: str, purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}\0{seed}\0{key}".encode()).digest()


def draw(seed: int, key: str, purpose: str) -> int:
    """A 31-bit integer (a sampling seed, an index)."""
    return int.from_bytes(_digest(seed, key, purpose)[:4], "big") >> 1


def unit(seed: int, key: str, purpose: str) -> float:
    """A number in [0, 1) (a coin with any bias)."""
    return int.from_bytes(_digest(seed, key, purpose)[:8], "big") / 2**64
